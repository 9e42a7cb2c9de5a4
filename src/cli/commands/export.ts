/**
 * `aelab export onnx MODEL_DIR --out model.onnx [--part encode|decode|reconstruct|score|all]` —
 * writes the SAE, model or detector saved in MODEL_DIR as an ONNX file (opset 17, dynamic batch)
 * that computes what `aelab serve` computes for the folder (see src/serve/onnx.ts). The file is
 * written atomically and an existing file is replaced only with --overwrite.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { writeFileAtomic } from '../../core/io/index.js';
import { ONNX_PARTS, OPSET, OnnxExportError, exportOnnxFolder, type OnnxPart } from '../../serve/onnx.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';

const spec: FlagSpec = {
  out: { type: 'string', help: 'the ONNX file to write, e.g. model.onnx (required)' },
  part: { type: 'string', help: 'which graph: encode | decode | reconstruct | score | all (default: all; detectors: score)' },
  overwrite: { type: 'boolean', default: false, help: 'replace an existing --out file' },
  sparse: { type: 'boolean', default: false, help: 'TopK SAEs: encode outputs values [B, k] and indices [B, k] instead of dense codes [B, d_sae]' },
  'at-mean': { type: 'boolean', default: false, help: 'VAEDetector with samples > 0: export the deterministic z = μ score instead of refusing' },
  help: { type: 'boolean', help: 'show this help' },
};

const FORMATS = ['onnx'];

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs('export', argv, spec);
  if (flags.help) {
    process.stdout.write(helpText('export onnx MODEL_DIR', 'write a saved SAE, model (AE, conv AE, stacked AE, VAE) or detector (PCA, AE, VAE) as an ONNX file', spec));
    return 0;
  }
  const [format, dir, ...extra] = positionals;
  if (format === undefined) throw new UsageError("aelab export: expected a format and a folder: 'aelab export onnx MODEL_DIR --out model.onnx' (see 'aelab export --help')");
  if (!FORMATS.includes(format)) throw new UsageError(`aelab export: unknown format '${format}' (formats: ${FORMATS.join(', ')})`);
  if (dir === undefined) throw new UsageError('aelab export onnx: expected the MODEL_DIR folder to export (an SAE, model or detector folder)');
  if (extra.length) throw new UsageError(`aelab export onnx: expected one MODEL_DIR, got extra argument(s): ${extra.join(' ')}`);
  const out = flags.out as string | undefined;
  if (!out) throw new UsageError('aelab export onnx: --out is required (the .onnx file to write)');
  const part = flags.part as string | undefined;
  if (part !== undefined && !ONNX_PARTS.includes(part as OnnxPart)) throw new UsageError(`aelab export onnx: --part must be one of ${ONNX_PARTS.join(', ')}, got '${part}'`);
  if (!existsSync(dir)) throw new UsageError(`aelab export onnx: MODEL_DIR ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`aelab export onnx: MODEL_DIR ${dir} is not a folder (give the folder holding cfg.json or detector.json)`);
  const outPath = resolve(out);
  if (existsSync(outPath)) {
    if (statSync(outPath).isDirectory()) throw new UsageError(`aelab export onnx: --out ${out} is a folder; give a file name such as ${out.replace(/\/+$/, '')}/model.onnx`);
    if (!flags.overwrite) throw new UsageError(`aelab export onnx: --out ${out} already exists; pass --overwrite to replace it`);
  }
  let e;
  try {
    e = exportOnnxFolder(dir, part as OnnxPart | undefined, { atMean: !!flags['at-mean'], sparse: !!flags.sparse });
  } catch (err) {
    if (err instanceof OnnxExportError) throw new Error(`export onnx: ${err.message.startsWith(dir) ? '' : `${dir}: `}${err.message}${/ graph|part/.test(err.message) && part ? ` (--part ${part})` : ''}${/sparse/.test(err.message) ? ' (--sparse)' : ''}`);
    throw err;
  }
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileAtomic(outPath, [e.bytes]);
  const io = (s: { name: string; shape: (number | string)[] }[]) => s.map((v) => `${v.name} [${v.shape.join(', ')}]`).join(', ');
  process.stdout.write(`exported ${dir} (${e.kind} ${e.type}, part ${e.part}) → ${out} (${e.bytes.length} bytes, ONNX opset ${OPSET})\n  inputs:  ${io(e.inputs)}\n  outputs: ${io(e.outputs)}\n`);
  return 0;
}
