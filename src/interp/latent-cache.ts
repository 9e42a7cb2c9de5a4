/**
 * Latent cache: run text through a language model and an SAE spliced-in-for-reading at one hook,
 * store every nonzero latent activation sparsely, then summarise every latent for dashboards and
 * automated interpretability (delphi's cache, Paulo et al.).
 *
 * Folder layout (`out/`):
 *   manifest.json       format 'aelab-latent-cache', version 1: model {path, format, hash}, sae {path,
 *                       hash, arch, d_in, d_sae, k}, hook, context, source, include_bos, bos_id,
 *                       separator_id, tokens (requested positions), windows, rows (stored positions),
 *                       entries (nonzero activations), shard_entries, shards [{file, windows, rows,
 *                       entries}], complete, summarized, summary settings, created, updated.
 *   shard_00000.safetensors … windows [w0, w1) of the text:
 *       tokens      I32 [windows, context]   the windows' token ids (each window stored once)
 *       locations   I32 [entries, 3]         (sequence = global window index, position, latent)
 *       activations F16 [entries]            the latent's activation there (> 0)
 *     entries are in (sequence, position) order. BOS positions (window starts, document separators)
 *     are not encoded unless include_bos.
 *   vocab.json          decodeToken(id) for every id, so readers need no tokenizer.
 *   latents.jsonl       one summary per latent (written by the summary pass, see below).
 *
 * Windows come from lm/harvest.ts's textWindows (the same deterministic cut as `aelab harvest`).
 *
 * Streaming and memory: a batch of windows goes through the model (the pass stops at the hook), the
 * SAE encoder runs on its rows and only the nonzero (row, latent, value) triples are kept; a shard is
 * written when it holds `shardEntries` entries. Peak memory is one batch's dense codes
 * [batch·context, d_sae] plus one shard's entries plus O(d_sae · examples) summary state; it does
 * not grow with the number of tokens.
 *
 * Crash safety and resume (as lm/harvest.ts): shards and the manifest are written atomically, the
 * manifest after each shard. A non-empty folder that is not a latent cache is refused; an existing
 * cache is refused unless `resume`, which requires the same model hash, SAE hash, hook, context,
 * source and include_bos (a cache of another model is refused naming the differing field), drops
 * shard files the manifest does not list, skips the windows already written and continues. Nothing
 * is overwritten.
 *
 * Summary (summarizeLatentCache; three passes over the shards, O(d_sae · examples) memory): windows
 * are cut into example blocks of `exampleLength` positions; a block is "active" for a latent when
 * the latent fires at one of its positions, and its value is the block maximum. Per latent:
 *   density      active positions / stored positions; mean / max activation over active positions
 *   histogram    counts of its activations in `histogramBins` equal bins over (0, max]
 *   top          the `top` blocks with the largest maxima (ties: earlier block first)
 *   quantiles    `quantiles` groups of active blocks by block maximum (approximate quantiles from a
 *                256-bin histogram of block maxima), `perQuantile` blocks sampled uniformly from each
 *                (reservoir sampling, seeded), top blocks excluded; lowest quantile first
 *   random       `random` blocks drawn uniformly (seeded) among blocks where the latent never fires
 *   logits       W_dec[f] mapped into the residual stream (identity for residual-width hooks, W_O for
 *                attn.hook_z, W_out for mlp.hook_post; ln1/ln2 outputs and q/k/v/mlp.hook_pre: none) times W_U, without the final
 *                norm: the `logitTokens` most promoted and most suppressed tokens (null for other hooks)
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fromBuffer, intTensor, noGrad, scope, type Tensor } from '../core/tensor.js';
import { linear } from '../core/ops/linalg.js';
import { topk } from '../core/ops/indexing.js';
import { writeFileAtomic } from '../core/io/fsutil.js';
import { openSafetensors, writeSafetensors } from '../core/io/safetensors.js';
import { documentSeparator, textWindows, type HarvestDocument, type HarvestModelInfo } from '../lm/harvest.js';
import { hookRowWidth, hookLayer } from '../lm/hooks.js';
import { hashFiles } from '../lm/load.js';
import type { Transformer } from '../lm/transformer.js';
import type { Tokenizer } from '../lm/tokenizer/types.js';
import type { SaeWeights } from '../sae/interop.js';

export const LATENT_CACHE_FORMAT = 'aelab-latent-cache';
export const LATENT_CACHE_VERSION = 1;

export class LatentCacheError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LatentCacheError';
  }
}

export interface LatentSummarySettings {
  /** Positions per example block (default 16). */
  exampleLength: number;
  /** Top blocks kept per latent (default 20). */
  top: number;
  /** Quantile groups of active blocks (default 5). */
  quantiles: number;
  /** Blocks sampled per quantile (default 4). */
  perQuantile: number;
  /** Non-activating blocks per latent (default 10). */
  random: number;
  /** Histogram bins over (0, max] (default 20). */
  histogramBins: number;
  /** Promoted / suppressed tokens of the logit effects (default 10). */
  logitTokens: number;
  /** Seed of the samplers (default 0). */
  seed: number;
}

export const DEFAULT_SUMMARY: LatentSummarySettings = { exampleLength: 16, top: 20, quantiles: 5, perQuantile: 4, random: 10, histogramBins: 20, logitTokens: 10, seed: 0 };

export interface SaeInfo {
  path: string;
  /** sha256 of the SAE's weight files (hashFiles). */
  hash: string;
}

export interface LatentCacheShard {
  file: string;
  windows: [number, number];
  rows: number;
  entries: number;
}

export interface LatentCacheManifest {
  format: string;
  version: number;
  model: HarvestModelInfo;
  sae: SaeInfo & { arch: string; d_in: number; d_sae: number; k: number | null };
  hook: string;
  context: number;
  source: string;
  include_bos: boolean;
  bos_id: number | null;
  separator_id: number | null;
  tokens: number;
  windows: number;
  rows: number;
  entries: number;
  shard_entries: number;
  shards: LatentCacheShard[];
  complete: boolean;
  text_exhausted: boolean;
  summarized: boolean;
  summary: LatentSummarySettings | null;
  created: string;
  updated: string;
}

export interface LatentCacheOptions {
  model: Transformer;
  tokenizer: Tokenizer;
  sae: SaeWeights;
  hook: string;
  documents: Iterable<HarvestDocument>;
  out: string;
  /** Tokens per window, BOS included. */
  context: number;
  /** Positions to run: ⌈tokens / context⌉ windows. */
  tokens: number;
  /** Windows per forward pass (default 8). */
  batch?: number;
  includeBos?: boolean;
  resume?: boolean;
  /** A shard is written once it holds this many entries (default 2^20). */
  shardEntries?: number;
  /** Stop after this many shards in this call (testing interruptions). */
  maxShards?: number;
  modelInfo: HarvestModelInfo;
  saeInfo: SaeInfo;
  source: string;
  /** Summary settings (the summary pass runs when the cache is complete). */
  summary?: Partial<LatentSummarySettings>;
  onProgress?: (e: LatentCacheEvent) => void;
}

export type LatentCacheEvent =
  | { kind: 'start'; windowsTarget: number; resumedAt: number }
  | { kind: 'batch'; windows: number; windowsTarget: number; entries: number; seconds: number }
  | { kind: 'shard'; file: string; windows: [number, number]; entries: number }
  | { kind: 'summary'; pass: number; passes: number };

export interface LatentCacheResult {
  dir: string;
  windows: number;
  windowsRun: number;
  tokensRun: number;
  rows: number;
  entries: number;
  shards: number;
  complete: boolean;
  summarized: boolean;
  textExhausted: boolean;
  resumedAt: number;
  seconds: number;
}

// ---- SAE encoding to sparse rows ---------------------------------------------------------------

/** Nonzero codes of rows x [N, dIn]: row r's latents are idx[ptr[r]..ptr[r+1]). */
export interface SparseCodes {
  ptr: Int32Array;
  idx: Int32Array;
  val: Float32Array;
}

const encCache = new WeakMap<SaeWeights, { Wenc: Tensor; benc: Tensor }>();

/** The SAE's inference rule on rows x [N, dIn], keeping only nonzero codes (as interp/splice.ts). */
export function encodeSparse(sae: SaeWeights, x: Float32Array): SparseCodes {
  const { dIn: d, dSae: H } = sae;
  const N = x.length / d;
  if (!Number.isInteger(N)) throw new RangeError(`encodeSparse: ${x.length} values are not rows of d_in ${d}`);
  let p = encCache.get(sae);
  if (!p) {
    p = { Wenc: fromBuffer(sae.W_enc, [H, d]).keep(), benc: fromBuffer(sae.b_enc, [H]).keep() };
    encCache.set(sae, p);
  }
  const xs = x.slice();
  if (sae.meta.inputNormalization === 'layer_norm') {
    for (let t = 0; t < N; t++) {
      let m = 0, v = 0;
      for (let j = 0; j < d; j++) m += xs[t * d + j]!;
      m /= d;
      for (let j = 0; j < d; j++) v += (xs[t * d + j]! - m) ** 2;
      const s = Math.sqrt(v / d + 1e-5);
      for (let j = 0; j < d; j++) xs[t * d + j] = (xs[t * d + j]! - m) / s;
    }
  }
  if (sae.applyBDecToInput) for (let t = 0; t < N; t++) for (let j = 0; j < d; j++) xs[t * d + j]! -= sae.b_dec[j]!;
  const P = p;
  return scope(() => noGrad(() => {
    const preT = linear(fromBuffer(xs, [N, d]), P.Wenc, P.benc);
    const pre = preT.f32();
    const ptr = new Int32Array(N + 1);
    if (sae.arch === 'topk') {
      // Latents of a row in topk's order (not sorted by index).
      const k = Math.min(sae.k ?? H, H);
      const ix = topk(preT, k).indices.i32();
      const idx = new Int32Array(N * k), val = new Float32Array(N * k);
      let n = 0;
      for (let t = 0; t < N; t++) {
        for (let j = t * k; j < (t + 1) * k; j++) { const h = ix[j]!, v = pre[t * H + h]!; if (v > 0) { idx[n] = h; val[n++] = v; } }
        ptr[t + 1] = n;
      }
      return { ptr, idx: idx.slice(0, n), val: val.slice(0, n) };
    }
    const idx: number[] = [], val: number[] = [];
    {
      const th = sae.arch === 'relu' ? null : sae.threshold;
      if (sae.arch !== 'relu' && !th) throw new LatentCacheError(`a ${sae.arch} SAE needs a threshold`);
      for (let t = 0; t < N; t++) {
        const o = t * H;
        for (let h = 0; h < H; h++) {
          const v = pre[o + h]!;
          if (v > 0 && (!th || v > th[h]!)) { idx.push(h); val.push(v); }
        }
        ptr[t + 1] = idx.length;
      }
    }
    return { ptr, idx: Int32Array.from(idx), val: Float32Array.from(val) };
  }));
}

// ---- folder ------------------------------------------------------------------------------------

function shardName(i: number): string {
  return `shard_${String(i).padStart(5, '0')}.safetensors`;
}

/** Reads a cache folder's manifest.json (null when absent). */
export function readLatentCacheManifest(dir: string): LatentCacheManifest | null {
  const p = join(dir, 'manifest.json');
  if (!existsSync(p)) return null;
  let m: LatentCacheManifest;
  try {
    m = JSON.parse(readFileSync(p, 'utf8')) as LatentCacheManifest;
  } catch (e) {
    throw new LatentCacheError(`${p}: not valid JSON (${(e as Error).message})`);
  }
  if (m?.format !== LATENT_CACHE_FORMAT) throw new LatentCacheError(`${p}: not an aelab latent cache manifest (format ${JSON.stringify(m?.format)})`);
  return m;
}

function writeJsonAtomic(path: string, v: unknown): void {
  writeFileAtomic(path, [new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n')]);
}

const RESUME_FIELDS = ['hook', 'context', 'source', 'include_bos', 'bos_id', 'separator_id', 'shard_entries'] as const;

/**
 * Refuses a cache built from another model or SAE: `expect` holds the model hash and/or SAE hash
 * (and hook) the caller is about to use.
 */
export function checkLatentCacheIdentity(dir: string, m: LatentCacheManifest, expect: { model?: HarvestModelInfo; sae?: SaeInfo; hook?: string }): void {
  if (expect.model && m.model?.hash !== expect.model.hash) {
    throw new LatentCacheError(`${dir} is a latent cache of another model: field 'model.hash' differs (cache ${String(m.model?.hash).slice(0, 12)}… from ${m.model?.path}, now ${expect.model.hash.slice(0, 12)}… from ${expect.model.path})`);
  }
  if (expect.sae && m.sae?.hash !== expect.sae.hash) {
    throw new LatentCacheError(`${dir} is a latent cache of another SAE: field 'sae.hash' differs (cache ${String(m.sae?.hash).slice(0, 12)}… from ${m.sae?.path}, now ${expect.sae.hash.slice(0, 12)}… from ${expect.sae.path})`);
  }
  if (expect.hook !== undefined && m.hook !== expect.hook) throw new LatentCacheError(`${dir}: field 'hook' differs (cache ${m.hook}, now ${expect.hook})`);
}

// ---- building ----------------------------------------------------------------------------------

class Growable {
  locs = new Int32Array(3 * 4096);
  vals = new Float32Array(4096);
  n = 0;
  push(s: number, p: number, f: number, v: number): void {
    if (this.n === this.vals.length) {
      const l = new Int32Array(this.locs.length * 2); l.set(this.locs); this.locs = l;
      const w = new Float32Array(this.vals.length * 2); w.set(this.vals); this.vals = w;
    }
    const o = this.n * 3;
    this.locs[o] = s; this.locs[o + 1] = p; this.locs[o + 2] = f;
    this.vals[this.n++] = v;
  }
}

/** Builds (or resumes) a latent cache and, when complete, its summary (see the file comment). */
export function buildLatentCache(opts: LatentCacheOptions): LatentCacheResult {
  const t0 = performance.now();
  const { model, tokenizer, sae, hook, context } = opts;
  const cfg = model.cfg;
  let width: number;
  try {
    width = hookRowWidth(cfg, hook);
  } catch (e) {
    throw new LatentCacheError((e as Error).message);
  }
  if (width !== sae.dIn) throw new LatentCacheError(`the SAE ${opts.saeInfo.path} takes d_in = ${sae.dIn}, but hook '${hook}' of ${opts.modelInfo.path} has rows of width ${width}`);
  if (!Number.isInteger(context) || context < 2) throw new LatentCacheError(`context must be an integer ≥ 2, got ${context}`);
  if (context > cfg.nCtx) throw new LatentCacheError(`context ${context} is longer than the model's context of ${cfg.nCtx} tokens`);
  if (!(opts.tokens > 0)) throw new LatentCacheError(`tokens must be positive, got ${opts.tokens}`);
  const batch = opts.batch ?? 8;
  if (!Number.isInteger(batch) || batch < 1) throw new LatentCacheError(`batch must be a positive integer, got ${batch}`);
  const shardEntries = opts.shardEntries ?? 1 << 20;
  if (!Number.isInteger(shardEntries) || shardEntries < 1) throw new LatentCacheError(`shardEntries must be a positive integer, got ${shardEntries}`);
  const includeBos = !!opts.includeBos, bos = tokenizer.bosId;
  const wantWindows = Math.ceil(opts.tokens / context);
  const settings = { ...DEFAULT_SUMMARY, ...opts.summary };
  checkSettings(settings, context);

  const stream = textWindows(opts.documents, tokenizer, context);
  let pending: Int32Array | null = stream.next();
  if (!pending) throw new LatentCacheError(`the text gives no complete window of ${context} tokens (it tokenizes to ${stream.textTokens} tokens); use more text or a smaller context`);

  const out = opts.out, now = new Date().toISOString();
  const want: LatentCacheManifest = {
    format: LATENT_CACHE_FORMAT, version: LATENT_CACHE_VERSION, model: { ...opts.modelInfo },
    sae: { ...opts.saeInfo, arch: sae.arch, d_in: sae.dIn, d_sae: sae.dSae, k: sae.k ?? null }, hook, context, source: opts.source,
    include_bos: includeBos, bos_id: bos, separator_id: documentSeparator(tokenizer), tokens: opts.tokens, windows: 0, rows: 0, entries: 0,
    shard_entries: shardEntries, shards: [], complete: false, text_exhausted: false, summarized: false, summary: null, created: now, updated: now,
  };
  const entries = existsSync(out) ? readdirSync(out).filter((f) => !f.startsWith('.')) : [];
  let m = want;
  if (entries.length) {
    if (!statSync(out).isDirectory()) throw new LatentCacheError(`${out} exists and is not a folder`);
    const old = readLatentCacheManifest(out);
    if (!old) throw new LatentCacheError(`${out} is not empty and holds no latent cache manifest.json; choose an empty or new --out folder`);
    if (!opts.resume) throw new LatentCacheError(`${out} already holds a latent cache (${old.windows} windows, ${old.complete ? 'complete' : 'incomplete'}); pass resume (--resume) to continue it, or choose a new folder`);
    checkLatentCacheIdentity(out, old, { model: want.model, sae: want.sae });
    for (const f of RESUME_FIELDS) {
      if (JSON.stringify(old[f]) !== JSON.stringify(want[f])) throw new LatentCacheError(`${out}: cannot resume: field '${f}' differs (folder ${JSON.stringify(old[f])}, now ${JSON.stringify(want[f])})`);
    }
    if (old.sae.d_sae !== sae.dSae) throw new LatentCacheError(`${out}: cannot resume: field 'sae.d_sae' differs`);
    const listed = new Set(old.shards.map((s) => s.file));
    for (const f of readdirSync(out)) {
      if (listed.has(f)) continue;
      if (/^shard_\d+\.safetensors$/.test(f) || (f.startsWith('.') && f.endsWith('.tmp'))) unlinkSync(join(out, f));
    }
    m = { ...old, tokens: Math.max(old.tokens, opts.tokens) };
    if (old.windows < wantWindows && !old.text_exhausted) { m.complete = false; m.summarized = false; }
  } else mkdirSync(out, { recursive: true });
  writeJsonAtomic(join(out, 'manifest.json'), m);
  if (!existsSync(join(out, 'vocab.json'))) {
    const vocab: string[] = [];
    for (let i = 0; i < tokenizer.vocabSize; i++) vocab.push(tokenizer.decodeToken(i));
    writeJsonAtomic(join(out, 'vocab.json'), vocab);
  }
  const resumedAt = m.windows;
  opts.onProgress?.({ kind: 'start', windowsTarget: wantWindows, resumedAt });
  const nextWindow = (): Int32Array | null => {
    if (pending) { const w = pending; pending = null; return w; }
    return stream.next();
  };
  for (let w = 0; w < resumedAt; w++) {
    if (!nextWindow()) throw new LatentCacheError(`${out}: the text yields fewer windows than the ${resumedAt} already cached; is it the same text?`);
  }

  let window = resumedAt, windowsRun = 0, shardsThisCall = 0, exhausted = m.text_exhausted;
  const buf = new Growable();
  let shardStart = window, shardRows = 0;
  let ctxParts: Int32Array[] = [];
  const seconds = () => (performance.now() - t0) / 1000;
  const flush = () => {
    const nWin = window - shardStart;
    if (nWin === 0) return;
    const file = shardName(m.shards.length);
    const toks = new Int32Array(nWin * context);
    ctxParts.forEach((w, i) => toks.set(w, i * context));
    writeSafetensors(join(out, file), {
      tokens: { dtype: 'int32', shape: [nWin, context], data: toks },
      locations: { dtype: 'int32', shape: [buf.n, 3], data: buf.locs.subarray(0, buf.n * 3) },
      activations: { dtype: 'float32', shape: [buf.n], data: buf.vals.subarray(0, buf.n) },
    }, { format: 'pt', hook, window_start: String(shardStart), window_end: String(window) }, { floatDtype: 'F16' });
    m.shards.push({ file, windows: [shardStart, window], rows: shardRows, entries: buf.n });
    m.windows = window; m.rows += shardRows; m.entries += buf.n; m.updated = new Date().toISOString();
    writeJsonAtomic(join(out, 'manifest.json'), m);
    opts.onProgress?.({ kind: 'shard', file: join(out, file), windows: [shardStart, window], entries: buf.n });
    buf.n = 0; shardRows = 0; ctxParts = []; shardStart = window; shardsThisCall++;
  };
  let stopped = false;
  while (window < wantWindows && !exhausted) {
    if (opts.maxShards !== undefined && shardsThisCall >= opts.maxShards) { stopped = true; break; }
    const ids: Int32Array[] = [];
    while (ids.length < Math.min(batch, wantWindows - window)) {
      const w = nextWindow();
      if (!w) { exhausted = true; break; }
      ids.push(w);
    }
    if (ids.length === 0) break;
    const B = ids.length, grid = new Int32Array(B * context);
    ids.forEach((w, b) => grid.set(w, b * context));
    const acts = scope(() => noGrad(() => model.runWithCache(intTensor(grid, [B, context]), [hook], { logits: false }).cache.get(hook)!.f32().slice()));
    const codes = encodeSparse(sae, acts);
    for (let i = 0; i < B * context; i++) {
      if (!includeBos && bos !== null && grid[i] === bos) continue;
      shardRows++;
      const b = Math.floor(i / context), s = window + b, p = i - b * context;
      for (let j = codes.ptr[i]!; j < codes.ptr[i + 1]!; j++) buf.push(s, p, codes.idx[j]!, codes.val[j]!);
    }
    ctxParts.push(...ids);
    window += B; windowsRun += B;
    opts.onProgress?.({ kind: 'batch', windows: window, windowsTarget: wantWindows, entries: m.entries + buf.n, seconds: seconds() });
    if (buf.n >= shardEntries) flush();
  }
  if (!stopped) flush();
  m.text_exhausted = exhausted;
  m.complete = !stopped;
  m.updated = new Date().toISOString();
  writeJsonAtomic(join(out, 'manifest.json'), m);
  if (m.complete && m.windows === 0) throw new LatentCacheError(`${out}: no windows were cached`);
  if (m.complete) summarizeLatentCache(out, { model, sae }, settings, (pass, passes) => opts.onProgress?.({ kind: 'summary', pass, passes }));
  return {
    dir: out, windows: m.windows, windowsRun, tokensRun: windowsRun * context, rows: m.rows, entries: m.entries, shards: m.shards.length,
    complete: m.complete, summarized: m.complete, textExhausted: exhausted, resumedAt, seconds: seconds(),
  };
}

function checkSettings(s: LatentSummarySettings, context: number): void {
  for (const k of ['exampleLength', 'top', 'quantiles', 'histogramBins'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new LatentCacheError(`summary setting ${k} must be a positive integer, got ${s[k]}`);
  }
  for (const k of ['perQuantile', 'random', 'logitTokens'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 0) throw new LatentCacheError(`summary setting ${k} must be a non-negative integer, got ${s[k]}`);
  }
  if (s.exampleLength > context) throw new LatentCacheError(`exampleLength ${s.exampleLength} exceeds the context of ${context}`);
}

// ---- reading -----------------------------------------------------------------------------------

interface ShardData {
  tokens: Int32Array;
  locs: Int32Array;
  vals: Float32Array;
  w0: number;
}

function readShard(dir: string, s: LatentCacheShard): ShardData {
  const f = openSafetensors(join(dir, s.file));
  try {
    return { tokens: f.read('tokens').data as Int32Array, locs: f.read('locations').data as Int32Array, vals: f.read('activations').data as Float32Array, w0: s.windows[0] };
  } finally {
    f.close();
  }
}

/** An example block reference: window `seq`, positions [start, end), its maximum and where. */
export interface BlockRef {
  seq: number;
  start: number;
  end: number;
  /** Block maximum of the latent (0 for non-activating blocks). */
  max: number;
  /** Position of the maximum (-1 when non-activating). */
  pos: number;
}

export interface LogitEffect {
  id: number;
  token: string;
  value: number;
}

export interface LatentRecord {
  latent: number;
  density: number;
  activePositions: number;
  activeBlocks: number;
  mean: number;
  max: number;
  histogram: number[];
  top: BlockRef[];
  quantiles: BlockRef[][];
  random: BlockRef[];
  logits: { top: LogitEffect[]; bottom: LogitEffect[] } | null;
}

/** A materialised example: tokens and the latent's activation at each. */
export interface CacheExample extends BlockRef {
  tokens: Int32Array;
  acts: Float32Array;
}

/** The residual-stream direction of each latent (null when the hook is not mapped; see the file comment). */
function residualDirections(model: Transformer, sae: SaeWeights, hook: string): Float32Array | null {
  const D = model.cfg.dModel, H = sae.dSae, d = sae.dIn;
  const resid = /(hook_resid_(pre|mid|post)|hook_attn_out|hook_mlp_out|^ln_final\.hook_normalized|^hook_embed|^hook_pos_embed)$/.test(hook);
  if (resid && d === D) return sae.W_dec;
  const l = hookLayer(hook);
  if (l === null) return null;
  let W: Tensor | null = null;
  if (hook.endsWith('attn.hook_z')) W = model.blocks[l]!.attn.W_O;
  else if (hook.endsWith('mlp.hook_post')) W = model.blocks[l]!.mlp.W_out;
  if (!W) return null;
  return scope(() => noGrad(() => linear(fromBuffer(sae.W_dec, [H, d]), W!).f32().slice()));
}

/** Indices of the n largest (sign 1) or smallest (sign −1) values, extreme first, ties by lower index (one pass, O(V·n)). */
function extremes(row: Float32Array, n: number, sign: 1 | -1): number[] {
  const ids: number[] = [];
  const better = (a: number, b: number) => sign * row[a]! > sign * row[b]! || (row[a] === row[b] && a < b);
  for (let j = 0; j < row.length; j++) {
    if (ids.length === n && !better(j, ids[n - 1]!)) continue;
    let i = ids.length === n ? n - 1 : ids.length;
    if (ids.length < n) ids.push(j);
    while (i > 0 && better(j, ids[i - 1]!)) { ids[i] = ids[i - 1]!; i--; }
    ids[i] = j;
  }
  return ids;
}

/** Logit effects of every latent: top / bottom n tokens of W_U · dir (blocks of 256 latents). */
export function logitEffects(model: Transformer, sae: SaeWeights, hook: string, vocab: readonly string[], n: number): ({ top: LogitEffect[]; bottom: LogitEffect[] } | null)[] {
  const H = sae.dSae, D = model.cfg.dModel, V = model.cfg.vocabSize;
  const dirs = n > 0 ? residualDirections(model, sae, hook) : null;
  if (!dirs) return new Array(H).fill(null);
  const WU = model.unembed.W_U ?? model.embed.W_E;
  const res: ({ top: LogitEffect[]; bottom: LogitEffect[] } | null)[] = [];
  const nn = Math.min(n, V);
  for (let h0 = 0; h0 < H; h0 += 256) {
    const m = Math.min(256, H - h0);
    const lg = scope(() => noGrad(() => linear(fromBuffer(dirs.slice(h0 * D, (h0 + m) * D), [m, D]), WU).f32().slice()));
    for (let i = 0; i < m; i++) {
      const row = lg.subarray(i * V, (i + 1) * V);
      const eff = (j: number): LogitEffect => ({ id: j, token: vocab[j] ?? `<${j}>`, value: +row[j]!.toPrecision(5) });
      res.push({ top: extremes(row, nn, 1).map(eff), bottom: extremes(row, nn, -1).map(eff) });
    }
  }
  return res;
}

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Iterates every shard's entries grouped by (window, block): `onEntry` per entry, then `onBlock`
 * once per (latent, block) with the block maximum and its position.
 */
function scanBlocks(dir: string, m: LatentCacheManifest, E: number, H: number, onEntry: (s: number, p: number, f: number, v: number) => void, onBlock: (f: number, blockId: number, max: number, pos: number) => void): void {
  const nb = Math.ceil(m.context / E);
  const bmax = new Float32Array(H), bpos = new Int32Array(H);
  const touched: number[] = [];
  let cur = -1;
  const flushBlock = () => {
    for (const f of touched) { onBlock(f, cur, bmax[f]!, bpos[f]!); bmax[f] = 0; }
    touched.length = 0;
  };
  for (const sh of m.shards) {
    const { locs, vals } = readShard(dir, sh);
    const n = vals.length;
    for (let i = 0; i < n; i++) {
      const s = locs[3 * i]!, p = locs[3 * i + 1]!, f = locs[3 * i + 2]!, v = vals[i]!;
      const blk = s * nb + Math.floor(p / E);
      if (blk !== cur) { flushBlock(); cur = blk; }
      onEntry(s, p, f, v);
      if (v > 0 && bmax[f] === 0) touched.push(f);
      if (v > bmax[f]!) { bmax[f] = v; bpos[f] = p; }
    }
  }
  flushBlock();
}

/**
 * The summary pass (see the file comment): writes latents.jsonl and marks the manifest summarized.
 * `lm` gives the logit effects (model) — without it they are null.
 */
export function summarizeLatentCache(dir: string, lm: { model?: Transformer; sae?: SaeWeights }, settings: Partial<LatentSummarySettings> = {}, onPass?: (pass: number, passes: number) => void): void {
  const m = readLatentCacheManifest(dir);
  if (!m) throw new LatentCacheError(`${dir}: no latent cache manifest.json`);
  const S = { ...DEFAULT_SUMMARY, ...settings };
  checkSettings(S, m.context);
  const H = m.sae.d_sae, E = S.exampleLength, nb = Math.ceil(m.context / E), K = S.top, Q = S.quantiles, R = S.perQuantile;
  const totalBlocks = m.windows * nb;
  const blockRef = (id: number, max: number, pos: number): BlockRef => {
    const seq = Math.floor(id / nb), b = id - seq * nb;
    return { seq, start: b * E, end: Math.min(m.context, (b + 1) * E), max, pos };
  };
  // Pass 1: counts, sums, maxima, top blocks, random-candidate marking.
  const count = new Float64Array(H), sum = new Float64Array(H), max = new Float32Array(H), ablocks = new Float64Array(H);
  const topV = new Float32Array(H * K), topB = new Float64Array(H * K), topP = new Int32Array(H * K), topN = new Int32Array(H);
  const nCand = S.random * 3;
  const cand = new Float64Array(H * nCand), candHit = new Uint8Array(H * nCand);
  const candMap = new Map<number, number[]>();
  if (totalBlocks > 0 && S.random > 0) {
    for (let f = 0; f < H; f++) {
      const r = rng(S.seed * 1000003 + f + 1);
      for (let j = 0; j < nCand; j++) {
        const id = Math.floor(r() * totalBlocks);
        cand[f * nCand + j] = id;
        let l = candMap.get(id);
        if (!l) candMap.set(id, (l = []));
        l.push(f * nCand + j);
      }
    }
  }
  onPass?.(1, 3);
  scanBlocks(dir, m, E, H, (_s, _p, f, v) => {
    count[f]++; sum[f] += v;
    if (v > max[f]!) max[f] = v;
  }, (f, id, v, pos) => {
    ablocks[f]++;
    const l = candMap.get(id);
    if (l) for (const c of l) if (Math.floor(c / nCand) === f) candHit[c] = 1;
    const o = f * K, n = topN[f]!;
    if (n < K) { topV[o + n] = v; topB[o + n] = id; topP[o + n] = pos; topN[f] = n + 1; return; }
    let mi = 0;
    for (let j = 1; j < K; j++) if (topV[o + j]! < topV[o + mi]! || (topV[o + j] === topV[o + mi] && topB[o + j]! > topB[o + mi]!)) mi = j;
    if (v > topV[o + mi]!) { topV[o + mi] = v; topB[o + mi] = id; topP[o + mi] = pos; }
  });
  // Pass 2: token histograms and a fine histogram of block maxima (for the quantile bounds).
  const HB = S.histogramBins, FB = 256;
  const hist = new Float64Array(H * HB), fine = new Float64Array(H * FB);
  onPass?.(2, 3);
  scanBlocks(dir, m, E, H, (_s, _p, f, v) => {
    hist[f * HB + Math.min(HB - 1, Math.floor((v / max[f]!) * HB))]++;
  }, (f, _id, v) => {
    fine[f * FB + Math.min(FB - 1, Math.floor((v / max[f]!) * FB))]++;
  });
  const bounds = new Float32Array(H * Math.max(0, Q - 1));
  for (let f = 0; f < H; f++) {
    let cum = 0, j = 1;
    for (let b = 0; b < FB && j < Q; b++) {
      cum += fine[f * FB + b]!;
      while (j < Q && cum >= (j / Q) * ablocks[f]!) { bounds[f * (Q - 1) + j - 1] = ((b + 1) / FB) * max[f]!; j++; }
    }
  }
  // Pass 3: reservoir samples per quantile (top blocks excluded).
  const seen = new Float64Array(H * Q), res = new Float64Array(H * Q * R), resV = new Float32Array(H * Q * R), resP = new Int32Array(H * Q * R);
  const topSets: Set<number>[] = [];
  for (let f = 0; f < H; f++) topSets.push(new Set(Array.from(topB.subarray(f * K, f * K + topN[f]!))));
  const r3 = rng(S.seed * 7919 + 12345);
  onPass?.(3, 3);
  if (R > 0) {
    scanBlocks(dir, m, E, H, () => {}, (f, id, v, pos) => {
      if (topSets[f]!.has(id)) return;
      let q = 0;
      while (q < Q - 1 && v > bounds[f * (Q - 1) + q]!) q++;
      const c = f * Q + q, n = seen[c]!;
      seen[c] = n + 1;
      let slot = -1;
      if (n < R) slot = n;
      else { const j = Math.floor(r3() * (n + 1)); if (j < R) slot = j; }
      if (slot >= 0) { res[c * R + slot] = id; resV[c * R + slot] = v; resP[c * R + slot] = pos; }
    });
  }
  // Logit effects and the records.
  let vocab: string[] = [];
  try { vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as string[]; } catch { /* ids only */ }
  const logits = lm.model && lm.sae ? logitEffects(lm.model, lm.sae, m.hook, vocab, S.logitTokens) : new Array(H).fill(null);
  const lines: Uint8Array[] = [];
  const enc = new TextEncoder();
  const r4 = (x: number) => +x.toPrecision(5);
  for (let f = 0; f < H; f++) {
    const o = f * K;
    const top = Array.from({ length: topN[f]! }, (_, j) => ({ id: topB[o + j]!, v: topV[o + j]!, p: topP[o + j]! }))
      .sort((a, b) => b.v - a.v || a.id - b.id).map((t) => blockRef(t.id, r4(t.v), t.p));
    const quantiles: BlockRef[][] = [];
    for (let q = 0; q < Q; q++) {
      const c = f * Q + q, n = Math.min(R, seen[c]!);
      quantiles.push(Array.from({ length: n }, (_, j) => ({ id: res[c * R + j]!, v: resV[c * R + j]!, p: resP[c * R + j]! }))
        .sort((a, b) => a.id - b.id).map((t) => blockRef(t.id, r4(t.v), t.p)));
    }
    const random: BlockRef[] = [];
    const used = new Set<number>();
    for (let j = 0; j < nCand && random.length < S.random; j++) {
      const id = cand[f * nCand + j]!;
      if (candHit[f * nCand + j] || used.has(id)) continue;
      used.add(id);
      random.push(blockRef(id, 0, -1));
    }
    const rec: LatentRecord = {
      latent: f, density: m.rows ? count[f]! / m.rows : 0, activePositions: count[f]!, activeBlocks: ablocks[f]!,
      mean: count[f] ? r4(sum[f]! / count[f]!) : 0, max: r4(max[f]!), histogram: Array.from(hist.subarray(f * HB, (f + 1) * HB)),
      top, quantiles, random, logits: logits[f] ?? null,
    };
    lines.push(enc.encode(JSON.stringify(rec) + '\n'));
  }
  writeFileAtomic(join(dir, 'latents.jsonl'), lines);
  m.summarized = true;
  m.summary = S;
  m.updated = new Date().toISOString();
  writeJsonAtomic(join(dir, 'manifest.json'), m);
}

/** A cache folder opened for reading. */
export interface LatentCache {
  dir: string;
  manifest: LatentCacheManifest;
  vocab: string[];
  /** Per-latent summaries (latents.jsonl). */
  records(): LatentRecord[];
  /** Tokens and the latent's activations of example blocks (one scan over the shards they lie in). */
  examples(requests: readonly { latent: number; block: BlockRef }[]): CacheExample[];
  /** Token ids of window `seq`. */
  window(seq: number): Int32Array;
}

/** Opens a summarized cache (errors name the folder and what is missing). */
export function openLatentCache(dir: string): LatentCache {
  const m = readLatentCacheManifest(dir);
  if (!m) throw new LatentCacheError(`${dir}: no latent cache manifest.json (not a folder written by aelab latents cache)`);
  if (!m.summarized || !existsSync(join(dir, 'latents.jsonl'))) throw new LatentCacheError(`${dir}: the latent cache is incomplete (${m.windows} windows; run 'aelab latents cache … --resume' to finish it)`);
  let vocab: string[] = [];
  try { vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as string[]; } catch { /* ids only */ }
  const shardOf = (seq: number) => {
    const i = m.shards.findIndex((s) => seq >= s.windows[0] && seq < s.windows[1]);
    if (i < 0) throw new LatentCacheError(`${dir}: window ${seq} is in no shard`);
    return i;
  };
  let recs: LatentRecord[] | null = null;
  return {
    dir, manifest: m, vocab,
    records() {
      if (!recs) recs = readFileSync(join(dir, 'latents.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LatentRecord);
      return recs;
    },
    window(seq) {
      const sh = m.shards[shardOf(seq)]!;
      const f = openSafetensors(join(dir, sh.file));
      try {
        return (f.readRows('tokens', seq - sh.windows[0], 1).data as Int32Array).slice();
      } finally {
        f.close();
      }
    },
    examples(requests) {
      const out: CacheExample[] = requests.map((r) => ({ ...r.block, tokens: new Int32Array(r.block.end - r.block.start), acts: new Float32Array(r.block.end - r.block.start) }));
      const byShard = new Map<number, number[]>();
      requests.forEach((r, i) => {
        const s = shardOf(r.block.seq);
        let l = byShard.get(s);
        if (!l) byShard.set(s, (l = []));
        l.push(i);
      });
      for (const [si, list] of byShard) {
        const d = readShard(dir, m.shards[si]!);
        const want = new Map<number, number[]>();
        for (const i of list) {
          const r = requests[i]!, ex = out[i]!;
          ex.tokens.set(d.tokens.subarray((r.block.seq - d.w0) * m.context + r.block.start, (r.block.seq - d.w0) * m.context + r.block.end));
          const key = r.block.seq * m.sae.d_sae + r.latent;
          let l = want.get(key);
          if (!l) want.set(key, (l = []));
          l.push(i);
        }
        for (let e = 0; e < d.vals.length; e++) {
          const l = want.get(d.locs[3 * e]! * m.sae.d_sae + d.locs[3 * e + 2]!);
          if (!l) continue;
          const p = d.locs[3 * e + 1]!;
          for (const i of l) { const ex = out[i]!; if (p >= ex.start && p < ex.end) ex.acts[p - ex.start] = d.vals[e]!; }
        }
      }
      return out;
    },
  };
}

/** sha256 of an SAE folder's cfg.json and safetensors files (sorted by name), for the manifest. */
export function saeFolderHash(dir: string): string {
  const files = readdirSync(dir).filter((f) => f === 'cfg.json' || f.endsWith('.safetensors')).sort().map((f) => join(dir, f));
  if (!files.length) throw new LatentCacheError(`${dir}: no cfg.json or .safetensors files (not an SAE folder)`);
  return hashFiles(files);
}
