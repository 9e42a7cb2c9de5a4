/**
 * FVU against encoder FLOPs: Switch SAEs (E experts) against a TopK SAE with the same total latents,
 * on a synthetic superposition problem (src/sae/superposition.ts).
 *
 *   node dist/bench/switch-fvu.js [--tokens 1000000] [--d 64] [--latents 512] [--k 4] [--experts 1,4,8,16]
 *
 * Every model trains on the same stream (batch 1024, Adam, lr 2e-4·√(16384/H) as the trainer's
 * default, the last 20% decayed linearly to 0) and is scored on 16,384 held-out tokens. Prints a
 * markdown table: encoder multiply-adds per token (TopK d·H; Switch d·(E + H/E)), FVU, L0, and the
 * largest fraction of held-out tokens any one expert receives.
 */
import { fromBuffer, noGrad, scope } from '../src/core/index.js';
import { Generator } from '../src/core/random.js';
import { Adam } from '../src/optim/index.js';
import { SwitchSae, createSae, type SparseAutoencoder } from '../src/sae/index.js';
import { generate } from '../src/sae/superposition.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const tokens = Number(opt('tokens', '1000000')), d = Number(opt('d', '64')), H = Number(opt('latents', '512')), k = Number(opt('k', '4'));
const expertsList = opt('experts', '1,4,8,16').split(',').map(Number);
const features = Number(opt('features', String(2 * H)));
const loadBalance = Number(opt('load-balance', '0.01'));
const B = 1024, evalN = 16384;

const data = generate({ n: features, d, tokens: tokens + evalN, maxFrequency: 0.02, exponent: 0.5 }, new Generator(1));
const X = data.activations;
const steps = Math.ceil(tokens / B);
const lr0 = 2e-4 / Math.sqrt(H / 16384);
const decay = Math.round(0.2 * steps);

function train(sae: SparseAutoencoder): { fvu: number; l0: number; seconds: number; maxExpert: number } {
  sae.initFromData(X.subarray(0, 4096 * d));
  const o = new Adam(sae.parameters(), { lr: lr0 });
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) {
    const start = (s * B) % (tokens - B + 1);
    o.lr = s >= steps - decay ? lr0 * (steps - s) / decay : lr0;
    scope(() => sae.loss(fromBuffer(X.slice(start * d, (start + B) * d), [B, d]), { step: s }).loss.backward());
    sae.removeParallelGrad();
    o.step();
    sae.normaliseDecoder();
    o.zeroGrad();
  }
  const seconds = (performance.now() - t0) / 1000;
  const xv = X.subarray(tokens * d, (tokens + evalN) * d);
  const x = fromBuffer(xv.slice(), [evalN, d]);
  const xh = sae.reconstruct(x).f32();
  const mean = new Float64Array(d);
  for (let i = 0; i < xv.length; i++) mean[i % d] += xv[i]! / evalN;
  let num = 0, den = 0;
  for (let i = 0; i < xv.length; i++) {
    num += (xv[i]! - xh[i]!) ** 2;
    den += (xv[i]! - mean[i % d]!) ** 2;
  }
  let l0 = 0, maxExpert = 1;
  scope(() => noGrad(() => {
    const r = sae.loss(x, { updateStats: false });
    l0 = r.stats.l0!;
    if (sae instanceof SwitchSae) maxExpert = r.stats.maxExpertFraction!;
  }));
  return { fvu: num / den, l0, seconds, maxExpert };
}

const rows: string[] = [];
rows.push(`| model | experts E | latents/expert | encoder MACs/token | FVU | L0 | max expert share | train s |`);
rows.push(`|---|---|---|---|---|---|---|---|`);
const topk = train(createSae({ architecture: 'topk', dIn: d, dSae: H, k, deadTokens: Math.max(B, Math.round(tokens / 10)) }, new Generator(2)));
rows.push(`| TopK | – | ${H} | ${d * H} | ${topk.fvu.toFixed(4)} | ${topk.l0.toFixed(2)} | – | ${topk.seconds.toFixed(1)} |`);
process.stderr.write(rows[rows.length - 1] + '\n');
for (const E of expertsList) {
  const sae = createSae({ architecture: 'switch', dIn: d, dSae: H, k, experts: E, loadBalanceCoefficient: loadBalance, deadTokens: Math.max(B, Math.round(tokens / 10)) }, new Generator(2)) as SwitchSae;
  const r = train(sae);
  rows.push(`| Switch | ${E} | ${H / E} | ${sae.encoderFlopsPerToken()} | ${r.fvu.toFixed(4)} | ${r.l0.toFixed(2)} | ${r.maxExpert.toFixed(3)} | ${r.seconds.toFixed(1)} |`);
  process.stderr.write(rows[rows.length - 1] + '\n');
}
console.log(`d = ${d}, H = ${H}, k = ${k}, ${steps * B} training tokens (batch ${B}), ${features} true features (superposition, max frequency 0.02, exponent 0.5), FVU on ${evalN} held-out tokens, load-balance α = ${loadBalance}\n`);
console.log(rows.join('\n'));
