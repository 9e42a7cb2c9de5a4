/**
 * Seeded, splittable random numbers built on the Philox4x32-10 counter-based generator
 * (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
 *
 * A stream is identified by a 64-bit key (k0 = low word, k1 = high word) and a 128-bit
 * counter (c0..c3, c0 least significant). Each counter value yields one block of four
 * uint32 outputs; the stream advances by incrementing the 64-bit block index held in
 * (c0, c1). Words (c2, c3) never change within a stream: together with the key they name
 * the stream, which is what `split()` uses to make children.
 *
 * Because the generator is counter-based, its whole position is the small tuple
 * (key, counter, index-within-block), which `state()` exports as JSON-friendly strings.
 */

/** Philox multipliers and Weyl key increments (from the Random123 reference parameters). */
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const ROUNDS = 10;

const TWO_POW_32 = 4294967296;
const INV_2_32 = 1 / TWO_POW_32;
const INV_2_24 = 1 / 16777216;

/**
 * High 32 bits of the 64-bit product of two uint32 values. Doubles are exact only up to
 * 2^53, so the multiplication is split into 16-bit halves and the carries added by hand.
 */
function mulhi32(a: number, b: number): number {
  const ah = a >>> 16;
  const al = a & 0xffff;
  const bh = b >>> 16;
  const bl = b & 0xffff;
  const ll = al * bl;
  const lh = al * bh;
  const hl = ah * bl;
  const carry = ((ll >>> 16) + (lh & 0xffff) + (hl & 0xffff)) >>> 16;
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + carry) >>> 0;
}

/**
 * One Philox4x32-10 block: encrypts `ctr` (4 words) under `key` (2 words) and writes the
 * four output words into `out`. Exported so tests can check the published known answers.
 */
export function philox4x32_10(
  ctr: ArrayLike<number>,
  key: ArrayLike<number>,
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  let x0 = ctr[0] >>> 0;
  let x1 = ctr[1] >>> 0;
  let x2 = ctr[2] >>> 0;
  let x3 = ctr[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < ROUNDS; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, x0);
    const lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulhi32(M1, x2);
    const lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ k0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ k1) >>> 0;
    x3 = lo0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
  return out;
}

/**
 * JSON-serialisable snapshot of a generator's position.
 * - `key`: 16 hex digits, the 64-bit key (high word first, as a normal hex number).
 * - `counter`: 32 hex digits, the 128-bit counter of the *next* block to compute.
 * - `index`: how many of the four words of the last computed block were consumed (0..4);
 *   4 means none are pending.
 */
export interface GeneratorState {
  version: 1;
  algorithm: 'philox4x32-10';
  key: string;
  counter: string;
  index: number;
}

function hex32(x: number): string {
  return (x >>> 0).toString(16).padStart(8, '0');
}

function toSeed64(seed: number | bigint): bigint {
  if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Generator seed must be a safe integer or a bigint, got ${seed}`);
    }
    return BigInt.asUintN(64, BigInt(seed));
  }
  if (typeof seed === 'bigint') return BigInt.asUintN(64, seed);
  throw new TypeError(`Generator seed must be a number or bigint, got ${typeof seed}`);
}

type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array;

/** Largest float32 strictly below `x` (x finite, not the smallest float32). */
function prevFloat32(x: number): number {
  const f = new Float32Array([x]);
  const i = new Int32Array(f.buffer);
  if (f[0] === 0) return -1.401298464324817e-45;
  if (f[0] > 0) i[0] -= 1;
  else i[0] += 1;
  return f[0];
}

export class Generator {
  private readonly key = new Uint32Array(2);
  /** Counter of the next block to compute. */
  private readonly ctr = new Uint32Array(4);
  private readonly buf = new Uint32Array(4);
  private index = 4;

  constructor(seed: number | bigint) {
    const s = toSeed64(seed);
    this.key[0] = Number(s & 0xffffffffn);
    this.key[1] = Number(s >> 32n);
  }

  /** Computes the block at the current counter into the buffer and advances the counter. */
  private refill(): void {
    philox4x32_10(this.ctr, this.key, this.buf);
    this.index = 0;
    // 64-bit increment of the block index; (c2, c3) identify the stream and stay fixed.
    this.ctr[0] = (this.ctr[0] + 1) >>> 0;
    if (this.ctr[0] === 0) this.ctr[1] = (this.ctr[1] + 1) >>> 0;
  }

  /** Next raw 32-bit output, as a non-negative number in [0, 2^32). */
  nextUint32(): number {
    if (this.index >= 4) this.refill();
    return this.buf[this.index++];
  }

  /** Double in [0, 1) with 53 random bits (uses two outputs). */
  nextFloat64(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Independent child stream. The child is keyed by a fresh block drawn from this stream
   * (two words become its key, two its fixed stream id in c2/c3), so the parent advances by
   * one block and repeated splits give different, reproducible children.
   */
  split(tag = 0): Generator {
    const child = new Generator(0);
    // Drawn as one whole block, independent of how many words of the current block remain.
    philox4x32_10(this.ctr, this.key, this.buf);
    this.ctr[0] = (this.ctr[0] + 1) >>> 0;
    if (this.ctr[0] === 0) this.ctr[1] = (this.ctr[1] + 1) >>> 0;
    child.key[0] = this.buf[0];
    child.key[1] = this.buf[1];
    child.ctr[2] = this.buf[2];
    // A nonzero tag gives a different child from the same parent state: consumers that derive their
    // streams from the same seed (training data generators and the model they are used to train)
    // then never share random numbers.
    child.ctr[3] = (this.buf[3]! ^ tag) >>> 0;
    // The buffer now holds the words we used for the child; never hand them out again.
    this.index = 4;
    return child;
  }

  /** `n` independent children, equivalent to calling `split(tag)` n times. */
  fork(n: number, tag = 0): Generator[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`fork(n): n must be a non-negative integer, got ${n}`);
    const out: Generator[] = [];
    for (let i = 0; i < n; i++) out.push(this.split(tag));
    return out;
  }

  /**
   * Fills `out` with float32 values uniform in [lo, hi). Each value uses 24 random bits,
   * exactly the float32 mantissa width, so [0,1) values are exact before scaling; a scaled
   * value that rounds up to `hi` is pulled back to the largest float32 below it.
   */
  uniform(out: Float32Array, lo = 0, hi = 1): Float32Array {
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) {
      throw new RangeError(`uniform: need finite lo < hi, got lo=${lo}, hi=${hi}`);
    }
    const span = hi - lo;
    // Largest float32 strictly below hi, used when rounding to float32 lands on hi.
    const hiF = Math.fround(hi);
    const capped = hiF < hi ? hiF : prevFloat32(hiF);
    for (let i = 0; i < out.length; i++) {
      const u = (this.nextUint32() >>> 8) * INV_2_24;
      let v = Math.fround(lo + span * u);
      if (v >= hi) v = capped;
      out[i] = v;
    }
    return out;
  }

  /**
   * Fills `out` with normal(mean, std) values by the Box–Muller transform. Values are made in
   * pairs from two outputs; for an odd length the last pair's second value is discarded so
   * the stream position depends only on the length. With 32-bit uniforms the radius is at most
   * sqrt(-2 ln 2^-32) ≈ 6.66, so |z| never exceeds 6.66 standard deviations.
   */
  normal(out: Float32Array, mean = 0, std = 1): Float32Array {
    if (!(Number.isFinite(mean) && Number.isFinite(std) && std >= 0)) {
      throw new RangeError(`normal: need finite mean and std >= 0, got mean=${mean}, std=${std}`);
    }
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      // u1 in (0, 1] so the logarithm is finite; u2 in [0, 1).
      const u1 = (this.nextUint32() + 1) * INV_2_32;
      const u2 = this.nextUint32() * INV_2_32;
      const r = Math.sqrt(-2 * Math.log(u1));
      const t = 2 * Math.PI * u2;
      out[i] = mean + std * r * Math.cos(t);
      if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(t);
    }
    return out;
  }

  /** Uniform integer in [0, maxExclusive), unbiased by rejection; maxExclusive ≤ 2^32. */
  randint(maxExclusive: number): number {
    if (!Number.isInteger(maxExclusive) || maxExclusive < 1 || maxExclusive > TWO_POW_32) {
      throw new RangeError(`randint: maxExclusive must be an integer in [1, 2^32], got ${maxExclusive}`);
    }
    // Accept only draws below the largest multiple of maxExclusive, so every residue is equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % maxExclusive);
    for (;;) {
      const u = this.nextUint32();
      if (u < limit) return u % maxExclusive;
    }
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
      throw new RangeError(`permutation: n must be a non-negative int32, got ${n}`);
    }
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /** Shuffles `arr` in place (Fisher–Yates) and returns it. */
  shuffle<T extends unknown[] | NumericArray>(arr: T): T {
    const a = arr as unknown as { [i: number]: unknown; length: number };
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.randint(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return arr;
  }

  /** Fills `out` with 1 (probability p) or 0. */
  bernoulli(out: Float32Array, p: number): Float32Array {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`bernoulli: p must be in [0, 1], got ${p}`);
    for (let i = 0; i < out.length; i++) out[i] = this.nextUint32() * INV_2_32 < p ? 1 : 0;
    return out;
  }

  /**
   * `k` indices drawn from [0, n). Without replacement this is a partial Fisher–Yates over a
   * sparse map of displaced entries, so memory is O(k) even when n is huge.
   */
  choice(n: number, k: number, replace = false): Int32Array {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`choice: n must be a non-negative int32, got ${n}`);
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`choice: k must be a non-negative integer, got ${k}`);
    const out = new Int32Array(k);
    if (k === 0) return out;
    if (n === 0) throw new RangeError('choice: cannot draw from an empty range');
    if (replace) {
      for (let i = 0; i < k; i++) out[i] = this.randint(n);
      return out;
    }
    if (k > n) throw new RangeError(`choice: cannot draw ${k} distinct values from ${n}`);
    const moved = new Map<number, number>();
    for (let i = 0; i < k; i++) {
      const j = i + this.randint(n - i);
      const vj = moved.get(j) ?? j;
      const vi = moved.get(i) ?? i;
      out[i] = vj;
      moved.set(j, vi);
    }
    return out;
  }

  /** Snapshot of the exact stream position; see {@link GeneratorState}. */
  state(): GeneratorState {
    return {
      version: 1,
      algorithm: 'philox4x32-10',
      key: hex32(this.key[1]) + hex32(this.key[0]),
      counter: hex32(this.ctr[3]) + hex32(this.ctr[2]) + hex32(this.ctr[1]) + hex32(this.ctr[0]),
      index: this.index,
    };
  }

  /** Recreates a generator that continues exactly where the snapshotted one was. */
  static fromState(s: GeneratorState): Generator {
    const hexOk = (v: unknown, len: number): v is string => typeof v === 'string' && v.length === len && /^[0-9a-fA-F]+$/.test(v);
    if (
      s === null ||
      typeof s !== 'object' ||
      s.version !== 1 ||
      s.algorithm !== 'philox4x32-10' ||
      !hexOk(s.key, 16) ||
      !hexOk(s.counter, 32) ||
      !Number.isInteger(s.index) ||
      s.index < 0 ||
      s.index > 4
    ) {
      throw new TypeError(`Generator.fromState: not a valid philox4x32-10 state: ${JSON.stringify(s)}`);
    }
    const g = new Generator(0);
    const word = (str: string, i: number) => parseInt(str.slice(i * 8, i * 8 + 8), 16) >>> 0;
    g.key[1] = word(s.key, 0);
    g.key[0] = word(s.key, 1);
    g.ctr[3] = word(s.counter, 0);
    g.ctr[2] = word(s.counter, 1);
    g.ctr[1] = word(s.counter, 2);
    g.ctr[0] = word(s.counter, 3);
    g.index = s.index;
    if (s.index < 4) {
      // Recompute the partly consumed block, which sits one before the stored counter.
      const prev = Uint32Array.from(g.ctr);
      prev[0] = (prev[0] - 1) >>> 0;
      if (prev[0] === 0xffffffff) prev[1] = (prev[1] - 1) >>> 0;
      philox4x32_10(prev, g.key, g.buf);
    }
    return g;
  }
}
