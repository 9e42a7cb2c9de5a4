/**
 * ECO-M2F: a transformer encoder that picks its own depth per input ("Efficient Transformer
 * Encoders for Mask2Former-style models", Yao, Aich, Suh, Roy-Chowdhury, Shelton & Chandraker 2024),
 * at small scale: semantic segmentation of multi-digit MNIST scenes (src/data/digit-scenes.ts).
 *
 * Network (one decoder shared by every exit, as in the paper):
 *   tokens  h_0 = PatchEmbed(x) + sin-cos positions         [B, 1, S, S] -> [B, N, D], N = (S/p)²
 *   encoder h_k = TransformerBlock_k(h_{k-1}), k = 1..K      (exit after any k)
 *   decoder logits_k = unpatchify(Linear(LN(h_k)))           [B, N, p²·C] -> per pixel [B·S², C]
 *   gate    g(x) = MLP([mean_n h_1, max_n h_1]) -> K logits  (early features: the output of the
 *           first encoder layer, which every depth runs anyway); depth = 1 + argmax g(x)
 *
 * The three-step recipe:
 *   (a) weighted stochastic depth: each step draws an exit k ~ U{1..K} and minimises
 *       α_k · CE(logits_k, mask), α_k = 2k/(K+1) (grows with depth, mean 1), so every depth gives
 *       a usable segmentation and deeper exits weigh more.
 *   (b) derived dataset: for every training scene i and depth k, the quality q_k^(i) (the scene's
 *       mIoU over the classes present in its mask or prediction); target depth
 *       k*(i) = argmax_k u(k), u(k) = q_k^(i) − β·k/K (the paper's utility q_k − βk with the
 *       compute term as a fraction of the encoder; ties go to the shallower depth).
 *   (c) the gate is trained with cross-entropy to predict k*(i) from h_1, the encoder and decoder
 *       frozen.
 * Inference: block 1 → gate → run blocks 2..depth(x) for each image (exactly depth(x) blocks in
 * all) → shared decoder.
 */
import { Generator } from '../core/random.js';
import { type Tensor, fromBuffer, noGrad, scope } from '../core/tensor.js';
import { add, scale } from '../core/ops/elementwise.js';
import { argmax, max, mean } from '../core/ops/reduce.js';
import { crossEntropy } from '../core/ops/loss.js';
import { concat, permute, reshape } from '../core/ops/shape.js';
import { Module } from '../nn/module.js';
import { ActivationLayer, LayerNorm, Linear, Sequential } from '../nn/layers.js';
import { TransformerBlock } from '../nn/attention.js';
import { PatchEmbed, sincosPosEmbed2d, unpatchify } from '../nn/vit.js';
import { Adam } from '../optim/adam.js';
import { loadMnist } from '../data/mnist.js';
import { generateDigitScenes, type DigitScenes } from '../data/digit-scenes.js';

export interface EcoM2FConfig {
  /** Square image side S (a multiple of patchSize). */
  imageSize: number;
  patchSize: number;
  /** Token width D (a multiple of 4 and of heads). */
  dim: number;
  /** Encoder layers K (the largest depth). */
  depth: number;
  heads: number;
  /** Pixel classes C (digit scenes: 11). */
  classes: number;
  mlpRatio?: number;
  /** Gate MLP hidden width (default 32). */
  gateHidden?: number;
}

export class EcoM2F extends Module {
  patch_embed: PatchEmbed;
  blocks: TransformerBlock[];
  norm: LayerNorm;
  head: Linear;
  gate: Sequential;
  readonly posEmbed: Tensor;
  /** Encoder block executions summed over images (one image through one block = 1). */
  layerCalls = 0;

  constructor(readonly config: EcoM2FConfig, gen: Generator) {
    super();
    const { imageSize: S, patchSize: p, dim: D, depth: K, classes: C } = config;
    if (!Number.isInteger(K) || K < 1) throw new Error(`EcoM2F: depth must be an integer >= 1, got ${K}`);
    if (!Number.isInteger(C) || C < 2) throw new Error(`EcoM2F: classes must be an integer >= 2, got ${C}`);
    this.patch_embed = new PatchEmbed(S, S, 1, p, D, gen);
    this.blocks = Array.from({ length: K }, () => new TransformerBlock(D, config.heads, gen, { mlpRatio: config.mlpRatio ?? 2 }));
    this.norm = new LayerNorm(D);
    this.head = new Linear(D, p * p * C, gen);
    const gh = config.gateHidden ?? 32;
    this.gate = new Sequential(new Linear(2 * D, gh, gen), new ActivationLayer('relu'), new Linear(gh, K, gen));
    this.posEmbed = sincosPosEmbed2d(D, this.patch_embed.grid.h, this.patch_embed.grid.w);
  }

  /** Images [B, 1, S, S] or rows [B, S²] -> tokens h_0 [B, N, D]. */
  embed(x: Tensor): Tensor {
    const S = this.config.imageSize;
    const img = x.rank === 2 && x.shape[1] === S * S ? reshape(x, [x.shape[0]!, 1, S, S]) : x;
    return add(this.patch_embed.forward(img), this.posEmbed);
  }

  /** Blocks from..to-1 (0-based) on h [B, N, D]; counts B·(to − from) layer calls. */
  runBlocks(h: Tensor, from: number, to: number): Tensor {
    for (let k = from; k < to; k++) { h = this.blocks[k]!.forward(h); this.layerCalls += h.shape[0]!; }
    return h;
  }

  /** The shared decoder: h [B, N, D] -> per-pixel logits [B·S², C] (pixels row-major per image). */
  decode(h: Tensor): Tensor {
    const { imageSize: S, patchSize: p, classes: C } = this.config;
    const img = unpatchify(this.head.forward(this.norm.forward(h)), p, S, S);
    return reshape(permute(img, [0, 2, 3, 1]), [h.shape[0]! * S * S, C]);
  }

  /** Fixed depth k (1..K): x -> per-pixel logits [B·S², C]. */
  forward(x: Tensor, depth = this.config.depth): Tensor {
    this.checkDepth(depth);
    return this.decode(this.runBlocks(this.embed(x), 0, depth));
  }

  /** Logits at every exit 1..K from one pass through the K blocks (the derived dataset's input). */
  exitLogits(x: Tensor): Tensor[] {
    let h = this.embed(x);
    const out: Tensor[] = [];
    for (let k = 0; k < this.config.depth; k++) { h = this.runBlocks(h, k, k + 1); out.push(this.decode(h)); }
    return out;
  }

  /** Gate logits [B, K] from the first layer's tokens h_1 [B, N, D]. */
  gateLogits(h1: Tensor): Tensor {
    return this.gate.forward(concat([mean(h1, 1), max(h1, 1)], 1));
  }

  /** The gate's input h_1 = block_1(h_0) [B, N, D] (counts one layer call per image). */
  gateFeatures(x: Tensor): Tensor {
    return this.runBlocks(this.embed(x), 0, 1);
  }

  /**
   * Gated inference: block 1 runs for every image, the gate picks depth d_i ∈ 1..K from h_1, then
   * image i runs blocks 2..d_i (images grouped by depth; d_i blocks in all) and the shared decoder.
   * Returns the depths [B] and per-pixel labels [B·S²].
   */
  segmentGated(x: Tensor): { depths: Int32Array; labels: Int32Array } {
    return noGrad(() => {
      const h1 = this.gateFeatures(x);
      const [B, N, D] = h1.shape as [number, number, number];
      const pick = argmax(this.gateLogits(h1), 1).data;
      const depths = Int32Array.from(pick, (v) => v + 1);
      const SS = this.config.imageSize ** 2, labels = new Int32Array(B * SS), hd = h1.data as Float32Array;
      for (let k = 1; k <= this.config.depth; k++) {
        const rows: number[] = [];
        for (let i = 0; i < B; i++) if (depths[i] === k) rows.push(i);
        if (rows.length === 0) continue;
        const sub = new Float32Array(rows.length * N * D);
        rows.forEach((r, j) => sub.set(hd.subarray(r * N * D, (r + 1) * N * D), j * N * D));
        const lab = argmax(this.decode(this.runBlocks(fromBuffer(sub, [rows.length, N, D]), 1, k)), 1).data;
        rows.forEach((r, j) => labels.set(lab.subarray(j * SS, (j + 1) * SS), r * SS));
      }
      return { depths, labels };
    });
  }

  /** Per-pixel labels [B·S²] at a fixed depth. */
  segment(x: Tensor, depth = this.config.depth): Int32Array {
    return noGrad(() => argmax(this.forward(x, depth), 1).data as Int32Array);
  }

  private checkDepth(k: number): void {
    if (!Number.isInteger(k) || k < 1 || k > this.config.depth) throw new Error(`EcoM2F: depth must be an integer in 1..${this.config.depth}, got ${k}`);
  }
}

// ---- the recipe ----------------------------------------------------------------------------------

/** Exit weight α_k = 2k/(K+1): grows with depth, averages 1 over k ~ U{1..K}. */
export function exitWeight(k: number, K: number): number {
  return (2 * k) / (K + 1);
}

export interface EcoTrainOptions { steps: number; batchSize: number; lr: number; seed: number }

function batchOf(scenes: DigitScenes, idx: Int32Array): { x: Tensor; y: Tensor } {
  const SS = scenes.side * scenes.side, x = new Float32Array(idx.length * SS), y = new Int32Array(idx.length * SS);
  idx.forEach((r, j) => { x.set(scenes.x.subarray(r * SS, (r + 1) * SS), j * SS); y.set(scenes.masks.subarray(r * SS, (r + 1) * SS), j * SS); });
  return { x: fromBuffer(x, [idx.length, 1, scenes.side, scenes.side]), y: fromBuffer(y, [idx.length * SS]) };
}

/** Shuffled mini-batch indices, epoch after epoch (seeded). */
function* batches(n: number, b: number, gen: Generator): IterableIterator<Int32Array> {
  for (;;) {
    const perm = gen.permutation(n);
    for (let s = 0; s < n; s += b) yield perm.subarray(s, Math.min(n, s + b));
  }
}

/** Step (a): weighted stochastic depth, one random exit per step. Returns the last 20 steps' mean loss and the exits drawn. */
export function trainStochasticDepth(model: EcoM2F, scenes: DigitScenes, o: EcoTrainOptions): { loss: number; exitCounts: number[] } {
  const K = model.config.depth, gen = new Generator(o.seed), it = batches(scenes.n, o.batchSize, gen.split(1));
  const params = model.parameters().filter((p) => !model.gate.parameters().includes(p));
  const opt = new Adam(params, { lr: o.lr });
  const exitCounts = new Array<number>(K).fill(0), tail: number[] = [];
  model.train();
  for (let step = 0; step < o.steps; step++) {
    const k = 1 + gen.randint(K);
    exitCounts[k - 1]!++;
    const l = scope(() => {
      opt.zeroGrad();
      const { x, y } = batchOf(scenes, it.next().value as Int32Array);
      const loss = scale(crossEntropy(model.forward(x, k), y), exitWeight(k, K));
      loss.backward();
      opt.step();
      return loss.item() / exitWeight(k, K);
    });
    tail.push(l);
    if (tail.length > 20) tail.shift();
  }
  return { loss: tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length), exitCounts };
}

/** Mean over the classes present (union > 0) of IoU_c = |pred = c ∧ truth = c| / |pred = c ∨ truth = c|; pred, truth [P]. */
export function meanIoU(pred: Int32Array, truth: Int32Array, classes: number): number {
  if (pred.length !== truth.length) throw new Error(`meanIoU: ${pred.length} predicted labels for ${truth.length} true ones`);
  const inter = new Float64Array(classes), uni = new Float64Array(classes);
  for (let p = 0; p < truth.length; p++) {
    const a = pred[p]!, b = truth[p]!;
    if (a === b) { inter[a]++; uni[a]++; } else { uni[a]++; uni[b]++; }
  }
  let s = 0, c = 0;
  for (let k = 0; k < classes; k++) if (uni[k]! > 0) { s += inter[k]! / uni[k]!; c++; }
  return c === 0 ? 1 : s / c;
}

/** Step (b), first half: q[i·K + k−1] = scene i's mIoU at exit k, for every scene and depth. */
export function depthQuality(model: EcoM2F, scenes: DigitScenes, chunk = 100): Float32Array {
  const K = model.config.depth, SS = scenes.side * scenes.side, q = new Float32Array(scenes.n * K);
  model.eval();
  for (let s = 0; s < scenes.n; s += chunk) {
    const idx = Int32Array.from({ length: Math.min(chunk, scenes.n - s) }, (_, j) => s + j);
    scope(() => noGrad(() => {
      const { x } = batchOf(scenes, idx);
      model.exitLogits(x).forEach((lg, k) => {
        const lab = argmax(lg, 1).data as Int32Array;
        idx.forEach((r, j) => { q[r * K + k] = meanIoU(lab.subarray(j * SS, (j + 1) * SS), scenes.masks.subarray(r * SS, (r + 1) * SS), scenes.classes); });
      });
    }));
  }
  return q;
}

/**
 * Step (b), second half: target depth per input, k*(i) = argmax_k q_k^(i) − β·k/K (1-based;
 * ties → the shallower depth). β = 0 picks the best depth; larger β trades quality for layers.
 */
export function depthTargets(q: Float32Array, K: number, beta: number): Int32Array {
  const n = q.length / K, t = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity, arg = 1;
    for (let k = 1; k <= K; k++) { const u = q[i * K + k - 1]! - (beta * k) / K; if (u > best + 1e-9) { best = u; arg = k; } }
    t[i] = arg;
  }
  return t;
}

/** Step (c): the gate learns the target depths (cross-entropy) from the frozen first layer's tokens. */
export function trainGate(model: EcoM2F, scenes: DigitScenes, targets: Int32Array, o: EcoTrainOptions): { accuracy: number } {
  const gen = new Generator(o.seed), it = batches(scenes.n, o.batchSize, gen.split(2));
  const opt = new Adam(model.gate.parameters(), { lr: o.lr });
  for (let step = 0; step < o.steps; step++) {
    scope(() => {
      opt.zeroGrad();
      const idx = it.next().value as Int32Array;
      const h1 = noGrad(() => model.gateFeatures(batchOf(scenes, idx).x));
      const y = fromBuffer(Int32Array.from(idx, (r) => targets[r]! - 1), [idx.length]);
      crossEntropy(model.gateLogits(h1), y).backward();
      opt.step();
    });
  }
  let correct = 0;
  scope(() => noGrad(() => {
    for (let s = 0; s < scenes.n; s += 200) {
      const idx = Int32Array.from({ length: Math.min(200, scenes.n - s) }, (_, j) => s + j);
      const p = argmax(model.gateLogits(model.gateFeatures(batchOf(scenes, idx).x)), 1).data;
      idx.forEach((r, j) => { if (p[j]! + 1 === targets[r]) correct++; });
    }
  }));
  return { accuracy: correct / scenes.n };
}

/**
 * Per-image inference latency at batch 1 (how a deployed encoder meets its inputs), for the gated
 * path and every fixed depth 1..K, measured interleaved: each of `rounds` rounds runs every variant
 * over the same n images x [n, S²] one at a time, starting at a different variant each round so no
 * variant always runs first; a variant's latency is its median over rounds of round time / n, in
 * wall-clock ms. Also the depth the gate picked for each image.
 */
export function ecoM2FLatency(model: EcoM2F, x: Float32Array, n: number, rounds = 5): { gatedMs: number; fixedMs: number[]; depths: Int32Array } {
  const S = model.config.imageSize, SS = S * S, K = model.config.depth;
  if (x.length !== n * SS) throw new Error(`ecoM2FLatency: x holds ${x.length} values, expected n·S² = ${n}·${SS}`);
  model.eval();
  const imgs = Array.from({ length: n }, (_, i) => fromBuffer(x.slice(i * SS, (i + 1) * SS), [1, 1, S, S]));
  const depths = new Int32Array(n);
  // Variant 0 is gated, variant k (1..K) is fixed depth k.
  const run = (v: number, i: number) => scope(() => {
    if (v === 0) depths[i] = model.segmentGated(imgs[i]!).depths[0]!;
    else model.segment(imgs[i]!, v);
  });
  const times = Array.from({ length: K + 1 }, () => [] as number[]);
  for (let v = 0; v <= K; v++) for (let i = 0; i < Math.min(n, 5); i++) run(v, i); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j <= K; j++) {
      const v = (r + j) % (K + 1), t0 = performance.now();
      for (let i = 0; i < n; i++) run(v, i);
      times[v]!.push((performance.now() - t0) / n);
    }
  }
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
  return { gatedMs: med(times[0]!), fixedMs: times.slice(1).map(med), depths };
}

// ---- the comparison (`aelab experiment methods --only eco-m2f`) ------------------------------------

export interface EcoM2FComparisonOptions {
  trainScenes: number;
  testScenes: number;
  side: number;
  maxDigits: number;
  noise: number;
  patchSize: number;
  dim: number;
  depth: number;
  heads: number;
  steps: number;
  gateSteps: number;
  batchSize: number;
  lr: number;
  /** Utility trade-off β of step (b). */
  beta: number;
  seed: number;
}

export const ECO_M2F_BUDGETS: Record<'tiny' | 'quick', Omit<EcoM2FComparisonOptions, 'seed'>> = {
  tiny: { trainScenes: 200, testScenes: 100, side: 32, maxDigits: 3, noise: 0.2, patchSize: 4, dim: 32, depth: 3, heads: 2, steps: 40, gateSteps: 40, batchSize: 16, lr: 2e-3, beta: 0.05 },
  quick: { trainScenes: 2000, testScenes: 500, side: 32, maxDigits: 3, noise: 0.2, patchSize: 4, dim: 48, depth: 6, heads: 4, steps: 1000, gateSteps: 400, batchSize: 32, lr: 1.5e-3, beta: 0.05 },
};

export interface EcoM2FComparison {
  options: EcoM2FComparisonOptions;
  /** Test mIoU at each fixed depth 1..K. */
  fixed: { depth: number; mIoU: number }[];
  gated: { mIoU: number; avgLayers: number; depthHistogram: number[]; layerCalls: number };
  /** Depth targets' histogram on the training scenes and the gate's training accuracy on them. */
  targetHistogram: number[];
  gateTrainAccuracy: number;
  /** Test mIoU with each scene at its own best-utility depth (an upper bound for the gate). */
  oracle: { mIoU: number; avgLayers: number };
  /** Median encoder+decoder ms per test image: gated vs full depth, measured interleaved. */
  msPerImageGated: number;
  msPerImageFull: number;
  trainSeconds: number;
}

/** Test-set mIoU over all pixels of all scenes. */
function datasetIoU(labels: Int32Array, scenes: DigitScenes): number {
  return meanIoU(labels, scenes.masks, scenes.classes);
}

export function runEcoM2FComparison(o: EcoM2FComparisonOptions): EcoM2FComparison {
  const { train: tr, test: te } = loadMnist({ trainCount: 8000, testCount: 2000, seed: o.seed });
  const sc = { side: o.side, minDigits: 1, maxDigits: o.maxDigits, noise: o.noise };
  const trainS = generateDigitScenes(tr, { ...sc, n: o.trainScenes, seed: o.seed + 11 });
  const testS = generateDigitScenes(te, { ...sc, n: o.testScenes, seed: o.seed + 12 });
  const K = o.depth;
  const model = new EcoM2F({ imageSize: o.side, patchSize: o.patchSize, dim: o.dim, depth: K, heads: o.heads, classes: trainS.classes }, new Generator(o.seed + 1));
  const t0 = performance.now();
  trainStochasticDepth(model, trainS, { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed });
  const qTrain = depthQuality(model, trainS);
  const targets = depthTargets(qTrain, K, o.beta);
  const gate = trainGate(model, trainS, targets, { steps: o.gateSteps, batchSize: o.batchSize, lr: 3e-3, seed: o.seed + 3 });
  const trainSeconds = (performance.now() - t0) / 1000;
  model.eval();
  const SS = o.side * o.side, all = Int32Array.from({ length: testS.n }, (_, i) => i);
  const chunks: Int32Array[] = [];
  for (let s = 0; s < testS.n; s += 200) chunks.push(all.subarray(s, Math.min(testS.n, s + 200)));
  const fixed = Array.from({ length: K }, (_, k) => {
    const lab = new Int32Array(testS.n * SS);
    for (const c of chunks) scope(() => lab.set(model.segment(batchOf(testS, c).x, k + 1), c[0]! * SS));
    return { depth: k + 1, mIoU: datasetIoU(lab, testS) };
  });
  const lab = new Int32Array(testS.n * SS), hist = new Array<number>(K).fill(0);
  const calls0 = model.layerCalls;
  for (const c of chunks) scope(() => {
    const r = model.segmentGated(batchOf(testS, c).x);
    lab.set(r.labels, c[0]! * SS);
    r.depths.forEach((d) => hist[d - 1]!++);
  });
  const layerCalls = model.layerCalls - calls0;
  const gated = { mIoU: datasetIoU(lab, testS), avgLayers: layerCalls / testS.n, depthHistogram: hist, layerCalls };
  // Oracle: every test scene at its own argmax-utility depth (what a perfect gate would pick).
  const qTest = depthQuality(model, testS), tTest = depthTargets(qTest, K, o.beta);
  const orLab = new Int32Array(testS.n * SS);
  for (let k = 1; k <= K; k++) {
    const rows = all.filter((i) => tTest[i] === k);
    for (let s = 0; s < rows.length; s += 200) scope(() => {
      const c = rows.subarray(s, Math.min(rows.length, s + 200)), l = model.segment(batchOf(testS, c).x, k);
      c.forEach((r, j) => orLab.set(l.subarray(j * SS, (j + 1) * SS), r * SS));
    });
  }
  const oracle = { mIoU: datasetIoU(orLab, testS), avgLayers: tTest.reduce((a, b) => a + b, 0) / testS.n };
  // Latency: the whole test set, gated vs full depth, interleaved rounds, median.
  const timeG: number[] = [], timeF: number[] = [];
  const first = chunks[0]!;
  for (let r = 0; r < 5; r++) scope(() => {
    const x = batchOf(testS, first).x;
    let t = performance.now(); model.segmentGated(x); timeG.push(performance.now() - t);
    t = performance.now(); model.segment(x, K); timeF.push(performance.now() - t);
  });
  const med = (a: number[]) => a.sort((p, q) => p - q)[Math.floor(a.length / 2)]! / first.length;
  const targetHistogram = new Array<number>(K).fill(0);
  targets.forEach((d) => targetHistogram[d - 1]!++);
  return { options: o, fixed, gated, targetHistogram, gateTrainAccuracy: gate.accuracy, oracle, msPerImageGated: med(timeG), msPerImageFull: med(timeF), trainSeconds };
}

/** The `aelab experiment methods` row for ECO-M2F (structurally a MethodRow). */
export function ecoM2FMethodRow(budget: 'tiny' | 'quick', seed: number) {
  const r = runEcoM2FComparison({ ...ECO_M2F_BUDGETS[budget], seed });
  const o = r.options, K = o.depth, full = r.fixed[K - 1]!;
  const pc = (v: number) => `${(v * 100).toFixed(1)}%`;
  // The fixed depth with (at most) the gated model's average compute, for the same-cost comparison.
  const same = r.fixed[Math.max(0, Math.floor(r.gated.avgLayers + 1e-9) - 1)]!;
  // Undecidable (null) when depth does not matter at this budget: full depth within 0.5 point of one layer.
  const depthMatters = full.mIoU - r.fixed[0]!.mIoU >= 0.005;
  const held = depthMatters ? r.gated.mIoU >= full.mIoU - 0.01 && r.gated.avgLayers < K : null;
  return {
    method: 'ECO-M2F',
    claim: `a gate on early features picks the encoder depth per input: full-depth mIoU at fewer average layers (digit scenes ${o.side}×${o.side}, ≤${o.maxDigits} digits, K=${K}, β=${o.beta})`,
    baseline: `fixed depths: ${r.fixed.map((f) => `${f.depth}L ${pc(f.mIoU)}`).join(', ')}`,
    ours: `gated ${pc(r.gated.mIoU)} at ${r.gated.avgLayers.toFixed(2)} layers avg (depths ${r.gated.depthHistogram.join('/')}); ${(r.msPerImageFull / r.msPerImageGated).toFixed(2)}× faster than ${K}L`,
    held,
    command: `aelab experiment methods --budget ${budget} --only eco-m2f${seed !== 0 ? ` --seed ${seed}` : ''}`,
    numbers: {
      gatedMIoU: r.gated.mIoU, gatedAvgLayers: r.gated.avgLayers, fullDepthMIoU: full.mIoU, depth: K,
      sameCostFixedDepth: same.depth, sameCostFixedMIoU: same.mIoU,
      oracleMIoU: r.oracle.mIoU, oracleAvgLayers: r.oracle.avgLayers, gateTrainAccuracy: r.gateTrainAccuracy,
      ...Object.fromEntries(r.fixed.map((f) => [`fixed${f.depth}MIoU`, f.mIoU])),
      depthHistogram: r.gated.depthHistogram.join('/'), targetHistogram: r.targetHistogram.join('/'),
      msPerImageGated: r.msPerImageGated, msPerImageFull: r.msPerImageFull, speedup: r.msPerImageFull / r.msPerImageGated,
      trainSeconds: r.trainSeconds,
    },
  };
}
