/**
 * Differentiable ops of decoder-only transformers that the generic ops would express only with many
 * intermediate tensors: RMSNorm, rotary position embeddings, tanh-GELU, SwiGLU, the two halves of
 * attention (masked softmax pattern, pattern-weighted values) and a fused row-wise cross-entropy.
 * Each forward and backward is one backend kernel call (types.ts: attnPattern/attnMix and grads,
 * rmsNorm, rotary, geluTanh, swiglu, crossEntropy; threaded and thread-count deterministic on the
 * native backend, plain loops on the JS one); gradients are checked by finite differences and
 * against naive references in test/nn/transformer-ops.test.ts.
 *
 * Layouts (row-major): activations [..., D]; attention q [B, H, T, dh], k/v [B, Hkv, Smax, dh] of
 * which the first S positions are used (Smax > S only for a preallocated KV cache), pattern
 * [B, H, T, S]. Grouped-query attention: query head h reads key/value head ⌊h / (H / Hkv)⌋
 * (consecutive query heads share one kv head, as HF's repeat_kv), without copying k or v.
 */
import { K, Tensor, empty, gradOut, record, shapeStr } from '../core/tensor.js';

function rowsOf(op: string, x: Tensor, D: number): number {
  if (x.rank < 1 || x.shape[x.rank - 1] !== D) throw new Error(`${op}: input ${shapeStr(x.shape)} must end in ${D}`);
  return D === 0 ? 0 : x.size / D;
}

/** RMSNorm: y = x / √(mean(x²) + eps) · w over the last axis. x [..., D], w [D] -> [..., D]. */
export function rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
  if (w.rank !== 1) throw new Error(`rmsNorm: weight must be [D], got ${shapeStr(w.shape)}`);
  const D = w.size, rows = rowsOf('rmsNorm', x, D);
  const X = x.f32('rmsNorm'), W = w.f32('rmsNorm');
  const out = empty(x.shape);
  const r = new Float32Array(rows);
  K().rmsNorm(X, rows, D, W, eps, out.f32(), r);
  return record(out, 'rmsNorm', [x, w], (g) => {
    // dx_j = r w_j g_j − x_j r³/D Σ_k w_k g_k x_k ;  dw_j = Σ_rows g_j x_j r.
    const gx = x.requiresGrad ? gradOut(x.shape) : null;
    const gw = w.requiresGrad ? gradOut(w.shape) : null;
    if (gx || gw) K().rmsNormGrad(X, g.f32(), r, W, rows, D, gx ? gx.f32() : null, gw ? gw.f32() : null);
    return [gx, gw];
  });
}

/**
 * Rotary tables for positions 0..n-1 of a head of width dh, HF's "rotate_half" layout:
 * inv_freq_i = θ^(−2i/dh) (i < dh/2), angle(p, i) = p · inv_freq_i; cos/sin [n, dh/2].
 * Computed in float64 and rounded once.
 */
export function rotaryTables(n: number, dh: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  if (dh % 2 !== 0) throw new Error(`rotary: head width ${dh} must be even`);
  const half = dh / 2;
  const cos = new Float32Array(n * half), sin = new Float32Array(n * half);
  for (let i = 0; i < half; i++) {
    const f = Math.pow(theta, (-2 * i) / dh);
    for (let p = 0; p < n; p++) {
      cos[p * half + i] = Math.cos(p * f);
      sin[p * half + i] = Math.sin(p * f);
    }
  }
  return { cos, sin };
}

/**
 * Rotary position embedding, rotate_half convention: with x = [x₁, x₂] split in halves of dh/2,
 *   y = [x₁ cos − x₂ sin, x₂ cos + x₁ sin]   (angles of the token's position).
 * x [B, T, H, dh]; positions int32 [B·T] (row-major [B, T]); tables from rotaryTables. The backward
 * is the inverse rotation (angle −θ).
 */
export function rotary(x: Tensor, positions: Int32Array, tables: { cos: Float32Array; sin: Float32Array }): Tensor {
  if (x.rank !== 4) throw new Error(`rotary: expects [B, T, H, dh], got ${shapeStr(x.shape)}`);
  const [B, T, H, dh] = x.shape as [number, number, number, number];
  if (positions.length !== B * T) throw new Error(`rotary: ${positions.length} positions for ${B}×${T} tokens`);
  if (dh % 2 !== 0) throw new Error(`rotary: head width ${dh} must be even`);
  const half = dh / 2, maxPos = tables.cos.length / half;
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i]!;
    if (p < 0 || p >= maxPos) throw new Error(`rotary: position ${p} is outside the model's context of ${maxPos}`);
  }
  const out = empty(x.shape);
  K().rotary(x.f32('rotary'), positions, B * T, H, dh, tables.cos, tables.sin, false, out.f32());
  return record(out, 'rotary', [x], (g) => {
    const gx = gradOut(x.shape);
    K().rotary(g.f32(), positions, B * T, H, dh, tables.cos, tables.sin, true, gx.f32());
    return [gx];
  });
}

/** GELU, tanh approximation (GPT-2's "gelu_new"): ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
export function geluTanh(x: Tensor): Tensor {
  const X = x.f32('geluTanh');
  const out = empty(x.shape);
  K().geluTanh(X, out.f32());
  return record(out, 'geluTanh', [x], (g) => {
    const gx = gradOut(x.shape);
    K().geluTanhGrad(X, g.f32(), gx.f32());
    return [gx];
  });
}

/** SwiGLU gate: silu(gate) ⊙ up = gate·σ(gate)·up, elementwise on equal shapes. */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  if (gate.size !== up.size) throw new Error(`swiglu: gate ${shapeStr(gate.shape)} and up ${shapeStr(up.shape)} differ`);
  const A = gate.f32('swiglu'), U = up.f32('swiglu');
  const out = empty(gate.shape);
  K().swiglu(A, U, out.f32());
  return record(out, 'swiglu', [gate, up], (g) => {
    const ga = gate.requiresGrad ? gradOut(gate.shape) : null;
    const gu = up.requiresGrad ? gradOut(up.shape) : null;
    if (ga || gu) K().swigluGrad(A, U, g.f32(), ga ? ga.f32() : null, gu ? gu.f32() : null);
    return [ga, gu];
  });
}

/** Which keys each query may see. */
export interface AttentionMask {
  /** Keys used: the first S positions of k/v (default k.shape[2]). */
  keys?: number;
  /** Absolute position of query row 0 among the keys (KV-cached decoding): query i sees keys j ≤ offset + i. Default S − T. */
  queryOffset?: number;
  /** [B·S] 1 = real token, 0 = padding: padding keys are hidden from every query. A padding query sees only itself. */
  keyMask?: Int32Array | null;
  /** Every query sees every key (encoder self-/cross-attention); excludes queryOffset and keyMask. */
  bidirectional?: boolean;
}

interface AttnDims { B: number; H: number; Hkv: number; T: number; S: number; Smax: number; dh: number; group: number; off: number }

function attnDims(op: string, q: Tensor, kv: Tensor, mask: AttentionMask): AttnDims {
  if (q.rank !== 4 || kv.rank !== 4) throw new Error(`${op}: expects q [B, H, T, dh] and k/v [B, Hkv, S, dh], got ${shapeStr(q.shape)} and ${shapeStr(kv.shape)}`);
  const [B, H, T, dh] = q.shape as [number, number, number, number];
  const [Bk, Hkv, Smax, dk] = kv.shape as [number, number, number, number];
  if (Bk !== B || dk !== dh || H % Hkv !== 0) throw new Error(`${op}: q ${shapeStr(q.shape)} does not fit k/v ${shapeStr(kv.shape)}`);
  const S = mask.keys ?? Smax;
  if (mask.bidirectional) {
    if (mask.queryOffset !== undefined || mask.keyMask) throw new Error(`${op}: bidirectional attention takes no queryOffset or keyMask`);
    if (S > Smax) throw new Error(`${op}: ${S} keys do not fit k/v with ${Smax} positions`);
    // The kernels' visibility rule is s <= off + t: off = S - 1 shows every key to every query.
    return { B, H, Hkv, T, S, Smax, dh, group: H / Hkv, off: S - 1 };
  }
  const off = mask.queryOffset ?? S - T;
  if (S > Smax || off < 0 || off + T > S) throw new Error(`${op}: ${T} queries at offset ${off} do not fit ${S} keys (of ${Smax})`);
  if (mask.keyMask && mask.keyMask.length !== B * S) throw new Error(`${op}: key mask has ${mask.keyMask.length} entries, expected ${B}×${S}`);
  return { B, H, Hkv, T, S, Smax, dh, group: H / Hkv, off };
}

function dimsArray(d: AttnDims, S: number, T: number): Int32Array {
  return Int32Array.of(d.B, d.H, d.Hkv, T, S, d.Smax, d.dh, d.off);
}

/**
 * Causal attention pattern P = softmax(q kᵀ · scale + M) [B, H, T, S], M = −∞ where a key is hidden
 * (later than the query, or padding). Rows of padding queries attend to themselves only, so every
 * row is a finite distribution. One backend call for all (b, h): keys later than a query are not
 * scored, and their entries are exactly 0. The backward assumes the hidden entries stay 0 (a hook
 * that edits the pattern in place must keep them so; one that returns a new tensor is unrestricted).
 */
export function attentionPattern(q: Tensor, k: Tensor, scale: number, mask: AttentionMask = {}): Tensor {
  const d = attnDims('attentionPattern', q, k, mask);
  const { B, H, T, S } = d;
  const Q = q.f32('attentionPattern'), Kd = k.f32('attentionPattern');
  const dims = dimsArray(d, S, T);
  const out = empty([B, H, T, S]), P = out.f32();
  K().attnPattern(Q, Kd, dims, scale, mask.keyMask ?? null, P);
  return record(out, 'attentionPattern', [q, k], (g) => {
    // dScores = P ⊙ (dP − Σ_s dP P) · scale; dq = dScores k, dk = Σ_group dScoresᵀ q.
    const gq = q.requiresGrad ? gradOut(q.shape) : null;
    const gk = k.requiresGrad ? gradOut(k.shape) : null;
    if (gq || gk) K().attnPatternGrad(P, g.f32(), Q, Kd, dims, scale, gq ? gq.f32() : null, gk ? gk.f32() : null);
    return [gq, gk];
  });
}

/** z = P v: pattern [B, H, T, S], v [B, Hkv, Smax, dh] (its first S positions) -> [B, H, T, dh]. */
export function attentionMix(pattern: Tensor, v: Tensor): Tensor {
  if (pattern.rank !== 4) throw new Error(`attentionMix: pattern must be [B, H, T, S], got ${shapeStr(pattern.shape)}`);
  const [B, H, T, S] = pattern.shape as [number, number, number, number];
  if (v.rank !== 4 || v.shape[0] !== B || H % v.shape[1]! !== 0 || S > v.shape[2]!) {
    throw new Error(`attentionMix: pattern ${shapeStr(pattern.shape)} does not fit v ${shapeStr(v.shape)}`);
  }
  const [, Hkv, Smax, dh] = v.shape as [number, number, number, number];
  // off only matters to the attention pattern kernels; the product itself sees every entry of P.
  const dims = Int32Array.of(B, H, Hkv, T, S, Smax, dh, S - T >= 0 ? S - T : 0);
  const P = pattern.f32('attentionMix'), V = v.f32('attentionMix');
  const out = empty([B, H, T, dh]);
  K().attnMix(P, V, dims, out.f32());
  return record(out, 'attentionMix', [pattern, v], (g) => {
    const gp = pattern.requiresGrad ? gradOut(pattern.shape) : null;
    const gv = v.requiresGrad ? gradOut(v.shape) : null;
    if (gp || gv) K().attnMixGrad(P, g.f32(), V, dims, gp ? gp.f32() : null, gv ? gv.f32() : null);
    return [gp, gv];
  });
}

/**
 * Mean cross-entropy of rows of logits [..., V] against integer targets (one per row; −1 = ignored):
 * mean over counted rows of logsumexp(x_r) − x_r[target]. Fused: neither the log-softmax nor its
 * gradient is materialised beyond the one [rows, V] gradient the backward writes.
 * For next-token loss pass targets[b·T + t] = tokens[b·T + t + 1] and −1 at t = T − 1.
 */
export function crossEntropyRows(logits: Tensor, targets: Int32Array): Tensor {
  if (logits.rank < 1) throw new Error('crossEntropyRows: logits need a class axis');
  const V = logits.shape[logits.rank - 1]!, rows = V === 0 ? 0 : logits.size / V;
  if (targets.length !== rows) throw new Error(`crossEntropyRows: ${targets.length} targets for ${rows} rows of ${shapeStr(logits.shape)}`);
  let n = 0;
  for (let i = 0; i < rows; i++) {
    const t = targets[i]!;
    if (t >= V || t < -1 || !Number.isInteger(t)) throw new Error(`crossEntropyRows: target ${t} at row ${i} is outside [-1, ${V})`);
    if (t >= 0) n++;
  }
  if (n === 0) throw new Error('crossEntropyRows: every row is ignored');
  const X = logits.f32('crossEntropyRows');
  // Pooled buffers: a training step reuses them instead of touching fresh pages.
  const loss = empty([rows]).f32(), lse = empty([rows]).f32();
  K().crossEntropy(X, rows, V, targets, loss, lse);
  let s = 0;
  for (let i = 0; i < rows; i++) s += loss[i]!;
  const out = empty([]);
  out.f32()[0] = s / n;
  return record(out, 'crossEntropyRows', [logits], (g) => {
    const gx = gradOut(logits.shape);
    K().crossEntropyGrad(X, lse, targets, rows, V, g.f32()[0]! / n, gx.f32());
    return [gx];
  });
}
