/**
 * Inference server throughput: `encode` of a TopK SAE (d_in 512, 16,384 latents, k 32) on
 * 512-row float32 batches, `clients` concurrent clients on loopback, against the same encode
 * called in-process (runSae), so the ratio is what HTTP, body parsing and JSON answers cost.
 * Prints one JSON line: rows/s both ways, their ratio, p50/p99 request latency.
 *
 *   node dist/bench/serve.js [--requests 64] [--clients 32] [--latents 16384]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Generator } from '../src/core/random.js';
import { runSae, saveSaeFolder } from '../src/sae/convert.js';
import type { SaeWeights } from '../src/sae/interop.js';
import { serve } from '../src/serve/server.js';

const argv = process.argv.slice(2);
const opt = (n: string, d: number) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? Number(argv[i + 1]) : d;
};
const requests = opt('requests', 64), clients = opt('clients', 32), H = opt('latents', 16384);
const D = 512, K = 32, B = 512;

const gen = new Generator(3);
const W = gen.normal(new Float32Array(H * D), 0, 1 / Math.sqrt(D));
const sae: SaeWeights = { arch: 'topk', k: K, dIn: D, dSae: H, W_enc: W, b_enc: new Float32Array(H), W_dec: W.slice(), b_dec: new Float32Array(D), applyBDecToInput: true, meta: {} };
const x = gen.normal(new Float32Array(B * D));
const body = new Uint8Array(x.buffer);

const dir = mkdtempSync(join(tmpdir(), 'aelab-bench-serve-'));
saveSaeFolder(join(dir, 'sae'), sae, 'aelab');

// In-process reference: the same encode on the same batch.
runSae(sae, x);
let t = performance.now();
const inReps = Math.max(4, Math.round(requests / 8));
for (let i = 0; i < inReps; i++) runSae(sae, x);
const inProcess = (inReps * B) / ((performance.now() - t) / 1000);

const s = await serve({ roots: [dir], port: 0, maxRows: B });
const port = new URL(s.url).port;
const once = () => new Promise<number>((resolve, reject) => {
  const t0 = performance.now();
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/models/sae/encode?sparse=1', timeout: 120_000, headers: { 'content-type': 'application/octet-stream', 'x-shape': `${B},${D}` } }, (res) => {
    res.resume();
    res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode}`))));
  });
  req.on('error', reject);
  req.end(body);
});
await once(); // loads the SAE
let next = 0;
const lat: number[] = [];
t = performance.now();
await Promise.all(Array.from({ length: clients }, async () => {
  while (next < requests) {
    next++;
    lat.push(await once());
  }
}));
const secs = (performance.now() - t) / 1000;
await s.close();
rmSync(dir, { recursive: true, force: true });
lat.sort((a, b) => a - b);
const q = (p: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!);
const served = (lat.length * B) / secs;
process.stdout.write(JSON.stringify({
  latents: H, d_in: D, k: K, batch_rows: B, clients, requests: lat.length,
  server_rows_per_s: Math.round(served), in_process_rows_per_s: Math.round(inProcess),
  server_vs_in_process: Number((served / inProcess).toFixed(3)), p50_ms: q(0.5), p99_ms: q(0.99),
}) + '\n');
