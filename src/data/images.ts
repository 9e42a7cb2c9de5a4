/**
 * Sets of images for image models: 8-bit PNG images (src/data/png.ts) stacked into one float
 * array x [n, C, H, W] (planar channels, values byte/255 in [0, 1]). Every image of a set must have
 * the same size and channel count; a set of mixed sizes is an error that names the first image
 * that differs from the first one and both sizes (models with a fixed patch grid need one size:
 * crop or resize first, e.g. with src/data/photos.ts's crops).
 *
 * An alpha channel is dropped (gray+alpha -> gray, RGBA -> RGB).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from './csv.js';
import { readPng, type PngImage } from './png.js';

export interface ImageSet {
  /** [n, C, H, W] row-major, in [0, 1]. */
  x: Float32Array;
  n: number;
  channels: number;
  height: number;
  width: number;
  /** Name of each image (file name for folders). */
  names: string[];
}

const describe = (img: PngImage) => `${img.width}×${img.height} ${colourChannels(img) === 3 ? 'RGB' : 'gray'}`;
const colourChannels = (img: PngImage) => (img.channels >= 3 ? 3 : 1);

/**
 * Stacks decoded images into an {@link ImageSet}; `where` prefixes errors (a folder or file).
 * Images of mixed sizes or of mixed gray/colour are an error naming both images and sizes.
 */
export function stackImages(images: { name: string; image: PngImage }[], where = 'images'): ImageSet {
  if (images.length === 0) throw new DataError(`${where}: no images`);
  const first = images[0]!;
  const H = first.image.height, W = first.image.width, C = colourChannels(first.image);
  for (const { name, image } of images) {
    if (image.height !== H || image.width !== W || colourChannels(image) !== C) {
      throw new DataError(`${where}: images of mixed sizes: ${first.name} is ${describe(first.image)} but ${name} is ${describe(image)} (an image model needs one size: crop or resize them first)`);
    }
  }
  const n = images.length, plane = H * W;
  const x = new Float32Array(n * C * plane);
  images.forEach(({ image }, i) => {
    const src = image.data, ch = image.channels;
    for (let p = 0; p < plane; p++) for (let c = 0; c < C; c++) x[(i * C + c) * plane + p] = src[p * ch + c]! / 255;
  });
  return { x, n, channels: C, height: H, width: W, names: images.map((m) => m.name) };
}

/** Every *.png file of a folder (sorted by name) as one {@link ImageSet}; see stackImages for the errors. */
export function loadImageFolder(dir: string): ImageSet {
  if (!statSync(dir).isDirectory()) throw new DataError(`${dir}: not a folder`);
  const files = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.png')).sort();
  if (files.length === 0) throw new DataError(`${dir}: the folder holds no .png images`);
  return stackImages(files.map((f) => ({ name: f, image: readPng(join(dir, f)) })), dir);
}
