import { ArgumentError, OutOfMemoryError, describe } from '../errors.js';

/** Every block is aligned to a v128 (16 bytes) so SIMD loads never straddle it oddly. */
const ALIGN = 16;
const PAGE = 65536;
/** wasm32 addresses at most 4 GiB = 65536 pages. */
const MAX_PAGES = 65536;

/**
 * First-fit allocator with coalescing over WebAssembly linear memory. TypeScript owns the
 * layout above the module's heap base; kernels only ever see pointers handed out here.
 * Freed blocks are reused, so a steady workload reaches a steady footprint.
 */
export class Heap {
  private readonly memory: WebAssembly.Memory;
  /** Free blocks sorted by address: parallel arrays of start and size (bytes). */
  private freeStart: number[] = [];
  private freeSize: number[] = [];
  /** Size of each live block, by its start address. */
  private readonly live = new Map<number, number>();
  /** End of the highest block ever handed out (bytes). */
  private top: number;
  private readonly onGrow: () => void;

  constructor(memory: WebAssembly.Memory, base: number, onGrow: () => void) {
    this.memory = memory;
    this.top = Math.ceil(base / ALIGN) * ALIGN;
    this.onGrow = onGrow;
  }

  /** Bytes currently handed out. */
  get liveBytes(): number {
    let s = 0;
    for (const v of this.live.values()) s += v;
    return s;
  }

  /** Number of live blocks. */
  get liveBlocks(): number {
    return this.live.size;
  }

  /** Size of linear memory in bytes. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * Allocate `bytes` bytes (rounded up to 16). Throws {@link OutOfMemoryError} when the
   * request cannot fit in 4 GiB; the heap is unchanged then.
   */
  alloc(bytes: number, name = 'bytes'): number {
    if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 0) {
      throw new ArgumentError(name, 'a non-negative integer byte count', describe(bytes));
    }
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    if (size > MAX_PAGES * PAGE) {
      throw new OutOfMemoryError(name, 'at most 4 GiB of wasm memory', `${bytes} bytes`);
    }
    for (let i = 0; i < this.freeStart.length; i++) {
      if (this.freeSize[i] >= size) {
        const p = this.freeStart[i];
        if (this.freeSize[i] === size) {
          this.freeStart.splice(i, 1);
          this.freeSize.splice(i, 1);
        } else {
          this.freeStart[i] += size;
          this.freeSize[i] -= size;
        }
        this.live.set(p, size);
        return p;
      }
    }
    // A free block touching the top can be extended instead of leaving a hole.
    let p = this.top;
    const last = this.freeStart.length - 1;
    const extendLast = last >= 0 && this.freeStart[last] + this.freeSize[last] === this.top;
    if (extendLast) p = this.freeStart[last];
    const end = p + size;
    this.ensure(end, name, bytes);
    if (extendLast) {
      this.freeStart.pop();
      this.freeSize.pop();
    }
    this.top = Math.max(this.top, end);
    this.live.set(p, size);
    return p;
  }

  /** Return a block to the heap. Freeing an unknown pointer throws. */
  free(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) throw new ArgumentError('ptr', 'a live heap pointer', String(ptr));
    this.live.delete(ptr);
    // Insert sorted, then merge with neighbours.
    let lo = 0, hi = this.freeStart.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.freeStart[mid] < ptr) lo = mid + 1; else hi = mid;
    }
    this.freeStart.splice(lo, 0, ptr);
    this.freeSize.splice(lo, 0, size);
    if (lo + 1 < this.freeStart.length && this.freeStart[lo] + this.freeSize[lo] === this.freeStart[lo + 1]) {
      this.freeSize[lo] += this.freeSize[lo + 1];
      this.freeStart.splice(lo + 1, 1);
      this.freeSize.splice(lo + 1, 1);
    }
    if (lo > 0 && this.freeStart[lo - 1] + this.freeSize[lo - 1] === this.freeStart[lo]) {
      this.freeSize[lo - 1] += this.freeSize[lo];
      this.freeStart.splice(lo, 1);
      this.freeSize.splice(lo, 1);
    }
  }

  private ensure(end: number, name: string, bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    // Grow a little ahead (1/8) so a growing workload does not grow page by page.
    const ahead = Math.min(MAX_PAGES - have / PAGE - pages, Math.ceil(have / PAGE / 8));
    let grown = false;
    try {
      this.memory.grow(pages + Math.max(0, ahead));
      grown = true;
    } catch {
      try {
        this.memory.grow(pages);
        grown = true;
      } catch {
        /* reported below */
      }
    }
    if (!grown) {
      throw new OutOfMemoryError(name, `room for ${bytes} bytes in wasm memory`, `memory.grow refused at ${have} bytes`);
    }
    this.onGrow();
  }
}
