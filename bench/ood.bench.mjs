// Out-of-distribution detection: MNIST models scored on MNIST-test (in distribution) against
// Fashion-MNIST-test (../shared/data/fashion-mnist, never seen in training), AUROC of predictive
// entropy and of mutual information (higher on the OOD set = detected). Models: the SGLD ensemble
// and its student from sgld-mnist (bench/mnist-bayes.mjs, trained if not saved), a Sparse VD
// LeNet-300-100 (20 MC draws), a deep ensemble of 5 784-400-400-10 nets, MC dropout (p = 0.5
// after each hidden layer, 20 draws) and a plain net (one network's softmax entropy; its MI is 0).
// BENCH_EPOCHS, BENCH_TRAIN as in sgld-mnist.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as vd from '../dist/index.js';
import { EPOCHS, mlp, mnist, models } from './mnist-bayes.mjs';
import { report } from './peers.mjs';

const { Sequential, Dense, ReLU, Dropout, SparseVDDense, Adam, SGD, fit, Ensemble, parseIdx, schedules } = vd;
const here = path.dirname(new URL(import.meta.url).pathname);
const fm = path.resolve(here, '..', '..', 'shared', 'data', 'fashion-mnist');
const img = parseIdx(new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(fm, 't10k-images-idx3-ubyte.gz')))));
const xo = Float32Array.from(img.data, (v) => v / 255);

/** AUROC of scores `a` (in distribution, label 0) vs `b` (OOD, label 1): P(b > a) + ½P(b = a). */
function auroc(a, b) {
  const all = [...Array.from(a, (v) => [v, 0]), ...Array.from(b, (v) => [v, 1])].sort((p, q) => p[0] - q[0]);
  let rank = 0, sumB = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j][0] === all[i][0]) j++;
    const r = (i + j + 1) / 2; // average rank (1-based) of the tie group
    for (let k = i; k < j; k++) if (all[k][1] === 1) sumB += r;
    rank += j - i;
    i = j;
  }
  const nb = b.length, na = a.length;
  return (sumB - (nb * (nb + 1)) / 2) / (na * nb);
}

const d = await mnist();
const m = await models(d);
const score = (name, e) => {
  const pi = e.predictProba(d.xt), po = e.predictProba(xo);
  report({ bench: 'ood', case: name, aurocEntropy: Math.round(auroc(pi.predictiveEntropy, po.predictiveEntropy) * 1e4) / 1e4,
    aurocMI: Math.round(auroc(pi.mutualInformation, po.mutualInformation) * 1e4) / 1e4, members: e.size, epochs: EPOCHS, train: d.n });
  e.dispose();
};
score('sgld-ensemble', m.teacher);
score('student', Ensemble.fromModels([m.student]));
score('plain', Ensemble.fromModels([m.sgd]));
const opt = { epochs: EPOCHS, batchSize: 100, progress: false };
const svd = new Sequential({ inputShape: [784], seed: 4, layers: [new SparseVDDense({ units: 300 }), new ReLU(), new SparseVDDense({ units: 100 }), new ReLU(), new SparseVDDense({ units: 10 })] });
fit(svd, d.x, d.y, { ...opt, optimizer: new Adam({ lr: 1e-3 }), klWeight: schedules.linear({ start: EPOCHS / 10, end: EPOCHS / 2.5 }) });
score('sparse-vd', Ensemble.fromMonteCarlo(svd, { samples: 20, seed: 1 }));
const ms = [0, 1, 2, 3, 4].map((k) => {
  const n = mlp(10 + k);
  fit(n, d.x, d.y, { ...opt, optimizer: new SGD({ lr: 0.05, momentum: 0.9 }), seed: 10 + k });
  return n;
});
score('deep-ensemble', Ensemble.fromModels(ms));
const drop = mlp(20, () => [new Dropout({ rate: 0.5 })]);
fit(drop, d.x, d.y, { ...opt, optimizer: new SGD({ lr: 0.05, momentum: 0.9 }) });
score('mc-dropout', Ensemble.fromMonteCarlo(drop, { samples: 20, seed: 2, dropout: true }));
for (const x of [svd, drop, ...ms, m.sgd, m.student]) x.dispose();
