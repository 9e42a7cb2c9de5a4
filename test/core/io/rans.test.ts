// rANS coder: exact round trips on random and adversarial streams, cost close to the entropy,
// and clear errors (never hangs) on truncated or corrupt streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../../src/core/io/errors.js';
import { checkFreqTable, quantizePmf, ransCostBits, ransDecode, ransEncode, type FreqTable } from '../../../src/core/io/rans.js';
import { lcg } from '../../helpers/gradcheck.js';

function roundTrip(sym: Int32Array, tables: FreqTable[], tableOf?: (i: number) => number): Uint8Array {
  const bytes = ransEncode(sym, tables, tableOf);
  const back = ransDecode(bytes, sym.length, tables, tableOf);
  assert.deepEqual(back, sym);
  // Deterministic: the same input gives the same bytes.
  assert.deepEqual(ransEncode(sym, tables, tableOf), bytes);
  return bytes;
}

/** Discretised Laplace pmf over −R..R with scale b. */
function laplace(R: number, b: number): number[] {
  return Array.from({ length: 2 * R + 1 }, (_, k) => Math.exp(-Math.abs(k - R) / b));
}

function sampleFrom(pmf: number[], offset: number, n: number, seed: number): Int32Array {
  const r = lcg(seed);
  const tot = pmf.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  let c = 0;
  for (const p of pmf) cdf.push((c += p / tot));
  return Int32Array.from({ length: n }, () => {
    const u = r();
    let k = 0;
    while (k < pmf.length - 1 && cdf[k]! < u) k++;
    return k + offset;
  });
}

test('quantizePmf: frequencies sum to 2^p, each ≥ 1, close to the pmf', () => {
  const t = quantizePmf(laplace(20, 2), -20, 14, 1e-6);
  checkFreqTable(t);
  assert.equal(t.cum[t.size + 1], 1 << 14);
  assert.ok(Math.abs(t.freq[20]! / 2 ** 14 - (1 - Math.exp(-0.5)) / (1 + Math.exp(-0.5))) < 0.01);
  assert.throws(() => quantizePmf([1, 2, 3], 0, 1), /do not fit/);
  assert.throws(() => quantizePmf([1, NaN], 0), /not a finite/);
  assert.throws(() => quantizePmf([1], 0, 17), /precision/);
});

test('random Laplace stream: exact round trip; size within 0.5% + 4 bytes of the ideal cost and close to entropy', () => {
  const pmf = laplace(30, 3);
  const t = quantizePmf(pmf, -30, 16, 1e-9);
  const sym = sampleFrom(pmf, -30, 100_000, 1);
  const bytes = roundTrip(sym, [t]);
  const ideal = ransCostBits(sym, [t]);
  assert.ok(bytes.length * 8 >= ideal - 1, `${bytes.length * 8} bits below the ideal ${ideal}`);
  assert.ok(bytes.length * 8 <= ideal * 1.005 + 32, `${bytes.length * 8} bits vs ideal ${ideal}`);
});

test('per-channel tables (factorised prior) with a channel map', () => {
  const tables = [quantizePmf(laplace(5, 0.5), -5), quantizePmf(laplace(50, 10), -50), quantizePmf([1, 1, 1, 1], 10, 8)];
  const r = lcg(2);
  const n = 30_000, HW = 100;
  const of = (i: number) => Math.floor(i / HW) % 3;
  const sym = Int32Array.from({ length: n }, (_, i) => {
    const c = of(i);
    return c === 0 ? Math.round((r() - 0.5) * 6) : c === 1 ? Math.round((r() - 0.5) * 80) : 10 + Math.floor(r() * 4);
  });
  roundTrip(sym, tables, of);
});

test('adversarial streams: one symbol, the rarest symbol, empty, huge alphabet, escapes to ±2^31', () => {
  const t = quantizePmf(laplace(100, 1), -100, 16);
  roundTrip(new Int32Array(50_000), [t]); // all the most probable symbol
  const allZero = ransEncode(new Int32Array(50_000), [t]);
  const perSym = 16 - Math.log2(t.freq[100]!); // ≈ 1.11 bits for the mode of Laplace(b = 1)
  assert.ok(Math.abs(allZero.length - (50_000 * perSym) / 8) <= 5, `all-mode stream is ${allZero.length} bytes, ideal ${(50_000 * perSym) / 8}`);
  // A nearly deterministic table codes a constant stream in almost nothing.
  const peaked = quantizePmf([1e-9, 1, 1e-9], -1, 16);
  assert.ok(ransEncode(new Int32Array(100_000), [peaked]).length < 16);
  roundTrip(new Int32Array(5_000).fill(100), [t]); // all the least probable symbol (freq 1)
  roundTrip(new Int32Array(0), [t]);
  assert.equal(ransEncode(new Int32Array(0), [t]).length, 4);
  // Alphabet of 60 000 symbols at precision 16 (almost every frequency is 1).
  const huge = quantizePmf(new Array(60_000).fill(1), -30_000, 16);
  const r = lcg(3);
  roundTrip(Int32Array.from({ length: 20_000 }, () => Math.floor(r() * 60_000) - 30_000), [huge]);
  // Escapes: values far outside the table, including the int32 extremes, mixed with in-range values.
  const esc = Int32Array.from({ length: 10_000 }, (_, i) => i % 7 === 0 ? (i % 2 ? 2 ** 31 - 1 - i : -(2 ** 31) + i) : i % 5 === 0 ? 101 + i : (i % 11) - 5);
  roundTrip(esc, [t]);
  roundTrip(Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0, -101, 101]), [t]);
  // A table with no escape mass and a one-symbol alphabet still codes anything.
  const one = quantizePmf([1], 7, 4);
  roundTrip(Int32Array.from([7, 7, 7, 8, -3, 7]), [one]);
  assert.throws(() => ransEncode([1.5], [t]), /not an int32/);
  assert.throws(() => ransEncode([2 ** 31], [t]), /not an int32/);
  assert.throws(() => ransEncode([0], [t], () => 3), /table 3/);
});

test('truncated, extended and corrupted streams raise FormatError and never hang (10k fuzz inputs)', () => {
  const pmf = laplace(8, 1.5);
  const t = quantizePmf(pmf, -8, 12);
  const sym = sampleFrom(pmf, -8, 2_000, 4);
  const bytes = ransEncode(sym, [t]);
  assert.throws(() => ransDecode(bytes.subarray(0, 3), sym.length, [t], undefined, 'x.aelc'), /x\.aelc: .*shorter/);
  assert.throws(() => ransDecode(bytes.subarray(0, bytes.length - 1), sym.length, [t]), FormatError);
  assert.throws(() => ransDecode(Uint8Array.from([...bytes, 0]), sym.length, [t]), /trailing/);
  assert.throws(() => ransDecode(bytes, sym.length - 5, [t]), FormatError);
  const r = lcg(5);
  let detected = 0;
  const N = 10_000;
  for (let k = 0; k < N; k++) {
    const b = bytes.slice(0, Math.max(0, Math.floor(r() * (bytes.length + 8))));
    const flips = 1 + Math.floor(r() * 3);
    for (let f = 0; f < flips && b.length; f++) b[Math.floor(r() * b.length)] ^= 1 + Math.floor(r() * 255);
    try {
      const out = ransDecode(b, 200, [t]);
      assert.equal(out.length, 200);
    } catch (e) {
      assert.ok(e instanceof FormatError, `unexpected ${(e as Error).stack}`);
      detected++;
    }
  }
  assert.ok(detected > N * 0.9, `only ${detected} of ${N} corrupt inputs were detected`);
});
