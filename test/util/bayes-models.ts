import { Sequential } from '../../src/model.js';
import { GroupSparseVDDense } from '../../src/layers/bayesian.js';
import { lcg, randomArray } from './kernel.js';

// Bayesian models with parameters set for the Monte-Carlo tests (test/sparse-mc*.test.ts).

/**
 * Bayesian parameters with a good share of dropped weights and noticeable noise: Sparse VD
 * log σ² = log θ² + 4 (dropped) or − 2.5 (kept, α ≈ 0.08); variational dropout log α per weight
 * in its range; group sparsity: some units at log α = 5 (removed whole).
 */
export function randomize(m: Sequential, seed: number): void {
  const r = lcg(seed);
  for (const l of m.layers) {
    const ps = l.params();
    for (const p of ps) {
      const key = p.name.slice(p.name.lastIndexOf('/') + 1);
      const n = p.value.size;
      if (key === 'bias') p.value.set(randomArray(n, r, -0.3, 0.3));
      else if (key === 'theta' || key === 'kernel') p.value.set(randomArray(n, r, -1, 1));
    }
    const th = ps.find((p) => p.name.endsWith('/theta'))?.value.toArray();
    const ls = ps.find((p) => p.name.endsWith('/logSigma2'));
    if (th && ls) ls.value.set(th.map((t) => Math.log(t * t + 1e-8) + (r() < 0.6 ? 4 : -2.5)));
    const la = ps.find((p) => p.name.endsWith('/logAlpha'));
    if (la) la.value.set(la.value.toArray().map(() => (l instanceof GroupSparseVDDense ? (r() < 0.3 ? 5 : -3) : -6 + 6 * r())));
  }
}

