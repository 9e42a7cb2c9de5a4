/**
 * Mask generators for masked autoencoders. Every generator is a pure function of its arguments
 * and a seeded Generator, and returns the same {@link PatchMask} shape: B samples over N patch
 * positions (row-major over the patch grid; for video, time-major: n = t·h·w + i·w + j) with the
 * SAME number K of visible patches in every sample, so a batch of masks is a pair of index
 * tensors that the model applies with gathers (no per-sample loops in the model).
 *
 *   mask    float32 [B, N]: 1 where the patch is masked (hidden from the encoder), 0 where kept.
 *   keep    int32 [B, K]: the kept positions of each sample, in "shuffle" order.
 *   restore int32 [B, N]: the inverse permutation: with s = [keep, masked positions] (the full
 *           shuffle of sample b), s[restore[b, n]] = n, so gathering [kept tokens, mask tokens]
 *           with `restore` puts every token back at its position.
 *
 * Every generator is "score then sort": it computes a score per position and keeps the K
 * positions with the LOWEST rank in `shuffle` (ascending score for random noise, MAE's
 * argsort-of-noise scheme). K = ⌊N (1 − r)⌋ for a mask ratio r ∈ (0, 1) (an error outside, or
 * when K would be 0 or N).
 *
 * - random (MAE): score = u ~ U(0, 1) i.i.d. per sample and position.
 * - block (BEiT-style blockwise): rectangles with area in [minBlock, remaining] and aspect ratio
 *   log-uniform in [0.3, 1/0.3] are added at random places until exactly N − K cells are masked
 *   (a rectangle that would overshoot is shrunk to the remaining budget; after 10 failed draws
 *   single random cells fill the rest).
 * - tube (VideoMAE): one random spatial mask over the h×w grid, repeated at every one of the T
 *   time steps: mask[t, i, j] = m[i, j].
 * - running cell (VideoMAE V2 decoder mask, ratio 0.5): the grid is cut into 2×2 cells whose four
 *   positions are visited clockwise, q = 0:(0,0), 1:(0,1), 2:(1,1), 3:(1,0). At time t the
 *   positions q ≡ s + t, s + t + 1 (mod 4) of EVERY cell are masked (s: a random start per
 *   sample), so each cell keeps exactly 2 of 4 and the pattern steps one position per frame.
 * - ColorMAE (noise colours): white noise u ~ U(0, 1) on the h×w grid is filtered in the 2-D DFT
 *   domain, F = IDFT(H(ρ) · DFT(u)) with ρ = √(f_y² + f_x²) the radial frequency in cycles per
 *   patch (f ∈ [−½, ½)), and the top (1 − r) fraction of F is KEPT (the rest masked):
 *     red    (low-pass)   H = exp(−ρ² / (2σ²)),            σ = 0.1
 *     blue   (high-pass)  H = 1 − exp(−ρ² / (2σ_b²)),        σ_b = 0.3
 *     green  (band-pass)  H = exp(−(ρ − ρ₀)² / (2σ²)),     ρ₀ = 0.25
 *     purple (band-stop)  H = 1 − exp(−(ρ − ρ₀)² / (2σ²))
 *   (ColorMAE draws larger noise and crops it; filtering on the patch grid itself with periodic
 *   boundaries is the simplification used here.)
 */
import type { Generator } from '../core/random.js';
import { Tensor, fromBuffer } from '../core/tensor.js';

export interface PatchMask {
  /** [B, N] float32, 1 = masked. */
  mask: Tensor;
  /** [B, K] int32, kept positions. */
  keep: Tensor;
  /** [B, N] int32, inverse of the shuffle [keep, masked]. */
  restore: Tensor;
  B: number;
  N: number;
  K: number;
}

export type NoiseColor = 'red' | 'blue' | 'green' | 'purple';
export type MaskKind = 'random' | 'block' | NoiseColor;
export const MASK_KINDS: readonly MaskKind[] = ['random', 'block', 'red', 'blue', 'green', 'purple'];

/** K = ⌊N (1 − r)⌋ visible patches; throws for r ∉ (0, 1) or when nothing (or everything) would stay visible. */
export function keepCount(N: number, ratio: number, where = 'mask'): number {
  if (!(typeof ratio === 'number' && ratio > 0 && ratio < 1)) throw new Error(`${where}: mask ratio must be in (0, 1), got ${ratio}`);
  if (!Number.isInteger(N) || N < 2) throw new Error(`${where}: need at least 2 patches to mask, got ${N}`);
  const K = Math.floor(N * (1 - ratio) + 1e-9);
  if (K < 1) throw new Error(`${where}: mask ratio ${ratio} leaves no visible patch out of ${N}`);
  if (K >= N) throw new Error(`${where}: mask ratio ${ratio} masks no patch out of ${N}`);
  return K;
}

function checkBatch(B: number, where: string): void {
  if (!Number.isInteger(B) || B < 1) throw new Error(`${where}: batch size must be a positive integer, got ${B}`);
}

/**
 * The PatchMask that keeps, per sample, the K positions of lowest score (ties: lower index
 * first): shuffle = argsort(score) (stable), keep = shuffle[:K], restore = argsort(shuffle),
 * mask[n] = restore[n] ≥ K. scores [B·N] row-major.
 */
export function maskFromScores(scores: ArrayLike<number>, B: number, N: number, K: number): PatchMask {
  if (scores.length !== B * N) throw new Error(`maskFromScores: expected ${B}×${N} scores, got ${scores.length}`);
  if (!(Number.isInteger(K) && K >= 1 && K < N)) throw new Error(`maskFromScores: keep count ${K} must be in 1..${N - 1}`);
  const mask = new Float32Array(B * N), keep = new Int32Array(B * K), restore = new Int32Array(B * N);
  const order = new Array<number>(N);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) order[n] = n;
    const o = b * N;
    order.sort((a, c) => (scores[o + a]! - scores[o + c]!) || a - c);
    for (let r = 0; r < N; r++) {
      const n = order[r]!;
      restore[o + n] = r;
      if (r < K) keep[b * K + r] = n;
      else mask[o + n] = 1;
    }
  }
  return { mask: fromBuffer(mask, [B, N]), keep: fromBuffer(keep, [B, K]), restore: fromBuffer(restore, [B, N]), B, N, K };
}

/** MAE random masking: B samples over N positions, ratio r (see the file comment). */
export function randomMasking(B: number, N: number, ratio: number, gen: Generator): PatchMask {
  checkBatch(B, 'randomMasking');
  const K = keepCount(N, ratio, 'randomMasking');
  const u = gen.uniform(new Float32Array(B * N));
  return maskFromScores(u, B, N, K);
}

/** Blockwise masking on an h×w grid (see the file comment). */
export function blockMasking(B: number, h: number, w: number, ratio: number, gen: Generator, minBlock = 4): PatchMask {
  checkBatch(B, 'blockMasking');
  const N = h * w, K = keepCount(N, ratio, 'blockMasking');
  const target = N - K;
  const scores = new Float32Array(B * N);
  const logLo = Math.log(0.3), logHi = Math.log(1 / 0.3);
  for (let b = 0; b < B; b++) {
    const m = new Uint8Array(N);
    let count = 0, fails = 0;
    while (count < target) {
      if (fails >= 10) {
        // Fill the rest cell by cell at random free places.
        const free: number[] = [];
        for (let n = 0; n < N; n++) if (!m[n]) free.push(n);
        while (count < target) {
          const j = gen.randint(free.length);
          m[free[j]!] = 1;
          free.splice(j, 1);
          count++;
        }
        break;
      }
      const remaining = target - count;
      const area = Math.min(remaining, minBlock + gen.nextFloat64() * Math.max(0, remaining - minBlock));
      const aspect = Math.exp(logLo + gen.nextFloat64() * (logHi - logLo));
      const bh = Math.max(1, Math.min(h, Math.round(Math.sqrt(area * aspect))));
      const bw = Math.max(1, Math.min(w, Math.round(Math.sqrt(area / aspect))));
      const top = gen.randint(h - bh + 1), left = gen.randint(w - bw + 1);
      let added = 0;
      for (let i = top; i < top + bh && count < target; i++) for (let j = left; j < left + bw && count < target; j++) {
        if (!m[i * w + j]) { m[i * w + j] = 1; count++; added++; }
      }
      fails = added === 0 ? fails + 1 : 0;
    }
    // Kept cells score below masked ones; the random part orders the keep list.
    for (let n = 0; n < N; n++) scores[b * N + n] = m[n]! + gen.nextFloat64() * 0.5;
  }
  return maskFromScores(scores, B, N, K);
}

/**
 * Tube masking for video tokens on a T×h×w grid (T token time steps): one random h×w mask per
 * sample repeated over time; N = T·h·w, K = T·⌊h w (1 − r)⌋.
 */
export function tubeMasking(B: number, T: number, h: number, w: number, ratio: number, gen: Generator): PatchMask {
  checkBatch(B, 'tubeMasking');
  if (!Number.isInteger(T) || T < 1) throw new Error(`tubeMasking: the number of time steps must be a positive integer, got ${T}`);
  const S = h * w, Ks = keepCount(S, ratio, 'tubeMasking');
  const N = T * S;
  const u = gen.uniform(new Float32Array(B * S));
  const scores = new Float32Array(B * N);
  // Rank of each spatial position within its sample, repeated over time (time breaks ties).
  const spatial = maskFromScores(u, B, S, Ks).restore.i32();
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let s = 0; s < S; s++) {
    scores[b * N + t * S + s] = (spatial[b * S + s]! < Ks ? 0 : 2) + t / T;
  }
  return maskFromScores(scores, B, N, T * Ks);
}

/** Clockwise order of the four positions in a 2×2 cell: q -> [di, dj]. */
export const CELL_ORDER: readonly (readonly [number, number])[] = [[0, 0], [0, 1], [1, 1], [1, 0]];

/**
 * Running-cell masking (ratio 0.5) on a T×h×w grid with even h and w: at time t the cell
 * positions q ≡ s_b + t and s_b + t + 1 (mod 4) are masked, s_b = a random start per sample.
 * `start` fixes s_b for every sample (tests, fixtures).
 */
export function runningCellMasking(B: number, T: number, h: number, w: number, gen: Generator, start?: number): PatchMask {
  checkBatch(B, 'runningCellMasking');
  if (!Number.isInteger(T) || T < 1) throw new Error(`runningCellMasking: the number of time steps must be a positive integer, got ${T}`);
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 2 || w < 2 || h % 2 || w % 2) throw new Error(`runningCellMasking: the patch grid ${h}×${w} must have even sides (2×2 cells)`);
  const S = h * w, N = T * S;
  const qOf = new Int32Array(S);
  for (let q = 0; q < 4; q++) {
    const [di, dj] = CELL_ORDER[q]!;
    for (let i = di; i < h; i += 2) for (let j = dj; j < w; j += 2) qOf[i * w + j] = q;
  }
  const scores = new Float32Array(B * N);
  for (let b = 0; b < B; b++) {
    const s = start ?? gen.randint(4);
    for (let t = 0; t < T; t++) for (let n = 0; n < S; n++) {
      const rel = (qOf[n]! - s - t + 8 * T) % 4; // 0, 1 masked; 2, 3 kept
      scores[b * N + t * S + n] = (rel < 2 ? 2 : 0) + (t * S + n) / N;
    }
  }
  return maskFromScores(scores, B, N, N / 2);
}

/** Radial response H(ρ) of a noise colour (see the file comment). */
export function colorFilter(color: NoiseColor, rho: number): number {
  const sigma = 0.1, sigmaBlue = 0.3, rho0 = 0.25;
  switch (color) {
    case 'red': return Math.exp(-(rho * rho) / (2 * sigma * sigma));
    case 'blue': return 1 - Math.exp(-(rho * rho) / (2 * sigmaBlue * sigmaBlue));
    case 'green': return Math.exp(-((rho - rho0) ** 2) / (2 * sigma * sigma));
    case 'purple': return 1 - Math.exp(-((rho - rho0) ** 2) / (2 * sigma * sigma));
  }
  throw new Error(`colorFilter: unknown noise colour '${color as string}' (red, blue, green, purple)`);
}

/** Signed DFT frequency of index k of n, in cycles per sample: k/n folded into [−½, ½). */
const freq = (k: number, n: number) => (k < n - k ? k : k - n) / n;

/**
 * Filtered noise on an h×w grid: F = Re IDFT(H(ρ) · DFT(u)) for the given white noise u [h·w]
 * (direct O((hw)²) transform; grids are small). Returns F [h·w] (float64).
 */
export function filterNoise(color: NoiseColor, u: ArrayLike<number>, h: number, w: number): Float64Array {
  const N = h * w;
  if (u.length !== N) throw new Error(`filterNoise: expected ${h}×${w} = ${N} noise values, got ${u.length}`);
  // Separable DFT: rows then columns, X[ky, kx] = Σ u[y, x] e^{−2πi(ky y/h + kx x/w)}.
  const re = new Float64Array(N), im = new Float64Array(N);
  const tr = new Float64Array(N), ti = new Float64Array(N);
  for (let y = 0; y < h; y++) for (let kx = 0; kx < w; kx++) {
    let sr = 0, si = 0;
    for (let x = 0; x < w; x++) { const a = (-2 * Math.PI * kx * x) / w; sr += u[y * w + x]! * Math.cos(a); si += u[y * w + x]! * Math.sin(a); }
    tr[y * w + kx] = sr; ti[y * w + kx] = si;
  }
  for (let ky = 0; ky < h; ky++) for (let kx = 0; kx < w; kx++) {
    let sr = 0, si = 0;
    for (let y = 0; y < h; y++) {
      const a = (-2 * Math.PI * ky * y) / h, c = Math.cos(a), s = Math.sin(a);
      sr += tr[y * w + kx]! * c - ti[y * w + kx]! * s; si += tr[y * w + kx]! * s + ti[y * w + kx]! * c;
    }
    const g = colorFilter(color, Math.hypot(freq(ky, h), freq(kx, w)));
    re[ky * w + kx] = sr * g; im[ky * w + kx] = si * g;
  }
  // Inverse: columns then rows, real part.
  for (let y = 0; y < h; y++) for (let kx = 0; kx < w; kx++) {
    let sr = 0, si = 0;
    for (let ky = 0; ky < h; ky++) {
      const a = (2 * Math.PI * ky * y) / h, c = Math.cos(a), s = Math.sin(a);
      sr += re[ky * w + kx]! * c - im[ky * w + kx]! * s; si += re[ky * w + kx]! * s + im[ky * w + kx]! * c;
    }
    tr[y * w + kx] = sr; ti[y * w + kx] = si;
  }
  const out = new Float64Array(N);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let sr = 0;
    for (let kx = 0; kx < w; kx++) { const a = (2 * Math.PI * kx * x) / w; sr += tr[y * w + kx]! * Math.cos(a) - ti[y * w + kx]! * Math.sin(a); }
    out[y * w + x] = sr / N;
  }
  return out;
}

/** ColorMAE masking: per sample, keep the top (1 − r) fraction of the filtered noise (see the file comment). */
export function colorNoiseMasking(color: NoiseColor, B: number, h: number, w: number, ratio: number, gen: Generator): PatchMask {
  checkBatch(B, 'colorNoiseMasking');
  colorFilter(color, 0);
  const N = h * w, K = keepCount(N, ratio, `colorNoiseMasking(${color})`);
  const scores = new Float64Array(B * N);
  for (let b = 0; b < B; b++) {
    const F = filterNoise(color, gen.uniform(new Float32Array(N)), h, w);
    for (let n = 0; n < N; n++) scores[b * N + n] = -F[n]!; // lowest score = highest noise = kept
  }
  return maskFromScores(scores, B, N, K);
}

/** Any image mask kind by name on an h×w grid (what MAE's config `mask` selects). */
export function imageMasking(kind: MaskKind, B: number, h: number, w: number, ratio: number, gen: Generator): PatchMask {
  switch (kind) {
    case 'random': return randomMasking(B, h * w, ratio, gen);
    case 'block': return blockMasking(B, h, w, ratio, gen);
    case 'red': case 'blue': case 'green': case 'purple': return colorNoiseMasking(kind, B, h, w, ratio, gen);
  }
  throw new Error(`imageMasking: unknown mask kind '${kind as string}' (one of ${MASK_KINDS.join(', ')})`);
}
