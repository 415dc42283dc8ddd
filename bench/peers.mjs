// Shared helpers for benchmarks: timing and the TensorFlow.js wasm peer (XNNPACK, one thread).
import { performance } from 'node:perf_hooks';

/** Print one benchmark line. `ratio` is always "how many times better we are". */
export function report(obj) {
  console.log(JSON.stringify(obj));
}

/**
 * Median seconds of `fn` over `reps` runs (or until `minSec` spent) after `warm` warm-up runs
 * and at least `warmSec` seconds of them (so V8 has tiered the JS and wasm up under load).
 */
export function timeIt(fn, { warm = 2, reps = 7, minSec = 0.3, warmSec = 0 } = {}) {
  const w0 = performance.now();
  for (let i = 0; i < warm || (performance.now() - w0) / 1000 < warmSec; i++) fn();
  const ts = [];
  const start = performance.now();
  while (ts.length < reps || (performance.now() - start) / 1000 < minSec) {
    const t0 = performance.now();
    fn();
    ts.push((performance.now() - t0) / 1000);
    if (ts.length > 200) break;
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1];
}

let tfPromise = null;
/** TensorFlow.js on its wasm backend with one thread; null when it cannot load. */
export function loadTfjsWasm() {
  tfPromise ??= (async () => {
    try {
      const tf = await import('@tensorflow/tfjs');
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setThreadsCount(1);
      await tf.setBackend('wasm');
      await tf.ready();
      return tf;
    } catch (e) {
      console.error(`tfjs-wasm unavailable: ${e.message}`);
      return null;
    }
  })();
  return tfPromise;
}
