import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { ArgumentError, NonFiniteError, OutOfMemoryError, ShapeError } from '../src/errors.js';
import { Tensor } from '../src/tensor.js';

describe('heap', () => {
  it('hands out 16-byte aligned, non-overlapping blocks and reuses freed ones', () => {
    const rt = Runtime.createSync();
    const a = rt.heap.alloc(10), b = rt.heap.alloc(33), c = rt.heap.alloc(16);
    for (const p of [a, b, c]) expect(p % 16).toBe(0);
    expect(b).toBeGreaterThanOrEqual(a + 16);
    expect(c).toBeGreaterThanOrEqual(b + 48);
    rt.heap.free(b);
    expect(rt.heap.alloc(40)).toBe(b);
    expect(() => rt.heap.free(12345)).toThrow(ArgumentError);
  });

  it('does not grow without bound over repeated alloc/free cycles', () => {
    const rt = Runtime.createSync();
    for (let i = 0; i < 200; i++) {
      const t = Tensor.zeros([257, 301], rt);
      const u = Tensor.zeros([1 + (i % 7), 1000], rt);
      t.dispose(); u.dispose();
    }
    const after = rt.memory.buffer.byteLength;
    for (let i = 0; i < 200; i++) {
      const t = Tensor.zeros([257, 301], rt);
      const u = Tensor.zeros([1 + (i % 7), 1000], rt);
      t.dispose(); u.dispose();
    }
    expect(rt.memory.buffer.byteLength).toBe(after);
    expect(rt.heap.liveBlocks).toBe(0);
  });

  it('refreshes views after memory growth', () => {
    const rt = Runtime.createSync();
    const t = Tensor.from(new Float32Array([1, 2, 3]), [3], rt);
    const before = rt.memory.buffer.byteLength;
    const big = rt.heap.alloc(8 << 20);
    expect(rt.memory.buffer.byteLength).toBeGreaterThan(before);
    expect(Array.from(t.toArray())).toEqual([1, 2, 3]);
    rt.heap.free(big);
  });

  it('rejects impossible sizes with a typed error and stays usable', () => {
    const rt = Runtime.createSync();
    expect(() => rt.heap.alloc(2 ** 33)).toThrow(OutOfMemoryError);
    expect(() => rt.heap.alloc(-1)).toThrow(ArgumentError);
    expect(() => rt.heap.alloc(NaN)).toThrow(ArgumentError);
    expect(() => Tensor.zeros([1 << 16, 1 << 16], rt)).toThrow(ShapeError);
    const t = Tensor.from([1, 2], [2], rt);
    expect(Array.from(t.toArray())).toEqual([1, 2]);
  });
});

describe('Tensor', () => {
  it('checks types, lengths and finiteness on creation', () => {
    const rt = Runtime.createSync();
    expect(() => Tensor.from(new Float64Array(4) as unknown as Float32Array, [4], rt)).toThrow(ArgumentError);
    expect(() => Tensor.from(new Float32Array(5), [2, 2], rt)).toThrow(ShapeError);
    expect(() => Tensor.from(new Float32Array([1, NaN]), [2], rt)).toThrow(NonFiniteError);
    expect(() => Tensor.from(new Float32Array([1, Infinity]), [2], rt)).toThrow(/finite/);
    expect(() => Tensor.zeros([2, -1], rt)).toThrow(ShapeError);
    expect(() => Tensor.zeros([2.5], rt)).toThrow(ShapeError);
    const t = Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2], rt);
    expect(t.reshape([4]).shape).toEqual([4]);
    expect(() => t.reshape([3])).toThrow(ShapeError);
    t.dispose();
    expect(() => t.toArray()).toThrow(ArgumentError);
  });
});
