/**
 * `vardrop/infer-mc`: `vardrop/infer` plus Monte-Carlo prediction. The same `load` and
 * {@link SparseModel}, whose `predictMC` (of a model pruned with `{ uncertainty: true }`) gives
 * the full bundle's results bit for bit; its wasm adds the kernels of the weight and
 * pre-activation draws (assembly/infer-mc.ts), which `vardrop/infer` leaves out to stay small.
 *
 * ```ts
 * import { load } from 'vardrop/infer-mc';
 * const model = load(bytes);                          // a file of prune(m, { uncertainty: true })
 * const { mean, predictiveEntropy } = model.predictMC(x, { samples: 30 });
 * ```
 * @module
 */
import { enableMc } from './inference/mc-install.js';

export { VardropError, ShapeError, ArgumentError, NonFiniteError, OutOfMemoryError, ModelFormatError, KernelError, Runtime, runtime, init, SparseModel, load } from './infer.js';
export type {
  InferLoadOptions, SparsePredictOptions, SparseStepInfo, StepSpec, Shape, McPrediction, McRegression, McOptions, McRegressionOptions,
} from './infer.js';
export type { SparseMcOptions } from './inference/mc.js';

// This entry's module carries the Monte-Carlo kernels: every SparseModel it loads gets predictMC.
enableMc();
