/**
 * `aelab analyze dark-matter --sae a [--sae b …] --data acts --out report.md` — the error
 * decomposition of Engels et al. (2024), "Decomposing the Dark Matter of Sparse Autoencoders":
 * linear predictability of the SAE error, its nonlinear part, per-token scaling across widths,
 * gradient pursuit at the SAE's L0 and SAEs trained on the error components.
 * Writes report.md + report.html (+ SVG figures) and report.json.
 */
import { writeFileSync } from 'node:fs';
import { splitRows } from '../../sae/activations.js';
import { loadSaeFolder } from '../../sae/convert.js';
import { analyseDarkMatter, darkMatterBlocks, openDataArg, toJson, writeReport, type Block } from '../../sae/report.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';

const spec: FlagSpec = {
  sae: { type: 'string', help: 'SAE folder; repeat (or comma-separate) for several widths (required)' },
  data: { type: 'string', help: 'activations (.npy, .safetensors, shard folder, superposition folder) (required)' },
  tensor: { type: 'string', help: 'tensor name inside .safetensors files' },
  out: { type: 'string', help: 'report path, e.g. runs/dm/report.md (an .html and a .json are written next to it) (required)' },
  tokens: { type: 'number', default: 8192, help: 'tokens analysed (from the end of the data: the held-out split)' },
  'val-fraction': { type: 'number', default: 0.05, help: 'take the tokens from the last fraction of rows; 0: from row 0' },
  'fit-fraction': { type: 'number', default: 0.5, help: 'fraction of the analysed tokens used to fit the linear maps' },
  'pursuit-tokens': { type: 'number', default: 1000, help: 'tokens for the gradient-pursuit comparison' },
  'component-tokens': { type: 'number', default: 200000, help: 'training tokens of each error-component SAE (0: skip)' },
  seed: { type: 'number', default: 0, help: 'seed of the component SAEs' },
  intercept: { type: 'boolean', help: 'fit the linear maps with an intercept (default: none, as Engels et al.)' },
  'no-intercept': { type: 'boolean', help: 'fit without an intercept (the default; e ≈ xW, ‖e‖ ≈ x·w)' },
  help: { type: 'boolean', help: 'show this help' },
};

const SUMMARY = 'dark-matter analysis of SAE errors (Engels et al. 2024)';

export async function run(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (!kind || kind === '--help' || kind === '-h') {
    process.stdout.write(`aelab analyze <dark-matter|layer-skip|attention-sae|probe> [flags]: 'aelab analyze <name> --help' describes each\n\n` + helpText('analyze dark-matter', SUMMARY, spec));
    return kind ? 0 : 2;
  }
  if (kind === 'layer-skip' || kind === 'attention-sae' || kind === 'probe') return (await import(`./analyze-${kind}.js`) as { run(a: string[]): Promise<number> }).run(rest);
  if (kind !== 'dark-matter') throw new UsageError(`aelab analyze: unknown analysis '${kind}' (available: dark-matter, layer-skip, attention-sae, probe)`);
  // --sae may repeat: collect every occurrence before the generic parser keeps only the last.
  const saes: string[] = [];
  const others: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--sae') {
      const v = rest[++i];
      if (v === undefined) throw new UsageError('aelab analyze dark-matter: flag --sae needs a value');
      saes.push(...v.split(',').filter(Boolean));
    } else if (a.startsWith('--sae=')) saes.push(...a.slice(6).split(',').filter(Boolean));
    else others.push(a);
  }
  const { flags, positionals } = parseArgs('analyze dark-matter', others, spec);
  if (flags.help) {
    process.stdout.write(helpText('analyze dark-matter', SUMMARY, spec));
    return 0;
  }
  if (positionals.length) throw new UsageError(`aelab analyze dark-matter: unexpected argument '${positionals[0]}'`);
  if (saes.length === 0) throw new UsageError('aelab analyze dark-matter: give at least one --sae folder');
  if (!flags.data) throw new UsageError('aelab analyze dark-matter: --data is required');
  if (!flags.out) throw new UsageError('aelab analyze dark-matter: --out is required (e.g. --out runs/dark-matter/report.md)');
  const ff = flags['fit-fraction'] as number;
  if (!(ff > 0 && ff < 1)) throw new UsageError(`aelab analyze dark-matter: --fit-fraction must be in (0, 1), got ${ff}`);

  // Load the SAEs and check the data's width against them before any work.
  const inputs = saes.map((p) => ({ name: p, weights: loadSaeFolder(p) }));
  const dIn = inputs[0]!.weights.dIn;
  for (const s of inputs) {
    if (s.weights.dIn !== dIn) throw new UsageError(`aelab analyze dark-matter: the --sae folders differ in d_in: ${inputs[0]!.name} takes ${dIn}, ${s.name} takes ${s.weights.dIn}`);
  }
  const src = openDataArg(flags.data as string, flags.tensor as string | undefined);
  let x: Float32Array;
  try {
    if (src.dIn !== dIn) {
      throw new UsageError(`aelab analyze dark-matter: --data ${flags.data} has rows of width ${src.dIn}, but the SAE ${inputs[0]!.name} takes d_in = ${dIn}`);
    }
    const vf = flags['val-fraction'] as number;
    const span = vf > 0 ? splitRows(src.rows, { valFraction: vf }).val : { start: 0, count: src.rows };
    const count = Math.min(span.count, flags.tokens as number);
    if (count < 8) throw new UsageError(`aelab analyze dark-matter: only ${count} tokens to analyse; use more data, a larger --val-fraction or --val-fraction 0`);
    x = src.readRows(span.start, count).slice();
  } finally {
    src.close();
  }
  if (flags.intercept && flags['no-intercept']) throw new UsageError('aelab analyze dark-matter: give --intercept or --no-intercept, not both');
  const intercept = flags.intercept === true;
  const ct = flags['component-tokens'] as number;
  const fitTokens = Math.floor((x.length / dIn) * ff);
  if (fitTokens < 4 * dIn) {
    process.stderr.write(`warning: only ${fitTokens} tokens fit the ${dIn}×${dIn} linear maps (fewer than 4·d_in = ${4 * dIn}); the R² values will be unreliable (overfit) — use more data, more --tokens or a larger --val-fraction\n`);
  }
  process.stderr.write(`analysing ${inputs.length} SAE(s) on ${x.length / inputs[0]!.weights.dIn} tokens${ct > 0 ? ` (and training two component SAEs on ${ct} tokens each)` : ''}…\n`);
  const { analysis, plots } = analyseDarkMatter(inputs, x, inputs[0]!.weights.dIn, {
    fitFraction: ff, intercept, pursuitTokens: flags['pursuit-tokens'] as number, components: ct > 0 ? { tokens: ct, seed: flags.seed as number } : null,
  });
  const blocks: Block[] = [{ kind: 'h', level: 1, text: 'Dark matter of sparse autoencoder errors' }, ...darkMatterBlocks(analysis, plots)];
  const out = flags.out as string;
  const files = writeReport(out, blocks, 'SAE dark matter');
  const jsonPath = out.replace(/\.(md|html?)$/i, '') + '.json';
  writeFileSync(jsonPath, toJson(analysis) + '\n');
  const p = analysis.saes[analysis.saes.length - 1]!;
  process.stdout.write(
    `${p.name}: FVU ${p.fvu.toFixed(4)}; the error is ${((1 - p.report.nonlinearVarianceShare) * 100).toFixed(1)}% linearly predictable from x ` +
      `(${intercept ? 'fits with an intercept' : 'fits without an intercept, as Engels et al.'}: vector R² ${p.report.vectorR2.toFixed(3)}, ` +
      `R² of ‖e‖ ${p.report.normR2.toFixed(3)}, R² of ‖e‖² ${p.report.normSqR2.toFixed(3)}); FVU of x̂ + xW ${p.report.fvuLinearCorrected.toFixed(4)}\n` +
      `report: ${files.markdown}, ${files.html}; JSON: ${jsonPath}\n`,
  );
  return 0;
}
