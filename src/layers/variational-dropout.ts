import { ArgumentError, checkInt, checkNumber, describe } from '../errors.js';
import { copy } from '../ops/elementwise.js';
import { AlphaShape, alphaCount, isAlphaShape, klLogUniform, vdMask, vdParamGrads, vdPrepare } from '../ops/bayes.js';
import { Shape, Tensor } from '../tensor.js';
import { ForwardContext, LayerConfig, ParamGroup, param, registerLayer } from './layer.js';
import { ConvMap, ConvOptions, DenseMap, LinearMap } from './linear.js';
import { optionsObject } from '../validate.js';
import { BayesOptions, LrtLayer } from './lrt.js';
import { ProductPlan, WeightDraw } from './weight.js';

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
export abstract class VariationalDropout extends LrtLayer {
  protected theta!: ParamGroup;
  protected logAlphaP!: ParamGroup;
  protected readonly opts: VariationalDropoutOptions;
  protected readonly alpha: AlphaShape;

  constructor(opts: VariationalDropoutOptions, defaults: Partial<BayesOptions> = {}) {
    super({ logAlphaRange: [-8, 0], threshold: Infinity, ...defaults, ...optionsObject('options', opts) });
    const o = (this.opts = optionsObject('options', opts) as VariationalDropoutOptions);
    const a = o.alpha ?? 'weight';
    if (!isAlphaShape(a)) throw new ArgumentError('alpha', "'layer' | 'unit' | 'weight'", describe(a));
    this.alpha = a;
    checkNumber('initialLogAlpha', o.initialLogAlpha ?? -4);
  }

  protected initParams(seed: number): void {
    const th = this.initKernel(seed);
    this.theta = param(`${this.name}/theta`, th, this.base.l1 ?? 0, this.base.l2 ?? 0);
    const n = alphaCount(th.size, this.outputUnits, this.alpha);
    const la = Tensor.zeros(this.alpha === 'weight' ? this.map.weightShape : [n], this.rt);
    la.view().fill(Math.min(Math.max(this.opts.initialLogAlpha ?? -4, this.range.lo), this.range.hi));
    this.logAlphaP = param(`${this.name}/logAlpha`, la);
  }

  /** Weights sharing one α. */
  private get mult(): number {
    return this.theta.value.size / this.logAlphaP.value.size;
  }

  protected draw(_ctx: ForwardContext, sample: boolean): WeightDraw {
    if (sample) vdPrepare(this.theta.value, this.logAlphaP.value, this.outputUnits, this.alpha, this.S);
    if (this.threshold === Infinity) copy(this.theta.value, { out: this.M });
    // Drop weights whose α is above the threshold (whole units in the per-unit variant).
    else vdMask(this.theta.value, this.logAlphaP.value, this.outputUnits, this.alpha, this.threshold, this.M);
    return { M: this.M, S: sample ? this.S : null, dM: this.dM, addToDM: false, kept: null, klFused: false };
  }

  protected chainRule(plan: ProductPlan, dM: Tensor, dS: Tensor): void {
    if (this.threshold !== Infinity) {
      // Dropped weights get no gradient through their (zero) mean.
      const m = plan.draw.M.view(), th = this.theta.value.view(), d = dM.view();
      for (let i = 0; i < d.length; i++) if (m[i] === 0 && th[i] !== 0) d[i] = 0;
    }
    const dLa = this.learnAlpha ? this.logAlphaP.grad : this.buffer('dLaDiscard', this.logAlphaP.value.shape);
    vdParamGrads(this.theta.value, this.logAlphaP.value, this.outputUnits, this.alpha, dM, dS, this.theta.grad, dLa);
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

registerLayer('VariationalDropoutDense', (o) => new VariationalDropoutDense(o as unknown as VariationalDropoutDenseOptions));
registerLayer('VariationalDropoutConv2d', (o) => new VariationalDropoutConv2d(o as unknown as VariationalDropoutConv2dOptions));
