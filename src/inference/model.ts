/**
 * {@link SparseModel}: the inference-only model made by `prune` (or read from a sparse model
 * file, `VDSP`): sparse and dense weight layers, activations, pooling, flatten, batch norm,
 * softmax and any registered layer run by its own deterministic forward.
 * @module
 */
import { ArgumentError, ModelFormatError, ShapeError, checkInt, describe } from '../errors.js';
import { Runtime } from '../runtime/runtime.js';
import { MAX_ELEMENTS, Shape, Tensor, assertFinite, fmtShape, sizeOf } from '../tensor.js';
import { activation } from '../ops/activation.js';
import { matmul } from '../ops/gemm.js';
import { conv2d } from '../ops/conv.js';
import { avgPool2d, maxPool2d } from '../ops/pool.js';
import { batchNorm } from '../ops/batchnorm.js';
import { argmaxRows, softmax } from '../ops/softmax.js';
import { checkTensor } from '../ops/check.js';
import { gatherRows } from '../ops/gather.js';
import { firstNonFinite } from '../ops/elementwise.js';
import { Plan } from '../ops/plan.js';
import { packLiveColumns } from '../layers/linear.js';
import { SparseMatrix, sparseConv2d, spmm, transpose } from '../ops/spmm.js';
import { ForwardContext, Layer, reusedBuffer } from '../layers/layer.js';
import { PayloadWriter, applyLayerEntry, bad, isInt, isObject, openFile, show, writeContainer } from '../container.js';
import { StepSpec, checkSpec, readStep, stepShape, writeStep } from './steps.js';
import { SequenceStep } from './recurrent.js';
import { batchSizeOption, checkFiniteOutput, optionsObject, runtimeOption } from '../validate.js';
import type { McWeights, SparseMcOptions } from './mc.js';
import { mcSupport } from './mc-support.js';
import type { McOptions, McPrediction, McRegression, McRegressionOptions } from '../model.js';

/**
 * A recorded forward at one batch size: the plan, the buffers it writes (its own), its input
 * buffer, and views over the input and the output kept from call to call (a `subarray` costs
 * more than a batch-1 copy); see {@link liveViews}.
 */
interface CompiledPass {
  plan: Plan<Tensor>;
  bufs: Map<string, Tensor>;
  input: Tensor;
  xv: Float32Array;
  yv: Float32Array;
}

/**
 * `p` with its views current. Growing wasm memory detaches the buffer they view, and a view of a
 * detached buffer has length 0 (never the length of a live tensor), so they are made again only then.
 */
function liveViews(p: CompiledPass): CompiledPass {
  if (p.xv.length === 0 || p.yv.length === 0) {
    p.xv = p.input.view();
    p.yv = p.plan.value.view();
  }
  return p;
}

/** Batch sizes whose compiled pass a model keeps (the oldest is dropped beyond). */
const MAX_PLANS = 3;

/** A step with its wasm-resident operands. */
interface Step {
  spec: StepSpec;
  inShape: Shape;
  outShape: Shape;
  mat?: SparseMatrix;
  w?: Tensor;
  b?: Tensor;
  extra?: Tensor[];
  /** A `layer` step's layer, built in this model's runtime. */
  layer?: Layer;
  /** An `embedding` or `recurrent` step's operands and forward. */
  seq?: SequenceStep;
  /** Nonzero weights (−1 until {@link SparseModel.keptOf} first counts them). */
  kept: number;
  /** A Bayesian step's variances and Monte-Carlo weights (pruned with uncertainty). */
  mc?: McWeights;
}

/** One row of {@link SparseModel.summary}: a step, its output shape, its parameters and the weights it keeps. */
export interface SparseStepInfo {
  /** `<kind>_<position>`, e.g. `"sparse_0"`; a `layer` step: its class, e.g. `"MyLayer_3"`. */
  layer: string;
  kind: StepSpec['kind'];
  inputShape: Shape;
  outputShape: Shape;
  /** Values the step holds: weights stored, biases, batch-norm scale, shift and statistics, a layer step's parameters. */
  params: number;
  /** Nonzero weights (those the step multiplies through); 0 for weightless steps. */
  kept: number;
  /** Weights stored (nonzeros for sparse steps, all for dense ones); 0 for weightless steps. */
  weights: number;
  /** Weights of the dense equivalent. */
  denseWeights: number;
  /** Embedding steps: words kept and the vocabulary size (the rest read as the zero row). */
  vocabulary?: { kept: number; of: number };
}

/** Nonzero entries of `a`. */
function nonzeros(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) n++;
  return n;
}

const INFERENCE: ForwardContext = { training: false, sample: false, seed: 0, step: 0 };


const SPARSE_MAGIC = 'VDSP';
/**
 * Version 2 added `layer` steps, version 3 the weight variances of Bayesian steps (`mc`, written
 * only by models pruned with uncertainty), version 4 (written since) the compact weight coding of
 * inference/kept.ts: CSRs and dense-stored matrices as their kept entries, values in f32 and
 * positions as byte gaps. Files of versions 1 to 3 still load ({@link SparseModel.saveLegacy}
 * writes them).
 */
const SPARSE_VERSION = 4;

/** Batch-size option of the predict methods. */
export interface SparsePredictOptions {
  /** Samples per forward pass (default 256). */
  batchSize?: number;
}

/**
 * An inference-only model made by {@link prune} (or {@link SparseModel.load}): sparse and dense
 * weight layers, activations, pooling, flatten, batch norm and softmax, deterministic. Inputs and
 * outputs are flat `Float32Array`s of n samples, as for {@link Sequential}.
 */
export class SparseModel {
  readonly rt: Runtime;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  /** Weights of the weight layers of the model this was pruned from (for {@link compression}). */
  readonly originalWeights: number;
  /**
   * Pruned with `{ uncertainty: true }`: the Bayesian steps keep their weight variances and
   * {@link predictMC} works; `seed` is the training model's (the default seed of predictMC).
   */
  readonly uncertainty: { seed: number } | null;
  private readonly steps: Step[] = [];
  /** Values of one input sample and of one output sample. */
  private readonly inSize: number;
  private readonly outSize: number;
  /** Whether predict compiles its passes (not with `layer` steps: their layers own their buffers). */
  private readonly plannable: boolean;
  /** The step-by-step pass's buffers (a plan's recording swaps in its own). */
  private bufs = new Map<string, Tensor>();
  /** Compiled passes by batch size (null: the pass cannot be replayed), most recent last. */
  private readonly plans = new Map<number, CompiledPass | null>();
  private disposed = false;
  /** Sample of the call at the first row of the batch being forwarded (for error messages). */
  private batchStart = 0;

  /**
   * @param Err The error a step that does not fit raises (ArgumentError for specs built in
   *   memory, ModelFormatError for a file's).
   * @param csrChecked The steps' CSRs passed `checkCsr` (ops/spmm.ts) already (a file's steps: readStep
   *   checks them as it reads them, or builds them valid), so they are copied in unchecked.
   */
  private constructor(rt: Runtime, inputShape: Shape, specs: StepSpec[], originalWeights: number, Err: typeof ArgumentError | typeof ModelFormatError,
    csrChecked: boolean, uncertainty: { seed: number } | null = null) {
    this.rt = rt;
    this.inputShape = inputShape.slice();
    this.originalWeights = originalWeights;
    this.uncertainty = uncertainty;
    // Shapes first (nothing allocated), then the wasm operands.
    let shape: Shape = this.inputShape;
    const shapes = specs.map((s, i) => {
      const inS = shape;
      shape = stepShape(s, inS, `steps[${i}]`, Err);
      if (shape.reduce((a, b) => a * b, 1) > MAX_ELEMENTS) throw new Err(`steps[${i}]`, `an output of at most ${MAX_ELEMENTS} elements`, fmtShape(shape));
      return [inS, shape] as const;
    });
    this.outputShape = shape;
    this.inSize = sizeOf(this.inputShape);
    this.outSize = sizeOf(shape);
    this.plannable = !specs.some((s) => s.kind === 'layer');
    try {
      specs.forEach((s, i) => this.steps.push(this.materialize(s, shapes[i][0], shapes[i][1], i, csrChecked)));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private materialize(s: StepSpec, inShape: Shape, outShape: Shape, i: number, csrChecked: boolean): Step {
    const rt = this.rt;
    const step: Step = { spec: s, inShape, outShape, kept: -1 };
    const owned: Tensor[] = [];
    const t = (a: Float32Array, shape?: Shape) => {
      const x = Tensor.from(a, shape, rt);
      owned.push(x);
      return x;
    };
    // Monte-Carlo weights only where the entry carries their kernels (see mc-support.ts).
    const mc = mcSupport();
    try {
      switch (s.kind) {
        case 'sparse':
        case 'sparseConv':
          step.mat = csrChecked ? SparseMatrix.fromCheckedCsr(s.csr, rt) : SparseMatrix.fromCsr(s.csr, rt);
          if (s.bias) step.b = t(s.bias);
          if (s.mc && mc) step.mc = mc.weights(s.mc, s.csr, null, [], s.csr.cols, s.csr.rows, rt);
          break;
        case 'dense':
          step.w = t(s.weights, [s.inputs, s.units]);
          if (s.bias) step.b = t(s.bias);
          if (s.mc && mc) step.mc = mc.weights(s.mc, null, s.weights, step.w.shape, s.inputs, s.units, rt);
          break;
        case 'conv':
          step.w = t(s.weights, [s.geometry.kernel[0], s.geometry.kernel[1], inShape[2], s.filters]);
          if (s.bias) step.b = t(s.bias);
          if (s.mc && mc) step.mc = mc.weights(s.mc, null, s.weights, step.w.shape, s.weights.length / s.filters, s.filters, rt);
          break;
        case 'batchNorm':
          step.extra = [t(s.gamma), t(s.beta), t(s.mean), t(s.variance)];
          break;
        case 'embedding':
        case 'recurrent':
          step.seq = new SequenceStep(s, inShape, rt);
          break;
        case 'layer': {
          const l = s.entry.layer;
          l.name = `${l.config().className}_${i}`;
          l.index = i;
          l.inputGrad = false;
          step.layer = l;
          l.build(inShape, rt, 0);
          applyLayerEntry(s.entry, `steps[${i}]`);
          break;
        }
        default:
      }
    } catch (e) {
      for (const x of owned) x.dispose();
      step.mat?.dispose();
      step.mc?.dispose();
      if (step.layer?.built) step.layer.dispose();
      throw e;
    }
    return step;
  }

  /** Nonzero weights of `st`, counted on first use (a cold load need not loop over every weight). */
  private keptOf(st: Step): number {
    if (st.kept < 0) {
      const s = st.spec;
      if (s.kind === 'sparse' || s.kind === 'sparseConv') st.kept = nonzeros(s.csr.values);
      else if (s.kind === 'dense' || s.kind === 'conv') st.kept = nonzeros(s.weights);
      else if (st.layer) st.kept = st.layer.info().kept;
      else st.kept = st.seq ? st.seq.counts.kept : 0;
    }
    return st.kept;
  }

  /** @internal Build from step specs (already consistent: from {@link prune} or a validated file). */
  static fromSteps(inputShape: Shape, specs: StepSpec[], opts: { originalWeights?: number; runtime?: Runtime; uncertainty?: { seed: number } } = {}): SparseModel {
    sizeOf(inputShape, 'inputShape');
    specs.forEach((s, i) => checkSpec(s, `steps[${i}]`, ArgumentError));
    return new SparseModel(runtimeOption(optionsObject('options', opts).runtime), inputShape, specs, opts.originalWeights ?? 0, ArgumentError, false, opts.uncertainty ?? null);
  }

  /** @internal Build from the steps of a validated file (a step that does not fit is a ModelFormatError). */
  static fromFileSteps(inputShape: Shape, specs: StepSpec[], originalWeights: number, rt: Runtime): SparseModel {
    return new SparseModel(rt, inputShape, specs, originalWeights, ModelFormatError, true);
  }

  /** One row per step: name, kind, shapes, values held and weights kept (see {@link SparseStepInfo}). */
  summary(): SparseStepInfo[] {
    return this.steps.map((st, i) => {
      const s = st.spec;
      let weights = 0, denseWeights = 0, params = 0;
      if (s.kind === 'sparse' || s.kind === 'sparseConv') {
        weights = s.csr.values.length;
        denseWeights = s.csr.rows * s.csr.cols;
      } else if (s.kind === 'dense' || s.kind === 'conv') {
        weights = denseWeights = s.weights.length;
      }
      if ('bias' in s && s.bias) params += s.bias.length;
      if (s.kind === 'batchNorm') params = 4 * s.gamma.length;
      if (st.layer) params = weights = denseWeights = st.layer.info().params;
      if (st.seq) {
        ({ weights, denseWeights } = st.seq.counts);
        params = st.seq.counts.params - weights; // biases; the weights are added below
      }
      const layer = st.layer ? st.layer.name : `${s.kind}_${i}`;
      const row: SparseStepInfo = { layer, kind: s.kind, inputShape: st.inShape.slice(), outputShape: st.outShape.slice(), params: params + (st.layer ? 0 : weights), kept: this.keptOf(st), weights, denseWeights };
      if (s.kind === 'embedding') row.vocabulary = { kept: s.table.length / s.dim, of: s.vocab };
      return row;
    });
  }

  /** Nonzero weights of all weight layers: what inference multiplies through (zeros of layers stored dense not counted). */
  get nnz(): number {
    return this.steps.reduce((a, s) => a + this.keptOf(s), 0);
  }

  /** Weights of the original model / weights stored here (1 when unknown). */
  get compression(): number {
    const n = this.nnz;
    return this.originalWeights > 0 ? this.originalWeights / Math.max(n, 1) : 1;
  }

  private buffer(key: string, shape: Shape): Tensor {
    return reusedBuffer(this.bufs, key, shape, this.rt);
  }

  /**
   * Forward one batch x [B, ...inputShape] (in wasm memory); returns [B, ...outputShape] (owned
   * by the model, valid until the next call). Between sparse layers the activations stay
   * feature-major [features, B], so a chain of sparse layers transposes only at its two ends.
   */
  forward(x: Tensor): Tensor {
    this.check();
    checkTensor('x', x, this.rt);
    const ok = x.shape.length === this.inputShape.length + 1 && x.shape[0] > 0 && this.inputShape.every((d, i) => x.shape[i + 1] === d);
    if (!ok) throw new ShapeError('x', `[batch, ${this.inputShape.join(', ')}]`, fmtShape(x.shape));
    const B = x.shape[0];
    let h = x;
    let cols = false; // h is feature-major [features, B]
    const toRows = (i: number, shape: Shape): Tensor => {
      if (!cols) return h;
      cols = false;
      return transpose(h, { out: this.buffer(`${i}:rows`, [B, h.shape[0]]) }).reshape([B, ...shape]);
    };
    this.steps.forEach((st, i) => {
      const s = st.spec;
      switch (s.kind) {
        case 'sparse': {
          // At B = 1, [1, in] and [in, 1] are the same memory: no transpose.
          let xc: Tensor;
          if (cols) xc = h;
          else if (B === 1) xc = h.reshape([s.inputs, 1]);
          else xc = transpose(h.reshape([B, s.inputs]), { out: this.buffer(`${i}:cols`, [s.inputs, B]) });
          h = spmm(st.mat!, xc, { bias: st.b, out: this.buffer(`${i}`, [s.units, B]) });
          if (B === 1) h = h.reshape([1, s.units]);
          else cols = true;
          break;
        }
        case 'activation':
          h = activation(s.activation, h, { alpha: s.alpha, out: this.buffer(`${i}`, h.shape) });
          break;
        case 'dense': {
          const xd = toRows(i, st.inShape).reshape([B, s.inputs]), out = this.buffer(`${i}`, [B, s.units]);
          // At B = 1 the kernel skips zero inputs itself (the live columns' bits, no data-dependent shape).
          const xc = s.liveColumns && B > 1 ? packLiveColumns(xd, this.buffer(`${i}:idx`, [s.inputs]), this.buffer(`${i}:live`, xd.shape)) : null;
          if (xc) {
            const k = xc.shape[1], idx = this.buffer(`${i}:idx`, [s.inputs]);
            h = matmul(xc, gatherRows(st.w!, idx, k, this.buffer(`${i}:w`, [s.inputs, s.units]).prefix([k, s.units])), { bias: st.b, out });
          } else {
            h = matmul(xd, st.w!, { bias: st.b, out, skipZeros: true });
          }
          break;
        }
        case 'sparseConv':
          h = sparseConv2d(toRows(i, st.inShape), st.mat!, s.geometry, { bias: st.b, out: this.buffer(`${i}`, [B, ...st.outShape]) });
          break;
        case 'conv':
          h = conv2d(toRows(i, st.inShape), st.w!, { stride: s.geometry.stride, pad: s.geometry.pad, bias: st.b, out: this.buffer(`${i}`, [B, ...st.outShape]) });
          break;
        case 'maxPool':
        case 'avgPool': {
          const f = s.kind === 'maxPool' ? maxPool2d : avgPool2d;
          h = f(toRows(i, st.inShape), { size: s.size, stride: s.stride, pad: s.pad, out: this.buffer(`${i}`, [B, ...st.outShape]) });
          break;
        }
        case 'flatten':
          h = toRows(i, st.inShape).reshape([B, st.outShape[0]]);
          break;
        case 'batchNorm': {
          const [g, b, m, v] = st.extra!;
          h = batchNorm(toRows(i, st.inShape), g, b, { runningMean: m, runningVar: v }, { training: false, eps: s.eps, out: this.buffer(`${i}`, [B, ...st.inShape]) }).y;
          break;
        }
        case 'softmax':
          h = softmax(toRows(i, st.inShape).reshape([B, st.inShape[0]]), { out: this.buffer(`${i}`, [B, st.inShape[0]]) });
          break;
        case 'layer':
          h = st.layer!.forward(toRows(i, st.inShape).reshape([B, ...st.inShape]), INFERENCE);
          break;
        case 'embedding':
        case 'recurrent':
          h = st.seq!.forward(toRows(i, st.inShape).reshape([B, ...st.inShape]));
          break;
      }
      // One SIMD pass over each output: the first step that overflows is named (h is
      // feature-major [features, B] between sparse steps).
      if (s.kind !== 'flatten') checkFiniteOutput(`steps[${i}] (${s.kind}) output`, h, (j) => this.batchStart + (cols ? j % B : Math.floor(j / (h.size / B))));
    });
    return toRows(this.steps.length, this.outputShape).reshape([B, ...this.outputShape]);
  }

  /** The samples x holds (its type and length checked; its values are checked where it is copied in). */
  private samples(x: unknown): number {
    this.check();
    if (!(x instanceof Float32Array)) throw new ArgumentError('x', 'a Float32Array of samples', describe(x));
    const per = this.inSize;
    if (x.length === 0 || x.length % per !== 0) throw new ShapeError('x', `a multiple of ${per} values (samples of ${fmtShape(this.inputShape)})`, `${x.length} values`);
    return x.length / per;
  }

  /** The samples x holds, its values checked finite (predictMC's input, forwarded step by step). */
  private checkX(x: unknown): number {
    const n = this.samples(x);
    assertFinite('x', x as Float32Array);
    return n;
  }

  /**
   * Forward samples [s, s + c) of x. Copies them once into the batch's input buffer; the first
   * batch of a size records the pass (see ops/plan.ts; models with `layer` steps are not
   * recorded, their layers own their buffers), every later one replays it in one wasm call that
   * also checks the input's finiteness first. A value that is not finite, in x or in a step's
   * output, is reported as the step-by-step pass reports it.
   */
  private forwardRows(x: Float32Array, s: number, c: number): Tensor {
    const per = this.inSize, rows = c * per === x.length ? x : x.subarray(s * per, (s + c) * per);
    let p = this.plannable ? this.plans.get(c) : null;
    if (p === undefined) {
      const own = new Map<string, Tensor>(), bufs = this.bufs;
      this.bufs = own;
      let rec: ReturnType<typeof Plan.record<Tensor>>;
      try {
        rec = Plan.record(this.rt, () => {
          const xb = this.buffer('x', [c, ...this.inputShape]);
          xb.view().set(rows);
          if (firstNonFinite(xb) >= 0) assertFinite('x', x);
          return this.forward(xb);
        });
      } catch (e) {
        for (const t of own.values()) t.dispose();
        throw e;
      } finally {
        this.bufs = bufs;
      }
      if (!rec.plan) {
        // Not replayable: the pass's buffers become the step-by-step ones.
        this.plans.set(c, null);
        for (const t of bufs.values()) t.dispose();
        this.bufs = own;
        return rec.value;
      }
      const input = own.get('x')!;
      p = { plan: rec.plan, bufs: own, input, xv: input.view(), yv: rec.plan.value.view() };
      if (this.plans.size >= MAX_PLANS) this.dropPlan(this.plans.keys().next().value!);
      this.plans.set(c, p);
      return p.plan.value;
    }
    if (p) {
      liveViews(p).xv.set(rows);
      const check = p.plan.run();
      if (check < 0) return p.plan.value;
      if (check === 0) assertFinite('x', x);
      // A step's output is not finite: the step-by-step pass below names it.
    }
    const xb = this.buffer('x', [c, ...this.inputShape]);
    xb.view().set(rows);
    if (!p && firstNonFinite(xb) >= 0) assertFinite('x', x);
    return this.forward(xb);
  }

  private dropPlan(c: number): void {
    const p = this.plans.get(c);
    this.plans.delete(c);
    if (!p) return;
    p.plan.dispose();
    for (const t of p.bufs.values()) t.dispose();
  }

  /** The values of y, a batch's output: through its compiled pass's kept view when it is that pass's. */
  private values(y: Tensor): Float32Array {
    const p = this.plans.get(y.shape[0]);
    return p && p.plan.value === y ? liveViews(p).yv : y.view();
  }

  /** Forward the n samples of x (see {@link samples}) batch by batch, handing each batch's output to `each`. */
  private run(x: Float32Array, n: number, opts: SparsePredictOptions, each: (y: Tensor, start: number) => void): void {
    const bs = batchSizeOption(optionsObject('options', opts).batchSize, 256);
    for (let s = 0; s < n; s += bs) {
      const c = Math.min(bs, n - s);
      this.batchStart = s;
      try {
        each(this.forwardRows(x, s, c), s);
      } finally {
        this.batchStart = 0;
      }
    }
  }

  /** Raw outputs (logits of a classifier), [n, outputSize] flat. */
  predict(x: Float32Array, opts: SparsePredictOptions = {}): Float32Array {
    const n = this.samples(x), C = this.outSize;
    const out = new Float32Array(n * C);
    this.run(x, n, opts, (y, s) => out.set(this.values(y), s * C));
    return out;
  }

  /** Class probabilities (softmax of the outputs), [n, classes] flat. */
  predictProba(x: Float32Array, opts: SparsePredictOptions = {}): Float32Array {
    const n = this.samples(x), C = this.outSize;
    const out = new Float32Array(n * C);
    this.run(x, n, opts, (y, s) => {
      const y2 = y.reshape([y.shape[0], C]);
      out.set(softmax(y2, { out: this.buffer('proba', y2.shape) }).view(), s * C);
    });
    return out;
  }

  /** Predicted class of each sample (argmax of the outputs). */
  predictClasses(x: Float32Array, opts: SparsePredictOptions = {}): Int32Array {
    const n = this.samples(x), C = this.outSize;
    const out = new Int32Array(n);
    this.run(x, n, opts, (y, s) => out.set(argmaxRows(y.reshape([y.shape[0], C])), s));
    return out;
  }

  /**
   * Monte-Carlo prediction of a model pruned with `{ uncertainty: true }`: the same options and
   * results as the training model's `predictMC`, drawn the same way (pass s samples every kept
   * weight of the Bayesian steps as w = θ + sqrt(σ²)·ε, ε the Gaussian the training layer draws
   * for that weight from (seed, s), so the means and entropies equal the training model's up to
   * float rounding, and every row sees the same weights whatever the batching). Steps of
   * deterministic layers, `layer` steps and embedding and recurrent steps (their weights are
   * not kept with variances) run as in {@link predict}. `seed` defaults to the
   * training model's. `mode: 'lrt'` draws the pre-activations instead (see {@link SparseMcOptions}).
   * Throws {@link ArgumentError} for a model pruned without uncertainty, and in `vardrop/infer`,
   * which leaves the Monte-Carlo kernels out (`vardrop/infer-mc` and the full package have them).
   */
  predictMC(x: Float32Array, opts: McRegressionOptions & SparseMcOptions): McRegression;
  predictMC(x: Float32Array, opts?: McOptions & SparseMcOptions & { loss?: 'softmaxCrossEntropy' }): McPrediction;
  predictMC(x: Float32Array, opts: McOptions & SparseMcOptions & { loss?: 'softmaxCrossEntropy' | 'mse' | 'gaussianNll'; noiseVariance?: number } = {}): McPrediction | McRegression {
    this.check();
    if (!this.uncertainty) throw new ArgumentError('model', 'a SparseModel pruned with { uncertainty: true } (it keeps the weight variances)', 'a model pruned without uncertainty');
    const mc = mcSupport();
    if (!mc || this.steps.some((st) => (st.spec as { mc?: unknown }).mc && !st.mc)) {
      throw new ArgumentError('model', "a model loaded by an entry with the Monte-Carlo kernels: load it with 'vardrop/infer-mc' (or the full 'vardrop')", "one loaded by 'vardrop/infer'");
    }
    const { mode, ...rest } = optionsObject('options', opts);
    if (mode !== undefined && mode !== 'weights' && mode !== 'lrt') throw new ArgumentError('mode', "'weights' or 'lrt'", describe(mode));
    const call = mc.call(rest, this.uncertainty.seed, sizeOf(this.outputShape));
    // 'lrt' checks x's values in wasm as it copies them in.
    const n = mode === 'lrt' ? this.samples(x) : this.checkX(x);
    if (mode === 'lrt') return mc.predictLrt({ rt: this.rt, inputShape: this.inputShape, outputSize: sizeOf(this.outputShape), steps: this.steps, bufs: this.bufs }, x, n, call);
    const view = {
      rt: this.rt, inputShape: this.inputShape, outputSize: sizeOf(this.outputShape), steps: this.steps,
      forward: (t: Tensor, start: number) => {
        this.batchStart = start;
        try {
          return this.forward(t);
        } finally {
          this.batchStart = 0;
        }
      },
    };
    return mc.predict(view, x, n, call);
  }

  /**
   * Serialize: magic `VDSP`, version 2 (3 with weight variances), a JSON header (input shape, original weight count and
   * each step with its payload segments) and the payload (CSR row pointers u32, column indices
   * u16 or u32, values and biases f32; a `layer` step as Sequential files hold layers), in the
   * container described in `container.ts`.
   */
  save(): Uint8Array {
    return this.write(true);
  }

  /**
   * @internal The encoding of files before version 4 (every array in full; version 3 with weight
   * variances, else 2): what the tests of older files' reading load.
   */
  saveLegacy(): Uint8Array {
    return this.write(false);
  }

  private write(compact: boolean): Uint8Array {
    this.check();
    const w = new PayloadWriter({ compact });
    const steps = this.steps.map((st) => writeStep(w, st.spec, st.layer));
    const u = this.uncertainty;
    const header = { format: 'vardrop-sparse', inputShape: this.inputShape.slice(), originalWeights: this.originalWeights, steps, ...(u ? { uncertainty: { seed: u.seed } } : {}) };
    return writeContainer(SPARSE_MAGIC, compact ? SPARSE_VERSION : u ? 3 : 2, header, w.finish());
  }

  /**
   * Load a file written by {@link SparseModel.save}. Validates before allocating: container
   * (magic, version, lengths, CRC-32s, JSON), every step's kind and fields, shapes chaining from
   * the input, sizes bounded by the file, segments inside the payload and not overlapping, CSR
   * structure (row pointers from 0, non-decreasing, ending at nnz; indices < columns) and finite
   * values. Throws {@link ModelFormatError}.
   */
  static load(bytes: Uint8Array, opts: { runtime?: Runtime } = {}): SparseModel {
    const rt = runtimeOption(optionsObject('options', opts).runtime);
    const r = openFile(bytes, SPARSE_MAGIC, [1, 2, 3, SPARSE_VERSION], 'vardrop-sparse', 'steps', rt);
    const h = r.header;
    if (!isInt(h.originalWeights)) bad('header.originalWeights', 'a non-negative integer', show(h.originalWeights));
    let shape: Shape = h.inputShape as number[];
    const specs = (h.steps as unknown[]).map((e, i) => {
      const spec = readStep(r, e, `header.steps[${i}]`, shape);
      shape = stepShape(spec, shape, `header.steps[${i}]`, ModelFormatError);
      if (shape.reduce((a, b) => a * b, 1) > MAX_ELEMENTS) bad(`header.steps[${i}]`, `an output of at most ${MAX_ELEMENTS} elements`, fmtShape(shape));
      return spec;
    });
    let uncertainty: { seed: number } | null = null;
    if (h.uncertainty !== undefined) {
      const u = h.uncertainty;
      if (r.version < 3 || !isObject(u) || !isInt(u.seed) || u.seed > 2 ** 32 - 1) bad('header.uncertainty', 'a {seed} object (32-bit unsigned seed) in a version 3 file', show(u));
      uncertainty = { seed: u.seed };
    }
    return new SparseModel(rt, h.inputShape as number[], specs, h.originalWeights, ModelFormatError, true, uncertainty);
  }

  /** Free every weight and buffer. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const st of this.steps) {
      st.mat?.dispose();
      st.w?.dispose();
      st.mc?.dispose();
      st.b?.dispose();
      for (const t of st.extra ?? []) t.dispose();
      st.layer?.dispose();
      st.seq?.dispose();
    }
    for (const t of this.bufs.values()) t.dispose();
    this.bufs.clear();
    for (const c of [...this.plans.keys()]) this.dropPlan(c);
  }

  private check(): void {
    if (this.disposed) throw new ArgumentError('model', 'a live SparseModel', 'a disposed one');
  }
}
