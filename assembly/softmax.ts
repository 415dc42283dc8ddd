// Row-wise softmax family over row-major [rows, cols] f32 matrices, rows contiguous.
// Pointers are byte offsets, rows/cols element counts. Every row is shifted by its maximum
// before exponentiation, so logits of any finite magnitude (±1e4 and beyond) stay finite.
// The SIMD kernels sum in four lanes, so they match their scalar twins to rounding (not bit
// for bit); maxima, argmax and the per-element passes are exact.

// ---- Transcendental math: the only place it is spelled out in this file. ----------------
// From vmath: f32x4 exp with a lane-identical scalar twin, and its scalar log.
import { s_exp, s_log, v_exp } from './vmath';

@inline function exp_1(x: f32): f32 {
  return s_exp(x);
}
@inline function log_1(x: f32): f32 {
  return s_log(x);
}
@inline function exp_4(v: v128): v128 {
  return v_exp(v);
}

@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

@inline function hmax(v: v128): f32 {
  return max<f32>(max<f32>(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max<f32>(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

// ---- Row primitives (SIMD, and the plain versions the scalar twins use) ----------------

/** Maximum of x[0..cols); −∞ for an empty row. */
function rowMax(x: usize, cols: i32): f32 {
  let m: f32 = -Infinity;
  let j = 0;
  if (cols >= 4) {
    let m0123 = v128.load(x);
    for (j = 4; j + 4 <= cols; j += 4) m0123 = f32x4.max(m0123, v128.load(at(x, j)));
    m = hmax(m0123);
  }
  for (; j < cols; j++) m = max<f32>(m, load<f32>(at(x, j)));
  return m;
}

function rowMaxScalar(x: usize, cols: i32): f32 {
  let m: f32 = -Infinity;
  for (let j = 0; j < cols; j++) m = max<f32>(m, load<f32>(at(x, j)));
  return m;
}

/** Σ e^(x[j] − m), also writing each term to e[j] unless e is 0. */
function rowExpSum(x: usize, e: usize, cols: i32, m: f32): f32 {
  const vm = f32x4.splat(m);
  let s0123 = f32x4.splat(0);
  let j = 0;
  if (e) {
    for (; j + 4 <= cols; j += 4) {
      const t = exp_4(f32x4.sub(v128.load(at(x, j)), vm));
      v128.store(at(e, j), t);
      s0123 = f32x4.add(s0123, t);
    }
  } else {
    for (; j + 4 <= cols; j += 4) s0123 = f32x4.add(s0123, exp_4(f32x4.sub(v128.load(at(x, j)), vm)));
  }
  let s = hsum(s0123);
  for (; j < cols; j++) {
    const t = exp_1(load<f32>(at(x, j)) - m);
    if (e) store<f32>(at(e, j), t);
    s += t;
  }
  return s;
}

function rowExpSumScalar(x: usize, e: usize, cols: i32, m: f32): f32 {
  let s: f32 = 0;
  for (let j = 0; j < cols; j++) {
    const t = exp_1(load<f32>(at(x, j)) - m);
    if (e) store<f32>(at(e, j), t);
    s += t;
  }
  return s;
}

/** y[j] = x[j]·a (y may be x): normalisation of the exponentials. */
@inline function rowScale(x: usize, y: usize, cols: i32, a: f32): void {
  const va = f32x4.splat(a);
  let j = 0;
  for (; j + 4 <= cols; j += 4) v128.store(at(y, j), f32x4.mul(v128.load(at(x, j)), va));
  for (; j < cols; j++) store<f32>(at(y, j), load<f32>(at(x, j)) * a);
}

@inline function rowScaleScalar(x: usize, y: usize, cols: i32, a: f32): void {
  for (let j = 0; j < cols; j++) store<f32>(at(y, j), load<f32>(at(x, j)) * a);
}

/** y[j] = (x[j] − m) − ls: log-softmax, shifting by the row maximum first (exact for the top logit). */
@inline function rowShift(x: usize, y: usize, cols: i32, m: f32, ls: f32): void {
  const vm = f32x4.splat(m), vls = f32x4.splat(ls);
  let j = 0;
  for (; j + 4 <= cols; j += 4) v128.store(at(y, j), f32x4.sub(f32x4.sub(v128.load(at(x, j)), vm), vls));
  for (; j < cols; j++) store<f32>(at(y, j), (load<f32>(at(x, j)) - m) - ls);
}

@inline function rowShiftScalar(x: usize, y: usize, cols: i32, m: f32, ls: f32): void {
  for (let j = 0; j < cols; j++) store<f32>(at(y, j), (load<f32>(at(x, j)) - m) - ls);
}

@inline function checkRows(rows: i32, cols: i32): void {
  assert(rows >= 0 && cols >= 0, 'softmax: negative size');
  assert(rows == 0 || cols > 0, 'softmax: rows > 0 with cols == 0');
}

// ---- softmax / log-softmax forward ---------------------------------------------------

/** y[r, j] = e^(x[r,j] − max_r) / Σ_j e^(x[r,j] − max_r). y may be x. */
export function softmax_rows_f32(x: usize, y: usize, rows: i32, cols: i32): void {
  checkRows(rows, cols);
  for (let r = 0; r < rows; r++) {
    const xr = at(x, r * cols), yr = at(y, r * cols);
    const s = rowExpSum(xr, yr, cols, rowMax(xr, cols));
    rowScale(yr, yr, cols, <f32>1 / s);
  }
}

/** Scalar twin of {@link softmax_rows_f32}. */
export function softmax_rows_f32_scalar(x: usize, y: usize, rows: i32, cols: i32): void {
  checkRows(rows, cols);
  for (let r = 0; r < rows; r++) {
    const xr = at(x, r * cols), yr = at(y, r * cols);
    const s = rowExpSumScalar(xr, yr, cols, rowMaxScalar(xr, cols));
    rowScaleScalar(yr, yr, cols, <f32>1 / s);
  }
}

/** y[r, j] = (x[r,j] − max_r) − log Σ_j e^(x[r,j] − max_r). y may be x. */
export function log_softmax_rows_f32(x: usize, y: usize, rows: i32, cols: i32): void {
  checkRows(rows, cols);
  for (let r = 0; r < rows; r++) {
    const xr = at(x, r * cols), yr = at(y, r * cols);
    const m = rowMax(xr, cols);
    rowShift(xr, yr, cols, m, log_1(rowExpSum(xr, 0, cols, m)));
  }
}

/** Scalar twin of {@link log_softmax_rows_f32}. */
export function log_softmax_rows_f32_scalar(x: usize, y: usize, rows: i32, cols: i32): void {
  checkRows(rows, cols);
  for (let r = 0; r < rows; r++) {
    const xr = at(x, r * cols), yr = at(y, r * cols);
    const m = rowMaxScalar(xr, cols);
    rowShiftScalar(xr, yr, cols, m, log_1(rowExpSumScalar(xr, 0, cols, m)));
  }
}

// ---- softmax / log-softmax backward ----------------------------------------------------

/** dx (=|+=) y ⊙ (dy − Σ_j dy·y) row by row, y = softmax(x). */
export function softmax_rows_backward_f32(dy: usize, y: usize, dx: usize, rows: i32, cols: i32, acc: i32): void {
  checkRows(rows, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let d0123 = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) d0123 = f32x4.add(d0123, f32x4.mul(v128.load(at(dy, o + j)), v128.load(at(y, o + j))));
    let dot = hsum(d0123);
    for (; j < cols; j++) dot += load<f32>(at(dy, o + j)) * load<f32>(at(y, o + j));
    const vdot = f32x4.splat(dot);
    for (j = 0; j + 4 <= cols; j += 4) {
      let g = f32x4.mul(v128.load(at(y, o + j)), f32x4.sub(v128.load(at(dy, o + j)), vdot));
      if (acc) g = f32x4.add(v128.load(at(dx, o + j)), g);
      v128.store(at(dx, o + j), g);
    }
    for (; j < cols; j++) softmaxBack1(dy, y, dx, o + j, dot, acc);
  }
}

@inline function softmaxBack1(dy: usize, y: usize, dx: usize, i: i32, dot: f32, acc: i32): void {
  const g = load<f32>(at(y, i)) * (load<f32>(at(dy, i)) - dot);
  store<f32>(at(dx, i), acc ? load<f32>(at(dx, i)) + g : g);
}

/** Scalar twin of {@link softmax_rows_backward_f32}. */
export function softmax_rows_backward_f32_scalar(dy: usize, y: usize, dx: usize, rows: i32, cols: i32, acc: i32): void {
  checkRows(rows, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot: f32 = 0;
    for (let j = 0; j < cols; j++) dot += load<f32>(at(dy, o + j)) * load<f32>(at(y, o + j));
    for (let j = 0; j < cols; j++) softmaxBack1(dy, y, dx, o + j, dot, acc);
  }
}

/** dx (=|+=) dy − e^y · Σ_j dy row by row, y = log_softmax(x). */
export function log_softmax_rows_backward_f32(dy: usize, y: usize, dx: usize, rows: i32, cols: i32, acc: i32): void {
  checkRows(rows, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s0123 = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) s0123 = f32x4.add(s0123, v128.load(at(dy, o + j)));
    let s = hsum(s0123);
    for (; j < cols; j++) s += load<f32>(at(dy, o + j));
    const vs = f32x4.splat(s);
    for (j = 0; j + 4 <= cols; j += 4) {
      let g = f32x4.sub(v128.load(at(dy, o + j)), f32x4.mul(exp_4(v128.load(at(y, o + j))), vs));
      if (acc) g = f32x4.add(v128.load(at(dx, o + j)), g);
      v128.store(at(dx, o + j), g);
    }
    for (; j < cols; j++) logSoftmaxBack1(dy, y, dx, o + j, s, acc);
  }
}

@inline function logSoftmaxBack1(dy: usize, y: usize, dx: usize, i: i32, s: f32, acc: i32): void {
  const g = load<f32>(at(dy, i)) - exp_1(load<f32>(at(y, i))) * s;
  store<f32>(at(dx, i), acc ? load<f32>(at(dx, i)) + g : g);
}

/** Scalar twin of {@link log_softmax_rows_backward_f32}. */
export function log_softmax_rows_backward_f32_scalar(dy: usize, y: usize, dx: usize, rows: i32, cols: i32, acc: i32): void {
  checkRows(rows, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s: f32 = 0;
    for (let j = 0; j < cols; j++) s += load<f32>(at(dy, o + j));
    for (let j = 0; j < cols; j++) logSoftmaxBack1(dy, y, dx, o + j, s, acc);
  }
}

// ---- Fused softmax cross-entropy -----------------------------------------------------

/**
 * Cross-entropy of softmax(logits) against integer labels, forward and backward in one pass.
 * logits [rows, cols]; labels: rows i32 class indices in [0, cols); loss: rows f32 per-row
 * losses −log softmax(logits)[label] (0 = do not write); dlogits [rows, cols] receives
 * scale·(softmax − onehot) (0 = do not write; may be logits). Returns Σ losses in f64.
 */
export function softmax_xent_f32(logits: usize, labels: usize, loss: usize, dlogits: usize, rows: i32, cols: i32, scale: f32): f64 {
  checkRows(rows, cols);
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const xr = at(logits, r * cols);
    const label = load<i32>(labels + (<usize>r << 2));
    assert(label >= 0 && label < cols, 'softmax_xent_f32: label out of range');
    const m = rowMax(xr, cols);
    const xl = load<f32>(at(xr, label)) - m; // read before dlogits (which may alias logits) is written
    const dr = dlogits ? at(dlogits, r * cols) : 0;
    const s = rowExpSum(xr, dr, cols, m);
    const l = log_1(s) - xl;
    if (loss) store<f32>(at(loss, r), l);
    total += <f64>l;
    if (dr) {
      const el = load<f32>(at(dr, label));
      rowScale(dr, dr, cols, scale / s);
      store<f32>(at(dr, label), scale * (el / s - 1));
    }
  }
  return total;
}

/** Scalar twin of {@link softmax_xent_f32}. */
export function softmax_xent_f32_scalar(logits: usize, labels: usize, loss: usize, dlogits: usize, rows: i32, cols: i32, scale: f32): f64 {
  checkRows(rows, cols);
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const xr = at(logits, r * cols);
    const label = load<i32>(labels + (<usize>r << 2));
    assert(label >= 0 && label < cols, 'softmax_xent_f32_scalar: label out of range');
    const m = rowMaxScalar(xr, cols);
    const xl = load<f32>(at(xr, label)) - m;
    const dr = dlogits ? at(dlogits, r * cols) : 0;
    const s = rowExpSumScalar(xr, dr, cols, m);
    const l = log_1(s) - xl;
    if (loss) store<f32>(at(loss, r), l);
    total += <f64>l;
    if (dr) {
      const el = load<f32>(at(dr, label));
      rowScaleScalar(dr, dr, cols, scale / s);
      store<f32>(at(dr, label), scale * (el / s - 1));
    }
  }
  return total;
}

/**
 * Cross-entropy against soft targets (probability rows, e.g. a teacher's softmax for
 * distillation): loss_r = −Σ_j t[r,j]·log_softmax(logits)[r,j] (no −Σ t·log t term, so it is
 * the cross-entropy, not the KL divergence); dlogits = scale·(T_r·softmax − t) with
 * T_r = Σ_j t[r,j], the exact gradient, which is scale·(softmax − t) when rows sum to 1.
 * targets [rows, cols]; loss (rows f32) and dlogits may be 0. dlogits may alias logits but
 * not targets. Returns Σ losses in f64.
 */
export function soft_xent_f32(logits: usize, targets: usize, loss: usize, dlogits: usize, rows: i32, cols: i32, scale: f32): f64 {
  checkRows(rows, cols);
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const xr = at(logits, o), tr = at(targets, o);
    const m = rowMax(xr, cols);
    // Σ t and Σ t·(x − m) first: dlogits may alias logits.
    const vm = f32x4.splat(m);
    let t0123 = f32x4.splat(0), tx0123 = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const t = v128.load(at(tr, j));
      t0123 = f32x4.add(t0123, t);
      tx0123 = f32x4.add(tx0123, f32x4.mul(t, f32x4.sub(v128.load(at(xr, j)), vm)));
    }
    let tsum = hsum(t0123), tx = hsum(tx0123);
    for (; j < cols; j++) {
      const t = load<f32>(at(tr, j));
      tsum += t;
      tx += t * (load<f32>(at(xr, j)) - m);
    }
    const dr = dlogits ? at(dlogits, o) : 0;
    const s = rowExpSum(xr, dr, cols, m);
    const l = tsum * log_1(s) - tx;
    if (loss) store<f32>(at(loss, r), l);
    total += <f64>l;
    if (dr) {
      const a = scale * tsum / s;
      const va = f32x4.splat(a), vsc = f32x4.splat(scale);
      for (j = 0; j + 4 <= cols; j += 4) {
        v128.store(at(dr, j), f32x4.sub(f32x4.mul(v128.load(at(dr, j)), va), f32x4.mul(v128.load(at(tr, j)), vsc)));
      }
      for (; j < cols; j++) store<f32>(at(dr, j), load<f32>(at(dr, j)) * a - load<f32>(at(tr, j)) * scale);
    }
  }
  return total;
}

/** Scalar twin of {@link soft_xent_f32}. */
export function soft_xent_f32_scalar(logits: usize, targets: usize, loss: usize, dlogits: usize, rows: i32, cols: i32, scale: f32): f64 {
  checkRows(rows, cols);
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const xr = at(logits, o), tr = at(targets, o);
    const m = rowMaxScalar(xr, cols);
    let tsum: f32 = 0, tx: f32 = 0;
    for (let j = 0; j < cols; j++) {
      const t = load<f32>(at(tr, j));
      tsum += t;
      tx += t * (load<f32>(at(xr, j)) - m);
    }
    const dr = dlogits ? at(dlogits, o) : 0;
    const s = rowExpSumScalar(xr, dr, cols, m);
    const l = tsum * log_1(s) - tx;
    if (loss) store<f32>(at(loss, r), l);
    total += <f64>l;
    if (dr) {
      const a = scale * tsum / s;
      for (let j = 0; j < cols; j++) store<f32>(at(dr, j), load<f32>(at(dr, j)) * a - load<f32>(at(tr, j)) * scale);
    }
  }
  return total;
}

// ---- argmax ----------------------------------------------------------------------------

/** out[r] (i32) = the first index of the largest value of row r (NaN-free rows). */
export function argmax_rows_f32(x: usize, out: usize, rows: i32, cols: i32): void {
  checkRows(rows, cols);
  for (let r = 0; r < rows; r++) {
    const xr = at(x, r * cols);
    const m = rowMax(xr, cols);
    // The maximum is exact, so the first element equal to it is the first argmax.
    let j = 0;
    while (j < cols - 1 && load<f32>(at(xr, j)) != m) j++;
    store<i32>(out + (<usize>r << 2), j);
  }
}

/** Scalar twin of {@link argmax_rows_f32}. */
export function argmax_rows_f32_scalar(x: usize, out: usize, rows: i32, cols: i32): void {
  checkRows(rows, cols);
  for (let r = 0; r < rows; r++) {
    const xr = at(x, r * cols);
    let best = 0;
    let m = load<f32>(xr);
    for (let j = 1; j < cols; j++) {
      const v = load<f32>(at(xr, j));
      if (v > m) { m = v; best = j; }
    }
    store<i32>(out + (<usize>r << 2), best);
  }
}
