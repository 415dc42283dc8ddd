// The demo's worker: trains Sparse VD LeNet-300-100 with vardrop's fit and streams what the page
// charts: step losses in packets, and every few steps a snapshot (test accuracy, kept weights per
// layer, the first layer's kept-weight mask, the model file). Served through vardrop's worker host.
import { Adam, ReLU, Sequential, SparseVDDense, evaluate, fit, init, saveModel, schedules, serveWorker } from '../../dist/index.js';

const clock = () => performance.now();

/** Images as floats in [0, 1]. */
const toFloat = (u8) => {
  const f = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) f[i] = u8[i] / 255;
  return f;
};

async function train(args, ctx) {
  const rt = await init();
  const { epochs, batchSize, seed, snapshotEvery } = args.options;
  const x = toFloat(args.trainImages), y = args.trainLabels;
  const tx = toFloat(args.testImages), ty = args.testLabels;
  const n = y.length;
  const model = new Sequential({
    inputShape: [784], seed, runtime: rt,
    layers: [new SparseVDDense({ units: 300 }), new ReLU(), new SparseVDDense({ units: 100 }), new ReLU(), new SparseVDDense({ units: 10 })],
  });
  const first = model.layers[0];
  let step = 0, epoch = 1, steps = [], lastFlush = clock(), t0 = clock();
  const flush = () => {
    if (steps.length === 0) return;
    const packet = Float64Array.from(steps);
    ctx.emit({ type: 'steps', steps: packet }, [packet.buffer]);
    steps = [];
    lastFlush = clock();
  };
  const snapshot = () => {
    flush();
    const acc = evaluate(model, tx, ty).accuracy;
    const la = first.logAlpha();
    const mask = new Uint8Array(la.length);
    for (let i = 0; i < la.length; i++) mask[i] = la[i] < first.threshold ? 1 : 0;
    const bytes = saveModel(model).slice();
    const sparsity = model.sparsity();
    ctx.emit({
      type: 'snapshot', step, epoch, testAccuracy: acc, compression: model.compression(), sparsity, mask, model: bytes,
      stepsPerSecond: step / ((clock() - t0) / 1000),
    }, [mask.buffer, bytes.buffer]);
  };
  const optimizer = new Adam({ lr: 1e-3, eps: 1e-8 / n });
  // The Sparse VD recipe shortened: β from 0 to 1 over the first quarter, lr decays to 0 over the second half.
  const klWeight = schedules.linear({ start: 0, end: Math.max(0.5, epochs / 4) });
  const stepsPerEpoch = Math.ceil(n / batchSize);
  // fit reports the step objective data + β·KL/N with the KL as of the last epoch end; the chart
  // shows its data part (cross-entropy per sample), which moves step by step.
  let klKnown = model.kl();
  try {
    snapshot();
    t0 = clock();
    const history = fit(model, x, y, {
      epochs, batchSize, seed, optimizer,
      klWeight,
      lr: schedules.linearDecay(1e-3, { start: epochs / 2, end: epochs }),
      progress: false,
      onBatchEnd: (b, loss) => {
        step++;
        steps.push(step, loss - (klWeight(epoch - 1, b / stepsPerEpoch) * klKnown) / n);
        if (step % snapshotEvery === 0) snapshot();
        else if (clock() - lastFlush > 100) flush();
      },
      onEpochEnd: (log) => {
        klKnown = log.kl;
        if (step % snapshotEvery !== 0) snapshot();
        ctx.emit({ type: 'epoch', log });
        epoch = log.epoch + 1;
      },
    });
    return { epochs: history.epochs.length, steps: step, seconds: (clock() - t0) / 1000 };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

serveWorker({ train });
