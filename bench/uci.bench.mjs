// The UCI regression benchmark (../shared/data/uci, its fixed 20 splits): one hidden layer of 50
// ReLU units, features and target standardised on the training split, test RMSE in the target's
// units and test log-likelihood per point (the method's predictive: the Gaussian mixture of its
// members), mean ± standard error over the splits. Hyperparameters per split on an inner 80/20
// split of the training part only (last 20% of the training indices for validation, chosen by
// validation log-likelihood), then the chosen setting is retrained on the whole training part.
//
// Methods (all through the public API):
//   sgld-ensemble  SGLD with a Gaussian likelihood of fixed noise precision τ (MC dropout's τ grid,
//                  chosen on validation): ∇U = N·τ·∇(mean ½(y − f)²) + λθ, i.e. datasetSize = N·τ
//                  (τ in standardised units); warm start by Adam, then E epochs of sampling,
//                  a quarter burn-in, ~40 snapshots.
//   student        a 50-unit net with a mean and a log-variance output distilled offline from the
//                  sgld-ensemble (KL from the mixture's moment-matched Gaussian).
//   sparse-vd      SparseVDDense(50) → ReLU → Dense(2) (mean, log-variance), Gaussian NLL + KL,
//                  predictive from 20 Monte-Carlo draws.
//   mc-dropout     Dense(50) → ReLU → Dropout(p) → Dense(1), weight decay from (p, τ) as Gal &
//                  Ghahramani, p from the dropout grid and τ from the τ grid on validation,
//                  predictive from 50 dropout draws with noise 1/τ.
//   deep-ensemble  5 nets with mean and log-variance outputs (Gaussian NLL), different seeds.
//
// Lines: {"bench":"uci","case":"<dataset>/<method>","rmse","rmseSe","ll","llSe","splits","seconds", ...}
// and {"bench":"uci","case":"summary","wins":W,"of":D}: W counts data sets where one of our
// methods matches or beats the published MC dropout RMSE and LL at their printed precision.
// Environment: BENCH_DATASETS=a,b (default all seven), BENCH_SPLITS=K (first K splits, default
// 20), BENCH_EPOCHS=E (default 40, the protocol's n_epochs), BENCH_METHODS=a,b.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as vd from '../dist/index.js';
import { report } from './peers.mjs';

const {
  Sequential, Dense, ReLU, Dropout, SparseVDDense, Adam, SGLD, fit, sample, distill, Ensemble,
  fitStandardizer, standardize,
} = vd;

const here = path.dirname(new URL(import.meta.url).pathname);
const UCI = path.resolve(here, '..', '..', 'shared', 'data', 'uci');
// Published MC dropout (grid search, 10x epochs) on these splits: RMSE, LL, and their printed decimals.
const PUBLISHED = {
  bostonHousing: [2.90, -2.40], concrete: [4.82, -2.93], energy: [0.54, -1.21], kin8nm: [0.08, 1.14],
  'power-plant': [4.01, -2.80], 'wine-quality-red': [0.62, -0.93], yacht: [0.67, -1.25],
};
const ALL = Object.keys(PUBLISHED);
const list = (v, dflt) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : dflt);
const datasets = list(process.env.BENCH_DATASETS, ALL);
for (const d of datasets) if (!ALL.includes(d)) throw new Error(`unknown data set '${d}'; have ${ALL.join(', ')}`);
const METHODS = ['sgld-ensemble', 'student', 'sparse-vd', 'mc-dropout', 'deep-ensemble'];
const methods = list(process.env.BENCH_METHODS, METHODS);
const maxSplits = process.env.BENCH_SPLITS ? Number(process.env.BENCH_SPLITS) : 20;
const EPOCHS = process.env.BENCH_EPOCHS ? Number(process.env.BENCH_EPOCHS) : 40;
const BATCH = 32, HIDDEN = 50, LR = 3e-3;

const readNums = (f) => fs.readFileSync(f, 'utf8').split(/\s+/).filter(Boolean).map(Number);
const readInts = readNums;

function loadSet(name) {
  const dir = path.join(UCI, name);
  const rows = fs.readFileSync(path.join(dir, 'data.txt'), 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  return { dir, rows, feat: readInts(path.join(dir, 'index_features.txt')), target: readInts(path.join(dir, 'index_target.txt'))[0],
    taus: readNums(path.join(dir, 'tau_values.txt')), drops: readNums(path.join(dir, 'dropout_rates.txt')) };
}

/** Standardised train/test arrays of rows `tr`, `te`; `ys` un-standardises. */
function prepare(set, tr, te) {
  const F = set.feat.length;
  const X = (idx) => Float32Array.from(idx.flatMap((i) => set.feat.map((c) => set.rows[i][c])));
  const Y = (idx) => Float32Array.from(idx.map((i) => set.rows[i][set.target]));
  const xtr = X(tr), ytr = Y(tr), xte = X(te), yte = Y(te);
  const sx = fitStandardizer(xtr, F), sy = fitStandardizer(ytr, 1);
  return { F, xtr: standardize(xtr, sx), ytr: standardize(ytr, sy), xte: standardize(xte, sx), yteRaw: yte, yte: standardize(yte, sy), ystd: sy.std[0], ymean: sy.mean[0] };
}

const net = (F, seed, out, extra = []) => new Sequential({ inputShape: [F], seed, layers: [new Dense({ units: HIDDEN }), new ReLU(), ...extra, new Dense({ units: out })] });

/** RMSE (target units) and mean LL per point (target units) of an ensemble on a prepared split. */
function score(e, d) {
  const p = e.predictRegression(d.xte);
  let se = 0;
  for (let i = 0; i < p.mean.length; i++) se += ((p.mean[i] - d.yte[i]) * d.ystd) ** 2;
  const ll = e.logLikelihood(d.xte, d.yte);
  let s = 0;
  for (let i = 0; i < ll.length; i++) s += ll[i];
  return { rmse: Math.sqrt(se / p.mean.length), ll: s / ll.length - Math.log(d.ystd) };
}

// ---- methods: each trains on (x, y) and returns an Ensemble (plus what others reuse) ----------

function sgldEnsemble(d, x, y, tauStd, seed) {
  const N = x.length / d.F;
  const m = net(d.F, seed, 1);
  fit(m, x, y, { epochs: EPOCHS, batchSize: BATCH, loss: 'mse', optimizer: new Adam({ lr: LR }), seed, progress: false });
  const steps = EPOCHS * Math.ceil(N / BATCH);
  const burnIn = Math.floor(steps / 4);
  const thin = Math.max(1, Math.floor((steps - burnIn) / 40));
  // SGD-equivalent learning rate 0.01 on the mean loss: η/2·N·τ = 0.01.
  const eta = 0.02 / (N * tauStd);
  const r = sample(m, x, y, {
    sampler: new SGLD({ stepSize: eta, datasetSize: Math.max(1, Math.round(N * tauStd)), priorPrecision: 1, seed }),
    epochs: EPOCHS, batchSize: BATCH, burnIn, thin, loss: 'mse', seed, progress: false,
    ensemble: { task: 'regression', likelihood: 'mse', noiseVariance: 1 / tauStd },
  });
  m.dispose();
  return r.ensemble;
}

function student(d, x, teacher, seed) {
  const s = net(d.F, seed + 1000, 2);
  distill(teacher, s, x, { epochs: EPOCHS * 2, batchSize: BATCH, optimizer: new Adam({ lr: LR }), seed });
  const e = Ensemble.fromModels([s], { task: 'regression' });
  s.dispose();
  return e;
}

function sparseVd(d, x, y, seed) {
  const m = new Sequential({ inputShape: [d.F], seed, layers: [new SparseVDDense({ units: HIDDEN }), new ReLU(), new Dense({ units: 2 })] });
  fit(m, x, y, { epochs: EPOCHS * 2, batchSize: BATCH, loss: 'gaussianNll', optimizer: new Adam({ lr: LR }), seed, progress: false });
  const e = Ensemble.fromMonteCarlo(m, { samples: 20, seed, task: 'regression' });
  m.dispose();
  return e;
}

function mcDropout(d, x, y, p, tauStd, seed) {
  const N = x.length / d.F;
  // Gal & Ghahramani's weight decay for lengthscale l = 1e-2: λ = l²(1 − p)/(2Nτ); our per-sample l2 = 2λ.
  const l2 = (1e-4 * (1 - p)) / (N * tauStd);
  const m = new Sequential({ inputShape: [d.F], seed, layers: [new Dense({ units: HIDDEN, l2 }), new ReLU(), new Dropout({ rate: p }), new Dense({ units: 1, l2 })] });
  fit(m, x, y, { epochs: EPOCHS * 2, batchSize: BATCH, loss: 'mse', optimizer: new Adam({ lr: LR }), seed, progress: false });
  return m;
}
const mcEnsemble = (m, tauStd, seed) => Ensemble.fromMonteCarlo(m, { samples: 50, seed, dropout: true, task: 'regression', likelihood: 'mse', noiseVariance: 1 / tauStd });

function deepEnsemble(d, x, y, seed) {
  const ms = [0, 1, 2, 3, 4].map((k) => {
    const m = net(d.F, seed * 10 + k, 2);
    fit(m, x, y, { epochs: EPOCHS * 2, batchSize: BATCH, loss: 'gaussianNll', optimizer: new Adam({ lr: LR }), seed: seed * 10 + k, progress: false });
    return m;
  });
  const e = Ensemble.fromModels(ms, { task: 'regression' });
  ms.forEach((m) => m.dispose());
  return e;
}

/** Validation LL of an ensemble on (x, y) (standardised units). */
function valLL(e, x, y) {
  const ll = e.logLikelihood(x, y);
  let s = 0;
  for (const v of ll) s += v;
  return s / ll.length;
}

const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
const se = (a) => (a.length < 2 ? 0 : Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1) / a.length));
const r3 = (v) => Math.round(v * 1000) / 1000;

let wins = 0;
for (const name of datasets) {
  const set = loadSet(name);
  const nSplits = Math.min(maxSplits, Number(fs.readFileSync(path.join(set.dir, 'n_splits.txt'), 'utf8')));
  const res = Object.fromEntries(methods.map((m) => [m, { rmse: [], ll: [], sec: 0, chosen: [] }]));
  for (let k = 0; k < nSplits; k++) {
    const tr = readInts(path.join(set.dir, `index_train_${k}.txt`)), te = readInts(path.join(set.dir, `index_test_${k}.txt`));
    const d = prepare(set, tr, te);
    // Inner split for hyperparameters: the first 80% of the training indices train, the rest validate.
    const cut = Math.floor(tr.length * 0.8);
    const inner = prepare(set, tr.slice(0, cut), tr.slice(cut));
    const tauStd = (tau, dd) => tau * dd.ystd * dd.ystd; // τ of the original units → standardised units
    const seed = 1 + k;
    let sgldE = null;
    const time = (m, f) => {
      const t0 = performance.now();
      const out = f();
      res[m].sec += (performance.now() - t0) / 1000;
      return out;
    };
    if (methods.includes('sgld-ensemble') || methods.includes('student')) {
      sgldE = time(res['sgld-ensemble'] ? 'sgld-ensemble' : 'student', () => {
        let best = null;
        for (const tau of set.taus) {
          const e = sgldEnsemble(inner, inner.xtr, inner.ytr, tauStd(tau, inner), seed);
          const v = valLL(e, inner.xte, inner.yte);
          e.dispose();
          if (!best || v > best.v) best = { tau, v };
        }
        if (res['sgld-ensemble']) res['sgld-ensemble'].chosen.push(best.tau);
        return sgldEnsemble(d, d.xtr, d.ytr, tauStd(best.tau, d), seed);
      });
      if (res['sgld-ensemble']) {
        const s = score(sgldE, d);
        res['sgld-ensemble'].rmse.push(s.rmse);
        res['sgld-ensemble'].ll.push(s.ll);
      }
    }
    if (res.student) {
      const e = time('student', () => student(d, d.xtr, sgldE, seed));
      const s = score(e, d);
      res.student.rmse.push(s.rmse);
      res.student.ll.push(s.ll);
      e.dispose();
    }
    sgldE?.dispose();
    if (res['sparse-vd']) {
      const e = time('sparse-vd', () => sparseVd(d, d.xtr, d.ytr, seed));
      const s = score(e, d);
      res['sparse-vd'].rmse.push(s.rmse);
      res['sparse-vd'].ll.push(s.ll);
      e.dispose();
    }
    if (res['mc-dropout']) {
      const e = time('mc-dropout', () => {
        // p on validation (each trained with the middle τ), then τ on validation for that model.
        const tMid = set.taus[Math.floor(set.taus.length / 2)];
        let best = null;
        for (const p of [set.drops[0], set.drops[2]]) {
          const m = mcDropout(inner, inner.xtr, inner.ytr, p, tauStd(tMid, inner), seed);
          for (const tau of set.taus) {
            const e = mcEnsemble(m, tauStd(tau, inner), seed);
            const v = valLL(e, inner.xte, inner.yte);
            e.dispose();
            if (!best || v > best.v) best = { p, tau, v };
          }
          m.dispose();
        }
        res['mc-dropout'].chosen.push([best.p, best.tau]);
        const m = mcDropout(d, d.xtr, d.ytr, best.p, tauStd(best.tau, d), seed);
        const e = mcEnsemble(m, tauStd(best.tau, d), seed);
        m.dispose();
        return e;
      });
      const s = score(e, d);
      res['mc-dropout'].rmse.push(s.rmse);
      res['mc-dropout'].ll.push(s.ll);
      e.dispose();
    }
    if (res['deep-ensemble']) {
      const e = time('deep-ensemble', () => deepEnsemble(d, d.xtr, d.ytr, seed));
      const s = score(e, d);
      res['deep-ensemble'].rmse.push(s.rmse);
      res['deep-ensemble'].ll.push(s.ll);
      e.dispose();
    }
  }
  const [pubR, pubL] = PUBLISHED[name];
  let won = false;
  for (const m of methods) {
    const r = res[m];
    const line = { bench: 'uci', case: `${name}/${m}`, rmse: r3(mean(r.rmse)), rmseSe: r3(se(r.rmse)), ll: r3(mean(r.ll)), llSe: r3(se(r.ll)), splits: r.rmse.length, seconds: Math.round(r.sec * 10) / 10, epochs: EPOCHS };
    if (m === 'sgld-ensemble') line.sampler = 'SGLD';
    if (r.chosen.length) line.chosen = r.chosen;
    report(line);
    // At the published figures' precision (two decimals).
    if (Math.round(mean(r.rmse) * 100) / 100 <= pubR && Math.round(mean(r.ll) * 100) / 100 >= pubL) won = true;
  }
  if (won) wins++;
}
report({ bench: 'uci', case: 'summary', wins, of: datasets.length, splits: maxSplits, epochs: EPOCHS });
