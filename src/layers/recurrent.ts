import { ArgumentError, ShapeError, checkInt, checkNumber, describe } from '../errors.js';
import { columnSums } from '../ops/elementwise.js';
import { matmul } from '../ops/gemm.js';
import { bernoulli } from '../ops/noise.js';
import { RecurrentDrop, groupScale, groupScaleGrads, gruBackward, gruForward, lstmBackward, lstmForward, mulRows, stepMask, swapOuter } from '../ops/rnn.js';
import { Initializer, initialize } from '../init.js';
import { Shape, Tensor, fmtShape } from '../tensor.js';
import { passSeed } from './bayesian.js';
import { ForwardContext, InferenceForm, Layer, LayerConfig, ParamGroup, param, registerLayer } from './layer.js';
import {
  SampledWeight, SampledWeightOptions, countKept, groupVariable, groupedInferenceWeights, groupedKeptMask, sampledSettings,
} from './sampled-weight.js';

/** The recurrent cells: LSTM (gates i, f, g, o) and GRU (gates r, z, n, PyTorch's form). */
export type CellKind = 'lstm' | 'gru';

/** Options shared by every recurrent layer. Input [batch, steps, features]. */
export interface RecurrentOptions {
  /** Hidden units H. */
  units: number;
  /** Output every step's state [batch, steps, units] (true) or the last state [batch, units] (default false). */
  returnSequences?: boolean;
  /**
   * Treat steps whose input is all zeros as padding (default false): a padded step carries the
   * state through unchanged, outputs zeros (with `returnSequences`) and gets no gradient, so
   * sequences of different lengths share a batch (pad with zero steps before or after; the last
   * state is the state after each sequence's last live step). An {@link Embedding} with
   * `maskZero` turns padding id 0 into such steps.
   */
  masking?: boolean;
  /** Add learnt biases (default true). */
  useBias?: boolean;
  /** Initialiser of W_x [features, G·units] (default `'glorotUniform'`). */
  kernelInitializer?: Initializer;
  /** Initialiser of W_h [units, G·units] (default `'glorotUniform'`). */
  recurrentInitializer?: Initializer;
  /** LSTM: initialise the forget gate's bias to 1 (default true, as Jozefowicz et al. 2015 advise). */
  unitForgetBias?: boolean;
  /** L1 coefficient on the weights (default 0). */
  l1?: number;
  /** L2 coefficient on the weights (default 0). */
  l2?: number;
}

/** Options of the plain {@link LSTM} and {@link GRU}: Bernoulli dropout with one mask per sequence. */
export interface DropoutRecurrentOptions extends RecurrentOptions {
  /**
   * Fraction of input features dropped in training, in [0, 1): one Bernoulli mask per sequence,
   * the same at every time step (Gal & Ghahramani 2016). Default 0.
   */
  dropout?: number;
  /** Fraction of the previous state's units dropped on the recurrent path, one mask per sequence kept over time. Default 0. */
  recurrentDropout?: number;
}

/** Options of {@link SparseVDLSTM} and {@link SparseVDGRU}. */
export interface SparseVDRecurrentOptions extends RecurrentOptions, SampledWeightOptions {
  /**
   * How training samples W_x and W_h, each sample used at every time step (the local
   * reparameterization trick does not carry across steps, so whole weights are sampled):
   * - `'sequence'` (default): one sample per sequence, as the variational objective of
   *   Lobacheva et al. (2017) has it, keyed by (seed, step, layer, the sequence's index in the
   *   dataset: `ForwardContext.rows`), so a sequence's noise does not depend on the batch size
   *   or order. Cost per training step: B draws of (features + units)·G·units normals, kept
   *   for the backward (B·(features + units)·G·units floats of layer memory; the weights are
   *   rebuilt from them), and each sequence's products as its own GEMM [T, features]·W_x and
   *   matrix-vector steps h·W_h (batch 1): 2–3× the batched step for LSTM(128) on 28×28
   *   sequential MNIST at batch 100 (measured; the normals and the batch-1 products dominate).
   * - `'batch'`: one sample per pass shared by the batch's sequences (cheaper, what most
   *   implementations do; more gradient variance per step).
   * Monte-Carlo prediction always samples once per pass (one posterior draw for every input).
   */
  weightNoise?: 'sequence' | 'batch';
  /**
   * Group sparsity (Lobacheva, Chirkova & Vetrov 2018, "Bayesian sparsification of gated
   * recurrent neural networks"): multiplicative group variables z ~ N(θ_z, σ_z²), θ_z from 1,
   * each with the log-uniform prior and the same KL as the weights, sampled with them (per
   * sequence or per batch, see {@link weightNoise}) and dropped by the same threshold. The pass
   * uses W_x,eff = diag(z_x)·W_x·diag(z_gate) and W_h,eff = diag(z_h)·W_h·diag(z_gate); the
   * biases are not scaled. `true` turns on all three; default none (per-weight sparsity only).
   */
  groups?: boolean | RecurrentGroups;
}

/** Which group variables a Sparse VD recurrent layer learns (see {@link SparseVDRecurrentOptions.groups}). */
export interface RecurrentGroups {
  /** One z_x per input feature [features], on its row of W_x: a dropped feature is read by no gate. */
  inputs?: boolean;
  /**
   * One z_h per hidden unit [units], on its row of W_h (h_{t−1} ⊙ z_h in every gate): a dropped
   * unit feeds no gate, and `prune` removes it when the next layer reads it no more either.
   */
  hidden?: boolean;
  /**
   * One z per gate pre-activation [G·units] (LSTM 4·units: i, f, g, o; GRU 3·units: r, z, n), on
   * its column of W_x and W_h: a dropped one leaves the gate constant, act(bias).
   */
  gates?: boolean;
}

const GROUP_KEYS = ['inputs', 'hidden', 'gates'] as const;

/** The checked {@link RecurrentGroups} of an options value. */
function recurrentGroups(g: unknown): Required<RecurrentGroups> {
  if (g === undefined || g === false) return { inputs: false, hidden: false, gates: false };
  if (g === true) return { inputs: true, hidden: true, gates: true };
  if (typeof g !== 'object' || g === null || Array.isArray(g)) throw new ArgumentError('groups', 'a boolean or { inputs?, hidden?, gates? } of booleans', describe(g));
  const o = g as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(GROUP_KEYS as readonly string[]).includes(k)) throw new ArgumentError(`groups.${k}`, 'one of inputs, hidden, gates', k);
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new ArgumentError(`groups.${k}`, 'a boolean', describe(o[k]));
  }
  return { inputs: o.inputs === true, hidden: o.hidden === true, gates: o.gates === true };
}

/** Noise offsets within a layer's stream: dropout masks, then the weight samples. */
const OFFSET_INPUT_MASK = 0, OFFSET_STATE_MASK = 0x40000000, OFFSET_WEIGHTS = 0x80000000;

/**
 * The noise stream of sequence `row` (dataset index) in layer `index`: bit 31 set (apart from
 * the layers' own streams, their indices), the row above 8 bits of layer index.
 */
export function sequenceStream(index: number, row: number): number {
  if (!(Number.isInteger(row) && row >= 0 && row < 2 ** 23 - 1)) throw new ArgumentError('ctx.rows', 'dataset indices in [0, 2^23 − 1) for per-sequence weight noise', describe(row));
  if (index >= 256) throw new ArgumentError('layer.index', 'a position below 256 for per-sequence weight noise', String(index));
  return (0x80000000 | ((row + 1) << 8) | index) >>> 0;
}

/** Sequence k's W_x and W_h of a per-sequence pass: drawn in the forward (`draw`), the same ones again in the backward. */
type SequenceWeights = (k: number, draw: boolean) => { wx: Tensor; wh: Tensor };

/**
 * Base of the recurrent layers: x [batch, T, features] → [batch, T, units] or [batch, units],
 * one fused kernel through time each way (assembly/rnn.ts): the input products of all steps
 * are one GEMM, each step one recurrent GEMM and the cell; backward through time from the
 * saved activations, then one GEMM each for dW_x, dW_h and dx. Subclasses say where the
 * pass's W_x and W_h come from and where their gradients go.
 */
export abstract class Recurrent extends Layer {
  readonly units: number;
  readonly cell: CellKind;
  protected readonly gatesPerUnit: number;
  protected readonly ropts: RecurrentOptions;
  protected bias?: ParamGroup;
  /** GRU only: b_h [3H] inside the reset gate's product. */
  protected recurrentBias?: ParamGroup;
  protected steps = 0;
  protected features = 0;
  private wx!: Tensor;
  private wh!: Tensor;
  private mask: Tensor | null = null;
  private drop: RecurrentDrop | null = null;
  private inputMask: Tensor | null = null;
  private batch = 0;
  /** This pass's run of steps: from `t0`, `run` steps (all of them unless masking trims padding). */
  private t0 = 0;
  private run = 0;
  /** This pass's inputs, time-major [run, B, features] (after input dropout). */
  private xt?: Tensor;
  /**
   * Time steps the cell kernels ran, summed over forward passes (work counter: with `masking`,
   * a batch runs only from its first to its last live step, so batches bucketed by length cost
   * their own length).
   */
  stepsRun = 0;

  constructor(cell: CellKind, opts: RecurrentOptions) {
    super();
    this.cell = cell;
    this.gatesPerUnit = cell === 'lstm' ? 4 : 3;
    this.ropts = opts;
    this.units = checkInt('units', opts?.units, 1);
    checkNumber('l1', opts.l1 ?? 0, 0);
    checkNumber('l2', opts.l2 ?? 0, 0);
  }

  private dims(inputShape: Shape): [number, number] {
    if (inputShape.length !== 2) throw new ShapeError('inputShape', '[steps, features]', fmtShape(inputShape));
    return [inputShape[0], inputShape[1]];
  }

  plan(inputShape: Shape): { outputShape: Shape; weights: number } {
    const [T, I] = this.dims(inputShape);
    const GH = this.gatesPerUnit * this.units;
    return { outputShape: this.ropts.returnSequences ? [T, this.units] : [this.units], weights: (I + this.units) * GH };
  }

  protected init(inputShape: Shape, seed: number): Shape {
    const [T, I] = this.dims(inputShape);
    this.steps = T;
    this.features = I;
    const H = this.units, GH = this.gatesPerUnit * H;
    const wx = Tensor.zeros([I, GH], this.rt), wh = Tensor.zeros([H, GH], this.rt);
    initialize(wx, this.ropts.kernelInitializer ?? 'glorotUniform', I, GH, seed, 0);
    initialize(wh, this.ropts.recurrentInitializer ?? 'glorotUniform', H, GH, seed, 1);
    this.initWeights(wx, wh);
    if (this.ropts.useBias ?? true) {
      const b = Tensor.zeros([GH], this.rt);
      if (this.cell === 'lstm' && (this.ropts.unitForgetBias ?? true)) b.view().fill(1, H, 2 * H);
      this.bias = param(`${this.name}/bias`, b);
      if (this.cell === 'gru') this.recurrentBias = param(`${this.name}/recurrentBias`, Tensor.zeros([GH], this.rt));
    }
    return this.plan(inputShape).outputShape;
  }

  /** Take ownership of the initialised W_x [I, G·H] and W_h [H, G·H]. */
  protected abstract initWeights(wx: Tensor, wh: Tensor): void;
  /** W_x and W_h of this pass (`stream`: this layer's noise stream; offsets from {@link OFFSET_WEIGHTS}). */
  protected abstract passWeights(ctx: ForwardContext, offset: number): { wx: Tensor; wh: Tensor };
  /** Where dW_x and dW_h of a backward go, and whether to add into them. */
  protected abstract weightGrads(): { dwx: Tensor; dwh: Tensor; accumulate: boolean };
  /** After dW_x and dW_h were written: the chain rule into the parameters. */
  protected finishWeightGrads(): void {}
  /** Per-sequence weights of this pass (after {@link passWeights}), or null for one sample per batch. */
  protected sequenceWeights(_ctx: ForwardContext): SequenceWeights | null {
    return null;
  }
  private perSequence: SequenceWeights | null = null;
  /** Sequences in the batch of the last forward. */
  protected batchSize(): number {
    return this.batch;
  }
  /** Input and recurrent Bernoulli dropout rates of a training pass. */
  protected dropoutRates(): [number, number] {
    return [0, 0];
  }

  /**
   * Steps [t0, t0 + run) of a time-major [steps, B, F] buffer `src` copied into the start of
   * `dst` (same size), as a [run, B, F] view; `src` itself when the run is every step.
   */
  private runOf(src: Tensor, dst: string): Tensor {
    const [T, B, F] = src.shape.length === 3 ? src.shape : [src.shape[0], src.shape[1], 1];
    if (this.run === T) return src;
    const out = this.buffer(dst, src.shape).prefix(src.shape.length === 3 ? [this.run, B, F] : [this.run, B]);
    out.view().set(src.view().subarray(this.t0 * B * F, (this.t0 + this.run) * B * F));
    return out;
  }

  /** A zeroed [steps, B, F] buffer `key` with `run` [run, B, F] placed at step t0. */
  private placeRun(run: Tensor, key: string): Tensor {
    const [, B, F] = run.shape;
    if (this.run === this.steps) return run;
    const full = this.buffer(key, [this.steps, B, F]);
    const v = full.view();
    v.fill(0);
    v.set(run.view(), this.t0 * B * F);
    return full;
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const B = this.checkInput(x);
    const Tall = this.steps, I = this.features, H = this.units, GH = this.gatesPerUnit * H;
    this.batch = B;
    ({ wx: this.wx, wh: this.wh } = this.passWeights(ctx, OFFSET_WEIGHTS));
    this.perSequence = this.sequenceWeights(ctx);
    if (this.perSequence) {
      if (ctx.rows && ctx.rows.length !== B) throw new ArgumentError('ctx.rows', `${B} dataset indices (one per row)`, `${ctx.rows.length}`);
      return this.forwardPerSequence(x, B, this.perSequence);
    }
    const x3 = x.reshape([B, Tall, I]);
    const fullMask = this.ropts.masking ? this.buffer('mask', [Tall, B]) : null;
    this.t0 = 0;
    this.run = Tall;
    if (fullMask) {
      stepMask(x3, fullMask);
      // Padded steps before a batch's first live step and after its last one change no state
      // and output zeros: the kernels skip them (at least one step runs).
      const m = fullMask.view();
      let first = Tall, last = -1;
      for (let i = 0; i < m.length; i++) {
        if (m[i] !== 0) {
          const t = Math.floor(i / B);
          if (t < first) first = t;
          last = t;
        }
      }
      if (last >= 0) {
        this.t0 = first;
        this.run = last + 1 - first;
      } else this.run = 1;
    }
    const T = this.run;
    this.stepsRun += T;
    this.mask = fullMask ? this.runOf(fullMask, 'maskRun') : null;
    const xt = this.runOf(swapOuter(x3, this.buffer('xtAll', [Tall, B, I])), 'xtRun');
    this.xt = xt;
    const [pIn, pRec] = ctx.training ? this.dropoutRates() : [0, 0];
    this.inputMask = null;
    if (pIn > 0) {
      const keep = 1 - pIn;
      this.inputMask = bernoulli(this.buffer('inputMask', [B, I]), keep, passSeed(ctx), { scale: 1 / keep, stream: this.index, offset: OFFSET_INPUT_MASK });
      mulRows(xt, this.inputMask, xt);
    }
    this.drop = null;
    if (pRec > 0) {
      const keep = 1 - pRec;
      const m = bernoulli(this.buffer('stateMask', [B, H]), keep, passSeed(ctx), { scale: 1 / keep, stream: this.index, offset: OFFSET_STATE_MASK });
      this.drop = { mask: m, masked: this.runBuffer('hd', [T, B, H]) };
    }
    const g = matmul(xt.reshape([T * B, I]), this.wx, { bias: this.bias?.value, out: this.runBuffer('g', [T * B, GH]) }).reshape([T, B, GH]);
    const h = this.runBuffer('h', [T + 1, B, H]);
    if (this.cell === 'lstm') lstmForward(g, this.wh, h, this.runBuffer('c', [T + 1, B, H]), this.mask, this.drop);
    else gruForward(g, this.wh, this.recurrentBias?.value ?? null, this.runBuffer('gh', [T, B, GH]), h, this.mask, this.drop);
    if (this.ropts.returnSequences) {
      // States 1..T (a copy: tensors have no offset views), placed at their steps.
      const states = this.runBuffer('hs', [T, B, H]);
      states.view().set(h.view().subarray(B * H));
      return swapOuter(this.placeRun(states, 'hsAll'), this.buffer('y', [B, Tall, H]), fullMask);
    }
    const y = this.buffer('y', [B, H]);
    y.view().set(h.view().subarray(T * B * H));
    return y;
  }

  /** A layer buffer sized for every step (shape[0] counts steps, + 1 for state buffers) viewed for this pass's run. */
  private runBuffer(key: string, shape: number[]): Tensor {
    const full = shape.slice();
    full[0] += (this.steps - this.run) * (shape.length === 2 ? this.batch : 1);
    return this.buffer(key, full).prefix(shape);
  }

  /** Sequence k's slice [k·n, (k + 1)·n) of `src` copied into `dst` (or the reverse with `back`). */
  private static copyRow(src: Tensor, dst: Tensor, k: number, back = false): void {
    const n = back ? src.size : dst.size;
    if (back) dst.view().set(src.view(), k * n);
    else dst.view().set(src.view().subarray(k * n, (k + 1) * n));
  }

  /** A training pass with its own weight sample per sequence: each sequence a batch-1 pass, its activations kept for backward. */
  private forwardPerSequence(x: Tensor, B: number, weights: SequenceWeights): Tensor {
    const T = this.steps, I = this.features, H = this.units, GH = this.gatesPerUnit * H, lstm = this.cell === 'lstm';
    this.stepsRun += T;
    const xs = this.buffer('xS', [B, T, I]);
    xs.view().set(x.view());
    const gS = this.buffer('gS', [B, T, GH]), hS = this.buffer('hS', [B, T + 1, H]);
    const cS = lstm ? this.buffer('cS', [B, T + 1, H]) : null, ghS = lstm ? null : this.buffer('ghS', [B, T, GH]);
    const xk = this.buffer('xk', [1, T, I]), gk = this.buffer('gk', [T, 1, GH]), hk = this.buffer('hk', [T + 1, 1, H]);
    const mk = this.ropts.masking ? this.buffer('mk', [T, 1]) : null;
    const seq = this.ropts.returnSequences ?? false;
    const y = this.buffer('y', seq ? [B, T, H] : [B, H]);
    for (let k = 0; k < B; k++) {
      Recurrent.copyRow(xs, xk, k);
      if (mk) stepMask(xk, mk);
      const { wx, wh } = weights(k, true);
      matmul(xk.reshape([T, I]), wx, { bias: this.bias?.value, out: gk.reshape([T, GH]) });
      if (lstm) lstmForward(gk, wh, hk, this.buffer('ck', [T + 1, 1, H]), mk, null);
      else gruForward(gk, wh, this.recurrentBias?.value ?? null, this.buffer('ghk', [T, 1, GH]), hk, mk, null);
      Recurrent.copyRow(gk, gS, k, true);
      Recurrent.copyRow(hk, hS, k, true);
      if (cS) Recurrent.copyRow(this.buffer('ck', [T + 1, 1, H]), cS, k, true);
      if (ghS) Recurrent.copyRow(this.buffer('ghk', [T, 1, GH]), ghS, k, true);
      if (seq) {
        const states = this.buffer('hsk', [T, 1, H]);
        states.view().set(hk.view().subarray(H));
        Recurrent.copyRow(swapOuter(states, this.buffer('yk', [1, T, H]), mk), y, k, true);
      } else y.view().set(hk.view().subarray(T * H), k * H);
    }
    return y;
  }

  /** Backward of {@link forwardPerSequence}: each sequence's weights drawn again, its gradients added sequence by sequence. */
  private backwardPerSequence(dy: Tensor, weights: SequenceWeights): Tensor | null {
    const T = this.steps, I = this.features, H = this.units, B = this.batch, GH = this.gatesPerUnit * H, lstm = this.cell === 'lstm';
    const seq = this.ropts.returnSequences ?? false;
    const xs = this.buffer('xS', [B, T, I]), gS = this.buffer('gS', [B, T, GH]), hS = this.buffer('hS', [B, T + 1, H]);
    const xk = this.buffer('xk', [1, T, I]), gk = this.buffer('gk', [T, 1, GH]), hk = this.buffer('hk', [T + 1, 1, H]);
    const ck = this.buffer('ck', [T + 1, 1, H]), ghk = this.buffer('ghk', [T, 1, GH]);
    const mk = this.ropts.masking ? this.buffer('mk', [T, 1]) : null;
    const dyk = this.buffer('dyk', seq ? [T, 1, H] : [1, H]);
    const dGx = this.buffer('dGxk', [T, 1, GH]), dGh = lstm ? dGx : this.buffer('dGhk', [T, 1, GH]);
    const s = { dh: this.buffer('dh1', [1, H]), dc: this.buffer('dc1', [1, H]), tmp: this.buffer('tmp1', [1, H]) };
    const dx = this.inputGrad ? this.buffer('dx', [B, T, I]) : null;
    for (let k = 0; k < B; k++) {
      Recurrent.copyRow(xs, xk, k);
      if (mk) stepMask(xk, mk);
      Recurrent.copyRow(gS, gk, k);
      Recurrent.copyRow(hS, hk, k);
      if (lstm) Recurrent.copyRow(this.buffer('cS', [B, T + 1, H]), ck, k);
      else Recurrent.copyRow(this.buffer('ghS', [B, T, GH]), ghk, k);
      Recurrent.copyRow(dy, dyk, k); // [1, T, H] is [T, 1, H] in memory
      const { wx, wh } = weights(k, false);
      if (lstm) lstmBackward(gk, wh, hk, ck, mk, dyk, !seq, dGx, s, null);
      else gruBackward(gk, ghk, wh, hk, mk, dyk, !seq, dGx, dGh, s, null);
      const dGx2 = dGx.reshape([T, GH]), dGh2 = dGh.reshape([T, GH]);
      const { dwx, dwh, accumulate } = this.weightGrads();
      matmul(xk.reshape([T, I]), dGx2, { transA: true, out: dwx, accumulate });
      matmul(hk.prefix([T, H]), dGh2, { transA: true, out: dwh, accumulate });
      if (this.bias) columnSums(dGx2, { out: this.bias.grad, accumulate: true });
      if (this.recurrentBias) columnSums(dGh2, { out: this.recurrentBias.grad, accumulate: true });
      this.finishWeightGrads();
      if (dx) Recurrent.copyRow(matmul(dGx2, wx, { transB: true, out: this.buffer('dxk', [T, I]) }), dx, k, true);
    }
    return dx ? dx.reshape([B, ...this.inputShape]) : null;
  }

  backward(dy: Tensor): Tensor | null {
    if (this.perSequence) return this.backwardPerSequence(dy, this.perSequence);
    const T = this.run, Tall = this.steps, I = this.features, H = this.units, B = this.batch, GH = this.gatesPerUnit * H;
    const seq = this.ropts.returnSequences ?? false;
    const dyt = seq ? this.runOf(swapOuter(dy.reshape([B, Tall, H]), this.buffer('dyt', [Tall, B, H])), 'dytRun') : dy;
    const g = this.runBuffer('g', [T * B, GH]).reshape([T, B, GH]);
    const h = this.runBuffer('h', [T + 1, B, H]);
    const s = { dh: this.buffer('dhc', [B, H]), dc: this.buffer('dcc', [B, H]), tmp: this.buffer('tmp', [B, H]) };
    const dGx = this.runBuffer('dGx', [T, B, GH]);
    let dGh = dGx;
    if (this.cell === 'lstm') lstmBackward(g, this.wh, h, this.runBuffer('c', [T + 1, B, H]), this.mask, dyt, !seq, dGx, s, this.drop);
    else {
      dGh = this.runBuffer('dGh', [T, B, GH]);
      gruBackward(g, this.runBuffer('gh', [T, B, GH]), this.wh, h, this.mask, dyt, !seq, dGx, dGh, s, this.drop);
    }
    const dGx2 = dGx.reshape([T * B, GH]), dGh2 = dGh.reshape([T * B, GH]);
    const xt = this.xt!.reshape([T * B, I]);
    const { dwx, dwh, accumulate } = this.weightGrads();
    matmul(xt, dGx2, { transA: true, out: dwx, accumulate });
    const hin = this.drop ? this.drop.masked.reshape([T * B, H]) : h.prefix([T * B, H]);
    matmul(hin, dGh2, { transA: true, out: dwh, accumulate });
    if (this.bias) columnSums(dGx2, { out: this.bias.grad, accumulate: true });
    if (this.recurrentBias) columnSums(dGh2, { out: this.recurrentBias.grad, accumulate: true });
    this.finishWeightGrads();
    if (!this.inputGrad) return null;
    const dxt = matmul(dGx2, this.wx, { transB: true, out: this.runBuffer('dxt', [T * B, I]) });
    if (this.inputMask) mulRows(dxt, this.inputMask, dxt);
    return swapOuter(this.placeRun(dxt.reshape([T, B, I]), 'dxtAll'), this.buffer('dx', [B, Tall, I])).reshape([B, ...this.inputShape]);
  }

  params(): ParamGroup[] {
    const p = this.weightParams();
    if (this.bias) p.push(this.bias);
    if (this.recurrentBias) p.push(this.recurrentBias);
    return p;
  }

  /** The weight parameter groups (W_x's first). */
  protected abstract weightParams(): ParamGroup[];

  /** W_x [features, G·units] and W_h [units, G·units] as the deterministic forward uses them (dropped weights 0). */
  protected abstract inferenceWeights(): { wx: Float32Array; wh: Float32Array };

  /** The cell with its inference weights (see {@link RecurrentForm}); `prune` stores them sparse or dense. */
  inference(): InferenceForm {
    const { wx, wh } = this.inferenceWeights();
    return {
      kind: 'recurrent', cell: this.cell, inputs: this.features, units: this.units, wx, wh,
      bias: this.bias?.value.toArray() ?? null, recurrentBias: this.recurrentBias?.value.toArray() ?? null,
      returnSequences: this.ropts.returnSequences ?? false, masking: this.ropts.masking ?? false,
    };
  }
}

/** Plain weights, optionally with Gal & Ghahramani's Bernoulli dropout kept over time. */
abstract class PlainRecurrent extends Recurrent {
  protected kernel!: ParamGroup;
  protected recurrentKernel!: ParamGroup;
  private readonly rates: [number, number];
  protected readonly opts: DropoutRecurrentOptions;

  constructor(cell: CellKind, opts: DropoutRecurrentOptions) {
    super(cell, opts);
    this.opts = opts;
    this.rates = [checkNumber('dropout', opts.dropout ?? 0, 0, 0.999999), checkNumber('recurrentDropout', opts.recurrentDropout ?? 0, 0, 0.999999)];
  }

  protected initWeights(wx: Tensor, wh: Tensor): void {
    this.kernel = param(`${this.name}/kernel`, wx, this.opts.l1 ?? 0, this.opts.l2 ?? 0);
    this.recurrentKernel = param(`${this.name}/recurrentKernel`, wh, this.opts.l1 ?? 0, this.opts.l2 ?? 0);
  }

  protected passWeights(): { wx: Tensor; wh: Tensor } {
    return { wx: this.kernel.value, wh: this.recurrentKernel.value };
  }

  protected weightGrads(): { dwx: Tensor; dwh: Tensor; accumulate: boolean } {
    return { dwx: this.kernel.grad, dwh: this.recurrentKernel.grad, accumulate: true };
  }

  protected dropoutRates(): [number, number] {
    return this.rates;
  }

  protected weightParams(): ParamGroup[] {
    return [this.kernel, this.recurrentKernel];
  }

  protected inferenceWeights(): { wx: Float32Array; wh: Float32Array } {
    return { wx: this.kernel.value.toArray(), wh: this.recurrentKernel.value.toArray() };
  }
}

/**
 * Long short-term memory (Hochreiter & Schmidhuber 1997, with forget gate): x [batch, T, features]
 * → [batch, units] (last state) or [batch, T, units]. W_x [features, 4·units], W_h [units, 4·units],
 * bias [4·units], gates in the order i, f, g, o.
 */
export class LSTM extends PlainRecurrent {
  constructor(opts: DropoutRecurrentOptions) {
    super('lstm', opts);
  }
  config(): LayerConfig {
    return { className: 'LSTM', options: { ...this.opts } };
  }
}

/**
 * Gated recurrent unit (Cho et al. 2014, PyTorch's form with the reset gate inside the product):
 * W_x [features, 3·units], W_h [units, 3·units], bias and recurrentBias [3·units], gates r, z, n.
 */
export class GRU extends PlainRecurrent {
  constructor(opts: DropoutRecurrentOptions) {
    super('gru', opts);
  }
  config(): LayerConfig {
    return { className: 'GRU', options: { ...this.opts } };
  }
}

/**
 * Sparse VD weights for a recurrent layer (Lobacheva, Chirkova & Vetrov 2017): W_x and W_h each a
 * (θ, log σ²) per weight with the log-uniform prior, one sample per pass used at every time step
 * (no local reparameterization); weights with log α ≥ threshold are dropped at inference. With
 * `groups`, multiplicative group variables of inputs, hidden units and gates too (2018).
 */
export abstract class SparseVDRecurrent extends Recurrent {
  protected wxs!: SampledWeight;
  protected whs!: SampledWeight;
  /** Group variables: z_x [features], z_h [units], z_gate [G·units] (those `groups` asks for). */
  protected zx?: SampledWeight;
  protected zh?: SampledWeight;
  protected zg?: SampledWeight;
  protected readonly opts: SparseVDRecurrentOptions;
  private readonly groupSet: Required<RecurrentGroups>;
  private stochastic = false;
  /** The current sample's unscaled W_x, W_h and group variables (for the chain rule of the scaling). */
  private sample?: { wx: Tensor; wh: Tensor; zx: Tensor | null; zh: Tensor | null; zg: Tensor | null };

  constructor(cell: CellKind, opts: SparseVDRecurrentOptions) {
    super(cell, opts);
    this.opts = opts;
    sampledSettings(opts);
    if (opts.weightNoise !== undefined && opts.weightNoise !== 'sequence' && opts.weightNoise !== 'batch') throw new ArgumentError('weightNoise', "'sequence' or 'batch'", describe(opts.weightNoise));
    this.groupSet = recurrentGroups(opts.groups);
  }

  /** Weights (or units) with log α ≥ this are dropped. */
  get threshold(): number {
    return this.wxs.threshold;
  }

  private get groupVars(): SampledWeight[] {
    return [this.zx, this.zh, this.zg].filter((z): z is SampledWeight => z !== undefined);
  }

  protected initWeights(wx: Tensor, wh: Tensor): void {
    const buf = (k: string, s: Shape): Tensor => this.buffer(k, s);
    this.wxs = new SampledWeight('wx', `${this.name}/kernel`, wx, this.opts, this.opts.l1 ?? 0, this.opts.l2 ?? 0, buf);
    this.whs = new SampledWeight('wh', `${this.name}/recurrentKernel`, wh, this.opts, this.opts.l1 ?? 0, this.opts.l2 ?? 0, buf);
    const g = this.groupSet, group = (k: string, n: number) => groupVariable(k, `${this.name}/${k}`, n, this.opts, this.rt, buf);
    if (g.inputs) this.zx = group('inputGroups', wx.shape[0]);
    if (g.hidden) this.zh = group('hiddenGroups', wh.shape[0]);
    if (g.gates) this.zg = group('gateGroups', wx.shape[1]);
  }

  /**
   * The pass's W_x and W_h from the unscaled samples and the group variables' samples: diag(z_x)·W_x·diag(z_gate)
   * and diag(z_h)·W_h·diag(z_gate), kept for the backward; the samples themselves without groups.
   */
  private scaled(wx: Tensor, wh: Tensor, zs: Tensor[]): { wx: Tensor; wh: Tensor } {
    if (zs.length === 0) return { wx, wh };
    const pick = (z?: SampledWeight) => (z ? zs[this.groupVars.indexOf(z)] : null);
    const s = { wx, wh, zx: pick(this.zx), zh: pick(this.zh), zg: pick(this.zg) };
    this.sample = s;
    return { wx: groupScale(wx, s.zx, s.zg, this.buffer('wxEff', wx.shape)), wh: groupScale(wh, s.zh, s.zg, this.buffer('whEff', wh.shape)) };
  }

  protected sequenceWeights(ctx: ForwardContext): SequenceWeights | null {
    if (!ctx.training || (this.opts.weightNoise ?? 'sequence') !== 'sequence') return null;
    const seed = passSeed(ctx), rows = ctx.rows;
    if (rows) for (let k = 0; k < rows.length; k++) sequenceStream(this.index, rows[k]); // checked before any sample
    // The backward reads each sequence's ε back from here: B·(features + units)·G·units floats
    // (and the group variables'), drawing them once per pass instead of twice.
    let banks: Tensor[] | null = null;
    const vars = [this.wxs, this.whs, ...this.groupVars];
    return (k, draw) => {
      if (!banks) {
        const B = this.batchSize();
        banks = vars.map((v, i) => this.buffer(`epsBank${i}`, [B, v.theta.value.size]));
      }
      const stream = sequenceStream(this.index, rows ? rows[k] : k);
      let offset = 0;
      const drawn = vars.map((v, i) => {
        const t = v.resample(seed, stream, offset, { eps: banks![i], row: k, draw });
        offset += t.size;
        return t;
      });
      return this.scaled(drawn[0], drawn[1], drawn.slice(2));
    };
  }

  protected passWeights(ctx: ForwardContext, offset: number): { wx: Tensor; wh: Tensor } {
    this.stochastic = ctx.training || ctx.sample;
    let o = offset;
    const [wx, wh, ...zs] = [this.wxs, this.whs, ...this.groupVars].map((v) => {
      const t = v.value(ctx, this.stochastic, this.index, o);
      o += t.size;
      return t;
    });
    return this.scaled(wx, wh, zs);
  }

  protected weightGrads(): { dwx: Tensor; dwh: Tensor; accumulate: boolean } {
    return { dwx: this.buffer('dwx', this.wxs.theta.value.shape), dwh: this.buffer('dwh', this.whs.theta.value.shape), accumulate: false };
  }

  protected finishWeightGrads(): void {
    const dwx = this.buffer('dwx', this.wxs.theta.value.shape), dwh = this.buffer('dwh', this.whs.theta.value.shape);
    const s = this.sample;
    if (s && this.groupVars.length) {
      const dz = (z: SampledWeight | undefined, key: string): Tensor | null => {
        if (!z) return null;
        const t = this.buffer(key, z.theta.value.shape);
        t.view().fill(0);
        return t;
      };
      const dzx = dz(this.zx, 'dzx'), dzh = dz(this.zh, 'dzh'), dzg = dz(this.zg, 'dzg');
      groupScaleGrads(dwx, s.wx, s.zx, s.zg, dwx, dzx, dzg);
      groupScaleGrads(dwh, s.wh, s.zh, s.zg, dwh, dzh, dzg);
      if (dzx) this.zx!.backward(dzx);
      if (dzh) this.zh!.backward(dzh);
      if (dzg) this.zg!.backward(dzg);
    }
    this.wxs.backward(dwx);
    this.whs.backward(dwh);
  }

  kl(gradScale?: number, value = true): number {
    let k = this.wxs.kl(gradScale, value) + this.whs.kl(gradScale, value);
    for (const z of this.groupVars) k += z.kl(gradScale, value);
    return k;
  }

  /** Weights of W_x and W_h kept at inference (their own log α and, with groups, their row's and column's below the threshold) of all. */
  sparsity(): { kept: number; total: number } {
    const mx = groupedKeptMask(this.wxs, this.zx, this.zg), mh = groupedKeptMask(this.whs, this.zh, this.zg);
    return { kept: countKept(mx) + countKept(mh), total: mx.length + mh.length };
  }

  /** With `groups`: how many input features, hidden units and gate pre-activations keep their group variable (null where the layer has none). */
  groupsKept(): { inputs: number | null; hidden: number | null; gates: number | null } {
    const n = (z?: SampledWeight) => (z ? countKept(z.keptMask()) : null);
    return { inputs: n(this.zx), hidden: n(this.zh), gates: n(this.zg) };
  }

  /** Clamped log α of W_x [features, G·units] and W_h [units, G·units] (and of the group variables the layer has). */
  logAlpha(): { kernel: Float32Array; recurrentKernel: Float32Array; inputGroups?: Float32Array; hiddenGroups?: Float32Array; gateGroups?: Float32Array } {
    return {
      kernel: this.wxs.logAlpha(), recurrentKernel: this.whs.logAlpha(),
      ...(this.zx ? { inputGroups: this.zx.logAlpha() } : {}), ...(this.zh ? { hiddenGroups: this.zh.logAlpha() } : {}), ...(this.zg ? { gateGroups: this.zg.logAlpha() } : {}),
    };
  }

  protected weightParams(): ParamGroup[] {
    return [...this.wxs.params(), ...this.whs.params(), ...this.groupVars.flatMap((z) => z.params())];
  }

  protected inferenceWeights(): { wx: Float32Array; wh: Float32Array } {
    return { wx: groupedInferenceWeights(this.wxs, this.zx, this.zg), wh: groupedInferenceWeights(this.whs, this.zh, this.zg) };
  }
}

/** Sparse VD LSTM: {@link LSTM}'s cell with Sparse VD W_x and W_h (see {@link SparseVDRecurrentOptions}). */
export class SparseVDLSTM extends SparseVDRecurrent {
  constructor(opts: SparseVDRecurrentOptions) {
    super('lstm', opts);
  }
  config(): LayerConfig {
    return { className: 'SparseVDLSTM', options: { ...this.opts } };
  }
}

/** Sparse VD GRU: {@link GRU}'s cell with Sparse VD W_x and W_h. */
export class SparseVDGRU extends SparseVDRecurrent {
  constructor(opts: SparseVDRecurrentOptions) {
    super('gru', opts);
  }
  config(): LayerConfig {
    return { className: 'SparseVDGRU', options: { ...this.opts } };
  }
}

registerLayer('LSTM', (o) => new LSTM(o as unknown as DropoutRecurrentOptions));
registerLayer('GRU', (o) => new GRU(o as unknown as DropoutRecurrentOptions));
registerLayer('SparseVDLSTM', (o) => new SparseVDLSTM(o as unknown as SparseVDRecurrentOptions));
registerLayer('SparseVDGRU', (o) => new SparseVDGRU(o as unknown as SparseVDRecurrentOptions));
