// Builds dist/ with esbuild: the library entry and the tap6 CLI, as ESM for
// Node 20. Dependencies stay external (resolved from node_modules); the TAP
// addon is loaded at run time from build/Release by src/link/tap.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
};

await build({ ...common, entryPoints: { 'src/index': 'src/index.ts' }, outdir: 'dist' });
await build({
  ...common,
  entryPoints: { 'tools/tap6': 'tools/tap6.ts' },
  outdir: 'dist',
  banner: { js: '#!/usr/bin/env node' },
});
chmodSync('dist/tools/tap6.js', 0o755);
console.log('built dist/src/index.js and dist/tools/tap6.js');
