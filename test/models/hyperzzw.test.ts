// HyperZ·Z·W (src/models/hyperzzw.ts): the 2D and 1D operators and the local operator against their
// explicit sums, gradients (operator, SFNE-lite block, slow neural loss) against finite differences,
// the slow networks' shapes, the slow loss reaching only the slow nets, no residual path in either
// block kind, and the 1D row at the tiny budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { sum } from '../../src/core/ops/reduce.js';
import { mul } from '../../src/core/ops/elementwise.js';
import { crossEntropy } from '../../src/core/ops/loss.js';
import {
  ResNetLite, SlowKernelNet, Terminator, TerminatorBlock, correlateSame, downsampleMnist, hyperZZW, hyperZZW1d, hyperZZW1dMethodRow,
  localHyperZZW, matchedResNetChannels, resNetLiteParams,
} from '../../src/models/hyperzzw.js';
import { gradcheck, rand } from '../helpers/gradcheck.js';

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

test('HyperZ·Z·W: Terminator blocks have no residual path (zeroing a bottleneck cuts the input off) in 2D and 1D, both block kinds; the ResNet baseline does', () => {
  for (const [dims, block] of [[2, 'sfne'], [2, 'two-branch'], [1, 'sfne']] as const) {
    const cfg = { side: 7, channels: 4, blocks: 2, classes: 10, dims, block };
    const g = new Generator(4), x = fromBuffer(g.uniform(new Float32Array(3 * 49)), [3, 49]);
    const t = new Terminator(cfg, new Generator(5));
    const differ = (m: Terminator | ResNetLite) => { const y = noGrad(() => m.forward(x).data); return y.slice(0, 10).some((v, k) => Math.abs(v - y[10 + k]!) > 1e-6); };
    assert.ok(differ(t), `${dims}D ${block}`);
    t.blocks[0]!.bottleneck.weight.data.fill(0);
    t.blocks[0]!.bottleneck.bias!.data.fill(0);
    assert.ok(!differ(t), `${dims}D ${block}: with block 1's bottleneck zeroed every input gives the same logits`);
    const r = new ResNetLite(cfg, new Generator(5));
    for (const c of r.convs) { c.weight.data.fill(0); c.bias!.data.fill(0); }
    assert.ok(differ(r), `${dims}D: the residual baseline still passes the input through its skips`);
  }
  const d = downsampleMnist({ x: Float32Array.from({ length: 784 }, (_, k) => k % 2), y: Int32Array.from([1]), n: 1 }, 14);
  assert.ok(d.x.every((v) => v === 0.5));
});

/** Y[b,c,i] = Σ_p W[c,p]·Z[b,c,p]·Z[b,c,i+p−⌊L/2⌋], zero outside. */
function explicit1d(z: Float32Array, w: Float32Array, B: number, C: number, L: number): Float64Array {
  const y = new Float64Array(B * C * L), c0 = Math.floor(L / 2);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let i = 0; i < L; i++) {
    let acc = 0;
    for (let p = 0; p < L; p++) {
      const r = i + p - c0;
      if (r >= 0 && r < L) acc += w[c * L + p]! * z[(b * C + c) * L + p]! * z[(b * C + c) * L + r]!;
    }
    y[(b * C + c) * L + i] = acc;
  }
  return y;
}

test('HyperZ·Z·W 1D: the sequence operator equals a direct loop (odd and even lengths); the 1D slow net uses one coordinate', () => {
  const g = new Generator(11);
  for (const [B, C, L] of [[2, 3, 7], [1, 2, 10]] as const) {
    const z = g.normal(new Float32Array(B * C * L)), w = g.normal(new Float32Array(C * L));
    const y = noGrad(() => hyperZZW1d(fromBuffer(z, [B, C, L]), fromBuffer(w, [C, L])).data);
    const e = explicit1d(z, w, B, C, L);
    for (let k = 0; k < e.length; k++) assert.ok(Math.abs(y[k]! - e[k]!) < 1e-4, `[${B},${C},${L}] element ${k}: ${y[k]} vs ${e[k]}`);
  }
  assert.throws(() => hyperZZW1d(fromBuffer(new Float32Array(12), [1, 2, 6]), fromBuffer(new Float32Array(10), [2, 5])), /hyper-kernel w \[C, L\]/);
  const s = new SlowKernelNet(3, 1, 9, 4, new Generator(12));
  assert.deepEqual(s.coords.shape, [9, 1]);
  assert.deepEqual([...s.coords.data], [-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(noGrad(() => s.forward()).shape, [3, 1, 9]);
});

test('HyperZ·Z·W: local HyperZ·Z·W equals Z ⊙ (small hyper-kernel ⋆ Z) by direct loops; correlateSame gradients (shared kernel) match finite differences', () => {
  const g = new Generator(13), B = 2, C = 2, H = 4, W = 5, k = 3;
  const z = g.normal(new Float32Array(B * C * H * W)), w = g.normal(new Float32Array(C * k * k));
  const y = noGrad(() => localHyperZZW(fromBuffer(z, [B, C, H, W]), fromBuffer(w, [C, k, k])).data);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    let acc = 0;
    for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) {
      const r = i + u - 1, s = j + v - 1;
      if (r >= 0 && r < H && s >= 0 && s < W) acc += w[(c * k + u) * k + v]! * z[((b * C + c) * H + r) * W + s]!;
    }
    const at = ((b * C + c) * H + i) * W + j, e = z[at]! * acc;
    assert.ok(Math.abs(y[at]! - e) < 1e-4, `element ${at}: ${y[at]} vs ${e}`);
  }
  gradcheck((kk, zz) => correlateSame(kk, zz), [rand([1, C, k, k], 14), rand([B, C, H, W], 15)]);
  assert.throws(() => correlateSame(rand([3, C, k, k], 16), rand([B, C, H, W], 17)), /k \[1 or B, C, kh, kw\]/);
});

test('HyperZ·Z·W: SFNE-lite block gradients (input and every parameter) match finite differences, 2D and 1D', () => {
  for (const [H, W] of [[3, 3], [1, 6]] as const) {
    const block = new TerminatorBlock(2, H, W, { kind: 'sfne', slowHidden: 4, localKernel: 3 }, new Generator(21));
    assert.ok(block.slowLocal && block.gate, 'the SFNE block has the local hyper-kernel and gating branches');
    assert.equal(block.bottleneck.inChannels, 8, 'four branches of C channels');
    const ps = block.parameters();
    const r = gradcheck((z) => block.forward(z), [rand([2, 2, H, W], 22), ...ps], { eps: 1e-2, atol: 2e-2, rtol: 3e-2 });
    assert.equal(r.checked, 2 * 2 * H * W + block.numParameters());
  }
  const two = new TerminatorBlock(2, 3, 3, { kind: 'two-branch', slowHidden: 4, localKernel: 3 }, new Generator(23));
  assert.equal(two.slowLocal, null);
  assert.equal(two.bottleneck.inChannels, 4, 'the earlier 2-branch block stays selectable');
  assert.throws(() => new TerminatorBlock(2, 3, 3, { kind: 'sfne', slowHidden: 4, localKernel: 2 }, new Generator(1)), /localKernel must be an odd/);
});

test('HyperZ·Z·W: the slow neural loss is Σ mean (W_g^l − W_g^(l+1))², its gradient matches finite differences, and it reaches only the global slow nets', () => {
  const cfg = { side: 5, channels: 3, blocks: 3, classes: 4, slowHidden: 4 };
  const t = new Terminator({ ...cfg, slowLossWeight: 0 }, new Generator(31));
  // Closed form from the kernels.
  const ks = noGrad(() => t.blocks.map((b) => Float64Array.from(b.globalKernel().data)));
  let expected = 0;
  for (let l = 0; l + 1 < ks.length; l++) expected += ks[l]!.reduce((a, v, i) => a + (v - ks[l + 1]![i]!) ** 2, 0) / ks[l]!.length;
  assert.ok(Math.abs(noGrad(() => t.slowNeuralLoss()!.item()) - expected) < 1e-5 * Math.max(1, expected));
  const slowParams = t.blocks.flatMap((b) => b.slow.parameters());
  gradcheck(() => t.slowNeuralLoss()!, slowParams, { eps: 1e-2, atol: 1e-3, rtol: 2e-2 });
  assert.equal(new Terminator({ ...cfg, blocks: 1 }, new Generator(1)).slowNeuralLoss(), null);

  // Same weights, λ = 0 vs λ = 2: the global slow nets' gradients differ by exactly 2·∇L_slow; the
  // fast network (stem, local conv, head, local slow nets, gates) gets the same gradient.
  const g = new Generator(32), x = fromBuffer(g.uniform(new Float32Array(4 * 25)), [4, 25]), y = fromBuffer(Int32Array.from([0, 1, 2, 3]), [4]);
  const grads = (lambda: number) => {
    const m = new Terminator({ ...cfg, slowLossWeight: lambda }, new Generator(31));
    m.trainStep({ x, y, index: new Int32Array(4) }).loss.backward();
    return m;
  };
  const m0 = grads(0), m2 = grads(2);
  const ref = new Terminator({ ...cfg, slowLossWeight: 0 }, new Generator(31));
  ref.slowNeuralLoss()!.backward();
  const named0 = new Map(m0.namedParameters()), refNamed = new Map(ref.namedParameters());
  let slowDiffers = 0;
  for (const [name, p2] of m2.namedParameters()) {
    const a = named0.get(name)!.grad!.data, b = p2.grad!.data, sl = refNamed.get(name)!.grad;
    const isGlobalSlow = /^blocks\.\d+\.slow\./.test(name);
    for (let i = 0; i < a.length; i++) {
      const want = isGlobalSlow ? 2 * sl!.data[i]! : 0;
      assert.ok(Math.abs(b[i]! - a[i]! - want) < 1e-5 + 1e-3 * Math.abs(want), `${name}[${i}]: λ=2 − λ=0 gradient ${b[i]! - a[i]!} vs 2·∇L_slow ${want}`);
      if (isGlobalSlow && Math.abs(b[i]! - a[i]!) > 1e-6) slowDiffers++;
    }
    if (!isGlobalSlow) assert.equal(sl, null, `${name} gets no slow-loss gradient`);
  }
  assert.ok(slowDiffers > 10, `the slow-loss term changes the slow nets' gradients (${slowDiffers} entries)`);
  assert.ok(Number.isFinite(crossEntropy(noGrad(() => m2.forward(x)), y).item()));
});

test('HyperZ·Z·W: the baseline width is matched to Terminator-lite\'s parameter count', () => {
  for (const blocks of [1, 2]) for (let c = 1; c < 12; c++) assert.equal(new ResNetLite({ side: 7, channels: c, blocks, classes: 10 }, new Generator(1)).numParameters(), resNetLiteParams(c, blocks, 10));
  assert.equal(new ResNetLite({ side: 7, channels: 5, blocks: 2, classes: 10, dims: 1 }, new Generator(1)).numParameters(), resNetLiteParams(5, 2, 10), '1×9 convs in 1D');
  const target = new Terminator({ side: 14, channels: 8, blocks: 2, classes: 10 }, new Generator(1)).numParameters();
  const c = matchedResNetChannels(target, 2, 10);
  for (const other of [c - 1, c + 1]) assert.ok(Math.abs(resNetLiteParams(c, 2, 10) - target) <= Math.abs(resNetLiteParams(other, 2, 10) - target), `width ${c} vs ${other}`);
});

test('HyperZ·Z·W 1D: the pixel-level sequential-MNIST row runs at the tiny budget with consistent cells', () => {
  const r = hyperZZW1dMethodRow('tiny', 0), n: Record<string, number | string> = r.numbers;
  assert.equal(r.method, 'HyperZ·Z·W 1D');
  assert.equal(r.command, 'aelab experiment methods --budget tiny --only hyperzzw-1d');
  assert.equal(n.dims, 1);
  for (const k of ['terminatorTestAccuracy', 'resnetTestAccuracy']) assert.ok((n[k] as number) >= 0 && (n[k] as number) <= 1, k);
  assert.equal(r.held, (n.terminatorTestAccuracy as number) >= (n.resnetTestAccuracy as number));
  assert.equal(n.resnetChannels, matchedResNetChannels(n.terminatorParams as number, 2, 10));
  assert.match(r.claim, /sequential MNIST, 49 pixels/);
});
