// The `activation` option of weight layers: the same outputs and gradients as a separate
// activation layer after the weight layer, finite-difference checks, files and pruning.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ArgumentError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { Layer } from '../src/layers/layer.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import { SparseVDDense, VariationalDropoutConv2d } from '../src/layers/bayesian.js';
import { Activation } from '../src/layers/activation.js';
import { Flatten } from '../src/layers/reshape.js';
import { prune, SparseModel } from '../src/sparse.js';
import { loadModel, saveModel } from '../src/model.js';
import { gradCheck, lcg, randomArray } from './util/gradcheck.js';

const rt = Runtime.createSync();

function built<L extends Layer>(l: L, inputShape: number[]): L {
  l.name = 'l';
  l.index = 2;
  l.build(inputShape, rt, 5);
  return l;
}

describe('weight layers with a fused activation: finite differences', () => {
  for (const kind of ['relu', 'leakyRelu', 'elu', 'sigmoid', 'tanh'] as const) {
    it(`Dense + ${kind}`, () => gradCheck(built(new Dense({ units: 5, activation: kind }), [7]), rt, [3, 7], { h: 1e-3 }));
  }
  it('Conv2d + leakyRelu (α 0.2)', () => gradCheck(built(new Conv2d({ filters: 3, kernelSize: 3, padding: 1, activation: { kind: 'leakyRelu', alpha: 0.2 } }), [5, 4, 2]), rt, [2, 5, 4, 2], { h: 1e-3 }));
  it('SparseVDDense + tanh (sampled; unmasked, so the check does not cross the mask)', () => gradCheck(built(new SparseVDDense({ units: 4, activation: 'tanh', initialLogSigma2: -2, maskInTraining: false }), [6]), rt, [3, 6], { withKl: true, h: 1e-3 }));
});

describe('the activation option', () => {
  it('gives the bits of the weight layer followed by the activation layer, forward and backward', () => {
    for (const kind of ['relu', 'elu', 'sigmoid'] as const) {
      const fused = new Sequential({ inputShape: [6, 6, 2], seed: 3, runtime: rt, layers: [new Conv2d({ filters: 4, kernelSize: 3, activation: kind }), new Flatten()] });
      const split = new Sequential({ inputShape: [6, 6, 2], seed: 3, runtime: rt, layers: [new Conv2d({ filters: 4, kernelSize: 3 }), new Activation(kind), new Flatten()] });
      const x = randomArray(4 * 72, lcg(2));
      expect(Array.from(fused.predict(x))).toEqual(Array.from(split.predict(x)));
      const ctx = { training: true, sample: false, seed: 1, step: 0 };
      for (const m of [fused, split]) {
        for (const p of m.params()) p.grad.view().fill(0);
        const out = m.forward(Tensor.from(x, [4, 6, 6, 2], rt), ctx);
        m.backward(Tensor.from(randomArray(out.size, lcg(4)), out.shape, rt));
      }
      fused.params().forEach((p, i) => expect(Array.from(p.grad.view())).toEqual(Array.from(split.params()[i].grad.view())));
      fused.dispose();
      split.dispose();
    }
  });

  it('round-trips through files and prunes to a linear step and its activation', () => {
    const model = new Sequential({
      inputShape: [8, 8, 1], seed: 6, runtime: rt,
      layers: [new VariationalDropoutConv2d({ filters: 3, kernelSize: 3, activation: { kind: 'elu', alpha: 0.5 } }), new Flatten(), new Dense({ units: 4, activation: 'tanh' })],
    });
    const x = randomArray(3 * 64, lcg(5));
    const back = loadModel(saveModel(model), { runtime: rt });
    expect(back.layers[0].config().options.activation).toEqual({ kind: 'elu', alpha: 0.5 });
    expect(Array.from(back.predict(x))).toEqual(Array.from(model.predict(x)));
    const sm = prune(model);
    expect(sm.summary().map((s) => s.kind)).toEqual(['conv', 'activation', 'flatten', 'dense', 'activation']);
    const p = model.predict(x), q = sm.predict(x);
    for (let i = 0; i < p.length; i++) expect(Math.abs(p[i] - q[i])).toBeLessThan(1e-5);
    expect(Array.from(SparseModel.load(sm.save(), { runtime: rt }).predict(x))).toEqual(Array.from(q));
    for (const m of [model, back, sm]) m.dispose();
  });

  it('rejects an unknown activation before anything is built', () => {
    expect(() => new Dense({ units: 2, activation: 'gelu' as never })).toThrow(ArgumentError);
    expect(() => new Dense({ units: 2, activation: { kind: 'elu', alpha: NaN } })).toThrow(/activation\.alpha/);
  });
});
