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
import { report, timeIt, loadTfjsWasm } from './peers.mjs';
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

/** Median seconds of an async `fn`. */
async function timeAsync(fn, { warm = 3, reps = 9, minSec = 0.5, warmSec = 0 } = {}) {
  const w0 = performance.now();
  for (let i = 0; i < warm || (performance.now() - w0) / 1000 < warmSec; i++) await fn();
  const ts = [];
  const start = performance.now();
  while (ts.length < reps || (performance.now() - start) / 1000 < minSec) {
    const t0 = performance.now();
    await fn();
    ts.push((performance.now() - t0) / 1000);
    if (ts.length > 400) break;
  }
  return median(ts);
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
    const x = test.images.subarray(0, images * per);
    const calls = images / batch;
    const unit = (sec) => (batch === 1 ? (sec / images) * 1e6 : (sec / calls) * 1e6);
    // Every side warms for 0.3 s first: its steady state, after V8 has tiered the JS and wasm
    // up (on a loaded machine the first few thousand batch-1 calls ran about 2x slower).
    const warmSec = 0.3;
    const run = (f) => () => {
      for (let s = 0; s < images; s += batch) f(x.subarray(s * per, (s + batch) * per));
    };
    const ours = unit(timeIt(run((xb) => edge.predict(xb, { batchSize: batch })), { warm: 2, reps: 9, minSec: 0.5, warmSec }));
    const peers = [['ours-dense', unit(timeIt(run((xb) => model.predict(xb, { batchSize: batch })), { warm: 1, reps: 5, minSec: 0.5 }))]];
    const shape = [batch, ...model.inputShape];
    const ortRun = async () => {
      for (let s = 0; s < images; s += batch) {
        const out = await session.run({ input: new ort.Tensor('float32', x.slice(s * per, (s + batch) * per), shape) });
        out.output.data;
      }
    };
    peers.push(['ort-wasm-dense', unit(await timeAsync(ortRun, { warmSec }))]);
    if (tfPredict) peers.push(['tfjs-wasm-dense', unit(timeIt(run((xb) => tfPredict(xb, batch)), { warm: 2, reps: 9, minSec: 0.5, warmSec }))]);
    for (const [peer, v] of peers) {
      report({ bench: 'sparse', case: `${arch}-b${batch}`, unit: 'us', ours: round(ours), peer, peerValue: round(v), ratio: round(v / ours), ...common });
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
    const perImage = (count, f) => () => {
      for (let i = 0; i < count; i++) f(xs.subarray(i * per, (i + 1) * per));
    };
    const us = (sec, count) => (sec / count) * 1e6;
    const lrt = us(timeIt(perImage(images, (x1) => mcModel.predictMC(x1, { samples: S, seed: 1, mode: 'lrt' })), { warm: 2, reps: 9, minSec: 0.5, warmSec: 0.3 }), images);
    const exact = us(timeIt(perImage(8, (x1) => mcModel.predictMC(x1, { samples: S, seed: 1 })), { warm: 1, reps: 5, minSec: 0.3 }), 8);
    const dense = us(timeIt(perImage(2, (x1) => model.predictMC(x1, { samples: S, seed: 1 })), { warm: 1, reps: 3, minSec: 0.2 }), 2);
    const ortOne = us(await timeAsync(async () => {
      for (let i = 0; i < images; i++) (await session.run({ input: new ort.Tensor('float32', xs.slice(i * per, (i + 1) * per), [1, per]) })).output.data;
    }, { warmSec: 0.3 }), images);
    const mcCommon = { samples: S, batch: 1, mode: 'lrt', weightsModeUs: round(exact), ...common };
    report({ bench: 'sparse', case: 'lenet300-mc', unit: 'us', ours: round(lrt), peer: 'ours-dense', peerValue: round(dense), ratio: round(dense / lrt), ...mcCommon });
    report({ bench: 'sparse', case: 'lenet300-mc', unit: 'us', ours: round(lrt), peer: 'ort-wasm-dense', peerValue: round(ortOne), ratio: round(ortOne / lrt), peerSamples: 1, ...mcCommon });
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
