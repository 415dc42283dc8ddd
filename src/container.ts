/**
 * The binary container shared by both model file formats ({@link Sequential} files, `VDRP`,
 * and sparse model files, `VDSP`), and the layer entries both of them hold.
 *
 * Container (all integers little-endian u32):
 *
 * | bytes            | field                                            |
 * |------------------|--------------------------------------------------|
 * | 0..3             | magic, 4 ASCII bytes (`VDRP` models, `VDSP` pruned models) |
 * | 4..7             | format version                                   |
 * | 8..11            | header length H (bytes of UTF-8 JSON)            |
 * | 12..15           | CRC-32 of the header bytes                       |
 * | 16..19           | payload length P (bytes)                         |
 * | 20..23           | CRC-32 of the payload bytes                      |
 * | 24..24+H         | header JSON, then zero padding to a 16-byte boundary |
 * | S..S+P           | payload, S = align16(24 + H); the file ends at S + P |
 *
 * The header names every array of the payload as `{offset, length}`: a byte offset from the
 * payload start (16-byte aligned) and an element count; the element type is implied by the
 * field. Reading validates everything before anything is allocated in wasm memory: sizes are
 * bounded by the file's own length, segments must lie inside the payload and must not overlap,
 * and every error is a {@link ModelFormatError} naming the field, what was expected and what came.
 * @module
 */
import { ArgumentError, ModelFormatError, VardropError, describe } from './errors.js';
import { MAX_ELEMENTS, Shape, allFinite } from './tensor.js';
import type { Layer, StateGroup } from './layers/layer.js';
import { checkStateValues, groupKey, layerRegistry } from './layers/layer.js';
import type { Runtime } from './runtime/runtime.js';
import { crc32Wasm } from './ops/checksum.js';

export { MAX_ELEMENTS };

/** Bytes before the header. */
const PREFIX = 24;
/** Largest header accepted (bytes): layer configs are small; anything bigger is hostile. */
const MAX_HEADER = 16 << 20;
/** Arrays a file may rebuild larger than their segments, in multiples of its payload (see {@link ContainerReader.expand}). */
const MAX_EXPANSION = 8;
/** Files are little-endian: on a little-endian host a segment is one native copy. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/* ------------------------------------------------------------------ CRC-32 */

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/* ------------------------------------------------------------------ Writing */

/** Typed arrays a payload may hold. */
export type PayloadArray = Float32Array | Uint32Array | Uint16Array | Uint8Array;

/** A segment reference in a header. */
export interface SegmentRef {
  /** Byte offset from the payload start (multiple of 16). */
  offset: number;
  /** Element count. */
  length: number;
}

/** Lays out payload arrays, 16-byte aligned, and hands out their {@link SegmentRef}s. */
export class PayloadWriter {
  /**
   * Code weight matrices compactly (sparse model files from version 4, inference/kept.ts); false:
   * every array in full, as the files of earlier versions hold them.
   */
  readonly compact: boolean;
  private parts: PayloadArray[] = [];
  private offsets: number[] = [];
  private size = 0;

  constructor(opts: { compact?: boolean } = {}) {
    this.compact = opts.compact ?? false;
  }

  /** Append `a` (copied at {@link finish}); returns its reference for the header. */
  add(a: PayloadArray): SegmentRef {
    const offset = this.size;
    this.parts.push(a);
    this.offsets.push(offset);
    this.size = align16(offset + a.byteLength);
    return { offset, length: a.length };
  }

  /** The payload bytes, little-endian. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    const dv = new DataView(out.buffer);
    this.parts.forEach((a, k) => {
      const o = this.offsets[k];
      if (a instanceof Float32Array) for (let i = 0; i < a.length; i++) dv.setFloat32(o + 4 * i, a[i], true);
      else if (a instanceof Uint32Array) for (let i = 0; i < a.length; i++) dv.setUint32(o + 4 * i, a[i], true);
      else if (a instanceof Uint8Array) out.set(a, o);
      else for (let i = 0; i < a.length; i++) dv.setUint16(o + 2 * i, a[i], true);
    });
    return out;
  }
}

function align16(n: number): number {
  return Math.ceil(n / 16) * 16;
}

/** JSON with non-finite numbers kept (`{"$number": "Infinity"}`), e.g. a threshold of +∞. */
function toJson(header: unknown): string {
  return JSON.stringify(header, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v));
}

/** Serialize a container: magic (4 ASCII chars), version, header object and payload. */
export function writeContainer(magic: string, version: number, header: unknown, payload: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(toJson(header));
  const start = align16(PREFIX + h.length);
  const out = new Uint8Array(start + payload.length);
  for (let i = 0; i < 4; i++) out[i] = magic.charCodeAt(i);
  const dv = new DataView(out.buffer);
  dv.setUint32(4, version, true);
  dv.setUint32(8, h.length, true);
  dv.setUint32(12, crc32(h), true);
  dv.setUint32(16, payload.length, true);
  dv.setUint32(20, crc32(payload), true);
  out.set(h, PREFIX);
  out.set(payload, start);
  return out;
}

/* ------------------------------------------------------------------ Reading */

/** Throw a {@link ModelFormatError} for `field`. */
export function bad(field: string, expected: string, received: string): never {
  throw new ModelFormatError(field, expected, received);
}

/** Describe a JSON value briefly for an error message. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (Array.isArray(v)) return v.length <= 8 ? JSON.stringify(v) : `Array(${v.length})`;
  return describe(v);
}

/**
 * A validated container: its header and a reader of payload segments that checks bounds,
 * alignment and overlap, and converts little-endian bytes into fresh typed arrays.
 */
export class ContainerReader {
  readonly header: Record<string, unknown>;
  readonly version: number;
  /** Payload size in bytes. */
  readonly payloadBytes: number;
  private readonly dv: DataView;
  private readonly start: number;
  private readonly used: [number, number, string][] = [];
  /** Bytes of arrays rebuilt larger than their segments (see {@link expand}). */
  private expanded = 0;

  private constructor(header: Record<string, unknown>, version: number, dv: DataView, start: number, payloadBytes: number) {
    this.header = header;
    this.version = version;
    this.dv = dv;
    this.start = start;
    this.payloadBytes = payloadBytes;
  }

  /**
   * Check the prefix, lengths, checksums and JSON of `bytes`; throws {@link ModelFormatError}.
   * With `rt`, the checksums are computed by its wasm kernel (see ops/checksum.ts: a temporary
   * block, freed again) rather than by a JavaScript loop over every byte.
   */
  static open(bytes: unknown, magic: string, versions: readonly number[], rt?: Runtime): ContainerReader {
    if (!(bytes instanceof Uint8Array)) throw new ArgumentError('bytes', 'a Uint8Array holding a model file', describe(bytes));
    const n = bytes.length;
    if (n < PREFIX) bad('file', `at least ${PREFIX} bytes`, `${n} bytes`);
    const got = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
    if (got !== magic) bad('magic', JSON.stringify(magic), JSON.stringify(got));
    const dv = new DataView(bytes.buffer, bytes.byteOffset, n);
    const version = dv.getUint32(4, true);
    if (!versions.includes(version)) bad('version', `one of ${versions.join(', ')}`, String(version));
    const hLen = dv.getUint32(8, true);
    if (hLen > Math.min(MAX_HEADER, n - PREFIX)) bad('headerLength', `at most ${Math.min(MAX_HEADER, n - PREFIX)} bytes (within the file)`, `${hLen} bytes`);
    const start = align16(PREFIX + hLen);
    const pLen = dv.getUint32(16, true);
    if (start + pLen !== n) bad('payloadLength', `${n - start} bytes (file of ${n} bytes, payload at ${start})`, `${pLen} bytes`);
    const hBytes = bytes.subarray(PREFIX, PREFIX + hLen);
    const crc = rt ? (b: Uint8Array) => crc32Wasm(rt, b) : crc32;
    const hCrc = crc(hBytes);
    if (hCrc !== dv.getUint32(12, true)) bad('headerCrc32', hex(hCrc), hex(dv.getUint32(12, true)));
    for (let i = PREFIX + hLen; i < start; i++) if (bytes[i] !== 0) bad('headerPadding', 'zero bytes', `byte ${bytes[i]} at ${i}`);
    const pCrc = crc(bytes.subarray(start, n));
    if (pCrc !== dv.getUint32(20, true)) bad('payloadCrc32', hex(pCrc), hex(dv.getUint32(20, true)));
    let header: unknown;
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(hBytes);
      header = JSON.parse(text, (_k, v) => {
        if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && typeof v.$number === 'string') {
          if (v.$number === 'Infinity') return Infinity;
          if (v.$number === '-Infinity') return -Infinity;
          bad('header', '$number of "Infinity" or "-Infinity"', show(v.$number));
        }
        return v;
      });
    } catch (e) {
      if (e instanceof ModelFormatError) throw e;
      bad('header', 'UTF-8 JSON', (e as Error).message);
    }
    if (!isObject(header)) bad('header', 'a JSON object', show(header));
    return new ContainerReader(header, version, dv, start, pLen);
  }

  /**
   * Charge `bytes` of an array that a segment rebuilds larger than itself (a dense matrix from its
   * kept entries, see inference/kept.ts) to the file's budget of {@link MAX_EXPANSION} times its
   * payload, so a small file cannot make the reader allocate much; throws {@link ModelFormatError}.
   */
  expand(field: string, bytes: number): void {
    this.expanded += bytes;
    if (this.expanded > MAX_EXPANSION * this.payloadBytes) bad(field, `arrays rebuilt from kept entries of at most ${MAX_EXPANSION}× the ${this.payloadBytes}-byte payload`, `${this.expanded} bytes`);
  }

  /**
   * Read segment `ref` (from the header field `field`) of `length` elements of `type`. Checks:
   * an `{offset, length}` object, offset 16-aligned, inside the payload, no overlap with any
   * segment read before, and (for f32) finite values.
   */
  read<T extends 'f32' | 'u32' | 'u16' | 'u8'>(field: string, ref: unknown, type: T, length: number):
    T extends 'f32' ? Float32Array : T extends 'u32' ? Uint32Array : T extends 'u16' ? Uint16Array : Uint8Array {
    if (!isObject(ref)) bad(field, 'a segment {offset, length}', show(ref));
    const off = ref.offset, len = ref.length;
    if (!isInt(len)) bad(`${field}.length`, 'a non-negative integer', show(len));
    if (len !== length) bad(`${field}.length`, `${length} elements`, `${len}`);
    if (!isInt(off)) bad(`${field}.offset`, 'a non-negative integer', show(off));
    if (off % 16 !== 0) bad(`${field}.offset`, 'a multiple of 16', String(off));
    const size = type === 'u8' ? 1 : type === 'u16' ? 2 : 4;
    const bytes = len * size;
    if (off + bytes > this.payloadBytes) bad(field, `a segment inside the ${this.payloadBytes}-byte payload`, `bytes ${off}..${off + bytes}`);
    for (const [a, b, name] of this.used) {
      if (bytes > 0 && off < b && a < off + bytes) bad(`${field}.offset`, `a segment not overlapping ${name} (bytes ${a}..${b})`, `bytes ${off}..${off + bytes}`);
    }
    this.used.push([off, off + bytes, field]);
    const p = this.start + off, dv = this.dv;
    if (type === 'u8') return new Uint8Array(dv.buffer.slice(dv.byteOffset + p, dv.byteOffset + p + bytes) as ArrayBuffer) as never;
    if (LITTLE_ENDIAN) {
      // One native copy (aligned: a fresh buffer) and, for f32, native finiteness scans; the
      // loops below then only name the first non-finite value.
      const at = dv.byteOffset + p, buf = dv.buffer.slice(at, at + bytes) as ArrayBuffer;
      if (type === 'u32') return new Uint32Array(buf) as never;
      if (type === 'u16') return new Uint16Array(buf) as never;
      const a = new Float32Array(buf);
      if (allFinite(a)) return a as never;
    }
    if (type === 'f32') {
      const a = new Float32Array(len);
      for (let i = 0; i < len; i++) {
        const v = dv.getFloat32(p + 4 * i, true);
        if (v - v !== 0) bad(`${field}[${i}]`, 'a finite float32', String(v));
        a[i] = v;
      }
      return a as never;
    }
    if (type === 'u32') {
      const a = new Uint32Array(len);
      for (let i = 0; i < len; i++) a[i] = dv.getUint32(p + 4 * i, true);
      return a as never;
    }
    const a = new Uint16Array(len);
    for (let i = 0; i < len; i++) a[i] = dv.getUint16(p + 2 * i, true);
    return a as never;
  }
}

function hex(v: number): string {
  return '0x' + v.toString(16).padStart(8, '0');
}

/** A plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-negative safe integer. */
export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Check a shape read from a file: an array of at most 8 non-negative integer dimensions whose
 * product is at most `max` elements (default {@link MAX_ELEMENTS}); returns its element count.
 */
export function checkShapeField(field: string, v: unknown, max = MAX_ELEMENTS, minDim = 0): number {
  if (!Array.isArray(v) || v.length > 8) bad(field, 'an array of at most 8 dimensions', show(v));
  let n = 1;
  for (const d of v) {
    if (!isInt(d) || d < minDim) bad(field, `integer dimensions >= ${minDim}`, show(v));
    n *= d;
  }
  if (n > max) bad(field, `at most ${max} elements`, `${show(v)} (${n} elements)`);
  return n;
}

/** Magic and version of {@link Sequential} files (`io.ts` reads and writes them). */
export const MODEL_MAGIC = 'VDRP';
export const MODEL_VERSION = 1;

/**
 * Open a file of `magic` (one of `versions`) and check the header fields that both file kinds
 * share: `format`, a non-empty `inputShape` and a list `header[list]` of 1 to 10000 entries
 * (Sequential files' `layers`, pruned models' `steps`), which are the caller's to check
 * (checksums by `rt`'s kernel when given, see {@link ContainerReader.open}). Throws
 * {@link ModelFormatError}.
 */
export function openFile(bytes: Uint8Array, magic: string, versions: readonly number[], format: string, list: 'layers' | 'steps', rt?: Runtime): ContainerReader {
  const r = ContainerReader.open(bytes, magic, versions, rt);
  const h = r.header;
  if (h.format !== format) bad('header.format', JSON.stringify(format), show(h.format));
  const inputSize = checkShapeField('header.inputShape', h.inputShape, MAX_ELEMENTS, 1);
  if ((h.inputShape as number[]).length === 0 || inputSize === 0) bad('header.inputShape', 'a non-empty shape', show(h.inputShape));
  const a = h[list];
  if (!Array.isArray(a) || a.length === 0 || a.length > 10000) bad(`header.${list}`, `a non-empty array of at most 10000 ${list}`, show(a));
  return r;
}

/**
 * Open a {@link Sequential} file and check its header's fields (those of {@link openFile}, and
 * the seed); the layers are the reader's to check. Throws {@link ModelFormatError}.
 */
export function openModelFile(bytes: Uint8Array, rt?: Runtime): ContainerReader {
  const r = openFile(bytes, MODEL_MAGIC, [MODEL_VERSION], 'vardrop-model', 'layers', rt);
  const seed = r.header.seed;
  if (!isInt(seed) || seed > 0xffffffff) bad('header.seed', 'an integer in [0, 2^32 − 1]', show(seed));
  return r;
}

/* ------------------------------------------------------------------ Layer entries */

/** A parameter or state tensor of a layer entry, read from a file: name, shape and values. */
export interface NamedValues {
  name: string;
  shape: number[];
  values: Float32Array;
}

/**
 * A layer entry of a file, read and checked before anything is allocated in wasm memory: the
 * layer (constructed, not built), its per-sample output shape, and its parameter and state values.
 */
export interface LayerEntry {
  layer: Layer;
  outputShape: Shape;
  params: NamedValues[];
  state: NamedValues[] | undefined;
}

/** `{name, shape, offset, length}` entries of tensors written to `w`. */
function tensorEntries(w: PayloadWriter, groups: readonly { name: string; value: { shape: Shape; toArray(): Float32Array } }[]) {
  return groups.map((g) => ({ name: groupKey(g.name), shape: g.value.shape.slice(), ...w.add(g.value.toArray()) }));
}

/**
 * The header entry of a built layer: its class and options (`layer.config()`), its parameter
 * groups and, when it has any, its state tensors, with their values appended to `w`.
 */
export function writeLayerEntry(w: PayloadWriter, l: Layer): Record<string, unknown> {
  const cfg = l.config();
  const entry: Record<string, unknown> = { className: cfg.className, options: cfg.options, params: tensorEntries(w, l.params()) };
  const state = l.state();
  if (state.length) entry.state = tensorEntries(w, state);
  return entry;
}

/** Re-throw anything a layer constructor or plan throws as a {@link ModelFormatError} of `field`. */
export function asFormatError(field: string, e: unknown): never {
  if (e instanceof ModelFormatError) throw e;
  if (e instanceof VardropError) throw new ModelFormatError(`${field}.${e.argument}`, e.expected, e.received);
  throw new ModelFormatError(field, 'a valid layer configuration', (e as Error)?.message ?? String(e));
}

/** Read `{name, shape, offset, length}` entries (values bounded by the payload, finite). */
export function readTensors(r: ContainerReader, f: string, v: unknown): NamedValues[] {
  if (!Array.isArray(v)) bad(f, 'an array', show(v));
  return v.map((e, k) => {
    const g = `${f}[${k}]`;
    if (!isObject(e)) bad(g, 'a tensor entry {name, shape, offset, length}', show(e));
    if (typeof e.name !== 'string') bad(`${g}.name`, 'a string', show(e.name));
    const n = checkShapeField(`${g}.shape`, e.shape);
    return { name: e.name, shape: (e.shape as number[]).slice(), values: r.read(g, e, 'f32', n) };
  });
}

/**
 * Read layer entry `e` (header field `f`) for a per-sample input `inShape`: a registered class,
 * options its constructor accepts, weights that fit the payload (from the layer's allocation-free
 * `plan`, so a hostile config cannot make us allocate), an output shape within bounds, and its
 * tensors' segments. Throws {@link ModelFormatError}. Nothing is allocated in wasm memory.
 */
export function readLayerEntry(r: ContainerReader, e: unknown, f: string, inShape: Shape): LayerEntry {
  if (!isObject(e)) bad(f, 'a layer object', show(e));
  if (typeof e.className !== 'string') bad(`${f}.className`, 'a string', show(e.className));
  // (The Sequential reader, io.ts, reads builtinLayers, so bundlers keep the built-in classes
  // registered; the inference entry reads none and carries none.)
  const make = layerRegistry.get(e.className);
  if (!make) bad(`${f}.className`, `a registered layer class (${[...layerRegistry.keys()].join(', ')})`, show(e.className));
  if (!isObject(e.options)) bad(`${f}.options`, 'an object', show(e.options));
  if (!Array.isArray(e.params)) bad(`${f}.params`, 'an array', show(e.params));
  let layer: Layer, outputShape: Shape;
  try {
    layer = make(e.options);
    const p = layer.plan(inShape);
    if (p.weights > r.payloadBytes / 4) bad(`${f}.options`, `weights fitting the payload (at most ${r.payloadBytes / 4} floats)`, `${p.weights} weights`);
    checkShapeField(`${f}.options`, p.outputShape.slice(), MAX_ELEMENTS);
    outputShape = p.outputShape;
  } catch (err) {
    asFormatError(`${f}.options`, err);
  }
  const params = readTensors(r, `${f}.params`, e.params);
  const state = e.state === undefined ? undefined : readTensors(r, `${f}.state`, e.state);
  return { layer, outputShape, params, state };
}

/** Check `got` against the built layer's `groups` (count, names, shapes) and copy the values in. */
function applyTensors(f: string, got: NamedValues[], groups: readonly { name: string; value: { shape: Shape; set(v: Float32Array): void } }[], state: boolean): void {
  if (got.length !== groups.length) bad(f, `${groups.length} ${state ? 'state tensors' : 'parameter groups'} (${groups.map((g) => groupKey(g.name)).join(', ')})`, `${got.length}`);
  groups.forEach((g, k) => {
    const v = got[k], want = groupKey(g.name), shape = g.value.shape;
    if (v.name !== want) bad(`${f}[${k}].name`, JSON.stringify(want), show(v.name));
    if (v.shape.length !== shape.length || v.shape.some((d, i) => d !== shape[i])) bad(`${f}[${k}].shape`, `[${shape.join(', ')}] (the rebuilt layer's)`, show(v.shape));
    if (state) checkStateValues(`${f}[${k}]`, v.values, g as StateGroup, ModelFormatError);
  });
  groups.forEach((g, k) => g.value.set(got[k].values));
}

/**
 * Copy an entry's values into its layer, once built: parameter groups and state tensors must
 * match the rebuilt layer's in number, name and shape, state values their bounds (a variance ≥ 0).
 * Throws {@link ModelFormatError}.
 */
export function applyLayerEntry(entry: LayerEntry, f: string): void {
  const l = entry.layer;
  applyTensors(`${f}.params`, entry.params, l.params(), false);
  const groups = l.state();
  if (groups.length === 0 && entry.state !== undefined) bad(`${f}.state`, 'no state for this layer class', show(entry.state.map((s) => s.name)));
  if (groups.length > 0) {
    if (entry.state === undefined) bad(`${f}.state`, `${groups.map((g) => groupKey(g.name)).join(', ')}`, 'no state');
    applyTensors(`${f}.state`, entry.state, groups, true);
  }
}
