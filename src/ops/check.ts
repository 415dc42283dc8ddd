import { ArgumentError, ShapeError, describe } from '../errors.js';
import { Tensor, fmtShape, sizeOf, type Shape } from '../tensor.js';
import type { Runtime } from '../runtime/runtime.js';

// Argument checks shared by every op family. Internal: src/index.ts exports none of them.
// Each throws the typed error naming the argument, what was expected and what came.

/** How a runtime mismatch is worded: [expected, received]. Families keep their own wording. */
export type RuntimeWording = readonly [expected: string, received: string];

const SAME_RUNTIME: RuntimeWording = ['a tensor of the same runtime', 'a tensor of another runtime'];

/** Wording of the ops whose inputs are all checked against the first (conv, pool). */
const OTHER_INPUTS: RuntimeWording = ['a tensor of the same runtime as the other inputs', 'another runtime'];

/**
 * Throw {@link ArgumentError} unless `t` is a live {@link Tensor} (of runtime `rt` when given).
 * @internal
 */
export function checkTensor(name: string, t: unknown, rt?: Runtime, wording: RuntimeWording = SAME_RUNTIME): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(name, 'a Tensor', describe(t));
  if (t.isDisposed) throw new ArgumentError(name, 'a live tensor', 'a disposed tensor');
  if (rt && t.rt !== rt) throw new ArgumentError(name, wording[0], wording[1]);
  return t;
}

/**
 * {@link checkTensor} plus a rank check whose message shows the expected `layout`
 * (e.g. `'[N, H, W, C]'`); the runtime is checked after the rank.
 * @internal
 */
export function checkRankedTensor(name: string, t: unknown, rank: number, layout: string, rt?: Runtime): Tensor {
  const v = checkTensor(name, t);
  if (v.shape.length !== rank) throw new ShapeError(name, `a rank-${rank} tensor ${layout}`, fmtShape(v.shape));
  return checkTensor(name, v, rt, OTHER_INPUTS);
}

/** @internal Throw {@link ShapeError} unless `t` has exactly `shape`. */
export function checkShape(name: string, t: Tensor, shape: Shape): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(name, fmtShape(shape), fmtShape(t.shape));
  }
}

/** @internal Throw {@link ShapeError} unless `t` has as many elements as `ref`. */
export function checkSameSize(name: string, t: Tensor, ref: Tensor): void {
  if (t.size !== ref.size) throw new ShapeError(name, `${ref.size} elements (${fmtShape(ref.shape)})`, `${t.size} elements (${fmtShape(t.shape)})`);
}

/**
 * Throw {@link ShapeError} unless `s` is an array of `rank` valid dimensions (a shape argument
 * such as `xShape`); `layout` names them in the message.
 * @internal
 */
export function checkShapeArg(name: string, s: unknown, rank: number, layout: string): Shape {
  if (!Array.isArray(s) || s.length !== rank) throw new ShapeError(name, `a shape ${layout}`, Array.isArray(s) ? fmtShape(s) : describe(s));
  sizeOf(s, name);
  return s;
}

/**
 * Validate an optional destination of `shape` (also live and of runtime `rt`), or allocate
 * a zero-filled one. `accumulate` requires a destination.
 * @internal
 */
export function destination(name: string, out: Tensor | undefined, shape: Shape, rt: Runtime, accumulate = false,
  wording: RuntimeWording = SAME_RUNTIME): Tensor {
  if (out === undefined || out === null) {
    if (accumulate) throw new ArgumentError(name, 'a destination tensor when accumulate is set', 'none');
    return Tensor.zeros(shape, rt);
  }
  checkTensor(name, out, rt, wording);
  checkShape(name, out, shape);
  return out;
}

/**
 * {@link destination} `out` of the conv and pool ops: a wrong rank is reported with the
 * expected shape as layout, as {@link checkRankedTensor} does.
 * @internal
 */
export function rankedDestination(out: Tensor | undefined, accumulate: boolean, shape: Shape, rt: Runtime): Tensor {
  if (out !== undefined && out !== null) checkRankedTensor('out', out, shape.length, fmtShape(shape), rt);
  return destination('out', out, shape, rt, accumulate, OTHER_INPUTS);
}

/** @internal Split a tensor of rank ≥ 1 into [rows, cols] over its last dimension. */
export function rowsCols(name: string, t: Tensor): [number, number] {
  if (t.shape.length < 1) throw new ShapeError(name, 'a tensor of rank >= 1', fmtShape(t.shape));
  const cols = t.shape[t.shape.length - 1];
  return [cols === 0 ? 0 : t.size / cols, cols];
}

/** A per-axis integer: one number for both axes, or `[h, w]`. */
export type Pair = number | readonly [number, number];

/** @internal Parse a {@link Pair} option into `[h, w]` integers ≥ `min`; throws {@link ArgumentError}. */
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
