/**
 * Learning-rate schedules as pure functions of the optimiser step (counted from 0: the value at
 * step s is the learning rate used by the (s+1)-th update), plus an LRScheduler that applies one.
 *
 * With peak rate `lr` (default 1, so the functions double as multipliers), floor `minLr` (default 0):
 *   linearWarmup(s)  = lr · min(1, (s + 1) / warmup)
 *   cosineDecay(s)   = minLr + (lr − minLr) · ½ (1 + cos(π · min(s, total) / total))
 *   linearDecay(s)   = minLr + (lr − minLr) · (1 − min(s, total) / total)
 *   warmupCosine(s)  = linearWarmup(s) for s < warmup, then cosineDecay(s − warmup) over
 *                      total − warmup steps, reaching minLr at s = total and staying there.
 */
import type { Optimizer } from './optimizer.js';

export interface WarmupOptions { warmup: number; lr?: number }
export interface DecayOptions { total: number; lr?: number; minLr?: number }
export interface WarmupCosineOptions { warmup: number; total: number; lr?: number; minLr?: number }

function checkStep(name: string, step: number): void {
  if (!Number.isInteger(step) || step < 0) throw new Error(`${name}: step must be a non-negative integer, got ${step}`);
}

export function linearWarmup(step: number, o: WarmupOptions): number {
  checkStep('linearWarmup', step);
  const lr = o.lr ?? 1;
  if (o.warmup <= 0) return lr;
  return lr * Math.min(1, (step + 1) / o.warmup);
}

export function cosineDecay(step: number, o: DecayOptions): number {
  checkStep('cosineDecay', step);
  const lr = o.lr ?? 1, lo = o.minLr ?? 0;
  if (o.total <= 0) return lo;
  const t = Math.min(step, o.total) / o.total;
  return lo + (lr - lo) * 0.5 * (1 + Math.cos(Math.PI * t));
}

export function linearDecay(step: number, o: DecayOptions): number {
  checkStep('linearDecay', step);
  const lr = o.lr ?? 1, lo = o.minLr ?? 0;
  if (o.total <= 0) return lo;
  return lo + (lr - lo) * (1 - Math.min(step, o.total) / o.total);
}

export function warmupCosine(step: number, o: WarmupCosineOptions): number {
  checkStep('warmupCosine', step);
  if (o.total < o.warmup) throw new Error(`warmupCosine: total (${o.total}) must be >= warmup (${o.warmup})`);
  if (step < o.warmup) return linearWarmup(step, { warmup: o.warmup, lr: o.lr });
  return cosineDecay(step - o.warmup, { total: o.total - o.warmup, lr: o.lr, minLr: o.minLr });
}

export interface LRSchedulerOptions {
  /**
   * 'absolute' (default): every group's lr = fn(step). 'factor': each group's lr = its initial lr ·
   * fn(step), for groups with different base rates.
   */
  mode?: 'absolute' | 'factor';
}

/**
 * Drives an optimiser's learning rate from a schedule. The constructor sets the rate for step 0;
 * call `step()` after each `optimizer.step()` to move to the next one.
 *   const sched = new LRScheduler(opt, (s) => warmupCosine(s, { warmup: 100, total: 1000, lr: 3e-4 }));
 */
export class LRScheduler {
  private current = 0;
  private readonly baseLrs: number[];
  readonly mode: 'absolute' | 'factor';

  constructor(readonly optimizer: Optimizer, readonly fn: (step: number) => number, opts: LRSchedulerOptions = {}) {
    this.mode = opts.mode ?? 'absolute';
    this.baseLrs = optimizer.groups.map((g) => g.options.lr);
    this.apply();
  }

  /** The step whose rate is in effect now. */
  get stepCount(): number {
    return this.current;
  }

  /** Advances one step and sets the new rate; returns it (the first group's). */
  step(): number {
    this.current++;
    return this.apply();
  }

  private apply(): number {
    const v = this.fn(this.current);
    if (!Number.isFinite(v)) throw new Error(`LRScheduler: schedule returned ${v} at step ${this.current}`);
    this.optimizer.groups.forEach((g, i) => { g.options.lr = this.mode === 'factor' ? this.baseLrs[i]! * v : v; });
    return this.optimizer.lr;
  }

  stateDict(): { step: number; baseLrs: number[] } {
    return { step: this.current, baseLrs: [...this.baseLrs] };
  }

  loadStateDict(s: { step: number; baseLrs?: number[] }): void {
    this.current = s.step;
    if (s.baseLrs) s.baseLrs.forEach((v, i) => { if (i < this.baseLrs.length) this.baseLrs[i] = v; });
    this.apply();
  }
}
