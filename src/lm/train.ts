/**
 * Training aelab's transformer as a language model, on the shared training loop of
 * src/train/fit.ts (seeded data order, AdamW, clipping, JSONL metrics, atomic checkpoints and
 * bit-identical resume all come from there).
 *
 * Data layout ({@link tokenWindows}). Every document is tokenised and the documents are laid end
 * to end in one token stream, each document preceded by BOS and followed by EOS:
 *     BOS d₁ EOS BOS d₂ EOS …
 * When BOS and EOS are the same id (GPT-2's `<|endoftext|>`, the tokenizers `aelab lm tokenizer`
 * trains) the EOS of one document doubles as the BOS of the next, so the stream is
 *     E d₁ E d₂ E … E
 * (GPT-2's convention: the separator is the only document boundary); a tokenizer without BOS/EOS
 * ids just concatenates. The stream is cut into windows of context + 1 tokens starting every
 * `context` tokens, so consecutive windows share one token: the inputs of a window are its first
 * `context` tokens, the targets its last `context`, and every token of the stream after the first
 * is a target exactly once. Only the tail that does not fill a whole window (< context tokens) is
 * dropped. Windows ignore document boundaries (a window may span documents; attention is not
 * reset at BOS), as in GPT-2 and nanoGPT, and a generation prompt starts with BOS as a document does.
 *
 * Token ids travel through the loop's float32 `Dataset.x` (exact for ids < 2²⁴) and become int32
 * in {@link LmTrainModule.trainStep}.
 *
 * Optimisation (nanoGPT's recipe): AdamW β = (0.9, 0.95), ε = 1e-8, weight decay 0.1 on every
 * parameter with ≥ 2 dimensions (all matrices, the token and position embeddings included) and
 * none on the 1-D ones (biases, norm weights); the global gradient norm clipped to 1.0; learning
 * rate `lr` (3e-4) reached by a linear warm-up — lr·(s+1)/warmup for update s < warmup — then a
 * cosine decay to minLrRatio·lr (10 %) at the last step ({@link lmLearningRate}).
 *
 * Evaluation, every evalInterval steps, at the last step and (in a fresh run) before the first:
 * the mean next-token cross-entropy over a fixed set of validation windows (valWindows of them,
 * evenly spaced through the validation set) and over the same number of fixed training windows
 * (evenly spaced through the training set); perplexity = exp(loss). Because the sets are fixed,
 * the numbers are a pure function of the weights, so an interrupted and resumed run reports the
 * same values as an uninterrupted one, and a reference implementation can evaluate the very same
 * windows ({@link exportLmRun}). Evaluations go to the run folder's evals.jsonl (one JSON line each,
 * appended on resume) and onto the metrics.jsonl line of their step.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, intTensor, noGrad, scope, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { writeNpy } from '../core/io/npy.js';
import { writeSafetensors } from '../core/io/safetensors.js';
import { Module } from '../nn/module.js';
import { crossEntropyRows } from '../nn/transformer-ops.js';
import { warmupCosine } from '../optim/schedule.js';
import { epochOrder, train, type Batch, type Dataset, type Trainable, type TrainOptions } from '../train/fit.js';
import { latestCheckpoint } from '../train/checkpoint.js';
import { resolveTransformerConfig, type MlpKind, type PositionalKind, type TransformerConfig, type TransformerConfigInput } from './config.js';
import { Transformer } from './transformer.js';
import type { Tokenizer } from './tokenizer/types.js';
import type { TrainEvent } from '../train/events.js';

// ---------------------------------------------------------------------------------------------
// Data

/** n windows of context + 1 token ids, row-major. */
export interface TokenWindows {
  context: number;
  n: number;
  /** [n · (context + 1)] */
  ids: Int32Array;
  /** Length of the token stream the windows were cut from. */
  streamTokens: number;
  /** Tokens at the end of the stream that did not fill a window. */
  droppedTokens: number;
}

/** The token stream of documents: BOS d₁ EOS BOS d₂ EOS … (see the file comment for BOS = EOS). */
export function tokenStream(docs: readonly (string | { text: string })[], tokenizer: Pick<Tokenizer, 'encode' | 'bosId' | 'eosId'>): Int32Array {
  const bos = tokenizer.bosId, eos = tokenizer.eosId;
  const parts: Int32Array[] = [];
  let total = 0, last: number | null = null;
  const push = (a: Int32Array) => {
    if (a.length === 0) return;
    parts.push(a);
    total += a.length;
    last = a[a.length - 1]!;
  };
  for (const d of docs) {
    const text = typeof d === 'string' ? d : d.text;
    if (bos !== null && !(bos === eos && last === eos)) push(Int32Array.of(bos));
    push(tokenizer.encode(text));
    if (eos !== null) push(Int32Array.of(eos));
  }
  const out = new Int32Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Cuts a token stream into windows of context + 1 tokens starting every `context` tokens. */
export function windowsFromStream(stream: Int32Array, context: number): TokenWindows {
  if (!Number.isInteger(context) || context < 1) throw new Error(`tokenWindows: context must be a positive integer, got ${context}`);
  const n = stream.length > context ? Math.floor((stream.length - 1) / context) : 0;
  const W = context + 1;
  const ids = new Int32Array(n * W);
  for (let i = 0; i < n; i++) ids.set(stream.subarray(i * context, i * context + W), i * W);
  return { context, n, ids, streamTokens: stream.length, droppedTokens: stream.length - (n > 0 ? n * context + 1 : 0) };
}

/** Tokenises documents into one stream (BOS/EOS layout in the file comment) and cuts it into windows. */
export function tokenWindows(docs: readonly (string | { text: string })[], tokenizer: Pick<Tokenizer, 'encode' | 'bosId' | 'eosId'>, context: number): TokenWindows {
  return windowsFromStream(tokenStream(docs, tokenizer), context);
}

/** The windows as the loop's Dataset (ids as float32, sample shape [context + 1]). */
export function windowsDataset(w: TokenWindows): Dataset {
  for (let i = 0; i < w.ids.length; i++) if (w.ids[i]! >= 2 ** 24 || w.ids[i]! < 0) throw new Error(`tokenWindows: token id ${w.ids[i]} cannot travel exactly as float32`);
  return { x: Float32Array.from(w.ids), n: w.n, sampleShape: [w.context + 1] };
}

/** k rows evenly spaced through n (all of them when k >= n): floor(i·n/k). */
export function evenlySpaced(n: number, k: number): Int32Array {
  if (k >= n) return Int32Array.from({ length: n }, (_, i) => i);
  return Int32Array.from({ length: k }, (_, i) => Math.floor((i * n) / k));
}

function pickWindows(w: TokenWindows, rows: Int32Array): TokenWindows {
  const W = w.context + 1, ids = new Int32Array(rows.length * W);
  rows.forEach((r, i) => ids.set(w.ids.subarray(r * W, (r + 1) * W), i * W));
  return { context: w.context, n: rows.length, ids, streamTokens: w.streamTokens, droppedTokens: w.droppedTokens };
}

// ---------------------------------------------------------------------------------------------
// Config

export interface LmTrainConfig {
  /** The transformer (nCtx = context). */
  model: TransformerConfig;
  /** Tokens the model sees per window (inputs); windows hold context + 1 ids. */
  context: number;
  /** Windows per step. */
  batch: number;
  /** Optimiser steps. */
  steps: number;
  /** Target tokens trained on: steps · batch · context. */
  tokens: number;
  /** Peak learning rate. */
  lr: number;
  /** Final learning rate as a fraction of lr (cosine floor). */
  minLrRatio: number;
  /** Linear warm-up steps. */
  warmup: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** AdamW decoupled weight decay of the ≥ 2-D parameters. */
  weightDecay: number;
  /** Clip the global gradient norm to this (0 = no clipping). */
  clipNorm: number;
  /** Seed of the initialisation and the data order. */
  seed: number;
  /** Evaluate every this many steps (and at the last step). */
  evalInterval: number;
  /** Windows evaluated (validation; the same number of training windows). */
  valWindows: number;
  /** Checkpoint every this many steps (0: only at the end). */
  checkpointEvery: number;
  /** Log every this many steps (metrics.jsonl). */
  logEvery: number;
}

export interface LmModelOptions {
  vocabSize: number;
  layers?: number;
  dModel?: number;
  heads?: number;
  context?: number;
  mlp?: MlpKind;
  positional?: PositionalKind;
  bosId?: number | null;
  eosId?: number | null;
}

/**
 * The default model: GPT-2 family (pre-norm LayerNorm, biases, tied embeddings), GELU MLP of 4·D
 * and learned positions; 4 layers, D = 256, 8 heads, context 256. `mlp: 'swiglu'` uses a hidden
 * width of ⌈(8/3)·D / 8⌉·8 (about the GELU MLP's parameter count, as Llama); `positional: 'rotary'`
 * drops the position table for rotary embeddings (rotate_half layout, θ = 10000).
 */
export function lmModelConfig(o: LmModelOptions): TransformerConfig {
  const D = o.dModel ?? 256;
  const mlp = o.mlp ?? 'gelu';
  const input: TransformerConfigInput = {
    family: 'gpt2',
    vocabSize: o.vocabSize,
    dModel: D,
    nLayers: o.layers ?? 4,
    nHeads: o.heads ?? 8,
    nCtx: o.context ?? 256,
    mlp,
    dMlp: mlp === 'swiglu' ? Math.ceil((8 * D) / 3 / 8) * 8 : 4 * D,
    positional: o.positional ?? 'learned',
    bosId: o.bosId ?? null,
    eosId: o.eosId ?? null,
  };
  if (input.dModel % input.nHeads !== 0) throw new Error(`lm model: d_model ${D} is not a multiple of heads ${input.nHeads}`);
  return resolveTransformerConfig(input);
}

export type LmTrainConfigInput = Partial<Omit<LmTrainConfig, 'model' | 'tokens' | 'steps'>> & {
  model: TransformerConfig | TransformerConfigInput;
  /** Give tokens (rounded up to whole steps) or steps. */
  tokens?: number;
  steps?: number;
};

export const LM_TRAIN_DEFAULTS = {
  context: 256, batch: 16, lr: 3e-4, minLrRatio: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1,
  clipNorm: 1.0, seed: 0, evalInterval: 100, valWindows: 64, checkpointEvery: 100, logEvery: 10,
} as const;

/** Default warm-up: a tenth of the run, at most 100 steps. */
export function defaultWarmup(steps: number): number {
  return Math.min(100, Math.floor(steps / 10));
}

class LmConfigError extends Error {
  constructor(readonly field: string, message: string) {
    super(`lm train config: ${field}: ${message}`);
  }
}

/** Fills defaults, derives steps/tokens and checks every field (errors name the field). */
export function resolveLmTrainConfig(input: LmTrainConfigInput): LmTrainConfig {
  const d = LM_TRAIN_DEFAULTS;
  const context = input.context ?? input.model.nCtx ?? d.context;
  const model = resolveTransformerConfig({ ...input.model, nCtx: context });
  const int = (f: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new LmConfigError(f, `must be an integer >= ${min}, got ${v}`);
    return v;
  };
  const num = (f: string, v: number, ok: (v: number) => boolean, what: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new LmConfigError(f, `must be ${what}, got ${v}`);
    return v;
  };
  int('context', context, 1);
  const batch = int('batch', input.batch ?? d.batch, 1);
  let steps: number;
  if (input.steps !== undefined) steps = int('steps', input.steps, 1);
  else if (input.tokens !== undefined) steps = Math.ceil(num('tokens', input.tokens, (v) => v > 0, 'a positive number') / (batch * context));
  else throw new LmConfigError('tokens', 'give tokens or steps');
  const warmup = int('warmup', input.warmup ?? defaultWarmup(steps), 0);
  if (warmup > steps) throw new LmConfigError('warmup', `${warmup} is more than the ${steps} steps of the run`);
  return {
    model,
    context,
    batch,
    steps,
    tokens: steps * batch * context,
    lr: num('lr', input.lr ?? d.lr, (v) => v > 0, '> 0'),
    minLrRatio: num('minLrRatio', input.minLrRatio ?? d.minLrRatio, (v) => v >= 0 && v <= 1, 'in [0, 1]'),
    warmup,
    beta1: num('beta1', input.beta1 ?? d.beta1, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    beta2: num('beta2', input.beta2 ?? d.beta2, (v) => v >= 0 && v < 1, 'in [0, 1)'),
    eps: num('eps', input.eps ?? d.eps, (v) => v >= 0, '>= 0'),
    weightDecay: num('weightDecay', input.weightDecay ?? d.weightDecay, (v) => v >= 0, '>= 0'),
    clipNorm: num('clipNorm', input.clipNorm ?? d.clipNorm, (v) => v >= 0, '>= 0 (0 = no clipping)'),
    seed: int('seed', input.seed ?? d.seed, 0),
    evalInterval: int('evalInterval', input.evalInterval ?? d.evalInterval, 1),
    valWindows: int('valWindows', input.valWindows ?? d.valWindows, 1),
    checkpointEvery: int('checkpointEvery', input.checkpointEvery ?? d.checkpointEvery, 0),
    logEvery: int('logEvery', input.logEvery ?? d.logEvery, 1),
  };
}

/** Learning rate of update `step` (0-based): linear warm-up, then cosine to minLrRatio·lr at the last step. */
export function lmLearningRate(step: number, c: Pick<LmTrainConfig, 'lr' | 'minLrRatio' | 'warmup' | 'steps'>): number {
  return warmupCosine(step, { warmup: c.warmup, total: c.steps, lr: c.lr, minLr: c.lr * c.minLrRatio });
}

/** nanoGPT's weight-decay rule: decay the parameters with ≥ 2 dimensions, not biases or norm weights. */
export function lmDecays(p: Tensor): boolean {
  return p.rank >= 2;
}

// ---------------------------------------------------------------------------------------------
// Model and loss

/**
 * Mean cross-entropy of logits [B, T, V] against targets [B·T] (differentiable in the logits);
 * the fused `crossEntropyRows` kernel (no log-softmax materialised).
 */
export function lmCrossEntropy(logits: Tensor, targets: Int32Array): Tensor {
  const [B, T, V] = logits.shape as [number, number, number];
  if (logits.rank !== 3 || targets.length !== B * T) throw new Error(`lmCrossEntropy: ${targets.length} targets for logits ${shapeStr(logits.shape)}`);
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    if (!(t >= 0 && t < V)) throw new Error(`lmCrossEntropy: target ${t} at ${i} outside the vocabulary of ${V}`);
  }
  return crossEntropyRows(logits, targets);
}

/** Inputs [B, context] and targets [B·context] of B windows of context + 1 ids. */
export function splitWindows(ids: ArrayLike<number>, B: number, context: number): { inputs: Int32Array; targets: Int32Array } {
  const W = context + 1;
  const inputs = new Int32Array(B * context), targets = new Int32Array(B * context);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < context; t++) {
      inputs[b * context + t] = ids[b * W + t]!;
      targets[b * context + t] = ids[b * W + t + 1]!;
    }
  }
  return { inputs, targets };
}

/** The transformer wrapped for the shared loop (its parameters are named `lm.…` in checkpoints). */
export class LmTrainModule extends Module implements Trainable {
  lm: Transformer;
  constructor(lm: Transformer) {
    super();
    this.lm = lm;
  }
  trainStep(batch: Batch): { loss: Tensor } {
    const [B, W] = batch.x.shape as [number, number];
    const { inputs, targets } = splitWindows(batch.x.f32('lm trainStep'), B, W - 1);
    const logits = this.lm.forward(intTensor(inputs, [B, W - 1]))!;
    return { loss: lmCrossEntropy(logits, targets) };
  }
}

/** Mean next-token loss over windows (no grad), batch windows at a time. */
export function evaluateLm(model: Transformer, w: TokenWindows, batch: number): number {
  if (w.n === 0) return NaN;
  const W = w.context + 1;
  let sum = 0;
  noGrad(() => {
    for (let s = 0; s < w.n; s += batch) {
      const B = Math.min(batch, w.n - s);
      sum += scope(() => {
        const { inputs, targets } = splitWindows(w.ids.subarray(s * W, (s + B) * W), B, w.context);
        return lmCrossEntropy(model.forward(intTensor(inputs, [B, w.context]))!, targets).item() * B;
      });
    }
  });
  return sum / w.n;
}

// ---------------------------------------------------------------------------------------------
// Training

export interface LmEval {
  step: number;
  /** Target tokens trained on so far. */
  tokens: number;
  trainLoss: number;
  valLoss: number;
  valPpl: number;
}

/** The shared loop's events (start, step, checkpoint, end) plus the LM's own: its set-up and each evaluation. */
export type LmTrainEvent =
  | TrainEvent
  | { type: 'lm-start'; config: LmTrainConfig; parameters: number; trainWindows: number; valWindows: number; resuming: boolean }
  | ({ type: 'eval'; seconds: number } & LmEval);

export interface LmTrainOptions {
  train: TokenWindows;
  val: TokenWindows;
  /** Run folder: metrics.jsonl, checkpoints. */
  outDir?: string;
  /** Continue from outDir's newest checkpoint. */
  resume?: boolean;
  onEvent?: (e: LmTrainEvent) => void;
  /** Stop after this many total steps (an interrupted run). */
  stopAfterStep?: number;
  /**
   * Checked after each step; when it returns true the loop saves a checkpoint at that step and
   * returns with `interrupted: true` (complete false). Resuming from it is bit-identical.
   */
  shouldStop?: () => boolean;
}

export interface LmTrainResult {
  model: Transformer;
  config: LmTrainConfig;
  /** Steps done in total. */
  steps: number;
  /** True when all config.steps are done. */
  complete: boolean;
  resumedFrom: number;
  /** Evaluations made in this call. */
  evals: LmEval[];
  /** The last evaluation (at the final step when complete). */
  final: LmEval | null;
  lastLoss: number;
  /** Training throughput of this call: target tokens per second of training steps (evaluations excluded). */
  tokensPerSecond: number;
  seconds: number;
  /** True when shouldStop ended the run early. */
  interrupted?: boolean;
}

/** A freshly initialised model for a config (GPT-2 init from the seed). */
export function initLm(config: LmTrainConfig): Transformer {
  return new Transformer(config.model, new Generator(BigInt(config.seed >>> 0) + 0x1a1a1an));
}

function checkData(config: LmTrainConfig, o: Pick<LmTrainOptions, 'train' | 'val'>): void {
  for (const [what, w] of [['train', o.train], ['val', o.val]] as const) {
    if (w.context !== config.context) throw new Error(`trainLm: ${what} windows have context ${w.context}, the config ${config.context}`);
    for (let i = 0; i < w.ids.length; i++) {
      const t = w.ids[i]!;
      if (!(t >= 0 && t < config.model.vocabSize)) throw new Error(`trainLm: ${what} token id ${t} is outside the model's vocabulary of ${config.model.vocabSize}`);
    }
  }
  if (o.train.n < config.batch) throw new Error(`trainLm: ${o.train.n} training windows of ${config.context + 1} tokens are fewer than one batch of ${config.batch}; use more text, a smaller --batch or a smaller --context`);
  if (o.val.n < 1) throw new Error('trainLm: no validation windows (the validation text is shorter than one window); use more text, a larger validation fraction or a smaller --context');
}

/** The fixed evaluation sets: valWindows evenly spaced validation and training windows. */
export function evalSets(config: LmTrainConfig, train: TokenWindows, val: TokenWindows): { trainEval: TokenWindows; valEval: TokenWindows } {
  return {
    trainEval: pickWindows(train, evenlySpaced(train.n, config.valWindows)),
    valEval: pickWindows(val, evenlySpaced(val.n, config.valWindows)),
  };
}

/**
 * The training windows of step s (0-based), in batch order: the rows the shared loop draws
 * (epoch permutation keyed by (seed, epoch), floor(n / batch) batches per epoch).
 */
export function batchRows(config: Pick<LmTrainConfig, 'batch' | 'seed'>, n: number, step: number, cache?: { epoch: number; order: Int32Array | null }): Int32Array {
  const bs = Math.min(config.batch, n);
  const perEpoch = Math.max(1, Math.floor(n / bs));
  const epoch = Math.floor(step / perEpoch), pos = step % perEpoch;
  let order: Int32Array;
  if (cache && cache.epoch === epoch && cache.order) order = cache.order;
  else {
    order = epochOrder(n, config.seed, epoch);
    if (cache) { cache.epoch = epoch; cache.order = order; }
  }
  return order.subarray(pos * bs, pos * bs + bs);
}

/**
 * The shared loop's options for a config: steps, batch, AdamW (betas, eps, decay on ≥ 2-D
 * parameters only), the warm-up + cosine schedule, clipping, seed, checkpoint and log intervals.
 */
export function lmLoopOptions(config: LmTrainConfig): TrainOptions {
  return {
    steps: config.steps,
    batchSize: config.batch,
    optimizer: 'adamw',
    lr: config.lr,
    betas: [config.beta1, config.beta2],
    eps: config.eps,
    weightDecay: config.weightDecay,
    noDecay: (_name, p) => !lmDecays(p),
    lrSchedule: (s) => lmLearningRate(s, config),
    clipNorm: config.clipNorm > 0 ? config.clipNorm : undefined,
    seed: config.seed,
    checkpointEvery: config.checkpointEvery,
    logEvery: config.logEvery,
  };
}

/** Trains a language model on token windows with the shared loop (see the file comment). */
export function trainLm(config: LmTrainConfig, o: LmTrainOptions): LmTrainResult {
  checkData(config, o);
  const t0 = Date.now();
  const lm = initLm(config);
  const module = new LmTrainModule(lm);
  const { trainEval, valEval } = evalSets(config, o.train, o.val);
  const tokensPerStep = config.batch * config.context;
  const evals: LmEval[] = [];
  let evalMs = 0;
  const evaluate = (step: number): LmEval => {
    const e0 = Date.now();
    lm.eval();
    const valLoss = evaluateLm(lm, valEval, config.batch);
    const trainLoss = evaluateLm(lm, trainEval, config.batch);
    lm.train();
    const e: LmEval = { step, tokens: step * tokensPerStep, trainLoss, valLoss, valPpl: Math.exp(valLoss) };
    evalMs += Date.now() - e0;
    evals.push(e);
    if (o.outDir) appendFileSync(join(o.outDir, 'evals.jsonl'), JSON.stringify(e) + '\n');
    o.onEvent?.({ type: 'eval', seconds: (Date.now() - t0) / 1000, ...e });
    return e;
  };
  const resuming = !!o.resume && !!o.outDir && latestCheckpoint(o.outDir) !== null;
  o.onEvent?.({
    type: 'lm-start', config, parameters: lm.parameters().reduce((s, t) => s + t.size, 0),
    trainWindows: o.train.n, valWindows: o.val.n, resuming,
  });
  if (o.outDir) {
    mkdirSync(o.outDir, { recursive: true });
    const file = join(o.outDir, 'evals.jsonl');
    if (!resuming) writeFileSync(file, '');
    else if (existsSync(file)) {
      // Drop evaluations made after the checkpoint we resume from (they are made again).
      const at = (JSON.parse(readFileSync(join(latestCheckpoint(o.outDir)!, 'state.json'), 'utf8')) as { step: number }).step;
      const keep = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() && (JSON.parse(l) as LmEval).step <= at);
      writeFileSync(file, keep.map((l) => l + '\n').join(''));
    }
  }
  if (!resuming) evaluate(0);
  const loopStart = Date.now();
  const evalBefore = evalMs;
  const res = train(module, windowsDataset(o.train), {
    ...lmLoopOptions(config),
    runDir: o.outDir,
    resume: o.resume,
    onEvent: o.onEvent,
    stopAfterStep: o.stopAfterStep,
    shouldStop: o.shouldStop,
    extra: { lmTrainConfig: config },
    onStep: (step) => {
      if (step % config.evalInterval === 0 || step === config.steps) {
        const e = evaluate(step);
        return { trainLoss: e.trainLoss, valLoss: e.valLoss, valPpl: e.valPpl, tokens: e.tokens };
      }
      return undefined;
    },
  });
  const loopSeconds = (Date.now() - loopStart - (evalMs - evalBefore)) / 1000;
  // A resumed run that was already complete still reports its final evaluation.
  if (res.steps === config.steps && evals[evals.length - 1]?.step !== res.steps) evaluate(res.steps);
  const stepsHere = res.steps - res.resumedFrom;
  lm.eval();
  return {
    model: lm,
    config,
    steps: res.steps,
    complete: res.steps === config.steps,
    resumedFrom: res.resumedFrom,
    evals,
    final: evals.length ? evals[evals.length - 1]! : null,
    lastLoss: res.lastLoss,
    tokensPerSecond: loopSeconds > 0 ? (stepsHere * tokensPerStep) / loopSeconds : 0,
    seconds: (Date.now() - t0) / 1000,
    ...(res.interrupted ? { interrupted: true } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Export for an independent reference implementation

/**
 * Writes what a reference trainer needs to repeat a run exactly (scripts/reference/torch_lm_train.py):
 *   config.json              the LmTrainConfig
 *   train_batches.npy        int32 [steps, batch, context + 1]: the windows of every step, in order
 *   val_windows.npy          int32 [k, context + 1]: the validation windows evaluated
 *   train_eval_windows.npy   int32 [k, context + 1]: the training windows evaluated
 *   init.safetensors         the initial weights (F32, aelab names), for an optional same-init run
 */
export function exportLmRun(dir: string, config: LmTrainConfig, train: TokenWindows, val: TokenWindows): void {
  checkData(config, { train, val });
  mkdirSync(dir, { recursive: true });
  const W = config.context + 1, B = config.batch;
  const batches = new Int32Array(config.steps * B * W);
  const cache = { epoch: -1, order: null as Int32Array | null };
  for (let s = 0; s < config.steps; s++) {
    const rows = batchRows(config, train.n, s, cache);
    rows.forEach((r, i) => batches.set(train.ids.subarray(r * W, (r + 1) * W), (s * B + i) * W));
  }
  writeNpy(join(dir, 'train_batches.npy'), { dtype: 'int32', shape: [config.steps, B, W], data: batches });
  const { trainEval, valEval } = evalSets(config, train, val);
  writeNpy(join(dir, 'val_windows.npy'), { dtype: 'int32', shape: [valEval.n, W], data: valEval.ids });
  writeNpy(join(dir, 'train_eval_windows.npy'), { dtype: 'int32', shape: [trainEval.n, W], data: trainEval.ids });
  const lm = initLm(config);
  const tensors: Record<string, { dtype: 'float32'; shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of lm.namedParameters()) tensors[name] = { dtype: 'float32', shape: [...t.shape], data: t.f32() };
  writeSafetensors(join(dir, 'init.safetensors'), tensors, { format: 'pt' });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
}
