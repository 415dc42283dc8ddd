/**
 * vardrop: Bayesian neural networks (variational and sparse variational dropout) whose
 * compute runs as WebAssembly SIMD, with the same bits in Node, browsers and workers.
 *
 * The public surface is listed name by name (no `export *`): what a user of a Keras/tfjs-like
 * library needs (models, layers, training, optimizers, schedules, data helpers, pruning and
 * sparse inference, model files, typed errors) and the tensor ops a custom layer is written
 * with. Layer internals (product plans, column skipping, KL kernels, noise keying) stay inside.
 * `test/public-api.test.ts` lists every name, so a change to the surface shows in review.
 * @packageDocumentation
 */

// Errors.
export { VardropError, ShapeError, ArgumentError, NonFiniteError, OutOfMemoryError, ModelFormatError, DivergenceError, AbortError, KernelError, WorkerError } from './errors.js';

// Runtime and tensors.
export { Runtime, runtime, init } from './runtime/runtime.js';
export { Tensor } from './tensor.js';
export type { Shape } from './tensor.js';

// Tensor-level ops (the building blocks of custom layers, forward and backward).
export { matmul } from './ops/gemm.js';
export type { MatmulOptions } from './ops/gemm.js';
export { conv2d, conv2dBackwardData, conv2dBackwardFilter, biasGradNHWC } from './ops/conv.js';
export type { Conv2dOptions, Conv2dGradOptions, Conv2dBaseOptions, ConvGeometry, Pair } from './ops/conv.js';
export { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward } from './ops/pool.js';
export type { Pool2dOptions, Pool2dForwardOptions, Pool2dBackwardOptions } from './ops/pool.js';
export { activation, activationBackward } from './ops/activation.js';
export type { ActivationKind, ActivationOptions, ActivationBackwardOptions } from './ops/activation.js';
export { softmax, logSoftmax, softmaxBackward, logSoftmaxBackward, softmaxCrossEntropy, softCrossEntropy, argmaxRows } from './ops/softmax.js';
export type { SoftmaxBackwardOptions, CrossEntropyOptions } from './ops/softmax.js';
export { batchNorm, batchNormBackward } from './ops/batchnorm.js';
export type { BatchNormStats, BatchNormSaved, BatchNormOptions, BatchNormResult, BatchNormBackwardOptions, BatchNormGrads } from './ops/batchnorm.js';
export { fill, copy, scale, axpy, add, sub, mul, square, clip, addBiasRows, columnSums, sum, sumSquares, dot, countNonFinite, maxAbs } from './ops/elementwise.js';
export type { OutOptions, ColumnSumsOptions } from './ops/elementwise.js';
export { exp, log, log1p, sigmoid, softplus, tanh } from './ops/math.js';
export type { UnaryOptions } from './ops/math.js';
export { mse, gaussianNll, entropyRows } from './ops/loss.js';
export type { LossGradOptions } from './ops/loss.js';
export { Rng, uniform, gaussian, bernoulli } from './ops/noise.js';
export type { Seed, NoiseOptions, BernoulliOptions } from './ops/noise.js';

// Layers (and what a custom layer needs: the base, parameter groups, registration, initializers).
export { Layer, param, registerLayer } from './layers/layer.js';
export type { ForwardContext, ParamGroup, LayerConfig, StateGroup, InferenceForm, FixedStep, LayerInfo, EmbeddingForm, RecurrentForm } from './layers/layer.js';
export { initialize } from './init.js';
export type { Initializer } from './init.js';
export { Dense, Conv2d } from './layers/dense.js';
export type { WeightOptions, DenseOptions, Conv2dLayerOptions } from './layers/dense.js';
export type { FusedActivation } from './layers/weight.js';
export type { ConvOptions } from './layers/linear.js';
export {
  SparseVDDense, SparseVDConv2d, VariationalDropoutDense, VariationalDropoutConv2d, GroupSparseVDDense, GroupSparseVDConv2d,
} from './layers/bayesian.js';
export type {
  BayesOptions, SparseVDOptions, SparseVDDenseOptions, SparseVDConv2dOptions, AlphaShape, VariationalDropoutOptions,
  VariationalDropoutDenseOptions, VariationalDropoutConv2dOptions,
} from './layers/bayesian.js';
export { Activation, ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softmax } from './layers/activation.js';
export type { ActivationLayerOptions } from './layers/activation.js';
export { Dropout, GaussianDropout } from './layers/dropout.js';
export type { DropoutOptions, GaussianDropoutOptions } from './layers/dropout.js';
export { MaxPool2d, AvgPool2d } from './layers/pool.js';
export type { PoolOptions } from './layers/pool.js';
export { Flatten } from './layers/reshape.js';
export { BatchNorm } from './layers/normalization.js';
export type { BatchNormLayerOptions } from './layers/normalization.js';
export { Recurrent, SparseVDRecurrent, LSTM, GRU, SparseVDLSTM, SparseVDGRU } from './layers/recurrent.js';
export { recurrentUnitsKept, recurrentKeptUnits } from './inference/recurrent.js';
export type { CellKind, RecurrentOptions, DropoutRecurrentOptions, SparseVDRecurrentOptions, RecurrentGroups } from './layers/recurrent.js';
export { Embedding, SparseVDEmbedding } from './layers/embedding.js';
export type { EmbeddingOptions, SparseVDEmbeddingOptions } from './layers/embedding.js';
export type { SampledWeightOptions } from './layers/sampled-weight.js';

// Models and training.
export { Sequential, saveModel, loadModel } from './model.js';
export type {
  SequentialOptions, McPrediction, McRegression, McOptions, McRegressionOptions, TrainingState, SummaryRow, ModelSummary, LayerSparsity,
} from './model.js';
export { fit, fitAsync, evaluate } from './train.js';
export type { LossKind, Targets, EpochLog, History, BatchLogs, TrainBeginLogs, Training, EarlyStopping, FitOptions, FitAsyncOptions } from './train.js';
export { callbacks } from './callbacks.js';
export type { Callback, Monitor, ReduceLrOnPlateauOptions, ModelCheckpointOptions } from './callbacks.js';
export { Optimizer, SGD, Adam, RMSProp, registerOptimizer } from './optim.js';
export type { OptimizerConfig, OptimizerState, SGDOptions, AdamOptions, RMSPropOptions } from './optim.js';
export { schedules } from './schedule.js';
export type { Schedule } from './schedule.js';

// Data.
export { parseIdx, loadMnist, parseCsv, fitStandardizer, standardize, unstandardize, oneHot, trainTestSplit } from './data.js';
export type { IdxArray, MnistSplit, CsvOptions, CsvTable, Standardizer, ClassLabels, TrainTestSplit, TrainTestSplitOptions } from './data.js';
export { tokenize, buildVocabulary, Vocabulary, padSequences, bucketByLength, PAD_ID, UNKNOWN_ID } from './text.js';
export type { TokenizeOptions, VocabularyOptions, PadOptions } from './text.js';
export { sequentialMnist, emailText, spamAssassinTask } from './sequence-data.js';
export type { SequenceSet, EmailRecord, TextTaskOptions } from './sequence-data.js';

// Pruning, sparse inference and model files.
export { prune, SparseModel, SparseMatrix, spmm, sparseConv2d, transpose, csrFromWeights } from './sparse.js';
export type { Csr, PruneOptions, SparseOpOptions, SparsePredictOptions, SparseStepInfo, StepSpec } from './sparse.js';
export type { LoadOptions, SaveOptions } from './io.js';
export { exportOnnx } from './interop/onnx.js';
export type { OnnxExportOptions } from './interop/onnx.js';
export { exportWeights, importWeights, readSafetensors, writeSafetensors } from './interop/safetensors.js';
export type { ImportWeightsOptions, NamedTensor, SafetensorsDtype, WeightsOptions } from './interop/safetensors.js';
export { magnitudePrune, pruneAndRetrain, WeightMasks } from './magnitude.js';
export type { MagnitudePruneOptions, PruneAndRetrainOptions, PruneAndRetrainResult } from './magnitude.js';
// Workers: training and other work off the main thread.
export { WorkerHost, serveWorker, fitInWorker, transferable, optimizerFromSpec, scheduleFromSpec } from './worker.js';
export type { WorkerLike, BrowserWorkerLike, NodeWorkerLike, WorkerHandler, WorkerCallContext, SpawnOptions, CallOptions, OptimizerSpec, ScheduleSpec, WorkerFitOptions, WorkerFitResult } from './worker.js';

// Posterior sampling, ensembles and distillation.
export { Sampler, SGLD, PSGLD, SGHMC, sample, stepSizes, stepSizeFromSpec } from './samplers.js';
export type { SamplerOptions, PSGLDOptions, SGHMCOptions, StepSizeSchedule, StepSizeSpec, PriorPrecision, SampleOptions, SampleResult, SampleStepHook } from './samplers.js';
export { Ensemble } from './ensemble.js';
export type { EnsembleKind, EnsembleOptions, EnsembleTask, RegressionLikelihood, RegressionPrediction } from './ensemble.js';
export { OnlineDistiller, distill } from './distill.js';
export { sampleChains, runChain, chainSpec } from './chains.js';
export type { ChainSpec, ChainSamplerSpec, ChainsOptions } from './chains.js';
export type { DistillOptions, OnlineDistillOptions, OfflineDistillOptions } from './distill.js';
