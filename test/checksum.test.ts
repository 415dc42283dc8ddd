import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { crc32 } from '../src/container.js';
import { crc32Wasm } from '../src/ops/checksum.js';
import { KernelError } from '../src/errors.js';
import { lcg } from './util/gradcheck.js';

// The wasm CRC-32 (assembly/checksum.ts through ops/checksum.ts) against the container's
// JavaScript one and the standard check value, over sizes around the 64 KiB chunk and odd tails.
const rt = Runtime.createSync();

describe('crc32_u8 (assembly/checksum.ts)', () => {
  it('gives the standard check value and the JavaScript CRC-32 over edge sizes, leaving the heap as it was', () => {
    const check = new TextEncoder().encode('123456789');
    expect(crc32Wasm(rt, check)).toBe(0xcbf43926);
    expect(crc32(check)).toBe(0xcbf43926);
    const r = lcg(12);
    const live = rt.heap.liveBytes, blocks = rt.heap.liveBlocks;
    for (const n of [0, 1, 2, 3, 15, 16, 17, 255, 256, 257, 4095, 65535, 65536, 65537, 3 * 65536 + 5]) {
      const b = Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
      expect(crc32Wasm(rt, b), `n = ${n}`).toBe(crc32(b));
      // A subarray at an odd offset reads the same bytes.
      if (n > 1) expect(crc32Wasm(rt, b.subarray(1)), `n = ${n}, offset 1`).toBe(crc32(b.subarray(1)));
    }
    expect(rt.heap.liveBytes).toBe(live);
    expect(rt.heap.liveBlocks).toBe(blocks);
  });

  it('continues a checksum across calls and rejects a negative length with KernelError', () => {
    const b = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff);
    const p = rt.heap.alloc(b.length);
    rt.u8.set(b, p);
    const head = rt.k.crc32_u8(p, 300, 0);
    expect(rt.k.crc32_u8(p + 300, 700, head) >>> 0).toBe(crc32(b));
    expect(() => rt.k.crc32_u8(p, -1, 0)).toThrow(KernelError);
    rt.heap.free(p);
  });
});
