import { ArgumentError, checkInt, checkNumber, describe } from './errors.js';
import type { ParamGroup } from './layers/layer.js';
import type { Sequential } from './model.js';
// pow and cos from wasm: engines may round Math.pow/Math.cos differently.
import { cosF64 as cos, powF64 as pow } from './ops/math.js';
import { psgldUpdate, sghmcUpdate, sgldUpdate, type McmcSettings, type PsgldSettings, type SghmcSettings } from './ops/sampler.js';
import { Optimizer, OptimizerConfig } from './optim.js';
import { Tensor } from './tensor.js';
import { fit, type FitOptions, type History, type Targets } from './train.js';
import { Ensemble, type EnsembleOptions } from './ensemble.js';


/**
 * Step size η_t of a sampler at step t (0-based) of a run of `total` steps, and whether that
 * step belongs to a sampling phase (noise on, samples collected) or an exploration phase
 * (a plain gradient step, cyclical schedules only).
 */
export interface StepSizeSchedule {
  /** Human-readable kind, e.g. `"polynomial"`. */
  readonly kind: string;
  /** η_t ≥ 0. `total` is the run's length in steps (needed by cyclical schedules). */
  at(t: number, total: number | undefined): number;
  /** True when step t draws noise and may be collected (default: always). */
  sampling(t: number, total: number | undefined): boolean;
  /** The plain-data description it was made from (ready-made schedules), for sending to workers. */
  readonly spec?: StepSizeSpec;
}

/** A ready-made schedule as plain data (what {@link stepSizes} takes), e.g. `{ kind: 'cyclical', initial: 0.1, cycles: 4 }`. */
export type StepSizeSpec =
  | { kind: 'constant'; eta: number }
  | { kind: 'polynomial'; a: number; b?: number; gamma?: number }
  | { kind: 'cyclical'; initial: number; cycles: number; exploration?: number };

/** The schedule a {@link StepSizeSpec} describes. */
export function stepSizeFromSpec(spec: StepSizeSpec): StepSizeSchedule {
  if (!spec || typeof spec !== 'object') throw new ArgumentError('stepSize', 'a step-size spec {kind, …}', describe(spec));
  if (spec.kind === 'constant') return stepSizes.constant(spec.eta);
  if (spec.kind === 'polynomial') return stepSizes.polynomial(spec);
  if (spec.kind === 'cyclical') return stepSizes.cyclical(spec);
  throw new ArgumentError('stepSize.kind', "'constant' | 'polynomial' | 'cyclical'", describe((spec as { kind: unknown }).kind));
}

/** Ready-made step-size schedules of the samplers. */
export const stepSizes = {
  /** η_t = eta. */
  constant(eta: number): StepSizeSchedule {
    checkNumber('eta', eta, 0);
    return { kind: 'constant', at: () => eta, sampling: () => true, spec: { kind: 'constant', eta } };
  },
  /**
   * η_t = a·(b + t)^(−γ) (Welling & Teh's decaying schedule; γ in (0.5, 1] satisfies the
   * Robbins–Monro conditions). Defaults b = 1, γ = 0.55.
   */
  polynomial(o: { a: number; b?: number; gamma?: number }): StepSizeSchedule {
    if (!o || typeof o !== 'object') throw new ArgumentError('options', 'an object {a, b?, gamma?}', describe(o));
    const a = checkNumber('a', o.a, 0), b = checkNumber('b', o.b ?? 1, Number.MIN_VALUE), g = checkNumber('gamma', o.gamma ?? 0.55, 0, 10);
    return { kind: 'polynomial', at: (t) => a * pow(b + t, -g), sampling: () => true, spec: { kind: 'polynomial', a, b, gamma: g } };
  },
  /**
   * Cyclical step size of cSG-MCMC (Zhang et al. 2020, eq. 1): the run is split into `cycles`
   * cycles of ⌈total/cycles⌉ steps; within a cycle at position r ∈ [0, 1),
   * η = η₀/2·(cos(π·r) + 1). Steps with r < `exploration` (default 0.8) explore (no noise, not
   * collected); the rest sample.
   */
  cyclical(o: { initial: number; cycles: number; exploration?: number }): StepSizeSchedule {
    if (!o || typeof o !== 'object') throw new ArgumentError('options', 'an object {initial, cycles, exploration?}', describe(o));
    const e0 = checkNumber('initial', o.initial, 0), M = checkInt('cycles', o.cycles, 1);
    const beta = checkNumber('exploration', o.exploration ?? 0.8, 0, 1);
    const pos = (t: number, total: number | undefined): number => {
      if (total === undefined) throw new ArgumentError('totalSteps', 'the run length (use sample(), or set sampler.totalSteps)', 'undefined');
      if (M > total) throw new ArgumentError('cycles', `at most the run's ${total} steps`, String(M));
      const len = Math.ceil(total / M);
      return (t % len) / len;
    };
    return {
      kind: 'cyclical',
      at: (t, total) => (e0 / 2) * (cos(Math.PI * pos(t, total)) + 1),
      sampling: (t, total) => pos(t, total) >= beta,
      spec: { kind: 'cyclical', initial: e0, cycles: M, exploration: beta },
    };
  },
};

/** Prior precision: one for every group, per group name (others take `default`, else 1), or a function of the group. */
export type PriorPrecision = number | { [groupName: string]: number } | ((group: ParamGroup) => number);

/** Options shared by every sampler. */
export interface SamplerOptions {
  /** Step size: a constant η or a {@link StepSizeSchedule} (default constant 1e-4). */
  stepSize?: number | StepSizeSchedule;
  /**
   * N, the number of training samples the per-sample-mean loss stands for: the likelihood
   * gradient is N·∇(mean loss). {@link sample} sets it to the training set size when omitted.
   */
  datasetSize?: number;
  /** Precision λ of the zero-mean Gaussian prior N(0, 1/λ) (default 1), per group if wanted. */
  priorPrecision?: PriorPrecision;
  /** Temperature T (default 1: the posterior itself; T < 1 a cold posterior p(θ|D)^(1/T); 0 an optimiser). */
  temperature?: number;
  /** Seed of the chain's noise (32-bit unsigned, default 0): chains with distinct seeds are independent. */
  seed?: number;
}

/**
 * Base of the stochastic-gradient MCMC samplers: an {@link Optimizer} over the same parameter
 * groups as SGD/Adam, so `fit` drives it like any optimiser.
 *
 * Scaling: the gradient the layers produce is that of the per-sample MEAN loss of a
 * mini-batch of M, ∇L = (1/M)·Σ_{i∈batch} −∇log p(y_i|x_i,θ) (plus the group's L1/L2 terms). The
 * sampler forms the gradient of the potential of the full-data posterior,
 * ∇U(θ) = N·∇L + λ·θ, i.e. Welling & Teh's −[(N/M)·Σ ∇log p(y|x,θ) + ∇log p(θ)] with
 * N = `datasetSize` and the Gaussian prior of precision λ. The noise of each step comes from
 * the wasm Threefry generator keyed by (seed, step, group index), so a chain is the same bits
 * whatever the batch size of prediction, the worker, or the engine.
 *
 * A learning rate passed to {@link Optimizer.step} (e.g. by `fit`'s `lr` schedule) multiplies
 * the sampler's own step size by lr / this.lr (1 when none is passed).
 */
export abstract class Sampler extends Optimizer {
  readonly schedule: StepSizeSchedule;
  readonly temperature: number;
  readonly seed: number;
  /** N of the likelihood scaling (set by {@link sample} when not given). */
  datasetSize: number | undefined;
  /** Length of the run in steps (set by {@link sample}; cyclical schedules need it). */
  totalSteps: number | undefined;
  private readonly prior: PriorPrecision;
  private readonly groupIndex = new Map<ParamGroup, number>();
  private cur: { eta: number; noise: boolean } = { eta: 0, noise: true };

  constructor(opts: SamplerOptions = {}, defaultStep = 1e-4) {
    if (opts === null || typeof opts !== 'object') throw new ArgumentError('options', 'a sampler options object', describe(opts));
    const s = opts.stepSize ?? defaultStep;
    let schedule: StepSizeSchedule;
    if (typeof s === 'number') schedule = stepSizes.constant(checkStep(s));
    else if (s && typeof s === 'object' && typeof s.at === 'function' && typeof s.sampling === 'function') schedule = s;
    else throw new ArgumentError('stepSize', 'a step size > 0 or a StepSizeSchedule', describe(s));
    super(1);
    this.schedule = schedule;
    this.temperature = checkNumber('temperature', opts.temperature ?? 1, 0);
    this.seed = checkInt('seed', opts.seed ?? 0, 0, 2 ** 32 - 1);
    this.datasetSize = opts.datasetSize === undefined ? undefined : checkInt('datasetSize', opts.datasetSize, 1, Number.MAX_SAFE_INTEGER);
    this.prior = checkPrior(opts.priorPrecision ?? 1);
  }

  /** η of step t (0-based) and whether it samples. */
  stepInfo(t: number): { eta: number; sampling: boolean } {
    const eta = this.schedule.at(t, this.totalSteps);
    if (!(typeof eta === 'number' && Number.isFinite(eta) && eta >= 0)) throw new ArgumentError('stepSize', 'a schedule giving finite values >= 0', `${describe(eta)} at step ${t}`);
    return { eta, sampling: this.schedule.sampling(t, this.totalSteps) };
  }

  /** Whether the step just taken (count {@link steps}) was a sampling step. */
  get lastWasSampling(): boolean {
    return this.t > 0 && this.schedule.sampling(this.t - 1, this.totalSteps);
  }

  /** One sampler step over every group (see the class note on `lr`). */
  override step(params: readonly ParamGroup[], lr = this.lr): void {
    checkNumber('lr', lr, 0);
    if (this.datasetSize === undefined) throw new ArgumentError('datasetSize', 'the training set size N (option datasetSize, or run through sample())', 'undefined');
    if (this.t >= 2 ** 32 - 1) throw new ArgumentError('steps', 'fewer than 2^32 steps per chain', String(this.t));
    const info = this.stepInfo(this.t);
    // Prior precisions are checked before anything moves.
    for (const p of params) this.precisionOf(p);
    this.cur = { eta: info.eta * (lr / this.lr), noise: info.sampling && this.temperature > 0 };
    super.step(params, this.cur.eta);
  }

  /** Precision λ of group `p`'s prior. */
  precisionOf(p: ParamGroup): number {
    const pr = this.prior;
    let v: unknown;
    if (typeof pr === 'number') v = pr;
    else if (typeof pr === 'function') v = pr(p);
    else v = p.name in pr ? pr[p.name] : 'default' in pr ? pr.default : 1;
    return checkNumber(`priorPrecision(${p.name})`, v, 0);
  }

  /** The scalar settings every sampler shares (its step-size schedule is code, so files do not rebuild samplers). */
  protected samplerOptions(): Record<string, number> {
    return { temperature: this.temperature, seed: this.seed };
  }

  protected settings(p: ParamGroup, eta: number): McmcSettings {
    let k = this.groupIndex.get(p);
    if (k === undefined) {
      k = this.groupIndex.size;
      this.groupIndex.set(p, k);
    }
    return {
      stepSize: eta,
      datasetSize: this.datasetSize!,
      priorPrecision: this.precisionOf(p),
      temperature: this.temperature,
      l1: p.l1,
      l2: p.l2,
      seed: this.seed,
      step: this.t - 1,
      stream: k,
      noise: this.cur.noise,
    };
  }
}

function checkStep(s: number): number {
  return checkNumber('stepSize', s, Number.MIN_VALUE);
}

function checkPrior(p: unknown): PriorPrecision {
  if (typeof p === 'number') return checkNumber('priorPrecision', p, 0);
  if (typeof p === 'function') return p as PriorPrecision;
  if (p && typeof p === 'object' && !Array.isArray(p)) {
    for (const [k, v] of Object.entries(p)) checkNumber(`priorPrecision.${k}`, v, 0);
    return p as PriorPrecision;
  }
  throw new ArgumentError('priorPrecision', 'a precision >= 0, an object of them by group name, or a function', describe(p));
}

/**
 * Stochastic gradient Langevin dynamics (Welling & Teh 2011):
 * θ ← θ − (η_t/2)·∇U(θ) + N(0, η_t·T), with ∇U = N·∇(mean loss) + λθ (see {@link Sampler}).
 */
export class SGLD extends Sampler {
  constructor(opts: SamplerOptions = {}) {
    super(opts);
  }
  slotNames(): string[] {
    return [];
  }
  config(): OptimizerConfig {
    return { className: 'SGLD', options: this.samplerOptions() };
  }
  protected update(p: ParamGroup, _s: Tensor[], eta: number): void {
    sgldUpdate(p.value, p.grad, this.settings(p, eta));
  }
}

/** Options of {@link PSGLD}. */
export interface PSGLDOptions extends SamplerOptions {
  /** Decay ρ of the mean square (default 0.99). */
  rho?: number;
  /** eps of G = 1/(eps + √v̂) (default 1e-3; weights with no gradient get noise variance η·T/eps). */
  eps?: number;
  /** Bias-correct the mean square as Adam does, v̂ = v/(1 − ρᵗ) (default true). */
  biasCorrection?: boolean;
}

/**
 * Preconditioned SGLD (Li et al. 2016): RMSProp's diagonal preconditioner G = 1/(eps + √v̂),
 * v ← ρv + (1−ρ)ḡ² (ḡ the per-sample mean gradient, v̂ = v/(1 − ρᵗ) bias-corrected),
 * θ ← θ − (η/2)·G·∇U + N(0, η·T·G).
 * The Γ correction term is neglected, as in the paper's experiments (its error is O(1 − ρ)).
 */
export class PSGLD extends Sampler {
  private readonly rho: number;
  private readonly eps: number;
  private readonly biasCorrection: boolean;
  constructor(opts: PSGLDOptions = {}) {
    super(opts, 1e-3);
    this.biasCorrection = opts.biasCorrection ?? true;
    this.rho = checkNumber('rho', opts.rho ?? 0.99, 0, 1);
    if (Math.fround(this.rho) >= 1) throw new ArgumentError('rho', 'a value below 1 in float32', String(opts.rho));
    this.eps = checkNumber('eps', opts.eps ?? 1e-3, Number.MIN_VALUE);
  }
  slotNames(): string[] {
    return ['meanSquare'];
  }
  config(): OptimizerConfig {
    return { className: 'PSGLD', options: { ...this.samplerOptions(), rho: this.rho, eps: this.eps, biasCorrection: this.biasCorrection } };
  }
  protected update(p: ParamGroup, s: Tensor[], eta: number): void {
    // Fields added to the fresh settings object (a spread with extra keys is V8's slow path, ~3 µs a call).
    const o: PsgldSettings = Object.assign(this.settings(p, eta), { rho: this.rho, eps: this.eps, biasCorrection: this.biasCorrection });
    psgldUpdate(p.value, p.grad, { meanSquare: s[0] }, o);
  }
}

/** Options of {@link SGHMC}. */
export interface SGHMCOptions extends SamplerOptions {
  /** Friction α in (0, 1] (default 0.1): the momentum keeps 1 − α a step. */
  friction?: number;
}

/**
 * Stochastic gradient Hamiltonian Monte Carlo (Chen et al. 2014, eq. 15, B̂ = 0):
 * m ← (1 − α)m − η·∇U(θ) + N(0, 2αη·T), θ ← θ + m. η is the squared step ε² of the paper
 * (like a learning rate divided by N); α = 1 is SGLD with step size 2η.
 */
export class SGHMC extends Sampler {
  private readonly friction: number;
  constructor(opts: SGHMCOptions = {}) {
    super(opts, 1e-5);
    this.friction = checkNumber('friction', opts.friction ?? 0.1, Number.MIN_VALUE, 1);
  }
  slotNames(): string[] {
    return ['momentum'];
  }
  config(): OptimizerConfig {
    return { className: 'SGHMC', options: { ...this.samplerOptions(), friction: this.friction } };
  }
  protected update(p: ParamGroup, s: Tensor[], eta: number): void {
    const o: SghmcSettings = Object.assign(this.settings(p, eta), { friction: this.friction });
    sghmcUpdate(p.value, p.grad, { momentum: s[0] }, o);
  }
}

/** Called after every sampler step of {@link sample} (e.g. online distillation). */
export interface SampleStepHook {
  /** `step`: 1-based count of steps taken; `sampling`: the step drew noise; `collecting`: past burn-in. */
  onStep(model: Sequential, info: { step: number; sampling: boolean; collecting: boolean }): void;
}

/** Options of {@link sample}. */
export interface SampleOptions extends Omit<FitOptions, 'optimizer' | 'earlyStopping' | 'lr' | 'optimizerState'> {
  /** The sampler (its `datasetSize` defaults to the training set size). */
  sampler: Sampler;
  /** Steps discarded before collecting (default 0); must leave at least one step. */
  burnIn?: number;
  /** Keep every `thin`-th step after burn-in (default 1). */
  thin?: number;
  /** What the collected ensemble predicts (task, likelihood). */
  ensemble?: EnsembleOptions;
  /** Called after every step (after collection). */
  hook?: SampleStepHook;
}

/** Result of {@link sample}. */
export interface SampleResult {
  /** The collected posterior samples (owned by the caller: dispose it). */
  ensemble: Ensemble;
  /** The training history of the run. */
  history: History;
  /** Total sampler steps taken. */
  steps: number;
}

/** Steps collected in a run: t = 1..total past burnIn, every thin-th, on sampling steps. */
export function collectedSteps(total: number, burnIn: number, thin: number, schedule: StepSizeSchedule): number[] {
  const out: number[] = [];
  for (let t = burnIn + 1; t <= total; t++) if ((t - burnIn) % thin === 0 && schedule.sampling(t - 1, total)) out.push(t);
  return out;
}

/**
 * Run a sampler over (x, y) for `epochs` passes and collect posterior samples: after `burnIn`
 * steps, every `thin`-th sampling step's parameters are copied into an {@link Ensemble} kept in
 * wasm memory (K snapshots of all parameters). Options beyond the sampler's are `fit`'s.
 * Throws {@link ArgumentError} before anything runs when burn-in and thinning leave no sample.
 */
export function sample(model: Sequential, x: Float32Array, y: Targets, opts: SampleOptions): SampleResult {
  if (!opts || typeof opts !== 'object') throw new ArgumentError('options', 'a sample options object', describe(opts));
  const sampler = opts.sampler;
  if (!(sampler instanceof Sampler)) throw new ArgumentError('sampler', 'an SGLD, PSGLD or SGHMC sampler', describe(sampler));
  const epochs = checkInt('epochs', opts.epochs, 1);
  const bs = checkInt('batchSize', opts.batchSize ?? 100, 1);
  const n = model.checkX(x);
  const split = opts.validationData ? 0 : checkNumber('validationSplit', opts.validationSplit ?? 0, 0, 0.9);
  const nTrain = n - Math.floor(n * split);
  const total = epochs * Math.ceil(nTrain / bs);
  const burnIn = checkInt('burnIn', opts.burnIn ?? 0, 0);
  if (burnIn >= total) throw new ArgumentError('burnIn', `fewer steps than the run's ${total} (${epochs} epochs of ${Math.ceil(nTrain / bs)})`, String(burnIn));
  const thin = checkInt('thin', opts.thin ?? 1, 1);
  const prevTotal = sampler.totalSteps;
  sampler.totalSteps = sampler.steps + total;
  sampler.datasetSize ??= opts.datasetSize ?? nTrain;
  const start = sampler.steps;
  let keep: number[];
  try {
    keep = collectedSteps(total, burnIn, thin, { kind: sampler.schedule.kind, at: () => 0, sampling: (t) => sampler.schedule.sampling(start + t, sampler.totalSteps) });
  } catch (e) {
    sampler.totalSteps = prevTotal;
    throw e;
  }
  if (keep.length === 0) {
    sampler.totalSteps = prevTotal;
    throw new ArgumentError('thin', `a thinning that keeps at least one of the ${total - burnIn} steps after burn-in`, String(thin));
  }
  const ensemble = Ensemble.forSamples(model, keep.length, opts.ensemble);
  const keepSet = new Set(keep);
  const userBatchEnd = opts.onBatchEnd;
  let history: History;
  try {
    history = fit(model, x, y, {
      ...opts,
      optimizer: sampler,
      onBatchEnd: (b, loss) => {
        const t = sampler.steps - start;
        const collecting = t > burnIn;
        if (keepSet.has(t)) ensemble.collect(model);
        opts.hook?.onStep(model, { step: t, sampling: sampler.lastWasSampling, collecting });
        userBatchEnd?.(b, loss);
      },
    } as FitOptions);
  } catch (e) {
    ensemble.dispose();
    throw e;
  }
  return { ensemble, history, steps: sampler.steps - start };
}
