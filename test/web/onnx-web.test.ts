/**
 * ONNX export in onnxruntime-web inside headless Chromium: graphs written by src/serve/onnx.ts
 * (SAEs TopK/ReLU, TopK with sparse codes, an MLP autoencoder, a VAE) are loaded in a page with
 * onnxruntime-web's single-threaded WebAssembly backend and run on fixed inputs at batch sizes 1
 * and 7; every output matches aelab in Node (runSae, and the Servables `aelab serve` answers with)
 * within 1e-5, measured as max |ort-web − aelab| / max |aelab| per output, as test/serve/onnx.test.ts
 * does for onnxruntime-node.
 *
 * The page, the .onnx files and onnxruntime-web's dist files (ort.wasm.min.js and the
 * ort-wasm-simd-threaded .mjs/.wasm it loads) come from a tiny allow-listed node:http server on
 * 127.0.0.1 that answers a bounded number of requests and is closed after. numThreads = 1, so no
 * cross-origin isolation is needed. Skips, saying why, where Chromium is missing; fails loudly when
 * onnxruntime-web's files are missing (it is a devDependency).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { Generator } from '../../src/core/random.js';
import { runSae } from '../../src/sae/convert.js';
import type { SaeWeights } from '../../src/sae/interop.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { VAE } from '../../src/models/vae.js';
import type { AnyModel } from '../../src/models/io.js';
import { modelServable, saeServable, type Servable } from '../../src/serve/inference.js';
import { modelToOnnx, saeToOnnx, type OnnxExport } from '../../src/serve/onnx.js';
import { launch, skipReason } from './browser.js';

const TOL = 1e-5;
const skip = skipReason();

// ---- onnxruntime-web's files (a devDependency: missing files are an error, not a skip) ----------

const ORT_FILES = ['ort.wasm.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];
function ortDist(): string {
  // The package's "exports" hide package.json, so look for its folder along Node's module paths.
  const dirs = createRequire(import.meta.url).resolve.paths('onnxruntime-web') ?? [];
  const pkg = dirs.map((d) => join(d, 'onnxruntime-web', 'package.json')).find((f) => existsSync(f));
  if (!pkg) throw new Error(`onnxruntime-web is not installed (it is a devDependency: run npm install); looked in ${dirs.join(', ')}`);
  const dist = join(dirname(pkg), 'dist');
  const missing = ORT_FILES.filter((f) => !existsSync(join(dist, f)));
  if (missing.length) throw new Error(`onnxruntime-web's dist folder ${dist} lacks ${missing.join(', ')} (reinstall onnxruntime-web)`);
  return dist;
}
const ORT_VERSION = (): string => JSON.parse(readFileSync(join(ortDist(), '..', 'package.json'), 'utf8')).version as string;

// ---- the models and what aelab computes ---------------------------------------------------------

function randn(seed: number, n: number, std = 1): Float32Array {
  return new Generator(seed).normal(new Float32Array(n), 0, std);
}

/** An SAE with explicit seeded random weights (as in test/serve/onnx.test.ts). */
function saeWeights(arch: SaeWeights['arch'], dIn: number, dSae: number, seed: number, extra: Partial<SaeWeights> = {}): SaeWeights {
  return {
    arch, dIn, dSae,
    W_enc: randn(seed, dSae * dIn, 1 / Math.sqrt(dIn)),
    b_enc: randn(seed + 1, dSae, 0.1),
    W_dec: randn(seed + 2, dSae * dIn, 1 / Math.sqrt(dSae)),
    b_dec: randn(seed + 3, dIn, 0.1),
    applyBDecToInput: true,
    meta: {},
    ...extra,
  };
}

interface Case {
  label: string;
  servable: Servable;
  /** The graphs this case runs in the page, by name. */
  graphs: Record<string, OnnxExport>;
  /** Extra reference for SAEs: runSae itself. */
  sae?: SaeWeights;
}

const TOPK = saeWeights('topk', 32, 128, 20, { k: 8 });
const RELU = saeWeights('relu', 32, 96, 10);
const MLP = new AutoEncoder({ arch: 'mlp', inputDim: 20, hidden: [16, 12], latentDim: 5, seed: 1 }).eval() as AnyModel;
const VAEM = new VAE({ inputDim: 14, hidden: [10, 8], latentDim: 3, decoder: 'gaussian', seed: 9 }).eval() as AnyModel;

const CASES: Case[] = [
  { label: 'sae topk', servable: saeServable(TOPK), sae: TOPK, graphs: { all: saeToOnnx(TOPK, 'all'), decode: saeToOnnx(TOPK, 'decode'), sparse: saeToOnnx(TOPK, 'all', { sparse: true }) } },
  { label: 'sae relu', servable: saeServable(RELU), sae: RELU, graphs: { all: saeToOnnx(RELU, 'all'), decode: saeToOnnx(RELU, 'decode') } },
  { label: 'mlp ae', servable: modelServable(MLP), graphs: { all: modelToOnnx(MLP, 'all'), decode: modelToOnnx(MLP, 'decode') } },
  { label: 'vae', servable: modelServable(VAEM), graphs: { all: modelToOnnx(VAEM, 'all'), decode: modelToOnnx(VAEM, 'decode') } },
];

/** Worst relative deviations per case and output, printed at the end (docs/SERVE.md quotes them). */
const worst: Record<string, number> = {};
after(() => {
  if (skip || Object.keys(worst).length === 0) return;
  const rows = Object.entries(worst).map(([k, v]) => `${k}: ${v.toExponential(2)}`);
  process.stdout.write(`# onnxruntime-web parity in Chromium (max |ort-web − aelab| / max |aelab|):\n# ${rows.join('\n# ')}\n`);
});

function expectClose(label: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  assert.equal(got.length, want.length, `${label}: output lengths differ`);
  let diff = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    assert.ok(Number.isFinite(got[i]!), `${label}: onnxruntime-web output ${i} is ${got[i]}`);
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  const e = diff / Math.max(scale, 1e-30);
  worst[label] = Math.max(worst[label] ?? 0, e);
  assert.ok(e <= TOL, `${label}: relative error ${e} > ${TOL}`);
}

function denseCodes(r: ReturnType<typeof runSae>, H: number): Float32Array {
  if (r.codes instanceof Float32Array) return r.codes;
  const { k, indices, values } = r.codes, out = new Float32Array((indices.length / k) * H);
  for (let t = 0; t < indices.length / k; t++) for (let j = 0; j < k; j++) out[t * H + indices[t * k + j]!] = values[t * k + j]!;
  return out;
}

// ---- the test server: an allow-list, bounded, loopback only ------------------------------------

const PAGE = `<!doctype html><meta charset="utf-8"><title>aelab onnxruntime-web check</title>
<script src="/ort/ort.wasm.min.js"></script>
<script>
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = location.origin + '/ort/';
const sessions = new Map();
async function session(name) {
  if (!sessions.has(name)) {
    const res = await fetch('/models/' + name + '.onnx');
    if (!res.ok) throw new Error('GET /models/' + name + '.onnx: ' + res.status);
    const bytes = new Uint8Array(await res.arrayBuffer());
    sessions.set(name, await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] }));
  }
  return sessions.get(name);
}
window.ortCheck = {
  info: () => ({ version: ort.env.versions && ort.env.versions.web, numThreads: ort.env.wasm.numThreads, isolated: self.crossOriginIsolated }),
  run: async (name, feeds) => {
    const s = await session(name);
    const f = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor('float32', Float32Array.from(v.data), v.dims);
    const out = await s.run(f);
    const r = {};
    for (const [k, t] of Object.entries(out)) r[k] = { type: t.type, dims: Array.from(t.dims, Number), data: Array.from(t.data, Number) };
    return { inputNames: s.inputNames, outputNames: s.outputNames, outputs: r };
  },
};
</script>`;

const MAX_REQUESTS = 200;
interface TestServer { url: string; requests: string[]; refused: string[]; close(): Promise<void> }

async function startServer(models: Record<string, Uint8Array>): Promise<TestServer> {
  const dist = ortDist();
  const routes = new Map<string, { type: string; body: () => Buffer | Uint8Array }>();
  routes.set('/', { type: 'text/html; charset=utf-8', body: () => Buffer.from(PAGE) });
  for (const f of ORT_FILES) routes.set(`/ort/${f}`, { type: f.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', body: () => readFileSync(join(dist, f)) });
  for (const [name, bytes] of Object.entries(models)) routes.set(`/models/${name}.onnx`, { type: 'application/octet-stream', body: () => bytes });
  const requests: string[] = [], refused: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    requests.push(path);
    if (path === '/favicon.ico') { res.writeHead(204).end(); return; }
    const route = req.method === 'GET' ? routes.get(path) : undefined;
    if (requests.length > MAX_REQUESTS || !route) {
      refused.push(`${req.method} ${path}`);
      res.writeHead(requests.length > MAX_REQUESTS ? 429 : 404, { 'content-type': 'text/plain' }).end('no');
      return;
    }
    const body = route.body();
    res.writeHead(200, { 'content-type': route.type, 'content-length': body.length, 'cache-control': 'no-store' }).end(body);
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((ok, fail) => { server.once('error', fail); server.listen(0, '127.0.0.1', () => ok()); });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, requests, refused,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

// ---- the browser ---------------------------------------------------------------------------------

let browser: Browser | undefined;
let srv: TestServer | undefined;
let page: Page;
const pageErrors: string[] = [];

interface PageOut { type: string; dims: number[]; data: number[] }
interface PageRun { inputNames: string[]; outputNames: string[]; outputs: Record<string, PageOut> }

async function runInPage(name: string, input: string, x: Float32Array, dims: number[]): Promise<PageRun> {
  const feeds = { [input]: { data: Array.from(x), dims } };
  return await page.evaluate(`ortCheck.run(${JSON.stringify(name)}, ${JSON.stringify(feeds)})`) as PageRun;
}

before(async () => {
  ortDist(); // fails loudly, even where Chromium is missing, when onnxruntime-web is absent
  if (skip) return;
  const models: Record<string, Uint8Array> = {};
  CASES.forEach((c, i) => { for (const [part, e] of Object.entries(c.graphs)) models[`m${i}-${part}`] = e.bytes; });
  srv = await startServer(models);
  browser = await launch();
  page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  await page.goto(`${srv.url}/`);
  await page.waitForFunction('typeof ortCheck === "object"');
});

after(async () => {
  await browser?.close();
  await srv?.close();
});

test('onnxruntime-web is the pinned devDependency and runs single-threaded without isolation', { skip: skip ?? false }, async () => {
  const info = await page.evaluate('ortCheck.info()') as { version: string; numThreads: number; isolated: boolean };
  assert.equal(info.version, ORT_VERSION());
  assert.equal(info.numThreads, 1);
  assert.equal(info.isolated, false);
});

CASES.forEach((c, i) => {
  test(`onnxruntime-web in Chromium: ${c.label} matches aelab to ${TOL}`, { skip: skip ?? false }, async () => {
    const s = c.servable;
    const row = s.inputShape.reduce((p, d) => p * d, 1);
    for (const B of [1, 7]) {
      const x = randn(100 + 10 * i + B, B * row, 3);
      const shape = [B, ...s.inputShape];
      // 'all': codes (or mu, logvar), x_hat and score in one graph.
      const all = await runInPage(`m${i}-all`, 'x', x, shape);
      assert.deepEqual(all.inputNames, ['x']);
      assert.deepEqual(all.outputNames, c.graphs.all!.outputs.map((o) => o.name));
      const enc = s.ops.encode!(x, B);
      const first = all.outputs.codes ?? all.outputs.mu!;
      assert.deepEqual(first.dims, enc.shape, `${c.label} encode shape`);
      expectClose(`${c.label} encode`, first.data, enc.data);
      if (enc.extra?.logvar) expectClose(`${c.label} encode logvar`, all.outputs.logvar!.data, enc.extra.logvar.data);
      const rec = s.ops.reconstruct!(x, B);
      assert.deepEqual(all.outputs.x_hat!.dims, rec.shape, `${c.label} reconstruct shape`);
      expectClose(`${c.label} reconstruct`, all.outputs.x_hat!.data, rec.data);
      expectClose(`${c.label} score`, all.outputs.score!.data, s.ops.score!(x, B).data);
      if (c.sae) {
        // runSae directly: same codes (so the same support and L0) and reconstruction.
        const r = runSae(c.sae, x);
        expectClose(`${c.label} encode`, all.outputs.codes!.data, denseCodes(r, c.sae.dSae));
        expectClose(`${c.label} reconstruct`, all.outputs.x_hat!.data, r.xhat);
        const l0 = all.outputs.codes!.data.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) / B;
        assert.ok(Math.abs(l0 - r.l0) < 1e-9, `${c.label}: L0 ${l0} in the browser vs runSae ${r.l0}`);
      }
      // 'decode' from the codes aelab computed.
      const dec = await runInPage(`m${i}-decode`, 'codes', enc.data, [B, s.codeDim!]);
      expectClose(`${c.label} decode`, dec.outputs.x_hat!.data, s.ops.decode!(enc.data, B).data);
      // TopK with sparse codes: values [B, k] and int64 indices [B, k] equal runSae's.
      if (c.graphs.sparse) {
        const sp = await runInPage(`m${i}-sparse`, 'x', x, shape);
        const ref = runSae(c.sae!, x).codes as { k: number; indices: Int32Array; values: Float32Array };
        assert.deepEqual(sp.outputs.values!.dims, [B, ref.k]);
        assert.equal(sp.outputs.indices!.type, 'int64');
        assert.deepEqual(sp.outputs.indices!.data, Array.from(ref.indices), `${c.label}: sparse indices`);
        expectClose(`${c.label} sparse values`, sp.outputs.values!.data, ref.values);
        expectClose(`${c.label} sparse reconstruct`, sp.outputs.x_hat!.data, runSae(c.sae!, x).xhat);
      }
    }
    assert.deepEqual(pageErrors, [], 'errors in the page');
  });
});

test('the test server served only allow-listed files', { skip: skip ?? false }, () => {
  assert.deepEqual(srv!.refused, [], `refused requests: ${srv!.refused.join(', ')}`);
  assert.ok(srv!.requests.includes('/ort/ort-wasm-simd-threaded.wasm'), `the wasm binary was fetched (requests: ${srv!.requests.join(', ')})`);
});
