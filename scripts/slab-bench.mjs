#!/usr/bin/env node
// SLAB vs softmax-attention + LayerNorm ViT on MNIST (Guo et al. 2024; src/nn/slab.ts,
// src/models/slab-vit.ts runSlabComparison): both trained at the same widths, data, steps and seed;
// test accuracy, inference ms per image (SLAB after BN folding, and unfolded), the fold's max output
// change, and latency vs sequence length (MNIST upsampled, patch 4: N = 49 … 3136 tokens).
//   npx tsc -p tsconfig.json && node scripts/slab-bench.mjs [--budget tiny|quick] [--seed 0] [--json]
import { runSlabComparison, SLAB_BUDGETS } from '../dist/src/models/slab-vit.js';

const args = process.argv.slice(2);
const arg = (name, d) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : d; };
const budget = arg('budget', 'quick');
if (!(budget in SLAB_BUDGETS)) throw new Error(`--budget must be tiny or quick, got ${budget}`);
const r = runSlabComparison({ ...SLAB_BUDGETS[budget], seed: Number(arg('seed', '0')) });
if (args.includes('--json')) console.log(JSON.stringify(r));
else {
  const o = r.options;
  console.log(`SLAB vs softmax+LN ViT, MNIST ${o.trainCount} train / ${o.testCount} test, ${o.epochs} epochs, dim ${o.dim}, depth ${o.depth}, heads ${o.heads}, patch ${o.patchSize}`);
  console.log('softmax', JSON.stringify(r.softmax));
  console.log('slab   ', JSON.stringify(r.slab));
  console.log('tokens  softmax ms/img  slab(folded) ms/img  speedup');
  for (const s of r.scaling) console.log(String(s.tokens).padEnd(8), s.softmaxMs.toFixed(3).padEnd(15), s.slabMs.toFixed(3).padEnd(20), s.speedup.toFixed(2));
}
