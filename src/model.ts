import { ArgumentError, ShapeError, checkInt, describe } from './errors.js';
import { Runtime, runtime } from './runtime/runtime.js';
import { Shape, Tensor, assertFinite, fmtShape, copyRows, sizeOf } from './tensor.js';
import { ForwardContext, Layer, ParamGroup } from './layers/layer.js';
import { argmaxRows, softmax } from './ops/softmax.js';
import { Optimizer, OptimizerState } from './optim.js';
import { FitAsyncOptions, FitOptions, History, LossKind, Targets, evaluate, fit, fitAsync, releaseOptimizer } from './train.js';
import { LoadOptions, SaveOptions, readModel, writeModel } from './io.js';
import { batchSizeOption, booleanOption, brandSequential, checkFiniteOutput, runtimeOption, checkSequential, modelShape, optionsObject, seedOption } from './validate.js';
import { McStats, mcCall } from './inference/mc.js';

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

/** Monte-Carlo predictive statistics of a regression model, per sample and output. */
export interface McRegression {
  /** Predictive mean E_s[μ_s], [n, outputs] row-major. */
  mean: Float32Array;
  /**
   * Aleatoric variance, the noise the model predicts: E_s[σ²_s] for `gaussianNll` (σ² =
   * exp(log-variance output)); the given `noiseVariance` for `mse` (0 by default), [n, outputs].
   */
  aleatoricVariance: Float32Array;
  /** Epistemic variance, the spread of the sampled means Var_s[μ_s] (1/S normalised), [n, outputs]. */
  epistemicVariance: Float32Array;
  /** Total predictive variance, aleatoric + epistemic, [n, outputs]. */
  variance: Float32Array;
}

/** Options of {@link Sequential.predictMC}. */
export interface McOptions {
  /** Stochastic passes (default 20, at most 2^20). */
  samples?: number;
  /** Seed of the weight noise (default: the model's), 32-bit unsigned. */
  seed?: number;
  /** Samples per forward pass (default 256; bounds memory). */
  batchSize?: number;
}

/** Options of {@link Sequential.predictMC} for a regression model. */
export interface McRegressionOptions extends McOptions {
  /**
   * The model's data term: `'mse'` (outputs are the means) or `'gaussianNll'` (outputs are
   * [means, log-variances], so there are outputSize / 2 outputs).
   */
  loss: 'mse' | 'gaussianNll';
  /** Observation noise variance added as aleatoric part for `'mse'` (default 0), ≥ 0. */
  noiseVariance?: number;
}

/**
 * Where training stands, kept with the model and in its files so an interrupted run resumes
 * (see `initialEpoch` of `fit`).
 */
export interface TrainingState {
  /** Epochs completed (counting those before any `initialEpoch`). */
  epoch: number;
  /** The data term it was trained with. */
  loss: LossKind;
  /** Optimizer state at the end of the last `fit`, or null (not kept, or not saved in the file). */
  optimizer: OptimizerState | null;
}

/** One layer's row of {@link Sequential.summary}. */
export interface SummaryRow {
  /** Layer name in the model, e.g. `"sparse_vd_dense_1"`, and its class. */
  name: string;
  className: string;
  /** Per-sample output shape (without the batch axis). */
  outputShape: number[];
  /** Trainable scalars of the layer. */
  params: number;
  /** Weights kept at inference and weights in all, for layers that sparsify (Bayesian layers). */
  kept?: number;
  total?: number;
}

/** Result of {@link Sequential.summary}: rows, totals and the table as text. */
export interface ModelSummary {
  rows: SummaryRow[];
  /** Per-sample input shape. */
  inputShape: number[];
  /** Trainable scalars in all. */
  totalParams: number;
  /** Weights kept and weights in all over the sparsifying layers, and their ratio (all / kept). */
  keptWeights: number;
  totalWeights: number;
  compression: number;
  /** The table, Keras-style, one line per layer and a totals line. */
  text: string;
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
  /** True while a `fit` or `fitAsync` runs on the model (a second one is refused). */
  isTraining = false;
  private xBuf: Tensor | null = null;
  private disposed = false;
  /** Sample of the call at the first row of the last batch loaded (for error messages). */
  private batchStart = 0;
  private training: { epoch: number; loss: LossKind; optimizer: Optimizer | OptimizerState | null } | null = null;

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

  /** The tensors {@link getWeights} copies: every parameter, then every layer's non-trainable state. */
  private weightTensors(): { name: string; value: Tensor; min?: number }[] {
    return [...this.params(), ...this.layers.flatMap((l) => l.state())];
  }

  /**
   * Copies of every trainable parameter, in {@link params} order, then of every layer's
   * non-trainable state (batch-norm running statistics), as Keras' `get_weights` (each flat, row-major).
   */
  getWeights(): Float32Array[] {
    checkSequential('model', this);
    return this.weightTensors().map((t) => t.value.toArray());
  }

  /**
   * Set every parameter and layer state from `weights` (as {@link getWeights} gives them). All
   * are checked (count, lengths, finite, a state's minimum) before any is written.
   */
  setWeights(weights: readonly Float32Array[]): void {
    checkSequential('model', this);
    const ts = this.weightTensors();
    if (!Array.isArray(weights) || weights.length !== ts.length) throw new ShapeError('weights', `an array of ${ts.length} Float32Arrays (parameters, then layer states)`, describe(weights));
    weights.forEach((w, i) => {
      const t = ts[i];
      if (!(w instanceof Float32Array)) throw new ArgumentError(`weights[${i}]`, 'a Float32Array', describe(w));
      if (w.length !== t.value.size) throw new ShapeError(`weights[${i}]`, `${t.value.size} values (${t.name} ${fmtShape(t.value.shape)})`, `${w.length}`);
      assertFinite(`weights[${i}]`, w);
      if (t.min !== undefined) for (let k = 0; k < w.length; k++) if (!(w[k] >= t.min)) throw new ArgumentError(`weights[${i}][${k}]`, `a value >= ${t.min} (${t.name})`, String(w[k]));
    });
    ts.forEach((t, i) => t.value.set(weights[i]));
  }

  /**
   * Where training stands (epochs done, loss, optimizer state), set by `fit` and by
   * {@link Sequential.load}; null for a model never trained. Treat it as read-only.
   */
  get trainingState(): TrainingState | null {
    const t = this.training;
    if (!t) return null;
    if (t.optimizer instanceof Optimizer) return { epoch: t.epoch, loss: t.loss, optimizer: t.optimizer.getState(this.params()) };
    return t as TrainingState;
  }

  /**
   * Record where training stands (used by `fit`, which passes its live optimizer while it runs,
   * and by file loading); null forgets it.
   */
  setTrainingState(s: { epoch: number; loss: LossKind; optimizer: Optimizer | OptimizerState | null } | null): void {
    if (s !== null) {
      if (typeof s !== 'object') throw new ArgumentError('state', 'a training state {epoch, loss, optimizer}', describe(s));
      checkInt('state.epoch', s.epoch, 0);
      if (!['softmaxCrossEntropy', 'mse', 'gaussianNll'].includes(s.loss)) throw new ArgumentError('state.loss', "'softmaxCrossEntropy' | 'mse' | 'gaussianNll'", describe(s.loss));
    }
    this.training = s && { epoch: s.epoch, loss: s.loss, optimizer: s.optimizer ?? null };
  }

  /**
   * A table of the layers, Keras-style: name and class, per-sample output shape, trainable
   * parameters and, for layers that sparsify, the weights kept at inference.
   */
  summary(): ModelSummary {
    checkSequential('model', this);
    const rows: SummaryRow[] = this.layers.map((l) => {
      const row: SummaryRow = { name: l.name, className: l.constructor.name, outputShape: l.outputShape.slice(), params: l.params().reduce((a, p) => a + p.value.size, 0) };
      const sp = l.sparsity();
      if (sp) Object.assign(row, sp);
      return row;
    });
    const totalParams = rows.reduce((a, r) => a + r.params, 0);
    const keptWeights = rows.reduce((a, r) => a + (r.kept ?? 0), 0);
    const totalWeights = rows.reduce((a, r) => a + (r.total ?? 0), 0);
    const compression = totalWeights === 0 ? 1 : totalWeights / Math.max(keptWeights, 1);
    const n = (v: number) => v.toLocaleString('en-US');
    const table = [['Layer (type)', 'Output shape', 'Params', 'Kept weights'], ...rows.map((r) => [
      `${r.name} (${r.className})`, fmtShape(r.outputShape), n(r.params),
      r.total === undefined ? '' : `${n(r.kept!)} / ${n(r.total)} (${((100 * r.kept!) / Math.max(r.total, 1)).toFixed(1)}%)`,
    ])];
    const w = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
    const line = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(w[c]) : v.padStart(w[c]))).join('   ').trimEnd();
    const rule = '-'.repeat(w.reduce((a, b) => a + b, 0) + 3 * (w.length - 1));
    const text = [
      `Input shape: ${fmtShape(this.inputShape)}`, line(table[0]), rule, ...table.slice(1).map(line), rule,
      `Total params: ${n(totalParams)}` + (totalWeights ? `; kept weights: ${n(keptWeights)} of ${n(totalWeights)} (compression x${compression.toFixed(1)})` : ''),
    ].join('\n');
    return { rows, inputShape: this.inputShape.slice(), totalParams, keptWeights, totalWeights, compression, text };
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
    else copyRows(x, per, rows, v);
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
   * Monte-Carlo prediction: `samples` stochastic passes (each Bayesian layer draws its weights
   * once per pass, w = M + σ·ε with ε keyed by (seed, pass) on its stream, a weight masked to
   * zero dropped whole; dropout stays off), seeded by `seed` so it is repeatable. A classifier
   * (default) gets the mean probabilities and the entropy decomposition; a regression model
   * (`loss: 'mse'` or `'gaussianNll'`) the predictive mean with its aleatoric and epistemic
   * variance per output. A model trained with a regression loss needs `loss` here.
   */
  predictMC(x: Float32Array, opts: McRegressionOptions): McRegression;
  predictMC(x: Float32Array, opts?: McOptions & { loss?: 'softmaxCrossEntropy' }): McPrediction;
  predictMC(x: Float32Array, opts: McOptions & { loss?: LossKind; noiseVariance?: number } = {}): McPrediction | McRegression {
    const call = mcCall(opts, this.seed, this.outputSize, this.training?.loss);
    const n = this.checkX(x);
    const stats = new McStats(call.task, n, this.outputSize, call.samples, this.rt);
    try {
      this.runBatches(x, call.batchSize, (t, start) => {
        for (let s = 0; s < call.samples; s++) {
          // Pass s samples the weights from (seed, s): the same whatever the batching.
          const ctx: ForwardContext = { training: false, sample: true, sampleWeights: true, seed: call.seed, step: s };
          stats.add(this.forward(t, ctx), start, s);
        }
      });
      return stats.result();
    } finally {
      stats.dispose();
    }
  }

  /**
   * Train on (x, y): x holds n samples of `inputShape` flat, y class indices or regression
   * targets. See {@link fit} for the options (epochs, batch size, optimizer, schedules,
   * KL weight β, validation, early stopping, callbacks).
   */
  fit(x: Float32Array, y: Targets, opts: FitOptions): History {
    return fit(this, x, y, opts);
  }

  /**
   * {@link fit} that does not block: same options, steps and bits, returns a Promise, yields to
   * the event loop at least every `yieldEvery` ms and stops when `signal` aborts. See {@link fitAsync}.
   */
  fitAsync(x: Float32Array, y: Targets, opts: FitAsyncOptions): Promise<History> {
    return fitAsync(this, x, y, opts);
  }

  /** Mean data loss per sample and accuracy (classifiers) with the deterministic mean weights. */
  evaluate(x: Float32Array, y: Targets, opts: { batchSize?: number; loss?: LossKind } = {}): { loss: number; accuracy?: number } {
    return evaluate(this, x, y, opts);
  }

  /** True once {@link dispose} ran: every method but `dispose` then throws {@link ArgumentError}. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * The model file: architecture, weights, batch-norm statistics and (unless
   * `includeOptimizer` is false) the training state, so `fit` can resume from it. Load it
   * with {@link Sequential.load}.
   */
  save(opts: SaveOptions = {}): Uint8Array {
    checkSequential('model', this);
    const o = optionsObject('options', opts);
    return writeModel(this, { includeOptimizer: booleanOption('includeOptimizer', o.includeOptimizer, true) });
  }

  /**
   * A model from a file written by {@link Sequential.save} (validated before anything is
   * allocated; a bad file throws ModelFormatError), with its training state.
   */
  static load(bytes: Uint8Array, opts: LoadOptions = {}): Sequential {
    return readModel(bytes, opts, (o) => new Sequential(o));
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


/**
 * Serialize `model` without its optimizer state, as this function always did (the file keeps
 * the epoch and loss): `model.save({ includeOptimizer: false })`.
 * @deprecated Use `model.save()` (which keeps the optimizer state by default).
 */
export function saveModel(model: Sequential): Uint8Array {
  checkSequential('model', model);
  return model.save({ includeOptimizer: false });
}

/**
 * Load a model file (see {@link Sequential.load}).
 * @deprecated Use `Sequential.load(bytes)`.
 */
export function loadModel(bytes: Uint8Array, opts: LoadOptions = {}): Sequential {
  return Sequential.load(bytes, opts);
}
