import { ArgumentError, ShapeError, describe } from '../errors.js';
import type { ActivationKind } from '../ops/activation.js';
import type { ConvGeometry } from '../ops/conv.js';
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
   * With `sample` outside training (Monte-Carlo prediction): the Bayesian layers sample their
   * weights once for the pass, w = M + σ·ε with ε keyed by (seed, step) on the layer's stream,
   * so every row sees the same weights and the results do not depend on batching or row order
   * (instead of LRT noise per output). Such a pass has no backward.
   */
  sampleWeights?: boolean;
  /**
   * Training steps with a KL term (β > 0): the scale of its gradient, β / N. A layer may add
   * klGradScale·∇KL into its parameter gradients during this forward pass when it can fuse that
   * with the pass's own work (the trainer clears gradients before the forward); its
   * `kl(klGradScale, false)` afterwards then adds nothing more.
   */
  klGradScale?: number;
  /**
   * Dataset indices of the batch's rows (the trainer sets them): noise drawn per sample (the
   * recurrent layers' per-sequence weight samples) is keyed by them, not by the position in the
   * batch, so it does not depend on batch size or order. Default: the positions 0..B−1.
   */
  rows?: ArrayLike<number>;
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

/**
 * A non-trainable tensor a layer keeps (e.g. batch norm's running mean): no gradient, but
 * saved in model files, carried into pruned models and restored by early stopping.
 */
export interface StateGroup {
  /** `<layer>/<state>`, e.g. `"batch_norm_1/runningMean"`. */
  name: string;
  value: Tensor;
  /** Smallest valid value (a variance: 0), checked when the state is set or loaded. */
  min?: number;
}

/** The part of a parameter or state name after the layer name: `"dense_1/theta"` → `"theta"`. */
export function groupKey(name: string): string {
  const i = name.lastIndexOf('/');
  return i < 0 ? name : name.slice(i + 1);
}

/**
 * Steps that carry over unchanged from a layer to the inference-only sparse model: element-wise
 * activations, pooling (window `size`, `stride`, `pad`, [h, w] pixels each), flatten, batch norm
 * with its running statistics, softmax.
 */
export type FixedStep =
  | { kind: 'activation'; activation: ActivationKind; alpha?: number }
  | { kind: 'maxPool' | 'avgPool'; size: [number, number]; stride: [number, number]; pad: [number, number] }
  | { kind: 'flatten' }
  | { kind: 'batchNorm'; gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; eps: number }
  | { kind: 'softmax' };

/**
 * What a layer is at inference ({@link Layer.inference}), the input of `prune`:
 * - `linear`: y = x ⊛ W + bias with exactly the weights the deterministic forward uses (dropped
 *   ones zero); `weights` in the layer's layout, [inputs, units] or, with `geometry`, a
 *   convolution's [KH, KW, C, units]. `prune` stores it sparse or dense.
 * - a {@link FixedStep};
 * - `identity`: nothing at inference (dropout);
 * - `layer`: the layer itself, run by its own deterministic forward (class, options, parameters
 *   and state copied; the class must be registered by name). The default: a user-defined layer
 *   works with `prune` and sparse model files without telling them anything.
 * - `embedding`, `recurrent`: see {@link EmbeddingForm}, {@link RecurrentForm}.
 */
export type InferenceForm =
  | FixedStep
  | {
    kind: 'linear'; weights: Float32Array; units: number; bias: Float32Array | null; geometry?: ConvGeometry;
    /**
     * A Bayesian layer's weight variances σ², in the layout of `weights`, zero where a weight is
     * dropped: a Monte-Carlo pass draws w = weights + sqrt(σ²)·ε at every nonzero weight, ε the
     * Gaussian of (seed, pass) at the weight's index on the layer's stream. Absent for
     * deterministic layers. `prune({ uncertainty: true })` keeps it.
     */
    variance?: Float32Array;
    /** An activation fused into the layer, applied after the linear step. */
    activation?: Extract<FixedStep, { kind: 'activation' }>;
  }
  | { kind: 'identity' }
  | { kind: 'layer' }
  | EmbeddingForm
  | RecurrentForm;

/**
 * An embedding at inference: ids [T] → rows of `table` [vocab, dim] (the weights its deterministic
 * forward uses, dropped entries zero); id `zeroId` (padding, or −1 for none) reads as zeros.
 */
export interface EmbeddingForm {
  kind: 'embedding';
  vocab: number;
  dim: number;
  table: Float32Array;
  zeroId: number;
}

/**
 * A recurrent layer at inference (LSTM gates i, f, g, o; GRU r, z, n): `wx` [inputs, G·units] and
 * `wh` [units, G·units] row-major with exactly the weights its deterministic forward uses,
 * `bias` [G·units], GRU `recurrentBias` [G·units] inside the reset gate's product.
 */
export interface RecurrentForm {
  kind: 'recurrent';
  cell: 'lstm' | 'gru';
  inputs: number;
  units: number;
  wx: Float32Array;
  wh: Float32Array;
  bias: Float32Array | null;
  recurrentBias: Float32Array | null;
  returnSequences: boolean;
  masking: boolean;
}

/** One row of a model summary: a layer, its output shape, its parameters and the weights it keeps. */
export interface LayerInfo {
  /** Layer name, e.g. `"dense_1"`. */
  name: string;
  /** Registered class name, e.g. `"Dense"`. */
  className: string;
  /** Per-sample output shape. */
  outputShape: Shape;
  /** Trainable scalars. */
  params: number;
  /**
   * Weights used at inference: for layers that drop weights (Bayesian layers) those under the
   * threshold, for others all their parameters.
   */
  kept: number;
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

  /** Non-trainable tensors (none by default); see {@link StateGroup}. */
  state(): StateGroup[] {
    return [];
  }

  /** Copies of the {@link state} tensors, by their short name (e.g. `runningMean`). */
  getState(): Record<string, Float32Array> {
    return Object.fromEntries(this.state().map((s) => [groupKey(s.name), s.value.toArray()]));
  }

  /**
   * Overwrite the {@link state}: `values` names every state tensor by its short name with as
   * many finite values, each at least the group's `min`. Everything is checked before anything
   * is written (throws {@link ArgumentError} or {@link ShapeError}).
   */
  setState(values: Record<string, Float32Array>): void {
    const groups = this.state();
    if (typeof values !== 'object' || values === null) throw new ArgumentError('values', 'an object of Float32Arrays by state name', describe(values));
    const keys = groups.map((g) => groupKey(g.name));
    for (const k of Object.keys(values)) if (!keys.includes(k)) throw new ArgumentError(`values.${k}`, `a state of ${this.name || this.constructor.name} (${keys.join(', ') || 'none'})`, k);
    groups.forEach((g, i) => checkStateValues(`values.${keys[i]}`, values[keys[i]], g));
    groups.forEach((g, i) => g.value.set(values[keys[i]]));
  }

  /**
   * What this layer is at inference, for `prune` and sparse inference (see {@link InferenceForm});
   * by default the layer itself, run by its deterministic forward.
   */
  inference(): InferenceForm {
    return { kind: 'layer' };
  }

  /** This layer's row of a model summary (after {@link build}). */
  info(): LayerInfo {
    const params = this.params().reduce((a, p) => a + p.value.size, 0);
    return { name: this.name, className: this.config().className, outputShape: this.outputShape.slice(), params, kept: this.sparsity()?.kept ?? params };
  }

  /** Called after every optimizer step: project parameters back into their valid range. */
  constrain(): void {}

  /** Constructor options, for serialization. */
  abstract config(): LayerConfig;

  /** Free every buffer, parameter and state tensor. */
  dispose(): void {
    for (const t of this.owned.values()) t.dispose();
    this.owned.clear();
    for (const p of this.params()) {
      p.value.dispose();
      p.grad.dispose();
    }
    if (this.built) for (const s of this.state()) s.value.dispose();
  }

  /** A layer-owned buffer named `key` of exactly `shape`: reused when the shape is unchanged. */
  protected buffer(key: string, shape: Shape): Tensor {
    return reusedBuffer(this.owned, key, shape, this.rt);
  }

  /** Throw {@link ShapeError} unless `x` is [batch, ...inputShape]. */
  protected checkInput(x: Tensor, name = 'x'): number {
    const s = x.shape;
    const ok = s.length === this.inputShape.length + 1 && this.inputShape.every((d, i) => s[i + 1] === d);
    if (!ok) throw new ShapeError(`${this.name || this.constructor.name}.${name}`, `[batch, ${this.inputShape.join(', ')}]`, fmtShape(s));
    return s[0];
  }
}

/**
 * Throw unless `v` fits state group `g`: a Float32Array of its size, finite values, each at
 * least `g.min`. `Err` is the error class (ArgumentError for the API; files pass theirs).
 */
export function checkStateValues(name: string, v: unknown, g: StateGroup, Err: typeof ArgumentError = ArgumentError): Float32Array {
  if (!(v instanceof Float32Array) || v.length !== g.value.size) throw new Err(name, `a Float32Array of ${g.value.size} values`, describe(v));
  const min = g.min ?? -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (!(v[i] - v[i] === 0 && v[i] >= min)) throw new Err(`${name}[${i}]`, min === -Infinity ? 'a finite value' : `a finite value >= ${min}`, String(v[i]));
  }
  return v;
}

function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The buffer named `key` in `owned` if it has exactly `shape`, else a new zero one put there
 * (the old one freed): the scratch of layers and models, which does not grow across steps.
 */
export function reusedBuffer(owned: Map<string, Tensor>, key: string, shape: Shape, rt: Runtime): Tensor {
  const t = owned.get(key);
  if (t && sameShape(t.shape, shape)) return t;
  t?.dispose();
  const n = Tensor.zeros(shape, rt);
  owned.set(key, n);
  return n;
}

/** The noise key of one pass: the model seed in the low word, the pass counter in the high word. */
export function passSeed(ctx: ForwardContext): bigint {
  return (BigInt(ctx.step >>> 0) << 32n) | BigInt(ctx.seed >>> 0);
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
