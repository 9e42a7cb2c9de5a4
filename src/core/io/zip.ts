/**
 * Minimal ZIP container support, enough for .npz files (numpy writes them with Python's zipfile).
 *
 * Read: the End Of Central Directory record (signature 0x06054b50, found by scanning back over
 * at most 65535 + 22 bytes because of the trailing comment) locates the central directory;
 * each central entry (0x02014b50) gives method, CRC-32, sizes and the local header offset; the
 * local header (0x04034b50) is only used to find where the data starts, because writers that
 * stream (bit 3) or force ZIP64 (numpy does) leave its size fields unusable. Methods: 0 stored,
 * 8 deflate. ZIP64 archives (any 0xFFFF / 0xFFFFFFFF field in the EOCD or central directory)
 * are rejected with a clear error; so are encrypted and multi-disk archives.
 *
 * Write: stored or deflated entries with local headers, central directory and EOCD; no ZIP64,
 * so each entry and the archive must stay under 4 GiB and 65535 entries.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { FormatError } from './errors.js';
import { bytesOf } from './fsutil.js';

// ---- CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), table driven ----

let crcTable: Uint32Array | null = null;

function table(): Uint32Array {
  if (crcTable) return crcTable;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  crcTable = t;
  return t;
}

/** CRC-32 of `bytes`; pass a previous result as `crc` to continue a running checksum. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const t = table();
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the compressed bytes within the archive. */
  dataOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

/**
 * Deflate cannot compress better than about 1032:1, so a declared size beyond that ratio is a
 * lie; refusing it bounds what inflating an entry can allocate by the archive's own size.
 */
const MAX_DEFLATE_RATIO = 1032;

/** Lists the entries of a ZIP archive held in memory, validating every offset against its size. */
export function listZip(buf: Uint8Array, file = '<buffer>'): ZipEntry[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const len = buf.length;
  if (len < 22) throw new FormatError(file, 'zip', `file is ${len} bytes, too short to be a ZIP archive`);
  let eocd = -1;
  for (let p = len - 22; p >= Math.max(0, len - 22 - 0xffff); p--) {
    if (dv.getUint32(p, true) === SIG_EOCD && p + 22 + dv.getUint16(p + 20, true) === len) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw new FormatError(file, 'zip', 'not a ZIP archive (no end-of-central-directory record)');
  const disk = dv.getUint16(eocd + 4, true);
  const cdDisk = dv.getUint16(eocd + 6, true);
  const nThisDisk = dv.getUint16(eocd + 8, true);
  const n = dv.getUint16(eocd + 10, true);
  const cdSize = dv.getUint32(eocd + 12, true);
  const cdOffset = dv.getUint32(eocd + 16, true);
  const hasZip64Locator = eocd >= 20 && dv.getUint32(eocd - 20, true) === SIG_ZIP64_LOCATOR;
  if (hasZip64Locator || n === 0xffff || nThisDisk === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw new FormatError(file, 'zip', 'ZIP64 archives are not supported (archive has over 65535 entries or exceeds 4 GiB); re-save in smaller parts');
  }
  if (disk !== 0 || cdDisk !== 0 || nThisDisk !== n) throw new FormatError(file, 'zip', 'multi-disk ZIP archives are not supported');
  if (cdOffset + cdSize > eocd) {
    throw new FormatError(file, 'zip', `central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record at ${eocd}`);
  }
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < n; i++) {
    if (p + 46 > cdEnd || dv.getUint32(p, true) !== SIG_CENTRAL) {
      throw new FormatError(file, 'zip', `central directory entry ${i} at offset ${p} is missing or malformed`);
    }
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    const csize = dv.getUint32(p + 20, true);
    const usize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    const localOff = dv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cdEnd) throw new FormatError(file, 'zip', `central directory entry ${i} runs past the directory`);
    const nameBytes = buf.subarray(p + 46, p + 46 + nameLen);
    // Bit 11 marks a UTF-8 name; otherwise the name is CP437, which matches ASCII for real npz names.
    const name = Buffer.from(nameBytes).toString(flags & 0x800 ? 'utf8' : 'latin1');
    p += 46 + nameLen + extraLen + commentLen;
    if (csize === 0xffffffff || usize === 0xffffffff || localOff === 0xffffffff) {
      throw new FormatError(file, 'zip', `entry '${name}': ZIP64 entries are not supported (entry exceeds 4 GiB)`);
    }
    if (flags & 0x1) throw new FormatError(file, 'zip', `entry '${name}': encrypted entries are not supported`);
    if (method !== 0 && method !== 8) throw new FormatError(file, 'zip', `entry '${name}': compression method ${method} is not supported (only stored and deflate)`);
    if (method === 0 && csize !== usize) throw new FormatError(file, 'zip', `entry '${name}': stored entry has compressed size ${csize} but size ${usize}`);
    if (method === 8 && usize > csize * MAX_DEFLATE_RATIO + 64) {
      throw new FormatError(file, 'zip', `entry '${name}': declared size ${usize} is impossible for ${csize} deflated bytes`);
    }
    if (localOff + 30 > cdOffset || dv.getUint32(localOff, true) !== SIG_LOCAL) {
      throw new FormatError(file, 'zip', `entry '${name}': local header at offset ${localOff} is missing or malformed`);
    }
    const dataOffset = localOff + 30 + dv.getUint16(localOff + 26, true) + dv.getUint16(localOff + 28, true);
    if (dataOffset + csize > cdOffset) {
      throw new FormatError(file, 'zip', `entry '${name}': data [${dataOffset}, ${dataOffset + csize}) runs into the central directory at ${cdOffset}`);
    }
    entries.push({ name, method, crc32: crc, compressedSize: csize, size: usize, dataOffset });
  }
  return entries;
}

/** Returns the uncompressed bytes of `e`, checking size and CRC-32. */
export function extractZipEntry(buf: Uint8Array, e: ZipEntry, file = '<buffer>'): Uint8Array {
  const raw = buf.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
  let out: Uint8Array;
  if (e.method === 0) out = raw;
  else if (e.size === 0) out = new Uint8Array(0);
  else {
    try {
      // maxOutputLength stops a stream that inflates beyond its declared size early.
      out = bytesOf(inflateRawSync(raw, { maxOutputLength: e.size }));
    } catch (err) {
      throw new FormatError(file, 'zip', `entry '${e.name}': deflate data is corrupt or larger than its declared ${e.size} bytes (${(err as Error).message})`);
    }
  }
  if (out.length !== e.size) throw new FormatError(file, 'zip', `entry '${e.name}': inflated to ${out.length} bytes, expected ${e.size}`);
  const c = crc32(out);
  if (c !== e.crc32) {
    throw new FormatError(file, 'crc32', `entry '${e.name}': CRC-32 mismatch (stored ${e.crc32.toString(16).padStart(8, '0')}, computed ${c.toString(16).padStart(8, '0')})`);
  }
  return out;
}

/** Builds a ZIP archive from named byte strings. Deflated when `compress` is true. */
export function buildZip(files: readonly { name: string; data: Uint8Array }[], compress = false): Uint8Array[] {
  if (files.length > 0xfffe) throw new RangeError(`buildZip: ${files.length} entries need ZIP64, which is not supported`);
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.name)) throw new RangeError(`buildZip: duplicate entry name '${f.name}'`);
    seen.add(f.name);
    const name = new TextEncoder().encode(f.name);
    if (name.length > 0xffff) throw new RangeError(`buildZip: entry name too long`);
    const utf8 = /[^\x00-\x7f]/.test(f.name);
    const crc = crc32(f.data);
    const body = compress ? bytesOf(deflateRawSync(f.data)) : f.data;
    if (f.data.length >= 0xffffffff || body.length >= 0xffffffff || offset >= 0xffffffff) {
      throw new RangeError(`buildZip: entry '${f.name}' needs ZIP64 (over 4 GiB), which is not supported`);
    }
    const method = compress ? 8 : 0;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, SIG_LOCAL, true);
    lv.setUint16(4, 20, true); // version needed: 2.0
    lv.setUint16(6, utf8 ? 0x800 : 0, true);
    lv.setUint16(8, method, true);
    lv.setUint16(10, 0, true); // time 00:00:00
    lv.setUint16(12, 0x21, true); // date 1980-01-01, fixed so output is reproducible
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, f.data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, 0, true);
    local.set(name, 30);
    const c = new Uint8Array(46 + name.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, 20, true); // version made by
    cv.setUint16(6, 20, true);
    cv.setUint16(8, utf8 ? 0x800 : 0, true);
    cv.setUint16(10, method, true);
    cv.setUint16(12, 0, true);
    cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, f.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    c.set(name, 46);
    chunks.push(local, body);
    central.push(c);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  if (offset + cdSize >= 0xffffffff) throw new RangeError('buildZip: archive needs ZIP64 (over 4 GiB), which is not supported');
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, SIG_EOCD, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return [...chunks, ...central, end];
}
