import { ArgumentError, checkInt, describe } from './errors.js';
import { Rng, type Seed } from './ops/noise.js';

// Text → token ids for the recurrent layers: a simple tokenizer, a vocabulary with a size cap,
// padding to a fixed length, and bucketing by length. Id 0 is padding, id 1 the unknown word.

/** Id of padding (an {@link Embedding} with `maskZero` maps it to zeros). */
export const PAD_ID = 0;
/** Id of every word outside the vocabulary. */
export const UNKNOWN_ID = 1;

/** Options of {@link tokenize}. */
export interface TokenizeOptions {
  /** Lower-case the text first (default true). */
  lowercase?: boolean;
  /** Drop tokens shorter than this many characters (default 1). */
  minLength?: number;
  /** Drop tokens longer than this (default 30: base64 blobs, long URLs). */
  maxLength?: number;
}

/**
 * Split text into word tokens: runs of letters and digits (Unicode), keeping inner apostrophes
 * (`don't`); everything else separates tokens.
 */
export function tokenize(text: string, opts: TokenizeOptions = {}): string[] {
  if (typeof text !== 'string') throw new ArgumentError('text', 'a string', describe(text));
  const lo = checkInt('minLength', opts.minLength ?? 1, 1), hi = checkInt('maxLength', opts.maxLength ?? 30, lo);
  const s = opts.lowercase ?? true ? text.toLowerCase() : text;
  const out: string[] = [];
  for (const m of s.matchAll(/[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*/gu)) {
    const w = m[0];
    if (w.length >= lo && w.length <= hi) out.push(w);
  }
  return out;
}

/** Options of {@link buildVocabulary}. */
export interface VocabularyOptions {
  /** Size cap including the padding and unknown ids (default 10 000; at least 3). */
  maxSize?: number;
  /** Words seen fewer times than this are left out (default 1). */
  minCount?: number;
}

/** A word ↔ id map: id 0 padding, id 1 unknown, then words by falling count (ties by first appearance). */
export class Vocabulary {
  readonly words: readonly string[];
  private readonly ids: Map<string, number>;

  constructor(words: readonly string[]) {
    this.words = ['<pad>', '<unk>', ...words];
    this.ids = new Map(words.map((w, i) => [w, i + 2]));
  }

  /** Number of ids (the `inputDim` of an embedding over it). */
  get size(): number {
    return this.words.length;
  }

  /** The id of `word` ({@link UNKNOWN_ID} when absent). */
  id(word: string): number {
    return this.ids.get(word) ?? UNKNOWN_ID;
  }

  /** Token ids of a token list. */
  encode(tokens: readonly string[]): Int32Array {
    return Int32Array.from(tokens, (t) => this.id(t));
  }
}

/** The vocabulary of tokenised documents: the `maxSize − 2` most frequent words seen at least `minCount` times. */
export function buildVocabulary(docs: readonly (readonly string[])[], opts: VocabularyOptions = {}): Vocabulary {
  if (!Array.isArray(docs)) throw new ArgumentError('docs', 'an array of token arrays', describe(docs));
  const maxSize = checkInt('maxSize', opts.maxSize ?? 10000, 3, 2 ** 24);
  const minCount = checkInt('minCount', opts.minCount ?? 1, 1);
  const count = new Map<string, number>();
  for (const d of docs) for (const w of d) count.set(w, (count.get(w) ?? 0) + 1);
  // Map iteration is insertion order, and the sort is stable: ties stay by first appearance.
  const words = [...count].filter(([, c]) => c >= minCount).sort((a, b) => b[1] - a[1]).slice(0, maxSize - 2).map(([w]) => w);
  return new Vocabulary(words);
}

/** Options of {@link padSequences}. */
export interface PadOptions {
  /** Pad at the start (`'pre'`, default: the last state then follows the text's end) or the end (`'post'`). */
  padding?: 'pre' | 'post';
  /** Keep the last `length` ids of a longer sequence (`'pre'` drops from the start, default) or the first (`'post'`). */
  truncating?: 'pre' | 'post';
}

/**
 * Sequences of ids as one row-major Float32Array [n, length] (the input of an
 * {@link Embedding}), padded with {@link PAD_ID} and truncated to `length`.
 */
export function padSequences(seqs: readonly ArrayLike<number>[], length: number, opts: PadOptions = {}): Float32Array {
  const L = checkInt('length', length, 1);
  const out = new Float32Array(seqs.length * L);
  seqs.forEach((s, i) => {
    const n = Math.min(s.length, L);
    const from = (opts.truncating ?? 'pre') === 'pre' ? s.length - n : 0;
    const at = (opts.padding ?? 'pre') === 'pre' ? L - n : 0;
    for (let j = 0; j < n; j++) out[i * L + at + j] = s[from + j];
  });
  return out;
}

/**
 * Batches of sequence indices grouped by length: the indices sorted by length (ties in a seeded
 * random order), cut into batches of `batchSize`, the batches in seeded random order. Each
 * batch's `length` is its longest member's, capped at `maxLength`, so padding to it wastes
 * little. `seed`: see {@link Seed}.
 */
export function bucketByLength(lengths: ArrayLike<number>, batchSize: number, seed: Seed, maxLength = Infinity): { indices: Int32Array; length: number }[] {
  const bs = checkInt('batchSize', batchSize, 1);
  const rng = new Rng(seed, 0xb0c7);
  const order = rng.shuffle(Int32Array.from({ length: lengths.length }, (_, i) => i));
  const sorted = Int32Array.from([...order].sort((a, b) => lengths[a] - lengths[b]));
  const batches: { indices: Int32Array; length: number }[] = [];
  for (let s = 0; s < sorted.length; s += bs) {
    const indices = sorted.slice(s, s + bs);
    batches.push({ indices, length: Math.max(1, Math.min(maxLength, lengths[indices[indices.length - 1]])) });
  }
  const perm = rng.shuffle(Int32Array.from({ length: batches.length }, (_, i) => i));
  return Array.from(perm, (i) => batches[i]);
}
