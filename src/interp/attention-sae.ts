/**
 * Attention-output SAEs (Kissane et al., "Interpreting attention layer outputs with sparse
 * autoencoders"): an SAE on blocks.{l}.attn.hook_z flattened to rows [H·dh] (head-major: head h
 * owns columns [h·dh, (h+1)·dh), as `aelab harvest` writes them), with each latent attributed to
 * heads and to source positions.
 *
 * For latent f with encoder row W_enc[f] ∈ ℝ^{H·dh} and a row z = (z_0, …, z_{H−1}):
 *   pre-activation   a_f = (z − [apply_b_dec]·b_dec) · W_enc[f] + b_enc[f]
 *   bias             β_f = b_enc[f] − [apply_b_dec]·b_dec · W_enc[f]
 *   head attribution A_f(h) = z_h · W_enc[f, h]                 Σ_h A_f(h) = a_f − β_f
 *   source attribution: z_h[t] = Σ_s P_h[t, s] v_{g(h)}[s] (P the attention pattern, g(h) = ⌊h·Hkv/H⌋
 *   the key/value head of a grouped-query head), so
 *                    S_f(s) = Σ_h P_h[t, s] · (v_{g(h)}[s] · W_enc[f, h])   Σ_s S_f(s) = a_f − β_f
 * Decoder head share: share_f(h) = ‖W_dec[f, h]‖ / Σ_h' ‖W_dec[f, h']‖ (its maximum over h says how
 * much a latent belongs to a single head).
 * SAEs with layer-norm input normalisation are refused (the attribution would not be linear).
 */
import { intTensor, noGrad, scope } from '../core/tensor.js';
import { runSae } from '../sae/convert.js';
import type { SaeWeights } from '../sae/interop.js';
import type { Transformer } from '../lm/transformer.js';

export class AttentionSaeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttentionSaeError';
  }
}

/** Checks that `w` reads hook_z of `model` at `layer`; throws an AttentionSaeError naming the mismatch. */
export function checkAttentionSae(model: Transformer, w: SaeWeights, layer: number): void {
  const { nHeads: H, dHead: dh, nLayers: L } = model.cfg;
  if (!(Number.isInteger(layer) && layer >= 0 && layer < L)) throw new AttentionSaeError(`layer ${layer} is not a block of the model (0..${L - 1})`);
  if (w.dIn !== H * dh) throw new AttentionSaeError(`the SAE has d_in = ${w.dIn}, but blocks.${layer}.attn.hook_z has rows of ${H}·${dh} = ${H * dh} (n_heads·d_head)`);
  if (w.meta.inputNormalization === 'layer_norm') throw new AttentionSaeError('the SAE normalises its input with layer norm; head and source attributions need a linear encoder input');
}

export interface HeadShares {
  /** [dSae, H] decoder norm share of each head. */
  shares: Float32Array;
  /** [dSae] largest share. */
  maxShare: Float32Array;
  /** [dSae] head with the largest share. */
  dominant: Int32Array;
}

/** share_f(h) = ‖W_dec[f, h·dh:(h+1)·dh]‖ / Σ_h ‖…‖ (a latent with a zero decoder row gets 1/H everywhere). */
export function decoderHeadShares(w: SaeWeights, nHeads: number): HeadShares {
  const F = w.dSae, d = w.dIn, dh = d / nHeads;
  if (!Number.isInteger(dh)) throw new AttentionSaeError(`d_in ${d} is not a multiple of ${nHeads} heads`);
  const shares = new Float32Array(F * nHeads), maxShare = new Float32Array(F), dominant = new Int32Array(F);
  for (let f = 0; f < F; f++) {
    let tot = 0;
    const n = new Float64Array(nHeads);
    for (let h = 0; h < nHeads; h++) {
      let s = 0;
      for (let j = 0; j < dh; j++) s += w.W_dec[f * d + h * dh + j]! ** 2;
      n[h] = Math.sqrt(s);
      tot += n[h]!;
    }
    for (let h = 0; h < nHeads; h++) {
      const v = tot > 0 ? n[h]! / tot : 1 / nHeads;
      shares[f * nHeads + h] = v;
      if (v > maxShare[f]!) { maxShare[f] = v; dominant[f] = h; }
    }
  }
  return { shares, maxShare, dominant };
}

/** hook_z, hook_pattern and hook_v of one block for B windows of T tokens. */
export interface AttentionCapture {
  B: number; T: number; H: number; Hkv: number; dh: number;
  tokens: Int32Array;
  /** [B·T, H·dh] (row-major [B, T, H, dh]) */
  z: Float32Array;
  /** [B, H, T, T] */
  pattern: Float32Array;
  /** [B, T, Hkv, dh] */
  v: Float32Array;
}

export function captureAttention(model: Transformer, layer: number, tokens: Int32Array, B: number, T: number): AttentionCapture {
  const { nHeads: H, nKvHeads: Hkv, dHead: dh } = model.cfg;
  const p = `blocks.${layer}.attn`;
  return noGrad(() => scope(() => {
    const { cache } = model.runWithCache(intTensor(tokens, [B, T]), [`${p}.hook_v`, `${p}.hook_pattern`, `${p}.hook_z`], { logits: false });
    return { B, T, H, Hkv, dh, tokens, z: cache.get(`${p}.hook_z`)!.f32().slice(), pattern: cache.get(`${p}.hook_pattern`)!.f32().slice(), v: cache.get(`${p}.hook_v`)!.f32().slice() };
  }));
}

/** β_f = b_enc[f] − [apply_b_dec]·b_dec·W_enc[f]. */
export function encoderBias(w: SaeWeights, f: number): number {
  let s = w.b_enc[f]!;
  if (w.applyBDecToInput) for (let j = 0; j < w.dIn; j++) s -= w.b_dec[j]! * w.W_enc[f * w.dIn + j]!;
  return s;
}

/** a_f = (z − [apply]·b_dec)·W_enc[f] + b_enc[f] for row r of the capture. */
export function preActivation(w: SaeWeights, cap: AttentionCapture, row: number, f: number): number {
  const d = w.dIn;
  let s = w.b_enc[f]!;
  for (let j = 0; j < d; j++) s += (cap.z[row * d + j]! - (w.applyBDecToInput ? w.b_dec[j]! : 0)) * w.W_enc[f * d + j]!;
  return s;
}

/** A_f(h) = z_h · W_enc[f, h] for row r (= b·T + t) of the capture: [H]. */
export function headAttribution(w: SaeWeights, cap: AttentionCapture, row: number, f: number): Float64Array {
  const { H, dh } = cap, d = H * dh;
  const out = new Float64Array(H);
  for (let h = 0; h < H; h++) {
    let s = 0;
    for (let j = 0; j < dh; j++) s += cap.z[row * d + h * dh + j]! * w.W_enc[f * d + h * dh + j]!;
    out[h] = s;
  }
  return out;
}

/**
 * S_f(s) = Σ_h P_h[t, s]·(v_{g(h)}[s]·W_enc[f, h]) for destination (b, t): [T] (zero for s > t).
 * With `perHead`, also the [H, T] terms before the sum over heads.
 */
export function sourceAttribution(w: SaeWeights, cap: AttentionCapture, b: number, t: number, f: number, perHead?: Float64Array): Float64Array {
  const { H, Hkv, dh, T } = cap, d = H * dh, group = H / Hkv;
  const out = new Float64Array(T);
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / group);
    const po = ((b * H + h) * T + t) * T;
    for (let s = 0; s <= t; s++) {
      const pr = cap.pattern[po + s]!;
      if (pr === 0) continue;
      const vo = ((b * T + s) * Hkv + g) * dh;
      let dot = 0;
      for (let j = 0; j < dh; j++) dot += cap.v[vo + j]! * w.W_enc[f * d + h * dh + j]!;
      out[s] += pr * dot;
      if (perHead) perHead[h * T + s] = pr * dot;
    }
  }
  return out;
}

export interface AttentionLatentExample {
  /** Window and position of the destination token. */
  window: number;
  position: number;
  activation: number;
  preActivation: number;
  /** A_f(h) per head. */
  heads: number[];
  /** Source positions with the largest attribution: position, token id, attribution. */
  sources: { position: number; token: number; attribution: number }[];
}

export interface AttentionLatentReport {
  latent: number;
  /** Fraction of analysed rows where the latent is active. */
  density: number;
  maxShare: number;
  dominantHead: number;
  shares: number[];
  examples: AttentionLatentExample[];
  /** Source tokens summed over the examples' attributions, largest first. */
  topSourceTokens: { token: number; attribution: number; count: number }[];
}

export interface AttentionSaeStudyOptions {
  /** Windows [B·T] of tokens. */
  tokens: Int32Array;
  context: number;
  /** Latents to report; default: the `topLatents` with the largest activations. */
  latents?: readonly number[];
  topLatents?: number;
  /** Top examples per latent (default 5) and sources per example (default 5). */
  examples?: number;
  sources?: number;
  /** Rows holding this token are not analysed (BOS). */
  bosId?: number | null;
}

export interface AttentionSaeStudy {
  layer: number;
  heads: number;
  shares: HeadShares;
  /** [dSae] fraction of rows where each latent is active. */
  density: Float32Array;
  /** Latents per dominant head: all latents, and those active at least once. */
  latentsPerHead: Int32Array;
  liveLatentsPerHead: Int32Array;
  rows: number;
  latents: AttentionLatentReport[];
}

/** The whole analysis on a set of windows (see the file comment). */
export function attentionSaeStudy(model: Transformer, w: SaeWeights, layer: number, opts: AttentionSaeStudyOptions): AttentionSaeStudy {
  checkAttentionSae(model, w, layer);
  const T = opts.context, B = opts.tokens.length / T, H = model.cfg.nHeads, F = w.dSae;
  if (!Number.isInteger(B) || B < 1) throw new AttentionSaeError(`tokens (${opts.tokens.length}) are not whole windows of ${T}`);
  const cap = captureAttention(model, layer, opts.tokens, B, T);
  const rowsOk: number[] = [];
  for (let r = 0; r < B * T; r++) if (opts.bosId == null || opts.tokens[r] !== opts.bosId) rowsOk.push(r);
  const d = w.dIn;
  const x = new Float32Array(rowsOk.length * d);
  rowsOk.forEach((r, i) => x.set(cap.z.subarray(r * d, (r + 1) * d), i * d));
  const run = runSae(w, x);
  const act = (i: number, f: number): number => {
    const c = run.codes;
    if (c instanceof Float32Array) return c[i * F + f]!;
    for (let j = 0; j < c.k; j++) if (c.indices[i * c.k + j] === f) return c.values[i * c.k + j]!;
    return 0;
  };
  // Densities and max activations.
  const density = new Float32Array(F), maxAct = new Float32Array(F);
  const n = rowsOk.length;
  if (run.codes instanceof Float32Array) {
    for (let i = 0; i < n; i++) for (let f = 0; f < F; f++) {
      const v = run.codes[i * F + f]!;
      if (v !== 0) { density[f]++; if (v > maxAct[f]!) maxAct[f] = v; }
    }
  } else {
    const c = run.codes;
    for (let i = 0; i < n * c.k; i++) {
      const v = c.values[i]!, f = c.indices[i]!;
      if (v !== 0) { density[f]++; if (v > maxAct[f]!) maxAct[f] = v; }
    }
  }
  for (let f = 0; f < F; f++) density[f] /= Math.max(1, n);
  const shares = decoderHeadShares(w, H);
  const latentsPerHead = new Int32Array(H), liveLatentsPerHead = new Int32Array(H);
  for (let f = 0; f < F; f++) {
    latentsPerHead[shares.dominant[f]!]++;
    if (density[f]! > 0) liveLatentsPerHead[shares.dominant[f]!]++;
  }
  let chosen = opts.latents ? [...opts.latents] : null;
  if (chosen) for (const f of chosen) if (!(Number.isInteger(f) && f >= 0 && f < F)) throw new AttentionSaeError(`latent ${f} is not a latent of the SAE (0..${F - 1})`);
  if (!chosen) chosen = Array.from({ length: F }, (_, f) => f).filter((f) => maxAct[f]! > 0).sort((a, b) => maxAct[b]! - maxAct[a]! || a - b).slice(0, opts.topLatents ?? 8);
  const nEx = opts.examples ?? 5, nSrc = opts.sources ?? 5;
  const latents: AttentionLatentReport[] = chosen.map((f) => {
    const cand: { i: number; v: number }[] = [];
    for (let i = 0; i < n; i++) {
      const v = act(i, f);
      if (v > 0) cand.push({ i, v });
    }
    cand.sort((a, b) => b.v - a.v || a.i - b.i);
    const tokenSum = new Map<number, { attribution: number; count: number }>();
    const examples = cand.slice(0, nEx).map(({ i, v }) => {
      const row = rowsOk[i]!, b = Math.floor(row / T), t = row % T;
      const src = sourceAttribution(w, cap, b, t, f);
      const order = Array.from({ length: t + 1 }, (_, s) => s).sort((p, q) => src[q]! - src[p]! || p - q);
      for (let s = 0; s <= t; s++) {
        const tok = opts.tokens[b * T + s]!;
        const e = tokenSum.get(tok) ?? { attribution: 0, count: 0 };
        e.attribution += src[s]!;
        e.count++;
        tokenSum.set(tok, e);
      }
      return {
        window: b, position: t, activation: v, preActivation: preActivation(w, cap, row, f),
        heads: Array.from(headAttribution(w, cap, row, f)),
        sources: order.slice(0, nSrc).map((s) => ({ position: s, token: opts.tokens[b * T + s]!, attribution: src[s]! })),
      };
    });
    const topSourceTokens = [...tokenSum.entries()].map(([token, e]) => ({ token, ...e })).sort((a, b) => b.attribution - a.attribution || a.token - b.token).slice(0, 10);
    return {
      latent: f, density: density[f]!, maxShare: shares.maxShare[f]!, dominantHead: shares.dominant[f]!,
      shares: Array.from(shares.shares.subarray(f * H, (f + 1) * H)), examples, topSourceTokens,
    };
  });
  return { layer, heads: H, shares, density, latentsPerHead, liveLatentsPerHead, rows: n, latents };
}
