import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ArgumentError, KernelError, ShapeError } from '../src/errors.js';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from '../src/ops/pool.js';
import { centralDiff, expectCloseToScale, mulberry32, randArr } from './util/kernel.js';

/** Distinct values 0.01·k in shuffled order: no ties, gaps far above a finite-difference step. */
function distinctArr(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return Float32Array.from(idx, (k) => (k - n / 2) * 0.01);
}
/** Small integers: many ties, to pin down the first-maximum rule. */
function tiedArr(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => Math.floor(r() * 3));
}

interface Cfg { n: number; h: number; w: number; c: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number }
const cfg = (n: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number, ph = 0, pw = ph): Cfg =>
  ({ n, h, w, c, kh, kw, sh, sw, ph, pw });
const od = (s: number, k: number, st: number, p: number) => Math.floor((s + 2 * p - k) / st) + 1;
const outShape = (g: Cfg) => [g.n, od(g.h, g.kh, g.sh, g.ph), od(g.w, g.kw, g.sw, g.pw), g.c];
const opts = (g: Cfg) => ({ size: [g.kh, g.kw] as [number, number], stride: [g.sh, g.sw] as [number, number], pad: [g.ph, g.pw] as [number, number] });
const name = (g: Cfg) => `${g.n}x${g.h}x${g.w}x${g.c} win ${g.kh}x${g.kw} s${g.sh},${g.sw} p${g.ph},${g.pw}`;

/** f64 reference: for each output, the window's real pixels as flat x indices in scan order. */
function windows(g: Cfg): number[][] {
  const [, oh, ow] = outShape(g);
  const out: number[][] = [];
  for (let b = 0; b < g.n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let c = 0; c < g.c; c++) {
    const win: number[] = [];
    for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
      if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) win.push(((b * g.h + iy) * g.w + ix) * g.c + c);
    }
    out.push(win);
  }
  return out;
}
function refMax(g: Cfg, x: Float32Array, dy: Float32Array) {
  const ws = windows(g);
  const y = new Float64Array(ws.length), dx = new Float64Array(x.length);
  ws.forEach((win, o) => {
    let at = win[0];
    for (const i of win) if (x[i] > x[at]) at = i;
    y[o] = x[at];
    dx[at] += dy[o];
  });
  return { y, dx };
}
function refAvg(g: Cfg, x: Float32Array, dy: Float32Array) {
  const ws = windows(g);
  const y = new Float64Array(ws.length), dx = new Float64Array(x.length);
  ws.forEach((win, o) => {
    let s = 0;
    for (const i of win) s += x[i];
    y[o] = s / win.length;
    for (const i of win) dx[i] += dy[o] / win.length;
  });
  return { y, dx };
}


/** Tensors of one case: x [N, H, W, C] from `xd`, dy from seed `dySeed`, and the f64 reference. */
function poolCase(rt: Runtime, g: Cfg, xd: Float32Array, dySeed: number, ref: typeof refMax) {
  const x = Tensor.from(xd, [g.n, g.h, g.w, g.c], rt);
  const ys = outShape(g);
  const dyd = randArr(ys.reduce((a, b) => a * b), -1, 1, dySeed);
  return { x, ys, dy: Tensor.from(dyd, ys, rt), want: ref(g, xd, dyd) };
}

// C = 1, 3, 4, 5, 8, 9 (below/at/above the SIMD width, tails), overlapping and non-overlapping
// windows, strides 1/2/3, paddings 0/1/2, window = input, asymmetric windows, batch 1 and 3.
const CASES: Cfg[] = [
  cfg(1, 4, 4, 1, 2, 2, 2, 2),
  cfg(3, 7, 5, 3, 3, 3, 2, 2, 1),
  cfg(2, 6, 6, 4, 2, 2, 2, 2),
  cfg(1, 9, 7, 5, 3, 3, 1, 1, 1),
  cfg(3, 5, 5, 8, 5, 5, 1, 1),
  cfg(1, 11, 10, 9, 3, 2, 3, 2, 2, 1),
  cfg(2, 3, 3, 4, 3, 3, 3, 3, 2),
  cfg(1, 1, 1, 5, 1, 1, 1, 1),
  cfg(3, 8, 9, 7, 4, 3, 2, 3, 1, 0),
  cfg(2, 6, 4, 7, 2, 2, 2, 2), // windows tiling x exactly: dx written directly, C = 7 has a tail
];

describe('max pooling', () => {
  const rt = Runtime.createSync();
  it.each(CASES.map((g) => [name(g), g] as const))('%s: SIMD = scalar twin = f64 reference, incl. ties', (_, g) => {
    for (const xd of [randArr(g.n * g.h * g.w * g.c, -1, 1, g.h * 7 + g.c), tiedArr(g.n * g.h * g.w * g.c, g.w + g.c)]) {
      const { x, ys, dy, want } = poolCase(rt, g, xd, 5, refMax);
      const y = maxPool2d(x, opts(g));
      expect(y.shape).toEqual(ys);
      expect(Array.from(y.toArray())).toEqual(Array.from(want.y));
      const yS = Tensor.zeros(ys, rt);
      rt.k.max_pool2d_f32_nhwc_scalar(g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, x.ptr, yS.ptr);
      expect(Array.from(yS.toArray())).toEqual(Array.from(want.y));

      const dx = maxPool2dBackward(x, dy, opts(g));
      expectCloseToScale(dx.toArray(), want.dx, 'dx');
      // Overwriting a dx full of stale values leaves none of them behind.
      const dxO = Tensor.from(randArr(x.size, -1, 1, 10), x.shape, rt);
      maxPool2dBackward(x, dy, { ...opts(g), out: dxO });
      expect(Array.from(dxO.toArray())).toEqual(Array.from(dx.toArray()));
      dxO.dispose();
      const dxS = Tensor.from(randArr(x.size, -1, 1, 8), x.shape, rt);
      rt.k.max_pool2d_backward_f32_nhwc_scalar(g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, x.ptr, dy.ptr, dxS.ptr, 0);
      expect(Array.from(dxS.toArray())).toEqual(Array.from(dx.toArray()));

      const d0 = randArr(x.size, -1, 1, 9);
      const dxA = Tensor.from(d0, x.shape, rt);
      maxPool2dBackward(x, dy, { ...opts(g), out: dxA, accumulate: true });
      expectCloseToScale(dxA.toArray(), want.dx.map((v, i) => v + d0[i]), 'dx accumulate');
      for (const t of [x, dy, y, yS, dx, dxS, dxA]) t.dispose();
    }
  });
});

describe('average pooling', () => {
  const rt = Runtime.createSync();
  it.each(CASES.map((g) => [name(g), g] as const))('%s: SIMD = scalar twin = f64 reference', (_, g) => {
    const xd = randArr(g.n * g.h * g.w * g.c, -1, 1, g.h * 5 + g.c);
    const { x, ys, dy, want } = poolCase(rt, g, xd, 6, refAvg);
    const y = avgPool2d(x, opts(g));
    expectCloseToScale(y.toArray(), want.y, 'y');
    const yS = Tensor.zeros(ys, rt);
    rt.k.avg_pool2d_f32_nhwc_scalar(g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, x.ptr, yS.ptr);
    expect(Array.from(yS.toArray())).toEqual(Array.from(y.toArray()));

    const dx = avgPool2dBackward(dy, x.shape, opts(g));
    expectCloseToScale(dx.toArray(), want.dx, 'dx');
    const dxS = Tensor.from(randArr(x.size, -1, 1, 8), x.shape, rt);
    rt.k.avg_pool2d_backward_f32_nhwc_scalar(g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, dy.ptr, dxS.ptr, 0);
    expect(Array.from(dxS.toArray())).toEqual(Array.from(dx.toArray()));

    const d0 = randArr(x.size, -1, 1, 9);
    const dxA = Tensor.from(d0, x.shape, rt);
    avgPool2dBackward(dy, x.shape, { ...opts(g), out: dxA, accumulate: true });
    expectCloseToScale(dxA.toArray(), want.dx.map((v, i) => v + d0[i]), 'dx accumulate');
    for (const t of [x, dy, y, yS, dx, dxS, dxA]) t.dispose();
  });

  it('divides by the real pixel count at the border (count_include_pad = false)', () => {
    const x = Tensor.from([1, 2, 3, 4], [1, 2, 2, 1], rt);
    // 2×2 windows, stride 1, pad 1: corners see one pixel, edges two, the centre four
    expect(Array.from(avgPool2d(x, { size: 2, stride: 1, pad: 1 }).toArray())).toEqual([1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
  });
});

describe('pooling finite differences', () => {
  const rt = Runtime.createSync();
  // L = Σ pool(x) ⊙ r; x has distinct values 0.01 apart, so ±eps never changes an argmax.
  const fdCases = [cfg(2, 5, 6, 5, 3, 2, 2, 1, 1, 1), cfg(1, 4, 4, 3, 2, 2, 1, 1)];
  it.each(fdCases.map((g) => [name(g), g] as const))('%s', (_, g) => {
    const xd = distinctArr(g.n * g.h * g.w * g.c, 31);
    const ys = outShape(g);
    const rd = randArr(ys.reduce((a, b) => a * b), -1, 1, 32);
    const x = Tensor.from(xd, [g.n, g.h, g.w, g.c], rt), r = Tensor.from(rd, ys, rt);
    const y = Tensor.zeros(ys, rt);
    for (const [fwd, bwd] of [
      [maxPool2d, () => maxPool2dBackward(x, r, opts(g))],
      [avgPool2d, () => avgPool2dBackward(r, x.shape, opts(g))],
    ] as const) {
      const loss = () => {
        fwd(x, { ...opts(g), out: y });
        const yv = y.view();
        let s = 0;
        for (let i = 0; i < yv.length; i++) s += yv[i] * rd[i];
        return s;
      };
      const num = centralDiff(xd, (d) => x.set(d), loss, 1e-3);
      expectCloseToScale(bwd().toArray(), num, `${fwd.name} dx vs finite differences`, 2e-3);
    }
  });
});

describe('pooling argument checks', () => {
  it('throws typed errors naming the argument and leaves the runtime usable', () => {
    const rt = Runtime.createSync();
    const x = Tensor.zeros([2, 5, 5, 3], rt);
    const err = (fn: () => unknown, cls: typeof ShapeError, arg: string) => {
      let e: unknown;
      try { fn(); } catch (caught) { e = caught; }
      expect(e).toBeInstanceOf(cls);
      expect((e as ShapeError).argument).toBe(arg);
    };
    err(() => maxPool2d(x.reshape([10, 5, 3]), { size: 2 }), ShapeError, 'x');
    err(() => maxPool2d(x, {} as { size: number }), ArgumentError, 'size');
    err(() => maxPool2d(x, { size: 0 }), ArgumentError, 'size');
    err(() => maxPool2d(x, { size: 2.5 }), ArgumentError, 'size');
    err(() => maxPool2d(x, { size: 2, stride: [1, 0] }), ArgumentError, 'stride');
    err(() => maxPool2d(x, { size: 2, pad: 2 }), ArgumentError, 'pad');
    err(() => avgPool2d(x, { size: 6 }), ShapeError, 'size');
    err(() => avgPool2d(x, { size: 2, out: Tensor.zeros([2, 2, 2, 4], rt) }), ShapeError, 'out');
    const dy = Tensor.zeros([2, 2, 2, 3], rt);
    err(() => maxPool2dBackward(x, Tensor.zeros([2, 3, 3, 3], rt), { size: 2 }), ShapeError, 'dy');
    err(() => maxPool2dBackward(x, dy, { size: 2, accumulate: true }), ArgumentError, 'out');
    err(() => avgPool2dBackward(dy, [2, 5, 5], { size: 2 }), ShapeError, 'xShape');
    err(() => avgPool2dBackward(dy, [2, 5, 5, 4], { size: 2 }), ShapeError, 'dy');
    err(() => avgPool2dBackward(dy, [2, 5, 5, 3], { size: 2, out: Tensor.zeros([2, 5, 5, 4], rt) }), ShapeError, 'out');
    expect(() => rt.k.max_pool2d_f32_nhwc(1, 4, 4, 1, 2, 2, 1, 1, 2, 0, x.ptr, x.ptr)).toThrow(KernelError);
    const small = Tensor.from([1, 5, 3, 4], [1, 2, 2, 1], rt);
    expect(Array.from(maxPool2d(small, { size: 2 }).toArray())).toEqual([5]);
    expect(Array.from(maxPool2dBackward(small, Tensor.from([7], [1, 1, 1, 1], rt), { size: 2 }).toArray())).toEqual([0, 7, 0, 0]);
  });
});
