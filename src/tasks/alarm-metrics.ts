/**
 * Metrics of the alarms actually raised at the applied threshold (predicted = score > threshold,
 * strictly, as everywhere in aelab's detection code). Unlike best F1 over all thresholds (an
 * oracle: the best threshold in hindsight), these are what a deployed detector delivers.
 *
 * Point level:  precision = TP/(TP+FP), recall = TP/(TP+FN), F1, false-alarm rate = FP/(FP+TN)
 * (fraction of normal timestamps flagged), missed-alarm rate = FN/(TP+FN) = 1 − recall. 0/0 is 0.
 * Event level:  alarm segments are maximal runs of predicted 1s; a labelled segment is detected
 * when at least one of its timestamps is flagged (event recall = detected / labelled segments);
 * an alarm segment is true when it overlaps a labelled segment (event precision = true / alarm
 * segments). Timestamps with a NaN score (e.g. before the first causal window) are never flagged.
 */

export interface Segment { start: number; end: number }

export interface AlarmMetrics {
  threshold: number;
  n: number;
  tp: number; fp: number; fn: number; tn: number;
  precision: number;
  recall: number;
  f1: number;
  falseAlarmRate: number;
  missedAlarmRate: number;
  /** Labelled anomaly segments and how many got ≥ 1 alarm. */
  events: number;
  eventsDetected: number;
  eventRecall: number;
  /** Alarm segments and how many overlap a labelled segment. */
  alarms: number;
  alarmsTrue: number;
  eventPrecision: number;
}

/** score > threshold as 0/1 (NaN → 0). */
export function predictAt(scores: ArrayLike<number>, threshold: number): Uint8Array {
  const out = new Uint8Array(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = scores[i]! > threshold ? 1 : 0;
  return out;
}

/** Maximal runs [start, end] (inclusive) of 1s. */
export function segmentsOf(flags: ArrayLike<number>): Segment[] {
  const out: Segment[] = [];
  for (let i = 0; i < flags.length; ) {
    if (flags[i] === 1) {
      let j = i;
      while (j + 1 < flags.length && flags[j + 1] === 1) j++;
      out.push({ start: i, end: j });
      i = j + 1;
    } else i++;
  }
  return out;
}

/** Alarm segments (inclusive index ranges) of scores > threshold. */
export function alarmSegments(scores: ArrayLike<number>, threshold: number): Segment[] {
  return segmentsOf(predictAt(scores, threshold));
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/** The metrics of the module comment for labels (0/1) and scores at `threshold`. */
export function alarmMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): AlarmMetrics {
  if (labels.length !== scores.length) throw new Error(`alarmMetrics: ${labels.length} labels for ${scores.length} scores`);
  const pred = predictAt(scores, threshold);
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i] === 1;
    if (l) { if (pred[i]) tp++; else fn++; } else if (pred[i]) fp++; else tn++;
  }
  const precision = ratio(tp, tp + fp), recall = ratio(tp, tp + fn);
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  const lab = Uint8Array.from({ length: labels.length }, (_, i) => (labels[i] === 1 ? 1 : 0));
  const ev = segmentsOf(lab);
  const al = segmentsOf(pred);
  const any = (a: Uint8Array, s: Segment) => { for (let i = s.start; i <= s.end; i++) if (a[i]) return true; return false; };
  const eventsDetected = ev.filter((s) => any(pred, s)).length;
  const alarmsTrue = al.filter((s) => any(lab, s)).length;
  return {
    threshold, n: labels.length, tp, fp, fn, tn, precision, recall, f1,
    falseAlarmRate: ratio(fp, fp + tn), missedAlarmRate: ratio(fn, tp + fn),
    events: ev.length, eventsDetected, eventRecall: ratio(eventsDetected, ev.length),
    alarms: al.length, alarmsTrue, eventPrecision: ratio(alarmsTrue, al.length),
  };
}
