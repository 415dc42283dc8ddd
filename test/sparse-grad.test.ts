// Backward products through the nonzeros of the output gradient (assembly/sparse_grad.ts): the
// CSR of dy's nonzeros, the backward-filter and backward-data kernels (SIMD vs scalar twin bit for
// bit, both vs an f64 reference) over conv and dense geometries, and the layers that use them
// (finite differences, and agreement with the dense products).
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ShapeError } from '../src/errors.js';
import { Layer } from '../src/layers/layer.js';
import { LrtLayer, SparseVDConv2d, SparseVDDense, VariationalDropoutConv2d } from '../src/layers/bayesian.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import { WeightLayer } from '../src/layers/weight.js';
import { lrtBackward, lrtBackwardRows } from '../src/ops/bayes.js';
import { ConvProduct, CsrBuffers as RowsCsr, backwardDataRows, backwardFilterRows, keptCsr, rowsCsr, sparseBackwardRows } from '../src/ops/sparse.js';
import { gradCheck, lcg, randomArray } from './util/gradcheck.js';
import { expectClose } from './util/kernel.js';

/** The ten sizes of a product, flat, as the references below read them. */
interface SparseGeometry { h: number; w: number; c: number; f: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number }
/** The product type of ops/sparse.ts for a flat geometry. */
function prod(g: SparseGeometry): ConvProduct {
  return { input: [g.h, g.w, g.c], filters: g.f, geometry: { kernel: [g.kh, g.kw], stride: [g.sh, g.sw], pad: [g.ph, g.pw] } };
}

const rt = Runtime.createSync();

function newCsr(m: number, f: number): RowsCsr {
  return { rowPtr: Tensor.zeros([m + 1], rt), colIdx: Tensor.zeros([m * f + f + 4], rt), val: Tensor.zeros([m * f + f + 4], rt), nnz: 0 };
}
const u32 = (t: Tensor, n: number) => new Uint32Array(t.view().buffer, t.ptr, n);

/** g [m, f] with each entry nonzero with probability `density`. */
function sparseArray(n: number, density: number, rnd: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) if (rnd() < density) a[i] = rnd() * 2 - 1 || 0.5;
  return a;
}

describe('rowsCsr (csr_rows_nonzero_f32)', () => {
  it.each([[1, 1, 1], [3, 4, 0.5], [5, 7, 0.3], [7, 20, 0.15], [2, 50, 1], [4, 3, 0], [9, 9, 0.6]])('g [%i, %i] at density %f: SIMD and scalar twin list exactly the nonzeros', (m, f, density) => {
    const rnd = lcg(m * 17 + f);
    const a = sparseArray(m * f, density, rnd);
    if (m * f > 4) {
      a[1] = -0; // −0 is zero
      a[m * f - 1] = NaN; // NaN is not
    }
    const g = Tensor.zeros([m, f], rt);
    g.view().set(a); // Tensor.from refuses the NaN
    for (const scalar of [false, true]) {
      const csr = newCsr(m, f);
      const nnz = rowsCsr(g, csr, scalar);
      expect(csr.nnz).toBe(nnz);
      const rp = u32(csr.rowPtr, m + 1), ci = u32(csr.colIdx, nnz), v = csr.val.view().subarray(0, nnz);
      let p = 0;
      expect(rp[0]).toBe(0);
      for (let r = 0; r < m; r++) {
        for (let j = 0; j < f; j++) {
          const x = a[r * f + j];
          if (x === 0) continue;
          expect(ci[p], `row ${r} entry ${p}`).toBe(j);
          expect(Object.is(v[p], x) || (Number.isNaN(v[p]) && Number.isNaN(x))).toBe(true);
          p++;
        }
        expect(rp[r + 1]).toBe(p);
      }
      expect(nnz).toBe(p);
      if (density === 0) expect(nnz).toBe(m * f > 4 ? 1 : 0); // just the NaN
    }
  });

  it('stops past the cap (-1), in room for the cap', () => {
    const m = 6, f = 5, a = sparseArray(m * f, 0.5, lcg(3));
    const g = Tensor.from(a, [m, f], rt);
    const nnz = rowsCsr(g, newCsr(m, f));
    for (const scalar of [false, true]) {
      for (const cap of [0, nnz - 1, nnz, nnz + 3]) {
        const room = Math.min(cap, m * f) + f + 4;
        const csr = { rowPtr: Tensor.zeros([m + 1], rt), colIdx: Tensor.zeros([room], rt), val: Tensor.zeros([room], rt), nnz: 0 };
        expect(rowsCsr(g, csr, scalar, cap), `cap ${cap}`).toBe(cap >= nnz ? nnz : -1);
        expect(csr.nnz).toBe(cap >= nnz ? nnz : -1);
      }
    }
    // A list stopped at its cap holds only its first rows: the products refuse it.
    const stopped = newCsr(m, f);
    expect(rowsCsr(g, stopped, false, 0)).toBe(-1);
    const geo: SparseGeometry = { h: 1, w: 1, c: 3, f, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 };
    expect(() => backwardFilterRows(prod(geo), Tensor.zeros([m, 3], rt), stopped, Tensor.zeros([f, 3], rt))).toThrow(/complete list/);
    expect(() => backwardDataRows(prod(geo), stopped, Tensor.zeros([f, 3], rt), Tensor.zeros([m, 3], rt))).toThrow(/complete list/);
    expect(() => lrtBackwardRows(stopped, Tensor.zeros([m, f], rt), Tensor.zeros([m, f], rt))).toThrow(/complete list/);
  });

  it('rejects buffers without room for the four-lane stores, and bad caps', () => {
    const g = Tensor.zeros([3, 4], rt);
    const csr = { rowPtr: Tensor.zeros([4], rt), colIdx: Tensor.zeros([12 + 7], rt), val: Tensor.zeros([12 + 8], rt), nnz: 0 };
    expect(() => rowsCsr(g, csr)).toThrow(ShapeError);
    expect(() => rowsCsr(Tensor.zeros([5], rt), newCsr(1, 5))).toThrow(ShapeError);
    expect(() => rowsCsr(g, newCsr(3, 4), false, -1)).toThrow(/cap/);
    expect(() => rowsCsr(g, newCsr(3, 4), false, 1.5)).toThrow(/cap/);
  });
});

describe('lrtBackwardRows (lrt_backward_rows_f32)', () => {
  it.each([[1, 1, 1], [6, 5, 0.2], [9, 20, 0.1], [4, 50, 1], [3, 7, 0]])('dy [%i, %i] at density %f: the listed values become dv, bit for bit as the dense kernel', (m, f, density) => {
    const rnd = lcg(m * 7 + f);
    const dy = Tensor.from(sparseArray(m * f, density, rnd), [m, f], rt);
    const eps = Tensor.from(randomArray(m * f, rnd, -3, 3), [m, f], rt);
    const std = Tensor.from(randomArray(m * f, rnd, 0.01, 2), [m, f], rt);
    const dv = Tensor.zeros([m, f], rt);
    lrtBackward(dy, eps, std, dv);
    const csr = newCsr(m, f);
    const nnz = rowsCsr(dy, csr);
    lrtBackwardRows(csr, eps, std);
    const rp = u32(csr.rowPtr, m + 1), ci = u32(csr.colIdx, nnz), v = csr.val.toArray(), want = dv.toArray();
    for (let r = 0; r < m; r++) for (let q = rp[r]; q < rp[r + 1]; q++) expect(Object.is(v[q], want[r * f + ci[q]]), `row ${r} col ${ci[q]}`).toBe(true);
    // Everything off the list is 0 in dv.
    let listed = 0;
    for (let i = 0; i < m * f; i++) if (want[i] !== 0) listed++;
    expect(listed).toBeLessThanOrEqual(nnz);
    expect(() => lrtBackwardRows(newCsr(m - 1, f), eps, std)).toThrow(ShapeError);
  });
});

/** f64 references of the two products for dy [N, OH, OW, F]: dWᵀ [F, K] and dx [N, H, W, C] (wT [F, K]). */
function reference(g: SparseGeometry, n: number, x: Float32Array, dy: Float32Array, wT: Float32Array) {
  const oh = Math.floor((g.h + 2 * g.ph - g.kh) / g.sh) + 1, ow = Math.floor((g.w + 2 * g.pw - g.kw) / g.sw) + 1;
  const k = g.kh * g.kw * g.c;
  const dwT = new Float64Array(g.f * k), dx = new Float64Array(x.length);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
    const iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
    if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
    for (let c = 0; c < g.c; c++) for (let f = 0; f < g.f; f++) {
      const kk = (ky * g.kw + kx) * g.c + c;
      const gy = dy[((b * oh + oy) * ow + ox) * g.f + f], xi = ((b * g.h + iy) * g.w + ix) * g.c + c;
      dwT[f * k + kk] += x[xi] * gy;
      dx[xi] += wT[f * k + kk] * gy;
    }
  }
  return { dwT, dx, oh, ow };
}

describe('backward products through the nonzeros of dy', () => {
  // [h, w, c, f, kh, kw, sh, sw, ph, pw]: runs of 1 to 100 floats (SIMD body and tails), strides,
  // padding that clips runs (and, with pad 3, leaves some outputs a single tap), a dense layer.
  const geometries: [string, number[]][] = [
    ['LeNet-5 conv1 (C = 1, runs of 5)', [10, 9, 1, 5, 5, 5, 1, 1, 0, 0]],
    ['LeNet-5 conv2 (C = 20, runs of 100)', [8, 8, 20, 6, 5, 5, 1, 1, 0, 0]],
    ['3x3, stride 2, pad 1, C = 3', [7, 7, 3, 4, 3, 3, 2, 2, 1, 1]],
    ['3x2, strides 1/2, pads 2/0, C = 4', [6, 5, 4, 3, 3, 2, 1, 2, 2, 0]],
    ['5x5 same, C = 8', [5, 5, 8, 6, 5, 5, 1, 1, 2, 2]],
    ['4x4, stride 3, pad 3, C = 2', [9, 9, 2, 9, 4, 4, 3, 3, 3, 3]],
    ['dense 13 -> 7', [1, 1, 13, 7, 1, 1, 1, 1, 0, 0]],
  ];
  for (const [name, dims] of geometries) {
    const [h, w, c, f, kh, kw, sh, sw, ph, pw] = dims;
    const g: SparseGeometry = { h, w, c, f, kh, kw, sh, sw, ph, pw };
    it.each([0, 0.15, 1])(`${name}, dy density %f: SIMD = scalar twin bit for bit, both = f64 reference`, (density) => {
      const n = 3, rnd = lcg(h * 131 + c * 7 + f + density * 1000);
      const xa = randomArray(n * h * w * c, rnd), k = kh * kw * c;
      const wa = randomArray(f * k, rnd);
      const oh = Math.floor((h + 2 * ph - kh) / sh) + 1, ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
      const dya = sparseArray(n * oh * ow * f, density, rnd);
      const x = Tensor.from(xa, h === 1 && w === 1 ? [n, c] : [n, h, w, c], rt);
      const dy = Tensor.from(dya, [n * oh * ow, f], rt);
      const wT = Tensor.from(wa, [f, k], rt);
      const csr = newCsr(n * oh * ow, f);
      rowsCsr(dy, csr);
      const ref = reference(g, n, xa, dya, wa);
      const out: Record<string, Float32Array[]> = { dwT: [], dx: [] };
      for (const scalar of [false, true]) {
        out.dwT.push(backwardFilterRows(prod(g), x, csr, Tensor.from(randomArray(f * k, rnd), [f, k], rt), false, scalar).toArray());
        out.dx.push(backwardDataRows(prod(g), csr, wT, Tensor.from(randomArray(x.size, rnd), x.shape, rt), false, scalar).toArray());
      }
      expect(Array.from(new Uint32Array(out.dwT[0].buffer))).toEqual(Array.from(new Uint32Array(out.dwT[1].buffer)));
      expect(Array.from(new Uint32Array(out.dx[0].buffer))).toEqual(Array.from(new Uint32Array(out.dx[1].buffer)));
      expectClose(out.dwT[0], ref.dwT, 1e-5, 'dWT');
      expectClose(out.dx[0], ref.dx, 1e-5, 'dx');
      if (density === 0) {
        expect(out.dwT[0].every((v) => v === 0)).toBe(true);
        expect(out.dx[0].every((v) => v === 0)).toBe(true);
      }
      // accumulate adds onto what was there.
      const prior = randomArray(f * k, rnd);
      const acc = backwardFilterRows(prod(g), x, csr, Tensor.from(prior, [f, k], rt), true).toArray();
      expectClose(acc, Array.from(ref.dwT, (v, i) => v + prior[i]), 1e-5, 'dWT accumulated');
      const priorX = randomArray(x.size, rnd);
      const accX = backwardDataRows(prod(g), csr, wT, Tensor.from(priorX, x.shape, rt), true).toArray();
      expectClose(accX, Array.from(ref.dx, (v, i) => v + priorX[i]), 1e-5, 'dx accumulated');

      // The sparse mean product's backward with dy sparse too: M [K, F] keeping about a third of
      // its entries (output 0 keeps none), against the f64 reference restricted to the kept ones.
      const M = Float32Array.from(wa.map((_, e) => wa[(e % f) * k + Math.floor(e / f)])); // M[kk, fo] = Wᵀ[fo, kk]
      const la = Float32Array.from(M, (_, e) => (e % f !== 0 && rnd() < 0.35 ? -1 : 4));
      const kept = { rowPtr: Tensor.zeros([f + 1], rt), colIdx: Tensor.zeros([k * f], rt), val: Tensor.zeros([k * f], rt), liveRows: Tensor.zeros([k + 1], rt) };
      const nnzW = keptCsr(Tensor.from(M, [k, f], rt), Tensor.from(la, [k, f], rt), 3, kept);
      const refK = reference(g, n, xa, dya, Float32Array.from(wa, (v, e) => (la[(e % k) * f + Math.floor(e / k)] < 3 ? v : 0)));
      const dval = Tensor.zeros([Math.max(1, nnzW)], rt), dxk = Tensor.from(randomArray(x.size, rnd), x.shape, rt);
      sparseBackwardRows(prod(g), x, { ...kept, nnz: nnzW }, csr, dval, dxk);
      const rp = u32(kept.rowPtr, f + 1), ci = u32(kept.colIdx, nnzW);
      const wantVal: number[] = [];
      for (let fo = 0; fo < f; fo++) for (let p = rp[fo]; p < rp[fo + 1]; p++) wantVal.push(refK.dwT[fo * k + ci[p]]);
      expectClose(dval.toArray().subarray(0, nnzW), wantVal, 1e-5, 'dval');
      expectClose(dxk.toArray(), refK.dx, 1e-5, 'dx through the kept weights');
    });
  }

  it('checks shapes', () => {
    const g: SparseGeometry = { h: 4, w: 4, c: 2, f: 3, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 };
    const csr = newCsr(2 * 4, 3);
    rowsCsr(Tensor.zeros([8, 3], rt), csr);
    expect(() => backwardFilterRows(prod(g), Tensor.zeros([2, 4, 4, 3], rt), csr, Tensor.zeros([3, 18], rt))).toThrow(ShapeError);
    expect(() => backwardFilterRows(prod(g), Tensor.zeros([2, 4, 4, 2], rt), csr, Tensor.zeros([3, 17], rt))).toThrow(ShapeError);
    expect(() => backwardDataRows(prod(g), csr, Tensor.zeros([3, 18], rt), Tensor.zeros([3, 4, 4, 2], rt))).toThrow(ShapeError);
    expect(() => backwardDataRows(prod(g), csr, Tensor.zeros([2, 18], rt), Tensor.zeros([2, 4, 4, 2], rt))).toThrow(ShapeError);
  });
});

function built<T extends Layer>(l: T, inputShape: number[]): T {
  l.index = 2;
  l.build(inputShape, rt, 4321);
  return l;
}

describe('layers on the sparse-gradient path', () => {
  it('SparseVDConv2d (3x3, stride 2, pad 1): finite differences with every product through the nonzeros', () => {
    const l = built(new SparseVDConv2d({ filters: 3, kernelSize: 3, stride: 2, padding: 1, sparseGradLimit: 1 }), [6, 5, 2]);
    gradCheck(l, rt, [2, 6, 5, 2], { withKl: true, h: 1e-3 });
    expect(l.gradSparseProducts).toBe(2);
  });
  it('SparseVDDense: finite differences with every product through the nonzeros', () => {
    const l = built(new SparseVDDense({ units: 6, sparseGradLimit: 1 }), [9]);
    gradCheck(l, rt, [4, 9], { withKl: true, h: 1e-3 });
    expect(l.gradSparseProducts).toBe(2);
  });
  it('SparseVDDense after a pass that skipped zero input columns: finite differences through the nonzeros (full input)', () => {
    const l = built(new SparseVDDense({ units: 5, sparseGradLimit: 1 }), [12]);
    gradCheck(l, rt, [4, 12], { withKl: true, h: 1e-3, zeroColumns: [0, 3, 4, 7, 8, 11] });
    expect(l.gradSparseProducts).toBe(2);
  });
  it('VariationalDropoutConv2d (5x5 same): finite differences with every product through the nonzeros', () => {
    const l = built(new VariationalDropoutConv2d({ filters: 2, kernelSize: 5, padding: 'same', sparseGradLimit: 1 }), [5, 6, 3]);
    gradCheck(l, rt, [2, 5, 6, 3], { withKl: true, h: 1e-3 });
    expect(l.gradSparseProducts).toBe(2);
  });

  const training = { training: true, sample: false, seed: 5, step: 1 };
  const deterministic = { training: false, sample: false, seed: 5, step: 1 };
  it.each([
    ['SparseVDConv2d, training', (limit: number) => new SparseVDConv2d({ filters: 4, kernelSize: 3, padding: 1, sparseGradLimit: limit }), [6, 6, 3], [3, 6, 6, 3], training, 2],
    // Kept weights few and dy sparse: the mean product's backward runs per (nonzero, kept weight).
    ['SparseVDConv2d, masked training on the sparse mean path', (limit: number) => new SparseVDConv2d({ filters: 4, kernelSize: 5, sparseMeanLimit: 1, sparseGradLimit: limit }), [8, 8, 2], [2, 8, 8, 2], training, 2],
    ['SparseVDConv2d (pad 2), masked training on the sparse mean path', (limit: number) => new SparseVDConv2d({ filters: 3, kernelSize: 5, padding: 2, sparseMeanLimit: 1, sparseGradLimit: limit }), [6, 7, 3], [2, 6, 7, 3], training, 2],
    ['SparseVDConv2d, deterministic', (limit: number) => new SparseVDConv2d({ filters: 4, kernelSize: 3, sparseGradLimit: limit }), [6, 6, 3], [3, 6, 6, 3], deterministic, 1],
    ['SparseVDDense, training', (limit: number) => new SparseVDDense({ units: 12, sparseGradLimit: limit }), [10], [5, 10], training, 2],
    // x with all-zero columns: the forward packs the live ones, the sparse products read all.
    ['SparseVDDense, training, zero input columns', (limit: number) => new SparseVDDense({ units: 12, sparseGradLimit: limit }), [16], [5, 16], training, 2],
  ] as const)('%s: a max-pool-shaped dy gives the dense products\' results through its nonzeros', (_n, make, inShape, xShape, ctx, products) => {
    const run = (limit: number) => {
      const l = built(make(limit), [...inShape]) as LrtLayer;
      const xa = randomArray(xShape.reduce((a, b) => a * b, 1), lcg(2));
      if (_n.includes('zero input columns')) for (let i = 0; i < xa.length; i++) if (i % 16 < 7) xa[i] = 0;
      const x = Tensor.from(xa, [...xShape], rt);
      const y = l.forward(x, { ...ctx }).toArray();
      // One output in four nonzero, as behind a 2x2 max-pool.
      const rnd = lcg(3);
      const r = Tensor.from(sparseArray(y.length, 0.25, rnd), [xShape[0], ...l.outputShape], rt);
      for (const p of l.params()) p.grad.view().fill(0);
      const dx = l.backward(r)!.toArray();
      return { y, dx, grads: l.params().map((p) => p.grad.toArray()), products: l.gradSparseProducts };
    };
    const rows = run(0.5), dense = run(0);
    expect(rows.products).toBe(products);
    expect(dense.products).toBe(0);
    expectClose(rows.y, dense.y, 0, 'y');
    expectClose(rows.dx, dense.dx, 1e-5, 'dx');
    rows.grads.forEach((g, i) => expectClose(g, dense.grads[i], 1e-5, `grad ${i}`));
  });

  it('a dy denser than the limit takes the dense products', () => {
    const l = built(new SparseVDConv2d({ filters: 4, kernelSize: 3, sparseGradLimit: 0.25 }), [6, 6, 3]);
    const x = Tensor.from(randomArray(3 * 6 * 6 * 3, lcg(4)), [3, 6, 6, 3], rt);
    const y = l.forward(x, { training: true, sample: false, seed: 1, step: 1 });
    l.backward(Tensor.from(sparseArray(y.size, 0.6, lcg(5)), y.shape, rt));
    expect(l.gradSparseProducts).toBe(0);
    expect(() => new SparseVDDense({ units: 3, sparseGradLimit: 1.5 })).toThrow(/sparseGradLimit/);
  });
});

describe('plain weight layers on the sparse-gradient path', () => {
  it('Conv2d (3x3, stride 2, pad 1) and Dense (with and without zero input columns): finite differences through the nonzeros', () => {
    const c = built(new Conv2d({ filters: 3, kernelSize: 3, stride: 2, padding: 1, sparseGradLimit: 1 }), [6, 5, 2]);
    gradCheck(c, rt, [2, 6, 5, 2], { h: 1e-2 });
    expect(c.gradWasSparse).toBe(true);
    const d = built(new Dense({ units: 5, sparseGradLimit: 1 }), [7]);
    gradCheck(d, rt, [3, 7], { h: 1e-2 });
    expect(d.gradWasSparse).toBe(true);
    const z = built(new Dense({ units: 5, sparseGradLimit: 1 }), [12]);
    gradCheck(z, rt, [3, 12], { h: 1e-2, zeroColumns: [1, 2, 5, 6, 9, 10] });
    expect(z.gradWasSparse).toBe(true);
  });

  it.each([
    ['Conv2d 5x5', (limit: number) => new Conv2d({ filters: 6, kernelSize: 5, sparseGradLimit: limit }), [9, 9, 4], [2, 9, 9, 4]],
    ['Conv2d 3x3 same, stride 1', (limit: number) => new Conv2d({ filters: 5, kernelSize: 3, padding: 'same', sparseGradLimit: limit }), [6, 7, 3], [3, 6, 7, 3]],
    ['Dense', (limit: number) => new Dense({ units: 9, sparseGradLimit: limit }), [11], [6, 11]],
  ] as const)('%s: a max-pool-shaped dy gives the dense products\' results, added onto the gradients already there', (_n, make, inShape, xShape) => {
    const run = (limit: number) => {
      const l = built(make(limit), [...inShape]) as WeightLayer;
      const x = Tensor.from(randomArray(xShape.reduce((a, b) => a * b, 1), lcg(6)), [...xShape], rt);
      const y = l.forward(x, { training: true, sample: false, seed: 1, step: 1 });
      const r = Tensor.from(sparseArray(y.size, 0.25, lcg(7)), y.shape, rt);
      const prior = lcg(8);
      for (const p of l.params()) p.grad.view().set(randomArray(p.grad.size, prior));
      const dx = l.backward(r)!.toArray();
      return { dx, grads: l.params().map((p) => p.grad.toArray()), sparse: l.gradWasSparse };
    };
    const rows = run(0.5), dense = run(0);
    expect(rows.sparse).toBe(true);
    expect(dense.sparse).toBe(false);
    expectClose(rows.dx, dense.dx, 1e-5, 'dx');
    rows.grads.forEach((g, i) => expectClose(g, dense.grads[i], 1e-5, `grad ${i}`));
  });
});
