// 2-D convolution, f32, NHWC: forward, backward-data, backward-filter and bias gradient.
//
// Layouts: x [N, H, W, C], weights [KH, KW, C, F], y [N, OH, OW, F] with
//   OH = floor((H + 2·ph − KH) / sh) + 1,  OW = floor((W + 2·pw − KW) / sw) + 1,
// zero padding ph/pw on both sides of each axis. Pointers are byte offsets; sizes, strides and
// paddings are in elements.
//
// Why NHWC: one im2col row (the receptive field of one output pixel) is KH runs of KW·C floats,
// each of them contiguous in x, so im2col is a handful of block copies instead of a gather. The
// weights [KH, KW, C, F] are already the matrix W [KH·KW·C, F] with rows in the same order, so
// the whole convolution is ONE matrix product col[N·OH·OW, K] · W[K, F] whose result rows are
// the output pixels in NHWC order: no transpose afterwards, the bias is a per-column bias of the
// GEMM, and a dense layer after Flatten reads y directly as [N, OH·OW·F].
//
// im2col goes to a caller-provided scratch block `col` (kernels never allocate); its size is
// conv2d_col_bytes(...). The product is done in chunks of output rows so that the im2col block
// stays in cache (about COL_CHUNK_BYTES) between being written and being read by the GEMM.
// 1×1 kernels with stride 1 and no padding need no im2col at all: x is already col.
// The forward pass skips `col` whenever W fits the GEMM engine's packed-B buffer: it packs W
// once and writes each chunk's im2col straight into the engine's packed-A layout, so the
// receptive fields are copied once instead of twice (im2col, then the GEMM's packing).
import { checkWindow2d, outDim } from './geometry';
import { gemm_f32_nn, gemm_f32_nt, gemm_f32_tn } from './gemm';
import { MACRO_KC_MAX, MR, PACK_A_FLOATS, PACK_B_FLOATS, gemmMacro, gemmPackA, gemmPackB, packedBFloats, storeTransposed4x4 } from './gemm_engine';

/** Target size of one im2col chunk (bytes): a few hundred KB stays in L2 while the GEMM reads it. */
const COL_CHUNK_BYTES: i32 = 256 << 10;

// ---------------------------------------------------------------------------------------------
// Shared helpers


// @ts-ignore: decorator
@inline function isPointwise(kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32): bool {
  return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
}

/** Output rows (pixels) per im2col chunk for a row length of `k` floats and `m` rows in all. */
function chunkRows(k: i32, m: i32): i32 {
  let rows = COL_CHUNK_BYTES / (k << 2);
  // a multiple of 16 rows, so that no chunk but the last ends in a partial GEMM row tile
  rows = rows < 16 ? 16 : rows & ~15;
  return rows < m ? rows : m;
}

/**
 * Bytes of scratch the conv2d kernels (forward, backward-data, backward-filter) need in `col`
 * for these sizes: 0 for the 1×1 / stride 1 / no-padding case, else one im2col chunk.
 */
export function conv2d_col_bytes(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32): i32 {
  if (isPointwise(kh, kw, sh, sw, ph, pw)) return 0;
  const m = n * outDim(h, kh, sh, ph) * outDim(w, kw, sw, pw);
  const k = kh * kw * c;
  return chunkRows(k, m) * k * 4;
}

// @ts-ignore: decorator
@inline function copyF32(src: usize, dst: usize, len: i32): void {
  if (len >= 4) {
    // whole vectors, then one last vector ending exactly at len (overlapping the previous one):
    // no scalar tail for the short runs (KW·C = 5, 6, 7...) that im2col copies most
    const last = <usize>(len - 4) << 2;
    for (let o: usize = 0; o < last; o += 16) v128.store(dst + o, v128.load(src + o));
    v128.store(dst + last, v128.load(src + last));
  } else {
    for (let i = 0; i < len; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
  }
}

// @ts-ignore: decorator
@inline function zeroF32(dst: usize, len: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= len; i += 4) v128.store(dst + (<usize>i << 2), z);
  for (; i < len; i++) store<f32>(dst + (<usize>i << 2), 0);
}

/** dst[i] += src[i]. */
// @ts-ignore: decorator
@inline function addF32(src: usize, dst: usize, len: i32): void {
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const d = dst + (<usize>i << 2);
    v128.store(d, f32x4.add(v128.load(d), v128.load(src + (<usize>i << 2))));
  }
  for (; i < len; i++) {
    const d = dst + (<usize>i << 2);
    store<f32>(d, load<f32>(d) + load<f32>(src + (<usize>i << 2)));
  }
}

/**
 * im2col of output rows [r0, r1): row r (pixel b, oy, ox) of `col` is the receptive field
 * x[b, oy·sh−ph+ky, ox·sw−pw+kx, :] for ky, kx in order, zeros where it falls in the padding.
 */
function im2col(r0: i32, r1: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  oh: i32, ow: i32, x: usize, col: usize): void {
  const run = kw * c; // one ky slice of a row: KW pixels of C channels
  const ohw = oh * ow;
  let dst = col;
  // pixel (b, oy, ox) of row r, stepped without divisions
  let b = r0 / ohw, oy = (r0 - b * ohw) / ow, ox = r0 - b * ohw - oy * ow;
  for (let r = r0; r < r1; r++) {
    const iy0 = oy * sh - ph, ix0 = ox * sw - pw;
    const xb = x + (<usize>(b * h) * w * c << 2);
    // Interior windows (the common case) copy KW·C contiguous floats per ky.
    const xInside = ix0 >= 0 && ix0 + kw <= w;
    for (let ky = 0; ky < kh; ky++) {
      const iy = iy0 + ky;
      if (iy < 0 || iy >= h) {
        zeroF32(dst, run);
      } else {
        const xrow = xb + (<usize>(iy * w) * c << 2);
        if (xInside) {
          copyF32(xrow + (<usize>(ix0 * c) << 2), dst, run);
        } else {
          for (let kx = 0; kx < kw; kx++) {
            const ix = ix0 + kx;
            const d = dst + (<usize>(kx * c) << 2);
            if (ix < 0 || ix >= w) zeroF32(d, c);
            else copyF32(xrow + (<usize>(ix * c) << 2), d, c);
          }
        }
      }
      dst += <usize>run << 2;
    }
    if (++ox == ow) { ox = 0; if (++oy == oh) { oy = 0; b++; } }
  }
}

/** Four im2col rows (K <= MACRO_KC_MAX floats each) of a strip that touches the padding. */
const stripRows: usize = memory.data(MR * MACRO_KC_MAX * 4, 16);

/**
 * im2col of output rows [r0, r1) written straight into the GEMM engine's packed-A layout:
 * strip s (rows r0+4s .. r0+4s+3) is k-major, element (row r0+4s+q, column p) at float
 * (s·K + p)·4 + q of dst; rows of the last strip past r1 are zeros. For one ky, four output
 * pixels read four runs of KW·C floats; a 4x4 transpose turns four run vectors into four
 * packed rows. Runs starting one float apart (C = 1, stride 1: a grayscale first layer) need
 * no transpose: packed row p is the four floats at run0 + p. Strips with a window touching
 * the padding, and the last partial strip, are im2col'ed into stripRows first. K <= MACRO_KC_MAX.
 */
function im2colPacked(r0: i32, r1: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  oh: i32, ow: i32, x: usize, dst: usize): void {
  const run = kw * c;
  const k = kh * run;
  const ohw = oh * ow;
  const xRowStep = <usize>(w * c) << 2; // one input row (iy -> iy + 1)
  const stripBytes = <usize>(k * MR) << 2;
  let b = r0 / ohw, oy = (r0 - b * ohw) / ow, ox = r0 - b * ohw - oy * ow;
  for (let r = r0; r < r1; r += MR) {
    const b0 = b, oy0 = oy, ox0 = ox;
    // Origins x[b, oy·sh−ph, ox·sw−pw, 0] of the four windows, and whether all lie inside x.
    let s0: usize = 0, s1: usize = 0, s2: usize = 0, s3: usize = 0;
    let interior = r + MR <= r1;
    for (let q = 0; q < MR && interior; q++) {
      const iy0 = oy * sh - ph, ix0 = ox * sw - pw;
      if (iy0 < 0 || iy0 + kh > h || ix0 < 0 || ix0 + kw > w) interior = false;
      const s = x + (<usize>(((b * h + iy0) * w + ix0) * c) << 2);
      if (q == 0) s0 = s; else if (q == 1) s1 = s; else if (q == 2) s2 = s; else s3 = s;
      if (++ox == ow) { ox = 0; if (++oy == oh) { oy = 0; b++; } }
    }
    if (interior) {
      let d = dst;
      if (s1 - s0 == 4 && s2 - s1 == 4 && s3 - s2 == 4) {
        for (let ky = 0; ky < kh; ky++) {
          for (let p = 0; p < run; p++) v128.store(d + (<usize>p << 4), v128.load(s0 + (<usize>p << 2)));
          d += <usize>run << 4;
          s0 += xRowStep;
        }
      } else {
        for (let ky = 0; ky < kh; ky++) {
          transposeRuns(s0, s1, s2, s3, run, d);
          d += <usize>run << 4;
          s0 += xRowStep; s1 += xRowStep; s2 += xRowStep; s3 += xRowStep;
        }
      }
    } else {
      // Windows touching the padding (or a last partial strip): the four rows go through the
      // plain im2col into stripRows (rows past r1 zero), then one transpose into the strip.
      const rows = r1 - r < MR ? r1 - r : MR;
      im2col(r, r + rows, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, x, stripRows);
      if (rows < MR) zeroF32(stripRows + (<usize>(rows * k) << 2), (MR - rows) * k);
      const rowBytes = <usize>k << 2;
      transposeRuns(stripRows, stripRows + rowBytes, stripRows + 2 * rowBytes, stripRows + 3 * rowBytes, k, dst);
      b = b0; oy = oy0; ox = ox0;
      for (let q = 0; q < rows; q++) if (++ox == ow) { ox = 0; if (++oy == oh) { oy = 0; b++; } }
    }
    dst += stripBytes;
  }
}

/** Packed rows p..p+3 from four runs: dst[(p + i)·4 + q] = run_q[p + i]. */
// @ts-ignore: decorator
@inline function transposeRuns(s0: usize, s1: usize, s2: usize, s3: usize, run: i32, dst: usize): void {
  let p = 0;
  for (; p + 4 <= run; p += 4) {
    const o = <usize>p << 2;
    storeTransposed4x4(dst + (<usize>p << 4), 16, v128.load(s0 + o), v128.load(s1 + o), v128.load(s2 + o), v128.load(s3 + o));
  }
  for (; p < run; p++) {
    const o = <usize>p << 2;
    const d = dst + (<usize>p << 4);
    store<f32>(d, load<f32>(s0 + o));
    store<f32>(d, load<f32>(s1 + o), 4);
    store<f32>(d, load<f32>(s2 + o), 8);
    store<f32>(d, load<f32>(s3 + o), 12);
  }
}

/** col2im of output rows [r0, r1): dx[b, iy, ix, :] += dcol[r, (ky, kx, :)] (padding dropped). */
function col2imAdd(r0: i32, r1: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  oh: i32, ow: i32, col: usize, dx: usize): void {
  const run = kw * c;
  const ohw = oh * ow;
  let src = col;
  let b = r0 / ohw, oy = (r0 - b * ohw) / ow, ox = r0 - b * ohw - oy * ow;
  for (let r = r0; r < r1; r++) {
    const iy0 = oy * sh - ph, ix0 = ox * sw - pw;
    const xb = dx + (<usize>(b * h) * w * c << 2);
    const xInside = ix0 >= 0 && ix0 + kw <= w;
    for (let ky = 0; ky < kh; ky++) {
      const iy = iy0 + ky;
      if (iy >= 0 && iy < h) {
        const xrow = xb + (<usize>(iy * w) * c << 2);
        if (xInside) {
          addF32(src, xrow + (<usize>(ix0 * c) << 2), run);
        } else {
          for (let kx = 0; kx < kw; kx++) {
            const ix = ix0 + kx;
            if (ix >= 0 && ix < w) addF32(src + (<usize>(kx * c) << 2), xrow + (<usize>(ix * c) << 2), c);
          }
        }
      }
      src += <usize>run << 2;
    }
    if (++ox == ow) { ox = 0; if (++oy == oh) { oy = 0; b++; } }
  }
}

// ---------------------------------------------------------------------------------------------
// Forward

/**
 * y[N, OH, OW, F] (=|+=) conv2d(x[N, H, W, C], wgt[KH, KW, C, F]) + bias[F].
 * bias 0 = none; acc 0 overwrites y, 1 adds to it. `col` is scratch of conv2d_col_bytes(...)
 * bytes (may be 0 for 1×1 / stride 1 / no padding; unused, but pass it anyway, when
 * K = KH·KW·C <= 512 and W fits the GEMM's packed-B buffer: then im2col goes to packed A).
 */
export function conv2d_f32_nhwc(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  x: usize, wgt: usize, bias: usize, y: usize, acc: i32, col: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  const m = n * oh * ow, k = kh * kw * c;
  if (isPointwise(kh, kw, sh, sw, ph, pw)) {
    gemm_f32_nn(m, f, c, x, c, wgt, f, y, f, bias, acc);
    return;
  }
  if (k <= MACRO_KC_MAX && packedBFloats(k, f) <= PACK_B_FLOATS) {
    // W packed once; each chunk of rows (as many as the packed-A buffer holds, a multiple of
    // 16) is im2col'ed into packed A and multiplied in one k-block: every output is summed in
    // p order, as in the scalar twin.
    gemmPackB(wgt, f, k, f);
    const packA = gemmPackA();
    let rows = (PACK_A_FLOATS / k) & ~15;
    if (rows > m) rows = m;
    for (let r0 = 0; r0 < m; r0 += rows) {
      const r1 = r0 + rows < m ? r0 + rows : m;
      im2colPacked(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, x, packA);
      gemmMacro(r1 - r0, f, k, y + (<usize>(r0 * f) << 2), f, acc != 0, bias);
    }
    return;
  }
  assert(col != 0, 'conv2d: col scratch required');
  const rows = chunkRows(k, m);
  for (let r0 = 0; r0 < m; r0 += rows) {
    const r1 = r0 + rows < m ? r0 + rows : m;
    im2col(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, x, col);
    gemm_f32_nn(r1 - r0, f, k, col, k, wgt, f, y + (<usize>(r0 * f) << 2), f, bias, acc);
  }
}

/** Scalar direct twin of {@link conv2d_f32_nhwc} (naive loops, no im2col; `col` unused): the test oracle. */
export function conv2d_f32_nhwc_scalar(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  x: usize, wgt: usize, bias: usize, y: usize, acc: i32, col: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    for (let fo = 0; fo < f; fo++) {
      const yp = y + (<usize>(((b * oh + oy) * ow + ox) * f + fo) << 2);
      let s: f32 = acc ? load<f32>(yp) : 0;
      if (bias) s += load<f32>(bias + (<usize>fo << 2));
      let d: f32 = 0;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh - ph + ky;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * sw - pw + kx;
          if (ix < 0 || ix >= w) continue;
          for (let ci = 0; ci < c; ci++) {
            d += load<f32>(x + (<usize>(((b * h + iy) * w + ix) * c + ci) << 2)) *
              load<f32>(wgt + (<usize>(((ky * kw + kx) * c + ci) * f + fo) << 2));
          }
        }
      }
      store<f32>(yp, s + d);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward data: dx = col2im(dy · Wᵀ)

/**
 * dx[N, H, W, C] (=|+=) ∂(sum y⊙dy)/∂x for y = conv2d(x, wgt): dcol = dy[N·OH·OW, F] · W[K, F]ᵀ,
 * then scatter-added into dx (col2im). acc 0 overwrites dx, 1 adds. `col` as for the forward.
 */
export function conv2d_backward_data_f32_nhwc(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  dy: usize, wgt: usize, dx: usize, acc: i32, col: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  const m = n * oh * ow, k = kh * kw * c;
  if (isPointwise(kh, kw, sh, sw, ph, pw)) {
    gemm_f32_nt(m, c, f, dy, f, wgt, f, dx, c, 0, acc);
    return;
  }
  assert(col != 0, 'conv2d: col scratch required');
  if (!acc) zeroF32(dx, n * h * w * c);
  const rows = chunkRows(k, m);
  for (let r0 = 0; r0 < m; r0 += rows) {
    const r1 = r0 + rows < m ? r0 + rows : m;
    gemm_f32_nt(r1 - r0, k, f, dy + (<usize>(r0 * f) << 2), f, wgt, f, col, k, 0, 0);
    col2imAdd(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, col, dx);
  }
}

/** Scalar direct twin of {@link conv2d_backward_data_f32_nhwc} (`col` unused). */
export function conv2d_backward_data_f32_nhwc_scalar(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  dy: usize, wgt: usize, dx: usize, acc: i32, col: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  if (!acc) for (let i = 0; i < n * h * w * c; i++) store<f32>(dx + (<usize>i << 2), 0);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    const dyp = dy + (<usize>(((b * oh + oy) * ow + ox) * f) << 2);
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * sh - ph + ky;
      if (iy < 0 || iy >= h) continue;
      for (let kx = 0; kx < kw; kx++) {
        const ix = ox * sw - pw + kx;
        if (ix < 0 || ix >= w) continue;
        for (let ci = 0; ci < c; ci++) {
          let d: f32 = 0;
          for (let fo = 0; fo < f; fo++) {
            d += load<f32>(dyp + (<usize>fo << 2)) * load<f32>(wgt + (<usize>(((ky * kw + kx) * c + ci) * f + fo) << 2));
          }
          const xp = dx + (<usize>(((b * h + iy) * w + ix) * c + ci) << 2);
          store<f32>(xp, load<f32>(xp) + d);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward filter: dW = colᵀ · dy

/**
 * dw[KH, KW, C, F] (=|+=) ∂(sum y⊙dy)/∂W for y = conv2d(x, W): colᵀ[K, N·OH·OW] · dy[N·OH·OW, F],
 * summed chunk by chunk. acc 0 overwrites dw, 1 adds. `col` as for the forward.
 */
export function conv2d_backward_filter_f32_nhwc(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  x: usize, dy: usize, dw: usize, acc: i32, col: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  const m = n * oh * ow, k = kh * kw * c;
  if (isPointwise(kh, kw, sh, sw, ph, pw)) {
    gemm_f32_tn(c, f, m, x, c, dy, f, dw, f, 0, acc);
    return;
  }
  assert(col != 0, 'conv2d: col scratch required');
  const rows = chunkRows(k, m);
  for (let r0 = 0; r0 < m; r0 += rows) {
    const r1 = r0 + rows < m ? r0 + rows : m;
    im2col(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, x, col);
    gemm_f32_tn(k, f, r1 - r0, col, k, dy + (<usize>(r0 * f) << 2), f, dw, f, 0, r0 == 0 ? acc : 1);
  }
}

/** Scalar direct twin of {@link conv2d_backward_filter_f32_nhwc} (`col` unused). */
export function conv2d_backward_filter_f32_nhwc_scalar(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  x: usize, dy: usize, dw: usize, acc: i32, col: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) for (let ci = 0; ci < c; ci++) {
    for (let fo = 0; fo < f; fo++) {
      let d: f32 = 0;
      for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) {
        const iy = oy * sh - ph + ky;
        if (iy < 0 || iy >= h) continue;
        for (let ox = 0; ox < ow; ox++) {
          const ix = ox * sw - pw + kx;
          if (ix < 0 || ix >= w) continue;
          d += load<f32>(x + (<usize>(((b * h + iy) * w + ix) * c + ci) << 2)) *
            load<f32>(dy + (<usize>(((b * oh + oy) * ow + ox) * f + fo) << 2));
        }
      }
      const wp = dw + (<usize>(((ky * kw + kx) * c + ci) * f + fo) << 2);
      store<f32>(wp, (acc ? load<f32>(wp) : <f32>0) + d);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bias gradient: column sums of dy

/**
 * db[F] (=|+=) Σ_rows dy[rows, F]: the bias gradient of a conv (rows = N·OH·OW) or of a dense
 * layer (rows = batch). SIMD across F, rows summed in order. acc 0 overwrites db, 1 adds.
 */
export function conv2d_bias_grad_f32(rows: i32, f: i32, dy: usize, db: usize, acc: i32): void {
  assert(rows >= 0 && f > 0, 'bias_grad: bad sizes');
  const rowStep = <usize>f << 2;
  let j = 0;
  // 16 columns per pass over dy (4 accumulators), so a wide dy is streamed F/16 times, not F/4
  for (; j + 16 <= f; j += 16) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let p = dy + (<usize>j << 2);
    for (let r = 0; r < rows; r++) {
      s0 = f32x4.add(s0, v128.load(p));
      s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32));
      s3 = f32x4.add(s3, v128.load(p, 48));
      p += rowStep;
    }
    const dp = db + (<usize>j << 2);
    if (acc) {
      s0 = f32x4.add(v128.load(dp), s0);
      s1 = f32x4.add(v128.load(dp, 16), s1);
      s2 = f32x4.add(v128.load(dp, 32), s2);
      s3 = f32x4.add(v128.load(dp, 48), s3);
    }
    v128.store(dp, s0); v128.store(dp, s1, 16); v128.store(dp, s2, 32); v128.store(dp, s3, 48);
  }
  for (; j + 4 <= f; j += 4) {
    let s0123 = f32x4.splat(0);
    let p = dy + (<usize>j << 2);
    for (let r = 0; r < rows; r++) {
      s0123 = f32x4.add(s0123, v128.load(p));
      p += rowStep;
    }
    const dp = db + (<usize>j << 2);
    v128.store(dp, acc ? f32x4.add(v128.load(dp), s0123) : s0123);
  }
  for (; j < f; j++) {
    let s: f32 = 0;
    for (let r = 0; r < rows; r++) s += load<f32>(dy + (<usize>(r * f + j) << 2));
    const dp = db + (<usize>j << 2);
    store<f32>(dp, acc ? load<f32>(dp) + s : s);
  }
}

/** Scalar twin of {@link conv2d_bias_grad_f32}. */
export function conv2d_bias_grad_f32_scalar(rows: i32, f: i32, dy: usize, db: usize, acc: i32): void {
  assert(rows >= 0 && f > 0, 'bias_grad: bad sizes');
  for (let j = 0; j < f; j++) {
    let s: f32 = 0;
    for (let r = 0; r < rows; r++) s += load<f32>(dy + (<usize>(r * f + j) << 2));
    const dp = db + (<usize>j << 2);
    store<f32>(dp, acc ? load<f32>(dp) + s : s);
  }
}
