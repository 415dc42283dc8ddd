// Transpose: moves activations between sample-major [n, k] and feature-major [k, n] (the sparse
// products' layout, and the im2col chunks of the sparse convolutions). Pointers are byte
// offsets, sizes and leading dimensions element counts.

function checkTranspose(rows: i32, cols: i32, lds: i32, ldd: i32): void {
  assert(rows >= 0 && cols >= 0, 'transpose: sizes must be >= 0');
  assert(lds >= cols && ldd >= rows, 'transpose: leading dimension shorter than a row');
}

/** dst[cols, rows] = src[rows, cols]ᵀ (leading dimensions in elements); dst must not overlap src. 4×4 SIMD blocks. */
export function transpose_f32(rows: i32, cols: i32, src: usize, lds: i32, dst: usize, ldd: i32): void {
  checkTranspose(rows, cols, lds, ldd);
  const sStep = <usize>lds << 2, dStep = <usize>ldd << 2;
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const s0 = src + <usize>i * sStep, s1 = s0 + sStep, s2 = s1 + sStep, s3 = s2 + sStep;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const r0 = v128.load(s0 + o), r1 = v128.load(s1 + o), r2 = v128.load(s2 + o), r3 = v128.load(s3 + o);
      const t01lo = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
      const t01hi = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
      const t23lo = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
      const t23hi = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
      const d = dst + <usize>j * dStep + (<usize>i << 2);
      v128.store(d, v128.shuffle<f32>(t01lo, t23lo, 0, 1, 4, 5));
      v128.store(d + dStep, v128.shuffle<f32>(t01lo, t23lo, 2, 3, 6, 7));
      v128.store(d + 2 * dStep, v128.shuffle<f32>(t01hi, t23hi, 0, 1, 4, 5));
      v128.store(d + 3 * dStep, v128.shuffle<f32>(t01hi, t23hi, 2, 3, 6, 7));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const d = dst + <usize>j * dStep + (<usize>i << 2);
      store<f32>(d, load<f32>(s0 + o));
      store<f32>(d, load<f32>(s1 + o), 4);
      store<f32>(d, load<f32>(s2 + o), 8);
      store<f32>(d, load<f32>(s3 + o), 12);
    }
  }
  for (; i < rows; i++) {
    const s = src + <usize>i * sStep;
    for (let j = 0; j < cols; j++) store<f32>(dst + <usize>j * dStep + (<usize>i << 2), load<f32>(s + (<usize>j << 2)));
  }
}

/** Scalar twin of {@link transpose_f32}. */
export function transpose_f32_scalar(rows: i32, cols: i32, src: usize, lds: i32, dst: usize, ldd: i32): void {
  checkTranspose(rows, cols, lds, ldd);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) store<f32>(dst + (<usize>(j * ldd + i) << 2), load<f32>(src + (<usize>(i * lds + j) << 2)));
  }
}
