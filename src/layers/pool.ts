import { ShapeError } from '../errors.js';
import { optionsObject } from '../validate.js';
import { pairOption } from '../ops/check.js';
import { windowOutputSize } from '../ops/geometry.js';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from '../ops/pool.js';
import { Shape, Tensor, fmtShape } from '../tensor.js';
import { ForwardContext, InferenceForm, Layer, LayerConfig, registerLayer } from './layer.js';

/** Options of the pooling layers (NHWC). */
export interface PoolOptions {
  /** Window in pixels: n or [h, w] (default 2). */
  poolSize?: number | [number, number];
  /** Step in pixels (default: the window). */
  stride?: number | [number, number];
  /** Padding in pixels on each side (default 0); padded pixels never enter a window. */
  padding?: number | [number, number];
}

abstract class Pool2d extends Layer {
  protected readonly size: [number, number];
  protected readonly stride: [number, number];
  protected readonly pad: [number, number];
  protected x?: Tensor;

  constructor(opts: PoolOptions = {}) {
    super();
    optionsObject('options', opts);
    this.size = pairOption('poolSize', opts.poolSize, 2, 1);
    this.stride = pairOption('stride', opts.stride ?? this.size, 1, 1);
    this.pad = pairOption('padding', opts.padding, 0, 0);
  }

  protected init(inputShape: Shape): Shape {
    if (inputShape.length !== 3) throw new ShapeError('inputShape', '[height, width, channels]', fmtShape(inputShape));
    const [h, w, c] = inputShape;
    const out = windowOutputSize(h, w, this.size[0], this.size[1], this.stride[0], this.stride[1], this.pad[0], this.pad[1]);
    if (!out) throw new ShapeError('inputShape', `at least ${this.size[0]}x${this.size[1]} pixels`, fmtShape(inputShape));
    return [out[0], out[1], c];
  }

  protected get geom() {
    return { size: this.size, stride: this.stride, pad: this.pad };
  }

  config(): LayerConfig {
    return { className: this.className, options: { poolSize: this.size, stride: this.stride, padding: this.pad } };
  }

  inference(): InferenceForm {
    return { kind: this.stepKind, size: [...this.size], stride: [...this.stride], pad: [...this.pad] };
  }

  protected abstract get className(): string;
  /** The kind of this pooling's inference step. */
  protected abstract get stepKind(): 'maxPool' | 'avgPool';
}

/** Max pooling over NHWC windows; the gradient goes to the first maximum of each window. */
export class MaxPool2d extends Pool2d {
  protected get className(): string {
    return 'MaxPool2d';
  }
  protected get stepKind(): 'maxPool' {
    return 'maxPool';
  }
  forward(x: Tensor, _ctx: ForwardContext): Tensor {
    const n = this.checkInput(x);
    this.x = x;
    return maxPool2d(x, { ...this.geom, out: this.buffer('y', [n, ...this.outputShape]) });
  }
  backward(dy: Tensor): Tensor {
    return maxPool2dBackward(this.x!, dy, { ...this.geom, out: this.buffer('dx', this.x!.shape) });
  }
}

/** Average pooling over NHWC windows (padding excluded from the count). */
export class AvgPool2d extends Pool2d {
  protected get className(): string {
    return 'AvgPool2d';
  }
  protected get stepKind(): 'avgPool' {
    return 'avgPool';
  }
  forward(x: Tensor, _ctx: ForwardContext): Tensor {
    const n = this.checkInput(x);
    this.x = x;
    return avgPool2d(x, { ...this.geom, out: this.buffer('y', [n, ...this.outputShape]) });
  }
  backward(dy: Tensor): Tensor {
    return avgPool2dBackward(dy, this.x!.shape, { ...this.geom, out: this.buffer('dx', this.x!.shape) });
  }
}

registerLayer('MaxPool2d', (o) => new MaxPool2d(o as PoolOptions));
registerLayer('AvgPool2d', (o) => new AvgPool2d(o as PoolOptions));
