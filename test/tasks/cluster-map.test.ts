import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePng } from '../../src/data/png.js';
import { FONT_5X7, clusterMapPng, clusterPalette, clusterRaster, renderClusterMap } from '../../src/tasks/cluster-map.js';
import { adjustedRandIndex } from '../../src/tasks/metrics.js';

test('clusters a 3-region raster and draws the map with a legend', () => {
  const H = 12, W = 15, B = 3;
  const truth = new Int32Array(H * W);
  const data = new Float32Array(H * W * B);
  const means = [[0, 0, 0], [5, 1, -3], [-4, 6, 2]];
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const r = x < 5 ? 0 : y < 6 ? 1 : 2;
    truth[y * W + x] = r;
    for (let b = 0; b < B; b++) data[(y * W + x) * B + b] = means[r][b] + 0.1 * Math.sin(7 * x + 3 * y + b);
  }
  data[0] = NaN; // one no-data pixel
  const res = clusterRaster({ data, H, W, bands: B }, { k: 3, seed: 0 });
  assert.equal(res.valid, H * W - 1);
  assert.equal(res.labels[0], -1);
  assert.equal(adjustedRandIndex(truth.subarray(1), res.labels.subarray(1)), 1);

  const { image, layout } = renderClusterMap(res.labels, H, W, 3, { scale: 4, legendScale: 2 });
  const png = decodePng(clusterMapPng(res.labels, H, W, 3, { scale: 4, legendScale: 2 }));
  assert.deepEqual(png, image);
  assert.equal(png.channels, 3);
  const pal = clusterPalette(3);
  const px = (x: number, y: number) => Array.from(png.data.subarray((y * png.width + x) * 3, (y * png.width + x) * 3 + 3));
  // Map pixels carry their cluster's colour; no-data is black.
  assert.deepEqual(px(2, 2), [0, 0, 0]);
  assert.deepEqual(px(4 * 10 + 1, 4 * 9 + 1), pal[res.labels[9 * W + 10]]);
  // Legend swatches, and the digit glyph's ink count next to each (scale² pixels per font pixel).
  for (let j = 0; j < 3; j++) {
    const s = layout.swatches[j];
    assert.deepEqual(px(s.x + 1, s.y + 1), pal[j]);
    let ink = 0;
    for (let y = s.y; y < s.y + 14; y++) for (let x = s.x + s.size; x < png.width; x++) if (px(x, y).every((v) => v === 0)) ink++;
    const glyphInk = FONT_5X7[String(j)].join('').split('').filter((c) => c === '1').length;
    assert.equal(ink, glyphInk * 4, `digit ${j}`);
  }
});

test('palette colours are distinct for many clusters; bad labels rejected', () => {
  const p = clusterPalette(40);
  assert.equal(new Set(p.map((c) => c.join(','))).size, 40);
  assert.throws(() => renderClusterMap([0, 5], 1, 2, 3), /label 5 is not below k = 3/);
});
