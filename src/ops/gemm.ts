import { ShapeError } from '../errors.js';
import { Tensor, fmtShape } from '../tensor.js';

/** Options of {@link matmul}. */
export interface MatmulOptions {
  /** Use Aᵀ: `a` is then [k, m]. */
  transA?: boolean;
  /** Use Bᵀ: `b` is then [n, k]. */
  transB?: boolean;
  /** Row vector [n] added to every row of the result. */
  bias?: Tensor;
  /** Add into `out` instead of overwriting it (requires `out`). */
  accumulate?: boolean;
  /** Destination [m, n]; allocated when absent. */
  out?: Tensor;
}

/**
 * Matrix product C[m, n] = op(A)·op(B) (+ bias) (+ C when accumulating), f32 row-major.
 * `a`: [m, k] (or [k, m] with `transA`); `b`: [k, n] (or [n, k] with `transB`).
 * Aᵀ·Bᵀ is not a kernel: transpose one operand yourself.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, bias, accumulate = false } = opts;
  if (a.shape.length !== 2) throw new ShapeError('a', 'a 2-D tensor', fmtShape(a.shape));
  if (b.shape.length !== 2) throw new ShapeError('b', 'a 2-D tensor', fmtShape(b.shape));
  if (transA && transB) throw new ShapeError('opts', 'at most one of transA, transB', 'both');
  if (b.rt !== a.rt) throw new ShapeError('b', 'a tensor of the same runtime as a', 'another runtime');
  const [m, k] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (kb !== k) throw new ShapeError('b', `inner dimension ${k} (a is ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''})`, `${fmtShape(b.shape)}${transB ? 'ᵀ' : ''}`);
  if (bias && (bias.size !== n)) throw new ShapeError('bias', `[${n}]`, fmtShape(bias.shape));
  if (accumulate && !opts.out) throw new ShapeError('out', 'a destination tensor when accumulate is set', 'none');
  let out = opts.out;
  if (out) {
    if (out.shape.length !== 2 || out.shape[0] !== m || out.shape[1] !== n) throw new ShapeError('out', `[${m}, ${n}]`, fmtShape(out.shape));
  } else {
    out = Tensor.zeros([m, n], a.rt);
  }
  const k_ = a.rt.k;
  const lda = a.shape[1], ldb = b.shape[1];
  const f = transA ? k_.gemm_f32_tn : transB ? k_.gemm_f32_nt : k_.gemm_f32_nn;
  f(m, n, k, a.ptr, lda, b.ptr, ldb, out.ptr, n, bias ? bias.ptr : 0, accumulate ? 1 : 0);
  return out;
}
