// Sparse × dense kernels: pruned inference, and the forward of the sparse mean path in training, f32.
//
// Storage: a sparse matrix A [m, k] is CSR: rowPtr (m + 1 u32, rowPtr[0] = 0), colIdx (nnz
// indices, u16 when wide = 0, u32 when wide = 1) and val (nnz f32). A pruned dense layer with
// weights W [in, out] (y = x·W) is stored as A = Wᵀ: one CSR row per OUTPUT unit, listing the
// input features it reads. A pruned convolution W [KH, KW, C, F] is stored the same way as
// A [F, KH·KW·C] (column index = (ky·KW + kx)·C + ci, the im2col row order).
//
// Why CSR over outputs with the batch innermost (XNNPACK's f32-spmm layout): wasm SIMD has no
// gather and no scatter, so the only contiguous axis a sparse product can vectorize is the one
// shared by every nonzero: the batch (or, for convolutions, the output pixels). The dense operand
// is therefore feature-major, X [k, n] with the n samples contiguous, and each nonzero a(i, p)
// is one broadcast, then n/4 loads of X row p, multiplies and adds into accumulators that stay
// in registers for the whole output row: no scatter and no read-modify-write of Y. Output rows
// are written once. At n = 1 the product degenerates to a scalar gather loop, which is still
// only nnz multiply-adds.
//
// Every output is summed in CSR order starting from 0 and the bias is added last, in the SIMD
// kernels and in their scalar twins alike, so SIMD and scalar results are bit-identical.
// The structure (rowPtr monotone, indices < k) is validated once by the TypeScript owner when
// a matrix is created; checking it here on every call would double the work at batch 1.

import { checkWindow2d, outDim } from './geometry';
import { im2colT } from './im2col_t';
import { transpose_f32 } from './transpose';

/** Bytes of one sparse-convolution chunk (im2col rows, their transpose, the output): it stays in L2. */
const CONV_CHUNK_BYTES: i32 = 256 << 10;

// @ts-ignore: decorator
@inline function colAt<T>(colIdx: usize, p: i32): i32 {
  return <i32>load<T>(colIdx + (<usize>p << alignof<T>()));
}

/** One CSR product Y[m, n] = A·X + bias, for index type T. */
// @ts-ignore: decorator
@inline function spmmRows<T>(m: i32, n: i32, rowPtr: usize, colIdx: usize, val: usize, x: usize, ldx: i32,
  bias: usize, y: usize, ldy: i32): void {
  const xStep = <usize>ldx << 2;
  for (let i = 0; i < m; i++) {
    const p0 = <i32>load<u32>(rowPtr + (<usize>i << 2));
    const p1 = <i32>load<u32>(rowPtr + (<usize>(i + 1) << 2));
    const bi: f32 = bias ? load<f32>(bias + (<usize>i << 2)) : 0;
    const yRow = y + ((<usize>i * <usize>ldy) << 2);
    const b4 = f32x4.splat(bi);
    let j = 0;
    // 16 samples per pass: four accumulators, each nonzero is 1 broadcast + 4 loads + 4 mul/add.
    for (; j + 16 <= n; j += 16) {
      let acc0123 = f32x4.splat(0), acc4567 = f32x4.splat(0);
      let acc89ab = f32x4.splat(0), acccdef = f32x4.splat(0);
      const xCol = x + (<usize>j << 2);
      for (let p = p0; p < p1; p++) {
        const w = f32x4.splat(load<f32>(val + (<usize>p << 2)));
        const xp = xCol + <usize>colAt<T>(colIdx, p) * xStep;
        acc0123 = f32x4.add(acc0123, f32x4.mul(w, v128.load(xp)));
        acc4567 = f32x4.add(acc4567, f32x4.mul(w, v128.load(xp, 16)));
        acc89ab = f32x4.add(acc89ab, f32x4.mul(w, v128.load(xp, 32)));
        acccdef = f32x4.add(acccdef, f32x4.mul(w, v128.load(xp, 48)));
      }
      const yp = yRow + (<usize>j << 2);
      v128.store(yp, f32x4.add(acc0123, b4));
      v128.store(yp, f32x4.add(acc4567, b4), 16);
      v128.store(yp, f32x4.add(acc89ab, b4), 32);
      v128.store(yp, f32x4.add(acccdef, b4), 48);
    }
    // Tails outside the main loop: groups of 4, then single samples (the n = 1 path).
    for (; j + 4 <= n; j += 4) {
      let acc0123 = f32x4.splat(0);
      const xCol = x + (<usize>j << 2);
      for (let p = p0; p < p1; p++) {
        const w = f32x4.splat(load<f32>(val + (<usize>p << 2)));
        acc0123 = f32x4.add(acc0123, f32x4.mul(w, v128.load(xCol + <usize>colAt<T>(colIdx, p) * xStep)));
      }
      v128.store(yRow + (<usize>j << 2), f32x4.add(acc0123, b4));
    }
    for (; j < n; j++) {
      let s: f32 = 0;
      const xCol = x + (<usize>j << 2);
      for (let p = p0; p < p1; p++) {
        s += load<f32>(val + (<usize>p << 2)) * load<f32>(xCol + <usize>colAt<T>(colIdx, p) * xStep);
      }
      store<f32>(yRow + (<usize>j << 2), s + bi);
    }
  }
}

function checkSpmm(m: i32, k: i32, n: i32, rowPtr: usize, ldx: i32, ldy: i32): void {
  assert(m >= 0 && k >= 0 && n >= 0, 'spmm: m, k, n must be >= 0');
  assert(ldx >= n && ldy >= n, 'spmm: leading dimension shorter than a row');
  assert(load<u32>(rowPtr) == 0, 'spmm: rowPtr[0] must be 0');
}

/**
 * Y[m, n] = A[m, k]·X[k, n] + bias[m] (bias per row of Y; 0 = none), A in CSR (see the file
 * comment; wide = 0: u16 column indices, 1: u32). X and Y row-major with leading dimensions
 * ldx, ldy (elements). Y must not overlap X. SIMD over n.
 */
export function spmm_f32_csr(m: i32, k: i32, n: i32, rowPtr: usize, colIdx: usize, wide: i32, val: usize,
  x: usize, ldx: i32, bias: usize, y: usize, ldy: i32): void {
  checkSpmm(m, k, n, rowPtr, ldx, ldy);
  if (wide) spmmRows<u32>(m, n, rowPtr, colIdx, val, x, ldx, bias, y, ldy);
  else spmmRows<u16>(m, n, rowPtr, colIdx, val, x, ldx, bias, y, ldy);
}

/** Scalar twin of {@link spmm_f32_csr} (plain loops, same summation order): the test oracle. */
export function spmm_f32_csr_scalar(m: i32, k: i32, n: i32, rowPtr: usize, colIdx: usize, wide: i32, val: usize,
  x: usize, ldx: i32, bias: usize, y: usize, ldy: i32): void {
  checkSpmm(m, k, n, rowPtr, ldx, ldy);
  for (let i = 0; i < m; i++) {
    const p0 = <i32>load<u32>(rowPtr + (<usize>i << 2));
    const p1 = <i32>load<u32>(rowPtr + (<usize>(i + 1) << 2));
    const bi: f32 = bias ? load<f32>(bias + (<usize>i << 2)) : 0;
    for (let j = 0; j < n; j++) {
      let s: f32 = 0;
      for (let p = p0; p < p1; p++) {
        const c = wide ? colAt<u32>(colIdx, p) : colAt<u16>(colIdx, p);
        s += load<f32>(val + (<usize>p << 2)) * load<f32>(x + (<usize>(c * ldx + j) << 2));
      }
      store<f32>(y + (<usize>(i * ldy + j) << 2), s + bi);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One sample through the columns: y[m] = A[m, k]·x[k] + bias with A stored by columns (CSC:
// colPtr k + 1 u32, rowIdx nnz u16, val nnz f32; the CSR of the layer's W [in, out] by rows).
// At batch 1 the CSR kernel's cost is every kept weight, though an input of zero (a ReLU's
// output, an image's background) makes its whole column contribute nothing; walked by columns,
// a zero input skips its column, so the cost is the kept weights of the live inputs. y[i]
// accumulates in ascending column order from +0 and the bias is added last: for rows whose CSR
// column indices ascend (as prune and csrFromWeights write them), the bits of spmm_f32_csr,
// since a skipped term w·0 = ±0 never changes a sum that started at +0 (the sum cannot be −0).

// @ts-ignore: decorator
@inline function cscColumns(k: i32, colPtr: usize, rowIdx: usize, val: usize, x: usize, y: usize): void {
  for (let c = 0; c < k; c++) {
    const xc = load<f32>(x + (<usize>c << 2));
    if (xc == 0) continue;
    const p0 = <i32>load<u32>(colPtr + (<usize>c << 2));
    const p1 = <i32>load<u32>(colPtr + (<usize>(c + 1) << 2));
    for (let p = p0; p < p1; p++) {
      const yp = y + (<usize>colAt<u16>(rowIdx, p) << 2);
      store<f32>(yp, load<f32>(yp) + load<f32>(val + (<usize>p << 2)) * xc);
    }
  }
}

function checkSpmv(m: i32, k: i32, colPtr: usize): void {
  assert(m >= 0 && m <= 65536 && k >= 0, 'spmv: bad m, k');
  assert(load<u32>(colPtr) == 0, 'spmv: colPtr[0]');
}

/**
 * y[m] = A[m, k]·x[k] + bias[m] (0 = none) for one sample, A in CSC (see above; u16 row
 * indices, so m ≤ 65536), x and y contiguous f32. Inputs equal to zero are skipped with their
 * columns. y must not overlap x or bias. SIMD in the zero test.
 */
export function spmv_f32_csc(m: i32, k: i32, colPtr: usize, rowIdx: usize, val: usize, x: usize, bias: usize, y: usize): void {
  checkSpmv(m, k, colPtr);
  memory.fill(y, 0, <usize>m << 2);
  cscColumns(k, colPtr, rowIdx, val, x, y);
  if (bias) for (let i = 0; i < m; i++) store<f32>(y + (<usize>i << 2), load<f32>(y + (<usize>i << 2)) + load<f32>(bias + (<usize>i << 2)));
}

/** Scalar twin of {@link spmv_f32_csc} (plain loops, same summation order): the test oracle. */
export function spmv_f32_csc_scalar(m: i32, k: i32, colPtr: usize, rowIdx: usize, val: usize, x: usize, bias: usize, y: usize): void {
  checkSpmv(m, k, colPtr);
  for (let i = 0; i < m; i++) store<f32>(y + (<usize>i << 2), 0);
  for (let c = 0; c < k; c++) {
    const xc = load<f32>(x + (<usize>c << 2));
    if (xc == 0) continue;
    const p0 = <i32>load<u32>(colPtr + (<usize>c << 2));
    const p1 = <i32>load<u32>(colPtr + (<usize>(c + 1) << 2));
    for (let p = p0; p < p1; p++) {
      const r = colAt<u16>(rowIdx, p);
      const yp = y + (<usize>r << 2);
      store<f32>(yp, load<f32>(yp) + load<f32>(val + (<usize>p << 2)) * xc);
    }
  }
  if (bias) for (let i = 0; i < m; i++) store<f32>(y + (<usize>i << 2), load<f32>(y + (<usize>i << 2)) + load<f32>(bias + (<usize>i << 2)));
}

// ---------------------------------------------------------------------------------------------
// Sparse convolution, NHWC: y = conv2d(x, W) + bias with W [KH, KW, C, F] stored as A [F, K]
// CSR (K = KH·KW·C). Per chunk of output pixels: a feature-major im2col colT [K, chunk], one
// spmm giving yT [F, chunk], and a transpose into y's NHWC rows.


function convChunk(k: i32, f: i32, m: i32): i32 {
  let rows = CONV_CHUNK_BYTES / ((2 * k + f) << 2);
  rows = rows < 16 ? 16 : rows & ~15;
  return rows < m ? rows : m;
}

/**
 * Bytes of scratch {@link conv2d_sparse_f32_nhwc} needs: an im2col chunk [chunk, K], its
 * transpose [K, chunk] and an output chunk [F, chunk].
 */
export function conv2d_sparse_scratch_bytes(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32): i32 {
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  const m = n * oh * ow;
  const k = kh * kw * c;
  if (directConv(n, oh, ow, sw, k)) return (c * (h + 2 * ph) * (w + 2 * pw) + k + f * m) * 4;
  return convChunk(k, f, m) * (2 * k + f) * 4;
}

/**
 * Whether {@link conv2d_sparse_f32_nhwc} convolves directly: one image, column stride 1 and
 * an output of at least 4 × 4 pixels. There the im2col chunk and its transpose cost more than the
 * product itself (LeNet-5's conv2 at batch 1: 64 pixels × 500 taps copied twice for 2.6 k kept
 * weights), while in planar layout a filter tap's inputs for 4 adjacent outputs are 4 adjacent
 * floats, so the product reads the image in place. (K ≤ 65536: u16 column indices, which
 * SparseMatrix uses exactly then; a wider one takes the im2col path.)
 */
// @ts-ignore: decorator
@inline function directConv(n: i32, oh: i32, ow: i32, sw: i32, k: i32): bool {
  return n == 1 && sw == 1 && oh >= 4 && ow >= 4 && k <= 65536;
}

/**
 * The direct path of {@link conv2d_sparse_f32_nhwc} (one image, see {@link directConv}). Scratch:
 * the image planar and zero-padded, xP [C, H + 2PH, W + 2PW]; the offset in xP of each tap kk
 * (i32, K); the output planar, yT [F, OH·OW], transposed into y at the end. Each output sums its
 * filter's nonzeros in CSR order from 0 and adds the bias last, 4 rows × 4 columns of outputs at
 * a time (a padded tap adds w·0, as in the im2col path), so the bits are the im2col path's.
 */
function convDirect(h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, ph: i32, pw: i32, oh: i32, ow: i32,
  rowPtr: usize, colIdx: usize, val: usize, x: usize, bias: usize, y: usize, scratch: usize): void {
  const hp = h + 2 * ph, wp = w + 2 * pw, plane = hp * wp, k = kh * kw * c, m = oh * ow;
  const xP = scratch;
  const tap = xP + ((<usize>c * <usize>plane) << 2);
  const yT = tap + (<usize>k << 2);
  if (ph | pw) memory.fill(xP, 0, (<usize>c * <usize>plane) << 2);
  // Row iy of the image [W, C] → channel rows of xP, at (PH + iy, PW).
  for (let iy = 0; iy < h; iy++) {
    transpose_f32(w, c, x + ((<usize>iy * <usize>w * <usize>c) << 2), c, xP + (<usize>((ph + iy) * wp + pw) << 2), plane);
  }
  for (let ky = 0, kk = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) for (let ci = 0; ci < c; ci++, kk++) {
    store<i32>(tap + (<usize>kk << 2), ((ci * hp + ky) * wp + kx) << 2);
  }
  const rowStep = <usize>(sh * wp) << 2;
  const ow4 = ow - 4, oh4 = oh - 4;
  for (let fo = 0; fo < f; fo++) {
    const p0 = <i32>load<u32>(rowPtr + (<usize>fo << 2));
    const p1 = <i32>load<u32>(rowPtr + (<usize>(fo + 1) << 2));
    const b4 = f32x4.splat(bias ? load<f32>(bias + (<usize>fo << 2)) : 0);
    const yF = yT + ((<usize>fo * <usize>m) << 2);
    // Tiles of 4 × 4 outputs; the last tile of a row (of a column) ends at its end, recomputing
    // to the same bits the outputs it shares with the one before.
    for (let oy = 0; ; oy = min(oy + 4, oh4)) {
      for (let ox = 0; ; ox = min(ox + 4, ow4)) {
        let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
        const base = xP + <usize>oy * rowStep + (<usize>ox << 2);
        for (let p = p0; p < p1; p++) {
          const wv = f32x4.splat(load<f32>(val + (<usize>p << 2)));
          const q = base + <usize>load<i32>(tap + (<usize>colAt<u16>(colIdx, p) << 2));
          acc0 = f32x4.add(acc0, f32x4.mul(wv, v128.load(q)));
          acc1 = f32x4.add(acc1, f32x4.mul(wv, v128.load(q + rowStep)));
          acc2 = f32x4.add(acc2, f32x4.mul(wv, v128.load(q + 2 * rowStep)));
          acc3 = f32x4.add(acc3, f32x4.mul(wv, v128.load(q + 3 * rowStep)));
        }
        const yp = yF + (<usize>(oy * ow + ox) << 2);
        const yStep = <usize>ow << 2;
        v128.store(yp, f32x4.add(acc0, b4));
        v128.store(yp + yStep, f32x4.add(acc1, b4));
        v128.store(yp + 2 * yStep, f32x4.add(acc2, b4));
        v128.store(yp + 3 * yStep, f32x4.add(acc3, b4));
        if (ox == ow4) break;
      }
      if (oy == oh4) break;
    }
  }
  transpose_f32(f, m, yT, m, y, f);
}

/**
 * y[N, OH, OW, F] = conv2d(x[N, H, W, C], W) + bias[F] (0 = none), W as CSR A [F, KH·KW·C]
 * (see the file comment). `liveRows`, when not 0, is a u32 count then that many ascending
 * column indices: the only ones A uses (see csr_t_from_mask_f32); when they are few, only those
 * im2col rows are built. `scratch` holds conv2d_sparse_scratch_bytes(...) bytes.
 */
export function conv2d_sparse_f32_nhwc(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  rowPtr: usize, colIdx: usize, wide: i32, val: usize, liveRows: usize, x: usize, bias: usize, y: usize, scratch: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  assert(scratch != 0, 'conv2d_sparse: scratch required');
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  const m = n * oh * ow, k = kh * kw * c;
  if (directConv(n, oh, ow, sw, k)) {
    assert(!wide, 'conv2d_sparse: wide');
    convDirect(h, w, c, f, kh, kw, sh, ph, pw, oh, ow, rowPtr, colIdx, val, x, bias, y, scratch);
    return;
  }
  const chunk = convChunk(k, f, m);
  const colT = scratch;
  const yT = scratch + ((<usize>chunk * <usize>k) << 2);
  const rowBuf = yT + ((<usize>chunk * <usize>f) << 2);
  const nrows = liveRows ? <i32>load<u32>(liveRows) : k;
  assert(nrows >= 0 && nrows <= k, 'conv2d_sparse: bad live-row count');
  for (let r0 = 0; r0 < m; r0 += chunk) {
    const r1 = r0 + chunk < m ? r0 + chunk : m;
    const mc = r1 - r0;
    im2colT(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, x, rowBuf, colT, liveRows ? liveRows + 4 : 0, nrows);
    spmm_f32_csr(f, k, mc, rowPtr, colIdx, wide, val, colT, mc, bias, yT, mc);
    transpose_f32(f, mc, yT, mc, y + ((<usize>r0 * <usize>f) << 2), f);
  }
}

/** Scalar direct twin of {@link conv2d_sparse_f32_nhwc} (no im2col; `scratch` unused): the test oracle. */
export function conv2d_sparse_f32_nhwc_scalar(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  rowPtr: usize, colIdx: usize, wide: i32, val: usize, liveRows: usize, x: usize, bias: usize, y: usize, scratch: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    for (let fo = 0; fo < f; fo++) {
      const p0 = <i32>load<u32>(rowPtr + (<usize>fo << 2));
      const p1 = <i32>load<u32>(rowPtr + (<usize>(fo + 1) << 2));
      let s: f32 = 0;
      for (let p = p0; p < p1; p++) {
        const kk = wide ? colAt<u32>(colIdx, p) : colAt<u16>(colIdx, p);
        const ci = kk % c, t = kk / c;
        const kx = t % kw, ky = t / kw;
        const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
        // A padded tap contributes w·0 in the SIMD kernel; adding +0 or −0 to a sum that started at
        // +0 never changes it, so skipping it here keeps the two bit-identical.
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        s += load<f32>(val + (<usize>p << 2)) * load<f32>(x + (<usize>(((b * h + iy) * w + ix) * c + ci) << 2));
      }
      const bi: f32 = bias ? load<f32>(bias + (<usize>fo << 2)) : 0;
      store<f32>(y + (<usize>(((b * oh + oy) * ow + ox) * f + fo) << 2), s + bi);
    }
  }
}
