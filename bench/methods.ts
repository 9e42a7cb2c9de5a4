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
 * ECO-M2F: the recipe trained briefly in this run (step a: 100 / 300 (--quick / full) stochastic-depth
 * Adam steps on 400 digit scenes 32×32, K = 6 layers, dim 48; step b: depth targets at β = 0.05;
 * step c: 100 gate steps), then per-image latency at batch 1 of the gated encoder and of every
 * fixed depth 1..6 on the same test scenes, interleaved (ecoM2FLatency: wall-clock ms, median of
 * rounds). A briefly trained gate may pick any depth mix, so the line carries the whole cost curve
 * (ms per image at each depth), the depths the gate picked (histogram, mean) and the test mIoU of
 * gated vs full depth, not just the ratio: `speedup_gated_vs_full` is honest only together with
 * `avg_depth` and the mIoUs. `speedup_expected_from_depths` = full / Σ_k share_k · ms(k) is what
 * the depth mix alone predicts (the gate's own cost is the difference).
 *
 * CBNet: runCBNetVariant on clean MNIST with a short budget (2,000 training images, 120 / 300
 * classifier and AE steps): per-image latency at batch 1 of the converting AE + light classifier,
 * the big classifier, early exit (τ = 0.9) and the light classifier alone, interleaved over the same
 * test images (process CPU ms, best of 5 rounds, as src/models/cbnet.ts measures it), with the
 * accuracies and the early-exit rate those latencies come with.
 *
 *   node dist/bench/methods.js [--quick]      (--quick: lengths 256, 1024, 2048 instead of … 4096)
 */
import { fitScaling } from '../src/models/fit.js';
import { SlabViT, slabLatency } from '../src/models/slab-vit.js';
import { NoProp } from '../src/models/noprop.js';
import { Generator } from '../src/core/random.js';
import { train, type Dataset } from '../src/train/fit.js';
import { EcoM2F, depthQuality, depthTargets, ecoM2FLatency, meanIoU, trainGate, trainStochasticDepth } from '../src/models/eco-m2f.js';
import { runCBNetVariant } from '../src/models/cbnet.js';
import { loadMnist } from '../src/data/mnist.js';
import { generateDigitScenes } from '../src/data/digit-scenes.js';
import { fromBuffer } from '../src/core/tensor.js';

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

// ECO-M2F: brief three-step recipe, then batch-1 latency of gated vs every fixed depth (see the file comment).
const ecoT0 = performance.now();
const mn = loadMnist({ trainCount: 2000, testCount: 500, seed: 0 });
const sceneOpts = { side: 32, minDigits: 1, maxDigits: 3, noise: 0.2 };
const ecoTrain = generateDigitScenes(mn.train, { ...sceneOpts, n: 400, seed: 11 });
const ecoTest = generateDigitScenes(mn.test, { ...sceneOpts, n: 100, seed: 12 });
const K = 6, ecoSteps = quick ? 100 : 300;
const eco = new EcoM2F({ imageSize: 32, patchSize: 4, dim: 48, depth: K, heads: 4, classes: ecoTrain.classes }, new Generator(1));
trainStochasticDepth(eco, ecoTrain, { steps: ecoSteps, batchSize: 32, lr: 1.5e-3, seed: 0 });
const ecoTargets = depthTargets(depthQuality(eco, ecoTrain), K, 0.05);
const gateFit = trainGate(eco, ecoTrain, ecoTargets, { steps: 100, batchSize: 32, lr: 3e-3, seed: 3 });
const ecoTrainS = (performance.now() - ecoT0) / 1000;
const ecoLat = ecoM2FLatency(eco, ecoTest.x, ecoTest.n, quick ? 3 : 5);
const hist = (d: Int32Array) => { const h = new Array<number>(K).fill(0); d.forEach((v) => h[v - 1]!++); return h; };
const ecoX = fromBuffer(ecoTest.x, [ecoTest.n, 1, 32, 32]);
const ecoFull = ecoLat.fixedMs[K - 1]!, avgDepth = ecoLat.depths.reduce((a, b) => a + b, 0) / ecoTest.n;
const picked = hist(ecoLat.depths), mixMs = ecoLat.fixedMs.reduce((a, ms, k) => a + (picked[k]! / ecoTest.n) * ms, 0);
const ecoM2F = {
  depth: K, train_steps: ecoSteps, train_s: r3(ecoTrainS), test_images: ecoTest.n,
  ms_per_image_fixed: ecoLat.fixedMs.map(r3), ms_per_image_gated: r3(ecoLat.gatedMs), ms_per_image_full: r3(ecoFull),
  avg_depth: r3(avgDepth), depth_histogram: picked, target_histogram: hist(ecoTargets), gate_train_accuracy: r3(gateFit.accuracy),
  miou_gated: r3(meanIoU(eco.segmentGated(ecoX).labels, ecoTest.masks, ecoTest.classes)), miou_full: r3(meanIoU(eco.segment(ecoX, K), ecoTest.masks, ecoTest.classes)),
  speedup_gated_vs_full: r3(ecoFull / ecoLat.gatedMs), speedup_expected_from_depths: r3(ecoFull / mixMs),
};

// CBNet: short training on clean MNIST, then batch-1 latency of each method, interleaved (CPU ms, best of 5 rounds).
const cbT0 = performance.now();
const cbSteps = quick ? 120 : 300;
const cb = runCBNetVariant({ trainCount: 2000, testCount: 300, latencyImages: quick ? 100 : 300, classifierSteps: cbSteps, aeSteps: cbSteps, batchSize: 64, lr: 2e-3, channels: [8, 32, 64], aeHidden: [256, 64], tau: 0.9, seed: 0 }, 'clean');
const cbnet = {
  train_steps: cbSteps, seconds: r3((performance.now() - cbT0) / 1000), tau: 0.9,
  ms_per_image: { cbnet: r3(cb.msPerImage.cbnet), full: r3(cb.msPerImage.full), early_exit: r3(cb.msPerImage.earlyExit), light: r3(cb.msPerImage.light) },
  accuracy: { cbnet: r3(cb.accuracy.cbnet), full: r3(cb.accuracy.full), early_exit: r3(cb.accuracy.earlyExit), light: r3(cb.accuracy.light) },
  early_exit_rate: r3(cb.earlyExitRate), easy_fraction: r3(cb.easyFraction),
  speedup_vs_full: r3(cb.msPerImage.full / cb.msPerImage.cbnet), speedup_vs_early_exit: r3(cb.msPerImage.earlyExit / cb.msPerImage.cbnet),
};
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
  eco_m2f: ecoM2F,
  cbnet,
  seconds: r3((performance.now() - t0) / 1000),
}) + '\n');
