/**
 * Model files: a compact binary container and the {@link Sequential} format on top of it.
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
import { ArgumentError, ModelFormatError, OutOfMemoryError, VardropError, describe } from './errors.js';
import { Runtime, runtime } from './runtime/runtime.js';
import { Shape } from './tensor.js';
import { Layer, LayerConfig, layerRegistry } from './layers/layer.js';
import { BatchNorm } from './layers/normalization.js';
import { Activation, Softmax } from './layers/activation.js';
import { Dropout, GaussianDropout } from './layers/dropout.js';
import { AvgPool2d, MaxPool2d } from './layers/pool.js';
import { Flatten } from './layers/reshape.js';
import { Conv2d, Dense } from './layers/dense.js';
import {
  GroupSparseVDConv2d, GroupSparseVDDense, SparseVDConv2d, SparseVDDense, VariationalDropoutConv2d, VariationalDropoutDense,
} from './layers/bayesian.js';
import { Sequential } from './model.js';
import { checkSequential } from './validate.js';

/**
 * The built-in layer classes a model file may name. Referencing them keeps their modules (and
 * their `registerLayer` calls) in any bundle that loads models, whatever else it tree-shakes.
 */
export const builtinLayers: readonly (abstract new (...args: never[]) => Layer)[] = [
  Dense, Conv2d, SparseVDDense, SparseVDConv2d, VariationalDropoutDense, VariationalDropoutConv2d,
  GroupSparseVDDense, GroupSparseVDConv2d, Activation, Softmax, Dropout, GaussianDropout,
  MaxPool2d, AvgPool2d, Flatten, BatchNorm,
];

/** Bytes before the header. */
const PREFIX = 24;
/** Largest header accepted (bytes): layer configs are small; anything bigger is hostile. */
const MAX_HEADER = 16 << 20;
/** Largest tensor accepted (elements): 1 GiB of f32, the most a 4 GiB wasm memory can sensibly hold. */
export const MAX_ELEMENTS = 2 ** 28;

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
export type PayloadArray = Float32Array | Uint32Array | Uint16Array;

/** A segment reference in a header. */
export interface SegmentRef {
  /** Byte offset from the payload start (multiple of 16). */
  offset: number;
  /** Element count. */
  length: number;
}

/** Lays out payload arrays, 16-byte aligned, and hands out their {@link SegmentRef}s. */
export class PayloadWriter {
  private parts: PayloadArray[] = [];
  private offsets: number[] = [];
  private size = 0;

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

  private constructor(header: Record<string, unknown>, version: number, dv: DataView, start: number, payloadBytes: number) {
    this.header = header;
    this.version = version;
    this.dv = dv;
    this.start = start;
    this.payloadBytes = payloadBytes;
  }

  /** Check the prefix, lengths, checksums and JSON of `bytes`; throws {@link ModelFormatError}. */
  static open(bytes: unknown, magic: string, versions: readonly number[]): ContainerReader {
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
    const hCrc = crc32(hBytes);
    if (hCrc !== dv.getUint32(12, true)) bad('headerCrc32', hex(hCrc), hex(dv.getUint32(12, true)));
    for (let i = PREFIX + hLen; i < start; i++) if (bytes[i] !== 0) bad('headerPadding', 'zero bytes', `byte ${bytes[i]} at ${i}`);
    const pCrc = crc32(bytes.subarray(start, n));
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
   * Read segment `ref` (from the header field `field`) of `length` elements of `type`. Checks:
   * an `{offset, length}` object, offset 16-aligned, inside the payload, no overlap with any
   * segment read before, and (for f32) finite values.
   */
  read<T extends 'f32' | 'u32' | 'u16'>(field: string, ref: unknown, type: T, length: number):
    T extends 'f32' ? Float32Array : T extends 'u32' ? Uint32Array : Uint16Array {
    if (!isObject(ref)) bad(field, 'a segment {offset, length}', show(ref));
    const off = ref.offset, len = ref.length;
    if (!isInt(len)) bad(`${field}.length`, 'a non-negative integer', show(len));
    if (len !== length) bad(`${field}.length`, `${length} elements`, `${len}`);
    if (!isInt(off)) bad(`${field}.offset`, 'a non-negative integer', show(off));
    if (off % 16 !== 0) bad(`${field}.offset`, 'a multiple of 16', String(off));
    const size = type === 'u16' ? 2 : 4;
    const bytes = len * size;
    if (off + bytes > this.payloadBytes) bad(field, `a segment inside the ${this.payloadBytes}-byte payload`, `bytes ${off}..${off + bytes}`);
    for (const [a, b, name] of this.used) {
      if (bytes > 0 && off < b && a < off + bytes) bad(`${field}.offset`, `a segment not overlapping ${name} (bytes ${a}..${b})`, `bytes ${off}..${off + bytes}`);
    }
    this.used.push([off, off + bytes, field]);
    const p = this.start + off, dv = this.dv;
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

/* ------------------------------------------------------------------ Sequential */

const MODEL_MAGIC = 'VDRP';
const MODEL_VERSION = 1;

/** Options of {@link loadModel}. */
export interface LoadOptions {
  /** Runtime to build the model in (default: the shared one). */
  runtime?: Runtime;
}

/** The part of a parameter name after the layer name: `"dense_1/theta"` → `"theta"`. */
function paramKey(name: string): string {
  const i = name.lastIndexOf('/');
  return i < 0 ? name : name.slice(i + 1);
}

/**
 * Serialize a {@link Sequential}: magic `VDRP`, version 1, a JSON header (input shape, seed,
 * each layer's class and options from `layer.config()`, each parameter group's name, shape and
 * payload segment, batch-norm running statistics) and the f32 parameters, 16-byte aligned,
 * with CRC-32s of header and payload. See the module comment for the byte layout.
 */
export function saveModel(model: Sequential): Uint8Array {
  checkSequential('model', model);
  const w = new PayloadWriter();
  const layers = model.layers.map((l) => {
    const cfg: LayerConfig = l.config();
    const params = l.params().map((p) => ({ name: paramKey(p.name), shape: p.value.shape.slice(), ...w.add(p.value.toArray()) }));
    const entry: Record<string, unknown> = { className: cfg.className, options: cfg.options, params };
    if (l instanceof BatchNorm) {
      const s = l.runningStats();
      entry.state = [
        { name: 'runningMean', shape: [s.mean.length], ...w.add(s.mean) },
        { name: 'runningVar', shape: [s.variance.length], ...w.add(s.variance) },
      ];
    }
    return entry;
  });
  const header = { format: 'vardrop-model', inputShape: model.inputShape.slice(), seed: model.seed, layers };
  return writeContainer(MODEL_MAGIC, MODEL_VERSION, header, w.finish());
}

/** Re-throw anything a layer constructor or build throws as a {@link ModelFormatError} of `field`. */
function asFormatError(field: string, e: unknown): never {
  if (e instanceof ModelFormatError) throw e;
  if (e instanceof VardropError) throw new ModelFormatError(`${field}.${e.argument}`, e.expected, e.received);
  throw new ModelFormatError(field, 'a valid layer configuration', (e as Error)?.message ?? String(e));
}

/**
 * Output shape and weight count of `layer` on a per-sample `shape`, computed without allocating:
 * weight layers through their (pure) linear map, parameter-free layers through their shape-only
 * `init`, batch norm keeps the shape. Null for a class it does not know (the dry run stops there).
 */
function dryRun(layer: Layer, shape: Shape): { weights: number; out: Shape } | null {
  const p = layer.plan(shape);
  return { weights: p.weights, out: p.outputShape };
}

/**
 * Load a model written by {@link saveModel}. Everything is validated before the model is built:
 * magic, version, lengths, checksums, JSON, known layer classes, layer options, that each weight
 * layer fits the payload (so a hostile config cannot make us allocate gigabytes), then, after
 * building, every parameter's name and shape against the rebuilt layers, segment bounds and
 * overlap, and finite values. Throws {@link ModelFormatError} (the runtime is left as it was).
 */
export function loadModel(bytes: Uint8Array, opts: LoadOptions = {}): Sequential {
  const rt = opts.runtime ?? runtime();
  const r = ContainerReader.open(bytes, MODEL_MAGIC, [MODEL_VERSION]);
  const h = r.header;
  if (h.format !== 'vardrop-model') bad('header.format', '"vardrop-model"', show(h.format));
  const inputSize = checkShapeField('header.inputShape', h.inputShape, MAX_ELEMENTS, 1);
  if ((h.inputShape as number[]).length === 0 || inputSize === 0) bad('header.inputShape', 'a non-empty shape', show(h.inputShape));
  if (!isInt(h.seed) || h.seed > 0xffffffff) bad('header.seed', 'an integer in [0, 2^32 − 1]', show(h.seed));
  if (!Array.isArray(h.layers) || h.layers.length === 0 || h.layers.length > 10000) bad('header.layers', 'a non-empty array of at most 10000 layers', show(h.layers));
  const payloadFloats = r.payloadBytes / 4;

  // 1. Construct the layers (constructors allocate nothing) and check each weight map fits the payload.
  const layers: Layer[] = [];
  let shape: Shape | null = h.inputShape as number[];
  (h.layers as unknown[]).forEach((e, i) => {
    const f = `header.layers[${i}]`;
    if (!isObject(e)) bad(f, 'a layer object', show(e));
    if (typeof e.className !== 'string') bad(`${f}.className`, 'a string', show(e.className));
    // (builtinLayers is read here so bundlers keep the built-in classes registered.)
    const make = builtinLayers.length ? layerRegistry.get(e.className) : undefined;
    if (!make) bad(`${f}.className`, `a registered layer class (${[...layerRegistry.keys()].join(', ')})`, show(e.className));
    if (!isObject(e.options)) bad(`${f}.options`, 'an object', show(e.options));
    if (!Array.isArray(e.params)) bad(`${f}.params`, 'an array', show(e.params));
    let layer: Layer;
    try {
      layer = make(e.options);
      const d = shape ? dryRun(layer, shape) : null;
      if (d) {
        if (d.weights > payloadFloats) bad(`${f}.options`, `weights fitting the payload (at most ${payloadFloats} floats)`, `${d.weights} weights`);
        checkShapeField(`${f}.options`, d.out.slice(), MAX_ELEMENTS);
      }
      shape = d ? d.out : null;
    } catch (err) {
      asFormatError(`${f}.options`, err);
    }
    layers.push(layer);
  });

  // 2. Build (allocates parameters), then check and copy every segment; free everything on failure.
  let model: Sequential | null = null;
  try {
    try {
      model = new Sequential({ inputShape: h.inputShape as number[], seed: h.seed, layers, runtime: rt });
    } catch (err) {
      asFormatError('header.layers', err);
    }
    model.layers.forEach((l, i) => {
      const e = (h.layers as Record<string, unknown>[])[i];
      const f = `header.layers[${i}]`;
      const ps = l.params();
      const entries = e.params as unknown[];
      if (entries.length !== ps.length) bad(`${f}.params`, `${ps.length} parameter groups (${ps.map((p) => paramKey(p.name)).join(', ')})`, `${entries.length}`);
      ps.forEach((p, k) => {
        const v = readTensorEntry(r, `${f}.params[${k}]`, entries[k], paramKey(p.name), p.value.shape);
        p.value.set(v);
      });
      if (l instanceof BatchNorm) {
        if (!Array.isArray(e.state) || e.state.length !== 2) bad(`${f}.state`, 'running mean and variance', show(e.state));
        const c = l.outputShape[l.outputShape.length - 1];
        const mean = readTensorEntry(r, `${f}.state[0]`, e.state[0], 'runningMean', [c]);
        const variance = readTensorEntry(r, `${f}.state[1]`, e.state[1], 'runningVar', [c]);
        for (let j = 0; j < c; j++) if (!(variance[j] >= 0)) bad(`${f}.state[1][${j}]`, 'a variance >= 0', String(variance[j]));
        l.setRunningStats(mean, variance);
      } else if (e.state !== undefined) {
        bad(`${f}.state`, 'no state for this layer class', show(e.state));
      }
    });
    return model;
  } catch (err) {
    (model as Sequential | null)?.dispose();
    if (!model) for (const l of layers) if (l.built) l.dispose();
    if (err instanceof OutOfMemoryError) throw new ModelFormatError('header.layers', 'parameters fitting in wasm memory', err.received);
    throw err;
  }
}

/** Read a `{name, shape, offset, length}` entry whose name and shape must be `name` and `shape`. */
function readTensorEntry(r: ContainerReader, f: string, e: unknown, name: string, shape: Shape): Float32Array {
  if (!isObject(e)) bad(f, 'a parameter entry {name, shape, offset, length}', show(e));
  if (e.name !== name) bad(`${f}.name`, JSON.stringify(name), show(e.name));
  const n = checkShapeField(`${f}.shape`, e.shape);
  const s = e.shape as number[];
  if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) bad(`${f}.shape`, `[${shape.join(', ')}] (the rebuilt layer's)`, show(s));
  return r.read(f, e, 'f32', n);
}
