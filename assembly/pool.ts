// 2-D max and average pooling, f32, NHWC: forward and backward.
//
// x [N, H, W, C] → y [N, OH, OW, C], OH = floor((H + 2·ph − KH) / sh) + 1 (same for W).
// Padding positions are never part of a window: max ignores them (as if −∞) and average
// divides by the number of real pixels in the window (count_include_pad = false). The
// paddings must be smaller than the window (ph < kh, pw < kw), which guarantees that every
// window holds at least one real pixel.
//
// Max pooling ties go to the FIRST maximum in window scan order (ky, then kx); forward and
// backward use the same strict `>` rule, and backward recomputes the argmax from x, so no index
// buffer is kept. SIMD runs across channels (4 at a time); the C % 4 tail is scalar.
// Pointers are byte offsets; sizes, strides and paddings are in elements.

import { checkWindow2d, outDim } from './geometry';

function checkPoolArgs(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32): void {
  checkWindow2d(n, h, w, c, c, kh, kw, sh, sw, ph, pw);
  // A window made only of padding would have no input to reduce.
  assert(ph < kh && pw < kw, 'pool2d: padding must be in [0, window)');
}

// @ts-ignore: decorator
@inline function zeroF32(dst: usize, len: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= len; i += 4) v128.store(dst + (<usize>i << 2), z);
  for (; i < len; i++) store<f32>(dst + (<usize>i << 2), 0);
}

// ---------------------------------------------------------------------------------------------
// Max pooling

/** y[N, OH, OW, C] = max over each KH×KW window of x[N, H, W, C] (padding ignored). */
export function max_pool2d_f32_nhwc(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  x: usize, y: usize): void {
  checkPoolArgs(n, h, w, c, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  const rowStride = <usize>(w * c) << 2, pixStride = <usize>c << 2;
  let yp = y;
  for (let b = 0; b < n; b++) {
    const xb = x + (<usize>(b * h) * w * c << 2);
    for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      // the window clipped to the image: rows [wy0, wy1), columns [wx0, wx1)
      const oy0 = oy * sh - ph, ox0 = ox * sw - pw;
      const wy0 = max(oy0, 0), wy1 = min(oy0 + kh, h), wx0 = max(ox0, 0), wx1 = min(ox0 + kw, w);
      const first = xb + (<usize>(wy0 * w + wx0) * c << 2);
      let ci = 0;
      for (; ci + 4 <= c; ci += 4) {
        const cOff = <usize>ci << 2;
        let max0123 = v128.load(first + cOff);
        let rowp = first + cOff;
        for (let iy = wy0; iy < wy1; iy++) {
          let p = rowp;
          for (let ix = wx0; ix < wx1; ix++) {
            const v = v128.load(p);
            // strict >: keeps the first maximum, exactly like the scalar rule
            max0123 = v128.bitselect(v, max0123, f32x4.gt(v, max0123));
            p += pixStride;
          }
          rowp += rowStride;
        }
        v128.store(yp + cOff, max0123);
      }
      for (; ci < c; ci++) {
        const cOff = <usize>ci << 2;
        let m = load<f32>(first + cOff);
        for (let iy = wy0; iy < wy1; iy++) for (let ix = wx0; ix < wx1; ix++) {
          const v = load<f32>(xb + (<usize>(iy * w + ix) * c << 2) + cOff);
          if (v > m) m = v;
        }
        store<f32>(yp + cOff, m);
      }
      yp += pixStride;
    }
  }
}

/** Scalar twin of {@link max_pool2d_f32_nhwc}: the test oracle. */
export function max_pool2d_f32_nhwc_scalar(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  x: usize, y: usize): void {
  checkPoolArgs(n, h, w, c, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let ci = 0; ci < c; ci++) {
    let m: f32 = 0;
    let seen = false;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      const v = load<f32>(x + (<usize>(((b * h + iy) * w + ix) * c + ci) << 2));
      if (!seen || v > m) { m = v; seen = true; }
    }
    store<f32>(y + (<usize>(((b * oh + oy) * ow + ox) * c + ci) << 2), m);
  }
}

/**
 * dx[N, H, W, C] (=|+=) gradient of max pooling: each dy goes to the first maximum of its window
 * (recomputed from x). acc 0 overwrites dx, 1 adds.
 */
export function max_pool2d_backward_f32_nhwc(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  x: usize, dy: usize, dx: usize, acc: i32): void {
  checkPoolArgs(n, h, w, c, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  // Windows that tile x exactly (stride = window, no padding, nothing left over) write every dx
  // element once: no zero fill and no read-modify-write.
  const direct = !acc && sh == kh && sw == kw && ph == 0 && pw == 0 && oh * kh == h && ow * kw == w;
  if (!acc && !direct) zeroF32(dx, n * h * w * c);
  const rowStride = <usize>(w * c) << 2, pixStride = <usize>c << 2;
  let dyp = dy;
  for (let b = 0; b < n; b++) {
    const boff = <usize>(b * h) * w * c << 2;
    const xb = x + boff, dxb = dx + boff;
    for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      // the window clipped to the image: rows [wy0, wy1), columns [wx0, wx1)
      const oy0 = oy * sh - ph, ox0 = ox * sw - pw;
      const wy0 = max(oy0, 0), wy1 = min(oy0 + kh, h), wx0 = max(ox0, 0), wx1 = min(ox0 + kw, w);
      const firstOff = <usize>(wy0 * w + wx0) * c << 2;
      let ci = 0;
      for (; ci + 4 <= c; ci += 4) {
        const cOff = <usize>ci << 2;
        // pass 1: the maximum, as in the forward
        let max0123 = v128.load(xb + firstOff + cOff);
        let rowOff = firstOff + cOff;
        for (let iy = wy0; iy < wy1; iy++) {
          let q = rowOff;
          for (let ix = wx0; ix < wx1; ix++) {
            const v = v128.load(xb + q);
            max0123 = v128.bitselect(v, max0123, f32x4.gt(v, max0123));
            q += pixStride;
          }
          rowOff += rowStride;
        }
        // pass 2: each lane adds its dy at the first position equal to its maximum
        const g0123 = v128.load(dyp + cOff);
        let done0123 = i32x4.splat(0);
        rowOff = firstOff + cOff;
        for (let iy = wy0; iy < wy1; iy++) {
          let q = rowOff;
          for (let ix = wx0; ix < wx1; ix++) {
            const hit = v128.andnot(f32x4.eq(v128.load(xb + q), max0123), done0123);
            if (direct) v128.store(dxb + q, v128.and(g0123, hit));
            else v128.store(dxb + q, f32x4.add(v128.load(dxb + q), v128.and(g0123, hit)));
            done0123 = v128.or(done0123, hit);
            q += pixStride;
          }
          rowOff += rowStride;
        }
      }
      for (; ci < c; ci++) {
        const cOff = <usize>ci << 2;
        let m = load<f32>(xb + firstOff + cOff);
        let at = firstOff + cOff;
        for (let iy = wy0; iy < wy1; iy++) for (let ix = wx0; ix < wx1; ix++) {
          const q = (<usize>(iy * w + ix) * c << 2) + cOff;
          const v = load<f32>(xb + q);
          if (direct) store<f32>(dxb + q, 0);
          if (v > m) { m = v; at = q; }
        }
        store<f32>(dxb + at, load<f32>(dxb + at) + load<f32>(dyp + cOff));
      }
      dyp += pixStride;
    }
  }
}

/** Scalar twin of {@link max_pool2d_backward_f32_nhwc}. */
export function max_pool2d_backward_f32_nhwc_scalar(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  x: usize, dy: usize, dx: usize, acc: i32): void {
  checkPoolArgs(n, h, w, c, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  if (!acc) for (let i = 0; i < n * h * w * c; i++) store<f32>(dx + (<usize>i << 2), 0);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let ci = 0; ci < c; ci++) {
    let m: f32 = 0;
    let at = -1;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      const i = ((b * h + iy) * w + ix) * c + ci;
      const v = load<f32>(x + (<usize>i << 2));
      if (at < 0 || v > m) { m = v; at = i; }
    }
    const p = dx + (<usize>at << 2);
    store<f32>(p, load<f32>(p) + load<f32>(dy + (<usize>(((b * oh + oy) * ow + ox) * c + ci) << 2)));
  }
}

// ---------------------------------------------------------------------------------------------
// Average pooling (count_include_pad = false)

/** y[N, OH, OW, C] = mean of x over the real (non-padding) pixels of each window. */
export function avg_pool2d_f32_nhwc(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  x: usize, y: usize): void {
  checkPoolArgs(n, h, w, c, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  const rowStride = <usize>(w * c) << 2, pixStride = <usize>c << 2;
  let yp = y;
  for (let b = 0; b < n; b++) {
    const xb = x + (<usize>(b * h) * w * c << 2);
    for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      // the window clipped to the image: rows [wy0, wy1), columns [wx0, wx1)
      const oy0 = oy * sh - ph, ox0 = ox * sw - pw;
      const wy0 = max(oy0, 0), wy1 = min(oy0 + kh, h), wx0 = max(ox0, 0), wx1 = min(ox0 + kw, w);
      const count = <f32>((wy1 - wy0) * (wx1 - wx0));
      const first = xb + (<usize>(wy0 * w + wx0) * c << 2);
      let ci = 0;
      for (; ci + 4 <= c; ci += 4) {
        const cOff = <usize>ci << 2;
        let sum0123 = f32x4.splat(0);
        let rowp = first + cOff;
        for (let iy = wy0; iy < wy1; iy++) {
          let p = rowp;
          for (let ix = wx0; ix < wx1; ix++) {
            sum0123 = f32x4.add(sum0123, v128.load(p));
            p += pixStride;
          }
          rowp += rowStride;
        }
        v128.store(yp + cOff, f32x4.div(sum0123, f32x4.splat(count)));
      }
      for (; ci < c; ci++) {
        const cOff = <usize>ci << 2;
        let s: f32 = 0;
        for (let iy = wy0; iy < wy1; iy++) for (let ix = wx0; ix < wx1; ix++) s += load<f32>(xb + (<usize>(iy * w + ix) * c << 2) + cOff);
        store<f32>(yp + cOff, s / count);
      }
      yp += pixStride;
    }
  }
}

/** Scalar twin of {@link avg_pool2d_f32_nhwc}. */
export function avg_pool2d_f32_nhwc_scalar(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  x: usize, y: usize): void {
  checkPoolArgs(n, h, w, c, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let ci = 0; ci < c; ci++) {
    let s: f32 = 0;
    let cnt = 0;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      s += load<f32>(x + (<usize>(((b * h + iy) * w + ix) * c + ci) << 2));
      cnt++;
    }
    store<f32>(y + (<usize>(((b * oh + oy) * ow + ox) * c + ci) << 2), s / <f32>cnt);
  }
}

/** dx[N, H, W, C] (=|+=) gradient of average pooling: dy / count to every real pixel of its window. */
export function avg_pool2d_backward_f32_nhwc(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  dy: usize, dx: usize, acc: i32): void {
  checkPoolArgs(n, h, w, c, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  // Windows that tile x exactly (stride = window, no padding, nothing left over) write every dx
  // element once: no zero fill and no read-modify-write.
  const direct = !acc && sh == kh && sw == kw && ph == 0 && pw == 0 && oh * kh == h && ow * kw == w;
  if (!acc && !direct) zeroF32(dx, n * h * w * c);
  const rowStride = <usize>(w * c) << 2, pixStride = <usize>c << 2;
  let dyp = dy;
  for (let b = 0; b < n; b++) {
    const dxb = dx + (<usize>(b * h) * w * c << 2);
    for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      // the window clipped to the image: rows [wy0, wy1), columns [wx0, wx1)
      const oy0 = oy * sh - ph, ox0 = ox * sw - pw;
      const wy0 = max(oy0, 0), wy1 = min(oy0 + kh, h), wx0 = max(ox0, 0), wx1 = min(ox0 + kw, w);
      const count = <f32>((wy1 - wy0) * (wx1 - wx0));
      const first = dxb + (<usize>(wy0 * w + wx0) * c << 2);
      let ci = 0;
      for (; ci + 4 <= c; ci += 4) {
        const cOff = <usize>ci << 2;
        const g0123 = f32x4.div(v128.load(dyp + cOff), f32x4.splat(count));
        let rowp = first + cOff;
        for (let iy = wy0; iy < wy1; iy++) {
          let p = rowp;
          for (let ix = wx0; ix < wx1; ix++) {
            v128.store(p, f32x4.add(v128.load(p), g0123));
            p += pixStride;
          }
          rowp += rowStride;
        }
      }
      for (; ci < c; ci++) {
        const cOff = <usize>ci << 2;
        const g = load<f32>(dyp + cOff) / count;
        for (let iy = wy0; iy < wy1; iy++) for (let ix = wx0; ix < wx1; ix++) {
          const p = dxb + (<usize>(iy * w + ix) * c << 2) + cOff;
          store<f32>(p, load<f32>(p) + g);
        }
      }
      dyp += pixStride;
    }
  }
}

/** Scalar twin of {@link avg_pool2d_backward_f32_nhwc}. */
export function avg_pool2d_backward_f32_nhwc_scalar(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  dy: usize, dx: usize, acc: i32): void {
  checkPoolArgs(n, h, w, c, kh, kw, sh, sw, ph, pw);
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  if (!acc) for (let i = 0; i < n * h * w * c; i++) store<f32>(dx + (<usize>i << 2), 0);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let ci = 0; ci < c; ci++) {
    let cnt = 0;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
      if (iy >= 0 && iy < h && ix >= 0 && ix < w) cnt++;
    }
    const g = load<f32>(dy + (<usize>(((b * oh + oy) * ow + ox) * c + ci) << 2)) / <f32>cnt;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      const p = dx + (<usize>(((b * h + iy) * w + ix) * c + ci) << 2);
      store<f32>(p, load<f32>(p) + g);
    }
  }
}
