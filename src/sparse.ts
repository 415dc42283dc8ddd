/**
 * Pruning and sparse inference: {@link prune} turns a trained {@link Sequential} into an
 * inference-only {@link SparseModel} whose weight layers hold only the weights kept at inference.
 *
 * Storage choice: a pruned dense layer W [in, out] is kept as CSR over its OUTPUT units
 * (A = Wᵀ [out, in], one row per unit listing the input features it reads), and activations
 * between sparse layers are feature-major [features, batch]. Each nonzero is then one broadcast
 * multiplied into contiguous batch vectors, accumulated in registers, with no scatter (wasm SIMD
 * has neither gather nor scatter): see `assembly/sparse.ts`. A pruned convolution
 * W [KH, KW, C, F] is CSR A [F, KH·KW·C], run as feature-major im2col + the same product.
 * Column indices are u16 when the matrix has at most 65536 columns, else u32.
 * @module
 */
import { ArgumentError, ModelFormatError, ShapeError, checkInt, checkNumber, describe } from './errors.js';
import { Runtime, runtime } from './runtime/runtime.js';
import { Shape, Tensor, assertFinite, fmtShape, sizeOf } from './tensor.js';
import { Sequential } from './model.js';
import { checkSequential, optionsObject } from './validate.js';
import { Layer } from './layers/layer.js';
import { ConvGeometry, ConvMap } from './layers/linear.js';
import { Conv2d, Dense } from './layers/dense.js';
import { SparseVDConv2d, SparseVDDense, VariationalDropoutConv2d, VariationalDropoutDense } from './layers/bayesian.js';
import { Activation, Softmax } from './layers/activation.js';
import { Dropout, GaussianDropout } from './layers/dropout.js';
import { AvgPool2d, MaxPool2d } from './layers/pool.js';
import { Flatten } from './layers/reshape.js';
import { BatchNorm } from './layers/normalization.js';
import { ActivationKind, activation } from './ops/activation.js';
import { matmul } from './ops/gemm.js';
import { conv2d, convOutDim } from './ops/conv.js';
import { avgPool2d, maxPool2d } from './ops/pool.js';
import { batchNorm } from './ops/batchnorm.js';
import { argmaxRows, softmax } from './ops/softmax.js';
import {
  ContainerReader, MAX_ELEMENTS, PayloadWriter, bad, checkShapeField, isInt, isObject, show, writeContainer,
} from './io.js';

/* ------------------------------------------------------------------ CSR matrices */

/** A CSR matrix in plain arrays (see {@link SparseMatrix}). */
export interface Csr {
  rows: number;
  cols: number;
  /** rows + 1 offsets into colIdx/values; rowPtr[0] = 0, non-decreasing, rowPtr[rows] = nnz. */
  rowPtr: Uint32Array;
  /** Column of each nonzero, < cols (u16 when cols ≤ 65536). */
  colIdx: Uint16Array | Uint32Array;
  /** Value of each nonzero, finite. */
  values: Float32Array;
}

/**
 * Check a CSR structure; throws `Err` (ArgumentError for the API, ModelFormatError for files)
 * naming `name`'s field at fault. Column indices need not be sorted.
 */
export function checkCsr(name: string, c: Csr, Err: typeof ArgumentError | typeof ModelFormatError = ArgumentError): void {
  const { rows, cols, rowPtr, colIdx, values } = c;
  if (!isInt(rows) || rows > MAX_ELEMENTS) throw new Err(`${name}.rows`, 'a non-negative integer', describe(rows));
  if (!isInt(cols) || cols > MAX_ELEMENTS) throw new Err(`${name}.cols`, 'a non-negative integer', describe(cols));
  if (!(rowPtr instanceof Uint32Array) || rowPtr.length !== rows + 1) throw new Err(`${name}.rowPtr`, `a Uint32Array of ${rows + 1}`, describe(rowPtr));
  if (!(values instanceof Float32Array)) throw new Err(`${name}.values`, 'a Float32Array', describe(values));
  const nnz = values.length;
  const wantU16 = cols <= 65536;
  if (!(wantU16 ? colIdx instanceof Uint16Array : colIdx instanceof Uint32Array) || colIdx.length !== nnz) {
    throw new Err(`${name}.colIdx`, `a ${wantU16 ? 'Uint16Array' : 'Uint32Array'} of ${nnz} (one per value)`, describe(colIdx));
  }
  if (rowPtr[0] !== 0) throw new Err(`${name}.rowPtr[0]`, '0', String(rowPtr[0]));
  for (let i = 0; i < rows; i++) {
    if (rowPtr[i + 1] < rowPtr[i]) throw new Err(`${name}.rowPtr[${i + 1}]`, `>= rowPtr[${i}] = ${rowPtr[i]}`, String(rowPtr[i + 1]));
  }
  if (rowPtr[rows] !== nnz) throw new Err(`${name}.rowPtr[${rows}]`, `nnz = ${nnz}`, String(rowPtr[rows]));
  for (let p = 0; p < nnz; p++) {
    if (colIdx[p] >= cols) throw new Err(`${name}.colIdx[${p}]`, `< ${cols} columns`, String(colIdx[p]));
    const v = values[p];
    if (v - v !== 0) throw new Err(`${name}.values[${p}]`, 'a finite value', String(v));
  }
}

/** CSR of Wᵀ for a row-major W [k, m] (k inputs, m outputs): one row per output, its nonzero inputs. */
export function csrFromWeights(w: Float32Array, k: number, m: number): Csr {
  let nnz = 0;
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) nnz++;
  const rowPtr = new Uint32Array(m + 1);
  const colIdx = k <= 65536 ? new Uint16Array(nnz) : new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  let p = 0;
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < k; i++) {
      const v = w[i * m + j];
      if (v !== 0) {
        colIdx[p] = i;
        values[p++] = v;
      }
    }
    rowPtr[j + 1] = p;
  }
  return { rows: m, cols: k, rowPtr, colIdx, values };
}

/**
 * A CSR matrix living in wasm memory, the operand of {@link spmm} and {@link sparseConv2d}.
 * Its structure is validated once, at creation, so the kernels need not check it per call.
 */
export class SparseMatrix {
  readonly rt: Runtime;
  readonly rows: number;
  readonly cols: number;
  readonly nnz: number;
  /** u32 column indices (else u16). */
  readonly wide: boolean;
  /** Byte pointers of rowPtr (u32), colIdx (u16/u32) and values (f32). */
  readonly rowPtrPtr: number;
  readonly colIdxPtr: number;
  readonly valuesPtr: number;
  private disposed = false;

  private constructor(rt: Runtime, c: Csr) {
    this.rt = rt;
    this.rows = c.rows;
    this.cols = c.cols;
    this.nnz = c.values.length;
    this.wide = c.colIdx instanceof Uint32Array;
    const heap = rt.heap;
    this.rowPtrPtr = heap.alloc(4 * (c.rows + 1), 'rowPtr');
    try {
      this.colIdxPtr = heap.alloc(c.colIdx.byteLength, 'colIdx');
      try {
        this.valuesPtr = heap.alloc(4 * this.nnz, 'values');
      } catch (e) {
        heap.free(this.colIdxPtr);
        throw e;
      }
    } catch (e) {
      heap.free(this.rowPtrPtr);
      throw e;
    }
    const u8 = rt.u8;
    u8.set(new Uint8Array(c.rowPtr.buffer, c.rowPtr.byteOffset, c.rowPtr.byteLength), this.rowPtrPtr);
    u8.set(new Uint8Array(c.colIdx.buffer, c.colIdx.byteOffset, c.colIdx.byteLength), this.colIdxPtr);
    rt.f32.set(c.values, this.valuesPtr >>> 2);
  }

  /** Copy a validated CSR into wasm memory (throws {@link ArgumentError} on a bad structure). */
  static fromCsr(c: Csr, rt: Runtime = runtime()): SparseMatrix {
    checkCsr('csr', c);
    return new SparseMatrix(rt, c);
  }

  /** The CSR of Wᵀ for a row-major W [k, m]: zeros dropped. */
  static fromWeights(w: Float32Array, k: number, m: number, rt: Runtime = runtime()): SparseMatrix {
    if (!(w instanceof Float32Array) || w.length !== k * m) throw new ShapeError('w', `a Float32Array of ${k}×${m}`, describe(w));
    assertFinite('w', w);
    return new SparseMatrix(rt, csrFromWeights(w, k, m));
  }

  /** A copy of the structure and values. */
  toCsr(): Csr {
    this.check();
    const u8 = this.rt.u8;
    const rowPtr = new Uint32Array(this.rows + 1);
    new Uint8Array(rowPtr.buffer).set(u8.subarray(this.rowPtrPtr, this.rowPtrPtr + rowPtr.byteLength));
    const colIdx = this.wide ? new Uint32Array(this.nnz) : new Uint16Array(this.nnz);
    new Uint8Array(colIdx.buffer).set(u8.subarray(this.colIdxPtr, this.colIdxPtr + colIdx.byteLength));
    const values = this.rt.f32.slice(this.valuesPtr >>> 2, (this.valuesPtr >>> 2) + this.nnz);
    return { rows: this.rows, cols: this.cols, rowPtr, colIdx, values };
  }

  /** Bytes of the three arrays. */
  get bytes(): number {
    return 4 * (this.rows + 1) + (this.wide ? 4 : 2) * this.nnz + 4 * this.nnz;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rt.free(this.rowPtrPtr);
    this.rt.free(this.colIdxPtr);
    this.rt.free(this.valuesPtr);
  }

  check(): void {
    if (this.disposed) throw new ArgumentError('a', 'a live SparseMatrix', 'a disposed one');
  }
}

/* ------------------------------------------------------------------ Ops */

/** Options of the sparse ops. */
export interface SparseOpOptions {
  /** Added per output row ({@link spmm}: [m]) or per output channel ({@link sparseConv2d}: [F]). */
  bias?: Tensor;
  /** Destination; allocated when absent. Must not overlap the input. */
  out?: Tensor;
  /** Use the scalar twin kernel (the test oracle). */
  scalar?: boolean;
}

function live(name: string, t: unknown, rt: Runtime): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(name, 'a Tensor', describe(t));
  if (t.isDisposed) throw new ArgumentError(name, 'a live tensor', 'a disposed tensor');
  if (t.rt !== rt) throw new ArgumentError(name, 'a tensor of the same runtime', 'another runtime');
  return t;
}

function overlaps(a: Tensor, b: Tensor): boolean {
  return a.size > 0 && b.size > 0 && a.ptr < b.ptr + 4 * b.size && b.ptr < a.ptr + 4 * a.size;
}

function destinationOf(opts: SparseOpOptions, shape: Shape, rt: Runtime, inputs: Tensor[]): Tensor {
  if (opts.out === undefined) return Tensor.zeros(shape, rt);
  const out = live('options.out', opts.out, rt);
  if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) throw new ShapeError('options.out', fmtShape(shape), fmtShape(out.shape));
  for (const t of inputs) if (overlaps(out, t)) throw new ArgumentError('options.out', 'memory distinct from the inputs', 'an overlapping tensor');
  return out;
}

function checkBias(opts: SparseOpOptions, n: number, rt: Runtime): Tensor | undefined {
  if (opts.bias === undefined) return undefined;
  const b = live('options.bias', opts.bias, rt);
  if (b.size !== n || b.shape.length !== 1) throw new ShapeError('options.bias', `[${n}]`, fmtShape(b.shape));
  return b;
}

/**
 * Sparse × dense product Y[m, n] = A[m, k]·X[k, n] + bias[m] (bias per row). `x`: [k, n]
 * feature-major (n samples contiguous per feature); returns [m, n].
 */
export function spmm(a: SparseMatrix, x: Tensor, opts: SparseOpOptions = {}): Tensor {
  if (!(a instanceof SparseMatrix)) throw new ArgumentError('a', 'a SparseMatrix', describe(a));
  a.check();
  const rt = a.rt;
  live('x', x, rt);
  if (x.shape.length !== 2 || x.shape[0] !== a.cols) throw new ShapeError('x', `[${a.cols}, n]`, fmtShape(x.shape));
  const n = x.shape[1];
  const bias = checkBias(opts, a.rows, rt);
  const y = destinationOf(opts, [a.rows, n], rt, bias ? [x, bias] : [x]);
  const f = opts.scalar ? rt.k.spmm_f32_csr_scalar : rt.k.spmm_f32_csr;
  f(a.rows, a.cols, n, a.rowPtrPtr, a.colIdxPtr, a.wide ? 1 : 0, a.valuesPtr, x.ptr, n, bias ? bias.ptr : 0, y.ptr, n);
  return y;
}

/** 2-D transpose: `x` [r, c] → [c, r]. */
export function transpose(x: Tensor, opts: { out?: Tensor; scalar?: boolean } = {}): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError('x', 'a Tensor', describe(x));
  const rt = x.rt;
  live('x', x, rt);
  if (x.shape.length !== 2) throw new ShapeError('x', 'a 2-D tensor', fmtShape(x.shape));
  const [r, c] = x.shape;
  const y = destinationOf(opts, [c, r], rt, [x]);
  (opts.scalar ? rt.k.transpose_f32_scalar : rt.k.transpose_f32)(r, c, x.ptr, c, y.ptr, r);
  return y;
}

/** Geometry of a sparse convolution: kernel, stride and zero padding in pixels, [h, w] each. */
export interface SparseConvGeometry {
  kernel: [number, number];
  stride: [number, number];
  pad: [number, number];
}

/**
 * Sparse 2-D convolution, NHWC: `x` [N, H, W, C], `w` the CSR of the weights as A [F, KH·KW·C]
 * (row f lists the taps (ky·KW + kx)·C + ci of filter f); returns [N, OH, OW, F].
 */
export function sparseConv2d(x: Tensor, w: SparseMatrix, g: SparseConvGeometry, opts: SparseOpOptions = {}): Tensor {
  if (!(w instanceof SparseMatrix)) throw new ArgumentError('w', 'a SparseMatrix', describe(w));
  w.check();
  const rt = w.rt;
  live('x', x, rt);
  if (x.shape.length !== 4) throw new ShapeError('x', '[N, H, W, C]', fmtShape(x.shape));
  const [n, h, wd, c] = x.shape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.pad;
  for (const [k, v, min] of [['kernel', kh, 1], ['kernel', kw, 1], ['stride', sh, 1], ['stride', sw, 1], ['pad', ph, 0], ['pad', pw, 0]] as const) {
    checkInt(`geometry.${k}`, v, min, 1 << 20);
  }
  if (w.cols !== kh * kw * c) throw new ShapeError('w', `${kh}·${kw}·${c} = ${kh * kw * c} columns`, `${w.cols}`);
  if (w.cols > MAX_CONV_K || w.rows > MAX_CONV_K) throw new ShapeError('w', `at most ${MAX_CONV_K} rows and columns`, `[${w.rows}, ${w.cols}]`);
  const oh = convOutDim(h, kh, sh, ph), ow = convOutDim(wd, kw, sw, pw);
  if (!(n > 0 && oh > 0 && ow > 0 && c > 0 && w.rows > 0)) throw new ShapeError('x', `an input of at least ${kh}×${kw} pixels after padding`, fmtShape(x.shape));
  const bias = checkBias(opts, w.rows, rt);
  const y = destinationOf(opts, [n, oh, ow, w.rows], rt, bias ? [x, bias] : [x]);
  const k = rt.k;
  const scratch = opts.scalar ? 0 : rt.workspace(Math.max(16, k.conv2d_sparse_scratch_bytes(n, h, wd, c, w.rows, kh, kw, sh, sw, ph, pw)));
  (opts.scalar ? k.conv2d_sparse_f32_nhwc_scalar : k.conv2d_sparse_f32_nhwc)(n, h, wd, c, w.rows, kh, kw, sh, sw, ph, pw,
    w.rowPtrPtr, w.colIdxPtr, w.wide ? 1 : 0, w.valuesPtr, 0, x.ptr, bias ? bias.ptr : 0, y.ptr, scratch);
  return y;
}

/* ------------------------------------------------------------------ Sparse model steps */

/** One inference step of a {@link SparseModel}, in plain arrays (what files hold). */
export type StepSpec =
  | { kind: 'sparse'; inputs: number; units: number; csr: Csr; bias: Float32Array | null }
  | { kind: 'dense'; inputs: number; units: number; weights: Float32Array; bias: Float32Array | null }
  | { kind: 'sparseConv'; filters: number; geometry: SparseConvGeometry; csr: Csr; bias: Float32Array | null }
  | { kind: 'conv'; filters: number; geometry: SparseConvGeometry; weights: Float32Array; bias: Float32Array | null }
  | { kind: 'activation'; activation: ActivationKind; alpha?: number }
  | { kind: 'maxPool' | 'avgPool'; size: [number, number]; stride: [number, number]; pad: [number, number] }
  | { kind: 'flatten' }
  | { kind: 'batchNorm'; gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; eps: number }
  | { kind: 'softmax' };

/** A step with its wasm-resident operands. */
interface Step {
  spec: StepSpec;
  inShape: Shape;
  outShape: Shape;
  mat?: SparseMatrix;
  w?: Tensor;
  b?: Tensor;
  extra?: Tensor[];
}

/** Per-step summary of a {@link SparseModel}. */
export interface SparseStepInfo {
  kind: StepSpec['kind'];
  inputShape: Shape;
  outputShape: Shape;
  /** Weights stored (nonzeros for sparse steps, all for dense ones); 0 for weightless steps. */
  weights: number;
  /** Weights of the dense equivalent. */
  denseWeights: number;
}

/** Largest KH·KW·C (and filter count) of a convolution step. */
const MAX_CONV_K = 1 << 22;

const ACTIVATIONS: readonly ActivationKind[] = ['relu', 'leakyRelu', 'elu', 'sigmoid', 'tanh'];

/** Output shape of `s` on `inShape`; throws `Err` naming `f` when they do not fit. */
function stepShape(s: StepSpec, inShape: Shape, f: string, Err: typeof ArgumentError | typeof ModelFormatError): Shape {
  const fail = (field: string, expected: string, got: string): never => {
    throw new Err(`${f}.${field}`, expected, got);
  };
  switch (s.kind) {
    case 'sparse':
    case 'dense':
      if (inShape.length !== 1 || inShape[0] !== s.inputs) fail('inputs', `the incoming ${fmtShape(inShape)} as [inputs]`, String(s.inputs));
      return [s.units];
    case 'sparseConv':
    case 'conv': {
      if (inShape.length !== 3) fail('kind', `a layer for ${fmtShape(inShape)}`, 'a convolution (needs [h, w, c])');
      const [h, w, c] = inShape;
      const { kernel: [kh, kw], stride: [sh, sw], pad: [ph, pw] } = s.geometry;
      // The im2col chunk of the sparse kernel is sized in i32 bytes: keep K and F well inside it.
      if (kh * kw * c > MAX_CONV_K) fail('geometry.kernel', `at most ${MAX_CONV_K} taps (KH·KW·C)`, `${kh}·${kw}·${c}`);
      if (s.filters > MAX_CONV_K) fail('filters', `at most ${MAX_CONV_K}`, String(s.filters));
      const oh = convOutDim(h, kh, sh, ph), ow = convOutDim(w, kw, sw, pw);
      if (!(oh >= 1 && ow >= 1)) fail('geometry', `a kernel fitting ${fmtShape(inShape)}`, `${kh}×${kw}`);
      return [oh, ow, s.filters];
    }
    case 'maxPool':
    case 'avgPool': {
      if (inShape.length !== 3) fail('kind', `a layer for ${fmtShape(inShape)}`, 'a pooling (needs [h, w, c])');
      const [h, w, c] = inShape;
      if (s.pad[0] >= s.size[0] || s.pad[1] >= s.size[1]) fail('pad', 'less than the window', `${s.pad}`);
      const oh = convOutDim(h, s.size[0], s.stride[0], s.pad[0]), ow = convOutDim(w, s.size[1], s.stride[1], s.pad[1]);
      if (!(oh >= 1 && ow >= 1)) fail('size', `a window fitting ${fmtShape(inShape)}`, `${s.size}`);
      return [oh, ow, c];
    }
    case 'flatten':
      return [inShape.reduce((a, b) => a * b, 1)];
    case 'batchNorm':
      if (s.gamma.length !== inShape[inShape.length - 1]) fail('gamma', `${inShape[inShape.length - 1]} channels`, `${s.gamma.length}`);
      return inShape;
    case 'softmax':
      if (inShape.length !== 1) fail('kind', `a layer for ${fmtShape(inShape)}`, 'softmax (needs [classes])');
      return inShape;
    case 'activation':
      return inShape;
  }
}

/* ------------------------------------------------------------------ SparseModel */

const SPARSE_MAGIC = 'VDSP';
const SPARSE_VERSION = 1;

/** Batch-size option of the predict methods. */
export interface SparsePredictOptions {
  /** Samples per forward pass (default 256). */
  batchSize?: number;
}

/**
 * An inference-only model made by {@link prune} (or {@link SparseModel.load}): sparse and dense
 * weight layers, activations, pooling, flatten, batch norm and softmax, deterministic. Inputs and
 * outputs are flat `Float32Array`s of n samples, as for {@link Sequential}.
 */
export class SparseModel {
  readonly rt: Runtime;
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  /** Weights of the weight layers of the model this was pruned from (for {@link compression}). */
  readonly originalWeights: number;
  private readonly steps: Step[] = [];
  private readonly bufs = new Map<string, Tensor>();
  private disposed = false;

  private constructor(rt: Runtime, inputShape: Shape, specs: StepSpec[], originalWeights: number, Err: typeof ArgumentError | typeof ModelFormatError) {
    this.rt = rt;
    this.inputShape = inputShape.slice();
    this.originalWeights = originalWeights;
    // Shapes first (nothing allocated), then the wasm operands.
    let shape: Shape = this.inputShape;
    const shapes = specs.map((s, i) => {
      const inS = shape;
      shape = stepShape(s, inS, `steps[${i}]`, Err);
      if (sizeOfSafe(shape) > MAX_ELEMENTS) throw new Err(`steps[${i}]`, `an output of at most ${MAX_ELEMENTS} elements`, fmtShape(shape));
      return [inS, shape] as const;
    });
    this.outputShape = shape;
    try {
      specs.forEach((s, i) => this.steps.push(this.materialize(s, shapes[i][0], shapes[i][1])));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private materialize(s: StepSpec, inShape: Shape, outShape: Shape): Step {
    const rt = this.rt;
    const step: Step = { spec: s, inShape, outShape };
    const owned: Tensor[] = [];
    const t = (a: Float32Array, shape?: Shape) => {
      const x = Tensor.from(a, shape, rt);
      owned.push(x);
      return x;
    };
    try {
      switch (s.kind) {
        case 'sparse':
        case 'sparseConv':
          step.mat = SparseMatrix.fromCsr(s.csr, rt);
          if (s.bias) step.b = t(s.bias);
          break;
        case 'dense':
          step.w = t(s.weights, [s.inputs, s.units]);
          if (s.bias) step.b = t(s.bias);
          break;
        case 'conv':
          step.w = t(s.weights, [s.geometry.kernel[0], s.geometry.kernel[1], inShape[2], s.filters]);
          if (s.bias) step.b = t(s.bias);
          break;
        case 'batchNorm':
          step.extra = [t(s.gamma), t(s.beta), t(s.mean), t(s.variance)];
          break;
        default:
      }
    } catch (e) {
      for (const x of owned) x.dispose();
      step.mat?.dispose();
      throw e;
    }
    return step;
  }

  /** @internal Build from step specs (already consistent: from {@link prune} or a validated file). */
  static fromSteps(inputShape: Shape, specs: StepSpec[], opts: { originalWeights?: number; runtime?: Runtime } = {}): SparseModel {
    sizeOf(inputShape, 'inputShape');
    specs.forEach((s, i) => checkSpec(s, `steps[${i}]`, ArgumentError));
    return new SparseModel(opts.runtime ?? runtime(), inputShape, specs, opts.originalWeights ?? 0, ArgumentError);
  }

  /** Per-step kinds, shapes and weight counts. */
  summary(): SparseStepInfo[] {
    return this.steps.map((st) => {
      const s = st.spec;
      let weights = 0, denseWeights = 0;
      if (s.kind === 'sparse' || s.kind === 'sparseConv') {
        weights = s.csr.values.length;
        denseWeights = s.csr.rows * s.csr.cols;
      } else if (s.kind === 'dense' || s.kind === 'conv') {
        weights = denseWeights = s.weights.length;
      }
      return { kind: s.kind, inputShape: st.inShape, outputShape: st.outShape, weights, denseWeights };
    });
  }

  /** Weights stored in all weight layers (nonzeros of sparse ones plus all of dense ones). */
  get nnz(): number {
    return this.summary().reduce((a, s) => a + s.weights, 0);
  }

  /** Weights of the original model / weights stored here (1 when unknown). */
  get compression(): number {
    const n = this.nnz;
    return this.originalWeights > 0 ? this.originalWeights / Math.max(n, 1) : 1;
  }

  private buffer(key: string, shape: Shape): Tensor {
    const t = this.bufs.get(key);
    if (t && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
    t?.dispose();
    const n = Tensor.zeros(shape, this.rt);
    this.bufs.set(key, n);
    return n;
  }

  /**
   * Forward one batch x [B, ...inputShape] (in wasm memory); returns [B, ...outputShape] (owned
   * by the model, valid until the next call). Between sparse layers the activations stay
   * feature-major [features, B], so a chain of sparse layers transposes only at its two ends.
   */
  forward(x: Tensor): Tensor {
    this.check();
    live('x', x, this.rt);
    const ok = x.shape.length === this.inputShape.length + 1 && x.shape[0] > 0 && this.inputShape.every((d, i) => x.shape[i + 1] === d);
    if (!ok) throw new ShapeError('x', `[batch, ${this.inputShape.join(', ')}]`, fmtShape(x.shape));
    const B = x.shape[0];
    let h = x;
    let cols = false; // h is feature-major [features, B]
    const toRows = (i: number, shape: Shape): Tensor => {
      if (!cols) return h;
      cols = false;
      return transpose(h, { out: this.buffer(`${i}:rows`, [B, h.shape[0]]) }).reshape([B, ...shape]);
    };
    this.steps.forEach((st, i) => {
      const s = st.spec;
      switch (s.kind) {
        case 'sparse': {
          // At B = 1, [1, in] and [in, 1] are the same memory: no transpose.
          let xc: Tensor;
          if (cols) xc = h;
          else if (B === 1) xc = h.reshape([s.inputs, 1]);
          else xc = transpose(h.reshape([B, s.inputs]), { out: this.buffer(`${i}:cols`, [s.inputs, B]) });
          h = spmm(st.mat!, xc, { bias: st.b, out: this.buffer(`${i}`, [s.units, B]) });
          if (B === 1) h = h.reshape([1, s.units]);
          else cols = true;
          break;
        }
        case 'activation':
          h = activation(s.activation, h, { alpha: s.alpha, out: this.buffer(`${i}`, h.shape) });
          break;
        case 'dense':
          h = toRows(i, st.inShape);
          h = matmul(h.reshape([B, s.inputs]), st.w!, { bias: st.b, out: this.buffer(`${i}`, [B, s.units]) });
          break;
        case 'sparseConv':
          h = sparseConv2d(toRows(i, st.inShape), st.mat!, s.geometry, { bias: st.b, out: this.buffer(`${i}`, [B, ...st.outShape]) });
          break;
        case 'conv':
          h = conv2d(toRows(i, st.inShape), st.w!, { stride: s.geometry.stride, pad: s.geometry.pad, bias: st.b, out: this.buffer(`${i}`, [B, ...st.outShape]) });
          break;
        case 'maxPool':
        case 'avgPool': {
          const f = s.kind === 'maxPool' ? maxPool2d : avgPool2d;
          h = f(toRows(i, st.inShape), { size: s.size, stride: s.stride, pad: s.pad, out: this.buffer(`${i}`, [B, ...st.outShape]) });
          break;
        }
        case 'flatten':
          h = toRows(i, st.inShape).reshape([B, st.outShape[0]]);
          break;
        case 'batchNorm': {
          const [g, b, m, v] = st.extra!;
          h = batchNorm(toRows(i, st.inShape), g, b, { runningMean: m, runningVar: v }, { training: false, eps: s.eps, out: this.buffer(`${i}`, [B, ...st.inShape]) }).y;
          break;
        }
        case 'softmax':
          h = softmax(toRows(i, st.inShape).reshape([B, st.inShape[0]]), { out: this.buffer(`${i}`, [B, st.inShape[0]]) });
          break;
      }
    });
    return toRows(this.steps.length, this.outputShape).reshape([B, ...this.outputShape]);
  }

  private checkX(x: unknown): number {
    if (!(x instanceof Float32Array)) throw new ArgumentError('x', 'a Float32Array of samples', describe(x));
    const per = sizeOf(this.inputShape);
    if (x.length === 0 || x.length % per !== 0) throw new ShapeError('x', `a multiple of ${per} values (samples of ${fmtShape(this.inputShape)})`, `${x.length} values`);
    assertFinite('x', x);
    return x.length / per;
  }

  private run(x: Float32Array, opts: SparsePredictOptions, each: (y: Tensor, start: number) => void): number {
    const n = this.checkX(x);
    const bs = checkInt('batchSize', opts.batchSize ?? 256, 1);
    const per = sizeOf(this.inputShape);
    for (let s = 0; s < n; s += bs) {
      const c = Math.min(bs, n - s);
      const xb = this.buffer('x', [c, ...this.inputShape]);
      xb.view().set(x.subarray(s * per, (s + c) * per));
      each(this.forward(xb), s);
    }
    return n;
  }

  /** Raw outputs (logits of a classifier), [n, outputSize] flat. */
  predict(x: Float32Array, opts: SparsePredictOptions = {}): Float32Array {
    const out = new Float32Array(this.checkX(x) * sizeOf(this.outputShape));
    this.run(x, opts, (y, s) => out.set(y.view(), s * y.size / y.shape[0]));
    return out;
  }

  /** Class probabilities (softmax of the outputs), [n, classes] flat. */
  predictProba(x: Float32Array, opts: SparsePredictOptions = {}): Float32Array {
    const C = sizeOf(this.outputShape);
    const out = new Float32Array(this.checkX(x) * C);
    this.run(x, opts, (y, s) => {
      const y2 = y.reshape([y.shape[0], C]);
      out.set(softmax(y2, { out: this.buffer('proba', y2.shape) }).view(), s * C);
    });
    return out;
  }

  /** Predicted class of each sample (argmax of the outputs). */
  predictClasses(x: Float32Array, opts: SparsePredictOptions = {}): Int32Array {
    const out = new Int32Array(this.checkX(x));
    const C = sizeOf(this.outputShape);
    this.run(x, opts, (y, s) => out.set(argmaxRows(y.reshape([y.shape[0], C])), s));
    return out;
  }

  /**
   * Serialize: magic `VDSP`, version 1, a JSON header (input shape, original weight count and
   * each step with its payload segments) and the payload (CSR row pointers u32, column indices
   * u16 or u32, values and biases f32), in the container described in `io.ts`.
   */
  save(): Uint8Array {
    this.check();
    const w = new PayloadWriter();
    const seg = (a: Float32Array | null) => (a ? w.add(a) : null);
    const csr = (c: Csr) => ({ rows: c.rows, cols: c.cols, nnz: c.values.length, rowPtr: w.add(c.rowPtr), colIdx: w.add(c.colIdx), values: w.add(c.values) });
    const steps = this.steps.map(({ spec: s }) => {
      switch (s.kind) {
        case 'sparse': return { kind: s.kind, inputs: s.inputs, units: s.units, csr: csr(s.csr), bias: seg(s.bias) };
        case 'dense': return { kind: s.kind, inputs: s.inputs, units: s.units, weights: w.add(s.weights), bias: seg(s.bias) };
        case 'sparseConv': return { kind: s.kind, filters: s.filters, geometry: s.geometry, csr: csr(s.csr), bias: seg(s.bias) };
        case 'conv': return { kind: s.kind, filters: s.filters, geometry: s.geometry, weights: w.add(s.weights), bias: seg(s.bias) };
        case 'batchNorm': return { kind: s.kind, eps: s.eps, gamma: w.add(s.gamma), beta: w.add(s.beta), mean: w.add(s.mean), variance: w.add(s.variance) };
        default: return { ...s };
      }
    });
    const header = { format: 'vardrop-sparse', inputShape: this.inputShape.slice(), originalWeights: this.originalWeights, steps };
    return writeContainer(SPARSE_MAGIC, SPARSE_VERSION, header, w.finish());
  }

  /**
   * Load a file written by {@link SparseModel.save}. Validates before allocating: container
   * (magic, version, lengths, CRC-32s, JSON), every step's kind and fields, shapes chaining from
   * the input, sizes bounded by the file, segments inside the payload and not overlapping, CSR
   * structure (row pointers from 0, non-decreasing, ending at nnz; indices < columns) and finite
   * values. Throws {@link ModelFormatError}.
   */
  static load(bytes: Uint8Array, opts: { runtime?: Runtime } = {}): SparseModel {
    const r = ContainerReader.open(bytes, SPARSE_MAGIC, [SPARSE_VERSION]);
    const h = r.header;
    if (h.format !== 'vardrop-sparse') bad('header.format', '"vardrop-sparse"', show(h.format));
    const inSize = checkShapeField('header.inputShape', h.inputShape, MAX_ELEMENTS, 1);
    if ((h.inputShape as number[]).length === 0 || inSize === 0) bad('header.inputShape', 'a non-empty shape', show(h.inputShape));
    if (!isInt(h.originalWeights)) bad('header.originalWeights', 'a non-negative integer', show(h.originalWeights));
    if (!Array.isArray(h.steps) || h.steps.length === 0 || h.steps.length > 10000) bad('header.steps', 'a non-empty array of at most 10000 steps', show(h.steps));
    let shape: Shape = h.inputShape as number[];
    const specs = (h.steps as unknown[]).map((e, i) => {
      const spec = readStep(r, e, `header.steps[${i}]`, shape);
      shape = stepShape(spec, shape, `header.steps[${i}]`, ModelFormatError);
      if (sizeOfSafe(shape) > MAX_ELEMENTS) bad(`header.steps[${i}]`, `an output of at most ${MAX_ELEMENTS} elements`, fmtShape(shape));
      return spec;
    });
    return new SparseModel(opts.runtime ?? runtime(), h.inputShape as number[], specs, h.originalWeights, ModelFormatError);
  }

  /** Free every weight and buffer. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const st of this.steps) {
      st.mat?.dispose();
      st.w?.dispose();
      st.b?.dispose();
      for (const t of st.extra ?? []) t.dispose();
    }
    for (const t of this.bufs.values()) t.dispose();
    this.bufs.clear();
  }

  private check(): void {
    if (this.disposed) throw new ArgumentError('model', 'a live SparseModel', 'a disposed one');
  }
}

function sizeOfSafe(s: Shape): number {
  return s.reduce((a, b) => a * b, 1);
}

/* ------------------------------------------------------------------ Step validation (API and files) */

type ErrClass = typeof ArgumentError | typeof ModelFormatError;

function pairOf(f: string, v: unknown, min: number, Err: ErrClass): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((d) => isInt(d) && d >= min && d <= 1 << 20)) {
    throw new Err(f, `[h, w] integers in [${min}, 2^20]`, show(v));
  }
  return [v[0], v[1]];
}

function checkGeometry(f: string, g: unknown, Err: ErrClass): SparseConvGeometry {
  if (!isObject(g)) throw new Err(f, 'a {kernel, stride, pad} object', show(g));
  return { kernel: pairOf(`${f}.kernel`, g.kernel, 1, Err), stride: pairOf(`${f}.stride`, g.stride, 1, Err), pad: pairOf(`${f}.pad`, g.pad, 0, Err) };
}

function checkLen(f: string, a: unknown, n: number, Err: ErrClass): void {
  if (!(a instanceof Float32Array) || a.length !== n) throw new Err(f, `a Float32Array of ${n}`, describe(a));
  for (let i = 0; i < n; i++) if (a[i] - a[i] !== 0) throw new Err(`${f}[${i}]`, 'a finite value', String(a[i]));
}

/** Field-level checks of a spec built in memory (fromSteps); shapes are chained by the constructor. */
function checkSpec(s: StepSpec, f: string, Err: ErrClass): void {
  if (!isObject(s)) throw new Err(f, 'a step object', show(s));
  switch (s.kind) {
    case 'sparse':
    case 'sparseConv':
      checkCsr(`${f}.csr`, s.csr, Err);
      if (s.kind === 'sparse' && (s.csr.rows !== s.units || s.csr.cols !== s.inputs)) throw new Err(`${f}.csr`, `[${s.units}, ${s.inputs}]`, `[${s.csr.rows}, ${s.csr.cols}]`);
      if (s.kind === 'sparseConv') checkGeometry(`${f}.geometry`, s.geometry, Err);
      if (s.bias) checkLen(`${f}.bias`, s.bias, s.csr.rows, Err);
      break;
    case 'dense':
      checkLen(`${f}.weights`, s.weights, s.inputs * s.units, Err);
      if (s.bias) checkLen(`${f}.bias`, s.bias, s.units, Err);
      break;
    case 'conv':
      checkGeometry(`${f}.geometry`, s.geometry, Err);
      if (s.bias) checkLen(`${f}.bias`, s.bias, s.filters, Err);
      break;
    case 'activation':
      if (!ACTIVATIONS.includes(s.activation)) throw new Err(`${f}.activation`, `one of ${ACTIVATIONS.join(', ')}`, show(s.activation));
      if (s.alpha !== undefined) checkNumber(`${f}.alpha`, s.alpha);
      break;
    case 'maxPool':
    case 'avgPool':
      pairOf(`${f}.size`, s.size, 1, Err);
      pairOf(`${f}.stride`, s.stride, 1, Err);
      pairOf(`${f}.pad`, s.pad, 0, Err);
      break;
    case 'batchNorm': {
      const c = s.gamma?.length;
      for (const k of ['gamma', 'beta', 'mean', 'variance'] as const) checkLen(`${f}.${k}`, s[k], c, Err);
      if (!(typeof s.eps === 'number' && s.eps > 0 && Number.isFinite(s.eps))) throw new Err(`${f}.eps`, 'a positive number', show(s.eps));
      for (let i = 0; i < c; i++) if (!(s.variance[i] >= 0)) throw new Err(`${f}.variance[${i}]`, 'a variance >= 0', String(s.variance[i]));
      break;
    }
    case 'flatten':
    case 'softmax':
      break;
    default:
      throw new Err(`${f}.kind`, 'a known step kind', show((s as { kind: unknown }).kind));
  }
}

/** Read and check one step of a file against the incoming per-sample shape. */
function readStep(r: ContainerReader, e: unknown, f: string, inShape: Shape): StepSpec {
  if (!isObject(e)) bad(f, 'a step object', show(e));
  const int = (k: string, min = 1): number => {
    const v = e[k];
    if (!isInt(v) || v < min || v > MAX_ELEMENTS) bad(`${f}.${k}`, `an integer in [${min}, ${MAX_ELEMENTS}]`, show(v));
    return v;
  };
  const csr = (rows: number, cols: number): Csr => {
    const c = e.csr;
    if (!isObject(c)) bad(`${f}.csr`, 'a {rows, cols, nnz, rowPtr, colIdx, values} object', show(c));
    if (c.rows !== rows) bad(`${f}.csr.rows`, String(rows), show(c.rows));
    if (c.cols !== cols) bad(`${f}.csr.cols`, String(cols), show(c.cols));
    const nnz = c.nnz;
    // nnz is bounded by the payload before anything of that size is allocated.
    if (!isInt(nnz) || nnz > rows * cols || nnz * 6 > r.payloadBytes) bad(`${f}.csr.nnz`, `an integer in [0, min(${rows}·${cols}, payload/6)]`, show(nnz));
    const rowPtr = r.read(`${f}.csr.rowPtr`, c.rowPtr, 'u32', rows + 1);
    const colIdx = cols <= 65536 ? r.read(`${f}.csr.colIdx`, c.colIdx, 'u16', nnz) : r.read(`${f}.csr.colIdx`, c.colIdx, 'u32', nnz);
    const values = r.read(`${f}.csr.values`, c.values, 'f32', nnz);
    const out = { rows, cols, rowPtr, colIdx, values };
    checkCsr(`${f}.csr`, out, ModelFormatError);
    return out;
  };
  const bias = (n: number): Float32Array | null => (e.bias === null || e.bias === undefined ? null : r.read(`${f}.bias`, e.bias, 'f32', n));
  const fits = (n: number, k: string) => {
    if (n * 4 > r.payloadBytes) bad(`${f}.${k}`, `at most ${r.payloadBytes / 4} weights (the payload)`, String(n));
  };
  const geometry = () => checkGeometry(`${f}.geometry`, e.geometry, ModelFormatError);
  switch (e.kind) {
    case 'sparse': {
      const inputs = int('inputs'), units = int('units');
      if (inShape.length !== 1 || inShape[0] !== inputs) bad(`${f}.inputs`, `${fmtShape(inShape)} as [inputs]`, String(inputs));
      if (units + 1 > r.payloadBytes / 4) bad(`${f}.units`, 'row pointers fitting the payload', String(units));
      return { kind: 'sparse', inputs, units, csr: csr(units, inputs), bias: bias(units) };
    }
    case 'dense': {
      const inputs = int('inputs'), units = int('units');
      if (inShape.length !== 1 || inShape[0] !== inputs) bad(`${f}.inputs`, `${fmtShape(inShape)} as [inputs]`, String(inputs));
      fits(inputs * units, 'units');
      return { kind: 'dense', inputs, units, weights: r.read(`${f}.weights`, e.weights, 'f32', inputs * units), bias: bias(units) };
    }
    case 'sparseConv':
    case 'conv': {
      const filters = int('filters');
      const g = geometry();
      if (inShape.length !== 3) bad(`${f}.kind`, `a step for ${fmtShape(inShape)}`, 'a convolution (needs [h, w, c])');
      const k = g.kernel[0] * g.kernel[1] * inShape[2];
      stepShape({ kind: 'conv', filters, geometry: g, weights: new Float32Array(0), bias: null }, inShape, f, ModelFormatError);
      if (e.kind === 'sparseConv') {
        if (filters + 1 > r.payloadBytes / 4) bad(`${f}.filters`, 'row pointers fitting the payload', String(filters));
        return { kind: 'sparseConv', filters, geometry: g, csr: csr(filters, k), bias: bias(filters) };
      }
      fits(k * filters, 'filters');
      return { kind: 'conv', filters, geometry: g, weights: r.read(`${f}.weights`, e.weights, 'f32', k * filters), bias: bias(filters) };
    }
    case 'activation': {
      if (!ACTIVATIONS.includes(e.activation as ActivationKind)) bad(`${f}.activation`, `one of ${ACTIVATIONS.join(', ')}`, show(e.activation));
      if (e.alpha !== undefined && !(typeof e.alpha === 'number' && Number.isFinite(e.alpha))) bad(`${f}.alpha`, 'a finite number', show(e.alpha));
      return { kind: 'activation', activation: e.activation as ActivationKind, alpha: e.alpha as number | undefined };
    }
    case 'maxPool':
    case 'avgPool':
      return { kind: e.kind, size: pairOf(`${f}.size`, e.size, 1, ModelFormatError), stride: pairOf(`${f}.stride`, e.stride, 1, ModelFormatError), pad: pairOf(`${f}.pad`, e.pad, 0, ModelFormatError) };
    case 'flatten':
    case 'softmax':
      return { kind: e.kind };
    case 'batchNorm': {
      const c = inShape[inShape.length - 1];
      if (!(typeof e.eps === 'number' && e.eps > 0 && Number.isFinite(e.eps) && Math.fround(e.eps) > 0)) bad(`${f}.eps`, 'a positive float32', show(e.eps));
      const [gamma, beta, mean, variance] = (['gamma', 'beta', 'mean', 'variance'] as const).map((k) => r.read(`${f}.${k}`, e[k], 'f32', c));
      for (let i = 0; i < c; i++) if (!(variance[i] >= 0)) bad(`${f}.variance[${i}]`, 'a variance >= 0', String(variance[i]));
      return { kind: 'batchNorm', gamma, beta, mean, variance, eps: e.eps };
    }
    default:
      return bad(`${f}.kind`, 'one of sparse, dense, sparseConv, conv, activation, maxPool, avgPool, flatten, batchNorm, softmax', show(e.kind));
  }
}

/* ------------------------------------------------------------------ prune */

/** Options of {@link prune}. */
export interface PruneOptions {
  /**
   * Store a weight layer sparse when at most this fraction of its weights is kept (default 0.3:
   * above it the dense SIMD GEMM is faster than the sparse product); 0 keeps every layer dense,
   * 1 makes every layer sparse.
   */
  sparseBelow?: number;
  /**
   * Remove hidden units of a dense layer followed (through activations only) by another dense
   * layer when they have no incoming weights (their constant activation is folded into the next
   * layer's bias) or no outgoing weights (default true).
   */
  dropUnits?: boolean;
}

/** A weight layer before the sparse/dense decision: weights in the layer's layout [..., out]. */
interface ProtoLinear {
  kind: 'linear';
  inputs: number;
  units: number;
  w: Float32Array;
  bias: Float32Array | null;
  geometry?: SparseConvGeometry;
}

type Proto = ProtoLinear | Exclude<StepSpec, { kind: 'sparse' | 'dense' | 'sparseConv' | 'conv' }>;

function paramValue(l: Layer, key: string): Float32Array | null {
  const p = l.params().find((q) => q.name.endsWith('/' + key));
  return p ? p.value.toArray() : null;
}

/** The inference weights of a weight layer (dropped ones zeroed), exactly as its deterministic forward uses them. */
function inferenceWeights(l: Layer): { w: Float32Array; bias: Float32Array | null } | null {
  const bias = paramValue(l, 'bias');
  if (l instanceof Dense || l instanceof Conv2d) return { w: paramValue(l, 'kernel')!, bias };
  if (l instanceof SparseVDDense || l instanceof SparseVDConv2d) {
    const threshold = l.threshold;
    const th = paramValue(l, 'theta')!;
    const la = l.logAlpha();
    for (let i = 0; i < th.length; i++) if (!(la[i] < threshold)) th[i] = 0;
    return { w: th, bias };
  }
  if (l instanceof VariationalDropoutDense || l instanceof VariationalDropoutConv2d) {
    const threshold = l.threshold;
    const th = paramValue(l, 'theta')!;
    if (threshold === Infinity) return { w: th, bias };
    const la = l.logAlpha();
    const units = l.outputShape[l.outputShape.length - 1];
    // α per layer (1 value), per output unit (units values) or per weight.
    const at = la.length === th.length ? (i: number) => la[i] : la.length === 1 ? () => la[0] : (i: number) => la[i % units];
    for (let i = 0; i < th.length; i++) if (!(at(i) < threshold)) th[i] = 0;
    return { w: th, bias };
  }
  return null;
}

function toProto(l: Layer, i: number): Proto | null {
  const f = `model.layers[${i}]`;
  const lin = inferenceWeights(l);
  if (lin) {
    const units = l.outputShape[l.outputShape.length - 1];
    const inputs = lin.w.length / units;
    let geometry: SparseConvGeometry | undefined;
    if (l.inputShape.length === 3) {
      const m = new ConvMap(l.inputShape, units, l.config().options as unknown as ConvGeometry);
      geometry = { kernel: [m.weightShape[0], m.weightShape[1]], stride: [m.stride[0], m.stride[1]], pad: [m.pad[0], m.pad[1]] };
    }
    return { kind: 'linear', inputs, units, w: lin.w, bias: lin.bias, geometry };
  }
  if (l instanceof Activation) {
    const o = l.config().options as { kind: ActivationKind; alpha?: number };
    return o.alpha === undefined ? { kind: 'activation', activation: o.kind } : { kind: 'activation', activation: o.kind, alpha: o.alpha };
  }
  if (l instanceof Dropout || l instanceof GaussianDropout) return null; // identity at inference
  if (l instanceof MaxPool2d || l instanceof AvgPool2d) {
    const o = l.config().options as { poolSize: [number, number]; stride: [number, number]; padding: [number, number] };
    return { kind: l instanceof MaxPool2d ? 'maxPool' : 'avgPool', size: [...o.poolSize], stride: [...o.stride], pad: [...o.padding] };
  }
  if (l instanceof Flatten) return { kind: 'flatten' };
  if (l instanceof Softmax) return { kind: 'softmax' };
  if (l instanceof BatchNorm) {
    const s = l.runningStats();
    const eps = (l.config().options as { epsilon: number }).epsilon;
    return { kind: 'batchNorm', gamma: paramValue(l, 'gamma')!, beta: paramValue(l, 'beta')!, mean: s.mean, variance: s.variance, eps };
  }
  throw new ArgumentError(f, 'a layer prune() knows (weight, Bayesian, activation, dropout, pooling, flatten, batch norm, softmax)', l.constructor.name);
}

/** Apply the activations `acts` to constant unit values (in wasm: transcendental math stays there). */
function throughActivations(v: Float32Array, acts: Proto[], rt: Runtime): Float32Array {
  if (v.length === 0 || acts.length === 0) return v;
  const t = Tensor.from(v, [v.length], rt);
  try {
    for (const a of acts) if (a.kind === 'activation') activation(a.activation, t, { alpha: a.alpha, out: t });
    return t.toArray();
  } finally {
    t.dispose();
  }
}

/**
 * Remove hidden units between dense layers `a` and `b` (only activations between): a unit with
 * no outgoing weight is dropped; a unit with no incoming weight outputs the constant
 * act(bias), which is folded into b's bias, and is dropped.
 */
function dropUnits(a: ProtoLinear, acts: Proto[], b: ProtoLinear, rt: Runtime): void {
  const U = a.units, I = a.inputs, J = b.units;
  const hasIn = new Uint8Array(U), hasOut = new Uint8Array(U);
  for (let i = 0; i < I; i++) for (let u = 0; u < U; u++) if (a.w[i * U + u] !== 0) hasIn[u] = 1;
  for (let u = 0; u < U; u++) for (let j = 0; j < J; j++) if (b.w[u * J + j] !== 0) {
    hasOut[u] = 1;
    break;
  }
  const keep: number[] = [], folded: number[] = [];
  for (let u = 0; u < U; u++) {
    if (hasIn[u] && hasOut[u]) keep.push(u);
    else if (hasOut[u]) folded.push(u);
  }
  if (keep.length === 0) keep.push(folded.length ? folded.shift()! : 0); // keep one unit: no empty tensors
  if (keep.length === U) return;
  if (folded.length) {
    const c = throughActivations(Float32Array.from(folded, (u) => (a.bias ? a.bias[u] : 0)), acts, rt);
    const nb = b.bias ? Float64Array.from(b.bias) : new Float64Array(J);
    folded.forEach((u, k) => {
      if (c[k] !== 0) for (let j = 0; j < J; j++) nb[j] += c[k] * b.w[u * J + j];
    });
    b.bias = Float32Array.from(nb);
  }
  const K = keep.length;
  const aw = new Float32Array(I * K);
  for (let i = 0; i < I; i++) for (let k = 0; k < K; k++) aw[i * K + k] = a.w[i * U + keep[k]];
  const bw = new Float32Array(K * J);
  keep.forEach((u, k) => bw.set(b.w.subarray(u * J, (u + 1) * J), k * J));
  a.w = aw;
  a.units = K;
  if (a.bias) a.bias = Float32Array.from(keep, (u) => a.bias![u]);
  b.w = bw;
  b.inputs = K;
}

/**
 * Convert a trained {@link Sequential} into an inference-only {@link SparseModel}: every weight
 * layer keeps exactly the weights its deterministic `predict` uses (Sparse VD: log α < threshold;
 * variational dropout and group sparsity: α below the threshold, whole units for per-unit α),
 * stored as CSR when sparse enough (see {@link PruneOptions.sparseBelow}), else dense; hidden
 * units of dense layers that are dead are removed (see {@link PruneOptions.dropUnits});
 * activations, pooling, flatten, batch norm and softmax carry over; dropout layers vanish.
 * Outputs match `model.predict` up to float rounding.
 */
export function prune(model: Sequential, opts: PruneOptions = {}): SparseModel {
  checkSequential('model', model);
  opts = optionsObject('options', opts);
  const sparseBelow = checkNumber('options.sparseBelow', opts.sparseBelow ?? 0.3, 0, 1);
  let original = 0;
  const protos: Proto[] = [];
  model.layers.forEach((l, i) => {
    const p = toProto(l, i);
    if (p?.kind === 'linear') original += p.w.length;
    if (p) protos.push(p);
  });
  if (opts.dropUnits ?? true) {
    for (let i = 0; i < protos.length; i++) {
      const a = protos[i];
      if (a.kind !== 'linear' || a.geometry) continue;
      let j = i + 1;
      while (j < protos.length && protos[j].kind === 'activation') j++;
      const b = protos[j];
      if (b && b.kind === 'linear' && !b.geometry) dropUnits(a, protos.slice(i + 1, j), b, model.rt);
    }
  }
  const specs: StepSpec[] = protos.map((p) => {
    if (p.kind !== 'linear') return p;
    let nnz = 0;
    for (let i = 0; i < p.w.length; i++) if (p.w[i] !== 0) nnz++;
    const sparse = nnz <= sparseBelow * p.w.length;
    const K = p.w.length / p.units;
    if (p.geometry) {
      return sparse
        ? { kind: 'sparseConv', filters: p.units, geometry: p.geometry, csr: csrFromWeights(p.w, K, p.units), bias: p.bias }
        : { kind: 'conv', filters: p.units, geometry: p.geometry, weights: p.w, bias: p.bias };
    }
    return sparse
      ? { kind: 'sparse', inputs: p.inputs, units: p.units, csr: csrFromWeights(p.w, p.inputs, p.units), bias: p.bias }
      : { kind: 'dense', inputs: p.inputs, units: p.units, weights: p.w, bias: p.bias };
  });
  return SparseModel.fromSteps(model.inputShape, specs, { originalWeights: original, runtime: model.rt });
}
