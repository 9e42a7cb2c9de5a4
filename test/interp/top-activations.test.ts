import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arraySource } from '../../src/sae/activations.js';
import { encodeSae, type SaeWeights } from '../../src/sae/interop.js';
import { topActivations } from '../../src/interp/top-activations.js';
import { lcg } from '../helpers/gradcheck.js';

function randomSae(arch: 'relu' | 'topk', dIn: number, dSae: number, seed: number): SaeWeights {
  const r = lcg(seed);
  const f = (n: number, s = 1) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * s);
  return { arch, dIn, dSae, k: arch === 'topk' ? 3 : undefined, W_enc: f(dSae * dIn), b_enc: f(dSae, 0.3), W_dec: f(dSae * dIn), b_dec: f(dIn, 0.1), applyBDecToInput: true, meta: {} };
}

describe('topActivations', () => {
  for (const arch of ['relu', 'topk'] as const) {
    it(`${arch}: equals a brute-force sort of every latent's activations, for any block size`, () => {
      const d = 6, H = 10, N = 257;
      const w = randomSae(arch, d, H, 7);
      const r = lcg(11);
      const x = Float32Array.from({ length: N * d }, () => r() * 2 - 1);
      const codes = encodeSae(w, x);
      const src = arraySource(x, N, d);
      const a = topActivations(w, src, { perLatent: 5, block: 64 });
      const b = topActivations(w, src, { perLatent: 5, block: 1000 });
      assert.deepEqual(a.map((s) => s.top.map((e) => e.row)), b.map((s) => s.top.map((e) => e.row)));
      for (let h = 0; h < H; h++) {
        const fired = [...Array(N).keys()].map((i) => ({ row: i, value: codes[i * H + h]! })).filter((e) => e.value > 0);
        fired.sort((p, q) => q.value - p.value || p.row - q.row);
        const s = a[h]!;
        assert.equal(s.density, fired.length / N);
        assert.deepEqual(s.top.map((e) => e.row), fired.slice(0, 5).map((e) => e.row), `latent ${h}`);
        for (const [j, e] of s.top.entries()) assert.ok(Math.abs(e.value - fired[j]!.value) < 1e-4);
        if (fired.length) assert.ok(Math.abs(s.maxActivation - fired[0]!.value) < 1e-4);
      }
    });
  }

  it('refuses activations of the wrong width', () => {
    const w = randomSae('relu', 4, 3, 1);
    assert.throws(() => topActivations(w, arraySource(new Float32Array(10), 2, 5)), /width 5, the SAE's d_in is 4/);
  });
});
