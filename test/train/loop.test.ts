/**
 * The shared training loop: log windows that resume exactly, the interrupt protocol, progress
 * events whose rates count only this process's steps, and the learning-rate / non-finite checks.
 * The model is a 1-parameter least-squares problem, so every number is checkable by hand.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tensor } from '../../src/core/tensor.js';
import { mul, sub } from '../../src/core/ops/elementwise.js';
import { sum } from '../../src/core/ops/reduce.js';
import { Module } from '../../src/nn/module.js';
import { SGD } from '../../src/optim/sgd.js';
import { JsonlLog, resumeCheckpoint, runLoop, type LoopConfig } from '../../src/train/loop.js';
import type { TrainEvent } from '../../src/train/events.js';
import { Progress } from '../../src/cli/progress.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-loop-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

class Scalar extends Module {
  w = tensor([0], [1], true);
}

/** Step s fits w to target t_s = s mod 3: loss (w − t)², so w moves by −2·lr·(w − t). */
function config(model: Scalar, dir: string, extra: Partial<LoopConfig> = {}): LoopConfig {
  const optimizer = new SGD(model.parameters(), { lr: 0.1 });
  return {
    model, optimizer, steps: 12,
    forward: (s) => {
      const d = sub(model.w, tensor([s % 3], [1]));
      return { loss: sum(mul(d, d)), metrics: { target: s % 3 } };
    },
    lr: (s) => 0.1 / (1 + s),
    log: { sink: new JsonlLog(join(dir, 'metrics.jsonl')), every: 5, reduce: 'mean', line: (done, m, lr) => ({ step: done, ...m, lr }) },
    checkpoint: { dir: join(dir, 'ck'), due: (done) => done % 4 === 0, state: () => ({}) },
    ...extra,
  };
}

/** The plain recurrence the loop must reproduce. */
function reference(): number[] {
  let w = 0;
  const ws: number[] = [];
  for (let s = 0; s < 12; s++) {
    w = Math.fround(w - Math.fround(Math.fround(0.1 / (1 + s)) * Math.fround(2 * (w - (s % 3)))));
    ws.push(w);
  }
  return ws;
}

test('runLoop follows the SGD recurrence with the lr schedule; mean log lines cover their window', () => {
  const dir = join(tmp, 'plain');
  const m = new Scalar();
  const events: TrainEvent[] = [];
  const r = runLoop(config(m, dir, { onEvent: (e) => events.push(e) }));
  assert.equal(r.steps, 12);
  assert.ok(Math.abs(m.w.item() - reference()[11]!) < 1e-6, `w ${m.w.item()} vs ${reference()[11]}`);
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; target: number; lr: number });
  assert.deepEqual(lines.map((l) => l.step), [5, 10, 12]);
  // targets of steps 0..4 are 0,1,2,0,1 → mean 0.8; steps 5..9: 2,0,1,2,0 → 1; steps 10,11: 1,2 → 1.5
  assert.deepEqual(lines.map((l) => l.target), [0.8, 1, 1.5]);
  assert.ok(Math.abs(lines[2]!.lr - 0.1 / 12) < 1e-9);
  assert.deepEqual(events.filter((e) => e.type === 'checkpoint').map((e) => e.step), [4, 8, 12]);
  assert.equal(events[0]!.type, 'start');
  assert.equal(events.at(-1)!.type, 'end');
});

test('an interrupted run checkpoints at its step and resumes to the same weights and the same log', () => {
  const full = join(tmp, 'full');
  runLoop(config(new Scalar(), full));
  const part = join(tmp, 'part');
  const m1 = new Scalar();
  let n = 0;
  const r1 = runLoop(config(m1, part, { shouldStop: () => ++n === 7 }));
  assert.equal(r1.interrupted, true);
  assert.equal(r1.steps, 7);
  // Resume in a "new process": fresh model and optimiser restored from the step-7 checkpoint.
  const m2 = new Scalar();
  const c2 = config(m2, part);
  const resumed = resumeCheckpoint(join(part, 'ck'), m2, c2.optimizer);
  assert.equal(resumed?.step, 7);
  const events: TrainEvent[] = [];
  const r2 = runLoop({ ...c2, resumed, onEvent: (e) => events.push(e) });
  assert.equal(r2.resumedFrom, 7);
  assert.equal(r2.interrupted, false);
  assert.equal(m2.w.item(), reference()[11]!);
  // The window of steps 6–7 (before the interrupt) was saved, so the step-10 line is the same mean.
  assert.equal(readFileSync(join(part, 'metrics.jsonl'), 'utf8'), readFileSync(join(full, 'metrics.jsonl'), 'utf8'));
  const start = events[0]!;
  assert.ok(start.type === 'start' && start.step === 7 && start.steps === 12);
  const steps = events.filter((e) => e.type === 'step');
  assert.deepEqual(steps.map((e) => e.step), [8, 9, 10, 11, 12]);
  // Rates count the 5 steps run here, not the 12 of the whole run.
  const lastStep = steps.at(-1)!;
  assert.ok(lastStep.type === 'step' && Math.abs(lastStep.stepsPerSecond - 5 / lastStep.seconds) < 1e-6 * lastStep.stepsPerSecond);
});

test('a non-finite loss and a bad learning rate are errors naming the step', () => {
  const m = new Scalar();
  const c = config(m, join(tmp, 'bad'), { log: undefined, checkpoint: undefined });
  assert.throws(() => runLoop({ ...c, lr: (s) => (s === 3 ? NaN : 0.1) }), /learning-rate schedule gave NaN for step 3/);
  assert.throws(() => runLoop({ ...c, forward: () => ({ loss: tensor([Infinity], [1]) }) }), /loss became Infinity at step 0/);
});

test('the progress bar counts its rate from the resumed position', () => {
  const lines: string[] = [];
  const out = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
  const bar = new Progress(1000, 'tok', out, 900);
  bar.finish(1000);
  // 100 tokens done in this process (not 1000): the printed rate is ≤ 100 / elapsed, so the ETA is 0s.
  const m = /([\d.e+]+) tok\/s/.exec(lines[0]!);
  assert.ok(m, lines[0]);
  const resumedBar = Number(m[1]);
  const fresh: string[] = [];
  new Progress(1000, 'tok', { isTTY: false, write: (s: string) => fresh.push(s) } as unknown as NodeJS.WriteStream).finish(1000);
  const freshRate = Number(/([\d.e+]+) tok\/s/.exec(fresh[0]!)![1]);
  assert.ok(resumedBar < freshRate, `resumed rate ${resumedBar} should be about a tenth of ${freshRate}`);
});
