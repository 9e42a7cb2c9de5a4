/**
 * `aelab compress IMG.png --model DIR --out FILE.aelc [--overwrite]` — codes a PNG with a trained
 * WaLLoC codec (src/models/walloc.ts) into an .aelc file (header + rANS payload) and prints its
 * size as the rate: bpp = 8 · file bytes / (width · height). It also decodes the file it wrote and
 * prints the PSNR of that decoded image against the input (the number `aelab decompress` will
 * reproduce exactly). DIR is a model folder (cfg.json) or a run folder holding model/. The file is
 * written atomically; an existing file is replaced only with --overwrite.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../core/io/index.js';
import { loadModel } from '../../models/io.js';
import { WaLLoC, imageBytes, imageTensorFromPng, psnr } from '../../models/walloc.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';

const spec: FlagSpec = {
  model: { type: 'string', help: 'the WaLLoC model folder (cfg.json), or the run folder of `aelab train walloc` (required)' },
  out: { type: 'string', help: 'the .aelc file to write (required)' },
  overwrite: { type: 'boolean', default: false, help: 'replace an existing --out file' },
  help: { type: 'boolean', help: 'show this help' },
};

/** Loads the WaLLoC codec of --model (a model folder or a run folder with model/), or explains why not. */
export function loadCodec(cmd: string, dir: string | undefined): WaLLoC {
  if (!dir) throw new UsageError(`aelab ${cmd}: --model <folder> is required (the model folder of 'aelab train walloc')`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`aelab ${cmd}: --model ${dir} is not a folder`);
  const md = existsSync(join(dir, 'cfg.json')) ? dir : existsSync(join(dir, 'model', 'cfg.json')) ? join(dir, 'model') : null;
  if (!md) throw new UsageError(`aelab ${cmd}: --model ${dir} holds no cfg.json (nor model/cfg.json); give the folder written by 'aelab train walloc'`);
  const m = loadModel(md);
  if (!(m instanceof WaLLoC)) throw new UsageError(`aelab ${cmd}: --model ${md} holds a '${m.type}' model, not a WaLLoC codec (train one with 'aelab train walloc')`);
  return m;
}

/** Refuses an existing --out unless --overwrite, and a folder as --out. */
export function checkOut(cmd: string, out: string | undefined, overwrite: boolean, example: string): string {
  if (!out) throw new UsageError(`aelab ${cmd}: --out is required (the ${example} file to write)`);
  const p = resolve(out);
  if (existsSync(p)) {
    if (statSync(p).isDirectory()) throw new UsageError(`aelab ${cmd}: --out ${out} is a folder; give a file name such as ${out.replace(/\/+$/, '')}/${example}`);
    if (!overwrite) throw new UsageError(`aelab ${cmd}: --out ${out} already exists; pass --overwrite to replace it`);
  }
  return p;
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs('compress', argv, spec);
  if (flags.help) {
    process.stdout.write(helpText('compress IMG.png', 'code a PNG image with a trained WaLLoC codec into an .aelc file; prints bits per pixel (from the file size) and PSNR', spec));
    return 0;
  }
  const [img, ...extra] = positionals;
  if (img === undefined) throw new UsageError("aelab compress: expected an image: 'aelab compress IMG.png --model DIR --out IMG.aelc'");
  if (extra.length) throw new UsageError(`aelab compress: expected one image, got extra argument(s): ${extra.join(' ')}`);
  if (!existsSync(img)) throw new UsageError(`aelab compress: ${img} does not exist`);
  const outPath = checkOut('compress', flags.out as string | undefined, !!flags.overwrite, 'image.aelc');
  const model = loadCodec('compress', flags.model as string | undefined);
  const x = imageTensorFromPng(img, model.config.channels);
  const [, C, H, W] = x.shape as [number, number, number, number];
  const m = 2 ** model.levels;
  if (H % m || W % m) throw new UsageError(`aelab compress: ${img} is ${W}×${H}; the codec (${model.levels} wavelet levels) needs width and height divisible by ${m} (crop or pad the image)`);
  const t0 = performance.now();
  const bytes = model.compress(x);
  const t1 = performance.now();
  const back = model.decompress(bytes, String(flags.out));
  const t2 = performance.now();
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileAtomic(outPath, [bytes]);
  const q = psnr(imageBytes(back).data, imageBytes(x).data, 255);
  const mp = (W * H) / 1e6;
  process.stdout.write(
    `${img} (${W}×${H}, ${C} channel${C > 1 ? 's' : ''}) → ${flags.out}: ${bytes.length} bytes, ` +
    `${((bytes.length * 8) / (W * H)).toFixed(4)} bpp (8 × ${bytes.length} bytes / ${W * H} pixels), PSNR ${q.toFixed(2)} dB\n` +
    `  encode ${(t1 - t0).toFixed(0)} ms (${(mp / ((t1 - t0) / 1000)).toFixed(2)} MP/s), decode ${(t2 - t1).toFixed(0)} ms (${(mp / ((t2 - t1) / 1000)).toFixed(2)} MP/s)\n`,
  );
  return 0;
}
