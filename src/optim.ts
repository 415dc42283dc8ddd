import { ArgumentError, ShapeError, checkInt, checkNumber, describe } from './errors.js';
import { ParamGroup } from './layers/layer.js';
import { adamUpdate, rmspropUpdate, sgdUpdate } from './ops/optim.js';
import { Tensor, assertFinite } from './tensor.js';
import { booleanOption, decayRate, optionsObject, positiveF32 } from './validate.js';

// Safety net for optimizers dropped without dispose(): their state tensors are freed once the
// optimizer object is garbage-collected (the held value is the state map, never the optimizer).
const orphans = typeof FinalizationRegistry === 'undefined' ? null
  : new FinalizationRegistry<Map<ParamGroup, Tensor[]>>((state) => {
    for (const s of state.values()) for (const t of s) t.dispose();
    state.clear();
  });

/** Serializable description of an optimizer: its registered class name and constructor options. */
export interface OptimizerConfig {
  /** Registered class name, e.g. `"Adam"`. */
  className: string;
  /** Constructor options (hyperparameters), e.g. `{ lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 }`. */
  options: Record<string, number | boolean>;
}

/**
 * Everything an optimizer carries between steps, copied out of wasm memory: its configuration,
 * its step count and, per parameter group, its state arrays (Adam: first and second moments).
 * Saved in model files so an interrupted run resumes with the same bits.
 */
export interface OptimizerState extends OptimizerConfig {
  /** Steps taken (Adam's bias-correction counter t). */
  steps: number;
  /**
   * One entry per parameter group, in the model's `params()` order: the group's name and its
   * state arrays in {@link Optimizer.slotNames} order, each with the group's element count.
   * Empty before the first step.
   */
  slots: { param: string; values: Float32Array[] }[];
}

/**
 * Updates parameters from their gradients. State (momenta) is kept per parameter group and
 * created on the first step; each group's own L1/L2 coefficients are applied.
 *
 * Ownership of the state (wasm memory, about 4 bytes per parameter per moment): `fit` frees
 * the state of an optimizer it made itself when it ends. A model keeps the state of the last
 * optimizer it was trained with, so a second `fit` with the same optimizer continues from
 * its moments; training the model with another optimizer frees the previous one's state for
 * that model's parameters, and `model.dispose()` frees it too. So `fit(…, { optimizer: new
 * Adam() })` in a loop holds one optimizer's state at a time. {@link dispose} frees all of it
 * at once; an optimizer that is garbage-collected without it is freed by a finalizer.
 * (`fit` also keeps a copy of the state, outside wasm memory, in the model's `trainingState`.)
 *
 * A subclass names its per-parameter state arrays ({@link slotNames}), describes itself
 * ({@link config}) and is registered with {@link registerOptimizer} so files can rebuild it.
 */
export abstract class Optimizer {
  /** Base learning rate (a schedule passed to `fit` overrides it). */
  readonly lr: number;
  protected readonly state = new Map<ParamGroup, Tensor[]>();
  protected t = 0;

  constructor(lr: number) {
    this.lr = checkNumber('lr', lr, 0);
    orphans?.register(this, this.state, this);
  }

  /** One update of every group with learning rate `lr`. */
  step(params: readonly ParamGroup[], lr = this.lr): void {
    checkNumber('lr', lr, 0);
    this.t++;
    for (const p of params) {
      let s = this.state.get(p);
      if (!s) {
        s = this.slotNames().map(() => Tensor.zeros(p.value.shape, p.value.rt));
        this.state.set(p, s);
      }
      this.update(p, s, lr);
    }
  }

  /** Names of the state arrays kept per parameter group, each shaped like the parameter (Adam: `['m', 'v']`). */
  abstract slotNames(): string[];

  /** Class name and constructor options, for files. */
  abstract config(): OptimizerConfig;

  protected abstract update(p: ParamGroup, s: Tensor[], lr: number): void;

  /** Steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /**
   * A copy of the state for `params` (the model's `params()`, in order): step count and each
   * group's state arrays. Groups not yet stepped (or no step taken) give no entries.
   */
  getState(params: readonly ParamGroup[]): OptimizerState {
    checkParams(params);
    const slots: OptimizerState['slots'] = [];
    const live = params.filter((p) => this.state.has(p));
    if (live.length === params.length && live.length > 0) {
      for (const p of params) slots.push({ param: p.name, values: this.state.get(p)!.map((t) => t.toArray()) });
    }
    return { ...this.config(), steps: this.t, slots };
  }

  /**
   * Replace the state by `state` (from {@link getState}, possibly of another model instance with
   * the same architecture) for `params`. Everything is checked first (class and options, step
   * count, one entry per group with its name, the slot count and sizes, finite values), so a
   * rejected state changes nothing.
   */
  setState(params: readonly ParamGroup[], state: OptimizerState): void {
    checkParams(params);
    if (typeof state !== 'object' || state === null) throw new ArgumentError('state', 'an OptimizerState', describe(state));
    const own = this.config();
    if (state.className !== own.className) throw new ArgumentError('state.className', JSON.stringify(own.className), describe(state.className));
    if (typeof state.options !== 'object' || state.options === null) throw new ArgumentError('state.options', 'an options object', describe(state.options));
    for (const [k, v] of Object.entries(own.options)) {
      if (!Object.is(state.options[k], v)) throw new ArgumentError(`state.options.${k}`, `${v} (this optimizer's)`, describe(state.options[k]));
    }
    const steps = checkInt('state.steps', state.steps, 0);
    if (!Array.isArray(state.slots)) throw new ArgumentError('state.slots', 'an array', describe(state.slots));
    const names = this.slotNames();
    if (state.slots.length !== 0 && state.slots.length !== params.length) {
      throw new ShapeError('state.slots', `${params.length} entries (one per parameter group) or none`, `${state.slots.length}`);
    }
    state.slots.forEach((e, i) => {
      const f = `state.slots[${i}]`, p = params[i];
      if (typeof e !== 'object' || e === null) throw new ArgumentError(f, 'a {param, values} entry', describe(e));
      if (e.param !== p.name) throw new ArgumentError(`${f}.param`, JSON.stringify(p.name), describe(e.param));
      if (!Array.isArray(e.values) || e.values.length !== names.length) {
        throw new ShapeError(`${f}.values`, `${names.length} arrays (${names.join(', ') || 'none'})`, describe(e.values));
      }
      e.values.forEach((v, k) => {
        if (!(v instanceof Float32Array)) throw new ArgumentError(`${f}.values[${k}]`, 'a Float32Array', describe(v));
        if (v.length !== p.value.size) throw new ShapeError(`${f}.values[${k}]`, `${p.value.size} values (${p.name})`, `${v.length}`);
        assertFinite(`${f}.values[${k}]`, v);
      });
    });
    this.release(params);
    this.t = steps;
    state.slots.forEach((e, i) => {
      const p = params[i];
      this.state.set(p, e.values.map((v) => Tensor.from(v, p.value.shape, p.value.rt)));
    });
  }

  /** Free the state of the given parameter groups (a later step starts them from zero). */
  release(params: readonly ParamGroup[]): void {
    for (const p of params) {
      for (const t of this.state.get(p) ?? []) t.dispose();
      this.state.delete(p);
    }
  }

  /** Free the optimizer state (the step count is kept). */
  dispose(): void {
    for (const s of this.state.values()) for (const t of s) t.dispose();
    this.state.clear();
  }
}

function checkParams(params: readonly ParamGroup[]): void {
  if (!Array.isArray(params)) throw new ArgumentError('params', 'an array of parameter groups (model.params())', describe(params));
}

/** Optimizer constructors by class name, for model files. */
const optimizerRegistry = new Map<string, (options: Record<string, unknown>) => Optimizer>();

/** Register an optimizer class so model files holding its state can rebuild it by name. */
export function registerOptimizer(className: string, make: (options: Record<string, unknown>) => Optimizer): void {
  if (typeof className !== 'string' || className === '') throw new ArgumentError('className', 'a non-empty string', describe(className));
  if (typeof make !== 'function') throw new ArgumentError('make', 'a function (options) => Optimizer', describe(make));
  optimizerRegistry.set(className, make);
}

/** Names of the registered optimizer classes. */
export function optimizerClasses(): string[] {
  return [...optimizerRegistry.keys()];
}

/** A new optimizer of a registered class, built from `config` (no state yet). */
export function optimizerFromConfig(config: OptimizerConfig): Optimizer {
  const make = optimizerRegistry.get(config?.className);
  if (!make) throw new ArgumentError('className', `a registered optimizer (${optimizerClasses().join(', ')})`, describe(config?.className));
  if (typeof config.options !== 'object' || config.options === null) throw new ArgumentError('options', 'an options object', describe(config.options));
  return make(config.options);
}

/**
 * A new optimizer holding `state` (from {@link Optimizer.getState} or a model file) for
 * `params`: its class rebuilt by name with the saved options.
 */
export function optimizerFromState(params: readonly ParamGroup[], state: OptimizerState): Optimizer {
  const o = optimizerFromConfig(state);
  try {
    o.setState(params, state);
  } catch (e) {
    o.dispose();
    throw e;
  }
  return o;
}

/** Options of {@link SGD}. */
export interface SGDOptions {
  /** Learning rate (default 0.01). */
  lr?: number;
  /** Momentum μ in [0, 1) (default 0). */
  momentum?: number;
  /** Nesterov momentum (default false; needs momentum > 0). */
  nesterov?: boolean;
}

/** Stochastic gradient descent with optional (Nesterov) momentum. */
export class SGD extends Optimizer {
  private readonly momentum: number;
  private readonly nesterov: boolean;
  constructor(opts: SGDOptions = {}) {
    const o = optionsObject('options', opts);
    super(o.lr ?? 0.01);
    this.momentum = decayRate('momentum', o.momentum ?? 0);
    this.nesterov = booleanOption('nesterov', o.nesterov, false);
    if (this.nesterov && this.momentum === 0) throw new ArgumentError('momentum', 'momentum > 0 with nesterov', describe(this.momentum));
  }
  slotNames(): string[] {
    return this.momentum > 0 ? ['velocity'] : [];
  }
  config(): OptimizerConfig {
    return { className: 'SGD', options: { lr: this.lr, momentum: this.momentum, nesterov: this.nesterov } };
  }
  protected update(p: ParamGroup, s: Tensor[], lr: number): void {
    sgdUpdate(p.value, p.grad, { velocity: s[0] }, { lr, momentum: this.momentum, nesterov: this.nesterov, l1: p.l1, l2: p.l2 });
  }
}

/** Options of {@link Adam}. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** First-moment decay in [0, 1) (default 0.9). */
  beta1?: number;
  /** Second-moment decay in [0, 1) (default 0.999). */
  beta2?: number;
  /** Denominator floor, > 0 (default 1e-8). */
  eps?: number;
}

/** Adam (Kingma & Ba 2015) with bias correction. */
export class Adam extends Optimizer {
  private readonly o: Required<AdamOptions>;
  constructor(opts: AdamOptions = {}) {
    const o = optionsObject('options', opts);
    super(o.lr ?? 1e-3);
    this.o = { lr: this.lr, beta1: decayRate('beta1', o.beta1 ?? 0.9), beta2: decayRate('beta2', o.beta2 ?? 0.999), eps: positiveF32('eps', o.eps ?? 1e-8) };
  }
  slotNames(): string[] {
    return ['m', 'v'];
  }
  config(): OptimizerConfig {
    return { className: 'Adam', options: { ...this.o } };
  }
  protected update(p: ParamGroup, s: Tensor[], lr: number): void {
    // Spelled out: an object spread with extra keys takes V8's slow path (~3 µs, more than the kernel).
    const o = this.o;
    adamUpdate(p.value, p.grad, { m: s[0], v: s[1] }, { lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, step: this.t, l1: p.l1, l2: p.l2 });
  }
}

/** Options of {@link RMSProp}. */
export interface RMSPropOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay of the mean square in [0, 1) (default 0.9). */
  rho?: number;
  /** Denominator floor, > 0 (default 1e-8). */
  eps?: number;
  /** Momentum in [0, 1) (default 0). */
  momentum?: number;
}

/** RMSProp with optional momentum. */
export class RMSProp extends Optimizer {
  private readonly o: Required<RMSPropOptions>;
  constructor(opts: RMSPropOptions = {}) {
    const o = optionsObject('options', opts);
    super(o.lr ?? 1e-3);
    this.o = { lr: this.lr, rho: decayRate('rho', o.rho ?? 0.9), eps: positiveF32('eps', o.eps ?? 1e-8), momentum: decayRate('momentum', o.momentum ?? 0) };
  }
  slotNames(): string[] {
    return this.o.momentum > 0 ? ['meanSquare', 'momentum'] : ['meanSquare'];
  }
  config(): OptimizerConfig {
    return { className: 'RMSProp', options: { ...this.o } };
  }
  protected update(p: ParamGroup, s: Tensor[], lr: number): void {
    const o = this.o;
    rmspropUpdate(p.value, p.grad, { meanSquare: s[0], momentumBuffer: s[1] }, { lr, rho: o.rho, eps: o.eps, momentum: o.momentum, l1: p.l1, l2: p.l2 });
  }
}

registerOptimizer('SGD', (o) => new SGD(o as SGDOptions));
registerOptimizer('Adam', (o) => new Adam(o as AdamOptions));
registerOptimizer('RMSProp', (o) => new RMSProp(o as RMSPropOptions));
