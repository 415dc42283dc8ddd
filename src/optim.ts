import { ArgumentError, checkNumber, describe } from './errors.js';
import { ParamGroup } from './layers/layer.js';
import { adamUpdate, rmspropUpdate, sgdUpdate } from './ops/optim.js';
import { Tensor } from './tensor.js';
import { booleanOption, decayRate, optionsObject, positiveF32 } from './validate.js';

// Safety net for optimizers dropped without dispose(): their state tensors are freed once the
// optimizer object is garbage-collected (the held value is the state map, never the optimizer).
const orphans = typeof FinalizationRegistry === 'undefined' ? null
  : new FinalizationRegistry<Map<ParamGroup, Tensor[]>>((state) => {
    for (const s of state.values()) for (const t of s) t.dispose();
    state.clear();
  });

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
        s = this.makeState(p);
        this.state.set(p, s);
      }
      this.update(p, s, lr);
    }
  }

  protected abstract makeState(p: ParamGroup): Tensor[];
  protected abstract update(p: ParamGroup, s: Tensor[], lr: number): void;

  /** Steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /** Free the state of the given parameter groups (a later step starts them from zero). */
  release(params: readonly ParamGroup[]): void {
    for (const p of params) {
      for (const t of this.state.get(p) ?? []) t.dispose();
      this.state.delete(p);
    }
  }

  /** Free the optimizer state. */
  dispose(): void {
    for (const s of this.state.values()) for (const t of s) t.dispose();
    this.state.clear();
  }
}

/** Options of {@link SGD}. */
export interface SGDOptions {
  /** Learning rate (default 0.01). */
  lr?: number;
  /** Momentum μ in [0, 1) (default 0). */
  momentum?: number;
  /** Nesterov momentum (default false). */
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
  protected makeState(p: ParamGroup): Tensor[] {
    return this.momentum > 0 ? [Tensor.zeros(p.value.shape, p.value.rt)] : [];
  }
  protected update(p: ParamGroup, s: Tensor[], lr: number): void {
    sgdUpdate(p.value, p.grad, { velocity: s[0] }, { lr, momentum: this.momentum, nesterov: this.nesterov, l1: p.l1, l2: p.l2 });
  }
}

/** Options of {@link Adam}. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** First-moment decay (default 0.9). */
  beta1?: number;
  /** Second-moment decay (default 0.999). */
  beta2?: number;
  /** Denominator floor (default 1e-8). */
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
  protected makeState(p: ParamGroup): Tensor[] {
    return [Tensor.zeros(p.value.shape, p.value.rt), Tensor.zeros(p.value.shape, p.value.rt)];
  }
  protected update(p: ParamGroup, s: Tensor[], lr: number): void {
    adamUpdate(p.value, p.grad, { m: s[0], v: s[1] }, { ...this.o, lr, step: this.t, l1: p.l1, l2: p.l2 });
  }
}

/** Options of {@link RMSProp}. */
export interface RMSPropOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay of the mean square (default 0.9). */
  rho?: number;
  /** Denominator floor (default 1e-8). */
  eps?: number;
  /** Momentum (default 0). */
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
  protected makeState(p: ParamGroup): Tensor[] {
    const s = [Tensor.zeros(p.value.shape, p.value.rt)];
    if (this.o.momentum > 0) s.push(Tensor.zeros(p.value.shape, p.value.rt));
    return s;
  }
  protected update(p: ParamGroup, s: Tensor[], lr: number): void {
    rmspropUpdate(p.value, p.grad, { meanSquare: s[0], momentumBuffer: s[1] }, { ...this.o, lr, l1: p.l1, l2: p.l2 });
  }
}
