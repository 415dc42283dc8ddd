import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { matmul } from '../src/ops/gemm.js';
import { conv2d, conv2dBackwardFilter } from '../src/ops/conv.js';
import { maxPool2d } from '../src/ops/pool.js';
import { bernoulli, gaussian, uniform } from '../src/ops/noise.js';
import { exp, log, softplus, tanh } from '../src/ops/math.js';
import { softmaxCrossEntropy } from '../src/ops/softmax.js';
import { Sequential } from '../src/model.js';
import { SparseVDConv2d, SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { Flatten } from '../src/layers/reshape.js';
import { MaxPool2d } from '../src/layers/pool.js';
import { fit } from '../src/train.js';

/** FNV-1a over the raw bytes of float32 results (no NaN may appear: engines may differ in NaN bits). */
export function hashF32(h: number, a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== a[i]) throw new Error(`parity workload produced NaN at ${i}`);
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i], 16777619) >>> 0;
  return h;
}

/**
 * A fixed workload touching every numeric family: GEMM, conv forward/backward, pooling,
 * seeded noise, transcendental math, softmax cross-entropy, and a few Sparse VD training
 * steps end to end. Returns a hex hash of all results; Node and Chromium must agree.
 */
export function parityWorkload(rt: Runtime): string {
  let h = 2166136261;
  const take = (t: Tensor): void => {
    h = hashF32(h, t.toArray());
  };
  // Noise: every sampler, odd sizes and offsets.
  const u = uniform(Tensor.zeros([1001], rt), 42, { stream: 3, offset: 7 });
  const g = gaussian(Tensor.zeros([37, 29], rt), 0xdeadbeefn, { stream: 1 });
  const b = bernoulli(Tensor.zeros([333], rt), 0.3, 9, { scale: 2 });
  [u, g, b].forEach(take);
  // GEMM in all three layouts, with bias.
  const a = gaussian(Tensor.zeros([67, 131], rt), 1);
  const w = gaussian(Tensor.zeros([131, 45], rt), 2);
  const bias = uniform(Tensor.zeros([45], rt), 3);
  const y = matmul(a, w, { bias });
  take(y);
  take(matmul(y, w, { transB: true }));
  take(matmul(a, y, { transA: true }));
  // Conv + pooling + backward-filter.
  const x = uniform(Tensor.zeros([3, 13, 11, 3], rt), 4);
  const k = gaussian(Tensor.zeros([5, 3, 3, 7], rt), 5);
  const c = conv2d(x, k, { stride: [2, 1], pad: 1 });
  take(c);
  take(maxPool2d(c, { size: 2 }));
  take(conv2dBackwardFilter(x, c, k.shape, { stride: [2, 1], pad: 1 }));
  // Transcendentals over a wide range.
  const v = uniform(Tensor.zeros([517], rt), 6);
  const wide = v.view();
  for (let i = 0; i < wide.length; i++) wide[i] = (wide[i] - 0.5) * 40;
  take(exp(v));
  take(softplus(v));
  take(tanh(v));
  take(log(exp(v)));
  const logits = gaussian(Tensor.zeros([19, 10], rt), 7);
  const dl = Tensor.zeros([19, 10], rt);
  const labels = Int32Array.from({ length: 19 }, (_, i) => (i * 7) % 10);
  h = hashF32(h, Float32Array.of(softmaxCrossEntropy(logits, labels, { dLogits: dl, scale: 1 / 19 })));
  take(dl);
  // A few Sparse VD training steps (LRT noise, KL, Adam) and Monte-Carlo prediction.
  const model = new Sequential({
    inputShape: [6, 6, 1], seed: 5, runtime: rt,
    layers: [new SparseVDConv2d({ filters: 3, kernelSize: 3 }), new ReLU(), new Flatten(), new SparseVDDense({ units: 4 })],
  });
  const xs = uniform(Tensor.zeros([40, 36], rt), 8).toArray();
  const ys = Int32Array.from({ length: 40 }, (_, i) => i % 4);
  fit(model, xs, ys, { epochs: 2, batchSize: 16, progress: false });
  for (const p of model.params()) take(p.value);
  const mc = model.predictMC(xs.subarray(0, 5 * 36), { samples: 3, seed: 1 });
  for (const arr of [mc.mean, mc.predictiveEntropy, mc.mutualInformation]) h = hashF32(h, arr);
  model.dispose();
  // Dense Sparse VD on inputs with all-zero columns: the zero-column skipping path.
  const xz = uniform(Tensor.zeros([40, 12], rt), 9).toArray();
  for (let i = 0; i < xz.length; i++) if ([0, 5, 6, 11].includes(i % 12)) xz[i] = 0;
  const dense = new Sequential({ inputShape: [12], seed: 6, runtime: rt, layers: [new SparseVDDense({ units: 8 }), new ReLU(), new SparseVDDense({ units: 4 })] });
  fit(dense, xz, ys, { epochs: 2, batchSize: 16, progress: false });
  for (const p of dense.params()) take(p.value);
  dense.dispose();
  // Masked training on the sparse mean path (every pass sparse), with some weights dropped.
  const sparse = new Sequential({
    inputShape: [6, 6, 1], seed: 7, runtime: rt,
    layers: [new SparseVDConv2d({ filters: 3, kernelSize: 3, sparseMeanLimit: 1 }), new ReLU(), new Flatten(), new SparseVDDense({ units: 4, sparseMeanLimit: 1 })],
  });
  for (const p of sparse.params()) if (p.name.endsWith('/logSigma2')) p.value.view().forEach((_, i, a) => { a[i] = i % 3 === 0 ? 4 : -6; });
  fit(sparse, xs, ys, { epochs: 2, batchSize: 16, progress: false });
  for (const p of sparse.params()) take(p.value);
  sparse.dispose();
  // Conv, max-pool, ReLU: the conv's backward runs through the nonzeros of its pooled gradient.
  const pooled = new Sequential({
    inputShape: [6, 6, 1], seed: 8, runtime: rt,
    layers: [new SparseVDConv2d({ filters: 4, kernelSize: 3 }), new MaxPool2d({ poolSize: 2 }), new ReLU(), new Flatten(), new SparseVDDense({ units: 4 })],
  });
  fit(pooled, xs, ys, { epochs: 2, batchSize: 16, progress: false });
  if (!(pooled.layers[0] as SparseVDConv2d).gradSparseProducts) throw new Error('parity workload: the sparse-gradient path did not run');
  for (const p of pooled.params()) take(p.value);
  pooled.dispose();
  return h.toString(16).padStart(8, '0');
}
