/**
 * Installs a {@link SparseModel}'s Monte-Carlo prediction (see mc-support.ts): called when the
 * modules of the entries whose wasm carries its kernels load (src/sparse.ts, src/prune.ts,
 * src/infer-mc.ts).
 * @module
 */
import { McWeights, mcCall, sparsePredictLrt, sparsePredictMC } from './mc.js';
import { installMc } from './mc-support.js';

/** Install SparseModel's Monte-Carlo prediction (the runtime's module must export its kernels). */
export function enableMc(): void {
  installMc({ weights: (...a) => McWeights.create(...a), call: mcCall, predict: sparsePredictMC, predictLrt: sparsePredictLrt });
}
