import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { ArgumentError, ModelFormatError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { fit } from '../src/train.js';
import { Conv2d, Dense } from '../src/layers/dense.js';
import { GroupSparseVDDense, SparseVDConv2d, SparseVDDense, VariationalDropoutDense } from '../src/layers/bayesian.js';
import { Activation, ReLU } from '../src/layers/activation.js';
import { Dropout } from '../src/layers/dropout.js';
import { AvgPool2d, MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { crc32, writeContainer } from '../src/io.js';
import { loadModel, saveModel } from '../src/model.js';
import { lcg, randomArray } from './util/gradcheck.js';

const rt = Runtime.createSync();

function labels(n: number, classes: number, seed: number): Uint8Array {
  const r = lcg(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * classes));
}

function mlp(): Sequential {
  return new Sequential({
    inputShape: [12], seed: 7, runtime: rt,
    layers: [new SparseVDDense({ units: 16 }), new ReLU(), new Dropout({ rate: 0.1 }), new GroupSparseVDDense({ units: 8 }), new Activation('tanh'),
      new VariationalDropoutDense({ units: 6, alpha: 'layer' }), new BatchNorm(), new ReLU(), new Dense({ units: 3 })],
  });
}

describe('model files: round trip', () => {
  it('CRC-32 of a known string', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('trained MLP (Sparse VD, group sparse, VD, batch norm): identical predictions bit for bit', () => {
    const model = mlp();
    const x = randomArray(40 * 12, lcg(1));
    fit(model, x, labels(40, 3, 2), { epochs: 2, batchSize: 10, klWeight: 0.1 });
    const bytes = saveModel(model);
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('VDRP');
    const back = loadModel(bytes, { runtime: rt });
    expect(back.layers.map((l) => l.config())).toEqual(model.layers.map((l) => l.config()));
    expect(Array.from(back.predict(x))).toEqual(Array.from(model.predict(x)));
    const bn = back.layers[6] as BatchNorm, bn0 = model.layers[6] as BatchNorm;
    expect(bn.runningStats()).toEqual(bn0.runningStats());
    // The same sampling stream too: MC predictions identical.
    expect(Array.from(back.predictMC(x, { samples: 3 }).mean)).toEqual(Array.from(model.predictMC(x, { samples: 3 }).mean));
    // Saving the loaded model gives the same bytes.
    expect(Array.from(saveModel(back))).toEqual(Array.from(bytes));
  });

  it('conv model and non-finite options (threshold Infinity) survive', () => {
    const model = new Sequential({
      inputShape: [8, 8, 2], seed: 3, runtime: rt,
      layers: [new SparseVDConv2d({ filters: 4, kernelSize: 3, padding: 'same', threshold: Infinity }), new ReLU(), new MaxPool2d({ poolSize: 2 }),
        new Conv2d({ filters: 3, kernelSize: 2, stride: 2 }), new AvgPool2d({ poolSize: 2 }), new Flatten(), new Dense({ units: 2 })],
    });
    const x = randomArray(3 * 128, lcg(3));
    fit(model, x, labels(3, 2, 4), { epochs: 1, batchSize: 3 });
    const back = loadModel(saveModel(model), { runtime: rt });
    expect((back.layers[0].config().options as { threshold: number }).threshold).toBe(Infinity);
    expect(Array.from(back.predict(x))).toEqual(Array.from(model.predict(x)));
  });
});

/* ------------------------------------------------------------------ hostile files */

function parse(bytes: Uint8Array): { header: Record<string, any>; payload: Uint8Array } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const hl = dv.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(24, 24 + hl)));
  return { header, payload: bytes.slice(Math.ceil((24 + hl) / 16) * 16) };
}

/** Rewrite a file after `edit`, with fresh checksums so the deeper checks are reached. */
function rewrap(bytes: Uint8Array, edit: (h: Record<string, any>, p: DataView) => void): Uint8Array {
  const { header, payload } = parse(bytes);
  edit(header, new DataView(payload.buffer));
  return writeContainer('VDRP', 1, header, payload);
}

describe('loadModel rejects hostile files with ModelFormatError', () => {
  const model = new Sequential({
    inputShape: [6], seed: 1, runtime: rt,
    layers: [new SparseVDDense({ units: 5 }), new ReLU(), new BatchNorm(), new Dense({ units: 2 })],
  });
  const good = saveModel(model);
  const x = randomArray(4 * 6, lcg(5));
  const expected = Array.from(model.predict(x));

  /** Throws ModelFormatError, frees everything it allocated and grows no memory. */
  function rejects(bytes: Uint8Array, field?: RegExp): ModelFormatError {
    const blocks = rt.heap.liveBlocks, mem = rt.heap.memoryBytes;
    let err: unknown;
    try {
      loadModel(bytes, { runtime: rt });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelFormatError);
    if (field) expect((err as ModelFormatError).argument).toMatch(field);
    expect(rt.heap.liveBlocks).toBe(blocks);
    expect(rt.heap.memoryBytes).toBe(mem);
    return err as ModelFormatError;
  }

  it('truncated at every point', () => {
    for (let n = 0; n < good.length; n++) rejects(good.subarray(0, n));
    rejects(new Uint8Array([...good, 0]), /payloadLength/);
  });

  it('flipped bytes anywhere (checksums)', () => {
    for (let i = 0; i < good.length; i += 3) {
      const b = good.slice();
      b[i] ^= 1 << (i % 8);
      rejects(b);
    }
  });

  it('bad magic, version, header length', () => {
    const m = good.slice();
    m.set([0x56, 0x44, 0x53, 0x50]); // "VDSP": a sparse-model file is not a model file
    expect(rejects(m, /magic/).received).toBe('"VDSP"');
    const v = good.slice();
    new DataView(v.buffer).setUint32(4, 99, true);
    expect(rejects(v, /version/).expected).toBe('one of 1');
    const h = good.slice();
    new DataView(h.buffer).setUint32(8, 0xffffffff, true);
    rejects(h, /headerLength/);
  });

  it('invalid JSON and invalid UTF-8 (with valid checksums)', () => {
    /** A container whose header bytes are `j`, with valid checksums. */
    const raw = (j: Uint8Array): Uint8Array => {
      const start = Math.ceil((24 + j.length) / 16) * 16;
      const f = new Uint8Array(start + 16);
      f.set([0x56, 0x44, 0x52, 0x50]);
      const dv = new DataView(f.buffer);
      dv.setUint32(4, 1, true);
      dv.setUint32(8, j.length, true);
      dv.setUint32(12, crc32(j), true);
      dv.setUint32(16, 16, true);
      dv.setUint32(20, crc32(f.subarray(start)), true);
      f.set(j, 24);
      return f;
    };
    expect(rejects(raw(new TextEncoder().encode('{"format": "vardrop-model", ')), /^header$/).expected).toBe('UTF-8 JSON');
    expect(rejects(raw(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /^header$/).expected).toBe('UTF-8 JSON');
    rejects(writeContainer('VDRP', 1, '[1, 2]', new Uint8Array(0)), /^header$/);
    rejects(writeContainer('VDRP', 1, null, new Uint8Array(0)), /^header$/);
  });

  const cases: [string, (h: Record<string, any>, p: DataView) => void, RegExp][] = [
    ['unknown layer class', (h) => (h.layers[1].className = 'Gelu'), /layers\[1\]\.className/],
    ['class name of the wrong type', (h) => (h.layers[1].className = 42), /className/],
    ['options of the wrong type', (h) => (h.layers[0].options.units = '5'), /layers\[0\]\.options/],
    ['options not an object', (h) => (h.layers[0].options = 5), /layers\[0\]\.options/],
    ['huge units in the config (rejected before allocating)', (h) => (h.layers[0].options.units = 1e8), /layers\[0\]\.options/],
    ['huge but plausible config, small params', (h) => (h.layers[0].options.units = 20000), /layers\[0\]\.options/],
    ['param shape claiming huge sizes', (h) => (h.layers[0].params[0].shape = [1e6, 1e6]), /params\[0\]\.shape/],
    ['param shape not matching the layer', (h) => (h.layers[0].params[0].shape = [5, 6]), /params\[0\]\.shape/],
    ['param name not matching', (h) => (h.layers[0].params[1].name = 'logAlpha'), /params\[1\]\.name/],
    ['missing parameter group', (h) => h.layers[3].params.pop(), /layers\[3\]\.params/],
    ['negative offset', (h) => (h.layers[0].params[0].offset = -16), /offset/],
    ['offset past the payload', (h) => (h.layers[0].params[0].offset = 1 << 20), /params\[0\]/],
    ['overlapping offsets', (h) => (h.layers[3].params[0].offset = h.layers[0].params[2].offset), /layers\[3\]\.params\[0\]\.offset/],
    ['fractional offset', (h) => (h.layers[0].params[0].offset = 0.5), /offset/],
    ['length not matching', (h) => (h.layers[0].params[2].length = 4), /length/],
    ['NaN weight', (h, p) => p.setFloat32(h.layers[0].params[0].offset + 8, NaN, true), /params\[0\]\[2\]/],
    ['Infinity weight', (h, p) => p.setFloat32(h.layers[3].params[1].offset, -Infinity, true), /layers\[3\]\.params\[1\]\[0\]/],
    ['negative running variance', (h, p) => p.setFloat32(h.layers[2].state[1].offset, -1, true), /state\[1\]\[0\]/],
    ['missing running stats', (h) => delete h.layers[2].state, /state/],
    ['state on a layer without state', (h) => (h.layers[0].state = []), /layers\[0\]\.state/],
    ['layers empty', (h) => (h.layers = []), /layers/],
    ['input shape wrong type', (h) => (h.inputShape = '6'), /inputShape/],
    ['input shape not matching the layers', (h) => (h.inputShape = [7]), /layers/],
    ['huge input shape', (h) => (h.inputShape = [1 << 20, 1 << 20]), /inputShape/],
    ['seed out of range', (h) => (h.seed = -1), /seed/],
    ['bad $number', (h) => (h.layers[0].options.threshold = { $number: 'NaN' }), /header/],
    ['wrong format', (h) => (h.format = 'vardrop-sparse'), /format/],
  ];
  it.each(cases)('%s', (_n, edit, field) => {
    rejects(rewrap(good, edit), field);
  });

  it('errors name the field, the expectation and what came; the runtime stays usable', () => {
    const e = rejects(rewrap(good, (h) => (h.layers[0].params[0].shape = [5, 6])));
    expect(e.argument).toBe('header.layers[0].params[0].shape');
    expect(e.expected).toContain('[6, 5]');
    expect(e.received).toBe('[5,6]');
    expect(() => loadModel('VDRP' as unknown as Uint8Array)).toThrow(ArgumentError);
    expect(Array.from(loadModel(good, { runtime: rt }).predict(x))).toEqual(expected);
  });
});
