/**
 * Three sections of `aelab experiment masked` beyond MNIST pre-training, at the experiment's budget
 * (the same steps, batch, learning rate, widths, depths, mask ratio and seed as the MAE rows):
 *
 * 1. ColorMAE on colour photographs. 32×32 RGB crops of the shipped photographs
 *    (src/data/photos.ts; training crops from the left ¾ of each photo, held-out crops from the
 *    right ¼), an MAE with patch 4 (an 8×8 grid) trained with random masks and with each of the
 *    four ColorMAE noise colours. Scored by the PSNR of masked patches under shared random test
 *    masks (every row on the same masks) and by a ridge probe + k-NN of the frozen mean-pooled
 *    features predicting which photograph a held-out crop was cut from (3 classes; chance 1/3).
 *    Claim (Hinojosa et al. 2024): filtered-noise masks, green best, beat random masks
 *    downstream; held = probe accuracy above the photo MAE with random masks.
 * 2. VideoMAE on Moving-MNIST-style videos (src/data/moving-mnist.ts: one digit, 64×64 frames,
 *    8 frames; tubelet 2, patch 8, tube masking ρ = 0.9 for the encoder and running cells for the
 *    decoder). Frozen features (mean of the encoder's tokens on the whole video) probed for the
 *    digit of each held-out video (videos made from loadMnist's test digits). Reference: the same
 *    untrained VideoMAE. PSNR: of every encoder-masked tubelet, reconstructed with no decoder mask,
 *    under shared tube masks. Claim (Tong et al. 2022): masked video pre-training learns features
 *    of the video's content; held = probe accuracy above the untrained encoder.
 * 3. Fine-tuning (MAE §4): the random-mask MAE baseline's encoder plus a linear head on the mean
 *    patch token (src/models/vit-classifier.ts) trained end to end on the digit labels, against the
 *    same ViT trained from scratch; both the same steps, batch, learning rate and seed. Accuracy on
 *    the held-out digits (in the probe column). Claim (He et al. 2022): MAE pre-training improves
 *    fine-tuning accuracy over training from scratch; held = fine-tuned accuracy above scratch's.
 */
import { Generator } from '../../core/random.js';
import { fromBuffer, noGrad, scope, type Tensor } from '../../core/tensor.js';
import type { LabelledImages } from '../../data/mnist.js';
import { movingMnist } from '../../data/moving-mnist.js';
import { photoCrops } from '../../data/photos.js';
import { MAE, type MAEConfig } from '../../models/mae.js';
import { randomMasking, tubeMasking, type MaskKind } from '../../models/masking.js';
import { VideoMAE, tubelets, videoReconstructMasked, type VideoMAEConfig } from '../../models/videomae.js';
import { ViTClassifier } from '../../models/vit-classifier.js';
import { train } from '../../train/fit.js';
import { knnAccuracy } from './knn.js';
import { ridgeProbeAccuracy, type MaskedExperimentOptions, type MaskedRow } from './masked.js';

/** Mean-pooled frozen features [n, D] of rows x [n, per] through fn, in batches. */
function embed(fn: (x: Tensor) => Tensor, x: Float32Array, n: number, per: number, batch = 100): { data: Float32Array; width: number } {
  let out: Float32Array | null = null, width = 0;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    scope(() => noGrad(() => {
      const f = fn(fromBuffer(x.slice(s * per, e * per), [e - s, per]));
      width = f.shape[1]!;
      out ??= new Float32Array(n * width);
      out.set(f.data as Float32Array, s * width);
    }));
  }
  return { data: out!, width };
}

/** Ridge probe and k-NN on features of labelled train/test rows. */
function probes(fn: (x: Tensor) => Tensor, tr: { x: Float32Array; y: Int32Array; n: number }, te: { x: Float32Array; y: Int32Array; n: number }, per: number, classes: number): { probeAccuracy: number; knnAccuracy: number } {
  const a = embed(fn, tr.x, tr.n, per), b = embed(fn, te.x, te.n, per);
  return { probeAccuracy: ridgeProbeAccuracy(a.data, tr.y, b.data, te.y, a.width, classes), knnAccuracy: knnAccuracy(a.data, tr.y, b.data, te.y, a.width) };
}

/** PSNR (peak 1) of the masked patches of images x [n, C·H·W] under random masks drawn from `seed` (clamped predictions; pixel targets). */
export function imageMaskedPsnr(model: MAE, x: Float32Array, n: number, seed: number, batch = 200): number {
  if (model.config.normPixLoss) throw new Error('imageMaskedPsnr: needs pixel targets (normPixLoss off)');
  const gen = new Generator(seed), N = model.numPatches, per = model.channels * model.height * model.width;
  let se = 0, cnt = 0;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch), B = e - s;
    const m = randomMasking(B, N, model.config.maskRatio ?? 0.75, gen);
    noGrad(() => scope(() => {
      const out = model.forwardMasked(fromBuffer(x.slice(s * per, e * per), [B, per]), m);
      const P = out.pred.shape[2]!, pr = out.pred.data, t = out.target.data, mk = m.mask.data;
      for (let k = 0; k < B * N; k++) {
        if (!mk[k]) continue;
        for (let j = 0; j < P; j++) { se += (Math.min(1, Math.max(0, pr[k * P + j]!)) - t[k * P + j]!) ** 2; cnt++; }
      }
    }));
  }
  return 10 * Math.log10(1 / (se / cnt));
}

/** PSNR (peak 1) of every encoder-masked tubelet of videos x [n, T·C·H·W] under tube masks drawn from `seed`. */
export function videoMaskedPsnr(model: VideoMAE, x: Float32Array, n: number, seed: number, batch = 50): number {
  const gen = new Generator(seed), { t, h, w, n: N } = model.grid, p = model.config.patchSize;
  const per = model.config.frames * model.channels * model.height * model.width;
  let se = 0, cnt = 0;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch), B = e - s;
    const enc = tubeMasking(B, t, h, w, model.config.maskRatio ?? 0.9, gen);
    scope(() => {
      const v = fromBuffer(x.slice(s * per, e * per), [B, per]);
      const { recon } = videoReconstructMasked(model, v, enc);
      const r = tubelets(recon, model.tubelet, p).data, o = tubelets(model.videos(v), model.tubelet, p).data;
      const P = r.length / (B * N), mk = enc.mask.data;
      for (let k = 0; k < B * N; k++) {
        if (!mk[k]) continue;
        for (let j = 0; j < P; j++) { se += (Math.min(1, Math.max(0, r[k * P + j]!)) - o[k * P + j]!) ** 2; cnt++; }
      }
    });
  }
  return 10 * Math.log10(1 / (se / cnt));
}

/** Sizes of the three sections for a budget (derived from the MNIST budget so `--steps` scales all). */
export function photosVideoSizes(o: MaskedExperimentOptions): { photoTrain: number; photoTest: number; videoTrain: number; videoTest: number; videoBatch: number } {
  return {
    photoTrain: Math.min(o.trainCount, 4000), photoTest: Math.min(o.testCount, 1000),
    videoTrain: Math.max(8, Math.round(o.trainCount / 8)), videoTest: Math.max(8, Math.round(o.testCount / 4)), videoBatch: Math.min(o.batchSize, 32),
  };
}

const COLOR_CLAIM = 'ColorMAE (Hinojosa et al. 2024) on colour photographs: filtered-noise masks (green best) beat random masks downstream; held = which-photo probe above the photo MAE with random masks';

/** The rows described in the file comment; `mae` is the trained random-mask MNIST MAE (no fine-tuning rows without it). */
export function photosVideoFinetuneRows(o: MaskedExperimentOptions, tr: LabelledImages, te: LabelledImages, mae: MAE | null): MaskedRow[] {
  const rows: MaskedRow[] = [];
  const z = photosVideoSizes(o);
  const fit = (m: Parameters<typeof train>[0], data: Parameters<typeof train>[1], batchSize = o.batchSize) => {
    const t0 = Date.now();
    const res = train(m, data, { steps: o.steps, batchSize, lr: o.lr, seed: o.seed, onEvent: o.onEvent });
    m.eval();
    return { trainSeconds: (Date.now() - t0) / 1000, finalLoss: res.lastLoss };
  };

  // 1. ColorMAE on colour photo crops.
  const ptr = photoCrops({ n: z.photoTrain, size: 32, split: 'train', seed: o.seed });
  const pte = photoCrops({ n: z.photoTest, size: 32, split: 'test', seed: o.seed + 1 });
  const PER = 3 * 32 * 32;
  const pcfg: MAEConfig = {
    imageSize: 32, channels: 3, patchSize: 4, dim: o.dim, depth: o.depth, heads: 4, decoderDim: o.decoderDim, decoderDepth: o.decoderDepth, decoderHeads: 4,
    maskRatio: o.maskRatio, seed: o.seed,
  };
  let photoRandom = 0;
  for (const kind of ['random', 'red', 'blue', 'green', 'purple'] as MaskKind[]) {
    const m = new MAE({ ...pcfg, mask: kind });
    const f = fit(m, { x: ptr.x, n: ptr.n, sampleShape: [PER] });
    const p = probes((x) => m.features(x), ptr, pte, PER, ptr.names.length);
    if (kind === 'random') photoRandom = p.probeAccuracy;
    rows.push({
      method: kind === 'random' ? `photos 32×32 RGB: MAE, random masks (photo baseline; probe = which of ${ptr.names.length} photos)` : `photos 32×32 RGB: MAE, ${kind} masks`,
      ...p, maskedPsnr: imageMaskedPsnr(m, pte.x, pte.n, o.seed + 7777), ...f,
      beatsRandom: kind === 'random' ? null : p.probeAccuracy > photoRandom, claim: kind === 'random' ? undefined : COLOR_CLAIM,
    });
  }

  // 2. VideoMAE on moving digits: frozen features probed for the video's digit.
  const vtr = movingMnist({ n: z.videoTrain, frames: 8, size: 64, seed: o.seed });
  const vte = movingMnist({ n: z.videoTest, frames: 8, size: 64, seed: o.seed + 1, pool: 'test' });
  const VPER = 8 * 64 * 64;
  const vcfg: VideoMAEConfig = {
    frames: 8, imageSize: 64, channels: 1, patchSize: 8, tubelet: 2, dim: o.dim, depth: o.depth, heads: 4, decoderDim: o.decoderDim, decoderDepth: o.decoderDepth, decoderHeads: 4,
    maskRatio: 0.9, seed: o.seed,
  };
  const untrained = new VideoMAE(vcfg).eval();
  const pu = probes((x) => untrained.features(x), vtr, vte, VPER, 10);
  rows.push({ method: 'videos 8×64×64: untrained VideoMAE encoder (reference; probe = video digit)', ...pu, maskedPsnr: videoMaskedPsnr(untrained, vte.x, vte.n, o.seed + 7777), trainSeconds: 0, finalLoss: null, beatsRandom: null });
  const vm = new VideoMAE(vcfg);
  const fv = fit(vm, { x: vtr.x, n: vtr.n, sampleShape: [VPER] }, z.videoBatch);
  const pv = probes((x) => vm.features(x), vtr, vte, VPER, 10);
  rows.push({
    method: `videos 8×64×64: VideoMAE, tube 0.9 + running-cell decoder masks (${vtr.n} videos, batch ${z.videoBatch})`, ...pv,
    maskedPsnr: videoMaskedPsnr(vm, vte.x, vte.n, o.seed + 7777), ...fv, beatsRandom: pv.probeAccuracy > pu.probeAccuracy,
    claim: 'VideoMAE (Tong et al. 2022): masked video pre-training learns the videos\' content; held = digit probe above the untrained encoder',
  });

  // 3. Fine-tuning the MNIST MAE baseline's encoder vs the same ViT from scratch.
  if (!mae) return rows;
  const labelled = { x: tr.x, y: tr.y, n: tr.n, sampleShape: [784] };
  const scratch = new ViTClassifier({ imageSize: 28, channels: 1, patchSize: o.patchSize, dim: o.dim, depth: o.depth, heads: 4, classes: 10, seed: o.seed });
  const fs = fit(scratch, labelled);
  const accScratch = scratch.accuracy(te.x, te.y);
  rows.push({ method: 'ViT + linear head trained from scratch on the labels (accuracy, same steps)', probeAccuracy: accScratch, maskedPsnr: null, ...fs, beatsRandom: null });
  const tuned = ViTClassifier.fromMAE(mae, 10, new Generator(o.seed));
  const ft = fit(tuned, labelled);
  const accTuned = tuned.accuracy(te.x, te.y);
  rows.push({
    method: 'MAE baseline encoder fine-tuned end to end + linear head (accuracy, same steps)', probeAccuracy: accTuned, maskedPsnr: null, ...ft, beatsRandom: accTuned > accScratch,
    claim: 'MAE (He et al. 2022): MAE pre-training improves fine-tuning accuracy over training from scratch; held = fine-tuned accuracy above scratch\'s',
  });
  return rows;
}
