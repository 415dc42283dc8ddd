import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { gatherColumns, gatherRows, nonzeroColumns, scatterRows } from '../src/ops/gather.js';
import { matmul } from '../src/ops/gemm.js';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { lcg, randomArray } from './util/kernel.js';

const rt = Runtime.createSync();

/** x [rows, cols] with the columns in `zero` set to 0 in every row (−0 in some rows). */
function withZeroColumns(rows: number, cols: number, zero: Set<number>, rnd: () => number): Float32Array {
  const x = randomArray(rows * cols, rnd);
  for (let r = 0; r < rows; r++) for (const c of zero) x[r * cols + c] = (r + c) % 3 === 0 ? -0 : 0;
  return x;
}

describe('zero-column skipping kernels (naive references, SIMD width 4: below, at, above, odd tails)', () => {
  const rnd = lcg(21);
  for (const [rows, cols] of [[1, 1], [1, 3], [2, 4], [3, 5], [5, 8], [4, 13], [7, 33]]) {
    it(`nonzero_cols, gather, scatter agree with the reference at ${rows}x${cols}`, () => {
      const zero = new Set<number>();
      for (let c = 0; c < cols; c++) if (rnd() < 0.4) zero.add(c);
      const xa = withZeroColumns(rows, cols, zero, rnd);
      // A column with a single nonzero in the last row stays live.
      const lone = [...Array(cols).keys()].find((c) => zero.has(c));
      if (lone !== undefined && rows > 1) {
        zero.delete(lone);
        xa[(rows - 1) * cols + lone] = 0.5;
      }
      const ref = [...Array(cols).keys()].filter((c) => !zero.has(c));
      const x = Tensor.from(xa, [rows, cols], rt), idx = Tensor.zeros([cols], rt);
      const k = nonzeroColumns(x, idx);
      expect(k).toBe(ref.length);
      expect(Array.from(idx.view().subarray(0, k))).toEqual(ref);

      const xc = gatherColumns(x, idx, k, Tensor.zeros([rows, k], rt));
      for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) expect(xc.view()[r * k + j]).toBe(xa[r * cols + ref[j]]);

      const units = 1 + (cols % 6);
      const w = Tensor.from(randomArray(cols * units, rnd), [cols, units], rt);
      const wc = gatherRows(w, idx, k, Tensor.zeros([k, units], rt));
      for (let j = 0; j < k; j++) for (let u = 0; u < units; u++) expect(wc.view()[j * units + u]).toBe(w.view()[ref[j] * units + u]);

      // The packed product equals the full one; the scattered filter gradient equals the full xᵀ·dy.
      const full = matmul(x, w), packed = matmul(xc, wc);
      for (let i = 0; i < full.size; i++) expect(packed.view()[i]).toBeCloseTo(full.view()[i], 5);
      const dy = Tensor.from(randomArray(rows * units, rnd), [rows, units], rt);
      const dwFull = matmul(x, dy, { transA: true });
      const dw = Tensor.from(new Array(cols * units).fill(7), [cols, units], rt);
      scatterRows(matmul(xc, dy, { transA: true }), idx, k, dw);
      for (let i = 0; i < dw.size; i++) expect(dw.view()[i]).toBeCloseTo(dwFull.view()[i], 5);
      // Accumulating leaves the skipped rows as they were.
      const acc = Tensor.from(new Array(cols * units).fill(1), [cols, units], rt);
      scatterRows(matmul(xc, dy, { transA: true }), idx, k, acc, true);
      for (let c = 0; c < cols; c++) {
        for (let u = 0; u < units; u++) {
          const want = zero.has(c) ? 1 : 1 + dwFull.view()[c * units + u];
          expect(acc.view()[c * units + u]).toBeCloseTo(want, 5);
        }
      }
      for (const t of [x, idx, xc, w, wc, full, packed, dy, dwFull, dw, acc]) t.dispose();
    });
  }

  it('keeps a NaN column live (so NaN propagates) and finds none in an all-zero batch', () => {
    const x = Tensor.zeros([3, 6], rt), idx = Tensor.zeros([6], rt);
    expect(nonzeroColumns(x, idx)).toBe(0);
    x.view()[2 * 6 + 5] = NaN;
    expect(nonzeroColumns(x, idx)).toBe(1);
    expect(idx.view()[0]).toBe(5);
  });

  it('Tensor.prefix views the leading elements of scratch and refuses to reach past it', () => {
    const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3], rt);
    const p = t.prefix([2, 2]);
    expect(p.ptr).toBe(t.ptr);
    expect(Array.from(p.view())).toEqual([1, 2, 3, 4]);
    expect(() => t.prefix([7])).toThrow(ShapeError);
    t.dispose();
    expect(() => t.prefix([1])).toThrow(ArgumentError);
  });

  it('rejects bad sizes with typed errors', () => {
    const x = Tensor.zeros([2, 5], rt), idx = Tensor.zeros([5], rt);
    expect(() => nonzeroColumns(x, Tensor.zeros([4], rt))).toThrow(ShapeError);
    expect(() => gatherColumns(x, idx, 6, Tensor.zeros([2, 6], rt))).toThrow(ArgumentError);
    expect(() => gatherColumns(x, idx, 2, Tensor.zeros([2, 3], rt))).toThrow(ShapeError);
    expect(() => gatherRows(x, idx, 1.5, Tensor.zeros([1, 5], rt))).toThrow(ArgumentError);
    expect(() => scatterRows(Tensor.zeros([2, 4], rt), idx, 2, x)).toThrow(ShapeError);
  });
});
