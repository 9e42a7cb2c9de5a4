// HyperZ·Z·W (src/models/hyperzzw.ts): the operator against its explicit sum, its gradient against
// finite differences, the slow network's shape, and no residual path in the Terminator blocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { sum } from '../../src/core/ops/reduce.js';
import { mul } from '../../src/core/ops/elementwise.js';
import { ResNetLite, SlowKernelNet, Terminator, downsampleMnist, hyperZZW } from '../../src/models/hyperzzw.js';

/** Y[b,c,i,j] = Σ_{p,q} W[c,p,q]·Z[b,c,p,q]·Z[b,c,i+p−⌊H/2⌋, j+q−⌊W/2⌋], zero outside. */
function explicit(z: Float32Array, w: Float32Array, B: number, C: number, H: number, W: number): Float64Array {
  const y = new Float64Array(B * C * H * W), ch = Math.floor(H / 2), cw = Math.floor(W / 2);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
    const Z = (r: number, s: number) => (r < 0 || r >= H || s < 0 || s >= W ? 0 : z[((b * C + c) * H + r) * W + s]!);
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
      let acc = 0;
      for (let p = 0; p < H; p++) for (let q = 0; q < W; q++) acc += w[(c * H + p) * W + q]! * Z(p, q) * Z(i + p - ch, j + q - cw);
      y[((b * C + c) * H + i) * W + j] = acc;
    }
  }
  return y;
}

test('HyperZ·Z·W: the operator equals the explicit full-context sum (odd and even map sides)', () => {
  const g = new Generator(1);
  for (const [B, C, H, W] of [[2, 3, 3, 3], [1, 2, 4, 5]] as const) {
    const z = g.normal(new Float32Array(B * C * H * W)), w = g.normal(new Float32Array(C * H * W));
    const y = noGrad(() => hyperZZW(fromBuffer(z, [B, C, H, W]), fromBuffer(w, [C, H, W])).data);
    const e = explicit(z, w, B, C, H, W);
    for (let k = 0; k < e.length; k++) assert.ok(Math.abs(y[k]! - e[k]!) < 1e-4, `[${B},${C},${H},${W}] element ${k}: ${y[k]} vs ${e[k]}`);
  }
  assert.throws(() => hyperZZW(fromBuffer(new Float32Array(18), [1, 2, 3, 3]), fromBuffer(new Float32Array(8), [2, 2, 2])), /hyper-kernel w \[C, H, W\]/);
});

test('HyperZ·Z·W: gradients w.r.t. Z and W match central finite differences of Σ R ⊙ Y', () => {
  const g = new Generator(2), B = 1, C = 2, H = 3, W = 3;
  const z = g.normal(new Float32Array(B * C * H * W)), w = g.normal(new Float32Array(C * H * W)), R = g.normal(new Float32Array(B * C * H * W));
  const loss = (zz: Float32Array, ww: Float32Array) => explicit(zz, ww, B, C, H, W).reduce((a, v, k) => a + v * R[k]!, 0);
  const zt = fromBuffer(Float32Array.from(z), [B, C, H, W], true), wt = fromBuffer(Float32Array.from(w), [C, H, W], true);
  sum(mul(hyperZZW(zt, wt), fromBuffer(R, [B, C, H, W]))).backward();
  const h = 1e-3;
  for (const [x, grad] of [[z, zt.grad!.data], [w, wt.grad!.data]] as const) {
    for (let k = 0; k < x.length; k++) {
      const p = Float32Array.from(x), m = Float32Array.from(x);
      p[k] += h; m[k] -= h;
      const fd = x === z ? (loss(p, w) - loss(m, w)) / (2 * h) : (loss(z, p) - loss(z, m)) / (2 * h);
      assert.ok(Math.abs(grad[k]! - fd) < 2e-2 * Math.max(1, Math.abs(fd)), `element ${k}: ${grad[k]} vs ${fd}`);
    }
  }
});

test('HyperZ·Z·W: the slow network maps the coordinate grid to one kernel per channel', () => {
  const s = new SlowKernelNet(3, 4, 5, 8, new Generator(3));
  const w = noGrad(() => s.forward());
  assert.deepEqual(w.shape, [3, 4, 5]);
  assert.ok(new Set(w.data).size > 10, 'kernel values vary with the coordinates');
});

test('HyperZ·Z·W: Terminator blocks have no residual path (zeroing a bottleneck cuts the input off); the ResNet baseline does', () => {
  const cfg = { side: 7, channels: 4, blocks: 2, classes: 10 };
  const g = new Generator(4), x = fromBuffer(g.uniform(new Float32Array(3 * 49)), [3, 1, 7, 7]);
  const t = new Terminator(cfg, new Generator(5));
  const differ = (m: Terminator | ResNetLite) => { const y = noGrad(() => m.forward(x).data); return y.slice(0, 10).some((v, k) => Math.abs(v - y[10 + k]!) > 1e-6); };
  assert.ok(differ(t));
  t.blocks[0]!.bottleneck.weight.data.fill(0);
  t.blocks[0]!.bottleneck.bias!.data.fill(0);
  assert.ok(!differ(t), 'with block 1\'s bottleneck zeroed every input gives the same logits');
  const r = new ResNetLite(cfg, new Generator(5));
  for (const c of r.convs) { c.weight.data.fill(0); c.bias!.data.fill(0); }
  assert.ok(differ(r), 'the residual baseline still passes the input through its skips');
  const d = downsampleMnist({ x: Float32Array.from({ length: 784 }, (_, k) => k % 2), y: Int32Array.from([1]), n: 1 }, 14);
  assert.ok(d.x.every((v) => v === 0.5));
});
