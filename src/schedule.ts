import { ArgumentError, checkInt, checkNumber, describe } from './errors.js';
// pow and cos come from wasm: engines may round Math.pow/Math.cos differently.
import { cosF64 as cos, powF64 as pow } from './ops/math.js';

/**
 * A value that changes with the epoch (0-based): learning rate or KL weight β.
 * A number is constant; a function gets the epoch and the fraction of it done (0..1).
 */
export type Schedule = number | ((epoch: number, fraction: number) => number);

/** Evaluate a schedule at `epoch` (+ fraction done); the result must be finite and ≥ 0. */
export function evalSchedule(name: string, s: Schedule, epoch: number, fraction = 0): number {
  const v = typeof s === 'number' ? s : s(epoch, fraction);
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ArgumentError(name, 'a schedule giving finite values >= 0', `${describe(v)} at epoch ${epoch}`);
  return v;
}

/** Ready-made schedules. */
export const schedules = {
  /** `value` at every epoch. */
  constant(value: number): Schedule {
    checkNumber('value', value, 0);
    return () => value;
  },
  /**
   * Linear warm-up (the KL weight β of Sparse VD): `from` before epoch `start`, then linear to
   * `to` at epoch `end`, then `to`. The authors' recipe: β = linear({start: 5, end: 20}).
   */
  linear(o: { start: number; end: number; from?: number; to?: number }): Schedule {
    const from = checkNumber('from', o.from ?? 0, 0), to = checkNumber('to', o.to ?? 1, 0);
    const a = checkNumber('start', o.start, 0), b = checkNumber('end', o.end, a);
    return (e, f) => {
      const t = e + f;
      if (t <= a) return from;
      if (t >= b || b === a) return to;
      return from + ((to - from) * (t - a)) / (b - a);
    };
  },
  /** `value` until epoch `start`, then linear to 0 at epoch `end` (the Sparse VD learning rate). */
  linearDecay(value: number, o: { start: number; end: number }): Schedule {
    checkNumber('value', value, 0);
    return schedules.linear({ start: o.start, end: o.end, from: value, to: 0 });
  },
  /** `value` multiplied by `factor` at each epoch listed in `milestones`. */
  step(value: number, o: { milestones: number[]; factor?: number }): Schedule {
    checkNumber('value', value, 0);
    const f = checkNumber('factor', o.factor ?? 0.5, 0);
    if (!Array.isArray(o.milestones)) throw new ArgumentError('milestones', 'an array of epochs', describe(o.milestones));
    const ms = o.milestones.map((m, i) => checkInt(`milestones[${i}]`, m, 0));
    return (e) => value * pow(f, ms.filter((m) => e >= m).length);
  },
  /** value·decay^epoch. */
  exponential(value: number, decay: number): Schedule {
    checkNumber('value', value, 0);
    checkNumber('decay', decay, 0);
    return (e, f) => value * pow(decay, e + f);
  },
  /** Cosine from `value` to `min` over `epochs`. */
  cosine(value: number, epochs: number, min = 0): Schedule {
    checkNumber('value', value, 0);
    checkInt('epochs', epochs, 1);
    return (e, f) => min + 0.5 * (value - min) * (1 + cos((Math.PI * Math.min(e + f, epochs)) / epochs));
  },
};
