/**
 * Plain-words descriptions of file-system errors (EACCES, EROFS, ENOTDIR, EISDIR, EEXIST, ENOENT,
 * ENOSPC, …) that name the path really at fault: for a failed mkdir/write the first existing
 * ancestor of the target is inspected (a file where a folder is needed, a read-only folder, …),
 * and a hidden temp file of an atomic write (`.name.<pid>.<hex>.tmp`) is reported as its target.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';

export type FsAction = 'read' | 'write' | 'mkdir' | string;

export interface DescribeOptions {
  /** The command-line flag that named the path (e.g. 'out'), shown as `--out`. */
  flag?: string;
}

const TEMP_RE = /^\.(.+)\.\d+\.[0-9a-f]+\.tmp$/;

/** The target of a temp file written by writeFileAtomic (`dir/.name.pid.hex.tmp` → `dir/name`), or the path itself. */
export function targetOfTempPath(path: string): string {
  const m = TEMP_RE.exec(basename(path));
  return m ? join(dirname(path), m[1]!) : path;
}

function kind(p: string): 'file' | 'dir' | 'other' | null {
  try {
    const s = statSync(p);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
  } catch {
    return null;
  }
}

function writable(p: string): boolean {
  try {
    accessSync(p, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The nearest ancestor of `p` (or `p` itself) that exists. */
function firstExisting(p: string): string {
  let cur = resolve(p);
  for (;;) {
    if (kind(cur) !== null) return cur;
    const up = dirname(cur);
    if (up === cur) return cur;
    cur = up;
  }
}

/** For a path that could not be created: the ancestor at fault and why, or null when none is found. */
function createBlocker(p: string): string | null {
  const abs = resolve(p);
  const anc = firstExisting(kind(abs) === null ? dirname(abs) : abs);
  const k = kind(anc);
  if (anc === abs) return null;
  if (k === 'file' || k === 'other') return `'${anc}' is a file, not a folder, so '${p}' cannot be created inside it`;
  if (k === 'dir' && !writable(anc)) return `the folder '${anc}' is read-only (no permission to write in it), so '${p}' cannot be created`;
  return null;
}

function isWriteAction(action: string | undefined): boolean {
  return !!action && /^(write|mkdir|open-write|create|rename|copyfile|symlink|link|save|unlink|rmdir|rm)/i.test(action);
}

/**
 * Describes an fs error in plain words. `path` defaults to the error's own path; `action` is what
 * was attempted ('read', 'write', 'mkdir', … or the error's syscall).
 */
export function describeFsError(e: NodeJS.ErrnoException, path?: string, action?: FsAction, opts: DescribeOptions = {}): string {
  const raw = path ?? e.path ?? (e as { dest?: string }).dest;
  const act = action ?? e.syscall ?? '';
  const flag = opts.flag ? ` (--${opts.flag})` : '';
  if (raw === undefined) return `${plainCode(e.code)}: ${e.message}`;
  const p = targetOfTempPath(raw);
  const writing = isWriteAction(act) || raw !== p;
  const what = `'${p}'${flag}`;
  switch (e.code) {
    case 'EISDIR':
      return writing ? `cannot write ${what}: it is a folder; give a file path` : `cannot read ${what}: it is a folder, not a file; give a file inside it`;
    case 'ENOTDIR': {
      const b = createBlocker(p);
      if (b) return `cannot ${writing ? 'write' : 'read'} ${what}: ${b}`;
      const parts = resolve(p).split(sep);
      for (let i = 2; i <= parts.length; i++) {
        const a = parts.slice(0, i).join(sep) || sep;
        if (kind(a) === 'file' && i < parts.length) return `cannot ${writing ? 'write' : 'read'} ${what}: '${a}' is a file, not a folder`;
      }
      return `cannot use ${what}: a part of the path is a file where a folder is needed`;
    }
    case 'EEXIST': {
      const k = kind(p);
      if (act === 'mkdir' && k !== 'dir') return `cannot create the folder ${what}: a file of that name already exists; give a folder path or remove the file`;
      return `cannot create ${what}: it already exists${k === 'dir' ? ' (as a folder)' : ''}`;
    }
    case 'ENOENT': {
      if (writing) {
        const b = createBlocker(p);
        if (b) return `cannot ${act === 'mkdir' ? 'create the folder' : 'write'} ${what}: ${b}`;
        const anc = firstExisting(dirname(resolve(p)));
        return `cannot ${act === 'mkdir' ? 'create the folder' : 'write'} ${what}: the folder '${dirname(resolve(p))}' does not exist${anc !== dirname(resolve(p)) ? ` (the nearest existing folder is '${anc}')` : ''}`;
      }
      const anc = firstExisting(p);
      const parent = dirname(resolve(p));
      if (kind(parent) === null) return `cannot read ${what}: no such file (the folder '${parent}' does not exist either; the nearest existing one is '${anc}')`;
      return `cannot read ${what}: no such file or folder`;
    }
    case 'EACCES':
    case 'EPERM': {
      if (writing) {
        const b = createBlocker(p);
        if (b) return `cannot write ${what}: ${b}`;
        const k = kind(p);
        if (k !== null && !writable(p)) return `cannot write ${what}: it is read-only (no permission to write it)`;
        const parent = dirname(resolve(p));
        if (kind(parent) === 'dir' && !writable(parent)) return `cannot write ${what}: the folder '${parent}' is read-only (no permission to write in it)`;
        return `cannot write ${what}: permission denied`;
      }
      return `cannot read ${what}: permission denied`;
    }
    case 'EROFS':
      return `cannot write ${what}: it is on a read-only file system`;
    case 'ENOSPC':
      return `cannot write ${what}: no space left on the disk holding it`;
    case 'EDQUOT':
      return `cannot write ${what}: disk quota exceeded`;
    case 'EMFILE':
    case 'ENFILE':
      return `cannot open ${what}: too many open files`;
    case 'ENAMETOOLONG':
      return `cannot use ${what}: the file name is too long`;
    default:
      return `${plainCode(e.code)} on ${what}${act ? ` (${act})` : ''}: ${e.message.replace(raw, p)}`;
  }
}

function plainCode(code: string | undefined): string {
  return code ?? 'file-system error';
}

/** Error codes describeFsError puts in plain words. */
export const DESCRIBED_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'EEXIST', 'ENOENT', 'ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'ENAMETOOLONG']);

/** Whether `e` looks like a Node fs error (has a string `code` starting with 'E' and a syscall). */
export function isFsError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z]+$/.test((e as NodeJS.ErrnoException).code!) &&
    typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

/**
 * Which `--flag value` of argv names `path`: the flag's value equals the path, lies above it (the
 * path is inside the flag's folder), or lies below it (the path is an ancestor that failed).
 * The closest match wins. Returns the flag name without dashes, or undefined.
 */
export function flagForPath(argv: readonly string[], path: string): string | undefined {
  const target = resolve(targetOfTempPath(path));
  let best: { flag: string; score: number } | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    const flag = a.slice(2, eq < 0 ? undefined : eq);
    const value = eq < 0 ? argv[i + 1] : a.slice(eq + 1);
    if (value === undefined || value.startsWith('--') || value === '') continue;
    const v = resolve(value);
    let score = -1;
    if (v === target) score = 1e9;
    else if (target.startsWith(v + sep)) score = v.length;
    else if (v.startsWith(target + sep)) score = target.length;
    if (score >= 0 && (!best || score > best.score)) best = { flag, score };
  }
  return best?.flag;
}

/**
 * The top-level description for an fs error raised by a command run with `argv`: the path comes
 * from the error (temp files named as their target) or, for an EISDIR read that names none, from
 * the first flag whose value is a folder.
 */
export function describeCliFsError(e: NodeJS.ErrnoException, argv: readonly string[]): string {
  let path = e.path;
  let flag: string | undefined;
  if (path === undefined && e.code === 'EISDIR') {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (!a.startsWith('--')) continue;
      const eq = a.indexOf('=');
      const value = eq < 0 ? argv[i + 1] : a.slice(eq + 1);
      if (value !== undefined && !value.startsWith('--') && kind(value) === 'dir') {
        path = value;
        flag = a.slice(2, eq < 0 ? undefined : eq);
        if (flag === 'data') break;
      }
    }
    if (path === undefined) return `a folder was given where a file is needed (${e.message})`;
  }
  if (path === undefined) return `${plainCode(e.code)}: ${e.message}`;
  flag ??= flagForPath(argv, path);
  let action: string | undefined = e.syscall === 'read' && e.path === undefined ? 'read' : undefined;
  // `open` does not say which way; a path given by an output flag was being written.
  if (action === undefined && e.syscall === 'open' && flag && /^(out|output|json|save|report|dest)/.test(flag)) action = 'write';
  return describeFsError(e, path, action, flag ? { flag } : {});
}
