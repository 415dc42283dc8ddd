// One call per prediction: a compiled inference plan, op records in linear memory run by one
// export. TypeScript records the kernel calls of one forward at a fixed batch size (their
// pointers into plan-owned buffers, see src/ops/plan.ts) and replays them here in the same order
// with the same arguments, so a replay gives the step-by-step forward's bits while crossing the
// JS/wasm boundary once. The interpreter computes nothing itself and allocates nothing.
//
// Record: i32 opcode, then the kernel's arguments as 32-bit words (f32 arguments by their bits),
// as many as the kernel takes. Opcodes are positions in PLAN_KERNELS of src/ops/plan.ts.
import { gemm_f32_nn, gemv_f32_skip_zeros } from './gemm';
import { conv2d_f32_nhwc } from './conv';
import { spmm_f32_csr, conv2d_sparse_f32_nhwc, spmv_f32_csc } from './sparse';
import { transpose_f32 } from './transpose';
import { max_pool2d_f32_nhwc, avg_pool2d_f32_nhwc } from './pool';
import { relu_f32, leaky_relu_f32, elu_f32, sigmoid_f32, tanh_f32 } from './activation';
import { softmax_rows_f32 } from './softmax';
import { batchnorm_forward_infer_f32 } from './batchnorm';
import { first_nonfinite_f32 } from './elementwise';

// @ts-ignore: decorator
@inline function u(p: usize, k: i32): i32 {
  return load<i32>(p + (<usize>k << 2));
}

// @ts-ignore: decorator
@inline function z(p: usize, k: i32): usize {
  return <usize>load<u32>(p + (<usize>k << 2));
}

// @ts-ignore: decorator
@inline function f(p: usize, k: i32): f32 {
  return load<f32>(p + (<usize>k << 2));
}

/**
 * Run the `words` 32-bit words of op records at `ops` in order. Returns -1 when every op ran;
 * when a finiteness check (opcode 14: first_nonfinite_f32 of a step's output) finds a value
 * that is not finite, stops there, writes its element index at `status` (an i32) and returns
 * the number of the record that found it (0-based), so the caller can name the step.
 */
export function plan_run(ops: usize, words: i32, status: usize): i32 {
  assert(words >= 0, 'plan_run: words < 0');
  const end = ops + (<usize>words << 2);
  let p = ops;
  let rec = 0;
  while (p < end) {
    const op = load<i32>(p);
    const a = p + 4;
    let n = 0;
    switch (op) {
      case 0: gemm_f32_nn(u(a, 0), u(a, 1), u(a, 2), z(a, 3), u(a, 4), z(a, 5), u(a, 6), z(a, 7), u(a, 8), z(a, 9), u(a, 10)); n = 11; break;
      case 1: conv2d_f32_nhwc(u(a, 0), u(a, 1), u(a, 2), u(a, 3), u(a, 4), u(a, 5), u(a, 6), u(a, 7), u(a, 8), u(a, 9), u(a, 10),
        z(a, 11), z(a, 12), z(a, 13), z(a, 14), u(a, 15), z(a, 16)); n = 17; break;
      case 2: spmm_f32_csr(u(a, 0), u(a, 1), u(a, 2), z(a, 3), z(a, 4), u(a, 5), z(a, 6), z(a, 7), u(a, 8), z(a, 9), z(a, 10), u(a, 11)); n = 12; break;
      case 3: conv2d_sparse_f32_nhwc(u(a, 0), u(a, 1), u(a, 2), u(a, 3), u(a, 4), u(a, 5), u(a, 6), u(a, 7), u(a, 8), u(a, 9), u(a, 10),
        z(a, 11), z(a, 12), u(a, 13), z(a, 14), z(a, 15), z(a, 16), z(a, 17), z(a, 18), z(a, 19)); n = 20; break;
      case 4: transpose_f32(u(a, 0), u(a, 1), z(a, 2), u(a, 3), z(a, 4), u(a, 5)); n = 6; break;
      case 5: max_pool2d_f32_nhwc(u(a, 0), u(a, 1), u(a, 2), u(a, 3), u(a, 4), u(a, 5), u(a, 6), u(a, 7), u(a, 8), u(a, 9), z(a, 10), z(a, 11)); n = 12; break;
      case 6: avg_pool2d_f32_nhwc(u(a, 0), u(a, 1), u(a, 2), u(a, 3), u(a, 4), u(a, 5), u(a, 6), u(a, 7), u(a, 8), u(a, 9), z(a, 10), z(a, 11)); n = 12; break;
      case 7: relu_f32(z(a, 0), z(a, 1), u(a, 2)); n = 3; break;
      case 8: leaky_relu_f32(z(a, 0), z(a, 1), u(a, 2), f(a, 3)); n = 4; break;
      case 9: elu_f32(z(a, 0), z(a, 1), u(a, 2), f(a, 3)); n = 4; break;
      case 10: sigmoid_f32(z(a, 0), z(a, 1), u(a, 2)); n = 3; break;
      case 11: tanh_f32(z(a, 0), z(a, 1), u(a, 2)); n = 3; break;
      case 12: softmax_rows_f32(z(a, 0), z(a, 1), u(a, 2), u(a, 3)); n = 4; break;
      case 13: batchnorm_forward_infer_f32(z(a, 0), z(a, 1), u(a, 2), u(a, 3), z(a, 4), z(a, 5), z(a, 6), z(a, 7), f(a, 8), z(a, 9)); n = 10; break;
      case 14: {
        const i = first_nonfinite_f32(z(a, 0), u(a, 1));
        if (i >= 0) {
          store<i32>(status, i);
          return rec;
        }
        n = 2;
        break;
      }
      case 15: spmv_f32_csc(u(a, 0), u(a, 1), z(a, 2), z(a, 3), z(a, 4), z(a, 5), z(a, 6), z(a, 7)); n = 8; break;
      case 16: gemv_f32_skip_zeros(u(a, 0), u(a, 1), z(a, 2), z(a, 3), u(a, 4), z(a, 5), z(a, 6)); n = 7; break;
      default: assert(false, 'plan_run: unknown opcode');
    }
    p = a + (<usize>n << 2);
    rec++;
  }
  assert(p == end, 'plan_run: a record runs past the end');
  return -1;
}
