import { checkInt, checkNumber } from '../errors.js';
import { copy, equalBits } from '../ops/elementwise.js';
import { svdKl, svdLogAlpha, svdParamGrads, svdPrepare } from '../ops/bayes.js';
import { Shape, Tensor } from '../tensor.js';
import { ForwardContext, LayerConfig, ParamGroup, param, registerLayer } from './layer.js';
import { ConvMap, ConvOptions, DenseMap, LinearMap, SparseMeanProduct } from './linear.js';
import { BayesOptions, LrtLayer } from './lrt.js';
import { ProductPlan, WeightDraw } from './weight.js';

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

/** A Sparse VD pass's weights: the threshold it masked with (Infinity: none) is the chain rule's too. */
interface SvdDraw extends WeightDraw {
  threshold: number;
}

/**
 * Sparse variational dropout (Molchanov et al. 2017): a weight per (θ, log σ²) with the additive
 * reparameterization w = θ + σ·ε, log α = log σ² − log θ², and the log-uniform prior's KL by the
 * paper's approximation. Weights with log α ≥ threshold are dropped.
 */
abstract class SparseVD extends LrtLayer<SvdDraw> {
  protected theta!: ParamGroup;
  protected logSigma2!: ParamGroup;
  protected readonly opts: SparseVDOptions;
  /** log α of every weight, as the last pass (or `kl`, `logAlpha`) computed it. */
  private la!: Tensor;
  /** θ and log σ² as the cached deterministic draw saw them (see {@link drawDeterministic}). */
  private det!: { theta: Tensor; logSigma2: Tensor; draw: SvdDraw | null };
  private lastDraw?: SvdDraw;

  constructor(opts: SparseVDOptions) {
    super(opts);
    const o = (this.opts = this.base as SparseVDOptions);
    checkNumber('initialLogSigma2', o.initialLogSigma2 ?? -10);
    if (o.sparseMeanLimit !== undefined) checkNumber('sparseMeanLimit', o.sparseMeanLimit, 0, 1);
  }

  protected initParams(seed: number): void {
    const ws = this.map.weightShape;
    this.theta = param(`${this.name}/theta`, this.initKernel(seed), this.base.l1 ?? 0, this.base.l2 ?? 0);
    const ls = Tensor.zeros(ws, this.rt);
    ls.view().fill(this.opts.initialLogSigma2 ?? -10);
    this.logSigma2 = param(`${this.name}/logSigma2`, ls);
    this.la = this.buffer('logAlpha', ws);
    this.det = { theta: this.buffer('det/theta', ws), logSigma2: this.buffer('det/logSigma2', ws), draw: null };
  }

  protected draw(ctx: ForwardContext, sample: boolean): SvdDraw {
    if (!sample) return (this.lastDraw = this.drawDeterministic());
    this.det.draw = null; // M now holds this pass's means
    const threshold = ctx.training && !(this.opts.maskInTraining ?? true) ? Infinity : this.threshold;
    // A training step's KL gradient is fused into this sweep (it needs only θ, log σ² and σ²).
    const fuse = ctx.training && ctx.klGradScale !== undefined;
    const klGrads = fuse ? { theta: this.theta.grad, logSigma2: this.logSigma2.grad, scale: ctx.klGradScale! } : undefined;
    const kept = svdPrepare(this.theta.value, this.logSigma2.value, this.M, this.S, this.la, threshold, this.range, klGrads);
    return (this.lastDraw = this.drawOf(this.S, threshold, kept, fuse));
  }

  private drawOf(S: Tensor | null, threshold: number, kept: number, klFused: boolean): SvdDraw {
    const limit = this.opts.sparseMeanLimit ?? SparseMeanProduct.defaultLimit(this.map);
    return {
      M: this.M, S, dM: this.dM, addToDM: false, klFused, threshold,
      kept: threshold === Infinity ? null : { logAlpha: this.la, threshold, count: kept, limit },
    };
  }

  /**
   * The masked means of an inference pass. They depend on θ and log σ² only, so a run of
   * inference passes (predict, evaluate) computes them once: M, log α and the kept count stay
   * from the last deterministic pass as long as θ and log σ² hold the same bits as then (checked
   * against copies, so any write to the parameters, from an optimizer or by hand, is seen) and no
   * sampled pass has run since.
   */
  private drawDeterministic(): SvdDraw {
    const d = this.det;
    if (d.draw && equalBits(this.theta.value, d.theta) && equalBits(this.logSigma2.value, d.logSigma2)) return d.draw;
    const kept = svdPrepare(this.theta.value, this.logSigma2.value, this.M, null, this.la, this.threshold, this.range);
    copy(this.theta.value, { out: d.theta });
    copy(this.logSigma2.value, { out: d.logSigma2 });
    return (d.draw = this.drawOf(null, this.threshold, kept, false));
  }

  protected chainRule(plan: ProductPlan<SvdDraw>, dM: Tensor, dS: Tensor): void {
    svdParamGrads(this.la, dM, dS, this.S, this.theta.grad, this.logSigma2.grad, plan.draw.threshold);
  }

  /**
   * Σ KL of the weights. With `gradScale` (the training step, right after this step's
   * forward/backward) it reuses the log α of that forward, and adds no gradient when that
   * forward already did (fused); without, it recomputes log α.
   */
  kl(gradScale?: number, value = true): number {
    const d = this.lastDraw;
    const fused = gradScale !== undefined && d?.klFused === true;
    if (d) d.klFused = false;
    if (fused) return value ? svdKl(this.theta.value, this.la, this.range) : 0;
    if (gradScale === undefined) {
      svdLogAlpha(this.theta.value, this.logSigma2.value, this.la, this.range);
      return svdKl(this.theta.value, this.la, this.range);
    }
    return svdKl(this.theta.value, this.la, this.range, { theta: this.theta.grad, logSigma2: this.logSigma2.grad, scale: gradScale }, value);
  }

  /** log α of every weight (clamped), same shape as θ. */
  logAlpha(): Float32Array {
    return svdLogAlpha(this.theta.value, this.logSigma2.value, this.la, this.range).toArray();
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

registerLayer('SparseVDDense', (o) => new SparseVDDense(o as unknown as SparseVDDenseOptions));
registerLayer('SparseVDConv2d', (o) => new SparseVDConv2d(o as unknown as SparseVDConv2dOptions));
