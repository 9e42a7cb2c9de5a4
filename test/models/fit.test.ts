// FIT (src/models/fit.ts): the grouping (local, read and write stay inside a group; only the global
// layers over the latents cross groups), checked against a full-length TransformerBlock with a
// block-diagonal mask, and a short training run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, noGrad, type Tensor } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { reshape } from '../../src/core/ops/shape.js';
import { FitClassifier, FullAttentionClassifier, matchedDepth } from '../../src/models/fit.js';

const L = 12, S = 4, G = 3, M = 2, D = 8, B = 2;

function seq(seed: number): Float32Array {
  return new Generator(seed).normal(new Float32Array(B * L));
}
/** Groups (of S rows of width w along a length-L axis, per batch row) whose values differ between a and b. */
function changedGroups(a: Tensor, b: Tensor, rows: number, groupRows: number): Set<number> {
  const w = a.data.length / (B * rows), out = new Set<number>();
  for (let i = 0; i < a.data.length; i++) if (Math.abs(a.data[i]! - b.data[i]!) > 1e-7) out.add(Math.floor((Math.floor(i / w) % rows) / groupRows));
  return out;
}
function model(globalLayers = 1) {
  return new FitClassifier({ seqLen: L, tokenDim: 1, dim: D, heads: 2, groupSize: S, latentsPerGroup: M, blocks: 2, globalLayers, classes: 3, seed: 7 });
}

test('FIT: a local layer equals a full-length TransformerBlock with a block-diagonal attention mask', () => {
  const m = model(), blk = m.blocks[0]!.local[0]!;
  const x = fromBuffer(new Generator(1).normal(new Float32Array(B * L * D)), [B, L, D]);
  const mask = new Float32Array(L * L);
  for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) mask[i * L + j] = Math.floor(i / S) === Math.floor(j / S) ? 0 : 1;
  noGrad(() => {
    const grouped = reshape(blk.forward(reshape(x, [B * G, S, D])), [B, L, D]).data;
    const masked = blk.forward(x, { attnMask: fromBuffer(mask, [L, L]) }).data;
    let err = 0;
    for (let i = 0; i < grouped.length; i++) err = Math.max(err, Math.abs(grouped[i]! - masked[i]!));
    assert.ok(err < 1e-5, `grouped local attention vs masked full attention: max |Δ| ${err}`);
    // Without the mask the full block mixes groups, so the check above can fail.
    const full = blk.forward(x).data;
    assert.ok(Array.from(full).some((v, i) => Math.abs(v - grouped[i]!) > 1e-4));
  });
});

test('FIT: changing a token in group g changes local, read and write outputs only in group g; global layers reach every group', () => {
  const m = model(), blk = m.blocks[0]!;
  const a = seq(2), b = Float32Array.from(a);
  b[1 * L + 5] = (b[1 * L + 5] ?? 0) + 3; // batch row 1, token 5: group 1
  noGrad(() => {
    const ea = m.embedGrouped(fromBuffer(a, [B, L, 1])), eb = m.embedGrouped(fromBuffer(b, [B, L, 1]));
    const xa = blk.localStage(ea.x), xb = blk.localStage(eb.x);
    assert.deepEqual([...changedGroups(xa, xb, L, S)], [1], 'local layer');
    const za = blk.read.forward(ea.z, xa), zb = blk.read.forward(eb.z, xb);
    assert.deepEqual([...changedGroups(za, zb, G * M, M)], [1], 'read: only group 1\'s latents');
    const ga = blk.globalStage(za, B), gb = blk.globalStage(zb, B);
    assert.deepEqual([...changedGroups(ga, gb, G * M, M)].sort(), [0, 1, 2], 'global layers mix all groups\' latents');
    // write with the same latents: only group 1's data tokens move
    assert.deepEqual([...changedGroups(blk.write.forward(xa, ga), blk.write.forward(xb, ga), L, S)], [1], 'write');
    // and batch row 0 never changes
    const wa = blk.write.forward(xa, ga).data, wb = blk.write.forward(xb, gb).data;
    for (let i = 0; i < L * D; i++) assert.equal(wa[i], wb[i]);
  });
});

test('FIT: information crosses groups only through the latents (no global layers: groups stay isolated end to end)', () => {
  const a = seq(3), b = Float32Array.from(a);
  b[0 * L + 9] = (b[0 * L + 9] ?? 0) - 2; // group 2
  for (const [globalLayers, expected] of [[0, [2]], [1, [0, 1, 2]]] as const) {
    const m = model(globalLayers);
    const ta = noGrad(() => m.tokens(fromBuffer(a, [B, L, 1]))), tb = noGrad(() => m.tokens(fromBuffer(b, [B, L, 1])));
    assert.deepEqual([...changedGroups(ta, tb, L, S)].sort(), [...expected], `globalLayers ${globalLayers}`);
  }
});

test('FIT: shapes, parameter-matched baseline, bad input errors', () => {
  const m = model();
  const logits = noGrad(() => m.forward(fromBuffer(seq(4), [B, L])));
  assert.deepEqual(logits.shape, [B, 3]);
  const full = new FullAttentionClassifier({ seqLen: L, tokenDim: 1, dim: D, heads: 2, depth: matchedDepth(m.config), classes: 3 });
  const ratio = full.numParameters() / m.numParameters();
  assert.ok(ratio > 0.85 && ratio < 1.15, `params ${full.numParameters()} vs ${m.numParameters()}`);
  assert.ok(full.attentionEntries() > m.attentionEntries());
  assert.throws(() => m.forward(fromBuffer(new Float32Array(B * 10), [B, 10])), /input must be \[B, 12, 1\]/);
  assert.throws(() => new FitClassifier({ ...m.config, groupSize: 5 }), /groupSize 5 does not divide seqLen 12/);
});
