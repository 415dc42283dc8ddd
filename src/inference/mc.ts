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
import { MAX_ELEMENTS, Shape, Tensor } from '../tensor.js';
import { softmax } from '../ops/softmax.js';
import { entropyRows } from '../ops/loss.js';
import { exp } from '../ops/math.js';
import { Positions, gaussianAt } from '../ops/noise.js';
import { mcWeightSample } from '../ops/bayes.js';
import { Csr, SparseMatrix } from '../ops/spmm.js';
import { ContainerReader, PayloadWriter, bad, isInt, isObject, show } from '../container.js';
import { batchSizeOption, lossOption, optionsObject, seedOption } from '../validate.js';
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
  private readonly bufs = new Map<number, { p: Tensor; h: Tensor }>();

  constructor(private readonly task: McTask, private readonly n: number, private readonly C: number, private readonly S: number, private readonly rt: Runtime) {
    const cls = task.kind === 'classification';
    this.D = task.kind === 'gaussianNll' ? C / 2 : C;
    this.sum = new Float64Array(n * this.D);
    this.m2 = new Float64Array(cls ? 0 : n * this.D);
    this.ent = new Float64Array(cls ? n : task.kind === 'gaussianNll' ? n * this.D : 0);
  }

  /** Scratch of c rows: probabilities [c, C] and entropies [c] (or exp of the log-variances [c, D]). */
  private buf(c: number): { p: Tensor; h: Tensor } {
    let b = this.bufs.get(c);
    if (!b) this.bufs.set(c, (b = { p: Tensor.zeros([c, this.task.kind === 'gaussianNll' ? this.D : this.C], this.rt), h: Tensor.zeros([c], this.rt) }));
    return b;
  }

  /** Outputs `out` [c, C] of pass `s` for rows [start, start + c). */
  add(out: Tensor, start: number, s: number): void {
    const c = out.size / this.C, C = this.C, D = this.D;
    const { p, h } = this.buf(c);
    if (this.task.kind === 'classification') {
      softmax(out.reshape([c, C]), { out: p });
      entropyRows(p, h, false);
      const pv = p.view(), hv = h.view(), sum = this.sum, ent = this.ent;
      for (let i = 0; i < c * C; i++) sum[start * C + i] += pv[i];
      for (let i = 0; i < c; i++) ent[start + i] += hv[i];
      return;
    }
    const o = out.view();
    if (this.task.kind === 'gaussianNll') {
      const v = p.view();
      for (let r = 0; r < c; r++) for (let d = 0; d < D; d++) v[r * D + d] = Math.max(o[r * C + D + d], -12);
      const ev = exp(p, { out: p }).view();
      for (let i = 0; i < c * D; i++) this.ent[start * D + i] += ev[i];
    }
    const m = this.sum, m2 = this.m2;
    for (let r = 0; r < c; r++) {
      for (let d = 0; d < D; d++) {
        const k = (start + r) * D + d, mu = o[r * C + d];
        const delta = mu - m[k];
        m[k] += delta / (s + 1);
        m2[k] += delta * (mu - m[k]);
      }
    }
  }

  /** The statistics after all S passes (frees the scratch). */
  result(): McPrediction | McRegression {
    const { n, C, D, S } = this;
    try {
      if (this.task.kind === 'classification') {
        const mean = Float32Array.from(this.sum, (v) => v / S);
        const expectedEntropy = Float32Array.from(this.ent, (v) => v / S);
        const predictiveEntropy = new Float32Array(n), mutualInformation = new Float32Array(n);
        const p = Tensor.from(mean, [n, C], this.rt), h = Tensor.zeros([n], this.rt);
        try {
          predictiveEntropy.set(entropyRows(p, h, false).view());
        } finally {
          p.dispose();
          h.dispose();
        }
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

  /** Free the scratch tensors. */
  dispose(): void {
    for (const b of this.bufs.values()) {
      b.p.dispose();
      b.h.dispose();
    }
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
export function readMcSpec(r: ContainerReader, e: unknown, f: string, inputs: number, units: number, values: number): McSpec | null {
  if (e === undefined || e === null) return null;
  if (!isObject(e)) bad(f, 'an mc object', show(e));
  if ((values + inputs + units) * 4 > r.payloadBytes) bad(f, 'variances and maps fitting the payload', `${values} + ${inputs} + ${units} values`);
  const m = {
    stream: e.stream as number, inputs0: e.inputs0 as number, units0: e.units0 as number,
    variance: r.read(`${f}.variance`, e.variance, 'f32', values),
    inputMap: r.read(`${f}.inputMap`, e.inputMap, 'u32', inputs),
    unitMap: r.read(`${f}.unitMap`, e.unitMap, 'u32', units),
  };
  checkMcSpec(f, m, inputs, units, values, ModelFormatError);
  return m;
}

/** The header entry of `m`, its arrays appended to `w`. */
export function writeMcSpec(w: PayloadWriter, m: McSpec): Record<string, unknown> {
  return { stream: m.stream, inputs0: m.inputs0, units0: m.units0, variance: w.add(m.variance), inputMap: w.add(m.inputMap), unitMap: w.add(m.unitMap) };
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

  private constructor(m: McSpec, csr: Csr | null, weights: Float32Array | null, shape: Shape, inputs: number, units: number, rt: Runtime) {
    this.stream = m.stream;
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

  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
  }
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
