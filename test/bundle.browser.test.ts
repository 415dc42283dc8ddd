import { describe, expect, it } from 'vitest';

// The built bundle (dist/index.js, served by the test server) in a browser page and in a
// module web worker: same code, same bits.
const url = new URL('/dist/index.js', location.origin).href;

const workload = `
  const rt = await vd.init();
  const m = new vd.Sequential({ inputShape: [4], seed: 1, runtime: rt, layers: [new vd.SparseVDDense({ units: 8 }), new vd.ReLU(), new vd.Dense({ units: 2 })] });
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const y = Int32Array.from({ length: 16 }, (_, i) => i % 2);
  vd.fit(m, x, y, { epochs: 2, batchSize: 8, progress: false });
  return Array.from(m.predict(x.subarray(0, 8)));
`;

describe('bundle in the browser', () => {
  it('runs in the page and in a web worker with identical results', async () => {
    const vd = await import(/* @vite-ignore */ url);
    const inPage = await new Function('vd', `return (async () => {${workload}})()`)(vd);
    const src = `import * as vd from '${url}'; const run = async () => {${workload}}; run().then((r) => postMessage(r), (e) => postMessage(String(e)));`;
    const worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
    const inWorker = await new Promise((resolve) => { worker.onmessage = (e) => resolve(e.data); });
    worker.terminate();
    expect(inWorker).toEqual(inPage);
    (inPage as number[]).forEach((v) => expect(Number.isFinite(v)).toBe(true));
  });
});
