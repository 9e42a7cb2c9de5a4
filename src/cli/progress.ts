import type { TrainEvent, TrainEventHandler } from '../train/events.js';

/**
 * A one-line progress bar for long runs: fraction done, rate, ETA and the latest metrics.
 * Redraws in place on a TTY (at most ~10 times a second); elsewhere prints a line every few seconds.
 */
export class Progress {
  private readonly start = Date.now();
  private lastDraw = 0;
  private readonly tty: boolean;

  /**
   * `startAt` units were done before this process started (a resumed run): the rate and ETA count
   * only the units done here.
   */
  constructor(private readonly total: number, private readonly unit = 'it', private readonly out: NodeJS.WriteStream = process.stderr, private readonly startAt = 0) {
    this.tty = !!out.isTTY;
  }

  /** Reports `done` units of `total`, with metrics shown as `name value`. */
  update(done: number, metrics: Record<string, number | string> = {}, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < (this.tty ? 100 : 5000)) return;
    this.lastDraw = now;
    const secs = (now - this.start) / 1000;
    const rate = (done - this.startAt) / Math.max(secs, 1e-9);
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const m = Object.entries(metrics).map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`).join('  ');
    const line = `${bar} ${(frac * 100).toFixed(0).padStart(3)}%  ${fmt(rate)} ${this.unit}/s  ETA ${duration(eta)}  ${m}`;
    if (this.tty) this.out.write(`\r\x1b[2K${line}`);
    else this.out.write(line + '\n');
  }

  /** Final line (always printed). */
  finish(done: number, metrics: Record<string, number | string> = {}): void {
    this.update(done, metrics, true);
    if (this.tty) this.out.write('\n');
  }
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  if (a >= 100) return v.toFixed(0);
  return v.toPrecision(3);
}

export function duration(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Renders a training loop's events as a progress bar in the loop's units (e.g. tokens for SAEs).
 * `show` picks the metrics to print from a step's numbers (default: the loss). A new bar starts at
 * every 'start' event, so one handler can follow several consecutive runs.
 */
export function progressRenderer(o: { show?: (m: Record<string, number>) => Record<string, number | string>; out?: NodeJS.WriteStream } = {}): TrainEventHandler {
  let bar: Progress | null = null;
  let perStep = 1;
  let shown: Record<string, number | string> = {};
  const show = o.show ?? ((m: Record<string, number>) => ({ loss: m.loss! }));
  return (e: TrainEvent) => {
    if (e.type === 'start') {
      perStep = e.perStep;
      bar = new Progress(e.steps * perStep, e.unit, o.out ?? process.stderr, e.step * perStep);
    } else if (e.type === 'step') {
      shown = show(e.metrics);
      bar?.update(e.step * perStep, shown, e.step === e.steps);
    } else if (e.type === 'end') {
      bar?.finish(e.step * perStep, shown);
      bar = null;
    }
  };
}

/** The SAE trainer's bar: tokens, loss, L0, FVU of the batch and the dead-latent share. */
export function saeProgress(): TrainEventHandler {
  return progressRenderer({ show: (m) => ({ loss: m.loss!, L0: m.l0!, FVU: m.fvu!, dead: `${((m.deadFraction ?? 0) * 100).toFixed(1)}%` }) });
}
