/**
 * The worker thread of WindowPrefetcher (prefetch.ts): opens the activation data itself and, for each
 * request {seq, buf, reads}, reads the chunks one after another into shared window buffer `buf`
 * (with the source's NaN/Inf check), then publishes seq and the outcome in the control block.
 * Errors are not sent back: the stream repeats a failed read on its own thread (see prefetch.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openActivations, type ActivationSource } from './activations.js';
import { CTRL_DONE, CTRL_READY, CTRL_STATUS, type ActivationOrigin, type ChunkRead } from './prefetch.js';

const data = workerData as { origin: ActivationOrigin; dIn: number; buffers: SharedArrayBuffer[]; ctrl: SharedArrayBuffer };
const ctrl = new Int32Array(data.ctrl);
const buffers = data.buffers.map((b) => new Float32Array(b));
let source: ActivationSource | null = null;
try {
  source = openActivations(data.origin.path, data.origin.options);
  if (source.dIn !== data.dIn) throw new Error('d_in changed');
  Atomics.store(ctrl, CTRL_READY, 1);
} catch {
  Atomics.store(ctrl, CTRL_READY, 2);
}
Atomics.notify(ctrl, CTRL_DONE);

parentPort!.on('message', (m: { seq: number; buf: 0 | 1; reads: ChunkRead[] }) => {
  let ok = source !== null;
  if (source) {
    const out = buffers[m.buf]!, d = data.dIn;
    try {
      let n = 0;
      for (const [first, rows] of m.reads) {
        source.readRows(first, rows, out.subarray(n * d, (n + rows) * d));
        n += rows;
      }
    } catch {
      ok = false;
    }
  }
  Atomics.store(ctrl, CTRL_STATUS, ok ? 1 : 2);
  Atomics.store(ctrl, CTRL_DONE, m.seq);
  Atomics.notify(ctrl, CTRL_DONE);
});
