// Products with a sparse output gradient, f32.
//
// Behind a max-pool (and a ReLU) most of a layer's output gradient is exactly zero: a 2x2 pool
// passes a gradient to one pixel of four per channel, so a conv layer of LeNet-5 sees at most a
// quarter of dy nonzero, scattered over the channels. The two weight-side products of a layer's
// backward then need only the nonzero entries:
//   backward-filter  dW[kk, fo] = Σ_r col[r, kk]·g[r, fo]
//   backward-data    dx = col2im(g·Wᵀ)
// Each nonzero g[r, fo] = v of output pixel r = (b, oy, ox) adds v times a receptive field, and
// for every kernel row ky that field is one contiguous run of (kx, ci) in NHWC, kw·C floats long
// (fewer where padding clips it): an axpy between x (or dx) and row fo of Wᵀ [F, K] (or dWᵀ).
// So the work is nnz·K multiply-adds instead of M·F·K, with no im2col.
//
// g's nonzeros are listed per output pixel (CSR over the M = N·OH·OW rows: rowPtr, u32 column
// fo, value). A dense layer is the 1×1 convolution of a 1×1 image with C = inputs.
//
// Every sum runs over the nonzeros in (r, fo) order, in the SIMD kernels and their scalar twins
// alike, so the two agree bit for bit. Products against the dense kernels agree to rounding.

import { checkWindow2d, outDim } from './geometry';

// Byte shuffles that pack the set lanes of a 4-lane mask (index = the mask's bits) to the front.
const PACK_LANES: usize = memory.data<u8>([
  128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  4, 5, 6, 7, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 4, 5, 6, 7, 128, 128, 128, 128, 128, 128, 128, 128,
  8, 9, 10, 11, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 8, 9, 10, 11, 128, 128, 128, 128, 128, 128, 128, 128,
  4, 5, 6, 7, 8, 9, 10, 11, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 128, 128, 128, 128,
  12, 13, 14, 15, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 12, 13, 14, 15, 128, 128, 128, 128, 128, 128, 128, 128,
  4, 5, 6, 7, 12, 13, 14, 15, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 128, 128, 128, 128,
  8, 9, 10, 11, 12, 13, 14, 15, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 128, 128, 128, 128,
  4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 128, 128, 128, 128,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
]);

/**
 * CSR over the rows of g [m, f] of its nonzero entries (NaN counts as nonzero): rowPtr gets
 * m + 1 u32 offsets, colIdx the u32 column of each entry in ascending order, val its value.
 * Returns the number of entries, or −1 as soon as a row ends with more than `cap` listed (the
 * caller's limit: the lists stop there). colIdx and val need room for min(cap, m·f) + f + 4
 * entries (a row may pass the cap before the check, and four lanes are stored at a time). No
 * branch depends on the data: each group of four is packed by a lane shuffle and stored whole,
 * and the cursor moves by its count.
 */
export function csr_rows_nonzero_f32(m: i32, f: i32, g: usize, rowPtr: usize, colIdx: usize, val: usize, cap: i32): i32 {
  assert(m >= 0 && f >= 0 && cap >= 0, 'csr_rows_nonzero: sizes and cap must be >= 0');
  const zero = f32x4.splat(0);
  const f4 = f & ~3;
  let p: usize = 0;
  store<u32>(rowPtr, 0);
  for (let r = 0; r < m; r++) {
    const row = g + ((<usize>r * <usize>f) << 2);
    let j = 0;
    for (; j < f4; j += 4) {
      const v = v128.load(row + (<usize>j << 2));
      const mask = i32x4.bitmask(f32x4.ne(v, zero));
      const sel = v128.load(PACK_LANES + (<usize>mask << 4));
      v128.store(val + (p << 2), i8x16.swizzle(v, sel));
      v128.store(colIdx + (p << 2), i8x16.swizzle(i32x4.add(i32x4.splat(j), i32x4(0, 1, 2, 3)), sel));
      p += <usize>popcnt<i32>(mask);
    }
    for (; j < f; j++) {
      const v = load<f32>(row + (<usize>j << 2));
      store<u32>(colIdx + (p << 2), <u32>j);
      store<f32>(val + (p << 2), v);
      p += <usize>(v != 0);
    }
    store<u32>(rowPtr + (<usize>(r + 1) << 2), <u32>p);
    if (p > <usize>cap) return -1;
  }
  return <i32>p;
}

/** Scalar twin of {@link csr_rows_nonzero_f32}. */
export function csr_rows_nonzero_f32_scalar(m: i32, f: i32, g: usize, rowPtr: usize, colIdx: usize, val: usize, cap: i32): i32 {
  assert(m >= 0 && f >= 0 && cap >= 0, 'csr_rows_nonzero: sizes and cap must be >= 0');
  let p: u32 = 0;
  store<u32>(rowPtr, 0);
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < f; j++) {
      const v = load<f32>(g + ((<usize>r * <usize>f + <usize>j) << 2));
      if (v != 0) {
        store<u32>(colIdx + (<usize>p << 2), <u32>j);
        store<f32>(val + (<usize>p << 2), v);
        p++;
      }
    }
    store<u32>(rowPtr + (<usize>(r + 1) << 2), p);
    if (p > <u32>cap) return -1;
  }
  return <i32>p;
}

/** dst[0..len) += v·src[0..len): four lanes, then the tail. */
// @ts-ignore: decorator
@inline function axpy(dst: usize, src: usize, len: i32, v: f32): void {
  const vv = f32x4.splat(v);
  let j = 0;
  for (; j + 4 <= len; j += 4) {
    const o = <usize>j << 2;
    v128.store(dst + o, f32x4.add(v128.load(dst + o), f32x4.mul(vv, v128.load(src + o))));
  }
  for (; j < len; j++) {
    const o = <usize>j << 2;
    store<f32>(dst + o, load<f32>(dst + o) + v * load<f32>(src + o));
  }
}

// @ts-ignore: decorator
@inline function axpyScalar(dst: usize, src: usize, len: i32, v: f32): void {
  for (let j = 0; j < len; j++) {
    const o = <usize>j << 2;
    store<f32>(dst + o, load<f32>(dst + o) + v * load<f32>(src + o));
  }
}

/**
 * The walk both kernels share: for every nonzero (r, fo, v) of the CSR and every kernel row ky
 * whose input row is inside the image, the run of the receptive field: `img` points into the
 * image [N, H, W, C] at (b, iy, ix0, 0), `wrow` into row fo of a [F, KH·KW·C] matrix at
 * (ky, kx0, 0), `len` floats; then `toImage` ? img += v·wrow : wrow += v·img.
 */
// @ts-ignore: decorator
@inline function walkRuns(n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  rowPtr: usize, colIdx: usize, val: usize, image: usize, mat: usize, toImage: bool, simd: bool): void {
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  const k = kh * kw * c;
  const m = n * oh * ow;
  let ox = 0, oy = 0, b = 0;
  let p0 = <i32>load<u32>(rowPtr);
  for (let r = 0; r < m; r++) {
    const p1 = <i32>load<u32>(rowPtr + (<usize>(r + 1) << 2));
    if (p1 > p0) {
      // kx with 0 ≤ ox·sw − pw + kx < w: [kx0, kx1).
      const ixb = ox * sw - pw;
      const kx0 = ixb < 0 ? -ixb : 0;
      const kx1 = w - ixb < kw ? w - ixb : kw;
      if (kx1 > kx0) {
        const len = (kx1 - kx0) * c;
        for (let p = p0; p < p1; p++) {
          const fo = <i32>load<u32>(colIdx + (<usize>p << 2));
          const v = load<f32>(val + (<usize>p << 2));
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph + ky;
            if (iy < 0 || iy >= h) continue;
            const img = image + (<usize>(((b * h + iy) * w + ixb + kx0) * c) << 2);
            const wr = mat + ((<usize>fo * <usize>k + <usize>((ky * kw + kx0) * c)) << 2);
            if (simd) {
              if (toImage) axpy(img, wr, len, v);
              else axpy(wr, img, len, v);
            } else {
              if (toImage) axpyScalar(img, wr, len, v);
              else axpyScalar(wr, img, len, v);
            }
          }
        }
      }
    }
    p0 = p1;
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
}

/**
 * dWᵀ [F, KH·KW·C] (=|+=) the backward-filter product of a conv2d x [N, H, W, C] → [N, OH, OW, F]
 * given its output gradient g as the CSR of its nonzeros (see {@link csr_rows_nonzero_f32}):
 * dWᵀ[fo, (ky, kx, ci)] = Σ_r g[r, fo]·x[b, oy·sh − ph + ky, ox·sw − pw + kx, ci]. Note the
 * transposed layout (W itself is [KH, KW, C, F]). acc 0 overwrites dWᵀ, 1 adds to it.
 */
export function conv2d_backward_filter_rows_f32(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  rowPtr: usize, colIdx: usize, val: usize, x: usize, dwT: usize, acc: i32): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  if (!acc) memory.fill(dwT, 0, (<usize>f * <usize>(kh * kw * c)) << 2);
  walkRuns(n, h, w, c, kh, kw, sh, sw, ph, pw, rowPtr, colIdx, val, x, dwT, false, true);
}

/** Scalar twin of {@link conv2d_backward_filter_rows_f32} (the same sums in the same order). */
export function conv2d_backward_filter_rows_f32_scalar(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  rowPtr: usize, colIdx: usize, val: usize, x: usize, dwT: usize, acc: i32): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  if (!acc) memory.fill(dwT, 0, (<usize>f * <usize>(kh * kw * c)) << 2);
  walkRuns(n, h, w, c, kh, kw, sh, sw, ph, pw, rowPtr, colIdx, val, x, dwT, false, false);
}

/**
 * dx [N, H, W, C] (=|+=) the backward-data product of a conv2d with weights given as
 * Wᵀ [F, KH·KW·C], for the output gradient g as the CSR of its nonzeros:
 * dx[b, iy, ix, ci] += Σ g[r, fo]·Wᵀ[fo, (ky, kx, ci)] over the output pixels r whose receptive
 * field holds (iy, ix). acc 0 overwrites dx, 1 adds to it.
 */
export function conv2d_backward_data_rows_f32(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  rowPtr: usize, colIdx: usize, val: usize, wT: usize, dx: usize, acc: i32): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  if (!acc) memory.fill(dx, 0, (<usize>n * <usize>h * <usize>w * <usize>c) << 2);
  walkRuns(n, h, w, c, kh, kw, sh, sw, ph, pw, rowPtr, colIdx, val, dx, wT, true, true);
}

/** Scalar twin of {@link conv2d_backward_data_rows_f32} (the same sums in the same order). */
export function conv2d_backward_data_rows_f32_scalar(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  rowPtr: usize, colIdx: usize, val: usize, wT: usize, dx: usize, acc: i32): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  if (!acc) memory.fill(dx, 0, (<usize>n * <usize>h * <usize>w * <usize>c) << 2);
  walkRuns(n, h, w, c, kh, kw, sh, sw, ph, pw, rowPtr, colIdx, val, dx, wT, true, false);
}

/**
 * Bytes of scratch {@link conv2d_sparse_backward_rows_f32} needs for `nnzW` kept weights, `nnzG`
 * nonzeros of dy and `f` outputs.
 */
export function conv2d_sparse_backward_rows_scratch_bytes(nnzW: i32, nnzG: i32, f: i32): i32 {
  return (nnzW * 3 + f + 1 + nnzG * 3 + 4) * 4;
}

/**
 * The backward of the sparse mean product (the forward conv2d_sparse_f32_nhwc with kept weights
 * M as CSR of Mᵀ: wPtr [F + 1], wIdx u32 kk, wVal, see csr_t_from_mask_f32) when its output
 * gradient dy is sparse too, listed by {@link csr_rows_nonzero_f32} (gPtr, gIdx, gVal): for every
 * nonzero dy[r, fo] = v and every kept weight p of output fo,
 *   dval[p] += v·x[receptive field of r at p]   and   dx[that element] += v·wVal[p].
 * So the work is nnz(dy)·(kept per output), one multiply-add each. The nonzeros are first sorted
 * by output (stably), then each kept weight runs over its output's list with the sum in
 * registers: four running sums over list positions ≡ 0, 1, 2, 3 (mod 4), added pairwise, then the
 * tail (one sum in list order when the geometry is padded). dval (one per kept weight) and dx (unless 0)
 * are overwritten. `scratch` holds conv2d_sparse_backward_rows_scratch_bytes(...) bytes. Scalar:
 * the gathers have no contiguous runs.
 */
export function conv2d_sparse_backward_rows_f32(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  wPtr: usize, wIdx: usize, wVal: usize, gPtr: usize, gIdx: usize, gVal: usize, x: usize, dval: usize, dx: usize, scratch: usize): void {
  checkWindow2d(n, h, w, c, f, kh, kw, sh, sw, ph, pw);
  assert(load<u32>(wPtr) == 0, 'conv2d_sparse_backward_rows: wPtr[0] must be 0');
  assert(scratch != 0, 'conv2d_sparse_backward_rows: scratch required');
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  const m = n * oh * ow;
  const nnzW = <i32>load<u32>(wPtr + (<usize>f << 2));
  const nnzG = <i32>load<u32>(gPtr + (<usize>m << 2));
  // Scratch: per kept weight its element's offset from the receptive field's corner
  // (ky·W + kx)·C + ci, its ky and kx; per output a cursor; per nonzero of dy (sorted by output)
  // its field's corner (an element index, below 0 or past a row when in the padding), the
  // corner's (iy, ix) packed in 16 bits each, and its value.
  const offs = scratch, kys = offs + (<usize>nnzW << 2), kxs = kys + (<usize>nnzW << 2);
  const cur = kxs + (<usize>nnzW << 2);
  const corners = cur + (<usize>(f + 1) << 2), yxs = corners + (<usize>nnzG << 2), vals = yxs + (<usize>nnzG << 2);
  for (let p = 0; p < nnzW; p++) {
    const kk = <i32>load<u32>(wIdx + (<usize>p << 2));
    const ci = kk % c, t = kk / c;
    const kx = t % kw, ky = t / kw;
    store<i32>(offs + (<usize>p << 2), (ky * w + kx) * c + ci);
    store<i32>(kys + (<usize>p << 2), ky);
    store<i32>(kxs + (<usize>p << 2), kx);
  }
  // Counting sort of dy's nonzeros by output: count, offsets, then a stable scatter.
  memory.fill(cur, 0, (<usize>f + 1) << 2);
  for (let q = 0; q < nnzG; q++) {
    const a = cur + (<usize>(load<u32>(gIdx + (<usize>q << 2)) + 1) << 2);
    store<i32>(a, load<i32>(a) + 1);
  }
  for (let fo = 0; fo < f; fo++) store<i32>(cur + (<usize>(fo + 1) << 2), load<i32>(cur + (<usize>(fo + 1) << 2)) + load<i32>(cur + (<usize>fo << 2)));
  let ox = 0, oy = 0, b = 0;
  let q0 = <i32>load<u32>(gPtr);
  for (let r = 0; r < m; r++) {
    const q1 = <i32>load<u32>(gPtr + (<usize>(r + 1) << 2));
    const iy0 = oy * sh - ph, ix0 = ox * sw - pw;
    const corner = ((b * h + iy0) * w + ix0) * c;
    for (let q = q0; q < q1; q++) {
      const a = cur + (<usize>load<u32>(gIdx + (<usize>q << 2)) << 2);
      const d = <usize>load<i32>(a) << 2;
      store<i32>(a, load<i32>(a) + 1);
      store<i32>(corners + d, corner);
      store<i32>(yxs + d, (iy0 << 16) | (ix0 & 0xffff));
      store<f32>(vals + d, load<f32>(gVal + (<usize>q << 2)));
    }
    q0 = q1;
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
  // The cursors now sit at the ends of their lists: list fo is [cur[fo − 1], cur[fo]) (cur[−1] = 0).
  if (dx) memory.fill(dx, 0, (<usize>n * <usize>h * <usize>w * <usize>c) << 2);
  const padded = ph > 0 || pw > 0;
  let g0 = 0;
  for (let fo = 0; fo < f; fo++) {
    const g1 = load<i32>(cur + (<usize>fo << 2));
    const p1 = <i32>load<u32>(wPtr + (<usize>(fo + 1) << 2));
    for (let p = <i32>load<u32>(wPtr + (<usize>fo << 2)); p < p1; p++) {
      const po = <usize>p << 2;
      const off = load<i32>(offs + po), ky = load<i32>(kys + po), kx = load<i32>(kxs + po);
      const wv = load<f32>(wVal + po);
      let acc: f32 = 0;
      let q = g0;
      if (!padded) {
        // Four running sums (lanes q mod 4), so the adds do not wait on each other.
        let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0;
        for (; q + 4 <= g1; q += 4) {
          const qo = <usize>q << 2;
          const x0 = <usize>(load<i32>(corners + qo) + off) << 2, x1 = <usize>(load<i32>(corners + qo, 4) + off) << 2;
          const x2 = <usize>(load<i32>(corners + qo, 8) + off) << 2, x3 = <usize>(load<i32>(corners + qo, 12) + off) << 2;
          const v0 = load<f32>(vals + qo), v1 = load<f32>(vals + qo, 4), v2 = load<f32>(vals + qo, 8), v3 = load<f32>(vals + qo, 12);
          a0 += v0 * load<f32>(x + x0);
          a1 += v1 * load<f32>(x + x1);
          a2 += v2 * load<f32>(x + x2);
          a3 += v3 * load<f32>(x + x3);
          if (dx) {
            store<f32>(dx + x0, load<f32>(dx + x0) + v0 * wv);
            store<f32>(dx + x1, load<f32>(dx + x1) + v1 * wv);
            store<f32>(dx + x2, load<f32>(dx + x2) + v2 * wv);
            store<f32>(dx + x3, load<f32>(dx + x3) + v3 * wv);
          }
        }
        acc = (a0 + a1) + (a2 + a3);
      }
      for (; q < g1; q++) {
        const qo = <usize>q << 2;
        if (padded) {
          const yx = load<i32>(yxs + qo);
          const iy = (yx >> 16) + ky, ix = <i32>(<i16>yx) + kx;
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        }
        const xo = <usize>(load<i32>(corners + qo) + off) << 2;
        const v = load<f32>(vals + qo);
        acc += v * load<f32>(x + xo);
        if (dx) store<f32>(dx + xo, load<f32>(dx + xo) + v * wv);
      }
      store<f32>(dval + po, acc);
    }
    g0 = g1;
  }
}
