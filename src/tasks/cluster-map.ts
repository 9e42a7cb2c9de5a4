/**
 * Cluster maps for rasters: an H × W × bands image (e.g. multispectral pixels) is clustered per
 * pixel with k-means, and the label image is drawn as an RGB PNG with a legend strip on the right:
 * one coloured swatch per cluster with its index written next to it in a built-in 5×7 bitmap font
 * (so no font files are needed).
 *
 * Pixels with any non-finite band are "no data": they get label −1, are left out of clustering,
 * and are drawn in black.
 */
import { StandardScaler } from '../data/standardize.js';
import { encodePng, type PngImage } from '../data/png.js';
import { kmeans, type KMeansResult } from './kmeans.js';

export interface Raster {
  /** Row-major [H, W, bands]. */
  data: ArrayLike<number>;
  H: number;
  W: number;
  bands: number;
}

/** A raster from an [H, W] or [H, W, bands] array (e.g. one read with readNpy). */
export function rasterFromArray(a: { shape: number[]; data: ArrayLike<number> }): Raster {
  if (a.shape.length === 2) return { data: a.data, H: a.shape[0], W: a.shape[1], bands: 1 };
  if (a.shape.length === 3) return { data: a.data, H: a.shape[0], W: a.shape[1], bands: a.shape[2] };
  throw new Error(`raster: expected an array of shape [H, W] or [H, W, bands], got [${a.shape.join(', ')}]`);
}

export interface ClusterRasterOptions {
  k: number;
  seed?: number;
  nInit?: number;
  maxIter?: number;
  /** Standardise bands before clustering (default true), so bands on large scales do not dominate. */
  standardize?: boolean;
}

export interface ClusterRasterResult {
  /** [H·W] labels, −1 for no-data pixels. */
  labels: Int32Array;
  kmeans: KMeansResult;
  /** Pixels clustered (finite in every band). */
  valid: number;
}

/** k-means over the pixels of a raster; see the module comment. */
export function clusterRaster(r: Raster, options: ClusterRasterOptions): ClusterRasterResult {
  const { H, W, bands } = r;
  const P = H * W;
  if (r.data.length !== P * bands) throw new Error(`raster: expected ${H}×${W}×${bands} = ${P * bands} values, got ${r.data.length}`);
  const ok: number[] = [];
  for (let p = 0; p < P; p++) {
    let good = true;
    for (let b = 0; b < bands && good; b++) good = Number.isFinite(r.data[p * bands + b]);
    if (good) ok.push(p);
  }
  if (ok.length < options.k) throw new Error(`raster: only ${ok.length} pixels have data in every band, fewer than k = ${options.k}`);
  let X = new Float64Array(ok.length * bands);
  ok.forEach((p, i) => { for (let b = 0; b < bands; b++) X[i * bands + b] = r.data[p * bands + b]; });
  if (options.standardize ?? true) X = new StandardScaler({ onConstant: 'keep' }).fitTransform(X, ok.length, bands);
  const res = kmeans(X, ok.length, bands, { k: options.k, seed: options.seed, nInit: options.nInit, maxIter: options.maxIter });
  const labels = new Int32Array(P).fill(-1);
  ok.forEach((p, i) => (labels[p] = res.labels[i]));
  return { labels, kmeans: res, valid: ok.length };
}

/**
 * 5×7 bitmap glyphs for the digits and '-': each string is one row, left to right, '1' = ink.
 */
export const FONT_5X7: Readonly<Record<string, readonly string[]>> = {
  '0': ['01110', '10001', '10011', '10101', '11001', '10001', '01110'],
  '1': ['00100', '01100', '00100', '00100', '00100', '00100', '01110'],
  '2': ['01110', '10001', '00001', '00010', '00100', '01000', '11111'],
  '3': ['11111', '00010', '00100', '00010', '00001', '10001', '01110'],
  '4': ['00010', '00110', '01010', '10010', '11111', '00010', '00010'],
  '5': ['11111', '10000', '11110', '00001', '00001', '10001', '01110'],
  '6': ['00110', '01000', '10000', '11110', '10001', '10001', '01110'],
  '7': ['11111', '00001', '00010', '00100', '01000', '01000', '01000'],
  '8': ['01110', '10001', '10001', '01110', '10001', '10001', '01110'],
  '9': ['01110', '10001', '10001', '01111', '00001', '00010', '01100'],
  '-': ['00000', '00000', '00000', '11111', '00000', '00000', '00000'],
};

export type RGB = [number, number, number];

const BASE_PALETTE: RGB[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

function hsvToRgb(h: number, s: number, v: number): RGB {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  const [r, g, b] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i % 6];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/** k distinct colours: ten fixed ones, then hues spaced by the golden angle. */
export function clusterPalette(k: number): RGB[] {
  const out: RGB[] = [];
  for (let i = 0; i < k; i++) {
    out.push(i < BASE_PALETTE.length ? BASE_PALETTE[i] : hsvToRgb(((i - 10) * 0.618033988749895) % 1, 0.65, 0.9 - 0.25 * (Math.floor((i - 10) / 8) % 2)));
  }
  return out;
}

/** Draws `text` (digits and '-') into an RGB image at (x, y) (top-left), each font pixel scale×scale. */
export function drawText(img: PngImage, x: number, y: number, text: string, color: RGB, scale = 1): void {
  const ch = img.channels;
  for (let c = 0; c < text.length; c++) {
    const glyph = FONT_5X7[text[c]];
    if (!glyph) throw new Error(`drawText: no glyph for ${JSON.stringify(text[c])}`);
    const gx = x + c * 6 * scale; // 5 columns of ink + 1 of spacing
    for (let r = 0; r < 7; r++) for (let q = 0; q < 5; q++) {
      if (glyph[r][q] !== '1') continue;
      for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) {
        const px = gx + q * scale + dx, py = y + r * scale + dy;
        if (px < 0 || py < 0 || px >= img.width || py >= img.height) continue;
        const o = (py * img.width + px) * ch;
        for (let b = 0; b < Math.min(3, ch); b++) img.data[o + b] = color[b];
      }
    }
  }
}

export interface ClusterMapOptions {
  /** Each raster pixel becomes scale×scale image pixels (default: enough to make the map ≥ 256 px tall, max 16). */
  scale?: number;
  /** Font scale of the legend digits (default 2). */
  legendScale?: number;
  palette?: RGB[];
  legend?: boolean;
  /** Text of each legend row (digits and '-'; default the cluster index). */
  legendLabels?: string[];
  /** Colour of label −1 (default black: no data). */
  noData?: RGB;
}

/** Layout facts of a rendered map, for tests and callers placing annotations. */
export interface ClusterMapLayout {
  mapWidth: number;
  mapHeight: number;
  scale: number;
  /** Top-left corner and side of each legend swatch (index = cluster). */
  swatches: { x: number; y: number; size: number }[];
}

/** Renders the label image (−1 = black) with a legend strip on the right; RGB. */
export function renderClusterMap(labels: ArrayLike<number>, H: number, W: number, k: number, options: ClusterMapOptions = {}): { image: PngImage; layout: ClusterMapLayout } {
  if (labels.length !== H * W) throw new Error(`cluster map: ${labels.length} labels for a ${H}×${W} raster`);
  const scale = options.scale ?? Math.max(1, Math.min(16, Math.ceil(256 / H)));
  const ls = options.legendScale ?? 2;
  const palette = options.palette ?? clusterPalette(k);
  if (palette.length < k) throw new Error(`cluster map: palette has ${palette.length} colours for ${k} clusters`);
  const legend = options.legend ?? true;
  const mapW = W * scale, mapH = H * scale;
  const pad = 4 * ls;
  const sw = 7 * ls; // swatch side = glyph height
  const rowH = sw + 3 * ls;
  const texts = options.legendLabels ?? Array.from({ length: k }, (_, j) => String(j));
  if (texts.length < k) throw new Error(`cluster map: ${texts.length} legend labels for ${k} clusters`);
  const digits = Math.max(1, ...texts.slice(0, k).map((t) => t.length));
  const noData = options.noData ?? [0, 0, 0];
  const legendW = legend ? pad + sw + 2 * ls + digits * 6 * ls + pad : 0;
  const legendH = legend ? pad * 2 + k * rowH - 3 * ls : 0;
  const width = mapW + legendW;
  const height = Math.max(mapH, legendH);
  const data = new Uint8Array(width * height * 3).fill(255);
  for (let y = 0; y < mapH; y++) for (let x = 0; x < mapW; x++) {
    const l = labels[Math.floor(y / scale) * W + Math.floor(x / scale)];
    if (l >= k) throw new Error(`cluster map: label ${l} is not below k = ${k}`);
    const c: RGB = l < 0 ? noData : palette[l];
    const o = (y * width + x) * 3;
    data[o] = c[0]; data[o + 1] = c[1]; data[o + 2] = c[2];
  }
  const image: PngImage = { width, height, channels: 3, data };
  const swatches: ClusterMapLayout['swatches'] = [];
  if (legend) {
    for (let j = 0; j < k; j++) {
      const x0 = mapW + pad, y0 = pad + j * rowH;
      for (let y = y0; y < y0 + sw; y++) for (let x = x0; x < x0 + sw; x++) {
        const o = (y * width + x) * 3;
        data[o] = palette[j][0]; data[o + 1] = palette[j][1]; data[o + 2] = palette[j][2];
      }
      swatches.push({ x: x0, y: y0, size: sw });
      drawText(image, x0 + sw + 2 * ls, y0, texts[j], [0, 0, 0], ls);
    }
  }
  return { image, layout: { mapWidth: mapW, mapHeight: mapH, scale, swatches } };
}

/** PNG bytes of {@link renderClusterMap}. */
export function clusterMapPng(labels: ArrayLike<number>, H: number, W: number, k: number, options: ClusterMapOptions = {}): Uint8Array {
  return encodePng(renderClusterMap(labels, H, W, k, options).image);
}

/** Places RGB images left to right on a white background, `gap` white columns apart (top-aligned). */
export function sideBySide(images: PngImage[], gap = 16): PngImage {
  const width = images.reduce((s, im) => s + im.width, 0) + gap * Math.max(0, images.length - 1);
  const height = Math.max(...images.map((im) => im.height));
  const data = new Uint8Array(width * height * 3).fill(255);
  let x0 = 0;
  for (const im of images) {
    if (im.channels !== 3) throw new Error('sideBySide: RGB images only');
    for (let y = 0; y < im.height; y++) data.set(im.data.subarray(y * im.width * 3, (y + 1) * im.width * 3), (y * width + x0) * 3);
    x0 += im.width + gap;
  }
  return { width, height, channels: 3, data };
}

/** Colour of "no label" pixels in a ground-truth map (grey, unlike black no-data pixels). */
export const NO_LABEL_COLOR: RGB = [170, 170, 170];

export interface MatchedMapsInput {
  /** [H·W] cluster of each pixel, −1 = no data. */
  clusters: ArrayLike<number>;
  H: number;
  W: number;
  k: number;
  /** [H·W] true class of each pixel (the ignored label and −1 = no label). */
  truth?: ArrayLike<number>;
  /** Class ids in legend order (sorted, without the ignored label). */
  classes?: number[];
  /** Matched class of each cluster 0..k−1 (null = unmatched), from matchClusters. */
  classOf?: (number | null)[];
  /** Label value meaning "no label" in `truth`. */
  ignore?: number | null;
  scale?: number;
}

export interface MatchedMaps {
  image: PngImage;
  /** Colour of each cluster 0..k−1 (the colour of its matched class where there is one). */
  clusterColors: RGB[];
  /** Colour of each class (order of `classes`). */
  classColors: RGB[];
  /** Width of the cluster panel (the ground-truth panel starts gap pixels to its right). */
  clusterPanelWidth: number;
  /** Top-left x of the ground-truth map (−1 when there is none) and the scale of both maps. */
  truthX: number;
  scale: number;
}

/**
 * The cluster map and, with `truth`, the ground-truth map beside it, both with legends, coloured
 * so that a cluster and the class it is matched to (Hungarian matching of the contingency table)
 * share one colour: class c (position i in `classes`) gets palette colour i, a cluster gets the
 * colour of its matched class, and unmatched clusters get the colours after the classes'. So
 * agreement shows as equal colours, disagreement as different ones. No-data pixels are black,
 * "no label" pixels of the ground truth grey.
 */
export function renderMatchedMaps(o: MatchedMapsInput): MatchedMaps {
  const { H, W, k } = o;
  const classes = o.classes ?? [];
  const nColors = classes.length + k;
  const pal = clusterPalette(nColors);
  const classColors = classes.map((_, i) => pal[i]);
  const pos = new Map(classes.map((c, i) => [c, i]));
  let extra = classes.length;
  const clusterColors: RGB[] = [];
  for (let j = 0; j < k; j++) {
    const c = o.classOf?.[j];
    clusterColors.push(c !== null && c !== undefined && pos.has(c) ? classColors[pos.get(c)!] : pal[extra++]);
  }
  const scale = o.scale ?? Math.max(1, Math.min(16, Math.ceil(256 / H)));
  const left = renderClusterMap(o.clusters, H, W, k, { palette: clusterColors, scale });
  if (!o.truth) return { image: left.image, clusterColors, classColors, clusterPanelWidth: left.image.width, truthX: -1, scale };
  if (o.truth.length !== H * W) throw new Error(`ground-truth map: ${o.truth.length} labels for a ${H}×${W} raster`);
  const idx = Int32Array.from({ length: H * W }, (_, p) => {
    const v = o.truth![p]!;
    return v === o.ignore || !pos.has(v) ? -1 : pos.get(v)!;
  });
  const right = renderClusterMap(idx, H, W, Math.max(1, classes.length), {
    palette: classColors.length ? classColors : [NO_LABEL_COLOR], scale, noData: NO_LABEL_COLOR,
    legendLabels: classes.length ? classes.map(String) : ['-'],
  });
  const gap = 16;
  return { image: sideBySide([left.image, right.image], gap), clusterColors, classColors, clusterPanelWidth: left.image.width, truthX: left.image.width + gap, scale };
}
