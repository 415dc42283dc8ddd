import { describe, expect, it } from 'vitest';
import { ArgumentError, ModelFormatError } from '../src/errors.js';
import { Ensemble } from '../src/ensemble.js';
import { ReLU } from '../src/layers/activation.js';
import { SparseVDDense } from '../src/layers/bayesian.js';
import { Dense } from '../src/layers/dense.js';
import { Dropout } from '../src/layers/dropout.js';
import { Sequential } from '../src/model.js';
import { Runtime } from '../src/runtime/runtime.js';
import { expectBits, randArr } from './util/kernel.js';

const rt = Runtime.createSync();
const n = 7, D = 5, C = 3;
const x = randArr(n * D, -2, 2, 1);
const net = (seed: number, out = C) => new Sequential({ inputShape: [D], seed, runtime: rt, layers: [new Dense({ units: 8 }), new ReLU(), new Dense({ units: out })] });

const entropy = (p: ArrayLike<number>) => -Array.from(p).reduce((s, v) => s + (v > 0 ? v * Math.log(v) : 0), 0);

describe('Ensemble: posterior-predictive averaging', () => {
  it('deep ensemble of classifiers: mean probabilities, entropies and mutual information', () => {
    const ms = [1, 2, 3].map((s) => net(s));
    const e = Ensemble.fromModels(ms);
    expect(e.size).toBe(3);
    const r = e.predictProba(x);
    const ps = ms.map((m) => m.predictProba(x));
    for (let i = 0; i < n; i++) {
      const mean = Array.from({ length: C }, (_, c) => (ps[0][i * C + c] + ps[1][i * C + c] + ps[2][i * C + c]) / 3);
      for (let c = 0; c < C; c++) expect(r.mean[i * C + c]).toBeCloseTo(mean[c], 6);
      expect(r.predictiveEntropy[i]).toBeCloseTo(entropy(mean), 5);
      const ee = ps.reduce((s, p) => s + entropy(p.subarray(i * C, i * C + C)), 0) / 3;
      expect(r.expectedEntropy[i]).toBeCloseTo(ee, 5);
      expect(r.mutualInformation[i]).toBeCloseTo(Math.max(0, entropy(mean) - ee), 5);
      expect(r.mutualInformation[i]).toBeGreaterThanOrEqual(0);
    }
    expect(Array.from(e.predictClasses(x))).toEqual(Array.from({ length: n }, (_, i) => {
      const row = Array.from(r.mean.subarray(i * C, i * C + C));
      return row.indexOf(Math.max(...row));
    }));
    // The ensemble owns copies: disposing the originals leaves it working.
    ms.forEach((m) => m.dispose());
    expectBits(e.predictProba(x).mean, r.mean);
    e.dispose();
  });

  it('regression: mixture mean and variance = aleatoric (mean σ²) + epistemic (variance of the means); mixture log-likelihood', () => {
    const ms = [4, 5, 6, 7].map((s) => net(s, 2));
    const e = Ensemble.fromModels(ms, { task: 'regression', likelihood: 'gaussianNll' });
    const r = e.predictRegression(x);
    const outs = ms.map((m) => m.predict(x));
    const y = randArr(n, -1, 1, 9);
    const ll = e.logLikelihood(x, y);
    for (let i = 0; i < n; i++) {
      const mu = outs.map((o) => o[2 * i]), v = outs.map((o) => Math.exp(Math.max(o[2 * i + 1], -12)));
      const m = mu.reduce((a, b) => a + b) / 4;
      const al = v.reduce((a, b) => a + b) / 4;
      const ep = mu.reduce((a, b) => a + (b - m) ** 2, 0) / 4;
      expect(r.mean[i]).toBeCloseTo(m, 5);
      expect(r.aleatoric[i]).toBeCloseTo(al, 5);
      expect(r.epistemic[i]).toBeCloseTo(ep, 5);
      expect(r.variance[i]).toBeCloseTo(al + ep, 5);
      const dens = mu.reduce((s, mk, k) => s + Math.exp(-0.5 * (Math.log(2 * Math.PI * v[k]) + (y[i] - mk) ** 2 / v[k])), 0) / 4;
      expect(ll[i]).toBeCloseTo(Math.log(dens), 4);
    }
    // 'mse' members: a fixed noise variance is the aleatoric part.
    const e2 = Ensemble.fromModels(ms, { task: 'regression', likelihood: 'mse', noiseVariance: 0.25 });
    const r2 = e2.predictRegression(x);
    for (let i = 0; i < r2.aleatoric.length; i++) expect(r2.aleatoric[i]).toBeCloseTo(0.25, 6);
    expect(() => e.predictProba(x)).toThrow(ArgumentError);
    ms.forEach((m) => m.dispose());
    e.dispose();
    e2.dispose();
  });

  it('sampler snapshots: K parameter sets of one architecture, each predicting as that model would', () => {
    const m = net(11);
    const e = Ensemble.forSamples(m, 3);
    const refs: Float32Array[] = [];
    for (let k = 0; k < 3; k++) {
      m.params().forEach((p, j) => p.value.set(randArr(p.value.size, -0.5, 0.5, 100 * k + j)));
      e.collect(m);
      refs.push(m.predictProba(x));
    }
    expect(() => e.collect(m)).toThrow(/full/);
    const r = e.predictProba(x);
    for (let i = 0; i < n * C; i++) expect(r.mean[i]).toBeCloseTo((refs[0][i] + refs[1][i] + refs[2][i]) / 3, 6);
    expect(e.snapshot(1).length).toBe(m.countParams());
    m.dispose();
    e.dispose();
  });

  it('Monte-Carlo draws of a Sparse VD model reproduce predictMC; MC dropout draws differ per member', () => {
    const m = new Sequential({ inputShape: [D], seed: 3, runtime: rt, layers: [new SparseVDDense({ units: 8, initialLogSigma2: -2 }), new ReLU(), new Dense({ units: C })] });
    const e = Ensemble.fromMonteCarlo(m, { samples: 5, seed: 9 });
    const a = e.predictProba(x), b = m.predictMC(x, { samples: 5, seed: 9 });
    expectBits(a.mean, b.mean);
    expectBits(a.mutualInformation, b.mutualInformation);
    const d = new Sequential({ inputShape: [D], seed: 3, runtime: rt, layers: [new Dense({ units: 16 }), new ReLU(), new Dropout({ rate: 0.5 }), new Dense({ units: C })] });
    const ed = Ensemble.fromMonteCarlo(d, { samples: 8, seed: 1, dropout: true });
    const rd = ed.predictProba(x);
    expect(Math.max(...rd.mutualInformation)).toBeGreaterThan(0);
    const plain = Ensemble.fromMonteCarlo(d, { samples: 8, seed: 1 }).predictProba(x);
    expect(Math.max(...plain.mutualInformation)).toBeLessThan(1e-6);
    for (const t of [m, d]) t.dispose();
    e.dispose();
    ed.dispose();
  });
});

describe('Ensemble files', () => {
  it('save/load round-trips every kind with the same predictions, bit for bit', () => {
    const m = net(21);
    const samples = Ensemble.forSamples(m, 2);
    for (let k = 0; k < 2; k++) {
      m.params().forEach((p, j) => p.value.set(randArr(p.value.size, -0.5, 0.5, 7 * k + j)));
      samples.collect(m);
    }
    const bayes = new Sequential({ inputShape: [D], seed: 3, runtime: rt, layers: [new SparseVDDense({ units: 6, initialLogSigma2: -3 }), new Dense({ units: 2 })] });
    const kinds = [
      samples,
      Ensemble.fromMonteCarlo(bayes, { samples: 4, seed: 5, task: 'regression' }),
      Ensemble.fromModels([net(1), net(2)]),
    ];
    for (const e of kinds) {
      const bytes = e.save();
      const back = Ensemble.load(bytes, { runtime: rt });
      expect(back.kind).toBe(e.kind);
      expect(back.size).toBe(e.size);
      if (e.task === 'classification') expectBits(back.predictProba(x).mean, e.predictProba(x).mean);
      else expectBits(back.predictRegression(x).variance, e.predictRegression(x).variance);
      // A flipped byte is caught by the checksums; a truncated file by the lengths.
      const bad = bytes.slice();
      bad[bad.length - 5] ^= 1;
      expect(() => Ensemble.load(bad, { runtime: rt })).toThrow(ModelFormatError);
      expect(() => Ensemble.load(bytes.subarray(0, bytes.length - 16), { runtime: rt })).toThrow(ModelFormatError);
      back.dispose();
      e.dispose();
    }
    m.dispose();
    bayes.dispose();
  });

  it('bad arguments are typed errors', () => {
    const m = net(1);
    expect(() => Ensemble.fromModels([])).toThrow(ArgumentError);
    expect(() => Ensemble.fromModels([m, net(2, 4)])).toThrow(/models\[1\]/);
    expect(() => Ensemble.forSamples(m, 0)).toThrow(/capacity/);
    expect(() => Ensemble.fromModels([m], { task: 'regression', likelihood: 'gaussianNll' })).toThrow(/even/);
    const e = Ensemble.forSamples(m, 2);
    expect(() => e.predictProba(x)).toThrow(/empty/);
    expect(() => Ensemble.load(new Uint8Array(10))).toThrow(ModelFormatError);
    e.dispose();
    m.dispose();
  });
});
