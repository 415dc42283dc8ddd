import { checkInt, checkNumber } from '../errors.js';
import { optionsObject } from '../validate.js';
import { columnSums } from '../ops/elementwise.js';
import { Initializer, initialize } from '../init.js';
import { Shape, Tensor } from '../tensor.js';
import { ForwardContext, InferenceForm, Layer, LayerConfig, ParamGroup, param, registerLayer } from './layer.js';
import { ConvMap, ConvOptions, DenseColumnSkip, DenseMap, LinearMap, SPARSE_GRAD_LIMIT, SparseGradProduct } from './linear.js';

/** Options shared by weight layers. */
export interface WeightOptions {
  /** Add a learnt bias (default true). */
  useBias?: boolean;
  /** Weight initialiser (default `'glorotUniform'`). */
  kernelInitializer?: Initializer;
  /** Bias initialiser (default `'zeros'`). */
  biasInitializer?: Initializer;
  /** L1 coefficient on the weights (default 0). */
  l1?: number;
  /** L2 coefficient on the weights (default 0). */
  l2?: number;
  /**
   * Fraction (0–1) of nonzero entries in the output gradient at or below which the backward
   * multiplies through its nonzeros only (behind a max-pool or a ReLU; same result up to the
   * order of the sums). Default {@link SPARSE_GRAD_LIMIT} (0.25); 0 keeps the dense products
   * unless the gradient is all zero.
   */
  sparseGradLimit?: number;
}

/** A deterministic weight layer: y = x ⊛ W + b for a dense or convolutional {@link LinearMap}. */
export abstract class WeightLayer extends Layer {
  protected map!: LinearMap;
  protected w!: ParamGroup;
  protected b?: ParamGroup;
  private x?: Tensor;
  protected readonly opts: WeightOptions;
  /** Zero-column skipping of dense maps (none for convolutions). */
  private skip?: DenseColumnSkip;
  /** The last forward's input packed to its live columns, when it skipped any. */
  private xc: Tensor | null = null;
  /** Backward products through the nonzeros of the output gradient, and whether the last backward used them. */
  private sparseGrad?: SparseGradProduct;
  private gradSparse = false;

  constructor(opts: WeightOptions) {
    super();
    this.opts = optionsObject('options', opts);
    checkNumber('l1', opts.l1 ?? 0, 0);
    checkNumber('l2', opts.l2 ?? 0, 0);
    if (opts.sparseGradLimit !== undefined) checkNumber('sparseGradLimit', opts.sparseGradLimit, 0, 1);
  }

  protected abstract makeMap(inputShape: Shape): LinearMap;

  plan(inputShape: Shape): { outputShape: Shape; weights: number } {
    const m = this.makeMap(inputShape);
    return { outputShape: m.outputShape, weights: m.weightShape.reduce((a, b) => a * b, 1) };
  }

  protected init(inputShape: Shape, seed: number): Shape {
    this.map = this.makeMap(inputShape);
    if (this.map instanceof DenseMap) this.skip = new DenseColumnSkip(this.map, (k, s) => this.buffer(k, s));
    const w = Tensor.zeros(this.map.weightShape, this.rt);
    initialize(w, this.opts.kernelInitializer ?? 'glorotUniform', this.map.fanIn, this.map.fanOut, seed, 0);
    this.w = param(`${this.name}/kernel`, w, this.opts.l1 ?? 0, this.opts.l2 ?? 0);
    if (this.opts.useBias ?? true) {
      const units = this.map.weightShape[this.map.weightShape.length - 1];
      const b = Tensor.zeros([units], this.rt);
      initialize(b, this.opts.biasInitializer ?? 'zeros', this.map.fanIn, this.map.fanOut, seed, 1);
      this.b = param(`${this.name}/bias`, b);
    }
    return this.map.outputShape;
  }

  forward(x: Tensor, _ctx: ForwardContext): Tensor {
    const n = this.checkInput(x);
    this.x = x;
    const y = this.buffer('y', [n, ...this.outputShape]);
    // Dense maps multiply only the input columns that are not all zero in this batch.
    this.xc = this.skip?.begin(x) ?? null;
    if (this.xc) this.skip!.forward(this.xc, this.w.value, this.b?.value, y);
    else this.map.forward(x, this.w.value, this.b?.value, y);
    return y;
  }

  /** Whether the last backward multiplied through the nonzeros of its output gradient. @internal */
  get gradWasSparse(): boolean {
    return this.gradSparse;
  }

  backward(dy: Tensor): Tensor | null {
    const x = this.x!;
    if (this.b) columnSums(dy, { out: this.b.grad, accumulate: true });
    const dx = this.inputGrad ? this.buffer('dx', x.shape) : null;
    // A mostly zero dy (behind a max-pool or a ReLU) goes through its nonzeros only (reading the
    // full input, also after a forward that skipped its zero columns).
    const rows = (this.sparseGrad ??= new SparseGradProduct(this.map, (k, s) => this.buffer(k, s)));
    this.gradSparse = rows.begin(dy, this.opts.sparseGradLimit ?? SPARSE_GRAD_LIMIT);
    if (this.gradSparse) {
      rows.backwardFilter(x, this.w.grad, true);
      if (dx) rows.backwardData(this.w.value, dx);
      return dx;
    }
    if (this.xc) this.skip!.backwardFilter(this.xc, dy, this.w.grad, true);
    else this.map.backwardFilter(x, dy, this.w.grad, true);
    if (dx) this.map.backwardData(dy, this.w.value, dx, false);
    return dx;
  }

  params(): ParamGroup[] {
    return this.b ? [this.w, this.b] : [this.w];
  }

  /** y = x ⊛ W + b with the current weights. */
  inference(): InferenceForm {
    const units = this.map.weightShape[this.map.weightShape.length - 1];
    return { kind: 'linear', weights: this.w.value.toArray(), units, bias: this.b?.value.toArray() ?? null, geometry: this.map.geometry };
  }
}

/** Options of {@link Dense}. */
export interface DenseOptions extends WeightOptions {
  /** Number of output units. */
  units: number;
}

/** Fully connected layer: x [batch, in] → x·W + b [batch, units], W [in, units]. */
export class Dense extends WeightLayer {
  readonly units: number;
  constructor(opts: DenseOptions) {
    super(opts);
    this.units = checkInt('units', opts.units, 1);
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
export class Conv2d extends WeightLayer {
  readonly filters: number;
  constructor(opts: Conv2dLayerOptions) {
    super(opts);
    this.filters = checkInt('filters', opts.filters, 1);
  }
  protected makeMap(inputShape: Shape): LinearMap {
    const o = this.opts as Conv2dLayerOptions;
    return new ConvMap(inputShape, this.filters, o);
  }
  config(): LayerConfig {
    return { className: 'Conv2d', options: { ...this.opts } };
  }
}

registerLayer('Dense', (o) => new Dense(o as unknown as DenseOptions));
registerLayer('Conv2d', (o) => new Conv2d(o as unknown as Conv2dLayerOptions));
