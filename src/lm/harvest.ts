/**
 * Activation harvesting: run text through a language model and write the activations of one or
 * more hook points to safetensors shards that SAE training (`openActivations`, `aelab train sae
 * --data DIR`) reads directly. A library function: it prints nothing and reports progress through
 * `onProgress` events.
 *
 * Text → windows (deterministic, so a resumed harvest sees exactly the same windows):
 *   - every document is encoded on its own (`tokenizer.encode(text)`, no BOS/EOS) and the
 *     documents are concatenated into one token stream, separated by the tokenizer's BOS id (the
 *     llama2.c / TinyStories convention: every document starts with BOS), or by its EOS id when it
 *     has no BOS (GPT-2's `<|endoftext|>` is both), or by nothing when it has neither. Documents
 *     that encode to no tokens are skipped.
 *   - the stream is cut into windows of `context` tokens: when the tokenizer has a BOS id, each
 *     window is BOS followed by the next context − 1 stream tokens (a separator BOS that would
 *     directly follow the window's own BOS is dropped); otherwise the next `context` tokens. A
 *     final partial window is dropped; a text too short for one window is an error.
 *   - `tokens` asks for ⌈tokens / context⌉ windows (fewer when the text runs out first).
 *
 * Windows → rows: batches of windows [B, context] go through `model.runWithCache(…, { logits:
 * false })` (the pass stops after the last requested hook). Each hook's activation is flattened to
 * rows [B·context, width] (`hookRowWidth`: D, H·dh for hook_z/q, dMlp for the MLP hooks). Rows whose
 * token is the BOS id (the window start and document separators) are dropped unless `includeBos`.
 *
 * Output: one folder per hook — `out/` itself for a single hook, `out/<hook name>/` for several
 * (then `out/` holds nothing else). A folder holds `shard_00000.safetensors`, … and `manifest.json`.
 * Each shard holds the rows of a fixed number of consecutive windows (`shardWindows`):
 *   activations F32|F16 [rows, width], tokens I32 [rows] (token at that position), sequence I32
 *   [rows] (global window index), position I32 [rows] (position in its window), contexts I32
 *   [windows, context] (the windows' tokens, for showing text around a row);
 * its safetensors metadata records `window_start`, `window_end`, `hook`, `context`.
 * manifest.json (format `aelab-harvest`, version 1): model {path, format, hash (sha256)}, hook,
 * context, dtype, d (width), rows, windows, tokens (= windows·context positions run), source (text
 * description), include_bos, bos_id, separator_id, shard_windows, shards [{file, rows, windows:
 * [start, end)}], complete, created, updated.
 *
 * Crash safety and resume: shards and the manifest are written atomically (temp file + rename), the
 * manifest after each shard, so a killed harvest leaves folders whose manifests list complete
 * shards. `resume` checks the folder was written with the same configuration (model hash, hook,
 * context, dtype, include_bos, source, shard_windows), removes shard files the manifest does not
 * list (a shard written just before a kill) and stale temp files, re-tokenises the text, skips the
 * windows already written and continues — the final files are identical to an uninterrupted run.
 * The requested `tokens` may grow between runs (a complete harvest is extended). A non-empty folder
 * that is not such a harvest is refused with an error naming the folder and the differing field.
 *
 * Memory: documents are consumed one at a time from the iterable and only one shard's rows (per
 * hook) plus one batch are held, so peak memory does not grow with the number of tokens.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { intTensor, noGrad, scope } from '../core/tensor.js';
import { writeFileAtomic } from '../core/io/fsutil.js';
import { openSafetensors, writeSafetensors } from '../core/io/safetensors.js';
import type { ArrayData } from '../core/io/dtype.js';
import { checkHookNames, hookRowWidth } from './hooks.js';
import type { Transformer } from './transformer.js';
import type { Tokenizer } from './tokenizer/types.js';

export const HARVEST_FORMAT = 'aelab-harvest';
export const HARVEST_VERSION = 1;

export type HarvestDtype = 'f32' | 'f16';

/** A document of the text source: a string or anything with a `text` (e.g. data/text's TextDocument). */
export type HarvestDocument = string | { text: string; name?: string };

export interface HarvestModelInfo {
  path: string;
  format: string;
  /** sha256 of the weights (loadLanguageModel's `hash`). */
  hash: string;
}

export interface HarvestOptions {
  model: Transformer;
  tokenizer: Tokenizer;
  /** Hook names (TransformerLens names; see lm/hooks.ts). */
  hooks: readonly string[];
  /** Documents in a fixed order (streamed: consumed one at a time). */
  documents: Iterable<HarvestDocument>;
  /** Output folder (see the file comment for the layout). */
  out: string;
  /** Tokens per window, BOS included (≤ the model's nCtx). */
  context: number;
  /** Positions to run: ⌈tokens / context⌉ windows. */
  tokens: number;
  /** Windows per forward pass (default 16). */
  batch?: number;
  /** Stored activation type (default 'f32'). */
  dtype?: HarvestDtype;
  /** Keep the rows of BOS positions (default false). */
  includeBos?: boolean;
  /** Continue a harvest in `out` written with the same configuration. */
  resume?: boolean;
  /** Windows per shard; default: as many as fit in `shardBytes` of activations for the widest hook. */
  shardWindows?: number;
  /** Target shard size in bytes when shardWindows is not given (default 128 MiB). */
  shardBytes?: number;
  /** Stop after writing this many shards in this call (testing interruptions); the harvest stays incomplete. */
  maxShards?: number;
  /** Recorded in the manifest and checked on resume. */
  modelInfo: HarvestModelInfo;
  /** Description of the text source, recorded in the manifest and checked on resume. */
  source: string;
  onProgress?: (e: HarvestEvent) => void;
}

export type HarvestEvent =
  | { kind: 'start'; windowsTarget: number; resumedAt: number; shardWindows: number; dirs: Record<string, string> }
  | { kind: 'batch'; windows: number; windowsTarget: number; tokens: number; rows: number; seconds: number }
  | { kind: 'shard'; hook: string; file: string; rows: number; windows: [number, number] };

export interface HarvestShardEntry {
  file: string;
  rows: number;
  windows: [number, number];
}

export interface HarvestManifest {
  format: string;
  version: number;
  model: HarvestModelInfo;
  hook: string;
  context: number;
  dtype: HarvestDtype;
  d: number;
  rows: number;
  windows: number;
  tokens: number;
  source: string;
  include_bos: boolean;
  bos_id: number | null;
  separator_id: number | null;
  shard_windows: number;
  shards: HarvestShardEntry[];
  complete: boolean;
  /** The text ran out before the requested number of windows. */
  text_exhausted: boolean;
  created: string;
  updated: string;
}

export interface HarvestResult {
  /** Folder of each hook. */
  dirs: Record<string, string>;
  /** Windows in the folders now (all runs). */
  windows: number;
  /** Windows run by this call. */
  windowsRun: number;
  /** Positions run by this call (windowsRun · context). */
  tokensRun: number;
  /** Rows per hook in the folders now. */
  rows: Record<string, number>;
  shards: number;
  seconds: number;
  complete: boolean;
  textExhausted: boolean;
  /** First window of this call (> 0 when resumed). */
  resumedAt: number;
}

export class HarvestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HarvestError';
  }
}

// ---- text → windows ---------------------------------------------------------------------------

/** FIFO of token ids over a list of arrays. */
class TokenQueue {
  private parts: Int32Array[] = [];
  private head = 0;
  length = 0;
  push(a: Int32Array): void {
    if (a.length === 0) return;
    this.parts.push(a);
    this.length += a.length;
  }
  peek(): number {
    return this.parts[0]![this.head]!;
  }
  /** Moves n ids into dst at offset o. */
  take(dst: Int32Array, o: number, n: number): void {
    this.length -= n;
    while (n > 0) {
      const p = this.parts[0]!;
      const m = Math.min(n, p.length - this.head);
      dst.set(p.subarray(this.head, this.head + m), o);
      o += m;
      n -= m;
      this.head += m;
      if (this.head === p.length) {
        this.parts.shift();
        this.head = 0;
      }
    }
  }
  drop(): void {
    const one = new Int32Array(1);
    this.take(one, 0, 1);
  }
}

/** The separator between documents (see the file comment). */
export function documentSeparator(tok: Pick<Tokenizer, 'bosId' | 'eosId'>): number | null {
  return tok.bosId ?? tok.eosId ?? null;
}

export interface WindowStream {
  /** Next window of `context` ids, or null when the text ran out. */
  next(): Int32Array | null;
  /** Tokens produced by the tokenizer so far (separators excluded). */
  readonly textTokens: number;
}

/** Deterministic windows over documents (see the file comment). */
export function textWindows(documents: Iterable<HarvestDocument>, tokenizer: Pick<Tokenizer, 'bosId' | 'eosId' | 'encode'>, context: number): WindowStream {
  if (!Number.isInteger(context) || context < 1) throw new HarvestError(`context must be a positive integer, got ${context}`);
  const bos = tokenizer.bosId;
  if (bos !== null && context < 2) throw new HarvestError('context must be at least 2 (BOS + one text token)');
  const sep = documentSeparator(tokenizer);
  const it = documents[Symbol.iterator]();
  const q = new TokenQueue();
  let first = true, done = false, textTokens = 0;
  const fill = (need: number): boolean => {
    while (q.length < need && !done) {
      const r = it.next();
      if (r.done) { done = true; break; }
      const text = typeof r.value === 'string' ? r.value : r.value.text;
      const ids = tokenizer.encode(text);
      if (ids.length === 0) continue;
      textTokens += ids.length;
      if (!first && sep !== null) q.push(Int32Array.of(sep));
      first = false;
      q.push(ids);
    }
    return q.length >= need;
  };
  return {
    get textTokens() { return textTokens; },
    next(): Int32Array | null {
      const w = new Int32Array(context);
      if (bos !== null) {
        w[0] = bos;
        if (!fill(1)) return null;
        if (q.peek() === bos) q.drop();
        if (!fill(context - 1)) return null;
        q.take(w, 1, context - 1);
      } else {
        if (!fill(context)) return null;
        q.take(w, 0, context);
      }
      return w;
    },
  };
}

// ---- folders and manifests --------------------------------------------------------------------

/** Folder of each hook: `out` for one hook, `out/<hook>` for several. */
export function harvestDirs(out: string, hooks: readonly string[]): Record<string, string> {
  const dirs: Record<string, string> = {};
  for (const h of hooks) dirs[h] = hooks.length === 1 ? out : join(out, h);
  return dirs;
}

export function shardName(i: number): string {
  return `shard_${String(i).padStart(5, '0')}.safetensors`;
}

/** Reads a harvest folder's manifest.json (null when absent). */
export function readHarvestManifest(dir: string): HarvestManifest | null {
  const p = join(dir, 'manifest.json');
  if (!existsSync(p)) return null;
  let m: HarvestManifest;
  try {
    m = JSON.parse(readFileSync(p, 'utf8')) as HarvestManifest;
  } catch (e) {
    throw new HarvestError(`${p}: not valid JSON (${(e as Error).message})`);
  }
  if (m?.format !== HARVEST_FORMAT) throw new HarvestError(`${p}: not an aelab harvest manifest (format ${JSON.stringify(m?.format)})`);
  return m;
}

function writeManifest(dir: string, m: HarvestManifest): void {
  writeFileAtomic(join(dir, 'manifest.json'), [new TextEncoder().encode(JSON.stringify(m, null, 2) + '\n')]);
}

function visibleEntries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.')) : [];
}

/** Fields that must agree for a resume. */
const RESUME_FIELDS = ['hook', 'context', 'dtype', 'include_bos', 'source', 'shard_windows', 'bos_id', 'separator_id', 'd'] as const;

/**
 * Checks `dir` is empty/absent (fresh) or a resumable harvest of `want`; returns the manifest to
 * continue (shards past `keepShards` and unlisted shard files removed) or null for a fresh start.
 */
function prepareDir(dir: string, want: HarvestManifest, resume: boolean): HarvestManifest | null {
  const entries = visibleEntries(dir);
  if (entries.length === 0) {
    mkdirSync(dir, { recursive: true });
    return null;
  }
  if (!statSync(dir).isDirectory()) throw new HarvestError(`${dir} exists and is not a folder`);
  const m = readHarvestManifest(dir);
  if (!m) throw new HarvestError(`${dir} is not empty and holds no harvest manifest.json; choose an empty or new --out folder`);
  if (!resume) throw new HarvestError(`${dir} already holds a harvest (${m.windows} windows, ${m.complete ? 'complete' : 'incomplete'}); pass resume (--resume) to continue it, or choose a new folder`);
  if (m.model?.hash !== want.model.hash) throw new HarvestError(`${dir}: cannot resume: field 'model.hash' differs (folder ${m.model?.hash?.slice(0, 12)}… from ${m.model?.path}, now ${want.model.hash.slice(0, 12)}… from ${want.model.path})`);
  for (const f of RESUME_FIELDS) {
    if (JSON.stringify(m[f]) !== JSON.stringify(want[f])) throw new HarvestError(`${dir}: cannot resume: field '${f}' differs (folder ${JSON.stringify(m[f])}, now ${JSON.stringify(want[f])})`);
  }
  return m;
}

/** Drops manifest shards past `n`, and shard / temp files in `dir` the manifest does not list. */
function trimDir(dir: string, m: HarvestManifest, n: number): void {
  m.shards = m.shards.slice(0, n);
  m.rows = m.shards.reduce((s, e) => s + e.rows, 0);
  m.windows = m.shards.length ? m.shards[m.shards.length - 1]!.windows[1] : 0;
  m.tokens = m.windows * m.context;
  const listed = new Set(m.shards.map((s) => s.file));
  for (const f of readdirSync(dir)) {
    if (listed.has(f)) continue;
    if (/^shard_\d+\.safetensors$/.test(f) || (f.startsWith('.') && f.endsWith('.tmp'))) unlinkSync(join(dir, f));
  }
}

// ---- the harvest ------------------------------------------------------------------------------

/** Runs a harvest (see the file comment). */
export function harvestActivations(opts: HarvestOptions): HarvestResult {
  const t0 = performance.now();
  const { model, tokenizer, context } = opts;
  const cfg = model.cfg;
  const hooks = [...opts.hooks];
  if (hooks.length === 0) throw new HarvestError('no hook names given');
  if (new Set(hooks).size !== hooks.length) throw new HarvestError(`a hook is named twice: ${hooks.join(', ')}`);
  checkHookNames(cfg, hooks);
  const widths = hooks.map((h) => hookRowWidth(cfg, h));
  if (!Number.isInteger(context) || context < 2) throw new HarvestError(`context must be an integer ≥ 2, got ${context}`);
  if (context > cfg.nCtx) throw new HarvestError(`context ${context} is longer than the model's context of ${cfg.nCtx} tokens`);
  if (!(opts.tokens > 0)) throw new HarvestError(`tokens must be positive, got ${opts.tokens}`);
  const batch = opts.batch ?? 16;
  if (!Number.isInteger(batch) || batch < 1) throw new HarvestError(`batch must be a positive integer, got ${batch}`);
  const dtype = opts.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') throw new HarvestError(`dtype must be f32 or f16, got ${JSON.stringify(dtype)}`);
  if (tokenizer.vocabSize > cfg.vocabSize) throw new HarvestError(`the tokenizer has ${tokenizer.vocabSize} ids but the model only ${cfg.vocabSize}`);
  const includeBos = !!opts.includeBos;
  const bos = tokenizer.bosId;
  const wantWindows = Math.ceil(opts.tokens / context);
  const maxWidth = Math.max(...widths);
  const shardWindows = opts.shardWindows ?? Math.max(1, Math.floor((opts.shardBytes ?? 128 * 2 ** 20) / (context * maxWidth * (dtype === 'f16' ? 2 : 4))));
  if (!Number.isInteger(shardWindows) || shardWindows < 1) throw new HarvestError(`shardWindows must be a positive integer, got ${shardWindows}`);

  // The text must give at least one window (checked before any folder is touched).
  const stream = textWindows(opts.documents, tokenizer, context);
  let pending: Int32Array | null = stream.next();
  if (!pending) throw new HarvestError(`the text gives no complete window of ${context} tokens (it tokenizes to ${stream.textTokens} tokens); use more text or a smaller context`);

  // Folders: check or create, find the resume point.
  const dirs = harvestDirs(opts.out, hooks);
  if (hooks.length > 1 && existsSync(opts.out)) {
    const names = new Set(hooks);
    const stray = visibleEntries(opts.out).filter((f) => !names.has(f));
    if (stray.length) throw new HarvestError(`${opts.out} is not empty (holds ${stray.slice(0, 3).join(', ')}${stray.length > 3 ? ', …' : ''}); a harvest of several hooks needs an empty or new folder (or --resume of the same harvest)`);
  }
  const now = new Date().toISOString();
  const manifests: HarvestManifest[] = hooks.map((hook, i) => ({
    format: HARVEST_FORMAT, version: HARVEST_VERSION, model: { ...opts.modelInfo }, hook, context, dtype, d: widths[i]!,
    rows: 0, windows: 0, tokens: 0, source: opts.source, include_bos: includeBos, bos_id: bos, separator_id: documentSeparator(tokenizer),
    shard_windows: shardWindows, shards: [], complete: false, text_exhausted: false, created: now, updated: now,
  }));
  const existing = hooks.map((h, i) => prepareDir(dirs[h]!, manifests[i]!, !!opts.resume));
  let doneShards = Math.min(...existing.map((m) => (m ? m.shards.length : 0)));
  for (let i = 0; i < hooks.length; i++) {
    const m = existing[i];
    if (m) {
      trimDir(dirs[hooks[i]!]!, m, doneShards);
      manifests[i]!.created = m.created;
      manifests[i]!.shards = m.shards;
      manifests[i]!.rows = m.rows;
      manifests[i]!.windows = m.windows;
      manifests[i]!.tokens = m.tokens;
    }
  }
  const resumedAt = manifests[0]!.windows;
  for (const m of manifests) if (m.windows !== resumedAt) throw new HarvestError(`${opts.out}: the hook folders hold different window counts; cannot resume`);
  for (const [i, h] of hooks.entries()) writeManifest(dirs[h]!, { ...manifests[i]!, updated: new Date().toISOString() });
  opts.onProgress?.({ kind: 'start', windowsTarget: wantWindows, resumedAt, shardWindows, dirs });

  // Windows, skipping those already written.
  const nextWindow = (): Int32Array | null => {
    if (pending) { const w = pending; pending = null; return w; }
    return stream.next();
  };
  for (let w = 0; w < resumedAt; w++) {
    if (!nextWindow()) throw new HarvestError(`${opts.out}: the text yields fewer windows than the ${resumedAt} already harvested; is it the same text?`);
  }

  const isf16 = dtype === 'f16';
  const bufs = widths.map((d) => new Float32Array(shardWindows * context * d));
  const rowTok = new Int32Array(shardWindows * context);
  const rowSeq = new Int32Array(shardWindows * context);
  const rowPos = new Int32Array(shardWindows * context);
  const ctxBuf = new Int32Array(shardWindows * context);
  let windowsRun = 0, shardsThisCall = 0, exhausted = false;
  let window = resumedAt;
  const seconds = () => (performance.now() - t0) / 1000;
  const finish = (complete: boolean): HarvestResult => {
    for (const [i, h] of hooks.entries()) {
      manifests[i]!.complete = complete;
      manifests[i]!.text_exhausted = exhausted;
      manifests[i]!.updated = new Date().toISOString();
      writeManifest(dirs[h]!, manifests[i]!);
    }
    const rows: Record<string, number> = {};
    hooks.forEach((h, i) => { rows[h] = manifests[i]!.rows; });
    return {
      dirs, windows: manifests[0]!.windows, windowsRun, tokensRun: windowsRun * context, rows, shards: manifests[0]!.shards.length,
      seconds: seconds(), complete, textExhausted: exhausted, resumedAt,
    };
  };

  while (window < wantWindows) {
    if (opts.maxShards !== undefined && shardsThisCall >= opts.maxShards) return finish(false);
    // Fill one shard.
    const shardStart = window;
    const nWant = Math.min(shardWindows, wantWindows - window);
    let nWin = 0, nRows = 0;
    while (nWin < nWant) {
      const ids: Int32Array[] = [];
      while (ids.length < Math.min(batch, nWant - nWin)) {
        const w = nextWindow();
        if (!w) { exhausted = true; break; }
        ids.push(w);
      }
      if (ids.length === 0) break;
      const B = ids.length;
      const grid = new Int32Array(B * context);
      ids.forEach((w, b) => grid.set(w, b * context));
      // Row selection: all positions, or those not holding BOS.
      const keep: number[] = [];
      for (let i = 0; i < B * context; i++) if (includeBos || bos === null || grid[i] !== bos) keep.push(i);
      scope(() => noGrad(() => {
        const { cache } = model.runWithCache(intTensor(grid, [B, context]), hooks, { logits: false });
        hooks.forEach((h, hi) => {
          const d = widths[hi]!;
          const a = cache.get(h)!.f32();
          const dst = bufs[hi]!;
          for (let j = 0; j < keep.length; j++) dst.set(a.subarray(keep[j]! * d, (keep[j]! + 1) * d), (nRows + j) * d);
        });
      }));
      for (let j = 0; j < keep.length; j++) {
        const i = keep[j]!, b = Math.floor(i / context);
        rowTok[nRows + j] = grid[i]!;
        rowSeq[nRows + j] = window + b;
        rowPos[nRows + j] = i - b * context;
      }
      ctxBuf.set(grid, nWin * context);
      nRows += keep.length;
      nWin += B;
      window += B;
      windowsRun += B;
      opts.onProgress?.({ kind: 'batch', windows: window, windowsTarget: wantWindows, tokens: windowsRun * context, rows: manifests[0]!.rows + nRows, seconds: seconds() });
      if (exhausted) break;
    }
    if (nWin === 0) break;
    // Write this shard for every hook, then the manifests.
    const index = manifests[0]!.shards.length;
    const file = shardName(index);
    hooks.forEach((h, hi) => {
      const d = widths[hi]!;
      const tensors: Record<string, ArrayData> = {
        activations: { dtype: 'float32', shape: [nRows, d], data: bufs[hi]!.subarray(0, nRows * d) },
        tokens: { dtype: 'int32', shape: [nRows], data: rowTok.subarray(0, nRows) },
        sequence: { dtype: 'int32', shape: [nRows], data: rowSeq.subarray(0, nRows) },
        position: { dtype: 'int32', shape: [nRows], data: rowPos.subarray(0, nRows) },
        contexts: { dtype: 'int32', shape: [nWin, context], data: ctxBuf.subarray(0, nWin * context) },
      };
      writeSafetensors(join(dirs[h]!, file), tensors,
        { format: 'pt', hook: h, context: String(context), window_start: String(shardStart), window_end: String(shardStart + nWin) },
        { floatDtype: isf16 ? 'F16' : 'F32' });
    });
    for (const [hi, h] of hooks.entries()) {
      const m = manifests[hi]!;
      m.shards.push({ file, rows: nRows, windows: [shardStart, shardStart + nWin] });
      m.rows += nRows;
      m.windows = shardStart + nWin;
      m.tokens = m.windows * context;
      m.updated = new Date().toISOString();
      writeManifest(dirs[h]!, m);
      opts.onProgress?.({ kind: 'shard', hook: h, file: join(dirs[h]!, file), rows: nRows, windows: [shardStart, shardStart + nWin] });
    }
    shardsThisCall++;
    if (exhausted) break;
  }
  return finish(true);
}

// ---- reading rows back with their text ---------------------------------------------------------

/** Where a harvested row came from: its window's tokens and its position in that window. */
export interface RowContext {
  /** Global window index. */
  sequence: number;
  position: number;
  /** The window's token ids [context]. */
  window: Int32Array;
}

/**
 * Row → (window, position) for a harvest folder, reading only the small integer tensors of its
 * shards (sequence, position, contexts), never the activations.
 */
export function openHarvestContexts(dir: string): { rows: number; context(row: number): RowContext } {
  const m = readHarvestManifest(dir);
  if (!m) throw new HarvestError(`${dir}: no harvest manifest.json (not a folder written by aelab harvest)`);
  const starts: number[] = [], seqs: Int32Array[] = [], poss: Int32Array[] = [], ctxs: Int32Array[] = [], w0: number[] = [];
  let rows = 0;
  for (const s of m.shards) {
    const f = openSafetensors(join(dir, s.file));
    try {
      starts.push(rows);
      seqs.push(f.read('sequence').data as Int32Array);
      poss.push(f.read('position').data as Int32Array);
      ctxs.push(f.read('contexts').data as Int32Array);
      w0.push(s.windows[0]);
      rows += s.rows;
    } finally {
      f.close();
    }
  }
  return {
    rows,
    context(row: number): RowContext {
      if (!(row >= 0 && row < rows)) throw new RangeError(`${dir}: row ${row} outside [0, ${rows})`);
      let i = starts.length - 1;
      while (starts[i]! > row) i--;
      const local = row - starts[i]!, sequence = seqs[i]![local]!, c = m.context;
      const wi = sequence - w0[i]!;
      return { sequence, position: poss[i]![local]!, window: ctxs[i]!.subarray(wi * c, (wi + 1) * c) };
    },
  };
}
