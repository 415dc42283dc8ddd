import path from 'node:path';
import typescript from '@rollup/plugin-typescript';
import terser from '@rollup/plugin-terser';
import { dts } from 'rollup-plugin-dts';

// Three bundles (wasm inlined as raw bytes, see scripts/embed-wasm.mjs) for Node, browser pages and
// web workers, each ESM + CJS + .d.ts: the full package (src/index.ts, every kernel),
// `vardrop/infer` (src/infer.ts), whose runtime inlines the inference-only module
// (build/vardrop-infer.wasm) in place of the full one: the same loader, the other bytes; and
// `vardrop/infer-mc` (src/infer-mc.ts, build/vardrop-infer-mc.wasm: plus Monte-Carlo prediction).
// The JS drops comments (the TSDoc lives in the .d.ts files and the sources behind the source maps);
// the inference entry, which has a size budget, is also minified (terser's safe defaults, three
// compress passes: no unsafe math). Class names are kept for the classes a user meets, since error
// names and the `describe` of a wrong argument come from them (the errors, Runtime, SparseModel);
// internal ones (Heap, Tensor, Plan, ContainerReader, ...) are mangled like any name.

/** Classes whose names an inference entry's user can see (see the comment above). */
const USER_CLASSES = /Error$|^(Runtime|SparseModel)$/;

const ts = () => typescript({ tsconfig: './tsconfig.json', compilerOptions: { noEmit: false, declaration: false, removeComments: true } });

/** src/runtime/runtime.ts's `./wasm-binary.js` resolved to another module's bytes (`file`, in src/runtime/). */
const wasmOf = (file) => ({
  name: 'infer-wasm',
  resolveId(source, importer) {
    if (source === './wasm-binary.js' && importer && path.resolve(importer) === path.resolve('src/runtime/runtime.ts')) {
      return path.resolve('src/runtime', file);
    }
    return null;
  },
});

/**
 * An inference entry's ESM + CJS bundles (minified) and .d.ts. The package declares
 * "sideEffects": false; here rollup is told so too, so modules the entry imports for one function
 * (layers/linear.ts, ops/bayes.ts, io.ts) bring that function only, and no layer module comes
 * along for its registerLayer call.
 */
const inferEntry = (name, wasm) => [
  {
    input: `src/${name}.ts`,
    output: [
      { file: `dist/${name}.js`, format: 'es', sourcemap: true },
      { file: `dist/${name}.cjs`, format: 'cjs', sourcemap: true },
    ],
    treeshake: { moduleSideEffects: false },
    plugins: [wasmOf(wasm), ts(), terser({ keep_classnames: USER_CLASSES, compress: { passes: 3 }, format: { comments: false } })],
  },
  {
    input: `src/${name}.ts`,
    output: { file: `dist/${name}.d.ts`, format: 'es' },
    plugins: [dts({ tsconfig: './tsconfig.json' })],
  },
];

export default [
  {
    input: 'src/index.ts',
    output: [
      { file: 'dist/index.js', format: 'es', sourcemap: true },
      { file: 'dist/index.cjs', format: 'cjs', sourcemap: true },
    ],
    plugins: [ts()],
  },
  {
    input: 'src/index.ts',
    output: { file: 'dist/index.d.ts', format: 'es' },
    plugins: [dts({ tsconfig: './tsconfig.json' })],
  },
  // vardrop/infer: predict only (build/vardrop-infer.wasm); vardrop/infer-mc: plus predictMC
  // (build/vardrop-infer-mc.wasm, the Monte-Carlo kernels added).
  ...inferEntry('infer', 'infer-wasm-binary.ts'),
  ...inferEntry('infer-mc', 'infer-mc-wasm-binary.ts'),
];
