/**
 * Speed claims of issue 14's methods (docs/METHODS.md), each measured side by side with its
 * baseline in this one process. One JSON line.
 *
 * FIT: median seconds of one training step (forward + backward, batch 1, untrained weights) of a
 * FIT classifier (groups of 64 tokens, 2 latents per group, one block) and of the full-attention
 * transformer with about its parameter count, at growing sequence lengths, the two interleaved;
 * `fit.speedup_longest` = full / FIT at the longest length.
 *
 * SLAB: median ms per image of inference (batch 2, untrained, eval mode) of the SLAB ViT with its
 * BatchNorms folded against the softmax-attention + LayerNorm ViT of the same widths, the two
 * interleaved (slabLatency), at 196 and 784 tokens (MNIST upsampled to 56² / 112², patch 4).
 *
 * NoProp: seconds per training step (forward, backward, AdamW; batch 64 of MNIST-shaped inputs) of
 * NoProp-DT (each block learns its own denoising target) against the same ten blocks trained end to
 * end by back-propagation, the two alternating in rounds of 5 steps.
 *
 *   node dist/bench/methods.js [--quick]      (--quick: lengths 256, 1024, 2048 instead of … 4096)
 */
import { fitScaling } from '../src/models/fit.js';
import { SlabViT, slabLatency } from '../src/models/slab-vit.js';
import { NoProp } from '../src/models/noprop.js';
import { Generator } from '../src/core/random.js';
import { train, type Dataset } from '../src/train/fit.js';

const quick = process.argv.includes('--quick');
const lengths = quick ? [256, 1024, 2048] : [256, 1024, 4096];
const t0 = performance.now();
const pts = fitScaling({ scalingLengths: lengths, scalingGroupSize: 64, scalingBatch: 1, dim: 32, heads: 2, latentsPerGroup: 2, blocks: 1, seed: 0 });
const last = pts[pts.length - 1]!;
const r3 = (v: number) => +v.toFixed(3);

const slab = [56, 112].map((side) => {
  const base = { imageSize: side, patchSize: 4, dim: 64, depth: 2, heads: 4, classes: 10, mlpRatio: 2 };
  const mk = (variant: 'slab' | 'softmax') => new SlabViT({ ...base, variant }, new Generator(2)).eval();
  const [softmaxMs, slabMs] = slabLatency([mk('softmax'), mk('slab').fold()], side, 2, quick ? 5 : 9) as [number, number];
  return { tokens: (side / 4) ** 2, softmax_ms: r3(softmaxMs), slab_ms: r3(slabMs), speedup: r3(softmaxMs / slabMs) };
});

// NoProp vs backprop: same blocks, same data, steps alternate in rounds so load drift hits both alike.
const n = 512, x = new Float32Array(n * 784), y = new Int32Array(n);
for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 255) / 255;
for (let i = 0; i < n; i++) y[i] = i % 10;
const data: Dataset = { x, y, n, sampleShape: [784] };
const nets = { noprop: new NoProp({ inputDim: 784, classes: 10, seed: 0 }), backprop: new NoProp({ inputDim: 784, classes: 10, backprop: true, seed: 0 }) };
const secs = { noprop: [] as number[], backprop: [] as number[] };
const rounds = quick ? 4 : 8, per = 5;
for (let r = 0; r < rounds; r++) {
  for (const k of ['noprop', 'backprop'] as const) {
    const t = performance.now();
    train(nets[k], data, { steps: per, batchSize: 64, lr: 1e-3, optimizer: 'adamw', seed: r });
    if (r > 0) secs[k].push((performance.now() - t) / 1000 / per); // round 0 warms up
  }
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
const noprop = { noprop_step_s: r3(median(secs.noprop)), backprop_step_s: r3(median(secs.backprop)), ratio_backprop_over_noprop: r3(median(secs.backprop) / median(secs.noprop)) };
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
  slab,
  slab_speedup_784: slab[slab.length - 1]!.speedup,
  noprop,
  seconds: r3((performance.now() - t0) / 1000),
}) + '\n');
