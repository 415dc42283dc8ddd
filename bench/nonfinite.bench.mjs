// Cost of the non-finite output check of the inference paths: every layer's output gets one
// SIMD pass (first_nonfinite_f32) so NaN/±Infinity raise NonFiniteError naming the first
// layer that made them. `ours` is the time of those passes as a percentage of the predict
// they belong to (the check runs inside predict; its share is timed with the same kernel over
// buffers of every layer's output size). Budget 2%: ratio = 2 / ours (above 1 within budget).
import { Runtime, Sequential, SparseVDDense, SparseVDConv2d, ReLU, MaxPool2d, Flatten } from '../dist/index.js';
import { report, timeIt } from './peers.mjs';

const rt = Runtime.createSync();

function random(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32;
  }
  return a;
}

const CASES = [
  { name: 'lenet300-100 predict b256', batch: 256, inputShape: [784],
    layers: () => [new SparseVDDense({ units: 300 }), new ReLU(), new SparseVDDense({ units: 100 }), new ReLU(), new SparseVDDense({ units: 10 })] },
  { name: 'lenet5 predict b64', batch: 64, inputShape: [28, 28, 1],
    layers: () => [new SparseVDConv2d({ filters: 20, kernelSize: 5 }), new MaxPool2d({ poolSize: 2 }), new ReLU(),
      new SparseVDConv2d({ filters: 50, kernelSize: 5 }), new MaxPool2d({ poolSize: 2 }), new ReLU(), new Flatten(),
      new SparseVDDense({ units: 500 }), new ReLU(), new SparseVDDense({ units: 10 })] },
];

for (const cs of CASES) {
  const m = new Sequential({ inputShape: cs.inputShape, seed: 1, runtime: rt, layers: cs.layers() });
  const x = random(cs.batch * m.inputSize, 7);
  const predict = timeIt(() => m.predict(x, { batchSize: cs.batch }));
  // One buffer per layer output, finite, so the pass reads all of it (as on a good predict).
  const sizes = m.layers.map((l) => cs.batch * l.outputShape.reduce((a, b) => a * b, 1));
  const bufs = sizes.map((n, i) => {
    const p = rt.allocF32(n);
    rt.f32.set(random(n, i + 11), p >>> 2);
    return [p, n];
  });
  const check = timeIt(() => {
    for (const [p, n] of bufs) if (rt.k.first_nonfinite_f32(p, n) >= 0) throw new Error('not finite');
  }, { reps: 31 });
  const pct = (100 * check) / predict;
  report({ bench: 'nonfinite', case: cs.name, unit: '% of predict', ours: +pct.toFixed(3), predictMs: +(predict * 1e3).toFixed(3), checkMs: +(check * 1e3).toFixed(4), budget: 2, ratio: +(2 / pct).toFixed(1) });
  for (const [p] of bufs) rt.free(p);
  m.dispose();
}
