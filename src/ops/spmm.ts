/**
 * CSR sparse matrices on the host and in wasm memory, and the products of sparse inference:
 * {@link spmm} (sparse × dense, feature-major activations), {@link sparseConv2d} and
 * {@link transpose}. Every kernel call of sparse inference goes through here.
 *
 * Storage choice: a pruned dense layer W [in, out] is kept as CSR over its OUTPUT units
 * (A = Wᵀ [out, in], one row per unit listing the input features it reads), and activations
 * between sparse layers are feature-major [features, batch]. Each nonzero is then one broadcast
 * multiplied into contiguous batch vectors, accumulated in registers, with no scatter (wasm SIMD
 * has neither gather nor scatter): see `assembly/sparse.ts`. A pruned convolution
 * W [KH, KW, C, F] is CSR A [F, KH·KW·C], run as feature-major im2col + the same product.
 * Column indices are u16 when the matrix has at most 65536 columns, else u32.
 * @module
 */
import { ArgumentError, ModelFormatError, ShapeError, checkInt, describe } from '../errors.js';
import { Runtime, runtime } from '../runtime/runtime.js';
import { MAX_ELEMENTS, Shape, Tensor, allFinite, assertFinite, fmtShape } from '../tensor.js';
import type { ConvGeometry } from './conv.js';
import { windowOutputSize } from './geometry.js';
import { checkTensor } from './check.js';

/** Largest KH·KW·C (and filter count) of a sparse convolution: its im2col chunk is sized in i32 bytes. */
export const MAX_CONV_K = 1 << 22;

/* ------------------------------------------------------------------ CSR matrices */

/** A CSR matrix in plain arrays (see {@link SparseMatrix}). */
export interface Csr {
  rows: number;
  cols: number;
  /** rows + 1 offsets into colIdx/values; rowPtr[0] = 0, non-decreasing, rowPtr[rows] = nnz. */
  rowPtr: Uint32Array;
  /** Column of each nonzero, < cols (u16 when cols ≤ 65536). */
  colIdx: Uint16Array | Uint32Array;
  /** Value of each nonzero, finite. */
  values: Float32Array;
}

/**
 * Check a CSR structure; throws `Err` (ArgumentError for the API, ModelFormatError for files)
 * naming `name`'s field at fault. Column indices need not be sorted.
 */
export function checkCsr(name: string, c: Csr, Err: typeof ArgumentError | typeof ModelFormatError = ArgumentError): void {
  const { rows, cols, rowPtr, colIdx, values } = c;
  if (!Number.isSafeInteger(rows) || rows < 0 || rows > MAX_ELEMENTS) throw new Err(`${name}.rows`, 'a non-negative integer', describe(rows));
  if (!Number.isSafeInteger(cols) || cols < 0 || cols > MAX_ELEMENTS) throw new Err(`${name}.cols`, 'a non-negative integer', describe(cols));
  if (!(rowPtr instanceof Uint32Array) || rowPtr.length !== rows + 1) throw new Err(`${name}.rowPtr`, `a Uint32Array of ${rows + 1}`, describe(rowPtr));
  if (!(values instanceof Float32Array)) throw new Err(`${name}.values`, 'a Float32Array', describe(values));
  const nnz = values.length;
  const wantU16 = cols <= 65536;
  if (!(wantU16 ? colIdx instanceof Uint16Array : colIdx instanceof Uint32Array) || colIdx.length !== nnz) {
    throw new Err(`${name}.colIdx`, `a ${wantU16 ? 'Uint16Array' : 'Uint32Array'} of ${nnz} (one per value)`, describe(colIdx));
  }
  if (rowPtr[0] !== 0) throw new Err(`${name}.rowPtr[0]`, '0', String(rowPtr[0]));
  for (let i = 0; i < rows; i++) {
    if (rowPtr[i + 1] < rowPtr[i]) throw new Err(`${name}.rowPtr[${i + 1}]`, `>= rowPtr[${i}] = ${rowPtr[i]}`, String(rowPtr[i + 1]));
  }
  if (rowPtr[rows] !== nnz) throw new Err(`${name}.rowPtr[${rows}]`, `nnz = ${nnz}`, String(rowPtr[rows]));
  // Native scans first (a cold load cannot spare an interpreted loop over every value); the
  // loop only names the first bad entry.
  if (nnz > 0 && maxOf(colIdx) < cols && allFinite(values)) return;
  for (let p = 0; p < nnz; p++) {
    if (colIdx[p] >= cols) throw new Err(`${name}.colIdx[${p}]`, `< ${cols} columns`, String(colIdx[p]));
    const v = values[p];
    if (v - v !== 0) throw new Err(`${name}.values[${p}]`, 'a finite value', String(v));
  }
}

/** Largest element of `a` (0 when empty): native Math.max over chunks, no interpreted loop. */
function maxOf(a: Uint16Array | Uint32Array): number {
  let m = 0;
  for (let s = 0; s < a.length; s += 8192) m = Math.max(m, Math.max.apply(null, a.subarray(s, s + 8192) as unknown as number[]));
  return m;
}

/** CSR of Wᵀ for a row-major W [k, m] (k inputs, m outputs): one row per output, its nonzero inputs. */
export function csrFromWeights(w: Float32Array, k: number, m: number): Csr {
  return csrStrided(w, m, k, 1, m);
}

/** CSR by rows of a row-major W [rows, cols], exact zeros dropped. @internal */
export function csrByRows(w: Float32Array, rows: number, cols: number): Csr {
  return csrStrided(w, rows, cols, cols, 1);
}

/** CSR [rows, cols] of the matrix whose entry (r, c) is w[r·rowStride + c·colStride]. */
function csrStrided(w: Float32Array, rows: number, cols: number, rowStride: number, colStride: number): Csr {
  let nnz = 0;
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) nnz++;
  const rowPtr = new Uint32Array(rows + 1);
  const colIdx = cols <= 65536 ? new Uint16Array(nnz) : new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  let p = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = w[r * rowStride + c * colStride];
      if (v !== 0) {
        colIdx[p] = c;
        values[p++] = v;
      }
    }
    rowPtr[r + 1] = p;
  }
  return { rows, cols, rowPtr, colIdx, values };
}

/**
 * Kept fraction from which a batch-1 product runs through the dense Aᵀ rather than by columns
 * (both skip zero inputs). Measured here on the pruned models' layers with MNIST inputs
 * (2026-12-02): a kept weight by columns costs about 13 times a dense row entry (its scatter is
 * scalar and its column lengths vary, so branches mispredict), so dense wins from about 1/13 of
 * the live rows' entries kept; LeNet-300-100's first layer (6.6% kept, 11.6% of its live rows')
 * ran 1.5x faster dense, LeNet-5's third (2.2%) 3.6x slower.
 */
export const BATCH1_DENSE_FROM = 1 / 16;

/**
 * A CSR matrix living in wasm memory, the operand of {@link spmm} and {@link sparseConv2d}.
 * Its structure is validated once, at creation, so the kernels need not check it per call.
 */
export class SparseMatrix {
  readonly rt: Runtime;
  readonly rows: number;
  readonly cols: number;
  readonly nnz: number;
  /** u32 column indices (else u16). */
  readonly wide: boolean;
  /** Byte pointers of rowPtr (u32), colIdx (u16/u32) and values (f32). */
  readonly rowPtrPtr: number;
  readonly colIdxPtr: number;
  readonly valuesPtr: number;
  private disposed = false;
  /** The columns (CSC) in wasm memory, built at the first batch-1 product; null: not usable (see byColumns). */
  private csc: { colPtr: number; rowIdx: number; values: number } | null | undefined;
  /** Aᵀ dense [cols, rows] in wasm memory for batch-1 products of a dense-enough matrix (see {@link byDenseColumns}). */
  private dense: number | null | undefined;

  private constructor(rt: Runtime, c: Csr) {
    this.rt = rt;
    this.rows = c.rows;
    this.cols = c.cols;
    this.nnz = c.values.length;
    this.wide = c.colIdx instanceof Uint32Array;
    const heap = rt.heap;
    this.rowPtrPtr = heap.alloc(4 * (c.rows + 1), 'rowPtr');
    try {
      this.colIdxPtr = heap.alloc(c.colIdx.byteLength, 'colIdx');
      try {
        this.valuesPtr = heap.alloc(4 * this.nnz, 'values');
      } catch (e) {
        heap.free(this.colIdxPtr);
        throw e;
      }
    } catch (e) {
      heap.free(this.rowPtrPtr);
      throw e;
    }
    const u8 = rt.u8;
    u8.set(new Uint8Array(c.rowPtr.buffer, c.rowPtr.byteOffset, c.rowPtr.byteLength), this.rowPtrPtr);
    u8.set(new Uint8Array(c.colIdx.buffer, c.colIdx.byteOffset, c.colIdx.byteLength), this.colIdxPtr);
    rt.f32.set(c.values, this.valuesPtr >>> 2);
  }

  /** Copy a validated CSR into wasm memory (throws {@link ArgumentError} on a bad structure). */
  static fromCsr(c: Csr, rt: Runtime = runtime()): SparseMatrix {
    checkCsr('csr', c);
    return new SparseMatrix(rt, c);
  }

  /**
   * @internal Copy a CSR that {@link checkCsr} already passed into wasm memory unchecked: a file's
   * steps (inference/steps.ts's readStep checks them, or builds them valid), which a cold load
   * need not check twice.
   */
  static fromCheckedCsr(c: Csr, rt: Runtime): SparseMatrix {
    return new SparseMatrix(rt, c);
  }

  /** The CSR of Wᵀ for a row-major W [k, m]: zeros dropped. */
  static fromWeights(w: Float32Array, k: number, m: number, rt: Runtime = runtime()): SparseMatrix {
    if (!(w instanceof Float32Array) || w.length !== k * m) throw new ShapeError('w', `a Float32Array of ${k}×${m}`, describe(w));
    assertFinite('w', w);
    return new SparseMatrix(rt, csrFromWeights(w, k, m));
  }

  /** A copy of the structure and values. */
  toCsr(): Csr {
    this.check();
    const u8 = this.rt.u8;
    const rowPtr = new Uint32Array(this.rows + 1);
    new Uint8Array(rowPtr.buffer).set(u8.subarray(this.rowPtrPtr, this.rowPtrPtr + rowPtr.byteLength));
    const colIdx = this.wide ? new Uint32Array(this.nnz) : new Uint16Array(this.nnz);
    new Uint8Array(colIdx.buffer).set(u8.subarray(this.colIdxPtr, this.colIdxPtr + colIdx.byteLength));
    const values = this.rt.f32.slice(this.valuesPtr >>> 2, (this.valuesPtr >>> 2) + this.nnz);
    return { rows: this.rows, cols: this.cols, rowPtr, colIdx, values };
  }

  /**
   * @internal The matrix by columns in wasm memory (pointers of colPtr u32, rowIdx u16, values
   * f32), built on first use and kept until dispose (about as many bytes again as the CSR); null
   * when it has more than 65536 rows or the rows' column indices do not ascend.
   */
  byColumns(): { colPtr: number; rowIdx: number; values: number } | null {
    this.check();
    if (this.csc === undefined) {
      if (this.rows > 65536) return (this.csc = null);
      // One block: colPtr, rowIdx (padded to 4 bytes), values; a counting transpose in wasm
      // (assembly/csr.ts: exact zeros dropped, rows ascending in each column).
      const r = 4 * (this.cols + 1), v = r + ((2 * this.nnz + 3) & ~3);
      const p = this.rt.heap.alloc(v + 4 * this.nnz, 'csc');
      if (this.rt.k.csr_columns_f32(this.rows, this.cols, this.rowPtrPtr, this.colIdxPtr, this.wide ? 1 : 0, this.valuesPtr, p, p + r, p + v) < 0) {
        this.rt.heap.free(p);
        return (this.csc = null);
      }
      this.csc = { colPtr: p, rowIdx: p + r, values: p + v };
    }
    return this.csc;
  }

  /**
   * @internal Aᵀ as a dense row-major [cols, rows] block in wasm memory (a byte pointer), for the
   * batch-1 product that skips zero inputs (`gemv_f32_skip_zeros`): built on first use when at
   * least {@link BATCH1_DENSE_FROM} of the entries are kept (and at most 2^22 in all), kept until
   * dispose; null otherwise, or when the rows' column indices do not ascend (as byColumns).
   */
  byDenseColumns(): number | null {
    this.check();
    if (this.dense === undefined) {
      const size = this.rows * this.cols;
      if (this.nnz < BATCH1_DENSE_FROM * size || size > 2 ** 22) return (this.dense = null);
      // Scattered in wasm (assembly/csr.ts), straight from the wasm-resident CSR.
      const d = this.rt.heap.alloc(4 * size, 'dense');
      if (this.rt.k.csr_dense_t_f32(this.rows, this.cols, this.rowPtrPtr, this.colIdxPtr, this.wide ? 1 : 0, this.valuesPtr, d) < 0) {
        this.rt.heap.free(d);
        return (this.dense = null);
      }
      this.dense = d;
    }
    return this.dense;
  }

  /** Bytes of the three arrays. */
  get bytes(): number {
    return 4 * (this.rows + 1) + (this.wide ? 4 : 2) * this.nnz + 4 * this.nnz;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Free the CSR arrays in wasm memory (idempotent). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rt.free(this.rowPtrPtr);
    this.rt.free(this.colIdxPtr);
    this.rt.free(this.valuesPtr);
    if (this.csc) this.rt.free(this.csc.colPtr);
    if (this.dense) this.rt.free(this.dense);
  }

  /** Throw a typed error unless the CSR arrays are well formed (row pointers, column indices, finite values). */
  check(): void {
    if (this.disposed) throw new ArgumentError('a', 'a live SparseMatrix', 'a disposed one');
  }
}

/* ------------------------------------------------------------------ Ops */

/** Options of the sparse ops. */
export interface SparseOpOptions {
  /** Added per output row ({@link spmm}: [m]) or per output channel ({@link sparseConv2d}: [F]). */
  bias?: Tensor;
  /** Destination; allocated when absent. Must not overlap the input. */
  out?: Tensor;
  /** Use the scalar twin kernel (the test oracle). */
  scalar?: boolean;
}

function overlaps(a: Tensor, b: Tensor): boolean {
  return a.size > 0 && b.size > 0 && a.ptr < b.ptr + 4 * b.size && b.ptr < a.ptr + 4 * a.size;
}

function destinationOf(opts: SparseOpOptions, shape: Shape, rt: Runtime, inputs: Tensor[]): Tensor {
  if (opts.out === undefined) return Tensor.zeros(shape, rt);
  const out = checkTensor('options.out', opts.out, rt);
  if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) throw new ShapeError('options.out', fmtShape(shape), fmtShape(out.shape));
  for (const t of inputs) if (overlaps(out, t)) throw new ArgumentError('options.out', 'memory distinct from the inputs', 'an overlapping tensor');
  return out;
}

function checkBias(opts: SparseOpOptions, n: number, rt: Runtime): Tensor | undefined {
  if (opts.bias === undefined) return undefined;
  const b = checkTensor('options.bias', opts.bias, rt);
  if (b.size !== n || b.shape.length !== 1) throw new ShapeError('options.bias', `[${n}]`, fmtShape(b.shape));
  return b;
}

/**
 * Sparse × dense product Y[m, n] = A[m, k]·X[k, n] + bias[m] (bias per row). `x`: [k, n]
 * feature-major (n samples contiguous per feature); returns [m, n]. At n = 1 the product runs
 * by columns and skips zero inputs (the matrix keeps a column copy from then on), with the bits
 * of the row kernel, when the rows' column indices ascend and there are at most 65536 rows (else
 * the row kernel runs).
 */
export function spmm(a: SparseMatrix, x: Tensor, opts: SparseOpOptions = {}): Tensor {
  if (!(a instanceof SparseMatrix)) throw new ArgumentError('a', 'a SparseMatrix', describe(a));
  a.check();
  const rt = a.rt;
  checkTensor('x', x, rt);
  if (x.shape.length !== 2 || x.shape[0] !== a.cols) throw new ShapeError('x', `[${a.cols}, n]`, fmtShape(x.shape));
  const n = x.shape[1];
  const bias = checkBias(opts, a.rows, rt);
  const y = destinationOf(opts, [a.rows, n], rt, bias ? [x, bias] : [x]);
  // One sample: through Aᵀ dense when dense enough, else by columns, skipping the inputs that
  // are zero either way (same bits, see assembly/sparse.ts and gemm.ts).
  const dense = n === 1 && !opts.scalar ? a.byDenseColumns() : null;
  if (dense) {
    rt.k.gemv_f32_skip_zeros(a.rows, a.cols, x.ptr, dense, a.rows, bias ? bias.ptr : 0, y.ptr);
    return y;
  }
  const cols = n === 1 && !opts.scalar ? a.byColumns() : null;
  if (cols) {
    rt.k.spmv_f32_csc(a.rows, a.cols, cols.colPtr, cols.rowIdx, cols.values, x.ptr, bias ? bias.ptr : 0, y.ptr);
    return y;
  }
  const f = opts.scalar ? rt.k.spmm_f32_csr_scalar : rt.k.spmm_f32_csr;
  f(a.rows, a.cols, n, a.rowPtrPtr, a.colIdxPtr, a.wide ? 1 : 0, a.valuesPtr, x.ptr, n, bias ? bias.ptr : 0, y.ptr, n);
  return y;
}

/** 2-D transpose: `x` [r, c] → [c, r]. */
export function transpose(x: Tensor, opts: { out?: Tensor; scalar?: boolean } = {}): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError('x', 'a Tensor', describe(x));
  const rt = x.rt;
  checkTensor('x', x, rt);
  if (x.shape.length !== 2) throw new ShapeError('x', 'a 2-D tensor', fmtShape(x.shape));
  const [r, c] = x.shape;
  const y = destinationOf(opts, [c, r], rt, [x]);
  (opts.scalar ? rt.k.transpose_f32_scalar : rt.k.transpose_f32)(r, c, x.ptr, c, y.ptr, r);
  return y;
}

/**
 * Sparse 2-D convolution, NHWC: `x` [N, H, W, C], `w` the CSR of the weights as A [F, KH·KW·C]
 * (row f lists the taps (ky·KW + kx)·C + ci of filter f), `g` its window; returns [N, OH, OW, F].
 */
export function sparseConv2d(x: Tensor, w: SparseMatrix, g: ConvGeometry, opts: SparseOpOptions = {}): Tensor {
  if (!(w instanceof SparseMatrix)) throw new ArgumentError('w', 'a SparseMatrix', describe(w));
  w.check();
  const rt = w.rt;
  checkTensor('x', x, rt);
  if (x.shape.length !== 4) throw new ShapeError('x', '[N, H, W, C]', fmtShape(x.shape));
  const [n, h, wd, c] = x.shape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.pad;
  for (const [k, v, min] of [['kernel', kh, 1], ['kernel', kw, 1], ['stride', sh, 1], ['stride', sw, 1], ['pad', ph, 0], ['pad', pw, 0]] as const) {
    checkInt(`geometry.${k}`, v, min, 1 << 20);
  }
  if (w.cols !== kh * kw * c) throw new ShapeError('w', `${kh}·${kw}·${c} = ${kh * kw * c} columns`, `${w.cols}`);
  if (w.cols > MAX_CONV_K || w.rows > MAX_CONV_K) throw new ShapeError('w', `at most ${MAX_CONV_K} rows and columns`, `[${w.rows}, ${w.cols}]`);
  const out = windowOutputSize(h, wd, kh, kw, sh, sw, ph, pw);
  if (!(n > 0 && out && c > 0 && w.rows > 0)) throw new ShapeError('x', `an input of at least ${kh}×${kw} pixels after padding`, fmtShape(x.shape));
  const [oh, ow] = out;
  const bias = checkBias(opts, w.rows, rt);
  const y = destinationOf(opts, [n, oh, ow, w.rows], rt, bias ? [x, bias] : [x]);
  const k = rt.k;
  const scratch = opts.scalar ? 0 : rt.workspace(Math.max(16, k.conv2d_sparse_scratch_bytes(n, h, wd, c, w.rows, kh, kw, sh, sw, ph, pw)));
  (opts.scalar ? k.conv2d_sparse_f32_nhwc_scalar : k.conv2d_sparse_f32_nhwc)(n, h, wd, c, w.rows, kh, kw, sh, sw, ph, pw,
    w.rowPtrPtr, w.colIdxPtr, w.wide ? 1 : 0, w.valuesPtr, 0, x.ptr, bias ? bias.ptr : 0, y.ptr, scratch);
  return y;
}
