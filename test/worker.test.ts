import { describe, expect, it } from 'vitest';

// Training in a worker (Node worker_thread here, module Web Worker in Chromium) through the built
// bundle: the same bits as fit on this thread, logs streamed back, typed errors, cooperative abort.
const inBrowser = typeof window !== 'undefined';
const url = inBrowser ? new URL('/dist/index.js', location.origin).href : new URL('../dist/index.js', import.meta.url).href;
type Vd = typeof import('../src/index.js');
const load = (): Promise<Vd> => import(/* @vite-ignore */ url);

function data(n: number): { x: Float32Array; y: Int32Array } {
  const x = Float32Array.from({ length: n * 6 }, (_, i) => Math.sin(0.37 * i) + 0.1 * Math.cos(1.3 * i));
  const y = Int32Array.from({ length: n }, (_, i) => (x[i * 6] + x[i * 6 + 1] > 0 ? 1 : 0) + (x[i * 6 + 2] > 0.5 ? 1 : 0));
  return { x, y };
}

function model(vd: Vd): InstanceType<Vd['Sequential']> {
  return new vd.Sequential({ inputShape: [6], seed: 3, layers: [new vd.SparseVDDense({ units: 16 }), new vd.ReLU(), new vd.SparseVDDense({ units: 3 })] });
}

const withoutTime = (h: { epochs: { seconds: number }[] }): unknown => ({ ...h, epochs: h.epochs.map((e) => ({ ...e, seconds: 0 })) });

describe('fitInWorker', () => {
  it('trains in a worker with the same bits as fit here, streaming every epoch and step', async () => {
    const vd = await load();
    await vd.init();
    const { x, y } = data(120);
    const here = model(vd), there = model(vd);
    const opts = { epochs: 3, batchSize: 16, validationSplit: 0.2, klWeight: { type: 'linear', start: 0, end: 2 } as const, optimizer: { type: 'adam', lr: 3e-3 } as const };
    const h1 = vd.fit(here, x, y, { ...opts, klWeight: vd.schedules.linear({ start: 0, end: 2 }), optimizer: new vd.Adam({ lr: 3e-3 }), progress: false });
    const epochs: number[] = [], steps: [number, number, number][] = [];
    const r = await vd.fitInWorker(there, x, y, { ...opts, batchLogInterval: 0, onEpochEnd: (l) => epochs.push(l.epoch), onBatchEnd: (b, loss, e) => steps.push([e, b, loss]) });
    expect(r.modelBytes).toEqual(vd.saveModel(here));
    expect(withoutTime(r.history)).toEqual(withoutTime(h1));
    expect(Array.from(r.model.predict(x))).toEqual(Array.from(here.predict(x)));
    expect(epochs).toEqual([1, 2, 3]);
    // 96 training samples in batches of 16: 6 steps per epoch, in order, each loss finite.
    expect(steps.map(([e, b]) => `${e}:${b}`)).toEqual([1, 2, 3].flatMap((e) => [0, 1, 2, 3, 4, 5].map((b) => `${e}:${b}`)));
    steps.forEach(([, , loss]) => expect(Number.isFinite(loss)).toBe(true));
    // The input model is untouched: its file still equals a fresh model's.
    expect(vd.saveModel(there)).toEqual(vd.saveModel(model(vd)));
  });

  it('moves the data with transfer: true, and reuses one worker for several calls', async () => {
    const vd = await load();
    const host = await vd.WorkerHost.spawn();
    try {
      const a = data(64), b = data(64);
      const r1 = await vd.fitInWorker(model(vd), a.x, a.y, { epochs: 1, batchSize: 32, host, transfer: true });
      expect(a.x.length).toBe(0); // moved, not copied
      expect(a.y.length).toBe(0);
      const r2 = await vd.fitInWorker(model(vd), b.x, b.y, { epochs: 1, batchSize: 32, host });
      expect(b.x.length).toBe(64 * 6);
      expect(r2.modelBytes).toEqual(r1.modelBytes); // same data, model and seed
    } finally {
      await host.terminate();
    }
  });

  it('brings typed errors back and keeps the worker usable', async () => {
    const vd = await load();
    const host = await vd.WorkerHost.spawn();
    const { x, y } = data(32);
    try {
      // Raised inside the worker's fit (early stopping on validation loss without validation data).
      const e = await vd.fitInWorker(model(vd), x, y, { epochs: 1, host, earlyStopping: { monitor: 'valLoss' } }).catch((err) => err);
      expect(e).toBeInstanceOf(vd.ArgumentError);
      expect(e.argument).toBe('earlyStopping.monitor');
      const m = await host.call('noSuchHandler', {}).catch((err) => err);
      expect(m).toBeInstanceOf(vd.ArgumentError);
      expect(m.message).toMatch(/fit/);
      // Checked on this side before anything is sent.
      await expect(vd.fitInWorker(model(vd), x, y, { epochs: 1, host, optimizer: { type: 'lbfgs' } as never })).rejects.toBeInstanceOf(vd.ArgumentError);
      await expect(vd.fitInWorker(model(vd), x.subarray(1), y, { epochs: 1, host })).rejects.toBeInstanceOf(vd.ShapeError);
      const ok = await vd.fitInWorker(model(vd), x, y, { epochs: 1, host });
      expect(ok.history.epochs).toHaveLength(1);
    } finally {
      await host.terminate();
    }
  });

  it('aborts cooperatively: the worker stops at its next yield, reports AbortError and trains again with the same bits as fit', async () => {
    const vd = await load();
    const host = await vd.WorkerHost.spawn();
    try {
      // Aborted in its first epoch, after some steps have streamed back (of 50 epochs × 500 steps).
      const big = data(4000);
      const ac = new AbortController();
      let seen = 0;
      const run = vd.fitInWorker(model(vd), big.x, big.y, {
        epochs: 50, batchSize: 8, host, signal: ac.signal, batchLogInterval: 0,
        onBatchEnd: () => { if (++seen === 5) ac.abort(new Error('stop')); },
        onEpochEnd: () => { throw new Error('an epoch ended after the abort'); },
      });
      const e = await run.catch((err) => err);
      expect(e).toBeInstanceOf(vd.AbortError);
      expect(e.name).toBe('AbortError');
      expect(e.message).toMatch(/stop/);
      expect(seen).toBeLessThan(500);
      // The same host trains again, with the same bits as fit on this thread.
      const { x, y } = data(120);
      const opts = { epochs: 2, batchSize: 16, seed: 5 };
      const here = model(vd);
      const h = vd.fit(here, x, y, { ...opts, progress: false });
      const r = await vd.fitInWorker(model(vd), x, y, { ...opts, host });
      expect(r.modelBytes).toEqual(vd.saveModel(here));
      expect(withoutTime(r.history)).toEqual(withoutTime(h));
      // An already aborted signal stops a call before it is sent.
      await expect(vd.fitInWorker(model(vd), x, y, { ...opts, host, signal: AbortSignal.abort('early') })).rejects.toBeInstanceOf(vd.AbortError);
    } finally {
      await host.terminate();
    }
  });
});
