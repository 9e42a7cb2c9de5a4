/**
 * `aelab analyze layer-skip --model aelab-lm|stories260K|PATH --out runs/skip/report.md` — LAC voids
 * and FiRST routers against skipping the same number of random layers (src/interp/layer-skip.ts):
 * held-out CE/perplexity and greedy agreement with the full model against the mean fraction of
 * layers skipped. Writes report.md + report.html (SVG figures) and report.json; a table on stdout.
 */
import { writeFileSync } from 'node:fs';
import { layerSkipStudy, type SkipPoint } from '../../interp/layer-skip.js';
import { lineChart } from '../../report/svg.js';
import { toJson, writeReport, type Block } from '../../sae/report.js';
import { table } from '../../tasks/experiments/report.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { analysisDocuments, numberList, posInt, resolveModelArg, windowsOf } from './analyze-common.js';

const CMD = 'analyze layer-skip';
const spec: FlagSpec = {
  model: { type: 'string', help: "language model path, or 'aelab-lm' / 'stories260K' (the shipped models) (required)" },
  out: { type: 'string', help: 'report path, e.g. runs/skip/report.md (.html and .json written beside it) (required)' },
  text: { type: 'string', help: 'UTF-8 text file (default: brown,nlp for aelab LMs, the shipped stories for llama2.c models)' },
  corpus: { type: 'string', help: "'brown', 'nlp' or 'brown,nlp'" },
  documents: { type: 'string', default: 'paragraphs', help: '--text: one document per paragraph, line or the whole file' },
  context: { type: 'number', default: 64, help: 'tokens per window (BOS included)' },
  prompt: { type: 'number', default: 32, help: 'prompt tokens per window; CE is measured on the rest' },
  windows: { type: 'number', default: 12, help: 'held-out windows evaluated' },
  gen: { type: 'number', default: 16, help: 'greedy tokens generated after each prompt for the agreement (0: skip)' },
  'gen-windows': { type: 'number', default: 6, help: 'prompts used for the greedy agreement' },
  quantiles: { type: 'string', default: '0.1,0.25,0.4', help: 'LAC thresholds τ: these quantiles of the relative change r' },
  lambdas: { type: 'string', default: '0.1,0.5,1', help: 'FiRST compute penalties λ (one router set each)' },
  'first-steps': { type: 'number', default: 80, help: 'FiRST router training steps (model frozen)' },
  'first-batch': { type: 'number', default: 16, help: 'FiRST windows per step' },
  'first-lr': { type: 'number', default: 0.003, help: 'FiRST router learning rate (Adam)' },
  'train-windows': { type: 'number', default: 512, help: 'training-split windows for the FiRST routers' },
  seed: { type: 'number', default: 0, help: 'seed of the random baselines and router sampling' },
  help: { type: 'boolean', help: 'show this help' },
};
const SUMMARY = 'layer skipping: LAC voids and FiRST routers vs random layers (quality vs fraction skipped)';

const LABEL: Record<string, string> = {
  full: 'full model', 'lac-token': 'LAC per token', 'random-token': 'random per token (matched to LAC)',
  'lac-prefill': 'LAC at prefill', 'random-prefill': 'random at prefill (matched)', first: 'FiRST routers',
};

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(CMD, argv, spec);
  if (flags.help) {
    process.stdout.write(helpText(CMD, SUMMARY, spec));
    return 0;
  }
  if (positionals.length) throw new UsageError(`aelab ${CMD}: unexpected argument '${positionals[0]}'`);
  if (!flags.out) throw new UsageError(`aelab ${CMD}: --out is required (e.g. --out runs/skip/report.md)`);
  const lm = resolveModelArg(CMD, flags.model as string | undefined);
  const context = posInt(CMD, 'context', flags.context, 2);
  if (context > lm.model.cfg.nCtx) throw new UsageError(`aelab ${CMD}: --context ${context} is longer than the model's context of ${lm.model.cfg.nCtx}`);
  const prompt = posInt(CMD, 'prompt', flags.prompt);
  if (prompt >= context) throw new UsageError(`aelab ${CMD}: --prompt ${prompt} must be shorter than --context ${context}`);
  const gen = posInt(CMD, 'gen', flags.gen, 0);
  if (prompt + gen > lm.model.cfg.nCtx) throw new UsageError(`aelab ${CMD}: --prompt + --gen = ${prompt + gen} exceeds the model's context of ${lm.model.cfg.nCtx}`);
  const quantiles = numberList(CMD, 'quantiles', flags.quantiles, (v) => v > 0 && v < 1, 'numbers in (0, 1)');
  const lambdas = numberList(CMD, 'lambdas', flags.lambdas, (v) => v >= 0, 'numbers ≥ 0');
  const { train, val, source } = analysisDocuments(CMD, flags, lm);
  const tok = lm.tokenizer!;
  const tokens = windowsOf(CMD, val, tok, context, posInt(CMD, 'windows', flags.windows), 'held-out');
  const trainTokens = windowsOf(CMD, train, tok, context, posInt(CMD, 'train-windows', flags['train-windows']), 'training');
  const N = tokens.length / context;
  process.stderr.write(`layer-skip: ${lm.path} (${lm.model.cfg.nLayers} layers), ${N} held-out windows of ${context} tokens (prompt ${prompt}), ${source}\n`);
  const t0 = Date.now();
  const st = layerSkipStudy(lm.model, {
    tokens, context, prompt, gen, genWindows: posInt(CMD, 'gen-windows', flags['gen-windows']), quantiles, lambdas, trainTokens,
    firstSteps: posInt(CMD, 'first-steps', flags['first-steps'], 0), firstBatch: posInt(CMD, 'first-batch', flags['first-batch']), firstLr: positive(flags['first-lr']), seed: flags.seed as number,
    onProgress: (e) => {
      if (e.kind === 'point') process.stderr.write(`  ${e.point.method.padEnd(14)} skipped ${(e.point.skipped * 100).toFixed(1).padStart(5)}%  CE ${e.point.ce.toFixed(3)}  agreement ${e.point.agreement.toFixed(3)}  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
      else if (e.step === e.steps) process.stderr.write(`  FiRST λ=${e.lambda}: ${e.steps} steps, CE ${e.ce.toFixed(3)}, mean gate ${e.gates.toFixed(3)}\n`);
    },
  });
  const seconds = (Date.now() - t0) / 1000;
  const all = [st.full, ...st.points];
  const rows = all.map((p) => [LABEL[p.method]!, p.param === null ? '–' : p.param.toPrecision(3), pct(p.skipped), pct(p.skippedGen), p.ce.toFixed(3), p.ppl.toFixed(1), Number.isNaN(p.agreement) ? '–' : p.agreement.toFixed(3), Array.from(p.layerFraction, (v) => (v * 100).toFixed(0)).join('/')]);
  const head = ['rule', 'τ / λ', 'skipped (CE)', 'skipped (gen)', 'CE', 'ppl', 'agreement', 'skipped per layer'];
  process.stdout.write(table(head, rows) + `report: ${writeOut(flags.out as string, st, all, head, rows, lm.path, source, { N, context, prompt, gen, seconds })}\n`);
  return 0;
}

function positive(v: unknown): number {
  if (typeof v !== 'number' || !(v > 0)) throw new UsageError(`aelab ${CMD}: --first-lr must be positive, got ${String(v)}`);
  return v;
}

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '–');

function curve(points: SkipPoint[], method: string, y: (p: SkipPoint) => number, x: (p: SkipPoint) => number, full: SkipPoint): { x: number[]; y: number[] } {
  const ps = [full, ...points.filter((p) => p.method === method)].sort((a, b) => x(a) - x(b));
  return { x: ps.map(x), y: ps.map(y) };
}

function writeOut(out: string, st: ReturnType<typeof layerSkipStudy>, all: SkipPoint[], head: string[], rows: string[][], model: string, source: string,
  o: { N: number; context: number; prompt: number; gen: number; seconds: number }): string {
  const methods = ['lac-token', 'random-token', 'lac-prefill', 'first'];
  const colors: Record<string, string> = { 'lac-token': '#1f77b4', 'random-token': '#7f7f7f', 'lac-prefill': '#2ca02c', first: '#d62728', 'random-prefill': '#bcbd22' };
  // Random-prefill points are matched to LAC-prefill and FiRST in turn: plot them as one curve.
  const series = (y: (p: SkipPoint) => number, x: (p: SkipPoint) => number) => [...methods, 'random-prefill'].map((m) => ({ name: LABEL[m]!, color: colors[m], ...curve(st.points, m, y, x, st.full) }));
  const blocks: Block[] = [
    { kind: 'h', level: 1, text: 'Layer skipping: LAC voids and FiRST routers' },
    { kind: 'p', text: `Model ${model} (${st.layers} layers). ${o.N} held-out windows of ${o.context} tokens from ${source} (held-out part of the 90/10 split by document); the first ${o.prompt} tokens are the prompt, CE is measured on the remaining ${o.context - o.prompt} predictions; agreement = share of ${o.gen} greedy tokens equal to the full model's. Random baselines skip the same number of layers (per token or per prompt) chosen at random. ${o.seconds.toFixed(1)} s.` },
    { kind: 'p', text: `Mean relative residual change r = ‖x_{l+1} − x_l‖/‖x_l‖ per layer: ${Array.from(st.meanChange, (v, l) => `L${l} ${v.toFixed(3)}`).join(', ')}.` },
    { kind: 'table', head, rows },
    { kind: 'figure', name: 'ce-vs-skipped', svg: lineChart({ title: 'Held-out CE vs fraction of layers skipped', xLabel: 'mean fraction of layers skipped', yLabel: 'CE (nats)', series: series((p) => p.ce, (p) => p.skipped) }), caption: 'Held-out cross-entropy against the mean fraction of layers skipped (LAC per token and at prefill, FiRST, random).' },
  ];
  if (o.gen > 0) blocks.push({ kind: 'figure', name: 'agreement-vs-skipped', svg: lineChart({ title: 'Greedy agreement vs fraction of layers skipped', xLabel: 'mean fraction of layers skipped (generation)', yLabel: 'agreement with the full model', series: series((p) => p.agreement, (p) => p.skippedGen) }), caption: 'Share of greedy tokens equal to the full model\'s.' });
  blocks.push({ kind: 'p', text: 'LAC per token computes each block to measure its change, so it shows which layers are dispensable rather than saving their compute; LAC at prefill and FiRST decide once from the prompt and skip the blocks for every generated token (KV cache included).' });
  const files = writeReport(out, blocks, 'Layer skipping');
  const json = out.replace(/\.(md|html?)$/i, '') + '.json';
  writeFileSync(json, toJson({ model, source, ...o, layers: st.layers, meanChange: Array.from(st.meanChange),
    points: all.map((p) => ({ method: p.method, param: p.param, skipped: p.skipped, skippedGen: p.skippedGen, ce: p.ce, ppl: p.ppl, agreement: p.agreement, layerFraction: Array.from(p.layerFraction) })),
    routers: st.routers.map((r) => ({ lambda: r.lambda, bias: Array.from(r.b) })) }) + '\n');
  return `${files.markdown}, ${files.html}, ${json}`;
}
