import typescript from '@rollup/plugin-typescript';
import { dts } from 'rollup-plugin-dts';

// One bundle (wasm inlined as base64) for Node, browser pages and web workers: ESM + CJS + .d.ts.
// The JS drops comments (the TSDoc lives in index.d.ts and the sources behind the source maps).
export default [
  {
    input: 'src/index.ts',
    output: [
      { file: 'dist/index.js', format: 'es', sourcemap: true },
      { file: 'dist/index.cjs', format: 'cjs', sourcemap: true },
    ],
    plugins: [typescript({ tsconfig: './tsconfig.json', compilerOptions: { noEmit: false, declaration: false, removeComments: true } })],
  },
  {
    input: 'src/index.ts',
    output: { file: 'dist/index.d.ts', format: 'es' },
    plugins: [dts({ tsconfig: './tsconfig.json' })],
  },
];
