// Math shared by the Bayesian kernels: the one KL implementation of the log-uniform prior
// (Molchanov et al. 2017, eq. 14):
//   −KL ≈ k1·σ(k2 + k3·log α) − 0.5·log(1 + 1/α) − k1
// accurate to about 0.01 nats over all α. With s = σ(k2 + k3·la) and e = exp(−|la|):
//   KL(la)     = k1 − k1·s + 0.5·softplus(−la),   softplus(−la) = max(−la, 0) + log1p(e)
//   ∂KL/∂la    = −k1·k3·s·(1 − s) − 0.5·σ(−la),   σ(−la) = la ≥ 0 ? e/(1 + e) : 1/(1 + e)
// so the value and the gradient share two exponentials. Vector forms are lane-identical to
// the scalar ones (same operations in the same order).

import { s_exp, s_log, s_log1p, v_exp, v_log1p } from './vmath';

const K1: f32 = 0.63576;
const K2: f32 = 1.8732;
const K3: f32 = 1.48695;
const NK1K3: f32 = -K1 * K3;

@inline export function exp_s(x: f32): f32 {
  return s_exp(x);
}

@inline export function log_s(x: f32): f32 {
  return s_log(x);
}

/** σ(z) from e = exp(−|z|), overflow-free on both sides. */
@inline function sigmoidFrom(z: f32, e: f32): f32 {
  return z >= 0 ? 1 / (1 + e) : e / (1 + e);
}

@inline function v_sigmoidFrom(z: v128, e: v128): v128 {
  const one = f32x4.splat(1);
  const d = f32x4.add(one, e);
  return v128.bitselect(f32x4.div(one, d), f32x4.div(e, d), f32x4.ge(z, f32x4.splat(0)));
}

/** s = σ(k2 + k3·la). */
@inline function sOf(la: f32): f32 {
  const z = K2 + K3 * la;
  return sigmoidFrom(z, s_exp(-abs<f32>(z)));
}

@inline function v_sOf(la: v128): v128 {
  const z = f32x4.add(f32x4.splat(K2), f32x4.mul(f32x4.splat(K3), la));
  return v_sigmoidFrom(z, v_exp(f32x4.neg(f32x4.abs(z))));
}

/** KL(q ‖ log-uniform prior) of one weight as a function of its log α. */
@inline export function kl_lu(la: f32): f32 {
  const e = s_exp(-abs<f32>(la));
  return (K1 - K1 * sOf(la)) + 0.5 * (max<f32>(-la, 0) + s_log1p(e));
}

/** ∂KL/∂log α. */
@inline export function dkl_lu(la: f32): f32 {
  const s = sOf(la);
  const e = s_exp(-abs<f32>(la));
  return NK1K3 * s * (1 - s) - 0.5 * sigmoidFrom(-la, e);
}

/** {@link kl_lu} on four lanes. */
@inline export function v_kl_lu(la: v128): v128 {
  const e = v_exp(f32x4.neg(f32x4.abs(la)));
  const sp = f32x4.add(f32x4.max(f32x4.neg(la), f32x4.splat(0)), v_log1p(e));
  return f32x4.add(f32x4.sub(f32x4.splat(K1), f32x4.mul(f32x4.splat(K1), v_sOf(la))), f32x4.mul(f32x4.splat(0.5), sp));
}

/**
 * Value and gradient together on four lanes, sharing s and e: returns ∂KL/∂la and adds
 * KL(la) into `acc` (by pointer to a v128 slot) when `acc` ≠ 0.
 */
@inline export function v_kl_and_grad(la: v128, acc: usize): v128 {
  const s = v_sOf(la);
  const e = v_exp(f32x4.neg(f32x4.abs(la)));
  if (acc) {
    const sp = f32x4.add(f32x4.max(f32x4.neg(la), f32x4.splat(0)), v_log1p(e));
    const kl = f32x4.add(f32x4.sub(f32x4.splat(K1), f32x4.mul(f32x4.splat(K1), s)), f32x4.mul(f32x4.splat(0.5), sp));
    v128.store(acc, f32x4.add(v128.load(acc), kl));
  }
  const a = f32x4.mul(f32x4.mul(f32x4.splat(NK1K3), s), f32x4.sub(f32x4.splat(1), s));
  return f32x4.sub(a, f32x4.mul(f32x4.splat(0.5), v_sigmoidFrom(f32x4.neg(la), e)));
}

/**
 * ∂KL/∂la for the training step, from the step's own t2 = θ² + 1e-8 and σ² (so α = σ²/t2):
 *   ∂KL/∂la = −k1·k3·s·(1 − s) − 0.5·t2/(t2 + σ²),  s = 1/(1 + exp(−(k2 + k3·la)))
 * using σ(−log α) = 1/(1 + α) = t2/(t2 + σ²): one exponential and two divisions, no select.
 * Stable for every clamped la (exp(−z) stays finite for la > −60) and every σ², t2 > 0.
 */
@inline export function dkl_lu_ratio(la: f32, t2: f32, s2: f32): f32 {
  const s: f32 = 1 / (1 + s_exp(-(K2 + K3 * la)));
  return NK1K3 * s * (1 - s) - 0.5 * (t2 / (t2 + s2));
}

/** {@link dkl_lu_ratio} on four lanes, lane-identical. */
@inline export function v_dkl_lu_ratio(la: v128, t2: v128, s2: v128): v128 {
  const one = f32x4.splat(1);
  const z = f32x4.add(f32x4.splat(K2), f32x4.mul(f32x4.splat(K3), la));
  const s = f32x4.div(one, f32x4.add(one, v_exp(f32x4.neg(z))));
  const a = f32x4.mul(f32x4.mul(f32x4.splat(NK1K3), s), f32x4.sub(one, s));
  return f32x4.sub(a, f32x4.mul(f32x4.splat(0.5), f32x4.div(t2, f32x4.add(t2, s2))));
}
