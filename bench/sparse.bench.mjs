// Sparse inference (issue 12's contract): the pruned Sparse VD LeNet-300-100 and LeNet-5
// (prune() → SparseModel, saved and loaded by the inference entry `vardrop/infer`, dist/infer.js,
// whose predict replays a compiled plan in one wasm call per batch) beside the same models run dense by us (Sequential.predict), by
// onnxruntime-web (wasm, one thread, SIMD; the graph is our own exportOnnx of the model) and by
// TensorFlow.js (wasm backend, XNNPACK, one thread) on the masked mean weights; plus file sizes,
// cold starts in fresh processes, and bundle sizes.
//
// Lines: {"bench":"sparse","case":C,"unit":U,"ours":..,"peer":P,"peerValue":..,"ratio":..}
//   C: lenet300-b1, lenet300-b64, lenet5-b1, lenet5-b64 (us per image at batch 1, us per batch
//      of 64; inputs copied in and outputs out every call), file-size (bytes), cold-start (ms,
//      median of 10 fresh processes: import vardrop/infer, load the pruned file, first
//      prediction, timed inside the child from before the import to after the prediction, by the
//      child's performance.now(); Node's own start-up before the child's first line not counted), bundle
//      (gzipped bytes of dist/infer.js, wasm included); P: ours-dense, ort-wasm-dense,
//      tfjs-wasm-dense, dense-f32.
//   ratio = peer / ours (above 1 we win).
// Timing (the same for ours and every peer; interleave() below): each line's two sides, ours and
// that peer, are timed in one interleaved run of their own (a peer that runs 100 ms calls, or
// allocates a lot, would otherwise evict the caches of the next side's block; lenet300-mc's
// ours-dense and weights-mode share one run). Each warms 2 s (in alternating 50 ms slices; onnxruntime-web needed 1-2 s
// of calls under load before its time settled: 400 -> 140 -> 60 us per call), which calibrates its
// calls per measurement block to ~5 ms of wall time; then 31 rounds (15 for lenet300-mc's ours-dense) each
// time one block of every side, the order rotated round by round. `ours` and `peerValue` are the
// medians over the blocks of time per call, `oursP25/oursP75` and `peerP25/peerP75` the quartiles,
// `blocks` their count, `load1` the 1-minute load average when the line was printed. Batch-1
// calls cycle through 256 test images (batch 64: 8 batches; predictMC: 64 images), for every side
// the same images; onnxruntime-web's input tensors are built before timing, ours copy x in and
// the outputs out on every call.
// Models: bench/out/svd-lenet300.vdrp and svd-lenet5.vdrp (the Sparse VD benchmarks' full
// recipe). When absent, the newest shorter run's file (svd-*-Kep.vdrp) is used, and when there is
// none either, the recipe is run here for BENCH_SPARSE_EPOCHS (default 3) epochs through that
// benchmark (saved as svd-*-Kep.vdrp, never over the full-recipe file). Every line names its
// model file. `lenet300-mc`: predictMC (30 samples, batch 1) of the LeNet-300-100 pruned with
// uncertainty, in 'lrt' mode (the 'weights' mode's time as a field), beside our dense
// predictMC and one dense onnxruntime-web prediction.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-web';
import { Runtime, loadModel, prune, exportOnnx } from '../dist/index.js';
import * as infer from '../dist/infer.js';
import { report, loadTfjsWasm } from './peers.mjs';
import { loadMnistNode, modelFile } from './svd-common.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '..');
const round = (v, d = 2) => Math.round(v * 10 ** d) / 10 ** d;
const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
const rt = Runtime.createSync();
ort.env.wasm.numThreads = 1;
ort.env.wasm.simd = true;
const load1 = os.loadavg()[0];

/** The model file for `bench` (full recipe, else the longest short run, else trained now). */
function modelPath(bench) {
  const full = modelFile(bench, Infinity);
  if (fs.existsSync(full)) return full;
  const dir = path.dirname(full);
  const short = fs.existsSync(dir)
    ? fs.readdirSync(dir).map((f) => f.match(new RegExp(`^${bench}-(\\d+)ep\\.vdrp$`))).filter(Boolean).sort((a, b) => b[1] - a[1])
    : [];
  if (short.length) return path.join(dir, short[0][0]);
  const epochs = Number(process.env.BENCH_SPARSE_EPOCHS ?? 3);
  console.error(`sparse: ${path.relative(root, full)} absent; training ${bench} for ${epochs} epochs`);
  const r = spawnSync(process.execPath, [path.join(here, `${bench}.bench.mjs`)], {
    stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, BENCH_EPOCHS: String(epochs), BENCH_PEER_STEPS: '0' },
  });
  if (r.status !== 0) throw new Error(`training ${bench} failed`);
  return modelFile(bench, epochs);
}

/**
 * Interleaved timing, the same method for ours and every peer of a case: `sides` is a list of
 * [name, call(i)] where call(i) runs the i-th call (sync, or async returning a promise that is
 * awaited) and the calls cycle through the case's inputs. Each side first warms for `warmSec`
 * (alternating sides in 50 ms slices, so V8 has tiered its JS and wasm up: onnxruntime-web's
 * per-call time kept falling for 1-2 s of calls on a loaded machine), which also calibrates
 * (by its last slice) k, the number of calls in one measurement block, so that a block lasts about `blockMs` for every
 * side (short blocks for all sides alike: on a loaded machine a long block always includes
 * preemption, a short one only sometimes). Then `rounds` rounds each run one block of every side,
 * in an order rotated each round (side r mod n first), and a block's value is its wall time / k.
 * Returns per side { med, p25, p75, blocks, k }, in µs per call, over the blocks.
 */
async function interleave(sides, { rounds = 31, blockMs = 5, warmSec = 2 } = {}) {
  const st = sides.map(() => ({ i: 0, calls: 0, sec: 0, ts: [] }));
  const block = async (j, k) => {
    const s = st[j], call = sides[j][1];
    const t0 = performance.now();
    for (let c = 0; c < k; c++) {
      const r = call(s.i++);
      if (r && typeof r.then === 'function') await r;
    }
    return (performance.now() - t0) / 1000;
  };
  // Warm-up and calibration: 50 ms slices, alternating, until each side has warmSec.
  while (st.some((s) => s.sec < warmSec)) {
    for (let j = 0; j < sides.length; j++) {
      const s = st[j];
      if (s.sec >= warmSec) continue;
      const k = s.calls ? Math.max(1, Math.round(0.05 / s.last)) : 1;
      const sec = await block(j, k);
      s.sec += sec;
      s.calls += k;
      s.last = sec / k;
    }
  }
  const ks = st.map((s) => Math.max(1, Math.round(blockMs / 1000 / s.last)));
  for (let r = 0; r < rounds; r++) {
    for (let o = 0; o < sides.length; o++) {
      const j = (o + r) % sides.length;
      st[j].ts.push((await block(j, ks[j])) / ks[j] * 1e6);
    }
  }
  const q = (a, f) => a[Math.min(a.length - 1, Math.floor(f * a.length))];
  return Object.fromEntries(sides.map(([name], j) => {
    const a = st[j].ts.sort((x, y) => x - y);
    return [name, { med: q(a, 0.5), p25: q(a, 0.25), p75: q(a, 0.75), blocks: a.length, k: ks[j] }];
  }));
}

/** The timing fields of a line: ours and the peer as medians over blocks, their quartiles. */
function timed(o, p, scale = 1) {
  return {
    ours: round(o.med * scale), peerValue: round(p.med * scale), ratio: round(p.med / o.med),
    oursP25: round(o.p25 * scale), oursP75: round(o.p75 * scale), peerP25: round(p.p25 * scale), peerP75: round(p.p75 * scale),
    blocks: o.blocks, callsPerBlock: { ours: o.k, peer: p.k },
  };
}

/** The dense inference weights of a Sequential (masked θ), as tfjs ops: [apply(x) → logits]. */
function tfjsNet(tf, model) {
  const ops = [];
  for (const l of model.layers) {
    const ps = l.params();
    const name = l.constructor.name;
    if (ps.length) {
      const w = ps.find((p) => /\/(theta|kernel)$/.test(p.name)).value.toArray();
      if (typeof l.logAlpha === 'function') {
        const la = l.logAlpha();
        for (let i = 0; i < w.length; i++) if (!(la[i] < l.threshold)) w[i] = 0;
      }
      const b = tf.tensor1d(ps.find((p) => p.name.endsWith('/bias')).value.toArray());
      if (l.inputShape.length === 3) {
        const o = l.config().options;
        const k = [].concat(o.kernelSize), kh = k[0], kw = k[1] ?? k[0];
        const wt = tf.tensor4d(w, [kh, kw, l.inputShape[2], l.outputShape[2]]);
        ops.push((h) => tf.add(tf.conv2d(h, wt, o.stride ?? 1, 'valid'), b));
      } else {
        const wt = tf.tensor2d(w, [l.inputShape[0], l.outputShape[0]]);
        ops.push((h) => tf.add(tf.matMul(h, wt), b));
      }
    } else if (name === 'ReLU' || (name === 'Activation' && l.config().options.kind === 'relu')) ops.push((h) => tf.relu(h));
    else if (name === 'MaxPool2d') {
      const o = l.config().options;
      ops.push((h) => tf.maxPool(h, o.poolSize, o.stride, 'valid'));
    } else if (name === 'Flatten') ops.push((h) => tf.reshape(h, [h.shape[0], -1]));
    else throw new Error(`tfjs peer: no mapping for ${name}`);
  }
  return (x, n) => tf.tidy(() => {
    let h = tf.tensor(x, [n, ...model.inputShape]);
    for (const op of ops) h = op(h);
    return h.dataSync();
  });
}

const gz = (file) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;

/** Cold start of one runtime: median ms of 10 fresh processes running `script` (which prints ms). */
function coldStart(script) {
  // Inside the repository, so the script's bare imports resolve to its node_modules.
  const file = path.join(here, 'out', `cold-start-${process.pid}.mjs`);
  fs.writeFileSync(file, script);
  const ms = [];
  for (let i = 0; i < 10; i++) {
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', cwd: root });
    if (r.status !== 0) throw new Error(`cold start failed: ${r.stderr}`);
    ms.push(Number(r.stdout.trim().split('\n').pop()));
  }
  fs.rmSync(file);
  return median(ms);
}

const { test } = await loadMnistNode();
const tf = await loadTfjsWasm();
const files = {};

// BENCH_SPARSE_MODELS=lenet300 (or lenet5) runs one model's lines (cold start and bundle need lenet300).
const only = (process.env.BENCH_SPARSE_MODELS ?? 'lenet300,lenet5').split(',');
for (const [arch, bench] of [['lenet300', 'svd-lenet300'], ['lenet5', 'svd-lenet5']].filter(([a]) => only.includes(a))) {
  const file = modelPath(bench);
  files[arch] = file;
  const model = loadModel(new Uint8Array(fs.readFileSync(file)), { runtime: rt });
  const sparse = prune(model);
  // What an edge deployment runs: the pruned file through the inference entry (its own runtime).
  const edge = infer.load(sparse.save());
  const onnx = exportOnnx(model);
  const session = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const tfPredict = tf ? tfjsNet(tf, model) : null;
  const per = model.inputShape.reduce((a, b) => a * b, 1);
  const acc = (pred) => pred.reduce((a, c, i) => a + (c === test.labels[i] ? 1 : 0), 0) / test.n;
  const common = {
    model: path.relative(root, file), kept: sparse.nnz, compression: round(sparse.compression, 1),
    testErrorPruned: round((1 - acc(edge.predictClasses(test.images))) * 100, 2), load1: round(load1, 1),
    // The inference entry's outputs against the full bundle's pruned model (Float32 bits, 256 images at batch 1).
    sameBitsAsFullBundle: (() => {
      const x = test.images.subarray(0, 256 * per);
      const a = new Uint32Array(edge.predict(x, { batchSize: 1 }).buffer), b = new Uint32Array(sparse.predict(x, { batchSize: 1 }).buffer);
      return a.every((v, i) => v === b[i]);
    })(),
  };
  for (const [batch, images] of [[1, 256], [64, 64 * 8]]) {
    const calls = images / batch;
    const xb = Array.from({ length: calls }, (_, c) => test.images.subarray(c * batch * per, (c + 1) * batch * per));
    // onnxruntime-web's input tensors are built before timing (the copy of x is not charged to it).
    const shape = [batch, ...model.inputShape];
    const ortIn = xb.map((v) => ({ input: new ort.Tensor('float32', v.slice(), shape) }));
    const sides = [
      ['ours', (i) => edge.predict(xb[i % calls], { batchSize: batch })],
      ['ours-dense', (i) => model.predict(xb[i % calls], { batchSize: batch })],
      ['ort-wasm-dense', async (i) => (await session.run(ortIn[i % calls])).output.data],
    ];
    if (tfPredict) sides.push(['tfjs-wasm-dense', (i) => tfPredict(xb[i % calls], batch)]);
    for (const side of sides.slice(1)) {
      const t = await interleave([sides[0], side]);
      report({ bench: 'sparse', case: `${arch}-b${batch}`, unit: 'us', peer: side[0], ...timed(t.ours, t[side[0]]), ...common, load1: round(os.loadavg()[0], 1) });
    }
  }
  const ours = sparse.save().length;
  let denseF32 = 0;
  for (const l of model.layers) for (const p of l.params()) if (/\/(theta|kernel|bias)$/.test(p.name)) denseF32 += 4 * p.value.size;
  report({ bench: 'sparse', case: 'file-size', unit: 'bytes', ours, peer: 'dense-f32', peerValue: denseF32, ratio: round(denseF32 / ours, 1), ...common });
  // lenet300-mc (edge-mc): Monte-Carlo prediction, 30 samples, one image per call, of the model
  // pruned with uncertainty ('lrt' mode: the passes run as rows, the first layer's two products
  // once; 'weights' mode, the exact draws of the training model, as a field) beside our dense
  // predictMC and one dense onnxruntime-web prediction. us per image.
  if (arch === 'lenet300') {
    const S = 30, images = 64;
    const mcModel = prune(model, { uncertainty: true });
    const xs = test.images.subarray(0, images * per);
    const ortIn = Array.from({ length: images }, (_, i) => ({ input: new ort.Tensor('float32', xs.slice(i * per, (i + 1) * per), [1, per]) }));
    const x1 = (i) => xs.subarray((i % images) * per, (i % images + 1) * per);
    const lrt = ['lrt', (i) => mcModel.predictMC(x1(i), { samples: S, seed: 1, mode: 'lrt' })];
    const tOrt = await interleave([lrt, ['ort-wasm-dense', async (i) => (await session.run(ortIn[i % images])).output.data]]);
    const tOurs = await interleave([lrt, ['weights', (i) => mcModel.predictMC(x1(i), { samples: S, seed: 1 })],
      ['ours-dense', (i) => model.predictMC(x1(i), { samples: S, seed: 1 })]], { rounds: 15 });
    const exact = tOurs.weights.med;
    const mcCommon = { samples: S, batch: 1, mode: 'lrt', weightsModeUs: round(exact), ...common };
    report({ bench: 'sparse', case: 'lenet300-mc', unit: 'us', peer: 'ours-dense', ...timed(tOurs.lrt, tOurs['ours-dense']), ...mcCommon, load1: round(os.loadavg()[0], 1) });
    report({ bench: 'sparse', case: 'lenet300-mc', unit: 'us', peer: 'ort-wasm-dense', ...timed(tOrt.lrt, tOrt['ort-wasm-dense']), peerSamples: 1, ...mcCommon, load1: round(os.loadavg()[0], 1) });
    mcModel.dispose();
  }
  fs.writeFileSync(path.join(os.tmpdir(), `vardrop-${arch}.onnx`), onnx);
  fs.writeFileSync(path.join(os.tmpdir(), `vardrop-${arch}.vdsp`), sparse.save());
  await session.release();
  edge.dispose();
  sparse.dispose();
  model.dispose();
}

if (!files.lenet300) process.exit(0);
// Cold start (LeNet-300-100): a fresh Node process imports the runtime, loads the model file and
// predicts one image; timed from before the import to after the prediction.
const sample = `new Float32Array(784).fill(0.5)`;
const vdsp = path.join(os.tmpdir(), 'vardrop-lenet300.vdsp'), onnxFile = path.join(os.tmpdir(), 'vardrop-lenet300.onnx');
const ourCold = coldStart(`import fs from 'node:fs';
const t0 = performance.now();
const vd = await import(${JSON.stringify(path.join(root, 'dist/infer.js'))});
const m = vd.load(new Uint8Array(fs.readFileSync(${JSON.stringify(vdsp)})));
m.predict(${sample});
console.log(performance.now() - t0);`);
const ortCold = coldStart(`import fs from 'node:fs';
const t0 = performance.now();
const ort = await import('onnxruntime-web');
ort.env.wasm.numThreads = 1;
const s = await ort.InferenceSession.create(new Uint8Array(fs.readFileSync(${JSON.stringify(onnxFile)})), { executionProviders: ['wasm'] });
(await s.run({ input: new ort.Tensor('float32', ${sample}, [1, 784]) })).output.data;
console.log(performance.now() - t0);`);
const tfCold = coldStart(`import fs from 'node:fs';
const t0 = performance.now();
const tf = await import('@tensorflow/tfjs');
const wasm = await import('@tensorflow/tfjs-backend-wasm');
wasm.setThreadsCount(1);
await tf.setBackend('wasm');
await tf.ready();
const vd = await import(${JSON.stringify(path.join(root, 'dist/index.js'))});
// The same weights as dense tensors (the file read through our loader, then handed to tfjs).
const m = vd.loadModel(new Uint8Array(fs.readFileSync(${JSON.stringify(path.relative(root, files.lenet300))})));
let h = tf.tensor2d(${sample}, [1, 784]);
const ls = m.layers.filter((l) => l.params().length);
ls.forEach((l, i) => {
  const w = l.params()[0].value.toArray(), la = l.logAlpha();
  for (let j = 0; j < w.length; j++) if (!(la[j] < l.threshold)) w[j] = 0;
  h = tf.add(tf.matMul(h, tf.tensor2d(w, [l.inputShape[0], l.outputShape[0]])), tf.tensor1d(l.params()[2].value.toArray()));
  if (i < ls.length - 1) h = tf.relu(h);
});
h.dataSync();
console.log(performance.now() - t0);`);
const coldCommon = {
  model: path.relative(root, files.lenet300), entry: 'vardrop/infer (dist/infer.js)', load1: round(load1, 1),
  timed: 'fresh node per run, median of 10: from before the import to after the first prediction (import, file read, load, predict of one image), by the child\'s performance.now()',
};
report({ bench: 'sparse', case: 'cold-start', unit: 'ms', ours: round(ourCold, 1), peer: 'ort-wasm-dense', peerValue: round(ortCold, 1), ratio: round(ortCold / ourCold), ...coldCommon });
report({ bench: 'sparse', case: 'cold-start', unit: 'ms', ours: round(ourCold, 1), peer: 'tfjs-wasm-dense', peerValue: round(tfCold, 1), ratio: round(tfCold / ourCold), ...coldCommon });

// Bundle: gzipped bytes of what an edge function ships to predict.
const ourBundle = gz(path.join(root, 'dist/infer.js'));
const ortDir = path.join(root, 'node_modules/onnxruntime-web/dist');
const ortBundle = gz(path.join(ortDir, 'ort.wasm.min.mjs')) + gz(path.join(ortDir, 'ort-wasm-simd-threaded.wasm')) + gz(path.join(ortDir, 'ort-wasm-simd-threaded.mjs'));
const tfDir = path.join(root, 'node_modules/@tensorflow');
const tfBundle = gz(path.join(tfDir, 'tfjs/dist/tf.min.js')) + gz(path.join(tfDir, 'tfjs-backend-wasm/dist/tf-backend-wasm.min.js')) + gz(path.join(tfDir, 'tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
const bundleCommon = { entry: 'vardrop/infer (dist/infer.js, wasm inlined)', fullBundle: gz(path.join(root, 'dist/index.js')) };
report({ bench: 'sparse', case: 'bundle', unit: 'bytes', ours: ourBundle, peer: 'ort-wasm-dense', peerValue: ortBundle, ratio: round(ortBundle / ourBundle), ...bundleCommon });
report({ bench: 'sparse', case: 'bundle', unit: 'bytes', ours: ourBundle, peer: 'tfjs-wasm-dense', peerValue: tfBundle, ratio: round(tfBundle / ourBundle), ...bundleCommon });
