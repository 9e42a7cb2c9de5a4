import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { shiftRows, sparseEncodeAt, topkEncode } from '../../../src/core/ops/sparse.js';
import { assertClose, describeBackends, rand } from '../../helpers/gradcheck.js';

// shiftRows(x, c) = x − c feeding the sparse encoders: when x needs no gradient the encoders hand back a
// gradient with only the right row sum (Σ_h db[h] W[h] in row 0), so c's gradient must equal the one
// through a plain sub, and with x requiring a gradient everything must equal the plain path exactly.

type Enc = 'topkEncode' | 'sparseEncodeAt';

function run(enc: Enc, shifted: boolean, xGrad: boolean, R = 20): { c: Float32Array; W: Float32Array; b: Float32Array; x: Float32Array | null; y: Float32Array } {
  const [D, H, k] = [5, 12, 3]; // R = 20 touches every latent, R = 6 only some (rowCombine skips the rest)
  const x = rand([R, D], 1, -1, 1, xGrad), c = rand([D], 2), W = rand([H, D], 3), b = rand([H], 4);
  const xIn = shifted ? shiftRows(x, c) : C.sub(x, c);
  let v: C.Tensor;
  if (enc === 'topkEncode') v = topkEncode(xIn, W, b, k).values;
  else {
    const pre = C.noGrad(() => C.add(C.matmul(xIn, W, { transB: true }), b));
    const idx = C.topk(pre, k).indices;
    v = sparseEncodeAt(xIn, W, b, pre, idx);
  }
  const r = rand(v.shape as number[], 5, -1, 1, false);
  C.sum(C.mul(v, r)).backward();
  return { c: Float32Array.from(c.grad!.data as Float32Array), W: Float32Array.from(W.grad!.data as Float32Array), b: Float32Array.from(b.grad!.data as Float32Array), x: xGrad ? Float32Array.from(x.grad!.data as Float32Array) : null, y: Float32Array.from(v.data as Float32Array) };
}

describeBackends('shiftRows with the sparse encoders', () => {
  it('c gets the row-summed gradient (equal to a plain sub to rounding); W, b and the output are unchanged', () => {
    for (const enc of ['topkEncode', 'sparseEncodeAt'] as const) for (const R of [20, 6]) {
      const a = run(enc, true, false, R), p = run(enc, false, false, R);
      assert.deepEqual(a.y, p.y, `${enc} R=${R}: output`);
      assert.deepEqual(a.W, p.W, `${enc} R=${R}: W gradient`);
      assert.deepEqual(a.b, p.b, `${enc} R=${R}: b gradient`);
      assertClose(a.c, p.c, 1e-6, 1e-5, `${enc} R=${R}: c gradient`);
      assert.ok(p.c.some((v) => v !== 0), 'the case has a nonzero c gradient');
    }
  });

  it('when x needs a gradient too, the full per-row gradient is computed (bit for bit the plain path)', () => {
    for (const enc of ['topkEncode', 'sparseEncodeAt'] as const) {
      const a = run(enc, true, true), p = run(enc, false, true);
      assert.deepEqual(a.x, p.x, `${enc}: x gradient`);
      assert.deepEqual(a.c, p.c, `${enc}: c gradient`);
    }
  });

  it('rejects shapes that do not broadcast by rows', () => {
    assert.throws(() => shiftRows(rand([3, 4], 1), rand([3], 2)), /shiftRows: x \[3, 4\] must be \[rows, d\] and c \[3\] \[d\]/);
  });
});
