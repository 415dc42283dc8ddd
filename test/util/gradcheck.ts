import { expect } from 'vitest';
import { ForwardContext, Layer, ParamGroup } from '../../src/layers/layer.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { Shape, Tensor, sizeOf } from '../../src/tensor.js';
import { lcg, randomArray } from './kernel.js';

export { lcg, randomArray };

/**
 * Finite-difference check of a built layer: f = Σ r ⊙ layer(x) with fixed noise (same ctx),
 * analytic dx and parameter gradients from backward(r) against central differences in f64 of
 * f32 forwards. Checks up to `probes` coordinates per tensor; the error measure is
 * |a − n| / max(1, |a|, |n|) ≤ tol.
 */
export function gradCheck(layer: Layer, rt: Runtime, batchShape: Shape, opts: {
  ctx?: Partial<ForwardContext>; seed?: number; h?: number; tol?: number; probes?: number; xRange?: [number, number];
  skipParams?: string[]; withKl?: boolean;
  /** Columns (last axis) of x set to 0 in every row, e.g. to exercise zero-column skipping. */
  zeroColumns?: number[];
  /** Edits the random input in place before the check (e.g. zero padded steps). */
  prepareX?: (x: Float32Array) => void;
  /** Input coordinates not probed (e.g. padded steps, where the loss is not differentiable). */
  skipX?: (i: number) => boolean;
} = {}): void {
  const rnd = lcg(opts.seed ?? 7);
  const ctx: ForwardContext = { training: true, sample: false, seed: 11, step: 3, ...opts.ctx };
  const h = opts.h ?? 1e-2, tol = opts.tol ?? 2e-2, probes = opts.probes ?? 24;
  const [lo, hi] = opts.xRange ?? [-1, 1];
  const xa = randomArray(sizeOf(batchShape), rnd, lo, hi);
  const last = batchShape[batchShape.length - 1];
  for (const c of opts.zeroColumns ?? []) for (let i = c; i < xa.length; i += last) xa[i] = 0;
  opts.prepareX?.(xa);
  const x = Tensor.from(xa, batchShape, rt);
  const y0 = layer.forward(x, ctx);
  const r = Tensor.from(randomArray(y0.size, rnd), y0.shape, rt);
  const loss = (): number => {
    const y = layer.forward(x, ctx).view(), rv = r.view();
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * rv[i];
    return s + (opts.withKl ? layer.kl() : 0);
  };
  const params: ParamGroup[] = layer.params().filter((p) => !(opts.skipParams ?? []).some((s) => p.name.endsWith(s)));
  for (const p of layer.params()) p.grad.view().fill(0);
  layer.forward(x, ctx);
  const dx = layer.backward(r)!.toArray();
  if (opts.withKl) layer.kl(1);
  const grads = params.map((p) => p.grad.toArray());
  const check = (name: string, t: Tensor, analytic: Float32Array, skip?: (i: number) => boolean): void => {
    const n = t.size;
    const step = Math.max(1, Math.floor(n / probes));
    let worst = 0, where = '';
    for (let i = (Math.floor(rnd() * step)) % step; i < n; i += step) {
      if (skip?.(i)) continue;
      const v = t.view(), old = v[i];
      v[i] = old + h;
      const fp = loss();
      t.view()[i] = old - h;
      const fm = loss();
      t.view()[i] = old;
      const num = (fp - fm) / (2 * h);
      const err = Math.abs(analytic[i] - num) / Math.max(1, Math.abs(analytic[i]), Math.abs(num));
      if (err > worst) {
        worst = err;
        where = `${name}[${i}]: analytic ${analytic[i]}, numeric ${num}`;
      }
    }
    expect(worst, where).toBeLessThan(tol);
  };
  check('x', x, dx, opts.skipX);
  params.forEach((p, i) => check(p.name, p.value, grads[i]));
  x.dispose();
  r.dispose();
}
