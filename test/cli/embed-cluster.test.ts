import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, writeNpy } from '../../src/core/io/index.js';
import { fromBuffer } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { decodePng } from '../../src/data/png.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { VAE } from '../../src/models/vae.js';
import { saveModel } from '../../src/models/io.js';
import { renderClusterMap } from '../../src/tasks/cluster-map.js';
import { adjustedRandIndex, normalizedMutualInfo } from '../../src/tasks/metrics.js';
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
  const r = aelab(['cluster', '--raster', 'r.npy', '--labels', 't.npy', '--k', '2', '--map', 'map.png'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote map\.png: \d+×\d+ PNG cluster map \(139 of 140 pixels with data/);
  const png = decodePng(new Uint8Array(readFileSync(join(dir, 'map.png'))));
  const labels = new Int32Array(H * W).fill(0);
  const { image, layout } = renderClusterMap(labels, H, W, 2);
  assert.equal(png.width, image.width);
  assert.equal(png.height, image.height);
  assert.equal(layout.mapWidth, W * layout.scale);
  // Top-left pixel is the no-data pixel: black.
  assert.deepEqual(Array.from(png.data.subarray(0, 3)), [0, 0, 0]);
  assert.match(r.stdout, /ARI\s+1\.0000/);
});
