// Cold start of the inference entry, as bench/sparse.bench.mjs's `cold-start` line measures it
// (a fresh Node process: import dist/infer.js, load the pruned LeNet-300-100 file, predict one
// image; timed inside the child by performance.now() from before the import to after the
// prediction), repeated for a median under load, with the phases split out.
//
//   node bench/cold-start.mjs [runs=30] [entry=dist/infer.js]
//
// COLD_FLAGS="--no-opt ..." passes V8/Node flags to the children (to see which engine work a
// phase is made of).
// Prints one JSON line: the median and quartiles of the total and of each phase (import, load,
// first predict; a second predict for comparison), the entry's gzipped size and the load average.
// The model: the newest svd-lenet300 file under bench/out/ (full recipe first), pruned by the full
// bundle and saved to a temporary .vdsp as the sparse benchmark does.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '..');
const runs = Number(process.argv[2] ?? 30);
const entry = path.resolve(root, process.argv[3] ?? 'dist/infer.js');
const q = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))];
const r2 = (v) => Math.round(v * 100) / 100;

function modelFile() {
  const dir = path.join(here, 'out');
  const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  if (names.includes('svd-lenet300.vdrp')) return path.join(dir, 'svd-lenet300.vdrp');
  const short = names.map((f) => f.match(/^svd-lenet300-(\d+)ep\.vdrp$/)).filter(Boolean).sort((a, b) => b[1] - a[1]);
  if (!short.length) throw new Error('cold-start: no bench/out/svd-lenet300*.vdrp (run BENCH_EPOCHS=6 BENCH_PEER_STEPS=0 node bench/run.mjs svd-lenet300)');
  return path.join(dir, short[0][0]);
}

const model = modelFile();
const vdsp = path.join(os.tmpdir(), `vardrop-cold-${process.pid}.vdsp`);
{
  const vd = await import(path.join(root, 'dist/index.js'));
  const m = vd.loadModel(new Uint8Array(fs.readFileSync(model)));
  const s = vd.prune(m);
  fs.writeFileSync(vdsp, s.save());
  s.dispose();
  m.dispose();
}

const child = path.join(here, 'out', `cold-start-child-${process.pid}.mjs`);
fs.writeFileSync(child, `import fs from 'node:fs';
const t0 = performance.now();
const vd = await import(${JSON.stringify(entry)});
const t1 = performance.now();
const bytes = new Uint8Array(fs.readFileSync(${JSON.stringify(vdsp)}));
const t2 = performance.now();
const m = vd.load(bytes);
const t3 = performance.now();
m.predict(new Float32Array(784).fill(0.5));
const t4 = performance.now();
m.predict(new Float32Array(784).fill(0.25));
const t5 = performance.now();
console.log(JSON.stringify({ total: t4 - t0, import: t1 - t0, read: t2 - t1, load: t3 - t2, predict: t4 - t3, predict2: t5 - t4 }));
`);
const flags = (process.env.COLD_FLAGS ?? '').split(' ').filter(Boolean);
const rows = [];
const load1 = os.loadavg()[0];
try {
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, [...flags, child], { encoding: 'utf8', cwd: root });
    if (r.status !== 0) throw new Error(`cold start failed: ${r.stderr}`);
    rows.push(JSON.parse(r.stdout.trim().split('\n').pop()));
  }
} finally {
  fs.rmSync(child, { force: true });
  fs.rmSync(vdsp, { force: true });
}
const out = { bench: 'cold-start', entry: path.relative(root, entry), model: path.relative(root, model), runs, ...(flags.length ? { flags: flags.join(' ') } : {}) };
for (const k of Object.keys(rows[0])) {
  const v = rows.map((r) => r[k]);
  out[k] = r2(q(v, 0.5));
  out[`${k}Q`] = [r2(q(v, 0.25)), r2(q(v, 0.75))];
}
out.gzipBytes = zlib.gzipSync(fs.readFileSync(entry), { level: 9 }).length;
out.load1 = [r2(load1), r2(os.loadavg()[0])];
console.log(JSON.stringify(out));
