// MultiHeadAttention computes A·V with one attentionMix kernel call (when T ≤ S) instead of B·H
// small GEMMs: its output and every gradient equal a plain reference built from batched matmuls
// (softmax(Q Kᵀ/√D + M) V per head), for self-attention with a key-padding mask, cross-attention
// with fewer queries than keys, and with more queries than keys (the matmul fallback).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { add, mul, scale } from '../../src/core/ops/elementwise.js';
import { linear, matmul } from '../../src/core/ops/linalg.js';
import { permute, reshape, slice } from '../../src/core/ops/shape.js';
import { softmax } from '../../src/core/ops/nn.js';
import { sum } from '../../src/core/ops/reduce.js';
import { MultiHeadAttention } from '../../src/nn/attention.js';
import { assertClose, rand } from '../helpers/gradcheck.js';

/** The plain path: per-head batched matmuls, additive −1e9 on padded keys. */
function reference(m: MultiHeadAttention, q: Tensor, kv: Tensor, pad: Float32Array | null): Tensor {
  const E = m.embedDim, H = m.numHeads, D = E / H, B = q.shape[0]!, T = q.shape[1]!, S = kv.shape[1]!;
  const w = (i: number) => slice(m.in_proj_weight, 0, i * E, (i + 1) * E), b = (i: number) => slice(m.in_proj_bias, 0, i * E, (i + 1) * E);
  const heads = (t: Tensor, L: number) => reshape(permute(reshape(t, [B, L, H, D]), [0, 2, 1, 3]), [B * H, L, D]);
  const Q = heads(scale(linear(q, w(0), b(0)), 1 / Math.sqrt(D)), T), K = heads(linear(kv, w(1), b(1)), S), V = heads(linear(kv, w(2), b(2)), S);
  let s = matmul(Q, K, { transB: true });
  if (pad) {
    const bias = new Float32Array(B * H * T * S);
    for (let bb = 0; bb < B; bb++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) for (let j = 0; j < S; j++) bias[((bb * H + h) * T + t) * S + j] = pad[bb * S + j] ? -1e9 : 0;
    s = add(s, new Tensor(bias, [B * H, T, S], false));
  }
  const ctx = matmul(softmax(s, 2), V);
  return m.out_proj.forward(reshape(permute(reshape(ctx, [B, H, T, D]), [0, 2, 1, 3]), [B, T, E]));
}

for (const [name, T, S, masked] of [['self-attention, key padding', 7, 7, true], ['cross-attention, T < S', 3, 9, false], ['cross-attention, T > S (matmul fallback)', 9, 4, false]] as const) {
  test(`MultiHeadAttention (${name}): output and gradients equal the batched-matmul reference`, () => {
    const B = 3, E = 8;
    const m = new MultiHeadAttention(E, 2, new Generator(1));
    for (const p of m.parameters()) for (let i = 0; i < p.data.length; i++) p.data[i] += 0.05 * Math.cos(3 * i + 1);
    const q = rand([B, T, E], 2), kv = T === S && masked ? q : rand([B, S, E], 3);
    const pad = masked ? Float32Array.from({ length: B * S }, (_, i) => (i % S === S - 1 && i < S * 2 ? 1 : 0)) : null;
    const g = rand([B, T, E], 4, -1, 1, false);
    const run = (f: () => Tensor) => {
      for (const t of [...m.parameters(), q, kv]) t.grad = null;
      const y = f();
      sum(mul(y, g)).backward();
      return { y: Array.from(y.data), grads: [...m.parameters(), q, kv].map((t) => Array.from(t.grad!.data)) };
    };
    const opts = { key: kv === q ? undefined : kv, keyPaddingMask: pad ? new Tensor(pad, [B, S], false) : undefined };
    const got = run(() => m.forward(q, opts));
    const want = run(() => reference(m, q, kv, pad));
    assertClose(got.y, want.y, 1e-5, 1e-4, 'output');
    got.grads.forEach((gr, i) => assertClose(gr, want.grads[i]!, 1e-5, 1e-4, `gradient ${i}`));
    assert.ok(want.grads[want.grads.length - 1]!.some((v) => v !== 0));
  });
}
