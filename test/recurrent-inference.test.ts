import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Sequential } from '../src/model.js';
import { GRU, LSTM, SparseVDGRU, SparseVDLSTM } from '../src/layers/recurrent.js';
import { Embedding, SparseVDEmbedding } from '../src/layers/embedding.js';
import { Dense } from '../src/layers/dense.js';
import { SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { pruneRecurrent } from '../src/recurrent-inference.js';
import { ArgumentError } from '../src/errors.js';
import { expectClose, lcg, randomArray } from './util/kernel.js';

const rt = Runtime.createSync();

/** Drop entries of a Sparse VD layer: log σ² = 4 (log α ≥ 3 for |θ| < 0.6) where `drop(index)`. */
function dropWhere(m: Sequential, layer: number, param: string, drop: (i: number) => boolean): void {
  const p = m.layers[layer].params().find((q) => q.name.endsWith(param))!;
  const v = p.value.toArray();
  for (let i = 0; i < v.length; i++) if (drop(i)) v[i] = 4;
  p.value.set(v);
}

describe('pruneRecurrent: sparse recurrent inference', () => {
  it('Sparse VD embedding → LSTM (sequences) → GRU → dense: CSR weights, removed units and words, outputs = the masked dense model', () => {
    const V = 14, D = 5, T = 6, H1 = 7, H2 = 6;
    const m = new Sequential({
      inputShape: [T], seed: 4, runtime: rt,
      layers: [
        new SparseVDEmbedding({ inputDim: V, outputDim: D, maskZero: true }),
        new SparseVDLSTM({ units: H1, masking: true, returnSequences: true }),
        new SparseVDGRU({ units: H2, masking: true }),
        new SparseVDDense({ units: 3 }),
      ],
    });
    const rnd = lcg(9);
    // Words 3 and 7 lose their whole rows; about a third of all other entries go.
    dropWhere(m, 0, '/logSigma2', (i) => [3, 7].includes(Math.floor(i / D)) || rnd() < 0.3);
    // LSTM unit 2: its W_h row and the GRU's W_x row 2 dropped → removed. GRU unit 4: W_h row and dense row 4.
    dropWhere(m, 1, '/recurrentKernel/logSigma2', (i) => Math.floor(i / (4 * H1)) === 2 || rnd() < 0.5);
    dropWhere(m, 1, '/kernel/logSigma2', () => rnd() < 0.5);
    dropWhere(m, 2, '/kernel/logSigma2', (i) => Math.floor(i / (3 * H2)) === 2 || rnd() < 0.5);
    dropWhere(m, 2, '/recurrentKernel/logSigma2', (i) => Math.floor(i / (3 * H2)) === 4 || rnd() < 0.4);
    dropWhere(m, 3, '/logSigma2', (i) => Math.floor(i / 3) === 4 || rnd() < 0.3);
    const ids = new Float32Array(5 * T);
    for (let i = 0; i < ids.length; i++) ids[i] = Math.floor(rnd() * V);
    ids.fill(0, 0, 3); // padded steps at the start of sequence 0
    ids[T + 2] = 3; // a removed word
    const pruned = pruneRecurrent(m);
    const s = pruned.summary();
    expect(s[0]).toMatchObject({ vocabKept: V - 3, vocab: V }); // padding id 0 and words 3, 7
    expect(s[1].unitsKept).toBe(H1 - 1);
    expect(s[2].unitsKept).toBe(H2 - 1);
    for (const e of s) expect(e.kept).toBeLessThan(e.total);
    expectClose(pruned.predict(ids, { batchSize: 2 }), m.predict(ids), 1e-5, 'pruned vs masked dense');
    pruned.dispose();
  });

  it('plain Embedding → GRU / LSTM → Dense prune to the same outputs', () => {
    for (const Cell of [LSTM, GRU]) {
      const m = new Sequential({
        inputShape: [5], seed: 1, runtime: rt,
        layers: [new Embedding({ inputDim: 9, outputDim: 4 }), new Cell({ units: 5 }), new Dense({ units: 2 })],
      });
      const ids = Float32Array.from({ length: 15 }, (_, i) => (i * 5) % 9);
      const p = pruneRecurrent(m);
      expect(p.summary()[1].unitsKept).toBe(5);
      expectClose(p.predict(ids), m.predict(ids), 1e-5, Cell.name);
      p.dispose();
    }
  });

  it('sequential inputs without an embedding; unsupported layers are a typed error', () => {
    const m = new Sequential({ inputShape: [4, 3], seed: 2, runtime: rt, layers: [new SparseVDLSTM({ units: 4 }), new SparseVDDense({ units: 2 })] });
    const x = randomArray(2 * 12, lcg(3));
    expectClose(pruneRecurrent(m).predict(x), m.predict(x), 1e-5, 'no embedding');
    const bad = new Sequential({ inputShape: [4, 3], seed: 2, runtime: rt, layers: [new LSTM({ units: 4 }), new ReLU(), new Dense({ units: 2 })] });
    expect(() => pruneRecurrent(bad)).toThrow(ArgumentError);
  });
});
