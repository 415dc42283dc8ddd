import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Csr, SparseMatrix } from '../src/ops/spmm.js';
import { lcg } from './util/gradcheck.js';

// The CSR structure kernel (assembly/csr.ts, through SparseMatrix.byColumns in ops/spmm.ts):
// integer work and copies without SIMD, so no scalar twin; the oracle is a naive column copy.
// (spmv_f32_csc over that copy against the row kernel: test/sparse.test.ts.)
const rt = Runtime.createSync();

/** A random rows × cols CSR with ascending columns, about `density` kept (a third of the rows far sparser), some ±0 values. */
function randomCsr(rows: number, cols: number, density: number, seed: number): Csr {
  const r = lcg(seed);
  const rowPtr = new Uint32Array(rows + 1), col: number[] = [], values: number[] = [];
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      if (r() < (i % 3 === 2 ? density / 50 : density)) {
        col.push(j);
        values.push(r() < 0.05 ? (r() < 0.5 ? 0 : -0) : r() * 2 - 1);
      }
    }
    rowPtr[i + 1] = col.length;
  }
  return { rows, cols, rowPtr, colIdx: cols <= 65536 ? Uint16Array.from(col) : Uint32Array.from(col), values: Float32Array.from(values) };
}

describe('csr_columns_f32 (assembly/csr.ts)', () => {
  /** The naive column copy: for each column, its nonzero entries by ascending row. */
  function reference(c: Csr): { colPtr: number[]; rowIdx: number[]; values: number[] } {
    const cols: [number, number][][] = Array.from({ length: c.cols }, () => []);
    for (let i = 0; i < c.rows; i++) for (let q = c.rowPtr[i]; q < c.rowPtr[i + 1]; q++) if (c.values[q] !== 0) cols[c.colIdx[q]].push([i, c.values[q]]);
    const colPtr = [0];
    for (const col of cols) colPtr.push(colPtr[colPtr.length - 1] + col.length);
    return { colPtr, rowIdx: cols.flat().map((e) => e[0]), values: cols.flat().map((e) => e[1]) };
  }

  it('copies a CSR by columns, zeros (±0) dropped, rows ascending, over edge shapes (u16 and u32 columns)', () => {
    for (const [rows, cols, density] of [[1, 1, 1], [1, 9, 0.5], [9, 1, 0.5], [300, 784, 0.02], [17, 33, 0.6], [65536, 3, 0.001], [4, 65537, 0.0005], [5, 40, 0]] as const) {
      const c = randomCsr(rows, cols, density, rows + 7 * cols);
      const m = SparseMatrix.fromCsr(c, rt);
      const got = m.byColumns()!;
      const want = reference(c), nnz = want.values.length;
      expect(Array.from(new Uint32Array(rt.u8.slice(got.colPtr, got.colPtr + 4 * (cols + 1)).buffer)), `${rows}x${cols}`).toEqual(want.colPtr);
      expect(Array.from(new Uint16Array(rt.u8.slice(got.rowIdx, got.rowIdx + 2 * nnz).buffer))).toEqual(want.rowIdx);
      expect(Array.from(rt.f32.subarray(got.values >>> 2, (got.values >>> 2) + nnz))).toEqual(want.values);
      expect(m.byColumns()).toBe(got); // built once
      m.dispose();
    }
  });

  it('gives no column copy when a row\'s columns do not ascend or there are more than 65536 rows', () => {
    const c: Csr = { rows: 2, cols: 4, rowPtr: Uint32Array.of(0, 2, 4), colIdx: Uint16Array.of(0, 2, 3, 1), values: Float32Array.of(1, 2, 3, 4) };
    const m = SparseMatrix.fromCsr(c, rt);
    expect(m.byColumns()).toBeNull();
    m.dispose();
    const tall = SparseMatrix.fromCsr({ rows: 65537, cols: 1, rowPtr: Uint32Array.from({ length: 65538 }, (_, i) => Math.min(i, 1)), colIdx: Uint16Array.of(0), values: Float32Array.of(1) }, rt);
    expect(tall.byColumns()).toBeNull();
    tall.dispose();
    expect(() => rt.k.csr_columns_f32(65537, 1, 0, 0, 0, 0, 0, 0, 0)).toThrow();
  });
});

describe('csr_dense_t_f32 (assembly/csr.ts): the dense Aᵀ of batch-1 products', () => {
  /** The naive Aᵀ [cols, rows], row-major, with the CSR's values (±0 kept) at their places. */
  function reference(c: Csr): number[] {
    const d = new Float32Array(c.rows * c.cols);
    for (let i = 0; i < c.rows; i++) for (let q = c.rowPtr[i]; q < c.rowPtr[i + 1]; q++) d[c.colIdx[q] * c.rows + i] = c.values[q];
    return Array.from(new Uint32Array(d.buffer));
  }
  /** The kernel's block over dirty memory (it must zero it first) and its status. */
  function run(c: Csr): { status: number; bits: number[] } {
    const m = SparseMatrix.fromCsr(c, rt), n = c.rows * c.cols;
    const out = rt.heap.alloc(4 * n + 16, 'out');
    rt.f32.fill(7, out >>> 2, (out >>> 2) + n);
    const status = rt.k.csr_dense_t_f32(c.rows, c.cols, m.rowPtrPtr, m.colIdxPtr, m.wide ? 1 : 0, m.valuesPtr, out);
    const bits = Array.from(new Uint32Array(rt.u8.slice(out, out + 4 * n).buffer));
    rt.heap.free(out);
    m.dispose();
    return { status, bits };
  }

  it('scatters every entry, ±0 bits kept, zeros elsewhere, over edge shapes (u16 and u32 columns)', () => {
    for (const [rows, cols, density] of [[1, 1, 1], [1, 9, 0.5], [9, 1, 0.5], [68, 784, 0.07], [17, 33, 0.6], [3, 65537, 0.001], [5, 40, 0], [0, 4, 1], [4, 0, 1]] as const) {
      const c = randomCsr(rows, cols, density, 3 * rows + cols);
      const r = run(c);
      expect(r.status, `${rows}x${cols}`).toBe(0);
      expect(r.bits, `${rows}x${cols}`).toEqual(reference(c));
    }
  });

  it('returns −1 when a row\'s columns do not strictly ascend (a repeat or a descent, u16 and u32)', () => {
    for (const colIdx of [Uint16Array.of(0, 2, 3, 1), Uint16Array.of(1, 1, 2, 3), Uint32Array.of(0, 65536, 70000, 5)]) {
      const cols = colIdx instanceof Uint32Array ? 70001 : 4;
      expect(run({ rows: 2, cols, rowPtr: Uint32Array.of(0, 2, 4), colIdx, values: Float32Array.of(1, 2, 3, 4) }).status).toBe(-1);
    }
  });
});
