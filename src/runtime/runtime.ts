import { WASM_BYTES } from './wasm-binary.js';
import { Heap } from './heap.js';
import { KernelError } from '../errors.js';
import type { Kernels } from './kernels.generated.js';

export type { Kernels };

let cachedModule: WebAssembly.Module | null = null;

/** Node's Buffer (also in Deno and Bun), where the host has one. */
const NodeBuffer = (globalThis as { Buffer?: { from(s: string, encoding: 'latin1'): Uint8Array<ArrayBuffer> } }).Buffer;

/**
 * The module's bytes from their one-char-per-byte string (scripts/embed-wasm.mjs): Node copies
 * it natively; elsewhere a loop does (a cold loop over the 50–190 KB costs milliseconds, which a
 * Node cold start cannot spare).
 */
function wasmBytes(): Uint8Array<ArrayBuffer> {
  const s = WASM_BYTES;
  if (NodeBuffer) return NodeBuffer.from(s, 'latin1');
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * One instantiated vardrop wasm module: its kernels, its linear memory and the heap that
 * TypeScript uses to lay that memory out. Bind once, reuse everywhere; independent
 * runtimes share nothing.
 */
export class Runtime {
  /** Raw kernel exports (pointers are byte offsets, sizes are element counts). */
  readonly k: Kernels;
  readonly memory: WebAssembly.Memory;
  readonly heap: Heap;
  private f32view: Float32Array;
  private u8view: Uint8Array;
  private i32view: Int32Array;

  private constructor(instance: WebAssembly.Instance) {
    const ex = instance.exports as unknown as Kernels & { _start: () => void };
    ex._start();
    this.k = ex;
    this.memory = ex.memory;
    this.f32view = new Float32Array(this.memory.buffer);
    this.u8view = new Uint8Array(this.memory.buffer);
    this.i32view = new Int32Array(this.memory.buffer);
    this.heap = new Heap(this.memory, ex.heap_base() >>> 0, () => this.refresh());
  }

  private static imports(getRt: () => Runtime | undefined): WebAssembly.Imports {
    return {
      env: {
        abort(msgPtr: number, filePtr: number, line: number, col: number) {
          const rt = getRt();
          const msg = rt ? rt.readAsString(msgPtr) : 'abort';
          const file = rt ? rt.readAsString(filePtr) : '?';
          throw new KernelError('kernel', 'arguments meeting the kernel preconditions', `${msg} (${file}:${line}:${col})`);
        },
      },
    };
  }

  /** Instantiate synchronously (fine in Node and workers; main-thread browsers cap sync compiles at 4 KiB on some engines, so prefer {@link Runtime.create} there). */
  static createSync(): Runtime {
    cachedModule ??= new WebAssembly.Module(wasmBytes());
    return Runtime.fromModule(cachedModule);
  }

  /**
   * @internal Instantiate another build of the kernels synchronously (tests compare the
   * inference-only module, build/vardrop-infer.wasm, with the full one).
   */
  static fromModule(module: WebAssembly.Module): Runtime {
    let rt: Runtime | undefined;
    const inst = new WebAssembly.Instance(module, Runtime.imports(() => rt));
    rt = new Runtime(inst);
    return rt;
  }

  /** Instantiate asynchronously (the path for browser main threads). */
  static async create(): Promise<Runtime> {
    cachedModule ??= await WebAssembly.compile(wasmBytes());
    let rt: Runtime | undefined;
    const inst = await WebAssembly.instantiate(cachedModule, Runtime.imports(() => rt));
    rt = new Runtime(inst);
    return rt;
  }

  /** Re-create typed views after `memory.grow` detached the old buffer. */
  private refresh(): void {
    const b = this.memory.buffer;
    this.f32view = new Float32Array(b);
    this.u8view = new Uint8Array(b);
    this.i32view = new Int32Array(b);
  }

  /** Float32 view of all of linear memory (current after any growth). */
  get f32(): Float32Array {
    if (this.f32view.buffer !== this.memory.buffer) this.refresh();
    return this.f32view;
  }

  /** Byte view of all of linear memory (current after any growth). */
  get u8(): Uint8Array {
    if (this.u8view.buffer !== this.memory.buffer) this.refresh();
    return this.u8view;
  }

  /** Int32 view of all of linear memory (current after any growth). */
  get i32(): Int32Array {
    if (this.i32view.buffer !== this.memory.buffer) this.refresh();
    return this.i32view;
  }

  /** Allocate `n` float32 elements; returns a byte pointer. */
  allocF32(n: number, name = 'size'): number {
    return this.heap.alloc(n * 4, name);
  }

  private wsPtr = 0;
  private wsBytes = 0;

  /**
   * A reusable scratch block of at least `bytes` bytes (16-byte aligned) for kernels that need
   * temporary space (im2col, packing). Grown on demand, never shrunk; its contents are only
   * valid until the next call, so only one op may use it at a time.
   */
  workspace(bytes: number): number {
    if (bytes > this.wsBytes) {
      const p = this.heap.alloc(bytes, 'workspace');
      if (this.wsPtr) this.heap.free(this.wsPtr);
      this.wsPtr = p;
      this.wsBytes = bytes;
    }
    return this.wsPtr;
  }

  /** Free a pointer from {@link allocF32} or {@link Heap.alloc}. */
  free(ptr: number): void {
    this.heap.free(ptr);
  }

  private readAsString(ptr: number): string {
    if (!ptr) return '';
    const u8 = this.u8;
    const len = (u8[ptr - 4] | (u8[ptr - 3] << 8) | (u8[ptr - 2] << 16) | (u8[ptr - 1] << 24)) >>> 1;
    let s = '';
    for (let i = 0; i < len && i < 512; i++) s += String.fromCharCode(u8[ptr + 2 * i] | (u8[ptr + 2 * i + 1] << 8));
    return s;
  }
}

let shared: Runtime | null = null;

/** The process-wide default runtime, created synchronously on first use. */
export function runtime(): Runtime {
  shared ??= Runtime.createSync();
  return shared;
}

/** Create the process-wide default runtime asynchronously (call once at start-up in browsers). */
export async function init(): Promise<Runtime> {
  shared ??= await Runtime.create();
  return shared;
}
