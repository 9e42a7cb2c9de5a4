// bf16 rounding (core/backend/js-bf16.ts) against a closed form, and Backend.gemmBf16 (js reference and
// the native AMX / AVX512-BF16 kernels of native/bf16.cc) against a float64 product of the rounded
// operands, on odd shapes. Native checks skip, saying why, where the addon or the CPU feature is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bf16Bits, bf16Round, gemmBf16Reference, roundToBf16 } from '../../../src/core/backend/js-bf16.js';
import { createJsBackend } from '../../../src/core/backend/js.js';
import { loadNativeAddon, loadNativeBackend, type NativeAddon } from '../../../src/core/backend/native.js';

/**
 * The closed form: the bf16 numbers of exponent e are the multiples of 2^(e − 7) (e ≥ −126; below, the
 * subnormal spacing 2^−133), so rounding to nearest-even is x/ulp rounded half to even, times ulp, and
 * anything at or above the midpoint between the largest bf16 (2 − 2^−7)·2^127 and 2^128 becomes Infinity.
 * Evaluated in float64 on x = fround(x) (exact: a float32 has 24 significant bits).
 */
function closedForm(v: number): number {
  const x = Math.fround(v);
  if (Number.isNaN(x) || !Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const e = Math.max(Math.floor(Math.log2(a)), -126);
  // log2 can be off by one at powers of two: fix e so that 2^e ≤ a < 2^(e+1) (or e = −126 below it).
  let ee = e;
  if (ee > -126 && 2 ** ee > a) ee--;
  if (2 ** (ee + 1) <= a) ee++;
  const ulp = 2 ** (Math.max(ee, -126) - 7);
  const q = a / ulp;
  const fl = Math.floor(q);
  const r = q - fl === 0.5 ? (fl % 2 === 0 ? fl : fl + 1) : Math.round(q);
  const y = r * ulp;
  if (y >= 2 ** 128) return Math.sign(x) * Infinity;
  return Math.sign(x) * y;
}

/** xorshift32 in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}
const fromBits = (u: number) => new Float32Array(new Uint32Array([u >>> 0]).buffer)[0]!;

/** Normal, subnormal, tie, near-overflow and special float32 values. */
function specialValues(): number[] {
  const out = [0, -0, 1, -1, Infinity, -Infinity, NaN, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45, 1.1754943508222875e-38];
  // Exact ties: low half 0x8000 with an even and with an odd kept bit, and one above / below a tie.
  for (const hi of [0x3f80, 0x3f81, 0x4049, 0x0001, 0x7f7f, 0xbf80, 0xbf81, 0x0080]) {
    for (const lo of [0x8000, 0x7fff, 0x8001, 0x0000, 0xffff]) out.push(fromBits((hi << 16) | lo));
  }
  out.push(fromBits(0x7f7f8000)); // the midpoint to 2^128: rounds (to even) up to Infinity
  out.push(fromBits(0x7f7f7fff)); // just below it: the largest bf16
  out.push(fromBits(0x7fc00001), fromBits(0xff800001), fromBits(0x7f800001)); // NaNs (quiet, and signalling with a low payload)
  return out;
}

test('bf16Round equals the closed form on ties, subnormals, overflow, ±0, ±Infinity, NaN and random floats', () => {
  const r = rng(7);
  const values = specialValues();
  for (let i = 0; i < 20000; i++) values.push(fromBits(Math.floor(r() * 4294967296)));
  for (const v of values) {
    const got = bf16Round(v), want = closedForm(v);
    if (Number.isNaN(want)) {
      assert.ok(Number.isNaN(got), `bf16Round(${v}) must be NaN`);
      continue;
    }
    assert.ok(Object.is(got, want), `bf16Round(${v} = 0x${(new Uint32Array(new Float32Array([v]).buffer)[0]!).toString(16)}) = ${got}, closed form ${want}`);
  }
  assert.equal(bf16Round(1 + 2 ** -8), 1, 'a tie with an even kept bit stays');
  assert.equal(bf16Round(1 + 3 * 2 ** -8), 1 + 2 ** -6, 'a tie with an odd kept bit goes up to even');
  assert.equal(bf16Bits(fromBits(0x7f800001)) & 0x7fc0, 0x7fc0, 'a signalling NaN with a low payload stays NaN (quiet)');
  assert.equal(bf16Bits(-0) , 0x8000, '−0 keeps its sign');
});

test('roundToBf16 rounds arrays like bf16Round, in place too', () => {
  const r = rng(3);
  const src = new Float32Array(2000);
  for (let i = 0; i < src.length; i++) src[i] = fromBits(Math.floor(r() * 4294967296));
  src.set(specialValues().slice(0, 40));
  const dst = new Float32Array(src.length);
  roundToBf16(src, dst);
  for (let i = 0; i < src.length; i++) {
    const want = bf16Round(src[i]!);
    assert.ok(Object.is(dst[i], Math.fround(want)) || (Number.isNaN(want) && Number.isNaN(dst[i]!)), `element ${i}: ${dst[i]} vs ${want}`);
  }
  const copy = Float32Array.from(src);
  roundToBf16(copy, copy);
  assert.deepEqual(Array.from(copy).map(String), Array.from(dst).map(String));
});

/** C = bias + bf16(A) bf16(B)ᵀ in float64. */
function reference(M: number, N: number, K: number, A: Float32Array, B: Float32Array, bias: Float32Array | null): Float64Array {
  const a = A.map(bf16Round), b = B.map(bf16Round);
  const C = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = bias ? bias[n]! : 0;
    for (let k = 0; k < K; k++) s += a[m * K + k]! * b[n * K + k]!;
    C[m * N + n] = s;
  }
  return C;
}
/** max |got − want| / max |want| (the repo's per-tensor relative error). */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num = Math.max(num, Math.abs(got[i]! - want[i]!));
    den = Math.max(den, Math.abs(want[i]!));
  }
  return num / Math.max(den, 1e-30);
}

// M, N, K: below, at and past the 16/32 tile edges, K odd, K past one AMX depth step, K = 0 (C = bias), and N
// past one 256-latent work unit (two threads' chunks, the second partial).
const SHAPES: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [17, 33, 31], [33, 47, 65], [16, 32, 32], [64, 64, 64], [100, 70, 513], [5, 16, 1], [7, 40, 0], [45, 3, 129], [40, 300, 96]];

function checkGemm(run: (M: number, N: number, K: number, A: Float32Array, B: Float32Array, bias: Float32Array | null, C: Float32Array) => void, what: string): void {
  const r = rng(11);
  for (const [M, N, K] of SHAPES) {
    for (const withBias of [false, true]) {
      const A = new Float32Array(M * K).map(() => 4 * r() - 2);
      const B = new Float32Array(N * K).map(() => 2 * r() - 1);
      const bias = withBias ? new Float32Array(N).map(() => r() - 0.5) : null;
      const C = new Float32Array(M * N).fill(NaN); // overwritten, never read
      run(M, N, K, A, B, bias, C);
      const want = reference(M, N, K, A, B, bias);
      if (K === 0 && !bias) assert.ok(C.every((v) => v === 0), `${what} K=0 without bias gives 0`);
      const e = relErr(C, want);
      assert.ok(e <= 1e-5, `${what} M=${M} N=${N} K=${K} bias=${withBias}: relative error ${e}`);
    }
  }
}

test('js gemmBf16 (the reference) equals the float64 product of the rounded operands', () => {
  checkGemm((M, N, K, A, B, bias, C) => createJsBackend().gemmBf16(M, N, K, A, B, bias, C), 'js');
  assert.equal(createJsBackend().bf16Support().kernel, 'reference');
  assert.throws(() => gemmBf16Reference(2, 2, 2, new Float32Array(3), new Float32Array(4), null, new Float32Array(4)), /operand too short/);
});

const loaded = loadNativeBackend();
let addon: NativeAddon | null = null;
try { addon = loadNativeAddon(); } catch { addon = null; }
const info = addon ? addon.bf16Info() : null;
const noAddon = addon ? false : `native addon not available (${loaded.error ?? 'unknown reason'})`;
const kernels: [number, string, string | false][] = [
  [1, 'amx-bf16', noAddon || (info!.amx ? false : `this CPU/OS offers no AMX-BF16 (${info!.amxNote || info!.missing || 'not reported by cpuid'})`)],
  [2, 'avx512-bf16', noAddon || (info!.avx512bf16 ? false : `this CPU has no AVX512-BF16 (${info!.missing})`)],
];

for (const [code, name, skip] of kernels) {
  test(`native gemmBf16 ${name} equals the float64 product of the rounded operands (odd shapes, with and without bias)`, { skip }, () => {
    checkGemm((M, N, K, A, B, bias, C) => addon!.gemmBf16(M, N, K, A, B, bias, C, code), name);
  });

  test(`native gemmBf16 ${name} rounds like bf16Round (K = 1 against 1: NaN, ±Infinity, ties)`, { skip }, () => {
    // Normal values only: the bf16 dot-product instructions treat subnormal inputs as zero.
    const vals = specialValues().filter((v) => !(v !== 0 && Math.abs(v) < 1.1754943508222875e-38));
    const A = Float32Array.from(vals);
    const C = new Float32Array(vals.length);
    addon!.gemmBf16(vals.length, 1, 1, A, new Float32Array([1]), null, C, code);
    vals.forEach((v, i) => {
      const want = Math.fround(bf16Round(v));
      assert.ok(Object.is(C[i], want) || (Number.isNaN(want) && Number.isNaN(C[i]!)) || (want === 0 && C[i] === 0), `${name}: ${v} → ${C[i]}, want ${want}`);
    });
  });
}

test('native gemmBf16: results do not depend on the thread count; bad sizes throw naming the operand', { skip: noAddon || (info!.kernel ? false : `no bf16 kernel here (${info!.missing})`) }, () => {
  const r = rng(5);
  const M = 70, N = 300, K = 96;
  const A = new Float32Array(M * K).map(() => r() - 0.5), B = new Float32Array(N * K).map(() => r() - 0.5), bias = new Float32Array(N).map(() => r());
  const threads = addon!.threads();
  const C1 = new Float32Array(M * N), C2 = new Float32Array(M * N);
  try {
    addon!.setThreads(1);
    addon!.gemmBf16(M, N, K, A, B, bias, C1, 0);
    addon!.setThreads(Math.max(2, threads));
    addon!.gemmBf16(M, N, K, A, B, bias, C2, 0);
  } finally {
    addon!.setThreads(threads);
  }
  assert.deepEqual(new Uint32Array(C1.buffer), new Uint32Array(C2.buffer));
  assert.throws(() => addon!.gemmBf16(M, N, K, A, B, bias, new Float32Array(M * N - 1), 0), /gemmBf16: C has 20999 elements, needs 21000/);
  assert.throws(() => addon!.gemmBf16(M, N, K, A, B, new Float32Array(N - 1), C1, 0), /bias has 299 elements/);
  assert.throws(() => addon!.gemmBf16(M, N, K, A, new Int32Array(N * K) as unknown as Float32Array, bias, C1, 0), /B must be a Float32Array/);
  assert.equal(loaded.backend!.bf16Support().kernel, info!.kernel);
});

test('AELAB_BF16=off: no native bf16 kernel, and gemmBf16 throws naming what is missing', { skip: noAddon }, () => {
  const native = fileURLToPath(new URL('../../../src/core/backend/native.js', import.meta.url));
  const code = `import('${native}').then((m) => { const a = m.loadNativeAddon(); const i = a.bf16Info();
    let msg = ''; try { a.gemmBf16(1, 1, 1, new Float32Array(1), new Float32Array(1), null, new Float32Array(1), 0); } catch (e) { msg = e.message; }
    console.log(JSON.stringify({ kernel: i.kernel, missing: i.missing, msg })); })`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, AELAB_BF16: 'off' } });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { kernel: string | null; missing: string; msg: string };
  assert.equal(out.kernel, null);
  assert.match(out.missing, /AELAB_BF16=off/);
  assert.match(out.msg, /gemmBf16: the bf16 kernel is not available: AELAB_BF16=off/);
});
