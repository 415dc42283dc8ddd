import { ShapeError, ArgumentError, describe } from '../errors.js';
import { fmtShape, type Shape, type Tensor } from '../tensor.js';
import { checkRankedTensor, checkShape, checkShapeArg, pairOption, rankedDestination, type Pair } from './check.js';
import { checkedWindowOutput } from './geometry.js';

/** Window geometry of the pooling ops. */
export interface Pool2dOptions {
  /** Window size, pixels: a number or `[h, w]`. Required. */
  size: Pair;
  /** Step between windows, pixels (default: the window size); a number or `[h, w]`. */
  stride?: Pair;
  /**
   * Padding on each side, pixels (default 0), smaller than the window on each axis. Padding is
   * never part of a window: max ignores it, average divides by the real pixel count
   * (count_include_pad = false).
   */
  pad?: Pair;
}

/** Options of the forward pooling ops. */
export interface Pool2dForwardOptions extends Pool2dOptions {
  /** Destination [N, OH, OW, C]; allocated when absent. */
  out?: Tensor;
}

/** Options of the backward pooling ops. */
export interface Pool2dBackwardOptions extends Pool2dOptions {
  /** Destination [N, H, W, C]; allocated when absent. */
  out?: Tensor;
  /** Add into `out` instead of overwriting it (requires `out`). */
  accumulate?: boolean;
}

interface PoolGeom {
  n: number; h: number; w: number; c: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number; oh: number; ow: number;
}

function poolGeometry(xShape: Shape, opts: Pool2dOptions, xName: string): PoolGeom {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError('opts', 'an options object with size', describe(opts));
  const [n, h, w, c] = xShape;
  if (xShape.some((d) => d < 1)) throw new ShapeError(xName, 'all dimensions ≥ 1', fmtShape(xShape));
  if (opts.size === undefined) throw new ArgumentError('size', 'a window size (integer ≥ 1 or [h, w])', 'undefined');
  const [kh, kw] = pairOption('size', opts.size, 1, 1);
  const [sh, sw] = pairOption('stride', opts.stride, 0, 1);
  const [ph, pw] = pairOption('pad', opts.pad, 0, 0);
  const strideH = opts.stride === undefined ? kh : sh, strideW = opts.stride === undefined ? kw : sw;
  if (ph >= kh || pw >= kw) throw new ArgumentError('pad', `less than the window ${kh}×${kw} on each axis`, `${ph}×${pw}`);
  const [oh, ow] = checkedWindowOutput('size', 'a window', h, w, kh, kw, strideH, strideW, ph, pw);
  return { n, h, w, c, kh, kw, sh: strideH, sw: strideW, ph, pw, oh, ow };
}

function poolForward(kind: 'max_pool2d_f32_nhwc' | 'avg_pool2d_f32_nhwc', x: Tensor, opts: Pool2dForwardOptions): Tensor {
  checkRankedTensor('x', x, 4, '[N, H, W, C]');
  const g = poolGeometry(x.shape, opts, 'x');
  const out = rankedDestination(opts.out, false, [g.n, g.oh, g.ow, g.c], x.rt);
  x.rt.k[kind](g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, x.ptr, out.ptr);
  return out;
}

/** Max pooling, NHWC: `x` [N, H, W, C] → [N, OH, OW, C], OH = floor((H + 2·pad − size) / stride) + 1. */
export function maxPool2d(x: Tensor, opts: Pool2dForwardOptions): Tensor {
  return poolForward('max_pool2d_f32_nhwc', x, opts);
}

/**
 * Gradient of {@link maxPool2d}: dx [N, H, W, C]. Each dy [N, OH, OW, C] goes to the first
 * maximum of its window in scan order (recomputed from `x`, the forward's input).
 */
export function maxPool2dBackward(x: Tensor, dy: Tensor, opts: Pool2dBackwardOptions): Tensor {
  checkRankedTensor('x', x, 4, '[N, H, W, C]');
  checkRankedTensor('dy', dy, 4, '[N, OH, OW, C]', x.rt);
  const g = poolGeometry(x.shape, opts, 'x');
  checkShape('dy', dy, [g.n, g.oh, g.ow, g.c]);
  const { accumulate = false } = opts;
  const out = rankedDestination(opts.out, accumulate, x.shape, x.rt);
  x.rt.k.max_pool2d_backward_f32_nhwc(g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
    x.ptr, dy.ptr, out.ptr, accumulate ? 1 : 0);
  return out;
}

/** Average pooling, NHWC (count_include_pad = false): `x` [N, H, W, C] → [N, OH, OW, C]. */
export function avgPool2d(x: Tensor, opts: Pool2dForwardOptions): Tensor {
  return poolForward('avg_pool2d_f32_nhwc', x, opts);
}

/**
 * Gradient of {@link avgPool2d}: dx [N, H, W, C] of shape `xShape`; each dy [N, OH, OW, C]
 * is spread evenly over the real pixels of its window.
 */
export function avgPool2dBackward(dy: Tensor, xShape: Shape, opts: Pool2dBackwardOptions): Tensor {
  checkRankedTensor('dy', dy, 4, '[N, OH, OW, C]');
  checkShapeArg('xShape', xShape, 4, '[N, H, W, C]');
  const g = poolGeometry(xShape, opts, 'xShape');
  checkShape('dy', dy, [g.n, g.oh, g.ow, g.c]);
  const { accumulate = false } = opts;
  const out = rankedDestination(opts.out, accumulate, xShape, dy.rt);
  dy.rt.k.avg_pool2d_backward_f32_nhwc(g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
    dy.ptr, out.ptr, accumulate ? 1 : 0);
  return out;
}
