import { ArgumentError, checkInt, checkNumber, describe } from '../errors.js';
import { optionsObject } from '../validate.js';
import { columnSums, copy, equalBits, square } from '../ops/elementwise.js';
import { gaussian } from '../ops/noise.js';
import {
  AlphaShape, LogAlphaRange, alphaCount, isAlphaShape, klLogUniform, lrtBackward, lrtBackwardRows, lrtInputGrad, lrtSample,
  svdKl, svdLogAlpha, svdParamGrads, svdPrepare, vdMask, vdParamGrads, vdPrepare,
} from '../ops/bayes.js';
import { Initializer, initialize } from '../init.js';
import { Shape, Tensor } from '../tensor.js';
import { ForwardContext, InferenceForm, Layer, LayerConfig, ParamGroup, param, registerLayer } from './layer.js';
import { ConvMap, ConvOptions, DenseColumnSkip, DenseMap, LinearMap, SPARSE_GRAD_LIMIT, SparseGradProduct, SparseMeanProduct } from './linear.js';

/** The noise key of one pass: the model seed in the low word, the pass counter in the high word. */
export function passSeed(ctx: ForwardContext): bigint {
  return (BigInt(ctx.step >>> 0) << 32n) | BigInt(ctx.seed >>> 0);
}

/** Options shared by every Bayesian weight layer. */
export interface BayesOptions {
  /** Add a learnt (deterministic) bias, added after the noise (default true). */
  useBias?: boolean;
  /** Initialiser of the weight means θ (default `'glorotNormal'`). */
  kernelInitializer?: Initializer;
  /** Weights (or units) whose log α ≥ this are dropped at inference and when pruning (default 3). */
  threshold?: number;
  /** Clamp of log α (default [−8, 8]). */
  logAlphaRange?: [number, number];
  /** L1 coefficient on the weight means θ (default 0). */
  l1?: number;
  /** L2 coefficient on the weight means θ (default 0). */
  l2?: number;
  /**
   * Fraction (0–1) of nonzero entries in the output gradient at or below which the backward
   * multiplies through its nonzeros only (sparse kernels; same result up to the order of the
   * sums). Default {@link SPARSE_GRAD_LIMIT} (0.25); 0 keeps the dense products unless the
   * gradient is all zero.
   */
  sparseGradLimit?: number;
}

/**
 * Base of the Bayesian layers: Gaussian weights w ~ N(M, S) sampled through the local
 * reparameterization trick (Kingma et al. 2015): the pre-activation b = x ⊛ M + sqrt((x ⊙ x) ⊛ S)·ε
 * + bias, one ε per output element, for a dense or convolutional map. Subclasses say how M, S
 * and the KL come from their parameters; forward, backward and the noise are written once here.
 */
export abstract class LrtLayer extends Layer {
  protected map!: LinearMap;
  protected bias?: ParamGroup;
  /** Weights (or units) with log α ≥ threshold are dropped at inference and by `prune`. */
  readonly threshold: number;
  protected readonly range: LogAlphaRange;
  protected readonly base: BayesOptions;
  private x?: Tensor;
  private stochastic = false;
  /** Zero-column skipping of dense maps (none for convolutions). */
  private skip?: DenseColumnSkip;
  /** What the last sampled pass multiplied: the map, or the map over x's live columns. */
  private lin!: Pick<LinearMap, 'forward' | 'backwardFilter'>;
  /** The sampled pass's input and its square, packed to the live columns when skipping. */
  private xin?: Tensor;
  private x2in?: Tensor;
  /** The sparse mean product of masked passes, and whether the last sampled pass used it. */
  private sparseMean?: SparseMeanProduct;
  private meanSparse = false;
  /** Backward products through the nonzeros of the output gradient, and how many of them ran. */
  private sparseGrad?: SparseGradProduct;
  private gradSparseCount = 0;

  constructor(opts: BayesOptions) {
    super();
    this.base = optionsObject('options', opts);
    const t = opts.threshold ?? 3;
    if (typeof t !== 'number' || Number.isNaN(t)) throw new ArgumentError('threshold', 'a number (Infinity keeps every weight)', describe(t));
    this.threshold = t;
    const r = opts.logAlphaRange ?? [-8, 8];
    if (!Array.isArray(r) || r.length !== 2 || !(r[0] < r[1]) || !r.every(Number.isFinite)) {
      throw new ArgumentError('logAlphaRange', '[lo, hi] finite with lo < hi', describe(r));
    }
    this.range = { lo: r[0], hi: r[1] };
    checkNumber('l1', opts.l1 ?? 0, 0);
    checkNumber('l2', opts.l2 ?? 0, 0);
    if (opts.sparseGradLimit !== undefined) checkNumber('sparseGradLimit', opts.sparseGradLimit, 0, 1);
  }

  protected abstract makeMap(inputShape: Shape): LinearMap;

  plan(inputShape: Shape): { outputShape: Shape; weights: number } {
    const m = this.makeMap(inputShape);
    return { outputShape: m.outputShape, weights: m.weightShape.reduce((a, b) => a * b, 1) };
  }
  /** Create θ and the variance parameters. */
  protected abstract initWeights(seed: number): void;
  /**
   * Fill M (masked means) and, unless null (deterministic passes), S (variances) for this pass;
   * `ctx` is the pass's context (see {@link ForwardContext.klGradScale}).
   */
  protected abstract prepare(M: Tensor, S: Tensor | null, ctx: ForwardContext): void;
  /** Chain rule from dM, dS to the parameter gradients. */
  protected abstract paramGrads(dM: Tensor, dS: Tensor, S: Tensor): void;
  /**
   * When this pass's M is exactly zero where log α ≥ threshold (read after `prepare`): the
   * per-weight log α, the threshold, how many weights are kept, and the kept fraction at or below
   * which the mean product runs sparsely. Null (the default) keeps the dense product.
   */
  protected keptMask(): { logAlpha: Tensor; threshold: number; kept: number; limit: number } | null {
    return null;
  }

  protected init(inputShape: Shape, seed: number): Shape {
    this.map = this.makeMap(inputShape);
    this.lin = this.map;
    if (this.map instanceof DenseMap) this.skip = new DenseColumnSkip(this.map, (k, s) => this.buffer(k, s));
    this.initWeights(seed);
    if (this.base.useBias ?? true) {
      const units = this.map.weightShape[this.map.weightShape.length - 1];
      this.bias = param(`${this.name}/bias`, Tensor.zeros([units], this.rt));
    }
    return this.map.outputShape;
  }

  /** How many products of the last backward ran through the nonzeros of the output gradient. @internal */
  get gradSparseProducts(): number {
    return this.gradSparseCount;
  }

  /** Whether the last sampled pass multiplied the means through the kept weights only. @internal */
  get meanWasSparse(): boolean {
    return this.meanSparse;
  }

  /** Number of output units (last weight axis). */
  protected get units(): number {
    return this.map.weightShape[this.map.weightShape.length - 1];
  }

  /** y = x ⊛ M + bias with the masked means M of the deterministic forward (dropped weights 0). */
  inference(): InferenceForm {
    const M = this.buffer('M', this.map.weightShape);
    this.prepare(M, null, { training: false, sample: false, seed: 0, step: 0 });
    return { kind: 'linear', weights: M.toArray(), units: this.units, bias: this.bias?.value.toArray() ?? null, geometry: this.map.geometry };
  }

  /** One pass: sampled pre-activations (local reparameterization) in training, the mean weights at inference. `x` is [n, ...inputShape]. */
  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const n = this.checkInput(x);
    this.x = x;
    const ws = this.map.weightShape;
    this.stochastic = ctx.training || ctx.sample;
    const M = this.buffer('M', ws), S = this.buffer('S', ws);
    this.prepare(M, this.stochastic ? S : null, ctx);
    const yShape = [n, ...this.outputShape];
    const y = this.buffer('y', yShape);
    if (!this.stochastic) {
      this.map.forward(x, M, this.bias?.value, y);
      return y;
    }
    if (!ctx.training && ctx.sampleWeights) {
      // Monte-Carlo prediction samples the weights, w = M + σ·ε, with ε keyed by (seed, pass) on
      // this layer's stream: every sample of a call sees the same weights, so the results do not
      // depend on the batch size or on a sample's position.
      const w = this.buffer('wSample', ws);
      gaussian(w, passSeed(ctx), { stream: this.index });
      lrtSample(M, S, w, undefined, w, this.buffer('wStd', ws));
      this.map.forward(x, w, this.bias?.value, y);
      return y;
    }
    const mu = this.buffer('mu', yShape), v = this.buffer('v', yShape);
    // Dense maps multiply only the input columns that are not all zero in this batch.
    const xc = this.skip?.begin(x) ?? null;
    this.lin = xc ? this.skip! : this.map;
    this.xin = xc ?? x;
    this.x2in = square(this.xin, { out: this.buffer('x2', x.shape).prefix(this.xin.shape) });
    // Few kept weights and the dropped ones exactly zero: the mean product reads the kept ones only.
    const mask = this.keptMask();
    this.meanSparse = mask !== null && mask.kept <= mask.limit * M.size &&
      (this.sparseMean ??= new SparseMeanProduct(this.map, (k, s) => this.buffer(k, s))).begin(M, mask.logAlpha, mask.threshold, mask.limit);
    if (this.meanSparse) this.sparseMean!.forward(x, mu);
    else this.lin.forward(this.xin, M, undefined, mu);
    this.lin.forward(this.x2in, S, undefined, v);
    const eps = this.buffer('eps', yShape);
    gaussian(eps, passSeed(ctx), { stream: this.index });
    lrtSample(mu, v, eps, this.bias?.value, y, this.buffer('std', yShape));
    return y;
  }

  backward(dy: Tensor): Tensor | null {
    const x = this.x!;
    const ws = this.map.weightShape;
    const M = this.buffer('M', ws), S = this.buffer('S', ws);
    const dM = this.buffer('dM', ws), dS = this.buffer('dS', ws);
    if (this.bias) columnSums(dy, { out: this.bias.grad, accumulate: true });
    // A sampled pass may have skipped the input's all-zero columns (see forward).
    const lin = this.stochastic ? this.lin : this.map;
    const dx = this.inputGrad ? this.buffer('dx', x.shape) : null;
    // Output gradients that are mostly zero (behind a max-pool or a ReLU) go through their
    // nonzeros only. Those products read the full input (a sampled pass that skipped x's zero
    // columns kept only the packed square: the full one is made here when needed).
    const limit = this.base.sparseGradLimit ?? SPARSE_GRAD_LIMIT;
    const grad = (this.sparseGrad ??= new SparseGradProduct(this.map, (k, s) => this.buffer(k, s)));
    const x2full = (): Tensor => (lin === this.map ? this.x2in! : square(x, { out: this.buffer('x2full', x.shape) }));
    this.gradSparseCount = 0;
    // dv = dy·ε/(2·std) is zero wherever dy is: one list of dy's nonzeros serves both paths.
    const sparseDy = grad.begin(dy, limit);
    if (this.stochastic && this.meanSparse) {
      // Kept weights few and dy sparse too: one multiply-add per (nonzero, kept weight).
      if (sparseDy) this.sparseMean!.backwardRows(x, grad.nonzeros, dM, dx);
      else this.sparseMean!.backward(x, dy, dM, dx);
    } else if (sparseDy) {
      grad.backwardFilter(x, dM);
      if (dx) grad.backwardData(M, dx);
    } else {
      lin.backwardFilter(this.stochastic ? this.xin! : x, dy, dM, false);
      if (dx) this.map.backwardData(dy, M, dx, false);
    }
    if (sparseDy) this.gradSparseCount++;
    if (this.stochastic) {
      const eps = this.buffer('eps', dy.shape), std = this.buffer('std', dy.shape);
      const t = dx ? this.buffer('t', x.shape) : null;
      if (sparseDy) {
        lrtBackwardRows(grad.nonzeros, eps, std); // the list's values become dv's
        grad.backwardFilter(x2full(), dS);
        if (t) grad.backwardData(S, t);
        this.gradSparseCount++;
      } else {
        const dv = this.buffer('dv', dy.shape);
        lrtBackward(dy, eps, std, dv);
        lin.backwardFilter(this.x2in!, dv, dS, false);
        if (t) this.map.backwardData(dv, S, t, false);
      }
      if (dx) lrtInputGrad(x, t!, dx);
    } else {
      dS.view().fill(0);
    }
    this.paramGrads(dM, dS, S);
    return dx;
  }
}

/* ------------------------------------------------------------------ Sparse VD */

/** Options of the Sparse VD layers. */
export interface SparseVDOptions extends BayesOptions {
  /** Initial log σ² of every weight (default −10). */
  initialLogSigma2?: number;
  /** Zero θ where log α ≥ threshold during training too, as the authors' recipe does (default true). */
  maskInTraining?: boolean;
  /**
   * Kept fraction of the weights (0–1) at or below which a masked sampled pass multiplies the
   * means through the kept weights only (sparse kernels; same result up to the order of the
   * sums). Default {@link SPARSE_MEAN_LIMIT}: 0.3 for convolutions, 0.2 for dense layers; 0
   * keeps the dense product unless every weight is dropped, 1 always goes sparse.
   */
  sparseMeanLimit?: number;
}

/**
 * Sparse variational dropout (Molchanov et al. 2017): a weight per (θ, log σ²) with the additive
 * reparameterization w = θ + σ·ε, log α = log σ² − log θ², and the log-uniform prior's KL by the
 * paper's approximation. Weights with log α ≥ threshold are dropped.
 */
abstract class SparseVD extends LrtLayer {
  protected theta!: ParamGroup;
  protected logSigma2!: ParamGroup;
  protected readonly opts: SparseVDOptions;
  private training = true;
  /** Scale of the KL gradient the last forward added (fused), until `kl` takes note of it. */
  private klAddedScale?: number;
  /** Weights the last `prepare` kept. */
  private kept = 0;
  /** Whether M holds the masked means of the θ, log σ² copied at the last deterministic prepare. */
  private detValid = false;

  constructor(opts: SparseVDOptions) {
    super(opts);
    this.opts = opts;
    checkNumber('initialLogSigma2', opts.initialLogSigma2 ?? -10);
    if (opts.sparseMeanLimit !== undefined) checkNumber('sparseMeanLimit', opts.sparseMeanLimit, 0, 1);
  }

  protected initWeights(seed: number): void {
    const th = Tensor.zeros(this.map.weightShape, this.rt);
    initialize(th, this.opts.kernelInitializer ?? 'glorotNormal', this.map.fanIn, this.map.fanOut, seed, 0);
    this.theta = param(`${this.name}/theta`, th, this.base.l1 ?? 0, this.base.l2 ?? 0);
    const ls = Tensor.zeros(this.map.weightShape, this.rt);
    ls.view().fill(this.opts.initialLogSigma2 ?? -10);
    this.logSigma2 = param(`${this.name}/logSigma2`, ls);
  }

  /** Masked forward: the dropped weights (log α ≥ threshold) zeroed in training when `maskInTraining`, always at inference. */
  forward(x: Tensor, ctx: ForwardContext): Tensor {
    this.training = ctx.training;
    return super.forward(x, ctx);
  }

  private get maskThreshold(): number {
    return this.training && !(this.opts.maskInTraining ?? true) ? Infinity : this.threshold;
  }

  protected prepare(M: Tensor, S: Tensor | null, ctx: ForwardContext): void {
    if (S === null) {
      this.prepareDeterministic(M);
      return;
    }
    this.detValid = false; // M now holds this pass's means
    // A training step's KL gradient is fused into this sweep (it needs only θ, log σ² and σ²).
    const fuse = S !== null && ctx.training && ctx.klGradScale !== undefined;
    const klGrads = fuse ? { theta: this.theta.grad, logSigma2: this.logSigma2.grad, scale: ctx.klGradScale! } : undefined;
    this.kept = svdPrepare(this.theta.value, this.logSigma2.value, M, S, this.buffer('logAlpha', M.shape), this.maskThreshold, this.range, klGrads);
    this.klAddedScale = fuse ? ctx.klGradScale : undefined;
  }

  /**
   * The masked means of an inference pass. They depend on θ and log σ² only, so a run of
   * inference passes (predict, evaluate) computes them once: M, log α and the kept count stay
   * from the last deterministic pass as long as θ and log σ² hold the same bits as then (checked
   * against copies, so any write to the parameters, from an optimizer or by hand, is seen) and no
   * sampled pass has run since.
   */
  private prepareDeterministic(M: Tensor): void {
    const ws = this.map.weightShape;
    const th = this.buffer('det/theta', ws), ls = this.buffer('det/logSigma2', ws);
    if (this.detValid && equalBits(this.theta.value, th) && equalBits(this.logSigma2.value, ls)) return;
    this.kept = svdPrepare(this.theta.value, this.logSigma2.value, M, null, this.buffer('logAlpha', M.shape), this.threshold, this.range);
    this.klAddedScale = undefined;
    copy(this.theta.value, { out: th });
    copy(this.logSigma2.value, { out: ls });
    this.detValid = true;
  }

  protected keptMask(): { logAlpha: Tensor; threshold: number; kept: number; limit: number } | null {
    const t = this.maskThreshold;
    if (t === Infinity) return null;
    return { logAlpha: this.buffer('logAlpha', this.map.weightShape), threshold: t, kept: this.kept, limit: this.opts.sparseMeanLimit ?? SparseMeanProduct.defaultLimit(this.map) };
  }

  protected paramGrads(dM: Tensor, dS: Tensor, S: Tensor): void {
    svdParamGrads(this.buffer('logAlpha', dM.shape), dM, dS, S, this.theta.grad, this.logSigma2.grad, this.maskThreshold);
  }

  /**
   * Σ KL of the weights. With `gradScale` (the training step, right after this step's
   * forward/backward) it reuses the log α of that forward; without, it recomputes log α.
   */
  kl(gradScale?: number, value = true): number {
    const la = this.buffer('logAlpha', this.map.weightShape);
    // The forward of this step already added the gradient at this scale: only the value is left.
    const added = gradScale !== undefined && gradScale === this.klAddedScale;
    this.klAddedScale = undefined;
    if (added) return value ? svdKl(this.theta.value, la, this.range) : 0;
    if (gradScale === undefined) {
      svdLogAlpha(this.theta.value, this.logSigma2.value, la, this.range);
      return svdKl(this.theta.value, la, this.range);
    }
    return svdKl(this.theta.value, la, this.range, { theta: this.theta.grad, logSigma2: this.logSigma2.grad, scale: gradScale }, value);
  }

  /** log α of every weight (clamped), same shape as θ. */
  logAlpha(): Float32Array {
    return svdLogAlpha(this.theta.value, this.logSigma2.value, this.buffer('logAlpha', this.map.weightShape), this.range).toArray();
  }

  sparsity(): { kept: number; total: number } {
    const la = this.logAlpha();
    let kept = 0;
    for (let i = 0; i < la.length; i++) if (la[i] < this.threshold) kept++;
    return { kept, total: la.length };
  }

  params(): ParamGroup[] {
    const p = [this.theta, this.logSigma2];
    return this.bias ? [...p, this.bias] : p;
  }
}

/** Options of {@link SparseVDDense}. */
export interface SparseVDDenseOptions extends SparseVDOptions {
  units: number;
}

/** Sparse VD fully connected layer: x [batch, in] → [batch, units]; θ, log σ² [in, units]. */
export class SparseVDDense extends SparseVD {
  readonly unitsOut: number;
  constructor(opts: SparseVDDenseOptions) {
    super(opts);
    this.unitsOut = checkInt('units', opts.units, 1);
  }
  protected makeMap(inputShape: Shape): LinearMap {
    return new DenseMap(inputShape, this.unitsOut);
  }
  config(): LayerConfig {
    return { className: 'SparseVDDense', options: { ...this.opts } };
  }
}

/** Options of {@link SparseVDConv2d}. */
export interface SparseVDConv2dOptions extends SparseVDOptions, ConvOptions {
  filters: number;
}

/** Sparse VD convolution (NHWC); the LRT variance is conv(x², σ²). */
export class SparseVDConv2d extends SparseVD {
  readonly filters: number;
  constructor(opts: SparseVDConv2dOptions) {
    super(opts);
    this.filters = checkInt('filters', opts.filters, 1);
  }
  protected makeMap(inputShape: Shape): LinearMap {
    return new ConvMap(inputShape, this.filters, this.opts as SparseVDConv2dOptions);
  }
  config(): LayerConfig {
    return { className: 'SparseVDConv2d', options: { ...this.opts } };
  }
}

/* ---------------------------------------------------------- Variational dropout */

export type { AlphaShape };

/** Options of the variational dropout layers. */
export interface VariationalDropoutOptions extends BayesOptions {
  /** α per layer, per output unit or per weight (default `'weight'`). */
  alpha?: AlphaShape;
  /** Initial log α (default −4, i.e. α ≈ 0.018). */
  initialLogAlpha?: number;
  /** Learn α (default true); false keeps Gaussian dropout with a fixed rate. */
  learnAlpha?: boolean;
}

/**
 * Variational dropout (Kingma et al. 2015): multiplicative Gaussian noise w = θ·ξ, ξ ~ N(1, α),
 * i.e. w ~ N(θ, αθ²), sampled with the local reparameterization trick; α is learnt against the
 * log-uniform prior (KL by Molchanov et al.'s approximation, valid for every α). log α is clamped
 * to `logAlphaRange` (default [−8, 0], α ≤ 1 as Kingma et al. restrict it).
 */
abstract class VariationalDropout extends LrtLayer {
  protected theta!: ParamGroup;
  protected logAlphaP!: ParamGroup;
  protected readonly opts: VariationalDropoutOptions;
  protected readonly alpha: AlphaShape;

  constructor(opts: VariationalDropoutOptions, defaults: Partial<BayesOptions> = {}) {
    super({ logAlphaRange: [-8, 0], threshold: Infinity, ...defaults, ...optionsObject('options', opts) });
    this.opts = opts;
    const a = opts.alpha ?? 'weight';
    if (!isAlphaShape(a)) throw new ArgumentError('alpha', "'layer' | 'unit' | 'weight'", describe(a));
    this.alpha = a;
    checkNumber('initialLogAlpha', opts.initialLogAlpha ?? -4);
  }

  protected initWeights(seed: number): void {
    const th = Tensor.zeros(this.map.weightShape, this.rt);
    initialize(th, this.opts.kernelInitializer ?? 'glorotNormal', this.map.fanIn, this.map.fanOut, seed, 0);
    this.theta = param(`${this.name}/theta`, th, this.base.l1 ?? 0, this.base.l2 ?? 0);
    const n = alphaCount(th.size, this.units, this.alpha);
    const la = Tensor.zeros(this.alpha === 'weight' ? this.map.weightShape : [n], this.rt);
    la.view().fill(Math.min(Math.max(this.opts.initialLogAlpha ?? -4, this.range.lo), this.range.hi));
    this.logAlphaP = param(`${this.name}/logAlpha`, la);
  }

  /** Weights sharing one α. */
  private get mult(): number {
    return this.theta.value.size / this.logAlphaP.value.size;
  }

  protected prepare(M: Tensor, S: Tensor | null): void {
    if (S) vdPrepare(this.theta.value, this.logAlphaP.value, this.units, this.alpha, S);
    if (this.threshold === Infinity) copy(this.theta.value, { out: M });
    // Drop weights whose α is above the threshold (whole units in the per-unit variant).
    else vdMask(this.theta.value, this.logAlphaP.value, this.units, this.alpha, this.threshold, M);
  }

  protected paramGrads(dM: Tensor, dS: Tensor): void {
    if (this.threshold !== Infinity) {
      // Dropped weights get no gradient through their (zero) mean.
      const m = this.buffer('M', this.map.weightShape).view(), th = this.theta.value.view(), d = dM.view();
      for (let i = 0; i < d.length; i++) if (m[i] === 0 && th[i] !== 0) d[i] = 0;
    }
    const dLa = this.learnAlpha ? this.logAlphaP.grad : this.buffer('dLaDiscard', this.logAlphaP.value.shape);
    vdParamGrads(this.theta.value, this.logAlphaP.value, this.units, this.alpha, dM, dS, this.theta.grad, dLa);
  }

  private get learnAlpha(): boolean {
    return this.opts.learnAlpha ?? true;
  }

  kl(gradScale?: number): number {
    if (!this.learnAlpha) return 0;
    const g = gradScale === undefined ? undefined : { logAlpha: this.logAlphaP.grad, scale: gradScale };
    return klLogUniform(this.logAlphaP.value, this.mult, this.range, g);
  }

  constrain(): void {
    const v = this.logAlphaP.value.view();
    for (let i = 0; i < v.length; i++) v[i] = Math.min(Math.max(v[i], this.range.lo), this.range.hi);
  }

  /** log α per layer, unit or weight (see `alpha`). */
  logAlpha(): Float32Array {
    return this.logAlphaP.value.toArray();
  }

  sparsity(): { kept: number; total: number } | null {
    const total = this.theta.value.size;
    if (this.threshold === Infinity) return { kept: total, total };
    const la = this.logAlphaP.value.view();
    let kept = 0;
    for (let i = 0; i < la.length; i++) if (la[i] < this.threshold) kept += this.mult;
    return { kept, total };
  }

  params(): ParamGroup[] {
    const p = this.learnAlpha ? [this.theta, this.logAlphaP] : [this.theta];
    return this.bias ? [...p, this.bias] : p;
  }

  dispose(): void {
    super.dispose();
    // A fixed α is not a trainable group, so the base does not free it.
    if (!this.learnAlpha && this.logAlphaP) {
      this.logAlphaP.value.dispose();
      this.logAlphaP.grad.dispose();
    }
  }
}

/** Options of {@link VariationalDropoutDense}. */
export interface VariationalDropoutDenseOptions extends VariationalDropoutOptions {
  units: number;
}

/** Variational dropout fully connected layer: x [batch, in] → [batch, units]. */
export class VariationalDropoutDense extends VariationalDropout {
  readonly unitsOut: number;
  constructor(opts: VariationalDropoutDenseOptions, defaults?: Partial<BayesOptions>) {
    super(opts, defaults);
    this.unitsOut = checkInt('units', opts.units, 1);
  }
  protected makeMap(inputShape: Shape): LinearMap {
    return new DenseMap(inputShape, this.unitsOut);
  }
  config(): LayerConfig {
    return { className: 'VariationalDropoutDense', options: { ...this.opts } };
  }
}

/** Options of {@link VariationalDropoutConv2d}. */
export interface VariationalDropoutConv2dOptions extends VariationalDropoutOptions, ConvOptions {
  filters: number;
}

/** Variational dropout convolution (NHWC). */
export class VariationalDropoutConv2d extends VariationalDropout {
  readonly filters: number;
  constructor(opts: VariationalDropoutConv2dOptions, defaults?: Partial<BayesOptions>) {
    super(opts, defaults);
    this.filters = checkInt('filters', opts.filters, 1);
  }
  protected makeMap(inputShape: Shape): LinearMap {
    return new ConvMap(inputShape, this.filters, this.opts as VariationalDropoutConv2dOptions);
  }
  config(): LayerConfig {
    return { className: 'VariationalDropoutConv2d', options: { ...this.opts } };
  }
}

/* ------------------------------------------------------------ Structured sparsity */

/**
 * Structured (group) sparsity: one learnt noise scale α per output unit (neuron or channel),
 * shared by all its incoming weights, against the log-uniform prior; log α may grow to 8, and
 * units with log α ≥ threshold (default 3) are removed whole at inference and when pruning.
 */
export class GroupSparseVDDense extends VariationalDropoutDense {
  constructor(opts: Omit<VariationalDropoutDenseOptions, 'alpha'>) {
    super({ ...opts, alpha: 'unit' }, { logAlphaRange: [-8, 8], threshold: 3 });
  }
  config(): LayerConfig {
    const { alpha: _a, ...o } = this.opts;
    return { className: 'GroupSparseVDDense', options: o };
  }
}

/** Channel-wise structured sparsity for convolutions (see {@link GroupSparseVDDense}). */
export class GroupSparseVDConv2d extends VariationalDropoutConv2d {
  constructor(opts: Omit<VariationalDropoutConv2dOptions, 'alpha'>) {
    super({ ...opts, alpha: 'unit' }, { logAlphaRange: [-8, 8], threshold: 3 });
  }
  config(): LayerConfig {
    const { alpha: _a, ...o } = this.opts;
    return { className: 'GroupSparseVDConv2d', options: o };
  }
}


registerLayer('SparseVDDense', (o) => new SparseVDDense(o as unknown as SparseVDDenseOptions));
registerLayer('SparseVDConv2d', (o) => new SparseVDConv2d(o as unknown as SparseVDConv2dOptions));
registerLayer('VariationalDropoutDense', (o) => new VariationalDropoutDense(o as unknown as VariationalDropoutDenseOptions));
registerLayer('VariationalDropoutConv2d', (o) => new VariationalDropoutConv2d(o as unknown as VariationalDropoutConv2dOptions));
registerLayer('GroupSparseVDDense', (o) => new GroupSparseVDDense(o as unknown as VariationalDropoutDenseOptions));
registerLayer('GroupSparseVDConv2d', (o) => new GroupSparseVDConv2d(o as unknown as VariationalDropoutConv2dOptions));
