/**
 * Shared pieces of the real-browser tests: the system Chromium driven by playwright-core (no browser
 * download), the artefact folder the screenshots go to, and a temp folder with a run and an SAE.
 *
 * Chromium: /usr/bin/chromium (Debian's `chromium`, installed by .ci/run), or AELAB_CHROMIUM. When it
 * is missing the tests say so on stdout and skip; the rest of the suite does not need it.
 * Screenshots: AELAB_TEST_ARTEFACTS, default <tmpdir>/aelab-web-artefacts (never committed).
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { Generator } from '../../src/core/random.js';
import { saveSaeFolder } from '../../src/sae/convert.js';
import type { SaeWeights } from '../../src/sae/interop.js';

export const CHROMIUM = process.env.AELAB_CHROMIUM ?? '/usr/bin/chromium';
export const ARTEFACTS = process.env.AELAB_TEST_ARTEFACTS ?? join(tmpdir(), 'aelab-web-artefacts');

/** Why the browser tests cannot run here, or null when they can. Said once on stdout. */
export function skipReason(): string | null {
  if (existsSync(CHROMIUM)) return null;
  const why = `Chromium not found at ${CHROMIUM}: the real-browser tests are skipped (install it with \`apt-get install chromium\`, as .ci/run does, or set AELAB_CHROMIUM)`;
  console.log(why);
  return why;
}

export async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 });
}

export function artefact(name: string): string {
  mkdirSync(ARTEFACTS, { recursive: true });
  return join(ARTEFACTS, name);
}

/** Random SAE weights (built directly, not through createSae). */
export function randomSae(dIn: number, dSae: number, arch: SaeWeights['arch'], k: number | undefined, seed: number): SaeWeights {
  const g = new Generator(seed);
  const W_enc = g.normal(new Float32Array(dSae * dIn));
  const s = 1 / Math.sqrt(dIn);
  for (let i = 0; i < W_enc.length; i++) W_enc[i]! *= s;
  const W_dec = g.normal(new Float32Array(dSae * dIn));
  for (let i = 0; i < W_dec.length; i++) W_dec[i]! *= s;
  const b_enc = g.normal(new Float32Array(dSae));
  for (let i = 0; i < b_enc.length; i++) b_enc[i]! *= 0.1;
  const b_dec = g.normal(new Float32Array(dIn));
  for (let i = 0; i < b_dec.length; i++) b_dec[i]! *= 0.1;
  const w: SaeWeights = { arch, dIn, dSae, W_enc, b_enc, W_dec, b_dec, applyBDecToInput: true, meta: {} };
  if (k !== undefined) w.k = k;
  if (arch === 'jumprelu' || arch === 'batchtopk') w.threshold = new Float32Array(dSae).fill(0.05);
  return w;
}

export const metricsLine = (step: number) => JSON.stringify({ split: 'train', step, loss: 1 / (1 + step), l0: 20 + ((step / 10) % 5), fvu: 0.5 / (1 + step) });

/** A temp root with runs/exp1 (config.json, metrics.jsonl, .lock: still training) and runs/exp1/sae. */
export function fixture(w: SaeWeights, steps = 8): { root: string; run: string; metrics: string } {
  const root = mkdtempSync(join(tmpdir(), 'aelab-web-'));
  const run = join(root, 'exp1');
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, 'config.json'), JSON.stringify({ architecture: w.arch, dIn: w.dIn, dSae: w.dSae, k: w.k ?? null }, null, 2));
  const metrics = join(run, 'metrics.jsonl');
  writeFileSync(metrics, Array.from({ length: steps }, (_, i) => metricsLine((i + 1) * 10)).join('\n') + '\n');
  writeFileSync(join(run, '.lock'), String(process.pid));
  saveSaeFolder(join(run, 'sae'), w, 'aelab');
  return { root, run, metrics };
}
