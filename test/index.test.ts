import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as aelab from '../src/index.js';
import { Adam, Generator, Linear, relu, scope, sum, tensor } from '../src/index.js';

test('the README tour trains through the public entry point and lowers the loss', () => {
  const gen = new Generator(0);
  const layer = new Linear(8, 4, gen);
  const opt = new Adam(layer.parameters(), { lr: 1e-2 });
  const x = tensor(new Float32Array(16 * 8).fill(0.5), [16, 8]);
  const losses: number[] = [];
  for (let step = 0; step < 100; step++) {
    losses.push(scope(() => {
      const loss = sum(relu(layer.forward(x)));
      opt.zeroGrad();
      loss.backward();
      opt.step();
      return loss.item();
    }));
  }
  assert.ok(losses[0]! > 0, 'the initial loss is positive for this seed');
  assert.ok(losses[99]! < 0.1 * losses[0]!, `loss fell from ${losses[0]} to ${losses[99]}`);
});

test('the entry point names what users need (and methods are installed)', () => {
  for (const name of ['Tensor', 'matmul', 'Module', 'Adam', 'Generator', 'readSafetensors', 'writeNpy', 'saveCheckpoint', 'backend']) {
    assert.equal(typeof (aelab as Record<string, unknown>)[name], 'function', `${name} is exported`);
  }
  const t = tensor([1, 2, 3, 4], [2, 2]);
  assert.deepEqual(Array.from(t.sum().data), [10]);
});
