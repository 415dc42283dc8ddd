import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/tensor.js';
import { ShapeError } from '../src/errors.js';
import { conv2d } from '../src/ops/conv.js';
import { maxPool2d } from '../src/ops/pool.js';
import { checkedWindowOutput, outDim, windowOutputSize } from '../src/ops/geometry.js';

/** Positions of a window of k along an axis of `size` padded by `pad` each side, stride s: counted one by one. */
function positions(size: number, k: number, s: number, pad: number): number {
  let n = 0;
  for (let start = 0; start + k <= size + 2 * pad; start += s) n++;
  return n;
}

describe('window geometry (src/ops/geometry.ts)', () => {
  it('the output size is the number of window positions, for every small size, window, stride and padding', () => {
    for (let size = 1; size <= 9; size++) for (let k = 1; k <= 5; k++) for (let s = 1; s <= 3; s++) for (let pad = 0; pad <= 2; pad++) {
      const want = positions(size, k, s, pad);
      if (want > 0) expect(outDim(size, k, s, pad), `${size} ${k} ${s} ${pad}`).toBe(want);
      const o = windowOutputSize(size, 7, k, 3, s, 2, pad, 1);
      expect(o, `${size} ${k} ${s} ${pad}`).toEqual(want > 0 ? [want, positions(7, 3, 2, 1)] : null);
    }
  });

  it('a window larger than the padded input is a ShapeError naming the argument, from the helper and the ops', () => {
    expect(() => checkedWindowOutput('w', 'a kernel', 3, 3, 4, 1, 1, 1, 0, 0)).toThrow(ShapeError);
    expect(() => checkedWindowOutput('w', 'a kernel', 3, 3, 4, 1, 1, 1, 0, 0)).toThrow(/w.*padded input 3×3/s);
    const rt = Runtime.createSync();
    const x = Tensor.zeros([1, 3, 3, 1], rt);
    expect(() => conv2d(x, Tensor.zeros([5, 1, 1, 2], rt))).toThrow(ShapeError);
    expect(conv2d(x, Tensor.zeros([5, 1, 1, 2], rt), { pad: [1, 0] }).shape).toEqual([1, 1, 3, 2]);
    expect(() => maxPool2d(x, { size: 4 })).toThrow(/size/);
    expect(maxPool2d(x, { size: 2 }).shape).toEqual([1, 1, 1, 1]);
  });
});
