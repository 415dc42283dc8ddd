// The demo's model and training recipe, shared by its worker and by bench/demo.bench.mjs (which
// times the same training with fit in Node).
import { Adam, ReLU, Sequential, SparseVDDense, schedules } from '../../dist/index.js';

/** Sparse VD LeNet-300-100 for 28×28 images given as 784 floats in [0, 1]. */
export function demoModel({ seed, runtime }) {
  return new Sequential({
    inputShape: [784], seed, runtime,
    layers: [new SparseVDDense({ units: 300 }), new ReLU(), new SparseVDDense({ units: 100 }), new ReLU(), new SparseVDDense({ units: 10 })],
  });
}

/**
 * The Sparse VD recipe shortened to `epochs` over `n` training images: Adam, β from 0 to 1 over
 * the first quarter, the learning rate decaying to 0 over the second half. The caller disposes
 * `optimizer`.
 */
export function demoTraining({ epochs, n }) {
  return {
    optimizer: new Adam({ lr: 1e-3, eps: 1e-8 / n }),
    klWeight: schedules.linear({ start: 0, end: Math.max(0.5, epochs / 4) }),
    lr: schedules.linearDecay(1e-3, { start: epochs / 2, end: epochs }),
  };
}
