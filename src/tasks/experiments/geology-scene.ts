/**
 * A synthetic, labelled multi-band "geological" scene for issue 17's experiment. No real labelled
 * hyperspectral scene can be shipped with aelab (licences and size), so this one is generated —
 * and it is synthetic: numbers measured on it say how the methods compare on data built the way
 * described here, not on a real sensor. Users with a real scene pass it to the experiment instead
 * (`aelab experiment geology --raster scene.npy --labels gt.npy`).
 *
 * How it is built (all from one seed):
 * - Bands: B wavelengths λ_b evenly spaced over 400–2500 nm (VNIR–SWIR, as AVIRIS-like sensors).
 * - Endmembers: M mineral-like spectra E_m(λ) = continuum α_m + β_m (λ − 400)/2100 minus 2–4
 *   Gaussian absorption features (centre 900–2400 nm, depth 0.05–0.25, width 20–120 nm), ≥ 0.02.
 * - Units: C geological units as a Voronoi partition of C random sites (at least 0.6·√(HW/C)
 *   apart), with coordinates warped by
 *   sinusoids so that the boundaries are irregular. Each unit has a mean abundance vector
 *   a_c (a random point of the simplex, skewed to 1–2 dominant endmembers).
 * - Pixels: abundance a(p) = a_c + smooth spatial field (low-frequency sinusoids, amplitude
 *   `withinUnit`) + white noise, clipped at 0 and renormalised; within `mixWidth` px of a
 *   boundary it is blended with the neighbouring unit's (mixed pixels).
 *   Reflectance r_b(p) = s(p) Σ_m a_m(p) E_m(λ_b) + N(0, noise²), with a smooth multiplicative
 *   illumination/topographic shading s(p) ∈ 1 ± `shading`; stored as scaled reflectance × 10 000
 *   (digital numbers of magnitude ~10³, as delivered by many sensors).
 * - A straight "road" 2 px wide crosses the scene with a flat, dark spectrum (not a geological
 *   unit).
 * - Ground truth: labels 1..C; 0 = no label for the scene border, the road and the mixed
 *   boundary pixels — the convention of public ground-truth maps.
 * - `outliers` labelled pixels get one band set to the band mean + 80 standard deviations
 *   (saturated / bad detector elements), the situation of issue 17 where one extreme pixel takes a
 *   whole cluster.
 */
import { Generator } from '../../core/random.js';

export interface SceneOptions {
  H: number;
  W: number;
  bands: number;
  /** Geological units (classes 1..C). */
  classes: number;
  endmembers: number;
  /** Std of the sensor noise in reflectance units. */
  noise: number;
  /** Amplitude of the smooth within-unit abundance variation. */
  withinUnit: number;
  /** Relative amplitude of the multiplicative shading. */
  shading: number;
  /** Width in pixels of the mixed zone on each side of a unit boundary. */
  mixWidth: number;
  outliers: number;
  seed: number;
}

export const DEFAULT_SCENE: SceneOptions = { H: 64, W: 64, bands: 48, classes: 6, endmembers: 5, noise: 0.01, withinUnit: 0.08, shading: 0.1, mixWidth: 1.5, outliers: 3, seed: 0 };

export interface Scene {
  /** Row-major [H, W, bands] scaled reflectance (×10 000). */
  data: Float32Array;
  /** [H·W] ground truth: 1..C units, 0 = no label. */
  labels: Int32Array;
  H: number;
  W: number;
  bands: number;
  wavelengths: number[];
  /** Pixel indices given an extreme band value. */
  outlierPixels: number[];
  options: SceneOptions;
}

/** Uniform [0, 1) numbers from a Generator, in bulk. */
function uniforms(g: Generator, n: number): Float32Array {
  return g.uniform(new Float32Array(n));
}

/** A smooth random field on the grid: a sum of `terms` low-frequency plane waves, amplitude ~1. */
function smoothField(g: Generator, H: number, W: number, terms = 3): Float32Array {
  const u = uniforms(g, terms * 4);
  const out = new Float32Array(H * W);
  for (let t = 0; t < terms; t++) {
    const fx = (0.5 + 2 * u[t * 4]!) / W, fy = (0.5 + 2 * u[t * 4 + 1]!) / H, ph = 2 * Math.PI * u[t * 4 + 2]!, sgn = u[t * 4 + 3]! < 0.5 ? -1 : 1;
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) out[i * W + j] += Math.sin(2 * Math.PI * (fx * j + sgn * fy * i) + ph) / Math.sqrt(terms);
  }
  return out;
}

/** The scene described in the file comment. */
export function syntheticScene(options: Partial<SceneOptions> = {}): Scene {
  const o: SceneOptions = { ...DEFAULT_SCENE, ...options };
  const { H, W, bands: B, classes: C, endmembers: M } = o;
  if (![H, W, B, C, M].every((v) => Number.isInteger(v) && v >= 1) || C < 2 || H < 8 || W < 8) throw new Error(`syntheticScene: need integer H, W ≥ 8, bands ≥ 1, classes ≥ 2; got ${JSON.stringify(o)}`);
  const g = new Generator(o.seed);
  const lambda = Array.from({ length: B }, (_, b) => 400 + (2100 * b) / Math.max(1, B - 1));

  // Endmember spectra.
  const E = new Float64Array(M * B);
  for (let m = 0; m < M; m++) {
    const u = uniforms(g, 2 + 4 * 4);
    const alpha = 0.15 + 0.35 * u[0]!, beta = -0.1 + 0.4 * u[1]!;
    const nAbs = 2 + Math.floor(3 * u[2]!);
    for (let b = 0; b < B; b++) {
      let r = alpha + (beta * (lambda[b]! - 400)) / 2100;
      for (let a = 0; a < nAbs; a++) {
        const c = 900 + 1500 * u[2 + a * 4 + 1]!, depth = 0.05 + 0.2 * u[2 + a * 4 + 2]!, width = 20 + 100 * u[2 + a * 4 + 3]!;
        r -= depth * Math.exp(-0.5 * ((lambda[b]! - c) / width) ** 2);
      }
      E[m * B + b] = Math.max(0.02, r);
    }
  }
  // Unit abundance means: skewed simplex points (cubing favours 1–2 dominant endmembers).
  const A = new Float64Array(C * M);
  for (let c = 0; c < C; c++) {
    const u = uniforms(g, M);
    let s = 0;
    for (let m = 0; m < M; m++) s += (A[c * M + m] = u[m]! ** 3 + 1e-3);
    for (let m = 0; m < M; m++) A[c * M + m]! /= s;
  }
  // Units: warped Voronoi cells.
  // Sites at least 0.6·√(HW/C) apart (rejection sampling), so no unit is a sliver between two twins.
  const sites = new Float64Array(2 * C);
  const minD = 0.6 * Math.sqrt((H * W) / C);
  for (let c = 0, tries = 0; c < C; tries++) {
    const u = uniforms(g, 2);
    const far = tries > 2000 || Array.from({ length: c }, (_, q) => Math.hypot((u[0]! - sites[2 * q]!) * W, (u[1]! - sites[2 * q + 1]!) * H)).every((d) => d >= minD);
    if (!far) continue;
    sites[2 * c] = u[0]!;
    sites[2 * c + 1] = u[1]!;
    c++;
  }
  const warp = uniforms(g, 4);
  const unit = new Int32Array(H * W), second = new Int32Array(H * W), gap = new Float64Array(H * W);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    const x = j + 0.08 * W * Math.sin((2 * Math.PI * i) / (H * (0.5 + warp[0]!)) + 6.28 * warp[1]!);
    const y = i + 0.08 * H * Math.sin((2 * Math.PI * j) / (W * (0.5 + warp[2]!)) + 6.28 * warp[3]!);
    let b1 = -1, b2 = -1, d1 = Infinity, d2 = Infinity;
    for (let c = 0; c < C; c++) {
      const d = Math.hypot(x - sites[2 * c]! * W, y - sites[2 * c + 1]! * H);
      if (d < d1) { d2 = d1; b2 = b1; d1 = d; b1 = c; } else if (d < d2) { d2 = d; b2 = c; }
    }
    const p = i * W + j;
    unit[p] = b1;
    second[p] = b2;
    gap[p] = (d2 - d1) / 2; // ≈ distance to the bisector
  }
  // Abundances, shading, reflectance.
  const fields = Array.from({ length: M }, () => smoothField(g, H, W));
  const shade = smoothField(g, H, W, 2);
  const white = g.normal(new Float32Array(H * W * M), 0, 0.03);
  const sensor = g.normal(new Float32Array(H * W * B), 0, o.noise);
  const data = new Float32Array(H * W * B);
  const labels = new Int32Array(H * W);
  const roadU = uniforms(g, 2);
  const road = (i: number, j: number) => {
    // The line through (x0, 0) and (x1, H−1), 2 px wide.
    const x0 = W * (0.2 + 0.6 * roadU[0]!), x1 = W * (0.2 + 0.6 * roadU[1]!);
    const xr = x0 + ((x1 - x0) * i) / (H - 1);
    return Math.abs(j - xr) < 1;
  };
  const a = new Float64Array(M);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    const p = i * W + j;
    const c = unit[p]!;
    const mix = gap[p]! < o.mixWidth ? 0.5 * (1 - gap[p]! / o.mixWidth) : 0;
    let s = 0;
    for (let m = 0; m < M; m++) {
      const base = (1 - mix) * A[c * M + m]! + mix * A[second[p]! * M + m]!;
      s += (a[m] = Math.max(0, base + o.withinUnit * fields[m]![p]! / 2 + white[p * M + m]!));
    }
    const isRoad = road(i, j);
    const sh = 1 + o.shading * shade[p]!;
    for (let b = 0; b < B; b++) {
      let r = 0;
      if (isRoad) r = 0.08;
      else for (let m = 0; m < M; m++) r += (a[m]! / (s || 1)) * E[m * B + b]!;
      data[p * B + b] = 10000 * Math.max(0, sh * r + sensor[p * B + b]!);
    }
    const border = i < 2 || j < 2 || i >= H - 2 || j >= W - 2;
    labels[p] = border || isRoad || mix > 0 ? 0 : c + 1;
  }
  // Extreme pixels: band mean + 80 σ in one band.
  const outlierPixels: number[] = [];
  const labelled = [...labels.keys()].filter((p) => labels[p]! > 0);
  for (let t = 0; t < o.outliers && labelled.length; t++) {
    const p = labelled[g.randint(labelled.length)]!;
    const b = g.randint(B);
    let mu = 0, ss = 0;
    for (let q = 0; q < H * W; q++) mu += data[q * B + b]!;
    mu /= H * W;
    for (let q = 0; q < H * W; q++) ss += (data[q * B + b]! - mu) ** 2;
    data[p * B + b] = mu + 80 * Math.sqrt(ss / (H * W));
    outlierPixels.push(p);
  }
  return { data, labels, H, W, bands: B, wavelengths: lambda, outlierPixels, options: o };
}
