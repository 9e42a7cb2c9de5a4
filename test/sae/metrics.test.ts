import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/version.js';
import {
  SaeMetricsAccumulator,
  densityHistogram,
  featureRecovery,
  formatMetricsTable,
  meanMaxCosine,
  metricsToJson,
} from '../../src/sae/metrics.js';

interface MetricsFix {
  x: number[][]; xhat: number[][]; codes: number[][]; decoder: number[][];
  l0: number; l1: number; mse: number; fvu: number; explained_variance_per_dim: number; cosine: number;
  norm_ratio: number; rel_bias: number; dead: number; dense: number; decoder_mean_max_cos: number;
}
const fix = (JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'sae', 'expected.json'), 'utf8')) as { metrics: MetricsFix }).metrics;
const D = 8, H = 16, N = fix.x.length;
const X = Float32Array.from(fix.x.flat());
const XH = Float32Array.from(fix.xhat.flat());
const C = Float32Array.from(fix.codes.flat());
const DEC = Float32Array.from(fix.decoder.flat());

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

function check(m: ReturnType<SaeMetricsAccumulator['result']>) {
  close(m.l0, fix.l0, 1e-12, 'L0');
  close(m.l1, fix.l1, 1e-6, 'L1');
  close(m.mse, fix.mse, 1e-6, 'MSE');
  close(m.fvu, fix.fvu, 1e-6, 'FVU');
  close(m.explainedVariance, 1 - fix.fvu, 1e-6, 'EV');
  close(m.explainedVariancePerDim, fix.explained_variance_per_dim, 1e-6, 'EV per dim');
  close(m.cosine, fix.cosine, 1e-6, 'cosine');
  close(m.normRatio, fix.norm_ratio, 1e-6, 'norm ratio');
  close(m.relativeReconstructionBias, fix.rel_bias, 1e-6, 'rel bias');
  assert.equal(m.deadLatents, fix.dead);
  assert.equal(m.denseLatents, fix.dense);
  close(m.decoderMeanMaxCosine!, fix.decoder_mean_max_cos, 1e-6, 'decoder max cos');
}

test('metrics match the numpy computation, in one batch and in uneven batches', () => {
  const one = new SaeMetricsAccumulator({ dIn: D, dSae: H, decoder: DEC });
  one.update(X, XH, C);
  check(one.result());
  const many = new SaeMetricsAccumulator({ dIn: D, dSae: H, decoder: DEC });
  let t = 0;
  for (const b of [7, 20, 1, 36]) {
    many.update(X.subarray(t * D, (t + b) * D), XH.subarray(t * D, (t + b) * D), C.subarray(t * H, (t + b) * H));
    t += b;
  }
  assert.equal(t, N);
  check(many.result());
  assert.equal(fix.dead, 2, 'fixture has two dead latents');
});

test('sparse code forms (top-k rows and CSR) give the same L0, L1, dead and dense counts as dense codes', () => {
  const k = Math.max(...fix.codes.map((r) => r.filter((v) => v !== 0).length));
  const idx = new Int32Array(N * k);
  const val = new Float32Array(N * k);
  const indptr = new Int32Array(N + 1);
  const ci: number[] = [];
  const cv: number[] = [];
  fix.codes.forEach((row, t) => {
    let q = 0;
    row.forEach((v, h) => {
      if (v !== 0) {
        idx[t * k + q] = h;
        val[t * k + q] = v;
        q++;
        ci.push(h);
        cv.push(v);
      }
    });
    indptr[t + 1] = ci.length;
  });
  for (const codes of [{ k, indices: idx, values: val }, { indptr, indices: Int32Array.from(ci), values: Float32Array.from(cv) }]) {
    const acc = new SaeMetricsAccumulator({ dIn: D, dSae: H });
    acc.update(X, XH, codes);
    const m = acc.result();
    close(m.l0, fix.l0, 1e-12, 'L0');
    close(m.l1, fix.l1, 1e-6, 'L1');
    assert.equal(m.deadLatents, fix.dead);
    assert.equal(m.denseLatents, fix.dense);
  }
});

test('closed-form cases: perfect, mean-only and half-scale reconstructions', () => {
  const mean = new Float32Array(N * D);
  for (let j = 0; j < D; j++) {
    let s = 0;
    for (let t = 0; t < N; t++) s += X[t * D + j];
    for (let t = 0; t < N; t++) mean[t * D + j] = s / N;
  }
  const run = (xh: Float32Array) => {
    const a = new SaeMetricsAccumulator({ dIn: D, dSae: H });
    a.update(X, xh);
    return a.result();
  };
  const p = run(X);
  assert.equal(p.fvu, 0);
  close(p.cosine, 1, 1e-12, 'cos');
  close(p.normRatio, 1, 1e-12, 'ratio');
  close(p.relativeReconstructionBias, 1, 1e-12, 'bias');
  assert.ok(Number.isNaN(p.l0), 'no codes → L0 n/a');
  close(run(mean).fvu, 1, 1e-6, 'mean FVU');
  const half = X.map((v) => v / 2);
  const h = run(half);
  close(h.relativeReconstructionBias, 0.5, 1e-9, 'half bias');
  close(h.normRatio, 0.5, 1e-9, 'half ratio');
  close(h.cosine, 1, 1e-9, 'half cos');
});

test('dead latents within a token window; density histogram; decoder max cosine', () => {
  const acc = new SaeMetricsAccumulator({ dIn: 1, dSae: 3 });
  const x = new Float32Array(10).fill(1);
  const c1 = new Float32Array(30);
  for (let t = 0; t < 10; t++) c1[t * 3 + 1] = 1; // latent 1 fires on batch 1 only
  c1[0] = 2; // latent 0 fires once, first token
  acc.update(x, x, c1);
  const c2 = new Float32Array(30);
  for (let t = 0; t < 10; t++) c2[t * 3 + 2] = 1;
  acc.update(x, x, c2);
  assert.equal(acc.deadWithin(20), 0, 'every latent fired within the 20 tokens');
  assert.equal(acc.deadWithin(10), 2, 'latents 0 and 1 silent in the last 10 tokens');
  assert.equal(acc.deadWithin(15), 1, 'latent 0 last fired at token 1, latent 1 at token 10');
  const r = acc.result();
  assert.equal(r.deadLatents, 0);
  assert.equal(r.denseLatents, 2);
  const hist = densityHistogram([0, 1e-3, 1e-3, 0.5, 1e-9], { min: -4, max: 0, bins: 4 });
  assert.deepEqual(hist.edges, [-4, -3, -2, -1, 0]);
  assert.deepEqual(hist.counts, [1, 2, 0, 1], '1e-9 clamps into the first bin; log10(1e-3) = -3 opens bin 1');
  assert.equal(hist.dead, 1);
  // Rows at 0°, 10° and 90°: max cosines cos10°, cos10°, cos80°.
  const W = Float32Array.from([1, 0, Math.cos(0.1745329), Math.sin(0.1745329), 0, 3]);
  close(meanMaxCosine(W, 3, 2), (2 * Math.cos(0.1745329) + Math.cos(Math.PI / 2 - 0.1745329)) / 3, 1e-6, 'mean max cos');
});

test('feature recovery: exact, rotated and partial dictionaries; table and JSON output', () => {
  const d = 4;
  const truth = Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
  const perfect = featureRecovery(Float32Array.from([0, 0, 0, 5, 0, 2, 0, 0, 1, 0, 0, 0, 0, 0, 3, 0, 1, 1, 1, 1]), 5, truth, 4, d);
  assert.equal(perfect.fractionRecovered, 1);
  close(perfect.meanMaxCosine, 1, 1e-7, 'perfect');
  const s = Math.SQRT1_2;
  const rotated = featureRecovery(Float32Array.from([s, s, 0, 0, s, -s, 0, 0, 0, 0, s, s, 0, 0, s, -s]), 4, truth, 4, d);
  assert.equal(rotated.recovered, 0);
  close(rotated.meanMaxCosine, s, 1e-6, 'rotated');
  const partial = featureRecovery(Float32Array.from([1, 0, 0, 0, 0, 0.95, 0.3122499, 0, 0, 0, 0, -1]), 3, truth, 4, d);
  // Feature 0: 1; feature 1: 0.95; feature 2: 0.312; feature 3: its only match is anti-parallel → signed max 0.
  assert.equal(partial.recovered, 2);
  close(partial.perFeature[1], 0.95, 1e-6, 'f1');
  close(partial.perFeature[3], 0, 1e-9, 'f3');
  const acc = new SaeMetricsAccumulator({ dIn: D, dSae: H, decoder: DEC });
  acc.update(X, XH, C);
  const m = acc.result();
  const table = formatMetricsTable(m, partial);
  const lines = table.split('\n');
  assert.ok(lines.length > 10);
  const width = [...lines[0]].length;
  for (const l of lines) assert.equal([...l].length, width, `ragged line: ${l}`);
  assert.match(table, /FVU/);
  assert.match(table, /2\/4 \(50\.0%\)/);
  const json = JSON.parse(metricsToJson(m, partial));
  close(json.fvu, fix.fvu, 1e-6, 'json fvu');
  assert.equal(json.recovery.recovered, 2);
});
