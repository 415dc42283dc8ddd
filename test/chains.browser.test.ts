import { describe, expect, it } from 'vitest';
import { expectBits, randArr } from './util/kernel.js';

// Chains in module Web Workers (sampleChains' browser host: one Blob worker per chain importing
// the built bundle, its own wasm instance) against the same chains run one after another on the
// page: the same bytes.
const url = new URL('/dist/index.js', location.origin).href;
type Vd = typeof import('../src/index.js');
const load = (): Promise<Vd> => import(/* @vite-ignore */ url);

describe('several chains in Web Workers', () => {
  it('two chains in parallel Web Workers give the same bits as sequential ones; distinct seeds differ', async () => {
    const vd = await load();
    await vd.init();
    const n = 64, D = 3;
    const x = randArr(n * D, -1, 1, 5);
    const y = new Float32Array(n).map((_, i) => x[i * D] - 0.5 * x[i * D + 2] + 0.1 * Math.cos(5 * i));
    const model = new vd.Sequential({ inputShape: [D], seed: 4, layers: [new vd.Dense({ units: 8 }), new vd.ReLU(), new vd.Dense({ units: 1 })] });
    const spec = vd.chainSpec(model, x, y, {
      sampler: { kind: 'SGLD', options: { stepSize: { kind: 'polynomial', a: 1e-3, b: 10, gamma: 0.55 }, priorPrecision: 1 } },
      epochs: 12, batchSize: 16, burnIn: 8, thin: 4, loss: 'mse', ensemble: { task: 'regression', likelihood: 'mse' },
    });
    model.dispose();
    const seeds = [21, 22];
    const par = await vd.sampleChains(spec, { seeds, moduleUrl: url, workers: 2 });
    const seq = seeds.map((s) => vd.Ensemble.load(vd.runChain(spec, s)));
    expect(par.map((e) => e.size)).toEqual(seq.map((e) => e.size));
    expect(par[0].size).toBeGreaterThan(1);
    par.forEach((e, i) => {
      for (let k = 0; k < e.size; k++) expectBits(e.snapshot(k), seq[i].snapshot(k));
    });
    expect(Array.from(par[0].snapshot(0))).not.toEqual(Array.from(par[1].snapshot(0)));
    for (const e of [...par, ...seq]) e.dispose();
  });
});
