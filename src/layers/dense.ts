import { checkInt } from '../errors.js';
import { Shape, Tensor } from '../tensor.js';
import { ForwardContext, LayerConfig, ParamGroup, param, registerLayer } from './layer.js';
import { ConvMap, ConvOptions, DenseMap, LinearMap } from './linear.js';
import { ProductPlan, WeightDraw, WeightLayer, WeightOptions } from './weight.js';

export type { WeightOptions };

/**
 * A deterministic weight layer: y = x ⊛ W + b for a dense or convolutional {@link LinearMap};
 * the backward adds x ⋆ dy straight into W's gradient.
 */
abstract class DeterministicLayer extends WeightLayer {
  protected w!: ParamGroup;
  private drawn?: WeightDraw;

  protected initWeights(seed: number): void {
    this.w = param(`${this.name}/kernel`, this.initKernel(seed), this.base.l1 ?? 0, this.base.l2 ?? 0);
  }

  protected sampled(): boolean {
    return false;
  }

  protected draw(_ctx: ForwardContext, _sample: boolean): WeightDraw {
    return (this.drawn ??= { M: this.w.value, S: null, dM: this.w.grad, addToDM: true, kept: null, klFused: false });
  }

  protected paramGrads(_plan: ProductPlan, _dM: Tensor, _dS: Tensor | null): void {}

  params(): ParamGroup[] {
    return this.bias ? [this.w, this.bias] : [this.w];
  }
}

/** Options of {@link Dense}. */
export interface DenseOptions extends WeightOptions {
  /** Number of output units. */
  units: number;
}

/** Fully connected layer: x [batch, in] → act(x·W + b) [batch, units], W [in, units]. */
export class Dense extends DeterministicLayer {
  readonly units: number;
  protected readonly opts: DenseOptions;
  constructor(opts: DenseOptions) {
    super(opts);
    this.opts = this.base as DenseOptions;
    this.units = checkInt('units', this.opts.units, 1);
  }
  protected makeMap(inputShape: Shape): LinearMap {
    return new DenseMap(inputShape, this.units);
  }
  config(): LayerConfig {
    return { className: 'Dense', options: { ...this.opts } };
  }
}

/** Options of {@link Conv2d}. */
export interface Conv2dLayerOptions extends WeightOptions, ConvOptions {
  /** Number of output channels. */
  filters: number;
}

/** 2-D convolution over NHWC images: x [batch, h, w, c] → [batch, oh, ow, filters], W [kh, kw, c, filters]. */
export class Conv2d extends DeterministicLayer {
  readonly filters: number;
  protected readonly opts: Conv2dLayerOptions;
  constructor(opts: Conv2dLayerOptions) {
    super(opts);
    this.opts = this.base as Conv2dLayerOptions;
    this.filters = checkInt('filters', this.opts.filters, 1);
  }
  protected makeMap(inputShape: Shape): LinearMap {
    return new ConvMap(inputShape, this.filters, this.opts);
  }
  config(): LayerConfig {
    return { className: 'Conv2d', options: { ...this.opts } };
  }
}

registerLayer('Dense', (o) => new Dense(o as unknown as DenseOptions));
registerLayer('Conv2d', (o) => new Conv2d(o as unknown as Conv2dLayerOptions));
