/**
 * Weights in the safetensors format (Hugging Face), so a model trained elsewhere (PyTorch at
 * scale: θ, log σ², biases, batch-norm statistics) can be loaded into a {@link Sequential},
 * pruned and served here, and a model trained here can be read by any safetensors reader.
 *
 * File layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON mapping each tensor name to
 * `{dtype, shape, data_offsets: [begin, end]}` (byte offsets into the buffer that follows, plus
 * an optional string-to-string `__metadata__`), then the byte buffer. Reading validates the whole
 * header against the file's own length before anything is allocated, so a hostile file costs
 * at most a bounded multiple of its size; every fault is a {@link ModelFormatError}.
 * @module
 */
import { ArgumentError, ModelFormatError, ShapeError, describe } from '../errors.js';
import { Shape, fmtShape } from '../tensor.js';
import { Sequential } from '../model.js';
import { BatchNorm } from '../layers/normalization.js';

/** Element types read (converted to float32) and their sizes in bytes. */
const DTYPE_BYTES = { F32: 4, F64: 8, F16: 2, BF16: 2 } as const;
/** A dtype {@link readSafetensors} accepts. */
export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

/** Largest header accepted (bytes), as the reference implementation (100 MB). */
const MAX_HEADER = 100_000_000;

/** One tensor of a safetensors file, as float32. */
export interface NamedTensor {
  /** Dimensions, row-major (C order). */
  shape: Shape;
  /** Values, `shape` product of them. */
  data: Float32Array;
}

function bad(field: string, expected: string, received: string): never {
  throw new ModelFormatError(field, expected, received);
}

function brief(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (Array.isArray(v)) return v.length <= 8 ? JSON.stringify(v) : `Array(${v.length})`;
  return describe(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** float16 bits → float32 value (subnormals, ±∞ and NaN included). */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Parse and validate a safetensors file: header length inside the file, UTF-8 JSON object,
 * every entry a known dtype (F32, F64, F16, BF16; converted to float32) with integer dimensions
 * whose byte size equals its `data_offsets` span, spans inside the buffer, not overlapping and
 * covering it without holes, and finite values after conversion. Throws {@link ModelFormatError}
 * naming the field at fault (an {@link ArgumentError} when `bytes` is not a `Uint8Array`).
 * @param bytes The whole file.
 * @returns Tensors by name, in file order, and the string metadata (empty when absent).
 */
export function readSafetensors(bytes: Uint8Array): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError('bytes', 'a Uint8Array holding a safetensors file', describe(bytes));
  const n = bytes.length;
  if (n < 8) bad('file', 'at least 8 bytes (the header length)', `${n} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n);
  const lo = dv.getUint32(0, true), hi = dv.getUint32(4, true);
  const hLen = hi * 2 ** 32 + lo;
  if (hLen < 2 || hLen > Math.min(MAX_HEADER, n - 8)) bad('headerLength', `2 to ${Math.min(MAX_HEADER, n - 8)} bytes (within the file)`, `${hLen} bytes`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + hLen)));
  } catch (e) {
    bad('header', 'UTF-8 JSON', (e as Error).message);
  }
  if (!isPlainObject(header)) bad('header', 'a JSON object', brief(header));
  const start = 8 + hLen, bufLen = n - start;
  const metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  const entries: [string, SafetensorsDtype, number[], number, number][] = [];
  for (const [name, e] of Object.entries(header)) {
    const f = `header[${JSON.stringify(name.length > 60 ? name.slice(0, 60) + '…' : name)}]`;
    if (name === '__metadata__') {
      if (!isPlainObject(e)) bad(f, 'an object of strings', brief(e));
      for (const [k, v] of Object.entries(e)) {
        if (typeof v !== 'string') bad(`${f}.${k}`, 'a string', brief(v));
        metadata[k] = v;
      }
      continue;
    }
    if (!isPlainObject(e)) bad(f, 'a tensor entry {dtype, shape, data_offsets}', brief(e));
    const dtype = e.dtype;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) bad(`${f}.dtype`, `one of ${Object.keys(DTYPE_BYTES).join(', ')}`, brief(dtype));
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.length > 8) bad(`${f}.shape`, 'an array of at most 8 dimensions', brief(shape));
    let count = 1;
    for (const d of shape) {
      if (!(typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) bad(`${f}.shape`, 'non-negative integer dimensions', brief(shape));
      count *= d;
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
      bad(`${f}.data_offsets`, '[begin, end] byte offsets', brief(off));
    }
    const [b, end] = off as number[];
    if (!(b <= end && end <= bufLen)) bad(`${f}.data_offsets`, `begin <= end <= ${bufLen} (the buffer)`, brief(off));
    const size = DTYPE_BYTES[dtype as SafetensorsDtype];
    if (count * size !== end - b) bad(`${f}.data_offsets`, `${count}·${size} = ${count * size} bytes for shape ${brief(shape)}`, `${end - b} bytes`);
    spans.push([b, end, f]);
    entries.push([name, dtype as SafetensorsDtype, shape as number[], b, count]);
  }
  // The format requires the spans to tile the buffer: sorted, each starting where the last ended.
  spans.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  let at = 0;
  for (const [b, end, f] of spans) {
    if (b !== at) bad(`${f}.data_offsets`, `a span starting at byte ${at} (no holes or overlaps)`, `${b}`);
    at = end;
  }
  if (at !== bufLen) bad('buffer', `${at} bytes (the tensors' spans)`, `${bufLen} bytes`);

  const tensors = new Map<string, NamedTensor>();
  for (const [name, dtype, shape, b, count] of entries) {
    const data = new Float32Array(count);
    const p = start + b;
    for (let i = 0; i < count; i++) {
      let v: number;
      switch (dtype) {
        case 'F32': v = dv.getFloat32(p + 4 * i, true); break;
        case 'F64': v = Math.fround(dv.getFloat64(p + 8 * i, true)); break;
        case 'F16': v = halfToFloat(dv.getUint16(p + 2 * i, true)); break;
        case 'BF16': v = bf16(dv.getUint16(p + 2 * i, true)); break;
      }
      if (v - v !== 0) bad(`header[${JSON.stringify(name)}][${i}]`, 'a finite value (as float32)', String(v));
      data[i] = v;
    }
    tensors.set(name, { shape: shape.slice(), data });
  }
  return { tensors, metadata };
}

const bfView = new DataView(new ArrayBuffer(4));
function bf16(h: number): number {
  bfView.setUint32(0, h << 16);
  return bfView.getFloat32(0);
}

/**
 * Write float32 tensors as a safetensors file (dtype F32, little-endian, in the given order,
 * the header padded with spaces to a multiple of 8 bytes as the reference writer does).
 * @param tensors Name → tensor; `data.length` must equal the product of `shape`.
 * @param metadata Optional string-to-string metadata (`__metadata__`).
 */
export function writeSafetensors(tensors: ReadonlyMap<string, NamedTensor> | Record<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = { ...metadata };
  let off = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new ArgumentError('tensors', 'names other than __metadata__', '__metadata__');
    if (!(t?.data instanceof Float32Array)) throw new ArgumentError(`tensors[${name}].data`, 'a Float32Array', describe(t?.data));
    const count = t.shape.reduce((a: number, b: number) => a * b, 1);
    if (count !== t.data.length) throw new ShapeError(`tensors[${name}]`, `${count} values for ${fmtShape(t.shape)}`, `${t.data.length}`);
    header[name] = { dtype: 'F32', shape: t.shape.slice(), data_offsets: [off, off + 4 * count] };
    off += 4 * count;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(padded - json.length));
  const out = new Uint8Array(8 + json.length + off);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, json.length, true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const [, t] of list) {
    for (let i = 0; i < t.data.length; i++) dv.setFloat32(p + 4 * i, t.data[i], true);
    p += 4 * t.data.length;
  }
  return out;
}

/** Options of {@link exportWeights} and {@link importWeights}. */
export interface WeightsOptions {
  /**
   * Layout of weight-shaped tensors (kernels, θ, log σ², per-weight log α) in the file:
   * `'vardrop'` (default) keeps ours, dense [in, out] and convolution [KH, KW, C, F];
   * `'torch'` is PyTorch's, `nn.Linear` [out, in] and `nn.Conv2d` [F, C, KH, KW].
   */
  layout?: 'vardrop' | 'torch';
  /**
   * File name of each of our tensor names (`"sparse_vd_dense_1/theta"`, `".../logSigma2"`,
   * `".../bias"`, `".../kernel"`, batch norm's `".../gamma"`, `".../beta"`, `".../runningMean"`,
   * `".../runningVar"`); a name missing here is used as is. E.g.
   * `{ 'sparse_vd_dense_1/theta': 'fc1.theta', 'sparse_vd_dense_1/logSigma2': 'fc1.log_sigma2' }`.
   */
  names?: Record<string, string>;
}

/** Options of {@link importWeights}. */
export interface ImportWeightsOptions extends WeightsOptions {
  /** Refuse a file holding tensors the model does not use (default true). */
  strict?: boolean;
}

/** One tensor of the model: how to read it out and write it in, and whether it is weight-shaped. */
interface Slot {
  name: string;
  shape: Shape;
  weightShaped: boolean;
  get(): Float32Array;
  set(v: Float32Array): void;
}

function slots(model: Sequential): Slot[] {
  const out: Slot[] = [];
  for (const l of model.layers) {
    const ps = l.params();
    const w = ps.find((p) => /\/(kernel|theta)$/.test(p.name));
    const wShape = w?.value.shape;
    for (const p of ps) {
      const s = p.value.shape;
      const weightShaped = !!wShape && s.length >= 2 && s.length === wShape.length && s.every((d, i) => d === wShape[i]);
      out.push({ name: p.name, shape: s.slice(), weightShaped, get: () => p.value.toArray(), set: (v) => p.value.set(v) });
    }
    if (l instanceof BatchNorm) {
      const c = l.outputShape[l.outputShape.length - 1];
      let pending: Float32Array | null = null;
      out.push({ name: `${l.name}/runningMean`, shape: [c], weightShaped: false, get: () => l.runningStats().mean, set: (v) => (pending = v) });
      out.push({
        name: `${l.name}/runningVar`, shape: [c], weightShaped: false, get: () => l.runningStats().variance,
        set: (v) => l.setRunningStats(pending ?? l.runningStats().mean, v),
      });
    }
  }
  return out;
}

function torchShape(s: Shape): Shape {
  return s.length === 2 ? [s[1], s[0]] : [s[3], s[2], s[0], s[1]];
}

/** Our layout [KH, KW, C, F] / [in, out] → PyTorch's [F, C, KH, KW] / [out, in] (or back). */
function toTorch(v: Float32Array, s: Shape): { data: Float32Array; shape: Shape } {
  const o = new Float32Array(v.length);
  if (s.length === 2) {
    const [k, m] = s;
    for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) o[j * k + i] = v[i * m + j];
    return { data: o, shape: torchShape(s) };
  }
  const [kh, kw, c, f] = s;
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let ci = 0; ci < c; ci++) for (let fi = 0; fi < f; fi++) {
    o[((fi * c + ci) * kh + y) * kw + x] = v[((y * kw + x) * c + ci) * f + fi];
  }
  return { data: o, shape: torchShape(s) };
}

function fromTorch(v: Float32Array, s: Shape): Float32Array {
  const o = new Float32Array(v.length);
  if (s.length === 2) {
    const [k, m] = s;
    for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) o[i * m + j] = v[j * k + i];
    return o;
  }
  const [kh, kw, c, f] = s;
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let ci = 0; ci < c; ci++) for (let fi = 0; fi < f; fi++) {
    o[((y * kw + x) * c + ci) * f + fi] = v[((fi * c + ci) * kh + y) * kw + x];
  }
  return o;
}

function checkLayout(opts: WeightsOptions): 'vardrop' | 'torch' {
  const layout = opts.layout ?? 'vardrop';
  if (layout !== 'vardrop' && layout !== 'torch') throw new ArgumentError('options.layout', "'vardrop' or 'torch'", describe(layout));
  if (opts.names !== undefined && !isPlainObject(opts.names)) throw new ArgumentError('options.names', 'an object of tensor names', describe(opts.names));
  return layout;
}

function fileName(opts: WeightsOptions, ours: string): string {
  const n = opts.names?.[ours];
  if (n !== undefined && typeof n !== 'string') throw new ArgumentError(`options.names[${ours}]`, 'a string', describe(n));
  return n ?? ours;
}

function checkModel(model: unknown): Sequential {
  if (!(model instanceof Sequential)) throw new ArgumentError('model', 'a Sequential', describe(model));
  return model;
}

/**
 * Every parameter (and batch-norm running statistic) of `model` as a safetensors file, named
 * `<layer>/<param>` unless renamed by {@link WeightsOptions.names}, in `layout`.
 * @param model A built {@link Sequential}.
 */
export function exportWeights(model: Sequential, opts: WeightsOptions = {}): Uint8Array {
  checkModel(model);
  const layout = checkLayout(opts);
  const tensors = new Map<string, NamedTensor>();
  for (const s of slots(model)) {
    const name = fileName(opts, s.name);
    if (tensors.has(name)) throw new ArgumentError('options.names', 'distinct file names', `${JSON.stringify(name)} twice`);
    tensors.set(name, layout === 'torch' && s.weightShaped ? toTorch(s.get(), s.shape) : { shape: s.shape, data: s.get() });
  }
  return writeSafetensors(tensors, { format: 'vardrop', layout });
}

/**
 * Load weights from a safetensors file into `model` (the parameters of every layer and the
 * running statistics of batch norms). The file is validated completely, and every tensor the
 * model needs must be present with its shape (in `layout`), before anything is written, so on
 * any error the model keeps its weights. Throws {@link ModelFormatError} for a bad file or a
 * missing, misshapen or (with `strict`) unused tensor.
 * @param model A built {@link Sequential} of the architecture the weights were trained with.
 * @param bytes The safetensors file.
 */
export function importWeights(model: Sequential, bytes: Uint8Array, opts: ImportWeightsOptions = {}): void {
  checkModel(model);
  const layout = checkLayout(opts);
  const { tensors } = readSafetensors(bytes);
  const used = new Set<string>();
  const plan = slots(model).map((s) => {
    const name = fileName(opts, s.name);
    const t = tensors.get(name);
    const f = `tensors[${JSON.stringify(name)}]`;
    if (!t) bad(f, `a tensor for ${s.name} of shape ${fmtShape(s.shape)}`, 'none');
    const want = layout === 'torch' && s.weightShaped ? torchShape(s.shape) : s.shape;
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) bad(`${f}.shape`, fmtShape(want), fmtShape(t.shape));
    if (s.name.endsWith('/runningVar')) {
      for (let i = 0; i < t.data.length; i++) if (!(t.data[i] >= 0)) bad(`${f}[${i}]`, 'a variance >= 0', String(t.data[i]));
    }
    used.add(name);
    return { s, data: layout === 'torch' && s.weightShaped ? fromTorch(t.data, s.shape) : t.data };
  });
  if (opts.strict ?? true) {
    for (const name of tensors.keys()) if (!used.has(name)) bad(`tensors[${JSON.stringify(name)}]`, 'only tensors the model uses (pass strict: false to ignore others)', 'an unused tensor');
  }
  for (const { s, data } of plan) s.set(data);
}
