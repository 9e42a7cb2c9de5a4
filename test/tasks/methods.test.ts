// `aelab experiment methods` at the tiny budget: one NoProp row with every column filled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { METHODS, METHODS_HEADERS, methodsTableRows, runMethods } from '../../src/tasks/experiments/methods.js';

test('methods: the table has the NoProp row with claim, baseline, ours, held and command', () => {
  assert.deepEqual(METHODS_HEADERS, ['claim', 'baseline', 'ours', 'held?', 'command']);
  assert.ok(METHODS.some((m) => m.name === 'noprop'));
  const r = runMethods({ budget: 'tiny', only: ['noprop'] });
  assert.equal(r.rows.length, 1);
  const row = r.rows[0]!;
  assert.equal(row.method, 'NoProp-DT');
  assert.match(row.command, /^aelab experiment methods --budget tiny --only noprop$/);
  const n = row.numbers;
  for (const k of ['nopropTestAccuracy', 'backpropTestAccuracy', 'nopropTrainSeconds', 'backpropTrainSeconds']) assert.equal(typeof n[k], 'number', k);
  assert.ok((n.nopropTestAccuracy as number) > 0.3, 'NoProp learns at the tiny budget');
  assert.equal(row.held, (n.nopropTestAccuracy as number) >= (n.backpropTestAccuracy as number) - 0.01);
  const cells = methodsTableRows(r.rows)[0]!;
  assert.equal(cells.length, 5);
  assert.throws(() => runMethods({ budget: 'tiny', only: ['nope'] }), /unknown method 'nope'/);
});
