import fs from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// The published bundle (npm run build: dist/), not the sources: one file with the wasm inlined,
// loadable as ESM and CommonJS, within its size budget.
const dist = new URL('../dist/', import.meta.url);

function smoke(vd: typeof import('../src/index.js')): number[] {
  const rt = vd.Runtime.createSync();
  const m = new vd.Sequential({ inputShape: [4], seed: 1, runtime: rt, layers: [new vd.SparseVDDense({ units: 8 }), new vd.ReLU(), new vd.Dense({ units: 2 })] });
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const y = Int32Array.from({ length: 16 }, (_, i) => i % 2);
  vd.fit(m, x, y, { epochs: 2, batchSize: 8, progress: false });
  return Array.from(m.predict(x.subarray(0, 8)));
}

describe('bundle', () => {
  it('ESM and CJS bundles load, train and agree bit for bit', async () => {
    const esm = await import(new URL('index.js', dist).href);
    const cjs = createRequire(import.meta.url)(new URL('index.cjs', dist).pathname);
    const a = smoke(esm), b = smoke(cjs);
    expect(a).toEqual(b);
    a.forEach((v) => expect(Number.isFinite(v)).toBe(true));
    expect(typeof esm.init).toBe('function');
    expect((await esm.init()) instanceof esm.Runtime).toBe(true);
  });

  it('stays within its size budget and needs no runtime dependency', () => {
    const size = fs.statSync(new URL('index.js', dist)).size;
    // The full bundle carries every training kernel and feature; the edge budget is the inference entry's.
    // Sampling, ensembles, distillation and parallel chains add about 60 kB.
    // The recurrent kernels (fused LSTM/GRU through time with their twins, inference cells), layers, pruning and text helpers add about 95 kB.
    expect(size).toBeLessThan(700_000);
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(Object.keys(pkg.dependencies ?? {}).filter((d) => d !== '@assemblyscript/loader')).toEqual([]);
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.exports['.']).toMatchObject({ types: './dist/index.d.ts', import: './dist/index.js', require: './dist/index.cjs' });
    const src = fs.readFileSync(new URL('index.js', dist), 'utf8');
    expect(src).not.toMatch(/from ['"](?!\.)/); // no bare imports left in the bundle
  });
});

/** Gzipped bytes of dist/infer.js (issue 12's goal) and of dist/infer-mc.js. */
// infer-mc: 47 KB since the batch-1 kernels (spmv_f32_csc, the direct sparse convolution) joined both modules (+0.9 KB gzipped);
// 48 KB since the fused LRT kernels (lrt_spmm_f32_csr, lrt_draw_f32) joined it (48 491 B measured, 2026-12-02);
// 48.5 KB since 'lrt' keys its noise by the training layer's units, so structured compaction
// changes no draw (McWeights.noisePositions: 49 195 B measured for the .cjs, 2026-12-02).
const BUDGET_INFER = 40_000, BUDGET_INFER_MC = 48.5 * 1024;

describe('bundle vardrop/infer', () => {
  const read = (f: string) => fs.readFileSync(new URL(f, dist));

  it('ESM and CJS load a model file and agree bit for bit; package.json exports it with types', async () => {
    const vd = await import(new URL('index.js', dist).href);
    const esm = await import(new URL('infer.js', dist).href);
    const cjs = createRequire(import.meta.url)(new URL('infer.cjs', dist).pathname);
    const m = new vd.Sequential({ inputShape: [6], seed: 2, layers: [new vd.SparseVDDense({ units: 5, activation: 'relu' }), new vd.Dense({ units: 3 })] });
    const x = Float32Array.from({ length: 24 }, (_, i) => Math.cos(i));
    const file = m.save();
    const a = esm.load(file).predict(x), b = cjs.load(file).predict(x);
    expect(Array.from(new Uint32Array(a.buffer))).toEqual(Array.from(new Uint32Array(b.buffer)));
    expect(Array.from(new Uint32Array(a.buffer))).toEqual(Array.from(new Uint32Array(m.predict(x).buffer)));
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.exports['./infer']).toEqual({ types: './dist/infer.d.ts', import: './dist/infer.js', require: './dist/infer.cjs', default: './dist/infer.js' });
    expect(pkg.exports['./infer-mc']).toEqual({ types: './dist/infer-mc.d.ts', import: './dist/infer-mc.js', require: './dist/infer-mc.cjs', default: './dist/infer-mc.js' });
    const mcEsm = await import(new URL('infer-mc.js', dist).href);
    const mcCjs = createRequire(import.meta.url)(new URL('infer-mc.cjs', dist).pathname);
    for (const e of [mcEsm, mcCjs]) expect(Array.from(new Uint32Array(e.load(file).predict(x).buffer))).toEqual(Array.from(new Uint32Array(a.buffer)));
  });

  it('stays within its size budget and carries no training code', async () => {
    const { gzipSync } = await import('node:zlib');
    // The goal, 40 KB, is the budget, read as 40 000 bytes (so it holds whichever way KB is
    // read). Measured 39 345 B (2026-12-02): the wasm inlined as raw bytes (one char a byte; as
    // base64 it gzipped 9 KB worse) and built without asserts, 14 KB; the JavaScript 24 KB. Monte-Carlo prediction (its kernels and mc.ts, 7 KB) is
    // vardrop/infer-mc's (45.8 KB measured).
    for (const f of ['infer.js', 'infer.cjs']) expect(gzipSync(read(f), { level: 9 }).length, f).toBeLessThanOrEqual(BUDGET_INFER);
    // vardrop/infer-mc adds Monte-Carlo prediction: its kernels and mc.ts.
    for (const f of ['infer-mc.js', 'infer-mc.cjs']) expect(gzipSync(read(f), { level: 9 }).length, f).toBeLessThanOrEqual(BUDGET_INFER_MC);
    const src = read('infer.js').toString('utf8');
    expect(src).not.toMatch(/from ['"](?!\.)/);
    // No layer, optimizer, sampler or trainer came along, nor the full module's bytes.
    for (const name of ['class Dense', 'class SparseVDDense', 'class Optimizer', 'class Adam', 'function fit(', 'backward', 'class Sequential', 'threefry', 'Sgld']) {
      expect(src, name).not.toContain(name);
    }
    const full = read('index.js').toString('utf8');
    expect(full.length).toBeGreaterThan(3 * src.length);
  });

  it.each([['infer.js', 'vardrop-infer.wasm'], ['infer-mc.js', 'vardrop-infer-mc.wasm']])('%s names only kernels its own wasm (%s) exports', (bundle, module) => {
    const wasm = new WebAssembly.Module(fs.readFileSync(new URL(`../build/${module}`, import.meta.url)));
    const exports = new Set(WebAssembly.Module.exports(wasm).map((e) => e.name));
    const src = read(bundle).toString('utf8');
    // Every kernel read through `.k.name` (or a kind string handed to `k[kind]`) is there.
    const named = new Set([...src.matchAll(/\.k\.([a-z][a-z0-9_]*)/g)].map((m) => m[1]));
    for (const m of src.matchAll(/'([a-z0-9]+(?:_[a-z0-9]+)*_f32(?:_[a-z0-9]+)*)'/g)) named.add(m[1]);
    expect(named.size).toBeGreaterThan(15);
    // Absent: only scalar twins (the ops' `scalar` test option), whose SIMD kernel is there.
    // Also absent: batch norm's training kernel, named by the one batchNorm op whose inference
    // branch (training: false) is the only one inference takes.
    const uncalled = new Set(['batchnorm_forward_train_f32']);
    expect([...named].filter((n) => !exports.has(n) && !uncalled.has(n) && !(n.endsWith('_scalar') && exports.has(n.slice(0, -7))))).toEqual([]);
  });
});
