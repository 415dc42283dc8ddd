/**
 * The embedding and recurrent steps of a {@link SparseModel}: what `prune` makes of an
 * `embedding` or `recurrent` inference form ({@link EmbeddingForm}, {@link RecurrentForm}), their
 * validation (in memory and from files, everything checked before anything is allocated) and
 * their forward pass.
 *
 * - Embedding: words whose row is all dropped leave the table; they, and the padding id, read as
 *   the zero row, as in the masked model. The step keeps `remap` [vocab] (0 = the zero row, k > 0
 *   = row k − 1 of `table`).
 * - Recurrent: W_x [inputs, G·units] and W_h [units, G·units] each stored as CSR by input rows
 *   (`csr_rows_gemm_f32`: a multiply-add per kept weight) or dense (one GEMM for all steps'
 *   input products, the fused cell kernel through time) by the same crossover as dense layers.
 *   Hidden units whose state feeds nothing (their W_h row and their row of the next layer all
 *   dropped) are removed with their G gate columns and the next layer's rows.
 *
 * Outputs equal the masked dense model's up to the order of the sums.
 * @module
 */
import { ArgumentError, ModelFormatError, describe } from '../errors.js';
import { MAX_ELEMENTS, Shape, Tensor, fmtShape } from '../tensor.js';
import type { EmbeddingForm, Layer, RecurrentForm } from '../layers/layer.js';
import type { Runtime } from '../runtime/runtime.js';
import { matmul } from '../ops/gemm.js';
import { Csr, checkCsr, csrByRows } from '../ops/spmm.js';
import { RowsCsrWeights, csrRowsGemm, embeddingLookup, gruCell, gruForward, lstmCell, lstmForward, stepMask, swapOuter } from '../ops/rnn.js';
import { ContainerReader, PayloadWriter, bad, isInt, isObject, show } from '../container.js';
import { reusedBuffer } from '../layers/layer.js';
import { columnsIncrease, readCsrCompact, writeCsrCompact } from './kept.js';

type ErrClass = typeof ArgumentError | typeof ModelFormatError;

/** A recurrent weight matrix W [rows, cols] row-major: dense, or CSR by rows (`csr.rows` = rows). */
export type RecurrentWeights = { weights: Float32Array } | { csr: Csr };

/** Embedding step: ids [T] → [T, dim]. */
export type EmbeddingStepSpec = {
  kind: 'embedding';
  vocab: number;
  dim: number;
  /** [vocab]: 0 the zero row (padding, removed words), k > 0 row k − 1 of `table`. */
  remap: Uint32Array;
  /** Kept rows [kept, dim]. */
  table: Float32Array;
};

/** Recurrent step: [T, inputs] → [T, units] (`returnSequences`) or [units]. */
export type RecurrentStepSpec = {
  kind: 'recurrent';
  cell: 'lstm' | 'gru';
  inputs: number;
  units: number;
  returnSequences: boolean;
  masking: boolean;
  /** W_x [inputs, G·units]. */
  wx: RecurrentWeights;
  /** W_h [units, G·units]. */
  wh: RecurrentWeights;
  bias: Float32Array | null;
  recurrentBias: Float32Array | null;
};

/** Indices stay exact as float32 integers (the row-CSR kernel reads them as f32). */
const MAX_F32_INT = 1 << 24;

const gatesOf = (cell: 'lstm' | 'gru'): number => (cell === 'lstm' ? 4 : 3);

/* ------------------------------------------------------------------ prune: compaction */

/** Per row of W [rows, cols]: whether it holds a nonzero. */
function rowsInUse(w: Float32Array, rows: number): Uint8Array {
  const cols = w.length / rows, out = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (w[r * cols + c] !== 0) {
        out[r] = 1;
        break;
      }
    }
  }
  return out;
}

/** What a recurrent layer's output feeds, as `prune` holds it: a dense layer (rows of `w`) or a recurrent layer (rows of `wx`). */
export type NextProto = { kind: 'linear'; inputs: number; w: Float32Array; geometry?: unknown } | RecurrentForm;

/** The rows of `next` that read `a`'s output unit by unit, or null when `next` is not such a layer. */
function nextRows(a: RecurrentForm, next: { kind: string } | undefined): Float32Array | null {
  if (!next) return null;
  if (next.kind === 'recurrent' && a.returnSequences && (next as RecurrentForm).inputs === a.units) return (next as RecurrentForm).wx;
  const l = next as Extract<NextProto, { kind: 'linear' }>;
  if (next.kind === 'linear' && !l.geometry && !a.returnSequences && l.inputs === a.units) return l.w;
  return null;
}

/**
 * Hidden units of recurrent form `a` still in use, ascending: unit j stays when a weight of its
 * W_h row is kept or (when `next` reads `a` unit by unit: a dense layer after the last state, a
 * recurrent layer after the sequence) a weight of its input row of `next`. With any other
 * successor, or none, every unit stays (its state is an output).
 */
export function keptUnits(a: RecurrentForm, next: { kind: string } | undefined): Int32Array {
  const H = a.units, rows = nextRows(a, next);
  if (!rows) return Int32Array.from({ length: H }, (_, j) => j);
  const own = rowsInUse(a.wh, H), out = rowsInUse(rows, H);
  const keep: number[] = [];
  for (let j = 0; j < H; j++) if (own[j] || out[j]) keep.push(j);
  return Int32Array.from(keep);
}

/**
 * Hidden units of recurrent `layer` still in use after pruning, ascending (see {@link keptUnits}):
 * those whose W_h row or whose input row of the `next` layer keeps a weight.
 * @param layer A recurrent layer (its {@link Layer.inference} form is `recurrent`), built.
 * @param next The layer after it, if any.
 */
export function recurrentKeptUnits(layer: Layer, next?: Layer): Int32Array {
  const f = layer?.inference?.();
  if (f?.kind !== 'recurrent') throw new ArgumentError('layer', 'a built recurrent layer', describe(layer));
  const n = next?.inference();
  const nextProto: { kind: string } | undefined = n?.kind === 'linear' ? { kind: 'linear', inputs: n.weights.length / n.units, w: n.weights, geometry: n.geometry } as NextProto : n;
  return keptUnits(f, nextProto);
}

/** The number of {@link recurrentKeptUnits}. */
export function recurrentUnitsKept(layer: Layer, next?: Layer): number {
  return recurrentKeptUnits(layer, next).length;
}

/**
 * Remove the unused hidden units ({@link keptUnits}) of every recurrent form in `protos` (edited
 * in place: its gate columns, W_h rows and biases, and the rows of the layer after it). At least
 * one unit stays, so no tensor is empty.
 */
export function compactRecurrent(protos: { kind: string }[]): void {
  for (let i = 0; i < protos.length; i++) {
    if (protos[i].kind !== 'recurrent') continue;
    const a = protos[i] as RecurrentForm, next = protos[i + 1];
    const rows = nextRows(a, next);
    if (!rows) continue;
    let keep = keptUnits(a, next);
    if (keep.length === 0) keep = Int32Array.of(0);
    const H = a.units, K = keep.length, G = gatesOf(a.cell);
    if (K === H) continue;
    const cols = Int32Array.from({ length: G * K }, (_, c) => Math.floor(c / K) * H + keep[c % K]);
    const pickCols = (w: Float32Array, rowIds: ArrayLike<number>): Float32Array => {
      const out = new Float32Array(rowIds.length * cols.length);
      for (let r = 0; r < rowIds.length; r++) for (let c = 0; c < cols.length; c++) out[r * cols.length + c] = w[rowIds[r] * G * H + cols[c]];
      return out;
    };
    const pickRows = (w: Float32Array): Float32Array => {
      const n = w.length / H, out = new Float32Array(K * n);
      keep.forEach((j, k) => out.set(w.subarray(j * n, (j + 1) * n), k * n));
      return out;
    };
    a.wx = pickCols(a.wx, Int32Array.from({ length: a.inputs }, (_, r) => r));
    a.wh = pickCols(a.wh, keep);
    if (a.bias) a.bias = Float32Array.from(cols, (c) => a.bias![c]);
    if (a.recurrentBias) a.recurrentBias = Float32Array.from(cols, (c) => a.recurrentBias![c]);
    a.units = K;
    if (next.kind === 'recurrent') {
      const b = next as RecurrentForm;
      b.wx = pickRows(b.wx);
      b.inputs = K;
    } else {
      const b = next as Extract<NextProto, { kind: 'linear' }>;
      b.w = pickRows(b.w);
      b.inputs = K;
    }
  }
}

/** The step of an embedding form: the words whose row holds a nonzero (other than the padding id), the rest mapped to the zero row. */
export function embeddingSpec(f: EmbeddingForm): EmbeddingStepSpec {
  const { vocab: V, dim: D } = f;
  const used = rowsInUse(f.table, V);
  const remap = new Uint32Array(V), rows: number[] = [];
  for (let v = 0; v < V; v++) if (used[v] && v !== f.zeroId) remap[v] = rows.push(v);
  const table = new Float32Array(rows.length * D);
  rows.forEach((v, k) => table.set(f.table.subarray(v * D, (v + 1) * D), k * D));
  return { kind: 'embedding', vocab: V, dim: D, remap, table };
}

/** The step of a recurrent form; `sparse(density)` says whether to store a matrix of that density as CSR. */
export function recurrentSpec(f: RecurrentForm, sparse: (density: number) => boolean): RecurrentStepSpec {
  const GH = gatesOf(f.cell) * f.units;
  const store = (w: Float32Array, rows: number): RecurrentWeights => {
    let nnz = 0;
    for (let i = 0; i < w.length; i++) if (w[i] !== 0) nnz++;
    return sparse(nnz / Math.max(w.length, 1)) ? { csr: csrByRows(w, rows, GH) } : { weights: w };
  };
  return {
    kind: 'recurrent', cell: f.cell, inputs: f.inputs, units: f.units, returnSequences: f.returnSequences, masking: f.masking,
    wx: store(f.wx, f.inputs), wh: store(f.wh, f.units), bias: f.bias, recurrentBias: f.recurrentBias,
  };
}

/* ------------------------------------------------------------------ shapes and checks */

/** Output shape of an embedding or recurrent step on `inShape`; throws `Err` naming `f` when they do not fit. */
export function sequenceStepShape(s: EmbeddingStepSpec | RecurrentStepSpec, inShape: Shape, f: string, Err: ErrClass): Shape {
  if (s.kind === 'embedding') {
    if (inShape.length !== 1) throw new Err(`${f}.kind`, `a step for ${fmtShape(inShape)}`, 'an embedding (needs [steps] of token ids)');
    return [inShape[0], s.dim];
  }
  if (inShape.length !== 2 || inShape[1] !== s.inputs) throw new Err(`${f}.inputs`, `the incoming ${fmtShape(inShape)} as [steps, inputs]`, String(s.inputs));
  return s.returnSequences ? [inShape[0], s.units] : [s.units];
}

function checkFloats(f: string, a: unknown, n: number, Err: ErrClass): void {
  if (!(a instanceof Float32Array) || a.length !== n) throw new Err(f, `a Float32Array of ${n}`, describe(a));
  for (let i = 0; i < n; i++) if (a[i] - a[i] !== 0) throw new Err(`${f}[${i}]`, 'a finite value', String(a[i]));
}

function checkWeights(f: string, w: RecurrentWeights, rows: number, cols: number, Err: ErrClass): void {
  if (!isObject(w)) throw new Err(f, 'a {weights} or {csr} object', show(w));
  if ('csr' in w) {
    checkCsr(`${f}.csr`, w.csr, Err);
    if (w.csr.rows !== rows || w.csr.cols !== cols) throw new Err(`${f}.csr`, `[${rows}, ${cols}]`, `[${w.csr.rows}, ${w.csr.cols}]`);
    if (w.csr.values.length > MAX_F32_INT) throw new Err(`${f}.csr.values`, `at most ${MAX_F32_INT} nonzeros`, String(w.csr.values.length));
  } else checkFloats(`${f}.weights`, w.weights, rows * cols, Err);
}

const sizeOk = (v: unknown, max = MAX_ELEMENTS): v is number => isInt(v) && v >= 1 && v <= max;

/** Field-level checks of an embedding or recurrent spec built in memory. */
export function checkSequenceSpec(s: EmbeddingStepSpec | RecurrentStepSpec, f: string, Err: ErrClass): void {
  if (s.kind === 'embedding') {
    if (!sizeOk(s.vocab, MAX_F32_INT)) throw new Err(`${f}.vocab`, `an integer in [1, ${MAX_F32_INT}]`, show(s.vocab));
    if (!sizeOk(s.dim)) throw new Err(`${f}.dim`, `an integer in [1, ${MAX_ELEMENTS}]`, show(s.dim));
    if (!(s.table instanceof Float32Array) || s.table.length % s.dim !== 0) throw new Err(`${f}.table`, `a Float32Array of [kept, ${s.dim}]`, describe(s.table));
    checkFloats(`${f}.table`, s.table, s.table.length, Err);
    checkRemap(`${f}.remap`, s.remap, s.vocab, s.table.length / s.dim, Err);
    return;
  }
  if (s.cell !== 'lstm' && s.cell !== 'gru') throw new Err(`${f}.cell`, '"lstm" or "gru"', show(s.cell));
  if (!sizeOk(s.inputs) || !sizeOk(s.units)) throw new Err(`${f}.units`, 'positive integers inputs and units', `${show(s.inputs)}, ${show(s.units)}`);
  if (typeof s.returnSequences !== 'boolean' || typeof s.masking !== 'boolean') throw new Err(`${f}.returnSequences`, 'booleans returnSequences and masking', `${show(s.returnSequences)}, ${show(s.masking)}`);
  const GH = gatesOf(s.cell) * s.units;
  checkWeights(`${f}.wx`, s.wx, s.inputs, GH, Err);
  checkWeights(`${f}.wh`, s.wh, s.units, GH, Err);
  if (s.bias) checkFloats(`${f}.bias`, s.bias, GH, Err);
  if (s.recurrentBias) {
    if (s.cell !== 'gru') throw new Err(`${f}.recurrentBias`, 'null for an LSTM', describe(s.recurrentBias));
    checkFloats(`${f}.recurrentBias`, s.recurrentBias, GH, Err);
  }
}

function checkRemap(f: string, remap: unknown, vocab: number, kept: number, Err: ErrClass): void {
  if (!(remap instanceof Uint32Array) || remap.length !== vocab) throw new Err(f, `a Uint32Array of ${vocab}`, describe(remap));
  for (let v = 0; v < vocab; v++) if (remap[v] > kept) throw new Err(`${f}[${v}]`, `a row in [0, ${kept}]`, String(remap[v]));
}

/* ------------------------------------------------------------------ files */

/**
 * Read and check one CSR field `c` ({rows, cols, nnz, rowPtr, colIdx, values}) of `rows` × `cols`:
 * nnz bounded by the payload before anything of that size is allocated, then the structure.
 */
export function readCsrField(r: ContainerReader, c: unknown, f: string, rows: number, cols: number): Csr {
  if (!isObject(c)) bad(f, 'a {rows, cols, nnz, rowPtr, colIdx, values} object', show(c));
  if (c.rows !== rows) bad(`${f}.rows`, String(rows), show(c.rows));
  if (c.cols !== cols) bad(`${f}.cols`, String(cols), show(c.cols));
  if (rows + 1 > r.payloadBytes / 4) bad(`${f}.rows`, 'row pointers fitting the payload', String(rows));
  if (r.version >= 4 && c.index !== undefined) return readCsrCompact(r, c, f, rows, cols);
  const nnz = c.nnz;
  if (!isInt(nnz) || nnz > rows * cols || nnz * 6 > r.payloadBytes) bad(`${f}.nnz`, `an integer in [0, min(${rows}·${cols}, payload/6)]`, show(nnz));
  const rowPtr = r.read(`${f}.rowPtr`, c.rowPtr, 'u32', rows + 1);
  const colIdx = cols <= 65536 ? r.read(`${f}.colIdx`, c.colIdx, 'u16', nnz) : r.read(`${f}.colIdx`, c.colIdx, 'u32', nnz);
  const values = r.read(`${f}.values`, c.values, 'f32', nnz);
  const out = { rows, cols, rowPtr, colIdx, values };
  checkCsr(f, out, ModelFormatError);
  return out;
}

/** Write a CSR's header entry, its arrays appended to `w`. */
export function writeCsrField(w: PayloadWriter, c: Csr): Record<string, unknown> {
  if (w.compact && columnsIncrease(c)) return writeCsrCompact(w, c);
  return { rows: c.rows, cols: c.cols, nnz: c.values.length, rowPtr: w.add(c.rowPtr), colIdx: w.add(c.colIdx), values: w.add(c.values) };
}

/** Read and check an `embedding` or `recurrent` step entry `e` of a file against the incoming per-sample shape. */
export function readSequenceStep(r: ContainerReader, e: Record<string, unknown>, f: string, inShape: Shape): EmbeddingStepSpec | RecurrentStepSpec {
  const int = (k: string, max = MAX_ELEMENTS): number => {
    const v = e[k];
    if (!sizeOk(v, max)) bad(`${f}.${k}`, `an integer in [1, ${max}]`, show(v));
    return v;
  };
  const fits = (n: number, k: string) => {
    if (n * 4 > r.payloadBytes) bad(`${f}.${k}`, `at most ${r.payloadBytes / 4} values (the payload)`, String(n));
  };
  if (e.kind === 'embedding') {
    if (inShape.length !== 1) bad(`${f}.kind`, `a step for ${fmtShape(inShape)}`, 'an embedding (needs [steps] of token ids)');
    const vocab = int('vocab', MAX_F32_INT), dim = int('dim');
    fits(vocab, 'vocab');
    const kept = e.kept;
    if (!isInt(kept) || kept > vocab || kept * dim * 4 > r.payloadBytes) bad(`${f}.kept`, `an integer in [0, ${vocab}] whose rows fit the payload`, show(kept));
    const remap = r.read(`${f}.remap`, e.remap, 'u32', vocab);
    checkRemap(`${f}.remap`, remap, vocab, kept, ModelFormatError);
    return { kind: 'embedding', vocab, dim, remap, table: r.read(`${f}.table`, e.table, 'f32', kept * dim) };
  }
  if (e.cell !== 'lstm' && e.cell !== 'gru') bad(`${f}.cell`, '"lstm" or "gru"', show(e.cell));
  const cell = e.cell as 'lstm' | 'gru';
  const inputs = int('inputs'), units = int('units');
  if (inShape.length !== 2 || inShape[1] !== inputs) bad(`${f}.inputs`, `${fmtShape(inShape)} as [steps, inputs]`, String(inputs));
  for (const k of ['returnSequences', 'masking'] as const) if (typeof e[k] !== 'boolean') bad(`${f}.${k}`, 'a boolean', show(e[k]));
  const GH = gatesOf(cell) * units;
  fits(GH, 'units');
  const weights = (k: 'wx' | 'wh', rows: number): RecurrentWeights => {
    const v = e[k];
    if (!isObject(v)) bad(`${f}.${k}`, 'a {weights} or {csr} object', show(v));
    if (v.csr !== undefined) {
      const csr = readCsrField(r, v.csr, `${f}.${k}.csr`, rows, GH);
      if (csr.values.length > MAX_F32_INT) bad(`${f}.${k}.csr.nnz`, `at most ${MAX_F32_INT}`, String(csr.values.length));
      return { csr };
    }
    fits(rows * GH, `${k}.weights`);
    return { weights: r.read(`${f}.${k}.weights`, v.weights, 'f32', rows * GH) };
  };
  const wx = weights('wx', inputs), wh = weights('wh', units);
  const vec = (k: string): Float32Array | null => (e[k] === null || e[k] === undefined ? null : r.read(`${f}.${k}`, e[k], 'f32', GH));
  const bias = vec('bias'), recurrentBias = vec('recurrentBias');
  if (recurrentBias && cell !== 'gru') bad(`${f}.recurrentBias`, 'null for an LSTM', 'a segment');
  return { kind: 'recurrent', cell, inputs, units, returnSequences: e.returnSequences as boolean, masking: e.masking as boolean, wx, wh, bias, recurrentBias };
}

/** The header entry of an `embedding` or `recurrent` step, its arrays appended to `w`. */
export function writeSequenceStep(w: PayloadWriter, s: EmbeddingStepSpec | RecurrentStepSpec): Record<string, unknown> {
  if (s.kind === 'embedding') return { kind: s.kind, vocab: s.vocab, dim: s.dim, kept: s.table.length / s.dim, remap: w.add(s.remap), table: w.add(s.table) };
  const mat = (m: RecurrentWeights) => ('csr' in m ? { csr: writeCsrField(w, m.csr) } : { weights: w.add(m.weights) });
  const seg = (a: Float32Array | null) => (a ? w.add(a) : null);
  return {
    kind: s.kind, cell: s.cell, inputs: s.inputs, units: s.units, returnSequences: s.returnSequences, masking: s.masking,
    wx: mat(s.wx), wh: mat(s.wh), bias: seg(s.bias), recurrentBias: seg(s.recurrentBias),
  };
}

/* ------------------------------------------------------------------ forward */

/** Summary figures of a step: values held, weights stored, their dense equivalent, nonzeros. */
export interface SequenceStepCounts {
  params: number;
  weights: number;
  denseWeights: number;
  kept: number;
}

function nonzeros(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) n++;
  return n;
}

/** A recurrent weight matrix in wasm memory: a dense tensor or row-CSR with f32 indices. */
type Mat = { dense: Tensor } | { rows: RowsCsrWeights };

/** The wasm-resident operands and forward of an `embedding` or `recurrent` step of a sparse model. */
export class SequenceStep {
  readonly counts: SequenceStepCounts;
  private readonly bufs = new Map<string, Tensor>();
  private readonly owned: Tensor[] = [];
  private table?: Tensor;
  private wx?: Mat;
  private wh?: Mat;
  private bias: Tensor | null = null;
  private rbias: Tensor | null = null;

  /** Allocate the operands of `spec` for the per-sample input `inShape` (already checked against it). */
  constructor(readonly spec: EmbeddingStepSpec | RecurrentStepSpec, private readonly inShape: Shape, private readonly rt: Runtime) {
    try {
      if (spec.kind === 'embedding') {
        const t = new Float32Array(spec.table.length + spec.dim);
        t.set(spec.table, spec.dim); // row 0: the zero row
        this.table = this.own(Tensor.from(t, [t.length / spec.dim, spec.dim], rt));
        const n = nonzeros(spec.table);
        this.counts = { params: spec.table.length, weights: spec.table.length, denseWeights: spec.vocab * spec.dim, kept: n };
      } else {
        const GH = gatesOf(spec.cell) * spec.units;
        this.wx = this.mat(spec.wx, spec.inputs, GH);
        this.wh = this.mat(spec.wh, spec.units, GH);
        if (spec.bias) this.bias = this.own(Tensor.from(spec.bias, [GH], rt));
        if (spec.recurrentBias) this.rbias = this.own(Tensor.from(spec.recurrentBias, [GH], rt));
        const stored = (m: RecurrentWeights) => ('csr' in m ? m.csr.values : m.weights);
        const weights = stored(spec.wx).length + stored(spec.wh).length;
        const kept = nonzeros(stored(spec.wx)) + nonzeros(stored(spec.wh));
        const biases = (spec.bias?.length ?? 0) + (spec.recurrentBias?.length ?? 0);
        this.counts = { params: weights + biases, weights, denseWeights: (spec.inputs + spec.units) * GH, kept };
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private own(t: Tensor): Tensor {
    this.owned.push(t);
    return t;
  }

  private mat(m: RecurrentWeights, rows: number, cols: number): Mat {
    if ('weights' in m) return { dense: this.own(Tensor.from(m.weights, [rows, cols], this.rt)) };
    const c = m.csr, t = (a: ArrayLike<number>) => this.own(Tensor.from(Float32Array.from(a.length ? a : [0]), [Math.max(1, a.length)], this.rt));
    return { rows: { rows, cols, rowPtr: t(c.rowPtr), colIdx: t(c.colIdx), vals: t(c.values) } };
  }

  private buf(k: string, shape: Shape): Tensor {
    return reusedBuffer(this.bufs, k, shape, this.rt);
  }

  /** x [B, ...inShape] → [B, ...outShape] (owned by the step, valid until the next call). */
  forward(x: Tensor): Tensor {
    const s = this.spec, B = x.shape[0];
    if (s.kind === 'embedding') {
      const n = x.size, src = x.view();
      const ids = this.buf('ids', [n]), iv = ids.view();
      for (let i = 0; i < n; i++) {
        const v = src[i];
        if (!(Number.isInteger(v) && v >= 0 && v < s.vocab)) throw new ArgumentError('x', `token ids: integers in [0, ${s.vocab})`, `${v} at index ${i}`);
        iv[i] = s.remap[v];
      }
      return embeddingLookup(ids, this.table!, this.buf('y', [B, this.inShape[0], s.dim]), 0);
    }
    return this.recurrent(s, x, B);
  }

  private recurrent(s: RecurrentStepSpec, x: Tensor, B: number): Tensor {
    const T = this.inShape[0], I = s.inputs, H = s.units, GH = gatesOf(s.cell) * H;
    const x3 = x.reshape([B, T, I]);
    const mask = s.masking ? this.buf('mask', [T, B]) : null;
    if (mask) stepMask(x3, mask);
    const xt = swapOuter(x3, this.buf('xt', [T, B, I])).reshape([T * B, I]);
    const g = this.buf('g', [T * B, GH]);
    if ('dense' in this.wx!) matmul(xt, this.wx.dense, { bias: this.bias ?? undefined, out: g });
    else csrRowsGemm(xt, this.wx!.rows, g, this.bias, false);
    const g3 = g.reshape([T, B, GH]);
    const h = this.buf('h', [T + 1, B, H]);
    h.view().fill(0, 0, B * H);
    if ('dense' in this.wh!) {
      // The fused kernel through time, as the layer's own forward.
      if (s.cell === 'lstm') {
        const c = this.buf('c', [T + 1, B, H]);
        c.view().fill(0, 0, B * H);
        lstmForward(g3, this.wh.dense, h, c, mask, null);
      } else gruForward(g3, this.wh.dense, this.rbias, this.buf('gh', [T, B, GH]), h, mask, null);
    } else this.sparseSteps(s, g, h, mask, B, T);
    if (s.returnSequences) {
      const states = this.buf('states', [T, B, H]);
      states.view().set(h.view().subarray(B * H));
      return swapOuter(states, this.buf('y', [B, T, H]), mask);
    }
    const y = this.buf('y', [B, H]);
    y.view().set(h.view().subarray(T * B * H));
    return y;
  }

  /** Step by step with W_h in row-CSR: the recurrent product, then the cell (inference kernels). */
  private sparseSteps(s: RecurrentStepSpec, g: Tensor, h: Tensor, mask: Tensor | null, B: number, T: number): void {
    const H = s.units, GH = gatesOf(s.cell) * H, wh = (this.wh as { rows: RowsCsrWeights }).rows;
    const gt = this.buf('gt', [B, GH]), gh = this.buf('ght', [B, GH]), mt = mask ? this.buf('mt', [B]) : null;
    const hs = [this.buf('h0', [B, H]), this.buf('h1', [B, H])], cs = [this.buf('c0', [B, H]), this.buf('c1', [B, H])];
    hs[0].view().fill(0);
    cs[0].view().fill(0);
    for (let t = 0; t < T; t++) {
      const cur = t % 2, nxt = 1 - cur;
      gt.view().set(g.view().subarray(t * B * GH, (t + 1) * B * GH));
      if (mt) mt.view().set(mask!.view().subarray(t * B, (t + 1) * B));
      if (s.cell === 'lstm') {
        csrRowsGemm(hs[cur], wh, gt, null, true);
        lstmCell(gt, cs[cur], hs[cur], cs[nxt], hs[nxt], mt);
      } else {
        csrRowsGemm(hs[cur], wh, gh, this.rbias, false);
        gruCell(gt, gh, hs[cur], hs[nxt], mt);
      }
      h.view().set(hs[nxt].view(), (t + 1) * B * H);
    }
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
    for (const t of this.bufs.values()) t.dispose();
    this.bufs.clear();
  }
}
