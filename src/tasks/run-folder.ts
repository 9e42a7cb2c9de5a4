/**
 * Run folders: one training run per folder, one process per run.
 *
 * prepareRunFolder(dir, {resume, overwrite, command}) is called by the training commands before
 * they write anything:
 *   - a folder "holds a run" when it contains any of RUN_MARKERS (what the trainers write);
 *     holding a run without --resume or --overwrite is an error (nothing is touched);
 *   - --overwrite removes exactly the RUN_MARKERS entries (never other files) before the start;
 *   - a lock file <dir>/.lock ({pid, started}) is created atomically (open 'wx'); a lock whose
 *     process is alive refuses the run, a lock whose process is gone is taken over (with a warning).
 * The returned handle's release() removes the lock; it is also called on process 'exit'.
 *
 * Interrupts: the trainers are synchronous loops, so a signal handler on the main thread would
 * only run after training. The commands therefore run the training in a worker thread
 * (runInWorker) and the main thread, which stays idle, sets a shared flag on the first
 * SIGINT/SIGTERM (onInterrupt). The loop checks the flag after each step (`shouldStop`), writes a
 * checkpoint and returns; a second signal exits at once (the last checkpoint stays in force).
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

/** Files and folders the trainers write into a run folder (sae, models and lm runs). */
export const RUN_MARKERS = [
  'metrics.jsonl', 'evals.jsonl', 'checkpoints', 'train-config.json', 'config.json', 'summary.json', 'sae', 'model', 'scaler.json', 'LATEST',
] as const;

/** Names of checkpoint folders written straight into a run folder (models/train.ts uses runDir itself). */
const CHECKPOINT_DIR = /^step-\d{9}$/;

export class RunFolderError extends Error {}

/** The run files present in dir (empty when it holds no run or does not exist). */
export function runFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => (RUN_MARKERS as readonly string[]).includes(f) || CHECKPOINT_DIR.test(f)).sort();
}

export interface RunFolderHandle {
  dir: string;
  /** Set when a stale lock (of a process that is gone) was taken over. */
  warning: string | null;
  /** Removes the lock (idempotent). */
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Checks and locks a run folder; see the file comment. `command` is the command line shown in
 * the error (e.g. "aelab train sae").
 */
export function prepareRunFolder(dir: string, o: { resume: boolean; overwrite: boolean; command: string }): RunFolderHandle {
  const lockPath = join(dir, '.lock');
  let warning: string | null = null;
  // Lock first, so a running process's folder is never cleaned by --overwrite.
  if (existsSync(lockPath)) {
    let info: { pid?: number; started?: string } = {};
    try {
      info = JSON.parse(readFileSync(lockPath, 'utf8')) as typeof info;
    } catch {
      // Unreadable: being written by a process starting right now, or cut by a crash (stale).
      if (Date.now() - statSync(lockPath).mtimeMs < 10_000) throw new RunFolderError(`run folder ${dir} is in use by another process (its lock ${lockPath} was created just now)`);
    }
    if (typeof info.pid === 'number' && info.pid !== process.pid && alive(info.pid)) {
      throw new RunFolderError(`run folder ${dir} is in use by process ${info.pid} (started ${info.started ?? 'at an unknown time'}); wait for it to finish or stop it first`);
    }
    warning = `run folder ${dir}: took over the stale lock of process ${info.pid ?? '?'} (started ${info.started ?? '?'}), which is no longer running`;
    rmSync(lockPath, { force: true });
  }
  const present = runFiles(dir);
  if (present.length && !o.resume && !o.overwrite) {
    throw new RunFolderError(
      `${o.command}: ${dir} already holds a run (${present.join(', ')}); pass --resume to continue it, --overwrite to replace it, or choose a new --out`,
    );
  }
  if (o.resume && o.overwrite) throw new RunFolderError(`${o.command}: --resume and --overwrite exclude each other`);
  let fd: number;
  try {
    mkdirSync(dir, { recursive: true }); // the trainers create it anyway
    fd = openSync(lockPath, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new RunFolderError(`run folder ${dir} is in use by another process (its lock ${lockPath} appeared just now)`);
    throw e;
  }
  writeSync(fd, JSON.stringify({ pid: process.pid, started: new Date().toISOString() }) + '\n');
  closeSync(fd);
  if (o.overwrite) for (const f of present) rmSync(join(dir, f), { recursive: true, force: true });
  removeStaleTemps(dir);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      const cur = JSON.parse(readFileSync(lockPath, 'utf8')) as { pid?: number };
      if (cur.pid === process.pid) rmSync(lockPath, { force: true });
    } catch {
      /* already gone */
    }
  };
  process.on('exit', release);
  return { dir, warning, release };
}

/** Temp names of writeFileAtomic (src/core/io/fsutil.ts): .<name>.<pid>.<12 hex>.tmp */
const TEMP_FILE = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes atomic-write temp files left in dir and dir/checkpoints by a process that was killed
 * mid-write (only those whose writer pid is no longer running).
 */
export function removeStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  for (const d of [dir, join(dir, 'checkpoints')]) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) {
      const m = TEMP_FILE.exec(f);
      if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) {
        rmSync(join(d, f), { force: true });
        removed.push(join(d, f));
      }
    }
  }
  return removed;
}

export interface Interrupt {
  /** The first signal received (null while none). */
  readonly signal: NodeJS.Signals | null;
  /** True once a signal arrived; what the training loop's shouldStop checks. */
  stopped(): boolean;
  /** Shared flag (Int32Array over a SharedArrayBuffer; [0] = 1 after a signal) for a worker. */
  readonly flag: Int32Array;
  /** Exit code for the signal: 130 for SIGINT, 143 for SIGTERM. */
  exitCode(): number;
  /** Removes the signal handlers. */
  dispose(): void;
}

/**
 * Installs SIGINT/SIGTERM handlers: the first signal sets the flag (and calls `handler`), a
 * second one exits immediately with 130/143.
 */
export function onInterrupt(handler?: (signal: NodeJS.Signals) => void): Interrupt {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  let first: NodeJS.Signals | null = null;
  const codeOf = (s: NodeJS.Signals | null) => (s === 'SIGTERM' ? 143 : 130);
  const on = (s: NodeJS.Signals) => {
    if (first) {
      process.stderr.write(`\n${s} again: exiting now; the run's last checkpoint stays in force\n`);
      process.exit(codeOf(s));
    }
    first = s;
    Atomics.store(flag, 0, 1);
    handler?.(s);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    get signal() { return first; },
    stopped: () => Atomics.load(flag, 0) !== 0,
    flag,
    exitCode: () => codeOf(first),
    dispose: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

/** What a worker-side function gets: its arguments and the stop check. */
export type WorkerTask<A, R> = (args: A, shouldStop: () => boolean) => R | Promise<R>;

interface WorkerJob { __aelabRunFolderJob: true; module: string; name: string; args: unknown; flag: Int32Array }
type WorkerReply = { ok: unknown } | { error: string; name: string; stack?: string };

/**
 * Runs `module`'s export `name` (a WorkerTask) in a worker thread, with shouldStop reading
 * `flag`; resolves with its result. An error thrown there is rethrown here with its message (and
 * class name in `.name`, so callers can map UsageError-like errors).
 */
export function runInWorker<R>(module: string, name: string, args: unknown, flag: Int32Array): Promise<R> {
  const job: WorkerJob = { __aelabRunFolderJob: true, module, name, args, flag };
  return new Promise<R>((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: job });
    let reply: WorkerReply | null = null;
    w.on('message', (m: WorkerReply) => (reply = m));
    w.on('error', reject);
    w.on('exit', (code) => {
      const r = reply as WorkerReply | null;
      if (!r) return reject(new Error(`the training worker exited with code ${code} and no result`));
      if ('ok' in r) return resolve(r.ok as R);
      const e = new Error(r.error);
      e.name = r.name;
      if (r.stack) e.stack = r.stack;
      reject(e);
    });
  });
}

if (!isMainThread && (workerData as WorkerJob | null)?.__aelabRunFolderJob) {
  const job = workerData as WorkerJob;
  void (async () => {
    try {
      const mod = (await import(job.module)) as Record<string, WorkerTask<unknown, unknown>>;
      const fn = mod[job.name];
      if (typeof fn !== 'function') throw new Error(`${job.module} has no export ${job.name}`);
      const ok = await fn(job.args, () => Atomics.load(job.flag, 0) !== 0);
      parentPort!.postMessage({ ok });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      parentPort!.postMessage({ error: err.message, name: err.constructor?.name ?? err.name, stack: err.stack });
    }
  })();
}

/** What a command's worker-side body returns: its exit code and, when interrupted, the step reached. */
export interface BodyResult { code: number; interruptedAt?: number }

/** Quotes a word for a POSIX shell when it needs it. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The main-thread side of a training command: checks and locks the run folder, installs the
 * interrupt handlers, runs `module`'s `name` (a WorkerTask<{argv}, BodyResult>) in a worker and
 * returns the exit code. On an interrupt it prints where the run stopped and the exact
 * `resumeCommand`, and returns 130 (SIGINT) or 143 (SIGTERM). Errors of the body whose class is
 * named UsageError, and run-folder refusals, are rethrown through `usageError`.
 */
export async function runTrainingCommand(o: {
  out: string; resume: boolean; overwrite: boolean; command: string; resumeCommand: string;
  module: string; name: string; argv: string[]; usageError: (message: string) => Error;
}): Promise<number> {
  let handle: RunFolderHandle;
  try {
    handle = prepareRunFolder(o.out, { resume: o.resume, overwrite: o.overwrite, command: o.command });
  } catch (e) {
    if (e instanceof RunFolderError) throw o.usageError(e.message);
    throw e;
  }
  if (handle.warning) process.stderr.write(`warning: ${handle.warning}\n`);
  const interrupt = onInterrupt((s) => {
    process.stderr.write(`\n${s}: stopping after the current step and writing a checkpoint (send it again to exit at once)\n`);
  });
  try {
    const r = await runInWorker<BodyResult>(o.module, o.name, { argv: o.argv }, interrupt.flag);
    if (r.interruptedAt !== undefined) {
      process.stdout.write(`interrupted by ${interrupt.signal ?? 'a signal'} at step ${r.interruptedAt}; checkpoint saved in ${o.out}\ncontinue with: ${o.resumeCommand}\n`);
      return interrupt.exitCode();
    }
    return r.code;
  } catch (e) {
    if ((e as Error).name === 'UsageError') throw o.usageError((e as Error).message);
    throw e;
  } finally {
    interrupt.dispose();
    handle.release();
  }
}
