import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { NonFiniteError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { Dense } from '../src/layers/dense.js';
import { SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { prune } from '../src/sparse.js';
import { loadModel, saveModel } from '../src/model.js';
import { evaluate } from '../src/train.js';
import { Rng } from '../src/ops/noise.js';
import { bits } from './util/kernel.js';

const rt = Runtime.createSync();

function data(n: number, per: number, scale = 1): Float32Array {
  const r = new Rng(4, 1, rt);
  return Float32Array.from({ length: n * per }, () => (r.uniform() * 2 - 1) * scale);
}

const mlp = () => new Sequential({
  inputShape: [6], seed: 3, runtime: rt,
  layers: [new SparseVDDense({ units: 16 }), new ReLU(), new Dense({ units: 8 }), new BatchNorm(), new ReLU(), new SparseVDDense({ units: 3 })],
});

/** The MLP with θ = 1 in its first layer: a sample of six values of 3e38 sums past the float32 range there. */
function overflowing(): Sequential {
  const m = mlp();
  const theta = m.layers[0].params()[0].value;
  theta.set(new Float32Array(theta.size).fill(1));
  return m;
}

function nonFinite(f: () => unknown): NonFiniteError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NonFiniteError);
    return e as NonFiniteError;
  }
  throw new Error('no NonFiniteError');
}

describe('non-finite outputs raise NonFiniteError naming the first layer that produced them', () => {
  it('huge finite inputs (x 3e38): predict, predictProba, predictClasses, predictMC, evaluate; the model stays usable', () => {
    const m = overflowing();
    const x = data(9, 6);
    const before = m.predict(x);
    const huge = Float32Array.from(x, (v, i) => (i >= 4 * 6 && i < 5 * 6 ? 3e38 : v)); // sample 4 only
    for (const f of [() => m.predict(huge), () => m.predictProba(huge), () => m.predictClasses(huge), () => m.predictMC(huge, { samples: 3 }),
      () => m.predict(huge, { batchSize: 2 }), () => evaluate(m, huge, new Int32Array(9))]) {
      const e = nonFinite(f);
      expect(e.argument).toBe('sparse_vd_dense_1 output');
      expect(e.received).toMatch(/at sample 4\b/);
    }
    expect(bits(m.predict(x))).toEqual(bits(before));
    m.dispose();
  });

  it('a later layer that overflows is the one named', () => {
    const m = mlp();
    const w = m.layers[2].params()[0].value;
    w.set(new Float32Array(w.size).fill(3e38));
    const e = nonFinite(() => m.predict(data(4, 6)));
    expect(e.argument).toBe('dense_1 output');
    m.dispose();
  });

  it('the pruned model names its step', () => {
    const m = overflowing();
    const sm = prune(m);
    const x = data(5, 6);
    expect(() => sm.predict(x)).not.toThrow();
    const huge = Float32Array.from(x, (v, i) => (i >= 3 * 6 && i < 4 * 6 ? 3e38 : v)); // sample 3 only
    for (const batchSize of [1, 2, 5]) {
      const e = nonFinite(() => sm.predict(huge, { batchSize }));
      expect(e.argument).toMatch(/^steps\[0\] \(\w+\) output$/);
      expect(e.received).toMatch(/at sample 3\b/);
    }
    nonFinite(() => sm.predictProba(huge, { batchSize: 2 }));
    nonFinite(() => sm.predictClasses(huge));
    expect(bits(sm.predict(x))).toEqual(bits(prune(m).predict(x)));
    m.dispose();
  });

  it('a valid file with huge finite weights loads, and its predictions raise the error', () => {
    const m = new Sequential({ inputShape: [6], seed: 1, runtime: rt, layers: [new Dense({ units: 4 }), new ReLU(), new Dense({ units: 2 })] });
    for (const p of m.params()) p.value.set(new Float32Array(p.value.size).fill(2e38));
    const back = loadModel(saveModel(m), { runtime: rt });
    const e = nonFinite(() => back.predict(data(3, 6)));
    expect(e.argument).toBe('dense_1 output');
    const sm = prune(back);
    expect(nonFinite(() => sm.predict(data(3, 6))).argument).toMatch(/^steps\[0\]/);
  });
});
