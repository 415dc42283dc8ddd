// The demo page: loads the compact MNIST file, trains in the worker (src/worker.js) through
// vardrop's WorkerHost, charts what it streams, prunes, saves and loads models, and predicts
// drawn digits with Monte-Carlo uncertainty. Its state is published as window.vardropDemo.
import { SparseModel, WorkerHost, init, loadModel, prune } from '../../dist/index.js';
import { drawBars, drawMasks, lineChart } from './charts.js';
import { padToMnist, setupPad, showOnPad } from './pad.js';

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const num = (k, d) => (q.has(k) ? Number(q.get(k)) : d);
const cfg = { epochs: num('epochs', 10), batchSize: num('batch', 100), train: num('train', Infinity), seed: num('seed', 1), snapshotEvery: num('snapshot', 50) };

/** What tests and curious users can read. */
const state = {
  epoch: 0, step: 0, testAccuracy: null, compression: 1, pruned: null, loaded: null, prediction: null, errors: [],
  training: false, done: false, snapshots: 0, stepsPerSecond: null, firstChartMs: null, longTasks: [], ready: false,
};
window.vardropDemo = state;

const report = (what) => {
  state.errors.push(String(what));
  $('errors').textContent = state.errors.join('\n');
};
window.addEventListener('error', (e) => report(e.message));
window.addEventListener('unhandledrejection', (e) => report(e.reason?.stack ?? e.reason));
// Main-thread tasks of 50 ms or more (the browser reports no shorter ones).
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) state.longTasks.push({ start: Math.round(e.startTime), duration: Math.round(e.duration) });
  }).observe({ type: 'longtask', buffered: true });
} catch { /* no long-task timing in this browser */ }

// ---------------------------------------------------------------------------------------------
// Data

async function loadMnistFile() {
  const res = await fetch(new URL('./mnist.bin.gz', import.meta.url));
  if (!res.ok) throw new Error(`mnist.bin.gz: HTTP ${res.status}`);
  const buf = new Uint8Array(await new Response(res.body.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  const dv = new DataView(buf.buffer);
  if (String.fromCharCode(...buf.subarray(0, 4)) !== 'VDMN' || dv.getUint32(4, true) !== 1) throw new Error('mnist.bin.gz: not a VDMN v1 file');
  const nTrain = dv.getUint32(8, true), nTest = dv.getUint32(12, true);
  let o = 24;
  const take = (k) => buf.subarray(o, (o += k));
  const trainX = take(nTrain * 784), trainY = take(nTrain), testX = take(nTest * 784), testY = take(nTest);
  const testXf = new Float32Array(testX.length);
  for (let i = 0; i < testX.length; i++) testXf[i] = testX[i] / 255;
  return { nTrain, nTest, trainX, trainY, testX, testY, testXf, packed: Number(res.headers.get('content-length') ?? 0) };
}

// ---------------------------------------------------------------------------------------------
// Charts

const series = { loss: [], accuracy: [], kept: [[], [], []], compression: [] };
let maskPending = null, drawQueued = false;

function queueDraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    const drawn = lineChart($('chart-loss'), [{ label: 'cross-entropy', points: series.loss }], { log: true });
    lineChart($('chart-accuracy'), [{ label: 'test accuracy %', points: series.accuracy }], { yMax: 100 });
    lineChart($('chart-kept'), series.kept.map((p, i) => ({ label: `layer ${i + 1}`, points: p })), { yMin: 0, yMax: 100 });
    lineChart($('chart-compression'), [{ label: 'x', points: series.compression }], { log: true, yMin: 1 });
    if (maskPending) {
      drawMasks($('masks'), maskPending, 300);
      maskPending = null;
    }
    if (drawn && state.firstChartMs === null) state.firstChartMs = Math.round(performance.now());
    showStatus();
  });
}

// ---------------------------------------------------------------------------------------------
// Training in the worker

let data = null, host = null, abort = null, latest = null;

function onEvent(ev) {
  if (ev.type === 'steps') {
    for (let i = 0; i < ev.steps.length; i += 2) series.loss.push(ev.steps[i], ev.steps[i + 1]);
    state.step = ev.steps[ev.steps.length - 2];
  } else if (ev.type === 'snapshot') {
    latest = { step: ev.step, bytes: ev.model, model: null };
    Object.assign(state, { step: ev.step, epoch: ev.epoch - (ev.step === 0 ? 1 : 0), testAccuracy: ev.testAccuracy, compression: ev.compression, stepsPerSecond: ev.step ? ev.stepsPerSecond : null });
    state.snapshots++;
    series.accuracy.push(ev.step, 100 * ev.testAccuracy);
    ev.sparsity.forEach((s, i) => series.kept[i]?.push(ev.step, (100 * s.kept) / s.total));
    series.compression.push(ev.step, ev.compression);
    state.sparsity = ev.sparsity;
    maskPending = ev.mask;
    $('prune').disabled = false;
    if (padHasDigit) predictDigit();
  } else if (ev.type === 'epoch') {
    state.epoch = ev.log.epoch;
  }
  queueDraw();
}

function start() {
  if (state.training || !data) return;
  const n = Math.min(cfg.train, data.nTrain);
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  host = WorkerHost.wrap(worker);
  abort = new AbortController();
  const args = {
    trainImages: data.trainX.slice(0, n * 784), trainLabels: data.trainY.slice(0, n),
    testImages: data.testX.slice(), testLabels: data.testY.slice(),
    options: { epochs: cfg.epochs, batchSize: cfg.batchSize, seed: cfg.seed, snapshotEvery: cfg.snapshotEvery },
  };
  Object.assign(state, { training: true, done: false, step: 0, epoch: 0, trainingFrom: Math.round(performance.now()), trainingTo: null });
  for (const k of ['loss', 'accuracy', 'compression']) series[k] = [];
  series.kept = [[], [], []];
  $('start').disabled = true;
  $('stop').disabled = false;
  host.call('train', args, { onEvent, signal: abort.signal, transfer: [args.trainImages.buffer, args.trainLabels.buffer, args.testImages.buffer, args.testLabels.buffer] })
    .then((r) => { state.done = true; state.trainSeconds = r.seconds; })
    .catch((e) => { if (!abort.signal.aborted) report(e.stack ?? e); })
    .finally(() => {
      state.training = false;
      state.trainingTo = Math.round(performance.now());
      $('start').disabled = false;
      $('stop').disabled = true;
      host.terminate();
      showStatus();
    });
}

// ---------------------------------------------------------------------------------------------
// Prune, save, load

let prunedModel = null, prunedBytes = null, loadedModel = null;

/** FNV-1a of a typed array's bytes: equal digests, equal predictions. */
function digest(a) {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** Run `fn` over the test images in chunks, yielding between them so no task grows long. */
async function overTest(fn, perRow) {
  const chunk = 200, out = new Float32Array(data.nTest * perRow);
  let ms = 0;
  for (let s = 0; s < data.nTest; s += chunk) {
    const e = Math.min(data.nTest, s + chunk);
    const t = performance.now();
    out.set(fn(data.testXf.subarray(s * 784, e * 784)), s * perRow);
    ms += performance.now() - t;
    await new Promise((r) => setTimeout(r, 0));
  }
  return { out, imagesPerSecond: data.nTest / (ms / 1000) };
}

function accuracyOf(probs) {
  let ok = 0;
  for (let i = 0; i < data.nTest; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (probs[i * 10 + c] > probs[i * 10 + best]) best = c;
    if (best === data.testY[i]) ok++;
  }
  return ok / data.nTest;
}

function bayesModel() {
  if (latest && !latest.model) latest.model = loadModel(latest.bytes);
  return latest?.model ?? null;
}

async function doPrune() {
  const dense = bayesModel();
  if (!dense) return;
  $('prune').disabled = true;
  prunedModel?.dispose?.();
  prunedModel = prune(dense);
  prunedBytes = prunedModel.save();
  const sp = await overTest((x) => prunedModel.predictProba(x), 10);
  const dn = await overTest((x) => dense.predictProba(x), 10);
  state.pruned = {
    step: latest.step, nnz: prunedModel.nnz, compression: prunedModel.compression, bytes: prunedBytes.length, denseBytes: latest.bytes.length,
    testAccuracy: accuracyOf(sp.out), imagesPerSecond: Math.round(sp.imagesPerSecond), denseImagesPerSecond: Math.round(dn.imagesPerSecond),
    digest: digest(sp.out),
  };
  $('prune').disabled = false;
  $('download').disabled = false;
  if (padHasDigit) predictDigit();
  showStatus();
}

function download() {
  const url = URL.createObjectURL(new Blob([prunedBytes], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `lenet300-sparse-vd-step${state.pruned.step}.vdsp`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function loadFile(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  try {
    loadedModel?.dispose?.();
    loadedModel = magic === 'VDRP' ? loadModel(bytes) : SparseModel.load(bytes);
  } catch (e) {
    loadedModel = null;
    state.loaded = { name: file.name, error: `${e.name}: ${e.message}` };
    showStatus();
    return;
  }
  const r = await overTest((x) => loadedModel.predictProba(x), 10);
  state.loaded = { name: file.name, kind: magic === 'VDRP' ? 'Bayesian' : 'sparse', bytes: bytes.length, testAccuracy: accuracyOf(r.out), imagesPerSecond: Math.round(r.imagesPerSecond), digest: digest(r.out) };
  if (padHasDigit) predictDigit();
  showStatus();
}

// ---------------------------------------------------------------------------------------------
// Drawing and predicting

let padHasDigit = false, padImage = null;
const pad = $('pad');
const padCtl = setupPad(pad, () => { padImage = null; predictDigit(); });
let sampleIndex = 0;

function predictDigit() {
  const x = padImage ?? padToMnist(pad);
  padHasDigit = x !== null;
  if (!x) return;
  const out = { probs: null, predicted: null, predictiveEntropy: null, mutualInformation: null, pruned: null, loaded: null, source: null };
  const m = bayesModel();
  if (m) {
    const mc = m.predictMC(x, { samples: 50, seed: 7 });
    Object.assign(out, { source: 'bayesian', probs: Array.from(mc.mean), predictiveEntropy: mc.predictiveEntropy[0], mutualInformation: mc.mutualInformation[0] });
  }
  if (prunedModel) out.pruned = Array.from(prunedModel.predictProba(x));
  if (loadedModel) out.loaded = Array.from(loadedModel.predictProba(x));
  out.probs ??= out.pruned ?? out.loaded;
  out.source ??= out.pruned ? 'pruned' : out.loaded ? 'loaded' : null;
  if (!out.probs) return;
  out.predicted = out.probs.indexOf(Math.max(...out.probs));
  state.prediction = out;
  drawBars($('probs'), out.probs);
  const u = out.predictiveEntropy === null ? 'uncertainty needs the Bayesian model (train first)' :
    `predictive entropy ${out.predictiveEntropy.toFixed(3)} nats (max ln 10 = 2.303), mutual information ${out.mutualInformation.toFixed(4)} nats`;
  $('uncertainty').textContent = `→ ${out.predicted} (p = ${out.probs[out.predicted].toFixed(3)}, ${out.source}); ${u}` +
    (out.pruned ? `; pruned model says ${out.pruned.indexOf(Math.max(...out.pruned))}` : '') +
    (out.loaded ? `; loaded model says ${out.loaded.indexOf(Math.max(...out.loaded))}` : '');
}

// ---------------------------------------------------------------------------------------------

function showStatus() {
  const s = state, lines = [];
  if (data) lines.push(`MNIST: ${Math.min(cfg.train, data.nTrain)} training, ${data.nTest} test images (${(data.packed / 1e6).toFixed(1)} MB file)`);
  lines.push(`${s.training ? 'training' : s.done ? 'done' : 'idle'}: epoch ${s.epoch}/${cfg.epochs}, step ${s.step}` + (s.stepsPerSecond ? `, ${s.stepsPerSecond.toFixed(1)} steps/s in the worker` : ''));
  if (s.testAccuracy !== null) lines.push(`test accuracy ${(100 * s.testAccuracy).toFixed(2)}%, compression ${s.compression.toFixed(1)}x` + (s.sparsity ? ` (kept: ${s.sparsity.map((l) => `${l.kept}/${l.total}`).join(', ')})` : ''));
  if (s.pruned) lines.push(`pruned at step ${s.pruned.step}: ${s.pruned.nnz} weights, file ${(s.pruned.bytes / 1024).toFixed(1)} KiB vs ${(s.pruned.denseBytes / 1024).toFixed(1)} KiB, accuracy ${(100 * s.pruned.testAccuracy).toFixed(2)}%, ${s.pruned.imagesPerSecond} images/s sparse vs ${s.pruned.denseImagesPerSecond} dense`);
  if (s.loaded) lines.push(s.loaded.error ? `load ${s.loaded.name}: ${s.loaded.error}` : `loaded ${s.loaded.name} (${s.loaded.kind}, ${(s.loaded.bytes / 1024).toFixed(1)} KiB): accuracy ${(100 * s.loaded.testAccuracy).toFixed(2)}%, ${s.loaded.imagesPerSecond} images/s`);
  $('status').textContent = lines.join('\n');
}

$('start').onclick = start;
$('stop').onclick = () => abort?.abort();
$('prune').onclick = () => doPrune().catch((e) => report(e.stack ?? e));
$('download').onclick = download;
$('load').onchange = (e) => { const f = e.target.files[0]; if (f) loadFile(f).catch((err) => report(err.stack ?? err)); e.target.value = ''; };
$('clear').onclick = () => { padCtl.clear(); padHasDigit = false; padImage = null; };
$('sample').onclick = () => {
  if (!data) return;
  const i = sampleIndex++ % data.nTest;
  padImage = data.testXf.slice(i * 784, (i + 1) * 784);
  showOnPad(pad, padImage);
  predictDigit();
};

(async () => {
  await init();
  data = await loadMnistFile();
  state.ready = true;
  showStatus();
  queueDraw();
  if (q.has('autostart')) start();
})().catch((e) => report(e.stack ?? e));
