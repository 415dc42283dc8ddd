import { describe, expect, it } from 'vitest';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { Tensor } from '../src/tensor.js';
import { batchNorm, batchNormBackward } from '../src/ops/batchnorm.js';
import { expectBits, expectClose, kernelRig, randArr } from './util/kernel.js';

const { rt, K, put, get } = kernelRig();
const CHANNELS = [1, 3, 4, 5, 7, 8, 9, 16, 17, 33];

/** f64 reference statistics per channel: mean, biased variance. */
function refStats(x: ArrayLike<number>, M: number, C: number): { mean: number[]; v: number[] } {
  const mean = new Array(C).fill(0), v = new Array(C).fill(0);
  for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) mean[c] += x[r * C + c] / M;
  for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) v[c] += (x[r * C + c] - mean[c]) ** 2 / M;
  return { mean, v };
}

describe('batchnorm kernels', () => {
  it('training forward: SIMD = scalar twin bit for bit ≈ f64 reference; running stats per PyTorch', () => {
    const eps = 1e-5, mom = 0.1;
    for (const M of [1, 2, 3, 9]) for (const C of CHANNELS) {
      // An offset mean of 100 checks the two-pass variance does not cancel catastrophically.
      const x = randArr(M * C, 99, 103, M * 31 + C);
      const gamma = randArr(C, 0.5, 2, C), beta = randArr(C, -1, 1, C + 1);
      const rm0 = randArr(C, -1, 1, 3), rv0 = randArr(C, 0.5, 2, 4);
      const out = ['', '_scalar'].map((suffix) => {
        const py = put(new Float32Array(M * C)), pm = put(new Float32Array(C)), pi = put(new Float32Array(C));
        const prm = put(rm0), prv = put(rv0), work = rt.allocF32(4 * C);
        K[`batchnorm_forward_train_f32${suffix}`](put(x), py, M, C, put(gamma), put(beta), pm, pi, prm, prv, mom, eps, work);
        return { y: get(py, M * C), mean: get(pm, C), invstd: get(pi, C), rm: get(prm, C), rv: get(prv, C) };
      });
      for (const key of ['y', 'mean', 'invstd', 'rm', 'rv'] as const) expectBits(out[0][key], out[1][key]);
      const { mean, v } = refStats(x, M, C);
      expectClose(out[0].mean, mean, 1e-7);
      expectClose(out[0].invstd, v.map((s) => 1 / Math.sqrt(s + eps)), 1e-6);
      expectClose(out[0].rm, mean.map((m, c) => 0.9 * rm0[c] + 0.1 * m), 1e-6);
      expectClose(out[0].rv, v.map((s, c) => 0.9 * rv0[c] + 0.1 * s * (M > 1 ? M / (M - 1) : 1)), 1e-6);
      // The rounding of x to f32 limits y to about 2e-5 at this offset; far from f32-level cancellation.
      expectClose(out[0].y, Array.from(x, (xv, i) => gamma[i % C] * (xv - mean[i % C]) / Math.sqrt(v[i % C] + eps) + beta[i % C]), 3e-4);
    }
  });

  it('inference forward: SIMD = scalar twin ≈ reference with running stats', () => {
    for (const M of [0, 1, 5]) for (const C of CHANNELS) {
      const x = randArr(M * C, -3, 3, M + C), gamma = randArr(C, 0.5, 2, 1), beta = randArr(C, -1, 1, 2);
      const rm = randArr(C, -1, 1, 3), rv = randArr(C, 0.1, 2, 4);
      const ys = ['', '_scalar'].map((suffix) => {
        const py = put(new Float32Array(M * C));
        K[`batchnorm_forward_infer_f32${suffix}`](put(x), py, M, C, put(gamma), put(beta), put(rm), put(rv), 1e-3, rt.allocF32(C));
        return get(py, M * C);
      });
      expectBits(ys[0], ys[1]);
      expectClose(ys[0], Array.from(x, (xv, i) => gamma[i % C] * (xv - rm[i % C]) / Math.sqrt(rv[i % C] + 1e-3) + beta[i % C]), 2e-6);
    }
  });

  it('backward: SIMD = scalar twin bit for bit ≈ standard formula, with accumulation', () => {
    for (const M of [1, 2, 7]) for (const C of CHANNELS) {
      const x = randArr(M * C, -2, 2, M * 7 + C), dy = randArr(M * C, -1, 1, C), gamma = randArr(C, 0.5, 2, 5);
      const { mean, v } = refStats(x, M, C);
      const invstd = v.map((s) => Math.fround(1 / Math.sqrt(s + 1e-3)));
      const meanF = mean.map(Math.fround);
      const dx0 = randArr(M * C, -1, 1, 9), dg0 = randArr(C, -1, 1, 10), db0 = randArr(C, -1, 1, 11);
      for (const acc of [0, 1]) {
        const res = ['', '_scalar'].map((suffix) => {
          const pdx = put(dx0), pdg = put(dg0), pdb = put(db0);
          K[`batchnorm_backward_f32${suffix}`](put(dy), put(x), put(meanF), put(invstd), put(gamma), pdx, pdg, pdb, M, C, acc, acc, rt.allocF32(4 * C));
          return { dx: get(pdx, M * C), dg: get(pdg, C), db: get(pdb, C) };
        });
        for (const key of ['dx', 'dg', 'db'] as const) expectBits(res[0][key], res[1][key]);
        const xh = Array.from(x, (xv, i) => (xv - meanF[i % C]) * invstd[i % C]);
        const db = new Array(C).fill(0), dg = new Array(C).fill(0);
        for (let i = 0; i < M * C; i++) { db[i % C] += dy[i]; dg[i % C] += dy[i] * xh[i]; }
        const refDx = Array.from(dy, (g, i) => (acc ? dx0[i] : 0) + gamma[i % C] * invstd[i % C] * (g - db[i % C] / M - xh[i] * dg[i % C] / M));
        expectClose(res[0].dx, refDx, 1e-5);
        expectClose(res[0].db, db.map((s, c) => (acc ? db0[c] : 0) + s), 1e-6);
        expectClose(res[0].dg, dg.map((s, c) => (acc ? dg0[c] : 0) + s), 1e-6);
      }
    }
  });
});

describe('batchnorm ops', () => {
  it('backward matches finite differences of L = Σ w·y for x, γ and β (NHWC input)', () => {
    const shape = [2, 2, 3, 5], C = 5, n = 60, h = 1e-2;
    const x = randArr(n, -2, 2, 1), w = randArr(n, -1, 1, 2);
    const gamma = randArr(C, 0.5, 1.5, 3), beta = randArr(C, -1, 1, 4);
    const loss = (xv: Float32Array, gv: Float32Array, bv: Float32Array): number => {
      const { y } = batchNorm(Tensor.from(xv, shape, rt), Tensor.from(gv, [C], rt), Tensor.from(bv, [C], rt), null, { training: true, eps: 1e-3 });
      return y.toArray().reduce((s, v, i) => s + v * w[i], 0);
    };
    const xt = Tensor.from(x, shape, rt), gt = Tensor.from(gamma, [C], rt);
    const { saved } = batchNorm(xt, gt, Tensor.from(beta, [C], rt), null, { training: true, eps: 1e-3 });
    const g = batchNormBackward(Tensor.from(w, shape, rt), xt, gt, saved!);
    const fd = (arr: Float32Array, i: number, f: (a: Float32Array) => number) => {
      const p = arr.slice(), m = arr.slice();
      p[i] += h; m[i] -= h;
      return (f(p) - f(m)) / (p[i] - m[i]);
    };
    const dx = g.dx.toArray(), dg = g.dGamma.toArray(), db = g.dBeta.toArray();
    for (let i = 0; i < n; i++) expect(Math.abs(dx[i] - fd(x, i, (a) => loss(a, gamma, beta)))).toBeLessThan(3e-3);
    for (let c = 0; c < C; c++) {
      expect(Math.abs(dg[c] - fd(gamma, c, (a) => loss(x, a, beta)))).toBeLessThan(3e-3);
      expect(Math.abs(db[c] - fd(beta, c, (a) => loss(x, gamma, a)))).toBeLessThan(3e-3);
    }
    // accumulate into given destinations
    batchNormBackward(Tensor.from(w, shape, rt), xt, gt, saved!, { dGamma: g.dGamma, dBeta: g.dBeta, accumulateParams: true, out: g.dx, accumulate: true });
    expectClose(g.dGamma.toArray(), Array.from(dg, (v) => 2 * v), 1e-6);
    expectClose(g.dx.toArray(), Array.from(dx, (v) => 2 * v), 1e-6);
  });

  it('training updates running stats; inference uses them', () => {
    const C = 3, x = Tensor.from([1, 2, 3, 3, 6, 9], [2, C], rt);
    const stats = { runningMean: Tensor.zeros([C], rt), runningVar: Tensor.from([1, 1, 1], [C], rt) };
    const ones = Tensor.from([1, 1, 1], [C], rt), zeros = Tensor.zeros([C], rt);
    const { y } = batchNorm(x, ones, zeros, stats, { training: true, momentum: 0.5, eps: 1e-5 });
    expectClose(y.toArray(), [-1, -1, -1, 1, 1, 1], 1e-4);
    expectClose(stats.runningMean.toArray(), [1, 2, 3], 1e-7);
    expectClose(stats.runningVar.toArray(), [1.5, 4.5, 9.5], 1e-6); // unbiased batch vars 2, 8, 18
    const r = batchNorm(x, ones, zeros, stats, { training: false, eps: 1e-5 });
    expect(r.saved).toBeNull();
    expectClose(r.y.toArray(), [0, 0, 0, 2 / Math.sqrt(1.5 + 1e-5), 4 / Math.sqrt(4.5 + 1e-5), 6 / Math.sqrt(9.5 + 1e-5)], 1e-6);
  });

  it('reject bad arguments with typed errors and stay usable', () => {
    const x = Tensor.from(randArr(8, -1, 1, 1), [4, 2], rt), g = Tensor.from([1, 1], [2], rt), b = Tensor.zeros([2], rt);
    expect(() => batchNorm(x, Tensor.zeros([3], rt), b, null, { training: true })).toThrow(ShapeError);
    expect(() => batchNorm(x, g, b, null, { training: false })).toThrow(ArgumentError);
    expect(() => batchNorm(x, g, b, null, { training: true, momentum: NaN })).toThrow(ArgumentError);
    expect(() => batchNorm(x, g, b, null, { training: true, eps: 0 })).toThrow(ArgumentError);
    expect(() => batchNorm(x, g, b, null, {} as { training: boolean })).toThrow(ArgumentError);
    expect(() => batchNorm(Tensor.zeros([1, 2], rt), g, b, null, { training: true })).toThrow(ShapeError);
    const { saved } = batchNorm(x, g, b, null, { training: true });
    expect(() => batchNormBackward(Tensor.zeros([2, 4], rt), x, g, saved!)).toThrow(ShapeError);
    expect(() => batchNormBackward(x, x, g, saved!, { accumulateParams: true })).toThrow(ArgumentError);
    expect(() => batchNormBackward(x, x, g, null as never)).toThrow(ArgumentError);
    const { y } = batchNorm(x, g, b, null, { training: true });
    const yv = y.toArray();
    expect(Math.abs(yv[0] + yv[2] + yv[4] + yv[6])).toBeLessThan(1e-5);
  });
});
