import { ArgumentError, describe } from './errors.js';
import { gaussian, uniform } from './ops/noise.js';
import { Tensor } from './tensor.js';

/**
 * How to fill a weight tensor. Glorot (Xavier) keeps the variance of activations and gradients
 * equal across layers for tanh/sigmoid; He doubles it for ReLU.
 * - `'glorotUniform'`: U(−l, l), l = sqrt(6 / (fanIn + fanOut))
 * - `'glorotNormal'`: N(0, 2 / (fanIn + fanOut))
 * - `'heUniform'`: U(−l, l), l = sqrt(6 / fanIn)
 * - `'heNormal'`: N(0, 2 / fanIn)
 * - `'zeros'`, `{ constant: c }`, `{ normal: { mean, std } }`, `{ uniform: { min, max } }`
 */
export type Initializer =
  | 'glorotUniform' | 'glorotNormal' | 'heUniform' | 'heNormal' | 'zeros'
  | { constant: number }
  | { normal: { mean?: number; std: number } }
  | { uniform: { min: number; max: number } };

/**
 * Fill `t` by `init`, drawing from the wasm generator with `seed` and `stream` (so the same
 * seed gives the same weights everywhere). `fanIn`/`fanOut` are the inputs feeding one output
 * and the outputs fed by one input.
 */
export function initialize(t: Tensor, init: Initializer, fanIn: number, fanOut: number, seed: number, stream: number): void {
  const spec = resolve(init, fanIn, fanOut);
  if (spec.kind === 'constant') {
    t.view().fill(spec.a);
    return;
  }
  if (spec.kind === 'uniform') uniform(t, seed, { stream });
  else gaussian(t, seed, { stream });
  // Affine map of the draws; plain IEEE arithmetic, the same in every engine.
  const v = t.view();
  for (let i = 0; i < v.length; i++) v[i] = spec.a * v[i] + spec.b;
}

function resolve(init: Initializer, fanIn: number, fanOut: number): { kind: 'constant' | 'uniform' | 'normal'; a: number; b: number } {
  switch (init) {
    case 'glorotUniform': {
      const l = Math.sqrt(6 / (fanIn + fanOut));
      return { kind: 'uniform', a: 2 * l, b: -l };
    }
    case 'glorotNormal':
      return { kind: 'normal', a: Math.sqrt(2 / (fanIn + fanOut)), b: 0 };
    case 'heUniform': {
      const l = Math.sqrt(6 / fanIn);
      return { kind: 'uniform', a: 2 * l, b: -l };
    }
    case 'heNormal':
      return { kind: 'normal', a: Math.sqrt(2 / fanIn), b: 0 };
    case 'zeros':
      return { kind: 'constant', a: 0, b: 0 };
  }
  if (init && typeof init === 'object') {
    if ('constant' in init && Number.isFinite(init.constant)) return { kind: 'constant', a: init.constant, b: 0 };
    if ('normal' in init && Number.isFinite(init.normal?.std) && init.normal.std >= 0 && Number.isFinite(init.normal.mean ?? 0)) {
      return { kind: 'normal', a: init.normal.std, b: init.normal.mean ?? 0 };
    }
    if ('uniform' in init && Number.isFinite(init.uniform?.min) && Number.isFinite(init.uniform?.max) && init.uniform.max >= init.uniform.min) {
      return { kind: 'uniform', a: init.uniform.max - init.uniform.min, b: init.uniform.min };
    }
  }
  throw new ArgumentError('init', "'glorotUniform' | 'glorotNormal' | 'heUniform' | 'heNormal' | 'zeros' | {constant} | {normal:{mean,std}} | {uniform:{min,max}}", describe(JSON.stringify(init)));
}
