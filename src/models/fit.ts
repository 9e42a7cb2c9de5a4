/**
 * FIT: Far-reaching Interleaved Transformers (Chen & Li 2023), as a sequence classifier, and the
 * full-attention transformer it is compared with.
 *
 * A sequence of L data tokens x [B, L, D] is cut into G = L / S groups of S consecutive tokens;
 * each group g owns M learnable latent tokens z_g [M, D] (G·M latents in all, M ≪ S). One FIT
 * block is
 *
 *   local:  x_g ← TransformerBlock(x_g)                       self-attention within group g  [B·G, S, D]
 *   read:   z_g ← z_g + CrossAttn(q = z_g, kv = x_g) + MLP    latents of g read their group  [B·G, M, D]
 *   global: z   ← TransformerBlock(z)                         self-attention over all latents [B, G·M, D]
 *   write:  x_g ← x_g + CrossAttn(q = x_g, kv = z_g) + MLP    data tokens read their latents [B·G, S, D]
 *
 * (`localLayers` local and `globalLayers` global TransformerBlocks per block; `blocks` FIT blocks
 * interleaved.) The only path between groups is the global layers over the latents: local,
 * read and write are block-diagonal by construction (they run on [B·G, ·, D], the groups as
 * batch rows), which test/models/fit.test.ts checks against a full-length TransformerBlock with a
 * block-diagonal attention mask.
 *
 * Attention cost per block (score-matrix entries per head per sample): local L·S, read and write
 * L·M each, global (G·M)² — against L² for full attention. With S fixed this is linear in L up to
 * the (G·M)² = (L·M/S)² term, which stays small while M/S is.
 *
 * Classifier: data tokens = Linear(tokenDim → D)(x) + fixed 1-D sin-cos positions; the latents
 * start from a learned table [G·M, D]; after the last block a LayerNorm, the mean over the data
 * tokens and a Linear head give logits [B, classes]. `FullAttentionClassifier` is the baseline:
 * the same embedding, positions, norm and head around `depth` full-length TransformerBlocks.
 */
import { Generator } from '../core/random.js';
import { type Tensor, empty, fromBuffer, noGrad, scope, shapeStr } from '../core/tensor.js';
import { add } from '../core/ops/elementwise.js';
import { argmax, mean } from '../core/ops/reduce.js';
import { crossEntropy } from '../core/ops/loss.js';
import { expand, reshape } from '../core/ops/shape.js';
import { Module, param } from '../nn/module.js';
import { normal_ } from '../nn/init.js';
import { ActivationLayer, LayerNorm, Linear, Sequential } from '../nn/layers.js';
import { MultiHeadAttention, TransformerBlock } from '../nn/attention.js';
import { train, type Batch, type StepContext, type StepOutput, type Trainable } from '../train/fit.js';
import { loadMnist } from '../data/mnist.js';
import { sincosPosEmbed1d } from './videomae.js';

export interface FitConfig {
  /** Data tokens per sequence L (a multiple of groupSize). */
  seqLen: number;
  /** Features per data token (1 for a scalar series or a pixel sequence). */
  tokenDim: number;
  /** Width D (a multiple of 4 and of heads). */
  dim: number;
  heads: number;
  /** Tokens per group S. */
  groupSize: number;
  /** Latent tokens per group M. */
  latentsPerGroup: number;
  /** FIT blocks (local → read → global → write). */
  blocks: number;
  /** TransformerBlocks per block on the data tokens within each group (default 1). */
  localLayers?: number;
  /** TransformerBlocks per block on all latents (default 1). */
  globalLayers?: number;
  classes: number;
  /** MLP width as a multiple of D (default 2). */
  mlpRatio?: number;
  seed?: number;
}

/**
 * Pre-LN cross-attention block: q ← q + Attn(ln_q(q), ln_kv(kv)); q ← q + MLP(ln2(q)).
 * q [N, T, D], kv [N, S, D] -> [N, T, D]. Used for FIT's read (latents ← data) and write (data ← latents).
 */
export class FitCrossAttention extends Module {
  ln_q: LayerNorm;
  ln_kv: LayerNorm;
  attn: MultiHeadAttention;
  ln2: LayerNorm;
  mlp: Sequential;

  constructor(dim: number, heads: number, gen: Generator, mlpRatio = 2) {
    super();
    this.ln_q = new LayerNorm(dim);
    this.ln_kv = new LayerNorm(dim);
    this.attn = new MultiHeadAttention(dim, heads, gen);
    this.ln2 = new LayerNorm(dim);
    this.mlp = new Sequential(new Linear(dim, Math.round(dim * mlpRatio), gen), new ActivationLayer('gelu'), new Linear(Math.round(dim * mlpRatio), dim, gen));
  }

  forward(q: Tensor, kv: Tensor): Tensor {
    const k = this.ln_kv.forward(kv);
    const h = add(q, this.attn.forward(this.ln_q.forward(q), { key: k, value: k }));
    return add(h, this.mlp.forward(this.ln2.forward(h)));
  }
}

/** One FIT block; shapes in the file comment. The four stages are public so tests can probe each. */
export class FitBlock extends Module {
  local: TransformerBlock[];
  read: FitCrossAttention;
  global: TransformerBlock[];
  write: FitCrossAttention;

  constructor(dim: number, heads: number, localLayers: number, globalLayers: number, mlpRatio: number, gen: Generator) {
    super();
    this.local = Array.from({ length: localLayers }, () => new TransformerBlock(dim, heads, gen, { mlpRatio }));
    this.read = new FitCrossAttention(dim, heads, gen, mlpRatio);
    this.global = Array.from({ length: globalLayers }, () => new TransformerBlock(dim, heads, gen, { mlpRatio }));
    this.write = new FitCrossAttention(dim, heads, gen, mlpRatio);
  }

  /** Local layers: grouped data tokens [B·G, S, D] -> [B·G, S, D] (groups are batch rows: no cross-group attention). */
  localStage(x: Tensor): Tensor {
    for (const l of this.local) x = l.forward(x);
    return x;
  }

  /** Global layers: latents [B·G, M, D] -> all groups' latents attend to each other as [B, G·M, D] -> [B·G, M, D]. */
  globalStage(z: Tensor, B: number): Tensor {
    const [BG, M, D] = z.shape as [number, number, number];
    let zz = reshape(z, [B, (BG / B) * M, D]);
    for (const l of this.global) zz = l.forward(zz);
    return reshape(zz, [BG, M, D]);
  }

  /** x [B·G, S, D], z [B·G, M, D] -> updated (x, z). */
  forward(x: Tensor, z: Tensor, B: number): { x: Tensor; z: Tensor } {
    x = this.localStage(x);
    z = this.read.forward(z, x);
    z = this.globalStage(z, B);
    x = this.write.forward(x, z);
    return { x, z };
  }
}

function checkTokens(x: Tensor, L: number, C: number, who: string): Tensor {
  if (x.rank === 2 && x.shape[1] === L * C) return reshape(x, [x.shape[0]!, L, C]);
  if (x.rank === 3 && x.shape[1] === L && x.shape[2] === C) return x;
  throw new Error(`${who}: input must be [B, ${L}, ${C}] (or flat rows [B, ${L * C}]), got ${shapeStr(x.shape)}`);
}

function stepOutput(logits: Tensor, y: Tensor | undefined, who: string): StepOutput {
  if (!y) throw new Error(`${who}.trainStep: the dataset needs labels`);
  const loss = crossEntropy(logits, y);
  const pred = argmax(logits, 1).data, yy = y.data;
  let correct = 0;
  for (let i = 0; i < yy.length; i++) if (pred[i] === yy[i]) correct++;
  return { loss, metrics: { acc: correct / yy.length } };
}

export class FitClassifier extends Module implements Trainable {
  embed: Linear;
  latents: Tensor;
  blocks: FitBlock[];
  norm: LayerNorm;
  head: Linear;
  readonly pos: Tensor;
  readonly groups: number;

  constructor(readonly config: FitConfig) {
    super();
    const c = config;
    for (const [k, v] of [['seqLen', c.seqLen], ['tokenDim', c.tokenDim], ['dim', c.dim], ['heads', c.heads], ['groupSize', c.groupSize], ['latentsPerGroup', c.latentsPerGroup], ['blocks', c.blocks], ['classes', c.classes]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`FitClassifier: ${k} must be a positive integer, got ${v}`);
    }
    if (c.seqLen % c.groupSize !== 0) throw new Error(`FitClassifier: groupSize ${c.groupSize} does not divide seqLen ${c.seqLen}`);
    const gen = new Generator(c.seed ?? 0);
    this.groups = c.seqLen / c.groupSize;
    this.embed = new Linear(c.tokenDim, c.dim, gen);
    this.latents = param(normal_(empty([this.groups * c.latentsPerGroup, c.dim]), gen, 0, 0.02));
    const mr = c.mlpRatio ?? 2;
    this.blocks = Array.from({ length: c.blocks }, () => new FitBlock(c.dim, c.heads, c.localLayers ?? 1, c.globalLayers ?? 1, mr, gen));
    this.norm = new LayerNorm(c.dim);
    this.head = new Linear(c.dim, c.classes, gen);
    this.pos = sincosPosEmbed1d(c.dim, c.seqLen);
  }

  /** Embedded data tokens [B, L, D] and initial latents, grouped: x [B·G, S, D], z [B·G, M, D]. */
  embedGrouped(input: Tensor): { x: Tensor; z: Tensor; B: number } {
    const c = this.config, G = this.groups, M = c.latentsPerGroup;
    const t = checkTokens(input, c.seqLen, c.tokenDim, 'FitClassifier');
    const B = t.shape[0]!;
    const x = reshape(add(this.embed.forward(t), this.pos), [B * G, c.groupSize, c.dim]);
    const z = reshape(expand(reshape(this.latents, [1, G * M, c.dim]), [B, G * M, c.dim]), [B * G, M, c.dim]);
    return { x, z, B };
  }

  /** The data tokens after the last block: [B, L, tokenDim] -> [B, L, D]. */
  tokens(input: Tensor): Tensor {
    let { x, z, B } = this.embedGrouped(input);
    for (const b of this.blocks) ({ x, z } = b.forward(x, z, B));
    return reshape(x, [B, this.config.seqLen, this.config.dim]);
  }

  /** Sequences [B, L, tokenDim] (or [B, L·tokenDim]) -> logits [B, classes]. */
  forward(input: Tensor): Tensor {
    return this.head.forward(mean(this.norm.forward(this.tokens(input)), 1));
  }

  trainStep(batch: Batch, _ctx: StepContext): StepOutput {
    return stepOutput(this.forward(batch.x), batch.y, 'FitClassifier');
  }

  /** Attention score-matrix entries per sample per head, summed over layers (the quadratic memory term). */
  attentionEntries(): number {
    const c = this.config, L = c.seqLen, S = c.groupSize, M = c.latentsPerGroup, GM = this.groups * M;
    return c.blocks * ((c.localLayers ?? 1) * L * S + 2 * L * M + (c.globalLayers ?? 1) * GM * GM);
  }
}

export interface FullAttentionConfig {
  seqLen: number;
  tokenDim: number;
  dim: number;
  heads: number;
  depth: number;
  classes: number;
  mlpRatio?: number;
  seed?: number;
}

/** The baseline: embedding + positions, `depth` full-length pre-LN TransformerBlocks, LayerNorm, token mean, head. */
export class FullAttentionClassifier extends Module implements Trainable {
  embed: Linear;
  blocks: TransformerBlock[];
  norm: LayerNorm;
  head: Linear;
  readonly pos: Tensor;

  constructor(readonly config: FullAttentionConfig) {
    super();
    const c = config, gen = new Generator(c.seed ?? 0);
    this.embed = new Linear(c.tokenDim, c.dim, gen);
    this.blocks = Array.from({ length: c.depth }, () => new TransformerBlock(c.dim, c.heads, gen, { mlpRatio: c.mlpRatio ?? 2 }));
    this.norm = new LayerNorm(c.dim);
    this.head = new Linear(c.dim, c.classes, gen);
    this.pos = sincosPosEmbed1d(c.dim, c.seqLen);
  }

  forward(input: Tensor): Tensor {
    let h = add(this.embed.forward(checkTokens(input, this.config.seqLen, this.config.tokenDim, 'FullAttentionClassifier')), this.pos);
    for (const b of this.blocks) h = b.forward(h);
    return this.head.forward(mean(this.norm.forward(h), 1));
  }

  trainStep(batch: Batch, _ctx: StepContext): StepOutput {
    return stepOutput(this.forward(batch.x), batch.y, 'FullAttentionClassifier');
  }

  attentionEntries(): number {
    return this.config.depth * this.config.seqLen ** 2;
  }
}

/** Test accuracy of a sequence classifier on rows x [n, L·tokenDim], in chunks (no gradients). */
export function sequenceAccuracy(model: FitClassifier | FullAttentionClassifier, x: Float32Array, y: Int32Array, n: number, chunk = 200): number {
  const per = x.length / n;
  let correct = 0;
  noGrad(() => {
    for (let s = 0; s < n; s += chunk) {
      const e = Math.min(n, s + chunk);
      const p = argmax(model.forward(fromBuffer(x.slice(s * per, e * per), [e - s, per])), 1).data;
      for (let i = 0; i < e - s; i++) if (p[i] === y[s + i]) correct++;
    }
  });
  return correct / n;
}

// ---- FIT vs full attention (`aelab experiment methods --only fit`, bench/methods.ts) ----------------

export interface FitComparisonOptions {
  trainCount: number;
  testCount: number;
  steps: number;
  batchSize: number;
  lr: number;
  /** MNIST pixels per data token (the 784-pixel image as a 1-D sequence of 784 / p tokens). */
  pixelsPerToken: number;
  dim: number;
  heads: number;
  groupSize: number;
  latentsPerGroup: number;
  blocks: number;
  /** Sequence lengths for the time-per-step scaling (multiples of scalingGroupSize). */
  scalingLengths: number[];
  scalingGroupSize: number;
  scalingBatch: number;
  seed: number;
}

export const FIT_BUDGETS: Record<'tiny' | 'quick', Omit<FitComparisonOptions, 'seed'>> = {
  tiny: { trainCount: 1000, testCount: 200, steps: 60, batchSize: 16, lr: 3e-3, pixelsPerToken: 28, dim: 16, heads: 2, groupSize: 4, latentsPerGroup: 2, blocks: 1, scalingLengths: [64, 256], scalingGroupSize: 32, scalingBatch: 1 },
  quick: { trainCount: 8000, testCount: 2000, steps: 400, batchSize: 32, lr: 2e-3, pixelsPerToken: 14, dim: 32, heads: 2, groupSize: 4, latentsPerGroup: 2, blocks: 2, scalingLengths: [256, 1024, 4096], scalingGroupSize: 64, scalingBatch: 1 },
};

/** The full-attention baseline's depth with about FIT's parameter count (read and write are block-sized). */
export function matchedDepth(c: Pick<FitConfig, 'blocks' | 'localLayers' | 'globalLayers'>): number {
  return c.blocks * ((c.localLayers ?? 1) + (c.globalLayers ?? 1) + 2);
}

/**
 * Median seconds of one training step's forward + backward (no optimiser) for each model on a batch
 * of b random sequences, the models interleaved within each round so machine load hits them alike.
 */
export function stepSeconds(models: (FitClassifier | FullAttentionClassifier)[], b: number, reps: number | number[], seed = 0): number[] {
  const c = models[0]!.config, per = c.seqLen * c.tokenDim, g = new Generator(seed);
  const x = fromBuffer(g.normal(new Float32Array(b * per)), [b, c.seqLen, c.tokenDim]);
  const y = fromBuffer(Int32Array.from({ length: b }, (_, i) => i % c.classes), [b]);
  const ts = models.map(() => [] as number[]);
  const once = (m: FitClassifier | FullAttentionClassifier) => scope(() => {
    m.zeroGrad();
    crossEntropy(m.forward(x), y).backward();
  });
  const n = models.map((_, k) => (typeof reps === 'number' ? reps : reps[k]!));
  for (const m of models) once(m);
  for (let r = 0; r < Math.max(...n); r++) {
    models.forEach((m, k) => {
      if (r >= n[k]!) return;
      const t0 = performance.now();
      once(m);
      ts[k]!.push((performance.now() - t0) / 1000);
    });
  }
  return ts.map((t) => { t.sort((a, c2) => a - c2); return t[Math.floor(t.length / 2)]!; });
}

export interface FitScalingPoint {
  length: number;
  fitSeconds: number;
  fullSeconds: number;
  speedup: number;
  /** Attention score entries per sample per head (all layers): the quadratic memory term. */
  fitAttentionEntries: number;
  fullAttentionEntries: number;
}

/** Time per training step (forward + backward) of FIT and full attention at each length; untrained weights. */
export function fitScaling(o: Pick<FitComparisonOptions, 'scalingLengths' | 'scalingGroupSize' | 'scalingBatch' | 'dim' | 'heads' | 'latentsPerGroup' | 'blocks' | 'seed'>): FitScalingPoint[] {
  return o.scalingLengths.map((L) => {
    const fc: FitConfig = { seqLen: L, tokenDim: 1, dim: o.dim, heads: o.heads, groupSize: o.scalingGroupSize, latentsPerGroup: o.latentsPerGroup, blocks: o.blocks, classes: 10, seed: o.seed };
    const fit = new FitClassifier(fc);
    const full = new FullAttentionClassifier({ seqLen: L, tokenDim: 1, dim: o.dim, heads: o.heads, depth: matchedDepth(fc), classes: 10, seed: o.seed });
    // The full model's long steps are timed fewer times (seconds each at L = 4096); FIT's always 5.
    const [fitSeconds, fullSeconds] = stepSeconds([fit, full], o.scalingBatch, [5, L >= 4096 ? 1 : L >= 1024 ? 3 : 5], o.seed) as [number, number];
    return { length: L, fitSeconds, fullSeconds, speedup: fullSeconds / fitSeconds, fitAttentionEntries: fit.attentionEntries(), fullAttentionEntries: full.attentionEntries() };
  });
}

export interface FitComparison {
  options: FitComparisonOptions;
  fit: { params: number; testAccuracy: number; trainSeconds: number };
  full: { params: number; depth: number; testAccuracy: number; trainSeconds: number };
  scaling: FitScalingPoint[];
}

/** Trains FIT and the parameter-matched full-attention transformer on MNIST as a pixel sequence; accuracy, then the scaling. */
export function runFitComparison(o: FitComparisonOptions): FitComparison {
  const { train: tr, test: te } = loadMnist({ trainCount: o.trainCount, testCount: o.testCount, seed: o.seed });
  if (784 % o.pixelsPerToken !== 0) throw new Error(`FIT comparison: pixelsPerToken ${o.pixelsPerToken} does not divide 784`);
  const L = 784 / o.pixelsPerToken;
  const fc: FitConfig = { seqLen: L, tokenDim: o.pixelsPerToken, dim: o.dim, heads: o.heads, groupSize: o.groupSize, latentsPerGroup: o.latentsPerGroup, blocks: o.blocks, classes: 10, seed: o.seed + 1 };
  const depth = matchedDepth(fc);
  const data = { x: tr.x, y: tr.y, n: tr.n, sampleShape: [L, o.pixelsPerToken] };
  const fitOne = (model: FitClassifier | FullAttentionClassifier) => {
    const t0 = performance.now();
    train(model, data, { steps: o.steps, batchSize: o.batchSize, lr: o.lr, optimizer: 'adamw', weightDecay: 0.05, clipNorm: 1, seed: o.seed });
    const trainSeconds = (performance.now() - t0) / 1000;
    model.eval();
    return { params: model.numParameters(), testAccuracy: sequenceAccuracy(model, te.x, te.y, te.n), trainSeconds };
  };
  const fit = fitOne(new FitClassifier(fc));
  const full = { ...fitOne(new FullAttentionClassifier({ seqLen: L, tokenDim: o.pixelsPerToken, dim: o.dim, heads: o.heads, depth, classes: 10, seed: o.seed + 1 })), depth };
  return { options: o, fit, full, scaling: fitScaling(o) };
}

/** The `aelab experiment methods` row for FIT (structurally a MethodRow of src/tasks/experiments/methods.ts). */
export function fitMethodRow(budget: 'tiny' | 'quick', seed: number) {
  const r = runFitComparison({ ...FIT_BUDGETS[budget], seed });
  const o = r.options, pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const last = r.scaling[r.scaling.length - 1]!;
  const scal = r.scaling.map((s) => `L=${s.length}: ${(s.fitSeconds * 1000).toFixed(0)} vs ${(s.fullSeconds * 1000).toFixed(0)} ms`).join(', ');
  return {
    method: 'FIT',
    claim: `grouped local attention + a few latents per group keep accuracy and scale ~linearly in length vs full attention at equal params (MNIST as ${784 / o.pixelsPerToken} tokens of ${o.pixelsPerToken} px, ${o.steps} steps; step time at L=${o.scalingLengths.join('/')})`,
    baseline: `full attention, depth ${r.full.depth}: ${pct(r.full.testAccuracy)} (${r.full.params} params, train ${r.full.trainSeconds.toFixed(0)} s)`,
    ours: `${pct(r.fit.testAccuracy)} (${r.fit.params} params, train ${r.fit.trainSeconds.toFixed(0)} s); step FIT vs full ${scal}; ×${last.speedup.toFixed(1)} at L=${last.length}, attention entries ×${(last.fullAttentionEntries / last.fitAttentionEntries).toFixed(0)} fewer`,
    // Held: accuracy within 2 points of full attention and faster at the longest length.
    held: r.fit.testAccuracy >= r.full.testAccuracy - 0.02 && last.speedup > 1,
    command: `aelab experiment methods --budget ${budget} --only fit${seed !== 0 ? ` --seed ${seed}` : ''}`,
    numbers: {
      fitTestAccuracy: r.fit.testAccuracy, fullTestAccuracy: r.full.testAccuracy, fitParams: r.fit.params, fullParams: r.full.params,
      fitTrainSeconds: r.fit.trainSeconds, fullTrainSeconds: r.full.trainSeconds,
      ...Object.fromEntries(r.scaling.flatMap((s) => [[`fitStepSecondsL${s.length}`, s.fitSeconds], [`fullStepSecondsL${s.length}`, s.fullSeconds], [`speedupL${s.length}`, s.speedup]])),
      speedupLongest: last.speedup, longestLength: last.length, attentionEntriesRatioLongest: last.fullAttentionEntries / last.fitAttentionEntries,
    },
  };
}
