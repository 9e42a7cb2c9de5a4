import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, readSafetensors, writeNpy } from '../../src/core/io/index.js';
import { fromBuffer } from '../../src/core/tensor.js';
import { loadModel } from '../../src/models/io.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { aelab, tempDir } from './util.js';

function tinyData(dir: string, name = 'x.npy', n = 48, d = 5, nanAt?: [number, number]): void {
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = Math.sin(0.3 * i + j) + (0.1 * j * i) / n;
  if (nanAt) x[nanAt[0] * d + nanAt[1]] = NaN;
  writeNpy(join(dir, name), { dtype: 'float32', shape: [n, d], data: x });
}

const common = ['--latent', '2', '--hidden', '8', '--batch', '16', '--seed', '3', '--quiet'];

test('train ae writes config, metrics, scaler and a loadable model that reconstructs', () => {
  const dir = tempDir();
  tinyData(dir);
  const r = aelab(['train', 'ae', '--data', 'x.npy', '--epochs', '4', ...common, '--out', 'run'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /final loss/);
  for (const f of ['train-config.json', 'metrics.jsonl', 'scaler.json', 'model/cfg.json', 'model/model.safetensors']) assert.ok(existsSync(join(dir, 'run', f)), f);
  const lines = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= 1);
  assert.equal(lines[lines.length - 1].step, 12);
  assert.ok(lines.every((l) => Number.isFinite(l.loss)));
  const scaler = JSON.parse(readFileSync(join(dir, 'run', 'scaler.json'), 'utf8'));
  assert.equal(scaler.mean.length, 5);
  const m = loadModel(join(dir, 'run', 'model'));
  assert.ok(m instanceof AutoEncoder);
  const x = readNpy(join(dir, 'x.npy'));
  const z = Float32Array.from(x.data as Float32Array, (v, i) => (v - scaler.mean[i % 5]) / scaler.std[i % 5]);
  const rec = (m as AutoEncoder).reconstruct(fromBuffer(z.slice(0, 10), [2, 5]));
  assert.deepEqual([...rec.shape], [2, 5]);
  assert.ok([...(rec.data as Float32Array)].every(Number.isFinite));
});

test('train ae stopped and resumed gives bit-identical weights; a changed config is refused', () => {
  const dir = tempDir();
  tinyData(dir);
  const full = aelab(['train', 'ae', '--data', 'x.npy', '--epochs', '3', ...common, '--out', 'full'], dir);
  assert.equal(full.code, 0, full.stderr);
  const stop = aelab(['train', 'ae', '--data', 'x.npy', '--epochs', '3', ...common, '--checkpoint-every-steps', '2', '--stop-after-step', '5', '--out', 'part'], dir);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /stopped after 5 of 9 steps/);
  assert.ok(!existsSync(join(dir, 'part', 'model')));
  const bad = aelab(['train', 'ae', '--resume', '--latent', '3', '--quiet', '--out', 'part'], dir);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--latent/);
  const res = aelab(['train', 'ae', '--resume', '--quiet', '--out', 'part'], dir);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /resumed at step 4/);
  const a = readSafetensors(join(dir, 'full', 'model', 'model.safetensors')).tensors;
  const b = readSafetensors(join(dir, 'part', 'model', 'model.safetensors')).tensors;
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, t] of a) assert.deepEqual(Buffer.from(b.get(k)!.data.buffer), Buffer.from(t.data.buffer), k);
});

test('train errors name the fault: NaN row, constant column, unknown kind', () => {
  const dir = tempDir();
  tinyData(dir, 'bad.npy', 20, 3, [7, 1]);
  const r = aelab(['train', 'vae', '--data', 'bad.npy', '--out', 'r', '--quiet'], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.npy.*NaN.*row 8.*index 1/);
  writeFileSync(join(dir, 'c.csv'), 'a,b,c\n1,2,3\n2,2,4\n3,2,6\n');
  const c = aelab(['train', 'ae', '--data', 'c.csv', '--out', 'r', '--quiet'], dir);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /c\.csv: constant column "b"/);
  const u = aelab(['train', 'transformer', '--data', 'bad.npy', '--out', 'r'], dir);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /unknown model kind 'transformer'/);
});

test('train stackvae-g trains on windows of a CSV series', () => {
  const dir = tempDir();
  const rows = ['t,a,b'];
  for (let t = 0; t < 60; t++) rows.push(`${t},${Math.sin(t / 4).toFixed(4)},${Math.cos(t / 5).toFixed(4)}`);
  writeFileSync(join(dir, 's.csv'), rows.join('\n') + '\n');
  const r = aelab(['train', 'stackvae-g', '--data', 's.csv', '--columns', 'a,b', '--window', '8', '--stride', '4', '--epochs', '2', '--latent', '2', '--hidden', '8', '--batch', '4', '--quiet', '--out', 'r'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(loadModel(join(dir, 'r', 'model')).type, 'stackvaeg');
});
