import type { Tensor } from '../tensor.js';
import { runtime, type Kernels } from '../runtime/runtime.js';
import { checkTensor, destination } from './check.js';

/** Options of the element-wise math ops. */
export interface UnaryOptions {
  /** Destination with the same shape as `x` (may be `x` itself); allocated when absent. */
  out?: Tensor;
}

type UnaryKernel = 'exp_f32' | 'log_f32' | 'log1p_f32' | 'sigmoid_f32' | 'softplus_f32' | 'tanh_f32';

const SAME_RUNTIME_AS_X = ['a tensor of the same runtime as x', 'another runtime'] as const;

function unary(kernel: UnaryKernel, x: Tensor, opts: UnaryOptions): Tensor {
  checkTensor('x', x);
  const out = destination('out', opts.out, x.shape, x.rt, false, SAME_RUNTIME_AS_X);
  (x.rt.k as Kernels)[kernel](x.ptr, out.ptr, x.size);
  return out;
}

/** e^x element-wise (overflows to +Inf above 88.72, underflows through subnormals to 0). `x`: any shape. Max error 1 ulp. */
export function exp(x: Tensor, opts: UnaryOptions = {}): Tensor {
  return unary('exp_f32', x, opts);
}

/** Natural logarithm element-wise: log(±0) = -Inf, log(x < 0) = NaN. `x`: any shape. Max error 1 ulp. */
export function log(x: Tensor, opts: UnaryOptions = {}): Tensor {
  return unary('log_f32', x, opts);
}

/** log(1 + x) element-wise, accurate for tiny x: log1p(-1) = -Inf, log1p(x < -1) = NaN. Max error 2.5 ulp. */
export function log1p(x: Tensor, opts: UnaryOptions = {}): Tensor {
  return unary('log1p_f32', x, opts);
}

/** Logistic 1 / (1 + e^-x) element-wise, accurate in both tails (no overflow). Max error 2.5 ulp. */
export function sigmoid(x: Tensor, opts: UnaryOptions = {}): Tensor {
  return unary('sigmoid_f32', x, opts);
}

/** softplus log(1 + e^x) element-wise, as max(x, 0) + log1p(e^-|x|) (no overflow). Max error 3 ulp. */
export function softplus(x: Tensor, opts: UnaryOptions = {}): Tensor {
  return unary('softplus_f32', x, opts);
}

/** Hyperbolic tangent element-wise (odd, saturates to ±1). Max error 1.5 ulp. */
export function tanh(x: Tensor, opts: UnaryOptions = {}): Tensor {
  return unary('tanh_f32', x, opts);
}

// ---- f64 scalars computed in wasm (engines may round Math.pow, Math.cos, … differently) ----

/** x^y in float64, computed in wasm so every engine gives the same bits (for schedules and hyperparameters). */
export function powF64(x: number, y: number): number {
  return runtime().k.math_pow_f64(x, y);
}

/** cos x (x in radians) in float64, computed in wasm so every engine gives the same bits. */
export function cosF64(x: number): number {
  return runtime().k.math_cos_f64(x);
}

/** e^x in float64, computed in wasm so every engine gives the same bits. */
export function expF64(x: number): number {
  return runtime().k.math_exp_f64(x);
}

/** Natural logarithm in float64, computed in wasm so every engine gives the same bits. */
export function logF64(x: number): number {
  return runtime().k.math_log_f64(x);
}
