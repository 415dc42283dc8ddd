import { ArgumentError, ShapeError } from '../errors.js';
import { matmul } from '../ops/gemm.js';
import { pairOption } from '../ops/check.js';
import { conv2d, conv2dBackwardData, conv2dBackwardFilter } from '../ops/conv.js';
import { Shape, Tensor, fmtShape } from '../tensor.js';

/**
 * The linear map under a weight layer: a dense product or a 2-D convolution. Dense,
 * Conv2d and every Bayesian layer are a {@link LinearMap} plus how they make their weights,
 * so forward/backward of the map is written once.
 */
export interface LinearMap {
  /** Shape of the weight tensor. */
  readonly weightShape: Shape;
  /** Per-sample output shape. */
  readonly outputShape: Shape;
  /** Inputs feeding one output (for initialisation). */
  readonly fanIn: number;
  /** Outputs fed by one input (for initialisation). */
  readonly fanOut: number;
  /** out = x ⊛ w (+ bias). */
  forward(x: Tensor, w: Tensor, bias: Tensor | undefined, out: Tensor): void;
  /** dx (=|+=) dy ⊛ᵀ w. */
  backwardData(dy: Tensor, w: Tensor, dx: Tensor, accumulate: boolean): void;
  /** dw (=|+=) x ⋆ dy. */
  backwardFilter(x: Tensor, dy: Tensor, dw: Tensor, accumulate: boolean): void;
  config(): Record<string, unknown>;
}

/** y[b, out] = x[b, in]·W[in, out]. */
export class DenseMap implements LinearMap {
  readonly weightShape: Shape;
  readonly outputShape: Shape;
  readonly fanIn: number;
  readonly fanOut: number;

  constructor(inputShape: Shape, units: number) {
    if (inputShape.length !== 1) throw new ShapeError('inputShape', '[features] (add a Flatten layer before a dense layer)', fmtShape(inputShape));
    this.weightShape = [inputShape[0], units];
    this.outputShape = [units];
    this.fanIn = inputShape[0];
    this.fanOut = units;
  }

  forward(x: Tensor, w: Tensor, bias: Tensor | undefined, out: Tensor): void {
    matmul(x, w, { bias, out });
  }

  backwardData(dy: Tensor, w: Tensor, dx: Tensor, accumulate: boolean): void {
    matmul(dy, w, { transB: true, out: dx, accumulate });
  }

  backwardFilter(x: Tensor, dy: Tensor, dw: Tensor, accumulate: boolean): void {
    matmul(x, dy, { transA: true, out: dw, accumulate });
  }

  config(): Record<string, unknown> {
    return {};
  }
}

/** Options of a convolution: square or [h, w] kernel, stride and zero padding. */
export interface ConvGeometry {
  /** Kernel size in pixels: n or [kh, kw]. */
  kernelSize: number | [number, number];
  /** Stride in pixels (default 1). */
  stride?: number | [number, number];
  /** Zero padding in pixels on each side (default 0), or `'same'` (stride 1, odd kernels). */
  padding?: number | [number, number] | 'same';
}

/** y[b, oh, ow, f] = Σ x[b, ih, iw, c]·W[kh, kw, c, f] (NHWC). */
export class ConvMap implements LinearMap {
  readonly weightShape: Shape;
  readonly outputShape: Shape;
  readonly fanIn: number;
  readonly fanOut: number;
  readonly stride: [number, number];
  readonly pad: [number, number];
  private readonly xShape: Shape;

  constructor(inputShape: Shape, filters: number, g: ConvGeometry) {
    if (inputShape.length !== 3) throw new ShapeError('inputShape', '[height, width, channels]', fmtShape(inputShape));
    const [h, w, c] = inputShape;
    if (g.kernelSize === undefined) throw new ArgumentError('kernelSize', 'an integer ≥ 1 or [h, w] of them', 'undefined');
    const [kh, kw] = pairOption('kernelSize', g.kernelSize, 1, 1);
    this.stride = pairOption('stride', g.stride, 1, 1);
    if (g.padding === 'same') {
      if (kh % 2 === 0 || kw % 2 === 0 || this.stride[0] !== 1 || this.stride[1] !== 1) {
        throw new ArgumentError('padding', "'same' only with odd kernels and stride 1", `kernel ${kh}x${kw}, stride ${this.stride}`);
      }
      this.pad = [(kh - 1) / 2, (kw - 1) / 2];
    } else {
      this.pad = pairOption('padding', g.padding, 0, 0);
    }
    const oh = Math.floor((h + 2 * this.pad[0] - kh) / this.stride[0]) + 1;
    const ow = Math.floor((w + 2 * this.pad[1] - kw) / this.stride[1]) + 1;
    if (!(oh >= 1 && ow >= 1)) throw new ShapeError('inputShape', `at least ${kh}x${kw} pixels after padding`, fmtShape(inputShape));
    this.weightShape = [kh, kw, c, filters];
    this.outputShape = [oh, ow, filters];
    this.fanIn = kh * kw * c;
    this.fanOut = kh * kw * filters;
    this.xShape = inputShape;
  }

  forward(x: Tensor, w: Tensor, bias: Tensor | undefined, out: Tensor): void {
    conv2d(x, w, { stride: this.stride, pad: this.pad, bias, out });
  }

  backwardData(dy: Tensor, w: Tensor, dx: Tensor, accumulate: boolean): void {
    conv2dBackwardData(dy, w, dx.shape, { stride: this.stride, pad: this.pad, out: dx, accumulate });
  }

  backwardFilter(x: Tensor, dy: Tensor, dw: Tensor, accumulate: boolean): void {
    conv2dBackwardFilter(x, dy, dw.shape, { stride: this.stride, pad: this.pad, out: dw, accumulate });
  }

  config(): Record<string, unknown> {
    return { stride: this.stride, padding: this.pad, inputShape: this.xShape };
  }
}
