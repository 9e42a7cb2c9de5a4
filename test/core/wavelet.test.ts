// The CDF 9/7 (bior4.4) DWT, its inverse and the wavelet packet transform against PyWavelets
// (fixtures from scripts/fixtures/gen_wavelet_fixtures.py, mode='periodization').
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromBuffer, type Tensor } from '../../src/core/tensor.js';
import { BIOR44, dwt1, dwt2, idwt1, idwt2, iwpt2, wpt2 } from '../../src/core/wavelet.js';
import { gradcheck, rand } from '../helpers/gradcheck.js';

interface Arr { shape: number[]; data: number[] }
const FX = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/wavelet/wavelet.json', import.meta.url)), 'utf8'));

function t4(a: Arr): Tensor {
  const s = a.shape.length === 2 ? [1, 1, ...a.shape] : [1, ...a.shape];
  return fromBuffer(Float32Array.from(a.data), s);
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i]! - want[i]!);
    if (e > worst) [worst, at] = [e, i];
  }
  assert.ok(worst <= tol, `${what}: max |error| ${worst} at ${at} (got ${got[at]}, want ${want[at]}) exceeds ${tol}`);
}

test('filter bank is PyWavelets bior4.4', () => {
  assert.deepEqual([...BIOR44.decLo], FX.filters.dec_lo);
  assert.deepEqual([...BIOR44.decHi], FX.filters.dec_hi);
  assert.deepEqual([...BIOR44.recLo], FX.filters.rec_lo);
  assert.deepEqual([...BIOR44.recHi], FX.filters.rec_hi);
});

test('1-D dwt/idwt match pywt.dwt (float64, 1e-12) and invert to 1e-11', () => {
  const [a, d] = dwt1(FX.dwt1.x.data);
  close(a, FX.dwt1.cA.data, 1e-12, 'cA');
  close(d, FX.dwt1.cD.data, 1e-12, 'cD');
  // pywt's bior4.4 taps are biorthogonal to ~1e-12, which bounds the perfect reconstruction.
  close(idwt1(a, d), FX.dwt1.x.data, 1e-11, 'idwt1(dwt1(x))');
});

test('dwt2 matches pywt.dwt2 on an 8×12 image; channel order cA, cH, cV, cD', () => {
  const y = dwt2(t4(FX.dwt2.x));
  assert.deepEqual([...y.shape], [1, 4, 4, 6]);
  const S = 24;
  (['cA', 'cH', 'cV', 'cD'] as const).forEach((k, i) => close(y.data.subarray(i * S, (i + 1) * S), FX.dwt2[k].data, 2e-6, k));
  close(idwt2(y).data, FX.dwt2.x.data, 2e-6, 'idwt2(dwt2(x))');
});

test('idwt2 matches pywt.idwt2 on arbitrary coefficients', () => {
  const f = FX.idwt2;
  const data = new Float32Array(4 * 24);
  (['cA', 'cH', 'cV', 'cD'] as const).forEach((k, i) => data.set(f[k].data, i * 24));
  const x = idwt2(fromBuffer(data, [1, 4, 4, 6]));
  assert.deepEqual([...x.shape], [1, 1, 8, 12]);
  close(x.data, f.x.data, 2e-6, 'idwt2');
});

for (const J of [1, 2, 3]) {
  test(`wavelet packet transform J=${J} matches pywt.WaveletPacket2D (natural order) and inverts`, () => {
    const lv = FX.wpt.levels[String(J)];
    assert.equal(lv.paths.length, 4 ** J);
    const x = t4(FX.wpt.x);
    const y = wpt2(x, J);
    assert.deepEqual([...y.shape], [1, 4 ** J, 16 >> J, 16 >> J]);
    // Coefficients grow by up to ~2 per level (the low-pass DC gain is √2 per axis).
    close(y.data, lv.coeffs.data, 4e-6 * 2 ** J, `wpt J=${J}`);
    close(iwpt2(y, J).data, FX.wpt.x.data, 4e-6, `iwpt(wpt(x)) J=${J}`);
  });
}

test('batched, multi-channel: channels are independent and ordered c·4^J + path', () => {
  const x = rand([2, 3, 16, 8], 5, -1, 1, false);
  const y = wpt2(x, 2);
  assert.deepEqual([...y.shape], [2, 48, 4, 2]);
  // Channel 1 of sample 1 alone gives the block 16..31 of sample 1.
  const one = fromBuffer(x.data.slice((3 + 1) * 128, (3 + 2) * 128), [1, 1, 16, 8]);
  close(y.data.subarray((48 + 16) * 8, (48 + 32) * 8), wpt2(one, 2).data, 0, 'block');
  close(iwpt2(y, 2).data, x.data, 4e-6, 'round trip');
});

test('gradients of dwt2, idwt2 and wpt2 match finite differences', () => {
  gradcheck((x) => dwt2(x), [rand([1, 2, 4, 6], 1)]);
  gradcheck((y) => idwt2(y), [rand([1, 4, 2, 4], 2)]);
  gradcheck((x) => wpt2(x, 2), [rand([1, 1, 8, 4], 3)]);
  gradcheck((y) => iwpt2(y, 2), [rand([1, 16, 2, 1], 4)]);
});

test('bad sizes are clear errors', () => {
  assert.throws(() => wpt2(rand([1, 1, 12, 8], 1, -1, 1, false), 3), /divisible by 2\^3 = 8/);
  assert.throws(() => dwt2(rand([1, 1, 5, 4], 1, -1, 1, false)), /even/);
  assert.throws(() => idwt2(rand([1, 3, 2, 2], 1, -1, 1, false)), /multiple of 4/);
  assert.throws(() => iwpt2(rand([1, 8, 2, 2], 1, -1, 1, false), 2), /multiple of 4\^2/);
  assert.throws(() => dwt2(rand([4, 4], 1, -1, 1, false)), /\[N, C, H, W\]/);
});
