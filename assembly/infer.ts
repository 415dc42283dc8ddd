// The inference-only wasm module (the `vardrop/infer` entry): the forward kernels that sparse,
// dense and recurrent inference run, re-exported from their families (Monte-Carlo prediction's
// are added by infer-mc.ts, the module of `vardrop/infer-mc`); nothing of training (backward kernels, optimizers, samplers, the training
// noise). Scalar twins stay in the full module (they are the tests' oracles). Every export here
// is an export of index.ts with the same code (test/kernel-contract.node.test.ts checks the
// subset and the bits).
export { heap_base } from './memory';
export { gemm_f32_nn, gemm_f32_nt, gemm_f32_tn, gemv_f32_skip_zeros } from './gemm';
export { conv2d_col_bytes, conv2d_f32_nhwc } from './conv';
export { spmm_f32_csr, spmv_f32_csc, conv2d_sparse_scratch_bytes, conv2d_sparse_f32_nhwc } from './sparse';
export { transpose_f32 } from './transpose';
export { max_pool2d_f32_nhwc, avg_pool2d_f32_nhwc } from './pool';
export { relu_f32, leaky_relu_f32, elu_f32, sigmoid_f32, tanh_f32 } from './activation';
export { softmax_rows_f32, argmax_rows_f32 } from './softmax';
export { batchnorm_forward_infer_f32 } from './batchnorm';
export { first_nonfinite_f32 } from './elementwise';
export { nonzero_cols_f32, gather_cols_f32, gather_rows_f32 } from './gather';
export { svd_log_alpha_f32 } from './bayes';
export {
  lstm_forward_f32, gru_forward_f32, lstm_cell_f32, gru_cell_f32, rnn_transpose_f32, rnn_step_mask_f32, embedding_lookup_f32, csr_rows_gemm_f32,
} from './rnn';
export { plan_run } from './plan';
export { crc32_u8 } from './checksum';
export { csr_columns_f32, csr_dense_t_f32 } from './csr';
