import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, writeNpy } from '../../src/core/io/index.js';
import { fromBuffer } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { decodePng } from '../../src/data/png.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { VAE } from '../../src/models/vae.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { renderClusterMap, renderMatchedMaps } from '../../src/tasks/cluster-map.js';
import { adjustedRandIndex, normalizedMutualInfo } from '../../src/tasks/metrics.js';
import { packageRoot } from '../../src/version.js';
import { aelab, lastJson, tempDir } from './util.js';

/** Three well-separated Gaussian blobs in d dims, n per blob. */
function blobs(n: number, d: number, seed = 0): { x: Float32Array; y: Int32Array } {
  const g = new Generator(seed);
  const x = g.normal(new Float32Array(3 * n * d), 0, 0.3);
  const y = new Int32Array(3 * n);
  for (let i = 0; i < 3 * n; i++) {
    y[i] = i % 3;
    for (let j = 0; j < d; j++) x[i * d + j]! += (j % 3 === y[i] ? 4 : 0);
  }
  return { x, y };
}

test('embed writes the codes of a saved autoencoder and the posterior mean of a VAE', () => {
  const dir = tempDir();
  const { x } = blobs(10, 6);
  writeNpy(join(dir, 'x.npy'), { dtype: 'float32', shape: [30, 6], data: x });
  const ae = new AutoEncoder({ arch: 'mlp', inputDim: 6, hidden: [5], latentDim: 2, seed: 1 });
  saveModel(join(dir, 'ae'), ae);
  const r = aelab(['embed', '--model', 'ae', '--data', 'x.npy', '--out', 'codes.npy'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /embedded 30 rows/);
  const codes = readNpy(join(dir, 'codes.npy'));
  assert.deepEqual(codes.shape, [30, 2]);
  const direct = ae.encode(fromBuffer(x.slice(), [30, 6])).f32();
  for (let i = 0; i < direct.length; i++) assert.ok(Math.abs(codes.data[i]! - direct[i]!) < 1e-5, `code ${i}`);

  const vae = new VAE({ inputDim: 6, hidden: [4], latentDim: 3, decoder: 'gaussian', seed: 2 });
  saveModel(join(dir, 'vae'), vae);
  const rv = aelab(['embed', '--model', 'vae', '--data', 'x.npy', '--out', 'mu.npy', '--json'], dir);
  assert.equal(rv.code, 0, rv.stderr);
  assert.equal(lastJson(rv.stdout).codeDim, 3);
  const mu = vae.encode(fromBuffer(x.slice(), [30, 6])).mu.f32();
  const got = readNpy(join(dir, 'mu.npy')).data;
  for (let i = 0; i < mu.length; i++) assert.ok(Math.abs(got[i]! - mu[i]!) < 1e-5);

  // Wrong width: the error names both shapes.
  writeNpy(join(dir, 'bad.npy'), { dtype: 'float32', shape: [4, 5], data: new Float32Array(20) });
  const rb = aelab(['embed', '--model', 'ae', '--data', 'bad.npy'], dir);
  assert.notEqual(rb.code, 0);
  assert.match(rb.stderr, /expects samples of shape \[6\].*5 values/);
});

test('cluster: raw and PCA k-means report ARI/NMI equal to the metrics of the labels written', () => {
  const dir = tempDir();
  const { x, y } = blobs(40, 8);
  writeNpy(join(dir, 'x.npy'), { dtype: 'float32', shape: [120, 8], data: x });
  writeNpy(join(dir, 'y.npy'), { dtype: 'int32', shape: [120], data: y });
  for (const method of ['raw', 'pca']) {
    const r = aelab(['cluster', '--data', 'x.npy', '--labels', 'y.npy', '--k', '3', '--method', method, '--pca-components', '2', '--out', `l-${method}.npy`, '--json'], dir);
    assert.equal(r.code, 0, r.stderr);
    const rep = lastJson(r.stdout);
    const labels = readNpy(join(dir, `l-${method}.npy`)).data;
    assert.equal(labels.length, 120);
    assert.equal(rep.ari, adjustedRandIndex(y, labels));
    assert.equal(rep.nmi, normalizedMutualInfo(y, labels));
    assert.ok(rep.ari > 0.95, `${method} ARI ${rep.ari}`);
    assert.equal(rep.dim, method === 'pca' ? 2 : 8);
    assert.ok(rep.silhouette > 0.5);
    assert.equal(rep.sizes.reduce((a: number, b: number) => a + b, 0), 120);
  }
  // Human-readable table, and the silhouette sample note when n exceeds it.
  const t = aelab(['cluster', '--data', 'x.npy', '--labels', 'y.npy', '--k', '3', '--silhouette-sample', '50'], dir);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /metric\s+value\s+meaning/);
  assert.match(t.stdout, /ARI\s+1\.0000/);
  assert.match(t.stdout, /random sample of 50 of 120 rows/);
});

test('cluster --method model clusters encoder codes; --codes clusters given codes', () => {
  const dir = tempDir();
  const { x, y } = blobs(20, 6);
  writeNpy(join(dir, 'x.npy'), { dtype: 'float32', shape: [60, 6], data: x });
  writeNpy(join(dir, 'y.npy'), { dtype: 'int32', shape: [60], data: y });
  saveModel(join(dir, 'ae'), new AutoEncoder({ arch: 'mlp', inputDim: 6, hidden: [8], latentDim: 3, seed: 0 }));
  const r = aelab(['cluster', '--data', 'x.npy', '--labels', 'y.npy', '--k', '3', '--method', 'model', '--model', 'ae', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const rep = lastJson(r.stdout);
  assert.equal(rep.dim, 3);
  assert.match(rep.feature, /autoencoder codes/);
  assert.equal(aelab(['embed', '--model', 'ae', '--data', 'x.npy', '--out', 'c.npy'], dir).code, 0);
  const rc = aelab(['cluster', '--codes', 'c.npy', '--labels', 'y.npy', '--k', '3', '--json'], dir);
  assert.equal(rc.code, 0, rc.stderr);
  // Same codes, same k-means seed: same clustering.
  assert.equal(lastJson(rc.stdout).inertia, rep.inertia);
  // Usage errors name the fault.
  const e = aelab(['cluster', '--data', 'x.npy', '--codes', 'c.npy'], dir);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /exactly one of --data, --codes or --raster/);
  const e2 = aelab(['cluster', '--data', 'x.npy', '--labels', 'y.npy', '--k', '3', '--method', 'model'], dir);
  assert.match(e2.stderr, /--method model needs --model/);
});

test('cluster --raster writes a PNG cluster map of the right size with a legend', () => {
  const dir = tempDir();
  const H = 10, W = 14, B = 3;
  const data = new Float32Array(H * W * B);
  const truth = new Int32Array(H * W);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    const r = j < 7 ? 0 : 1;
    truth[i * W + j] = r;
    for (let b = 0; b < B; b++) data[(i * W + j) * B + b] = (r ? 5 : -5) * (b + 1) + 0.1 * Math.sin(i + 3 * j + b);
  }
  data[0] = NaN; // a no-data pixel
  writeNpy(join(dir, 'r.npy'), { dtype: 'float32', shape: [H, W, B], data });
  writeNpy(join(dir, 't.npy'), { dtype: 'int32', shape: [H, W], data: truth });
  // Class 0 is a real class here, so it must not be ignored (the raster default ignores 0).
  const r = aelab(['cluster', '--raster', 'r.npy', '--labels', 't.npy', '--k', '2', '--map', 'map.png', '--ignore-label', 'none'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote map\.png: \d+×\d+ PNG cluster map \(139 of 140 pixels with data/);
  assert.match(r.stdout, /ground truth on the right/);
  const png = decodePng(new Uint8Array(readFileSync(join(dir, 'map.png'))));
  const labels = new Int32Array(H * W).fill(0);
  const { image, layout } = renderClusterMap(labels, H, W, 2);
  const both = renderMatchedMaps({ clusters: labels, H, W, k: 2, truth, classes: [0, 1], classOf: [0, 1], ignore: null });
  assert.equal(png.width, both.image.width);
  assert.ok(png.width > image.width + 16 + W * layout.scale, 'the ground-truth map is drawn beside the cluster map');
  assert.equal(png.height, image.height);
  assert.equal(layout.mapWidth, W * layout.scale);
  // Top-left pixel is the no-data pixel: black.
  assert.deepEqual(Array.from(png.data.subarray(0, 3)), [0, 0, 0]);
  assert.match(r.stdout, /ARI\s+1\.0000/);
});

/** Rows on a reflectance-like scale (~1000 ± 100), far from the z-scores a model is trained on. */
function bigRows(n: number, d: number, seed = 3): Float32Array {
  const { x } = blobs(Math.ceil(n / 3), d, seed);
  return Float32Array.from(x.subarray(0, n * d), (v, i) => v * 100 + 1000 + 50 * (i % d));
}

/** (x − μ) / σ per column with population σ, as the trainer's scaler (float64). */
function zscore(x: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let j = 0; j < d; j++) {
    let mu = 0;
    for (let i = 0; i < n; i++) mu += x[i * d + j]!;
    mu /= n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (x[i * d + j]! - mu) ** 2;
    const sd = Math.sqrt(ss / n);
    for (let i = 0; i < n; i++) out[i * d + j] = (x[i * d + j]! - mu) / sd;
  }
  return out;
}

function pick(x: Float32Array, n: number, d: number, cols: number[]): Float32Array {
  return Float32Array.from({ length: n * cols.length }, (_, t) => x[Math.floor(t / cols.length) * d + cols[t % cols.length]!]!);
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('embed and cluster --method model apply the model folder\'s column selection and training scaler', () => {
  const dir = tempDir();
  const n = 90, d = 6, cols = [0, 2, 3, 5];
  const x = bigRows(n, d);
  writeNpy(join(dir, 'x.npy'), { dtype: 'float32', shape: [n, d], data: x });
  const t = aelab(['train', 'ae', '--data', 'x.npy', '--columns', cols.join(','), '--latent', '2', '--hidden', '8', '--epochs', '2', '--out', 'run', '--quiet'], dir);
  assert.equal(t.code, 0, t.stderr);
  assert.ok(existsSync(join(dir, 'run', 'model', 'preprocess.json')));
  const model = loadModel(join(dir, 'run', 'model')) as AutoEncoder;
  const sel = pick(x, n, d, cols);
  const want = model.encode(fromBuffer(zscore(sel, n, cols.length), [n, cols.length])).f32().slice();

  // Full-width rows: the selection is applied, then the scaler.
  const r = aelab(['embed', '--model', 'run/model', '--data', 'x.npy', '--out', 'c.npy', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const rep = lastJson(r.stdout);
  assert.equal(rep.preprocess.standardized, true);
  assert.deepEqual(rep.preprocess.selected, cols);
  close(readNpy(join(dir, 'c.npy')).data, want, 1e-4, 'codes of 6-column rows');
  // The run folder works in place of its model folder.
  assert.equal(aelab(['embed', '--model', 'run', '--data', 'x.npy', '--out', 'c-run.npy'], dir).code, 0);
  close(readNpy(join(dir, 'c-run.npy')).data, want, 1e-4, 'codes via the run folder');
  // Rows already of the model's 4 columns: only the scaler.
  writeNpy(join(dir, 'x4.npy'), { dtype: 'float32', shape: [n, 4], data: sel });
  assert.equal(aelab(['embed', '--model', 'run/model', '--data', 'x4.npy', '--out', 'c4.npy'], dir).code, 0);
  close(readNpy(join(dir, 'c4.npy')).data, want, 1e-4, 'codes of 4-column rows');
  // The text report says what was applied.
  const tx = aelab(['embed', '--model', 'run/model', '--data', 'x.npy', '--out', 'c.npy'], dir);
  assert.match(tx.stdout, /preprocessing: columns 0,2,3,5 picked, standardised with the training scaler of run\/model\/preprocess\.json/);
  // --no-scaler: raw (selected) rows go in; codes differ by orders of magnitude.
  const rn = aelab(['embed', '--model', 'run/model', '--data', 'x.npy', '--out', 'raw.npy', '--no-scaler'], dir);
  assert.equal(rn.code, 0, rn.stderr);
  close(readNpy(join(dir, 'raw.npy')).data, model.encode(fromBuffer(sel.slice(), [n, 4])).f32(), 1e-4, 'codes with --no-scaler');
  // A width that is neither 4 nor 6: the error names the flag, file, both widths and the columns.
  writeNpy(join(dir, 'bad.npy'), { dtype: 'float32', shape: [3, 5], data: new Float32Array(15) });
  const rb = aelab(['embed', '--model', 'run/model', '--data', 'bad.npy'], dir);
  assert.equal(rb.code, 1, rb.stderr);
  assert.match(rb.stderr, /--data bad\.npy: rows have 5 values, but the model in run\/model takes 4 or 6 .*trained on 4 columns \(indices 0, 2, 3, 5/);

  // cluster --method model: the same codes as clustering the embed output, for --data and for a raster.
  const cm = aelab(['cluster', '--data', 'x.npy', '--method', 'model', '--model', 'run/model', '--k', '3', '--json'], dir);
  assert.equal(cm.code, 0, cm.stderr);
  const cc = aelab(['cluster', '--codes', 'c.npy', '--k', '3', '--json'], dir);
  assert.equal(lastJson(cm.stdout).inertia, lastJson(cc.stdout).inertia);
  assert.equal(lastJson(cm.stdout).preprocess.standardized, true);
  writeNpy(join(dir, 'r.npy'), { dtype: 'float32', shape: [9, 10, d], data: x });
  const cr = aelab(['cluster', '--raster', 'r.npy', '--method', 'model', '--model', 'run/model', '--k', '3', '--json'], dir);
  assert.equal(cr.code, 0, cr.stderr);
  assert.equal(lastJson(cr.stdout).inertia, lastJson(cc.stdout).inertia);
  const both = aelab(['cluster', '--raster', 'r.npy', '--method', 'model', '--model', 'run/model', '--k', '3', '--standardize'], dir);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--standardize with --method model would standardise twice.*--no-scaler/);

  // A run folder from before preprocess.json: the run's scaler.json and train-config.json are used.
  rmSync(join(dir, 'run', 'model', 'preprocess.json'));
  const old = aelab(['embed', '--model', 'run/model', '--data', 'x.npy', '--out', 'c-old.npy', '--json'], dir);
  assert.equal(old.code, 0, old.stderr);
  assert.match(lastJson(old.stdout).preprocess.path, /run\/scaler\.json$/);
  close(readNpy(join(dir, 'c-old.npy')).data, want, 1e-4, 'codes via the legacy scaler.json');
});

test('embed reads a CSV-trained model\'s columns by name from a wider CSV', () => {
  const dir = tempDir();
  const n = 60;
  const x = bigRows(n, 3, 7);
  const lines = ['time,a,b,c,junk'];
  for (let i = 0; i < n; i++) lines.push(`${i},${x[i * 3]},${x[i * 3 + 1]},${x[i * 3 + 2]},${i % 7}`);
  writeFileSync(join(dir, 'd.csv'), lines.join('\n') + '\n');
  const t = aelab(['train', 'ae', '--data', 'd.csv', '--columns', 'c,a', '--latent', '2', '--hidden', '4', '--epochs', '1', '--out', 'run', '--quiet'], dir);
  assert.equal(t.code, 0, t.stderr);
  const model = loadModel(join(dir, 'run', 'model')) as AutoEncoder;
  const sel = pick(x, n, 3, [2, 0]);
  const want = model.encode(fromBuffer(zscore(sel, n, 2), [n, 2])).f32().slice();
  const r = aelab(['embed', '--model', 'run/model', '--data', 'd.csv', '--out', 'c.npy'], dir);
  assert.equal(r.code, 0, r.stderr);
  close(readNpy(join(dir, 'c.npy')).data, want, 1e-4, 'codes from CSV columns c,a');
});

test('cluster --ignore-label: raster default ignores 0 and says so; scores equal the metrics of the labelled pixels', () => {
  const dir = tempDir();
  const H = 12, W = 10, B = 4;
  const data = new Float32Array(H * W * B);
  const truth = new Int32Array(H * W);
  const g = new Generator(11);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    const cls = j < 5 ? 1 : 2;
    // The border is unlabelled (0) but its pixels belong to the regions' materials.
    truth[i * W + j] = i === 0 || i === H - 1 || j === 0 || j === W - 1 ? 0 : cls;
    for (let b = 0; b < B; b++) data[(i * W + j) * B + b] = (cls === 1 ? 2 : -2) * (b % 2 ? 1 : -1) + 0.3 * (g.randint(1000) / 1000 - 0.5);
  }
  writeNpy(join(dir, 'r.npy'), { dtype: 'float32', shape: [H, W, B], data });
  writeNpy(join(dir, 't.npy'), { dtype: 'int32', shape: [H, W], data: truth });
  const r = aelab(['cluster', '--raster', 'r.npy', '--labels', 't.npy', '--k', '2', '--out', 'l.npy', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const rep = lastJson(r.stdout);
  const pred = readNpy(join(dir, 'l.npy')).data;
  const mask = Array.from(truth, (v) => v !== 0);
  const yt = Array.from(truth).filter((_, i) => mask[i]);
  const yp = Array.from(pred).filter((_, i) => mask[i]);
  assert.equal(rep.ignoreLabel, 0);
  assert.equal(rep.labelled, yt.length);
  assert.equal(rep.ari, adjustedRandIndex(yt, yp));
  assert.equal(rep.nmi, normalizedMutualInfo(yt, yp));
  assert.equal(rep.ari, 1);
  assert.equal(rep.accuracy, 1);
  // Counting 0 as a class lowers the score: the figure the issue reported.
  const rn = aelab(['cluster', '--raster', 'r.npy', '--labels', 't.npy', '--k', '2', '--ignore-label', 'none', '--json'], dir);
  assert.equal(lastJson(rn.stdout).ari, adjustedRandIndex(truth, pred));
  assert.ok(lastJson(rn.stdout).ari < 0.9);
  const tx = aelab(['cluster', '--raster', 'r.npy', '--labels', 't.npy', '--k', '2'], dir);
  assert.match(tx.stdout, /labels: 80 of 120 pixels scored; 40 with label 0 left out \(label 0 means "no label": the default for a raster/);
  assert.match(tx.stdout, /ARI\s+1\.0000\s+adjusted Rand index vs labels \(labelled pixels only\)/);
  assert.match(tx.stdout, /accuracy\s+1\.0000/);
  // Tabular rows: 0 is a class by default; an explicit --ignore-label works there too.
  const { x, y } = blobs(20, 4);
  writeNpy(join(dir, 'x.npy'), { dtype: 'float32', shape: [60, 4], data: x });
  writeNpy(join(dir, 'y.npy'), { dtype: 'int32', shape: [60], data: y });
  const tab = lastJson(aelab(['cluster', '--data', 'x.npy', '--labels', 'y.npy', '--k', '3', '--json'], dir).stdout);
  assert.equal(tab.ignoreLabel, null);
  assert.equal(tab.labelled, 60);
  assert.equal(lastJson(aelab(['cluster', '--data', 'x.npy', '--labels', 'y.npy', '--k', '3', '--ignore-label', '2', '--json'], dir).stdout).labelled, 40);
  const bad = aelab(['cluster', '--data', 'x.npy', '--labels', 'y.npy', '--ignore-label', 'zero'], dir);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--ignore-label must be an integer label or 'none', got 'zero'/);
});

test('cluster --shape H,W draws codes as a map beside the ground truth; the size table flags a singleton', () => {
  const dir = tempDir();
  const H = 6, W = 10, n = H * W;
  const x = new Float32Array(n * 2);
  const truth = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    const cls = p % W < 5 ? 1 : 2;
    truth[p] = cls;
    x[p * 2] = cls === 1 ? -3 : 3;
    x[p * 2 + 1] = 0.01 * (p % 7);
  }
  x[17 * 2 + 1] = 500; // one extreme pixel
  writeNpy(join(dir, 'codes.npy'), { dtype: 'float32', shape: [n, 2], data: x });
  writeNpy(join(dir, 'gt.npy'), { dtype: 'int32', shape: [H, W], data: truth });
  const r = aelab(['cluster', '--codes', 'codes.npy', '--shape', `${H},${W}`, '--labels', 'gt.npy', '--k', '3', '--map', 'm.png', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const rep = lastJson(r.stdout);
  const tiny = rep.clusters.filter((c: { tiny: boolean }) => c.tiny);
  assert.equal(tiny.length, 1);
  assert.equal(tiny[0].size, 1);
  assert.equal(rep.tinyThreshold, 2);
  // Two big clusters matched to classes 1 and 2, the singleton unmatched.
  const matched = rep.clusters.filter((c: { matchedClass: number | null }) => c.matchedClass !== null).map((c: { matchedClass: number }) => c.matchedClass).sort();
  assert.deepEqual(matched, [1, 2]);
  assert.equal(tiny[0].matchedClass, null);
  const png = decodePng(new Uint8Array(readFileSync(join(dir, 'm.png'))));
  const want = renderMatchedMaps({ clusters: new Int32Array(n), H, W, k: 3, truth, classes: [1, 2], classOf: [1, 2, null], ignore: null });
  assert.equal(png.width, want.image.width);
  assert.equal(png.height, want.image.height);
  // Pixel (0, 0) is class 1 in both maps and drawn in the same (matched) colour.
  const at = (xx: number, yy: number) => Array.from(png.data.subarray((yy * png.width + xx) * png.channels, (yy * png.width + xx) * png.channels + 3));
  assert.deepEqual(at(0, 0), at(want.truthX, 0));
  assert.notDeepEqual(at(0, 0), at(want.truthX + (W - 1) * want.scale, 0));
  const tx = aelab(['cluster', '--codes', 'codes.npy', '--shape', `${H},${W}`, '--labels', 'gt.npy', '--k', '3'], dir);
  assert.match(tx.stdout, /cluster sizes \(tiny: fewer than 2 pixels/);
  assert.match(tx.stdout, /warning: 1 tiny cluster \(\d: 1\)/);
  assert.match(tx.stdout, /TINY/);
  const e = aelab(['cluster', '--codes', 'codes.npy', '--shape', '7,10', '--k', '3'], dir);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /--shape 7,10: 7×10 = 70 pixels, but codes\.npy has 60 rows/);
});

test('cluster --coords ROW,COL maps rows by their pixel positions in the data; positions are not features', () => {
  const dir = tempDir();
  const H = 5, W = 6;
  const g = new Generator(2);
  const order = Array.from(g.permutation(H * W)).filter((p) => p !== 7); // shuffled, pixel 7 missing
  const lines = ['row,col,b1,b2,b3'];
  const plain = ['b1,b2,b3'];
  const y: number[] = [];
  for (const p of order) {
    const cls = p % W < 3 ? 1 : 2;
    const v = [cls * 10 + (p % 5) * 0.1, -cls * 5, cls];
    lines.push(`${Math.floor(p / W)},${p % W},${v.join(',')}`);
    plain.push(v.join(','));
    y.push(cls);
  }
  writeFileSync(join(dir, 'px.csv'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'plain.csv'), plain.join('\n') + '\n');
  writeNpy(join(dir, 'y.npy'), { dtype: 'int32', shape: [y.length], data: Int32Array.from(y) });
  const r = aelab(['cluster', '--data', 'px.csv', '--coords', 'row,col', '--labels', 'y.npy', '--k', '2', '--map', 'm.png', '--out', 'l.npy', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const rep = lastJson(r.stdout);
  assert.equal(rep.inputDim, 3, 'row and col are not features');
  assert.equal(rep.ari, 1);
  assert.equal(rep.map.validPixels, H * W - 1);
  // Same features without positions: the same clustering.
  const q = lastJson(aelab(['cluster', '--data', 'plain.csv', '--standardize', '--k', '2', '--json'], dir).stdout);
  assert.equal(q.inertia, rep.inertia);
  const png = decodePng(new Uint8Array(readFileSync(join(dir, 'm.png'))));
  const want = renderMatchedMaps({ clusters: new Int32Array(H * W), H, W, k: 2, truth: new Int32Array(H * W), classes: [1, 2], classOf: [1, 2], ignore: null });
  assert.equal(png.width, want.image.width);
  // Pixel 7 (row 1, col 1) has no row: black in the cluster map.
  const s = want.scale;
  const o = ((1 * s) * png.width + 1 * s) * png.channels;
  assert.deepEqual(Array.from(png.data.subarray(o, o + 3)), [0, 0, 0]);
  const dup = lines.slice(0, 3).concat([lines[1]!]);
  writeFileSync(join(dir, 'dup.csv'), dup.join('\n') + '\n');
  const e = aelab(['cluster', '--data', 'dup.csv', '--coords', 'row,col', '--k', '2'], dir);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /--coords: rows 0 and 2 of dup\.csv are both at pixel/);
  const e2 = aelab(['cluster', '--data', 'px.csv', '--coords', 'y,x', '--k', '2'], dir);
  assert.match(e2.stderr, /--coords: px\.csv has no column "y"/);
});

test('a Fortran-order raster (MATLAB data via np.save) clusters exactly like its C-order copy', () => {
  const dir = tempDir();
  // test/fixtures/io/fortran_raster.npy: np.asfortranarray(np.arange(120).reshape(4, 5, 6)) (gen_fortran_fixtures.py).
  const fortran = join(packageRoot(), 'test', 'fixtures', 'io', 'fortran_raster.npy');
  writeNpy(join(dir, 'c.npy'), { dtype: 'float32', shape: [4, 5, 6], data: Float32Array.from({ length: 120 }, (_, i) => i) });
  const a = aelab(['cluster', '--raster', fortran, '--k', '3', '--out', 'a.npy', '--json'], dir);
  const b = aelab(['cluster', '--raster', 'c.npy', '--k', '3', '--out', 'b.npy', '--json'], dir);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(lastJson(a.stdout).inertia, lastJson(b.stdout).inertia);
  assert.deepEqual(readNpy(join(dir, 'a.npy')).data, readNpy(join(dir, 'b.npy')).data);
  // Rows of pixels in order: the clusters are contiguous runs (values grow with the pixel index).
  const l = Array.from(readNpy(join(dir, 'a.npy')).data);
  assert.equal(l.filter((v, i) => i > 0 && v !== l[i - 1]).length, 2);
});
