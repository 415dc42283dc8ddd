import { AbortError, ArgumentError, DivergenceError, ShapeError, checkInt, checkNumber, describe } from './errors.js';
import { ForwardContext } from './layers/layer.js';
import type { LayerSparsity, Sequential } from './model.js';
import { countNonFinite } from './ops/elementwise.js';
import { clipGradNorm } from './ops/optim.js';
import { gaussianNll, mse } from './ops/loss.js';
import { Rng } from './ops/noise.js';
import { argmaxRows, softmaxCrossEntropy } from './ops/softmax.js';
import { Adam, Optimizer, optimizerFromState } from './optim.js';
import { Schedule, evalSchedule } from './schedule.js';
import { Tensor, assertFinite, copyRows } from './tensor.js';
import { SPLIT_STREAM, splitIndices, takeRows } from './data.js';
import { Callback, earlyStopping } from './callbacks.js';
import {
  batchSizeOption, booleanOption, callbackOption, checkSequential, earlyStoppingOption, inferredLoss, isOneHot, lossOption, optionsObject, scheduleOption, seedOption,
} from './validate.js';

/**
 * The data term of the loss, per sample:
 * - `'softmaxCrossEntropy'`: y are class indices; outputs are logits.
 * - `'mse'`: ½‖output − y‖²; y has `outputSize` values per sample.
 * - `'gaussianNll'`: outputs are [means, log-variances]; y has `outputSize / 2` values per sample.
 */
export type LossKind = 'softmaxCrossEntropy' | 'mse' | 'gaussianNll';

/**
 * Targets: class indices (Int32Array, Uint8Array, number[]) for classification, a flat
 * Float32Array for regression. With `loss: 'softmaxCrossEntropy'` given explicitly a
 * Float32Array of whole-number labels (one per sample) or of one-hot rows is accepted too.
 */
export type Targets = Int32Array | Uint8Array | number[] | Float32Array;

/** Everything reported at the end of an epoch. */
export interface EpochLog {
  /** 1-based epoch number (counting the epochs before `initialEpoch`). */
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
  /** Learning rate (after any callback's factor) and KL weight β of the epoch's last step. */
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
  /** Epoch (1-based, absolute) whose weights the model holds at the end (after a best-weights restore). */
  bestEpoch: number;
}

/** Logs of one training step, given to `onBatchBegin` (batch, size) and `onBatchEnd` (all fields). */
export interface BatchLogs {
  /** 0-based index of the step in its epoch. */
  batch: number;
  /** Samples in the batch. */
  size: number;
  /** Batch objective: mean data loss + β·KL/N (KL as of the last epoch end). Set at batch end. */
  loss?: number;
  /** Mean data loss of the batch. Set at batch end. */
  dataLoss?: number;
  /** Learning rate and KL weight β of the step. Set at batch end. */
  lr?: number;
  beta?: number;
}

/** Logs given to `onTrainBegin`. */
export interface TrainBeginLogs {
  /** Final epoch number (fit's `epochs`) and the epochs already done (`initialEpoch`). */
  epochs: number;
  initialEpoch: number;
  /** Steps per epoch and training / validation samples. */
  stepsPerEpoch: number;
  samples: number;
  validationSamples: number;
}

/**
 * What callbacks see of a running {@link fit} and what they may change: set `stopTraining` to
 * end it (after the current step, or at the end of the epoch from an epoch hook), scale the
 * learning rate through `lrFactor`, mark the history (early stopping sets `stoppedEarly` and
 * `bestEpoch`).
 */
export interface Training {
  readonly model: Sequential;
  /** The optimizer in use. */
  readonly optimizer: Optimizer;
  /** The data term. */
  readonly loss: LossKind;
  /** Final epoch number and the first epoch's 0-based index. */
  readonly epochs: number;
  readonly initialEpoch: number;
  readonly stepsPerEpoch: number;
  /** Validation metrics (`valLoss`, `valAccuracy`) are reported. */
  readonly hasValidation: boolean;
  /** The history being written. */
  readonly history: History;
  /** Set to true to stop training. */
  stopTraining: boolean;
  /** Multiplier on the learning rate of the optimizer or `lr` schedule (starts at 1). */
  lrFactor: number;
}

/** Early stopping on a metric of {@link EpochLog} (see {@link earlyStopping}). */
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
  /**
   * Final epoch number: training runs epochs `initialEpoch + 1 … epochs` (with `initialEpoch`
   * 0, `epochs` passes over the training set), as in Keras.
   */
  epochs: number;
  /**
   * Epochs already done (default 0), to resume an interrupted run: shuffling, noise, schedules
   * and epoch numbers continue where it stopped. With no `optimizer` given, the optimizer state
   * kept in the model (by its last `fit` or its file) is resumed, so a run saved after epoch k
   * and resumed with `initialEpoch: k` gives the same bits as one that never stopped.
   */
  initialEpoch?: number;
  /** Samples per step (default 100). */
  batchSize?: number;
  /**
   * Fixed batches of training rows (indices into `x`) instead of `batchSize`, e.g. the buckets
   * of `bucketByLength`, so a recurrent layer with `masking` runs each batch only over its own
   * length: every epoch runs each batch once, in a seeded shuffled order when `shuffle`. Not
   * with `validationSplit`.
   */
  batches?: readonly ArrayLike<number>[];
  /** Optimizer (default Adam with lr 1e-3; when resuming, the model's saved optimizer). */
  optimizer?: Optimizer;
  /** Learning-rate schedule overriding the optimizer's own lr (per epoch). */
  lr?: Schedule;
  /** KL weight β (default 1): loss = data + β·KL/N. E.g. `schedules.linear({ start: 5, end: 20 })`. */
  klWeight?: Schedule;
  /**
   * Data term. Default: cross-entropy for integer label arrays, MSE for Float32Array targets;
   * a Float32Array that looks like labels or one-hot rows for a model with several outputs is
   * ambiguous and needs `loss` (ArgumentError otherwise).
   */
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
  /** Stop when a metric stops improving (the same as adding `callbacks.earlyStopping(...)`). */
  earlyStopping?: EarlyStopping;
  /** Called in order at the start and end of training, of every epoch and of every step. */
  callbacks?: Callback[];
  /** Called after every epoch with its log; return `false` to stop training. */
  onEpochEnd?: (log: EpochLog) => void | boolean;
  /** Called after every step with its index in the epoch and the batch objective (data loss + β·KL/N, KL as of the last epoch end). */
  onBatchEnd?: (batch: number, loss: number) => void;
  /** Progress bar on a Node TTY (default true; never in browsers or when not a TTY). */
  progress?: boolean;
}

/** Options of {@link fitAsync}: those of {@link fit} and how it shares the thread. */
export interface FitAsyncOptions extends FitOptions {
  /** Aborting it stops training at the next step boundary; the promise rejects with {@link AbortError}. */
  signal?: AbortSignal;
  /** Longest stretch of work between two yields to the event loop, in ms (default 16). */
  yieldEvery?: number;
}

interface Split {
  x: Float32Array;
  labels?: Int32Array;
  targets?: Float32Array;
  n: number;
}

/** A point where the loop may pause: undefined, or a callback's promise to wait for. */
type Pause = PromiseLike<unknown> | undefined;
type Loop<T> = Generator<Pause, T, void>;

function checkTargets(model: Sequential, loss: LossKind, y: unknown, n: number, name: string): { labels?: Int32Array; targets?: Float32Array } {
  const C = model.outputSize;
  if (loss === 'softmaxCrossEntropy') {
    if (y instanceof Float32Array && y.length === n * C && C > 1 && isOneHot(y, n, C)) {
      const labels = new Int32Array(n);
      for (let i = 0; i < n; i++) labels[i] = y.subarray(i * C, i * C + C).indexOf(1);
      return { labels };
    }
    if (!(y instanceof Int32Array || y instanceof Uint8Array || y instanceof Float32Array || Array.isArray(y))) {
      throw new ArgumentError(name, 'class indices (Int32Array, Uint8Array or number[])', describe(y));
    }
    if (y.length !== n) throw new ShapeError(name, `${n} labels (one per sample)${y instanceof Float32Array ? ` or ${n * C} one-hot values` : ''}`, `${y.length}`);
    const labels = Int32Array.from(y as ArrayLike<number>);
    for (let i = 0; i < n; i++) {
      const v = (y as ArrayLike<number>)[i];
      if (!(Number.isInteger(v) && v >= 0 && v < C)) throw new ArgumentError(`${name}[${i}]`, `a class index in [0, ${C})`, describe(v));
    }
    return { labels };
  }
  if (!(y instanceof Float32Array)) throw new ArgumentError(name, 'a Float32Array of regression targets', describe(y));
  const per = loss === 'gaussianNll' ? C / 2 : C;
  if (!Number.isInteger(per) || per < 1) throw new ShapeError('model output', 'an even number of outputs (means, log-variances) for gaussianNll', `${C}`);
  if (y.length !== n * per) {
    const why = y.length === n && per > 1 ? ` (one per sample: a Float32Array holds regression targets, ${per} per sample for this model; class labels go in an Int32Array)` : '';
    const hint = loss === 'mse' && C % 2 === 0 && y.length === (n * C) / 2 ? "; for [mean, log-variance] outputs set loss: 'gaussianNll'" : '';
    throw new ShapeError(name, `${n * per} values (${per} per sample)${hint}`, `${y.length}${why}`);
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
  copyRows(s.targets!, per, rows, tBuf.t.view());
  const sum = kind === 'mse' ? mse(out, tBuf.t, { grad, scale }) : gaussianNll(out, tBuf.t, { grad, scale });
  return { sum, correct: 0 };
}

/**
 * Evaluate with deterministic mean weights: mean data loss per sample and, for classifiers,
 * accuracy. `loss` as in {@link FitOptions.loss}; `batchSize` (default 256) only bounds memory.
 */
export function evaluate(model: Sequential, x: Float32Array, y: Targets, opts: { batchSize?: number; loss?: LossKind } = {}): { loss: number; accuracy?: number } {
  checkSequential('model', model);
  const o = optionsObject('options', opts);
  const bs = batchSizeOption(o.batchSize, 256);
  const n = model.checkX(x);
  const kind: LossKind = lossOption(o.loss) ?? inferredLoss(y, model.outputSize, n);
  const s: Split = { x, n, ...checkTargets(model, kind, y, n, 'y') };
  return runSync(evalLoop(model, kind, s, bs));
}

function* evalLoop(model: Sequential, kind: LossKind, s: Split, bs: number): Loop<{ loss: number; accuracy?: number }> {
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
      yield;
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

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Train `model` on (x, y) by minimising the negative ELBO per sample,
 * data loss + β·KL/N, with mini-batches, per-epoch shuffling, an optimizer and schedules.
 * `x`: n samples of the model's input shape, flat; `y`: see {@link Targets}.
 * Every option is checked before any weight changes. Training that produces NaN/Inf stops with
 * {@link DivergenceError} before the bad step is applied, so the weights stay at the last good
 * state. Callbacks must be synchronous here (see {@link fitAsync}).
 */
export function fit(model: Sequential, x: Float32Array, y: Targets, opts: FitOptions): History {
  return runSync(trainLoop(model, x, y, opts));
}

/**
 * {@link fit} that shares the thread: the same options, the same steps and the same bits, but
 * it returns a Promise and yields to the event loop at least every `yieldEvery` ms (at step
 * boundaries, so one step is the longest task), awaits callbacks that return promises, and
 * stops at the next step boundary when `signal` aborts, rejecting with {@link AbortError}: the
 * model then holds the weights and optimizer state of the last completed step (its
 * `trainingState.epoch` counts the completed epochs).
 */
export async function fitAsync(model: Sequential, x: Float32Array, y: Targets, opts: FitAsyncOptions): Promise<History> {
  const signal = opts?.signal;
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof signal.aborted === 'boolean')) {
    throw new ArgumentError('signal', 'an AbortSignal', describe(signal));
  }
  const every = checkNumber('yieldEvery', opts?.yieldEvery ?? 16, 0);
  return runAsync(trainLoop(model, x, y, opts), every, signal);
}

/** Drive a loop to its end in one go; a callback's promise is an error here. */
function runSync<T>(g: Loop<T>): T {
  let r = g.next();
  while (!r.done) {
    if (r.value === undefined) r = g.next();
    else {
      Promise.resolve(r.value).catch(() => {}); // reported below instead
      r = g.throw(new ArgumentError('callbacks', 'synchronous callbacks in fit (use fitAsync for callbacks returning promises)', 'a Promise'));
    }
  }
  return r.value;
}

/** Run `f` after the event loop had its turn (a macrotask: I/O, rendering and messages run first). */
function macrotask(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => void; MessageChannel?: typeof MessageChannel };
  return new Promise((resolve) => {
    if (g.setImmediate) g.setImmediate(resolve);
    else if (g.MessageChannel) {
      const ch = new g.MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        resolve();
      };
      ch.port2.postMessage(0);
    } else setTimeout(resolve, 0);
  });
}

function aborted(signal: AbortSignal): AbortError {
  const why = signal.reason instanceof Error ? signal.reason.message : describe(signal.reason);
  return new AbortError('signal', 'training to run to its end', `an abort (${why})`);
}

/** Drive a loop, yielding to the event loop every `every` ms and stopping when `signal` aborts. */
async function runAsync<T>(g: Loop<T>, every: number, signal?: AbortSignal): Promise<T> {
  if (signal?.aborted) throw aborted(signal);
  let last = now();
  let r = g.next();
  while (!r.done) {
    let err: unknown = null;
    try {
      if (r.value !== undefined) await r.value;
      if (now() - last >= every) {
        await macrotask();
        last = now();
      }
      if (signal?.aborted) throw aborted(signal);
    } catch (e) {
      err = e;
    }
    r = err === null ? g.next() : g.throw(err);
  }
  return r.value;
}

/** Calls each callback's hook in order; hooks returning promises are passed to the driver. */
function* notify(cbs: readonly Callback[], call: (c: Callback) => unknown): Generator<Pause, void, void> {
  for (const c of cbs) {
    const r = call(c);
    if (isThenable(r)) yield r;
  }
}

/** The legacy per-option hooks as a callback. */
function optionHooks(opts: FitOptions): Callback | null {
  const onEpochEnd = callbackOption('onEpochEnd', opts.onEpochEnd), onBatchEnd = callbackOption('onBatchEnd', opts.onBatchEnd);
  if (!onEpochEnd && !onBatchEnd) return null;
  return {
    onEpochEnd: onEpochEnd && ((_e, log, t) => {
      if (onEpochEnd(log) === false) t.stopTraining = true;
    }),
    onBatchEnd: onBatchEnd && ((b, logs) => onBatchEnd(b, logs.loss!)),
  };
}

const HOOKS = ['onTrainBegin', 'onTrainEnd', 'onEpochBegin', 'onEpochEnd', 'onBatchBegin', 'onBatchEnd'] as const;

function checkCallbacks(v: unknown): Callback[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ArgumentError('callbacks', 'an array of callback objects', describe(v));
  v.forEach((c, i) => {
    if (typeof c !== 'object' || c === null) throw new ArgumentError(`callbacks[${i}]`, 'an object with hooks (onEpochEnd, …)', describe(c));
    for (const h of HOOKS) {
      callbackOption(`callbacks[${i}].${h}`, (c as Record<string, unknown>)[h]);
    }
  });
  return v as Callback[];
}

/** Checked {@link FitOptions.batches}: non-empty batches of row indices in [0, n). */
function batchesOption(v: unknown, n: number, split: unknown): Int32Array[] {
  if (split !== undefined && split !== 0) throw new ArgumentError('validationSplit', 'no split when batches are given (their indices are rows of x)', describe(split));
  if (!Array.isArray(v) || v.length === 0) throw new ArgumentError('batches', 'a non-empty array of batches of row indices', describe(v));
  return v.map((b, i) => {
    const len = (b as ArrayLike<number>)?.length;
    if (typeof b !== 'object' || b === null || !Number.isInteger(len) || len < 1) throw new ArgumentError(`batches[${i}]`, 'a non-empty array of row indices', describe(b));
    const out = Int32Array.from(b as ArrayLike<number>);
    for (let j = 0; j < len; j++) {
      const r = (b as ArrayLike<number>)[j];
      if (!(Number.isInteger(r) && r >= 0 && r < n)) throw new ArgumentError(`batches[${i}][${j}]`, `a row index in [0, ${n})`, describe(r));
    }
    return out;
  });
}

/** The one training loop behind {@link fit} and {@link fitAsync}; it yields at step boundaries. */
function* trainLoop(model: Sequential, x: Float32Array, y: Targets, opts: FitOptions): Loop<History> {
  // 1. Check every option (nothing changes until all are valid).
  checkSequential('model', model);
  if (!opts || typeof opts !== 'object') throw new ArgumentError('options', 'an options object with epochs', describe(opts));
  if (model.isTraining) throw new ArgumentError('model', 'a model not already training', 'a model in a running fit');
  const epochs = checkInt('epochs', opts.epochs, 1);
  const initialEpoch = checkInt('initialEpoch', opts.initialEpoch ?? 0, 0, epochs);
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
  const batches = opts.batches === undefined ? null : batchesOption(opts.batches, train.n, opts.validationSplit);
  const seed = seedOption(opts.seed, model.seed);
  const N = opts.datasetSize === undefined ? train.n : checkInt('datasetSize', opts.datasetSize, 1);
  const clip = opts.clipNorm === undefined ? 0 : checkNumber('clipNorm', opts.clipNorm, Number.MIN_VALUE);
  if (opts.optimizer !== undefined && !(opts.optimizer instanceof Optimizer)) throw new ArgumentError('optimizer', 'an Optimizer (SGD, Adam, RMSProp)', describe(opts.optimizer));
  scheduleOption('lr', opts.lr, initialEpoch);
  scheduleOption('klWeight', opts.klWeight, initialEpoch);
  const shuffle = booleanOption('shuffle', opts.shuffle, true);
  const progress = booleanOption('progress', opts.progress, true);
  const cbs: Callback[] = [];
  const legacy = optionHooks(opts);
  if (legacy) cbs.push(legacy);
  cbs.push(...checkCallbacks(opts.callbacks));
  // Checked against what this training reports (validation metrics, accuracies) right here.
  earlyStoppingOption(opts.earlyStopping, val !== undefined, kind === 'softmaxCrossEntropy');
  if (opts.earlyStopping !== undefined) cbs.push(earlyStopping(opts.earlyStopping));
  const params = model.params();
  const saved = initialEpoch > 0 && opts.optimizer === undefined ? model.trainingState?.optimizer ?? null : null;
  // An optimizer made here (or rebuilt from the model's saved state) is freed at the end; one
  // passed in keeps its state for this model until the model trains with another one or is
  // disposed (see Optimizer).
  const optimizer = opts.optimizer ?? (saved ? optimizerFromState(params, saved) : new Adam({ lr: 1e-3 }));
  if (opts.optimizer) bindOptimizer(model, opts.optimizer);

  const rng = new Rng(seed, 0x5eed, model.rt);
  const order = Int32Array.from({ length: batches ? batches.length : train.n }, (_, i) => i);
  // Resuming: replay the shuffles of the epochs done, so each epoch sees the same order.
  if (shuffle) for (let e = 0; e < initialEpoch; e++) rng.shuffle(order);
  const stepsPerEpoch = batches ? batches.length : Math.ceil(train.n / bs);
  const history: History = { epochs: [], stoppedEarly: false, bestEpoch: initialEpoch };
  const t: Training = {
    model, optimizer, loss: kind, epochs, initialEpoch, stepsPerEpoch, hasValidation: val !== undefined, history,
    stopTraining: false, lrFactor: 1,
  };
  const dOut = { t: undefined as Tensor | undefined };
  const tBuf: { t?: Tensor } = {};
  const bar = new ProgressBar(progress);
  let step = initialEpoch * stepsPerEpoch;
  let epochsDone = initialEpoch, stepped = false, ok = false;
  const before = model.trainingState;
  model.isTraining = true;

  try {
    yield* notify(cbs, (c) => c.onTrainBegin?.({ epochs, initialEpoch, stepsPerEpoch, samples: train.n, validationSamples: val?.n ?? 0 }, t));
    model.setTrainingState({ epoch: epochsDone, loss: kind, optimizer });
    // KL of the whole model, refreshed at the end of every epoch (the steps only need its gradient).
    let klKnown = model.kl();
    for (let e = initialEpoch; e < epochs && !t.stopTraining; e++) {
      yield* notify(cbs, (c) => c.onEpochBegin?.(e, t));
      const t0 = now();
      if (shuffle) rng.shuffle(order);
      let dataSum = 0, correct = 0, seen = 0, lr = 0, beta = 0;
      for (let b = 0; b < stepsPerEpoch && !t.stopTraining; b++) {
        const frac = b / stepsPerEpoch;
        lr = (opts.lr === undefined ? optimizer.lr : evalSchedule('lr', opts.lr, e, frac)) * t.lrFactor;
        beta = evalSchedule('klWeight', opts.klWeight ?? 1, e, frac);
        const rows = batches ? batches[order[b]] : order.subarray(b * bs, Math.min((b + 1) * bs, train.n));
        const B = rows.length;
        if (cbs.length) yield* notify(cbs, (c) => c.onBatchBegin?.(b, { batch: b, size: B }, t));
        for (const p of params) p.grad.view().fill(0);
        // KL gradients only (its value costs a pass the step does not need); none while β = 0.
        // Layers that can fuse them into the forward do so (ctx.klGradScale).
        const klScale = beta > 0 ? beta / N : undefined;
        const ctx: ForwardContext = { training: true, sample: false, seed, step: step++, klGradScale: klScale, rows };
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
        stepped = true;
        for (const l of model.layers) l.constrain();
        dataSum += r.sum;
        correct += r.correct;
        seen += B;
        if (cbs.length) yield* notify(cbs, (c) => c.onBatchEnd?.(b, { batch: b, size: B, loss: batchLoss, dataLoss: r.sum / B, lr, beta }, t));
        bar.update(e + 1, epochs, (b + 1) / stepsPerEpoch, dataSum / seen);
        yield;
      }
      const seconds = (now() - t0) / 1000;
      klKnown = model.kl();
      const log: EpochLog = {
        epoch: e + 1,
        loss: dataSum / seen + (beta * klKnown) / N,
        dataLoss: dataSum / seen,
        kl: klKnown,
        lr,
        beta,
        sparsity: model.sparsity(),
        compression: model.compression(),
        seconds,
      };
      if (kind === 'softmaxCrossEntropy') log.accuracy = correct / seen;
      if (val) {
        const v = yield* evalLoop(model, kind, val, 256);
        log.valLoss = v.loss;
        if (v.accuracy !== undefined) log.valAccuracy = v.accuracy;
      }
      history.epochs.push(log);
      history.bestEpoch = e + 1;
      epochsDone = e + 1;
      model.setTrainingState({ epoch: epochsDone, loss: kind, optimizer });
      bar.done(log);
      yield* notify(cbs, (c) => c.onEpochEnd?.(e, log, t));
      yield;
    }
    yield* notify(cbs, (c) => c.onTrainEnd?.(history, t));
    ok = true;
  } finally {
    model.isTraining = false;
    dOut.t?.dispose();
    tBuf.t?.dispose();
    // Keep a copy of the optimizer state with the model (its files carry it), then free ours.
    try {
      if (stepped || ok) model.setTrainingState({ epoch: epochsDone, loss: kind, optimizer: optimizer.getState(params) });
      else model.setTrainingState(before);
    } catch (e) {
      if (ok) throw e; // otherwise the error that ended training is the one to report
    } finally {
      if (!opts.optimizer) optimizer.dispose();
    }
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
