import { ArgumentError, NonFiniteError, ShapeError, describe } from './errors.js';
import { Runtime, runtime } from './runtime/runtime.js';

/** A shape: non-negative integer dimensions, outermost first (row-major). */
export type Shape = readonly number[];

/** Number of elements of `shape`; throws {@link ShapeError} on a bad dimension. */
export function sizeOf(shape: Shape, name = 'shape'): number {
  if (!Array.isArray(shape)) throw new ShapeError(name, 'an array of dimensions', describe(shape));
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new ShapeError(name, 'non-negative integer dimensions', `[${shape.join(', ')}]`);
    }
    n *= d;
  }
  if (n > 2 ** 30) throw new ShapeError(name, 'at most 2^30 elements', `[${shape.join(', ')}] (${n} elements)`);
  return n;
}

/** Largest tensor a model file or a CSR matrix may hold (elements): 1 GiB of f32, the most a 4 GiB wasm memory can sensibly hold. */
export const MAX_ELEMENTS = 2 ** 28;

/** `[a, b, c]` for messages. */
export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/**
 * A float32 tensor living in wasm linear memory: a shape and a byte offset. Row-major;
 * images are NHWC. Read it with {@link Tensor.toArray} (a copy) or {@link Tensor.view}
 * (a live view, valid until the next allocation may grow memory).
 */
export class Tensor {
  readonly rt: Runtime;
  readonly shape: Shape;
  readonly size: number;
  /** Byte offset of element 0 in linear memory. */
  readonly ptr: number;
  private disposed = false;

  private constructor(rt: Runtime, shape: Shape, ptr: number, size: number) {
    this.rt = rt;
    this.shape = Object.freeze(shape.slice());
    this.size = size;
    this.ptr = ptr;
  }

  /** A zero-filled tensor of `shape`. */
  static zeros(shape: Shape, rt: Runtime = runtime()): Tensor {
    const n = sizeOf(shape);
    const ptr = rt.allocF32(n, 'shape');
    rt.f32.fill(0, ptr >>> 2, (ptr >>> 2) + n);
    return new Tensor(rt, shape, ptr, n);
  }

  /**
   * Copy `data` into a new tensor of `shape` (default: 1-D). `data` must be a
   * `Float32Array` (or a plain number array) of exactly `prod(shape)` finite values.
   */
  static from(data: Float32Array | readonly number[], shape?: Shape, rt: Runtime = runtime(), name = 'data'): Tensor {
    checkF32(name, data);
    const sh = shape ?? [data.length];
    const n = sizeOf(sh, 'shape');
    if (n !== data.length) throw new ShapeError(name, `${n} elements for shape ${fmtShape(sh)}`, `${data.length} elements`);
    assertFinite(name, data);
    const ptr = rt.allocF32(n, 'shape');
    rt.f32.set(data, ptr >>> 2);
    return new Tensor(rt, sh, ptr, n);
  }

  /** Live Float32Array over this tensor's memory; invalid after any allocation that grows memory. */
  view(): Float32Array {
    this.check();
    return this.rt.f32.subarray(this.ptr >>> 2, (this.ptr >>> 2) + this.size);
  }

  /** A copy of the contents. */
  toArray(): Float32Array {
    return this.view().slice();
  }

  /** Overwrite the contents from `data` (same length, finite). */
  set(data: Float32Array | readonly number[], name = 'data'): this {
    checkF32(name, data);
    if (data.length !== this.size) throw new ShapeError(name, `${this.size} elements`, `${data.length} elements`);
    assertFinite(name, data);
    this.rt.f32.set(data, this.ptr >>> 2);
    return this;
  }

  /** Same memory, another shape with the same number of elements. */
  reshape(shape: Shape): Tensor {
    this.check();
    const n = sizeOf(shape);
    if (n !== this.size) throw new ShapeError('shape', `${this.size} elements`, `${fmtShape(shape)} (${n} elements)`);
    return new Tensor(this.rt, shape, this.ptr, n);
  }

  /**
   * Same memory, its first prod(shape) elements (at most `size`) as `shape`: a view into
   * scratch sized for the largest case. Invalid once this tensor is disposed.
   */
  prefix(shape: Shape): Tensor {
    this.check();
    const n = sizeOf(shape);
    if (n > this.size) throw new ShapeError('shape', `at most ${this.size} elements`, `${fmtShape(shape)} (${n} elements)`);
    return new Tensor(this.rt, shape, this.ptr, n);
  }

  /** Free the memory. Any reshaped alias becomes invalid too. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rt.free(this.ptr);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private check(): void {
    if (this.disposed) throw new ArgumentError('tensor', 'a live tensor', 'a disposed tensor');
  }
}

/** Throw {@link ArgumentError} unless `data` is a Float32Array or an array of numbers. */
export function checkF32(name: string, data: unknown): void {
  if (data instanceof Float32Array) return;
  if (Array.isArray(data)) return;
  throw new ArgumentError(name, 'a Float32Array or number[]', describe(data));
}

/**
 * Copy rows `rows[i]` of `src` (`per` values each) to consecutive rows of `dst`. Short rows are
 * copied element by element: a `subarray` per row costs more than the copy when rows are a few
 * values (regression features and targets, per training step). Float32 only, so the loop stays
 * monomorphic.
 */
export function copyRows(src: Float32Array, per: number, rows: ArrayLike<number>, dst: Float32Array): Float32Array {
  const n = rows.length;
  if (per <= 32) {
    for (let i = 0, o = 0; i < n; i++) {
      const a = rows[i] * per;
      for (let j = 0; j < per; j++) dst[o++] = src[a + j];
    }
  } else {
    for (let i = 0; i < n; i++) dst.set(src.subarray(rows[i] * per, rows[i] * per + per), i * per);
  }
  return dst;
}

/**
 * True when `a` holds no NaN and no ±∞: three native scans (`includes` finds NaN), no
 * interpreted loop over the elements, which during a cold start costs milliseconds per 10⁴.
 */
export function allFinite(a: Float32Array): boolean {
  return !a.includes(NaN) && !a.includes(Infinity) && !a.includes(-Infinity);
}

/** Throw {@link NonFiniteError} at the first NaN/Infinity in `data`. */
export function assertFinite(name: string, data: ArrayLike<number>): void {
  if (data instanceof Float32Array && allFinite(data)) return;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) throw new NonFiniteError(name, 'finite values', `${v} at index ${i}`);
  }
}
