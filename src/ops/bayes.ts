import { ArgumentError, ShapeError } from '../errors.js';
import { fmtShape, type Tensor } from '../tensor.js';
import { checkSameSize } from './check.js';
import { checkCompleteRows } from './sparse.js';
import { SparseMatrix } from './spmm.js';

// Tensor-level wrappers of assembly/bayes.ts. Callers are the Bayesian layers, which own
// their buffers; every function checks that the tensors it pairs have matching sizes.

/** Range of log α kept by the clamp, [lo, hi]. */
export interface LogAlphaRange {
  lo: number;
  hi: number;
}

/** log α = clamp(logσ² − log θ², lo, hi) of Sparse VD weights, into `out`. */
export function svdLogAlpha(theta: Tensor, logSigma2: Tensor, out: Tensor, r: LogAlphaRange): Tensor {
  checkSameSize('logSigma2', logSigma2, theta);
  checkSameSize('out', out, theta);
  theta.rt.k.svd_log_alpha_f32(theta.ptr, logSigma2.ptr, out.ptr, theta.size, r.lo, r.hi);
  return out;
}

/**
 * Sparse VD weights of one pass: `logAlpha` = clamp(logσ² − log θ², lo, hi), `sigma2` = exp(logσ²) (unless null),
 * `thetaEff` = θ where log α < threshold else 0. Returns the number of weights kept.
 * With `klGrads` (a training step; needs `sigma2`), the same sweep adds scale·∂KL/∂θ and
 * scale·∂KL/∂logσ² of the log-uniform prior's KL into `klGrads.theta` and `klGrads.logSigma2`.
 */
export function svdPrepare(
  theta: Tensor, logSigma2: Tensor, thetaEff: Tensor, sigma2: Tensor | null, logAlpha: Tensor, threshold: number, r: LogAlphaRange,
  klGrads?: { theta: Tensor; logSigma2: Tensor; scale: number },
): number {
  for (const [n, t] of [['logSigma2', logSigma2], ['thetaEff', thetaEff], ['logAlpha', logAlpha]] as const) checkSameSize(n, t, theta);
  if (sigma2) checkSameSize('sigma2', sigma2, theta);
  if (klGrads) {
    if (!sigma2) throw new ArgumentError('sigma2', 'a tensor when klGrads is given (the KL gradient uses σ²)', 'null');
    checkSameSize('klGrads.theta', klGrads.theta, theta);
    checkSameSize('klGrads.logSigma2', klGrads.logSigma2, theta);
    if (!Number.isFinite(klGrads.scale)) throw new ArgumentError('klGrads.scale', 'a finite number', String(klGrads.scale));
  }
  return theta.rt.k.svd_prepare_f32(
    theta.ptr, logSigma2.ptr, theta.size, thetaEff.ptr, sigma2?.ptr ?? 0, logAlpha.ptr, threshold, r.lo, r.hi,
    klGrads?.theta.ptr ?? 0, klGrads?.logSigma2.ptr ?? 0, klGrads?.scale ?? 0,
  );
}

/**
 * Σ KL to the log-uniform prior over Sparse VD weights, from their clamped log α (see
 * {@link svdLogAlpha}); with grads, adds scale·∇KL into the θ and log σ² gradients. With
 * `wantValue` false only the gradients are computed (and 0 returned). Training steps get the
 * gradient from {@link svdPrepare}'s `klGrads` instead, in the same sweep as the weights.
 */
export function svdKl(theta: Tensor, logAlpha: Tensor, r: LogAlphaRange, grads?: { theta: Tensor; logSigma2: Tensor; scale: number }, wantValue = true): number {
  checkSameSize('logAlpha', logAlpha, theta);
  if (grads) {
    checkSameSize('grads.theta', grads.theta, theta);
    checkSameSize('grads.logSigma2', grads.logSigma2, theta);
  }
  if (!grads && !wantValue) return 0;
  return theta.rt.k.svd_kl_f32(theta.ptr, logAlpha.ptr, theta.size, grads?.theta.ptr ?? 0, grads?.logSigma2.ptr ?? 0, grads?.scale ?? 0, r.lo, r.hi, wantValue ? 1 : 0);
}

/** Sparse VD chain rule: dθ += dM where log α < threshold; dlogσ² += dS ⊙ σ². */
export function svdParamGrads(logAlpha: Tensor, dM: Tensor, dS: Tensor, sigma2: Tensor, dTheta: Tensor, dLogSigma2: Tensor, threshold: number): void {
  for (const [n, t] of [['dM', dM], ['dS', dS], ['sigma2', sigma2], ['dTheta', dTheta], ['dLogSigma2', dLogSigma2]] as const) checkSameSize(n, t, logAlpha);
  logAlpha.rt.k.svd_param_grads_f32(logAlpha.ptr, logAlpha.size, dM.ptr, dS.ptr, sigma2.ptr, dTheta.ptr, dLogSigma2.ptr, threshold);
}

/**
 * How variational-dropout α is shared by the weights W [..., cols]: one per layer, one per
 * output unit (the last axis: weight i has unit i mod cols) or one per weight.
 */
export type AlphaShape = 'layer' | 'unit' | 'weight';

/** The kernels' code of each sharing (assembly/bayes.ts: 0 layer, 1 unit, 2 weight). */
const ALPHA_CODE: Record<AlphaShape, number> = { layer: 0, unit: 1, weight: 2 };

/** Whether `v` names an {@link AlphaShape}. */
export function isAlphaShape(v: unknown): v is AlphaShape {
  return typeof v === 'string' && Object.hasOwn(ALPHA_CODE, v);
}

/** Number of α values for `size` weights over `cols` output units. */
export function alphaCount(size: number, cols: number, alpha: AlphaShape): number {
  return alpha === 'layer' ? 1 : alpha === 'unit' ? cols : size;
}

function checkAlpha(theta: Tensor, logAlpha: Tensor, cols: number, alpha: AlphaShape): number {
  const n = alphaCount(theta.size, cols, alpha);
  if (logAlpha.size !== n) throw new ShapeError('logAlpha', `${n} elements (α per ${alpha})`, `${logAlpha.size}`);
  return ALPHA_CODE[alpha];
}

/**
 * The α-group masking of variational dropout, the one TypeScript implementation (the kernels of
 * assembly/bayes.ts index the groups the same way): out = θ where the log α of the weight's
 * group is below `threshold`, else 0 (whole units dropped when α is per unit). Returns the
 * number of weights kept.
 */
export function vdMask(theta: Tensor, logAlpha: Tensor, cols: number, alpha: AlphaShape, threshold: number, out: Tensor): number {
  checkAlpha(theta, logAlpha, cols, alpha);
  checkSameSize('out', out, theta);
  const th = theta.view(), la = logAlpha.view(), m = out.view();
  let kept = 0;
  for (let i = 0; i < m.length; i++) {
    const keep = la[alpha === 'layer' ? 0 : alpha === 'unit' ? i % cols : i] < threshold;
    m[i] = keep ? th[i] : 0;
    if (keep) kept++;
  }
  return kept;
}

/** Variational dropout variances: σ² = exp(logα[group])·θ². `cols` = output units (last weight axis). */
export function vdPrepare(theta: Tensor, logAlpha: Tensor, cols: number, alpha: AlphaShape, sigma2: Tensor): void {
  const code = checkAlpha(theta, logAlpha, cols, alpha);
  checkSameSize('sigma2', sigma2, theta);
  theta.rt.k.vd_prepare_f32(theta.ptr, logAlpha.ptr, theta.size, cols, code, sigma2.ptr);
}

/** Variational dropout chain rule: dθ += dM + dS·2αθ, dlogα[group] += Σ dS·αθ². */
export function vdParamGrads(theta: Tensor, logAlpha: Tensor, cols: number, alpha: AlphaShape, dM: Tensor, dS: Tensor, dTheta: Tensor, dLogAlpha: Tensor): void {
  const code = checkAlpha(theta, logAlpha, cols, alpha);
  for (const [n, t] of [['dM', dM], ['dS', dS], ['dTheta', dTheta]] as const) checkSameSize(n, t, theta);
  checkSameSize('dLogAlpha', dLogAlpha, logAlpha);
  theta.rt.k.vd_param_grads_f32(theta.ptr, logAlpha.ptr, theta.size, cols, code, dM.ptr, dS.ptr, dTheta.ptr, dLogAlpha.ptr);
}

/** Σ mult·KL over log α values (each shared by `mult` weights); with grads adds scale·mult·∂KL/∂logα. */
export function klLogUniform(logAlpha: Tensor, mult: number, r: LogAlphaRange, grad?: { logAlpha: Tensor; scale: number }): number {
  if (grad) checkSameSize('grad.logAlpha', grad.logAlpha, logAlpha);
  return logAlpha.rt.k.kl_log_uniform_f32(logAlpha.ptr, logAlpha.size, mult, grad?.logAlpha.ptr ?? 0, grad?.scale ?? 0, r.lo, r.hi);
}

/**
 * LRT sample: out = μ + sqrt(v + 1e-8)·ε + bias (per last-axis column), saving the standard
 * deviation in `std`. Without `eps` the noise is skipped. Tensors are [.., cols], same size.
 */
export function lrtSample(mu: Tensor, v: Tensor, eps: Tensor | undefined, bias: Tensor | undefined, out: Tensor, std: Tensor): void {
  const cols = mu.shape[mu.shape.length - 1];
  checkSameSize('v', v, mu);
  checkSameSize('out', out, mu);
  checkSameSize('std', std, mu);
  if (eps) checkSameSize('eps', eps, mu);
  if (bias && bias.size !== cols) throw new ShapeError('bias', `[${cols}]`, fmtShape(bias.shape));
  mu.rt.k.lrt_sample_f32(mu.size / Math.max(cols, 1), cols, mu.ptr, v.ptr, eps?.ptr ?? 0, bias?.ptr ?? 0, out.ptr, std.ptr);
}

/**
 * One Monte-Carlo draw of weights: out = M + sqrt(S)·ε where M ≠ 0, else 0 (a weight with a zero
 * mean is dropped whole, as `prune` drops it). `out` is a tensor of M's size or a sparse matrix
 * whose values are drawn (nnz = M's size); it may alias M or ε. `scalar`: the twin kernel.
 */
export function mcWeightSample(M: Tensor, S: Tensor, eps: Tensor, out: Tensor | SparseMatrix, scalar = false): void {
  checkSameSize('S', S, M);
  checkSameSize('eps', eps, M);
  const [ptr, n] = out instanceof SparseMatrix ? [out.valuesPtr, out.nnz] : [out.ptr, out.size];
  if (n !== M.size) throw new ShapeError('out', `${M.size} values`, `${n}`);
  (scalar ? M.rt.k.mc_weight_sample_f32_scalar : M.rt.k.mc_weight_sample_f32)(M.size, M.ptr, S.ptr, eps.ptr, ptr);
}

/** LRT backward through the noise: dv = dy·ε / (2·std). */
export function lrtBackward(dy: Tensor, eps: Tensor, std: Tensor, dv: Tensor): void {
  checkSameSize('eps', eps, dy);
  checkSameSize('std', std, dy);
  checkSameSize('dv', dv, dy);
  dy.rt.k.lrt_backward_f32(dy.size, dy.ptr, eps.ptr, std.ptr, dv.ptr);
}

/**
 * {@link lrtBackward} at the nonzeros of dy only: `csr` lists dy's nonzeros (see rowsCsr in
 * ops/sparse.ts); their values become dv's, in place. `eps`, `std`: [..., F] like dy.
 */
export function lrtBackwardRows(csr: { rowPtr: Tensor; colIdx: Tensor; val: Tensor; nnz: number }, eps: Tensor, std: Tensor): void {
  checkSameSize('std', std, eps);
  checkCompleteRows(csr);
  const f = eps.shape[eps.shape.length - 1], m = eps.size / f;
  if (csr.rowPtr.size < m + 1) throw new ShapeError('csr.rowPtr', `at least ${m + 1} elements`, `${csr.rowPtr.size}`);
  eps.rt.k.lrt_backward_rows_f32(m, f, csr.rowPtr.ptr, csr.colIdx.ptr, csr.val.ptr, eps.ptr, std.ptr);
}

/** dx += 2·x ⊙ t (the x² path of the LRT input gradient). */
export function lrtInputGrad(x: Tensor, t: Tensor, dx: Tensor): void {
  checkSameSize('t', t, x);
  checkSameSize('dx', dx, x);
  x.rt.k.lrt_dx_f32(x.size, x.ptr, t.ptr, dx.ptr);
}
