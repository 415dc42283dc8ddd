import { ArgumentError, ShapeError } from '../errors.js';
import { Tensor, fmtShape } from '../tensor.js';
import { checkTensor } from './check.js';

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
  /** Destination [m, n], distinct from `a`, `b` and `bias`; allocated when absent. */
  out?: Tensor;
  /**
   * One row (m = 1, neither operand transposed, not accumulating): skip the rows of `b` whose
   * entry of `a` is 0 (`gemv_f32_skip_zeros`), the same bits for a finite `b`. Else ignored.
   */
  skipZeros?: boolean;
}

const SAME_RUNTIME_AS_A = ['a tensor of the same runtime as a', 'another runtime'] as const;

/** True when the byte ranges of two tensors intersect. */
function overlaps(x: Tensor, y: Tensor): boolean {
  return x.size > 0 && y.size > 0 && x.ptr < y.ptr + 4 * y.size && y.ptr < x.ptr + 4 * x.size;
}

/**
 * Matrix product C[m, n] = op(A)·op(B) (+ bias) (+ C when accumulating), f32 row-major.
 * `a`: [m, k] (or [k, m] with `transA`); `b`: [k, n] (or [n, k] with `transB`); `bias`: [n].
 * Aᵀ·Bᵀ is not a kernel: transpose one operand yourself. All checks run before any write:
 * on a {@link ShapeError} or {@link ArgumentError} nothing has changed.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, bias, accumulate = false } = opts;
  const rt = checkTensor('a', a).rt;
  checkTensor('b', b, rt, SAME_RUNTIME_AS_A);
  if (a.shape.length !== 2) throw new ShapeError('a', 'a 2-D tensor', fmtShape(a.shape));
  if (b.shape.length !== 2) throw new ShapeError('b', 'a 2-D tensor', fmtShape(b.shape));
  if (transA && transB) throw new ShapeError('opts', 'at most one of transA, transB', 'both');
  const [m, k] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (kb !== k) throw new ShapeError('b', `inner dimension ${k} (a is ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''})`, `${fmtShape(b.shape)}${transB ? 'ᵀ' : ''}`);
  if (bias) {
    checkTensor('bias', bias, rt, SAME_RUNTIME_AS_A);
    if (bias.shape.length !== 1 || bias.size !== n) throw new ShapeError('bias', `[${n}]`, fmtShape(bias.shape));
  }
  if (accumulate && !opts.out) throw new ShapeError('out', 'a destination tensor when accumulate is set', 'none');
  let out = opts.out;
  if (out) {
    checkTensor('out', out, rt, SAME_RUNTIME_AS_A);
    if (out.shape.length !== 2 || out.shape[0] !== m || out.shape[1] !== n) throw new ShapeError('out', `[${m}, ${n}]`, fmtShape(out.shape));
    for (const [name, t] of [['a', a], ['b', b], ['bias', bias]] as const) {
      if (t && overlaps(out, t)) throw new ArgumentError('out', `memory distinct from ${name}`, `a tensor overlapping ${name}`);
    }
  } else {
    out = Tensor.zeros([m, n], rt);
  }
  const kern = rt.k;
  const lda = a.shape[1], ldb = b.shape[1];
  if (opts.skipZeros && m === 1 && !transA && !transB && !accumulate) {
    kern.gemv_f32_skip_zeros(n, k, a.ptr, b.ptr, ldb, bias ? bias.ptr : 0, out.ptr);
    return out;
  }
  const f = transA ? kern.gemm_f32_tn : transB ? kern.gemm_f32_nt : kern.gemm_f32_nn;
  f(m, n, k, a.ptr, lda, b.ptr, ldb, out.ptr, n, bias ? bias.ptr : 0, accumulate ? 1 : 0);
  return out;
}
