// Scalar math shared by the Bayesian kernels: the one KL implementation of the log-uniform
// prior (Molchanov et al. 2017, eq. 14):
//   −KL ≈ k1·σ(k2 + k3·log α) − 0.5·log(1 + 1/α) − k1
// accurate to about 0.01 nats over all α, with 0.5·log(1 + 1/α) = 0.5·softplus(−log α)
// computed stably.

const K1: f32 = 0.63576;
const K2: f32 = 1.8732;
const K3: f32 = 1.48695;

import { s_exp, s_log, s_log1p, s_sigmoid, s_softplus, v_sigmoid, v_softplus } from './vmath';

@inline export function exp_s(x: f32): f32 {
  return s_exp(x);
}

@inline export function log_s(x: f32): f32 {
  return s_log(x);
}

@inline function sigmoid_s(x: f32): f32 {
  return s_sigmoid(x);
}

/** softplus(x) = log(1 + e^x) without overflow. */
@inline function softplus_s(x: f32): f32 {
  return s_softplus(x);
}

/** KL(q ‖ log-uniform prior) of one weight as a function of its log α. */
@inline export function kl_lu(la: f32): f32 {
  return K1 - K1 * sigmoid_s(K2 + K3 * la) + 0.5 * softplus_s(-la);
}

/** ∂KL/∂log α. */
@inline export function dkl_lu(la: f32): f32 {
  const s = sigmoid_s(K2 + K3 * la);
  return (-K1 * K3) * s * (1 - s) - 0.5 * sigmoid_s(-la);
}

/** {@link kl_lu} on four lanes (lane-identical to the scalar form). */
@inline export function v_kl_lu(la: v128): v128 {
  const s = v_sigmoid(f32x4.add(f32x4.splat(K2), f32x4.mul(f32x4.splat(K3), la)));
  return f32x4.add(f32x4.sub(f32x4.splat(K1), f32x4.mul(f32x4.splat(K1), s)),
    f32x4.mul(f32x4.splat(0.5), v_softplus(f32x4.neg(la))));
}

/** {@link dkl_lu} on four lanes (lane-identical to the scalar form). */
@inline export function v_dkl_lu(la: v128): v128 {
  const s = v_sigmoid(f32x4.add(f32x4.splat(K2), f32x4.mul(f32x4.splat(K3), la)));
  const a = f32x4.mul(f32x4.mul(f32x4.splat(-K1 * K3), s), f32x4.sub(f32x4.splat(1), s));
  return f32x4.sub(a, f32x4.mul(f32x4.splat(0.5), v_sigmoid(f32x4.neg(la))));
}
