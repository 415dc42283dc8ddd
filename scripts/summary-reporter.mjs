// Vitest reporter behind scripts/test.mjs: counts tests per outcome and, as failures, every
// test file that did not run (failed to load, its browser never launched, errors outside any
// test), which Vitest's own totals leave out. Writes the counts as JSON to $VARDROP_SUMMARY.
import fs from 'node:fs';
import path from 'node:path';

export default class SummaryReporter {
  onInit(vitest) {
    this.root = vitest.config.root;
  }

  onTestRunEnd(testModules, unhandledErrors) {
    let passed = 0, failed = 0, skipped = 0;
    const notRun = [];
    for (const mod of testModules) {
      let tests = 0;
      for (const t of mod.children.allTests()) {
        tests++;
        const s = t.result().state;
        if (s === 'passed') passed++;
        else if (s === 'failed') failed++;
        else skipped++;
      }
      // A file whose collection failed or whose runner never started reports no tests at all;
      // errors attached to the file itself (a throwing hook, an import error) fail it too.
      if (tests === 0 || mod.errors().length > 0) {
        const reason = mod.errors()[0]?.message?.split('\n')[0] ?? 'no test ran';
        notRun.push(`${mod.project.name}: ${path.relative(this.root, mod.moduleId)} (${reason})`);
      }
    }
    const errors = unhandledErrors.map((e) => (e?.message ?? String(e)).split('\n')[0]);
    const out = { passed, failed: failed + notRun.length + errors.length, skipped, notRun, errors };
    if (process.env.VARDROP_SUMMARY) fs.writeFileSync(process.env.VARDROP_SUMMARY, JSON.stringify(out));
  }
}
