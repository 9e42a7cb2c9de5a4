/**
 * Generated multi-layer transparent scenes (for the ART layered autoencoder), by pure seeded code.
 *
 * A scene is a stack of L = 1 + k RGBA layers of S×S pixels, bottom to top: layer 0 is an opaque
 * background (a two-colour linear gradient, stripes or a checkerboard), layers 1 … k (k uniform in
 * [minLayers, maxLayers]) are foreground objects on transparent pixels: a disc, a rectangle, a
 * triangle or an MNIST digit, filled with a solid colour or a two-colour stripe/checker texture,
 * with alpha = coverage × opacity (opacity uniform in [0.5, 1]; discs get a 1-pixel soft edge;
 * digits use the digit's intensity as coverage).
 *
 * Storage is PREMULTIPLIED RGBA, channel-major per layer: layers [n, Lmax, 4, S, S] with
 * (r·a, g·a, b·a, a), Lmax = 1 + maxLayers, absent layers all zero (fully transparent); `count`
 * [n] holds L per scene. Premultiplied values make "over" linear in the top layer:
 *   P_out = P_top + (1 − a_top) · P_below,
 * which equals the straight-alpha closed form a_o = a_t + a_b(1 − a_t),
 * c_o = (c_t a_t + c_b a_b (1 − a_t)) / a_o. The composite of a scene is the fold of "over" from
 * layer 0 upwards; with an opaque background its alpha is 1 and its RGB is the picture.
 */
import { Generator } from '../core/random.js';
import { DataError } from './csv.js';
import { MNIST_DIM, MNIST_SIDE, loadMnist } from './mnist.js';

export interface RgbaScenesOptions {
  n: number;
  /** Side S (default 32, at least 8). */
  size?: number;
  /** Foreground layers per scene: uniform in [minLayers, maxLayers] (defaults 1 and 3). */
  minLayers?: number;
  maxLayers?: number;
  /** Allow MNIST digits as foreground shapes (default true). */
  digits?: boolean;
  seed?: number;
}

export interface RgbaScenes {
  /** Premultiplied RGBA [n, Lmax, 4, S, S]. */
  layers: Float32Array;
  /** Layers per scene (background included), in [1 + minLayers, Lmax]. */
  count: Int32Array;
  n: number;
  size: number;
  /** 1 + maxLayers. */
  maxLayers: number;
}

type Rgb = [number, number, number];

function color(g: Generator): Rgb {
  return [g.nextFloat64(), g.nextFloat64(), g.nextFloat64()];
}

/** A texture: colour at pixel (i, j) — solid, stripes at an angle, or a checkerboard. */
function texture(g: Generator): (i: number, j: number) => Rgb {
  const a = color(g), b = color(g);
  const kind = g.randint(3);
  if (kind === 0) return () => a;
  const period = 2 + g.randint(5);
  if (kind === 1) {
    const th = g.nextFloat64() * Math.PI;
    const cx = Math.cos(th), sy = Math.sin(th);
    return (i, j) => (Math.floor((j * cx + i * sy) / period) % 2 === 0 ? a : b);
  }
  return (i, j) => ((Math.floor(i / period) + Math.floor(j / period)) % 2 === 0 ? a : b);
}

/** Writes an opaque background into layer block `out` at offset o (premultiplied = straight). */
function background(g: Generator, S: number, out: Float32Array, o: number): void {
  const P = S * S;
  let fill: (i: number, j: number) => Rgb;
  if (g.randint(2) === 0) {
    const a = color(g), b = color(g), vertical = g.randint(2) === 0;
    fill = (i, j) => {
      const t = (vertical ? i : j) / (S - 1);
      return [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2])];
    };
  } else fill = texture(g);
  for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) {
    const c = fill(i, j);
    for (let k = 0; k < 3; k++) out[o + k * P + i * S + j] = c[k];
    out[o + 3 * P + i * S + j] = 1;
  }
}

/** Coverage in [0, 1] of a random shape at pixel (i, j). */
function shape(g: Generator, S: number, digits: boolean, mnist: () => { x: Float32Array; n: number }): (i: number, j: number) => number {
  const kind = g.randint(digits ? 4 : 3);
  const r0 = S * (0.15 + 0.2 * g.nextFloat64());
  const cx = r0 + g.nextFloat64() * (S - 2 * r0), cy = r0 + g.nextFloat64() * (S - 2 * r0);
  if (kind === 0) return (i, j) => Math.min(1, Math.max(0, r0 - Math.hypot(i + 0.5 - cy, j + 0.5 - cx) + 0.5));
  if (kind === 1) {
    const hw = r0 * (0.5 + g.nextFloat64()), hh = r0 * (0.5 + g.nextFloat64());
    return (i, j) => (Math.abs(i + 0.5 - cy) <= hh && Math.abs(j + 0.5 - cx) <= hw ? 1 : 0);
  }
  if (kind === 2) {
    // Triangle of three points on the circle of radius r0 around the centre.
    const a0 = g.nextFloat64() * 2 * Math.PI;
    const pts = [0, 1, 2].map((k) => [cy + r0 * Math.sin(a0 + (k * 2 * Math.PI) / 3), cx + r0 * Math.cos(a0 + (k * 2 * Math.PI) / 3)] as const);
    const side = (p: readonly [number, number], q: readonly [number, number], y: number, x: number) => (q[1] - p[1]) * (y - p[0]) - (q[0] - p[0]) * (x - p[1]);
    return (i, j) => {
      const y = i + 0.5, x = j + 0.5;
      const s0 = side(pts[0]!, pts[1]!, y, x), s1 = side(pts[1]!, pts[2]!, y, x), s2 = side(pts[2]!, pts[0]!, y, x);
      return (s0 >= 0 && s1 >= 0 && s2 >= 0) || (s0 <= 0 && s1 <= 0 && s2 <= 0) ? 1 : 0;
    };
  }
  // An MNIST digit scaled (nearest neighbour) to a box of side 2·r0·1.4 around the centre.
  const src = mnist();
  const img = g.randint(src.n);
  const side = Math.max(4, Math.round(2 * r0 * 1.4));
  const top = Math.round(cy - side / 2), left = Math.round(cx - side / 2);
  return (i, j) => {
    const u = i - top, v = j - left;
    if (u < 0 || v < 0 || u >= side || v >= side) return 0;
    const si = Math.min(MNIST_SIDE - 1, Math.floor((u * MNIST_SIDE) / side)), sj = Math.min(MNIST_SIDE - 1, Math.floor((v * MNIST_SIDE) / side));
    return src.x[img * MNIST_DIM + si * MNIST_SIDE + sj]!;
  };
}

/** Generates the scenes (see the file comment). */
export function rgbaScenes(o: RgbaScenesOptions): RgbaScenes {
  const S = o.size ?? 32, kMin = o.minLayers ?? 1, kMax = o.maxLayers ?? 3, digits = o.digits ?? true;
  if (!Number.isInteger(o.n) || o.n < 1) throw new DataError(`rgbaScenes: n must be a positive integer, got ${o.n}`);
  if (!Number.isInteger(S) || S < 8) throw new DataError(`rgbaScenes: size must be an integer ≥ 8, got ${S}`);
  if (!Number.isInteger(kMin) || !Number.isInteger(kMax) || kMin < 0 || kMax < kMin) throw new DataError(`rgbaScenes: need integers 0 ≤ minLayers ≤ maxLayers, got ${kMin} and ${kMax}`);
  let pool: { x: Float32Array; n: number } | null = null;
  const mnist = () => (pool ??= loadMnist().train);
  const g = new Generator(o.seed ?? 0);
  const L = 1 + kMax, P = S * S, per = L * 4 * P;
  const layers = new Float32Array(o.n * per), count = new Int32Array(o.n);
  for (let s = 0; s < o.n; s++) {
    const k = kMin + g.randint(kMax - kMin + 1);
    count[s] = 1 + k;
    background(g, S, layers, s * per);
    for (let l = 1; l <= k; l++) {
      const cov = shape(g, S, digits, mnist);
      const tex = texture(g);
      const opacity = 0.5 + 0.5 * g.nextFloat64();
      const base = s * per + l * 4 * P;
      for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) {
        const a = cov(i, j) * opacity;
        if (a <= 0) continue;
        const c = tex(i, j);
        for (let q = 0; q < 3; q++) layers[base + q * P + i * S + j] = c[q] * a;
        layers[base + 3 * P + i * S + j] = a;
      }
    }
  }
  return { layers, count, n: o.n, size: S, maxLayers: L };
}

/**
 * The composite of premultiplied layers [L, 4, P] (only the first `count`): the fold
 * out = P_l + (1 − a_l) · out from l = 0 upwards. Returns premultiplied RGBA [4, P].
 */
export function compositeLayers(layers: Float32Array, count: number, P: number): Float32Array {
  if (layers.length < count * 4 * P) throw new DataError(`compositeLayers: ${layers.length} values hold fewer than ${count} layers of 4×${P}`);
  const out = new Float32Array(4 * P);
  for (let l = 0; l < count; l++) {
    const o = l * 4 * P;
    for (let p = 0; p < P; p++) {
      const keep = 1 - layers[o + 3 * P + p]!;
      for (let c = 0; c < 4; c++) out[c * P + p] = layers[o + c * P + p]! + keep * out[c * P + p]!;
    }
  }
  return out;
}
