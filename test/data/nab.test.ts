import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/version.js';
import { joinSeries, loadNabMultichannel, readNabLabels, readNabSeries, readNabWindows, windowsToIndexRanges, windowsToLabels } from '../../src/data/nab.js';

const NAB = join(packageRoot(), 'test', 'fixtures', 'nab');

/** Independent reading: the raw lines of a NAB CSV as [timestamp text, value]. */
function rawRows(rel: string): [string, number][] {
  return readFileSync(join(NAB, rel), 'utf8').trim().split('\n').slice(1).map((l) => { const [t, v] = l.split(','); return [t, Number(v)]; });
}

test('joins occupancy_6005 + speed_6005 on 2,380 shared timestamps and t4013 on 2,493', () => {
  const a = joinSeries([readNabSeries(join(NAB, 'realTraffic/occupancy_6005.csv')), readNabSeries(join(NAB, 'realTraffic/speed_6005.csv'))]);
  assert.equal(a.T, 2380);
  assert.equal(a.C, 2);
  assert.deepEqual(a.names, ['realTraffic/occupancy_6005.csv', 'realTraffic/speed_6005.csv']);
  const b = joinSeries([readNabSeries(join(NAB, 'realTraffic/occupancy_t4013.csv')), readNabSeries(join(NAB, 'realTraffic/speed_t4013.csv'))]);
  assert.equal(b.T, 2493);
  assert.deepEqual(b.duplicatesDropped, [1, 1]);
  for (let i = 1; i < b.T; i++) assert.ok(b.timestamps[i] > b.timestamps[i - 1]);
  // Spot-check values against the raw text: the joined row at each shared timestamp.
  const occ = new Map(rawRows('realTraffic/occupancy_6005.csv').map(([t, v]) => [t, v]));
  const spd = rawRows('realTraffic/speed_6005.csv');
  const firstShared = spd.find(([t]) => occ.has(t))!;
  assert.equal(a.data[0], occ.get(firstShared[0]));
  assert.equal(a.data[1], firstShared[1]);
  assert.equal(new Date(a.timestamps[0]).toISOString().slice(0, 19).replace('T', ' '), firstShared[0]);
});

test('windows and labels read from the NAB JSON files', () => {
  const w = readNabWindows(join(NAB, 'combined_windows.json'));
  const occ = w.get('realTraffic/occupancy_6005.csv')!;
  assert.deepEqual(occ, [{ start: Date.UTC(2015, 8, 14, 17, 45), end: Date.UTC(2015, 8, 15, 17, 24) }]);
  assert.equal(w.get('realTraffic/speed_t4013.csv')!.length, 2);
  const s = readNabSeries(join(NAB, 'realTraffic/occupancy_6005.csv'));
  const lab = windowsToLabels(s.timestamps, occ);
  // Reference: string comparison of the raw timestamps against the window ends.
  const expect = rawRows('realTraffic/occupancy_6005.csv').filter(([t]) => t >= '2015-09-14 17:45:00' && t <= '2015-09-15 17:24:00').length;
  assert.equal(expect, 239);
  assert.equal(lab.reduce((x, y) => x + y, 0), expect);
  const ranges = windowsToIndexRanges(s.timestamps, occ);
  assert.equal(ranges.length, 1);
  assert.equal(ranges[0].end - ranges[0].start, expect);
  const pts = readNabLabels(join(NAB, 'combined_labels.json'));
  assert.deepEqual(pts.get('artificialWithAnomaly/art_daily_jumpsup.csv'), [Date.UTC(2014, 3, 11, 9, 0)]);
});

test('multichannel loader: union of both channels\' windows', () => {
  const m = loadNabMultichannel(NAB, ['realTraffic/occupancy_t4013.csv', 'realTraffic/speed_t4013.csv']);
  assert.equal(m.T, 2493);
  assert.equal(m.windows.length, 4);
  const ref = m.timestamps.reduce((c, t) => c + (m.windows.some((w) => t >= w.start && t <= w.end) ? 1 : 0), 0);
  assert.equal(m.labels.reduce((a, b) => a + b, 0), ref);
  assert.ok(ref > 0 && ref < m.T);
  assert.throws(() => loadNabMultichannel(NAB, ['realTraffic/occupancy_t4013.csv'], join(NAB, 'missing.json')), /missing\.json: cannot read/);
});
