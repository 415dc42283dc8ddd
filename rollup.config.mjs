import path from 'node:path';
import typescript from '@rollup/plugin-typescript';
import terser from '@rollup/plugin-terser';
import { dts } from 'rollup-plugin-dts';

// Two bundles (wasm inlined as base64) for Node, browser pages and web workers, each ESM + CJS +
// .d.ts: the full package (src/index.ts, every kernel) and `vardrop/infer` (src/infer.ts), whose
// runtime inlines the inference-only module (build/vardrop-infer.wasm, see scripts/embed-wasm.mjs)
// in place of the full one: the same loader, the other bytes.
// The JS drops comments (the TSDoc lives in the .d.ts files and the sources behind the source maps);
// the inference entry, which has a size budget, is also minified (terser's safe defaults: no
// unsafe math; class names kept, since error names come from them).

const ts = () => typescript({ tsconfig: './tsconfig.json', compilerOptions: { noEmit: false, declaration: false, removeComments: true } });

/** src/runtime/runtime.ts's `./wasm-binary.js` resolved to the inference-only module's bytes. */
const inferWasm = {
  name: 'infer-wasm',
  resolveId(source, importer) {
    if (source === './wasm-binary.js' && importer && path.resolve(importer) === path.resolve('src/runtime/runtime.ts')) {
      return path.resolve('src/runtime/infer-wasm-binary.ts');
    }
    return null;
  },
};

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
  {
    input: 'src/infer.ts',
    output: [
      { file: 'dist/infer.js', format: 'es', sourcemap: true },
      { file: 'dist/infer.cjs', format: 'cjs', sourcemap: true },
    ],
    // The package declares "sideEffects": false; here rollup is told so too, so modules the entry
    // imports for one function (layers/linear.ts, ops/bayes.ts, io.ts) bring that function only,
    // and no layer module comes along for its registerLayer call.
    treeshake: { moduleSideEffects: false },
    plugins: [inferWasm, ts(), terser({ keep_classnames: true, format: { comments: false } })],
  },
  {
    input: 'src/infer.ts',
    output: { file: 'dist/infer.d.ts', format: 'es' },
    plugins: [dts({ tsconfig: './tsconfig.json' })],
  },
];
