import { describe, expect, it } from 'vitest';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { Tensor } from '../src/tensor.js';
import { activation, activationBackward, type ActivationKind } from '../src/ops/activation.js';
import { expectBits, expectClose, kernelRig, randArr } from './util/kernel.js';

const { rt, K, put, get } = kernelRig();
const SIZES = [0, 1, 3, 4, 5, 7, 8, 9, 16, 17, 33];

const ALPHA = 0.2;
interface Spec {
  kind: ActivationKind; fwd: string; bwd: string; alpha: boolean;
  f: (x: number) => number; df: (x: number) => number;
  bwdArgs: (dy: number, x: number, y: number) => number[];
}
const SPECS: Spec[] = [
  { kind: 'relu', fwd: 'relu_f32', bwd: 'relu_backward_f32', alpha: false, f: (x) => Math.max(x, 0), df: (x) => (x > 0 ? 1 : 0), bwdArgs: (dy, x) => [dy, x] },
  { kind: 'leakyRelu', fwd: 'leaky_relu_f32', bwd: 'leaky_relu_backward_f32', alpha: true, f: (x) => (x > 0 ? x : ALPHA * x), df: (x) => (x > 0 ? 1 : ALPHA), bwdArgs: (dy, x) => [dy, x] },
  { kind: 'elu', fwd: 'elu_f32', bwd: 'elu_backward_f32', alpha: true, f: (x) => (x > 0 ? x : ALPHA * Math.expm1(x)), df: (x) => (x > 0 ? 1 : ALPHA * Math.exp(x)), bwdArgs: (dy, x, y) => [dy, x, y] },
  { kind: 'sigmoid', fwd: 'sigmoid_f32', bwd: 'sigmoid_backward_f32', alpha: false, f: (x) => 1 / (1 + Math.exp(-x)), df: (x) => { const s = 1 / (1 + Math.exp(-x)); return s * (1 - s); }, bwdArgs: (dy, _x, y) => [dy, y] },
  { kind: 'tanh', fwd: 'tanh_f32', bwd: 'tanh_backward_f32', alpha: false, f: Math.tanh, df: (x) => 1 - Math.tanh(x) ** 2, bwdArgs: (dy, _x, y) => [dy, y] },
];

describe('activation kernels', () => {
  for (const s of SPECS) {
    it(`${s.kind}: SIMD = scalar twin bit for bit, and = f64 reference, forward and backward`, () => {
      for (const n of SIZES) {
        const x = randArr(n, -5, 5, 11 + n);
        if (n > 2) { x[1] = 0; x[2] = -0; }
        const px = put(x), py = put(new Float32Array(n)), pys = put(new Float32Array(n));
        const extra = s.alpha ? [ALPHA] : [];
        K[s.fwd](px, py, n, ...extra);
        K[`${s.fwd}_scalar`](px, pys, n, ...extra);
        const y = get(py, n);
        expectBits(y, get(pys, n));
        expectClose(y, Array.from(x, s.f), 2e-6);

        const dy = randArr(n, -1, 1, 99 + n);
        const pdy = put(dy);
        for (const acc of [0, 1]) {
          const dx0 = randArr(n, -1, 1, 7 + n);
          const pdx = put(dx0), pdxs = put(dx0);
          const ptrs = s.bwdArgs(pdy, px, py);
          K[s.bwd](...ptrs, pdx, n, ...extra, acc);
          K[`${s.bwd}_scalar`](...ptrs, pdxs, n, ...extra, acc);
          const dx = get(pdx, n);
          expectBits(dx, get(pdxs, n));
          expectClose(dx, Array.from(x, (v, i) => (acc ? dx0[i] : 0) + dy[i] * s.df(v)), 2e-6);
        }
      }
    });
  }

  it('sigmoid and tanh saturate without NaN; relu propagates NaN like f32.max', () => {
    const x = new Float32Array([-1e4, -100, 100, 1e4, -89, 89, 0, 1]);
    const px = put(x), py = put(new Float32Array(8));
    K.sigmoid_f32(px, py, 8);
    const sg = get(py, 8);
    expect([sg[0], sg[2], sg[3], sg[5], sg[6]]).toEqual([0, 1, 1, 1, 0.5]);
    // Deep negative tail keeps relative accuracy (no 1/(1 + ∞) underflow to 0).
    for (const i of [1, 4, 7]) expect(Math.abs(sg[i] / (1 / (1 + Math.exp(-x[i]))) - 1)).toBeLessThan(i === 1 ? 1e-1 : 1e-6);
    K.tanh_f32(px, py, 8);
    expect(Array.from(get(py, 4))).toEqual([-1, -1, 1, 1]);
    const pn = put(new Float32Array([NaN, 1, -1, NaN, NaN]));
    K.relu_f32(pn, pn, 5);
    const r = get(pn, 5);
    expect(Number.isNaN(r[0]) && Number.isNaN(r[3]) && Number.isNaN(r[4])).toBe(true);
  });
});

describe('activation ops', () => {
  it('match finite differences of L = Σ w·f(x) for every kind', () => {
    const n = 13, h = 1e-2;
    for (const s of SPECS) {
      // Keep every x at least 3h from the kinks at 0.
      const x = randArr(n, -3, 3, 5).map((v) => (Math.abs(v) < 0.05 ? v + 0.1 * Math.sign(v || 1) : v));
      const w = randArr(n, -1, 1, 6);
      const opts = s.alpha ? { alpha: ALPHA } : {};
      const xt = Tensor.from(x, [n], rt), wt = Tensor.from(w, [n], rt);
      const yt = activation(s.kind, xt, opts);
      const dx = activationBackward(s.kind, xt, yt, wt, opts).toArray();
      const loss = (xv: Float32Array): number => {
        const t = Tensor.from(xv, [n], rt);
        const y = activation(s.kind, t, opts).toArray();
        t.dispose();
        let l = 0;
        for (let i = 0; i < n; i++) l += w[i] * y[i];
        return l;
      };
      for (let i = 0; i < n; i++) {
        const xp = x.slice(), xm = x.slice();
        xp[i] += h; xm[i] -= h;
        const fd = (loss(xp) - loss(xm)) / (Math.fround(x[i] + h) - Math.fround(x[i] - h));
        expect(Math.abs(dx[i] - fd)).toBeLessThan(2e-3 * (1 + Math.abs(fd)));
      }
    }
  });

  it('write in place, into out, and accumulate', () => {
    const x = Tensor.from([-2, -1, 0.5, 3, -0.25], [5], rt);
    const y = activation('relu', x);
    expect(Array.from(y.toArray())).toEqual([0, 0, 0.5, 3, 0]);
    const dy = Tensor.from([1, 1, 1, 1, 1], [5], rt);
    const dx = Tensor.from([10, 10, 10, 10, 10], [5], rt);
    activationBackward('leakyRelu', x, null, dy, { out: dx, accumulate: true, alpha: 0.5 });
    expect(Array.from(dx.toArray())).toEqual([10.5, 10.5, 11, 11, 10.5]);
    activation('elu', x, { out: x });
    expect(x.toArray()[3]).toBe(3);
    expect(x.toArray()[0]).toBeCloseTo(Math.expm1(-2), 6);
  });

  it('reject bad arguments with typed errors and stay usable', () => {
    const x = Tensor.from([1, 2, 3], [3], rt), y = Tensor.from([1, 2, 3], [3], rt);
    expect(() => activation('swish' as ActivationKind, x)).toThrow(ArgumentError);
    expect(() => activation('elu', x, { alpha: NaN })).toThrow(ArgumentError);
    expect(() => activation('relu', x, { out: Tensor.zeros([4], rt) })).toThrow(ShapeError);
    expect(() => activation('relu', [1, 2] as unknown as Tensor)).toThrow(ArgumentError);
    expect(() => activationBackward('sigmoid', x, null, y)).toThrow(ArgumentError);
    expect(() => activationBackward('relu', Tensor.zeros([2], rt), null, y)).toThrow(ShapeError);
    expect(() => activationBackward('tanh', null, y, x, { accumulate: true })).toThrow(ArgumentError);
    const gone = Tensor.from([1], [1], rt);
    gone.dispose();
    expect(() => activation('tanh', gone)).toThrow(ArgumentError);
    expect(() => K.relu_f32(0, 0, -1)).toThrow(/relu_f32/);
    expect(Array.from(activation('relu', Tensor.from([-1, 2], [2], rt)).toArray())).toEqual([0, 2]);
  });
});
