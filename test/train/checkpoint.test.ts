import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator } from '../../src/core/random.js';
import { scope, tensor } from '../../src/core/tensor.js';
import { sum } from '../../src/core/ops/reduce.js';
import { square } from '../../src/core/ops/elementwise.js';
import { Linear } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/adam.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';

function setup(seed: number) {
  const model = new Linear(4, 3, new Generator(seed));
  const opt = new Adam(model.parameters(), { lr: 0.05 });
  return { model, opt };
}

function trainSteps(model: Linear, opt: Adam, gen: Generator, n: number): void {
  for (let i = 0; i < n; i++) {
    const xd = new Float32Array(8 * 4);
    gen.normal(xd);
    scope(() => {
      const loss = sum(square(model.forward(tensor(xd, [8, 4]))));
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
  }
}

test('a resumed run continues bit-identically to an uninterrupted one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-ckpt-'));
  try {
    const a = setup(1);
    const genA = new Generator(7);
    trainSteps(a.model, a.opt, genA, 6);

    const b = setup(1);
    const genB = new Generator(7);
    trainSteps(b.model, b.opt, genB, 3);
    saveCheckpoint(dir, b.model, b.opt, { step: 3, rng: genB.state() });

    const c = setup(99); // different init: everything must come from the checkpoint
    const st = loadCheckpoint(dir, c.model, c.opt);
    assert.ok(st);
    assert.equal(st.step, 3);
    const genC = Generator.fromState(st.rng as ReturnType<Generator['state']>);
    trainSteps(c.model, c.opt, genC, 3);
    for (const [k, t] of a.model.stateDict()) {
      assert.deepEqual(Array.from(c.model.stateDict().get(k)!.data), Array.from(t.data), `parameter ${k} differs after resume`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a half-written checkpoint is ignored; LATEST keeps the last complete one; old ones are pruned', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-ckpt-'));
  try {
    const { model, opt } = setup(2);
    for (const s of [10, 20, 30]) saveCheckpoint(dir, model, opt, { step: s }, 2);
    assert.equal(readFileSync(join(dir, 'LATEST'), 'utf8').trim(), 'step-000000030');
    assert.throws(() => readFileSync(join(dir, 'step-000000010', 'state.json')), /ENOENT/);
    // A crash while writing step 40: folder present, LATEST not yet switched.
    mkdirSync(join(dir, 'step-000000040'));
    writeFileSync(join(dir, 'step-000000040', 'model.safetensors'), 'partial');
    assert.equal(latestCheckpoint(dir), join(dir, 'step-000000030'));
    assert.equal(loadCheckpoint(dir, model, opt)!.step, 30);
    writeFileSync(join(dir, 'LATEST'), 'step-000000040\n');
    assert.throws(() => latestCheckpoint(dir), /not a complete checkpoint/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
