import { ArgumentError, DivergenceError, ShapeError, checkInt, checkNumber, describe } from './errors.js';
import { ForwardContext } from './layers/layer.js';
import type { LayerSparsity, Sequential } from './model.js';
import { countNonFinite } from './ops/elementwise.js';
import { clipGradNorm } from './ops/optim.js';
import { gaussianNll, mse } from './ops/loss.js';
import { Rng } from './ops/noise.js';
import { argmaxRows, softmaxCrossEntropy } from './ops/softmax.js';
import { Adam, Optimizer } from './optim.js';
import { Schedule, evalSchedule } from './schedule.js';
import { Tensor, assertFinite } from './tensor.js';
import { SPLIT_STREAM, splitIndices, takeRows } from './data.js';
import {
  batchSizeOption, booleanOption, callbackOption, checkSequential, earlyStoppingOption, inferredLoss, lossOption, optionsObject, scheduleOption, seedOption,
} from './validate.js';

/**
 * The data term of the loss, per sample:
 * - `'softmaxCrossEntropy'`: y are class indices; outputs are logits.
 * - `'mse'`: ½‖output − y‖²; y has `outputSize` values per sample.
 * - `'gaussianNll'`: outputs are [means, log-variances]; y has `outputSize / 2` values per sample.
 */
export type LossKind = 'softmaxCrossEntropy' | 'mse' | 'gaussianNll';

/** Targets: class indices for classification, a flat Float32Array for regression. */
export type Targets = Int32Array | Uint8Array | number[] | Float32Array;

/** Everything reported at the end of an epoch. */
export interface EpochLog {
  /** 1-based epoch number. */
  epoch: number;
  /** Training objective per sample at the end of the epoch: mean data loss + β·KL/N. */
  loss: number;
  /** Mean data loss per sample on the training batches (stochastic forward). */
  dataLoss: number;
  /** KL(q ‖ prior) of the whole model in nats at the end of the epoch. */
  kl: number;
  /** Training accuracy on the (noisy) training batches, for classification. */
  accuracy?: number;
  /** Validation data loss per sample (deterministic mean weights). */
  valLoss?: number;
  /** Validation accuracy (deterministic mean weights), for classification. */
  valAccuracy?: number;
  /** Learning rate and KL weight β used in this epoch (at its start). */
  lr: number;
  beta: number;
  /** Weights kept per Bayesian layer, and the total compression (all / kept). */
  sparsity: LayerSparsity[];
  compression: number;
  /** Wall-clock seconds of the epoch (training only, without validation). */
  seconds: number;
}

/** Result of {@link fit}. */
export interface History {
  epochs: EpochLog[];
  /** True when early stopping ended training. */
  stoppedEarly: boolean;
  /** Epoch whose weights the model holds at the end (after a best-weights restore). */
  bestEpoch: number;
}

/** Early stopping on a metric of {@link EpochLog}. */
export interface EarlyStopping {
  /** Metric to watch (default `'valLoss'`). */
  monitor?: 'valLoss' | 'valAccuracy' | 'loss' | 'accuracy' | 'dataLoss';
  /** Epochs without improvement before stopping (default 5). */
  patience?: number;
  /** Smallest change that counts as improvement (default 0). */
  minDelta?: number;
  /** Put back the best epoch's weights at the end (default true). */
  restoreBestWeights?: boolean;
}

/** Options of {@link fit}. */
export interface FitOptions {
  /** Passes over the training set. */
  epochs: number;
  /** Samples per step (default 100). */
  batchSize?: number;
  /** Optimizer (default Adam with lr 1e-3). */
  optimizer?: Optimizer;
  /** Learning-rate schedule overriding the optimizer's own lr (per epoch). */
  lr?: Schedule;
  /** KL weight β (default 1): loss = data + β·KL/N. E.g. `schedules.linear({ start: 5, end: 20 })`. */
  klWeight?: Schedule;
  /** Data term (default: cross-entropy for integer labels, MSE for Float32Array targets). */
  loss?: LossKind;
  /**
   * Fraction in [0, 0.9] of the samples held out for validation (default 0): floor(n·fraction)
   * samples chosen by a shuffle seeded by `seed` (through the wasm generator), stratified by
   * class for a classifier, so a file sorted by class still validates on every class. Both
   * parts keep the samples' order.
   */
  validationSplit?: number;
  /** Separate validation set (instead of a split). */
  validationData?: { x: Float32Array; y: Targets };
  /** Reshuffle the training set every epoch (default true). */
  shuffle?: boolean;
  /** Seed of shuffling and noise (default: the model's). */
  seed?: number;
  /** N in β·KL/N (default: number of training samples). */
  datasetSize?: number;
  /** Clip the global L2 norm of all gradients to this (default: no clipping). */
  clipNorm?: number;
  /** Stop when a metric stops improving. */
  earlyStopping?: EarlyStopping;
  /** Called after every epoch with its log; return `false` to stop training. */
  onEpochEnd?: (log: EpochLog) => void | boolean;
  /** Called after every step with its index in the epoch and the batch objective (data loss + β·KL/N, KL as of the last epoch end). */
  onBatchEnd?: (batch: number, loss: number) => void;
  /** Progress bar on a Node TTY (default true; never in browsers or when not a TTY). */
  progress?: boolean;
}

interface Split {
  x: Float32Array;
  labels?: Int32Array;
  targets?: Float32Array;
  n: number;
}

function checkTargets(model: Sequential, loss: LossKind, y: unknown, n: number, name: string): { labels?: Int32Array; targets?: Float32Array } {
  if (loss === 'softmaxCrossEntropy') {
    if (!(y instanceof Int32Array || y instanceof Uint8Array || Array.isArray(y))) {
      throw new ArgumentError(name, 'class indices (Int32Array, Uint8Array or number[])', describe(y));
    }
    if (y.length !== n) throw new ShapeError(name, `${n} labels (one per sample)`, `${y.length}`);
    const C = model.outputSize;
    const labels = Int32Array.from(y as ArrayLike<number>);
    for (let i = 0; i < n; i++) {
      const v = (y as ArrayLike<number>)[i];
      if (!(Number.isInteger(v) && v >= 0 && v < C)) throw new ArgumentError(`${name}[${i}]`, `a class index in [0, ${C})`, describe(v));
    }
    return { labels };
  }
  if (!(y instanceof Float32Array)) throw new ArgumentError(name, 'a Float32Array of regression targets', describe(y));
  const per = loss === 'gaussianNll' ? model.outputSize / 2 : model.outputSize;
  if (!Number.isInteger(per) || per < 1) throw new ShapeError('model output', 'an even number of outputs (means, log-variances) for gaussianNll', `${model.outputSize}`);
  if (y.length !== n * per) {
    const why = y.length === n && per > 1 ? ` (one per sample: a Float32Array holds regression targets, ${per} per sample for this model; class labels go in an Int32Array)` : '';
    throw new ShapeError(name, `${n * per} values (${per} per sample)`, `${y.length}${why}`);
  }
  assertFinite(name, y);
  return { targets: y };
}

/** Data loss of a batch (sum over samples) and dOut = scale·∂/∂out when `grad` is given. */
function dataLoss(kind: LossKind, out: Tensor, s: Split, rows: ArrayLike<number>, tBuf: { t?: Tensor }, grad: Tensor | undefined, scale: number): { sum: number; correct: number } {
  const B = rows.length;
  if (kind === 'softmaxCrossEntropy') {
    const lb = new Int32Array(B);
    for (let i = 0; i < B; i++) lb[i] = s.labels![rows[i]];
    const sum = softmaxCrossEntropy(out, lb, { scale, dLogits: grad });
    const pred = argmaxRows(out);
    let correct = 0;
    for (let i = 0; i < B; i++) if (pred[i] === lb[i]) correct++;
    return { sum, correct };
  }
  const per = s.targets!.length / s.n;
  if (!tBuf.t || tBuf.t.shape[0] !== B) {
    tBuf.t?.dispose();
    tBuf.t = Tensor.zeros([B, per], out.rt);
  }
  const tv = tBuf.t.view();
  for (let i = 0; i < B; i++) tv.set(s.targets!.subarray(rows[i] * per, rows[i] * per + per), i * per);
  const sum = kind === 'mse' ? mse(out, tBuf.t, { grad, scale }) : gaussianNll(out, tBuf.t, { grad, scale });
  return { sum, correct: 0 };
}

/**
 * Evaluate with deterministic mean weights: mean data loss per sample and, for classifiers,
 * accuracy.
 */
export function evaluate(model: Sequential, x: Float32Array, y: Targets, opts: { batchSize?: number; loss?: LossKind } = {}): { loss: number; accuracy?: number } {
  checkSequential('model', model);
  const o = optionsObject('options', opts);
  const bs = batchSizeOption(o.batchSize, 256);
  const n = model.checkX(x);
  const kind = lossOption(o.loss) ?? inferredLoss(y, model.outputSize, n);
  const s: Split = { x, n, ...checkTargets(model, kind, y, n, 'y') };
  return evalSplit(model, kind, s, bs);
}

function evalSplit(model: Sequential, kind: LossKind, s: Split, bs: number): { loss: number; accuracy?: number } {
  const ctx: ForwardContext = { training: false, sample: false, seed: model.seed, step: 0 };
  const tBuf: { t?: Tensor } = {};
  let sum = 0, correct = 0;
  try {
    for (let st = 0; st < s.n; st += bs) {
      const c = Math.min(bs, s.n - st);
      const rows = Array.from({ length: c }, (_, i) => st + i);
      const out = model.forward(model.loadBatch(s.x, { start: st, count: c }), ctx);
      const r = dataLoss(kind, out, s, rows, tBuf, undefined, 1);
      sum += r.sum;
      correct += r.correct;
    }
  } finally {
    tBuf.t?.dispose();
  }
  return kind === 'softmaxCrossEntropy' ? { loss: sum / s.n, accuracy: correct / s.n } : { loss: sum / s.n };
}

/** The optimizer each model last trained with: the one whose state it keeps. */
const boundOptimizers = new WeakMap<Sequential, Optimizer>();

function bindOptimizer(model: Sequential, optimizer: Optimizer): void {
  const prev = boundOptimizers.get(model);
  if (prev && prev !== optimizer) prev.release(model.params());
  boundOptimizers.set(model, optimizer);
}

/** @internal Free the state the model's last optimizer keeps for its parameters (on dispose). */
export function releaseOptimizer(model: Sequential): void {
  boundOptimizers.get(model)?.release(model.params());
  boundOptimizers.delete(model);
}

/** The samples `idx` of a split. */
function takeSplit(s: Split, per: number, idx: Int32Array): Split {
  const t = s.targets ? takeRows(s.targets, s.targets.length / s.n, idx) : undefined;
  return { x: takeRows(s.x, per, idx), n: idx.length, labels: s.labels ? takeRows(s.labels, 1, idx) : undefined, targets: t };
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * Train `model` on (x, y) by minimising the negative ELBO per sample,
 * data loss + β·KL/N, with mini-batches, per-epoch shuffling, an optimizer and schedules.
 * Training that produces NaN/Inf stops with {@link DivergenceError} before the bad step is
 * applied, so the weights stay at the last good state.
 */
export function fit(model: Sequential, x: Float32Array, y: Targets, opts: FitOptions): History {
  // Every option is checked here, before anything changes.
  checkSequential('model', model);
  if (!opts || typeof opts !== 'object') throw new ArgumentError('options', 'an options object with epochs', describe(opts));
  const epochs = checkInt('epochs', opts.epochs, 1);
  const bs = batchSizeOption(opts.batchSize, 100);
  const nAll = model.checkX(x);
  const kind: LossKind = lossOption(opts.loss) ?? inferredLoss(y, model.outputSize, nAll);
  const all: Split = { x, n: nAll, ...checkTargets(model, kind, y, nAll, 'y') };
  const per = model.inputSize;
  let train = all, val: Split | undefined;
  if (opts.validationData !== undefined) {
    if (opts.validationSplit !== undefined && opts.validationSplit !== 0) {
      throw new ArgumentError('validationSplit', 'no split when validationData is given', describe(opts.validationSplit));
    }
    const vd = optionsObject('validationData', opts.validationData);
    const vn = model.checkX(vd.x, 'validationData.x');
    val = { x: vd.x!, n: vn, ...checkTargets(model, kind, vd.y, vn, 'validationData.y') };
  } else if (opts.validationSplit !== undefined) {
    const f = checkNumber('validationSplit', opts.validationSplit, 0, 0.9);
    const nv = Math.floor(nAll * f);
    if (nv > 0) {
      const parts = splitIndices(nAll, nv, seedOption(opts.seed, model.seed), SPLIT_STREAM, all.labels, true, model.rt);
      train = takeSplit(all, per, parts.train);
      val = takeSplit(all, per, parts.test);
    }
  }
  const seed = seedOption(opts.seed, model.seed);
  const N = opts.datasetSize === undefined ? train.n : checkInt('datasetSize', opts.datasetSize, 1);
  const clip = opts.clipNorm === undefined ? 0 : checkNumber('clipNorm', opts.clipNorm, Number.MIN_VALUE);
  if (opts.optimizer !== undefined && !(opts.optimizer instanceof Optimizer)) throw new ArgumentError('optimizer', 'an Optimizer (SGD, Adam, RMSProp)', describe(opts.optimizer));
  scheduleOption('lr', opts.lr, 0);
  scheduleOption('klWeight', opts.klWeight, 0);
  const shuffle = booleanOption('shuffle', opts.shuffle, true);
  const progress = booleanOption('progress', opts.progress, true);
  callbackOption('onEpochEnd', opts.onEpochEnd);
  callbackOption('onBatchEnd', opts.onBatchEnd);
  const es = earlyStoppingOption(opts.earlyStopping, val !== undefined, kind === 'softmaxCrossEntropy');
  const monitor = es?.monitor ?? 'valLoss';
  const patience = es?.patience ?? 0;
  const minDelta = es?.minDelta ?? 0;
  const maximize = es?.maximize ?? false;
  // An optimizer made here is freed at the end; one passed in keeps its state for this model
  // until the model trains with another one or is disposed (see Optimizer).
  const optimizer = opts.optimizer ?? new Adam({ lr: 1e-3 });
  if (opts.optimizer) bindOptimizer(model, opts.optimizer);

  const params = model.params();
  // What a best-weights restore puts back: the parameters and every layer's non-trainable state.
  const restorable = [...params.map((p) => p.value), ...model.layers.flatMap((l) => l.state().map((s) => s.value))];
  const rng = new Rng(seed, 0x5eed, model.rt);
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  const dOut = { t: undefined as Tensor | undefined };
  const tBuf: { t?: Tensor } = {};
  const history: History = { epochs: [], stoppedEarly: false, bestEpoch: 0 };
  let best = maximize ? -Infinity : Infinity, bestWeights: Float32Array[] | null = null, wait = 0;
  const bar = new ProgressBar(progress);
  const stepsPerEpoch = Math.ceil(train.n / bs);
  let step = 0;
  // KL of the whole model, refreshed at the end of every epoch (the steps only need its gradient).
  let klKnown = model.kl();

  try {
    for (let e = 0; e < epochs; e++) {
      const t0 = now();
      if (shuffle) rng.shuffle(order);
      let dataSum = 0, correct = 0, lr = 0, beta = 0;
      for (let b = 0; b < stepsPerEpoch; b++) {
        const frac = b / stepsPerEpoch;
        lr = opts.lr === undefined ? optimizer.lr : evalSchedule('lr', opts.lr, e, frac);
        beta = evalSchedule('klWeight', opts.klWeight ?? 1, e, frac);
        const rows = order.subarray(b * bs, Math.min((b + 1) * bs, train.n));
        const B = rows.length;
        for (const p of params) p.grad.view().fill(0);
        // KL gradients only (its value costs a pass the step does not need); none while β = 0.
        // Layers that can fuse them into the forward do so (ctx.klGradScale).
        const klScale = beta > 0 ? beta / N : undefined;
        const ctx: ForwardContext = { training: true, sample: false, seed, step: step++, klGradScale: klScale };
        const out = model.forward(model.loadBatch(train.x, rows), ctx);
        if (!dOut.t || dOut.t.shape[0] !== out.shape[0]) {
          dOut.t?.dispose();
          dOut.t = Tensor.zeros(out.shape, model.rt);
        }
        const r = dataLoss(kind, out, train, rows, tBuf, dOut.t, 1 / B);
        model.backward(dOut.t);
        if (klScale !== undefined) model.kl(klScale, false);
        const batchLoss = r.sum / B + (beta * klKnown) / N;
        if (!Number.isFinite(batchLoss)) {
          throw new DivergenceError('loss', 'a finite training loss', `${batchLoss} at epoch ${e + 1}, step ${b + 1}; weights kept at the last good step`);
        }
        for (const p of params) {
          if (countNonFinite(p.grad) > 0) {
            throw new DivergenceError(`${p.name} gradient`, 'finite values', `NaN/Inf at epoch ${e + 1}, step ${b + 1}; weights kept at the last good step`);
          }
        }
        if (clip) clipGradNorm(params.map((p) => p.grad), clip);
        optimizer.step(params, lr);
        for (const l of model.layers) l.constrain();
        dataSum += r.sum;
        correct += r.correct;
        opts.onBatchEnd?.(b, batchLoss);
        bar.update(e + 1, epochs, (b + 1) / stepsPerEpoch, dataSum / Math.min((b + 1) * bs, train.n));
      }
      const seconds = (now() - t0) / 1000;
      klKnown = model.kl();
      const log: EpochLog = {
        epoch: e + 1,
        loss: dataSum / train.n + (beta * klKnown) / N,
        dataLoss: dataSum / train.n,
        kl: klKnown,
        lr,
        beta,
        sparsity: model.sparsity(),
        compression: model.compression(),
        seconds,
      };
      if (kind === 'softmaxCrossEntropy') log.accuracy = correct / train.n;
      if (val) {
        const v = evalSplit(model, kind, val, 256);
        log.valLoss = v.loss;
        if (v.accuracy !== undefined) log.valAccuracy = v.accuracy;
      }
      history.epochs.push(log);
      bar.done(log);
      const stop = opts.onEpochEnd?.(log) === false;
      if (!es) history.bestEpoch = e + 1;
      else {
        const m = log[monitor]!;
        if (maximize ? m > best + minDelta : m < best - minDelta) {
          best = m;
          wait = 0;
          if (es.restoreBestWeights) bestWeights = restorable.map((t) => t.toArray());
          history.bestEpoch = e + 1;
        } else if (++wait > patience) {
          history.stoppedEarly = true;
          break;
        }
      }
      if (stop) break;
    }
    if (bestWeights) restorable.forEach((t, i) => t.set(bestWeights![i]));
    else if (es) history.bestEpoch = history.epochs.length;
  } finally {
    dOut.t?.dispose();
    tBuf.t?.dispose();
    if (!opts.optimizer) optimizer.dispose();
  }
  return history;
}

/** One-line progress bar on a Node TTY; silent elsewhere. */
class ProgressBar {
  private readonly out: { write(s: string): void; isTTY?: boolean } | null;

  constructor(enabled: boolean) {
    const p = (globalThis as { process?: { stdout?: { write(s: string): void; isTTY?: boolean } } }).process;
    const isBrowser = typeof (globalThis as { window?: unknown }).window !== 'undefined';
    this.out = enabled && !isBrowser && p?.stdout?.isTTY ? p.stdout : null;
  }

  update(epoch: number, epochs: number, frac: number, loss: number): void {
    if (!this.out) return;
    const w = 30, k = Math.round(frac * w);
    this.out.write(`\repoch ${epoch}/${epochs} [${'='.repeat(k)}${' '.repeat(w - k)}] loss ${loss.toFixed(4)}`);
  }

  done(log: EpochLog): void {
    if (!this.out) return;
    const acc = log.accuracy === undefined ? '' : ` acc ${(log.accuracy * 100).toFixed(2)}%`;
    const val = log.valAccuracy === undefined ? (log.valLoss === undefined ? '' : ` val_loss ${log.valLoss.toFixed(4)}`) : ` val_acc ${(log.valAccuracy * 100).toFixed(2)}%`;
    this.out.write(`\repoch ${log.epoch}: loss ${log.loss.toFixed(4)}${acc}${val} kl ${log.kl.toFixed(0)} x${log.compression.toFixed(1)} ${log.seconds.toFixed(1)}s\n`);
  }
}
