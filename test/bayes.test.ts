import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { klLogUniform, lrtBackward, lrtInputGrad, lrtSample, svdKl, svdLogAlpha, svdParamGrads, svdPrepare, vdMask, vdParamGrads, vdPrepare } from '../src/ops/bayes.js';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { lcg, randomArray } from './util/kernel.js';

const rt = Runtime.createSync();
const R = { lo: -8, hi: 8 };

/**
 * E_{ε~N(0,1)} log|1 + √α·ε| by the midpoint rule on a fine grid over ±12σ. The log
 * singularity at ε = −1/√α is integrable; the grid is offset so no node lands on it.
 */
function expectedLogAbs(alpha: number): number {
  const s = Math.sqrt(alpha);
  const N = 400_000, a = -12, b = 12, dx = (b - a) / N;
  let sum = 0;
  for (let i = 0; i < N; i++) {
    const e = a + (i + 0.5 + 1e-3) * dx;
    sum += Math.exp(-0.5 * e * e) * Math.log(Math.abs(1 + s * e));
  }
  return (sum * dx) / Math.sqrt(2 * Math.PI);
}

describe('KL of the log-uniform prior', () => {
  it('matches the exact KL (a numerical integral) up to its constant within the approximation error', () => {
    // Exact: KL(α) = C − ½ log α + E log|1 + √α ε|. The approximation fixes C so KL → 0 as α → ∞.
    const diffs: number[] = [];
    for (let la = -6; la <= 6; la += 0.5) {
      const exact = -0.5 * la + expectedLogAbs(Math.exp(la));
      diffs.push(rt.k.kl_log_uniform_scalar(la) - exact);
    }
    const mean = diffs.reduce((s, d) => s + d, 0) / diffs.length;
    const spread = Math.max(...diffs.map((d) => Math.abs(d - mean)));
    // Molchanov et al. report the approximation within ~0.01 nats of the truth.
    expect(spread).toBeLessThan(0.012);
    // ...and C is the one that makes KL vanish for α → ∞: C = −E log|ε| = (γ + log 2)/2.
    expect(Math.abs(mean - (0.5772156649 + Math.log(2)) / 2)).toBeLessThan(0.012);
  });

  it('is positive, decreasing in log α, and its derivative matches finite differences', () => {
    let prev = Infinity;
    for (let la = -8; la <= 8; la += 0.25) {
      const k = rt.k.kl_log_uniform_scalar(la);
      expect(k).toBeGreaterThan(0);
      expect(k).toBeLessThan(prev);
      prev = k;
      const h = 1e-2;
      const num = (rt.k.kl_log_uniform_scalar(la + h) - rt.k.kl_log_uniform_scalar(la - h)) / (2 * h);
      expect(Math.abs(rt.k.dkl_log_uniform_scalar(la) - num)).toBeLessThan(2e-3 * Math.max(1, Math.abs(num)));
    }
  });

  it('svd_kl sums the per-weight KL and its θ/logσ² gradients match finite differences', () => {
    const rnd = lcg(3);
    for (const n of [1, 3, 4, 5, 17]) {
      const th = Tensor.from(randomArray(n, rnd, -1, 1), [n], rt);
      const ls = Tensor.from(randomArray(n, rnd, -6, 0), [n], rt);
      const gT = Tensor.zeros([n], rt), gS = Tensor.zeros([n], rt);
      const laT = svdLogAlpha(th, ls, Tensor.zeros([n], rt), R);
      const kl = svdKl(th, laT, R, { theta: gT, logSigma2: gS, scale: 1 });
      const la = laT.toArray();
      let ref = 0;
      for (let i = 0; i < n; i++) ref += rt.k.kl_log_uniform_scalar(la[i]);
      expect(kl).toBeCloseTo(ref, 4);
      const f = (): number => svdKl(th, svdLogAlpha(th, ls, Tensor.zeros([n], rt), R), R);
      for (const [t, g] of [[th, gT], [ls, gS]] as const) {
        for (let i = 0; i < n; i++) {
          const v = t.view(), old = v[i], h = 1e-3;
          v[i] = old + h; const fp = f();
          t.view()[i] = old - h; const fm = f();
          t.view()[i] = old;
          expect(g.view()[i]).toBeCloseTo((fp - fm) / (2 * h), 2);
        }
      }
    }
  });

  it('svd_kl without the value gives the same gradients and returns 0', () => {
    const rnd = lcg(4);
    const n = 23;
    const th = Tensor.from(randomArray(n, rnd, -1, 1), [n], rt);
    const la = svdLogAlpha(th, Tensor.from(randomArray(n, rnd, -9, 2), [n], rt), Tensor.zeros([n], rt), R);
    const g1 = { theta: Tensor.zeros([n], rt), logSigma2: Tensor.zeros([n], rt), scale: 0.3 };
    const g2 = { theta: Tensor.zeros([n], rt), logSigma2: Tensor.zeros([n], rt), scale: 0.3 };
    expect(svdKl(th, la, R, g1)).toBeGreaterThan(0);
    expect(svdKl(th, la, R, g2, false)).toBe(0);
    expect(Array.from(g2.theta.view())).toEqual(Array.from(g1.theta.view()));
    expect(Array.from(g2.logSigma2.view())).toEqual(Array.from(g1.logSigma2.view()));
    expect(svdKl(th, la, R)).toBeCloseTo(svdKl(th, la, R, g1), 6);
  });

  it('svd_prepare with klGrads adds the same KL gradients as svd_kl, over odd tails and the clamps', () => {
    const rnd = lcg(12);
    for (const n of [1, 3, 4, 7, 8, 33]) {
      const thA = randomArray(n, rnd, -1, 1), lsA = randomArray(n, rnd, -12, 3);
      thA[0] = 1e-6; // log α clamped at hi: zero gradient
      if (n > 1) lsA[1] = -30; // clamped at lo
      const th = Tensor.from(thA, [n], rt), ls = Tensor.from(lsA, [n], rt);
      const M = Tensor.zeros([n], rt), S = Tensor.zeros([n], rt), la = Tensor.zeros([n], rt);
      const fused = { theta: Tensor.from(new Array(n).fill(0.25), [n], rt), logSigma2: Tensor.from(new Array(n).fill(-0.5), [n], rt), scale: 0.7 };
      const kept = svdPrepare(th, ls, M, S, la, 3, R, fused);
      const M2 = Tensor.zeros([n], rt), S2 = Tensor.zeros([n], rt), la2 = Tensor.zeros([n], rt);
      expect(svdPrepare(th, ls, M2, S2, la2, 3, R)).toBe(kept);
      expect(Array.from(la.view())).toEqual(Array.from(la2.view()));
      expect(Array.from(S.view())).toEqual(Array.from(S2.view()));
      const ref = { theta: Tensor.from(new Array(n).fill(0.25), [n], rt), logSigma2: Tensor.from(new Array(n).fill(-0.5), [n], rt), scale: 0.7 };
      svdKl(th, la2, R, ref);
      for (let i = 0; i < n; i++) {
        expect(fused.logSigma2.view()[i]).toBeCloseTo(ref.logSigma2.view()[i], 5);
        const r = ref.theta.view()[i];
        expect(Math.abs(fused.theta.view()[i] - r)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(r)));
      }
      expect(fused.logSigma2.view()[0]).toBe(-0.5);
      if (n > 1) expect(fused.logSigma2.view()[1]).toBe(-0.5);
    }
    const t = Tensor.zeros([2], rt);
    expect(() => svdPrepare(t, t, t, null, t, 3, R, { theta: t, logSigma2: t, scale: 1 })).toThrow(ArgumentError);
    expect(() => svdPrepare(t, t, t, t, t, 3, R, { theta: Tensor.zeros([3], rt), logSigma2: t, scale: 1 })).toThrow(ShapeError);
  });

  it('clamps log α to [lo, hi] and gives zero gradient outside', () => {
    const th = Tensor.from([1e-6, 1, 0.5], [3], rt), ls = Tensor.from([0, -20, -1], [3], rt);
    const laT = svdLogAlpha(th, ls, Tensor.zeros([3], rt), R);
    const la = laT.toArray();
    expect(la[0]).toBe(8);
    expect(la[1]).toBe(-8);
    const gT = Tensor.zeros([3], rt), gS = Tensor.zeros([3], rt);
    svdKl(th, laT, R, { theta: gT, logSigma2: gS, scale: 1 });
    expect(gS.view()[0]).toBe(0);
    expect(gS.view()[1]).toBe(0);
    expect(gS.view()[2]).not.toBe(0);
  });

  it('kl_log_uniform weights each α by its multiplicity and scales its gradient', () => {
    const la = Tensor.from([-3, 0, 2], [3], rt), g = Tensor.zeros([3], rt);
    const kl = klLogUniform(la, 5, R, { logAlpha: g, scale: 0.5 });
    const ref = [-3, 0, 2].reduce((s, v) => s + 5 * rt.k.kl_log_uniform_scalar(v), 0);
    expect(kl).toBeCloseTo(ref, 4);
    expect(g.view()[1]).toBeCloseTo(2.5 * rt.k.dkl_log_uniform_scalar(0), 5);
  });
});

describe('Sparse VD and VD weight maps', () => {
  it('svd_prepare masks θ where log α ≥ threshold and gives σ² = exp(logσ²)', () => {
    const th = Tensor.from([1, 0.01, -2, 0.1, 0.5], [5], rt);
    const ls = Tensor.from([-10, -4, -1, -2, 0], [5], rt);
    const M = Tensor.zeros([5], rt), S = Tensor.zeros([5], rt), L = Tensor.zeros([5], rt);
    const kept = svdPrepare(th, ls, M, S, L, 3, R);
    L.view().forEach((la, i) => expect(la).toBeCloseTo(Math.min(8, Math.max(-8, ls.view()[i] - Math.log(th.view()[i] ** 2 + 1e-8))), 5));
    // log α = ls − log θ²: [−10, 5.2, −2.39, 2.6, 1.39]
    expect(Array.from(M.view())).toEqual([1, 0, -2, Math.fround(0.1), 0.5]);
    expect(kept).toBe(4);
    S.view().forEach((s, i) => expect(s).toBeCloseTo(Math.exp(ls.view()[i]), 6));
    expect(svdPrepare(th, ls, M, S, L, Infinity, R)).toBe(5);
  });

  it('svd_param_grads: dθ += dM only where kept, dlogσ² += dS·σ²', () => {
    const la = Tensor.from([-10, 5.2], [2], rt);
    const dM = Tensor.from([2, 3], [2], rt), dS = Tensor.from([4, 5], [2], rt), S = Tensor.from([0.5, 0.25], [2], rt);
    const dT = Tensor.from([1, 1], [2], rt), dL = Tensor.zeros([2], rt);
    svdParamGrads(la, dM, dS, S, dT, dL, 3);
    expect(Array.from(dT.view())).toEqual([3, 1]);
    expect(Array.from(dL.view())).toEqual([2, 1.25]);
  });

  it('vd_prepare, vd_param_grads and vdMask share α per layer, unit or weight', () => {
    const th = Tensor.from([1, 2, 3, 4, 5, 6], [3, 2], rt);
    for (const [mode, la] of [['layer', [0.5]], ['unit', [0.1, -0.2]], ['weight', [0, 0.1, 0.2, 0.3, 0.4, 0.5]]] as const) {
      const L = Tensor.from(la as unknown as number[], [la.length], rt);
      const S = Tensor.zeros([3, 2], rt);
      vdPrepare(th, L, 2, mode, S);
      const g = (i: number): number => (mode === 'layer' ? 0 : mode === 'unit' ? i % 2 : i);
      const M = Tensor.zeros([3, 2], rt);
      const kept = vdMask(th, L, 2, mode, 0.15, M);
      M.view().forEach((m, i) => expect(m).toBe(la[g(i)] < 0.15 ? i + 1 : 0));
      expect(kept).toBe(Array.from(M.view()).filter((m) => m !== 0).length);
      S.view().forEach((s, i) => expect(s).toBeCloseTo(Math.exp(la[g(i)]) * (i + 1) ** 2, 4));
      const dM = Tensor.from([1, 1, 1, 1, 1, 1], [3, 2], rt), dS = Tensor.from([1, 2, 3, 4, 5, 6], [3, 2], rt);
      const dT = Tensor.zeros([3, 2], rt), dL = Tensor.zeros([la.length], rt);
      vdParamGrads(th, L, 2, mode, dM, dS, dT, dL);
      const refL = new Array(la.length).fill(0);
      dT.view().forEach((d, i) => {
        const a = Math.exp(la[g(i)]), t = i + 1, ds = i + 1;
        expect(d).toBeCloseTo(1 + ds * 2 * a * t, 3);
        refL[g(i)] += ds * a * t * t;
      });
      dL.view().forEach((d, j) => expect(d).toBeCloseTo(refL[j], 2));
      expect(() => vdPrepare(th, Tensor.zeros([4], rt), 2, mode, S)).toThrow(ShapeError);
    }
  });
});

describe('fused LRT kernels', () => {
  it('lrt_sample = μ + sqrt(v + 1e-8)·ε + bias over odd tails, and without noise', () => {
    const rnd = lcg(9);
    for (const [rows, cols] of [[1, 1], [2, 3], [3, 4], [5, 7], [4, 9], [2, 17]]) {
      const n = rows * cols;
      const mu = Tensor.from(randomArray(n, rnd), [rows, cols], rt);
      const v = Tensor.from(randomArray(n, rnd, 0, 2), [rows, cols], rt);
      const eps = Tensor.from(randomArray(n, rnd), [rows, cols], rt);
      const b = Tensor.from(randomArray(cols, rnd), [cols], rt);
      const out = Tensor.zeros([rows, cols], rt), std = Tensor.zeros([rows, cols], rt);
      lrtSample(mu, v, eps, b, out, std);
      for (let i = 0; i < n; i++) {
        const s = Math.fround(Math.sqrt(Math.fround(v.view()[i] + 1e-8)));
        expect(std.view()[i]).toBe(s);
        expect(out.view()[i]).toBeCloseTo(mu.view()[i] + s * eps.view()[i] + b.view()[i % cols], 5);
      }
      lrtSample(mu, v, undefined, undefined, out, std);
      expect(Array.from(out.view())).toEqual(Array.from(mu.view()));
      const dv = Tensor.zeros([rows, cols], rt);
      lrtBackward(eps, eps, std, dv);
      for (let i = 0; i < n; i++) expect(dv.view()[i]).toBeCloseTo((eps.view()[i] ** 2) / (2 * std.view()[i]), 4);
      const dx = Tensor.from(new Float32Array(n).fill(1), [rows, cols], rt);
      lrtInputGrad(mu, v, dx);
      for (let i = 0; i < n; i++) expect(dx.view()[i]).toBeCloseTo(1 + 2 * mu.view()[i] * v.view()[i], 5);
    }
  });

  it('rejects mismatched sizes with ShapeError and stays usable', () => {
    const a = Tensor.zeros([2, 3], rt), b = Tensor.zeros([3, 2], rt), c = Tensor.zeros([5], rt);
    expect(() => lrtSample(a, c, undefined, undefined, a, a)).toThrow(ShapeError);
    expect(() => lrtSample(a, a, undefined, c, a, a)).toThrow(ShapeError);
    expect(() => lrtBackward(a, c, a, a)).toThrow(ShapeError);
    lrtSample(a, b, undefined, undefined, a, Tensor.zeros([6], rt));
  });
});
