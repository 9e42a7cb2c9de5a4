/** Classification metrics of a scorer's predictions against the true labels (1 = the latent fires / marked correctly). */

export interface ScoreMetrics {
  n: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  accuracy: number;
  /** Mean of the recall on positives and the recall on negatives (0.5 = chance). */
  balancedAccuracy: number;
  /** tp / (tp + fp); 0 when nothing was predicted positive. */
  precision: number;
  /** tp / (tp + fn); 0 when there are no positives. */
  recall: number;
  f1: number;
  /** Area under the ROC curve of the probabilities (ties count ½); null without probabilities or without both classes. */
  auc: number | null;
}

/** Metrics of predictions (0/1) against labels (0/1); probabilities give the AUC. */
export function scoreMetrics(labels: readonly number[], preds: readonly number[], probs?: readonly number[] | null): ScoreMetrics {
  if (labels.length !== preds.length) throw new RangeError(`scoreMetrics: ${labels.length} labels but ${preds.length} predictions`);
  let tp = 0, fp = 0, tn = 0, fn = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) { if (preds[i]) tp++; else fn++; } else if (preds[i]) fp++; else tn++;
  }
  const n = labels.length;
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const tnr = tn + fp ? tn / (tn + fp) : 0;
  const pos = tp + fn, neg = tn + fp;
  const balancedAccuracy = pos && neg ? (recall + tnr) / 2 : pos ? recall : tnr;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { n, tp, fp, tn, fn, accuracy: n ? (tp + tn) / n : 0, balancedAccuracy, precision, recall, f1, auc: probs ? auc(labels, probs) : null };
}

/** ROC AUC: P(score of a random positive > score of a random negative), ties ½; null without both classes. */
export function auc(labels: readonly number[], scores: readonly number[]): number | null {
  if (labels.length !== scores.length) throw new RangeError(`auc: ${labels.length} labels but ${scores.length} scores`);
  const idx = labels.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  // Mann–Whitney U with average ranks for ties.
  let rankSumPos = 0, nPos = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[idx[k]!]) { rankSumPos += rank; nPos++; }
    i = j + 1;
  }
  const nNeg = labels.length - nPos;
  if (!nPos || !nNeg) return null;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}
