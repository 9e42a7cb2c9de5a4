/** The gradient checker must reject wrong gradients, or every other op test proves nothing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { gradcheck, rand } from '../../helpers/gradcheck.js';

/** x² with a backward that returns `factor`·x·g (correct for factor 2). */
function squareWith(factor: number) {
  return C.customOp({
    name: `square×${factor}`,
    forward: (ctx, x) => {
      ctx.saved.push(x);
      return C.mul(x, x);
    },
    backward: (ctx, g) => [C.mul(C.mul(ctx.saved[0]!, g), factor)],
  });
}

describe('gradcheck self-test', () => {
  it('accepts a correct custom backward', () => {
    const r = gradcheck(squareWith(2), [rand([3, 2], 1)]);
    assert.equal(r.checked, 6);
    assert.ok(r.maxAbsError < 1e-3);
  });

  it('rejects a backward off by a factor', () => {
    assert.throws(() => gradcheck(squareWith(3), [rand([3, 2], 1)]), /gradcheck: input 0 \[3,2\] element \d+/);
    assert.throws(() => gradcheck(squareWith(2.05), [rand([3, 2], 1, 0.5, 1)]), /analytic .* vs numeric/);
  });

  it('rejects a backward that permutes elements (weights differ per element)', () => {
    const rev = C.customOp({
      name: 'scaleWrongOrder',
      forward: (_ctx, x) => C.mul(x, C.tensor([1, 2, 3])),
      // Right multiset of values, wrong positions.
      backward: (_ctx, g) => [C.mul(g, C.tensor([3, 2, 1]))],
    });
    assert.throws(() => gradcheck(rev, [rand([3], 2)]));
  });

  it('rejects a missing gradient for one of two inputs', () => {
    const half = C.customOp({
      name: 'mulNoB',
      forward: (_ctx, a, b) => C.mul(a!, b!),
      backward: () => [null, null],
    });
    assert.throws(() => gradcheck(half, [rand([2], 3), rand([2], 4)]));
  });
});
