// Elementwise maps and reductions over flat f32 arrays. Pointers are byte offsets, n/rows/cols
// element counts. Maps and the column sums run the same operations in the same order as their
// scalar twins (bit-identical); the f64 reductions (sum, sum of squares, dot) sum in lanes, so
// they match their twins to rounding. Outputs may alias inputs exactly (in-place use).

@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

/** The high two lanes of an f32x4 promoted to f64x2 (promote_low takes lanes 0 and 1). */
@inline function promoteHigh(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
}

@inline function hsum64(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

// ---- fill / copy / scale / axpy ----------------------------------------------------------

/** x[i] = v. */
export function fill_f32(x: usize, n: i32, v: f32): void {
  assert(n >= 0, 'fill_f32: n < 0');
  const vv = f32x4.splat(v);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(x, i), vv);
  for (; i < n; i++) store<f32>(at(x, i), v);
}

/** Scalar twin of {@link fill_f32}. */
export function fill_f32_scalar(x: usize, n: i32, v: f32): void {
  assert(n >= 0, 'fill_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) store<f32>(at(x, i), v);
}

/** y[i] = x[i] (regions must not overlap unless equal). */
export function copy_f32(x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'copy_f32: n < 0');
  memory.copy(y, x, <usize>n << 2);
}

/** Scalar twin of {@link copy_f32}. */
export function copy_f32_scalar(x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'copy_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) store<f32>(at(y, i), load<f32>(at(x, i)));
}

/** y[i] = a·x[i]. */
export function scale_f32(x: usize, y: usize, n: i32, a: f32): void {
  assert(n >= 0, 'scale_f32: n < 0');
  const va = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), f32x4.mul(v128.load(at(x, i)), va));
  for (; i < n; i++) store<f32>(at(y, i), load<f32>(at(x, i)) * a);
}

/** Scalar twin of {@link scale_f32}. */
export function scale_f32_scalar(x: usize, y: usize, n: i32, a: f32): void {
  assert(n >= 0, 'scale_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) store<f32>(at(y, i), load<f32>(at(x, i)) * a);
}

/** y[i] += a·x[i]. */
export function axpy_f32(x: usize, y: usize, n: i32, a: f32): void {
  assert(n >= 0, 'axpy_f32: n < 0');
  const va = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), f32x4.add(v128.load(at(y, i)), f32x4.mul(v128.load(at(x, i)), va)));
  for (; i < n; i++) store<f32>(at(y, i), load<f32>(at(y, i)) + load<f32>(at(x, i)) * a);
}

/** Scalar twin of {@link axpy_f32}. */
export function axpy_f32_scalar(x: usize, y: usize, n: i32, a: f32): void {
  assert(n >= 0, 'axpy_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) store<f32>(at(y, i), load<f32>(at(y, i)) + load<f32>(at(x, i)) * a);
}

// ---- binary maps: y = a ∘ b ----------------------------------------------------------------

/** y[i] = a[i] + b[i]. */
export function add_f32(a: usize, b: usize, y: usize, n: i32): void {
  assert(n >= 0, 'add_f32: n < 0');
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), f32x4.add(v128.load(at(a, i)), v128.load(at(b, i))));
  for (; i < n; i++) store<f32>(at(y, i), load<f32>(at(a, i)) + load<f32>(at(b, i)));
}

/** Scalar twin of {@link add_f32}. */
export function add_f32_scalar(a: usize, b: usize, y: usize, n: i32): void {
  assert(n >= 0, 'add_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) store<f32>(at(y, i), load<f32>(at(a, i)) + load<f32>(at(b, i)));
}

/** y[i] = a[i] − b[i]. */
export function sub_f32(a: usize, b: usize, y: usize, n: i32): void {
  assert(n >= 0, 'sub_f32: n < 0');
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), f32x4.sub(v128.load(at(a, i)), v128.load(at(b, i))));
  for (; i < n; i++) store<f32>(at(y, i), load<f32>(at(a, i)) - load<f32>(at(b, i)));
}

/** Scalar twin of {@link sub_f32}. */
export function sub_f32_scalar(a: usize, b: usize, y: usize, n: i32): void {
  assert(n >= 0, 'sub_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) store<f32>(at(y, i), load<f32>(at(a, i)) - load<f32>(at(b, i)));
}

/** y[i] = a[i]·b[i]. */
export function mul_f32(a: usize, b: usize, y: usize, n: i32): void {
  assert(n >= 0, 'mul_f32: n < 0');
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), f32x4.mul(v128.load(at(a, i)), v128.load(at(b, i))));
  for (; i < n; i++) store<f32>(at(y, i), load<f32>(at(a, i)) * load<f32>(at(b, i)));
}

/** Scalar twin of {@link mul_f32}. */
export function mul_f32_scalar(a: usize, b: usize, y: usize, n: i32): void {
  assert(n >= 0, 'mul_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) store<f32>(at(y, i), load<f32>(at(a, i)) * load<f32>(at(b, i)));
}

/** y[i] = x[i]². */
export function square_f32(x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'square_f32: n < 0');
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    v128.store(at(y, i), f32x4.mul(v, v));
  }
  for (; i < n; i++) {
    const v = load<f32>(at(x, i));
    store<f32>(at(y, i), v * v);
  }
}

/** Scalar twin of {@link square_f32}. */
export function square_f32_scalar(x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'square_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) {
    const v = load<f32>(at(x, i));
    store<f32>(at(y, i), v * v);
  }
}

/** y[i] = min(max(x[i], lo), hi) (lo ≤ hi). */
export function clip_f32(x: usize, y: usize, n: i32, lo: f32, hi: f32): void {
  assert(n >= 0 && lo <= hi, 'clip_f32: n < 0 or lo > hi');
  const vlo = f32x4.splat(lo), vhi = f32x4.splat(hi);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), f32x4.min(f32x4.max(v128.load(at(x, i)), vlo), vhi));
  for (; i < n; i++) store<f32>(at(y, i), min<f32>(max<f32>(load<f32>(at(x, i)), lo), hi));
}

/** Scalar twin of {@link clip_f32}. */
export function clip_f32_scalar(x: usize, y: usize, n: i32, lo: f32, hi: f32): void {
  assert(n >= 0 && lo <= hi, 'clip_f32_scalar: n < 0 or lo > hi');
  for (let i = 0; i < n; i++) store<f32>(at(y, i), min<f32>(max<f32>(load<f32>(at(x, i)), lo), hi));
}

// ---- row/column broadcasts -----------------------------------------------------------

/** y[r, j] += bias[j] for every row r of the row-major [rows, cols] matrix y. */
export function add_bias_rows_f32(y: usize, bias: usize, rows: i32, cols: i32): void {
  assert(rows >= 0 && cols >= 0, 'add_bias_rows_f32: negative size');
  for (let r = 0; r < rows; r++) add_f32(at(y, r * cols), bias, at(y, r * cols), cols);
}

/** Scalar twin of {@link add_bias_rows_f32}. */
export function add_bias_rows_f32_scalar(y: usize, bias: usize, rows: i32, cols: i32): void {
  assert(rows >= 0 && cols >= 0, 'add_bias_rows_f32_scalar: negative size');
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const p = at(y, r * cols + j);
      store<f32>(p, load<f32>(p) + load<f32>(at(bias, j)));
    }
  }
}

/**
 * out[j] (=|+=) Σ_r x[r, j]: column sums of the row-major [rows, cols] matrix x (bias
 * gradients). Rows are added in order into out, so memory is read sequentially.
 */
export function colsum_f32(x: usize, out: usize, rows: i32, cols: i32, acc: i32): void {
  assert(rows >= 0 && cols >= 0, 'colsum_f32: negative size');
  if (!acc) fill_f32(out, cols, 0);
  for (let r = 0; r < rows; r++) add_f32(out, at(x, r * cols), out, cols);
}

/** Scalar twin of {@link colsum_f32}: column by column. */
export function colsum_f32_scalar(x: usize, out: usize, rows: i32, cols: i32, acc: i32): void {
  assert(rows >= 0 && cols >= 0, 'colsum_f32_scalar: negative size');
  for (let j = 0; j < cols; j++) {
    let s: f32 = acc ? load<f32>(at(out, j)) : 0;
    for (let r = 0; r < rows; r++) s += load<f32>(at(x, r * cols + j));
    store<f32>(at(out, j), s);
  }
}

// ---- reductions ----------------------------------------------------------------------

/** Σ x[i], accumulated in f64. */
export function sum_f32(x: usize, n: i32): f64 {
  assert(n >= 0, 'sum_f32: n < 0');
  let s01 = f64x2.splat(0), s23 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    s01 = f64x2.add(s01, f64x2.promote_low_f32x4(v));
    s23 = f64x2.add(s23, promoteHigh(v));
  }
  let s = hsum64(f64x2.add(s01, s23));
  for (; i < n; i++) s += <f64>load<f32>(at(x, i));
  return s;
}

/** Scalar twin of {@link sum_f32}. */
export function sum_f32_scalar(x: usize, n: i32): f64 {
  assert(n >= 0, 'sum_f32_scalar: n < 0');
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += <f64>load<f32>(at(x, i));
  return s;
}

/** Σ x[i]², accumulated in f64 (each square exact in f64). */
export function sumsq_f32(x: usize, n: i32): f64 {
  return dot_f32(x, x, n);
}

/** Scalar twin of {@link sumsq_f32}. */
export function sumsq_f32_scalar(x: usize, n: i32): f64 {
  return dot_f32_scalar(x, x, n);
}

/** Σ a[i]·b[i], accumulated in f64 (each product of two f32 is exact in f64). */
export function dot_f32(a: usize, b: usize, n: i32): f64 {
  assert(n >= 0, 'dot_f32: n < 0');
  let s01 = f64x2.splat(0), s23 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const va = v128.load(at(a, i)), vb = v128.load(at(b, i));
    s01 = f64x2.add(s01, f64x2.mul(f64x2.promote_low_f32x4(va), f64x2.promote_low_f32x4(vb)));
    s23 = f64x2.add(s23, f64x2.mul(promoteHigh(va), promoteHigh(vb)));
  }
  let s = hsum64(f64x2.add(s01, s23));
  for (; i < n; i++) s += <f64>load<f32>(at(a, i)) * <f64>load<f32>(at(b, i));
  return s;
}

/** Scalar twin of {@link dot_f32}. */
export function dot_f32_scalar(a: usize, b: usize, n: i32): f64 {
  assert(n >= 0, 'dot_f32_scalar: n < 0');
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += <f64>load<f32>(at(a, i)) * <f64>load<f32>(at(b, i));
  return s;
}

/** Number of NaN or ±∞ elements (exponent bits all ones), to detect divergence. */
export function count_nonfinite_f32(x: usize, n: i32): i32 {
  assert(n >= 0, 'count_nonfinite_f32: n < 0');
  const expMask = i32x4.splat(0x7f800000);
  let c0123 = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    // A lane that is not finite compares to −1: subtracting it counts one.
    c0123 = i32x4.sub(c0123, i32x4.eq(v128.and(v128.load(at(x, i)), expMask), expMask));
  }
  let c = i32x4.extract_lane(c0123, 0) + i32x4.extract_lane(c0123, 1) + i32x4.extract_lane(c0123, 2) + i32x4.extract_lane(c0123, 3);
  for (; i < n; i++) if ((load<u32>(at(x, i)) & 0x7f800000) == 0x7f800000) c++;
  return c;
}

/** Scalar twin of {@link count_nonfinite_f32}. */
export function count_nonfinite_f32_scalar(x: usize, n: i32): i32 {
  assert(n >= 0, 'count_nonfinite_f32_scalar: n < 0');
  let c = 0;
  for (let i = 0; i < n; i++) if ((load<u32>(at(x, i)) & 0x7f800000) == 0x7f800000) c++;
  return c;
}

/** Elements per block of {@link first_nonfinite_f32}: one branch per block keeps the scan branch-free. */
const FINITE_BLOCK = 64;

/**
 * Index of the first NaN or ±∞ element of x[0..n) (exponent bits all ones), or −1 when every
 * element is finite: the per-layer divergence check. Scans blocks of 64 with two ops a vector
 * (an unsigned max of the exponent bits), and only a block that holds a non-finite value is
 * searched element by element, so a finite buffer is read once at memory speed.
 */
export function first_nonfinite_f32(x: usize, n: i32): i32 {
  assert(n >= 0, 'first_nonfinite_f32: n < 0');
  const expMask = i32x4.splat(0x7f800000);
  let i = 0;
  while (i + FINITE_BLOCK <= n) {
    // Exponent fields are compared as unsigned integers: all ones is the largest.
    let e0123 = i32x4.splat(0), e4567 = i32x4.splat(0);
    const end = i + FINITE_BLOCK;
    for (let j = i; j < end; j += 8) {
      e0123 = i32x4.max_u(e0123, v128.and(v128.load(at(x, j)), expMask));
      e4567 = i32x4.max_u(e4567, v128.and(v128.load(at(x, j + 4)), expMask));
    }
    if (v128.any_true(i32x4.eq(i32x4.max_u(e0123, e4567), expMask))) break;
    i = end;
  }
  for (; i < n; i++) if ((load<u32>(at(x, i)) & 0x7f800000) == 0x7f800000) return i;
  return -1;
}

/** Scalar twin of {@link first_nonfinite_f32}. */
export function first_nonfinite_f32_scalar(x: usize, n: i32): i32 {
  assert(n >= 0, 'first_nonfinite_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) if ((load<u32>(at(x, i)) & 0x7f800000) == 0x7f800000) return i;
  return -1;
}

/** max |x[i]| (0 for n = 0; NaN if any element is NaN). */
export function maxabs_f32(x: usize, n: i32): f32 {
  assert(n >= 0, 'maxabs_f32: n < 0');
  let m0123 = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) m0123 = f32x4.max(m0123, f32x4.abs(v128.load(at(x, i))));
  let m = max<f32>(max<f32>(f32x4.extract_lane(m0123, 0), f32x4.extract_lane(m0123, 1)),
    max<f32>(f32x4.extract_lane(m0123, 2), f32x4.extract_lane(m0123, 3)));
  for (; i < n; i++) m = max<f32>(m, abs<f32>(load<f32>(at(x, i))));
  return m;
}

/** Scalar twin of {@link maxabs_f32}. */
export function maxabs_f32_scalar(x: usize, n: i32): f32 {
  assert(n >= 0, 'maxabs_f32_scalar: n < 0');
  let m: f32 = 0;
  for (let i = 0; i < n; i++) m = max<f32>(m, abs<f32>(load<f32>(at(x, i))));
  return m;
}

/** √x in f64 inside wasm (IEEE correctly rounded), for norms computed from {@link sumsq_f32}. */
export function sqrt_f64(x: f64): f64 {
  return Math.sqrt(x);
}

/** 1 when a and b hold the same n 32-bit patterns (bitwise: NaN equals the same NaN, +0 ≠ −0), else 0. */
export function equal_bits_f32(a: usize, b: usize, n: i32): i32 {
  assert(n >= 0, 'equal_bits_f32: n < 0');
  let i = 0;
  while (i + 4 <= n) {
    // Differences OR-ed over blocks of up to 256 elements, then one test a block.
    let d = i32x4.splat(0);
    const end = min(n & ~3, i + 256);
    for (; i < end; i += 4) d = v128.or(d, v128.xor(v128.load(at(a, i)), v128.load(at(b, i))));
    if (v128.any_true(d)) return 0;
  }
  for (; i < n; i++) if (load<u32>(at(a, i)) != load<u32>(at(b, i))) return 0;
  return 1;
}

/** Scalar twin of {@link equal_bits_f32}. */
export function equal_bits_f32_scalar(a: usize, b: usize, n: i32): i32 {
  assert(n >= 0, 'equal_bits_f32_scalar: n < 0');
  for (let i = 0; i < n; i++) if (load<u32>(at(a, i)) != load<u32>(at(b, i))) return 0;
  return 1;
}
