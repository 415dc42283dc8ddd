import { describe, expect, it } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { SparseMatrix } from '../src/ops/spmm.js';
import { lrtDraw, lrtSpmm } from '../src/ops/lrt.js';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { bits, kernelRig, mulberry32 } from './util/kernel.js';

// assembly/lrt.ts: the fused mean/variance products over n columns and the pre-activation draw: SIMD = scalar twin bit for bit, both = a naive reference
// (float64 sums; the draw's f32 formula exactly), over sizes below, at and above the kernels'
// blocks (4 columns), odd tails, strided rows, unaligned pointers; a matrix too wide for u16 indices refused.

const { rt, K } = kernelRig();
const SIZES = [0, 1, 3, 4, 5, 7, 8, 9, 12, 17, 33];

/** A random CSR [m, k] with about `density` of its entries, ascending column indices. */
function randomCsr(m: number, k: number, density: number, seed: number) {
  const r = mulberry32(seed);
  const rowPtr = new Uint32Array(m + 1), cols: number[] = [], theta: number[] = [], sigma2: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < k; j++) {
      if (r() >= density) continue;
      cols.push(j);
      theta.push(r() * 2 - 1);
      sigma2.push(r() < 0.1 ? 0 : r() * 0.5);
    }
    rowPtr[i + 1] = cols.length;
  }
  const colIdx = Uint16Array.from(cols);
  return { rows: m, cols: k, rowPtr, colIdx, theta: Float32Array.from(theta), sigma2: Float32Array.from(sigma2) };
}

/** Copy `a` to fresh wasm memory `shift` (0-3) floats past a 16-byte boundary. */
function putAt(a: Float32Array | Uint32Array | Uint16Array, shift: number): number {
  const p = rt.allocF32(a.length + 8) + 4 * shift;
  rt.u8.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), p);
  return p;
}
const getF = (p: number, n: number) => rt.f32.slice(p >>> 2, (p >>> 2) + n);

function data(n: number, seed: number, zeros = 0.3): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() < zeros ? 0 : r() * 4 - 2));
}

describe('lrt_spmm_f32_csr (mean and variance products over one structure)', () => {
  it('= scalar twin bit for bit, = float64 reference; any m, n, strided rows', () => {
    for (const m of [0, 1, 3, 5, 9]) {
      for (const n of SIZES) {
        {
          const k = 11, a = randomCsr(m, k, 0.4, m * 100 + n);
          const ldx = n + (n % 3), ldy = n + 2;
          const x = data(k * ldx, n + 7);
          const outs = ['', '_scalar'].map((suffix, s) => {
            const [rp, ci, t, g, xp] = [putAt(a.rowPtr, 0), putAt(a.colIdx, s + 1), putAt(a.theta, s + 2), putAt(a.sigma2, s + 3), putAt(x, s)];
            const mu = putAt(new Float32Array(m * ldy).fill(7), s + 1), v = putAt(new Float32Array(m * ldy).fill(7), s + 2);
            K[`lrt_spmm_f32_csr${suffix}`](m, k, n, rp, ci, t, g, xp, ldx, mu, v, ldy);
            return [getF(mu, m * ldy), getF(v, m * ldy)];
          });
          expect(bits(outs[0][0])).toEqual(bits(outs[1][0]));
          expect(bits(outs[0][1])).toEqual(bits(outs[1][1]));
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < ldy; j++) {
              let sm = 0, sv = 0;
              for (let p = a.rowPtr[i]; p < a.rowPtr[i + 1]; p++) {
                const xv = x[a.colIdx[p] * ldx + j];
                sm += a.theta[p] * xv;
                sv += a.sigma2[p] * xv * xv;
              }
              // Columns past n are untouched.
              if (j >= n) {
                expect(outs[0][0][i * ldy + j]).toBe(7);
                continue;
              }
              expect(Math.abs(outs[0][0][i * ldy + j] - sm)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(sm)));
              expect(Math.abs(outs[0][1][i * ldy + j] - sv)).toBeLessThanOrEqual(1e-5 * (1 + sv));
            }
          }
        }
      }
    }
  });

  it('lrtSpmm: checked operands (typed errors); = the twin', () => {
    const a = randomCsr(6, 9, 0.5, 3);
    const th = SparseMatrix.fromCsr({ rows: 6, cols: 9, rowPtr: a.rowPtr, colIdx: a.colIdx, values: a.theta }, rt);
    const s2 = SparseMatrix.fromCsr({ rows: 6, cols: 9, rowPtr: a.rowPtr, colIdx: a.colIdx, values: a.sigma2 }, rt);
    const x = Tensor.from(data(9 * 5, 1), [9, 5], rt), mu = Tensor.zeros([6, 5], rt), v = Tensor.zeros([6, 5], rt);
    const mu2 = Tensor.zeros([6, 5], rt), v2 = Tensor.zeros([6, 5], rt);
    lrtSpmm(th, s2, x, mu, v);
    K.lrt_spmm_f32_csr_scalar(6, 9, 5, th.rowPtrPtr, th.colIdxPtr, th.valuesPtr, s2.valuesPtr, x.ptr, 5, mu2.ptr, v2.ptr, 5);
    expect(bits(mu.toArray())).toEqual(bits(mu2.toArray()));
    expect(bits(v.toArray())).toEqual(bits(v2.toArray()));
    expect(() => lrtSpmm(th, s2, Tensor.zeros([8, 5], rt), mu, v)).toThrow(ShapeError);
    expect(() => lrtSpmm(th, s2, x, Tensor.zeros([6, 4], rt), v)).toThrow(ShapeError);
    expect(() => lrtSpmm(th, 'no' as never, x, mu, v)).toThrow(ArgumentError);
    const other = SparseMatrix.fromCsr({ rows: 6, cols: 9, rowPtr: new Uint32Array(7), colIdx: new Uint16Array(0), values: new Float32Array(0) }, rt);
    expect(() => lrtSpmm(th, other, x, mu, v)).toThrow(/sigma2/);
    const wide = SparseMatrix.fromCsr({ rows: 1, cols: 70000, rowPtr: Uint32Array.of(0, 1), colIdx: Uint32Array.of(69999), values: Float32Array.of(1) }, rt);
    expect(() => lrtSpmm(wide, wide, Tensor.zeros([70000, 1], rt), Tensor.zeros([1, 1], rt), Tensor.zeros([1, 1], rt))).toThrow(/65536/);
    wide.dispose();
    for (const t of [th, s2, other, x, mu, v, mu2, v2]) t.dispose();
  });
});

describe('lrt_draw_f32 (the pre-activation draw)', () => {
  it('= scalar twin = the f32 formula exactly; own columns, shared (c = 1, c = 3) and padding columns, relu, bias', () => {
    // m: four-unit blocks (4, 8) and their tails (1, 3, 6, 9).
    for (const m of [0, 1, 3, 4, 6, 8, 9]) {
      for (const n of SIZES) {
        for (const c of [n, 1, 3]) {
          if (c < 1 || c > Math.max(n, 1)) continue;
          for (const relu of [0, 1]) {
            for (const withBias of [false, true]) {
              const mu = data(m * c, m + n + c, 0.1), v = Float32Array.from(data(m * c, c + 5, 0.2), Math.abs);
              const eps = data(n * m, n + 11, 0.1), bias = data(m, m + 1, 0);
              const runs = ['', '_scalar'].map((suffix, s) => {
                const out = putAt(new Float32Array(m * n), s + 1);
                K[`lrt_draw_f32${suffix}`](m, n, c, putAt(mu, s), putAt(v, s + 2), putAt(eps, s + 3), withBias ? putAt(bias, s) : 0, relu, out);
                return getF(out, m * n);
              });
              expect(bits(runs[0])).toEqual(bits(runs[1]));
              const f = Math.fround;
              for (let u = 0; u < m; u++) {
                for (let j = 0; j < n; j++) {
                  const s = u * c + (j % c);
                  let y = f(f(mu[s] + f(f(Math.sqrt(f(v[s] + f(1e-8)))) * eps[j * m + u])) + (withBias ? bias[u] : 0));
                  if (relu) y = Math.max(y, 0);
                  expect(Object.is(runs[0][u * n + j], y) || (y === 0 && runs[0][u * n + j] === 0), `m ${m} n ${n} c ${c} (${u}, ${j})`).toBe(true);
                }
              }
            }
          }
        }
      }
    }
  });

  it('lrtDraw: checked shapes and bias; = the twin', () => {
    const mu = Tensor.from(data(12, 1), [4, 3], rt), v = Tensor.from(Float32Array.from(data(12, 2), Math.abs), [4, 3], rt);
    const eps = Tensor.from(data(24, 3), [6, 4], rt), bias = Tensor.from(data(4, 4), [4], rt);
    const a = lrtDraw(mu, v, eps, Tensor.zeros([4, 6], rt), { bias, relu: true }).toArray();
    const o = Tensor.zeros([4, 6], rt);
    K.lrt_draw_f32_scalar(4, 6, 3, mu.ptr, v.ptr, eps.ptr, bias.ptr, 1, o.ptr);
    const b = o.toArray();
    expect(bits(a)).toEqual(bits(b));
    expect(a.some((y) => y > 0)).toBe(true);
    expect(() => lrtDraw(mu, v, eps, Tensor.zeros([4, 5], rt))).toThrow(ShapeError);
    expect(() => lrtDraw(mu, v, Tensor.zeros([6, 3], rt), Tensor.zeros([4, 6], rt))).toThrow(ShapeError);
    expect(() => lrtDraw(mu, Tensor.zeros([4, 2], rt), eps, Tensor.zeros([4, 6], rt))).toThrow(ShapeError);
    expect(() => lrtDraw(mu, v, eps, Tensor.zeros([4, 6], rt), { bias: Tensor.zeros([3], rt) })).toThrow(ShapeError);
  });
});
