import { ArgumentError, ModelFormatError, ShapeError, checkInt, checkNumber, describe } from './errors.js';
import { ContainerReader, PayloadWriter, bad, isInt, isObject, show, writeContainer } from './container.js';
import { loadModel, saveModel } from './model.js';
import type { ForwardContext } from './layers/layer.js';
import { Sequential, type McPrediction } from './model.js';
import { scale } from './ops/elementwise.js';
import { entropyRows } from './ops/loss.js';
import { exp } from './ops/math.js';
import { gaussianMixtureLogLik } from './ops/sampler.js';
import { softmax } from './ops/softmax.js';
import type { Runtime } from './runtime/runtime.js';
import { Tensor } from './tensor.js';

/** What the members predict. */
export type EnsembleTask = 'classification' | 'regression';

/**
 * Likelihood of a regression member: `'gaussianNll'` outputs [means, log-variances] (per-member
 * predictive N(μ, e^s), s clamped at −12 as in the loss); `'mse'` outputs means only, with the
 * fixed noise variance `noiseVariance` (the MSE loss ½(y − μ)² is the NLL of variance 1).
 */
export type RegressionLikelihood = 'gaussianNll' | 'mse';

/** Options of every {@link Ensemble} constructor. */
export interface EnsembleOptions {
  /** Default `'classification'`. */
  task?: EnsembleTask;
  /** Regression only (default `'gaussianNll'`). */
  likelihood?: RegressionLikelihood;
  /** Noise variance of `'mse'` members (> 0, default 1), in the targets' units squared. */
  noiseVariance?: number;
}

/** Posterior-predictive statistics of a regression ensemble, [n, outputs] row-major each. */
export interface RegressionPrediction {
  /** Mixture mean (1/K)·Σ μ_k. */
  mean: Float32Array;
  /** Total predictive variance = aleatoric + epistemic. */
  variance: Float32Array;
  /** Mean of the members' noise variances (1/K)·Σ σ²_k. */
  aleatoric: Float32Array;
  /** Variance of the members' means (1/K)·Σ (μ_k − mean)². */
  epistemic: Float32Array;
}

/** Kinds of members: sampler snapshots, Monte-Carlo draws of one Bayesian model, separate models. */
export type EnsembleKind = 'samples' | 'mc' | 'models';

const MAGIC = 'VDEN';
const VERSION = 1;

/** A clone of `m` (architecture and current weights) through the model file. */
function cloneModel(m: Sequential, rt?: Runtime): Sequential {
  return loadModel(saveModel(m), { runtime: rt ?? m.rt });
}

function checkModel(name: string, m: unknown): Sequential {
  if (!(m instanceof Sequential)) throw new ArgumentError(name, 'a Sequential', describe(m));
  return m;
}

function checkOpts(o: unknown): Required<EnsembleOptions> {
  if (o === undefined) o = {};
  if (!isObject(o)) throw new ArgumentError('options', 'an ensemble options object', describe(o));
  const task = o.task ?? 'classification';
  if (task !== 'classification' && task !== 'regression') throw new ArgumentError('options.task', "'classification' | 'regression'", describe(task));
  const likelihood = o.likelihood ?? 'gaussianNll';
  if (likelihood !== 'gaussianNll' && likelihood !== 'mse') throw new ArgumentError('options.likelihood', "'gaussianNll' | 'mse'", describe(likelihood));
  const noiseVariance = checkNumber('options.noiseVariance', o.noiseVariance ?? 1, Number.MIN_VALUE);
  return { task, likelihood, noiseVariance };
}

/**
 * A posterior ensemble: K members whose predictions are averaged into the posterior
 * predictive. Three kinds share one interface:
 * - `'samples'`: K parameter snapshots of one architecture collected by a sampler, kept compactly
 *   as one [K, P] block of wasm memory (P = the model's parameter count);
 * - `'mc'`: S Monte-Carlo draws of a Bayesian model's weight noise (variational layers; with
 *   `dropout` also its dropout layers, i.e. MC dropout);
 * - `'models'`: independently trained models (deep ensembles).
 * The ensemble owns copies of the models it was made from (dispose it when done).
 *
 * Classification averages the members' softmax probabilities; regression forms the mixture's
 * mean and variance (aleatoric + epistemic) and its exact log-likelihood.
 */
export class Ensemble {
  readonly kind: EnsembleKind;
  readonly task: EnsembleTask;
  readonly likelihood: RegressionLikelihood;
  readonly noiseVariance: number;
  private readonly models: Sequential[];
  /** 'samples': the [capacity, P] snapshot block and how many are filled. */
  private store: Tensor | null = null;
  private filled = 0;
  private readonly capacity: number;
  /** 'mc': draws, seed and whether dropout layers draw too. */
  private readonly mc: { samples: number; seed: number; dropout: boolean } | null;

  private constructor(kind: EnsembleKind, models: Sequential[], o: Required<EnsembleOptions>, capacity: number,
    mc: { samples: number; seed: number; dropout: boolean } | null) {
    this.kind = kind;
    this.models = models;
    this.task = o.task;
    this.likelihood = o.likelihood;
    this.noiseVariance = o.noiseVariance;
    this.capacity = capacity;
    this.mc = mc;
    if (kind === 'samples') this.store = Tensor.zeros([capacity, models[0].countParams()], models[0].rt);
    this.checkOutputs();
  }

  private checkOutputs(): void {
    const m = this.models[0];
    if (this.task === 'regression' && this.likelihood === 'gaussianNll' && m.outputSize % 2 !== 0) {
      throw new ShapeError('model output', 'an even number of outputs (means, log-variances) for gaussianNll', String(m.outputSize));
    }
  }

  /**
   * An empty sample ensemble with room for `capacity` snapshots of `model`'s parameters (filled
   * by {@link collect}; {@link sample} does this for you).
   */
  static forSamples(model: Sequential, capacity: number, opts?: EnsembleOptions): Ensemble {
    checkModel('model', model);
    checkInt('capacity', capacity, 1);
    const o = checkOpts(opts);
    return new Ensemble('samples', [cloneModel(model)], o, capacity, null);
  }

  /** Monte-Carlo draws of a Bayesian `model` (`samples` ≥ 1 passes seeded by `seed`; `dropout`: MC dropout). */
  static fromMonteCarlo(model: Sequential, opts: EnsembleOptions & { samples?: number; seed?: number; dropout?: boolean } = {}): Ensemble {
    checkModel('model', model);
    const o = checkOpts(opts);
    const samples = checkInt('samples', opts.samples ?? 20, 1, 65535);
    const seed = checkInt('seed', opts.seed ?? model.seed, 0, 2 ** 32 - 1);
    const dropout = opts.dropout ?? false;
    if (typeof dropout !== 'boolean') throw new ArgumentError('dropout', 'a boolean', describe(dropout));
    return new Ensemble('mc', [cloneModel(model)], o, 0, { samples, seed, dropout });
  }

  /** A deep ensemble of independently trained models with the same input and output shapes. */
  static fromModels(models: Sequential[], opts?: EnsembleOptions): Ensemble {
    if (!Array.isArray(models) || models.length === 0) throw new ArgumentError('models', 'a non-empty array of Sequential', describe(models));
    models.forEach((m, i) => checkModel(`models[${i}]`, m));
    const m0 = models[0];
    models.forEach((m, i) => {
      if (m.inputSize !== m0.inputSize || m.outputSize !== m0.outputSize) {
        throw new ShapeError(`models[${i}]`, `input ${m0.inputSize} and output ${m0.outputSize} values per sample`, `${m.inputSize} and ${m.outputSize}`);
      }
    });
    const o = checkOpts(opts);
    return new Ensemble('models', models.map((m) => cloneModel(m)), o, 0, null);
  }

  /**
   * One sample ensemble holding the snapshots of several (e.g. one per chain), in order. All must
   * be `'samples'` ensembles of the same architecture and task; the inputs stay usable.
   */
  static concat(parts: Ensemble[]): Ensemble {
    if (!Array.isArray(parts) || parts.length === 0) throw new ArgumentError('parts', 'a non-empty array of sample ensembles', describe(parts));
    const p0 = parts[0];
    parts.forEach((p, i) => {
      if (!(p instanceof Ensemble) || p.kind !== 'samples') throw new ArgumentError(`parts[${i}]`, "a 'samples' Ensemble", describe(p));
      if (p.store!.shape[1] !== p0.store!.shape[1] || p.task !== p0.task || p.likelihood !== p0.likelihood || p.noiseVariance !== p0.noiseVariance) {
        throw new ShapeError(`parts[${i}]`, `snapshots of ${p0.store!.shape[1]} parameters with task '${p0.task}'`, `${p.store!.shape[1]} parameters, task '${p.task}'`);
      }
    });
    const total = parts.reduce((s, p) => s + p.filled, 0);
    if (total === 0) throw new ArgumentError('parts', 'at least one collected snapshot', 'none');
    const e = new Ensemble('samples', [cloneModel(p0.models[0])], { task: p0.task, likelihood: p0.likelihood, noiseVariance: p0.noiseVariance }, total, null);
    const P = p0.store!.shape[1];
    for (const p of parts) {
      e.store!.view().set(p.store!.view().subarray(0, p.filled * P), e.filled * P);
      e.filled += p.filled;
    }
    return e;
  }

  /** Number of members K (samples collected, MC draws, or models). */
  get size(): number {
    if (this.kind === 'samples') return this.filled;
    if (this.kind === 'mc') return this.mc!.samples;
    return this.models.length;
  }

  /** Values per input sample. */
  get inputSize(): number {
    return this.models[0].inputSize;
  }

  /** Raw outputs per sample of each member. */
  get outputSize(): number {
    return this.models[0].outputSize;
  }

  /** Copy `model`'s current parameters into the next free snapshot slot ('samples' only). */
  collect(model: Sequential): void {
    if (this.kind !== 'samples') throw new ArgumentError('ensemble', "a 'samples' ensemble", `a '${this.kind}' ensemble`);
    if (this.filled >= this.capacity) throw new ArgumentError('ensemble', `room for a snapshot (capacity ${this.capacity})`, 'a full ensemble');
    const own = this.models[0].params();
    const ps = checkModel('model', model).params();
    if (ps.length !== own.length || ps.some((p, i) => p.value.size !== own[i].value.size)) {
      throw new ShapeError('model', 'parameters of the ensemble\'s architecture', `${ps.length} groups`);
    }
    if (model.rt !== this.store!.rt) throw new ArgumentError('model', 'a model of the ensemble\'s runtime', 'another runtime');
    const f32 = model.rt.f32;
    let off = (this.store!.ptr >>> 2) + this.filled * this.store!.shape[1];
    for (const p of ps) {
      f32.copyWithin(off, p.value.ptr >>> 2, (p.value.ptr >>> 2) + p.value.size);
      off += p.value.size;
    }
    this.filled++;
  }

  /** The parameters of snapshot k, all groups concatenated ('samples' only). */
  snapshot(k: number): Float32Array {
    if (this.kind !== 'samples') throw new ArgumentError('ensemble', "a 'samples' ensemble", `a '${this.kind}' ensemble`);
    checkInt('k', k, 0, this.filled - 1);
    const P = this.store!.shape[1];
    return this.store!.view().slice(k * P, (k + 1) * P);
  }

  private loadSnapshot(k: number): void {
    const m = this.models[0];
    const P = this.store!.shape[1];
    const f32 = m.rt.f32;
    let off = (this.store!.ptr >>> 2) + k * P;
    for (const p of m.params()) {
      f32.copyWithin(p.value.ptr >>> 2, off, off + p.value.size);
      off += p.value.size;
    }
  }

  /**
   * Call `each(k, start, out)` with member k's raw outputs (a layer-owned tensor [count, outputSize])
   * for every batch of x, members outermost.
   */
  private forEachMember(x: Float32Array, batchSize: number, each: (k: number, start: number, out: Tensor) => void): number {
    const K = this.size;
    if (K === 0) throw new ArgumentError('ensemble', 'at least one member', 'an empty ensemble');
    const n = this.models[0].checkX(x);
    checkInt('batchSize', batchSize, 1);
    for (let k = 0; k < K; k++) {
      const m = this.kind === 'models' ? this.models[k] : this.models[0];
      if (this.kind === 'samples') this.loadSnapshot(k);
      for (let s = 0, b = 0; s < n; s += batchSize, b++) {
        const c = Math.min(batchSize, n - s);
        const ctx: ForwardContext = this.kind === 'mc'
          // The same keying as Sequential.predictMC: member k samples the weights from (seed, k), whatever the batching.
          ? { training: this.mc!.dropout, sample: true, sampleWeights: true, seed: this.mc!.seed, step: k }
          : { training: false, sample: false, seed: m.seed, step: 0 };
        each(k, s, m.forward(m.loadBatch(x, { start: s, count: c }), ctx));
      }
    }
    return n;
  }

  /**
   * Classification: the posterior predictive (1/K)·Σ softmax(member logits) and its
   * uncertainty split (predictive entropy, expected entropy, mutual information), as
   * `Sequential.predictMC`. `x`: n samples flat. `temperature` T > 0 (default 1) softens each
   * member's softmax(z/T) (for distillation).
   */
  predictProba(x: Float32Array, opts: { batchSize?: number; temperature?: number } = {}): McPrediction {
    if (this.task !== 'classification') throw new ArgumentError('ensemble.task', "'classification' for predictProba", this.task);
    const T = checkNumber('temperature', opts.temperature ?? 1, Number.MIN_VALUE);
    const C = this.outputSize;
    const rt = this.models[0].rt;
    const K = this.size;
    // Sums over the members in float64, as Sequential.predictMC.
    let mean: Float64Array | null = null, expectedEntropy: Float64Array | null = null;
    const bufs = new Map<number, { p: Tensor; h: Tensor }>();
    const buf = (c: number): { p: Tensor; h: Tensor } => {
      let b = bufs.get(c);
      if (!b) bufs.set(c, (b = { p: Tensor.zeros([c, C], rt), h: Tensor.zeros([c], rt) }));
      return b;
    };
    try {
      const n = this.forEachMember(x, opts.batchSize ?? 256, (_k, start, out) => {
        if (!mean) {
          mean = new Float64Array((x.length / this.inputSize) * C);
          expectedEntropy = new Float64Array(x.length / this.inputSize);
        }
        const c = out.shape[0];
        const b = buf(c);
        softmax(T === 1 ? out : scale(out, 1 / T, { out: b.p }), { out: b.p });
        entropyRows(b.p, b.h, false);
        const pv = b.p.view(), hv = b.h.view();
        const o = start * C;
        for (let i = 0; i < c * C; i++) mean[o + i] += pv[i];
        for (let i = 0; i < c; i++) expectedEntropy![start + i] += hv[i];
      });
      const m = Float32Array.from(mean!, (v) => v / K), ee64 = expectedEntropy!.map((v) => v / K), ee = Float32Array.from(ee64);
      const predictiveEntropy = new Float32Array(n);
      const bs = 256;
      for (let s = 0; s < n; s += bs) {
        const c = Math.min(bs, n - s);
        const b = buf(c);
        b.p.set(m.subarray(s * C, (s + c) * C));
        entropyRows(b.p, b.h, false);
        predictiveEntropy.set(b.h.view(), s);
      }
      const mutualInformation = new Float32Array(n);
      for (let i = 0; i < n; i++) mutualInformation[i] = Math.max(0, predictiveEntropy[i] - ee64[i]);
      return { mean: m, predictiveEntropy, expectedEntropy: ee, mutualInformation };
    } finally {
      for (const b of bufs.values()) {
        b.p.dispose();
        b.h.dispose();
      }
    }
  }

  /** Predicted classes (argmax of the predictive mean). */
  predictClasses(x: Float32Array, opts: { batchSize?: number } = {}): Int32Array {
    const { mean } = this.predictProba(x, opts);
    const C = this.outputSize, n = mean.length / C;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (mean[i * C + c] > mean[i * C + best]) best = c;
      out[i] = best;
    }
    return out;
  }

  /** Number of regression targets per sample. */
  get targetSize(): number {
    return this.likelihood === 'gaussianNll' ? this.outputSize / 2 : this.outputSize;
  }

  /**
   * Every member's predictive mean and noise variance: `mu`, `v` of [K, n·targets] (member-major),
   * exponentials in wasm.
   */
  memberMoments(x: Float32Array, opts: { batchSize?: number } = {}): { mu: Float32Array; v: Float32Array; n: number; K: number } {
    if (this.task !== 'regression') throw new ArgumentError('ensemble.task', "'regression' for regression predictions", this.task);
    const D = this.targetSize, O = this.outputSize, K = this.size;
    const n0 = this.models[0].checkX(x);
    const mu = new Float32Array(K * n0 * D), v = new Float32Array(K * n0 * D);
    const rt = this.models[0].rt;
    let lv: Tensor | null = null;
    try {
      this.forEachMember(x, opts.batchSize ?? 256, (k, start, out) => {
        const c = out.shape[0];
        const ov = out.view();
        const base = k * n0 * D + start * D;
        if (this.likelihood === 'mse') {
          mu.set(ov.subarray(0, c * D), base);
          v.fill(this.noiseVariance, base, base + c * D);
          return;
        }
        if (!lv || lv.size !== c * D) {
          lv?.dispose();
          lv = Tensor.zeros([c * D], rt);
        }
        const l = lv.view();
        for (let i = 0; i < c; i++) {
          for (let d = 0; d < D; d++) {
            mu[base + i * D + d] = ov[i * O + d];
            l[i * D + d] = Math.max(ov[i * O + D + d], -12);
          }
        }
        exp(lv, { out: lv });
        v.set(lv.view(), base);
      });
    } finally {
      (lv as Tensor | null)?.dispose();
    }
    return { mu, v, n: n0, K };
  }

  /** Regression: the mixture's mean and variance split into aleatoric and epistemic parts. */
  predictRegression(x: Float32Array, opts: { batchSize?: number } = {}): RegressionPrediction {
    const { mu, v, n, K } = this.memberMoments(x, opts);
    const L = n * this.targetSize;
    const mean = new Float32Array(L), variance = new Float32Array(L), aleatoric = new Float32Array(L), epistemic = new Float32Array(L);
    for (let i = 0; i < L; i++) {
      let sm = 0, sv = 0;
      for (let k = 0; k < K; k++) {
        sm += mu[k * L + i];
        sv += v[k * L + i];
      }
      const m = sm / K;
      let se = 0;
      for (let k = 0; k < K; k++) {
        const d = mu[k * L + i] - m;
        se += d * d;
      }
      mean[i] = m;
      aleatoric[i] = sv / K;
      epistemic[i] = se / K;
      variance[i] = sv / K + se / K;
    }
    return { mean, variance, aleatoric, epistemic };
  }

  /**
   * Regression: log predictive density of each target under the members' equal-weight Gaussian
   * mixture (nats, summed over a sample's targets), [n]. `y`: n·targets values.
   */
  logLikelihood(x: Float32Array, y: Float32Array, opts: { batchSize?: number } = {}): Float32Array {
    if (!(y instanceof Float32Array)) throw new ArgumentError('y', 'a Float32Array of targets', describe(y));
    const D = this.targetSize;
    const n = this.models[0].checkX(x);
    if (y.length !== n * D) throw new ShapeError('y', `${n * D} values (${D} per sample)`, String(y.length));
    const { mu, v, K } = this.memberMoments(x, opts);
    const rt = this.models[0].rt;
    const L = n * D;
    const tm = Tensor.from(mu, [K, L], rt), tv = Tensor.from(v, [K, L], rt), ty = Tensor.from(y, [L], rt, 'y'), out = Tensor.zeros([L], rt);
    try {
      const ll = gaussianMixtureLogLik(tm, tv, ty, out).toArray();
      const per = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += ll[i * D + d];
        per[i] = s;
      }
      return per;
    } finally {
      tm.dispose();
      tv.dispose();
      ty.dispose();
      out.dispose();
    }
  }

  /**
   * Serialize: magic `VDEN`, version 1, a JSON header (kind, task, likelihood, MC settings,
   * snapshot count and size) and a payload holding each member model's file and the snapshots.
   */
  save(): Uint8Array {
    const w = new PayloadWriter();
    const models = this.models.map((m) => {
      const b = saveModel(m);
      return { bytes: b.length, ...w.add(bytesToWords(b)) };
    });
    const header: Record<string, unknown> = {
      format: 'vardrop-ensemble', kind: this.kind, task: this.task, likelihood: this.likelihood, noiseVariance: this.noiseVariance, models,
    };
    if (this.mc) header.mc = { ...this.mc };
    if (this.kind === 'samples') {
      const P = this.store!.shape[1];
      header.snapshots = { count: this.filled, params: P, ...w.add(this.store!.view().slice(0, this.filled * P)) };
    }
    return writeContainer(MAGIC, VERSION, header, w.finish());
  }

  /** Load an ensemble written by {@link save}; validates everything first (throws {@link ModelFormatError}). */
  static load(bytes: Uint8Array, opts: { runtime?: Runtime } = {}): Ensemble {
    const r = ContainerReader.open(bytes, MAGIC, [VERSION]);
    const h = r.header;
    if (h.format !== 'vardrop-ensemble') bad('header.format', '"vardrop-ensemble"', show(h.format));
    const kind = h.kind;
    if (kind !== 'samples' && kind !== 'mc' && kind !== 'models') bad('header.kind', "'samples' | 'mc' | 'models'", show(kind));
    let o: Required<EnsembleOptions>;
    try {
      o = checkOpts({ task: h.task, likelihood: h.likelihood, noiseVariance: h.noiseVariance } as EnsembleOptions);
    } catch (e) {
      const err = e as ArgumentError;
      bad(`header.${err.argument.replace('options.', '')}`, err.expected, err.received);
    }
    if (!Array.isArray(h.models) || h.models.length === 0 || h.models.length > 100000) bad('header.models', 'a non-empty array of model segments', show(h.models));
    if (kind !== 'models' && h.models.length !== 1) bad('header.models', 'one model', `${h.models.length}`);
    let snap: { count: number; params: number; data: Float32Array } | null = null;
    if (kind === 'samples') {
      const s = h.snapshots;
      if (!isObject(s) || !isInt(s.count) || s.count < 1 || !isInt(s.params) || s.params < 1) bad('header.snapshots', '{count >= 1, params >= 1, offset, length}', show(s));
      if (s.count * s.params * 4 > r.payloadBytes) bad('header.snapshots', 'snapshots inside the payload', `${s.count}×${s.params} floats`);
      snap = { count: s.count, params: s.params, data: r.read('header.snapshots', s, 'f32', s.count * s.params) };
    }
    let mc: { samples: number; seed: number; dropout: boolean } | null = null;
    if (kind === 'mc') {
      const m = h.mc;
      if (!isObject(m) || !isInt(m.samples) || m.samples < 1 || m.samples > 65535 || !isInt(m.seed) || m.seed > 0xffffffff || typeof m.dropout !== 'boolean') {
        bad('header.mc', '{samples in [1, 65535], seed, dropout}', show(m));
      }
      mc = { samples: m.samples, seed: m.seed, dropout: m.dropout };
    }
    const rawModels = (h.models as unknown[]).map((e, i) => {
      if (!isObject(e) || !isInt(e.bytes) || !isInt(e.length) || e.length !== Math.ceil(e.bytes / 4)) bad(`header.models[${i}]`, 'a segment {bytes, offset, length}', show(e));
      return wordsToBytes(r.read(`header.models[${i}]`, e, 'u32', e.length), e.bytes);
    });
    const models: Sequential[] = [];
    try {
      rawModels.forEach((b, i) => {
        try {
          models.push(loadModel(b, opts));
        } catch (e) {
          if (e instanceof ModelFormatError) throw new ModelFormatError(`header.models[${i}].${e.argument}`, e.expected, e.received);
          throw e;
        }
      });
      if (snap && snap.params !== models[0].countParams()) bad('header.snapshots.params', `${models[0].countParams()} (the model's parameters)`, String(snap.params));
      const ens = new Ensemble(kind, models, o, snap ? snap.count : 0, mc);
      if (snap) {
        ens.store!.set(snap.data);
        ens.filled = snap.count;
      }
      return ens;
    } catch (e) {
      for (const m of models) m.dispose();
      throw e;
    }
  }

  /** Free the members and the snapshots. */
  dispose(): void {
    for (const m of this.models) m.dispose();
    this.store?.dispose();
    this.store = null;
  }
}

/** Bytes padded to whole little-endian 32-bit words (a payload segment holds u32). */
function bytesToWords(b: Uint8Array): Uint32Array {
  const padded = new Uint8Array(Math.ceil(b.length / 4) * 4);
  padded.set(b);
  const dv = new DataView(padded.buffer);
  const w = new Uint32Array(padded.length / 4);
  for (let i = 0; i < w.length; i++) w[i] = dv.getUint32(4 * i, true);
  return w;
}

function wordsToBytes(w: Uint32Array, n: number): Uint8Array {
  const out = new Uint8Array(w.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < w.length; i++) dv.setUint32(4 * i, w[i], true);
  return out.subarray(0, n);
}
