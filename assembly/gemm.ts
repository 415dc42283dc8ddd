// Dense matrix products, row-major f32. Pointers are byte offsets; m, n, k and the leading
// dimensions (lda, ldb, ldc) are in elements. bias (length n, added to every row) is optional:
// pass 0 for none. acc = 0 overwrites C, acc = 1 adds to it. C must not overlap A, B or bias.
//
// The blocked engine (packing, micro-kernels; GotoBLAS / BLIS structure) is in gemm_engine.ts;
// this file holds the exported kernels, the m = 1 streaming path and the scalar twins.
import { gemmBlocked, gemmScratchBytes } from './gemm_engine';

/** Bytes of static scratch the GEMM kernels reserve (informational: nothing to pass). */
export function gemm_f32_scratch_bytes(): i32 {
  return gemmScratchBytes() + GEMV_COLS * 4;
}

/** C[m×n] (=|+=) A[m×k] · B[k×n] (+ bias). */
export function gemm_f32_nn(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  checkArgs(m, n, k, lda, k, ldb, n, ldc);
  if (m == 1 && k > 0) gemvRowStream(n, k, a, 1, b, ldb, c, bias, acc);
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
  if (m == 1 && k > 0) gemvRowStream(n, k, a, lda, b, ldb, c, bias, acc);
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
 * m = 1 (a row vector times B[k×n]): packing cannot pay off since B is read once, and the
 * product is bound by how fast B streams in. So walk B row by row (contiguous), four rows per
 * pass, adding into partial sums d[j] kept in gemvSums; then C = prior + d. Each d[j]
 * is still summed in p order. x[p] sits at x[p*incx]. Measured 1x784x300: 31-35 GFLOP/s,
 * against 24 for a column-block form with register accumulators and strided rows.
 */
function gemvRowStream(n: i32, k: i32, x: usize, incx: i32, b: usize, ldb: i32, c: usize, bias: usize, acc: i32): void {
  const d = gemvSums;
  const xStep = <usize>incx << 2;
  const bStep = <usize>ldb << 2;
  for (let j0 = 0; j0 < n; j0 += GEMV_COLS) {
    const w = min(GEMV_COLS, n - j0);
    const w4 = w & ~3;
    memory.fill(d, 0, <usize>w << 2);
    let xp = x;
    let b0 = b + (<usize>j0 << 2);
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const x0 = v128.load32_splat(xp);
      const x1 = v128.load32_splat(xp + xStep);
      const x2 = v128.load32_splat(xp + 2 * xStep);
      const x3 = v128.load32_splat(xp + 3 * xStep);
      const b1 = b0 + bStep, b2 = b1 + bStep, b3 = b2 + bStep;
      // Pointers bumped rather than base + offset: wasm32 addresses cost an add each.
      let dp = d, q0 = b0, q1 = b1, q2 = b2, q3 = b3;
      const dEnd8 = d + (<usize>(w & ~7) << 2);
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
      for (let j = w & ~7; j < w4; j += 4) {
        const o = <usize>j << 2;
        let s = v128.load(d + o);
        s = f32x4.add(s, f32x4.mul(x0, v128.load(b0 + o)));
        s = f32x4.add(s, f32x4.mul(x1, v128.load(b1 + o)));
        s = f32x4.add(s, f32x4.mul(x2, v128.load(b2 + o)));
        s = f32x4.add(s, f32x4.mul(x3, v128.load(b3 + o)));
        v128.store(d + o, s);
      }
      for (let j = w4; j < w; j++) {
        const o = <usize>j << 2;
        let s = load<f32>(d + o);
        s += load<f32>(xp) * load<f32>(b0 + o);
        s += load<f32>(xp + xStep) * load<f32>(b1 + o);
        s += load<f32>(xp + 2 * xStep) * load<f32>(b2 + o);
        s += load<f32>(xp + 3 * xStep) * load<f32>(b3 + o);
        store<f32>(d + o, s);
      }
      xp += 4 * xStep;
      b0 = b3 + bStep;
    }
    for (; p < k; p++) {
      const x0 = v128.load32_splat(xp);
      for (let j = 0; j < w4; j += 4) {
        const o = <usize>j << 2;
        v128.store(d + o, f32x4.add(v128.load(d + o), f32x4.mul(x0, v128.load(b0 + o))));
      }
      const xs = load<f32>(xp);
      for (let j = w4; j < w; j++) {
        const o = <usize>j << 2;
        store<f32>(d + o, load<f32>(d + o) + xs * load<f32>(b0 + o));
      }
      xp += xStep;
      b0 += bStep;
    }
    const cj = c + (<usize>j0 << 2);
    const bj = bias ? bias + (<usize>j0 << 2) : 0;
    for (let j = 0; j < w; j++) {
      const o = <usize>j << 2;
      let s: f32 = acc ? load<f32>(cj + o) : 0;
      if (bj) s += load<f32>(bj + o);
      store<f32>(cj + o, s + load<f32>(d + o));
    }
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
