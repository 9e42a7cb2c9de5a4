/**
 * `aelab demo` — the main job (`npm start`): the interpretability workflow on a real language model.
 *
 *   1. load the shipped stories260K model (llama2.c's pretrained TinyStories model, 5 layers,
 *      d_model 64) and its tokenizer;
 *   2. harvest the residual stream at `blocks.2.hook_resid_post` on the shipped stories (90% of
 *      them; the other 10% are held out), as sharded safetensors with a manifest;
 *   3. train a TopK SAE on those shards (the SAE trainer, checkpoints, metrics.jsonl);
 *   4. splice it back into the model on held-out stories: CE loss clean / spliced / zero-ablated,
 *      CE loss score, KL and KL score (and the error term restoring the clean loss);
 *   5. for a handful of latents, the contexts where they fire most, the active token marked;
 *   6. a Markdown + HTML report under runs/demo-<time>/ and a short summary.
 * Every stage is also a CLI command (printed in the report), so any of them can be rerun alone.
 * `--quick` shrinks it to a few seconds (used by the tests); `aelab demo --synthetic` runs the
 * earlier demo on synthetic superposition data with known features.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { backend } from '../../core/backend/index.js';
import { backendLabel } from './info.js';
import { shippedPath, STORIES260K, STORIES260K_SAMPLES } from '../../data/shipped.js';
import { harvestActivations, openHarvestContexts, textWindows } from '../../lm/harvest.js';
import { loadLanguageModel } from '../../lm/load.js';
import type { Tokenizer } from '../../lm/tokenizer/types.js';
import { evaluateSplice, type SpliceMetrics } from '../../interp/splice.js';
import { topActivations, type LatentSummary } from '../../interp/top-activations.js';
import { openActivations } from '../../sae/activations.js';
import { resolveTrainConfig, trainSae } from '../../sae/trainer.js';
import { evaluateSaeFolder, metricsBlocks, num, pct, toJson, trainingBlocks, writeReport, type Block } from '../../sae/report.js';
import { helpText, parseArgs, type FlagSpec } from '../args.js';
import { Progress, duration, fmt, saeProgress } from '../progress.js';
import { loadTextArgs } from './harvest.js';

export const spec: FlagSpec = {
  out: { type: 'string', help: 'run folder (default runs/demo-<time>)' },
  seed: { type: 'number', default: 0, help: 'random seed of the SAE' },
  quick: { type: 'boolean', help: 'a few-second version (fewer tokens; used by the tests)' },
  synthetic: { type: 'boolean', help: 'run the synthetic demo instead (superposition data with known features)' },
  quiet: { type: 'boolean', help: 'no progress bars' },
  help: { type: 'boolean', help: 'show this help' },
};

interface Size {
  harvestTokens: number;
  context: number;
  latents: number;
  k: number;
  trainTokens: number;
  batch: number;
  evalWindows: number;
  latentsShown: number;
}

const HOOK = 'blocks.2.hook_resid_post';
const FULL: Size = { harvestTokens: 320_000, context: 128, latents: 512, k: 16, trainTokens: 3_000_000, batch: 1024, evalWindows: 96, latentsShown: 8 };
const QUICK: Size = { harvestTokens: 24_000, context: 64, latents: 128, k: 8, trainTokens: 100_000, batch: 512, evalWindows: 8, latentsShown: 4 };

/** Text of `window[from, to)` with llama2.c-style pieces; newlines shown as ⏎, Markdown marks neutralised. */
function piece(tok: Tokenizer, window: Int32Array, from: number, to: number): string {
  const dec = new TextDecoder();
  const bytes: number[] = [];
  for (let i = from; i < to; i++) bytes.push(...tok.tokenBytes(window[i]!, i > 0 ? window[i - 1]! : null));
  return dec.decode(new Uint8Array(bytes)).replace(/\r?\n/g, '⏎').replace(/\*/g, '∗').replace(/`/g, 'ʼ').replace(/\|/g, '¦');
}

/** "…left **token** right…" around position `pos` of a window. */
export function markedContext(tok: Tokenizer, window: Int32Array, pos: number, before = 24, after = 6): string {
  const a = Math.max(0, pos - before), b = Math.min(window.length, pos + 1 + after);
  const left = piece(tok, window, a, pos), mid = piece(tok, window, pos, pos + 1), right = piece(tok, window, pos + 1, b);
  return `${a > 0 ? '…' : ''}${left}**${mid.trim() === '' ? mid.replace(/ /g, '␣') : mid}**${right}${b < window.length ? '…' : ''}`;
}

/** A spread of latents worth showing: alive, density in [0.1%, 10%], spaced over the density order. */
export function pickLatents(summaries: LatentSummary[], n: number): LatentSummary[] {
  const ok = summaries.filter((s) => s.density >= 0.001 && s.density <= 0.1 && s.top.length > 0).sort((a, b) => b.density - a.density || a.latent - b.latent);
  if (ok.length <= n) return ok;
  return Array.from({ length: n }, (_, i) => ok[Math.floor((i * ok.length) / n)]!);
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs('demo', argv, spec);
  if (flags.help) {
    process.stdout.write(helpText('demo', 'the main job: harvest a real language model\'s activations, train a sparse autoencoder, splice it back in, show what its latents respond to, and write a report (--synthetic: the superposition demo)', spec));
    return 0;
  }
  const size = flags.quick ? QUICK : FULL;
  const seed = flags.seed as number;
  const runDir = (flags.out as string | undefined) ?? join('runs', `demo-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`);
  const say = (s = '') => process.stdout.write(s + '\n');
  const be = backend();
  const t0 = performance.now();

  // 1. Model and text.
  const modelPath = shippedPath(STORIES260K);
  const lm = loadLanguageModel(modelPath);
  const tok = lm.tokenizer!;
  const cfg = lm.model.cfg;
  const textPath = shippedPath(STORIES260K_SAMPLES);
  // The same documents and split as `aelab harvest/eval --text FILE --split train|val` (stories are blank-line separated).
  const trainDocs = loadTextArgs('demo', { text: textPath, split: 'train' }).docs;
  const valDocs = loadTextArgs('demo', { text: textPath, split: 'val' }).docs;
  const nDocs = trainDocs.length + valDocs.length;
  say('aelab demo: a sparse autoencoder on a real language model\'s activations');
  say(`backend ${backendLabel(be)}, ${be.threads()} thread(s); run folder ${runDir}`);
  say();
  say(`1. Model    stories260K (llama2.c, trained on TinyStories): ${cfg.nLayers} layers, d_model ${cfg.dModel}, ${cfg.nHeads} heads (${cfg.nKvHeads} kv), vocab ${cfg.vocabSize}, ${lm.model.numParameters().toLocaleString()} parameters`);
  say(`             text: ${nDocs} stories sampled from the model (${trainDocs.length} to train on, ${valDocs.length} held out)`);

  // 2. Harvest.
  const harvestDir = join(runDir, 'activations');
  const hbar = flags.quiet ? null : new Progress(Math.ceil(size.harvestTokens / size.context) * size.context, 'tok');
  const h = harvestActivations({
    model: lm.model, tokenizer: tok, hooks: [HOOK], documents: trainDocs, out: harvestDir, context: size.context, tokens: size.harvestTokens,
    batch: 16, modelInfo: { path: modelPath, format: lm.format, hash: lm.hash }, source: `shipped:${STORIES260K_SAMPLES} split:train`,
    onProgress: (e) => { if (e.kind === 'batch') hbar?.update(e.tokens, { rows: e.rows }, e.windows === e.windowsTarget); },
  });
  if (hbar) process.stderr.write('\n');
  const rows = h.rows[HOOK]!;
  say(`2. Harvest  ${HOOK}: ${h.windows} windows of ${size.context} tokens → ${rows.toLocaleString()} rows of width ${cfg.dModel} (BOS rows dropped) in ${duration(h.seconds)} (${fmt(h.tokensRun / h.seconds)} tokens/s); ${harvestDir}`);

  // 3. SAE.
  const saeRun = join(runDir, `sae-topk-${size.latents}`);
  const tcfg = resolveTrainConfig(
    { data: harvestDir, architecture: 'topk', dSae: size.latents, k: size.k, tokens: size.trainTokens, batchSize: size.batch, seed, deadTokens: Math.round(size.trainTokens / 10), valTokens: 4096 },
    cfg.dModel,
  );
  const source = openActivations(harvestDir);
  const trained = trainSae(tcfg, { source, outDir: saeRun, saveFormat: 'saelens', onEvent: flags.quiet ? undefined : saeProgress() });
  say(`3. SAE      TopK, ${size.latents} latents (${size.latents / cfg.dModel}× d_model), k = ${size.k}: ${trained.tokens.toLocaleString()} tokens (${fmt(trained.tokens / rows)} passes over the rows) in ${duration(trained.seconds)}`);
  const ev = evaluateSaeFolder(trained.saeDir!, source, { tokens: 8192, valFraction: 0.05 });
  say(`             held-out rows: FVU ${num(ev.metrics.fvu)}, L0 ${num(ev.metrics.l0, 2)}, dead latents ${pct(ev.metrics.deadFraction)}`);

  // 4. Splice evaluation on held-out stories.
  const windows = textWindows(valDocs, tok, size.context);
  const batches: Int32Array[][] = [];
  let batch: Int32Array[] = [];
  for (let i = 0; i < size.evalWindows; i++) {
    const w = windows.next();
    if (!w) break;
    batch.push(w);
    if (batch.length === 16) { batches.push(batch); batch = []; }
  }
  if (batch.length) batches.push(batch);
  const sp: SpliceMetrics = evaluateSplice(lm.model, ev.weights, HOOK, batches);
  say(`4. Splice   the SAE in place of ${HOOK} on ${sp.sequences} held-out windows (${sp.tokens.toLocaleString()} tokens):`);
  say(`             next-token loss ${num(sp.ceClean)} clean → ${num(sp.ceSpliced)} with the SAE (zero-ablated: ${num(sp.ceZeroAblated)})`);
  say(`             CE loss score ${num(sp.ceScore, 3)}: the SAE keeps ${pct(sp.ceScore)} of what the layer contributes to the loss; KL score ${num(sp.klScore, 3)}`);
  say(`             with the error term added back the loss is ${num(sp.ceSplicedWithError)} (= clean: the splice itself is exact)`);

  // 5. Latents and their contexts.
  const summaries = topActivations(ev.weights, source, { perLatent: 5 });
  source.close();
  const shown = pickLatents(summaries, size.latentsShown);
  const ctx = openHarvestContexts(harvestDir);
  const latentBlocks: Block[] = [];
  say(`5. Latents  top-activating contexts of ${shown.length} latents (the active token in «»):`);
  for (const s of shown) {
    const ex = s.top.map((e) => {
      const c = ctx.context(e.row);
      return `${e.value.toFixed(2)}  ${markedContext(tok, c.window, c.position)}`;
    });
    latentBlocks.push({ kind: 'h', level: 3, text: `Latent ${s.latent}: fires on ${pct(s.density, 2)} of tokens, max ${s.maxActivation.toFixed(2)}` });
    latentBlocks.push({ kind: 'list', items: ex });
    say(`             latent ${s.latent} (density ${pct(s.density, 2)}): ${ex[0]!.replace(/^\S+\s+/, '').replace('**', '«').replace('**', '»')}`);
  }

  // 6. Report.
  // Each stage as a CLI command, writing into rerun/ so the demo's own folders stay as they are.
  const re = join(runDir, 'rerun');
  const commands = [
    `aelab harvest --model ${modelPath} --hook ${HOOK} --text ${textPath} --split train --context ${size.context} --tokens ${size.harvestTokens} --out ${join(re, 'activations')}`,
    `aelab train sae --data ${join(re, 'activations')} --architecture topk --latents ${size.latents} --k ${size.k} --tokens ${size.trainTokens} --batch ${size.batch} --dead-tokens ${Math.round(size.trainTokens / 10)} --val-tokens 4096 --seed ${seed} --out ${join(re, 'sae-run')}`,
    `aelab eval sae ${join(re, 'sae-run', 'sae')} --model ${modelPath} --hook ${HOOK} --text ${textPath} --split val --context ${size.context} --tokens ${size.evalWindows * size.context}`,
  ];
  const blocks: Block[] = [
    { kind: 'h', level: 1, text: 'aelab demo: a sparse autoencoder on a real language model' },
    { kind: 'p', text: `Model: stories260K, llama2.c's pretrained TinyStories model (${cfg.nLayers} layers, d_model ${cfg.dModel}, ${cfg.nHeads} query / ${cfg.nKvHeads} key-value heads, vocabulary ${cfg.vocabSize}), run on aelab's own transformer runtime. Text: ${nDocs} stories sampled from the model itself (so the activations are in distribution), ${valDocs.length} of them held out for the splice evaluation.` },
    { kind: 'h', level: 2, text: 'Harvest' },
    { kind: 'list', items: [
      `Hook \`${HOOK}\` (residual stream after block 2 of ${cfg.nLayers}); windows of ${size.context} tokens, each starting with BOS; BOS rows dropped.`,
      `${rows.toLocaleString()} rows of ${cfg.dModel} values in ${h.shards} shard(s) with a manifest (\`${join(harvestDir, 'manifest.json')}\`), ${fmt(h.tokensRun / h.seconds)} tokens/s.`,
    ] },
    { kind: 'h', level: 2, text: 'Sparse autoencoder' },
    { kind: 'list', items: [
      `TopK SAE, ${size.latents} latents, k = ${size.k}, AuxK for dead latents; ${trained.tokens.toLocaleString()} tokens in batches of ${size.batch} (${duration(trained.seconds)}).`,
      `Saved as a SAELens folder: \`${trained.saeDir}\`.`,
    ] },
    ...trainingBlocks(join(saeRun, 'metrics.jsonl'), 'training'),
    ...metricsBlocks(ev.metrics, null, 'eval'),
    { kind: 'h', level: 2, text: 'Splice evaluation (held-out stories)' },
    { kind: 'p', text: 'The SAE reconstruction replaces the hook activation at every non-BOS position; cross-entropy is the mean next-token loss, KL is KL(clean ‖ spliced) over the vocabulary averaged over positions (SAELens definitions). CE loss score = (CE_zero − CE_SAE) / (CE_zero − CE_clean).' },
    { kind: 'table', head: ['', 'value'], rows: [
      ['CE clean', num(sp.ceClean)], ['CE with the SAE', num(sp.ceSpliced)], ['CE zero-ablated', num(sp.ceZeroAblated)],
      ['CE with the SAE + error term', num(sp.ceSplicedWithError)], ['CE loss score', num(sp.ceScore)],
      ['KL(clean‖SAE)', num(sp.klSpliced)], ['KL(clean‖zero)', num(sp.klZeroAblated)], ['KL score', num(sp.klScore)],
      ['FVU (spliced rows)', num(sp.fvu)], ['L0 (spliced rows)', num(sp.l0, 2)],
      ['windows / tokens', `${sp.sequences} / ${sp.tokens.toLocaleString()}`],
    ] },
    { kind: 'h', level: 2, text: 'What some latents respond to' },
    { kind: 'p', text: `Top-activating contexts over the ${rows.toLocaleString()} harvested rows for ${shown.length} latents spread over the density range 0.1–10%; the token where the latent fires is in bold, its activation first.` },
    ...latentBlocks,
    { kind: 'h', level: 2, text: 'Reproduce stage by stage' },
    { kind: 'code', text: commands.join('\n') },
  ];
  const files = writeReport(join(runDir, 'report.md'), blocks, 'aelab demo');
  const { explainedVarianceByDim: _drop, ...metricsJson } = ev.metrics;
  writeFileSync(join(runDir, 'report.json'), toJson({
    model: { path: modelPath, hash: lm.hash, config: cfg }, hook: HOOK, harvest: { rows, windows: h.windows, seconds: h.seconds },
    training: { tokens: trained.tokens, seconds: trained.seconds, config: trained.config }, metrics: metricsJson, splice: sp,
    latents: shown.map((s) => ({ ...s, contexts: s.top.map((e) => { const c = ctx.context(e.row); return markedContext(tok, c.window, c.position); }) })),
  }) + '\n');
  say();
  say(`Report: ${files.html} (also ${files.markdown}); total time ${duration((performance.now() - t0) / 1000)}`);
  return 0;
}
