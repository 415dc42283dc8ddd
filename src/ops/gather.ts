import { ArgumentError, ShapeError } from '../errors.js';
import { fmtShape, type Tensor } from '../tensor.js';
import { rowsCols } from './check.js';

// Tensor-level wrappers of assembly/gather.ts: zero-column skipping for dense products.
// Column indices are held in an f32 tensor (exact integers below 2^24), ascending.

/** Indices of the columns of x [rows, cols] that are not all zero, into `idx` ([cols]); returns how many. */
export function nonzeroColumns(x: Tensor, idx: Tensor): number {
  const [rows, cols] = rowsCols('x', x);
  if (idx.size < cols) throw new ShapeError('idx', `at least ${cols} elements`, `${idx.size}`);
  return x.rt.k.nonzero_cols_f32(x.ptr, rows, cols, idx.ptr);
}

function checkK(k: number, max: number): void {
  if (!Number.isInteger(k) || k < 0 || k > max) throw new ArgumentError('k', `an integer in [0, ${max}]`, String(k));
}

/** out [rows, k] = x [rows, cols] at columns idx[0..k). */
export function gatherColumns(x: Tensor, idx: Tensor, k: number, out: Tensor): Tensor {
  const [rows, cols] = rowsCols('x', x);
  checkK(k, Math.min(cols, idx.size));
  if (out.size !== rows * k) throw new ShapeError('out', `[${rows}, ${k}]`, fmtShape(out.shape));
  x.rt.k.gather_cols_f32(x.ptr, rows, cols, idx.ptr, k, out.ptr);
  return out;
}

/** out [k, cols] = w [rows, cols] at rows idx[0..k). */
export function gatherRows(w: Tensor, idx: Tensor, k: number, out: Tensor): Tensor {
  const [rows, cols] = rowsCols('w', w);
  checkK(k, Math.min(rows, idx.size));
  if (out.size !== k * cols) throw new ShapeError('out', `[${k}, ${cols}]`, fmtShape(out.shape));
  w.rt.k.gather_rows_f32(w.ptr, rows, cols, idx.ptr, k, out.ptr);
  return out;
}

/**
 * dst [rows, cols] at rows idx[0..k) (=|+=) src [k, cols]; without `accumulate` the other rows
 * of dst are zeroed (the gradient of a weight row whose input column was all zero).
 */
export function scatterRows(src: Tensor, idx: Tensor, k: number, dst: Tensor, accumulate = false): Tensor {
  const [rows, cols] = rowsCols('dst', dst);
  checkK(k, Math.min(rows, idx.size));
  if (src.size !== k * cols) throw new ShapeError('src', `[${k}, ${cols}]`, fmtShape(src.shape));
  dst.rt.k.scatter_rows_f32(src.ptr, k, idx.ptr, dst.ptr, rows, cols, accumulate ? 1 : 0);
  return dst;
}
