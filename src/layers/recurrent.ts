import { ShapeError, checkInt, checkNumber } from '../errors.js';
import { columnSums } from '../ops/elementwise.js';
import { matmul } from '../ops/gemm.js';
import { bernoulli } from '../ops/noise.js';
import { RecurrentDrop, gruBackward, gruForward, lstmBackward, lstmForward, mulRows, stepMask, swapOuter } from '../ops/rnn.js';
import { Initializer, initialize } from '../init.js';
import { Shape, Tensor, fmtShape } from '../tensor.js';
import { passSeed } from './bayesian.js';
import { ForwardContext, InferenceForm, Layer, LayerConfig, ParamGroup, param, registerLayer } from './layer.js';
import { SampledWeight, SampledWeightOptions, sampledSettings } from './sampled-weight.js';

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
export interface SparseVDRecurrentOptions extends RecurrentOptions, SampledWeightOptions {}

/** Noise offsets within a layer's stream: dropout masks, then the weight samples. */
const OFFSET_INPUT_MASK = 0, OFFSET_STATE_MASK = 0x40000000, OFFSET_WEIGHTS = 0x80000000;

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
  /** Input and recurrent Bernoulli dropout rates of a training pass. */
  protected dropoutRates(): [number, number] {
    return [0, 0];
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const B = this.checkInput(x);
    const T = this.steps, I = this.features, H = this.units, GH = this.gatesPerUnit * H;
    this.batch = B;
    ({ wx: this.wx, wh: this.wh } = this.passWeights(ctx, OFFSET_WEIGHTS));
    const x3 = x.reshape([B, T, I]);
    this.mask = this.ropts.masking ? this.buffer('mask', [T, B]) : null;
    if (this.mask) stepMask(x3, this.mask);
    const xt = swapOuter(x3, this.buffer('xt', [T, B, I]));
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
      this.drop = { mask: m, masked: this.buffer('hd', [T, B, H]) };
    }
    const g = matmul(xt.reshape([T * B, I]), this.wx, { bias: this.bias?.value, out: this.buffer('g', [T * B, GH]) }).reshape([T, B, GH]);
    const h = this.buffer('h', [T + 1, B, H]);
    if (this.cell === 'lstm') lstmForward(g, this.wh, h, this.buffer('c', [T + 1, B, H]), this.mask, this.drop);
    else gruForward(g, this.wh, this.recurrentBias?.value ?? null, this.buffer('gh', [T, B, GH]), h, this.mask, this.drop);
    if (this.ropts.returnSequences) {
      return swapOuter(this.statesFrom(h, 1), this.buffer('y', [B, T, H]), this.mask);
    }
    const y = this.buffer('y', [B, H]);
    y.view().set(h.view().subarray(T * B * H));
    return y;
  }

  /** States 1..T of h as one [T, B, H] tensor (a copy: tensors have no offset views). */
  private statesFrom(h: Tensor, from: number): Tensor {
    const T = this.steps, B = this.batch, H = this.units;
    const out = this.buffer('hs', [T, B, H]);
    out.view().set(h.view().subarray(from * B * H));
    return out;
  }

  backward(dy: Tensor): Tensor | null {
    const T = this.steps, I = this.features, H = this.units, B = this.batch, GH = this.gatesPerUnit * H;
    const seq = this.ropts.returnSequences ?? false;
    const dyt = seq ? swapOuter(dy.reshape([B, T, H]), this.buffer('dyt', [T, B, H])) : dy;
    const g = this.buffer('g', [T * B, GH]).reshape([T, B, GH]);
    const h = this.buffer('h', [T + 1, B, H]);
    const s = { dh: this.buffer('dhc', [B, H]), dc: this.buffer('dcc', [B, H]), tmp: this.buffer('tmp', [B, H]) };
    const dGx = this.buffer('dGx', [T, B, GH]);
    let dGh = dGx;
    if (this.cell === 'lstm') lstmBackward(g, this.wh, h, this.buffer('c', [T + 1, B, H]), this.mask, dyt, !seq, dGx, s, this.drop);
    else {
      dGh = this.buffer('dGh', [T, B, GH]);
      gruBackward(g, this.buffer('gh', [T, B, GH]), this.wh, h, this.mask, dyt, !seq, dGx, dGh, s, this.drop);
    }
    const dGx2 = dGx.reshape([T * B, GH]), dGh2 = dGh.reshape([T * B, GH]);
    const xt = this.buffer('xt', [T, B, I]).reshape([T * B, I]);
    const { dwx, dwh, accumulate } = this.weightGrads();
    matmul(xt, dGx2, { transA: true, out: dwx, accumulate });
    const hin = this.drop ? this.drop.masked.reshape([T * B, H]) : h.prefix([T * B, H]);
    matmul(hin, dGh2, { transA: true, out: dwh, accumulate });
    if (this.bias) columnSums(dGx2, { out: this.bias.grad, accumulate: true });
    if (this.recurrentBias) columnSums(dGh2, { out: this.recurrentBias.grad, accumulate: true });
    this.finishWeightGrads();
    if (!this.inputGrad) return null;
    const dxt = matmul(dGx2, this.wx, { transB: true, out: this.buffer('dxt', [T * B, I]) });
    if (this.inputMask) mulRows(dxt, this.inputMask, dxt);
    return swapOuter(dxt.reshape([T, B, I]), this.buffer('dx', [B, T, I])).reshape([B, ...this.inputShape]);
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
 * (no local reparameterization); weights with log α ≥ threshold are dropped at inference.
 */
export abstract class SparseVDRecurrent extends Recurrent {
  protected wxs!: SampledWeight;
  protected whs!: SampledWeight;
  protected readonly opts: SparseVDRecurrentOptions;
  private stochastic = false;

  constructor(cell: CellKind, opts: SparseVDRecurrentOptions) {
    super(cell, opts);
    this.opts = opts;
    sampledSettings(opts);
  }

  /** Weights (or units) with log α ≥ this are dropped. */
  get threshold(): number {
    return this.wxs.threshold;
  }

  protected initWeights(wx: Tensor, wh: Tensor): void {
    const buf = (k: string, s: Shape): Tensor => this.buffer(k, s);
    this.wxs = new SampledWeight('wx', `${this.name}/kernel`, wx, this.opts, this.opts.l1 ?? 0, this.opts.l2 ?? 0, buf);
    this.whs = new SampledWeight('wh', `${this.name}/recurrentKernel`, wh, this.opts, this.opts.l1 ?? 0, this.opts.l2 ?? 0, buf);
  }

  protected passWeights(ctx: ForwardContext, offset: number): { wx: Tensor; wh: Tensor } {
    this.stochastic = ctx.training || ctx.sample;
    const wx = this.wxs.value(ctx, this.stochastic, this.index, offset);
    const wh = this.whs.value(ctx, this.stochastic, this.index, offset + wx.size);
    return { wx, wh };
  }

  protected weightGrads(): { dwx: Tensor; dwh: Tensor; accumulate: boolean } {
    return { dwx: this.buffer('dwx', this.wxs.theta.value.shape), dwh: this.buffer('dwh', this.whs.theta.value.shape), accumulate: false };
  }

  protected finishWeightGrads(): void {
    this.wxs.backward(this.buffer('dwx', this.wxs.theta.value.shape));
    this.whs.backward(this.buffer('dwh', this.whs.theta.value.shape));
  }

  kl(gradScale?: number, value = true): number {
    return this.wxs.kl(gradScale, value) + this.whs.kl(gradScale, value);
  }

  sparsity(): { kept: number; total: number } {
    let kept = 0, total = 0;
    for (const w of [this.wxs, this.whs]) {
      const m = w.keptMask();
      total += m.length;
      for (let i = 0; i < m.length; i++) kept += m[i];
    }
    return { kept, total };
  }

  /** Clamped log α of W_x [features, G·units] and W_h [units, G·units]. */
  logAlpha(): { kernel: Float32Array; recurrentKernel: Float32Array } {
    return { kernel: this.wxs.logAlpha(), recurrentKernel: this.whs.logAlpha() };
  }

  protected weightParams(): ParamGroup[] {
    return [...this.wxs.params(), ...this.whs.params()];
  }

  protected inferenceWeights(): { wx: Float32Array; wh: Float32Array } {
    return { wx: this.wxs.inferenceWeights(), wh: this.whs.inferenceWeights() };
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
