/**
 * Met²Net (Li, Yang, Chen & Qin 2025): multivariate forecasting with one encoder and one decoder per
 * variable into a shared latent space, a translator that moves the latents forward in time with
 * self-attention across variables, and the paper's implicit two-stage training.
 *
 * Shapes (C variables, windows of W steps, latent width d): a sample is a past window x [C, W] and
 * the next window y [C, W].
 *   E_c: R^W -> R^d (MLP, one per variable),  D_c: R^d -> R^W (MLP, one per variable)
 *   z = [E_1(x_1) … E_C(x_C)] + v [B, C, d]   (v: learned variable embeddings)
 *   T(z) = TransformerBlocks over the C variable tokens (self-attention fusion across variables) [B, C, d]
 *   ŷ_c = D_c(T(z)_c)
 *
 * Implicit two-stage training, both stages in every step, each with its own Adam:
 *   stage 1 (translator frozen; encoders/decoders learn a shared latent space):
 *     L₁ = ‖D(T(E(x))) − y‖² + ‖D(E(x)) − x‖² + ‖D(E(y)) − y‖²         (mean squares)
 *     update θ_E, θ_D only (gradients flow through the frozen T into E)
 *   stage 2 (encoders/decoders frozen; the translator learns the dynamics):
 *     L₂ = ‖T(E(x)) − E(y)‖² + ‖D(T(E(x))) − y‖²                          (E(x), E(y) as constants)
 *     update θ_T only
 * Baselines: one-stage training (one Adam on everything, L = prediction + both reconstructions)
 * and a plain linear forecaster ŷ = A·vec(x) + b over all variables' past window.
 *
 * The paper also applies momentum (EMA) updates to the frozen module at the end of each stage; its
 * description is too brief for us to reproduce, so it is not implemented (docs/METHODS.md).
 */
import { Generator } from '../core/random.js';
import { type Tensor, empty, fromBuffer, noGrad, scope, shapeStr } from '../core/tensor.js';
import { add } from '../core/ops/elementwise.js';
import { mseLoss } from '../core/ops/loss.js';
import { concat, reshape, slice } from '../core/ops/shape.js';
import { Module, param } from '../nn/module.js';
import { normal_ } from '../nn/init.js';
import { MLP, Linear } from '../nn/layers.js';
import { TransformerBlock } from '../nn/attention.js';
import { Adam, type Optimizer } from '../optim/index.js';
import { epochOrder, gatherBatch, type Dataset } from '../train/fit.js';
import { loadNabMultichannel } from '../data/nab.js';

export interface Met2NetConfig {
  variables: number;
  /** Window length W (past and future windows). */
  window: number;
  /** Latent width d (a multiple of heads). */
  latent: number;
  /** Hidden width of the per-variable encoder/decoder MLPs. */
  hidden: number;
  /** Translator TransformerBlocks (default 2). */
  translatorLayers?: number;
  heads?: number;
  seed?: number;
}

export class Met2Net extends Module {
  encoders: MLP[];
  decoders: MLP[];
  var_emb: Tensor;
  translator: TransformerBlock[];

  constructor(readonly config: Met2NetConfig) {
    super();
    const c = config;
    for (const [k, v] of [['variables', c.variables], ['window', c.window], ['latent', c.latent], ['hidden', c.hidden]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`Met2Net: ${k} must be a positive integer, got ${v}`);
    }
    const gen = new Generator(c.seed ?? 0);
    this.encoders = Array.from({ length: c.variables }, () => new MLP([c.window, c.hidden, c.latent], gen, { activation: 'gelu' }));
    this.decoders = Array.from({ length: c.variables }, () => new MLP([c.latent, c.hidden, c.window], gen, { activation: 'gelu' }));
    this.var_emb = param(normal_(empty([c.variables, c.latent]), gen, 0, 0.02));
    this.translator = Array.from({ length: c.translatorLayers ?? 2 }, () => new TransformerBlock(c.latent, c.heads ?? 2, gen, { mlpRatio: 2 }));
  }

  /** Encoder and decoder parameters (stage 1's). */
  codecParameters(): Tensor[] {
    return [...this.encoders, ...this.decoders].flatMap((m) => m.parameters());
  }

  /** Translator parameters (stage 2's): the variable embeddings and the attention blocks. */
  translatorParameters(): Tensor[] {
    return [this.var_emb, ...this.translator.flatMap((m) => m.parameters())];
  }

  /** Windows [B, C, W] -> latents [B, C, d], each variable through its own encoder. */
  encode(x: Tensor): Tensor {
    const c = this.config;
    if (x.rank !== 3 || x.shape[1] !== c.variables || x.shape[2] !== c.window) throw new Error(`Met2Net: windows must be [B, ${c.variables}, ${c.window}], got ${shapeStr(x.shape)}`);
    const B = x.shape[0]!;
    return concat(this.encoders.map((e, v) => reshape(e.forward(reshape(slice(x, 1, v, v + 1), [B, c.window])), [B, 1, c.latent])), 1);
  }

  /** Latents [B, C, d] -> windows [B, C, W], each variable through its own decoder. */
  decode(z: Tensor): Tensor {
    const c = this.config, B = z.shape[0]!;
    return concat(this.decoders.map((d, v) => reshape(d.forward(reshape(slice(z, 1, v, v + 1), [B, c.latent])), [B, 1, c.window])), 1);
  }

  /** Latents of the past window -> predicted latents of the next window [B, C, d]. */
  translate(z: Tensor): Tensor {
    let h = add(z, this.var_emb);
    for (const b of this.translator) h = b.forward(h);
    return h;
  }

  /** Past windows [B, C, W] -> forecast of the next windows [B, C, W]. */
  forward(x: Tensor): Tensor {
    return this.decode(this.translate(this.encode(x)));
  }

  /** L₁ (file comment): prediction through the translator + reconstruction of both windows. */
  stage1Loss(x: Tensor, y: Tensor): Tensor {
    const zx = this.encode(x);
    return add(add(mseLoss(this.decode(this.translate(zx)), y), mseLoss(this.decode(zx), x)), mseLoss(this.decode(this.encode(y)), y));
  }

  /** L₂ (file comment): latent prediction against the (constant) encoding of the next window + output prediction. */
  stage2Loss(x: Tensor, y: Tensor): Tensor {
    const zx = noGrad(() => this.encode(x)), zy = noGrad(() => this.encode(y));
    const zp = this.translate(zx);
    return add(mseLoss(zp, zy), mseLoss(this.decode(zp), y));
  }

  /** One-stage baseline loss: prediction + reconstructions, everything trained jointly. */
  jointLoss(x: Tensor, y: Tensor): Tensor {
    const zx = this.encode(x);
    return add(add(mseLoss(this.decode(this.translate(zx)), y), mseLoss(this.decode(zx), x)), mseLoss(this.decode(this.encode(y)), y));
  }
}

/** The plain sequence model: ŷ = A·vec(x) + b, [B, C, W] -> [B, C, W]. */
export class LinearForecaster extends Module {
  proj: Linear;
  constructor(readonly variables: number, readonly window: number, seed = 0) {
    super();
    this.proj = new Linear(variables * window, variables * window, new Generator(seed));
  }
  forward(x: Tensor): Tensor {
    const B = x.shape[0]!;
    return reshape(this.proj.forward(reshape(x, [B, this.variables * this.window])), [B, this.variables, this.window]);
  }
}

export type Met2NetTraining = 'two-stage' | 'one-stage';

/**
 * The two optimiser steps of one implicit two-stage training step (stage 1 then stage 2 on the
 * same batch), or the single joint step. Each stage zeroes all gradients first, so a stage's
 * frozen module receives no update from the other's leftovers.
 */
export class Met2NetTrainer {
  readonly codecOpt: Optimizer;
  readonly translatorOpt: Optimizer;
  readonly jointOpt: Optimizer;

  constructor(readonly model: Met2Net, lr: number) {
    this.codecOpt = new Adam(model.codecParameters(), { lr });
    this.translatorOpt = new Adam(model.translatorParameters(), { lr });
    this.jointOpt = new Adam(model.parameters(), { lr });
  }

  stage1(x: Tensor, y: Tensor): number {
    return scope(() => {
      this.model.zeroGrad();
      const l = this.model.stage1Loss(x, y);
      l.backward();
      this.codecOpt.step();
      return l.item();
    });
  }

  stage2(x: Tensor, y: Tensor): number {
    return scope(() => {
      this.model.zeroGrad();
      const l = this.model.stage2Loss(x, y);
      l.backward();
      this.translatorOpt.step();
      return l.item();
    });
  }

  joint(x: Tensor, y: Tensor): number {
    return scope(() => {
      this.model.zeroGrad();
      const l = this.model.jointLoss(x, y);
      l.backward();
      this.jointOpt.step();
      return l.item();
    });
  }
}

/** Splits a batch of samples [B, C, 2W] into past x and next y windows [B, C, W]. */
function splitWindows(s: Tensor, W: number): { x: Tensor; y: Tensor } {
  return { x: slice(s, 2, 0, W), y: slice(s, 2, W, 2 * W) };
}

export interface ForecastTrainOptions {
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
}

/** Trains Met²Net (two-stage or one-stage) on samples [n, C, 2W] (past ‖ next window). */
export function trainMet2Net(model: Met2Net, data: Dataset, mode: Met2NetTraining, o: ForecastTrainOptions): void {
  const trainer = new Met2NetTrainer(model, o.lr);
  forEachBatch(data, o, (s) => {
    const { x, y } = splitWindows(s, model.config.window);
    if (mode === 'two-stage') { trainer.stage1(x, y); trainer.stage2(x, y); } else trainer.joint(x, y);
  });
}

/** Trains the linear forecaster on the same samples with Adam (MSE). */
export function trainLinearForecaster(model: LinearForecaster, data: Dataset, o: ForecastTrainOptions): void {
  const opt = new Adam(model.parameters(), { lr: o.lr });
  forEachBatch(data, o, (s) => scope(() => {
    const { x, y } = splitWindows(s, model.window);
    model.zeroGrad();
    mseLoss(model.forward(x), y).backward();
    opt.step();
  }));
}

function forEachBatch(data: Dataset, o: ForecastTrainOptions, fn: (s: Tensor) => void): void {
  const bs = Math.min(o.batchSize, data.n), per = Math.floor(data.n / bs);
  let order = epochOrder(data.n, o.seed, 0);
  for (let s = 0; s < o.steps; s++) {
    const e = Math.floor(s / per), k = s % per;
    if (k === 0) order = epochOrder(data.n, o.seed, e);
    fn(gatherBatch(data, order.subarray(k * bs, (k + 1) * bs)).x);
  }
}

/** Mean squared error per variable of a forecaster on samples [n, C, 2W]. */
export function forecastMsePerVariable(f: { forward(x: Tensor): Tensor }, data: Dataset, C: number, W: number): number[] {
  const err = new Float64Array(C);
  noGrad(() => {
    for (let s = 0; s < data.n; s += 500) {
      const e = Math.min(data.n, s + 500);
      const { x, y } = splitWindows(fromBuffer(data.x.slice(s * C * 2 * W, e * C * 2 * W), [e - s, C, 2 * W]), W);
      const p = f.forward(x).data, t = y.data;
      for (let i = 0; i < p.length; i++) { const v = Math.floor(i / W) % C; err[v] += (p[i]! - t[i]!) ** 2; }
    }
  });
  return Array.from(err, (v) => v / (data.n * W));
}

// ---- data ------------------------------------------------------------------------------------------

/**
 * Coupled damped oscillators driven by noise, a seeded [T, C] series: a chain of C masses,
 *   a_i = −ω_i² x_i + κ (x_{i−1} − 2x_i + x_{i+1}) − γ v_i + σ ξ_i,   ω_i = 0.6 + 0.5 i / max(1, C − 1),
 * free ends, semi-implicit Euler with dt = 0.1, every second step observed, plus observation noise 0.05.
 */
export function coupledOscillators(T: number, C: number, seed: number, kappa = 0.4, gamma = 0.05, sigma = 0.3): Float64Array {
  const g = new Generator(seed), dt = 0.1, x = new Float64Array(C), v = new Float64Array(C), out = new Float64Array(T * C);
  const xi = new Float32Array(C);
  for (let i = 0; i < C; i++) x[i] = g.nextFloat64() * 2 - 1;
  for (let t = 0; t < 2 * T + 200; t++) {
    g.normal(xi);
    for (let i = 0; i < C; i++) {
      const w = 0.6 + (0.5 * i) / Math.max(1, C - 1);
      const left = i > 0 ? x[i - 1]! - x[i]! : 0, right = i < C - 1 ? x[i + 1]! - x[i]! : 0;
      v[i] += dt * (-w * w * x[i]! + kappa * (left + right) - gamma * v[i]! + (sigma * xi[i]!) / Math.sqrt(dt));
    }
    for (let i = 0; i < C; i++) x[i] += dt * v[i]!;
    const o = t - 200;
    if (o >= 0 && o % 2 === 0) for (let i = 0; i < C; i++) out[(o / 2) * C + i] = x[i]!;
  }
  const noise = g.normal(new Float32Array(out.length));
  for (let i = 0; i < out.length; i++) out[i] += 0.05 * noise[i]!;
  return out;
}

/**
 * Forecasting samples from a [T, C] series: standardised with the first `trainFraction`'s mean and
 * std per variable, then every window pair (past W ‖ next W) with stride `stride`, train from the
 * first part, test from the rest (no window crosses the split). Samples are [n, C, 2W].
 */
export function forecastWindows(series: Float64Array, T: number, C: number, W: number, stride: number, trainFraction = 0.7): { train: Dataset; test: Dataset } {
  if (series.length !== T * C) throw new Error(`forecastWindows: ${series.length} values are not [${T}, ${C}]`);
  const cut = Math.floor(T * trainFraction);
  if (cut < 2 * W || T - cut < 2 * W) throw new Error(`forecastWindows: ${T} steps are too few for windows of ${W} on both sides of the split at ${cut}`);
  const mu = new Float64Array(C), sd = new Float64Array(C);
  for (let t = 0; t < cut; t++) for (let c = 0; c < C; c++) mu[c] += series[t * C + c]! / cut;
  for (let t = 0; t < cut; t++) for (let c = 0; c < C; c++) sd[c] += (series[t * C + c]! - mu[c]!) ** 2 / cut;
  for (let c = 0; c < C; c++) sd[c] = Math.sqrt(sd[c]!) || 1;
  const make = (lo: number, hi: number): Dataset => {
    const starts: number[] = [];
    for (let s = lo; s + 2 * W <= hi; s += stride) starts.push(s);
    const x = new Float32Array(starts.length * C * 2 * W);
    starts.forEach((s, n) => {
      for (let c = 0; c < C; c++) for (let k = 0; k < 2 * W; k++) x[(n * C + c) * 2 * W + k] = (series[(s + k) * C + c]! - mu[c]!) / sd[c]!;
    });
    return { x, n: starts.length, sampleShape: [C, 2 * W] };
  };
  return { train: make(0, cut), test: make(cut, T) };
}

// ---- the comparison (`aelab experiment methods --only met2net`) ------------------------------------

export interface Met2NetComparisonOptions {
  /** Oscillator series length and variables. */
  oscSteps: number;
  oscVariables: number;
  window: number;
  latent: number;
  hidden: number;
  steps: number;
  batchSize: number;
  lr: number;
  /** NAB files joined on shared timestamps (paths under nabRoot). */
  nabRoot: string;
  nabFiles: string[];
  seed: number;
}

export const MET2NET_NAB_FILES = ['realTraffic/occupancy_6005.csv', 'realTraffic/speed_6005.csv', 'realTraffic/occupancy_t4013.csv', 'realTraffic/speed_t4013.csv'];

export const MET2NET_BUDGETS: Record<'tiny' | 'quick', Omit<Met2NetComparisonOptions, 'seed' | 'nabRoot'>> = {
  tiny: { oscSteps: 600, oscVariables: 4, window: 8, latent: 16, hidden: 32, steps: 30, batchSize: 32, lr: 3e-3, nabFiles: MET2NET_NAB_FILES },
  quick: { oscSteps: 6000, oscVariables: 4, window: 16, latent: 32, hidden: 64, steps: 1500, batchSize: 64, lr: 1e-3, nabFiles: MET2NET_NAB_FILES },
};

export interface ForecastResult {
  dataset: string;
  variables: string[];
  /** Test MSE per variable (standardised units). */
  twoStage: number[];
  oneStage: number[];
  linear: number[];
  /** Predicting the last observed value for the whole next window. */
  persistence: number[];
}

function persistenceMse(data: Dataset, C: number, W: number): number[] {
  const err = new Float64Array(C);
  for (let n = 0; n < data.n; n++) for (let c = 0; c < C; c++) {
    const row = (n * C + c) * 2 * W, last = data.x[row + W - 1]!;
    for (let k = 0; k < W; k++) err[c] += (data.x[row + W + k]! - last) ** 2;
  }
  return Array.from(err, (v) => v / (data.n * W));
}

/** Met²Net two-stage vs one-stage vs linear on one [T, C] series; test MSE per variable. */
export function compareForecasters(name: string, series: Float64Array, T: number, names: string[], o: Omit<Met2NetComparisonOptions, 'nabRoot' | 'nabFiles' | 'oscSteps' | 'oscVariables'>, stride = 1): ForecastResult {
  const C = names.length, W = o.window;
  const { train: tr, test: te } = forecastWindows(series, T, C, W, stride);
  const cfg: Met2NetConfig = { variables: C, window: W, latent: o.latent, hidden: o.hidden, seed: o.seed + 1 };
  const topts = { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed };
  const two = new Met2Net(cfg);
  trainMet2Net(two, tr, 'two-stage', topts);
  const one = new Met2Net(cfg);
  trainMet2Net(one, tr, 'one-stage', topts);
  const lin = new LinearForecaster(C, W, o.seed + 1);
  trainLinearForecaster(lin, tr, topts);
  return {
    dataset: name, variables: names,
    twoStage: forecastMsePerVariable(two, te, C, W), oneStage: forecastMsePerVariable(one, te, C, W), linear: forecastMsePerVariable(lin, te, C, W),
    persistence: persistenceMse(te, C, W),
  };
}

export function runMet2NetComparison(o: Met2NetComparisonOptions): ForecastResult[] {
  const osc = coupledOscillators(o.oscSteps, o.oscVariables, o.seed);
  const nab = loadNabMultichannel(o.nabRoot, o.nabFiles);
  const short = (f: string) => f.replace(/^.*\//, '').replace(/\.csv$/, '');
  return [
    compareForecasters('coupled oscillators', osc, o.oscSteps, Array.from({ length: o.oscVariables }, (_, i) => `x${i}`), o),
    compareForecasters('NAB realTraffic joined', nab.data, nab.T, o.nabFiles.map(short), o),
  ];
}

/** The `aelab experiment methods` row for Met²Net (structurally a MethodRow of src/tasks/experiments/methods.ts). */
export function met2netMethodRow(budget: 'tiny' | 'quick', seed: number, nabRoot: string) {
  const o = { ...MET2NET_BUDGETS[budget], nabRoot, seed };
  const rs = runMet2NetComparison(o);
  const avg = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const f = (v: number[]) => `${v.map((x) => x.toFixed(3)).join('/')} (mean ${avg(v).toFixed(3)})`;
  const numbers: Record<string, number> = {};
  for (const r of rs) {
    const k = r.dataset.startsWith('coupled') ? 'osc' : 'nab';
    for (const [m, v] of [['twoStage', r.twoStage], ['oneStage', r.oneStage], ['linear', r.linear], ['persistence', r.persistence]] as const) {
      numbers[`${k}_${m}_meanMse`] = avg(v);
      v.forEach((x, i) => { numbers[`${k}_${m}_mse_${r.variables[i]}`] = x; });
    }
  }
  // Held: two-stage has a lower mean test MSE than both baselines on both datasets.
  const held = rs.every((r) => avg(r.twoStage) < avg(r.oneStage) && avg(r.twoStage) < avg(r.linear));
  return {
    method: 'Met²Net',
    claim: `per-variable encoders/decoders + attention translator, implicit two-stage training (stage 1 translator frozen, stage 2 codecs frozen) beat one-stage training and a linear forecaster (test MSE per variable, ${o.window} → ${o.window} steps, ${o.steps} steps)`,
    baseline: rs.map((r) => `${r.dataset}: one-stage ${f(r.oneStage)}; linear ${f(r.linear)}; persistence ${f(r.persistence)}`).join(' | '),
    ours: rs.map((r) => `${r.dataset}: ${f(r.twoStage)}`).join(' | '),
    held,
    command: `aelab experiment methods --budget ${budget} --only met2net${seed !== 0 ? ` --seed ${seed}` : ''}`,
    numbers,
  };
}
