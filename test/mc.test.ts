import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { Sequential } from '../src/model.js';
import { SparseVDConv2d, SparseVDDense, VariationalDropoutDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { softmax } from '../src/ops/softmax.js';
import { Rng, gaussian } from '../src/ops/noise.js';
import { mcWeightSample } from '../src/ops/bayes.js';
import { matmul } from '../src/ops/gemm.js';
import { Dense } from '../src/layers/dense.js';
import { bits } from './util/kernel.js';

const rt = Runtime.createSync();
function data(n: number, per: number): Float32Array {
  const r = new Rng(11, 1, rt);
  return Float32Array.from({ length: n * per }, () => r.uniform() * 2 - 1);
}

const mlp = () => new Sequential({
  inputShape: [6], seed: 3, runtime: rt,
  layers: [new SparseVDDense({ units: 12 }), new ReLU(), new VariationalDropoutDense({ units: 8, alpha: 'weight' }), new ReLU(), new SparseVDDense({ units: 4 })],
});
const convNet = () => new Sequential({
  inputShape: [6, 6, 1], seed: 4, runtime: rt,
  layers: [new SparseVDConv2d({ filters: 3, kernelSize: 3 }), new ReLU(), new MaxPool2d(), new Flatten(), new SparseVDDense({ units: 3 })],
});

const allBits = (p: { mean: Float32Array; predictiveEntropy: Float32Array; expectedEntropy: Float32Array; mutualInformation: Float32Array }) =>
  [bits(p.mean), bits(p.predictiveEntropy), bits(p.expectedEntropy), bits(p.mutualInformation)];

describe('predictMC: each pass samples the weights from (seed, pass)', () => {
  it('a Sparse VD layer\'s sampled pass is x·(M + σ·ε) + b with ε the Gaussian fill of (seed, pass) on its stream, dropped weights 0', () => {
    const m = new Sequential({ inputShape: [5], seed: 2, runtime: rt, layers: [new SparseVDDense({ units: 4 }), new ReLU(), new Dense({ units: 3 })] });
    const l = m.layers[0];
    const [theta, logSigma2, bias] = l.params();
    bias.value.set([0.1, -0.2, 0.3, 0.05]);
    // Every third weight dropped (log α = 5), the others noisy (log α = −2).
    logSigma2.value.set(theta.value.toArray().map((t, i) => Math.log(t * t) + (i % 3 === 0 ? 5 : -2)));
    const x = m.loadBatch(data(3, 5), { start: 0, count: 3 });
    const y = l.forward(x, { training: false, sample: true, sampleWeights: true, seed: 9, step: 4 }).toArray();
    // Reference: M = θ where log α = log σ² − log θ² < 3 (else 0), S = σ².
    const th = theta.value.toArray(), ls = logSigma2.value.toArray();
    const M = Tensor.from(th.map((t, i) => (ls[i] - Math.log(t * t) < 3 ? t : 0)), [5, 4], rt);
    const S = Tensor.from(ls.map((v) => Math.exp(v)), [5, 4], rt);
    const eps = gaussian(Tensor.zeros([5, 4], rt), (4n << 32n) | 9n, { stream: l.index });
    const w = Tensor.zeros([5, 4], rt), std = Tensor.zeros([5, 4], rt);
    mcWeightSample(M, S, eps, w); // dropped weights (M = 0) stay exactly 0
    const ref = matmul(x, w, { bias: bias.value }).toArray();
    ref.forEach((v, i) => expect(Math.abs(y[i] - v)).toBeLessThan(1e-5 * (1 + Math.abs(v))));
    for (const t of [M, S, eps, w, std]) t.dispose();
    m.dispose();
  });

  for (const [name, make, per] of [['MLP', mlp, 6], ['conv net', convNet, 36]] as const) {
    it(`${name}: the same bits for batch sizes 1, 7 and all`, () => {
      const m = make();
      const n = 19, x = data(n, per);
      const ref = m.predictMC(x, { samples: 9, seed: 5 });
      for (const batchSize of [1, 7, n]) expect(allBits(m.predictMC(x, { samples: 9, seed: 5, batchSize }))).toEqual(allBits(ref));
      m.dispose();
    });

    it(`${name}: a row gives the same bits at another position of the call`, () => {
      const m = make();
      const n = 10, x = data(n, per);
      const ref = m.predictMC(x, { samples: 6, seed: 2, batchSize: 4 });
      // Row 3 moved to the front; and alone.
      const moved = new Float32Array(x.length);
      moved.set(x.subarray(3 * per, 4 * per), 0);
      moved.set(x.subarray(0, 3 * per), per);
      moved.set(x.subarray(4 * per), 4 * per);
      const mv = m.predictMC(moved, { samples: 6, seed: 2, batchSize: 4 });
      const C = m.outputSize;
      expect(bits(mv.mean.subarray(0, C))).toEqual(bits(ref.mean.subarray(3 * C, 4 * C)));
      expect(bits(mv.mutualInformation.subarray(0, 1))).toEqual(bits(ref.mutualInformation.subarray(3, 4)));
      const alone = m.predictMC(x.subarray(3 * per, 4 * per), { samples: 6, seed: 2 });
      expect(bits(alone.mean)).toEqual(bits(ref.mean.subarray(3 * C, 4 * C)));
      // Another seed, other numbers.
      expect(bits(m.predictMC(x, { samples: 6, seed: 3 }).mean)).not.toEqual(bits(ref.mean));
      m.dispose();
    });
  }

  it('sample index 65 536 draws other weights than sample 0 (the old key wrapped there)', () => {
    const m = mlp();
    const x = m.loadBatch(data(2, 6), { start: 0, count: 2 });
    const pass = (step: number) => m.forward(x, { training: false, sample: true, sampleWeights: true, seed: 5, step }).toArray();
    const s0 = pass(0);
    expect(bits(pass(0))).toEqual(bits(s0));
    for (const s of [65536, 65537, 2 ** 20 - 1]) expect(bits(pass(s))).not.toEqual(bits(s0));
    m.dispose();
  });

  it('means and entropies are accumulated in float64: the mean is the f64 average of the passes, rounded once', () => {
    const m = mlp();
    const n = 5, x = data(n, 6), S = 40, C = m.outputSize;
    const r = m.predictMC(x, { samples: S, seed: 8 });
    const t = m.loadBatch(x, { start: 0, count: n });
    const sum = new Float64Array(n * C), p = Tensor.zeros([n, C], rt);
    for (let s = 0; s < S; s++) {
      softmax(m.forward(t, { training: false, sample: true, sampleWeights: true, seed: 8, step: s }), { out: p });
      p.view().forEach((v, i) => (sum[i] += v));
    }
    expect(bits(r.mean)).toEqual(bits(Float32Array.from(sum, (v) => v / S)));
    for (let i = 0; i < n; i++) {
      let total = 0;
      for (let c = 0; c < C; c++) total += r.mean[i * C + c];
      expect(Math.abs(total - 1)).toBeLessThan(1e-6);
      expect(r.mutualInformation[i]).toBeGreaterThanOrEqual(0);
      expect(r.mutualInformation[i]).toBeCloseTo(r.predictiveEntropy[i] - r.expectedEntropy[i], 6);
    }
    p.dispose();
    m.dispose();
  });
});
