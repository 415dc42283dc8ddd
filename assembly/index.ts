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
// vmath's f32x4 helpers are inlined into the kernels; only its array kernels are exported.
export {
  exp_f32, exp_f32_scalar, log_f32, log_f32_scalar, log1p_f32, log1p_f32_scalar,
  softplus_f32, softplus_f32_scalar, sin_f32, sin_f32_scalar, cos_f32, cos_f32_scalar,
} from './vmath';
export * from './bayes';
export * from './loss';
export * from './scalar';
export * from './sparse';
export * from './transpose';
export * from './gather';
export * from './sparse_train';
export * from './sparse_grad';
export * from './sampler';
export * from './rnn';
export * from './plan';
export * from './checksum';
export * from './csr';
export * from './lrt';
