/**
 * Pruning and sparse inference, in one import: {@link prune} (src/prune.ts) turns a trained
 * `Sequential` into an inference-only {@link SparseModel} (src/inference/), whose weight layers
 * hold only the weights kept at inference, as CSR matrices ({@link SparseMatrix}, src/ops/spmm.ts)
 * or dense.
 * @module
 */
import { enableMc } from './inference/mc-install.js';

export { prune } from './prune.js';
export type { PruneOptions } from './prune.js';
export { SparseModel } from './inference/model.js';
export type { SparsePredictOptions, SparseStepInfo } from './inference/model.js';
export type { StepSpec } from './inference/steps.js';
export { SparseMatrix, spmm, sparseConv2d, transpose, checkCsr, csrFromWeights } from './ops/spmm.js';
export type { Csr, SparseOpOptions } from './ops/spmm.js';

// The full module carries the Monte-Carlo kernels: every SparseModel gets predictMC.
enableMc();
