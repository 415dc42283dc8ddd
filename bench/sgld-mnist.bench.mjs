// Bayesian dark knowledge on full MNIST (784-400-400-10 ReLU): test error (%) and NLL (nats per
// test image) of the SGLD teacher (its sample ensemble's predictive), the student distilled
// online from it, and the SGD baseline; then the predict time of the student against the
// K-sample ensemble on the 10 000 test images (ratio = ensemble seconds / student seconds).
// Models and recipe: bench/mnist-bayes.mjs (BENCH_EPOCHS, BENCH_TRAIN).
import { performance } from 'node:perf_hooks';
import { EPOCHS, errNll, mnist, models } from './mnist-bayes.mjs';
import { report, timeIt } from './peers.mjs';

const d = await mnist();
const t0 = performance.now();
const m = await models(d);
const wall = Math.round((performance.now() - t0) / 1000);
const common = { epochs: EPOCHS, train: d.n, wallSeconds: m.loaded ? undefined : wall, trainSeconds: m.seconds, loadedFromOut: m.loaded };
report({ bench: 'sgld-mnist', case: 'teacher', samples: m.teacher.size, ...errNll(m.teacher.predictProba(d.xt).mean, d.yt), ...common });
report({ bench: 'sgld-mnist', case: 'student', ...errNll(m.student.predictProba(d.xt), d.yt), ...common });
report({ bench: 'sgld-mnist', case: 'sgd', ...errNll(m.sgd.predictProba(d.xt), d.yt), ...common });
const tS = timeIt(() => m.student.predictProba(d.xt), { warm: 1, reps: 3, minSec: 0 });
const tE = timeIt(() => m.teacher.predictProba(d.xt), { warm: 0, reps: 1, minSec: 0 });
report({ bench: 'sgld-mnist', case: 'predict-time', unit: 's', ours: Math.round(tS * 1000) / 1000, peer: `ensemble-${m.teacher.size}`, peerValue: Math.round(tE * 1000) / 1000, ratio: Math.round((tE / tS) * 100) / 100, images: d.nt });
