/**
 * NoProp, discrete time (NoProp-DT): Li, Teh & Pascanu 2025, "NoProp: Training Neural Networks
 * without Back-propagation or Forward-propagation".
 *
 * Labels y ∈ {0..C−1} are embedded as u_y = W_embed[y] ∈ R^d (W_embed fixed one-hot, d = C, or
 * learned). Time runs from noise (t = 0) to label (t = T). With the cosine schedule
 *
 *   ᾱ_t = cos²( (π/2) · ((1 − t/T) + s) / (1 + s) ),  s = 0.008,  t = 0..T   (ᾱ_0 = 0, ᾱ_T ≈ 1)
 *   α_{t−1} = ᾱ_{t−1} / ᾱ_t,   SNR(t) = ᾱ_t / (1 − ᾱ_t)
 *
 * the fixed variational (noising) process is q(z_t | y) = N(√ᾱ_t u_y, (1 − ᾱ_t) I), and block t
 * (t = 1..T) defines p(z_t | z_{t−1}, x) = N(a_t û_θt(z_{t−1}, x) + b_t z_{t−1}, c_t I) with
 *
 *   a_t = √ᾱ_t (1 − α_{t−1}) / (1 − ᾱ_{t−1}),  b_t = √α_{t−1} (1 − ᾱ_t) / (1 − ᾱ_{t−1}),
 *   c_t = (1 − ᾱ_t)(1 − α_{t−1}) / (1 − ᾱ_{t−1}).
 *
 * Objective (the paper's NoProp-DT loss, its Eq. for L_NoProp):
 *
 *   L = E_{q(z_T|y)}[−log p̂_θout(y | z_T)] + KL(q(z_0|y) ‖ N(0, I))
 *       + (η/2) Σ_{t=1..T} (SNR(t) − SNR(t−1)) ‖û_θt(z_{t−1}, x) − u_y‖²,   z_{t−1} ~ q(z_{t−1} | y)
 *
 * (the paper writes the last term as (T/2)·η·E_{t~U{1..T}}[…]; here every t is taken each step,
 * i.e. the expectation is computed exactly). The input z_{t−1} of block t is drawn from the fixed
 * noising process given y, never from block t−1's output, so the T denoising terms share no
 * parameters and no gradient crosses blocks: ∂L/∂θ_t = ∂L_t/∂θ_t (tested). Adam keeps its state per
 * parameter, so one Adam over all parameters is exactly one Adam per block plus one for the shared
 * θ_out/W_embed (`parameterGroups()` names those groups).
 *
 * Block t (the paper's Fig. 6 at MLP scale): image path x → Linear → ReLU (hidden), label path
 * z_{t−1} → Linear → ReLU (hidden), concat → Linear → ReLU → Linear → class logits; the block's
 * prediction is the probability-weighted class embedding û = softmax(logits) · W_embed.
 * Classifier θ_out: Linear(d → C) on z_T.
 *
 * Inference: z_0 ~ N(0, I); z_t = a_t û_θt(z_{t−1}, x) + b_t z_{t−1} + √c_t ε_t for t = 1..T;
 * prediction argmax p̂_θout(y | z_T).
 *
 * `backprop: true` builds the comparison network of the same blocks trained end to end: z_0 ~ N(0, I),
 * z_t = û_θt(z_{t−1}, x), logits = θ_out(z_T), cross-entropy, gradient through every block.
 */
import { Tensor, fromBuffer, noGrad, scope } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, mul, relu, sub } from '../core/ops/elementwise.js';
import { mean, sum } from '../core/ops/reduce.js';
import { concat, reshape } from '../core/ops/shape.js';
import { embedding } from '../core/ops/indexing.js';
import { softmax } from '../core/ops/nn.js';
import { matmul } from '../core/ops/linalg.js';
import { crossEntropy } from '../core/ops/loss.js';
import { Module, param, buffer } from '../nn/module.js';
import { Linear } from '../nn/layers.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

export interface NoPropConfig {
  /** Input features (784 for flat MNIST). */
  inputDim: number;
  classes: number;
  /** Number of blocks T (default 10, as the paper's NoProp-DT). */
  blocks?: number;
  /** Hidden width of each block (default 128). */
  hidden?: number;
  /** 'onehot': fixed W_embed = I (d = classes); 'learned': trainable W_embed [C, embedDim] (default 'onehot'). */
  embedding?: 'onehot' | 'learned';
  /** Embedding width for 'learned' (default classes). */
  embedDim?: number;
  /** Weight η of the denoising terms (default 0.1). */
  eta?: number;
  /** Cosine schedule offset s (default 0.008). */
  scheduleOffset?: number;
  /** Train the same blocks end to end with back-propagation instead (the baseline). */
  backprop?: boolean;
  seed?: number;
}

/** The NoProp-DT schedule: ᾱ_t (t = 0..T) and, for t = 1..T (index t), a_t, b_t, c_t, SNR(t) − SNR(t−1). */
export interface NoPropSchedule {
  alphaBar: number[];
  snr: number[];
  a: number[];
  b: number[];
  c: number[];
  snrDiff: number[];
}

/** Cosine schedule in closed form (see the file comment); index 0 of a/b/c/snrDiff is unused (NaN). */
export function noPropSchedule(T: number, s = 0.008): NoPropSchedule {
  if (!Number.isInteger(T) || T < 1) throw new Error(`NoProp: blocks must be an integer ≥ 1, got ${T}`);
  const alphaBar = Array.from({ length: T + 1 }, (_, t) => Math.cos((Math.PI / 2) * ((1 - t / T) + s) / (1 + s)) ** 2);
  alphaBar[0] = 0; // cos²(π/2) up to rounding: pure noise
  const snr = alphaBar.map((ab) => ab / (1 - ab));
  const a = [NaN], b = [NaN], c = [NaN], snrDiff = [NaN];
  for (let t = 1; t <= T; t++) {
    const abt = alphaBar[t]!, abp = alphaBar[t - 1]!, alphaPrev = abp / abt;
    a.push((Math.sqrt(abt) * (1 - alphaPrev)) / (1 - abp));
    b.push((Math.sqrt(alphaPrev) * (1 - abt)) / (1 - abp));
    c.push(((1 - abt) * (1 - alphaPrev)) / (1 - abp));
    snrDiff.push(snr[t]! - snr[t - 1]!);
  }
  return { alphaBar, snr, a, b, c, snrDiff };
}

/** One denoising block: (x, z_{t−1}) → class logits; û = softmax(logits) · W_embed. */
export class NoPropBlock extends Module {
  img: Linear;
  lab: Linear;
  mix: Linear;
  out: Linear;
  constructor(inputDim: number, embedDim: number, hidden: number, classes: number, gen: Generator) {
    super();
    this.img = new Linear(inputDim, hidden, gen);
    this.lab = new Linear(embedDim, hidden, gen);
    this.mix = new Linear(2 * hidden, hidden, gen);
    this.out = new Linear(hidden, classes, gen);
  }
  logits(x: Tensor, z: Tensor): Tensor {
    const h = concat([relu(this.img.forward(x)), relu(this.lab.forward(z))], 1);
    return this.out.forward(relu(this.mix.forward(h)));
  }
}

export class NoProp extends Module implements Trainable {
  readonly type: string = 'noprop';
  blocks: NoPropBlock[];
  classifier: Linear;
  /** W_embed [C, d]: a parameter when learned, a buffer (fixed one-hot) otherwise. */
  W_embed: Tensor;
  readonly T: number;
  readonly embedDim: number;
  readonly eta: number;
  readonly schedule: NoPropSchedule;

  constructor(readonly config: NoPropConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    const c = config;
    this.T = c.blocks ?? 10;
    this.schedule = noPropSchedule(this.T, c.scheduleOffset ?? 0.008);
    const learned = (c.embedding ?? 'onehot') === 'learned';
    this.embedDim = learned ? (c.embedDim ?? c.classes) : c.classes;
    this.eta = c.eta ?? 0.1;
    const hidden = c.hidden ?? 128;
    this.blocks = Array.from({ length: this.T }, () => new NoPropBlock(c.inputDim, this.embedDim, hidden, c.classes, gen));
    this.classifier = new Linear(this.embedDim, c.classes, gen);
    const w = new Float32Array(c.classes * this.embedDim);
    if (learned) gen.normal(w, 0, 1 / Math.sqrt(this.embedDim));
    else for (let k = 0; k < c.classes; k++) w[k * this.embedDim + k] = 1;
    this.W_embed = learned ? param(fromBuffer(w, [c.classes, this.embedDim])) : buffer(fromBuffer(w, [c.classes, this.embedDim]));
  }

  /** Parameters of block t (1-based, as in the paper). */
  blockParameters(t: number): Tensor[] {
    return this.blocks[t - 1]!.parameters();
  }

  /** One group per block (θ_1..θ_T) and one for the shared θ_out (and W_embed when learned). */
  parameterGroups(): { name: string; params: Tensor[] }[] {
    const shared = [...this.classifier.parameters(), ...(this.W_embed.requiresGrad ? [this.W_embed] : [])];
    return [...this.blocks.map((b, i) => ({ name: `block ${i + 1}`, params: b.parameters() })), { name: 'shared', params: shared }];
  }

  /** û_θt(z, x) = softmax(block_t logits) · W_embed: [B, d]. */
  predictEmbedding(t: number, x: Tensor, z: Tensor): Tensor {
    return matmul(softmax(this.blocks[t - 1]!.logits(x, z), -1), this.W_embed);
  }

  private gauss(shape: [number, number], gen: Generator): Tensor {
    return fromBuffer(gen.normal(new Float32Array(shape[0] * shape[1])), shape);
  }

  /** A sample of q(z_t | y) = N(√ᾱ_t u_y, (1 − ᾱ_t) I) given u [B, d] (gradient flows to u only). */
  sampleQ(t: number, u: Tensor, gen: Generator): Tensor {
    const ab = this.schedule.alphaBar[t]!;
    return add(mul(u, Math.sqrt(ab)), mul(this.gauss([u.shape[0]!, u.shape[1]!], gen), Math.sqrt(1 - ab)));
  }

  /** Block t's own term: (η/2)(SNR(t) − SNR(t−1)) · mean_b ‖û_θt(z_{t−1}, x) − u_y‖², z_{t−1} ~ q(·|y). */
  blockLoss(t: number, x: Tensor, y: Tensor, gen: Generator): Tensor {
    const u = embedding(y, this.W_embed);
    const z = this.sampleQ(t - 1, u, gen);
    const d = sub(this.predictEmbedding(t, x, z), u);
    return mul(mean(sum(mul(d, d), 1)), 0.5 * this.eta * this.schedule.snrDiff[t]!);
  }

  /** NoProp-DT loss terms for a batch (see the file comment). */
  losses(x: Tensor, y: Tensor, gen: Generator): { total: Tensor; ce: Tensor; kl: Tensor; denoise: Tensor[] } {
    const u = embedding(y, this.W_embed);
    const ce = crossEntropy(this.classifier.forward(this.sampleQ(this.T, u, gen)), y);
    // KL(N(√ᾱ_0 u, (1−ᾱ_0) I) ‖ N(0, I)) per sample, averaged over the batch.
    const ab0 = this.schedule.alphaBar[0]!, d = this.embedDim;
    const kl = mul(add(mul(mean(sum(mul(u, u), 1)), ab0), d * (1 - ab0) - d - d * Math.log(Math.max(1 - ab0, 1e-12))), 0.5);
    const denoise = this.blocks.map((_, i) => this.blockLoss(i + 1, x, y, gen));
    let total = add(ce, kl);
    for (const l of denoise) total = add(total, l);
    return { total, ce, kl, denoise };
  }

  /** Baseline forward (backprop: true): the same blocks chained, z_t = û_θt(z_{t−1}, x), logits of z_T. */
  chainLogits(x: Tensor, gen: Generator): Tensor {
    let z = this.gauss([x.shape[0]!, this.embedDim], gen);
    for (let t = 1; t <= this.T; t++) z = this.predictEmbedding(t, x, z);
    return this.classifier.forward(z);
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    if (!batch.y) throw new Error('NoProp: the dataset needs labels');
    const x = batch.x.rank === 2 ? batch.x : reshape(batch.x, [batch.x.shape[0]!, -1]);
    if (this.config.backprop) return { loss: crossEntropy(this.chainLogits(x, ctx.noise), batch.y) };
    const l = this.losses(x, batch.y, ctx.noise);
    return { loss: l.total, metrics: { ce: l.ce.item() } };
  }

  /** Class logits of the denoising chain (NoProp) or the deterministic chain (backprop baseline). */
  logits(x: Tensor, gen: Generator): Tensor {
    return noGrad(() => {
      const xx = x.rank === 2 ? x : reshape(x, [x.shape[0]!, -1]);
      if (this.config.backprop) return this.chainLogits(xx, gen);
      const s = this.schedule;
      let z = this.gauss([xx.shape[0]!, this.embedDim], gen);
      for (let t = 1; t <= this.T; t++) {
        const u = this.predictEmbedding(t, xx, z);
        z = add(add(mul(u, s.a[t]!), mul(z, s.b[t]!)), mul(this.gauss([xx.shape[0]!, this.embedDim], gen), Math.sqrt(s.c[t]!)));
      }
      return this.classifier.forward(z);
    });
  }

  /** Accuracy on flat inputs x [n·inputDim] with labels y (batches of 500, eval noise from `seed`). */
  accuracy(x: Float32Array, y: Int32Array, seed = 0): number {
    const gen = new Generator(seed), D = this.config.inputDim, n = y.length;
    let correct = 0;
    for (let s = 0; s < n; s += 500) {
      const e = Math.min(n, s + 500);
      scope(() => {
        const lg = this.logits(fromBuffer(x.slice(s * D, e * D), [e - s, D]), gen).data;
        const C = this.config.classes;
        for (let i = 0; i < e - s; i++) {
          let best = 0;
          for (let k = 1; k < C; k++) if (lg[i * C + k]! > lg[i * C + best]!) best = k;
          if (best === y[s + i]) correct++;
        }
      });
    }
    return correct / n;
  }
}
