import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor, sizeOf } from '../src/tensor.js';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { Layer } from '../src/layers/layer.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import {
  GroupSparseVDConv2d, GroupSparseVDDense, SparseVDConv2d, SparseVDDense, VariationalDropoutConv2d, VariationalDropoutDense,
} from '../src/layers/bayesian.js';
import { Activation, Softmax } from '../src/layers/activation.js';
import { Dropout, GaussianDropout } from '../src/layers/dropout.js';
import { AvgPool2d, MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { gradCheck, lcg, randomArray } from './util/gradcheck.js';

const rt = Runtime.createSync();

function built<L extends Layer>(l: L, inputShape: number[], name = 'l', index = 2): L {
  l.name = name;
  l.index = index;
  l.build(inputShape, rt, 1234);
  return l;
}

describe('finite-difference gradient checks of every layer', () => {
  it('Dense', () => gradCheck(built(new Dense({ units: 5 }), [7]), rt, [3, 7]));
  it('Dense with all-zero input columns skipped', () => gradCheck(built(new Dense({ units: 5 }), [7]), rt, [3, 7], { zeroColumns: [1, 2, 6] }));
  it('Dense without bias, odd sizes', () => gradCheck(built(new Dense({ units: 9, useBias: false }), [13]), rt, [5, 13]));
  it('Conv2d (stride 2, padding 1)', () => gradCheck(built(new Conv2d({ filters: 3, kernelSize: 3, stride: 2, padding: 1 }), [6, 5, 2]), rt, [2, 6, 5, 2]));
  it('Conv2d (5x5 valid, LeNet-like)', () => gradCheck(built(new Conv2d({ filters: 4, kernelSize: 5 }), [8, 8, 1]), rt, [2, 8, 8, 1]));

  for (const kind of ['relu', 'leakyRelu', 'elu', 'sigmoid', 'tanh'] as const) {
    it(`Activation ${kind}`, () => gradCheck(built(new Activation({ kind, alpha: kind === 'leakyRelu' ? 0.1 : undefined }), [11]), rt, [3, 11], { h: 1e-3 }));
  }
  it('Softmax', () => gradCheck(built(new Softmax(), [6]), rt, [4, 6], { xRange: [-3, 3] }));
  it('Dropout (training, fixed mask)', () => gradCheck(built(new Dropout({ rate: 0.3 }), [10]), rt, [4, 10]));
  it('GaussianDropout (training, fixed noise)', () => gradCheck(built(new GaussianDropout({ rate: 0.4 }), [10]), rt, [4, 10]));
  it('MaxPool2d', () => gradCheck(built(new MaxPool2d({ poolSize: 2 }), [6, 6, 3]), rt, [2, 6, 6, 3], { h: 1e-3 }));
  it('MaxPool2d (3x3 stride 2 pad 1)', () => gradCheck(built(new MaxPool2d({ poolSize: 3, stride: 2, padding: 1 }), [7, 5, 2]), rt, [2, 7, 5, 2], { h: 1e-3 }));
  it('AvgPool2d', () => gradCheck(built(new AvgPool2d({ poolSize: 2 }), [5, 6, 3]), rt, [2, 5, 6, 3]));
  it('Flatten', () => gradCheck(built(new Flatten(), [3, 2, 2]), rt, [2, 3, 2, 2]));
  it('BatchNorm (training)', () => gradCheck(built(new BatchNorm(), [5]), rt, [8, 5], { h: 1e-2, tol: 3e-2 }));
  it('BatchNorm over NHWC channels', () => gradCheck(built(new BatchNorm(), [3, 3, 4]), rt, [2, 3, 3, 4], { tol: 3e-2 }));

  // Bayesian layers: θ, log σ² (or log α) and the bias, through the LRT with fixed noise,
  // plus their KL. log σ² starts at −2 so the variance path carries real gradient.
  const svd = { initialLogSigma2: -2, maskInTraining: false } as const;
  it('SparseVDDense: θ, log σ², bias and KL', () => gradCheck(built(new SparseVDDense({ units: 6, ...svd }), [9]), rt, [4, 9], { withKl: true, h: 1e-3 }));
  it('SparseVDDense with all-zero input columns skipped and the KL gradient fused into the forward', () => gradCheck(
    built(new SparseVDDense({ units: 6, ...svd }), [9]), rt, [4, 9], { withKl: true, h: 1e-3, zeroColumns: [0, 4, 5, 8], ctx: { klGradScale: 1 } }));
  it('SparseVDDense in sampling inference mode', () => gradCheck(built(new SparseVDDense({ units: 4, ...svd }), [5]), rt, [3, 5], { ctx: { training: false, sample: true } }));
  it('SparseVDConv2d: conv variance conv(x², σ²)', () => gradCheck(built(new SparseVDConv2d({ filters: 3, kernelSize: 3, padding: 1, ...svd }), [5, 5, 2]), rt, [2, 5, 5, 2], { withKl: true, h: 1e-3 }));
  for (const alpha of ['layer', 'unit', 'weight'] as const) {
    it(`VariationalDropoutDense α per ${alpha}`, () => gradCheck(built(new VariationalDropoutDense({ units: 5, alpha, initialLogAlpha: -1 }), [7]), rt, [4, 7], { withKl: true, h: 1e-3 }));
  }
  it('VariationalDropoutConv2d', () => gradCheck(built(new VariationalDropoutConv2d({ filters: 3, kernelSize: 2, stride: 2, initialLogAlpha: -1 }), [4, 6, 2]), rt, [2, 4, 6, 2], { withKl: true, h: 1e-3 }));
  it('GroupSparseVDDense', () => gradCheck(built(new GroupSparseVDDense({ units: 5, initialLogAlpha: -1 }), [6]), rt, [3, 6], { withKl: true, h: 1e-3 }));
  it('GroupSparseVDConv2d', () => gradCheck(built(new GroupSparseVDConv2d({ filters: 2, kernelSize: 3, initialLogAlpha: -1 }), [5, 5, 1]), rt, [2, 5, 5, 1], { withKl: true, h: 1e-3 }));
});

describe('training vs inference', () => {
  const ctxTrain = (step: number) => ({ training: true, sample: false, seed: 5, step });
  const ctxInfer = { training: false, sample: false, seed: 5, step: 0 };

  it('Dropout: identity at inference; the expected activation is preserved in training', () => {
    const l = built(new Dropout({ rate: 0.25 }), [1000]);
    const x = Tensor.from(randomArray(1000, lcg(1), 0.5, 1.5), [1, 1000], rt);
    expect(Array.from(l.forward(x, ctxInfer).view())).toEqual(Array.from(x.view()));
    let sx = 0, sy = 0, zeros = 0;
    for (let s = 0; s < 40; s++) {
      const y = l.forward(x, ctxTrain(s)).view();
      for (let i = 0; i < 1000; i++) {
        sx += x.view()[i];
        sy += y[i];
        if (y[i] === 0) zeros++;
        else expect(y[i]).toBeCloseTo(x.view()[i] / 0.75, 5);
      }
    }
    expect(zeros / 40000).toBeGreaterThan(0.24);
    expect(zeros / 40000).toBeLessThan(0.26);
    expect(Math.abs(sy / sx - 1)).toBeLessThan(0.01);
  });

  it('GaussianDropout: identity at inference, mean-preserving noise of variance α in training', () => {
    const l = built(new GaussianDropout({ alpha: 0.5 }), [4000]);
    const x = Tensor.from(new Float32Array(4000).fill(2), [1, 4000], rt);
    expect(Array.from(l.forward(x, ctxInfer).view())).toEqual(Array.from(x.view()));
    const y = l.forward(x, ctxTrain(1)).view();
    let m = 0, v = 0;
    for (const a of y) m += a / 4000;
    for (const a of y) v += (a - m) ** 2 / 4000;
    expect(Math.abs(m - 2)).toBeLessThan(0.05);
    expect(Math.abs(v / 4 - 0.5)).toBeLessThan(0.05);
  });

  it('SparseVD: deterministic inference uses θ masked where log α ≥ 3; sampling is seeded', () => {
    const l = built(new SparseVDDense({ units: 3, initialLogSigma2: -10 }), [4]);
    const [th, ls] = l.params();
    th.value.set([1, 0.001, 2, 0.5, 0.01, 1, 1, 1, 1, 1, 1, 1]);
    const x = Tensor.from([1, 2, 3, 4], [1, 4], rt);
    const y = l.forward(x, ctxInfer).toArray();
    // θ² = 1e-6 → log α = −10 + 13.8 > 3: dropped; 1e-4 → −10 + 9.2 = −0.8: kept.
    const W = [1, 0, 2, 0.5, 0.01, 1, 1, 1, 1, 1, 1, 1];
    for (let j = 0; j < 3; j++) expect(y[j]).toBeCloseTo(W[j] + 2 * W[3 + j] + 3 * W[6 + j] + 4 * W[9 + j], 4);
    expect(l.sparsity()).toEqual({ kept: 11, total: 12 });
    ls.value.view().fill(-1);
    const a = l.forward(x, { training: false, sample: true, seed: 9, step: 1 }).toArray();
    const b = l.forward(x, { training: false, sample: true, seed: 9, step: 1 }).toArray();
    const c = l.forward(x, { training: false, sample: true, seed: 9, step: 2 }).toArray();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('SparseVD: a run of inference passes computes the masked means once, and sees any change of θ or log σ²', () => {
    const l = built(new SparseVDDense({ units: 3, initialLogSigma2: -10 }), [4]);
    const [th, ls] = l.params();
    th.value.set([1, 0.001, 2, 0.5, 0.01, 1, 1, 1, 1, 1, 1, 1]);
    const x = Tensor.from([1, 2, 3, 4], [1, 4], rt);
    const expected = (W: number[]) => [0, 1, 2].map((j) => W[j] + 2 * W[3 + j] + 3 * W[6 + j] + 4 * W[9 + j]);
    // White box: M is the layer's buffer of masked means; a pass that reuses it shows what M holds.
    const M = (l as unknown as { buffer(k: string, s: number[]): Tensor }).buffer('M', [4, 3]);
    const y0 = l.forward(x, ctxInfer).toArray();
    const W = [1, 0, 2, 0.5, 0.01, 1, 1, 1, 1, 1, 1, 1];
    expected(W).forEach((v, j) => expect(y0[j]).toBeCloseTo(v, 4));
    M.view().fill(0);
    expect(Array.from(l.forward(x, ctxInfer).toArray())).toEqual([0, 0, 0]); // reused, not recomputed
    // A change of θ by hand: seen.
    th.value.view()[0] = 3;
    W[0] = 3;
    expected(W).forEach((v, j) => expect(l.forward(x, ctxInfer).toArray()[j]).toBeCloseTo(v, 4));
    // A change of log σ² that drops weight 4 (θ = 0.01: log α = −4.6 + 9.2 ≥ 3).
    ls.value.view()[4] = -4.6;
    W[4] = 0;
    expected(W).forEach((v, j) => expect(l.forward(x, ctxInfer).toArray()[j]).toBeCloseTo(v, 4));
    expect(l.sparsity()).toEqual({ kept: 10, total: 12 });
    // A sampled pass in between overwrites M: the next inference pass recomputes it.
    l.forward(x, ctxTrain(1));
    expected(W).forEach((v, j) => expect(l.forward(x, ctxInfer).toArray()[j]).toBeCloseTo(v, 4));
  });

  it('BatchNorm: running statistics at inference', () => {
    const l = built(new BatchNorm({ momentum: 1 }), [2]);
    const x = Tensor.from([1, 10, 3, 20, 5, 30], [3, 2], rt);
    l.forward(x, ctxTrain(0));
    const y = l.forward(x, ctxInfer).toArray();
    // momentum 1: running mean = batch mean [3, 20], running var = unbiased [4, 100].
    expect(y[0]).toBeCloseTo((1 - 3) / Math.sqrt(4 + 1e-5), 4);
    expect(y[5]).toBeCloseTo((30 - 20) / Math.sqrt(100 + 1e-5), 4);
  });
});

describe('layer argument checks', () => {
  it('rejects bad options and wrong input shapes with typed errors', () => {
    expect(() => new Dense({ units: 0 })).toThrow(ArgumentError);
    expect(() => new Dense({ units: 2.5 })).toThrow(ArgumentError);
    expect(() => new Dropout({ rate: 1 })).toThrow(ArgumentError);
    expect(() => new Activation({ kind: 'swish' as never })).toThrow(ArgumentError);
    expect(() => new Conv2d({ filters: 2, kernelSize: 0 }).build([5, 5, 1], rt, 0)).toThrow(ArgumentError);
    expect(() => new Conv2d({ filters: 2, kernelSize: 7 }).build([5, 5, 1], rt, 0)).toThrow(ShapeError);
    expect(() => new Dense({ units: 3 }).build([4, 4], rt, 0)).toThrow(ShapeError);
    expect(() => new SparseVDDense({ units: 3, logAlphaRange: [3, 1] })).toThrow(ArgumentError);
    const d = built(new Dense({ units: 3 }), [4]);
    expect(() => d.forward(Tensor.zeros([2, 5], rt), { training: false, sample: false, seed: 0, step: 0 })).toThrow(ShapeError);
    expect(sizeOf(d.forward(Tensor.zeros([2, 4], rt), { training: false, sample: false, seed: 0, step: 0 }).shape)).toBe(6);
  });
});
