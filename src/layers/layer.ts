import { ShapeError } from '../errors.js';
import { Runtime } from '../runtime/runtime.js';
import { Shape, Tensor, fmtShape } from '../tensor.js';

/**
 * What one forward pass should do. Training vs inference is always explicit.
 */
export interface ForwardContext {
  /** Training mode: stochastic layers draw noise, batch norm uses batch statistics. */
  training: boolean;
  /**
   * Draw the layers' weight noise even at inference (Monte-Carlo prediction). Dropout
   * layers stay the identity unless `training`; Bayesian layers sample when `training || sample`.
   */
  sample: boolean;
  /** 32-bit seed of every random number in this pass. */
  seed: number;
  /** Counter of this pass (training step or Monte-Carlo sample index): a new noise draw each value. */
  step: number;
  /**
   * Training steps with a KL term (β > 0): the scale of its gradient, β / N. A layer may add
   * klGradScale·∇KL into its parameter gradients during this forward pass when it can fuse that
   * with the pass's own work (the trainer clears gradients before the forward); its
   * `kl(klGradScale, false)` afterwards then adds nothing more.
   */
  klGradScale?: number;
}

/**
 * One trainable tensor with its gradient and its own regularisation settings
 * (convnetjs-style parameter groups).
 */
export interface ParamGroup {
  /** `<layer>/<param>`, e.g. `"dense_1/theta"`. */
  name: string;
  value: Tensor;
  /** Same shape as `value`; accumulated by `backward`, cleared by the trainer. */
  grad: Tensor;
  /** L1 coefficient (adds l1·sign(w) to the gradient). */
  l1: number;
  /** L2 coefficient (adds l2·w to the gradient). */
  l2: number;
}

/** Serializable description of a layer: its class name and constructor options. */
export interface LayerConfig {
  className: string;
  options: Record<string, unknown>;
}

/**
 * Base of every layer: build once for an input shape (without the batch axis), then
 * `forward` and `backward` side by side. Buffers are owned by the layer and reused while the
 * batch size stays the same, so memory does not grow across steps.
 */
export abstract class Layer {
  /** Unique within a model, e.g. `"dense_1"`. Set by the model. */
  name = '';
  /** Position in the model; each layer draws its noise from its own stream of this index. */
  index = 0;
  /** Per-sample input shape, known after {@link build}. */
  inputShape: Shape = [];
  /** Per-sample output shape, known after {@link build}. */
  outputShape: Shape = [];
  protected rt!: Runtime;
  private owned = new Map<string, Tensor>();
  built = false;

  /** Allocate parameters for a per-sample `inputShape`; returns the per-sample output shape. */
  build(inputShape: Shape, rt: Runtime, seed: number): Shape {
    this.rt = rt;
    this.inputShape = inputShape.slice();
    this.outputShape = this.init(inputShape, seed);
    this.built = true;
    return this.outputShape;
  }

  /**
   * Per-sample output shape and number of weights for `inputShape`, computed without allocating
   * (used to validate model files before building). Parameter-free layers get it from their
   * shape-only {@link init}; layers with parameters override it.
   */
  plan(inputShape: Shape): { outputShape: Shape; weights: number } {
    return { outputShape: this.init(inputShape, 0), weights: 0 };
  }

  /** Subclass hook of {@link build}: create parameters, return the output shape. */
  protected abstract init(inputShape: Shape, seed: number): Shape;

  /** y = f(x). `x` has shape [batch, ...inputShape]. The result is owned by the layer. */
  abstract forward(x: Tensor, ctx: ForwardContext): Tensor;

  /**
   * Whether {@link backward} must compute dL/dx. The model clears it for its first layer,
   * whose input needs no gradient: weight layers then skip one or two GEMMs and return null.
   */
  inputGrad = true;

  /**
   * Given dL/dy of the last forward, accumulate parameter gradients into their `grad` and
   * return dL/dx (owned by the layer), or null when {@link inputGrad} is false and the layer
   * could skip it.
   */
  abstract backward(dy: Tensor): Tensor | null;

  /** Trainable parameter groups (none for parameter-free layers). */
  params(): ParamGroup[] {
    return [];
  }

  /**
   * Σ KL(q ‖ prior) of a Bayesian layer (0 for others); with `gradScale` adds gradScale·∇KL to
   * the parameter grads. `value` false skips the value where that is cheaper (returns 0 then).
   */
  kl(_gradScale?: number, _value = true): number {
    return 0;
  }

  /** Weights this layer keeps at inference and weights in all (sparsity reporting). */
  sparsity(): { kept: number; total: number } | null {
    return null;
  }

  /** Called after every optimizer step: project parameters back into their valid range. */
  constrain(): void {}

  /** Constructor options, for serialization. */
  abstract config(): LayerConfig;

  /** Free every buffer and parameter. */
  dispose(): void {
    for (const t of this.owned.values()) t.dispose();
    this.owned.clear();
    for (const p of this.params()) {
      p.value.dispose();
      p.grad.dispose();
    }
  }

  /** A layer-owned buffer named `key` of exactly `shape`: reused when the shape is unchanged. */
  protected buffer(key: string, shape: Shape): Tensor {
    const t = this.owned.get(key);
    if (t && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
    t?.dispose();
    const n = Tensor.zeros(shape, this.rt);
    this.owned.set(key, n);
    return n;
  }

  /** Throw {@link ShapeError} unless `x` is [batch, ...inputShape]. */
  protected checkInput(x: Tensor, name = 'x'): number {
    const s = x.shape;
    const ok = s.length === this.inputShape.length + 1 && this.inputShape.every((d, i) => s[i + 1] === d);
    if (!ok) throw new ShapeError(`${this.name || this.constructor.name}.${name}`, `[batch, ${this.inputShape.join(', ')}]`, fmtShape(s));
    return s[0];
  }
}

/** A trainable parameter with a zero gradient of the same shape. */
export function param(name: string, value: Tensor, l1 = 0, l2 = 0): ParamGroup {
  return { name, value, grad: Tensor.zeros(value.shape, value.rt), l1, l2 };
}

/** Layer constructors by class name, for deserialization. */
export const layerRegistry = new Map<string, (options: Record<string, unknown>) => Layer>();

/** Register a layer class so models holding it can be loaded by name. */
export function registerLayer(className: string, make: (options: Record<string, unknown>) => Layer): void {
  layerRegistry.set(className, make);
}
