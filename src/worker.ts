/**
 * Work off the main thread: a host that runs vardrop in a browser Web Worker or a Node
 * `worker_thread` (one wasm instance per worker), a small message protocol with transferable
 * buffers, and {@link fitInWorker}, which trains a model there and streams its logs back.
 *
 * Protocol (every message is a plain object):
 * - worker → host `{ ready: true }` once it serves (or `{ ready: false, error }` if it cannot);
 * - host → worker `{ id, method, args }`: run the handler `method`;
 * - worker → host `{ id, event }` any number of times while it runs (progress, logs),
 *   then `{ id, result }` or `{ id, error }` (a serialized error, typed again on the host);
 * - host → worker `{ id, abort: reason }` when the call's AbortSignal fires: the handler's
 *   `ctx.signal` aborts (the built-in `fit` stops at its next yield), and the call still ends
 *   with `{ id, result }` or `{ id, error }`.
 * Large arrays travel as transferables: they move between threads without a copy.
 */
import { AbortError, ArgumentError, DivergenceError, KernelError, ModelFormatError, NonFiniteError, OutOfMemoryError, ShapeError, VardropError, WorkerError, describe } from './errors.js';
import { loadModel, saveModel } from './model.js';
import type { Sequential } from './model.js';
import { Adam, Optimizer, RMSProp, SGD } from './optim.js';
import type { AdamOptions, RMSPropOptions, SGDOptions } from './optim.js';
import { init } from './runtime/runtime.js';
import { Schedule, schedules } from './schedule.js';
import { EpochLog, FitOptions, History, Targets, fitAsync } from './train.js';

/** A browser `Worker` or a Node `worker_threads` `Worker`: whatever posts messages and terminates. */
export type WorkerLike = BrowserWorkerLike | NodeWorkerLike;

/** A browser `Worker`, as {@link WorkerHost.wrap} uses it. */
export interface BrowserWorkerLike {
  /** Send a message, moving the `transfer` buffers. */
  postMessage(message: unknown, transfer?: Transferable[]): void;
  /** Stop the worker. */
  terminate(): unknown;
  /** Listen to `message`, `error` and `messageerror`. */
  addEventListener(type: string, fn: (ev: never) => void): void;
}

/** A Node `worker_threads` `Worker`, as {@link WorkerHost.wrap} uses it. */
export interface NodeWorkerLike {
  /** Send a message, moving the `transfer` buffers. */
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  /** Stop the worker. */
  terminate(): unknown;
  /** Listen to `message`, `error`, `messageerror` and `exit`. */
  on(type: string, fn: (...a: never[]) => void): unknown;
}

/** What a handler gets besides its arguments. */
export interface WorkerCallContext {
  /** Send a progress event to the caller's `onEvent`; `transfer` lists buffers to move instead of copying. */
  emit(event: unknown, transfer?: Transferable[]): void;
  /**
   * Aborts when the caller's {@link CallOptions.signal} does. A long handler should pass it on
   * (e.g. to {@link fitAsync}) or check it between pieces of work, and then throw; its
   * `reason` is an Error whose message is the caller's reason.
   */
  readonly signal: AbortSignal;
}

/**
 * A function the worker runs on request. It gets the (structured-cloned) arguments and returns
 * the result, or a promise of it; return `{ value, transfer }` via {@link transferable} to move
 * buffers back without copying.
 */
export type WorkerHandler = (args: never, ctx: WorkerCallContext) => unknown;

const TRANSFER = Symbol('vardrop.transfer');

/** Mark a handler's result so that the listed buffers are moved to the caller, not copied. */
export function transferable<T>(value: T, transfer: Transferable[]): T {
  return { [TRANSFER]: transfer, value } as unknown as T;
}

interface SerializedError {
  name: string;
  message: string;
  argument?: string;
  expected?: string;
  received?: string;
}

const ERRORS: Record<string, new (a: string, e: string, r: string, m?: string) => VardropError> = {
  VardropError, ShapeError, ArgumentError, NonFiniteError, OutOfMemoryError, ModelFormatError, DivergenceError, AbortError, KernelError, WorkerError,
};

function serializeError(e: unknown): SerializedError {
  if (e instanceof VardropError) return { name: e.name, message: e.message, argument: e.argument, expected: e.expected, received: e.received };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** An abort reason as text that can cross to the worker. */
function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : describe(reason);
}

function abortError(reason: unknown): AbortError {
  return new AbortError('signal', 'the call to run to its end', `an abort (${reasonText(reason)})`);
}

/** The error the worker threw, as the same typed class on this side. */
function reviveError(s: SerializedError): Error {
  const Cls = ERRORS[s.name];
  if (Cls && s.argument !== undefined) return new Cls(s.argument, s.expected ?? '', s.received ?? '', s.message);
  const e = new Error(s.message);
  e.name = s.name;
  return e;
}

/** The two ends of a worker, as one interface. */
interface Port {
  post(msg: unknown, transfer?: Transferable[]): void;
  listen(onMessage: (msg: unknown) => void, onFailure: (why: string) => void): void;
  terminate(): Promise<void>;
}

function hostPort(w: WorkerLike): Port {
  if ('on' in w) {
    return {
      post: (m, t) => w.postMessage(m, t),
      listen(onMessage, onFailure) {
        w.on('message', ((m: unknown) => onMessage(m)) as never);
        w.on('error', ((e: Error) => onFailure(`worker error: ${e?.message ?? e}`)) as never);
        w.on('messageerror', (() => onFailure('a message from the worker could not be deserialized')) as never);
        w.on('exit', ((code: number) => onFailure(`worker exited (code ${code})`)) as never);
      },
      terminate: async () => {
        await w.terminate();
      },
    };
  }
  return {
    post: (m, t) => w.postMessage(m, t ?? []),
    listen(onMessage, onFailure) {
      w.addEventListener('message', ((ev: MessageEvent) => onMessage(ev.data)) as never);
      w.addEventListener('error', ((ev: ErrorEvent) => {
        ev.preventDefault?.();
        onFailure(`worker error: ${ev.message || 'the worker script failed to load or threw'}`);
      }) as never);
      w.addEventListener('messageerror', (() => onFailure('a message from the worker could not be deserialized')) as never);
    },
    terminate: async () => {
      w.terminate();
    },
  };
}

/** Options of {@link WorkerHost.spawn}. */
export interface SpawnOptions {
  /**
   * URL of an ES module that exports {@link serveWorker} (default: this library's own module,
   * `import.meta.url`). Pass it when a bundler has renamed or merged the library's file; or
   * build your own worker entry that calls `serveWorker()` and wrap it with {@link WorkerHost.wrap}.
   */
  url?: string | URL;
}

/** Options of {@link WorkerHost.call}. */
export interface CallOptions {
  /** Buffers in `args` to move to the worker instead of copying (they become unusable here). */
  transfer?: Transferable[];
  /** Called with every event the handler emits, in order. */
  onEvent?: (event: never) => void;
  /**
   * Abort the call cooperatively: the handler's {@link WorkerCallContext.signal} aborts and the
   * promise settles with what the handler then does (the built-in `fit` stops at its next
   * yield and rejects with {@link AbortError}, as {@link fitAsync} does). The worker stays
   * usable for further calls. A handler that ignores its signal runs to its end; use
   * {@link WorkerHost.terminate} to stop one outright.
   */
  signal?: AbortSignal;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  onEvent?: (event: never) => void;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && typeof (globalThis as { window?: unknown }).window === 'undefined';
}

// Kept out of static imports so browser bundles never see it.
const NODE_WORKER_THREADS = 'node:worker_threads';

/**
 * One worker running vardrop with its own wasm instance. Calls run one after another in the
 * worker (each handler runs to completion); several hosts run in parallel.
 */
export class WorkerHost {
  private readonly port: Port;
  private readonly pending = new Map<number, Pending>();
  private readonly ready: Promise<void>;
  private nextId = 1;
  private failure: Error | null = null;

  private constructor(port: Port) {
    this.port = port;
    let markReady!: () => void, failReady!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      markReady = res;
      failReady = rej;
    });
    this.ready.catch(() => {}); // observed through calls
    port.listen(
      (raw) => {
        const m = raw as { ready?: boolean; id?: number; event?: unknown; result?: unknown; error?: SerializedError };
        if (m.ready !== undefined) {
          if (m.ready) markReady();
          else this.fail(new WorkerError('worker', 'a worker that serves vardrop', m.error?.message ?? 'it could not start'), failReady);
          return;
        }
        const p = m.id === undefined ? undefined : this.pending.get(m.id);
        if (!p) return;
        if ('event' in m) p.onEvent?.(m.event as never);
        else {
          this.pending.delete(m.id!);
          if (m.error) p.reject(reviveError(m.error));
          else p.resolve(m.result);
        }
      },
      (why) => this.fail(new WorkerError('worker', 'a running worker', why), failReady),
    );
  }

  private fail(e: Error, failReady: (e: Error) => void): void {
    if (this.failure) return;
    this.failure = e;
    failReady(e);
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    void this.port.terminate();
  }

  /**
   * Start a worker (a module Web Worker in browsers, a `worker_thread` in Node) that imports
   * vardrop and serves it; resolves once the worker is ready.
   */
  static async spawn(opts: SpawnOptions = {}): Promise<WorkerHost> {
    const url = String(opts.url ?? import.meta.url);
    let host: WorkerHost;
    if (isNode()) {
      const { Worker } = (await import(/* @vite-ignore */ NODE_WORKER_THREADS)) as { Worker: new (src: string, o: { eval: boolean }) => WorkerLike };
      const src = `import(${JSON.stringify(url)}).then((m) => m.serveWorker(), (e) => require('node:worker_threads').parentPort.postMessage({ ready: false, error: { name: 'Error', message: String(e && e.message || e) } }));`;
      host = new WorkerHost(hostPort(new Worker(src, { eval: true })));
    } else if (typeof Worker !== 'undefined') {
      const src = `import(${JSON.stringify(url)}).then((m) => m.serveWorker(), (e) => postMessage({ ready: false, error: { name: 'Error', message: String(e && e.message || e) } }));`;
      const blob = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
      host = new WorkerHost(hostPort(new Worker(blob, { type: 'module' }) as unknown as WorkerLike));
      host.ready.finally(() => URL.revokeObjectURL(blob)).catch(() => {});
    } else {
      throw new WorkerError('environment', 'Node worker_threads or Web Workers', 'neither is available');
    }
    await host.ready;
    return host;
  }

  /** Serve through a worker you started yourself, whose script calls {@link serveWorker}. */
  static wrap(worker: WorkerLike): WorkerHost {
    if (!worker || typeof (worker as { postMessage?: unknown }).postMessage !== 'function') {
      throw new ArgumentError('worker', 'a Worker (browser) or worker_threads Worker (Node)', describe(worker));
    }
    return new WorkerHost(hostPort(worker));
  }

  /** Run handler `method` in the worker with `args`; resolves to its result. */
  async call<T = unknown>(method: string, args: unknown, opts: CallOptions = {}): Promise<T> {
    if (typeof method !== 'string') throw new ArgumentError('method', 'a handler name', describe(method));
    if (this.failure) throw this.failure;
    const signal = opts.signal;
    if (signal?.aborted) throw abortError(signal.reason);
    await this.ready;
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      // The call settles when the worker answers: the handler sees the abort at its next yield.
      const onAbort = (): void => {
        if (this.pending.has(id)) this.port.post({ id, abort: reasonText(signal!.reason) });
      };
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (v) => (done(), resolve(v as T)),
        reject: (e) => (done(), reject(e)),
        onEvent: opts.onEvent,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.port.post({ id, method, args }, opts.transfer);
      } catch (e) {
        this.pending.delete(id);
        done();
        reject(new ArgumentError('args', 'structured-cloneable arguments (no functions or class instances)', `${(e as Error).message}`));
      }
    });
  }

  /** Stop the worker; pending calls reject with {@link WorkerError}. */
  async terminate(): Promise<void> {
    this.fail(new WorkerError('worker', 'a running worker', 'it was terminated'), () => {});
    await this.port.terminate();
  }
}

interface ServePort {
  post(msg: unknown, transfer?: Transferable[]): void;
  onMessage(fn: (msg: unknown) => void): void;
}

async function workerPort(): Promise<ServePort> {
  if (isNode()) {
    const { parentPort } = (await import(/* @vite-ignore */ NODE_WORKER_THREADS)) as {
      parentPort: { postMessage(m: unknown, t?: readonly unknown[]): void; on(t: 'message', fn: (m: unknown) => void): void } | null;
    };
    if (!parentPort) throw new WorkerError('serveWorker', 'to run inside a worker_thread', 'the main thread');
    return { post: (m, t) => parentPort.postMessage(m, t), onMessage: (fn) => parentPort.on('message', fn) };
  }
  const g = globalThis as unknown as { postMessage?: (m: unknown, t?: Transferable[]) => void; addEventListener?: (t: string, fn: (ev: MessageEvent) => void) => void; document?: unknown };
  if (typeof g.postMessage !== 'function' || typeof g.addEventListener !== 'function' || g.document !== undefined) {
    throw new WorkerError('serveWorker', 'to run inside a Web Worker', 'a page or an unknown environment');
  }
  return { post: (m, t) => g.postMessage!(m, t ?? []), onMessage: (fn) => g.addEventListener!('message', (ev) => fn(ev.data)) };
}

/** The handlers every worker serves; `serveWorker(extra)` adds more. */
export const builtinWorkerHandlers: Readonly<Record<string, WorkerHandler>> = {
  fit: fitHandler as WorkerHandler,
};

/**
 * Serve vardrop from inside a worker: answer {@link WorkerHost.call} requests with the built-in
 * handlers (`fit`) and the `handlers` given here. Call it once at the top of a worker script
 * (or let {@link WorkerHost.spawn} do it). Requests run one at a time, in arrival order.
 */
export async function serveWorker(handlers: Record<string, WorkerHandler> = {}): Promise<void> {
  const port = await workerPort();
  const table: Record<string, WorkerHandler> = { ...builtinWorkerHandlers, ...handlers };
  let queue = Promise.resolve();
  // Calls queued or running, by id: an abort message reaches the call's handler at once.
  const running = new Map<number, AbortController>();
  port.onMessage((raw) => {
    const m = raw as { id: number; method: string; args: unknown; abort?: string };
    if (m.abort !== undefined) {
      running.get(m.id)?.abort(new Error(m.abort));
      return;
    }
    const ac = new AbortController();
    running.set(m.id, ac);
    queue = queue.then(async () => {
      try {
        const h = table[m.method];
        if (!h) throw new ArgumentError('method', `one of ${Object.keys(table).join(', ')}`, describe(m.method));
        const ctx: WorkerCallContext = { emit: (event, transfer) => port.post({ id: m.id, event }, transfer), signal: ac.signal };
        const out = (await h(m.args as never, ctx)) as { [TRANSFER]?: Transferable[]; value?: unknown };
        if (out && typeof out === 'object' && TRANSFER in out) port.post({ id: m.id, result: out.value }, out[TRANSFER]);
        else port.post({ id: m.id, result: out });
      } catch (e) {
        port.post({ id: m.id, error: serializeError(e) });
      } finally {
        running.delete(m.id);
      }
    });
  });
  port.post({ ready: true });
}

// ---------------------------------------------------------------------------------------------
// Training in a worker.

/** An optimizer described by data, so that it can cross to a worker. */
export type OptimizerSpec =
  | ({ type: 'adam' } & AdamOptions)
  | ({ type: 'sgd' } & SGDOptions)
  | ({ type: 'rmsprop' } & RMSPropOptions);

/** A schedule described by data: a constant, or one of {@link schedules} with its arguments. */
export type ScheduleSpec =
  | number
  | { type: 'constant'; value: number }
  | { type: 'linear'; start: number; end: number; from?: number; to?: number }
  | { type: 'linearDecay'; value: number; start: number; end: number }
  | { type: 'step'; value: number; milestones: number[]; factor?: number }
  | { type: 'exponential'; value: number; decay: number }
  | { type: 'cosine'; value: number; epochs: number; min?: number };

/** Options of {@link fitInWorker}: those of {@link fit}, with the functions replaced by data. */
export interface WorkerFitOptions extends Omit<FitOptions, 'optimizer' | 'lr' | 'klWeight' | 'onEpochEnd' | 'onBatchEnd' | 'progress'> {
  /** Optimizer (default `{ type: 'adam', lr: 1e-3 }`). */
  optimizer?: OptimizerSpec;
  /** Learning-rate schedule overriding the optimizer's lr. */
  lr?: ScheduleSpec;
  /** KL weight β (default 1), e.g. `{ type: 'linear', start: 5, end: 20 }`. */
  klWeight?: ScheduleSpec;
  /** Called on this thread after every epoch with its log. */
  onEpochEnd?: (log: EpochLog) => void;
  /**
   * Called on this thread for every step, with the step's index in its epoch, the batch
   * objective and the 1-based epoch. Steps arrive in packets (see `batchLogInterval`).
   */
  onBatchEnd?: (batch: number, loss: number, epoch: number) => void;
  /** Longest time in ms a step's log waits in the worker before it is sent (default 100). */
  batchLogInterval?: number;
  /**
   * Move the buffers of x, y and the validation data to the worker instead of copying them
   * once (default false). They become unusable (length 0) on this thread.
   */
  transfer?: boolean;
  /** Worker to train in (default: a new one, terminated at the end). */
  host?: WorkerHost;
  /**
   * Abort training: the worker stops at its next yield (within `yieldEvery` ms, one step at
   * most) and the promise rejects with {@link AbortError}, as {@link fitAsync} does; the
   * worker (a given `host`) stays usable for the next fit.
   */
  signal?: AbortSignal;
  /** Longest stretch of training between two checks for messages in the worker, in ms (default 16). */
  yieldEvery?: number;
}

/** Result of {@link fitInWorker}. */
export interface WorkerFitResult {
  /** What {@link fit} returned in the worker. */
  history: History;
  /** The trained model's file ({@link saveModel} format). */
  modelBytes: Uint8Array;
  /** The trained model, loaded from `modelBytes` into the input model's runtime. */
  model: Sequential;
}

type FitArgs = {
  model: Uint8Array;
  x: Float32Array;
  y: Targets;
  validationData?: { x: Float32Array; y: Targets };
  options: Omit<WorkerFitOptions, 'onEpochEnd' | 'onBatchEnd' | 'host' | 'signal' | 'transfer' | 'validationData'>;
};

type FitEvent = { type: 'epoch'; log: EpochLog } | { type: 'batches'; epoch: number; steps: Float64Array };

/** Build the optimizer an {@link OptimizerSpec} describes. */
export function optimizerFromSpec(spec: OptimizerSpec): Optimizer {
  if (!spec || typeof spec !== 'object') throw new ArgumentError('optimizer', "{ type: 'adam' | 'sgd' | 'rmsprop', ... }", describe(spec));
  const { type, ...o } = spec;
  if (type === 'adam') return new Adam(o as AdamOptions);
  if (type === 'sgd') return new SGD(o as SGDOptions);
  if (type === 'rmsprop') return new RMSProp(o as RMSPropOptions);
  throw new ArgumentError('optimizer.type', "'adam' | 'sgd' | 'rmsprop'", describe(type));
}

/** Build the schedule a {@link ScheduleSpec} describes. */
export function scheduleFromSpec(name: string, spec: ScheduleSpec): Schedule {
  if (typeof spec === 'number') return spec;
  if (!spec || typeof spec !== 'object') throw new ArgumentError(name, 'a number or { type, ... } schedule', describe(spec));
  switch (spec.type) {
    case 'constant': return schedules.constant(spec.value);
    case 'linear': return schedules.linear(spec);
    case 'linearDecay': return schedules.linearDecay(spec.value, spec);
    case 'step': return schedules.step(spec.value, spec);
    case 'exponential': return schedules.exponential(spec.value, spec.decay);
    case 'cosine': return schedules.cosine(spec.value, spec.epochs, spec.min);
  }
  throw new ArgumentError(`${name}.type`, "'constant' | 'linear' | 'linearDecay' | 'step' | 'exponential' | 'cosine'", describe((spec as { type?: unknown }).type));
}

const clock = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

async function fitHandler(args: FitArgs, ctx: WorkerCallContext): Promise<unknown> {
  const rt = await init();
  const model = loadModel(args.model, { runtime: rt });
  const { optimizer, lr, klWeight, batchLogInterval, ...rest } = args.options;
  const opt = optimizerFromSpec(optimizer ?? { type: 'adam', lr: 1e-3 });
  const interval = batchLogInterval ?? 100;
  // Step logs go out in packets of (index, loss) pairs, each packet's buffer moved, not copied.
  let steps = new Float64Array(512), used = 0, epoch = 1, last = clock();
  const flush = (): void => {
    if (used === 0) return;
    const packet = steps.slice(0, used);
    ctx.emit({ type: 'batches', epoch, steps: packet } satisfies FitEvent, [packet.buffer]);
    used = 0;
    last = clock();
  };
  try {
    const history = await fitAsync(model, args.x, args.y, {
      ...rest,
      signal: ctx.signal,
      validationData: args.validationData,
      optimizer: opt,
      lr: lr === undefined ? undefined : scheduleFromSpec('lr', lr),
      klWeight: klWeight === undefined ? undefined : scheduleFromSpec('klWeight', klWeight),
      progress: false,
      onBatchEnd: (b, loss) => {
        if (used === steps.length) flush();
        steps[used++] = b;
        steps[used++] = loss;
        if (clock() - last >= interval) flush();
      },
      onEpochEnd: (log) => {
        flush();
        ctx.emit({ type: 'epoch', log } satisfies FitEvent);
        epoch = log.epoch + 1;
      },
    });
    flush();
    const saved = saveModel(model);
    const bytes = ownBuffer(saved) ? saved : saved.slice();
    return transferable({ history, model: bytes }, [bytes.buffer as ArrayBuffer]);
  } finally {
    opt.dispose();
    model.dispose();
  }
}

/** The whole buffer of `a` when `a` spans all of it (so moving it moves nothing else), else null. */
function ownBuffer(a: unknown): ArrayBuffer | null {
  if (!ArrayBuffer.isView(a)) return null;
  const b = a.buffer;
  return b instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === b.byteLength ? b : null;
}

/**
 * Train `model` with {@link fitAsync} in a worker, so the calling thread stays free. The model goes
 * over as its file, the data once (copied, or moved with `transfer: true`), never per epoch; logs
 * stream back through `onEpochEnd`/`onBatchEnd`; the trained model comes back as its file and
 * loaded. The input model is left as it was. Same seed, same bits as `fit(model, x, y, ...)`.
 */
export async function fitInWorker(model: Sequential, x: Float32Array, y: Targets, opts: WorkerFitOptions): Promise<WorkerFitResult> {
  if (!opts || typeof opts !== 'object') throw new ArgumentError('options', 'an options object with epochs', describe(opts));
  const { onEpochEnd, onBatchEnd, host: given, signal, transfer, validationData, ...options } = opts;
  // Checked here, before a worker starts, so bad input fails fast and typed.
  model.checkX(x);
  if (validationData) model.checkX(validationData.x, 'validationData.x');
  if (options.optimizer !== undefined) optimizerFromSpec(options.optimizer).dispose();
  if (options.lr !== undefined) scheduleFromSpec('lr', options.lr);
  if (options.klWeight !== undefined) scheduleFromSpec('klWeight', options.klWeight);
  const saved = saveModel(model);
  const bytes = ownBuffer(saved) ? saved : saved.slice();
  const moved: Transferable[] = [bytes.buffer as ArrayBuffer];
  if (transfer) {
    for (const a of [x, y, validationData?.x, validationData?.y]) {
      const b = ownBuffer(a);
      if (b && !moved.includes(b)) moved.push(b);
    }
  }
  const host = given ?? (await WorkerHost.spawn());
  try {
    const args: FitArgs = { model: bytes, x, y, validationData, options };
    const r = await host.call<{ history: History; model: Uint8Array }>('fit', args, {
      transfer: moved,
      signal,
      onEvent: (ev: FitEvent) => {
        if (ev.type === 'epoch') onEpochEnd?.(ev.log);
        else if (onBatchEnd) for (let i = 0; i < ev.steps.length; i += 2) onBatchEnd(ev.steps[i], ev.steps[i + 1], ev.epoch);
      },
    });
    return { history: r.history, modelBytes: r.model, model: loadModel(r.model, { runtime: model.rt }) };
  } finally {
    if (!given) await host.terminate();
  }
}
