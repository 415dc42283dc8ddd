// The demo's worker, served through vardrop's worker host. `attach` takes the page's chart and
// mask canvases (as OffscreenCanvases: drawing, raster and commit of them never touch the page's
// thread); `load` fetches and unpacks the compact MNIST file here, keeps the training images
// and sends the test set to the page; `train` trains Sparse VD LeNet-300-100 with fitAsync,
// draws the loss chart a few times a second and, every few steps, a snapshot (test accuracy,
// kept weights per layer, compression, the first layer's kept-weight masks), and sends the page
// its progress and each snapshot's model file. Stop aborts the training through the call's
// signal; the worker keeps its data and canvases for the next run.
import { AbortError, evaluate, fitAsync, init, loadModel, prune, saveModel, serveWorker, transferable } from '../../dist/index.js';
import { demoModel, demoTraining } from './recipe.js';
import { drawMasks, lineChart } from './charts.js';

const clock = () => performance.now();

let data = null, canvases = null;

/** Keep the page's canvases ({ id: OffscreenCanvas }) to draw on. */
function attach(args) {
  canvases = args.canvases;
}

// What the charts show, as [x0, y0, x1, y1, ...] per line.
let series = null;
const LOSS_EVERY_MS = 250;

/** Draw the named canvases; the first chart with data tells the page when (epoch ms, for its time to first chart). */
function draw(ctx, names) {
  if (!canvases) return;
  const painters = {
    'chart-loss': () => lineChart(canvases['chart-loss'], [{ label: 'cross-entropy', points: series.loss }], { log: true }),
    'chart-accuracy': () => lineChart(canvases['chart-accuracy'], [{ label: 'test accuracy %', points: series.accuracy }], { yMax: 100 }),
    'chart-kept': () => lineChart(canvases['chart-kept'], series.kept.map((p, i) => ({ label: `layer ${i + 1}`, points: p })), { yMin: 0, yMax: 100 }),
    'chart-compression': () => lineChart(canvases['chart-compression'], [{ label: 'x', points: series.compression }], { log: true, yMin: 1 }),
    masks: () => series.mask && drawMasks(canvases.masks, series.mask, 300),
  };
  for (const name of names) {
    if (painters[name]() && !series.firstChart) {
      series.firstChart = true;
      ctx.emit({ type: 'drawn', chart: name, at: performance.timeOrigin + performance.now() });
    }
  }
}

/** Images as floats in [0, 1]. */
const toFloat = (u8) => {
  const f = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) f[i] = u8[i] / 255;
  return f;
};

/**
 * Unpack mnist.bin.gz (made by demo/rollup.config.mjs): magic "VDMN", u32 version 1, u32 train
 * count, u32 test count, u32 rows, u32 cols, then train pixels, train labels, test pixels, test labels.
 */
async function load() {
  const t0 = clock();
  const res = await fetch(new URL('./mnist.bin.gz', import.meta.url));
  if (!res.ok) throw new Error(`mnist.bin.gz: HTTP ${res.status}`);
  const packed = Number(res.headers.get('content-length') ?? 0);
  const buf = new Uint8Array(await new Response(res.body.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  const dv = new DataView(buf.buffer);
  if (String.fromCharCode(...buf.subarray(0, 4)) !== 'VDMN' || dv.getUint32(4, true) !== 1) throw new Error('mnist.bin.gz: not a VDMN v1 file');
  const nTrain = dv.getUint32(8, true), nTest = dv.getUint32(12, true);
  let o = 24;
  const take = (k) => buf.subarray(o, (o += k));
  const trainX = toFloat(take(nTrain * 784)), trainY = take(nTrain).slice(), testX = toFloat(take(nTest * 784)), testY = take(nTest).slice();
  data = { nTrain, nTest, trainX, trainY, testX, testY };
  // The page gets its own copy of the test set (moved, not cloned); the worker keeps one to evaluate.
  const pageX = testX.slice(), pageY = testY.slice();
  return transferable({ nTrain, nTest, packed, testX: pageX, testY: pageY, ms: clock() - t0 }, [pageX.buffer, pageY.buffer]);
}

async function train(args, ctx) {
  if (!data) throw new Error('train before load');
  const rt = await init();
  const { epochs, batchSize, seed, snapshotEvery } = args;
  const n = Math.min(args.train ?? Infinity, data.nTrain);
  const x = data.trainX.subarray(0, n * 784), y = data.trainY.subarray(0, n);
  const model = demoModel({ seed, runtime: rt });
  const first = model.layers[0];
  series = { loss: [], accuracy: [], kept: [[], [], []], compression: [], mask: null, firstChart: false };
  let step = 0, epoch = 1, lastDraw = clock(), t0 = clock(), asideMs = 0;
  const progress = () => {
    const d0 = clock();
    draw(ctx, ['chart-loss']);
    ctx.emit({ type: 'progress', step, epoch });
    lastDraw = clock();
    asideMs += lastDraw - d0;
  };
  // Steps per second of training alone (snapshots and drawing excluded), and with them.
  const rates = () => {
    const all = (clock() - t0) / 1000;
    return { stepsPerSecond: step / all, trainStepsPerSecond: step / (all - asideMs / 1000) };
  };
  const snapshot = () => {
    const s0 = clock();
    const acc = evaluate(model, data.testX, data.testY).accuracy;
    const la = first.logAlpha();
    const mask = new Uint8Array(la.length);
    for (let i = 0; i < la.length; i++) mask[i] = la[i] < first.threshold ? 1 : 0;
    const bytes = saveModel(model).slice();
    const sparsity = model.sparsity(), compression = model.compression();
    series.accuracy.push(step, 100 * acc);
    sparsity.forEach((l, i) => series.kept[i]?.push(step, (100 * l.kept) / l.total));
    series.compression.push(step, compression);
    series.mask = mask;
    draw(ctx, ['chart-accuracy', 'chart-kept', 'chart-compression', 'masks']);
    asideMs += clock() - s0;
    progress();
    ctx.emit({ type: 'snapshot', step, epoch, testAccuracy: acc, compression, sparsity, model: bytes, ...rates() }, [bytes.buffer]);
  };
  const { optimizer, klWeight, lr } = demoTraining({ epochs, n });
  const stepsPerEpoch = Math.ceil(n / batchSize);
  // fit reports the step objective data + β·KL/N with the KL as of the last epoch end; the chart
  // shows its data part (cross-entropy per sample), which moves step by step.
  let klKnown = model.kl();
  try {
    snapshot();
    t0 = clock();
    asideMs = 0;
    const history = await fitAsync(model, x, y, {
      epochs, batchSize, seed, optimizer, klWeight, lr, signal: ctx.signal, progress: false,
      onBatchEnd: (b, loss) => {
        step++;
        series.loss.push(step, loss - (klWeight(epoch - 1, b / stepsPerEpoch) * klKnown) / n);
        if (step % snapshotEvery === 0) snapshot();
        else if (clock() - lastDraw > LOSS_EVERY_MS) progress();
      },
      onEpochEnd: (log) => {
        klKnown = log.kl;
        if (step % snapshotEvery !== 0) snapshot();
        ctx.emit({ type: 'epoch', log });
        epoch = log.epoch + 1;
      },
    });
    progress();
    return { epochs: history.epochs.length, steps: step, seconds: (clock() - t0) / 1000, aborted: false, ...rates() };
  } catch (e) {
    // Stopped by the page: the snapshots sent so far stand; say where it stopped.
    if (!(e instanceof AbortError)) throw e;
    progress();
    return { epochs: epoch - 1, steps: step, seconds: (clock() - t0) / 1000, aborted: true, ...rates() };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

// The page's second instance of this worker predicts and prunes (Monte-Carlo prediction samples
// every weight per pass: hundreds of ms that would block the page), while the first trains.
let current = null;

/** Take a snapshot's model file as the one to predict with and prune. */
async function model(args) {
  const rt = await init();
  current?.dispose();
  current = loadModel(args.bytes, { runtime: rt });
}

/** Class probabilities (mean of 50 passes), predictive entropy and mutual information (nats) of one image. */
function predictMC(args) {
  const mc = current.predictMC(args.x, { samples: 50, seed: 7 });
  return { mean: Array.from(mc.mean), predictiveEntropy: mc.predictiveEntropy[0], mutualInformation: mc.mutualInformation[0] };
}

/** Prune the current model: its sparse file, and images/s of it and of the dense model over `x`. */
function pruneCurrent(args) {
  const sparse = prune(current);
  try {
    const rate = (f) => {
      const t = clock();
      f(args.x);
      return Math.round(args.x.length / 784 / ((clock() - t) / 1000));
    };
    const bytes = sparse.save();
    return transferable({ bytes, imagesPerSecond: rate((x) => sparse.predictProba(x)), denseImagesPerSecond: rate((x) => current.predictProba(x)) }, [bytes.buffer]);
  } finally {
    sparse.dispose();
  }
}

serveWorker({ attach, load, train, model, predictMC, prune: pruneCurrent });
