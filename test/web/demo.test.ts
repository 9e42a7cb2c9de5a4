/**
 * The browser bundle and the /demo page in headless Chromium: the bundle (built here by
 * scripts/build-web.mjs) runs the core on the pure-TypeScript backend with the WebAssembly SIMD GEMM,
 * the page loads SAEs served by `aelab serve` and its encodings equal Node's (runSae on Node's
 * backend, and interop's float64 encodeSae) to 1e-5. Screenshots go to the artefact folder.
 * Skips, saying why, where /usr/bin/chromium is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { Generator } from '../../src/core/random.js';
import { loadSaeFolder, runSae, saveSaeFolder } from '../../src/sae/convert.js';
import { encodeSae, type SaeWeights } from '../../src/sae/interop.js';
import { serve, type RunningServer } from '../../src/serve/server.js';
import { encodeRows } from '../../src/web/sae.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { fromBuffer, noGrad } from '../../src/core/index.js';
import { saeFromSafetensors, saeToSafetensors } from '../../src/web/weights.js';
import { artefact, fixture, launch, randomSae, skipReason } from './browser.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const skip = skipReason();
const D = 48, H = 384, N = 40;
const SAES: Record<string, SaeWeights> = {
  'exp1/sae': randomSae(D, H, 'topk', 12, 11),
  relu: randomSae(D, H, 'relu', undefined, 12),
  jumprelu: randomSae(D, H, 'jumprelu', undefined, 13),
};
const X = new Generator(5).normal(new Float32Array(N * D));
let browser: Browser | undefined;
let srv: RunningServer | undefined;
let page: Page;
let fx: ReturnType<typeof fixture>;

function dense(r: ReturnType<typeof runSae>, H: number): Float32Array {
  if (r.codes instanceof Float32Array) return r.codes;
  const { k, indices, values } = r.codes, out = new Float32Array(indices.length / k * H);
  for (let t = 0; t < indices.length / k; t++) for (let j = 0; j < k; j++) out[t * H + indices[t * k + j]!] = values[t * k + j]!;
  return out;
}
const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol = 1e-5) => {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  assert.ok(worst <= tol, `${what}: largest relative difference ${worst} > ${tol}`);
};

before(async () => {
  // The bundle is built here (esbuild, well under a second), so `npm test` needs no extra step.
  const b = spawnSync(process.execPath, [join(repo, 'scripts', 'build-web.mjs')], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
  assert.equal(b.status, 0, `npm run build:web failed: ${b.stderr}`);
  if (skip) return;
  fx = fixture(SAES['exp1/sae']!);
  saveSaeFolder(join(fx.root, 'relu'), SAES.relu!, 'aelab');
  saveSaeFolder(join(fx.root, 'jumprelu'), SAES.jumprelu!, 'saelens');
  saveModel(join(fx.root, 'digit-ae'), new AutoEncoder({ arch: 'mlp', inputDim: 784, hidden: [128], latentDim: 16, loss: 'bce', seed: 4 }));
  srv = await serve({ roots: [fx.root], host: '127.0.0.1', port: 0 });
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.setDefaultTimeout(20_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The dashboard links to the demo when it serves an SAE.
  await page.goto(`${srv.url}/`);
  await page.click('#demo-link');
  await page.waitForURL(/\/demo$/);
  assert.deepEqual(errors, []);
});

after(async () => {
  await browser?.close();
  await srv?.close();
  if (fx) rmSync(fx.root, { recursive: true, force: true });
});

test('the bundle is browser-safe: no node: imports, no process.env', () => {
  const js = readFileSync(join(repo, 'dist', 'web', 'aelab.js'), 'utf8');
  assert.doesNotMatch(js, /from\s*["']node:|require\(["']node:|process\.env/);
  assert.ok(existsSync(join(repo, 'dist', 'web', 'aelab.js.map')));
});

test('weights travel as safetensors bytes and read back exactly (no browser needed)', () => {
  const w = SAES['exp1/sae']!;
  const back = saeFromSafetensors(saeToSafetensors(w));
  assert.equal(back.arch, 'topk');
  assert.equal(back.k, 12);
  assert.deepEqual([back.dIn, back.dSae, back.applyBDecToInput], [D, H, true]);
  assert.deepEqual(back.W_enc, w.W_enc);
  assert.deepEqual(back.b_dec, w.b_dec);
  assert.throws(() => saeFromSafetensors(new Uint8Array(4)), /fewer than 8 bytes/);
});

test('in Chromium the core runs on the pure-TS backend with the wasm SIMD GEMM, and the demo encodes like Node', { skip: skip ?? false, timeout: 120_000 }, async () => {
  for (const [name, w] of Object.entries(SAES)) {
    const info = await page.evaluate(`aelabDemo.load(${JSON.stringify(name)})`) as Record<string, unknown>;
    assert.deepEqual(info, { name, arch: w.arch, dIn: D, dSae: H, k: w.k ?? null, backend: 'js', gemm: 'wasm-simd' });
    const rows = Array.from({ length: N }, (_, i) => Array.from(X.subarray(i * D, (i + 1) * D)));
    const r = await page.evaluate(`aelabDemo.encode(${JSON.stringify(rows)})`) as { rows: number; codes: number[] };
    assert.equal(r.rows, N);
    const served = loadSaeFolder(name === 'exp1/sae' ? join(fx.root, 'exp1', 'sae') : join(fx.root, name));
    close(r.codes, dense(runSae(served, X), H), `${name}: browser vs Node runSae`);
    close(r.codes, encodeRows(served, X), `${name}: browser vs Node encodeRows`);
    close(r.codes, encodeSae(served, X), `${name}: browser vs float64 encodeSae`);
    if (w.arch === 'topk') assert.ok(rows.every((_, t) => r.codes.slice(t * H, (t + 1) * H).filter((v) => v !== 0).length <= 12));
  }
});

test('the demo page works by hand: load, encode random rows, show the strongest latents', { skip: skip ?? false, timeout: 60_000 }, async () => {
  await page.selectOption('#sae', 'exp1/sae');
  await page.click('#load');
  await page.waitForFunction(`/d_sae 384/.test(document.getElementById('info').textContent)`);
  await page.fill('#nrand', '200');
  await page.click('#encode');
  await page.waitForFunction(`document.querySelectorAll('#out tr').length === 33`);
  assert.match((await page.textContent('#timing')) ?? '', /^200 rows in [\d.]+ ms \(\d+ rows\/s\)/);
  assert.match((await page.textContent('#info')) ?? '', /backend js \(wasm-simd\)/);
  await page.screenshot({ path: artefact('demo-encode.png'), fullPage: true });
});

test('the weights route and the bundle route answer clearly on bad requests', { skip: skip ?? false }, async () => {
  const get = (p: string) => fetch(`${srv!.url}${p}`, { signal: AbortSignal.timeout(10_000) });
  const miss = await get('/api/models/nope/weights');
  assert.equal(miss.status, 404);
  assert.match(await miss.text(), /no SAE or model named 'nope'/);
  // Names are looked up in the registry, never used as paths: traversal gets a 4xx, not a file.
  for (const p of ['/api/models/%2e%2e/exp1/sae/weights', '/api/models/a%2F..%2F..%2Fexp1%2Fsae/weights']) {
    const r = await get(p);
    assert.ok(r.status >= 400 && r.status < 500, `${p}: ${r.status}`);
  }
  const js = await get('/static/aelab.js');
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /javascript/);
  assert.equal((await get('/static/aelab.js.map')).status, 200);
});

test('a digit drawn on the page is reconstructed by a served MLP autoencoder, as in Node', { skip: skip ?? false, timeout: 60_000 }, async () => {
  await page.selectOption('#ae', 'digit-ae');
  await page.click('#aeload');
  await page.waitForFunction(`/mlp AE, code 16/.test(document.getElementById('aeinfo').textContent)`);
  // Draw a "7": a stroke across the top, then down to the bottom left.
  const box = (await page.locator('#pad').boundingBox())!;
  const at = (x: number, y: number) => page.mouse.move(box.x + x * box.width, box.y + y * box.height, { steps: 8 });
  await at(0.25, 0.25);
  await page.mouse.down();
  await at(0.75, 0.25);
  await at(0.4, 0.8);
  await page.mouse.up();
  await page.waitForFunction(`/reconstructed in/.test(document.getElementById('aetiming').textContent)`);
  const x = Float32Array.from(await page.evaluate(`aelabDemo.padInput()`) as number[]);
  const ink = x.reduce((a, v) => a + v, 0);
  assert.ok(ink > 20 && ink < 400, `the drawn digit covers a plausible area (${ink} of 784)`);
  const browserY = (await page.evaluate(`aelabDemo.reconstruct(aelabDemo.padInput())`) as { y: number[] }).y;
  const nodeY = noGrad(() => (loadModel(join(fx.root, 'digit-ae')) as AutoEncoder).reconstruct(fromBuffer(x, [1, 784])).f32().slice());
  close(browserY, nodeY, 'digit reconstruction: browser vs Node');
  const lit = await page.evaluate(`(() => { const d = document.getElementById('recon').getContext('2d').getImageData(0, 0, 280, 280).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()`) as number;
  assert.ok(lit > 1000, `the reconstruction is drawn (${lit} lit pixels)`);
  await page.screenshot({ path: artefact('demo-digit.png'), fullPage: true });
});

test('behind a bearer token the demo page passes ?token= on to the bundle and the weights', { skip: skip ?? false, timeout: 60_000 }, async () => {
  const secured = await serve({ roots: [fx.root], host: '127.0.0.1', port: 0, token: 'w3b-t0ken' });
  try {
    const p = await browser!.newPage();
    assert.equal((await p.goto(`${secured.url}/demo`))?.status(), 401);
    await p.goto(`${secured.url}/demo?token=w3b-t0ken`);
    const info = await p.evaluate(`aelabDemo.load('relu')`) as { dSae: number; backend: string };
    assert.deepEqual([info.dSae, info.backend], [H, 'js']);
    await p.close();
  } finally {
    await secured.close();
  }
});
