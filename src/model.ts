import { ArgumentError, ShapeError, checkInt, describe } from './errors.js';
import { Runtime, runtime } from './runtime/runtime.js';
import { Shape, Tensor, assertFinite, fmtShape, sizeOf } from './tensor.js';
import { ForwardContext, Layer, ParamGroup } from './layers/layer.js';
import { argmaxRows, softmax } from './ops/softmax.js';
import { entropyRows } from './ops/loss.js';
import { FitOptions, History, LossKind, Targets, evaluate, fit, releaseOptimizer } from './train.js';
import { batchSizeOption, brandSequential, checkFiniteOutput, runtimeOption, checkSequential, modelShape, optionsObject, seedOption } from './validate.js';

/** Options of {@link Sequential}. */
export interface SequentialOptions {
  /** Per-sample input shape: `[features]` or NHWC `[height, width, channels]`. */
  inputShape: number[];
  /** The layers, first to last. Each layer instance belongs to one model. */
  layers: Layer[];
  /** Seed of initialisation and of every noise draw (32-bit unsigned, default 0). */
  seed?: number;
  /** Runtime to live in (default: the shared one). */
  runtime?: Runtime;
}

/** Monte-Carlo predictive statistics of a classifier, per sample (nats). */
export interface McPrediction {
  /** Predictive mean probabilities, [n, classes] row-major. */
  mean: Float32Array;
  /** Entropy of the predictive mean H[E p] (total uncertainty), [n]. */
  predictiveEntropy: Float32Array;
  /** Mean entropy of the samples E[H p] (aleatoric part), [n]. */
  expectedEntropy: Float32Array;
  /** Mutual information H[E p] − E[H p] (epistemic part, ≥ 0), [n]. */
  mutualInformation: Float32Array;
}

/** Per-layer count of weights kept at inference. */
export interface LayerSparsity {
  layer: string;
  kept: number;
  total: number;
}

/**
 * A stack of layers. Inputs are flat `Float32Array`s holding `n` samples of `inputShape`
 * (row-major, NHWC for images); outputs are flat `Float32Array`s of `n × outputSize`.
 */
export class Sequential {
  readonly rt: Runtime;
  readonly layers: readonly Layer[];
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly seed: number;
  private xBuf: Tensor | null = null;
  private disposed = false;
  /** Sample of the call at the first row of the last batch loaded (for error messages). */
  private batchStart = 0;

  constructor(opts: SequentialOptions) {
    if (typeof opts !== 'object' || opts === null) throw new ArgumentError('options', 'an options object with inputShape and layers', describe(opts));
    if (!Array.isArray(opts.layers) || opts.layers.length === 0) {
      throw new ArgumentError('layers', 'a non-empty array of layers', describe(opts.layers));
    }
    this.rt = runtimeOption(opts.runtime);
    this.seed = seedOption(opts.seed, 0);
    this.inputShape = modelShape('inputShape', opts.inputShape);
    this.layers = opts.layers.slice();
    const unique = new Set(this.layers);
    if (unique.size !== this.layers.length) {
      const i = this.layers.findIndex((l, j) => this.layers.indexOf(l) !== j);
      throw new ArgumentError(`layers[${i}]`, 'each layer instance once', `the instance of layers[${this.layers.indexOf(this.layers[i])}] again`);
    }
    this.layers.forEach((l, i) => {
      if (!(l instanceof Layer)) throw new ArgumentError(`layers[${i}]`, 'a Layer', describe(l));
      if (l.built) throw new ArgumentError(`layers[${i}]`, 'a layer not yet in a model', 'a layer already built');
    });
    // Shapes chain through every layer before anything is allocated.
    let shape: Shape = this.inputShape;
    for (const l of this.layers) shape = l.plan(shape).outputShape;
    shape = this.inputShape;
    const counts = new Map<string, number>();
    this.layers.forEach((l, i) => {
      const base = l.constructor.name.replace('ReLU', 'Relu').replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2').toLowerCase();
      const c = (counts.get(base) ?? 0) + 1;
      counts.set(base, c);
      l.name = `${base}_${c}`;
      l.index = i;
      shape = l.build(shape, this.rt, (this.seed + Math.imul(i + 1, 0x9e3779b1)) >>> 0);
    });
    brandSequential(this);
    this.outputShape = shape;
    // No gradient is needed below the first layer with parameters.
    const first = this.layers.findIndex((l) => l.params().length > 0);
    this.layers.forEach((l, i) => (l.inputGrad = i > first));
  }

  /** Elements of one input sample. */
  get inputSize(): number {
    return sizeOf(this.inputShape);
  }

  /** Elements of one output sample. */
  get outputSize(): number {
    return sizeOf(this.outputShape);
  }

  /** Every trainable parameter group, first layer first. */
  params(): ParamGroup[] {
    return this.layers.flatMap((l) => l.params());
  }

  /** Total trainable scalars. */
  countParams(): number {
    return this.params().reduce((s, p) => s + p.value.size, 0);
  }

  /** Forward a batch already in wasm memory: x [batch, ...inputShape] → layer-owned output. */
  forward(x: Tensor, ctx: ForwardContext): Tensor {
    let h = x;
    for (const l of this.layers) {
      h = l.forward(h, ctx);
      // Inference passes check every layer's output (one SIMD pass; training checks its loss
      // and gradients instead): the first layer that overflows is named.
      if (!ctx.training) checkFiniteOutput(`${l.name} output`, h, (i) => this.batchStart + Math.floor(i / (h.size / h.shape[0])));
    }
    return h;
  }

  /** Backward from dL/dOutput through every layer, accumulating parameter gradients. */
  backward(dy: Tensor): void {
    let g: Tensor | null = dy;
    for (let i = this.layers.length - 1; i >= 0 && g; i--) g = this.layers[i].backward(g);
  }

  /**
   * Σ KL of every Bayesian layer; with `gradScale` adds gradScale·∇KL into the gradients
   * (right after this step's forward and backward). `value` false may skip the value (0).
   */
  kl(gradScale?: number, value = true): number {
    let s = 0;
    for (const l of this.layers) s += l.kl(gradScale, value);
    return s;
  }

  /** Weights kept at inference per Bayesian layer (log α below its threshold). */
  sparsity(): LayerSparsity[] {
    const out: LayerSparsity[] = [];
    for (const l of this.layers) {
      const s = l.sparsity();
      if (s) out.push({ layer: l.name, ...s });
    }
    return out;
  }

  /**
   * Compression of the Bayesian layers: all their weights / the weights kept
   * (the figure reported by Molchanov et al.).
   */
  compression(): number {
    let kept = 0, total = 0;
    for (const s of this.sparsity()) {
      kept += s.kept;
      total += s.total;
    }
    return total === 0 ? 1 : total / Math.max(kept, 1);
  }

  /** Check a flat input array and return how many samples it holds. */
  checkX(x: unknown, name = 'x'): number {
    checkSequential('model', this);
    if (!(x instanceof Float32Array)) throw new ArgumentError(name, 'a Float32Array of samples', describe(x));
    const per = this.inputSize;
    if (x.length % per !== 0 || x.length === 0) {
      throw new ShapeError(name, `a multiple of ${per} values (samples of ${fmtShape(this.inputShape)})`, `${x.length} values`);
    }
    assertFinite(name, x);
    return x.length / per;
  }

  /** Copy samples [start, start + count) of x, or the listed ones, into the reusable input tensor. */
  loadBatch(x: Float32Array, rows: ArrayLike<number> | { start: number; count: number }): Tensor {
    const per = this.inputSize;
    const count = 'count' in rows ? rows.count : rows.length;
    this.batchStart = 'count' in rows ? rows.start : 0;
    if (!this.xBuf || this.xBuf.shape[0] !== count) {
      this.xBuf?.dispose();
      this.xBuf = null; // a failed allocation below must not leave the freed one in place
      this.xBuf = Tensor.zeros([count, ...this.inputShape], this.rt);
    }
    const v = this.xBuf.view();
    if ('count' in rows) v.set(x.subarray(rows.start * per, (rows.start + count) * per));
    else for (let i = 0; i < count; i++) v.set(x.subarray(rows[i] * per, rows[i] * per + per), i * per);
    return this.xBuf;
  }

  private runBatches(x: Float32Array, batchSize: number, each: (t: Tensor, start: number, count: number) => void): number {
    const n = this.checkX(x);
    for (let s = 0; s < n; s += batchSize) {
      const c = Math.min(batchSize, n - s);
      each(this.loadBatch(x, { start: s, count: c }), s, c);
    }
    return n;
  }

  /**
   * Deterministic prediction with the mean weights (dropped weights masked): raw outputs
   * (logits of a classifier), [n, outputSize] flat.
   */
  predict(x: Float32Array, opts: { batchSize?: number } = {}): Float32Array {
    const bs = batchSizeOption(optionsObject('options', opts).batchSize, 256);
    const out = new Float32Array(this.checkX(x) * this.outputSize);
    const ctx: ForwardContext = { training: false, sample: false, seed: this.seed, step: 0 };
    this.runBatches(x, bs, (t, s) => {
      out.set(this.forward(t, ctx).view(), s * this.outputSize);
    });
    return out;
  }

  /** Class probabilities (softmax of the deterministic logits), [n, classes] flat. */
  predictProba(x: Float32Array, opts: { batchSize?: number } = {}): Float32Array {
    const bs = batchSizeOption(optionsObject('options', opts).batchSize, 256);
    const out = new Float32Array(this.checkX(x) * this.outputSize);
    const ctx: ForwardContext = { training: false, sample: false, seed: this.seed, step: 0 };
    let p: Tensor | null = null;
    this.runBatches(x, bs, (t, s, c) => {
      const y = this.forward(t, ctx);
      if (!p || p.shape[0] !== c) {
        p?.dispose();
        p = Tensor.zeros(y.shape, this.rt);
      }
      out.set(softmax(y, { out: p }).view(), s * this.outputSize);
    });
    (p as Tensor | null)?.dispose();
    return out;
  }

  /** Predicted class of each sample (argmax of the deterministic logits). */
  predictClasses(x: Float32Array, opts: { batchSize?: number } = {}): Int32Array {
    const bs = batchSizeOption(optionsObject('options', opts).batchSize, 256);
    const out = new Int32Array(this.checkX(x));
    const ctx: ForwardContext = { training: false, sample: false, seed: this.seed, step: 0 };
    this.runBatches(x, bs, (t, s) => out.set(argmaxRows(this.forward(t, ctx)), s));
    return out;
  }

  /**
   * Monte-Carlo prediction of a classifier: `samples` stochastic passes (the Bayesian layers
   * draw weights through the LRT; dropout stays off), seeded by `seed` so it is repeatable.
   */
  predictMC(x: Float32Array, opts: { samples?: number; seed?: number; batchSize?: number } = {}): McPrediction {
    const o = optionsObject('options', opts);
    const S = checkInt('samples', o.samples ?? 20, 1, 1 << 20);
    const seed = seedOption(o.seed, this.seed);
    const bs = batchSizeOption(o.batchSize, 256);
    const n = this.checkX(x);
    const C = this.outputSize;
    const mean = new Float32Array(n * C);
    const expectedEntropy = new Float32Array(n);
    const predictiveEntropy = new Float32Array(n);
    const mutualInformation = new Float32Array(n);
    this.runBatches(x, bs, (t, start, c) => {
      const p = Tensor.zeros([c, C], this.rt);
      const h = Tensor.zeros([c], this.rt);
      // Sums over the passes in float64: 2^20 float32 additions would lose the mean's last digits.
      const sum = new Float64Array(c * C), ent = new Float64Array(c);
      try {
        for (let s = 0; s < S; s++) {
          // Pass s samples the weights from (seed, s): the same whatever the batching.
          const ctx: ForwardContext = { training: false, sample: true, sampleWeights: true, seed, step: s };
          softmax(this.forward(t, ctx), { out: p });
          entropyRows(p, h, false);
          const pv = p.view(), hv = h.view();
          for (let i = 0; i < sum.length; i++) sum[i] += pv[i];
          for (let i = 0; i < c; i++) ent[i] += hv[i];
        }
        const m = mean.subarray(start * C, (start + c) * C);
        for (let i = 0; i < m.length; i++) m[i] = sum[i] / S;
        p.view().set(m);
        entropyRows(p, h, false);
        const hv = h.view();
        for (let i = 0; i < c; i++) {
          expectedEntropy[start + i] = ent[i] / S;
          predictiveEntropy[start + i] = hv[i];
          mutualInformation[start + i] = Math.max(0, hv[i] - ent[i] / S);
        }
      } finally {
        p.dispose();
        h.dispose();
      }
    });
    return { mean, predictiveEntropy, expectedEntropy, mutualInformation };
  }

  /**
   * Train on (x, y): x holds n samples of `inputShape` flat, y class indices or regression
   * targets. See {@link fit} for the options (epochs, batch size, optimizer, schedules,
   * KL weight β, validation, early stopping, callbacks).
   */
  fit(x: Float32Array, y: Targets, opts: FitOptions): History {
    return fit(this, x, y, opts);
  }

  /** Mean data loss per sample and accuracy (classifiers) with the deterministic mean weights. */
  evaluate(x: Float32Array, y: Targets, opts: { batchSize?: number; loss?: LossKind } = {}): { loss: number; accuracy?: number } {
    return evaluate(this, x, y, opts);
  }

  /** True once {@link dispose} ran: every method but `dispose` then throws {@link ArgumentError}. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Free every parameter and buffer of the model. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    releaseOptimizer(this);
    for (const l of this.layers) l.dispose();
    this.xBuf?.dispose();
    this.xBuf = null;
  }
}

