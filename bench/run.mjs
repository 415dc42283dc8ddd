// npm run bench [-- NAME ...]: run every benchmark (bench/NAME.bench.mjs) or the named ones.
// Each benchmark prints one JSON object per line; nothing here asserts on time.
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';

const dir = new URL('.', import.meta.url);
const all = fs.readdirSync(dir).filter((f) => f.endsWith('.bench.mjs')).map((f) => f.slice(0, -'.bench.mjs'.length)).sort();
const names = process.argv.slice(2).length ? process.argv.slice(2) : all;
let status = 0;
for (const name of names) {
  if (!all.includes(name)) {
    console.error(`unknown benchmark '${name}'; have: ${all.join(', ')}`);
    process.exit(2);
  }
  const r = spawnSync(process.execPath, [new URL(`${name}.bench.mjs`, dir).pathname], { stdio: 'inherit' });
  if (r.status !== 0) status = r.status ?? 1;
}
process.exit(status);
