/**
 * vardrop: Bayesian neural networks (variational and sparse variational dropout) whose
 * compute runs as WebAssembly SIMD, with the same bits in Node, browsers and workers.
 * @packageDocumentation
 */
export * from './errors.js';
export { Runtime, runtime, init } from './runtime/runtime.js';
export type { Kernels } from './runtime/runtime.js';
export { Heap } from './runtime/heap.js';
export { Tensor, sizeOf, fmtShape, assertFinite } from './tensor.js';
