import { describe, expect, it } from 'vitest';
import { expectBits, expectClose, kernelRig, randArr } from './util/kernel.js';

// assembly/loss.ts: plain scalar kernels (no SIMD, so no twin), each checked against a naive
// float64 reference and its gradient against central differences of the reference, over sizes
// 0, 1, odd and larger, with unaligned pointers.

const { K, put, get } = kernelRig();
const SIZES = [0, 1, 2, 3, 5, 8, 17, 100];
const LOG_2PI = Math.log(2 * Math.PI);

describe('assembly/loss.ts kernels vs float64 references', () => {
  it('mse_f32: Σ ½(p − t)² and scale·(p − t), value and gradient together or alone', () => {
    for (const n of SIZES) {
      const p = randArr(n, -3, 3, n), t = randArr(n, -3, 3, n + 1);
      // The difference is formed in f32 (the kernel's definition), then squared and summed in f64.
      const ref = Array.from(p).reduce((s, v, i) => s + 0.5 * Math.fround(v - t[i]) ** 2, 0);
      const pg = put(new Float32Array(n));
      expectClose([K.mse_f32(put(p), put(t), n, pg, 0.25)], [ref], 1e-12, `n ${n}`);
      expectBits(get(pg, n), Float32Array.from(p, (v, i) => Math.fround(0.25) * Math.fround(v - t[i])));
      expectClose([K.mse_f32(put(p), put(t), n, 0, 1)], [ref], 1e-12);
    }
  });

  it('gaussian_nll_f32: value, dμ and ds (0 below the log-variance floor −12) against the reference and finite differences', () => {
    for (const rows of [0, 1, 3, 7]) for (const cols of [1, 2, 5]) {
      const out = randArr(rows * 2 * cols, -2, 2, rows * 10 + cols), t = randArr(rows * cols, -2, 2, rows * 10 + cols + 1);
      // Some log-variances below the floor: their loss uses −12 and their gradient is 0.
      for (let r = 0; r < rows; r++) if (r % 3 === 1) out[r * 2 * cols + cols] = -15;
      const nll = (o: ArrayLike<number>): number => {
        let s = 0;
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
          const mu = o[r * 2 * cols + c], lv = Math.max(o[r * 2 * cols + cols + c], -12);
          const d = t[r * cols + c] - mu;
          s += 0.5 * (LOG_2PI + lv + d * d * Math.exp(-lv));
        }
        return s;
      };
      const pd = put(new Float32Array(out.length));
      expectClose([K.gaussian_nll_f32(put(out), put(t), rows, cols, pd, 0.5)], [nll(out)], 1e-6, `${rows}x${cols}`);
      const grad = get(pd, out.length);
      const o64 = Float64Array.from(out);
      for (let i = 0; i < out.length; i++) {
        const isVar = i % (2 * cols) >= cols;
        const h = 1e-4, v = o64[i];
        o64[i] = v + h; const lp = nll(o64); o64[i] = v - h; const lm = nll(o64); o64[i] = v;
        const fd = isVar && out[i] <= -12 ? 0 : (0.5 * (lp - lm)) / (2 * h);
        expectClose([grad[i]], [fd], 1e-3, `grad ${i}`);
      }
      expectClose([K.gaussian_nll_f32(put(out), put(t), rows, cols, 0, 1)], [nll(out)], 1e-6);
    }
  });

  it('entropy_rows_f32: −Σ p·log p per row (0·log 0 = 0), written or added', () => {
    for (const rows of [0, 1, 4]) for (const cols of SIZES.slice(1)) {
      const p = randArr(rows * cols, 0, 1, rows * 100 + cols);
      for (let i = 0; i < p.length; i += 3) p[i] = 0;
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += p[r * cols + c];
        for (let c = 0; c < cols; c++) p[r * cols + c] = s > 0 ? Math.fround(p[r * cols + c] / s) : 1 / cols;
      }
      const ref = Array.from({ length: rows }, (_, r) => {
        let h = 0;
        for (let c = 0; c < cols; c++) { const v = p[r * cols + c]; if (v > 0) h -= v * Math.log(v); }
        return h;
      });
      const base = randArr(rows, 0, 1, 9);
      const po = put(base), pa = put(base);
      K.entropy_rows_f32(put(p), rows, cols, po, 0);
      K.entropy_rows_f32(put(p), rows, cols, pa, 1);
      expectClose(get(po, rows), ref, 2e-6, `${rows}x${cols}`);
      expectClose(get(pa, rows), ref.map((h, r) => h + base[r]), 2e-6);
      if (rows) expect(get(po, rows).every((h) => h >= 0 && h <= Math.log(cols) + 1e-6)).toBe(true);
    }
  });
});
