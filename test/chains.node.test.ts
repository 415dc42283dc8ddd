import { describe, expect, it } from 'vitest';
import { chainSpec, runChain, sampleChains } from '../src/chains.js';
import { Ensemble } from '../src/ensemble.js';
import { ArgumentError } from '../src/errors.js';
import { ReLU } from '../src/layers/activation.js';
import { Dense } from '../src/layers/dense.js';
import { Sequential } from '../src/model.js';
import { Runtime } from '../src/runtime/runtime.js';
import { expectBits, randArr } from './util/kernel.js';

// Chains in worker_threads (one wasm instance each, importing the built bundle) against the same
// chains run one after another in this thread: the same bytes.
const rt = Runtime.createSync();
const bundle = new URL('../dist/index.js', import.meta.url);

describe('several chains in parallel', () => {
  const n = 64, D = 3;
  const x = randArr(n * D, -1, 1, 3);
  const y = new Float32Array(n).map((_, i) => x[i * D] - 0.5 * x[i * D + 1] + 0.1 * Math.sin(7 * i));
  const model = new Sequential({ inputShape: [D], seed: 2, runtime: rt, layers: [new Dense({ units: 8 }), new ReLU(), new Dense({ units: 1 })] });
  const spec = chainSpec(model, x, y, {
    sampler: { kind: 'SGHMC', options: { stepSize: { kind: 'cyclical', initial: 1e-4, cycles: 2, exploration: 0.5 }, friction: 0.2, priorPrecision: 1 } },
    epochs: 20, batchSize: 16, burnIn: 8, thin: 4, loss: 'mse', ensemble: { task: 'regression', likelihood: 'mse' },
  });
  model.dispose();

  it('worker_threads chains give the same bits as sequential ones; distinct seeds differ', async () => {
    const seeds = [11, 12, 13];
    const par = await sampleChains(spec, { seeds, moduleUrl: bundle, workers: 2 });
    const seq = seeds.map((s) => Ensemble.load(runChain(spec, s, rt), { runtime: rt }));
    expect(par.map((e) => e.size)).toEqual(seq.map((e) => e.size));
    par.forEach((e, i) => {
      for (let k = 0; k < e.size; k++) expectBits(e.snapshot(k), seq[i].snapshot(k));
    });
    expect(Array.from(par[0].snapshot(0))).not.toEqual(Array.from(par[1].snapshot(0)));
    const all = Ensemble.concat(par);
    expect(all.size).toBe(par.reduce((s, e) => s + e.size, 0));
    expectBits(all.snapshot(par[0].size), par[1].snapshot(0));
    const p = all.predictRegression(x.subarray(0, 5 * D));
    expect(Math.min(...p.epistemic)).toBeGreaterThan(0);
    for (const e of [...par, ...seq, all]) e.dispose();
  });

  it('bad chain options are typed errors', async () => {
    await expect(sampleChains(spec, { seeds: [] })).rejects.toThrow(ArgumentError);
    await expect(sampleChains(spec, { seeds: [1, 1] })).rejects.toThrow(/distinct/);
    expect(() => runChain({ ...spec, sampler: { kind: 'HMC' as 'SGLD' } }, 1, rt)).toThrow(/kind/);
  });
});
