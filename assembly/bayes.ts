// Kernels of the Bayesian layers: the KL of the log-uniform prior, the parameter maps of
// variational dropout (Kingma et al. 2015) and sparse variational dropout (Molchanov et al.
// 2017), and the fused pieces of the local reparameterization trick (LRT):
//   b = μ + sqrt(v)·ε,  μ = x·M + bias,  v = (x ⊙ x)·S,  ε ~ N(0, 1)
// where M are the (masked) mean weights and S the weight variances σ². The two GEMMs that make
// μ and v live in gemm.ts / conv.ts; the element-wise work around them lives here, fused.
// Pointers are byte offsets; n, rows, cols are element counts.
//
// Every SIMD kernel has a `_scalar` twin (its test oracle) that runs the same operations in the
// same order, so the two agree bit for bit: the clamp is pmin/pmax's select (x < lo ? lo : x),
// lanes masked off add +0, and the KL value is summed in four f32 lanes flushed to f64 every
// 256 weights, as the SIMD kernel sums it. The SIMD kernels' tails call the same scalar steps.

import { kl_lu, dkl_lu, dkl_lu_ratio, exp_s, log_s, v_dkl_lu_ratio, v_kl_and_grad, v_kl_lu } from './bayes_math';

/** One v128 of scratch for the KL lane sums (static data: kernels never allocate). */
const KL_ACC = memory.data(16, 16);
import { v_exp, v_log } from './vmath';

/** Variance floor inside sqrt(v): keeps the LRT gradient finite where x = 0 or σ² → 0. */
const VAR_EPS: f32 = 1e-8;
/** θ² floor inside log θ² (log α of a zero weight is then large, i.e. pruned). */
const THETA2_EPS: f32 = 1e-8;

/** f32x4.pmin(f32x4.pmax(x, lo), hi) on one lane (so NaN and ±0 come out as in the SIMD kernels). */
// @ts-ignore: decorator
@inline function pclamp(x: f32, lo: f32, hi: f32): f32 {
  const y = x < lo ? lo : x;
  return hi < y ? hi : y;
}

/** log α from t2 = θ² + 1e-8 on one lane, as {@link v_svdLogAlphaT2}. */
// @ts-ignore: decorator
@inline function svdLogAlphaT2(t2: f32, logSigma2: f32, lo: f32, hi: f32): f32 {
  return pclamp(logSigma2 - log_s(t2), lo, hi);
}

@inline function v_svdLogAlpha(theta: v128, logSigma2: v128, lo: v128, hi: v128): v128 {
  return v_svdLogAlphaT2(f32x4.add(f32x4.mul(theta, theta), f32x4.splat(THETA2_EPS)), logSigma2, lo, hi);
}

/** log α from t2 = θ² + 1e-8; pmax/pmin clamp (one instruction each; NaN stays NaN). */
@inline function v_svdLogAlphaT2(t2: v128, logSigma2: v128, lo: v128, hi: v128): v128 {
  return f32x4.pmin(f32x4.pmax(f32x4.sub(logSigma2, v_log(t2)), lo), hi);
}

/** out[i] = clamp(logσ²[i] − log(θ[i]² + 1e-8), lo, hi): log α of Sparse VD weights. */
export function svd_log_alpha_f32(theta: usize, logSigma2: usize, out: usize, n: i32, lo: f32, hi: f32): void {
  assert(n >= 0, 'n must be >= 0');
  const vlo = f32x4.splat(lo), vhi = f32x4.splat(hi);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, v_svdLogAlpha(v128.load(theta + o), v128.load(logSigma2 + o), vlo, vhi));
  }
  svdLogAlphaRange(theta, logSigma2, out, i, n, lo, hi);
}

// @ts-ignore: decorator
@inline function svdLogAlphaRange(theta: usize, logSigma2: usize, out: usize, i0: i32, n: i32, lo: f32, hi: f32): void {
  for (let i = i0; i < n; i++) {
    const o = <usize>i << 2;
    const t = load<f32>(theta + o);
    store<f32>(out + o, svdLogAlphaT2(t * t + THETA2_EPS, load<f32>(logSigma2 + o), lo, hi));
  }
}

/** Scalar twin of {@link svd_log_alpha_f32}. */
export function svd_log_alpha_f32_scalar(theta: usize, logSigma2: usize, out: usize, n: i32, lo: f32, hi: f32): void {
  assert(n >= 0, 'n must be >= 0');
  svdLogAlphaRange(theta, logSigma2, out, 0, n, lo, hi);
}

/** Four weights of {@link svd_prepare_f32} at the given addresses (sigma2, dTheta 0 = skip); returns the keep mask (−1 lanes). */
// @ts-ignore: decorator
@inline function svdPrepare4(theta: usize, logSigma2: usize, thetaEff: usize, sigma2: usize, logAlpha: usize,
  vthr: v128, vlo: v128, vhi: v128, dTheta: usize, dLogSigma2: usize, vscale: v128): v128 {
  const t = v128.load(theta);
  const ls = v128.load(logSigma2);
  const t2 = f32x4.add(f32x4.mul(t, t), f32x4.splat(THETA2_EPS));
  const la = v_svdLogAlphaT2(t2, ls, vlo, vhi);
  const keep = f32x4.lt(la, vthr);
  v128.store(logAlpha, la);
  v128.store(thetaEff, v128.and(t, keep));
  if (sigma2) {
    const s2 = v_exp(ls);
    v128.store(sigma2, s2);
    // Four weights all on a clamp bound (most of a sparse layer, at log α = hi) have no KL gradient.
    const inside = v128.and(f32x4.gt(la, vlo), f32x4.lt(la, vhi));
    if (dTheta && v128.any_true(inside)) {
      const g = v128.and(f32x4.mul(v_dkl_lu_ratio(la, t2, s2), vscale), inside);
      // ∂logα/∂logσ² = 1, ∂logα/∂θ = −2θ / (θ² + eps)
      v128.store(dLogSigma2, f32x4.add(v128.load(dLogSigma2), g));
      v128.store(dTheta, f32x4.add(v128.load(dTheta), f32x4.div(f32x4.mul(f32x4.mul(g, f32x4.splat(-2)), t), t2)));
    }
  }
  return keep;
}

/**
 * Sparse VD weights for one pass, in one sweep: logAlpha = clamp(logσ² − log θ², lo, hi)
 * (kept for the backward of this step), sigma2 = exp(logσ²) (skipped when sigma2 = 0, as
 * deterministic inference needs no variances), and thetaEff = θ where log α < threshold, else 0
 * (threshold = +Inf keeps all). Returns how many weights are kept.
 *
 * A training step passes dTheta ≠ 0 (and sigma2 ≠ 0): the same sweep then adds the KL gradient
 * scale·∂KL/∂θ into dTheta and scale·∂KL/∂logσ² into dLogSigma2 (zero where log α sits on a clamp
 * bound), from the θ², σ² it already holds (see dkl_lu_ratio), instead of a second pass over
 * log α after the backward.
 */
export function svd_prepare_f32(theta: usize, logSigma2: usize, n: i32, thetaEff: usize, sigma2: usize, logAlpha: usize, threshold: f32, lo: f32, hi: f32, dTheta: usize, dLogSigma2: usize, scale: f32): i32 {
  assert(n >= 0, 'n must be >= 0');
  assert(dTheta == 0 || (sigma2 != 0 && dLogSigma2 != 0), 'svd_prepare_f32: KL gradients need sigma2 and dLogSigma2');
  const vlo = f32x4.splat(lo), vhi = f32x4.splat(hi), vthr = f32x4.splat(threshold);
  const vscale = f32x4.splat(scale);
  let keptV = i32x4.splat(0);
  let i = 0;
  // Two groups of four a step: the log and exp polynomials are serial chains, and a second one
  // in the same loop body keeps the vector units busy.
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    keptV = i32x4.sub(keptV, svdPrepare4(theta + o, logSigma2 + o, thetaEff + o, sigma2 ? sigma2 + o : 0, logAlpha + o, vthr, vlo, vhi, dTheta ? dTheta + o : 0, dLogSigma2 + o, vscale));
    keptV = i32x4.sub(keptV, svdPrepare4(theta + o + 16, logSigma2 + o + 16, thetaEff + o + 16, sigma2 ? sigma2 + o + 16 : 0, logAlpha + o + 16, vthr, vlo, vhi, dTheta ? dTheta + o + 16 : 0, dLogSigma2 + o + 16, vscale));
  }
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    keptV = i32x4.sub(keptV, svdPrepare4(theta + o, logSigma2 + o, thetaEff + o, sigma2 ? sigma2 + o : 0, logAlpha + o, vthr, vlo, vhi, dTheta ? dTheta + o : 0, dLogSigma2 + o, vscale));
  }
  const kept = i32x4.extract_lane(keptV, 0) + i32x4.extract_lane(keptV, 1) + i32x4.extract_lane(keptV, 2) + i32x4.extract_lane(keptV, 3);
  let tail = 0;
  for (; i < n; i++) tail += <i32>svdPrepare1(<usize>i << 2, theta, logSigma2, thetaEff, sigma2, logAlpha, threshold, lo, hi, dTheta, dLogSigma2, scale, true);
  return kept + tail;
}

/**
 * One weight of {@link svd_prepare_f32} at byte offset o; returns whether it is kept. `grad` false
 * skips the KL gradient (the SIMD kernel skips four weights all on a clamp bound), else it is
 * added, +0 where log α sits on a bound.
 */
// @ts-ignore: decorator
@inline function svdPrepare1(o: usize, theta: usize, logSigma2: usize, thetaEff: usize, sigma2: usize, logAlpha: usize,
  threshold: f32, lo: f32, hi: f32, dTheta: usize, dLogSigma2: usize, scale: f32, grad: bool): bool {
  const t = load<f32>(theta + o);
  const ls = load<f32>(logSigma2 + o);
  const t2 = t * t + THETA2_EPS;
  const la = svdLogAlphaT2(t2, ls, lo, hi);
  const keep = la < threshold;
  store<f32>(logAlpha + o, la);
  store<f32>(thetaEff + o, keep ? t : 0);
  if (sigma2) {
    const s2 = exp_s(ls);
    store<f32>(sigma2 + o, s2);
    if (dTheta && grad) {
      const g: f32 = la > lo && la < hi ? dkl_lu_ratio(la, t2, s2) * scale : 0;
      store<f32>(dLogSigma2 + o, load<f32>(dLogSigma2 + o) + g);
      store<f32>(dTheta + o, load<f32>(dTheta + o) + g * -2 * t / t2);
    }
  }
  return keep;
}

/** Scalar twin of {@link svd_prepare_f32}: groups of four whose log α all sit on a clamp bound get no gradient update, as there. */
export function svd_prepare_f32_scalar(theta: usize, logSigma2: usize, n: i32, thetaEff: usize, sigma2: usize, logAlpha: usize, threshold: f32, lo: f32, hi: f32, dTheta: usize, dLogSigma2: usize, scale: f32): i32 {
  assert(n >= 0, 'n must be >= 0');
  assert(dTheta == 0 || (sigma2 != 0 && dLogSigma2 != 0), 'svd_prepare_f32: KL gradients need sigma2 and dLogSigma2');
  let kept = 0;
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    // Whether any of the four has log α strictly inside the clamp (then all four get the update).
    let inside = false;
    for (let j = 0; j < 4; j++) {
      const o = <usize>(i + j) << 2;
      const t = load<f32>(theta + o);
      const la = svdLogAlphaT2(t * t + THETA2_EPS, load<f32>(logSigma2 + o), lo, hi);
      inside = inside || (la > lo && la < hi);
    }
    for (let j = 0; j < 4; j++) kept += <i32>svdPrepare1(<usize>(i + j) << 2, theta, logSigma2, thetaEff, sigma2, logAlpha, threshold, lo, hi, dTheta, dLogSigma2, scale, inside);
  }
  for (; i < n; i++) kept += <i32>svdPrepare1(<usize>i << 2, theta, logSigma2, thetaEff, sigma2, logAlpha, threshold, lo, hi, dTheta, dLogSigma2, scale, true);
  return kept;
}

/**
 * KL(q(w) ‖ log-uniform) of n Sparse VD weights (Molchanov et al. 2017, eq. 14) from their
 * clamped log α (as written by svd_prepare_f32 for the current θ, log σ²). When dTheta ≠ 0,
 * adds scale·∂KL/∂θ and scale·∂KL/∂logσ² into dTheta and dLogSigma2 (zero where log α sits on
 * a clamp bound). Returns Σ KL when wantValue ≠ 0, else 0 (the value costs a log1p per weight,
 * which a training step does not need; training steps get the gradient from svd_prepare_f32).
 */
export function svd_kl_f32(theta: usize, logAlpha: usize, n: i32, dTheta: usize, dLogSigma2: usize, scale: f32, lo: f32, hi: f32, wantValue: i32): f64 {
  assert(n >= 0, 'n must be >= 0');
  assert(dTheta != 0 || wantValue != 0, 'svd_kl_f32: nothing to compute');
  let sum: f64 = 0;
  const vlo = f32x4.splat(lo), vhi = f32x4.splat(hi), vscale = f32x4.splat(scale);
  const veps = f32x4.splat(THETA2_EPS), vm2 = f32x4.splat(-2);
  const acc = changetype<usize>(KL_ACC);
  let i = 0;
  while (i + 4 <= n) {
    // f32 lane sums, flushed to f64 every 256 weights.
    v128.store(acc, f32x4.splat(0));
    const end = min(n & ~3, i + 256);
    for (; i < end; i += 4) {
      const o = <usize>i << 2;
      const la = v128.load(logAlpha + o);
      if (!dTheta) {
        v128.store(acc, f32x4.add(v128.load(acc), v_kl_lu(la)));
        continue;
      }
      const inside = v128.and(f32x4.gt(la, vlo), f32x4.lt(la, vhi));
      const t = v128.load(theta + o);
      const d = v_kl_and_grad(la, wantValue ? acc : 0);
      const g = v128.and(f32x4.mul(d, vscale), inside);
      // ∂logα/∂logσ² = 1, ∂logα/∂θ = −2θ / (θ² + eps)
      v128.store(dLogSigma2 + o, f32x4.add(v128.load(dLogSigma2 + o), g));
      const dt = f32x4.div(f32x4.mul(f32x4.mul(g, vm2), t), f32x4.add(f32x4.mul(t, t), veps));
      v128.store(dTheta + o, f32x4.add(v128.load(dTheta + o), dt));
    }
    const a = v128.load(acc);
    sum += <f64>f32x4.extract_lane(a, 0) + <f64>f32x4.extract_lane(a, 1) + <f64>f32x4.extract_lane(a, 2) + <f64>f32x4.extract_lane(a, 3);
  }
  for (; i < n; i++) sum += <f64>svdKl1(<usize>i << 2, theta, logAlpha, dTheta, dLogSigma2, scale, lo, hi, wantValue);
  return wantValue ? sum : 0;
}

/**
 * One weight of {@link svd_kl_f32} at byte offset o: adds the KL gradient when dTheta ≠ 0 and
 * returns the KL value when wantValue ≠ 0 or dTheta = 0 (else 0).
 */
// @ts-ignore: decorator
@inline function svdKl1(o: usize, theta: usize, logAlpha: usize, dTheta: usize, dLogSigma2: usize, scale: f32, lo: f32, hi: f32, wantValue: i32): f32 {
  const la = load<f32>(logAlpha + o);
  if (dTheta) {
    const t = load<f32>(theta + o);
    const g: f32 = la > lo && la < hi ? dkl_lu(la) * scale : 0;
    store<f32>(dLogSigma2 + o, load<f32>(dLogSigma2 + o) + g);
    store<f32>(dTheta + o, load<f32>(dTheta + o) + g * -2 * t / (t * t + THETA2_EPS));
  }
  return wantValue || !dTheta ? kl_lu(la) : 0;
}

/**
 * Scalar twin of {@link svd_kl_f32}: the same four f32 lane sums (lane j holds the weights
 * i ≡ j mod 4), flushed to f64 every 256 weights in lane order, then the tail in f64.
 */
export function svd_kl_f32_scalar(theta: usize, logAlpha: usize, n: i32, dTheta: usize, dLogSigma2: usize, scale: f32, lo: f32, hi: f32, wantValue: i32): f64 {
  assert(n >= 0, 'n must be >= 0');
  assert(dTheta != 0 || wantValue != 0, 'svd_kl_f32: nothing to compute');
  let sum: f64 = 0;
  const n4 = n & ~3;
  let i = 0;
  while (i < n4) {
    let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0;
    const end = min(n4, i + 256);
    for (; i < end; i += 4) {
      const o = <usize>i << 2;
      a0 += svdKl1(o, theta, logAlpha, dTheta, dLogSigma2, scale, lo, hi, wantValue);
      a1 += svdKl1(o + 4, theta, logAlpha, dTheta, dLogSigma2, scale, lo, hi, wantValue);
      a2 += svdKl1(o + 8, theta, logAlpha, dTheta, dLogSigma2, scale, lo, hi, wantValue);
      a3 += svdKl1(o + 12, theta, logAlpha, dTheta, dLogSigma2, scale, lo, hi, wantValue);
    }
    sum += <f64>a0 + <f64>a1 + <f64>a2 + <f64>a3;
  }
  for (; i < n; i++) sum += <f64>svdKl1(<usize>i << 2, theta, logAlpha, dTheta, dLogSigma2, scale, lo, hi, wantValue);
  return wantValue ? sum : 0;
}

/**
 * Sparse VD chain rule from the LRT weight gradients to the parameters:
 * dθ += dM where the weight is kept (log α < threshold), dlogσ² += dS ⊙ σ².
 */
export function svd_param_grads_f32(logAlpha: usize, n: i32, dM: usize, dS: usize, sigma2: usize, dTheta: usize, dLogSigma2: usize, threshold: f32): void {
  assert(n >= 0, 'n must be >= 0');
  const vthr = f32x4.splat(threshold);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const keep = f32x4.lt(v128.load(logAlpha + o), vthr);
    v128.store(dTheta + o, f32x4.add(v128.load(dTheta + o), v128.and(v128.load(dM + o), keep)));
    v128.store(dLogSigma2 + o, f32x4.add(v128.load(dLogSigma2 + o), f32x4.mul(v128.load(dS + o), v128.load(sigma2 + o))));
  }
  svdParamGradsRange(logAlpha, i, n, dM, dS, sigma2, dTheta, dLogSigma2, threshold);
}

/** Weights [i0, n) of {@link svd_param_grads_f32}; a dropped weight's dθ gets +0, as a masked lane. */
// @ts-ignore: decorator
@inline function svdParamGradsRange(logAlpha: usize, i0: i32, n: i32, dM: usize, dS: usize, sigma2: usize, dTheta: usize, dLogSigma2: usize, threshold: f32): void {
  for (let i = i0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dTheta + o, load<f32>(dTheta + o) + (load<f32>(logAlpha + o) < threshold ? load<f32>(dM + o) : 0));
    store<f32>(dLogSigma2 + o, load<f32>(dLogSigma2 + o) + load<f32>(dS + o) * load<f32>(sigma2 + o));
  }
}

/** Scalar twin of {@link svd_param_grads_f32}. */
export function svd_param_grads_f32_scalar(logAlpha: usize, n: i32, dM: usize, dS: usize, sigma2: usize, dTheta: usize, dLogSigma2: usize, threshold: f32): void {
  assert(n >= 0, 'n must be >= 0');
  svdParamGradsRange(logAlpha, 0, n, dM, dS, sigma2, dTheta, dLogSigma2, threshold);
}

/** Index of the α shared by weight i of a [rows, cols] matrix: 0 layer, 1 per column (unit), 2 per weight. */
@inline function group(i: i32, cols: i32, mode: i32): i32 {
  return mode == 0 ? 0 : mode == 1 ? i % cols : i;
}

/** Variational dropout (Kingma et al. 2015) weight variances: sigma2 = α·θ², α = exp(logα[group]). */
export function vd_prepare_f32(theta: usize, logAlpha: usize, n: i32, cols: i32, mode: i32, sigma2: usize): void {
  assert(n >= 0 && cols > 0 && mode >= 0 && mode <= 2, 'bad vd_prepare arguments');
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const t = load<f32>(theta + o);
    store<f32>(sigma2 + o, exp_s(load<f32>(logAlpha + (<usize>group(i, cols, mode) << 2))) * t * t);
  }
}

/** Variational dropout chain rule: dθ += dM + dS·2αθ; dlogα[group] += Σ dS·αθ². */
export function vd_param_grads_f32(theta: usize, logAlpha: usize, n: i32, cols: i32, mode: i32, dM: usize, dS: usize, dTheta: usize, dLogAlpha: usize): void {
  assert(n >= 0 && cols > 0 && mode >= 0 && mode <= 2, 'bad vd_param_grads arguments');
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const go = <usize>group(i, cols, mode) << 2;
    const t = load<f32>(theta + o);
    const a = exp_s(load<f32>(logAlpha + go));
    const ds = load<f32>(dS + o);
    store<f32>(dTheta + o, load<f32>(dTheta + o) + load<f32>(dM + o) + ds * 2 * a * t);
    store<f32>(dLogAlpha + go, load<f32>(dLogAlpha + go) + ds * a * t * t);
  }
}

/**
 * Σ mult·KL(log-uniform) over n log α values (mult = weights sharing each α); when dLogAlpha ≠ 0
 * adds scale·mult·∂KL/∂logα, zero outside the clamp [lo, hi].
 */
export function kl_log_uniform_f32(logAlpha: usize, n: i32, mult: f32, dLogAlpha: usize, scale: f32, lo: f32, hi: f32): f64 {
  assert(n >= 0, 'n must be >= 0');
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const raw = load<f32>(logAlpha + o);
    const la = pclamp(raw, lo, hi);
    sum += <f64>(mult * kl_lu(la));
    if (dLogAlpha && raw > lo && raw < hi) store<f32>(dLogAlpha + o, load<f32>(dLogAlpha + o) + scale * mult * dkl_lu(la));
  }
  return sum;
}

/**
 * LRT sample over a [rows, cols] pre-activation: std = sqrt(v + 1e-8) (saved for backward),
 * out = μ + std·ε + bias[col]. With eps = 0 the noise is skipped: out = μ + bias (std still saved).
 * The bias is added after the noise, never inside the variance. out may alias mu.
 */
export function lrt_sample_f32(rows: i32, cols: i32, mu: usize, v: usize, eps: usize, bias: usize, out: usize, std: usize): void {
  assert(rows >= 0 && cols >= 0, 'rows, cols must be >= 0');
  const epsV = f32x4.splat(VAR_EPS);
  const cols4 = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const base = <usize>(r * cols) << 2;
    let c = 0;
    for (; c < cols4; c += 4) {
      const o = base + (<usize>c << 2);
      const s = f32x4.sqrt(f32x4.add(v128.load(v + o), epsV));
      v128.store(std + o, s);
      let y = v128.load(mu + o);
      if (eps) y = f32x4.add(y, f32x4.mul(s, v128.load(eps + o)));
      if (bias) y = f32x4.add(y, v128.load(bias + (<usize>c << 2)));
      v128.store(out + o, y);
    }
    lrtSampleRow(base, c, cols, mu, v, eps, bias, out, std);
  }
}

/** Columns [c0, cols) of one row of {@link lrt_sample_f32} (row at byte offset base). */
// @ts-ignore: decorator
@inline function lrtSampleRow(base: usize, c0: i32, cols: i32, mu: usize, v: usize, eps: usize, bias: usize, out: usize, std: usize): void {
  for (let c = c0; c < cols; c++) {
    const o = base + (<usize>c << 2);
    const s = sqrt<f32>(load<f32>(v + o) + VAR_EPS);
    store<f32>(std + o, s);
    let y = load<f32>(mu + o);
    if (eps) y += s * load<f32>(eps + o);
    if (bias) y += load<f32>(bias + (<usize>c << 2));
    store<f32>(out + o, y);
  }
}

/** Scalar twin of {@link lrt_sample_f32}. */
export function lrt_sample_f32_scalar(rows: i32, cols: i32, mu: usize, v: usize, eps: usize, bias: usize, out: usize, std: usize): void {
  assert(rows >= 0 && cols >= 0, 'rows, cols must be >= 0');
  for (let r = 0; r < rows; r++) lrtSampleRow(<usize>(r * cols) << 2, 0, cols, mu, v, eps, bias, out, std);
}

/**
 * One Monte-Carlo draw of n weights (f32): out = M + sqrt(S)·ε where M ≠ 0, else 0: a weight
 * whose (masked) mean is zero is dropped whole, mean and noise, as a pruned model drops it.
 * No variance floor: a sampled weight has no backward. out may alias M or ε.
 */
export function mc_weight_sample_f32(n: i32, M: usize, S: usize, eps: usize, out: usize): void {
  assert(n >= 0, 'n must be >= 0');
  const n4 = n & ~3;
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    const m = v128.load(M + o);
    const y = f32x4.add(m, f32x4.mul(f32x4.sqrt(v128.load(S + o)), v128.load(eps + o)));
    v128.store(out + o, v128.and(y, f32x4.ne(m, zero)));
  }
  mcWeightSampleRange(i, n, M, S, eps, out);
}

// @ts-ignore: decorator
@inline function mcWeightSampleRange(i0: i32, n: i32, M: usize, S: usize, eps: usize, out: usize): void {
  for (let i = i0; i < n; i++) {
    const o = <usize>i << 2;
    const m = load<f32>(M + o);
    store<f32>(out + o, select<f32>(m + sqrt<f32>(load<f32>(S + o)) * load<f32>(eps + o), 0, m != 0));
  }
}

/** Scalar twin of {@link mc_weight_sample_f32}. */
export function mc_weight_sample_f32_scalar(n: i32, M: usize, S: usize, eps: usize, out: usize): void {
  assert(n >= 0, 'n must be >= 0');
  mcWeightSampleRange(0, n, M, S, eps, out);
}

/** LRT backward through the noise: dv = dy·ε / (2·std). */
export function lrt_backward_f32(n: i32, dy: usize, eps: usize, std: usize, dv: usize): void {
  assert(n >= 0, 'n must be >= 0');
  const half = f32x4.splat(0.5);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(dv + o, f32x4.div(f32x4.mul(f32x4.mul(v128.load(dy + o), v128.load(eps + o)), half), v128.load(std + o)));
  }
  lrtBackwardRange(i, n, dy, eps, std, dv);
}

// @ts-ignore: decorator
@inline function lrtBackwardRange(i0: i32, n: i32, dy: usize, eps: usize, std: usize, dv: usize): void {
  for (let i = i0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dv + o, load<f32>(dy + o) * load<f32>(eps + o) * 0.5 / load<f32>(std + o));
  }
}

/** Scalar twin of {@link lrt_backward_f32}. */
export function lrt_backward_f32_scalar(n: i32, dy: usize, eps: usize, std: usize, dv: usize): void {
  assert(n >= 0, 'n must be >= 0');
  lrtBackwardRange(0, n, dy, eps, std, dv);
}

/**
 * {@link lrt_backward_f32} at the nonzeros of dy only, in place: dy [m, f] listed as CSR over its
 * rows (rowPtr m + 1, colIdx u32, val; see csr_rows_nonzero_f32), val[q] becomes dv at the same
 * entry, dy·ε / (2·std) with the same operations. dv is 0 wherever dy is, so the list then holds
 * every nonzero of dv (and, where ε = 0 exactly, a zero).
 */
export function lrt_backward_rows_f32(m: i32, f: i32, rowPtr: usize, colIdx: usize, val: usize, eps: usize, std: usize): void {
  assert(m >= 0 && f >= 0, 'm, f must be >= 0');
  let q = <i32>load<u32>(rowPtr);
  for (let r = 0; r < m; r++) {
    const q1 = <i32>load<u32>(rowPtr + (<usize>(r + 1) << 2));
    const base = <usize>r * <usize>f;
    for (; q < q1; q++) {
      const qo = <usize>q << 2;
      const o = (base + <usize>load<u32>(colIdx + qo)) << 2;
      store<f32>(val + qo, load<f32>(val + qo) * load<f32>(eps + o) * 0.5 / load<f32>(std + o));
    }
  }
}

/** dx += 2·x ⊙ t: the x² path of the LRT input gradient (t = dv·Sᵀ). */
export function lrt_dx_f32(n: i32, x: usize, t: usize, dx: usize): void {
  assert(n >= 0, 'n must be >= 0');
  const two = f32x4.splat(2);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, f32x4.add(v128.load(dx + o), f32x4.mul(two, f32x4.mul(v128.load(x + o), v128.load(t + o)))));
  }
  lrtDxRange(i, n, x, t, dx);
}

/** Elements [i0, n) of {@link lrt_dx_f32}: dx + 2·(x·t), the SIMD kernel's order. */
// @ts-ignore: decorator
@inline function lrtDxRange(i0: i32, n: i32, x: usize, t: usize, dx: usize): void {
  for (let i = i0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(dx + o) + <f32>2 * (load<f32>(x + o) * load<f32>(t + o)));
  }
}

/** Scalar twin of {@link lrt_dx_f32}. */
export function lrt_dx_f32_scalar(n: i32, x: usize, t: usize, dx: usize): void {
  assert(n >= 0, 'n must be >= 0');
  lrtDxRange(0, n, x, t, dx);
}

/** Scalar KL of the log-uniform prior at log α (exported for tests). */
export function kl_log_uniform_scalar(logAlpha: f32): f32 {
  return kl_lu(logAlpha);
}

/** Scalar ∂KL/∂logα (exported for tests). */
export function dkl_log_uniform_scalar(logAlpha: f32): f32 {
  return dkl_lu(logAlpha);
}
