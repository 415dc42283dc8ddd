/**
 * Typed errors thrown by vardrop. Every error names the argument at fault, what was
 * expected and what was received, so a caller can report it without parsing messages.
 * A thrown error never leaves a runtime, tensor or model in a half-updated state.
 */

/** Base class of every error vardrop throws on purpose. */
export class VardropError extends Error {
  /** Name of the argument (or file field) at fault, e.g. `"x"` or `"options.lr"`. */
  readonly argument: string;
  /** What was expected, in words, e.g. `"shape [*, 784]"`. */
  readonly expected: string;
  /** What was received, in words, e.g. `"shape [32, 100]"`. */
  readonly received: string;

  constructor(argument: string, expected: string, received: string, message?: string) {
    super(message ?? `${argument}: expected ${expected}, got ${received}`);
    this.name = new.target.name;
    this.argument = argument;
    this.expected = expected;
    this.received = received;
  }
}

/** A tensor or array has the wrong shape or length. */
export class ShapeError extends VardropError {}

/** An argument has the wrong type (e.g. `Float64Array` where `Float32Array` is required) or a bad value. */
export class ArgumentError extends VardropError {}

/** An input or a computed value contains NaN or ±Infinity. */
export class NonFiniteError extends VardropError {}

/** A requested allocation does not fit in WebAssembly linear memory (4 GiB at most). */
export class OutOfMemoryError extends VardropError {}

/** A serialized model is truncated, corrupted or hostile. */
export class ModelFormatError extends VardropError {}

/** Training diverged (loss or gradients became NaN/Inf); weights were restored to the last good step. */
export class DivergenceError extends VardropError {}

/** A worker could not start, failed, exited or was terminated while a call was running. */
export class WorkerError extends VardropError {}

/** A long-running call (e.g. `fitAsync`) was stopped through its AbortSignal; `name` is `"AbortError"` as for `fetch`. */
export class AbortError extends VardropError {}

/** A wasm kernel rejected its arguments (a precondition inside `assembly/` failed). */
export class KernelError extends VardropError {}

/** Describe a value for an error message: its type and, for arrays, length. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length: number }).length})`;
  if (Array.isArray(v)) return `Array(${v.length})`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return `${typeof v} ${String(v)}`;
}

/** Throw {@link ArgumentError} unless `v` is a finite integer in [min, max]. */
export function checkInt(name: string, v: unknown, min = 0, max = 2 ** 31 - 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ArgumentError(name, `an integer in [${min}, ${max}]`, describe(v));
  }
  return v;
}

/** Throw {@link ArgumentError} unless `v` is a finite number in [min, max]. */
export function checkNumber(name: string, v: unknown, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ArgumentError(name, `a finite number in [${min}, ${max}]`, describe(v));
  }
  return v;
}
