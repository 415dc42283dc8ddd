import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { fitStandardizer, oneHot, parseCsv, standardize, trainTestSplit } from '../src/data.js';
import { Sequential } from '../src/model.js';
import { Dense } from '../src/layers/dense.js';
import { ReLU } from '../src/layers/activation.js';
import { Adam } from '../src/optim.js';
import { evaluate, fit } from '../src/train.js';

describe('data helpers on a real file (UCI red wine quality, 1599 wines)', () => {
  it('label column as classes, stratified split, standardise, train: beats the majority class on held-out wines', () => {
    const rt = Runtime.createSync();
    const bytes = fs.readFileSync(new URL('../../shared/data/uci/wine-quality-red/data.txt', import.meta.url));
    const t = parseCsv(bytes, { label: 11 }); // a Buffer, whitespace-separated, no header
    expect([t.rows, t.cols]).toEqual([1599, 11]);
    expect(t.classes).toEqual(['3', '4', '5', '6', '7', '8']);
    const C = t.classes!.length;
    const s = trainTestSplit(t.data, t.labels!, { testSize: 0.25, seed: 1, stratify: true });
    const share = (y: Int32Array) => Array.from(oneHot(y, C).reduce((acc, v, i) => ((acc[i % C] += v / y.length), acc), new Array(C).fill(0)));
    share(s.yTest).forEach((p, c) => expect(Math.abs(p - share(t.labels!)[c])).toBeLessThan(0.01));
    const st = fitStandardizer(s.xTrain, 11);
    const m = new Sequential({ inputShape: [11], seed: 2, runtime: rt, layers: [new Dense({ units: 32 }), new ReLU(), new Dense({ units: C })] });
    fit(m, standardize(s.xTrain, st), s.yTrain, { epochs: 40, batchSize: 32, optimizer: new Adam({ lr: 3e-3 }), progress: false });
    const acc = evaluate(m, standardize(s.xTest, st), s.yTest).accuracy!;
    const majority = Math.max(...share(s.yTest));
    expect(majority).toBeCloseTo(0.43, 1);
    expect(acc).toBeGreaterThan(majority + 0.1);
  });
});
