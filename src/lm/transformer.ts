/**
 * A decoder-only transformer on aelab's core, with TransformerLens-style hook points and a KV cache.
 * One implementation serves GPT-2, Llama-family and llama2.c checkpoints and aelab's own LMs: the
 * differences are fields of {@link TransformerConfig}.
 *
 * For tokens [B, T] (and an optional attention mask m [B, T], 1 = real token):
 *   x₀ = W_E[tokens] (+ W_pos[positions] for learned positions)              [B, T, D]
 *   per block l:
 *     h = norm₁(x);  q = h W_Qᵀ + b_Q [B,T,H,dh],  k = h W_Kᵀ + b_K, v = h W_Vᵀ + b_V  [B,T,Hkv,dh]
 *     (rotary: q, k rotated by their positions)
 *     P = softmax(q kᵀ / √dh + causal/padding mask)  [B, H, T, S]
 *     z = P v [B, T, H, dh];   x ← x + z W_Oᵀ + b_O                             (resid_mid)
 *     h = norm₂(x);  x ← x + W_out · act(h)   with act = GELU(h W_inᵀ + b_in) or
 *                                              silu(h W_gateᵀ) ⊙ (h W_inᵀ)   (resid_post)
 *   logits = norm_f(x) W_Uᵀ   (W_U = W_E when tied)                            [B, T, V]
 * Positions are 0..T−1, or with a mask cumsum(m) − 1 clamped at 0 (so left-padded rows start at
 * position 0, as HF does), continuing from the cached length when decoding with a cache.
 *
 * Parameters are found by walking fields and named like TransformerLens (`embed.W_E`,
 * `blocks.0.attn.W_Q`, `blocks.0.mlp.W_out`, `unembed.W_U`, …) but stored in nn.Linear's [out, in]
 * layout: W_Q is [H·dh, D], W_O is [D, H·dh], W_in [dMlp, D], W_out [D, dMlp], W_U [V, D].
 */
import { Tensor, empty, fromBuffer, intTensor, noGrad, scope, shapeStr, zeros } from '../core/tensor.js';
import { add, where } from '../core/ops/elementwise.js';
import { embedding } from '../core/ops/indexing.js';
import { linear } from '../core/ops/linalg.js';
import { layerNorm } from '../core/ops/nn.js';
import { permute, reshape } from '../core/ops/shape.js';
import type { Generator } from '../core/random.js';
import { Module, param } from '../nn/module.js';
import { normal_, ones_, zeros_ } from '../nn/init.js';
import { attentionMix, attentionPattern, crossEntropyRows, geluTanh, rmsNorm, rotary, rotaryTables, swiglu } from '../nn/transformer-ops.js';
import { resolveTransformerConfig, type TransformerConfig, type TransformerConfigInput } from './config.js';
import { checkHookNames, hookNames, type HookContext, type HookFn, type HookMap } from './hooks.js';

function weight(shape: number[]): Tensor {
  return param(zeros(shape));
}

/** LayerNorm (w, b) or RMSNorm (w) over the last axis. */
export class Norm extends Module {
  w: Tensor;
  b: Tensor | null;
  constructor(D: number, readonly kind: 'layernorm' | 'rmsnorm', readonly eps: number) {
    super();
    this.w = param(ones_(empty([D])));
    this.b = kind === 'layernorm' ? weight([D]) : null;
  }
  forward(x: Tensor): Tensor {
    return this.kind === 'rmsnorm' ? rmsNorm(x, this.w, this.eps) : layerNorm(x, this.w, this.b, this.eps);
  }
}

export class Attention extends Module {
  W_Q: Tensor; b_Q: Tensor | null;
  W_K: Tensor; b_K: Tensor | null;
  W_V: Tensor; b_V: Tensor | null;
  W_O: Tensor; b_O: Tensor | null;
  constructor(cfg: TransformerConfig) {
    super();
    const { dModel: D, nHeads: H, nKvHeads: Hkv, dHead: dh, attnBias } = cfg;
    this.W_Q = weight([H * dh, D]); this.b_Q = attnBias ? weight([H * dh]) : null;
    this.W_K = weight([Hkv * dh, D]); this.b_K = attnBias ? weight([Hkv * dh]) : null;
    this.W_V = weight([Hkv * dh, D]); this.b_V = attnBias ? weight([Hkv * dh]) : null;
    this.W_O = weight([D, H * dh]); this.b_O = attnBias ? weight([D]) : null;
  }
}

export class Mlp extends Module {
  W_in: Tensor; b_in: Tensor | null;
  W_gate: Tensor | null;
  W_out: Tensor; b_out: Tensor | null;
  constructor(cfg: TransformerConfig) {
    super();
    const { dModel: D, dMlp: M, mlpBias } = cfg;
    this.W_in = weight([M, D]); this.b_in = mlpBias ? weight([M]) : null;
    this.W_gate = cfg.mlp === 'swiglu' ? weight([M, D]) : null;
    this.W_out = weight([D, M]); this.b_out = mlpBias ? weight([D]) : null;
  }
}

export class Block extends Module {
  ln1: Norm; attn: Attention; ln2: Norm; mlp: Mlp;
  constructor(cfg: TransformerConfig) {
    super();
    this.ln1 = new Norm(cfg.dModel, cfg.norm, cfg.normEps);
    this.attn = new Attention(cfg);
    this.ln2 = new Norm(cfg.dModel, cfg.norm, cfg.normEps);
    this.mlp = new Mlp(cfg);
  }
}

class Embed extends Module {
  W_E: Tensor;
  constructor(V: number, D: number) { super(); this.W_E = weight([V, D]); }
}
class PosEmbed extends Module {
  W_pos: Tensor;
  constructor(n: number, D: number) { super(); this.W_pos = weight([n, D]); }
}
/** The unembedding; null when tied to the token embedding (neither supported family has a bias). */
class Unembed extends Module {
  W_U: Tensor | null;
  constructor(cfg: TransformerConfig) {
    super();
    this.W_U = cfg.tiedEmbeddings ? null : weight([cfg.vocabSize, cfg.dModel]);
  }
}

/**
 * Keys and values of earlier positions for incremental decoding: per layer k, v [B, Hkv, maxLen, dh],
 * of which the first `length` positions are filled.
 */
export interface KVCache {
  readonly batch: number;
  readonly maxLen: number;
  length: number;
  readonly k: Tensor[];
  readonly v: Tensor[];
  /** [B·maxLen] 1 = real token, 0 = padding, for the filled positions. */
  readonly keyMask: Int32Array;
  /** Real tokens seen so far per row (the next token's position). */
  readonly realCount: Int32Array;
}

export interface ForwardOptions {
  /** [B·T] (row-major [B, T]) 1 = real token, 0 = padding. Default: all real. */
  attentionMask?: Int32Array | null;
  hooks?: HookMap;
  /** Continue from these cached keys/values (and append this call's). */
  cache?: KVCache;
  /** Stop right after this hook point ran; forward then returns null (saves the later layers). */
  stopAt?: string;
  /**
   * Layer skipping, indexed by block: `true` skips block l at every position, a mask [B·T] (1 =
   * skip) at those positions only; null/undefined/false runs it. A skipped position leaves block l
   * with its residual unchanged (resid_post = resid_pre). Keys and values of skipped positions are
   * still those of the unchanged residual (so later tokens can attend to them): with a mask the
   * block runs on every position and the skipped rows are put back before `hook_resid_post`; a fully
   * skipped block runs no hooks and, with a KV cache, only writes its keys and values. Unused, the
   * forward pass is unchanged.
   */
  skip?: ReadonlyArray<boolean | Uint8Array | null | undefined>;
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 (default) = greedy argmax. */
  temperature?: number;
  /** Sample among the k most likely tokens (temperature > 0). */
  topK?: number;
  /** Needed when temperature > 0. */
  gen?: Generator;
  /** Stop after emitting the model's EOS token (default true when the config has one). */
  stopAtEos?: boolean;
}

class StopForward {
  constructor(readonly name: string) {}
}

/** Token ids [B, T] of a forward call, with shape checks and a range check against the vocabulary. */
function tokenGrid(tokens: Tensor | Int32Array, vocab: number): { ids: Int32Array; B: number; T: number } {
  let ids: Int32Array, B: number, T: number;
  if (tokens instanceof Int32Array) { ids = tokens; B = 1; T = tokens.length; }
  else {
    ids = tokens.i32('transformer');
    if (tokens.rank === 1) { B = 1; T = tokens.shape[0]!; }
    else if (tokens.rank === 2) { [B, T] = tokens.shape as [number, number]; }
    else throw new Error(`transformer: tokens must be [T] or [B, T], got ${shapeStr(tokens.shape)}`);
  }
  if (T === 0 || B === 0) throw new Error('transformer: no tokens to run');
  for (let i = 0; i < ids.length; i++) {
    const t = ids[i]!;
    if (!(t >= 0 && t < vocab)) throw new Error(`transformer: token id ${t} at position ${i} is outside the vocabulary of ${vocab}`);
  }
  return { ids, B, T };
}

export class Transformer extends Module {
  readonly cfg: TransformerConfig;
  embed: Embed;
  pos_embed: PosEmbed | null;
  blocks: Block[];
  ln_final: Norm;
  unembed: Unembed;
  private readonly rope: { cos: Float32Array; sin: Float32Array } | null;
  private readonly validHooks: Set<string>;

  /** Weights start at zero (to be loaded) unless `gen` is given: then GPT-2's initialisation. */
  constructor(config: TransformerConfigInput | TransformerConfig, gen?: Generator) {
    super();
    const cfg = resolveTransformerConfig(config);
    this.cfg = cfg;
    this.embed = new Embed(cfg.vocabSize, cfg.dModel);
    this.pos_embed = cfg.positional === 'learned' ? new PosEmbed(cfg.nCtx, cfg.dModel) : null;
    this.blocks = Array.from({ length: cfg.nLayers }, () => new Block(cfg));
    this.ln_final = new Norm(cfg.dModel, cfg.norm, cfg.normEps);
    this.unembed = new Unembed(cfg);
    this.rope = cfg.positional === 'rotary' ? rotaryTables(cfg.nCtx, cfg.dHead, cfg.ropeTheta) : null;
    this.validHooks = new Set(hookNames(cfg));
    if (gen) this.initWeights(gen);
  }

  /**
   * GPT-2's initialisation: every matrix N(0, 0.02²), the projections that write into the residual
   * stream (W_O, W_out) N(0, (0.02/√(2L))²), biases 0, norm weights 1.
   */
  initWeights(gen: Generator): void {
    const std = 0.02, resid = 0.02 / Math.sqrt(2 * this.cfg.nLayers);
    for (const [name, t] of this.namedParameters()) {
      if (/\.(w)$/.test(name)) ones_(t);
      else if (/(^|\.)b(_[A-Za-z]+)?$/.test(name)) zeros_(t);
      else normal_(t, gen, 0, /W_O$|W_out$/.test(name) ? resid : std);
    }
  }

  /** The hook names of this model, in forward order. */
  hookNames(): string[] {
    return hookNames(this.cfg);
  }

  /** A cache for decoding up to maxLen positions of B sequences. */
  createCache(batch: number, maxLen = this.cfg.nCtx): KVCache {
    if (maxLen > this.cfg.nCtx) throw new Error(`KV cache of ${maxLen} positions exceeds the model's context of ${this.cfg.nCtx}`);
    const { nLayers, nKvHeads, dHead } = this.cfg;
    const mk = () => Array.from({ length: nLayers }, () => zeros([batch, nKvHeads, maxLen, dHead]).keep());
    return { batch, maxLen, length: 0, k: mk(), v: mk(), keyMask: new Int32Array(batch * maxLen), realCount: new Int32Array(batch) };
  }

  /**
   * Logits [B, T, V] for tokens [T] or [B, T] (int32), running the hooks given. Returns null when
   * `stopAt` ended the pass early.
   */
  forward(tokens: Tensor | Int32Array, opts: ForwardOptions = {}): Tensor | null {
    const cfg = this.cfg;
    const { ids, B, T } = tokenGrid(tokens, cfg.vocabSize);
    const hooks = opts.hooks ?? {};
    for (const name of Object.keys(hooks)) if (!this.validHooks.has(name)) checkHookNames(cfg, [name]);
    if (opts.stopAt !== undefined) checkHookNames(cfg, [opts.stopAt]);
    const skip = opts.skip ? skipPlan(opts.skip, cfg.nLayers, B, T) : null;
    const mask = opts.attentionMask ?? null;
    if (mask && mask.length !== B * T) throw new Error(`transformer: attention mask has ${mask.length} entries for ${B}×${T} tokens`);
    const cache = opts.cache;
    const past = cache ? cache.length : 0;
    if (cache && cache.batch !== B) throw new Error(`transformer: cache holds ${cache.batch} sequences, got ${B}`);
    if (past + T > (cache ? cache.maxLen : cfg.nCtx)) {
      throw new Error(`transformer: ${past + T} positions exceed the model's context of ${cache ? cache.maxLen : cfg.nCtx} tokens`);
    }

    // Positions (and the key mask over all S = past + T keys).
    const positions = new Int32Array(B * T);
    let keyMask: Int32Array | null = null;
    const S = past + T;
    if (mask || (cache && hasPadding(cache, past))) {
      keyMask = new Int32Array(B * S);
      for (let b = 0; b < B; b++) {
        if (cache) for (let s = 0; s < past; s++) keyMask[b * S + s] = cache.keyMask[b * cache.maxLen + s]!;
        for (let t = 0; t < T; t++) keyMask[b * S + past + t] = mask ? (mask[b * T + t] ? 1 : 0) : 1;
      }
    }
    for (let b = 0; b < B; b++) {
      let seen = cache ? cache.realCount[b]! : 0;
      for (let t = 0; t < T; t++) {
        if (mask) {
          if (mask[b * T + t]) seen++;
          positions[b * T + t] = Math.max(0, seen - 1);
        } else positions[b * T + t] = cache ? seen + t : t;
      }
    }
    if (cache) {
      for (let b = 0; b < B; b++) {
        let add = 0;
        for (let t = 0; t < T; t++) {
          const real = mask ? (mask[b * T + t] ? 1 : 0) : 1;
          cache.keyMask[b * cache.maxLen + past + t] = real;
          add += real;
        }
        cache.realCount[b] = cache.realCount[b]! + add;
      }
    }

    const ctxBase = { tokens: ids, batch: B, seq: T, attentionMask: mask };
    const hp = (name: string, x: Tensor, layer: number | null): Tensor => {
      const fns = hooks[name];
      if (fns) {
        const ctx: HookContext = { ...ctxBase, name, layer };
        for (const fn of Array.isArray(fns) ? fns : [fns]) {
          const r = (fn as HookFn)(x, ctx);
          if (r) {
            if (r.size !== x.size || r.rank !== x.rank) throw new Error(`hook '${name}' returned ${shapeStr(r.shape)} for an activation of shape ${shapeStr(x.shape)}`);
            x = r;
          }
        }
      }
      if (opts.stopAt === name) throw new StopForward(name);
      return x;
    };

    try {
      const tokT = intTensor(ids, [B, T]);
      let x = hp('hook_embed', embedding(tokT, this.embed.W_E), null);
      if (this.pos_embed) {
        const pe = hp('hook_pos_embed', embedding(intTensor(positions, [B, T]), this.pos_embed.W_pos), null);
        x = add(x, pe);
      }
      const { nHeads: H, nKvHeads: Hkv, dHead: dh } = cfg;
      const scale = 1 / Math.sqrt(dh);
      for (let l = 0; l < cfg.nLayers; l++) {
        const blk = this.blocks[l]!, a = blk.attn, p = `blocks.${l}`;
        const skipRows = skip ? skip[l]! : null;
        if (skipRows === true) {
          if (cache) this.writeSkippedKv(l, x, positions, past, cache);
          continue;
        }
        x = hp(`${p}.hook_resid_pre`, x, l);
        const xPre = x;
        const h1 = hp(`${p}.ln1.hook_normalized`, blk.ln1.forward(x), l);
        let q = hp(`${p}.attn.hook_q`, reshape(linear(h1, a.W_Q, a.b_Q), [B, T, H, dh]), l);
        let k = hp(`${p}.attn.hook_k`, reshape(linear(h1, a.W_K, a.b_K), [B, T, Hkv, dh]), l);
        const v = hp(`${p}.attn.hook_v`, reshape(linear(h1, a.W_V, a.b_V), [B, T, Hkv, dh]), l);
        if (this.rope) {
          q = hp(`${p}.attn.hook_rot_q`, rotary(q, positions, this.rope), l);
          k = hp(`${p}.attn.hook_rot_k`, rotary(k, positions, this.rope), l);
        }
        const qh = permute(q, [0, 2, 1, 3]);
        let kh = permute(k, [0, 2, 1, 3]), vh = permute(v, [0, 2, 1, 3]);
        if (cache) {
          writeCache(cache.k[l]!, kh, past);
          writeCache(cache.v[l]!, vh, past);
          kh = cache.k[l]!; vh = cache.v[l]!;
        }
        const pattern = hp(`${p}.attn.hook_pattern`, attentionPattern(qh, kh, scale, { keys: S, queryOffset: past, keyMask }), l);
        const z = hp(`${p}.attn.hook_z`, permute(attentionMix(pattern, vh), [0, 2, 1, 3]), l);
        const attnOut = hp(`${p}.hook_attn_out`, linear(reshape(z, [B, T, H * dh]), a.W_O, a.b_O), l);
        x = hp(`${p}.hook_resid_mid`, add(x, attnOut), l);
        const h2 = hp(`${p}.ln2.hook_normalized`, blk.ln2.forward(x), l);
        const m = blk.mlp;
        let post: Tensor;
        if (m.W_gate) {
          const pre = hp(`${p}.mlp.hook_pre`, linear(h2, m.W_gate, null), l);
          post = hp(`${p}.mlp.hook_post`, swiglu(pre, linear(h2, m.W_in, m.b_in)), l);
        } else {
          const pre = hp(`${p}.mlp.hook_pre`, linear(h2, m.W_in, m.b_in), l);
          post = hp(`${p}.mlp.hook_post`, geluTanh(pre), l);
        }
        const mlpOut = hp(`${p}.hook_mlp_out`, linear(post, m.W_out, m.b_out), l);
        x = add(x, mlpOut);
        if (skipRows) x = where(skipRows, xPre, x);
        x = hp(`${p}.hook_resid_post`, x, l);
      }
      const hf = hp('ln_final.hook_normalized', this.ln_final.forward(x), null);
      if (cache) cache.length = past + T;
      return linear(hf, this.unembed.W_U ?? this.embed.W_E);
    } catch (e) {
      if (e instanceof StopForward) {
        if (cache) cache.length = past + T;
        return null;
      }
      throw e;
    }
  }

  /** Keys and values of a fully skipped block (from the unchanged residual x), written to the cache. */
  private writeSkippedKv(l: number, x: Tensor, positions: Int32Array, past: number, cache: KVCache): void {
    const { nKvHeads: Hkv, dHead: dh } = this.cfg;
    const [B, T] = x.shape as [number, number, number];
    const blk = this.blocks[l]!, a = blk.attn;
    const h1 = blk.ln1.forward(x);
    let k = reshape(linear(h1, a.W_K, a.b_K), [B, T, Hkv, dh]);
    if (this.rope) k = rotary(k, positions, this.rope);
    writeCache(cache.k[l]!, permute(k, [0, 2, 1, 3]), past);
    writeCache(cache.v[l]!, permute(reshape(linear(h1, a.W_V, a.b_V), [B, T, Hkv, dh]), [0, 2, 1, 3]), past);
  }

  /**
   * Runs the model and returns the named activations (detached from the graph) with the logits
   * (null when `stopAt` ends the pass early; by default the pass stops after the last requested hook
   * when `logits: false`).
   */
  runWithCache(tokens: Tensor | Int32Array, names: readonly string[], opts: Omit<ForwardOptions, 'hooks'> & { logits?: boolean } = {}): { logits: Tensor | null; cache: Map<string, Tensor> } {
    checkHookNames(this.cfg, names);
    const cache = new Map<string, Tensor>();
    const hooks: HookMap = {};
    for (const n of names) hooks[n] = (a) => { cache.set(n, a.detach()); };
    let stopAt = opts.stopAt;
    if (opts.logits === false && stopAt === undefined && names.length > 0) {
      const order = this.hookNames();
      stopAt = names.reduce((last, n) => (order.indexOf(n) > order.indexOf(last) ? n : last), names[0]!);
    }
    const logits = this.forward(tokens, { ...opts, hooks, stopAt });
    return { logits, cache };
  }

  /** Logits with the given hooks attached (TransformerLens's run_with_hooks). */
  runWithHooks(tokens: Tensor | Int32Array, hooks: HookMap, opts: Omit<ForwardOptions, 'hooks'> = {}): Tensor | null {
    return this.forward(tokens, { ...opts, hooks });
  }

  /**
   * Continues `prompt` (token ids, one sequence) with a KV cache: greedy argmax at temperature 0,
   * otherwise softmax(logits / temperature) sampling, optionally among the top k. Returns the new
   * tokens only.
   */
  generate(prompt: ArrayLike<number>, opts: GenerateOptions): number[] {
    if (prompt.length === 0) throw new Error('generate: the prompt is empty (start it with the BOS token)');
    const temperature = opts.temperature ?? 0;
    if (temperature > 0 && !opts.gen) throw new Error('generate: sampling (temperature > 0) needs a seeded generator (gen)');
    const maxLen = Math.min(this.cfg.nCtx, prompt.length + opts.maxNewTokens);
    if (prompt.length > this.cfg.nCtx) throw new Error(`generate: the prompt has ${prompt.length} tokens, more than the model's context of ${this.cfg.nCtx}`);
    const stopAtEos = opts.stopAtEos ?? this.cfg.eosId !== null;
    const out: number[] = [];
    noGrad(() => {
      const cache = this.createCache(1, maxLen);
      let next: Int32Array = Int32Array.from(prompt);
      while (out.length < opts.maxNewTokens && cache.length + next.length <= maxLen) {
        const tok = scope(() => {
          const logits = this.forward(next, { cache })!;
          const V = this.cfg.vocabSize, row = logits.f32().subarray((next.length - 1) * V, next.length * V);
          return pickToken(row, temperature, opts.topK, opts.gen);
        });
        out.push(tok);
        if (stopAtEos && tok === this.cfg.eosId) break;
        next = Int32Array.of(tok);
      }
    });
    return out;
  }
}

/** Per layer: true (skip every position), a [B, T, 1] mask tensor (skip where 1), or null; validated. */
function skipPlan(skip: ReadonlyArray<boolean | Uint8Array | null | undefined>, L: number, B: number, T: number): (true | Tensor | null)[] {
  const rows = B * T;
  if (skip.length > L) throw new Error(`transformer: skip lists ${skip.length} layers, the model has ${L}`);
  return Array.from({ length: L }, (_, l) => {
    const s = skip[l];
    if (!s) return null;
    if (s === true) return true;
    if (!(s instanceof Uint8Array)) throw new Error(`transformer: skip[${l}] must be a boolean or a Uint8Array mask, got ${typeof s}`);
    if (s.length !== rows) throw new Error(`transformer: skip[${l}] has ${s.length} entries for ${rows} positions (B·T)`);
    let n = 0;
    for (let i = 0; i < rows; i++) if (s[i]) n++;
    if (n === 0) return null;
    if (n === rows) return true;
    const m = new Float32Array(rows);
    for (let i = 0; i < rows; i++) m[i] = s[i] ? 1 : 0;
    return fromBuffer(m, [B, T, 1]);
  });
}

function hasPadding(cache: KVCache, past: number): boolean {
  for (let b = 0; b < cache.batch; b++) for (let s = 0; s < past; s++) if (cache.keyMask[b * cache.maxLen + s] === 0) return true;
  return false;
}

/** Copies x [B, Hkv, T, dh] into positions [past, past + T) of a cache buffer [B, Hkv, maxLen, dh]. */
function writeCache(buf: Tensor, x: Tensor, past: number): void {
  const [B, Hkv, T, dh] = x.shape as [number, number, number, number];
  const maxLen = buf.shape[2]!, src = x.f32(), dst = buf.f32();
  for (let bh = 0; bh < B * Hkv; bh++) dst.set(src.subarray(bh * T * dh, (bh + 1) * T * dh), (bh * maxLen + past) * dh);
}

/** Greedy argmax (first maximum) at temperature 0, else a sample from softmax(row / temperature) over the top k. */
export function pickToken(row: Float32Array, temperature: number, topK: number | undefined, gen: Generator | undefined): number {
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
    return best;
  }
  const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
  const keep = order.slice(0, Math.min(topK ?? row.length, row.length));
  const m = row[keep[0]!]!;
  const w = keep.map((i) => Math.exp((row[i]! - m) / temperature));
  const total = w.reduce((s, v) => s + v, 0);
  const u = gen!.uniform(new Float32Array(1))[0]! * total;
  let acc = 0;
  for (let j = 0; j < keep.length; j++) {
    acc += w[j]!;
    if (u < acc) return keep[j]!;
  }
  return keep[keep.length - 1]!;
}

/**
 * Mean next-token cross-entropy: mean over b and t < T−1 of −log softmax(logits[b, t])[tokens[b, t+1]].
 * logits [B, T, V], tokens [B·T] -> scalar (differentiable in the logits; fused, see crossEntropyRows).
 */
export function nextTokenLoss(logits: Tensor, tokens: Int32Array): Tensor {
  const [B, T] = logits.shape as [number, number, number];
  if (tokens.length !== B * T) throw new Error(`nextTokenLoss: ${tokens.length} tokens for logits ${shapeStr(logits.shape)}`);
  if (B * (T - 1) === 0) throw new Error('nextTokenLoss: sequences of one token have no next token');
  const targets = new Int32Array(B * T).fill(-1);
  for (let b = 0; b < B; b++) targets.set(tokens.subarray(b * T + 1, (b + 1) * T), b * T);
  return crossEntropyRows(logits, targets);
}
