import { ArgumentError, describe } from '../errors.js';
import { LogAlphaRange } from '../ops/bayes.js';
import { Initializer } from '../init.js';
import { Shape, Tensor } from '../tensor.js';
import { ForwardContext } from './layer.js';
import { ProductPlan, WeightDraw, WeightLayer, WeightOptions } from './weight.js';

/** Options shared by every Bayesian weight layer. */
export interface BayesOptions extends WeightOptions {
  /** Weights (or units) whose log α ≥ this are dropped at inference and when pruning (default 3). */
  threshold?: number;
  /** Clamp of log α (default [−8, 8]). */
  logAlphaRange?: [number, number];
}

/**
 * Base of the Bayesian weight layers: Gaussian weights w ~ N(M, S), sampled through the local
 * reparameterization trick in training and Monte-Carlo passes (`ctx.training || ctx.sample`),
 * their masked means M otherwise. Holds the weight-shaped tensors a pass's draw, backward and
 * chain rule share (M, S, dM), the log α threshold and clamp; families say how M, S and the KL
 * come from their parameters.
 */
export abstract class LrtLayer<D extends WeightDraw = WeightDraw> extends WeightLayer<D> {
  /** Weights (or units) with log α ≥ threshold are dropped at inference and by `prune`. */
  readonly threshold: number;
  protected readonly range: LogAlphaRange;
  /** This pass's mean weights (dropped ones 0) and variances, and the backward's x ⋆ dy. */
  protected M!: Tensor;
  protected S!: Tensor;
  protected dM!: Tensor;

  constructor(opts: BayesOptions) {
    super(opts);
    const t = opts.threshold ?? 3;
    if (typeof t !== 'number' || Number.isNaN(t)) throw new ArgumentError('threshold', 'a number (Infinity keeps every weight)', describe(t));
    this.threshold = t;
    const r = opts.logAlphaRange ?? [-8, 8];
    if (!Array.isArray(r) || r.length !== 2 || !(r[0] < r[1]) || !r.every(Number.isFinite)) {
      throw new ArgumentError('logAlphaRange', '[lo, hi] finite with lo < hi', describe(r));
    }
    this.range = { lo: r[0], hi: r[1] };
  }

  protected get defaultInitializer(): Initializer {
    return 'glorotNormal';
  }

  /** Deterministic passes multiply the full input (their products stay as they were measured). */
  protected get skipsColumns(): boolean {
    return false;
  }

  protected sampled(ctx: ForwardContext): boolean {
    return ctx.training || ctx.sample;
  }

  protected initWeights(seed: number): void {
    const ws: Shape = this.map.weightShape;
    this.M = this.buffer('M', ws);
    this.S = this.buffer('S', ws);
    this.dM = this.buffer('dM', ws);
    this.initParams(seed);
  }

  /** Create θ and the variance parameters (the map is set). */
  protected abstract initParams(seed: number): void;

  /** Chain rule from dM and dS (zero after a deterministic pass) to the parameter gradients. */
  protected abstract chainRule(plan: ProductPlan<D>, dM: Tensor, dS: Tensor): void;

  protected paramGrads(plan: ProductPlan<D>, dM: Tensor, dS: Tensor | null): void {
    let d = dS;
    if (!d) {
      d = this.buffer('dS', this.map.weightShape);
      d.view().fill(0);
    }
    this.chainRule(plan, dM, d);
  }
}
