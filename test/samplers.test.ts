import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../src/errors.js';
import { param, type ParamGroup } from '../src/layers/layer.js';
import { Dense } from '../src/layers/dense.js';
import { Sequential } from '../src/model.js';
import { Runtime } from '../src/runtime/runtime.js';
import { PSGLD, SGHMC, SGLD, Sampler, collectedSteps, sample, stepSizes } from '../src/samplers.js';
import { Tensor } from '../src/tensor.js';
import { mulberry32 } from './util/kernel.js';

// Statistical tests with fixed seeds: every number below is a deterministic function of the
// seeds, so the tests cannot flake; the tolerances are what the chain lengths give (Monte-Carlo
// error of a few hundred effective samples) plus the O(η) discretisation bias of each sampler.

const rt = Runtime.createSync();

/** Box–Muller normals from mulberry32 (test data only). */
function normals(n: number, seed: number): Float64Array {
  const u = mulberry32(seed), out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u())), t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

/** Inverse of a small symmetric positive-definite matrix (Gauss–Jordan, f64). */
function inverse(a: number[][]): number[][] {
  const n = a.length, m = a.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    const piv = m[c][c];
    for (let j = 0; j < 2 * n; j++) m[c][j] /= piv;
    for (let r = 0; r < n; r++) if (r !== c) {
      const f = m[r][c];
      for (let j = 0; j < 2 * n; j++) m[r][j] -= f * m[c][j];
    }
  }
  return m.map((r) => r.slice(n));
}

/** Sample mean and covariance of rows of `s` (each a D-vector). */
function moments(s: number[][]): { mean: number[]; cov: number[][] } {
  const D = s[0].length, n = s.length;
  const mean = Array.from({ length: D }, (_, d) => s.reduce((a, r) => a + r[d], 0) / n);
  const cov = mean.map((_, i) => mean.map((__, j) => s.reduce((a, r) => a + (r[i] - mean[i]) * (r[j] - mean[j]), 0) / (n - 1)));
  return { mean, cov };
}

/** Conjugate Bayesian linear regression y = Φθ + N(0, 1), Φ = [x1, x2, 1], prior N(0, 1/λ) per group. */
function blrProblem(N: number) {
  const z = normals(3 * N, 42);
  const X: number[][] = [], y: number[] = [];
  const wTrue = [1.5, -0.7], bTrue = 0.4;
  for (let i = 0; i < N; i++) {
    const x1 = z[3 * i], x2 = 0.5 * z[3 * i] + z[3 * i + 1];
    X.push([x1, x2, 1]);
    y.push(wTrue[0] * x1 + wTrue[1] * x2 + bTrue + z[3 * i + 2]);
  }
  const lamW = 2, lamB = 0.5;
  const A = [0, 1, 2].map((i) => [0, 1, 2].map((j) => X.reduce((a, r) => a + r[i] * r[j], 0) + (i === j ? (i < 2 ? lamW : lamB) : 0)));
  const cov = inverse(A);
  const b = [0, 1, 2].map((i) => X.reduce((a, r, k) => a + r[i] * y[k], 0));
  const mean = [0, 1, 2].map((i) => cov[i].reduce((a, c, j) => a + c * b[j], 0));
  return { X, y, N, lamW, lamB, mean, cov };
}

/**
 * Run `sampler` on the BLR posterior with the exact full-batch mean-loss gradient
 * g = (1/N)·Φᵀ(Φθ − y), through two parameter groups (w with precision lamW, b with lamB).
 */
function runBlr(sampler: Sampler, steps: number, burn: number, thin: number) {
  const P = blrProblem(40);
  const w: ParamGroup = param('lin/w', Tensor.zeros([2], rt)), b: ParamGroup = param('lin/b', Tensor.zeros([1], rt));
  const out: number[][] = [];
  for (let t = 0; t < steps; t++) {
    const th = [...w.value.view(), b.value.view()[0]];
    const g = [0, 0, 0];
    P.X.forEach((r, k) => {
      const res = r[0] * th[0] + r[1] * th[1] + r[2] * th[2] - P.y[k];
      for (let i = 0; i < 3; i++) g[i] += (res * r[i]) / P.N;
    });
    w.grad.set([g[0], g[1]]);
    b.grad.set([g[2]]);
    sampler.step([w, b]);
    if (t >= burn && (t - burn) % thin === 0) out.push([...w.value.view(), b.value.view()[0]]);
  }
  for (const p of [w, b]) {
    p.value.dispose();
    p.grad.dispose();
  }
  sampler.dispose();
  return { P, ...moments(out) };
}

function expectPosterior(r: ReturnType<typeof runBlr>, meanTol: number, covTol: number): void {
  for (let i = 0; i < 3; i++) {
    const sd = Math.sqrt(r.P.cov[i][i]);
    // Mean within meanTol posterior standard deviations.
    expect(Math.abs(r.mean[i] - r.P.mean[i]) / sd).toBeLessThan(meanTol);
    for (let j = 0; j < 3; j++) {
      // Covariance entries within covTol of the scale √(Σii·Σjj).
      expect(Math.abs(r.cov[i][j] - r.P.cov[i][j]) / Math.sqrt(r.P.cov[i][i] * r.P.cov[j][j])).toBeLessThan(covTol);
    }
  }
}

const prior = { 'lin/w': 2, 'lin/b': 0.5 };

describe('samplers on conjugate Bayesian linear regression (analytic posterior)', () => {
  it('SGLD recovers the posterior mean (within 0.15 sd) and covariance (within 0.15)', () => {
    // The posterior precision A has eigenvalues of about 22..63: η = 1.5e-3 keeps the O(η·λ/4)
    // variance bias near 2% and the slowest mode relaxes in ~60 steps, so 60k steps give ~500
    // effective samples (Monte-Carlo error ≈ 0.045 sd on the mean, ≈ 0.06 on the covariance).
    const r = runBlr(new SGLD({ stepSize: 1.5e-3, datasetSize: 40, priorPrecision: prior, seed: 1 }), 60000, 2000, 10);
    expectPosterior(r, 0.15, 0.15);
  });

  it('SGHMC recovers the posterior mean (within 0.15 sd) and covariance (within 0.15)', () => {
    // η = 1e-4 (ε = 0.01), friction 0.1: an O(η) bias of about 1%; 30k steps.
    const r = runBlr(new SGHMC({ stepSize: 1e-4, friction: 0.1, datasetSize: 40, priorPrecision: prior, seed: 2 }), 30000, 1000, 5);
    expectPosterior(r, 0.15, 0.15);
  });

  it('pSGLD recovers the posterior mean (within 0.15 sd) and covariance (within 0.2)', () => {
    // Full-batch gradients make the preconditioner nearly constant near the mode; Γ is neglected.
    const r = runBlr(new PSGLD({ stepSize: 2e-4, rho: 0.999, eps: 1e-2, datasetSize: 40, priorPrecision: prior, seed: 3 }), 30000, 2000, 5);
    expectPosterior(r, 0.15, 0.2);
  });
});

/** Kolmogorov–Smirnov statistic of samples `s` against the normal CDF N(m, v). */
function ksNormal(s: number[], m: number, v: number): number {
  const a = s.slice().sort((x, y) => x - y), n = a.length;
  const cdf = (x: number): number => 0.5 * (1 + erf((x - m) / Math.sqrt(2 * v)));
  let d = 0;
  a.forEach((x, i) => (d = Math.max(d, Math.abs(cdf(x) - i / n), Math.abs(cdf(x) - (i + 1) / n))));
  return d;
}

/** erf to 1.5e-7 (Abramowitz & Stegun 7.1.26). */
function erf(x: number): number {
  const s = Math.sign(x), t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return s * y;
}

/** Sample N(m, Σ) (2-D) with gradient ∇U = Σ⁻¹(θ − m): datasetSize 1, no prior. */
function gauss2d(sampler: Sampler, steps: number, burn: number, thin: number): number[][] {
  const m = [1, -2], S = [[1, 0.5], [0.5, 1]], Si = inverse(S);
  const th: ParamGroup = param('g/theta', Tensor.zeros([2], rt));
  const out: number[][] = [];
  for (let t = 0; t < steps; t++) {
    const v = th.value.view(), d = [v[0] - m[0], v[1] - m[1]];
    th.grad.set([Si[0][0] * d[0] + Si[0][1] * d[1], Si[1][0] * d[0] + Si[1][1] * d[1]]);
    sampler.step([th]);
    if (t >= burn && (t - burn) % thin === 0) out.push(Array.from(th.value.view()));
  }
  th.value.dispose();
  th.grad.dispose();
  sampler.dispose();
  return out;
}

describe('sampling a known 2-D Gaussian', () => {
  it('SGLD: mean, covariance and a KS test of the first marginal (D below the 1% critical value)', () => {
    // Σ⁻¹ has eigenvalues 2/3 and 2: η = 0.05 gives a variance bias of at most 2.5% and a
    // relaxation time of ~60 steps; thinning by 60 leaves nearly independent samples.
    const s = gauss2d(new SGLD({ stepSize: 0.05, datasetSize: 1, priorPrecision: 0, seed: 7 }), 62000, 2000, 60);
    const { mean, cov } = moments(s);
    expect(s.length).toBe(1000);
    expect(Math.abs(mean[0] - 1)).toBeLessThan(0.12);
    expect(Math.abs(mean[1] + 2)).toBeLessThan(0.12);
    expect(Math.abs(cov[0][0] - 1)).toBeLessThan(0.15);
    expect(Math.abs(cov[1][1] - 1)).toBeLessThan(0.15);
    expect(Math.abs(cov[0][1] - 0.5)).toBeLessThan(0.12);
    expect(ksNormal(s.map((r) => r[0]), 1, 1)).toBeLessThan(1.63 / Math.sqrt(s.length));
  });

  it('temperature T scales the sample variance by T (cold posterior T = 0.25)', () => {
    const hot = moments(gauss2d(new SGLD({ stepSize: 0.02, datasetSize: 1, priorPrecision: 0, seed: 8 }), 32000, 2000, 10));
    const cold = moments(gauss2d(new SGLD({ stepSize: 0.02, datasetSize: 1, priorPrecision: 0, temperature: 0.25, seed: 8 }), 32000, 2000, 10));
    for (let d = 0; d < 2; d++) {
      const ratio = cold.cov[d][d] / hot.cov[d][d];
      expect(ratio).toBeGreaterThan(0.25 * 0.85);
      expect(ratio).toBeLessThan(0.25 * 1.15);
    }
    // Temperature 0 is plain gradient descent: it converges to the mode.
    const zero = gauss2d(new SGLD({ stepSize: 0.05, datasetSize: 1, priorPrecision: 0, temperature: 0 }), 3000, 2999, 1)[0];
    expect(zero[0]).toBeCloseTo(1, 4);
    expect(zero[1]).toBeCloseTo(-2, 4);
  });

  it('the same seed gives the same chain bits; another seed another chain', () => {
    const a = gauss2d(new SGHMC({ stepSize: 1e-3, seed: 5, datasetSize: 1, priorPrecision: 0 }), 200, 0, 1);
    const b = gauss2d(new SGHMC({ stepSize: 1e-3, seed: 5, datasetSize: 1, priorPrecision: 0 }), 200, 0, 1);
    const c = gauss2d(new SGHMC({ stepSize: 1e-3, seed: 6, datasetSize: 1, priorPrecision: 0 }), 200, 0, 1);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });
});

describe('step-size schedules', () => {
  it('polynomial a·(b + t)^−γ and cyclical cosine cycles with exploration then sampling', () => {
    const p = stepSizes.polynomial({ a: 0.1, b: 10, gamma: 0.55 });
    expect(p.at(0, undefined)).toBeCloseTo(0.1 * 10 ** -0.55, 12);
    expect(p.at(90, undefined)).toBeCloseTo(0.1 * 100 ** -0.55, 12);
    const c = stepSizes.cyclical({ initial: 0.2, cycles: 4, exploration: 0.75 });
    // 40 steps, 4 cycles of 10: η restarts at 0.2 at each cycle start, samples in the last quarter.
    expect(c.at(0, 40)).toBeCloseTo(0.2, 12);
    expect(c.at(10, 40)).toBeCloseTo(0.2, 12);
    expect(c.at(5, 40)).toBeCloseTo(0.1, 12);
    expect([6, 7, 8, 9].map((t) => c.sampling(t, 40))).toEqual([false, false, true, true]);
    expect(collectedSteps(40, 0, 1, c)).toEqual([9, 10, 19, 20, 29, 30, 39, 40]);
    expect(() => c.at(0, undefined)).toThrow(ArgumentError);
  });

  it('cyclical exploration steps draw no noise: with a flat potential only sampling steps move', () => {
    const s = new SGLD({ stepSize: stepSizes.cyclical({ initial: 0.1, cycles: 2, exploration: 0.5 }), datasetSize: 1, priorPrecision: 0 });
    s.totalSteps = 8;
    const th: ParamGroup = param('t/x', Tensor.zeros([4], rt));
    const moved: boolean[] = [];
    for (let t = 0; t < 8; t++) {
      const before = th.value.toArray();
      s.step([th]);
      moved.push(th.value.toArray().some((v, i) => v !== before[i]));
    }
    expect(moved).toEqual([false, false, true, true, false, false, true, true]);
    th.value.dispose();
    th.grad.dispose();
    s.dispose();
  });
});

describe('sample(): a sampler through fit on a model', () => {
  const P = blrProblem(40);
  const x = new Float32Array(P.X.flatMap((r) => [r[0], r[1]])), y = new Float32Array(P.y);
  const model = () => new Sequential({ inputShape: [2], layers: [new Dense({ units: 1 })], seed: 3, runtime: rt });

  it('burn-in and thinning counts; mini-batch SGLD on Dense(1) recovers the BLR posterior mean', () => {
    const m = model();
    const names = m.params().map((p) => p.name);
    const sampler = new SGLD({ stepSize: 1.5e-3, priorPrecision: { [names[0]]: 2, [names[1]]: 0.5 }, seed: 11 });
    // 40 samples, batches of 10: 4 steps an epoch; 3000 epochs = 12000 steps.
    const r = sample(m, x, y, { sampler, epochs: 3000, batchSize: 10, burnIn: 2000, thin: 25, loss: 'mse', progress: false, ensemble: { task: 'regression', likelihood: 'mse' } });
    expect(r.steps).toBe(12000);
    expect(r.ensemble.size).toBe((12000 - 2000) / 25);
    expect(sampler.datasetSize).toBe(40);
    const snaps = Array.from({ length: r.ensemble.size }, (_, k) => Array.from(r.ensemble.snapshot(k)));
    const mo = moments(snaps);
    for (let i = 0; i < 3; i++) expect(Math.abs(mo.mean[i] - P.mean[i]) / Math.sqrt(P.cov[i][i])).toBeLessThan(0.25);
    // Mini-batch gradient noise inflates the variance by O(η·N²/M); it stays within 40%.
    for (let i = 0; i < 3; i++) expect(Math.abs(mo.cov[i][i] / P.cov[i][i] - 1)).toBeLessThan(0.4);
    r.ensemble.dispose();
    m.dispose();
  });

  it('bad options throw typed errors before anything runs', () => {
    const m = model();
    const before = m.params().map((p) => p.value.toArray());
    const base = { epochs: 2, batchSize: 10, loss: 'mse' as const, progress: false };
    expect(() => new SGLD({ stepSize: -0.1 })).toThrow(ArgumentError);
    expect(() => new SGHMC({ stepSize: 0 })).toThrow(/stepSize/);
    expect(() => new SGLD({ priorPrecision: NaN })).toThrow(/priorPrecision/);
    expect(() => new SGLD({ priorPrecision: { a: NaN } })).toThrow(/priorPrecision\.a/);
    expect(() => new SGLD({ temperature: -1 })).toThrow(/temperature/);
    expect(() => sample(m, x, y, { ...base, sampler: new SGLD(), burnIn: 8 })).toThrow(/burnIn/);
    expect(() => sample(m, x, y, { ...base, sampler: new SGLD(), burnIn: 2, thin: 7 })).toThrow(/thin/);
    expect(() => sample(m, x, y, { ...base, sampler: new SGLD({ priorPrecision: () => NaN }) })).toThrow(/priorPrecision/);
    expect(() => sample(m, x, y, { ...base, sampler: new SGLD({ stepSize: stepSizes.cyclical({ initial: 0.1, cycles: 9 }) }) })).toThrow(/cycles/);
    m.params().forEach((p, i) => expect(Array.from(p.value.toArray())).toEqual(Array.from(before[i])));
    m.dispose();
  });
});
