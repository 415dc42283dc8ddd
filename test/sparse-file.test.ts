import { describe, expect, it, vi } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { ModelFormatError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { Dense } from '../src/layers/dense.js';
import { SparseVDConv2d, SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { Flatten } from '../src/layers/reshape.js';
import { SparseModel, prune } from '../src/sparse.js';
import { writeContainer } from '../src/io.js';
import { SparseMatrix } from '../src/ops/spmm.js';
import { load as inferLoad } from '../src/infer.js';
import type { StepSpec } from '../src/inference/steps.js';
import { decodeGaps, encodeGaps } from '../src/inference/kept.js';
import { lcg, randomArray } from './util/gradcheck.js';

// Sparse model files, version 4 (src/inference/kept.ts): CSRs and dense-stored matrices as their
// kept entries (f32 values, byte-gap positions). The same bits as the full encoding of versions
// 2 and 3, which still load; smaller; and every malformed index refused before allocating.
const rt = Runtime.createSync();

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** The container's parts, for rewriting a header and re-checksumming. */
function parts(b: Uint8Array) {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const hLen = dv.getUint32(8, true), pLen = dv.getUint32(16, true), start = Math.ceil((24 + hLen) / 16) * 16;
  return { version: dv.getUint32(4, true), header: JSON.parse(new TextDecoder().decode(b.subarray(24, 24 + hLen))), payload: b.slice(start, start + pLen) };
}

function dropSome(m: Sequential, seed: number): void {
  for (const p of m.params()) if (p.name.endsWith('logSigma2')) p.value.set(randomArray(p.value.size, lcg(seed + p.value.size), -14, 3));
}

describe('gap coding of kept positions', () => {
  it('round-trips gaps around the one-byte limit, long varint gaps and the first and last positions', () => {
    const total = 2 ** 40;
    const cases: number[][] = [[], [0], [total - 1], [0, 1, 2], [254], [255], [256], [0, 255, 511, 767], [3, 3 + 256 + 127, 3 + 2 * 256 + 128 * 128 + 255],
      [2 ** 21, 2 ** 35, total - 1], Array.from({ length: 300 }, (_, i) => i * 7)];
    for (const pos of cases) {
      const bytes = encodeGaps(pos, pos.length);
      expect(Array.from(decodeGaps('index', bytes, pos.length, total)), JSON.stringify(pos.slice(0, 5))).toEqual(pos);
    }
    expect(encodeGaps([254], 1)).toEqual(new Uint8Array([254]));
    expect(encodeGaps([255], 1)).toEqual(new Uint8Array([255, 0]));
    expect(encodeGaps([255 + 128], 1)).toEqual(new Uint8Array([255, 128, 1]));
  });

  it('refuses a truncated or overlong varint, bytes left over, too few bytes and positions past the end', () => {
    const bad = (bytes: number[], nnz: number, total: number) => expect(() => decodeGaps('index', new Uint8Array(bytes), nnz, total)).toThrow(ModelFormatError);
    bad([255], 1, 1000);
    bad([255, 128], 1, 1e6);
    bad([255, 128, 128, 128, 128, 128, 128, 128, 128, 1], 1, 2 ** 53);
    bad([1, 2], 1, 100);
    bad([1], 2, 100);
    bad([99], 1, 100 - 1 + 1 - 1);
    bad([10, 10], 2, 21);
    expect(Array.from(decodeGaps('index', new Uint8Array([10, 9]), 2, 21))).toEqual([10, 20]);
  });
});

describe('sparse model files, version 4', () => {
  const mlp = new Sequential({ inputShape: [40], seed: 4, runtime: rt, layers: [new SparseVDDense({ units: 30 }), new ReLU(), new SparseVDDense({ units: 12 }), new ReLU(), new SparseVDDense({ units: 3 })] });
  const cnn = new Sequential({ inputShape: [8, 8, 2], seed: 5, runtime: rt, layers: [new SparseVDConv2d({ filters: 4, kernelSize: 3 }), new ReLU(), new Flatten(), new SparseVDDense({ units: 3 })] });
  dropSome(mlp, 1);
  dropSome(cnn, 2);

  it('loads the same bits as the full encoding (versions 2 and 3), sparse and dense steps, with and without variances, and is smaller', () => {
    for (const [m, per] of [[mlp, 40], [cnn, 128]] as const) {
      const x = randomArray(5 * per, lcg(per));
      for (const sparseBelow of [1, 0, 0.3]) {
        for (const uncertainty of [false, true]) {
          const s = prune(m, { sparseBelow, uncertainty });
          const v4 = s.save(), old = s.saveLegacy();
          expect(parts(v4).version).toBe(4);
          expect(parts(old).version).toBe(uncertainty ? 3 : 2);
          expect(v4.length, `sparseBelow ${sparseBelow}`).toBeLessThan(old.length);
          const a = SparseModel.load(v4, { runtime: rt }), b = SparseModel.load(old, { runtime: rt });
          expect(bits(a.predict(x))).toEqual(bits(s.predict(x)));
          expect(bits(b.predict(x))).toEqual(bits(s.predict(x)));
          expect(a.summary()).toEqual(s.summary());
          if (uncertainty) {
            const want = s.predictMC(x, { samples: 3, seed: 9 });
            expect(bits(a.predictMC(x, { samples: 3, seed: 9 }).mean)).toEqual(bits(want.mean));
            expect(bits(b.predictMC(x, { samples: 3, seed: 9 }).mean)).toEqual(bits(want.mean));
          }
          // Saving what was loaded gives the same file.
          expect(Array.from(a.save())).toEqual(Array.from(v4));
          for (const t of [a, b, s]) t.dispose();
        }
      }
    }
  });

  it('keeps −0 weights and unsorted CSR columns exactly; dense matrices sparser than 1/8 stay in full', () => {
    const w = new Float32Array(6 * 4);
    w[1] = -0; w[22] = -2;
    const wDense = randomArray(6 * 4, lcg(3)).map((v, i) => (i % 3 === 0 ? 0 : v));
    const specs: StepSpec[] = [
      { kind: 'dense', inputs: 6, units: 4, weights: w, bias: null },
      { kind: 'activation', activation: 'relu' },
      { kind: 'sparse', inputs: 4, units: 3, bias: new Float32Array([0.5, -0.25, 1]), csr: { rows: 3, cols: 4, rowPtr: new Uint32Array([0, 2, 2, 4]), colIdx: new Uint16Array([3, 1, 0, 2]), values: new Float32Array([1, -1, 0.5, 2]) } },
      { kind: 'dense', inputs: 3, units: 8, weights: wDense.subarray(0, 24), bias: null },
    ];
    const m = SparseModel.fromSteps([6], specs, { runtime: rt });
    const file = m.save();
    const h = parts(file).header;
    expect(h.steps[0].weights, '2 of 24 kept: below 1/8, in full').toBeDefined();
    expect(h.steps[2].csr.colIdx, 'unsorted columns: the full CSR').toBeDefined();
    expect(h.steps[3].kept, 'two thirds kept: compact').toBeDefined();
    const back = SparseModel.load(file, { runtime: rt });
    const weightsOf = (sm: SparseModel) => (sm as unknown as { steps: { spec: { weights: Float32Array } }[] }).steps[0].spec.weights;
    expect(bits(weightsOf(back))).toEqual(bits(w));
    const x = randomArray(12, lcg(8));
    expect(bits(back.predict(x))).toEqual(bits(m.predict(x)));
    // −0 among compactly coded weights survives too.
    const wz = Float32Array.from({ length: 24 }, (_, i) => [0, -0, i][i % 3]);
    const z = SparseModel.fromSteps([6], [{ kind: 'dense', inputs: 6, units: 4, weights: wz, bias: null }], { runtime: rt });
    const zf = z.save();
    expect(parts(zf).header.steps[0].kept).toBeDefined();
    const zb = SparseModel.load(zf, { runtime: rt });
    expect(bits(weightsOf(zb))).toEqual(bits(wz));
    for (const t of [m, back, z, zb]) t.dispose();
  });

  it('refuses malformed compact entries before allocating', () => {
    const files = [true, false].map((sp) => {
      const s = prune(mlp, { sparseBelow: sp ? 1 : 0 });
      const f = s.save();
      s.dispose();
      return parts(f);
    });
    const sparse = files[0].header.steps.findIndex((st: { kind: string }) => st.kind === 'sparse');
    const dense = files[1].header.steps.findIndex((st: { kind: string; kept?: unknown }) => st.kind === 'dense' && st.kept);
    expect(sparse).toBeGreaterThanOrEqual(0);
    expect(dense).toBeGreaterThanOrEqual(0);
    const edits: [string, 0 | 1, (h: any, p: Uint8Array) => void][] = [
      ['csr nnz + 1', 0, (h) => (h.steps[sparse].csr.nnz += 1)],
      ['csr nnz huge', 0, (h) => (h.steps[sparse].csr.nnz = 2 ** 40)],
      ['csr index shorter than nnz', 0, (h) => (h.steps[sparse].csr.index.length = 1)],
      ['csr index past the payload', 0, (h) => (h.steps[sparse].csr.index.length = 1 << 30)],
      ['csr last gap past the matrix', 0, (h, p) => (p[h.steps[sparse].csr.index.offset + h.steps[sparse].csr.index.length - 1] = 254)],
      ['dense kept nnz + 1', 1, (h) => (h.steps[dense].kept.nnz += 1)],
      ['dense kept values not a segment', 1, (h) => (h.steps[dense].kept.values = 3)],
      ['dense kept beside weights', 1, (h) => (h.steps[dense].weights = h.steps[dense].kept.values)],
      ['kept in a version 3 file', 1, (h) => (h.$version = 3)],
      ['compact csr in a version 3 file', 0, (h) => (h.$version = 3)],
    ];
    for (const [name, which, edit] of edits) {
      const h = JSON.parse(JSON.stringify(files[which].header)), p = files[which].payload.slice();
      edit(h, p);
      const version = h.$version ?? 4;
      delete h.$version;
      const live = rt.heap.liveBytes;
      expect(() => SparseModel.load(writeContainer('VDSP', version, h, p), { runtime: rt }), name).toThrow(ModelFormatError);
      expect(rt.heap.liveBytes, name).toBe(live);
    }
    for (const f of files) expect(SparseModel.load(writeContainer('VDSP', 4, f.header, f.payload), { runtime: rt }).predict(new Float32Array(40)).length).toBe(3);
  });

  it('a pruned Dense model at 20% kept stores under 40% of its full encoding, and cannot claim a larger matrix', () => {
    const d = new Sequential({ inputShape: [64], seed: 1, runtime: rt, layers: [new Dense({ units: 64 })] });
    const w = d.params()[0].value.toArray().map((v, i) => (i % 5 === 0 ? v : 0));
    d.params()[0].value.set(w);
    const s = prune(d, { sparseBelow: 0 });
    expect(s.save().length).toBeLessThan(s.saveLegacy().length / 2.5);
    // The same kept entries claiming a matrix 256 times larger: refused by the expansion budget.
    const { header, payload } = parts(s.save());
    expect(header.steps[0].kept).toBeDefined();
    header.inputShape = [64 * 256];
    header.steps[0].inputs = 64 * 256;
    const live = rt.heap.liveBytes;
    let err: unknown;
    try {
      SparseModel.load(writeContainer('VDSP', 4, header, payload), { runtime: rt });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as ModelFormatError).argument).toBe('header.steps[0].kept');
    expect(rt.heap.liveBytes).toBe(live);
    for (const t of [s, d]) t.dispose();
  });

  it('checks a CSR once: steps built in memory through checkCsr again when copied in, a file\'s (checked as read) copied unchecked', () => {
    const specs = (): StepSpec[] => [
      { kind: 'sparse', inputs: 4, units: 3, bias: null, csr: { rows: 3, cols: 4, rowPtr: new Uint32Array([0, 2, 2, 4]), colIdx: new Uint16Array([3, 1, 0, 2]), values: new Float32Array([1, -1, 0.5, 2]) } },
      { kind: 'activation', activation: 'relu' },
    ];
    const checked = vi.spyOn(SparseMatrix, 'fromCsr'), unchecked = vi.spyOn(SparseMatrix, 'fromCheckedCsr');
    try {
      const m = SparseModel.fromSteps([4], specs(), { runtime: rt });
      expect([checked.mock.calls.length, unchecked.mock.calls.length], 'fromSteps: checked').toEqual([1, 0]);
      const file = m.save();
      checked.mockClear();
      const back = SparseModel.load(file, { runtime: rt });
      const edge = inferLoad(file, { runtime: rt });
      expect([checked.mock.calls.length, unchecked.mock.calls.length], 'load, infer load: unchecked').toEqual([0, 2]);
      const x = new Float32Array([1, -2, 3, 0.5]);
      for (const t of [back, edge]) expect(bits(t.predict(x))).toEqual(bits(m.predict(x)));
      for (const t of [m, back, edge]) t.dispose();
    } finally {
      checked.mockRestore();
      unchecked.mockRestore();
    }
    // A bad CSR built in memory is still refused (by checkSpec, before anything is allocated).
    const bad = specs();
    (bad[0] as { csr: { colIdx: Uint16Array } }).csr.colIdx[0] = 4;
    const live = rt.heap.liveBytes;
    expect(() => SparseModel.fromSteps([4], bad, { runtime: rt })).toThrow(/steps\[0\]\.csr/);
    expect(rt.heap.liveBytes).toBe(live);
  });
});
