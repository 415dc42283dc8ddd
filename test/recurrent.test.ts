import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ForwardContext, Layer } from '../src/layers/layer.js';
import { GRU, LSTM, Recurrent, SparseVDGRU, SparseVDLSTM, sequenceStream } from '../src/layers/recurrent.js';
import { Embedding, SparseVDEmbedding } from '../src/layers/embedding.js';
import { Dense } from '../src/layers/dense.js';
import { Sequential } from '../src/model.js';
import { svdPrepare } from '../src/ops/bayes.js';
import { gaussian } from '../src/ops/noise.js';
import { svdSampleWeights } from '../src/ops/rnn.js';
import { passSeed } from '../src/layers/bayesian.js';
import { clipGradNorm } from '../src/ops/optim.js';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { gradCheck } from './util/gradcheck.js';
import { expectBits, expectClose, lcg, randomArray } from './util/kernel.js';
import { bucketByLength } from '../src/text.js';
import { fit } from '../src/train.js';

const rt = Runtime.createSync();

function built<L extends Layer>(l: L, shape: number[], index = 0): L {
  l.name = 'rnn_test';
  l.index = index;
  l.build(shape, rt, 17);
  return l;
}

/**
 * Zero whole steps of x [B, T, F] (sequence b padded at the steps listed for it), and skip those
 * coordinates in the check: a nonzero nudge would turn a padded step into a live one.
 */
function padSteps(T: number, F: number, pads: number[][]): { prepareX: (x: Float32Array) => void; skipX: (i: number) => boolean } {
  const padded = (i: number): boolean => {
    const b = Math.floor(i / (T * F)), t = Math.floor(i / F) % T;
    return (pads[b] ?? []).includes(t);
  };
  return { prepareX: (x) => x.forEach((_, i) => { if (padded(i)) x[i] = 0; }), skipX: padded };
}

const train: Partial<ForwardContext> = { training: true };

describe('recurrent layers: finite differences through time', () => {
  for (const [name, make] of [['LSTM', LSTM], ['GRU', GRU]] as const) {
    it(`${name}, last state`, () => gradCheck(built(new make({ units: 5 }), [4, 3]), rt, [2, 4, 3]));
    it(`${name}, sequences, odd sizes`, () => gradCheck(built(new make({ units: 7, returnSequences: true }), [3, 5]), rt, [3, 3, 5]));
    it(`${name}, masked padded steps (pre and post padding)`, () => gradCheck(built(new make({ units: 6, masking: true, returnSequences: true }), [5, 2]), rt, [3, 5, 2],
      padSteps(5, 2, [[3, 4], [0, 1], []])));
    it(`${name}, padding every sequence shares (the kernels skip those steps)`, () => gradCheck(built(new make({ units: 4, masking: true, returnSequences: true }), [5, 2]), rt, [3, 5, 2],
      padSteps(5, 2, [[0, 4], [0, 3, 4], [0]])));
    it(`${name}, Bernoulli dropout on inputs and state (mask fixed per sequence)`, () => gradCheck(
      built(new make({ units: 5, dropout: 0.3, recurrentDropout: 0.4 }), [4, 3]), rt, [3, 4, 3], { ctx: train }));
  }
  for (const [name, make] of [['SparseVDLSTM', SparseVDLSTM], ['SparseVDGRU', SparseVDGRU]] as const) {
    for (const [weightNoise, returnSequences] of [['sequence', false], ['sequence', true], ['batch', false]] as const) {
      it(`${name}, sampled weights (one per ${weightNoise}${returnSequences ? ', sequences' : ''}) and the KL (θ, log σ²)`, () => {
        // Training without the mask (as the Sparse VD dense tests do): the loss is smooth in θ.
        const l = built(new make({ units: 4, initialLogSigma2: -2, maskInTraining: false, masking: true, weightNoise, returnSequences }), [4, 3]);
        gradCheck(l, rt, [2, 4, 3], { ctx: train, withKl: true, h: 1e-3, ...padSteps(4, 3, [[3], []]) });
      });
    }
  }
});

describe('Sparse VD recurrent weights', () => {
  it("weightNoise 'batch': one weight sample per pass, the same at every time step (white box: a plain LSTM on that sample gives the same bits)", () => {
    const T = 6, I = 3, H = 5, B = 2;
    const svd = built(new SparseVDLSTM({ units: H, returnSequences: true, initialLogSigma2: -2, weightNoise: 'batch' }), [T, I], 3);
    const ctx: ForwardContext = { training: true, sample: false, seed: 42, step: 9 };
    const x = Tensor.from(randomArray(B * T * I, lcg(3)), [B, T, I], rt);
    const y = svd.forward(x, ctx).toArray();
    // Rebuild the sample: ε on the layer's stream at the weights' offset, W_h's after W_x's.
    const p = svd.params();
    const sample = (theta: Tensor, logSigma2: Tensor, offset: number): Float32Array => {
      const M = Tensor.zeros(theta.shape, rt), S = Tensor.zeros(theta.shape, rt), la = Tensor.zeros(theta.shape, rt), eps = Tensor.zeros(theta.shape, rt);
      svdPrepare(theta, logSigma2, M, S, la, 3, { lo: -8, hi: 8 });
      gaussian(eps, passSeed(ctx), { stream: 3, offset });
      return svdSampleWeights(M, S, eps, Tensor.zeros(theta.shape, rt)).toArray();
    };
    const wx = sample(p[0].value, p[1].value, 0x80000000), wh = sample(p[2].value, p[3].value, 0x80000000 + I * 4 * H);
    const plain = built(new LSTM({ units: H, returnSequences: true }), [T, I]);
    const q = plain.params();
    q[0].value.set(wx);
    q[1].value.set(wh);
    q[2].value.set(p[4].value.toArray());
    expectBits(plain.forward(x, { ...ctx, training: false }).toArray(), y);
    // Another pass counter draws another sample; the same counter the same one.
    const y2 = svd.forward(x, { ...ctx, step: 10 }).toArray();
    expect(y2.some((v, i) => v !== y[i])).toBe(true);
    expectBits(svd.forward(x, ctx).toArray(), y);
  });

  it("weightNoise 'sequence' (default): each sequence its own sample, the same at every step, keyed by its dataset index (not batch size or position)", () => {
    const T = 5, I = 3, H = 4;
    for (const [Svd, Plain] of [[SparseVDLSTM, LSTM], [SparseVDGRU, GRU]] as const) {
      const svd = built(new Svd({ units: H, returnSequences: true, masking: true, initialLogSigma2: -2 }), [T, I], 2);
      const rows = [7, 3, 12];
      const xa = randomArray(rows.length * T * I, lcg(5));
      xa.fill(0, 0, 2 * I); // sequence 0 pre-padded by two steps
      const ctx: ForwardContext = { training: true, sample: false, seed: 8, step: 4, rows };
      const y = svd.forward(Tensor.from(xa, [rows.length, T, I], rt), ctx).toArray();
      const p = svd.params();
      const sample = (theta: Tensor, logSigma2: Tensor, stream: number, offset: number): Float32Array => {
        const M = Tensor.zeros(theta.shape, rt), S = Tensor.zeros(theta.shape, rt), la = Tensor.zeros(theta.shape, rt), eps = Tensor.zeros(theta.shape, rt);
        svdPrepare(theta, logSigma2, M, S, la, 3, { lo: -8, hi: 8 });
        gaussian(eps, passSeed(ctx), { stream, offset });
        const w = svdSampleWeights(M, S, eps, Tensor.zeros(theta.shape, rt)).toArray();
        for (const t of [M, S, la, eps]) t.dispose();
        return w;
      };
      const G = Svd === SparseVDLSTM ? 4 : 3;
      const samples: Float32Array[] = [];
      rows.forEach((r, k) => {
        // Sequence k alone through a plain cell with the sample of stream (layer 2, row r): the same bits at every step.
        const stream = sequenceStream(2, r);
        const wx = sample(p[0].value, p[1].value, stream, 0), wh = sample(p[2].value, p[3].value, stream, I * G * H);
        samples.push(wx);
        const plain = built(new Plain({ units: H, returnSequences: true, masking: true }), [T, I]);
        const q = plain.params();
        q[0].value.set(wx);
        q[1].value.set(wh);
        q.slice(2).forEach((g, j) => g.value.set(p[4 + j].value.toArray()));
        const xk = Tensor.from(xa.subarray(k * T * I, (k + 1) * T * I), [1, T, I], rt);
        expectBits(plain.forward(xk, { ...ctx, training: false }).toArray(), y.subarray(k * T * H, (k + 1) * T * H));
        // The same sequence in a batch of its own (batch size 1, another position): the same bits.
        expectBits(svd.forward(xk, { ...ctx, rows: [r] }).toArray(), y.subarray(k * T * H, (k + 1) * T * H));
        plain.dispose();
      });
      // Different sequences, different samples.
      expect(samples[0].some((v, i) => v !== samples[1][i])).toBe(true);
      expect(() => svd.forward(Tensor.from(xa, [rows.length, T, I], rt), { ...ctx, rows: [1, 2] })).toThrow(ArgumentError);
      svd.dispose();
    }
  });

  it('inference multiplies by the masked means (dropped weights exactly 0); KL and sparsity reported', () => {
    const l = built(new SparseVDGRU({ units: 4 }), [3, 2]);
    const p = l.params();
    const ls = p[1].value.toArray();
    for (let i = 0; i < ls.length; i += 3) ls[i] = 4; // log α = 4 − log θ² ≥ 3 for |θ| ≤ ~0.6
    p[1].value.set(ls);
    const la = l.logAlpha();
    const masked = (th: Float32Array, a: Float32Array): Float32Array => th.map((v, i) => (a[i] < 3 ? v : 0));
    const dropped = [...la.kernel, ...la.recurrentKernel].filter((v) => v >= 3).length;
    expect(dropped).toBeGreaterThan(0);
    const plain = built(new GRU({ units: 4 }), [3, 2]);
    const q = plain.params();
    q[0].value.set(masked(p[0].value.toArray(), la.kernel));
    q[1].value.set(masked(p[2].value.toArray(), la.recurrentKernel));
    q[2].value.set(p[4].value.toArray());
    q[3].value.set(p[5].value.toArray());
    const x = Tensor.from(randomArray(2 * 3 * 2, lcg(8)), [2, 3, 2], rt);
    const inf: ForwardContext = { training: false, sample: false, seed: 1, step: 0 };
    expectBits(plain.forward(x, inf).toArray(), l.forward(x, inf).toArray());
    const sp = l.sparsity();
    expect(sp.total).toBe(2 * 12 + 4 * 12);
    expect(sp.kept).toBe(sp.total - dropped);
    expect(l.kl()).toBeGreaterThan(0);
  });
});

describe('masking and variable lengths', () => {
  for (const [name, make] of [['LSTM', LSTM], ['GRU', GRU]] as const) {
    it(`${name}: a sequence padded before or after gives the unpadded sequence's last state; padded outputs are 0`, () => {
      const I = 3, H = 4, L = 3, T = 5;
      const seq = randomArray(L * I, lcg(4));
      const short = built(new make({ units: H }), [L, I]);
      const long = built(new make({ units: H, masking: true, returnSequences: true }), [T, I]);
      short.params().forEach((p, i) => p.value.set(long.params()[i].value.toArray()));
      const inf: ForwardContext = { training: false, sample: false, seed: 0, step: 0 };
      const want = short.forward(Tensor.from(seq, [1, L, I], rt), inf).toArray();
      const x = new Float32Array(2 * T * I);
      x.set(seq, 0); // post-padded: steps 3, 4 are zeros
      x.set(seq, T * I + (T - L) * I); // pre-padded
      const y = long.forward(Tensor.from(x, [2, T, I], rt), inf).toArray();
      const out = (b: number, t: number): Float32Array => y.subarray((b * T + t) * H, (b * T + t + 1) * H);
      expectBits(out(0, L - 1), want);
      expectBits(out(1, T - 1), want);
      for (const [b, t] of [[0, 3], [0, 4], [1, 0], [1, 1]]) expect(Array.from(out(b, t))).toEqual([0, 0, 0, 0]);
      const last = built(new make({ units: H, masking: true }), [T, I]);
      last.params().forEach((p, i) => p.value.set(long.params()[i].value.toArray()));
      const yl = last.forward(Tensor.from(x, [2, T, I], rt), inf).toArray();
      expectBits(yl.subarray(0, H), want);
      expectBits(yl.subarray(H), want);
    });
  }

  it('bucketing saves work: a batch runs only its span of live steps, with the outputs and gradients of the full-length run', () => {
    const I = 3, H = 5, T = 8;
    const lengths = [2, 3, 2, 6, 5, 8, 3, 6, 2];
    const n = lengths.length;
    const x = randomArray(n * T * I, lcg(11));
    lengths.forEach((L, b) => x.fill(0, b * T * I, (b * T + T - L) * I)); // 'pre' padding
    const rows = (idx: ArrayLike<number>): Float32Array => {
      const out = new Float32Array(idx.length * T * I);
      Array.from(idx).forEach((r, k) => out.set(x.subarray(r * T * I, (r + 1) * T * I), k * T * I));
      return out;
    };
    const layer = built(new SparseVDLSTM({ units: H, masking: true, weightNoise: 'batch' }), [T, I]);
    const ctx: ForwardContext = { training: true, sample: false, seed: 3, step: 0 };
    const grads = () => layer.params().map((p) => p.grad.toArray());
    const clear = () => layer.params().forEach((p) => p.grad.view().fill(0));
    // The full batch: every row runs all T steps (one sequence has length T).
    const yAll = layer.forward(Tensor.from(x, [n, T, I], rt), ctx).toArray();
    expect(layer.stepsRun).toBe(T);
    const buckets = bucketByLength(lengths, 3, 7);
    let work = 0;
    for (const { indices } of buckets) {
      const Lmax = Math.max(...Array.from(indices, (r) => lengths[r]));
      const dy = randomArray(indices.length * H, lcg(indices[0]));
      const before = layer.stepsRun;
      const y = layer.forward(Tensor.from(rows(indices), [indices.length, T, I], rt), ctx).toArray();
      expect(layer.stepsRun - before).toBe(Lmax);
      work += Lmax;
      Array.from(indices).forEach((r, k) => expectBits(y.subarray(k * H, (k + 1) * H), yAll.subarray(r * H, (r + 1) * H)));
      clear();
      layer.backward(Tensor.from(dy, [indices.length, H], rt));
      const gB = grads();
      // The same rows inside a full-length batch (a length-T sequence with zero output gradient).
      const withFull = [...Array.from(indices), 5];
      layer.forward(Tensor.from(rows(withFull), [withFull.length, T, I], rt), ctx);
      const dyFull = new Float32Array(withFull.length * H);
      dyFull.set(dy);
      clear();
      layer.backward(Tensor.from(dyFull, [withFull.length, H], rt));
      grads().forEach((g, i) => expectClose(gB[i], g, 1e-6, `${layer.params()[i].name} gradient, bucket of ${indices.length}`));
    }
    expect(work).toBeLessThan(buckets.length * T);
    // fit with the buckets as its batches: one epoch costs the bucket lengths, not T each.
    const m = new Sequential({ inputShape: [T, I], seed: 2, runtime: rt, layers: [new LSTM({ units: H, masking: true }), new Dense({ units: 2 })] });
    const rec = m.layers[0] as Recurrent;
    const labels = Int32Array.from(lengths, (L) => L % 2);
    fit(m, x, labels, { epochs: 2, batches: buckets.map((b) => b.indices), progress: false, seed: 4 });
    expect(rec.stepsRun).toBe(2 * buckets.reduce((a, b) => a + Math.max(...Array.from(b.indices, (r) => lengths[r])), 0));
    expect(() => fit(m, x, labels, { epochs: 1, batches: [[0, n]], progress: false })).toThrow(ArgumentError);
    m.dispose();
  });

  it('options and inputs are checked with typed errors', () => {
    expect(() => new LSTM({ units: 0 })).toThrow(ArgumentError);
    expect(() => new GRU({ units: 3, dropout: 1 })).toThrow(ArgumentError);
    expect(() => new SparseVDLSTM({ units: 3, logAlphaRange: [2, 1] })).toThrow(ArgumentError);
    expect(() => built(new LSTM({ units: 3 }), [5])).toThrow(ShapeError);
    const l = built(new LSTM({ units: 3 }), [4, 2]);
    expect(() => l.forward(Tensor.zeros([2, 4, 3], rt), { training: false, sample: false, seed: 0, step: 0 })).toThrow(ShapeError);
  });
});

describe('embeddings', () => {
  for (const [name, make] of [['Embedding', Embedding], ['SparseVDEmbedding', SparseVDEmbedding]] as const) {
    it(`${name} → LSTM → Dense: finite differences of the table (padding id 0 gets nothing)`, () => {
      const V = 9, D = 4, T = 5;
      const m = new Sequential({
        inputShape: [T], seed: 3, runtime: rt,
        layers: [new make({ inputDim: V, outputDim: D, maskZero: true, initialLogSigma2: -2, maskInTraining: false } as never), new LSTM({ units: 3, masking: true }), new Dense({ units: 2 })],
      });
      const ids = Tensor.from([0, 0, 2, 5, 2, 7, 1, 8, 3, 0], [2, T], rt);
      const r = Tensor.from([0.3, -0.7, 1.1, 0.4], [2, 2], rt);
      const ctx: ForwardContext = { training: true, sample: false, seed: 5, step: 1 };
      const loss = (): number => {
        const y = m.forward(ids, ctx).view();
        return y.reduce((s, v, i) => s + v * r.view()[i], 0) + m.kl();
      };
      for (const p of m.params()) p.grad.view().fill(0);
      m.forward(ids, ctx);
      m.backward(r);
      m.kl(1);
      for (const p of m.layers[0].params()) {
        const g = p.grad.toArray();
        if (p.name.endsWith('/embeddings')) for (let j = 0; j < D; j++) expect(g[j]).toBe(0); // id 0 (no KL on the plain table)
        const h = 1e-3;
        for (let i = D; i < p.value.size; i += 3) {
          const v = p.value.view(), old = v[i];
          v[i] = old + h; const fp = loss();
          p.value.view()[i] = old - h; const fm = loss();
          p.value.view()[i] = old;
          const num = (fp - fm) / (2 * h);
          expect(Math.abs(num - g[i]) / Math.max(1, Math.abs(num)), `${p.name}[${i}]`).toBeLessThan(2e-2);
        }
      }
    });
  }
});

describe('gradient clipping over a recurrent model', () => {
  it('clipGradNorm brings the global norm of LSTM gradients to the cap', () => {
    const m = new Sequential({ inputShape: [6, 2], seed: 1, runtime: rt, layers: [new LSTM({ units: 8 }), new Dense({ units: 3 })] });
    const x = Tensor.from(randomArray(4 * 12, lcg(2), -3, 3), [4, 6, 2], rt);
    for (const p of m.params()) p.grad.view().fill(0);
    const y = m.forward(x, { training: true, sample: false, seed: 0, step: 0 });
    m.backward(Tensor.from(randomArray(y.size, lcg(3), 10, 20), y.shape, rt));
    const norm = (): number => Math.sqrt(m.params().reduce((s, p) => s + p.grad.toArray().reduce((a, v) => a + v * v, 0), 0));
    expect(norm()).toBeGreaterThan(1);
    clipGradNorm(m.params().map((p) => p.grad), 1);
    expect(norm()).toBeCloseTo(1, 4);
    expect((m.layers[0] as Recurrent).units).toBe(8);
  });
});
