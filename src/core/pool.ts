/**
 * Buffer pool and allocation scopes.
 *
 * Fresh memory pages are expensive on the machines we target (~12 µs per 4 KiB, so a new 16 MiB
 * buffer costs ~50 ms), while a training step allocates the same set of buffer sizes every time.
 * So tensors get their storage from free lists keyed by exact length, and a `scope(fn)` returns
 * every buffer allocated inside it to the pool when fn finishes, except those of the tensors fn
 * returns or marks with `keep()`. Outside any scope, buffers are left to the garbage collector.
 *
 * Pooled buffers are NOT zeroed: allocation sites that need zeros must fill them.
 */

type Buf = Float32Array | Int32Array;

const freeF32 = new Map<number, Float32Array[]>();
const freeI32 = new Map<number, Int32Array[]>();
const scopes: Set<Buf>[] = [];
let pooledBytes = 0;
let allocatedBytes = 0;

/** Counters for benchmarks and tests. */
export function poolStats(): { pooledBytes: number; freshBytes: number; scopes: number } {
  return { pooledBytes, freshBytes: allocatedBytes, scopes: scopes.length };
}

function track(b: Buf): void {
  const s = scopes[scopes.length - 1];
  if (s) s.add(b);
}

/** A float32 buffer of length n (contents undefined when reused from the pool). */
export function allocF32(n: number): Float32Array {
  const list = freeF32.get(n);
  let b = list?.pop();
  if (b) pooledBytes -= n * 4;
  else {
    b = new Float32Array(n);
    allocatedBytes += n * 4;
  }
  track(b);
  return b;
}

/** An int32 buffer of length n (contents undefined when reused from the pool). */
export function allocI32(n: number): Int32Array {
  const list = freeI32.get(n);
  let b = list?.pop();
  if (b) pooledBytes -= n * 4;
  else {
    b = new Int32Array(n);
    allocatedBytes += n * 4;
  }
  track(b);
  return b;
}

/** A zero-filled float32 buffer of length n. */
export function zerosF32(n: number): Float32Array {
  const b = allocF32(n);
  b.fill(0);
  return b;
}

/** Returns a buffer to the pool. The caller must not use it afterwards. */
export function release(b: Buf): void {
  if (b.length === 0) return;
  for (const s of scopes) s.delete(b);
  if (b instanceof Float32Array) {
    let l = freeF32.get(b.length);
    if (!l) freeF32.set(b.length, (l = []));
    l.push(b);
  } else {
    let l = freeI32.get(b.length);
    if (!l) freeI32.set(b.length, (l = []));
    l.push(b);
  }
  pooledBytes += b.length * 4;
}

/** Removes a buffer from every open scope so it survives them (used by Tensor.keep()). */
export function untrack(b: Buf): void {
  for (const s of scopes) s.delete(b);
}

/** Drops every pooled buffer (lets the garbage collector have them). */
export function clearPool(): void {
  freeF32.clear();
  freeI32.clear();
  pooledBytes = 0;
}

/**
 * Runs fn; buffers allocated inside (and not kept) go back to the pool afterwards.
 * `keepBuffers` lists buffers that escape (the lead's Tensor layer passes those of the result).
 */
export function withScope<T>(fn: () => T, buffersOf: (result: T) => Buf[]): T {
  const s = new Set<Buf>();
  scopes.push(s);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const b of s) release(b);
    throw e;
  }
  scopes.pop();
  const keep = buffersOf(result);
  for (const b of keep) {
    if (s.delete(b)) track(b); // an escaping buffer belongs to the enclosing scope, if any
  }
  for (const b of s) release(b);
  return result;
}
