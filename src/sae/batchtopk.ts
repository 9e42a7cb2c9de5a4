/**
 * The BatchTopK SAE (Bussmann, Leask & Nanda 2024): k active latents per token *on average*.
 *
 * Training rule, over the whole batch at once:
 *   a   = ReLU(pre)                                   [B, H]
 *   z   = a where a is among the B·k largest entries of a (flattened), else 0
 *   loss = mse + auxk                                (AuxK as for TopK)
 * so easy tokens use fewer latents and hard ones more.
 *
 * Inference rule: the batch-level selection makes a token's code depend on its batch-mates, so at
 * inference the SAE is a JumpReLU with one threshold θ for every latent:
 *   z = ReLU(pre) · [pre > θ].
 * θ is a running estimate of the smallest activation the training rule keeps. After the n-th
 * training batch, with m_n = min { z_{b,i} : z_{b,i} > 0 } and β = thresholdDecay,
 *   e_n = β·e_{n−1} + (1 − β)·m_n,  e_0 = 0,       θ_n = e_n / (1 − βⁿ)
 * a bias-corrected exponential average (as Adam corrects its moments): θ_1 = m_1, and θ forgets the
 * first, untrained batches at rate β instead of carrying a (βⁿ)-weighted share of them. The default
 * β = 0.99 (SAELens's threshold lr 0.01) averages over ~100 steps, short enough to follow the
 * weights during a short run; the previous β = 0.999 with θ_1 = m_1 left inference L0 at half of k
 * after 1,500 steps. Stored in the buffers `threshold` ([1], θ; −1 means "not estimated yet", in
 * which case inference falls back to per-token TopK with the same k) and `threshold_count` ([1], n).
 * Exported as a JumpReLU threshold vector (SAELens saves BatchTopK SAEs this way); an SAE loaded
 * from such a file restarts the count, so further training re-estimates θ from its own batches.
 *
 * Fast path (plain BatchTopK, when the sparse TopK encoder of fast-topk.ts is installed): one dense
 * GEMM gives pre [B, H] and each token's top c = min(H, max(4k, 32)) entries as candidates; the
 * batch's B·k largest are chosen among the candidates (selectBatchTopK); a token whose candidates
 * were all chosen may have more, so its whole row becomes its candidate list and the choice is made
 * again (the batch threshold can only rise, so other tokens are unaffected). The chosen entries are
 * then gathered from pre (sparseEncodeAt) and decoded sparsely: the backward touches only them, with
 * no dense [B, H] code or gradient. The result equals the dense rule (tested). The candidates may come
 * from the bf16 screen (topkScreen; core/ops/sparse.ts topkEncode): then pre is exact only at them, so
 * widened tokens take their rows from preRow and sparseEncodeAt recomputes the chosen values. Matryoshka keeps the
 * dense path (its prefix losses slice the dense code).
 */
import { Tensor, fromBuffer, gt, mul, relu, reshape, scatterToDense, sub, topk, zeros } from '../core/index.js';
import { preRow } from '../core/ops/sparse.js';
import type { Generator } from '../core/random.js';
import { buffer } from '../nn/module.js';
import { SparseAutoencoder, flattenBatch, getSparseEncodeImpl, isSparseCode, type EncodeMode, type EncodeTopOf, type LossState, type SaeCode } from './base.js';
import type { SaeArch } from './interop.js';
import type { BatchTopKSaeConfig, MatryoshkaSaeConfig } from './config.js';

export class BatchTopKSae<C extends BatchTopKSaeConfig | MatryoshkaSaeConfig = BatchTopKSaeConfig> extends SparseAutoencoder<C> {
  /** [1] buffer: the inference threshold θ (−1 until the first training batch). */
  threshold: Tensor;
  /** [1] buffer: the number n of batches averaged into θ (for the bias correction). */
  threshold_count: Tensor;

  constructor(config: C, gen: Generator) {
    super(config, gen);
    this.threshold = buffer(fromBuffer(new Float32Array([-1]), [1]));
    this.threshold_count = buffer(fromBuffer(new Float32Array([0]), [1]));
  }

  /** θ, or null before it has been estimated. */
  get thresholdValue(): number | null {
    const t = this.threshold.data[0]!;
    return t >= 0 ? t : null;
  }

  protected activate(pre: Tensor, mode: EncodeMode): SaeCode {
    const [B, H] = pre.shape as [number, number];
    if (mode === 'inference') {
      const th = this.thresholdValue;
      if (th === null) {
        const { values, indices } = topk(pre, this.config.k);
        return { values: relu(values), indices, width: H };
      }
      return mul(relu(pre), gt(pre, th));
    }
    const acts = relu(pre);
    const { values, indices } = topk(flattenBatch(acts), Math.min(B * this.config.k, B * H));
    return reshape(scatterToDense(values, indices, B * H), [B, H]);
  }

  /** Tokens whose candidate list the fast path had to widen to the whole row (a diagnostic). */
  widenedTokens = 0;

  protected override encodeForLoss(xNorm: Tensor): { pre: Tensor; code: SaeCode; encodeTopOf?: EncodeTopOf } {
    const impl = getSparseEncodeImpl();
    if (!impl || this.config.architecture !== 'batchtopk') return super.encodeForLoss(xNorm);
    const B = xNorm.shape[0]!, H = this.dSae, k = this.config.k;
    const c = Math.min(H, Math.max(4 * k, 32));
    const xIn = this.config.applyBDecToInput ? sub(xNorm, this.b_dec) : xNorm;
    // With the bf16 screen (TopK's screened encoder), pre is exact only at the candidates: widened tokens
    // read their exact rows (preRow) and impl.at recomputes the chosen values.
    const top = impl.topk(xIn, this.W_enc, this.b_enc, c, this.encoderDtype === 'bf16', this.config.architecture === 'batchtopk' ? this.topkScreen : 'off');
    const pre = top.pre;
    const rows = Array.from({ length: B }, (_, b) => ({ values: top.values.f32().subarray(b * c, (b + 1) * c), latents: top.indices.i32().subarray(b * c, (b + 1) * c) }));
    let sel = selectBatchTopK(rows, B * k, H);
    while (sel.full.length) {
      for (const b of sel.full) rows[b] = rowAbove(preRow(pre, b), sel.threshold);
      this.widenedTokens += sel.full.length;
      sel = selectBatchTopK(rows, B * k, H);
    }
    let width = 1;
    for (const m of sel.counts) if (m > width) width = m;
    const idx = new Int32Array(B * width), mask = new Float32Array(B * width);
    let used: Uint8Array | null = null; // only for tokens that need padding
    for (let b = 0; b < B; b++) {
      const row = rows[b]!, n = sel.counts[b]!, o = b * width;
      mask.fill(1, o, o + n);
      // Chosen latents first; the padding (value masked to 0) takes further distinct latents.
      const fromRow = Math.min(width, row.latents.length);
      idx.set(row.latents.subarray(0, fromRow), o);
      if (fromRow < width) {
        used = used ?? new Uint8Array(H);
        used.fill(0);
        for (let j = 0; j < fromRow; j++) used[idx[o + j]!] = 1;
        for (let i = 0, j = fromRow; j < width; i++) if (!used[i]) idx[o + j++] = i;
      }
    }
    const indices = fromBuffer(idx, [B, width]);
    const code = { values: mul(impl.at(xIn, this.W_enc, this.b_enc, pre, indices), fromBuffer(mask, [B, width])), indices, width: H };
    return { pre, code, encodeTopOf: (cols, kk) => impl.topOf(xIn, this.W_enc, this.b_enc, pre, cols, kk) };
  }

  protected override lossTerms(s: LossState): void {
    s.terms.auxk = this.auxKLoss(s, this.config.auxKCoefficient, this.config.kAux) ?? zeros([]);
  }

  protected override updateRunningStats(s: LossState): void {
    const z = isSparseCode(s.code) ? s.code.values.f32() : s.code.f32();
    let m = Infinity;
    for (let i = 0; i < z.length; i++) if (z[i]! > 0 && z[i]! < m) m = z[i]!;
    if (m === Infinity) return;
    const beta = this.config.thresholdDecay;
    const n = this.threshold.data[0]! < 0 ? 0 : this.threshold_count.data[0]!;
    // e_{n} = θ_n (1 − βⁿ) recovers the uncorrected average from the stored θ.
    const e = n > 0 ? this.threshold.data[0]! * (1 - beta ** n) : 0;
    this.threshold.data[0] = (beta * e + (1 - beta) * m) / (1 - beta ** (n + 1));
    this.threshold_count.data[0] = n + 1;
    s.stats.threshold = this.threshold.data[0]!;
  }

  override inferenceThreshold(): Float32Array | null {
    const th = this.thresholdValue;
    return th === null ? null : new Float32Array(this.dSae).fill(th);
  }

  /** 'batchtopk' (saved with its threshold) once θ is estimated; a plain TopK SAE before that. */
  protected interopArch(): SaeArch {
    return this.thresholdValue === null ? 'topk' : 'batchtopk';
  }
}

/** A token's candidate entries: relu'd values sorted descending (ties by ascending latent) and their latents. */
export interface CandidateRow {
  values: Float32Array;
  latents: Int32Array;
  /** The list holds every entry of the token that could be chosen (set when a row is widened). */
  complete?: boolean;
}

/**
 * The batch-level choice of the `total` largest entries among the tokens' candidates, in the dense
 * rule's order on the flattened batch: value descending, then token, then latent. A token's chosen
 * entries are a prefix of its candidates; `counts[b]` is its length (chosen zeros are left out:
 * their code and gradient are zero either way). `full` lists tokens whose candidates were all chosen
 * with a positive last one while they hold fewer than H and are not `complete`: they may have more,
 * so the choice is exact only when `full` is empty. `threshold` is the value t of the last chosen
 * entry (0 when fewer than `total` are positive): adding candidates can only raise it.
 */
export function selectBatchTopK(rows: readonly CandidateRow[], total: number, H: number): { counts: Int32Array; full: number[]; threshold: number } {
  let n = 0;
  for (const r of rows) n += r.values.length;
  let t = 0;
  let ties = 0; // entries equal to t still to choose, in token order
  if (total < n) {
    const all = new Float32Array(n);
    let o = 0;
    for (const r of rows) { all.set(r.values, o); o += r.values.length; }
    t = kthLargest(all, total); // reorders `all`, a scratch copy; the count below does not need the order
    if (t > 0) {
      let above = 0;
      for (let i = 0; i < n; i++) if (all[i]! > t) above++;
      ties = total - above;
    }
  }
  const counts = new Int32Array(rows.length);
  const full: number[] = [];
  rows.forEach((r, b) => {
    let m = 0;
    for (; m < r.values.length; m++) {
      const x = r.values[m]!;
      if (x > t) continue;
      if (x === t && x > 0 && ties > 0) { ties--; continue; }
      break;
    }
    counts[b] = m;
    if (!r.complete && m === r.values.length && m < H && m > 0 && r.values[m - 1]! > 0) full.push(b);
  });
  return { counts, full, threshold: t };
}

/**
 * Token b's entries of relu(pre) [B, H] that are ≥ t and positive, as a complete candidate list
 * (descending, ties by ascending latent). With t the threshold of a choice among fewer candidates,
 * no entry below t can be chosen once more candidates are added, so the list is complete.
 */
function rowAbove(row: Float32Array, t: number): CandidateRow {
  const H = row.length;
  const keep: number[] = [];
  for (let i = 0; i < H; i++) if (row[i]! > 0 && row[i]! >= t) keep.push(i);
  keep.sort((i, j) => row[j]! - row[i]! || i - j);
  return { values: Float32Array.from(keep, (i) => row[i]!), latents: Int32Array.from(keep), complete: true };
}

/** The k-th largest value of v (1-based k ≤ v.length), by quickselect in place (v is reordered). */
function kthLargest(a: Float32Array, k: number): number {
  let lo = 0, hi = a.length - 1;
  const want = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const tmp = a[i]!; a[i] = a[j]!; a[j] = tmp;
        i++; j--;
      }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else return a[want]!;
  }
  return a[want]!;
}
