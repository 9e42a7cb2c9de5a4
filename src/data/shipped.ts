/**
 * Files that ship inside the aelab package (the `data/` folder at its root): the stories260K
 * language model of llama2.c (MIT; see data/stories260K/LICENSE) and text sampled from it. Paths
 * resolve from this module's location, so they work from a clone, an installed tarball or npx,
 * whatever the working directory.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of `rel` inside the package's data/ folder; throws when the file is missing. */
export function shippedPath(rel: string): string {
  // This file compiles to dist/src/data/shipped.js: the package root is three levels up.
  const p = fileURLToPath(new URL(`../../../data/${rel}`, import.meta.url));
  if (!existsSync(p)) throw new Error(`shipped file data/${rel} is missing from this aelab installation (${p})`);
  return p;
}

/** The shipped llama2.c checkpoint (its tokenizer tok512.bin lies beside it). */
export const STORIES260K = 'stories260K/stories260K.bin';
/** Stories sampled from stories260K (scripts/make-stories-corpus.mjs), blank-line separated. */
export const STORIES260K_SAMPLES = 'stories260K/samples.txt';
