/**
 * NumPy .npz archives: a ZIP file whose entries are `<name>.npy` files. np.savez stores them,
 * np.savez_compressed deflates them; both are read. Entries not ending in '.npy' are skipped,
 * as numpy only exposes '.npy' members as arrays.
 */
import { type ArrayData } from './dtype.js';
import { FormatError } from './errors.js';
import { parseNpy, serializeNpy } from './npy.js';
import { buildZip, extractZipEntry, listZip } from './zip.js';
import { bytesOf, readFileBytes, writeFileAtomic } from './fsutil.js';

export interface NpzWriteOptions {
  /** Deflate the members, like np.savez_compressed. Default false (np.savez). */
  compress?: boolean;
}

/** Parses an .npz archive held in memory; keys are the member names without '.npy'. */
export function parseNpz(buf: Uint8Array, name = '<buffer>'): Map<string, ArrayData> {
  const out = new Map<string, ArrayData>();
  for (const e of listZip(buf, name)) {
    if (!e.name.endsWith('.npy')) continue;
    const key = e.name.slice(0, -4);
    if (out.has(key)) throw new FormatError(name, 'zip', `duplicate member '${e.name}'`);
    out.set(key, parseNpy(extractZipEntry(buf, e, name), `${name}[${e.name}]`));
  }
  return out;
}

export function readNpz(path: string): Map<string, ArrayData> {
  return parseNpz(readFileBytes(path), path);
}

function members(arrays: Record<string, ArrayData> | Map<string, ArrayData>) {
  const list = arrays instanceof Map ? [...arrays.entries()] : Object.entries(arrays);
  return list.map(([k, a]) => ({ name: `${k}.npy`, data: serializeNpy(a) }));
}

export function serializeNpz(arrays: Record<string, ArrayData> | Map<string, ArrayData>, options?: NpzWriteOptions): Uint8Array {
  const chunks = buildZip(members(arrays), options?.compress ?? false);
  return bytesOf(Buffer.concat(chunks));
}

/** Writes an .npz archive atomically. */
export function writeNpz(path: string, arrays: Record<string, ArrayData> | Map<string, ArrayData>, options?: NpzWriteOptions): void {
  writeFileAtomic(path, buildZip(members(arrays), options?.compress ?? false));
}
