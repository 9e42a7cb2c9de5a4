#!/usr/bin/env node
// `npm run build:web`: bundles src/web/index.ts for browsers with esbuild into dist/web/aelab.js
// (an IIFE that sets the global `aelab`) and dist/web/aelab.js.map.
//
// Browser safety: platform 'browser', and a plugin that resolves src/core/backend/index.ts (which
// reads process.env and loads the native addon through node:fs/node:module) to src/web/backend.ts
// (always the pure-TypeScript backend). Nothing else the entry reaches imports node:*; the build
// fails if any node:* module or the native wrapper ends up among the bundle's inputs.
//
//   node scripts/build-web.mjs [--minify] [--outdir DIR]
import { build } from 'esbuild';
import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const browserBackend = {
  name: 'aelab-browser-backend',
  setup(b) {
    const core = join(root, 'src', 'core');
    b.onResolve({ filter: /(^|\/)backend\/index\.js$|^\.\/index\.js$/ }, (args) => {
      const target = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
      if (target === join(core, 'backend', 'index.ts')) return { path: join(root, 'src', 'web', 'backend.ts') };
      return undefined;
    });
  },
};

/** Builds the bundle; returns { file, bytes, inputs }. */
export async function buildWeb({ outdir = join(root, 'dist', 'web'), minify = false } = {}) {
  const outfile = join(outdir, 'aelab.js');
  const r = await build({
    entryPoints: [join(root, 'src', 'web', 'index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'aelab',
    target: 'es2022',
    sourcemap: true,
    minify,
    metafile: true,
    logLevel: 'warning',
    outfile,
    plugins: [browserBackend],
  });
  const inputs = Object.keys(r.metafile.inputs);
  const bad = inputs.filter((p) => p.startsWith('node:') || /core\/backend\/(native|index)\.ts$/.test(p) || /(^|\/)node_modules\//.test(p));
  if (bad.length) throw new Error(`build-web: node-only modules reached the browser bundle: ${bad.join(', ')}`);
  return { file: outfile, bytes: statSync(outfile).size, inputs: inputs.length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--outdir');
  try {
    const r = await buildWeb({ minify: argv.includes('--minify'), ...(i >= 0 ? { outdir: resolve(argv[i + 1]) } : {}) });
    console.log(`build-web: ${r.file} (${(r.bytes / 1024).toFixed(0)} KiB, ${r.inputs} modules, + source map)`);
  } catch (e) {
    console.error(e.message ?? e);
    process.exit(1);
  }
}
