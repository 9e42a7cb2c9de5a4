/**
 * ONNX export benchmark; bench/main.ts runs it in `npm run bench`. Prints one JSON line.
 *
 *   node dist/bench/onnx.js [--d-in 512] [--d-sae 16384] [--k 32] [--batch 512] [--seconds 2] [--threads T]
 *
 * A random TopK SAE (d_in, d_sae, k) is exported with saeToOnnx(w, 'encode') and run in
 * onnxruntime-node (CPU, intra-op threads = AELAB_THREADS or --threads); the same float32 batches
 * of `batch` rows go through aelab's runSae (native backend; it also computes x̂, which costs
 * k·d_in per row against d_in·d_sae for the encoder; its codes are sparse, (index, value) pairs).
 * onnxruntime runs the dense-codes graph ([B, d_sae] out) and the `sparse` one (values and indices
 * [B, k] out, like runSae's). Reported: encode rows/s of each (median
 * of the timed batches after one warm-up), the export time and file size, and the parity of the
 * codes on the first batch (max |ort − aelab| / max |aelab|, and the fraction of rows whose active
 * set differs).
 */
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { Generator } from '../src/core/random.js';
import { backend } from '../src/core/backend/index.js';
import { runSae } from '../src/sae/convert.js';
import type { SaeWeights } from '../src/sae/interop.js';
import { saeToOnnx } from '../src/serve/onnx.js';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const dIn = Number(opt('d-in', '512'));
const dSae = Number(opt('d-sae', '16384'));
const k = Number(opt('k', '32'));
const B = Number(opt('batch', '512'));
const seconds = Number(opt('seconds', '2'));
const threads = Number(opt('threads', process.env.AELAB_THREADS ?? '2'));

const gen = new Generator(3);
const w: SaeWeights = {
  arch: 'topk', k, dIn, dSae,
  W_enc: gen.normal(new Float32Array(dSae * dIn), 0, 1 / Math.sqrt(dIn)),
  b_enc: gen.normal(new Float32Array(dSae), 0, 0.01),
  W_dec: gen.normal(new Float32Array(dSae * dIn), 0, 1 / Math.sqrt(dSae)),
  b_dec: gen.normal(new Float32Array(dIn), 0, 0.01),
  applyBDecToInput: true, meta: {},
};
const batches = Array.from({ length: 4 }, () => gen.normal(new Float32Array(B * dIn)));

/** Median seconds per batch over ≥ 3 timed batches and about `seconds` of work, after one warm-up. */
async function time(fn: (x: Float32Array) => unknown | Promise<unknown>): Promise<number> {
  await fn(batches[0]!);
  const ts: number[] = [];
  const t0 = performance.now();
  for (let i = 0; ts.length < 3 || (performance.now() - t0) / 1000 < seconds; i++) {
    const s = performance.now();
    await fn(batches[i % batches.length]!);
    ts.push((performance.now() - s) / 1000);
    if (ts.length >= 200) break;
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

const t0 = performance.now();
const e = saeToOnnx(w, 'encode');
const exportMs = performance.now() - t0;
const session = await ort.InferenceSession.create(e.bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'] });
const runOrt = async (x: Float32Array) => (await session.run({ x: new ort.Tensor('float32', x, [B, dIn]) })).codes!.data as Float32Array;
// The same encoder with sparse outputs (values, indices [B, k]), as the server's ?sparse=1.
const sparseSession = await ort.InferenceSession.create(saeToOnnx(w, 'encode', { sparse: true }).bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'] });
const runOrtSparse = async (x: Float32Array) => (await sparseSession.run({ x: new ort.Tensor('float32', x, [B, dIn]) })).values!.data as Float32Array;

// Parity of the codes on one batch.
const ref = runSae(w, batches[0]!);
const dense = new Float32Array(B * dSae);
const rc = ref.codes as { k: number; indices: Int32Array; values: Float32Array };
for (let b = 0; b < B; b++) for (let j = 0; j < rc.k; j++) dense[b * dSae + rc.indices[b * rc.k + j]!] = rc.values[b * rc.k + j]!;
const got = await runOrt(batches[0]!);
let diff = 0, scale = 0, rowsDiffer = 0;
for (let b = 0; b < B; b++) {
  let differs = false;
  for (let h = 0; h < dSae; h++) {
    const i = b * dSae + h;
    diff = Math.max(diff, Math.abs(got[i]! - dense[i]!));
    scale = Math.max(scale, Math.abs(dense[i]!));
    if ((got[i] !== 0) !== (dense[i] !== 0)) differs = true;
  }
  if (differs) rowsDiffer++;
}

const aelabS = await time((x) => runSae(w, x));
const ortS = await time(runOrt);
const ortSparseS = await time(runOrtSparse);
const be = backend();
const rate = (s: number) => Math.round(B / s);
process.stdout.write(JSON.stringify({
  d_in: dIn, d_sae: dSae, k, batch: B, threads, backend: be.name, blas: be.blas, ort_version: ort.env.versions?.common ?? null,
  export_ms: +exportMs.toFixed(1), onnx_mb: +(e.bytes.length / 2 ** 20).toFixed(1),
  aelab_rows_per_s: rate(aelabS), ort_rows_per_s: rate(ortS), ort_sparse_rows_per_s: rate(ortSparseS),
  ratio_aelab_vs_ort: +(ortS / aelabS).toFixed(3), ratio_aelab_vs_ort_sparse: +(ortSparseS / aelabS).toFixed(3),
  parity_codes_rel: +(diff / scale).toExponential(2), parity_rows_with_other_support: rowsDiffer / B,
}) + '\n');
