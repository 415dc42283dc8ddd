// PyTorch → vardrop through safetensors (fixtures made by scripts/make-interop-fixtures.py with
// torch 1.13; torch is not needed here) and vardrop → onnxruntime-web through the ONNX export.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-web';
import { Runtime } from '../src/runtime/runtime.js';
import { Sequential } from '../src/model.js';
import { fit } from '../src/train.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import { GroupSparseVDDense, SparseVDConv2d, SparseVDDense, VariationalDropoutDense } from '../src/layers/bayesian.js';
import { Activation, ReLU, Softmax } from '../src/layers/activation.js';
import { AvgPool2d, MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { prune } from '../src/sparse.js';
import { importWeights, readSafetensors } from '../src/interop/safetensors.js';
import { exportOnnx } from '../src/interop/onnx.js';
import { lcg, randomArray } from './util/gradcheck.js';

const rt = Runtime.createSync();
const fixture = (f: string) => new Uint8Array(fs.readFileSync(new URL(`./fixtures/interop/${f}`, import.meta.url)));
ort.env.wasm.numThreads = 1;

function expectNear(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]));
    if (!(d <= worst)) [worst, at] = [d, i];
  }
  expect(worst, `${what}: worst relative error at ${at} (${got[at]} vs ${want[at]})`).toBeLessThanOrEqual(tol);
}

const svd = { threshold: 3, logAlphaRange: [-8, 8] as [number, number] };

describe('safetensors: a Sparse VD network trained in PyTorch, pruned and served here', () => {
  it('MLP: imported θ, log σ², biases give torch\'s outputs, before and after prune', () => {
    const io = readSafetensors(fixture('mlp-io.safetensors'));
    const model = new Sequential({ inputShape: [12], runtime: rt, layers: [new SparseVDDense({ units: 16, ...svd }), new ReLU(), new SparseVDDense({ units: 5, ...svd })] });
    const names: Record<string, string> = {};
    for (const [ours, torch] of [['sparse_vd_dense_1', 'fc1'], ['sparse_vd_dense_2', 'fc2']]) {
      names[`${ours}/theta`] = `${torch}.weight`;
      names[`${ours}/logSigma2`] = `${torch}.log_sigma2`;
      names[`${ours}/bias`] = `${torch}.bias`;
    }
    importWeights(model, fixture('mlp.safetensors'), { layout: 'torch', names });
    const x = io.tensors.get('input')!.data, want = io.tensors.get('output')!.data;
    expectNear(model.predict(x), want, 1e-5, 'Sequential.predict');
    const sparse = prune(model);
    expectNear(sparse.predict(x), want, 1e-5, 'SparseModel.predict');
    sparse.dispose();
    const csr = prune(model, { sparseBelow: 1, dropUnits: false });
    expect(csr.nnz).toBe(Number(io.metadata.kept));
    expect(csr.originalWeights).toBe(Number(io.metadata.total));
    csr.dispose();
    model.dispose();
  });

  it('conv net (NHWC flatten): imported weights give torch\'s outputs, before and after prune', () => {
    const io = readSafetensors(fixture('conv-io.safetensors'));
    const model = new Sequential({
      inputShape: [6, 6, 2], runtime: rt,
      layers: [new SparseVDConv2d({ filters: 4, kernelSize: 3, padding: 1, ...svd }), new ReLU(), new MaxPool2d({ poolSize: 2 }), new Flatten(), new SparseVDDense({ units: 3, ...svd })],
    });
    const names = {
      'sparse_vd_conv2d_1/theta': 'conv1.weight', 'sparse_vd_conv2d_1/logSigma2': 'conv1.log_sigma2', 'sparse_vd_conv2d_1/bias': 'conv1.bias',
      'sparse_vd_dense_1/theta': 'fc1.weight', 'sparse_vd_dense_1/logSigma2': 'fc1.log_sigma2', 'sparse_vd_dense_1/bias': 'fc1.bias',
    };
    importWeights(model, fixture('conv.safetensors'), { layout: 'torch', names });
    const x = io.tensors.get('input')!.data, want = io.tensors.get('output')!.data;
    expectNear(model.predict(x), want, 1e-5, 'Sequential.predict');
    const sparse = prune(model, { sparseBelow: 1 });
    expectNear(sparse.predict(x), want, 1e-5, 'SparseModel.predict');
    expect(sparse.nnz).toBe(Number(io.metadata.kept));
    sparse.dispose();
    model.dispose();
  });
});

/** Run ONNX bytes in onnxruntime-web (wasm, one thread) on n samples of `shape`. */
async function runOrt(bytes: Uint8Array, x: Float32Array, n: number, shape: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', x, [n, ...shape]) });
    return out.output.data as Float32Array;
  } finally {
    await session.release();
  }
}

function labels(n: number, classes: number, seed: number): Uint8Array {
  const r = lcg(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * classes));
}

describe('ONNX export: onnxruntime-web computes our outputs', () => {
  it('trained LeNet-like conv net (NHWC, conv, batch norm, pools, flatten, dense): Sequential and its pruned form', async () => {
    const model = new Sequential({
      inputShape: [10, 9, 3], seed: 3, runtime: rt,
      layers: [
        new SparseVDConv2d({ filters: 6, kernelSize: 3, stride: [1, 2], padding: [1, 0] }), new BatchNorm(), new Activation({ kind: 'leakyRelu', alpha: 0.2 }),
        new MaxPool2d({ poolSize: 2, stride: 2, padding: 1 }), new Conv2d({ filters: 5, kernelSize: 2 }), new Activation({ kind: 'elu', alpha: 0.7 }),
        new AvgPool2d({ poolSize: [2, 2], stride: 1, padding: [1, 0] }), new Flatten(), new VariationalDropoutDense({ units: 7, alpha: 'unit', threshold: 1 }),
        new Activation('tanh'), new GroupSparseVDDense({ units: 4 }), new Activation('sigmoid'), new Dense({ units: 3 }), new Softmax(),
      ],
    });
    const n = 9;
    const x = randomArray(n * 270, lcg(5));
    fit(model, randomArray(40 * 270, lcg(6)), labels(40, 3, 7), { epochs: 3, batchSize: 8, klWeight: 0.5 });
    const ours = model.predict(x);
    expectNear(await runOrt(exportOnnx(model), x, n, [10, 9, 3]), ours, 2e-5, 'Sequential → ONNX');
    const sparse = prune(model, { sparseBelow: 1 });
    expectNear(await runOrt(exportOnnx(sparse), x, n, [10, 9, 3]), sparse.predict(x), 2e-5, 'SparseModel → ONNX');
    sparse.dispose();
    model.dispose();
  });

  it('MLP with a dense output that is not a softmax: option softmax adds one, image outputs stay NHWC', async () => {
    const model = new Sequential({ inputShape: [20], seed: 1, runtime: rt, layers: [new SparseVDDense({ units: 30 }), new ReLU(), new Dense({ units: 4 })] });
    const x = randomArray(3 * 20, lcg(9));
    const probs = await runOrt(exportOnnx(model, { softmax: true }), x, 3, [20]);
    const logits = model.predict(x);
    for (let r = 0; r < 3; r++) {
      const row = logits.subarray(4 * r, 4 * r + 4), m = Math.max(...row);
      const z = row.reduce((a, v) => a + Math.exp(v - m), 0);
      for (let j = 0; j < 4; j++) expect(probs[4 * r + j]).toBeCloseTo(Math.exp(row[j] - m) / z, 6);
    }
    model.dispose();
    const conv = new Sequential({ inputShape: [5, 5, 2], seed: 2, runtime: rt, layers: [new Conv2d({ filters: 3, kernelSize: 2 }), new ReLU()] });
    const xi = randomArray(2 * 50, lcg(10));
    expectNear(await runOrt(exportOnnx(conv), xi, 2, [5, 5, 2]), conv.predict(xi), 1e-6, 'conv output in NHWC');
    conv.dispose();
  });
});
