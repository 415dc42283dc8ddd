import { ArgumentError, checkNumber, describe } from '../errors.js';
import { ActivationKind, activation, activationBackward } from '../ops/activation.js';
import { columnSums, square } from '../ops/elementwise.js';
import { gaussian } from '../ops/noise.js';
import { lrtBackward, lrtBackwardRows, lrtInputGrad, lrtSample, mcWeightSample } from '../ops/bayes.js';
import { Initializer, initialize } from '../init.js';
import { optionsObject } from '../validate.js';
import { Shape, Tensor } from '../tensor.js';
import { ForwardContext, InferenceForm, Layer, ParamGroup, param, passSeed } from './layer.js';
import { DenseColumnSkip, DenseMap, LinearMap, SPARSE_GRAD_LIMIT, SparseGradProduct, SparseMeanProduct } from './linear.js';

/** An activation fused into a weight layer: a kind, or a kind with its α (leakyRelu slope, ELU saturation). */
export type FusedActivation = ActivationKind | { kind: ActivationKind; alpha?: number };

/** Options shared by every weight layer (Dense, Conv2d and the Bayesian layers). */
export interface WeightOptions {
  /** Add a learnt (deterministic) bias (default true). */
  useBias?: boolean;
  /** Weight (or weight-mean θ) initialiser (default `'glorotUniform'`; Bayesian layers `'glorotNormal'`). */
  kernelInitializer?: Initializer;
  /** Bias initialiser (default `'zeros'`). */
  biasInitializer?: Initializer;
  /** L1 coefficient on the weights (the means θ of Bayesian layers; default 0). */
  l1?: number;
  /** L2 coefficient on the weights (the means θ of Bayesian layers; default 0). */
  l2?: number;
  /**
   * Fraction (0–1) of nonzero entries in the output gradient at or below which the backward
   * multiplies through its nonzeros only (behind a max-pool or a ReLU; same result up to the
   * order of the sums). Default {@link SPARSE_GRAD_LIMIT} (0.25); 0 keeps the dense products
   * unless the gradient is all zero.
   */
  sparseGradLimit?: number;
  /**
   * Activation applied to the layer's output, as a separate activation layer would (default
   * none). ReLU, sigmoid and tanh run in place on the output buffer and differentiate from it;
   * leakyRelu and ELU keep the pre-activation.
   */
  activation?: FusedActivation;
}

const ACTIVATIONS: readonly ActivationKind[] = ['relu', 'leakyRelu', 'elu', 'sigmoid', 'tanh'];

/** Check a fused activation option; returns it as `{kind, alpha}` (undefined for none). */
function checkActivation(a: unknown): { kind: ActivationKind; alpha?: number } | undefined {
  if (a === undefined) return undefined;
  const o = typeof a === 'string' ? { kind: a } : a;
  const kind = (o as { kind?: unknown })?.kind;
  if (!ACTIVATIONS.includes(kind as ActivationKind)) throw new ArgumentError('activation', `one of ${ACTIVATIONS.join(', ')} (or {kind, alpha})`, describe(a));
  const alpha = (o as { alpha?: unknown }).alpha;
  if (alpha !== undefined) checkNumber('activation.alpha', alpha);
  return { kind: kind as ActivationKind, alpha: alpha as number | undefined };
}

/**
 * The weights of one pass, as the layer's family makes them ({@link WeightLayer.draw}).
 * - `M`: the (mean) weights the product multiplies by, dropped ones exactly zero.
 * - `S`: the weight variances of a pass sampled through the local reparameterization trick,
 *   null for a deterministic pass.
 * - `dM`, `addToDM`: where the backward puts x ⋆ dy: a deterministic layer's own gradient,
 *   added to (`addToDM` true), or scratch that {@link WeightLayer.paramGrads} turns into the
 *   parameters' gradients (overwritten).
 * - `kept`: when M is exactly zero where log α ≥ `threshold`, the per-weight log α, that
 *   threshold, how many weights are kept and the kept fraction at or below which the mean
 *   product runs through the kept weights only; null keeps the dense product.
 * - `klFused`: the pass already added klGradScale·∇KL to the gradients (the next `kl()` call
 *   with a gradient scale adds nothing more; see {@link ForwardContext.klGradScale}).
 */
export interface WeightDraw {
  M: Tensor;
  S: Tensor | null;
  dM: Tensor;
  addToDM: boolean;
  kept: { logAlpha: Tensor; threshold: number; count: number; limit: number } | null;
  klFused: boolean;
}

/**
 * The plan of one forward, chosen there and consumed by the backward:
 * - `packed`: the products ran over the input's live columns only (a dense map; `xin` is x
 *   packed to them, else x itself);
 * - `mean`: the mean product through the map (`'map'`, over `xin`) or through a masked
 *   layer's kept weights only (`'kept'`, over the full x);
 * - `noise`: a sampled pass's variance path (x² packed like `xin`, the noise and the standard
 *   deviation of every output), null for deterministic passes;
 * - `z`, `y`: the pre-activation and the output of a fused activation (the same tensor when
 *   it runs in place, or without one).
 * The backward adds one choice, from dy: through dy's nonzeros when few enough are nonzero (see
 * {@link WeightOptions.sparseGradLimit}; these products read the full x and x²), else the
 * plan's products.
 */
export interface ProductPlan<D extends WeightDraw = WeightDraw> {
  x: Tensor;
  draw: D;
  packed: boolean;
  mean: 'map' | 'kept';
  xin: Tensor;
  noise: { x2in: Tensor; eps: Tensor; std: Tensor } | null;
  /** Output after the fused activation, and the pre-activation (same tensor when the activation is applied in place). */
  y: Tensor;
  z: Tensor;
}

/**
 * The one base of every weight layer: y = act(x ⊛ W + b) for a dense or convolutional
 * {@link LinearMap}, deterministic W (Dense, Conv2d) or Gaussian weights w ~ N(M, S) sampled
 * through the local reparameterization trick (Kingma et al. 2015): the pre-activation
 * b = x ⊛ M + sqrt((x ⊙ x) ⊛ S)·ε + bias, one ε per output element. Families say how they make
 * their weights ({@link draw}) and how gradients reach their parameters ({@link paramGrads});
 * forward, backward, column skipping, the sparse mean and sparse-gradient products, the noise
 * and the fused activation are written once here.
 */
export abstract class WeightLayer<D extends WeightDraw = WeightDraw> extends Layer {
  protected map!: LinearMap;
  protected bias?: ParamGroup;
  protected readonly base: WeightOptions;
  private readonly act?: { kind: ActivationKind; alpha?: number };
  /** Zero-column skipping of dense maps (none for convolutions). */
  private skip?: DenseColumnSkip;
  private sparseMean?: SparseMeanProduct;
  private sparseGrad?: SparseGradProduct;
  private last?: ProductPlan<D>;
  private gradSparseCount = 0;

  constructor(opts: WeightOptions) {
    super();
    const o = (this.base = optionsObject('options', opts));
    checkNumber('l1', o.l1 ?? 0, 0);
    checkNumber('l2', o.l2 ?? 0, 0);
    if (o.sparseGradLimit !== undefined) checkNumber('sparseGradLimit', o.sparseGradLimit, 0, 1);
    this.act = checkActivation(o.activation);
  }

  protected abstract makeMap(inputShape: Shape): LinearMap;
  /** Create the weight parameters (the map is set). */
  protected abstract initWeights(seed: number): void;
  /** Whether a pass with `ctx` samples the weights (deterministic layers: never). */
  protected abstract sampled(ctx: ForwardContext): boolean;
  /** The weights of this pass (see {@link WeightDraw}); `sample` as {@link sampled} said. */
  protected abstract draw(ctx: ForwardContext, sample: boolean): D;
  /**
   * Chain rule from the backward's dM (and, for a sampled pass, dS; zero otherwise) to the
   * parameter gradients. Deterministic layers whose dM is their gradient have nothing to do.
   */
  protected abstract paramGrads(plan: ProductPlan<D>, dM: Tensor, dS: Tensor | null): void;
  /** Whether deterministic passes skip the input's all-zero columns (the deterministic layers do). */
  protected get skipsColumns(): boolean {
    return true;
  }

  /** Default weight initialiser of the family. */
  protected get defaultInitializer(): Initializer {
    return 'glorotUniform';
  }

  plan(inputShape: Shape): { outputShape: Shape; weights: number } {
    const m = this.makeMap(inputShape);
    return { outputShape: m.outputShape, weights: m.weightShape.reduce((a, b) => a * b, 1) };
  }

  protected init(inputShape: Shape, seed: number): Shape {
    this.map = this.makeMap(inputShape);
    if (this.map instanceof DenseMap) this.skip = new DenseColumnSkip(this.map, (k, s) => this.buffer(k, s));
    this.initWeights(seed);
    if (this.base.useBias ?? true) {
      const b = Tensor.zeros([this.outputUnits], this.rt);
      initialize(b, this.base.biasInitializer ?? 'zeros', this.map.fanIn, this.map.fanOut, seed, 1);
      this.bias = param(`${this.name}/bias`, b);
    }
    return this.map.outputShape;
  }

  /** A weight tensor initialised with the layer's initialiser (stream 0 of `seed`). */
  protected initKernel(seed: number): Tensor {
    const w = Tensor.zeros(this.map.weightShape, this.rt);
    initialize(w, this.base.kernelInitializer ?? this.defaultInitializer, this.map.fanIn, this.map.fanOut, seed, 0);
    return w;
  }

  /** Number of output units (last weight axis). */
  protected get outputUnits(): number {
    return this.map.weightShape[this.map.weightShape.length - 1];
  }

  /** How many products of the last backward ran through the nonzeros of the output gradient. @internal */
  get gradSparseProducts(): number {
    return this.gradSparseCount;
  }

  /** Whether the last backward multiplied through the nonzeros of its output gradient. @internal */
  get gradWasSparse(): boolean {
    return this.gradSparseCount > 0;
  }

  /** Whether the last sampled pass multiplied the means through the kept weights only. @internal */
  get meanWasSparse(): boolean {
    return this.last?.mean === 'kept';
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const n = this.checkInput(x);
    const sample = this.sampled(ctx);
    const draw = this.draw(ctx, sample);
    const yShape = [n, ...this.outputShape];
    const z = this.buffer('y', yShape);
    // Dense maps multiply only the input columns that are not all zero in this batch.
    const xc = sample || this.skipsColumns ? this.skip?.begin(x) ?? null : null;
    const plan: ProductPlan<D> = { x, draw, packed: xc !== null, mean: 'map', xin: xc ?? x, noise: null, y: z, z };
    this.last = plan;
    const lin = xc ? this.skip! : this.map;
    if (!sample) {
      lin.forward(plan.xin, draw.M, this.bias?.value, z);
      return this.activate(plan);
    }
    if (!ctx.training && ctx.sampleWeights) {
      // Monte-Carlo prediction samples the weights, w = M + σ·ε, with ε keyed by (seed, pass) on
      // this layer's stream: every sample of a call sees the same weights, so the results do not
      // depend on the batch size or on a sample's position. Such a pass has no backward.
      const ws = this.map.weightShape, w = this.buffer('wSample', ws);
      // A weight whose mean is masked to zero is dropped whole (no noise either), as prune drops it.
      gaussian(w, passSeed(ctx), { stream: this.index });
      mcWeightSample(draw.M, draw.S!, w, w);
      this.map.forward(x, w, this.bias?.value, z);
      return this.activate(plan);
    }
    const mu = this.buffer('mu', yShape), v = this.buffer('v', yShape);
    const x2in = square(plan.xin, { out: this.buffer('x2', x.shape).prefix(plan.xin.shape) });
    // Few kept weights and the dropped ones exactly zero: the mean product reads the kept ones only.
    const k = draw.kept;
    if (k !== null && k.count <= k.limit * draw.M.size &&
      (this.sparseMean ??= new SparseMeanProduct(this.map, (key, s) => this.buffer(key, s))).begin(draw.M, k.logAlpha, k.threshold, k.limit)) {
      plan.mean = 'kept';
      this.sparseMean.forward(x, mu);
    } else {
      lin.forward(plan.xin, draw.M, undefined, mu);
    }
    lin.forward(x2in, draw.S!, undefined, v);
    const eps = this.buffer('eps', yShape), std = this.buffer('std', yShape);
    gaussian(eps, passSeed(ctx), { stream: this.index });
    lrtSample(mu, v, eps, this.bias?.value, z, std);
    plan.noise = { x2in, eps, std };
    return this.activate(plan);
  }

  /** The fused activation of `plan.z` (in place when its backward needs only the output). */
  private activate(plan: ProductPlan<D>): Tensor {
    const a = this.act;
    if (!a) return plan.z;
    const inPlace = a.kind === 'relu' || a.kind === 'sigmoid' || a.kind === 'tanh';
    plan.y = activation(a.kind, plan.z, { alpha: a.alpha, out: inPlace ? plan.z : this.buffer('act', plan.z.shape) });
    return plan.y;
  }

  backward(dyIn: Tensor): Tensor | null {
    const plan = this.last!;
    const { x, draw } = plan;
    const a = this.act;
    // relu's gradient from its output: y > 0 exactly where the pre-activation is.
    const dy = a ? activationBackward(a.kind, plan.y === plan.z ? plan.y : plan.z, plan.y, dyIn, { alpha: a.alpha, out: this.buffer('dz', dyIn.shape) }) : dyIn;
    if (this.bias) columnSums(dy, { out: this.bias.grad, accumulate: true });
    const dx = this.inputGrad ? this.buffer('dx', x.shape) : null;
    // Output gradients that are mostly zero (behind a max-pool or a ReLU) go through their
    // nonzeros only. Those products read the full input, also after a forward that packed it.
    const grad = (this.sparseGrad ??= new SparseGradProduct(this.map, (k, s) => this.buffer(k, s)));
    const sparseDy = grad.begin(dy, this.base.sparseGradLimit ?? SPARSE_GRAD_LIMIT);
    this.gradSparseCount = 0;
    const { M, dM, addToDM } = draw;
    if (plan.mean === 'kept') {
      // Kept weights few (and dy sparse too: one multiply-add per nonzero and kept weight).
      if (sparseDy) this.sparseMean!.backwardRows(x, grad.nonzeros, dM, dx);
      else this.sparseMean!.backward(x, dy, dM, dx);
    } else if (sparseDy) {
      grad.backwardFilter(x, dM, addToDM);
      if (dx) grad.backwardData(M, dx);
    } else {
      (plan.packed ? this.skip! : this.map).backwardFilter(plan.xin, dy, dM, addToDM);
      if (dx) this.map.backwardData(dy, M, dx, false);
    }
    if (sparseDy) this.gradSparseCount++;
    const dS = plan.noise ? this.noiseBackward(plan, dy, sparseDy ? grad : null, dx) : null;
    this.paramGrads(plan, dM, dS);
    return dx;
  }

  /**
   * The variance path of a sampled pass: dv = dy·ε/(2·std) (zero wherever dy is, so dy's
   * nonzero list serves it too), dS = x² ⋆ dv and dx += 2·x ⊙ (dv ⊛ᵀ S). Returns dS.
   */
  private noiseBackward(plan: ProductPlan<D>, dy: Tensor, grad: SparseGradProduct | null, dx: Tensor | null): Tensor {
    const { x, draw } = plan, noise = plan.noise!, S = draw.S!;
    const dS = this.buffer('dS', this.map.weightShape);
    const t = dx ? this.buffer('t', x.shape) : null;
    if (grad) {
      lrtBackwardRows(grad.nonzeros, noise.eps, noise.std); // the list's values become dv's
      // The sparse products read the full x²: a pass that packed x's live columns makes it here.
      grad.backwardFilter(plan.packed ? square(x, { out: this.buffer('x2full', x.shape) }) : noise.x2in, dS);
      if (t) grad.backwardData(S, t);
      this.gradSparseCount++;
    } else {
      const dv = this.buffer('dv', dy.shape);
      lrtBackward(dy, noise.eps, noise.std, dv);
      (plan.packed ? this.skip! : this.map).backwardFilter(noise.x2in, dv, dS, false);
      if (t) this.map.backwardData(dv, S, t, false);
    }
    if (dx) lrtInputGrad(x, t!, dx);
    return dS;
  }

  /** The bias as a plain array (null without one). */
  protected biasValues(): Float32Array | null {
    return this.bias?.value.toArray() ?? null;
  }

  /**
   * y = act(x ⊛ M + bias) with the weights of a deterministic pass (dropped weights zero):
   * a linear step, then the fused activation as its own step.
   */
  inference(): InferenceForm {
    // A Bayesian layer's Monte-Carlo weights are w = M + sqrt(S)·ε where M ≠ 0: its masked means
    // are the deterministic ones, and S (zero where M is) goes along for `prune({ uncertainty })`.
    const ctx: ForwardContext = { training: false, sample: true, seed: 0, step: 0 };
    const sampled = this.sampled(ctx);
    const d = this.draw(sampled ? ctx : { ...ctx, sample: false }, sampled);
    const M = d.M.toArray();
    let variance: Float32Array | undefined;
    if (d.S) {
      variance = d.S.toArray();
      for (let i = 0; i < M.length; i++) if (M[i] === 0) variance[i] = 0;
    }
    const a = this.act;
    return {
      kind: 'linear', weights: M, variance, units: this.outputUnits, bias: this.biasValues(), geometry: this.map.geometry,
      activation: a ? (a.alpha === undefined ? { kind: 'activation', activation: a.kind } : { kind: 'activation', activation: a.kind, alpha: a.alpha }) : undefined,
    };
  }
}
