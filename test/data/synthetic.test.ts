import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSynthetic } from '../../src/data/synthetic.js';

function corr(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n, mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) ** 2; sbb += (b[i] - mb) ** 2; }
  return sab / Math.sqrt(saa * sbb);
}

test('labels match the injected windows; outside them the series is the clean one', () => {
  const s = generateSynthetic({ T: 1500, C: 4, seed: 3, anomalies: { spike: 3, level_shift: 2, broken_correlation: 2, frozen: 2 }, cleanPrefix: 300 });
  assert.equal(s.data.length, 1500 * 4);
  assert.equal(s.anomalies.length, 9);
  const lab = new Uint8Array(s.T);
  for (const a of s.anomalies) { lab.fill(1, a.start, a.end); assert.ok(a.start >= 300); }
  assert.deepEqual(Array.from(s.labels), Array.from(lab));
  for (let t = 0; t < s.T; t++) if (!lab[t]) for (let c = 0; c < s.C; c++) assert.equal(s.data[t * 4 + c], s.clean[t * 4 + c]);
  for (let i = 1; i < s.anomalies.length; i++) assert.ok(s.anomalies[i].start >= s.anomalies[i - 1].end + 10, 'gap between windows');
  // Deterministic by seed.
  const again = generateSynthetic({ T: 1500, C: 4, seed: 3, anomalies: { spike: 3, level_shift: 2, broken_correlation: 2, frozen: 2 }, cleanPrefix: 300 });
  assert.deepEqual(again.anomalies, s.anomalies);
  assert.deepEqual(Array.from(again.data), Array.from(s.data));
  assert.notDeepEqual(Array.from(generateSynthetic({ T: 1500, C: 4, seed: 4 }).data.subarray(0, 8)), Array.from(s.data.subarray(0, 8)));
});

test('each kind looks like what it claims to be', () => {
  const s = generateSynthetic({ T: 3000, C: 3, seed: 11, anomalies: { spike: 2, level_shift: 2, broken_correlation: 2, frozen: 2 }, minLength: 40, maxLength: 60 });
  const C = s.C;
  const col = (arr: Float32Array, c: number, a: number, b: number) => Array.from({ length: b - a }, (_, i) => arr[(a + i) * C + c]);
  const std = (v: number[]) => { const m = v.reduce((x, y) => x + y, 0) / v.length; return Math.sqrt(v.reduce((x, y) => x + (y - m) ** 2, 0) / v.length); };
  for (const a of s.anomalies) {
    const c = a.channels[0];
    const sd = std(col(s.clean, c, 0, s.T));
    const got = col(s.data, c, a.start, a.end), clean = col(s.clean, c, a.start, a.end);
    switch (a.kind) {
      case 'spike':
        assert.equal(a.end - a.start, 1);
        assert.ok(Math.abs(Math.abs(got[0] - clean[0]) - 6 * sd) < 1e-4 * sd + 1e-5);
        break;
      case 'level_shift': {
        const diffs = got.map((v, i) => v - clean[i]);
        assert.ok(diffs.every((d) => Math.abs(Math.abs(d) - 3 * sd) < 1e-4 * sd + 1e-5));
        break;
      }
      case 'frozen':
        assert.equal(std(got), 0);
        assert.ok(std(clean) > 0);
        break;
      case 'broken_correlation': {
        // The shared part is negated while the noise stays: with σ = 0.1 ≪ the shared swing,
        // the window is strongly anti-correlated with its clean version, and the identity
        // data + clean = 2·noise bounds their sum by a few σ.
        const r = corr(got, clean);
        assert.ok(r < -0.5, `corr(anomalous, clean) = ${r}`);
        assert.ok(got.every((v, i) => Math.abs(v + clean[i]) < 2 * 0.1 * 6));
        break;
      }
    }
  }
  assert.throws(() => generateSynthetic({ T: 100, C: 1, anomalies: { broken_correlation: 1 } }), /at least 2 channels/);
  assert.throws(() => generateSynthetic({ T: 60, C: 2, anomalies: { frozen: 5 } }), /cannot fit 5 anomalies/);
});
