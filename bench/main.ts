/**
 * `npm run bench`: this core against PyTorch, side by side in one run, then one JSON line.
 *
 * Every measurement runs in its own child process with the same environment, which the PyTorch
 * reference's docstring asks for on a 2-core machine (thread counts, passive OpenMP waits, glibc
 * malloc never returning memory to the OS). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the
 * machine sets them unless `--native-coretype` is given, which unsets both for every side alike.
 *
 *   npm run bench [-- --threads 2] [--native-coretype] [--quick] [--torch-script path]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = join(here, '..', '..');
const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const threads = opt('threads', '2');
const quick = flag('quick');
const torchScript = opt('torch-script', join(root, '..', 'shared', 'bench', 'torch_sae_step.py'));

const env: NodeJS.ProcessEnv = {
  ...process.env,
  OPENBLAS_NUM_THREADS: threads,
  OMP_NUM_THREADS: threads,
  AELAB_THREADS: threads,
  OMP_WAIT_POLICY: 'PASSIVE',
  GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295',
};
if (flag('native-coretype')) {
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
}

function runJson(label: string, cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Record<string, any> | null {
  process.stderr.write(`bench: ${label} …\n`);
  const r = spawnSync(cmd, args, { cwd: root, env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) {
    process.stderr.write(`bench: ${label} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}\n`);
    return null;
  }
  return JSON.parse(line) as Record<string, any>;
}

const node = process.execPath;
const runs = quick ? '3' : '9';
const results: Record<string, any> = { threads: Number(threads), openblas_coretype: env.OPENBLAS_CORETYPE ?? '(unset)' };

const torchOk = existsSync(torchScript) && existsSync('/usr/bin/python3');
const torch = torchOk
  ? runJson('PyTorch reference (relu, topk-dense)', '/usr/bin/python3', [torchScript, '--threads', threads, '--runs', runs, '--modes', 'relu,topk-dense'])
  : null;
if (!torchOk) process.stderr.write(`bench: PyTorch reference script not found at ${torchScript}; ratios omitted\n`);
const ours = runJson('aelab native step (relu, topk-dense)', node, [join(here, 'sae-step.js'), '--runs', runs, '--modes', 'relu,topk-dense']);
const ours_js = runJson('aelab pure-TS step (relu)', node, [join(here, 'sae-step.js'), '--warmup', '1', '--runs', quick ? '1' : '3', '--modes', 'relu'], { AELAB_BACKEND: 'js' });
const aeScript = join(dirname(torchScript), 'torch_ae_step.py');
const torchAe = torchOk && existsSync(aeScript)
  ? runJson('PyTorch reference (ae, vae)', '/usr/bin/python3', [aeScript, '--threads', threads, '--runs', quick ? '5' : '15'])
  : null;
const oursAe = runJson('aelab native AE/VAE steps', node, [join(here, 'ae-step.js'), '--runs', quick ? '5' : '15']);
const gemm = runJson('GEMM shapes', node, [join(here, 'gemm-shapes.js'), quick ? '3' : '7']);
const rss = runJson('peak RSS of a training run', node, [join(here, 'rss.js'), '1024', quick ? '5' : '20']);

const tps = (r: Record<string, any> | null, m: string): number | null => r?.modes?.[m]?.tokens_per_s ?? null;
const ratio = (a: number | null, b: number | null) => (a && b ? +(a / b).toFixed(3) : null);
results.backend = ours?.backend ?? null;
results.blas = ours?.blas ?? null;
results.sae_relu_tokens_per_s = tps(ours, 'relu');
results.sae_topk_dense_tokens_per_s = tps(ours, 'topk-dense');
results.torch_relu_tokens_per_s = tps(torch, 'relu');
results.torch_topk_dense_tokens_per_s = tps(torch, 'topk-dense');
results.ratio_relu_vs_torch = ratio(results.sae_relu_tokens_per_s, results.torch_relu_tokens_per_s);
results.ratio_topk_dense_vs_torch = ratio(results.sae_topk_dense_tokens_per_s, results.torch_topk_dense_tokens_per_s);
results.js_backend_relu_tokens_per_s = tps(ours_js, 'relu');
const sps = (r: Record<string, any> | null, m: string): number | null => r?.models?.[m]?.samples_per_s ?? null;
results.ae_samples_per_s = sps(oursAe, 'ae');
results.vae_samples_per_s = sps(oursAe, 'vae');
results.torch_ae_samples_per_s = sps(torchAe, 'ae');
results.torch_vae_samples_per_s = sps(torchAe, 'vae');
results.ratio_ae_vs_torch = ratio(results.ae_samples_per_s, results.torch_ae_samples_per_s);
results.ratio_vae_vs_torch = ratio(results.vae_samples_per_s, results.torch_vae_samples_per_s);
results.gemm = gemm;
results.rss = rss;

const out = process.stdout;
out.write('\nSAE training step, B=1024 d=512 H=4096 k=32, Adam (tokens/s, median)\n');
out.write(`  ${'mode'.padEnd(12)} ${'aelab'.padStart(9)} ${'PyTorch'.padStart(9)} ${'ratio'.padStart(7)}\n`);
for (const m of ['relu', 'topk-dense']) {
  const a = tps(ours, m), t = tps(torch, m);
  out.write(`  ${m.padEnd(12)} ${String(a ?? '-').padStart(9)} ${String(t ?? '-').padStart(9)} ${String(ratio(a, t) ?? '-').padStart(7)}\n`);
}
out.write(`  pure-TS backend, relu: ${results.js_backend_relu_tokens_per_s ?? '-'} tokens/s\n`);
out.write('\nMLP autoencoder steps, MNIST-sized, batch 256, Adam (samples/s, median)\n');
for (const m of ['ae', 'vae']) {
  const a = sps(oursAe, m), t = sps(torchAe, m);
  out.write(`  ${m.padEnd(12)} ${String(a ?? '-').padStart(9)} ${String(t ?? '-').padStart(9)} ${String(ratio(a, t) ?? '-').padStart(7)}\n`);
}
if (gemm) {
  out.write(`\nGEMM on the step's shapes (${gemm.backend}, ${gemm.blas ?? 'built-in kernel'}, ${gemm.threads} threads; roofline ${gemm.roofline_gflops ?? '?'} GFLOPS)\n`);
  for (const s of gemm.shapes) out.write(`  ${s.name.padEnd(12)} ${String(s.M).padStart(5)}x${String(s.N).padEnd(5)}x${String(s.K).padEnd(5)} ${String(s.gflops).padStart(7)} GFLOPS  ${s.of_roofline ?? '-'} of roofline\n`);
}
if (rss) out.write(`\nPeak RSS ${rss.peak_rss_mb} MB (node baseline ${rss.baseline_rss_mb} MB) for ${rss.needed_mb} MB of params+grads+Adam+activations: ${rss.overhead_ratio}x\n`);
out.write('\n' + JSON.stringify(results) + '\n');
