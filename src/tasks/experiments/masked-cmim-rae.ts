/**
 * The cMIM and RAE rows of `aelab experiment masked` (same MNIST splits, steps, batch, learning
 * rate and seed as the MAE rows; features scored by the same ridge probe and k-NN).
 *
 * cMIM (src/models/cmim.ts), MLP encoder/decoder (hidden 256, code size = the MAE width D), A-MIM:
 *   - 'MIM (λ = 0)': the same model and objective without the contrastive term (the reference);
 *   - 'cMIM (λ = 1)': claim (Livne 2024) — the contrastive term makes the codes μ(x) better for
 *     classification than MIM's; held = probe accuracy above MIM's;
 *   - 'cMIM informative embedding [μ, g(μ)]': claim — reading the decoder's hidden state with the
 *     code improves discriminative performance without training; held = probe accuracy above cMIM's μ.
 * RAE (src/models/rae.ts): the MAE baseline's encoder (random masks, trained above) frozen, a ViT
 * decoder (width and heads of the MAE decoder, depth 2, no latent noise) trained on full images.
 * Reference: a Bernoulli MLP VAE (src/models/vae.ts) whose hidden width is chosen so its parameter
 * count matches the RAE's (frozen encoder + decoder), latent size D. Claim (Zheng et al. 2025) —
 * a frozen representation encoder with a trained decoder reconstructs at least as well as a VAE
 * and has a far richer latent; held = reconstruction PSNR ≥ the VAE's AND probe accuracy above the
 * VAE's μ. PSNR here is of the whole test image (decoder mean, clamped to [0, 1]), not of masked
 * patches.
 */
import { fromBuffer, noGrad, scope, type Tensor } from '../../core/tensor.js';
import { sigmoid } from '../../core/ops/elementwise.js';
import type { LabelledImages } from '../../data/mnist.js';
import { CMIM, embedRows } from '../../models/cmim.js';
import type { MAE } from '../../models/mae.js';
import { RAE } from '../../models/rae.js';
import { VAE } from '../../models/vae.js';
import { train } from '../../train/fit.js';
import { knnAccuracy } from './knn.js';
import { ridgeProbeAccuracy, type MaskedExperimentOptions, type MaskedRow } from './masked.js';

const PIX = 784;

/** PSNR (peak 1) of reconstructions of all rows x [n, 784]; `recon` maps a batch [B, 784] to [B, …784 values]. */
export function reconstructionPsnr(recon: (x: Tensor) => Tensor, x: Float32Array, n: number, batch = 250): number {
  let se = 0;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    noGrad(() => scope(() => {
      const r = recon(fromBuffer(x.slice(s * PIX, e * PIX), [e - s, PIX])).data;
      for (let i = 0; i < r.length; i++) se += (Math.min(1, Math.max(0, r[i]!)) - x[s * PIX + i]!) ** 2;
    }));
  }
  return 10 * Math.log10(1 / (se / (n * PIX)));
}

/** Ridge probe and k-NN of features fn(x) on the splits. */
function probes(fn: (x: Tensor) => Tensor, tr: LabelledImages, te: LabelledImages): { probeAccuracy: number; knnAccuracy: number } {
  const a = embedRows(fn, tr.x, tr.n, PIX), b = embedRows(fn, te.x, te.n, PIX);
  return { probeAccuracy: ridgeProbeAccuracy(a.data, tr.y, b.data, te.y, a.width), knnAccuracy: knnAccuracy(a.data, tr.y, b.data, te.y, a.width) };
}

/** VAE hidden width whose parameter count (784 → h → 2Z, Z → h → 784) is closest to `target`. */
export function vaeHiddenFor(target: number, Z: number): number {
  return Math.max(8, Math.round((target - 2 * Z - PIX) / (2 * PIX + 2 + 3 * Z)));
}

/** The rows described in the file comment; `mae` is the trained random-mask MAE baseline (no RAE/VAE rows without it). */
export function cmimRaeRows(o: MaskedExperimentOptions, tr: LabelledImages, te: LabelledImages, mae: MAE | null): MaskedRow[] {
  const rows: MaskedRow[] = [];
  const data = { x: tr.x, n: tr.n, sampleShape: [PIX] };
  const fit = (m: Parameters<typeof train>[0]) => {
    const t0 = Date.now();
    const res = train(m, data, { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed, onEvent: o.onEvent });
    m.eval();
    return { trainSeconds: (Date.now() - t0) / 1000, finalLoss: res.lastLoss };
  };
  const Z = o.dim;
  const cmimClaim = 'cMIM (Livne 2024): the contrastive term (no augmentation) gives codes that classify better than MIM\'s; held = probe above MIM (λ = 0)';
  let mimAcc = 0;
  for (const lambda of [0, 1]) {
    const m = new CMIM({ inputDim: PIX, hidden: [256], latentDim: Z, objective: 'a-mim', contrastiveWeight: lambda, temperature: 0.1, seed: o.seed });
    const f = fit(m);
    const p = probes((x) => m.features(x), tr, te);
    const psnr = reconstructionPsnr((x) => m.reconstruct(x), te.x, te.n);
    rows.push({
      method: lambda === 0 ? `MIM (A-MIM, λ = 0), MLP 256, code μ [${Z}] (PSNR: full image)` : `cMIM (A-MIM + contrastive, λ = 1, τ = 0.1), code μ [${Z}] (PSNR: full image)`,
      ...p, maskedPsnr: psnr, ...f, beatsRandom: lambda === 0 ? null : p.probeAccuracy > mimAcc, claim: lambda === 0 ? undefined : cmimClaim,
    });
    if (lambda === 0) mimAcc = p.probeAccuracy;
    else {
      const e = probes((x) => m.informativeEmbedding(x), tr, te);
      rows.push({
        method: `cMIM informative embedding [μ, g(μ)] [${Z + 256}] (no training)`, ...e, maskedPsnr: null, trainSeconds: 0, finalLoss: null,
        beatsRandom: e.probeAccuracy > p.probeAccuracy,
        claim: 'informative embeddings (Livne 2024): the decoder hidden state read with the code improves discriminative use without training; held = probe above cMIM\'s μ',
      });
    }
  }
  if (!mae) return rows;
  const rae = new RAE({ encoder: { type: 'mae', config: mae.config }, decoderDim: o.decoderDim, decoderDepth: 2, decoderHeads: 4, noiseTau: 0, seed: o.seed });
  rae.setEncoderWeights(mae);
  const encoderParams = [...rae.encoder.stateDict().values()].reduce((s, t) => s + t.size, 0);
  const raeParams = encoderParams + rae.numParameters();
  const vae = new VAE({ inputDim: PIX, hidden: [vaeHiddenFor(raeParams, Z)], latentDim: Z, decoder: 'bernoulli', seed: o.seed });
  const fv = fit(vae);
  const pv = probes((x) => noGrad(() => vae.encode(x).mu), tr, te);
  const psnrV = reconstructionPsnr((x) => sigmoid(vae.decode(vae.encode(x).mu)), te.x, te.n);
  rows.push({ method: `VAE (Bernoulli, hidden ${vae.config.hidden[0]}, ${vae.numParameters().toLocaleString('en-US')} params), μ [${Z}] (PSNR: full image)`, ...pv, maskedPsnr: psnrV, ...fv, beatsRandom: null });
  const fr = fit(rae);
  const pr = probes((x) => rae.features(x), tr, te);
  const psnrR = reconstructionPsnr((x) => rae.reconstruct(x), te.x, te.n);
  rows.push({
    method: `RAE: frozen MAE-baseline encoder + ViT decoder (${rae.numParameters().toLocaleString('en-US')} trained / ${raeParams.toLocaleString('en-US')} params), mean token [${Z}] (PSNR: full image)`,
    ...pr, maskedPsnr: psnrR, ...fr, beatsRandom: psnrR >= psnrV && pr.probeAccuracy > pv.probeAccuracy,
    claim: 'RAE (Zheng et al. 2025): a frozen representation encoder + trained ViT decoder reconstructs as well as a VAE of similar size, with a richer latent; held = PSNR ≥ VAE and probe above the VAE',
  });
  return rows;
}
