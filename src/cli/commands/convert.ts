/**
 * `aelab convert <in> <out> --to aelab|saelens|sparsify [--hook-name h --model-name m …]` — re-save
 * an SAE folder in another format. The input format is detected (SAELens: cfg.json +
 * sae_weights.safetensors; sparsify: cfg.json + sae.safetensors; aelab is SAELens plus aelab.json).
 * SAELens settings that change the maths are honoured on load (folded into the weights when that is
 * exact) or refused; a setting the target format cannot express is refused, never dropped.
 */
import { detectSaeFormat } from '../../sae/interop.js';
import { SAE_FOLDER_FORMATS, loadSaeFolder, saveSaeFolder, type SaeFolderFormat } from '../../sae/convert.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';

const spec: FlagSpec = {
  to: { type: 'string', help: 'output format: aelab | saelens | sparsify (required)' },
  dtype: { type: 'string', default: 'F32', help: 'stored tensor type: F32 | F16 | BF16' },
  'hook-name': { type: 'string', help: "SAELens hook_name to write, e.g. blocks.6.hook_resid_post (sets hook_layer from it)" },
  'model-name': { type: 'string', help: 'SAELens model_name to write, e.g. gpt2' },
  'context-size': { type: 'number', help: 'SAELens context_size to write (tokens per training window)' },
  'dataset-path': { type: 'string', help: 'SAELens dataset_path to write' },
  'scaling-factor': { type: 'number', help: "input scale s of an 'expected_average_only_in' SAELens folder without activation_scaler.json" },
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
  const sf = flags['scaling-factor'] as number | undefined;
  if (sf !== undefined && !(sf > 0)) throw new UsageError(`aelab convert: --scaling-factor must be a positive number, got ${sf}`);
  const cs = flags['context-size'] as number | undefined;
  if (cs !== undefined && !(Number.isInteger(cs) && cs >= 1)) throw new UsageError(`aelab convert: --context-size must be a positive integer, got ${cs}`);
  const w = loadSaeFolder(input, sf !== undefined ? { scalingFactor: sf } : {});
  // Where the SAE attaches: flags override what the input folder said.
  const ctx: Record<string, unknown> = { ...((w.meta.context ?? {}) as Record<string, unknown>) };
  const hook = flags['hook-name'] as string | undefined;
  if (hook !== undefined) {
    if (!hook.trim()) throw new UsageError('aelab convert: --hook-name must not be empty');
    ctx.hook_name = hook;
    delete ctx.hook_layer; // re-derived from the new hook name
    delete ctx.hook_head_index;
  }
  if (flags['model-name'] !== undefined) ctx.model_name = flags['model-name'];
  if (cs !== undefined) ctx.context_size = cs;
  if (flags['dataset-path'] !== undefined) ctx.dataset_path = flags['dataset-path'];
  if (Object.keys(ctx).length) w.meta.context = ctx;
  saveSaeFolder(output, w, to as SaeFolderFormat, { convertedFrom: { path: input, format: w.meta.aelabFile ? 'aelab' : from } }, { dtype: dtype as 'F32' | 'F16' | 'BF16' });
  process.stdout.write(`converted ${input} (${w.meta.aelabFile ? 'aelab' : from}, ${w.arch}, d_in ${w.dIn}, d_sae ${w.dSae}${w.k ? `, k ${w.k}` : ''}) → ${output} (${to}, ${dtype})\n`);
  for (const f of (w.meta.folds ?? []) as string[]) process.stdout.write(`  folded ${f}\n`);
  if (to !== 'sparsify') {
    const missing = ['model_name', 'hook_name', 'context_size', 'dataset_path'].filter((k) => ctx[k] === undefined);
    if (missing.length) process.stderr.write(`warning: cfg.json has no ${missing.join(', ')} (written as null and listed in aelab_unknown_keys); set them with --model-name, --hook-name, --context-size, --dataset-path\n`);
  }
  return 0;
}
