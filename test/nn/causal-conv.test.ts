// Causal conv3d (composition of conv2d over time-shifted frames) against a naive 7-loop reference,
// its gradients against finite differences, and the causal temporal upsampling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import { fromBuffer, type Tensor } from '../../src/core/tensor.js';
import { sum } from '../../src/core/ops/reduce.js';
import { CausalConv3d, TemporalResidual, causalConv3d, causalFrames, gatherFrames, timeShuffleUp } from '../../src/nn/causal-conv.js';
import { gradcheck, rand } from '../helpers/gradcheck.js';

/** Direct definition: y[b,t,o,i,j] = bias[o] + Σ_{c,k,u,v} w[o,c,k,u,v] · x[b, t·st − (kt−1) + k, c, i·ss − p + u, j·ss − p + v] (zero outside). */
function naive(x: Tensor, w: Tensor, bias: Tensor, st: number, ss: number, p: number): { y: Float64Array; shape: number[] } {
  const [B, T, C, H, W] = x.shape as number[] as [number, number, number, number, number];
  const [O, , kt, kh, kw] = w.shape as number[] as [number, number, number, number, number];
  const To = Math.floor((T - 1) / st) + 1, OH = Math.floor((H + 2 * p - kh) / ss) + 1, OW = Math.floor((W + 2 * p - kw) / ss) + 1;
  const X = x.data, Wd = w.data;
  const y = new Float64Array(B * To * O * OH * OW);
  for (let b = 0; b < B; b++) for (let t = 0; t < To; t++) for (let o = 0; o < O; o++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    let s = bias.data[o]!;
    for (let c = 0; c < C; c++) for (let k = 0; k < kt; k++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const f = t * st - (kt - 1) + k, r = i * ss - p + u, q = j * ss - p + v;
      if (f < 0 || r < 0 || r >= H || q < 0 || q >= W) continue;
      s += Wd[(((o * C + c) * kt + k) * kh + u) * kw + v]! * X[(((b * T + f) * C + c) * H + r) * W + q]!;
    }
    y[(((b * To + t) * O + o) * OH + i) * OW + j] = s;
  }
  return { y, shape: [B, To, O, OH, OW] };
}

test('causalConv3d equals the naive loop (strides, padding, kt = 1 and 3)', () => {
  for (const [kt, st, ss, p, T] of [[3, 1, 1, 1, 5], [3, 2, 2, 1, 7], [2, 2, 1, 0, 6], [1, 1, 2, 1, 3], [3, 1, 1, 0, 1]] as const) {
    const x = rand([2, T, 3, 6, 5], 1 + kt + T, -1, 1, false);
    const w = rand([4, 3, kt, 3, 3], 2 + kt, -1, 1, false);
    const b = rand([4], 3, -1, 1, false);
    const ref = naive(x, w, b, st, ss, p);
    for (const [name, f] of [['causalConv3d', causalConv3d]] as const) {
      const y = f(x, w, b, { stride: [st, ss], padding: p });
      assert.deepEqual([...y.shape], ref.shape, `${name} kt ${kt} st ${st}`);
      assert.equal(y.shape[1], causalFrames(T, st));
      for (let i = 0; i < ref.y.length; i++) assert.ok(Math.abs(y.data[i]! - ref.y[i]!) < 1e-4, `${name} kt ${kt} st ${st} ss ${ss}: element ${i} ${y.data[i]} vs ${ref.y[i]}`);
    }
  }
});

test('causalConv3d gradients match finite differences (x, weight, bias)', () => {
  const x = rand([1, 5, 2, 4, 4], 11);
  const w = rand([3, 2, 3, 3, 3], 12);
  const b = rand([3], 13);
  for (const f of [causalConv3d]) {
    gradcheck((a, ww, bb) => f(a, ww, bb, { stride: [2, 2], padding: 1 }), [x, w, b]);
    gradcheck((a, ww, bb) => f(a, ww, bb, { stride: [1, 1], padding: 1 }), [x, w, b]);
  }
  gradcheck((a, ww) => causalConv3d(a, ww, null, { stride: [2, 1], padding: 0 }), [x, rand([2, 2, 2, 1, 3], 14)]);
});

test('gatherFrames and timeShuffleUp: values, zero frames and gradients', () => {
  const x = rand([2, 3, 4], 21);
  const g = gatherFrames(x, [-1, 2, 0, 2]);
  assert.deepEqual([...g.shape], [2, 4, 4]);
  for (let b = 0; b < 2; b++) for (let f = 0; f < 4; f++) {
    assert.equal(g.data[(b * 4 + 0) * 4 + f], 0);
    assert.equal(g.data[(b * 4 + 1) * 4 + f], x.data[(b * 3 + 2) * 4 + f]);
    assert.equal(g.data[(b * 4 + 2) * 4 + f], x.data[(b * 3 + 0) * 4 + f]);
  }
  gradcheck((a) => gatherFrames(a, [-1, 2, 0, 2]), [x]);
  assert.throws(() => gatherFrames(x, [3]), /frame index 3 at position 0 is outside \[-1, 2\]/);
  // [B, T, 2C, H, W] -> [B, 2T - 1, C, H, W]: frame 0 from latent 0's first half, frames 2j-1, 2j from latent j's halves.
  const v = rand([1, 3, 4, 1, 1], 22);
  const u = timeShuffleUp(v);
  assert.deepEqual([...u.shape], [1, 5, 2, 1, 1]);
  const expect = [0, 1, 4, 5, 6, 7, 8, 9, 10, 11];
  expect.forEach((src, i) => assert.equal(u.data[i], v.data[src]));
  gradcheck((a) => timeShuffleUp(a), [v]);
});

test('CausalConv3d: later frames never change earlier outputs; TemporalResidual starts as the identity', () => {
  const gen = new Generator(5);
  const conv = new CausalConv3d(2, 3, [3, 3, 3], gen, { stride: [2, 1], padding: 1 });
  const x = rand([1, 7, 2, 5, 5], 31, -1, 1, false);
  const y1 = conv.forward(x).data.slice();
  const x2 = x.data.slice();
  for (let i = 4 * 50; i < x2.length; i++) x2[i] = 5; // frames 4..6 change
  const y2 = conv.forward(fromBuffer(x2, x.shape)).data;
  const per = 3 * 25; // outputs t = 0, 1 read frames <= 2
  for (let i = 0; i < 2 * per; i++) assert.equal(y2[i], y1[i]);
  let diff = 0;
  for (let i = 2 * per; i < y1.length; i++) diff += Math.abs(y2[i]! - y1[i]!);
  assert.ok(diff > 1, 'the outputs that read the changed frames change');
  const tr = new TemporalResidual(2, 3, gen);
  assert.deepEqual([...tr.forward(x).data], [...x.data]);
  // and it can learn: the zero weights get a gradient
  sum(tr.forward(rand([1, 4, 2, 2, 2], 32))).backward();
  assert.ok(tr.conv.weight.grad!.data.some((g) => g !== 0));
});

