import { expect } from 'vitest';
import { Runtime } from '../../src/runtime/runtime.js';

// Shared by the kernel tests: seeded test data, raw wasm memory access, bit-exact and
// tolerance comparisons. Test data only: the library's own randomness runs in wasm.

/** mulberry32: a deterministic generator of numbers in [0, 1) (multiples of 2^-32). */
export function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Raw 32-bit words of a linear congruential generator (Numerical Recipes constants). */
export function lcgWords(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

/** Deterministic LCG in [0, 1) so failures reproduce. */
export function lcg(seed: number): () => number {
  const next = lcgWords(seed);
  return () => next() / 2 ** 32;
}

/** n values uniform in [lo, hi) drawn from `rnd`. */
export function randomArray(n: number, rnd: () => number, lo = -1, hi = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * rnd();
  return v;
}

/** n values uniform in [lo, hi) from {@link mulberry32}(seed). */
export function randArr(n: number, lo: number, hi: number, seed: number): Float32Array {
  return randomArray(n, mulberry32(seed), lo, hi);
}

/** Raw kernels of `rt` by name, for calling a kernel and its `_scalar` twin alike. */
export type KernelTable = Record<string, (...a: number[]) => number>;

/**
 * A runtime with helpers to feed kernels raw pointers: `put` copies f32 data into fresh memory
 * 4 bytes past a 16-byte boundary (so SIMD loads are unaligned), `putI32` copies i32 data
 * (aligned), `get` copies n f32 values out.
 */
export function kernelRig(rt: Runtime = Runtime.createSync()) {
  const put = (a: ArrayLike<number>): number => {
    const p = rt.allocF32(a.length + 1) + 4;
    rt.f32.set(a, p >>> 2);
    return p;
  };
  const putI32 = (a: ArrayLike<number>): number => {
    const p = rt.allocF32(a.length + 1);
    rt.i32.set(a, p >>> 2);
    return p;
  };
  const get = (p: number, n: number): Float32Array => rt.f32.slice(p >>> 2, (p >>> 2) + n);
  return { rt, K: rt.k as unknown as KernelTable, put, putI32, get };
}

/** The 32-bit patterns of a typed array's elements. */
export function bits(a: Float32Array | Uint32Array | Int32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

/** Expect two float arrays to hold the same bits (−0 ≠ +0, NaN payloads compared). */
export function expectBits(a: Float32Array, b: Float32Array): void {
  expect(bits(a)).toEqual(bits(b));
}

/** Expect |a[i] − ref[i]| ≤ tol·(1 + |ref[i]|) for every i; `what` names the array in the message. */
export function expectClose(a: ArrayLike<number>, ref: ArrayLike<number>, tol: number, what = 'index'): void {
  expect(a.length, what).toBe(ref.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - ref[i]) <= tol * (1 + Math.abs(ref[i])))) throw new Error(`${what}[${i}]: ${a[i]} vs reference ${ref[i]}`);
  }
}

/** Expect |got[i] − want[i]| ≤ rtol·max(1, max |want|) for every i; `what` names the array. */
export function expectCloseToScale(got: ArrayLike<number>, want: ArrayLike<number>, what: string, rtol = 1e-5): void {
  expect(got.length, what).toBe(want.length);
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= rtol * scale)) throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

/**
 * Central differences (L(+h) − L(−h)) / 2h of `loss` with respect to each element of `data`:
 * each perturbed `data` is handed to `store` (e.g. `(d) => t.set(d)`) before `loss` runs;
 * `data` is restored (and stored) after each element.
 */
export function centralDiff(data: Float32Array, store: (d: Float32Array) => void, loss: () => number, h: number): Float64Array {
  const g = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    data[i] = v + h; store(data); const lp = loss();
    data[i] = v - h; store(data); const lm = loss();
    data[i] = v; store(data);
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}
