// The UCI regression benchmark (../shared/data/uci, its fixed 20 splits): one hidden layer of 50
// ReLU units, features and target standardised on the training split, test RMSE in the target's
// units and test log-likelihood per point (the method's predictive: the Gaussian mixture of its
// members), mean ± standard error over the splits.
//
// Protocol. Every net trains with Adam (lr 3e-3) for E epochs (default 400: 10× the protocol's
// n_epochs of 40, as in MC dropout's published runs), or for as many epochs as make E·2000 rows
// on a set of N > 2000 rows (kin8nm and power-plant: ~100 epochs; the 50-unit nets cost per row
// seen), in batches of max(32, ⌈N/S⌉) rows (S = 64 steps an epoch at most, BENCH_MAX_STEPS:
// batches of ~130 rows on the two ~9k-row sets, the batch size of MC dropout's code). Hyperparameters are
// chosen per split on an inner 80/20 split of the training part only (its last 20% validate),
// never on the test split, then the chosen setting is retrained on the whole training part.
// The grid is small and the same for every data set:
//   sgld-ensemble  psgld-het: none (fixed settings: E warm-start epochs with dropout 0.1, as
//                  MC dropout's E epochs); sgld: τ (likelihood precision) ∈ the data
//                  set's tau_values.txt (3 values), by validation LL, one Adam warm start shared
//                  by the three chains.
//   mc-dropout     p ∈ {0.005, 0.05} (trained with the middle τ), then τ ∈ tau_values.txt for the
//                  chosen net, by validation LL (τ also sets the weight decay of the retrained net).
//   deep-ensemble, sparse-vd  the number of epochs (≤ E), by early stopping on validation
//                  Gaussian NLL (patience 40 epochs) of one net.
//   student        none (it follows the sgld-ensemble's choice).
// Methods (all through the public API):
//   sgld-ensemble  BENCH_SAMPLER=psgld-het (default): 5 pSGLD chains on the heteroscedastic
//                  posterior (mean and log-variance outputs, Gaussian NLL, prior precision 1),
//                  each warm-started by its own Adam run on the MSE (E epochs, dropout 0.1 after the
//                  hidden layer), then E/4 epochs of sampling, a quarter burn-in, 8 snapshots a
//                  chain (see hetChains).
//                  BENCH_SAMPLER=sgld: SGLD with a Gaussian likelihood of fixed noise precision τ:
//                  ∇U = N·τ·∇(mean ½(y − f)²) + λθ, i.e. datasetSize = N·τ (τ in standardised
//                  units), prior precision 1; warm start by E/2 epochs of Adam, then E/2 epochs of
//                  sampling (SGD-equivalent step 0.01), a quarter burn-in, ~40 snapshots.
//                  The line's `sampler` field names the variant.
//   student        a 50-unit net with a mean and a log-variance output distilled offline from the
//                  sgld-ensemble (KL from the mixture's moment-matched Gaussian), E/2 epochs; with
//                  psgld-het it starts from the first chain's warm-start weights.
//   sparse-vd      SparseVDDense(50) → ReLU → Dense(2) (mean, log-variance), Gaussian NLL + KL,
//                  predictive from 20 Monte-Carlo draws.
//   mc-dropout     Dense(50) → ReLU → Dropout(p) → Dense(1), weight decay from (p, τ) as Gal &
//                  Ghahramani, predictive from 50 dropout draws with noise 1/τ.
//   deep-ensemble  5 nets with mean and log-variance outputs (Gaussian NLL), different seeds.
//
// Splits run in BENCH_WORKERS worker_threads (default 2; 1 runs them in this thread): every split
// is seeded by its index alone and each worker has its own wasm instance, so the figures are the
// same bits for any number of workers.
//
// Lines: {"bench":"uci","case":"<dataset>/<method>","rmse","rmseSe","ll","llSe","splits","seconds", ...}
// (seconds: wall time spent in the method, in its worker, summed over the splits, grid search
// included) and
// {"bench":"uci","case":"summary","wins":W,"of":D,"wallSeconds":..}: W counts data sets where one
// of our methods matches or beats the published MC dropout RMSE and LL at their printed precision.
// Environment: BENCH_DATASETS=a,b (default all seven), BENCH_SPLITS=K (first K splits, default
// 20), BENCH_EPOCHS=E (default 400), BENCH_METHODS=a,b, BENCH_WORKERS=W, BENCH_MAX_STEPS=S,
// BENCH_SAMPLER=psgld-het|sgld, BENCH_DEV=1 (development runs: the test split is never read, the
// last 20% of each training part stand in for it; lines carry "dev":true).
// Every figure is for the data set's test split unless BENCH_DEV=1.
// Progress goes to stderr.
import fs from 'node:fs';
import path from 'node:path';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as vd from '../dist/index.js';
import { report } from './peers.mjs';

const {
  Sequential, Dense, ReLU, Dropout, SparseVDDense, Adam, SGLD, PSGLD, fit, sample, distill, Ensemble,
  fitStandardizer, standardize,
} = vd;

const here = path.dirname(new URL(import.meta.url).pathname);
const UCI = path.resolve(here, '..', '..', 'shared', 'data', 'uci');
// Published MC dropout (grid search, 10x epochs) on these splits: RMSE, LL (two decimals).
const PUBLISHED = {
  bostonHousing: [2.90, -2.40], concrete: [4.82, -2.93], energy: [0.54, -1.21], kin8nm: [0.08, 1.14],
  'power-plant': [4.01, -2.80], 'wine-quality-red': [0.62, -0.93], yacht: [0.67, -1.25],
};
const ALL = Object.keys(PUBLISHED);
const METHODS = ['sgld-ensemble', 'student', 'sparse-vd', 'mc-dropout', 'deep-ensemble'];
// The sgld-ensemble's sampler: 'psgld-het' (heteroscedastic chains, default) or 'sgld' (fixed noise, τ grid).
const SAMPLERS = { 'psgld-het': 'pSGLD, heteroscedastic, 5 chains', sgld: 'SGLD, fixed noise precision' };
const SAMPLER = process.env.BENCH_SAMPLER ?? 'psgld-het';
const list = (v, dflt) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : dflt);
const EPOCHS = process.env.BENCH_EPOCHS ? Number(process.env.BENCH_EPOCHS) : 400;
const HIDDEN = 50, LR = 3e-3, PATIENCE = 40;
// At most this many steps an epoch: batches of max(32, ⌈N/MAX_STEPS⌉) rows.
const MAX_STEPS = process.env.BENCH_MAX_STEPS ? Number(process.env.BENCH_MAX_STEPS) : 64;
// A net sees at most E·ROWS rows: E epochs of a ROWS-row set, fewer epochs of a larger one.
const ROWS = 2000;
const DEV = process.env.BENCH_DEV === '1';

const readNums = (f) => fs.readFileSync(f, 'utf8').split(/\s+/).filter(Boolean).map(Number);

function loadSet(name) {
  const dir = path.join(UCI, name);
  const rows = fs.readFileSync(path.join(dir, 'data.txt'), 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  return { dir, rows, feat: readNums(path.join(dir, 'index_features.txt')), target: readNums(path.join(dir, 'index_target.txt'))[0],
    taus: readNums(path.join(dir, 'tau_values.txt')), drops: readNums(path.join(dir, 'dropout_rates.txt')),
    splits: Number(fs.readFileSync(path.join(dir, 'n_splits.txt'), 'utf8')) };
}

/** Standardised train/test arrays of rows `tr`, `te` (statistics of `tr`). */
function prepare(set, tr, te) {
  const F = set.feat.length;
  const X = (idx) => Float32Array.from(idx.flatMap((i) => set.feat.map((c) => set.rows[i][c])));
  const Y = (idx) => Float32Array.from(idx.map((i) => set.rows[i][set.target]));
  const xtr = X(tr), ytr = Y(tr), xte = X(te), yte = Y(te);
  const sx = fitStandardizer(xtr, F), sy = fitStandardizer(ytr, 1);
  const N = tr.length;
  return { F, N, batch: Math.max(32, Math.ceil(N / MAX_STEPS)), epochs: Math.min(EPOCHS, Math.max(1, Math.round((EPOCHS * ROWS) / N))), xtr: standardize(xtr, sx), ytr: standardize(ytr, sy), xte: standardize(xte, sx), yte: standardize(yte, sy), ystd: sy.std[0] };
}

const net = (F, seed, out, extra = []) => new Sequential({ inputShape: [F], seed, layers: [new Dense({ units: HIDDEN }), new ReLU(), ...extra, new Dense({ units: out })] });
const adam = () => new Adam({ lr: LR });
/** Half a net's epochs: the SGLD warm start, its sampling run, the student. */
const half = (d) => Math.max(1, Math.round(d.epochs / 2));
/** τ of the original units → standardised units. */
const tauStd = (tau, d) => tau * d.ystd * d.ystd;

/** Mean log-likelihood per point of an ensemble on (x, y), standardised units. */
function meanLL(e, x, y) {
  const ll = e.logLikelihood(x, y);
  let s = 0;
  for (const v of ll) s += v;
  return s / ll.length;
}

/** Test RMSE (target units) and mean test LL per point (target units) of an ensemble. */
function score(e, d) {
  const p = e.predictRegression(d.xte);
  let se = 0;
  for (let i = 0; i < p.mean.length; i++) se += ((p.mean[i] - d.yte[i]) * d.ystd) ** 2;
  return { rmse: Math.sqrt(se / p.mean.length), ll: meanLL(e, d.xte, d.yte) - Math.log(d.ystd) };
}

// ---- methods --------------------------------------------------------------------------------

/**
 * Adam warm start of an SG-MCMC chain (MSE, E/2 epochs unless told; with dropout of rate `drop`
 * after the hidden layer when drop > 0): the weights of a one-output net (dropout has none).
 */
function warmStart(d, seed, epochs = half(d), drop = 0) {
  const m = net(d.F, seed, 1, drop > 0 ? [new Dropout({ rate: drop })] : []);
  fit(m, d.xtr, d.ytr, { epochs, batchSize: d.batch, loss: 'mse', optimizer: adam(), seed, progress: false });
  const w = m.getWeights();
  m.dispose();
  return w;
}

/** An SGLD chain from weights `w` at likelihood precision τ (standardised units): its ensemble. */
function sgldChain(d, w, tau, seed) {
  const m = net(d.F, seed, 1);
  m.setWeights(w);
  const epochs = half(d);
  const steps = epochs * Math.ceil(d.N / d.batch);
  const burnIn = Math.floor(steps / 4);
  const thin = Math.max(1, Math.floor((steps - burnIn) / 40));
  // SGD-equivalent learning rate 0.01 on the mean loss: η/2·N·τ = 0.01.
  const r = sample(m, d.xtr, d.ytr, {
    sampler: new SGLD({ stepSize: 0.02 / (d.N * tau), datasetSize: Math.max(1, Math.round(d.N * tau)), priorPrecision: 1, seed }),
    epochs, batchSize: d.batch, burnIn, thin, loss: 'mse', seed, progress: false,
    ensemble: { task: 'regression', likelihood: 'mse', noiseVariance: 1 / tau },
  });
  m.dispose();
  return r.ensemble;
}

/**
 * Heteroscedastic SG-MCMC ensemble: CHAINS chains (distinct seeds), each warm-started by its own
 * Adam run on the MSE (E epochs, a mean-only net with dropout WARM_DROP after the hidden layer, a
 * regularised fit as MC dropout's), its weights carried over into a net with
 * mean and log-variance outputs (hetFromMse), then pSGLD on the Gaussian-NLL posterior (T = 1,
 * datasetSize N, prior precision λ = 1) for E/4 epochs: a quarter burn-in, 8 snapshots a chain.
 * The mean is fit by the MSE warm start because Gaussian-NLL training from scratch underfits it
 * where the predicted variance explains residuals away; the warm start's dropout keeps that fit
 * from overfitting over E epochs (dev runs on Boston, 20 splits: early-stopped warm starts without
 * dropout 3.23 / −2.40, E epochs without dropout 3.12 / −2.43, E epochs with dropout 0.1 2.94 / −2.34).
 * Returns the ensemble and the first chain's starting weights (the student starts from them).
 */
const CHAINS = 5;
// pSGLD step η = 2·LR_PSGLD/N: RMSProp-like steps of ~LR_PSGLD on the per-sample-mean loss.
const LR_PSGLD = 1e-3;
const WARM_DROP = 0.1;
function hetChains(d, seed) {
  const parts = [];
  let start = null;
  for (let c = 0; c < CHAINS; c++) {
    const s = seed * 10 + c;
    const m = net(d.F, s, 2);
    const w = hetFromMse(d, warmStart(d, s, d.epochs, WARM_DROP));
    if (c === 0) start = w;
    m.setWeights(w);
    const epochs = Math.max(1, Math.round(d.epochs / 4));
    const steps = epochs * Math.ceil(d.N / d.batch);
    const burnIn = Math.floor(steps / 4);
    const r = sample(m, d.xtr, d.ytr, {
      sampler: new PSGLD({ stepSize: (2 * LR_PSGLD) / d.N, datasetSize: d.N, priorPrecision: 1, seed: s }),
      epochs, batchSize: d.batch, burnIn, thin: Math.max(1, Math.floor((steps - burnIn) / 8)), loss: 'gaussianNll', seed: s, progress: false,
      ensemble: { task: 'regression', likelihood: 'gaussianNll' },
    });
    m.dispose();
    parts.push(r.ensemble);
  }
  const e = Ensemble.concat(parts);
  parts.forEach((p) => p.dispose());
  return { ensemble: e, start };
}

/**
 * Weights of a mean-and-log-variance net from those `w` of a one-output MSE net: the mean column
 * as trained, the log-variance column zero with bias log(training MSE).
 */
function hetFromMse(d, w) {
  const m = net(d.F, 0, 1);
  m.setWeights(w);
  const p = m.predict(d.xtr);
  m.dispose();
  let se = 0;
  for (let i = 0; i < d.N; i++) se += (p[i] - d.ytr[i]) ** 2;
  const [w1, b1, w2, b2] = w;
  const w2h = new Float32Array(w2.length * 2);
  for (let i = 0; i < w2.length; i++) w2h[2 * i] = w2[i];
  return [w1, b1, w2h, Float32Array.of(b2[0], Math.log(se / d.N))];
}

/** The distilled student: from weights `start` when given (the first chain's warm start), else fresh. */
function student(d, teacher, seed, start = null) {
  const s = net(d.F, seed + 1000, 2);
  if (start) s.setWeights(start);
  distill(teacher, s, d.xtr, { epochs: half(d), batchSize: d.batch, optimizer: adam(), seed });
  const e = Ensemble.fromModels([s], { task: 'regression' });
  s.dispose();
  return e;
}

/**
 * Epochs for a net made by `make(seed)`: early stopping on the inner split's validation loss
 * (Gaussian NLL unless told; at most E epochs unless told).
 */
function innerEpochs(inner, make, seed, { loss = 'gaussianNll', epochs = inner.epochs, patience = PATIENCE } = {}) {
  const m = make(seed);
  const h = fit(m, inner.xtr, inner.ytr, {
    epochs, batchSize: inner.batch, loss, optimizer: adam(), seed, progress: false,
    validationData: { x: inner.xte, y: inner.yte }, earlyStopping: { patience },
  });
  m.dispose();
  return h.bestEpoch;
}

function gaussianNet(d, make, seed, epochs) {
  const m = make(seed);
  fit(m, d.xtr, d.ytr, { epochs, batchSize: d.batch, loss: 'gaussianNll', optimizer: adam(), seed, progress: false });
  return m;
}

const svdNet = (F) => (seed) => new Sequential({ inputShape: [F], seed, layers: [new SparseVDDense({ units: HIDDEN }), new ReLU(), new Dense({ units: 2 })] });
const nllNet = (F) => (seed) => net(F, seed, 2);

function mcDropoutNet(d, p, tau, seed) {
  // Gal & Ghahramani's weight decay for lengthscale l = 1e-2: λ = l²(1 − p)/(2Nτ); our per-sample l2 = 2λ.
  const l2 = (1e-4 * (1 - p)) / (d.N * tau);
  const m = new Sequential({ inputShape: [d.F], seed, layers: [new Dense({ units: HIDDEN, l2 }), new ReLU(), new Dropout({ rate: p }), new Dense({ units: 1, l2 })] });
  fit(m, d.xtr, d.ytr, { epochs: d.epochs, batchSize: d.batch, loss: 'mse', optimizer: adam(), seed, progress: false });
  return m;
}
const mcEnsemble = (m, tau, seed) => Ensemble.fromMonteCarlo(m, { samples: 50, seed, dropout: true, task: 'regression', likelihood: 'mse', noiseVariance: 1 / tau });

/** Argmax of `score` over `grid` (first of ties). */
function best(grid, scoreOf) {
  let b = null;
  for (const g of grid) {
    const v = scoreOf(g);
    if (!b || v > b.v) b = { g, v };
  }
  return b.g;
}

/** One split: { method: { rmse, ll, sec, chosen } } for the methods asked. */
function runSplit(name, k, methods) {
  const set = loadSet(name);
  let tr = readNums(path.join(set.dir, `index_train_${k}.txt`)), te = readNums(path.join(set.dir, `index_test_${k}.txt`));
  // Development runs (BENCH_DEV=1) never read the test split: the last 20% of the training part
  // stand in for it, and the inner split is taken from the rest.
  if (DEV) {
    const c = Math.floor(tr.length * 0.8);
    te = tr.slice(c);
    tr = tr.slice(0, c);
  }
  const d = prepare(set, tr, te);
  const cut = Math.floor(tr.length * 0.8);
  // The inner runs take the epochs (and batch size) of the whole training part, so the epochs
  // chosen there carry over.
  const inner = { ...prepare(set, tr.slice(0, cut), tr.slice(cut)), epochs: d.epochs, batch: d.batch };
  const seed = 1 + k;
  const out = {};
  const run = (m, f) => {
    const t0 = performance.now();
    const { ensemble, chosen } = f();
    const sec = (performance.now() - t0) / 1000;
    const s = score(ensemble, d);
    ensemble.dispose();
    out[m] = { ...s, sec: (out[m]?.sec ?? 0) + sec, chosen };
  };
  const want = (m) => methods.includes(m);
  if (want('sgld-ensemble') || want('student')) {
    const t0 = performance.now();
    let teacher, chosen, start = null; // chosen: τ (sgld)
    if (SAMPLER === 'sgld') {
      const wi = warmStart(inner, seed);
      const tau = best(set.taus, (t) => {
        const e = sgldChain(inner, wi, tauStd(t, inner), seed);
        const v = meanLL(e, inner.xte, inner.yte);
        e.dispose();
        return v;
      });
      teacher = sgldChain(d, warmStart(d, seed), tauStd(tau, d), seed);
      chosen = tau;
    } else {
      ({ ensemble: teacher, start } = hetChains(d, seed));
    }
    const sec = (performance.now() - t0) / 1000;
    if (want('sgld-ensemble')) out['sgld-ensemble'] = { ...score(teacher, d), sec, chosen };
    if (want('student')) run('student', () => ({ ensemble: student(d, teacher, seed, start) }));
    teacher.dispose();
  }
  if (want('sparse-vd')) {
    run('sparse-vd', () => {
      const epochs = innerEpochs(inner, svdNet(d.F), seed);
      const m = gaussianNet(d, svdNet(d.F), seed, epochs);
      const e = Ensemble.fromMonteCarlo(m, { samples: 20, seed, task: 'regression' });
      m.dispose();
      return { ensemble: e, chosen: epochs };
    });
  }
  if (want('mc-dropout')) {
    run('mc-dropout', () => {
      const tMid = set.taus[Math.floor(set.taus.length / 2)];
      let pick = null;
      for (const p of [set.drops[0], set.drops[2]]) {
        const m = mcDropoutNet(inner, p, tauStd(tMid, inner), seed);
        for (const tau of set.taus) {
          const e = mcEnsemble(m, tauStd(tau, inner), seed);
          const v = meanLL(e, inner.xte, inner.yte);
          e.dispose();
          if (!pick || v > pick.v) pick = { p, tau, v };
        }
        m.dispose();
      }
      const m = mcDropoutNet(d, pick.p, tauStd(pick.tau, d), seed);
      const e = mcEnsemble(m, tauStd(pick.tau, d), seed);
      m.dispose();
      return { ensemble: e, chosen: [pick.p, pick.tau] };
    });
  }
  if (want('deep-ensemble')) {
    run('deep-ensemble', () => {
      const epochs = innerEpochs(inner, nllNet(d.F), seed * 10);
      const ms = [0, 1, 2, 3, 4].map((j) => gaussianNet(d, nllNet(d.F), seed * 10 + j, epochs));
      const e = Ensemble.fromModels(ms, { task: 'regression' });
      ms.forEach((m) => m.dispose());
      return { ensemble: e, chosen: epochs };
    });
  }
  for (const m of Object.keys(out)) Object.assign(out[m], { epochs: d.epochs, batch: d.batch });
  return out;
}

// ---- driver ---------------------------------------------------------------------------------

if (!isMainThread) {
  parentPort.on('message', (job) => {
    if (job === null) process.exit(0);
    parentPort.postMessage({ job, result: runSplit(job.name, job.k, job.methods) });
  });
} else {
  const datasets = list(process.env.BENCH_DATASETS, ALL);
  for (const d of datasets) if (!ALL.includes(d)) throw new Error(`unknown data set '${d}'; have ${ALL.join(', ')}`);
  const methods = list(process.env.BENCH_METHODS, METHODS);
  for (const m of methods) if (!METHODS.includes(m)) throw new Error(`unknown method '${m}'; have ${METHODS.join(', ')}`);
  if (!SAMPLERS[SAMPLER]) throw new Error(`unknown sampler '${SAMPLER}'; have ${Object.keys(SAMPLERS).join(', ')}`);
  const maxSplits = process.env.BENCH_SPLITS ? Number(process.env.BENCH_SPLITS) : 20;
  const nWorkers = process.env.BENCH_WORKERS ? Number(process.env.BENCH_WORKERS) : 2;
  const t0 = performance.now(), cpu0 = process.cpuUsage();
  // Jobs smallest data set first, and each data set's lines printed as soon as its splits are
  // in (a run stopped early still reports the data sets it finished).
  const jobs = [];
  const results = {};
  for (const name of datasets) {
    const n = Math.min(maxSplits, loadSet(name).splits);
    results[name] = new Array(n).fill(null);
    for (let k = 0; k < n; k++) jobs.push({ name, k, methods, rows: fs.readFileSync(path.join(UCI, name, `index_train_${k}.txt`), 'utf8').split('\n').length });
  }
  jobs.sort((a, b) => a.rows - b.rows || ALL.indexOf(a.name) - ALL.indexOf(b.name) || a.k - b.k);
  const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
  const se = (a) => (a.length < 2 ? 0 : Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1) / a.length));
  const r3 = (v) => Math.round(v * 1000) / 1000;
  const r2 = (v) => Math.round(v * 100) / 100;
  let wins = 0;
  const wonBy = {};
  /** Print a data set's lines; count it as won when one method matches or beats the published RMSE and LL. */
  const finish = (name) => {
    const [pubR, pubL] = PUBLISHED[name];
    const won = [];
    for (const m of methods) {
      const rs = results[name].map((r) => r[m]);
      const rmse = rs.map((r) => r.rmse), ll = rs.map((r) => r.ll);
      const line = { bench: 'uci', case: `${name}/${m}`, rmse: r3(mean(rmse)), rmseSe: r3(se(rmse)), ll: r3(mean(ll)), llSe: r3(se(ll)), splits: rs.length, seconds: Math.round(rs.reduce((s, r) => s + r.sec, 0) * 10) / 10, epochs: rs[0].epochs, batch: rs[0].batch };
      if (m === 'sgld-ensemble' || m === 'student') line.sampler = SAMPLERS[SAMPLER];
      if (DEV) line.dev = true;
      if (rs[0].chosen !== undefined) line.chosen = rs.map((r) => r.chosen);
      report(line);
      // At the published figures' precision (two decimals).
      if (r2(mean(rmse)) <= pubR && r2(mean(ll)) >= pubL) won.push(m);
    }
    if (won.length) {
      wins++;
      wonBy[name] = won;
    }
  };
  let done = 0;
  const left = Object.fromEntries(datasets.map((n) => [n, results[n].length]));
  const record = (j, result) => {
    results[j.name][j.k] = result;
    // Progress on stderr (stdout carries only the JSON lines).
    process.stderr.write(`uci: ${++done}/${jobs.length} ${j.name} split ${j.k} (${Math.round((performance.now() - t0) / 1000)} s)\n`);
    if (--left[j.name] === 0) finish(j.name);
  };
  if (nWorkers <= 1) {
    for (const j of jobs) record(j, runSplit(j.name, j.k, methods));
  } else {
    await new Promise((resolve, reject) => {
      let next = 0, busy = 0;
      const feed = (w) => {
        if (next < jobs.length) {
          busy++;
          w.postMessage(jobs[next++]);
        } else w.postMessage(null);
      };
      for (let i = 0; i < Math.min(nWorkers, jobs.length); i++) {
        const w = new Worker(new URL(import.meta.url));
        w.on('message', ({ job, result }) => {
          record(job, result);
          busy--;
          feed(w);
          if (busy === 0 && next >= jobs.length) resolve();
        });
        w.on('error', reject);
        feed(w);
      }
    });
  }
  const cpu = process.cpuUsage(cpu0);
  report({ bench: 'uci', case: 'summary', ...(DEV ? { dev: true } : {}), wins, of: datasets.length, wonBy, splits: maxSplits, epochs: EPOCHS, workers: nWorkers,
    wallSeconds: Math.round((performance.now() - t0) / 100) / 10, cpuSeconds: Math.round((cpu.user + cpu.system) / 1e5) / 10 });
}
