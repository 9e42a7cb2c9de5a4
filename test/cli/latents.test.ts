/** `aelab latents cache|show|explain|score` on the shipped LM, against a scripted server on 127.0.0.1. */
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { aelab, tempDir, MAIN, REPO } from './util.js';
import { saveSaeFolder } from '../../src/sae/convert.js';
import type { SaeWeights } from '../../src/sae/interop.js';
import { startMockChatServer, type MockChatServer } from '../../src/interp/autointerp/mock-server.js';
import { lcg } from '../helpers/gradcheck.js';

const LM = join(REPO, 'data/aelab-lm');
const work = tempDir('aelab-latents-');
const TEXT = join(work, 'text.txt');
writeFileSync(TEXT, readFileSync(join(REPO, 'data/stories260K/samples.txt'), 'utf8').slice(0, 60_000));

function sae(seed: number, dSae = 96): string {
  const r = lcg(seed), d = 256;
  const f = (n: number, s: number) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * s);
  const w: SaeWeights = { arch: 'topk', dIn: d, dSae, k: 6, W_enc: f(dSae * d, 0.2), b_enc: f(dSae, 0.1), W_dec: f(dSae * d, 0.1), b_dec: f(d, 0.01), applyBDecToInput: true, meta: {} };
  const dir = join(work, `sae-${seed}`);
  saveSaeFolder(dir, w, 'saelens');
  return dir;
}
const SAE = sae(1), SAE2 = sae(2);
const CACHE = join(work, 'cache');
const cacheArgs = (out: string, s = SAE, extra: string[] = [], hook = 'blocks.1.hook_resid_post') => ['latents', 'cache', '--sae', s, '--model', LM, '--hook', hook, '--text', TEXT, '--context', '32', '--tokens', '1024', '--out', out, '--quiet', ...extra];

/** The CLI as a child process without blocking this process's event loop (the mock server lives here). */
function aelabAsync(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const p = spawn(process.execPath, [MAIN, ...args], { cwd: work, env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => { clearTimeout(t); ok({ code: code ?? -1, stdout, stderr }); });
  });
}

let srv: MockChatServer | null = null;
after(async () => { await srv?.close(); });

test('latents cache on the shipped LM, show, and no silent overwrite', () => {
  const r = aelab(cacheArgs(CACHE));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /done: 32 windows, .* nonzero activations \(L0 6\.00\)/);
  for (const f of ['manifest.json', 'latents.jsonl', 'vocab.json', 'shard_00000.safetensors']) assert.ok(existsSync(join(CACHE, f)), f);
  const m = JSON.parse(readFileSync(join(CACHE, 'manifest.json'), 'utf8'));
  assert.equal(m.model.format, 'aelab');
  assert.equal(m.hook, 'blocks.1.hook_resid_post');
  assert.equal(m.sae.d_sae, 96);
  assert.equal(m.complete && m.summarized, true);
  const s = aelab(['latents', 'show', CACHE, '--latent', '0-1', '--examples', '2']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /latent 0: density [\d.]+% .*\n {2}histogram .*\n {2}promotes: .*\n {2}suppresses: .*\n {2}top 1 \(max [\d.]+, window \d+, positions \d+-\d+\): .*<<.*>>/);
  const before = statSync(join(CACHE, 'manifest.json')).mtimeMs;
  const again = aelab(cacheArgs(CACHE));
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already holds a latent cache.*--resume/);
  assert.equal(statSync(join(CACHE, 'manifest.json')).mtimeMs, before);
  const other = aelab(cacheArgs(CACHE, SAE2, ['--resume']));
  assert.equal(other.code, 2);
  assert.match(other.stderr, /another SAE: field 'sae.hash'/);
});

test('latents cache: bad hooks are named', () => {
  const w = aelab(cacheArgs(join(work, 'x1'), SAE, [], 'blocks.1.mlp.hook_post'));
  assert.equal(w.code, 2);
  assert.match(w.stderr, /--sae .* takes d_in = 256, but --hook 'blocks.1.mlp.hook_post' .* width 1024/);
  const u = aelab(cacheArgs(join(work, 'x2'), SAE, [], 'blocks.7.hook_resid_post'));
  assert.equal(u.code, 2);
  assert.match(u.stderr, /--hook: unknown hook 'blocks.7.hook_resid_post'/);
  assert.ok(!existsSync(join(work, 'x1')) && !existsSync(join(work, 'x2')));
});

test('latents explain + score against the scripted server, with the offline baseline', async () => {
  srv = await startMockChatServer((r) => {
    if (r.n === 2) return { status: 500 };
    if (r.system.includes('meticulous AI researcher')) return { content: '[EXPLANATION]: the tokens "the" and "."' };
    const n = (r.user.match(/^Example \d+:/gm) ?? []).length;
    return { content: `[${Array.from({ length: n }, (_, i) => (i % 3 ? 0 : 1)).join(', ')}]` };
  }, { maxRequests: 300 });
  const AI = join(work, 'ai');
  const llm = ['--base-url', srv.url, '--model', 'mock-1', '--n', '4', '--quiet'];
  const e = await aelabAsync(['latents', 'explain', '--cache', CACHE, '--out', AI, ...llm, '--api-key-env', 'AELAB_TEST_KEY', '--concurrency', '2'], { AELAB_TEST_KEY: 'sekret' });
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /explanations \(mock-1\): 4 written, 0 already done, 0 failed/);
  assert.ok(srv.auth.every((a) => a === 'Bearer sekret'));
  const sc = await aelabAsync(['latents', 'score', '--cache', CACHE, '--out', AI, ...llm, '--batch-size', '6', '--json', join(work, 'score.json')]);
  assert.equal(sc.code, 0, sc.stderr);
  assert.match(sc.stdout, /token-list +rule +detection +4 /);
  assert.match(sc.stdout, /mock-1 +mock-1 +fuzzing +4 /);
  assert.match(sc.stdout, /requests\/s/);
  const rows = JSON.parse(readFileSync(join(work, 'score.json'), 'utf8'));
  assert.equal(rows.length, 2);
  assert.ok(existsSync(join(AI, 'scores', 'mock-1__mock-1', 'detection', 'latent_00000.json')) || rows[1].means.detection.latents === 4);
  // Unset key variable, endpoint down, and results of another cache.
  const k = await aelabAsync(['latents', 'explain', '--cache', CACHE, '--out', AI, ...llm, '--api-key-env', 'AELAB_SURELY_UNSET_VAR']);
  assert.equal(k.code, 2);
  assert.match(k.stderr, /--api-key-env AELAB_SURELY_UNSET_VAR: the environment variable AELAB_SURELY_UNSET_VAR is not set/);
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', () => ok()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((ok) => probe.close(() => ok()));
  const d = await aelabAsync(['latents', 'explain', '--cache', CACHE, '--out', join(work, 'ai-down'), '--base-url', `http://127.0.0.1:${port}/v1`, '--model', 'm', '--n', '2', '--retries', '1', '--quiet']);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /stopped early: .*cannot reach the endpoint.*--base-url http:\/\/127\.0\.0\.1/);
  const C2 = join(work, 'cache2');
  assert.equal(aelab(cacheArgs(C2, SAE2)).code, 0);
  const x = aelab(['latents', 'explain', '--cache', C2, '--out', AI, '--offline']);
  assert.equal(x.code, 2);
  assert.match(x.stderr, /holds results for another latent cache: field 'sae_hash' differs/);
});

test('latents cache: killed mid-run, --resume gives the files of an uninterrupted run', async () => {
  const A = join(work, 'kill-a'), B = join(work, 'kill-b');
  const args = (out: string, extra: string[] = []) => ['latents', 'cache', '--sae', SAE, '--model', LM, '--hook', 'blocks.1.hook_resid_post', '--text', TEXT,
    '--context', '32', '--tokens', '6144', '--shard-entries', '2000', '--out', out, '--quiet', ...extra];
  const p = spawn(process.execPath, [MAIN, ...args(B)], { cwd: work, stdio: 'ignore' });
  const t0 = Date.now();
  let shards = 0;
  while (Date.now() - t0 < 60_000) {
    await new Promise((r) => setTimeout(r, 20));
    try { shards = JSON.parse(readFileSync(join(B, 'manifest.json'), 'utf8')).shards.length; } catch { /* not yet */ }
    if (shards >= 2 || p.exitCode !== null) break;
  }
  p.kill('SIGKILL');
  await new Promise((r) => p.once('close', r));
  const m = JSON.parse(readFileSync(join(B, 'manifest.json'), 'utf8'));
  assert.ok(!m.complete && m.shards.length >= 2, `killed after ${m.shards.length} shards (complete ${m.complete})`);
  assert.equal(aelab(args(B)).code, 2);
  const r = aelab(args(B, ['--resume']));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /resumed after window \d+/);
  assert.equal(aelab(args(A)).code, 0);
  const files = readdirSync(A).filter((f) => f.startsWith('shard_') || f === 'latents.jsonl');
  assert.ok(files.length > 3);
  assert.deepEqual(readdirSync(B).filter((f) => !f.startsWith('.') && f !== 'manifest.json').sort(), readdirSync(A).filter((f) => !f.startsWith('.') && f !== 'manifest.json').sort());
  for (const f of files) assert.ok(readFileSync(join(A, f), 'base64') === readFileSync(join(B, f), 'base64'), `${f} differs`);
});
