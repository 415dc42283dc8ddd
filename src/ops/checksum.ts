import type { Runtime } from '../runtime/runtime.js';

/** Bytes checksummed per kernel call (the size of the temporary block). */
const CHUNK = 1 << 16;

/**
 * CRC-32 (IEEE 802.3, as zlib) of `bytes`, computed by the wasm kernel `crc32_u8`
 * (assembly/checksum.ts): the bytes pass through one temporary block of at most 64 KiB in `rt`'s
 * memory, freed before returning, so the heap is as it was. The same value as the container's
 * JavaScript `crc32`, without a cold interpreter loop over every byte.
 * @param bytes Any bytes (a model file's header or payload).
 */
export function crc32Wasm(rt: Runtime, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n === 0) return 0;
  const block = Math.min(n, CHUNK);
  const p = rt.heap.alloc(block, 'bytes');
  let crc = 0;
  try {
    for (let s = 0; s < n; s += block) {
      const c = Math.min(block, n - s);
      rt.u8.set(bytes.subarray(s, s + c), p);
      crc = rt.k.crc32_u8(p, c, crc);
    }
  } finally {
    rt.heap.free(p);
  }
  return crc >>> 0;
}
