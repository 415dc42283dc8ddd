import { ArgumentError, ShapeError, checkNumber, describe } from '../errors.js';
import { fmtShape, type Tensor } from '../tensor.js';
import { checkShape, checkTensor, destination, rowsCols } from './check.js';
import type { OutOptions } from './elementwise.js';

// Every op here works row by row over the last dimension: a tensor of shape [..., C] is
// treated as [rows, C] with rows = (product of the leading dimensions).

// An empty last dimension with rows is fine for the maps (nothing to do) but not for argmax.

function rowMap(kind: 'softmax_rows_f32' | 'log_softmax_rows_f32', x: Tensor, opts: OutOptions): Tensor {
  checkTensor('x', x);
  const [rows, cols] = rowsCols('x', x);
  const y = destination('options.out', opts.out, x.shape, x.rt);
  x.rt.k[kind](x.ptr, y.ptr, rows, cols);
  return y;
}

/** softmax over the last dimension: y = e^(x − max) / Σ e^(x − max). `x` [..., C]. */
export function softmax(x: Tensor, opts: OutOptions = {}): Tensor {
  return rowMap('softmax_rows_f32', x, opts);
}

/** log-softmax over the last dimension: y = (x − max) − log Σ e^(x − max). `x` [..., C]. */
export function logSoftmax(x: Tensor, opts: OutOptions = {}): Tensor {
  return rowMap('log_softmax_rows_f32', x, opts);
}

/** Options of the softmax backward ops. */
export interface SoftmaxBackwardOptions extends OutOptions {
  /** Add the gradient into `out` instead of overwriting it (requires `out`). */
  accumulate?: boolean;
}

function softmaxBackwardOp(kind: 'softmax_rows_backward_f32' | 'log_softmax_rows_backward_f32', y: Tensor, dy: Tensor,
  opts: SoftmaxBackwardOptions): Tensor {
  checkTensor('y', y);
  checkTensor('dy', dy, y.rt);
  checkShape('dy', dy, y.shape);
  const [rows, cols] = rowsCols('y', y);
  const dx = destination('options.out', opts.out, y.shape, y.rt, opts.accumulate);
  y.rt.k[kind](dy.ptr, y.ptr, dx.ptr, rows, cols, opts.accumulate ? 1 : 0);
  return dx;
}

/** Gradient through {@link softmax}: dx = y ⊙ (dy − Σ dy·y) per row, from its output `y`. */
export function softmaxBackward(y: Tensor, dy: Tensor, opts: SoftmaxBackwardOptions = {}): Tensor {
  return softmaxBackwardOp('softmax_rows_backward_f32', y, dy, opts);
}

/** Gradient through {@link logSoftmax}: dx = dy − e^y · Σ dy per row, from its output `y`. */
export function logSoftmaxBackward(y: Tensor, dy: Tensor, opts: SoftmaxBackwardOptions = {}): Tensor {
  return softmaxBackwardOp('log_softmax_rows_backward_f32', y, dy, opts);
}

/** Options of {@link softmaxCrossEntropy} and {@link softCrossEntropy}. */
export interface CrossEntropyOptions {
  /**
   * Factor applied to dLogits (default 1: the gradient of the summed loss; pass 1/B for the
   * gradient of the mean, or a distillation temperature factor). Finite.
   */
  scale?: number;
  /** Receives scale·∂(Σ loss)/∂logits, shape [B, C]; may be `logits` itself. Omit for the loss only. */
  dLogits?: Tensor;
  /** Receives the per-row losses, [B] (any shape of B elements). */
  losses?: Tensor;
}

function xentPrologue(logits: Tensor, opts: CrossEntropyOptions): { rows: number; cols: number; scale: number; d: number; l: number } {
  checkTensor('logits', logits);
  if (logits.shape.length !== 2) throw new ShapeError('logits', 'a 2-D tensor [B, C]', fmtShape(logits.shape));
  const [rows, cols] = logits.shape;
  if (rows > 0 && cols === 0) throw new ShapeError('logits', 'at least one class', fmtShape(logits.shape));
  const scale = opts.scale === undefined ? 1 : checkNumber('options.scale', opts.scale);
  let d = 0, l = 0;
  if (opts.dLogits !== undefined) {
    checkTensor('options.dLogits', opts.dLogits, logits.rt);
    checkShape('options.dLogits', opts.dLogits, logits.shape);
    d = opts.dLogits.ptr;
  }
  if (opts.losses !== undefined) {
    checkTensor('options.losses', opts.losses, logits.rt);
    if (opts.losses.size !== rows) throw new ShapeError('options.losses', `${rows} elements`, fmtShape(opts.losses.shape));
    l = opts.losses.ptr;
  }
  return { rows, cols, scale, d, l };
}

/**
 * Softmax cross-entropy against integer class labels, forward and backward fused.
 * `logits` [B, C]; `labels`: B class indices in [0, C). Writes per-row losses
 * −log softmax(logits)[label] to `losses` and scale·(softmax − onehot) to `dLogits` when
 * given; returns Σ losses (float64 sum of float32 row losses).
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Int32Array | Uint8Array | readonly number[],
  opts: CrossEntropyOptions = {}): number {
  const { rows, cols, scale, d, l } = xentPrologue(logits, opts);
  if (!(labels instanceof Int32Array || labels instanceof Uint8Array || Array.isArray(labels))) {
    throw new ArgumentError('labels', 'an Int32Array, Uint8Array or number[]', describe(labels));
  }
  if (labels.length !== rows) throw new ShapeError('labels', `${rows} labels (one per row of logits)`, `${labels.length}`);
  for (let i = 0; i < rows; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= cols) {
      throw new ArgumentError('labels', `class indices in [0, ${cols})`, `${describe(c)} at index ${i}`);
    }
  }
  const rt = logits.rt;
  const lp = rt.workspace(Math.max(4, rows * 4));
  rt.i32.set(labels, lp >>> 2);
  return rt.k.softmax_xent_f32(logits.ptr, lp, l, d, rows, cols, scale);
}

/**
 * Cross-entropy against soft targets (probability rows, e.g. a teacher's softmax):
 * loss_r = −Σ_j t[r,j]·log_softmax(logits)[r,j]; dLogits = scale·(Σ_j t[r,j]·softmax − t),
 * which is scale·(softmax − t) for rows of t summing to 1. `logits`, `targets` [B, C]
 * (`dLogits` may be `logits` but not `targets`). Returns Σ losses.
 */
export function softCrossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): number {
  const { rows, cols, scale, d, l } = xentPrologue(logits, opts);
  checkTensor('targets', targets, logits.rt);
  checkShape('targets', targets, logits.shape);
  if (opts.dLogits !== undefined && opts.dLogits.ptr === targets.ptr && rows * cols > 0) {
    throw new ArgumentError('options.dLogits', 'a tensor other than targets', 'targets itself');
  }
  return logits.rt.k.soft_xent_f32(logits.ptr, targets.ptr, l, d, rows, cols, scale);
}

/** Index of the largest value of each row (the first one on ties). `x` [..., C] with C ≥ 1. */
export function argmaxRows(x: Tensor): Int32Array {
  checkTensor('x', x);
  const [rows, cols] = rowsCols('x', x);
  if (cols === 0 && x.shape.slice(0, -1).every((dim) => dim > 0)) {
    throw new ShapeError('x', 'a last dimension of at least 1', fmtShape(x.shape));
  }
  if (rows === 0) return new Int32Array(0);
  const rt = x.rt;
  const p = rt.workspace(rows * 4);
  rt.k.argmax_rows_f32(x.ptr, p, rows, cols);
  return rt.i32.slice(p >>> 2, (p >>> 2) + rows);
}
