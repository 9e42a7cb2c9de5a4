/**
 * The JumpReLU SAE (Rajamanoharan et al. 2024, "Jumping Ahead: Improving Reconstruction Fidelity
 * with JumpReLU Sparse Autoencoders").
 *
 *   θ    = exp(log_threshold)                       [H]   (learned; log keeps it positive)
 *   z    = JumpReLU_θ(pre) = pre · H(pre − θ)       [B, H] (H = Heaviside step, H(0) = 0)
 *   L0   = (1/B) Σ_b Σ_i H(pre_{b,i} − θ_i)
 *   loss = mse + λ_t · L0 + preact
 *   λ_t  = λ · min(1, t / N) over N = l0WarmupSteps (λ when N = 0)
 *
 * The step has zero derivative almost everywhere, so θ gets a straight-through pseudo-derivative
 * from a rectangle kernel of bandwidth ε, K(u) = 1 if −½ < u < ½ else 0:
 *   ∂JumpReLU/∂pre = H(pre − θ)                ∂JumpReLU/∂θ = −(θ/ε) · K((pre − θ)/ε)
 *   ∂H(pre − θ)/∂pre = 0                        ∂H(pre − θ)/∂θ = −(1/ε) · K((pre − θ)/ε)
 * (the paper's eqs. 11–12: the L0 term trains θ only; pre learns from the reconstruction).
 *
 * Pre-activation loss (Anthropic, Jan 2025 update; SAELens's pre_act_loss), only on dead latents D:
 *   preact = c · (1/B) Σ_b Σ_{i∈D} ReLU(θ_i − pre_{b,i}) · ‖W_dec,i‖
 * pushes a dead latent's pre-activations up towards its threshold so it can fire again.
 */
import { Tensor, customOp, empty, exp, fromBuffer, mul, relu, scale, sub, sum, zeros } from '../core/index.js';
import type { Generator } from '../core/random.js';
import { shiftRows, thresholdScreenKernel } from '../core/ops/sparse.js';
import { param } from '../nn/module.js';
import { SparseAutoencoder, decoderNorms, type EncodeMode, type LossState, type SaeCode } from './base.js';
import type { SaeArch } from './interop.js';
import type { JumpReluSaeConfig } from './config.js';
import { gatherVec, jumpReluAt, linearAt, screenedSet, selectJumpReluSet, sparseStepLimit, stepAt, weightedSumAt, type SparseStepMode } from './sparse-step.js';

function checkShapes(op: string, pre: Tensor, theta: Tensor): [number, number] {
  if (pre.rank !== 2 || theta.rank !== 1 || theta.shape[0] !== pre.shape[1]) {
    throw new Error(`${op}: expects pre [B, H] and threshold [H], got [${pre.shape.join(', ')}] and [${theta.shape.join(', ')}]`);
  }
  return pre.shape as [number, number];
}

/**
 * Shared backward for θ: gθ_i = −(c_{b,i}/ε) Σ_b g_{b,i} K((pre_{b,i} − θ_i)/ε), where c = θ for
 * JumpReLU and c = 1 for the step.
 */
function thresholdGrad(pre: Float32Array, th: Float32Array, g: Float32Array, B: number, H: number, eps: number, timesTheta: boolean): Tensor {
  const out = new Float32Array(H);
  const half = eps / 2;
  for (let b = 0; b < B; b++) {
    const o = b * H;
    for (let i = 0; i < H; i++) {
      const u = pre[o + i]! - th[i]!;
      if (u > -half && u < half) out[i] = out[i]! + g[o + i]!;
    }
  }
  for (let i = 0; i < H; i++) out[i] = (-(timesTheta ? th[i]! : 1) / eps) * out[i]!;
  return fromBuffer(out, [H]);
}

/** JumpReLU with the rectangle-kernel STE (see the file comment): pre [B, H], θ [H] → [B, H]. */
export function jumpRelu(pre: Tensor, theta: Tensor, bandwidth: number): Tensor {
  return customOp({
    name: 'jumpRelu',
    forward(ctx, p, t) {
      const [B, H] = checkShapes('jumpRelu', p, t);
      const pd = p.f32('jumpRelu'), td = t.f32('jumpRelu');
      const out = empty([B, H]);
      const od = out.f32();
      for (let b = 0; b < B; b++) for (let i = 0; i < H; i++) {
        const v = pd[b * H + i]!;
        od[b * H + i] = v > td[i]! ? v : 0;
      }
      ctx.saved.push(p, t);
      return out;
    },
    backward(ctx, g) {
      const [p, t] = ctx.saved as [Tensor, Tensor];
      const [B, H] = p.shape as [number, number];
      const pd = p.f32(), td = t.f32(), gd = g.f32();
      let gp: Tensor | null = null;
      if (ctx.needsGrad[0]) {
        gp = empty([B, H]);
        const o = gp.f32();
        for (let b = 0; b < B; b++) for (let i = 0; i < H; i++) o[b * H + i] = pd[b * H + i]! > td[i]! ? gd[b * H + i]! : 0;
      }
      const gt = ctx.needsGrad[1] ? thresholdGrad(pd, td, gd, B, H, bandwidth, true) : null;
      return [gp, gt];
    },
  })(pre, theta);
}

/** The Heaviside step H(pre − θ) with the rectangle-kernel STE for θ (no gradient to pre). */
export function stepSte(pre: Tensor, theta: Tensor, bandwidth: number): Tensor {
  return customOp({
    name: 'stepSte',
    forward(ctx, p, t) {
      const [B, H] = checkShapes('stepSte', p, t);
      const pd = p.f32('stepSte'), td = t.f32('stepSte');
      const out = empty([B, H]);
      const od = out.f32();
      for (let b = 0; b < B; b++) for (let i = 0; i < H; i++) od[b * H + i] = pd[b * H + i]! > td[i]! ? 1 : 0;
      ctx.saved.push(p, t);
      return out;
    },
    backward(ctx, g) {
      const [p, t] = ctx.saved as [Tensor, Tensor];
      const [B, H] = p.shape as [number, number];
      const gp = ctx.needsGrad[0] ? zeros([B, H]) : null;
      const gt = ctx.needsGrad[1] ? thresholdGrad(p.f32(), t.f32(), g.f32(), B, H, bandwidth, false) : null;
      return [gp, gt];
    },
  })(pre, theta);
}

export class JumpReluSae extends SparseAutoencoder<JumpReluSaeConfig> {
  /** [H] learned log θ (SAELens's name; exported as threshold = exp(log_threshold)). */
  log_threshold: Tensor;
  /**
   * The sparse-aware training step (src/sae/sparse-step.ts): 'auto' takes it when the batch's code
   * is below the measured crossover density, 'on' always, 'off' never; null follows setSparseStep.
   */
  sparseStep: SparseStepMode | null = null;
  /** The current loss() call's sparse state (set by encodeForLoss, read by lossTerms). */
  private sparse: { p: Tensor; idx: Tensor; theta: Tensor } | null = null;

  constructor(config: JumpReluSaeConfig, gen: Generator) {
    super(config, gen);
    const t = new Float32Array(config.dSae).fill(Math.log(config.initialThreshold));
    this.log_threshold = param(fromBuffer(t, [config.dSae]));
  }

  /** θ = exp(log_threshold) [H] (differentiable). */
  thresholds(): Tensor {
    return exp(this.log_threshold);
  }

  /** The L0 coefficient at a step (warm-up schedule above). */
  l0CoefficientAt(step: number): number {
    const { l0Coefficient: l, l0WarmupSteps: n } = this.config;
    return n > 0 ? l * Math.min(1, step / n) : l;
  }

  protected activate(pre: Tensor, _mode: EncodeMode): SaeCode {
    return jumpRelu(pre, this.thresholds(), this.config.bandwidth);
  }

  /**
   * Training encoder: the dense pre-activation (one GEMM), then, below the crossover density, the
   * code at each token's selected latents (active, within the STE's rectangle, and dead ones below θ
   * when the pre-activation loss is on: see sparse-step.ts), differentiable through those entries only.
   * In float32 where topkScreen allows and no dead latent needs the pre-activation loss, the sets come
   * through the bf16 screen (sparse-step.ts screenedSet: the same sets and float32 values).
   */
  protected override encodeForLoss(xNorm: Tensor): { pre: Tensor; code: SaeCode } {
    this.sparse = null;
    const limit = sparseStepLimit(this.sparseStep, this.dSae);
    if (limit === 0) return super.encodeForLoss(xNorm);
    // shiftRows: the sparse encoder's backward then gives b_dec its gradient without gathering rows of W_enc.
    const xIn = this.config.applyBDecToInput ? shiftRows(xNorm, this.b_dec) : xNorm;
    const theta = this.thresholds();
    const eps = this.config.bandwidth;
    const dead = this.config.preActCoefficient > 0 ? this.deadMask() : null;
    const deadMask = dead && dead.count > 0 ? dead.mask : null;
    if (!deadMask && this.encoderDtype === 'f32' && thresholdScreenKernel(this.topkScreen) !== null) {
      const s = screenedSet(xIn, this.W_enc, this.b_enc, theta.f32(), eps, limit);
      if (s && !s.idx) return super.encodeForLoss(xNorm);  // denser than the crossover: the dense step, on a float32 pre
      if (s) return this.sparseCode(xIn, s.pre, s.idx!, theta, eps);
    }
    const pre = this.encoderLinear(xIn);
    const idx = selectJumpReluSet(pre, theta.f32(), eps, deadMask, limit);
    if (!idx) return { pre, code: jumpRelu(pre, theta, eps) };
    return this.sparseCode(xIn, pre, idx, theta, eps);
  }

  /** The sparse step's code at the selected entries idx of pre (linearAt, jumpReluAt). */
  private sparseCode(xIn: Tensor, pre: Tensor, idx: Tensor, theta: Tensor, eps: number): { pre: Tensor; code: SaeCode } {
    const p = linearAt(xIn, this.W_enc, this.b_enc, pre, idx);
    this.sparse = { p, idx, theta };
    return { pre, code: { values: jumpReluAt(p, theta, idx, eps), indices: idx, width: this.dSae } };
  }

  protected override lossTerms(s: LossState): void {
    const sp = this.sparse;
    this.sparse = null;
    if (sp) return this.sparseLossTerms(s, sp);
    const B = s.x.shape[0]!;
    const theta = this.thresholds();
    const lambda = this.l0CoefficientAt(s.step);
    s.terms.l0 = scale(sum(stepSte(s.pre, theta, this.config.bandwidth)), lambda / B);
    s.stats.l0Coefficient = lambda;
    const c = this.config.preActCoefficient;
    if (c > 0 && s.deadCount > 0) {
      const dead = new Float32Array(this.dSae);
      for (let i = 0; i < dead.length; i++) dead[i] = s.dead[i]!;
      // [B, H] · [H] broadcasts over tokens; the mask zeroes living latents.
      const gap = relu(sub(theta, s.pre));
      const w = mul(decoderNorms(this.W_dec), fromBuffer(dead, [this.dSae]));
      s.terms.preact = scale(sum(mul(gap, w)), c / B);
    } else if (c > 0) {
      s.terms.preact = zeros([]);
    }
  }

  /** lossTerms on the sparse step: the same terms from the selected entries (sparse-step.ts). */
  private sparseLossTerms(s: LossState, sp: { p: Tensor; idx: Tensor; theta: Tensor }): void {
    const B = s.x.shape[0]!;
    const lambda = this.l0CoefficientAt(s.step);
    s.terms.l0 = scale(stepAt(sp.p, sp.theta, sp.idx, this.config.bandwidth), lambda / B);
    s.stats.l0Coefficient = lambda;
    const c = this.config.preActCoefficient;
    if (c > 0 && s.deadCount > 0) {
      const dead = new Float32Array(this.dSae);
      for (let i = 0; i < dead.length; i++) dead[i] = s.dead[i]!;
      // Every dead latent's entries with pre < θ are selected; others get weight 0 or relu(θ − p) = 0.
      const gap = relu(sub(gatherVec(sp.theta, sp.idx), sp.p));
      const w = mul(decoderNorms(this.W_dec), fromBuffer(dead, [this.dSae]));
      s.terms.preact = scale(weightedSumAt(gap, w, sp.idx), c / B);
    } else if (c > 0) {
      s.terms.preact = zeros([]);
    }
  }

  override inferenceThreshold(): Float32Array {
    const l = this.log_threshold.f32();
    return Float32Array.from(l, (v) => Math.exp(v));
  }

  protected interopArch(): SaeArch {
    return 'jumprelu';
  }
}
