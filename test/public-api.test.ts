/**
 * The package entry point as a user sees it: every import here comes from '../src/index.js' (what
 * `import … from 'aelab'` resolves to), and each test runs a real workflow end to end. The last
 * tests keep docs/API.md and the entry point in step: the doc's reference list must name exactly
 * what src/index.ts exports (values and types), and its examples may import only exported names.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as aelab from '../src/index.js';
import {
  AEDetector, Generator, KMeans, PCA, PCADetector, StandardScaler, TopKSae, VAE,
  adjustedRandIndex, arraySource, detectSaeFormat, encodeSae, featureRecovery, generateSuperposition, isSparseCode, kmeans,
  lineChart, loadModel, loadSae, loadSaeFolder, metricsBlocks, noGrad, normalizedMutualInfo, openActivations, resolveTrainConfig,
  rocAuc, runSae, saeFromWeights, saeToWeights, saveModel, saveSae, saveSaeFolder, saveSuperposition, tensor, train, trainSae,
  writeReport,
  type Dataset, type SaeTrainResult, type SaeWeights,
} from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-public-api-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const D = 24, N_FEATURES = 48, TOKENS = 20_000, K = 4, D_SAE = 128, TRAIN_TOKENS = 400_000;

// One toy SAE run shared by the SAE tests: superposition data saved as .npy, streamed from disk.
let run: { res: SaeTrainResult; features: Float32Array; x: Float32Array } | undefined;
function trained(): NonNullable<typeof run> {
  if (run) return run;
  const data = generateSuperposition({ n: N_FEATURES, d: D, tokens: TOKENS, maxFrequency: 0.08, exponent: 0.5 }, new Generator(0));
  const dataDir = join(tmp, 'toy');
  saveSuperposition(dataDir, data);
  const source = openActivations(join(dataDir, 'activations.npy'));
  const config = resolveTrainConfig({ architecture: 'topk', dSae: D_SAE, k: K, tokens: TRAIN_TOKENS, batchSize: 256, seed: 0 }, source.dIn);
  try {
    const res = trainSae(config, { source, outDir: join(tmp, 'sae-run') });
    run = { res, features: data.features, x: data.activations.slice(0, 2000 * D) };
  } finally {
    source.close();
  }
  return run;
}

test('trainSae learns a TopK SAE on superposition data from a .npy file: low FVU, L0 at most k, true features found', () => {
  const { res, features, x } = trained();
  assert.equal(res.steps, Math.ceil(TRAIN_TOKENS / 256));
  assert.ok(res.val !== null, 'validation metrics');
  assert.ok(res.val.fvu < 0.1, `validation FVU ${res.val.fvu}`);
  // k slots per token; a slot whose top-k pre-activation is ≤ 0 is zeroed by the ReLU, so the
  // measured L0 (nonzero latents per token) is at most k (these tokens hold ~1.3 true features).
  assert.ok(res.val.l0 <= K && res.val.l0 > K / 2, `validation L0 ${res.val.l0}`);
  const sae = res.sae;
  assert.ok(sae instanceof TopKSae);
  const code = noGrad(() => sae.encode(tensor(x.subarray(0, 64 * D), [64, D])));
  assert.ok(isSparseCode(code), 'a TopK SAE encodes sparsely');
  assert.deepEqual(code.values.shape, [64, K]);
  assert.deepEqual(code.indices.shape, [64, K]);
  const w = saeToWeights(sae);
  const rec = featureRecovery(w.W_dec, w.dSae, features, N_FEATURES, D, 0.9);
  assert.ok(rec.fractionRecovered >= 0.9, `recovered ${rec.recovered} of ${N_FEATURES} true features (mean max cosine ${rec.meanMaxCosine})`);
  // The run folder: the trained SAE (aelab format = SAELens + aelab.json) and the metrics log.
  assert.ok(res.saeDir !== null && existsSync(join(res.saeDir, 'cfg.json')) && existsSync(join(res.saeDir, 'aelab.json')));
  assert.ok(readFileSync(join(tmp, 'sae-run', 'metrics.jsonl'), 'utf8').includes('"split":"val"'));
});

function assertSameWeights(a: SaeWeights, b: SaeWeights, what: string): void {
  assert.equal(b.arch, a.arch, `${what}: arch`);
  assert.equal(b.k, a.k, `${what}: k`);
  assert.equal(b.dIn, a.dIn);
  assert.equal(b.dSae, a.dSae);
  for (const key of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) assert.deepEqual(b[key], a[key], `${what}: ${key}`);
}

test('SAELens and sparsify folders round-trip exactly; a loaded SAE encodes and reconstructs like the trained one', () => {
  const { res, x } = trained();
  const w = saeToWeights(res.sae);

  const lensDir = join(tmp, 'saelens');
  saveSaeFolder(lensDir, w, 'saelens');
  assert.equal(detectSaeFormat(lensDir), 'saelens');
  const fromLens = loadSaeFolder(lensDir);
  assertSameWeights(w, fromLens, 'SAELens');
  assertSameWeights(w, loadSaeFolder(res.saeDir!), 'aelab folder written by the trainer');

  const sparsifyDir = join(tmp, 'sparsify');
  saveSae(sparsifyDir, fromLens, 'sparsify');
  assert.equal(detectSaeFormat(sparsifyDir), 'sparsify');
  assertSameWeights(w, loadSae(sparsifyDir), 'SAELens → sparsify');

  // Back to a module: the saved tensors, and the trained module's reconstructions (bit-identical
  // while the SAE has no input normalisation, TopK's default; folding a constant-norm scale would
  // only round).
  const sae2 = saeFromWeights(fromLens);
  assert.ok(sae2 instanceof TopKSae);
  for (const key of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) assert.deepEqual(sae2[key].f32(), w[key], key);
  const B = 500, xs = x.subarray(0, B * D);
  const [r1, r2] = noGrad(() => [res.sae.reconstruct(tensor(xs, [B, D])).f32().slice(), sae2.reconstruct(tensor(xs, [B, D])).f32().slice()]);
  if (res.sae.config.normalisation === 'none') assert.deepEqual(r2, r1);
  else for (let i = 0; i < r1.length; i++) assert.ok(Math.abs(r2[i]! - r1[i]!) < 1e-4, `reconstruction ${i}`);

  // Array-level inference on the loaded weights agrees with the module up to float32 rounding,
  // and picks the same latents as the float64 reference encoder.
  const out = runSae(fromLens, xs);
  let maxDiff = 0;
  for (let i = 0; i < r1.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out.xhat[i]! - r1[i]!));
  assert.ok(maxDiff < 1e-4, `runSae vs module: max |Δx̂| ${maxDiff}`);
  const codes = out.codes;
  assert.ok(!(codes instanceof Float32Array) && codes.k === K, 'runSae gives k (index, value) pairs per token');
  const dense = encodeSae(fromLens, xs.subarray(0, 20 * D));
  for (let t = 0; t < 20; t++) {
    const ref = [...dense.subarray(t * D_SAE, (t + 1) * D_SAE).keys()].filter((h) => dense[t * D_SAE + h] !== 0).sort((a, b) => a - b);
    const got: number[] = [...codes.indices.subarray(t * K, (t + 1) * K)].filter((_, i) => codes.values[t * K + i] !== 0).sort((a, b) => a - b);
    assert.deepEqual(got, ref, `token ${t}: active latents`);
  }
});

test('an SAE evaluation becomes a Markdown + HTML report with SVG figures', () => {
  const { res } = trained();
  const paths = writeReport(join(tmp, 'report', 'eval.md'), [{ kind: 'h', level: 1, text: 'Toy SAE' }, ...metricsBlocks(res.val!, null)], 'Toy SAE');
  const md = readFileSync(paths.markdown, 'utf8');
  assert.match(md, /FVU/);
  assert.match(readFileSync(paths.html, 'utf8'), /<svg/);
  const svg = lineChart({ title: 'loss', series: [{ name: 'a', x: [0, 1, 2], y: [3, 2, 1] }] });
  assert.match(svg, /^(<\?xml[^>]*>\s*)?<svg/);
});

/** n rows of 8-D data: inliers on a noisy 2-D linear subspace, outliers uniform in a box. */
function tabular(subspaceSeed: number, sampleSeed: number, nIn: number, nOut: number): { X: Float64Array; labels: number[]; n: number } {
  const A = new Generator(subspaceSeed).normal(new Float32Array(2 * 8));
  const g = new Generator(sampleSeed);
  const n = nIn + nOut;
  const X = new Float64Array(n * 8);
  const f = g.normal(new Float32Array(nIn * 2));
  const e = g.normal(new Float32Array(nIn * 8), 0, 0.1);
  for (let i = 0; i < nIn; i++) for (let d = 0; d < 8; d++) X[i * 8 + d] = 10 + f[i * 2]! * A[d]! + f[i * 2 + 1]! * A[8 + d]! + e[i * 8 + d]!;
  const u = g.uniform(new Float32Array(nOut * 8), -3, 3);
  for (let i = 0; i < nOut; i++) for (let d = 0; d < 8; d++) X[(nIn + i) * 8 + d] = 10 + u[i * 8 + d]!;
  return { X, labels: [...new Array<number>(nIn).fill(0), ...new Array<number>(nOut).fill(1)], n };
}

test('AEDetector and PCADetector rank held-out outliers above inliers (ROC-AUC > 0.9)', () => {
  const trainSet = tabular(1, 10, 380, 20);
  const held = tabular(1, 11, 380, 20);
  const ae = new AEDetector({ contamination: 0.05, hidden: [16], latentDim: 2, epochs: 30, batchSize: 32, lr: 3e-3, seed: 1 }).fit(trainSet.X, trainSet.n, 8);
  const aucAe = rocAuc(held.labels, ae.decisionFunction(held.X, held.n));
  assert.ok(aucAe > 0.9, `AE ROC-AUC ${aucAe}`);
  const pred = ae.predict(held.X, held.n);
  const flagged = pred.reduce((s, v) => s + v, 0);
  assert.ok(flagged >= 10 && flagged <= 60, `${flagged} of ${held.n} rows flagged at contamination 0.05`);
  const pca = new PCADetector({ contamination: 0.05, nComponents: 2 }).fit(trainSet.X, trainSet.n, 8);
  const aucPca = rocAuc(held.labels, pca.decisionFunction(held.X, held.n));
  assert.ok(aucPca > 0.9, `PCA ROC-AUC ${aucPca}`);
});

test('a VAE trains with the shared loop, and saveModel / loadModel restore it exactly', () => {
  const { X, n } = tabular(2, 20, 256, 0);
  const scaler = new StandardScaler().fit(X, n, 8);
  const Z = Float32Array.from(scaler.transform(X, n));
  const data: Dataset = { x: Z, n, sampleShape: [8] };
  const vae = new VAE({ inputDim: 8, hidden: [32], latentDim: 2, decoder: 'gaussian', sigma: 'learned', seed: 0 });
  const result = train(vae, data, { epochs: 40, batchSize: 32, lr: 3e-3, seed: 0 });
  const first = result.epochLosses[0]!, last = result.epochLosses.at(-1)!;
  assert.ok(last < first - 2, `negative ELBO fell from ${first} to ${last}`);
  vae.eval();
  const xs = tensor(Z.subarray(0, 64 * 8), [64, 8]);
  const before = noGrad(() => vae.reconstruct(xs).f32().slice());
  // The 2-D code explains the 2-D subspace: reconstruction MSE well below the unit variance.
  let mse = 0;
  for (let i = 0; i < before.length; i++) mse += (before[i]! - Z[i]!) ** 2 / before.length;
  assert.ok(mse < 0.2, `reconstruction MSE ${mse}`);
  const dir = join(tmp, 'vae');
  saveModel(dir, vae);
  const loaded = loadModel(dir);
  assert.ok(loaded instanceof VAE);
  assert.deepEqual(noGrad(() => loaded.reconstruct(xs).f32().slice()), before);
});

test('k-means recovers separable blobs exactly (ARI = 1) and PCA finds their 2-D plane', () => {
  const g = new Generator(3);
  const centres = [[0, 0, 0, 0, 0], [10, 0, 0, 0, 0], [0, 10, 0, 0, 0], [10, 10, 0, 0, 0]];
  const per = 50, n = centres.length * per, d = 5;
  const X = new Float64Array(n * d);
  const truth = new Int32Array(n);
  const noise = g.normal(new Float32Array(n * d), 0, 0.3);
  for (let i = 0; i < n; i++) {
    truth[i] = Math.floor(i / per);
    for (let q = 0; q < d; q++) X[i * d + q] = centres[truth[i]!]![q]! + noise[i * d + q]!;
  }
  const r = kmeans(X, n, d, { k: 4, seed: 0 });
  assert.equal(adjustedRandIndex(truth, r.labels), 1);
  assert.equal(normalizedMutualInfo(truth, r.labels), 1);
  const km = new KMeans({ k: 4, seed: 1 }).fit(X, n, d);
  assert.deepEqual(km.predict(X, n), km.labels);
  assert.equal(adjustedRandIndex(truth, km.labels), 1);
  const pca = new PCA({ nComponents: 2 }).fit(X, n, d);
  const explained = pca.explainedVarianceRatio[0]! + pca.explainedVarianceRatio[1]!;
  assert.ok(explained > 0.95, `2 components explain ${explained}`);
  assert.equal(pca.transform(X, n).length, n * 2);
});

// ---- docs/API.md stays in step with the entry point ---------------------------------------------

const repo = new URL('../../', import.meta.url);

/** Every name src/index.ts exports (after `as`), split into values and type-only exports. */
function entryExports(): { all: Set<string>; types: Set<string> } {
  const src = readFileSync(new URL('src/index.ts', repo), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const all = new Set<string>(), types = new Set<string>();
  for (const m of src.matchAll(/export\s+(type\s+)?\{([^}]*)\}/g)) {
    for (let item of m[2]!.split(',')) {
      item = item.trim();
      if (!item) continue;
      const isType = m[1] !== undefined || item.startsWith('type ');
      const name = item.replace(/^type\s+/, '').split(/\s+as\s+/).at(-1)!.trim();
      all.add(name);
      if (isType) types.add(name);
    }
  }
  for (const m of src.matchAll(/export\s+\*\s+as\s+(\w+)/g)) all.add(m[1]!);
  return { all, types };
}

/** The reference list of docs/API.md: names per line, those after "types:" being type-only. */
function docReference(): { values: string[]; types: string[] } {
  const doc = readFileSync(new URL('docs/API.md', repo), 'utf8');
  const start = doc.indexOf('<!-- api-reference:start -->'), end = doc.indexOf('<!-- api-reference:end -->');
  assert.ok(start >= 0 && end > start, 'docs/API.md has the api-reference markers');
  const values: string[] = [], types: string[] = [];
  for (const line of doc.slice(start, end).split('\n')) {
    const cut = line.indexOf('; types:');
    const names = (s: string) => [...s.matchAll(/`([A-Za-z_$][\w$]*)`/g)].map((m) => m[1]!);
    values.push(...names(cut < 0 ? line : line.slice(0, cut)));
    if (cut >= 0) types.push(...names(line.slice(cut)));
  }
  return { values, types };
}

test('docs/API.md lists exactly the exports of the entry point, values and types apart', () => {
  const runtime = new Set(Object.keys(aelab));
  const { all, types } = entryExports();
  const doc = docReference();
  for (const name of runtime) assert.ok(all.has(name), `${name} is exported at run time but not named in src/index.ts`);
  for (const name of all) if (!types.has(name)) assert.ok(runtime.has(name), `${name} is a value export of src/index.ts but missing at run time`);
  for (const name of doc.values) assert.ok(runtime.has(name), `docs/API.md lists \`${name}\` as a value, but 'aelab' does not export it`);
  for (const name of doc.types) {
    assert.ok(all.has(name), `docs/API.md lists the type \`${name}\`, but src/index.ts does not export it`);
    assert.ok(!runtime.has(name), `docs/API.md lists \`${name}\` as a type, but it is a value`);
  }
  const listed = new Set([...doc.values, ...doc.types]);
  assert.equal(listed.size, doc.values.length + doc.types.length, 'no name is listed twice');
  const missing = [...all].filter((n) => !listed.has(n));
  assert.deepEqual(missing, [], 'every export of src/index.ts is listed in docs/API.md');
});

test('the examples in docs/API.md import only names the entry point exports', () => {
  const doc = readFileSync(new URL('docs/API.md', repo), 'utf8');
  const runtime = new Set(Object.keys(aelab));
  const { all } = entryExports();
  const code = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).join('\n');
  const imports = [...code.matchAll(/import\s*\{([^}]*)\}\s*from\s*'aelab'/g)];
  assert.ok(imports.length >= 3, 'the examples import from aelab');
  for (const m of imports) {
    for (let item of m[1]!.split(',')) {
      item = item.trim();
      if (!item) continue;
      const name = item.replace(/^type\s+/, '');
      if (item.startsWith('type ')) assert.ok(all.has(name), `example imports the type ${name}`);
      else assert.ok(runtime.has(name), `example imports ${name}, which 'aelab' does not export`);
    }
  }
});
