import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ArgumentError, ModelFormatError, ShapeError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import { GroupSparseVDDense, SparseVDConv2d, SparseVDDense, VariationalDropoutDense } from '../src/layers/bayesian.js';
import { Activation, ReLU, Softmax } from '../src/layers/activation.js';
import { Dropout } from '../src/layers/dropout.js';
import { MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { conv2d } from '../src/ops/conv.js';
import { Csr, SparseMatrix, SparseModel, csrFromWeights, prune, sparseConv2d, spmm, transpose } from '../src/sparse.js';
import { BATCH1_DENSE_FROM } from '../src/ops/spmm.js';
import { writeContainer } from '../src/io.js';
import { saveModel } from '../src/model.js';
import { lcg, randomArray } from './util/gradcheck.js';

const rt = Runtime.createSync();

/** A random [k, m] weight matrix (row-major, y = x·W) keeping each entry with probability `density`. */
function sparseWeights(k: number, m: number, density: number, rnd: () => number): Float32Array {
  const w = new Float32Array(k * m);
  for (let i = 0; i < w.length; i++) if (rnd() < density) w[i] = rnd() * 2 - 1;
  return w;
}

/** f64 reference of Y[m, n] = Wᵀ·X + bias, X [k, n] feature-major. */
function refSpmm(w: Float32Array, k: number, m: number, x: Float32Array, n: number, bias: Float32Array | null): Float64Array {
  const y = new Float64Array(m * n);
  for (let j = 0; j < m; j++) for (let b = 0; b < n; b++) {
    let s = bias ? bias[j] : 0;
    for (let i = 0; i < k; i++) s += w[i * m + j] * x[i * n + b];
    y[j * n + b] = s;
  }
  return y;
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('spmm_f32_csr: SIMD vs scalar twin vs f64 reference', () => {
  const rnd = lcg(7);
  const cases: [number, number, number, number][] = [];
  for (const [k, m] of [[1, 1], [7, 5], [300, 100], [33, 17]]) {
    for (const n of [1, 3, 4, 5, 16, 17, 33, 100]) for (const d of [0, 0.05, 0.5, 1]) cases.push([k, m, n, d]);
  }
  it.each(cases)('k=%i m=%i n=%i density=%f', (k, m, n, d) => {
    const w = sparseWeights(k, m, d, rnd);
    const a = SparseMatrix.fromWeights(w, k, m, rt);
    const x = Tensor.from(randomArray(k * n, rnd), [k, n], rt);
    const bias = Tensor.from(randomArray(m, rnd), [m], rt);
    const y = spmm(a, x, { bias });
    const ys = spmm(a, x, { bias, scalar: true });
    expect(Array.from(y.view())).toEqual(Array.from(ys.view())); // bit-identical: same summation order
    expectClose(y.view(), refSpmm(w, k, m, x.view(), n, bias.view()), 1e-5);
    for (const t of [x, bias, y, ys]) t.dispose();
    a.dispose();
  });

  it('edge structures: all-zero matrix, one nonzero, empty rows, no bias, zero rows', () => {
    const x = Tensor.from(randomArray(6 * 17, lcg(3)), [6, 17], rt);
    // all zero: y = bias
    const z = SparseMatrix.fromWeights(new Float32Array(6 * 4), 6, 4, rt);
    expect(z.nnz).toBe(0);
    const bias = Tensor.from([1, 2, 3, 4], [4], rt);
    const yz = spmm(z, x, { bias }).view();
    for (let j = 0; j < 4; j++) for (let b = 0; b < 17; b++) expect(yz[j * 17 + b]).toBe(j + 1);
    // one nonzero at (input 5, output 2)
    const w1 = new Float32Array(6 * 4);
    w1[5 * 4 + 2] = -2;
    const one = SparseMatrix.fromWeights(w1, 6, 4, rt);
    const y1 = spmm(one, x).view(), xv = x.view();
    for (let b = 0; b < 17; b++) {
      expect(y1[2 * 17 + b]).toBe(Math.fround(-2 * xv[5 * 17 + b]));
      expect(y1[0 * 17 + b]).toBe(0);
    }
    // zero output rows (m = 0) and zero columns (n = 0)
    const empty = SparseMatrix.fromCsr({ rows: 0, cols: 6, rowPtr: new Uint32Array([0]), colIdx: new Uint16Array(0), values: new Float32Array(0) }, rt);
    expect(spmm(empty, x).shape).toEqual([0, 17]);
    expect(spmm(one, Tensor.zeros([6, 0], rt)).shape).toEqual([4, 0]);
  });

  it('u32 column indices (more than 65536 columns) and unsorted indices', () => {
    const k = 70000, m = 3, n = 5, rnd = lcg(11);
    const csr: Csr = { rows: m, cols: k, rowPtr: new Uint32Array([0, 2, 2, 5]), colIdx: new Uint32Array([69999, 3, 65536, 0, 40000]), values: new Float32Array([0.5, -1, 2, 3, -0.25]) };
    const a = SparseMatrix.fromCsr(csr, rt);
    expect(a.wide).toBe(true);
    const xs = randomArray(k * n, rnd);
    const x = Tensor.from(xs, [k, n], rt);
    const y = spmm(a, x).toArray(), ys = spmm(a, x, { scalar: true }).toArray();
    expect(Array.from(y)).toEqual(Array.from(ys));
    for (let b = 0; b < n; b++) {
      expect(y[b]).toBeCloseTo(0.5 * xs[69999 * n + b] - xs[3 * n + b], 5);
      expect(y[n + b]).toBe(0);
      expect(y[2 * n + b]).toBeCloseTo(2 * xs[65536 * n + b] + 3 * xs[b] - 0.25 * xs[40000 * n + b], 5);
    }
    expect(a.toCsr().colIdx).toEqual(csr.colIdx);
  });

  it('rejects bad CSR structures and bad arguments with typed errors; the runtime stays usable', () => {
    const ok = (): Csr => ({ rows: 2, cols: 3, rowPtr: new Uint32Array([0, 1, 2]), colIdx: new Uint16Array([0, 2]), values: new Float32Array([1, 2]) });
    const bads: [string, (c: Csr) => void][] = [
      ['index out of range', (c) => (c.colIdx[1] = 3)],
      ['nnz mismatch', (c) => (c.rowPtr[2] = 1)],
      ['decreasing row pointers', (c) => { c.rowPtr[1] = 2; c.rowPtr[2] = 1; }],
      ['NaN value', (c) => (c.values[0] = NaN)],
    ];
    for (const [, f] of bads) {
      const c = ok();
      f(c);
      expect(() => SparseMatrix.fromCsr(c, rt)).toThrow(ArgumentError);
    }
    expect(() => SparseMatrix.fromCsr({ ...ok(), colIdx: new Uint32Array([0, 2]) }, rt)).toThrow(ArgumentError);
    const a = SparseMatrix.fromCsr(ok(), rt);
    expect(() => spmm(a, Tensor.zeros([4, 2], rt))).toThrow(ShapeError);
    expect(() => spmm(a, Tensor.zeros([3, 2], rt), { bias: Tensor.zeros([3], rt) })).toThrow(ShapeError);
    const x = Tensor.zeros([3, 2], rt);
    expect(() => spmm(a, x, { out: x.reshape([2, 3]) })).toThrow(ShapeError);
    expect(() => spmm(a, x, { out: Tensor.zeros([3, 2], rt) })).toThrow(ShapeError);
    const y = spmm(a, Tensor.from([1, 2, 3, 4, 5, 6], [3, 2], rt));
    expect(Array.from(y.view())).toEqual([1, 2, 10, 12]);
    a.dispose();
    expect(() => spmm(a, x)).toThrow(ArgumentError);
  });
});

describe('spmv_f32_csc (batch 1 by columns, zero inputs skipped): SIMD vs scalar twin vs the CSR kernels vs f64', () => {
  const rnd = lcg(19);
  /** x [k, 1] with about half its entries 0 (some −0) when `zeros`, runs of zeros included. */
  const input = (k: number, zeros: boolean): Float32Array => {
    const x = randomArray(k, rnd);
    if (zeros) for (let i = 0; i < k; i++) if (rnd() < 0.5 || (i >> 3) % 3 === 0) x[i] = rnd() < 0.2 ? -0 : 0;
    return x;
  };
  const bitsOf = (t: Tensor) => Array.from(new Uint32Array(t.toArray().buffer));
  /** The CSC kernels' outputs (SIMD via spmm at n = 1, the scalar twin directly) and the CSR twin's. */
  const run = (a: SparseMatrix, xs: Float32Array, bias: Tensor | undefined) => {
    const x = Tensor.from(xs, [a.cols, 1], rt);
    const y = spmm(a, x, { bias }), yr = spmm(a, x, { bias, scalar: true });
    const c = a.byColumns();
    const ys = Tensor.zeros([a.rows, 1], rt);
    if (c) rt.k.spmv_f32_csc_scalar(a.rows, a.cols, c.colPtr, c.rowIdx, c.values, x.ptr, bias ? bias.ptr : 0, ys.ptr);
    const r = { y: bitsOf(y), ys: bitsOf(ys), csr: bitsOf(yr), f: Array.from(y.view()), byColumns: c !== null };
    for (const t of [x, y, yr, ys]) t.dispose();
    return r;
  };
  const cases: [number, number, number, boolean][] = [];
  for (const [k, m] of [[1, 1], [3, 4], [4, 3], [7, 5], [8, 8], [33, 17], [300, 100], [784, 6]]) {
    for (const d of [0, 0.05, 0.5, 1]) for (const zeros of [false, true]) cases.push([k, m, d, zeros]);
  }
  it.each(cases)('k=%i m=%i density=%f zero inputs=%s', (k, m, d, zeros) => {
    const w = sparseWeights(k, m, d, rnd);
    const a = SparseMatrix.fromWeights(w, k, m, rt);
    const xs = input(k, zeros);
    for (const bias of [Tensor.from(randomArray(m, rnd), [m], rt), undefined]) {
      const r = run(a, xs, bias);
      expect(r.byColumns).toBe(true);
      expect(r.y).toEqual(r.ys); // SIMD = scalar twin
      expect(r.y).toEqual(r.csr); // = the CSR kernel's bits (its rows ascend)
      expectClose(r.f, refSpmm(w, k, m, xs, 1, bias ? bias.view() : null), 1e-5);
      bias?.dispose();
    }
    a.dispose();
  });

  it('u32 column indices; more than 65536 rows or unsorted rows (the CSR kernel then runs)', () => {
    const m = 70000, k = 5;
    const wide: Csr = { rows: m, cols: k, rowPtr: new Uint32Array(m + 1), colIdx: new Uint16Array(3), values: new Float32Array([0.5, -1, 2]) };
    wide.rowPtr.fill(1, 3).fill(2, 65538).fill(3, 69999);
    wide.colIdx.set([4, 0, 2]);
    const a = SparseMatrix.fromCsr(wide, rt);
    const r = run(a, new Float32Array([1, 0, 3, 0, 5]), undefined);
    expect(r.byColumns).toBe(false);
    expect(r.y).toEqual(r.csr);
    expect([r.f[2], r.f[65537], r.f[69998], r.f[69999]]).toEqual([2.5, -1, 6, 0]);
    a.dispose();
    const cols: Csr = { rows: 3, cols: 70000, rowPtr: new Uint32Array([0, 2, 2, 4]), colIdx: new Uint32Array([3, 69999, 0, 65536]), values: new Float32Array([0.5, -1, 2, 3]) };
    const b = SparseMatrix.fromCsr(cols, rt);
    const xb = input(70000, true);
    xb[3] = 1;
    const rb = run(b, xb, undefined);
    expect(rb.byColumns).toBe(true);
    expect(rb.y).toEqual(rb.ys);
    expect(rb.y).toEqual(rb.csr);
    b.dispose();
    const unsorted = SparseMatrix.fromCsr({ ...cols, colIdx: new Uint32Array([69999, 3, 0, 65536]) }, rt);
    const ru = run(unsorted, xb, undefined);
    expect(ru.byColumns).toBe(false);
    expect(ru.y).toEqual(ru.csr);
    unsorted.dispose();
  });

  it('the dense Aᵀ of batch 1 (from 1/16 kept): scattered in wasm memory; none, and its block freed, when a row\'s columns do not ascend', () => {
    const csr: Csr = { rows: 3, cols: 4, rowPtr: new Uint32Array([0, 2, 3, 5]), colIdx: new Uint16Array([1, 3, 0, 0, 2]), values: new Float32Array([0.5, -1, 2, 3, -0.25]) };
    const a = SparseMatrix.fromCsr(csr, rt);
    const d = a.byDenseColumns()!;
    expect(d).not.toBeNull();
    // Aᵀ [4, 3]: entry (c, r) = A[r, c], zeros elsewhere.
    expect(Array.from(rt.f32.subarray(d >>> 2, (d >>> 2) + 12))).toEqual([0, 2, 3, 0.5, 0, 0, 0, 0, -0.25, -1, 0, 0]);
    const xs = new Float32Array([1, 0, -2, 4]);
    const r = run(a, xs, undefined);
    expect(r.y).toEqual(r.csr);
    a.dispose();
    const blocks = rt.heap.liveBlocks;
    const b = SparseMatrix.fromCsr({ ...csr, colIdx: new Uint16Array([3, 1, 0, 0, 2]) }, rt);
    expect(b.byDenseColumns()).toBeNull();
    expect(rt.heap.liveBlocks).toBe(blocks + 3); // its three CSR arrays only
    const rb = run(b, xs, undefined);
    expect(rb.y).toEqual(rb.csr);
    b.dispose();
    expect(rt.heap.liveBlocks).toBe(blocks);
  });

  it('zero rows or columns, and a disposed matrix', () => {
    const e = SparseMatrix.fromCsr({ rows: 0, cols: 4, rowPtr: new Uint32Array([0]), colIdx: new Uint16Array(0), values: new Float32Array(0) }, rt);
    expect(spmm(e, Tensor.from([1, 2, 3, 4], [4, 1], rt)).shape).toEqual([0, 1]);
    const z = SparseMatrix.fromCsr({ rows: 3, cols: 0, rowPtr: new Uint32Array([0, 0, 0, 0]), colIdx: new Uint16Array(0), values: new Float32Array(0) }, rt);
    expect(Array.from(spmm(z, Tensor.zeros([0, 1], rt), { bias: Tensor.from([1, -2, 3], [3], rt) }).view())).toEqual([1, -2, 3]);
    z.dispose();
    e.dispose();
    expect(() => e.byColumns()).toThrow(ArgumentError);
  });
});

describe('transpose_f32', () => {
  it.each([[1, 1], [3, 5], [4, 4], [7, 9], [17, 3], [8, 100]])('%i x %i: SIMD = scalar = reference', (r, c) => {
    const x = Tensor.from(randomArray(r * c, lcg(r * 31 + c)), [r, c], rt);
    const y = transpose(x), ys = transpose(x, { scalar: true });
    expect(y.shape).toEqual([c, r]);
    const xv = x.view(), yv = y.view();
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) expect(yv[j * r + i]).toBe(xv[i * c + j]);
    expect(Array.from(ys.view())).toEqual(Array.from(yv));
  });
});

describe('conv2d_sparse_f32_nhwc: SIMD vs scalar twin vs dense conv2d', () => {
  const geoms: [string, number[], number, [number, number], [number, number], [number, number], number][] = [
    ['5x5 valid LeNet-like', [2, 12, 12, 1], 6, [5, 5], [1, 1], [0, 0], 0.3],
    ['3x3 pad 1', [3, 7, 6, 3], 5, [3, 3], [1, 1], [1, 1], 0.5],
    ['3x3 stride 2 pad 2', [1, 9, 8, 2], 4, [3, 3], [2, 2], [2, 2], 0.2],
    ['1x1', [3, 4, 5, 7], 3, [1, 1], [1, 1], [0, 0], 0.4],
    ['rect 2x3 stride (1, 2)', [2, 6, 9, 2], 3, [2, 3], [1, 2], [1, 0], 1],
    ['all zero weights', [1, 5, 5, 2], 2, [3, 3], [1, 1], [1, 1], 0],
    ['single nonzero', [17, 4, 4, 1], 1, [2, 2], [1, 1], [0, 0], 0.26],
    // One image, column stride 1, rows of ≥ 4 outputs: the direct path (odd row and column counts, padding, row stride).
    ['batch 1 direct: LeNet-5 conv2 shape', [1, 12, 12, 20], 35, [5, 5], [1, 1], [0, 0], 0.15],
    ['batch 1 direct: 3x3 pad 1, 7 rows of 9', [1, 7, 9, 3], 5, [3, 3], [1, 1], [1, 1], 0.5],
    ['batch 1 direct: row stride 2, pad (2, 1)', [1, 9, 6, 2], 4, [3, 2], [2, 1], [2, 1], 0.4],
    ['batch 1 direct: 4 rows of exactly 4', [1, 4, 6, 1], 3, [1, 3], [1, 1], [0, 0], 1],
    ['batch 1, u32 column indices (65537 taps: the im2col path)', [1, 1, 5, 65537], 2, [1, 1], [1, 1], [0, 0], 0.001],
    ['batch 1, rows of 3 (im2col path)', [1, 5, 5, 2], 2, [3, 3], [1, 1], [0, 0], 0.5],
  ];
  it.each(geoms)('%s', (_name, xs, f, kernel, stride, pad, density) => {
    const rnd = lcg(xs[1] * 131 + f);
    const [n, h, w, c] = xs;
    const K = kernel[0] * kernel[1] * c;
    let wv = sparseWeights(K, f, density, rnd);
    if (_name === 'single nonzero') {
      wv = new Float32Array(K * f);
      wv[3 * f] = 1.5;
    }
    const mat = SparseMatrix.fromWeights(wv, K, f, rt);
    const x = Tensor.from(randomArray(n * h * w * c, rnd), xs, rt);
    const bias = Tensor.from(randomArray(f, rnd), [f], rt);
    const g = { kernel, stride, pad };
    const y = sparseConv2d(x, mat, g, { bias });
    const ys = sparseConv2d(x, mat, g, { bias, scalar: true });
    expect(Array.from(y.view())).toEqual(Array.from(ys.view()));
    const dense = conv2d(x, Tensor.from(wv, [kernel[0], kernel[1], c, f], rt), { stride, pad, bias });
    expect(y.shape).toEqual(dense.shape);
    expectClose(y.view(), dense.view(), 1e-5);
  });

  it('a batch large enough for several im2col chunks', () => {
    const rnd = lcg(5);
    const xs = [64, 14, 14, 8];
    const f = 16, K = 3 * 3 * 8;
    const wv = sparseWeights(K, f, 0.1, rnd);
    const x = Tensor.from(randomArray(xs.reduce((a, b) => a * b), rnd), xs, rt);
    const g = { kernel: [3, 3] as [number, number], stride: [1, 1] as [number, number], pad: [1, 1] as [number, number] };
    const mat = SparseMatrix.fromWeights(wv, K, f, rt);
    const y = sparseConv2d(x, mat, g), ys = sparseConv2d(x, mat, g, { scalar: true });
    expect(Array.from(y.view())).toEqual(Array.from(ys.view()));
  });
});

/** Push log α of a random fraction of a Sparse VD layer's weights far above the threshold. */
function dropSome(model: Sequential, fraction: number, seed: number): void {
  const rnd = lcg(seed);
  for (const p of model.params()) {
    if (!p.name.endsWith('/logSigma2')) continue;
    const v = p.value.view();
    for (let i = 0; i < v.length; i++) v[i] = rnd() < fraction ? 4 : -10;
  }
}

describe('prune()', () => {
  it('LeNet-300-100-like Sparse VD model: same outputs as predict, CSR layers, smaller file', () => {
    const model = new Sequential({
      inputShape: [64], seed: 3,
      layers: [new SparseVDDense({ units: 40 }), new ReLU(), new Dropout({ rate: 0.2 }), new SparseVDDense({ units: 20 }), new ReLU(), new SparseVDDense({ units: 10 })],
    });
    dropSome(model, 0.9, 1);
    // Kill all incoming weights of hidden unit 3 and outgoing weights of unit 7 of the first layer.
    const th1 = model.params()[0].value.view(), th2 = model.params()[3].value.view();
    for (let i = 0; i < 64; i++) th1[i * 40 + 3] = 0;
    for (let j = 0; j < 20; j++) th2[7 * 20 + j] = 0;
    const x = randomArray(17 * 64, lcg(9), 0, 1);
    const sm = prune(model);
    const info = sm.summary();
    expect(info.map((s) => s.kind)).toEqual(['sparse', 'activation', 'sparse', 'activation', 'sparse']);
    expect(info[0].outputShape[0]).toBeLessThan(40); // dead units removed
    const kept = model.sparsity().reduce((a, s) => a + s.kept, 0);
    expect(sm.nnz).toBeLessThanOrEqual(kept);
    expect(sm.compression).toBeGreaterThan(5);
    for (const bs of [1, 3, 17]) expectClose(sm.predict(x, { batchSize: bs }), model.predict(x), 1e-5);
    expect(Array.from(sm.predictClasses(x))).toEqual(Array.from(model.predictClasses(x)));
    expectClose(sm.predictProba(x), model.predictProba(x), 1e-5);
    // File: round-trip bit for bit, and much smaller than the dense model file.
    const bytes = sm.save();
    expect(bytes.length).toBeLessThan(saveModel(model).length / 5);
    const back = SparseModel.load(bytes, { runtime: rt });
    expect(Array.from(back.predict(x))).toEqual(Array.from(sm.predict(x)));
    expect(back.nnz).toBe(sm.nnz);
    expect(back.compression).toBe(sm.compression);
  });

  it('conv model with batch norm, pooling, group sparsity, VD and a dense layer kept dense', () => {
    const model = new Sequential({
      inputShape: [10, 10, 2], seed: 5,
      layers: [
        new SparseVDConv2d({ filters: 6, kernelSize: 3, padding: 1 }), new BatchNorm(), new ReLU(), new MaxPool2d({ poolSize: 2 }),
        new Conv2d({ filters: 4, kernelSize: 3 }), new Activation({ kind: 'leakyRelu', alpha: 0.1 }), new Flatten(),
        new GroupSparseVDDense({ units: 12 }), new Activation('tanh'), new VariationalDropoutDense({ units: 8 }), new Activation('sigmoid'),
        new Dense({ units: 5 }), new Softmax(),
      ],
    });
    dropSome(model, 0.85, 2);
    const bn = model.layers[1] as BatchNorm;
    bn.setRunningStats(new Float32Array([0.1, -0.2, 0.3, 0, 0.5, -0.1]), new Float32Array([1.5, 0.5, 2, 1, 0.7, 1.2]));
    // Group sparsity: units 2 and 9 dropped (their log α above 3), i.e. constant outputs folded away.
    const gla = model.layers[7].params().find((p) => p.name.endsWith('/logAlpha'))!.value.view();
    gla[2] = 5;
    gla[9] = 6;
    const x = randomArray(3 * 200, lcg(4));
    const sm = prune(model);
    const kinds = sm.summary().map((s) => s.kind);
    expect(kinds).toEqual(['sparseConv', 'batchNorm', 'activation', 'maxPool', 'conv', 'activation', 'flatten', 'dense', 'activation', 'dense', 'activation', 'dense', 'softmax']);
    expect(sm.summary()[7].outputShape).toEqual([10]);
    for (const bs of [1, 2, 3]) expectClose(sm.predict(x, { batchSize: bs }), model.predict(x), 1e-5);
    // Everything sparse when asked.
    const all = prune(model, { sparseBelow: 1 });
    expect(all.summary().filter((s) => s.kind === 'sparse' || s.kind === 'sparseConv').length).toBe(5);
    expectClose(all.predict(x), model.predict(x), 1e-5);
    const back = SparseModel.load(all.save(), { runtime: rt });
    expect(Array.from(back.predict(x))).toEqual(Array.from(all.predict(x)));
  });

  it('rejects what it cannot prune', () => {
    expect(() => prune({} as Sequential)).toThrow(ArgumentError);
    const m = new Sequential({ inputShape: [4], layers: [new Dense({ units: 2 })] });
    expect(() => prune(m, { sparseBelow: 2 })).toThrow(ArgumentError);
  });
});

/* ------------------------------------------------------------------ hostile sparse files */

function parse(bytes: Uint8Array): { header: Record<string, any>; payload: Uint8Array } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const hl = dv.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(24, 24 + hl)));
  const start = Math.ceil((24 + hl) / 16) * 16;
  return { header, payload: bytes.slice(start) };
}

/** Rewrite a file after `edit`, with fresh checksums (so the deeper checks are reached). */
function rewrap(bytes: Uint8Array, edit: (h: Record<string, any>, p: DataView) => void): Uint8Array {
  const { header, payload } = parse(bytes);
  edit(header, new DataView(payload.buffer));
  return writeContainer('VDSP', 1, header, payload);
}

describe('SparseModel.load rejects hostile files with ModelFormatError', () => {
  const model = new Sequential({ inputShape: [20], seed: 2, layers: [new SparseVDDense({ units: 8 }), new ReLU(), new SparseVDDense({ units: 3 })] });
  dropSome(model, 0.8, 3);
  // The full encoding (version 2) whose CSR arrays the cases edit; sparse-file.test.ts edits version 4's.
  const good = prune(model, { dropUnits: false, sparseBelow: 1 }).saveLegacy();
  const x = randomArray(2 * 20, lcg(1));
  const expected = Array.from(SparseModel.load(good, { runtime: rt }).predict(x));
  const seg = (h: Record<string, any>, step: number, f: string) => h.steps[step].csr[f];

  const cases: [string, (h: Record<string, any>, p: DataView) => void][] = [
    ['column index out of range', (h, p) => p.setUint16(seg(h, 0, 'colIdx').offset, 20, true)],
    ['nnz mismatch', (h) => (h.steps[0].csr.nnz += 1)],
    ['row pointer past nnz', (h, p) => p.setUint32(seg(h, 0, 'rowPtr').offset + 4 * 8, 9999, true)],
    ['decreasing row pointers', (h, p) => p.setUint32(seg(h, 0, 'rowPtr').offset + 4, 9999, true)],
    ['NaN weight', (h, p) => p.setFloat32(seg(h, 2, 'values').offset, NaN, true)],
    ['overlapping segments', (h) => (h.steps[2].csr.values.offset = h.steps[0].csr.values.offset)],
    ['segment outside the payload', (h) => (h.steps[0].bias.offset = 1 << 30)],
    ['negative offset', (h) => (h.steps[0].bias.offset = -16)],
    ['unaligned offset', (h) => (h.steps[0].bias.offset += 4)],
    ['huge units', (h) => (h.steps[0].units = 2 ** 27)],
    ['inputs not chaining', (h) => (h.steps[2].inputs = 7)],
    ['unknown step kind', (h) => (h.steps[1].kind = 'gelu')],
    ['unknown activation', (h) => (h.steps[1].activation = 'swish')],
    ['wrong types', (h) => (h.steps[0].units = '8')],
    ['steps not an array', (h) => (h.steps = { length: 3 })],
    ['bad input shape', (h) => (h.inputShape = [-20])],
    ['wrong format', (h) => (h.format = 'vardrop-model')],
  ];
  it('a conv step claiming a huge kernel', () => {
    const cm = new Sequential({ inputShape: [6, 6, 1], seed: 1, layers: [new SparseVDConv2d({ filters: 2, kernelSize: 3 }), new Flatten(), new Dense({ units: 2 })] });
    const file = prune(cm, { sparseBelow: 1 }).save();
    const edits: ((h: Record<string, any>) => void)[] = [
      (h) => { h.steps[0].geometry.kernel = [1 << 20, 1 << 20]; h.steps[0].geometry.pad = [1 << 20, 1 << 20]; },
      (h) => (h.steps[0].filters = 1 << 23),
      (h) => (h.steps[0].geometry.stride = [0, 1]),
    ];
    for (const e of edits) expect(() => SparseModel.load(rewrap(file, e), { runtime: rt })).toThrow(ModelFormatError);
    expect(SparseModel.load(file, { runtime: rt }).predict(new Float32Array(36)).length).toBe(2);
  });
  it.each(cases)('%s', (_name, edit) => {
    const live = rt.heap.liveBlocks;
    expect(() => SparseModel.load(rewrap(good, edit), { runtime: rt })).toThrow(ModelFormatError);
    expect(rt.heap.liveBlocks).toBe(live);
  });

  it('truncated at many points, flipped bytes, bad magic and version', () => {
    for (let n = 0; n < good.length; n += 7) expect(() => SparseModel.load(good.subarray(0, n), { runtime: rt })).toThrow(ModelFormatError);
    for (let i = 0; i < good.length; i += 11) {
      const b = good.slice();
      b[i] ^= 0x10;
      expect(() => SparseModel.load(b, { runtime: rt })).toThrow(ModelFormatError);
    }
    const m = good.slice();
    m[0] = 0x58;
    expect(() => SparseModel.load(m, { runtime: rt })).toThrow(/magic/);
    const v = good.slice();
    v[4] = 5; // versions 1 to 4 are known
    expect(() => SparseModel.load(v, { runtime: rt })).toThrow(ModelFormatError);
    expect(() => SparseModel.load(v, { runtime: rt })).toThrow(/version/);
    expect(() => SparseModel.load(new Uint8Array(0), { runtime: rt })).toThrow(ModelFormatError);
    expect(() => SparseModel.load([1, 2] as unknown as Uint8Array, { runtime: rt })).toThrow(ArgumentError);
    // Still usable.
    expect(Array.from(SparseModel.load(good, { runtime: rt }).predict(x))).toEqual(expected);
  });

  it('names the field, the expectation and what came', () => {
    try {
      SparseModel.load(rewrap(good, (h, p) => p.setUint16(seg(h, 0, 'colIdx').offset, 20, true)), { runtime: rt });
      expect.unreachable();
    } catch (e) {
      const err = e as ModelFormatError;
      expect(err.argument).toBe('header.steps[0].csr.colIdx[0]');
      expect(err.expected).toBe('< 20 columns');
      expect(err.received).toBe('20');
    }
  });
});

describe('csrFromWeights', () => {
  it('is Wᵀ with rows per output', () => {
    // W [3 inputs, 2 outputs]
    const c = csrFromWeights(new Float32Array([1, 0, 0, 2, 3, 0]), 3, 2);
    expect(Array.from(c.rowPtr)).toEqual([0, 2, 3]);
    expect(Array.from(c.colIdx)).toEqual([0, 2, 1]);
    expect(Array.from(c.values)).toEqual([1, 3, 2]);
  });
});

describe('spmm at n = 1: dense Aᵀ from BATCH1_DENSE_FROM kept, by columns below, the same bits', () => {
  it.each([[0.02, 'spmv_f32_csc'], [0.3, 'gemv_f32_skip_zeros']])('density %f runs %s', (d, kernel) => {
    const rnd = lcg(23);
    const k = 200, m = 40;
    const w = sparseWeights(k, m, d, rnd);
    const a = SparseMatrix.fromWeights(w, k, m, rt);
    expect(a.nnz >= BATCH1_DENSE_FROM * k * m).toBe(kernel === 'gemv_f32_skip_zeros');
    const xs = randomArray(k, rnd).map((v, i) => (i % 3 === 0 ? 0 : v));
    const x = Tensor.from(xs, [k, 1], rt), bias = Tensor.from(randomArray(m, rnd), [m], rt);
    const real = rt.k as unknown as Record<string, unknown>, calls: string[] = [];
    const owner = rt as unknown as { k: unknown };
    owner.k = Object.fromEntries(Object.entries(real).map(([n, f]) => [n, typeof f === 'function' ? (...v: number[]) => (calls.push(n), (f as (...u: number[]) => unknown)(...v)) : f]));
    let y: Tensor;
    try {
      y = spmm(a, x, { bias });
    } finally {
      owner.k = real;
    }
    expect(calls.filter((c) => c !== 'csr_columns_f32' && c !== 'csr_dense_t_f32')).toEqual([kernel]); // the column copy or dense Aᵀ is set up on first use
    const yr = spmm(a, x, { bias, scalar: true });
    expect(Array.from(new Uint32Array(y.toArray().buffer))).toEqual(Array.from(new Uint32Array(yr.toArray().buffer)));
    for (const t of [x, bias, y, yr]) t.dispose();
    a.dispose();
  });
});
