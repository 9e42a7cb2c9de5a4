/**
 * Multi-modal multi-task masked autoencoder (Bachmann et al. 2022, "MultiMAE: Multi-modal
 * Multi-task Masked Autoencoders").
 *
 * M modalities of the same H×W size (modality m has C_m channels; stacked along the channel axis
 * the input is x [B, ΣC_m, H, W]), patch side p, N = (H/p)(W/p) patches per modality, positions
 * n' = m·N + n over the M·N tokens of all modalities:
 *
 *   input adapters   per modality its own patch projection: e_m = patchify(x_m) W_mᵀ + b_m
 *                    [B, N, D] + fixed 2-D sin-cos positions P [N, D] + a learned modality
 *                    embedding modality_embed[m] [D]; concatenated -> [B, M·N, D].
 *   masking          per sample, modality proportions λ ~ Dirichlet(α·1_M) (α = 1: uniform on the
 *                    simplex), k_m = λ_m·K rounded (largest remainders, capped at N, the excess
 *                    moved to modalities with room) so Σ k_m = K, the fixed total visible budget;
 *                    then k_m patches of modality m uniformly at random. The mask is a PatchMask
 *                    over the M·N positions (keep [B, K], restore [B, M·N], mask [B, M·N]).
 *   encoder          ONE shared ViT over the K visible tokens of all modalities with a class
 *                    token: `depth` pre-LN blocks + LayerNorm -> z [B, 1 + K, D].
 *   decoders         one per modality (its output task), as in the paper: y = embed_m(z)
 *                    [B, 1 + K, D']; context = y with positions P' [N, D'] and the learned
 *                    per-decoder modality rows ctx_modality[m'] [M, D'] added at each visible
 *                    token; queries = the N positions of modality m: its own visible tokens in
 *                    place and a shared mask_token elsewhere (restore gather, as MAE), + P';
 *                    one cross-attention layer q ← q + attn(ln_q(q), ln_ctx(context)),
 *                    q ← q + mlp(ln_mlp(q)), then `decoderDepth` self-attention blocks, norm,
 *                    pred Linear(D', p²C_m) -> [B, N, p²C_m].
 *   loss             L = Σ_m L_m, L_m = mean over the masked patches of modality m of the
 *                    per-patch MSE (modalities with no masked patch in the batch add 0).
 *
 * Pseudo-labels (src/data/pseudo-labels.ts) stand in for the paper's depth and segmentation
 * networks: `aelab train multimae --data mnist` trains on pixels + Sobel edges + a foreground
 * mask + a blurred depth-like map. The pixel encoder's features for probes are the mean of the
 * encoder's tokens with ALL pixel patches visible and no other modality.
 *
 * Parameter names: input_adapters.<m>.*, modality_embed [M, D], cls_token, blocks.<i>.*, norm.*,
 * decoders.<m>.{embed, mask_token, ctx_modality, ln_q, ln_ctx, attn, ln_mlp, mlp, blocks, norm, pred}.
 */
import { Tensor, empty, fromBuffer, intTensor, noGrad, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, mul, scale, sub } from '../core/ops/elementwise.js';
import { mean, sum } from '../core/ops/reduce.js';
import { concat, expand, reshape, slice } from '../core/ops/shape.js';
import { Module, param } from '../nn/module.js';
import { normal_ } from '../nn/init.js';
import { ActivationLayer, LayerNorm, Linear, Sequential } from '../nn/layers.js';
import { MultiHeadAttention, TransformerBlock } from '../nn/attention.js';
import { asImages, gatherTokens, imageHW, patchify, sincosPosEmbed2d, unpatchify } from '../nn/vit.js';
import { keepCount, maskFromScores, type PatchMask } from './masking.js';
import { maeRunSetup, type MAERunOptions } from './mae.js';
import { encodePng } from '../data/png.js';
import { DataError } from '../data/csv.js';
import { PSEUDO_LABELS, pseudoLabel, type PseudoLabel } from '../data/pseudo-labels.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

export interface MultiMAEModality {
  name: string;
  /** Channels (default 1). */
  channels?: number;
}

export interface MultiMAEConfig {
  /** Image side (square) or [height, width], shared by every modality. */
  imageSize: number | [number, number];
  patchSize: number;
  /** The modalities, in input (channel) order; each is also an output task. */
  modalities: MultiMAEModality[];
  /** Encoder width D, depth, heads. */
  dim: number;
  depth: number;
  heads: number;
  /** Decoder width D', self-attention blocks after the cross-attention, heads (each decoder). */
  decoderDim: number;
  decoderDepth: number;
  decoderHeads: number;
  mlpRatio?: number;
  /** K, visible tokens per sample over all modalities (default ⌊N/4⌋: MAE's budget at ratio 0.75). */
  visibleTokens?: number;
  /** α of the symmetric Dirichlet over modality proportions (default 1). */
  alpha?: number;
  seed?: number;
}

export function checkMultiMAEConfig(c: MultiMAEConfig, where = 'MultiMAE'): void {
  const pos = (n: string, v: unknown, min = 1) => {
    if (!Number.isInteger(v) || (v as number) < min) throw new Error(`${where}: ${n} must be an integer ≥ ${min}, got ${String(v)}`);
  };
  const [H, W] = imageHW(c.imageSize);
  pos('imageSize (height)', H); pos('imageSize (width)', W); pos('patchSize', c.patchSize);
  pos('dim', c.dim); pos('depth', c.depth, 0); pos('heads', c.heads);
  pos('decoderDim', c.decoderDim); pos('decoderDepth', c.decoderDepth, 0); pos('decoderHeads', c.decoderHeads);
  if (H % c.patchSize || W % c.patchSize) throw new Error(`${where}: patchSize ${c.patchSize} does not divide the image ${H}×${W}`);
  for (const [n, d, h] of [['dim', c.dim, c.heads], ['decoderDim', c.decoderDim, c.decoderHeads]] as const) {
    if (d % 4) throw new Error(`${where}: ${n} ${d} must be a multiple of 4 (2-D sin-cos positions)`);
    if (d % h) throw new Error(`${where}: ${n} ${d} is not divisible by its heads ${h}`);
  }
  if (!Array.isArray(c.modalities) || c.modalities.length < 1) throw new Error(`${where}: modalities must be a non-empty list, got ${JSON.stringify(c.modalities)}`);
  const seen = new Set<string>();
  for (const m of c.modalities) {
    if (typeof m?.name !== 'string' || !m.name) throw new Error(`${where}: every modality needs a name, got ${JSON.stringify(m)}`);
    if (seen.has(m.name)) throw new Error(`${where}: modality '${m.name}' is listed twice`);
    seen.add(m.name);
    pos(`channels of modality '${m.name}'`, m.channels ?? 1);
  }
  const N = (H / c.patchSize) * (W / c.patchSize), total = N * c.modalities.length;
  const K = c.visibleTokens ?? Math.floor(N / 4);
  if (!(Number.isInteger(K) && K >= 1 && K < total)) throw new Error(`${where}: visibleTokens must be an integer in 1..${total - 1} (${c.modalities.length} modalities × ${N} patches), got ${String(c.visibleTokens)}`);
  const a = c.alpha ?? 1;
  if (!(typeof a === 'number' && Number.isFinite(a) && a > 0)) throw new Error(`${where}: alpha must be a finite number > 0, got ${String(a)}`);
}

/** A Gamma(α, 1) draw (Marsaglia–Tsang; α < 1 through G(α + 1)·U^{1/α}). */
function gammaSample(alpha: number, gen: Generator): number {
  const u1 = new Float32Array(1), z = new Float32Array(1);
  if (alpha < 1) return gammaSample(alpha + 1, gen) * Math.pow(Math.max(gen.uniform(u1)[0]!, 1e-12), 1 / alpha);
  const d = alpha - 1 / 3, cc = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = gen.normal(z)[0]!, v0 = 1 + cc * x;
    if (v0 <= 0) continue;
    const v = v0 * v0 * v0, u = Math.max(gen.uniform(u1)[0]!, 1e-12);
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** λ ~ Dirichlet(α·1_M): normalised Gamma(α) draws. */
export function dirichletSample(M: number, alpha: number, gen: Generator): Float64Array {
  const g = new Float64Array(M);
  let s = 0;
  for (let m = 0; m < M; m++) s += (g[m] = gammaSample(alpha, gen));
  for (let m = 0; m < M; m++) g[m]! /= s;
  return g;
}

/**
 * k_m = round(λ_m K) by largest remainders with Σ k_m = K and every k_m ≤ N (the excess goes to
 * the modalities with the largest remaining share that still have room). Needs K ≤ M·N.
 */
export function visibleCounts(lambda: ArrayLike<number>, K: number, N: number): Int32Array {
  const M = lambda.length, k = new Int32Array(M);
  if (K > M * N) throw new Error(`visibleCounts: ${K} visible tokens do not fit in ${M} modalities × ${N} patches`);
  const rem = new Float64Array(M);
  let left = K;
  for (let m = 0; m < M; m++) {
    const want = lambda[m]! * K;
    k[m] = Math.min(N, Math.floor(want));
    rem[m] = want - k[m]!;
    left -= k[m]!;
  }
  while (left > 0) {
    let best = -1;
    for (let m = 0; m < M; m++) if (k[m]! < N && (best < 0 || rem[m]! > rem[best]!)) best = m;
    k[best]!++;
    rem[best] = -Infinity;
    left--;
    if (rem.every((r, m) => r === -Infinity || k[m]! >= N)) rem.fill(0);
  }
  return k;
}

/**
 * MultiMAE masking (file comment): B samples, M modalities of N patches, K visible in all ->
 * a PatchMask over M·N positions (modality-major) and the per-sample counts [B, M].
 */
export function multimodalMasking(B: number, M: number, N: number, K: number, alpha: number, gen: Generator): { mask: PatchMask; counts: Int32Array } {
  if (!(Number.isInteger(B) && B >= 1)) throw new Error(`multimodalMasking: batch size must be a positive integer, got ${B}`);
  if (!(Number.isInteger(K) && K >= 1 && K < M * N)) throw new Error(`multimodalMasking: visible tokens must be in 1..${M * N - 1}, got ${K}`);
  const scores = new Float32Array(B * M * N).fill(2), counts = new Int32Array(B * M);
  for (let b = 0; b < B; b++) {
    const k = visibleCounts(dirichletSample(M, alpha, gen), K, N);
    for (let m = 0; m < M; m++) {
      counts[b * M + m] = k[m]!;
      const pick = gen.choice(N, k[m]!);
      // Chosen positions score in [0, 1) (random order), the rest 2: exactly the K chosen are kept.
      const u = gen.uniform(new Float32Array(pick.length));
      for (let t = 0; t < pick.length; t++) scores[b * M * N + m * N + pick[t]!] = u[t]!;
    }
  }
  return { mask: maskFromScores(scores, B, M * N, K), counts };
}

/** A mask with every token of the `given` modalities visible and all others masked (cross-modal prediction). */
export function modalityMask(B: number, M: number, N: number, given: number[]): PatchMask {
  const K = given.length * N;
  if (!given.length || given.length >= M) throw new Error(`modalityMask: give between 1 and ${M - 1} of the ${M} modalities, got ${given.length}`);
  const scores = new Float32Array(B * M * N);
  for (let b = 0; b < B; b++) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) scores[(b * M + m) * N + n] = given.includes(m) ? (m * N + n) / (M * N) : 2;
  return maskFromScores(scores, B, M * N, K);
}

/** One modality's decoder (file comment). */
export class MultiMAEDecoder extends Module {
  embed: Linear;
  mask_token: Tensor;
  ctx_modality: Tensor;
  ln_q: LayerNorm;
  ln_ctx: LayerNorm;
  attn: MultiHeadAttention;
  ln_mlp: LayerNorm;
  mlp: Sequential;
  blocks: TransformerBlock[];
  norm: LayerNorm;
  pred: Linear;

  constructor(dim: number, decoderDim: number, depth: number, heads: number, M: number, outDim: number, gen: Generator, mlpRatio = 4) {
    super();
    const hidden = Math.round(decoderDim * mlpRatio);
    this.embed = new Linear(dim, decoderDim, gen);
    this.mask_token = param(normal_(empty([1, 1, decoderDim]), gen, 0, 0.02));
    this.ctx_modality = param(normal_(empty([M, decoderDim]), gen, 0, 0.02));
    this.ln_q = new LayerNorm(decoderDim);
    this.ln_ctx = new LayerNorm(decoderDim);
    this.attn = new MultiHeadAttention(decoderDim, heads, gen);
    this.ln_mlp = new LayerNorm(decoderDim);
    this.mlp = new Sequential(new Linear(decoderDim, hidden, gen), new ActivationLayer('gelu'), new Linear(hidden, decoderDim, gen));
    this.blocks = Array.from({ length: depth }, () => new TransformerBlock(decoderDim, heads, gen, { mlpRatio }));
    this.norm = new LayerNorm(decoderDim);
    this.pred = new Linear(decoderDim, outDim, gen);
  }

  /**
   * latent [B, 1 + K, D], keep [B, K] and restore [B, M·N] over all modalities' positions, this
   * decoder's modality m, positions pos [N, D'] -> [B, N, p²C_m].
   */
  forward(latent: Tensor, keep: Tensor, restore: Tensor, m: number, pos: Tensor): Tensor {
    const y = this.embed.forward(latent);
    const B = y.shape[0]!, K = y.shape[1]! - 1, Dd = y.shape[2]!, N = pos.shape[0]!, M = this.ctx_modality.shape[0]!;
    const tokens = slice(y, 1, 1, K + 1);
    // Positions + modality rows of every one of the M·N token slots, gathered at the visible ones.
    const slots = concat(Array.from({ length: M }, (_, j) => add(pos, slice(this.ctx_modality, 0, j, j + 1))), 0);
    const context = concat([slice(y, 1, 0, 1), add(tokens, gatherTokens(expand(reshape(slots, [1, M * N, Dd]), [B, M * N, Dd]), keep))], 1);
    const filled = gatherTokens(concat([tokens, expand(this.mask_token, [B, M * N - K, Dd])], 1), restore);
    let q = add(slice(filled, 1, m * N, (m + 1) * N), pos);
    const kv = this.ln_ctx.forward(context);
    q = add(q, this.attn.forward(this.ln_q.forward(q), { key: kv, value: kv }));
    q = add(q, this.mlp.forward(this.ln_mlp.forward(q)));
    for (const b of this.blocks) q = b.forward(q);
    return this.pred.forward(this.norm.forward(q));
  }
}

export interface MultiMAEOutput {
  /** Σ_m L_m (scalar). */
  loss: Tensor;
  /** L_m per modality (in modality order). */
  losses: Tensor[];
  /** Predictions per modality [B, N, p²C_m]. */
  preds: Tensor[];
  /** Targets per modality [B, N, p²C_m]. */
  targets: Tensor[];
  /** [B, M·N], 1 = masked. */
  mask: Tensor;
}

export class MultiMAE extends Module implements Trainable {
  readonly type: string = 'multimae';
  input_adapters: Linear[];
  modality_embed: Tensor;
  cls_token: Tensor;
  blocks: TransformerBlock[];
  norm: LayerNorm;
  decoders: MultiMAEDecoder[];
  readonly height: number;
  readonly width: number;
  readonly grid: { h: number; w: number; n: number };
  readonly channels: number[];
  /** Fixed positions [N, D] (encoder) and [N, D'] (decoders). */
  readonly pos: Tensor;
  readonly decoderPos: Tensor;

  constructor(readonly config: MultiMAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkMultiMAEConfig(config);
    const c = config, p = c.patchSize;
    [this.height, this.width] = imageHW(c.imageSize);
    const h = this.height / p, w = this.width / p;
    this.grid = { h, w, n: h * w };
    this.channels = c.modalities.map((m) => m.channels ?? 1);
    const M = c.modalities.length;
    this.input_adapters = this.channels.map((C) => new Linear(p * p * C, c.dim, gen));
    this.modality_embed = param(normal_(empty([M, c.dim]), gen, 0, 0.02));
    this.cls_token = param(normal_(empty([1, 1, c.dim]), gen, 0, 0.02));
    this.blocks = Array.from({ length: c.depth }, () => new TransformerBlock(c.dim, c.heads, gen, { mlpRatio: c.mlpRatio }));
    this.norm = new LayerNorm(c.dim);
    this.decoders = this.channels.map((C) => new MultiMAEDecoder(c.dim, c.decoderDim, c.decoderDepth, c.decoderHeads, M, p * p * C, gen, c.mlpRatio ?? 4));
    this.pos = sincosPosEmbed2d(c.dim, h, w);
    this.decoderPos = sincosPosEmbed2d(c.decoderDim, h, w);
  }

  get numPatches(): number {
    return this.grid.n;
  }

  get numModalities(): number {
    return this.config.modalities.length;
  }

  get visibleTokens(): number {
    return this.config.visibleTokens ?? Math.floor(this.grid.n / 4);
  }

  /** Index of a modality by name; an unknown name is an error listing the known ones. */
  modalityIndex(name: string): number {
    const i = this.config.modalities.findIndex((m) => m.name === name);
    if (i < 0) throw new Error(`MultiMAE: unknown modality '${name}' (this model has ${this.config.modalities.map((m) => m.name).join(', ')})`);
    return i;
  }

  /** Stacked input [B, ΣC_m, H, W] or rows [B, ΣC_m·H·W] -> [B, ΣC_m, H, W]. */
  images(x: Tensor): Tensor {
    return asImages(x, this.channels.reduce((a, b) => a + b, 0), this.height, this.width, 'MultiMAE');
  }

  /**
   * Per-modality tensors by name -> the stacked input [B, ΣC_m, H, W]. A missing modality, or one
   * of another size or batch, is an error naming it and both shapes.
   */
  stack(inputs: Record<string, Tensor>): Tensor {
    const parts: Tensor[] = [];
    let B = -1;
    for (const [i, m] of this.config.modalities.entries()) {
      const t = inputs[m.name];
      if (!t) throw new Error(`MultiMAE: modality '${m.name}' is missing (given: ${Object.keys(inputs).join(', ') || 'none'})`);
      const C = this.channels[i]!, want = [B < 0 ? t.shape[0]! : B, C, this.height, this.width];
      if (t.rank !== 4 || t.shape.some((d, j) => d !== want[j])) {
        throw new Error(`MultiMAE: modality '${m.name}' is ${shapeStr(t.shape)}, expected [${want.join(', ')}] (all modalities must have the same ${this.height}×${this.width} size and batch)`);
      }
      B = t.shape[0]!;
      parts.push(t);
    }
    for (const k of Object.keys(inputs)) this.modalityIndex(k);
    return concat(parts, 1);
  }

  /** Modality tokens of all M·N slots: stacked images -> [B, M·N, D]. */
  embed(imgs: Tensor): Tensor {
    const p = this.config.patchSize;
    let c0 = 0;
    const parts = this.channels.map((C, m) => {
      const xm = slice(imgs, 1, c0, c0 + C);
      c0 += C;
      return add(add(this.input_adapters[m]!.forward(patchify(xm, p)), this.pos), slice(this.modality_embed, 0, m, m + 1));
    });
    return concat(parts, 1);
  }

  /** Shared encoder on the visible tokens: stacked images, keep [B, K] over M·N -> [B, 1 + K, D]. */
  encode(x: Tensor, keep: Tensor): Tensor {
    const vis = gatherTokens(this.embed(this.images(x)), keep);
    const B = vis.shape[0]!, D = this.config.dim;
    let h = concat([expand(this.cls_token, [B, 1, D]), vis], 1);
    for (const b of this.blocks) h = b.forward(h);
    return this.norm.forward(h);
  }

  /** Patch targets per modality [B, N, p²C_m]. */
  targets(x: Tensor): Tensor[] {
    const imgs = this.images(x);
    let c0 = 0;
    return this.channels.map((C) => {
      const t = patchify(slice(imgs, 1, c0, c0 + C), this.config.patchSize);
      c0 += C;
      return t;
    });
  }

  drawMask(B: number, gen: Generator): PatchMask {
    return multimodalMasking(B, this.numModalities, this.numPatches, this.visibleTokens, this.config.alpha ?? 1, gen).mask;
  }

  /** One masked pass (mask over the M·N positions). */
  forwardMasked(x: Tensor, m: PatchMask): MultiMAEOutput {
    const imgs = this.images(x);
    const B = imgs.shape[0]!, N = this.numPatches, M = this.numModalities;
    if (m.B !== B || m.N !== M * N) throw new Error(`MultiMAE: mask is for ${m.B} samples × ${m.N} positions, the batch has ${B} × ${M * N} (${M} modalities × ${N} patches)`);
    const latent = this.encode(imgs, m.keep);
    const targets = this.targets(imgs);
    const md = m.mask.data;
    const preds: Tensor[] = [], losses: Tensor[] = [];
    for (let j = 0; j < M; j++) {
      const pred = this.decoders[j]!.forward(latent, m.keep, m.restore, j, this.decoderPos);
      preds.push(pred);
      let cnt = 0;
      for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) cnt += md[b * M * N + j * N + n]!;
      const mk = slice(m.mask, 1, j * N, (j + 1) * N);
      const d = sub(pred, targets[j]!);
      const perPatch = mean(mul(d, d), -1);
      losses.push(scale(sum(mul(perPatch, mk)), cnt ? 1 / cnt : 0));
    }
    const loss = losses.reduce((a, b) => add(a, b));
    return { loss, losses, preds, targets, mask: m.mask };
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const out = this.forwardMasked(batch.x, this.drawMask(batch.x.shape[0]!, ctx.noise));
    return { loss: out.loss, metrics: Object.fromEntries(this.config.modalities.map((m, j) => [`loss_${m.name}`, out.losses[j]!.item()])) };
  }

  /** Images of modality `name` padded with zeros for the others (their tokens are never gathered) -> stacked [B, ΣC, H, W]. */
  private only(x: Tensor, name: string): Tensor {
    const i = this.modalityIndex(name), C = this.channels[i]!;
    const xi = asImages(x, C, this.height, this.width, `MultiMAE (modality '${name}')`);
    const B = xi.shape[0]!;
    return concat(this.channels.map((c, j) => (j === i ? xi : fromBuffer(new Float32Array(B * c * this.height * this.width), [B, c, this.height, this.width]))), 1);
  }

  /**
   * Frozen features for probes from one modality alone (default the first, the pixels): all its
   * patches visible, no other modality; mean of the encoder's patch tokens [B, D].
   */
  features(x: Tensor, name = this.config.modalities[0]!.name): Tensor {
    return noGrad(() => {
      const B = x.shape[0]!, i = this.modalityIndex(name), N = this.numPatches;
      const keep = intTensor(Int32Array.from({ length: B * N }, (_, t) => i * N + (t % N)), [B, N]);
      const z = this.encode(this.only(x, name), keep);
      return mean(slice(z, 1, 1, N + 1), 1);
    });
  }

  /**
   * Cross-modal prediction: from modality `from` alone (all its patches visible, every other
   * token masked) the prediction of modality `to` as images [B, C_to, H, W] (no gradient).
   */
  predictModality(x: Tensor, from: string, to: string): Tensor {
    return noGrad(() => {
      const i = this.modalityIndex(from), j = this.modalityIndex(to);
      const stacked = this.only(x, from), B = stacked.shape[0]!;
      const m = modalityMask(B, this.numModalities, this.numPatches, [i]);
      const latent = this.encode(stacked, m.keep);
      return unpatchify(this.decoders[j]!.forward(latent, m.keep, m.restore, j, this.decoderPos), this.config.patchSize, this.height, this.width);
    });
  }
}

/**
 * PNG grid: one row per sample, for every modality three tiles [masked input | reconstruction |
 * original] (first channel, clamped to [0, 1]), 1-pixel gray borders. Reconstruction = visible
 * patches from the input, masked ones predicted.
 */
export function multimaeGrid(model: MultiMAE, x: Tensor, m: PatchMask): Uint8Array {
  const imgs = model.images(x);
  const { preds, targets } = noGrad(() => model.forwardMasked(imgs, m));
  const B = imgs.shape[0]!, H = model.height, W = model.width, N = model.numPatches, M = model.numModalities, p = model.config.patchSize;
  const tiles: Float32Array[][] = [];
  for (let j = 0; j < M; j++) {
    const mk = noGrad(() => reshape(slice(m.mask, 1, j * N, (j + 1) * N), [B, N, 1]));
    const keep = noGrad(() => sub(1, mk));
    const u = (t: Tensor) => unpatchify(t, p, H, W).data as Float32Array;
    tiles.push([u(mul(targets[j]!, keep)), u(noGrad(() => add(mul(targets[j]!, keep), mul(preds[j]!, mk)))), u(targets[j]!)]);
  }
  const cols = 3 * M, GW = cols * (W + 1) + 1, GH = B * (H + 1) + 1;
  const data = new Uint8Array(GW * GH).fill(128);
  for (let b = 0; b < B; b++) for (let j = 0; j < M; j++) for (let t = 0; t < 3; t++) {
    const src = tiles[j]![t]!, C = model.channels[j]!;
    for (let i = 0; i < H; i++) for (let k = 0; k < W; k++) {
      const v = src[(b * C * H + i) * W + k]!;
      data[(1 + b * (H + 1) + i) * GW + 1 + (j * 3 + t) * (W + 1) + k] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return encodePng({ width: GW, height: GH, channels: 1, data });
}

/** What `aelab train multimae` sets (MAE's options plus the pseudo-label modalities). */
export interface MultiMAERunOptions extends MAERunOptions {
  /** Pseudo-label modalities added to the pixels (default edges, foreground, depth). */
  modalities?: string[] | null;
}

/**
 * The training set ([n, (C + M − 1)·H·W] rows: the pixels, then one map per pseudo-label computed
 * from the channel mean) and config of a run. The visible budget is MAE's at the same mask ratio:
 * K = ⌊N (1 − r)⌋ tokens over all modalities.
 */
export function multimaeRunSetup(o: MultiMAERunOptions): { data: { x: Float32Array; n: number; sampleShape: number[]; y?: Int32Array }; config: MultiMAEConfig } {
  const names = o.modalities ?? [...PSEUDO_LABELS];
  for (const nm of names) if (!PSEUDO_LABELS.includes(nm as PseudoLabel)) throw new DataError(`--modalities: unknown pseudo-label '${nm}' (one of ${PSEUDO_LABELS.join(', ')})`);
  if (new Set(names).size !== names.length) throw new DataError(`--modalities: '${names.join(',')}' lists a modality twice`);
  const r = maeRunSetup({ ...o, mask: 'random' });
  const c = r.config, [H, W] = imageHW(c.imageSize), C = c.channels ?? 1, n = r.data.n, HW = H * W;
  const gray = new Float32Array(n * HW);
  for (let s = 0; s < n; s++) for (let ch = 0; ch < C; ch++) for (let i = 0; i < HW; i++) gray[s * HW + i] += r.data.x[(s * C + ch) * HW + i]! / C;
  const maps = names.map((nm) => pseudoLabel(nm as PseudoLabel, gray, n, H, W));
  const per = (C + names.length) * HW, x = new Float32Array(n * per);
  for (let s = 0; s < n; s++) {
    x.set(r.data.x.subarray(s * C * HW, (s + 1) * C * HW), s * per);
    maps.forEach((mp, j) => x.set(mp.subarray(s * HW, (s + 1) * HW), s * per + (C + j) * HW));
  }
  const N = (H / c.patchSize) * (W / c.patchSize);
  const config: MultiMAEConfig = {
    imageSize: [H, W], patchSize: c.patchSize, modalities: [{ name: 'pixels', channels: C }, ...names.map((nm) => ({ name: nm, channels: 1 }))],
    dim: c.dim, depth: c.depth, heads: c.heads, decoderDim: c.decoderDim, decoderDepth: c.decoderDepth, decoderHeads: c.decoderHeads,
    visibleTokens: keepCount(N, c.maskRatio ?? 0.75, 'MultiMAE: mask ratio'), alpha: 1, seed: c.seed,
  };
  checkMultiMAEConfig(config);
  return { data: { x, n, sampleShape: [per], y: r.data.y }, config };
}

/** The PNG grid of the first `count` training samples under a fresh multi-modal mask from `seed`. */
export function multimaeSampleGrid(model: MultiMAE, data: { x: Float32Array; n: number }, count = 8, seed = 0): Uint8Array {
  const B = Math.min(count, data.n), per = model.channels.reduce((a, b) => a + b, 0) * model.height * model.width;
  return multimaeGrid(model, fromBuffer(data.x.slice(0, B * per), [B, per]), model.drawMask(B, new Generator(seed)));
}
