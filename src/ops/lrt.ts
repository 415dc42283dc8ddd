/**
 * Monte-Carlo prediction of pruned models by local reparameterization (assembly/lrt.ts): the
 * fused mean/variance product over a sparse structure ({@link lrtSpmm}) and the pre-activation
 * draw ({@link lrtDraw}), feature-major, and {@link LrtProgram}: a Monte-Carlo forward whose
 * kernel calls are checked and bound once, then replayed with a new seed per call.
 * @module
 */
import { ArgumentError, ShapeError, describe } from '../errors.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Kernels } from '../runtime/kernels.generated.js';
import { Tensor, fmtShape } from '../tensor.js';
import { checkTensor } from './check.js';
import { SparseMatrix } from './spmm.js';
import { watchKernels } from './plan.js';

function checkPair(theta: SparseMatrix, sigma2: SparseMatrix): Runtime {
  if (!(theta instanceof SparseMatrix)) throw new ArgumentError('theta', 'a SparseMatrix', describe(theta));
  theta.check();
  const same = sigma2 instanceof SparseMatrix && sigma2.rt === theta.rt && sigma2.rows === theta.rows && sigma2.cols === theta.cols && sigma2.nnz === theta.nnz;
  if (!same) throw new ArgumentError('sigma2', "a SparseMatrix of theta's runtime and structure", describe(sigma2));
  sigma2.check();
  if (theta.wide) throw new ShapeError('theta', 'at most 65536 columns', `${theta.cols}`);
  return theta.rt;
}

/** Check that t is a 2-D tensor of `rt` with `rows` and `cols` (−1: any); returns its columns. */
function mat(name: string, t: Tensor, rt: Runtime, rows: number, cols: number): number {
  checkTensor(name, t, rt);
  const [r, c] = t.shape;
  if (t.shape.length !== 2 || (rows >= 0 && r !== rows) || (cols >= 0 && c !== cols)) throw new ShapeError(name, `[${rows}, ${cols}] (-1: any)`, fmtShape(t.shape));
  return c;
}

/**
 * The two products of local reparameterization: mu = A_θ·x and v = A_σ²·(x ⊙ x), x [k, n]
 * feature-major, mu and v [m, n], for the kept weights' means `theta` (A [m, k], CSR, k ≤ 65536)
 * and their variances `sigma2` (the same structure: only its values are read). Returns { mu, v }.
 */
export function lrtSpmm(theta: SparseMatrix, sigma2: SparseMatrix, x: Tensor, mu: Tensor, v: Tensor): { mu: Tensor; v: Tensor } {
  const rt = checkPair(theta, sigma2), n = mat('x', x, rt, theta.cols, -1);
  mat('mu', mu, rt, theta.rows, n);
  mat('v', v, rt, theta.rows, n);
  rt.k.lrt_spmm_f32_csr(theta.rows, theta.cols, n, theta.rowPtrPtr, theta.colIdxPtr, theta.valuesPtr, sigma2.valuesPtr, x.ptr, n, mu.ptr, v.ptr, n);
  return { mu, v };
}

/** Options of {@link lrtDraw}. */
export interface LrtDrawOptions {
  /** Bias per unit (m values); default none. */
  bias?: Tensor;
  /** Apply max(·, 0) to the draw (a fused ReLU); default false. */
  relu?: boolean;
}

/**
 * The pre-activation draw, feature-major: out [m, n] with out[u, j] = μ[u, j mod c] +
 * sqrt(v[u, j mod c] + 1e-8)·ε[j, u] + bias[u] (then max(·, 0) with `relu`), for mu and v
 * [m, c] (c = n, or the products of c samples shared by the passes) and ε [n, m] (one row of
 * Gaussians per column). Returns out.
 */
export function lrtDraw(mu: Tensor, v: Tensor, eps: Tensor, out: Tensor, opts: LrtDrawOptions = {}): Tensor {
  checkTensor('mu', mu);
  const rt = mu.rt, m = mu.shape[0], c = mat('mu', mu, rt, -1, -1);
  mat('v', v, rt, m, c);
  const n = mat('out', out, rt, m, -1), b = opts.bias;
  mat('eps', eps, rt, n, m);
  if (b !== undefined && (checkTensor('options.bias', b, rt), b.size !== m)) throw new ShapeError('options.bias', `${m} values`, fmtShape(b.shape));
  if (c === 0) return out;
  rt.k.lrt_draw_f32(m, n, c, mu.ptr, v.ptr, eps.ptr, b ? b.ptr : 0, opts.relu ? 1 : 0, out.ptr);
  return out;
}

/**
 * A Monte-Carlo forward of fixed sizes, compiled once: {@link bind} runs an op once, checked,
 * and keeps the kernel calls it made with their arguments, so a replay has its bits; {@link run}
 * replays everything in order with the seed and the first sample's index of this call (the only
 * values that change between calls, read by its JavaScript {@link step}s: the noise draws): a
 * prediction costs its kernels and one JS call per kernel, with no per-call checks or
 * allocation. The tensors stay the caller's and must outlive the program.
 */
export class LrtProgram {
  private readonly calls: ((k: Kernels) => void)[] = [];
  /** The seed and the first sample's index of the call being replayed. */
  seed = 0;
  start = 0;

  constructor(readonly rt: Runtime) {}

  /** A step the program runs as JavaScript (it may read {@link seed} and {@link start}); run once now. */
  step(f: () => void): void {
    f();
    this.calls.push(f);
  }

  /**
   * Run `op` once and keep the kernel calls it makes (those that answer nothing: not the
   * queries and column copies a matrix makes once for itself) with their arguments.
   */
  bind(op: () => unknown): void {
    // A bound op may not ask for scratch: the runtime's shared workspace can be grown (and its
    // old block freed) by another call before a replay, so the replay would write a stale block.
    watchKernels(this.rt, (name, args, r) => {
      if (r === undefined) this.calls.push((k) => (k as unknown as Record<string, (...a: number[]) => unknown>)[name](...args));
    }, op, () => {
      throw new Error('LrtProgram.bind: op asked for scratch');
    });
  }

  /** Replay the calls with `seed` (32 bits) for the samples from index `start` of the call. */
  run(seed: number, start: number): void {
    this.seed = seed;
    this.start = start;
    const k = this.rt.k;
    for (const f of this.calls) f(k);
  }
}
