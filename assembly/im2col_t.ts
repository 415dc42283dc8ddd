// Feature-major im2col shared by the sparse convolution kernels (not exported from the module).

import { transpose_f32 } from './transpose';

/**
 * Whether a chunk's im2col/col2im goes row kk by row ({@link im2colTNarrow}): with fewer than 4
 * channels a pixel's runs are too short to pay for the copy + transpose, and so when a list of
 * the rows wanted (`rows`, nrows u32 indices kk; 0 = all) names at most a quarter of the k rows:
 * strided gathers of a few rows beat the full copy + transpose only then (on LeNet-5's conv2,
 * 184 of 500 rows live, they tie).
 */
// @ts-ignore: decorator
@inline export function narrowRows(c: i32, k: i32, rows: usize, nrows: i32): bool {
  return c < 4 || (rows != 0 && nrows * 4 <= k);
}

/**
 * colT[kk, r − r0] for output pixels r in [r0, r1), zero where padded: an NHWC im2col chunk
 * [r1 − r0, K] in `rowBuf` ((r1 − r0)·K floats), then one SIMD transpose into colT; or, when
 * {@link narrowRows}, colT filled row by row (`rowBuf` unused, unlisted rows left as they were).
 */
export function im2colT(r0: i32, r1: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  oh: i32, ow: i32, x: usize, rowBuf: usize, colT: usize, rows: usize = 0, nrows: i32 = 0): void {
  const k = kh * kw * c;
  if (narrowRows(c, k, rows, nrows)) {
    im2colTNarrow(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, x, colT, false, rows, nrows);
    return;
  }
  im2colRows(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, x, rowBuf, false);
  transpose_f32(r1 - r0, k, rowBuf, k, colT, r1 - r0);
}

/**
 * x += col2im(dcolT) for output pixels [r0, r1), the reverse of {@link im2colT} with the same
 * choice of path (the same rows when narrow): dcolT [K, r1 − r0] is transposed into `rowBuf` and
 * added by channel runs, padded entries dropped.
 */
export function col2imTAdd(r0: i32, r1: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  oh: i32, ow: i32, dcolT: usize, rowBuf: usize, x: usize, rows: usize = 0, nrows: i32 = 0): void {
  const k = kh * kw * c;
  if (narrowRows(c, k, rows, nrows)) {
    im2colTNarrow(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, x, dcolT, true, rows, nrows);
    return;
  }
  transpose_f32(k, r1 - r0, dcolT, r1 - r0, rowBuf, k);
  im2colRows(r0, r1, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, x, rowBuf, true);
}

/**
 * Pixel-major im2col of output pixels [r0, r1) by channel runs: with `add` false
 * rowBuf [r1 − r0, K] = the receptive fields of x (0 where padded); with `add` true the reverse,
 * x += rowBuf at the unpadded entries.
 */
function im2colRows(r0: i32, r1: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  oh: i32, ow: i32, x: usize, rowBuf: usize, add: bool): void {
  const run = <usize>c << 2;
  const c4 = c & ~3;
  let d = rowBuf;
  for (let r = r0; r < r1; r++) {
    const ox = r % ow, t = r / ow;
    const oy = t % oh, b = t / oh;
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * sh - ph + ky;
      for (let kx = 0; kx < kw; kx++) {
        const ix = ox * sw - pw + kx;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
          if (!add) {
            for (let ci = 0; ci < c4; ci += 4) v128.store(d + (<usize>ci << 2), f32x4.splat(0));
            for (let ci = c4; ci < c; ci++) store<f32>(d + (<usize>ci << 2), 0);
          }
        } else {
          const s = x + (<usize>(((b * h + iy) * w + ix) * c) << 2);
          if (add) {
            for (let ci = 0; ci < c4; ci += 4) {
              const o = <usize>ci << 2;
              v128.store(s + o, f32x4.add(v128.load(s + o), v128.load(d + o)));
            }
            for (let ci = c4; ci < c; ci++) store<f32>(s + (<usize>ci << 2), load<f32>(s + (<usize>ci << 2)) + load<f32>(d + (<usize>ci << 2)));
          } else {
            for (let ci = 0; ci < c4; ci += 4) v128.store(d + (<usize>ci << 2), v128.load(s + (<usize>ci << 2)));
            for (let ci = c4; ci < c; ci++) store<f32>(d + (<usize>ci << 2), load<f32>(s + (<usize>ci << 2)));
          }
        }
        d += run;
      }
    }
  }
}

/**
 * Row kk of colT at a time: for each output row segment (b, oy, ox0..ox1) of the chunk, the
 * receptive-field entries (ky, kx, ci) are x at stride sw·C, contiguous in colT. With `add`
 * false: colT[kk, ·] = x (0 where padded); with `add` true the reverse, x[...] += colT[kk, ·]
 * (the col2im of a gradient; padded entries are dropped). No division per element. Only the
 * rows listed in `rows` (nrows u32 indices) when rows ≠ 0, else all.
 */
export function im2colTNarrow(r0: i32, r1: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  oh: i32, ow: i32, x: usize, colT: usize, add: bool, rows: usize = 0, nrows: i32 = 0): void {
  const k = kh * kw * c;
  const mc = r1 - r0;
  const step = <usize>(sw * c) << 2;
  const count = rows ? nrows : k;
  for (let j = 0; j < count; j++) {
    const kk = rows ? <i32>load<u32>(rows + (<usize>j << 2)) : j;
    const ci = kk % c, t0 = kk / c;
    const kx = t0 % kw, ky = t0 / kw;
    // Output pixels ox with 0 ≤ ox·sw − pw + kx < w: [oxLo, oxHi).
    let oxLo = pw - kx > 0 ? (pw - kx + sw - 1) / sw : 0;
    let oxHi = (w - 1 + pw - kx) >= 0 ? (w - 1 + pw - kx) / sw + 1 : 0;
    if (oxHi > ow) oxHi = ow;
    if (oxLo > oxHi) oxLo = oxHi;
    let d = colT + ((<usize>kk * <usize>mc) << 2);
    let r = r0;
    let ox = r0 % ow;
    const t = r0 / ow;
    let oy = t % oh, b = t / oh;
    while (r < r1) {
      const end = ox + (r1 - r) < ow ? ox + (r1 - r) : ow;
      const iy = oy * sh - ph + ky;
      const lo = oxLo > ox ? (oxLo < end ? oxLo : end) : ox;
      const hi = oxHi < end ? (oxHi > lo ? oxHi : lo) : end;
      if (iy < 0 || iy >= h) {
        if (!add) for (let o = ox; o < end; o++) store<f32>(d + (<usize>(o - ox) << 2), 0);
      } else {
        if (!add) {
          for (let o = ox; o < lo; o++) store<f32>(d + (<usize>(o - ox) << 2), 0);
          for (let o = hi; o < end; o++) store<f32>(d + (<usize>(o - ox) << 2), 0);
        }
        let s = x + (<usize>(((b * h + iy) * w + (lo * sw - pw + kx)) * c + ci) << 2);
        let dd = d + (<usize>(lo - ox) << 2);
        let o = lo;
        if (step == 4) { // stride 1, one channel: contiguous both ways
          for (; o + 4 <= hi; o += 4) {
            if (add) v128.store(s, f32x4.add(v128.load(s), v128.load(dd)));
            else v128.store(dd, v128.load(s));
            s += 16;
            dd += 16;
          }
        }
        for (; o < hi; o++) {
          if (add) store<f32>(s, load<f32>(s) + load<f32>(dd));
          else store<f32>(dd, load<f32>(s));
          s += step;
          dd += 4;
        }
      }
      d += <usize>(end - ox) << 2;
      r += end - ox;
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
}
