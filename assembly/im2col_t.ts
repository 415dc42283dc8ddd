// Feature-major im2col shared by the sparse convolution kernels (not exported from the module).

import { transpose_f32 } from './sparse';

/**
 * colT[kk, r − r0] for output pixels r in [r0, r1), zero where padded: an NHWC im2col chunk
 * [r1 − r0, K] built row by row (contiguous channel runs), then one SIMD transpose into colT.
 * `rowBuf` holds (r1 − r0)·K floats.
 */
export function im2colT(r0: i32, r1: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  oh: i32, ow: i32, x: usize, rowBuf: usize, colT: usize): void {
  const k = kh * kw * c;
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
          for (let ci = 0; ci < c4; ci += 4) v128.store(d + (<usize>ci << 2), f32x4.splat(0));
          for (let ci = c4; ci < c; ci++) store<f32>(d + (<usize>ci << 2), 0);
        } else {
          const s = x + (<usize>(((b * h + iy) * w + ix) * c) << 2);
          for (let ci = 0; ci < c4; ci += 4) v128.store(d + (<usize>ci << 2), v128.load(s + (<usize>ci << 2)));
          for (let ci = c4; ci < c; ci++) store<f32>(d + (<usize>ci << 2), load<f32>(s + (<usize>ci << 2)));
        }
        d += run;
      }
    }
  }
  transpose_f32(r1 - r0, k, rowBuf, k, colT, r1 - r0);
}

