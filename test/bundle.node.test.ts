import fs from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// The published bundle (npm run build: dist/), not the sources: one file with the wasm inlined,
// loadable as ESM and CommonJS, within its size budget.
const dist = new URL('../dist/', import.meta.url);

function smoke(vd: typeof import('../src/index.js')): number[] {
  const rt = vd.Runtime.createSync();
  const m = new vd.Sequential({ inputShape: [4], seed: 1, runtime: rt, layers: [new vd.SparseVDDense({ units: 8 }), new vd.ReLU(), new vd.Dense({ units: 2 })] });
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const y = Int32Array.from({ length: 16 }, (_, i) => i % 2);
  vd.fit(m, x, y, { epochs: 2, batchSize: 8, progress: false });
  return Array.from(m.predict(x.subarray(0, 8)));
}

describe('bundle', () => {
  it('ESM and CJS bundles load, train and agree bit for bit', async () => {
    const esm = await import(new URL('index.js', dist).href);
    const cjs = createRequire(import.meta.url)(new URL('index.cjs', dist).pathname);
    const a = smoke(esm), b = smoke(cjs);
    expect(a).toEqual(b);
    a.forEach((v) => expect(Number.isFinite(v)).toBe(true));
    expect(typeof esm.init).toBe('function');
    expect((await esm.init()) instanceof esm.Runtime).toBe(true);
  });

  it('stays within its size budget and needs no runtime dependency', () => {
    const size = fs.statSync(new URL('index.js', dist)).size;
    // The full bundle carries every training kernel and feature; the edge budget is the inference entry's.
    // Sampling, ensembles, distillation and parallel chains add about 60 kB.
    // The recurrent kernels (fused LSTM/GRU through time with their twins, inference cells), layers, pruning and text helpers add about 95 kB.
    expect(size).toBeLessThan(700_000);
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(Object.keys(pkg.dependencies ?? {}).filter((d) => d !== '@assemblyscript/loader')).toEqual([]);
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.exports['.']).toMatchObject({ types: './dist/index.d.ts', import: './dist/index.js', require: './dist/index.cjs' });
    const src = fs.readFileSync(new URL('index.js', dist), 'utf8');
    expect(src).not.toMatch(/from ['"](?!\.)/); // no bare imports left in the bundle
  });
});
