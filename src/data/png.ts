/**
 * PNG encode and decode for 8-bit images (PNG specification, ISO/IEC 15948).
 *
 * Layout: 8-byte signature, then chunks [length u32 BE][type 4 ASCII][data][CRC-32 of type+data].
 * IHDR gives width, height, bit depth, colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha,
 * 6 RGBA) and interlace method; IDAT chunks concatenated form one zlib stream of scanlines, each
 * prefixed by a filter byte. With bpp = bytes per pixel, a = byte bpp to the left, b = byte above,
 * c = byte above-left (0 outside the image), a filtered byte is Raw(x) − predictor mod 256:
 *   0 None: 0;  1 Sub: a;  2 Up: b;  3 Average: ⌊(a + b) / 2⌋;  4 Paeth: whichever of a, b, c is
 *   closest to p = a + b − c (ties prefer a, then b).
 *
 * Supported for decoding: bit depth 8, colour types 0, 2, 4, 6, no interlacing; anything else is
 * rejected with an error saying what was found. The encoder picks, per row, the filter whose
 * output has the smallest sum of |signed bytes| (the usual heuristic), and compresses with
 * node:zlib.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { deflateSync, inflateSync } from 'node:zlib';
import { DataError } from './csv.js';

export interface PngImage {
  width: number;
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** Row-major [height, width, channels] bytes. */
  data: Uint8Array;
}

const SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);
const CHANNELS_TO_TYPE: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };
const TYPE_TO_CHANNELS: Record<number, 1 | 2 | 3 | 4> = { 0: 1, 4: 2, 2: 3, 6: 4 };

let crcTable: Uint32Array | undefined;

/**
 * CRC-32 as PNG and zip use it: reflected polynomial 0xEDB88320, initial value and final XOR
 * 0xFFFFFFFF. Pass the previous result as `crc` to continue over several buffers.
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  if (pb <= pc) return b;
  return c;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encodes an 8-bit image as PNG bytes. */
export function encodePng(img: PngImage, options: { level?: number } = {}): Uint8Array {
  const { width, height, channels, data } = img;
  if (!(Number.isInteger(width) && width >= 1 && Number.isInteger(height) && height >= 1)) {
    throw new DataError(`encodePng: width and height must be positive integers, got ${width}×${height}`);
  }
  if (!(channels in CHANNELS_TO_TYPE)) throw new DataError(`encodePng: channels must be 1, 2, 3 or 4, got ${channels}`);
  const stride = width * channels;
  if (data.length !== stride * height) throw new DataError(`encodePng: expected ${height}×${width}×${channels} = ${stride * height} bytes, got ${data.length}`);
  const bpp = channels;
  const raw = new Uint8Array((stride + 1) * height);
  const cand = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const prev = y > 0 ? row - stride : -1;
    let bestType = 0;
    let bestSum = Infinity;
    const best = new Uint8Array(stride);
    for (let f = 0; f < 5; f++) {
      let sum = 0;
      for (let x = 0; x < stride; x++) {
        const a = x >= bpp ? data[row + x - bpp] : 0;
        const b = prev >= 0 ? data[prev + x] : 0;
        const c = prev >= 0 && x >= bpp ? data[prev + x - bpp] : 0;
        const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : paeth(a, b, c);
        const v = (data[row + x] - pred) & 0xff;
        cand[x] = v;
        sum += v < 128 ? v : 256 - v;
      }
      if (sum < bestSum) { bestSum = sum; bestType = f; best.set(cand); }
    }
    raw[y * (stride + 1)] = bestType;
    raw.set(best, y * (stride + 1) + 1);
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = CHANNELS_TO_TYPE[channels];
  // ihdr[10..12] = compression 0, filter method 0, interlace 0.
  const z = deflateSync(raw, { level: options.level ?? 6 });
  const idat = new Uint8Array(z.buffer, z.byteOffset, z.byteLength);
  const parts = [SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Decodes PNG bytes; `name` is used in error messages. */
export function decodePng(buf: Uint8Array, name = '<buffer>'): PngImage {
  const fail = (msg: string): never => { throw new DataError(`${name}: ${msg}`); };
  if (buf.length < 8 || !SIGNATURE.every((b, i) => buf[i] === b)) fail('not a PNG file (bad signature)');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 8;
  let width = 0, height = 0, colorType = -1;
  const idat: Uint8Array[] = [];
  let sawEnd = false;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) fail(`truncated chunk header at byte ${pos}`);
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]);
    if (pos + 12 + len > buf.length) fail(`chunk ${type} at byte ${pos} runs past the end of the file`);
    const body = buf.subarray(pos + 8, pos + 8 + len);
    const want = dv.getUint32(pos + 8 + len);
    if (crc32(buf.subarray(pos + 4, pos + 8 + len)) !== want) fail(`CRC mismatch in chunk ${type} at byte ${pos}`);
    if (type === 'IHDR') {
      if (len !== 13) fail(`IHDR has length ${len}, expected 13`);
      const h = new DataView(body.buffer, body.byteOffset, 13);
      width = h.getUint32(0);
      height = h.getUint32(4);
      const depth = body[8];
      colorType = body[9];
      if (width === 0 || height === 0) fail(`zero image size ${width}×${height}`);
      if (colorType === 3) fail('palette (colour type 3) images are not supported; use 8-bit gray, gray+alpha, RGB or RGBA');
      if (!(colorType in TYPE_TO_CHANNELS)) fail(`invalid colour type ${colorType}`);
      if (depth !== 8) fail(`bit depth ${depth} is not supported; only 8-bit images are`);
      if (body[10] !== 0 || body[11] !== 0) fail(`unknown compression/filter method ${body[10]}/${body[11]}`);
      if (body[12] !== 0) fail('interlaced (Adam7) images are not supported');
    } else if (type === 'IDAT') {
      if (colorType < 0) fail('IDAT before IHDR');
      idat.push(body);
    } else if (type === 'IEND') {
      sawEnd = true;
      break;
    } else if ((buf[pos + 4] & 0x20) === 0) {
      // Upper-case first letter marks a critical chunk we must understand (PLTE only matters for palettes).
      if (type !== 'PLTE') fail(`unsupported critical chunk ${type}`);
    }
    pos += 12 + len;
  }
  if (colorType < 0) fail('missing IHDR chunk');
  if (idat.length === 0) fail('missing IDAT chunk');
  if (!sawEnd) fail('missing IEND chunk (truncated file?)');
  let raw: Uint8Array;
  try {
    const all = new Uint8Array(idat.reduce((t, c) => t + c.length, 0));
    let o = 0;
    for (const c of idat) { all.set(c, o); o += c.length; }
    const z = inflateSync(all);
    raw = new Uint8Array(z.buffer, z.byteOffset, z.byteLength);
  } catch (e) {
    return fail(`corrupt image data (${(e as Error).message})`);
  }
  const channels = TYPE_TO_CHANNELS[colorType];
  const bpp = channels;
  const stride = width * channels;
  if (raw.length < (stride + 1) * height) fail(`image data holds ${raw.length} bytes, expected ${(stride + 1) * height}`);
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp] : 0;
      const b = y > 0 ? out[prev + x] : 0;
      const c = y > 0 && x >= bpp ? out[prev + x - bpp] : 0;
      let pred: number;
      switch (f) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) >> 1; break;
        case 4: pred = paeth(a, b, c); break;
        default: return fail(`row ${y} has unknown filter type ${f}`);
      }
      out[row + x] = (raw[src + x] + pred) & 0xff;
    }
  }
  return { width, height, channels, data: out };
}

export function writePng(path: string, img: PngImage): void {
  writeFileSync(path, encodePng(img));
}

export function readPng(path: string): PngImage {
  let buf: Uint8Array;
  try {
    const b = readFileSync(path);
    buf = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new DataError(`${path}: cannot read the file (${(e as Error).message})`);
  }
  return decodePng(buf, path);
}
