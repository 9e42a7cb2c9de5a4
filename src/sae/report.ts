/**
 * SAE evaluation on saved folders, the dark-matter analysis pipeline (Engels et al. 2024) built on
 * dark-matter.ts, and reports rendered to Markdown (SVG plots as files next to it) and to a
 * self-contained HTML page (SVG inline).
 *
 * A report is a list of blocks (headings, paragraphs, tables, bullet lists, SVG figures, code),
 * rendered twice, so the Markdown and the HTML always say the same thing.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readNpy } from '../core/io/index.js';
import { barChart, escapeXml, histogram, lineChart, scatter } from '../report/svg.js';
import { arraySource, openActivations, splitRows, type ActivationSource } from './activations.js';
import { darkMatter, errorComponents, fvuOf, gradientPursuit, perTokenScaling, type DarkMatterReport, type ScalingPair } from './dark-matter.js';
import { loadSaeFolder, runSae } from './convert.js';
import type { SaeWeights } from './interop.js';
import { SaeMetricsAccumulator, featureRecovery, type FeatureRecovery, type SaeMetrics } from './metrics.js';
import { resolveTrainConfig, trainSae } from './trainer.js';

// ---- data and evaluation ---------------------------------------------------------------------------

/** Opens activations; a superposition folder (with truth.json) means its activations.npy. */
export function openDataArg(path: string, tensor?: string): ActivationSource {
  if (statSync(path).isDirectory() && existsSync(join(path, 'truth.json'))) return openActivations(join(path, 'activations.npy'));
  return openActivations(path, tensor ? { tensor } : {});
}

/** True features [n, d] from an .npy file or a superposition folder (its features.npy). */
export function loadTruthFeatures(path: string, d: number): { features: Float32Array; n: number } {
  const file = statSync(path).isDirectory() ? join(path, 'features.npy') : path;
  const a = readNpy(file);
  if (a.shape.length !== 2 || a.shape[1] !== d || !(a.data instanceof Float32Array)) {
    throw new Error(`${file}: true features must be a float [n, ${d}] array, got shape [${a.shape.join(', ')}]`);
  }
  return { features: a.data, n: a.shape[0]! };
}

/** Metrics of SAE weights on rows x [N, dIn] (codes, reconstructions and the decoder's mean max cosine). */
export function evaluateWeights(w: SaeWeights, x: Float32Array): SaeMetrics {
  const acc = new SaeMetricsAccumulator({ dIn: w.dIn, dSae: w.dSae, decoder: w.W_dec });
  const r = runSae(w, x);
  acc.update(x, r.xhat, r.codes);
  return acc.result();
}

export interface FolderEvaluation {
  weights: SaeWeights;
  metrics: SaeMetrics;
  recovery: FeatureRecovery | null;
  /** First evaluated row. */
  start: number;
}

/**
 * Evaluates a saved SAE on at most `tokens` rows: the last `valFraction` of the source (the
 * trainer's validation split), or from row 0 when valFraction is 0.
 */
export function evaluateSaeFolder(dir: string, src: ActivationSource, opts: { tokens?: number; valFraction?: number; truth?: string; threshold?: number } = {}): FolderEvaluation {
  const w = loadSaeFolder(dir);
  if (w.dIn !== src.dIn) throw new Error(`${dir}: the SAE takes d_in = ${w.dIn} but the data has d_in = ${src.dIn}`);
  const vf = opts.valFraction ?? 0.05;
  const span = vf > 0 ? splitRows(src.rows, { valFraction: vf }).val : { start: 0, count: src.rows };
  const count = Math.min(span.count, opts.tokens ?? 16384);
  if (count < 1) throw new Error(`no rows to evaluate (${src.rows} rows, validation fraction ${vf})`);
  const x = src.readRows(span.start, count).slice();
  const metrics = evaluateWeights(w, x);
  let recovery: FeatureRecovery | null = null;
  if (opts.truth) {
    const t = loadTruthFeatures(opts.truth, w.dIn);
    recovery = featureRecovery(w.W_dec, w.dSae, t.features, t.n, w.dIn, opts.threshold ?? 0.9);
  }
  return { weights: w, metrics, recovery, start: span.start };
}

// ---- dark-matter analysis --------------------------------------------------------------------------

export interface DarkMatterSaeInput {
  name: string;
  weights: SaeWeights;
}

export interface ComponentTrainingOptions {
  /** Training tokens for each component SAE. */
  tokens: number;
  batchSize?: number;
  seed?: number;
  /** Latents and k of the component SAEs (default: the primary SAE's width and rounded L0). */
  dSae?: number;
  k?: number;
}

export interface DarkMatterAnalysisOptions {
  /** Fraction of tokens used to fit the linear maps (the rest evaluates). Default 0.5. */
  fitFraction?: number;
  /** Fit the linear maps with an intercept. Default false (as Engels et al.). */
  intercept?: boolean;
  /** Tokens used for the gradient-pursuit comparison (taken from the evaluation part). Default 1000. */
  pursuitTokens?: number;
  /** Train SAEs on the primary SAE's linear and nonlinear error components (null: skip). */
  components?: ComponentTrainingOptions | null;
}

export interface DarkMatterSaeResult {
  name: string;
  arch: string;
  dSae: number;
  k: number | null;
  l0: number;
  fvu: number;
  report: Omit<DarkMatterReport, 'r2ByDim'>;
}

export interface ComponentResult {
  /** Share of the SAE error's variance (evaluation tokens) in this component. */
  varianceShare: number;
  /** FVU of a TopK SAE trained on the component, on held-out tokens (relative to the component's variance). */
  fvu: number;
  l0: number;
  dSae: number;
  k: number;
  tokens: number;
}

export interface DarkMatterAnalysis {
  tokens: number;
  d: number;
  fitFraction: number;
  saes: DarkMatterSaeResult[];
  /** The widest SAE: the one the pursuit and component experiments use. */
  primary: string;
  scaling: ScalingPair[] | null;
  pursuit: { l0: number; tokens: number; fvuSae: number; fvuPursuit: number } | null;
  components: { linear: ComponentResult; nonlinear: ComponentResult } | null;
}

/** Per-token data kept for plots (not part of the JSON). */
export interface DarkMatterPlotData {
  r2ByDim: number[];
  errorNorms: Float32Array;
  nonlinearNorms: Float32Array;
}

/**
 * The dark-matter analysis of one or more SAEs on the same tokens x [N, d]:
 *   - per SAE: linear prediction of the error e = x − x̂ from x (vector R², R² of ‖e‖², FVU of
 *     x̂ + xW, nonlinear share), fitted on the first fitFraction of tokens, scored on the rest;
 *   - across widths: how well ‖e‖ of a wider SAE is predicted per token from a narrower one's
 *     ‖e‖, and the gain from adding its nonlinear-error norm;
 *   - for the widest SAE: gradient pursuit with its decoder at its own L0 vs its encoder, and
 *     (optionally) TopK SAEs trained on its linear and nonlinear error components.
 */
export function analyseDarkMatter(saes: DarkMatterSaeInput[], x: Float32Array, d: number, opts: DarkMatterAnalysisOptions = {}): { analysis: DarkMatterAnalysis; plots: DarkMatterPlotData } {
  if (saes.length === 0) throw new Error('analyseDarkMatter: no SAEs given');
  const N = x.length / d;
  const fitFraction = opts.fitFraction ?? 0.5;
  const fitTokens = Math.round(N * fitFraction);
  const sorted = [...saes].sort((a, b) => a.weights.dSae - b.weights.dSae);
  const results: DarkMatterSaeResult[] = [];
  const errorNorms: Float32Array[] = [];
  const nonlinearNorms: Float32Array[] = [];
  let primaryRun: { xhat: Float32Array; l0: number } | null = null;
  let primaryFit: ReturnType<typeof darkMatter> | null = null;
  for (const s of sorted) {
    const w = s.weights;
    if (w.dIn !== d) throw new Error(`SAE ${s.name}: d_in ${w.dIn} does not match the data's ${d}`);
    const run = runSae(w, x);
    const dm = darkMatter(x, run.xhat, d, { fitFraction, intercept: opts.intercept ?? false });
    const { r2ByDim: _omit, ...report } = dm.report;
    results.push({ name: s.name, arch: w.arch, dSae: w.dSae, k: w.k ?? null, l0: run.l0, fvu: dm.report.fvuSae, report });
    errorNorms.push(dm.errorNorms);
    nonlinearNorms.push(dm.nonlinearNorms);
    primaryRun = run;
    primaryFit = dm;
  }
  const primary = sorted[sorted.length - 1]!;
  const pw = primary.weights;
  const scaling = sorted.length > 1 ? perTokenScaling(sorted.map((s) => s.weights.dSae), errorNorms, nonlinearNorms, fitFraction) : null;

  // Inference-time optimisation: gradient pursuit with the SAE's decoder at the SAE's own L0.
  const P = Math.min(opts.pursuitTokens ?? 1000, N - fitTokens);
  let pursuit: DarkMatterAnalysis['pursuit'] = null;
  if (P > 1) {
    const xs = x.subarray(fitTokens * d, (fitTokens + P) * d);
    // TopK SAEs use at most k latents per token; pursuit gets the same budget.
    const l0 = pw.k ?? Math.max(1, Math.round(primaryRun!.l0));
    const gp = gradientPursuit(xs, d, pw.W_dec, pw.dSae, l0, { bias: pw.b_dec });
    pursuit = { l0, tokens: P, fvuSae: fvuOf(xs, primaryRun!.xhat.subarray(fitTokens * d, (fitTokens + P) * d), d), fvuPursuit: gp.fvu };
  }

  // SAEs on the linear and nonlinear parts of the primary SAE's error.
  let components: DarkMatterAnalysis['components'] = null;
  if (opts.components) {
    const co = opts.components;
    const parts = errorComponents(x, primaryRun!.xhat, primaryFit!.fit);
    const k = co.k ?? Math.max(1, Math.round(primaryRun!.l0));
    const dSae = co.dSae ?? pw.dSae;
    const evalVar = (a: Float32Array) => {
      const m = new Float64Array(d);
      for (let t = fitTokens; t < N; t++) for (let j = 0; j < d; j++) m[j] += a[t * d + j] / (N - fitTokens);
      let v = 0;
      for (let t = fitTokens; t < N; t++) for (let j = 0; j < d; j++) v += (a[t * d + j] - m[j]) ** 2;
      return v;
    };
    const e = new Float32Array(x.length);
    for (let i = 0; i < e.length; i++) e[i] = x[i] - primaryRun!.xhat[i];
    const eVar = evalVar(e);
    const trainOn = (data: Float32Array): ComponentResult => {
      const cfg = resolveTrainConfig(
        {
          architecture: 'topk', dSae, k, tokens: co.tokens, batchSize: co.batchSize ?? 1024, seed: co.seed ?? 0,
          valFraction: 1 - fitFraction, valTokens: N - fitTokens, evalEveryTokens: 0, checkpointEveryTokens: 0,
          deadTokens: Math.max(1, Math.round(co.tokens / 20)),
        },
        d,
      );
      const res = trainSae(cfg, { source: arraySource(data, N, d, 'error component') });
      return { varianceShare: evalVar(data) / eVar, fvu: res.val!.fvu, l0: res.val!.l0, dSae, k, tokens: co.tokens };
    };
    components = { linear: trainOn(parts.linear), nonlinear: trainOn(parts.nonlinear) };
  }

  const analysis: DarkMatterAnalysis = { tokens: N, d, fitFraction, saes: results, primary: primary.name, scaling, pursuit, components };
  const last = errorNorms.length - 1;
  return { analysis, plots: { r2ByDim: primaryFit!.report.r2ByDim, errorNorms: errorNorms[last]!, nonlinearNorms: nonlinearNorms[last]! } };
}

// ---- report blocks and rendering -------------------------------------------------------------------

export type Block =
  | { kind: 'h'; level: 1 | 2 | 3; text: string }
  | { kind: 'p'; text: string }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; head: string[]; rows: string[][]; align?: ('l' | 'r')[] }
  | { kind: 'figure'; name: string; svg: string; caption?: string }
  | { kind: 'code'; text: string };

/** Number formatting for reports: 4 significant decimals, exponent form for tiny/huge values. */
export function num(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e9) return v.toLocaleString('en-US');
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return v.toFixed(digits);
}
export const pct = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : `${(v * 100).toFixed(digits)}%`);

/** Markdown; figures are written as `<name>.svg` under assetDir and linked relative to the report. */
export function renderMarkdown(blocks: Block[], assetDir: string, assetLink: string): string {
  const out: string[] = [];
  for (const b of blocks) {
    if (b.kind === 'h') out.push(`${'#'.repeat(b.level)} ${b.text}`);
    else if (b.kind === 'p') out.push(b.text);
    else if (b.kind === 'list') out.push(b.items.map((i) => `- ${i}`).join('\n'));
    else if (b.kind === 'code') out.push('```\n' + b.text + '\n```');
    else if (b.kind === 'table') {
      const al = b.align ?? b.head.map((_, i) => (i === 0 ? 'l' : 'r'));
      out.push([`| ${b.head.join(' | ')} |`, `|${al.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`, ...b.rows.map((r) => `| ${r.join(' | ')} |`)].join('\n'));
    } else {
      mkdirSync(assetDir, { recursive: true });
      writeFileSync(join(assetDir, `${b.name}.svg`), b.svg);
      out.push(`![${b.caption ?? b.name}](${assetLink}/${b.name}.svg)` + (b.caption ? `\n\n*${b.caption}*` : ''));
    }
  }
  return out.join('\n\n') + '\n';
}

/** Inline Markdown of our own text (`code`, **bold**) as HTML. */
function inline(s: string): string {
  return escapeXml(s).replace(/`([^`]+)`/g, '<code>$1</code>').replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>');
}

/** A self-contained HTML page (inline SVG figures). */
export function renderHtml(blocks: Block[], title: string): string {
  const body: string[] = [];
  for (const b of blocks) {
    if (b.kind === 'h') body.push(`<h${b.level}>${inline(b.text)}</h${b.level}>`);
    else if (b.kind === 'p') body.push(`<p>${inline(b.text)}</p>`);
    else if (b.kind === 'list') body.push(`<ul>${b.items.map((i) => `<li>${inline(i)}</li>`).join('')}</ul>`);
    else if (b.kind === 'code') body.push(`<pre>${escapeXml(b.text)}</pre>`);
    else if (b.kind === 'table') {
      const al = b.align ?? b.head.map((_, i) => (i === 0 ? 'l' : 'r'));
      const cell = (tag: string, s: string, i: number) => `<${tag} style="text-align:${al[i] === 'r' ? 'right' : 'left'}">${inline(s)}</${tag}>`;
      body.push(`<table><thead><tr>${b.head.map((h, i) => cell('th', h, i)).join('')}</tr></thead><tbody>${b.rows.map((r) => `<tr>${r.map((c, i) => cell('td', c, i)).join('')}</tr>`).join('')}</tbody></table>`);
    } else body.push(`<figure>${b.svg.replace(/^<\?xml[^>]*>\s*/, '')}${b.caption ? `<figcaption>${inline(b.caption)}</figcaption>` : ''}</figure>`);
  }
  const css = 'body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222;line-height:1.5}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px}th{background:#f4f4f4}figure{margin:1.5em 0}figcaption{color:#555;font-size:90%}code,pre{background:#f6f6f6;padding:1px 4px}pre{padding:8px;overflow-x:auto}svg{max-width:100%;height:auto}';
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title><style>${css}</style></head>\n<body>\n${body.join('\n')}\n</body></html>\n`;
}

/**
 * Writes `path` (.md or .html): both forms are written side by side (report.md + report.html,
 * figures under <name>-figures/). Returns the two paths.
 */
export function writeReport(path: string, blocks: Block[], title: string): { markdown: string; html: string } {
  const base = path.replace(/\.(md|html?)$/i, '');
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const assets = `${basename(base)}-figures`;
  const markdown = `${base}.md`, html = `${base}.html`;
  writeFileSync(markdown, renderMarkdown(blocks, join(dir, assets), assets));
  writeFileSync(html, renderHtml(blocks, title));
  return { markdown, html };
}

// ---- report sections -------------------------------------------------------------------------------

interface LogLine { split: string; step: number; tokens: number; [k: string]: unknown }

/** Lines of a trainer's metrics.jsonl. */
export function readMetricsLog(path: string): LogLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as LogLine);
}

/** Training curves (loss, FVU, L0, dead fraction against tokens) from a metrics.jsonl. */
export function trainingBlocks(logPath: string, name = 'training'): Block[] {
  const lines = readMetricsLog(logPath);
  const train = lines.filter((l) => l.split === 'train');
  const val = lines.filter((l) => l.split === 'val');
  if (train.length < 2) return [];
  const series = (ls: LogLine[], key: string) => ({ x: ls.map((l) => l.tokens), y: ls.map((l) => Number(l[key])) });
  const blocks: Block[] = [
    { kind: 'figure', name: `${name}-fvu`, caption: 'Fraction of variance unexplained while training (log scale): training batches and held-out validation rows.', svg: lineChart({
      title: 'FVU', xLabel: 'tokens', yLabel: 'FVU', logY: true,
      series: [{ name: 'train batches', ...series(train, 'fvu') }, ...(val.length ? [{ name: 'validation', ...series(val, 'fvu') }] : [])],
    }) },
    { kind: 'figure', name: `${name}-l0-dead`, caption: 'Active latents per token (L0) and the fraction of dead latents.', svg: lineChart({
      title: 'L0 and dead latents', xLabel: 'tokens',
      series: [{ name: 'L0', ...series(train, 'l0') }, { name: 'dead fraction × 100', x: train.map((l) => l.tokens), y: train.map((l) => 100 * Number(l.deadFraction)) }],
    }) },
  ];
  return blocks;
}

/** The metrics table (and recovery) of an evaluation as a block. */
export function metricsBlocks(m: SaeMetrics, rec: FeatureRecovery | null, name = 'eval'): Block[] {
  const rows: string[][] = [
    ['tokens evaluated', num(m.tokens)],
    ['L0 (active latents per token)', num(m.l0, 2)],
    ['FVU (fraction of variance unexplained)', num(m.fvu)],
    ['explained variance', pct(m.explainedVariance, 2)],
    ['cosine(x, x̂)', num(m.cosine)],
    ['‖x̂‖ / ‖x‖', num(m.normRatio)],
    ['relative reconstruction bias', num(m.relativeReconstructionBias)],
    ['dead latents', `${num(m.deadLatents)} (${pct(m.deadFraction)})`],
    ['dense latents (> 10% of tokens)', `${num(m.denseLatents)} (${pct(m.denseFraction)})`],
    ['decoder mean max cosine', num(m.decoderMeanMaxCosine)],
  ];
  if (rec) {
    rows.push(['true features: mean max cosine', num(rec.meanMaxCosine)]);
    rows.push([`true features recovered (cos ≥ ${rec.threshold})`, `${rec.recovered} / ${rec.perFeature.length} (${pct(rec.fractionRecovered)})`]);
  }
  const blocks: Block[] = [{ kind: 'table', head: ['metric', 'value'], rows }];
  const h = m.densityHistogram;
  blocks.push({ kind: 'figure', name: `${name}-density`, caption: `Latent firing frequencies (log10 of the fraction of tokens; ${h.dead} dead latents not shown).`, svg: histogram({ title: 'Latent density', xLabel: 'log10 density', edges: h.edges, counts: h.counts }) });
  if (rec) {
    blocks.push({ kind: 'figure', name: `${name}-recovery`, caption: 'For each true feature, the best cosine similarity with any learned decoder direction.', svg: histogram({ title: 'Best cosine per true feature', xLabel: 'max cosine', values: rec.perFeature, bins: 25 }) });
  }
  return blocks;
}

/** The dark-matter analysis as report blocks. */
export function darkMatterBlocks(a: DarkMatterAnalysis, plots: DarkMatterPlotData | null): Block[] {
  const blocks: Block[] = [
    { kind: 'p', text: `The SAE error e = x − x̂ is regressed linearly on the input x (least squares fitted on ${num(Math.round(a.tokens * a.fitFraction))} tokens, scored on the other ${num(a.tokens - Math.round(a.tokens * a.fitFraction))}). What a linear map predicts is "linear dark matter"; the rest, e − xW, is the nonlinear error.` },
    {
      kind: 'table',
      head: ['SAE', 'latents', 'L0', 'FVU', 'vector R² of e', 'R² of ‖e‖', 'R² of ‖e‖²', 'FVU of x̂ + xW', 'nonlinear share of error variance'],
      rows: a.saes.map((s) => [s.name, num(s.dSae), num(s.l0, 2), num(s.fvu), num(s.report.vectorR2), num(s.report.normR2), num(s.report.normSqR2), num(s.report.fvuLinearCorrected), pct(s.report.nonlinearVarianceShare)]),
    },
    {
      kind: 'p',
      text: `Definitions (${a.saes[0]?.report.intercept ? 'fits with an intercept' : 'fits without an intercept, as Engels et al.'}): vector R² = ${a.saes[0]?.report.definitions.vectorR2 ?? ''}; R² of ‖e‖ = ${a.saes[0]?.report.definitions.normR2 ?? ''}; R² of ‖e‖² = ${a.saes[0]?.report.definitions.normSqR2 ?? ''}.`,
    },
  ];
  if (a.scaling) {
    blocks.push({ kind: 'h', level: 3, text: 'Per-token error scaling across widths' });
    blocks.push({ kind: 'p', text: 'How well the per-token error norm of a wider SAE is predicted from a narrower one\'s (linear fit), and how much adding the narrower SAE\'s nonlinear-error norm helps.' });
    blocks.push({ kind: 'table', head: ['narrow → wide', 'R² from ‖e‖', 'R² adding ‖e_nl‖', 'gain'], rows: a.scaling.map((p) => [`${p.smallWidth} → ${p.largeWidth}`, num(p.r2), num(p.r2WithNonlinear), num(p.gain)]) });
  }
  if (a.pursuit) {
    const p = a.pursuit;
    blocks.push({ kind: 'h', level: 3, text: 'Inference-time optimisation' });
    blocks.push({ kind: 'p', text: `Gradient pursuit with the ${a.primary} decoder at the same L0 (${p.l0}) on ${num(p.tokens)} held-out tokens: FVU ${num(p.fvuPursuit)} against the SAE encoder's ${num(p.fvuSae)} (${p.fvuPursuit < p.fvuSae ? `pursuit is ${num((1 - p.fvuPursuit / p.fvuSae) * 100, 1)}% lower: part of the error is the encoder's, not the dictionary's` : 'the encoder is at least as good as pursuit with this dictionary'}).` });
  }
  if (a.components) {
    const c = a.components;
    blocks.push({ kind: 'h', level: 3, text: 'Learning the error components' });
    blocks.push({ kind: 'p', text: `TopK SAEs (${c.linear.dSae} latents, k = ${c.linear.k}, ${num(c.linear.tokens)} tokens each) trained on the linear and on the nonlinear part of the ${a.primary} error; FVU on held-out tokens, relative to each component's own variance.` });
    // Shares of the error variance that add up: the nonlinear part's variance over the error's, and
    // the rest, explained by the linear map (on held-out tokens var(xW) alone can differ: the two
    // parts are correlated out of sample).
    blocks.push({ kind: 'table', head: ['component', 'share of error variance (held out)', 'FVU of an SAE trained on it'], rows: [['linear (xW)', pct(1 - c.nonlinear.varianceShare), num(c.linear.fvu)], ['nonlinear (e − xW)', pct(c.nonlinear.varianceShare), num(c.nonlinear.fvu)]] });
  }
  if (plots) {
    blocks.push({ kind: 'figure', name: 'dark-matter-r2', caption: `R² of each error dimension predicted linearly from x (${a.primary}).`, svg: histogram({ title: 'Per-dimension R² of the error', xLabel: 'R²', values: plots.r2ByDim.filter(Number.isFinite), bins: 20 }) });
    const step = Math.max(1, Math.ceil(plots.errorNorms.length / 1500));
    const points = [];
    for (let t = 0; t < plots.errorNorms.length; t += step) points.push({ x: plots.errorNorms[t]!, y: plots.nonlinearNorms[t]! });
    blocks.push({ kind: 'figure', name: 'dark-matter-norms', caption: 'Per token: the error norm against the norm of its nonlinear part (points near the diagonal are mostly nonlinear error).', svg: scatter({ title: 'Error norm vs nonlinear error norm', xLabel: '‖e‖', yLabel: '‖e − xW‖', points, radius: 2 }) });
    if (a.saes.length > 1) {
      blocks.push({ kind: 'figure', name: 'dark-matter-widths', caption: 'FVU of each SAE and of its linear correction x̂ + xW.', svg: barChart({ title: 'FVU by width', xLabel: 'latents', categories: a.saes.map((s) => String(s.dSae)), series: [{ name: 'SAE', values: a.saes.map((s) => s.fvu) }, { name: 'SAE + linear', values: a.saes.map((s) => s.report.fvuLinearCorrected) }] }) });
    }
  }
  return blocks;
}

/** JSON with NaN/Infinity as null. */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x instanceof Float32Array || x instanceof Float64Array ? Array.from(x) : x), 2);
}
