/**
 * `aelab export onnx`: the written file runs in onnxruntime-node and matches the library (an SAE
 * folder, an MLP autoencoder folder, a detector folder), the write refuses to replace a file
 * without --overwrite, and bad input names the flag, folder or value.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Generator } from '../../src/core/random.js';
import { noGrad, scope, tensor } from '../../src/core/index.js';
import { runSae, saveSaeFolder } from '../../src/sae/convert.js';
import type { SaeWeights } from '../../src/sae/interop.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { StackVAEG } from '../../src/models/stackvaeg.js';
import { saveModel } from '../../src/models/io.js';
import { PCADetector } from '../../src/tasks/anomaly.js';
import { KNNDetector } from '../../src/tasks/outlier-baselines.js';
import { aelab, tempDir } from './util.js';

const randn = (seed: number, n: number, std = 1) => new Generator(seed).normal(new Float32Array(n), 0, std);

function rel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let d = 0, s = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(Number(got[i]) - Number(want[i])));
    s = Math.max(s, Math.abs(Number(want[i])));
  }
  return d / Math.max(s, 1e-30);
}

async function load(path: string): Promise<ort.InferenceSession> {
  const b = readFileSync(path);
  return ort.InferenceSession.create(new Uint8Array(b.buffer, b.byteOffset, b.length));
}

const dIn = 12, dSae = 40;
const w: SaeWeights = {
  arch: 'topk', k: 4, dIn, dSae,
  W_enc: randn(1, dSae * dIn, 0.3), b_enc: randn(2, dSae, 0.1), W_dec: randn(3, dSae * dIn, 0.2), b_dec: randn(4, dIn, 0.1),
  applyBDecToInput: true, meta: {},
};

test('aelab export onnx: an SAE folder, each part, parity with runSae; --overwrite rule', async () => {
  const dir = tempDir();
  saveSaeFolder(join(dir, 'sae'), w, 'aelab');
  const out = join(dir, 'out', 'sae.onnx');
  const r = aelab(['export', 'onnx', join(dir, 'sae'), '--out', out], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sae topk, part all.*opset 17/);
  assert.match(r.stdout, /outputs: codes \[batch, 40\], x_hat \[batch, 12\], score \[batch\]/);
  const x = randn(9, 6 * dIn);
  const s = await load(out);
  const o = await s.run({ x: new ort.Tensor('float32', x, [6, dIn]) });
  const ref = runSae(w, x);
  assert.ok(rel(o.x_hat!.data as Float32Array, ref.xhat) <= 1e-5);
  // No temp files left beside the output.
  assert.deepEqual(readdirSync(join(dir, 'out')), ['sae.onnx']);

  // An existing file is kept unless --overwrite is given.
  const before = readFileSync(out);
  const again = aelab(['export', 'onnx', join(dir, 'sae'), '--out', out, '--part', 'decode'], dir);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /--out .*sae\.onnx already exists; pass --overwrite/);
  assert.deepEqual(readFileSync(out), before);
  const over = aelab(['export', 'onnx', join(dir, 'sae'), '--out', out, '--part', 'decode', '--overwrite'], dir);
  assert.equal(over.code, 0, over.stderr);
  const dec = await load(out);
  assert.deepEqual(dec.inputNames, ['codes']);
  const codes = new Float32Array(2 * dSae);
  codes[3] = 1.5; codes[dSae + 7] = -0.5;
  const o2 = await dec.run({ codes: new ort.Tensor('float32', codes, [2, dSae]) });
  const want = new Float32Array(2 * dIn);
  for (let j = 0; j < dIn; j++) {
    want[j] = 1.5 * w.W_dec[3 * dIn + j]! + w.b_dec[j]!;
    want[dIn + j] = -0.5 * w.W_dec[7 * dIn + j]! + w.b_dec[j]!;
  }
  assert.ok(rel(o2.x_hat!.data as Float32Array, want) <= 1e-6);
});

test('aelab export onnx: an MLP autoencoder folder (encode) and a PCA detector folder (score + label)', async () => {
  const dir = tempDir();
  const ae = new AutoEncoder({ arch: 'mlp', inputDim: 8, hidden: [6], latentDim: 3, seed: 5 });
  saveModel(join(dir, 'ae'), ae);
  const r = aelab(['export', 'onnx', join(dir, 'ae'), '--out', 'ae.onnx', '--part', 'encode'], dir);
  assert.equal(r.code, 0, r.stderr);
  const x = randn(6, 5 * 8);
  const o = await (await load(join(dir, 'ae.onnx'))).run({ x: new ort.Tensor('float32', x, [5, 8]) });
  const want = scope(() => noGrad(() => ae.encode(tensor(x, [5, 8])).f32().slice()));
  assert.ok(rel(o.codes!.data as Float32Array, want) <= 1e-5);

  const n = 40, d = 4;
  const X = Float64Array.from(randn(7, n * d), (v, i) => v * (1 + (i % d)) + (i % d));
  const det = new PCADetector({ nComponents: 2 }).fit(X, n, d);
  det.save(join(dir, 'det'));
  const r2 = aelab(['export', 'onnx', join(dir, 'det'), '--out', 'det.onnx'], dir);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /detector PCADetector, part score/);
  const xs = Float32Array.from(X.subarray(0, 10 * d));
  const o2 = await (await load(join(dir, 'det.onnx'))).run({ x: new ort.Tensor('float32', xs, [10, d]) });
  const sc = det.decisionFunction(xs, 10);
  assert.ok(rel(o2.score!.data as Float32Array, sc) <= 1e-5);
  assert.deepEqual(Array.from(o2.label!.data as Int32Array), Array.from(sc, (v) => (v > det.threshold ? 1 : 0)));
});

test('aelab export: bad input names the flag, folder or value and writes nothing', () => {
  const dir = tempDir();
  saveSaeFolder(join(dir, 'sae'), w, 'aelab');
  const cases: [string[], number, RegExp][] = [
    [['export'], 2, /expected a format and a folder/],
    [['export', 'tflite', 'sae', '--out', 'a.onnx'], 2, /unknown format 'tflite' \(formats: onnx\)/],
    [['export', 'onnx', '--out', 'a.onnx'], 2, /expected the MODEL_DIR folder/],
    [['export', 'onnx', 'sae'], 2, /--out is required/],
    [['export', 'onnx', 'sae', '--out', 'a.onnx', '--part', 'middle'], 2, /--part must be one of encode, decode, reconstruct, score, all, got 'middle'/],
    [['export', 'onnx', 'nowhere', '--out', 'a.onnx'], 2, /MODEL_DIR nowhere does not exist/],
    [['export', 'onnx', 'sae/cfg.json', '--out', 'a.onnx'], 2, /MODEL_DIR sae\/cfg\.json is not a folder/],
    [['export', 'onnx', 'sae', '--out', '.'], 2, /--out \. is a folder/],
    [['export', 'onnx', 'sae', 'extra', '--out', 'a.onnx'], 2, /extra argument\(s\): extra/],
  ];
  for (const [args, code, re] of cases) {
    const r = aelab(args, dir);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  // Folders that hold nothing exportable, or an unsupported kind.
  mkdirSync(join(dir, 'run'));
  writeFileSync(join(dir, 'run', 'metrics.jsonl'), '');
  const r1 = aelab(['export', 'onnx', 'run', '--out', 'a.onnx'], dir);
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /^aelab: export onnx: run holds no SAE .*model .*detector/);
  const X = Float64Array.from(randn(8, 30 * 3));
  new KNNDetector({}).fit(X, 30, 3).save(join(dir, 'knn'));
  const r2 = aelab(['export', 'onnx', 'knn', '--out', 'a.onnx'], dir);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /^aelab: export onnx: knn: KNNDetector has no ONNX export/);
  saveModel(join(dir, 'svg'), new StackVAEG({ window: 8, channels: 2, seed: 0 } as never) as never);
  const r3 = aelab(['export', 'onnx', 'svg', '--out', 'a.onnx'], dir);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /svg: StackVAE-G models .* no ONNX export/);
  const r4 = aelab(['export', 'onnx', 'knn', '--out', 'a.onnx', '--part', 'encode'], dir);
  assert.equal(r4.code, 1);
  assert.match(r4.stderr, /KNNDetector has no ONNX export/);
  const r5 = aelab(['export', 'onnx', 'knn', '--out', 'a.onnx', '--sparse'], dir);
  assert.equal(r5.code, 1);
  assert.match(r5.stderr, /sparse codes are for TopK SAE folders only \(--sparse\)/);
  assert.equal(existsSync(join(dir, 'a.onnx')), false);
  // --sparse on the TopK SAE: values and indices [batch, k].
  const r6 = aelab(['export', 'onnx', 'sae', '--out', 's.onnx', '--part', 'encode', '--sparse'], dir);
  assert.equal(r6.code, 0, r6.stderr);
  assert.match(r6.stdout, /outputs: values \[batch, 4\], indices \[batch, 4\]/);
  const help = aelab(['export', '--help'], dir);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--part/);
  assert.match(help.stdout, /--overwrite/);
});
