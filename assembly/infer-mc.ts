// The module of `vardrop/infer-mc`: the inference module (infer.ts) plus the kernels of Monte-Carlo
// prediction of pruned models (weight draws, LRT pre-activation draws and products, the Gaussian at kept
// indices, exp, squares, entropies). Every export is an export of index.ts with the same code
// (test/kernel-contract.node.test.ts checks the subset and the bits).
export * from './infer';
export { square_f32 } from './elementwise';
export { mc_weight_sample_f32, lrt_sample_f32 } from './bayes';
export { exp_f32 } from './vmath';
export { entropy_rows_f32 } from './loss';
export { noise_gauss_at_f32 } from './noise';
export { lrt_spmm_f32_csr, lrt_draw_f32 } from './lrt';
