/**
 * The fast TopK path (src/sae/fast-topk.ts, ops sparseDecode / topkEncode / sparseEncodeAt) against
 * the dense reference (linear + topk + relu + scatterToDense + matmul, dense backward): the ops on
 * random problems, gradcheck on small shapes, and a whole TopK SAE loss step (with AuxK over dead
 * latents) with every gradient. Relative error ≤ 1e-5 (max |a − e| / max |e| per tensor), on both backends.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, add, fromBuffer, linear, matmul, mul, relu, scope, sum, square, sub, topk } from '../../src/core/index.js';
import { scatterToDense, sparseDecode, sparseEncodeAt, topkEncode } from '../../src/core/ops/sparse.js';
import { Generator } from '../../src/core/random.js';
import { createSae, type BatchTopKSae } from '../../src/sae/index.js';
import { selectBatchTopK } from '../../src/sae/batchtopk.js';
import { fastTopKEnabled, useFastTopK } from '../../src/sae/fast-topk.js';
import { describeBackends, gradcheck, rand, randInt } from '../helpers/gradcheck.js';

/** max |a − e| / max(max |e|, tiny): the relative error of a whole tensor. */
function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  assert.equal(a.length, e.length);
  let num = 0, den = 0;
  for (let i = 0; i < e.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - e[i]!));
    den = Math.max(den, Math.abs(e[i]!));
  }
  return num / Math.max(den, 1e-30);
}
function assertRel(a: ArrayLike<number>, e: ArrayLike<number>, what: string, tol = 1e-5): void {
  const r = relErr(a, e);
  assert.ok(r <= tol, `${what}: relative error ${r} > ${tol}`);
}

function leaf(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  return rand(shape, seed, lo, hi, true);
}

describeBackends('fast TopK ops vs the dense path', () => {
  it('topkEncode + sparseDecode equal linear/topk/relu/scatterToDense/matmul: loss, x̂ and every gradient', () => {
    for (const [R, D, H, k, seed] of [[64, 24, 96, 8, 1], [33, 17, 50, 5, 2], [200, 64, 256, 32, 3]] as const) {
      const x = leaf([R, D], seed), We = leaf([H, D], seed + 10), be = leaf([H], seed + 20, -0.3, 0.3);
      const Wd = leaf([H, D], seed + 30), bd = leaf([D], seed + 40);
      const target = rand([R, D], seed + 50, -1, 1, false);
      const run = (fast: boolean) => scope(() => {
        for (const t of [x, We, be, Wd, bd]) t.zeroGrad();
        let xhat: Tensor;
        if (fast) {
          const { values, indices } = topkEncode(x, We, be, k);
          xhat = sparseDecode(values, indices, Wd, bd);
        } else {
          const t = topk(linear(x, We, be), k);
          xhat = add(matmul(scatterToDense(relu(t.values), t.indices, H), Wd), bd);
        }
        const loss = mul(sum(square(sub(xhat, target))), 1 / R);
        loss.backward();
        return { loss: loss.item(), xhat: Float32Array.from(xhat.f32()), grads: [x, We, be, Wd, bd].map((t) => Float32Array.from(t.grad!.f32())) };
      });
      const f = run(true), d = run(false);
      assertRel([f.loss], [d.loss], `loss ${R}x${D}x${H}`);
      assertRel(f.xhat, d.xhat, 'xhat');
      ['x', 'W_enc', 'b_enc', 'W_dec', 'b_dec'].forEach((n, i) => assertRel(f.grads[i]!, d.grads[i]!, `grad ${n} ${R}x${D}x${H}`));
      // The encoder gradient is sparse: latents never selected get exactly zero.
      const sel = new Set(Array.from(topk(linear(x, We, be), k).indices.i32()));
      const gbe = f.grads[2]!;
      for (let h = 0; h < H; h++) if (!sel.has(h)) assert.equal(gbe[h], 0, `b_enc grad of unselected latent ${h}`);
    }
  });

  it('sparseEncodeAt equals relu(pre) gathered at given indices, with the dense gradient', () => {
    const R = 20, D = 9, H = 30, k = 4;
    const x = leaf([R, D], 5), We = leaf([H, D], 6), be = leaf([H], 7);
    const idx = randInt([R, k], 8, H);
    const ix = idx.i32();
    for (let r = 0; r < R; r++) for (let j = 0; j < k; j++) ix[r * k + j] = (r * 7 + j * 5) % H; // distinct per row
    const w = rand([R, k], 9, -1, 1, false);
    const run = (fast: boolean) => scope(() => {
      for (const t of [x, We, be]) t.zeroGrad();
      let v: Tensor;
      if (fast) v = sparseEncodeAt(x, We, be, linear(x, We, be), idx);
      else {
        const pre = linear(x, We, be);
        const mask = new Float32Array(R * H).fill(0);
        for (let i = 0; i < ix.length; i++) mask[Math.floor(i / k) * H + ix[i]!] = 1;
        // Σ relu(pre) ⊙ mask ⊙ w-scattered: same scalar as Σ v ⊙ w.
        const ws = scatterToDense(w, idx, H);
        v = mul(relu(pre), mul(fromBuffer(mask, [R, H]), ws));
      }
      const l = fast ? sum(mul(v, w)) : sum(v);
      l.backward();
      return { l: l.item(), g: [x, We, be].map((t) => Float32Array.from(t.grad!.f32())) };
    });
    const f = run(true), d = run(false);
    assertRel([f.l], [d.l], 'value');
    f.g.forEach((g, i) => assertRel(g, d.g[i]!, `grad ${i}`));
  });

  it('gradcheck: sparseDecode in values, W and bias', () => {
    const idx = randInt([3, 2], 11, 5);
    const ix = idx.i32();
    for (let r = 0; r < 3; r++) if (ix[r * 2] === ix[r * 2 + 1]) ix[r * 2 + 1] = (ix[r * 2]! + 1) % 5;
    const r = gradcheck((v, W, b) => sparseDecode(v, idx, W, b), [leaf([3, 2], 12), leaf([5, 4], 13), leaf([4], 14)], { eps: 1e-2 });
    assert.ok(r.checked === 6 + 20 + 4);
  });

  it('gradcheck: topkEncode values in x, W and b (pre-activations kept away from ties and 0)', () => {
    // Well-separated pre-activations so ±eps never changes the selection or the relu.
    const R = 3, D = 4, H = 6, k = 2;
    const x = leaf([R, D], 21), W = leaf([H, D], 22);
    const b = fromBuffer(Float32Array.from([2.0, -3.0, 0.9, 4.0, -1.5, 3.1]), [H], true);
    const r = gradcheck((xx, WW, bb) => topkEncode(xx, WW, bb, k).values, [x, W, b], { eps: 1e-3, atol: 2e-2 });
    assert.ok(r.checked > 0);
  });
});

describeBackends('TopK SAE: fast path = dense path', () => {
  it('loss (mse + AuxK with dead latents), x̂ and every parameter gradient agree to 1e-5', () => {
    assert.ok(fastTopKEnabled(), 'the fast path is installed by default');
    const d = 32, H = 128, B = 96;
    const sae = createSae({ architecture: 'topk', dIn: d, dSae: H, k: 8, deadTokens: 50, kAux: 16, auxKCoefficient: 0.5 }, new Generator(3));
    const g = new Generator(4);
    const xb = new Float32Array(B * d);
    g.normal(xb, 0, 1);
    sae.b_dec.f32().set(Float32Array.from({ length: d }, (_, i) => 0.1 * Math.sin(i)));
    sae.b_enc.f32().set(Float32Array.from({ length: H }, (_, i) => 0.05 * Math.cos(i)));
    const t = sae.tokens_since_fired.f32();
    for (let i = 0; i < H; i += 3) t[i] = 1000; // a third of the latents dead → AuxK is active
    const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec];
    const run = (fast: boolean) => {
      useFastTopK(fast);
      try {
        return scope(() => {
          for (const p of params) p.zeroGrad();
          const r = sae.loss(fromBuffer(xb, [B, d]), { updateStats: false });
          r.loss.backward();
          return { loss: r.loss.item(), parts: r.parts, xhat: Float32Array.from(r.xhat.f32()), grads: params.map((p) => Float32Array.from(p.grad!.f32())) };
        });
      } finally {
        useFastTopK(true);
      }
    };
    const f = run(true), dn = run(false);
    assert.ok(dn.parts.auxk! > 0, 'AuxK term is active');
    assertRel([f.parts.auxk!], [dn.parts.auxk!], 'auxk');
    assertRel([f.loss], [dn.loss], 'loss');
    assertRel(f.xhat, dn.xhat, 'xhat');
    ['W_enc', 'b_enc', 'W_dec', 'b_dec'].forEach((n, i) => assertRel(f.grads[i]!, dn.grads[i]!, `grad ${n}`));
  });
});

describeBackends('BatchTopK SAE: fast path = dense path', () => {
  const d = 24, H = 96, B = 64, k = 3;
  const make = () => {
    const sae = createSae({ architecture: 'batchtopk', dIn: d, dSae: H, k, deadTokens: 50, kAux: 12, auxKCoefficient: 0.5 }, new Generator(5)) as BatchTopKSae;
    sae.b_enc.f32().set(Float32Array.from({ length: H }, (_, i) => 0.05 * Math.cos(i)));
    const t = sae.tokens_since_fired.f32();
    for (let i = 0; i < H; i += 4) t[i] = 1000; // AuxK active
    return sae;
  };
  const run = (sae: BatchTopKSae, xb: Float32Array, fast: boolean) => {
    useFastTopK(fast);
    const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec];
    try {
      return scope(() => {
        for (const p of params) p.zeroGrad();
        const r = sae.loss(fromBuffer(xb, [B, d]), { updateStats: false });
        r.loss.backward();
        return { loss: r.loss.item(), parts: r.parts, l0: r.stats.l0!, xhat: Float32Array.from(r.xhat.f32()), grads: params.map((p) => Float32Array.from(p.grad!.f32())) };
      });
    } finally {
      useFastTopK(true);
    }
  };
  const compare = (sae: BatchTopKSae, xb: Float32Array) => {
    const f = run(sae, xb, true), dn = run(sae, xb, false);
    assert.ok(dn.parts.auxk! > 0, 'AuxK term is active');
    assert.equal(f.l0, dn.l0, 'same number of active entries');
    assertRel([f.loss], [dn.loss], 'loss');
    assertRel(f.xhat, dn.xhat, 'xhat');
    ['W_enc', 'b_enc', 'W_dec', 'b_dec'].forEach((n, i) => assertRel(f.grads[i]!, dn.grads[i]!, `grad ${n}`));
  };

  it('loss, x̂ and every gradient agree to 1e-5; tokens get different numbers of latents', () => {
    const sae = make();
    const xb = new Float32Array(B * d);
    new Generator(6).normal(xb, 0, 1);
    for (let b = 0; b < B; b += 5) for (let j = 0; j < d; j++) xb[b * d + j] = 3 * xb[b * d + j]!; // uneven token norms
    compare(sae, xb);
    assert.equal(sae.widenedTokens, 0, 'the candidates sufficed');
  });

  it('a token that takes more than its candidates is widened to its whole row, with the same result', () => {
    const sae = make();
    const xb = new Float32Array(B * d);
    new Generator(7).normal(xb, 0, 0.01);
    for (let j = 0; j < d; j++) xb[j] = 50 * Math.sin(j + 1); // one loud token holds most of the batch's B·k entries
    compare(sae, xb);
    assert.ok(sae.widenedTokens > 0, 'the loud token was widened');
  });
});

it('selectBatchTopK: the total largest of the flattened batch, ties in token order; full rows reported', () => {
  const B = 50, c = 6, H = 10;
  const g = new Generator(8);
  let exact = 0, withFull = 0;
  for (let trial = 0; trial < 300; trial++) {
    // Values on a coarse grid (many ties) with zeros; each row sorted descending.
    const v = new Float32Array(B * c);
    for (let b = 0; b < B; b++) {
      const row = Array.from({ length: c }, () => Math.max(0, g.randint(8) - 2) / 4).sort((x, y) => y - x);
      v.set(row, b * c);
    }
    const rows = Array.from({ length: B }, (_, b) => ({ values: v.subarray(b * c, (b + 1) * c), latents: Int32Array.from({ length: c }, (_, j) => j) }));
    const total = 1 + g.randint(B * c);
    // Reference: order all entries by (value desc, flat index asc), take `total`, drop zeros.
    const order = Array.from(v.keys()).sort((i, j) => v[j]! - v[i]! || i - j).slice(0, total);
    const want = new Set(order.filter((i) => v[i]! > 0));
    const { counts, full } = selectBatchTopK(rows, total, H);
    const got = new Set<number>();
    counts.forEach((m, b) => { for (let j = 0; j < m; j++) got.add(b * c + j); });
    assert.deepEqual([...got].sort((a, b) => a - b), [...want].sort((a, b) => a - b), `trial ${trial}`);
    const fullWant = Array.from({ length: B }, (_, b) => b).filter((b) => counts[b] === c && v[b * c + c - 1]! > 0);
    assert.deepEqual(full, fullWant, `trial ${trial}: full rows`);
    if (full.length) withFull++; else exact++;
  }
  assert.ok(exact > 20 && withFull > 20, `both cases exercised (${exact} exact, ${withFull} with full rows)`);
});
