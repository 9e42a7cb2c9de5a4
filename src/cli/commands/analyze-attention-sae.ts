/**
 * `aelab analyze attention-sae --model aelab-lm --layer 1 [--sae DIR] --out runs/attn/report.md` —
 * an SAE on blocks.{layer}.attn.hook_z (rows [n_heads·d_head]) with its latents attributed to heads
 * and source positions (src/interp/attention-sae.ts). Without --sae, one is trained first (TopK, on
 * hook_z rows of the training split; saved next to the report). Writes report.md + report.html (SVG
 * figures: histogram of the largest head share per latent, latents per head) and report.json.
 */
import { dirname, join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { AttentionSaeError, attentionSaeStudy } from '../../interp/attention-sae.js';
import { loadSaeFolder } from '../../sae/convert.js';
import type { SaeWeights } from '../../sae/interop.js';
import { barChart, histogram } from '../../report/svg.js';
import { toJson, writeReport, type Block } from '../../sae/report.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { analysisDocuments, hookRows, numberList, posInt, resolveModelArg, trainRowsSae, windowsOf } from './analyze-common.js';

const CMD = 'analyze attention-sae';
const spec: FlagSpec = {
  model: { type: 'string', help: "language model path, or 'aelab-lm' / 'stories260K' (required)" },
  layer: { type: 'number', default: 1, help: 'block whose attn.hook_z the SAE reads' },
  sae: { type: 'string', help: 'SAE folder trained on hook_z of that layer (default: train one)' },
  out: { type: 'string', help: 'report path, e.g. runs/attn/report.md (required)' },
  text: { type: 'string', help: 'UTF-8 text file (default: brown,nlp for aelab LMs, the shipped stories for llama2.c models)' },
  corpus: { type: 'string', help: "'brown', 'nlp' or 'brown,nlp'" },
  documents: { type: 'string', default: 'paragraphs', help: '--text: one document per paragraph, line or the whole file' },
  context: { type: 'number', default: 64, help: 'tokens per window (BOS included)' },
  windows: { type: 'number', default: 64, help: 'held-out windows analysed' },
  'train-tokens': { type: 'number', default: 200000, help: 'SAE training tokens when no --sae is given' },
  'train-windows': { type: 'number', default: 800, help: 'training-split windows harvested for the SAE (rows are reused across passes)' },
  'd-sae': { type: 'number', default: 1024, help: 'latents of the trained SAE' },
  k: { type: 'number', default: 16, help: 'active latents per token of the trained (TopK) SAE' },
  latents: { type: 'string', help: 'comma-separated latents to report (default: the --top-latents with the largest activations)' },
  'top-latents': { type: 'number', default: 8, help: 'latents reported when --latents is not given' },
  examples: { type: 'number', default: 5, help: 'top-activating examples per reported latent' },
  seed: { type: 'number', default: 0, help: 'SAE training seed' },
  help: { type: 'boolean', help: 'show this help' },
};
const SUMMARY = 'attention-output SAE on hook_z: head shares, per-head and per-source-position attribution';

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(CMD, argv, spec);
  if (flags.help) {
    process.stdout.write(helpText(CMD, SUMMARY, spec));
    return 0;
  }
  if (positionals.length) throw new UsageError(`aelab ${CMD}: unexpected argument '${positionals[0]}'`);
  if (!flags.out) throw new UsageError(`aelab ${CMD}: --out is required (e.g. --out runs/attn/report.md)`);
  const lm = resolveModelArg(CMD, flags.model as string | undefined);
  const cfg = lm.model.cfg;
  const layer = flags.layer as number;
  if (!(Number.isInteger(layer) && layer >= 0 && layer < cfg.nLayers)) throw new UsageError(`aelab ${CMD}: --layer ${layer} is not a block of the model (0..${cfg.nLayers - 1})`);
  const context = posInt(CMD, 'context', flags.context, 2);
  if (context > cfg.nCtx) throw new UsageError(`aelab ${CMD}: --context ${context} is longer than the model's context of ${cfg.nCtx}`);
  const chosen = flags.latents === undefined ? undefined : numberList(CMD, 'latents', flags.latents, (v) => Number.isInteger(v) && v >= 0, 'latent indices');
  const { train, val, source } = analysisDocuments(CMD, flags, lm);
  const tok = lm.tokenizer!;
  const hook = `blocks.${layer}.attn.hook_z`;
  const dIn = cfg.nHeads * cfg.dHead;
  const t0 = Date.now();
  let w: SaeWeights, saeDesc: string;
  if (flags.sae) {
    w = loadSaeFolder(flags.sae as string);
    if (w.dIn !== dIn) throw new UsageError(`aelab ${CMD}: --sae ${flags.sae} has d_in = ${w.dIn}, but ${hook} has rows of n_heads·d_head = ${cfg.nHeads}·${cfg.dHead} = ${dIn}`);
    saeDesc = `${flags.sae} (${w.arch}, ${w.dSae} latents)`;
  } else {
    const tw = windowsOf(CMD, train, tok, context, posInt(CMD, 'train-windows', flags['train-windows']), 'training');
    const { x, rows } = hookRows(lm.model, hook, tw, context, tok.bosId);
    const dSae = posInt(CMD, 'd-sae', flags['d-sae']), k = posInt(CMD, 'k', flags.k), tokens = posInt(CMD, 'train-tokens', flags['train-tokens']);
    const runDir = join(dirname(flags.out as string), `attention-sae-L${layer}`);
    process.stderr.write(`attention-sae: training a TopK SAE (${dSae} latents, k = ${k}) on ${rows.toLocaleString()} ${hook} rows for ${tokens.toLocaleString()} tokens → ${runDir}\n`);
    ({ w, desc: saeDesc } = trainRowsSae(x, rows, dIn, { dSae, k, tokens, seed: flags.seed as number, runDir, name: hook }));
  }
  const tokens = windowsOf(CMD, val, tok, context, posInt(CMD, 'windows', flags.windows), 'held-out');
  let st;
  try {
    st = attentionSaeStudy(lm.model, w, layer, { tokens, context, latents: chosen, topLatents: posInt(CMD, 'top-latents', flags['top-latents']), examples: posInt(CMD, 'examples', flags.examples), bosId: tok.bosId });
  } catch (e) {
    if (e instanceof AttentionSaeError) throw new UsageError(`aelab ${CMD}: ${e.message}`);
    throw e;
  }
  const piece = (id: number) => JSON.stringify(tok.decodeToken(id));
  const ctx = (b: number, t: number, before = 8) => Array.from(tokens.subarray(b * context + Math.max(0, t - before), b * context + t), (id) => tok.decodeToken(id)).join('').replace(/\s+/g, ' ');
  const H = st.heads;
  const live = Array.from(st.density).filter((d) => d > 0).length;
  const single = Array.from(st.shares.maxShare).filter((s, f) => st.density[f]! > 0 && s >= 0.5).length;
  const blocks: Block[] = [
    { kind: 'h', level: 1, text: `Attention-output SAE: ${hook}` },
    { kind: 'p', text: `Model ${lm.path} (${H} heads × ${cfg.dHead}, ${cfg.nKvHeads} key/value heads). SAE: ${saeDesc}. Analysed on ${st.rows.toLocaleString()} held-out rows (${tokens.length / context} windows of ${context} tokens, BOS rows dropped) from ${source}. ${live} of ${w.dSae} latents active; ${single} of the active ones take ≥ 50% of their decoder norm from one head.` },
    { kind: 'figure', name: 'max-head-share', svg: histogram({ title: 'Largest head share of each active latent', xLabel: 'max_h ‖W_dec[f, h]‖ / Σ_h ‖W_dec[f, h]‖', values: Array.from(st.shares.maxShare).filter((_, f) => st.density[f]! > 0), bins: 20 }), caption: `Histogram of the largest head share per active latent (1/${H} = spread evenly, 1 = a single head).` },
    { kind: 'figure', name: 'latents-per-head', svg: barChart({ title: 'Latents per dominant head', xLabel: 'head', yLabel: 'latents', categories: Array.from({ length: H }, (_, h) => `H${h}`), series: [{ name: 'all latents', values: st.latentsPerHead }, { name: 'active latents', values: st.liveLatentsPerHead }] }), caption: 'Latents counted by the head with the largest decoder share.' },
    { kind: 'table', head: ['head', 'latents', 'active latents'], rows: Array.from({ length: H }, (_, h) => [`H${h}`, String(st.latentsPerHead[h]), String(st.liveLatentsPerHead[h])]) },
    { kind: 'h', level: 2, text: 'Chosen latents: heads and source tokens' },
  ];
  for (const l of st.latents) {
    blocks.push({ kind: 'h', level: 3, text: `Latent ${l.latent}: head H${l.dominantHead} (share ${(l.maxShare * 100).toFixed(0)}%), density ${(l.density * 100).toFixed(2)}%` });
    blocks.push({ kind: 'p', text: `Top source tokens (attribution summed over the top examples): ${l.topSourceTokens.slice(0, 6).map((s) => `${piece(s.token)} ${s.attribution.toFixed(2)}`).join(', ')}` });
    blocks.push({ kind: 'table', head: ['activation', 'context → destination', 'head attribution (top 2)', 'top sources (position: token attribution)'], align: ['r', 'l', 'l', 'l'],
      rows: l.examples.map((e) => {
        const hs = e.heads.map((v, h) => ({ h, v })).sort((a, b) => b.v - a.v).slice(0, 2);
        return [e.activation.toFixed(2), `${ctx(e.window, e.position)} [${tok.decodeToken(tokens[e.window * context + e.position]!)}]`.replace(/\|/g, '\\|'),
          hs.map((x) => `H${x.h} ${x.v.toFixed(2)}`).join(', '), e.sources.slice(0, 3).map((s) => `${s.position}: ${piece(s.token)} ${s.attribution.toFixed(2)}`).join('; ').replace(/\|/g, '\\|')];
      }) });
  }
  const out = flags.out as string;
  const files = writeReport(out, blocks, 'Attention-output SAE');
  const json = out.replace(/\.(md|html?)$/i, '') + '.json';
  writeFileSync(json, toJson({ model: lm.path, hook, sae: saeDesc, rows: st.rows, latentsPerHead: Array.from(st.latentsPerHead), liveLatentsPerHead: Array.from(st.liveLatentsPerHead),
    maxShare: Array.from(st.shares.maxShare), density: Array.from(st.density),
    latents: st.latents.map((l) => ({ ...l, topSourceTokens: l.topSourceTokens.map((s) => ({ ...s, piece: tok.decodeToken(s.token) })) })) }) + '\n');
  process.stdout.write(`${hook}: ${live}/${w.dSae} latents active on ${st.rows} held-out rows; ${single} take ≥ 50% of their decoder norm from one head; latents per head ${Array.from(st.liveLatentsPerHead).join(' ')}\n`);
  for (const l of st.latents) process.stdout.write(`  latent ${l.latent}: H${l.dominantHead} (${(l.maxShare * 100).toFixed(0)}%), top sources ${l.topSourceTokens.slice(0, 4).map((s) => piece(s.token)).join(' ')}\n`);
  process.stdout.write(`report: ${files.markdown}, ${files.html}, ${json} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  return 0;
}
