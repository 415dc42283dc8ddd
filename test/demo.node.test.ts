import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic } from '../scripts/serve-static.mjs';

// The built demo (npm run build:demo → demo/dist) in headless Chromium, served on 127.0.0.1:
// trains a few hundred steps in its worker, draws charts and masks, predicts drawn digits with
// uncertainty, and prune → download → load gives the same predictions. Screenshot under test-output/.
const root = new URL('../demo/dist/', import.meta.url).pathname;
const out = new URL('../test-output/', import.meta.url).pathname;

let server: http.Server, browser: Browser, page: Page, base: string;
const pageErrors: string[] = [];

type Demo = {
  epoch: number; step: number; testAccuracy: number; compression: number; errors: string[]; done: boolean; snapshots: number;
  stopped: boolean; training: boolean; predictions: number; predicting: boolean;
  pruned: { nnz: number; bytes: number; denseBytes: number; testAccuracy: number; digest: string; imagesPerSecond: number; denseImagesPerSecond: number } | null;
  loaded: { digest: string; testAccuracy: number; error?: string } | null;
  prediction: { probs: number[]; predicted: number; predictiveEntropy: number; mutualInformation: number; pruned: number[] | null; loaded: number[] | null } | null;
};
const demo = (): Promise<Demo> => page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as { vardropDemo: unknown }).vardropDemo)));

/**
 * Pixels of a canvas as shown on the page (a screenshot of the element: the charts are drawn by
 * the worker on OffscreenCanvases) that differ from its background colour (the top-left
 * pixel's), how many are white, and how many distinct colours it has.
 */
const inked = async (id: string): Promise<{ ink: number; colours: number; white: number }> => page.evaluate(async (png) => {
  const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(png), (ch) => ch.charCodeAt(0))], { type: 'image/png' }));
  const g = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
  g.drawImage(bitmap, 0, 0);
  const d = g.getImageData(0, 0, bitmap.width, bitmap.height).data;
  let ink = 0, white = 0;
  const colours = new Set<number>();
  for (let p = 0; p < d.length; p += 4) {
    if (d[p] !== d[0] || d[p + 1] !== d[1] || d[p + 2] !== d[2]) ink++;
    if (d[p] === 255 && d[p + 1] === 255 && d[p + 2] === 255) white++;
    colours.add((d[p] << 16) | (d[p + 1] << 8) | d[p + 2]);
  }
  return { ink, colours: colours.size, white };
}, (await page.locator(`#${id}`).screenshot()).toString('base64'));

/** Do `action` and wait until the prediction it starts (in the page's predictor worker) has finished. */
async function predicted(action: () => Promise<unknown>): Promise<Demo['prediction']> {
  const before = (await demo()).predictions;
  await action();
  await page.waitForFunction((b) => {
    const d = (window as unknown as { vardropDemo: { predictions: number; predicting: boolean } }).vardropDemo;
    return d.predictions > b && !d.predicting;
  }, before, { timeout: 60_000, polling: 50 });
  return (await demo()).prediction;
}

async function stroke(points: [number, number][]): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!;
  await page.mouse.move(box.x + points[0][0], box.y + points[0][1]);
  await page.mouse.down();
  for (const [x, y] of points.slice(1)) await page.mouse.move(box.x + x, box.y + y, { steps: 4 });
  await page.mouse.up();
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(root, 'index.html'))) throw new Error('demo/dist/index.html is missing: run npm run build:demo first');
  ({ server, base } = await serveStatic(root));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await (await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 1100 } })).newPage();
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
  fs.mkdirSync(out, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
});

describe('browser demo', () => {
  it('trains in its worker, charts it, predicts drawn digits, and prune → save → load keeps the predictions', async () => {
    // 6000 training images in batches of 50, 2 epochs: 240 steps.
    await page.goto(`${base}?autostart&train=6000&batch=50&epochs=2&snapshot=40`);
    await page.waitForFunction(() => (window as unknown as { vardropDemo?: { done: boolean; errors: string[] } }).vardropDemo?.done || (window as unknown as { vardropDemo?: { errors: string[] } }).vardropDemo?.errors.length, null, { timeout: 240_000, polling: 500 });
    let s = await demo();
    expect(s.errors).toEqual([]);
    expect(s.step).toBe(240);
    expect(s.epoch).toBe(2);
    expect(s.snapshots).toBeGreaterThanOrEqual(7); // step 0, every 40 steps, epoch ends
    expect(s.testAccuracy).toBeGreaterThan(0.85); // real MNIST test images, 6000 training images seen twice (86.30%)
    expect(s.compression).toBeGreaterThan(1);

    // Charts and masks are drawn: line pixels in each chart, a mostly white (kept) 300-tile mask.
    for (const id of ['chart-loss', 'chart-accuracy', 'chart-kept', 'chart-compression']) {
      const c = await inked(id);
      expect(c.ink, id).toBeGreaterThan(500);
      expect(c.colours, id).toBeGreaterThan(3);
    }
    const masks = await inked('masks');
    // Kept weights are white: some remain, and the first layer has already sparsified (its masks
    // are not all white any more; Sparse VD keeps only a few % of LeNet-300's first layer).
    expect(masks.white).toBeGreaterThan(500);
    expect(masks.white).toBeLessThan(0.9 * 300 * 784);

    // Test images shown on the pad are recognised; a drawn digit gets probabilities with uncertainty.
    const labels = [7, 2, 1, 0, 4]; // the first five MNIST test labels
    let right = 0;
    for (const label of labels) {
      const p = (await predicted(() => page.click('#sample')))!;
      if (p.predicted === label) right++;
    }
    expect(right).toBeGreaterThanOrEqual(4);
    const confident = (await demo()).prediction!;
    await page.click('#clear');
    const one = (await predicted(() => stroke([[140, 40], [142, 120], [140, 240]])))!; // a "1"
    expect(one.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(one.predictiveEntropy).toBeGreaterThanOrEqual(0);
    expect(one.mutualInformation).toBeGreaterThanOrEqual(0);
    await page.click('#clear');
    const scribble = (await predicted(() => stroke([[30, 30], [250, 60], [40, 120], [240, 250], [60, 200], [200, 30], [30, 250], [250, 150]])))!; // a scribble
    expect(scribble.predictiveEntropy).toBeGreaterThan(confident.predictiveEntropy);
    expect(await inked('probs')).toMatchObject({ ink: expect.any(Number) });
    expect((await inked('probs')).ink).toBeGreaterThan(200);

    // Prune, download the file, load it back: the same predictions, bit for bit.
    await page.click('#prune');
    await page.waitForFunction(() => (window as unknown as { vardropDemo: { pruned: unknown } }).vardropDemo.pruned !== null, null, { timeout: 60_000 });
    s = await demo();
    expect(s.pruned!.bytes).toBeLessThan(s.pruned!.denseBytes);
    expect(Math.abs(s.pruned!.testAccuracy - s.testAccuracy)).toBeLessThan(0.02);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const file = path.join(out, 'demo-model.vdsp');
    await dl.saveAs(file);
    expect(fs.statSync(file).size).toBe(s.pruned!.bytes);
    await predicted(async () => {
      await page.setInputFiles('#load', file);
      await page.waitForFunction(() => (window as unknown as { vardropDemo: { loaded: unknown } }).vardropDemo.loaded !== null, null, { timeout: 60_000 });
    });
    s = await demo();
    expect(s.loaded!.error).toBeUndefined();
    expect(s.loaded!.digest).toBe(s.pruned!.digest);
    expect(s.loaded!.testAccuracy).toBe(s.pruned!.testAccuracy);
    expect(s.prediction!.loaded).toEqual(s.prediction!.pruned);

    await page.screenshot({ path: path.join(out, 'demo.png'), fullPage: true });

    // Train again in the same worker and stop it: it stops early, cleanly, and can start again.
    await page.click('#start');
    await page.waitForFunction(() => (window as unknown as { vardropDemo: { step: number } }).vardropDemo.step >= 20, null, { timeout: 60_000, polling: 50 });
    await page.click('#stop');
    await page.waitForFunction(() => !(window as unknown as { vardropDemo: { training: boolean } }).vardropDemo.training, null, { timeout: 60_000 });
    const stopped = await demo();
    expect(stopped.stopped).toBe(true);
    expect(stopped.done).toBe(false);
    expect(stopped.step).toBeLessThan(240);
    expect(await page.locator('#start').isEnabled()).toBe(true);
    s = await demo();
    expect(s.errors).toEqual([]);
    expect(pageErrors).toEqual([]);
    // Its timings (first chart, steps/s, longest main-thread task) are measured by npm run bench -- demo.
  });
});
