import { ShapeError } from '../errors.js';
import { Tensor, fmtShape } from '../tensor.js';

/** Options of the regression losses. */
export interface LossGradOptions {
  /** Where to write scale·∂loss/∂prediction (same shape as the prediction). */
  grad?: Tensor;
  /** Gradient scale, e.g. 1/batch (default 1). */
  scale?: number;
}

/** Σ ½(pred − target)² over all elements; optional gradient. `pred`, `target`: same size. */
export function mse(pred: Tensor, target: Tensor, opts: LossGradOptions = {}): number {
  if (target.size !== pred.size) throw new ShapeError('target', `${pred.size} elements (${fmtShape(pred.shape)})`, fmtShape(target.shape));
  if (opts.grad && opts.grad.size !== pred.size) throw new ShapeError('grad', fmtShape(pred.shape), fmtShape(opts.grad.shape));
  return pred.rt.k.mse_f32(pred.ptr, target.ptr, pred.size, opts.grad?.ptr ?? 0, opts.scale ?? 1);
}

/**
 * Gaussian negative log-likelihood (nats, summed): `out` [rows, 2·cols] holds per row the
 * predicted means then the log-variances; `target` [rows, cols].
 */
export function gaussianNll(out: Tensor, target: Tensor, opts: LossGradOptions = {}): number {
  const rows = out.shape[0];
  const cols = target.size / Math.max(rows, 1);
  if (out.shape.length !== 2 || target.shape[0] !== rows || out.shape[1] !== 2 * cols) {
    throw new ShapeError('out', `[rows, 2·cols] for target ${fmtShape(target.shape)}`, fmtShape(out.shape));
  }
  if (opts.grad && opts.grad.size !== out.size) throw new ShapeError('grad', fmtShape(out.shape), fmtShape(opts.grad.shape));
  return out.rt.k.gaussian_nll_f32(out.ptr, target.ptr, rows, cols, opts.grad?.ptr ?? 0, opts.scale ?? 1);
}

/** Entropy (nats) of each probability row of `p` [rows, cols] into `out` [rows] (added when accumulating). */
export function entropyRows(p: Tensor, out: Tensor, accumulate = false): Tensor {
  const rows = p.shape[0];
  if (p.shape.length !== 2) throw new ShapeError('p', '[rows, cols]', fmtShape(p.shape));
  if (out.size !== rows) throw new ShapeError('out', `[${rows}]`, fmtShape(out.shape));
  p.rt.k.entropy_rows_f32(p.ptr, rows, p.shape[1], out.ptr, accumulate ? 1 : 0);
  return out;
}
