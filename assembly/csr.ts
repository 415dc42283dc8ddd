// Structure of compressed sparse row (CSR) matrices: integer work and copies only, so there is no
// SIMD and no `_scalar` twin; the test's oracle is a naive column copy (test/csr.test.ts). A CSR's
// column copy for the batch-1 product (spmv_f32_csc), which a JavaScript counting transpose built
// in the interpreter at a cold start's first prediction (milliseconds for a few thousand entries),
// and its dense transpose for gemv_f32_skip_zeros (likewise a cold interpreted scatter before).
// Pointers are byte offsets, sizes element counts.

/** Column index q of a CSR (u16, or u32 when wide). */
// @ts-ignore: decorator
@inline function colAt(colIdx: usize, q: u32, wide: i32): u32 {
  return wide ? load<u32>(colIdx + (<usize>q << 2)) : <u32>load<u16>(colIdx + (<usize>q << 1));
}

/**
 * The columns of a rows × cols CSR (rowPtr u32, colIdx u16 or u32 when `wide` ≠ 0, values f32)
 * as the CSR of its transpose with the exact zeros (±0) dropped, by a counting transpose:
 * colPtr[0..cols] (u32), rowIdx (u16; rows ≤ 65536) and cscValues (f32), with room for the
 * CSR's nnz entries; within a column the rows ascend. Returns the entries written, or −1 when a
 * row's column indices do not strictly ascend (spmv_f32_csc would then not sum in the CSR's order).
 */
export function csr_columns_f32(rows: i32, cols: i32, rowPtr: usize, colIdx: usize, wide: i32, values: usize, colPtr: usize, rowIdx: usize, cscValues: usize): i32 {
  assert(rows >= 0 && rows <= 65536 && cols >= 0, 'csr_columns_f32: rows must be in [0, 65536], cols >= 0');
  memory.fill(colPtr, 0, (<usize>cols + 1) << 2);
  for (let r = 0; r < rows; r++) {
    const q0 = load<u32>(rowPtr + (<usize>r << 2)), q1 = load<u32>(rowPtr + (<usize>(r + 1) << 2));
    for (let q = q0; q < q1; q++) {
      const c = colAt(colIdx, q, wide);
      if (q > q0 && c <= colAt(colIdx, q - 1, wide)) return -1;
      if (load<f32>(values + (<usize>q << 2)) != 0) {
        const at = colPtr + (<usize>(c + 1) << 2);
        store<u32>(at, load<u32>(at) + 1);
      }
    }
  }
  for (let j = 0; j < cols; j++) {
    const at = colPtr + (<usize>(j + 1) << 2);
    store<u32>(at, load<u32>(at) + load<u32>(at - 4));
  }
  // Fill with colPtr[c] as column c's next slot; it then holds column c's end, so shift back.
  for (let r = 0; r < rows; r++) {
    const q0 = load<u32>(rowPtr + (<usize>r << 2)), q1 = load<u32>(rowPtr + (<usize>(r + 1) << 2));
    for (let q = q0; q < q1; q++) {
      const v = load<f32>(values + (<usize>q << 2));
      if (v == 0) continue;
      const at = colPtr + (<usize>colAt(colIdx, q, wide) << 2), d = load<u32>(at);
      store<u32>(at, d + 1);
      store<u16>(rowIdx + (<usize>d << 1), <u16>r);
      store<f32>(cscValues + (<usize>d << 2), v);
    }
  }
  for (let j = cols; j > 0; j--) store<u32>(colPtr + (<usize>j << 2), load<u32>(colPtr + (<usize>(j - 1) << 2)));
  store<u32>(colPtr, 0);
  return <i32>load<u32>(colPtr + (<usize>cols << 2));
}

/**
 * Aᵀ of a rows × cols CSR (as {@link csr_columns_f32} reads it) as a dense row-major
 * [cols, rows] block at `out`, zeroed first: out[c·rows + r] = A[r, c] (±0 entries kept as they
 * are), the operand of the batch-1 gemv_f32_skip_zeros. Returns 0, or −1 when a row's column
 * indices do not strictly ascend (the block is then not to be used).
 */
export function csr_dense_t_f32(rows: i32, cols: i32, rowPtr: usize, colIdx: usize, wide: i32, values: usize, out: usize): i32 {
  memory.fill(out, 0, (<usize>rows * <usize>cols) << 2);
  for (let r = 0; r < rows; r++) {
    const q0 = load<u32>(rowPtr + (<usize>r << 2)), q1 = load<u32>(rowPtr + (<usize>(r + 1) << 2));
    for (let q = q0; q < q1; q++) {
      const c = colAt(colIdx, q, wide);
      if (q > q0 && c <= colAt(colIdx, q - 1, wide)) return -1;
      store<f32>(out + ((<usize>c * <usize>rows + <usize>r) << 2), load<f32>(values + (<usize>q << 2)));
    }
  }
  return 0;
}
