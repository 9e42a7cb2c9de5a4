// `aelab experiment methods` from the CLI: the table header, the NoProp row and the JSON line; usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, 'experiment', 'methods', ...args], { encoding: 'utf8' });

test('aelab experiment methods --budget tiny --only noprop prints the table and a JSON line', () => {
  const r = cli('--budget', 'tiny', '--only', 'noprop');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /claim\s+baseline\s+ours\s+held\?\s+command/);
  assert.match(r.stdout, /NoProp-DT: .*backprop, same blocks: [\d.]+% .*aelab experiment methods --budget tiny --only noprop/);
  const json = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(json.experiment, 'methods');
  assert.equal(json.rows.length, 1);
  assert.equal(json.rows[0].method, 'NoProp-DT');
});

test('aelab experiment methods: bad budget or method name is a usage error', () => {
  assert.equal(cli('--budget', 'full').status, 2);
  const r = cli('--budget', 'tiny', '--only', 'nope');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown method 'nope'/);
});
