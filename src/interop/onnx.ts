/**
 * Export to ONNX: a trained {@link Sequential} (its deterministic predict: masked means of the
 * Bayesian layers) or a pruned {@link SparseModel} (sparse layers densified) becomes an ONNX
 * model (IR 8, opset 17, float32) that onnxruntime and other ONNX runtimes execute with the
 * same outputs up to float rounding.
 *
 * Layout: our images are NHWC, ONNX convolutions NCHW, so an image input is transposed once at
 * the start, weights are stored in ONNX's [F, C, KH, KW], and the activations are transposed
 * back to NHWC before a flatten (so the flattened feature order, and the dense weights after
 * it, stay ours) or at the output. The graph input is `input` [batch, ...inputShape] and the
 * output `output` [batch, ...outputShape], batch symbolic.
 * @module
 */
import { ArgumentError, describe } from '../errors.js';
import { Shape } from '../tensor.js';
import { outDim } from '../ops/geometry.js';
import { Sequential } from '../model.js';
import { Csr, SparseModel, StepSpec, prune } from '../sparse.js';
import { ProtoWriter } from './protobuf.js';

const IR_VERSION = 8;
const OPSET = 17;
/** TensorProto.DataType.FLOAT. */
const FLOAT = 1;
/** AttributeProto.AttributeType values. */
const ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_INTS = 7;

/** Options of {@link exportOnnx}. */
export interface OnnxExportOptions {
  /** Graph name (default `"vardrop"`). */
  name?: string;
  /** Add a final Softmax node so the graph outputs probabilities (default false: raw outputs). */
  softmax?: boolean;
}

type Attr = [name: string, kind: 'f' | 'i' | 'ints', value: number | number[]];

/** Builds one GraphProto: nodes in order, initializers, the current value's name and layout. */
class GraphBuilder {
  readonly nodes: ProtoWriter[] = [];
  readonly inits: ProtoWriter[] = [];
  private count = 0;

  fresh(prefix: string): string {
    return `${prefix}_${this.count++}`;
  }

  node(op: string, inputs: string[], attrs: Attr[] = [], out = this.fresh(op.toLowerCase())): string {
    const n = new ProtoWriter();
    for (const i of inputs) n.string(1, i);
    n.string(2, out).string(3, out).string(4, op);
    for (const [name, kind, v] of attrs) {
      const a = new ProtoWriter().string(1, name);
      if (kind === 'f') a.float(2, v as number).int(20, ATTR_FLOAT);
      else if (kind === 'i') a.int(3, v as number).int(20, ATTR_INT);
      else {
        for (const x of v as number[]) a.int(8, x);
        a.int(20, ATTR_INTS);
      }
      n.message(5, a);
    }
    this.nodes.push(n);
    return out;
  }

  /** A float32 initializer of `dims` (row-major). */
  tensor(prefix: string, dims: number[], data: Float32Array): string {
    const name = this.fresh(prefix);
    const t = new ProtoWriter();
    for (const d of dims) t.int(1, d);
    t.int(2, FLOAT).string(8, name);
    const raw = new Uint8Array(data.length * 4);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i], true);
    t.raw(9, raw);
    this.inits.push(t);
    return name;
  }
}

/** ValueInfoProto of a float tensor [batch, ...shape] with a symbolic batch. */
function valueInfo(name: string, shape: Shape): ProtoWriter {
  const dims = new ProtoWriter().message(1, new ProtoWriter().string(2, 'batch'));
  for (const d of shape) dims.message(1, new ProtoWriter().int(1, d));
  const tensorType = new ProtoWriter().int(1, FLOAT).message(2, dims);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

/** Dense W [in, out] (row-major) of a CSR of Wᵀ [out, in]. */
function densify(c: Csr): Float32Array {
  const w = new Float32Array(c.rows * c.cols);
  for (let r = 0; r < c.rows; r++) for (let p = c.rowPtr[r]; p < c.rowPtr[r + 1]; p++) w[c.colIdx[p] * c.rows + r] += c.values[p];
  return w;
}

/** Our conv weights [KH, KW, C, F] → ONNX's [F, C, KH, KW]. */
function convWeightsNchw(w: Float32Array, kh: number, kw: number, c: number, f: number): Float32Array {
  const o = new Float32Array(w.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let ci = 0; ci < c; ci++) for (let fi = 0; fi < f; fi++) {
    o[((fi * c + ci) * kh + y) * kw + x] = w[((y * kw + x) * c + ci) * f + fi];
  }
  return o;
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

/**
 * Encode inference steps (as a {@link SparseModel} holds them) as an ONNX ModelProto.
 * @param inputShape Per-sample input shape: `[features]` or NHWC `[h, w, c]`.
 * @param steps The steps, first to last, consistent with `inputShape`.
 */
export function stepsToOnnx(inputShape: Shape, steps: readonly StepSpec[], opts: OnnxExportOptions = {}): Uint8Array {
  const g = new GraphBuilder();
  let h = 'input';
  let shape: Shape = inputShape.slice(); // per-sample, ours (NHWC)
  let nchw = false;
  if (shape.length === 3) {
    h = g.node('Transpose', [h], [['perm', 'ints', NHWC_TO_NCHW]]);
    nchw = true;
  }
  const toNhwc = () => {
    if (nchw) h = g.node('Transpose', [h], [['perm', 'ints', NCHW_TO_NHWC]]);
    nchw = false;
  };
  const pads = (p: [number, number]): number[] => [p[0], p[1], p[0], p[1]];
  for (const s of steps) {
    switch (s.kind) {
      case 'dense':
      case 'sparse': {
        const w = s.kind === 'dense' ? s.weights : densify(s.csr);
        const ins = [h, g.tensor('weight', [s.inputs, s.units], w)];
        if (s.bias) ins.push(g.tensor('bias', [s.units], s.bias));
        h = g.node('Gemm', ins);
        shape = [s.units];
        break;
      }
      case 'conv':
      case 'sparseConv': {
        const { kernel: [kh, kw], stride, pad } = s.geometry;
        const c = shape[2];
        const w = s.kind === 'conv' ? s.weights : densify(s.csr);
        const ins = [h, g.tensor('weight', [s.filters, c, kh, kw], convWeightsNchw(w, kh, kw, c, s.filters))];
        if (s.bias) ins.push(g.tensor('bias', [s.filters], s.bias));
        h = g.node('Conv', ins, [['kernel_shape', 'ints', [kh, kw]], ['strides', 'ints', [...stride]], ['pads', 'ints', pads(pad)]]);
        shape = [outDim(shape[0], kh, stride[0], pad[0]), outDim(shape[1], kw, stride[1], pad[1]), s.filters];
        break;
      }
      case 'activation':
        switch (s.activation) {
          case 'relu': h = g.node('Relu', [h]); break;
          case 'leakyRelu': h = g.node('LeakyRelu', [h], [['alpha', 'f', s.alpha ?? 0.01]]); break;
          case 'elu': h = g.node('Elu', [h], [['alpha', 'f', s.alpha ?? 1]]); break;
          case 'sigmoid': h = g.node('Sigmoid', [h]); break;
          case 'tanh': h = g.node('Tanh', [h]); break;
        }
        break;
      case 'maxPool':
      case 'avgPool': {
        // Both skip padding (max over real pixels; mean over real pixels: count_include_pad = 0).
        h = g.node(s.kind === 'maxPool' ? 'MaxPool' : 'AveragePool', [h],
          [['kernel_shape', 'ints', [...s.size]], ['strides', 'ints', [...s.stride]], ['pads', 'ints', pads(s.pad)]]);
        shape = [outDim(shape[0], s.size[0], s.stride[0], s.pad[0]), outDim(shape[1], s.size[1], s.stride[1], s.pad[1]), shape[2]];
        break;
      }
      case 'flatten':
        if (shape.length > 1) {
          toNhwc();
          h = g.node('Flatten', [h], [['axis', 'i', 1]]);
          shape = [shape.reduce((a, b) => a * b, 1)];
        }
        break;
      case 'batchNorm': {
        const c = s.gamma.length;
        const ins = [h, g.tensor('gamma', [c], s.gamma), g.tensor('beta', [c], s.beta), g.tensor('mean', [c], s.mean), g.tensor('var', [c], s.variance)];
        h = g.node('BatchNormalization', ins, [['epsilon', 'f', s.eps]]);
        break;
      }
      case 'softmax':
        h = g.node('Softmax', [h], [['axis', 'i', 1]]);
        break;
      case 'layer':
        throw new ArgumentError('model', 'steps ONNX can express (not a user-defined layer run by its own forward)', `a ${s.entry.layer.config().className} step`);
      case 'embedding':
      case 'recurrent':
        throw new ArgumentError('model', 'steps this exporter expresses (no embedding or recurrent steps)', `a ${s.kind} step`);
    }
  }
  toNhwc();
  if (opts.softmax) {
    if (shape.length !== 1) throw new ArgumentError('options.softmax', 'a model with a 1-D output', `output [${shape.join(', ')}]`);
    h = g.node('Softmax', [h], [['axis', 'i', 1]]);
  }
  g.node('Identity', [h], [], 'output');

  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(1, n);
  graph.string(2, opts.name ?? 'vardrop');
  for (const t of g.inits) graph.message(5, t);
  graph.message(11, valueInfo('input', inputShape));
  graph.message(12, valueInfo('output', shape));
  return new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, 'vardrop')
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, OPSET))
    .bytes();
}

/**
 * Export `model` to ONNX bytes (load them with `InferenceSession.create(bytes)` in
 * onnxruntime-web or onnxruntime-node). A {@link Sequential} is exported as its deterministic
 * `predict` computes (Bayesian layers as their masked mean weights, dropout as the identity);
 * a {@link SparseModel} with its sparse layers stored dense (ONNX runtimes have no fast sparse
 * product), so the graph computes what `predict` of either model returns.
 * @param model A trained {@link Sequential} or a pruned {@link SparseModel}.
 */
export function exportOnnx(model: Sequential | SparseModel, opts: OnnxExportOptions = {}): Uint8Array {
  if (opts.name !== undefined && typeof opts.name !== 'string') throw new ArgumentError('options.name', 'a string', describe(opts.name));
  if (model instanceof Sequential) {
    const dense = prune(model, { sparseBelow: 0, dropUnits: false });
    try {
      return stepsToOnnx(dense.inputShape, inferenceSteps(dense), opts);
    } finally {
      dense.dispose();
    }
  }
  if (model instanceof SparseModel) return stepsToOnnx(model.inputShape, inferenceSteps(model), opts);
  throw new ArgumentError('model', 'a Sequential or a SparseModel', describe(model));
}

/** The step specs of a sparse model. */
function inferenceSteps(m: SparseModel): StepSpec[] {
  return (m as unknown as { steps: { spec: StepSpec }[] }).steps.map((s) => s.spec);
}
