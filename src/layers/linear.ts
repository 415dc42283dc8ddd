import { ArgumentError, ShapeError } from '../errors.js';
import { matmul } from '../ops/gemm.js';
import { add } from '../ops/elementwise.js';
import { pairOption } from '../ops/check.js';
import { conv2d, conv2dBackwardData, conv2dBackwardFilter } from '../ops/conv.js';
import { windowOutputSize } from '../ops/geometry.js';
import { gatherColumns, gatherRows, nonzeroColumns, scatterRows } from '../ops/gather.js';
import {
  ConvProduct, CsrBuffers, backwardDataRows, backwardFilterRows, denseProduct, keptCsr, rowsCsr, scatterKept,
  sparseBackward, sparseBackwardRows, sparseForward, transposeInto,
} from '../ops/sparse.js';
import type { ConvGeometry } from '../ops/conv.js';
import { Shape, Tensor, fmtShape } from '../tensor.js';

/**
 * The linear map under a weight layer: a dense product or a 2-D convolution. Dense,
 * Conv2d and every Bayesian layer are a {@link LinearMap} plus how they make their weights,
 * so forward/backward of the map is written once.
 */
export interface LinearMap {
  /** Shape of the weight tensor. */
  readonly weightShape: Shape;
  /** Per-sample output shape. */
  readonly outputShape: Shape;
  /** Inputs feeding one output (for initialisation). */
  readonly fanIn: number;
  /** Outputs fed by one input (for initialisation). */
  readonly fanOut: number;
  /** out = x ⊛ w (+ bias). */
  forward(x: Tensor, w: Tensor, bias: Tensor | undefined, out: Tensor): void;
  /** dx (=|+=) dy ⊛ᵀ w. */
  backwardData(dy: Tensor, w: Tensor, dx: Tensor, accumulate: boolean): void;
  /** dw (=|+=) x ⋆ dy. */
  backwardFilter(x: Tensor, dy: Tensor, dw: Tensor, accumulate: boolean): void;
  /** The window of a convolution (undefined for a dense map). */
  readonly geometry?: ConvGeometry;
  /** The map as the sparse kernels see it (a dense map is a 1×1 convolution of a 1×1 image). */
  product(): ConvProduct;
}

/** y[b, out] = x[b, in]·W[in, out]. */
export class DenseMap implements LinearMap {
  readonly weightShape: Shape;
  readonly outputShape: Shape;
  readonly fanIn: number;
  readonly fanOut: number;

  constructor(inputShape: Shape, units: number) {
    if (inputShape.length !== 1) throw new ShapeError('inputShape', '[features] (add a Flatten layer before a dense layer)', fmtShape(inputShape));
    this.weightShape = [inputShape[0], units];
    this.outputShape = [units];
    this.fanIn = inputShape[0];
    this.fanOut = units;
  }

  forward(x: Tensor, w: Tensor, bias: Tensor | undefined, out: Tensor): void {
    matmul(x, w, { bias, out });
  }

  backwardData(dy: Tensor, w: Tensor, dx: Tensor, accumulate: boolean): void {
    matmul(dy, w, { transB: true, out: dx, accumulate });
  }

  backwardFilter(x: Tensor, dy: Tensor, dw: Tensor, accumulate: boolean): void {
    matmul(x, dy, { transA: true, out: dw, accumulate });
  }

  product(): ConvProduct {
    return denseProduct(this.weightShape[0], this.weightShape[1]);
  }
}

/**
 * Dense products skip input columns that are zero in every row of the batch (an MNIST batch of
 * 100 has about a third of its 784 pixels at 0 throughout): when at most this fraction of the
 * columns is live, the layer multiplies the live ones only. Above it the gathers cost more than
 * the multiply-adds they save.
 */
export const LIVE_COLUMN_LIMIT = 0.875;

/**
 * The columns of x [batch, in] that are not all zero, packed: their indices into `idx` [in] and
 * the columns into the head of `scratch` (x's size), as a [batch, k] tensor; null (nothing
 * packed) when more than {@link LIVE_COLUMN_LIMIT} of the columns are live. The one rule of
 * {@link DenseColumnSkip} and of the inference steps that reproduce a Dense layer.
 */
export function packLiveColumns(x: Tensor, idx: Tensor, scratch: Tensor): Tensor | null {
  const k = nonzeroColumns(x, idx);
  if (k > LIVE_COLUMN_LIMIT * x.shape[1]) return null;
  return gatherColumns(x, idx, k, scratch.prefix([x.shape[0], k]));
}

/**
 * Zero-column skipping for a {@link DenseMap} in one pass: `begin(x)` finds the columns of x
 * [batch, in] that are not all zero (indices idx, k of them) and packs them into xc [batch, k];
 * `forward` and `backwardFilter` then take xc (or any [batch, k] input over the same columns,
 * such as xc ⊙ xc) and give the results of the full product bit-for-bit up to the order of the
 * sums: y = xc·W[idx], dW[idx] = xcᵀ·dy and dW = 0 on the other rows. Scratch comes from the
 * owning layer's buffers (`buf`).
 */
export class DenseColumnSkip {
  private k = 0;

  constructor(private readonly map: DenseMap, private readonly buf: (key: string, shape: Shape) => Tensor) {}

  /** The packed live columns of x, or null when too many columns are live to pay off. */
  begin(x: Tensor): Tensor | null {
    const [inDim, units] = this.map.weightShape;
    const xc = packLiveColumns(x, this.buf('skip/idx', [inDim]), this.buf('skip/x', x.shape));
    if (!xc) return null;
    this.k = xc.shape[1];
    // Room for the weight rows and the filter gradient, reused by every product of the pass.
    this.buf('skip/w', [inDim, units]);
    return xc;
  }

  /** out = xc·W[idx] (+ bias), xc [batch, k] from {@link begin} (or a map of it). */
  forward(xc: Tensor, w: Tensor, bias: Tensor | undefined, out: Tensor): void {
    const [inDim, units] = this.map.weightShape;
    const wc = gatherRows(w, this.buf('skip/idx', [inDim]), this.k, this.buf('skip/w', [inDim, units]).prefix([this.k, units]));
    matmul(xc, wc, { bias, out });
  }

  /** dw (=|+=) xcᵀ·dy on the live rows; without `accumulate` the other rows become 0. */
  backwardFilter(xc: Tensor, dy: Tensor, dw: Tensor, accumulate: boolean): void {
    const [inDim, units] = this.map.weightShape;
    const dwc = matmul(xc, dy, { transA: true, out: this.buf('skip/w', [inDim, units]).prefix([this.k, units]) });
    scatterRows(dwc, this.buf('skip/idx', [inDim]), this.k, dw, accumulate);
  }
}

/** Options of a convolution layer: square or [h, w] kernel, stride and zero padding (resolved into a {@link ConvGeometry}). */
export interface ConvOptions {
  /** Kernel size in pixels: n or [kh, kw]. */
  kernelSize: number | [number, number];
  /** Stride in pixels (default 1). */
  stride?: number | [number, number];
  /** Zero padding in pixels on each side (default 0), or `'same'` (stride 1, odd kernels). */
  padding?: number | [number, number] | 'same';
}

/** The window of a convolution's options (checked; ArgumentError naming the option). */
export function convGeometry(g: ConvOptions): ConvGeometry {
  if (g.kernelSize === undefined) throw new ArgumentError('kernelSize', 'an integer ≥ 1 or [h, w] of them', 'undefined');
  const [kh, kw] = pairOption('kernelSize', g.kernelSize, 1, 1);
  const stride = pairOption('stride', g.stride, 1, 1);
  if (g.padding !== 'same') return { kernel: [kh, kw], stride, pad: pairOption('padding', g.padding, 0, 0) };
  if (kh % 2 === 0 || kw % 2 === 0 || stride[0] !== 1 || stride[1] !== 1) {
    throw new ArgumentError('padding', "'same' only with odd kernels and stride 1", `kernel ${kh}x${kw}, stride ${stride}`);
  }
  return { kernel: [kh, kw], stride, pad: [(kh - 1) / 2, (kw - 1) / 2] };
}

/** y[b, oh, ow, f] = Σ x[b, ih, iw, c]·W[kh, kw, c, f] (NHWC). */
export class ConvMap implements LinearMap {
  readonly weightShape: Shape;
  readonly outputShape: Shape;
  readonly fanIn: number;
  readonly fanOut: number;
  readonly geometry: ConvGeometry;
  private readonly xShape: readonly [number, number, number];

  constructor(inputShape: Shape, filters: number, g: ConvOptions) {
    if (inputShape.length !== 3) throw new ShapeError('inputShape', '[height, width, channels]', fmtShape(inputShape));
    const [h, w, c] = inputShape;
    this.geometry = convGeometry(g);
    const { kernel: [kh, kw], stride, pad } = this.geometry;
    const out = windowOutputSize(h, w, kh, kw, stride[0], stride[1], pad[0], pad[1]);
    if (!out) throw new ShapeError('inputShape', `at least ${kh}x${kw} pixels after padding`, fmtShape(inputShape));
    const [oh, ow] = out;
    this.weightShape = [kh, kw, c, filters];
    this.outputShape = [oh, ow, filters];
    this.fanIn = kh * kw * c;
    this.fanOut = kh * kw * filters;
    this.xShape = [h, w, c];
  }

  forward(x: Tensor, w: Tensor, bias: Tensor | undefined, out: Tensor): void {
    conv2d(x, w, { ...this.geometry, bias, out });
  }

  backwardData(dy: Tensor, w: Tensor, dx: Tensor, accumulate: boolean): void {
    conv2dBackwardData(dy, w, dx.shape, { ...this.geometry, out: dx, accumulate });
  }

  backwardFilter(x: Tensor, dy: Tensor, dw: Tensor, accumulate: boolean): void {
    conv2dBackwardFilter(x, dy, dw.shape, { ...this.geometry, out: dw, accumulate });
  }

  product(): ConvProduct {
    return { input: this.xShape, filters: this.weightShape[3], geometry: this.geometry };
  }
}

/**
 * Kept fraction of the weights at or below which a masked Sparse VD layer multiplies its means
 * sparsely in training (see {@link SparseMeanProduct}), per kind of map. Measured on LeNet-5's
 * layers (batch 100, one sampled forward + backward, sparse against dense mean path):
 * - conv1 (5x5x1→20): 20 against 27 ms at 2% kept, 25 against 27 at 30%, even at 50%;
 * - conv2 (5x5x20→50): 36 against 55 ms at 2%, 46 against 53 at 20%, 52 against 54 at 30%,
 *   56 against 56 at 40%;
 * - the 800→500 dense layer: 10 against 15 ms at 2%, even at 20%, 18 against 15 at 30%.
 */
export const SPARSE_MEAN_LIMIT = { dense: 0.2, conv: 0.3 } as const;

/**
 * The mean product x ⊛ M of a layer whose dropped weights are exactly zero, run through the kept
 * weights only: `begin` builds the CSR of the kept entries (log α < threshold) for this pass,
 * `forward` gives x ⊛ M, `backward` gives dM (exact at the kept entries, 0 elsewhere: a dropped
 * weight's mean is the constant 0) and dx. Scratch comes from the owning layer's buffers (`buf`).
 */
export class SparseMeanProduct {
  private csr?: CsrBuffers;
  private readonly g: ConvProduct;

  constructor(private readonly map: LinearMap, private readonly buf: (key: string, shape: Shape) => Tensor) {
    this.g = map.product();
  }

  /** The default kept-fraction limit of a map ({@link SPARSE_MEAN_LIMIT}). */
  static defaultLimit(map: LinearMap): number {
    return map instanceof ConvMap ? SPARSE_MEAN_LIMIT.conv : SPARSE_MEAN_LIMIT.dense;
  }

  /** Build this pass's CSR; false (and no CSR) when more than `limit` of the weights are kept. */
  begin(M: Tensor, logAlpha: Tensor, threshold: number, limit: number): boolean {
    const ws = this.map.weightShape, size = M.size;
    const units = ws[ws.length - 1];
    const csr = {
      rowPtr: this.buf('sparse/rowPtr', [units + 1]), colIdx: this.buf('sparse/colIdx', [size]),
      val: this.buf('sparse/val', [size]), liveRows: this.buf('sparse/liveRows', [size / units + 1]),
    };
    const nnz = keptCsr(M, logAlpha, threshold, csr);
    this.csr = nnz <= limit * size ? { ...csr, nnz } : undefined;
    return this.csr !== undefined;
  }

  /** out = x ⊛ M (no bias). */
  forward(x: Tensor, out: Tensor): void {
    sparseForward(this.g, x, this.csr!, out);
  }

  /** dM = x ⋆ dy at the kept entries (0 elsewhere); dx (unless null) = dy ⊛ᵀ M, both overwritten. */
  backward(x: Tensor, dy: Tensor, dM: Tensor, dx: Tensor | null): void {
    const dval = this.buf('sparse/dval', [dM.size]);
    sparseBackward(this.g, x, dy, this.csr!, dval, dx);
    scatterKept(this.csr!, dval, dM);
  }

  /** {@link backward} for a sparse dy, given as the nonzeros a {@link SparseGradProduct} listed. */
  backwardRows(x: Tensor, grad: CsrBuffers, dM: Tensor, dx: Tensor | null): void {
    const dval = this.buf('sparse/dval', [dM.size]);
    sparseBackwardRows(this.g, x, this.csr!, grad, dval, dx);
    scatterKept(this.csr!, dval, dM);
  }
}

/**
 * Fraction of nonzero entries in an output gradient at or below which a weight layer's backward
 * multiplies through the nonzeros only (see {@link SparseGradProduct}). Behind a 2x2 max-pool at
 * most a quarter of dy is nonzero, and behind a ReLU too about an eighth. Measured on LeNet-5's
 * conv2 (batch 100, pool-shaped gradients): backward-filter 2.8 against 7.7 ms and
 * backward-data 3.1 against 7.6 at 12.5% nonzero, 5.7 and 6.0 against 7.7 at 25%; the products
 * cost nnz·K multiply-adds at about a third of the dense GEMM's rate, so they break even near 1/3.
 */
export const SPARSE_GRAD_LIMIT = 0.25;

/**
 * The two weight-side products of a backward, dW = x ⋆ dy and dx = dy ⊛ᵀ W, through the nonzero
 * entries of dy only: `begin(dy)` lists them (CSR over the output pixels) and says whether few
 * enough are nonzero to pay off; `backwardFilter` and `backwardData` then run the sparse kernels
 * (assembly/sparse_grad.ts), with the same results as the dense products up to the order of the
 * sums. Scratch comes from the owning layer's buffers (`buf`).
 */
export class SparseGradProduct {
  private readonly g: ConvProduct;
  private csr?: CsrBuffers;

  constructor(map: LinearMap, private readonly buf: (key: string, shape: Shape) => Tensor) {
    this.g = map.product();
  }

  /** List the nonzeros of dy [N, ...outputShape]; false when more than `limit` of them are nonzero. */
  begin(dy: Tensor, limit: number): boolean {
    const f = this.g.filters, m = dy.size / f;
    // The lists stop at the limit, so they never take more room than a limit's worth of entries.
    const cap = Math.floor(limit * dy.size), room = Math.min(cap, dy.size) + f + 4;
    const csr: CsrBuffers = {
      rowPtr: this.buf('grad/rowPtr', [m + 1]), colIdx: this.buf('grad/colIdx', [room]), val: this.buf('grad/val', [room]), nnz: 0,
    };
    rowsCsr(dy, csr, false, cap);
    this.csr = csr;
    return csr.nnz >= 0;
  }

  /** The nonzeros listed by the last {@link begin}. */
  get nonzeros(): CsrBuffers {
    return this.csr!;
  }

  /** dW [..., F] (=|+=) x ⋆ dy for the dy of the last {@link begin}. */
  backwardFilter(x: Tensor, dW: Tensor, accumulate = false): void {
    const k = dW.size / this.g.filters;
    const dwT = backwardFilterRows(this.g, x, this.csr!, this.buf('grad/wT', [this.g.filters, k]));
    if (!accumulate) {
      transposeInto(dwT, this.g.filters, k, dW);
      return;
    }
    add(dW, transposeInto(dwT, this.g.filters, k, this.buf('grad/w', dW.shape)), { out: dW });
  }

  /** dx (=|+=) dy ⊛ᵀ W for the dy of the last {@link begin}. */
  backwardData(W: Tensor, dx: Tensor, accumulate = false): void {
    const k = W.size / this.g.filters;
    const wT = transposeInto(W, k, this.g.filters, this.buf('grad/wT', [this.g.filters, k]));
    backwardDataRows(this.g, this.csr!, wT, dx, accumulate);
  }
}
