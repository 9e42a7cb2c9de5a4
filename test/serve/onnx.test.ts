/**
 * ONNX export: every exported graph runs in onnxruntime-node and matches what aelab (and so
 * `aelab serve`, whose Servables are the reference here) computes, within 1e-5 relative to the
 * largest reference value, on seeded random inputs, at two batch sizes (the batch is dynamic).
 * onnxruntime-node is imported at the top: if it cannot load, this file fails (it never skips).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Generator } from '../../src/core/random.js';
import { noGrad, scope, tensor } from '../../src/core/index.js';
import { runSae, saeToWeights, saveSaeFolder } from '../../src/sae/convert.js';
import { createSae } from '../../src/sae/index.js';
import type { SaeWeights } from '../../src/sae/interop.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { DenoisingAutoEncoder } from '../../src/models/denoising.js';
import { StackedAutoEncoder } from '../../src/models/stacked.js';
import { VAE } from '../../src/models/vae.js';
import { ARDVAE } from '../../src/models/ardvae.js';
import { PrototypeNetwork } from '../../src/models/prototype.js';
import { StackVAEG } from '../../src/models/stackvaeg.js';
import { saveModel, type AnyModel } from '../../src/models/io.js';
import { PCADetector } from '../../src/tasks/anomaly.js';
import { AEDetector, VAEDetector } from '../../src/tasks/neural-detectors.js';
import { KNNDetector } from '../../src/tasks/outlier-baselines.js';
import { detectorServable, modelServable, saeServable, type Servable } from '../../src/serve/inference.js';
import { OPSET, OnnxExportError, detectorToOnnx, exportOnnxFolder, modelToOnnx, saeToOnnx, type OnnxExport } from '../../src/serve/onnx.js';
import { decodeModel } from '../../src/serve/onnx/graph.js';

const TOL = 1e-5;
const tmp = mkdtempSync(join(tmpdir(), 'aelab-onnx-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Worst relative deviations seen per case, printed at the end (the docs quote them). */
const worst: Record<string, number> = {};
after(() => {
  const rows = Object.entries(worst).map(([k, v]) => `${k}: ${v.toExponential(2)}`);
  process.stdout.write(`# onnx parity (max |ort − aelab| / max |aelab|):\n# ${rows.join('\n# ')}\n`);
});

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, 'output lengths differ');
  let diff = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    assert.ok(Number.isFinite(got[i]!), `onnx output ${i} is ${got[i]}`);
    diff = Math.max(diff, Math.abs(Number(got[i]) - Number(want[i])));
    scale = Math.max(scale, Math.abs(Number(want[i])));
  }
  return diff / Math.max(scale, 1e-30);
}

function expectClose(label: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  const e = relErr(got, want);
  worst[label] = Math.max(worst[label] ?? 0, e);
  assert.ok(e <= TOL, `${label}: relative error ${e} > ${TOL}`);
}

async function session(e: OnnxExport): Promise<ort.InferenceSession> {
  // The file must be a valid ModelProto that says what it is.
  const m = decodeModel(e.bytes);
  assert.equal(Number(m.opsetImport[0]!.version), OPSET);
  const dims = m.graph?.input?.[0]?.type?.tensorType?.shape?.dim ?? [];
  assert.equal(dims[0]?.dimParam, 'batch');
  return ort.InferenceSession.create(e.bytes);
}

async function runOrt(s: ort.InferenceSession, name: string, x: Float32Array, shape: number[]): Promise<ort.InferenceSession.OnnxValueMapType> {
  return s.run({ [name]: new ort.Tensor('float32', x, shape) });
}

function randn(seed: number, n: number, std = 1): Float32Array {
  return new Generator(seed).normal(new Float32Array(n), 0, std);
}

/**
 * Checks every part of a Servable against its ONNX graphs: encode (codes / mu, logvar),
 * decode, reconstruct, score, and `all`, at batch sizes 1 and 7.
 */
async function checkServable(label: string, s: Servable, exportPart: (part: 'encode' | 'decode' | 'reconstruct' | 'score' | 'all') => OnnxExport, seed: number, inputStd = 1): Promise<void> {
  const row = s.inputShape.reduce((p, d) => p * d, 1);
  for (const Bn of [1, 7]) {
    const x = randn(seed + Bn, Bn * row, inputStd);
    const shape = [Bn, ...s.inputShape];
    if (s.ops.encode) {
      const want = s.ops.encode(x, Bn);
      const out = await runOrt(await session(exportPart('encode')), 'x', x, shape);
      const first = (out.codes ?? out.mu)!;
      assert.deepEqual(first.dims.map(Number), want.shape, `${label} encode shape`);
      expectClose(`${label} encode`, first.data as Float32Array, want.data);
      if (want.extra?.logvar) expectClose(`${label} encode logvar`, out.logvar!.data as Float32Array, want.extra.logvar.data);
    }
    if (s.ops.decode && s.codeDim) {
      const z = s.ops.encode ? s.ops.encode(x, Bn).data : randn(seed + 50, Bn * s.codeDim);
      const want = s.ops.decode(z, Bn);
      const out = await runOrt(await session(exportPart('decode')), 'codes', z, [Bn, s.codeDim]);
      expectClose(`${label} decode`, out.x_hat!.data as Float32Array, want.data);
    }
    if (s.ops.reconstruct) {
      const want = s.ops.reconstruct(x, Bn);
      const out = await runOrt(await session(exportPart('reconstruct')), 'x', x, shape);
      assert.deepEqual(out.x_hat!.dims.map(Number), want.shape, `${label} reconstruct shape`);
      expectClose(`${label} reconstruct`, out.x_hat!.data as Float32Array, want.data);
    }
    if (s.ops.score) {
      const want = s.ops.score(x, Bn);
      const out = await runOrt(await session(exportPart('score')), 'x', x, shape);
      expectClose(`${label} score`, out.score!.data as Float32Array, want.data);
      const all = await runOrt(await session(exportPart('all')), 'x', x, shape);
      expectClose(`${label} score`, all.score!.data as Float32Array, want.data);
      if (want.extra?.labels) assert.deepEqual(Array.from(all.label!.data as Int32Array), Array.from(want.extra.labels.data), `${label} labels`);
    }
  }
}

// ---- SAEs -------------------------------------------------------------------------------------

/** An SAE with explicit random weights (createSae's init is not used: see the task notes). */
function saeWeights(arch: SaeWeights['arch'], dIn: number, dSae: number, seed: number, extra: Partial<SaeWeights> = {}): SaeWeights {
  const w: SaeWeights = {
    arch, dIn, dSae,
    W_enc: randn(seed, dSae * dIn, 1 / Math.sqrt(dIn)),
    b_enc: randn(seed + 1, dSae, 0.1),
    W_dec: randn(seed + 2, dSae * dIn, 1 / Math.sqrt(dSae)),
    b_dec: randn(seed + 3, dIn, 0.1),
    applyBDecToInput: true,
    meta: {},
    ...extra,
  };
  if (arch === 'jumprelu' || arch === 'batchtopk') w.threshold ??= Float32Array.from(randn(seed + 4, dSae, 0.1), (v) => Math.abs(v));
  if (arch === 'gated') {
    w.r_mag ??= randn(seed + 5, dSae, 0.2);
    w.b_mag ??= randn(seed + 6, dSae, 0.1);
  }
  return w;
}

const SAES: [string, SaeWeights][] = [
  ['sae relu', saeWeights('relu', 16, 48, 10)],
  ['sae topk', saeWeights('topk', 16, 64, 20, { k: 5 })],
  ['sae topk no-b_dec-in', saeWeights('topk', 12, 40, 25, { k: 3, applyBDecToInput: false })],
  ['sae jumprelu', saeWeights('jumprelu', 16, 48, 30)],
  ['sae batchtopk', saeWeights('batchtopk', 16, 48, 40, { k: 4 })],
  ['sae gated', saeWeights('gated', 16, 48, 50)],
  ['sae topk layer_norm', saeWeights('topk', 16, 64, 60, { k: 6, meta: { inputNormalization: 'layer_norm' } })],
  ['sae relu constant_norm_rescale', saeWeights('relu', 16, 48, 70, { meta: { inputNormalization: 'constant_norm_rescale' } })],
];

for (const [label, w] of SAES) {
  test(`ONNX ${label}: encode/decode/reconstruct/score match aelab`, async () => {
    // Inputs with a large common offset and scale make the normalisation matter.
    await checkServable(label, saeServable(w), (p) => saeToOnnx(w, p), 100, 3);
    // The codes are the SAE's own rule: same support and L0 as runSae.
    const x = randn(5, 9 * w.dIn, 3);
    const out = await runOrt(await session(saeToOnnx(w, 'encode')), 'x', x, [9, w.dIn]);
    const codes = out.codes!.data as Float32Array;
    const l0 = codes.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) / 9;
    assert.ok(Math.abs(l0 - runSae(w, x).l0) < 1e-9, `${label}: L0 ${l0} vs runSae ${runSae(w, x).l0}`);
    if (w.arch === 'topk') assert.equal(l0 <= w.k!, true);
    if (w.arch !== 'topk') assert.ok(l0 > 0 && l0 < w.dSae, `${label}: degenerate codes (L0 ${l0})`);
  });
}

test('ONNX SAEs made by createSae (every architecture, folded and per-token normalisation) via saeToWeights', async () => {
  const cases: Record<string, unknown>[] = [
    { architecture: 'standard', normalisation: 'none' },
    { architecture: 'standard', normalisation: 'layer-norm' },
    { architecture: 'topk', k: 4, normalisation: 'constant-norm' },
    { architecture: 'topk', k: 4, normalisation: 'constant-norm-rescale' },
    { architecture: 'batchtopk', k: 4, normalisation: 'none' },
    { architecture: 'jumprelu', normalisation: 'none' },
    { architecture: 'matryoshka', k: 4, normalisation: 'none' },
    { architecture: 'gated', normalisation: 'layer-norm' },
  ];
  let i = 0;
  for (const c of cases) {
    const sae = createSae({ ...c, dIn: 10, dSae: 32 } as never, new Generator(40 + i));
    // Explicit weights: fresh SAEs may carry experimental init values; the export only needs finite ones.
    sae.W_enc.f32().set(randn(60 + i, 32 * 10, 0.4));
    if (c.normalisation === 'constant-norm') sae.norm_scale.f32()[0] = 2.5;
    const w = saeToWeights(sae);
    const label = `createSae ${c.architecture as string} ${c.normalisation as string} (${w.arch})`;
    await checkServable(label, saeServable(w), (p) => saeToOnnx(w, p), 500 + i++, 2);
  }
});

test('ONNX TopK SAE with sparse codes: values/indices equal runSae, reconstruct decodes sparsely', async () => {
  for (const [, w] of SAES.filter(([, w]) => w.arch === 'topk')) {
    const x = randn(11, 6 * w.dIn, 3);
    const ref = runSae(w, x);
    const rc = ref.codes as { k: number; indices: Int32Array; values: Float32Array };
    const e = saeToOnnx(w, 'all', { sparse: true });
    assert.deepEqual(e.outputs.map((o) => o.name), ['values', 'indices', 'x_hat', 'score']);
    const out = await runOrt(await session(e), 'x', x, [6, w.dIn]);
    assert.deepEqual(out.values!.dims.map(Number), [6, w.k]);
    expectClose('sae topk sparse values', out.values!.data as Float32Array, rc.values);
    assert.deepEqual(Array.from(out.indices!.data as BigInt64Array, Number), Array.from(rc.indices));
    expectClose('sae topk sparse reconstruct', out.x_hat!.data as Float32Array, ref.xhat);
  }
  assert.throws(() => saeToOnnx(SAES[0]![1], 'encode', { sparse: true }), /need a fixed-k SAE \(topk\); this SAE is relu/);
  assert.throws(() => saeToOnnx(SAES[1]![1], 'decode', { sparse: true }), /not 'decode'/);
});

test('ONNX SAE from a saved folder (aelab format) equals the in-memory export', async () => {
  const w = SAES[1]![1];
  const dir = join(tmp, 'sae-topk');
  saveSaeFolder(dir, w, 'aelab');
  const e = exportOnnxFolder(dir);
  assert.equal(e.kind, 'sae');
  assert.equal(e.part, 'all');
  assert.deepEqual(e.outputs.map((o) => o.name), ['codes', 'x_hat', 'score']);
  const x = randn(8, 4 * w.dIn);
  const out = await runOrt(await session(e), 'x', x, [4, w.dIn]);
  expectClose('sae topk folder reconstruct', out.x_hat!.data as Float32Array, runSae(w, x).xhat);
});

// ---- models -----------------------------------------------------------------------------------

const MODELS: [string, () => AnyModel, number?][] = [
  ['mlp ae relu', () => new AutoEncoder({ arch: 'mlp', inputDim: 20, hidden: [16, 12], latentDim: 5, seed: 1 })],
  ['mlp ae gelu/sigmoid-out', () => new AutoEncoder({ arch: 'mlp', inputDim: 20, hidden: [14], latentDim: 4, activation: 'gelu', outputActivation: 'sigmoid', seed: 2 })],
  ['mlp ae tanh bce', () => new AutoEncoder({ arch: 'mlp', inputDim: 10, hidden: [8], latentDim: 3, activation: 'tanh', loss: 'bce', seed: 3 })],
  ['mlp ae leakyRelu', () => new AutoEncoder({ arch: 'mlp', inputDim: 10, hidden: [8, 6], latentDim: 3, activation: 'leakyRelu', seed: 4 })],
  ['denoising ae', () => new DenoisingAutoEncoder({ arch: 'mlp', inputDim: 12, hidden: [8], latentDim: 3, seed: 5, corruption: { kind: 'gaussian', std: 0.1 } } as never)],
  ['conv ae latent', () => new AutoEncoder({ arch: 'conv', inChannels: 2, height: 9, width: 7, channels: [4, 6], latentDim: 5, seed: 6 })],
  ['conv ae no-latent k5', () => new AutoEncoder({ arch: 'conv', inChannels: 1, height: 8, width: 8, channels: [3, 4], kernelSize: 5, latentDim: null, outputActivation: 'sigmoid', seed: 7 })],
  ['stacked ae', () => new StackedAutoEncoder({ sizes: [12, 9, 6, 3], activation: 'tanh', codeActivation: 'sigmoid', outputActivation: 'identity', seed: 8 })],
  ['vae bernoulli', () => new VAE({ inputDim: 14, hidden: [10, 8], latentDim: 3, seed: 9 })],
  ['vae gaussian', () => new VAE({ inputDim: 14, hidden: [10], latentDim: 4, decoder: 'gaussian', sigma: 'learned', seed: 10 })],
  ['ard-vae', () => new ARDVAE({ inputDim: 10, hidden: [8], latentDim: 4, seed: 11 } as never)],
];

for (const [label, make] of MODELS) {
  test(`ONNX ${label}: encode/decode/reconstruct/score match aelab serve`, async () => {
    const m = make().eval() as AnyModel;
    await checkServable(label, modelServable(m), (p) => modelToOnnx(m, p), 200);
  });
}

test('ONNX prototype network: encode/decode match the model', async () => {
  const m = new PrototypeNetwork({ inChannels: 1, height: 8, width: 8, channels: [3, 4], numPrototypes: 4, numClasses: 3, seed: 12 }).eval();
  const x = randn(3, 5 * 64);
  const want = scope(() => noGrad(() => m.encode(tensor(x, [5, 1, 8, 8])).f32().slice()));
  const out = await runOrt(await session(modelToOnnx(m, 'encode')), 'x', x, [5, 1, 8, 8]);
  expectClose('prototype encode', out.codes!.data as Float32Array, want);
  const rec = scope(() => noGrad(() => m.decode(tensor(want, [5, want.length / 5])).f32().slice()));
  const out2 = await runOrt(await session(modelToOnnx(m, 'decode')), 'codes', want, [5, want.length / 5]);
  expectClose('prototype decode', out2.x_hat!.data as Float32Array, rec);
});

test('ONNX model from a saved folder; VAE encode gives mu and logvar', async () => {
  const v = new VAE({ inputDim: 6, hidden: [5], latentDim: 2, decoder: 'gaussian', seed: 3 });
  const dir = join(tmp, 'vae');
  saveModel(dir, v);
  const e = exportOnnxFolder(dir, 'encode');
  assert.deepEqual(e.outputs.map((o) => o.name), ['mu', 'logvar']);
  assert.deepEqual(e.outputs[0]!.shape, ['batch', 2]);
  const x = randn(1, 3 * 6);
  const out = await runOrt(await session(e), 'x', x, [3, 6]);
  const want = scope(() => noGrad(() => { const r = v.encode(tensor(x, [3, 6])); return { mu: r.mu.f32().slice(), lv: r.logvar.f32().slice() }; }));
  expectClose('vae folder mu', out.mu!.data as Float32Array, want.mu);
  expectClose('vae folder logvar', out.logvar!.data as Float32Array, want.lv);
});

test('ONNX refuses StackVAE-G models with a message saying what to export instead', () => {
  const m = new StackVAEG({ window: 8, channels: 2, seed: 0 } as never);
  assert.throws(() => modelToOnnx(m as never, 'all'), (e: Error) => e instanceof OnnxExportError && /StackVAE-G/.test(e.message) && /detector/.test(e.message));
});

// ---- detectors --------------------------------------------------------------------------------

/** Training rows with correlated columns of different scales (so standardisation matters). */
function trainRows(n: number, d: number, seed: number): Float64Array {
  const z = randn(seed, n * 2);
  const noise = randn(seed + 1, n * d, 0.1);
  const X = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) X[i * d + j] = (z[i * 2]! * (j + 1) + z[i * 2 + 1]! * (j % 3) + noise[i * d + j]!) * (1 + j) + 10 * j;
  return X;
}

const N = 80, Dd = 6;
const Xtrain = trainRows(N, Dd, 300);
const detectors: [string, () => PCADetector | AEDetector | VAEDetector][] = [
  ['detector pca', () => new PCADetector({ nComponents: 2 }).fit(Xtrain, N, Dd)],
  ['detector pca unstandardised', () => new PCADetector({ nComponents: 3, standardize: false }).fit(Xtrain, N, Dd)],
  ['detector ae', () => new AEDetector({ hidden: [8], latentDim: 2, epochs: 3, seed: 1 }).fit(Xtrain, N, Dd)],
  ['detector vae', () => new VAEDetector({ hidden: [8], latentDim: 2, epochs: 3, samples: 0, seed: 2 }).fit(Xtrain, N, Dd)],
];

for (const [label, make] of detectors) {
  test(`ONNX ${label}: score and label match decisionFunction / threshold`, async () => {
    const det = make();
    const s = detectorServable(det, det.constructor.name);
    // Score rows near the training data (so labels are mixed) and far from it.
    const rows = 16;
    const x = new Float32Array(rows * Dd);
    for (let i = 0; i < rows; i++) for (let j = 0; j < Dd; j++) x[i * Dd + j] = Xtrain[(i * 5) * Dd + j]! * (i % 4 === 0 ? 1.5 : 1);
    const want = s.ops.score!(x, rows);
    const out = await runOrt(await session(detectorToOnnx(det, 'score')), 'x', x, [rows, Dd]);
    expectClose(`${label} score`, out.score!.data as Float32Array, want.data);
    assert.deepEqual(Array.from(out.label!.data as Int32Array), Array.from(want.extra!.labels!.data), `${label} labels`);
    await checkServable(label, s, (p) => detectorToOnnx(det, p), 400, 5);
  });
}

test('ONNX detector folders: saved PCA/AE detectors export; VAE with samples needs --at-mean; kNN refused', async () => {
  const pca = new PCADetector({ nComponents: 2 }).fit(Xtrain, N, Dd);
  const dir = join(tmp, 'det-pca');
  pca.save(dir);
  const e = exportOnnxFolder(dir);
  assert.equal(e.part, 'score');
  assert.deepEqual(e.outputs.map((o) => o.name), ['score', 'label']);
  const x = Float32Array.from(Xtrain.subarray(0, 10 * Dd));
  const out = await runOrt(await session(e), 'x', x, [10, Dd]);
  expectClose('detector pca folder', out.score!.data as Float32Array, pca.decisionFunction(x, 10));
  assert.throws(() => exportOnnxFolder(dir, 'encode'), /no 'encode' graph.*score, all/);

  const vae = new VAEDetector({ hidden: [6], latentDim: 2, epochs: 2, samples: 5, seed: 4 }).fit(Xtrain, N, Dd);
  assert.throws(() => detectorToOnnx(vae), /samples = 5.*--at-mean/);
  // With atMean the graph gives the z = μ score, i.e. the same detector with samples = 0.
  const atMean = detectorToOnnx(vae, 'score', { atMean: true });
  const det0 = new VAEDetector({ hidden: [6], latentDim: 2, epochs: 2, samples: 0, seed: 4 });
  det0.nFeatures = vae.nFeatures; det0.scaler = vae.scaler; det0.model = vae.model; det0.threshold = vae.threshold;
  const o2 = await runOrt(await session(atMean), 'x', x, [10, Dd]);
  expectClose('detector vae at-mean', o2.score!.data as Float32Array, det0.decisionFunction(x, 10));

  const knn = new KNNDetector({}).fit(Xtrain, N, Dd);
  assert.throws(() => detectorToOnnx(knn), /KNNDetector has no ONNX export.*PCADetector, AEDetector, VAEDetector/);
});

test('exportOnnxFolder names the folder and points at sub-folders that can be exported', () => {
  const run = join(tmp, 'run');
  mkdirSync(join(run, 'notes'), { recursive: true });
  writeFileSync(join(run, 'metrics.jsonl'), '');
  saveSaeFolder(join(run, 'sae'), SAES[0]![1], 'aelab');
  assert.throws(() => exportOnnxFolder(run), (e: Error) => e instanceof OnnxExportError && e.message.includes(run) && e.message.includes(join(run, 'sae')) && !e.message.includes('notes'));
  assert.throws(() => exportOnnxFolder(join(tmp, 'missing')), /missing is not a folder/);
  assert.throws(() => saeToOnnx(SAES[0]![1], 'bogus' as never), /unknown part 'bogus'/);
  const noTh = { ...SAES[3]![1], threshold: undefined };
  assert.throws(() => saeToOnnx(noTh), /jumprelu SAE needs its inference threshold/);
});
