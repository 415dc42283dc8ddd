import { ArgumentError, ShapeError } from '../errors.js';
import { Tensor, fmtShape } from '../tensor.js';
import { checkShape, checkTensor } from './check.js';
import type { ConvGeometry } from './conv.js';
import { outDim } from './geometry.js';

// Tensor-level wrappers of assembly/sparse_train.ts (and the forward of assembly/sparse.ts): the
// sparse mean path of masked Sparse VD training. Internal to the layers: src/index.ts exports none.
//
// The CSR of the kept weights lives in four tensors used as raw storage: `rowPtr` ([F + 1]),
// `colIdx` ([K·F]) and `liveRows` ([K + 1]: how many inputs have a kept weight, then which) hold
// u32 words, not floats; `val` ([K·F]) holds the kept means. They are scratch buffers of the
// owning layer and never leave it.

/**
 * A linear map as the sparse kernels see it: x [N, H, W, C] ⊛ W [KH, KW, C, F] through the
 * window `geometry` (NHWC), or a dense layer as the 1×1 convolution of a 1×1 image with
 * C = inputs (see {@link denseProduct}).
 */
export interface ConvProduct {
  /** Per-sample input [H, W, C]. */
  input: readonly [number, number, number];
  /** Output channels F (units of a dense layer). */
  filters: number;
  geometry: ConvGeometry;
}

/** The product of a dense layer [inputs] → [units]: a 1×1 convolution of a 1×1 image. */
export function denseProduct(inputs: number, units: number): ConvProduct {
  return { input: [1, 1, inputs], filters: units, geometry: { kernel: [1, 1], stride: [1, 1], pad: [0, 0] } };
}

/**
 * A CSR matrix held in tensors of a layer's scratch (wasm memory): `rowPtr` ([rows + 1]) and
 * `colIdx` hold u32 words, not floats; `val` the values. The kept weights of a masked layer
 * (over its F outputs, with `liveRows`: how many inputs have a kept weight, then which) and the
 * nonzeros of an output gradient (over its rows) are both this type. The host-side form, for
 * files and the API, is `Csr` (ops/spmm.ts).
 */
export interface CsrBuffers {
  rowPtr: Tensor;
  colIdx: Tensor;
  val: Tensor;
  /** Kept-weight lists only: [K + 1], the live input rows. */
  liveRows?: Tensor;
  /** Entries listed (−1: {@link rowsCsr} stopped at its cap). */
  nnz: number;
}

/** The ten sizes every sparse kernel takes, in their order: h, w, c, f, kh, kw, sh, sw, ph, pw. */
function dims(g: ConvProduct): [number, number, number, number, number, number, number, number, number, number] {
  const [h, w, c] = g.input, { kernel: [kh, kw], stride: [sh, sw], pad: [ph, pw] } = g.geometry;
  return [h, w, c, g.filters, kh, kw, sh, sw, ph, pw];
}

function fanIn(g: ConvProduct): number {
  return g.geometry.kernel[0] * g.geometry.kernel[1] * g.input[2];
}

function outDims(g: ConvProduct): [number, number] {
  const [h, w] = g.input, { kernel: [kh, kw], stride: [sh, sw], pad: [ph, pw] } = g.geometry;
  return [outDim(h, kh, sh, ph), outDim(w, kw, sw, pw)];
}

/** Batch size of x, checked against the geometry (x [N, H, W, C], or [N, C] for a dense layer). */
function batchOf(name: string, x: Tensor, g: ConvProduct): number {
  checkTensor(name, x);
  const [h, w, c] = g.input;
  const n = x.shape[0];
  if (x.shape.length < 2 || x.size !== n * h * w * c) throw new ShapeError(name, `[N, ${h}, ${w}, ${c}] (or [N, ${c}] for a dense layer)`, fmtShape(x.shape));
  return n;
}

/**
 * CSR of the entries of M [K, F] whose logAlpha is below `threshold` (the weights kept by a
 * masked Sparse VD layer), with their M values. `csr`'s tensors need room for F + 1 offsets and
 * K·F entries. Returns the number kept.
 */
export function keptCsr(m: Tensor, logAlpha: Tensor, threshold: number, csr: Omit<Required<CsrBuffers>, 'nnz'>): number {
  if (m.shape.length < 2) throw new ShapeError('m', '[..., F] with rank ≥ 2', fmtShape(m.shape));
  const f = m.shape[m.shape.length - 1], k = m.size / f;
  checkShape('logAlpha', logAlpha, m.shape);
  if (Number.isNaN(threshold)) throw new ArgumentError('threshold', 'a number', 'NaN');
  if (csr.rowPtr.size < f + 1) throw new ShapeError('rowPtr', `at least ${f + 1} elements`, `${csr.rowPtr.size}`);
  if (csr.colIdx.size < m.size || csr.val.size < m.size) throw new ShapeError('colIdx/val', `at least ${m.size} elements`, `${Math.min(csr.colIdx.size, csr.val.size)}`);
  if (csr.liveRows.size < k + 1) throw new ShapeError('liveRows', `at least ${k + 1} elements`, `${csr.liveRows.size}`);
  return m.rt.k.csr_t_from_mask_f32(k, f, m.ptr, logAlpha.ptr, threshold, csr.rowPtr.ptr, csr.colIdx.ptr, csr.val.ptr, csr.liveRows.ptr);
}

/** out [K, F] = 0 except out at the kept entries = src[p] (the p-th entry of `csr`). */
export function scatterKept(csr: CsrBuffers, src: Tensor, out: Tensor): Tensor {
  const f = out.shape[out.shape.length - 1], k = out.size / f;
  if (src.size < csr.nnz) throw new ShapeError('src', `at least ${csr.nnz} elements`, `${src.size}`);
  out.rt.k.csr_t_scatter_f32(k, f, csr.rowPtr.ptr, csr.colIdx.ptr, src.ptr, out.ptr);
  return out;
}

/** out [N, OH, OW, F] (or [N, F]) = x ⊛ M through the kept entries only. */
export function sparseForward(g: ConvProduct, x: Tensor, csr: CsrBuffers, out: Tensor): Tensor {
  const n = batchOf('x', x, g);
  const [oh, ow] = outDims(g);
  if (out.size !== n * oh * ow * g.filters) throw new ShapeError('out', `${n * oh * ow * g.filters} elements`, fmtShape(out.shape));
  const k = x.rt.k;
  const scratch = x.rt.workspace(Math.max(16, k.conv2d_sparse_scratch_bytes(n, ...dims(g))));
  k.conv2d_sparse_f32_nhwc(n, ...dims(g),
    csr.rowPtr.ptr, csr.colIdx.ptr, 1, csr.val.ptr, csr.liveRows!.ptr, x.ptr, 0, out.ptr, scratch);
  return out;
}

/**
 * Backward of {@link sparseForward} given dy: dval[p] (overwritten) = ∂/∂M at the p-th kept
 * entry, and dx (overwritten, unless null) = the input gradient through the kept weights.
 * `scalar` runs the direct scalar twin (the test oracle).
 */
export function sparseBackward(g: ConvProduct, x: Tensor, dy: Tensor, csr: CsrBuffers, dval: Tensor, dx: Tensor | null, scalar = false): void {
  const n = batchOf('x', x, g);
  const [oh, ow] = outDims(g);
  if (dy.size !== n * oh * ow * g.filters) throw new ShapeError('dy', `${n * oh * ow * g.filters} elements`, fmtShape(dy.shape));
  if (dx && dx.size !== x.size) throw new ShapeError('dx', `${x.size} elements (${fmtShape(x.shape)})`, fmtShape(dx.shape));
  if (dval.size < csr.nnz) throw new ShapeError('dval', `at least ${csr.nnz} elements`, `${dval.size}`);
  if (csr.val.size < csr.nnz || fanIn(g) * g.filters < csr.nnz) throw new ShapeError('csr', `at most ${fanIn(g) * g.filters} entries`, `${csr.nnz}`);
  const k = x.rt.k;
  dval.view().fill(0, 0, csr.nnz);
  const scratch = scalar ? 0 : x.rt.workspace(Math.max(16, k.conv2d_sparse_backward_scratch_bytes(n, ...dims(g))));
  (scalar ? k.conv2d_sparse_backward_f32_nhwc_scalar : k.conv2d_sparse_backward_f32_nhwc)(n, ...dims(g),
    csr.rowPtr.ptr, csr.colIdx.ptr, csr.val.ptr, csr.liveRows!.ptr, x.ptr, dy.ptr, dval.ptr, dx ? dx.ptr : 0, scratch);
}

/* -------------------------------------------------- products with a sparse output gradient */

/**
 * CSR over the rows of g ([..., F], any rank ≥ 2, read as [M, F]) of its nonzero entries (NaN
 * counts as nonzero), into `csr`'s tensors. Listing stops once more than `cap` entries (default:
 * all of g) are found: the return value (also left in `csr.nnz`) is then −1, else the number of
 * entries. `csr` needs room for M + 1 offsets and min(cap, M·F) + F + 4 entries.
 */
export function rowsCsr(g: Tensor, csr: CsrBuffers, scalar = false, cap = g.size): number {
  checkTensor('g', g);
  if (g.shape.length < 2) throw new ShapeError('g', '[..., F] with rank ≥ 2', fmtShape(g.shape));
  if (!Number.isInteger(cap) || cap < 0) throw new ArgumentError('cap', 'an integer ≥ 0', String(cap));
  const f = g.shape[g.shape.length - 1], m = g.size / f;
  const room = Math.min(cap, g.size) + f + 4;
  if (csr.rowPtr.size < m + 1) throw new ShapeError('rowPtr', `at least ${m + 1} elements`, `${csr.rowPtr.size}`);
  if (csr.colIdx.size < room || csr.val.size < room) throw new ShapeError('colIdx/val', `at least ${room} elements`, `${Math.min(csr.colIdx.size, csr.val.size)}`);
  const k = g.rt.k;
  csr.nnz = (scalar ? k.csr_rows_nonzero_f32_scalar : k.csr_rows_nonzero_f32)(m, f, g.ptr, csr.rowPtr.ptr, csr.colIdx.ptr, csr.val.ptr, Math.min(cap, g.size));
  return csr.nnz;
}

/** A list that {@link rowsCsr} stopped at its cap holds only its first rows: refuse it. */
export function checkCompleteRows(csr: { nnz: number }): void {
  if (!(Number.isInteger(csr.nnz) && csr.nnz >= 0)) {
    throw new ArgumentError('csr', 'a complete list of nonzeros (nnz ≥ 0 from rowsCsr)', csr.nnz === -1 ? 'a list stopped at its cap (nnz −1)' : `nnz ${csr.nnz}`);
  }
}

function checkCsrBuffers(g: ConvProduct, n: number, csr: CsrBuffers): void {
  checkCompleteRows(csr);
  const [oh, ow] = outDims(g);
  const m = n * oh * ow;
  if (csr.rowPtr.size < m + 1) throw new ShapeError('csr.rowPtr', `at least ${m + 1} elements (N·OH·OW + 1)`, `${csr.rowPtr.size}`);
}

/**
 * One of the two paired kernels of assembly/sparse_grad.ts: `image` is x (filter) or dx (data),
 * named `imageName`; `mat` the [F, KH·KW·C] matrix dWᵀ (filter, written) or Wᵀ (data, read).
 */
function rowsProduct(kind: 'filter' | 'data', g: ConvProduct, csr: CsrBuffers, image: Tensor, imageName: string, mat: Tensor, matName: string,
  accumulate: boolean, scalar: boolean): void {
  const n = batchOf(imageName, image, g);
  checkCsrBuffers(g, n, csr);
  if (mat.size !== g.filters * fanIn(g)) throw new ShapeError(matName, `${g.filters * fanIn(g)} elements ([F, KH·KW·C])`, fmtShape(mat.shape));
  const k = image.rt.k;
  const kernel = kind === 'filter'
    ? (scalar ? k.conv2d_backward_filter_rows_f32_scalar : k.conv2d_backward_filter_rows_f32)
    : (scalar ? k.conv2d_backward_data_rows_f32_scalar : k.conv2d_backward_data_rows_f32);
  const [a, b] = kind === 'filter' ? [image, mat] : [mat, image];
  kernel(n, ...dims(g), csr.rowPtr.ptr, csr.colIdx.ptr, csr.val.ptr, a.ptr, b.ptr, accumulate ? 1 : 0);
}

/**
 * dWᵀ [F, KH·KW·C] (overwritten, or added to with `accumulate`) = the backward-filter product of
 * the map `g` on input x [N, H, W, C] (or [N, C]) for the output gradient listed in `csr`
 * ({@link rowsCsr} of dy [N, OH, OW, F]). Transposed layout: W itself is [KH, KW, C, F].
 */
export function backwardFilterRows(g: ConvProduct, x: Tensor, csr: CsrBuffers, dwT: Tensor, accumulate = false, scalar = false): Tensor {
  rowsProduct('filter', g, csr, x, 'x', dwT, 'dwT', accumulate, scalar);
  return dwT;
}

/**
 * dx [N, H, W, C] (or [N, C]; overwritten, or added to with `accumulate`) = the backward-data
 * product of the map `g` with weights Wᵀ [F, KH·KW·C] for the output gradient listed in `csr`.
 */
export function backwardDataRows(g: ConvProduct, csr: CsrBuffers, wT: Tensor, dx: Tensor, accumulate = false, scalar = false): Tensor {
  rowsProduct('data', g, csr, dx, 'dx', wT, 'wT', accumulate, scalar);
  return dx;
}

/** out [cols, rows] = x read as [rows, cols], transposed (x any shape with rows·cols elements). */
export function transposeInto(x: Tensor, rows: number, cols: number, out: Tensor): Tensor {
  checkTensor('x', x);
  if (x.size !== rows * cols || out.size !== rows * cols) throw new ShapeError('x/out', `${rows * cols} elements`, `${x.size}/${out.size}`);
  x.rt.k.transpose_f32(rows, cols, x.ptr, cols, out.ptr, rows);
  return out;
}

/**
 * Backward of {@link sparseForward} when dy is sparse too: `grad` lists dy's nonzeros
 * ({@link rowsCsr} of dy [N, OH, OW, F]), `csr` the kept weights. dval[p] (overwritten) = ∂/∂M
 * at the p-th kept entry, dx (overwritten, unless null) = the input gradient through the kept
 * weights. Costs one multiply-add per (nonzero of dy, kept weight of its output).
 */
export function sparseBackwardRows(g: ConvProduct, x: Tensor, csr: CsrBuffers, grad: CsrBuffers, dval: Tensor, dx: Tensor | null): void {
  const n = batchOf('x', x, g);
  checkCsrBuffers(g, n, grad);
  if (dx && dx.size !== x.size) throw new ShapeError('dx', `${x.size} elements (${fmtShape(x.shape)})`, fmtShape(dx.shape));
  if (dval.size < csr.nnz) throw new ShapeError('dval', `at least ${csr.nnz} elements`, `${dval.size}`);
  if (csr.val.size < csr.nnz || fanIn(g) * g.filters < csr.nnz) throw new ShapeError('csr', `at most ${fanIn(g) * g.filters} entries`, `${csr.nnz}`);
  const k = x.rt.k;
  const scratch = x.rt.workspace(k.conv2d_sparse_backward_rows_scratch_bytes(csr.nnz, grad.nnz, g.filters));
  k.conv2d_sparse_backward_rows_f32(n, ...dims(g),
    csr.rowPtr.ptr, csr.colIdx.ptr, csr.val.ptr, grad.rowPtr.ptr, grad.colIdx.ptr, grad.val.ptr, x.ptr, dval.ptr, dx ? dx.ptr : 0, scratch);
}
