/**
 * Latent-cache data for the dashboard: the list of a cache's latents (density, activation,
 * explanation and its best score) and one latent's page data (histogram, top and quantile-sampled
 * contexts with per-token activations, random non-activating contexts, logit effects, explanations
 * and scores, and for attention-output SAEs the head share of its decoder norm).
 *
 * Explanations and scores come from autointerp folders (`aelab latents explain|score --out …`)
 * found among the served folders whose autointerp.json names the same model hash, SAE hash and hook
 * as the cache, so a folder made for another cache is never shown next to it.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openLatentCache, type BlockRef, type LatentCache, type LatentRecord } from '../interp/latent-cache.js';
import { latentFile } from '../interp/autointerp/run.js';
import { decoderHeadShares } from '../interp/attention-sae.js';
import type { SaeWeights } from '../sae/interop.js';

interface Bound {
  dir: string;
  model_hash: string;
  sae_hash: string;
  hook: string;
}

function readJson<T>(p: string): T | null {
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Autointerp folders (among `dirs`) that belong to `cache`. */
export function autointerpFor(cache: LatentCache, dirs: readonly string[]): Bound[] {
  const m = cache.manifest;
  const out: Bound[] = [];
  for (const dir of dirs) {
    const a = readJson<Omit<Bound, 'dir'>>(join(dir, 'autointerp.json'));
    if (a && a.model_hash === m.model.hash && a.sae_hash === m.sae.hash && a.hook === m.hook) out.push({ ...a, dir });
  }
  return out;
}

const subdirs = (d: string) => (existsSync(d) ? readdirSync(d).filter((f) => !f.startsWith('.')).sort() : []);

/** Explanations of one latent: [{label, explanation}] from every bound folder. */
function explanations(bound: readonly Bound[], latent: number): { label: string; explanation: string }[] {
  const out: { label: string; explanation: string }[] = [];
  for (const b of bound) {
    for (const label of subdirs(join(b.dir, 'explanations'))) {
      const e = readJson<{ explanation: string | null; error?: string }>(join(b.dir, 'explanations', label, latentFile(latent)));
      if (e?.explanation && !e.error) out.push({ label, explanation: e.explanation });
    }
  }
  return out;
}

/** Scores of one latent: [{run (label__simulator), scorer, metrics}]. */
function scores(bound: readonly Bound[], latent: number): { run: string; scorer: string; metrics: Record<string, number | null> }[] {
  const out: { run: string; scorer: string; metrics: Record<string, number | null> }[] = [];
  for (const b of bound) {
    for (const run of subdirs(join(b.dir, 'scores'))) {
      for (const scorer of subdirs(join(b.dir, 'scores', run)).filter((f) => !f.endsWith('.json'))) {
        const s = readJson<{ metrics: Record<string, number | null> | null; error?: string }>(join(b.dir, 'scores', run, scorer, latentFile(latent)));
        if (s?.metrics && !s.error) out.push({ run, scorer, metrics: s.metrics });
      }
    }
  }
  return out;
}

export interface LatentListRow {
  latent: number;
  density: number;
  mean: number;
  max: number;
  explanation: string | null;
  /** Best balanced accuracy over the scorers run for it (null when unscored). */
  score: number | null;
}

/** The list view of a cache. */
export function latentList(cacheDir: string, autointerpDirs: readonly string[]): { manifest: LatentCache['manifest']; latents: LatentListRow[] } {
  const cache = openLatentCache(cacheDir);
  const bound = autointerpFor(cache, autointerpDirs);
  const latents = cache.records().map((r) => {
    const ex = explanations(bound, r.latent);
    const sc = scores(bound, r.latent).map((s) => s.metrics.balancedAccuracy ?? null).filter((v): v is number => typeof v === 'number');
    return { latent: r.latent, density: r.density, mean: r.mean, max: r.max, explanation: ex[0]?.explanation ?? null, score: sc.length ? Math.max(...sc) : null };
  });
  return { manifest: cache.manifest, latents };
}

export interface RenderedExample {
  tokens: string[];
  acts: number[];
  max: number;
}

/** One latent's page data; `nHeads` (from the model) turns on the head attribution of hook_z SAEs. */
export function latentDetail(cacheDir: string, latent: number, autointerpDirs: readonly string[], opts: { sae?: SaeWeights; nHeads?: number } = {}): Record<string, unknown> {
  const cache = openLatentCache(cacheDir);
  const m = cache.manifest;
  if (!Number.isInteger(latent) || latent < 0 || latent >= m.sae.d_sae) throw new RangeError(`latent ${latent} is not in [0, ${m.sae.d_sae})`);
  const rec: LatentRecord | undefined = cache.records().find((r) => r.latent === latent);
  if (!rec) throw new RangeError(`latent ${latent} has no summary in ${cacheDir}`);
  const groups: { name: string; blocks: BlockRef[] }[] = [
    { name: 'top', blocks: rec.top },
    ...rec.quantiles.map((q, i) => ({ name: `quantile ${i + 1} of ${rec.quantiles.length}`, blocks: q })).reverse(),
    { name: 'random non-activating', blocks: rec.random },
  ];
  const flat = groups.flatMap((g) => g.blocks.map((block) => ({ latent, block })));
  const ex = cache.examples(flat);
  let i = 0;
  const rendered = groups.map((g) => ({
    name: g.name,
    examples: g.blocks.map((): RenderedExample => {
      const e = ex[i++]!;
      return { tokens: Array.from(e.tokens, (id) => cache.vocab[id] ?? `<${id}>`), acts: Array.from(e.acts), max: e.max };
    }),
  }));
  const bound = autointerpFor(cache, autointerpDirs);
  let heads: number[] | null = null;
  if (opts.sae && opts.nHeads && m.hook.endsWith('attn.hook_z')) {
    const one = { ...opts.sae, dSae: 1, W_dec: opts.sae.W_dec.subarray(latent * m.sae.d_in, (latent + 1) * m.sae.d_in) };
    heads = Array.from(decoderHeadShares(one, opts.nHeads).shares);
  }
  return {
    latent, hook: m.hook, dSae: m.sae.d_sae, density: rec.density, mean: rec.mean, max: rec.max, activePositions: rec.activePositions,
    histogram: rec.histogram, logits: rec.logits, groups: rendered,
    explanations: explanations(bound, latent), scores: scores(bound, latent), heads,
  };
}
