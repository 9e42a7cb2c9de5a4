#!/usr/bin/env node
// Prints the tables of docs/SAE.md "Defaults": every architecture with default flags on the tuned
// problem and two hold-out problems of different shape (see src/sae/defaults-study.ts).
// Usage: node scripts/sae-defaults-study.mjs [--problems tuned,holdout-a,holdout-b] [--tokens 600000]
//        [--rows 120000] [--only standard,jumprelu,...] [--set key=value ...] (after `npx tsc`).
//        --dump DIR writes each problem's activations.npy / features.npy to DIR/<problem>/ and trains
//        nothing (input for scripts/reference/torch_sae_penalty_train.py).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { STUDY_PROBLEMS, STUDY_TABLE_HEAD, makeProblem, randomDictionaryCosine, studyRowMarkdown, trainAndScore } from '../dist/src/sae/defaults-study.js';
import { writeNpy } from '../dist/src/core/io/npy.js';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const problems = opt('problems', STUDY_PROBLEMS.map((p) => p.name).join(',')).split(',');
const tokens = Number(opt('tokens', '600000'));
const rows = Number(opt('rows', '120000'));
const batchSize = Number(opt('batch', '1024'));
const sets = [];
for (let i = 0; i < args.length; i++) if (args[i] === '--set') sets.push(args[++i]);
const extra = Object.fromEntries(sets.map((s) => { const [k, v] = s.split('='); return [k, isNaN(Number(v)) ? v : Number(v)]; }));
const ROWS = [
  { label: 'topk k=8', config: { architecture: 'topk', k: 8 } },
  { label: 'batchtopk k=8', config: { architecture: 'batchtopk', k: 8 } },
  { label: 'standard (defaults)', config: { architecture: 'standard' } },
  { label: 'jumprelu (defaults)', config: { architecture: 'jumprelu' } },
  { label: 'gated (defaults)', config: { architecture: 'gated' } },
];
const only = opt('only', '');
const chosen = only ? ROWS.filter((r) => only.split(',').some((o) => r.label.startsWith(o))) : ROWS;
for (const name of problems) {
  const p = STUDY_PROBLEMS.find((q) => q.name === name);
  if (!p) throw new Error(`unknown problem ${name}`);
  const pd = makeProblem(p, rows, 1);
  const dump = opt('dump', '');
  if (dump) {
    const dir = join(dump, name);
    mkdirSync(dir, { recursive: true });
    writeNpy(join(dir, 'activations.npy'), { dtype: 'float32', shape: [rows, pd.d], data: pd.x });
    writeNpy(join(dir, 'features.npy'), { dtype: 'float32', shape: [p.data.n, pd.d], data: pd.features });
    console.log(`wrote ${dir}: ${rows} × ${pd.d}, ${p.data.n} features, H ${p.latents}`);
    continue;
  }
  console.log(`\n### ${name}: n ${p.data.n}, d ${p.data.d}, H ${p.latents}, true L0 ${pd.trueL0.toFixed(2)}, ${tokens} tokens, batch ${batchSize}; random dictionary mean max cos ${randomDictionaryCosine(pd).toFixed(3)}\n`);
  console.log(STUDY_TABLE_HEAD);
  for (const r of chosen) {
    const label = extra.k !== undefined && 'k' in r.config ? r.label.replace(/k=\d+/, `k=${extra.k}`) : Object.keys(extra).length ? `${r.label} ${sets.join(' ')}` : r.label;
    console.log(studyRowMarkdown(trainAndScore(pd, label, { ...r.config, tokens, batchSize, ...extra })));
  }
}
