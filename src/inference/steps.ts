/**
 * The steps of a sparse model: their specs in plain arrays (what files and {@link prune} hand
 * over), the output shape each gives, and their validation, for specs built in memory
 * ({@link checkSpec}, ArgumentError) and read from files ({@link readStep}/{@link writeStep},
 * ModelFormatError, everything checked before anything is allocated).
 * @module
 */
import { ArgumentError, ModelFormatError, checkNumber, describe } from '../errors.js';
import { MAX_ELEMENTS, Shape, fmtShape } from '../tensor.js';
import { ActivationKind } from '../ops/activation.js';
import type { ConvGeometry } from '../ops/conv.js';
import { windowOutputSize } from '../ops/geometry.js';
import { Csr, MAX_CONV_K, checkCsr } from '../ops/spmm.js';
import type { FixedStep, Layer } from '../layers/layer.js';
import { ContainerReader, LayerEntry, PayloadWriter, bad, isInt, isObject, readLayerEntry, show, writeLayerEntry } from '../container.js';
import {
  EmbeddingStepSpec, RecurrentStepSpec, checkSequenceSpec, readCsrField, readSequenceStep, sequenceStepShape, writeCsrField, writeSequenceStep,
} from './recurrent.js';
import { McSpec, checkMcSpec, readMcSpec, writeMcSpec } from './mc.js';
import { denseKept, readDenseKept, writeDenseKept } from './kept.js';

/**
 * One inference step of a {@link SparseModel}, in plain arrays (what files hold): a weight layer
 * stored sparse (CSR of Wᵀ, see ops/spmm.ts) or dense, a {@link FixedStep}, or a whole layer
 * run by its own deterministic forward (`layer`: a class registered by name, with its values).
 */
export type StepSpec =
  | { kind: 'sparse'; inputs: number; units: number; csr: Csr; bias: Float32Array | null; mc?: McSpec | null }
  | {
    kind: 'dense'; inputs: number; units: number; weights: Float32Array; bias: Float32Array | null; mc?: McSpec | null;
    /**
     * Multiply only the input columns that are not all zero in the batch when few enough are
     * live, as a `Dense` layer's deterministic forward does (so a step made from one gives that
     * layer's bits); absent or false: the plain product.
     */
    liveColumns?: boolean;
  }
  | { kind: 'sparseConv'; filters: number; geometry: ConvGeometry; csr: Csr; bias: Float32Array | null; mc?: McSpec | null }
  | { kind: 'conv'; filters: number; geometry: ConvGeometry; weights: Float32Array; bias: Float32Array | null; mc?: McSpec | null }
  | FixedStep
  | { kind: 'layer'; entry: LayerEntry }
  | EmbeddingStepSpec
  | RecurrentStepSpec;

const ACTIVATIONS: readonly ActivationKind[] = ['relu', 'leakyRelu', 'elu', 'sigmoid', 'tanh'];

type ErrClass = typeof ArgumentError | typeof ModelFormatError;

/** Output shape of `s` on `inShape`; throws `Err` naming `f` when they do not fit. */
export function stepShape(s: StepSpec, inShape: Shape, f: string, Err: ErrClass): Shape {
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
            if (kh * kw * c > MAX_CONV_K) fail('geometry.kernel', `at most ${MAX_CONV_K} taps (KH·KW·C)`, `${kh}·${kw}·${c}`);
      if (s.filters > MAX_CONV_K) fail('filters', `at most ${MAX_CONV_K}`, String(s.filters));
      const out = windowOutputSize(h, w, kh, kw, sh, sw, ph, pw);
      if (!out) return fail('geometry', `a kernel fitting ${fmtShape(inShape)}`, `${kh}×${kw}`);
      return [out[0], out[1], s.filters];
    }
    case 'maxPool':
    case 'avgPool': {
      if (inShape.length !== 3) fail('kind', `a layer for ${fmtShape(inShape)}`, 'a pooling (needs [h, w, c])');
      const [h, w, c] = inShape;
      if (s.pad[0] >= s.size[0] || s.pad[1] >= s.size[1]) fail('pad', 'less than the window', `${s.pad}`);
      const out = windowOutputSize(h, w, s.size[0], s.size[1], s.stride[0], s.stride[1], s.pad[0], s.pad[1]);
      if (!out) return fail('size', `a window fitting ${fmtShape(inShape)}`, `${s.size}`);
      return [out[0], out[1], c];
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
    case 'embedding':
    case 'recurrent':
      return sequenceStepShape(s, inShape, f, Err);
    case 'layer': {
      let out: Shape;
      try {
        out = s.entry.layer.plan(inShape).outputShape;
      } catch (e) {
        const v = e as ArgumentError;
        throw new Err(`${f}.entry`, `a layer for ${fmtShape(inShape)}`, v?.message ?? String(e));
      }
      return out;
    }
  }
}


function pairOf(f: string, v: unknown, min: number, Err: ErrClass): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((d) => isInt(d) && d >= min && d <= 1 << 20)) {
    throw new Err(f, `[h, w] integers in [${min}, 2^20]`, show(v));
  }
  return [v[0], v[1]];
}

function checkGeometry(f: string, g: unknown, Err: ErrClass): ConvGeometry {
  if (!isObject(g)) throw new Err(f, 'a {kernel, stride, pad} object', show(g));
  return { kernel: pairOf(`${f}.kernel`, g.kernel, 1, Err), stride: pairOf(`${f}.stride`, g.stride, 1, Err), pad: pairOf(`${f}.pad`, g.pad, 0, Err) };
}

function checkLen(f: string, a: unknown, n: number, Err: ErrClass): void {
  if (!(a instanceof Float32Array) || a.length !== n) throw new Err(f, `a Float32Array of ${n}`, describe(a));
  for (let i = 0; i < n; i++) if (a[i] - a[i] !== 0) throw new Err(`${f}[${i}]`, 'a finite value', String(a[i]));
}

/** Field-level checks of a spec built in memory (fromSteps); shapes are chained by the constructor. */
export function checkSpec(s: StepSpec, f: string, Err: ErrClass): void {
  if (!isObject(s)) throw new Err(f, 'a step object', show(s));
  switch (s.kind) {
    case 'sparse':
    case 'sparseConv':
      checkCsr(`${f}.csr`, s.csr, Err);
      if (s.kind === 'sparse' && (s.csr.rows !== s.units || s.csr.cols !== s.inputs)) throw new Err(`${f}.csr`, `[${s.units}, ${s.inputs}]`, `[${s.csr.rows}, ${s.csr.cols}]`);
      if (s.kind === 'sparseConv') checkGeometry(`${f}.geometry`, s.geometry, Err);
      if (s.bias) checkLen(`${f}.bias`, s.bias, s.csr.rows, Err);
      if (s.mc) checkMcSpec(`${f}.mc`, s.mc, s.csr.cols, s.csr.rows, s.csr.values.length, Err);
      break;
    case 'dense':
      checkLen(`${f}.weights`, s.weights, s.inputs * s.units, Err);
      if (s.liveColumns !== undefined && typeof s.liveColumns !== 'boolean') throw new Err(`${f}.liveColumns`, 'a boolean', show(s.liveColumns));
      if (s.bias) checkLen(`${f}.bias`, s.bias, s.units, Err);
      if (s.mc) checkMcSpec(`${f}.mc`, s.mc, s.inputs, s.units, s.weights.length, Err);
      break;
    case 'conv':
      checkGeometry(`${f}.geometry`, s.geometry, Err);
      if (s.bias) checkLen(`${f}.bias`, s.bias, s.filters, Err);
      if (s.mc) checkMcSpec(`${f}.mc`, s.mc, s.weights.length / s.filters, s.filters, s.weights.length, Err);
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
    case 'embedding':
    case 'recurrent':
      checkSequenceSpec(s, f, Err);
      break;
    case 'layer':
      if (!isObject(s.entry) || !isObject(s.entry.layer) || typeof (s.entry.layer as Layer).plan !== 'function') throw new Err(`${f}.entry`, 'a layer entry', show(s.entry));
      if (s.entry.layer.built) throw new Err(`${f}.entry.layer`, 'a layer not yet built (each step owns its layer)', 'a built layer');
      break;
    default:
      throw new Err(`${f}.kind`, 'a known step kind', show((s as { kind: unknown }).kind));
  }
}

/** Read and check one step of a file against the incoming per-sample shape. */
export function readStep(r: ContainerReader, e: unknown, f: string, inShape: Shape): StepSpec {
  if (!isObject(e)) bad(f, 'a step object', show(e));
  const int = (k: string, min = 1): number => {
    const v = e[k];
    if (!isInt(v) || v < min || v > MAX_ELEMENTS) bad(`${f}.${k}`, `an integer in [${min}, ${MAX_ELEMENTS}]`, show(v));
    return v;
  };
  const csr = (rows: number, cols: number): Csr => readCsrField(r, e.csr, `${f}.csr`, rows, cols);
  const bias = (n: number): Float32Array | null => (e.bias === null || e.bias === undefined ? null : r.read(`${f}.bias`, e.bias, 'f32', n));
  const fits = (n: number, k: string) => {
    if (n * 4 > r.payloadBytes) bad(`${f}.${k}`, `at most ${r.payloadBytes / 4} weights (the payload)`, String(n));
  };
  const geometry = () => checkGeometry(`${f}.geometry`, e.geometry, ModelFormatError);
  // Version 3: a Bayesian step's weight variances and training-layer indices (optional).
  const mc = (inputs: number, units: number, values: number, kept: Float64Array | null = null): McSpec | null => readMcSpec(r, e.mc, `${f}.mc`, inputs, units, values, kept);
  // Version 4: a dense matrix of n values in full (`weights`) or as its kept entries (`kept`, see kept.ts).
  const dense = (n: number, k: string): { weights: Float32Array; kept: Float64Array | null } => {
    if (r.version >= 4 && e.kept !== undefined) {
      if (e.weights !== undefined) bad(`${f}.weights`, 'absent beside kept', show(e.weights));
      const d = readDenseKept(r, e.kept, `${f}.kept`, n);
      return { weights: d.weights, kept: d.positions };
    }
    fits(n, k);
    return { weights: r.read(`${f}.weights`, e.weights, 'f32', n), kept: null };
  };
  switch (e.kind) {
    case 'sparse': {
      const inputs = int('inputs'), units = int('units');
      if (inShape.length !== 1 || inShape[0] !== inputs) bad(`${f}.inputs`, `${fmtShape(inShape)} as [inputs]`, String(inputs));
      if (units + 1 > r.payloadBytes / 4) bad(`${f}.units`, 'row pointers fitting the payload', String(units));
      const c = csr(units, inputs), b = bias(units);
      return { kind: 'sparse', inputs, units, csr: c, bias: b, mc: mc(inputs, units, c.values.length) };
    }
    case 'dense': {
      const inputs = int('inputs'), units = int('units');
      if (inShape.length !== 1 || inShape[0] !== inputs) bad(`${f}.inputs`, `${fmtShape(inShape)} as [inputs]`, String(inputs));
      if (e.liveColumns !== undefined && typeof e.liveColumns !== 'boolean') bad(`${f}.liveColumns`, 'a boolean', show(e.liveColumns));
      const d = dense(inputs * units, 'units'), b = bias(units);
      const spec: StepSpec = { kind: 'dense', inputs, units, weights: d.weights, bias: b, mc: mc(inputs, units, inputs * units, d.kept) };
      if (e.liveColumns === true) spec.liveColumns = true;
      return spec;
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
        const c = csr(filters, k), b = bias(filters);
        return { kind: 'sparseConv', filters, geometry: g, csr: c, bias: b, mc: mc(k, filters, c.values.length) };
      }
      const d = dense(k * filters, 'filters'), b = bias(filters);
      return { kind: 'conv', filters, geometry: g, weights: d.weights, bias: b, mc: mc(k, filters, k * filters, d.kept) };
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
    case 'layer':
      return { kind: 'layer', entry: readLayerEntry(r, e.layer, `${f}.layer`, inShape) };
    case 'embedding':
    case 'recurrent':
      return readSequenceStep(r, e, f, inShape);
    default:
      return bad(`${f}.kind`, 'one of sparse, dense, sparseConv, conv, activation, maxPool, avgPool, flatten, batchNorm, softmax, layer, embedding, recurrent', show(e.kind));
  }
}

/**
 * The header entry of step `s`, its arrays appended to `w` (CSR row pointers u32, column
 * indices u16 or u32, values, weights, biases and statistics f32; with `w.compact`, CSRs and
 * dense matrices as their kept entries, see kept.ts). A `layer` step writes its
 * built layer `layer` as Sequential files write layers.
 */
export function writeStep(w: PayloadWriter, s: StepSpec, layer?: Layer): Record<string, unknown> {
  const seg = (a: Float32Array | null) => (a ? w.add(a) : null);
  const csr = (c: Csr) => writeCsrField(w, c);
  const mc = (m: McSpec | null | undefined) => (m ? { mc: writeMcSpec(w, m) } : {});
  // A dense matrix (and its variances) as its kept entries when the writer codes compactly and that is smaller (kept.ts).
  const dense = (weights: Float32Array, m: McSpec | null | undefined) => {
    const d = w.compact ? denseKept(weights, m ? m.variance : null) : null;
    if (!d) return { weights: w.add(weights), ...mc(m) };
    return { kept: writeDenseKept(w, d), ...(m ? { mc: writeMcSpec(w, m, d.variance!) } : {}) };
  };
  switch (s.kind) {
    case 'sparse': return { kind: s.kind, inputs: s.inputs, units: s.units, csr: csr(s.csr), bias: seg(s.bias), ...mc(s.mc) };
    case 'dense': return { kind: s.kind, inputs: s.inputs, units: s.units, ...dense(s.weights, s.mc), bias: seg(s.bias), ...(s.liveColumns ? { liveColumns: true } : {}) };
    case 'sparseConv': return { kind: s.kind, filters: s.filters, geometry: s.geometry, csr: csr(s.csr), bias: seg(s.bias), ...mc(s.mc) };
    case 'conv': return { kind: s.kind, filters: s.filters, geometry: s.geometry, ...dense(s.weights, s.mc), bias: seg(s.bias) };
    case 'batchNorm': return { kind: s.kind, eps: s.eps, gamma: w.add(s.gamma), beta: w.add(s.beta), mean: w.add(s.mean), variance: w.add(s.variance) };
    case 'layer': return { kind: s.kind, layer: writeLayerEntry(w, layer ?? s.entry.layer) };
    case 'embedding':
    case 'recurrent': return writeSequenceStep(w, s);
    default: return { ...s };
  }
}
