/**
 * Monte-Carlo prediction, shared by the training model and the pruned one: the option checks and
 * the statistics of the passes ({@link McStats}: means and entropies, or regression moments,
 * accumulated in float64), and the Bayesian part of a {@link SparseModel}: each weight step
 * pruned with `{ uncertainty: true }` keeps the variances σ² of its kept weights and where each
 * weight sat in the training layer ({@link McSpec}), so a pass draws w = θ + sqrt(σ²)·ε with ε
 * the very Gaussian the training model's pass draws for that weight (the generator evaluated at
 * the kept indices only, {@link gaussianAt}).
 * @module
 */
import { ArgumentError, ModelFormatError, ShapeError, checkInt, checkNumber, describe } from '../errors.js';
import type { Runtime } from '../runtime/runtime.js';
import { MAX_ELEMENTS, Shape, Tensor, assertFinite } from '../tensor.js';
import { softmax } from '../ops/softmax.js';
import { entropyRows } from '../ops/loss.js';
import { exp } from '../ops/math.js';
import { activation } from '../ops/activation.js';
import { matmul } from '../ops/gemm.js';
import { conv2d } from '../ops/conv.js';
import { avgPool2d, maxPool2d } from '../ops/pool.js';
import { batchNorm } from '../ops/batchnorm.js';
import { firstNonFinite, square } from '../ops/elementwise.js';
import { Positions, gaussianAt } from '../ops/noise.js';
import { lrtSample, mcWeightSample } from '../ops/bayes.js';
import { Csr, SparseMatrix, csrFromWeights, sparseConv2d, spmm, transpose } from '../ops/spmm.js';
import { LrtProgram, lrtDraw, lrtSpmm } from '../ops/lrt.js';
import { ForwardContext, Layer, reusedBuffer } from '../layers/layer.js';
import { ContainerReader, PayloadWriter, bad, isInt, isObject, show } from '../container.js';
import { batchSizeOption, checkFiniteOutput, lossOption, optionsObject, seedOption } from '../validate.js';
import type { StepSpec } from './steps.js';
import { expandKept } from './kept.js';
import type { LossKind } from '../train.js';
import type { McPrediction, McRegression } from '../model.js';

/* ------------------------------------------------------------------ options and statistics */

/** What the passes' outputs are: class logits, or regression means (and log-variances). */
export type McTask = { kind: 'classification' } | { kind: 'mse'; noiseVariance: number } | { kind: 'gaussianNll' };

/** Checked options of a `predictMC` call. */
export interface McCall {
  samples: number;
  seed: number;
  batchSize: number;
  task: McTask;
}

/**
 * Check the options of `predictMC` (samples, seed, batchSize, loss, noiseVariance) for a model
 * with `outputs` outputs; `trained`: the loss the model was trained with, when known (a
 * regression model then needs `loss`). Throws {@link ArgumentError} naming the option.
 */
export function mcCall(opts: unknown, defaultSeed: number, outputs: number, trained?: LossKind): McCall {
  const o = optionsObject('options', opts as Record<string, unknown>) as { samples?: unknown; seed?: unknown; batchSize?: unknown; loss?: unknown; noiseVariance?: unknown };
  const samples = checkInt('samples', o.samples ?? 20, 1, 1 << 20);
  const seed = seedOption(o.seed, defaultSeed);
  const batchSize = batchSizeOption(o.batchSize, 256);
  const loss = lossOption(o.loss);
  if (loss === undefined && trained !== undefined && trained !== 'softmaxCrossEntropy') {
    throw new ArgumentError('loss', `loss: '${trained}' for this model trained as regression (or 'softmaxCrossEntropy' for class probabilities)`, 'no loss option');
  }
  const nv = o.noiseVariance;
  if (loss === 'mse') return { samples, seed, batchSize, task: { kind: 'mse', noiseVariance: nv === undefined ? 0 : checkNumber('noiseVariance', nv, 0) } };
  if (loss === 'gaussianNll') {
    if (outputs % 2 !== 0) throw new ShapeError('model output', 'an even number of outputs (means, log-variances) for gaussianNll', `${outputs}`);
    if (nv !== undefined) throw new ArgumentError('noiseVariance', 'no noiseVariance with gaussianNll (the model predicts its noise)', describe(nv));
    return { samples, seed, batchSize, task: { kind: 'gaussianNll' } };
  }
  if (nv !== undefined) throw new ArgumentError('noiseVariance', "no noiseVariance for a classifier (it is for loss: 'mse')", describe(nv));
  return { samples, seed, batchSize, task: { kind: 'classification' } };
}

/**
 * The statistics of S Monte-Carlo passes over n samples, fed one batch of one pass at a time
 * ({@link add}: rows [start, start + c) of pass s, passes of a row in order 0..S−1). Sums are in
 * float64 (2^20 float32 additions would lose the mean's last digits), softmax, entropies and exp
 * run in wasm, so the result depends only on each row's outputs, not on the batching.
 * Classifier: mean probabilities and the entropy decomposition; regression: Welford mean and
 * spread of the predicted means, plus the aleatoric variance (E_s[exp(log-variance)], the
 * log-variance clamped at −12 as the training loss does, or the given noise variance).
 */
export class McStats {
  private readonly D: number;
  private readonly sum: Float64Array;
  private readonly m2: Float64Array;
  private readonly ent: Float64Array;
  private readonly bufs: Map<string, Tensor>;
  private readonly owned: boolean;

  /** `bufs`: where to keep the scratch tensors across calls (default: a map of its own, freed by {@link result}). */
  constructor(private readonly task: McTask, private readonly n: number, private readonly C: number, private readonly S: number, private readonly rt: Runtime,
    bufs?: Map<string, Tensor>) {
    this.bufs = bufs ?? new Map();
    this.owned = !bufs;
    const cls = task.kind === 'classification';
    this.D = task.kind === 'gaussianNll' ? C / 2 : C;
    this.sum = new Float64Array(n * this.D);
    this.m2 = new Float64Array(cls ? 0 : n * this.D);
    this.ent = new Float64Array(cls ? n : task.kind === 'gaussianNll' ? n * this.D : 0);
  }

  /** Scratch of c rows: probabilities [c, C] and entropies [c] (or exp of the log-variances [c, D]). */
  private buf(c: number): { p: Tensor; h: Tensor } {
    const p = reusedBuffer(this.bufs, `stats:p:${c}`, [c, this.task.kind === 'gaussianNll' ? this.D : this.C], this.rt);
    return { p, h: reusedBuffer(this.bufs, `stats:h:${c}`, [c], this.rt) };
  }

  /**
   * Outputs `out` [passes·c, C] of passes s0, s0 + 1, … (pass-major: rows q·c + r are pass
   * s0 + q of row start + r) for rows [start, start + c).
   */
  add(out: Tensor, start: number, s0: number, passes = 1): void {
    const R = out.size / this.C, c = R / passes, C = this.C, D = this.D;
    const { p, h } = this.buf(R);
    if (this.task.kind === 'classification') {
      softmax(out.reshape([R, C]), { out: p });
      entropyRows(p, h, false);
      const pv = p.view(), hv = h.view(), sum = this.sum, ent = this.ent;
      for (let q = 0; q < passes; q++) {
        for (let i = 0; i < c * C; i++) sum[start * C + i] += pv[q * c * C + i];
        for (let i = 0; i < c; i++) ent[start + i] += hv[q * c + i];
      }
      return;
    }
    const o = out.view();
    let ev: Float32Array | null = null;
    if (this.task.kind === 'gaussianNll') {
      const v = p.view();
      for (let r = 0; r < R; r++) for (let d = 0; d < D; d++) v[r * D + d] = Math.max(o[r * C + D + d], -12);
      ev = exp(p, { out: p }).view();
    }
    const m = this.sum, m2 = this.m2, al = this.ent;
    for (let q = 0; q < passes; q++) {
      const s = s0 + q;
      if (ev) for (let i = 0; i < c * D; i++) al[start * D + i] += ev[q * c * D + i];
      for (let r = 0; r < c; r++) {
        for (let d = 0; d < D; d++) {
          const k = (start + r) * D + d, mu = o[(q * c + r) * C + d];
          const delta = mu - m[k];
          m[k] += delta / (s + 1);
          m2[k] += delta * (mu - m[k]);
        }
      }
    }
  }

  /** The statistics after all S passes (frees the scratch). */
  result(): McPrediction | McRegression {
    const { n, C, D, S } = this;
    try {
      if (this.task.kind === 'classification') {
        const mean = new Float32Array(n * C), expectedEntropy = new Float32Array(n);
        for (let i = 0; i < n * C; i++) mean[i] = this.sum[i] / S;
        for (let i = 0; i < n; i++) expectedEntropy[i] = this.ent[i] / S;
        const predictiveEntropy = new Float32Array(n), mutualInformation = new Float32Array(n);
        // The entropy of the mean in wasm, in scratch kept with the others.
        const { p, h } = this.buf(n);
        p.view().set(mean);
        predictiveEntropy.set(entropyRows(p, h, false).view());
        for (let i = 0; i < n; i++) mutualInformation[i] = Math.max(0, predictiveEntropy[i] - this.ent[i] / S);
        return { mean, predictiveEntropy, expectedEntropy, mutualInformation };
      }
      const noise = this.task.kind === 'mse' ? this.task.noiseVariance : 0;
      const mean = new Float32Array(n * D), aleatoricVariance = new Float32Array(n * D);
      const epistemicVariance = new Float32Array(n * D), variance = new Float32Array(n * D);
      for (let k = 0; k < n * D; k++) {
        const a = this.task.kind === 'gaussianNll' ? this.ent[k] / S : noise, e = this.m2[k] / S;
        mean[k] = this.sum[k];
        aleatoricVariance[k] = a;
        epistemicVariance[k] = e;
        variance[k] = a + e;
      }
      return { mean, aleatoricVariance, epistemicVariance, variance };
    } finally {
      this.dispose();
    }
  }

  /** Free the scratch tensors (when the map is its own). */
  dispose(): void {
    if (!this.owned) return;
    for (const t of this.bufs.values()) t.dispose();
    this.bufs.clear();
  }
}

/** The 64-bit key of Monte-Carlo pass `s` under `seed` (as the layers' `passSeed`). */
export function mcPassSeed(seed: number, s: number): bigint {
  return (BigInt(s >>> 0) << 32n) | BigInt(seed >>> 0);
}

/* ------------------------------------------------------------------ pruned weight variances */

/**
 * The Bayesian part of a pruned weight step (sparse, dense, sparseConv or conv), made by
 * `prune(model, { uncertainty: true })`: the variances of its weights and where each weight sat
 * in the training layer, so a Monte-Carlo pass draws the same noise for it. A weight at (input
 * k, unit u) of the step (CSR column k of row u, or row k, column u of dense weights) had the
 * dense index `inputMap[k]·units0 + unitMap[u]` in the training layer's weights
 * [inputs0, units0] (a convolution's inputs are its KH·KW·C taps), so compaction may remove
 * inputs and units without changing any draw.
 */
export interface McSpec {
  /** The training layer's noise stream: its position in the model. */
  stream: number;
  /** σ² of each stored weight, aligned with the CSR values or the dense weights; ≥ 0, finite. */
  variance: Float32Array;
  /** Inputs (rows of the weight layout) of the training layer. */
  inputs0: number;
  /** Units (last weight axis) of the training layer. */
  units0: number;
  /** Training-layer input of each input of the step, < inputs0. */
  inputMap: Uint32Array;
  /** Training-layer unit of each unit of the step, < units0. */
  unitMap: Uint32Array;
}

type ErrClass = typeof ArgumentError | typeof ModelFormatError;

/** Check an {@link McSpec} of a step with `inputs` inputs, `units` units and `values` stored weights. */
export function checkMcSpec(f: string, m: McSpec, inputs: number, units: number, values: number, Err: ErrClass): void {
  if (!isObject(m)) throw new Err(f, 'an {stream, variance, inputs0, units0, inputMap, unitMap} object', show(m));
  if (!isInt(m.stream) || m.stream > 2 ** 32 - 1) throw new Err(`${f}.stream`, 'an integer in [0, 2^32)', show(m.stream));
  for (const k of ['inputs0', 'units0'] as const) if (!isInt(m[k]) || m[k] < 1 || m[k] > MAX_ELEMENTS) throw new Err(`${f}.${k}`, `an integer in [1, ${MAX_ELEMENTS}]`, show(m[k]));
  if (m.inputs0 * m.units0 > MAX_ELEMENTS) throw new Err(`${f}.units0`, `inputs0·units0 ≤ ${MAX_ELEMENTS}`, `${m.inputs0}·${m.units0}`);
  const v = m.variance;
  if (!(v instanceof Float32Array) || v.length !== values) throw new Err(`${f}.variance`, `a Float32Array of ${values} (one per stored weight)`, describe(v));
  for (let i = 0; i < v.length; i++) if (!(v[i] >= 0 && v[i] < Infinity)) throw new Err(`${f}.variance[${i}]`, 'a finite variance >= 0', String(v[i]));
  const maps = [['inputMap', inputs, m.inputs0], ['unitMap', units, m.units0]] as const;
  for (const [k, len, lim] of maps) {
    const a = m[k];
    if (!(a instanceof Uint32Array) || a.length !== len) throw new Err(`${f}.${k}`, `a Uint32Array of ${len}`, describe(a));
    for (let i = 0; i < len; i++) if (a[i] >= lim) throw new Err(`${f}.${k}[${i}]`, `< ${lim}`, String(a[i]));
  }
}

/**
 * Read the `mc` field `e` of a step (absent: null) with `inputs`, `units`, `values` as the step
 * holds them; sizes are checked against the payload before anything is allocated.
 */
export function readMcSpec(r: ContainerReader, e: unknown, f: string, inputs: number, units: number, values: number, kept: Float64Array | null = null): McSpec | null {
  if (e === undefined || e === null) return null;
  if (!isObject(e)) bad(f, 'an mc object', show(e));
  // kept: a dense matrix stored as its kept entries (version 4): the variances at those positions only.
  const stored = kept ? kept.length : values;
  if ((stored + inputs + units) * 4 > r.payloadBytes) bad(f, 'variances and maps fitting the payload', `${stored} + ${inputs} + ${units} values`);
  if (kept) r.expand(`${f}.variance`, 4 * values);
  const variance = r.read(`${f}.variance`, e.variance, 'f32', stored);
  const m = {
    stream: e.stream as number, inputs0: e.inputs0 as number, units0: e.units0 as number,
    variance: kept ? expandKept(kept, variance, values) : variance,
    inputMap: r.read(`${f}.inputMap`, e.inputMap, 'u32', inputs),
    unitMap: r.read(`${f}.unitMap`, e.unitMap, 'u32', units),
  };
  checkMcSpec(f, m, inputs, units, values, ModelFormatError);
  return m;
}

/** The header entry of `m`, its arrays appended to `w`. */
export function writeMcSpec(w: PayloadWriter, m: McSpec, variance: Float32Array = m.variance): Record<string, unknown> {
  return { stream: m.stream, inputs0: m.inputs0, units0: m.units0, variance: w.add(variance), inputMap: w.add(m.inputMap), unitMap: w.add(m.unitMap) };
}

/** Dense indices in the training layer of the stored weights: CSR order for `csr`, else [inputs, units] row-major. */
function denseIndices(m: McSpec, csr: Csr | null, inputs: number, units: number): Uint32Array {
  const { inputMap, unitMap, units0 } = m;
  if (csr) {
    const out = new Uint32Array(csr.values.length);
    for (let u = 0; u < csr.rows; u++) for (let p = csr.rowPtr[u]; p < csr.rowPtr[u + 1]; p++) out[p] = inputMap[csr.colIdx[p]] * units0 + unitMap[u];
    return out;
  }
  const out = new Uint32Array(inputs * units);
  for (let k = 0; k < inputs; k++) for (let u = 0; u < units; u++) out[k * units + u] = inputMap[k] * units0 + unitMap[u];
  return out;
}

/**
 * The wasm operands of one Bayesian step: means θ and variances σ² of the stored weights, their
 * dense indices in the training layer, and the weights of the current pass ({@link sampled}:
 * a CSR matrix of the step's structure, or a dense tensor), drawn by {@link draw}.
 */
export class McWeights {
  readonly stream: number;
  readonly theta: Tensor;
  readonly sigma2: Tensor;
  readonly positions: Positions;
  readonly eps: Tensor;
  readonly sampled: SparseMatrix | Tensor;
  private readonly owned: { dispose(): void }[] = [];
  private lrtOps?: { variance: SparseMatrix | Tensor };
  /** Units of the step. */
  readonly units: number;
  /** noisePositions' answer (a step's pixels per row never change). */
  private noiseAt?: { positions: Positions | number; stride: number };
  private csrOps?: { theta: SparseMatrix; sigma2: SparseMatrix };

  private constructor(private readonly m: McSpec, private readonly csr: Csr | null, private readonly weights: Float32Array | null, private readonly shape: Shape,
    inputs: number, units: number, private readonly rt: Runtime) {
    this.stream = m.stream;
    this.units = units;
    const own = <T extends { dispose(): void }>(t: T): T => {
      this.owned.push(t);
      return t;
    };
    try {
      const values = csr ? csr.values : weights!;
      this.theta = own(Tensor.from(values, [values.length], rt));
      this.sigma2 = own(Tensor.from(m.variance, [values.length], rt));
      this.positions = own(Positions.from(denseIndices(m, csr, inputs, units), rt));
      this.eps = own(Tensor.zeros([values.length], rt));
      this.sampled = own(csr ? SparseMatrix.fromCsr(csr, rt) : Tensor.zeros(shape, rt));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /**
   * Operands of a step: `csr` for a sparse step, else its dense `weights` of `shape`; `inputs`,
   * `units` of the step ([inputs, units] or, for a convolution, KH·KW·C taps and filters).
   */
  static create(m: McSpec, csr: Csr | null, weights: Float32Array | null, shape: Shape, inputs: number, units: number, rt: Runtime): McWeights {
    return new McWeights(m, csr, weights, shape, inputs, units, rt);
  }

  /** Draw the weights of the pass keyed `key` ({@link mcPassSeed}) into {@link sampled}. */
  draw(key: bigint): void {
    gaussianAt(this.eps, this.positions, key, { stream: this.stream });
    mcWeightSample(this.theta, this.sigma2, this.eps, this.sampled);
  }

  /**
   * The operand of local reparameterization (made on first use): σ² as a matrix of the step's
   * kind (CSR of its structure, or dense of its weights' shape).
   */
  lrt(): { variance: SparseMatrix | Tensor } {
    if (this.lrtOps) return this.lrtOps;
    const variance = this.csr ? SparseMatrix.fromCsr({ ...this.csr, values: this.m.variance }, this.rt) : Tensor.from(this.m.variance, this.shape, this.rt);
    this.owned.push(variance);
    return (this.lrtOps = { variance });
  }

  /**
   * The operands of {@link LrtProgram.products} (made on first use): θ and σ² of the kept
   * weights as two CSR matrices of one structure, [units, inputs]; a dense-stored step's
   * weights [inputs, units] with θ = 0 (dropped: σ² 0 too) left out.
   */
  lrtCsr(): { theta: SparseMatrix; sigma2: SparseMatrix } {
    if (this.csrOps) return this.csrOps;
    let csr = this.csr, sigma2: Float32Array = this.m.variance;
    if (!csr) {
      const [inputs, units] = this.shape, v = this.m.variance;
      csr = csrFromWeights(this.weights!, inputs, units);
      sigma2 = new Float32Array(csr.values.length);
      for (let u = 0; u < units; u++) for (let p = csr.rowPtr[u]; p < csr.rowPtr[u + 1]; p++) sigma2[p] = v[csr.colIdx[p] * units + u];
    }
    const theta = SparseMatrix.fromCsr(csr, this.rt);
    this.owned.push(theta);
    const s2 = SparseMatrix.fromCsr({ ...csr, values: sigma2 }, this.rt);
    this.owned.push(s2);
    return (this.csrOps = { theta, sigma2: s2 });
  }

  /**
   * Where 'lrt' draws the noise of the step's pre-activations, keyed by the TRAINING layer's
   * units so that structured compaction (which renumbers the units) leaves every draw as it is:
   * in a row of `pixels` output pixels (1 for a dense step) × the step's units, output
   * pix·units + u sits at position pix·units0 + unitMap[u] of the row, and row r (sample r of
   * the call) at r·stride. Without compaction (every unit kept) the positions are a number:
   * contiguous, one fill per row (the same values). Kept after the first call (a step's
   * pixels are fixed by its shapes).
   */
  noisePositions(pixels: number): { positions: Positions | number; stride: number } {
    let r = this.noiseAt;
    if (r) return r;
    const { unitMap, units0 } = this.m, units = this.units, stride = pixels * units0;
    // Every unit kept: unitMap is the identity (the kept units ascend).
    if (units === units0) r = { positions: stride, stride };
    else this.owned.push((r = { positions: Positions.from(new Uint32Array(pixels * units).map((_, i) => ((i / units) | 0) * units0 + unitMap[i % units]), this.rt), stride }).positions as Positions);
    return (this.noiseAt = r);
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
    this.lrtOps = undefined;
    this.csrOps = undefined;
    this.noiseAt = undefined;
  }
}

/** The options {@link SparseModel.predictMC} adds to the training model's. */
export interface SparseMcOptions {
  /**
   * `'weights'` (default): each pass draws the kept weights, w = θ + sqrt(σ²)·ε with the
   * training model's ε for each weight, so the statistics equal the training model's predictMC
   * for the same seed (up to float rounding). `'lrt'`: local reparameterization, the cheap path:
   * each Bayesian step draws its pre-activations, x·θ + sqrt(x²·σ² + 1e-8)·ε + bias, from two
   * products and one ε per sample, pass and output, and the passes of a batch run together as
   * rows (at batch 1 the products of the first Bayesian step are computed once for all passes).
   * For each sample this is the same predictive distribution, so its statistics converge to the
   * same values as the samples grow, but for a given seed they are other draws than the
   * weight-sampling mode's (and than the training model's); still seeded and independent of the
   * batch size and of a sample's position (ε keyed by the sample's index in the call).
   */
  mode?: 'weights' | 'lrt';
}

/** What {@link sparsePredictMC} needs of a sparse model's step. */
export interface McStepView {
  mat?: SparseMatrix;
  w?: Tensor;
  mc?: McWeights;
}

/** What {@link sparsePredictMC} needs of a sparse model. */
export interface McModelView {
  rt: Runtime;
  /** Per-sample input shape, and values per sample of the output. */
  inputShape: Shape;
  outputSize: number;
  steps: McStepView[];
  /** The deterministic forward over the steps' current weights: x [c, ...inputShape] → [c, ...outputShape]. */
  forward(x: Tensor, start: number): Tensor;
}

/**
 * Monte-Carlo prediction of a pruned model over n samples `x` (checked by the caller): pass s
 * draws every Bayesian step's weights from (seed, s) on its stream, then forwards each batch of
 * rows with them, so every row of a call sees the same weights, whatever the batching, exactly
 * as the training model's `predictMC` draws them.
 */
export function sparsePredictMC(model: McModelView, x: Float32Array, n: number, call: McCall): McPrediction | McRegression {
  const { rt, inputShape } = model;
  const per = inputShape.reduce((a, b) => a * b, 1);
  const { samples: S, batchSize: bs } = call;
  const stats = new McStats(call.task, n, model.outputSize, S, rt);
  const mcSteps = model.steps.filter((st) => st.mc);
  const means = mcSteps.map((st) => (st.mat ?? st.w)!);
  const one = n <= bs ? Tensor.from(x, [n, ...inputShape], rt) : null;
  const chunk = one ? null : Tensor.zeros([bs, ...inputShape], rt);
  try {
    // The steps multiply by this pass's weights until the means are put back (finally).
    mcSteps.forEach((st) => {
      const w = st.mc!.sampled;
      if (w instanceof SparseMatrix) st.mat = w;
      else st.w = w;
    });
    for (let s = 0; s < S; s++) {
      const key = mcPassSeed(call.seed, s);
      for (const st of mcSteps) st.mc!.draw(key);
      for (let start = 0; start < n; start += bs) {
        const c = Math.min(bs, n - start);
        let xb = one;
        if (!xb) {
          xb = c === bs ? chunk! : chunk!.prefix([c, ...inputShape]);
          xb.view().set(x.subarray(start * per, (start + c) * per));
        }
        stats.add(model.forward(xb, start), start, s);
      }
    }
    return stats.result();
  } finally {
    mcSteps.forEach((st, i) => {
      const m = means[i];
      if (m instanceof SparseMatrix) st.mat = m;
      else st.w = m;
    });
    one?.dispose();
    chunk?.dispose();
    stats.dispose();
  }
}

/* ------------------------------------------------------------------ local reparameterization */

/** Rows (samples × passes) an LRT batch holds at most: bounds memory at batch × samples. */
const LRT_ROWS = 4096;

/** What {@link sparsePredictLrt} needs of a step (the sparse model's own step record). */
export interface LrtStepView extends McStepView {
  spec: StepSpec;
  inShape: Shape;
  outShape: Shape;
  b?: Tensor;
  extra?: Tensor[];
  layer?: Layer;
  seq?: { forward(x: Tensor): Tensor };
}

/** What {@link sparsePredictLrt} needs of a sparse model. */
export interface LrtModelView {
  rt: Runtime;
  inputShape: Shape;
  outputSize: number;
  steps: LrtStepView[];
  /** Scratch tensors kept across calls (the model frees them). */
  bufs: Map<string, Tensor>;
}

const INFERENCE: ForwardContext = { training: false, sample: false, seed: 0, step: 0 };

/**
 * Monte-Carlo prediction through the local reparameterization trick (Kingma et al. 2015): a
 * Bayesian step's pre-activation is drawn directly, b = x·θ + sqrt(x²·σ² + 1e-8)·ε + bias, from
 * two sparse (or dense) products and one ε per sample, pass and output (keyed by (seed, pass) on
 * the layer's stream at position row·F0 + j0 for the output's index j0 among the training
 * layer's F0 outputs, row the sample's index in the call: structured compaction changes no
 * draw), instead of drawing the weights. For one sample this is the same distribution as
 * drawing the weights (the units' pre-activations are independent Gaussians under the factorized
 * posterior), so the statistics converge to the same values, but the numbers are other ones than
 * the weight-sampling mode's for a given seed. The passes of a batch run together as rows, and
 * everything before the first Bayesian step (its two products included) is computed once for all
 * passes.
 */
export function sparsePredictLrt(model: LrtModelView, x: Float32Array, n: number, call: McCall): McPrediction | McRegression {
  const S = call.samples;
  const per = model.inputShape.reduce((a, b) => a * b, 1);
  const c0 = Math.max(1, Math.min(call.batchSize, Math.floor(LRT_ROWS / S)));
  const stats = new McStats(call.task, n, model.outputSize, S, model.rt, model.bufs);
  try {
    for (let start = 0; start < n; start += c0) {
      const c = Math.min(c0, n - start);
      const p = lrtProgram(model, c, S);
      copyIn(p.input, x, start, c, per);
      p.prog.run(call.seed, start);
      const out = p.out, R = out.shape[0], passes = R / c;
      checkFiniteOutput('output', out, (j) => start + (Math.floor(j / (out.size / R)) % c));
      // Without a Bayesian step every pass has the same outputs: computed once, counted S times.
      for (let q = 0; q < S; q += passes) stats.add(out, start, q, passes);
    }
    return stats.result();
  } finally {
    stats.dispose();
  }
}

/**
 * Copy samples [start, start + c) of x into `t` and check them finite there, in one SIMD pass
 * ('lrt' checks predictMC's input where it is copied in: a value that is not finite throws the
 * NonFiniteError of the whole input's check).
 */
function copyIn(t: Tensor, x: Float32Array, start: number, c: number, per: number): void {
  t.view().set(x.subarray(start * per, (start + c) * per));
  if (firstNonFinite(t) >= 0) assertFinite('x', x);
}

/** A compiled Monte-Carlo forward of c samples and S passes (see {@link lrtProgram}). */
interface CompiledLrt {
  prog: LrtProgram;
  /** The c samples [c, ...inputShape]. */
  input: Tensor;
  /** The outputs of the passes [S·c, C] (pass-major; [c, C] without a Bayesian step). */
  out: Tensor;
}

/** Compiled forwards of a model (by its buffer map, which frees their tensors with the model), at most 3, most recent last. */
const compiledOf = new WeakMap<Map<string, Tensor>, Map<string, CompiledLrt>>();

/**
 * The Monte-Carlo forward of `model` for c samples and S passes, compiled once into an
 * {@link LrtProgram} (kept with the model, replayed by every call of these sizes; at most 3 kept).
 * Sparse steps and Bayesian dense ones (as the CSR of their kept weights) run feature-major
 * [features, columns]: c columns up to the first Bayesian step, whose two products are computed
 * once for all passes, then S·c (column q·c + r: pass q of sample r), two products in one sweep
 * (lrt_spmm_f32_csr; for one column, or more than 65536 inputs, two spmm: at one column their
 * batch-1 kernels skip zero inputs; the same bits), ε keyed as {@link sparsePredictLrt} says,
 * the draw with a following ReLU fused in (the same max). Activations run in place; the other
 * steps row-major [rows, ...], replayed through {@link lrtStep} (their outputs copied into a
 * buffer of the program's).
 */
function lrtProgram(model: LrtModelView, c: number, S: number): CompiledLrt {
  const tag = `lrtc:${c}:${S}:`;
  let cache = compiledOf.get(model.bufs);
  if (!cache) compiledOf.set(model.bufs, (cache = new Map()));
  const hit = cache.get(tag);
  if (hit) return hit;
  const { rt, steps, bufs } = model;
  const buf = (key: string, shape: Shape) => reusedBuffer(bufs, tag + key, shape, rt);
  // The programs' tensors: every key of the map that starts with `lrtc:` (all) or this tag.
  const free = (prefix: string) => {
    for (const [k, t] of bufs) {
      if (k.startsWith(prefix)) {
        t.dispose();
        bufs.delete(k);
      }
    }
  };
  const linear = (st: LrtStepView) => st.spec.kind === 'sparse' || (st.spec.kind === 'dense' && !!st.mc);
  const P = S * c;
  if (cache.size >= 3) {
    free('lrtc:');
    cache.clear();
  }
  try {
    // The ops bound here ask for no workspace scratch (binding one that did would throw; the
    // convolutions run as JS steps).
    const prog = new LrtProgram(rt);
    const input = buf('x', [c, ...model.inputShape]);
    // h is row-major [R, ...] or, after sparse and Bayesian dense steps, feature-major [features, R] (fm).
    let h = input, R = c, fm = false;
    const rows = (key: string) => {
      if (!fm) return h;
      fm = false;
      const y = buf(key, [R, h.shape[0]]);
      prog.bind(() => transpose(h, { out: y }));
      return y;
    };
    for (let i = 0; i < steps.length; i++) {
      const st = steps[i], s = st.spec;
      if (linear(st)) {
        const { inputs, units } = s as { inputs: number; units: number };
        let xT = h;
        if (!fm && R === 1) xT = h.reshape([inputs, 1]);
        else if (!fm) {
          const x0 = h.reshape([R, inputs]), y = (xT = buf(`${i}:xT`, [inputs, R]));
          prog.bind(() => transpose(x0, { out: y }));
        }
        fm = true;
        if (!st.mc) {
          const y = (h = buf(`${i}:yT`, [units, R])), x0 = xT;
          prog.bind(() => spmm(st.mat!, x0, { bias: st.b, out: y }));
          continue;
        }
        const { theta, sigma2 } = st.mc.lrtCsr();
        const mu = buf(`${i}:muT`, [units, R]), v = buf(`${i}:vT`, [units, R]);
        const x0 = xT;
        if (R === 1 || theta.wide) {
          const x2 = buf(`${i}:x2T`, [inputs, R]);
          prog.bind(() => {
            spmm(theta, x0, { out: mu });
            spmm(sigma2, square(x0, { out: x2 }), { out: v });
          });
        } else prog.bind(() => lrtSpmm(theta, sigma2, x0, mu, v));
        const Rn = R === c ? P : R;
        const eps = buf(`${i}:eps`, [Rn, units]);
        // Row q·c + r is sample start + r of pass q: its counter is the pass, its positions the
        // sample's outputs, contiguous from (start + r)·units.
        const e0 = eps.prefix([P, units]), stream = st.mc.stream, at = st.mc.noisePositions(1);
        prog.step(() => gaussianAt(e0, at.positions, mcPassSeed(prog.seed, 0), { stream, rowBase: prog.start * at.stride, rowStride: at.stride, passRows: c }));
        const next = steps[i + 1]?.spec, relu = next?.kind === 'activation' && next.activation === 'relu';
        const y = (h = buf(`${i}:yT`, [units, Rn]));
        prog.bind(() => lrtDraw(mu, v, eps, y, { bias: st.b, relu }));
        if (relu) i++;
        R = Rn;
      } else if (s.kind === 'activation') {
        const x0 = h;
        prog.step(() => activation(s.activation, x0, { alpha: s.alpha, out: x0 }));
      } else if (!(s.kind === 'flatten' && fm)) {
        const x0 = rows(`${i}:rows`), R0 = R;
        // A layer's forward may return its own buffer: the outputs are copied into one of the program's.
        let y: Tensor | undefined;
        prog.step(() => {
          const r = lrtStep(st, i, x0, R0, { S, c, start: prog.start, seed: prog.seed }, buf);
          R = r.R;
          (y ??= buf(`${i}:own`, r.h.shape)).view().set(r.h.view());
        });
        h = y!;
      }
    }
    // The outputs [R, C]: R = P passes' rows, or c without a Bayesian step.
    const all = fm ? buf('out', [R, h.shape[0]]) : h.reshape([R, model.outputSize]);
    const hT = h;
    if (fm) prog.bind(() => transpose(hT, { out: all }));
    const compiled: CompiledLrt = { prog, input, out: all };
    cache.set(tag, compiled);
    return compiled;
  } catch (e) {
    free(tag);
    throw e;
  }
}

/** The batch an LRT step runs in: S passes of c samples from row `start` of the call. */
interface LrtBatch {
  S: number;
  c: number;
  start: number;
  seed: number;
}

/**
 * One step of {@link sparsePredictLrt} on h [R, ...inShape] (row-major; R = c samples before the
 * first Bayesian step, S·c after it, pass-major): returns the output and its row count.
 */
function lrtStep(st: LrtStepView, i: number, h: Tensor, R: number, bt: LrtBatch, buf: (key: string, shape: Shape) => Tensor): { h: Tensor; R: number } {
  const s = st.spec;
  const out = (shape: Shape, key = `${i}`) => buf(key, [R, ...shape]);
  switch (s.kind) {
    case 'dense': // deterministic (sparse and Bayesian dense steps run feature-major: lrtLinear)
      return { h: matmul(h.reshape([R, s.inputs]), st.w!, { bias: st.b, out: out(st.outShape) }), R };
    case 'conv':
    case 'sparseConv': {
      const prod = (x: Tensor, key: string, w: Tensor | SparseMatrix, bias?: Tensor) => (w instanceof SparseMatrix
        ? sparseConv2d(x, w, s.geometry, { bias, out: out(st.outShape, key) })
        : conv2d(x, w, { stride: s.geometry.stride, pad: s.geometry.pad, bias, out: out(st.outShape, key) }));
      const w = (st.mat ?? st.w)!;
      if (!st.mc) return { h: prod(h, `${i}`, w, st.b), R };
      const lrt = st.mc.lrt();
      const mu = prod(h, `${i}:mu`, w);
      const v = prod(square(h, { out: buf(`${i}:x2`, h.shape) }), `${i}:v`, lrt.variance);
      return lrtSampleStep(st, i, mu, v, R, bt, buf);
    }
    case 'activation':
      return { h: activation(s.activation, h, { alpha: s.alpha, out: out(st.outShape) }), R };
    case 'maxPool':
    case 'avgPool':
      return { h: (s.kind === 'maxPool' ? maxPool2d : avgPool2d)(h, { size: s.size, stride: s.stride, pad: s.pad, out: out(st.outShape) }), R };
    case 'flatten':
      return { h: h.reshape([R, ...st.outShape]), R };
    case 'batchNorm': {
      const [g, b, m, v] = st.extra!;
      return { h: batchNorm(h, g, b, { runningMean: m, runningVar: v }, { training: false, eps: s.eps, out: out(st.outShape) }).y, R };
    }
    case 'softmax':
      return { h: softmax(h, { out: out(st.outShape) }), R };
    case 'layer':
      return { h: st.layer!.forward(h, INFERENCE), R };
    case 'embedding':
    case 'recurrent':
      return { h: st.seq!.forward(h), R };
  }
  return { h, R };
}

/**
 * The pre-activation draw of a Bayesian step from its mean and variance products mu, v
 * [R, ...outShape]: the first Bayesian step (R = c) repeats them for the S passes.
 */
function lrtSampleStep(st: LrtStepView, i: number, mu: Tensor, v: Tensor, R: number, bt: LrtBatch, buf: (key: string, shape: Shape) => Tensor): { h: Tensor; R: number } {
  const { S, c } = bt;
  const F = mu.size / R;
  if (R === c && S > 1) {
    const big = (t: Tensor, key: string) => {
      const o = buf(key, [S * c, ...st.outShape]);
      const src = t.view(), dst = o.view();
      for (let q = 0; q < S; q++) dst.set(src, q * c * F);
      return o;
    };
    const mu2 = big(mu, `${i}:muS`), v2 = big(v, `${i}:vS`);
    [mu, v] = [mu2, v2];
    R = S * c;
  }
  const eps = buf(`${i}:eps`, [R, ...st.outShape]);
  // Row q·c + r is sample start + r of pass q: its counter is the pass, its positions the
  // sample's F outputs' in the training layer (McWeights.noisePositions).
  const at = st.mc!.noisePositions(F / st.mc!.units);
  gaussianAt(eps, at.positions, mcPassSeed(bt.seed, 0), { stream: st.mc!.stream, rowBase: bt.start * at.stride, rowStride: at.stride, passRows: c });
  const y = buf(`${i}`, [R, ...st.outShape]);
  lrtSample(mu, v, eps, st.b, y, buf(`${i}:std`, y.shape));
  return { h: y, R };
}
