/**
 * Training callbacks, as in Keras and tfjs: objects with optional hooks that `fit` and
 * `fitAsync` call at the start and end of training, of each epoch and of each step. Early
 * stopping, learning-rate reduction on a plateau and checkpointing are written here with the
 * same hooks a user's callback has.
 * @module
 */
import { ArgumentError, checkInt, checkNumber, describe } from './errors.js';
import type { BatchLogs, EarlyStopping, EpochLog, History, TrainBeginLogs, Training } from './train.js';
import { booleanOption, earlyStoppingOption, optionsObject } from './validate.js';

/**
 * Hooks called by `fit` / `fitAsync`, each with a logs object and the {@link Training} it runs
 * in. Epoch and batch indices are 0-based (as in Keras); `EpochLog.epoch` is 1-based. In
 * `fitAsync` a hook may return a promise, which is awaited before training goes on.
 */
export interface Callback {
  /** Before the first step (after every option was checked): throw here to refuse the run unchanged. */
  onTrainBegin?(logs: TrainBeginLogs, training: Training): void | Promise<void>;
  /** After the last epoch (not when training failed or was aborted). */
  onTrainEnd?(history: History, training: Training): void | Promise<void>;
  onEpochBegin?(epoch: number, training: Training): void | Promise<void>;
  /** After the epoch's validation; `training.stopTraining = true` ends training here. */
  onEpochEnd?(epoch: number, logs: EpochLog, training: Training): void | Promise<void>;
  onBatchBegin?(batch: number, logs: BatchLogs, training: Training): void | Promise<void>;
  /** After the step's update; `training.stopTraining = true` ends the epoch and training after it. */
  onBatchEnd?(batch: number, logs: BatchLogs, training: Training): void | Promise<void>;
}

/** A metric of {@link EpochLog} that a callback can watch. */
export type Monitor = 'valLoss' | 'valAccuracy' | 'loss' | 'accuracy' | 'dataLoss';

const MONITORS: readonly Monitor[] = ['valLoss', 'valAccuracy', 'loss', 'accuracy', 'dataLoss'];

/** Tracks the best value of a metric: lower is better for losses, higher for accuracies. */
class Best {
  readonly maximize: boolean;
  value = NaN;

  constructor(readonly monitor: Monitor, readonly minDelta: number, readonly name: string) {
    this.maximize = monitor === 'valAccuracy' || monitor === 'accuracy';
  }

  /** Check at train begin that the run reports the metric. */
  start(t: Training): void {
    this.value = this.maximize ? -Infinity : Infinity;
    if (this.monitor.startsWith('val') && !t.hasValidation) {
      throw new ArgumentError(`${this.name}.monitor`, 'a training metric, or validation data (validationSplit or validationData)', this.monitor);
    }
    if (this.monitor.endsWith('ccuracy') && t.loss !== 'softmaxCrossEntropy') {
      throw new ArgumentError(`${this.name}.monitor`, 'a loss metric (accuracy is reported for classifiers only)', this.monitor);
    }
  }

  /** Whether `log` improves on the best by more than minDelta (and if so, records it). */
  improved(log: EpochLog): boolean {
    const m = log[this.monitor] as number;
    const better = this.maximize ? m > this.value + this.minDelta : m < this.value - this.minDelta;
    if (better) this.value = m;
    return better;
  }
}

function monitorOption(name: string, v: unknown): Monitor {
  if (v === undefined) return 'valLoss';
  if (!MONITORS.includes(v as Monitor)) throw new ArgumentError(`${name}.monitor`, MONITORS.map((m) => `'${m}'`).join(' | '), describe(v));
  return v as Monitor;
}

/**
 * Stop when `monitor` has not improved by more than `minDelta` for `patience` epochs, and (by
 * default) put back the best epoch's weights at the end; sets `history.stoppedEarly` and
 * `history.bestEpoch`. Options are checked here; that the run reports the metric, at train begin.
 */
export function earlyStopping(opts: EarlyStopping = {}): Callback {
  const plan = earlyStoppingOption(opts, true, true)!;
  const best = new Best(plan.monitor, plan.minDelta, 'earlyStopping');
  const { patience, restoreBestWeights: restore } = plan;
  let wait = 0, bestEpoch = 0;
  let weights: Float32Array[] | null = null;
  return {
    onTrainBegin(_logs, t) {
      earlyStoppingOption(opts, t.hasValidation, t.loss === 'softmaxCrossEntropy');
      best.start(t);
      wait = 0;
      bestEpoch = 0;
      weights = null;
    },
    onEpochEnd(_e, log, t) {
      if (best.improved(log)) {
        wait = 0;
        bestEpoch = log.epoch;
        if (restore) weights = t.model.getWeights();
      } else if (++wait > patience) {
        t.history.stoppedEarly = true;
        t.stopTraining = true;
      }
    },
    onTrainEnd(history, t) {
      if (weights) {
        t.model.setWeights(weights);
        history.bestEpoch = bestEpoch;
      }
      weights = null;
    },
  };
}

/** Options of {@link reduceLrOnPlateau}. */
export interface ReduceLrOnPlateauOptions {
  /** Metric to watch (default `'valLoss'`). */
  monitor?: Monitor;
  /** Multiplier of the learning rate at a plateau, in (0, 1) (default 0.1). */
  factor?: number;
  /** Reduce after this many epochs without improvement (default 10; Keras' rule). */
  patience?: number;
  /** Smallest change that counts as improvement (default 1e-4). */
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again (default 0). */
  cooldown?: number;
  /** Lowest learning rate a reduction goes to (default 0). */
  minLr?: number;
}

/**
 * Multiply the learning rate by `factor` when `monitor` has not improved for `patience`
 * epochs (Keras' ReduceLROnPlateau). It acts through `training.lrFactor`, so it composes with
 * an `lr` schedule.
 */
export function reduceLrOnPlateau(opts: ReduceLrOnPlateauOptions = {}): Callback {
  const name = 'reduceLrOnPlateau';
  const o = optionsObject(name, opts);
  const best = new Best(monitorOption(name, o.monitor), checkNumber(`${name}.minDelta`, o.minDelta ?? 1e-4, 0), name);
  const factor = checkNumber(`${name}.factor`, o.factor ?? 0.1, Number.MIN_VALUE, 1);
  if (factor === 1) throw new ArgumentError(`${name}.factor`, 'a number in (0, 1)', '1');
  const patience = checkInt(`${name}.patience`, o.patience ?? 10, 0);
  const cooldown = checkInt(`${name}.cooldown`, o.cooldown ?? 0, 0);
  const minLr = checkNumber(`${name}.minLr`, o.minLr ?? 0, 0);
  let wait = 0, cooling = 0;
  return {
    onTrainBegin(_logs, t) {
      best.start(t);
      wait = 0;
      cooling = 0;
    },
    onEpochEnd(_e, log, t) {
      if (cooling > 0) cooling--;
      if (best.improved(log)) wait = 0;
      else if (cooling === 0 && ++wait >= patience) {
        const lr = log.lr;
        if (lr > minLr) t.lrFactor *= Math.max(lr * factor, minLr) / lr;
        cooling = cooldown;
        wait = 0;
      }
    },
  };
}

/** Options of {@link modelCheckpoint}. */
export interface ModelCheckpointOptions {
  /**
   * Receives the model file (`model.save()`: weights, optimizer state, epoch) and the epoch it
   * ends (1-based) with its log; e.g. write it to disk or IndexedDB. May return a promise (awaited by fitAsync).
   */
  save: (bytes: Uint8Array, info: { epoch: number; logs: EpochLog }) => void | Promise<void>;
  /** Only when `monitor` improved (default false: every `every` epochs). */
  saveBestOnly?: boolean;
  /** Metric for `saveBestOnly` (default `'valLoss'`). */
  monitor?: Monitor;
  /** Save every this many epochs (default 1; ignored with saveBestOnly). */
  every?: number;
  /** Keep the optimizer state in the file (default true), so the run can resume from it. */
  includeOptimizer?: boolean;
}

/**
 * Save the model at the end of epochs (every `every`, or when `monitor` improved) through the
 * `save` function. A checkpoint of epoch k resumes with `fit(…, { initialEpoch: k })` after
 * `Sequential.load(bytes)`, giving the same bits as the run that was not stopped.
 */
export function modelCheckpoint(opts: ModelCheckpointOptions): Callback {
  const name = 'modelCheckpoint';
  const o = optionsObject(name, opts);
  if (typeof o.save !== 'function') throw new ArgumentError(`${name}.save`, 'a function (bytes, info) => void', describe(o.save));
  const save = o.save as ModelCheckpointOptions['save'];
  const bestOnly = booleanOption(`${name}.saveBestOnly`, o.saveBestOnly, false);
  const best = bestOnly ? new Best(monitorOption(name, o.monitor), 0, name) : null;
  if (!bestOnly && o.monitor !== undefined) monitorOption(name, o.monitor);
  const every = checkInt(`${name}.every`, o.every ?? 1, 1);
  const includeOptimizer = booleanOption(`${name}.includeOptimizer`, o.includeOptimizer, true);
  return {
    onTrainBegin(_logs, t) {
      best?.start(t);
    },
    onEpochEnd(_e, log, t) {
      if (best ? !best.improved(log) : log.epoch % every !== 0) return;
      return save(t.model.save({ includeOptimizer }), { epoch: log.epoch, logs: log });
    },
  };
}

/** Ready-made callbacks (`callbacks.earlyStopping({...})`, as `tf.callbacks` in tfjs). */
export const callbacks = {
  earlyStopping,
  reduceLrOnPlateau,
  modelCheckpoint,
};
