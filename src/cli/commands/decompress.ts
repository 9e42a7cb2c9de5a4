/**
 * `aelab decompress FILE.aelc --model DIR --out IMG.png [--overwrite]` — decodes an .aelc file
 * written by `aelab compress` with the same WaLLoC model (the file records the model's hash; a
 * file from another model, a truncated or corrupt file is an error naming the file and the fault)
 * and writes the image as an 8-bit PNG, atomically; an existing file is replaced only with
 * --overwrite. A NeRV video file (`aelab train nerv`'s video.nerv, recognised by its magic bytes)
 * needs no --model: `aelab decompress video.nerv --out frames.npy` (or a .png grid of the frames).
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../core/io/index.js';
import { encodePng } from '../../data/png.js';
import { imageBytes } from '../../models/walloc.js';
import { decodeNeRVFileTo, isNeRVFile } from '../../models/nerv.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { checkOut, loadCodec } from './compress.js';

const spec: FlagSpec = {
  model: { type: 'string', help: 'the WaLLoC model folder the file was compressed with (required for .aelc; a .nerv video needs none)' },
  out: { type: 'string', help: 'the PNG file to write (required; a .nerv video: frames .npy [T, C, H, W] or a .png grid)' },
  overwrite: { type: 'boolean', default: false, help: 'replace an existing --out file' },
  help: { type: 'boolean', help: 'show this help' },
};

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs('decompress', argv, spec);
  if (flags.help) {
    process.stdout.write(helpText('decompress FILE.aelc', 'decode an .aelc file with its WaLLoC model and write a PNG', spec));
    return 0;
  }
  const [file, ...extra] = positionals;
  if (file === undefined) throw new UsageError("aelab decompress: expected an .aelc file: 'aelab decompress IMG.aelc --model DIR --out IMG.png'");
  if (extra.length) throw new UsageError(`aelab decompress: expected one file, got extra argument(s): ${extra.join(' ')}`);
  if (!existsSync(file) || statSync(file).isDirectory()) throw new UsageError(`aelab decompress: ${file} does not exist or is not a file`);
  const outPath = checkOut('decompress', flags.out as string | undefined, !!flags.overwrite, 'image.png');
  const buf = readFileSync(file);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  if (isNeRVFile(bytes)) {
    mkdirSync(dirname(outPath), { recursive: true });
    process.stdout.write(decodeNeRVFileTo(bytes, file, outPath) + '\n');
    return 0;
  }
  const model = loadCodec('decompress', flags.model as string | undefined);
  const t0 = performance.now();
  const x = model.decompress(bytes, file);
  const ms = performance.now() - t0;
  const img = imageBytes(x);
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileAtomic(outPath, [encodePng({ width: img.width, height: img.height, channels: img.channels as 1 | 3, data: img.data })]);
  process.stdout.write(`${file} (${bytes.length} bytes, ${((bytes.length * 8) / (img.width * img.height)).toFixed(4)} bpp) → ${flags.out}: ${img.width}×${img.height}, ${img.channels} channel${img.channels > 1 ? 's' : ''}, decoded in ${ms.toFixed(0)} ms\n`);
  return 0;
}
