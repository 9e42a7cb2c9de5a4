// Shipped colour photographs and their seeded crops (src/data/photos.ts), and image sets stacked from
// PNGs with the mixed-size error (src/data/images.ts).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PHOTO_NAMES, loadPhotos, photoCrops, type Photo } from '../../src/data/photos.js';
import { loadImageFolder, stackImages } from '../../src/data/images.js';
import { writePng, type PngImage } from '../../src/data/png.js';
import { shippedPath } from '../../src/data/shipped.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-photos-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('the shipped photos load as RGB in [0, 1], with their licence and source notes, under 1 MB', () => {
  const photos = loadPhotos();
  assert.deepEqual(photos.map((p) => p.name), [...PHOTO_NAMES]);
  assert.deepEqual(photos.map((p) => [p.width, p.height]), [[256, 256], [225, 150], [300, 200]]);
  for (const p of photos) {
    assert.equal(p.data.length, 3 * p.width * p.height);
    let lo = Infinity, hi = -Infinity;
    for (const v of p.data) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    assert.ok(lo >= 0 && hi <= 1 && hi - lo > 0.5, `${p.name}: range ${lo}..${hi}`);
  }
  const dir = join(shippedPath('photos/astronaut.png'), '..');
  assert.match(readFileSync(join(dir, 'LICENSE'), 'utf8'), /CC0/);
  assert.match(readFileSync(join(dir, 'SOURCE'), 'utf8'), /scikit-image/);
  const bytes = readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  assert.ok(bytes < 1 << 20, `data/photos holds ${bytes} bytes`);
});

/** A photo whose pixel value encodes its position: R = column/W, G = row/H, B = photo id / 10. */
function coordPhoto(name: string, id: number, W: number, H: number): Photo {
  const data = new Float32Array(3 * W * H);
  for (let r = 0; r < H; r++) for (let c = 0; c < W; c++) {
    data[r * W + c] = c / W; data[W * H + r * W + c] = r / H; data[2 * W * H + r * W + c] = id / 10;
  }
  return { name, width: W, height: H, data };
}

test('photoCrops: crops are exact windows of the photo they are labelled with; train and test never overlap; seeded', () => {
  const photos = [coordPhoto('a', 0, 40, 20), coordPhoto('b', 1, 64, 30)];
  const S = 8;
  for (const split of ['train', 'test', 'all'] as const) {
    const c = photoCrops({ n: 50, size: S, split, seed: 3, photos });
    assert.deepEqual(Array.from(c.y.slice(0, 4)), [0, 1, 0, 1]);
    for (let i = 0; i < c.n; i++) {
      const p = photos[c.y[i]!]!, base = i * 3 * S * S;
      assert.ok(Math.abs(c.x[base + 2 * S * S]! - c.y[i]! / 10) < 1e-7, 'blue plane = photo id');
      const c0 = Math.round(c.x[base]! * p.width), r0 = Math.round(c.x[base + S * S]! * p.height);
      for (let u = 0; u < S; u++) for (let v = 0; v < S; v++) {
        assert.ok(Math.abs(c.x[base + u * S + v]! - (c0 + v) / p.width) < 1e-6);
        assert.ok(Math.abs(c.x[base + S * S + u * S + v]! - (r0 + u) / p.height) < 1e-6);
      }
      const wt = Math.ceil(0.25 * p.width);
      if (split === 'train') assert.ok(c0 + S <= p.width - wt, `train crop at column ${c0}`);
      if (split === 'test') assert.ok(c0 >= p.width - wt, `test crop at column ${c0}`);
      assert.ok(r0 >= 0 && r0 + S <= p.height && c0 + S <= p.width);
    }
  }
  assert.deepEqual(photoCrops({ n: 20, size: S, seed: 1, photos }).x, photoCrops({ n: 20, size: S, seed: 1, photos }).x);
  assert.notDeepEqual(photoCrops({ n: 20, size: S, seed: 1, photos }).x, photoCrops({ n: 20, size: S, seed: 2, photos }).x);
  assert.throws(() => photoCrops({ n: 4, size: 12, split: 'test', photos }), /the test region of a is 10×20, smaller than the 12×12 crop/);
  assert.throws(() => photoCrops({ n: 0, photos }), /n must be a positive integer, got 0/);
});

test('photoCrops on the shipped photos: 32×32 RGB crops in [0, 1]', () => {
  const c = photoCrops({ n: 6, seed: 0, split: 'train' });
  assert.equal(c.x.length, 6 * 3 * 32 * 32);
  assert.deepEqual(c.names, [...PHOTO_NAMES]);
  assert.ok(c.x.every((v) => v >= 0 && v <= 1));
});

test('image folders: PNGs stacked as [n, C, H, W]; mixed sizes are an error naming both images and sizes', () => {
  const img = (w: number, h: number, ch: 1 | 3, v: number): PngImage => ({ width: w, height: h, channels: ch, data: new Uint8Array(w * h * ch).fill(v) });
  const ok = join(tmp, 'ok'), mixed = join(tmp, 'mixed'), empty = join(tmp, 'empty');
  for (const d of [ok, mixed, empty]) mkdirSync(d);
  const rgb = img(4, 2, 3, 0);
  rgb.data[3 * 1 + 2] = 255; // pixel (0, 1), blue
  writePng(join(ok, 'a.png'), rgb);
  writePng(join(ok, 'b.png'), img(4, 2, 3, 51));
  const s = loadImageFolder(ok);
  assert.deepEqual([s.n, s.channels, s.height, s.width], [2, 3, 2, 4]);
  assert.deepEqual(s.names, ['a.png', 'b.png']);
  assert.equal(s.x[2 * 8 + 1], 1); // image 0, channel 2 (blue), pixel 1
  assert.equal(s.x[8 + 1], 0);
  assert.ok(Math.abs(s.x[24 + 5]! - 0.2) < 1e-7);
  writePng(join(mixed, 'a.png'), img(32, 32, 3, 0));
  writePng(join(mixed, 'b.png'), img(28, 28, 1, 0));
  assert.throws(() => loadImageFolder(mixed), /mixed: images of mixed sizes: a\.png is 32×32 RGB but b\.png is 28×28 gray/);
  assert.throws(() => loadImageFolder(empty), /holds no \.png images/);
  assert.throws(() => stackImages([{ name: 'x', image: img(3, 3, 1, 0) }, { name: 'y', image: img(3, 4, 1, 0) }], 'batch'), /batch: images of mixed sizes: x is 3×3 gray but y is 3×4 gray/);
});
