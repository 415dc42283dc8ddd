import { ArgumentError, checkNumber, describe } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { checkShape, checkTensor, destination } from './check.js';

/** Pointwise activation functions. */
export type ActivationKind = 'relu' | 'leakyRelu' | 'elu' | 'sigmoid' | 'tanh';

const KINDS: readonly ActivationKind[] = ['relu', 'leakyRelu', 'elu', 'sigmoid', 'tanh'];

/** Default α: the negative slope of leakyRelu, the saturation of elu. */
const DEFAULT_ALPHA: Partial<Record<ActivationKind, number>> = { leakyRelu: 0.01, elu: 1 };

/** Options of {@link activation}. */
export interface ActivationOptions {
  /** leakyRelu: slope for x ≤ 0 (default 0.01); elu: α in α·(eˣ − 1) (default 1). Ignored otherwise. */
  alpha?: number;
  /** Destination of x's shape (may be x itself for in-place); allocated when absent. */
  out?: Tensor;
}

/** Options of {@link activationBackward}. */
export interface ActivationBackwardOptions extends ActivationOptions {
  /** Add the gradient into `out` instead of overwriting it (requires `out`). */
  accumulate?: boolean;
}

function checkKind(kind: unknown): ActivationKind {
  if (!KINDS.includes(kind as ActivationKind)) throw new ArgumentError('kind', `one of ${KINDS.join(', ')}`, describe(kind));
  return kind as ActivationKind;
}

function alphaOf(kind: ActivationKind, alpha: number | undefined): number {
  const d = DEFAULT_ALPHA[kind];
  if (d === undefined) return 0;
  return alpha === undefined ? d : checkNumber('options.alpha', alpha);
}

/**
 * y = f(x) elementwise for `kind`:
 * relu max(x, 0); leakyRelu x > 0 ? x : α·x; elu x > 0 ? x : α·(eˣ − 1);
 * sigmoid 1/(1 + e⁻ˣ); tanh. `x` any shape; returns y of the same shape.
 */
export function activation(kind: ActivationKind, x: Tensor, opts: ActivationOptions = {}): Tensor {
  checkKind(kind);
  checkTensor('x', x);
  const alpha = alphaOf(kind, opts.alpha);
  const y = destination('options.out', opts.out, x.shape, x.rt);
  const k = x.rt.k, n = x.size;
  switch (kind) {
    case 'relu': k.relu_f32(x.ptr, y.ptr, n); break;
    case 'leakyRelu': k.leaky_relu_f32(x.ptr, y.ptr, n, alpha); break;
    case 'elu': k.elu_f32(x.ptr, y.ptr, n, alpha); break;
    case 'sigmoid': k.sigmoid_f32(x.ptr, y.ptr, n); break;
    case 'tanh': k.tanh_f32(x.ptr, y.ptr, n); break;
  }
  return y;
}

/**
 * dx = dy ⊙ f′ for `kind`, given the forward input `x` and/or output `y` (same shape as `dy`):
 * relu and leakyRelu need x; elu needs x and y; sigmoid and tanh need y (pass null for the
 * one not needed). With `accumulate`, dx is added into `out`. Returns dx.
 */
export function activationBackward(kind: ActivationKind, x: Tensor | null, y: Tensor | null, dy: Tensor,
  opts: ActivationBackwardOptions = {}): Tensor {
  checkKind(kind);
  checkTensor('dy', dy);
  const needX = kind === 'relu' || kind === 'leakyRelu' || kind === 'elu';
  const needY = kind === 'elu' || kind === 'sigmoid' || kind === 'tanh';
  if (needX) {
    if (x === null || x === undefined) throw new ArgumentError('x', `the forward input (needed by ${kind})`, describe(x));
    checkTensor('x', x, dy.rt);
    checkShape('x', x, dy.shape);
  }
  if (needY) {
    if (y === null || y === undefined) throw new ArgumentError('y', `the forward output (needed by ${kind})`, describe(y));
    checkTensor('y', y, dy.rt);
    checkShape('y', y, dy.shape);
  }
  const alpha = alphaOf(kind, opts.alpha);
  const dx = destination('options.out', opts.out, dy.shape, dy.rt, opts.accumulate);
  const acc = opts.accumulate ? 1 : 0;
  const k = dy.rt.k, n = dy.size;
  switch (kind) {
    case 'relu': k.relu_backward_f32(dy.ptr, x!.ptr, dx.ptr, n, acc); break;
    case 'leakyRelu': k.leaky_relu_backward_f32(dy.ptr, x!.ptr, dx.ptr, n, alpha, acc); break;
    case 'elu': k.elu_backward_f32(dy.ptr, x!.ptr, y!.ptr, dx.ptr, n, alpha, acc); break;
    case 'sigmoid': k.sigmoid_backward_f32(dy.ptr, y!.ptr, dx.ptr, n, acc); break;
    case 'tanh': k.tanh_backward_f32(dy.ptr, y!.ptr, dx.ptr, n, acc); break;
  }
  return dx;
}
