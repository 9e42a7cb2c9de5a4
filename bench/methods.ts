/**
 * Speed claims of issue 14's methods (docs/METHODS.md), each measured side by side with its
 * baseline in this one process. One JSON line.
 *
 * FIT: median seconds of one training step (forward + backward, batch 1, untrained weights) of a
 * FIT classifier (groups of 64 tokens, 2 latents per group, one block) and of the full-attention
 * transformer with about its parameter count, at growing sequence lengths, the two interleaved;
 * `fit.speedup_longest` = full / FIT at the longest length.
 *
 *   node dist/bench/methods.js [--quick]      (--quick: lengths 256, 1024, 2048 instead of … 4096)
 */
import { fitScaling } from '../src/models/fit.js';

const quick = process.argv.includes('--quick');
const lengths = quick ? [256, 1024, 2048] : [256, 1024, 4096];
const t0 = performance.now();
const pts = fitScaling({ scalingLengths: lengths, scalingGroupSize: 64, scalingBatch: 1, dim: 32, heads: 2, latentsPerGroup: 2, blocks: 1, seed: 0 });
const last = pts[pts.length - 1]!;
const r3 = (v: number) => +v.toFixed(3);
process.stdout.write(JSON.stringify({
  fit: {
    lengths,
    fit_step_s: pts.map((p) => r3(p.fitSeconds)),
    full_step_s: pts.map((p) => r3(p.fullSeconds)),
    speedups: pts.map((p) => r3(p.speedup)),
    attention_entries_ratio: pts.map((p) => Math.round(p.fullAttentionEntries / p.fitAttentionEntries)),
    speedup_longest: r3(last.speedup),
    longest_length: last.length,
  },
  seconds: r3((performance.now() - t0) / 1000),
}) + '\n');
