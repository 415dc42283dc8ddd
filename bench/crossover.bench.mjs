// Where the sparse kernels beat the dense ones: for the weight layers of LeNet-300-100 and
// LeNet-5, the CSR product (spmm, feature-major activations as between sparse layers) and the
// sparse convolution against the dense GEMM and convolution, over kept-weight densities, at
// batch 1 and 64. Weights are kept at random positions (what Sparse VD leaves, unstructured).
// Lines: {"bench":"crossover","case":"<layer>-b<batch>","unit":"us","density":D,"ours":sparse,
//         "peer":"dense","peerValue":dense,"ratio":dense/sparse}
// and per layer and batch the crossover: {"case":"<layer>-b<batch>-crossover","unit":"density",
// "ours":highest density at which sparse was still faster}. The rule prune() uses
// (src/compact.ts, sparseIsFaster) is read off these lines; timings on a shared machine are noisy.
import { Runtime, Tensor, SparseMatrix, spmm, matmul, conv2d, sparseConv2d } from '../dist/index.js';
import { report, timeIt } from './peers.mjs';

const rt = Runtime.createSync();
const round = (v, d = 2) => Math.round(v * 10 ** d) / 10 ** d;
let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const DENSITIES = [0.01, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7];

const layers = [
  { name: 'dense-784x300', kind: 'dense', k: 784, m: 300 },
  { name: 'dense-300x100', kind: 'dense', k: 300, m: 100 },
  { name: 'dense-800x500', kind: 'dense', k: 800, m: 500 },
  { name: 'conv-28x28x1-5x5x20', kind: 'conv', h: 28, c: 1, kh: 5, f: 20 },
  { name: 'conv-12x12x20-5x5x50', kind: 'conv', h: 12, c: 20, kh: 5, f: 50 },
];

for (const L of layers) {
  for (const batch of [1, 64]) {
    let crossover = 0;
    const K = L.kind === 'dense' ? L.k : L.kh * L.kh * L.c, M = L.kind === 'dense' ? L.m : L.f;
    const xIn = L.kind === 'dense' ? [batch, L.k] : [batch, L.h, L.h, L.c];
    const x = Tensor.from(Float32Array.from({ length: xIn.reduce((a, b) => a * b, 1) }, () => rnd()), xIn, rt);
    const xT = L.kind === 'dense' ? Tensor.from(Float32Array.from({ length: batch * L.k }, () => rnd()), [L.k, batch], rt) : null;
    for (const d of DENSITIES) {
      const w = Float32Array.from({ length: K * M }, () => (rnd() < d ? rnd() - 0.5 : 0));
      const mat = SparseMatrix.fromWeights(w, K, M, rt);
      let sparseT, denseT;
      if (L.kind === 'dense') {
        const wt = Tensor.from(w, [K, M], rt);
        const ys = Tensor.zeros([M, batch], rt), yd = Tensor.zeros([batch, M], rt);
        sparseT = timeIt(() => spmm(mat, xT, { out: ys }), { warm: 3, reps: 15, minSec: 0.15 });
        denseT = timeIt(() => matmul(x, wt, { out: yd }), { warm: 3, reps: 15, minSec: 0.15 });
        for (const t of [wt, ys, yd]) t.dispose();
      } else {
        const wt = Tensor.from(w, [L.kh, L.kh, L.c, L.f], rt);
        const oh = L.h - L.kh + 1;
        const ys = Tensor.zeros([batch, oh, oh, L.f], rt), yd = Tensor.zeros([batch, oh, oh, L.f], rt);
        const g = { kernel: [L.kh, L.kh], stride: [1, 1], pad: [0, 0] };
        sparseT = timeIt(() => sparseConv2d(x, mat, g, { out: ys }), { warm: 3, reps: 15, minSec: 0.15 });
        denseT = timeIt(() => conv2d(x, wt, { out: yd }), { warm: 3, reps: 15, minSec: 0.15 });
        for (const t of [wt, ys, yd]) t.dispose();
      }
      mat.dispose();
      if (sparseT < denseT) crossover = d;
      report({ bench: 'crossover', case: `${L.name}-b${batch}`, unit: 'us', density: d, ours: round(sparseT * 1e6), peer: 'dense', peerValue: round(denseT * 1e6), ratio: round(denseT / sparseT) });
    }
    report({ bench: 'crossover', case: `${L.name}-b${batch}-crossover`, unit: 'density', ours: crossover });
    x.dispose();
    xT?.dispose();
  }
}
