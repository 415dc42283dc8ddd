/**
 * The Monte-Carlo half of a {@link SparseModel} (src/inference/mc.ts), reached through this hook
 * so that `vardrop/infer` can leave it out: its kernels (the weight and pre-activation draws, the
 * counter-based Gaussian at kept indices, the entropies) are about 5 KB of that entry's gzipped
 * wasm and its code about 4 KB of JavaScript. The full package and `vardrop/infer-mc` install it
 * when their modules load (src/inference/mc-install.ts); without it a model pruned with
 * uncertainty still loads and predicts, and `predictMC` says where to find it.
 * @module
 */
import type { McWeights, mcCall, sparsePredictLrt, sparsePredictMC } from './mc.js';

/** What a SparseModel needs of inference/mc.ts. */
export interface McSupport {
  weights: typeof McWeights.create;
  call: typeof mcCall;
  predict: typeof sparsePredictMC;
  predictLrt: typeof sparsePredictLrt;
}

let installed: McSupport | null = null;

/** Give every SparseModel loaded or built from now on its Monte-Carlo prediction. */
export function installMc(s: McSupport): void {
  installed = s;
}

/** The installed Monte-Carlo support (null in `vardrop/infer`). */
export function mcSupport(): McSupport | null {
  return installed;
}
