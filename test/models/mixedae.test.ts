// MixedAE (src/models/mixedae.ts): the mixing against its definition (Latin square inside each
// group, balanced segments), the homologous contrastive loss against a float64 re-implementation,
// the top-k attention mask against the unmasked attention weights, the loss gradient of every
// parameter against central finite differences, bad group sizes, and a short MNIST run + save/load.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBuffer, intTensor, noGrad, type Tensor } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { MixedAE, homologousContrastiveLoss, mixImages, topKAttentionMask, type MixedAEConfig } from '../../src/models/mixedae.js';
import { randomMasking } from '../../src/models/masking.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { loadMnist } from '../../src/data/mnist.js';
import { train } from '../../src/train/fit.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-mixedae-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const images = (B: number, C: number, H: number, W: number, seed: number) => fromBuffer(new Generator(seed).uniform(new Float32Array(B * C * H * W)), [B, C, H, W]);

test('mixImages: every patch comes from its source; each group is a Latin square over sources; segments balanced', () => {
  const B = 6, C = 2, H = 8, W = 6, p = 2, r = 3, N = 12, gw = 3;
  const x = images(B, C, H, W, 1);
  const { mixed, source, segment } = mixImages(x, p, r, new Generator(5));
  const src = source.i32(), seg = segment.i32(), X = x.data, Y = mixed.data;
  for (let b = 0; b < B; b++) {
    const g = Math.floor(b / r), counts = new Array(r).fill(0);
    for (let n = 0; n < N; n++) {
      const s = src[b * N + n]!;
      assert.equal(s, g * r + seg[b * N + n]!, 'source = group start + segment');
      counts[seg[b * N + n]!]++;
      const i0 = Math.floor(n / gw) * p, j0 = (n % gw) * p;
      for (let c = 0; c < C; c++) for (let u = 0; u < p; u++) for (let v = 0; v < p; v++) {
        const o = (c * H + i0 + u) * W + j0 + v;
        assert.equal(Y[b * C * H * W + o], X[s * C * H * W + o]);
      }
    }
    assert.deepEqual(counts, [4, 4, 4], 'N / r patches from each source');
  }
  // Within a group every (source image, position) is used exactly once.
  for (let g = 0; g < B / r; g++) for (let n = 0; n < N; n++) {
    const used = new Set<number>();
    for (let j = 0; j < r; j++) used.add(src[(g * r + j) * N + n]!);
    assert.equal(used.size, r);
  }
  assert.throws(() => mixImages(images(5, 1, 8, 8, 0), 2, 2, new Generator(0)), /a batch of 5 images does not split into mixing groups of 2 \(the mixing group size must divide the batch size\)/);
  assert.throws(() => mixImages(images(4, 1, 8, 8, 0), 2, 1, new Generator(0)), /group size must be an integer ≥ 2/);
});

test('homologousContrastiveLoss equals its definition computed in float64', () => {
  const B = 2, K = 5, D = 4, tau = 0.3;
  const z = fromBuffer(new Generator(3).normal(new Float32Array(B * K * D)), [B, K, D]);
  const segs = [0, 1, 0, 1, 0, /* sample 2: segment 2 has no positive */ 1, 1, 2, 0, 0];
  const got = homologousContrastiveLoss(z, intTensor(segs, [B, K]), tau).item();
  let total = 0, anchors = 0;
  for (let b = 0; b < B; b++) {
    const zn = Array.from({ length: K }, (_, i) => {
      const v = Array.from(z.data.subarray((b * K + i) * D, (b * K + i + 1) * D));
      const n = Math.hypot(...v);
      return v.map((a) => a / n);
    });
    const s = (i: number, j: number) => zn[i]!.reduce((a, v, d) => a + v * zn[j]![d]!, 0) / tau;
    for (let i = 0; i < K; i++) {
      const P = [...Array(K).keys()].filter((j) => j !== i && segs[b * K + j] === segs[b * K + i]);
      if (!P.length) continue;
      let den = 0;
      for (let a = 0; a < K; a++) if (a !== i) den += Math.exp(s(i, a));
      total += -P.reduce((acc, p) => acc + Math.log(Math.exp(s(i, p)) / den), 0) / P.length;
      anchors++;
    }
  }
  assert.equal(anchors, 9);
  assert.ok(Math.abs(got - total / anchors) < 1e-5 * Math.max(1, Math.abs(total / anchors)), `${got} vs ${total / anchors}`);
  assert.ok(homologousContrastiveLoss(z, intTensor([0, 1, 2, 3, 4, 0, 1, 2, 3, 4], [B, K]), tau).item() === 0, 'no positives at all: 0');
});

const tiny: MixedAEConfig = { imageSize: 8, channels: 1, patchSize: 2, dim: 8, depth: 1, heads: 2, decoderDim: 8, decoderDepth: 1, decoderHeads: 2, maskRatio: 0.5, mixGroup: 2, topK: 4, temperature: 0.5, seed: 4 };

test('topKAttentionMask keeps, per head and query, exactly the k keys of largest unmasked attention weight', () => {
  const model = new MixedAE(tiny);
  const blk = model.encoder.blocks[0]!;
  const h = fromBuffer(new Generator(8).normal(new Float32Array(3 * 7 * 8)), [3, 7, 8]);
  const mask = topKAttentionMask(blk, h, 3);
  assert.deepEqual(mask.shape, [6, 7, 7]);
  const { weights } = noGrad(() => blk.attn.attend(blk.ln1.forward(h)));
  const w = weights.data, m = mask.data;
  for (let r = 0; r < 6 * 7; r++) {
    const row = Array.from(w.subarray(r * 7, r * 7 + 7));
    const top = [...row.keys()].sort((a, b) => row[b]! - row[a]!).slice(0, 3).sort();
    const kept = [...row.keys()].filter((j) => m[r * 7 + j] === 0);
    assert.deepEqual(kept, top, `row ${r}`);
  }
  // Masked attention puts zero weight outside the kept keys.
  const masked = noGrad(() => blk.attn.attend(blk.ln1.forward(h), { attnMask: mask })).weights.data;
  for (let i = 0; i < m.length; i++) if (m[i]) assert.equal(masked[i], 0);
});

/** Loss of one fixed mixed batch and mask (the selection of homologous attention included). */
function fixedLoss(model: MixedAE) {
  const x = images(4, 1, 8, 8, 11);
  const mixed = mixImages(x, 2, 2, new Generator(12));
  const m = randomMasking(4, 16, 0.5, new Generator(13));
  // The top-k selection is piecewise constant (no gradient): hold it at the unperturbed one so
  // finite differences measure the same smooth branch that autograd differentiates.
  const masks = noGrad(() => model.forwardMixed(mixed, m).attnMasks);
  return () => model.forwardMixed(mixed, m, undefined, masks);
}

test('mixedae: the gradient of L_rec + λ L_hc w.r.t. every parameter matches central finite differences', () => {
  const model = new MixedAE({ ...tiny, homologousWeight: 0.7 });
  const f = fixedLoss(model);
  const out = f();
  assert.ok(out.homologousLoss.item() > 0 && out.reconLoss.item() > 0);
  assert.ok(Math.abs(out.loss.item() - (out.reconLoss.item() + 0.7 * out.homologousLoss.item())) < 1e-5);
  out.loss.backward();
  const eps = 1e-2;
  const pick = new Generator(21);
  let checked = 0;
  for (const [name, p] of model.namedParameters()) {
    assert.ok(p.grad, `${name} has a gradient`);
    for (let t = 0; t < 2; t++) {
      const i = pick.randint(p.size), v = p.data[i]!;
      p.data[i] = v + eps;
      const up = noGrad(() => f().loss.item());
      p.data[i] = v - eps;
      const down = noGrad(() => f().loss.item());
      p.data[i] = v;
      const fd = (up - down) / (2 * eps), g = p.grad.data[i]!;
      assert.ok(Math.abs(fd - g) <= 2e-3 + 2e-2 * Math.abs(g), `${name}[${i}]: autograd ${g}, finite differences ${fd}`);
      checked++;
    }
  }
  assert.ok(checked >= 40, `checked ${checked}`);
});

test('mixedae: naive mixing has no homologous term; the segment embedding reaches the decoder; bad configs and batches are errors', () => {
  const naive = new MixedAE({ ...tiny, homologous: false });
  const out = fixedLoss(naive)();
  assert.ok(out.homologousLoss.item() === 0 && out.attnMasks.length === 0);
  assert.equal(out.loss.item(), out.reconLoss.item());
  out.loss.backward();
  assert.ok(naive.seg_embed.grad && naive.seg_embed.grad.data.some((v) => v !== 0), 'seg_embed is trained');
  assert.throws(() => new MixedAE({ ...tiny, mixGroup: 1 }), /mixGroup must be an integer ≥ 2/);
  assert.throws(() => new MixedAE({ ...tiny, temperature: 0 }), /temperature must be a finite number > 0/);
  assert.throws(() => new MixedAE({ ...tiny, patchSize: 3 }), /patchSize 3 does not divide the image 8×8/);
  const model = new MixedAE({ ...tiny, mixGroup: 4 });
  assert.throws(() => model.trainStep({ x: images(6, 1, 8, 8, 0), index: new Int32Array(6) } as never, { noise: new Generator(0), step: 0, epoch: 0 }),
    /a batch of 6 images does not split into mixing groups of 4/);
});

test('mixedae: homologous recognition is learned when sources are distinguishable (L_hc falls well below chance)', () => {
  // Even images bright, odd images dark, with a per-image texture: every patch tells its source.
  const n = 64, x = new Float32Array(n * 64), g = new Generator(30);
  for (let s = 0; s < n; s++) for (let i = 0; i < 64; i++) x[s * 64 + i] = (s % 2 ? 0.1 : 0.8) + 0.2 * g.uniform(new Float32Array(1))[0]!;
  const model = new MixedAE({ ...tiny, homologousWeight: 1 });
  const mixed = model.mix(fromBuffer(x.slice(0, 16 * 64), [16, 64]), new Generator(1)), m = randomMasking(16, 16, 0.5, new Generator(2));
  const before = noGrad(() => model.forwardMixed(mixed, m).homologousLoss.item());
  // K = 8 visible tokens: chance (uniform similarities) is log(K − 1) = log 7.
  assert.ok(Math.abs(before - Math.log(7)) < 0.3, `untrained ${before}`);
  train(model, { x, n, sampleShape: [64] }, { steps: 60, batchSize: 16, lr: 3e-3, seed: 0 });
  const afterLoss = noGrad(() => model.forwardMixed(mixed, m).homologousLoss.item());
  assert.ok(afterLoss < Math.log(7) - 0.4, `homologous loss ${before} -> ${afterLoss}`);
});

test('mixedae: a short MNIST run lowers the reconstruction loss of mixed images; save/load round trip; probe features', () => {
  const { train: tr } = loadMnist({ trainCount: 256, testCount: 0 });
  const model = new MixedAE({ imageSize: 28, patchSize: 7, dim: 16, depth: 1, heads: 2, decoderDim: 16, decoderDepth: 1, decoderHeads: 2, seed: 0 });
  const probe = fromBuffer(tr.x.slice(0, 32 * 784), [32, 784]);
  const mixed = model.mix(probe, new Generator(1)), m = randomMasking(32, 16, 0.75, new Generator(2));
  const before = noGrad(() => model.forwardMixed(mixed, m).reconLoss.item());
  train(model, { x: tr.x, n: tr.n, sampleShape: [784] }, { epochs: 5, batchSize: 32, lr: 3e-3, seed: 0 });
  const afterLoss = noGrad(() => model.forwardMixed(mixed, m).reconLoss.item());
  assert.ok(afterLoss < 0.8 * before, `reconstruction loss ${before} -> ${afterLoss}`);
  saveModel(join(tmp, 'm'), model);
  const back = loadModel(join(tmp, 'm')) as MixedAE;
  assert.equal(back.type, 'mixedae');
  assert.equal(back.mixGroup, 2);
  const a: Tensor = noGrad(() => back.forwardMixed(mixed, m).loss), b: Tensor = noGrad(() => model.forwardMixed(mixed, m).loss);
  assert.equal(a.item(), b.item());
  assert.deepEqual(back.features(probe).shape, [32, 16]);
});
