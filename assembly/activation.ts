// Pointwise activations and their backward passes, f32. Pointers are byte offsets, n is an
// element count. Every SIMD kernel handles whole f32x4 groups in its main loop and the last
// n % 4 elements in a scalar tail that uses exactly the scalar twin's formula, so a kernel and
// its `_scalar` twin agree bit for bit. Backward kernels take `acc`: 0 overwrites dx, 1 adds
// into it (gradients of a tensor used twice are summed).

// ---- Transcendental math: the only place it is spelled out in this file. ----------------
// tanh and sigmoid come from vmath (f32x4 with lane-identical scalar twins). expm1 keeps
// Mathf's deterministic software version: vmath has no expm1 and exp − 1 loses digits near 0.
import { s_sigmoid, s_tanh, v_sigmoid, v_tanh } from './vmath';

@inline function expm1_1(x: f32): f32 {
  return Mathf.expm1(x);
}
@inline function tanh_1(x: f32): f32 {
  return s_tanh(x);
}
@inline function sigmoid_1(x: f32): f32 {
  return s_sigmoid(x);
}
@inline function expm1_4(v: v128): v128 {
  return f32x4(expm1_1(f32x4.extract_lane(v, 0)), expm1_1(f32x4.extract_lane(v, 1)),
    expm1_1(f32x4.extract_lane(v, 2)), expm1_1(f32x4.extract_lane(v, 3)));
}
@inline function tanh_4(v: v128): v128 {
  return v_tanh(v);
}
@inline function sigmoid_4(v: v128): v128 {
  return v_sigmoid(v);
}

@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

// ---- ReLU: y = max(x, 0) (NaN propagates, as wasm f32.max does) --------------------------

/** y[i] = max(x[i], 0). y may be x. */
export function relu_f32(x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'relu_f32: n < 0');
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), f32x4.max(v128.load(at(x, i)), zero));
  for (; i < n; i++) store<f32>(at(y, i), max<f32>(load<f32>(at(x, i)), 0));
}

/** Scalar twin of {@link relu_f32}. */
export function relu_f32_scalar(x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'relu_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) store<f32>(at(y, i), max<f32>(load<f32>(at(x, i)), 0));
}

/** dx[i] (=|+=) x[i] > 0 ? dy[i] : 0. */
export function relu_backward_f32(dy: usize, x: usize, dx: usize, n: i32, acc: i32): void {
  assert(n >= 0, 'relu_backward_f32: n < 0');
  const zero = f32x4.splat(0);
  let i = 0;
  if (acc) {
    for (; i + 4 <= n; i += 4) {
      const pass = f32x4.gt(v128.load(at(x, i)), zero);
      v128.store(at(dx, i), f32x4.add(v128.load(at(dx, i)), v128.and(v128.load(at(dy, i)), pass)));
    }
  } else {
    for (; i + 4 <= n; i += 4) {
      const pass = f32x4.gt(v128.load(at(x, i)), zero);
      v128.store(at(dx, i), v128.and(v128.load(at(dy, i)), pass));
    }
  }
  for (; i < n; i++) reluBack1(dy, x, dx, i, acc);
}

@inline function reluBack1(dy: usize, x: usize, dx: usize, i: i32, acc: i32): void {
  const g: f32 = load<f32>(at(x, i)) > 0 ? load<f32>(at(dy, i)) : 0;
  store<f32>(at(dx, i), acc ? load<f32>(at(dx, i)) + g : g);
}

/** Scalar twin of {@link relu_backward_f32}. */
export function relu_backward_f32_scalar(dy: usize, x: usize, dx: usize, n: i32, acc: i32): void {
  assert(n >= 0, 'relu_backward_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) reluBack1(dy, x, dx, i, acc);
}

// ---- Leaky ReLU: y = x > 0 ? x : α·x ----------------------------------------------------

/** y[i] = x[i] > 0 ? x[i] : alpha·x[i]. y may be x. */
export function leaky_relu_f32(x: usize, y: usize, n: i32, alpha: f32): void {
  assert(n >= 0, 'leaky_relu_f32: n < 0');
  const zero = f32x4.splat(0), va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    v128.store(at(y, i), v128.bitselect(v, f32x4.mul(v, va), f32x4.gt(v, zero)));
  }
  for (; i < n; i++) leaky1(x, y, i, alpha);
}

@inline function leaky1(x: usize, y: usize, i: i32, alpha: f32): void {
  const v = load<f32>(at(x, i));
  store<f32>(at(y, i), v > 0 ? v : v * alpha);
}

/** Scalar twin of {@link leaky_relu_f32}. */
export function leaky_relu_f32_scalar(x: usize, y: usize, n: i32, alpha: f32): void {
  assert(n >= 0, 'leaky_relu_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) leaky1(x, y, i, alpha);
}

/** dx[i] (=|+=) x[i] > 0 ? dy[i] : alpha·dy[i]. */
export function leaky_relu_backward_f32(dy: usize, x: usize, dx: usize, n: i32, alpha: f32, acc: i32): void {
  assert(n >= 0, 'leaky_relu_backward_f32: n < 0');
  const zero = f32x4.splat(0), va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const g = v128.load(at(dy, i));
    let d = v128.bitselect(g, f32x4.mul(g, va), f32x4.gt(v128.load(at(x, i)), zero));
    if (acc) d = f32x4.add(v128.load(at(dx, i)), d);
    v128.store(at(dx, i), d);
  }
  for (; i < n; i++) leakyBack1(dy, x, dx, i, alpha, acc);
}

@inline function leakyBack1(dy: usize, x: usize, dx: usize, i: i32, alpha: f32, acc: i32): void {
  const g = load<f32>(at(dy, i));
  const d: f32 = load<f32>(at(x, i)) > 0 ? g : g * alpha;
  store<f32>(at(dx, i), acc ? load<f32>(at(dx, i)) + d : d);
}

/** Scalar twin of {@link leaky_relu_backward_f32}. */
export function leaky_relu_backward_f32_scalar(dy: usize, x: usize, dx: usize, n: i32, alpha: f32, acc: i32): void {
  assert(n >= 0, 'leaky_relu_backward_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) leakyBack1(dy, x, dx, i, alpha, acc);
}

// ---- ELU: y = x > 0 ? x : α·(eˣ − 1) (expm1 keeps precision near 0) ---------------------

/** y[i] = x[i] > 0 ? x[i] : alpha·expm1(x[i]). y may be x. */
export function elu_f32(x: usize, y: usize, n: i32, alpha: f32): void {
  assert(n >= 0, 'elu_f32: n < 0');
  const zero = f32x4.splat(0), va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    const pos = f32x4.gt(v, zero);
    // Only the negative lanes need e^x; skip the call when all four are positive.
    const neg = v128.any_true(v128.not(pos)) ? f32x4.mul(va, expm1_4(v)) : v;
    v128.store(at(y, i), v128.bitselect(v, neg, pos));
  }
  for (; i < n; i++) elu1(x, y, i, alpha);
}

@inline function elu1(x: usize, y: usize, i: i32, alpha: f32): void {
  const v = load<f32>(at(x, i));
  store<f32>(at(y, i), v > 0 ? v : alpha * expm1_1(v));
}

/** Scalar twin of {@link elu_f32}. */
export function elu_f32_scalar(x: usize, y: usize, n: i32, alpha: f32): void {
  assert(n >= 0, 'elu_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) elu1(x, y, i, alpha);
}

/**
 * dx[i] (=|+=) dy[i]·(x[i] > 0 ? 1 : y[i] + alpha), using the forward output y
 * (y + α = α·eˣ for x ≤ 0), so no exponential is recomputed.
 */
export function elu_backward_f32(dy: usize, x: usize, y: usize, dx: usize, n: i32, alpha: f32, acc: i32): void {
  assert(n >= 0, 'elu_backward_f32: n < 0');
  const zero = f32x4.splat(0), va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const g = v128.load(at(dy, i));
    const neg = f32x4.mul(g, f32x4.add(v128.load(at(y, i)), va));
    let d = v128.bitselect(g, neg, f32x4.gt(v128.load(at(x, i)), zero));
    if (acc) d = f32x4.add(v128.load(at(dx, i)), d);
    v128.store(at(dx, i), d);
  }
  for (; i < n; i++) eluBack1(dy, x, y, dx, i, alpha, acc);
}

@inline function eluBack1(dy: usize, x: usize, y: usize, dx: usize, i: i32, alpha: f32, acc: i32): void {
  const g = load<f32>(at(dy, i));
  const d: f32 = load<f32>(at(x, i)) > 0 ? g : g * (load<f32>(at(y, i)) + alpha);
  store<f32>(at(dx, i), acc ? load<f32>(at(dx, i)) + d : d);
}

/** Scalar twin of {@link elu_backward_f32}. */
export function elu_backward_f32_scalar(dy: usize, x: usize, y: usize, dx: usize, n: i32, alpha: f32, acc: i32): void {
  assert(n >= 0, 'elu_backward_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) eluBack1(dy, x, y, dx, i, alpha, acc);
}

// ---- Sigmoid and tanh: backward from the forward output y -------------------------------

/** y[i] = 1 / (1 + e^−x[i]). y may be x. */
export function sigmoid_f32(x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'sigmoid_f32: n < 0');
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), sigmoid_4(v128.load(at(x, i))));
  for (; i < n; i++) store<f32>(at(y, i), sigmoid_1(load<f32>(at(x, i))));
}

/** Scalar twin of {@link sigmoid_f32}. */
export function sigmoid_f32_scalar(x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'sigmoid_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) store<f32>(at(y, i), sigmoid_1(load<f32>(at(x, i))));
}

/** dx[i] (=|+=) dy[i]·y[i]·(1 − y[i]), y = sigmoid(x). */
export function sigmoid_backward_f32(dy: usize, y: usize, dx: usize, n: i32, acc: i32): void {
  assert(n >= 0, 'sigmoid_backward_f32: n < 0');
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const s = v128.load(at(y, i));
    let d = f32x4.mul(f32x4.mul(v128.load(at(dy, i)), s), f32x4.sub(one, s));
    if (acc) d = f32x4.add(v128.load(at(dx, i)), d);
    v128.store(at(dx, i), d);
  }
  for (; i < n; i++) sigmoidBack1(dy, y, dx, i, acc);
}

@inline function sigmoidBack1(dy: usize, y: usize, dx: usize, i: i32, acc: i32): void {
  const s = load<f32>(at(y, i));
  const d = load<f32>(at(dy, i)) * s * (<f32>1 - s);
  store<f32>(at(dx, i), acc ? load<f32>(at(dx, i)) + d : d);
}

/** Scalar twin of {@link sigmoid_backward_f32}. */
export function sigmoid_backward_f32_scalar(dy: usize, y: usize, dx: usize, n: i32, acc: i32): void {
  assert(n >= 0, 'sigmoid_backward_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) sigmoidBack1(dy, y, dx, i, acc);
}

/** y[i] = tanh(x[i]). y may be x. */
export function tanh_f32(x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'tanh_f32: n < 0');
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), tanh_4(v128.load(at(x, i))));
  for (; i < n; i++) store<f32>(at(y, i), tanh_1(load<f32>(at(x, i))));
}

/** Scalar twin of {@link tanh_f32}. */
export function tanh_f32_scalar(x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'tanh_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) store<f32>(at(y, i), tanh_1(load<f32>(at(x, i))));
}

/** dx[i] (=|+=) dy[i]·(1 − y[i]²), y = tanh(x). */
export function tanh_backward_f32(dy: usize, y: usize, dx: usize, n: i32, acc: i32): void {
  assert(n >= 0, 'tanh_backward_f32: n < 0');
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const t = v128.load(at(y, i));
    let d = f32x4.mul(v128.load(at(dy, i)), f32x4.sub(one, f32x4.mul(t, t)));
    if (acc) d = f32x4.add(v128.load(at(dx, i)), d);
    v128.store(at(dx, i), d);
  }
  for (; i < n; i++) tanhBack1(dy, y, dx, i, acc);
}

@inline function tanhBack1(dy: usize, y: usize, dx: usize, i: i32, acc: i32): void {
  const t = load<f32>(at(y, i));
  const d = load<f32>(at(dy, i)) * (<f32>1 - t * t);
  store<f32>(at(dx, i), acc ? load<f32>(at(dx, i)) + d : d);
}

/** Scalar twin of {@link tanh_backward_f32}. */
export function tanh_backward_f32_scalar(dy: usize, y: usize, dx: usize, n: i32, acc: i32): void {
  assert(n >= 0, 'tanh_backward_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) tanhBack1(dy, y, dx, i, acc);
}
