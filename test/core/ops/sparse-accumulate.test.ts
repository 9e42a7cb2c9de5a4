/**
 * The sparse TopK ops write their weight gradients into engine-owned storage and, when the same
 * weight already has a pending gradient in the graph, scatter onto it (gradInto) instead of adding a
 * second buffer. These graphs use W and b more than once (a second encoder/decoder use, as AuxK does,
 * and dense terms on the weights themselves, one giving a constant pending gradient), in both orders,
 * and compare every gradient with the same graph written with dense ops.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, add, linear, matmul, mul, relu, scope, square, sub, sum, topk } from '../../../src/core/index.js';
import { gather } from '../../../src/core/ops/indexing.js';
import { scatterToDense, sparseDecode, sparseEncodeAt, topkEncode } from '../../../src/core/ops/sparse.js';
import { describeBackends, rand } from '../../helpers/gradcheck.js';

function assertRel(a: ArrayLike<number>, e: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(a.length, e.length, `${what}: length`);
  let num = 0, den = 0;
  for (let i = 0; i < e.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - e[i]!));
    den = Math.max(den, Math.abs(e[i]!));
  }
  assert.ok(num / Math.max(den, 1e-30) <= tol, `${what}: relative error ${num / Math.max(den, 1e-30)} > ${tol}`);
}

describeBackends('sparse ops accumulate onto pending weight gradients', () => {
  const R = 40, D = 12, H = 48, k = 6, k2 = 3;

  it('two encoder uses and two decoder uses of the same weights, plus dense terms on them, in either order', () => {
    const x = rand([R, D], 1, -1, 1, true), We = rand([H, D], 2, -1, 1, true), be = rand([H], 3, -0.3, 0.3, true);
    const Wd = rand([H, D], 4, -1, 1, true), bd = rand([D], 5, -1, 1, true);
    const target = rand([R, D], 6, -1, 1, false);
    // Variant: which dense terms touch the weights and whether they come before or after the sparse ones.
    for (const variant of ['none', 'weights-first', 'weights-last', 'bias-constant', 'bias-only', 'weight-only-first', 'weight-only-last']) {
      const run = (fast: boolean) => scope(() => {
        for (const t of [x, We, be, Wd, bd]) t.zeroGrad();
        const pre = linear(x, We, be);
        const top = topk(pre, k);
        // a second set of latents per row, disjoint from the top k (the next k2 by rank), like AuxK's
        const next = topk(pre, k + k2).indices.i32();
        const ix2 = new Int32Array(R * k2);
        for (let r = 0; r < R; r++) for (let j = 0; j < k2; j++) ix2[r * k2 + j] = next[r * (k + k2) + k + j]!;
        const idx2 = new Tensor(ix2, [R, k2]);
        let xhat: Tensor, aux: Tensor;
        if (fast) {
          const enc = topkEncode(x, We, be, k);
          xhat = sparseDecode(enc.values, enc.indices, Wd, bd);
          aux = sparseDecode(sparseEncodeAt(x, We, be, enc.pre, idx2), idx2, Wd, null);
        } else {
          xhat = add(matmul(scatterToDense(relu(top.values), top.indices, H), Wd), bd);
          aux = matmul(scatterToDense(relu(gather(pre, idx2)), idx2, H), Wd);
        }
        const terms: Tensor[] = [];
        const weightTerms = () => {
          if (variant.startsWith('weights-')) {
            terms.push(mul(sum(square(We)), 0.01), mul(sum(square(Wd)), 0.02), mul(sum(square(be)), 0.03));
          }
          if (variant === 'bias-constant') terms.push(sum(be)); // a constant pending gradient on b_enc
          if (variant === 'bias-only') terms.push(mul(sum(square(be)), 0.5)); // b_enc pending, W_enc not
          if (variant.startsWith('weight-only')) terms.push(mul(sum(square(We)), 0.05)); // W_enc pending, b_enc not
        };
        const first = variant.endsWith('-first');
        if (first) weightTerms();
        terms.push(mul(sum(square(sub(xhat, target))), 1 / R), mul(sum(square(sub(aux, target))), 0.5 / R));
        if (!first) weightTerms();
        let loss = terms[0]!;
        for (const t of terms.slice(1)) loss = add(loss, t);
        loss.backward();
        return { loss: loss.item(), grads: [x, We, be, Wd, bd].map((t) => Float32Array.from(t.grad!.f32())) };
      });
      const f = run(true), d = run(false);
      assertRel([f.loss], [d.loss], `${variant}: loss`);
      ['x', 'W_enc', 'b_enc', 'W_dec', 'b_dec'].forEach((n, i) => assertRel(f.grads[i]!, d.grads[i]!, `${variant}: grad ${n}`));
    }
  });

  it('a gradient accumulated over two backward passes adds up (leaf .grad is not overwritten)', () => {
    const x = rand([R, D], 7, -1, 1, false), We = rand([H, D], 8, -1, 1, true), be = rand([H], 9, -0.3, 0.3, true);
    const Wd = rand([H, D], 10, -1, 1, true);
    const once = () => scope(() => {
      const enc = topkEncode(x, We, be, k);
      sum(square(sparseDecode(enc.values, enc.indices, Wd, null))).backward();
    });
    for (const t of [We, be, Wd]) t.zeroGrad();
    once();
    const g1 = [We, be, Wd].map((t) => Float32Array.from(t.grad!.f32()));
    once();
    [We, be, Wd].forEach((t, i) => assertRel(t.grad!.f32(), g1[i]!.map((v) => 2 * v), `twice: grad ${i}`));
    for (const t of [We, be, Wd]) t.zeroGrad();
  });
});
