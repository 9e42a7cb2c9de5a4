/**
 * `aelab demo --synthetic` — the whole SAE workflow on data whose answer is known. (Plain
 * `aelab demo`, the main job, runs the same workflow on a real language model: demo-lm.ts.)
 *
 *   1. synthetic activations in superposition: n sparse features with known directions in d < n
 *      dimensions (power-law frequencies), saved as .npy like real activations would be;
 *   2. a TopK SAE trained on them from disk by the trainer (checkpoints, metrics.jsonl), plus two
 *      narrower SAEs for the per-token scaling analysis;
 *   3. evaluation on held-out tokens, with feature recovery against the true dictionary;
 *   4. the dark-matter analysis of the SAE error (Engels et al. 2024);
 *   5. a report (Markdown + HTML with SVG plots) under runs/demo-<time>/, and a short summary.
 * `--quick` shrinks everything to about ten seconds (used by the tests).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { backend } from '../../core/backend/index.js';
import { Generator } from '../../core/random.js';
import { openActivations } from '../../sae/activations.js';
import { loadSaeFolder } from '../../sae/convert.js';
import { generate, saveSuperposition } from '../../sae/superposition.js';
import { resolveTrainConfig, trainSae, type TrainResult } from '../../sae/trainer.js';
import {
  analyseDarkMatter, darkMatterBlocks, evaluateSaeFolder, metricsBlocks, num, pct, toJson, trainingBlocks, writeReport, type Block,
} from '../../sae/report.js';
import { helpText, parseArgs, type FlagSpec } from '../args.js';
import { duration, fmt, saeProgress } from '../progress.js';
import { backendLabel } from './info.js';

const spec: FlagSpec = {
  out: { type: 'string', help: 'run folder (default runs/demo-<time>)' },
  seed: { type: 'number', default: 0, help: 'random seed (data and training)' },
  quick: { type: 'boolean', help: 'a ~10 second version (smaller problem, fewer tokens)' },
  tokens: { type: 'number', help: 'training tokens of the main SAE (default 1,500,000; quick 150,000)' },
  quiet: { type: 'boolean', help: 'no progress bars' },
  help: { type: 'boolean', help: 'show this help' },
};

interface DemoSize {
  n: number;
  d: number;
  rows: number;
  maxFrequency: number;
  latents: number;
  k: number;
  tokens: number;
  batch: number;
  componentTokens: number;
  analysisTokens: number;
}

const FULL: DemoSize = { n: 128, d: 48, rows: 100_000, maxFrequency: 0.08, latents: 256, k: 3, tokens: 1_500_000, batch: 1024, componentTokens: 150_000, analysisTokens: 5000 };
const QUICK: DemoSize = { n: 48, d: 24, rows: 30_000, maxFrequency: 0.08, latents: 96, k: 2, tokens: 150_000, batch: 512, componentTokens: 30_000, analysisTokens: 1500 };

export async function run(argv: string[]): Promise<number> {
  if (!argv.includes('--synthetic')) return (await import('./demo-lm.js')).run(argv);
  const { flags } = parseArgs('demo', argv.filter((a) => a !== '--synthetic'), spec);
  if (flags.help) {
    process.stdout.write(helpText('demo --synthetic', 'train, evaluate and analyse a sparse autoencoder on synthetic superposition data, and write a report', spec));
    return 0;
  }
  const size = { ...(flags.quick ? QUICK : FULL) };
  if (flags.tokens !== undefined) size.tokens = flags.tokens as number;
  const seed = flags.seed as number;
  const runDir = (flags.out as string | undefined) ?? join('runs', `demo-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`);
  const say = (s = '') => process.stdout.write(s + '\n');
  const be = backend();
  const t0 = performance.now();
  say(`aelab demo --synthetic: a sparse autoencoder on activations whose true features are known`);
  say(`backend ${backendLabel(be)}, ${be.threads()} thread(s); run folder ${runDir}`);
  say();

  // 1. Data.
  const data = generate({ n: size.n, d: size.d, tokens: size.rows, maxFrequency: size.maxFrequency, exponent: 0.5 }, new Generator(seed));
  const dataDir = join(runDir, 'data');
  saveSuperposition(dataDir, data);
  let active = 0;
  for (const c of data.counts) active += c;
  const perToken = active / size.rows;
  const rarest = Math.min(...data.counts);
  say(`1. Data     ${size.n} true features hidden in ${size.d} dimensions (${fmt(size.n / size.d)}× more features than dimensions),`);
  say(`             ${fmt(perToken)} active per token on average, the rarest on ${(rarest / size.rows * 100).toFixed(2)}% of tokens; ${size.rows.toLocaleString()} tokens in ${join(dataDir, 'activations.npy')}`);

  // 2. Training: the main SAE, then two narrower ones for the scaling analysis.
  const train = (latents: number, tokens: number, name: string): TrainResult => {
    const cfg = resolveTrainConfig(
      { data: join(dataDir, 'activations.npy'), architecture: 'topk', dSae: latents, k: size.k, tokens, batchSize: size.batch, seed, deadTokens: Math.round(tokens / 20), valTokens: 5000 },
      size.d,
    );
    return trainSae(cfg, { outDir: join(runDir, name), onEvent: flags.quiet ? undefined : saeProgress() });
  };
  const mainName = `sae-topk-${size.latents}`;
  say(`2. Training a TopK SAE: ${size.latents} latents, k = ${size.k} active per token, ${size.tokens.toLocaleString()} tokens …`);
  const main = train(size.latents, size.tokens, mainName);
  say(`             done in ${duration(main.seconds)} (${fmt(main.tokens / main.seconds)} tokens/s); weights in ${join(runDir, mainName, 'sae')}`);
  const widths = [size.latents / 4, size.latents / 2].map(Math.round);
  const narrow = widths.map((w) => ({ w, res: train(w, Math.round(size.tokens / 4), `sae-topk-${w}`) }));
  say(`             and ${widths.join(' and ')}-latent SAEs for comparison (${fmt(narrow.reduce((s, x) => s + x.res.seconds, 0))} s)`);

  // 3. Evaluation with feature recovery.
  const src = openActivations(join(dataDir, 'activations.npy'));
  let ev, x: Float32Array;
  try {
    ev = evaluateSaeFolder(main.saeDir!, src, { tokens: 5000, valFraction: 0.05, truth: dataDir });
    const span = Math.min(size.analysisTokens, src.rows);
    x = src.readRows(src.rows - span, span).slice();
  } finally {
    src.close();
  }
  const m = ev.metrics, rec = ev.recovery!;
  say(`3. Results on ${m.tokens.toLocaleString()} held-out tokens`);
  say(`             recovered ${rec.recovered} of ${rec.perFeature.length} true features (${pct(rec.fractionRecovered)}) at cosine ≥ 0.9; mean best cosine ${rec.meanMaxCosine.toFixed(3)}`);
  say(`             → the SAE found the hidden dictionary${rec.fractionRecovered >= 0.9 ? '' : ' only in part (try more --tokens)'}`);
  say(`             held-out FVU ${num(m.fvu)} (${m.tokens.toLocaleString()} tokens): it misses ${pct(m.fvu)} of the variance with ${num(m.l0, 2)} latents per token (true: ${fmt(perToken)})`);
  say(`             ${num(m.deadLatents)} latents (${pct(m.deadFraction)}) never fire: there are ${size.latents} latents for ${size.n} features, so spares stay unused`);

  // 4. Dark matter.
  const saes = [...narrow.map((n) => ({ name: `${n.w} latents`, weights: loadSaeFolder(n.res.saeDir!) })), { name: `${size.latents} latents`, weights: ev.weights }];
  const { analysis, plots } = analyseDarkMatter(saes, x, size.d, { components: { tokens: size.componentTokens, seed, batchSize: size.batch } });
  const p = analysis.saes[analysis.saes.length - 1]!;
  say(`4. Dark matter of the error (the last ${analysis.tokens.toLocaleString()} tokens, half to fit, half to score; FVUs below are on the scoring half)`);
  const linShare = 1 - p.report.nonlinearVarianceShare;
  say(`             ${linShare > 0.005 ? `${pct(linShare)} of the error variance is` : 'essentially none of the error is'} a linear function of x, ${pct(p.report.nonlinearVarianceShare)} is nonlinear (held-out; mean per-dimension R² ${p.report.vectorR2.toFixed(3)});`);
  say(`             the error's size ‖e‖² is ${p.report.normSqR2 > 0.1 ? 'partly' : 'hardly'} predictable from x (R² ${p.report.normSqR2.toFixed(3)}); ${linShare < 0.2 ? 'most of what the SAE misses is nonlinear "dark matter"' : 'a good part of the error is linear "dark matter" that a better SAE could learn'}`);
  say(`             adding that linear prediction takes FVU from ${num(p.fvu)} to ${num(p.report.fvuLinearCorrected)}`);
  if (analysis.pursuit) say(`             gradient pursuit with the same dictionary with at most ${analysis.pursuit.l0} atoms per token: FVU ${num(analysis.pursuit.fvuPursuit)} (SAE encoder ${num(analysis.pursuit.fvuSae)})`);
  if (analysis.components) {
    const c = analysis.components;
    say(`             SAEs trained on the error parts (lower = more learnable): FVU ${num(c.linear.fvu)} on the linear part, ${num(c.nonlinear.fvu)} on the nonlinear part`);
  }

  // 5. Report.
  const blocks: Block[] = [
    { kind: 'h', level: 1, text: 'aelab demo: a sparse autoencoder on superposition data' },
    { kind: 'p', text: `Synthetic activations: ${size.n} unit-norm feature directions in ${size.d} dimensions, each firing independently with a power-law frequency (the most frequent on ${pct(size.maxFrequency)} of tokens), magnitudes uniform in [0.5, 1.5]; ${fmt(perToken)} features active per token on average. An SAE that works should find those ${size.n} directions among its decoder rows.` },
    { kind: 'h', level: 2, text: 'Training' },
    { kind: 'list', items: [
      `TopK SAE, ${size.latents} latents, k = ${size.k}, AuxK for dead latents; ${main.tokens.toLocaleString()} tokens in batches of ${size.batch}, Adam lr ${fmt(main.config.lr)} with warm-up and linear decay.`,
      `Took ${duration(main.seconds)} (${fmt(main.tokens / main.seconds)} tokens/s) on ${backendLabel(be)}, ${be.threads()} thread(s).`,
      `Reproduce: \`aelab train sae --data ${join(dataDir, 'activations.npy')} --architecture topk --latents ${size.latents} --k ${size.k} --tokens ${size.tokens} --batch ${size.batch} --dead-tokens ${Math.round(size.tokens / 20)} --val-tokens 5000 --seed ${seed}\``,
    ] },
    ...trainingBlocks(join(runDir, mainName, 'metrics.jsonl'), 'training'),
    { kind: 'h', level: 2, text: 'Evaluation on held-out tokens' },
    ...metricsBlocks(m, rec, 'eval'),
    { kind: 'h', level: 2, text: 'Dark matter' },
    ...darkMatterBlocks(analysis, plots),
    { kind: 'h', level: 2, text: 'Files' },
    { kind: 'list', items: [
      `\`${dataDir}\`: activations.npy, features.npy (the true dictionary), truth.json`,
      `\`${join(runDir, mainName)}\`: config.json, metrics.jsonl, checkpoints/, sae/ (SAELens-compatible cfg.json + sae_weights.safetensors)`,
      `\`${join(runDir, 'report.json')}\`: every number in this report`,
    ] },
  ];
  const files = writeReport(join(runDir, 'report.md'), blocks, 'aelab demo');
  const { explainedVarianceByDim: _drop, ...metricsJson } = m;
  writeFileSync(join(runDir, 'report.json'), toJson({ data: data.config, training: { tokens: main.tokens, seconds: main.seconds, config: main.config }, metrics: metricsJson, recovery: { ...rec, perFeature: undefined }, darkMatter: analysis }) + '\n');
  say();
  say(`Report: ${files.html} (also ${files.markdown}); total time ${duration((performance.now() - t0) / 1000)}`);
  return 0;
}
