import { ArgumentError, NonFiniteError, ShapeError, checkInt, checkNumber, describe } from './errors.js';
import { firstNonFinite } from './ops/elementwise.js';
import type { Tensor } from './tensor.js';
import { Runtime, runtime } from './runtime/runtime.js';

// Argument checks of the public entry points (Sequential, fit, evaluate, the predict methods,
// the optimizers). Each entry point runs its checks in one pass before it changes any state,
// so a bad argument throws a typed error and leaves the model as it was. Internal: src/index.ts
// exports none of these.

/** Largest batch size any entry point accepts (the predict methods and evaluate alike). */
export const MAX_BATCH_SIZE = 2 ** 31 - 1;

/**
 * An options argument: `undefined` becomes `{}`, anything but a plain object throws.
 * @internal
 */
export function optionsObject<T extends object>(name: string, opts: T | undefined): Partial<T> {
  if (opts === undefined) return {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new ArgumentError(name, 'an options object', describe(opts));
  }
  return opts;
}

/** @internal `batchSize` of the predict methods, evaluate and fit: an integer in [1, 2^31). */
export function batchSizeOption(v: unknown, dflt: number, name = 'batchSize'): number {
  return checkInt(name, v ?? dflt, 1, MAX_BATCH_SIZE);
}

/** @internal A 32-bit unsigned seed option (`undefined` gives `dflt`). */
export function seedOption(v: unknown, dflt: number, name = 'seed'): number {
  return v === undefined ? dflt : checkInt(name, v, 0, 2 ** 32 - 1);
}

/** @internal An optional boolean option. */
export function booleanOption(name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ArgumentError(name, 'a boolean', describe(v));
  return v;
}

/** @internal An optional callback option. */
export function callbackOption<F>(name: string, v: F | undefined): F | undefined {
  if (v !== undefined && typeof v !== 'function') throw new ArgumentError(name, 'a function', describe(v));
  return v;
}

/** @internal A per-sample shape of a model: a non-empty array of positive integers, at most 2^30 elements. */
export function modelShape(name: string, s: unknown): number[] {
  if (!Array.isArray(s) || s.length === 0) throw new ShapeError(name, 'a non-empty array of dimensions', describe(s));
  let n = 1;
  for (const d of s) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) {
      throw new ShapeError(name, 'positive integer dimensions', `[${s.map((e) => describe(e)).join(', ')}]`);
    }
    n *= d;
  }
  if (n > 2 ** 30) throw new ShapeError(name, 'at most 2^30 elements', `[${s.join(', ')}] (${n} elements)`);
  return s.slice();
}

/** @internal A number in [0, 1) that stays below 1 in float32 (decay rates of the optimizers). */
export function decayRate(name: string, v: unknown): number {
  const r = checkNumber(name, v, 0, 1);
  if (Math.fround(r) >= 1) throw new ArgumentError(name, 'a number in [0, 1) (below 1 in float32)', String(r));
  return r;
}

/** @internal A finite number > 0 that stays > 0 in float32 (denominator floors). */
export function positiveF32(name: string, v: unknown): number {
  const r = checkNumber(name, v, 0);
  if (!(Math.fround(r) > 0)) throw new ArgumentError(name, 'a finite number > 0 (and > 0 in float32)', String(r));
  return r;
}

/**
 * Live models carry this brand, so the trainers can check what they are handed without
 * importing the model module (which imports them).
 * @internal
 */
const sequentials = new WeakSet<object>();

/** @internal Mark a newly built `Sequential`. */
export function brandSequential(m: object): void {
  sequentials.add(m);
}

/**
 * @internal Throw {@link ArgumentError} unless `m` is a `Sequential` that has not been disposed.
 * A `SparseModel` gets a message of its own: it is inference-only.
 */
export function checkSequential<M extends object>(name: string, m: M): M {
  if (typeof m !== 'object' || m === null || !sequentials.has(m)) {
    const got = describe(m);
    if (got === 'SparseModel') {
      throw new ArgumentError(name, 'a Sequential (a SparseModel is inference-only: train or evaluate the model it was pruned from, or use its predict methods)', got);
    }
    throw new ArgumentError(name, 'a Sequential', got);
  }
  if ((m as { isDisposed?: boolean }).isDisposed) throw new ArgumentError(name, 'a live Sequential', 'a disposed one');
  return m;
}

/** The data terms `fit` and `evaluate` know (see `LossKind`). */
const LOSSES = ['softmaxCrossEntropy', 'mse', 'gaussianNll'] as const;

/** @internal An explicit `loss` option: one of the known data terms, or `undefined`. */
export function lossOption(v: unknown): (typeof LOSSES)[number] | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(LOSSES as readonly string[]).includes(v)) {
    throw new ArgumentError('loss', LOSSES.map((l) => `'${l}'`).join(' | '), describe(v));
  }
  return v as (typeof LOSSES)[number];
}

/**
 * @internal A schedule option (a number ≥ 0 or a function of (epoch, fraction)); a function
 * is tried at the start of epoch `first`, so a broken one fails before training starts.
 */
export function scheduleOption(name: string, v: unknown, first: number): void {
  if (v === undefined) return;
  if (typeof v === 'number') {
    checkNumber(name, v, 0);
    return;
  }
  if (typeof v !== 'function') throw new ArgumentError(name, 'a number >= 0 or a function (epoch, fraction) => number', describe(v));
  const r: unknown = v(first, 0);
  if (typeof r !== 'number' || !Number.isFinite(r) || r < 0) throw new ArgumentError(name, 'a schedule giving finite values >= 0', `${describe(r)} at epoch ${first}`);
}

/** Metrics early stopping can watch, and whether larger is better. */
const MONITORS: Record<string, boolean> = { valLoss: false, valAccuracy: true, loss: false, accuracy: true, dataLoss: false };

/** Early stopping as `fit` runs it. */
export interface EarlyStoppingPlan {
  monitor: 'valLoss' | 'valAccuracy' | 'loss' | 'accuracy' | 'dataLoss';
  patience: number;
  minDelta: number;
  restoreBestWeights: boolean;
  maximize: boolean;
}

/**
 * @internal The `earlyStopping` option checked against what this training reports
 * (validation metrics need validation data, accuracies need a classifier).
 */
export function earlyStoppingOption(v: unknown, hasValidation: boolean, classifier: boolean): EarlyStoppingPlan | null {
  if (v === undefined) return null;
  const es = optionsObject('earlyStopping', v as Record<string, unknown>);
  const monitor = es.monitor ?? 'valLoss';
  if (typeof monitor !== 'string' || !(monitor in MONITORS)) {
    throw new ArgumentError('earlyStopping.monitor', Object.keys(MONITORS).map((m) => `'${m}'`).join(' | '), describe(monitor));
  }
  if (monitor.startsWith('val') && !hasValidation) {
    throw new ArgumentError('earlyStopping.monitor', 'a training metric, or validation data (validationData or a validationSplit leaving at least one sample)', monitor);
  }
  if (/ccuracy$/.test(monitor) && !classifier) throw new ArgumentError('earlyStopping.monitor', 'a loss metric (accuracies are reported for classifiers only)', monitor);
  return {
    monitor: monitor as EarlyStoppingPlan['monitor'],
    patience: checkInt('earlyStopping.patience', es.patience ?? 5, 0),
    minDelta: checkNumber('earlyStopping.minDelta', es.minDelta ?? 0, 0),
    restoreBestWeights: booleanOption('earlyStopping.restoreBestWeights', es.restoreBestWeights, true),
    maximize: MONITORS[monitor],
  };
}

/**
 * @internal The data term when `loss` is not given: cross-entropy for integer labels, MSE for a
 * Float32Array. A Float32Array that reads as class labels for a model of `outputs` > 1 outputs
 * (one whole number in [0, outputs) per sample, or one-hot rows) is ambiguous and throws,
 * naming both ways out.
 */
export function inferredLoss(y: unknown, outputs: number, n: number, name = 'y'): 'softmaxCrossEntropy' | 'mse' {
  if (!(y instanceof Float32Array)) return 'softmaxCrossEntropy';
  if (outputs < 2 || n < 1) return 'mse';
  const fix = "or pass loss: 'softmaxCrossEntropy' to train on them as labels, or loss: 'mse' to fit them as regression targets";
  if (y.length === n && y.every((v) => Number.isInteger(v) && v >= 0 && v < outputs)) {
    throw new ArgumentError(name, `class indices as an Int32Array, Uint8Array or number[] (${fix})`,
      `a Float32Array of ${n} whole numbers in [0, ${outputs}), which reads as class labels for a model with ${outputs} outputs`);
  }
  if (y.length === n * outputs) {
    if (isOneHot(y, n, outputs)) {
      throw new ArgumentError(name, `class indices as an Int32Array, Uint8Array or number[], e.g. the index of the 1 in each row (${fix})`,
        `a Float32Array of ${n} one-hot rows`);
    }
  }
  return 'mse';
}

/**
 * @internal Throw {@link NonFiniteError} naming `name` (a layer's or step's output) at the first
 * NaN/±Infinity of `t`, an output computed from finite inputs: one SIMD pass. `sampleOf` maps
 * the element index to the sample of the call it belongs to.
 */
export function checkFiniteOutput(name: string, t: Tensor, sampleOf: (i: number) => number): void {
  const i = firstNonFinite(t);
  if (i < 0) return;
  throw new NonFiniteError(name, 'finite values (its inputs were finite: the values left the float32 range here)',
    `${describe(t.view()[i])} at sample ${sampleOf(i)}`);
}

/** @internal A `runtime` option: a {@link Runtime}, or `undefined` for the shared one. */
export function runtimeOption(v: unknown): Runtime {
  if (v === undefined) return runtime();
  if (!(v instanceof Runtime)) throw new ArgumentError('runtime', 'a Runtime', describe(v));
  return v;
}

/** @internal Whether `y` holds `n` rows of `outputs` values, each all 0 but one 1. */
export function isOneHot(y: Float32Array, n: number, outputs: number): boolean {
  if (y.length !== n * outputs) return false;
  for (let r = 0; r < n; r++) {
    let ones = 0;
    for (let c = 0; c < outputs; c++) {
      const v = y[r * outputs + c];
      if (v === 1) ones++;
      else if (v !== 0) return false;
    }
    if (ones !== 1) return false;
  }
  return true;
}
