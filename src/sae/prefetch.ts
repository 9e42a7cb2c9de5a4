/**
 * Read-ahead for ActivationStream (issue 16, item 4): a worker thread loads the stream's next shuffle
 * window from disk (read + NaN/Inf check) into a second, reused window buffer while the training step
 * runs on the main thread, so the window loads leave the step's critical path.
 *
 * The two window buffers and a small control block live in SharedArrayBuffers. The trainer's loop is
 * synchronous (no event-loop turns between steps), so the main thread waits for a read with
 * Atomics.wait, never with a promise. A read is identified by its exact list of (first row, rows)
 * chunk reads: the stream asks for the chunks of the window it will need next and, when it needs a
 * window, uses the worker's buffer only if the pending read is for exactly that chunk list and
 * succeeded; otherwise it reads synchronously as before. The rows a stream emits therefore never
 * depend on whether, when or how the read-ahead ran: it only moves work.
 *
 * A failed read in the worker (NaN/Inf rows, a truncated file …) is not reported from there: the stream
 * repeats the read on the main thread when it reaches that window, which throws the same error at the
 * same batch as a stream without read-ahead. If the worker cannot start (or open the data) the stream
 * silently reads synchronously.
 */
import { Worker } from 'node:worker_threads';
import type { OpenActivationsOptions } from './activations.js';

/** Where a source's rows come from, so that a worker can open the same data itself. */
export interface ActivationOrigin {
  path: string;
  options: OpenActivationsOptions;
}

/** Control block slots (Int32). */
export const CTRL_READY = 0; // 0 starting, 1 ready, 2 failed to open the data
export const CTRL_DONE = 1; // sequence number of the last finished request
export const CTRL_STATUS = 2; // 1 ok, 2 failed (for request CTRL_DONE)
export const CTRL_SLOTS = 4;

/** How long a stream waits for a worker that has not even started before it reads by itself. */
const START_TIMEOUT_MS = 20000;

/** One chunk read: rows [first, first + rows) of the source, appended to the window. */
export type ChunkRead = readonly [first: number, rows: number];

function sameReads(a: readonly ChunkRead[], b: readonly ChunkRead[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]![0] !== b[i]![0] || a[i]![1] !== b[i]![1]) return false;
  return true;
}

/** The worker side: see prefetch-worker.ts. This class is the main-thread side. */
export class WindowPrefetcher {
  /** The two window buffers ([maxRows, dIn] each), shared with the worker. */
  readonly buffers: [Float32Array, Float32Array];
  private readonly ctrl: Int32Array;
  private worker: Worker | null;
  private seq = 0;
  private pending: { buf: 0 | 1; reads: readonly ChunkRead[] } | null = null;
  private broken = false;

  constructor(origin: ActivationOrigin, dIn: number, maxRows: number) {
    const bytes = maxRows * dIn * 4;
    this.buffers = [new Float32Array(new SharedArrayBuffer(bytes)), new Float32Array(new SharedArrayBuffer(bytes))];
    this.ctrl = new Int32Array(new SharedArrayBuffer(CTRL_SLOTS * 4));
    this.worker = new Worker(new URL('./prefetch-worker.js', import.meta.url), {
      workerData: { origin, dIn, buffers: this.buffers.map((b) => b.buffer), ctrl: this.ctrl.buffer },
    });
    // Never keeps the process alive, and a failure only turns the read-ahead off.
    this.worker.unref();
    this.worker.on('error', () => { this.broken = true; });
  }

  /** Whether read-ahead still works (the worker started and opened the data, as far as is known). */
  get usable(): boolean {
    return !this.broken && this.worker !== null && Atomics.load(this.ctrl, CTRL_READY) !== 2;
  }

  /** Asks the worker to read `reads` into buffer `buf` (waiting first for any read still under way). */
  request(buf: 0 | 1, reads: readonly ChunkRead[]): void {
    if (this.pending) this.wait();
    if (!this.usable) return;
    this.seq++;
    this.pending = { buf, reads };
    this.worker!.postMessage({ seq: this.seq, buf, reads });
  }

  /**
   * Takes the pending read if it is for exactly `reads`: waits for it and returns its buffer index
   * when it succeeded, else null (also when there was no such read; the caller then reads itself).
   */
  take(reads: readonly ChunkRead[]): 0 | 1 | null {
    const p = this.pending;
    if (!p) return null;
    const ok = this.wait();
    return ok && sameReads(p.reads, reads) ? p.buf : null;
  }

  /** Waits for the pending read (if any) to finish; true when it succeeded. */
  private wait(): boolean {
    if (!this.pending) return false;
    this.pending = null;
    const c = this.ctrl;
    let waited = 0;
    for (;;) {
      const done = Atomics.load(c, CTRL_DONE);
      if (done === this.seq) return Atomics.load(c, CTRL_STATUS) === 1;
      const ready = Atomics.load(c, CTRL_READY);
      if (ready === 2 || this.broken || (ready === 0 && waited >= START_TIMEOUT_MS)) {
        this.close();
        return false;
      }
      Atomics.wait(c, CTRL_DONE, done, 100);
      waited += 100;
    }
  }

  /** Stops the worker (idempotent). A read under way is abandoned. */
  close(): void {
    this.broken = true;
    this.pending = null;
    if (this.worker) {
      void this.worker.terminate();
      this.worker = null;
    }
  }
}
