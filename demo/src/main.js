// The demo page: one worker (src/worker.js, through vardrop's WorkerHost) loads the compact
// MNIST file, trains and draws the charts; the page shows its progress, prunes, saves and loads models, and
// predicts drawn digits with Monte-Carlo uncertainty. Everything heavy runs in the worker or in
// chunks that yield. Its state is published as window.vardropDemo; its own work is timed with
// performance.measure ('demo:status', 'demo:predict', 'demo:prune') for benchmarks.
import { SparseModel, WorkerHost, init, loadModel } from '../../dist/index.js';
import { drawBars } from './charts.js';
import { padToMnist, setupPad, showOnPad } from './pad.js';

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const num = (k, d) => (q.has(k) ? Number(q.get(k)) : d);
const cfg = { epochs: num('epochs', 10), batchSize: num('batch', 100), train: num('train', Infinity), seed: num('seed', 1), snapshotEvery: num('snapshot', 50) };

/** What tests and curious users can read. */
const state = {
  predictions: 0, predicting: false, epoch: 0, step: 0, testAccuracy: null, compression: 1, pruned: null, loaded: null, prediction: null, errors: [],
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

/** Run `fn` and record its duration as a performance measure named `name`. */
function timed(name, fn) {
  const t = performance.now();
  try {
    return fn();
  } finally {
    performance.measure(name, { start: t, end: performance.now() });
  }
}

// ---------------------------------------------------------------------------------------------
// The worker: data, training and the charts

// The worker draws the charts and the masks on these canvases (OffscreenCanvas): their script,
// raster and commit never run on this thread, which only updates the status text.
const CHARTS = ['chart-loss', 'chart-accuracy', 'chart-kept', 'chart-compression', 'masks'];
const spawn = () => WorkerHost.wrap(new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }));
// One worker trains, a second one (same script) predicts with the Bayesian model and prunes it.
const host = spawn(), predictor = spawn();
let data = null, abort = null, latest = null, statusQueued = false;

function queueStatus() {
  if (statusQueued) return;
  statusQueued = true;
  requestAnimationFrame(() => {
    statusQueued = false;
    timed('demo:status', showStatus);
  });
}

function onEvent(ev) {
  if (ev.type === 'progress') {
    Object.assign(state, { step: ev.step, epoch: ev.epoch - 1 });
  } else if (ev.type === 'drawn') {
    state.firstChartMs ??= Math.round(ev.at - performance.timeOrigin);
  } else if (ev.type === 'snapshot') {
    latest = { id: (latest?.id ?? 0) + 1, step: ev.step, bytes: ev.model };
    Object.assign(state, {
      step: ev.step, epoch: ev.epoch - (ev.step === 0 ? 1 : 0), testAccuracy: ev.testAccuracy, compression: ev.compression,
      stepsPerSecond: ev.step ? ev.stepsPerSecond : null, trainStepsPerSecond: ev.step ? ev.trainStepsPerSecond : null, sparsity: ev.sparsity,
    });
    state.snapshots++;
    $('prune').disabled = false;
    if (padHasDigit) predictDigit();
  } else if (ev.type === 'epoch') {
    state.epoch = ev.log.epoch;
  }
  queueStatus();
}

function start() {
  if (state.training || !data) return;
  abort = new AbortController();
  const args = { train: cfg.train, epochs: cfg.epochs, batchSize: cfg.batchSize, seed: cfg.seed, snapshotEvery: cfg.snapshotEvery };
  performance.mark('demo:train-begin');
  Object.assign(state, { training: true, done: false, stopped: false, step: 0, epoch: 0, trainingFrom: Math.round(performance.now()), trainingTo: null });
  $('start').disabled = true;
  $('stop').disabled = false;
  host.call('train', args, { onEvent, signal: abort.signal })
    .then((r) => Object.assign(state, { done: !r.aborted, stopped: r.aborted, trainSeconds: r.seconds, stepsPerSecond: r.stepsPerSecond, trainStepsPerSecond: r.trainStepsPerSecond }))
    .catch((e) => report(e.stack ?? e))
    .finally(() => {
      performance.mark('demo:train-end');
      state.training = false;
      state.trainingTo = Math.round(performance.now());
      $('start').disabled = false;
      $('stop').disabled = true;
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
    out.set(fn(data.testX.subarray(s * 784, e * 784)), s * perRow);
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

let predictorHas = 0;

/** Give the predictor the latest snapshot's model (once per snapshot); false before the first. */
async function syncPredictor() {
  if (!latest) return false;
  const snap = latest;
  if (predictorHas !== snap.id) {
    await predictor.call('model', { bytes: snap.bytes.slice() });
    predictorHas = snap.id;
  }
  return true;
}

async function doPrune() {
  if (!(await syncPredictor())) return;
  $('prune').disabled = true;
  const { step, bytes: denseFile } = latest;
  const r = await predictor.call('prune', { x: data.testX });
  prunedModel?.dispose?.();
  prunedBytes = r.bytes;
  prunedModel = timed('demo:load-pruned', () => SparseModel.load(prunedBytes));
  const sp = await overTest((x) => prunedModel.predictProba(x), 10);
  state.pruned = {
    step, nnz: prunedModel.nnz, compression: prunedModel.compression, bytes: prunedBytes.length, denseBytes: denseFile.length,
    testAccuracy: accuracyOf(sp.out), imagesPerSecond: r.imagesPerSecond, denseImagesPerSecond: r.denseImagesPerSecond,
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

let predicting = false, predictAgain = false;

/** Predict the pad's digit; requests while one runs are folded into one more run after it. */
function predictDigit() {
  if (predicting) {
    predictAgain = true;
    return;
  }
  predicting = state.predicting = true;
  predictNow().catch((e) => report(e.stack ?? e)).finally(() => {
    predicting = false;
    if (predictAgain) {
      predictAgain = false;
      predictDigit();
    } else state.predicting = false;
  });
}

async function predictNow() {
  const x = padImage ?? padToMnist(pad);
  padHasDigit = x !== null;
  if (!x) return;
  const out = { probs: null, predicted: null, predictiveEntropy: null, mutualInformation: null, pruned: null, loaded: null, source: null };
  // Monte-Carlo prediction with the Bayesian model runs in the predictor worker.
  if (await syncPredictor()) {
    const mc = await predictor.call('predictMC', { x });
    Object.assign(out, { source: 'bayesian', probs: mc.mean, predictiveEntropy: mc.predictiveEntropy, mutualInformation: mc.mutualInformation });
  }
  timed('demo:predict', () => {
    if (prunedModel) out.pruned = Array.from(prunedModel.predictProba(x));
    if (loadedModel) out.loaded = Array.from(loadedModel.predictProba(x));
  });
  out.probs ??= out.pruned ?? out.loaded;
  out.source ??= out.pruned ? 'pruned' : out.loaded ? 'loaded' : null;
  if (!out.probs) return;
  out.predicted = out.probs.indexOf(Math.max(...out.probs));
  state.prediction = out;
  state.predictions++;
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
  lines.push(`${s.training ? 'training' : s.done ? 'done' : s.stopped ? 'stopped' : 'idle'}: epoch ${s.epoch}/${cfg.epochs}, step ${s.step}` + (s.stepsPerSecond ? `, ${s.stepsPerSecond.toFixed(1)} steps/s in the worker` : ''));
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
  padImage = data.testX.slice(i * 784, (i + 1) * 784);
  showOnPad(pad, padImage);
  predictDigit();
};

(async () => {
  // The worker fetches and unpacks MNIST while this thread compiles its own wasm (asynchronously).
  const canvases = CHARTS.map((id) => $(id).transferControlToOffscreen());
  host.call('attach', { canvases: Object.fromEntries(CHARTS.map((id, i) => [id, canvases[i]])) }, { transfer: canvases }).catch((e) => report(e.stack ?? e));
  const loaded = host.call('load', {});
  await init();
  data = await loaded;
  state.loadMs = Math.round(data.ms);
  state.ready = true;
  showStatus();
  if (q.has('autostart')) start();
})().catch((e) => report(e.stack ?? e));
