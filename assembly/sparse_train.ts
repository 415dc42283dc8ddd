// Sparse mean path of masked Sparse VD training, f32.
//
// When a layer zeroes its dropped weights during training, the mean product x ⊛ M reads only the
// kept weights (a few percent of a LeNet-5 layer once the KL has done its work). These kernels
// run that product, its input gradient and its weight gradient at the kept weights only, with
// the layout of assembly/sparse.ts: M [K, F] (a dense layer [in, out], a convolution
// [KH, KW, C, F] flattened the same way) as CSR over the F outputs, A = Mᵀ, u32 column indices,
// and the pixels (or samples) innermost so every nonzero is one broadcast times contiguous SIMD
// vectors. A dense layer is the 1×1 convolution of a 1×1 image with C = in.
//
// The forward is the inference kernel conv2d_sparse_f32_nhwc (u32 indices, no bias) given the
// live-row list built here.
//
// The CSR keeps every weight whose log α is below the threshold, even where θ happens to be
// exactly 0: such a weight still gets its gradient.

import { checkWindow2d, outDim } from './geometry';
import { transpose_f32 } from './transpose';
import { col2imTAdd, im2colT, narrowRows } from './im2col_t';

/** Bytes of im2col/gradient chunk the backward keeps in cache at once. */
const CHUNK_BYTES: i32 = 384 << 10;

// @ts-ignore: decorator
@inline function ptrAt(rowPtr: usize, i: i32): i32 {
  return <i32>load<u32>(rowPtr + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function colAt(colIdx: usize, p: i32): i32 {
  return <i32>load<u32>(colIdx + (<usize>p << 2));
}

/**
 * CSR of Mᵀ over the kept entries of M [k, f] (row-major): entry (kk, fo) is kept where
 * logAlpha[kk, fo] < thr. rowPtr gets f + 1 u32 offsets, colIdx the kept kk per output fo in
 * ascending order (u32), val the matching M values. colIdx and val need room for k·f entries.
 * liveRows (k + 1 u32) gets the number of inputs kk with at least one kept entry, then those kk
 * ascending: the only im2col rows the sparse products read. Returns the number kept.
 */
export function csr_t_from_mask_f32(k: i32, f: i32, m: usize, logAlpha: usize, thr: f32,
  rowPtr: usize, colIdx: usize, val: usize, liveRows: usize): i32 {
  assert(k >= 0 && f >= 0, 'csr_t_from_mask: sizes must be >= 0');
  memory.fill(rowPtr, 0, (<usize>f + 1) << 2);
  const vthr = f32x4.splat(thr);
  const f4 = f & ~3;
  // Pass 1: count per output, in rowPtr[fo + 1] (four outputs per step: a kept lane is −1).
  const counts = rowPtr + 4;
  for (let kk = 0; kk < k; kk++) {
    const la = logAlpha + ((<usize>kk * <usize>f) << 2);
    let fo = 0;
    for (; fo < f4; fo += 4) {
      const o = <usize>fo << 2;
      v128.store(counts + o, i32x4.sub(v128.load(counts + o), f32x4.lt(v128.load(la + o), vthr)));
    }
    for (; fo < f; fo++) {
      if (load<f32>(la + (<usize>fo << 2)) < thr) store<u32>(counts + (<usize>fo << 2), load<u32>(counts + (<usize>fo << 2)) + 1);
    }
  }
  countsToOffsets(rowPtr, f);
  // Pass 2: fill, with rowPtr[fo] as the cursor of row fo (it ends at the old rowPtr[fo + 1]);
  // groups of four outputs with nothing kept (most of them, in a sparse layer) are skipped whole.
  let live = 0;
  for (let kk = 0; kk < k; kk++) {
    const o = (<usize>kk * <usize>f) << 2;
    let any = false;
    let fo = 0;
    for (; fo < f; fo += 4) {
      const g = fo + 4 <= f ? fo + 4 : f;
      if (g == fo + 4 && !v128.any_true(f32x4.lt(v128.load(logAlpha + o + (<usize>fo << 2)), vthr))) continue;
      for (let q = fo; q < g; q++) any = appendKept(kk, q, o, m, logAlpha, thr, rowPtr, colIdx, val) || any;
    }
    if (any) store<u32>(liveRows + (<usize>(++live) << 2), <u32>kk);
  }
  return finishCsrT(f, rowPtr, liveRows, live);
}

/** rowPtr[1..f] holds counts per output: turn them into end offsets (a running sum). */
// @ts-ignore: decorator
@inline function countsToOffsets(rowPtr: usize, f: i32): void {
  for (let fo = 0; fo < f; fo++) {
    const c = rowPtr + (<usize>(fo + 1) << 2);
    store<u32>(c, load<u32>(c) + load<u32>(c - 4));
  }
}

/** Entry (kk, q) of M (row kk at byte offset o) appended to CSR row q when kept, rowPtr[q] its cursor; returns whether kept. */
// @ts-ignore: decorator
@inline function appendKept(kk: i32, q: i32, o: usize, m: usize, logAlpha: usize, thr: f32, rowPtr: usize, colIdx: usize, val: usize): bool {
  if (!(load<f32>(logAlpha + o + (<usize>q << 2)) < thr)) return false;
  const c = rowPtr + (<usize>q << 2);
  const p = <usize>load<u32>(c);
  store<u32>(colIdx + (p << 2), <u32>kk);
  store<f32>(val + (p << 2), load<f32>(m + o + (<usize>q << 2)));
  store<u32>(c, <u32>(p + 1));
  return true;
}

/** The live-row count, and the cursors shifted back into offsets; returns the number kept. */
// @ts-ignore: decorator
@inline function finishCsrT(f: i32, rowPtr: usize, liveRows: usize, live: i32): i32 {
  store<u32>(liveRows, <u32>live);
  for (let fo = f; fo > 0; fo--) store<u32>(rowPtr + (<usize>fo << 2), load<u32>(rowPtr + (<usize>(fo - 1) << 2)));
  store<u32>(rowPtr, 0);
  return <i32>load<u32>(rowPtr + (<usize>f << 2));
}

/** Scalar twin of {@link csr_t_from_mask_f32}. */
export function csr_t_from_mask_f32_scalar(k: i32, f: i32, m: usize, logAlpha: usize, thr: f32,
  rowPtr: usize, colIdx: usize, val: usize, liveRows: usize): i32 {
  assert(k >= 0 && f >= 0, 'csr_t_from_mask: sizes must be >= 0');
  memory.fill(rowPtr, 0, (<usize>f + 1) << 2);
  for (let kk = 0; kk < k; kk++) {
    const la = logAlpha + ((<usize>kk * <usize>f) << 2);
    for (let fo = 0; fo < f; fo++) {
      const c = rowPtr + (<usize>(fo + 1) << 2);
      if (load<f32>(la + (<usize>fo << 2)) < thr) store<u32>(c, load<u32>(c) + 1);
    }
  }
  countsToOffsets(rowPtr, f);
  let live = 0;
  for (let kk = 0; kk < k; kk++) {
    const o = (<usize>kk * <usize>f) << 2;
    let any = false;
    for (let q = 0; q < f; q++) any = appendKept(kk, q, o, m, logAlpha, thr, rowPtr, colIdx, val) || any;
    if (any) store<u32>(liveRows + (<usize>(++live) << 2), <u32>kk);
  }
  return finishCsrT(f, rowPtr, liveRows, live);
}

/** w [k, f] = 0 except at the CSR entries of Mᵀ (see {@link csr_t_from_mask_f32}): w[kk, fo] = src[p]. */
export function csr_t_scatter_f32(k: i32, f: i32, rowPtr: usize, colIdx: usize, src: usize, w: usize): void {
  assert(k >= 0 && f >= 0, 'csr_t_scatter: sizes must be >= 0');
  memory.fill(w, 0, (<usize>k * <usize>f) << 2);
  for (let fo = 0; fo < f; fo++) {
    const p1 = ptrAt(rowPtr, fo + 1);
    for (let p = ptrAt(rowPtr, fo); p < p1; p++) {
      store<f32>(w + ((<usize>colAt(colIdx, p) * <usize>f + <usize>fo) << 2), load<f32>(src + (<usize>p << 2)));
    }
  }
}


function chunkRows(k: i32, f: i32, m: i32): i32 {
  let rows = CHUNK_BYTES / ((2 * k + f) << 2);
  rows = rows < 16 ? 16 : rows & ~15;
  return rows < m ? rows : m;
}

/** Bytes of scratch {@link conv2d_sparse_backward_f32_nhwc} needs: colT and dcolT [K, chunk], dyT [F, chunk]. */
export function conv2d_sparse_backward_scratch_bytes(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32): i32 {
  const m = n * outDim(h, kh, sh, ph) * outDim(w, kw, sw, pw);
  const k = kh * kw * c;
  return chunkRows(k, f, m) * (2 * k + f) * 4;
}

/** Σ_j a[j]·b[j] over n floats: four lanes, then lanes 0 + 1 + 2 + 3, then the tail. */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; j < n; j++) s += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2));
  return s;
}

/**
 * Backward of the sparse mean product y = conv2d(x[N, H, W, C], M) with M as CSR of Mᵀ
 * (rowPtr, colIdx u32, val; see {@link csr_t_from_mask_f32}), given dy [N, OH, OW, F]:
 * - dval[p] += Σ over output pixels of x's receptive-field entry colIdx[p] times dy of output
 *   row fo (the weight gradient at the kept entries only; accumulate: zero dval first);
 * - dx [N, H, W, C] = the input gradient through the kept weights (overwritten), unless dx = 0.
 * Per chunk of output pixels: colT [K, chunk] (im2col, transposed), dyT [F, chunk], dot products
 * for dval and axpys into dcolT [K, chunk], then col2im into dx. `liveRows` is the count-then-list
 * of inputs with a kept entry written by {@link csr_t_from_mask_f32} (0: treat every row as
 * live); only those rows of colT and dcolT are built and read when they are at most a quarter.
 * `scratch` holds conv2d_sparse_backward_scratch_bytes(...) bytes.
 */
export function conv2d_sparse_backward_f32_nhwc(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, rowPtr: usize, colIdx: usize, val: usize, liveRows: usize, x: usize, dy: usize,
  dval: usize, dx: usize, scratch: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  assert(scratch != 0, 'conv2d_sparse_backward: scratch required');
  assert(load<u32>(rowPtr) == 0, 'conv2d_sparse_backward: rowPtr[0] must be 0');
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  const m = n * oh * ow, k = kh * kw * c;
  const chunk = chunkRows(k, f, m);
  const colT = scratch;
  const dcolT = colT + ((<usize>chunk * <usize>k) << 2);
  const dyT = dcolT + ((<usize>chunk * <usize>k) << 2);
  const nrows = liveRows ? <i32>load<u32>(liveRows) : k;
  const rows = liveRows ? liveRows + 4 : 0;
  assert(nrows >= 0 && nrows <= k, 'conv2d_sparse_backward: bad live-row count');
  const narrow = narrowRows(c, k, rows, nrows);
  if (dx) memory.fill(dx, 0, (<usize>n * <usize>h * <usize>w * <usize>c) << 2);
  for (let r0 = 0; r0 < m; r0 += chunk) {
    const r1 = r0 + chunk < m ? r0 + chunk : m;
    const mc = r1 - r0;
    const ld = <usize>mc << 2;
    // dcolT doubles as the row-major im2col buffer before it is needed for the gradient.
    im2colT(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, x, dcolT, colT, rows, nrows);
    transpose_f32(mc, f, dy + ((<usize>r0 * <usize>f) << 2), f, dyT, mc);
    if (dx) {
      if (narrow && rows) for (let j = 0; j < nrows; j++) memory.fill(dcolT + <usize>load<u32>(rows + (<usize>j << 2)) * ld, 0, ld);
      else memory.fill(dcolT, 0, <usize>k * ld);
    }
    const mc4 = mc & ~3;
    for (let fo = 0; fo < f; fo++) {
      const g = dyT + <usize>fo * ld;
      const p1 = ptrAt(rowPtr, fo + 1);
      for (let p = ptrAt(rowPtr, fo); p < p1; p++) {
        const kk = <usize>colAt(colIdx, p);
        const dv = dval + (<usize>p << 2);
        store<f32>(dv, load<f32>(dv) + dot(colT + kk * ld, g, mc));
        if (dx) {
          const wv: f32 = load<f32>(val + (<usize>p << 2));
          const w4 = f32x4.splat(wv);
          const d = dcolT + kk * ld;
          let j = 0;
          for (; j < mc4; j += 4) {
            const o = <usize>j << 2;
            v128.store(d + o, f32x4.add(v128.load(d + o), f32x4.mul(w4, v128.load(g + o))));
          }
          for (; j < mc; j++) {
            const o = <usize>j << 2;
            store<f32>(d + o, load<f32>(d + o) + wv * load<f32>(g + o));
          }
        }
      }
    }
    // colT is free now: it takes the row-major copy of dcolT for the col2im.
    if (dx) col2imTAdd(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, dcolT, colT, dx, rows, nrows);
  }
}

/**
 * Scalar direct twin of {@link conv2d_sparse_backward_f32_nhwc} (no im2col; `scratch` unused):
 * the test oracle. Sums run in another order than the SIMD kernel's, so results agree to
 * rounding, not bit for bit.
 */
export function conv2d_sparse_backward_f32_nhwc_scalar(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, rowPtr: usize, colIdx: usize, val: usize, liveRows: usize, x: usize, dy: usize,
  dval: usize, dx: usize, scratch: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  if (dx) memory.fill(dx, 0, (<usize>n * <usize>h * <usize>w * <usize>c) << 2);
  for (let fo = 0; fo < f; fo++) {
    const p1 = ptrAt(rowPtr, fo + 1);
    for (let p = ptrAt(rowPtr, fo); p < p1; p++) {
      const kk = colAt(colIdx, p);
      const ci = kk % c, t = kk / c;
      const kx = t % kw, ky = t / kw;
      const wv = load<f32>(val + (<usize>p << 2));
      let s: f32 = 0;
      for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
        const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        const g = load<f32>(dy + (<usize>(((b * oh + oy) * ow + ox) * f + fo) << 2));
        const xo = <usize>(((b * h + iy) * w + ix) * c + ci) << 2;
        s += load<f32>(x + xo) * g;
        if (dx) store<f32>(dx + xo, load<f32>(dx + xo) + wv * g);
      }
      const dv = dval + (<usize>p << 2);
      store<f32>(dv, load<f32>(dv) + s);
    }
  }
}
