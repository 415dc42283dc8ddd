// Stochastic-gradient MCMC updates (SGLD, preconditioned SGLD, SGHMC) over flat f32 arrays,
// and the Gaussian reductions of ensembles and distillation. Pointers are byte offsets, n
// element counts. Parameters p, gradients g and state are n elements each.
//
// The gradient g is that of the per-sample mean loss L = (1/M)·Σ ℓ_i of a mini-batch of M,
// ℓ_i = −log p(y_i | x_i, θ). With the per-sample regularisers of the parameter group folded in
// first, as the optimisers do (g' = g + l2·p + l1·sign(p)), the gradient of the potential
// U(θ) = −log p(θ) − Σ_{i ≤ N} log p(y_i | x_i, θ) (Gaussian prior of precision λ) is estimated by
//   ∇U = N·g' + λ·p          (scale = N, prec = λ)
// which is Welling & Teh's (N/M)·Σ ∇log p(y|x,θ) + ∇log p(θ) with the sign flipped.
//
// Noise: a kernel fills `scratch` (CHUNK floats, caller-owned) with standard normals from the
// Threefry generator of noise.ts, chunk by chunk, at stream positions [i, i + chunk) of
// (seedLo, seedHi, stream), then applies the update to that chunk. Element i's noise depends
// only on (seed, stream, i), never on the chunking. sd = 0 skips the noise (no draw at all).
// SIMD kernels and their `_scalar` twins run the same operations in the same order.

import { noise_gauss_f32, noise_gauss_f32_scalar } from './noise';

/** Floats of the noise scratch every update kernel takes. */
const CHUNK: i32 = 512;

/** Size of the `scratch` buffer of the update kernels, in f32 elements. */
export function sampler_scratch_floats(): i32 {
  return CHUNK;
}

// State decays geometrically where the gradient is zero; below 1e-30 it is set to 0 so it never
// sinks into slow subnormals (same rule as optim.ts).
const TINY: f32 = 1e-30;

@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

@inline function ftz1(x: f32): f32 {
  return Mathf.abs(x) < TINY ? 0 : x;
}

@inline function ftz4(x: v128): v128 {
  return v128.and(x, f32x4.ge(f32x4.abs(x), f32x4.splat(TINY)));
}

/** ∇U = scale·(g + l2·p + l1·sign(p)) + prec·p. */
@inline function potGrad1(w: f32, g: f32, scale: f32, prec: f32, l1: f32, l2: f32): f32 {
  const sign: f32 = <f32>(w > 0 ? 1 : 0) - <f32>(w < 0 ? 1 : 0);
  return scale * ((g + l2 * w) + l1 * sign) + prec * w;
}

@inline function potGrad4(w: v128, g: v128, scale: v128, prec: v128, l1: v128, l2: v128): v128 {
  const zero = f32x4.splat(0), one = f32x4.splat(1);
  const sign = f32x4.sub(v128.and(one, f32x4.gt(w, zero)), v128.and(one, f32x4.lt(w, zero)));
  return f32x4.add(f32x4.mul(scale, f32x4.add(f32x4.add(g, f32x4.mul(l2, w)), f32x4.mul(l1, sign))), f32x4.mul(prec, w));
}

/** The per-sample-mean gradient with the group's regularisers: g + l2·p + l1·sign(p). */
@inline function meanGrad1(w: f32, g: f32, l1: f32, l2: f32): f32 {
  const sign: f32 = <f32>(w > 0 ? 1 : 0) - <f32>(w < 0 ? 1 : 0);
  return (g + l2 * w) + l1 * sign;
}

@inline function meanGrad4(w: v128, g: v128, l1: v128, l2: v128): v128 {
  const zero = f32x4.splat(0), one = f32x4.splat(1);
  const sign = f32x4.sub(v128.and(one, f32x4.gt(w, zero)), v128.and(one, f32x4.lt(w, zero)));
  return f32x4.add(f32x4.add(g, f32x4.mul(l2, w)), f32x4.mul(l1, sign));
}

/** Noise for elements [i, i + c) into scratch (SIMD or scalar generator: the same bits). */
@inline function draw(simd: bool, scratch: usize, c: i32, sd: f32, seedLo: u32, seedHi: u32, stream: u32, i: i32): void {
  if (sd == 0) return;
  if (simd) noise_gauss_f32(scratch, c, seedLo, seedHi, stream, <u32>i);
  else noise_gauss_f32_scalar(scratch, c, seedLo, seedHi, stream, <u32>i);
}

// ---- SGLD (Welling & Teh 2011) -------------------------------------------------------------
//   p ← p − h·∇U + sd·ξ,   h = η/2, sd = √(η·T)   (T: temperature; the chain targets p(θ|D)^(1/T))

@inline function sgld1(p: usize, g: usize, i: i32, z: f32, h: f32, scale: f32, prec: f32, l1: f32, l2: f32, sd: f32): void {
  const w = load<f32>(at(p, i));
  const u = potGrad1(w, load<f32>(at(g, i)), scale, prec, l1, l2);
  const step = w - h * u;
  store<f32>(at(p, i), sd == 0 ? step : step + sd * z);
}

@inline function sgld_run(simd: bool, p: usize, g: usize, n: i32, h: f32, scale: f32, prec: f32, l1: f32, l2: f32, sd: f32,
  scratch: usize, seedLo: u32, seedHi: u32, stream: u32): void {
  const vh = f32x4.splat(h), vs = f32x4.splat(scale), vp = f32x4.splat(prec), vl1 = f32x4.splat(l1), vl2 = f32x4.splat(l2), vsd = f32x4.splat(sd);
  for (let c0 = 0; c0 < n; c0 += CHUNK) {
    const c = min(CHUNK, n - c0);
    draw(simd, scratch, c, sd, seedLo, seedHi, stream, c0);
    let j = 0;
    if (simd) {
      for (; j + 4 <= c; j += 4) {
        const i = c0 + j;
        const w = v128.load(at(p, i));
        const step = f32x4.sub(w, f32x4.mul(vh, potGrad4(w, v128.load(at(g, i)), vs, vp, vl1, vl2)));
        v128.store(at(p, i), sd == 0 ? step : f32x4.add(step, f32x4.mul(vsd, v128.load(at(scratch, j)))));
      }
    }
    for (; j < c; j++) sgld1(p, g, c0 + j, sd == 0 ? 0 : load<f32>(at(scratch, j)), h, scale, prec, l1, l2, sd);
  }
}

/**
 * SGLD step in place: p ← p − h·(scale·(g + l2·p + l1·sign p) + prec·p) + sd·ξ, ξ ~ N(0, 1) from
 * (seedLo, seedHi, stream) at positions 0..n−1. h = η/2, scale = N, prec = prior precision,
 * sd = √(η·T) (0: no noise). scratch: {@link sampler_scratch_floats} f32.
 */
export function sgld_f32(p: usize, g: usize, n: i32, h: f32, scale: f32, prec: f32, l1: f32, l2: f32, sd: f32,
  scratch: usize, seedLo: u32, seedHi: u32, stream: u32): void {
  assert(n >= 0, 'sgld_f32: n < 0');
  sgld_run(true, p, g, n, h, scale, prec, l1, l2, sd, scratch, seedLo, seedHi, stream);
}

/** Scalar twin of {@link sgld_f32}. */
export function sgld_f32_scalar(p: usize, g: usize, n: i32, h: f32, scale: f32, prec: f32, l1: f32, l2: f32, sd: f32,
  scratch: usize, seedLo: u32, seedHi: u32, stream: u32): void {
  assert(n >= 0, 'sgld_f32_scalar: n < 0');
  sgld_run(false, p, g, n, h, scale, prec, l1, l2, sd, scratch, seedLo, seedHi, stream);
}

// ---- preconditioned SGLD (Li, Chen, Carlson, Carin 2016, Alg. 1, without Γ) -----------------
//   v ← ρ·v + (1−ρ)·ḡ²   (ḡ = g + l2·p + l1·sign p, the per-sample mean gradient)
//   G = 1/(eps + √(c·v));   p ← p − h·G·∇U + sd·√G·ξ,   h = η/2, sd = √(η·T)
// c = 1/(1 − ρᵗ) corrects v's start from zero as Adam does (without it the first steps' G is up
// to 1/√(1−ρ) times too large, which throws a chain far off at the start).

@inline function psgld1(p: usize, g: usize, v: usize, i: i32, z: f32, h: f32, scale: f32, prec: f32, l1: f32, l2: f32,
  rho: f32, crho: f32, eps: f32, vc: f32, sd: f32): void {
  const w = load<f32>(at(p, i));
  const gm = meanGrad1(w, load<f32>(at(g, i)), l1, l2);
  const vn = ftz1(rho * load<f32>(at(v, i)) + crho * (gm * gm));
  store<f32>(at(v, i), vn);
  const G: f32 = 1 / (eps + Mathf.sqrt(vc * vn));
  const u = scale * gm + prec * w;
  const step = w - h * (G * u);
  store<f32>(at(p, i), sd == 0 ? step : step + (sd * Mathf.sqrt(G)) * z);
}

@inline function psgld_run(simd: bool, p: usize, g: usize, v: usize, n: i32, h: f32, scale: f32, prec: f32, l1: f32, l2: f32,
  rho: f32, eps: f32, vc: f32, sd: f32, scratch: usize, seedLo: u32, seedHi: u32, stream: u32): void {
  const crho: f32 = 1 - rho;
  const vh = f32x4.splat(h), vs = f32x4.splat(scale), vp = f32x4.splat(prec), vl1 = f32x4.splat(l1), vl2 = f32x4.splat(l2);
  const vrho = f32x4.splat(rho), vcrho = f32x4.splat(crho), veps = f32x4.splat(eps), vvc = f32x4.splat(vc), vsd = f32x4.splat(sd), one = f32x4.splat(1);
  for (let c0 = 0; c0 < n; c0 += CHUNK) {
    const c = min(CHUNK, n - c0);
    draw(simd, scratch, c, sd, seedLo, seedHi, stream, c0);
    let j = 0;
    if (simd) {
      for (; j + 4 <= c; j += 4) {
        const i = c0 + j;
        const w = v128.load(at(p, i));
        const gm = meanGrad4(w, v128.load(at(g, i)), vl1, vl2);
        const vn = ftz4(f32x4.add(f32x4.mul(vrho, v128.load(at(v, i))), f32x4.mul(vcrho, f32x4.mul(gm, gm))));
        v128.store(at(v, i), vn);
        const G = f32x4.div(one, f32x4.add(veps, f32x4.sqrt(f32x4.mul(vvc, vn))));
        const u = f32x4.add(f32x4.mul(vs, gm), f32x4.mul(vp, w));
        const step = f32x4.sub(w, f32x4.mul(vh, f32x4.mul(G, u)));
        v128.store(at(p, i), sd == 0 ? step : f32x4.add(step, f32x4.mul(f32x4.mul(vsd, f32x4.sqrt(G)), v128.load(at(scratch, j)))));
      }
    }
    for (; j < c; j++) psgld1(p, g, v, c0 + j, sd == 0 ? 0 : load<f32>(at(scratch, j)), h, scale, prec, l1, l2, rho, crho, eps, vc, sd);
  }
}

/**
 * pSGLD step in place (RMSProp preconditioner G = 1/(eps + √(vc·v))); v: mean-square state (n
 * f32, zeros at start). h = η/2, scale = N, prec = prior precision, rho in [0, 1), eps > 0,
 * vc = 1/(1 − ρᵗ) at step t ≥ 1 (1: uncorrected), sd = √(η·T) (0: no noise), scratch:
 * {@link sampler_scratch_floats} f32.
 */
export function psgld_f32(p: usize, g: usize, v: usize, n: i32, h: f32, scale: f32, prec: f32, l1: f32, l2: f32,
  rho: f32, eps: f32, vc: f32, sd: f32, scratch: usize, seedLo: u32, seedHi: u32, stream: u32): void {
  assert(n >= 0 && eps > 0, 'psgld_f32: need n >= 0 and eps > 0');
  psgld_run(true, p, g, v, n, h, scale, prec, l1, l2, rho, eps, vc, sd, scratch, seedLo, seedHi, stream);
}

/** Scalar twin of {@link psgld_f32}. */
export function psgld_f32_scalar(p: usize, g: usize, v: usize, n: i32, h: f32, scale: f32, prec: f32, l1: f32, l2: f32,
  rho: f32, eps: f32, vc: f32, sd: f32, scratch: usize, seedLo: u32, seedHi: u32, stream: u32): void {
  assert(n >= 0 && eps > 0, 'psgld_f32_scalar: need n >= 0 and eps > 0');
  psgld_run(false, p, g, v, n, h, scale, prec, l1, l2, rho, eps, vc, sd, scratch, seedLo, seedHi, stream);
}

// ---- SGHMC (Chen, Fox, Guestrin 2014, eq. 15, with the noise estimate B̂ = 0) ---------------
//   m ← (1 − α)·m − η·∇U + sd·ξ,  sd = √(2αη·T);   p ← p + m

@inline function sghmc1(p: usize, g: usize, m: usize, i: i32, z: f32, eta: f32, scale: f32, prec: f32, l1: f32, l2: f32,
  decay: f32, sd: f32): void {
  const w = load<f32>(at(p, i));
  const u = potGrad1(w, load<f32>(at(g, i)), scale, prec, l1, l2);
  const mo = decay * load<f32>(at(m, i)) - eta * u;
  const mn = ftz1(sd == 0 ? mo : mo + sd * z);
  store<f32>(at(m, i), mn);
  store<f32>(at(p, i), w + mn);
}

@inline function sghmc_run(simd: bool, p: usize, g: usize, m: usize, n: i32, eta: f32, scale: f32, prec: f32, l1: f32, l2: f32,
  decay: f32, sd: f32, scratch: usize, seedLo: u32, seedHi: u32, stream: u32): void {
  const veta = f32x4.splat(eta), vs = f32x4.splat(scale), vp = f32x4.splat(prec), vl1 = f32x4.splat(l1), vl2 = f32x4.splat(l2);
  const vdec = f32x4.splat(decay), vsd = f32x4.splat(sd);
  for (let c0 = 0; c0 < n; c0 += CHUNK) {
    const c = min(CHUNK, n - c0);
    draw(simd, scratch, c, sd, seedLo, seedHi, stream, c0);
    let j = 0;
    if (simd) {
      for (; j + 4 <= c; j += 4) {
        const i = c0 + j;
        const w = v128.load(at(p, i));
        const u = potGrad4(w, v128.load(at(g, i)), vs, vp, vl1, vl2);
        const mo = f32x4.sub(f32x4.mul(vdec, v128.load(at(m, i))), f32x4.mul(veta, u));
        const mn = ftz4(sd == 0 ? mo : f32x4.add(mo, f32x4.mul(vsd, v128.load(at(scratch, j)))));
        v128.store(at(m, i), mn);
        v128.store(at(p, i), f32x4.add(w, mn));
      }
    }
    for (; j < c; j++) sghmc1(p, g, m, c0 + j, sd == 0 ? 0 : load<f32>(at(scratch, j)), eta, scale, prec, l1, l2, decay, sd);
  }
}

/**
 * SGHMC step in place; m: momentum (n f32, zeros at start). eta = η (step size), scale = N,
 * prec = prior precision, decay = 1 − α (α: friction), sd = √(2αη·T) (0: no noise),
 * scratch: {@link sampler_scratch_floats} f32.
 */
export function sghmc_f32(p: usize, g: usize, m: usize, n: i32, eta: f32, scale: f32, prec: f32, l1: f32, l2: f32,
  decay: f32, sd: f32, scratch: usize, seedLo: u32, seedHi: u32, stream: u32): void {
  assert(n >= 0, 'sghmc_f32: n < 0');
  sghmc_run(true, p, g, m, n, eta, scale, prec, l1, l2, decay, sd, scratch, seedLo, seedHi, stream);
}

/** Scalar twin of {@link sghmc_f32}. */
export function sghmc_f32_scalar(p: usize, g: usize, m: usize, n: i32, eta: f32, scale: f32, prec: f32, l1: f32, l2: f32,
  decay: f32, sd: f32, scratch: usize, seedLo: u32, seedHi: u32, stream: u32): void {
  assert(n >= 0, 'sghmc_f32_scalar: n < 0');
  sghmc_run(false, p, g, m, n, eta, scale, prec, l1, l2, decay, sd, scratch, seedLo, seedHi, stream);
}

// ---- Gaussian reductions of ensembles and regression distillation (scalar kernels) ----------

/** Smallest log-variance accepted (σ ≥ e^-6), as in loss.ts's Gaussian NLL. */
const MIN_LOG_VAR: f32 = -12;

/**
 * KL(N(μ_t, v_t) ‖ N(μ, e^s)) summed over rows·cols, for a student whose output `out`
 * [rows, 2·cols] holds per row the means μ then the log-variances s (s clamped at −12); teacher
 * means `tm` and variances `tv` (> 0) [rows, cols]:
 *   KL = ½(s − log v_t + (v_t + (μ_t − μ)²)·e^(−s) − 1)
 * dμ = scale·(μ − μ_t)·e^(−s), ds = scale·½(1 − (v_t + (μ_t − μ)²)·e^(−s)) (0 where clamped).
 * Averaged over teacher samples this is minimised at the mixture's mean and variance.
 */
export function gauss_kl_f32(out: usize, tm: usize, tv: usize, rows: i32, cols: i32, dout: usize, scale: f32): f64 {
  assert(rows >= 0 && cols >= 0, 'gauss_kl_f32: rows, cols must be >= 0');
  let sum: f64 = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const om = <usize>(r * 2 * cols + c) << 2;
      const os = om + (<usize>cols << 2);
      const ot = <usize>(r * cols + c) << 2;
      const mu = load<f32>(out + om);
      const raw = load<f32>(out + os);
      const s = max<f32>(raw, MIN_LOG_VAR);
      const vt = load<f32>(tv + ot);
      const d = load<f32>(tm + ot) - mu;
      const inv = Mathf.exp(-s);
      const q = (vt + d * d) * inv;
      sum += 0.5 * (<f64>s - Math.log(<f64>vt) + <f64>q - 1);
      if (dout) {
        store<f32>(dout + om, -scale * d * inv);
        store<f32>(dout + os, raw > MIN_LOG_VAR ? scale * 0.5 * (1 - q) : 0);
      }
    }
  }
  return sum;
}

/**
 * Log density of each target under an equal-weight mixture of K Gaussians:
 * out[i] = log((1/K)·Σ_k N(y[i]; mu[k·n + i], v[k·n + i])), computed in f64 with the largest
 * component factored out (log-sum-exp). mu, v: [K, n] (v > 0); y, out: [n].
 */
export function gauss_mixture_ll_f32(mu: usize, v: usize, y: usize, n: i32, K: i32, out: usize): void {
  assert(n >= 0 && K >= 1, 'gauss_mixture_ll_f32: need n >= 0 and K >= 1');
  const LOG_2PI: f64 = 1.8378770664093453;
  for (let i = 0; i < n; i++) {
    const t = <f64>load<f32>(at(y, i));
    let mx: f64 = -Infinity;
    for (let k = 0; k < K; k++) {
      const o = k * n + i;
      const vk = <f64>load<f32>(at(v, o)), d = t - <f64>load<f32>(at(mu, o));
      const l = -0.5 * (LOG_2PI + Math.log(vk) + d * d / vk);
      if (l > mx) mx = l;
    }
    let s: f64 = 0;
    for (let k = 0; k < K; k++) {
      const o = k * n + i;
      const vk = <f64>load<f32>(at(v, o)), d = t - <f64>load<f32>(at(mu, o));
      s += Math.exp(-0.5 * (LOG_2PI + Math.log(vk) + d * d / vk) - mx);
    }
    store<f32>(at(out, i), <f32>(mx + Math.log(s / <f64>K)));
  }
}
