import { nodeResolve } from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import esbuild from 'rollup-plugin-esbuild';
import { dts } from 'rollup-plugin-dts';

const typescript = () => esbuild({ target: 'es2020', tsconfig: 'tsconfig.json' });

export default [
  {
    // The script tag: one self-contained file, trystero inside, hls.js taken from the page.
    input: 'sdk/script-tag.ts',
    output: { file: 'dist/shoal.min.js', format: 'iife', name: 'Shoal', exports: 'default', sourcemap: true },
    plugins: [nodeResolve({ browser: true }), typescript(), terser({ ecma: 2020 })],
  },
  {
    // Bundler users: dependencies stay imports, resolved by their bundler.
    input: 'sdk/index.ts',
    output: { file: 'dist/shoal.mjs', format: 'es', sourcemap: true },
    external: [/^@trystero-p2p\//, /^hls\.js/, /^idb-keyval/],
    plugins: [typescript()],
  },
  {
    input: 'sdk/index.ts',
    output: { file: 'dist/shoal.d.ts', format: 'es' },
    external: [/^@trystero-p2p\//, /^hls\.js/, /^idb-keyval/],
    plugins: [dts({ tsconfig: 'tsconfig.json' })],
  },
];
