// Bayesian dark knowledge on full MNIST (784-400-400-10 ReLU): test error (%) and NLL (nats per
// test image) of the SGLD teacher (its sample ensemble's predictive), the student distilled
// online from it, and the SGD baseline; then the predict time of the student against the
// K-sample ensemble on 2000 test images (ratio = ensemble seconds / student seconds).
// Models and recipe: bench/mnist-bayes.mjs (BENCH_EPOCHS, BENCH_TRAIN).
import { performance } from 'node:perf_hooks';
import { EPOCHS, SGD_EPOCHS, errNll, mnist, models } from './mnist-bayes.mjs';
import { report, timeIt } from './peers.mjs';

const d = await mnist();
const t0 = performance.now();
const m = await models(d);
const wall = Math.round((performance.now() - t0) / 1000);
const common = { epochs: EPOCHS, sgdEpochs: SGD_EPOCHS, train: d.n, wallSeconds: m.loaded ? undefined : wall, trainSeconds: m.seconds, loadedFromOut: m.loaded };
report({ bench: 'sgld-mnist', case: 'teacher', samples: m.teacher.size, ...errNll(m.teacher.predictProba(d.xt).mean, d.yt), ...common });
report({ bench: 'sgld-mnist', case: 'student', ...errNll(m.student.predictProba(d.xt), d.yt), ...common });
report({ bench: 'sgld-mnist', case: 'sgd', ...errNll(m.sgd.predictProba(d.xt), d.yt), ...common });
// Both predict the same images with the same call (predictProba, batches of 256) and are timed in
// turn, rep by rep, so a change of machine load hits both alike; medians of the reps.
const IMAGES = 2000, BATCH = 256, REPS = 3;
const xs = d.xt.subarray(0, IMAGES * 784);
const student = () => m.student.predictProba(xs, { batchSize: BATCH });
const teacher = () => m.teacher.predictProba(xs, { batchSize: BATCH });
student();
teacher();
const ts = [], te = [];
for (let r = 0; r < REPS; r++) {
  ts.push(timeIt(student, { warm: 0, reps: 1, minSec: 0 }));
  te.push(timeIt(teacher, { warm: 0, reps: 1, minSec: 0 }));
}
const med = (a) => a.slice().sort((p, q) => p - q)[a.length >> 1];
const tS = med(ts), tE = med(te);
report({ bench: 'sgld-mnist', case: 'predict-time', unit: 's', ours: Math.round(tS * 1000) / 1000, peer: `ensemble-${m.teacher.size}`, peerValue: Math.round(tE * 1000) / 1000, ratio: Math.round((tE / tS) * 100) / 100, images: IMAGES, batchSize: BATCH, reps: REPS });
