import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { Tensor } from '../src/tensor.js';
import {
  add, addBiasRows, allFinite, axpy, clip, columnSums, copy, countNonFinite, firstNonFinite, dot, fill, maxAbs, mul, scale, square, sub, sum, sumSquares,
} from '../src/ops/elementwise.js';
import { expectBits, expectClose, kernelRig, randArr } from './util/kernel.js';

const { rt, K, put, get } = kernelRig();
const SIZES = [0, 1, 3, 4, 5, 7, 8, 9, 16, 17, 33, 1000];

/** Map kernels: [name, args after the pointers, inputs, f64 reference]. */
const MAPS: [string, number[], number, (a: number, b: number) => number][] = [
  ['scale_f32', [-1.5], 1, (a) => -1.5 * a],
  ['square_f32', [], 1, (a) => a * a],
  ['clip_f32', [-0.5, 0.25], 1, (a) => Math.min(Math.max(a, -0.5), 0.25)],
  ['add_f32', [], 2, (a, b) => a + b],
  ['sub_f32', [], 2, (a, b) => a - b],
  ['mul_f32', [], 2, (a, b) => a * b],
];

describe('elementwise kernels', () => {
  for (const [name, extra, arity, f] of MAPS) {
    it(`${name}: SIMD = scalar twin bit for bit = f64 reference rounded`, () => {
      for (const n of SIZES) {
        const a = randArr(n, -2, 2, n), b = randArr(n, -2, 2, n + 1);
        const ys = ['', '_scalar'].map((suffix) => {
          const py = put(new Float32Array(n));
          if (arity === 1) K[name + suffix](put(a), py, n, ...extra);
          else K[name + suffix](put(a), put(b), py, n);
          return get(py, n);
        });
        expectBits(ys[0], ys[1]);
        expectBits(ys[0], Float32Array.from(a, (v, i) => f(v, b[i])));
      }
    });
  }

  it('fill, copy, axpy: SIMD = scalar = reference', () => {
    for (const n of SIZES) {
      const x = randArr(n, -2, 2, n), y0 = randArr(n, -2, 2, n + 5);
      for (const suffix of ['', '_scalar']) {
        const p = put(y0);
        K[`fill_f32${suffix}`](p, n, 0.75);
        expect(get(p, n).every((v) => v === 0.75)).toBe(true);
        K[`copy_f32${suffix}`](put(x), p, n);
        expectBits(get(p, n), x);
        const py = put(y0);
        K[`axpy_f32${suffix}`](put(x), py, n, 0.3);
        expectBits(get(py, n), Float32Array.from(y0, (v, i) => v + Math.fround(x[i] * Math.fround(0.3))));
      }
    }
  });

  it('add_bias_rows and column sums: SIMD = scalar twin bit for bit ≈ reference, with accumulation', () => {
    for (const rows of [0, 1, 3, 17]) for (const cols of SIZES.slice(0, 11)) {
      const x = randArr(rows * cols, -2, 2, rows * 50 + cols), bias = randArr(cols, -1, 1, cols);
      const o0 = randArr(cols, -1, 1, 3);
      const res = ['', '_scalar'].map((suffix) => {
        const py = put(x);
        K[`add_bias_rows_f32${suffix}`](py, put(bias), rows, cols);
        const po = put(o0), pa = put(o0);
        K[`colsum_f32${suffix}`](put(x), po, rows, cols, 0);
        K[`colsum_f32${suffix}`](put(x), pa, rows, cols, 1);
        return { y: get(py, rows * cols), s: get(po, cols), a: get(pa, cols) };
      });
      for (const k of ['y', 's', 'a'] as const) expectBits(res[0][k], res[1][k]);
      expectBits(res[0].y, Float32Array.from(x, (v, i) => v + bias[i % cols]));
      const ref = new Array(cols).fill(0);
      for (let i = 0; i < rows * cols; i++) ref[i % cols] += x[i];
      expectClose(res[0].s, ref, 1e-6);
      expectClose(res[0].a, ref.map((v, j) => v + o0[j]), 1e-6);
    }
  });

  it('sum, sum of squares and dot (f64): SIMD ≈ scalar ≈ reference; maxabs and non-finite count exact', () => {
    for (const n of SIZES) {
      const a = randArr(n, -3, 3, n), b = randArr(n, -3, 3, n + 2);
      const pa = put(a), pb = put(b);
      let s = 0, ss = 0, d = 0, m = 0;
      for (let i = 0; i < n; i++) { s += a[i]; ss += a[i] * a[i]; d += a[i] * b[i]; m = Math.max(m, Math.abs(a[i])); }
      for (const suffix of ['', '_scalar']) {
        expectClose([K[`sum_f32${suffix}`](pa, n)], [s], 1e-12);
        expectClose([K[`sumsq_f32${suffix}`](pa, n)], [ss], 1e-12);
        expectClose([K[`dot_f32${suffix}`](pa, pb, n)], [d], 1e-12);
        expect(K[`maxabs_f32${suffix}`](pa, n)).toBe(m);
        expect(K[`count_nonfinite_f32${suffix}`](pa, n)).toBe(0);
      }
      if (n > 0) {
        const bad = a.slice();
        const specials = [NaN, Infinity, -Infinity];
        let expected = 0;
        for (let i = 0; i < n; i += 3) { bad[i] = specials[expected % 3]; expected++; }
        const p = put(bad);
        expect(K.count_nonfinite_f32(p, n)).toBe(expected);
        expect(K.count_nonfinite_f32_scalar(p, n)).toBe(expected);
      }
    }
    // Largest finite and smallest subnormal floats are finite.
    expect(K.count_nonfinite_f32(put([3.4028234663852886e38, -3.4028234663852886e38, 1e-45, 0, -0]), 5)).toBe(0);
  });
});

describe('first_nonfinite_f32', () => {
  /** Naive reference: index of the first element that is not finite, −1 if none. */
  const firstBad = (a: Float32Array): number => a.findIndex((v) => !Number.isFinite(v));

  it('SIMD = scalar twin = reference: clean buffers, one special value at every position class, several', () => {
    for (const n of [...SIZES, 63, 64, 65, 127, 128, 129, 200]) {
      const a = randArr(n, -3, 3, n + 11);
      for (const suffix of ['', '_scalar']) expect(K[`first_nonfinite_f32${suffix}`](put(a), n), `n ${n}`).toBe(-1);
      // First, last, block edges (63, 64), a SIMD tail and the middle; every kind of non-finite value.
      const where = [...new Set([0, n - 1, 63, 64, n >> 1, n - 3].filter((i) => i >= 0 && i < n))];
      for (const i of where) for (const special of [NaN, Infinity, -Infinity]) {
        const b = a.slice();
        b[i] = special;
        if (i + 5 < n) b[i + 5] = NaN; // a later one must not win
        const p = put(b);
        for (const suffix of ['', '_scalar']) expect(K[`first_nonfinite_f32${suffix}`](p, n), `n ${n}, ${special} at ${i}`).toBe(firstBad(b));
      }
    }
  });

  it('reads only n elements (a NaN just past the end is not seen) and treats extremes and NaN payloads right', () => {
    const a = new Float32Array(70).fill(1);
    a[69] = NaN;
    const p = put(a);
    for (const suffix of ['', '_scalar']) expect(K[`first_nonfinite_f32${suffix}`](p, 69)).toBe(-1);
    const extremes = put([3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45, 0, -0]);
    for (const suffix of ['', '_scalar']) expect(K[`first_nonfinite_f32${suffix}`](extremes, 6)).toBe(-1);
    // A negative quiet NaN with a payload (sign bit set: an unsigned compare must still see it).
    const u = new Uint32Array(100).fill(0x3f800000);
    u[77] = 0xffc00123;
    const pu = put(new Float32Array(u.buffer));
    for (const suffix of ['', '_scalar']) expect(K[`first_nonfinite_f32${suffix}`](pu, 100)).toBe(77);
  });

  it('firstNonFinite and allFinite on tensors', () => {
    const x = Tensor.from(randArr(300, -1, 1, 4), [3, 100], rt);
    expect(firstNonFinite(x)).toBe(-1);
    expect(allFinite(x)).toBe(true);
    const y = copy(x);
    rt.f32[(y.ptr >>> 2) + 250] = -Infinity; // Tensor.from refuses non-finite data: write it raw
    expect(firstNonFinite(y)).toBe(250);
    expect(allFinite(y)).toBe(false);
    expect(() => firstNonFinite({} as Tensor)).toThrow(ArgumentError);
  });
});

describe('equal_bits_f32', () => {
  it('SIMD and scalar twin: equal arrays, one flipped bit anywhere (blocks of 256 and tails), NaN and ±0', () => {
    for (const n of [...SIZES, 255, 256, 257, 700]) {
      const a = randArr(n, -3, 3, n + 5);
      const pa = put(a), pb = put(a);
      for (const suffix of ['', '_scalar']) expect(K[`equal_bits_f32${suffix}`](pa, pb, n)).toBe(1);
      for (const i of n ? [0, n >> 1, n - 1] : []) {
        const b = a.slice();
        const u = new Uint32Array(b.buffer);
        u[i] ^= 1; // the lowest mantissa bit
        const pc = put(b);
        for (const suffix of ['', '_scalar']) expect(K[`equal_bits_f32${suffix}`](pa, pc, n), `n ${n}, bit at ${i}`).toBe(0);
      }
    }
    const nan = put([NaN, 0, 1, 2, 3]), nan2 = put([NaN, 0, 1, 2, 3]), neg0 = put([NaN, -0, 1, 2, 3]);
    for (const suffix of ['', '_scalar']) {
      expect(K[`equal_bits_f32${suffix}`](nan, nan2, 5)).toBe(1);
      expect(K[`equal_bits_f32${suffix}`](nan, neg0, 5)).toBe(0);
    }
  });
});

describe('elementwise ops', () => {
  it('compute on tensors, in place and into out', () => {
    const a = Tensor.from([1, 2, 3, 4, 5], [5], rt), b = Tensor.from([5, 4, 3, 2, 1], [5], rt);
    expect(Array.from(add(a, b).toArray())).toEqual([6, 6, 6, 6, 6]);
    expect(Array.from(sub(a, b).toArray())).toEqual([-4, -2, 0, 2, 4]);
    expect(Array.from(mul(a, b).toArray())).toEqual([5, 8, 9, 8, 5]);
    expect(Array.from(square(a).toArray())).toEqual([1, 4, 9, 16, 25]);
    expect(Array.from(clip(a, 2, 4).toArray())).toEqual([2, 2, 3, 4, 4]);
    expect(Array.from(copy(a).toArray())).toEqual([1, 2, 3, 4, 5]);
    expect(sum(a)).toBe(15);
    expect(sumSquares(a)).toBe(55);
    expect(dot(a, b)).toBe(35);
    expect(maxAbs(scale(a, -2))).toBe(10);
    axpy(2, a, b);
    expect(Array.from(b.toArray())).toEqual([7, 8, 9, 10, 11]);
    scale(a, 0.5, { out: a });
    expect(Array.from(a.toArray())).toEqual([0.5, 1, 1.5, 2, 2.5]);
    fill(a, 3);
    expect(Array.from(a.toArray())).toEqual([3, 3, 3, 3, 3]);
    const y = Tensor.from([1, 2, 3, 4, 5, 6], [2, 1, 3], rt);
    addBiasRows(y, Tensor.from([10, 20, 30], [3], rt));
    expect(Array.from(y.toArray())).toEqual([11, 22, 33, 14, 25, 36]);
    const cs = columnSums(y);
    expect(Array.from(cs.toArray())).toEqual([25, 47, 69]);
    columnSums(y, { out: cs, accumulate: true });
    expect(Array.from(cs.toArray())).toEqual([50, 94, 138]);
    expect(countNonFinite(y)).toBe(0);
    expect(sum(Tensor.zeros([0], rt))).toBe(0);
  });

  it('reject bad arguments with typed errors and stay usable', () => {
    const a = Tensor.from([1, 2, 3], [3], rt);
    expect(() => add(a, Tensor.zeros([4], rt))).toThrow(ShapeError);
    expect(() => add(a, Tensor.zeros([3, 1], rt))).toThrow(ShapeError);
    expect(() => add(a, a, { out: Tensor.zeros([2], rt) })).toThrow(ShapeError);
    expect(() => scale(a, NaN)).toThrow(ArgumentError);
    expect(() => fill(a, Infinity)).toThrow(ArgumentError);
    expect(() => clip(a, 2, 1)).toThrow(ArgumentError);
    expect(() => addBiasRows(Tensor.zeros([2, 3], rt), Tensor.zeros([2], rt))).toThrow(ShapeError);
    expect(() => columnSums(a, { accumulate: true })).toThrow(ArgumentError);
    expect(() => dot(a, 'x' as unknown as Tensor)).toThrow(ArgumentError);
    const other = Runtime.createSync();
    expect(() => add(a, Tensor.from([1, 2, 3], [3], other))).toThrow(ArgumentError);
    expect(() => K.clip_f32(a.ptr, a.ptr, 3, 1, 0)).toThrow(/clip_f32/);
    expect(Array.from(add(a, a).toArray())).toEqual([2, 4, 6]);
  });
});
