/**
 * Inference plans: the kernel calls of one forward pass, recorded once at a fixed batch size and
 * replayed by one wasm call (`plan_run`, assembly/plan.ts) with the same arguments in the same
 * order, so a replay has the recorded pass's bits and costs one JS/wasm crossing. Recording
 * wraps the runtime's kernels and its workspace for the duration of one pass: every scratch block
 * the pass asks for becomes the plan's own, so nothing another call does later can move it. A pass
 * whose JS took a kernel's answer into account (a data-dependent shape: live columns) or that
 * called a kernel outside the plan's table cannot be replayed; recording then gives no plan.
 * @module
 */
import type { Runtime } from '../runtime/runtime.js';

/** The kernels a plan can hold, by opcode (the switch of assembly/plan.ts), with their argument kinds (i: i32 or pointer, f: f32). */
export const PLAN_KERNELS: readonly (readonly [string, string])[] = [
  ['gemm_f32_nn', 'iiiiiiiiiii'],
  ['conv2d_f32_nhwc', 'iiiiiiiiiiiiiiiii'],
  ['spmm_f32_csr', 'iiiiiiiiiiii'],
  ['conv2d_sparse_f32_nhwc', 'iiiiiiiiiiiiiiiiiiii'],
  ['transpose_f32', 'iiiiii'],
  ['max_pool2d_f32_nhwc', 'iiiiiiiiiiii'],
  ['avg_pool2d_f32_nhwc', 'iiiiiiiiiiii'],
  ['relu_f32', 'iii'],
  ['leaky_relu_f32', 'iiif'],
  ['elu_f32', 'iiif'],
  ['sigmoid_f32', 'iii'],
  ['tanh_f32', 'iii'],
  ['softmax_rows_f32', 'iiii'],
  ['batchnorm_forward_infer_f32', 'iiiiiiiifi'],
  ['first_nonfinite_f32', 'ii'],
  ['spmv_f32_csc', 'iiiiiiii'],
  ['gemv_f32_skip_zeros', 'iiiiiii'],
];
const OPCODE = new Map(PLAN_KERNELS.map(([name, sig], i) => [name, { op: i, sig }]));
/**
 * Kernels called while recording but not recorded: those that only size scratch from their
 * arguments, and the column copy and dense Aᵀ a sparse matrix builds once for itself (its first batch-1 product).
 */
const QUERIES = new Set(['conv2d_col_bytes', 'conv2d_sparse_scratch_bytes', 'csr_columns_f32', 'csr_dense_t_f32']);
const CHECK = OPCODE.get('first_nonfinite_f32')!.op;

/**
 * Run `pass` with `rt.k` swapped for wrappers that call the real kernels and report each call
 * (its name, arguments and answer) to `seen`; the real kernels are back when `pass` returns or
 * throws. The recorders of kernel calls ({@link Plan.record}, ops/lrt.ts's LrtProgram) share it,
 * and give `workspace` in place of `rt.workspace` for the pass (their own scratch blocks: the
 * shared workspace may move before a replay).
 */
export function watchKernels<T>(rt: Runtime, seen: (name: string, args: number[], r: unknown) => void, pass: () => T,
  workspace: (bytes: number) => number = rt.workspace): T {
  const real = rt.k as unknown as Record<string, unknown>;
  // The exports object is frozen: the spy is a plain object with a wrapper per kernel.
  const spy: Record<string, unknown> = {};
  for (const name of Object.keys(real)) {
    const fn = real[name];
    spy[name] = typeof fn !== 'function' ? fn : (...args: number[]) => {
      const r = (fn as (...a: number[]) => unknown)(...args);
      seen(name, args, r);
      return r;
    };
  }
  const owner = rt as unknown as { k: unknown; workspace: unknown };
  const shared = owner.workspace;
  owner.k = spy;
  owner.workspace = workspace;
  try {
    return pass();
  } finally {
    owner.k = real;
    owner.workspace = shared;
  }
}

/** A recorded pass: its op records and scratch in wasm memory (owned), and what the caller keeps with it. */
export class Plan<T> {
  private constructor(
    private readonly rt: Runtime,
    private readonly ops: number,
    private readonly words: number,
    private readonly status: number,
    private readonly blocks: number[],
    /** What the recorded pass returned (its output tensor, typically). */
    readonly value: T,
  ) {}

  /**
   * Record the kernel calls of `pass` (run once, for real) into a plan; null when the pass
   * cannot be replayed (see the module comment). The pass's results are valid either way.
   */
  static record<T>(rt: Runtime, pass: () => T): { plan: Plan<T> | null; value: T } {
    const words: number[] = [];
    const blocks: number[] = [];
    let replayable = true;
    const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
    const seen = (name: string, args: number[], r: unknown) => {
      if (QUERIES.has(name)) return;
      const e = OPCODE.get(name);
      // A kernel outside the table, or one whose answer the pass reads (other than a check
      // that found everything finite), makes the pass not replayable.
      if (!e || e.sig.length !== args.length || (r !== undefined && !(e.op === CHECK && r === -1))) replayable = false;
      else {
        words.push(e.op);
        for (let i = 0; i < args.length; i++) {
          if (e.sig[i] === 'f') {
            f32[0] = args[i];
            words.push(u32[0] | 0);
          } else words.push(args[i] | 0);
        }
      }
    };
    let value: T;
    try {
      value = watchKernels(rt, seen, pass, (bytes: number) => {
        const p = rt.heap.alloc(Math.max(16, bytes), 'workspace');
        blocks.push(p);
        return p;
      });
    } catch (e) {
      for (const b of blocks) rt.free(b);
      throw e;
    }
    if (!replayable) {
      for (const b of blocks) rt.free(b);
      return { plan: null, value };
    }
    const ops = rt.heap.alloc(4 * words.length + 16, 'plan');
    rt.i32.set(words, ops >>> 2);
    return { plan: new Plan(rt, ops, words.length, ops + 4 * words.length, [...blocks, ops], value), value };
  }

  /**
   * Replay the pass: -1 when it ran through; else the pass found a value that is not finite,
   * and the number of the finiteness check that found it (0-based, in recording order) is returned.
   */
  run(): number {
    const r = this.rt.k.plan_run(this.ops, this.words, this.status);
    if (r < 0) return -1;
    let checks = 0, p = this.ops >>> 2;
    const i32 = this.rt.i32;
    for (let rec = 0; rec < r; rec++) {
      const op = i32[p];
      if (op === CHECK) checks++;
      p += 1 + PLAN_KERNELS[op][1].length;
    }
    return checks;
  }

  /** Free the records and the scratch the plan owns (its buffers are the caller's). */
  dispose(): void {
    for (const b of this.blocks) this.rt.free(b);
    this.blocks.length = 0;
  }
}
