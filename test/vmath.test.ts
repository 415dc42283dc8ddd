import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ShapeError, ArgumentError } from '../src/errors.js';
import { exp, log, log1p, sigmoid, softplus, tanh } from '../src/ops/math.js';
import { lcgWords } from './util/kernel.js';

// Math.* below is the f64 reference only (tests are not a numeric path).
const rt = Runtime.createSync();
const M = 1 << 19;
const xp = rt.allocF32(M);
const yp = rt.allocF32(M);
const zp = rt.allocF32(M);

type Fn = 'exp' | 'log' | 'log1p' | 'sigmoid' | 'softplus' | 'tanh' | 'sin' | 'cos';
const kernels = rt.k as unknown as Record<string, (x: number, y: number, n: number) => void>;

/** Spacing of float32 numbers at |v| (2^-149 in the subnormal range). */
function ulpF32(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -126) return 2 ** -149;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return 2 ** (e - 23);
}

/** Run `<fn>_f32` over xs; returns a copy of the outputs. */
function apply(fn: Fn, xs: Float32Array, scalar = false): Float32Array {
  rt.f32.set(xs, xp >>> 2);
  kernels[`${fn}_f32${scalar ? '_scalar' : ''}`](xp, yp, xs.length);
  return rt.f32.slice(yp >>> 2, (yp >>> 2) + xs.length);
}

interface Err { ulp: number; abs: number; at: number }

/** Max error in ulps (of the f64 reference rounded to f32) and absolute; non-finite results must match exactly. */
function measure(fn: Fn, ref: (x: number) => number, xs: Float32Array): Err {
  const ys = apply(fn, xs);
  const err: Err = { ulp: 0, abs: 0, at: NaN };
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i], y = ys[i], r = ref(x);
    if (Number.isNaN(r)) {
      if (!Number.isNaN(y)) throw new Error(`${fn}(${x}) = ${y}, expected NaN`);
      continue;
    }
    const rf = Math.fround(r);
    if (!Number.isFinite(rf) || !Number.isFinite(y)) {
      if (rf !== y) throw new Error(`${fn}(${x}) = ${y}, expected ${rf}`);
      continue;
    }
    const u = Math.abs(y - r) / ulpF32(r);
    if (u > err.ulp) { err.ulp = u; err.at = x; }
    err.abs = Math.max(err.abs, Math.abs(y - r));
  }
  return err;
}

function grid(a: number, b: number, n: number): Float32Array {
  const o = new Float32Array(n);
  for (let i = 0; i < n; i++) o[i] = a + ((b - a) * i) / (n - 1);
  return o;
}

/** Float32 values with uniformly random mantissa, sign and a biased exponent in [emin, emax] (covers subnormals with emin = 0). */
function randomBits(n: number, emin: number, emax: number, seed: number, sign = true): Float32Array {
  const o = new Float32Array(n), u = new Uint32Array(o.buffer);
  const next = lcgWords(seed);
  for (let i = 0; i < n; i++) {
    const m = next() & 0x7fffff;
    const r = next();
    const e = emin + (r % (emax - emin + 1));
    u[i] = ((sign ? r & 0x80000000 : 0) | (e << 23) | m) >>> 0;
  }
  return o;
}

const sigmoidRef = (x: number) => 1 / (1 + Math.exp(-x));
const softplusRef = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

// Bounds asserted below; the measured maxima (dense grids + random bit patterns, 2^19 each)
// were: exp 0.96, log 0.80, log1p 2.21, sigmoid 2.26, softplus 2.53, tanh 1.26, sin 1.44, cos 1.47 ulp.
const cases: { fn: Fn; ref: (x: number) => number; maxUlp: number; sets: Float32Array[] }[] = [
  { fn: 'exp', ref: Math.exp, maxUlp: 1, sets: [grid(-104, 89, M), randomBits(M, 0, 133, 1), grid(-104, -87, M)] },
  { fn: 'log', ref: Math.log, maxUlp: 1, sets: [grid(0.5, 2, M), randomBits(M, 0, 254, 2, false), grid(0, 1e-37, M)] },
  { fn: 'log1p', ref: Math.log1p, maxUlp: 2.5, sets: [grid(-1, 4, M), randomBits(M, 0, 254, 3, false), randomBits(M, 0, 126, 4).map((v) => -Math.abs(v))] },
  { fn: 'sigmoid', ref: sigmoidRef, maxUlp: 2.5, sets: [grid(-110, 30, M), randomBits(M, 0, 140, 5)] },
  { fn: 'softplus', ref: softplusRef, maxUlp: 3, sets: [grid(-110, 110, M), randomBits(M, 0, 140, 6)] },
  { fn: 'tanh', ref: Math.tanh, maxUlp: 1.5, sets: [grid(-10, 10, M), randomBits(M, 0, 140, 7)] },
  { fn: 'sin', ref: Math.sin, maxUlp: 1.5, sets: [grid(-Math.PI, Math.PI, M), randomBits(M, 0, 128, 8)] },
  { fn: 'cos', ref: Math.cos, maxUlp: 1.5, sets: [grid(-Math.PI, Math.PI, M), randomBits(M, 0, 128, 9)] },
];

describe('vmath accuracy against f64 Math.*', () => {
  for (const c of cases) {
    it(`${c.fn}: max error ≤ ${c.maxUlp} ulp`, () => {
      for (const xs of c.sets) {
        const e = measure(c.fn, c.ref, xs);
        expect(e.ulp, `${c.fn} worst at x = ${e.at}`).toBeLessThanOrEqual(c.maxUlp);
      }
    });
  }

  it('sigmoid and tanh have absolute error ≤ 2e-7 (1e-7 measured)', () => {
    expect(measure('sigmoid', sigmoidRef, grid(-20, 20, M)).abs).toBeLessThanOrEqual(1e-7);
    expect(measure('tanh', Math.tanh, grid(-20, 20, M)).abs).toBeLessThanOrEqual(1e-7);
  });

  it('sin/cos stay accurate beyond [-π, π] (|x| ≤ 6000: abs error ≤ 2e-7)', () => {
    const xs = grid(-6000, 6000, M);
    expect(measure('sin', Math.sin, xs).abs).toBeLessThanOrEqual(2e-7);
    expect(measure('cos', Math.cos, xs).abs).toBeLessThanOrEqual(2e-7);
  });
});

describe('vmath special values', () => {
  const one = (fn: Fn, x: number) => apply(fn, new Float32Array([x]))[0];
  const MAXF = 3.4028234663852886e38;
  const TINY = 2 ** -149;

  it('exp: overflow, underflow, subnormals, ±0, ±Inf, NaN', () => {
    expect(one('exp', 0)).toBe(1);
    expect(one('exp', -0)).toBe(1);
    expect(one('exp', Infinity)).toBe(Infinity);
    expect(one('exp', -Infinity)).toBe(0);
    expect(one('exp', 88.72283)).toBeLessThanOrEqual(MAXF);
    expect(one('exp', 88.7229)).toBe(Infinity);
    expect(one('exp', 1e30)).toBe(Infinity);
    expect(one('exp', -103.3)).toBe(TINY); // e^-103.3 ≈ 1.2·2^-149 rounds to the smallest subnormal
    expect(one('exp', -104)).toBe(0);
    expect(one('exp', -1e30)).toBe(0);
    expect(one('exp', -100)).toBe(Math.fround(Math.exp(-100))); // subnormal, correctly rounded here
    expect(one('exp', NaN)).toBeNaN();
  });

  it('log: 0, negatives, Inf, NaN, subnormals, 1', () => {
    expect(one('log', 0)).toBe(-Infinity);
    expect(one('log', -0)).toBe(-Infinity);
    expect(one('log', -1)).toBeNaN();
    expect(one('log', -TINY)).toBeNaN();
    expect(one('log', -Infinity)).toBeNaN();
    expect(one('log', Infinity)).toBe(Infinity);
    expect(one('log', NaN)).toBeNaN();
    expect(one('log', 1)).toBe(0);
    expect(one('log', TINY)).toBe(Math.fround(Math.log(TINY)));
    expect(one('log', MAXF)).toBe(Math.fround(Math.log(MAXF)));
  });

  it('log1p: -1, < -1, ±0, tiny, Inf', () => {
    expect(one('log1p', -1)).toBe(-Infinity);
    expect(one('log1p', -1.5)).toBeNaN();
    expect(one('log1p', -Infinity)).toBeNaN();
    expect(Object.is(one('log1p', -0), -0)).toBe(true);
    expect(Object.is(one('log1p', 0), 0)).toBe(true);
    expect(one('log1p', 1e-30)).toBe(Math.fround(1e-30));
    expect(one('log1p', TINY)).toBe(TINY);
    expect(one('log1p', Infinity)).toBe(Infinity);
    expect(one('log1p', MAXF)).toBe(Math.fround(Math.log(MAXF)));
  });

  it('sigmoid, softplus, tanh: limits and signs', () => {
    expect(one('sigmoid', 0)).toBe(0.5);
    expect(one('sigmoid', Infinity)).toBe(1);
    expect(one('sigmoid', -Infinity)).toBe(0);
    expect(one('sigmoid', 100)).toBe(1);
    expect(one('sigmoid', -100)).toBeGreaterThan(0); // 3.7e-44, subnormal, not flushed
    expect(one('sigmoid', NaN)).toBeNaN();
    expect(one('softplus', -Infinity)).toBe(0);
    expect(one('softplus', Infinity)).toBe(Infinity);
    expect(one('softplus', 0)).toBe(Math.fround(Math.LN2));
    expect(one('softplus', 100)).toBe(100);
    expect(one('softplus', 1e30)).toBe(Math.fround(1e30));
    expect(one('softplus', -100)).toBeGreaterThan(0);
    expect(one('softplus', NaN)).toBeNaN();
    expect(Object.is(one('tanh', -0), -0)).toBe(true);
    expect(Object.is(one('tanh', 0), 0)).toBe(true);
    expect(one('tanh', Infinity)).toBe(1);
    expect(one('tanh', -Infinity)).toBe(-1);
    expect(one('tanh', 30)).toBe(1);
    expect(one('tanh', -1e30)).toBe(-1);
    expect(one('tanh', NaN)).toBeNaN();
    expect(Object.is(one('sin', -0), -0)).toBe(true);
    expect(one('cos', 0)).toBe(1);
    expect(one('sin', Infinity)).toBeNaN();
  });
});

describe('vmath SIMD lanes equal the scalar twin bit for bit', () => {
  const fns: Fn[] = ['exp', 'log', 'log1p', 'sigmoid', 'softplus', 'tanh', 'sin', 'cos'];
  // Random bit patterns over all exponents (NaNs included), plus edge values.
  const edges = [0, -0, Infinity, -Infinity, NaN, 2 ** -149, -(2 ** -149), 1.17549435e-38, 88.72283, 88.7229, -103.97, -104, 1, -1, 0.625, -0.625, 3.4028234663852886e38];
  const xs = new Float32Array(200_003);
  xs.set(randomBits(xs.length, 0, 255, 11));
  xs.set(edges, 0);
  const same = (a: Float32Array, b: Float32Array) => {
    const ua = new Uint32Array(a.buffer), ub = new Uint32Array(b.buffer);
    for (let i = 0; i < a.length; i++) {
      // NaN payloads may differ between engines; NaN-ness may not.
      if (Number.isNaN(a[i]) || Number.isNaN(b[i])) { if (Number.isNaN(a[i]) !== Number.isNaN(b[i])) return i; continue; }
      if (ua[i] !== ub[i]) return i;
    }
    return -1;
  };

  for (const fn of fns) {
    it(`${fn}_f32 == ${fn}_f32_scalar, all n from 0 to 13, in place`, () => {
      expect(same(apply(fn, xs), apply(fn, xs, true))).toBe(-1);
      const k = kernels[`${fn}_f32`], ks = kernels[`${fn}_f32_scalar`];
      for (let n = 0; n <= 13; n++) {
        const part = xs.subarray(1000, 1000 + 13);
        rt.f32.set(part, xp >>> 2);
        rt.f32.fill(7, yp >>> 2, (yp >>> 2) + 16);
        rt.f32.fill(7, zp >>> 2, (zp >>> 2) + 16);
        k(xp, yp, n);
        ks(xp, zp, n);
        const a = rt.f32.slice(yp >>> 2, (yp >>> 2) + 16), b = rt.f32.slice(zp >>> 2, (zp >>> 2) + 16);
        expect(same(a, b)).toBe(-1);
        expect(Array.from(a.subarray(n))).toEqual(new Array(16 - n).fill(7)); // nothing written past n
        k(xp, xp, n); // in place
        expect(same(rt.f32.slice(xp >>> 2, (xp >>> 2) + n), a.subarray(0, n))).toBe(-1);
      }
    });
  }
});

describe('math ops', () => {
  const data = new Float32Array([-0.75, -0.5, 0, 0.25, 1, 2.5, 7]);
  const pairs: [string, (x: Tensor, o?: { out?: Tensor }) => Tensor, (x: number) => number, number][] = [
    ['exp', exp, Math.exp, 1], ['log1p', log1p, Math.log1p, 2.5], ['sigmoid', sigmoid, sigmoidRef, 2.5],
    ['softplus', softplus, softplusRef, 3], ['tanh', tanh, Math.tanh, 1.5],
  ];
  for (const [name, op, ref, tol] of pairs) {
    it(`${name}(x) matches the reference and the kernel; out and in place`, () => {
      const x = Tensor.from(data, [7], rt);
      const y = op(x);
      expect(y.shape).toEqual([7]);
      const yv = y.toArray();
      for (let i = 0; i < data.length; i++) expect(Math.abs(yv[i] - ref(data[i]))).toBeLessThanOrEqual(tol * ulpF32(ref(data[i])));
      const out = Tensor.zeros([7], rt);
      expect(op(x, { out })).toBe(out);
      expect(Array.from(out.toArray())).toEqual(Array.from(yv));
      op(x, { out: x });
      expect(Array.from(x.toArray())).toEqual(Array.from(yv));
      x.dispose(); y.dispose(); out.dispose();
    });
  }
  it('log(x) on a 2-D tensor keeps the shape', () => {
    const x = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3], rt);
    const y = log(x);
    expect(y.shape).toEqual([2, 3]);
    expect(y.toArray()[0]).toBe(0);
    x.dispose(); y.dispose();
  });
  it('rejects a mismatched out or a non-tensor with typed errors and stays usable', () => {
    const x = Tensor.from([1, 2, 3, 4], [2, 2], rt);
    expect(() => exp(x, { out: Tensor.zeros([4], rt) })).toThrow(ShapeError);
    expect(() => exp(x, { out: Tensor.zeros([2, 3], rt) })).toThrow(ShapeError);
    expect(() => exp(new Float32Array(4) as unknown as Tensor)).toThrow(ArgumentError);
    const d = Tensor.from([1], [1], rt); d.dispose();
    expect(() => exp(d)).toThrow(ArgumentError);
    expect(exp(x).toArray()[0]).toBe(Math.fround(Math.E));
  });
});
