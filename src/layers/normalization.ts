import { ArgumentError, checkNumber } from '../errors.js';
import { optionsObject } from '../validate.js';
import { BatchNormSaved, batchNorm, batchNormBackward } from '../ops/batchnorm.js';
import { Shape, Tensor } from '../tensor.js';
import { ForwardContext, InferenceForm, Layer, LayerConfig, ParamGroup, StateGroup, param, registerLayer } from './layer.js';

/** Options of {@link BatchNorm}. */
export interface BatchNormLayerOptions {
  /** Weight of the new batch in the running statistics (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  epsilon?: number;
}

/**
 * Batch normalisation over the last axis (features, or channels of NHWC images): batch
 * statistics in training (running averages updated), running statistics at inference;
 * learnt scale γ and shift β.
 */
export class BatchNorm extends Layer {
  private readonly momentum: number;
  private readonly eps: number;
  private gamma!: ParamGroup;
  private beta!: ParamGroup;
  private runningMean!: Tensor;
  private runningVar!: Tensor;
  private saved?: BatchNormSaved;
  private x?: Tensor;

  constructor(opts: BatchNormLayerOptions = {}) {
    super();
    optionsObject('options', opts);
    this.momentum = checkNumber('momentum', opts.momentum ?? 0.1, 0, 1);
    this.eps = checkNumber('epsilon', opts.epsilon ?? 1e-5, 1e-12);
  }

  protected init(inputShape: Shape): Shape {
    const c = inputShape[inputShape.length - 1];
    const g = Tensor.zeros([c], this.rt);
    g.view().fill(1);
    this.gamma = param(`${this.name}/gamma`, g);
    this.beta = param(`${this.name}/beta`, Tensor.zeros([c], this.rt));
    this.runningMean = Tensor.zeros([c], this.rt);
    this.runningVar = Tensor.zeros([c], this.rt);
    this.runningVar.view().fill(1);
    return inputShape;
  }

  plan(inputShape: Shape): { outputShape: Shape; weights: number } {
    return { outputShape: inputShape, weights: inputShape[inputShape.length - 1] ?? 0 };
  }

  forward(x: Tensor, ctx: ForwardContext): Tensor {
    this.checkInput(x);
    this.x = x;
    const c = this.gamma.value.size;
    const saved = ctx.training ? { mean: this.buffer('mean', [c]), invstd: this.buffer('invstd', [c]) } : undefined;
    const r = batchNorm(x, this.gamma.value, this.beta.value, { runningMean: this.runningMean, runningVar: this.runningVar }, {
      training: ctx.training, momentum: this.momentum, eps: this.eps, out: this.buffer('y', x.shape), saved,
    });
    this.saved = r.saved ?? undefined;
    return r.y;
  }

  backward(dy: Tensor): Tensor {
    if (!this.saved) throw new ArgumentError('dy', 'a backward after a training forward', 'a backward after an inference forward');
    return batchNormBackward(dy, this.x!, this.gamma.value, this.saved, {
      out: this.buffer('dx', dy.shape), dGamma: this.gamma.grad, dBeta: this.beta.grad, accumulateParams: true,
    }).dx;
  }

  params(): ParamGroup[] {
    return [this.gamma, this.beta];
  }

  /** The running mean and variance, [channels] each (`runningMean`, `runningVar`). */
  state(): StateGroup[] {
    return [
      { name: `${this.name}/runningMean`, value: this.runningMean },
      { name: `${this.name}/runningVar`, value: this.runningVar, min: 0 },
    ];
  }

  /** Running mean and variance (copies), [channels] each. */
  runningStats(): { mean: Float32Array; variance: Float32Array } {
    return { mean: this.runningMean.toArray(), variance: this.runningVar.toArray() };
  }

  /** Overwrite the running statistics (checked as {@link Layer.setState} checks them). */
  setRunningStats(mean: Float32Array, variance: Float32Array): void {
    this.setState({ runningMean: mean, runningVar: variance });
  }

  /** y = γ·(x − mean)/sqrt(var + ε) + β with the running statistics. */
  inference(): InferenceForm {
    const { mean, variance } = this.runningStats();
    return { kind: 'batchNorm', gamma: this.gamma.value.toArray(), beta: this.beta.value.toArray(), mean, variance, eps: this.eps };
  }

  config(): LayerConfig {
    return { className: 'BatchNorm', options: { momentum: this.momentum, epsilon: this.eps } };
  }
}

registerLayer('BatchNorm', (o) => new BatchNorm(o as BatchNormLayerOptions));
