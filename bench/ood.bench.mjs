// Out-of-distribution detection: MNIST models scored on MNIST-test (in distribution) against
// Fashion-MNIST-test (../shared/data/fashion-mnist, never seen in training), AUROC of predictive
// entropy and of mutual information (higher on the OOD set = detected). Models: the SGLD ensemble
// and its student from sgld-mnist (bench/mnist-bayes.mjs, trained if not saved); plain = that
// run's SGD baseline (one network's softmax entropy; its MI is 0); a Sparse VD LeNet-300-100 (20
// MC draws): the full-recipe model of `npm run bench -- svd-lenet300` (bench/out/svd-lenet300.vdrp)
// when it is there, else one trained here on the recipe compressed to 4E/5 epochs; a deep
// ensemble of 5 784-400-400-10 nets (E/15 epochs each, SGD lr 0.05 momentum 0.9 decaying
// linearly to 0 over the second half), MC dropout (p = 0.5 after each hidden layer, 2E/15 epochs
// with the same schedule, 20 draws). The nets trained here are kept under bench/out/ too.
// BENCH_EPOCHS (E), BENCH_TRAIN as in sgld-mnist.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as vd from '../dist/index.js';
import { EPOCHS, SGD_EPOCHS, mlp, mnist, models, out } from './mnist-bayes.mjs';
import { report } from './peers.mjs';

const { Sequential, ReLU, Dropout, SparseVDDense, Adam, SGD, fit, Ensemble, parseIdx, schedules, saveModel, loadModel } = vd;
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
const score = (name, e, extra = {}) => {
  const pi = e.predictProba(d.xt), po = e.predictProba(xo);
  report({ bench: 'ood', case: name, aurocEntropy: Math.round(auroc(pi.predictiveEntropy, po.predictiveEntropy) * 1e4) / 1e4,
    aurocMI: Math.round(auroc(pi.mutualInformation, po.mutualInformation) * 1e4) / 1e4, members: e.size, epochs: EPOCHS, train: d.n, ...extra });
  e.dispose();
};
score('sgld-ensemble', m.teacher);
score('student', Ensemble.fromModels([m.student]));
score('plain', Ensemble.fromModels([m.sgd]), { epochs: SGD_EPOCHS });

/** The net saved as bench/out/…-`name`.vdrp, or `make()` trained now and saved there. */
const cached = (name, make) => {
  const f = out(`${name}.vdrp`);
  if (fs.existsSync(f)) return loadModel(new Uint8Array(fs.readFileSync(f)));
  const net = make();
  fs.writeFileSync(f, saveModel(net));
  return net;
};
const sgdFit = (net, epochs, seed) => {
  fit(net, d.x, d.y, { epochs, batchSize: 100, progress: false, seed, optimizer: new SGD({ lr: 0.05, momentum: 0.9 }),
    lr: schedules.linearDecay(0.05, { start: epochs / 2, end: epochs }) });
  return net;
};

const NET_EPOCHS = Math.max(1, Math.round(EPOCHS / 15));
const ms = [0, 1, 2, 3, 4].map((k) => cached(`deep-${k}`, () => sgdFit(mlp(10 + k), NET_EPOCHS, 10 + k)));
score('deep-ensemble', Ensemble.fromModels(ms), { epochs: NET_EPOCHS });
const DROP_EPOCHS = 2 * NET_EPOCHS;
const drop = cached('dropout', () => sgdFit(mlp(20, () => [new Dropout({ rate: 0.5 })]), DROP_EPOCHS, 20));
score('mc-dropout', Ensemble.fromMonteCarlo(drop, { samples: 20, seed: 2, dropout: true }), { epochs: DROP_EPOCHS });
// Last, so the full-recipe Sparse VD model has the most time to appear.
const svdFile = path.join(here, 'out', 'svd-lenet300.vdrp'); // svd-common.mjs modelFile('svd-lenet300', full recipe)
const SVD_EPOCHS = SGD_EPOCHS;
const fullSvd = d.n === 60000 && fs.existsSync(svdFile);
const svd = fullSvd ? loadModel(new Uint8Array(fs.readFileSync(svdFile))) : cached('svd-lenet300', () => {
  const net = new Sequential({ inputShape: [784], seed: 4, layers: [new SparseVDDense({ units: 300 }), new ReLU(), new SparseVDDense({ units: 100 }), new ReLU(), new SparseVDDense({ units: 10 })] });
  fit(net, d.x, d.y, { epochs: SVD_EPOCHS, batchSize: 100, progress: false, optimizer: new Adam({ lr: 1e-3 }),
    lr: schedules.linearDecay(1e-3, { start: SVD_EPOCHS / 2, end: SVD_EPOCHS }), klWeight: schedules.linear({ start: SVD_EPOCHS / 40, end: SVD_EPOCHS / 10 }) });
  return net;
});
score('sparse-vd', Ensemble.fromMonteCarlo(svd, { samples: 20, seed: 1 }), fullSvd ? { epochs: 200, model: 'bench/out/svd-lenet300.vdrp' } : { epochs: SVD_EPOCHS });

for (const x of [svd, drop, ...ms, m.sgd, m.student]) x.dispose();
