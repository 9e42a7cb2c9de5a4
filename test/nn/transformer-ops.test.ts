// Decoder-transformer ops (src/nn/transformer-ops.ts) on every backend: finite-difference gradchecks
// of each op, equality with plain reference implementations written here (naive loops), grouped-query
// attention, causal / key-padding masks (a padding query sees only itself), queryOffset for cached
// decoding, rotary's backward being the inverse rotation, and the fused cross-entropy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, fromBuffer, noGrad } from '../../src/core/tensor.js';
import { logSoftmax } from '../../src/core/ops/nn.js';
import { reshape } from '../../src/core/ops/shape.js';
import {
  attentionMix, attentionPattern, crossEntropyRows, geluTanh, rmsNorm, rotary, rotaryTables, swiglu, type AttentionMask,
} from '../../src/nn/transformer-ops.js';
import { assertClose, describeBackends, gradcheck, rand } from '../helpers/gradcheck.js';

const t = (data: Float32Array, shape: number[], rg = false): Tensor => fromBuffer(data, shape, rg);

/** Naive attention pattern: [B, H, T, S] from q [B, H, T, dh], k [B, Hkv, Smax, dh]. */
function refPattern(Q: Float32Array, Kd: Float32Array, B: number, H: number, Hkv: number, T: number, S: number, Smax: number, dh: number, scale: number, off: number, km: Int32Array | null): Float64Array {
  const P = new Float64Array(B * H * T * S), g = H / Hkv;
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
    const qpos = off + i, row = ((b * H + h) * T + i) * S;
    const pad = km !== null && km[b * S + qpos] === 0;
    const sc = new Float64Array(S).fill(-Infinity);
    for (let s = 0; s < S; s++) {
      const hidden = pad ? s !== qpos : s > qpos || (km !== null && km[b * S + s] === 0);
      if (hidden) continue;
      let d = 0;
      for (let c = 0; c < dh; c++) d += Q[((b * H + h) * T + i) * dh + c]! * Kd[((b * Hkv + Math.floor(h / g)) * Smax + s) * dh + c]!;
      sc[s] = d * scale;
    }
    const m = Math.max(...sc);
    let z = 0;
    for (let s = 0; s < S; s++) z += Math.exp(sc[s]! - m);
    for (let s = 0; s < S; s++) P[row + s] = Math.exp(sc[s]! - m) / z;
  }
  return P;
}

function refMix(P: Float32Array, V: Float32Array, B: number, H: number, Hkv: number, T: number, S: number, Smax: number, dh: number): Float64Array {
  const Z = new Float64Array(B * H * T * dh), g = H / Hkv;
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) for (let c = 0; c < dh; c++) {
    let s2 = 0;
    for (let s = 0; s < S; s++) s2 += P[((b * H + h) * T + i) * S + s]! * V[((b * Hkv + Math.floor(h / g)) * Smax + s) * dh + c]!;
    Z[((b * H + h) * T + i) * dh + c] = s2;
  }
  return Z;
}

describeBackends('transformer ops', () => {
  test('rmsNorm equals the plain formula and passes gradcheck', () => {
    const x = rand([3, 5, 8], 1), w = rand([8], 2, 0.5, 1.5);
    const y = noGrad(() => rmsNorm(x, w, 1e-6)).f32();
    const X = x.f32(), W = w.f32(), ref = new Float64Array(X.length);
    for (let r = 0; r < 15; r++) {
      let ss = 0;
      for (let j = 0; j < 8; j++) ss += X[r * 8 + j]! ** 2;
      const ri = 1 / Math.sqrt(ss / 8 + 1e-6);
      for (let j = 0; j < 8; j++) ref[r * 8 + j] = X[r * 8 + j]! * ri * W[j]!;
    }
    assertClose(y, ref, 1e-6, 1e-5, 'rmsNorm');
    gradcheck((a, b) => rmsNorm(a, b, 1e-6), [rand([4, 6], 3), rand([6], 4, 0.5, 1.5)]);
    // More rows than one 64-row chunk of the native weight gradient.
    gradcheck((a, b) => rmsNorm(a, b, 1e-5), [rand([130, 3], 5), rand([3], 6, 0.5, 1.5)], { atol: 3e-2 });
  });

  test('geluTanh and swiglu equal their formulas and pass gradcheck', () => {
    const x = rand([1000], 7, -6, 6), u = rand([1000], 8);
    const X = x.f32(), U = u.f32();
    const gy = noGrad(() => geluTanh(x)).f32(), sy = noGrad(() => swiglu(x, u)).f32();
    const c = Math.sqrt(2 / Math.PI);
    assertClose(gy, Array.from(X, (v) => 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v ** 3)))), 1e-6, 1e-5, 'geluTanh');
    assertClose(sy, Array.from(X, (v, i) => (v / (1 + Math.exp(-v))) * U[i]!), 1e-6, 1e-5, 'swiglu');
    gradcheck((a) => geluTanh(a), [rand([37], 9, -3, 3)]);
    gradcheck((a, b) => swiglu(a, b), [rand([37], 10, -3, 3), rand([37], 11)]);
  });

  test('rotary rotates pairs by the position angle; its backward is the inverse rotation', () => {
    const B = 2, T = 3, H = 2, dh = 6;
    const tab = rotaryTables(8, dh, 10000);
    const pos = Int32Array.of(0, 1, 2, 5, 6, 7);
    const x = rand([B, T, H, dh], 12);
    const y = noGrad(() => rotary(x, pos, tab)).f32(), X = x.f32();
    for (let bt = 0; bt < B * T; bt++) for (let h = 0; h < H; h++) for (let i = 0; i < 3; i++) {
      const ang = pos[bt]! * Math.pow(10000, (-2 * i) / dh), o = (bt * H + h) * dh;
      const a = X[o + i]!, b = X[o + 3 + i]!;
      assert.ok(Math.abs(y[o + i]! - (a * Math.cos(ang) - b * Math.sin(ang))) < 1e-5);
      assert.ok(Math.abs(y[o + 3 + i]! - (b * Math.cos(ang) + a * Math.sin(ang))) < 1e-5);
    }
    // Backward of a rotation is its transpose = the inverse rotation: grad of Σ y ⊙ y' applied to y gives x back.
    const xr = t(X.slice(), [B, T, H, dh], true);
    const out = rotary(xr, pos, tab);
    out.backward(t(y.slice(), [B, T, H, dh]));
    assertClose(xr.grad!.f32(), X, 1e-5, 1e-4, 'inverse rotation');
    gradcheck((a) => rotary(a, pos, tab), [rand([B, T, H, dh], 13)]);
    assert.throws(() => rotary(x, Int32Array.of(0, 1, 2, 3, 4, 8), tab), /outside/);
  });

  const cases: { name: string; B: number; H: number; Hkv: number; T: number; S: number; Smax: number; dh: number; mask: AttentionMask; km?: number[] }[] = [
    { name: 'causal MHA', B: 2, H: 2, Hkv: 2, T: 5, S: 5, Smax: 5, dh: 4, mask: {} },
    { name: 'GQA (4 heads on 2 kv heads)', B: 2, H: 4, Hkv: 2, T: 6, S: 6, Smax: 6, dh: 8, mask: {} },
    { name: 'cached decoding: queryOffset, Smax > S', B: 1, H: 2, Hkv: 1, T: 2, S: 7, Smax: 9, dh: 6, mask: { keys: 7, queryOffset: 5 } },
    { name: 'key padding (left-padded rows)', B: 2, H: 2, Hkv: 1, T: 5, S: 5, Smax: 5, dh: 4, mask: {}, km: [0, 0, 1, 1, 1, 1, 1, 1, 1, 1] },
    { name: 'wide rows (S > 16), dh 32', B: 1, H: 2, Hkv: 2, T: 21, S: 21, Smax: 21, dh: 32, mask: {} },
  ];
  for (const c of cases) {
    test(`attention ${c.name}: pattern and mix equal the naive reference; gradcheck`, () => {
      const mask: AttentionMask = { ...c.mask, keyMask: c.km ? Int32Array.from(c.km) : null };
      const off = mask.queryOffset ?? c.S - c.T;
      const q = rand([c.B, c.H, c.T, c.dh], 20), k = rand([c.B, c.Hkv, c.Smax, c.dh], 21), v = rand([c.B, c.Hkv, c.Smax, c.dh], 22);
      const scale = 1 / Math.sqrt(c.dh);
      const P = noGrad(() => attentionPattern(q, k, scale, mask));
      const ref = refPattern(q.f32(), k.f32(), c.B, c.H, c.Hkv, c.T, c.S, c.Smax, c.dh, scale, off, mask.keyMask ?? null);
      assertClose(P.f32(), ref, 1e-6, 1e-5, 'pattern');
      // Hidden entries are exactly 0; a padding query is one-hot at its own position.
      for (let b = 0; b < c.B; b++) for (let h = 0; h < c.H; h++) for (let i = 0; i < c.T; i++) {
        const row = ((b * c.H + h) * c.T + i) * c.S;
        for (let s = off + i + 1; s < c.S; s++) assert.equal(P.f32()[row + s], 0);
        if (c.km && c.km[b * c.S + off + i] === 0) assert.equal(P.f32()[row + off + i], 1);
      }
      const Z = noGrad(() => attentionMix(P, v));
      assertClose(Z.f32(), refMix(P.f32(), v.f32(), c.B, c.H, c.Hkv, c.T, c.S, c.Smax, c.dh), 1e-6, 1e-5, 'mix');
      gradcheck((a, b) => attentionPattern(a, b, scale, mask), [rand([c.B, c.H, c.T, c.dh], 23), rand([c.B, c.Hkv, c.Smax, c.dh], 24)]);
      gradcheck((a, b) => attentionMix(a, b), [rand([c.B, c.H, c.T, c.S], 25, 0, 1), rand([c.B, c.Hkv, c.Smax, c.dh], 26)]);
      gradcheck((a, b, w) => attentionMix(attentionPattern(a, b, scale, mask), w), [rand([c.B, c.H, c.T, c.dh], 27), rand([c.B, c.Hkv, c.Smax, c.dh], 28), rand([c.B, c.Hkv, c.Smax, c.dh], 29)]);
    });
  }

  test('attentionMix handles a non-causal (hooked) pattern exactly', () => {
    const P = rand([1, 2, 4, 4], 30, 0, 1), v = rand([1, 2, 4, 3], 31);
    assertClose(noGrad(() => attentionMix(P, v)).f32(), refMix(P.f32(), v.f32(), 1, 2, 2, 4, 4, 4, 3), 1e-6, 1e-5, 'mix');
  });

  test('crossEntropyRows equals mean −log softmax at the targets; ignored rows; gradcheck', () => {
    const x = rand([6, 11], 40, -3, 3);
    const tg = Int32Array.of(3, -1, 0, 10, 5, -1);
    const l = noGrad(() => crossEntropyRows(x, tg)).item();
    const lp = noGrad(() => logSoftmax(x, -1)).f32();
    let ref = 0, n = 0;
    for (let r = 0; r < 6; r++) if (tg[r]! >= 0) { ref -= lp[r * 11 + tg[r]!]!; n++; }
    assert.ok(Math.abs(l - ref / n) < 1e-5, `${l} vs ${ref / n}`);
    gradcheck((a) => crossEntropyRows(a, tg), [rand([6, 11], 41, -3, 3)]);
    gradcheck((a) => crossEntropyRows(reshape(a, [6, 11]), tg), [rand([2, 3, 11], 42, -3, 3)]);
    assert.throws(() => crossEntropyRows(x, Int32Array.of(0, 0, 0, 0, 0, 11)), /outside/);
  });
});
