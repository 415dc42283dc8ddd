// In-place optimiser steps over flat f32 arrays: parameters p, gradients g and per-parameter
// state, all n elements. Pointers are byte offsets. The SIMD kernels apply exactly the scalar
// twins' operations in the same order, so both give the same bits.
//
// Regularisation is folded into the gradient first (the same for every optimiser):
//   g' = g + l2·p + l1·sign(p)      (L2 as classic weight decay, not AdamW; sign(0) = 0)
// Gradient clipping by global norm is done by the caller with sumsq_f32 + scale_f32.

@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

// Optimizer state (momenta, mean squares) decays geometrically wherever the gradient is zero
// (e.g. Sparse VD weights masked out) and would sink into subnormal floats, which x86 handles
// tens of times slower. Wasm has no flush-to-zero mode, so state below 1e-30 in magnitude is set
// to 0 explicitly: far below anything that moves a weight (√1e-30 ≪ eps), and the same in
// every engine.
const TINY: f32 = 1e-30;

@inline function ftz1(x: f32): f32 {
  return Mathf.abs(x) < TINY ? 0 : x;
}

@inline function ftz4(x: v128): v128 {
  return v128.and(x, f32x4.ge(f32x4.abs(x), f32x4.splat(TINY)));
}

@inline function regGrad4(p: v128, g: v128, l1: v128, l2: v128): v128 {
  const zero = f32x4.splat(0), one = f32x4.splat(1);
  const sign = f32x4.sub(v128.and(one, f32x4.gt(p, zero)), v128.and(one, f32x4.lt(p, zero)));
  return f32x4.add(f32x4.add(g, f32x4.mul(l2, p)), f32x4.mul(l1, sign));
}

@inline function regGrad1(p: f32, g: f32, l1: f32, l2: f32): f32 {
  const sign: f32 = <f32>(p > 0 ? 1 : 0) - <f32>(p < 0 ? 1 : 0);
  return (g + l2 * p) + l1 * sign;
}

// ---- SGD with (optionally Nesterov) momentum, PyTorch convention (no dampening) ------------
//   v = μ·v + g';  step = nesterov ? g' + μ·v : v;  p −= lr·step.  μ = 0: p −= lr·g' (v unused).

@inline function sgd1(p: usize, g: usize, v: usize, i: i32, lr: f32, mu: f32, nesterov: i32, l1: f32, l2: f32): void {
  const w = load<f32>(at(p, i));
  const gp = regGrad1(w, load<f32>(at(g, i)), l1, l2);
  let step = gp;
  if (v) {
    const vn = ftz1(mu * load<f32>(at(v, i)) + gp);
    store<f32>(at(v, i), vn);
    step = nesterov ? gp + mu * vn : vn;
  }
  store<f32>(at(p, i), w - lr * step);
}

/** SGD step. v: momentum buffer (n f32, start at 0), or 0 when momentum is 0. nesterov: 0/1. */
export function sgd_f32(p: usize, g: usize, v: usize, n: i32, lr: f32, momentum: f32, nesterov: i32, l1: f32, l2: f32): void {
  assert(n >= 0, 'sgd_f32: n < 0');
  assert(v != 0 || momentum == 0, 'sgd_f32: momentum needs a velocity buffer');
  if (momentum == 0) v = 0;
  const vlr = f32x4.splat(lr), vmu = f32x4.splat(momentum), vl1 = f32x4.splat(l1), vl2 = f32x4.splat(l2);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const w = v128.load(at(p, i));
    const gp = regGrad4(w, v128.load(at(g, i)), vl1, vl2);
    let step = gp;
    if (v) {
      const vn = ftz4(f32x4.add(f32x4.mul(vmu, v128.load(at(v, i))), gp));
      v128.store(at(v, i), vn);
      step = nesterov ? f32x4.add(gp, f32x4.mul(vmu, vn)) : vn;
    }
    v128.store(at(p, i), f32x4.sub(w, f32x4.mul(vlr, step)));
  }
  for (; i < n; i++) sgd1(p, g, v, i, lr, momentum, nesterov, l1, l2);
}

/** Scalar twin of {@link sgd_f32}. */
export function sgd_f32_scalar(p: usize, g: usize, v: usize, n: i32, lr: f32, momentum: f32, nesterov: i32, l1: f32, l2: f32): void {
  assert(n >= 0, 'sgd_f32_scalar: n < 0');
  assert(v != 0 || momentum == 0, 'sgd_f32_scalar: momentum needs a velocity buffer');
  if (momentum == 0) v = 0;
  for (let i = 0; i < n; i++) sgd1(p, g, v, i, lr, momentum, nesterov, l1, l2);
}

// ---- Adam (Kingma & Ba 2015, Alg. 1, in PyTorch's arrangement of the bias corrections) ----
//   m = β1·m + (1−β1)·g';  v = β2·v + (1−β2)·g'²
//   p −= (lr/(1−β1ᵗ)) · m / (√v/√(1−β2ᵗ) + eps)
// The corrections are formed here in f64 from the step count t ≥ 1, so JS never computes βᵗ.

/** 1 − βᵗ in f64 (deterministic software pow). */
@inline function biasCorrection(beta: f32, t: i32): f64 {
  return 1 - Math.pow(<f64>beta, <f64>t);
}

@inline function adam1(p: usize, g: usize, m: usize, v: usize, i: i32, b1: f32, c1: f32, b2: f32, c2: f32,
  stepSize: f32, invSqrtBc2: f32, eps: f32, l1: f32, l2: f32): void {
  const w = load<f32>(at(p, i));
  const gp = regGrad1(w, load<f32>(at(g, i)), l1, l2);
  const mn = ftz1(b1 * load<f32>(at(m, i)) + c1 * gp);
  const vn = ftz1(b2 * load<f32>(at(v, i)) + c2 * (gp * gp));
  store<f32>(at(m, i), mn);
  store<f32>(at(v, i), vn);
  store<f32>(at(p, i), w - stepSize * (mn / (Mathf.sqrt(vn) * invSqrtBc2 + eps)));
}

/** Adam step t (1 for the first). m, v: moment buffers (n f32 each, start at 0). */
export function adam_f32(p: usize, g: usize, m: usize, v: usize, n: i32, lr: f32, beta1: f32, beta2: f32, eps: f32,
  t: i32, l1: f32, l2: f32): void {
  assert(n >= 0 && t >= 1, 'adam_f32: need n >= 0 and t >= 1');
  const c1: f32 = 1 - beta1, c2: f32 = 1 - beta2;
  const stepSize = <f32>(<f64>lr / biasCorrection(beta1, t));
  const invSqrtBc2 = <f32>(1 / Math.sqrt(biasCorrection(beta2, t)));
  const vb1 = f32x4.splat(beta1), vc1 = f32x4.splat(c1), vb2 = f32x4.splat(beta2), vc2 = f32x4.splat(c2);
  const vstep = f32x4.splat(stepSize), vinv = f32x4.splat(invSqrtBc2), veps = f32x4.splat(eps);
  const vl1 = f32x4.splat(l1), vl2 = f32x4.splat(l2);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const w = v128.load(at(p, i));
    const gp = regGrad4(w, v128.load(at(g, i)), vl1, vl2);
    const mn = ftz4(f32x4.add(f32x4.mul(vb1, v128.load(at(m, i))), f32x4.mul(vc1, gp)));
    const vn = ftz4(f32x4.add(f32x4.mul(vb2, v128.load(at(v, i))), f32x4.mul(vc2, f32x4.mul(gp, gp))));
    v128.store(at(m, i), mn);
    v128.store(at(v, i), vn);
    const denom = f32x4.add(f32x4.mul(f32x4.sqrt(vn), vinv), veps);
    v128.store(at(p, i), f32x4.sub(w, f32x4.mul(vstep, f32x4.div(mn, denom))));
  }
  for (; i < n; i++) adam1(p, g, m, v, i, beta1, c1, beta2, c2, stepSize, invSqrtBc2, eps, l1, l2);
}

/** Scalar twin of {@link adam_f32}. */
export function adam_f32_scalar(p: usize, g: usize, m: usize, v: usize, n: i32, lr: f32, beta1: f32, beta2: f32, eps: f32,
  t: i32, l1: f32, l2: f32): void {
  assert(n >= 0 && t >= 1, 'adam_f32_scalar: need n >= 0 and t >= 1');
  const c1: f32 = 1 - beta1, c2: f32 = 1 - beta2;
  const stepSize = <f32>(<f64>lr / biasCorrection(beta1, t));
  const invSqrtBc2 = <f32>(1 / Math.sqrt(biasCorrection(beta2, t)));
  for (let i = 0; i < n; i++) adam1(p, g, m, v, i, beta1, c1, beta2, c2, stepSize, invSqrtBc2, eps, l1, l2);
}

// ---- RMSProp (Hinton's lecture 6e; PyTorch arrangement, uncentred) -------------------------
//   s = ρ·s + (1−ρ)·g'²;  u = g'/(√s + eps)
//   μ > 0: b = μ·b + u; p −= lr·b     μ = 0: p −= lr·u (b unused)

@inline function rmsprop1(p: usize, g: usize, s: usize, b: usize, i: i32, lr: f32, rho: f32, c: f32, eps: f32, mu: f32, l1: f32, l2: f32): void {
  const w = load<f32>(at(p, i));
  const gp = regGrad1(w, load<f32>(at(g, i)), l1, l2);
  const sn = ftz1(rho * load<f32>(at(s, i)) + c * (gp * gp));
  store<f32>(at(s, i), sn);
  let u = gp / (Mathf.sqrt(sn) + eps);
  if (b) {
    u = ftz1(mu * load<f32>(at(b, i)) + u);
    store<f32>(at(b, i), u);
  }
  store<f32>(at(p, i), w - lr * u);
}

/** RMSProp step. s: mean-square buffer (n f32, start at 0); b: momentum buffer, or 0 when momentum is 0. */
export function rmsprop_f32(p: usize, g: usize, s: usize, b: usize, n: i32, lr: f32, rho: f32, eps: f32, momentum: f32,
  l1: f32, l2: f32): void {
  assert(n >= 0, 'rmsprop_f32: n < 0');
  assert(b != 0 || momentum == 0, 'rmsprop_f32: momentum needs a buffer');
  if (momentum == 0) b = 0;
  const c: f32 = 1 - rho;
  const vlr = f32x4.splat(lr), vrho = f32x4.splat(rho), vc = f32x4.splat(c), veps = f32x4.splat(eps), vmu = f32x4.splat(momentum);
  const vl1 = f32x4.splat(l1), vl2 = f32x4.splat(l2);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const w = v128.load(at(p, i));
    const gp = regGrad4(w, v128.load(at(g, i)), vl1, vl2);
    const sn = ftz4(f32x4.add(f32x4.mul(vrho, v128.load(at(s, i))), f32x4.mul(vc, f32x4.mul(gp, gp))));
    v128.store(at(s, i), sn);
    let u = f32x4.div(gp, f32x4.add(f32x4.sqrt(sn), veps));
    if (b) {
      u = ftz4(f32x4.add(f32x4.mul(vmu, v128.load(at(b, i))), u));
      v128.store(at(b, i), u);
    }
    v128.store(at(p, i), f32x4.sub(w, f32x4.mul(vlr, u)));
  }
  for (; i < n; i++) rmsprop1(p, g, s, b, i, lr, rho, c, eps, momentum, l1, l2);
}

/** Scalar twin of {@link rmsprop_f32}. */
export function rmsprop_f32_scalar(p: usize, g: usize, s: usize, b: usize, n: i32, lr: f32, rho: f32, eps: f32, momentum: f32,
  l1: f32, l2: f32): void {
  assert(n >= 0, 'rmsprop_f32_scalar: n < 0');
  assert(b != 0 || momentum == 0, 'rmsprop_f32_scalar: momentum needs a buffer');
  if (momentum == 0) b = 0;
  const c: f32 = 1 - rho;
  for (let i = 0; i < n; i++) rmsprop1(p, g, s, b, i, lr, rho, c, eps, momentum, l1, l2);
}
