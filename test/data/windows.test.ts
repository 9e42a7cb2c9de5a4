import { test } from 'node:test';
import assert from 'node:assert/strict';
import { positionScoresToTimestamps, slidingWindows, windowLabels, windowScoresToTimestamps, windowStarts } from '../../src/data/windows.js';

test('window starts with stride, covering the tail by default', () => {
  assert.deepEqual(Array.from(windowStarts(10, 4, { stride: 3 })), [0, 3, 6]);
  assert.deepEqual(Array.from(windowStarts(11, 4, { stride: 3 })), [0, 3, 6, 7]);
  assert.deepEqual(Array.from(windowStarts(11, 4, { stride: 3, coverEnd: false })), [0, 3, 6]);
  assert.deepEqual(Array.from(windowStarts(5, 5)), [0]);
  assert.throws(() => windowStarts(5, 6), /window length 6 is longer than the series \(5 timestamps\)/);
  assert.throws(() => windowStarts(5, 2, { stride: 0 }), /stride/);
});

test('windows hold the right values: [nWin, window, C]', () => {
  const T = 9, C = 2;
  const X = new Float32Array(T * C).map((_, i) => i);
  const w = slidingWindows(X, T, C, 4, { stride: 2 });
  assert.equal(w.nWin, 4); // starts 0, 2, 4, and 5 for the tail
  assert.equal(w.data.length, 4 * 4 * 2);
  assert.ok(w.data instanceof Float32Array);
  for (let k = 0; k < w.nWin; k++) for (let p = 0; p < 4; p++) for (let c = 0; c < C; c++) {
    assert.equal(w.data[(k * 4 + p) * C + c], (w.starts[k] + p) * C + c);
  }
  assert.throws(() => slidingWindows(X, T, C, 10), /longer than the series/);
});

test('per-timestamp scores are the mean over covering windows (brute-force reference)', () => {
  const T = 13, L = 5;
  for (const stride of [1, 2, 3, 5]) {
    const starts = windowStarts(T, L, { stride });
    const scores = Array.from(starts, (s, k) => (k + 1) * 1.5 + s * s);
    const got = windowScoresToTimestamps(scores, starts, L, T);
    const pos = Array.from({ length: starts.length * L }, (_, i) => Math.sin(i));
    const gotPos = positionScoresToTimestamps(pos, starts, L, T);
    for (let t = 0; t < T; t++) {
      const cov: number[] = [];
      const covPos: number[] = [];
      starts.forEach((s, k) => { if (s <= t && t < s + L) { cov.push(scores[k]); covPos.push(pos[k * L + t - s]); } });
      assert.ok(cov.length > 0);
      assert.ok(Math.abs(got[t] - cov.reduce((a, b) => a + b) / cov.length) < 1e-9, `t=${t} stride=${stride}`);
      assert.ok(Math.abs(gotPos[t] - covPos.reduce((a, b) => a + b) / covPos.length) < 1e-12);
    }
  }
  const st = windowStarts(11, 4, { stride: 3, coverEnd: false });
  const s = windowScoresToTimestamps([1, 2, 3], st, 4, 11);
  assert.ok(Number.isNaN(s[10]) && s[9] === 3 && s[3] === 1.5);
  assert.deepEqual(Array.from(windowLabels([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], st, 4)), [1, 1, 0]);
});
