/**
 * Reading files for HTTP requests without leaving the served folders.
 *
 * A request names a file by (root index, relative path). The path is refused before it reaches the
 * file system when it is absolute, holds a NUL byte, a backslash, or a `.`/`..` segment (after
 * percent-decoding, so `%2e%2e` is caught too); what remains is joined to the root and resolved
 * with realpath, and must still lie inside the root's realpath — which also stops a symlink inside
 * a served folder from pointing outside it.
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';

export class PathError extends Error {
  constructor(message: string, readonly status: 400 | 403 | 404) {
    super(message);
    this.name = 'PathError';
  }
}

/** Splits a URL path (still percent-encoded) into safe segments, or throws PathError(400/403). */
export function safeSegments(encoded: string): string[] {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    throw new PathError('malformed percent-encoding in the path', 400);
  }
  if (decoded.includes('\0') || decoded.includes('\\')) throw new PathError('the path holds a NUL byte or a backslash', 400);
  if (isAbsolute(decoded) || /^[a-zA-Z]:/.test(decoded)) throw new PathError('absolute paths are not served', 403);
  const parts = decoded.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..')) throw new PathError("'.' and '..' are not allowed in paths", 403);
  return parts;
}

/**
 * The real path of `segments` under `root` when it exists and lies inside root (after resolving
 * symlinks), else PathError(403 outside, 404 missing).
 */
export function resolveInside(root: string, segments: readonly string[]): string {
  const realRoot = realpathSync(root);
  let real: string;
  try {
    real = realpathSync(join(realRoot, ...segments));
  } catch {
    throw new PathError('not found', 404);
  }
  if (real !== realRoot && !real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) throw new PathError('outside the served folders', 403);
  return real;
}

/** resolveInside, and the target must be a regular file. */
export function resolveFile(root: string, segments: readonly string[]): string {
  const p = resolveInside(root, segments);
  if (!statSync(p).isFile()) throw new PathError('not a file', 404);
  return p;
}
