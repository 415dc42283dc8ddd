import { Shape, Tensor, sizeOf } from '../tensor.js';
import { ForwardContext, InferenceForm, Layer, LayerConfig, registerLayer } from './layer.js';

/** [batch, ...dims] → [batch, prod(dims)], sharing memory (NHWC order is kept). */
export class Flatten extends Layer {
  protected init(inputShape: Shape): Shape {
    return [sizeOf(inputShape)];
  }
  forward(x: Tensor, _ctx: ForwardContext): Tensor {
    const n = this.checkInput(x);
    return x.reshape([n, this.outputShape[0]]);
  }
  backward(dy: Tensor): Tensor {
    return dy.reshape([dy.shape[0], ...this.inputShape]);
  }
  inference(): InferenceForm {
    return { kind: 'flatten' };
  }
  config(): LayerConfig {
    return { className: 'Flatten', options: {} };
  }
}

registerLayer('Flatten', () => new Flatten());
