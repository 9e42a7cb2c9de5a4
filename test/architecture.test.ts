/**
 * The layering of docs/ARCHITECTURE.md, checked on the source: every relative import in src/ must
 * point to the same folder or to a lower layer. A new top-level folder has to be given a layer here
 * (and in the doc) before it can be imported.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

/** Layer of each top-level folder of src/ (an import may go to the same folder or a lower layer). */
const LAYER: Record<string, number> = {
  core: 0,
  nn: 1, optim: 1,
  data: 2, report: 2, train: 2,
  models: 3, sae: 3, lm: 3,
  interp: 4, web: 4,
  tasks: 5,
  serve: 6,
  cli: 7,
};

const root = resolve(process.cwd(), 'src');

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The top-level folder of a path under src/, or null for src/*.ts itself (the entry points). */
function folder(p: string): string | null {
  const parts = relative(root, p).split(/[\\/]/);
  return parts.length > 1 ? parts[0]! : null;
}

test('every import in src/ goes to its own folder or to a lower layer (docs/ARCHITECTURE.md)', () => {
  const bad: string[] = [];
  for (const file of walk(root)) {
    const from = folder(file);
    if (from === null) continue;
    if (!(from in LAYER)) {
      bad.push(`${relative(process.cwd(), file)}: folder src/${from} has no layer in test/architecture.test.ts`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const to = folder(resolve(dirname(file), m[1]!));
      if (to === null || to === from) continue;
      if (!(to in LAYER)) bad.push(`${relative(process.cwd(), file)} imports src/${to}, which has no layer`);
      else if (LAYER[to]! >= LAYER[from]!) bad.push(`${relative(process.cwd(), file)} (${from}, layer ${LAYER[from]}) imports ${m[1]} (${to}, layer ${LAYER[to]})`);
    }
  }
  assert.deepEqual(bad, [], `imports against the layering:\n  ${bad.join('\n  ')}`);
});

test('the layer test sees the imports it is meant to check', () => {
  // Guard against a regex that silently matches nothing: the CLI imports tasks, tasks import core.
  const cli = readFileSync(join(root, 'cli', 'commands', 'detect.ts'), 'utf8');
  assert.match(cli, /from '\.\.\/\.\.\/tasks\//);
  assert.ok(walk(root).length > 100);
});
