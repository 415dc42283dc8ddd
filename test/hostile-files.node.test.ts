// Hostile model files: ≥ 10 000 mutated, truncated, extended and crafted files of both kinds
// (VDRP models, VDSP pruned models, with and without weight variances, in the compact coding of
// version 4 and the full one of versions 2 and 3), seeded. Each must either load correctly (then predict
// without throwing anything but a typed error) or throw a ModelFormatError; wasm memory in use
// after a load is bounded by a multiple of the file size, and a refused file leaves none behind.
// Node only: the readers are plain TypeScript (the wasm side is covered by the load-and-predict
// of each accepted file), and one run of ten thousand loads is what the CI budget affords.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { ModelFormatError, VardropError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import { GroupSparseVDDense, SparseVDConv2d, SparseVDDense, VariationalDropoutDense } from '../src/layers/bayesian.js';
import { Activation, ReLU, Softmax } from '../src/layers/activation.js';
import { Dropout } from '../src/layers/dropout.js';
import { AvgPool2d, MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { SparseVDGRU, SparseVDLSTM } from '../src/layers/recurrent.js';
import { SparseVDEmbedding } from '../src/layers/embedding.js';
import { writeContainer } from '../src/io.js';
import { loadModel, saveModel } from '../src/model.js';
import { SparseModel, prune } from '../src/sparse.js';
import { lcg, randomArray } from './util/gradcheck.js';

const rt = Runtime.createSync();

/** Wasm bytes a loaded model may hold per file byte (weights, their gradients, masks, copies), plus slack. */
const BYTES_PER_FILE_BYTE = 8;
const SLACK = 1 << 16;

function corpus(): { kind: 'model' | 'sparse'; bytes: Uint8Array }[] {
  const mlp = new Sequential({
    inputShape: [10], seed: 1, runtime: rt,
    layers: [new SparseVDDense({ units: 12 }), new ReLU(), new Dropout({ rate: 0.2 }), new GroupSparseVDDense({ units: 8 }), new Activation('tanh'),
      new VariationalDropoutDense({ units: 6, alpha: 'unit', threshold: 0 }), new BatchNorm(), new Dense({ units: 3 }), new Softmax()],
  });
  const cnn = new Sequential({
    inputShape: [7, 6, 2], seed: 2, runtime: rt,
    layers: [new SparseVDConv2d({ filters: 3, kernelSize: 3, padding: 1 }), new BatchNorm(), new ReLU(), new MaxPool2d({ poolSize: 2 }),
      new Conv2d({ filters: 2, kernelSize: 2 }), new AvgPool2d({ poolSize: 2, stride: 1, padding: 1 }), new Flatten(), new SparseVDDense({ units: 4 })],
  });
  const rnn = new Sequential({
    inputShape: [5], seed: 3, runtime: rt,
    layers: [new SparseVDEmbedding({ inputDim: 9, outputDim: 4, maskZero: true }), new SparseVDLSTM({ units: 5, masking: true, returnSequences: true }),
      new SparseVDGRU({ units: 4, masking: true }), new SparseVDDense({ units: 2 })],
  });
  // Make some weights drop so the pruned files hold sparse steps.
  for (const m of [mlp, cnn, rnn]) for (const p of m.params()) if (p.name.endsWith('logSigma2')) p.value.set(randomArray(p.value.size, lcg(p.value.size), -12, 2));
  const out: { kind: 'model' | 'sparse'; bytes: Uint8Array }[] = [];
  for (const m of [mlp, cnn, rnn]) {
    out.push({ kind: 'model', bytes: saveModel(m) });
    for (const sparseBelow of [1, 0]) {
      for (const uncertainty of [false, true]) { // version 3: the weight variances section
        const s = prune(m, { sparseBelow, uncertainty });
        out.push({ kind: 'sparse', bytes: s.save() }, { kind: 'sparse', bytes: s.saveLegacy() }); // versions 4 and 2 or 3
        s.dispose();
      }
    }
    m.dispose();
  }
  return out;
}

/** Container parts of a file written by writeContainer: magic, version, header JSON, payload. */
function parts(b: Uint8Array): { magic: string; version: number; header: unknown; payload: Uint8Array } {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const hLen = dv.getUint32(8, true), pLen = dv.getUint32(16, true);
  const start = Math.ceil((24 + hLen) / 16) * 16;
  return {
    magic: String.fromCharCode(...b.subarray(0, 4)), version: dv.getUint32(4, true),
    header: JSON.parse(new TextDecoder().decode(b.subarray(24, 24 + hLen))), payload: b.slice(start, start + pLen),
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every container (object or array) in `v` with the keys of its children. */
function nodes(v: Json, acc: { node: Json[] | Record<string, Json>; key: string | number }[] = []): typeof acc {
  if (Array.isArray(v)) v.forEach((c, i) => (acc.push({ node: v, key: i }), nodes(c, acc)));
  else if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) acc.push({ node: v, key: k }), nodes(c, acc);
  return acc;
}

const WEIRD: Json[] = [-1, 0, 1, 2, 3, 15, 16, 17, 255, 65535, 65536, 65537, 2 ** 28, 2 ** 31, 2 ** 32, 2 ** 53, 1e300, -1e300, 0.5, -0.0001,
  '', 'x', 'sparse', 'dense', 'conv', 'sparseConv', 'batchNorm', 'softmax', 'flatten', 'maxPool', 'Dense', 'Conv2d', 'BatchNorm', 'SparseVDDense',
  'relu', 'same', 'embedding', 'recurrent', 'lstm', 'gru', 'SparseVDLSTM', null, true, false, [], [0], [1, 1], [0, 0], [2 ** 20, 2 ** 20], [1, 2, 3], {}, { offset: 0, length: 0 }, { offset: 16, length: 1 },
  { $number: 'Infinity' }, { $number: 'NaN' }];

/** One crafted mutation of the header tree (valid JSON, re-checksummed by the caller). */
function mutateHeader(h: Json, r: () => number): Json {
  const all = nodes(h);
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
  const edits = 1 + Math.floor(r() * 3);
  for (let e = 0; e < edits && all.length; e++) {
    const { node, key } = pick(all);
    const op = r();
    const n = node as Record<string | number, Json>;
    if (op < 0.5) n[key] = pick(WEIRD);
    else if (op < 0.65) {
      if (Array.isArray(node)) node.splice(key as number, 1);
      else delete n[key];
    } else if (op < 0.75 && Array.isArray(node)) node.splice(key as number, 0, node[key as number]);
    else if (op < 0.85) { // a copy of a value from elsewhere in the file
      const o = pick(all);
      n[key] = JSON.parse(JSON.stringify((o.node as Record<string | number, Json>)[o.key] ?? null));
    }
    else if (typeof n[key] === 'number') n[key] = (n[key] as number) + pick([-16, -1, 1, 16, 4096]);
    else n[key] = pick(WEIRD);
  }
  return h;
}

function load(kind: 'model' | 'sparse', bytes: Uint8Array): Sequential | SparseModel {
  return kind === 'model' ? loadModel(bytes, { runtime: rt }) : SparseModel.load(bytes, { runtime: rt });
}

describe('hostile model files', () => {
  it('10 000+ mutated, truncated, extended and crafted files: a correct load or a ModelFormatError, memory bounded by the file', () => {
    const base = corpus();
    const r = lcg(20261201);
    const heap = rt.heap;
    // Predicting may grow the runtime's one scratch block (rt.workspace): count blocks, and
    // re-read the byte baseline after each predict.
    for (const { kind, bytes } of base) {
      const m = load(kind, bytes);
      m.predict(new Float32Array(m.inputShape.reduce((a, b) => a * b, 1)));
      m.dispose();
    }
    const blocks0 = heap.liveBlocks;
    let live0 = heap.liveBytes;
    const counts = { loaded: 0, refused: 0 };
    const fieldsSeen = new Set<string>();
    let compactRefusals = 0;
    const N = 10_240;
    for (let t = 0; t < N; t++) {
      const { kind, bytes: orig } = base[t % base.length];
      let bytes: Uint8Array;
      const mode = t % 8;
      if (mode === 0) { // flip 1–4 bytes anywhere
        bytes = orig.slice();
        for (let k = 1 + Math.floor(r() * 4); k > 0; k--) bytes[Math.floor(r() * bytes.length)] ^= 1 + Math.floor(r() * 255);
      } else if (mode === 1) { // truncate
        bytes = orig.slice(0, Math.floor(r() * orig.length));
      } else if (mode === 2) { // extend with junk or zeros
        bytes = new Uint8Array(orig.length + 1 + Math.floor(r() * 64));
        bytes.set(orig);
        if (r() < 0.5) for (let i = orig.length; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
      } else if (mode < 6) { // crafted header, valid checksums
        const p = parts(orig);
        bytes = writeContainer(p.magic, p.version, mutateHeader(p.header as Json, r), p.payload);
      } else if (mode === 6) { // payload words rewritten (NaN, huge indices, row pointers out of order), valid checksums
        const p = parts(orig);
        const dv = new DataView(p.payload.buffer);
        for (let k = 1 + Math.floor(r() * 3); k > 0 && p.payload.length >= 4; k--) {
          const at = 4 * Math.floor(r() * (p.payload.length / 4));
          dv.setUint32(at, [0x7fc00000, 0x7f800000, 0xffffffff, 0x10000, 1 << 31, Math.floor(r() * 2 ** 32)][Math.floor(r() * 6)], true);
        }
        bytes = writeContainer(p.magic, p.version, p.header, p.payload);
      } else { // header lengths and payload length rewritten (checksums left)
        bytes = orig.slice();
        const dv = new DataView(bytes.buffer);
        dv.setUint32([4, 8, 16][Math.floor(r() * 3)], [0, 1, 2, 0xffffffff, 2 ** 31, orig.length, orig.length - 24][Math.floor(r() * 7)], true);
      }
      let m: Sequential | SparseModel | null = null;
      try {
        m = load(kind, bytes);
      } catch (e) {
        if (!(e instanceof ModelFormatError)) throw new Error(`file ${t} (mode ${mode}, ${kind}): ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
        fieldsSeen.add(e.argument.replace(/\[\d+\]/g, '[]').split('.').slice(0, 3).join('.'));
        if (/\.(index|kept)\b/.test(e.argument)) compactRefusals++;
        counts.refused++;
        expect(heap.liveBytes, `file ${t}: wasm bytes left after a refused file`).toBe(live0);
        continue;
      }
      counts.loaded++;
      expect(heap.liveBytes - live0, `file ${t}: wasm bytes held after loading ${bytes.length} bytes`).toBeLessThanOrEqual(BYTES_PER_FILE_BYTE * bytes.length + SLACK);
      const per = m.inputShape.reduce((a, b) => a * b, 1);
      if (per <= 4096) try {
        const xs = randomArray(2 * per, r);
        const y = m.predict(xs);
        expect(y.length).toBe(2 * m.outputShape.reduce((a, b) => a * b, 1));
        if (m instanceof SparseModel && m.uncertainty) expect(m.predictMC(xs, { samples: 2 }).mean.length).toBe(y.length);
      } catch (e) {
        if (!(e instanceof VardropError)) throw new Error(`file ${t}: predict after load threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      }
      m.dispose();
      expect(heap.liveBlocks, `file ${t}: wasm blocks left after dispose`).toBe(blocks0);
      live0 = heap.liveBytes;
    }
    expect(counts.loaded + counts.refused).toBe(N);
    // Most files are refused, for many different fields; some crafted ones still load (a harmless edit).
    expect(counts.refused).toBeGreaterThan(N * 0.7);
    expect(counts.loaded).toBeGreaterThan(0);
    expect(fieldsSeen.size).toBeGreaterThan(30);
    expect([...fieldsSeen].filter((f) => f.endsWith('.mc')).length, 'refusals in the variances section').toBeGreaterThan(0);
    expect(compactRefusals, 'refusals of compact entries (kept positions and their index bytes)').toBeGreaterThan(50);
  });
});
