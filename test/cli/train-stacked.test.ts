import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, readSafetensors, writeNpy } from '../../src/core/io/index.js';
import { StandardScaler } from '../../src/data/standardize.js';
import { StackedAutoEncoder } from '../../src/models/stacked.js';
import { aelab, tempDir } from './util.js';

// `aelab train stacked --pretrain-epochs E --finetune-epochs F` (issue 17): the library's greedy
// layer-wise pre-training then fine-tuning, with the run folder's checkpoint/resume behaviour.

function data(dir: string, n = 48, d = 5): void {
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = Math.sin(0.3 * i + j) + Math.cos(0.11 * i * (j + 1)) + (0.1 * j * i) / n;
  writeNpy(join(dir, 'x.npy'), { dtype: 'float32', shape: [n, d], data: x });
}

// 48 rows, batch 16 → 3 steps per epoch; two layers (5→4→2).
const common = ['--data', 'x.npy', '--latent', '2', '--hidden', '4', '--batch', '16', '--lr', '0.01', '--seed', '3', '--quiet'];

function weights(dir: string, run: string): Map<string, Buffer> {
  const t = readSafetensors(join(dir, run, 'model', 'model.safetensors')).tensors;
  return new Map([...t].map(([k, v]) => [k, Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength)]));
}

function sameWeights(a: Map<string, Buffer>, b: Map<string, Buffer>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.has(k) && Buffer.compare(new Uint8Array(v), new Uint8Array(b.get(k)!)) === 0);
}

test('train stacked --pretrain-epochs runs the layer-wise recipe, equal to the library, then fine-tunes', () => {
  const dir = tempDir();
  data(dir);
  const r = aelab(['train', 'stacked', ...common, '--pretrain-epochs', '2', '--finetune-epochs', '2', '--out', 'lw'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pre-training \(2 epochs per layer, 12 steps\): layer 0 \(5→4\) MSE [\d.e-]+ → [\d.e-]+, layer 1 \(4→2\) MSE/);
  assert.match(r.stdout, /done: stacked, 6 steps \(2 epochs of fine-tuning\)/);
  for (const i of [0, 1]) assert.ok(existsSync(join(dir, 'lw', 'checkpoints', `pretrain-${i}`, 'metrics.jsonl')), `layer ${i} metrics`);
  assert.equal(JSON.parse(readFileSync(join(dir, 'lw', 'train-config.json'), 'utf8')).pretrainEpochs, 2);

  // The same recipe through the library on the same z-scored rows gives the same weights.
  const x = readNpy(join(dir, 'x.npy'));
  const z = new StandardScaler().fit(x.data, 48, 5).transform(Float32Array.from(x.data), 48);
  const ds = { x: Float32Array.from(z), n: 48, sampleShape: [5] };
  const m = new StackedAutoEncoder({ sizes: [5, 4, 2], seed: 3 });
  const layers = m.pretrain(ds, { epochs: 2, batchSize: 16, lr: 0.01, seed: 3 });
  assert.ok(layers.every((l) => l.complete && l.finalLoss < l.initialLoss), 'each layer learns');
  m.finetune(ds, { epochs: 2, batchSize: 16, lr: 0.01, seed: 3 });
  const cli = weights(dir, 'lw');
  for (const [name, p] of m.namedParameters()) {
    const got = new Float32Array(cli.get(name)!.buffer.slice(cli.get(name)!.byteOffset, cli.get(name)!.byteOffset + cli.get(name)!.byteLength));
    const want = p.f32();
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-6, `${name}[${i}]: ${got[i]} vs ${want[i]}`);
  }
  // Without --pretrain-epochs it is end to end only, and the weights differ.
  const e2e = aelab(['train', 'stacked', ...common, '--epochs', '2', '--out', 'e2e'], dir);
  assert.equal(e2e.code, 0, e2e.stderr);
  assert.doesNotMatch(e2e.stdout, /pre-training/);
  assert.ok(!sameWeights(cli, weights(dir, 'e2e')));
  // --help says so; the flags are refused for other kinds and when they disagree.
  assert.match(aelab(['train', 'stacked', '--help']).stdout, /--pretrain-epochs.*greedy layer-wise/);
  const bad = aelab(['train', 'ae', ...common, '--pretrain-epochs', '2', '--out', 'x'], dir);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--pretrain-epochs\/--finetune-epochs apply to stacked only/);
  const dis = aelab(['train', 'stacked', ...common, '--epochs', '3', '--finetune-epochs', '2', '--out', 'y'], dir);
  assert.equal(dis.code, 2);
  assert.match(dis.stderr, /--epochs 3 and --finetune-epochs 2 disagree/);
});

test('train stacked stopped in pre-training or in fine-tuning resumes to bit-identical weights', () => {
  const dir = tempDir();
  data(dir);
  const args = [...common, '--pretrain-epochs', '2', '--finetune-epochs', '2', '--checkpoint-every-steps', '2'];
  assert.equal(aelab(['train', 'stacked', ...args, '--out', 'full'], dir).code, 0);
  const full = weights(dir, 'full');
  // Step 8 of 18 is in layer 1's pre-training (layer 0 takes steps 1–6).
  const s1 = aelab(['train', 'stacked', ...args, '--stop-after-step', '8', '--out', 'a'], dir);
  assert.equal(s1.code, 0, s1.stderr);
  assert.match(s1.stdout, /stopped in layer-wise pre-training of layer 1 of 2 after 8 steps/);
  assert.ok(!existsSync(join(dir, 'a', 'model')));
  const r1 = aelab(['train', 'stacked', '--resume', '--quiet', '--out', 'a'], dir);
  assert.equal(r1.code, 0, r1.stderr);
  assert.match(r1.stdout, /pre-training \(2 epochs per layer, 12 steps\)/);
  assert.ok(sameWeights(full, weights(dir, 'a')), 'resumed in pre-training');
  // Step 15 is the third fine-tuning step.
  const s2 = aelab(['train', 'stacked', ...args, '--stop-after-step', '15', '--out', 'b'], dir);
  assert.equal(s2.code, 0, s2.stderr);
  assert.match(s2.stdout, /stopped after 3 of 6 steps/);
  const r2 = aelab(['train', 'stacked', '--resume', '--quiet', '--out', 'b'], dir);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /resumed at step 2/);
  assert.ok(sameWeights(full, weights(dir, 'b')), 'resumed in fine-tuning');
  // The layer-wise setting is part of the run: a resume cannot change it.
  const ch = aelab(['train', 'stacked', '--resume', '--pretrain-epochs', '3', '--quiet', '--out', 'b'], dir);
  assert.equal(ch.code, 2);
  assert.match(ch.stderr, /--pretrain-epochs is 3, but the run in b was started with 2/);
});
