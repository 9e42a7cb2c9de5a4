/**
 * `aelab analyze probe --model aelab-lm --hook blocks.2.hook_resid_post [--sae DIR] --out runs/probe/report.md`
 * — SAEBench-style k-sparse probing for Brown part-of-speech classes (src/interp/probing.ts) on SAE
 * latents, on the raw activations and on as many random directions as the SAE has latents, plus a
 * probe on all raw dimensions. Without --sae a TopK SAE is trained first on the hook (brown,nlp
 * training split). Probe rows: Brown training-split documents for fitting, held-out documents for
 * the accuracy. Writes report.md + report.html and report.json; the mean table on stdout.
 */
import { dirname, join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { readBrownCorpus, readNlpCorpus, splitDocuments } from '../../data/text.js';
import { posWindows, probeStudy, randomProjections, POS_CLASSES, type ProbeFeatureSet } from '../../interp/probing.js';
import { loadSaeFolder, runSae } from '../../sae/convert.js';
import type { SaeWeights } from '../../sae/interop.js';
import { lineChart } from '../../report/svg.js';
import { toJson, writeReport, type Block } from '../../sae/report.js';
import { table } from '../../tasks/experiments/report.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { hookRows, numberList, posInt, resolveModelArg, trainRowsSae, windowsOf } from './analyze-common.js';
import { checkHookArg, TEXT_SPLIT_SEED, TEXT_VAL_FRACTION } from './harvest.js';

const CMD = 'analyze probe';
const spec: FlagSpec = {
  model: { type: 'string', help: "language model path, or 'aelab-lm' / 'stories260K' (required)" },
  hook: { type: 'string', default: 'blocks.2.hook_resid_post', help: 'hook whose activations are probed' },
  sae: { type: 'string', help: 'SAE folder for that hook (default: train one)' },
  out: { type: 'string', help: 'report path, e.g. runs/probe/report.md (required)' },
  context: { type: 'number', default: 64, help: 'tokens per window (BOS included)' },
  'probe-windows': { type: 'number', default: 160, help: 'Brown training-split windows whose words fit the probes' },
  'test-windows': { type: 'number', default: 80, help: 'Brown held-out windows whose words test them' },
  ks: { type: 'string', default: '1,2,5,10,20', help: 'k values of the sparse probes' },
  'max-train': { type: 'number', default: 500, help: 'positives (and as many negatives) per class to fit on, at most' },
  'max-test': { type: 'number', default: 300, help: 'positives (and negatives) per class to test on, at most' },
  C: { type: 'number', default: 1, help: 'inverse L2 strength of the logistic regression (sklearn C)' },
  'train-tokens': { type: 'number', default: 300000, help: 'SAE training tokens when no --sae is given' },
  'train-windows': { type: 'number', default: 800, help: 'brown,nlp training-split windows harvested for the SAE' },
  'd-sae': { type: 'number', default: 1024, help: 'latents of the trained SAE' },
  k: { type: 'number', default: 16, help: 'active latents per token of the trained (TopK) SAE' },
  seed: { type: 'number', default: 0, help: 'seed (SAE training, random directions, class balancing)' },
  help: { type: 'boolean', help: 'show this help' },
};
const SUMMARY = 'k-sparse probing of Brown POS classes: SAE latents vs raw activations vs random directions';

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(CMD, argv, spec);
  if (flags.help) {
    process.stdout.write(helpText(CMD, SUMMARY, spec));
    return 0;
  }
  if (positionals.length) throw new UsageError(`aelab ${CMD}: unexpected argument '${positionals[0]}'`);
  if (!flags.out) throw new UsageError(`aelab ${CMD}: --out is required (e.g. --out runs/probe/report.md)`);
  const lm = resolveModelArg(CMD, flags.model as string | undefined);
  const hook = flags.hook as string;
  const [d] = checkHookArg(CMD, lm, [hook]) as [number];
  const context = posInt(CMD, 'context', flags.context, 2);
  if (context > lm.model.cfg.nCtx) throw new UsageError(`aelab ${CMD}: --context ${context} is longer than the model's context of ${lm.model.cfg.nCtx}`);
  const ks = numberList(CMD, 'ks', flags.ks, (v) => Number.isInteger(v) && v >= 1, 'positive integers');
  if (!(typeof flags.C === 'number' && flags.C > 0)) throw new UsageError(`aelab ${CMD}: --C must be positive, got ${String(flags.C)}`);
  const tok = lm.tokenizer!;
  const seed = flags.seed as number;
  const t0 = Date.now();
  // The SAE.
  let w: SaeWeights, saeDesc: string;
  if (flags.sae) {
    w = loadSaeFolder(flags.sae as string);
    if (w.dIn !== d) throw new UsageError(`aelab ${CMD}: --sae ${flags.sae} has d_in = ${w.dIn}, but ${hook} has rows of width ${d}`);
    saeDesc = `${flags.sae} (${w.arch}, ${w.dSae} latents)`;
  } else {
    const docs = [...readBrownCorpus({ tags: false }), ...readNlpCorpus()];
    const { train } = splitDocuments(docs, { valFraction: TEXT_VAL_FRACTION, seed: TEXT_SPLIT_SEED });
    const tw = windowsOf(CMD, train, tok, context, posInt(CMD, 'train-windows', flags['train-windows']), 'training');
    const { x, rows } = hookRows(lm.model, hook, tw, context, tok.bosId);
    const dSae = posInt(CMD, 'd-sae', flags['d-sae']), k = posInt(CMD, 'k', flags.k), tokens = posInt(CMD, 'train-tokens', flags['train-tokens']);
    const runDir = join(dirname(flags.out as string), 'probe-sae');
    process.stderr.write(`probe: training a TopK SAE (${dSae} latents, k = ${k}) on ${rows.toLocaleString()} ${hook} rows for ${tokens.toLocaleString()} tokens → ${runDir}\n`);
    ({ w, desc: saeDesc } = trainRowsSae(x, rows, d, { dSae, k, tokens, seed, runDir, name: hook }));
  }
  // Labelled Brown windows: fit on training-split documents, test on held-out ones.
  const brown = readBrownCorpus();
  const { train: btr, val: bval } = splitDocuments(brown, { valFraction: TEXT_VAL_FRACTION, seed: TEXT_SPLIT_SEED });
  const trW = posWindows(btr, tok, context, posInt(CMD, 'probe-windows', flags['probe-windows']));
  const teW = posWindows(bval, tok, context, posInt(CMD, 'test-windows', flags['test-windows']));
  const tokens = new Int32Array(trW.tokens.length + teW.tokens.length);
  tokens.set(trW.tokens);
  tokens.set(teW.tokens, trW.tokens.length);
  const allLabels = new Int8Array(tokens.length);
  allLabels.set(trW.labels);
  allLabels.set(teW.labels, trW.labels.length);
  const acts = hookRows(lm.model, hook, tokens, context, null, true);
  // Keep labelled rows only.
  const rowsL: number[] = [];
  for (let r = 0; r < tokens.length; r++) if (allLabels[r]! >= 0) rowsL.push(r);
  const n = rowsL.length;
  const raw = new Float32Array(n * d);
  rowsL.forEach((r, i) => raw.set(acts.x.subarray(r * d, (r + 1) * d), i * d));
  const labels = Int8Array.from(rowsL, (r) => allLabels[r]!);
  const isTrain = Uint8Array.from(rowsL, (r) => (r < trW.tokens.length ? 1 : 0));
  const code = runSae(w, raw).codes;
  let sae: Float32Array;
  if (code instanceof Float32Array) sae = code;
  else {
    sae = new Float32Array(n * w.dSae);
    for (let i = 0; i < n; i++) for (let j = 0; j < code.k; j++) sae[i * w.dSae + code.indices[i * code.k + j]!] = code.values[i * code.k + j]!;
  }
  const rnd = randomProjections(raw, n, d, w.dSae, seed + 1);
  const sets: ProbeFeatureSet[] = [
    { name: 'sae', x: sae, d: w.dSae, ks },
    { name: 'raw', x: raw, d, ks },
    { name: 'random', x: rnd, d: w.dSae, ks },
    { name: 'raw-all', x: raw, d, ks: [d] },
  ];
  process.stderr.write(`probe: ${n.toLocaleString()} labelled words (${isTrain.reduce((s, v) => s + v, 0)} for fitting), ${POS_CLASSES.length} classes, sets sae (${w.dSae}), raw (${d}), random (${w.dSae})\n`);
  const results = probeStudy({ labels, isTrain, sets, maxTrain: posInt(CMD, 'max-train', flags['max-train']), maxTest: posInt(CMD, 'max-test', flags['max-test']), C: flags.C as number, seed });
  if (results.length === 0) throw new UsageError(`aelab ${CMD}: no class has 20 positives in both splits; use more --probe-windows / --test-windows`);
  const seconds = (Date.now() - t0) / 1000;
  const meanOf = (set: string, k: number) => results.reduce((s, r) => s + r.accuracy[set]![k]!, 0) / results.length;
  const head = ['class', 'pos (fit/test)', ...ks.map((k) => `SAE k=${k}`), ...ks.map((k) => `raw k=${k}`), ...ks.map((k) => `random k=${k}`), `raw all ${d}`];
  const rowOf = (r: (typeof results)[number]) => [r.className, `${r.positives.train}/${r.positives.test}`,
    ...['sae', 'raw', 'random'].flatMap((s) => ks.map((k) => r.accuracy[s]![k]!.toFixed(3))), r.accuracy['raw-all']![d]!.toFixed(3)];
  const rows = [...results.map(rowOf), ['mean', '', ...['sae', 'raw', 'random'].flatMap((s) => ks.map((k) => meanOf(s, k).toFixed(3))), meanOf('raw-all', d).toFixed(3)]];
  const meanHead = ['features', ...ks.map((k) => `k=${k}`)];
  const meanRows = ['sae', 'raw', 'random'].map((s) => [s, ...ks.map((k) => meanOf(s, k).toFixed(3))]);
  const blocks: Block[] = [
    { kind: 'h', level: 1, text: `Sparse probing of part of speech: ${hook}` },
    { kind: 'p', text: `Model ${lm.path}; SAE ${saeDesc}. Brown corpus words labelled with ${results.length} coarse POS classes (one-vs-rest, balanced); probes fit on ${trW.doc.length} windows of training-split documents and tested on ${teW.doc.length} windows of held-out documents. k features chosen by |mean difference|, then L2 logistic regression (C = ${flags.C}) on standardised features. Random = projections on ${w.dSae} random unit directions; raw all = every one of the ${d} dimensions. ${seconds.toFixed(1)} s.` },
    { kind: 'table', head: meanHead, rows: [...meanRows, ['raw (all dims)', ...ks.map(() => meanOf('raw-all', d).toFixed(3))]] },
    { kind: 'figure', name: 'accuracy-vs-k', svg: lineChart({ title: 'Mean test accuracy over POS classes vs k', xLabel: 'k (features in the probe)', yLabel: 'accuracy', series: ['sae', 'raw', 'random'].map((s) => ({ name: s, x: ks, y: ks.map((k) => meanOf(s, k)) })) }), caption: 'k-sparse probes on SAE latents, raw activation dimensions and random directions.' },
    { kind: 'h', level: 2, text: 'Per class' },
    { kind: 'table', head, rows },
  ];
  const out = flags.out as string;
  const files = writeReport(out, blocks, 'Sparse probing');
  const json = out.replace(/\.(md|html?)$/i, '') + '.json';
  writeFileSync(json, toJson({ model: lm.path, hook, sae: saeDesc, ks, d, dSae: w.dSae, results, mean: Object.fromEntries(['sae', 'raw', 'random'].map((s) => [s, Object.fromEntries(ks.map((k) => [k, meanOf(s, k)]))])), rawAll: meanOf('raw-all', d) }) + '\n');
  process.stdout.write(`mean accuracy over ${results.length} POS classes (${hook}; raw, all ${d} dims: ${meanOf('raw-all', d).toFixed(3)})\n` + table(meanHead, meanRows) + `report: ${files.markdown}, ${files.html}, ${json} (${seconds.toFixed(1)} s)\n`);
  return 0;
}
