import { LayerConfig, registerLayer } from './layer.js';
import {
  VariationalDropoutConv2d, VariationalDropoutConv2dOptions, VariationalDropoutDense, VariationalDropoutDenseOptions,
} from './variational-dropout.js';

/**
 * Structured (group) sparsity: one learnt noise scale α per output unit (neuron or channel),
 * shared by all its incoming weights, against the log-uniform prior; log α may grow to 8, and
 * units with log α ≥ threshold (default 3) are removed whole at inference and when pruning.
 */
export class GroupSparseVDDense extends VariationalDropoutDense {
  constructor(opts: Omit<VariationalDropoutDenseOptions, 'alpha'>) {
    super({ ...opts, alpha: 'unit' }, { logAlphaRange: [-8, 8], threshold: 3 });
  }
  config(): LayerConfig {
    const { alpha: _a, ...o } = this.opts;
    return { className: 'GroupSparseVDDense', options: o };
  }
}

/** Channel-wise structured sparsity for convolutions (see {@link GroupSparseVDDense}). */
export class GroupSparseVDConv2d extends VariationalDropoutConv2d {
  constructor(opts: Omit<VariationalDropoutConv2dOptions, 'alpha'>) {
    super({ ...opts, alpha: 'unit' }, { logAlphaRange: [-8, 8], threshold: 3 });
  }
  config(): LayerConfig {
    const { alpha: _a, ...o } = this.opts;
    return { className: 'GroupSparseVDConv2d', options: o };
  }
}

registerLayer('GroupSparseVDDense', (o) => new GroupSparseVDDense(o as unknown as VariationalDropoutDenseOptions));
registerLayer('GroupSparseVDConv2d', (o) => new GroupSparseVDConv2d(o as unknown as VariationalDropoutConv2dOptions));
