/**
 * A worker thread that loads the native addon and ends before the main thread ever loads it must not
 * take the addon's code away from the kernel pool's threads (Node unloads an addon with the last
 * environment that loaded it; native/addon.cc pins it). Before the pin this crashed with SIGSEGV in
 * roughly one run of six (seen as `aelab train sae` failing early inside its training worker).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nativeAddonPath } from '../../../src/core/backend/native.js';

test('a worker that loads the native addon and exits early does not crash the process', (t) => {
  if (!existsSync(nativeAddonPath())) return t.skip('the native addon is not built');
  const native = fileURLToPath(new URL('../../../src/core/backend/native.js', import.meta.url));
  // The worker loads the addon (its pool threads start at load) and ends; the main
  // thread exits right away without having loaded the addon itself.
  const script = `
    const { Worker } = require('node:worker_threads');
    const w = new Worker(\`
      import(${JSON.stringify(native)}).then((m) => {
        m.loadNativeAddon().threads();
      });\`, { eval: true });
    w.on('exit', () => process.exit(0));`;
  for (let i = 0; i < 12; i++) {
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.signal, null, `run ${i}: killed by ${r.signal}\n${r.stderr}`);
    assert.equal(r.status, 0, `run ${i}: exit ${r.status}\n${r.stderr}`);
  }
});
