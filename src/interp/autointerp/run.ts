/**
 * Explaining and scoring latents of a latent cache (src/interp/latent-cache.ts), delphi style.
 *
 * Folder (`out`):
 *   autointerp.json                         the cache it belongs to {dir, model_hash, sae_hash, hook, d_sae};
 *                                           a folder made from another cache (other model/SAE/hook) is refused
 *   explanations/<label>/latent_00012.json  {latent, label, explanation, tokens?, answer?, error?, usage}
 *   scores/<label>__<simulator>/<scorer>/latent_00012.json
 *                                           {latent, scorer, simulator, metrics, predictions, error?}
 *   scores/<label>__<simulator>/summary.json mean metrics per scorer over the latents scored
 * <label> is the explainer: 'token-list' (offline) or the LLM's model name; <simulator> is 'rule'
 * (offline) or the scoring LLM's model name. Every file is written atomically when its latent is
 * done, so an interrupted run continues where it stopped: latents with a file without `error` are
 * skipped, the others (and latents with no file) are run again.
 *
 * Examples come from the cache's per-latent records: the explainer sees the top blocks (with
 * highlights and 0–9 activation levels); the scorers see the quantile samples (label 1) and the
 * random non-activating blocks (label 0), shuffled (seeded by latent) and sent in batches.
 *   detection  the plain text of each example: does the latent fire in it?
 *   fuzzing    each activating example twice: its active tokens highlighted (label 1) and as many
 *              randomly chosen inactive tokens highlighted (label 0): is the highlight correct?
 * Metrics per latent: balanced accuracy, precision, recall, F1 (metrics.ts), and the AUC of P(1)
 * when the endpoint returns logprobs.
 *
 * The offline baseline needs no LLM: the token-list explainer writes the `tokens` most frequent
 * active tokens of the top blocks as `Fires on the tokens "a", "b", …`, and the rule simulator
 * predicts from the quoted strings of any explanation (or its words when none are quoted):
 * detection fires when an example holds one of them (probability = share of such tokens), fuzzing
 * says "correct" when at least half of the highlighted tokens are among them.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../core/io/fsutil.js';
import { rng, type BlockRef, type LatentCache, type CacheExample, type LatentRecord } from '../latent-cache.js';
import { BudgetExceededError, ChatClient, EndpointError } from './client.js';
import { explainerMessages, highlight, parseExplanation, parsePredictions, predictionProbabilities, scorerMessages } from './prompts.js';
import { scoreMetrics, type ScoreMetrics } from './metrics.js';

export const AUTOINTERP_FORMAT = 'aelab-autointerp';
export type ScorerName = 'detection' | 'fuzzing';
export const SCORERS: readonly ScorerName[] = ['detection', 'fuzzing'];
export const OFFLINE_LABEL = 'token-list';
export const RULE_SIMULATOR = 'rule';

export class AutointerpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AutointerpError';
  }
}

export type AutointerpEvent =
  | { kind: 'latent'; latent: number; status: 'done' | 'skipped' | 'error'; message?: string }
  | { kind: 'stopped'; reason: string };

export interface RunSummary {
  latents: number;
  done: number;
  skipped: number;
  errors: number;
  /** Set when the run stopped early (budget, endpoint down); the results so far are kept. */
  stopped: string | null;
  seconds: number;
  requests: number;
  tokens: number;
}

interface CommonOptions {
  cache: LatentCache;
  latents: readonly number[];
  out: string;
  /** null: offline (token-list explainer / rule simulator). */
  client: ChatClient | null;
  /** Latents worked on at once (default 8; the client limits requests in flight). */
  parallel?: number;
  seed?: number;
  onEvent?: (e: AutointerpEvent) => void;
}

export interface ExplainOptions extends CommonOptions {
  /** Top blocks shown to the explainer (default 10). */
  examples?: number;
  /** Tokens listed by the offline explainer (default 5). */
  tokens?: number;
}

export interface ScoreOptions extends CommonOptions {
  /** Explainer label whose explanations are scored. */
  label: string;
  scorers?: readonly ScorerName[];
  /** Examples per request (default 10). */
  batchSize?: number;
  /** Ask for logprobs (AUC). */
  logprobs?: boolean;
}

export interface ExplanationFile {
  latent: number;
  label: string;
  explanation: string | null;
  tokens?: string[];
  answer?: string;
  error?: string;
}

export interface ScoreFile {
  latent: number;
  scorer: ScorerName;
  label: string;
  simulator: string;
  metrics: ScoreMetrics | null;
  predictions: { label: number; pred: number; prob: number | null }[];
  failedBatches: number;
  error?: string;
}

/** A folder-safe name for a model / label. */
export function safeLabel(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 80) || 'model';
}

export function latentFile(latent: number): string {
  return `latent_${String(latent).padStart(5, '0')}.json`;
}

function writeJson(path: string, v: unknown): void {
  writeFileAtomic(path, [new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n')]);
}

function readJson<T>(path: string): T | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null; // a file cut by a crash counts as missing (atomic writes make this rare)
  }
}

/** Checks (or records) which cache `out` belongs to; refuses another model's / SAE's / hook's cache. */
export function bindAutointerpFolder(out: string, cache: LatentCache): void {
  const m = cache.manifest;
  const want = { format: AUTOINTERP_FORMAT, cache: resolve(cache.dir), model_hash: m.model.hash, sae_hash: m.sae.hash, hook: m.hook, d_sae: m.sae.d_sae };
  const p = join(out, 'autointerp.json');
  if (existsSync(p)) {
    const have = readJson<typeof want>(p);
    if (!have || have.format !== AUTOINTERP_FORMAT) throw new AutointerpError(`${p} is not an aelab autointerp file; choose another --out folder`);
    for (const k of ['model_hash', 'sae_hash', 'hook', 'd_sae'] as const) {
      if (have[k] !== want[k]) throw new AutointerpError(`${out} holds results for another latent cache: field '${k}' differs (${p}: ${JSON.stringify(have[k])} from cache ${have.cache}; --cache ${cache.dir}: ${JSON.stringify(want[k])}); choose another --out folder`);
    }
    return;
  }
  if (existsSync(out) && readdirSync(out).some((f) => !f.startsWith('.'))) throw new AutointerpError(`${out} is not empty and holds no autointerp.json; choose an empty or new --out folder`);
  mkdirSync(out, { recursive: true });
  writeJson(p, want);
}

const tokText = (vocab: readonly string[], id: number) => vocab[id] ?? `<${id}>`;
const norm = (s: string) => s.trim().toLowerCase();

/** Offline explainer: the n most frequent active tokens of the examples (ties: larger summed activation, then first seen). */
export function tokenListExplanation(examples: readonly CacheExample[], vocab: readonly string[], n: number): { explanation: string; tokens: string[] } {
  const count = new Map<string, { c: number; s: number; first: number }>();
  let order = 0;
  for (const e of examples) {
    for (let i = 0; i < e.tokens.length; i++) {
      const v = e.acts[i]!;
      if (!(v > 0)) continue;
      const t = tokText(vocab, e.tokens[i]!);
      const key = norm(t) || t;
      const c = count.get(key) ?? { c: 0, s: 0, first: order++ };
      c.c++; c.s += v;
      count.set(key, c);
    }
  }
  const tokens = [...count.entries()].sort((a, b) => b[1].c - a[1].c || b[1].s - a[1].s || a[1].first - b[1].first).slice(0, n).map(([k]) => k);
  return { explanation: tokens.length ? `Fires on the tokens ${tokens.map((t) => JSON.stringify(t)).join(', ')}` : 'Never fires', tokens };
}

/** The token set the rule simulator matches: quoted strings of the explanation, or its words. */
export function explanationTokens(explanation: string): Set<string> {
  const out = new Set<string>();
  for (const m of explanation.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    let s: string;
    try { s = JSON.parse(`"${m[1]}"`) as string; } catch { s = m[1]!; }
    out.add(norm(s) || s);
  }
  if (!out.size) for (const w of explanation.toLowerCase().split(/[^\p{L}\p{N}]+/u)) if (w.length > 2) out.add(w);
  return out;
}

interface ScorerItem {
  label: number;
  /** Detection: plain text; fuzzing: highlighted text. */
  text: string;
  /** Token strings and which are highlighted (rule simulator). */
  tokens: string[];
  marked: boolean[];
}

function scorerItems(kind: ScorerName, act: readonly CacheExample[], non: readonly CacheExample[], vocab: readonly string[], r: () => number): ScorerItem[] {
  const items: ScorerItem[] = [];
  const toks = (e: CacheExample) => Array.from(e.tokens, (id) => tokText(vocab, id));
  if (kind === 'detection') {
    for (const [list, label] of [[act, 1], [non, 0]] as const) {
      for (const e of list) { const t = toks(e); items.push({ label, text: t.join('').replace(/\n/g, '↵'), tokens: t, marked: t.map(() => false) }); }
    }
  } else {
    for (const e of act) {
      const t = toks(e);
      const on = Array.from(e.acts, (v) => v > 0);
      const k = on.filter(Boolean).length;
      if (!k) continue;
      items.push({ label: 1, text: highlight(t, (i) => on[i]!), tokens: t, marked: on });
      const off = on.map((v, i) => (v ? -1 : i)).filter((i) => i >= 0);
      if (!off.length) continue;
      for (let i = off.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [off[i], off[j]] = [off[j]!, off[i]!]; }
      const pick = new Set(off.slice(0, k));
      const wrong = t.map((_, i) => pick.has(i));
      items.push({ label: 0, text: highlight(t, (i) => wrong[i]!), tokens: t, marked: wrong });
    }
  }
  for (let i = items.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [items[i], items[j]] = [items[j]!, items[i]!]; }
  return items;
}

/** Rule simulator: prediction and score of one item. */
export function simulateRule(kind: ScorerName, set: ReadonlySet<string>, tokens: readonly string[], marked: readonly boolean[]): { pred: number; prob: number } {
  const hit = (t: string) => set.has(norm(t) || t);
  if (kind === 'detection') {
    let h = 0;
    for (const t of tokens) if (hit(t)) h++;
    return { pred: h > 0 ? 1 : 0, prob: tokens.length ? h / tokens.length : 0 };
  }
  let m = 0, h = 0;
  tokens.forEach((t, i) => { if (marked[i]) { m++; if (hit(t)) h++; } });
  const frac = m ? h / m : 0;
  return { pred: frac >= 0.5 ? 1 : 0, prob: frac };
}

/** Runs `work` over latents with at most `parallel` at once; stops scheduling when `stop` is set. */
async function pool(latents: readonly number[], parallel: number, work: (latent: number) => Promise<void>, state: { stop: string | null }): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < latents.length && !state.stop) await work(latents[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, latents.length)) }, runner));
}

/** Fatal endpoint errors stop the run (endpoint down, auth); malformed answers only fail their latent. */
function isFatal(e: unknown): boolean {
  return e instanceof BudgetExceededError || (e instanceof EndpointError && e.reason !== 'malformed');
}

function recordsFor(cache: LatentCache, latents: readonly number[]): LatentRecord[] {
  const recs = cache.records();
  return latents.map((f) => {
    const r = recs[f];
    if (!r || !Number.isInteger(f)) throw new AutointerpError(`latent ${f} is not in ${cache.dir} (it has ${recs.length} latents)`);
    return r;
  });
}

/** Writes explanations (see the file comment). */
export async function explainLatents(o: ExplainOptions): Promise<RunSummary & { label: string }> {
  const t0 = performance.now();
  const label = o.client ? safeLabel(o.client.model) : OFFLINE_LABEL;
  const recs = recordsFor(o.cache, o.latents);
  bindAutointerpFolder(o.out, o.cache);
  const dir = join(o.out, 'explanations', label);
  mkdirSync(dir, { recursive: true });
  const nEx = o.examples ?? 10, vocab = o.cache.vocab;
  const state = { stop: null as string | null };
  const sum: RunSummary = { latents: o.latents.length, done: 0, skipped: 0, errors: 0, stopped: null, seconds: 0, requests: 0, tokens: 0 };
  const todo: LatentRecord[] = [];
  for (const r of recs) {
    const have = readJson<ExplanationFile>(join(dir, latentFile(r.latent)));
    if (have && !have.error) { sum.skipped++; o.onEvent?.({ kind: 'latent', latent: r.latent, status: 'skipped' }); } else todo.push(r);
  }
  // Examples of 64 latents at a time (one scan of the shards they lie in).
  for (let c = 0; c < todo.length && !state.stop; c += 64) {
    const chunk = todo.slice(c, c + 64);
    const reqs: { latent: number; block: BlockRef }[] = [];
    for (const r of chunk) for (const b of r.top.slice(0, nEx)) reqs.push({ latent: r.latent, block: b });
    const exs = o.cache.examples(reqs);
    const per = new Map<number, CacheExample[]>();
    reqs.forEach((q, i) => { const l = per.get(q.latent) ?? []; l.push(exs[i]!); per.set(q.latent, l); });
    await pool(chunk.map((r) => r.latent), o.parallel ?? 8, async (f) => {
      const ex = per.get(f) ?? [];
      const file = join(dir, latentFile(f));
      let res: ExplanationFile;
      if (!o.client) {
        const t = tokenListExplanation(ex, vocab, o.tokens ?? 5);
        res = { latent: f, label, explanation: t.explanation, tokens: t.tokens };
      } else if (!ex.length) {
        res = { latent: f, label, explanation: 'Never fires' };
      } else {
        const texts = ex.map((e) => ({ tokens: Array.from(e.tokens, (id) => tokText(vocab, id)), acts: e.acts }));
        try {
          const a = await o.client.complete(explainerMessages(texts));
          const exp = parseExplanation(a.content);
          res = exp ? { latent: f, label, explanation: exp, answer: a.content } : { latent: f, label, explanation: null, answer: a.content, error: `unparseable answer (no [EXPLANATION]: line): ${a.content.slice(0, 120)}` };
        } catch (e) {
          if (isFatal(e)) { state.stop ??= (e as Error).message; return; }
          res = { latent: f, label, explanation: null, error: (e as Error).message };
        }
      }
      writeJson(file, res);
      if (res.error) sum.errors++; else sum.done++;
      o.onEvent?.({ kind: 'latent', latent: f, status: res.error ? 'error' : 'done', message: res.error });
    }, state);
  }
  if (state.stop) { sum.stopped = state.stop; o.onEvent?.({ kind: 'stopped', reason: state.stop }); }
  sum.seconds = (performance.now() - t0) / 1000;
  sum.requests = o.client?.stats.requests ?? 0;
  sum.tokens = o.client?.tokensUsed ?? 0;
  return { ...sum, label };
}

export interface ScoreSummary extends RunSummary {
  label: string;
  simulator: string;
  /** Mean metrics per scorer over the latents with results (AUC over those with one). */
  means: Record<string, { latents: number; balancedAccuracy: number; precision: number; recall: number; f1: number; auc: number | null }>;
}

/** Scores explanations (see the file comment). */
export async function scoreLatents(o: ScoreOptions): Promise<ScoreSummary> {
  const t0 = performance.now();
  const simulator = o.client ? safeLabel(o.client.model) : RULE_SIMULATOR;
  const scorers = o.scorers ?? SCORERS;
  const recs = recordsFor(o.cache, o.latents);
  bindAutointerpFolder(o.out, o.cache);
  const expDir = join(o.out, 'explanations', o.label);
  if (!existsSync(expDir)) throw new AutointerpError(`${expDir}: no explanations labelled '${o.label}' (run 'aelab latents explain' first; labels present: ${existsSync(join(o.out, 'explanations')) ? readdirSync(join(o.out, 'explanations')).join(', ') || 'none' : 'none'})`);
  const base = join(o.out, 'scores', `${o.label}__${simulator}`);
  for (const s of scorers) mkdirSync(join(base, s), { recursive: true });
  const bs = o.batchSize ?? 10, seed = o.seed ?? 0, vocab = o.cache.vocab;
  const state = { stop: null as string | null };
  const sum: RunSummary = { latents: o.latents.length, done: 0, skipped: 0, errors: 0, stopped: null, seconds: 0, requests: 0, tokens: 0 };
  const todo: { rec: LatentRecord; exp: string; scorers: ScorerName[] }[] = [];
  for (const r of recs) {
    const e = readJson<ExplanationFile>(join(expDir, latentFile(r.latent)));
    const need = scorers.filter((s) => { const h = readJson<ScoreFile>(join(base, s, latentFile(r.latent))); return !h || !!h.error; });
    if (!e || e.error || e.explanation === null) { sum.errors++; o.onEvent?.({ kind: 'latent', latent: r.latent, status: 'error', message: `no explanation in ${join(expDir, latentFile(r.latent))}` }); continue; }
    if (!need.length) { sum.skipped++; o.onEvent?.({ kind: 'latent', latent: r.latent, status: 'skipped' }); continue; }
    todo.push({ rec: r, exp: e.explanation, scorers: need });
  }
  for (let c = 0; c < todo.length && !state.stop; c += 64) {
    const chunk = todo.slice(c, c + 64);
    const reqs: { latent: number; block: BlockRef; act: boolean }[] = [];
    for (const { rec } of chunk) {
      const act = rec.quantiles.flat();
      for (const b of act.length ? act : rec.top) reqs.push({ latent: rec.latent, block: b, act: true });
      for (const b of rec.random) reqs.push({ latent: rec.latent, block: b, act: false });
    }
    const exs = o.cache.examples(reqs);
    const per = new Map<number, { act: CacheExample[]; non: CacheExample[] }>();
    reqs.forEach((q, i) => {
      const l = per.get(q.latent) ?? { act: [], non: [] };
      (q.act ? l.act : l.non).push(exs[i]!);
      per.set(q.latent, l);
    });
    const jobs = new Map(chunk.map((j) => [j.rec.latent, j]));
    await pool(chunk.map((j) => j.rec.latent), o.parallel ?? 8, async (f) => {
      const job = jobs.get(f)!, ex = per.get(f) ?? { act: [], non: [] };
      let failed = false;
      for (const kind of job.scorers) {
        const items = scorerItems(kind, ex.act, ex.non, vocab, rng(seed * 1000003 + f * 2 + (kind === 'fuzzing' ? 1 : 0)));
        const preds: ScoreFile['predictions'] = [];
        let failedBatches = 0, error: string | undefined;
        if (!o.client) {
          const set = explanationTokens(job.exp);
          for (const it of items) { const s = simulateRule(kind, set, it.tokens, it.marked); preds.push({ label: it.label, pred: s.pred, prob: s.prob }); }
        } else {
          const batches: ScorerItem[][] = [];
          for (let i = 0; i < items.length; i += bs) batches.push(items.slice(i, i + bs));
          const results = await Promise.all(batches.map(async (b) => {
            try {
              const a = await o.client!.complete(scorerMessages(kind, job.exp, b.map((it) => it.text)), { logprobs: o.logprobs });
              const p = parsePredictions(a.content, b.length);
              if (!p) return { err: `unparseable answer (want a list of ${b.length} values 0/1): ${a.content.slice(0, 120)}` };
              return { p, prob: predictionProbabilities(a.logprobs, b.length) };
            } catch (e) {
              if (isFatal(e)) { state.stop ??= (e as Error).message; return { err: (e as Error).message, fatal: true }; }
              return { err: (e as Error).message };
            }
          }));
          if (results.some((r) => 'fatal' in r && r.fatal)) { failed = true; return; }
          const withProb = results.every((r) => !('err' in r) && r.prob);
          results.forEach((r, bi) => {
            if ('err' in r) { failedBatches++; error ??= r.err; return; }
            batches[bi]!.forEach((it, i) => preds.push({ label: it.label, pred: r.p![i]!, prob: withProb ? r.prob![i]! : null }));
          });
        }
        const probs = preds.length && preds.every((p) => p.prob !== null) ? preds.map((p) => p.prob!) : null;
        const metrics = preds.length ? scoreMetrics(preds.map((p) => p.label), preds.map((p) => p.pred), probs) : null;
        if (!items.length) error = undefined;
        const res: ScoreFile = { latent: f, scorer: kind, label: o.label, simulator, metrics, predictions: preds, failedBatches, ...(error ? { error } : {}) };
        writeJson(join(base, kind, latentFile(f)), res);
        if (error) failed = true;
      }
      if (failed) sum.errors++; else sum.done++;
      o.onEvent?.({ kind: 'latent', latent: f, status: failed ? 'error' : 'done' });
    }, state);
  }
  if (state.stop) { sum.stopped = state.stop; o.onEvent?.({ kind: 'stopped', reason: state.stop }); }
  // Means over every latent of this run with a result file.
  const means: ScoreSummary['means'] = {};
  for (const s of scorers) {
    const ms = o.latents.map((f) => readJson<ScoreFile>(join(base, s, latentFile(f)))?.metrics).filter((m): m is ScoreMetrics => !!m);
    const mean = (k: 'balancedAccuracy' | 'precision' | 'recall' | 'f1') => (ms.length ? ms.reduce((a, m) => a + m[k], 0) / ms.length : 0);
    const aucs = ms.map((m) => m.auc).filter((a): a is number => a !== null);
    means[s] = { latents: ms.length, balancedAccuracy: mean('balancedAccuracy'), precision: mean('precision'), recall: mean('recall'), f1: mean('f1'), auc: aucs.length ? aucs.reduce((a, b) => a + b, 0) / aucs.length : null };
  }
  sum.seconds = (performance.now() - t0) / 1000;
  sum.requests = o.client?.stats.requests ?? 0;
  sum.tokens = o.client?.tokensUsed ?? 0;
  const out: ScoreSummary = { ...sum, label: o.label, simulator, means };
  writeJson(join(base, 'summary.json'), { label: o.label, simulator, latents: o.latents.length, means, stopped: sum.stopped, updated: new Date().toISOString() });
  return out;
}
