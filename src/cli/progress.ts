/**
 * A one-line progress bar for long runs: fraction done, rate, ETA and the latest metrics.
 * Redraws in place on a TTY (at most ~10 times a second); elsewhere prints a line every few seconds.
 */
export class Progress {
  private readonly start = Date.now();
  private lastDraw = 0;
  private readonly tty: boolean;

  constructor(private readonly total: number, private readonly unit = 'it', private readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = !!out.isTTY;
  }

  /** Reports `done` units of `total`, with metrics shown as `name value`. */
  update(done: number, metrics: Record<string, number | string> = {}, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < (this.tty ? 100 : 5000)) return;
    this.lastDraw = now;
    const secs = (now - this.start) / 1000;
    const rate = done / Math.max(secs, 1e-9);
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
