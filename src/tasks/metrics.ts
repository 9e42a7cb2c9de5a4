/**
 * Evaluation metrics for anomaly detection, clustering and classification.
 *
 * Conventions: binary labels are 1 = anomaly (positive), 0 = normal; higher scores mean more
 * anomalous; a point is predicted anomalous when score ≥ threshold unless stated otherwise.
 * Definitions follow scikit-learn where one exists, so numbers are comparable with pyod/sklearn.
 */
import { linearSumAssignment } from './hungarian.js';

export class MetricError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricError';
  }
}

function checkBinary(labels: ArrayLike<number>, scores: ArrayLike<number>, what: string): { pos: number; neg: number } {
  if (labels.length !== scores.length) throw new MetricError(`${what}: ${labels.length} labels but ${scores.length} scores`);
  let pos = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l !== 0 && l !== 1) throw new MetricError(`${what}: labels must be 0 or 1, got ${l} at index ${i}`);
    if (Number.isNaN(scores[i])) throw new MetricError(`${what}: score at index ${i} is NaN`);
    pos += l;
  }
  return { pos, neg: labels.length - pos };
}

/** Indices sorted by descending score (stable). */
function orderDesc(scores: ArrayLike<number>): Int32Array {
  const idx = new Int32Array(scores.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx;
}

/**
 * Area under the ROC curve, via the Mann–Whitney statistic:
 *   AUC = (R₊ − n₊(n₊ + 1)/2) / (n₊ n₋),
 * where R₊ is the sum of the ranks (1-based, ascending score) of the positives and tied scores
 * share their average rank. This equals the trapezoidal area under the ROC curve (sklearn's
 * roc_auc_score). Needs both classes present.
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const { pos, neg } = checkBinary(labels, scores, 'rocAuc');
  if (pos === 0 || neg === 0) throw new MetricError(`rocAuc: needs both classes, got ${pos} positives and ${neg} negatives`);
  const n = scores.length;
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => scores[a] - scores[b]);
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const avg = (i + j) / 2 + 1; // average of 1-based ranks i+1 … j+1
    for (let k = i; k <= j; k++) if (labels[idx[k]] === 1) rankSum += avg;
    i = j + 1;
  }
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** One operating point per distinct score, from the highest threshold down. */
interface Sweep { thresholds: number[]; tp: number[]; fp: number[]; pos: number; neg: number }

function sweep(labels: ArrayLike<number>, scores: ArrayLike<number>, what: string): Sweep {
  const { pos, neg } = checkBinary(labels, scores, what);
  const idx = orderDesc(scores);
  const thresholds: number[] = [];
  const tp: number[] = [];
  const fp: number[] = [];
  let t = 0;
  let f = 0;
  for (let i = 0; i < idx.length; i++) {
    if (labels[idx[i]] === 1) t++;
    else f++;
    // Emit only after the last member of a run of tied scores.
    if (i + 1 === idx.length || scores[idx[i + 1]] !== scores[idx[i]]) {
      thresholds.push(scores[idx[i]]);
      tp.push(t);
      fp.push(f);
    }
  }
  return { thresholds, tp, fp, pos, neg };
}

/**
 * Average precision, sklearn's step definition (no interpolation):
 *   AP = Σ_k (R_k − R_{k−1}) · P_k
 * over the distinct score thresholds in decreasing order, with R_0 = 0, P_k = TP_k/(TP_k + FP_k),
 * R_k = TP_k / n₊. Needs at least one positive.
 */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const s = sweep(labels, scores, 'averagePrecision');
  if (s.pos === 0) throw new MetricError('averagePrecision: needs at least one positive label');
  let ap = 0;
  let prevR = 0;
  for (let k = 0; k < s.thresholds.length; k++) {
    const r = s.tp[k] / s.pos;
    ap += (r - prevR) * (s.tp[k] / (s.tp[k] + s.fp[k]));
    prevR = r;
  }
  return ap;
}

export interface ThresholdMetrics {
  threshold: number;
  precision: number;
  recall: number;
  f1: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

function prf(tp: number, fp: number, fn: number): { precision: number; recall: number; f1: number } {
  // Undefined ratios (0/0) are reported as 0, as sklearn does with zero_division=0.
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

/** Precision, recall and F1 when predicting anomaly for score ≥ threshold. */
export function precisionRecallAt(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): ThresholdMetrics {
  checkBinary(labels, scores, 'precisionRecallAt');
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = scores[i] >= threshold;
    if (labels[i] === 1) { if (p) tp++; else fn++; } else if (p) fp++; else tn++;
  }
  return { threshold, ...prf(tp, fp, fn), tp, fp, fn, tn };
}

/**
 * The best F1 over all thresholds (each distinct score, predicting score ≥ threshold), with the
 * threshold achieving it (the highest one on ties). This is an optimistic, oracle-tuned number.
 */
export function bestF1(labels: ArrayLike<number>, scores: ArrayLike<number>): ThresholdMetrics {
  const s = sweep(labels, scores, 'bestF1');
  let best: ThresholdMetrics | undefined;
  for (let k = 0; k < s.thresholds.length; k++) {
    const tp = s.tp[k], fp = s.fp[k], fn = s.pos - tp, tn = s.neg - fp;
    const m = prf(tp, fp, fn);
    if (!best || m.f1 > best.f1) best = { threshold: s.thresholds[k], ...m, tp, fp, fn, tn };
  }
  if (!best) throw new MetricError('bestF1: no scores');
  return best;
}

/** Maximal runs [start, end) of consecutive 1s in a label sequence. */
export function labelSegments(labels: ArrayLike<number>): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (let i = 0; i < labels.length; ) {
    if (labels[i] === 1) {
      let j = i;
      while (j < labels.length && labels[j] === 1) j++;
      out.push({ start: i, end: j });
      i = j;
    } else i++;
  }
  return out;
}

/**
 * Point adjustment (Xu et al. 2018, "Unsupervised anomaly detection via variational auto-encoder
 * for seasonal KPIs in web applications"): if any point of a labelled anomaly segment is
 * predicted anomalous, every point of that segment counts as predicted. Returns adjusted 0/1
 * predictions; predictions outside segments are unchanged.
 */
export function pointAdjust(labels: ArrayLike<number>, predictions: ArrayLike<number>): Uint8Array {
  if (labels.length !== predictions.length) throw new MetricError(`pointAdjust: ${labels.length} labels but ${predictions.length} predictions`);
  const out = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) out[i] = predictions[i] ? 1 : 0;
  for (const seg of labelSegments(labels)) {
    let hit = false;
    for (let i = seg.start; i < seg.end && !hit; i++) hit = out[i] === 1;
    if (hit) out.fill(1, seg.start, seg.end);
  }
  return out;
}

export const POINT_ADJUST_WARNING =
  'point-adjusted F1 inflates scores: one detected point credits its whole labelled segment, so even random scores can reach a high F1 on long segments (Kim et al. 2022); report it only next to unadjusted metrics';

export interface PointAdjustedResult extends ThresholdMetrics {
  warning: string;
}

/**
 * F1 after point adjustment. With `threshold` given, predictions are score ≥ threshold; without,
 * the best F1 over all thresholds is returned (as the literature usually reports it).
 *
 * Threshold search in O(n log n): a segment is fully detected at threshold θ iff its maximum
 * score ≥ θ, so each segment acts as one item of weight |segment| scored by its maximum, and each
 * normal point as one negative item; the sweep over items sorted by score gives TP and FP.
 */
export function pointAdjustedF1(labels: ArrayLike<number>, scores: ArrayLike<number>, options: { threshold?: number } = {}): PointAdjustedResult {
  const { pos, neg } = checkBinary(labels, scores, 'pointAdjustedF1');
  if (options.threshold !== undefined) {
    const th = options.threshold;
    const pred = new Uint8Array(scores.length);
    for (let i = 0; i < scores.length; i++) pred[i] = scores[i] >= th ? 1 : 0;
    const adj = pointAdjust(labels, pred);
    return { ...precisionRecallAt(labels, adj, 0.5), threshold: th, warning: POINT_ADJUST_WARNING };
  }
  const items: { score: number; w: number; positive: boolean }[] = [];
  for (const seg of labelSegments(labels)) {
    let m = -Infinity;
    for (let i = seg.start; i < seg.end; i++) m = Math.max(m, scores[i]);
    items.push({ score: m, w: seg.end - seg.start, positive: true });
  }
  for (let i = 0; i < labels.length; i++) if (labels[i] === 0) items.push({ score: scores[i], w: 1, positive: false });
  items.sort((a, b) => b.score - a.score);
  let tp = 0, fp = 0;
  let best: ThresholdMetrics | undefined;
  for (let k = 0; k < items.length; k++) {
    if (items[k].positive) tp += items[k].w;
    else fp += 1;
    if (k + 1 < items.length && items[k + 1].score === items[k].score) continue;
    const m = prf(tp, fp, pos - tp);
    if (!best || m.f1 > best.f1) best = { threshold: items[k].score, ...m, tp, fp, fn: pos - tp, tn: neg - fp };
  }
  if (!best) throw new MetricError('pointAdjustedF1: no scores');
  return { ...best, warning: POINT_ADJUST_WARNING };
}

/** Fraction of equal entries. */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  if (yTrue.length !== yPred.length) throw new MetricError(`accuracy: ${yTrue.length} true labels but ${yPred.length} predictions`);
  if (yTrue.length === 0) throw new MetricError('accuracy: empty input');
  let c = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) c++;
  return c / yTrue.length;
}

export interface ConfusionMatrix {
  /** Sorted union of the label values seen; row/column i stands for labels[i]. */
  labels: number[];
  /** matrix[i][j] = count of true labels[i] predicted as labels[j]. */
  matrix: number[][];
}

/** Confusion matrix over the union of labels (sklearn's orientation: rows true, columns predicted). */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): ConfusionMatrix {
  if (yTrue.length !== yPred.length) throw new MetricError(`confusionMatrix: ${yTrue.length} true labels but ${yPred.length} predictions`);
  const set = new Set<number>();
  for (let i = 0; i < yTrue.length; i++) { set.add(yTrue[i]); set.add(yPred[i]); }
  const labels = [...set].sort((a, b) => a - b);
  const pos = new Map(labels.map((l, i) => [l, i]));
  const matrix = labels.map(() => new Array<number>(labels.length).fill(0));
  for (let i = 0; i < yTrue.length; i++) matrix[pos.get(yTrue[i])!][pos.get(yPred[i])!]++;
  return { labels, matrix };
}

/** Contingency table n_ij between two labelings, with row sums a_i and column sums b_j. */
function contingency(a: ArrayLike<number>, b: ArrayLike<number>, what: string): { table: number[][]; rows: number[]; cols: number[]; n: number } {
  if (a.length !== b.length) throw new MetricError(`${what}: labelings have lengths ${a.length} and ${b.length}`);
  const ra = new Map<number, number>();
  const rb = new Map<number, number>();
  for (let i = 0; i < a.length; i++) {
    if (!ra.has(a[i])) ra.set(a[i], ra.size);
    if (!rb.has(b[i])) rb.set(b[i], rb.size);
  }
  const table = Array.from({ length: ra.size }, () => new Array<number>(rb.size).fill(0));
  for (let i = 0; i < a.length; i++) table[ra.get(a[i])!][rb.get(b[i])!]++;
  const rows = table.map((r) => r.reduce((s, v) => s + v, 0));
  const cols = new Array<number>(rb.size).fill(0);
  for (const r of table) r.forEach((v, j) => (cols[j] += v));
  return { table, rows, cols, n: a.length };
}

const comb2 = (x: number) => (x * (x - 1)) / 2;

/**
 * Adjusted Rand index (Hubert & Arabie 1985):
 *   ARI = (Σ_ij C(n_ij,2) − E) / (½(Σ_i C(a_i,2) + Σ_j C(b_j,2)) − E),
 *   E = Σ_i C(a_i,2) Σ_j C(b_j,2) / C(n,2).
 * When the denominator is 0 (both labelings trivial in the same way) the labelings agree
 * perfectly and 1 is returned, as sklearn does. Permutation-invariant; 1 = identical partitions.
 */
export function adjustedRandIndex(labelsTrue: ArrayLike<number>, labelsPred: ArrayLike<number>): number {
  const { table, rows, cols, n } = contingency(labelsTrue, labelsPred, 'adjustedRandIndex');
  if (n < 2) return 1;
  let index = 0;
  for (const r of table) for (const v of r) index += comb2(v);
  const sa = rows.reduce((s, v) => s + comb2(v), 0);
  const sb = cols.reduce((s, v) => s + comb2(v), 0);
  const expected = (sa * sb) / comb2(n);
  const max = (sa + sb) / 2;
  if (max === expected) return 1;
  return (index - expected) / (max - expected);
}

/**
 * Normalized mutual information with arithmetic normalisation (sklearn's default):
 *   NMI = I(U;V) / ((H(U) + H(V)) / 2),
 * natural logs. Both labelings single-cluster → 1; otherwise I = 0 → 0.
 */
export function normalizedMutualInfo(labelsTrue: ArrayLike<number>, labelsPred: ArrayLike<number>): number {
  const { table, rows, cols, n } = contingency(labelsTrue, labelsPred, 'normalizedMutualInfo');
  if (n === 0 || (rows.length === 1 && cols.length === 1)) return 1;
  let mi = 0;
  for (let i = 0; i < rows.length; i++) {
    for (let j = 0; j < cols.length; j++) {
      const v = table[i][j];
      if (v > 0) mi += (v / n) * Math.log((v * n) / (rows[i] * cols[j]));
    }
  }
  // Round-off can make I slightly negative for independent labelings.
  if (mi <= 1e-15) return 0;
  const h = (c: number[]) => -c.reduce((s, v) => s + (v > 0 ? (v / n) * Math.log(v / n) : 0), 0);
  return mi / ((h(rows) + h(cols)) / 2);
}

/**
 * Keeps the positions whose true label is not `ignore` (e.g. 0 = "no label" in remote-sensing
 * ground truth): returns the true and predicted labels of those positions only. `ignore` null
 * keeps everything.
 */
export function labelledSubset(labelsTrue: ArrayLike<number>, labelsPred: ArrayLike<number>, ignore: number | null): { yTrue: Int32Array; yPred: Int32Array } {
  if (labelsTrue.length !== labelsPred.length) throw new MetricError(`labelledSubset: ${labelsTrue.length} true labels but ${labelsPred.length} predictions`);
  let n = 0;
  for (let i = 0; i < labelsTrue.length; i++) if (labelsTrue[i] !== ignore) n++;
  const yTrue = new Int32Array(n), yPred = new Int32Array(n);
  for (let i = 0, o = 0; i < labelsTrue.length; i++) {
    if (labelsTrue[i] === ignore) continue;
    yTrue[o] = labelsTrue[i]!;
    yPred[o++] = labelsPred[i]!;
  }
  return { yTrue, yPred };
}

/** A cluster → class matching (Hungarian, maximising the overlap counts). */
export interface ClusterMatching {
  /** Sorted distinct cluster ids and class ids seen. */
  clusters: number[];
  classes: number[];
  /** counts[i][j] = points of cluster clusters[i] with class classes[j]. */
  counts: number[][];
  /** Matched class of each cluster (index as in `clusters`), or null for clusters left unmatched (more clusters than classes). */
  classOf: (number | null)[];
  /** Points on matched (cluster, class) pairs. */
  matched: number;
  n: number;
}

/**
 * One-to-one matching of clusters to classes maximising Σ n(cluster, class) over matched pairs
 * (linear sum assignment on the contingency table). With more clusters than classes the extra
 * clusters stay unmatched; with fewer, some classes do.
 */
export function matchClusters(labelsTrue: ArrayLike<number>, labelsPred: ArrayLike<number>): ClusterMatching {
  if (labelsTrue.length !== labelsPred.length) throw new MetricError(`matchClusters: ${labelsTrue.length} true labels but ${labelsPred.length} predictions`);
  const clusters = [...new Set(Array.from(labelsPred))].sort((a, b) => a - b);
  const classes = [...new Set(Array.from(labelsTrue))].sort((a, b) => a - b);
  const ci = new Map(clusters.map((v, i) => [v, i]));
  const ki = new Map(classes.map((v, i) => [v, i]));
  const counts = clusters.map(() => new Array<number>(classes.length).fill(0));
  for (let i = 0; i < labelsTrue.length; i++) counts[ci.get(labelsPred[i]!)!]![ki.get(labelsTrue[i]!)!]!++;
  const flat = counts.flat();
  const a = linearSumAssignment(flat, clusters.length, classes.length, { maximize: true });
  const classOf: (number | null)[] = clusters.map(() => null);
  a.rows.forEach((r, t) => (classOf[r] = classes[a.cols[t]!]!));
  return { clusters, classes, counts, classOf, matched: a.total, n: labelsTrue.length };
}

/**
 * Clustering accuracy: the fraction of points whose cluster is matched to their class under the
 * best one-to-one matching ({@link matchClusters}), as in the deep-clustering literature
 * (ACC = max_σ Σ_i 1[y_i = σ(c_i)] / n). 1 = a relabelling of the classes.
 */
export function clusterAccuracy(labelsTrue: ArrayLike<number>, labelsPred: ArrayLike<number>): number {
  if (labelsTrue.length === 0) throw new MetricError('clusterAccuracy: empty input');
  const m = matchClusters(labelsTrue, labelsPred);
  return m.matched / m.n;
}

/**
 * Mean silhouette coefficient with euclidean distance (Rousseeuw 1987). For sample i in cluster A:
 * a(i) = mean distance to the other members of A, b(i) = min over other clusters B of the mean
 * distance to B's members, s(i) = (b − a) / max(a, b), and s(i) = 0 when |A| = 1 (sklearn's
 * convention). O(n² d) time; needs 2 ≤ #clusters ≤ n − 1.
 */
export function silhouetteScore(X: ArrayLike<number>, n: number, d: number, labels: ArrayLike<number>): number {
  if (X.length !== n * d) throw new MetricError(`silhouetteScore: expected ${n}×${d} values, got ${X.length}`);
  if (labels.length !== n) throw new MetricError(`silhouetteScore: ${labels.length} labels for ${n} samples`);
  const ids = new Map<number, number>();
  const lab = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (!ids.has(labels[i])) ids.set(labels[i], ids.size);
    lab[i] = ids.get(labels[i])!;
  }
  const k = ids.size;
  if (k < 2 || k > n - 1) throw new MetricError(`silhouetteScore: needs 2 ≤ number of clusters ≤ n − 1, got ${k} clusters for ${n} samples`);
  const size = new Float64Array(k);
  for (let i = 0; i < n; i++) size[lab[i]]++;
  const sums = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < n; i++) {
    sums.fill(0);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let s = 0;
      for (let q = 0; q < d; q++) {
        const t = X[i * d + q] - X[j * d + q];
        s += t * t;
      }
      sums[lab[j]] += Math.sqrt(s);
    }
    const own = lab[i];
    if (size[own] <= 1) continue;
    const a = sums[own] / (size[own] - 1);
    let b = Infinity;
    for (let c = 0; c < k; c++) if (c !== own) b = Math.min(b, sums[c] / size[c]);
    const m = Math.max(a, b);
    total += m > 0 ? (b - a) / m : 0;
  }
  return total / n;
}
