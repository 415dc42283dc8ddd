/**
 * {@link Sequential} model files (`VDRP`): a JSON header (input shape, seed, each layer's class,
 * options, parameter groups and state) and the f32 values, in the container of `container.ts`
 * (byte layout there). Reading validates everything before anything is allocated in wasm memory.
 * @module
 */
import { ModelFormatError, OutOfMemoryError } from './errors.js';
import { Runtime } from './runtime/runtime.js';
import { Shape } from './tensor.js';
import { Layer } from './layers/layer.js';
import { Sequential } from './model.js';
import { checkSequential, optionsObject, runtimeOption } from './validate.js';
import {
  ContainerReader, LayerEntry, MAX_ELEMENTS, PayloadWriter, applyLayerEntry, bad, checkShapeField, isInt, readLayerEntry, show,
  writeContainer, writeLayerEntry,
} from './container.js';

export { crc32, writeContainer } from './container.js';

const MODEL_MAGIC = 'VDRP';
const MODEL_VERSION = 1;

/** Options of {@link loadModel}. */
export interface LoadOptions {
  /** Runtime to build the model in (default: the shared one). */
  runtime?: Runtime;
}

/**
 * Serialize a {@link Sequential}: magic `VDRP`, version 1, a JSON header (input shape, seed,
 * each layer's class and options from `layer.config()`, each parameter group's and state
 * tensor's name, shape and payload segment) and the f32 values, 16-byte aligned, with CRC-32s of
 * header and payload. See `container.ts` for the byte layout.
 */
export function saveModel(model: Sequential): Uint8Array {
  checkSequential('model', model);
  const w = new PayloadWriter();
  const layers = model.layers.map((l) => writeLayerEntry(w, l));
  const header = { format: 'vardrop-model', inputShape: model.inputShape.slice(), seed: model.seed, layers };
  return writeContainer(MODEL_MAGIC, MODEL_VERSION, header, w.finish());
}

/**
 * Load a model written by {@link saveModel}. Everything is validated before the model is built:
 * magic, version, lengths, checksums, JSON, known layer classes, layer options, that each weight
 * layer fits the payload (so a hostile config cannot make us allocate gigabytes), segment
 * bounds and overlap, finite values; then, after building, every parameter's and state
 * tensor's name and shape against the rebuilt layers. Throws {@link ModelFormatError} (the
 * runtime is left as it was).
 */
export function loadModel(bytes: Uint8Array, opts: LoadOptions = {}): Sequential {
  const rt = runtimeOption(optionsObject('options', opts).runtime);
  const r = ContainerReader.open(bytes, MODEL_MAGIC, [MODEL_VERSION]);
  const h = r.header;
  if (h.format !== 'vardrop-model') bad('header.format', '"vardrop-model"', show(h.format));
  const inputSize = checkShapeField('header.inputShape', h.inputShape, MAX_ELEMENTS, 1);
  if ((h.inputShape as number[]).length === 0 || inputSize === 0) bad('header.inputShape', 'a non-empty shape', show(h.inputShape));
  if (!isInt(h.seed) || h.seed > 0xffffffff) bad('header.seed', 'an integer in [0, 2^32 − 1]', show(h.seed));
  if (!Array.isArray(h.layers) || h.layers.length === 0 || h.layers.length > 10000) bad('header.layers', 'a non-empty array of at most 10000 layers', show(h.layers));

  // 1. Read every layer entry: constructors and plans allocate nothing; values stay on the host.
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
      model = new Sequential({ inputShape: h.inputShape as number[], seed: h.seed, layers, runtime: rt });
    } catch (err) {
      if (err instanceof ModelFormatError) throw err;
      throw new ModelFormatError('header.layers', 'layers that build on the input shape', (err as Error)?.message ?? String(err));
    }
    entries.forEach((e, i) => applyLayerEntry(e, `header.layers[${i}]`));
    return model;
  } catch (err) {
    (model as Sequential | null)?.dispose();
    if (!model) for (const l of layers) if (l.built) l.dispose();
    if (err instanceof OutOfMemoryError) throw new ModelFormatError('header.layers', 'parameters fitting in wasm memory', err.received);
    throw err;
  }
}
