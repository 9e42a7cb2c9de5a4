/**
 * SAE splicing: replace a hook's activation by a sparse autoencoder's reconstruction inside the
 * forward pass, and measure what that does to the model's next-token predictions.
 *
 * `saeSpliceHook(sae, opts)` is a HookFn for any hook whose activation [B, T, …] flattens to rows of
 * the SAE's d_in (hook_z [B, T, H, dh] → rows of H·dh). Per row x:
 *   hook_sae_input      x (after layer norm when the SAE's cfg says normalize_activations: layer_norm)
 *   hook_sae_acts_pre   (x − b_dec·[apply_b_dec_to_input]) W_enc + b_enc
 *   hook_sae_acts_post  z: ReLU (relu), ReLU of the top k (topk), z·[z > θ] (jumprelu, batchtopk)
 *   hook_sae_recons     x̂ = z W_dec + b_dec (layer norm undone)
 *   hook_sae_error      x − x̂
 *   hook_sae_output     what replaces the activation: x̂, or x̂ + (x − x̂) with `errorTerm`
 * (SAELens's hook names; `record(name, tensor)` receives each as [B, T, width], computed at every
 * position). Positions holding the BOS token keep their clean activation unless `includeBos`
 * (hook_sae_output then holds x there).
 *
 * `evaluateSplice(model, sae, hook, batches)` runs every batch four more times — clean, spliced,
 * zero-ablated (the replaced rows set to 0), spliced with the error term — and reports, as
 * test/fixtures/lm/README.md defines them (PyTorch reference in test/fixtures/lm/splice):
 *   CE = mean over b and t < T−1 of −log softmax(logits[b, t])[tokens[b, t+1]]
 *   ce_score = (CE_zero − CE_spliced) / (CE_zero − CE_clean)   (1 = as good as clean, 0 = as bad as zero)
 *   KL(clean‖other) = Σ_v p_clean (log p_clean − log p_other), mean over all B·T positions
 *   kl_score = (KL_zero − KL_spliced) / KL_zero
 *   FVU = Σ‖x − x̂‖² / Σ‖x − mean(x)‖² and L0 = mean nonzero latents, over the replaced rows.
 * Sums are accumulated in float64 over all batches (so the result does not depend on batching).
 */
import { Tensor, fromBuffer, noGrad, scope, shapeStr } from '../core/tensor.js';
import { linear } from '../core/ops/linalg.js';
import { topk } from '../core/ops/indexing.js';
import type { SaeWeights } from '../sae/interop.js';
import { normaliseTokens, transpose, type TokenNormalization } from '../sae/interop.js';
import { checkHookNames, hookRowWidth, type HookFn } from '../lm/hooks.js';
import type { Transformer } from '../lm/transformer.js';

export const SAE_HOOK_NAMES = ['hook_sae_input', 'hook_sae_acts_pre', 'hook_sae_acts_post', 'hook_sae_recons', 'hook_sae_error', 'hook_sae_output'] as const;
export type SaeHookName = (typeof SAE_HOOK_NAMES)[number];

/** Running sums over replaced rows (FVU, L0). */
export class SpliceStats {
  rows = 0;
  nonzero = 0;
  sqErr = 0;
  private sum: Float64Array;
  private sumSq: Float64Array;
  constructor(readonly d: number) {
    this.sum = new Float64Array(d);
    this.sumSq = new Float64Array(d);
  }
  add(x: Float32Array, xhat: Float32Array, xo: number, nonzero: number): void {
    const d = this.d;
    for (let j = 0; j < d; j++) {
      const v = x[xo + j]!, e = v - xhat[xo + j]!;
      this.sqErr += e * e;
      this.sum[j] += v;
      this.sumSq[j] += v * v;
    }
    this.rows++;
    this.nonzero += nonzero;
  }
  /** Σ‖x − mean‖² over the rows seen. */
  totalVariance(): number {
    let s = 0;
    for (let j = 0; j < this.d; j++) s += this.sumSq[j]! - (this.sum[j]! * this.sum[j]!) / Math.max(1, this.rows);
    return s;
  }
  get fvu(): number {
    return this.sqErr / this.totalVariance();
  }
  get l0(): number {
    return this.nonzero / Math.max(1, this.rows);
  }
}

export interface SpliceHookOptions {
  /** Output x̂ + (x − x̂) (the clean activation up to rounding) instead of x̂. Default false. */
  errorTerm?: boolean;
  /** Replace BOS positions too. Default false: positions holding `bosId` keep the clean activation. */
  includeBos?: boolean;
  /** The BOS token id (null/undefined: no position is treated as BOS). */
  bosId?: number | null;
  /** Receives the SAE-internal activations (SAELens names), each [B, T, width]. */
  record?: (name: SaeHookName, t: Tensor) => void;
  /** Accumulates FVU and L0 over the replaced rows. */
  stats?: SpliceStats;
}

/** Prepared SAE: transposed matrices for float32 matmuls. */
interface Prepared {
  w: SaeWeights;
  Wenc: Tensor; // [dSae, dIn]
  benc: Tensor;
  WdecT: Tensor; // [dIn, dSae]
  /** SAELens's per-token input normalisation, when the SAE has one (undone on the output). */
  tokenNorm: TokenNormalization | null;
}

const prepared = new WeakMap<SaeWeights, Prepared>();

function prepare(w: SaeWeights): Prepared {
  let p = prepared.get(w);
  if (!p) {
    p = {
      w,
      Wenc: fromBuffer(w.W_enc, [w.dSae, w.dIn]).keep(),
      benc: fromBuffer(w.b_enc, [w.dSae]).keep(),
      WdecT: fromBuffer(transpose(w.W_dec, w.dSae, w.dIn), [w.dIn, w.dSae]).keep(),
      tokenNorm: w.meta.inputNormalization === 'layer_norm' || w.meta.inputNormalization === 'constant_norm_rescale' ? w.meta.inputNormalization : null,
    };
    prepared.set(w, p);
  }
  return p;
}

export interface SaeForwardRows {
  /** SAE input rows (normalised per token when the SAE's cfg says so: layer_norm, constant_norm_rescale). */
  input: Float32Array;
  pre: Float32Array;
  acts: Float32Array;
  /** x̂ in the activation's own space. */
  recons: Float32Array;
  /** Nonzero latents per row. */
  nonzero: Int32Array;
}

/** Runs the SAE on rows x [N, dIn] (float32), keeping every intermediate. */
export function saeForwardRows(sae: SaeWeights, x: Float32Array): SaeForwardRows {
  const p = prepare(sae);
  const { dIn: d, dSae: H } = sae;
  const N = x.length / d;
  if (!Number.isInteger(N)) throw new RangeError(`saeForwardRows: ${x.length} values are not rows of d_in ${d}`);
  // The same per-token normalisation as runSae (SAELens's formulas), undone on x̂ below.
  const norm = p.tokenNorm ? normaliseTokens(p.tokenNorm, x, d) : null;
  const input = norm ? norm.x : x.slice();
  const centred = input.slice();
  if (sae.applyBDecToInput) for (let t = 0; t < N; t++) for (let j = 0; j < d; j++) centred[t * d + j]! -= sae.b_dec[j]!;
  return scope(() => noGrad(() => {
    const preT = linear(fromBuffer(centred, [N, d]), p.Wenc, p.benc);
    const pre = preT.f32().slice();
    const acts = new Float32Array(N * H);
    const nonzero = new Int32Array(N);
    const k = sae.arch === 'topk' ? Math.min(sae.k ?? H, H) : 0;
    let tkIdx: Int32Array | null = null;
    if (k > 0) tkIdx = topk(preT, k).indices.i32();
    for (let t = 0; t < N; t++) {
      const o = t * H;
      let nz = 0;
      if (sae.arch === 'relu') {
        for (let h = 0; h < H; h++) { const v = pre[o + h]!; if (v > 0) { acts[o + h] = v; nz++; } }
      } else if (sae.arch === 'topk') {
        for (let i = 0; i < k; i++) { const h = tkIdx![t * k + i]!, v = pre[o + h]!; if (v > 0) { acts[o + h] = v; nz++; } }
      } else if (sae.arch === 'gated') {
        // Gate on the shared direction, magnitude exp(r_mag)·(pre − b_gate) + b_mag (Rajamanoharan et al.).
        if (!sae.r_mag || !sae.b_mag) throw new Error('a gated SAE needs r_mag and b_mag');
        for (let h = 0; h < H; h++) {
          const v = pre[o + h]!;
          const mag = Math.exp(sae.r_mag[h]!) * (v - sae.b_enc[h]!) + sae.b_mag[h]!;
          if (v > 0 && mag > 0) { acts[o + h] = mag; nz++; }
        }
      } else {
        const th = sae.threshold;
        if (!th) throw new Error(`a ${sae.arch} SAE needs a threshold`);
        for (let h = 0; h < H; h++) { const v = pre[o + h]!; if (v > th[h]! && v > 0) { acts[o + h] = v; nz++; } }
      }
      nonzero[t] = nz;
    }
    const rec = linear(fromBuffer(acts, [N, H]), p.WdecT, fromBuffer(sae.b_dec, [d])).f32().slice();
    if (norm) for (let t = 0; t < N; t++) for (let j = 0; j < d; j++) rec[t * d + j] = rec[t * d + j]! * norm.scale[t]! + norm.mean[t]!;
    return { input, pre, acts, recons: rec, nonzero };
  }));
}

/** Which flat positions b·T + t are replaced (not BOS, unless includeBos). */
function replacedMask(tokens: Int32Array, includeBos: boolean, bosId: number | null | undefined): Uint8Array {
  const m = new Uint8Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) m[i] = includeBos || bosId === null || bosId === undefined || tokens[i] !== bosId ? 1 : 0;
  return m;
}

/** A hook that splices the SAE into the forward pass (see the file comment). */
export function saeSpliceHook(sae: SaeWeights, opts: SpliceHookOptions = {}): HookFn {
  const d = sae.dIn;
  return (act, ctx) => {
    const rows = ctx.batch * ctx.seq;
    if (act.size !== rows * d) {
      throw new Error(`SAE splice at '${ctx.name}': the SAE takes rows of d_in ${d}, but the activation ${shapeStr(act.shape)} flattens to rows of ${act.size / rows}`);
    }
    const x = act.f32();
    const r = saeForwardRows(sae, x);
    const keep = replacedMask(ctx.tokens, !!opts.includeBos, opts.bosId);
    const out = new Float32Array(x.length);
    const err = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) err[i] = x[i]! - r.recons[i]!;
    for (let t = 0; t < rows; t++) {
      const o = t * d;
      if (!keep[t]) { out.set(x.subarray(o, o + d), o); continue; }
      if (opts.errorTerm) for (let j = 0; j < d; j++) out[o + j] = r.recons[o + j]! + err[o + j]!;
      else out.set(r.recons.subarray(o, o + d), o);
      opts.stats?.add(x, r.recons, o, r.nonzero[t]!);
    }
    if (opts.record) {
      const B = ctx.batch, T = ctx.seq, H = sae.dSae;
      opts.record('hook_sae_input', fromBuffer(r.input, [B, T, d]));
      opts.record('hook_sae_acts_pre', fromBuffer(r.pre, [B, T, H]));
      opts.record('hook_sae_acts_post', fromBuffer(r.acts, [B, T, H]));
      opts.record('hook_sae_recons', fromBuffer(r.recons, [B, T, d]));
      opts.record('hook_sae_error', fromBuffer(err, [B, T, d]));
      opts.record('hook_sae_output', fromBuffer(out.slice(), [B, T, d]));
    }
    return fromBuffer(out, act.shape);
  };
}

/** Zero ablation of the rows a splice would replace (BOS positions kept unless includeBos). */
export function zeroAblationHook(opts: { includeBos?: boolean; bosId?: number | null } = {}): HookFn {
  return (act, ctx) => {
    const rows = ctx.batch * ctx.seq, w = act.size / rows;
    const keep = replacedMask(ctx.tokens, !!opts.includeBos, opts.bosId);
    const x = act.f32(), out = new Float32Array(x.length);
    for (let t = 0; t < rows; t++) if (!keep[t]) out.set(x.subarray(t * w, (t + 1) * w), t * w);
    return fromBuffer(out, act.shape);
  };
}

export interface SpliceEvalOptions {
  /** Replace BOS positions too (default false). */
  includeBos?: boolean;
  /** BOS id; default the model config's bosId. */
  bosId?: number | null;
  /** Called after each batch with the sequences done so far. */
  onBatch?: (sequences: number, tokens: number) => void;
}

export interface SpliceMetrics {
  hook: string;
  ceClean: number;
  ceSpliced: number;
  ceZeroAblated: number;
  ceSplicedWithError: number;
  ceScore: number;
  /** CE_spliced − CE_clean. */
  ceDelta: number;
  klSpliced: number;
  klZeroAblated: number;
  klScore: number;
  fvu: number;
  l0: number;
  /** Sequences evaluated. */
  sequences: number;
  /** Positions (B·T summed over batches; the KL average's denominator). */
  tokens: number;
  /** Next-token predictions (B·(T−1) summed; the CE average's denominator). */
  predictions: number;
  /** Rows replaced by the SAE (FVU/L0 denominator). */
  replaced: number;
  includeBos: boolean;
}

/** A batch of token windows: a [B, T] int32 tensor, or B equal-length windows. */
export type SpliceBatch = Tensor | readonly Int32Array[];

function batchGrid(b: SpliceBatch): { ids: Int32Array; B: number; T: number } {
  if (b instanceof Tensor) {
    if (b.rank !== 2) throw new Error(`evaluateSplice: a batch tensor must be [B, T], got ${shapeStr(b.shape)}`);
    return { ids: b.i32('evaluateSplice'), B: b.shape[0]!, T: b.shape[1]! };
  }
  if (b.length === 0) throw new Error('evaluateSplice: empty batch');
  const T = b[0]!.length;
  const ids = new Int32Array(b.length * T);
  b.forEach((w, i) => {
    if (w.length !== T) throw new Error(`evaluateSplice: windows of one batch must have equal length (${w.length} vs ${T})`);
    ids.set(w, i * T);
  });
  return { ids, B: b.length, T };
}

/** Per-row log-softmax of logits [N, V] in float64. */
function logSoftmaxRows(l: Float32Array, N: number, V: number): Float64Array {
  const out = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    const o = r * V;
    let m = -Infinity;
    for (let v = 0; v < V; v++) if (l[o + v]! > m) m = l[o + v]!;
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(l[o + v]! - m);
    const lse = m + Math.log(s);
    for (let v = 0; v < V; v++) out[o + v] = l[o + v]! - lse;
  }
  return out;
}

/** Σ over b, t < T−1 of −log p(tokens[b, t+1]). */
function ceSum(lp: Float64Array, ids: Int32Array, B: number, T: number, V: number): number {
  let s = 0;
  for (let b = 0; b < B; b++) for (let t = 0; t < T - 1; t++) s -= lp[(b * T + t) * V + ids[b * T + t + 1]!]!;
  return s;
}

/** Σ over positions of KL(p‖q) from log-probabilities. */
function klSum(lp: Float64Array, lq: Float64Array, N: number, V: number): number {
  let s = 0;
  for (let i = 0; i < N * V; i++) {
    const a = lp[i]!;
    s += Math.exp(a) * (a - lq[i]!);
  }
  return s;
}

/** Checks the hook exists and flattens to the SAE's d_in; throws a clear error otherwise. */
export function checkSpliceHook(model: Transformer, sae: SaeWeights, hook: string): number {
  checkHookNames(model.cfg, [hook]);
  const width = hookRowWidth(model.cfg, hook);
  if (width !== sae.dIn) throw new Error(`the SAE takes d_in = ${sae.dIn}, but hook '${hook}' has rows of width ${width}`);
  return width;
}

/** Splice metrics of `sae` at `hook` over token batches (see the file comment). */
export function evaluateSplice(model: Transformer, sae: SaeWeights, hook: string, batches: Iterable<SpliceBatch>, opts: SpliceEvalOptions = {}): SpliceMetrics {
  checkSpliceHook(model, sae, hook);
  const bosId = opts.bosId === undefined ? model.cfg.bosId : opts.bosId;
  const includeBos = !!opts.includeBos;
  const V = model.cfg.vocabSize;
  const stats = new SpliceStats(sae.dIn);
  const splice = saeSpliceHook(sae, { includeBos, bosId, stats });
  const spliceErr = saeSpliceHook(sae, { includeBos, bosId, errorTerm: true });
  const zero = zeroAblationHook({ includeBos, bosId });
  let ceC = 0, ceS = 0, ceZ = 0, ceE = 0, klS = 0, klZ = 0, positions = 0, predictions = 0, sequences = 0;
  for (const batch of batches) {
    const { ids, B, T } = batchGrid(batch);
    if (T < 2) throw new Error('evaluateSplice: windows need at least 2 tokens');
    const grid = fromBuffer(ids, [B, T]);
    scope(() => noGrad(() => {
      const run = (h: HookFn | null) => logSoftmaxRows(model.forward(grid, h ? { hooks: { [hook]: h } } : {})!.f32(), B * T, V);
      const clean = run(null);
      const sp = run(splice);
      const zr = run(zero);
      const er = run(spliceErr);
      ceC += ceSum(clean, ids, B, T, V);
      ceS += ceSum(sp, ids, B, T, V);
      ceZ += ceSum(zr, ids, B, T, V);
      ceE += ceSum(er, ids, B, T, V);
      klS += klSum(clean, sp, B * T, V);
      klZ += klSum(clean, zr, B * T, V);
    }));
    positions += B * T;
    predictions += B * (T - 1);
    sequences += B;
    opts.onBatch?.(sequences, positions);
  }
  if (sequences === 0) throw new Error('evaluateSplice: no batches');
  const ce = { clean: ceC / predictions, spliced: ceS / predictions, zero: ceZ / predictions, err: ceE / predictions };
  const kl = { spliced: klS / positions, zero: klZ / positions };
  return {
    hook,
    ceClean: ce.clean, ceSpliced: ce.spliced, ceZeroAblated: ce.zero, ceSplicedWithError: ce.err,
    ceScore: (ce.zero - ce.spliced) / (ce.zero - ce.clean), ceDelta: ce.spliced - ce.clean,
    klSpliced: kl.spliced, klZeroAblated: kl.zero, klScore: (kl.zero - kl.spliced) / kl.zero,
    fvu: stats.fvu, l0: stats.l0, sequences, tokens: positions, predictions, replaced: stats.rows, includeBos,
  };
}

/** The metrics as a text table (for the CLI). */
export function formatSpliceTable(m: SpliceMetrics): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : String(v));
  const rows: [string, string][] = [
    ['CE clean', f(m.ceClean)],
    ['CE spliced', `${f(m.ceSpliced)}  (Δ ${m.ceDelta >= 0 ? '+' : ''}${f(m.ceDelta)})`],
    ['CE zero-ablated', f(m.ceZeroAblated)],
    ['CE spliced + error term', f(m.ceSplicedWithError)],
    ['CE loss score', f(m.ceScore)],
    ['KL(clean‖spliced)', f(m.klSpliced)],
    ['KL(clean‖zero-ablated)', f(m.klZeroAblated)],
    ['KL score', f(m.klScore)],
    ['FVU (replaced rows)', f(m.fvu)],
    ['L0 (replaced rows)', m.l0.toFixed(2)],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  return [
    `splice at ${m.hook}: ${m.sequences} sequences, ${m.tokens} positions, ${m.replaced} replaced rows${m.includeBos ? ' (BOS included)' : ' (BOS positions kept clean)'}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`),
  ].join('\n');
}

export function spliceMetricsJson(m: SpliceMetrics): Record<string, unknown> {
  return {
    hook: m.hook, ce_clean: m.ceClean, ce_spliced: m.ceSpliced, ce_zero_ablated: m.ceZeroAblated, ce_spliced_with_error: m.ceSplicedWithError,
    ce_score: m.ceScore, ce_delta: m.ceDelta, kl_spliced: m.klSpliced, kl_zero_ablated: m.klZeroAblated, kl_score: m.klScore,
    fvu: m.fvu, l0: m.l0, sequences: m.sequences, tokens: m.tokens, predictions: m.predictions, n_replaced_positions: m.replaced, include_bos: m.includeBos,
  };
}
