/**
 * StackVAE-G vs a plain autoencoder (vs PCA and a VAE) on labelled NAB series. NAB is univariate,
 * so each multichannel series joins the occupancy and speed series of one traffic sensor on their
 * shared timestamps (realTraffic 6005: 2,380 timestamps; t4013: 2,493), labelled with the union
 * of both series' NAB anomaly windows.
 *
 * Protocol (src/tasks/experiments/series.ts): fit on the first `trainFraction` of the timeline
 * (which holds no labelled window for these sensors), score every timestamp, and report ROC-AUC and
 * average precision on the held-out remainder, plus the whole series for reference. Every model
 * sees the same standardised series and the same window; results are averaged over `seeds`.
 */
import { fileURLToPath } from 'node:url';
import { loadNabMultichannel } from '../../data/nab.js';
import { detectSeries, detectionMetrics, makeDetectorFactory, type DetectModel } from './series.js';

export const NAB_PAIRS: { name: string; files: [string, string] }[] = [
  { name: 'realTraffic 6005 (occupancy + speed)', files: ['realTraffic/occupancy_6005.csv', 'realTraffic/speed_6005.csv'] },
  { name: 'realTraffic t4013 (occupancy + speed)', files: ['realTraffic/occupancy_t4013.csv', 'realTraffic/speed_t4013.csv'] },
];

/** The NAB files shipped with aelab (test/fixtures/nab, MIT licence, see its SOURCE). */
export function defaultNabRoot(): string {
  return fileURLToPath(new URL('../../../../test/fixtures/nab', import.meta.url));
}

export interface NabOptions {
  root?: string;
  models: DetectModel[];
  window: number;
  stride: number;
  epochs: number;
  latent: number;
  trainFraction: number;
  seeds: number[];
}

export const NAB_BUDGETS: Record<'tiny' | 'quick' | 'full', NabOptions> = {
  tiny: { models: ['stackvae-g', 'ae', 'pca'], window: 16, stride: 8, epochs: 2, latent: 4, trainFraction: 0.5, seeds: [0] },
  quick: { models: ['stackvae-g', 'ae', 'vae', 'pca'], window: 32, stride: 1, epochs: 20, latent: 8, trainFraction: 0.5, seeds: [0, 1, 2] },
  full: { models: ['stackvae-g', 'ae', 'vae', 'pca'], window: 32, stride: 1, epochs: 60, latent: 8, trainFraction: 0.5, seeds: [0, 1, 2, 3, 4] },
};

export interface NabRow {
  series: string;
  model: DetectModel;
  /** Held-out part (mean over seeds). */
  rocAuc: number;
  averagePrecision: number;
  /** Whole series (mean over seeds). */
  rocAucAll: number;
  averagePrecisionAll: number;
  /** Fraction of held-out timestamps labelled anomalous (the AP of a random score). */
  positiveRate: number;
  seconds: number;
}

export interface NabResult { experiment: 'nab'; options: NabOptions; rows: NabRow[] }

export function runNab(o: NabOptions): NabResult {
  const root = o.root ?? defaultNabRoot();
  const rows: NabRow[] = [];
  for (const pair of NAB_PAIRS) {
    const s = loadNabMultichannel(root, pair.files);
    for (const model of o.models) {
      const acc = { auc: 0, ap: 0, aucAll: 0, apAll: 0, secs: 0, rate: 0 };
      for (const seed of o.seeds) {
        const make = makeDetectorFactory(model, { contamination: 0.01, epochs: o.epochs, latent: o.latent, seed, components: 0.9, stride: o.stride });
        const r = detectSeries(s.data, s.T, s.C, make, { window: o.window, stride: o.stride, trainFraction: o.trainFraction, columns: s.names, timestamps: s.timestamps });
        const held = detectionMetrics(s.labels, r.scores, r.trainEnd, s.T, 'held-out');
        const all = detectionMetrics(s.labels, r.scores, 0, s.T, 'all');
        if (!held || !all) throw new Error(`nab: ${pair.name}: the held-out part has labels of one class only`);
        acc.auc += held.rocAuc; acc.ap += held.averagePrecision; acc.aucAll += all.rocAuc; acc.apAll += all.averagePrecision;
        acc.secs += r.fitSeconds + r.scoreSeconds; acc.rate = held.anomalous / held.timestamps;
      }
      const k = o.seeds.length;
      rows.push({ series: pair.name, model, rocAuc: acc.auc / k, averagePrecision: acc.ap / k, rocAucAll: acc.aucAll / k, averagePrecisionAll: acc.apAll / k, positiveRate: acc.rate, seconds: acc.secs / k });
    }
  }
  return { experiment: 'nab', options: o, rows };
}
