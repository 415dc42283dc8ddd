import { ArgumentError, DivergenceError, ShapeError, checkInt, checkNumber, describe } from './errors.js';
import { Ensemble, type EnsembleTask, type RegressionLikelihood } from './ensemble.js';
import type { ForwardContext } from './layers/layer.js';
import { Sequential } from './model.js';
import { countNonFinite, scale as scaleOp } from './ops/elementwise.js';
import { entropyRows } from './ops/loss.js';
import { exp } from './ops/math.js';
import { Rng, gaussian } from './ops/noise.js';
import { clipGradNorm } from './ops/optim.js';
import { gaussianKl } from './ops/sampler.js';
import { softCrossEntropy, softmax } from './ops/softmax.js';
import { Adam, Optimizer } from './optim.js';
import { evalSchedule, type Schedule } from './schedule.js';
import type { SampleStepHook } from './samplers.js';
import { Tensor, copyRows } from './tensor.js';

/** Options shared by online and offline distillation. */
export interface DistillOptions {
  /** `'classification'` (default): match softmax probabilities; `'regression'`: match a Gaussian predictive. */
  task?: EnsembleTask;
  /**
   * Softmax temperature T > 0 of classification (default 1): teacher p = softmax(z_t/T), student
   * q = softmax(z_s/T), loss T²·KL(p ‖ q) (Hinton et al.'s scaling, so gradients keep their size).
   */
  temperature?: number;
  /** Online regression: the teacher's likelihood (default `'gaussianNll'`: it outputs means and log-variances). */
  likelihood?: RegressionLikelihood;
  /** Online regression with an `'mse'` teacher: its noise variance (default 1). */
  noiseVariance?: number;
  /** Inputs drawn from the pool per student step (default 100). */
  batchSize?: number;
  /** Gaussian-perturbed copies of each drawn input: `copies` (default 1) with noise std `std` (input units). */
  perturb?: { std: number; copies?: number };
  /** Unlabelled inputs (n·inputSize values) added to the pool of training inputs. */
  unlabelled?: Float32Array;
  /** The student's optimizer (default Adam, lr 1e-3). */
  optimizer?: Optimizer;
  /**
   * Learning-rate schedule of the student overriding its optimizer's own lr, as `fit`'s `lr`:
   * a function of the epoch counted in passes over the pool (inputs drawn / pool size, not
   * counting perturbed copies) and the fraction of it done, e.g.
   * `schedules.linearDecay(1e-3, { start: 20, end: 40 })`.
   */
  lr?: Schedule;
  /** KL weight β of a Bayesian student's ELBO, loss = distillation + β·KL/N with N the pool size (default 1). */
  klWeight?: number;
  /** Clip the global gradient norm of the student (default: no clipping). */
  clipNorm?: number;
  /** Seed of the draws and perturbations (default: the student's seed). */
  seed?: number;
}

/** Options of {@link OnlineDistiller}. */
export interface OnlineDistillOptions extends DistillOptions {
  /** Take a student step every `every`-th collecting sampler step (default 1). */
  every?: number;
}

/** Options of {@link distill}. */
export interface OfflineDistillOptions extends DistillOptions {
  /** Passes over the pool. */
  epochs: number;
  /** Called after each epoch with its mean distillation loss (nats per input); `false` stops. */
  onEpochEnd?: (epoch: number, loss: number) => void | boolean;
}

type Targets = { probs: Float32Array } | { mean: Float32Array; variance: Float32Array };

/**
 * The student side of distillation: draws input batches from the pool (training inputs, the
 * user's unlabelled inputs, Gaussian-perturbed copies), and takes student steps on
 * KL(teacher ‖ student) for targets a teacher provides.
 */
class StudentTrainer {
  readonly student: Sequential;
  readonly task: EnsembleTask;
  readonly temperature: number;
  readonly batch: number;
  readonly copies: number;
  readonly std: number;
  readonly pool: Float32Array[];
  readonly poolSize: number;
  private readonly optimizer: Optimizer;
  private readonly ownOptimizer: boolean;
  private readonly beta: number;
  private readonly clip: number;
  private readonly lr: Schedule | undefined;
  private readonly seed: number;
  private readonly rng: Rng;
  private readonly bufs = new Map<string, Tensor>();
  private t = 0;

  constructor(student: Sequential, x: Float32Array, o: DistillOptions) {
    if (!(student instanceof Sequential)) throw new ArgumentError('student', 'a Sequential', describe(student));
    if (!o || typeof o !== 'object') throw new ArgumentError('options', 'a distillation options object', describe(o));
    this.student = student;
    const task = o.task ?? 'classification';
    if (task !== 'classification' && task !== 'regression') throw new ArgumentError('task', "'classification' | 'regression'", describe(task));
    this.task = task;
    this.temperature = checkNumber('temperature', o.temperature ?? 1, Number.MIN_VALUE);
    this.batch = checkInt('batchSize', o.batchSize ?? 100, 1);
    this.copies = o.perturb ? checkInt('perturb.copies', o.perturb.copies ?? 1, 0, 1000) : 0;
    this.std = o.perturb ? checkNumber('perturb.std', o.perturb.std, 0) : 0;
    this.beta = checkNumber('klWeight', o.klWeight ?? 1, 0);
    this.clip = o.clipNorm === undefined ? 0 : checkNumber('clipNorm', o.clipNorm, Number.MIN_VALUE);
    this.seed = checkInt('seed', o.seed ?? student.seed, 0, 2 ** 32 - 1);
    if (task === 'regression' && student.outputSize % 2 !== 0) {
      throw new ShapeError('student output', 'means then log-variances (an even number of outputs)', String(student.outputSize));
    }
    const n = student.checkX(x, 'x');
    this.pool = [x];
    let size = n;
    if (o.unlabelled !== undefined) size += student.checkX(o.unlabelled, 'unlabelled');
    if (o.unlabelled !== undefined) this.pool.push(o.unlabelled);
    this.poolSize = size;
    if (o.optimizer !== undefined && !(o.optimizer instanceof Optimizer)) throw new ArgumentError('optimizer', 'an Optimizer', describe(o.optimizer));
    this.ownOptimizer = o.optimizer === undefined;
    this.optimizer = o.optimizer ?? new Adam({ lr: 1e-3 });
    if (o.lr !== undefined && typeof o.lr !== 'number' && typeof o.lr !== 'function') throw new ArgumentError('lr', 'a number >= 0 or a schedule (epoch, fraction) => lr', describe(o.lr));
    this.lr = o.lr;
    if (o.lr !== undefined) evalSchedule('lr', o.lr, 0, 0);
    this.rng = new Rng(this.seed, 0xd157, student.rt);
  }

  /** Outputs per sample the teacher targets have: classes, or regression targets. */
  get targetSize(): number {
    return this.task === 'classification' ? this.student.outputSize : this.student.outputSize / 2;
  }

  private buf(key: string, shape: number[]): Tensor {
    const t = this.bufs.get(key);
    if (t && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
    t?.dispose();
    const n = Tensor.zeros(shape, this.student.rt);
    this.bufs.set(key, n);
    return n;
  }

  /** Input row `i` of the pool (training inputs first, then unlabelled). */
  private row(i: number): Float32Array {
    const D = this.student.inputSize;
    const n0 = this.pool[0].length / D;
    return i < n0 ? this.pool[0].subarray(i * D, (i + 1) * D) : this.pool[1].subarray((i - n0) * D, (i - n0 + 1) * D);
  }

  /**
   * The next batch: `rows` pool rows (drawn at random when not given) followed by their perturbed
   * copies x + std·ξ (ξ from the wasm generator keyed by (seed, batch counter)). Flat f32.
   */
  drawBatch(rows?: ArrayLike<number>): Float32Array {
    const D = this.student.inputSize;
    const r = rows ?? Array.from({ length: this.batch }, () => this.rng.int(this.poolSize));
    const b = r.length;
    const out = new Float32Array(b * (1 + this.copies) * D);
    for (let i = 0; i < b; i++) out.set(this.row(r[i]), i * D);
    if (this.copies > 0) {
      const z = this.buf('noise', [b * this.copies * D]);
      gaussian(z, BigInt(this.seed) | (BigInt(this.t) << 32n), { stream: 0xd158 });
      const zv = z.view();
      for (let c = 0; c < this.copies; c++) {
        for (let i = 0; i < b * D; i++) out[(c + 1) * b * D + i] = out[i] + this.std * zv[c * b * D + i];
      }
    }
    return out;
  }

  /**
   * One student step on inputs `x` (flat) against the teacher's `targets`; returns the mean KL
   * per input (nats). `passes`: pool inputs drawn before this step / pool size (the epoch of
   * the lr schedule, with its fraction).
   */
  step(x: Float32Array, targets: Targets, passes: number): number {
    const s = this.student;
    const epoch = Math.floor(passes);
    const lr = this.lr === undefined ? this.optimizer.lr : evalSchedule('lr', this.lr, epoch, passes - epoch);
    const B = x.length / s.inputSize;
    const C = s.outputSize;
    const params = s.params();
    for (const p of params) p.grad.view().fill(0);
    const klScale = this.beta > 0 ? this.beta / this.poolSize : undefined;
    const ctx: ForwardContext = { training: true, sample: false, seed: this.seed, step: this.t, klGradScale: klScale };
    const out = s.forward(s.loadBatch(x, { start: 0, count: B }), ctx);
    const dOut = this.buf('dout', [B, C]);
    let loss: number;
    if ('probs' in targets) {
      const T = this.temperature;
      const p = this.buf('p', [B, C]).set(targets.probs, 'targets');
      const z = T === 1 ? out : scaleOp(out, 1 / T, { out: this.buf('z', [B, C]) });
      // T²·KL(p ‖ softmax(z/T)): gradient wrt the raw logits (T/B)·(q − p) for the batch mean.
      const ce = softCrossEntropy(z, p, { dLogits: dOut, scale: T / B });
      const h = entropyRows(p, this.buf('h', [B]), false).view();
      let hs = 0;
      for (let i = 0; i < B; i++) hs += h[i];
      loss = (ce - hs) / B;
    } else {
      const D = C / 2;
      const tm = this.buf('tm', [B, D]).set(targets.mean, 'targets.mean');
      const tv = this.buf('tv', [B, D]).set(targets.variance, 'targets.variance');
      loss = gaussianKl(out, tm, tv, { grad: dOut, scale: 1 / B }) / B;
    }
    if (!Number.isFinite(loss)) throw new DivergenceError('distillation loss', 'a finite loss', `${loss} at student step ${this.t + 1}; weights kept`);
    s.backward(dOut);
    if (klScale !== undefined) s.kl(klScale, false);
    for (const p of params) {
      if (countNonFinite(p.grad) > 0) throw new DivergenceError(`${p.name} gradient`, 'finite values', `NaN/Inf at student step ${this.t + 1}; weights kept`);
    }
    if (this.clip) clipGradNorm(params.map((p) => p.grad), this.clip);
    this.optimizer.step(params, lr);
    for (const l of s.layers) l.constrain();
    this.t++;
    return loss;
  }

  /** Student steps taken. */
  get steps(): number {
    return this.t;
  }

  dispose(): void {
    for (const t of this.bufs.values()) t.dispose();
    this.bufs.clear();
    if (this.ownOptimizer) this.optimizer.dispose();
  }
}

/**
 * Online distillation as in Bayesian dark knowledge (Korattikara et al. 2015): pass it as the
 * `hook` of {@link sample}; after every collecting sampler step (past burn-in, in a sampling
 * phase; every `every`-th) it evaluates the current teacher sample θ_t on a batch drawn from the
 * pool (training inputs, unlabelled inputs, Gaussian-perturbed copies) and takes one student
 * step on KL(p(·|x, θ_t) ‖ student(·|x)). Averaged over the chain, that is the KL from the
 * posterior predictive. Classification uses softmax temperature T; regression matches a student
 * that outputs means and log-variances to the teacher's N(μ_t, σ²_t), whose average over samples
 * is minimised by the mixture's mean and variance.
 */
export class OnlineDistiller implements SampleStepHook {
  private readonly tr: StudentTrainer;
  private readonly every: number;
  private readonly likelihood: RegressionLikelihood;
  private readonly noiseVariance: number;
  private seen = 0;
  private lossSum = 0;
  private lossCount = 0;

  /** `student`: any model (a Sparse VD one too); `x`: the training inputs (n·inputSize values). */
  constructor(student: Sequential, x: Float32Array, opts: OnlineDistillOptions = {}) {
    this.tr = new StudentTrainer(student, x, opts);
    this.every = checkInt('every', opts.every ?? 1, 1);
    const lk = opts.likelihood ?? 'gaussianNll';
    if (lk !== 'gaussianNll' && lk !== 'mse') throw new ArgumentError('likelihood', "'gaussianNll' | 'mse'", describe(lk));
    this.likelihood = lk;
    this.noiseVariance = checkNumber('noiseVariance', opts.noiseVariance ?? 1, Number.MIN_VALUE);
  }

  /** Student steps taken so far. */
  get steps(): number {
    return this.tr.steps;
  }

  /** Mean distillation loss (nats per input) since the last call, then reset. */
  takeMeanLoss(): number {
    const m = this.lossCount ? this.lossSum / this.lossCount : NaN;
    this.lossSum = 0;
    this.lossCount = 0;
    return m;
  }

  onStep(teacher: Sequential, info: { step: number; sampling: boolean; collecting: boolean }): void {
    if (!info.collecting || !info.sampling) return;
    if (this.seen++ % this.every !== 0) return;
    const x = this.tr.drawBatch();
    const targets = teacherTargets(teacher, x, this.tr.task, this.tr.temperature, this.likelihood, this.noiseVariance, this.tr.targetSize);
    this.lossSum += this.tr.step(x, targets, (this.tr.steps * this.tr.batch) / this.tr.poolSize);
    this.lossCount++;
  }

  /** Free the distiller's buffers (and its optimizer when it made it). */
  dispose(): void {
    this.tr.dispose();
  }
}

/** The targets one teacher model gives for inputs `x`: softmax(z/T), or its Gaussian (μ, σ²). */
function teacherTargets(m: Sequential, x: Float32Array, task: EnsembleTask, T: number, lk: RegressionLikelihood, noiseVar: number, D: number): Targets {
  const B = x.length / m.inputSize;
  if (task === 'classification') {
    if (m.outputSize !== D) throw new ShapeError('teacher output', `${D} classes (the student's)`, String(m.outputSize));
  } else if ((lk === 'gaussianNll' ? m.outputSize / 2 : m.outputSize) !== D) {
    throw new ShapeError('teacher output', `${D} regression targets (the student's)`, String(m.outputSize));
  }
  const ctx: ForwardContext = { training: false, sample: false, seed: m.seed, step: 0 };
  const xt = Tensor.from(x, [B, ...m.inputShape], m.rt, 'x');
  try {
    const out = m.forward(xt, ctx);
    if (task === 'classification') {
      const z = T === 1 ? out : scaleOp(out, 1 / T);
      const probs = softmax(z).toArray();
      if (z !== out) z.dispose();
      return { probs };
    }
    const ov = out.view(), O = m.outputSize;
    const mean = new Float32Array(B * D), variance = new Float32Array(B * D);
    if (lk === 'mse') {
      mean.set(ov);
      variance.fill(noiseVar);
      return { mean, variance };
    }
    const lv = new Float32Array(B * D);
    for (let i = 0; i < B; i++) {
      for (let d = 0; d < D; d++) {
        mean[i * D + d] = ov[i * O + d];
        lv[i * D + d] = Math.max(ov[i * O + D + d], -12);
      }
    }
    const t = Tensor.from(lv, [B * D], m.rt);
    variance.set(exp(t, { out: t }).view());
    t.dispose();
    for (let i = 0; i < variance.length; i++) {
      if (!(variance[i] < Infinity)) throw new DivergenceError('teacher log-variance', 'a predictive variance below float32 overflow', `exp(${lv[i]}) at input ${Math.floor(i / D)}: the chain diverged (lower the step size)`);
    }
    return { mean, variance };
  } finally {
    xt.dispose();
  }
}

/** An ensemble's posterior-predictive targets for `x`: mean probabilities (at temperature T) or the mixture's mean and variance. */
function ensembleTargets(e: Ensemble, x: Float32Array, task: EnsembleTask, T: number): Targets {
  if (task !== e.task) throw new ArgumentError('task', `the ensemble's task '${e.task}'`, task);
  if (task === 'classification') return { probs: e.predictProba(x, { temperature: T }).mean };
  const r = e.predictRegression(x);
  return { mean: r.mean, variance: r.variance };
}

/**
 * Offline distillation from a stored {@link Ensemble}: `epochs` passes over the pool (training
 * inputs `x` plus unlabelled ones, in shuffled batches, each with its Gaussian-perturbed copies),
 * each batch a student step on KL(ensemble predictive ‖ student). Returns the mean loss of
 * each epoch (nats per input).
 */
export function distill(teacher: Ensemble, student: Sequential, x: Float32Array, opts: OfflineDistillOptions): number[] {
  if (!(teacher instanceof Ensemble)) throw new ArgumentError('teacher', 'an Ensemble', describe(teacher));
  if (!opts || typeof opts !== 'object') throw new ArgumentError('options', 'distillation options with epochs', describe(opts));
  const epochs = checkInt('epochs', opts.epochs, 1);
  if (opts.task !== undefined && opts.task !== teacher.task) throw new ArgumentError('task', `the ensemble's task '${teacher.task}'`, describe(opts.task));
  if (teacher.inputSize !== student.inputSize) throw new ShapeError('student', `${teacher.inputSize} inputs (the ensemble's)`, String(student.inputSize));
  const tr = new StudentTrainer(student, x, { task: teacher.task, ...opts });
  const D = tr.targetSize;
  const tD = teacher.task === 'classification' ? teacher.outputSize : teacher.targetSize;
  if (tD !== D) {
    tr.dispose();
    throw new ShapeError('student output', `${teacher.task === 'classification' ? tD : 2 * tD} outputs (to match the ensemble)`, String(student.outputSize));
  }
  const order = Int32Array.from({ length: tr.poolSize }, (_, i) => i);
  const shuffle = new Rng(opts.seed ?? student.seed, 0xd159, student.rt);
  // Without perturbations the targets of the pool are fixed: compute them once.
  let fixed: Targets | null = null;
  const losses: number[] = [];
  try {
    if (tr.copies === 0) fixed = ensembleTargets(teacher, tr.drawBatch(order), tr.task, tr.temperature);
    for (let e = 0; e < epochs; e++) {
      shuffle.shuffle(order);
      let sum = 0, count = 0;
      for (let s = 0; s < tr.poolSize; s += tr.batch) {
        const rows = order.subarray(s, Math.min(s + tr.batch, tr.poolSize));
        const xb = tr.drawBatch(rows);
        const t = fixed ? pick(fixed, rows, D) : ensembleTargets(teacher, xb, tr.task, tr.temperature);
        const B = xb.length / student.inputSize;
        sum += tr.step(xb, t, e + s / tr.poolSize) * B;
        count += B;
      }
      losses.push(sum / count);
      if (opts.onEpochEnd?.(e + 1, sum / count) === false) break;
    }
  } finally {
    tr.dispose();
  }
  return losses;
}

/** Rows `rows` of fixed per-pool-row targets. */
function pick(t: Targets, rows: ArrayLike<number>, D: number): Targets {
  const take = (a: Float32Array): Float32Array => copyRows(a, D, rows, new Float32Array(rows.length * D));
  return 'probs' in t ? { probs: take(t.probs) } : { mean: take(t.mean), variance: take(t.variance) };
}
