import { describe, expect, it } from 'vitest';

// The published inference entry (dist/infer.js, its own wasm) against the full bundle
// (dist/index.js) on the same model files, in Node and in Chromium: the same Float32 bits.
const base = typeof window === 'undefined' ? new URL('../dist/', import.meta.url).href : new URL('/dist/', location.origin).href;
type Full = typeof import('../src/index.js');
type Infer = typeof import('../src/infer.js');
const full: Full = await import(/* @vite-ignore */ `${base}index.js`);
const infer: Infer = await import(/* @vite-ignore */ `${base}infer.js`);
const inferMc: typeof import('../src/infer-mc.js') = await import(/* @vite-ignore */ `${base}infer-mc.js`);

/** Inputs with the first quarter of the features zero in every sample (so a Dense layer packs its live columns). */
function inputs(n: number, per: number, seed: number): Float32Array {
  return Float32Array.from({ length: n * per }, (_, i) => ((i % per) < per / 4 ? 0 : Math.sin(i * 0.37 + seed) * 1.5));
}

const bits = (a: Float32Array | Int32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** A trained MLP touching every dense layer family, fused activations and dropout; 300 inputs (> one GEMM k-block). */
function mlp(vd: Full): { file: Uint8Array; x: Float32Array } {
  const per = 300;
  const m = new vd.Sequential({
    inputShape: [per], seed: 7, layers: [
      new vd.Dense({ units: 24, activation: 'relu' }),
      new vd.SparseVDDense({ units: 20, activation: { kind: 'leakyRelu', alpha: 0.2 } }),
      new vd.Dropout({ rate: 0.3 }),
      new vd.VariationalDropoutDense({ units: 16, alpha: 'unit', threshold: -3.5 }),
      new vd.Tanh(),
      new vd.GroupSparseVDDense({ units: 12 }),
      new vd.ELU({ alpha: 0.5 }),
      new vd.VariationalDropoutDense({ units: 10, learnAlpha: false, initialLogAlpha: -2, useBias: false }),
      new vd.Sigmoid(),
      new vd.Dense({ units: 5 }),
    ],
  });
  const x = inputs(120, per, 1);
  vd.fit(m, x, Int32Array.from({ length: 120 }, (_, i) => i % 5), { epochs: 2, batchSize: 40, progress: false });
  // Drop some Sparse VD weights for real (large log σ²): the mask must come out the same.
  const w = m.getWeights();
  const ls = w[3];
  for (let i = 0; i < ls.length; i += 3) ls[i] = 4;
  m.setWeights(w);
  return { file: m.save(), x: inputs(70, per, 2) };
}

/** A trained convnet: conv (same padding), batch norm, both poolings, Sparse VD and group-sparse convolutions, softmax. */
function convnet(vd: Full): { file: Uint8Array; x: Float32Array } {
  const m = new vd.Sequential({
    inputShape: [10, 10, 2], seed: 11, layers: [
      new vd.Conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }),
      new vd.BatchNorm(),
      new vd.MaxPool2d({ poolSize: 2 }),
      new vd.SparseVDConv2d({ filters: 8, kernelSize: [3, 2], stride: 1 }),
      new vd.ReLU(),
      new vd.GroupSparseVDConv2d({ filters: 5, kernelSize: 2 }),
      new vd.AvgPool2d({ poolSize: 2, stride: 1 }),
      new vd.Flatten(),
      new vd.Dense({ units: 4 }),
      new vd.Softmax(),
    ],
  });
  const x = inputs(40, 200, 3);
  vd.fit(m, x, Int32Array.from({ length: 40 }, (_, i) => i % 4), { epochs: 2, batchSize: 20, progress: false });
  return { file: m.save(), x: inputs(9, 200, 4) };
}

describe('vardrop/infer', () => {
  const cases = [['MLP', mlp], ['convnet', convnet]] as const;
  for (const [name, make] of cases) {
    it(`${name}: a dense model file predicts as Sequential.load does, bit for bit (batches of 256, 7 and 1)`, () => {
      const { file, x } = make(full);
      const ref = full.Sequential.load(file), got = infer.load(file);
      const per = ref.inputSize;
      for (const batchSize of [256, 7]) {
        expect(bits(got.predict(x, { batchSize }))).toEqual(bits(ref.predict(x, { batchSize })));
      }
      expect(bits(got.predictProba(x))).toEqual(bits(ref.predictProba(x)));
      expect(Array.from(got.predictClasses(x))).toEqual(Array.from(ref.predictClasses(x)));
      const x1 = x.slice(per, 2 * per);
      expect(bits(got.predict(x1))).toEqual(bits(ref.predict(x1)));
      expect(got.inputShape).toEqual(ref.inputShape);
      expect(got.outputShape).toEqual(ref.outputShape);
      got.dispose();
      ref.dispose();
    });

    it(`${name}: a pruned model file predicts as SparseModel.load does, bit for bit (sparse and dense steps)`, () => {
      const { file, x } = make(full);
      const m = full.Sequential.load(file);
      for (const sparseBelow of [1, 0, undefined]) {
        const bytes = full.prune(m, { sparseBelow }).save();
        const ref = full.SparseModel.load(bytes), got = infer.load(bytes);
        expect(bits(got.predict(x))).toEqual(bits(ref.predict(x)));
        expect(bits(got.predict(x.slice(0, m.inputSize)))).toEqual(bits(ref.predict(x.slice(0, m.inputSize))));
        expect(got.nnz).toBe(ref.nnz);
        got.dispose();
        ref.dispose();
      }
      m.dispose();
    });
  }

  it('runs its own wasm: the forward kernels only, in a runtime of its own', async () => {
    const rt = await infer.init();
    expect(rt).toBeInstanceOf(infer.Runtime);
    expect(rt).not.toBeInstanceOf(full.Runtime);
    const k = rt.k as unknown as Record<string, unknown>;
    for (const name of ['gemm_f32_nn', 'spmm_f32_csr', 'conv2d_f32_nhwc', 'max_pool2d_f32_nhwc', 'softmax_rows_f32', 'batchnorm_forward_infer_f32', 'first_nonfinite_f32']) {
      expect(typeof k[name], name).toBe('function');
    }
    for (const name of ['conv2d_backward_filter_f32_nhwc', 'relu_backward_f32', 'adam_f32', 'threefry2x32_20', 'svd_kl_f32', 'lstm_backward_f32', 'noise_gauss_f32', 'sgld_f32']) {
      expect(k[name], name).toBeUndefined();
    }
    // Monte-Carlo prediction's kernels are vardrop/infer-mc's.
    const kmc = (await inferMc.init()).k as unknown as Record<string, unknown>;
    for (const name of ['lrt_sample_f32', 'mc_weight_sample_f32', 'noise_gauss_at_f32', 'entropy_rows_f32']) {
      expect(k[name], name).toBeUndefined();
      expect(typeof kmc[name], name).toBe('function');
    }
  });

  it('predictMC: vardrop/infer-mc gives the full bundle\'s bits in both modes; vardrop/infer predicts the same file and names the entry to use', () => {
    const { file, x } = mlp(full);
    const m = full.Sequential.load(file);
    const sm = full.prune(m, { uncertainty: true }), bytes = sm.save();
    const ref = full.SparseModel.load(bytes), got = inferMc.load(bytes), plain = infer.load(bytes);
    for (const mode of ['weights', 'lrt'] as const) {
      const a = ref.predictMC(x, { samples: 4, seed: 3, mode }), b = got.predictMC(x, { samples: 4, seed: 3, mode });
      expect(bits(b.mean), mode).toEqual(bits(a.mean));
      expect(bits(b.predictiveEntropy), mode).toEqual(bits(a.predictiveEntropy));
      expect(bits(b.mutualInformation), mode).toEqual(bits(a.mutualInformation));
    }
    expect(bits(got.predict(x))).toEqual(bits(ref.predict(x)));
    expect(bits(plain.predict(x))).toEqual(bits(ref.predict(x)));
    expect(() => plain.predictMC(x, { samples: 2 })).toThrow(infer.ArgumentError);
    expect(() => plain.predictMC(x, { samples: 2 })).toThrow(/vardrop\/infer-mc/);
    for (const t of [ref, got, plain, sm, m]) t.dispose();
  });

  it('refuses bad files with its typed errors and stays usable', () => {
    const { file, x } = mlp(full);
    const bad = file.slice();
    bad[0] = 0x58;
    expect(() => infer.load(bad)).toThrow(infer.ModelFormatError);
    expect(() => infer.load(file.subarray(0, file.length - 9))).toThrow(infer.ModelFormatError);
    expect(() => infer.load('not bytes' as never)).toThrow(infer.ModelFormatError);
    expect(() => infer.load(file, 3 as never)).toThrow(infer.ArgumentError);
    const lstm = new full.Sequential({ inputShape: [4, 3], seed: 1, layers: [new full.LSTM({ units: 4 }), new full.Dense({ units: 2 })] });
    expect(() => infer.load(lstm.save())).toThrow(/className.*LSTM|LSTM/);
    const got = infer.load(file);
    expect(() => got.predict(new Float32Array(7))).toThrow(infer.ShapeError);
    const nan = x.slice(0, 300);
    nan[100] = NaN;
    expect(() => got.predict(nan)).toThrow(infer.NonFiniteError);
    expect(got.predict(x).every(Number.isFinite)).toBe(true);
  });
});
