import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { Sequential } from '../src/model.js';
import { Dense } from '../src/layers/dense.js';
import { GroupSparseVDDense, SparseVDConv2d, SparseVDDense, VariationalDropoutDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { Dropout } from '../src/layers/dropout.js';
import { prune } from '../src/prune.js';
import { SparseModel } from '../src/inference/model.js';
import { Positions, gaussian, gaussianAt } from '../src/ops/noise.js';
import { mcWeightSample } from '../src/ops/bayes.js';
import { ArgumentError, NonFiniteError, ShapeError } from '../src/errors.js';
import { bits, lcg, randomArray } from './util/kernel.js';
import { randomize } from './util/bayes-models.js';

const rt = Runtime.createSync();

type Stats = Record<string, Float32Array>;

/** Every field of a=b within `tol`·(1 + |b|). */
function expectStatsClose(a: Stats, b: Stats, tol: number): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(b)) {
    expect(a[k].length).toBe(b[k].length);
    let worst = 0;
    for (let i = 0; i < b[k].length; i++) worst = Math.max(worst, Math.abs(a[k][i] - b[k][i]) / (1 + Math.abs(b[k][i])));
    expect(worst, k).toBeLessThanOrEqual(tol);
  }
}
const statBits = (a: Stats) => Object.keys(a).sort().map((k) => bits(a[k]));

const mlp = (outputs = 4) => {
  const m = new Sequential({
    inputShape: [10], seed: 7, runtime: rt,
    layers: [
      new SparseVDDense({ units: 16 }), new ReLU(), new Dropout({ rate: 0.2 }),
      new VariationalDropoutDense({ units: 12, alpha: 'weight', threshold: -1 }), new ReLU(),
      new GroupSparseVDDense({ units: 9, activation: 'tanh' }),
      new Dense({ units: 6 }), new ReLU(),
      new SparseVDDense({ units: outputs }),
    ],
  });
  randomize(m, 3);
  return m;
};
const convNet = () => {
  const m = new Sequential({
    inputShape: [7, 7, 2], seed: 5, runtime: rt,
    layers: [new SparseVDConv2d({ filters: 5, kernelSize: 3 }), new ReLU(), new MaxPool2d(), new Flatten(), new SparseVDDense({ units: 3 })],
  });
  randomize(m, 8);
  // Filter 2 keeps no weight: the channel is removed (or kept for its random outgoing weights).
  const th = m.layers[0].params()[0];
  th.value.set(th.value.toArray().map((v, i) => (i % 5 === 2 ? 0 : v)));
  return m;
};

function data(n: number, per: number, seed: number): Float32Array {
  return randomArray(n * per, lcg(seed), -1, 1);
}

describe('gaussianAt: the Gaussian fill at chosen positions', () => {
  it('equals the dense fill at each position (odd and even, any count, rows with base and stride); SIMD = scalar twin', () => {
    const total = 203, key = (5n << 32n) | 77n;
    const dense = gaussian(Tensor.zeros([total], rt), key, { stream: 3 }).toArray();
    const r = lcg(4);
    for (const cols of [0, 1, 3, 4, 5, 8, 13, 37]) {
      const idx = Uint32Array.from({ length: cols }, () => Math.floor(r() * 60));
      const pos = Positions.from(idx, rt);
      for (const [rows, base, stride] of [[1, 0, 0], [3, 1, 61], [2, 100, 41]]) {
        const out = Tensor.zeros([Math.max(rows * cols, 0)], rt);
        const simd = gaussianAt(out, pos, key, { stream: 3, rowBase: base, rowStride: stride }).toArray();
        const scalar = gaussianAt(out, pos, key, { stream: 3, rowBase: base, rowStride: stride, scalar: true }).toArray();
        expect(bits(simd)).toEqual(bits(scalar));
        for (let q = 0; q < rows; q++) for (let j = 0; j < cols; j++) expect(simd[q * cols + j]).toBe(dense[base + q * stride + idx[j]]);
        out.dispose();
      }
      pos.dispose();
    }
  });

  it('rows of several passes (passRows): pass q of row r is the fill of the seed whose high word is the pass', () => {
    const pos = Positions.from(Uint32Array.of(0, 3, 4, 9, 1), rt);
    const got = gaussianAt(Tensor.zeros([6 * 5], rt), pos, (2n << 32n) | 5n, { stream: 1, rowBase: 10, rowStride: 12, passRows: 2 }).toArray();
    const twin = gaussianAt(Tensor.zeros([6 * 5], rt), pos, (2n << 32n) | 5n, { stream: 1, rowBase: 10, rowStride: 12, passRows: 2, scalar: true }).toArray();
    expect(bits(got)).toEqual(bits(twin));
    for (let q = 0; q < 3; q++) {
      const dense = gaussian(Tensor.zeros([40], rt), (BigInt(2 + q) << 32n) | 5n, { stream: 1 }).toArray();
      for (let r = 0; r < 2; r++) [0, 3, 4, 9, 1].forEach((p, j) => expect(got[(q * 2 + r) * 5 + j]).toBe(dense[10 + r * 12 + p]));
    }
    // Contiguous positions (a count): each row one fill.
    const fill = gaussianAt(Tensor.zeros([3 * 7], rt), 7, (2n << 32n) | 5n, { stream: 1, rowBase: 3, rowStride: 9, passRows: 2 }).toArray();
    const fillTwin = gaussianAt(Tensor.zeros([3 * 7], rt), 7, (2n << 32n) | 5n, { stream: 1, rowBase: 3, rowStride: 9, passRows: 2, scalar: true }).toArray();
    expect(bits(fill)).toEqual(bits(fillTwin));
    for (let r = 0; r < 3; r++) {
      const dense = gaussian(Tensor.zeros([40], rt), (BigInt(2 + (r >> 1)) << 32n) | 5n, { stream: 1 }).toArray();
      for (let j = 0; j < 7; j++) expect(fill[r * 7 + j]).toBe(dense[3 + (r % 2) * 9 + j]);
    }
    pos.dispose();
  });

  it('positions beyond 2^32 use the 64-bit position (another stream word than position mod 2^32)', () => {
    const pos = Positions.from(Uint32Array.of(5, 6), rt);
    const a = gaussianAt(Tensor.zeros([2], rt), pos, 9, { rowBase: 2 ** 32 - 1, rowStride: 0 }).toArray();
    const b = gaussianAt(Tensor.zeros([2], rt), pos, 9, { rowBase: 4, rowStride: 0, scalar: true }).toArray();
    const c = gaussianAt(Tensor.zeros([2], rt), pos, 9, { rowBase: 2 ** 32 - 1, rowStride: 0, scalar: true }).toArray();
    expect(bits(a)).toEqual(bits(c));
    expect(bits(a)).not.toEqual(bits(b));
    pos.dispose();
    expect(() => gaussianAt(Tensor.zeros([3], rt), Positions.from(Uint32Array.of(1, 2), rt), 1)).toThrow(ArgumentError);
  });

  it('mcWeightSample: M + sqrt(S)·ε where M ≠ 0, else 0; SIMD = scalar twin = reference, any size', () => {
    for (const n of [0, 1, 3, 4, 7, 16, 33]) {
      const r = lcg(n + 1);
      const M = randomArray(n, r, -1, 1).map((v, i) => (i % 3 === 1 ? 0 : v));
      const S = randomArray(n, r, 0, 0.5), E = randomArray(n, r, -3, 3);
      const [tm, ts, te] = [M, S, E].map((a) => Tensor.from(a, [n], rt));
      const o1 = Tensor.zeros([n], rt), o2 = Tensor.zeros([n], rt);
      mcWeightSample(tm, ts, te, o1);
      mcWeightSample(tm, ts, te, o2, true);
      expect(bits(o1.toArray())).toEqual(bits(o2.toArray()));
      const ref = M.map((m, i) => (m !== 0 ? Math.fround(m + Math.fround(Math.fround(Math.sqrt(S[i])) * E[i])) : 0));
      expect(bits(o1.toArray())).toEqual(bits(ref));
      for (const t of [tm, ts, te, o1, o2]) t.dispose();
    }
  });
});

describe('SparseModel.predictMC (pruned with uncertainty)', () => {
  const cases = [['MLP (Sparse VD, VD, group sparsity, plain dense, dropout)', () => mlp(), 10], ['conv net', convNet, 98]] as const;
  for (const [name, make, per] of cases) {
    it(`${name}: equals the training model's predictMC (same seed) for sparse and dense storage, with and without compaction`, () => {
      const m = make();
      const n = 9, x = data(n, per, 2);
      const ref = m.predictMC(x, { samples: 12, seed: 4 });
      for (const opts of [{}, { sparseBelow: 1 }, { sparseBelow: 0 }, { dropUnits: false }]) {
        const sm = prune(m, { ...opts, uncertainty: true });
        expectStatsClose(sm.predictMC(x, { samples: 12, seed: 4 }) as unknown as Stats, ref as unknown as Stats, 2e-5);
        sm.dispose();
      }
      // The default seed is the training model's.
      const sm = prune(m, { uncertainty: true });
      expectStatsClose(sm.predictMC(x, { samples: 5 }) as unknown as Stats, m.predictMC(x, { samples: 5 }) as unknown as Stats, 2e-5);
      sm.dispose();
      m.dispose();
    });

    it(`${name}: the same bits for batch sizes 1, 7 and all; a save/load round trip keeps them`, () => {
      const m = make();
      const sm = prune(m, { uncertainty: true });
      const n = 11, x = data(n, per, 6);
      const ref = sm.predictMC(x, { samples: 7, seed: 9 }) as unknown as Stats;
      for (const batchSize of [1, 7, n]) expect(statBits(sm.predictMC(x, { samples: 7, seed: 9, batchSize }) as unknown as Stats)).toEqual(statBits(ref));
      const back = SparseModel.load(sm.save(), { runtime: rt });
      expect(back.uncertainty).toEqual({ seed: m.seed });
      expect(statBits(back.predictMC(x, { samples: 7, seed: 9, batchSize: 4 }) as unknown as Stats)).toEqual(statBits(ref));
      // The deterministic outputs are untouched by the Monte-Carlo passes.
      expect(bits(sm.predict(x))).toEqual(bits(back.predict(x)));
      back.dispose();
      sm.dispose();
      m.dispose();
    });
  }

  it('compaction keeps the variances aligned: removed units and channels change no draw', () => {
    const m = mlp();
    const a = prune(m, { uncertainty: true }), b = prune(m, { uncertainty: true, dropUnits: false });
    expect(a.summary().map((r) => r.outputShape[0])).not.toEqual(b.summary().map((r) => r.outputShape[0]));
    const x = data(6, 10, 12);
    expectStatsClose(a.predictMC(x, { samples: 10, seed: 1 }) as unknown as Stats, b.predictMC(x, { samples: 10, seed: 1 }) as unknown as Stats, 2e-5);
    a.dispose();
    b.dispose();
    m.dispose();
  });

  it('regression (mse with noise variance, gaussianNll): the same moments as the training model', () => {
    for (const [loss, outputs] of [['mse', 3], ['gaussianNll', 4]] as const) {
      const m = mlp(outputs);
      const sm = prune(m, { uncertainty: true, sparseBelow: 0.5 });
      const x = data(8, 10, 21);
      const opts = loss === 'mse' ? { samples: 15, seed: 2, loss, noiseVariance: 0.25 } : { samples: 15, seed: 2, loss };
      const ref = m.predictMC(x, opts), got = sm.predictMC(x, opts);
      expect(Object.keys(got).sort()).toEqual(['aleatoricVariance', 'epistemicVariance', 'mean', 'variance']);
      expectStatsClose(got as unknown as Stats, ref as unknown as Stats, 5e-5);
      expect(got.epistemicVariance.some((v) => v > 1e-4)).toBe(true);
      sm.dispose();
      m.dispose();
    }
  });

  it('bad input: typed errors naming the argument, raised before anything runs; the model stays usable', () => {
    const m = mlp();
    const sm = prune(m, { uncertainty: true });
    const x = data(2, 10, 1);
    const before = statBits(sm.predictMC(x, { samples: 3, seed: 1 }) as unknown as Stats);
    const named = (f: () => unknown, E: new (...a: never[]) => Error, arg: string) => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(E);
      expect((err as Error).message).toContain(arg);
    };
    named(() => sm.predictMC(x, { samples: 0 }), ArgumentError, 'samples');
    named(() => sm.predictMC(x, { samples: 2.5 }), ArgumentError, 'samples');
    named(() => sm.predictMC(x, { seed: -1 }), ArgumentError, 'seed');
    named(() => sm.predictMC(x, { batchSize: 0 }), ArgumentError, 'batchSize');
    named(() => sm.predictMC(x, { loss: 'hinge' as never }), ArgumentError, 'loss');
    named(() => sm.predictMC(x, { noiseVariance: 1 } as never), ArgumentError, 'noiseVariance');
    named(() => sm.predictMC(Float32Array.of(1, NaN, ...new Float32Array(8))), NonFiniteError, 'x');
    named(() => sm.predictMC(new Float32Array(15)), ShapeError, 'x');
    named(() => sm.predictMC([1, 2] as never), ArgumentError, 'x');
    const m3 = mlp(3), odd = prune(m3, { uncertainty: true });
    named(() => odd.predictMC(x, { samples: 3, loss: 'gaussianNll' }), ShapeError, 'output');
    odd.dispose();
    m3.dispose();
    expect(statBits(sm.predictMC(x, { samples: 3, seed: 1 }) as unknown as Stats)).toEqual(before);
    const plain = prune(m);
    expect(plain.uncertainty).toBeNull();
    named(() => plain.predictMC(x), ArgumentError, 'uncertainty');
    named(() => prune(m, { uncertainty: 1 as never }), ArgumentError, 'uncertainty');
    plain.dispose();
    sm.dispose();
    named(() => sm.predictMC(x), ArgumentError, 'model');
    m.dispose();
  });

  it('a file with variances is version 3 in the full encoding (without, version 2) and version 4 in the compact one, with its noise streams', () => {
    const m = mlp();
    const plain = prune(m), sm = prune(m, { uncertainty: true });
    const version = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getUint32(4, true);
    expect(version(plain.saveLegacy())).toBe(2);
    expect(version(sm.saveLegacy())).toBe(3);
    expect(version(sm.save())).toBe(4);
    expect(bits(SparseModel.load(sm.saveLegacy(), { runtime: rt }).predictMC(data(3, 10, 2), { samples: 2 }).mean)).toEqual(bits(sm.predictMC(data(3, 10, 2), { samples: 2 }).mean));
    expect(bits(SparseModel.load(plain.save(), { runtime: rt }).predict(data(3, 10, 2)))).toEqual(bits(sm.predict(data(3, 10, 2))));
    plain.dispose();
    sm.dispose();
    m.dispose();
  });
});

describe("SparseModel.predictMC mode 'lrt' (local reparameterization)", () => {
  for (const [name, make, per] of [['MLP', () => mlp(), 10], ['conv net', convNet, 98]] as const) {
    it(`${name}: converges to the weight-sampling statistics (S = 3000, fixed seeds: |Δ| within 4.5 standard errors)`, () => {
      const m = make();
      const sm = prune(m, { uncertainty: true });
      const n = 3, S = 3000, x = data(n, per, 31);
      const w = sm.predictMC(x, { samples: S, seed: 3 }), l = sm.predictMC(x, { samples: S, seed: 4, mode: 'lrt' });
      // Standard error of a mean of S draws in [0, 1] (and of entropies in [0, log C]) is at most ½·range/√S.
      const C = sm.outputShape[0], se = (range: number) => Math.SQRT2 * 0.5 * range / Math.sqrt(S);
      const diff = (a: Float32Array, b: Float32Array) => a.reduce((mx, v, i) => Math.max(mx, Math.abs(v - b[i])), 0);
      expect(diff(l.mean, w.mean)).toBeLessThan(4.5 * se(1));
      expect(diff(l.expectedEntropy, w.expectedEntropy)).toBeLessThan(4.5 * se(Math.log(C)));
      expect(diff(l.predictiveEntropy, w.predictiveEntropy)).toBeLessThan(4.5 * se(Math.log(C)));
      // Not vacuous: the passes disagree (epistemic uncertainty), and another seed gives other numbers.
      expect(Math.min(...l.mutualInformation)).toBeGreaterThan(1e-4);
      expect(bits(sm.predictMC(x, { samples: 20, seed: 5, mode: 'lrt' }).mean)).not.toEqual(bits(sm.predictMC(x, { samples: 20, seed: 6, mode: 'lrt' }).mean));
      sm.dispose();
      m.dispose();
    });

    it(`${name}: the same bits for batch sizes 1, 7 and all, after a save/load, and for a sample moved in the call`, () => {
      const m = make();
      const sm = prune(m, { uncertainty: true });
      const n = 10, x = data(n, per, 17);
      const ref = sm.predictMC(x, { samples: 9, seed: 2, mode: 'lrt' }) as unknown as Stats;
      for (const batchSize of [1, 7, n]) expect(statBits(sm.predictMC(x, { samples: 9, seed: 2, mode: 'lrt', batchSize }) as unknown as Stats)).toEqual(statBits(ref));
      const back = SparseModel.load(sm.save(), { runtime: rt });
      expect(statBits(back.predictMC(x, { samples: 9, seed: 2, mode: 'lrt' }) as unknown as Stats)).toEqual(statBits(ref));
      // 600 samples: several batches of at most 4096 rows (samples × passes).
      const big = sm.predictMC(data(40, per, 17), { samples: 600, seed: 2, mode: 'lrt' });
      const alone = sm.predictMC(data(40, per, 17).subarray(39 * per), { samples: 600, seed: 2, mode: 'lrt' });
      const C = sm.outputShape[0];
      expect(bits(alone.mean)).not.toEqual(bits(big.mean.subarray(39 * C))); // keyed by the sample's index in the call
      expect(bits(sm.predictMC(data(40, per, 17), { samples: 600, seed: 2, mode: 'lrt', batchSize: 3 }).mean)).toEqual(bits(big.mean));
      back.dispose();
      sm.dispose();
      m.dispose();
    });
  }

  it('regression and bad mode', () => {
    const m = mlp(3);
    const sm = prune(m, { uncertainty: true });
    const x = data(4, 10, 3);
    const w = sm.predictMC(x, { samples: 3000, seed: 1, loss: 'mse' }), l = sm.predictMC(x, { samples: 3000, seed: 2, loss: 'mse', mode: 'lrt' });
    // The spread of the sampled outputs is heavy-tailed (two seeds of the weight-sampling mode
    // differ by up to 1.6× on single outputs here): a loose bound per output, a tight one on average.
    let logRatio = 0;
    for (let i = 0; i < w.mean.length; i++) {
      const se = Math.sqrt((w.epistemicVariance[i] + l.epistemicVariance[i]) / 3000);
      expect(Math.abs(l.mean[i] - w.mean[i])).toBeLessThan(4.5 * se + 1e-6);
      const ratio = l.epistemicVariance[i] / w.epistemicVariance[i];
      expect(ratio).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2);
      logRatio += Math.log(ratio) / w.mean.length;
    }
    expect(Math.abs(logRatio)).toBeLessThan(0.1);
    expect(() => sm.predictMC(x, { mode: 'exact' as never })).toThrow(ArgumentError);
    sm.dispose();
    m.dispose();
  });
});
