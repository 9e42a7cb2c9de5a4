/**
 * `aelab convert <in> <out> --to aelab|saelens|sparsify` — re-save an SAE folder in another
 * format. The input format is detected (SAELens: cfg.json + sae_weights.safetensors; sparsify:
 * cfg.json + sae.safetensors; aelab is SAELens plus aelab.json).
 */
import { detectSaeFormat } from '../../sae/interop.js';
import { SAE_FOLDER_FORMATS, loadSaeFolder, saveSaeFolder, type SaeFolderFormat } from '../../sae/convert.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';

const spec: FlagSpec = {
  to: { type: 'string', help: 'output format: aelab | saelens | sparsify (required)' },
  dtype: { type: 'string', default: 'F32', help: 'stored tensor type: F32 | F16 | BF16' },
  help: { type: 'boolean', help: 'show this help' },
};

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs('convert', argv, spec);
  if (flags.help) {
    process.stdout.write(helpText('convert <in> <out>', 'convert an SAE folder between formats (input format detected)', spec));
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError(`aelab convert: expected <in> <out> folders, got ${positionals.length} argument(s) (see 'aelab convert --help')`);
  const to = flags.to as string | undefined;
  if (!to || !SAE_FOLDER_FORMATS.includes(to as SaeFolderFormat)) throw new UsageError(`aelab convert: --to must be one of ${SAE_FOLDER_FORMATS.join(', ')}, got ${to === undefined ? 'nothing' : `'${to}'`}`);
  const dtype = flags.dtype as string;
  if (!['F32', 'F16', 'BF16'].includes(dtype)) throw new UsageError(`aelab convert: --dtype must be F32, F16 or BF16, got '${dtype}'`);
  const [input, output] = positionals as [string, string];
  const from = detectSaeFormat(input);
  const w = loadSaeFolder(input);
  saveSaeFolder(output, w, to as SaeFolderFormat, { convertedFrom: { path: input, format: w.meta.aelabFile ? 'aelab' : from } }, { dtype: dtype as 'F32' | 'F16' | 'BF16' });
  process.stdout.write(`converted ${input} (${w.meta.aelabFile ? 'aelab' : from}, ${w.arch}, d_in ${w.dIn}, d_sae ${w.dSae}${w.k ? `, k ${w.k}` : ''}) → ${output} (${to}, ${dtype})\n`);
  return 0;
}
