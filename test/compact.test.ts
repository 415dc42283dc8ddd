import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Sequential } from '../src/model.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import { GroupSparseVDConv2d, SparseVDConv2d, SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU, Activation } from '../src/layers/activation.js';
import { AvgPool2d, MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { prune } from '../src/sparse.js';
import { sparseIsFaster } from '../src/compact.js';
import { lcg, randomArray } from './util/gradcheck.js';

const rt = Runtime.createSync();

/** Zero every weight of filter `f` of a conv layer's θ/kernel [KH, KW, C, F], or of its input channel `c` in the next layer. */
function kill(model: Sequential, layer: number, pick: (idx: number) => boolean): void {
  const p = model.layers[layer].params()[0];
  const v = p.value.toArray();
  for (let i = 0; i < v.length; i++) if (pick(i)) v[i] = 0;
  p.value.set(v);
}

function expectClose(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(b[i])));
}

describe('structured compaction', () => {
  it('conv channels with no kept weights (folded into the next bias) or no kept outgoing weights are removed; batch norm, pooling, flatten and dense shrink; outputs unchanged', () => {
    const m = new Sequential({
      inputShape: [9, 8, 2], seed: 2, runtime: rt,
      layers: [new SparseVDConv2d({ filters: 6, kernelSize: 3, padding: 1 }), new BatchNorm(), new Activation('tanh'), new MaxPool2d({ poolSize: 2 }),
        new Conv2d({ filters: 5, kernelSize: 2 }), new ReLU(), new AvgPool2d({ poolSize: 2, stride: 1 }), new Flatten(), new Dense({ units: 4 }), new ReLU(), new SparseVDDense({ units: 3 })],
    });
    // γ, β away from the identity, so folding a constant through batch norm is tested.
    for (const p of m.layers[1].params()) p.value.set(randomArray(p.value.size, lcg(p.value.size + 3), 0.5, 1.5));
    for (const p of m.params()) if (p.name.endsWith('/bias')) p.value.set(randomArray(p.value.size, lcg(p.value.size), -0.5, 0.5));
    kill(m, 0, (i) => i % 6 === 1 || i % 6 === 4); // filters 1 and 4 write nothing: constant channels
    kill(m, 4, (i) => Math.floor(i / 5) % 6 === 2); // conv 2 reads nothing of channel 2
    kill(m, 4, (i) => i % 5 === 3); // filter 3 of conv 2 writes nothing
    const x = randomArray(5 * 144, lcg(9));
    const want = m.predict(x);
    const s = prune(m, { sparseBelow: 0 });
    const shapes = s.summary().map((r) => r.outputShape);
    expect(shapes[0]).toEqual([9, 8, 3]); // filters 1, 2, 4 gone
    expect(shapes[1]).toEqual([9, 8, 3]);
    expect(shapes[4]).toEqual([3, 3, 4]); // filter 3 gone, folded into the dense bias
    expect(shapes[7]).toEqual([2 * 2 * 4]);
    expectClose(s.predict(x), want);
    s.dispose();
    m.dispose();
  });

  it('a constant channel before a padded convolution is kept (its border would see zeros)', () => {
    const m = new Sequential({
      inputShape: [6, 6, 1], seed: 3, runtime: rt,
      layers: [new Conv2d({ filters: 3, kernelSize: 3 }), new ReLU(), new Conv2d({ filters: 2, kernelSize: 3, padding: 1 }), new Flatten(), new Dense({ units: 2 })],
    });
    m.layers[0].params()[1].value.set(new Float32Array([0.3, 0.7, -0.2]));
    kill(m, 0, (i) => i % 3 === 1);
    const x = randomArray(3 * 36, lcg(4));
    const s = prune(m, { sparseBelow: 0 });
    expect(s.summary()[0].outputShape).toEqual([4, 4, 3]);
    expectClose(s.predict(x), m.predict(x));
    s.dispose();
    m.dispose();
  });

  it('group-sparse convolutions lose whole channels: dense-but-smaller layers', () => {
    const m = new Sequential({
      inputShape: [8, 8, 1], seed: 4, runtime: rt,
      layers: [new GroupSparseVDConv2d({ filters: 8, kernelSize: 3 }), new ReLU(), new MaxPool2d({ poolSize: 2 }), new Flatten(), new Dense({ units: 3 })],
    });
    const la = m.layers[0].params().find((p) => p.name.endsWith('/logAlpha'))!;
    la.value.set(Float32Array.from({ length: 8 }, (_, f) => (f % 3 === 0 ? 6 : -4))); // α above the threshold: filters 0, 3, 6 dropped
    const x = randomArray(2 * 64, lcg(5));
    const s = prune(m);
    expect(s.summary()[0].outputShape).toEqual([6, 6, 5]);
    expect(s.summary()[3].outputShape).toEqual([45]);
    expectClose(s.predict(x), m.predict(x));
    s.dispose();
    m.dispose();
  });

  it('the dense/sparse rule follows the measured crossover: sparse dense layers at ≤ 15% kept, sparse convolutions at ≤ 40%', () => {
    expect(sparseIsFaster('dense', 0.1)).toBe(true);
    expect(sparseIsFaster('dense', 0.2)).toBe(false);
    expect(sparseIsFaster('conv', 0.35)).toBe(true);
    expect(sparseIsFaster('conv', 0.5)).toBe(false);
  });
});
