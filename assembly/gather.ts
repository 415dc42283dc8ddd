// Zero-column skipping for dense products: a batch x[rows, cols] whose column c is zero in every
// row contributes nothing to x·W through row c of W, and row c of xᵀ·dy is zero. Images with a
// black background (MNIST: about a third of the 784 pixels are 0 across a batch of 100) let the
// dense layer multiply only the live columns:
//   k = nonzero_cols_f32(x) → idx;  xc = x[:, idx];  Wc = W[idx, :];  y = xc·Wc
//   dWc = xcᵀ·dy;  dW = scatter of dWc's rows to idx, zero elsewhere
// Column indices travel as f32 values (exact below 2^24), so they fit the f32 tensors of the
// bindings. Pointers are byte offsets; counts are elements.

@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

/**
 * Indices of the columns of x[rows, cols] that hold a value other than ±0 in some row (NaN counts
 * as a value), ascending, written to idx[0..k) as f32; returns k. idx needs cols slots: it is
 * the scratch of the per-column flags too.
 */
export function nonzero_cols_f32(x: usize, rows: i32, cols: i32, idx: usize): i32 {
  assert(rows >= 0 && cols >= 0 && cols < (1 << 24), 'nonzero_cols_f32: need 0 <= cols < 2^24');
  const cols4 = cols & ~3;
  const zero = f32x4.splat(0);
  // Pass 1: idx[c] (as i32 bits) = −1 when column c has a nonzero, else 0.
  memory.fill(idx, 0, <usize>cols << 2);
  for (let r = 0; r < rows; r++) {
    const row = at(x, r * cols);
    let c = 0;
    for (; c < cols4; c += 4) {
      // ne is true for NaN, so a NaN column is kept and propagates.
      v128.store(at(idx, c), v128.or(v128.load(at(idx, c)), f32x4.ne(v128.load(at(row, c)), zero)));
    }
    for (; c < cols; c++) {
      if (load<f32>(at(row, c)) != 0) store<i32>(at(idx, c), -1);
    }
  }
  return compactFlags(idx, cols);
}

/** Pass 2 of {@link nonzero_cols_f32}: the flags idx[c] ≠ 0 compacted in place into ascending indices (as f32); returns k. */
// @ts-ignore: decorator
@inline function compactFlags(idx: usize, cols: i32): i32 {
  // k ≤ c, so nothing unread is overwritten.
  let k = 0;
  for (let c = 0; c < cols; c++) {
    if (load<i32>(at(idx, c)) != 0) {
      store<f32>(at(idx, k), <f32>c);
      k++;
    }
  }
  return k;
}

/** Scalar twin of {@link nonzero_cols_f32}. */
export function nonzero_cols_f32_scalar(x: usize, rows: i32, cols: i32, idx: usize): i32 {
  assert(rows >= 0 && cols >= 0 && cols < (1 << 24), 'nonzero_cols_f32: need 0 <= cols < 2^24');
  memory.fill(idx, 0, <usize>cols << 2);
  for (let r = 0; r < rows; r++) {
    const row = at(x, r * cols);
    for (let c = 0; c < cols; c++) if (load<f32>(at(row, c)) != 0) store<i32>(at(idx, c), -1);
  }
  return compactFlags(idx, cols);
}

/** out[r, j] = x[r, idx[j]] for r < rows, j < k: the live columns of x[rows, cols], packed. */
export function gather_cols_f32(x: usize, rows: i32, cols: i32, idx: usize, k: i32, out: usize): void {
  assert(rows >= 0 && cols >= 0 && k >= 0 && k <= cols, 'gather_cols_f32: need 0 <= k <= cols');
  for (let r = 0; r < rows; r++) {
    const src = at(x, r * cols), dst = at(out, r * k);
    for (let j = 0; j < k; j++) {
      const c = <i32>load<f32>(at(idx, j));
      assert(c >= 0 && c < cols, 'gather_cols_f32: index out of range');
      store<f32>(at(dst, j), load<f32>(at(src, c)));
    }
  }
}

/** out[j, :] = w[idx[j], :] for j < k: rows idx of w[rows, cols], packed into out[k, cols]. */
export function gather_rows_f32(w: usize, rows: i32, cols: i32, idx: usize, k: i32, out: usize): void {
  assert(rows >= 0 && cols >= 0 && k >= 0 && k <= rows, 'gather_rows_f32: need 0 <= k <= rows');
  const bytes = <usize>cols << 2;
  for (let j = 0; j < k; j++) {
    const r = <i32>load<f32>(at(idx, j));
    assert(r >= 0 && r < rows, 'gather_rows_f32: index out of range');
    memory.copy(out + <usize>j * bytes, w + <usize>r * bytes, bytes);
  }
}

/**
 * The inverse of gather_rows_f32 for gradients: dst[idx[j], :] (=|+=) src[j, :] for j < k, and
 * rows of dst[rows, cols] not in idx set to 0 (or left as they are when accumulating).
 * idx must be ascending, as nonzero_cols_f32 writes it.
 */
export function scatter_rows_f32(src: usize, k: i32, idx: usize, dst: usize, rows: i32, cols: i32, accumulate: i32): void {
  scatterRows(src, k, idx, dst, rows, cols, accumulate, true);
}

/** Scalar twin of {@link scatter_rows_f32}. */
export function scatter_rows_f32_scalar(src: usize, k: i32, idx: usize, dst: usize, rows: i32, cols: i32, accumulate: i32): void {
  scatterRows(src, k, idx, dst, rows, cols, accumulate, false);
}

/** {@link scatter_rows_f32}; `simd` (a constant at each call, so inlining drops the other branch) picks the accumulation's vector loop. */
// @ts-ignore: decorator
@inline function scatterRows(src: usize, k: i32, idx: usize, dst: usize, rows: i32, cols: i32, accumulate: i32, simd: bool): void {
  assert(rows >= 0 && cols >= 0 && k >= 0 && k <= rows, 'scatter_rows_f32: need 0 <= k <= rows');
  const bytes = <usize>cols << 2;
  const cols4 = simd ? cols & ~3 : 0;
  let next = 0; // first row of dst not yet written
  for (let j = 0; j < k; j++) {
    const r = <i32>load<f32>(at(idx, j));
    assert(r >= next && r < rows, 'scatter_rows_f32: indices must ascend within [0, rows)');
    const d = dst + <usize>r * bytes, s = src + <usize>j * bytes;
    if (accumulate) {
      let c = 0;
      if (simd) for (; c < cols4; c += 4) v128.store(at(d, c), f32x4.add(v128.load(at(d, c)), v128.load(at(s, c))));
      for (; c < cols; c++) store<f32>(at(d, c), load<f32>(at(d, c)) + load<f32>(at(s, c)));
    } else {
      if (r > next) memory.fill(dst + <usize>next * bytes, 0, <usize>(r - next) * bytes);
      memory.copy(d, s, bytes);
    }
    next = r + 1;
  }
  if (!accumulate && rows > next) memory.fill(dst + <usize>next * bytes, 0, <usize>(rows - next) * bytes);
}
