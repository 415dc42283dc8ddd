// One wasm module: every kernel family re-exported. Kernels take byte pointers,
// element counts and element strides; none allocates and none calls back into JS.
export * from './memory';
export * from './gemm';
export * from './conv';
export * from './pool';
export * from './noise';
export * from './activation';
export * from './softmax';
export * from './batchnorm';
export * from './elementwise';
export * from './optim';
export * from './vmath';
export * from './bayes';
export * from './loss';
export * from './scalar';
