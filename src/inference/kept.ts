/**
 * The compact weight coding of sparse model files from version 4: a matrix stores only its kept
 * entries, their values (f32, unchanged, so a loaded model computes the saved one's bits) and
 * their row-major positions as gaps of one byte each. A gap g (entries skipped since the previous
 * kept one) below 255 is the byte g; a longer one is the byte 255 followed by g − 255 as an
 * unsigned LEB128 varint (at most 8 bytes). CSR steps (rows = units, columns = inputs) lose their
 * u32 row pointers and u16/u32 column indices, dense-stored steps their zeros.
 *
 * Decoding checks everything before anything is allocated in wasm memory: the count, the index
 * bytes consumed exactly, every position inside the matrix; a dense matrix rebuilt from its kept
 * entries is charged to the reader's expansion budget ({@link ContainerReader.expand}), and the
 * writer codes a dense matrix compactly only when at least 1/8 of it is kept (see
 * {@link MIN_DENSE_DENSITY}), so files it writes stay within that budget.
 * @module
 */
import type { Csr } from '../ops/spmm.js';
import { ContainerReader, PayloadWriter, SegmentRef, bad, isInt, isObject, show } from '../container.js';

/** Smallest kept fraction for which a dense-stored matrix is written compactly (else in full). */
export const MIN_DENSE_DENSITY = 1 / 8;

/** Longest varint of a long gap (8 × 7 bits cover every position below 2^53). */
const MAX_VARINT = 8;

/** The gap bytes of increasing positions `pos[0..n)` (see the module comment). */
export function encodeGaps(pos: ArrayLike<number>, n: number): Uint8Array {
  let size = 0;
  for (let k = 0, prev = -1; k < n; prev = pos[k], k++) {
    let g = pos[k] - prev - 1;
    size++;
    if (g >= 255) for (g -= 255; ; g = Math.floor(g / 128)) {
      size++;
      if (g < 128) break;
    }
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (let k = 0, prev = -1; k < n; prev = pos[k], k++) {
    let g = pos[k] - prev - 1;
    if (g < 255) {
      out[o++] = g;
      continue;
    }
    out[o++] = 255;
    for (g -= 255; g >= 128; g = Math.floor(g / 128)) out[o++] = (g % 128) | 128;
    out[o++] = g;
  }
  return out;
}

/**
 * The positions coded by `bytes` (field `f`): exactly `nnz` of them, increasing, each below
 * `total`, consuming every byte. Throws {@link ModelFormatError} otherwise.
 */
export function decodeGaps(f: string, bytes: Uint8Array, nnz: number, total: number): Float64Array {
  const pos = new Float64Array(nnz);
  decodeInto(f, bytes, nnz, total, total, null, pos);
  return pos;
}

/**
 * Decode the positions of `bytes` (as {@link decodeGaps} checks them) in one pass as a row-major
 * matrix of `cols` columns: each position's column into `col`, and, with `rowPtr` (rows + 1,
 * zeroed), each row's first entry (a matrix of one row, cols = total, needs none: `col` gets
 * the positions).
 */
function decodeInto(f: string, bytes: Uint8Array, nnz: number, total: number, cols: number, rowPtr: Uint32Array | null, col: Uint16Array | Uint32Array | Float64Array): void {
  const n = bytes.length;
  let o = 0, p = -1, row = 0, rowStart = 0;
  for (let k = 0; k < nnz; k++) {
    if (o >= n) bad(f, `${nnz} positions`, `bytes for ${k}`);
    let g = bytes[o++];
    if (g === 255) {
      let v = 0, scale = 1, b = 128;
      for (let i = 0; b & 128; i++) {
        if (i === MAX_VARINT || o >= n) bad(f, 'a gap varint of at most 8 bytes inside the index', `one at entry ${k}`);
        b = bytes[o++];
        v += (b & 127) * scale;
        scale *= 128;
      }
      g = 255 + v;
    }
    p += g + 1;
    if (p >= total) bad(f, `positions below ${total}`, `${p} at entry ${k}`);
    while (p - rowStart >= cols) {
      rowPtr![++row] = k;
      rowStart += cols;
    }
    col[k] = p - rowStart;
  }
  if (o !== n) bad(f, `${n} index bytes for ${nnz} positions`, `${n - o} bytes left over`);
  rowPtr?.fill(nnz, row + 1);
}

/** Read a compact index segment: u8 bytes, at least one per entry. */
function readIndex(r: ContainerReader, f: string, ref: unknown, nnz: number): Uint8Array {
  if (!isObject(ref) || !isInt(ref.length) || ref.length < nnz || ref.length > r.payloadBytes) bad(`${f}`, `a segment of ${nnz} to ${r.payloadBytes} index bytes`, show(ref));
  return r.read(f, ref, 'u8', ref.length as number);
}

/** The kept count `nnz` of a compact entry: an integer up to `total` whose values fit the payload. */
function keptCount(f: string, v: unknown, total: number, r: ContainerReader): number {
  if (!isInt(v) || v > total || v * 5 > r.payloadBytes) bad(f, `an integer in [0, min(${total}, payload/5)]`, show(v));
  return v;
}

/** True when the columns of every row of `c` increase (the order a position coding keeps). */
export function columnsIncrease(c: Csr): boolean {
  for (let i = 0; i < c.rows; i++) {
    for (let q = c.rowPtr[i] + 1; q < c.rowPtr[i + 1]; q++) if (c.colIdx[q] <= c.colIdx[q - 1]) return false;
  }
  return true;
}

/** Header entry of CSR `c` coded compactly (its columns must increase within rows, see {@link columnsIncrease}). */
export function writeCsrCompact(w: PayloadWriter, c: Csr): Record<string, unknown> {
  const nnz = c.values.length, pos = new Float64Array(nnz);
  for (let i = 0; i < c.rows; i++) for (let q = c.rowPtr[i]; q < c.rowPtr[i + 1]; q++) pos[q] = i * c.cols + c.colIdx[q];
  return { rows: c.rows, cols: c.cols, nnz, index: w.add(encodeGaps(pos, nnz)), values: w.add(c.values) };
}

/** Read a compact CSR entry `c` (field `f`) of `rows` × `cols`; the result meets checkCsr by construction. */
export function readCsrCompact(r: ContainerReader, c: Record<string, unknown>, f: string, rows: number, cols: number): Csr {
  const nnz = keptCount(`${f}.nnz`, c.nnz, rows * cols, r);
  const bytes = readIndex(r, `${f}.index`, c.index, nnz);
  const values = r.read(`${f}.values`, c.values, 'f32', nnz);
  const rowPtr = new Uint32Array(rows + 1);
  const colIdx = cols <= 65536 ? new Uint16Array(nnz) : new Uint32Array(nnz);
  decodeInto(`${f}.index`, bytes, nnz, rows * cols, cols, rowPtr, colIdx);
  return { rows, cols, rowPtr, colIdx, values };
}

/** Positions of the entries of `a` (and of `b`, when given) that are not +0 (so −0 is kept, bit for bit). */
function keptPositions(a: Float32Array, b: Float32Array | null): Uint32Array {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = b ? new Uint32Array(b.buffer, b.byteOffset, b.length) : null;
  let n = 0;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== 0 || (ub && ub[i] !== 0)) n++;
  const pos = new Uint32Array(n);
  for (let i = 0, k = 0; i < ua.length; i++) if (ua[i] !== 0 || (ub && ub[i] !== 0)) pos[k++] = i;
  return pos;
}

/** A dense matrix's kept entries, as written: positions and the values (and variances) there. */
export interface DenseKept {
  positions: Uint32Array;
  values: Float32Array;
  variance: Float32Array | null;
}

/**
 * The compact form of dense `weights` (with their variances, when the step keeps them), or null
 * when the full array is the better one: fewer than {@link MIN_DENSE_DENSITY} kept (the reader's
 * expansion budget), or no bytes saved.
 */
export function denseKept(weights: Float32Array, variance: Float32Array | null): DenseKept | null {
  const positions = keptPositions(weights, variance), nnz = positions.length, n = weights.length;
  const per = variance ? 8 : 4;
  if (nnz < n * MIN_DENSE_DENSITY || nnz * (per + 1) >= n * per) return null;
  return { positions, values: gather(weights, positions), variance: variance ? gather(variance, positions) : null };
}

function gather(a: Float32Array, pos: Uint32Array): Float32Array {
  const out = new Float32Array(pos.length);
  for (let k = 0; k < pos.length; k++) out[k] = a[pos[k]];
  return out;
}

/** Header entry `{nnz, index, values}` of kept entries `d` (the variances are the caller's to place). */
export function writeDenseKept(w: PayloadWriter, d: DenseKept): { nnz: number; index: SegmentRef; values: SegmentRef } {
  return { nnz: d.positions.length, index: w.add(encodeGaps(d.positions, d.positions.length)), values: w.add(d.values) };
}

/**
 * Read the kept entries `e` (`{nnz, index, values}`, field `f`) of a dense matrix of `n` values;
 * charges the full matrix to the reader's expansion budget. Returns the positions (for the
 * variances, see {@link expandKept}) and the full matrix.
 */
export function readDenseKept(r: ContainerReader, e: unknown, f: string, n: number): { positions: Float64Array; weights: Float32Array } {
  if (!isObject(e)) bad(f, 'a {nnz, index, values} object', show(e));
  const nnz = keptCount(`${f}.nnz`, e.nnz, n, r);
  r.expand(f, 4 * n);
  const bytes = readIndex(r, `${f}.index`, e.index, nnz);
  const values = r.read(`${f}.values`, e.values, 'f32', nnz);
  const positions = decodeGaps(`${f}.index`, bytes, nnz, n);
  return { positions, weights: expandKept(positions, values, n) };
}

/** The full array of `n` with `values[k]` at `positions[k]` and +0 elsewhere. */
export function expandKept(positions: Float64Array, values: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let k = 0; k < positions.length; k++) out[positions[k]] = values[k];
  return out;
}
