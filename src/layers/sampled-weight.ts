import { ArgumentError, checkNumber, describe } from '../errors.js';
import { LogAlphaRange, svdKl, svdLogAlpha, svdPrepare } from '../ops/bayes.js';
import { fill } from '../ops/elementwise.js';
import { gaussian } from '../ops/noise.js';
import { groupScale, svdSampleGrads, svdSampleWeights } from '../ops/rnn.js';
import { Shape, Tensor } from '../tensor.js';
import { passSeed } from './bayesian.js';
import { ForwardContext, ParamGroup, param } from './layer.js';
import { Runtime } from '../runtime/runtime.js';

/** Options of weights sampled whole once per pass (the Sparse VD recurrent and embedding layers). */
export interface SampledWeightOptions {
  /** Weights with log α ≥ this are dropped at inference and when pruning (default 3). */
  threshold?: number;
  /** Clamp of log α (default [−8, 8]). */
  logAlphaRange?: [number, number];
  /** Initial log σ² of every weight (default −10). */
  initialLogSigma2?: number;
  /** Zero θ where log α ≥ threshold during training too, as the Sparse VD recipe does (default true). */
  maskInTraining?: boolean;
}

/** Checked threshold and log α range of {@link SampledWeightOptions}. */
export function sampledSettings(o: SampledWeightOptions): { threshold: number; range: LogAlphaRange } {
  const t = o.threshold ?? 3;
  if (typeof t !== 'number' || Number.isNaN(t)) throw new ArgumentError('threshold', 'a number (Infinity keeps every weight)', describe(t));
  const r = o.logAlphaRange ?? [-8, 8];
  if (!Array.isArray(r) || r.length !== 2 || !(r[0] < r[1]) || !r.every(Number.isFinite)) {
    throw new ArgumentError('logAlphaRange', '[lo, hi] finite with lo < hi', describe(r));
  }
  checkNumber('initialLogSigma2', o.initialLogSigma2 ?? -10);
  return { threshold: t, range: { lo: r[0], hi: r[1] } };
}

/**
 * Where {@link SampledWeight.resample} keeps the ε of row `row` of `eps` [rows, size]: drawn and
 * stored (`draw`) in a forward, read back in the backward instead of drawn again.
 */
export interface SampleBank {
  eps: Tensor;
  row: number;
  draw: boolean;
}

/**
 * A Sparse VD weight tensor (θ, log σ², log α = log σ² − log θ²) whose sample w = θ + σ·ε is drawn
 * once per pass and used whole at every time step (Lobacheva et al. 2017, "Bayesian
 * sparsification of recurrent neural networks": the local reparameterization trick does not
 * carry across steps). The KL to the log-uniform prior is the one of ops/bayes.ts (shared with
 * the Sparse VD dense and convolutional layers). Buffers come from the owning layer.
 */
export class SampledWeight {
  readonly theta: ParamGroup;
  readonly logSigma2: ParamGroup;
  readonly threshold: number;
  private readonly range: LogAlphaRange;
  private readonly maskInTraining: boolean;
  private training = false;
  private klAddedScale?: number;

  /**
   * `key`: prefix of the owner's buffers; `theta` the initialised means (owned from now on);
   * `name`: the parameter names' prefix, e.g. `"lstm_1/kernel"`.
   */
  constructor(private readonly key: string, name: string, theta: Tensor, opts: SampledWeightOptions, l1: number, l2: number,
    private readonly buf: (key: string, shape: Shape) => Tensor) {
    const s = sampledSettings(opts);
    this.threshold = s.threshold;
    this.range = s.range;
    this.maskInTraining = opts.maskInTraining ?? true;
    this.theta = param(`${name}/theta`, theta, l1, l2);
    const ls = Tensor.zeros(theta.shape, theta.rt);
    ls.view().fill(opts.initialLogSigma2 ?? -10);
    this.logSigma2 = param(`${name}/logSigma2`, ls);
  }

  private b(k: string): Tensor {
    return this.buf(`${this.key}/${k}`, this.theta.value.shape);
  }

  private get maskThreshold(): number {
    return this.training && !this.maskInTraining ? Infinity : this.threshold;
  }

  /**
   * The weights of this pass: a sample θ_masked + σ·ε (ε from the pass's seed on `stream` at
   * `offset`) when `stochastic`, else the masked means. A training step with a KL term adds its
   * KL gradient (ctx.klGradScale) in the same sweep.
   */
  value(ctx: ForwardContext, stochastic: boolean, stream: number, offset: number): Tensor {
    this.training = ctx.training;
    const M = this.b('M'), S = this.b('S'), eps = this.b('eps');
    const fuse = ctx.training && stochastic && ctx.klGradScale !== undefined;
    const klGrads = fuse ? { theta: this.theta.grad, logSigma2: this.logSigma2.grad, scale: ctx.klGradScale! } : undefined;
    svdPrepare(this.theta.value, this.logSigma2.value, M, S, this.b('logAlpha'), stochastic ? this.maskThreshold : this.threshold, this.range, klGrads);
    this.klAddedScale = fuse ? ctx.klGradScale : undefined;
    if (!stochastic) {
      fill(eps, 0);
      return M;
    }
    gaussian(eps, passSeed(ctx), { stream, offset });
    return svdSampleWeights(M, S, eps, this.b('W'));
  }

  /**
   * Another sample θ_masked + σ·ε of the pass {@link value} prepared (same means and variances,
   * ε from `seed` on `stream` at `offset`): the per-sequence samples of a pass.
   */
  resample(seed: bigint, stream: number, offset: number, bank?: SampleBank): Tensor {
    const eps = this.b('eps');
    if (bank && !bank.draw) eps.view().set(bank.eps.view().subarray(bank.row * eps.size, (bank.row + 1) * eps.size));
    else {
      gaussian(eps, seed, { stream, offset });
      if (bank) bank.eps.view().set(eps.view(), bank.row * eps.size);
    }
    return svdSampleWeights(this.b('M'), this.b('S'), eps, this.b('W'));
  }

  /** The gradient of the last sample's weights (the last {@link value} or {@link resample}) into θ and log σ² (added). */
  backward(dW: Tensor): void {
    svdSampleGrads(dW, this.b('eps'), this.b('S'), this.b('logAlpha'), this.maskThreshold, this.theta.grad, this.logSigma2.grad);
  }

  /** Σ KL of these weights; with `gradScale` also adds gradScale·∇KL (unless the forward already did). */
  kl(gradScale?: number, value = true): number {
    const la = this.b('logAlpha');
    const added = gradScale !== undefined && gradScale === this.klAddedScale;
    this.klAddedScale = undefined;
    if (added) return value ? svdKl(this.theta.value, la, this.range) : 0;
    svdLogAlpha(this.theta.value, this.logSigma2.value, la, this.range);
    if (gradScale === undefined) return svdKl(this.theta.value, la, this.range);
    return svdKl(this.theta.value, la, this.range, { theta: this.theta.grad, logSigma2: this.logSigma2.grad, scale: gradScale }, value);
  }

  /** Clamped log α of every weight (θ's shape, row-major). */
  logAlpha(): Float32Array {
    return svdLogAlpha(this.theta.value, this.logSigma2.value, this.b('logAlpha'), this.range).toArray();
  }

  /** θ with the dropped weights (log α ≥ threshold) zero: the weights of a deterministic pass. */
  inferenceWeights(): Float32Array {
    const la = this.logAlpha(), w = this.theta.value.toArray();
    for (let i = 0; i < w.length; i++) if (!(la[i] < this.threshold)) w[i] = 0;
    return w;
  }

  /** Per weight: 1 kept (log α < threshold), 0 dropped. */
  keptMask(): Uint8Array {
    const la = this.logAlpha();
    const m = new Uint8Array(la.length);
    for (let i = 0; i < la.length; i++) m[i] = la[i] < this.threshold ? 1 : 0;
    return m;
  }

  params(): ParamGroup[] {
    return [this.theta, this.logSigma2];
  }
}

/**
 * Multiplicative group variables z ~ q(z) = N(θ_z, σ_z²) with the log-uniform prior (Lobacheva,
 * Chirkova & Vetrov 2018, "Bayesian sparsification of gated recurrent neural networks"): one
 * {@link SampledWeight} [n] with θ_z starting at 1, sampled with the weights it scales and kept
 * by the same rule (log α_z < threshold). `name`: e.g. `"lstm_1/hiddenGroups"`.
 */
export function groupVariable(key: string, name: string, n: number, opts: SampledWeightOptions, rt: Runtime, buf: (key: string, shape: Shape) => Tensor): SampledWeight {
  const theta = Tensor.zeros([n], rt);
  theta.view().fill(1);
  return new SampledWeight(key, name, theta, opts, 0, 0, buf);
}

/**
 * The weights w [rows, cols] a deterministic pass uses with group variables: masked θ times the
 * masked means of the row variables `zr` [rows] and column variables `zc` [cols] (either
 * absent), through the same kernel as training ({@link groupScale}), so the bits agree.
 */
export function groupedInferenceWeights(w: SampledWeight, zr: SampledWeight | undefined, zc: SampledWeight | undefined): Float32Array {
  const plain = w.inferenceWeights();
  if (!zr && !zc) return plain;
  const rt = w.theta.value.rt;
  const t = Tensor.from(plain, w.theta.value.shape, rt);
  const r = zr ? Tensor.from(zr.inferenceWeights(), [zr.theta.value.size], rt) : null;
  const c = zc ? Tensor.from(zc.inferenceWeights(), [zc.theta.value.size], rt) : null;
  try {
    return groupScale(t, r, c, t).toArray();
  } finally {
    t.dispose();
    r?.dispose();
    c?.dispose();
  }
}

/**
 * Per entry of w [rows, cols]: 1 when it survives (its own log α and those of its row and
 * column group variables below the threshold), else 0.
 */
export function groupedKeptMask(w: SampledWeight, zr: SampledWeight | undefined, zc: SampledWeight | undefined): Uint8Array {
  const m = w.keptMask();
  if (!zr && !zc) return m;
  const [rows, cols] = w.theta.value.shape;
  const r = zr?.keptMask(), c = zc?.keptMask();
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) if ((r && !r[i]) || (c && !c[j])) m[i * cols + j] = 0;
  return m;
}

/** The number of ones in a 0/1 mask. */
export function countKept(m: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < m.length; i++) n += m[i];
  return n;
}
