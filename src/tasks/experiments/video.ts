/**
 * `aelab experiment video-vae` and `aelab experiment art-layers` (issue 13, parts 4 and 5).
 *
 * video-vae: on Moving-MNIST-style videos (`smallMovingMnist`: T = 9 frames of 32×32, held-out
 * videos drawn from the test digits), at each compression ratio (pixels / latent numbers) three
 * models with the SAME total latent numbers per video:
 *   - image VAE frame by frame: VideoVAE with temporalKernel 1, temporalDown 1, Z/3 latent channels
 *     (8× spatial, 9 latent frames);
 *   - causal video VAE from scratch: 8× spatial, 4× temporal (3 latent frames), Z channels;
 *   - VidRD: the trained image VAE plus zero-initialised causal temporal layers, fine-tuned (only the
 *     temporal layers, and optionally all weights).
 * Budgets: the image VAE trains `steps`; the VidRD rows add `finetuneSteps` on top of it; the video
 * VAE from scratch gets steps + finetuneSteps, so it matches VidRD's total. Every row reports PSNR,
 * the temporal-consistency error mean |Δx̂_t − Δx_t| (Δ = frame difference), first-frame and
 * later-frame PSNR on the held-out videos, and the training seconds.
 *
 * art-layers: on generated RGBA layer scenes (`rgbaScenes`, 32×32, 1–3 foreground layers + a
 * background), the ArtAE (joint mixing) and its no-mixing ablation against a CompositeAE that codes
 * the flattened composite RGB with Z·Lmax latent channels — at least as many latent numbers as the
 * layered model uses for any scene. Reported: per-layer RGBA PSNR, alpha IoU, recomposited PSNR.
 */
import { Generator } from '../../core/random.js';
import { rgbaScenes } from '../../data/rgba-layers.js';
import { VideoVAE, smallMovingMnist, videoMetrics, vidrdFromImageVAE, type VideoMetrics } from '../../models/videovae.js';
import { ArtAE, CompositeAE, artMetrics, compositeAEPsnr, type ArtMetrics } from '../../models/art.js';
import { train, type Trainable } from '../../train/fit.js';
import type { TrainEventHandler } from '../../train/events.js';
import { num, seconds, table } from './report.js';

export interface VideoVaeExperimentOptions {
  trainCount: number;
  testCount: number;
  frames: number;
  size: number;
  /** Encoder widths (4 entries: 8× spatial). */
  widths: number[];
  /** Video latent channels Z per row group (multiples of 3: the image VAE gets Z/3). */
  latents: number[];
  beta: number;
  steps: number;
  finetuneSteps: number;
  batchSize: number;
  lr: number;
  /** Also fine-tune all of VidRD's weights (a fourth row per ratio). */
  vidrdAll: boolean;
  seed: number;
  onEvent?: TrainEventHandler;
}

export const VIDEO_VAE_BUDGETS: Record<'tiny' | 'quick' | 'full', VideoVaeExperimentOptions> = {
  tiny: { trainCount: 16, testCount: 4, frames: 9, size: 32, widths: [4, 4, 4, 4], latents: [3], beta: 0.1, steps: 2, finetuneSteps: 2, batchSize: 4, lr: 2e-3, vidrdAll: false, seed: 0 },
  quick: { trainCount: 256, testCount: 64, frames: 9, size: 32, widths: [8, 16, 32, 32], latents: [3, 6], beta: 0.1, steps: 120, finetuneSteps: 60, batchSize: 8, lr: 3e-3, vidrdAll: false, seed: 0 },
  full: { trainCount: 2000, testCount: 200, frames: 9, size: 32, widths: [16, 32, 64, 64], latents: [3, 6, 12], beta: 0.1, steps: 2000, finetuneSteps: 1000, batchSize: 16, lr: 2e-3, vidrdAll: true, seed: 0 },
};

export interface VideoVaeRow extends VideoMetrics {
  ratio: number;
  latentNumbers: number;
  method: string;
  steps: number;
  trainSeconds: number;
}

function timedTrain(model: Trainable, x: Float32Array, n: number, D: number, steps: number, o: VideoVaeExperimentOptions): number {
  const t0 = performance.now();
  train(model, { x, n, sampleShape: [D] }, { steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed, onEvent: o.onEvent });
  return (performance.now() - t0) / 1000;
}

/** Runs the video-vae comparison (see the file comment). */
export function runVideoVaeExperiment(o: VideoVaeExperimentOptions): { rows: VideoVaeRow[]; pixels: number } {
  const T = o.frames, S = o.size, D = T * S * S;
  const xTr = smallMovingMnist({ n: o.trainCount, frames: T, size: S, seed: o.seed });
  const xTe = smallMovingMnist({ n: o.testCount, frames: T, size: S, seed: o.seed + 1, pool: 'test' });
  const rows: VideoVaeRow[] = [];
  for (const Z of o.latents) {
    if (Z % 3) throw new Error(`video-vae: latent channels ${Z} must be a multiple of 3 (the image VAE gets Z/3 per frame)`);
    const base = { frames: T, height: S, width: S, widths: o.widths, spatialDown: 8, beta: o.beta };
    const seed = new Generator(o.seed).randint(1 << 30);
    const image = new VideoVAE({ ...base, temporalDown: 1, temporalKernel: 1, latentChannels: Z / 3, seed });
    const video = new VideoVAE({ ...base, temporalDown: 4, latentChannels: Z, seed });
    if (image.latentSize() !== video.latentSize()) throw new Error(`video-vae: latent sizes differ (${image.latentSize()} vs ${video.latentSize()})`);
    const latentNumbers = video.latentSize(), ratio = D / latentNumbers;
    const row = (method: string, m: VideoVAE, steps: number, trainSeconds: number) => rows.push({ ratio, latentNumbers, method, steps, trainSeconds, ...videoMetrics(m, xTe, o.testCount) });
    const tImg = timedTrain(image, xTr, o.trainCount, D, o.steps, o);
    row('image VAE per frame', image, o.steps, tImg);
    const tVid = timedTrain(video, xTr, o.trainCount, D, o.steps + o.finetuneSteps, o);
    row('causal video VAE (scratch)', video, o.steps + o.finetuneSteps, tVid);
    const vt = vidrdFromImageVAE(image, { freezeSpatial: true });
    row('VidRD temporal layers (fine-tune temporal)', vt, o.steps + o.finetuneSteps, tImg + timedTrain(vt, xTr, o.trainCount, D, o.finetuneSteps, o));
    if (o.vidrdAll) {
      const va = vidrdFromImageVAE(image, { freezeSpatial: false });
      row('VidRD temporal layers (fine-tune all)', va, o.steps + o.finetuneSteps, tImg + timedTrain(va, xTr, o.trainCount, D, o.finetuneSteps, o));
    }
  }
  return { rows, pixels: D };
}

export interface ArtExperimentOptions {
  trainCount: number;
  testCount: number;
  size: number;
  maxForeground: number;
  widths: number[];
  latentChannels: number;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  onEvent?: TrainEventHandler;
}

export const ART_BUDGETS: Record<'tiny' | 'quick' | 'full', ArtExperimentOptions> = {
  tiny: { trainCount: 16, testCount: 8, size: 16, maxForeground: 2, widths: [4, 4, 4], latentChannels: 2, steps: 2, batchSize: 4, lr: 3e-3, seed: 0 },
  quick: { trainCount: 600, testCount: 100, size: 32, maxForeground: 3, widths: [8, 16, 32], latentChannels: 4, steps: 150, batchSize: 8, lr: 3e-3, seed: 0 },
  full: { trainCount: 4000, testCount: 500, size: 32, maxForeground: 3, widths: [32, 64, 64], latentChannels: 4, steps: 3000, batchSize: 32, lr: 2e-3, seed: 0 },
};

export interface ArtRow {
  method: string;
  /** Latent numbers per scene (mean over the test scenes). */
  latentNumbers: number;
  layers: ArtMetrics | null;
  compositePsnr: number;
  trainSeconds: number;
}

/** Runs the art-layers comparison (see the file comment). */
export function runArtExperiment(o: ArtExperimentOptions): { rows: ArtRow[]; meanLayers: number } {
  const tr = rgbaScenes({ n: o.trainCount, size: o.size, minLayers: 1, maxLayers: o.maxForeground, seed: o.seed });
  const te = rgbaScenes({ n: o.testCount, size: o.size, minLayers: 1, maxLayers: o.maxForeground, seed: o.seed + 1 });
  const L = tr.maxLayers, D = L * 4 * o.size * o.size, g = o.size / 2 ** (o.widths.length - 1);
  const data = { x: tr.layers, n: tr.n, sampleShape: [D], y: tr.count };
  const meanLayers = te.count.reduce((s, c) => s + c, 0) / te.n;
  const fit = (m: Trainable) => {
    const t0 = performance.now();
    train(m, data, { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed, onEvent: o.onEvent });
    return (performance.now() - t0) / 1000;
  };
  const rows: ArtRow[] = [];
  for (const mixing of ['mean', 'none'] as const) {
    const m = new ArtAE({ size: o.size, maxLayers: L, widths: o.widths, latentChannels: o.latentChannels, mixing, seed: o.seed });
    const s = fit(m);
    const r = artMetrics(m, te.layers, te.count);
    rows.push({ method: mixing === 'mean' ? 'ART layered AE (joint mixing)' : 'layered AE, layers coded independently', latentNumbers: meanLayers * o.latentChannels * g * g, layers: r, compositePsnr: r.compositePsnr, trainSeconds: s });
  }
  const flat = new CompositeAE({ size: o.size, maxLayers: L, widths: o.widths, latentChannels: o.latentChannels * L, seed: o.seed });
  const s = fit(flat);
  rows.push({ method: `flat composite AE (${o.latentChannels * L} channels)`, latentNumbers: o.latentChannels * L * g * g, layers: null, compositePsnr: compositeAEPsnr(flat, te.layers, te.n), trainSeconds: s });
  return { rows, meanLayers };
}

/** The readable report of `aelab experiment video-vae` (a header, the table, the command). */
export function videoVaeReport(r: { rows: VideoVaeRow[]; pixels: number }, o: VideoVaeExperimentOptions, budget: string): string {
  const head = `video-vae (${budget}): ${o.trainCount} training / ${o.testCount} held-out Moving-MNIST-style videos of ${o.frames} frames ${o.size}×${o.size} (${r.pixels} pixels); widths ${o.widths.join(',')}, β ${o.beta}, batch ${o.batchSize}, lr ${o.lr}, seed ${o.seed}\n` +
    `same latent numbers per video within a ratio: video VAE 3 latent frames × Z × 4×4, image VAE 9 frames × Z/3 × 4×4; budgets in optimiser steps (VidRD counts its image-VAE pre-training)\n\n`;
  const t = table(['ratio', 'latents', 'method', 'steps', 'PSNR', 'frame 0', 'frames 1+', '|Δ err|', 'train'], r.rows.map((x) => [
    `${x.ratio.toFixed(0)}×`, String(x.latentNumbers), x.method, String(x.steps), `${num(x.psnr, 2)} dB`, `${num(x.firstFramePsnr, 2)} dB`, `${num(x.laterFramesPsnr, 2)} dB`, num(x.frameDiffError, 4), seconds(x.trainSeconds),
  ]));
  return head + t + '  |Δ err|: mean |(x̂_t − x̂_{t−1}) − (x_t − x_{t−1})| over t ≥ 1 (temporal consistency; lower is better).\n' +
    `\n  command: aelab experiment video-vae --budget ${budget}\n\n`;
}

/** The readable report of `aelab experiment art-layers`. */
export function artReport(r: { rows: ArtRow[]; meanLayers: number }, o: ArtExperimentOptions, budget: string): string {
  const head = `art-layers (${budget}): ${o.trainCount} training / ${o.testCount} held-out scenes of ${o.size}×${o.size}, background + 1–${o.maxForeground} RGBA layers (mean ${r.meanLayers.toFixed(2)} layers per test scene); widths ${o.widths.join(',')}, Z ${o.latentChannels} per layer, ${o.steps} steps of batch ${o.batchSize}, lr ${o.lr}, seed ${o.seed}\n\n`;
  const t = table(['method', 'latents/scene', 'layer RGBA PSNR', 'alpha IoU', 'composite PSNR', 'train'], r.rows.map((x) => [
    x.method, x.latentNumbers.toFixed(0), x.layers ? `${num(x.layers.layerPsnr, 2)} dB` : '—', x.layers ? num(x.layers.alphaIou, 3) : '—', `${num(x.compositePsnr, 2)} dB`, seconds(x.trainSeconds),
  ]));
  return head + t + '  layer PSNR on premultiplied RGBA of the present layers; alpha IoU of α > 0.5 over foreground layers; composite PSNR on the recomposited RGB.\n' +
    `\n  command: aelab experiment art-layers --budget ${budget}\n\n`;
}
