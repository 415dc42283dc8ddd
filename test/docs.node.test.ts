import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// Every public export carries TSDoc: each entry point of package.json's `exports` (its `types`
// file dist/X.d.ts comes from src/X.ts), every name it exports (re-exports and types included,
// followed to their declarations), as TypeDoc's notDocumented check (typedoc.json) requires for
// npm run docs. Names tagged @internal are left out of the docs, as TypeDoc does. Uses the
// TypeScript compiler's checker only (no emit), so it runs in seconds.
const root = path.resolve(new URL('..', import.meta.url).pathname);

/** The source file of each public entry point, from package.json `exports`. */
function entryPoints(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, string | { types?: string }> };
  return Object.entries(pkg.exports).map(([sub, e]) => {
    const types = typeof e === 'string' ? e : e.types;
    if (!types) throw new Error(`package.json exports["${sub}"] has no "types" file to check`);
    const src = types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts');
    if (!fs.existsSync(path.join(root, src))) throw new Error(`package.json exports["${sub}"]: its types ${types} should come from ${src}, which does not exist`);
    return path.join(root, src);
  });
}

/** The exports of the entries checked, and `entry: name` for each without a documentation comment. */
function undocumentedExports(entries: string[]): { checked: number; missing: string[] } {
  // No lib files: exports, aliases and comments need no type checking, and lib.dom.d.ts alone would triple the parse time.
  const program = ts.createProgram(entries, { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, noLib: true, noEmit: true, types: [] });
  const checker = program.getTypeChecker();
  const missing: string[] = [];
  let checked = 0;
  for (const entry of entries) {
    const file = program.getSourceFile(entry);
    const mod = file && checker.getSymbolAtLocation(file);
    if (!mod) throw new Error(`${entry}: not a module`);
    for (const exp of checker.getExportsOfModule(mod)) {
      const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      const decls = sym.getDeclarations() ?? [];
      if (decls.some((d) => ts.getJSDocTags(d).some((t) => t.tagName.text === 'internal'))) continue;
      checked++;
      const documented = sym.getDocumentationComment(checker).some((p) => p.text.trim() !== '');
      if (!documented) missing.push(`${path.relative(root, entry)}: ${exp.name}`);
    }
  }
  return { checked, missing };
}

describe('API documentation', () => {
  it('documents every export of every public entry point', () => {
    const entries = entryPoints();
    expect(entries.length).toBeGreaterThanOrEqual(1);
    const { checked, missing } = undocumentedExports(entries);
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThan(200); // the whole public surface was seen (it has some 300 names)
  });

  it('finds an undocumented export, also behind a re-export or a type export', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vardrop-docs-'));
    try {
      fs.writeFileSync(path.join(dir, 'other.ts'), [
        '/** Documented. */', 'export function good(): number { return 1; }',
        'export function bare(): number { return 2; }',
        'export interface Shape { n: number }',
        '/** @internal */', 'export const hidden = 3;',
      ].join('\n'));
      fs.writeFileSync(path.join(dir, 'entry.ts'), [
        "export { good, bare, hidden } from './other.js';",
        "export type { Shape } from './other.js';",
        '/** A documented constant. */', 'export const ok = 1;',
        'export class Plain {}',
      ].join('\n'));
      const { checked, missing } = undocumentedExports([path.join(dir, 'entry.ts')]);
      expect(checked).toBe(5);
      const found = missing.map((s) => s.split(': ')[1]).sort();
      expect(found).toEqual(['Plain', 'Shape', 'bare']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
