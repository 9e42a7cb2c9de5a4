/**
 * Mixed autoencoder (Chen et al. 2023, "Mixed Autoencoder for Self-supervised Visual
 * Representation Learning"): image mixing as the augmentation of an MAE, plus homologous
 * recognition as the auxiliary task that makes mixing help instead of hurt.
 *
 * Mixing. A batch x [B, C, H, W] with N patches per image is cut into G = B / r groups of r
 * consecutive images (r = mixGroup; r must divide B). Each group draws one random balanced
 * assignment a[n] ∈ {0 … r−1} of the N patch positions (a random permutation π of the positions,
 * a[π_t] = t mod r), and the j-th mixed image of group g takes at position n the patch of image
 *   source(g·r + j, n) = g·r + (a[n] + j) mod r,
 * so within a group the r mixed images use every patch of every source image exactly once
 * (a Latin square over sources × images) and the batch keeps its size. segment(b, n) =
 * (a[n] + j) mod r ∈ {0 … r−1} names the source of a patch inside its mixed image.
 *
 * Model. The MAE of src/models/mae.ts on the mixed images (random masks of ratio maskRatio, the
 * encoder on the visible patches only), with two additions from the paper:
 *   segment embedding  a learned seg_embed [r, D'] row added to every decoder token by its
 *                      segment, telling the decoder which source a position belongs to (the
 *                      encoder never gets it: recognising sources is the encoder's task);
 *   target             each patch's own source patch, i.e. patchify(mixed), masked patches only
 *                      (MAE's loss L_rec, per-patch normalised when normPixLoss).
 * Homologous recognition (on unless homologous = false, which gives "naive mixing"):
 *   homologous attention  in every encoder block each query attends only to its topK keys of
 *                         highest score q·k (per head; the selection carries no gradient), so
 *                         a patch must pick out the patches of its own image to attend to.
 *                         topK defaults to round(K / r) + 1 (the visible homologous patches
 *                         plus the class token), K = visible patches.
 *   homologous contrast   for the encoder's visible patch tokens z [B, K, D], ẑ = z / ‖z‖,
 *                         s_ij = ẑ_i·ẑ_j / τ, positives P(i) = {j ≠ i : segment(j) = segment(i)}:
 *                           L_hc = mean over anchors with P(i) ≠ ∅ of
 *                                  −(1/|P(i)|) Σ_{p ∈ P(i)} log( e^{s_ip} / Σ_{a ≠ i} e^{s_ia} )
 *                         (supervised-contrastive form, positives = same source image).
 *   loss                  L = L_rec + λ L_hc, λ = homologousWeight (default 1), τ = temperature
 *                         (default 0.2).
 * The paper's homologous attention is "replaceable": at evaluation (features, reconstructions
 * of unmixed images) the encoder runs plain attention and the decoder puts segment 0 everywhere.
 *
 * Parameter names: MAE's, plus seg_embed [r, D'].
 */
import { Tensor, empty, fromBuffer, intTensor, noGrad, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, addScalar, div, mul, scale } from '../core/ops/elementwise.js';
import { norm, sum } from '../core/ops/reduce.js';
import { concat, expand, permute, reshape, slice } from '../core/ops/shape.js';
import { linear, matmul } from '../core/ops/linalg.js';
import { logSoftmax } from '../core/ops/nn.js';
import { param } from '../nn/module.js';
import { normal_ } from '../nn/init.js';
import type { TransformerBlock } from '../nn/attention.js';
import { gatherTokens, unpatchify } from '../nn/vit.js';
import type { PatchMask } from './masking.js';
import { MAE, checkMAEConfig, maeRunSetup, maskedGrid, type MAEConfig, type MAERunOptions } from './mae.js';
import type { Batch, StepContext, StepOutput } from '../train/fit.js';

export interface MixedAEConfig extends MAEConfig {
  /** r, images mixed into each mixed image (default 2); must divide the batch size. */
  mixGroup?: number;
  /** Homologous attention + contrastive loss (default true); false is naive mixing. */
  homologous?: boolean;
  /** λ, weight of the homologous contrastive loss (default 1). */
  homologousWeight?: number;
  /** Keys each query may attend to in homologous attention (default round(K / r) + 1). */
  topK?: number;
  /** τ of the contrastive loss (default 0.2). */
  temperature?: number;
}

export function checkMixedAEConfig(c: MixedAEConfig, where = 'MixedAE'): void {
  checkMAEConfig(c, where);
  const r = c.mixGroup ?? 2;
  if (!Number.isInteger(r) || r < 2) throw new Error(`${where}: mixGroup must be an integer ≥ 2 (images per mixed image), got ${String(r)}`);
  const l = c.homologousWeight ?? 1, t = c.temperature ?? 0.2;
  if (!(typeof l === 'number' && Number.isFinite(l) && l >= 0)) throw new Error(`${where}: homologousWeight must be a finite number ≥ 0, got ${String(l)}`);
  if (!(typeof t === 'number' && Number.isFinite(t) && t > 0)) throw new Error(`${where}: temperature must be a finite number > 0, got ${String(t)}`);
  if (c.topK !== undefined && !(Number.isInteger(c.topK) && c.topK >= 1)) throw new Error(`${where}: topK must be an integer ≥ 1, got ${String(c.topK)}`);
}

/** A mixed batch: images, the batch index of each patch's source [B, N] and its segment [B, N]. */
export interface MixedBatch {
  /** [B, C, H, W] mixed images. */
  mixed: Tensor;
  /** int32 [B, N]: source(b, n), the batch row the patch came from. */
  source: Tensor;
  /** int32 [B, N]: segment(b, n) ∈ 0 … r−1. */
  segment: Tensor;
}

/**
 * Patch-wise mixing inside groups of r consecutive images (see the file comment): images
 * [B, C, H, W] with B = G·r -> MixedBatch, each group's balanced assignment drawn from `gen`. A
 * group size that does not divide B is an error.
 */
export function mixImages(x: Tensor, patchSize: number, r: number, gen: Generator): MixedBatch {
  const [B, N] = checkMixing(x, patchSize, r, 'mixImages');
  const assignment = new Int32Array(B * N / r);
  for (let g = 0; g < B / r; g++) {
    const perm = gen.permutation(N);
    for (let t = 0; t < N; t++) assignment[g * N + perm[t]!] = t % r;
  }
  return mixWithAssignment(x, patchSize, r, assignment);
}

/** Checks a mixing call's shapes and group size -> [B, N]. */
function checkMixing(x: Tensor, p: number, r: number, who: string): [number, number] {
  if (x.rank !== 4) throw new Error(`${who}: images must be [B, C, H, W], got ${shapeStr(x.shape)}`);
  const [B, , H, W] = x.shape as [number, number, number, number];
  if (!Number.isInteger(r) || r < 2) throw new Error(`${who}: mixing group size must be an integer ≥ 2, got ${r}`);
  if (B % r !== 0) throw new Error(`${who}: a batch of ${B} images does not split into mixing groups of ${r} (the mixing group size must divide the batch size)`);
  if (H % p || W % p) throw new Error(`${who}: patch size ${p} does not divide the image ${H}×${W}`);
  return [B, (H / p) * (W / p)];
}

/**
 * The mixing of the file comment with given assignments (fixtures, tests): images [B, C, H, W],
 * assignment [G·N] (row g: a_g[n] ∈ 0 … r−1 for the N patch positions, G = B / r) -> MixedBatch.
 */
export function mixWithAssignment(x: Tensor, patchSize: number, r: number, assignment: ArrayLike<number>): MixedBatch {
  const [B, N] = checkMixing(x, patchSize, r, 'mixWithAssignment');
  if (assignment.length !== (B / r) * N) throw new Error(`mixWithAssignment: expected ${B / r}×${N} assignments (groups × patches), got ${assignment.length}`);
  const [, C, H, W] = x.shape as [number, number, number, number];
  const p = patchSize, gw = W / p;
  const src = x.data as Float32Array, out = new Float32Array(src.length);
  const source = new Int32Array(B * N), segment = new Int32Array(B * N);
  for (let g = 0; g < B / r; g++) {
    for (let j = 0; j < r; j++) {
      const b = g * r + j;
      for (let n = 0; n < N; n++) {
        const a = assignment[g * N + n]!;
        if (!(Number.isInteger(a) && a >= 0 && a < r)) throw new Error(`mixWithAssignment: assignment ${a} of group ${g}, patch ${n} is not in 0..${r - 1}`);
        const s = (a + j) % r, from = g * r + s;
        segment[b * N + n] = s;
        source[b * N + n] = from;
        const i0 = Math.floor(n / gw) * p, j0 = (n % gw) * p;
        for (let c = 0; c < C; c++) for (let u = 0; u < p; u++) {
          const o = ((c * H) + i0 + u) * W + j0;
          out.set(src.subarray(from * C * H * W + o, from * C * H * W + o + p), b * C * H * W + o);
        }
      }
    }
  }
  return { mixed: fromBuffer(out, [B, C, H, W]), source: intTensor(source, [B, N]), segment: intTensor(segment, [B, N]) };
}

/**
 * Homologous-attention mask of one block: 1 (may not attend) everywhere but each query's topK
 * keys of highest q·k score, per head: h [B, T, E] -> [B·H, T, T] (no gradient; ties at the k-th
 * score are all kept).
 */
export function topKAttentionMask(block: TransformerBlock, h: Tensor, topK: number): Tensor {
  return noGrad(() => {
    const att = block.attn, E = att.embedDim, Hh = att.numHeads, D = att.headDim;
    const B = h.shape[0]!, T = h.shape[1]!;
    const x = block.ln1.forward(h);
    const q = linear(x, slice(att.in_proj_weight, 0, 0, E), slice(att.in_proj_bias, 0, 0, E));
    const k = linear(x, slice(att.in_proj_weight, 0, E, 2 * E), slice(att.in_proj_bias, 0, E, 2 * E));
    const heads = (t: Tensor) => reshape(permute(reshape(t, [B, T, Hh, D]), [0, 2, 1, 3]), [B * Hh, T, D]);
    const s = matmul(heads(q), heads(k), { transB: true }).data as Float32Array;
    const out = empty([B * Hh, T, T]), o = out.data as Float32Array;
    const kk = Math.min(topK, T), row = new Float32Array(T);
    for (let r0 = 0; r0 < B * Hh * T; r0++) {
      row.set(s.subarray(r0 * T, r0 * T + T));
      row.sort();
      const thr = row[T - kk]!;
      for (let j = 0; j < T; j++) o[r0 * T + j] = s[r0 * T + j]! >= thr ? 0 : 1;
    }
    return out;
  });
}

/**
 * Homologous contrastive loss (file comment): tokens z [B, K, D], segments int32 [B, K], τ -> scalar.
 * Anchors without a positive are left out; with none at all the loss is 0.
 */
export function homologousContrastiveLoss(z: Tensor, segments: Tensor, temperature: number): Tensor {
  if (z.rank !== 3) throw new Error(`homologousContrastiveLoss: z must be [B, K, D], got ${shapeStr(z.shape)}`);
  const [B, K] = z.shape as [number, number, number];
  if (segments.rank !== 2 || segments.shape[0] !== B || segments.shape[1] !== K) throw new Error(`homologousContrastiveLoss: segments must be [${B}, ${K}], got ${shapeStr(segments.shape)}`);
  const sg = segments.i32('homologousContrastiveLoss');
  // Positive weights 1 / (|P(i)| · anchors), and a large negative on the diagonal (a ≠ i); both constants.
  const w = new Float32Array(B * K * K), diag = new Float32Array(K * K);
  for (let i = 0; i < K; i++) diag[i * K + i] = -1e9;
  let anchors = 0;
  const pos = new Int32Array(B * K);
  for (let b = 0; b < B; b++) for (let i = 0; i < K; i++) {
    let c = 0;
    for (let j = 0; j < K; j++) if (j !== i && sg[b * K + j] === sg[b * K + i]) c++;
    pos[b * K + i] = c;
    if (c) anchors++;
  }
  if (!anchors) return mul(sum(z), 0);
  for (let b = 0; b < B; b++) for (let i = 0; i < K; i++) {
    const c = pos[b * K + i]!;
    if (!c) continue;
    for (let j = 0; j < K; j++) if (j !== i && sg[b * K + j] === sg[b * K + i]) w[(b * K + i) * K + j] = -1 / (c * anchors);
  }
  const zn = div(z, addScalar(norm(z, -1, true), 1e-8));
  const logits = add(scale(matmul(zn, zn, { transB: true }), 1 / temperature), fromBuffer(diag, [K, K]));
  return sum(mul(logSoftmax(logits, -1), fromBuffer(w, [B, K, K])));
}

export interface MixedAEOutput {
  /** L_rec + λ L_hc (λ = 0 when not homologous). */
  loss: Tensor;
  reconLoss: Tensor;
  /** The homologous contrastive loss (0 when not homologous). */
  homologousLoss: Tensor;
  /** [B, N, p²C] predictions of the mixed images' patches. */
  pred: Tensor;
  target: Tensor;
  mask: Tensor;
  /** The homologous-attention masks of the encoder blocks (empty without homologous attention). */
  attnMasks: Tensor[];
}

export class MixedAE extends MAE {
  override readonly type: string = 'mixedae';
  declare readonly config: MixedAEConfig;
  seg_embed: Tensor;

  constructor(config: MixedAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    checkMixedAEConfig(config);
    super(config, gen);
    this.seg_embed = param(normal_(empty([config.mixGroup ?? 2, config.decoderDim]), gen, 0, 0.02));
  }

  get mixGroup(): number {
    return this.config.mixGroup ?? 2;
  }

  /** Keys per query in homologous attention for K visible patches. */
  topK(K: number): number {
    return this.config.topK ?? Math.round(K / this.mixGroup) + 1;
  }

  /** Mixes a batch (rows or images) with this model's patch size and group size. */
  mix(x: Tensor, gen: Generator): MixedBatch {
    return mixImages(this.images(x), this.config.patchSize, this.mixGroup, gen);
  }

  /**
   * Encoder on the visible patches with homologous attention when `homologous` (each block's
   * attention restricted to the topK keys), plain attention otherwise: [B, C, H, W], keep [B, K] ->
   * latent [B, 1 + K, D] and the per-block masks used ([B·H, 1 + K, 1 + K]; given `attnMasks`
   * are used instead of a fresh selection, e.g. to differentiate with the selection held fixed).
   */
  encodeHomologous(imgs: Tensor, keep: Tensor, homologous: boolean, attnMasks?: Tensor[]): { latent: Tensor; attnMasks: Tensor[] } {
    const enc = this.encoder, D = this.config.dim;
    let h = gatherTokens(enc.embed(imgs), keep);
    const B = h.shape[0]!, K = h.shape[1]!;
    const cls = add(enc.cls_token!, reshape(slice(enc.posEmbed, 0, 0, 1), [1, 1, D]));
    h = concat([expand(cls, [B, 1, D]), h], 1);
    const used: Tensor[] = [];
    enc.blocks.forEach((blk, i) => {
      if (!homologous) return void (h = blk.forward(h));
      const mk = attnMasks?.[i] ?? topKAttentionMask(blk, h, this.topK(K));
      used.push(mk);
      h = blk.forward(h, { attnMask: mk });
    });
    return { latent: enc.norm.forward(h), attnMasks: used };
  }

  /**
   * MAE's decoder with the segment embedding added to every token (segment [B, N]; omitted: all
   * segment 0, i.e. an unmixed image): latent [B, 1 + K, D], restore [B, N] -> [B, N, p²C].
   */
  override decode(latent: Tensor, restore?: Tensor, segment?: Tensor): Tensor {
    const N = this.numPatches, Dd = this.config.decoderDim;
    const y = this.decoder_embed.forward(latent);
    const B = y.shape[0]!, K = y.shape[1]! - 1;
    let tokens = slice(y, 1, 1, K + 1);
    if (restore) {
      if (restore.rank !== 2 || restore.shape[0] !== B || restore.shape[1] !== N) throw new Error(`MixedAE.decode: restore must be [${B}, ${N}], got ${shapeStr(restore.shape)}`);
      tokens = gatherTokens(K < N ? concat([tokens, expand(this.mask_token, [B, N - K, Dd])], 1) : tokens, restore);
    } else if (K !== N) throw new Error(`MixedAE.decode: ${K} tokens without restore indices (need all ${N})`);
    const seg = segment ?? intTensor(new Int32Array(B * N), [B, N]);
    if (seg.rank !== 2 || seg.shape[0] !== B || seg.shape[1] !== N) throw new Error(`MixedAE.decode: segment must be [${B}, ${N}], got ${shapeStr(seg.shape)}`);
    tokens = add(tokens, gatherTokens(expand(reshape(this.seg_embed, [1, this.mixGroup, Dd]), [B, this.mixGroup, Dd]), seg));
    let h = add(concat([slice(y, 1, 0, 1), tokens], 1), this.decoderPos);
    for (const b of this.decoder_blocks) h = b.forward(h);
    return slice(this.decoder_pred.forward(this.decoder_norm.forward(h)), 1, 1, N + 1);
  }

  /** One training pass on a mixed batch under mask m (see the file comment). */
  forwardMixed(batch: MixedBatch, m: PatchMask, homologous = this.config.homologous ?? true, attnMasks?: Tensor[]): MixedAEOutput {
    const imgs = this.images(batch.mixed);
    const B = imgs.shape[0]!;
    if (m.B !== B || m.N !== this.numPatches) throw new Error(`MixedAE: mask is for ${m.B} samples × ${m.N} patches, the batch has ${B} × ${this.numPatches}`);
    const { latent, attnMasks: used } = this.encodeHomologous(imgs, m.keep, homologous, attnMasks);
    const pred = this.decode(latent, m.restore, batch.segment);
    const target = this.targets(imgs);
    const reconLoss = MAE.maskedLoss(pred, target, m.mask);
    const lambda = homologous ? (this.config.homologousWeight ?? 1) : 0;
    let homologousLoss = scale(sum(reconLoss), 0), loss = reconLoss;
    if (lambda > 0) {
      const seg = batch.segment.i32('MixedAE'), keep = m.keep.i32('MixedAE'), N = this.numPatches;
      const visSeg = new Int32Array(B * m.K);
      for (let i = 0; i < visSeg.length; i++) visSeg[i] = seg[Math.floor(i / m.K) * N + keep[i]!]!;
      homologousLoss = homologousContrastiveLoss(slice(latent, 1, 1, m.K + 1), intTensor(visSeg, [B, m.K]), this.config.temperature ?? 0.2);
      loss = add(reconLoss, scale(homologousLoss, lambda));
    }
    return { loss, reconLoss, homologousLoss, pred, target, mask: m.mask, attnMasks: used };
  }

  override trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const mixed = this.mix(batch.x, ctx.noise);
    const out = this.forwardMixed(mixed, this.drawMask(mixed.mixed.shape[0]!, ctx.noise));
    // L_hc in the log shows whether sources are being recognised (chance: log(K − 1)).
    return { loss: out.loss, metrics: { recon: out.reconLoss.item(), homologous: out.homologousLoss.item() } };
  }
}

/** The PNG grid [masked mixed input | reconstruction | mixed image] of the first images (a multiple of r) under a fresh mix and mask from `seed`. */
export function mixedaeSampleGrid(model: MixedAE, data: { x: Float32Array; n: number }, count = 8, seed = 0): Uint8Array {
  const r = model.mixGroup, B = Math.max(r, Math.floor(Math.min(count, data.n) / r) * r), D = model.channels * model.height * model.width;
  if (data.n < B) throw new Error(`mixedaeSampleGrid: need at least ${B} images, got ${data.n}`);
  const gen = new Generator(seed);
  const mixed = model.mix(fromBuffer(data.x.slice(0, B * D), [B, D]), gen);
  const m = model.drawMask(B, gen);
  // maskedGrid lays out the tiles; this view reconstructs through the mixed pass (segments included).
  const view = {
    images: (x: Tensor) => model.images(x),
    reconstructMasked: (x: Tensor, mk: PatchMask) => noGrad(() => {
      const out = model.forwardMixed({ ...mixed, mixed: x }, mk);
      const keep = reshape(addScalar(scale(mk.mask, -1), 1), [B, model.numPatches, 1]);
      const px = add(mul(out.target, keep), mul(out.pred, reshape(mk.mask, [B, model.numPatches, 1])));
      const unp = (t: Tensor) => unpatchify(t, model.config.patchSize, model.height, model.width);
      return { masked: unp(mul(out.target, keep)), recon: unp(px) };
    }),
  };
  if (model.config.normPixLoss) return maskedGrid(model, mixed.mixed, m); // normalised targets: show the plain MAE view
  return maskedGrid(view as unknown as MAE, mixed.mixed, m);
}

/** The training set and config of `aelab train mixedae` (data handling as MAE's). */
export function mixedaeRunSetup(o: MAERunOptions & { mixGroup?: number | null; homologousWeight?: number | null; batch?: number }): { data: { x: Float32Array; n: number; sampleShape: number[]; y?: Int32Array }; config: MixedAEConfig } {
  const r = maeRunSetup(o);
  const mixGroup = o.mixGroup ?? 2;
  if (o.batch !== undefined && (!Number.isInteger(mixGroup) || mixGroup < 2 || o.batch % mixGroup !== 0)) {
    throw new Error(`MixedAE: --mix ${mixGroup} must be an integer ≥ 2 that divides --batch ${o.batch} (each batch is cut into mixing groups of that size)`);
  }
  const config: MixedAEConfig = { ...r.config, mixGroup, homologous: true, homologousWeight: o.homologousWeight ?? 1 };
  checkMixedAEConfig(config);
  return { data: r.data, config };
}
