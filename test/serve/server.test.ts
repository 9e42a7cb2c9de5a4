/**
 * `aelab serve` on 127.0.0.1 with real folders: inference parity with the library for an SAE, an
 * MLP autoencoder, a VAE and a detector (JSON and float32 bodies), live metrics over server-sent
 * events, path traversal attempts, the bearer token, and malformed or oversized requests.
 * Every request goes to 127.0.0.1 with a timeout; the test makes a bounded number of them.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Generator } from '../../src/core/random.js';
import { createSae } from '../../src/sae/index.js';
import { runSae, saeToWeights, saveSaeFolder } from '../../src/sae/convert.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { VAE } from '../../src/models/vae.js';
import { saveModel } from '../../src/models/io.js';
import { PCADetector } from '../../src/tasks/anomaly.js';
import { noGrad, tensor } from '../../src/core/index.js';
import { serve, type RunningServer } from '../../src/serve/server.js';
import { writePreprocessing } from '../../src/tasks/preprocess.js';
import { safeSegments } from '../../src/serve/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-serve-'));
const root = join(tmp, 'runs');
let srv: RunningServer;
let secured: RunningServer;
const D = 6, H = 24, B = 5;
const gen = new Generator(7);
const X = gen.normal(new Float32Array(B * D));
const sae = createSae({ architecture: 'topk', dIn: D, dSae: H, k: 3 }, new Generator(1));
sae.initFromData(X);
const MU = [1, -2, 0.5, 3, 0, -1], SD = [2, 0.5, 1, 4, 1.5, 3];
const ae = new AutoEncoder({ arch: 'mlp', inputDim: D, hidden: [8], latentDim: 3, seed: 2 } as never);
const vae = new VAE({ inputDim: D, hidden: [8], latentDim: 2, decoder: 'gaussian' } as never);

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** One request to the server with a raw (unnormalised) path and a 10 s limit. */
function http(base: string, path: string, o: { method?: string; body?: string | Uint8Array; headers?: Record<string, string> } = {}): Promise<Reply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: u.port, path, method: o.method ?? 'GET', headers: o.headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks as unknown as Uint8Array[]) }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${path}`)));
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}
const post = (path: string, v: unknown, base = srv.url) => http(base, path, { method: 'POST', body: JSON.stringify(v), headers: { 'content-type': 'application/json' } });
const rows = (x: Float32Array, d: number) => Array.from({ length: x.length / d }, (_, i) => Array.from(x.subarray(i * d, (i + 1) * d)));
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `element ${i}: ${a[i]} vs ${b[i]}`);
};

before(async () => {
  mkdirSync(join(root, 'sae-run'), { recursive: true });
  saveSaeFolder(join(root, 'sae-run', 'sae'), saeToWeights(sae), 'aelab');
  writeFileSync(join(root, 'sae-run', 'config.json'), JSON.stringify({ architecture: 'topk', tokens: 100 }));
  writeFileSync(join(root, 'sae-run', 'metrics.jsonl'), [1, 2].map((s) => JSON.stringify({ split: 'train', step: s, loss: 1 / s, l0: 3 })).join('\n') + '\n');
  writeFileSync(join(root, 'sae-run', 'report.md'), '# report\n');
  saveModel(join(root, 'ae'), ae);
  saveModel(join(root, 'vae'), vae);
  // A model trained on standardised columns: its folder says how (as \`aelab train\` writes it).
  saveModel(join(root, 'scaled'), ae);
  writePreprocessing(join(root, 'scaled'), { format: 'aelab-preprocess', version: 1, input: 'npy', trainedOn: 'x.npy', columns: ['0', '1', '2', '3', '4', '5'], selection: null, sourceWidth: 6, scaler: { mean: MU, std: SD, constant: [] } });
  const det = new PCADetector({ contamination: 0.2 }).fit(X, B, D);
  det.save(join(root, 'det'));
  writeFileSync(join(tmp, 'secret.txt'), 'secret');
  symlinkSync(join(tmp, 'secret.txt'), join(root, 'sae-run', 'leak.txt'));
  srv = await serve({ roots: [root], port: 0, maxBodyBytes: 64 * 1024, maxRows: 100, pollMs: 50 });
  secured = await serve({ roots: [root], port: 0, token: 's3cret' });
});
after(async () => {
  await srv?.close();
  await secured?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('the registry finds the run, the SAE, both models and the detector', async () => {
  const r = await http(srv.url, '/api/models');
  const names = (JSON.parse(r.body.toString()) as { name: string; kind: string }[]).map((m) => `${m.kind}:${m.name}`).sort();
  assert.deepEqual(names, ['detector:det', 'model:ae', 'model:scaled', 'model:vae', 'sae:sae-run/sae']);
  const h = JSON.parse((await http(srv.url, '/healthz')).body.toString()) as { ok: boolean; runs: number };
  assert.equal(h.ok, true);
  assert.equal(h.runs, 1);
});

test('SAE encode/reconstruct/decode equal the library (JSON, sparse JSON and float32 bodies)', async () => {
  const w = saeToWeights(sae);
  const ref = runSae(w, X);
  const encReply = await post('/v1/models/sae-run/sae/encode', { inputs: rows(X, D) });
  assert.equal(encReply.status, 200, encReply.body.toString());
  const enc = JSON.parse(encReply.body.toString()) as { shape: number[]; outputs: number[][] };
  assert.deepEqual(enc.shape, [B, H]);
  const codes = new Float32Array(B * H);
  const rc = ref.codes as { k: number; indices: Int32Array; values: Float32Array };
  for (let b = 0; b < B; b++) for (let j = 0; j < rc.k; j++) codes[b * H + rc.indices[b * rc.k + j]!] = rc.values[b * rc.k + j]!;
  close(enc.outputs.flat(), codes);
  const sp = JSON.parse((await post('/v1/models/sae-run/sae/encode?sparse=1', { inputs: rows(X, D) })).body.toString()) as { indices: number[][] };
  assert.ok(sp.indices.every((ix) => ix.length === 3));
  const bin = await http(srv.url, '/v1/models/sae-run/sae/reconstruct', {
    method: 'POST', body: new Uint8Array(X.buffer.slice(0)), headers: { 'content-type': 'application/octet-stream', 'x-shape': `${B},${D}`, accept: 'application/octet-stream' },
  });
  assert.equal(bin.status, 200);
  assert.equal(bin.headers['x-shape'], `${B},${D}`);
  close(new Float32Array(bin.body.buffer.slice(bin.body.byteOffset, bin.body.byteOffset + bin.body.length)), ref.xhat);
  const dec = JSON.parse((await post('/v1/models/sae-run/sae/decode', { inputs: rows(codes, H) })).body.toString()) as { outputs: number[][] };
  close(dec.outputs.flat(), ref.xhat, 1e-4);
});

test('autoencoder, VAE and detector answer like the library', async () => {
  const aeRef = noGrad(() => ae.eval().encode(tensor(X, [B, D])).f32().slice());
  const r = JSON.parse((await post('/v1/models/ae/encode', { inputs: rows(X, D) })).body.toString()) as { outputs: number[][] };
  close(r.outputs.flat(), aeRef);
  const mu = noGrad(() => vae.eval().encode(tensor(X, [B, D])).mu.f32().slice());
  const v = JSON.parse((await post('/v1/models/vae/encode', { inputs: rows(X, D) })).body.toString()) as { outputs: number[][]; logvar: number[][] };
  close(v.outputs.flat(), mu);
  assert.equal(v.logvar.length, B);
  const det = new PCADetector({ contamination: 0.2 }).fit(X, B, D);
  const s = JSON.parse((await post('/v1/models/det/score', { inputs: rows(X, D) })).body.toString()) as { outputs: number[]; labels: number[] };
  close(s.outputs, Float32Array.from(det.decisionFunction(X, B)));
  assert.deepEqual(s.labels, Array.from(det.decisionFunction(X, B), (x) => (x > det.threshold ? 1 : 0)));
});

test("a model folder's training scaler is applied to inputs and undone on reconstructions", async () => {
  const z = X.map((v, i) => (v - MU[i % D]!) / SD[i % D]!);
  const codes = noGrad(() => ae.eval().encode(tensor(z, [B, D])).f32().slice());
  const r = JSON.parse((await post('/v1/models/scaled/encode', { inputs: rows(X, D) })).body.toString()) as { outputs: number[][] };
  close(r.outputs.flat(), codes);
  const zhat = noGrad(() => ae.eval().reconstruct(tensor(z, [B, D])).f32().slice());
  const rec = JSON.parse((await post('/v1/models/scaled/reconstruct', { inputs: rows(X, D) })).body.toString()) as { outputs: number[][] };
  close(rec.outputs.flat(), zhat.map((v, i) => v * SD[i % D]! + MU[i % D]!));
});

test('bad requests get 4xx with a message, and the server keeps serving', async () => {
  const cases: [Promise<Reply>, number, RegExp][] = [
    [http(srv.url, '/v1/models/ae/encode', { method: 'POST', body: '{"inputs": [1,', headers: { 'content-type': 'application/json' } }), 400, /not valid JSON/],
    [post('/v1/models/ae/encode', { inputs: [[1, 2, 3]] }), 400, /rows of shape \[6\]/],
    [post('/v1/models/ae/encode', { inputs: [[1, 2, 3, 4, 5, 6], [1, 2]] }), 400, /ragged/],
    [post('/v1/models/ae/encode', { inputs: [[1, 2, 3, 4, 5, 'x']] }), 400, /not a finite number/],
    [post('/v1/models/ae/encode', { rows: [] }), 400, /"inputs" field/],
    [post('/v1/models/det/encode', { inputs: rows(X, D) }), 404, /no 'encode' operation/],
    [post('/v1/models/nope/encode', { inputs: rows(X, D) }), 404, /no model named 'nope'/],
    [post('/v1/models/ae/encode', { inputs: Array.from({ length: 101 }, () => [0, 0, 0, 0, 0, 0]) }), 413, /at most 100/],
    [http(srv.url, '/v1/models/ae/encode', { method: 'POST', body: 'x'.repeat(70 * 1024), headers: { 'content-type': 'application/json' } }), 413, /over 65536 bytes/],
    [http(srv.url, '/v1/models/ae/encode', { method: 'POST', body: new Uint8Array(7), headers: { 'content-type': 'application/octet-stream', 'x-shape': '1,6' } }), 400, /multiple of 4/],
    [http(srv.url, '/v1/models/ae/encode'), 405, /use POST/],
  ];
  for (const [p, status, msg] of cases) {
    const r = await p;
    assert.equal(r.status, status, r.body.toString());
    assert.match((JSON.parse(r.body.toString()) as { error: string }).error, msg);
  }
  assert.equal((await http(srv.url, '/healthz')).status, 200);
});

test('no path outside the served folders can be read', async () => {
  for (const p of ['/files/sae-run/../../secret.txt', '/files/sae-run/%2e%2e/%2e%2e/secret.txt', '/files/sae-run/%2Fetc%2Fpasswd', '/files/sae-run/..%2F..%2Fsecret.txt', '/files/sae-run/leak.txt', '/files/sae-run/%5C..%5Csecret.txt', '/runs/..%2F..']) {
    const r = await http(srv.url, p);
    assert.ok([400, 403, 404].includes(r.status), `${p} answered ${r.status}`);
    assert.doesNotMatch(r.body.toString(), /secret$/);
  }
  const ok = await http(srv.url, '/files/sae-run/report.md');
  assert.equal(ok.status, 200);
  assert.equal(ok.body.toString(), '# report\n');
  assert.throws(() => safeSegments('a/%2e%2e/b'), /not allowed/);
  assert.throws(() => safeSegments('%E0%A4%A'), /percent-encoding/);
});

test('with a token, every route but /healthz needs it', async () => {
  assert.equal((await http(secured.url, '/healthz')).status, 200);
  assert.equal((await http(secured.url, '/api/runs')).status, 401);
  assert.equal((await http(secured.url, '/api/runs', { headers: { authorization: 'Bearer wrong!' } })).status, 401);
  assert.equal((await http(secured.url, '/api/runs', { headers: { authorization: 'Bearer s3cret' } })).status, 200);
  assert.equal((await http(secured.url, '/api/runs?token=s3cret')).status, 200);
  assert.equal((await post('/v1/models/ae/encode', { inputs: rows(X, D) }, secured.url)).status, 401);
});

test('the dashboard lists the run, its page loads, and new metrics lines arrive as server-sent events', async () => {
  const index = (await http(srv.url, '/')).body.toString();
  assert.match(index, /href="\/runs\/sae-run"/);
  const page = await http(srv.url, '/runs/sae-run');
  assert.equal(page.status, 200);
  assert.match(page.body.toString(), /data-run="sae-run"/);
  assert.match((await http(srv.url, '/static/dashboard.js')).body.toString(), /EventSource/);
  const run = JSON.parse((await http(srv.url, '/api/runs/sae-run')).body.toString()) as { metrics: unknown[]; files: string[] };
  assert.equal(run.metrics.length, 2);
  assert.ok(run.files.includes('report.md'));
  // Live stream: connect, append a line, expect it as a 'metrics' event within 5 s.
  const u = new URL(srv.url);
  const got = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: u.port, path: '/api/runs/sae-run/events' }, (res) => {
      let buf = '';
      const timer = setTimeout(() => { req.destroy(); reject(new Error(`no event; got ${JSON.stringify(buf)}`)); }, 5000);
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        if (buf.startsWith(': aelab') && !buf.includes('step":3')) appendFileSync(join(root, 'sae-run', 'metrics.jsonl'), JSON.stringify({ split: 'train', step: 3, loss: 0.25 }) + '\n');
        const m = /event: metrics\ndata: (.*)\n\n/.exec(buf);
        if (m) {
          clearTimeout(timer);
          req.destroy();
          resolve(m[1]!);
        }
      });
    });
    req.on('error', () => {});
    req.end();
  });
  assert.deepEqual(JSON.parse(got), { split: 'train', step: 3, loss: 0.25 });
});
