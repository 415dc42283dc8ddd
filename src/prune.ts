/**
 * {@link prune}: a trained {@link Sequential} becomes an inference-only {@link SparseModel}. Each
 * layer says what it is at inference (`layer.inference()`): weight layers hand over exactly the
 * weights their deterministic forward uses, which are stored sparse or dense; fixed steps carry
 * over; dropout vanishes; any other layer (a user-defined one, registered by name) is copied and
 * run by its own forward. prune never asks a layer for its class.
 * @module
 */
import { ArgumentError, checkNumber } from './errors.js';
import { Runtime } from './runtime/runtime.js';
import { Tensor } from './tensor.js';
import { Sequential } from './model.js';
import { booleanOption, checkSequential, optionsObject } from './validate.js';
import { EmbeddingForm, FixedStep, Layer, RecurrentForm, groupKey, layerRegistry } from './layers/layer.js';
import { activation } from './ops/activation.js';
import { csrFromWeights } from './ops/spmm.js';
import { LayerEntry } from './container.js';
import { SparseModel } from './inference/model.js';
import { StepSpec } from './inference/steps.js';
import { LinearProto, compactChannels, keepInputs, keepUnits, sparseIsFaster } from './compact.js';
import { compactRecurrent, embeddingSpec, recurrentSpec } from './inference/recurrent.js';
import { enableMc } from './inference/mc-install.js';

// Models pruned with uncertainty predict by Monte Carlo (the full module has the kernels).
enableMc();

/** Options of {@link prune}. */
export interface PruneOptions {
  /**
   * Store a weight layer sparse when at most this fraction of its weights is kept; 0 keeps every
   * layer dense, 1 makes every layer sparse. Default: the crossover measured on this machine per
   * layer kind ({@link SPARSE_CROSSOVER}: dense layers at 15%, convolutions at 40%).
   */
  sparseBelow?: number;
  /**
   * Structured compaction (default true): remove hidden units of a dense layer followed (through
   * activations only) by another dense layer, and output channels of a convolution followed
   * (through batch norm, activations and pooling) by a convolution or by a flatten and a dense
   * layer, when they have no incoming weights (their constant output is folded into the next
   * layer's bias) or no outgoing weights; the layers between shrink to match (see `compact.ts`).
   */
  dropUnits?: boolean;
  /**
   * Keep the Bayesian layers' weight variances σ² of the kept weights (Sparse VD, variational
   * dropout, group sparsity; default false), and where each weight sat in its layer, so the
   * pruned model's `predictMC` draws the training model's weight noise. Units and channels
   * without incoming weights then stay when a Bayesian layer reads them (their constant is
   * multiplied by random weights, so it cannot be folded into a bias).
   */
  uncertainty?: boolean;
}

/** A weight layer before the sparse/dense decision: weights in the layer's layout [..., out]. */
type ProtoLinear = LinearProto;

type Proto = ProtoLinear | FixedStep | { kind: 'layer'; entry: LayerEntry } | EmbeddingForm | RecurrentForm;

/**
 * A copy of layer `l` for a `layer` step: a new instance of its registered class with its
 * options, and its parameter and state values (built later, in the sparse model).
 */
function copyOf(l: Layer, f: string): LayerEntry {
  const cfg = l.config();
  const make = layerRegistry.get(cfg.className);
  if (!make) throw new ArgumentError(f, `a layer whose class is registered by name (registerLayer('${cfg.className}', …)) or that gives an inference form`, cfg.className);
  const layer = make(cfg.options);
  const values = (gs: readonly { name: string; value: Tensor }[]) => gs.map((g) => ({ name: groupKey(g.name), shape: g.value.shape.slice(), values: g.value.toArray() }));
  const state = l.state();
  return { layer, outputShape: l.outputShape.slice(), params: values(l.params()), state: state.length ? values(state) : undefined };
}

/** 0, 1, …, n − 1. */
const iota = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);

/**
 * What layer `i` becomes: no step (dropout at inference), one, or a linear step and its fused
 * activation; `uncertainty`: a Bayesian layer's linear step keeps its variances.
 */
function toProtos(l: Layer, i: number, uncertainty: boolean): Proto[] {
  const form = l.inference();
  switch (form.kind) {
    case 'identity':
      return [];
    case 'linear': {
      const inputs = form.weights.length / form.units;
      const lin: ProtoLinear = { kind: 'linear', inputs, units: form.units, w: form.weights, bias: form.bias, geometry: form.geometry };
      if (uncertainty && form.variance) {
        lin.mc = { stream: l.index, variance: form.variance, inputs0: inputs, units0: form.units, inputMap: iota(inputs), unitMap: iota(form.units) };
      }
      return form.activation ? [lin, form.activation] : [lin];
    }
    case 'layer':
      return [{ kind: 'layer', entry: copyOf(l, `model.layers[${i}]`) }];
    default:
      return [form];
  }
}

/** `v` at the nonzeros of w [k, m], in the order of their CSR ({@link csrFromWeights}: unit by unit). */
function atNonzeros(w: Float32Array, v: Float32Array, k: number, m: number): Float32Array {
  const out: number[] = [];
  for (let j = 0; j < m; j++) for (let i = 0; i < k; i++) if (w[i * m + j] !== 0) out.push(v[i * m + j]);
  return Float32Array.from(out);
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
    // A Bayesian b multiplies a constant unit by random weights: it stays.
    if (hasOut[u] && (hasIn[u] || b.mc)) keep.push(u);
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
  keepUnits(a, keep);
  keepInputs(b, keep);
}

/**
 * Convert a trained {@link Sequential} into an inference-only {@link SparseModel}: every weight
 * layer keeps exactly the weights its deterministic `predict` uses (Sparse VD: log α < threshold;
 * variational dropout and group sparsity: α below the threshold, whole units for per-unit α),
 * stored as CSR when sparse enough (see {@link PruneOptions.sparseBelow}), else dense; hidden
 * units of dense layers that are dead are removed (see {@link PruneOptions.dropUnits});
 * activations, pooling, flatten, batch norm and softmax carry over; dropout layers vanish;
 * embeddings lose the words whose row is all dropped, recurrent layers store W_x and W_h sparse
 * or dense and lose the hidden units whose state feeds nothing (see `inference/recurrent.ts`).
 * Outputs match `model.predict` up to float rounding.
 */
export function prune(model: Sequential, opts: PruneOptions = {}): SparseModel {
  checkSequential('model', model);
  opts = optionsObject('options', opts);
  const sparseBelow = opts.sparseBelow === undefined ? undefined : checkNumber('options.sparseBelow', opts.sparseBelow, 0, 1);
  const uncertainty = booleanOption('options.uncertainty', opts.uncertainty, false);
  let original = 0;
  const protos: Proto[] = [];
  model.layers.forEach((l, i) => {
    for (const p of toProtos(l, i, uncertainty)) {
      if (p.kind === 'linear') original += p.w.length;
      else if (p.kind === 'embedding') original += p.table.length;
      else if (p.kind === 'recurrent') original += p.wx.length + p.wh.length;
      protos.push(p);
    }
  });
  if (opts.dropUnits ?? true) {
    compactChannels(protos, model.rt);
    compactRecurrent(protos);
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
    if (p.kind === 'embedding') return embeddingSpec(p);
    if (p.kind === 'recurrent') return recurrentSpec(p, (d) => (sparseBelow === undefined ? sparseIsFaster('dense', d) : d <= sparseBelow));
    if (p.kind !== 'linear') return p;
    let nnz = 0;
    for (let i = 0; i < p.w.length; i++) if (p.w[i] !== 0) nnz++;
    const sparse = sparseBelow === undefined ? sparseIsFaster(p.geometry ? 'conv' : 'dense', nnz / p.w.length) : nnz <= sparseBelow * p.w.length;
    const K = p.w.length / p.units;
    const csr = sparse ? csrFromWeights(p.w, K, p.units) : null;
    // The variances of the stored weights: in CSR order (the nonzeros of w) or all of them.
    const mc = p.mc ? { ...p.mc, variance: csr ? atNonzeros(p.w, p.mc.variance, K, p.units) : p.mc.variance } : null;
    if (p.geometry) {
      return csr
        ? { kind: 'sparseConv', filters: p.units, geometry: p.geometry, csr, bias: p.bias, mc }
        : { kind: 'conv', filters: p.units, geometry: p.geometry, weights: p.w, bias: p.bias, mc };
    }
    return csr
      ? { kind: 'sparse', inputs: p.inputs, units: p.units, csr, bias: p.bias, mc }
      : { kind: 'dense', inputs: p.inputs, units: p.units, weights: p.w, bias: p.bias, mc };
  });
  return SparseModel.fromSteps(model.inputShape, specs, { originalWeights: original, runtime: model.rt, uncertainty: uncertainty ? { seed: model.seed } : undefined });
}
