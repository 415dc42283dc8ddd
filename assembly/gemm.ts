// Dense matrix products, row-major f32. Pointers are byte offsets; m, n, k and the leading
// dimensions (lda, ldb, ldc) are in elements. bias (length n, added to every row) is optional:
// pass 0 for none. acc = 0 overwrites C, acc = 1 adds to it.
// (Provisional straightforward version; the cache-blocked micro-kernel replaces it.)

/** C[m×n] (=|+=) A[m×k] · B[k×n] (+ bias). */
export function gemm_f32_nn(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  gemm_f32_nn_scalar(m, n, k, a, lda, b, ldb, c, ldc, bias, acc);
}

/** C[m×n] (=|+=) A[m×k] · B[n×k]ᵀ (+ bias). */
export function gemm_f32_nt(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  gemm_f32_nt_scalar(m, n, k, a, lda, b, ldb, c, ldc, bias, acc);
}

/** C[m×n] (=|+=) A[k×m]ᵀ · B[k×n] (+ bias). */
export function gemm_f32_tn(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  gemm_f32_tn_scalar(m, n, k, a, lda, b, ldb, c, ldc, bias, acc);
}

/** Scalar twin of {@link gemm_f32_nn}: the test oracle. */
export function gemm_f32_nn_scalar(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s: f32 = acc ? load<f32>(c + (<usize>(i * ldc + j) << 2)) : 0;
      if (bias) s += load<f32>(bias + (<usize>j << 2));
      let d: f32 = 0;
      for (let p = 0; p < k; p++) d += load<f32>(a + (<usize>(i * lda + p) << 2)) * load<f32>(b + (<usize>(p * ldb + j) << 2));
      store<f32>(c + (<usize>(i * ldc + j) << 2), s + d);
    }
  }
}

/** Scalar twin of {@link gemm_f32_nt}. */
export function gemm_f32_nt_scalar(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s: f32 = acc ? load<f32>(c + (<usize>(i * ldc + j) << 2)) : 0;
      if (bias) s += load<f32>(bias + (<usize>j << 2));
      let d: f32 = 0;
      for (let p = 0; p < k; p++) d += load<f32>(a + (<usize>(i * lda + p) << 2)) * load<f32>(b + (<usize>(j * ldb + p) << 2));
      store<f32>(c + (<usize>(i * ldc + j) << 2), s + d);
    }
  }
}

/** Scalar twin of {@link gemm_f32_tn}. */
export function gemm_f32_tn_scalar(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s: f32 = acc ? load<f32>(c + (<usize>(i * ldc + j) << 2)) : 0;
      if (bias) s += load<f32>(bias + (<usize>j << 2));
      let d: f32 = 0;
      for (let p = 0; p < k; p++) d += load<f32>(a + (<usize>(p * lda + i) << 2)) * load<f32>(b + (<usize>(p * ldb + j) << 2));
      store<f32>(c + (<usize>(i * ldc + j) << 2), s + d);
    }
  }
}
