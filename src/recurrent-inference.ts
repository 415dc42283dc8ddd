import { ArgumentError, checkInt, describe } from './errors.js';
import type { Sequential } from './model.js';
import { Layer, ParamGroup } from './layers/layer.js';
import { Recurrent, SparseVDRecurrent, recurrentKeptUnits } from './layers/recurrent.js';
import { Embedding, SparseVDEmbedding } from './layers/embedding.js';
import { Dense } from './layers/dense.js';
import { SparseVDDense } from './layers/bayesian.js';
import { RowsCsrWeights, csrRows, csrRowsGemm, embeddingLookup, gruCell, lstmCell, stepMask, swapOuter } from './ops/rnn.js';
import { Tensor } from './tensor.js';
import type { Runtime } from './runtime/runtime.js';

// Sparse recurrent inference: a trained [embedding] → recurrent layers → dense layers model with
// its dropped weights removed. W_x, W_h and the dense weights are CSR; hidden units whose state
// feeds nothing (their W_h row and the next layer's row all dropped) are gone with their four
// (LSTM) or three (GRU) gate columns; words whose embedding row is all dropped are gone (they
// read as the zero row, as in the masked model). Outputs equal the masked dense model's.

function value(l: Layer, suffix: string): Float32Array | null {
  const p = l.params().find((q: ParamGroup) => q.name.endsWith(suffix));
  return p ? p.value.toArray() : null;
}

/** θ with the dropped entries (log α ≥ threshold) set to 0. */
function masked(theta: Float32Array, logAlpha: Float32Array, threshold: number): Float32Array {
  return theta.map((v, i) => (logAlpha[i] < threshold ? v : 0));
}

const range = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);

interface Step {
  forward(x: Tensor, B: number): Tensor;
  info: { layer: string; kept: number; total: number; unitsKept?: number; units?: number; vocabKept?: number; vocab?: number };
  dispose(): void;
}

function nnz(w: Float32Array): number {
  let n = 0;
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) n++;
  return n;
}

class EmbeddingStep implements Step {
  private readonly table: Tensor;
  private readonly remap: Int32Array;
  private ids?: Tensor;
  private out?: Tensor;
  info: Step['info'];

  constructor(l: Embedding | SparseVDEmbedding, private readonly T: number, private readonly rt: Runtime) {
    const V = l.inputDim, D = l.outputDim;
    const w = l instanceof SparseVDEmbedding ? masked(value(l, '/theta')!, l.logAlpha(), l.threshold) : value(l, '/embeddings')!;
    const zero = (l.config().options as { maskZero?: boolean }).maskZero ? 0 : -1;
    // New id 0 is the zero row: padding and every removed word.
    this.remap = new Int32Array(V);
    const rows: number[] = [];
    for (let v = 0; v < V; v++) {
      let any = false;
      for (let j = 0; j < D && !any; j++) any = w[v * D + j] !== 0;
      if (any && v !== zero) this.remap[v] = rows.push(v);
    }
    const t = new Float32Array((rows.length + 1) * D);
    rows.forEach((v, i) => t.set(w.subarray(v * D, v * D + D), (i + 1) * D));
    this.table = Tensor.from(t, [rows.length + 1, D], rt);
    this.info = { layer: l.name, kept: nnz(t), total: V * D, vocabKept: rows.length, vocab: V };
  }

  forward(x: Tensor, B: number): Tensor {
    const D = this.table.shape[1];
    const src = x.view(), n = B * this.T;
    if (!this.ids || this.ids.size !== n) {
      this.ids?.dispose();
      this.out?.dispose();
      this.ids = Tensor.zeros([B, this.T], this.rt);
      this.out = Tensor.zeros([B, this.T, D], this.rt);
    }
    const ids = this.ids.view();
    for (let i = 0; i < n; i++) {
      const v = src[i];
      if (!(Number.isInteger(v) && v >= 0 && v < this.remap.length)) throw new ArgumentError('x', `token ids in [0, ${this.remap.length})`, `${v} at index ${i}`);
      ids[i] = this.remap[v];
    }
    return embeddingLookup(this.ids, this.table, this.out!, 0);
  }

  dispose(): void {
    for (const t of [this.table, this.ids, this.out]) t?.dispose();
  }
}

class RecurrentStep implements Step {
  private readonly wx: RowsCsrWeights;
  private readonly wh: RowsCsrWeights;
  private readonly bias: Tensor | null;
  private readonly rbias: Tensor | null;
  private readonly G: number;
  private readonly Hk: number;
  private bufs = new Map<string, Tensor>();
  info: Step['info'];

  /** `inRows`: the kept outputs of the previous step (rows of W_x); `units`: this layer's kept units. */
  constructor(private readonly l: Recurrent, inRows: Int32Array, readonly units: Int32Array, private readonly T: number, private readonly rt: Runtime) {
    const H = l.units, G = l.cell === 'lstm' ? 4 : 3, I = l.inputShape[1];
    this.G = G;
    this.Hk = units.length;
    let wx: Float32Array, wh: Float32Array;
    if (l instanceof SparseVDRecurrent) {
      const la = l.logAlpha();
      wx = masked(value(l, '/kernel/theta')!, la.kernel, l.threshold);
      wh = masked(value(l, '/recurrentKernel/theta')!, la.recurrentKernel, l.threshold);
    } else {
      wx = value(l, '/kernel')!;
      wh = value(l, '/recurrentKernel')!;
    }
    const cols = Int32Array.from({ length: G * this.Hk }, (_, c) => Math.floor(c / this.Hk) * H + units[c % this.Hk]);
    this.wx = csrRows(wx, I, G * H, inRows, cols, rt);
    this.wh = csrRows(wh, H, G * H, units, cols, rt);
    const pick = (b: Float32Array | null): Tensor | null => (b ? Tensor.from(Array.from(cols, (c) => b[c]), [cols.length], rt) : null);
    this.bias = pick(value(l, '/bias'));
    this.rbias = pick(value(l, '/recurrentBias'));
    this.info = { layer: l.name, kept: nnz(this.wx.vals.toArray()) + nnz(this.wh.vals.toArray()), total: wx.length + wh.length, unitsKept: this.Hk, units: H };
  }

  private buf(k: string, shape: number[]): Tensor {
    const t = this.bufs.get(k);
    if (t && t.shape.every((d, i) => d === shape[i]) && t.shape.length === shape.length) return t;
    t?.dispose();
    const n = Tensor.zeros(shape, this.rt);
    this.bufs.set(k, n);
    return n;
  }

  forward(x: Tensor, B: number): Tensor {
    const T = this.T, Hk = this.Hk, GH = this.G * Hk, I = this.wx.rows;
    const x3 = x.reshape([B, T, I]);
    const opts = this.l.config().options as { masking?: boolean; returnSequences?: boolean };
    const mask = opts.masking ? this.buf('mask', [T, B]) : null;
    if (mask) stepMask(x3, mask);
    const xt = swapOuter(x3, this.buf('xt', [T, B, I]));
    const g = csrRowsGemm(xt.reshape([T * B, I]), this.wx, this.buf('g', [T * B, GH]), this.bias, false);
    const h = this.buf('h', [T + 1, B, Hk]), gh = this.buf('gh', [B, GH]);
    const hs = [this.buf('h0', [B, Hk]), this.buf('h1', [B, Hk])], cs = [this.buf('c0', [B, Hk]), this.buf('c1', [B, Hk])];
    hs[0].view().fill(0);
    cs[0].view().fill(0);
    const gt = this.buf('gt', [B, GH]), mt = mask ? this.buf('mt', [B]) : null;
    for (let t = 0; t < T; t++) {
      const cur = t % 2, nxt = 1 - cur;
      gt.view().set(g.view().subarray(t * B * GH, (t + 1) * B * GH));
      if (mt) mt.view().set(mask!.view().subarray(t * B, (t + 1) * B));
      if (this.G === 4) {
        csrRowsGemm(hs[cur], this.wh, gt, null, true);
        lstmCell(gt, cs[cur], hs[cur], cs[nxt], hs[nxt], mt);
      } else {
        csrRowsGemm(hs[cur], this.wh, gh, this.rbias, false);
        gruCell(gt, gh, hs[cur], hs[nxt], mt);
      }
      h.view().set(hs[nxt].view(), (t + 1) * B * Hk);
    }
    if (opts.returnSequences) {
      const states = this.buf('states', [T, B, Hk]);
      states.view().set(h.view().subarray(B * Hk));
      return swapOuter(states, this.buf('y', [B, T, Hk]), mask);
    }
    const y = this.buf('y', [B, Hk]);
    y.view().set(hs[T % 2].view());
    return y;
  }

  dispose(): void {
    for (const w of [this.wx, this.wh]) for (const t of [w.rowPtr, w.colIdx, w.vals]) t.dispose();
    this.bias?.dispose();
    this.rbias?.dispose();
    for (const t of this.bufs.values()) t.dispose();
  }
}

class DenseStep implements Step {
  private readonly w: RowsCsrWeights;
  private readonly bias: Tensor | null;
  private out?: Tensor;
  info: Step['info'];

  constructor(l: Dense | SparseVDDense, inRows: Int32Array, private readonly rt: Runtime) {
    const [K, N] = [l.inputShape[0], (l.outputShape as number[])[0]];
    const w = l instanceof SparseVDDense ? masked(value(l, '/theta')!, l.logAlpha(), l.threshold) : value(l, '/kernel')!;
    this.w = csrRows(w, K, N, inRows, range(N), rt);
    const b = value(l, '/bias');
    this.bias = b ? Tensor.from(b, [N], rt) : null;
    this.info = { layer: l.name, kept: nnz(this.w.vals.toArray()), total: K * N };
  }

  forward(x: Tensor, B: number): Tensor {
    const N = this.w.cols;
    if (!this.out || this.out.size !== B * N) {
      this.out?.dispose();
      this.out = Tensor.zeros([B, N], this.rt);
    }
    return csrRowsGemm(x.reshape([B, this.w.rows]), this.w, this.out, this.bias, false);
  }

  dispose(): void {
    for (const t of [this.w.rowPtr, this.w.colIdx, this.w.vals, this.bias, this.out]) t?.dispose();
  }
}

/** A pruned recurrent classifier: see {@link pruneRecurrent}. */
export class SparseRecurrentModel {
  private readonly inputSize: number;
  private readonly outputSize: number;

  constructor(private readonly steps: Step[], private readonly inputShape: number[], outputSize: number, private readonly model: Sequential) {
    this.inputSize = inputShape.reduce((a, b) => a * b, 1);
    this.outputSize = outputSize;
  }

  /** Per layer: weights kept and in all; for recurrent layers hidden units kept, for embeddings words kept. */
  summary(): Step['info'][] {
    return this.steps.map((s) => ({ ...s.info }));
  }

  /** Outputs (logits) [n, outputs] flat for `x` [n, ...inputShape] flat, in batches of `batchSize` (default 256). */
  predict(x: Float32Array, opts: { batchSize?: number } = {}): Float32Array {
    const n = this.model.checkX(x);
    const bs = checkInt('batchSize', opts.batchSize ?? 256, 1);
    const out = new Float32Array(n * this.outputSize);
    for (let s = 0; s < n; s += bs) {
      const B = Math.min(bs, n - s);
      const xb = Tensor.from(x.subarray(s * this.inputSize, (s + B) * this.inputSize), [B, ...this.inputShape], this.model.rt);
      let h = xb;
      for (const st of this.steps) h = st.forward(h, B);
      out.set(h.view(), s * this.outputSize);
      xb.dispose();
    }
    return out;
  }

  dispose(): void {
    for (const s of this.steps) s.dispose();
  }
}

/**
 * Prune a trained recurrent model — an optional `Embedding`/`SparseVDEmbedding`, then `LSTM`,
 * `GRU` or their Sparse VD forms (all but the last with `returnSequences`), then `Dense` or
 * `SparseVDDense` layers — into a {@link SparseRecurrentModel}: CSR W_x, W_h and dense weights of
 * the kept entries (log α < threshold), hidden units whose state feeds nothing removed, words
 * whose embedding row is all dropped removed. Its outputs equal the masked dense model's
 * (`model.predict`) up to the order of the sums.
 */
export function pruneRecurrent(model: Sequential): SparseRecurrentModel {
  const ls = model.layers;
  const steps: Step[] = [];
  let i = 0;
  let rows: Int32Array;
  if (ls[0] instanceof Embedding || ls[0] instanceof SparseVDEmbedding) {
    steps.push(new EmbeddingStep(ls[0], model.inputShape[0], model.rt));
    rows = range(ls[0].outputDim);
    i = 1;
  } else rows = range(model.inputShape[model.inputShape.length - 1]);
  if (!(ls[i] instanceof Recurrent)) throw new ArgumentError(`model.layers[${i}]`, 'a recurrent layer (after an optional embedding)', describe(ls[i]?.constructor?.name));
  for (; i < ls.length && ls[i] instanceof Recurrent; i++) {
    const l = ls[i] as Recurrent;
    const units = recurrentKeptUnits(l, ls[i + 1]);
    steps.push(new RecurrentStep(l, rows, units, l.inputShape[0], model.rt));
    rows = units;
  }
  for (; i < ls.length; i++) {
    const l = ls[i];
    if (!(l instanceof Dense || l instanceof SparseVDDense)) throw new ArgumentError(`model.layers[${i}]`, 'Dense or SparseVDDense after the recurrent layers', describe(l?.constructor?.name));
    steps.push(new DenseStep(l, rows, model.rt));
    rows = range((l.outputShape as number[])[0]);
  }
  return new SparseRecurrentModel(steps, model.inputShape.slice(), rows.length, model);
}
