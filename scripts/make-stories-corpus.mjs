#!/usr/bin/env node
// Writes data/stories260K/samples.txt: short stories sampled from the stories260K model itself
// (llama2.c, MIT), so the main job harvests activations on text from the model's own
// distribution. Deterministic: seed 1, temperature 1.0, top-k 40, up to 256 tokens per story,
// a story ending at the model's BOS/EOS token. Run after `npm run build`:
//   node scripts/make-stories-corpus.mjs [stories=1500]
import { writeFileSync } from 'node:fs';
import { loadLanguageModel } from '../dist/src/lm/load.js';
import { Generator } from '../dist/src/core/random.js';

const n = Number(process.argv[2] ?? 1500);
const { model, tokenizer } = loadLanguageModel('data/stories260K/stories260K.bin');
const gen = new Generator(1);
const stories = [];
let tokens = 0;
for (let i = 0; i < n; i++) {
  const out = model.generate([1], { maxNewTokens: 256, temperature: 1, topK: 40, gen, stopAtEos: false });
  const end = out.findIndex((t) => t === 1 || t === 2);
  const ids = end < 0 ? out : out.slice(0, end);
  tokens += ids.length;
  stories.push(tokenizer.decode([1, ...ids]).trim());
  if ((i + 1) % 100 === 0) process.stderr.write(`${i + 1} stories, ${tokens} tokens\n`);
}
writeFileSync('data/stories260K/samples.txt', stories.join('\n\n') + '\n');
process.stderr.write(`wrote ${stories.length} stories, ${tokens} tokens\n`);
