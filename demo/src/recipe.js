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
 * The Sparse VD recipe shortened to `epochs` over `n` training images: Adam at 3e-3, β rising
 * from 0 to 1 over the whole run (KL annealing), the learning rate decaying to 0 over the second
 * half. Measured on 6000 images, 2 epochs of batch 50, 2000 test images: 86.30% at 33x, where
 * lr 1e-3 with β reaching 1 after a quarter of the run gave 82.85% at 28x (the pruning pressure
 * of β = 1 on so few images outruns the fit). The caller disposes `optimizer`.
 */
export function demoTraining({ epochs, n }) {
  const lr = 3e-3;
  return {
    optimizer: new Adam({ lr, eps: 1e-8 / n }),
    klWeight: schedules.linear({ start: 0, end: epochs }),
    lr: schedules.linearDecay(lr, { start: epochs / 2, end: epochs }),
  };
}
