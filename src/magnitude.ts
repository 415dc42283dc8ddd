/**
 * Magnitude pruning, the classic baseline to compare Sparse VD with on the same model (Han et
 * al. 2015, "Learning both weights and connections"): zero the weights of smallest |w| of the
 * plain weight layers (`Dense`, `Conv2d`) to a target sparsity, globally or per layer, and
 * optionally prune in rounds with retraining in between, the pruned weights held at zero while
 * the rest recover (the sparsity of round k follows Zhu & Gupta's 2017 cubic schedule,
 * s·(1 − (1 − k/K)³), so early rounds remove the most redundant weights fastest).
 * The result is still a {@link Sequential}: `prune(model)` then stores it as CSR.
 * @module
 */
import { ArgumentError, checkInt, checkNumber, describe } from './errors.js';
import { Sequential } from './model.js';
import { ParamGroup } from './layers/layer.js';
import { FitOptions, History, Targets, fit } from './train.js';

/** Options of {@link magnitudePrune}. */
export interface MagnitudePruneOptions {
  /**
   * Fraction of weights to zero, in [0, 1): one number for every prunable layer, or one per
   * prunable layer (`Dense`/`Conv2d` kernels, first to last; biases are never pruned).
   */
  sparsity: number | readonly number[];
  /**
   * `'global'`: one magnitude threshold across all prunable layers (their weights compete, so
   * layers with many small weights lose more); `'layer'` (default): each layer loses its own
   * fraction. A per-layer `sparsity` array implies `'layer'`.
   */
  scope?: 'global' | 'layer';
}

/** The weights kept by a magnitude pruning: 1 = kept, 0 = pruned, one mask per prunable kernel. */
export class WeightMasks {
  /** @internal */
  constructor(private readonly groups: readonly ParamGroup[], readonly masks: readonly Uint8Array[]) {}

  /** Names of the pruned parameters (`"dense_1/kernel"`, …), in model order. */
  get names(): string[] {
    return this.groups.map((g) => g.name);
  }

  /** Weights kept and weights in all, per masked parameter. */
  counts(): { name: string; kept: number; total: number }[] {
    return this.groups.map((g, i) => ({ name: g.name, kept: this.masks[i].reduce((a, b) => a + b, 0), total: this.masks[i].length }));
  }

  /** Fraction of the masked weights that are pruned. */
  get sparsity(): number {
    let kept = 0, total = 0;
    for (const c of this.counts()) {
      kept += c.kept;
      total += c.total;
    }
    return total ? 1 - kept / total : 0;
  }

  /** Zero the pruned weights again (after an optimizer step moved them). */
  apply(): void {
    this.groups.forEach((g, i) => {
      const m = this.masks[i];
      const v = g.value.view();
      for (let j = 0; j < m.length; j++) if (!m[j]) v[j] = 0;
    });
  }
}

/** The prunable parameter groups of a model: the kernels of its plain weight layers. */
function prunable(model: Sequential): ParamGroup[] {
  return model.params().filter((p) => p.name.endsWith('/kernel'));
}

/** Indices of `a` sorted by |a| ascending (ties by index, so the choice is deterministic). */
function byMagnitude(abs: Float32Array): Uint32Array {
  const idx = Uint32Array.from({ length: abs.length }, (_, i) => i);
  idx.sort((p, q) => abs[p] - abs[q] || p - q);
  return idx;
}

function checkOptions(opts: MagnitudePruneOptions, layers: number): { fractions: number[]; global: boolean } {
  if (!opts || typeof opts !== 'object') throw new ArgumentError('options', 'an options object with sparsity', describe(opts));
  const scope = opts.scope ?? 'layer';
  if (scope !== 'global' && scope !== 'layer') throw new ArgumentError('options.scope', "'global' or 'layer'", describe(scope));
  const s = opts.sparsity;
  if (Array.isArray(s)) {
    if (s.length !== layers) throw new ArgumentError('options.sparsity', `one fraction per prunable layer (${layers})`, describe(s));
    if (scope === 'global') throw new ArgumentError('options.scope', "'layer' with a per-layer sparsity", "'global'");
    return { fractions: s.map((v, i) => checkNumber(`options.sparsity[${i}]`, v, 0, 1)), global: false };
  }
  const f = checkNumber('options.sparsity', s, 0, 1);
  return { fractions: new Array(layers).fill(f), global: scope === 'global' };
}

/**
 * Zero the smallest-magnitude weights of every `Dense` and `Conv2d` kernel of `model`, in place,
 * to the requested sparsity (exactly ⌊fraction·count⌋ weights, already-zero weights counted
 * first). Bayesian layers are not touched: they prune themselves by log α.
 * @param model A trained {@link Sequential} with at least one `Dense` or `Conv2d` layer.
 * @returns The masks, to hold the pruned weights at zero while retraining.
 */
export function magnitudePrune(model: Sequential, opts: MagnitudePruneOptions): WeightMasks {
  if (!(model instanceof Sequential)) throw new ArgumentError('model', 'a Sequential', describe(model));
  const groups = prunable(model);
  if (groups.length === 0) throw new ArgumentError('model', 'a model with Dense or Conv2d layers', 'none');
  const { fractions, global } = checkOptions(opts, groups.length);
  const values = groups.map((g) => g.value.toArray());
  const masks = values.map((v) => new Uint8Array(v.length).fill(1));
  if (global) {
    const total = values.reduce((a, v) => a + v.length, 0);
    const abs = new Float32Array(total);
    const owner = new Uint32Array(total);
    let o = 0;
    values.forEach((v, li) => {
      for (let j = 0; j < v.length; j++, o++) [abs[o], owner[o]] = [Math.abs(v[j]), li];
    });
    const starts = values.map((_, li) => values.slice(0, li).reduce((a, v) => a + v.length, 0));
    const order = byMagnitude(abs);
    const k = Math.floor(fractions[0] * total);
    for (let r = 0; r < k; r++) {
      const at = order[r], li = owner[at];
      masks[li][at - starts[li]] = 0;
    }
  } else {
    values.forEach((v, li) => {
      const order = byMagnitude(v.map(Math.abs));
      const k = Math.floor(fractions[li] * v.length);
      for (let r = 0; r < k; r++) masks[li][order[r]] = 0;
    });
  }
  const wm = new WeightMasks(groups, masks);
  wm.apply();
  return wm;
}

/** Options of {@link pruneAndRetrain}. */
export interface PruneAndRetrainOptions extends MagnitudePruneOptions {
  /** Pruning rounds (default 3); the last reaches the target sparsity. */
  rounds?: number;
  /** Training options of each retraining (its `epochs` are per round). */
  fit: FitOptions;
}

/** Result of {@link pruneAndRetrain}. */
export interface PruneAndRetrainResult {
  /** The final masks (the target sparsity). */
  masks: WeightMasks;
  /** One training history per round. */
  histories: History[];
}

/**
 * Iterative magnitude pruning: `rounds` times, prune to the round's sparsity (cubic schedule up
 * to the target) and retrain with the pruned weights re-zeroed after every optimizer step.
 * @param model A trained {@link Sequential} (prune a converged model, as the method assumes).
 * @param x Training inputs, as for {@link fit}.
 * @param y Training targets, as for {@link fit}.
 */
export function pruneAndRetrain(model: Sequential, x: Float32Array, y: Targets, opts: PruneAndRetrainOptions): PruneAndRetrainResult {
  if (!(model instanceof Sequential)) throw new ArgumentError('model', 'a Sequential', describe(model));
  const rounds = checkInt('options.rounds', opts?.rounds ?? 3, 1, 1000);
  if (!opts.fit || typeof opts.fit !== 'object') throw new ArgumentError('options.fit', 'training options (epochs per round, …)', describe(opts.fit));
  const { fractions } = checkOptions(opts, prunable(model).length); // validate before changing anything
  model.checkX(x);
  const histories: History[] = [];
  let masks: WeightMasks | null = null;
  for (let k = 1; k <= rounds; k++) {
    const ramp = 1 - (1 - k / rounds) ** 3;
    const sparsity = Array.isArray(opts.sparsity) ? fractions.map((f) => f * ramp) : fractions[0] * ramp;
    masks = magnitudePrune(model, { sparsity, scope: opts.scope });
    const m = masks;
    const user = opts.fit.onBatchEnd;
    histories.push(fit(model, x, y, {
      ...opts.fit,
      onBatchEnd: (b, loss) => {
        m.apply();
        user?.(b, loss);
      },
    }));
    m.apply(); // a best-weights restore of early stopping brings back the masked weights of its epoch
  }
  return { masks: masks!, histories };
}
