import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ForwardContext, Layer } from '../src/layers/layer.js';
import { GRU, LSTM, SparseVDGRU, SparseVDLSTM } from '../src/layers/recurrent.js';
import { SparseVDEmbedding } from '../src/layers/embedding.js';
import { SparseVDDense } from '../src/layers/bayesian.js';
import { Sequential, loadModel, saveModel } from '../src/model.js';
import { svdPrepare } from '../src/ops/bayes.js';
import { gaussian } from '../src/ops/noise.js';
import { groupScale, groupScaleGrads, svdSampleWeights } from '../src/ops/rnn.js';
import { passSeed } from '../src/layers/bayesian.js';
import { prune } from '../src/prune.js';
import { recurrentUnitsKept } from '../src/inference/recurrent.js';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { gradCheck } from './util/gradcheck.js';
import { expectBits, expectClose, lcg, randomArray } from './util/kernel.js';

// Group sparsity of the recurrent layers and the embedding (Lobacheva, Chirkova & Vetrov 2018):
// the scaling kernel and its chain rule, finite differences through time of the group
// variables, the white-box sample, the KL, save/load and pruning of dropped units, gates, words.

const rt = Runtime.createSync();

function built<L extends Layer>(l: L, shape: number[], index = 0): L {
  l.name = 'grp';
  l.index = index;
  l.build(shape, rt, 17);
  return l;
}

describe('group_scale kernels (naive reference; SIMD = scalar twin bit for bit)', () => {
  // Columns below, at and above the 4 lanes, odd tails; rows 1 and more; each variable absent or present.
  for (const [rows, cols] of [[1, 1], [2, 3], [3, 4], [1, 5], [4, 8], [3, 13], [5, 17]]) {
    it(`${rows}x${cols}`, () => {
      const rnd = lcg(rows * 31 + cols);
      const w = randomArray(rows * cols, rnd), zr = randomArray(rows, rnd, -1.5, 1.5), zc = randomArray(cols, rnd, -1.5, 1.5);
      const dout = randomArray(rows * cols, rnd), r0 = randomArray(rows, rnd), c0 = randomArray(cols, rnd);
      for (const [useR, useC] of [[true, true], [true, false], [false, true], [false, false]]) {
        const zrT = useR ? Tensor.from(zr, [rows], rt) : null, zcT = useC ? Tensor.from(zc, [cols], rt) : null;
        const R = (i: number) => (useR ? zr[i] : 1), C = (j: number) => (useC ? zc[j] : 1);
        const outs = [false, true].map((scalar) => groupScale(Tensor.from(w, [rows, cols], rt), zrT, zcT, Tensor.zeros([rows, cols], rt), scalar).toArray());
        expectBits(outs[0], outs[1]);
        expectClose(outs[0], Array.from(w, (v, k) => v * R(Math.floor(k / cols)) * C(k % cols)), 1e-6, 'out');
        const grads = [false, true].map((scalar) => {
          const d = Tensor.from(dout, [rows, cols], rt); // dw written over dout (aliasing allowed)
          const dzr = Tensor.from(r0, [rows], rt), dzc = Tensor.from(c0, [cols], rt);
          groupScaleGrads(d, Tensor.from(w, [rows, cols], rt), zrT, zcT, d, dzr, dzc, scalar);
          return [d.toArray(), dzr.toArray(), dzc.toArray()];
        });
        for (let k = 0; k < 3; k++) expectBits(grads[0][k], grads[1][k]);
        const refR = Float64Array.from(r0), refC = Float64Array.from(c0);
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
          const g = dout[i * cols + j] * w[i * cols + j];
          refR[i] += g * C(j);
          refC[j] += g * R(i);
        }
        expectClose(grads[0][0], Array.from(dout, (v, k) => v * R(Math.floor(k / cols)) * C(k % cols)), 1e-6, 'dw');
        expectClose(grads[0][1], refR, 1e-5, 'dzr');
        expectClose(grads[0][2], refC, 1e-5, 'dzc');
      }
    });
  }
  it('shapes are checked with typed errors', () => {
    const w = Tensor.zeros([3, 4], rt);
    expect(() => groupScale(w, Tensor.zeros([4], rt), null, w)).toThrow(ShapeError);
    expect(() => groupScale(w, null, Tensor.zeros([3], rt), w)).toThrow(ShapeError);
    expect(() => groupScale(Tensor.zeros([12], rt), null, null, w)).toThrow(ShapeError);
    expect(() => groupScaleGrads(w, w, null, null, w, Tensor.zeros([2], rt), null)).toThrow(ShapeError);
  });
});

const train: Partial<ForwardContext> = { training: true };

describe('group variables: finite differences through time (z_x, z_h, z_gate with θ and log σ²)', () => {
  for (const [name, make] of [['SparseVDLSTM', SparseVDLSTM], ['SparseVDGRU', SparseVDGRU]] as const) {
    for (const [weightNoise, returnSequences] of [['sequence', true], ['batch', false]] as const) {
      it(`${name}, groups, one sample per ${weightNoise}, with the KL`, () => {
        const l = built(new make({ units: 4, initialLogSigma2: -2, maskInTraining: false, weightNoise, returnSequences, groups: true }), [3, 3]);
        expect(l.params().map((p) => p.name.split('/').slice(1).join('/'))).toEqual([
          'kernel/theta', 'kernel/logSigma2', 'recurrentKernel/theta', 'recurrentKernel/logSigma2',
          'inputGroups/theta', 'inputGroups/logSigma2', 'hiddenGroups/theta', 'hiddenGroups/logSigma2', 'gateGroups/theta', 'gateGroups/logSigma2',
          'bias', ...(name === 'SparseVDGRU' ? ['recurrentBias'] : []),
        ]);
        gradCheck(l, rt, [2, 3, 3], { ctx: { ...train, rows: weightNoise === 'sequence' ? [4, 1] : undefined }, withKl: true, h: 1e-3 });
      });
    }
  }
  it("SparseVDEmbedding groups: 'words' → LSTM: finite differences of the table and the word variables", () => {
    const V = 7, D = 3, T = 4;
    const m = new Sequential({
      inputShape: [T], seed: 3, runtime: rt,
      layers: [new SparseVDEmbedding({ inputDim: V, outputDim: D, initialLogSigma2: -2, maskInTraining: false, groups: 'words' }), new LSTM({ units: 3 })],
    });
    const ids = Tensor.from([0, 2, 5, 2, 6, 1, 4, 3], [2, T], rt);
    const r = Tensor.from(randomArray(6, lcg(2)), [2, 3], rt);
    const ctx: ForwardContext = { training: true, sample: false, seed: 5, step: 1 };
    const loss = (): number => m.forward(ids, ctx).view().reduce((s, v, i) => s + v * r.view()[i], 0) + m.kl();
    for (const p of m.params()) p.grad.view().fill(0);
    m.forward(ids, ctx);
    m.backward(r);
    m.kl(1);
    const ps = m.layers[0].params();
    expect(ps.map((p) => p.name.split('/').slice(1).join('/'))).toEqual(['embeddings/theta', 'embeddings/logSigma2', 'wordGroups/theta', 'wordGroups/logSigma2']);
    for (const p of ps) {
      const g = p.grad.toArray(), h = 1e-3;
      for (let i = 0; i < p.value.size; i++) {
        const v = p.value.view(), old = v[i];
        v[i] = old + h; const fp = loss();
        p.value.view()[i] = old - h; const fm = loss();
        p.value.view()[i] = old;
        const num = (fp - fm) / (2 * h);
        expect(Math.abs(num - g[i]) / Math.max(1, Math.abs(num)), `${p.name}[${i}]`).toBeLessThan(2e-2);
      }
    }
  });
});

/** θ, log σ² → one sample on (seed of ctx, stream, offset) as the layers draw it. */
function sampleOf(theta: Tensor, logSigma2: Tensor, ctx: ForwardContext, stream: number, offset: number): Tensor {
  const M = Tensor.zeros(theta.shape, rt), S = Tensor.zeros(theta.shape, rt), la = Tensor.zeros(theta.shape, rt), eps = Tensor.zeros(theta.shape, rt);
  svdPrepare(theta, logSigma2, M, S, la, 3, { lo: -8, hi: 8 });
  gaussian(eps, passSeed(ctx), { stream, offset });
  const w = svdSampleWeights(M, S, eps, Tensor.zeros(theta.shape, rt));
  for (const t of [M, S, la, eps]) t.dispose();
  return w;
}

// The log-uniform KL in float64 (Molchanov et al. 2017, eq. 14), clamped log α as the layers.
const K1 = 0.63576, K2 = 1.8732, K3 = 1.48695;
const sig = (z: number): number => 1 / (1 + Math.exp(-z));
const klRef = (theta: number, logSigma2: number): number => {
  const la = Math.min(Math.max(logSigma2 - Math.log(theta * theta + 1e-8), -8), 8);
  return K1 - K1 * sig(K2 + K3 * la) + 0.5 * Math.log1p(Math.exp(-la));
};

describe('group variables: the sample, the KL, inference', () => {
  it("weightNoise 'batch' (white box): the pass uses diag(z_x)·W_x·diag(z_gate) and diag(z_h)·W_h·diag(z_gate), z drawn after the weights", () => {
    const T = 5, I = 3, H = 4, B = 2, G = 4;
    const svd = built(new SparseVDLSTM({ units: H, returnSequences: true, initialLogSigma2: -2, weightNoise: 'batch', groups: true }), [T, I], 3);
    // Group variables away from 1 and noisy, so a wrong scaling cannot hide.
    const p = svd.params();
    for (const k of [4, 6, 8]) p[k].value.set(randomArray(p[k].value.size, lcg(k), 0.3, 1.7));
    for (const k of [5, 7, 9]) p[k].value.view().fill(-3);
    const ctx: ForwardContext = { training: true, sample: false, seed: 42, step: 9 };
    const x = Tensor.from(randomArray(B * T * I, lcg(3)), [B, T, I], rt);
    const y = svd.forward(x, ctx).toArray();
    let o = 0x80000000;
    const draw = (k: number): Tensor => {
      const t = sampleOf(p[k].value, p[k + 1].value, ctx, 3, o);
      o += t.size;
      return t;
    };
    const wx = draw(0), wh = draw(2), zx = draw(4), zh = draw(6), zg = draw(8);
    const plain = built(new LSTM({ units: H, returnSequences: true }), [T, I]);
    const q = plain.params();
    q[0].value.set(groupScale(wx, zx, zg, Tensor.zeros([I, G * H], rt)).toArray());
    q[1].value.set(groupScale(wh, zh, zg, Tensor.zeros([H, G * H], rt)).toArray());
    q[2].value.set(p[10].value.toArray());
    expectBits(plain.forward(x, { ...ctx, training: false }).toArray(), y);
  });

  it('the KL sums the weights’ and every group variable’s log-uniform KL (float64 reference)', () => {
    const l = built(new SparseVDGRU({ units: 3, groups: { hidden: true, gates: true } }), [4, 2]);
    const p = l.params();
    for (const [k, seed] of [[1, 1], [3, 2], [5, 3], [7, 4]]) p[k].value.set(randomArray(p[k].value.size, lcg(seed), -9, 2));
    expect(p.map((g) => g.name.split('/')[1])).toEqual(['kernel', 'kernel', 'recurrentKernel', 'recurrentKernel', 'hiddenGroups', 'hiddenGroups', 'gateGroups', 'gateGroups', 'bias', 'recurrentBias']);
    let want = 0;
    for (const k of [0, 2, 4, 6]) {
      const th = p[k].value.toArray(), ls = p[k + 1].value.toArray();
      for (let i = 0; i < th.length; i++) want += klRef(th[i], ls[i]);
    }
    expect(Math.abs(l.kl() - want) / want).toBeLessThan(1e-5);
    expect(l.groupsKept()).toEqual({ inputs: null, hidden: 3, gates: 9 });
  });

  it('options are checked with typed errors', () => {
    expect(() => new SparseVDLSTM({ units: 2, groups: 'all' as never })).toThrow(ArgumentError);
    expect(() => new SparseVDLSTM({ units: 2, groups: { words: true } as never })).toThrow(ArgumentError);
    expect(() => new SparseVDGRU({ units: 2, groups: { hidden: 1 } as never })).toThrow(ArgumentError);
    expect(() => new SparseVDEmbedding({ inputDim: 4, outputDim: 2, groups: 'rows' as never })).toThrow(ArgumentError);
  });
});

/** Set log σ² = 4 (log α ≥ 3 for |θ| < 0.6; the group variables: θ set to 0.5) at `which` of a layer's parameter `param`. */
function drop(m: Sequential, layer: number, param: string, which: number[]): void {
  const ls = m.layers[layer].params().find((q) => q.name.endsWith(`${param}/logSigma2`))!;
  const th = m.layers[layer].params().find((q) => q.name.endsWith(`${param}/theta`))!;
  const v = ls.value.toArray(), t = th.value.toArray();
  for (const i of which) {
    v[i] = 4;
    if (param.endsWith('Groups')) t[i] = 0.5;
  }
  ls.value.set(v);
  th.value.set(t);
}

describe('group variables: save/load and prune', () => {
  it('dropped words, inputs, hidden units and gates: prune removes them, outputs = the masked dense model; save/load keeps every bit', () => {
    const V = 12, D = 4, T = 5, H = 6;
    const make = () => new Sequential({
      inputShape: [T], seed: 6, runtime: rt,
      layers: [
        new SparseVDEmbedding({ inputDim: V, outputDim: D, maskZero: true, groups: 'words' }),
        new SparseVDLSTM({ units: H, masking: true, groups: true }),
        new SparseVDDense({ units: 3 }),
      ],
    });
    const m = make();
    drop(m, 0, 'wordGroups', [2, 5, 9]); // three words leave the vocabulary
    drop(m, 1, 'inputGroups', [1]); // embedding dimension 1 is read by no gate
    drop(m, 1, 'hiddenGroups', [3]); // unit 3 feeds no gate …
    drop(m, 2, '', Array.from({ length: 3 }, (_, j) => 3 * 3 + j)); // … nor the dense layer: removed
    drop(m, 1, 'gateGroups', [H + 0, 3 * H + 4]); // unit 0's forget gate, unit 4's output gate: constant
    const svd = m.layers[1] as SparseVDLSTM;
    expect(svd.groupsKept()).toEqual({ inputs: D - 1, hidden: H - 1, gates: 4 * H - 2 });
    const emb = m.layers[0] as SparseVDEmbedding;
    expect(emb.keptWords()).toBe(V - 3);
    // The inference weights: zero rows and columns exactly where the groups went.
    const f = svd.inference() as { wx: Float32Array; wh: Float32Array };
    for (let c = 0; c < 4 * H; c++) expect(Math.abs(f.wx[4 * H + c])).toBe(0); // row 1 of W_x
    for (let c = 0; c < 4 * H; c++) expect(Math.abs(f.wh[3 * 4 * H + c])).toBe(0); // row 3 of W_h
    for (const col of [H, 3 * H + 4]) {
      for (let r = 0; r < D; r++) expect(Math.abs(f.wx[r * 4 * H + col])).toBe(0);
      for (let r = 0; r < H; r++) expect(Math.abs(f.wh[r * 4 * H + col])).toBe(0);
    }
    const sp = svd.sparsity();
    expect(sp.kept).toBe([...f.wx, ...f.wh].filter((v) => v !== 0).length);
    expect(recurrentUnitsKept(m.layers[1], m.layers[2])).toBe(H - 1);

    const rnd = lcg(4);
    const ids = new Float32Array(4 * T);
    for (let i = 0; i < ids.length; i++) ids[i] = Math.floor(rnd() * V);
    ids.fill(0, 0, 2);
    ids[T + 1] = 5; // a removed word
    const want = m.predict(ids);
    // The masked dense model: a plain LSTM with the inference weights gives the same bits.
    const back = loadModel(saveModel(m), { runtime: rt });
    expect(back.predict(ids)).toEqual(want);
    expect((back.layers[1] as SparseVDLSTM).groupsKept()).toEqual(svd.groupsKept());
    const ctx: ForwardContext = { training: true, sample: false, seed: 3, step: 2, rows: [0, 1, 2, 3] };
    const x = Tensor.from(ids, [4, T], rt);
    expect(back.forward(x, ctx).toArray()).toEqual(m.forward(x, ctx).toArray()); // the same noise too
    for (const sparseBelow of [1, 0]) {
      const pruned = prune(m, { sparseBelow });
      const s = pruned.summary();
      const e = s.find((r) => r.kind === 'embedding')!, rec = s.find((r) => r.kind === 'recurrent')!;
      expect(e.vocabulary).toEqual({ kept: V - 4, of: V }); // padding id 0 and the three words
      expect(rec.outputShape).toEqual([H - 1]);
      expectClose(pruned.predict(ids, { batchSize: 3 }), want, 1e-5, `pruned (sparseBelow ${sparseBelow}) vs masked dense`);
      pruned.dispose();
    }
    back.dispose();
    m.dispose();
  });

  it('GRU with gate groups: a dropped gate keeps only its bias (plain GRU on the masked weights, same bits)', () => {
    const T = 4, I = 3, H = 3;
    const l = built(new SparseVDGRU({ units: H, groups: { gates: true } }), [T, I]);
    const p = l.params();
    const zt = p[4].value.toArray(), zs = p[5].value.toArray();
    for (const j of [0, 4, 8]) {
      zt[j] = 0.5;
      zs[j] = 4;
    }
    p[4].value.set(zt);
    p[5].value.set(zs);
    expect(l.groupsKept().gates).toBe(3 * H - 3);
    const f = l.inference() as { wx: Float32Array; wh: Float32Array };
    const plain = built(new GRU({ units: H }), [T, I]);
    const q = plain.params();
    q[0].value.set(f.wx);
    q[1].value.set(f.wh);
    q[2].value.set(p[6].value.toArray());
    q[3].value.set(p[7].value.toArray());
    const x = Tensor.from(randomArray(2 * T * I, lcg(1)), [2, T, I], rt);
    const inf: ForwardContext = { training: false, sample: false, seed: 1, step: 0 };
    expectBits(plain.forward(x, inf).toArray(), l.forward(x, inf).toArray());
    for (const j of [0, 4, 8]) for (let r = 0; r < I; r++) expect(Math.abs(f.wx[r * 3 * H + j])).toBe(0);
  });
});
