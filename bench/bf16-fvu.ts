/**
 * The bf16 encoder's effect on SAE quality (issue 16, item 2): the same training run with
 * encoderDtype 'f32' and 'bf16' on two ground-truth superposition problems (src/sae/superposition.ts),
 * printed as a markdown table of held-out FVU (float32 inference), L0, true features recovered at
 * cosine ≥ 0.9, and the relative FVU change. bf16 may only be offered as a default if |ΔFVU|/FVU ≤ 1%
 * on both problems.
 *
 *   node dist/bench/bf16-fvu.js [--tokens 500000] [--seeds 1,2]   (about 4 min per seed on 2 busy cores)
 *
 * Problems (d = 64, H = 512 latents, batch 1024, the trainer's defaults otherwise):
 *   A  "sae-architectures": 256 features, max frequency 0.05, exponent 0.5 (≈1.5 active per token);
 *      TopK k = 8 and standard ReLU (λ = 3).
 *   B  "switch-fvu": 1024 independent features, max frequency 0.02, exponent 0.5; TopK k = 4.
 * Prints one JSON line at the end (per row: fvu_f32, fvu_bf16, rel_change; and whether all are ≤ 1%).
 */
import { performance } from 'node:perf_hooks';
import { bf16Support } from '../src/core/ops/bf16.js';
import { Generator } from '../src/core/random.js';
import { arraySource } from '../src/sae/activations.js';
import { saeToWeights } from '../src/sae/convert.js';
import { featureRecovery } from '../src/sae/metrics.js';
import { generate } from '../src/sae/superposition.js';
import { resolveTrainConfig, trainSae } from '../src/sae/trainer.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const tokens = Number(opt('tokens', '500000'));
const seeds = opt('seeds', '1').split(',').map(Number);
const d = 64, H = 512, B = 1024, rows = 200_000;

const support = bf16Support();
if (!support.kernel) {
  process.stderr.write(`bf16-fvu: no bf16 GEMM on this machine (${support.missing})\n`);
  process.exit(1);
}

interface Problem { name: string; n: number; maxFrequency: number; saes: Record<string, unknown>[] }
const problems: Problem[] = [
  { name: 'A (256 features, f_max 0.05)', n: 256, maxFrequency: 0.05, saes: [{ architecture: 'topk', k: 8 }, { architecture: 'standard', l1Coefficient: 3 }] },
  { name: 'B (1024 features, f_max 0.02)', n: 1024, maxFrequency: 0.02, saes: [{ architecture: 'topk', k: 4 }] },
];

const rowsOut: Record<string, unknown>[] = [];
const out = process.stdout;
out.write(`bf16 encoder vs f32, ${tokens.toLocaleString()} training tokens, d ${d}, H ${H}, batch ${B}; bf16 kernel ${support.kernel}\n\n`);
out.write('| problem | SAE | seed | FVU f32 | FVU bf16 | ΔFVU/FVU | L0 f32 / bf16 | recovered f32 / bf16 | s f32 / bf16 |\n|---|---|---|---|---|---|---|---|---|\n');
for (const p of problems) {
  const data = generate({ n: p.n, d, tokens: rows, maxFrequency: p.maxFrequency, exponent: 0.5, magnitude: { kind: 'uniform', lo: 0.5, hi: 1.5 } }, new Generator(7));
  for (const sae of p.saes) {
    for (const seed of seeds) {
      const run = (encoderDtype: 'f32' | 'bf16') => {
        const cfg = resolveTrainConfig({ ...sae, dSae: H, tokens, batchSize: B, seed, encoderDtype }, d);
        const t0 = performance.now();
        const res = trainSae(cfg, { source: arraySource(data.activations, rows, d) });
        const rec = featureRecovery(saeToWeights(res.sae).W_dec, H, data.features, p.n, d);
        return { fvu: res.val!.fvu, l0: res.val!.l0, recovered: rec.fractionRecovered, seconds: (performance.now() - t0) / 1000 };
      };
      const f = run('f32'), b = run('bf16');
      const rel = (b.fvu - f.fvu) / f.fvu;
      const label = `${sae.architecture}${'k' in sae ? ` k=${sae.k}` : ` λ=${sae.l1Coefficient}`}`;
      out.write(`| ${p.name} | ${label} | ${seed} | ${f.fvu.toFixed(4)} | ${b.fvu.toFixed(4)} | ${(rel * 100).toFixed(2)}% | ${f.l0.toFixed(2)} / ${b.l0.toFixed(2)} | ${(f.recovered * 100).toFixed(1)}% / ${(b.recovered * 100).toFixed(1)}% | ${f.seconds.toFixed(0)} / ${b.seconds.toFixed(0)} |\n`);
      rowsOut.push({ problem: p.name, sae: label, seed, fvu_f32: +f.fvu.toFixed(5), fvu_bf16: +b.fvu.toFixed(5), rel_change: +rel.toFixed(5), recovered_f32: f.recovered, recovered_bf16: b.recovered });
    }
  }
}
const within = rowsOut.every((r) => Math.abs(r.rel_change as number) <= 0.01);
out.write(`\nall |ΔFVU|/FVU ≤ 1%: ${within ? 'yes' : 'no'}\n`);
out.write(JSON.stringify({ bf16_kernel: support.kernel, tokens, rows: rowsOut, within_1pct: within }) + '\n');
