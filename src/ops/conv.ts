import { ArgumentError, ShapeError, describe } from '../errors.js';
import { Tensor, fmtShape, sizeOf, type Shape } from '../tensor.js';
import type { Runtime } from '../runtime/runtime.js';

/** A per-axis integer: one number for both axes, or `[h, w]`. */
export type Pair = number | readonly [number, number];

/** Options shared by the three conv2d ops. */
export interface Conv2dGeometry {
  /** Step between windows, pixels (default 1); a number or `[strideH, strideW]`. */
  stride?: Pair;
  /** Zero padding on each side, pixels (default 0); a number or `[padH, padW]`. */
  pad?: Pair;
}

/** Options of {@link conv2d}. */
export interface Conv2dOptions extends Conv2dGeometry {
  /** Per-filter bias [F] added to every output pixel. */
  bias?: Tensor;
  /** Destination [N, OH, OW, F]; allocated when absent. */
  out?: Tensor;
  /** Add into `out` instead of overwriting it (requires `out`). */
  accumulate?: boolean;
}

/** Options of {@link conv2dBackwardData} and {@link conv2dBackwardFilter}. */
export interface Conv2dGradOptions extends Conv2dGeometry {
  /** Destination (shape of the gradient); allocated when absent. */
  out?: Tensor;
  /** Add into `out` instead of overwriting it (requires `out`), e.g. to sum gradients. */
  accumulate?: boolean;
}

/** Parse a {@link Pair} option into `[h, w]` integers ≥ `min`; throws {@link ArgumentError}. */
export function pairOption(name: string, v: Pair | undefined, dflt: number, min: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  const ok = (a: unknown): a is number => typeof a === 'number' && Number.isInteger(a) && a >= min && a <= 2 ** 20;
  if (typeof v === 'number') {
    if (!ok(v)) throw new ArgumentError(name, `an integer ≥ ${min} or [h, w] of them`, describe(v));
    return [v, v];
  }
  if (!Array.isArray(v) || v.length !== 2 || !ok(v[0]) || !ok(v[1])) {
    const got = Array.isArray(v) ? `[${v.map((e) => describe(e)).join(', ')}]` : describe(v);
    throw new ArgumentError(name, `an integer ≥ ${min} or [h, w] of them`, got);
  }
  return [v[0], v[1]];
}

/** Throw unless `t` is a live Tensor of rank `rank` (and of runtime `rt` when given). */
export function checkTensor(name: string, t: unknown, rank: number, layout: string, rt?: Runtime): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(name, 'a Tensor', describe(t));
  if (t.isDisposed) throw new ArgumentError(name, 'a live tensor', 'a disposed tensor');
  if (t.shape.length !== rank) throw new ShapeError(name, `a rank-${rank} tensor ${layout}`, fmtShape(t.shape));
  if (rt && t.rt !== rt) throw new ArgumentError(name, 'a tensor of the same runtime as the other inputs', 'another runtime');
  return t;
}

/** Check an optional destination and `accumulate`; returns `out` or a new zero tensor of `shape`. */
export function destination(out: Tensor | undefined, accumulate: boolean, shape: Shape, rt: Runtime): Tensor {
  if (accumulate && !out) throw new ArgumentError('out', 'a destination tensor when accumulate is set', 'none');
  if (!out) return Tensor.zeros(shape, rt);
  checkTensor('out', out, shape.length, fmtShape(shape), rt);
  if (out.shape.some((d, i) => d !== shape[i])) throw new ShapeError('out', fmtShape(shape), fmtShape(out.shape));
  return out;
}

/** Output size along one axis: floor((size + 2·pad − k) / stride) + 1. */
export function convOutDim(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

/** Resolved geometry of one conv2d: every size the kernels take. */
interface Geom {
  n: number; h: number; w: number; c: number; f: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number; oh: number; ow: number;
}

function geometry(xShape: Shape, wShape: Shape, opts: Conv2dGeometry, xName: string, wName: string): Geom {
  const [n, h, w, c] = xShape;
  const [kh, kw, cw, f] = wShape;
  if (cw !== c) throw new ShapeError(wName, `[KH, KW, ${c}, F] (C = ${c} from ${xName} ${fmtShape(xShape)})`, fmtShape(wShape));
  for (const [name, shape] of [[xName, xShape], [wName, wShape]] as const) {
    if (shape.some((d) => d < 1)) throw new ShapeError(name, 'all dimensions ≥ 1', fmtShape(shape));
  }
  const [sh, sw] = pairOption('stride', opts.stride, 1, 1);
  const [ph, pw] = pairOption('pad', opts.pad, 0, 0);
  const oh = convOutDim(h, kh, sh, ph), ow = convOutDim(w, kw, sw, pw);
  if (oh < 1 || ow < 1) {
    throw new ShapeError(wName, `a kernel no larger than the padded input ${h + 2 * ph}×${w + 2 * pw}`, `${kh}×${kw}`);
  }
  return { n, h, w, c, f, kh, kw, sh, sw, ph, pw, oh, ow };
}

function checkShapeArg(name: string, s: unknown, layout: string): Shape {
  if (!Array.isArray(s) || s.length !== 4) throw new ShapeError(name, `a shape ${layout}`, Array.isArray(s) ? fmtShape(s) : describe(s));
  sizeOf(s, name);
  return s;
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
  checkTensor('x', x, 4, '[N, H, W, C]');
  const rt = x.rt;
  checkTensor('w', w, 4, '[KH, KW, C, F]', rt);
  const g = geometry(x.shape, w.shape, opts, 'x', 'w');
  const { bias, accumulate = false } = opts;
  if (bias !== undefined) {
    checkTensor('bias', bias, 1, `[${g.f}]`, rt);
    if (bias.shape[0] !== g.f) throw new ShapeError('bias', `[${g.f}]`, fmtShape(bias.shape));
  }
  const out = destination(opts.out, accumulate, [g.n, g.oh, g.ow, g.f], rt);
  const col = colScratch(rt, g);
  rt.k.conv2d_f32_nhwc(g.n, g.h, g.w, g.c, g.f, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
    x.ptr, w.ptr, bias ? bias.ptr : 0, out.ptr, accumulate ? 1 : 0, col);
  return out;
}

/**
 * Gradient of {@link conv2d} with respect to its input: dx [N, H, W, C] = ∂(Σ y⊙dy)/∂x.
 * `dy`: [N, OH, OW, F]; `w`: [KH, KW, C, F]; `xShape`: the input's shape [N, H, W, C].
 */
export function conv2dBackwardData(dy: Tensor, w: Tensor, xShape: Shape, opts: Conv2dGradOptions = {}): Tensor {
  checkTensor('dy', dy, 4, '[N, OH, OW, F]');
  const rt = dy.rt;
  checkTensor('w', w, 4, '[KH, KW, C, F]', rt);
  checkShapeArg('xShape', xShape, '[N, H, W, C]');
  const g = geometry(xShape, w.shape, opts, 'xShape', 'w');
  const want = [g.n, g.oh, g.ow, g.f];
  if (dy.shape.some((d, i) => d !== want[i])) throw new ShapeError('dy', fmtShape(want), fmtShape(dy.shape));
  const { accumulate = false } = opts;
  const out = destination(opts.out, accumulate, [g.n, g.h, g.w, g.c], rt);
  const col = colScratch(rt, g);
  rt.k.conv2d_backward_data_f32_nhwc(g.n, g.h, g.w, g.c, g.f, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
    dy.ptr, w.ptr, out.ptr, accumulate ? 1 : 0, col);
  return out;
}

/**
 * Gradient of {@link conv2d} with respect to its filters: dW [KH, KW, C, F] = ∂(Σ y⊙dy)/∂W.
 * `x`: [N, H, W, C]; `dy`: [N, OH, OW, F]; `wShape`: the filters' shape [KH, KW, C, F].
 */
export function conv2dBackwardFilter(x: Tensor, dy: Tensor, wShape: Shape, opts: Conv2dGradOptions = {}): Tensor {
  checkTensor('x', x, 4, '[N, H, W, C]');
  const rt = x.rt;
  checkTensor('dy', dy, 4, '[N, OH, OW, F]', rt);
  checkShapeArg('wShape', wShape, '[KH, KW, C, F]');
  const g = geometry(x.shape, wShape, opts, 'x', 'wShape');
  const want = [g.n, g.oh, g.ow, g.f];
  if (dy.shape.some((d, i) => d !== want[i])) throw new ShapeError('dy', fmtShape(want), fmtShape(dy.shape));
  const { accumulate = false } = opts;
  const out = destination(opts.out, accumulate, [g.kh, g.kw, g.c, g.f], rt);
  const col = colScratch(rt, g);
  rt.k.conv2d_backward_filter_f32_nhwc(g.n, g.h, g.w, g.c, g.f, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
    x.ptr, dy.ptr, out.ptr, accumulate ? 1 : 0, col);
  return out;
}

/**
 * Bias gradient of a conv layer: db [F] = Σ dy over every axis but the last (N, OH, OW);
 * works for any [..., F] tensor, e.g. a dense layer's [batch, F].
 * `dy`: [..., F] (e.g. [N, OH, OW, F]).
 */
export function biasGradNHWC(dy: Tensor, opts: { out?: Tensor; accumulate?: boolean } = {}): Tensor {
  if (!(dy instanceof Tensor)) throw new ArgumentError('dy', 'a Tensor', describe(dy));
  if (dy.isDisposed) throw new ArgumentError('dy', 'a live tensor', 'a disposed tensor');
  if (dy.shape.length < 1 || dy.shape[dy.shape.length - 1] < 1) throw new ShapeError('dy', 'a tensor [..., F] with F ≥ 1', fmtShape(dy.shape));
  const f = dy.shape[dy.shape.length - 1];
  const { accumulate = false } = opts;
  const out = destination(opts.out, accumulate, [f], dy.rt);
  dy.rt.k.conv2d_bias_grad_f32(dy.size / f, f, dy.ptr, out.ptr, accumulate ? 1 : 0);
  return out;
}
