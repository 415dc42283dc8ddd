// The sparse mean path of masked Sparse VD training: the CSR of the kept weights, the sparse
// product's backward (SIMD kernel vs its scalar twin vs an f64 reference) and the layers that use
// it (finite differences, and agreement with the dense path).
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ShapeError } from '../src/errors.js';
import { Layer } from '../src/layers/layer.js';
import { SparseVDConv2d, SparseVDDense } from '../src/layers/bayesian.js';
import { ConvProduct, keptCsr, scatterKept, sparseBackward, sparseForward } from '../src/ops/sparse.js';
import { gradCheck, lcg, randomArray } from './util/gradcheck.js';
import { expectClose } from './util/kernel.js';

/** The ten sizes of a product, flat, as the references below read them. */
interface SparseGeometry { h: number; w: number; c: number; f: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number }
/** The product type of ops/sparse.ts for a flat geometry. */
function prod(g: SparseGeometry): ConvProduct {
  return { input: [g.h, g.w, g.c], filters: g.f, geometry: { kernel: [g.kh, g.kw], stride: [g.sh, g.sw], pad: [g.ph, g.pw] } };
}

const rt = Runtime.createSync();

/** A CSR of M [k, f] keeping each entry with probability `density` (log α −1 kept, 3 dropped: the threshold itself drops). */
function makeCsr(k: number, f: number, density: number, rnd: () => number) {
  const m = randomArray(k * f, rnd), la = new Float32Array(k * f);
  for (let i = 0; i < la.length; i++) la[i] = rnd() < density ? -1 : 3;
  const M = Tensor.from(m, [k, f], rt), L = Tensor.from(la, [k, f], rt);
  const csr = { rowPtr: Tensor.zeros([f + 1], rt), colIdx: Tensor.zeros([k * f], rt), val: Tensor.zeros([k * f], rt), liveRows: Tensor.zeros([k + 1], rt) };
  const nnz = keptCsr(M, L, 3, csr);
  return { m, la, M, L, csr: { ...csr, nnz } };
}

/** f64 reference of the masked convolution's gradients: dM [K, F] and dx [N, H, W, C]. */
function refBackward(g: SparseGeometry, n: number, x: Float32Array, dy: Float32Array, m: Float32Array, la: Float32Array) {
  const oh = Math.floor((g.h + 2 * g.ph - g.kh) / g.sh) + 1, ow = Math.floor((g.w + 2 * g.pw - g.kw) / g.sw) + 1;
  const dM = new Float64Array(m.length), dx = new Float64Array(x.length);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
    const iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
    if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
    for (let c = 0; c < g.c; c++) for (let f = 0; f < g.f; f++) {
      const kk = (ky * g.kw + kx) * g.c + c, e = kk * g.f + f;
      if (!(la[e] < 3)) continue;
      const gy = dy[((b * oh + oy) * ow + ox) * g.f + f], xi = ((b * g.h + iy) * g.w + ix) * g.c + c;
      dM[e] += x[xi] * gy;
      dx[xi] += m[e] * gy;
    }
  }
  return { dM, dx, oh, ow };
}

describe('keptCsr / scatterKept', () => {
  it.each([[1, 1, 1], [1, 7, 0.5], [9, 1, 0.5], [13, 5, 0.3], [25, 20, 0], [31, 17, 1]])('M [%i, %i] at density %f', (k, f, density) => {
    const rnd = lcg(k * 31 + f);
    const { m, la, M, csr } = makeCsr(k, f, density, rnd);
    const rp = new Uint32Array(csr.rowPtr.view().buffer, csr.rowPtr.ptr, f + 1);
    const ci = new Uint32Array(csr.colIdx.view().buffer, csr.colIdx.ptr, csr.nnz);
    const v = csr.val.view();
    // Reference: per output f, the kept kk ascending, their values.
    let p = 0;
    expect(rp[0]).toBe(0);
    for (let fo = 0; fo < f; fo++) {
      for (let kk = 0; kk < k; kk++) {
        if (!(la[kk * f + fo] < 3)) continue;
        expect(ci[p]).toBe(kk);
        expect(v[p]).toBe(m[kk * f + fo]);
        p++;
      }
      expect(rp[fo + 1]).toBe(p);
    }
    expect(csr.nnz).toBe(p);
    const live = new Uint32Array(csr.liveRows.view().buffer, csr.liveRows.ptr, k + 1);
    const want = [...Array(k).keys()].filter((kk) => [...Array(f).keys()].some((fo) => la[kk * f + fo] < 3));
    expect(Array.from(live.subarray(1, 1 + live[0]))).toEqual(want);
    if (density === 0) expect(p).toBe(0);
    if (density === 1) expect(p).toBe(k * f);
    // Scatter puts each kept value back in place and zeros the rest.
    const out = Tensor.from(randomArray(k * f, rnd), [k, f], rt);
    scatterKept(csr, csr.val, out);
    const o = out.view();
    for (let i = 0; i < k * f; i++) expect(o[i]).toBe(la[i] < 3 ? m[i] : 0);
    M.dispose();
  });

  it('keeps a weight whose mean is exactly 0 (it still gets its gradient)', () => {
    const M = Tensor.from([0, 1, 0, 2], [2, 2], rt), L = Tensor.from([-5, -5, 5, -5], [2, 2], rt);
    const csr = { rowPtr: Tensor.zeros([3], rt), colIdx: Tensor.zeros([4], rt), val: Tensor.zeros([4], rt), liveRows: Tensor.zeros([3], rt) };
    expect(keptCsr(M, L, 3, csr)).toBe(3);
  });

  it('rejects a log α of another shape and short buffers', () => {
    const M = Tensor.zeros([4, 3], rt);
    const csr = { rowPtr: Tensor.zeros([4], rt), colIdx: Tensor.zeros([12], rt), val: Tensor.zeros([12], rt), liveRows: Tensor.zeros([5], rt) };
    expect(() => keptCsr(M, Tensor.zeros([3, 4], rt), 3, csr)).toThrow(ShapeError);
    expect(() => keptCsr(M, Tensor.zeros([4, 3], rt), 3, { ...csr, rowPtr: Tensor.zeros([3], rt) })).toThrow(/rowPtr/);
    expect(() => keptCsr(M, Tensor.zeros([4, 3], rt), 3, { ...csr, val: Tensor.zeros([11], rt) })).toThrow(ShapeError);
  });
});

describe('sparse mean product: forward and backward against an f64 reference', () => {
  // [name, n, geometry, density]. The backward's chunk is 384 KiB / ((2K + F)·4 bytes) rounded
  // down to 16 pixels: with K = 5·5·64 it is 16 pixels, so the 5x5x64 cases cover one pixel
  // below, at and above a chunk, and several chunks with a ragged tail.
  const g = (h: number, w: number, c: number, f: number, kh: number, kw: number, sh = 1, sw = 1, ph = 0, pw = 0): SparseGeometry => ({ h, w, c, f, kh, kw, sh, sw, ph, pw });
  const cases: [string, number, SparseGeometry, number][] = [
    ['dense 9 -> 6 (1x1 of a 1x1 image)', 5, g(1, 1, 9, 6, 1, 1), 0.4],
    ['dense 800 -> 50, batch 3', 3, g(1, 1, 800, 50, 1, 1), 0.05],
    // At most a quarter of the inputs have a kept weight: only those im2col rows are built and read.
    ['dense 800 -> 50, few live inputs', 7, g(1, 1, 800, 50, 1, 1), 0.004],
    ['3x3 stride 2 pad 1, C = 8, few live inputs', 3, g(9, 7, 8, 4, 3, 3, 2, 2, 1, 1), 0.05],
    ['5x5 valid, C = 1 (LeNet conv1)', 2, g(12, 12, 1, 7, 5, 5), 0.3],
    ['3x3 pad 1, C = 3', 3, g(7, 6, 3, 5, 3, 3, 1, 1, 1, 1), 0.5],
    ['3x3 stride 2 pad 2', 2, g(9, 8, 2, 4, 3, 3, 2, 2, 2, 2), 0.3],
    ['rect 2x3 stride (1, 2) pad (1, 0)', 2, g(6, 9, 5, 3, 2, 3, 1, 2, 1, 0), 1],
    ['no weight kept', 2, g(5, 5, 2, 2, 3, 3), 0],
    ['5x5x64: 15 pixels (below a chunk)', 15, g(5, 5, 64, 3, 5, 5), 0.1],
    ['5x5x64: 16 pixels (one chunk)', 16, g(5, 5, 64, 3, 5, 5), 0.1],
    ['5x5x64: 17 pixels (above a chunk)', 17, g(5, 5, 64, 3, 5, 5), 0.1],
    ['5x5x64: 2 images of 3x3 pixels with a ragged tail', 2, g(7, 7, 64, 5, 5, 5), 0.1],
  ];
  it.each(cases)('%s', (_name, n, geo, density) => {
    const rnd = lcg(geo.c * 97 + geo.f * 7 + n);
    const K = geo.kh * geo.kw * geo.c;
    const { m, la, csr } = makeCsr(K, geo.f, density, rnd);
    const xa = randomArray(n * geo.h * geo.w * geo.c, rnd);
    const x = Tensor.from(xa, geo.h === 1 && geo.w === 1 ? [n, geo.c] : [n, geo.h, geo.w, geo.c], rt);
    const ref = refBackward(geo, n, xa, new Float32Array(0), m, la); // sizes only
    const dya = randomArray(n * ref.oh * ref.ow * geo.f, rnd);
    const { dM, dx } = refBackward(geo, n, xa, dya, m, la);
    const dy = Tensor.from(dya, [n * ref.oh * ref.ow, geo.f], rt);

    // Forward: the masked dense product.
    const y = sparseForward(prod(geo), x, csr, Tensor.zeros([dya.length], rt));
    const yRef = new Float64Array(dya.length);
    const oh = ref.oh, ow = ref.ow;
    for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let ky = 0; ky < geo.kh; ky++) for (let kx = 0; kx < geo.kw; kx++) {
      const iy = oy * geo.sh - geo.ph + ky, ix = ox * geo.sw - geo.pw + kx;
      if (iy < 0 || iy >= geo.h || ix < 0 || ix >= geo.w) continue;
      for (let c = 0; c < geo.c; c++) for (let f = 0; f < geo.f; f++) {
        const e = ((ky * geo.kw + kx) * geo.c + c) * geo.f + f;
        if (la[e] < 3) yRef[((b * oh + oy) * ow + ox) * geo.f + f] += m[e] * xa[((b * geo.h + iy) * geo.w + ix) * geo.c + c];
      }
    }
    expectClose(y.view(), yRef, 1e-5, 'y');
    // The forward is the inference kernel given the live rows; its scalar twin sums in the same CSR order.
    const ys = Tensor.zeros([dya.length], rt);
    rt.k.conv2d_sparse_f32_nhwc_scalar(n, geo.h, geo.w, geo.c, geo.f, geo.kh, geo.kw, geo.sh, geo.sw, geo.ph, geo.pw,
      csr.rowPtr.ptr, csr.colIdx.ptr, 1, csr.val.ptr, 0, x.ptr, 0, ys.ptr, 0);
    expect(Array.from(y.view())).toEqual(Array.from(ys.view()));

    for (const scalar of [false, true]) {
      const dval = Tensor.from(randomArray(K * geo.f, rnd), [K * geo.f], rt); // stale values must not leak
      const dxT = Tensor.from(randomArray(xa.length, rnd), x.shape, rt);
      sparseBackward(prod(geo), x, dy, csr, dval, dxT, scalar);
      const dMT = scatterKept(csr, dval, Tensor.zeros([K, geo.f], rt));
      expectClose(dMT.view(), dM, 1e-5, `dM (${scalar ? 'scalar' : 'SIMD'})`);
      expectClose(dxT.view(), dx, 1e-5, `dx (${scalar ? 'scalar' : 'SIMD'})`);
      // Without dx only the weight gradient is computed.
      const dval2 = Tensor.zeros([K * geo.f], rt);
      sparseBackward(prod(geo), x, dy, csr, dval2, null, scalar);
      expect(Array.from(dval2.view().subarray(0, csr.nnz))).toEqual(Array.from(dval.view().subarray(0, csr.nnz)));
    }
  });

  it('rejects dy and dx of the wrong size', () => {
    const geo = g(5, 5, 2, 3, 3, 3);
    const { csr } = makeCsr(18, 3, 0.5, lcg(1));
    const x = Tensor.zeros([2, 5, 5, 2], rt);
    expect(() => sparseBackward(prod(geo), x, Tensor.zeros([2, 3, 3, 2], rt), csr, Tensor.zeros([54], rt), null)).toThrow(/dy/);
    expect(() => sparseBackward(prod(geo), x, Tensor.zeros([2, 3, 3, 3], rt), csr, Tensor.zeros([54], rt), Tensor.zeros([2, 5, 5], rt))).toThrow(/dx/);
    expect(() => sparseForward(prod(geo), Tensor.zeros([2, 5, 4, 2], rt), csr, Tensor.zeros([54], rt))).toThrow(ShapeError);
  });
});

/**
 * Set a Sparse VD layer's parameters so that about `keep` of its weights are kept with a safe
 * margin (|θ| ≥ 0.3, log σ² = −2: log α ≤ 0.5) and the rest dropped (log σ² = 6: log α ≥ 6), so
 * no finite-difference step flips a weight across the threshold.
 */
function maskHalf(layer: Layer, keep: number, seed: number): void {
  const rnd = lcg(seed);
  const [theta, ls] = layer.params();
  const t = theta.value.view(), s = ls.value.view();
  for (let i = 0; i < t.length; i++) {
    const kept = rnd() < keep;
    const mag = kept ? 0.3 + 0.7 * rnd() : rnd();
    t[i] = rnd() < 0.5 ? -mag : mag;
    s[i] = kept ? -2 : 6;
  }
}

function built<L extends Layer>(l: L, inputShape: number[]): L {
  l.name = 'l';
  l.index = 2;
  l.build(inputShape, rt, 1234);
  return l;
}

describe('Sparse VD layers on the sparse mean path', () => {
  const svd = { maskInTraining: true, sparseMeanLimit: 1 } as const;
  it('SparseVDDense: finite differences of θ, log σ², bias, x and the KL', () => {
    const l = built(new SparseVDDense({ units: 6, ...svd }), [9]);
    maskHalf(l, 0.4, 3);
    gradCheck(l, rt, [4, 9], { withKl: true, h: 1e-3, ctx: { klGradScale: 1 } });
  });
  it('SparseVDConv2d (3x3, stride 2, pad 1): finite differences', () => {
    const l = built(new SparseVDConv2d({ filters: 3, kernelSize: 3, stride: 2, padding: 1, ...svd }), [6, 5, 2]);
    maskHalf(l, 0.4, 4);
    gradCheck(l, rt, [2, 6, 5, 2], { withKl: true, h: 1e-3 });
  });

  const training = { training: true, sample: false, seed: 5, step: 1 };
  const sampling = { training: false, sample: true, seed: 5, step: 1 };
  it.each([
    ['SparseVDDense, training', (limit: number) => new SparseVDDense({ units: 7, maskInTraining: true, sparseMeanLimit: limit }), [12], [5, 12], training],
    ['SparseVDConv2d, training', (limit: number) => new SparseVDConv2d({ filters: 4, kernelSize: 3, padding: 1, maskInTraining: true, sparseMeanLimit: limit }), [5, 5, 3], [3, 5, 5, 3], training],
    // Monte-Carlo sampling masks at the threshold whatever maskInTraining says.
    ['SparseVDConv2d, Monte-Carlo sampling', (limit: number) => new SparseVDConv2d({ filters: 4, kernelSize: 3, maskInTraining: false, sparseMeanLimit: limit }), [6, 5, 2], [2, 6, 5, 2], sampling],
  ] as const)('%s: the sparse and the dense mean paths agree (outputs and every gradient)', (_n, make, inShape, xShape, ctx) => {
    const run = (limit: number) => {
      const l = built(make(limit), [...inShape]);
      maskHalf(l, 0.1, 9);
      const x = Tensor.from(randomArray(xShape.reduce((a, b) => a * b, 1), lcg(2)), [...xShape], rt);
      const y = l.forward(x, { ...ctx }).toArray();
      const r = Tensor.from(randomArray(y.length, lcg(3)), [y.length / (l.outputShape.reduce((a, b) => a * b, 1)), ...l.outputShape], rt);
      for (const p of l.params()) p.grad.view().fill(0);
      const dx = l.backward(r)!.toArray();
      return { y, dx, grads: l.params().map((p) => p.grad.toArray()), sparse: l.meanWasSparse };
    };
    const sparse = run(1), dense = run(0.05);
    expect(sparse.sparse).toBe(true);
    expect(dense.sparse).toBe(false); // about 10% kept is above the limit: the dense path ran
    expectClose(sparse.y, dense.y, 1e-5, 'y');
    expectClose(sparse.dx, dense.dx, 1e-5, 'dx');
    sparse.grads.forEach((g, i) => expectClose(g, dense.grads[i], 1e-5, `grad ${i}`));
  });
});
