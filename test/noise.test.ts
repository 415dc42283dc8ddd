import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ArgumentError, KernelError } from '../src/errors.js';
import { Rng, bernoulli, gaussian, seedWords, uniform } from '../src/ops/noise.js';
import { bits } from './util/kernel.js';

// Every statistical test below uses fixed seeds: the numbers are the same on every run and
// in every engine, so these tests cannot flake; their thresholds are the usual ones
// (4σ, or the critical value at α = 0.001) so that a broken generator fails them.
const rt = Runtime.createSync();
const k = rt.k;
const BIG = 1 << 20;
const a = rt.allocF32(BIG + 16);
const b = rt.allocF32(BIG + 16);

type Kind = 'bits' | 'uniform' | 'gauss' | 'bernoulli';
interface Key { lo: number; hi: number; stream: number; offset: number }

/** Run the SIMD kernel (or its scalar twin) of `kind` into `ptr`; returns the raw 32-bit words. */
function fill(kind: Kind, ptr: number, n: number, key: Key, scalar = false, p = 0.3, scale = 2.5): Uint32Array {
  const s = scalar ? '_scalar' : '';
  const { lo, hi, stream, offset } = key;
  if (kind === 'bits') (s ? k.noise_bits_u32_scalar : k.noise_bits_u32)(ptr, n, lo, hi, stream, offset);
  if (kind === 'uniform') (s ? k.noise_uniform_f32_scalar : k.noise_uniform_f32)(ptr, n, lo, hi, stream, offset);
  if (kind === 'gauss') (s ? k.noise_gauss_f32_scalar : k.noise_gauss_f32)(ptr, n, lo, hi, stream, offset);
  if (kind === 'bernoulli') (s ? k.noise_bernoulli_f32_scalar : k.noise_bernoulli_f32)(ptr, n, p, scale, lo, hi, stream, offset);
  return rt.i32.slice(ptr >>> 2, (ptr >>> 2) + n) as unknown as Uint32Array;
}
const floats = (w: Uint32Array) => new Float32Array(w.buffer, w.byteOffset, w.length);
const KINDS: Kind[] = ['bits', 'uniform', 'gauss', 'bernoulli'];
const K0: Key = { lo: 0x9e3779b9, hi: 0x7f4a7c15, stream: 3, offset: 0 };

describe('Threefry-2x32-20 known answers', () => {
  // Random123 (D. E. Shaw Research) tests/kat_vectors, "threefry2x32 20" lines, as also
  // checked by JAX's tests/random_test.py (testThreefry2x32): (counter, key) -> output words.
  const KAT: [number, number, number, number, number, number][] = [
    [0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x6b200159, 0x99ba4efe],
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x1cb996fc, 0xbb002be7],
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xc4923a9c, 0x483df7a0],
  ];

  it('scalar core reproduces the Random123 vectors', () => {
    for (const [c0, c1, k0, k1, w0, w1] of KAT) {
      k.threefry2x32_20(c0, c1, k0, k1, a);
      expect(bits(rt.i32.subarray(a >>> 2, (a >>> 2) + 2))).toEqual([w0, w1]);
    }
  });

  it('SIMD core reproduces them in every lane', () => {
    for (const [c0, c1, k0, k1, w0, w1] of KAT) {
      for (let lane = 0; lane < 4; lane++) {
        // the KAT counter in one lane, neighbouring counters in the others
        const ctr = new Uint32Array(8);
        for (let j = 0; j < 4; j++) { ctr[j] = (c0 + j - lane) >>> 0; ctr[4 + j] = (c1 ^ (j === lane ? 0 : 0x55)) >>> 0; }
        rt.i32.set(new Int32Array(ctr.buffer), a >>> 2);
        k.threefry2x32_20_x4(a, k0, k1, b);
        const out = bits(rt.i32.subarray(b >>> 2, (b >>> 2) + 8));
        expect([out[lane], out[4 + lane]]).toEqual([w0, w1]);
        for (let j = 0; j < 4; j++) {
          k.threefry2x32_20(ctr[j], ctr[4 + j], k0, k1, a + 64);
          expect([out[j], out[4 + j]]).toEqual(bits(rt.i32.subarray((a + 64) >>> 2, ((a + 64) >>> 2) + 2)));
        }
      }
    }
  });

  it('the bit stream of seed 0, stream 0 is Threefry of counters (0,0), (1,0), ... (Boost.Compute threefry_engine test values)', () => {
    // boost/compute test/test_threefry_engine.cpp, generate_uint: key 0, counters 0, 1, 2, ...
    const expected = [0x6b200159, 0x99ba4efe, 0x508efb2c, 0xc0de3f32, 0x64a626ec, 0xfc15e573, 0xb8abc4d1, 0x0537eb86,
      0xac6dc2bb, 0xa7adb3c3, 0x5641e094, 0x0e4ab4fd, 0xa53c1ce9, 0xabcf1dba, 0x2677a25a];
    const key = { lo: 0, hi: 0, stream: 0, offset: 0 };
    expect(bits(fill('bits', a, 15, key))).toEqual(expected);
    expect(bits(fill('bits', a, 15, key, true))).toEqual(expected);
    // position 5 of the stream alone
    expect(bits(fill('bits', a, 1, { ...key, offset: 5 }))).toEqual([expected[5]]);
  });
});

describe('SIMD kernels equal their scalar twins bit for bit', () => {
  const keys: Key[] = [
    K0,
    { lo: 0, hi: 0, stream: 0, offset: 1 },
    { lo: 0xffffffff, hi: 0xffffffff, stream: 0xffffffff, offset: 0xffffffff },
    { lo: 1, hi: 2, stream: 7, offset: 0xfffffff6 },
    { lo: 12345, hi: 0, stream: 1, offset: 3 },
  ];
  for (const kind of KINDS) {
    it(`${kind}: n = 0..40 and 10007, even and odd offsets, near 2^32`, () => {
      for (const key of keys) {
        for (let n = 0; n <= 40; n++) {
          rt.i32.fill(-7, a >>> 2, (a >>> 2) + 48);
          rt.i32.fill(-7, b >>> 2, (b >>> 2) + 48);
          expect(bits(fill(kind, a, n, key))).toEqual(bits(fill(kind, b, n, key, true)));
          expect(rt.i32[(a >>> 2) + n]).toBe(-7); // nothing written past n
        }
        expect(bits(fill(kind, a, 10007, key))).toEqual(bits(fill(kind, b, 10007, key, true)));
      }
    });
  }
});

describe('position determinism', () => {
  for (const kind of KINDS) {
    it(`${kind}: any sub-range filled with its offset equals the same elements of a long fill`, () => {
      const base = { ...K0, offset: 1000 };
      const whole = fill(kind, a, 4000, base);
      for (const [start, len] of [[0, 1], [1, 1], [1, 9], [2, 17], [5, 8], [333, 1001], [3999, 1], [1234, 2766]]) {
        const part = fill(kind, b, len, { ...base, offset: base.offset + start });
        expect(bits(part)).toEqual(bits(whole.subarray(start, start + len)));
      }
    });
  }

  it('different seeds, seed halves and streams give different numbers', () => {
    const n = 10000;
    const ref = fill('bits', a, n, K0);
    for (const key of [{ ...K0, lo: K0.lo + 1 }, { ...K0, hi: K0.hi ^ 1 }, { ...K0, stream: K0.stream + 1 }, { ...K0, lo: K0.hi, hi: K0.lo }]) {
      const other = fill('bits', b, n, key);
      let same = 0;
      for (let i = 0; i < n; i++) if (other[i] === ref[i]) same++;
      expect(same).toBeLessThanOrEqual(1); // expected 10000 / 2^32
    }
  });
});

function moments(x: Float32Array) {
  let m = 0;
  for (let i = 0; i < x.length; i++) m += x[i];
  m /= x.length;
  let m2 = 0, m3 = 0, m4 = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - m, d2 = d * d;
    m2 += d2; m3 += d2 * d; m4 += d2 * d2;
  }
  m2 /= x.length; m3 /= x.length; m4 /= x.length;
  return { mean: m, variance: m2, skewness: m3 / m2 ** 1.5, exKurtosis: m4 / (m2 * m2) - 3 };
}

/** Kolmogorov–Smirnov statistic of `x` against the continuous CDF `cdf`. */
function ks(x: Float32Array, cdf: (v: number) => number): number {
  const s = Float64Array.from(x).sort();
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return d;
}
// KS critical value at α = 0.001 for large n: sqrt(-ln(α/2)/2)/sqrt(n) = 1.9495/sqrt(n).
const ksCritical = (n: number) => Math.sqrt(-Math.log(0.0005) / 2) / Math.sqrt(n);

/** erf in f64 by its Maclaurin series (|x| ≤ 4.5 here; error < 1e-9), 1 beyond. */
function erf(x: number): number {
  if (Math.abs(x) > 4.5) return Math.sign(x);
  let term = x, sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const Phi = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));

describe('uniform', () => {
  const n = BIG;
  const x = floats(fill('uniform', a, n, K0));

  it('lies in [0, 1) on the 2^-24 lattice', () => {
    let lo = 1, hi = 0, offLattice = 0;
    for (let i = 0; i < n; i++) {
      lo = Math.min(lo, x[i]); hi = Math.max(hi, x[i]);
      if (!Number.isInteger(x[i] * 2 ** 24)) offLattice++;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(offLattice).toBe(0);
  });

  it('has mean 1/2 and variance 1/12 (within 4σ)', () => {
    const m = moments(x);
    expect(Math.abs(m.mean - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    // Var of the sample variance of U(0,1): (1/80 - 1/144)/n
    expect(Math.abs(m.variance - 1 / 12)).toBeLessThan(4 * Math.sqrt((1 / 80 - 1 / 144) / n));
  });

  it('passes chi-square over 100 bins (critical 148.23 at α = 0.001, 99 dof)', () => {
    const bins = new Float64Array(100);
    for (let i = 0; i < n; i++) bins[Math.floor(x[i] * 100)]++;
    const e = n / 100;
    let chi2 = 0;
    for (const o of bins) chi2 += ((o - e) * (o - e)) / e;
    expect(chi2).toBeLessThan(148.23);
  });

  it('passes Kolmogorov–Smirnov against U(0, 1) at α = 0.001', () => {
    expect(ks(x, (v) => v)).toBeLessThan(ksCritical(n));
  });

  it('consecutive values are uncorrelated (lag-1 and lag-2, within 4σ)', () => {
    for (const lag of [1, 2]) {
      let c = 0;
      for (let i = 0; i + lag < n; i++) c += (x[i] - 0.5) * (x[i + lag] - 0.5);
      expect(Math.abs((c / (n - lag)) * 12)).toBeLessThan(4 / Math.sqrt(n));
    }
  });
});

describe('gaussian', () => {
  const n = BIG;
  const z = floats(fill('gauss', a, n, { ...K0, stream: 11 }));

  it('has mean 0, variance 1, skewness 0, excess kurtosis 0 (within 4σ)', () => {
    const m = moments(z);
    expect(Math.abs(m.mean)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(m.variance - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    expect(Math.abs(m.skewness)).toBeLessThan(4 * Math.sqrt(6 / n));
    expect(Math.abs(m.exKurtosis)).toBeLessThan(4 * Math.sqrt(24 / n));
  });

  it('passes Kolmogorov–Smirnov against Φ at α = 0.001', () => {
    expect(ks(z, Phi)).toBeLessThan(ksCritical(n));
  });

  it('has normal tails: P(|z| > 3) within 4σ, |z| ≤ 5.77, all finite', () => {
    let tail = 0, max = 0, nonFinite = 0;
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(z[i])) nonFinite++;
      const v = Math.abs(z[i]);
      if (v > 3) tail++;
      max = Math.max(max, v);
    }
    const p = 2 * (1 - Phi(3));
    expect(Math.abs(tail - n * p)).toBeLessThan(4 * Math.sqrt(n * p * (1 - p)));
    expect(nonFinite).toBe(0);
    expect(max).toBeLessThanOrEqual(5.78);
    expect(max).toBeGreaterThan(4);
  });

  it('the two members of a Box–Muller pair are uncorrelated', () => {
    let c = 0;
    for (let i = 0; i + 1 < n; i += 2) c += z[i] * z[i + 1];
    expect(Math.abs(c / (n / 2))).toBeLessThan(4 / Math.sqrt(n / 2));
  });
});

describe('bernoulli', () => {
  it('takes exactly the values {0, scale} with frequency p (within 4σ)', () => {
    const n = BIG;
    for (const [p, scale] of [[0.3, 2.5], [0.9, 1 / 0.9], [0.01, 1]]) {
      const x = floats(fill('bernoulli', a, n, K0, false, p, scale));
      let ones = 0, other = 0;
      for (let i = 0; i < n; i++) {
        if (x[i] === Math.fround(scale)) ones++;
        else if (!Object.is(x[i], 0)) other++;
      }
      expect(other).toBe(0);
      expect(Math.abs(ones - n * p)).toBeLessThan(4 * Math.sqrt(n * p * (1 - p)));
    }
  });

  it('is the uniform stream thresholded at p; p = 0 gives no successes, p = 1 only successes', () => {
    const n = 5003;
    const u = floats(fill('uniform', a, n, K0));
    const m = floats(fill('bernoulli', b, n, K0, false, 0.37, 3));
    for (let i = 0; i < n; i++) expect(m[i]).toBe(u[i] < Math.fround(0.37) ? 3 : 0);
    expect(Array.from(floats(fill('bernoulli', a, 99, K0, false, 0, 3))).every((v) => Object.is(v, 0))).toBe(true);
    expect(Array.from(floats(fill('bernoulli', a, 99, K0, false, 1, 3))).every((v) => v === 3)).toBe(true);
  });
});

describe('noise ops', () => {
  it('uniform/gaussian/bernoulli fill a tensor like the kernels, with seed words, stream and offset', () => {
    const t = Tensor.zeros([3, 7], rt);
    const seed = 123456789012345; // above 2^32: both words used
    const [lo, hi] = seedWords(seed);
    expect(lo + hi * 2 ** 32).toBe(seed);
    expect(uniform(t, seed, { stream: 3, offset: 5 })).toBe(t);
    expect(bits(new Uint32Array(t.toArray().buffer))).toEqual(bits(fill('uniform', a, 21, { lo, hi, stream: 3, offset: 5 })));
    gaussian(t, BigInt(seed), { stream: 4 });
    expect(bits(new Uint32Array(t.toArray().buffer))).toEqual(bits(fill('gauss', a, 21, { lo, hi, stream: 4, offset: 0 })));
    bernoulli(t, 0.5, seed, { scale: 2 });
    expect(bits(new Uint32Array(t.toArray().buffer))).toEqual(bits(fill('bernoulli', a, 21, { lo, hi, stream: 0, offset: 0 }, false, 0.5, 2)));
    t.dispose();
  });

  it('accepts bigint seeds up to 2^64 - 1 and splits them into words', () => {
    expect(seedWords(0xffffffffffffffffn)).toEqual([0xffffffff, 0xffffffff]);
    expect(seedWords(0x123456789abcdef0n)).toEqual([0x9abcdef0, 0x12345678]);
    expect(seedWords(2 ** 53 - 1)).toEqual([0xffffffff, 0x1fffff]);
    const t = Tensor.zeros([9], rt);
    uniform(t, 0xffffffffffffffffn, { stream: 0xffffffff, offset: 0xffffffff });
    expect(bits(new Uint32Array(t.toArray().buffer))).toEqual(bits(fill('uniform', a, 9, { lo: 0xffffffff, hi: 0xffffffff, stream: 0xffffffff, offset: 0xffffffff })));
    t.dispose();
  });

  it('rejects bad arguments with ArgumentError, writes nothing, and stays usable', () => {
    const t = Tensor.from([1, 2, 3], [3], rt);
    const bad: [() => unknown, string][] = [
      [() => uniform(t, -1), 'seed'], [() => uniform(t, 1.5), 'seed'], [() => uniform(t, 2 ** 53), 'seed'],
      [() => uniform(t, NaN), 'seed'], [() => uniform(t, '5' as unknown as number), 'seed'],
      [() => gaussian(t, -1n), 'seed'], [() => gaussian(t, 1n << 64n), 'seed'],
      [() => uniform(t, 1, { stream: -1 }), 'opts.stream'], [() => uniform(t, 1, { stream: 2 ** 32 }), 'opts.stream'],
      [() => gaussian(t, 1, { offset: 0.5 }), 'opts.offset'], [() => gaussian(t, 1, { offset: 2 ** 32 }), 'opts.offset'],
      [() => bernoulli(t, -0.1, 1), 'p'], [() => bernoulli(t, 1.01, 1), 'p'], [() => bernoulli(t, NaN, 1), 'p'],
      [() => bernoulli(t, 0.5, 1, { scale: Infinity }), 'opts.scale'],
      [() => uniform(new Float32Array(3) as unknown as Tensor, 1), 'out'],
    ];
    for (const [f, arg] of bad) {
      let err: unknown;
      try { f(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(ArgumentError);
      expect((err as ArgumentError).argument).toBe(arg);
    }
    expect(Array.from(t.toArray())).toEqual([1, 2, 3]);
    expect(() => k.noise_bernoulli_f32(a, 4, 1.5, 1, 0, 0, 0, 0)).toThrow(KernelError);
    expect(() => k.noise_uniform_f32(a, -1, 0, 0, 0, 0)).toThrow(KernelError);
    uniform(t, 42);
    expect(t.toArray().every((v) => v >= 0 && v < 1)).toBe(true);
    t.dispose();
  });
});

describe('Rng', () => {
  it('draws the wasm bit stream of its (seed, stream) in order', () => {
    const r = new Rng(77n, 9, rt);
    const got = Array.from({ length: 600 }, () => r.u32());
    expect(got).toEqual(bits(fill('bits', a, 600, { lo: 77, hi: 0, stream: 9, offset: 0 })));
  });

  it('is deterministic; forks and other seeds differ', () => {
    const seq = (r: Rng) => Array.from({ length: 50 }, () => r.uniform());
    expect(seq(new Rng(5, 0, rt))).toEqual(seq(new Rng(5, 0, rt)));
    expect(seq(new Rng(5, 0, rt))).not.toEqual(seq(new Rng(6, 0, rt)));
    const r = new Rng(5, 0, rt);
    const f = r.fork(1);
    expect(f.stream).toBe(1);
    expect(seq(f)).toEqual(seq(new Rng(5, 1, rt)));
    expect(seq(f)).not.toEqual(seq(r));
  });

  it('uniform() lies in [0, 1) with mean 1/2; int(n) is unbiased (chi-square, 9 dof, critical 27.88 at α = 0.001)', () => {
    const r = new Rng(2024, 0, rt);
    let s = 0, outside = 0;
    const N = 100_000;
    for (let i = 0; i < N; i++) {
      const u = r.uniform();
      if (!(u >= 0 && u < 1)) outside++;
      s += u;
    }
    expect(outside).toBe(0);
    expect(Math.abs(s / N - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / N));
    const counts = new Array(10).fill(0);
    for (let i = 0; i < N; i++) counts[r.int(10)]++;
    const chi2 = counts.reduce((acc, o) => acc + ((o - N / 10) ** 2) / (N / 10), 0);
    expect(chi2).toBeLessThan(27.88);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(r.int(3));
    expect([...seen].sort()).toEqual([0, 1, 2]);
    expect(r.int(1)).toBe(0);
    expect(r.int(2 ** 32)).toBeLessThan(2 ** 32);
    expect(() => r.int(0)).toThrow(ArgumentError);
    expect(() => r.int(2.5)).toThrow(ArgumentError);
  });

  it('shuffle() is a deterministic permutation, each position uniformly placed', () => {
    const a1 = new Int32Array(100).map((_, i) => i);
    const p1 = new Rng(3, 0, rt).shuffle(a1.slice());
    expect(Array.from(p1)).toEqual(Array.from(new Rng(3, 0, rt).shuffle(a1.slice())));
    expect(Array.from(p1).sort((x, y) => x - y)).toEqual(Array.from(a1));
    expect(Array.from(p1)).not.toEqual(Array.from(a1));
    // where does element 0 land over many shuffles of 4? each slot with p = 1/4
    const r = new Rng(4, 0, rt);
    const where = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) where[Array.from(r.shuffle(new Int32Array([0, 1, 2, 3]))).indexOf(0)]++;
    for (const c of where) expect(Math.abs(c - 5000)).toBeLessThan(4 * Math.sqrt(20000 * 0.25 * 0.75));
    expect(() => r.shuffle('abc' as unknown as number[])).toThrow(ArgumentError);
  });

  it('rejects bad seeds and streams', () => {
    expect(() => new Rng(-3, 0, rt)).toThrow(ArgumentError);
    expect(() => new Rng(1, -1, rt)).toThrow(ArgumentError);
    expect(() => new Rng(1, 2 ** 32, rt)).toThrow(ArgumentError);
  });
});
