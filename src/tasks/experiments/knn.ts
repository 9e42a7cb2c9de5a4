/**
 * k-nearest-neighbour accuracy of frozen features, the second probe of `aelab experiment masked`
 * (next to the ridge linear probe of masked.ts).
 *
 * Features are compared by cosine similarity s(a, b) = ⟨a, b⟩ / (‖a‖ ‖b‖) (rows are L2-normalised,
 * a zero row stays zero). For each test row the k training rows of highest similarity vote:
 *   - 'dino' (default; Caron et al. 2021, the weighted k-NN of DINO): neighbour j adds
 *     exp(s_j / T) to its label's score, T = 0.07;
 *   - 'majority': each neighbour adds 1.
 * The prediction is the label of highest score; ties go to the smallest label (as scikit-learn's
 * KNeighborsClassifier). Neighbours with equal similarity are taken in training-row order.
 * Default k = 20. Cost O(n·m·d) in float64, with one partial selection per test row.
 */

export interface KnnOptions {
  /** Neighbours (default 20; at most the training rows). */
  k?: number;
  /** Vote weighting (default 'dino'). */
  weighting?: 'dino' | 'majority';
  /** Temperature T of the 'dino' weights exp(s/T) (default 0.07). */
  temperature?: number;
  /** Number of labels (default: max label + 1). */
  classes?: number;
}

function unitRows(x: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j]! ** 2;
    const r = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) out[i * d + j] = x[i * d + j]! * r;
  }
  return out;
}

/** Predicted labels [m] of the test rows xTe [m, d] from training rows xTr [n, d] with labels yTr [n]. */
export function knnPredict(xTr: Float32Array, yTr: Int32Array, xTe: Float32Array, d: number, o: KnnOptions = {}): Int32Array {
  const n = yTr.length, m = xTe.length / d;
  if (!Number.isInteger(d) || d < 1) throw new Error(`knnPredict: feature width d must be a positive integer, got ${d}`);
  if (xTr.length !== n * d || !Number.isInteger(m)) throw new Error(`knnPredict: features must be [n, ${d}] for ${n} training labels, got ${xTr.length} training and ${xTe.length} test values`);
  if (n === 0) throw new Error('knnPredict: no training rows');
  const k = Math.min(o.k ?? 20, n);
  if (!Number.isInteger(k) || k < 1) throw new Error(`knnPredict: k must be a positive integer, got ${o.k}`);
  const T = o.temperature ?? 0.07;
  if (!(T > 0)) throw new Error(`knnPredict: temperature must be > 0, got ${T}`);
  let C = o.classes ?? 0;
  for (let i = 0; i < n; i++) {
    if (yTr[i]! < 0) throw new Error(`knnPredict: label ${yTr[i]} of training row ${i} is negative`);
    if (o.classes === undefined) C = Math.max(C, yTr[i]! + 1);
    else if (yTr[i]! >= C) throw new Error(`knnPredict: label ${yTr[i]} of training row ${i} is not below classes = ${C}`);
  }
  const dino = (o.weighting ?? 'dino') === 'dino';
  const a = unitRows(xTr, n, d), b = unitRows(xTe, m, d);
  const sims = new Float64Array(n);
  // The current k best as a sorted list (best first); k is small, so insertion beats a heap.
  const topS = new Float64Array(k), topI = new Int32Array(k);
  const score = new Float64Array(C);
  const pred = new Int32Array(m);
  for (let q = 0; q < m; q++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += a[i * d + j]! * b[q * d + j]!;
      sims[i] = s;
    }
    let filled = 0;
    for (let i = 0; i < n; i++) {
      const s = sims[i]!;
      if (filled === k && !(s > topS[k - 1]!)) continue;
      let p = filled < k ? filled++ : k - 1;
      while (p > 0 && s > topS[p - 1]!) { topS[p] = topS[p - 1]!; topI[p] = topI[p - 1]!; p--; }
      topS[p] = s; topI[p] = i;
    }
    score.fill(0);
    for (let t = 0; t < k; t++) score[yTr[topI[t]!]!] += dino ? Math.exp(topS[t]! / T) : 1;
    let best = 0;
    for (let c = 1; c < C; c++) if (score[c]! > score[best]!) best = c;
    pred[q] = best;
  }
  return pred;
}

/** k-NN accuracy on held-out rows (see the file comment): xTr [n, d], xTe [m, d]. */
export function knnAccuracy(xTr: Float32Array, yTr: Int32Array, xTe: Float32Array, yTe: Int32Array, d: number, o: KnnOptions = {}): number {
  if (xTe.length !== yTe.length * d) throw new Error(`knnAccuracy: test features must be [${yTe.length}, ${d}], got ${xTe.length} values`);
  const p = knnPredict(xTr, yTr, xTe, d, o);
  let ok = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === yTe[i]) ok++;
  return ok / Math.max(1, p.length);
}
