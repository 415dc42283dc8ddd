import { ArgumentError, checkNumber, describe } from '../errors.js';
import { ActivationKind, activation, activationBackward } from '../ops/activation.js';
import { softmax, softmaxBackward } from '../ops/softmax.js';
import { Shape, Tensor } from '../tensor.js';
import { ForwardContext, InferenceForm, Layer, LayerConfig, registerLayer } from './layer.js';

/** Options of {@link Activation}. */
export interface ActivationLayerOptions {
  /** `'relu' | 'leakyRelu' | 'elu' | 'sigmoid' | 'tanh'`. */
  kind: ActivationKind;
  /** leakyRelu negative slope (default 0.01) or ELU saturation α (default 1). */
  alpha?: number;
}

const KINDS = ['relu', 'leakyRelu', 'elu', 'sigmoid', 'tanh'];

/** Element-wise activation: y = f(x), any shape. */
export class Activation extends Layer {
  readonly kind: ActivationKind;
  private readonly alpha?: number;
  private x?: Tensor;
  private y?: Tensor;

  constructor(opts: ActivationLayerOptions | ActivationKind) {
    super();
    const o = typeof opts === 'string' ? { kind: opts } : opts;
    if (!KINDS.includes(o?.kind)) throw new ArgumentError('kind', `one of ${KINDS.join(', ')}`, describe(o?.kind));
    this.kind = o.kind;
    if (o.alpha !== undefined) this.alpha = checkNumber('alpha', o.alpha);
  }

  protected init(inputShape: Shape): Shape {
    return inputShape;
  }

  forward(x: Tensor, _ctx: ForwardContext): Tensor {
    this.checkInput(x);
    this.x = x;
    this.y = activation(this.kind, x, { alpha: this.alpha, out: this.buffer('y', x.shape) });
    return this.y;
  }

  backward(dy: Tensor): Tensor {
    return activationBackward(this.kind, this.x!, this.y!, dy, { alpha: this.alpha, out: this.buffer('dx', dy.shape) });
  }

  inference(): InferenceForm {
    return this.alpha === undefined ? { kind: 'activation', activation: this.kind } : { kind: 'activation', activation: this.kind, alpha: this.alpha };
  }

  /** The class name this layer is saved under: a named subclass (ReLU, …) comes back as itself. */
  protected readonly className: string = 'Activation';

  config(): LayerConfig {
    if (this.className === 'Activation') return { className: 'Activation', options: { kind: this.kind, alpha: this.alpha } };
    return { className: this.className, options: this.alpha === undefined ? {} : { alpha: this.alpha } };
  }
}

/** max(x, 0). */
export class ReLU extends Activation {
  protected readonly className = 'ReLU';
  constructor() {
    super('relu');
  }
}
/** x > 0 ? x : α·x (α default 0.01). */
export class LeakyReLU extends Activation {
  protected readonly className = 'LeakyReLU';
  constructor(opts: { alpha?: number } = {}) {
    super({ kind: 'leakyRelu', alpha: opts.alpha });
  }
}
/** x > 0 ? x : α·(eˣ − 1) (α default 1). */
export class ELU extends Activation {
  protected readonly className = 'ELU';
  constructor(opts: { alpha?: number } = {}) {
    super({ kind: 'elu', alpha: opts.alpha });
  }
}
/** 1 / (1 + e⁻ˣ). */
export class Sigmoid extends Activation {
  protected readonly className = 'Sigmoid';
  constructor() {
    super('sigmoid');
  }
}
/** tanh(x). */
export class Tanh extends Activation {
  protected readonly className = 'Tanh';
  constructor() {
    super('tanh');
  }
}

/**
 * Softmax over the last axis of [batch, classes]. For training a classifier, end the model
 * with logits instead: the loss fuses softmax with cross-entropy (faster, more stable).
 */
export class Softmax extends Layer {
  private y?: Tensor;

  protected init(inputShape: Shape): Shape {
    if (inputShape.length !== 1) throw new ArgumentError('inputShape', '[classes]', `[${inputShape.join(', ')}]`);
    return inputShape;
  }

  forward(x: Tensor, _ctx: ForwardContext): Tensor {
    this.checkInput(x);
    this.y = softmax(x, { out: this.buffer('y', x.shape) });
    return this.y;
  }

  backward(dy: Tensor): Tensor {
    return softmaxBackward(this.y!, dy, { out: this.buffer('dx', dy.shape) });
  }

  inference(): InferenceForm {
    return { kind: 'softmax' };
  }

  config(): LayerConfig {
    return { className: 'Softmax', options: {} };
  }
}

registerLayer('Activation', (o) => new Activation(o as unknown as ActivationLayerOptions));
registerLayer('ReLU', () => new ReLU());
registerLayer('LeakyReLU', (o) => new LeakyReLU(o as { alpha?: number }));
registerLayer('ELU', (o) => new ELU(o as { alpha?: number }));
registerLayer('Sigmoid', () => new Sigmoid());
registerLayer('Tanh', () => new Tanh());
registerLayer('Softmax', () => new Softmax());
