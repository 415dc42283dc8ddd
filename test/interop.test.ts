import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { ArgumentError, ModelFormatError } from '../src/errors.js';
import { Sequential } from '../src/model.js';
import { fit } from '../src/train.js';
import { SparseVDConv2d, SparseVDDense } from '../src/layers/bayesian.js';
import { ReLU } from '../src/layers/activation.js';
import { MaxPool2d } from '../src/layers/pool.js';
import { Flatten } from '../src/layers/reshape.js';
import { BatchNorm } from '../src/layers/normalization.js';
import { exportWeights, importWeights, readSafetensors, writeSafetensors } from '../src/interop/safetensors.js';
import { ProtoWriter } from '../src/interop/protobuf.js';
import { lcg, randomArray } from './util/gradcheck.js';

const rt = Runtime.createSync();

function net(seed: number): Sequential {
  return new Sequential({
    inputShape: [6, 5, 2], seed, runtime: rt,
    layers: [new SparseVDConv2d({ filters: 3, kernelSize: [3, 2] }), new BatchNorm(), new ReLU(), new MaxPool2d({ poolSize: 2 }), new Flatten(),
      new SparseVDDense({ units: 4 }), new ReLU(), new SparseVDDense({ units: 3 })],
  });
}

function labels(n: number, seed: number): Uint8Array {
  const r = lcg(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 3));
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** A hand-built safetensors file: header JSON (not padded) then `body`. */
function file(header: unknown, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + body.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(body, 8 + h.length);
  return out;
}

describe('safetensors', () => {
  const trained = () => {
    const m = net(1);
    fit(m, randomArray(24 * 60, lcg(2)), labels(24, 3), { epochs: 2, batchSize: 8 });
    return m;
  };

  it('export → import into a fresh model: the same predictions bit for bit (both layouts, batch-norm statistics included)', () => {
    const a = trained();
    const x = randomArray(5 * 60, lcg(4));
    const want = a.predict(x);
    for (const layout of ['vardrop', 'torch'] as const) {
      const b = net(9);
      expect(bits(b.predict(x))).not.toEqual(bits(want));
      importWeights(b, exportWeights(a, { layout }), { layout });
      expect(bits(b.predict(x))).toEqual(bits(want));
      b.dispose();
    }
    a.dispose();
  });

  it('torch layout: Linear [out, in] and Conv2d [F, C, KH, KW], renamed', () => {
    const a = net(3);
    const names = { 'sparse_vd_conv2d_1/theta': 'conv.weight', 'sparse_vd_dense_1/theta': 'fc.weight' };
    const { tensors, metadata } = readSafetensors(exportWeights(a, { layout: 'torch', names }));
    expect(metadata).toEqual({ format: 'vardrop', layout: 'torch' });
    expect(tensors.get('conv.weight')!.shape).toEqual([3, 2, 3, 2]);
    expect(tensors.get('sparse_vd_conv2d_1/logSigma2')!.shape).toEqual([3, 2, 3, 2]);
    expect(tensors.get('sparse_vd_conv2d_1/bias')!.shape).toEqual([3]);
    expect(tensors.get('fc.weight')!.shape).toEqual([4, 12]);
    expect(tensors.get('batch_norm_1/runningVar')!.shape).toEqual([3]);
    // Element (f, c, y, x) of torch's tensor is element (y, x, c, f) of ours.
    const ours = a.layers[0].params()[0].value.toArray(), t = tensors.get('conv.weight')!.data;
    for (const [f, c, y, x] of [[0, 0, 0, 0], [2, 1, 2, 1], [1, 0, 1, 1]]) expect(t[((f * 2 + c) * 3 + y) * 2 + x]).toBe(ours[((y * 2 + x) * 2 + c) * 3 + f]);
    const fc = a.layers[5].params()[0].value.toArray(), tf = tensors.get('fc.weight')!.data;
    expect(tf[3 * 12 + 7]).toBe(fc[7 * 4 + 3]);
    a.dispose();
  });

  it('reads F16, BF16 and F64 as float32, and writes a header padded to 8 bytes', () => {
    const body = new Uint8Array(2 * 3 + 2 * 2 + 8);
    const dv = new DataView(body.buffer);
    [0x3c00, 0xc000, 0x0001].forEach((h, i) => dv.setUint16(2 * i, h, true)); // 1, −2, 2^-24
    [0x3f80, 0x4049].forEach((h, i) => dv.setUint16(6 + 2 * i, h, true)); // 1, 3.140625
    dv.setFloat64(10, 0.1, true);
    const f = file({ a: { dtype: 'F16', shape: [3], data_offsets: [0, 6] }, b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] }, c: { dtype: 'F64', shape: [], data_offsets: [10, 18] } }, body);
    const t = readSafetensors(f).tensors;
    expect([...t.get('a')!.data]).toEqual([1, -2, 2 ** -24]);
    expect([...t.get('b')!.data]).toEqual([1, 3.140625]);
    expect(t.get('c')!.data[0]).toBe(Math.fround(0.1));
    expect(t.get('c')!.shape).toEqual([]);
    const w = writeSafetensors({ z: { shape: [2, 1], data: new Float32Array([1.5, -0]) } });
    expect(new DataView(w.buffer).getUint32(0, true) % 8).toBe(0);
    const back = readSafetensors(w).tensors.get('z')!;
    expect(back.shape).toEqual([2, 1]);
    expect(bits(back.data)).toEqual(bits(new Float32Array([1.5, -0])));
  });

  it('a bad file or a mismatched model is a ModelFormatError naming the field, and the model keeps its weights', () => {
    const a = net(5);
    const before = a.params().map((p) => p.value.toArray());
    const good = exportWeights(a);
    const { tensors } = readSafetensors(good);
    const without = new Map(tensors);
    without.delete('sparse_vd_dense_2/bias');
    const extra = new Map(tensors).set('unused', { shape: [1], data: new Float32Array(1) });
    const misshapen = new Map(tensors).set('sparse_vd_dense_1/theta', { shape: [4, 12], data: tensors.get('sparse_vd_dense_1/theta')!.data });
    const negVar = new Map(tensors).set('batch_norm_1/runningVar', { shape: [3], data: new Float32Array([1, -1, 1]) });
    const cases: [Uint8Array, RegExp][] = [
      [writeSafetensors(without), /sparse_vd_dense_2\/bias/],
      [writeSafetensors(extra), /unused/],
      [writeSafetensors(misshapen), /theta.*shape/],
      [writeSafetensors(negVar), /runningVar/],
      [good.subarray(0, good.length - 4), /buffer|data_offsets/],
      [good.subarray(0, 5), /file/],
      [file('{"a": '), /header/],
      [file('[1, 2]'), /header/],
      [file({ a: { dtype: 'I8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /dtype/],
      [file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)), /data_offsets/],
      [file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /data_offsets/],
      [file({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /data_offsets/],
      [file({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, new Uint8Array(4)), /shape/],
      [file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array([0, 0, 0xc0, 0x7f])), /finite/],
      [file({ __metadata__: { k: 1 } }), /__metadata__/],
    ];
    for (const [bytes, field] of cases) {
      let err: unknown;
      try {
        importWeights(a, bytes);
      } catch (e) {
        err = e;
      }
      expect(err, String(field)).toBeInstanceOf(ModelFormatError);
      expect((err as ModelFormatError).argument + ' ' + (err as ModelFormatError).expected).toMatch(field);
    }
    // A 2^40-byte header length is refused before anything is read.
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setUint32(4, 256, true);
    expect(() => readSafetensors(huge)).toThrow(ModelFormatError);
    expect(() => importWeights(a, good, { layout: 'keras' as never })).toThrow(ArgumentError);
    expect(() => readSafetensors([1, 2] as never)).toThrow(ArgumentError);
    a.params().forEach((p, i) => expect(bits(p.value.toArray())).toEqual(bits(before[i])));
    importWeights(a, writeSafetensors(extra), { strict: false });
    a.dispose();
  });
});

describe('protobuf encoder', () => {
  it('varints, fixed32 floats and nested messages as the wire format specifies', () => {
    const inner = new ProtoWriter().int(1, 150);
    const m = new ProtoWriter().int(1, 1).int(2, 2 ** 35 + 3).float(3, 1).string(4, 'hi').message(5, inner).bytes();
    expect([...m]).toEqual([
      0x08, 0x01,
      0x10, 0x83, 0x80, 0x80, 0x80, 0x80, 0x01,
      0x1d, 0x00, 0x00, 0x80, 0x3f,
      0x22, 0x02, 0x68, 0x69,
      0x2a, 0x03, 0x08, 0x96, 0x01,
    ]);
    expect(() => new ProtoWriter().int(1, -1)).toThrow(RangeError);
  });
});
