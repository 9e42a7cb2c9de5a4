/**
 * Pseudo-label modalities for MultiMAE (Bachmann et al. 2022 train on RGB plus depth and semantic
 * maps predicted by off-the-shelf networks; here simple image operators stand in for them). Every
 * function is pure: gray images x [n, H, W] (row-major, values in [0, 1]) -> maps [n, H, W] in [0, 1].
 *
 *   edges       Sobel gradient magnitude, |∇x| = √(g_x² + g_y²) with
 *                 g_x = [−1 0 1; −2 0 2; −1 0 1] ⋆ x,  g_y = g_xᵀ ⋆ x
 *               (cross-correlation, zero padding outside the image), divided by 4 — the largest
 *               |g_x| of a [0, 1] image, reached at a vertical step from 0 to 1 — and clipped to 1.
 *   foreground  1 where x > threshold (default 0.5), else 0.
 *   depth       a "depth-like" map: the foreground mask blurred by a normalised Gaussian of std σ
 *               (default 2 pixels; kernel radius ⌈3σ⌉, separable, zero padding, so the blurred
 *               value falls off towards and beyond the object's border like a rounded relief).
 */

export type PseudoLabel = 'edges' | 'foreground' | 'depth';
export const PSEUDO_LABELS: readonly PseudoLabel[] = ['edges', 'foreground', 'depth'];

function check(x: Float32Array, n: number, H: number, W: number, who: string): void {
  for (const [name, v] of [['n', n], ['height', H], ['width', W]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${who}: ${name} must be a positive integer, got ${v}`);
  }
  if (x.length !== n * H * W) throw new Error(`${who}: expected ${n}×${H}×${W} = ${n * H * W} values, got ${x.length}`);
}

/** Sobel edge magnitude / 4, clipped to [0, 1]: [n, H, W] -> [n, H, W] (see the file comment). */
export function sobelEdges(x: Float32Array, n: number, H: number, W: number): Float32Array {
  check(x, n, H, W, 'sobelEdges');
  const out = new Float32Array(n * H * W);
  for (let s = 0; s < n; s++) {
    const o = s * H * W;
    const at = (i: number, j: number) => (i < 0 || j < 0 || i >= H || j >= W ? 0 : x[o + i * W + j]!);
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
      const gx = at(i - 1, j + 1) + 2 * at(i, j + 1) + at(i + 1, j + 1) - at(i - 1, j - 1) - 2 * at(i, j - 1) - at(i + 1, j - 1);
      const gy = at(i + 1, j - 1) + 2 * at(i + 1, j) + at(i + 1, j + 1) - at(i - 1, j - 1) - 2 * at(i - 1, j) - at(i - 1, j + 1);
      out[o + i * W + j] = Math.min(1, Math.sqrt(gx * gx + gy * gy) / 4);
    }
  }
  return out;
}

/** 1 where x > threshold, else 0: [n, H, W] -> [n, H, W]. */
export function foregroundMask(x: Float32Array, n: number, H: number, W: number, threshold = 0.5): Float32Array {
  check(x, n, H, W, 'foregroundMask');
  if (!Number.isFinite(threshold)) throw new Error(`foregroundMask: threshold must be a finite number, got ${threshold}`);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! > threshold ? 1 : 0;
  return out;
}

/** Normalised Gaussian kernel of std σ, radius ⌈3σ⌉ (weights sum to 1). */
export function gaussianKernel(sigma: number): Float64Array {
  if (!(Number.isFinite(sigma) && sigma > 0)) throw new Error(`gaussianKernel: sigma must be > 0, got ${sigma}`);
  const r = Math.ceil(3 * sigma), k = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += (k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma)));
  for (let i = 0; i < k.length; i++) k[i]! /= s;
  return k;
}

/** Separable Gaussian blur (zero padding): [n, H, W] -> [n, H, W]. */
export function gaussianBlur(x: Float32Array, n: number, H: number, W: number, sigma: number): Float32Array {
  check(x, n, H, W, 'gaussianBlur');
  const k = gaussianKernel(sigma), r = (k.length - 1) / 2;
  const tmp = new Float64Array(H * W), out = new Float32Array(n * H * W);
  for (let s = 0; s < n; s++) {
    const o = s * H * W;
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
      let v = 0;
      for (let t = -r; t <= r; t++) if (j + t >= 0 && j + t < W) v += k[t + r]! * x[o + i * W + j + t]!;
      tmp[i * W + j] = v;
    }
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
      let v = 0;
      for (let t = -r; t <= r; t++) if (i + t >= 0 && i + t < H) v += k[t + r]! * tmp[(i + t) * W + j]!;
      out[o + i * W + j] = v;
    }
  }
  return out;
}

/** The depth-like map: gaussianBlur(foregroundMask(x, threshold), σ). */
export function depthLike(x: Float32Array, n: number, H: number, W: number, sigma = 2, threshold = 0.5): Float32Array {
  return gaussianBlur(foregroundMask(x, n, H, W, threshold), n, H, W, sigma);
}

/** One pseudo-label modality by name: [n, H, W] -> [n, H, W]. */
export function pseudoLabel(kind: PseudoLabel, x: Float32Array, n: number, H: number, W: number): Float32Array {
  switch (kind) {
    case 'edges': return sobelEdges(x, n, H, W);
    case 'foreground': return foregroundMask(x, n, H, W);
    case 'depth': return depthLike(x, n, H, W);
  }
  throw new Error(`pseudoLabel: unknown modality '${kind as string}' (one of ${PSEUDO_LABELS.join(', ')})`);
}
