/**
 * The MixedAE and MultiMAE rows of `aelab experiment masked`: the same MNIST splits, ViT encoder
 * (patch, width, depth), decoder, mask ratio, steps, batch, learning rate and seed as the MAE
 * baseline; features scored by the same ridge probe and k-NN.
 *
 *   'MAE + naive mixing (r = 2)'  MixedAE (src/models/mixedae.ts) without homologous recognition:
 *       pairs of digits mixed patch-wise, MAE on the mixed images (segment embedding in the
 *       decoder). Claim (Chen et al. 2023): naive mixing hurts MAE; held = probe accuracy below
 *       the MAE baseline's.
 *   'MixedAE (r = 2)'  the same plus homologous attention (top-k) and the homologous contrastive
 *       loss (λ = 1, τ = 0.2). Claim: homologous recognition turns mixing from harmful to
 *       helpful; held = probe accuracy above naive mixing's (the claim string also says whether
 *       it beat plain MAE).
 *   'MultiMAE (pixels + edges, foreground, depth)'  src/models/multimae.ts on the pixels and three
 *       pseudo-labels (src/data/pseudo-labels.ts), the SAME total visible budget as MAE (⌊N/4⌋
 *       tokens over all modalities, Dirichlet(1) proportions), one decoder per modality. The
 *       probe reads the encoder on the pixels alone. Claim (Bachmann et al. 2022): multi-modal
 *       masked pre-training gives better pixel-only features than MAE on pixels at the same
 *       budget; held = probe accuracy above the MAE baseline's. The claim string adds the
 *       cross-modal PSNR of the whole edge map predicted from pixels only (all edge tokens
 *       masked): from the K visible pixel patches of the shared test masks (the training budget)
 *       and from all N pixel patches (more than training ever showed), against the trivial
 *       prediction, the training set's mean edge map.
 * Masked PSNR of every row: MAE's protocol (shared random masks of the test digits, seed + 7777),
 * for MultiMAE with only the visible pixel tokens given (every other modality masked).
 */
import { Generator } from '../../core/random.js';
import { fromBuffer, noGrad, scope, type Tensor } from '../../core/tensor.js';
import type { LabelledImages } from '../../data/mnist.js';
import { pseudoLabel, PSEUDO_LABELS } from '../../data/pseudo-labels.js';
import { MixedAE } from '../../models/mixedae.js';
import { MultiMAE } from '../../models/multimae.js';
import { maskFromScores, randomMasking } from '../../models/masking.js';
import { train } from '../../train/fit.js';
import { knnAccuracy } from './knn.js';
import { ridgeProbeAccuracy, type MaskedExperimentOptions, type MaskedRow } from './masked.js';

const PIX = 784;

/** Features fn(x) of all rows [n, 784], in batches of 250 -> [n, width]. */
function featureRows(fn: (x: Tensor) => Tensor, x: Float32Array, n: number): { data: Float32Array; width: number } {
  let out: Float32Array | null = null, width = 0;
  for (let s = 0; s < n; s += 250) {
    const e = Math.min(n, s + 250);
    scope(() => {
      const f = noGrad(() => fn(fromBuffer(x.slice(s * PIX, e * PIX), [e - s, PIX])));
      width = f.shape[1]!;
      out ??= new Float32Array(n * width);
      out.set(f.data as Float32Array, s * width);
    });
  }
  return { data: out!, width };
}

function probes(fn: (x: Tensor) => Tensor, tr: LabelledImages, te: LabelledImages): { probeAccuracy: number; knnAccuracy: number } {
  const a = featureRows(fn, tr.x, tr.n), b = featureRows(fn, te.x, te.n);
  return { probeAccuracy: ridgeProbeAccuracy(a.data, tr.y, b.data, te.y, a.width), knnAccuracy: knnAccuracy(a.data, tr.y, b.data, te.y, a.width) };
}

/** 10 log10(1 / MSE) over pairs (clamped predictions, targets). */
function psnrOf(se: number, cnt: number): number {
  return 10 * Math.log10(1 / (se / cnt));
}

/**
 * PSNR of the masked pixel patches under MAE's shared random test masks (as masked.ts draws
 * them); `predict(x, m)` returns the predictions and targets [B, N, p²] under mask m.
 */
function sharedMaskPsnr(predict: (x: Tensor, m: ReturnType<typeof randomMasking>) => { pred: Tensor; target: Tensor }, N: number, ratio: number, x: Float32Array, n: number, seed: number): number {
  const gen = new Generator(seed + 7777);
  let se = 0, cnt = 0;
  for (let s = 0; s < n; s += 250) {
    const e = Math.min(n, s + 250), B = e - s;
    const m = randomMasking(B, N, ratio, gen);
    noGrad(() => scope(() => {
      const { pred, target } = predict(fromBuffer(x.slice(s * PIX, e * PIX), [B, PIX]), m);
      const P = pred.shape[2]!, md = m.mask.data;
      for (let i = 0; i < pred.size; i++) {
        if (!md[Math.floor(i / P)]) continue;
        se += (Math.min(1, Math.max(0, pred.data[i]!)) - target.data[i]!) ** 2;
        cnt++;
      }
    }));
  }
  return psnrOf(se, cnt);
}

/** Stacked MultiMAE inputs [n, (1 + M)·784]: the digits then each pseudo-label map. */
function stackModalities(x: Float32Array, n: number): Float32Array {
  const maps = PSEUDO_LABELS.map((k) => pseudoLabel(k, x, n, 28, 28));
  const per = (1 + maps.length) * PIX, out = new Float32Array(n * per);
  for (let s = 0; s < n; s++) {
    out.set(x.subarray(s * PIX, (s + 1) * PIX), s * per);
    maps.forEach((mp, j) => out.set(mp.subarray(s * PIX, (s + 1) * PIX), s * per + (1 + j) * PIX));
  }
  return out;
}

/** The rows of the file comment; `baselineAcc` is the random-mask MAE's probe accuracy (null: no "held" against it). */
export function mixedMultiRows(o: MaskedExperimentOptions, tr: LabelledImages, te: LabelledImages, baselineAcc: number | null): MaskedRow[] {
  const rows: MaskedRow[] = [];
  const base = {
    imageSize: 28, channels: 1, patchSize: o.patchSize, dim: o.dim, depth: o.depth, heads: 4,
    decoderDim: o.decoderDim, decoderDepth: o.decoderDepth, decoderHeads: 4, maskRatio: o.maskRatio, seed: o.seed,
  };
  const fit = { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed, onEvent: o.onEvent };
  const N = (28 / o.patchSize) ** 2;

  let naiveAcc: number | null = null;
  for (const homologous of [false, true]) {
    const model = new MixedAE({ ...base, mixGroup: 2, homologous, homologousWeight: 1, temperature: 0.2 });
    const t0 = Date.now();
    const res = train(model, { x: tr.x, n: tr.n, sampleShape: [PIX] }, fit);
    const secs = (Date.now() - t0) / 1000;
    model.eval();
    const p = probes((x) => model.features(x), tr, te);
    const psnr = sharedMaskPsnr((x, m) => model.forwardMasked(x, m), N, o.maskRatio, te.x, te.n, o.seed);
    if (!homologous) {
      naiveAcc = p.probeAccuracy;
      rows.push({
        method: 'MAE + naive mixing (r = 2)', ...p, maskedPsnr: psnr, trainSeconds: secs, finalLoss: res.lastLoss,
        beatsRandom: baselineAcc === null ? null : p.probeAccuracy < baselineAcc,
        claim: 'MixedAE (Chen et al. 2023): mixing images inside the batch, naively, hurts MAE; held = probe below the MAE baseline',
      });
    } else {
      const vsMae = baselineAcc === null ? '' : `; above plain MAE too: ${p.probeAccuracy > baselineAcc ? 'yes' : 'no'}`;
      rows.push({
        method: 'MixedAE (r = 2, homologous attention + contrast)', ...p, maskedPsnr: psnr, trainSeconds: secs, finalLoss: res.lastLoss,
        beatsRandom: p.probeAccuracy > naiveAcc!,
        claim: `MixedAE: homologous recognition (top-k attention + homologous contrast) makes mixing help; held = probe above naive mixing${vsMae}`,
      });
    }
  }

  // MultiMAE on pixels + pseudo-labels at MAE's visible budget.
  const xs = stackModalities(tr.x, tr.n), per = (1 + PSEUDO_LABELS.length) * PIX, M = 1 + PSEUDO_LABELS.length;
  const model = new MultiMAE({
    imageSize: 28, patchSize: o.patchSize, modalities: [{ name: 'pixels' }, ...PSEUDO_LABELS.map((name) => ({ name }))],
    dim: o.dim, depth: o.depth, heads: 4, decoderDim: o.decoderDim, decoderDepth: o.decoderDepth, decoderHeads: 4,
    visibleTokens: Math.floor(N * (1 - o.maskRatio) + 1e-9), alpha: 1, seed: o.seed,
  });
  const t0 = Date.now();
  const res = train(model, { x: xs, n: tr.n, sampleShape: [per] }, fit);
  const secs = (Date.now() - t0) / 1000;
  model.eval();
  const p = probes((x) => model.features(x), tr, te);
  // Under MAE's shared test masks, the visible pixel tokens alone as input (every other token
  // masked; the masked tokens never reach the encoder, so the true maps can sit in the input as
  // targets): PSNR of the masked pixel patches, and of the whole edge map predicted from them.
  const xsTe = stackModalities(te.x, te.n), edgeIdx = 1 + PSEUDO_LABELS.indexOf('edges');
  const gen = new Generator(o.seed + 7777);
  let sePix = 0, cntPix = 0, seEdge = 0;
  for (let s = 0; s < te.n; s += 250) {
    const e = Math.min(te.n, s + 250), B = e - s;
    const m = randomMasking(B, N, o.maskRatio, gen);
    const K = m.K, rs = m.restore.i32(), md = m.mask.data;
    const scores = new Float32Array(B * M * N).fill(2 * N);
    for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) if (rs[b * N + n]! < K) scores[b * M * N + n] = rs[b * N + n]!;
    const mm = maskFromScores(scores, B, M * N, K);
    noGrad(() => scope(() => {
      const out = model.forwardMasked(fromBuffer(xsTe.slice(s * per, e * per), [B, per]), mm);
      const pp = out.preds[0]!, tp = out.targets[0]!, P = pp.shape[2]!;
      for (let i = 0; i < pp.size; i++) {
        if (!md[Math.floor(i / P)]) continue;
        sePix += (Math.min(1, Math.max(0, pp.data[i]!)) - tp.data[i]!) ** 2;
        cntPix++;
      }
      const pe = out.preds[edgeIdx]!.data, te2 = out.targets[edgeIdx]!.data;
      for (let i = 0; i < pe.length; i++) seEdge += (Math.min(1, Math.max(0, pe[i]!)) - te2[i]!) ** 2;
    }));
  }
  const psnr = psnrOf(sePix, cntPix), edgeFewPsnr = psnrOf(seEdge, te.n * PIX);
  // Edges from ALL pixel patches (more visible tokens than any training sample had), and the
  // trivial prediction: the training set's mean edge map.
  const edgesTe = pseudoLabel('edges', te.x, te.n, 28, 28), edgesTr = pseudoLabel('edges', tr.x, tr.n, 28, 28);
  const meanEdge = new Float64Array(PIX);
  for (let i = 0; i < edgesTr.length; i++) meanEdge[i % PIX] += edgesTr[i]! / tr.n;
  let se = 0, seMean = 0;
  for (let s = 0; s < te.n; s += 250) {
    const e = Math.min(te.n, s + 250);
    scope(() => {
      const pred = model.predictModality(fromBuffer(te.x.slice(s * PIX, e * PIX), [e - s, PIX]), 'pixels', 'edges').data;
      for (let i = 0; i < pred.length; i++) {
        const t = edgesTe[s * PIX + i]!;
        se += (Math.min(1, Math.max(0, pred[i]!)) - t) ** 2;
        seMean += (meanEdge[i % PIX]! - t) ** 2;
      }
    });
  }
  const edgePsnr = psnrOf(se, te.n * PIX), meanPsnr = psnrOf(seMean, te.n * PIX);
  rows.push({
    method: 'MultiMAE (pixels + edges, foreground, depth)', ...p, maskedPsnr: psnr, trainSeconds: secs, finalLoss: res.lastLoss,
    beatsRandom: baselineAcc === null ? null : p.probeAccuracy > baselineAcc,
    claim: `MultiMAE (Bachmann et al. 2022): multi-modal masked pre-training gives better pixel-only features than MAE at the same visible budget; held = probe above the MAE baseline. ` +
      `Cross-modal (all edge tokens masked), edge-map PSNR: from the ${Math.floor(N * (1 - o.maskRatio) + 1e-9)} visible pixel patches of the shared masks ${edgeFewPsnr.toFixed(2)} dB, ` +
      `from all ${N} pixel patches ${edgePsnr.toFixed(2)} dB, the mean edge map ${meanPsnr.toFixed(2)} dB`,
  });
  return rows;
}
