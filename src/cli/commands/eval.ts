/**
 * `aelab eval sae <folder> --data acts [--truth features.npy|superposition-folder]` — metrics of
 * a saved SAE (any supported format) on activation rows: a readable table on stdout and, with
 * --json, the same as JSON (with feature recovery when --truth is given).
 */
import { writeFileSync } from 'node:fs';
import { evaluateSaeFolder, openDataArg } from '../../sae/report.js';
import { formatMetricsTable, metricsToJson } from '../../sae/metrics.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';

const spec: FlagSpec = {
  data: { type: 'string', help: 'activations (.npy, .safetensors, shard folder or a superposition folder) (required)' },
  tensor: { type: 'string', help: 'tensor name inside .safetensors files' },
  truth: { type: 'string', help: 'true features: an [n, d] .npy or a superposition folder (adds feature recovery)' },
  threshold: { type: 'number', default: 0.9, help: 'cosine at which a true feature counts as recovered' },
  tokens: { type: 'number', default: 16384, help: 'evaluate at most this many rows' },
  'val-fraction': { type: 'number', default: 0.05, help: 'evaluate the last fraction of rows (the trainer\'s validation split); 0: from row 0' },
  json: { type: 'string', help: "write the metrics as JSON to this file ('-' for stdout instead of the table)" },
  help: { type: 'boolean', help: 'show this help' },
};

const SUMMARY = 'metrics of a saved SAE (L0, FVU, dead/dense latents, …) and feature recovery with --truth';

export async function run(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (!kind || kind === '--help' || kind === '-h') {
    process.stdout.write(helpText('eval sae <folder>', SUMMARY, spec));
    return kind ? 0 : 2;
  }
  if (kind !== 'sae') throw new UsageError(`aelab eval: '${kind}' models are not served by 'aelab eval' yet; only 'aelab eval sae <folder>' is`);
  const { flags, positionals } = parseArgs('eval sae', rest, spec);
  if (flags.help) {
    process.stdout.write(helpText('eval sae <folder>', SUMMARY, spec));
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`aelab eval sae: expected one SAE folder, got ${positionals.length} (see 'aelab eval sae --help')`);
  if (!flags.data) throw new UsageError('aelab eval sae: --data is required');
  const vf = flags['val-fraction'] as number;
  if (!(vf >= 0 && vf < 1)) throw new UsageError(`aelab eval sae: --val-fraction must be in [0, 1), got ${vf}`);
  const src = openDataArg(flags.data as string, flags.tensor as string | undefined);
  try {
    const r = evaluateSaeFolder(positionals[0]!, src, {
      tokens: flags.tokens as number, valFraction: vf, truth: flags.truth as string | undefined, threshold: flags.threshold as number,
    });
    const json = metricsToJson(r.metrics, r.recovery ?? undefined);
    if (flags.json === '-') process.stdout.write(json + '\n');
    else {
      process.stdout.write(`${positionals[0]} (${r.weights.arch}, d_in ${r.weights.dIn}, d_sae ${r.weights.dSae}${r.weights.k ? `, k ${r.weights.k}` : ''}) on rows [${r.start}, ${r.start + r.metrics.tokens}) of ${flags.data}\n`);
      process.stdout.write(formatMetricsTable(r.metrics, r.recovery ?? undefined) + '\n');
      if (flags.json) {
        writeFileSync(flags.json as string, json + '\n');
        process.stdout.write(`JSON written to ${flags.json}\n`);
      }
    }
    return 0;
  } finally {
    src.close();
  }
}
