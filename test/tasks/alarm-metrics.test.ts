import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alarmMetrics, alarmSegments, predictAt, segmentsOf } from '../../src/tasks/alarm-metrics.js';

test('alarm metrics at the threshold, by hand (ties at the threshold are not flagged)', () => {
  const labels = [0, 1, 1, 0, 0, 1, 0, 0];
  const scores = [0.1, 0.9, 0.2, 0.5, 0.5, 0.1, 0.7, 0.5];
  assert.deepEqual([...predictAt(scores, 0.5)], [0, 1, 0, 0, 0, 0, 1, 0]);
  const m = alarmMetrics(labels, scores, 0.5);
  assert.deepEqual([m.tp, m.fp, m.fn, m.tn], [1, 1, 2, 4]);
  assert.equal(m.precision, 0.5);
  assert.equal(m.recall, 1 / 3);
  assert.ok(Math.abs(m.f1 - 0.4) < 1e-15);
  assert.equal(m.falseAlarmRate, 0.2);
  assert.equal(m.missedAlarmRate, 2 / 3);
  assert.deepEqual([m.events, m.eventsDetected, m.eventRecall], [2, 1, 0.5]);
  assert.deepEqual([m.alarms, m.alarmsTrue, m.eventPrecision], [2, 1, 0.5]);
  assert.deepEqual(alarmSegments(scores, 0.5), [{ start: 1, end: 1 }, { start: 6, end: 6 }]);
});

test('segments, NaN scores and empty cases', () => {
  assert.deepEqual(segmentsOf([1, 1, 0, 1]), [{ start: 0, end: 1 }, { start: 3, end: 3 }]);
  assert.deepEqual(segmentsOf([]), []);
  const m = alarmMetrics([0, 0, 0], [NaN, 5, 1], 2);
  assert.deepEqual([m.tp, m.fp, m.fn, m.tn], [0, 1, 0, 2]);
  assert.equal(m.precision, 0);
  assert.equal(m.recall, 0);
  assert.equal(m.f1, 0);
  assert.equal(m.missedAlarmRate, 0);
  assert.equal(m.eventRecall, 0);
  assert.equal(m.eventPrecision, 0);
  assert.throws(() => alarmMetrics([0], [1, 2], 0));
});
