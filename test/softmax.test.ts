import { describe, expect, it } from 'vitest';
import { ArgumentError, KernelError, ShapeError } from '../src/errors.js';
import { Tensor } from '../src/tensor.js';
import {
  argmaxRows, logSoftmax, logSoftmaxBackward, softCrossEntropy, softmax, softmaxBackward, softmaxCrossEntropy,
} from '../src/ops/softmax.js';
import { expectClose, kernelRig, randArr } from './util/kernel.js';

const { rt, K, put, putI32, get } = kernelRig();
const COLS = [1, 3, 4, 5, 7, 8, 9, 16, 17, 33];
const ROWS = [0, 1, 3];

/** f64 reference: per-row log-softmax. */
function refLogSoftmax(x: ArrayLike<number>, rows: number, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, j) => x[r * cols + j]);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    for (const v of row) out.push(v - lse);
  }
  return out;
}

describe('softmax kernels', () => {
  it('softmax and log-softmax: SIMD ≈ scalar twin ≈ f64 reference over edge shapes', () => {
    for (const rows of ROWS) for (const cols of COLS) {
      const n = rows * cols;
      const x = randArr(n, -8, 8, rows * 100 + cols);
      const px = put(x), py = put(new Float32Array(n)), pys = put(new Float32Array(n));
      const ls = refLogSoftmax(x, rows, cols);
      K.softmax_rows_f32(px, py, rows, cols);
      K.softmax_rows_f32_scalar(px, pys, rows, cols);
      expectClose(get(py, n), get(pys, n), 1e-6);
      expectClose(get(py, n), ls.map(Math.exp), 1e-6);
      K.log_softmax_rows_f32(px, py, rows, cols);
      K.log_softmax_rows_f32_scalar(px, pys, rows, cols);
      expectClose(get(py, n), get(pys, n), 1e-6);
      expectClose(get(py, n), ls, 1e-6);
    }
  });

  it('softmax and log-softmax backward: SIMD ≈ scalar twin ≈ f64 formula, with accumulation', () => {
    for (const rows of ROWS) for (const cols of COLS) {
      const n = rows * cols;
      const x = randArr(n, -4, 4, rows * 10 + cols), dy = randArr(n, -1, 1, cols), dx0 = randArr(n, -1, 1, 5);
      const ls = refLogSoftmax(x, rows, cols);
      for (const [name, yRef] of [['softmax_rows_backward_f32', ls.map(Math.exp)], ['log_softmax_rows_backward_f32', ls]] as const) {
        const y = Float32Array.from(yRef);
        const ref: number[] = [];
        for (let r = 0; r < rows; r++) {
          let s = 0;
          for (let j = 0; j < cols; j++) s += name.startsWith('log') ? dy[r * cols + j] : dy[r * cols + j] * y[r * cols + j];
          for (let j = 0; j < cols; j++) {
            const i = r * cols + j;
            ref.push(name.startsWith('log') ? dy[i] - Math.exp(y[i]) * s : y[i] * (dy[i] - s));
          }
        }
        for (const acc of [0, 1]) {
          const got = ['', '_scalar'].map((suffix) => {
            const pdx = put(dx0);
            K[name + suffix](put(dy), put(y), pdx, rows, cols, acc);
            return get(pdx, n);
          });
          expectClose(got[0], got[1], 1e-6);
          expectClose(got[0], ref.map((v, i) => v + (acc ? dx0[i] : 0)), 1e-6);
        }
      }
    }
  });

  it('rows sum to 1 and stay finite for logits of ±1e4', () => {
    const rows = 4, cols = 9;
    const x = new Float32Array(rows * cols);
    for (let i = 0; i < x.length; i++) x[i] = (i * 7919) % 3 === 0 ? 1e4 : (i % 2 ? -1e4 : 5e3);
    x.set([1e4, 1e4 - 1, 1e4 - 2, -1e4, -1e4, 0, 1, 2, 3], 0);
    const p = softmax(Tensor.from(x, [rows, cols], rt)).toArray();
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < cols; j++) { expect(Number.isFinite(p[r * cols + j])).toBe(true); s += p[r * cols + j]; }
      expect(Math.abs(s - 1)).toBeLessThan(1e-6);
    }
    expectClose(p.slice(0, 3), [0.6652409, 0.2447285, 0.0900306], 1e-6);
    const lp = logSoftmax(Tensor.from(x, [rows, cols], rt)).toArray();
    expect(lp.every(Number.isFinite)).toBe(true);
    expectClose(lp.slice(0, 4), [-0.4076059, -1.4076059, -2.4076059, -2e4 - 0.4076059], 1e-6);
    const loss = softmaxCrossEntropy(Tensor.from(x, [rows, cols], rt), [3, 0, 1, 2]);
    expect(Number.isFinite(loss)).toBe(true);
  });

  it('cross-entropy (hard and soft targets): SIMD ≈ scalar ≈ f64 reference, per-row losses and sum', () => {
    for (const rows of ROWS) for (const cols of COLS) {
      const n = rows * cols;
      const x = randArr(n, -6, 6, 3 * rows + cols);
      const labels = Array.from({ length: rows }, (_, r) => (r * 5 + cols) % cols);
      const t = randArr(n, 0, 1, cols);
      for (let r = 0; r < rows; r++) { // probability rows
        let s = 0;
        for (let j = 0; j < cols; j++) s += t[r * cols + j];
        for (let j = 0; j < cols; j++) t[r * cols + j] /= s;
      }
      const ls = refLogSoftmax(x, rows, cols);
      const scale = 0.5;
      const px = put(x), pl = putI32(labels), pt = put(t);
      const results = ['', '_scalar'].map((suffix) => {
        const loss = put(new Float32Array(rows)), d = put(new Float32Array(n));
        const loss2 = put(new Float32Array(rows)), d2 = put(new Float32Array(n));
        const sum = K[`softmax_xent_f32${suffix}`](px, pl, loss, d, rows, cols, scale);
        const sum2 = K[`soft_xent_f32${suffix}`](px, pt, loss2, d2, rows, cols, scale);
        return { sum, loss: get(loss, rows), d: get(d, n), sum2, loss2: get(loss2, rows), d2: get(d2, n) };
      });
      const refLoss = labels.map((c, r) => -ls[r * cols + c]);
      const refD = ls.map((v, i) => scale * (Math.exp(v) - (labels[Math.floor(i / cols)] === i % cols ? 1 : 0)));
      const refLoss2 = Array.from({ length: rows }, (_, r) => {
        let s = 0;
        for (let j = 0; j < cols; j++) s -= t[r * cols + j] * ls[r * cols + j];
        return s;
      });
      const refD2 = ls.map((v, i) => scale * (Math.exp(v) - t[i]));
      for (const res of results) {
        expectClose(res.loss, refLoss, 2e-6);
        expectClose([res.sum], [refLoss.reduce((a, b) => a + b, 0)], 2e-6);
        expectClose(res.d, refD, 2e-6);
        expectClose(res.loss2, refLoss2, 2e-6);
        expectClose([res.sum2], [refLoss2.reduce((a, b) => a + b, 0)], 2e-6);
        expectClose(res.d2, refD2, 2e-6);
      }
    }
  });

  it('argmax: SIMD = scalar twin, first index on ties', () => {
    for (const rows of ROWS) for (const cols of COLS) {
      const x = randArr(rows * cols, -1, 1, rows + 7 * cols).map((v) => Math.round(v * 3));
      const px = put(x), po = putI32(new Int32Array(rows)), pos = putI32(new Int32Array(rows));
      K.argmax_rows_f32(px, po, rows, cols);
      K.argmax_rows_f32_scalar(px, pos, rows, cols);
      const got = rt.i32.slice(po >>> 2, (po >>> 2) + rows);
      expect(Array.from(got)).toEqual(Array.from(rt.i32.slice(pos >>> 2, (pos >>> 2) + rows)));
      for (let r = 0; r < rows; r++) {
        const row = Array.from(x.subarray(r * cols, (r + 1) * cols));
        expect(got[r]).toBe(row.indexOf(Math.max(...row)));
      }
    }
    expect(Array.from(argmaxRows(Tensor.from([0, 3, 3, 1, -1, -2, -3, -1, -5], [3, 3], rt)))).toEqual([1, 0, 1]);
  });
});

/** Central finite difference of f at x (f32 inputs), derivative per element. */
function numericGrad(f: (x: Float32Array) => number, x: Float32Array, h: number): number[] {
  return Array.from(x, (v, i) => {
    const xp = x.slice(), xm = x.slice();
    xp[i] = v + h; xm[i] = v - h;
    return (f(xp) - f(xm)) / (xp[i] - xm[i]);
  });
}

describe('softmax ops: gradients', () => {
  const rows = 3, cols = 5, h = 1e-2;
  const x = randArr(rows * cols, -2, 2, 42);
  const w = randArr(rows * cols, -1, 1, 43);
  const weighted = (y: Float32Array) => y.reduce((s, v, i) => s + v * w[i], 0);

  it('softmax and log-softmax backward match finite differences of Σ w·y', () => {
    for (const [fwd, bwd] of [[softmax, softmaxBackward], [logSoftmax, logSoftmaxBackward]] as const) {
      const y = fwd(Tensor.from(x, [rows, cols], rt));
      const dx = bwd(y, Tensor.from(w, [rows, cols], rt)).toArray();
      const fd = numericGrad((xv) => weighted(fwd(Tensor.from(xv, [rows, cols], rt)).toArray()), x, h);
      expectClose(dx, fd, 2e-3);
      const acc = Tensor.from(new Float32Array(rows * cols).fill(1), [rows, cols], rt);
      bwd(y, Tensor.from(w, [rows, cols], rt), { out: acc, accumulate: true });
      expectClose(acc.toArray(), Array.from(dx, (v) => v + 1), 1e-6);
    }
  });

  it('hard-label cross-entropy dLogits match finite differences of the summed loss', () => {
    const labels = new Uint8Array([4, 0, 2]);
    const d = Tensor.zeros([rows, cols], rt);
    const losses = Tensor.zeros([rows], rt);
    const sum = softmaxCrossEntropy(Tensor.from(x, [rows, cols], rt), labels, { dLogits: d, losses });
    expect(sum).toBeCloseTo(Array.from(losses.toArray()).reduce((a, b) => a + b, 0), 5);
    const fd = numericGrad((xv) => softmaxCrossEntropy(Tensor.from(xv, [rows, cols], rt), labels), x, h);
    expectClose(d.toArray(), fd, 2e-3);
    // scale, and dLogits aliasing logits
    const xt = Tensor.from(x, [rows, cols], rt);
    softmaxCrossEntropy(xt, [4, 0, 2], { dLogits: xt, scale: 1 / 3 });
    expectClose(xt.toArray(), Array.from(d.toArray(), (v) => v / 3), 1e-6);
  });

  it('soft-target cross-entropy dLogits match finite differences (also for rows not summing to 1)', () => {
    const t = randArr(rows * cols, 0, 0.5, 44);
    const tt = Tensor.from(t, [rows, cols], rt);
    const d = Tensor.zeros([rows, cols], rt);
    softCrossEntropy(Tensor.from(x, [rows, cols], rt), tt, { dLogits: d, scale: 2 });
    const fd = numericGrad((xv) => 2 * softCrossEntropy(Tensor.from(xv, [rows, cols], rt), tt), x, h);
    expectClose(d.toArray(), fd, 2e-3);
  });
});

describe('softmax ops: arguments', () => {
  it('reject bad labels, shapes and hyperparameters with typed errors and stay usable', () => {
    const logits = Tensor.from(randArr(6, -1, 1, 1), [2, 3], rt);
    expect(() => softmaxCrossEntropy(logits, [0, 3])).toThrow(ArgumentError);
    expect(() => softmaxCrossEntropy(logits, [0, -1])).toThrow(ArgumentError);
    expect(() => softmaxCrossEntropy(logits, [0, 1.5])).toThrow(ArgumentError);
    expect(() => softmaxCrossEntropy(logits, [0])).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy(logits, new Float32Array(2) as unknown as Int32Array)).toThrow(ArgumentError);
    expect(() => softmaxCrossEntropy(logits, [0, 1], { scale: NaN })).toThrow(ArgumentError);
    expect(() => softmaxCrossEntropy(logits, [0, 1], { dLogits: Tensor.zeros([3, 2], rt) })).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy(logits.reshape([6]), [0])).toThrow(ShapeError);
    expect(() => softCrossEntropy(logits, Tensor.zeros([2, 4], rt))).toThrow(ShapeError);
    const t = Tensor.zeros([2, 3], rt);
    expect(() => softCrossEntropy(logits, t, { dLogits: t })).toThrow(ArgumentError);
    expect(() => softmax(logits, { out: Tensor.zeros([6], rt) })).toThrow(ShapeError);
    expect(() => softmaxBackward(logits, Tensor.zeros([3, 2], rt))).toThrow(ShapeError);
    expect(() => argmaxRows(Tensor.zeros([2, 0], rt))).toThrow(ShapeError);
    const pl = putI32([5]);
    expect(() => K.softmax_xent_f32(logits.ptr, pl, 0, 0, 1, 3, 1)).toThrow(KernelError);
    // still usable
    const d = Tensor.zeros([2, 3], rt);
    const l = softmaxCrossEntropy(Tensor.from([0, 0, 0, 1, 1, 1], [2, 3], rt), [1, 2], { dLogits: d });
    expect(l).toBeCloseTo(2 * Math.log(3), 6);
    expect(Array.from(argmaxRows(logits))).toHaveLength(2);
  });
});
