import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Sequential } from '../src/model.js';
import { Dense } from '../src/layers/dense.js';
import { SparseVDConv2d, SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { Dropout } from '../src/layers/dropout.js';
import { ArgumentError, NonFiniteError, ShapeError } from '../src/errors.js';
import { Rng } from '../src/ops/noise.js';

function data(rt: Runtime, n: number, per: number): { x: Float32Array; y: Int32Array } {
  const r = new Rng(3, 1, rt);
  return { x: Float32Array.from({ length: n * per }, () => r.uniform()), y: Int32Array.from({ length: n }, () => r.int(3)) };
}

const convNet = (rt: Runtime) => new Sequential({
  inputShape: [8, 8, 1], seed: 2, runtime: rt,
  layers: [new SparseVDConv2d({ filters: 4, kernelSize: 3 }), new BatchNorm(), new ReLU(), new MaxPool2d(), new Flatten(), new Dropout({ rate: 0.1 }), new SparseVDDense({ units: 3 })],
});

describe('Sequential', () => {
  it('infers shapes, names layers and counts parameters', () => {
    const rt = Runtime.createSync();
    const m = convNet(rt);
    expect(m.outputShape).toEqual([3]);
    expect(m.layers.map((l) => l.name)).toEqual(['sparse_vd_conv2d_1', 'batch_norm_1', 'relu_1', 'max_pool2d_1', 'flatten_1', 'dropout_1', 'sparse_vd_dense_1']);
    expect(m.countParams()).toBe(2 * 3 * 3 * 4 + 4 + 4 + 4 + 2 * 36 * 3 + 3);
  });

  it('memory stays flat across repeated fit / predict / predictMC, and dispose frees everything', () => {
    const rt = Runtime.createSync();
    const before = rt.heap.liveBlocks;
    const m = convNet(rt);
    const { x, y } = data(rt, 50, 64);
    const cycle = () => {
      m.fit(x, y, { epochs: 1, batchSize: 16, progress: false });
      m.predict(x, { batchSize: 7 });
      m.predictProba(x);
      m.predictClasses(x);
      m.predictMC(x, { samples: 2 });
      m.evaluate(x, y);
    };
    cycle();
    const bytes = rt.memory.buffer.byteLength, blocks = rt.heap.liveBlocks;
    for (let i = 0; i < 5; i++) cycle();
    expect(rt.memory.buffer.byteLength).toBe(bytes);
    expect(rt.heap.liveBlocks).toBe(blocks);
    m.dispose();
    expect(rt.heap.liveBlocks - before).toBeLessThanOrEqual(1); // the runtime's own workspace
  });

  it('predictProba rows are distributions; predictClasses is their argmax', () => {
    const rt = Runtime.createSync();
    const m = new Sequential({ inputShape: [5], seed: 1, runtime: rt, layers: [new Dense({ units: 4 })] });
    const { x } = data(rt, 9, 5);
    const p = m.predictProba(x), c = m.predictClasses(x);
    for (let i = 0; i < 9; i++) {
      const row = Array.from(p.subarray(i * 4, i * 4 + 4));
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(c[i]).toBe(row.indexOf(Math.max(...row)));
    }
  });

  it('Monte-Carlo prediction is seeded and its decomposition holds', () => {
    const rt = Runtime.createSync();
    const m = convNet(rt);
    const { x } = data(rt, 6, 64);
    const a = m.predictMC(x, { samples: 5, seed: 4 }), b = m.predictMC(x, { samples: 5, seed: 4 }), c = m.predictMC(x, { samples: 5, seed: 5 });
    expect(Array.from(a.mean)).toEqual(Array.from(b.mean));
    expect(Array.from(a.mean)).not.toEqual(Array.from(c.mean));
    for (let i = 0; i < 6; i++) {
      expect(a.mutualInformation[i]).toBeCloseTo(Math.max(0, a.predictiveEntropy[i] - a.expectedEntropy[i]), 6);
      expect(a.predictiveEntropy[i]).toBeLessThanOrEqual(Math.log(3) + 1e-6);
    }
  });

  it('rejects bad construction and inputs with typed errors, staying usable', () => {
    const rt = Runtime.createSync();
    expect(() => new Sequential({ inputShape: [4], layers: [], runtime: rt })).toThrow(ArgumentError);
    expect(() => new Sequential({ inputShape: [4, -1], layers: [new Dense({ units: 2 })], runtime: rt })).toThrow(ShapeError);
    expect(() => new Sequential({ inputShape: [4], layers: [{} as never], runtime: rt })).toThrow(ArgumentError);
    expect(() => new Sequential({ inputShape: [4], layers: [new Dense({ units: 2 })], seed: -1, runtime: rt })).toThrow(ArgumentError);
    const d = new Dense({ units: 2 });
    const m = new Sequential({ inputShape: [4], layers: [d], runtime: rt });
    expect(() => new Sequential({ inputShape: [4], layers: [d], runtime: rt })).toThrow(ArgumentError);
    expect(() => m.predict([1, 2, 3, 4] as never)).toThrow(ArgumentError);
    expect(() => m.predict(new Float32Array(6))).toThrow(ShapeError);
    expect(() => m.predict(Float32Array.of(1, 2, Infinity, 4))).toThrow(NonFiniteError);
    expect(() => m.predictMC(new Float32Array(4), { samples: 0 })).toThrow(ArgumentError);
    expect(m.predict(new Float32Array(8))).toHaveLength(4);
  });
});
