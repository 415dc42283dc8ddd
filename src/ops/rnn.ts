import { ArgumentError, ShapeError } from '../errors.js';
import { Tensor, fmtShape } from '../tensor.js';
import { checkSameSize, checkShape, checkTensor } from './check.js';

// Tensor-level wrappers of assembly/rnn.ts. Sequences inside the recurrent layers are
// time-major: gates [T, B, G·H], states [T + 1, B, H] (slot 0 the initial state), step mask
// [T, B] (1 live, 0 padded). Every function checks shapes before a kernel runs.

/** The per-pass buffers of a recurrent forward/backward through time. */
export interface RecurrentDims {
  /** Time steps. */
  T: number;
  /** Sequences in the batch. */
  B: number;
  /** Hidden units. */
  H: number;
}

function dimsOf(gates: Tensor, G: number, h: Tensor, wh: Tensor): RecurrentDims {
  if (h.shape.length !== 3) throw new ShapeError('h', '[T + 1, batch, units]', fmtShape(h.shape));
  const [T1, B, H] = h.shape;
  const T = T1 - 1;
  if (T < 1) throw new ShapeError('h', 'at least 2 state slots (initial + one step)', fmtShape(h.shape));
  checkShape('gates', gates, [T, B, G * H]);
  checkShape('wh', wh, [H, G * H]);
  return { T, B, H };
}

function optPtr(name: string, t: Tensor | null | undefined, size: number, rt: Tensor['rt']): number {
  if (!t) return 0;
  checkTensor(name, t, rt);
  if (t.size !== size) throw new ShapeError(name, `${size} elements`, `${t.size} (${fmtShape(t.shape)})`);
  return t.ptr;
}

/** Recurrent dropout of a pass: the mask hdrop [B, H] on h_{t−1} (the same at every step) and the masked states hd [T, B, H]. */
export interface RecurrentDrop {
  mask: Tensor;
  masked: Tensor;
}

/**
 * LSTM forward through time (assembly/rnn.ts `lstm_forward_f32`): `gates` [T, B, 4H] holds the
 * input products x_t·W_x + b and receives the gate activations (i, f, g, o); `wh` [H, 4H];
 * `h`, `c` [T + 1, B, H] (slot 0 the initial state) receive the states. `mask` [T, B] or null.
 */
export function lstmForward(gates: Tensor, wh: Tensor, h: Tensor, c: Tensor, mask: Tensor | null, drop: RecurrentDrop | null, scalar = false): void {
  const { T, B, H } = dimsOf(gates, 4, h, wh);
  checkShape('c', c, h.shape);
  const rt = gates.rt;
  const k = scalar ? rt.k.lstm_forward_f32_scalar : rt.k.lstm_forward_f32;
  k(T, B, H, gates.ptr, wh.ptr, h.ptr, c.ptr, optPtr('mask', mask, T * B, rt), optPtr('drop.mask', drop?.mask, B * H, rt), optPtr('drop.masked', drop?.masked, T * B * H, rt));
}

/** Scratch [B, H] of a backward through time: the state gradients carried between steps and one spare. */
export interface RecurrentScratch {
  dh: Tensor;
  dc: Tensor;
  tmp: Tensor;
}

function dyPtr(dy: Tensor | null, lastOnly: boolean, d: RecurrentDims, rt: Tensor['rt']): number {
  if (!dy) return 0;
  checkTensor('dy', dy, rt);
  const want = (lastOnly ? 1 : d.T) * d.B * d.H;
  if (dy.size !== want) throw new ShapeError('dy', lastOnly ? `[${d.B}, ${d.H}]` : `[${d.T}, ${d.B}, ${d.H}]`, fmtShape(dy.shape));
  return dy.ptr;
}

function scratchPtrs(s: RecurrentScratch, d: RecurrentDims, rt: Tensor['rt']): void {
  for (const [n, t] of [['scratch.dh', s.dh], ['scratch.dc', s.dc], ['scratch.tmp', s.tmp]] as const) optPtr(n, t, d.B * d.H, rt);
}

/**
 * LSTM backward through time from the activations and cell states {@link lstmForward} left:
 * `dy` [T, B, H] (every step's output gradient; padded steps ignored) or, with `lastOnly`,
 * [B, H] of the final state; writes `dG` [T, B, 4H] (pre-activation gradients).
 */
export function lstmBackward(gates: Tensor, wh: Tensor, h: Tensor, c: Tensor, mask: Tensor | null, dy: Tensor | null, lastOnly: boolean,
  dG: Tensor, s: RecurrentScratch, drop: RecurrentDrop | null, scalar = false): void {
  const d = dimsOf(gates, 4, h, wh);
  checkShape('c', c, h.shape);
  checkSameSize('dG', dG, gates);
  const rt = gates.rt;
  scratchPtrs(s, d, rt);
  const k = scalar ? rt.k.lstm_backward_f32_scalar : rt.k.lstm_backward_f32;
  k(d.T, d.B, d.H, gates.ptr, wh.ptr, c.ptr, optPtr('mask', mask, d.T * d.B, rt), dyPtr(dy, lastOnly, d, rt), lastOnly ? 1 : 0,
    dG.ptr, s.dh.ptr, s.dc.ptr, optPtr('drop.mask', drop?.mask, d.B * d.H, rt), s.tmp.ptr);
}

/**
 * GRU forward through time: `gx` [T, B, 3H] holds x_t·W_x + b_x and receives r, z, n; `gh`
 * [T, B, 3H] receives h_{t−1}·W_h + b_h; `wh` [H, 3H]; `bh` [3H] or null; `h` [T + 1, B, H].
 */
export function gruForward(gx: Tensor, wh: Tensor, bh: Tensor | null, gh: Tensor, h: Tensor, mask: Tensor | null, drop: RecurrentDrop | null, scalar = false): void {
  const { T, B, H } = dimsOf(gx, 3, h, wh);
  checkSameSize('gh', gh, gx);
  const rt = gx.rt;
  const k = scalar ? rt.k.gru_forward_f32_scalar : rt.k.gru_forward_f32;
  k(T, B, H, gx.ptr, wh.ptr, optPtr('bh', bh, 3 * H, rt), gh.ptr, h.ptr, optPtr('mask', mask, T * B, rt),
    optPtr('drop.mask', drop?.mask, B * H, rt), optPtr('drop.masked', drop?.masked, T * B * H, rt));
}

/** GRU backward through time: writes `dGx`, `dGh` [T, B, 3H]; `dy` as in {@link lstmBackward}. */
export function gruBackward(gx: Tensor, gh: Tensor, wh: Tensor, h: Tensor, mask: Tensor | null, dy: Tensor | null, lastOnly: boolean,
  dGx: Tensor, dGh: Tensor, s: RecurrentScratch, drop: RecurrentDrop | null, scalar = false): void {
  const d = dimsOf(gx, 3, h, wh);
  for (const [n, t] of [['gh', gh], ['dGx', dGx], ['dGh', dGh]] as const) checkSameSize(n, t, gx);
  const rt = gx.rt;
  scratchPtrs(s, d, rt);
  const k = scalar ? rt.k.gru_backward_f32_scalar : rt.k.gru_backward_f32;
  k(d.T, d.B, d.H, gx.ptr, gh.ptr, wh.ptr, h.ptr, optPtr('mask', mask, d.T * d.B, rt), dyPtr(dy, lastOnly, d, rt), lastOnly ? 1 : 0,
    dGx.ptr, dGh.ptr, s.dh.ptr, optPtr('drop.mask', drop?.mask, d.B * d.H, rt), s.tmp.ptr);
}

/**
 * dst [B, A, F] = src [A, B, F] with the two outer axes swapped (batch-major ↔ time-major); rows
 * whose `rowMask` [A·B] entry (src's row order) is 0 become zeros. Returns `dst`.
 */
export function swapOuter(src: Tensor, dst: Tensor, rowMask: Tensor | null = null): Tensor {
  checkTensor('src', src);
  checkTensor('dst', dst, src.rt);
  if (src.shape.length !== 3) throw new ShapeError('src', '[A, B, F]', fmtShape(src.shape));
  const [A, B, F] = src.shape;
  checkShape('dst', dst, [B, A, F]);
  if (src.ptr === dst.ptr && src.size > 0) throw new ArgumentError('dst', 'memory distinct from src', 'src itself');
  src.rt.k.rnn_transpose_f32(A, B, F, src.ptr, dst.ptr, optPtr('rowMask', rowMask, A * B, src.rt));
  return dst;
}

/**
 * Step mask of zero-padded sequences x [B, T, F]: `mask` [T, B] gets 1 where step t of sequence b
 * has a nonzero value, 0 where it is all zeros (padding). Returns the number of live steps.
 */
export function stepMask(x: Tensor, mask: Tensor): number {
  checkTensor('x', x);
  if (x.shape.length !== 3) throw new ShapeError('x', '[batch, steps, features]', fmtShape(x.shape));
  const [B, T, F] = x.shape;
  checkTensor('mask', mask, x.rt);
  checkShape('mask', mask, [T, B]);
  return x.rt.k.rnn_step_mask_f32(B, T, F, x.ptr, mask.ptr);
}

/** out (=|+=) x ⊙ m with m [n] broadcast over the rows of x [..., n] (dropout masks kept over time, unit scales). */
export function mulRows(x: Tensor, m: Tensor, out: Tensor, accumulate = false, scalar = false): Tensor {
  checkTensor('x', x);
  checkTensor('m', m, x.rt);
  checkTensor('out', out, x.rt);
  checkSameSize('out', out, x);
  if (m.size === 0 || x.size % m.size !== 0) throw new ShapeError('m', `a divisor of ${x.size} elements`, `${m.size}`);
  (scalar ? x.rt.k.rnn_mul_rows_f32_scalar : x.rt.k.rnn_mul_rows_f32)(x.size / m.size, m.size, x.ptr, m.ptr, out.ptr, accumulate ? 1 : 0);
  return out;
}

function checkIds(ids: Tensor, table: Tensor, rows: Tensor, name: string): [number, number] {
  checkTensor('ids', ids);
  checkTensor('table', table, ids.rt);
  checkTensor(name, rows, ids.rt);
  if (table.shape.length !== 2) throw new ShapeError('table', '[vocabulary, dim]', fmtShape(table.shape));
  const [V, D] = table.shape;
  if (rows.size !== ids.size * D) throw new ShapeError(name, `${ids.size}·${D} elements`, fmtShape(rows.shape));
  const v = ids.view();
  for (let i = 0; i < v.length; i++) {
    const id = v[i];
    if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new ArgumentError('ids', `integer token ids in [0, ${V})`, `${id} at index ${i}`);
  }
  return [V, D];
}

/** out [n, D] = rows of `table` [V, D] at `ids` (n integer ids as f32); rows of id `zeroId` (≥ 0, or −1 for none) are zeros. */
export function embeddingLookup(ids: Tensor, table: Tensor, out: Tensor, zeroId = -1): Tensor {
  const [V, D] = checkIds(ids, table, out, 'out');
  ids.rt.k.embedding_lookup_f32(ids.size, D, ids.ptr, table.ptr, V, out.ptr, zeroId);
  return out;
}

/** dtable[ids[i]] += dy[i] (only the rows present are touched; none for `zeroId`). */
export function embeddingGrad(ids: Tensor, dy: Tensor, dtable: Tensor, zeroId = -1, scalar = false): Tensor {
  const [V, D] = checkIds(ids, dtable, dy, 'dy');
  (scalar ? ids.rt.k.embedding_grad_f32_scalar : ids.rt.k.embedding_grad_f32)(ids.size, D, ids.ptr, dy.ptr, V, dtable.ptr, zeroId);
  return dtable;
}

/** One weight sample w = M + sqrt(σ²)·ε for a whole pass (every time step); all of `mean`'s size. */
export function svdSampleWeights(mean: Tensor, sigma2: Tensor, eps: Tensor, w: Tensor, scalar = false): Tensor {
  for (const [n, t] of [['sigma2', sigma2], ['eps', eps], ['w', w]] as const) checkSameSize(n, t, mean);
  (scalar ? mean.rt.k.svd_sample_weights_f32_scalar : mean.rt.k.svd_sample_weights_f32)(mean.size, mean.ptr, sigma2.ptr, eps.ptr, w.ptr);
  return w;
}

/** Chain rule of {@link svdSampleWeights}: dθ += dw where log α < threshold; dlog σ² += dw·ε·σ/2. */
export function svdSampleGrads(dw: Tensor, eps: Tensor, sigma2: Tensor, logAlpha: Tensor, threshold: number, dTheta: Tensor, dLogSigma2: Tensor, scalar = false): void {
  for (const [n, t] of [['eps', eps], ['sigma2', sigma2], ['logAlpha', logAlpha], ['dTheta', dTheta], ['dLogSigma2', dLogSigma2]] as const) checkSameSize(n, t, dw);
  (scalar ? dw.rt.k.svd_sample_grads_f32_scalar : dw.rt.k.svd_sample_grads_f32)(dw.size, dw.ptr, eps.ptr, sigma2.ptr, logAlpha.ptr, threshold, dTheta.ptr, dLogSigma2.ptr);
}

/** Sizes of a [rows, cols] weight and its optional row and column group variables. */
function groupDims(w: Tensor, zr: Tensor | null, zc: Tensor | null): [number, number] {
  checkTensor('w', w);
  if (w.shape.length !== 2) throw new ShapeError('w', '[rows, cols]', fmtShape(w.shape));
  const [rows, cols] = w.shape;
  optPtr('zr', zr, rows, w.rt);
  optPtr('zc', zc, cols, w.rt);
  return [rows, cols];
}

/**
 * out [rows, cols] = diag(zr)·w·diag(zc): a weight sample times its group variables, zr [rows]
 * (one per input row) and zc [cols] (one per output column), either null for ones. `out` may be `w`.
 */
export function groupScale(w: Tensor, zr: Tensor | null, zc: Tensor | null, out: Tensor, scalar = false): Tensor {
  const [rows, cols] = groupDims(w, zr, zc);
  checkTensor('out', out, w.rt);
  checkSameSize('out', out, w);
  (scalar ? w.rt.k.group_scale_f32_scalar : w.rt.k.group_scale_f32)(rows, cols, w.ptr, zr?.ptr ?? 0, zc?.ptr ?? 0, out.ptr);
  return out;
}

/**
 * Chain rule of {@link groupScale} from dout [rows, cols] and the unscaled `w`: writes dw (may be
 * dout) = diag(zr)·dout·diag(zc); adds dzr [rows] += Σ_j dout ⊙ w ⊙ zc and dzc [cols] += Σ_i
 * dout ⊙ w ⊙ zr (each null when not wanted).
 */
export function groupScaleGrads(dout: Tensor, w: Tensor, zr: Tensor | null, zc: Tensor | null, dw: Tensor, dzr: Tensor | null, dzc: Tensor | null, scalar = false): void {
  const [rows, cols] = groupDims(w, zr, zc);
  checkTensor('dout', dout, w.rt);
  checkTensor('dw', dw, w.rt);
  checkSameSize('dout', dout, w);
  checkSameSize('dw', dw, w);
  const pr = optPtr('dzr', dzr, rows, w.rt), pc = optPtr('dzc', dzc, cols, w.rt);
  (scalar ? w.rt.k.group_scale_grads_f32_scalar : w.rt.k.group_scale_grads_f32)(rows, cols, dout.ptr, w.ptr, zr?.ptr ?? 0, zc?.ptr ?? 0, dw.ptr, pr, pc);
}

// ---- sparse recurrent inference ----------------------------------------------------------------

/** A weight matrix W [K, N] in CSR by rows of k, indices as f32 integers (see {@link csrRows}). */
export interface RowsCsrWeights {
  rows: number;
  cols: number;
  rowPtr: Tensor;
  colIdx: Tensor;
  vals: Tensor;
}

/**
 * CSR by rows of the row-major W [K, N] restricted to `rows` (kept input rows, in order) and
 * `cols` (kept output columns, in order), entries exactly 0 dropped. Indices are f32 integers.
 */
export function csrRows(w: Float32Array, K: number, N: number, rows: ArrayLike<number>, cols: ArrayLike<number>, rt: Tensor['rt']): RowsCsrWeights {
  if (w.length !== K * N) throw new ShapeError('w', `${K}·${N} elements`, `${w.length}`);
  const ptr = [0], idx: number[] = [], val: number[] = [];
  for (let r = 0; r < rows.length; r++) {
    for (let c = 0; c < cols.length; c++) {
      const v = w[rows[r] * N + cols[c]];
      if (v !== 0) {
        idx.push(c);
        val.push(v);
      }
    }
    ptr.push(idx.length);
  }
  const t = (a: number[]): Tensor => Tensor.from(a.length ? a : [0], [Math.max(1, a.length)], rt);
  return { rows: rows.length, cols: cols.length, rowPtr: t(ptr), colIdx: t(idx), vals: t(val) };
}

/** out [B, N] (= bias | +=) a [B, K]·W for W in {@link csrRows} form; `bias` [N] or null. */
export function csrRowsGemm(a: Tensor, w: RowsCsrWeights, out: Tensor, bias: Tensor | null, accumulate: boolean): Tensor {
  checkTensor('a', a);
  checkTensor('out', out, a.rt);
  const K = w.rows, N = w.cols;
  if (a.size % Math.max(K, 1) !== 0 || a.shape[a.shape.length - 1] !== K) throw new ShapeError('a', `[batch, ${K}]`, fmtShape(a.shape));
  const B = K === 0 ? out.size / Math.max(N, 1) : a.size / K;
  if (out.size !== B * N) throw new ShapeError('out', `[${B}, ${N}]`, fmtShape(out.shape));
  a.rt.k.csr_rows_gemm_f32(B, K, N, a.ptr, K, w.rowPtr.ptr, w.colIdx.ptr, w.vals.ptr, out.ptr, N, optPtr('bias', bias, N, a.rt), accumulate ? 1 : 0);
  return out;
}

/** One LSTM step (inference): g [B, 4H] pre-activations → activations; c0, h0 → c1, h1 [B, H]; mask [B] or null. */
export function lstmCell(g: Tensor, c0: Tensor, h0: Tensor, c1: Tensor, h1: Tensor, mask: Tensor | null, scalar = false): void {
  const [B, H] = h0.shape;
  checkShape('g', g, [B, 4 * H]);
  for (const [n, t] of [['c0', c0], ['c1', c1], ['h1', h1]] as const) checkShape(n, t, [B, H]);
  (scalar ? g.rt.k.lstm_cell_f32_scalar : g.rt.k.lstm_cell_f32)(B, H, g.ptr, c0.ptr, h0.ptr, c1.ptr, h1.ptr, optPtr('mask', mask, B, g.rt));
}

/** One GRU step (inference): gx, gh [B, 3H] (gx gets r, z, n); h0 → h1 [B, H]; mask [B] or null. */
export function gruCell(gx: Tensor, gh: Tensor, h0: Tensor, h1: Tensor, mask: Tensor | null, scalar = false): void {
  const [B, H] = h0.shape;
  checkShape('gx', gx, [B, 3 * H]);
  checkShape('gh', gh, [B, 3 * H]);
  checkShape('h1', h1, [B, H]);
  (scalar ? gx.rt.k.gru_cell_f32_scalar : gx.rt.k.gru_cell_f32)(B, H, gx.ptr, gh.ptr, h0.ptr, h1.ptr, optPtr('mask', mask, B, gx.rt));
}
