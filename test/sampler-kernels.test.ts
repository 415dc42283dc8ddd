import { describe, expect, it } from 'vitest';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { Tensor } from '../src/tensor.js';
import { gaussian } from '../src/ops/noise.js';
import { gaussianKl, gaussianMixtureLogLik, psgldUpdate, sghmcUpdate, sgldUpdate } from '../src/ops/sampler.js';
import { expectBits, kernelRig, randArr } from './util/kernel.js';

const { rt, K, put, get } = kernelRig();
// Around the SIMD width and the 512-float noise chunk.
const SIZES = [0, 1, 3, 4, 5, 7, 8, 17, 511, 512, 513, 1100];
const f = Math.fround;
const sign = (w: number) => (w > 0 ? 1 : 0) - (w < 0 ? 1 : 0);
const H = f(0.005), SCALE = f(50), PREC = f(2), L1 = f(0.01), L2 = f(0.03), SD = f(Math.sqrt(0.01 * 0.7));
const SEED = [12345, 7, 3] as const; // seedLo, seedHi (the step), stream

/** The noise the kernels draw: noise_gauss_f32 at positions 0..n−1 of (seed, step, stream). */
function noise(n: number): Float32Array {
  const t = Tensor.zeros([Math.max(n, 1)], rt);
  gaussian(t, BigInt(SEED[0]) | (BigInt(SEED[1]) << 32n), { stream: SEED[2] });
  const z = t.toArray().subarray(0, n);
  t.dispose();
  return z;
}

/** ∇U in float32, operation by operation as the kernels do it. */
const potGrad = (w: number, g: number) => f(f(SCALE * f(f(g + f(L2 * w)) + f(L1 * sign(w)))) + f(PREC * w));
const meanGrad = (w: number, g: number) => f(f(g + f(L2 * w)) + f(L1 * sign(w)));

interface Case {
  name: string;
  run: (fn: string, p: number, g: number, s: number, n: number, scratch: number, sd: number) => void;
  kernel: string;
  ref: (p: Float32Array, g: Float32Array, s: Float32Array, z: Float32Array, sd: number) => void;
}

const RHO = f(0.9), EPS = f(1e-3), VC = f(1 / (1 - 0.9 ** 8)), DECAY = f(0.9), ETA = f(0.002);
const CASES: Case[] = [
  {
    name: 'sgld', kernel: 'sgld_f32',
    run: (fn, p, g, _s, n, sc, sd) => K[fn](p, g, n, H, SCALE, PREC, L1, L2, sd, sc, ...SEED),
    ref: (p, g, _s, z, sd) => {
      for (let i = 0; i < p.length; i++) {
        const step = f(p[i] - f(H * potGrad(p[i], g[i])));
        p[i] = sd === 0 ? step : f(step + f(sd * z[i]));
      }
    },
  },
  {
    name: 'psgld', kernel: 'psgld_f32',
    run: (fn, p, g, s, n, sc, sd) => K[fn](p, g, s, n, H, SCALE, PREC, L1, L2, RHO, EPS, VC, sd, sc, ...SEED),
    ref: (p, g, v, z, sd) => {
      for (let i = 0; i < p.length; i++) {
        const gm = meanGrad(p[i], g[i]);
        let vn = f(f(RHO * v[i]) + f(f(1 - RHO) * f(gm * gm)));
        if (Math.abs(vn) < 1e-30) vn = 0;
        v[i] = vn;
        const G = f(1 / f(EPS + f(Math.sqrt(f(VC * vn)))));
        const u = f(f(SCALE * gm) + f(PREC * p[i]));
        const step = f(p[i] - f(H * f(G * u)));
        p[i] = sd === 0 ? step : f(step + f(f(sd * f(Math.sqrt(G))) * z[i]));
      }
    },
  },
  {
    name: 'sghmc', kernel: 'sghmc_f32',
    run: (fn, p, g, s, n, sc, sd) => K[fn](p, g, s, n, ETA, SCALE, PREC, L1, L2, DECAY, sd, sc, ...SEED),
    ref: (p, g, m, z, sd) => {
      for (let i = 0; i < p.length; i++) {
        const mo = f(f(DECAY * m[i]) - f(ETA * potGrad(p[i], g[i])));
        let mn = sd === 0 ? mo : f(mo + f(sd * z[i]));
        if (Math.abs(mn) < 1e-30) mn = 0;
        m[i] = mn;
        p[i] = f(p[i] + mn);
      }
    },
  },
];

describe('SG-MCMC update kernels', () => {
  for (const c of CASES) {
    it(`${c.name}: SIMD = scalar twin bit for bit = float32 reference, with and without noise`, () => {
      const scratch = rt.allocF32(K.sampler_scratch_floats());
      for (const n of SIZES) {
        for (const sd of [SD, 0]) {
          const p0 = randArr(n, -1, 1, n + 1), g = randArr(n, -0.5, 0.5, n + 2), s0 = randArr(n, 0, 0.2, n + 3);
          if (n > 2) p0[2] = 0;
          const z = noise(n);
          const out: Float32Array[] = [];
          for (const fn of [c.kernel, `${c.kernel}_scalar`]) {
            const pp = put(p0), gp = put(g), sp = put(s0);
            c.run(fn, pp, gp, sp, n, scratch, sd);
            out.push(get(pp, n), get(sp, n));
          }
          const p = p0.slice(), s = s0.slice();
          c.ref(p, g, s, z, sd);
          expectBits(out[0], out[2]);
          expectBits(out[1], out[3]);
          expectBits(out[0], p);
          if (c.name !== 'sgld') expectBits(out[1], s);
        }
      }
    });
  }

  it('noise depends on (seed, step, stream, position) only: a longer tensor extends a shorter one', () => {
    const a = Tensor.from(new Float32Array(600), [600], rt), ga = Tensor.zeros([600], rt);
    const b = Tensor.from(new Float32Array(1300), [1300], rt), gb = Tensor.zeros([1300], rt);
    const st = { stepSize: 0.01, datasetSize: 1, priorPrecision: 0, seed: 9, step: 4, stream: 2 };
    sgldUpdate(a, ga, st);
    sgldUpdate(b, gb, st);
    expectBits(a.toArray(), b.toArray().subarray(0, 600));
    const c = Tensor.zeros([600], rt);
    sgldUpdate(c, ga, { ...st, step: 5 });
    expect(Array.from(c.toArray())).not.toEqual(Array.from(a.toArray()));
    for (const t of [a, ga, b, gb, c]) t.dispose();
  });

  it('typed errors name the bad setting and change nothing', () => {
    const p = Tensor.from([1, 2, 3], [3], rt), g = Tensor.zeros([3], rt), s = Tensor.zeros([3], rt);
    const ok = { stepSize: 0.1, datasetSize: 10, seed: 1, step: 0, stream: 0 };
    expect(() => sgldUpdate(p, g, { ...ok, stepSize: -1 })).toThrow(ArgumentError);
    expect(() => sgldUpdate(p, g, { ...ok, priorPrecision: NaN })).toThrow(/priorPrecision/);
    expect(() => sgldUpdate(p, g, { ...ok, temperature: -0.5 })).toThrow(/temperature/);
    expect(() => sgldUpdate(p, g, { ...ok, datasetSize: 0 })).toThrow(/datasetSize/);
    expect(() => psgldUpdate(p, g, { meanSquare: s }, { ...ok, rho: 1 })).toThrow(/rho/);
    expect(() => sghmcUpdate(p, g, { momentum: s }, { ...ok, friction: 0 })).toThrow(/friction/);
    const short = Tensor.zeros([2], rt);
    expect(() => sghmcUpdate(p, g, { momentum: short }, ok)).toThrow(ShapeError);
    expect(Array.from(p.toArray())).toEqual([1, 2, 3]);
    for (const t of [p, g, s, short]) t.dispose();
  });
});

describe('Gaussian reductions', () => {
  it('gaussianKl matches the closed form and its gradient matches finite differences', () => {
    const rows = 3, cols = 2;
    const out = Tensor.from(randArr(rows * 2 * cols, -1, 1, 5), [rows, 2 * cols], rt);
    const tm = Tensor.from(randArr(rows * cols, -1, 1, 6), [rows, cols], rt);
    const tv = Tensor.from(randArr(rows * cols, 0.2, 2, 7), [rows, cols], rt);
    const grad = Tensor.zeros([rows, 2 * cols], rt);
    const kl = gaussianKl(out, tm, tv, { grad });
    const o = out.toArray(), m = tm.toArray(), v = tv.toArray();
    let ref = 0;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
      const mu = o[r * 2 * cols + c], s = o[r * 2 * cols + cols + c], t = m[r * cols + c], vt = v[r * cols + c];
      ref += 0.5 * (s - Math.log(vt) + (vt + (t - mu) ** 2) * Math.exp(-s) - 1);
    }
    expect(kl).toBeCloseTo(ref, 5);
    const g = grad.toArray();
    for (let i = 0; i < o.length; i++) {
      const h = 1e-2, op = o.slice(), om = o.slice();
      op[i] += h; om[i] -= h;
      out.set(op); const lp = gaussianKl(out, tm, tv);
      out.set(om); const lm = gaussianKl(out, tm, tv);
      expect(g[i]).toBeCloseTo((lp - lm) / (2 * h), 2);
    }
    expect(() => gaussianKl(out, tm, Tensor.from([1, 1, 1, 1, 1, 0], [rows, cols], rt))).toThrow(/tVar\[5\]/);
    for (const t of [out, tm, tv, grad]) t.dispose();
  });

  it('gaussianMixtureLogLik is the log of the mean of the component densities', () => {
    const Kc = 3, n = 4;
    const mu = randArr(Kc * n, -2, 2, 11), v = randArr(Kc * n, 0.1, 3, 12), y = randArr(n, -2, 2, 13);
    const tm = Tensor.from(mu, [Kc, n], rt), tv = Tensor.from(v, [Kc, n], rt), ty = Tensor.from(y, [n], rt), out = Tensor.zeros([n], rt);
    const ll = gaussianMixtureLogLik(tm, tv, ty, out).toArray();
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < Kc; k++) s += Math.exp(-0.5 * (Math.log(2 * Math.PI * v[k * n + i]) + (y[i] - mu[k * n + i]) ** 2 / v[k * n + i]));
      expect(ll[i]).toBeCloseTo(Math.log(s / Kc), 5);
    }
    for (const t of [tm, tv, ty, out]) t.dispose();
  });
});
