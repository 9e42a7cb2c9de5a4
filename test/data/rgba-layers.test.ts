// Generated RGBA layer scenes: premultiplied storage, counts, determinism, and the "over"
// composite against the straight-alpha closed form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import { compositeLayers, rgbaScenes } from '../../src/data/rgba-layers.js';

test('compositeLayers equals the straight-alpha closed form of "over", layer by layer', () => {
  const P = 50, L = 4;
  const g = new Generator(7);
  const color = g.uniform(new Float32Array(L * 3 * P));
  const alpha = g.uniform(new Float32Array(L * P));
  for (let p = 0; p < P; p++) alpha[p] = 1; // opaque background
  for (let p = 0; p < 5; p++) alpha[2 * P + p] = 0; // some fully transparent pixels
  const pre = new Float32Array(L * 4 * P);
  for (let l = 0; l < L; l++) for (let p = 0; p < P; p++) {
    for (let c = 0; c < 3; c++) pre[l * 4 * P + c * P + p] = color[(l * 3 + c) * P + p]! * alpha[l * P + p]!;
    pre[l * 4 * P + 3 * P + p] = alpha[l * P + p]!;
  }
  const out = compositeLayers(pre, L, P);
  for (let p = 0; p < P; p++) {
    // a_o = a_t + a_b (1 − a_t), c_o = (c_t a_t + c_b a_b (1 − a_t)) / a_o, folded bottom-up
    let a = alpha[p]!, c = [0, 1, 2].map((k) => color[k * P + p]!);
    for (let l = 1; l < L; l++) {
      const at = alpha[l * P + p]!, ct = [0, 1, 2].map((k) => color[(l * 3 + k) * P + p]!);
      const ao = at + a * (1 - at);
      c = c.map((cb, k) => (ct[k]! * at + cb * a * (1 - at)) / ao);
      a = ao;
    }
    assert.ok(Math.abs(out[3 * P + p]! - a) < 1e-6, `alpha ${p}`);
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(out[k * P + p]! / out[3 * P + p]! - c[k]!) < 1e-5, `pixel ${p} channel ${k}: ${out[k * P + p]} vs ${c[k]}`);
  }
  // only the first `count` layers enter
  assert.deepEqual(compositeLayers(pre, 1, P), pre.slice(0, 4 * P));
});

test('rgbaScenes: counts in range, opaque backgrounds, premultiplied colours, empty absent layers, seeded', () => {
  const S = 16, o = { n: 30, size: S, minLayers: 1, maxLayers: 3, seed: 5 };
  const sc = rgbaScenes(o);
  const P = S * S, L = sc.maxLayers, per = L * 4 * P;
  assert.equal(L, 4);
  const seen = new Set<number>();
  for (let s = 0; s < sc.n; s++) {
    const c = sc.count[s]!;
    seen.add(c);
    assert.ok(c >= 2 && c <= 4);
    for (let p = 0; p < P; p++) assert.equal(sc.layers[s * per + 3 * P + p], 1, 'background alpha');
    for (let l = 0; l < L; l++) {
      const o2 = s * per + l * 4 * P;
      let any = 0;
      for (let p = 0; p < P; p++) {
        const a = sc.layers[o2 + 3 * P + p]!;
        assert.ok(a >= 0 && a <= 1);
        for (let k = 0; k < 3; k++) assert.ok(sc.layers[o2 + k * P + p]! <= a + 1e-6 && sc.layers[o2 + k * P + p]! >= 0, 'premultiplied colour ≤ alpha');
        any += a;
      }
      if (l >= c) assert.equal(any, 0, `absent layer ${l} of scene ${s} is empty`);
      else if (l >= 1) assert.ok(any > 0, `foreground layer ${l} of scene ${s} has pixels`);
    }
  }
  assert.deepEqual([...seen].sort(), [2, 3, 4], 'every layer count occurs');
  assert.deepEqual(rgbaScenes(o).layers, sc.layers);
  assert.notDeepEqual(rgbaScenes({ ...o, seed: 6 }).layers, sc.layers);
  assert.throws(() => rgbaScenes({ n: 1, minLayers: 3, maxLayers: 2 }), /0 ≤ minLayers ≤ maxLayers/);
});
