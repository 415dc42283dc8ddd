/**
 * `vardrop/infer`: the inference-only entry. It loads a model file, dense (`Sequential`
 * files, `VDRP`, written by `model.save()`) or pruned (`SparseModel` files, `VDSP`, written
 * by `prune(model).save()`), and predicts with the same bits as the full `vardrop` bundle gives
 * for that file. `predictMC` (of a model pruned with `uncertainty: true`) needs the Monte-Carlo
 * kernels, which this entry leaves out: `vardrop/infer-mc` is the same entry with them. Its wasm
 * module holds the forward kernels only (assembly/infer.ts) and its
 * bundle no training code, so an edge function or a page that only predicts ships a fraction of
 * the full package.
 *
 * ```ts
 * import { load } from 'vardrop/infer';
 * const model = load(bytes);            // Uint8Array of either file kind
 * const classes = model.predictClasses(x); // x: n samples, flat Float32Array
 * ```
 * @module
 */
import { ModelFormatError, describe } from './errors.js';
import { Runtime } from './runtime/runtime.js';
import { SparseModel } from './inference/model.js';
import { denseFileSteps } from './inference/dense-file.js';
import { optionsObject, runtimeOption } from './validate.js';

export { VardropError, ShapeError, ArgumentError, NonFiniteError, OutOfMemoryError, ModelFormatError, KernelError } from './errors.js';
export { Runtime, runtime, init } from './runtime/runtime.js';
export { SparseModel } from './inference/model.js';
export type { SparsePredictOptions, SparseStepInfo } from './inference/model.js';
export type { StepSpec } from './inference/steps.js';
export type { Shape } from './tensor.js';
export type { McPrediction, McRegression, McOptions, McRegressionOptions } from './model.js';

/** Options of {@link load}. */
export interface InferLoadOptions {
  /** Runtime to hold the model (default: the shared one, created on first use; see {@link init}). */
  runtime?: Runtime;
}

/**
 * Load a model file of either kind for prediction: a Sequential file (`VDRP`; its layers become
 * the steps their deterministic forward computes, see src/inference/dense-file.ts) or a pruned
 * model file (`VDSP`). Either way a {@link SparseModel} comes back, whose `predict`,
 * `predictProba` and `predictClasses` give the full bundle's results for that file bit for bit
 * (`Sequential.load(bytes).predict(x)`, `SparseModel.load(bytes).predict(x)`).
 * Validates the whole file before allocating; a bad file, or a Sequential file with a layer
 * class this entry does not run (recurrent and embedding layers, user-defined ones), throws
 * {@link ModelFormatError}.
 * @param bytes The file, as `save()` wrote it.
 */
export function load(bytes: Uint8Array, opts: InferLoadOptions = {}): SparseModel {
  const rt = runtimeOption(optionsObject('options', opts).runtime);
  if (!(bytes instanceof Uint8Array)) throw new ModelFormatError('bytes', 'a Uint8Array holding a model file', describe(bytes));
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic === 'VDSP') return SparseModel.load(bytes, { runtime: rt });
  if (magic !== 'VDRP') throw new ModelFormatError('magic', '"VDRP" (a model file) or "VDSP" (a pruned model file)', JSON.stringify(magic));
  const d = denseFileSteps(bytes, rt);
  return SparseModel.fromFileSteps(d.inputShape, d.specs, d.originalWeights, rt);
}
