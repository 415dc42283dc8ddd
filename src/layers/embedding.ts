import { ArgumentError, ShapeError, checkInt, checkNumber, describe } from '../errors.js';
import { embeddingGrad, embeddingLookup, groupScale, groupScaleGrads } from '../ops/rnn.js';
import { Initializer, initialize } from '../init.js';
import { Shape, Tensor, fmtShape } from '../tensor.js';
import { ForwardContext, InferenceForm, Layer, LayerConfig, ParamGroup, param, registerLayer } from './layer.js';
import {
  SampledWeight, SampledWeightOptions, countKept, groupVariable, groupedInferenceWeights, groupedKeptMask, sampledSettings,
} from './sampled-weight.js';

/** Options of {@link Embedding}. */
export interface EmbeddingOptions {
  /** Vocabulary size V: token ids are integers in [0, V). */
  inputDim: number;
  /** Embedding dimension D. */
  outputDim: number;
  /**
   * Id 0 is padding (default false): its rows are zeros and get no gradient, so a recurrent
   * layer with `masking` skips those steps.
   */
  maskZero?: boolean;
  /** Initialiser of the table [V, D] (default U(−0.05, 0.05), as Keras). */
  embeddingsInitializer?: Initializer;
  /** L1 coefficient on the table (default 0). */
  l1?: number;
  /** L2 coefficient on the table (default 0). */
  l2?: number;
}

/** Options of {@link SparseVDEmbedding}. */
export interface SparseVDEmbeddingOptions extends EmbeddingOptions, SampledWeightOptions {
  /**
   * `'words'`: a multiplicative group variable z_v ~ N(θ_z, σ_z²) per word [inputDim] (θ_z from
   * 1), with the log-uniform prior and the weights' KL, sampled with the table each pass; the
   * pass reads diag(z)·table, and a word whose z is dropped (log α_z ≥ threshold) leaves the
   * vocabulary whole (Lobacheva, Chirkova & Vetrov 2018; Chirkova et al. 2018). Default none.
   */
  groups?: 'words';
}

/**
 * Base of the embeddings: ids [batch, T] (integers stored as float32) → rows of a table [V, D],
 * [batch, T, D]. The table's gradient touches only the rows of the ids in the batch. The ids get
 * no gradient (`backward` returns null), so an embedding is the first layer of a model.
 */
abstract class EmbeddingBase extends Layer {
  readonly inputDim: number;
  readonly outputDim: number;
  protected readonly eopts: EmbeddingOptions;
  private ids?: Tensor;

  constructor(opts: EmbeddingOptions) {
    super();
    this.eopts = opts;
    this.inputDim = checkInt('inputDim', opts?.inputDim, 1, 2 ** 24);
    this.outputDim = checkInt('outputDim', opts.outputDim, 1);
    checkNumber('l1', opts.l1 ?? 0, 0);
    checkNumber('l2', opts.l2 ?? 0, 0);
  }

  plan(inputShape: Shape): { outputShape: Shape; weights: number } {
    if (inputShape.length !== 1) throw new ShapeError('inputShape', '[steps] (token ids)', fmtShape(inputShape));
    return { outputShape: [inputShape[0], this.outputDim], weights: this.inputDim * this.outputDim };
  }

  protected init(inputShape: Shape, seed: number): Shape {
    const { outputShape } = this.plan(inputShape);
    const t = Tensor.zeros([this.inputDim, this.outputDim], this.rt);
    initialize(t, this.eopts.embeddingsInitializer ?? { uniform: { min: -0.05, max: 0.05 } }, this.inputDim, this.outputDim, seed, 0);
    this.initTable(t);
    return outputShape;
  }

  protected abstract initTable(t: Tensor): void;
  /** The table of this pass. */
  protected abstract table(ctx: ForwardContext): Tensor;
  /** Where the table's gradient goes (added into), and the chain rule after it was written. */
  protected abstract tableGrad(): Tensor;
  protected finishGrad(): void {}

  private get zeroId(): number {
    return this.eopts.maskZero ? 0 : -1;
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const B = this.checkInput(x);
    this.ids = x;
    const y = this.buffer('y', [B, ...this.outputShape]);
    return embeddingLookup(x, this.table(ctx), y, this.zeroId);
  }

  /** The table as the deterministic forward reads it [inputDim, outputDim] (dropped entries 0). */
  protected abstract inferenceTable(): Float32Array;

  /** The lookup with its inference table (see {@link EmbeddingForm}); `prune` removes the words whose row is all zero. */
  inference(): InferenceForm {
    return { kind: 'embedding', vocab: this.inputDim, dim: this.outputDim, table: this.inferenceTable(), zeroId: this.zeroId };
  }

  backward(dy: Tensor): null {
    embeddingGrad(this.ids!, dy, this.tableGrad(), this.zeroId);
    this.finishGrad();
    return null;
  }
}

/** A learnt lookup table: ids [batch, T] → [batch, T, outputDim]; weights `embeddings` [inputDim, outputDim]. */
export class Embedding extends EmbeddingBase {
  protected embeddings!: ParamGroup;
  constructor(opts: EmbeddingOptions) {
    super(opts);
  }
  protected initTable(t: Tensor): void {
    this.embeddings = param(`${this.name}/embeddings`, t, this.eopts.l1 ?? 0, this.eopts.l2 ?? 0);
  }
  protected table(): Tensor {
    return this.embeddings.value;
  }
  protected tableGrad(): Tensor {
    return this.embeddings.grad;
  }
  protected inferenceTable(): Float32Array {
    return this.embeddings.value.toArray();
  }
  params(): ParamGroup[] {
    return [this.embeddings];
  }
  config(): LayerConfig {
    return { className: 'Embedding', options: { ...this.eopts } };
  }
}

/**
 * Sparse VD embedding (Chirkova, Lobacheva & Vetrov 2018): a (θ, log σ²) per table entry, one
 * sample of the whole table per pass, the log-uniform prior's KL; entries with log α ≥ threshold
 * are dropped at inference, and a word whose row is all dropped leaves the vocabulary.
 */
export class SparseVDEmbedding extends EmbeddingBase {
  protected w!: SampledWeight;
  /** With `groups: 'words'`: one variable per word [inputDim]. */
  protected zw?: SampledWeight;
  private readonly sopts: SparseVDEmbeddingOptions;
  /** This pass's unscaled table sample and word variables (for the chain rule of the scaling). */
  private sample?: { table: Tensor; z: Tensor };
  constructor(opts: SparseVDEmbeddingOptions) {
    super(opts);
    this.sopts = opts;
    sampledSettings(opts);
    if (opts.groups !== undefined && opts.groups !== 'words') throw new ArgumentError('groups', "'words' (one variable per word) or undefined", describe(opts.groups));
  }
  protected initTable(t: Tensor): void {
    const buf = (k: string, s: Shape): Tensor => this.buffer(k, s);
    this.w = new SampledWeight('table', `${this.name}/embeddings`, t, this.sopts, this.sopts.l1 ?? 0, this.sopts.l2 ?? 0, buf);
    if (this.sopts.groups === 'words') this.zw = groupVariable('wordGroups', `${this.name}/wordGroups`, this.inputDim, this.sopts, this.rt, buf);
  }
  protected table(ctx: ForwardContext): Tensor {
    const stochastic = ctx.training || ctx.sample;
    const table = this.w.value(ctx, stochastic, this.index, 0);
    if (!this.zw) return table;
    const z = this.zw.value(ctx, stochastic, this.index, table.size);
    this.sample = { table, z };
    return groupScale(table, z, null, this.buffer('tableEff', table.shape));
  }
  protected tableGrad(): Tensor {
    const g = this.buffer('dtable', this.w.theta.value.shape);
    g.view().fill(0);
    return g;
  }
  protected finishGrad(): void {
    const g = this.buffer('dtable', this.w.theta.value.shape);
    if (this.zw && this.sample) {
      const dz = this.buffer('dzw', [this.inputDim]);
      dz.view().fill(0);
      groupScaleGrads(g, this.sample.table, this.sample.z, null, g, dz, null);
      this.zw.backward(dz);
    }
    this.w.backward(g);
  }
  protected inferenceTable(): Float32Array {
    return groupedInferenceWeights(this.w, this.zw, undefined);
  }
  kl(gradScale?: number, value = true): number {
    return this.w.kl(gradScale, value) + (this.zw ? this.zw.kl(gradScale, value) : 0);
  }
  /** Table entries kept at inference (their own log α and, with word groups, their word's below the threshold) of all. */
  sparsity(): { kept: number; total: number } {
    const m = groupedKeptMask(this.w, this.zw, undefined);
    return { kept: countKept(m), total: m.length };
  }
  /** Entries with log α ≥ this are dropped. */
  get threshold(): number {
    return this.w.threshold;
  }
  /** Clamped log α of the table [inputDim, outputDim]. */
  logAlpha(): Float32Array {
    return this.w.logAlpha();
  }
  /** With `groups: 'words'`: clamped log α of the word variables [inputDim]; else null. */
  wordLogAlpha(): Float32Array | null {
    return this.zw ? this.zw.logAlpha() : null;
  }
  /** Words whose row keeps at least one entry (the vocabulary left after pruning). */
  keptWords(): number {
    const m = groupedKeptMask(this.w, this.zw, undefined), D = this.outputDim;
    let n = 0;
    for (let v = 0; v < this.inputDim; v++) {
      let any = 0;
      for (let j = 0; j < D; j++) any |= m[v * D + j];
      n += any;
    }
    return n;
  }
  params(): ParamGroup[] {
    return [...this.w.params(), ...(this.zw ? this.zw.params() : [])];
  }
  config(): LayerConfig {
    return { className: 'SparseVDEmbedding', options: { ...this.sopts } };
  }
}

registerLayer('Embedding', (o) => new Embedding(o as unknown as EmbeddingOptions));
registerLayer('SparseVDEmbedding', (o) => new SparseVDEmbedding(o as unknown as SparseVDEmbeddingOptions));
