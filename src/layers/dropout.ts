import { checkNumber } from '../errors.js';
import { axpy, fill, mul } from '../ops/elementwise.js';
import { bernoulli, gaussian } from '../ops/noise.js';
import { Shape, Tensor } from '../tensor.js';
import { ForwardContext, InferenceForm, Layer, LayerConfig, passSeed, registerLayer } from './layer.js';

/** Options of {@link Dropout}. */
export interface DropoutOptions {
  /** Probability of zeroing each activation during training, in [0, 1). */
  rate: number;
}

/**
 * Inverted Bernoulli dropout: in training, each activation is kept with probability 1 − rate
 * and scaled by 1/(1 − rate), so the expected activation is unchanged; at inference it is the
 * identity (no rescaling needed).
 */
export class Dropout extends Layer {
  readonly rate: number;
  private active = false;

  constructor(opts: DropoutOptions) {
    super();
    this.rate = checkNumber('rate', opts?.rate, 0, 0.999999);
  }

  protected init(inputShape: Shape): Shape {
    return inputShape;
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    this.checkInput(x);
    this.active = ctx.training && this.rate > 0;
    if (!this.active) return x;
    const keep = 1 - this.rate;
    const mask = bernoulli(this.buffer('mask', x.shape), keep, passSeed(ctx), { scale: 1 / keep, stream: this.index });
    return mul(x, mask, { out: this.buffer('y', x.shape) });
  }

  backward(dy: Tensor): Tensor {
    if (!this.active) return dy;
    return mul(dy, this.buffer('mask', dy.shape), { out: this.buffer('dx', dy.shape) });
  }

  /** The identity (inverted dropout needs no rescaling at inference). */
  inference(): InferenceForm {
    return { kind: 'identity' };
  }

  config(): LayerConfig {
    return { className: 'Dropout', options: { rate: this.rate } };
  }
}

/** Options of {@link GaussianDropout}: give `rate` (Bernoulli-equivalent) or `alpha`. */
export interface GaussianDropoutOptions {
  /** Equivalent Bernoulli drop rate p: α = p / (1 − p). */
  rate?: number;
  /** Noise variance α directly. */
  alpha?: number;
}

/**
 * Gaussian dropout: multiplies each activation by ξ ~ N(1, α) in training (mean preserved,
 * so inference is the identity).
 */
export class GaussianDropout extends Layer {
  readonly alpha: number;
  private active = false;

  constructor(opts: GaussianDropoutOptions) {
    super();
    if (opts?.alpha !== undefined) this.alpha = checkNumber('alpha', opts.alpha, 0);
    else {
      const p = checkNumber('rate', opts?.rate, 0, 0.999999);
      this.alpha = p / (1 - p);
    }
  }

  protected init(inputShape: Shape): Shape {
    return inputShape;
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    this.checkInput(x);
    this.active = ctx.training && this.alpha > 0;
    if (!this.active) return x;
    const eps = gaussian(this.buffer('eps', x.shape), passSeed(ctx), { stream: this.index });
    const xi = fill(this.buffer('xi', x.shape), 1);
    axpy(Math.sqrt(this.alpha), eps, xi);
    return mul(x, xi, { out: this.buffer('y', x.shape) });
  }

  backward(dy: Tensor): Tensor {
    if (!this.active) return dy;
    return mul(dy, this.buffer('xi', dy.shape), { out: this.buffer('dx', dy.shape) });
  }

  /** The identity (the noise has mean 1). */
  inference(): InferenceForm {
    return { kind: 'identity' };
  }

  config(): LayerConfig {
    return { className: 'GaussianDropout', options: { alpha: this.alpha } };
  }
}

registerLayer('Dropout', (o) => new Dropout(o as unknown as DropoutOptions));
registerLayer('GaussianDropout', (o) => new GaussianDropout(o as GaussianDropoutOptions));
