// Dense matrix products, row-major f32. Pointers are byte offsets; m, n, k and the leading
// dimensions (lda, ldb, ldc) are in elements. bias (length n, added to every row) is optional:
// pass 0 for none. acc = 0 overwrites C, acc = 1 adds to it. C must not overlap A, B or bias.
//
// The blocked engine (packing, micro-kernels; GotoBLAS / BLIS structure) is in gemm_engine.ts;
// this file holds the exported kernels, the m = 1 streaming path (also the batch-1 product that
// skips zero inputs) and the scalar twins.
import { LIVE_MAX, gemmBlocked, gemmLive, gemmScratchBytes, liveIndices } from './gemm_engine';

/** Bytes of static scratch the GEMM kernels reserve (informational: nothing to pass). */
export function gemm_f32_scratch_bytes(): i32 {
  return gemmScratchBytes() + (GEMV_COLS + LIVE_MAX) * 4;
}

/** C[m×n] (=|+=) A[m×k] · B[k×n] (+ bias). */
export function gemm_f32_nn(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  checkArgs(m, n, k, lda, k, ldb, n, ldc);
  if (m == 1 && k > 0) gemvRows(n, k, a, 1, b, ldb, c, bias, acc, false);
  else gemmBlocked(false, false, m, n, k, a, lda, b, ldb, c, ldc, bias, acc);
}

/** C[m×n] (=|+=) A[m×k] · B[n×k]ᵀ (+ bias). */
export function gemm_f32_nt(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  checkArgs(m, n, k, lda, k, ldb, k, ldc);
  gemmBlocked(false, true, m, n, k, a, lda, b, ldb, c, ldc, bias, acc);
}

/** C[m×n] (=|+=) A[k×m]ᵀ · B[k×n] (+ bias). */
export function gemm_f32_tn(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  checkArgs(m, n, k, lda, m, ldb, n, ldc);
  if (m == 1 && k > 0) gemvRows(n, k, a, lda, b, ldb, c, bias, acc, false);
  else gemmBlocked(true, false, m, n, k, a, lda, b, ldb, c, ldc, bias, acc);
}

// @ts-ignore: decorator
@inline
function checkArgs(m: i32, n: i32, k: i32, lda: i32, rowA: i32, ldb: i32, rowB: i32, ldc: i32): void {
  assert(m >= 0 && n >= 0 && k >= 0, 'gemm: m, n, k must be >= 0');
  assert(lda >= rowA && ldb >= rowB && ldc >= n, 'gemm: leading dimension shorter than a row');
}


/** Columns per chunk of the streaming GEMV: its partial sums (4 KiB) stay in L1. */
const GEMV_COLS = 1024;
const gemvSums: usize = memory.data(GEMV_COLS * 4, 16);

/**
 * d[0:w] += x0·b0[0:w] + x1·b1[0:w] + x2·b2[0:w] + x3·b3[0:w], each d[j] in that order
 * (x0..x3 splatted). Pointers bumped rather than base + offset: wasm32 addresses cost an add each.
 */
// @ts-ignore: decorator
@inline function addRows4(d: usize, w: i32, x0: v128, x1: v128, x2: v128, x3: v128, b0: usize, b1: usize, b2: usize, b3: usize): void {
  let dp = d, q0 = b0, q1 = b1, q2 = b2, q3 = b3;
  const dEnd8 = d + (<usize>(w & ~7) << 2), dEnd4 = d + (<usize>(w & ~3) << 2), dEnd = d + (<usize>w << 2);
  while (dp < dEnd8) {
    let s0123 = v128.load(dp), s4567 = v128.load(dp, 16);
    s0123 = f32x4.add(s0123, f32x4.mul(x0, v128.load(q0)));
    s4567 = f32x4.add(s4567, f32x4.mul(x0, v128.load(q0, 16)));
    s0123 = f32x4.add(s0123, f32x4.mul(x1, v128.load(q1)));
    s4567 = f32x4.add(s4567, f32x4.mul(x1, v128.load(q1, 16)));
    s0123 = f32x4.add(s0123, f32x4.mul(x2, v128.load(q2)));
    s4567 = f32x4.add(s4567, f32x4.mul(x2, v128.load(q2, 16)));
    s0123 = f32x4.add(s0123, f32x4.mul(x3, v128.load(q3)));
    s4567 = f32x4.add(s4567, f32x4.mul(x3, v128.load(q3, 16)));
    v128.store(dp, s0123);
    v128.store(dp, s4567, 16);
    dp += 32; q0 += 32; q1 += 32; q2 += 32; q3 += 32;
  }
  if (dp < dEnd4) {
    let s = v128.load(dp);
    s = f32x4.add(s, f32x4.mul(x0, v128.load(q0)));
    s = f32x4.add(s, f32x4.mul(x1, v128.load(q1)));
    s = f32x4.add(s, f32x4.mul(x2, v128.load(q2)));
    s = f32x4.add(s, f32x4.mul(x3, v128.load(q3)));
    v128.store(dp, s);
    dp += 16; q0 += 16; q1 += 16; q2 += 16; q3 += 16;
  }
  const xs0 = f32x4.extract_lane(x0, 0), xs1 = f32x4.extract_lane(x1, 0), xs2 = f32x4.extract_lane(x2, 0), xs3 = f32x4.extract_lane(x3, 0);
  while (dp < dEnd) {
    let s = load<f32>(dp);
    s += xs0 * load<f32>(q0);
    s += xs1 * load<f32>(q1);
    s += xs2 * load<f32>(q2);
    s += xs3 * load<f32>(q3);
    store<f32>(dp, s);
    dp += 4; q0 += 4; q1 += 4; q2 += 4; q3 += 4;
  }
}

/** d[0:w] += x0·b0[0:w] (x0 splatted). */
// @ts-ignore: decorator
@inline function addRow1(d: usize, w: i32, x0: v128, b0: usize): void {
  const w4 = w & ~3;
  for (let j = 0; j < w4; j += 4) {
    const o = <usize>j << 2;
    v128.store(d + o, f32x4.add(v128.load(d + o), f32x4.mul(x0, v128.load(b0 + o))));
  }
  const xs = f32x4.extract_lane(x0, 0);
  for (let j = w4; j < w; j++) {
    const o = <usize>j << 2;
    store<f32>(d + o, load<f32>(d + o) + xs * load<f32>(b0 + o));
  }
}

/** c[0:w] = (acc ? c : 0) + bias + d, in the scalar twin's order (bias 0 = none). */
// @ts-ignore: decorator
@inline function storeGemv(c: usize, d: usize, w: i32, bias: usize, acc: i32): void {
  for (let j = 0; j < w; j++) {
    const o = <usize>j << 2;
    let s: f32 = acc ? load<f32>(c + o) : 0;
    if (bias) s += load<f32>(bias + o);
    store<f32>(c + o, s + load<f32>(d + o));
  }
}

/**
 * m = 1 (a row vector times B[k×n]): packing cannot pay off since B is read once, and the
 * product is bound by how fast B streams in. So walk B row by row (contiguous), four rows per
 * pass, adding into partial sums d[j] kept in gemvSums; then C = prior + d. Each d[j]
 * is still summed in p order. x[p] sits at x[p*incx]. Measured 1x784x300: 31-35 GFLOP/s,
 * against 24 for a column-block form with register accumulators and strided rows.
 * With skipZeros (incx = 1) the passes take only the rows whose x[p] is not 0 (gathered by
 * liveIndices, in p order); else every row, in chunks of LIVE_MAX listed in order.
 */
function gemvRows(n: i32, k: i32, x: usize, incx: i32, b: usize, ldb: i32, c: usize, bias: usize, acc: i32, skipZeros: bool): void {
  const d = gemvSums;
  const xStep = <usize>incx << 2;
  const bStep = <usize>ldb << 2;
  for (let j0 = 0; j0 < n; j0 += GEMV_COLS) {
    const w = min(GEMV_COLS, n - j0);
    memory.fill(d, 0, <usize>w << 2);
    for (let p0 = 0; p0 < k; p0 += LIVE_MAX) {
      const kc = min(LIVE_MAX, k - p0);
      const xc = x + <usize>p0 * xStep, bc = b + (<usize>j0 << 2) + <usize>p0 * bStep;
      let live = kc;
      if (skipZeros) live = liveIndices(xc, kc);
      else for (let p = 0; p < kc; p++) store<i32>(gemmLive + (<usize>p << 2), p);
      let q = 0;
      for (; q + 4 <= live; q += 4) {
        const i = gemmLive + (<usize>q << 2);
        const r0 = <usize>load<i32>(i), r1 = <usize>load<i32>(i, 4), r2 = <usize>load<i32>(i, 8), r3 = <usize>load<i32>(i, 12);
        addRows4(d, w, v128.load32_splat(xc + r0 * xStep), v128.load32_splat(xc + r1 * xStep), v128.load32_splat(xc + r2 * xStep),
          v128.load32_splat(xc + r3 * xStep), bc + r0 * bStep, bc + r1 * bStep, bc + r2 * bStep, bc + r3 * bStep);
      }
      for (; q < live; q++) {
        const r = <usize>load<i32>(gemmLive + (<usize>q << 2));
        addRow1(d, w, v128.load32_splat(xc + r * xStep), bc + r * bStep);
      }
    }
    storeGemv(c + (<usize>j0 << 2), d, w, bias ? bias + (<usize>j0 << 2) : 0, acc);
  }
}

/**
 * y[n] = x[k]·B[k×n] + bias[n] (0 = none) for one sample, rows of B whose input is zero
 * skipped (±0: a ReLU's zeros, an image's background). Each y[j] sums the live rows in p order
 * from +0 and adds the bias as gemm_f32_nn does, so with finite B the bits are gemm_f32_nn's at
 * m = 1 (a skipped term x·b = ±0 never changes a sum that started at +0) and those of a CSR of
 * Bᵀ through spmm_f32_csr; the cost is the live rows, four per pass. An infinite b against
 * x = 0 is skipped, not NaN (inference weights are finite). y must not overlap x, B or bias.
 */
export function gemv_f32_skip_zeros(n: i32, k: i32, x: usize, b: usize, ldb: i32, bias: usize, y: usize): void {
  checkArgs(1, n, k, k, k, ldb, n, n);
  gemvRows(n, k, x, 1, b, ldb, y, bias, 0, true);
}

/** Scalar twin of {@link gemv_f32_skip_zeros} (plain loops, same order): the test oracle. */
export function gemv_f32_skip_zeros_scalar(n: i32, k: i32, x: usize, b: usize, ldb: i32, bias: usize, y: usize): void {
  checkArgs(1, n, k, k, k, ldb, n, n);
  for (let j = 0; j < n; j++) {
    let s: f32 = 0;
    if (bias) s += load<f32>(bias + (<usize>j << 2));
    let d: f32 = 0;
    for (let p = 0; p < k; p++) {
      const xp = load<f32>(x + (<usize>p << 2));
      if (xp != 0) d += xp * load<f32>(b + (<usize>(p * ldb + j) << 2));
    }
    store<f32>(y + (<usize>j << 2), s + d);
  }
}

/**
 * Plain-SIMD throughput probe for benchmarks: 12 independent chains acc = acc·x + 1 (one
 * f32x4.mul and one f32x4.add each), two rounds per iteration: 192 flops per iteration.
 * The multiplied operand is the chain itself, so nothing is loop-invariant for V8 to hoist;
 * x = 0.5 keeps every chain near its fixed point 2 (no overflow, no denormals). Twelve chains
 * cover the mul + add latency (10 did not quite); 12 + 2 constants still fit in registers.
 * Returns a sum so the work stays live.
 */
export function simd_peak_f32(iters: i32): f32 {
  const x = f32x4.splat(0.5), one = f32x4.splat(1);
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(1), acc2 = f32x4.splat(2), acc3 = f32x4.splat(3);
  let acc4 = f32x4.splat(4), acc5 = f32x4.splat(5), acc6 = f32x4.splat(6), acc7 = f32x4.splat(7);
  let acc8 = f32x4.splat(8), acc9 = f32x4.splat(9), acc10 = f32x4.splat(10), acc11 = f32x4.splat(11);
  for (let i = 0; i < iters; i++) {
    // Round 1.
    acc0 = f32x4.add(f32x4.mul(acc0, x), one);
    acc1 = f32x4.add(f32x4.mul(acc1, x), one);
    acc2 = f32x4.add(f32x4.mul(acc2, x), one);
    acc3 = f32x4.add(f32x4.mul(acc3, x), one);
    acc4 = f32x4.add(f32x4.mul(acc4, x), one);
    acc5 = f32x4.add(f32x4.mul(acc5, x), one);
    acc6 = f32x4.add(f32x4.mul(acc6, x), one);
    acc7 = f32x4.add(f32x4.mul(acc7, x), one);
    acc8 = f32x4.add(f32x4.mul(acc8, x), one);
    acc9 = f32x4.add(f32x4.mul(acc9, x), one);
    acc10 = f32x4.add(f32x4.mul(acc10, x), one);
    acc11 = f32x4.add(f32x4.mul(acc11, x), one);
    // Round 2 (written out: binaryen does not unroll the loop).
    acc0 = f32x4.add(f32x4.mul(acc0, x), one);
    acc1 = f32x4.add(f32x4.mul(acc1, x), one);
    acc2 = f32x4.add(f32x4.mul(acc2, x), one);
    acc3 = f32x4.add(f32x4.mul(acc3, x), one);
    acc4 = f32x4.add(f32x4.mul(acc4, x), one);
    acc5 = f32x4.add(f32x4.mul(acc5, x), one);
    acc6 = f32x4.add(f32x4.mul(acc6, x), one);
    acc7 = f32x4.add(f32x4.mul(acc7, x), one);
    acc8 = f32x4.add(f32x4.mul(acc8, x), one);
    acc9 = f32x4.add(f32x4.mul(acc9, x), one);
    acc10 = f32x4.add(f32x4.mul(acc10, x), one);
    acc11 = f32x4.add(f32x4.mul(acc11, x), one);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(acc0, acc1), f32x4.add(acc2, acc3)), f32x4.add(f32x4.add(acc4, acc5), f32x4.add(acc6, acc7))),
    f32x4.add(f32x4.add(acc8, acc9), f32x4.add(acc10, acc11)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/**
 * The three scalar twins share one naive loop over strided operands:
 * A[i, p] = a[i·ai + p·ap], B[p, j] = b[p·bp + j·bj] (strides in elements).
 */
@inline function gemmScalar(m: i32, n: i32, k: i32, a: usize, ai: i32, ap: i32, b: usize, bp: i32, bj: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s: f32 = acc ? load<f32>(c + (<usize>(i * ldc + j) << 2)) : 0;
      if (bias) s += load<f32>(bias + (<usize>j << 2));
      let d: f32 = 0;
      for (let p = 0; p < k; p++) d += load<f32>(a + (<usize>(i * ai + p * ap) << 2)) * load<f32>(b + (<usize>(p * bp + j * bj) << 2));
      store<f32>(c + (<usize>(i * ldc + j) << 2), s + d);
    }
  }
}

/** Scalar twin of {@link gemm_f32_nn}: the test oracle. */
export function gemm_f32_nn_scalar(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  gemmScalar(m, n, k, a, lda, 1, b, ldb, 1, c, ldc, bias, acc);
}

/** Scalar twin of {@link gemm_f32_nt}. */
export function gemm_f32_nt_scalar(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  gemmScalar(m, n, k, a, lda, 1, b, 1, ldb, c, ldc, bias, acc);
}

/** Scalar twin of {@link gemm_f32_tn}. */
export function gemm_f32_tn_scalar(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  gemmScalar(m, n, k, a, 1, lda, b, ldb, 1, c, ldc, bias, acc);
}
