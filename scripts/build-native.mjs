#!/usr/bin/env node
// Builds the optional native kernel addon (build/Release/aelab.node) with node-gyp against the local
// Node headers. A failed build is not fatal: aelab then runs on its pure-TypeScript backend and says so.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const force = process.argv.includes('--force');
if (process.env.AELAB_SKIP_NATIVE === '1') {
  console.log('aelab: AELAB_SKIP_NATIVE=1, not building the native addon (the pure-TypeScript backend will run)');
  process.exit(0);
}
let gyp = null;
const require = createRequire(import.meta.url);
for (const candidate of [
  () => require.resolve('node-gyp/bin/node-gyp.js'),
  () => join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  () => process.env.npm_config_node_gyp,
]) {
  try {
    const p = candidate();
    if (p && existsSync(p)) { gyp = p; break; }
  } catch { /* try the next place */ }
}
if (!gyp) {
  console.warn('aelab: node-gyp not found; the native addon was not built (the pure-TypeScript backend will run)');
  process.exit(0);
}
const args = [gyp, 'rebuild'];
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  const msg = 'aelab: the native addon failed to build; the pure-TypeScript backend will run (much slower)';
  if (force) { console.error(msg); process.exit(1); }
  console.warn(msg);
}
