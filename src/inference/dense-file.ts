/**
 * A {@link Sequential} model file (`VDRP`) read as inference steps, without the layer classes:
 * what the `vardrop/infer` entry runs for a dense (unpruned) model. Each built-in layer class
 * becomes the steps its deterministic forward computes, with the same kernels on the same
 * operands, so the outputs are `Sequential.predict`'s bit for bit: Dense and Conv2d their
 * weights (Dense multiplying the live input columns only, as the layer does), Sparse VD layers
 * θ masked where log α ≥ threshold (by the layers' own kernel), variational dropout and group
 * sparsity θ masked by α, batch norm its running statistics, activations, pooling, flatten and
 * softmax themselves; dropout nothing. Everything is checked before anything is allocated in
 * wasm memory; a bad file or a layer class this reader does not run throws {@link ModelFormatError}.
 * @module
 */
import { ModelFormatError, VardropError, checkInt, checkNumber } from '../errors.js';
import { MAX_ELEMENTS, Shape, Tensor, fmtShape } from '../tensor.js';
import type { Runtime } from '../runtime/runtime.js';
import type { ActivationKind } from '../ops/activation.js';
import type { ConvGeometry } from '../ops/conv.js';
import { windowOutputSize } from '../ops/geometry.js';
import { pairOption } from '../ops/check.js';
import { svdLogAlpha } from '../ops/bayes.js';
import { convGeometry } from '../layers/linear.js';
import { ContainerReader, NamedValues, bad, checkShapeField, isObject, openModelFile, readTensors, show } from '../container.js';
import type { StepSpec } from './steps.js';

const ACTIVATIONS: readonly ActivationKind[] = ['relu', 'leakyRelu', 'elu', 'sigmoid', 'tanh'];

/** Classes this reader runs (the built-in ones; others need `prune` in the full bundle). */
const CLASSES = [
  'Dense', 'Conv2d', 'SparseVDDense', 'SparseVDConv2d', 'VariationalDropoutDense', 'VariationalDropoutConv2d', 'GroupSparseVDDense',
  'GroupSparseVDConv2d', 'BatchNorm', 'MaxPool2d', 'AvgPool2d', 'Flatten', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'Sigmoid', 'Tanh',
  'Softmax', 'Dropout', 'GaussianDropout',
] as const;

/** How a weight layer makes its inference weights from its parameters. */
type Masking =
  | { kind: 'none' }
  | { kind: 'svd'; threshold: number; lo: number; hi: number }
  | { kind: 'vd'; threshold: number; alpha: 'layer' | 'unit' | 'weight'; logAlpha: Float32Array | number };

/** A layer entry checked and turned into step templates; weights are finished by {@link finish}. */
interface Pending {
  steps: StepSpec[];
  /** The weight step's parameters, to mask (in wasm) once every layer has been checked. */
  weight?: { step: Extract<StepSpec, { kind: 'dense' | 'conv' }>; theta: Float32Array; logSigma2?: Float32Array; masking: Masking };
}

/** The steps, input shape and weight count of a Sequential file (see the module comment). */
export interface DenseFileSteps {
  inputShape: number[];
  specs: StepSpec[];
  originalWeights: number;
}

/** Run `fn`, turning an option checker's error into a {@link ModelFormatError} of `f`. */
function option<T>(f: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    if (e instanceof VardropError) throw new ModelFormatError(`${f}.${e.argument}`, e.expected, e.received);
    throw e;
  }
}

/** The tensors of an entry against the names and shapes the class has (as the full reader checks them). */
function expectTensors(f: string, got: NamedValues[], want: [string, Shape][]): Float32Array[] {
  if (got.length !== want.length) bad(f, `${want.length} tensors (${want.map((w) => w[0]).join(', ') || 'none'})`, `${got.length}`);
  return want.map(([name, shape], k) => {
    const v = got[k];
    if (v.name !== name) bad(`${f}[${k}].name`, JSON.stringify(name), show(v.name));
    if (v.shape.length !== shape.length || v.shape.some((d, i) => d !== shape[i])) bad(`${f}[${k}].shape`, fmtShape(shape), show(v.shape));
    return v.values;
  });
}

/** A fused activation option (`'relu'` or `{kind, alpha}`) as a step, or none. */
function fusedActivation(f: string, a: unknown): StepSpec[] {
  if (a === undefined || a === null) return [];
  const o = typeof a === 'string' ? { kind: a } : a;
  const kind = isObject(o) ? o.kind : undefined;
  if (!ACTIVATIONS.includes(kind as ActivationKind)) bad(`${f}.activation`, `one of ${ACTIVATIONS.join(', ')} (or {kind, alpha})`, show(a));
  const alpha = (o as { alpha?: unknown }).alpha;
  if (alpha === undefined || alpha === null) return [{ kind: 'activation', activation: kind as ActivationKind }];
  return [{ kind: 'activation', activation: kind as ActivationKind, alpha: option(f, () => checkNumber('activation.alpha', alpha)) }];
}

/** Read one layer entry for per-sample input `inShape`: its steps, output shape and weight count. */
function readLayer(r: ContainerReader, e: unknown, f: string, inShape: Shape): { pending: Pending; outShape: Shape; weights: number } {
  if (!isObject(e)) bad(f, 'a layer object', show(e));
  const cls = e.className;
  if (!(CLASSES as readonly unknown[]).includes(cls)) {
    bad(`${f}.className`, `a layer class vardrop/infer runs (${CLASSES.join(', ')}; prune a model with other layers in the full bundle)`, show(cls));
  }
  const o = e.options;
  if (!isObject(o)) bad(`${f}.options`, 'an object', show(o));
  const params = readTensors(r, `${f}.params`, e.params ?? []);
  const state = e.state === undefined ? [] : readTensors(r, `${f}.state`, e.state);
  const of = `${f}.options`;
  const none = (outShape: Shape, steps: StepSpec[] = []) => {
    expectTensors(`${f}.params`, params, []);
    expectTensors(`${f}.state`, state, []);
    return { pending: { steps }, outShape, weights: 0 };
  };
  switch (cls) {
    case 'Flatten':
      return none([inShape.reduce((a, b) => a * b, 1)], [{ kind: 'flatten' }]);
    case 'Softmax':
      if (inShape.length !== 1) bad(`${f}.className`, `a layer for ${fmtShape(inShape)}`, 'Softmax (needs [classes])');
      return none(inShape, [{ kind: 'softmax' }]);
    case 'Dropout':
    case 'GaussianDropout':
      return none(inShape);
    case 'Activation':
    case 'ReLU':
    case 'LeakyReLU':
    case 'ELU':
    case 'Sigmoid':
    case 'Tanh': {
      const kind = cls === 'Activation' ? o.kind : ({ ReLU: 'relu', LeakyReLU: 'leakyRelu', ELU: 'elu', Sigmoid: 'sigmoid', Tanh: 'tanh' } as const)[cls];
      return none(inShape, fusedActivation(f, o.alpha === undefined || o.alpha === null ? kind : { kind, alpha: o.alpha }));
    }
    case 'MaxPool2d':
    case 'AvgPool2d': {
      const size = option(of, () => pairOption('poolSize', o.poolSize as never, 2, 1));
      const stride = option(of, () => pairOption('stride', (o.stride ?? size) as never, 1, 1));
      const pad = option(of, () => pairOption('padding', o.padding as never, 0, 0));
      if (inShape.length !== 3) bad(`${f}.className`, `a layer for ${fmtShape(inShape)}`, `${cls} (needs [h, w, c])`);
      if (pad[0] >= size[0] || pad[1] >= size[1]) bad(`${of}.padding`, 'less than the window', `${pad}`);
      const out = windowOutputSize(inShape[0], inShape[1], size[0], size[1], stride[0], stride[1], pad[0], pad[1]);
      if (!out) bad(`${of}.poolSize`, `a window fitting ${fmtShape(inShape)}`, `${size}`);
      return none([out[0], out[1], inShape[2]], [{ kind: cls === 'MaxPool2d' ? 'maxPool' : 'avgPool', size, stride, pad }]);
    }
    case 'BatchNorm': {
      const eps = option(of, () => checkNumber('epsilon', o.epsilon ?? 1e-5, 1e-12));
      option(of, () => checkNumber('momentum', o.momentum ?? 0.1, 0, 1));
      const c = inShape[inShape.length - 1];
      const [gamma, beta] = expectTensors(`${f}.params`, params, [['gamma', [c]], ['beta', [c]]]);
      const [mean, variance] = expectTensors(`${f}.state`, state, [['runningMean', [c]], ['runningVar', [c]]]);
      for (let i = 0; i < c; i++) if (!(variance[i] >= 0)) bad(`${f}.state[1][${i}]`, 'a variance >= 0', String(variance[i]));
      return { pending: { steps: [{ kind: 'batchNorm', gamma, beta, mean, variance, eps }] }, outShape: inShape, weights: 0 };
    }
    default:
      return readWeightLayer(f, cls as string, o, params, state, inShape);
  }
}

/** A weight layer: its map (dense or convolution), parameters, masking and fused activation. */
function readWeightLayer(f: string, cls: string, o: Record<string, unknown>, params: NamedValues[], state: NamedValues[], inShape: Shape) {
  const of = `${f}.options`;
  const conv = cls.endsWith('Conv2d');
  let units: number, ws: Shape, outShape: Shape, geometry: ConvGeometry | undefined;
  if (conv) {
    units = option(of, () => checkInt('filters', o.filters, 1));
    if (inShape.length !== 3) bad(`${f}.className`, `a layer for ${fmtShape(inShape)}`, `${cls} (needs [h, w, c])`);
    const g = option(of, () => convGeometry(o as never));
    const out = windowOutputSize(inShape[0], inShape[1], g.kernel[0], g.kernel[1], g.stride[0], g.stride[1], g.pad[0], g.pad[1]);
    if (!out) bad(`${of}.kernelSize`, `a kernel fitting ${fmtShape(inShape)}`, `${g.kernel}`);
    ws = [g.kernel[0], g.kernel[1], inShape[2], units];
    outShape = [out[0], out[1], units];
    geometry = g;
  } else {
    units = option(of, () => checkInt('units', o.units, 1));
    if (inShape.length !== 1) bad(`${f}.className`, `a layer for ${fmtShape(inShape)}`, `${cls} (needs [features]; add a Flatten)`);
    ws = [inShape[0], units];
    outShape = [units];
  }
  checkShapeField(of, ws.slice(), MAX_ELEMENTS);
  const n = ws.reduce((a, b) => a * b, 1);
  const useBias = o.useBias === undefined || o.useBias === null ? true : o.useBias === true;
  const bias: [string, Shape][] = useBias ? [['bias', [units]]] : [];
  const act = fusedActivation(of, o.activation);
  const num = (k: string, dflt: number) => {
    const v = o[k] ?? dflt;
    if (typeof v !== 'number' || Number.isNaN(v)) bad(`${of}.${k}`, 'a number', show(v));
    return v;
  };
  const range = (dflt: [number, number]) => {
    const v = o.logAlphaRange ?? dflt;
    if (!Array.isArray(v) || v.length !== 2 || !(v[0] < v[1]) || !v.every(Number.isFinite)) bad(`${of}.logAlphaRange`, '[lo, hi] finite with lo < hi', show(v));
    return v as [number, number];
  };
  expectTensors(`${f}.state`, state, []);
  let theta: Float32Array, logSigma2: Float32Array | undefined, b: Float32Array | undefined, masking: Masking;
  if (cls === 'Dense' || cls === 'Conv2d') {
    [theta, b] = expectTensors(`${f}.params`, params, [['kernel', ws], ...bias]);
    masking = { kind: 'none' };
  } else if (cls.startsWith('SparseVD')) {
    [theta, logSigma2, b] = expectTensors(`${f}.params`, params, [['theta', ws], ['logSigma2', ws], ...bias]);
    const [lo, hi] = range([-8, 8]);
    masking = { kind: 'svd', threshold: num('threshold', 3), lo, hi };
  } else {
    const group = cls.startsWith('GroupSparseVD');
    const alpha = group ? 'unit' : (o.alpha ?? 'weight');
    if (alpha !== 'layer' && alpha !== 'unit' && alpha !== 'weight') bad(`${of}.alpha`, "'layer' | 'unit' | 'weight'", show(alpha));
    const [lo, hi] = range(group ? [-8, 8] : [-8, 0]);
    const threshold = num('threshold', group ? 3 : Infinity);
    const initial = num('initialLogAlpha', -4);
    const learn = o.learnAlpha === undefined || o.learnAlpha === null ? true : o.learnAlpha === true;
    const laShape: Shape = alpha === 'weight' ? ws : [alpha === 'unit' ? units : 1];
    let la: Float32Array | number = Math.min(Math.max(initial, lo), hi);
    if (learn) [theta, la, b] = expectTensors(`${f}.params`, params, [['theta', ws], ['logAlpha', laShape], ...bias]);
    else [theta, b] = expectTensors(`${f}.params`, params, [['theta', ws], ...bias]);
    masking = { kind: 'vd', threshold, alpha, logAlpha: la };
  }
  const step: Extract<StepSpec, { kind: 'dense' | 'conv' }> = conv
    ? { kind: 'conv', filters: units, geometry: geometry!, weights: theta, bias: b ?? null }
    // A Dense layer's deterministic forward multiplies the live input columns only; the Bayesian layers the full input.
    : { kind: 'dense', inputs: inShape[0], units, weights: theta, bias: b ?? null, ...(cls === 'Dense' ? { liveColumns: true } : {}) };
  return { pending: { steps: [step, ...act], weight: { step, theta, logSigma2, masking } }, outShape, weights: n };
}

/** The inference weights of a checked weight layer (Sparse VD's mask by the layers' own wasm kernel). */
function finish(p: NonNullable<Pending['weight']>, rt: Runtime): void {
  const m = p.masking;
  if (m.kind === 'none') return;
  if (m.kind === 'vd') {
    if (m.threshold === Infinity) return;
    const cols = p.step.kind === 'conv' ? p.step.filters : p.step.units;
    const w = new Float32Array(p.theta.length);
    for (let i = 0; i < w.length; i++) {
      const la = typeof m.logAlpha === 'number' ? m.logAlpha : m.logAlpha[m.alpha === 'layer' ? 0 : m.alpha === 'unit' ? i % cols : i];
      w[i] = la < m.threshold ? p.theta[i] : 0;
    }
    p.step.weights = w;
    return;
  }
  // log α by the layers' own kernel (the module of this entry has no svd_prepare_f32, whose KL
  // gradients inference never needs); the mask θ where log α < threshold (f32, as that kernel
  // compares) else +0: the weights svd_prepare_f32 gives the full bundle, bit for bit.
  const t = [p.theta, p.logSigma2!, p.theta].map((a) => Tensor.from(a, [a.length], rt));
  let la: Float32Array;
  try {
    la = svdLogAlpha(t[0], t[1], t[2], { lo: m.lo, hi: m.hi }).toArray();
  } finally {
    for (const x of t) x.dispose();
  }
  const thr = Math.fround(m.threshold), w = new Float32Array(p.theta.length);
  for (let i = 0; i < w.length; i++) if (la[i] < thr) w[i] = p.theta[i];
  p.step.weights = w;
}

/**
 * The inference steps of Sequential file `bytes` (see the module comment), the masks computed in
 * `rt`. Throws {@link ModelFormatError} before allocating anything when the file is bad or names a
 * layer class this reader does not run.
 */
export function denseFileSteps(bytes: Uint8Array, rt: Runtime): DenseFileSteps {
  const r = openModelFile(bytes, rt);
  const h = r.header;
  let shape: Shape = h.inputShape as number[];
  let originalWeights = 0;
  const pending = (h.layers as unknown[]).map((e, i) => {
    const l = readLayer(r, e, `header.layers[${i}]`, shape);
    checkShapeField(`header.layers[${i}]`, l.outShape.slice(), MAX_ELEMENTS);
    shape = l.outShape;
    originalWeights += l.weights;
    return l.pending;
  });
  const specs = pending.flatMap((p) => p.steps);
  if (specs.length === 0) bad('header.layers', 'at least one layer that computes something at inference', 'dropout only');
  for (const p of pending) if (p.weight) finish(p.weight, rt);
  return { inputShape: (h.inputShape as number[]).slice(), specs, originalWeights };
}
