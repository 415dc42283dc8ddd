import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { NonFiniteError } from '../src/errors.js';
import { SparseModel } from '../src/inference/model.js';
import { csrFromWeights } from '../src/ops/spmm.js';
import { PLAN_KERNELS } from '../src/ops/plan.js';
import type { StepSpec } from '../src/inference/steps.js';

// Compiled passes (src/ops/plan.ts, assembly/plan.ts): a SparseModel's predict records its
// forward once per batch size and then replays it in one wasm call, with the step-by-step
// forward's bits.

let seed = 1;
function rnd(n: number, zero = 0): Float32Array {
  return Float32Array.from({ length: n }, () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const u = seed / 2 ** 32;
    return u < zero ? 0 : ((u - zero) / (1 - zero) - 0.5) * 2;
  });
}

/** Every step kind a plan holds, over an [8, 8, 2] input. */
function specs(): StepSpec[] {
  return [
    { kind: 'conv', filters: 4, geometry: { kernel: [3, 3], stride: [1, 1], pad: [1, 1] }, weights: rnd(72), bias: rnd(4) },
    { kind: 'batchNorm', gamma: rnd(4), beta: rnd(4), mean: rnd(4), variance: rnd(4).map(Math.abs), eps: 1e-3 },
    { kind: 'activation', activation: 'elu', alpha: 0.7 },
    { kind: 'maxPool', size: [2, 2], stride: [2, 2], pad: [0, 0] },
    { kind: 'sparseConv', filters: 5, geometry: { kernel: [2, 2], stride: [1, 1], pad: [0, 0] }, csr: csrFromWeights(rnd(80, 0.6), 16, 5), bias: rnd(5) },
    { kind: 'activation', activation: 'sigmoid' },
    { kind: 'avgPool', size: [2, 2], stride: [1, 1], pad: [0, 0] },
    { kind: 'flatten' },
    { kind: 'sparse', inputs: 20, units: 30, csr: csrFromWeights(rnd(600, 0.7), 20, 30), bias: rnd(30) },
    { kind: 'activation', activation: 'leakyRelu', alpha: 0.1 },
    { kind: 'sparse', inputs: 30, units: 12, csr: csrFromWeights(rnd(360, 0.8), 30, 12), bias: null },
    { kind: 'activation', activation: 'tanh' },
    { kind: 'dense', inputs: 12, units: 9, weights: rnd(108), bias: rnd(9) },
    { kind: 'activation', activation: 'relu' },
    { kind: 'sparse', inputs: 9, units: 7, csr: csrFromWeights(rnd(63, 0.5), 9, 7), bias: rnd(7) },
    { kind: 'softmax' },
  ];
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** The step-by-step forward of x, batch by batch (SparseModel.forward is never planned). */
function stepwise(m: SparseModel, x: Float32Array, batch: number): number[] {
  const per = 128, out: number[] = [];
  for (let s = 0; s < x.length / per; s += batch) {
    const c = Math.min(batch, x.length / per - s);
    const t = Tensor.from(x.subarray(s * per, (s + c) * per), [c, 8, 8, 2], m.rt);
    out.push(...bits(m.forward(t).view()));
    t.dispose();
  }
  return out;
}

/** The step-by-step forward of x [n, per] one sample at a time (any input shape [per]). */
function stepwiseDense(m: SparseModel, x: Float32Array, per: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < x.length / per; s++) {
    const t = Tensor.from(x.subarray(s * per, (s + 1) * per), [1, per], m.rt);
    out.push(...bits(m.forward(t).view()));
    t.dispose();
  }
  return out;
}

/** Kernel calls `fn` makes on `rt` (counted through a wrapper of its exports). */
function kernelCalls(rt: Runtime, fn: () => void): string[] {
  const real = rt.k as unknown as Record<string, unknown>;
  const calls: string[] = [];
  const owner = rt as unknown as { k: unknown };
  owner.k = Object.fromEntries(Object.entries(real).map(([name, f]) => [name,
    typeof f === 'function' ? (...a: number[]) => (calls.push(name), (f as (...b: number[]) => unknown)(...a)) : f]));
  try {
    fn();
  } finally {
    owner.k = real;
  }
  return calls;
}

describe('compiled inference passes', () => {
  it('give the step-by-step bits at batch 1 and at larger batches, first call and replays, across batch sizes', () => {
    const rt = Runtime.createSync();
    rt.workspace(1 << 20); // the runtime's shared scratch, grown once here (it is never freed)
    const base = rt.heap.liveBlocks;
    const m = SparseModel.fromSteps([8, 8, 2], specs(), { runtime: rt });
    const x = rnd(13 * 128);
    for (const batch of [1, 5, 13, 1, 4, 6, 5, 1]) {
      const want = stepwise(m, x, batch);
      for (let rep = 0; rep < 2; rep++) expect(bits(m.predict(x, { batchSize: batch })), `batch ${batch}`).toEqual(want);
    }
    // predictClasses and predictProba run on the compiled pass too.
    const y = m.predict(x), cls = Array.from(m.predictClasses(x));
    expect(cls).toEqual(Array.from({ length: 13 }, (_, r) => { const row = Array.from(y.subarray(r * 7, r * 7 + 7)); return row.indexOf(Math.max(...row)); }));
    expect(m.predictProba(x, { batchSize: 5 }).length).toBe(13 * 7);
    m.dispose();
    expect(rt.heap.liveBlocks).toBe(base);
  });

  it('cost one wasm call per prediction once compiled', () => {
    const rt = Runtime.createSync();
    const m = SparseModel.fromSteps([8, 8, 2], specs(), { runtime: rt });
    const x1 = rnd(128);
    const first = kernelCalls(rt, () => m.predict(x1));
    expect(first.length).toBeGreaterThan(20);
    expect(kernelCalls(rt, () => m.predict(x1))).toEqual(['plan_run']);
    expect(kernelCalls(rt, () => m.predict(rnd(3 * 128), { batchSize: 3 })).length).toBeGreaterThan(20);
    expect(kernelCalls(rt, () => m.predict(rnd(3 * 128), { batchSize: 3 }))).toEqual(['plan_run']);
    expect(kernelCalls(rt, () => m.predict(x1))).toEqual(['plan_run']);
    // Every kernel of the table is a wasm export taking that many arguments.
    const k = rt.k as unknown as Record<string, (...a: number[]) => unknown>;
    for (const [name, sig] of PLAN_KERNELS) expect(k[name].length, name).toBe(sig.length);
    m.dispose();
  });

  it('replay with the same bits after wasm memory grew (the kept input and output views are made again)', () => {
    const rt = Runtime.createSync();
    const m = SparseModel.fromSteps([8, 8, 2], specs(), { runtime: rt });
    const x = rnd(128);
    const want = bits(m.predict(x));
    const bytes = rt.memory.buffer.byteLength;
    const big = Tensor.zeros([bytes / 4 + 1], rt); // more than the whole memory: it must grow
    expect(rt.memory.buffer.byteLength).toBeGreaterThan(bytes);
    expect(kernelCalls(rt, () => expect(bits(m.predict(x))).toEqual(want))).toEqual(['plan_run']);
    big.dispose();
    m.dispose();
  });

  it('report input and step overflows as the step-by-step pass does, and stay usable', () => {
    const rt = Runtime.createSync();
    const s: StepSpec[] = [
      { kind: 'sparse', inputs: 4, units: 6, csr: csrFromWeights(rnd(24), 4, 6), bias: rnd(6) },
      { kind: 'activation', activation: 'relu' },
      { kind: 'dense', inputs: 6, units: 3, weights: new Float32Array(18).fill(1e30), bias: null },
      { kind: 'activation', activation: 'tanh' },
    ];
    const m = SparseModel.fromSteps([4], s, { runtime: rt });
    const x = rnd(3 * 4).map((v) => Math.abs(v) * 1e-32);
    const ok = m.predict(x, { batchSize: 1 });
    m.predict(x, { batchSize: 1 }); // compiled and replayed
    const nan = x.slice();
    nan[4 + 1] = NaN;
    expect(() => m.predict(nan, { batchSize: 1 })).toThrow(/^x: expected finite values, got NaN at index 5/);
    // A finite input whose dense step overflows: the step is named, with its sample.
    const big = x.slice();
    big.fill(1e20, 8, 12);
    expect(() => m.predict(big, { batchSize: 1 })).toThrow(NonFiniteError);
    expect(() => m.predict(big, { batchSize: 1 })).toThrow(/steps\[2\] \(dense\) output.*sample 2/);
    expect(bits(m.predict(x, { batchSize: 1 }))).toEqual(bits(ok));
    m.dispose();
  });

  it('fall back to the step-by-step pass where shapes depend on the data (live columns), with the same bits; batch 1 skips zero inputs in its kernel and replays', () => {
    const rt = Runtime.createSync();
    const w = rnd(400 * 6);
    const m = SparseModel.fromSteps([400], [{ kind: 'dense', inputs: 400, units: 6, weights: w, bias: null, liveColumns: true }, { kind: 'activation', activation: 'relu' }], { runtime: rt });
    const x = rnd(3 * 400).map((v, i) => (i % 400 < 100 ? 0 : v));
    const a = m.predict(x, { batchSize: 3 });
    expect(kernelCalls(rt, () => m.predict(x, { batchSize: 3 }))).not.toContain('plan_run');
    expect(bits(m.predict(x, { batchSize: 3 }))).toEqual(bits(a));
    const a1 = m.predict(x, { batchSize: 1 });
    expect(kernelCalls(rt, () => m.predict(x, { batchSize: 1 }))).toEqual(['plan_run', 'plan_run', 'plan_run']);
    expect(bits(m.predict(x, { batchSize: 1 }))).toEqual(bits(a1));
    expect(bits(a1)).toEqual(stepwiseDense(m, x, 400));
    m.dispose();
    expect(rt.heap.liveBlocks).toBe(0);
  });
});
