import { describe, expect, it } from 'vitest';
import { bits, expectBits, expectClose, kernelRig, mulberry32 } from './util/kernel.js';

// SIMD kernel vs its `_scalar` twin, bit for bit (outputs and return values), and both against a
// naive float64 reference, for the twins of assembly/bayes.ts, gather.ts and sparse_train.ts.
// Sizes sweep below, at and above the vector width (4), odd tails, the SIMD kernels' own blocks
// (8 in svd_prepare, 256 in svd_kl's f32 lane sums); every array starts 0-3 floats past a
// 16-byte boundary, so SIMD loads are unaligned in every way.

const { rt, K } = kernelRig();
const SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 33, 255, 256, 257, 263, 515];

/** Copy `a` into fresh memory `shift` floats (0-3) past a 16-byte boundary; returns the byte pointer. */
function putAt(a: ArrayLike<number>, shift: number): number {
  const p = rt.allocF32(a.length + 4) + 4 * shift;
  rt.f32.set(a, p >>> 2);
  return p;
}
const getF = (p: number, n: number): Float32Array => rt.f32.slice(p >>> 2, (p >>> 2) + n);

/** n values in [lo, hi) with a few exact zeros and negative zeros mixed in. */
function data(n: number, lo: number, hi: number, seed: number, zeros = 0): Float32Array {
  const rnd = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rnd();
    a[i] = u < zeros / 2 ? 0 : u < zeros ? -0 : lo + (hi - lo) * rnd();
  }
  return a;
}

/**
 * Run `kernel` and `kernel_scalar` on the same inputs: `arrays` are copied in afresh for each
 * (at `shift`), `call` gets their pointers and returns the kernel's value; returns each run's
 * arrays after the call (as raw bits) and its value. Expects the two runs to agree bit for bit.
 */
function twin(kernel: string, arrays: Float32Array[], shift: number, call: (k: (...a: number[]) => number, p: number[]) => number) {
  const runs = ['', '_scalar'].map((suffix) => {
    const p = arrays.map((a, j) => putAt(a, (shift + j) % 4));
    const value = call(K[kernel + suffix], p);
    return { value, out: arrays.map((a, j) => getF(p[j], a.length)) };
  });
  for (let j = 0; j < arrays.length; j++) expect(bits(runs[1].out[j]), `${kernel} array ${j}`).toEqual(bits(runs[0].out[j]));
  expect(Object.is(runs[1].value, runs[0].value), `${kernel} value ${runs[0].value} vs twin ${runs[1].value}`).toBe(true);
  return runs[0];
}

// The log-uniform KL in float64 (Molchanov et al. 2017, eq. 14), for the references.
const K1 = 0.63576, K2 = 1.8732, K3 = 1.48695;
const sig = (z: number): number => 1 / (1 + Math.exp(-z));
const klRef = (la: number): number => K1 - K1 * sig(K2 + K3 * la) + 0.5 * Math.log1p(Math.exp(-la));
const dklRef = (la: number): number => -K1 * K3 * sig(K2 + K3 * la) * (1 - sig(K2 + K3 * la)) - 0.5 * sig(-la);
const LO = -8, HI = 8;
const clamp = (x: number): number => Math.min(Math.max(x, LO), HI);

describe('assembly/bayes.ts twins', () => {
  it('svd_log_alpha_f32 = twin; ≈ clamp(logσ² − log(θ² + 1e-8))', () => {
    for (const n of SIZES) {
      const th = data(n, -1, 1, n, 0.1), ls = data(n, -14, 2, n + 1);
      const r = twin('svd_log_alpha_f32', [th, ls, new Float32Array(n)], n, (k, [t, l, o]) => k(t, l, o, n, LO, HI));
      expectClose(r.out[2], Array.from(th, (t, i) => clamp(ls[i] - Math.log(t * t + 1e-8))), 2e-6, `n ${n}`);
    }
  });

  it('svd_prepare_f32 = twin in all three modes (inference, masks and σ², training with KL gradients); ≈ reference', () => {
    for (const n of SIZES) {
      // θ near 0 and large log σ² put many weights on the upper clamp bound: whole groups of four
      // without a gradient, as in a sparse layer.
      const th = data(n, -1, 1, 3 * n, 0.5), ls = data(n, -12, 3, 3 * n + 1);
      const g0 = data(n, -1, 1, 3 * n + 2, 0.2), s0 = data(n, -1, 1, 3 * n + 3, 0.2);
      const thr = 3, scale = 0.37;
      for (const mode of ['infer', 'sigma', 'train'] as const) {
        const r = twin('svd_prepare_f32', [th, ls, new Float32Array(n), new Float32Array(n), new Float32Array(n), g0, s0], n + 1,
          (k, [t, l, te, s2, la, dt, dl]) => k(t, l, n, te, mode === 'infer' ? 0 : s2, la, thr, LO, HI, mode === 'train' ? dt : 0, dl, scale));
        const la = Array.from(th, (t, i) => clamp(ls[i] - Math.log(t * t + 1e-8)));
        expectClose(r.out[4], la, 2e-6, 'logAlpha');
        const kept = la.filter((v, i) => r.out[4][i] < thr).length;
        expect(r.value).toBe(kept);
        expectBits(r.out[2], Float32Array.from(th, (t, i) => (r.out[4][i] < thr ? t : 0)));
        if (mode !== 'infer') expectClose(r.out[3], Array.from(ls, Math.exp), 2e-6, 'sigma2');
        if (mode === 'train') {
          const g = la.map((v, i) => (r.out[4][i] > LO && r.out[4][i] < HI ? dklRef(r.out[4][i]) * scale : 0));
          expectClose(r.out[6], g.map((v, i) => s0[i] + v), 1e-5, 'dLogSigma2');
          expectClose(r.out[5], g.map((v, i) => g0[i] + (v * -2 * th[i]) / (th[i] * th[i] + 1e-8)), 1e-4, 'dTheta');
        } else {
          expectBits(r.out[5], g0);
          expectBits(r.out[6], s0);
        }
      }
    }
  });

  it('svd_kl_f32 = twin (value and gradients; the f32 lane sums flush every 256 weights); ≈ f64 Σ KL', () => {
    for (const n of SIZES) {
      const th = data(n, -1, 1, 5 * n, 0.1);
      const la = Float32Array.from(data(n, -10, 10, 5 * n + 1), clamp);
      const g0 = data(n, -1, 1, 5 * n + 2, 0.2), s0 = data(n, -1, 1, 5 * n + 3, 0.2);
      const ref = Array.from(la).reduce((s, v) => s + klRef(v), 0);
      for (const [grads, wantValue] of [[false, 1], [true, 1], [true, 0]] as const) {
        const r = twin('svd_kl_f32', [th, la, g0, s0], n + 2,
          (k, [t, l, dt, dl]) => k(t, l, n, grads ? dt : 0, dl, 0.5, LO, HI, wantValue));
        if (wantValue) expectClose([r.value], [ref], 1e-5, `Σ KL n ${n}`);
        else expect(r.value).toBe(0);
        if (grads) {
          const g = Array.from(la, (v) => (v > LO && v < HI ? dklRef(v) * 0.5 : 0));
          expectClose(r.out[3], g.map((v, i) => s0[i] + v), 1e-5, 'dLogSigma2');
          expectClose(r.out[2], g.map((v, i) => g0[i] + (v * -2 * th[i]) / (th[i] * th[i] + 1e-8)), 1e-4, 'dTheta');
        }
      }
    }
  });

  it('svd_param_grads_f32 = twin (a dropped weight adds +0: −0 becomes +0 in both); = exact reference', () => {
    for (const n of SIZES) {
      const la = data(n, -6, 6, 7 * n), dM = data(n, -1, 1, 7 * n + 1, 0.1), dS = data(n, -1, 1, 7 * n + 2);
      const s2 = data(n, 0, 2, 7 * n + 3), g0 = data(n, -1, 1, 7 * n + 4, 0.4), s0 = data(n, -1, 1, 7 * n + 5, 0.4);
      const r = twin('svd_param_grads_f32', [la, dM, dS, s2, g0, s0], n + 3, (k, [l, m, s, q, dt, dl]) => k(l, n, m, s, q, dt, dl, 0.5));
      const f = Math.fround;
      expectBits(r.out[4], Float32Array.from(g0, (v, i) => f(v + (la[i] < 0.5 ? dM[i] : 0))));
      expectBits(r.out[5], Float32Array.from(s0, (v, i) => f(v + f(dS[i] * s2[i]))));
    }
  });

  it('lrt_sample_f32 = twin with and without noise and bias, any row width; = exact reference', () => {
    const f = Math.fround;
    for (const rows of [1, 3]) for (const cols of SIZES.slice(0, 16)) {
      const n = rows * cols;
      const mu = data(n, -2, 2, n), v = data(n, 0, 3, n + 1, 0.2), eps = data(n, -2, 2, n + 2), bias = data(cols, -1, 1, n + 3);
      for (const [withEps, withBias] of [[true, true], [false, true], [true, false]]) {
        const r = twin('lrt_sample_f32', [mu, v, eps, bias, new Float32Array(n), new Float32Array(n)], cols,
          (k, [m, vv, e, b, o, s]) => k(rows, cols, m, vv, withEps ? e : 0, withBias ? b : 0, o, s));
        const std = Float32Array.from(v, (x) => f(Math.sqrt(f(x + f(1e-8)))));
        expectBits(r.out[5], std);
        expectBits(r.out[4], Float32Array.from(mu, (m, i) => {
          let y = m;
          if (withEps) y = f(y + f(std[i] * eps[i]));
          if (withBias) y = f(y + bias[i % cols]);
          return y;
        }));
      }
    }
  });

  it('lrt_backward_f32 and lrt_dx_f32 = twins; = exact reference', () => {
    const f = Math.fround;
    for (const n of SIZES) {
      const dy = data(n, -1, 1, 9 * n, 0.3), eps = data(n, -2, 2, 9 * n + 1), std = data(n, 0.01, 2, 9 * n + 2);
      const rb = twin('lrt_backward_f32', [dy, eps, std, new Float32Array(n)], n, (k, [a, e, s, dv]) => k(n, a, e, s, dv));
      expectBits(rb.out[3], Float32Array.from(dy, (d, i) => f(f(f(d * eps[i]) * 0.5) / std[i])));
      const x = data(n, -2, 2, 9 * n + 3, 0.2), t = data(n, -2, 2, 9 * n + 4), dx0 = data(n, -1, 1, 9 * n + 5);
      // Subnormal products: 2·(x·t) and (2·x)·t round differently there, so the order shows.
      if (n > 2) { x[1] = 1e-20; t[1] = 3e-19; x[2] = -7e-21; t[2] = 1.1e-18; dx0[1] = 0; dx0[2] = -0; }
      const rd = twin('lrt_dx_f32', [x, t, dx0], n + 1, (k, [a, b, d]) => k(n, a, b, d));
      expectBits(rd.out[2], Float32Array.from(dx0, (d, i) => f(d + f(2 * f(x[i] * t[i])))));
    }
  });
});

describe('assembly/gather.ts twins', () => {
  it('nonzero_cols_f32 = twin (±0 are zero, NaN counts as a value); = reference', () => {
    for (const rows of [0, 1, 2, 5]) for (const cols of SIZES.slice(0, 17)) {
      const rnd = mulberry32(rows * 1000 + cols);
      const x = new Float32Array(rows * cols);
      const live = new Set<number>();
      for (let c = 0; c < cols; c++) {
        const kind = rnd();
        for (let r = 0; r < rows; r++) x[r * cols + c] = (r + c) % 2 ? -0 : 0;
        if (rows && kind < 0.5) {
          const r = Math.floor(rnd() * rows);
          x[r * cols + c] = kind < 0.05 ? NaN : kind < 0.1 ? -Infinity : rnd() - 0.5 || 0.25;
          live.add(c);
        }
      }
      const r = twin('nonzero_cols_f32', [x, new Float32Array(cols)], cols, (k, [px, idx]) => k(px, rows, cols, idx));
      const ref = [...live].sort((a, b) => a - b);
      expect(r.value).toBe(ref.length);
      expect(Array.from(r.out[1].subarray(0, ref.length))).toEqual(ref);
    }
  });

  it('scatter_rows_f32 = twin, overwriting and accumulating; = reference', () => {
    for (const rows of [1, 4, 9]) for (const cols of SIZES.slice(0, 15)) {
      const rnd = mulberry32(rows * 77 + cols);
      const idx = [...Array(rows).keys()].filter(() => rnd() < 0.6);
      const k = idx.length;
      const src = data(k * cols, -1, 1, rows + cols), dst0 = data(rows * cols, -1, 1, rows + cols + 1, 0.2);
      for (const acc of [0, 1]) {
        const r = twin('scatter_rows_f32', [src, Float32Array.from(idx), dst0], cols,
          (kern, [s, ix, d]) => kern(s, k, ix, d, rows, cols, acc));
        const ref = Float32Array.from(dst0, (v) => (acc ? v : 0));
        idx.forEach((row, j) => {
          for (let c = 0; c < cols; c++) ref[row * cols + c] = Math.fround((acc ? dst0[row * cols + c] : 0) + src[j * cols + c]);
        });
        // Overwriting copies: +0 added to nothing keeps the source's −0, which the reference's 0 + (−0) would not.
        if (!acc) idx.forEach((row, j) => ref.set(src.subarray(j * cols, (j + 1) * cols), row * cols));
        expectBits(r.out[2], ref);
      }
    }
  });
});

describe('assembly/sparse_train.ts twins', () => {
  it('csr_t_from_mask_f32 = twin (CSR of Mᵀ over the kept weights, live rows); = reference', () => {
    for (const k of [0, 1, 3, 6]) for (const f of SIZES.slice(0, 16)) {
      const n = k * f;
      const m = data(n, -1, 1, k * 100 + f, 0.1), la = data(n, -6, 6, k * 100 + f + 1);
      // Rows of the mask with nothing kept (not live) and groups of four outputs with nothing kept.
      for (let i = 0; i < n; i++) if (Math.floor(i / f) === 1 || (i % f) % 8 < 4) la[i] += 7;
      const thr = 1;
      const r = twin('csr_t_from_mask_f32', [m, la, new Float32Array(f + 1), new Float32Array(n), new Float32Array(n), new Float32Array(k + 1)], f,
        (kern, [pm, pl, rp, ci, v, lr]) => kern(k, f, pm, pl, thr, rp, ci, v, lr));
      const rowPtr = [0], colIdx: number[] = [], val: number[] = [], live = new Set<number>();
      for (let fo = 0; fo < f; fo++) {
        for (let kk = 0; kk < k; kk++) if (la[kk * f + fo] < thr) { colIdx.push(kk); val.push(m[kk * f + fo]); live.add(kk); }
        rowPtr.push(colIdx.length);
      }
      expect(r.value).toBe(colIdx.length);
      const u = (a: Float32Array, len: number) => Array.from(new Uint32Array(a.buffer, a.byteOffset, len));
      expect(u(r.out[2], f + 1)).toEqual(rowPtr);
      expect(u(r.out[3], colIdx.length)).toEqual(colIdx);
      expect(bits(r.out[4].subarray(0, val.length))).toEqual(bits(Float32Array.from(val)));
      expect(u(r.out[5], 1 + live.size)).toEqual([live.size, ...[...live].sort((a, b) => a - b)]);
    }
  });
});
