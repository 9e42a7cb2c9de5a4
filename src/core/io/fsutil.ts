/** Small file-system helpers shared by the writers and streaming readers. */
import { closeSync, fsyncSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FormatError } from './errors.js';

/**
 * Writes `chunks` to `path` atomically: the bytes go to a temporary file in the same directory
 * (same file system, so rename is atomic), are fsynced, then renamed over the target. A crash
 * therefore leaves either the old file or the complete new one, never a torn file.
 */
export function writeFileAtomic(path: string, chunks: readonly Uint8Array[]): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  let ok = false;
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += writeSync(fd, c, off, c.length - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    ok = true;
  } finally {
    if (!ok) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
      try {
        unlinkSync(tmp);
      } catch {
        /* nothing to remove */
      }
    }
  }
  // Persist the rename itself; not all platforms allow fsync on a directory, so best effort.
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* unsupported here */
  }
}

/** Reads exactly `len` bytes at `position`, or raises FormatError if the file is shorter. */
export function readExactly(fd: number, position: number, len: number, file: string, what: string): Uint8Array {
  const buf = new Uint8Array(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, position + got);
    if (n === 0) break;
    got += n;
  }
  if (got < len) throw new FormatError(file, 'data', `${what}: file ended after ${got} of ${len} bytes at offset ${position}`);
  return buf;
}

/** A plain Uint8Array view of a Node Buffer (same memory), for APIs typed on Uint8Array. */
export function bytesOf(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.length);
}

/** Reads a whole file as a plain Uint8Array. */
export function readFileBytes(path: string): Uint8Array {
  return bytesOf(readFileSync(path));
}
