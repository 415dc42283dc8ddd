// GEMM throughput: ours (raw kernels gemm_f32_nn / _nt / _tn) beside TensorFlow.js wasm
// (XNNPACK, one thread) tf.matMul, in the same process. Cases are MxKxN: C[M×N] = A[M×K]·B[K×N].
// Also a plain-SIMD peak (f32x4.mul + f32x4.add chains) and each case as a fraction of it.
// One JSON object per line; nothing asserts on time.
import { Runtime } from '../dist/index.js';
import { report, timeIt, loadTfjsWasm } from './peers.mjs';

const rt = Runtime.createSync();
const tf = await loadTfjsWasm();

// Peak: simd_peak_f32 does 192 flops per iteration. Sampled once per round of every case and
// kept at its best, so a burst of load from other jobs cannot deflate it; the peak line and the
// fraction-of-peak lines come last, once the peak is known.
const peakIters = 2_000_000;
let peak = 0;
function samplePeak() {
  const sec = timeIt(() => rt.k.simd_peak_f32(peakIters), { warm: 1, reps: 5, minSec: 0.05 });
  peak = Math.max(peak, (192 * peakIters) / sec / 1e9);
}
const fractions = [];

const ROUNDS = 3;
let seed = 12345;
function fill(ptr, n) {
  const f = rt.f32;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    f[(ptr >>> 2) + i] = seed / 2 ** 32 - 0.5;
  }
}

function round(x, d = 2) {
  return Math.round(x * 10 ** d) / 10 ** d;
}

/** layout: 'nn' | 'nt' | 'tn'. */
function runCase(M, K, N, layout) {
  const name = `${M}x${K}x${N}${layout === 'nn' ? '' : `-${layout}`}`;
  const a = rt.allocF32(M * K), b = rt.allocF32(K * N), c = rt.allocF32(M * N);
  fill(a, M * K);
  fill(b, K * N);
  const flops = 2 * M * N * K;
  const reps = { warm: 3, reps: 11, minSec: 0.25 };
  let ours;
  if (layout === 'nn') ours = () => rt.k.gemm_f32_nn(M, N, K, a, K, b, N, c, N, 0, 0);
  else if (layout === 'nt') ours = () => rt.k.gemm_f32_nt(M, N, K, a, K, b, K, c, N, 0, 0);
  else ours = () => rt.k.gemm_f32_tn(M, N, K, a, M, b, N, c, N, 0, 0);
  let peerFn = null, aT = null, bT = null;
  if (tf) {
    const f32 = rt.f32;
    aT = tf.tensor2d(f32.slice(a >>> 2, (a >>> 2) + M * K), layout === 'tn' ? [K, M] : [M, K]);
    bT = tf.tensor2d(f32.slice(b >>> 2, (b >>> 2) + K * N), layout === 'nt' ? [N, K] : [K, N]);
    const tA = layout === 'tn', tB = layout === 'nt';
    // Return nothing from tidy: handed a 150k-element Float32Array, tidy walks every element
    // looking for tensors, which costs 5-10x the product itself.
    peerFn = () => tf.tidy(() => { tf.matMul(aT, bT, tA, tB).dataSync(); });
  }
  // Alternate ours and the peer over a few rounds and keep each one's best median: the two
  // cores are shared with other jobs, and alternating exposes both to the same disturbances.
  let oursG = 0, peerG = 0;
  for (let r = 0; r < ROUNDS; r++) {
    samplePeak();
    oursG = Math.max(oursG, flops / timeIt(ours, reps) / 1e9);
    if (peerFn) peerG = Math.max(peerG, flops / timeIt(peerFn, reps) / 1e9);
  }
  const line = { bench: 'gemm', case: name, unit: 'GFLOP/s', ours: round(oursG) };
  if (peerFn) {
    aT.dispose();
    bT.dispose();
    Object.assign(line, { peer: 'tfjs-wasm', peerValue: round(peerG), ratio: round(oursG / peerG, 3) });
  }
  report(line);
  fractions.push([name, oursG]);
  rt.free(a);
  rt.free(b);
  rt.free(c);
}

for (const cs of ['128x784x300', '128x300x100', '1x784x300', '256x256x256', '512x512x512']) {
  const [M, K, N] = cs.split('x').map(Number);
  runCase(M, K, N, 'nn');
}
runCase(128, 784, 300, 'nt');
runCase(128, 784, 300, 'tn');
// One Sparse VD MLP training step (batch 100, 784 -> 300): forward x·W (nn), weight gradient
// xᵀ·dy (tn) and input gradient dy·Wᵀ (nt).
runCase(100, 784, 300, 'nn');
runCase(784, 100, 300, 'tn');
runCase(100, 300, 784, 'nt');
report({ bench: 'gemm', case: 'peak', unit: 'GFLOP/s', ours: round(peak) });
for (const [name, g] of fractions) report({ bench: 'gemm', case: name, unit: 'fraction-of-peak', ours: round(g / peak, 3), peak: round(peak) });
