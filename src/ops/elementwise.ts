import { ShapeError, checkNumber } from '../errors.js';
import { fmtShape, type Tensor } from '../tensor.js';
import { checkShape, checkTensor, destination, rowsCols } from './check.js';

/** Options of ops that write a tensor: where to put the result. */
export interface OutOptions {
  /** Destination of the input's shape (may be the input itself); allocated when absent. */
  out?: Tensor;
}

// ---- maps ---------------------------------------------------------------------------------

/** Set every element of `x` to `value` (finite); returns `x`. */
export function fill(x: Tensor, value: number): Tensor {
  checkTensor('x', x);
  checkNumber('value', value);
  x.rt.k.fill_f32(x.ptr, x.size, value);
  return x;
}

/** A copy of `x` (any shape), into `out` when given. */
export function copy(x: Tensor, opts: OutOptions = {}): Tensor {
  checkTensor('x', x);
  const out = destination('out', opts.out, x.shape, x.rt);
  if (out.ptr !== x.ptr) x.rt.k.copy_f32(x.ptr, out.ptr, x.size);
  return out;
}

/** y = a·x elementwise; `a` a finite number. */
export function scale(x: Tensor, a: number, opts: OutOptions = {}): Tensor {
  checkTensor('x', x);
  checkNumber('a', a);
  const out = destination('out', opts.out, x.shape, x.rt);
  x.rt.k.scale_f32(x.ptr, out.ptr, x.size, a);
  return out;
}

/** y += a·x in place (x and y of the same shape); returns `y`. */
export function axpy(a: number, x: Tensor, y: Tensor): Tensor {
  checkNumber('a', a);
  checkTensor('x', x);
  checkTensor('y', y, x.rt);
  checkShape('y', y, x.shape);
  x.rt.k.axpy_f32(x.ptr, y.ptr, x.size, a);
  return y;
}

function binary(kind: 'add_f32' | 'sub_f32' | 'mul_f32', a: Tensor, b: Tensor, opts: OutOptions): Tensor {
  checkTensor('a', a);
  checkTensor('b', b, a.rt);
  checkShape('b', b, a.shape);
  const out = destination('out', opts.out, a.shape, a.rt);
  a.rt.k[kind](a.ptr, b.ptr, out.ptr, a.size);
  return out;
}

/** a + b elementwise (same shapes; no broadcasting: see {@link addBiasRows}). */
export function add(a: Tensor, b: Tensor, opts: OutOptions = {}): Tensor {
  return binary('add_f32', a, b, opts);
}

/** a − b elementwise (same shapes). */
export function sub(a: Tensor, b: Tensor, opts: OutOptions = {}): Tensor {
  return binary('sub_f32', a, b, opts);
}

/** a ⊙ b elementwise (same shapes). */
export function mul(a: Tensor, b: Tensor, opts: OutOptions = {}): Tensor {
  return binary('mul_f32', a, b, opts);
}

/** x² elementwise. */
export function square(x: Tensor, opts: OutOptions = {}): Tensor {
  checkTensor('x', x);
  const out = destination('out', opts.out, x.shape, x.rt);
  x.rt.k.square_f32(x.ptr, out.ptr, x.size);
  return out;
}

/** min(max(x, lo), hi) elementwise; lo ≤ hi finite. */
export function clip(x: Tensor, lo: number, hi: number, opts: OutOptions = {}): Tensor {
  checkTensor('x', x);
  checkNumber('lo', lo);
  checkNumber('hi', hi, lo);
  const out = destination('out', opts.out, x.shape, x.rt);
  x.rt.k.clip_f32(x.ptr, out.ptr, x.size, lo, hi);
  return out;
}

/** y[..., j] += bias[j] in place: `y` of shape [..., n], `bias` of n elements; returns `y`. */
export function addBiasRows(y: Tensor, bias: Tensor): Tensor {
  checkTensor('y', y);
  checkTensor('bias', bias, y.rt);
  const [rows, cols] = rowsCols('y', y);
  if (bias.size !== cols) throw new ShapeError('bias', `${cols} elements (last dimension of y ${fmtShape(y.shape)})`, fmtShape(bias.shape));
  y.rt.k.add_bias_rows_f32(y.ptr, bias.ptr, rows, cols);
  return y;
}

/** Options of {@link columnSums}. */
export interface ColumnSumsOptions extends OutOptions {
  /** Add into `out` instead of overwriting it (requires `out`). */
  accumulate?: boolean;
}

/**
 * Sum over every dimension but the last: `x` of shape [..., n] gives [n] (bias gradients).
 * `out`: [n].
 */
export function columnSums(x: Tensor, opts: ColumnSumsOptions = {}): Tensor {
  checkTensor('x', x);
  const [rows, cols] = rowsCols('x', x);
  const out = destination('out', opts.out, [cols], x.rt, opts.accumulate);
  x.rt.k.colsum_f32(x.ptr, out.ptr, rows, cols, opts.accumulate ? 1 : 0);
  return out;
}

// ---- reductions (f64 results) -----------------------------------------------------------

function reduce(kind: 'sum_f32' | 'sumsq_f32' | 'count_nonfinite_f32' | 'maxabs_f32', x: Tensor): number {
  checkTensor('x', x);
  return x.rt.k[kind](x.ptr, x.size);
}

/** Σ x, accumulated in float64. */
export function sum(x: Tensor): number {
  return reduce('sum_f32', x);
}

/** Σ x², accumulated in float64. */
export function sumSquares(x: Tensor): number {
  return reduce('sumsq_f32', x);
}

/** Σ a·b over two tensors of the same shape, accumulated in float64. */
export function dot(a: Tensor, b: Tensor): number {
  checkTensor('a', a);
  checkTensor('b', b, a.rt);
  checkShape('b', b, a.shape);
  return a.rt.k.dot_f32(a.ptr, b.ptr, a.size);
}

/** How many elements of `x` are NaN or ±Infinity (a divergence check). */
export function countNonFinite(x: Tensor): number {
  return reduce('count_nonfinite_f32', x);
}

/**
 * Flat index of the first NaN or ±Infinity element of `x`, or −1 when all are finite: the fast
 * check a layer output or gradient gets before it is used (one read of `x`, early exit).
 */
export function firstNonFinite(x: Tensor): number {
  checkTensor('x', x);
  return x.rt.k.first_nonfinite_f32(x.ptr, x.size);
}

/** Whether every element of `x` is finite (neither NaN nor ±Infinity); see {@link firstNonFinite}. */
export function allFinite(x: Tensor): boolean {
  return firstNonFinite(x) < 0;
}

/** max |x| (0 for an empty tensor, NaN if any element is NaN). */
export function maxAbs(x: Tensor): number {
  return reduce('maxabs_f32', x);
}

/** Whether a and b (same size, any shapes) hold the same bit patterns (NaN equals the same NaN; +0 and −0 differ). */
export function equalBits(a: Tensor, b: Tensor): boolean {
  checkTensor('a', a);
  checkTensor('b', b, a.rt);
  if (b.size !== a.size) throw new ShapeError('b', `${a.size} elements (like a)`, `${b.size}`);
  return a.rt.k.equal_bits_f32(a.ptr, b.ptr, a.size) === 1;
}
