import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';

// The public surface, name by name. A change here is a change to what users can import: it
// shows in review as a diff of this file. Keep each list sorted (one name a line, so parallel
// additions merge).
const VALUES = [
  'Activation',
  'Adam',
  'ArgumentError',
  'AvgPool2d',
  'BatchNorm',
  'Conv2d',
  'Dense',
  'DivergenceError',
  'Dropout',
  'ELU',
  'Flatten',
  'GaussianDropout',
  'GroupSparseVDConv2d',
  'GroupSparseVDDense',
  'KernelError',
  'Layer',
  'LeakyReLU',
  'MaxPool2d',
  'ModelFormatError',
  'NonFiniteError',
  'Optimizer',
  'OutOfMemoryError',
  'RMSProp',
  'ReLU',
  'Rng',
  'Runtime',
  'SGD',
  'Sequential',
  'ShapeError',
  'Sigmoid',
  'Softmax',
  'SparseMatrix',
  'SparseModel',
  'SparseVDConv2d',
  'SparseVDDense',
  'Tanh',
  'Tensor',
  'VardropError',
  'VariationalDropoutConv2d',
  'VariationalDropoutDense',
  'activation',
  'activationBackward',
  'add',
  'addBiasRows',
  'argmaxRows',
  'avgPool2d',
  'avgPool2dBackward',
  'axpy',
  'batchNorm',
  'batchNormBackward',
  'bernoulli',
  'biasGradNHWC',
  'clip',
  'columnSums',
  'conv2d',
  'conv2dBackwardData',
  'conv2dBackwardFilter',
  'copy',
  'countNonFinite',
  'csrFromWeights',
  'dot',
  'entropyRows',
  'evaluate',
  'exp',
  'fill',
  'fit',
  'fitStandardizer',
  'gaussian',
  'gaussianNll',
  'init',
  'initialize',
  'loadMnist',
  'loadModel',
  'log',
  'log1p',
  'logSoftmax',
  'logSoftmaxBackward',
  'matmul',
  'maxAbs',
  'maxPool2d',
  'maxPool2dBackward',
  'mse',
  'mul',
  'param',
  'parseCsv',
  'parseIdx',
  'prune',
  'registerLayer',
  'runtime',
  'saveModel',
  'scale',
  'schedules',
  'sigmoid',
  'softCrossEntropy',
  'softmax',
  'softmaxBackward',
  'softmaxCrossEntropy',
  'softplus',
  'sparseConv2d',
  'spmm',
  'square',
  'standardize',
  'sub',
  'sum',
  'sumSquares',
  'tanh',
  'transpose',
  'uniform',
  'unstandardize',
];

const TYPES = [
  'ActivationBackwardOptions',
  'ActivationKind',
  'ActivationLayerOptions',
  'ActivationOptions',
  'AdamOptions',
  'AlphaShape',
  'BatchNormBackwardOptions',
  'BatchNormGrads',
  'BatchNormLayerOptions',
  'BatchNormOptions',
  'BatchNormResult',
  'BatchNormSaved',
  'BatchNormStats',
  'BayesOptions',
  'BernoulliOptions',
  'ColumnSumsOptions',
  'Conv2dGeometry',
  'Conv2dGradOptions',
  'Conv2dLayerOptions',
  'Conv2dOptions',
  'ConvGeometry',
  'CrossEntropyOptions',
  'Csr',
  'CsvTable',
  'DenseOptions',
  'DropoutOptions',
  'EarlyStopping',
  'EpochLog',
  'FitOptions',
  'ForwardContext',
  'GaussianDropoutOptions',
  'History',
  'IdxArray',
  'Initializer',
  'LayerConfig',
  'LayerSparsity',
  'LoadOptions',
  'LossGradOptions',
  'LossKind',
  'MatmulOptions',
  'McPrediction',
  'MnistSplit',
  'NoiseOptions',
  'OutOptions',
  'Pair',
  'ParamGroup',
  'Pool2dBackwardOptions',
  'Pool2dForwardOptions',
  'Pool2dOptions',
  'PoolOptions',
  'PruneOptions',
  'RMSPropOptions',
  'SGDOptions',
  'Schedule',
  'Seed',
  'SequentialOptions',
  'Shape',
  'SoftmaxBackwardOptions',
  'SparseConvGeometry',
  'SparseOpOptions',
  'SparsePredictOptions',
  'SparseStepInfo',
  'SparseVDConv2dOptions',
  'SparseVDDenseOptions',
  'SparseVDOptions',
  'Standardizer',
  'StepSpec',
  'Targets',
  'UnaryOptions',
  'VariationalDropoutConv2dOptions',
  'VariationalDropoutDenseOptions',
  'VariationalDropoutOptions',
  'WeightOptions',
];

// Internals that once leaked through `export *` and must stay inside.
const INTERNAL = [
  'layerRegistry', 'DenseColumnSkip', 'SparseMeanProduct', 'SparseGradProduct', 'LrtLayer', 'passSeed', 'WeightLayer',
  'DenseMap', 'ConvMap', 'bayesOps', 'Heap', 'adamUpdate', 'sgdUpdate', 'rmspropUpdate', 'seedWords', 'evalSchedule',
  'checkInt', 'checkNumber', 'describe', 'crc32', 'checkCsr',
];

const src = new URL('../src/index.ts', import.meta.url);
const dts = new URL('../dist/index.d.ts', import.meta.url);

/** Names of the `export { … }` (or `export type { … }`) statements of a declaration text. */
function exported(text: string, types: boolean): string[] {
  const re = types ? /^export type \{([^}]*)\}/gm : /^export \{([^}]*)\}/gm;
  return [...text.matchAll(re)].flatMap((m) => m[1].split(',').map((s) => s.trim()).filter(Boolean)).sort();
}

describe('public surface', () => {
  it('the lists are sorted and disjoint', () => {
    expect(VALUES).toEqual([...VALUES].sort());
    expect(TYPES).toEqual([...TYPES].sort());
    expect(VALUES.filter((n) => TYPES.includes(n))).toEqual([]);
  });

  it('src/index.ts names every export (no export *) and exports exactly the listed values', () => {
    const text = fs.readFileSync(src, 'utf8');
    expect(text).not.toMatch(/^\s*export\s*\*/m);
    expect(Object.keys(api).sort()).toEqual(VALUES);
    for (const n of INTERNAL) expect(Object.keys(api)).not.toContain(n);
  });

  it('the bundle declarations export exactly the listed values and types', () => {
    const text = fs.readFileSync(dts, 'utf8');
    expect(exported(text, false)).toEqual(VALUES);
    expect(exported(text, true)).toEqual(TYPES);
  });
});
