import { ArgumentError, ShapeError, checkNumber, describe } from '../errors.js';
import { Tensor, fmtShape } from '../tensor.js';
import { checkShape, checkTensor, destination, rowsCols } from './check.js';

/** Running statistics of a batch-norm layer, updated in place by training forwards. */
export interface BatchNormStats {
  /** Running mean per channel, [C] (start at 0). */
  runningMean: Tensor;
  /** Running (unbiased) variance per channel, [C] (start at 1). */
  runningVar: Tensor;
}

/** What a training forward saves for {@link batchNormBackward}. */
export interface BatchNormSaved {
  /** Batch mean per channel, [C]. */
  mean: Tensor;
  /** 1/√(batch variance + eps) per channel (biased variance), [C]. */
  invstd: Tensor;
}

/** Options of {@link batchNorm}. */
export interface BatchNormOptions {
  /** Normalise with batch statistics (and update the running ones) or with the running ones. */
  training: boolean;
  /**
   * PyTorch convention: running = (1 − momentum)·running + momentum·batch (default 0.1), the
   * running variance taking the unbiased batch variance (·M/(M − 1)). In [0, 1].
   */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-5), > 0. */
  eps?: number;
  /** Destination of x's shape (may be x itself); allocated when absent. */
  out?: Tensor;
  /** Training only: where to save mean and invstd ([C] each); allocated when absent. */
  saved?: BatchNormSaved;
}

/** Result of {@link batchNorm}. */
export interface BatchNormResult {
  /** Normalised output, x's shape. */
  y: Tensor;
  /** Batch statistics for the backward pass (training), or null (inference). */
  saved: BatchNormSaved | null;
}

function checkChannelVector(name: string, t: unknown, C: number, x: Tensor): Tensor {
  const v = checkTensor(name, t, x.rt);
  if (v.size !== C) throw new ShapeError(name, `${C} elements (channels of x ${fmtShape(x.shape)})`, fmtShape(v.shape));
  return v;
}

/**
 * Batch normalisation over every dimension but the last (channels): x [..., C] (NHWC images
 * or [batch, features]) is treated as [M, C]. y = γ·(x − μ)/√(σ² + eps) + β, with μ, σ² the
 * batch statistics (training: needs M ≥ 2; the running ones are updated when `stats` is
 * given) or the running statistics (inference: `stats` required). γ, β: [C].
 */
export function batchNorm(x: Tensor, gamma: Tensor, beta: Tensor, stats: BatchNormStats | null,
  opts: BatchNormOptions): BatchNormResult {
  checkTensor('x', x);
  if (typeof opts !== 'object' || opts === null || typeof opts.training !== 'boolean') {
    throw new ArgumentError('options.training', 'a boolean', describe(opts?.training));
  }
  const [M, C] = rowsCols('x', x);
  checkChannelVector('gamma', gamma, C, x);
  checkChannelVector('beta', beta, C, x);
  const momentum = opts.momentum === undefined ? 0.1 : checkNumber('options.momentum', opts.momentum, 0, 1);
  const eps = opts.eps === undefined ? 1e-5 : checkNumber('options.eps', opts.eps, Number.MIN_VALUE);
  if (Math.fround(eps) <= 0) throw new ArgumentError('options.eps', 'a positive float32', String(eps));
  if (stats !== null) {
    if (typeof stats !== 'object') throw new ArgumentError('stats', 'a {runningMean, runningVar} object or null', describe(stats));
    checkChannelVector('stats.runningMean', stats.runningMean, C, x);
    checkChannelVector('stats.runningVar', stats.runningVar, C, x);
  }
  const rt = x.rt;
  if (!opts.training) {
    if (stats === null) throw new ArgumentError('stats', 'running statistics for inference', 'null');
    const y = destination('options.out', opts.out, x.shape, rt);
    rt.k.batchnorm_forward_infer_f32(x.ptr, y.ptr, M, C, gamma.ptr, beta.ptr, stats.runningMean.ptr, stats.runningVar.ptr,
      eps, rt.workspace(Math.max(16, 4 * C)));
    return { y, saved: null };
  }
  if (M < 2) throw new ShapeError('x', 'at least 2 values per channel in training', fmtShape(x.shape));
  if (opts.saved !== undefined) {
    checkChannelVector('options.saved.mean', opts.saved.mean, C, x);
    checkChannelVector('options.saved.invstd', opts.saved.invstd, C, x);
  }
  const y = destination('options.out', opts.out, x.shape, rt);
  const saved = opts.saved ?? { mean: Tensor.zeros([C], rt), invstd: Tensor.zeros([C], rt) };
  rt.k.batchnorm_forward_train_f32(x.ptr, y.ptr, M, C, gamma.ptr, beta.ptr, saved.mean.ptr, saved.invstd.ptr,
    stats ? stats.runningMean.ptr : 0, stats ? stats.runningVar.ptr : 0, momentum, eps, rt.workspace(Math.max(16, 16 * C)));
  return { y, saved };
}

/** Options of {@link batchNormBackward}. */
export interface BatchNormBackwardOptions {
  /** Destination of dx, x's shape (may be dy); allocated when absent. */
  out?: Tensor;
  /** Add dx into `out` instead of overwriting it (requires `out`). */
  accumulate?: boolean;
  /** Destination of dγ, [C]; allocated when absent. */
  dGamma?: Tensor;
  /** Destination of dβ, [C]; allocated when absent. */
  dBeta?: Tensor;
  /** Add dγ and dβ into `dGamma`/`dBeta` (both required) instead of overwriting them. */
  accumulateParams?: boolean;
}

/** Gradients from {@link batchNormBackward}. */
export interface BatchNormGrads {
  dx: Tensor;
  dGamma: Tensor;
  dBeta: Tensor;
}

/**
 * Backward of a training {@link batchNorm}: with x̂ = (x − μ)·invstd,
 * dβ = Σ dy, dγ = Σ dy·x̂, dx = γ·invstd·(dy − dβ/M − x̂·dγ/M) (sums over the M rows).
 * `dy`, `x`: [..., C]; `gamma`: [C]; `saved`: from the forward.
 */
export function batchNormBackward(dy: Tensor, x: Tensor, gamma: Tensor, saved: BatchNormSaved,
  opts: BatchNormBackwardOptions = {}): BatchNormGrads {
  checkTensor('x', x);
  checkTensor('dy', dy, x.rt);
  checkShape('dy', dy, x.shape);
  const [M, C] = rowsCols('x', x);
  if (M < 1) throw new ShapeError('x', 'at least 1 row', fmtShape(x.shape));
  checkChannelVector('gamma', gamma, C, x);
  if (typeof saved !== 'object' || saved === null) throw new ArgumentError('saved', 'the {mean, invstd} of the forward', describe(saved));
  checkChannelVector('saved.mean', saved.mean, C, x);
  checkChannelVector('saved.invstd', saved.invstd, C, x);
  const accP = opts.accumulateParams ?? false;
  if (accP && (opts.dGamma === undefined || opts.dBeta === undefined)) {
    throw new ArgumentError('options.dGamma', 'dGamma and dBeta when accumulateParams is set', 'none');
  }
  if (opts.dGamma !== undefined) checkChannelVector('options.dGamma', opts.dGamma, C, x);
  if (opts.dBeta !== undefined) checkChannelVector('options.dBeta', opts.dBeta, C, x);
  const rt = x.rt;
  const dx = destination('options.out', opts.out, x.shape, rt, opts.accumulate);
  const dGamma = opts.dGamma ?? Tensor.zeros([C], rt);
  const dBeta = opts.dBeta ?? Tensor.zeros([C], rt);
  rt.k.batchnorm_backward_f32(dy.ptr, x.ptr, saved.mean.ptr, saved.invstd.ptr, gamma.ptr, dx.ptr, dGamma.ptr, dBeta.ptr,
    M, C, opts.accumulate ? 1 : 0, accP ? 1 : 0, rt.workspace(Math.max(16, 16 * C)));
  return { dx, dGamma, dBeta };
}
