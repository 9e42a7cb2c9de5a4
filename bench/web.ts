/**
 * Browser encode speed: the same SAE encode (src/web/sae.ts's encodeRows: float32 GEMM + TopK) in
 * headless Chromium through the dist/web/aelab.js bundle (pure-TypeScript backend, WebAssembly SIMD
 * GEMM, one thread) and in Node, on the native backend (OpenBLAS where it loads, AELAB_THREADS
 * threads) and on the pure-TS backend (the browser's code path in V8 under Node). The weights reach
 * the page as `aelab serve` sends them to the /demo page. bench/main.ts runs it in `npm run bench`;
 * prints one JSON line.
 *
 *   node dist/bench/web.js [--d-in 512] [--d-sae 16384] [--k 32] [--rows 512] [--reps 5]
 *
 * Rows/s are the best of `reps` timed batches after one warm-up batch, on each side alike. Without
 * /usr/bin/chromium (or AELAB_CHROMIUM) the browser figures are null and `browser_skipped` says why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { backend, createJsBackend, setBackend } from '../src/core/index.js';
import { Generator } from '../src/core/random.js';
import { loadSaeFolder, saveSaeFolder } from '../src/sae/convert.js';
import type { SaeWeights } from '../src/sae/interop.js';
import { serve } from '../src/serve/server.js';
import { encodeRows } from '../src/web/sae.js';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const dIn = Number(opt('d-in', '512'));
const dSae = Number(opt('d-sae', '16384'));
const k = Number(opt('k', '32'));
const rows = Number(opt('rows', '512'));
const reps = Number(opt('reps', '5'));
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const chromiumPath = process.env.AELAB_CHROMIUM ?? '/usr/bin/chromium';

function randomSae(): SaeWeights {
  const g = new Generator(3);
  const W_enc = g.normal(new Float32Array(dSae * dIn), 0, 1 / Math.sqrt(dIn));
  const W_dec = g.normal(new Float32Array(dSae * dIn), 0, 1 / Math.sqrt(dIn));
  return { arch: 'topk', dIn, dSae, k, W_enc, b_enc: new Float32Array(dSae), W_dec, b_dec: g.normal(new Float32Array(dIn), 0, 0.1), applyBDecToInput: true, meta: {} };
}

/** Best-of-reps rows/s of encodeRows on the current Node backend. */
function nodeRate(w: SaeWeights, x: Float32Array): number {
  encodeRows(w, x, rows);
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    encodeRows(w, x, rows);
    best = Math.min(best, performance.now() - t0);
  }
  return rows / (best / 1000);
}

const r1 = (v: number | null) => (v === null ? null : Math.round(v));
const tmp = mkdtempSync(join(tmpdir(), 'aelab-bench-web-'));
try {
  saveSaeFolder(join(tmp, 'sae'), randomSae(), 'aelab');
  const w = loadSaeFolder(join(tmp, 'sae'));
  // Same rows as the page's aelabDemo.bench (Generator(7).normal).
  const x = new Generator(7).normal(new Float32Array(rows * dIn));
  const native = backend();
  const nodeNative = native.name === 'native' ? nodeRate(w, x) : null;
  setBackend(createJsBackend());
  const nodeJs = nodeRate(w, x);
  setBackend(native);

  let browser: Record<string, number> | null = null, chromiumVersion: string | null = null, gemm: string | null = null, skipped: string | null = null;
  if (!existsSync(chromiumPath)) {
    skipped = `Chromium not found at ${chromiumPath} (apt-get install chromium)`;
    process.stderr.write(`bench web: ${skipped}; browser figures omitted\n`);
  } else {
    const b = spawnSync(process.execPath, [join(repo, 'scripts', 'build-web.mjs')], { cwd: repo, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build-web failed: ${b.stderr}`);
    const srv = await serve({ roots: [tmp], host: '127.0.0.1', port: 0 });
    const { chromium } = await import('playwright-core');
    const br = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    try {
      chromiumVersion = br.version();
      const page = await br.newPage();
      page.setDefaultTimeout(300_000);
      await page.goto(`${srv.url}/demo`);
      const info = await page.evaluate(`aelabDemo.load('sae')`) as { gemm: string };
      gemm = info.gemm;
      browser = await page.evaluate(`aelabDemo.bench(${rows}, ${reps})`) as Record<string, number>;
    } finally {
      await br.close();
      await srv.close();
    }
  }
  const browserRate = browser?.rows_per_s ?? null;
  const ratio = (a: number | null, b: number | null) => (a && b ? +(a / b).toFixed(3) : null);
  console.log(JSON.stringify({
    d_in: dIn, d_sae: dSae, k, rows, reps,
    node_backend: native.name, blas: native.blas, threads: native.threads(),
    browser_rows_per_s: r1(browserRate), browser_gemm: gemm, chromium: chromiumVersion,
    node_native_rows_per_s: r1(nodeNative), node_js_rows_per_s: r1(nodeJs),
    browser_vs_node_native: ratio(browserRate, nodeNative), browser_vs_node_js: ratio(browserRate, nodeJs),
    browser_skipped: skipped, load_average: loadavg().map((v) => +v.toFixed(2)),
  }));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
