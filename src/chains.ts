import { ArgumentError, ShapeError, checkInt, describe } from './errors.js';
import { Ensemble, type EnsembleOptions } from './ensemble.js';
import { loadModel, saveModel } from './model.js';
import { Sequential } from './model.js';
import { runtime, type Runtime } from './runtime/runtime.js';
import {
  PSGLD, SGHMC, SGLD, sample, stepSizeFromSpec,
  type PSGLDOptions, type SGHMCOptions, type Sampler, type SamplerOptions, type StepSizeSpec,
} from './samplers.js';
import type { LossKind } from './train.js';

/** The sampler of a chain as plain data (no functions): its class and options. */
export interface ChainSamplerSpec {
  kind: 'SGLD' | 'PSGLD' | 'SGHMC';
  /** The sampler's options; `stepSize` a number or a {@link StepSizeSpec}; `priorPrecision` a number or a record by group name; `seed` is set per chain. */
  options?: Omit<SamplerOptions & PSGLDOptions & SGHMCOptions, 'stepSize' | 'priorPrecision' | 'seed'> & {
    stepSize?: number | StepSizeSpec;
    priorPrecision?: number | { [groupName: string]: number };
  };
}

/**
 * Everything one chain needs, as plain data that can be posted to a worker: the starting model
 * (a {@link saveModel} file), the data, the sampler and the run's options.
 */
export interface ChainSpec {
  /** The starting point: a model file (architecture and weights). */
  model: Uint8Array;
  x: Float32Array;
  y: Float32Array | Int32Array | Uint8Array;
  sampler: ChainSamplerSpec;
  epochs: number;
  batchSize?: number;
  burnIn?: number;
  thin?: number;
  loss?: LossKind;
  ensemble?: EnsembleOptions;
}

function makeSampler(s: ChainSamplerSpec, seed: number): Sampler {
  if (!s || typeof s !== 'object') throw new ArgumentError('spec.sampler', 'a sampler spec {kind, options}', describe(s));
  const o = s.options ?? {};
  if (typeof o.priorPrecision === 'function') throw new ArgumentError('spec.sampler.options.priorPrecision', 'a number or a record (plain data)', 'a function');
  const stepSize = o.stepSize === undefined || typeof o.stepSize === 'number' ? o.stepSize : stepSizeFromSpec(o.stepSize);
  const opts = { ...o, stepSize, seed };
  if (s.kind === 'SGLD') return new SGLD(opts);
  if (s.kind === 'PSGLD') return new PSGLD(opts);
  if (s.kind === 'SGHMC') return new SGHMC(opts);
  throw new ArgumentError('spec.sampler.kind', "'SGLD' | 'PSGLD' | 'SGHMC'", describe((s as { kind: unknown }).kind));
}

/**
 * Run one chain of `spec` with `seed` (the sampler's noise and the shuffling) in runtime `rt`
 * and return its collected samples as an {@link Ensemble} file. This is what each worker of
 * {@link sampleChains} runs; run in-process it gives the same bytes.
 */
export function runChain(spec: ChainSpec, seed: number, rt: Runtime = runtime()): Uint8Array {
  checkInt('seed', seed, 0, 2 ** 32 - 1);
  const sampler = makeSampler(spec.sampler, seed);
  const model = loadModel(spec.model, { runtime: rt });
  try {
    const r = sample(model, spec.x, spec.y, {
      sampler, seed, epochs: spec.epochs, batchSize: spec.batchSize, burnIn: spec.burnIn,
      thin: spec.thin, loss: spec.loss, ensemble: spec.ensemble, progress: false,
    });
    try {
      return r.ensemble.save();
    } finally {
      r.ensemble.dispose();
    }
  } finally {
    model.dispose();
    sampler.dispose();
  }
}

/** Options of {@link sampleChains}. */
export interface ChainsOptions {
  /** One seed per chain (distinct seeds: independent chains). */
  seeds: number[];
  /** Run the chains in workers (default true): Node `worker_threads` or Web Workers, one wasm instance each. */
  parallel?: boolean;
  /** Workers at most (default: the number of cores). */
  workers?: number;
  /** URL of this package's ESM bundle, which the workers import (default: this module's own URL). */
  moduleUrl?: string | URL;
}

/** Build the spec of a chain starting from `model` (its architecture and current weights). */
export function chainSpec(model: Sequential, x: Float32Array, y: ChainSpec['y'], rest: Omit<ChainSpec, 'model' | 'x' | 'y'>): ChainSpec {
  if (!(model instanceof Sequential)) throw new ArgumentError('model', 'a Sequential', describe(model));
  return { model: saveModel(model), x, y, ...rest };
}

interface Host {
  cores: number;
  run(spec: ChainSpec, seed: number, moduleUrl: string): Promise<Uint8Array>;
}

const isNode = (): boolean => typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string'
  && typeof (globalThis as { window?: unknown }).window === 'undefined';

// Node: a worker_threads worker whose (CommonJS, eval'd) body imports the bundle and runs one chain.
const NODE_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.moduleUrl).then((vd) => {
  const bytes = vd.runChain(workerData.spec, workerData.seed);
  parentPort.postMessage(bytes, [bytes.buffer]);
}, (e) => { throw e; });
`;

// Browsers: a module Web Worker (from a Blob) that imports the bundle, compiles the wasm and runs one chain.
const WEB_WORKER = (url: string): string => `
import * as vd from ${JSON.stringify(url)};
self.onmessage = async (ev) => {
  try {
    await vd.init();
    const bytes = vd.runChain(ev.data.spec, ev.data.seed);
    self.postMessage({ bytes }, [bytes.buffer]);
  } catch (e) { self.postMessage({ error: String(e && e.stack || e) }); }
};
`;

async function nodeHost(): Promise<Host> {
  // Module names in variables: bundlers for browsers leave these imports alone; only Node runs them.
  const imp = (m: string): Promise<Record<string, unknown>> => import(/* @vite-ignore */ m);
  const wt = (await imp('node:worker_threads')) as unknown as { Worker: new (code: string, o: object) => NodeWorker };
  const os = (await imp('node:os')) as unknown as { availableParallelism?: () => number; cpus: () => unknown[] };
  return {
    cores: os.availableParallelism?.() ?? os.cpus().length,
    run: (spec, seed, moduleUrl) => new Promise((resolve, reject) => {
      const w = new wt.Worker(NODE_WORKER, { eval: true, workerData: { spec, seed, moduleUrl } });
      w.once('message', (b: unknown) => resolve(b as Uint8Array));
      w.once('error', reject);
      w.once('exit', (code: unknown) => { if (code !== 0) reject(new Error(`chain worker (seed ${seed}) exited with code ${code}`)); });
    }),
  };
}

interface NodeWorker {
  once(ev: string, f: (v: unknown) => void): void;
}

function webHost(): Host {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return {
    cores: nav?.hardwareConcurrency ?? 2,
    run: (spec, seed, moduleUrl) => new Promise((resolve, reject) => {
      const blob = new Blob([WEB_WORKER(moduleUrl)], { type: 'text/javascript' });
      const url = URL.createObjectURL(blob);
      const w = new Worker(url, { type: 'module' });
      w.onmessage = (ev: MessageEvent) => {
        w.terminate();
        URL.revokeObjectURL(url);
        if (ev.data.error) reject(new Error(ev.data.error));
        else resolve(ev.data.bytes as Uint8Array);
      };
      w.onerror = (ev) => {
        w.terminate();
        URL.revokeObjectURL(url);
        reject(new Error(`chain worker (seed ${seed}): ${ev.message}`));
      };
      w.postMessage({ spec, seed });
    }),
  };
}

/**
 * Run one chain per seed of `spec` and return each chain's samples as an {@link Ensemble}
 * (merge them with {@link Ensemble.concat}). With `parallel` (default) the chains run in
 * workers, as many at a time as there are cores, each with its own wasm instance; every
 * random number is keyed by (seed, step, parameter group), so the result is the same bits as
 * running the chains one after another in this thread.
 */
export async function sampleChains(spec: ChainSpec, opts: ChainsOptions): Promise<Ensemble[]> {
  if (!opts || !Array.isArray(opts.seeds) || opts.seeds.length === 0) throw new ArgumentError('seeds', 'a non-empty array of chain seeds', describe(opts?.seeds));
  opts.seeds.forEach((s, i) => checkInt(`seeds[${i}]`, s, 0, 2 ** 32 - 1));
  if (new Set(opts.seeds).size !== opts.seeds.length) throw new ArgumentError('seeds', 'distinct seeds (equal seeds give identical chains)', `[${opts.seeds.join(', ')}]`);
  if (!(spec?.model instanceof Uint8Array)) throw new ArgumentError('spec.model', 'a model file (saveModel bytes)', describe(spec?.model));
  if (!(spec.x instanceof Float32Array)) throw new ShapeError('spec.x', 'a Float32Array of inputs', describe(spec.x));
  const parallel = opts.parallel ?? true;
  if (!parallel) return opts.seeds.map((s) => Ensemble.load(runChain(spec, s)));
  const moduleUrl = String(opts.moduleUrl ?? import.meta.url);
  const host = isNode() ? await nodeHost() : webHost();
  const width = checkInt('workers', opts.workers ?? host.cores, 1, 256);
  const out: Uint8Array[] = new Array(opts.seeds.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < opts.seeds.length) {
      const i = next++;
      out[i] = await host.run(spec, opts.seeds[i], moduleUrl);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, opts.seeds.length) }, lane));
  return out.map((b) => Ensemble.load(b));
}
