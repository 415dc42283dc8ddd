import { describe, expect, it } from 'vitest';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { Tensor } from '../src/tensor.js';
import { adamUpdate, clipGradNorm, globalNorm, rmspropUpdate, sgdUpdate } from '../src/ops/optim.js';
import { expectBits, expectClose, kernelRig, randArr } from './util/kernel.js';

const { rt, K, put, get } = kernelRig();
const SIZES = [0, 1, 3, 4, 5, 7, 8, 9, 16, 17, 33];

const L1 = 0.01, L2 = 0.05;
const reg = (p: number, g: number) => g + L2 * p + L1 * Math.sign(p);

/** Three gradient arrays (one per step), with a few exact zeros in p to exercise sign(0). */
function problem(n: number, seed: number) {
  const p0 = randArr(n, -1, 1, seed);
  if (n > 2) p0[2] = 0;
  const grads = [0, 1, 2].map((s) => randArr(n, -1, 1, seed * 10 + s));
  return { p0, grads };
}

interface Case {
  name: string;
  /** Run step t (1-based) with kernel `fn` on pointers p, g, s1, s2. */
  step: (fn: string, p: number, g: number, s1: number, s2: number, n: number, t: number) => void;
  kernel: string;
  /** f64 reference: update arrays in place. */
  ref: (p: number[], g: number[], s1: number[], s2: number[], t: number) => void;
}

const CASES: Case[] = [
  {
    name: 'sgd', kernel: 'sgd_f32',
    step: (fn, p, g, _s1, _s2, n) => K[fn](p, g, 0, n, 0.1, 0, 0, L1, L2),
    ref: (p, g) => { for (let i = 0; i < p.length; i++) p[i] -= 0.1 * reg(p[i], g[i]); },
  },
  {
    name: 'sgd momentum', kernel: 'sgd_f32',
    step: (fn, p, g, s1, _s2, n) => K[fn](p, g, s1, n, 0.1, 0.9, 0, L1, L2),
    ref: (p, g, v) => { for (let i = 0; i < p.length; i++) { v[i] = 0.9 * v[i] + reg(p[i], g[i]); p[i] -= 0.1 * v[i]; } },
  },
  {
    name: 'sgd nesterov', kernel: 'sgd_f32',
    step: (fn, p, g, s1, _s2, n) => K[fn](p, g, s1, n, 0.1, 0.9, 1, L1, L2),
    ref: (p, g, v) => {
      for (let i = 0; i < p.length; i++) { const gp = reg(p[i], g[i]); v[i] = 0.9 * v[i] + gp; p[i] -= 0.1 * (gp + 0.9 * v[i]); }
    },
  },
  {
    name: 'adam', kernel: 'adam_f32',
    step: (fn, p, g, s1, s2, n, t) => K[fn](p, g, s1, s2, n, 0.01, 0.9, 0.999, 1e-8, t, L1, L2),
    ref: (p, g, m, v, t) => {
      for (let i = 0; i < p.length; i++) {
        const gp = reg(p[i], g[i]);
        m[i] = 0.9 * m[i] + 0.1 * gp;
        v[i] = 0.999 * v[i] + 0.001 * gp * gp;
        const mh = m[i] / (1 - 0.9 ** t), vh = v[i] / (1 - 0.999 ** t);
        p[i] -= 0.01 * mh / (Math.sqrt(vh) + 1e-8);
      }
    },
  },
  {
    name: 'rmsprop', kernel: 'rmsprop_f32',
    step: (fn, p, g, s1, _s2, n) => K[fn](p, g, s1, 0, n, 0.01, 0.9, 1e-8, 0, L1, L2),
    ref: (p, g, s) => {
      for (let i = 0; i < p.length; i++) { const gp = reg(p[i], g[i]); s[i] = 0.9 * s[i] + 0.1 * gp * gp; p[i] -= 0.01 * gp / (Math.sqrt(s[i]) + 1e-8); }
    },
  },
  {
    name: 'rmsprop momentum', kernel: 'rmsprop_f32',
    step: (fn, p, g, s1, s2, n) => K[fn](p, g, s1, s2, n, 0.01, 0.9, 1e-8, 0.5, L1, L2),
    ref: (p, g, s, b) => {
      for (let i = 0; i < p.length; i++) {
        const gp = reg(p[i], g[i]);
        s[i] = 0.9 * s[i] + 0.1 * gp * gp;
        b[i] = 0.5 * b[i] + gp / (Math.sqrt(s[i]) + 1e-8);
        p[i] -= 0.01 * b[i];
      }
    },
  },
];

describe('optimiser kernels', () => {
  for (const c of CASES) {
    it(`${c.name}: 3 steps, SIMD = scalar twin bit for bit ≈ hand-computed f64 reference (L1 + L2)`, () => {
      for (const n of SIZES) {
        const { p0, grads } = problem(n, n + 1);
        const runs = ['', '_scalar'].map((suffix) => {
          const p = put(p0), s1 = put(new Float32Array(n)), s2 = put(new Float32Array(n));
          for (let t = 1; t <= 3; t++) c.step(c.kernel + suffix, p, put(grads[t - 1]), s1, s2, n, t);
          return { p: get(p, n), s1: get(s1, n), s2: get(s2, n) };
        });
        for (const k of ['p', 's1', 's2'] as const) expectBits(runs[0][k], runs[1][k]);
        const p = Array.from(p0), s1 = new Array(n).fill(0), s2 = new Array(n).fill(0);
        for (let t = 1; t <= 3; t++) c.ref(p, Array.from(grads[t - 1]), s1, s2, t);
        expectClose(runs[0].p, p, 2e-6);
        expectClose(runs[0].s1, s1, 2e-6);
        expectClose(runs[0].s2, s2, 2e-6);
      }
    });
  }
});

describe('optimiser ops', () => {
  it('update tensors in place like the kernels', () => {
    const { p0, grads } = problem(9, 3);
    const p = Tensor.from(p0, [3, 3], rt), g = Tensor.from(grads[0], [9], rt);
    const state = { m: Tensor.zeros([3, 3], rt), v: Tensor.zeros([3, 3], rt) };
    adamUpdate(p, g, state, { lr: 0.01, step: 1, l1: L1, l2: L2 });
    const ref = Array.from(p0), m = new Array(9).fill(0), v = new Array(9).fill(0);
    CASES[3].ref(ref, Array.from(grads[0]), m, v, 1);
    expectClose(p.toArray(), ref, 2e-6);
    const q = Tensor.from(p0, [9], rt);
    sgdUpdate(q, g, {}, { lr: 0.5 });
    expectClose(q.toArray(), Array.from(p0, (w, i) => w - 0.5 * grads[0][i]), 1e-7);
    const vel = Tensor.zeros([9], rt);
    sgdUpdate(q, g, { velocity: vel }, { lr: 0.5, momentum: 0.9, nesterov: true });
    expectClose(vel.toArray(), grads[0], 1e-7);
    const sq = Tensor.zeros([9], rt);
    rmspropUpdate(q, g, { meanSquare: sq }, { lr: 0.1 });
    expectClose(sq.toArray(), Array.from(grads[0], (x) => 0.01 * x * x), 1e-6);
  });

  it('global-norm clipping scales every gradient when the norm exceeds the limit', () => {
    const a = Tensor.from([3, 0, 0], [3], rt), b = Tensor.from([0, 4], [2], rt);
    expect(globalNorm([a, b])).toBe(5);
    expect(clipGradNorm([a, b], 10)).toBe(5);
    expect(Array.from(b.toArray())).toEqual([0, 4]);
    expect(clipGradNorm([a, b], 1)).toBe(5);
    expectClose(a.toArray(), [0.6, 0, 0], 1e-6);
    expectClose(b.toArray(), [0, 0.8], 1e-6);
    expect(globalNorm([])).toBe(0);
  });

  it('reject bad hyperparameters and shapes with typed errors and stay usable', () => {
    const p = Tensor.from([1, -2, 3], [3], rt), g = Tensor.from([0.1, 0.2, 0.3], [3], rt);
    const m = Tensor.zeros([3], rt), v = Tensor.zeros([3], rt);
    expect(() => sgdUpdate(p, g, {}, { lr: NaN })).toThrow(ArgumentError);
    expect(() => sgdUpdate(p, g, {}, { lr: -1 })).toThrow(ArgumentError);
    expect(() => sgdUpdate(p, g, {}, { lr: 0.1, momentum: 0.9 })).toThrow(ArgumentError); // no velocity
    expect(() => sgdUpdate(p, g, {}, { lr: 0.1, nesterov: true })).toThrow(ArgumentError);
    expect(() => sgdUpdate(p, Tensor.zeros([4], rt), {}, { lr: 0.1 })).toThrow(ShapeError);
    expect(() => sgdUpdate(p, g, {}, { lr: 0.1, l2: NaN })).toThrow(ArgumentError);
    expect(() => adamUpdate(p, g, { m, v }, { lr: 0.1, step: 0 })).toThrow(ArgumentError);
    expect(() => adamUpdate(p, g, { m, v }, { lr: 0.1, step: 1, beta1: 1 })).toThrow(ArgumentError);
    expect(() => adamUpdate(p, g, { m, v }, { lr: 0.1, step: 1, beta2: 0.999999999 })).toThrow(ArgumentError);
    expect(() => adamUpdate(p, g, { m, v }, { lr: 0.1, step: 1, eps: 0 })).toThrow(ArgumentError);
    expect(() => adamUpdate(p, g, { m, v: Tensor.zeros([2], rt) }, { lr: 0.1, step: 1 })).toThrow(ShapeError);
    expect(() => rmspropUpdate(p, g, { meanSquare: m }, { lr: 0.1, rho: NaN })).toThrow(ArgumentError);
    expect(() => rmspropUpdate(p, g, { meanSquare: m }, { lr: 0.1, momentum: 0.5 })).toThrow(ArgumentError);
    expect(() => clipGradNorm([g], 0)).toThrow(ArgumentError);
    expect(() => K.adam_f32(p.ptr, g.ptr, m.ptr, v.ptr, 3, 0.1, 0.9, 0.999, 1e-8, 0, 0, 0)).toThrow(/adam_f32/);
    // nothing was changed by the rejected calls
    expect(Array.from(p.toArray())).toEqual([1, -2, 3]);
    expect(Array.from(m.toArray())).toEqual([0, 0, 0]);
    sgdUpdate(p, g, {}, { lr: 1 });
    expectClose(p.toArray(), [0.9, -2.2, 2.7], 1e-7);
  });
});

describe('optimiser state never goes subnormal', () => {
  it('momenta under a zero gradient flush to exactly 0 (SIMD and scalar alike)', () => {
    const n = 7;
    const p = Tensor.from(new Float32Array(n).fill(0.5), [n], rt);
    const g = Tensor.from(new Float32Array(n).fill(1e-3), [n], rt);
    const m = Tensor.zeros([n], rt), v = Tensor.zeros([n], rt), vel = Tensor.zeros([n], rt), sq = Tensor.zeros([n], rt), b = Tensor.zeros([n], rt);
    const step = (t: number) => {
      adamUpdate(p, g, { m, v }, { lr: 0, step: t });
      sgdUpdate(p, g, { velocity: vel }, { lr: 0, momentum: 0.9 });
      rmspropUpdate(p, g, { meanSquare: sq, momentumBuffer: b }, { lr: 0, rho: 0.9, momentum: 0.9 });
    };
    step(1);
    g.view().fill(0);
    const subnormal = (x: number) => x !== 0 && Math.abs(x) < 1.1754944e-38;
    for (let t = 2; t < 1500; t++) {
      step(t);
      for (const s of [m, vel, sq, b]) s.view().forEach((x) => expect(subnormal(x)).toBe(false));
    }
    for (const s of [m, vel, sq, b]) expect(Array.from(s.view())).toEqual(new Array(n).fill(0));
    expect(v.view()[0]).toBeGreaterThan(0); // β2 = 0.999 decays slowly: still normal here
  });
});
