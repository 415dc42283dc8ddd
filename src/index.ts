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
export type { Shape } from './tensor.js';

// Tensor-level ops (one per kernel family).
export { matmul } from './ops/gemm.js';
export type { MatmulOptions } from './ops/gemm.js';
export { conv2d, conv2dBackwardData, conv2dBackwardFilter, biasGradNHWC } from './ops/conv.js';
export type { Conv2dOptions, Conv2dGradOptions, Conv2dGeometry, Pair } from './ops/conv.js';
export { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward } from './ops/pool.js';
export type { Pool2dOptions, Pool2dForwardOptions, Pool2dBackwardOptions } from './ops/pool.js';
export { activation, activationBackward } from './ops/activation.js';
export type { ActivationKind, ActivationOptions, ActivationBackwardOptions } from './ops/activation.js';
export { softmax, logSoftmax, softmaxBackward, logSoftmaxBackward, softmaxCrossEntropy, softCrossEntropy, argmaxRows } from './ops/softmax.js';
export { batchNorm, batchNormBackward } from './ops/batchnorm.js';
export type { BatchNormStats, BatchNormSaved, BatchNormOptions, BatchNormResult, BatchNormGrads } from './ops/batchnorm.js';
export { fill, copy, scale, axpy, add, sub, mul, square, clip, addBiasRows, columnSums, sum, sumSquares, dot, countNonFinite, maxAbs } from './ops/elementwise.js';
export * from './ops/optim.js';
export * from './ops/noise.js';
export { exp, log, log1p, sigmoid, softplus, tanh } from './ops/math.js';
export * from './ops/loss.js';
export * as bayesOps from './ops/bayes.js';

// Layers, models, training.
export * from './layers/layer.js';
export * from './layers/linear.js';
export * from './layers/dense.js';
export * from './layers/bayesian.js';
export * from './layers/activation.js';
export * from './layers/dropout.js';
export * from './layers/pool.js';
export * from './layers/reshape.js';
export * from './layers/normalization.js';
export * from './init.js';
export * from './model.js';
export * from './train.js';
export * from './optim.js';
export * from './schedule.js';
export * from './data.js';
// Pruning, sparse inference and model files.
export { prune, SparseModel, SparseMatrix, spmm, sparseConv2d, transpose, checkCsr, csrFromWeights } from './sparse.js';
export type { Csr, PruneOptions, SparseConvGeometry, SparseOpOptions, SparsePredictOptions, SparseStepInfo, StepSpec } from './sparse.js';
export { saveModel, loadModel, crc32 } from './io.js';
export type { LoadOptions } from './io.js';
