/**
 * Sparse probing with real labels (SAEBench style): part-of-speech classes from the Brown corpus,
 * one-vs-rest k-sparse probes on SAE latents against the raw activations and against the same
 * number of random directions.
 *
 * Labels: every Brown word carries a tag; `coarsePos` maps it to one of POS_CLASSES (suffixes such as
 * -tl/-hl/-nc and contractions after '+' are dropped first). A sentence is tokenised word by word
 * (the first word as is, the others with a leading space, as the corpus text joins them), and the
 * label sits on the word's last token; other tokens are unlabelled (−1). Sentences are concatenated
 * into windows of `context` tokens starting with BOS (when the tokenizer has one).
 *
 * Probes, per class c (positives: tokens of class c, negatives: an equal number of other labelled
 * tokens, sampled with a seed; train/test split by document):
 *   1. select the k features with the largest |mean_pos − mean_neg| on the training rows;
 *   2. standardise them with the training mean/std and fit L2-regularised logistic regression
 *      min_{w,b} Σ_i log(1 + exp(−y_i(w·x_i + b))) + ‖w‖²/(2C)  (sklearn's objective, intercept
 *      unpenalised; solved by Newton's method to machine precision);
 *   3. test accuracy.
 * Feature sets: 'sae' (SAE latents, dense), 'raw' (the hook's activation dimensions), 'random'
 * (projections on as many random unit directions as the SAE has latents); 'raw-all' fits all raw
 * dimensions (k = D) as a ceiling.
 */
import { choleskyInPlace, choleskySolveInPlace } from '../sae/dark-matter.js';
import type { TaggedWord } from '../data/text.js';
import { Generator } from '../core/random.js';
import { fromBuffer, noGrad, scope } from '../core/tensor.js';
import { linear } from '../core/ops/linalg.js';

export const POS_CLASSES = ['noun', 'verb', 'adjective', 'adverb', 'pronoun', 'determiner', 'preposition', 'conjunction', 'number', 'punctuation'] as const;
export type PosClass = (typeof POS_CLASSES)[number];

/** Coarse class of a Brown tag, or null (foreign words, interjections, 'to', …). */
export function coarsePos(tag: string): PosClass | null {
  let t = tag.toLowerCase();
  if (t.startsWith('fw-')) return null;
  t = t.split('+')[0]!;
  if (t.length > 1 && t.includes('-')) t = t.slice(0, t.indexOf('-')) || t;
  t = t.replace(/[$*]+$/, '');
  if (/^[.,:;()'"`]+$/.test(t) || t === '--' || t === '(' || t === ')') return 'punctuation';
  if (/^(nn|np|nr)/.test(t)) return 'noun';
  if (/^(vb|be|do|hv|md)/.test(t)) return 'verb';
  if (/^jj/.test(t)) return 'adjective';
  if (/^(rb|ql|wrb)/.test(t)) return 'adverb';
  if (/^(pp|wp)/.test(t)) return 'pronoun';
  if (/^(at|dt|ap|abn|abx|wdt)/.test(t)) return 'determiner';
  if (t === 'in') return 'preposition';
  if (t === 'cc' || t === 'cs') return 'conjunction';
  if (t === 'cd' || t === 'od') return 'number';
  return null;
}

export interface PosWindows {
  /** [N·context] token ids. */
  tokens: Int32Array;
  /** [N·context] class index into POS_CLASSES, −1 = unlabelled. */
  labels: Int8Array;
  /** [N] index of the document each window came from. */
  doc: Int32Array;
  context: number;
}

/**
 * Tokenised, labelled windows from tagged documents (see the file comment). Each document starts a
 * new window; a document's last partial window is dropped.
 */
export function posWindows(docs: readonly { sentences: readonly (readonly TaggedWord[])[] }[], tokenizer: { encode(s: string): Int32Array; bosId: number | null }, context: number, maxWindows = Infinity): PosWindows {
  const toks: number[] = [], labs: number[] = [], docOf: number[] = [];
  const bos = tokenizer.bosId;
  for (let d = 0; d < docs.length && docOf.length < maxWindows; d++) {
    let wt: number[] = [], wl: number[] = [];
    const start = () => { wt = bos !== null ? [bos] : []; wl = bos !== null ? [-1] : []; };
    start();
    for (const sent of docs[d]!.sentences) {
      for (let i = 0; i < sent.length; i++) {
        const w = sent[i]!;
        const word = w.word === '``' || w.word === "''" ? '"' : w.word;
        const ids = tokenizer.encode(i === 0 ? (wt.length > (bos !== null ? 1 : 0) ? ' ' + word : word) : ' ' + word);
        const cls = coarsePos(w.tag);
        for (let j = 0; j < ids.length; j++) {
          wt.push(ids[j]!);
          wl.push(j === ids.length - 1 && cls !== null ? POS_CLASSES.indexOf(cls) : -1);
          if (wt.length === context) {
            toks.push(...wt); labs.push(...wl); docOf.push(d);
            start();
            if (docOf.length >= maxWindows) break;
          }
        }
        if (docOf.length >= maxWindows) break;
      }
      if (docOf.length >= maxWindows) break;
    }
  }
  return { tokens: Int32Array.from(toks), labels: Int8Array.from(labs), doc: Int32Array.from(docOf), context };
}

// ---- logistic regression --------------------------------------------------------------------------

export interface LogisticModel {
  w: Float64Array;
  b: number;
  iterations: number;
}

/**
 * L2-regularised logistic regression, sklearn's objective Σ log(1 + exp(−y(w·x + b))) + ‖w‖²/(2C)
 * with an unpenalised intercept; x [n, p] row-major, y ∈ {0, 1}. Newton's method (Cholesky of the
 * (p+1)×(p+1) Hessian) with step halving, until the gradient's max norm is below tol.
 */
export function fitLogistic(x: ArrayLike<number>, y: ArrayLike<number>, n: number, p: number, opts: { C?: number; tol?: number; maxIter?: number } = {}): LogisticModel {
  const C = opts.C ?? 1, tol = opts.tol ?? 1e-10, maxIter = opts.maxIter ?? 100;
  const q = p + 1;
  const beta = new Float64Array(q); // w (p), b
  const loss = (bt: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      let z = bt[p]!;
      for (let j = 0; j < p; j++) z += bt[j]! * x[i * p + j]!;
      const m = y[i] ? -z : z; // log(1 + exp(m))
      s += m > 0 ? m + Math.log1p(Math.exp(-m)) : Math.log1p(Math.exp(m));
    }
    for (let j = 0; j < p; j++) s += bt[j]! ** 2 / (2 * C);
    return s;
  };
  let f = loss(beta), it = 0;
  for (; it < maxIter; it++) {
    const g = new Float64Array(q), Hm = new Float64Array(q * q);
    for (let i = 0; i < n; i++) {
      let z = beta[p]!;
      for (let j = 0; j < p; j++) z += beta[j]! * x[i * p + j]!;
      const pr = 1 / (1 + Math.exp(-z)), r = pr - (y[i] ? 1 : 0), s = pr * (1 - pr);
      for (let j = 0; j < q; j++) {
        const xj = j < p ? x[i * p + j]! : 1;
        g[j] += r * xj;
        for (let k = 0; k <= j; k++) Hm[j * q + k] += s * xj * (k < p ? x[i * p + k]! : 1);
      }
    }
    for (let j = 0; j < p; j++) { g[j] += beta[j]! / C; Hm[j * q + j] += 1 / C; }
    Hm[p * q + p] += 1e-12;
    for (let j = 0; j < q; j++) for (let k = j + 1; k < q; k++) Hm[j * q + k] = Hm[k * q + j]!;
    let gmax = 0;
    for (let j = 0; j < q; j++) gmax = Math.max(gmax, Math.abs(g[j]!));
    if (gmax < tol) break;
    if (!choleskyInPlace(Hm, q)) for (let j = 0; j < q; j++) Hm[j * q + j] += 1e-6;
    const step = Float64Array.from(g);
    choleskySolveInPlace(Hm, q, step, 1);
    let t = 1, next = beta, fn = f;
    for (let h = 0; h < 30; h++) {
      next = Float64Array.from(beta, (v, j) => v - t * step[j]!);
      fn = loss(next);
      if (fn <= f + 1e-12 * Math.abs(f)) break;
      t /= 2;
    }
    if (!(fn <= f + 1e-12 * Math.abs(f))) break;
    beta.set(next);
    f = fn;
  }
  return { w: beta.slice(0, p), b: beta[p]!, iterations: it };
}

export function predictLogistic(m: LogisticModel, x: ArrayLike<number>, n: number, p: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = m.b;
    for (let j = 0; j < p; j++) z += m.w[j]! * x[i * p + j]!;
    out[i] = 1 / (1 + Math.exp(-z));
  }
  return out;
}

// ---- k-sparse probes ---------------------------------------------------------------------------

/** Indices of the k columns of x [n, d] with the largest |mean over y=1 − mean over y=0|. */
export function meanDiffTopK(x: ArrayLike<number>, y: ArrayLike<number>, n: number, d: number, k: number): number[] {
  const s1 = new Float64Array(d), s0 = new Float64Array(d);
  let n1 = 0, n0 = 0;
  for (let i = 0; i < n; i++) {
    const s = y[i] ? s1 : s0;
    if (y[i]) n1++; else n0++;
    for (let j = 0; j < d; j++) s[j] += x[i * d + j]!;
  }
  const score = Array.from({ length: d }, (_, j) => Math.abs(s1[j]! / Math.max(1, n1) - s0[j]! / Math.max(1, n0)));
  return Array.from({ length: d }, (_, j) => j).sort((a, b) => score[b]! - score[a]! || a - b).slice(0, Math.min(k, d));
}

/** Test accuracy of a k-sparse probe: select by mean difference on train, standardise, fit, score. */
export function sparseProbeAccuracy(train: { x: ArrayLike<number>; y: Uint8Array }, test: { x: ArrayLike<number>; y: Uint8Array }, d: number, k: number, C = 1): { accuracy: number; features: number[] } {
  const nTr = train.y.length, nTe = test.y.length;
  const feats = meanDiffTopK(train.x, train.y, nTr, d, k);
  const p = feats.length;
  const mu = new Float64Array(p), sd = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    let s = 0, s2 = 0;
    for (let i = 0; i < nTr; i++) { const v = train.x[i * d + feats[j]!]!; s += v; s2 += v * v; }
    mu[j] = s / nTr;
    sd[j] = Math.sqrt(Math.max(s2 / nTr - mu[j]! ** 2, 0)) || 1;
  }
  const pick = (src: ArrayLike<number>, n: number) => {
    const o = new Float64Array(n * p);
    for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) o[i * p + j] = (src[i * d + feats[j]!]! - mu[j]!) / sd[j]!;
    return o;
  };
  const m = fitLogistic(pick(train.x, nTr), train.y, nTr, p, { C, tol: 1e-8, maxIter: 50 });
  const pr = predictLogistic(m, pick(test.x, nTe), nTe, p);
  let ok = 0;
  for (let i = 0; i < nTe; i++) if ((pr[i]! >= 0.5 ? 1 : 0) === test.y[i]) ok++;
  return { accuracy: ok / Math.max(1, nTe), features: feats };
}

export interface ProbeFeatureSet {
  name: string;
  /** [rows, d] features of the labelled rows. */
  x: Float32Array;
  d: number;
  /** k values to evaluate (capped at d). */
  ks: readonly number[];
}

export interface ProbeStudyOptions {
  /** Class of each row (index into POS_CLASSES). */
  labels: Int8Array;
  /** True for rows in the training part. */
  isTrain: Uint8Array;
  sets: ProbeFeatureSet[];
  /** Positives (and as many negatives) per class and split, at most (default 1000 train, 500 test). */
  maxTrain?: number;
  maxTest?: number;
  /** Classes with fewer positives than this in either split are skipped (default 20). */
  minPositives?: number;
  C?: number;
  seed?: number;
  onProgress?: (e: { className: string; set: string; k: number; accuracy: number }) => void;
}

export interface ProbeResult {
  className: string;
  positives: { train: number; test: number };
  /** accuracy[set][k] */
  accuracy: Record<string, Record<number, number>>;
}

/** Balanced one-vs-rest datasets per class and the accuracy of every feature set and k. */
export function probeStudy(opts: ProbeStudyOptions): ProbeResult[] {
  const gen = new Generator(opts.seed ?? 0);
  const maxTr = opts.maxTrain ?? 1000, maxTe = opts.maxTest ?? 500, minPos = opts.minPositives ?? 20;
  const n = opts.labels.length;
  const shuffled = (idx: number[]) => {
    const u = gen.uniform(new Float32Array(idx.length));
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.min(i, Math.floor(u[i]! * (i + 1)));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return idx;
  };
  const results: ProbeResult[] = [];
  POS_CLASSES.forEach((cls, c) => {
    const split = (train: boolean, max: number) => {
      const pos: number[] = [], neg: number[] = [];
      for (let i = 0; i < n; i++) {
        if (opts.labels[i]! < 0 || (opts.isTrain[i] === 1) !== train) continue;
        (opts.labels[i] === c ? pos : neg).push(i);
      }
      const m = Math.min(max, pos.length, neg.length);
      const rows = [...shuffled(pos).slice(0, m), ...shuffled(neg).slice(0, m)];
      return { rows, y: Uint8Array.from(rows, (_, i) => (i < m ? 1 : 0)), m };
    };
    const tr = split(true, maxTr), te = split(false, maxTe);
    if (tr.m < minPos || te.m < minPos) return;
    const res: ProbeResult = { className: cls, positives: { train: tr.m, test: te.m }, accuracy: {} };
    for (const set of opts.sets) {
      const gather = (rows: number[]) => {
        const o = new Float32Array(rows.length * set.d);
        rows.forEach((r, i) => o.set(set.x.subarray(r * set.d, (r + 1) * set.d), i * set.d));
        return o;
      };
      const xtr = gather(tr.rows), xte = gather(te.rows);
      res.accuracy[set.name] = {};
      for (const k of set.ks) {
        const kk = Math.min(k, set.d);
        const { accuracy } = sparseProbeAccuracy({ x: xtr, y: tr.y }, { x: xte, y: te.y }, set.d, kk, opts.C ?? 1);
        res.accuracy[set.name]![k] = accuracy;
        opts.onProgress?.({ className: cls, set: set.name, k, accuracy });
      }
    }
    results.push(res);
  });
  return results;
}

/** Projections of rows x [n, D] on m random unit directions (seeded Gaussian): [n, m]. */
export function randomProjections(x: Float32Array, n: number, D: number, m: number, seed = 0): Float32Array {
  const g = new Generator(seed);
  const R = g.normal(new Float32Array(m * D));
  for (let j = 0; j < m; j++) {
    let s = 0;
    for (let i = 0; i < D; i++) s += R[j * D + i]! ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < D; i++) R[j * D + i] = R[j * D + i]! * inv;
  }
  return noGrad(() => scope(() => linear(fromBuffer(x.subarray(0, n * D), [n, D]), fromBuffer(R, [m, D])).f32().slice()));
}
