/**
 * Unmasked MultiHeadAttention runs scores + softmax as one bidirectional attentionPattern call; it must
 * equal the plain matmul + softmax path (setFusedAttention(false)) in output, weights and every
 * gradient, for self- and cross-attention with T < S, T = S and T > S.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { mul, sum } from '../../src/core/index.js';
import { MultiHeadAttention, setFusedAttention } from '../../src/nn/attention.js';
import { describeBackends, rand } from '../helpers/gradcheck.js';

function run(fused: boolean, B: number, T: number, S: number, self: boolean) {
  setFusedAttention(fused);
  try {
    const E = 12, H = 3;
    const mha = new MultiHeadAttention(E, H, new Generator(7));
    const q = rand([B, T, E], 1);
    const kv = self ? q : rand([B, S, E], 2);
    const { output, weights } = self ? mha.attend(q) : mha.attend(q, { key: kv, value: kv });
    const w = rand(output.shape, 3, -1, 1, false);
    sum(mul(output, w)).backward();
    const grads = [q, ...(self ? [] : [kv]), ...mha.parameters()].map((p: Tensor) => Float32Array.from(p.grad!.data as Float32Array));
    return { out: Float32Array.from(output.data as Float32Array), weights: Float32Array.from(weights.data as Float32Array), grads };
  } finally {
    setFusedAttention(true);
  }
}

function close(a: Float32Array, b: Float32Array, what: string) {
  assert.equal(a.length, b.length, what);
  let m = 0, s = 0;
  for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(a[i]! - b[i]!)); s = Math.max(s, Math.abs(b[i]!)); }
  assert.ok(m <= 1e-5 * Math.max(1, s), `${what}: max |fused − plain| ${m} (scale ${s})`);
}

describeBackends('fused unmasked attention equals matmul + softmax', () => {
  for (const [B, T, S, self] of [[2, 5, 5, true], [2, 3, 7, false], [1, 6, 4, false]] as const) {
    test(`B ${B}, T ${T}, S ${S}${self ? ' (self)' : ''}`, () => {
      const f = run(true, B, T, S, self), p = run(false, B, T, S, self);
      close(f.out, p.out, 'output');
      close(f.weights, p.weights, 'weights');
      f.grads.forEach((g, i) => close(g, p.grads[i]!, `grad ${i}`));
    });
  }
});
