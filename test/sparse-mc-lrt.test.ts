import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { Sequential } from '../src/model.js';
import { GroupSparseVDDense, SparseVDDense, VariationalDropoutDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { prune } from '../src/prune.js';
import { SparseModel } from '../src/inference/model.js';
import { gaussianAt } from '../src/ops/noise.js';
import { NonFiniteError } from '../src/errors.js';
import { LrtProgram } from '../src/ops/lrt.js';
import { SparseMatrix, csrFromWeights, sparseConv2d } from '../src/ops/spmm.js';
import { bits, lcg, randomArray } from './util/kernel.js';
import { randomize } from './util/bayes-models.js';

// SparseModel.predictMC({ mode: 'lrt' }) through the fused LRT kernels (src/inference/mc.ts
// lrtLinear: sparse and Bayesian dense steps feature-major, the passes as columns): against a
// float64 forward of the training layers' inference forms with the very Gaussians of the
// generator at the documented positions, across batch sizes, storage, compaction and bundles.

const rt = Runtime.createSync();
type Stats = Record<string, Float32Array>;
const statBits = (a: Stats) => Object.keys(a).sort().map((k) => bits(a[k]));

/** Sparse VD, variational dropout (per weight), group sparsity with a fused tanh; 10 inputs, `outputs` outputs. */
function eligible(outputs = 4): Sequential {
  const m = new Sequential({
    inputShape: [10], seed: 3, runtime: rt,
    layers: [
      new SparseVDDense({ units: 16 }), new ReLU(),
      new VariationalDropoutDense({ units: 12, alpha: 'weight', threshold: -1 }), new ReLU(),
      new GroupSparseVDDense({ units: 9, activation: 'tanh' }),
      new SparseVDDense({ units: outputs }),
    ],
  });
  randomize(m, 5);
  return m;
}

const data = (n: number, seed: number) => randomArray(n * 10, lcg(seed), -1, 1);

/** Calls of each LRT kernel while `f` runs (the runtime's kernel table swapped for counting wrappers). */
function kernelCalls<T>(f: () => T): { value: T; calls: Record<string, number> } {
  const real = rt.k as unknown as Record<string, unknown>, calls: Record<string, number> = {};
  const spy: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(real)) {
    spy[name] = typeof fn !== 'function' ? fn : (...a: number[]) => {
      calls[name] = (calls[name] ?? 0) + 1;
      return (fn as (...b: number[]) => unknown)(...a);
    };
  }
  const owner = rt as unknown as { k: unknown };
  owner.k = spy;
  try {
    return { value: f(), calls };
  } finally {
    owner.k = real;
  }
}

/**
 * The LRT statistics in float64 from the training layers' inference forms (every unit kept, so
 * a step's outputs are the layer's units): pass q of sample i draws the pre-activations of a
 * Bayesian layer at stream positions i·units + u under the key (q, seed) on the layer's stream.
 */
function reference(m: Sequential, x: Float32Array, n: number, S: number, seed: number): Stats {
  const C = m.outputShape[0];
  const mean = new Float64Array(n * C), expected = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < S; q++) {
      let h = Array.from(x.subarray(i * 10, (i + 1) * 10));
      for (const l of m.layers) {
        const f = l.inference() as { kind: string; weights?: Float32Array; variance?: Float32Array; bias?: Float32Array | null; units?: number; activation?: unknown };
        const act = f.kind === 'activation' ? (f as { activation: string }).activation : (f.activation as { activation: string } | undefined)?.activation;
        if (f.kind === 'linear') {
          const U = f.units!, I = h.length;
          const eps = gaussianAt(Tensor.zeros([U], rt), U, (BigInt(q) << 32n) | BigInt(seed), { stream: l.index, rowBase: i * U }).toArray();
          const y = new Array<number>(U);
          for (let u = 0; u < U; u++) {
            let mu = 0, v = 0;
            for (let k = 0; k < I; k++) {
              mu += f.weights![k * U + u] * h[k];
              v += f.variance![k * U + u] * h[k] * h[k];
            }
            y[u] = mu + Math.sqrt(v + 1e-8) * eps[u] + (f.bias ? f.bias[u] : 0);
          }
          h = y;
        }
        if (act === 'relu') h = h.map((z) => Math.max(z, 0));
        if (act === 'tanh') h = h.map(Math.tanh);
      }
      const mx = Math.max(...h), e = h.map((z) => Math.exp(z - mx)), sum = e.reduce((a, b) => a + b, 0);
      const p = e.map((z) => z / sum);
      p.forEach((pc, c) => (mean[i * C + c] += pc / S));
      expected[i] += -p.reduce((a, pc) => a + (pc > 0 ? pc * Math.log(pc) : 0), 0) / S;
    }
  }
  const predictive = Float64Array.from({ length: n }, (_, i) => -Array.from(mean.subarray(i * C, (i + 1) * C)).reduce((a, pc) => a + (pc > 0 ? pc * Math.log(pc) : 0), 0));
  return {
    mean: Float32Array.from(mean), expectedEntropy: Float32Array.from(expected), predictiveEntropy: Float32Array.from(predictive),
    mutualInformation: Float32Array.from(predictive, (h, i) => Math.max(0, h - expected[i])),
  };
}

describe("SparseModel.predictMC mode 'lrt', fused products and draws", () => {
  it('= the float64 LRT forward with the generator\'s Gaussians (sparse and dense storage), through the fused LRT kernels', () => {
    const m = eligible();
    const n = 5, S = 7, x = data(n, 2);
    const ref = reference(m, x, n, S, 11);
    for (const sparseBelow of [0, 1]) {
      const sm = prune(m, { uncertainty: true, dropUnits: false, sparseBelow });
      // The first call compiles the forwards of 2 and of 1 samples (running each op once); the
      // second, with another seed, replays them: the calls counted.
      sm.predictMC(x, { samples: S, seed: 12, mode: 'lrt', batchSize: 2 });
      const { value, calls } = kernelCalls(() => sm.predictMC(x, { samples: S, seed: 11, mode: 'lrt', batchSize: 2 }));
      const got = value as unknown as Stats;
      for (const k of Object.keys(ref)) {
        for (let i = 0; i < ref[k].length; i++) expect(Math.abs(got[k][i] - ref[k][i]), `${k}[${i}] sparseBelow ${sparseBelow}`).toBeLessThan(2e-5 * (1 + Math.abs(ref[k][i])));
      }
      // Three batches (2, 2, 1 samples), four Bayesian steps each; no step-by-step LRT kernel.
      expect(calls.lrt_draw_f32).toBe(12);
      expect(calls.lrt_sample_f32 ?? 0).toBe(0);
      // The one-sample batch's first products (mean and variance) by the batch-1 kernels that skip
      // zero inputs: by columns, or over a dense copy when at least 1/16 of the weights are kept.
      expect((calls.spmv_f32_csc ?? 0) + (calls.gemv_f32_skip_zeros ?? 0)).toBe(2);
      expect(calls.lrt_spmm_f32_csr).toBe(11);
      expect(Math.min(...got.mutualInformation)).toBeGreaterThan(1e-4);
      sm.dispose();
    }
    m.dispose();
  });

  it('the same bits for batch sizes 1, 3 and all, with and without compaction, after a save/load; seeds and samples matter', () => {
    const m = eligible();
    const n = 7, x = data(n, 4);
    for (const opts of [{ dropUnits: false }, {}]) {
      const sm = prune(m, { uncertainty: true, ...opts });
      const ref = sm.predictMC(x, { samples: 9, seed: 2, mode: 'lrt' }) as unknown as Stats;
      for (const batchSize of [1, 3, n]) expect(statBits(sm.predictMC(x, { samples: 9, seed: 2, mode: 'lrt', batchSize }) as unknown as Stats)).toEqual(statBits(ref));
      const back = SparseModel.load(sm.save(), { runtime: rt });
      expect(statBits(back.predictMC(x, { samples: 9, seed: 2, mode: 'lrt', batchSize: 2 }) as unknown as Stats)).toEqual(statBits(ref));
      expect(bits(sm.predictMC(x, { samples: 9, seed: 3, mode: 'lrt' }).mean)).not.toEqual(bits(ref.mean));
      // A sample's noise is keyed by its index in the call.
      expect(bits(sm.predictMC(x.subarray(10), { samples: 9, seed: 2, mode: 'lrt' }).mean)).not.toEqual(bits(ref.mean.subarray(4)));
      back.dispose();
      sm.dispose();
    }
    m.dispose();
  });

  it('structured compaction changes no draw: the same bits with and without it (noise keyed by the training units)', () => {
    const m = eligible();
    // Hidden units 3 and 7 of the first layer lose every outgoing weight (log α 5 > threshold −1
    // in the variational dropout layer reading them): compaction removes them.
    const la = m.layers[2].params().find((p) => p.name.endsWith('/logAlpha'))!;
    const a = la.value.toArray();
    for (const k of [3, 7]) for (let u = 0; u < 12; u++) a[k * 12 + u] = 5;
    la.value.set(a);
    const full = prune(m, { uncertainty: true, dropUnits: false }), compact = prune(m, { uncertainty: true });
    expect(compact.summary()[0].outputShape).toEqual([14]);
    expect(full.summary()[0].outputShape).toEqual([16]);
    const n = 5, x = data(n, 6);
    for (const batchSize of [1, n]) {
      const opts = { samples: 8, seed: 4, mode: 'lrt' as const, batchSize };
      const r = statBits(compact.predictMC(x, opts) as unknown as Stats);
      expect(r).toEqual(statBits(full.predictMC(x, opts) as unknown as Stats));
    }
    full.dispose();
    compact.dispose();
    m.dispose();
  });

  it('converges to the weight-sampling statistics (S = 3000, fixed seeds: within 4.5 standard errors)', () => {
    const m = eligible();
    const sm = prune(m, { uncertainty: true });
    const x = data(3, 9), S = 3000;
    const w = sm.predictMC(x, { samples: S, seed: 3 }), l = sm.predictMC(x, { samples: S, seed: 4, mode: 'lrt' });
    const se = (range: number) => Math.SQRT2 * 0.5 * range / Math.sqrt(S);
    const diff = (a: Float32Array, b: Float32Array) => a.reduce((mx, v, i) => Math.max(mx, Math.abs(v - b[i])), 0);
    expect(diff(l.mean, w.mean)).toBeLessThan(4.5 * se(1));
    expect(diff(l.expectedEntropy, w.expectedEntropy)).toBeLessThan(4.5 * se(Math.log(4)));
    sm.dispose();
    m.dispose();
  });

  it('a layer of more than 65536 inputs (two spmm in place of the fused product): several samples per batch = one at a time', () => {
    const K = 65537;
    const m = new Sequential({ inputShape: [K], seed: 2, runtime: rt, layers: [new SparseVDDense({ units: 2 }), new ReLU(), new SparseVDDense({ units: 3 })] });
    randomize(m, 4);
    const sm = prune(m, { uncertainty: true, dropUnits: false });
    const x = randomArray(3 * K, lcg(8), -1, 1);
    const ref = sm.predictMC(x, { samples: 4, seed: 5, mode: 'lrt', batchSize: 1 }) as unknown as Stats;
    expect(ref.mean.every(Number.isFinite)).toBe(true);
    expect(statBits(sm.predictMC(x, { samples: 4, seed: 5, mode: 'lrt' }) as unknown as Stats)).toEqual(statBits(ref));
    sm.dispose();
    m.dispose();
  });

  it('regression through the fused kernels: the same bits for any batch size; an overflow is a NonFiniteError naming the output', () => {
    const m = eligible(3);
    const sm = prune(m, { uncertainty: true });
    const x = data(6, 1);
    const ref = sm.predictMC(x, { samples: 5, seed: 1, loss: 'mse', mode: 'lrt' }) as unknown as Stats;
    expect(statBits(sm.predictMC(x, { samples: 5, seed: 1, loss: 'mse', mode: 'lrt', batchSize: 4 }) as unknown as Stats)).toEqual(statBits(ref));
    expect(ref.epistemicVariance.every((v) => v > 0)).toBe(true);
    sm.dispose();
    // Finite inputs whose squares leave the float32 range: the first draw's spread is infinite.
    const big = new Sequential({ inputShape: [10], seed: 1, runtime: rt, layers: [new SparseVDDense({ units: 8 }), new ReLU(), new SparseVDDense({ units: 3 })] });
    randomize(big, 2);
    const bsm = prune(big, { uncertainty: true });
    const huge = new Float32Array(20).fill(1e30);
    expect(() => bsm.predictMC(huge, { samples: 4, mode: 'lrt' })).toThrow(NonFiniteError);
    expect(() => bsm.predictMC(huge, { samples: 4, mode: 'lrt' })).toThrow(/output/);
    expect(bsm.predictMC(data(2, 3), { samples: 4, mode: 'lrt' }).mean.every(Number.isFinite)).toBe(true);
    // A value of x that is not finite: the input's NonFiniteError; the model stays usable.
    const nan = data(5, 3);
    nan[43] = NaN;
    for (const batchSize of [1, 5]) {
      let err: unknown;
      try {
        bsm.predictMC(nan, { samples: 4, mode: 'lrt', batchSize });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NonFiniteError);
      expect((err as NonFiniteError).argument).toBe('x');
    }
    expect(bits(bsm.predictMC(data(2, 3), { samples: 4, mode: 'lrt' }).mean)).toEqual(bits(bsm.predictMC(data(2, 3), { samples: 4, mode: 'lrt', batchSize: 1 }).mean));
    bsm.dispose();
    big.dispose();
    m.dispose();
  });
});

describe('vardrop/infer-mc gives the full bundle\'s bits through the fused kernels', () => {
  it('one file, both bundles, batch 1 and 3', async () => {
    const base = typeof window === 'undefined' ? new URL('../dist/', import.meta.url).href : new URL('/dist/', location.origin).href;
    const full: typeof import('../src/index.js') = await import(/* @vite-ignore */ `${base}index.js`);
    const inferMc: typeof import('../src/infer-mc.js') = await import(/* @vite-ignore */ `${base}infer-mc.js`);
    const m = eligible();
    const bytes = prune(m, { uncertainty: true }).save();
    const a = full.SparseModel.load(bytes), b = inferMc.load(bytes);
    const x = data(4, 8);
    for (const batchSize of [1, 3]) {
      const ra = a.predictMC(x, { samples: 30, seed: 5, mode: 'lrt', batchSize }) as unknown as Stats;
      expect(statBits(b.predictMC(x, { samples: 30, seed: 5, mode: 'lrt', batchSize }) as unknown as Stats)).toEqual(statBits(ra));
    }
    a.dispose();
    b.dispose();
    m.dispose();
  });
});

describe('LrtProgram.bind: the scratch of bound ops', () => {
  // A sparse convolution asks the runtime's workspace for im2col scratch; the shared workspace
  // may grow (and free the old block) before a replay, so binding such an op must fail loudly.
  const x = Tensor.from(randomArray(2 * 6 * 6 * 3, lcg(3), -1, 1), [2, 6, 6, 3], rt);
  const w = randomArray(3 * 3 * 3 * 4, lcg(4), -1, 1).map((v) => (Math.abs(v) < 0.5 ? 0 : v));
  const mat = SparseMatrix.fromCsr(csrFromWeights(w, 27, 4), rt);
  const g = { kernel: [3, 3] as [number, number], stride: [1, 1] as [number, number], pad: [0, 0] as [number, number] };

  it('binding an op that asks for scratch throws; the runtime\'s workspace is back after', () => {
    const prog = new LrtProgram(rt);
    const y = Tensor.zeros([2, 4, 4, 4], rt);
    expect(() => prog.bind(() => sparseConv2d(x, mat, g, { out: y }))).toThrow(/scratch/);
    const ws = rt.workspace(64);
    expect(rt.workspace(64)).toBe(ws);
    // Ops without scratch (the scalar twin) bind as before.
    expect(() => prog.bind(() => sparseConv2d(x, mat, g, { out: y, scalar: true }))).not.toThrow();
    y.dispose();
  });
});
