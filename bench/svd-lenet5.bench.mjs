// Sparse VD LeNet-5-Caffe on full MNIST (Molchanov et al. 2017, the authors' recipe): test error
// and compression per epoch, then the epoch time beside TensorFlow.js wasm (plain LeNet-5) and
// PyTorch (the same Sparse VD recipe), one thread each. BENCH_EPOCHS=K runs the first K epochs.
import { runSvdBench } from './svd-common.mjs';

await runSvdBench('svd-lenet5', 'lenet5');
