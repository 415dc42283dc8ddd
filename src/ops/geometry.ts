import { ShapeError } from '../errors.js';

// Geometry of 2-D sliding windows (dense and sparse convolutions, pooling), written once: the
// output size and the check that the window fits. The kernels' copy is assembly/geometry.ts.

/** Output positions along one axis: ⌊(size + 2·pad − k) / stride⌋ + 1 (< 1 when the window does not fit). @internal */
export function outDim(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

/**
 * Output height and width of a kh×kw window sliding over an h×w input with strides sh, sw and
 * zero paddings ph, pw (all in pixels): ⌊(h + 2·ph − kh) / sh⌋ + 1 and the same along w; null
 * when the window is larger than the padded input (an axis would have no position).
 * @internal
 */
export function windowOutputSize(h: number, w: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): [number, number] | null {
  const oh = outDim(h, kh, sh, ph), ow = outDim(w, kw, sw, pw);
  return oh >= 1 && ow >= 1 ? [oh, ow] : null;
}

/**
 * {@link windowOutputSize}, throwing {@link ShapeError} on `name` (the argument holding the
 * window: filters, a pool size) when the window does not fit: `what` names it in the message.
 * @internal
 */
export function checkedWindowOutput(name: string, what: string, h: number, w: number, kh: number, kw: number,
  sh: number, sw: number, ph: number, pw: number): [number, number] {
  const o = windowOutputSize(h, w, kh, kw, sh, sw, ph, pw);
  if (!o) throw new ShapeError(name, `${what} no larger than the padded input ${h + 2 * ph}×${w + 2 * pw}`, `${kh}×${kw}`);
  return o;
}
