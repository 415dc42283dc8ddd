import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { DivergenceError, VardropError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { evaluate, fit } from '../src/train.js';
import { Adam, RMSProp, SGD } from '../src/optim.js';
import { schedules } from '../src/schedule.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import { GroupSparseVDDense, SparseVDConv2d, SparseVDDense, VariationalDropoutDense } from '../src/layers/bayesian.js';
import { ReLU, Tanh } from '../src/layers/activation.js';
import { Dropout } from '../src/layers/dropout.js';
import { MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { SparseModel, prune } from '../src/sparse.js';
import { loadModel, saveModel } from '../src/model.js';
import { fitStandardizer, oneHot, parseCsv, standardize, trainTestSplit, unstandardize } from '../src/data.js';
import { Rng } from '../src/ops/noise.js';
import { bits } from './util/kernel.js';

// A seeded generator of calls to every public entry point with valid and invalid arguments.
// Each call must either return a correct result or throw one of our typed errors, and end
// within a bound far above its normal cost (a hang guard, not a timing); after a call that
// threw, the model under test predicts the same bits as before it (a successful fit, or a
// DivergenceError after good steps, legitimately moves the weights: the reference is retaken).

const rt = Runtime.createSync();
const CALLS = 2500;
const HANG_BOUND_MS = 5000;
const F = 6, C = 3, N = 12;

class Gen {
  private readonly r: Rng;
  constructor(seed: number) {
    this.r = new Rng(seed, 0xf022, rt);
  }
  int(n: number): number {
    return this.r.int(n);
  }
  chance(p: number): boolean {
    return this.r.uniform() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.r.int(a.length)];
  }
  floats(n: number, scale = 1): Float32Array {
    return Float32Array.from({ length: n }, () => (this.r.uniform() * 2 - 1) * scale);
  }
}
const g = new Gen(20261201);

/** Values that are wrong almost everywhere. */
const JUNK: unknown[] = [undefined, null, NaN, Infinity, -Infinity, -1, 0, -0, 1.5, 2 ** 31, 2 ** 53, 1e308, -1e-300, 'x', '3', '', true, false,
  {}, [], [1, 2], () => 1, 10n, Symbol('s'), new Float64Array(3), new Uint8Array(2)];
/** A count or size: small valid values among the junk (never a valid huge one: that would only be slow). */
const count = (...valid: number[]) => (g.chance(0.55) ? g.pick(valid) : g.pick(JUNK));
const number = (...valid: unknown[]) => (g.chance(0.55) ? g.pick(valid) : g.pick(JUNK));

/** An options object: each key present with probability 1/2, or something that is not an options object. */
function options(spec: Record<string, () => unknown>): unknown {
  if (g.chance(0.06)) return g.pick([null, 5, 'opts', [], () => 0]);
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec)) if (g.chance(0.5)) o[k] = v();
  return o;
}

const validX = (n = N) => g.floats(n * F);
function anyX(): unknown {
  switch (g.int(12)) {
    case 0: return new Float32Array(0);
    case 1: return g.floats(N * F + 1);
    case 2: return Float64Array.from(validX());
    case 3: return Array.from(validX());
    case 4: { const x = validX(); x[g.int(x.length)] = g.pick([NaN, Infinity, -Infinity]); return x; }
    case 5: return Float32Array.from(validX(), (v) => v * 3e38);
    case 6: return g.pick(JUNK);
    default: return validX(g.pick([1, 2, 5, N]));
  }
}
function anyY(n: number): unknown {
  switch (g.int(12)) {
    case 0: return Int32Array.from({ length: n }, () => g.int(C + 2) - 1);
    case 1: return Float32Array.from({ length: n }, () => g.int(C));
    case 2: return Float32Array.from({ length: n * C }, () => g.int(2));
    case 3: return g.floats(n * C);
    case 4: return Int32Array.from({ length: n + 1 }, () => g.int(C));
    case 5: return Array.from({ length: n }, () => g.pick([0, 1, 2, 1.5, NaN]));
    case 6: return g.pick(JUNK);
    case 7: return Uint8Array.from({ length: n }, () => g.int(C));
    default: return Int32Array.from({ length: n }, () => g.int(C));
  }
}
const rowsOf = (x: unknown) => (x instanceof Float32Array && x.length % F === 0 && x.length > 0 ? x.length / F : N);

const makeModel = (seed = 1) => new Sequential({
  inputShape: [F], seed, runtime: rt,
  layers: [new SparseVDDense({ units: 10 }), new ReLU(), new Dense({ units: 8 }), new BatchNorm(), new Tanh(), new Dropout({ rate: 0.2 }), new SparseVDDense({ units: C })],
});

function fitOptions(): unknown {
  return options({
    epochs: () => count(1, 2),
    batchSize: () => count(1, 4, 100, 2 ** 31 - 1),
    optimizer: () => (g.chance(0.8) ? g.pick([() => new Adam(), () => new SGD({ momentum: 0.5 }), () => new RMSProp({ lr: 1e-2 })])() : g.pick(JUNK)),
    lr: () => number(1e-3, 1e-2, () => 1e-3, schedules.constant(1e-2), () => NaN, () => -1),
    klWeight: () => number(0, 1, schedules.linear({ start: 0, end: 2 })),
    loss: () => number('softmaxCrossEntropy', 'mse', 'gaussianNll', 'ce'),
    validationSplit: () => number(0, 0.2, 0.5, 0.95),
    validationData: () => (g.chance(0.6) ? { x: validX(4), y: anyY(4) } : g.pick(JUNK)),
    shuffle: () => number(true, false),
    seed: () => number(0, 7, 2 ** 32 - 1, 2 ** 32),
    datasetSize: () => count(1, 100),
    clipNorm: () => number(1, 5),
    earlyStopping: () => options({ monitor: () => number('loss', 'valLoss', 'accuracy', 'valAccuracy', 'dataLoss', 'acc'), patience: () => count(0, 1), minDelta: () => number(0, 0.1), restoreBestWeights: () => number(true, false) }),
    onEpochEnd: () => number(() => undefined, () => false),
    onBatchEnd: () => number(() => undefined),
    progress: () => number(false),
  });
}

type Outcome = 'ok' | 'typed' | 'diverged';

interface State {
  model: Sequential;
  ref: Float32Array;
  probe: Float32Array;
  disposed: Sequential;
  disposedSparse: SparseModel;
}

const finite = (a: ArrayLike<number>) => Array.prototype.every.call(a, (v: number) => Number.isFinite(v));

/** One random call against `s`; returns what happened (throws on a wrong result or an untyped error). */
function call(s: State, log: string[]): Outcome {
  const m = s.model;
  const kind = g.int(20);
  const x = anyX(), n = rowsOf(x);
  const run = (what: string, f: () => void): Outcome => {
    log.push(what);
    try {
      f();
      return 'ok';
    } catch (e) {
      if (e instanceof DivergenceError) return 'diverged';
      if (e instanceof VardropError && e.constructor !== VardropError) {
        expect(typeof e.argument).toBe('string');
        expect(e.message.length).toBeGreaterThan(0);
        return 'typed';
      }
      throw new Error(`${what}: not a typed error: ${String(e)}`, { cause: e });
    }
  };
  switch (kind) {
    case 0:
    case 1: {
      const o = fitOptions();
      return run('fit', () => {
        const h = fit(g.chance(0.05) ? (g.pick([s.disposed, s.disposedSparse, {}]) as never) : m, x as never, anyY(n) as never, o as never);
        expect(h.epochs.length).toBeGreaterThan(0);
        for (const e of h.epochs) expect(Number.isFinite(e.loss)).toBe(true);
      });
    }
    case 2: {
      const o = options({ batchSize: () => count(1, 3, 2 ** 31 - 1), loss: () => number('softmaxCrossEntropy', 'mse', 'x') });
      return run('evaluate', () => {
        const r = g.chance(0.5) ? evaluate(m, x as never, anyY(n) as never, o as never) : m.evaluate(x as never, anyY(n) as never, o as never);
        expect(Number.isFinite(r.loss)).toBe(true);
        if (r.accuracy !== undefined) expect(r.accuracy >= 0 && r.accuracy <= 1).toBe(true);
      });
    }
    case 3:
    case 4: {
      const o = options({ batchSize: () => count(1, 5, 2 ** 31 - 1) });
      const target = g.chance(0.05) ? s.disposed : m;
      const which = g.int(3);
      return run(['predict', 'predictProba', 'predictClasses'][which], () => {
        if (which === 0) {
          const y = target.predict(x as never, o as never);
          expect(y.length).toBe(n * C);
          expect(finite(y)).toBe(true);
        } else if (which === 1) {
          const p = target.predictProba(x as never, o as never);
          for (let i = 0; i < n; i++) expect(Math.abs(p[i * C] + p[i * C + 1] + p[i * C + 2] - 1)).toBeLessThan(1e-5);
        } else {
          const c = target.predictClasses(x as never, o as never);
          expect(c.length).toBe(n);
          for (const v of c) expect(v >= 0 && v < C).toBe(true);
        }
      });
    }
    case 5: {
      const o = options({ samples: () => count(1, 2, 3), seed: () => number(0, 5, 2 ** 32 - 1), batchSize: () => count(1, 5) });
      return run('predictMC', () => {
        const r = m.predictMC(x as never, o as never);
        expect(r.mean.length).toBe(n * C);
        expect(finite(r.mean) && finite(r.mutualInformation)).toBe(true);
        for (const v of r.mutualInformation) expect(v).toBeGreaterThanOrEqual(0);
      });
    }
    case 6: {
      const o = options({ sparseBelow: () => number(0, 0.3, 1) });
      return run('prune', () => {
        const sm = prune(g.chance(0.05) ? (g.pick([s.disposed, {}, s.disposedSparse]) as never) : m, o as never);
        try {
          const y = sm.predict(s.probe);
          expect(y.length).toBe(s.ref.length);
          expect(finite(y)).toBe(true);
          expect(run('sparse predict', () => void sm.predict(x as never, options({ batchSize: () => count(1, 4) }) as never))).not.toBe('diverged');
        } finally {
          sm.dispose();
        }
      });
    }
    case 7: {
      return run('SparseModel.predict (disposed)', () => void s.disposedSparse.predict(validX()));
    }
    case 8: {
      // A saved file, intact or damaged.
      const bytes = saveModel(m);
      const damage = g.int(4);
      const b = damage === 0 ? bytes : damage === 1 ? bytes.subarray(0, g.int(bytes.length)) : damage === 2 ? bytes.slice() : g.pick(JUNK);
      if (damage === 2) (b as Uint8Array)[g.int(bytes.length)] ^= 1 << g.int(8);
      return run('loadModel', () => {
        const back = loadModel(b as never, options({ runtime: () => number(rt) }) as never);
        try {
          if (back.rt === rt) expect(bits(back.predict(s.probe))).toEqual(bits(m.predict(s.probe)));
        } finally {
          back.dispose();
        }
      });
    }
    case 9: {
      const sm = prune(m);
      const bytes = sm.save();
      sm.dispose();
      const b = g.chance(0.5) ? bytes : g.chance(0.5) ? bytes.subarray(0, g.int(bytes.length)) : (() => { const c = bytes.slice(); c[g.int(c.length)] ^= 0x40; return c; })();
      return run('SparseModel.load', () => {
        const back = SparseModel.load(b, options({ runtime: () => number(rt) }) as never);
        try {
          expect(finite(back.predict(s.probe))).toBe(true);
        } finally {
          back.dispose();
        }
      });
    }
    case 10:
    case 11: {
      const layer = (): unknown => {
        const opts = (o: Record<string, () => unknown>) => options(o);
        switch (g.int(8)) {
          case 0: return new Dense(opts({ units: () => count(1, 4), useBias: () => number(true, false), l2: () => number(0, 1e-3) }) as never);
          case 1: return new SparseVDDense(opts({ units: () => count(2, 3), threshold: () => number(3, Infinity), logAlphaRange: () => number([-8, 8], [8, -8]) }) as never);
          case 2: return new VariationalDropoutDense(opts({ units: () => count(2), alpha: () => number('layer', 'unit', 'weight', 'w') }) as never);
          case 3: return new GroupSparseVDDense(opts({ units: () => count(2) }) as never);
          case 4: return new Dropout(opts({ rate: () => number(0, 0.5, 1) }) as never);
          case 5: return new Conv2d(opts({ filters: () => count(1, 2), kernelSize: () => number(1, 3, [2, 3], 7), stride: () => number(1, 2), padding: () => number('same', 'valid') }) as never);
          case 6: return new MaxPool2d(opts({ poolSize: () => number(2, [2, 1], 9) }) as never);
          default: return g.pick(JUNK);
        }
      };
      return run('new Sequential', () => {
        const conv = g.chance(0.4);
        const layers = g.chance(0.9) ? [layer(), ...(conv ? [new Flatten()] : []), new Dense({ units: 2 })] : g.pick(JUNK);
        const inputShape = g.chance(0.8) ? (conv ? [5, 5, 2] : [F]) : g.pick([[0], [], [2.5], 'x', [-1], [2 ** 31]]);
        const opts = g.chance(0.04) ? g.pick(JUNK) : { inputShape, layers, seed: number(0, 3, 2 ** 32 - 1), runtime: g.chance(0.95) ? rt : g.pick(JUNK) };
        const mm = new Sequential(opts as never);
        try {
          const k = mm.inputSize;
          const y = mm.predict(g.floats(2 * k));
          expect(y.length).toBe(2 * mm.outputSize);
          expect(finite(y)).toBe(true);
        } finally {
          mm.dispose();
        }
      });
    }
    case 12:
      return run('optimizer', () => {
        const o = options({ lr: () => number(1e-3, 0.1), beta1: () => number(0, 0.9), beta2: () => number(0.99), eps: () => number(1e-8, 1e-3), momentum: () => number(0, 0.9), rho: () => number(0.9), nesterov: () => number(true, false) });
        g.pick([() => new Adam(o as never), () => new SGD(o as never), () => new RMSProp(o as never)])().dispose();
      });
    case 13:
    case 14: {
      const text = g.pick([
        'a,b,c\n1,2,0\n3,4,1\n', '1 2 3\n4 5 6\n', '1,2\n3\n', 'x;y\n1;2\n', '', '\n\n', '1,NaN\n', '"1","2"\n3,4\n', 'h1\th2\n1e3\t-2\n',
      ]);
      const src = g.chance(0.3) ? new TextEncoder().encode(text) : g.chance(0.9) ? text : g.pick(JUNK);
      const o = options({
        header: () => number(true, false), skipLines: () => count(0, 1), delimiter: () => number(',', /\s+/, ';'), columns: () => number([0], ['a', 1], [5], ['zz']),
        label: () => number(0, 1, 2, 'c', 'h2', 9), labelAs: () => number('classes', 'targets'),
      });
      return run('parseCsv', () => {
        const t = parseCsv(src as never, o as never);
        expect(t.data.length).toBe(t.rows * t.cols);
        expect(finite(t.data)).toBe(true);
        if (t.labels) {
          expect(t.labels.length).toBe(t.rows);
          for (const v of t.labels) expect(v >= 0 && v < t.classes!.length).toBe(true);
        }
      });
    }
    case 15:
    case 16: {
      const y = anyY(n);
      const o = options({ testSize: () => number(0.25, 0.5, 3, 1, n), seed: () => number(0, 9), stratify: () => number(true, false, Int32Array.from({ length: n }, (_, i) => i % 2)), targetSize: () => count(1, 3) });
      return run('trainTestSplit', () => {
        const r = trainTestSplit(x as never, y as never, o as never);
        const all = [...r.trainIndex, ...r.testIndex].sort((a, b) => a - b);
        expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i));
        expect(r.xTrain.length + r.xTest.length).toBe((x as Float32Array).length);
      });
    }
    case 17:
      return run('oneHot', () => {
        const labels = g.chance(0.7) ? Array.from({ length: g.int(5) }, () => g.pick([0, 1, 2, 2, -1, 1.5, 7])) : g.pick(JUNK);
        const k = g.chance(0.5) ? undefined : count(1, 3, 8);
        const r = oneHot(labels as never, k as never);
        const rows = (labels as number[]).length;
        if (rows > 0) expect(r.length % rows).toBe(0);
        let ones = 0;
        for (const v of r) ones += v;
        expect(ones).toBe(rows);
      });
    case 18:
      return run('standardize', () => {
        const cols = count(1, 2, 3);
        const st = fitStandardizer(g.chance(0.8) ? g.floats(12) : (g.pick(JUNK) as never), cols as never);
        const d = g.chance(0.8) ? g.floats(6) : g.pick(JUNK);
        const z = standardize(d as never, g.chance(0.9) ? st : (g.pick(JUNK) as never));
        const back = unstandardize(z, st);
        (d as Float32Array).forEach((v, i) => expect(Math.abs(back[i] - v)).toBeLessThan(1e-4));
      });
    default:
      return run('model.fit on a disposed or pruned model', () => void fit(g.pick([s.disposed, s.disposedSparse]) as never, validX(), Int32Array.from({ length: N }), { epochs: 1 }));
  }
}

describe('API fuzz: thousands of seeded calls with valid and invalid arguments', () => {
  it(`${CALLS} calls: each returns a correct result or a typed error in bounded time; the model keeps its bits`, () => {
    const model = makeModel();
    const probe = validX(5);
    const disposed = makeModel(2);
    disposed.dispose();
    const disposedSparse = prune(makeModel(3));
    disposedSparse.dispose();
    const s: State = { model, probe, ref: model.predict(probe), disposed, disposedSparse };
    const seen: Record<Outcome, number> = { ok: 0, typed: 0, diverged: 0 };
    const names = new Set<string>();
    for (let i = 0; i < CALLS; i++) {
      const log: string[] = [];
      const t0 = performance.now();
      let out: Outcome;
      try {
        out = call(s, log);
      } catch (e) {
        throw new Error(`call ${i} (${log.join(' > ')}): ${(e as Error).message}`, { cause: e });
      }
      const ms = performance.now() - t0;
      if (ms > HANG_BOUND_MS) throw new Error(`call ${i} (${log.join(' > ')}) took ${ms.toFixed(0)} ms`);
      seen[out]++;
      log.forEach((l) => names.add(l));
      const now = model.predict(probe);
      const was = bits(s.ref);
      if (log[0] === 'fit' && out !== 'typed') s.ref = now; // trained on purpose
      else if (bits(now).some((b, j) => b !== was[j])) throw new Error(`call ${i} (${log.join(' > ')}, ${out}) changed the model's predictions`);
    }
    // Both outcomes are well represented, and every entry point was reached.
    expect(seen.ok).toBeGreaterThan(CALLS / 10);
    expect(seen.typed).toBeGreaterThan(CALLS / 3);
    for (const n of ['fit', 'evaluate', 'predict', 'predictProba', 'predictClasses', 'predictMC', 'prune', 'loadModel', 'SparseModel.load', 'new Sequential', 'optimizer', 'parseCsv', 'trainTestSplit', 'oneHot', 'standardize']) {
      expect(names.has(n)).toBe(true);
    }
    model.dispose();
  });
});
