import { ShapeError } from '../errors.js';
import { fmtShape, type Shape, type Tensor } from '../tensor.js';
import type { Runtime } from '../runtime/runtime.js';
import { checkedWindowOutput } from './geometry.js';
import { checkRankedTensor, checkShape, checkShapeArg, checkTensor, pairOption, rankedDestination, type Pair } from './check.js';

export type { Pair };

/**
 * The window of a 2-D convolution, resolved: kernel, stride and zero padding, `[h, w]` pixels
 * each. The one geometry type of the package: layers' maps, the sparse kernels and sparse model
 * steps all carry it.
 */
export interface ConvGeometry {
  kernel: [number, number];
  stride: [number, number];
  pad: [number, number];
}

/** Stride and padding options shared by the three conv2d ops (the kernel size is the weights'). */
export interface Conv2dBaseOptions {
  /** Step between windows, pixels (default 1); a number or `[strideH, strideW]`. */
  stride?: Pair;
  /** Zero padding on each side, pixels (default 0); a number or `[padH, padW]`. */
  pad?: Pair;
}

/** Options of {@link conv2d}. */
export interface Conv2dOptions extends Conv2dBaseOptions {
  /** Per-filter bias [F] added to every output pixel. */
  bias?: Tensor;
  /** Destination [N, OH, OW, F]; allocated when absent. */
  out?: Tensor;
  /** Add into `out` instead of overwriting it (requires `out`). */
  accumulate?: boolean;
}

/** Options of {@link conv2dBackwardData} and {@link conv2dBackwardFilter}. */
export interface Conv2dGradOptions extends Conv2dBaseOptions {
  /** Destination (shape of the gradient); allocated when absent. */
  out?: Tensor;
  /** Add into `out` instead of overwriting it (requires `out`), e.g. to sum gradients. */
  accumulate?: boolean;
}

/** Resolved geometry of one conv2d: every size the kernels take. */
interface Geom {
  n: number; h: number; w: number; c: number; f: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number; oh: number; ow: number;
}

function geometry(xShape: Shape, wShape: Shape, opts: Conv2dBaseOptions, xName: string, wName: string): Geom {
  const [n, h, w, c] = xShape;
  const [kh, kw, cw, f] = wShape;
  if (cw !== c) throw new ShapeError(wName, `[KH, KW, ${c}, F] (C = ${c} from ${xName} ${fmtShape(xShape)})`, fmtShape(wShape));
  for (const [name, shape] of [[xName, xShape], [wName, wShape]] as const) {
    if (shape.some((d) => d < 1)) throw new ShapeError(name, 'all dimensions ≥ 1', fmtShape(shape));
  }
  const [sh, sw] = pairOption('stride', opts.stride, 1, 1);
  const [ph, pw] = pairOption('pad', opts.pad, 0, 0);
  const [oh, ow] = checkedWindowOutput(wName, 'a kernel', h, w, kh, kw, sh, sw, ph, pw);
  return { n, h, w, c, f, kh, kw, sh, sw, ph, pw, oh, ow };
}

function colScratch(rt: Runtime, g: Geom): number {
  const bytes = rt.k.conv2d_col_bytes(g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw);
  return bytes > 0 ? rt.workspace(bytes) : 0;
}

/**
 * 2-D convolution (cross-correlation, as in every DL library), NHWC.
 * `x`: input [N, H, W, C]; `w`: filters [KH, KW, C, F]; returns y [N, OH, OW, F] with
 * OH = floor((H + 2·padH − KH) / strideH) + 1 (same for W), zero padding.
 * Optional `bias` [F]; `out`/`accumulate` write or add into an existing tensor.
 */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  checkRankedTensor('x', x, 4, '[N, H, W, C]');
  const rt = x.rt;
  checkRankedTensor('w', w, 4, '[KH, KW, C, F]', rt);
  const g = geometry(x.shape, w.shape, opts, 'x', 'w');
  const { bias, accumulate = false } = opts;
  if (bias !== undefined) {
    checkRankedTensor('bias', bias, 1, `[${g.f}]`, rt);
    if (bias.shape[0] !== g.f) throw new ShapeError('bias', `[${g.f}]`, fmtShape(bias.shape));
  }
  const out = rankedDestination(opts.out, accumulate, [g.n, g.oh, g.ow, g.f], rt);
  const col = colScratch(rt, g);
  rt.k.conv2d_f32_nhwc(g.n, g.h, g.w, g.c, g.f, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
    x.ptr, w.ptr, bias ? bias.ptr : 0, out.ptr, accumulate ? 1 : 0, col);
  return out;
}

/** Run a backward kernel on inputs `a`, `b` into `opts.out` (checked, or a new tensor of `outShape`). */
function gradKernel(kind: 'conv2d_backward_data_f32_nhwc' | 'conv2d_backward_filter_f32_nhwc', rt: Runtime, g: Geom,
  a: Tensor, b: Tensor, outShape: Shape, opts: Conv2dGradOptions): Tensor {
  const { accumulate = false } = opts;
  const out = rankedDestination(opts.out, accumulate, outShape, rt);
  const col = colScratch(rt, g);
  rt.k[kind](g.n, g.h, g.w, g.c, g.f, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, a.ptr, b.ptr, out.ptr, accumulate ? 1 : 0, col);
  return out;
}

/**
 * Gradient of {@link conv2d} with respect to its input: dx [N, H, W, C] = ∂(Σ y⊙dy)/∂x.
 * `dy`: [N, OH, OW, F]; `w`: [KH, KW, C, F]; `xShape`: the input's shape [N, H, W, C].
 */
export function conv2dBackwardData(dy: Tensor, w: Tensor, xShape: Shape, opts: Conv2dGradOptions = {}): Tensor {
  checkRankedTensor('dy', dy, 4, '[N, OH, OW, F]');
  const rt = dy.rt;
  checkRankedTensor('w', w, 4, '[KH, KW, C, F]', rt);
  checkShapeArg('xShape', xShape, 4, '[N, H, W, C]');
  const g = geometry(xShape, w.shape, opts, 'xShape', 'w');
  checkShape('dy', dy, [g.n, g.oh, g.ow, g.f]);
  return gradKernel('conv2d_backward_data_f32_nhwc', rt, g, dy, w, [g.n, g.h, g.w, g.c], opts);
}

/**
 * Gradient of {@link conv2d} with respect to its filters: dW [KH, KW, C, F] = ∂(Σ y⊙dy)/∂W.
 * `x`: [N, H, W, C]; `dy`: [N, OH, OW, F]; `wShape`: the filters' shape [KH, KW, C, F].
 */
export function conv2dBackwardFilter(x: Tensor, dy: Tensor, wShape: Shape, opts: Conv2dGradOptions = {}): Tensor {
  checkRankedTensor('x', x, 4, '[N, H, W, C]');
  const rt = x.rt;
  checkRankedTensor('dy', dy, 4, '[N, OH, OW, F]', rt);
  checkShapeArg('wShape', wShape, 4, '[KH, KW, C, F]');
  const g = geometry(x.shape, wShape, opts, 'x', 'wShape');
  checkShape('dy', dy, [g.n, g.oh, g.ow, g.f]);
  return gradKernel('conv2d_backward_filter_f32_nhwc', rt, g, x, dy, [g.kh, g.kw, g.c, g.f], opts);
}

/**
 * Bias gradient of a conv layer: db [F] = Σ dy over every axis but the last (N, OH, OW);
 * works for any [..., F] tensor, e.g. a dense layer's [batch, F].
 * `dy`: [..., F] (e.g. [N, OH, OW, F]).
 */
export function biasGradNHWC(dy: Tensor, opts: { out?: Tensor; accumulate?: boolean } = {}): Tensor {
  checkTensor('dy', dy);
  if (dy.shape.length < 1 || dy.shape[dy.shape.length - 1] < 1) throw new ShapeError('dy', 'a tensor [..., F] with F ≥ 1', fmtShape(dy.shape));
  const f = dy.shape[dy.shape.length - 1];
  const { accumulate = false } = opts;
  const out = rankedDestination(opts.out, accumulate, [f], dy.rt);
  dy.rt.k.conv2d_bias_grad_f32(dy.size / f, f, dy.ptr, out.ptr, accumulate ? 1 : 0);
  return out;
}
