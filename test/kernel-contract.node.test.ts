import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script, no declarations
import { BINDINGS_PATH, bindingsFromDts } from '../scripts/embed-wasm.mjs';

// The structural rules of the kernel layer and the source tree, read from the files themselves
// (Node only: it reads the repository and the build output of `npm run build:wasm`).

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (rel: string): string => fs.readFileSync(path.join(ROOT, rel), 'utf8');

/** Every .ts file under `dir` (relative to the repository root), recursively. */
function tsFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

/**
 * The relative imports and re-exports of each file that exist at run time (`import type` and
 * `export type` are left out: the compiler erases them), as repository-relative paths.
 */
export function importGraph(dir: string): Map<string, string[]> {
  const files = tsFiles(dir);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  const spec = /^[ \t]*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const f of files) {
    const deps: string[] = [];
    for (const m of read(f).matchAll(spec)) {
      if (m[1]) continue;
      const target = path.join(path.dirname(f), m[2]).replace(/\.js$/, '');
      const file = target.endsWith('.ts') ? target : `${target}.ts`;
      // Generated files absent before a build (wasm-binary.ts) are leaves: they import nothing.
      if (known.has(file)) deps.push(file);
    }
    graph.set(f, deps);
  }
  return graph;
}

/** Every elementary cycle found by a depth-first search, each as the list of files around it. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (u: string): void => {
    state.set(u, 1);
    stack.push(u);
    for (const v of graph.get(u) ?? []) {
      if (state.get(v) === 1) cycles.push([...stack.slice(stack.indexOf(v)), v]);
      else if (!state.has(v)) visit(v);
    }
    stack.pop();
    state.set(u, 2);
  };
  for (const f of [...graph.keys()].sort()) if (!state.has(f)) visit(f);
  return cycles;
}

describe('import graph', () => {
  it('the cycle finder finds a cycle, including one through a re-export', () => {
    const g = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]);
    expect(findCycles(g)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    expect(findCycles(new Map([['a.ts', ['b.ts']], ['b.ts', []]]))).toEqual([]);
  });

  for (const dir of ['assembly', 'src']) {
    it(`${dir}/ has no import cycle`, () => {
      const graph = importGraph(dir);
      expect(graph.size).toBeGreaterThan(10);
      expect(findCycles(graph).map((c) => c.join(' -> '))).toEqual([]);
    });
  }
});

describe('kernel calls', () => {
  it('only src/ops/ and src/runtime/ reach the kernels (rt.k, x.rt.k, runtime().k, the Kernels type)', () => {
    const reach = /\b(?:rt|runtime\(\))\.k\b|\bimport\b[^;]*\bKernels\b[^;]*from/;
    const offenders = tsFiles('src')
      .filter((f) => !/^src\/(?:ops|runtime)\//.test(f) && f !== 'src/index.ts')
      .flatMap((f) => read(f).split('\n').map((line, i) => [f, i + 1, line] as const))
      .filter(([, , line]) => reach.test(line) && !/^\s*(?:\/\/|\*)/.test(line))
      .map(([f, n, line]) => `${f}:${n}: ${line.trim()}`);
    expect(offenders).toEqual([]);
    // The pattern itself sees the three spellings.
    for (const line of ['const k = rt.k;', 'x.rt.k.fill_f32(1)', 'runtime().k.math_cos_f64(x)']) expect(reach.test(line), line).toBe(true);
    expect(reach.test('this.k = k;')).toBe(false);
  });
});

/** A function of the module text: does it use SIMD, and which functions does it call. */
interface WatFunc { simd: boolean; calls: string[] }

/** The functions of asc's text output (build/vardrop.wat) and the function each export names. */
function parseWat(wat: string): { funcs: Map<string, WatFunc>; exports: Map<string, string> } {
  const funcs = new Map<string, WatFunc>();
  let cur: WatFunc | null = null;
  for (const line of wat.split('\n')) {
    const head = /^ \(func (\$\S+)/.exec(line);
    if (head) {
      cur = { simd: false, calls: [] };
      funcs.set(head[1], cur);
    } else if (/^ \(/.test(line)) {
      cur = null;
    } else if (cur) {
      if (/\b(?:v128|[fi](?:32x4|64x2|16x8|8x16))\./.test(line)) cur.simd = true;
      for (const c of line.matchAll(/\bcall (\$[^\s)]+)/g)) cur.calls.push(c[1]);
    }
  }
  const exports = new Map([...wat.matchAll(/\(export "(\w+)" \(func (\$[^\s)]+)\)\)/g)].map((m) => [m[1], m[2]] as [string, string]));
  return { funcs, exports };
}

/**
 * SIMD exports whose twin is not `<name>_scalar`, with the reason. Nothing else is exempt.
 */
const TWIN_EXCEPTIONS: Record<string, string> = {
  // Runs the module's start-up (static data), no kernel.
  _start: '',
  // A peak-throughput probe for the benchmarks: it computes nothing a twin could check.
  simd_peak_f32: '',
  // Four Threefry blocks at once; its twin is the one-block function, tested lane by lane.
  threefry2x32_20_x4: 'threefry2x32_20',
  // The inference-plan interpreter computes nothing itself: it calls the kernels its op records
  // name (each with its own twin); test/plan.test.ts checks its replays against the step-by-step pass.
  plan_run: '',
};

describe('kernel contract', () => {
  it('every exported kernel that uses SIMD (itself or through what it calls) has a scalar twin', () => {
    const { funcs, exports } = parseWat(read('build/vardrop.wat'));
    const memo = new Map<string, boolean>();
    const usesSimd = (f: string, seen = new Set<string>()): boolean => {
      if (memo.has(f)) return memo.get(f)!;
      if (seen.has(f)) return false;
      seen.add(f);
      const fn = funcs.get(f);
      const r = !!fn && (fn.simd || fn.calls.some((c) => usesSimd(c, seen)));
      memo.set(f, r);
      return r;
    };
    const simd = [...exports].filter(([, f]) => usesSimd(f)).map(([e]) => e);
    // The parse itself works: the big SIMD kernels are seen as such, their twins are not.
    expect(simd).toEqual(expect.arrayContaining(['gemm_f32_nn', 'conv2d_f32_nhwc', 'svd_prepare_f32', 'transpose_f32']));
    expect(simd).not.toContain('gemm_f32_nn_scalar');
    const missing = simd.filter((e) => !e.endsWith('_scalar')).filter((e) => {
      const twin = e in TWIN_EXCEPTIONS ? TWIN_EXCEPTIONS[e] : `${e}_scalar`;
      return twin !== '' && !exports.has(twin);
    });
    expect(missing).toEqual([]);
    // A twin is the oracle: it must not use SIMD itself.
    expect(simd.filter((e) => e.endsWith('_scalar'))).toEqual([]);
  });

  it(`${BINDINGS_PATH} is what the build generates from the kernels (and is committed)`, () => {
    const generated: string = bindingsFromDts(read('build/vardrop.d.ts'));
    expect(read(BINDINGS_PATH) === generated, `${BINDINGS_PATH} differs from the build's bindings: run npm run build:wasm`).toBe(true);
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 });
    let inGit = false;
    try {
      inGit = git('rev-parse', '--is-inside-work-tree').trim() === 'true';
    } catch {
      // Not a git checkout (an unpacked tarball): the file on disk is all there is to compare.
    }
    let committed: string | null = null;
    if (inGit) {
      try {
        committed = git('show', `HEAD:${BINDINGS_PATH}`);
      } catch {
        committed = '';
      }
    }
    if (committed !== null) expect(committed === generated, `${BINDINGS_PATH} changed: commit it with the kernel change`).toBe(true);
  });
});

describe('inference-only module (assembly/infer.ts)', () => {
  const full = new WebAssembly.Module(fs.readFileSync(path.join(ROOT, 'build/vardrop.wasm')));
  const infer = new WebAssembly.Module(fs.readFileSync(path.join(ROOT, 'build/vardrop-infer.wasm')));
  const names = (m: WebAssembly.Module) => WebAssembly.Module.exports(m).map((e) => e.name);

  it('exports a subset of the full module: forward kernels, no backward, optimizer, sampler, training noise or scalar twin', () => {
    const all = new Set(names(full));
    expect(names(infer).filter((n) => !all.has(n))).toEqual([]);
    expect(names(infer).filter((n) => /backward|grad|adam|sgd|sgld|sghmc|rmsprop|threefry|noise_(?!gauss_at)|kl_|lrt_(?!sample_f32)|sample_weights|_scalar$/.test(n))).toEqual([]);
    expect(names(infer).length).toBeLessThan(names(full).length / 3);
    // The module file itself is small (the full one carries every training kernel).
    expect(fs.statSync(path.join(ROOT, 'build/vardrop-infer.wasm')).size).toBeLessThan(fs.statSync(path.join(ROOT, 'build/vardrop.wasm')).size / 3);
  });

  it('infer-mc (vardrop/infer-mc) is the inference module plus the Monte-Carlo kernels, a subset of the full one', () => {
    const mc = new WebAssembly.Module(fs.readFileSync(path.join(ROOT, 'build/vardrop-infer-mc.wasm')));
    const all = new Set(names(full)), plain = new Set(names(infer));
    expect(names(mc).filter((n) => !all.has(n))).toEqual([]);
    expect(names(infer).filter((n) => !names(mc).includes(n))).toEqual([]);
    expect(names(mc).filter((n) => !plain.has(n)).sort()).toEqual(['entropy_rows_f32', 'exp_f32', 'lrt_draw_f32', 'lrt_sample_f32', 'lrt_spmm_f32_csr', 'mc_weight_sample_f32', 'noise_gauss_at_f32', 'square_f32']);
  });

  it('gives the full module\'s bits on every step kind and every kernel it exports', async () => {
    const { Runtime } = await import('../src/runtime/runtime.js');
    const { Tensor } = await import('../src/tensor.js');
    const { SparseModel } = await import('../src/inference/model.js');
    const { csrFromWeights, SparseMatrix, spmm, transpose } = await import('../src/ops/spmm.js');
    const { matmul } = await import('../src/ops/gemm.js');
    const { svdLogAlpha, svdPrepare } = await import('../src/ops/bayes.js');
    const { argmaxRows } = await import('../src/ops/softmax.js');
    const { firstNonFinite } = await import('../src/ops/elementwise.js');
    type StepSpec = import('../src/inference/steps.js').StepSpec;
    let s = 12345;
    const rnd = (n: number, zero = 0) => Float32Array.from({ length: n }, () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const u = s / 2 ** 32;
      return u < zero ? 0 : ((u - zero) / (1 - zero) - 0.5) * 2;
    });
    const conv = { kernel: [3, 3] as [number, number], stride: [1, 1] as [number, number], pad: [1, 1] as [number, number] };
    const specs: StepSpec[] = [
      { kind: 'conv', filters: 4, geometry: conv, weights: rnd(3 * 3 * 2 * 4), bias: rnd(4) },
      { kind: 'batchNorm', gamma: rnd(4), beta: rnd(4), mean: rnd(4), variance: rnd(4).map(Math.abs), eps: 1e-3 },
      { kind: 'activation', activation: 'elu', alpha: 0.7 },
      { kind: 'maxPool', size: [2, 2], stride: [2, 2], pad: [0, 0] },
      { kind: 'sparseConv', filters: 5, geometry: { kernel: [2, 2], stride: [1, 1], pad: [0, 0] }, csr: csrFromWeights(rnd(2 * 2 * 4 * 5, 0.6), 16, 5), bias: rnd(5) },
      { kind: 'activation', activation: 'sigmoid' },
      { kind: 'avgPool', size: [2, 2], stride: [1, 1], pad: [0, 0] },
      { kind: 'flatten' },
      { kind: 'dense', inputs: 20, units: 300, weights: rnd(20 * 300), bias: rnd(300) },
      { kind: 'activation', activation: 'relu' },
      { kind: 'dense', inputs: 300, units: 9, weights: rnd(300 * 9), bias: null, liveColumns: true },
      { kind: 'activation', activation: 'leakyRelu', alpha: 0.1 },
      { kind: 'sparse', inputs: 9, units: 7, csr: csrFromWeights(rnd(9 * 7, 0.5), 9, 7), bias: rnd(7) },
      { kind: 'activation', activation: 'tanh' },
      { kind: 'softmax' },
    ];
    const run = (rt: InstanceType<typeof Runtime>) => {
      s = 999; // the same inputs for both modules
      const out: number[] = [];
      const put = (a: Float32Array | Int32Array) => out.push(...new Uint32Array(a.buffer, a.byteOffset, a.length));
      const m = SparseModel.fromSteps([8, 8, 2], specs, { runtime: rt });
      for (const n of [1, 5]) put(m.predict(rnd(n * 128), { batchSize: 3 }));
      const t = (a: Float32Array, shape: number[]) => Tensor.from(a, shape, rt);
      const a = t(rnd(5 * 300), [5, 300]), b = t(rnd(300 * 7), [300, 7]), bt = t(rnd(7 * 300), [7, 300]), at = t(rnd(300 * 5), [300, 5]);
      put(matmul(a, b).view());
      put(matmul(a, bt, { transB: true }).view());
      put(matmul(at, b, { transA: true }).view());
      const mat = SparseMatrix.fromCsr(csrFromWeights(rnd(300 * 7, 0.7), 300, 7), rt);
      put(spmm(mat, transpose(a)).view());
      put(spmm(mat, t(rnd(300, 0.5), [300, 1])).view()); // one sample: spmv_f32_csc
      put(transpose(b).view());
      const th = t(rnd(999), [999]), ls = t(rnd(999).map((v) => v * 6 - 3), [999]), la = t(new Float32Array(999), [999]);
      put(svdLogAlpha(th, ls, la, { lo: -8, hi: 8 }).view());
      put(argmaxRows(a));
      const nf = t(rnd(77), [77]);
      nf.view()[61] = Infinity;
      out.push(firstNonFinite(nf));
      m.dispose();
      return out;
    };
    const got = run(Runtime.fromModule(infer)), want = run(Runtime.fromModule(full));
    expect(got.length).toBeGreaterThan(3000);
    expect(got).toEqual(want);
    // Dense Sparse VD files in this module (inference/dense-file.ts): log α, then θ where
    // log α < threshold (f32) else +0, which is svd_prepare_f32's mask in the full module.
    const rt = Runtime.fromModule(full);
    const th = Tensor.from(rnd(999), [999], rt), ls = Tensor.from(rnd(999).map((v) => v * 6 - 3), [999], rt);
    const eff = Tensor.zeros([999], rt), la = Tensor.zeros([999], rt);
    const kept = svdPrepare(th, ls, eff, null, la, 0.3, { lo: -8, hi: 8 });
    const la2 = svdLogAlpha(th, ls, Tensor.zeros([999], rt), { lo: -8, hi: 8 }).toArray(), thr = Math.fround(0.3), theta = th.toArray();
    const mask = theta.map((v, i) => (la2[i] < thr ? v : 0));
    expect(kept).toBeGreaterThan(100);
    expect(kept).toBeLessThan(900);
    expect(Array.from(new Uint32Array(mask.buffer))).toEqual(Array.from(new Uint32Array(eff.toArray().buffer)));
  });
});
