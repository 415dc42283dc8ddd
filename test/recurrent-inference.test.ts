import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Sequential } from '../src/model.js';
import { GRU, LSTM, SparseVDGRU, SparseVDLSTM } from '../src/layers/recurrent.js';
import { Embedding, SparseVDEmbedding } from '../src/layers/embedding.js';
import { Dense } from '../src/layers/dense.js';
import { SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { prune } from '../src/prune.js';
import { SparseModel } from '../src/inference/model.js';
import { recurrentUnitsKept } from '../src/inference/recurrent.js';
import { ArgumentError, ModelFormatError } from '../src/errors.js';
import { expectClose, lcg, randomArray } from './util/kernel.js';
import { writeContainer } from '../src/io.js';

const rt = Runtime.createSync();

/** Drop entries of a Sparse VD layer: log σ² = 4 (log α ≥ 3 for |θ| < 0.6) where `drop(index)`. */
function dropWhere(m: Sequential, layer: number, param: string, drop: (i: number) => boolean): void {
  const p = m.layers[layer].params().find((q) => q.name.endsWith(param))!;
  const v = p.value.toArray();
  for (let i = 0; i < v.length; i++) if (drop(i)) v[i] = 4;
  p.value.set(v);
}

/** Steps of kind `kind` in a pruned model's summary. */
const stepsOf = (p: SparseModel, kind: string) => p.summary().filter((r) => r.kind === kind);

describe('prune: sparse recurrent inference', () => {
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
    const want = m.predict(ids);
    expect(recurrentUnitsKept(m.layers[1], m.layers[2])).toBe(H1 - 1);
    // Every matrix CSR (sparseBelow 1), every matrix dense (0), and the measured crossover.
    for (const sparseBelow of [1, 0, undefined]) {
      const pruned = prune(m, { sparseBelow });
      const [emb] = stepsOf(pruned, 'embedding'), rec = stepsOf(pruned, 'recurrent');
      expect(emb.vocabulary).toEqual({ kept: V - 3, of: V }); // padding id 0 and words 3, 7
      expect(emb.outputShape).toEqual([T, D]);
      expect(rec.map((r) => r.outputShape)).toEqual([[T, H1 - 1], [H2 - 1]]);
      expect([...stepsOf(pruned, 'sparse'), ...stepsOf(pruned, 'dense')][0].inputShape).toEqual([H2 - 1]);
      for (const r of [emb, ...rec]) expect(r.kept).toBeLessThan(r.denseWeights);
      if (sparseBelow === 1) for (const r of rec) expect(r.weights).toBe(r.kept);
      if (sparseBelow === 0) for (const r of rec) expect(r.weights).toBe(r.denseWeights);
      expect(pruned.compression).toBeGreaterThan(1);
      expectClose(pruned.predict(ids, { batchSize: 2 }), want, 1e-5, `pruned (sparseBelow ${sparseBelow}) vs masked dense`);
      // The sparse file keeps them: same outputs after a round trip, any batch size.
      const back = SparseModel.load(pruned.save(), { runtime: rt });
      expect(back.summary()).toEqual(pruned.summary());
      expect(back.predict(ids, { batchSize: 3 })).toEqual(pruned.predict(ids, { batchSize: 3 }));
      expect(() => back.predict(Float32Array.of(1, 2, 3, 4, 5, V))).toThrow(ArgumentError);
      back.dispose();
      pruned.dispose();
    }
  });

  it('plain Embedding → GRU / LSTM → Dense prune to the same outputs', () => {
    for (const Cell of [LSTM, GRU]) {
      const m = new Sequential({
        inputShape: [5], seed: 1, runtime: rt,
        layers: [new Embedding({ inputDim: 9, outputDim: 4 }), new Cell({ units: 5 }), new Dense({ units: 2 })],
      });
      const ids = Float32Array.from({ length: 15 }, (_, i) => (i * 5) % 9);
      const p = prune(m);
      expect(stepsOf(p, 'recurrent')[0].outputShape).toEqual([5]);
      expect(p.compression).toBe(1);
      expectClose(p.predict(ids), m.predict(ids), 1e-5, Cell.name);
      p.dispose();
    }
  });

  it('sequential inputs without an embedding; a recurrent layer before other layers keeps its units', () => {
    const m = new Sequential({ inputShape: [4, 3], seed: 2, runtime: rt, layers: [new SparseVDLSTM({ units: 4 }), new SparseVDDense({ units: 2 })] });
    const x = randomArray(2 * 12, lcg(3));
    const p = prune(m, { sparseBelow: 1 });
    expectClose(p.predict(x), m.predict(x), 1e-5, 'no embedding');
    p.dispose();
    const other = new Sequential({ inputShape: [4, 3], seed: 2, runtime: rt, layers: [new SparseVDGRU({ units: 4 }), new ReLU(), new Dense({ units: 2 })] });
    dropWhere(other, 0, '/recurrentKernel/logSigma2', (i) => Math.floor(i / 12) === 1);
    const q = prune(other);
    expect(stepsOf(q, 'recurrent')[0].outputShape).toEqual([4]); // its state goes through ReLU: kept
    expectClose(q.predict(x), other.predict(x), 1e-5, 'GRU → ReLU → Dense');
    q.dispose();
  });

  it('sparse files with recurrent steps are checked before anything is allocated', () => {
    const m = new Sequential({
      inputShape: [3], seed: 5, runtime: rt,
      layers: [new Embedding({ inputDim: 6, outputDim: 2 }), new LSTM({ units: 3 }), new Dense({ units: 2 })],
    });
    const bytes = prune(m, { sparseBelow: 1 }).save();
    const header = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b.subarray(24, 24 + new DataView(b.buffer, b.byteOffset).getUint32(8, true))));
    const h = header(bytes);
    expect(h.steps.map((s: { kind: string }) => s.kind)).toEqual(['embedding', 'recurrent', 'sparse']);
    const edit = (f: (h: Record<string, any>) => void): Uint8Array => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const dv = new DataView(bytes.buffer, bytes.byteOffset);
      const hLen = dv.getUint32(8, true), start = Math.ceil((24 + hLen) / 16) * 16;
      const hh = header(bytes);
      f(hh);
      return writeContainer('VDSP', dv.getUint32(4, true), hh, bytes.slice(start));
    };
    const cases: [string, (h: Record<string, any>) => void][] = [ // eslint-disable-line @typescript-eslint/no-explicit-any
      ['header.steps[1].cell', (x) => { x.steps[1].cell = 'rnn'; }],
      ['header.steps[1].inputs', (x) => { x.steps[1].inputs = 3; }],
      ['header.steps[1].wh.csr.rows', (x) => { x.steps[1].wh.csr.rows = 4; }],
      ['header.steps[1].masking', (x) => { x.steps[1].masking = 1; }],
      ['header.steps[0].kept', (x) => { x.steps[0].kept = 2 ** 30; }],
      ['header.steps[0].remap.length', (x) => { x.steps[0].remap.length = 7; }],
      ['header.steps[0].cell', (x) => { x.steps[0].kind = 'recurrent'; }],
    ];
    for (const [field, f] of cases) {
      let err: unknown;
      try {
        SparseModel.load(edit(f), { runtime: rt });
      } catch (e) {
        err = e;
      }
      expect(err, field).toBeInstanceOf(ModelFormatError);
      expect((err as ModelFormatError).argument, field).toBe(field);
    }
    SparseModel.load(edit(() => {}), { runtime: rt }).dispose();
  });
});
