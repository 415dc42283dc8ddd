import { describe, expect, it } from 'vitest';
import { PAD_ID, UNKNOWN_ID, buildVocabulary, bucketByLength, padSequences, tokenize } from '../src/text.js';
import { emailText, spamAssassinTask } from '../src/sequence-data.js';
import { ArgumentError } from '../src/errors.js';

describe('text to token ids', () => {
  it('tokenize: lower-cased words and numbers, inner apostrophes kept, length limits', () => {
    expect(tokenize("Don't PAY $100 now!!! Ünïcode-ok, a_b")).toEqual(["don't", 'pay', '100', 'now', 'ünïcode', 'ok', 'a', 'b']);
    expect(tokenize('a bb ccc', { minLength: 2, maxLength: 2 })).toEqual(['bb']);
    expect(tokenize('Keep Case', { lowercase: false })).toEqual(['Keep', 'Case']);
    expect(() => tokenize(3 as unknown as string)).toThrow(ArgumentError);
  });

  it('buildVocabulary: by falling count, ties by first appearance, capped, minCount; unknown words → 1', () => {
    const docs = [['b', 'a', 'c', 'a'], ['c', 'd', 'a', 'e']];
    const v = buildVocabulary(docs, { maxSize: 5 });
    expect(v.words).toEqual(['<pad>', '<unk>', 'a', 'c', 'b']);
    expect(v.size).toBe(5);
    expect(Array.from(v.encode(['a', 'b', 'zzz', 'e']))).toEqual([2, 4, UNKNOWN_ID, UNKNOWN_ID]);
    expect(buildVocabulary(docs, { minCount: 2 }).words).toEqual(['<pad>', '<unk>', 'a', 'c']);
    expect(() => buildVocabulary(docs, { maxSize: 2 })).toThrow(ArgumentError);
  });

  it('padSequences: pre/post padding and truncation', () => {
    const s = [[5, 6, 7], [8], [1, 2, 3, 4, 9]];
    expect(Array.from(padSequences(s, 4))).toEqual([0, 5, 6, 7, 0, 0, 0, 8, 2, 3, 4, 9]);
    expect(Array.from(padSequences(s, 4, { padding: 'post', truncating: 'post' }))).toEqual([5, 6, 7, 0, 8, 0, 0, 0, 1, 2, 3, 4]);
    expect(PAD_ID).toBe(0);
  });

  it('bucketByLength: every index once, batches sorted by length, seeded', () => {
    const lengths = Array.from({ length: 23 }, (_, i) => (i * 7) % 11 + 1);
    const b = bucketByLength(lengths, 5, 3);
    expect(b.length).toBe(5);
    const all = b.flatMap((x) => Array.from(x.indices)).sort((p, q) => p - q);
    expect(all).toEqual([...Array(23).keys()]);
    for (const x of b) expect(x.length).toBe(Math.max(...Array.from(x.indices, (i) => lengths[i])));
    // The buckets partition the sorted order: each one's lengths lie within its own range.
    const ranges = b.map((x) => [Math.min(...Array.from(x.indices, (i) => lengths[i])), x.length]).sort((p, q) => p[0] - q[0] || p[1] - q[1]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThanOrEqual(ranges[i - 1][1]);
    expect(bucketByLength(lengths, 5, 3)).toEqual(b);
    expect(bucketByLength(lengths, 5, 3, 4).every((x) => x.length <= 4)).toBe(true);
  });

  it('spamAssassinTask: stratified seeded split, vocabulary from the train part, padded ids; emailText', () => {
    const records = Array.from({ length: 20 }, (_, i) => ({ group: i % 4 === 0 ? 'spam-1' : 'easy-ham-1', text: `Subject: w${i}\n\nbody${i % 3} shared` }));
    const t = spamAssassinTask(records, { length: 4, testFraction: 0.25, seed: 3 });
    expect(t.train.n + t.test.n).toBe(20);
    expect(t.test.n).toBe(5);
    expect(Array.from(t.test.labels).filter((v) => v === 1).length).toBe(1); // 5 spam of 20, stratified
    expect(t.train.shape).toEqual([4]);
    expect(t.vocabulary.id('shared')).toBe(2); // the most frequent train word
    expect(t.train.x.length).toBe(t.train.n * 4);
    expect(spamAssassinTask(records, { length: 4, testFraction: 0.25, seed: 3 })).toEqual(t);
    const e = emailText('From: x@y\nSubject: Cheap <b>meds</b>\nX-Y: z\n\n<html>Buy <i>now</i></html>');
    expect(tokenize(e)).toEqual(['cheap', 'meds', 'buy', 'now']);
  });
});
