import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { ArgumentError, ModelFormatError, NonFiniteError, ShapeError, VardropError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { evaluate, fit } from '../src/train.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import { SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { Adam, RMSProp, SGD } from '../src/optim.js';
import { prune } from '../src/sparse.js';
import { writeContainer } from '../src/io.js';
import { loadModel, saveModel } from '../src/model.js';
import { fitStandardizer, parseCsv, standardize, unstandardize } from '../src/data.js';
import { Rng } from '../src/ops/noise.js';

const rt = Runtime.createSync();

function data(n: number, per: number, classes = 3, seed = 3): { x: Float32Array; y: Int32Array } {
  const r = new Rng(seed, 1, rt);
  return { x: Float32Array.from({ length: n * per }, () => r.uniform()), y: Int32Array.from({ length: n }, () => r.int(classes)) };
}

const mlp = (seed = 2) => new Sequential({ inputShape: [6], seed, runtime: rt, layers: [new SparseVDDense({ units: 8 }), new ReLU(), new Dense({ units: 3 })] });

/** Every parameter's bits. */
const weights = (m: Sequential) => m.params().map((p) => Array.from(p.value.toArray()));

/** Expect `f` to throw `Err` whose `argument` is `arg`; returns the error. */
function throwsArg(f: () => unknown, Err: typeof VardropError, arg: string): VardropError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(Err);
  expect((err as VardropError).argument).toBe(arg);
  return err as VardropError;
}

const BAD_BATCH = [0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, '8'];

describe('batchSize: one rule for every entry point, checked before anything changes', () => {
  it('evaluate (free function and method) rejects 0, negatives, fractions, NaN, ±Infinity, 2^31 and non-numbers, and the model still predicts the same bits', () => {
    const m = mlp();
    const { x, y } = data(20, 6);
    const before = m.predict(x, { batchSize: 20 });
    const ev = m.evaluate(x, y);
    for (const bs of BAD_BATCH) {
      const e = throwsArg(() => evaluate(m, x, y, { batchSize: bs as number }), ArgumentError, 'batchSize');
      expect(e.message).toMatch(/^batchSize: expected an integer in \[1, 2147483647\], got /);
      throwsArg(() => m.evaluate(x, y, { batchSize: bs as number }), ArgumentError, 'batchSize');
      // The reusable input buffer survived: the same row count predicts the same bits.
      expect(Array.from(m.predict(x, { batchSize: 20 }))).toEqual(Array.from(before));
    }
    expect(m.evaluate(x, y)).toEqual(ev);
  });

  it('predict, predictProba, predictClasses, predictMC and fit reject the same values', () => {
    const m = mlp();
    const { x, y } = data(10, 6);
    const w = weights(m);
    for (const bs of BAD_BATCH) {
      throwsArg(() => m.predict(x, { batchSize: bs as number }), ArgumentError, 'batchSize');
      throwsArg(() => m.predictProba(x, { batchSize: bs as number }), ArgumentError, 'batchSize');
      throwsArg(() => m.predictClasses(x, { batchSize: bs as number }), ArgumentError, 'batchSize');
      throwsArg(() => m.predictMC(x, { batchSize: bs as number, samples: 2 }), ArgumentError, 'batchSize');
      throwsArg(() => fit(m, x, y, { epochs: 1, batchSize: bs as number, progress: false }), ArgumentError, 'batchSize');
    }
    expect(weights(m)).toEqual(w);
    throwsArg(() => m.predict(x, 5 as unknown as object), ArgumentError, 'options');
  });
});

describe('fit: every option checked before the first step', () => {
  const { x, y } = data(30, 6);
  const bad: [string, Record<string, unknown>, string, (typeof VardropError)?][] = [
    ['unknown earlyStopping.monitor', { earlyStopping: { monitor: 'acc' } }, 'earlyStopping.monitor'],
    ['unknown validation monitor', { earlyStopping: { monitor: 'valAcc' }, validationSplit: 0.2 }, 'earlyStopping.monitor'],
    ['validation metric without validation data', { earlyStopping: { monitor: 'valLoss' } }, 'earlyStopping.monitor'],
    ['earlyStopping.patience -1', { earlyStopping: { monitor: 'loss', patience: -1 } }, 'earlyStopping.patience'],
    ['earlyStopping.restoreBestWeights "yes"', { earlyStopping: { monitor: 'loss', restoreBestWeights: 'yes' } }, 'earlyStopping.restoreBestWeights'],
    ['validationSplit NaN', { validationSplit: NaN }, 'validationSplit'],
    ['validationSplit 1', { validationSplit: 1 }, 'validationSplit'],
    ['validationSplit with validationData', { validationSplit: 0.2, validationData: { x, y } }, 'validationSplit'],
    ['validationData.y of the wrong length', { validationData: { x, y: y.subarray(1) } }, 'validationData.y', ShapeError],
    ['lr NaN', { lr: NaN }, 'lr'],
    ['lr schedule giving -1', { lr: () => -1 }, 'lr'],
    ['klWeight "1"', { klWeight: '1' }, 'klWeight'],
    ['optimizer {}', { optimizer: {} }, 'optimizer'],
    ['loss "ce"', { loss: 'ce' }, 'loss'],
    ['seed -1', { seed: -1 }, 'seed'],
    ['clipNorm 0', { clipNorm: 0 }, 'clipNorm'],
    ['shuffle 1', { shuffle: 1 }, 'shuffle'],
    ['onEpochEnd 1', { onEpochEnd: 1 }, 'onEpochEnd'],
    ['epochs 0', { epochs: 0 }, 'epochs'],
    ['epochs 2.5', { epochs: 2.5 }, 'epochs'],
  ];
  for (const [what, opts, arg, Err] of bad) {
    it(`${what}: a typed error naming ${arg}, weights untouched`, () => {
      const m = mlp();
      const w = weights(m);
      throwsArg(() => fit(m, x, y, { epochs: 2, progress: false, ...opts } as never), Err ?? ArgumentError, arg);
      expect(weights(m)).toEqual(w);
      // Still usable: a valid fit runs and changes the weights.
      fit(m, x, y, { epochs: 1, batchSize: 10, progress: false });
      expect(weights(m)).not.toEqual(w);
      m.dispose();
    });
  }

  it('an accuracy monitor needs a classifier; a training metric works without validation data', () => {
    const m = new Sequential({ inputShape: [6], seed: 1, runtime: rt, layers: [new Dense({ units: 1 })] });
    const t = Float32Array.from({ length: 30 }, (_, i) => i / 30);
    throwsArg(() => fit(m, x, t, { epochs: 1, progress: false, earlyStopping: { monitor: 'accuracy' } }), ArgumentError, 'earlyStopping.monitor');
    const h = fit(m, x, t, { epochs: 3, progress: false, earlyStopping: { monitor: 'loss', patience: 1 } });
    expect(h.epochs.length).toBeGreaterThan(0);
  });
});

describe('optimizers check their options when constructed', () => {
  const cases: [string, () => unknown, string][] = [
    ['Adam eps NaN', () => new Adam({ eps: NaN }), 'eps'],
    ['Adam eps 0', () => new Adam({ eps: 0 }), 'eps'],
    ['Adam eps 1e-50 (0 in float32)', () => new Adam({ eps: 1e-50 }), 'eps'],
    ['Adam beta1 2', () => new Adam({ beta1: 2 }), 'beta1'],
    ['Adam beta2 1', () => new Adam({ beta2: 1 }), 'beta2'],
    ['Adam beta1 0.99999999 (1 in float32)', () => new Adam({ beta1: 0.99999999 }), 'beta1'],
    ['Adam lr -1', () => new Adam({ lr: -1 }), 'lr'],
    ['RMSProp rho -0.1', () => new RMSProp({ rho: -0.1 }), 'rho'],
    ['RMSProp momentum 1', () => new RMSProp({ momentum: 1 }), 'momentum'],
    ['SGD nesterov without momentum', () => new SGD({ nesterov: true }), 'momentum'],
    ['SGD nesterov "yes"', () => new SGD({ momentum: 0.9, nesterov: 'yes' as unknown as boolean }), 'nesterov'],
    ['options not an object', () => new Adam(3 as never), 'options'],
  ];
  for (const [what, f, arg] of cases) it(what, () => void throwsArg(f, ArgumentError, arg));
});

describe('models: construction and the disposed state', () => {
  it('inputShape [0], [], [2.5] and non-arrays are rejected; a layer given twice too', () => {
    for (const s of [[0], [], [2.5], [3, 0], 'x', [-1]]) {
      throwsArg(() => new Sequential({ inputShape: s as number[], runtime: rt, layers: [new Dense({ units: 2 })] }), ShapeError, 'inputShape');
    }
    const d = new Dense({ units: 6 });
    throwsArg(() => new Sequential({ inputShape: [6], runtime: rt, layers: [d, new ReLU(), d] }), ArgumentError, 'layers[2]');
    // Nothing was built: the layer can still go into a model.
    expect(new Sequential({ inputShape: [6], runtime: rt, layers: [d] }).outputShape).toEqual([6]);
  });

  it('a shape error in a later layer allocates nothing and leaves the layers reusable', () => {
    const live = rt.heap.liveBlocks;
    const a = new Dense({ units: 4 });
    // A convolution needs an [h, w, c] input: the second layer's shape check fails.
    expect(() => new Sequential({ inputShape: [6], runtime: rt, layers: [a, new Conv2d({ filters: 2, kernelSize: 3 })] })).toThrow(VardropError);
    expect(a.built).toBe(false);
    expect(rt.heap.liveBlocks).toBe(live);
    expect(new Sequential({ inputShape: [6], runtime: rt, layers: [a] }).outputShape).toEqual([4]);
  });

  it('every method of a disposed Sequential names the model, not x', () => {
    const m = mlp();
    const { x, y } = data(4, 6);
    m.dispose();
    for (const f of [() => m.predict(x), () => m.predictProba(x), () => m.predictClasses(x), () => m.predictMC(x, { samples: 2 }),
      () => m.evaluate(x, y), () => fit(m, x, y, { epochs: 1, progress: false }), () => saveModel(m), () => prune(m)]) {
      const e = throwsArg(f, ArgumentError, 'model');
      expect(e.message).toBe('model: expected a live Sequential, got a disposed one');
    }
    expect(() => m.dispose()).not.toThrow();
  });

  it('fit and evaluate on a SparseModel say it is inference-only', () => {
    const m = mlp();
    const { x, y } = data(8, 6);
    const sm = prune(m);
    for (const f of [() => fit(sm as never, x, y, { epochs: 1 }), () => evaluate(sm as never, x, y)]) {
      const e = throwsArg(f, ArgumentError, 'model');
      expect(e.message).toMatch(/SparseModel is inference-only/);
      expect(e.received).toBe('SparseModel');
    }
  });

  it('a file with more layers than the limit says so', () => {
    const bytes = saveModel(mlp());
    // Rewrite the JSON header's layer list to 10004 entries: the reader must name the limit.
    const text = new TextDecoder().decode(bytes);
    expect(text).toContain('"layers"');
    let err: unknown;
    try {
      const h = { format: 'vardrop-model', inputShape: [6], seed: 0, layers: Array.from({ length: 10004 }, () => ({ className: 'ReLU', options: {} })) };
      loadModel(writeContainer('VDRP', 1, h, new Uint8Array(0)), { runtime: rt });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as Error).message).toMatch(/at most 10000 layers/);
  });
});

describe('targets: a Float32Array that reads as class labels is not silently regression', () => {
  const { x, y } = data(30, 6);
  it('whole numbers in [0, classes), one per sample', () => {
    const m = mlp();
    const w = weights(m);
    const e = throwsArg(() => fit(m, x, Float32Array.from(y), { epochs: 1, progress: false }), ArgumentError, 'y');
    expect(e.message).toMatch(/class indices as an Int32Array.*loss: 'mse'/);
    expect(e.received).toMatch(/30 whole numbers in \[0, 3\)/);
    throwsArg(() => evaluate(m, x, Float32Array.from(y)), ArgumentError, 'y');
    expect(weights(m)).toEqual(w);
  });

  it('one-hot rows', () => {
    const m = mlp();
    const oh = new Float32Array(30 * 3);
    y.forEach((c, i) => (oh[i * 3 + c] = 1));
    const e = throwsArg(() => fit(m, x, oh, { epochs: 1, progress: false }), ArgumentError, 'y');
    expect(e.received).toMatch(/one-hot rows/);
    // An explicit loss says the user means it.
    expect(() => fit(m, x, oh, { epochs: 1, progress: false, loss: 'mse' })).not.toThrow();
  });

  it('regression targets of the wrong width say why', () => {
    const m = mlp();
    const e = throwsArg(() => fit(m, x, Float32Array.from(y, (v) => v + 0.5), { epochs: 1, progress: false }), ShapeError, 'y');
    expect(e.received).toMatch(/class labels go in an Int32Array/);
  });
});

describe('data helpers: messages and widths', () => {
  it('a header row without header: true suggests it; bytes parse like text', () => {
    const csv = 'a,b,class\n1,2,0\n3,4,1\n';
    const e = throwsArg(() => parseCsv(csv), NonFiniteError, 'line 1');
    expect(e.message).toMatch(/header: true/);
    const t = parseCsv(csv, { header: true });
    expect(Array.from(t.data)).toEqual([1, 2, 0, 3, 4, 1]);
    const fromBytes = parseCsv(new TextEncoder().encode(csv), { header: true });
    expect(fromBytes).toEqual(t);
    throwsArg(() => parseCsv(42 as never), ArgumentError, 'text');
  });

  it('unstandardize checks the width as standardize does', () => {
    const s = fitStandardizer(Float32Array.from([1, 2, 3, 4, 5, 6]), 3);
    throwsArg(() => unstandardize(new Float32Array(4), s), ShapeError, 'data');
    throwsArg(() => standardize(new Float32Array(4), s), ShapeError, 'data');
    const z = standardize(Float32Array.from([1, 2, 3]), s);
    expect(Array.from(unstandardize(z, s))).toEqual([1, 2, 3]);
  });
});

describe('optimizer state: who frees it', () => {
  it('1000 fit calls with an inline new Adam() leave wasm memory flat; dispose frees the last one', () => {
    const r = Runtime.createSync();
    const base = r.heap.liveBytes;
    const m = new Sequential({ inputShape: [6], seed: 4, runtime: r, layers: [new SparseVDDense({ units: 16 }), new ReLU(), new Dense({ units: 3 })] });
    const { x, y } = data(8, 6);
    const params = m.countParams();
    const fitOnce = () => m.fit(x, y, { epochs: 1, batchSize: 8, progress: false, optimizer: new Adam() });
    fitOnce();
    const first = r.heap.liveBytes;
    for (let i = 0; i < 500; i++) fitOnce();
    // Once the Sparse VD layer's weights are mostly dropped it caches a sparse product (a
    // one-off); a kept optimizer state would add 2 moments × 4 bytes × params per call.
    expect(r.heap.liveBytes - first).toBeLessThan(2 * 4 * params);
    const bytes = r.memory.buffer.byteLength, live = r.heap.liveBytes, blocks = r.heap.liveBlocks;
    for (let i = 0; i < 500; i++) fitOnce();
    expect(r.heap.liveBytes).toBe(live);
    expect(r.heap.liveBlocks).toBe(blocks);
    expect(r.memory.buffer.byteLength).toBe(bytes);
    m.dispose();
    // Parameters, gradients and the last optimizer's two moments are all gone.
    expect(r.heap.liveBytes - base).toBeLessThan(params * 4);
  });

  it('the same optimizer object continues from its moments across fit calls; another one starts afresh', () => {
    const { x, y } = data(16, 6);
    const run = (split: boolean) => {
      // Deterministic layers: the bits depend on the optimizer's moments only.
      const m = new Sequential({ inputShape: [6], seed: 5, runtime: rt, layers: [new Dense({ units: 8 }), new ReLU(), new Dense({ units: 3 })] });
      const opt = new Adam({ lr: 1e-2 });
      if (split) {
        m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, progress: false, optimizer: opt });
        m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, progress: false, optimizer: opt });
      } else m.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, progress: false, optimizer: opt });
      expect(opt.steps).toBe(4);
      return weights(m);
    };
    expect(run(true)).toEqual(run(false));
  });

  it('training with another optimizer frees the previous one’s state for that model', () => {
    const r = Runtime.createSync();
    const m = new Sequential({ inputShape: [6], seed: 4, runtime: r, layers: [new Dense({ units: 50 })] });
    const { x, y } = data(8, 6);
    const a = new Adam(), b = new RMSProp();
    m.fit(x, y.map((v) => v % 3), { epochs: 1, batchSize: 8, progress: false, optimizer: a });
    const withA = r.heap.liveBytes;
    m.fit(x, y, { epochs: 1, batchSize: 8, progress: false, optimizer: b });
    // Adam kept two moments per weight, RMSProp keeps one: A's were freed.
    expect(withA - r.heap.liveBytes).toBeGreaterThanOrEqual(6 * 50 * 4);
    a.dispose();
    b.dispose();
  });
});
