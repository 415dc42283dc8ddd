/**
 * {@link Sequential} model files (`VDRP`): a JSON header (input shape, seed, each layer's class,
 * options, parameter groups and state) and the f32 values, in the container of `container.ts`
 * (byte layout there). Reading validates everything before anything is allocated in wasm memory.
 * @module
 */
import { ModelFormatError, OutOfMemoryError, VardropError } from './errors.js';
import { Runtime } from './runtime/runtime.js';
import { Shape } from './tensor.js';
import { Layer } from './layers/layer.js';
import { BatchNorm } from './layers/normalization.js';
import { Activation, ELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh } from './layers/activation.js';
import { Dropout, GaussianDropout } from './layers/dropout.js';
import { AvgPool2d, MaxPool2d } from './layers/pool.js';
import { Flatten } from './layers/reshape.js';
import { Conv2d, Dense } from './layers/dense.js';
import {
  GroupSparseVDConv2d, GroupSparseVDDense, SparseVDConv2d, SparseVDDense, VariationalDropoutConv2d, VariationalDropoutDense,
} from './layers/bayesian.js';
import type { Sequential, SequentialOptions, TrainingState } from './model.js';
import { OptimizerState, optimizerClasses, optimizerFromConfig } from './optim.js';
import { optionsObject, runtimeOption } from './validate.js';
import {
  ContainerReader, LayerEntry, MODEL_MAGIC, MODEL_VERSION, PayloadWriter, applyLayerEntry, bad, isInt, isObject, openModelFile, readLayerEntry,
  show, writeContainer, writeLayerEntry,
} from './container.js';

export { crc32, writeContainer } from './container.js';



/**
 * The built-in layer classes a model file may name. Referencing them keeps their modules (and
 * their `registerLayer` calls) in any bundle that loads models, whatever else it tree-shakes.
 */
export const builtinLayers: readonly (abstract new (...args: never[]) => Layer)[] = [
  Dense, Conv2d, SparseVDDense, SparseVDConv2d, VariationalDropoutDense, VariationalDropoutConv2d,
  GroupSparseVDDense, GroupSparseVDConv2d, Activation, ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softmax, Dropout, GaussianDropout,
  MaxPool2d, AvgPool2d, Flatten, BatchNorm,
];

/** Options of `Sequential.load`. */
export interface LoadOptions {
  /** Runtime to build the model in (default: the shared one). */
  runtime?: Runtime;
}

/** Options of `model.save()`. */
export interface SaveOptions {
  /** Keep the optimizer state (moments, step count) so training can resume bit for bit (default true). */
  includeOptimizer?: boolean;
}

/**
 * Serialize a {@link Sequential}: magic `VDRP`, version 1, a JSON header (input shape, seed,
 * each layer's class and options from `layer.config()`, each parameter group's and state
 * tensor's name, shape and payload segment, and the optional training section: epochs done,
 * loss, optimizer class, options, step count and state arrays) and the f32 values, 16-byte
 * aligned, with CRC-32s of header and payload. See `container.ts` for the byte layout. The
 * caller (`model.save()`) has checked `model`.
 */
export function writeModel(model: Sequential, opts: SaveOptions = {}): Uint8Array {
  const w = new PayloadWriter();
  const layers = model.layers.map((l) => writeLayerEntry(w, l));
  const header: Record<string, unknown> = { format: 'vardrop-model', inputShape: model.inputShape.slice(), seed: model.seed, layers };
  const training = writeTraining(w, model.trainingState, opts.includeOptimizer ?? true);
  if (training) header.training = training;
  return writeContainer(MODEL_MAGIC, MODEL_VERSION, header, w.finish());
}

/* Training section (optional; readers before it ignore it): where a run stands, so it resumes.
 * `training: { epoch, loss, optimizer?: { className, options, steps,
 *   slots: [{ param, values: [{ name, offset, length }] }] } }` */

function writeTraining(w: PayloadWriter, s: TrainingState | null, withOptimizer: boolean): Record<string, unknown> | null {
  if (!s) return null;
  const out: Record<string, unknown> = { epoch: s.epoch, loss: s.loss };
  const o = s.optimizer;
  // Registered optimizer classes only: a file must be able to rebuild what it names.
  if (withOptimizer && o && optimizerClasses().includes(o.className)) {
    const names = optimizerFromConfig(o).slotNames();
    out.optimizer = {
      className: o.className, options: o.options, steps: o.steps,
      slots: o.slots.map((e) => ({ param: e.param, values: e.values.map((v, k) => ({ name: names[k], ...w.add(v) })) })),
    };
  }
  return out;
}

/** Read and check the training section against the built `model` (no wasm allocation). */
function readTraining(r: ContainerReader, v: unknown, model: Sequential): TrainingState {
  const f = 'header.training';
  if (!isObject(v)) bad(f, 'an object {epoch, loss, optimizer?}', show(v));
  if (!isInt(v.epoch) || v.epoch > 2 ** 31 - 1) bad(`${f}.epoch`, 'a non-negative integer', show(v.epoch));
  if (!['softmaxCrossEntropy', 'mse', 'gaussianNll'].includes(v.loss as string)) bad(`${f}.loss`, "'softmaxCrossEntropy' | 'mse' | 'gaussianNll'", show(v.loss));
  const state: TrainingState = { epoch: v.epoch, loss: v.loss as TrainingState['loss'], optimizer: null };
  if (v.optimizer === undefined) return state;
  const o = v.optimizer, g = `${f}.optimizer`;
  if (!isObject(o)) bad(g, 'an object {className, options, steps, slots}', show(o));
  if (typeof o.className !== 'string' || !optimizerClasses().includes(o.className)) bad(`${g}.className`, `a registered optimizer (${optimizerClasses().join(', ')})`, show(o.className));
  if (!isObject(o.options)) bad(`${g}.options`, 'an object', show(o.options));
  if (!isInt(o.steps)) bad(`${g}.steps`, 'a non-negative integer', show(o.steps));
  const params = model.params();
  if (!Array.isArray(o.slots) || (o.slots.length !== 0 && o.slots.length !== params.length)) {
    bad(`${g}.slots`, `an array of ${params.length} entries (one per parameter group) or none`, show(o.slots));
  }
  const names = (() => {
    try {
      return optimizerFromConfig({ className: o.className as string, options: o.options as OptimizerState['options'] }).slotNames();
    } catch (err) {
      if (err instanceof VardropError) throw new ModelFormatError(`${g}.options.${err.argument}`, err.expected, err.received);
      throw err;
    }
  })();
  const slots = (o.slots as unknown[]).map((e, i) => {
    const h = `${g}.slots[${i}]`, p = params[i];
    if (!isObject(e)) bad(h, 'an entry {param, values}', show(e));
    if (e.param !== p.name) bad(`${h}.param`, JSON.stringify(p.name), show(e.param));
    if (!Array.isArray(e.values) || e.values.length !== names.length) bad(`${h}.values`, `${names.length} arrays (${names.join(', ') || 'none'})`, show(e.values));
    return {
      param: p.name,
      values: (e.values as unknown[]).map((ref, k) => {
        if (!isObject(ref) || ref.name !== names[k]) bad(`${h}.values[${k}].name`, JSON.stringify(names[k]), show(isObject(ref) ? ref.name : ref));
        return r.read(`${h}.values[${k}]`, ref, 'f32', p.value.size);
      }),
    };
  });
  state.optimizer = { className: o.className, options: o.options as OptimizerState['options'], steps: o.steps, slots };
  return state;
}

/**
 * Read a model written by {@link writeModel}, built by `build` (the caller's `Sequential`
 * constructor). Everything is validated before the model is built:
 * magic, version, lengths, checksums, JSON, known layer classes, layer options, that each weight
 * layer fits the payload (so a hostile config cannot make us allocate gigabytes), segment
 * bounds and overlap, finite values; then, after building, every parameter's and state
 * tensor's name and shape against the rebuilt layers, and the training section. Throws
 * {@link ModelFormatError} (the runtime is left as it was).
 */
export function readModel(bytes: Uint8Array, opts: LoadOptions, build: (o: SequentialOptions) => Sequential): Sequential {
  const rt = runtimeOption(optionsObject('options', opts).runtime);
  const r = openModelFile(bytes, rt);
  const h = r.header;

  // 1. Read every layer entry: constructors and plans allocate nothing; values stay on the host.
  // (builtinLayers is read here so bundlers keep the built-in classes registered.)
  if (!builtinLayers.length) bad('header.layers', 'built-in layer classes', 'none');
  let shape: Shape = h.inputShape as number[];
  const entries: LayerEntry[] = (h.layers as unknown[]).map((e, i) => {
    const entry = readLayerEntry(r, e, `header.layers[${i}]`, shape);
    shape = entry.outputShape;
    return entry;
  });
  const layers: Layer[] = entries.map((e) => e.layer);

  // 2. Build (allocates parameters), then check and copy every tensor; free everything on failure.
  let model: Sequential | null = null;
  try {
    try {
      model = build({ inputShape: h.inputShape as number[], seed: h.seed as number, layers, runtime: rt });
    } catch (err) {
      if (err instanceof ModelFormatError) throw err;
      throw new ModelFormatError('header.layers', 'layers that build on the input shape', (err as Error)?.message ?? String(err));
    }
    entries.forEach((e, i) => applyLayerEntry(e, `header.layers[${i}]`));
    if (h.training !== undefined) model.setTrainingState(readTraining(r, h.training, model));
    return model;
  } catch (err) {
    (model as Sequential | null)?.dispose();
    if (!model) for (const l of layers) if (l.built) l.dispose();
    if (err instanceof OutOfMemoryError) throw new ModelFormatError('header.layers', 'parameters fitting in wasm memory', err.received);
    throw err;
  }
}
