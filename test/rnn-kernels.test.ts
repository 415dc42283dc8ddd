import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import {
  csrRows, csrRowsGemm, gruCell, lstmCell, embeddingGrad, embeddingLookup, gruBackward, gruForward, lstmBackward, lstmForward, mulRows, stepMask, svdSampleGrads,
  svdSampleWeights, swapOuter,
} from '../src/ops/rnn.js';
import { ArgumentError, KernelError, ShapeError } from '../src/errors.js';
import { expectBits, expectClose, lcg, randomArray } from './util/kernel.js';

const rt = Runtime.createSync();
const sig = (x: number): number => 1 / (1 + Math.exp(-x));

interface Case { T: number; B: number; H: number; masked: boolean; drop: boolean; last: boolean }

// Sizes below, at and above the SIMD width (4 lanes) with odd tails; masks with padded steps at
// both ends and in the middle; recurrent dropout masks; both output modes.
const CASES: Case[] = [
  { T: 1, B: 1, H: 1, masked: false, drop: false, last: true },
  { T: 2, B: 1, H: 3, masked: true, drop: false, last: false },
  { T: 3, B: 2, H: 4, masked: false, drop: true, last: true },
  { T: 4, B: 3, H: 5, masked: true, drop: true, last: false },
  { T: 5, B: 2, H: 8, masked: true, drop: false, last: true },
  { T: 3, B: 5, H: 13, masked: true, drop: true, last: true },
  // G·H past the GEMM's k-block (256) and B past the rows one packed A block holds at that k:
  // the backward's packed Wᵀ (one k-block of G·H) over two row blocks.
  { T: 2, B: 115, H: 72, masked: true, drop: true, last: false },
];

function setup(c: Case, G: number, seed: number) {
  const rnd = lcg(seed);
  const { T, B, H } = c;
  const g0 = randomArray(T * B * G * H, rnd, -2, 2);
  const wh = randomArray(H * G * H, rnd, -0.6, 0.6);
  const bh = randomArray(G * H, rnd, -0.5, 0.5);
  const h0 = randomArray(B * H, rnd);
  const c0 = randomArray(B * H, rnd);
  const mask = new Float32Array(T * B).fill(1);
  if (c.masked) for (let i = 0; i < T * B; i++) if (rnd() < 0.35) mask[i] = 0;
  const hdrop = new Float32Array(B * H).fill(1);
  if (c.drop) for (let i = 0; i < B * H; i++) hdrop[i] = rnd() < 0.3 ? 0 : 1 / 0.7;
  const dy = randomArray((c.last ? 1 : T) * B * H, rnd);
  return { g0, wh, bh, h0, c0, mask, hdrop, dy };
}

/** f64 LSTM through time: states, activations, and BPTT of Σ dy ⊙ outputs. */
function lstmRef(c: Case, d: ReturnType<typeof setup>) {
  const { T, B, H } = c, G = 4 * H;
  const h = [Array.from(d.h0)], cs = [Array.from(d.c0)];
  const act: number[][] = [];
  const live = (t: number, b: number): boolean => !c.masked || d.mask[t * B + b] !== 0;
  const hin = (t: number, b: number, k: number): number => h[t][b * H + k] * (c.drop ? d.hdrop[b * H + k] : 1);
  for (let t = 0; t < T; t++) {
    const hn = h[t].slice(), cn = cs[t].slice(), a = new Array(B * G).fill(0);
    for (let b = 0; b < B; b++) {
      if (!live(t, b)) continue;
      const pre = new Array(G).fill(0);
      for (let j = 0; j < G; j++) {
        let s = d.g0[(t * B + b) * G + j];
        for (let k = 0; k < H; k++) s += hin(t, b, k) * d.wh[k * G + j];
        pre[j] = s;
      }
      for (let j = 0; j < H; j++) {
        const i = sig(pre[j]), f = sig(pre[H + j]), u = Math.tanh(pre[2 * H + j]), o = sig(pre[3 * H + j]);
        a[b * G + j] = i; a[b * G + H + j] = f; a[b * G + 2 * H + j] = u; a[b * G + 3 * H + j] = o;
        cn[b * H + j] = f * cs[t][b * H + j] + i * u;
        hn[b * H + j] = o * Math.tanh(cn[b * H + j]);
      }
    }
    h.push(hn); cs.push(cn); act.push(a);
  }
  const dG = new Array(T * B * G).fill(0);
  let dh = new Array(B * H).fill(0);
  const dc = new Array(B * H).fill(0);
  for (let t = T - 1; t >= 0; t--) {
    const dyt = c.last ? (t === T - 1 ? d.dy : null) : d.dy.subarray(t * B * H, (t + 1) * B * H);
    const next = new Array(B * H).fill(0);
    for (let b = 0; b < B; b++) {
      if (!live(t, b)) {
        for (let j = 0; j < H; j++) next[b * H + j] = dh[b * H + j] + (c.last && dyt ? dyt[b * H + j] : 0);
        continue;
      }
      for (let j = 0; j < H; j++) {
        const a = act[t], r = b * G;
        const i = a[r + j], f = a[r + H + j], u = a[r + 2 * H + j], o = a[r + 3 * H + j];
        const dht = dh[b * H + j] + (dyt ? dyt[b * H + j] : 0);
        const tc = Math.tanh(cs[t + 1][b * H + j]);
        const dct = dc[b * H + j] + dht * o * (1 - tc * tc);
        const q = (t * B + b) * G;
        dG[q + j] = dct * u * i * (1 - i);
        dG[q + H + j] = dct * cs[t][b * H + j] * f * (1 - f);
        dG[q + 2 * H + j] = dct * i * (1 - u * u);
        dG[q + 3 * H + j] = dht * tc * o * (1 - o);
        dc[b * H + j] = dct * f;
      }
      for (let k = 0; k < H; k++) {
        let s = 0;
        for (let j = 0; j < G; j++) s += dG[(t * B + b) * G + j] * d.wh[k * G + j];
        next[b * H + k] = s * (c.drop ? d.hdrop[b * H + k] : 1);
      }
    }
    dh = next;
  }
  return { h: h.flat(), c: cs.flat(), act: act.flat(), dG, dh, dc };
}

/** f64 GRU through time (PyTorch's form), with BPTT. */
function gruRef(c: Case, d: ReturnType<typeof setup>) {
  const { T, B, H } = c, G = 3 * H;
  const h = [Array.from(d.h0)];
  const act: number[][] = [], ghs: number[][] = [];
  const live = (t: number, b: number): boolean => !c.masked || d.mask[t * B + b] !== 0;
  for (let t = 0; t < T; t++) {
    const hn = h[t].slice(), a = new Array(B * G).fill(0), gh = new Array(B * G).fill(0);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < G; j++) {
        let s = d.bh[j];
        for (let k = 0; k < H; k++) s += h[t][b * H + k] * (c.drop ? d.hdrop[b * H + k] : 1) * d.wh[k * G + j];
        gh[b * G + j] = s;
      }
      if (!live(t, b)) continue;
      for (let j = 0; j < H; j++) {
        const x = (t * B + b) * G;
        const r = sig(d.g0[x + j] + gh[b * G + j]), z = sig(d.g0[x + H + j] + gh[b * G + H + j]);
        const n = Math.tanh(d.g0[x + 2 * H + j] + r * gh[b * G + 2 * H + j]);
        a[b * G + j] = r; a[b * G + H + j] = z; a[b * G + 2 * H + j] = n;
        hn[b * H + j] = (1 - z) * n + z * h[t][b * H + j];
      }
    }
    h.push(hn); act.push(a); ghs.push(gh);
  }
  const dGx = new Array(T * B * G).fill(0), dGh = new Array(T * B * G).fill(0);
  let dh = new Array(B * H).fill(0);
  for (let t = T - 1; t >= 0; t--) {
    const dyt = c.last ? (t === T - 1 ? d.dy : null) : d.dy.subarray(t * B * H, (t + 1) * B * H);
    const next = new Array(B * H).fill(0);
    for (let b = 0; b < B; b++) {
      if (!live(t, b)) {
        for (let j = 0; j < H; j++) next[b * H + j] = dh[b * H + j] + (c.last && dyt ? dyt[b * H + j] : 0);
        continue;
      }
      const q = (t * B + b) * G;
      for (let j = 0; j < H; j++) {
        const r = act[t][b * G + j], z = act[t][b * G + H + j], n = act[t][b * G + 2 * H + j];
        const dht = dh[b * H + j] + (dyt ? dyt[b * H + j] : 0);
        const dn = dht * (1 - z) * (1 - n * n);
        const dz = dht * (h[t][b * H + j] - n) * z * (1 - z);
        const dr = dn * ghs[t][b * G + 2 * H + j] * r * (1 - r);
        dGx[q + j] = dr; dGx[q + H + j] = dz; dGx[q + 2 * H + j] = dn;
        dGh[q + j] = dr; dGh[q + H + j] = dz; dGh[q + 2 * H + j] = dn * r;
        next[b * H + j] = dht * z;
      }
      for (let k = 0; k < H; k++) {
        let s = 0;
        for (let j = 0; j < G; j++) s += dGh[q + j] * d.wh[k * G + j];
        next[b * H + k] += s * (c.drop ? d.hdrop[b * H + k] : 1);
      }
    }
    dh = next;
  }
  return { h: h.flat(), act: act.flat(), dGx, dGh, dh };
}

function stateTensor(T: number, B: number, H: number, init: Float32Array): Tensor {
  const t = Tensor.zeros([T + 1, B, H], rt);
  t.view().set(init);
  return t;
}

describe('LSTM kernels through time (f64 reference; SIMD = scalar twin bit for bit)', () => {
  CASES.forEach((c, ci) => {
    it(`T=${c.T} B=${c.B} H=${c.H}${c.masked ? ' masked' : ''}${c.drop ? ' recurrent dropout' : ''} ${c.last ? 'last state' : 'sequences'}`, () => {
      const { T, B, H } = c;
      const d = setup(c, 4, 100 + ci);
      const ref = lstmRef(c, d);
      const run = (scalar: boolean) => {
        const g = Tensor.from(d.g0, [T, B, 4 * H], rt), wh = Tensor.from(d.wh, [H, 4 * H], rt);
        const h = stateTensor(T, B, H, d.h0), cc = stateTensor(T, B, H, d.c0);
        const mask = c.masked ? Tensor.from(d.mask, [T, B], rt) : null;
        const drop = c.drop ? { mask: Tensor.from(d.hdrop, [B, H], rt), masked: Tensor.zeros([T, B, H], rt) } : null;
        lstmForward(g, wh, h, cc, mask, drop, scalar);
        const dy = Tensor.from(d.dy, c.last ? [B, H] : [T, B, H], rt);
        const dG = Tensor.zeros([T, B, 4 * H], rt);
        const s = { dh: Tensor.zeros([B, H], rt), dc: Tensor.zeros([B, H], rt), tmp: Tensor.zeros([B, H], rt) };
        lstmBackward(g, wh, h, cc, mask, dy, c.last, dG, s, drop, scalar);
        return { h: h.toArray(), c: cc.toArray(), g: g.toArray(), dG: dG.toArray(), dh: s.dh.toArray(), dc: s.dc.toArray() };
      };
      const v = run(false), k = run(true);
      for (const key of ['h', 'c', 'dG', 'dh', 'dc'] as const) expectBits(k[key], v[key]);
      expectClose(k.h, ref.h, 2e-5, 'h');
      expectClose(k.c, ref.c, 2e-5, 'c');
      expectClose(k.dG, ref.dG, 5e-5, 'dG');
      expectClose(k.dh, ref.dh, 5e-5, 'dh0');
      expectClose(k.dc, ref.dc, 5e-5, 'dc0');
      // The live rows' gates hold the activations.
      for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) {
        if (c.masked && d.mask[t * B + b] === 0) continue;
        const o = (t * B + b) * 4 * H;
        expectClose(k.g.subarray(o, o + 4 * H), ref.act.slice(o, o + 4 * H), 2e-5, 'gates');
      }
    });
  });
});

describe('GRU kernels through time (f64 reference; SIMD = scalar twin bit for bit)', () => {
  CASES.forEach((c, ci) => {
    it(`T=${c.T} B=${c.B} H=${c.H}${c.masked ? ' masked' : ''}${c.drop ? ' recurrent dropout' : ''} ${c.last ? 'last state' : 'sequences'}`, () => {
      const { T, B, H } = c;
      const d = setup(c, 3, 200 + ci);
      const ref = gruRef(c, d);
      const run = (scalar: boolean) => {
        const gx = Tensor.from(d.g0, [T, B, 3 * H], rt), wh = Tensor.from(d.wh, [H, 3 * H], rt), bh = Tensor.from(d.bh, [3 * H], rt);
        const gh = Tensor.zeros([T, B, 3 * H], rt), h = stateTensor(T, B, H, d.h0);
        const mask = c.masked ? Tensor.from(d.mask, [T, B], rt) : null;
        const drop = c.drop ? { mask: Tensor.from(d.hdrop, [B, H], rt), masked: Tensor.zeros([T, B, H], rt) } : null;
        gruForward(gx, wh, bh, gh, h, mask, drop, scalar);
        const dy = Tensor.from(d.dy, c.last ? [B, H] : [T, B, H], rt);
        const dGx = Tensor.zeros([T, B, 3 * H], rt), dGh = Tensor.zeros([T, B, 3 * H], rt);
        const s = { dh: Tensor.zeros([B, H], rt), dc: Tensor.zeros([B, H], rt), tmp: Tensor.zeros([B, H], rt) };
        gruBackward(gx, gh, wh, h, mask, dy, c.last, dGx, dGh, s, drop, scalar);
        return { h: h.toArray(), dGx: dGx.toArray(), dGh: dGh.toArray(), dh: s.dh.toArray() };
      };
      const v = run(false), k = run(true);
      for (const key of ['h', 'dGx', 'dGh', 'dh'] as const) expectBits(k[key], v[key]);
      expectClose(k.h, ref.h, 2e-5, 'h');
      expectClose(k.dGx, ref.dGx, 5e-5, 'dGx');
      expectClose(k.dGh, ref.dGh, 5e-5, 'dGh');
      expectClose(k.dh, ref.dh, 5e-5, 'dh0');
    });
  });
});

describe('inference step kernels', () => {
  for (const [B, H] of [[1, 1], [2, 3], [3, 4], [2, 9]]) {
    it(`lstm_cell, gru_cell at B=${B} H=${H} (f64 reference, masked rows; twin bit for bit)`, () => {
      const rnd = lcg(B * 31 + H);
      const g = randomArray(B * 4 * H, rnd, -2, 2), c0 = randomArray(B * H, rnd), h0 = randomArray(B * H, rnd);
      const mask = Float32Array.from({ length: B }, (_, b) => (b === 1 ? 0 : 1));
      const run = (scalar: boolean) => {
        const gt = Tensor.from(g, [B, 4 * H], rt), c1 = Tensor.zeros([B, H], rt), h1 = Tensor.zeros([B, H], rt);
        lstmCell(gt, Tensor.from(c0, [B, H], rt), Tensor.from(h0, [B, H], rt), c1, h1, Tensor.from(mask, [B], rt), scalar);
        return [c1.toArray(), h1.toArray()];
      };
      const [c1, h1] = run(false), [c1s, h1s] = run(true);
      expectBits(c1, c1s);
      expectBits(h1, h1s);
      for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) {
        const q = b * 4 * H;
        const cr = mask[b] ? sig(g[q + H + j]) * c0[b * H + j] + sig(g[q + j]) * Math.tanh(g[q + 2 * H + j]) : c0[b * H + j];
        const hr = mask[b] ? sig(g[q + 3 * H + j]) * Math.tanh(cr) : h0[b * H + j];
        expectClose([c1[b * H + j], h1[b * H + j]], [cr, hr], 2e-5, 'lstm cell');
      }
      const gx = randomArray(B * 3 * H, rnd, -2, 2), gh = randomArray(B * 3 * H, rnd, -2, 2);
      const runG = (scalar: boolean) => {
        const h1t = Tensor.zeros([B, H], rt);
        gruCell(Tensor.from(gx, [B, 3 * H], rt), Tensor.from(gh, [B, 3 * H], rt), Tensor.from(h0, [B, H], rt), h1t, Tensor.from(mask, [B], rt), scalar);
        return h1t.toArray();
      };
      const hg = runG(false);
      expectBits(hg, runG(true));
      for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) {
        const q = b * 3 * H;
        const r = sig(gx[q + j] + gh[q + j]), z = sig(gx[q + H + j] + gh[q + H + j]), n = Math.tanh(gx[q + 2 * H + j] + r * gh[q + 2 * H + j]);
        expectClose([hg[b * H + j]], [mask[b] ? (1 - z) * n + z * h0[b * H + j] : h0[b * H + j]], 2e-5, 'gru cell');
      }
    });
  }

  it('csr_rows_gemm: row and column subsets of a sparse W against the dense product (bias, accumulate, zero inputs)', () => {
    const rnd = lcg(77);
    const [K, N, B] = [7, 9, 4];
    const w = randomArray(K * N, rnd).map((v) => (rnd() < 0.6 ? 0 : v));
    const rows = [0, 2, 3, 6], cols = [1, 4, 5, 8, 0];
    const csr = csrRows(w, K, N, rows, cols, rt);
    const a = randomArray(B * rows.length, rnd);
    a[1] = 0;
    const bias = randomArray(cols.length, rnd), c0 = randomArray(B * cols.length, rnd);
    const ref = (acc: boolean) => Array.from({ length: B * cols.length }, (_, i) => {
      const b = Math.floor(i / cols.length), c = i % cols.length;
      let s = acc ? c0[i] : bias[c];
      for (let r = 0; r < rows.length; r++) s += a[b * rows.length + r] * w[rows[r] * N + cols[c]];
      return s;
    });
    expectClose(csrRowsGemm(Tensor.from(a, [B, rows.length], rt), csr, Tensor.zeros([B, cols.length], rt), Tensor.from(bias, [cols.length], rt), false).toArray(), ref(false), 1e-6, 'bias');
    expectClose(csrRowsGemm(Tensor.from(a, [B, rows.length], rt), csr, Tensor.from(c0, [B, cols.length], rt), null, true).toArray(), ref(true), 1e-6, 'accumulate');
    expect(() => csrRowsGemm(Tensor.zeros([B, 3], rt), csr, Tensor.zeros([B, cols.length], rt), null, false)).toThrow(ShapeError);
  });
});

describe('layout, mask and embedding kernels', () => {
  it('swapOuter swaps the outer axes and zeroes masked rows; stepMask finds all-zero steps (−0 too)', () => {
    const rnd = lcg(5);
    const [A, B, F] = [3, 5, 7];
    const src = randomArray(A * B * F, rnd);
    const m = Float32Array.from({ length: A * B }, (_, i) => (i % 4 === 1 ? 0 : 1));
    const out = swapOuter(Tensor.from(src, [A, B, F], rt), Tensor.zeros([B, A, F], rt), Tensor.from(m, [A * B], rt)).toArray();
    for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) for (let f = 0; f < F; f++) {
      expect(out[(b * A + a) * F + f]).toBe(m[a * B + b] ? src[(a * B + b) * F + f] : 0);
    }
    const x = randomArray(B * A * F, rnd);
    for (const [b, t] of [[0, 0], [2, 1], [4, 2]]) for (let f = 0; f < F; f++) x[(b * A + t) * F + f] = f % 2 ? -0 : 0;
    const mask = Tensor.zeros([A, B], rt);
    expect(stepMask(Tensor.from(x, [B, A, F], rt), mask)).toBe(B * A - 3);
    const mv = mask.toArray();
    for (let b = 0; b < B; b++) for (let t = 0; t < A; t++) {
      const zero = [[0, 0], [2, 1], [4, 2]].some(([bb, tt]) => bb === b && tt === t);
      expect(mv[t * B + b]).toBe(zero ? 0 : 1);
    }
    expect(() => swapOuter(Tensor.zeros([2, 3, 4], rt), Tensor.zeros([2, 3, 4], rt))).toThrow(ShapeError);
  });

  for (const n of [1, 3, 4, 9, 16, 37]) {
    it(`mulRows, weight sampling and its gradient at n=${n} (reference; twin bit for bit)`, () => {
      const rnd = lcg(n);
      const rows = 3;
      const x = randomArray(rows * n, rnd), m = randomArray(n, rnd), o = randomArray(rows * n, rnd);
      const a = mulRows(Tensor.from(x, [rows, n], rt), Tensor.from(m, [n], rt), Tensor.from(o, [rows, n], rt), true).toArray();
      const s = mulRows(Tensor.from(x, [rows, n], rt), Tensor.from(m, [n], rt), Tensor.from(o, [rows, n], rt), true, true).toArray();
      expectBits(a, s);
      expectClose(a, Array.from(o, (v, i) => v + x[i] * m[i % n]), 1e-6, 'mulRows');

      const mean = randomArray(n, rnd), s2 = randomArray(n, rnd, 1e-6, 0.5), eps = randomArray(n, rnd, -3, 3);
      const w1 = svdSampleWeights(Tensor.from(mean, [n], rt), Tensor.from(s2, [n], rt), Tensor.from(eps, [n], rt), Tensor.zeros([n], rt)).toArray();
      const w2 = svdSampleWeights(Tensor.from(mean, [n], rt), Tensor.from(s2, [n], rt), Tensor.from(eps, [n], rt), Tensor.zeros([n], rt), true).toArray();
      expectBits(w1, w2);
      expectClose(w1, Array.from(mean, (v, i) => v + Math.sqrt(s2[i]) * eps[i]), 1e-6, 'w');

      const dw = randomArray(n, rnd), la = randomArray(n, rnd, -5, 6);
      const grads = (scalar: boolean) => {
        const dt = Tensor.from(randomArray(n, lcg(9)), [n], rt), dl = Tensor.from(randomArray(n, lcg(10)), [n], rt);
        svdSampleGrads(Tensor.from(dw, [n], rt), Tensor.from(eps, [n], rt), Tensor.from(s2, [n], rt), Tensor.from(la, [n], rt), 3, dt, dl, scalar);
        return [dt.toArray(), dl.toArray()];
      };
      const [t1, l1] = grads(false), [t2, l2] = grads(true);
      expectBits(t1, t2);
      expectBits(l1, l2);
      const t0 = randomArray(n, lcg(9)), l0 = randomArray(n, lcg(10));
      expectClose(t1, Array.from(t0, (v, i) => v + (la[i] < 3 ? dw[i] : 0)), 1e-6, 'dTheta');
      expectClose(l1, Array.from(l0, (v, i) => v + dw[i] * eps[i] * Math.sqrt(s2[i]) / 2), 1e-5, 'dLogSigma2');
    });
  }

  for (const D of [1, 3, 4, 6, 17]) {
    it(`embedding lookup and row-sparse gradient at D=${D} (padding id; twin bit for bit)`, () => {
      const rnd = lcg(D + 50);
      const V = 7;
      const table = randomArray(V * D, rnd);
      const ids = [0, 3, 3, 6, 1, 0, 5, 3];
      const idsT = Tensor.from(ids, [2, 4], rt);
      const out = embeddingLookup(idsT, Tensor.from(table, [V, D], rt), Tensor.zeros([2, 4, D], rt), 0).toArray();
      ids.forEach((id, i) => {
        for (let j = 0; j < D; j++) expect(out[i * D + j]).toBe(id === 0 ? 0 : table[id * D + j]);
      });
      const dy = randomArray(ids.length * D, rnd);
      const g = (scalar: boolean) => embeddingGrad(idsT, Tensor.from(dy, [2, 4, D], rt), Tensor.zeros([V, D], rt), 0, scalar).toArray();
      const gs = g(false);
      expectBits(gs, g(true));
      const ref = new Float64Array(V * D);
      ids.forEach((id, i) => {
        if (id !== 0) for (let j = 0; j < D; j++) ref[id * D + j] += dy[i * D + j];
      });
      expectClose(gs, ref, 1e-6, 'dtable');
      expect(() => embeddingLookup(Tensor.from([1, 7], [1, 2], rt), Tensor.from(table, [V, D], rt), Tensor.zeros([1, 2, D], rt))).toThrow(ArgumentError);
      expect(() => embeddingLookup(Tensor.from([1.5], [1, 1], rt), Tensor.from(table, [V, D], rt), Tensor.zeros([1, 1, D], rt))).toThrow(ArgumentError);
    });
  }

  it('bad shapes are typed errors before any kernel runs; the kernels assert their own sizes', () => {
    const g = Tensor.zeros([2, 1, 8], rt), wh = Tensor.zeros([2, 8], rt), h = Tensor.zeros([3, 1, 2], rt), c = Tensor.zeros([3, 1, 2], rt);
    expect(() => lstmForward(g, Tensor.zeros([2, 6], rt), h, c, null, null)).toThrow(ShapeError);
    expect(() => lstmForward(g, wh, h, c, Tensor.zeros([3], rt), null)).toThrow(ShapeError);
    expect(() => lstmForward(g, wh, Tensor.zeros([1, 1, 2], rt), c, null, null)).toThrow(ShapeError);
    expect(() => (rt.k.lstm_forward_f32 as unknown as (...a: number[]) => void)(0, 1, 1, 0, 0, 0, 0, 0, 0, 0)).toThrow(KernelError);
  });
});
