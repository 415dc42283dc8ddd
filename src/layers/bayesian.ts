/**
 * The Bayesian weight layers, one module per family: variational dropout
 * (`variational-dropout.ts`), Sparse VD (`sparse-vd.ts`), group sparsity (`group-sparse.ts`),
 * on the LRT base (`lrt.ts`) over the one weight-layer base (`weight.ts`).
 * @module
 */
export { LrtLayer } from './lrt.js';
export type { BayesOptions } from './lrt.js';
export { passSeed } from './layer.js';
export { SparseVDDense, SparseVDConv2d } from './sparse-vd.js';
export type { SparseVDOptions, SparseVDDenseOptions, SparseVDConv2dOptions } from './sparse-vd.js';
export { VariationalDropoutDense, VariationalDropoutConv2d } from './variational-dropout.js';
export type {
  AlphaShape, VariationalDropoutOptions, VariationalDropoutDenseOptions, VariationalDropoutConv2dOptions,
} from './variational-dropout.js';
export { GroupSparseVDDense, GroupSparseVDConv2d } from './group-sparse.js';
