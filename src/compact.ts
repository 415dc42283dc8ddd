/**
 * Structured compaction of a pruned network: whole convolution channels that carry nothing are
 * removed, and every layer they fed shrinks to match, so a pruned LeNet-5 gets smaller dense
 * convolutions instead of keeping its full shapes with zero filters.
 *
 * A channel f of a convolution A is followed through the steps that keep channels apart (batch
 * norm, activations, max/average pooling) to the next weight layer B (a convolution, or a dense
 * layer after a flatten). It is removed when
 * - B reads nothing of it (no kept weight of B on channel f): its value is irrelevant; or
 * - A writes nothing into it (no kept weight of A for filter f): it is the constant bias[f]
 *   carried through batch norm and the activations (pooling keeps a constant: max and mean over
 *   the real pixels of a window), and B's response to a constant is folded into B's bias. That
 *   is exact when every window of B sees only real pixels, so a convolution B with padding keeps
 *   such channels (a padded border would see zeros instead of the constant).
 * Dense-to-dense units are compacted by `prune`'s own unit dropping.
 * @module
 */
import { Runtime } from './runtime/runtime.js';
import { Tensor } from './tensor.js';
import { FixedStep } from './layers/layer.js';
import { ConvGeometry } from './ops/conv.js';
import { activation } from './ops/activation.js';
import { batchNorm } from './ops/batchnorm.js';
import type { McSpec } from './inference/mc.js';

/** A weight layer before the sparse/dense decision (as `prune` holds it): weights [..., units]. */
export interface LinearProto {
  kind: 'linear';
  /** Weights feeding one unit: inputs for a dense layer, KH·KW·C for a convolution. */
  inputs: number;
  units: number;
  w: Float32Array;
  bias: Float32Array | null;
  geometry?: ConvGeometry;
  /**
   * Kept with `prune({ uncertainty: true })` for a Bayesian layer: its variances in the layout of
   * `w` and where each input and unit sat in the training layer; every removal of inputs or
   * units goes through {@link keepUnits} / {@link keepInputs}, which keep them aligned.
   */
  mc?: McSpec;
}

/** Keep the units `keep` (old indices, in order) of `a`: its weight columns, biases, variances and unit map. */
export function keepUnits(a: LinearProto, keep: number[]): void {
  const U = a.units, I = a.w.length / U, K = keep.length;
  const cols = (w: Float32Array) => {
    const out = new Float32Array(I * K);
    for (let i = 0; i < I; i++) for (let k = 0; k < K; k++) out[i * K + k] = w[i * U + keep[k]];
    return out;
  };
  a.w = cols(a.w);
  a.units = K;
  if (a.bias) a.bias = Float32Array.from(keep, (u) => a.bias![u]);
  if (a.mc) {
    a.mc.variance = cols(a.mc.variance);
    a.mc.unitMap = Uint32Array.from(keep, (u) => a.mc!.unitMap[u]);
  }
}

/** Keep the input rows `rows` (old row of each new row, in order) of `b`'s weights, with its variances and input map. */
export function keepInputs(b: LinearProto, rows: number[]): void {
  const J = b.units;
  const pick = (w: Float32Array) => {
    const out = new Float32Array(rows.length * J);
    rows.forEach((r, n) => out.set(w.subarray(r * J, (r + 1) * J), n * J));
    return out;
  };
  b.w = pick(b.w);
  b.inputs = rows.length;
  if (b.mc) {
    b.mc.variance = pick(b.mc.variance);
    b.mc.inputMap = Uint32Array.from(rows, (r) => b.mc!.inputMap[r]);
  }
}

/** Steps between A and B through which channels stay separate. */
type Between = Extract<FixedStep, { kind: 'activation' | 'batchNorm' | 'maxPool' | 'avgPool' }>;

/** The constant outputs of channels `fs` of A (their biases) after the steps `between` (in wasm). */
function constants(a: LinearProto, fs: number[], between: Between[], rt: Runtime): Float32Array {
  const v = Float32Array.from(fs, (f) => (a.bias ? a.bias[f] : 0));
  if (v.length === 0) return v;
  let t = Tensor.from(v, [1, v.length], rt);
  const owned = [t];
  try {
    for (const s of between) {
      if (s.kind === 'activation') activation(s.activation, t, { alpha: s.alpha, out: t });
      else if (s.kind === 'batchNorm') {
        const sub = (x: Float32Array) => Tensor.from(Float32Array.from(fs, (f) => x[f]), [fs.length], rt);
        const [g, b, m, vv] = [sub(s.gamma), sub(s.beta), sub(s.mean), sub(s.variance)];
        owned.push(g, b, m, vv);
        t = batchNorm(t, g, b, { runningMean: m, runningVar: vv }, { training: false, eps: s.eps }).y;
        owned.push(t);
      }
    }
    return t.toArray();
  } finally {
    for (const x of owned) x.dispose();
  }
}

/**
 * Remove the dead channels of every convolution in `protos` (edited in place, see the module
 * comment). Returns how many channels were removed.
 * @param protos The pruned layers in order: weight layers as {@link LinearProto}, the rest as
 *   fixed steps (or anything else, which ends a chain).
 */
export function compactChannels(protos: { kind: string }[], rt: Runtime): number {
  let removed = 0;
  for (let i = 0; i < protos.length; i++) {
    const a = protos[i] as LinearProto;
    if (a.kind !== 'linear' || !a.geometry) continue;
    let j = i + 1;
    const between: Between[] = [];
    while (j < protos.length && ['activation', 'batchNorm', 'maxPool', 'avgPool'].includes(protos[j].kind)) between.push(protos[j++] as Between);
    let flatten = false;
    if (j < protos.length && protos[j].kind === 'flatten') {
      flatten = true;
      j++;
    }
    const b = protos[j] as LinearProto | undefined;
    if (!b || b.kind !== 'linear' || !!b.geometry === flatten) continue;
    removed += compactPair(a, between, b, flatten, rt);
  }
  return removed;
}

function compactPair(a: LinearProto, between: Between[], b: LinearProto, flatten: boolean, rt: Runtime): number {
  const F = a.units, K = a.inputs, J = b.units;
  // B's input index r reads channel r % F (NHWC: flattened features and conv taps both put the
  // channel innermost).
  const BI = b.inputs;
  if (BI % F !== 0) return 0;
  const hasIn = new Uint8Array(F), hasOut = new Uint8Array(F);
  for (let k = 0; k < K; k++) for (let f = 0; f < F; f++) if (a.w[k * F + f] !== 0) hasIn[f] = 1;
  for (let r = 0; r < BI; r++) {
    const f = r % F;
    if (hasOut[f]) continue;
    for (let q = 0; q < J; q++) if (b.w[r * J + q] !== 0) {
      hasOut[f] = 1;
      break;
    }
  }
  // A Bayesian B keeps a constant channel: its weights on it are random, so is their response.
  const foldable = !b.mc && (flatten || (b.geometry!.pad[0] === 0 && b.geometry!.pad[1] === 0));
  const keep: number[] = [], folded: number[] = [];
  for (let f = 0; f < F; f++) {
    if (!hasOut[f]) continue;
    if (hasIn[f] || !foldable) keep.push(f);
    else folded.push(f);
  }
  if (keep.length === 0) keep.push(folded.length ? folded.shift()! : 0); // keep one channel: no empty tensors
  if (keep.length === F) return 0;
  if (folded.length) {
    const c = constants(a, folded, between, rt);
    const nb = b.bias ? Float64Array.from(b.bias) : new Float64Array(J);
    const at = new Map(folded.map((f, k) => [f, c[k]]));
    for (let r = 0; r < BI; r++) {
      const v = at.get(r % F);
      if (v) for (let q = 0; q < J; q++) nb[q] += v * b.w[r * J + q];
    }
    b.bias = Float32Array.from(nb);
  }
  const KF = keep.length;
  keepUnits(a, keep);
  for (const s of between) {
    if (s.kind !== 'batchNorm') continue;
    const sub = (x: Float32Array) => Float32Array.from(keep, (f) => x[f]);
    [s.gamma, s.beta, s.mean, s.variance] = [sub(s.gamma), sub(s.beta), sub(s.mean), sub(s.variance)];
  }
  const pos = BI / F, rows: number[] = [];
  for (let p = 0; p < pos; p++) for (const f of keep) rows.push(p * F + f);
  keepInputs(b, rows);
  return F - KF;
}

/**
 * Kept-weight fraction up to which the sparse kernel beats the dense one, per layer kind, read off
 * `bench/crossover.bench.mjs` on the project's 2-core x86 machine (Node 20, one thread): dense
 * layers of LeNet-300-100 and LeNet-5 cross at 10–15% kept at batch 1 (40–50% at batch 64: the
 * GEMM's packing dominates small batches less), convolutions at about 40% at both batch sizes.
 * The batch-1 figure is the rule for dense layers, since that is where a wrong choice costs most.
 */
export const SPARSE_CROSSOVER: Readonly<Record<'dense' | 'conv', number>> = { dense: 0.15, conv: 0.4 };

/** Whether a layer of `kind` with this fraction of its weights kept runs faster sparse (CSR) than dense. */
export function sparseIsFaster(kind: 'dense' | 'conv', density: number): boolean {
  return density <= SPARSE_CROSSOVER[kind];
}
