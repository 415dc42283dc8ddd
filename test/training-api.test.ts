import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Sequential } from '../src/model.js';
import { Dense } from '../src/layers/dense.js';
import { SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { Dropout } from '../src/layers/dropout.js';
import { fit, fitAsync, evaluate, Training } from '../src/train.js';
import { Callback, callbacks } from '../src/callbacks.js';
import { Adam, Optimizer, RMSProp, SGD, optimizerFromState } from '../src/optim.js';
import { schedules } from '../src/schedule.js';
import { writeContainer } from '../src/io.js';
import { AbortError, ArgumentError, ModelFormatError, ShapeError } from '../src/errors.js';
import { Rng } from '../src/ops/noise.js';

// The training API: resuming bit for bit (optimizer state and epoch in files, initialEpoch),
// the explicit loss, summary, Monte-Carlo regression, callbacks and fitAsync. Small synthetic
// problems: what is checked is bits and bookkeeping, so the suite runs them in Node and Chromium.
const rt = Runtime.createSync();

/** n samples of 6 features; labels of 3 classes from a fixed linear rule (learnable). */
function classification(n: number, seed = 1): { x: Float32Array; y: Int32Array } {
  const r = new Rng(seed, 3, rt);
  const x = Float32Array.from({ length: n * 6 }, () => r.uniform() * 2 - 1);
  const y = Int32Array.from({ length: n }, (_, i) => {
    const s = x[i * 6] + 0.5 * x[i * 6 + 1] - x[i * 6 + 2];
    return s < -0.4 ? 0 : s < 0.4 ? 1 : 2;
  });
  return { x, y };
}

const net = (seed = 5) => new Sequential({
  inputShape: [6], seed, runtime: rt,
  layers: [new SparseVDDense({ units: 16 }), new BatchNorm(), new ReLU(), new Dropout({ rate: 0.1 }), new SparseVDDense({ units: 3 })],
});

const bits = (m: Sequential) => m.getWeights().map((w) => Array.from(new Uint32Array(w.buffer)));

/** Runs f, returning its error (or fails). */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('resuming an interrupted run', () => {
  const { x, y } = classification(120);
  const recipe = (extra: object) => ({
    batchSize: 16, validationSplit: 0.2, klWeight: schedules.linear({ start: 0, end: 3 }),
    lr: schedules.linearDecay(3e-3, { start: 1, end: 4 }), progress: false, ...extra,
  });

  for (const [name, make] of [
    ['Adam', () => new Adam({ lr: 3e-3 })],
    ['SGD with Nesterov momentum', () => new SGD({ lr: 0.05, momentum: 0.9, nesterov: true })],
    ['RMSProp with momentum', () => new RMSProp({ lr: 1e-3, momentum: 0.5 })],
  ] as [string, () => Optimizer][]) {
    it(`${name}: 4 epochs = 2 epochs, save, load, 2 more (bit for bit)`, () => {
      const a = net();
      const ha = fit(a, x, y, recipe({ epochs: 4, optimizer: make() }));
      const b = net();
      fit(b, x, y, recipe({ epochs: 2, optimizer: make() }));
      const file = b.save();
      b.dispose();
      const c = Sequential.load(file, { runtime: rt });
      expect(c.trainingState!.epoch).toBe(2);
      expect(c.trainingState!.optimizer!.className).toBe(make().config().className);
      const hc = fit(c, x, y, recipe({ epochs: 4, initialEpoch: 2 }));
      expect(hc.epochs.map((e) => e.epoch)).toEqual([3, 4]);
      expect(hc.epochs.map((e) => e.loss)).toEqual(ha.epochs.slice(2).map((e) => e.loss));
      expect(bits(c)).toEqual(bits(a));
      expect(Array.from(c.predict(x))).toEqual(Array.from(a.predict(x)));
      expect(c.trainingState!.epoch).toBe(4);
      a.dispose();
      c.dispose();
    });
  }

  it('a checkpoint callback of epoch 2 resumes to the same bits; without the optimizer state it does not', () => {
    const files: Uint8Array[] = [];
    const a = net();
    fit(a, x, y, recipe({ epochs: 4, callbacks: [callbacks.modelCheckpoint({ save: (f, info) => { files[info.epoch] = f; } })] }));
    expect(files.filter(Boolean)).toHaveLength(4);
    const c = Sequential.load(files[2], { runtime: rt });
    fit(c, x, y, recipe({ epochs: 4, initialEpoch: 2 }));
    expect(bits(c)).toEqual(bits(a));
    const bare = Sequential.load(Sequential.load(files[2], { runtime: rt }).save({ includeOptimizer: false }), { runtime: rt });
    expect(bare.trainingState).toEqual({ epoch: 2, loss: 'softmaxCrossEntropy', optimizer: null });
    fit(bare, x, y, recipe({ epochs: 4, initialEpoch: 2 }));
    expect(bits(bare)).not.toEqual(bits(a));
    for (const m of [a, c, bare]) m.dispose();
  });

  it('resumes in the same process too, and validates initialEpoch before anything changes', () => {
    const a = net(), b = net();
    fit(a, x, y, recipe({ epochs: 3 }));
    fit(b, x, y, recipe({ epochs: 1 }));
    const before = bits(b);
    expect(() => fit(b, x, y, recipe({ epochs: 3, initialEpoch: 4 }))).toThrow(ArgumentError);
    expect(() => fit(b, x, y, recipe({ epochs: 3, initialEpoch: 1.5 }))).toThrow(/initialEpoch/);
    expect(bits(b)).toEqual(before);
    expect(fit(b, x, y, recipe({ epochs: 3, initialEpoch: 3 })).epochs).toEqual([]);
    fit(b, x, y, recipe({ epochs: 3, initialEpoch: 1 }));
    expect(bits(b)).toEqual(bits(a));
    a.dispose();
    b.dispose();
  });
});

describe('optimizer state', () => {
  const { x, y } = classification(40);

  it('getState / setState / optimizerFromState round-trip, and the copy continues like the original', () => {
    const a = net(), b = net();
    const oa = new Adam({ lr: 2e-3, beta2: 0.99 });
    fit(a, x, y, { epochs: 1, batchSize: 8, optimizer: oa, progress: false });
    b.setWeights(a.getWeights());
    const s = oa.getState(a.params());
    expect(s.steps).toBe(5);
    expect(s.slots.map((e) => e.param)).toEqual(a.params().map((p) => p.name));
    expect(s.slots[0].values).toHaveLength(2);
    const ob = optimizerFromState(b.params(), s);
    expect(ob.steps).toBe(5);
    fit(a, x, y, { epochs: 1, batchSize: 8, optimizer: oa, progress: false, shuffle: false });
    fit(b, x, y, { epochs: 1, batchSize: 8, optimizer: ob, progress: false, shuffle: false });
    expect(bits(b)).toEqual(bits(a));
    oa.dispose();
    ob.dispose();
    a.dispose();
    b.dispose();
  });

  it('a bad state is refused whole, with typed errors naming the field', () => {
    const m = net();
    const o = new Adam();
    fit(m, x, y, { epochs: 1, batchSize: 8, optimizer: o, progress: false });
    const s = o.getState(m.params());
    const other = new Adam();
    other.setState(m.params(), s);
    const cases: [object, RegExp][] = [
      [{ ...s, className: 'SGD' }, /state\.className/],
      [{ ...s, options: { ...s.options, beta1: 0.5 } }, /state\.options\.beta1/],
      [{ ...s, steps: -1 }, /state\.steps/],
      [{ ...s, slots: s.slots.slice(1) }, /state\.slots/],
      [{ ...s, slots: [{ ...s.slots[0], param: 'x' }, ...s.slots.slice(1)] }, /state\.slots\[0\]\.param/],
      [{ ...s, slots: [{ ...s.slots[0], values: [s.slots[0].values[0]] }, ...s.slots.slice(1)] }, /state\.slots\[0\]\.values/],
      [{ ...s, slots: [{ ...s.slots[0], values: [new Float32Array(1), s.slots[0].values[1]] }, ...s.slots.slice(1)] }, /state\.slots\[0\]\.values\[0\]/],
      [{ ...s, slots: [{ ...s.slots[0], values: [s.slots[0].values[0].map(() => NaN), s.slots[0].values[1]] }, ...s.slots.slice(1)] }, /state\.slots\[0\]\.values\[0\]/],
    ];
    for (const [bad, field] of cases) expect(() => other.setState(m.params(), bad as never)).toThrow(field);
    const again = other.getState(m.params());
    expect(again.steps).toBe(s.steps);
    expect(again.slots.map((e) => e.values.map((v) => Array.from(v)))).toEqual(s.slots.map((e) => e.values.map((v) => Array.from(v))));
    expect(() => new Adam({ eps: NaN })).toThrow(/eps/);
    expect(() => new Adam({ beta1: 2 })).toThrow(/beta1/);
    expect(() => new SGD({ nesterov: true })).toThrow(/momentum/);
    for (const opt of [o, other]) opt.dispose();
    m.dispose();
  });

  it('a file with a hostile training section is refused with ModelFormatError', () => {
    const m = net();
    fit(m, x, y, { epochs: 1, batchSize: 8, progress: false });
    const good = m.save();
    const dv = new DataView(good.buffer, good.byteOffset);
    const hl = dv.getUint32(8, true);
    const header = JSON.parse(new TextDecoder().decode(good.subarray(24, 24 + hl)));
    const payload = good.slice(Math.ceil((24 + hl) / 16) * 16);
    expect(header.training.optimizer.className).toBe('Adam');
    const edits: [(t: any) => void, RegExp][] = [
      [(t) => { t.epoch = -1; }, /training\.epoch/],
      [(t) => { t.loss = 'hinge'; }, /training\.loss/],
      [(t) => { t.optimizer.className = 'Lion'; }, /optimizer\.className/],
      [(t) => { t.optimizer.options.beta1 = 3; }, /optimizer\.options/],
      [(t) => { t.optimizer.slots.pop(); }, /optimizer\.slots/],
      [(t) => { t.optimizer.slots[1].param = 'nope'; }, /slots\[1\]\.param/],
      [(t) => { t.optimizer.slots[0].values[1].name = 'w'; }, /slots\[0\]\.values\[1\]\.name/],
      [(t) => { t.optimizer.slots[0].values[1].offset = t.optimizer.slots[0].values[0].offset; }, /slots\[0\]\.values\[1\]/],
      [(t) => { t.optimizer.slots[0].values[0].length = 2 ** 30; }, /slots\[0\]\.values\[0\]/],
    ];
    const live = rt.heap.liveBlocks;
    for (const [edit, field] of edits) {
      const h = JSON.parse(JSON.stringify(header));
      edit(h.training);
      const err = thrown(() => Sequential.load(writeContainer('VDRP', 1, h, payload), { runtime: rt }));
      expect(err).toBeInstanceOf(ModelFormatError);
      expect((err as ModelFormatError).argument).toMatch(field);
    }
    expect(rt.heap.liveBlocks).toBe(live);
    // A file without the section (as written before it existed) loads with no training state.
    const old = JSON.parse(JSON.stringify(header));
    delete old.training;
    expect(Sequential.load(writeContainer('VDRP', 1, old, payload), { runtime: rt }).trainingState).toBeNull();
    m.dispose();
  });
});

describe('the loss: explicit, or inferred only where unambiguous', () => {
  const { x, y } = classification(48);

  it('a Float32Array of labels or one-hot rows for a 3-output model needs `loss`; with it, it trains as the labels do', () => {
    const m = net();
    const before = bits(m);
    const asFloat = Float32Array.from(y);
    const oneHot = new Float32Array(48 * 3);
    y.forEach((c, i) => { oneHot[i * 3 + c] = 1; });
    for (const t of [asFloat, oneHot]) {
      const e = thrown(() => fit(m, x, t, { epochs: 1, progress: false }));
      expect(e).toBeInstanceOf(ArgumentError);
      expect((e as ArgumentError).argument).toBe('y');
      expect(() => evaluate(m, x, t)).toThrow(/loss/);
    }
    expect(bits(m)).toEqual(before);
    expect(() => fit(m, x, y, { epochs: 1, loss: 'hinge' as never })).toThrow(/loss/);
    const run = (t: Float32Array | Int32Array) => {
      const k = net();
      fit(k, x, t, { epochs: 2, batchSize: 16, loss: 'softmaxCrossEntropy', progress: false });
      const r = bits(k);
      k.dispose();
      return r;
    };
    const ref = run(y);
    expect(run(asFloat)).toEqual(ref);
    expect(run(oneHot)).toEqual(ref);
    // One-hot rows trained as regression when asked.
    expect(fit(m, x, oneHot, { epochs: 1, loss: 'mse', progress: false }).epochs).toHaveLength(1);
    m.dispose();
  });

  it('whole-number targets of a one-output model are regression; the gaussianNll shape error says so', () => {
    const m = new Sequential({ inputShape: [6], seed: 1, runtime: rt, layers: [new Dense({ units: 1 })] });
    const counts = Float32Array.from(y);
    expect(fit(m, x, counts, { epochs: 1, progress: false }).epochs[0].accuracy).toBeUndefined();
    const two = new Sequential({ inputShape: [6], seed: 1, runtime: rt, layers: [new Dense({ units: 2 })] });
    const e = thrown(() => fit(two, x, counts.map((v) => v + 0.5), { epochs: 1, progress: false }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/gaussianNll/);
    m.dispose();
    two.dispose();
  });
});

describe('summary', () => {
  it('lists each layer with its output shape, parameters and kept weights, as rows and text', () => {
    const m = net();
    const s = m.summary();
    expect(s.rows.map((r) => r.name)).toEqual(m.layers.map((l) => l.name));
    expect(s.rows.map((r) => r.className)).toEqual(['SparseVDDense', 'BatchNorm', 'ReLU', 'Dropout', 'SparseVDDense']);
    expect(s.rows.map((r) => r.outputShape)).toEqual([[16], [16], [16], [16], [3]]);
    expect(s.rows.map((r) => r.params)).toEqual([2 * 6 * 16 + 16, 32, 0, 0, 2 * 16 * 3 + 3]);
    expect(s.totalParams).toBe(m.countParams());
    expect(s.rows[0].total).toBe(96);
    expect(s.rows[2].total).toBeUndefined();
    expect(s.keptWeights).toBe(m.sparsity().reduce((a, l) => a + l.kept, 0));
    expect(s.totalWeights).toBe(96 + 48);
    expect(s.compression).toBeCloseTo(m.compression(), 12);
    const lines = s.text.split('\n');
    expect(lines).toHaveLength(5 + 5);
    expect(lines[3]).toMatch(/^sparse_vd_dense_1 \(SparseVDDense\)\s+\[16\]\s+208\s+\d+ \/ 96 \(/);
    expect(lines.at(-1)).toMatch(/^Total params: 339; kept weights: \d+ of 144/);
    m.dispose();
  });
});

describe('Monte-Carlo prediction of regression models', () => {
  // y = sin(3x) + noise whose standard deviation is 0.05 for x < 0 and 0.3 for x > 0.
  const n = 400;
  const r = new Rng(11, 2, rt);
  const x = Float32Array.from({ length: n }, () => r.uniform() * 2 - 1);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r.uniform())) * Math.cos(2 * Math.PI * r.uniform());
  const y = Float32Array.from(x, (v) => Math.sin(3 * v) + (v < 0 ? 0.05 : 0.3) * gauss());
  const model = (outputs: number) => new Sequential({
    inputShape: [1], seed: 4, runtime: rt,
    layers: [new SparseVDDense({ units: 32 }), new ReLU(), new SparseVDDense({ units: 32 }), new ReLU(), new SparseVDDense({ units: outputs })],
  });

  it('gaussianNll: the aleatoric variance follows the noise, the epistemic one grows away from the data', () => {
    const m = model(2);
    fit(m, x, y, { epochs: 60, batchSize: 40, loss: 'gaussianNll', optimizer: new Adam({ lr: 1e-2 }), klWeight: 0.1, progress: false });
    const probe = Float32Array.of(-0.5, -0.3, 0.3, 0.5, 4, 5);
    const p = m.predictMC(probe, { loss: 'gaussianNll', samples: 50, seed: 1 });
    expect(p.mean).toHaveLength(6);
    expect(Math.abs(p.mean[0] - Math.sin(-1.5))).toBeLessThan(0.15);
    const low = (p.aleatoricVariance[0] + p.aleatoricVariance[1]) / 2, high = (p.aleatoricVariance[2] + p.aleatoricVariance[3]) / 2;
    expect(low).toBeLessThan(0.05 ** 2 * 4);
    expect(high).toBeGreaterThan(0.3 ** 2 / 3);
    expect(high).toBeLessThan(0.3 ** 2 * 3);
    expect(Math.min(p.epistemicVariance[4], p.epistemicVariance[5])).toBeGreaterThan(3 * Math.max(...p.epistemicVariance.subarray(0, 4)));
    p.variance.forEach((v, i) => expect(v / (p.aleatoricVariance[i] + p.epistemicVariance[i])).toBeCloseTo(1, 6));
    // Seeded: the same call repeats; a model trained as regression needs `loss`.
    expect(Array.from(m.predictMC(probe, { loss: 'gaussianNll', samples: 50, seed: 1 }).epistemicVariance)).toEqual(Array.from(p.epistemicVariance));
    expect(thrown(() => m.predictMC(probe))).toBeInstanceOf(ArgumentError);
    m.dispose();
  });

  it('mse: mean and variance of the sampled outputs (checked for 1 and 2 samples), noiseVariance as aleatoric part', () => {
    const m = model(1);
    fit(m, x, y, { epochs: 2, batchSize: 40, progress: false });
    const probe = Float32Array.of(-0.5, 0.5, 3);
    const one = m.predictMC(probe, { loss: 'mse', samples: 1, seed: 9 });
    expect(Array.from(one.epistemicVariance)).toEqual([0, 0, 0]);
    const two = m.predictMC(probe, { loss: 'mse', samples: 2, seed: 9, noiseVariance: 0.25 });
    for (let i = 0; i < 3; i++) {
      const a = one.mean[i], b = 2 * two.mean[i] - a;
      expect(two.epistemicVariance[i]).toBeCloseTo(((a - b) / 2) ** 2, 5);
      expect(two.aleatoricVariance[i]).toBe(0.25);
    }
    expect(two.epistemicVariance[2]).toBeGreaterThan(0);
    // A deterministic model has no epistemic variance and its mean is predict's output.
    const det = new Sequential({ inputShape: [1], seed: 1, runtime: rt, layers: [new Dense({ units: 3 })] });
    const d = det.predictMC(probe, { loss: 'mse', samples: 4 });
    expect(Array.from(d.epistemicVariance)).toEqual(new Array(9).fill(0));
    expect(Array.from(d.mean)).toEqual(Array.from(det.predict(probe)));
    expect(() => det.predictMC(probe, { loss: 'gaussianNll' } as never)).toThrow(ShapeError);
    expect(() => det.predictMC(probe, { loss: 'mse', noiseVariance: -1 })).toThrow(/noiseVariance/);
    expect(() => det.predictMC(probe, { noiseVariance: 1 } as never)).toThrow(/noiseVariance/);
    m.dispose();
    det.dispose();
  });
});

describe('callbacks', () => {
  const { x, y } = classification(60);

  it('hooks run in order with their logs; stopTraining from a batch ends the epoch and training', () => {
    const calls: string[] = [];
    const rec: Callback = {
      onTrainBegin: (l) => { calls.push(`train+ ${l.epochs} ${l.stepsPerEpoch} ${l.samples}`); },
      onEpochBegin: (e) => { calls.push(`epoch+ ${e}`); },
      onBatchBegin: (b, l) => { calls.push(`batch+ ${b} ${l.size}`); },
      onBatchEnd: (b, l) => { calls.push(`batch- ${b} ${Number.isFinite(l.loss) && l.lr === 1e-3}`); },
      onEpochEnd: (e, l) => { calls.push(`epoch- ${e} ${l.epoch}`); },
      onTrainEnd: (h) => { calls.push(`train- ${h.epochs.length}`); },
    };
    const m = net();
    fit(m, x, y, { epochs: 2, batchSize: 25, callbacks: [rec], progress: false });
    expect(calls).toEqual([
      'train+ 2 3 60', 'epoch+ 0', 'batch+ 0 25', 'batch- 0 true', 'batch+ 1 25', 'batch- 1 true', 'batch+ 2 10', 'batch- 2 true', 'epoch- 0 1',
      'epoch+ 1', 'batch+ 0 25', 'batch- 0 true', 'batch+ 1 25', 'batch- 1 true', 'batch+ 2 10', 'batch- 2 true', 'epoch- 1 2', 'train- 2',
    ]);
    let steps = 0;
    const h = fit(m, x, y, { epochs: 5, batchSize: 25, callbacks: [{ onBatchEnd: (b, _l, t) => { steps++; if (b === 1) t.stopTraining = true; } }], progress: false });
    expect(steps).toBe(2);
    expect(h.epochs).toHaveLength(1);
    m.dispose();
  });

  it('early stopping as a callback = the earlyStopping option (history and bits); its monitor is checked before training', () => {
    const run = (o: object) => {
      const m = new Sequential({ inputShape: [6], seed: 3, runtime: rt, layers: [new Dense({ units: 32 }), new ReLU(), new Dense({ units: 3 })] });
      const h = fit(m, x, y, { epochs: 40, batchSize: 10, optimizer: new Adam({ lr: 0.05 }), validationSplit: 0.3, progress: false, ...o });
      const w = bits(m);
      m.dispose();
      return { h, w };
    };
    const es = { monitor: 'valLoss', patience: 1 } as const;
    const a = run({ earlyStopping: es }), b = run({ callbacks: [callbacks.earlyStopping(es)] });
    expect(a.h.stoppedEarly).toBe(true);
    expect(a.h.epochs.length).toBeLessThan(40);
    expect(b.h).toEqual({ ...a.h, epochs: a.h.epochs.map((e, i) => ({ ...e, seconds: b.h.epochs[i].seconds })) });
    expect(b.w).toEqual(a.w);
    expect(a.h.epochs[a.h.bestEpoch - 1].valLoss).toBe(Math.min(...a.h.epochs.map((e) => e.valLoss!)));
    const m = net();
    const before = bits(m);
    expect(() => fit(m, x, y, { epochs: 2, earlyStopping: { monitor: 'valLoss' }, progress: false })).toThrow(/earlyStopping\.monitor/);
    expect(() => fit(m, x, y, { epochs: 2, earlyStopping: { monitor: 'acc' as never }, progress: false })).toThrow(/earlyStopping\.monitor/);
    expect(() => fit(m, x, y, { epochs: 2, callbacks: [{ onEpochEnd: 3 as never }], progress: false })).toThrow(/callbacks\[0\]\.onEpochEnd/);
    expect(() => fit(m, x, y, { epochs: 2, callbacks: [{ onTrainBegin: async () => {} }], progress: false })).toThrow(/fitAsync/);
    expect(bits(m)).toEqual(before);
    m.dispose();
  });

  it('reduceLrOnPlateau lowers the learning rate after `patience` epochs without improvement, down to minLr', () => {
    const m = net();
    const t: { lr: number; factor: number }[] = [];
    const h = fit(m, x, y, {
      epochs: 6, batchSize: 20, progress: false, optimizer: new Adam({ lr: 0.01 }),
      callbacks: [callbacks.reduceLrOnPlateau({ monitor: 'loss', minDelta: 1e6, patience: 1, factor: 0.5, minLr: 0.003 }),
        { onEpochEnd: (_e, l, tr: Training) => { t.push({ lr: l.lr, factor: tr.lrFactor }); } }],
    });
    [0.01, 0.01, 0.005, 0.003, 0.003, 0.003].forEach((lr, i) => expect(h.epochs[i].lr).toBeCloseTo(lr, 12));
    expect(t.at(-1)!.factor).toBeCloseTo(0.3, 12);
    expect(() => callbacks.reduceLrOnPlateau({ factor: 1 })).toThrow(/factor/);
    m.dispose();
  });
});

describe('fitAsync', () => {
  const { x, y } = classification(80);
  const opts = { epochs: 3, batchSize: 8, validationSplit: 0.25, klWeight: 0.5, progress: false };

  it('gives the same history and bits as fit, letting the event loop run while it trains', async () => {
    const a = net(), b = net();
    const ha = fit(a, x, y, opts);
    let ranDuringTraining = false;
    setTimeout(() => { ranDuringTraining = b.isTraining; }, 0);
    const hb = await b.fitAsync(x, y, { ...opts, yieldEvery: 0 });
    expect(ranDuringTraining).toBe(true);
    expect(hb.epochs.map((e) => [e.loss, e.valLoss])).toEqual(ha.epochs.map((e) => [e.loss, e.valLoss]));
    expect(bits(b)).toEqual(bits(a));
    // Callbacks may be async here; their promises are awaited in order.
    const order: string[] = [];
    await b.fitAsync(x, y, { ...opts, epochs: 1, callbacks: [{ onEpochEnd: async () => { await new Promise((r) => setTimeout(r, 5)); order.push('slow'); } }, { onEpochEnd: () => { order.push('next'); } }] });
    expect(order).toEqual(['slow', 'next']);
    a.dispose();
    b.dispose();
  });

  it('an abort stops at a step boundary with AbortError; the model is consistent and resumes to the same bits', async () => {
    const a = net(), b = net();
    fit(a, x, y, opts);
    const ctl = new AbortController();
    const err = await b.fitAsync(x, y, { ...opts, signal: ctl.signal, callbacks: [{ onEpochEnd: (e) => { if (e === 0) ctl.abort(); } }] }).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err.name).toBe('AbortError');
    expect(b.isTraining).toBe(false);
    expect(b.trainingState!.epoch).toBe(1);
    expect(b.predict(x).every(Number.isFinite)).toBe(true);
    await b.fitAsync(x, y, { ...opts, initialEpoch: 1 });
    expect(bits(b)).toEqual(bits(a));
    // Already aborted: nothing runs. A second run on a training model is refused.
    const before = bits(b);
    await expect(b.fitAsync(x, y, { ...opts, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    const running = b.fitAsync(x, y, { ...opts, epochs: 1, yieldEvery: 0 });
    expect(b.isTraining).toBe(true); // paused after its first step
    expect(() => fit(b, x, y, opts)).toThrow(/already training/);
    await running;
    expect(bits(b)).not.toEqual(before);
    await expect(b.fitAsync(x, y, { ...opts, signal: 'stop' as never })).rejects.toThrow(/signal/);
    await expect(b.fitAsync(x, y, { ...opts, yieldEvery: -1 })).rejects.toThrow(/yieldEvery/);
    a.dispose();
    b.dispose();
  });
});
