import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { matmul } from '../src/ops/gemm.js';
import { ArgumentError, KernelError, ShapeError } from '../src/errors.js';

type Layout = 'nn' | 'nt' | 'tn';
const LAYOUTS: Layout[] = ['nn', 'nt', 'tn'];

/** Deterministic generator (LCG) so failures reproduce. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Values on the grid k/8, |v| <= 1: every product is a multiple of 1/64 and every partial sum
 * stays far below 2^24/64, so f32 sums are exact in any order. Any blocking, packing or
 * summation order must then reproduce the f64 reference exactly, so an index slip shows.
 */
function gridValues(n: number, rnd: () => number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.floor(rnd() * 17 - 8) / 8;
  return v;
}

function floatValues(n: number, rnd: () => number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rnd() * 2 - 1;
  return v;
}

interface Case {
  layout: Layout;
  m: number;
  n: number;
  k: number;
  /** Extra elements per row beyond the row length (leading dimension padding). */
  padA?: number;
  padB?: number;
  padC?: number;
  bias?: boolean;
  acc?: boolean;
  grid?: boolean;
}

const SENTINEL = 1234.5;

/**
 * Run one case through the SIMD kernel and its scalar twin on identical inputs and compare
 * both with an f64 reference. A/B padding holds NaN (reading it would poison the result),
 * C padding and the guard rows after C hold a sentinel that must survive.
 */
function runCase(rt: Runtime, c: Case, seed: number): void {
  const { layout, m, n, k, padA = 0, padB = 0, padC = 0, bias = false, acc = false, grid = true } = c;
  const rnd = lcg(seed);
  const gen = grid ? gridValues : floatValues;
  // Stored shapes: A is [m, k] (tn: [k, m]); B is [k, n] (nt: [n, k]).
  const [aRows, aCols] = layout === 'tn' ? [k, m] : [m, k];
  const [bRows, bCols] = layout === 'nt' ? [n, k] : [k, n];
  const lda = aCols + padA, ldb = bCols + padB, ldc = n + padC;
  const A = new Float32Array(aRows * lda).fill(NaN), B = new Float32Array(bRows * ldb).fill(NaN);
  const av = gen(aRows * aCols, rnd), bv = gen(bRows * bCols, rnd);
  for (let r = 0; r < aRows; r++) A.set(av.subarray(r * aCols, (r + 1) * aCols), r * lda);
  for (let r = 0; r < bRows; r++) B.set(bv.subarray(r * bCols, (r + 1) * bCols), r * ldb);
  const biasV = gen(n, rnd);
  const guard = 8;
  const C0 = new Float32Array(m * ldc + guard).fill(SENTINEL);
  const c0v = gen(m * n, rnd);
  for (let i = 0; i < m; i++) C0.set(c0v.subarray(i * n, (i + 1) * n), i * ldc);

  // f64 reference and the magnitude each output's rounding error scales with.
  const ref = new Float64Array(m * n), mag = new Float64Array(m * n);
  const aAt = (i: number, p: number) => (layout === 'tn' ? A[p * lda + i] : A[i * lda + p]);
  const bAt = (p: number, j: number) => (layout === 'nt' ? B[j * ldb + p] : B[p * ldb + j]);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0, sa = 0;
      for (let p = 0; p < k; p++) {
        const t = aAt(i, p) * bAt(p, j);
        s += t;
        sa += Math.abs(t);
      }
      let prior = acc ? C0[i * ldc + j] : 0;
      if (bias) prior += biasV[j];
      ref[i * n + j] = prior + s;
      mag[i * n + j] = Math.abs(prior) + sa;
    }
  }

  const pA = rt.allocF32(A.length || 1), pB = rt.allocF32(B.length || 1), pBias = rt.allocF32(n || 1);
  const pC = rt.allocF32(C0.length), pC2 = rt.allocF32(C0.length);
  rt.f32.set(A, pA >>> 2);
  rt.f32.set(B, pB >>> 2);
  rt.f32.set(biasV, pBias >>> 2);
  rt.f32.set(C0, pC >>> 2);
  rt.f32.set(C0, pC2 >>> 2);
  const simd = rt.k[`gemm_f32_${layout}`], scalar = rt.k[`gemm_f32_${layout}_scalar`];
  simd(m, n, k, pA, lda, pB, ldb, pC, ldc, bias ? pBias : 0, acc ? 1 : 0);
  scalar(m, n, k, pA, lda, pB, ldb, pC2, ldc, bias ? pBias : 0, acc ? 1 : 0);
  const got = rt.f32.slice(pC >>> 2, (pC >>> 2) + C0.length);
  const twin = rt.f32.slice(pC2 >>> 2, (pC2 >>> 2) + C0.length);
  const aAfter = rt.f32.slice(pA >>> 2, (pA >>> 2) + A.length);
  const bAfter = rt.f32.slice(pB >>> 2, (pB >>> 2) + B.length);
  for (const p of [pA, pB, pBias, pC, pC2]) rt.free(p);

  const label = JSON.stringify(c);
  let bad = '';
  for (let i = 0; i < m && !bad; i++) {
    for (let j = 0; j < ldc && !bad; j++) {
      const x = got[i * ldc + j], y = twin[i * ldc + j];
      if (j >= n) {
        if (x !== SENTINEL || y !== SENTINEL) bad = `padding C[${i}, ${j}] touched: ${x} / ${y}`;
        continue;
      }
      const r = ref[i * n + j];
      // Exact on the grid; otherwise a bound a little above f32 round-off of a k-term sum.
      const tol = grid ? 0 : 2e-6 * mag[i * n + j] + 1e-7;
      if (!(Math.abs(x - r) <= tol)) bad = `simd C[${i}, ${j}] = ${x}, reference ${r}`;
      else if (!(Math.abs(y - r) <= tol)) bad = `scalar C[${i}, ${j}] = ${y}, reference ${r}`;
      else if (!(Math.abs(x - y) <= tol)) bad = `simd ${x} vs scalar ${y} at C[${i}, ${j}]`;
    }
  }
  for (let g = m * ldc; g < C0.length && !bad; g++) if (got[g] !== SENTINEL) bad = `wrote past C at +${g - m * ldc}`;
  // Inputs are read-only (NaN padding compared via Object.is).
  for (let q = 0; q < A.length && !bad; q++) if (!Object.is(aAfter[q], A[q])) bad = `A changed at ${q}`;
  for (let q = 0; q < B.length && !bad; q++) if (!Object.is(bAfter[q], B[q])) bad = `B changed at ${q}`;
  expect(bad, label).toBe('');
}

describe('gemm kernels (SIMD vs scalar twin vs f64 reference)', () => {
  const rt = Runtime.createSync();

  it('small shapes around the 4x8 tile and the SIMD width, every layout', () => {
    const dims = [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17];
    let seed = 1;
    for (const layout of LAYOUTS) {
      for (const m of dims) {
        for (const n of dims) {
          for (const k of [1, 3, 4, 5, 8, 9]) {
            seed++;
            runCase(rt, { layout, m, n, k, bias: seed % 2 === 0, acc: seed % 3 === 0 }, seed);
          }
        }
      }
    }
  });

  it('bias and accumulate in all four combinations, with and without padded leading dimensions', () => {
    let seed = 100;
    for (const layout of LAYOUTS) {
      for (const [m, n, k] of [[1, 21, 10], [6, 19, 11], [9, 8, 4], [33, 45, 70], [1, 1, 1]] as const) {
        for (const bias of [false, true]) {
          for (const acc of [false, true]) {
            for (const pad of [0, 3]) {
              runCase(rt, { layout, m, n, k, bias, acc, padA: pad, padB: pad + 1, padC: pad ? pad + 2 : 0 }, seed++);
            }
          }
        }
      }
    }
  });

  it('shapes at and across the k, m and n blocks (KC 256, MC 128, NC 512)', () => {
    const cases: [number, number, number][] = [
      [5, 9, 255], [5, 9, 256], [6, 10, 257], [3, 17, 513], [2, 8, 784], // k blocks, uneven splits
      [127, 9, 5], [128, 8, 3], [129, 12, 7], [257, 5, 6], // m blocks
      [3, 511, 4], [4, 512, 5], [5, 513, 3], [2, 1030, 2], // n blocks
      [1, 1030, 6], [1, 2100, 5], // m = 1 path: 1024-column chunks
      [130, 520, 260], // all three at once
    ];
    let seed = 500;
    for (const layout of LAYOUTS) {
      for (const [m, n, k] of cases) {
        runCase(rt, { layout, m, n, k, bias: seed % 2 === 0, acc: seed % 3 !== 0, padA: seed % 5, padC: seed % 4 }, seed);
        seed++;
      }
    }
  });

  it('n-tail micro-kernels: n % 8 = 1..7 (16x2, 8x4 and padded 4x8 tiles) over partial row groups', () => {
    // t = 1, 2 go to the 16-row column kernel, t = 3, 4 to the 8x4 kernel, t = 5..7 to the 4x8
    // kernel; m values cut the 16- and 8-row groups short. k = 300 spans two k-blocks (the
    // tail kernels then start from C).
    let seed = 700;
    for (const layout of LAYOUTS) {
      for (let t = 1; t <= 7; t++) {
        for (const m of [2, 5, 8, 12, 16, 17, 30, 45]) {
          for (const k of [6, 300]) {
            runCase(rt, { layout, m, n: 16 + t, k, bias: seed % 2 === 0, acc: seed % 3 === 0, padA: seed % 3, padB: 1, padC: seed % 4 }, seed);
            seed++;
          }
        }
      }
    }
  });

  it('MLP shapes with real-valued data stay within f32 round-off', () => {
    let seed = 900;
    for (const layout of LAYOUTS) {
      for (const [m, n, k] of [[16, 300, 784], [1, 300, 784], [16, 100, 300], [15, 10, 100]] as const) {
        runCase(rt, { layout, m, n, k, bias: true, acc: seed % 2 === 0, grid: false }, seed++);
      }
    }
  });

  it('degenerate sizes: m or n zero writes nothing; k zero gives prior + bias', () => {
    let seed = 1000;
    for (const layout of LAYOUTS) {
      for (const [m, n, k] of [[0, 5, 3], [4, 0, 3], [3, 5, 0], [1, 9, 0]] as const) {
        for (const acc of [false, true]) runCase(rt, { layout, m, n, k, bias: true, acc, padC: 2 }, seed++);
      }
    }
  });

  it('is deterministic: the same call twice gives the same bits', () => {
    const m = 37, n = 53, k = 600;
    const rnd = lcg(7);
    const pA = rt.allocF32(m * k), pB = rt.allocF32(k * n), pC = rt.allocF32(m * n);
    rt.f32.set(floatValues(m * k, rnd), pA >>> 2);
    rt.f32.set(floatValues(k * n, rnd), pB >>> 2);
    rt.k.gemm_f32_nn(m, n, k, pA, k, pB, n, pC, n, 0, 0);
    const first = rt.f32.slice(pC >>> 2, (pC >>> 2) + m * n);
    rt.k.gemm_f32_nn(m, n, k, pA, k, pB, n, pC, n, 0, 0);
    expect(rt.f32.slice(pC >>> 2, (pC >>> 2) + m * n)).toEqual(first);
    for (const p of [pA, pB, pC]) rt.free(p);
  });

  it('rejects leading dimensions shorter than a row with KernelError and stays usable', () => {
    const p = rt.allocF32(64);
    expect(() => rt.k.gemm_f32_nn(2, 3, 4, p, 3, p, 3, p, 3, 0, 0)).toThrow(KernelError); // lda < k
    expect(() => rt.k.gemm_f32_nt(2, 3, 4, p, 4, p, 3, p, 3, 0, 0)).toThrow(KernelError); // ldb < k
    expect(() => rt.k.gemm_f32_tn(2, 3, 4, p, 1, p, 3, p, 3, 0, 0)).toThrow(KernelError); // lda < m
    expect(() => rt.k.gemm_f32_nn(2, 3, 4, p, 4, p, 3, p, 2, 0, 0)).toThrow(KernelError); // ldc < n
    expect(() => rt.k.gemm_f32_nn(-1, 3, 4, p, 4, p, 3, p, 3, 0, 0)).toThrow(KernelError);
    rt.free(p);
    runCase(rt, { layout: 'nn', m: 5, n: 9, k: 6, bias: true }, 3);
  });
});

describe('matmul op', () => {
  const rt = Runtime.createSync();
  const rnd = lcg(42);
  const T = (shape: number[]) => Tensor.from(gridValues(shape.reduce((x, y) => x * y, 1), rnd), shape, rt);

  function refProduct(a: Float32Array, b: Float32Array, m: number, n: number, k: number, tA: boolean, tB: boolean): Float64Array {
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += (tA ? a[p * m + i] : a[i * k + p]) * (tB ? b[j * k + p] : b[p * n + j]);
        out[i * n + j] = s;
      }
    }
    return out;
  }

  it('computes every layout, with bias and accumulation', () => {
    const m = 6, n = 11, k = 9;
    for (const [tA, tB] of [[false, false], [true, false], [false, true]] as const) {
      const a = T(tA ? [k, m] : [m, k]), b = T(tB ? [n, k] : [k, n]), bias = T([n]);
      const ref = refProduct(a.toArray(), b.toArray(), m, n, k, tA, tB);
      const c = matmul(a, b, { transA: tA, transB: tB });
      expect(c.shape).toEqual([m, n]);
      expect(Array.from(c.toArray())).toEqual(Array.from(ref));
      const bv = bias.toArray();
      matmul(a, b, { transA: tA, transB: tB, bias, out: c, accumulate: true });
      expect(Array.from(c.toArray())).toEqual(Array.from(ref, (v, q) => v + (v + bv[q % n])));
      for (const t of [a, b, bias, c]) t.dispose();
    }
  });

  it('throws typed errors on bad arguments, leaves out untouched and stays usable', () => {
    const a = T([4, 5]), b = T([5, 3]), out = T([4, 3]);
    const before = out.toArray();
    expect(() => matmul(T([4, 5, 1]), b)).toThrow(ShapeError); // rank
    expect(() => matmul(a, T([5]))).toThrow(ShapeError);
    expect(() => matmul(a, T([4, 3]))).toThrow(ShapeError); // inner dimension
    expect(() => matmul(a, b, { transA: true })).toThrow(ShapeError);
    expect(() => matmul(a, b, { transB: true })).toThrow(ShapeError);
    expect(() => matmul(a, T([4, 5]), { transA: true, transB: true })).toThrow(ShapeError); // both
    expect(() => matmul(a, b, { bias: T([4]) })).toThrow(ShapeError); // bias size
    expect(() => matmul(a, b, { bias: T([1, 3]) })).toThrow(ShapeError); // bias rank
    expect(() => matmul(a, b, { out: T([3, 4]), bias: T([3]) })).toThrow(ShapeError); // out shape
    expect(() => matmul(a, b, { out: T([12]) })).toThrow(ShapeError);
    expect(() => matmul(a, b, { accumulate: true })).toThrow(ShapeError); // accumulate without out
    const sq = T([4, 4]);
    expect(() => matmul(sq, sq, { out: sq })).toThrow(ArgumentError); // out aliases an input
    const other = Runtime.createSync();
    expect(() => matmul(a, Tensor.from(b.toArray(), [5, 3], other))).toThrow(ArgumentError);
    const dead = T([5, 3]);
    dead.dispose();
    expect(() => matmul(a, dead)).toThrow(ArgumentError);
    expect(Array.from(out.toArray())).toEqual(Array.from(before));
    const c = matmul(a, b, { out });
    expect(Array.from(c.toArray())).toEqual(Array.from(refProduct(a.toArray(), b.toArray(), 4, 3, 5, false, false)));
  });
});

describe('gemv_f32_skip_zeros (one sample, rows of zero inputs skipped): SIMD = scalar twin = gemm_f32_nn bits, close to f64', () => {
  const rt = Runtime.createSync();
  const K = rt.k as unknown as Record<string, (...a: number[]) => void>;
  // n: below, at and past a SIMD vector and the 8-wide pass, LeNet's 68 / 50 / 10, past a
  // 1024-column chunk; k: below and past a 4-row pass, around the 16 inputs of one zero test,
  // past a 1024-row chunk of live indices.
  const cases: [number, number, number][] = [];
  for (const [n, k] of [[1, 1], [3, 5], [4, 4], [7, 3], [8, 9], [6, 15], [5, 16], [6, 17], [9, 33], [3, 48], [17, 8], [68, 784], [50, 68], [10, 50], [1030, 6], [5, 2100]]) {
    for (const zeros of [0, 0.5, 1]) cases.push([n, k, zeros]);
  }
  it.each(cases)('n=%i k=%i zeros=%f', (n, k, zeros) => {
    const rnd = lcg(n * 7919 + k * 31 + zeros * 10);
    const ldb = n + 3; // padded rows: the padding holds NaN, which must never be read
    const x = floatValues(k, rnd);
    for (let p = 0; p < k; p++) if (rnd() < zeros || (p >> 2) % 5 === 1) x[p] = rnd() < 0.3 ? -0 : 0;
    const b = floatValues(k * ldb, rnd);
    for (let p = 0; p < k; p++) b.fill(NaN, p * ldb + n, (p + 1) * ldb);
    const bias = floatValues(n, rnd);
    const tx = Tensor.from(x, [1, k], rt), tb = Tensor.zeros([k, ldb], rt), tbias = Tensor.from(bias, [n], rt);
    rt.f32.set(b, tb.ptr >>> 2);
    for (const withBias of [true, false]) {
      const out = (f: string) => {
        const y = Tensor.from(new Float32Array(n).fill(SENTINEL), [1, n], rt);
        K[f](...(f === 'gemm_f32_nn' ? [1, n, k, tx.ptr, k, tb.ptr, ldb, y.ptr, n, withBias ? tbias.ptr : 0, 0] : [n, k, tx.ptr, tb.ptr, ldb, withBias ? tbias.ptr : 0, y.ptr]));
        const v = y.toArray();
        y.dispose();
        return v;
      };
      const simd = out('gemv_f32_skip_zeros');
      expect(Array.from(new Uint32Array(simd.buffer))).toEqual(Array.from(new Uint32Array(out('gemv_f32_skip_zeros_scalar').buffer)));
      // gemm_f32_nn reads every row, NaN padding excluded: the same bits (b finite).
      expect(Array.from(new Uint32Array(simd.buffer))).toEqual(Array.from(new Uint32Array(out('gemm_f32_nn').buffer)));
      for (let j = 0; j < n; j++) {
        let s = withBias ? bias[j] : 0;
        for (let p = 0; p < k; p++) s += x[p] * b[p * ldb + j];
        expect(Math.abs(simd[j] - s), `y[${j}]`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(s)) * Math.sqrt(k));
      }
    }
    // matmul's skipZeros option runs it (contiguous b).
    const wc = Tensor.from(Float32Array.from({ length: k * n }, (_, i) => b[Math.floor(i / n) * ldb + (i % n)]), [k, n], rt);
    const y1 = matmul(tx, wc, { bias: tbias, skipZeros: true }), y0 = matmul(tx, wc, { bias: tbias });
    expect(Array.from(new Uint32Array(y1.toArray().buffer))).toEqual(Array.from(new Uint32Array(y0.toArray().buffer)));
    for (const t of [tx, tb, tbias, wc, y1, y0]) t.dispose();
  });

  // The rows of zero inputs are never read: an infinite weight there leaves y finite, and each
  // live row is added (every input live but one in its group of 16, or only the group's last).
  it.each([[15, 0], [16, 1], [17, 2], [47, 3], [48, 4], [1100, 5]])('k=%i pattern %i: exactly the nonzero inputs are read', (k, pattern) => {
    const n = 6, rnd = lcg(k * 13 + pattern);
    const x = new Float32Array(k);
    for (let p = 0; p < k; p++) {
      const lane = p & 15;
      const live = pattern === 0 ? lane !== 7 : pattern === 1 ? lane === 15 : pattern === 2 ? lane === 0 : pattern === 3 ? (p >> 4) % 2 === 1 && lane % 3 === 0 : rnd() < 0.2;
      x[p] = live ? rnd() + 0.5 : rnd() < 0.5 ? -0 : 0;
    }
    const b = floatValues(k * n, rnd);
    for (let p = 0; p < k; p++) if (x[p] === 0) b.fill(p % 2 ? Infinity : NaN, p * n, (p + 1) * n);
    const tx = Tensor.from(x, [1, k], rt), tb = Tensor.zeros([k, n], rt);
    rt.f32.set(b, tb.ptr >>> 2);
    const run = (f: string) => {
      const y = Tensor.from(new Float32Array(n).fill(SENTINEL), [1, n], rt);
      K[f](n, k, tx.ptr, tb.ptr, n, 0, y.ptr);
      const v = y.toArray();
      y.dispose();
      return v;
    };
    const simd = run('gemv_f32_skip_zeros');
    expect(Array.from(new Uint32Array(simd.buffer))).toEqual(Array.from(new Uint32Array(run('gemv_f32_skip_zeros_scalar').buffer)));
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) if (x[p] !== 0) s += x[p] * b[p * n + j];
      expect(Number.isFinite(simd[j])).toBe(true);
      expect(Math.abs(simd[j] - s), `y[${j}]`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(s)) * Math.sqrt(k));
    }
    tx.dispose();
    tb.dispose();
  });
});
