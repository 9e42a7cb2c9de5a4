/**
 * The Switch SAE (Mudide, Engels, Michaud, Tegmark & Schroeder de Witt 2024, "Efficient dictionary
 * learning with switch sparse autoencoders").
 *
 * Shapes: B tokens, d = dIn, H = dSae latents split into E experts of m = H/E latents each; expert e
 * owns latents [e·m, (e+1)·m) of the usual W_enc [H, d], b_enc [H], W_dec [H, d]; b_dec [d] is
 * shared (the paper's b_pre). The router is W_router [E, d], b_router [E].
 *   x_in   = x̃ − b_dec·a                                     (a = applyBDecToInput)
 *   p(x)   = softmax(x_in W_routerᵀ + b_router)               [B, E]
 *   e*(x)  = argmax_e p_e(x)                                   (ties to the lower expert)
 *   pre_e* = x_in W_enc[e*]ᵀ + b_enc[e*]                       [B, m]   (only the chosen expert)
 *   z      = p_e*(x) · ReLU(TopK_k(pre_e*))                    (a SparseCode over all H latents)
 *   x̂      = z W_dec + b_dec  = b_dec + p_e*(x) · W_dec[e*]ᵀ ReLU(TopK(pre_e*))
 * The chosen expert's reconstruction is scaled by its router probability so the router gets
 * gradients through the reconstruction; the code stored in z already carries that scale, so
 * decode() / runSae need nothing else.
 *
 * Loss (per token, averaged):  ‖x̃ − x̂‖² + α·E·Σ_e f_e·P_e   (the Switch Transformer load-balancing
 * loss as the paper uses it): f_e = fraction of the batch's tokens routed to e (no gradient),
 * P_e = mean router probability of e over the batch. No AuxK (dead-latent) term: left out.
 *
 * Encoder FLOPs per token: d·E (router) + d·H/E (one expert) instead of d·H. The training step runs
 * one GEMM per expert on the tokens routed to it (indexSelect + slice + linear + topk).
 */
import { Tensor, concat, fromBuffer, gather, indexSelect, linear, mean, mul, noGrad, relu, scale, slice, softmax, sub, sum, topk } from '../core/index.js';
import type { Generator } from '../core/random.js';
import { param } from '../nn/module.js';
import { SparseAutoencoder, type EncodeMode, type FoldResult, type LossState, type SaeCode, type SaeForward, type SparseCode } from './base.js';
import type { SwitchSaeConfig } from './config.js';
import type { SaeArch, SaeWeights } from './interop.js';

/** The routed encoding of a batch. */
export interface SwitchEncoding {
  code: SparseCode;
  /** Router probabilities [B, E] (differentiable). */
  probs: Tensor;
  /** Chosen expert per token. */
  expert: Int32Array;
}

export class SwitchSae extends SparseAutoencoder<SwitchSaeConfig> {
  /** [E, d] router weights (init: small Gaussian, 0.1/√d). */
  W_router: Tensor;
  /** [E] router bias (init 0). */
  b_router: Tensor;
  /** The current loss() call's routing (set by encodeForLoss, read by lossTerms). */
  private routed: SwitchEncoding | null = null;

  constructor(config: SwitchSaeConfig, gen: Generator) {
    super(config, gen);
    const { experts: E, dIn: d } = config;
    const w = new Float32Array(E * d);
    gen.normal(w, 0, 0.1 / Math.sqrt(d));
    this.W_router = param(fromBuffer(w, [E, d]));
    this.b_router = param(fromBuffer(new Float32Array(E), [E]));
  }

  get experts(): number {
    return this.config.experts;
  }

  /** Latents per expert m = H/E. */
  get expertWidth(): number {
    return this.dSae / this.config.experts;
  }

  /** Encoder multiply-adds per token: d·(E + H/E) (router + one expert). */
  encoderFlopsPerToken(): number {
    return this.dIn * (this.config.experts + this.expertWidth);
  }

  /** Router logits [B, E] for a working-space x̃ (differentiable). */
  routerLogits(xNorm: Tensor): Tensor {
    return linear(this.inputOf(xNorm), this.W_router, this.b_router);
  }

  private inputOf(xNorm: Tensor): Tensor {
    return this.config.applyBDecToInput ? sub(xNorm, this.b_dec) : xNorm;
  }

  /** Routes and encodes a working-space x̃ [B, d] (differentiable in every parameter). */
  encodeRouted(xNorm: Tensor): SwitchEncoding {
    const [B] = xNorm.shape as [number, number];
    const E = this.config.experts, m = this.expertWidth, k = this.config.k;
    const xIn = this.inputOf(xNorm);
    const logits = linear(xIn, this.W_router, this.b_router);
    const probs = softmax(logits, -1);
    const L = logits.f32();
    const expert = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      let best = 0;
      for (let e = 1; e < E; e++) if (L[b * E + e]! > L[b * E + best]!) best = e;
      expert[b] = best;
    }
    // Tokens grouped by expert (stable order); `order` lists the token of each grouped row.
    const order = new Int32Array(B), rowOf = new Int32Array(B);
    const groups: { e: number; start: number; n: number }[] = [];
    let pos = 0;
    for (let e = 0; e < E; e++) {
      const start = pos;
      for (let b = 0; b < B; b++) if (expert[b] === e) { rowOf[b] = pos; order[pos++] = b; }
      if (pos > start) groups.push({ e, start, n: pos - start });
    }
    const vals: Tensor[] = [];
    const idxOut = new Int32Array(B * k);
    for (const g of groups) {
      const xe = indexSelect(xIn, fromBuffer(order.subarray(g.start, g.start + g.n).slice(), [g.n]));
      const pre = linear(xe, slice(this.W_enc, 0, g.e * m, (g.e + 1) * m), slice(this.b_enc, 0, g.e * m, (g.e + 1) * m));
      const t = topk(pre, k);
      vals.push(relu(t.values));
      const ix = t.indices.i32();
      for (let r = 0; r < g.n; r++) for (let j = 0; j < k; j++) idxOut[(g.start + r) * k + j] = ix[r * k + j]! + g.e * m;
    }
    const grouped = vals.length === 1 ? vals[0]! : concat(vals, 0);
    // Back to token order: token b's row is grouped row rowOf[b].
    const v = indexSelect(grouped, fromBuffer(rowOf, [B]));
    const indices = fromBuffer(new Int32Array(B * k), [B, k]);
    const I = indices.i32();
    for (let b = 0; b < B; b++) for (let j = 0; j < k; j++) I[b * k + j] = idxOut[rowOf[b]! * k + j]!;
    const pSel = gather(probs, fromBuffer(expert.slice(), [B, 1]));
    return { code: { values: mul(v, pSel), indices, width: this.dSae }, probs, expert };
  }

  /** Load-balancing loss α·E·Σ_e f_e·P_e for router probabilities [B, E] and the chosen experts. */
  loadBalanceLoss(probs: Tensor, expert: Int32Array): Tensor {
    const E = this.config.experts, B = expert.length;
    const f = new Float32Array(E);
    for (let b = 0; b < B; b++) f[expert[b]!]! += 1 / B;
    const P = mean(probs, 0);
    return scale(sum(mul(P, fromBuffer(f, [E]))), this.config.loadBalanceCoefficient * E);
  }

  /** Dense pre-activation view [B, H] (no gradient): the chosen expert's pre-activations, 0 elsewhere. */
  private densePre(xNorm: Tensor, expert: Int32Array): Tensor {
    return noGrad(() => {
      const [B, d] = xNorm.shape as [number, number];
      const H = this.dSae, m = this.expertWidth;
      const xi = this.inputOf(xNorm).f32(), W = this.W_enc.f32(), be = this.b_enc.f32();
      const out = new Float32Array(B * H);
      for (let b = 0; b < B; b++) {
        const e = expert[b]!;
        for (let h = e * m; h < (e + 1) * m; h++) {
          let s = be[h]!;
          for (let j = 0; j < d; j++) s += xi[b * d + j]! * W[h * d + j]!;
          out[b * H + h] = s;
        }
      }
      return fromBuffer(out, [B, H]);
    });
  }

  protected activate(_pre: Tensor, _mode: EncodeMode): SaeCode {
    throw new Error('SwitchSae: the code depends on the router, not on a dense pre-activation; use encode / encodeRouted');
  }

  override encode(x: Tensor): SaeCode {
    return this.encodeRouted(this.normalise(x).x).code;
  }

  override encodeInference(x: Tensor): SaeCode {
    return this.encode(x);
  }

  override forward(x: Tensor): SaeForward {
    const n = this.normalise(x);
    const r = this.encodeRouted(n.x);
    const xhatNorm = this.decode(r.code);
    return { xhat: this.denormalise(xhatNorm, n), xhatNorm, xNorm: n.x, code: r.code, pre: this.densePre(n.x, r.expert) };
  }

  override reconstruct(x: Tensor): Tensor {
    return noGrad(() => {
      const n = this.normalise(x);
      return this.denormalise(this.decode(this.encodeRouted(n.x).code), n);
    });
  }

  protected override encodeForLoss(xNorm: Tensor): { pre: Tensor; code: SaeCode } {
    const r = this.encodeRouted(xNorm);
    this.routed = r;
    // No term reads a dense pre-activation (no AuxK): an empty placeholder keeps the encoder cost d·(E + H/E).
    return { pre: fromBuffer(new Float32Array(0), [0]), code: r.code };
  }

  protected override lossTerms(s: LossState): void {
    const r = this.routed;
    this.routed = null;
    if (!r) return;
    if (this.config.loadBalanceCoefficient > 0) s.terms.loadBalance = this.loadBalanceLoss(r.probs, r.expert);
    const E = this.config.experts, B = r.expert.length;
    const counts = new Float64Array(E);
    for (let b = 0; b < B; b++) counts[r.expert[b]!]! += 1;
    s.stats.maxExpertFraction = Math.max(...counts) / B;
  }

  /** Folds the constant input scale as the base does, and into the router (its input is s·x − b_dec). */
  override foldNormalisation(): FoldResult {
    const s = this.norm_scale.data[0]!;
    const r = super.foldNormalisation();
    if (r.folded) {
      const w = this.W_router.f32();
      for (let i = 0; i < w.length; i++) w[i] = w[i]! * s;
    }
    return r;
  }

  override interopExtras(): Partial<SaeWeights> {
    return { experts: this.config.experts, W_router: this.W_router.f32().slice(), b_router: this.b_router.f32().slice() };
  }

  protected interopArch(): SaeArch {
    return 'switch';
  }
}
