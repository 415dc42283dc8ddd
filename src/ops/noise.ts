import { ArgumentError, checkInt, checkNumber, describe } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { Runtime, runtime } from '../runtime/runtime.js';
import { checkTensor } from './check.js';

/**
 * Randomness in vardrop is an explicit 64-bit seed plus a counter (Threefry-2x32-20, see
 * assembly/noise.ts): element i of a fill is a pure function of (seed, stream, offset + i),
 * the same in every engine. `stream` (32-bit) separates independent uses of one seed
 * (e.g. one stream per layer); `offset` (32-bit, in elements) is the position of element 0,
 * so a later fill continues a stream with `offset += n`, and any sub-range can be
 * regenerated alone.
 */
export interface NoiseOptions {
  /** Independent stream id in [0, 2^32); default 0. */
  stream?: number;
  /** Position of element 0 in the stream, in elements, in [0, 2^32); default 0. */
  offset?: number;
}

/** Options of {@link bernoulli}. */
export interface BernoulliOptions extends NoiseOptions {
  /** Value of a success (finite); default 1. Inverted dropout with keep probability k uses 1/k. */
  scale?: number;
}

/** A seed: a non-negative safe integer (< 2^53) or a bigint in [0, 2^64). */
export type Seed = number | bigint;

const TWO32 = 2 ** 32;

/** Split a seed into its (lo, hi) 32-bit words; throws {@link ArgumentError} on a bad seed. */
export function seedWords(seed: unknown, name = 'seed'): [number, number] {
  if (typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0) {
    return [seed % TWO32, Math.floor(seed / TWO32)];
  }
  if (typeof seed === 'bigint' && seed >= 0n && seed < 1n << 64n) {
    return [Number(seed & 0xffffffffn), Number(seed >> 32n)];
  }
  throw new ArgumentError(name, 'a non-negative safe integer or a bigint in [0, 2^64)', describe(seed));
}

function streamOffset(opts: NoiseOptions): [number, number] {
  const stream = checkInt('opts.stream', opts.stream ?? 0, 0, TWO32 - 1);
  const offset = checkInt('opts.offset', opts.offset ?? 0, 0, TWO32 - 1);
  return [stream, offset];
}

function fillNoise(kind: 'noise_uniform_f32' | 'noise_gauss_f32', out: Tensor, seed: Seed, opts: NoiseOptions): Tensor {
  checkTensor('out', out);
  const [lo, hi] = seedWords(seed);
  const [stream, offset] = streamOffset(opts);
  out.rt.k[kind](out.ptr, out.size, lo, hi, stream, offset);
  return out;
}

/**
 * Fill `out` (any shape) with uniform numbers in [0, 1) (multiples of 2^-24). Returns `out`.
 * `seed`: see {@link Seed}; `opts`: stream and offset ({@link NoiseOptions}).
 */
export function uniform(out: Tensor, seed: Seed, opts: NoiseOptions = {}): Tensor {
  return fillNoise('noise_uniform_f32', out, seed, opts);
}

/**
 * Fill `out` (any shape) with standard normal numbers (Box–Muller; |value| ≤ 5.77). Returns `out`.
 * Elements 2j and 2j+1 of the stream (counted from position 0, not from `offset`) form one pair.
 */
export function gaussian(out: Tensor, seed: Seed, opts: NoiseOptions = {}): Tensor {
  return fillNoise('noise_gauss_f32', out, seed, opts);
}

/**
 * Fill `out` (any shape) with `scale` where a uniform draw is below `p`, else 0: each
 * element is `scale` with probability p (p is rounded to float32; exactly ceil(p·2^24)/2^24).
 * For inverted dropout with keep probability k: `bernoulli(mask, k, seed, { scale: 1 / k })`.
 * Uses the same uniform stream as {@link uniform} at the same (seed, stream, offset).
 */
export function bernoulli(out: Tensor, p: number, seed: Seed, opts: BernoulliOptions = {}): Tensor {
  checkTensor('out', out);
  checkNumber('p', p, 0, 1);
  const scale = checkNumber('opts.scale', opts.scale ?? 1);
  const [lo, hi] = seedWords(seed);
  const [stream, offset] = streamOffset(opts);
  out.rt.k.noise_bernoulli_f32(out.ptr, out.size, p, scale, lo, hi, stream, offset);
  return out;
}

const RNG_BLOCK = 256;

/**
 * A small seeded generator for JavaScript-side choices (shuffling, sampling indices). Its
 * numbers come from the wasm Threefry stream (`noise_bits_u32`) of (seed, stream), read in
 * blocks of 256 words, so all randomness flows from explicit seeds through wasm. A stream
 * holds 2^32 words; draws beyond that throw. Streams are shared with the tensor fills:
 * use a stream id no layer uses.
 */
export class Rng {
  /** The seed this generator was created with. */
  readonly seed: Seed;
  /** Its stream id. */
  readonly stream: number;
  private readonly rt: Runtime;
  private readonly lo: number;
  private readonly hi: number;
  private readonly buf = new Uint32Array(RNG_BLOCK);
  private next = RNG_BLOCK;
  /** Stream position of the next block to read. */
  private pos = 0;

  /** `seed`: see {@link Seed}; `stream`: integer in [0, 2^32). */
  constructor(seed: Seed, stream = 0, rt: Runtime = runtime()) {
    [this.lo, this.hi] = seedWords(seed);
    this.stream = checkInt('stream', stream, 0, TWO32 - 1);
    this.seed = seed;
    this.rt = rt;
  }

  /** The next raw 32-bit word, as a number in [0, 2^32). */
  u32(): number {
    if (this.next === RNG_BLOCK) {
      if (this.pos > TWO32 - RNG_BLOCK) throw new ArgumentError('rng', 'at most 2^32 draws per (seed, stream); fork another stream', `${this.pos} draws`);
      const ws = this.rt.workspace(RNG_BLOCK * 4);
      this.rt.k.noise_bits_u32(ws, RNG_BLOCK, this.lo, this.hi, this.stream, this.pos);
      this.buf.set(new Uint32Array(this.rt.memory.buffer, ws, RNG_BLOCK)); // copy out: the workspace is shared
      this.pos += RNG_BLOCK;
      this.next = 0;
    }
    return this.buf[this.next++];
  }

  /** A uniform number in [0, 1) with 53-bit resolution (two words). */
  uniform(): number {
    const a = this.u32() >>> 5, b = this.u32() >>> 6; // 27 + 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** A uniform integer in [0, n) without modulo bias (rejection sampling); `n` integer in [1, 2^32]. */
  int(n: number): number {
    checkInt('n', n, 1, TWO32);
    const limit = TWO32 - (TWO32 % n); // largest multiple of n not above 2^32
    for (;;) {
      const w = this.u32();
      if (w < limit) return w % n;
    }
  }

  /** Shuffle `a` in place (Fisher–Yates) and return it. */
  shuffle<T extends Int32Array | Uint32Array | Float32Array | number[]>(a: T): T {
    if (!(a instanceof Int32Array || a instanceof Uint32Array || a instanceof Float32Array || Array.isArray(a))) {
      throw new ArgumentError('a', 'an Int32Array, Uint32Array, Float32Array or array', describe(a));
    }
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** An independent generator of the same seed on another `stream` (integer in [0, 2^32)). */
  fork(stream: number): Rng {
    return new Rng(this.seed, stream, this.rt);
  }
}

/**
 * Stream positions (u32) in wasm memory: the operand of {@link gaussianAt}, e.g. the dense
 * indices of a pruned layer's kept weights. Copied in once; free with {@link dispose}.
 */
export class Positions {
  readonly rt: Runtime;
  /** Byte offset of position 0. */
  readonly ptr: number;
  readonly length: number;
  private disposed = false;

  private constructor(rt: Runtime, a: Uint32Array) {
    this.rt = rt;
    this.length = a.length;
    this.ptr = rt.heap.alloc(Math.max(4, 4 * a.length), 'positions');
    rt.u8.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), this.ptr);
  }

  /** Copy `a` into wasm memory. */
  static from(a: Uint32Array, rt: Runtime = runtime()): Positions {
    if (!(a instanceof Uint32Array)) throw new ArgumentError('positions', 'a Uint32Array', describe(a));
    return new Positions(rt, a);
  }

  /** Free the positions (idempotent). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rt.free(this.ptr);
  }
}

/** Options of {@link gaussianAt}. */
export interface GaussianAtOptions {
  /** Stream id in [0, 2^32); default 0. */
  stream?: number;
  /** Position added to every element, in elements, in [0, 2^32); default 0. */
  rowBase?: number;
  /** Position step between rows of `out`, in elements, in [0, 2^32); default 0. */
  rowStride?: number;
  /**
   * Rows of one Monte-Carlo pass (default: all): row r belongs to pass ⌊r / passRows⌋, whose
   * seed's high word (the pass counter of a `(pass << 32) | seed` key) is the given one plus the
   * pass, and sits at position rowBase + (r mod passRows)·rowStride + positions[j].
   */
  passRows?: number;
  /** Use the scalar twin (the test oracle). */
  scalar?: boolean;
}

/**
 * The Gaussians {@link gaussian} of (seed, stream) puts at chosen positions, computed there
 * only: `out` holds rows × cols values (cols = positions.length, rows = out.size / cols),
 * element (r, j) the value at stream position rowBase + r·rowStride + positions[j] (see
 * {@link GaussianAtOptions.passRows} for rows of several passes). A number `positions` = cols
 * contiguous positions 0, 1, …, cols − 1 (a row is then one fill). Returns `out`.
 */
export function gaussianAt(out: Tensor, positions: Positions | number, seed: Seed, opts: GaussianAtOptions = {}): Tensor {
  checkTensor('out', out);
  if (!(positions instanceof Positions)) checkInt('positions', positions, 0, TWO32 - 1);
  const cols = positions instanceof Positions ? positions.length : positions;
  if (cols === 0 ? out.size !== 0 : out.size % cols !== 0) throw new ArgumentError('out', `a multiple of ${cols} elements (rows of the positions)`, `${out.size} elements`);
  const [lo, hi] = seedWords(seed);
  const [stream] = streamOffset(opts);
  const rowBase = checkInt('opts.rowBase', opts.rowBase ?? 0, 0, TWO32 - 1);
  const rowStride = checkInt('opts.rowStride', opts.rowStride ?? 0, 0, TWO32 - 1);
  const passRows = checkInt('opts.passRows', opts.passRows ?? 0, 0, 2 ** 31 - 1);
  const f = opts.scalar ? out.rt.k.noise_gauss_at_f32_scalar : out.rt.k.noise_gauss_at_f32;
  const rows = cols === 0 ? 0 : out.size / cols;
  if (!(positions instanceof Positions) && rowBase + (passRows > 0 ? Math.min(passRows, rows) - 1 : rows - 1) * rowStride + cols > TWO32) {
    throw new ArgumentError('opts.rowBase', 'contiguous positions below 2^32', `rows up to ${rowBase} + ${rows - 1}·${rowStride} + ${cols}`);
  }
  f(out.ptr, rows, cols, positions instanceof Positions ? positions.ptr : 0, rowBase, rowStride, passRows, lo, hi, stream);
  return out;
}
