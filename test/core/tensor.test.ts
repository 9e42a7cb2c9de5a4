/** The autograd engine, scopes and the buffer pool, custom ops, and error messages. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as C from '../../src/core/index.js';
import { poolStats } from '../../src/core/pool.js';
import { assertClose, gradcheck, rand } from '../helpers/gradcheck.js';

/** erf by its Maclaurin series (fine for |x| < 3), an independent reference for gelu. */
function erfApprox(x: number): number {
  let term = x, s = x;
  for (let n = 1; n < 60; n++) {
    term *= (-x * x) / n;
    s += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * s;
}

describe('autograd engine', () => {
  it('accumulates gradients across two backward() calls', () => {
    const x = C.tensor([1, 2, 3], [3], true);
    C.sum(C.mul(x, x)).backward();
    assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
    C.sum(C.mul(x, 3)).backward();
    assert.deepEqual(x.grad!.toArray(), [5, 7, 9]);
    x.zeroGrad();
    assert.equal(x.grad, null);
  });

  it('sums the gradients of a tensor used more than once (fan-out)', () => {
    const x = C.tensor([0.5, -2], [2], true);
    // y = x·x + 3x + exp(x) -> dy/dx = 2x + 3 + exp(x)
    const h = C.mul(x, 1); // an interior node used three times
    C.sum(C.add(C.add(C.mul(h, h), C.mul(h, 3)), C.exp(h))).backward();
    assert.ok(Math.abs(x.grad!.data[0]! - (1 + 3 + Math.exp(0.5))) < 1e-5);
    assert.ok(Math.abs(x.grad!.data[1]! - (-4 + 3 + Math.exp(-2))) < 1e-5);
  });

  it('backward with an explicit gradient, and the scalar rule', () => {
    const x = C.tensor([1, 2], [2], true);
    C.mul(x, x).backward(C.tensor([10, 100]));
    assert.deepEqual(x.grad!.toArray(), [20, 400]);
    assert.throws(() => C.mul(x, x).backward(), /backward: called without a gradient on a tensor of shape \[2\]/);
    assert.throws(() => C.tensor([1]).backward(), /does not require grad/);
  });

  it('noGrad records nothing', () => {
    const x = C.tensor([1, 2], [2], true);
    const y = C.noGrad(() => C.sum(C.mul(x, x)));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
    assert.equal(C.isGradEnabled(), true);
    assert.throws(() => y.backward(), /does not require grad/);
  });

  it('detach stops gradients', () => {
    const x = C.tensor([1, 2], [2], true);
    const y = C.add(C.mul(x, 2), C.mul(x.detach(), 5));
    C.sum(C.add(C.mul(x, 2), C.mul(x.detach(), 5))).backward();
    assert.deepEqual(x.grad!.toArray(), [2, 2]);
    assert.equal(x.detach().data, x.data);
    assert.equal(y.requiresGrad, true);
  });

  it('customOp: a straight-through Heaviside step gets the rectangle-window gradient', () => {
    // Forward: step(x) = x > 0 ? 1 : 0. Backward: pass g where |x| <= 1, else 0.
    const step = C.customOp({
      name: 'heavisideSTE',
      forward: (ctx, x) => {
        ctx.saved.push(x);
        return C.gt(x!, 0);
      },
      backward: (ctx, g) => {
        const x = ctx.saved[0]!;
        return [C.mul(g, C.le(C.abs(x), 1))];
      },
    });
    const x = C.tensor([-2, -0.5, 0.3, 1, 4], [5], true);
    const y = step(x);
    assert.deepEqual(y.toArray(), [0, 0, 1, 1, 1]);
    assert.equal(y.gradFn!.name, 'heavisideSTE');
    C.sum(C.mul(y, C.tensor([1, 2, 3, 4, 5]))).backward();
    assert.deepEqual(x.grad!.toArray(), [0, 2, 3, 4, 0]);
    // A custom op whose forward leaks a graph is rejected.
    const bad = C.customOp({ name: 'leaky', forward: (_c, x) => x!, backward: (_c, g) => [g] });
    assert.throws(() => bad(C.mul(x, 2)), /customOp leaky: forward returned a tensor with a graph/);
  });

  it('gradcheck passes through a composite graph', () => {
    gradcheck((a, b) => C.sum(C.mul(C.tanh(C.matmul(a, b)), C.sigmoid(C.matmul(a, b))), 1), [rand([3, 4], 1), rand([4, 2], 2)]);
  });

  it('scope() returns buffers to the pool and keeps returned tensors intact', () => {
    const w = C.tensor([1, 2, 3, 4], [4], true);
    const before = poolStats().pooledBytes;
    const result = C.scope(() => {
      const a = C.mul(w, 2);
      const b = C.add(a, 1);
      const kept = C.mul(b, 10).keep();
      return { out: C.sum(C.mul(b, b)), kept };
    });
    assert.ok(poolStats().pooledBytes > before, 'intermediate buffers went back to the pool');
    const outVal = result.out.item();
    const keptVals = result.kept.toArray();
    assert.equal(outVal, 9 + 25 + 49 + 81);
    assert.deepEqual(keptVals, [30, 50, 70, 90]);
    // Later allocations of the same sizes reuse the released buffers; the results must not change.
    C.scope(() => {
      for (let i = 0; i < 10; i++) {
        C.full([4], -7);
        C.full([], -7);
      }
    });
    const again = C.scope(() => [C.full([4], 123), C.full([], 456)]);
    assert.equal(result.out.item(), outVal);
    assert.deepEqual(result.kept.toArray(), keptVals);
    assert.deepEqual(again[0]!.toArray(), [123, 123, 123, 123]);
    // A pooled buffer is reused: allocations inside a scope draw from the pool, not fresh memory.
    const fresh = poolStats().freshBytes;
    C.scope(() => C.mul(w, 3));
    assert.equal(poolStats().freshBytes, fresh);
  });

  it('a training step inside scope: gradients survive, backward works inside the scope', () => {
    const w = C.tensor([0.5, -1], [2], true);
    for (let step = 0; step < 3; step++) {
      C.scope(() => {
        C.sum(C.square(C.mul(w, C.tensor([2, 3])))).backward();
      });
    }
    // d/dw Σ (c w)² = 2 c² w, three steps accumulate.
    assert.deepEqual(w.grad!.toArray(), [3 * 2 * 4 * 0.5, 3 * 2 * 9 * -1]);
  });

  it('error messages name the op and the shapes', () => {
    assert.throws(() => C.tensor([1, 2, 3], [2, 2]), /tensor: 3 values do not fill shape \[2, 2\]/);
    assert.throws(() => C.add(C.zeros([3]), C.zeros([2])), /add: shapes \[3\] and \[2\]/);
    assert.throws(() => C.reshape(C.zeros([3]), [2]), /reshape: .*\[3\].*\[2\]/);
    assert.throws(() => C.sum(C.intTensor([1, 2])), /expected a float32 tensor, got int32 of shape \[2\]/);
    assert.throws(() => C.zeros([2]).item(), /item: tensor of shape \[2\] has 2 elements/);
  });
});

describe('Tensor methods (methods.ts)', () => {
  it('chain like the functional forms', () => {
    const x = C.tensor([1, -2, 3, -4, 5, -6], [2, 3], true);
    const w = C.tensor([1, 0, 0, 1, 1, 1], [3, 2]);
    const y = x.matmul(w).relu().add(1).mul(2).sub(0.5).div(2).sum();
    // x·w = [[1+3, -2+3], [-4-6, 5-6]] = [[4, 1], [-10, -1]] -> relu -> [[4,1],[0,0]]
    assert.equal(y.item(), ((4 + 1) * 2 + 2 * 2 * 2 - 4 * 0.5) / 2);
    y.backward();
    assert.ok(x.grad);
    assert.deepEqual(x.reshape([3, 2]).shape, [3, 2]);
    assert.deepEqual(x.view([-1]).shape, [6]);
    assert.deepEqual(x.transpose().shape, [3, 2]);
    assert.deepEqual(x.permute([1, 0]).toArray(), [1, -4, -2, 5, 3, -6]);
    assert.deepEqual(x.unsqueeze(0).squeeze().shape, [2, 3]);
    assert.deepEqual(x.unsqueeze(1).flatten(1).shape, [2, 3]);
    assert.deepEqual(x.slice(1, 0, 2).shape, [2, 2]);
    assert.deepEqual(x.argmax(1).toArray(), [2, 1]);
    assert.deepEqual(x.max(1).toArray(), [3, 5]);
    assert.deepEqual(x.mean(0).toArray(), [-1.5, 1.5, -1.5]);
    assert.deepEqual(x.abs().square().sqrt().neg().toArray(), [-1, -2, -3, -4, -5, -6]);
    assert.deepEqual(x.clamp(-1, 1).toArray(), [1, -1, 1, -1, 1, -1]);
    assert.ok(Math.abs(x.softmax().sum(-1).toArray()[0]! - 1) < 1e-6);
    assert.ok(Math.abs(x.logSoftmax(0).exp().sum(0).toArray()[1]! - 1) < 1e-6);
    assertClose(x.tanh().sigmoid().gelu().exp().log().pow(1).data, Array.from(x.data, (v) => { const s = 1 / (1 + Math.exp(-Math.tanh(v))); return 0.5 * s * (1 + erfApprox(s / Math.SQRT2)); }), 1e-5);
    assert.equal(Object.keys(x).includes('matmul'), false);
  });
});
