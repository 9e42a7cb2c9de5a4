/**
 * What `aelab serve` serves: the runs, saved models and detectors found under the given folders.
 *
 * Each folder is walked (at most `maxDepth` levels, skipping hidden folders, node_modules and
 * checkpoint step folders) and every folder is classified by the files it holds:
 *   run        a run folder (metrics.jsonl, evals.jsonl or summary.json beside the run markers)
 *   sae        an SAE folder (cfg.json + sae_weights.safetensors or sae.safetensors)
 *   model      an aelab model folder (cfg.json with format 'aelab-model')
 *   detector   a saved detector (detector.json)
 *   latents    a latent cache (manifest.json of format 'aelab-latent-cache', `aelab latents cache`)
 *   autointerp explanations and scores of a cache's latents (autointerp.json, `aelab latents explain`)
 * Names are the folder's path relative to its root, prefixed by the root's label when several
 * roots are served. Requests look names up in this table only; no request string becomes a path.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';

export type EntryKind = 'run' | 'sae' | 'model' | 'detector' | 'latents' | 'autointerp';

export interface Entry {
  kind: EntryKind;
  /** URL name: label/relative/path. */
  name: string;
  /** Index into the roots. */
  root: number;
  /** Absolute folder. */
  dir: string;
}

export interface Registry {
  roots: { label: string; dir: string }[];
  entries: Entry[];
}

const SKIP = /^(\.|node_modules$|step-\d{9}$|checkpoints$)/;

function readJson(p: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The kinds the folder `dir` holds (a run folder can also be, say, an SAE folder's parent). */
export function classify(dir: string): EntryKind[] {
  const has = (f: string) => existsSync(join(dir, f));
  const kinds: EntryKind[] = [];
  if (has('metrics.jsonl') || has('evals.jsonl') || (has('summary.json') && (has('config.json') || has('train-config.json')))) kinds.push('run');
  if (has('cfg.json') && (has('sae_weights.safetensors') || has('sae.safetensors'))) kinds.push('sae');
  if (has('cfg.json') && has('model.safetensors') && readJson(join(dir, 'cfg.json'))?.format === 'aelab-model') kinds.push('model');
  if (has('detector.json')) kinds.push('detector');
  if (has('manifest.json') && readJson(join(dir, 'manifest.json'))?.format === 'aelab-latent-cache') kinds.push('latents');
  if (has('autointerp.json')) kinds.push('autointerp');
  return kinds;
}

/** Walks the roots; see the file comment. Throws when a root does not exist or is not a folder. */
export function scan(roots: readonly string[], maxDepth = 5): Registry {
  const labels = new Map<string, number>();
  const rs = roots.map((r) => {
    const dir = resolve(r);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`aelab serve: ${r} is not a folder`);
    let label = basename(dir) || 'root';
    const n = labels.get(label) ?? 0;
    labels.set(label, n + 1);
    if (n > 0) label = `${label}-${n + 1}`;
    return { label, dir };
  });
  const entries: Entry[] = [];
  rs.forEach((root, i) => {
    const visit = (dir: string, depth: number) => {
      const rel = relative(root.dir, dir).split(/[\\/]/).filter(Boolean).join('/');
      const name = rs.length > 1 ? [root.label, rel].filter(Boolean).join('/') : rel || '.';
      for (const kind of classify(dir)) entries.push({ kind, name, root: i, dir });
      if (depth >= maxDepth) return;
      let names: string[] = [];
      try {
        names = readdirSync(dir).sort();
      } catch {
        return;
      }
      for (const f of names) {
        if (SKIP.test(f)) continue;
        const p = join(dir, f);
        try {
          if (statSync(p).isDirectory()) visit(p, depth + 1);
        } catch {
          /* a dangling link: nothing to serve */
        }
      }
    };
    visit(root.dir, 0);
  });
  return { roots: rs, entries };
}

export function findEntry(reg: Registry, kind: EntryKind | EntryKind[], name: string): Entry | undefined {
  const kinds = Array.isArray(kind) ? kind : [kind];
  return reg.entries.find((e) => kinds.includes(e.kind) && e.name === name);
}
