import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { ArgumentError, NonFiniteError, ShapeError, VardropError } from '../src/errors.js';
import { SPLIT_STREAM, oneHot, parseCsv, splitIndices, trainTestSplit } from '../src/data.js';
import { Sequential } from '../src/model.js';
import { Dense } from '../src/layers/dense.js';
import { evaluate, fit } from '../src/train.js';
import { Rng } from '../src/ops/noise.js';
import { copyRows } from '../src/tensor.js';

const rt = Runtime.createSync();

function err(f: () => unknown): VardropError {
  try {
    f();
  } catch (e) {
    return e as VardropError;
  }
  throw new Error('did not throw');
}

const counts = (y: ArrayLike<number>, k: number) => {
  const c = new Array(k).fill(0);
  for (let i = 0; i < y.length; i++) c[y[i]]++;
  return c;
};

describe('parseCsv: columns, label column, bytes', () => {
  const csv = 'sepal,petal,"species",id\n5.1,1.4,setosa,1\n7.0,4.7,versicolor,2\n\n6.3,6.0,virginica,3\n4.9,1.4,"setosa",4\n';

  it('picks feature columns by name or index, and returns the label column as class indices', () => {
    const t = parseCsv(csv, { header: true, columns: ['petal', 0], label: 'species' });
    expect(t.header).toEqual(['sepal', 'petal', 'species', 'id']);
    expect(t.columns).toEqual([1, 0]);
    expect([t.rows, t.cols]).toEqual([4, 2]);
    expect(Array.from(t.data)).toEqual(Array.from(Float32Array.from([1.4, 5.1, 4.7, 7.0, 6.0, 6.3, 1.4, 4.9])));
    expect(t.classes).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(Array.from(t.labels!)).toEqual([0, 1, 2, 0]);
    expect(t.targets).toBeUndefined();
  });

  it('numeric labels become classes in ascending numeric order ("10" after "9"), or targets', () => {
    const text = 'a b y\n1 2 10\n3 4 9\n5 6 10.0\n7 8 2\n';
    const t = parseCsv(text, { header: true, label: 2 });
    expect(t.classes).toEqual(['2', '9', '10']);
    expect(Array.from(t.labels!)).toEqual([2, 1, 2, 0]);
    expect(t.cols).toBe(2);
    const r = parseCsv(text, { header: true, label: 'y', labelAs: 'targets' });
    expect(Array.from(r.targets!)).toEqual([10, 9, 10, 2]);
    expect(r.labels).toBeUndefined();
  });

  it('takes UTF-8 bytes (with a BOM) like text', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(csv)]);
    expect(parseCsv(bytes, { header: true, label: 'species', columns: [0, 1] })).toEqual(parseCsv(csv, { header: true, label: 'species', columns: [0, 1] }));
  });

  it('errors name the column, the line of the file and the fix', () => {
    expect(err(() => parseCsv(csv, { header: true, columns: ['petals'] }))).toMatchObject({ argument: 'columns[0]', received: '"petals"' });
    expect(err(() => parseCsv(csv, { label: 'species' })).message).toMatch(/names need header: true/);
    expect(err(() => parseCsv(csv, { header: true, label: 9 }))).toBeInstanceOf(ArgumentError);
    expect(err(() => parseCsv(csv, { header: true, label: 2, columns: [2] })).argument).toBe('columns');
    // "setosa" in a feature column: line 2 of the file.
    const e = err(() => parseCsv(csv, { header: true }));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e.argument).toBe('line 2');
    // A blank line is skipped but still counted: the ragged line is line 5.
    const r = err(() => parseCsv('1,2\n3,4\n\n\n5\n'));
    expect(r).toBeInstanceOf(ShapeError);
    expect(r.argument).toBe('line 5');
    expect(err(() => parseCsv(csv, { header: true, label: 'species', labelAs: 'numbers' as never })).argument).toBe('labelAs');
  });
});

describe('oneHot', () => {
  it('one 1 per row at the label', () => {
    expect(Array.from(oneHot([2, 0, 1]))).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
    expect(Array.from(oneHot(Uint8Array.from([1]), 3))).toEqual([0, 1, 0]);
    expect(err(() => oneHot([0, 3], 3)).argument).toBe('labels');
    expect(err(() => oneHot([0, 1.5])).argument).toBe('labels[1]');
    expect(err(() => oneHot(Float32Array.from([0, 1]) as never)).argument).toBe('labels');
  });
});

describe('trainTestSplit', () => {
  const n = 90, per = 2;
  const x = Float32Array.from({ length: n * per }, (_, i) => i);
  // Sorted by class, like sklearn's wine file: 30 of class 0, 45 of class 1, 15 of class 2.
  const y = Int32Array.from({ length: n }, (_, i) => (i < 30 ? 0 : i < 75 ? 1 : 2));

  it('a seeded permutation: every sample in exactly one part, rows kept whole, same seed same split', () => {
    const s = trainTestSplit(x, y, { testSize: 0.2, seed: 5 });
    expect(s.testIndex.length).toBe(18);
    expect(s.trainIndex.length).toBe(72);
    expect([...s.trainIndex, ...s.testIndex].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    s.testIndex.forEach((r, i) => {
      expect([s.xTest[i * 2], s.xTest[i * 2 + 1]]).toEqual([r * 2, r * 2 + 1]);
      expect(s.yTest[i]).toBe(y[r]);
    });
    expect(trainTestSplit(x, y, { testSize: 0.2, seed: 5 })).toEqual(s);
    expect(Array.from(trainTestSplit(x, y, { testSize: 0.2, seed: 6 }).testIndex)).not.toEqual(Array.from(s.testIndex));
    // Shuffled: not the last rows.
    expect(Math.min(...s.testIndex)).toBeLessThan(72);
  });

  it('stratified: each class keeps its share in the test part', () => {
    for (const seed of [0, 1, 2]) {
      const s = trainTestSplit(x, y, { testSize: 0.2, seed, stratify: true });
      expect(counts(s.yTest, 3)).toEqual([6, 9, 3]);
      expect(counts(s.yTrain, 3)).toEqual([24, 36, 12]);
    }
    // Largest remainders: 10 of 90 → 3.33, 5, 1.67 → 3, 5, 2.
    expect(counts(trainTestSplit(x, y, { testSize: 10, stratify: true }).yTest, 3)).toEqual([3, 5, 2]);
  });

  it('regression targets with several values per sample, and stratification by given classes', () => {
    const t = Float32Array.from({ length: n * 3 }, (_, i) => i / 10);
    const s = trainTestSplit(x, t, { targetSize: 3, testSize: 30, seed: 1, stratify: y });
    expect(s.yTest.length).toBe(90);
    s.testIndex.forEach((r, i) => expect(Array.from(s.yTest.subarray(i * 3, i * 3 + 3))).toEqual(Array.from(t.subarray(r * 3, r * 3 + 3))));
    expect(counts(Array.from(s.testIndex, (r) => y[r]), 3)).toEqual([10, 15, 5]);
    expect(Array.isArray(trainTestSplit(x, Array.from(y)).yTest)).toBe(true);
  });

  it('bad arguments', () => {
    expect(err(() => trainTestSplit(x, y, { testSize: 0 })).argument).toBe('testSize');
    expect(err(() => trainTestSplit(x, y, { testSize: 90 })).argument).toBe('testSize');
    expect(err(() => trainTestSplit(x, y, { testSize: 1.5 })).argument).toBe('testSize');
    expect(err(() => trainTestSplit(x, y, { testSize: NaN })).argument).toBe('testSize');
    expect(err(() => trainTestSplit(x, y.subarray(1))).argument).toBe('x');
    expect(err(() => trainTestSplit(x, Float32Array.from(y), { stratify: true })).argument).toBe('stratify');
    expect(err(() => trainTestSplit(x, y, { stratify: [0, 1] })).argument).toBe('stratify');
    expect(err(() => trainTestSplit(x, y, { seed: -1 })).argument).toBe('seed');
    expect(err(() => trainTestSplit([1, 2] as never, y)).argument).toBe('x');
  });
});

describe('fit: validationSplit is a seeded, stratified split, not the last rows', () => {
  it('on class-sorted data every class is validated, and the logged valLoss is that split’s', () => {
    const n = 60, per = 4;
    const r = new Rng(1, 2, rt);
    const y = Int32Array.from({ length: n }, (_, i) => Math.floor((i * 3) / n)); // 20 of each class, sorted
    const x = Float32Array.from({ length: n * per }, (_, i) => y[Math.floor(i / per)] + r.uniform());
    const parts = splitIndices(n, 12, 9, SPLIT_STREAM, y, true, rt);
    expect(counts(Array.from(parts.test, (i) => y[i]), 3)).toEqual([4, 4, 4]);
    const m = new Sequential({ inputShape: [per], seed: 3, runtime: rt, layers: [new Dense({ units: 3 })] });
    const logs: number[] = [];
    fit(m, x, y, { epochs: 1, batchSize: 8, seed: 9, validationSplit: 0.2, progress: false, onEpochEnd: (l) => void logs.push(l.valLoss!) });
    const xv = new Float32Array(12 * per), yv = new Int32Array(12);
    parts.test.forEach((i, k) => {
      xv.set(x.subarray(i * per, i * per + per), k * per);
      yv[k] = y[i];
    });
    expect(logs[0]).toBe(evaluate(m, xv, yv).loss);
  });
});

describe('copyRows: row gather of the training loop', () => {
  it('copies the listed rows in order (rows as an array or Int32Array), short rows element by element, long ones by subarray', () => {
    for (const per of [1, 3, 32, 33, 100]) {
      const n = 7;
      const src = Float32Array.from({ length: n * per }, (_, i) => i * 0.5 - 3);
      const rows = [6, 0, 3, 3, 1];
      const dst = copyRows(src, per, rows, new Float32Array(rows.length * per));
      const want = new Float32Array(rows.length * per);
      rows.forEach((r, i) => { for (let j = 0; j < per; j++) want[i * per + j] = src[r * per + j]; });
      expect(dst).toEqual(want);
      expect(copyRows(src, per, Int32Array.from(rows), new Float32Array(rows.length * per))).toEqual(want);
    }
  });
});
