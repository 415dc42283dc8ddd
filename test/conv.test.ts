import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ArgumentError, KernelError, ShapeError } from '../src/errors.js';
import { biasGradNHWC, conv2d, conv2dBackwardData, conv2dBackwardFilter } from '../src/ops/conv.js';

// Deterministic test data (mulberry32): uniform in [-1, 1).
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}
function randArr(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r();
  return a;
}

interface Cfg { n: number; h: number; w: number; c: number; f: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number }
const od = (s: number, k: number, st: number, p: number) => Math.floor((s + 2 * p - k) / st) + 1;
const outShape = (g: Cfg) => [g.n, od(g.h, g.kh, g.sh, g.ph), od(g.w, g.kw, g.sw, g.pw), g.f];

// Naive f64 references, written from the definition y[b,oy,ox,f] = Σ x[b, oy·s−p+ky, ox·s−p+kx, c]·W[ky,kx,c,f].
function refForward(g: Cfg, x: Float32Array, wt: Float32Array, bias?: Float32Array): Float64Array {
  const [, oh, ow] = outShape(g);
  const y = new Float64Array(g.n * oh * ow * g.f);
  for (let b = 0; b < g.n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let f = 0; f < g.f; f++) {
    let s = bias ? bias[f] : 0;
    for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
      if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
      for (let c = 0; c < g.c; c++) s += x[((b * g.h + iy) * g.w + ix) * g.c + c] * wt[((ky * g.kw + kx) * g.c + c) * g.f + f];
    }
    y[((b * oh + oy) * ow + ox) * g.f + f] = s;
  }
  return y;
}
function refBackward(g: Cfg, x: Float32Array, wt: Float32Array, dy: Float32Array): { dx: Float64Array; dw: Float64Array } {
  const [, oh, ow] = outShape(g);
  const dx = new Float64Array(x.length), dw = new Float64Array(wt.length);
  for (let b = 0; b < g.n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let f = 0; f < g.f; f++) {
    const d = dy[((b * oh + oy) * ow + ox) * g.f + f];
    for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
      if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
      for (let c = 0; c < g.c; c++) {
        const xi = ((b * g.h + iy) * g.w + ix) * g.c + c, wi = ((ky * g.kw + kx) * g.c + c) * g.f + f;
        dx[xi] += d * wt[wi];
        dw[wi] += d * x[xi];
      }
    }
  }
  return { dx, dw };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, rtol = 2e-5): void {
  expect(got.length, what).toBe(want.length);
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= rtol * scale)) {
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (scale ${scale})`);
    }
  }
}

const cfg = (n: number, h: number, w: number, c: number, f: number, kh: number, kw: number, sh = 1, sw = sh, ph = 0, pw = ph): Cfg =>
  ({ n, h, w, c, f, kh, kw, sh, sw, ph, pw });

// Edge cases: 1×1 (pointwise fast path and strided), kernel = input, strides 1/2/3, paddings 0/1/2,
// C = 1, 3, 4, 5, F = 1, 4, 7, 8, 9, batch 1 and 3, odd sizes, asymmetric kernels/strides/pads,
// and one case with more output rows than a chunk (1728 rows; 720 per packed-A chunk).
const CASES: Cfg[] = [
  cfg(1, 5, 7, 3, 4, 1, 1),
  cfg(3, 5, 5, 5, 9, 1, 1, 2),
  cfg(2, 7, 7, 4, 8, 7, 7),
  cfg(1, 6, 5, 1, 1, 6, 5, 1, 1, 2, 1),
  cfg(3, 9, 9, 1, 7, 3, 3, 1, 1, 1),
  cfg(1, 11, 9, 3, 9, 3, 3, 2, 2, 1),
  cfg(3, 13, 11, 5, 4, 5, 5, 3, 3, 2),
  cfg(1, 8, 8, 4, 8, 2, 2, 2),
  cfg(3, 10, 7, 5, 7, 3, 2, 1, 2, 2, 0),
  cfg(2, 5, 5, 3, 1, 5, 5, 1, 1, 2),
  cfg(1, 1, 1, 5, 9, 1, 1),
  cfg(1, 3, 3, 4, 4, 3, 3, 3, 3, 1),
  cfg(3, 24, 24, 5, 8, 3, 3, 1, 1, 1),
  // LeNet-5 shapes, shrunk in batch: C = 1 / stride 1 (packed rows are plain loads) and F = 50
  // (2 leftover columns); one odd output width so strips straddle output rows.
  cfg(2, 28, 28, 1, 20, 5, 5),
  cfg(2, 12, 12, 20, 50, 5, 5),
  cfg(2, 11, 11, 1, 6, 5, 5),
  // K = 576 > 512 and K·F > 131072 floats (the GEMM's packed-B buffer): the im2col + GEMM path.
  cfg(1, 5, 5, 64, 240, 3, 3, 1, 1, 1),
  // K = 9 but 9 × 14600 floats > 131072: W alone overflows packed B, also the im2col path.
  cfg(1, 3, 3, 1, 14600, 3, 3),
];
const name = (g: Cfg) => `${g.n}x${g.h}x${g.w}x${g.c} * ${g.kh}x${g.kw}x${g.f} s${g.sh},${g.sw} p${g.ph},${g.pw}`;

describe('conv2d forward', () => {
  const rt = Runtime.createSync();
  it.each(CASES.map((g) => [name(g), g] as const))('%s: SIMD = scalar twin = f64 reference', (_, g) => {
    const seed = g.n * 1000 + g.h * 31 + g.c * 7 + g.f;
    const xd = randArr(g.n * g.h * g.w * g.c, seed), wd = randArr(g.kh * g.kw * g.c * g.f, seed + 1), bd = randArr(g.f, seed + 2);
    const x = Tensor.from(xd, [g.n, g.h, g.w, g.c], rt), w = Tensor.from(wd, [g.kh, g.kw, g.c, g.f], rt), bias = Tensor.from(bd, [g.f], rt);
    const want = refForward(g, xd, wd, bd);
    const y = conv2d(x, w, { stride: [g.sh, g.sw], pad: [g.ph, g.pw], bias });
    expect(y.shape).toEqual(outShape(g));
    expectClose(y.toArray(), want, 'simd');
    const ys = Tensor.zeros(outShape(g), rt);
    rt.k.conv2d_f32_nhwc_scalar(g.n, g.h, g.w, g.c, g.f, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, x.ptr, w.ptr, bias.ptr, ys.ptr, 0, 0);
    expectClose(ys.toArray(), want, 'scalar');
    expectClose(y.toArray(), ys.toArray(), 'simd vs scalar');
    // overwrite: a dirty destination must not leak into the result
    const dirty = Tensor.from(randArr(y.size, seed + 4), y.shape, rt);
    conv2d(x, w, { stride: [g.sh, g.sw], pad: [g.ph, g.pw], bias, out: dirty });
    expect(Array.from(dirty.toArray())).toEqual(Array.from(y.toArray()));
    dirty.dispose();
    // accumulate: out += conv(x, w) (no bias)
    const y0 = randArr(y.size, seed + 3);
    const acc = Tensor.from(y0, y.shape, rt);
    conv2d(x, w, { stride: [g.sh, g.sw], pad: [g.ph, g.pw], out: acc, accumulate: true });
    const nob = refForward(g, xd, wd);
    expectClose(acc.toArray(), nob.map((v, i) => v + y0[i]), 'accumulate');
    for (const t of [x, w, bias, y, ys, acc]) t.dispose();
  });
});

describe('conv2d backward', () => {
  const rt = Runtime.createSync();
  it.each(CASES.map((g) => [name(g), g] as const))('%s: data and filter gradients, SIMD = scalar = f64', (_, g) => {
    const seed = g.n * 977 + g.w * 13 + g.c * 5 + g.f;
    const xd = randArr(g.n * g.h * g.w * g.c, seed), wd = randArr(g.kh * g.kw * g.c * g.f, seed + 1);
    const ys = outShape(g);
    const dyd = randArr(ys.reduce((a, b) => a * b), seed + 2);
    const x = Tensor.from(xd, [g.n, g.h, g.w, g.c], rt), w = Tensor.from(wd, [g.kh, g.kw, g.c, g.f], rt), dy = Tensor.from(dyd, ys, rt);
    const { dx: wantDx, dw: wantDw } = refBackward(g, xd, wd, dyd);
    const geo = { stride: [g.sh, g.sw] as [number, number], pad: [g.ph, g.pw] as [number, number] };

    const dx = conv2dBackwardData(dy, w, x.shape, geo);
    expectClose(dx.toArray(), wantDx, 'dx simd');
    const dxs = Tensor.from(randArr(x.size, 9), x.shape, rt); // garbage: acc = 0 must overwrite it
    rt.k.conv2d_backward_data_f32_nhwc_scalar(g.n, g.h, g.w, g.c, g.f, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, dy.ptr, w.ptr, dxs.ptr, 0, 0);
    expectClose(dxs.toArray(), wantDx, 'dx scalar');

    const dw = conv2dBackwardFilter(x, dy, w.shape, geo);
    expectClose(dw.toArray(), wantDw, 'dw simd');
    const dws = Tensor.from(randArr(w.size, 10), w.shape, rt);
    rt.k.conv2d_backward_filter_f32_nhwc_scalar(g.n, g.h, g.w, g.c, g.f, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, x.ptr, dy.ptr, dws.ptr, 0, 0);
    expectClose(dws.toArray(), wantDw, 'dw scalar');

    // accumulate into existing gradients (dirty memory must be added to, not overwritten)
    const dx0 = randArr(x.size, 11), dw0 = randArr(w.size, 12);
    const dxa = Tensor.from(dx0, x.shape, rt), dwa = Tensor.from(dw0, w.shape, rt);
    conv2dBackwardData(dy, w, x.shape, { ...geo, out: dxa, accumulate: true });
    conv2dBackwardFilter(x, dy, w.shape, { ...geo, out: dwa, accumulate: true });
    expectClose(dxa.toArray(), wantDx.map((v, i) => v + dx0[i]), 'dx accumulate');
    expectClose(dwa.toArray(), wantDw.map((v, i) => v + dw0[i]), 'dw accumulate');
    for (const t of [x, w, dy, dx, dxs, dw, dws, dxa, dwa]) t.dispose();
  });

  it('bias gradient = column sums of dy (SIMD = scalar = f64), overwrite and accumulate', () => {
    for (const [rows, f] of [[1, 1], [7, 3], [12, 4], [5, 9], [64, 8], [3, 13], [9, 16], [5, 20], [4, 37]]) {
      const d = randArr(rows * f, rows * 100 + f);
      const dy = Tensor.from(d, [rows, f], rt);
      const want = new Float64Array(f);
      for (let r = 0; r < rows; r++) for (let j = 0; j < f; j++) want[j] += d[r * f + j];
      const db = biasGradNHWC(dy.reshape([1, rows, 1, f]));
      expectClose(db.toArray(), want, 'db');
      const dbs = Tensor.from(randArr(f, 3), [f], rt);
      rt.k.conv2d_bias_grad_f32_scalar(rows, f, dy.ptr, dbs.ptr, 0);
      expect(Array.from(dbs.toArray())).toEqual(Array.from(db.toArray()));
      const b0 = randArr(f, 4);
      const dba = Tensor.from(b0, [f], rt);
      biasGradNHWC(dy, { out: dba, accumulate: true });
      expectClose(dba.toArray(), want.map((v, i) => v + b0[i]), 'db accumulate');
    }
  });
});

describe('conv2d finite differences', () => {
  const rt = Runtime.createSync();
  // L = Σ conv2d(x, w) ⊙ r; its gradients are conv2dBackwardData(r, w) and conv2dBackwardFilter(x, r).
  const fdCases = [cfg(2, 5, 6, 3, 4, 3, 3, 2, 1, 1, 2), cfg(1, 4, 4, 5, 2, 2, 3, 1, 2, 0, 1), cfg(1, 3, 3, 2, 3, 1, 1)];
  it.each(fdCases.map((g) => [name(g), g] as const))('%s', (_, g) => {
    const xd = randArr(g.n * g.h * g.w * g.c, 21), wd = randArr(g.kh * g.kw * g.c * g.f, 22);
    const ys = outShape(g);
    const rd = randArr(ys.reduce((a, b) => a * b), 23);
    const x = Tensor.from(xd, [g.n, g.h, g.w, g.c], rt), w = Tensor.from(wd, [g.kh, g.kw, g.c, g.f], rt), r = Tensor.from(rd, ys, rt);
    const geo = { stride: [g.sh, g.sw] as [number, number], pad: [g.ph, g.pw] as [number, number] };
    const y = Tensor.zeros(ys, rt);
    const loss = () => {
      conv2d(x, w, { ...geo, out: y });
      const yv = y.view();
      let s = 0;
      for (let i = 0; i < yv.length; i++) s += yv[i] * rd[i];
      return s;
    };
    const eps = 1e-2;
    const numeric = (t: Tensor, data: Float32Array) => {
      const g = new Float64Array(data.length);
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        data[i] = v + eps; t.set(data); const lp = loss();
        data[i] = v - eps; t.set(data); const lm = loss();
        data[i] = v; t.set(data);
        g[i] = (lp - lm) / (2 * eps);
      }
      return g;
    };
    expectClose(conv2dBackwardData(r, w, x.shape, geo).toArray(), numeric(x, xd), 'dx vs finite differences', 1e-3);
    expectClose(conv2dBackwardFilter(x, r, w.shape, geo).toArray(), numeric(w, wd), 'dw vs finite differences', 1e-3);
  });
});

describe('conv2d argument checks', () => {
  it('throws typed errors naming the argument and leaves the runtime usable', () => {
    const rt = Runtime.createSync();
    const x = Tensor.zeros([2, 5, 5, 3], rt), w = Tensor.zeros([3, 3, 3, 4], rt);
    const err = (fn: () => unknown, cls: typeof ShapeError, arg: string) => {
      let e: unknown;
      try { fn(); } catch (caught) { e = caught; }
      expect(e).toBeInstanceOf(cls);
      expect((e as ShapeError).argument).toBe(arg);
    };
    err(() => conv2d(x.reshape([10, 5, 3]), w), ShapeError, 'x');
    err(() => conv2d(x, w.reshape([9, 3, 4])), ShapeError, 'w');
    err(() => conv2d(x, Tensor.zeros([3, 3, 2, 4], rt)), ShapeError, 'w');
    err(() => conv2d(x, Tensor.zeros([7, 3, 3, 4], rt)), ShapeError, 'w');
    err(() => conv2d(x, Tensor.zeros([8, 3, 3, 4], rt), { pad: 1 }), ShapeError, 'w');
    err(() => conv2d(x, w, { stride: 1.5 }), ArgumentError, 'stride');
    err(() => conv2d(x, w, { stride: 0 }), ArgumentError, 'stride');
    err(() => conv2d(x, w, { stride: [1] as unknown as [number, number] }), ArgumentError, 'stride');
    err(() => conv2d(x, w, { pad: -1 }), ArgumentError, 'pad');
    err(() => conv2d(x, w, { pad: [1, NaN] }), ArgumentError, 'pad');
    err(() => conv2d(x, w, { bias: Tensor.zeros([3], rt) }), ShapeError, 'bias');
    err(() => conv2d(x, w, { out: Tensor.zeros([2, 3, 3, 5], rt) }), ShapeError, 'out');
    err(() => conv2d(x, w, { accumulate: true }), ArgumentError, 'out');
    err(() => conv2d(x, Tensor.zeros([3, 3, 3, 4], Runtime.createSync())), ArgumentError, 'w');
    err(() => conv2d([1, 2] as unknown as Tensor, w), ArgumentError, 'x');
    const dy = Tensor.zeros([2, 3, 3, 4], rt);
    err(() => conv2dBackwardData(dy, w, [2, 6, 6, 3]), ShapeError, 'dy');
    err(() => conv2dBackwardData(dy, w, [2, 5, 5, 2]), ShapeError, 'w');
    err(() => conv2dBackwardData(dy, w, [2, 5, 5] as unknown as number[]), ShapeError, 'xShape');
    err(() => conv2dBackwardData(dy, w, [2, 5, 5, 3], { out: Tensor.zeros([2, 5, 5, 4], rt) }), ShapeError, 'out');
    err(() => conv2dBackwardFilter(x, dy, [3, 3, 3, 5]), ShapeError, 'dy');
    err(() => conv2dBackwardFilter(x, dy, [3, 3, 3, 4], { stride: 2 }), ShapeError, 'dy');
    err(() => conv2dBackwardFilter(x, dy, [3, 3, 3, 0]), ShapeError, 'wShape');
    const gone = Tensor.zeros([1, 3, 3, 3], rt);
    gone.dispose();
    err(() => conv2d(gone, w), ArgumentError, 'x');
    // a kernel precondition failure surfaces as KernelError
    expect(() => rt.k.conv2d_f32_nhwc(1, 2, 2, 1, 1, 3, 3, 1, 1, 0, 0, x.ptr, w.ptr, 0, x.ptr, 0, 0)).toThrow(KernelError);
    // still usable
    const xs = Tensor.from([1, 2, 3, 4], [1, 2, 2, 1], rt), ws = Tensor.from([1, 1, 1, 1], [2, 2, 1, 1], rt);
    expect(Array.from(conv2d(xs, ws).toArray())).toEqual([10]);
    expect(Array.from(conv2d(xs, ws, { pad: 1, stride: 2 }).toArray())).toEqual([1, 2, 3, 4]);
  });
});
