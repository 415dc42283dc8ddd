// Layers own what they know: non-trainable state (saved, restored by early stopping, carried into
// pruned models), their inference form, and their summary row; a user-defined layer registered by
// name goes through fit, save/load and prune without any of them knowing its class.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Shape, Tensor } from '../src/tensor.js';
import { ArgumentError, ModelFormatError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { fit, evaluate } from '../src/train.js';
import { Adam } from '../src/optim.js';
import { ForwardContext, Layer, LayerConfig, ParamGroup, StateGroup, param, registerLayer } from '../src/layers/layer.js';
import { Dense } from '../src/layers/dense.js';
import { SparseVDDense } from '../src/layers/bayesian.js';
import { Activation, ELU, LeakyReLU, ReLU, Sigmoid, Tanh } from '../src/layers/activation.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { addBiasRows, columnSums, copy } from '../src/ops/elementwise.js';
import { SparseModel, prune } from '../src/sparse.js';
import { writeContainer } from '../src/io.js';
import { loadModel, saveModel } from '../src/model.js';
import { lcg, randomArray } from './util/gradcheck.js';

const rt = Runtime.createSync();

/** n samples of `d` features in [-1, 1] and 3 classes from a fixed linear rule. */
function data(n: number, d: number, seed: number): { x: Float32Array; y: Int32Array } {
  const x = randomArray(n * d, lcg(seed));
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const s = [0, 0, 0];
    for (let j = 0; j < d; j++) s[j % 3] += x[i * d + j] * (1 + (j % 2));
    y[i] = s.indexOf(Math.max(...s));
  }
  return { x, y };
}

/**
 * A user-defined layer: y = x + b + shift over the last axis, b trainable, shift non-trainable
 * state (set by the user). Nothing in fit, io or prune knows this class.
 */
class TestOffset extends Layer {
  private b!: ParamGroup;
  private shift!: Tensor;

  protected init(inputShape: Shape): Shape {
    const c = inputShape[inputShape.length - 1];
    this.b = param(`${this.name}/b`, Tensor.zeros([c], this.rt));
    this.shift = Tensor.zeros([c], this.rt);
    return inputShape;
  }

  plan(inputShape: Shape): { outputShape: Shape; weights: number } {
    return { outputShape: inputShape, weights: 2 * inputShape[inputShape.length - 1] };
  }

  forward(x: Tensor, _ctx: ForwardContext): Tensor {
    this.checkInput(x);
    const y = copy(x, { out: this.buffer('y', x.shape) });
    addBiasRows(y, this.b.value);
    return addBiasRows(y, this.shift);
  }

  backward(dy: Tensor): Tensor {
    columnSums(dy, { out: this.b.grad, accumulate: true });
    return dy;
  }

  params(): ParamGroup[] {
    return [this.b];
  }

  state(): StateGroup[] {
    return [{ name: `${this.name}/shift`, value: this.shift }];
  }

  config(): LayerConfig {
    return { className: 'TestOffset', options: {} };
  }
}
registerLayer('TestOffset', () => new TestOffset());

describe('non-trainable state', () => {
  it('early stopping restores batch norm running statistics with the parameters', () => {
    const { x, y } = data(400, 8, 1);
    const model = new Sequential({ inputShape: [8], seed: 4, runtime: rt, layers: [new Dense({ units: 16 }), new BatchNorm({ momentum: 0.5 }), new ReLU(), new Dense({ units: 3 })] });
    const bn = model.layers[1] as BatchNorm;
    const seen: { stats: Record<string, Float32Array>; params: Float32Array[] }[] = [];
    // minDelta so large that only the first epoch counts as an improvement: the restore must put back epoch 1.
    const val = { x: x.subarray(300 * 8), y: y.subarray(300) };
    const h = fit(model, x.subarray(0, 300 * 8), y.subarray(0, 300), {
      epochs: 8, batchSize: 50, optimizer: new Adam({ lr: 1e-2 }), validationData: val, progress: false,
      earlyStopping: { monitor: 'valLoss', patience: 2, minDelta: 1e9 },
      onEpochEnd: () => void seen.push({ stats: bn.getState(), params: model.params().map((p) => p.value.toArray()) }),
    });
    expect(h.bestEpoch).toBe(1);
    expect(h.epochs.length).toBe(4);
    const last = seen[seen.length - 1].stats;
    expect(Array.from(last.runningMean)).not.toEqual(Array.from(seen[0].stats.runningMean)); // training moved them
    expect(Array.from(bn.getState().runningMean)).toEqual(Array.from(seen[0].stats.runningMean));
    expect(Array.from(bn.getState().runningVar)).toEqual(Array.from(seen[0].stats.runningVar));
    model.params().forEach((p, i) => expect(Array.from(p.value.view())).toEqual(Array.from(seen[0].params[i])));
    // The restored model is the epoch-1 model, statistics included: same validation loss.
    const v = evaluate(model, val.x, val.y);
    expect(v.loss).toBeCloseTo(h.epochs[0].valLoss!, 5);
    model.dispose();
  });

  it('getState copies, setState checks everything before writing', () => {
    const model = new Sequential({ inputShape: [3], runtime: rt, layers: [new BatchNorm()] });
    const bn = model.layers[0] as BatchNorm;
    expect(bn.state().map((s) => s.name)).toEqual(['batch_norm_1/runningMean', 'batch_norm_1/runningVar']);
    const s = bn.getState();
    s.runningMean[0] = 5; // a copy
    expect(bn.getState().runningMean[0]).toBe(0);
    const mean = new Float32Array([1, 2, 3]);
    expect(() => bn.setState({ runningMean: mean, runningVar: new Float32Array([1, -1, 1]) })).toThrow(/runningVar\[1\]/);
    expect(() => bn.setState({ runningMean: mean, runningVar: new Float32Array(2) })).toThrow(ArgumentError);
    expect(() => bn.setState({ runningMean: mean })).toThrow(/runningVar/);
    expect(() => bn.setState({ runningMean: mean, runningVar: new Float32Array(3), extra: mean })).toThrow(/extra/);
    expect(Array.from(bn.getState().runningMean)).toEqual([0, 0, 0]); // nothing written
    bn.setState({ runningMean: mean, runningVar: new Float32Array([1, 2, 3]) });
    expect(Array.from(bn.getState().runningMean)).toEqual([1, 2, 3]);
    expect(new Dense({ units: 2 }).state()).toEqual([]);
    model.dispose();
  });
});

describe('a user-defined layer registered by name', () => {
  it('trains with fit, round-trips through save/load and prunes to a layer step', () => {
    const { x, y } = data(200, 6, 2);
    const model = new Sequential({ inputShape: [6], seed: 9, runtime: rt, layers: [new Dense({ units: 12 }), new TestOffset(), new ReLU(), new Dense({ units: 3 })] });
    const off = model.layers[1] as TestOffset;
    const h = fit(model, x, y, { epochs: 3, batchSize: 20, optimizer: new Adam({ lr: 1e-2 }), progress: false });
    expect(h.epochs[2].loss).toBeLessThan(h.epochs[0].loss);
    expect(Array.from(off.params()[0].value.view()).some((v) => v !== 0)).toBe(true); // b was trained
    off.setState({ shift: Float32Array.from({ length: 12 }, (_, i) => (i - 6) / 10) });
    const p = model.predict(x);

    const back = loadModel(saveModel(model), { runtime: rt });
    expect(back.layers[1]).toBeInstanceOf(TestOffset);
    expect(Array.from(back.layers[1].getState().shift)).toEqual(Array.from(off.getState().shift));
    expect(Array.from(back.predict(x))).toEqual(Array.from(p));

    const sm = prune(model, { sparseBelow: 1 });
    const info = sm.summary();
    expect(info.map((s) => s.kind)).toEqual(['sparse', 'layer', 'activation', 'sparse']);
    expect(info[1].layer).toBe('TestOffset_1');
    expect(info[1].params).toBe(12);
    const q = sm.predict(x);
    for (let i = 0; i < p.length; i++) expect(Math.abs(q[i] - p[i])).toBeLessThan(1e-5);
    const file = sm.save();
    const sback = SparseModel.load(file, { runtime: rt });
    expect(Array.from(sback.predict(x))).toEqual(Array.from(q));

    // A hostile layer step is rejected before it allocates, or freed when its values do not fit.
    const parse = (b: Uint8Array) => {
      const dv = new DataView(b.buffer, b.byteOffset), hl = dv.getUint32(8, true);
      return { header: JSON.parse(new TextDecoder().decode(b.subarray(24, 24 + hl))), payload: b.slice(Math.ceil((24 + hl) / 16) * 16) };
    };
    const edits: ((h: Record<string, any>) => void)[] = [
      (h) => (h.steps[1].layer.className = 'NoSuchLayer'),
      (h) => (h.steps[1].layer.params[0].shape = [13]),
      (h) => (h.steps[1].layer.params[0].name = 'w'),
      (h) => delete h.steps[1].layer.state,
      (h) => (h.steps[1].layer = 7),
    ];
    for (const e of edits) {
      const { header, payload } = parse(file);
      e(header);
      const live = rt.heap.liveBlocks;
      expect(() => SparseModel.load(writeContainer('VDSP', 2, header, payload), { runtime: rt })).toThrow(ModelFormatError);
      expect(rt.heap.liveBlocks).toBe(live);
    }
    for (const m of [model, back, sm, sback]) m.dispose();
  });

  it('prune refuses a layer it cannot copy (class not registered)', () => {
    class Unregistered extends TestOffset {
      config(): LayerConfig {
        return { className: 'Unregistered', options: {} };
      }
    }
    const model = new Sequential({ inputShape: [4], runtime: rt, layers: [new Unregistered(), new Dense({ units: 2 })] });
    expect(() => prune(model)).toThrow(/registerLayer/);
    model.dispose();
  });
});

describe('inference forms and summaries', () => {
  it('SparseModel.nnz counts the weights kept, not the zeros of layers stored dense', () => {
    const model = new Sequential({ inputShape: [10], seed: 2, runtime: rt, layers: [new SparseVDDense({ units: 6 }), new ReLU(), new Dense({ units: 3 })] });
    const theta = model.layers[0].params()[0].value.view();
    for (let i = 0; i < theta.length; i += 3) theta[i] = 0; // a third of the weights dropped (log α at its upper clamp)
    const dense = model.layers[2].params()[0].value.view();
    dense[0] = dense[4] = 0;
    const kept = model.layers[0].sparsity()!.kept;
    expect(kept).toBeLessThanOrEqual(40);
    expect(kept).toBeGreaterThan(30);
    const sm = prune(model, { sparseBelow: 0, dropUnits: false }); // every layer stored dense
    expect(sm.summary().map((s) => s.kind)).toEqual(['dense', 'activation', 'dense']);
    expect(sm.nnz).toBe(kept + 18 - 2);
    expect(sm.summary()[0].weights).toBe(60); // stored
    expect(sm.summary()[0].kept).toBe(kept);
    expect(sm.summary()[0].params).toBe(66); // weights stored + bias
    const sparse = prune(model, { sparseBelow: 1, dropUnits: false });
    expect(sparse.nnz).toBe(sm.nnz);
    expect(sparse.compression).toBeCloseTo(78 / (kept + 16), 10);
    for (const m of [model, sm, sparse]) m.dispose();
  });

  it('layer.info(): name, class, output shape, parameters, kept weights', () => {
    const model = new Sequential({ inputShape: [5], runtime: rt, layers: [new SparseVDDense({ units: 4 }), new ReLU(), new Dense({ units: 2 })] });
    expect(model.layers.map((l) => l.info())).toEqual([
      { name: 'sparse_vd_dense_1', className: 'SparseVDDense', outputShape: [4], params: 44, kept: 20 },
      { name: 'relu_1', className: 'ReLU', outputShape: [4], params: 0, kept: 0 },
      { name: 'dense_1', className: 'Dense', outputShape: [2], params: 10, kept: 10 },
    ]);
    model.dispose();
  });

  it('activation layers come back from a file as what they were', () => {
    const model = new Sequential({
      inputShape: [4], seed: 1, runtime: rt,
      layers: [new Dense({ units: 4 }), new ReLU(), new LeakyReLU({ alpha: 0.2 }), new ELU({ alpha: 0.5 }), new Sigmoid(), new Tanh(), new Activation({ kind: 'elu', alpha: 2 })],
    });
    const back = loadModel(saveModel(model), { runtime: rt });
    expect(back.layers.map((l) => l.constructor)).toEqual(model.layers.map((l) => l.constructor));
    expect(back.layers.map((l) => l.config())).toEqual(model.layers.map((l) => l.config()));
    expect(back.layers[2].config().options).toEqual({ alpha: 0.2 });
    const x = randomArray(12, lcg(3));
    expect(Array.from(back.predict(x))).toEqual(Array.from(model.predict(x)));
    model.dispose();
    back.dispose();
  });
});
