/**
 * rANS (range asymmetric numeral systems) entropy coding of integer symbols with static frequency
 * tables, one per channel: a factorised prior p(s_i) = Π_c p_c(s) with the table of element i
 * chosen by the caller (`tableOf(i)`).
 *
 * Coder (after F. Giesen's ryg_rans, 32-bit state, byte-wise renormalisation): the state x lives in
 * [L, 256·L), L = 2^23. With a table of precision p (total frequency M = 2^p), coding a symbol of
 * frequency f and cumulative start c is
 *   encode   x ← ⌊x / f⌋·M + (x mod f) + c      after emitting low bytes while x ≥ 2^(31−p)·f
 *   decode   slot = x mod M, find s with c_s ≤ slot < c_s + f_s, x ← f_s·⌊x / M⌋ + slot − c_s,
 *            then read bytes while x < L.
 * Each symbol costs log2(M / f) bits plus < 1 byte overall (the 4-byte final state minus the
 * initial state's information). rANS is last-in first-out, so the encoder runs over the symbols
 * backwards and the decoder reads forwards.
 *
 * Tables (`FreqTable`): symbols offset … offset + K − 1 are coded directly; anything else is an
 * escape: the escape symbol (index K, always frequency ≥ 1) followed by the zig-zag value
 * z = 2s (s ≥ 0) or −2s − 1 (s < 0) as two uniform 16-bit chunks (32 raw bits). Every symbol has
 * frequency ≥ 1, so any int32 stream is codable.
 *
 * Stream format: the bytes only (no header, no length): the caller stores the symbol count and
 * chooses the tables. Decoding checks that the stream is consumed exactly and that the state
 * returns to its initial value L, so truncation and most corruption are detected; every loop is
 * bounded by the input length, so a corrupt stream never hangs.
 */
import { FormatError } from './errors.js';

const RANS_L = 2 ** 23;
const RAW_BITS = 16;

/** A static frequency table (see the file comment). */
export interface FreqTable {
  /** Symbol value of index 0. */
  readonly offset: number;
  /** Number of directly coded symbols K (the escape is index K). */
  readonly size: number;
  /** log2 of the total frequency M (1 … 16). */
  readonly precision: number;
  /** freq[k], k ≤ K (freq[K] is the escape); Σ freq = 2^precision, each ≥ 1. */
  readonly freq: Uint32Array;
  /** cum[k] = Σ_{j<k} freq[j]; length K + 2, cum[K + 1] = 2^precision. */
  readonly cum: Uint32Array;
}

/**
 * Quantises a probability mass function over offset … offset + pmf.length − 1 (plus `escapeMass`
 * for everything outside; need not be normalised) to integer frequencies summing to 2^precision,
 * every symbol (and the escape) at least 1: f_k = 1 + ⌊p_k·(M − K − 1)⌋, the rounding remainder
 * going to the most probable symbol.
 */
export function quantizePmf(pmf: ArrayLike<number>, offset: number, precision = 16, escapeMass = 0): FreqTable {
  const K = pmf.length;
  if (!Number.isInteger(precision) || precision < 1 || precision > 16) throw new Error(`quantizePmf: precision must be an integer in 1..16, got ${precision}`);
  if (!Number.isInteger(offset) || Math.abs(offset) > 2 ** 31) throw new Error(`quantizePmf: offset must be an int32, got ${offset}`);
  const M = 2 ** precision;
  if (K < 1 || K + 1 > M) throw new Error(`quantizePmf: ${K} symbols plus the escape do not fit total frequency 2^${precision}`);
  let total = escapeMass;
  for (let k = 0; k < K; k++) {
    const p = pmf[k]!;
    if (!(p >= 0) || !Number.isFinite(p)) throw new Error(`quantizePmf: probability ${p} at index ${k} is not a finite number ≥ 0`);
    total += p;
  }
  if (!(escapeMass >= 0) || !Number.isFinite(total)) throw new Error(`quantizePmf: escape mass ${escapeMass} must be finite and ≥ 0`);
  const spare = M - (K + 1);
  const freq = new Uint32Array(K + 1);
  let sum = 0, best = 0;
  for (let k = 0; k <= K; k++) {
    const p = k < K ? pmf[k]! : escapeMass;
    freq[k] = 1 + (total > 0 ? Math.floor((p / total) * spare) : 0);
    sum += freq[k]!;
    if (k < K && pmf[k]! > pmf[best]!) best = k;
  }
  freq[best] += M - sum;
  const cum = new Uint32Array(K + 2);
  for (let k = 0; k <= K; k++) cum[k + 1] = cum[k]! + freq[k]!;
  return { offset, size: K, precision, freq, cum };
}

/** Checks a table built elsewhere (e.g. read from a file). */
export function checkFreqTable(t: FreqTable, where = 'rANS'): void {
  const M = 2 ** t.precision;
  if (t.freq.length !== t.size + 1 || t.cum.length !== t.size + 2) throw new Error(`${where}: table arrays do not match size ${t.size}`);
  for (let k = 0; k <= t.size; k++) {
    if (t.freq[k]! < 1 || t.cum[k + 1] !== t.cum[k]! + t.freq[k]!) throw new Error(`${where}: table entry ${k} is invalid`);
  }
  if (t.cum[0] !== 0 || t.cum[t.size + 1] !== M) throw new Error(`${where}: table frequencies do not sum to 2^${t.precision}`);
}

/** Index of table for element i: a function, or a constant table for all elements. */
export type TableOf = (i: number) => number;

/** Zig-zag map of an int32 onto [0, 2^32). */
function zigzag(s: number): number {
  return s >= 0 ? 2 * s : -2 * s - 1;
}
function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

class ByteSink {
  buf = new Uint8Array(1024);
  n = 0;
  push(b: number): void {
    if (this.n === this.buf.length) {
      const nb = new Uint8Array(this.buf.length * 2);
      nb.set(this.buf);
      this.buf = nb;
    }
    this.buf[this.n++] = b;
  }
}

/**
 * Encodes int32 `symbols` (element i with tables[tableOf(i)]) into bytes. Values outside a table's
 * range are escaped (see the file comment); non-integers or values beyond int32 are errors.
 */
export function ransEncode(symbols: ArrayLike<number>, tables: readonly FreqTable[], tableOf: TableOf = () => 0): Uint8Array {
  const out = new ByteSink();
  let x = RANS_L;
  const put = (start: number, freq: number, bits: number) => {
    const xMax = 2 ** (31 - bits) * freq;
    while (x >= xMax) {
      out.push(x % 256);
      x = Math.floor(x / 256);
    }
    x = Math.floor(x / freq) * 2 ** bits + (x % freq) + start;
  };
  for (let i = symbols.length - 1; i >= 0; i--) {
    const s = symbols[i]!;
    const t = tables[tableOf(i)];
    if (!t) throw new Error(`ransEncode: element ${i} names table ${tableOf(i)} of ${tables.length}`);
    if (!Number.isInteger(s) || s < -(2 ** 31) || s >= 2 ** 31) throw new Error(`ransEncode: symbol ${s} at ${i} is not an int32`);
    const k = s - t.offset;
    if (k >= 0 && k < t.size) {
      put(t.cum[k]!, t.freq[k]!, t.precision);
    } else {
      // Decoded order: escape, high chunk, low chunk — pushed in reverse.
      const z = zigzag(s);
      put(z % 65536, 1, RAW_BITS);
      put(Math.floor(z / 65536), 1, RAW_BITS);
      put(t.cum[t.size]!, t.freq[t.size]!, t.precision);
    }
  }
  for (const sh of [24, 16, 8, 0]) out.push(Math.floor(x / 2 ** sh) % 256);
  return out.buf.slice(0, out.n).reverse();
}

/**
 * Decodes `n` symbols written by ransEncode with the same tables and table assignment. Throws a
 * FormatError (naming `file`) when the stream is truncated, has trailing bytes, or does not end
 * in the encoder's initial state.
 */
export function ransDecode(bytes: Uint8Array, n: number, tables: readonly FreqTable[], tableOf: TableOf = () => 0, file = '<buffer>'): Int32Array {
  if (!Number.isInteger(n) || n < 0) throw new Error(`ransDecode: symbol count must be an integer ≥ 0, got ${n}`);
  const bad = (detail: string) => new FormatError(file, 'rans', detail);
  if (bytes.length < 4) throw bad(`rANS stream of ${bytes.length} bytes is shorter than its 4-byte state`);
  let pos = 4;
  let x = bytes[0]! + bytes[1]! * 256 + bytes[2]! * 65536 + bytes[3]! * 16777216;
  const renorm = () => {
    while (x < RANS_L) {
      if (pos >= bytes.length) throw bad(`rANS stream truncated (${bytes.length} bytes) while decoding`);
      x = x * 256 + bytes[pos++]!;
    }
  };
  const raw = (): number => {
    const slot = x % 65536;
    x = Math.floor(x / 65536); // f = 1, c = slot: x ← 1·⌊x / M⌋ + slot − slot
    renorm();
    return slot;
  };
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = tables[tableOf(i)];
    if (!t) throw new Error(`ransDecode: element ${i} names table ${tableOf(i)} of ${tables.length}`);
    const M = 2 ** t.precision;
    const slot = x % M;
    // Binary search: the largest k with cum[k] ≤ slot.
    let lo = 0, hi = t.size;
    const cum = t.cum;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (cum[mid]! <= slot) lo = mid;
      else hi = mid - 1;
    }
    x = t.freq[lo]! * Math.floor(x / M) + slot - cum[lo]!;
    renorm();
    if (lo < t.size) {
      out[i] = lo + t.offset;
    } else {
      const zHi = raw();
      const zLo = raw();
      const s = unzigzag(zHi * 65536 + zLo);
      if (s < -(2 ** 31) || s >= 2 ** 31) throw bad(`escaped symbol ${s} at ${i} is not an int32`);
      out[i] = s;
    }
  }
  if (pos !== bytes.length) throw bad(`rANS stream has ${bytes.length - pos} trailing bytes after ${n} symbols (corrupt or wrong symbol count)`);
  if (x !== RANS_L) throw bad('rANS stream does not end in the initial coder state (corrupt data or different tables)');
  return out;
}

/**
 * The ideal code length in bits of `symbols` under the quantised tables: Σ log2(M / f) plus 32 raw
 * bits per escape. The real stream is this plus at most 32 bits (the final state).
 */
export function ransCostBits(symbols: ArrayLike<number>, tables: readonly FreqTable[], tableOf: TableOf = () => 0): number {
  let bits = 0;
  for (let i = 0; i < symbols.length; i++) {
    const t = tables[tableOf(i)]!;
    const k = symbols[i]! - t.offset;
    const f = k >= 0 && k < t.size ? t.freq[k]! : t.freq[t.size]!;
    bits += t.precision - Math.log2(f);
    if (!(k >= 0 && k < t.size)) bits += 2 * RAW_BITS;
  }
  return bits;
}
