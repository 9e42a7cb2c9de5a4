/**
 * The fused op linearRelu against the unfused composition relu(linear(...)), and the engine's
 * gradient shortcuts (constant gradients of full reductions, in-place accumulation into buffers the
 * engine owns, GEMMs accumulating onto a pending gradient, leaves taking a gradient buffer without a
 * copy) against the same gradients computed the plain way.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { linearRelu } from '../../../src/core/ops/linalg.js';
import { assertClose, describeBackends, gradcheck, rand } from '../../helpers/gradcheck.js';

/** Gradients of `loss(...inputs)` w.r.t. every input (copies), after a fresh backward. */
function grads(loss: (...xs: C.Tensor[]) => C.Tensor, inputs: C.Tensor[]): Float32Array[] {
  for (const t of inputs) t.zeroGrad();
  loss(...inputs).backward();
  return inputs.map((t) => Float32Array.from(t.grad!.data as Float32Array));
}

describeBackends('fused ops', () => {
  it('linearRelu equals relu(linear) in value and gradient, with and without bias', () => {
    const x = rand([2, 3, 8], 1), W = rand([6, 8], 2), b = rand([6], 3);
    // A zero pre-activation (relu'(0) = 0 on both paths) and a NaN input row.
    W.data.fill(0, 0, 8);
    b.data[0] = 0;
    const y = linearRelu(x, W, b), ref = C.relu(C.linear(x, W, b));
    assert.deepEqual(y.shape, [2, 3, 6]);
    assert.deepEqual(Array.from(y.data), Array.from(ref.data));
    const w = rand([2, 3, 6], 4, -1, 1, false);
    const fused = grads((p, q, r) => C.sum(C.mul(linearRelu(p, q, r), w)), [x, W, b]);
    const plain = grads((p, q, r) => C.sum(C.mul(C.relu(C.linear(p, q, r)), w)), [x, W, b]);
    for (let i = 0; i < 3; i++) assert.deepEqual(Array.from(fused[i]!), Array.from(plain[i]!), `input ${i}`);
    const fusedNoBias = grads((p, q) => C.sum(C.mul(linearRelu(p, q), w)), [x, W]);
    const plainNoBias = grads((p, q) => C.sum(C.mul(C.relu(C.linear(p, q)), w)), [x, W]);
    for (let i = 0; i < 2; i++) assert.deepEqual(Array.from(fusedNoBias[i]!), Array.from(plainNoBias[i]!));
    // NaN propagates forward and gets a zero gradient, as relu does.
    const xn = rand([1, 8], 5);
    xn.data[3] = NaN;
    const yn = linearRelu(xn, W, b);
    assert.ok(Array.from(yn.data).slice(1).every((v) => Number.isNaN(v)));
    assert.throws(() => linearRelu(C.zeros([2, 3]), C.zeros([4, 5])), /linearRelu: input \[2, 3\] .*\[4, 5\]/);
  });

  it('linearRelu passes gradcheck away from the kink', () => {
    const x = rand([4, 5], 6), W = rand([3, 5], 7), b = C.tensor([0.5, 0.7, 0.9], [3], true);
    gradcheck((p, q, r) => linearRelu(p, q, r), [x, W, b]);
  });

  it('SAE-style loss: relu-L1 plus reconstruction gives the same gradients fused and unfused', () => {
    const x = rand([5, 4], 8, -1, 1, false), We = rand([7, 4], 9), be = rand([7], 10), Wd = rand([7, 4], 11), bd = rand([4], 12);
    const loss = (fusedEnc: boolean) => (p: C.Tensor, q: C.Tensor, r: C.Tensor, s: C.Tensor) => {
      const z = fusedEnc ? linearRelu(x, p, q) : C.relu(C.linear(x, p, q));
      const xhat = C.add(C.matmul(z, r), s);
      return C.add(C.mul(C.sum(C.square(C.sub(xhat, x))), 1 / 5), C.mul(C.sum(z), 1e-1 / 5));
    };
    const a = grads(loss(true), [We, be, Wd, bd]);
    const b = grads(loss(false), [We, be, Wd, bd]);
    for (let i = 0; i < 4; i++) assertClose(a[i]!, b[i]!, 1e-6, 1e-5, `param ${i}`);
    gradcheck(loss(true), [We, be, Wd, bd]);
  });
});

describeBackends('engine gradient shortcuts', () => {
  it('constant gradients of sum/mean combine with each other and with other contributions', () => {
    const x = rand([3, 4], 20);
    const w = rand([3, 4], 21, -1, 1, false);
    // sum + mean: both constant; plus a weighted term (tensor + constant).
    x.zeroGrad();
    C.add(C.add(C.sum(x), C.mul(C.mean(x), 2)), C.sum(C.mul(x, w))).backward();
    const expect = Array.from(w.data, (v) => Math.fround(Math.fround(1 + Math.fround(2 * Math.fround(1 / 12))) + v));
    assertClose(x.grad!.data, expect, 1e-6);
    // A constant alone reaching a leaf, twice (the second backward accumulates).
    x.zeroGrad();
    C.sum(x).backward();
    C.mul(C.sum(x), 3).backward();
    assert.deepEqual(Array.from(x.grad!.data), new Array(12).fill(4));
    // A constant feeding an op that needs it written out.
    x.zeroGrad();
    C.sum(C.square(x)).backward();
    assertClose(x.grad!.data, Array.from(x.data, (v) => 2 * v), 1e-6);
  });

  it('a gradient the engine owns is accumulated in place, and shared buffers are never overwritten', () => {
    const a = rand([4, 3], 30), b = rand([3, 5], 31);
    // add(y, y) hands one buffer to both operands; the leaf y must see 2·g, not 4·g.
    a.zeroGrad();
    C.sum(C.add(a, a)).backward();
    assert.deepEqual(Array.from(a.grad!.data), new Array(12).fill(2));
    // Two leaves receiving the same buffer from add must not share a gradient afterwards.
    const c = rand([4, 3], 32);
    a.zeroGrad();
    c.zeroGrad();
    C.sum(C.mul(C.add(a, c), 3)).backward();
    a.grad!.data[0] = 100;
    assert.equal(c.grad!.data[0], 3);
    // matmul(a, b) used twice plus a constant: GEMM accumulation onto pending gradients.
    const w = rand([4, 5], 33, -1, 1, false);
    const f = (p: C.Tensor, q: C.Tensor) => {
      const y = C.matmul(p, q);
      return C.add(C.add(C.sum(C.mul(y, w)), C.sum(C.mul(C.matmul(p, q), w))), C.mul(C.sum(p), 0.5));
    };
    const [ga, gb] = grads(f, [a, b]);
    // Reference: d/da = 2 w bᵀ + 0.5, d/db = 2 aᵀ w.
    const refA: number[] = [], refB: number[] = [];
    for (let i = 0; i < 4; i++) for (let k = 0; k < 3; k++) {
      let s = 0;
      for (let j = 0; j < 5; j++) s += w.data[i * 5 + j]! * b.data[k * 5 + j]!;
      refA.push(2 * s + 0.5);
    }
    for (let k = 0; k < 3; k++) for (let j = 0; j < 5; j++) {
      let s = 0;
      for (let i = 0; i < 4; i++) s += a.data[i * 3 + k]! * w.data[i * 5 + j]!;
      refB.push(2 * s);
    }
    assertClose(ga!, refA, 1e-5);
    assertClose(gb!, refB, 1e-5);
    gradcheck(f, [a, b]);
  });

  it('leaf gradients taken over from the engine survive scopes and pooled reuse', () => {
    const W = rand([6, 4], 40).keep(), x = rand([3, 4], 41, -1, 1, false).keep();
    const step = () => C.scope(() => {
      W.zeroGrad();
      C.sum(C.square(C.linear(x, W))).backward();
      return Float32Array.from(W.grad!.data as Float32Array);
    });
    const first = step();
    // Later steps reuse pooled buffers; the gradient must come out the same each time, and must
    // not change when the next scope allocates and writes temporaries.
    for (let i = 0; i < 3; i++) assert.deepEqual(Array.from(step()), Array.from(first));
    const kept = Float32Array.from(W.grad!.data as Float32Array);
    C.scope(() => {
      for (let i = 0; i < 4; i++) C.empty([6, 4]).data.fill(7);
    });
    assert.deepEqual(Array.from(W.grad!.data), Array.from(kept));
  });
});
