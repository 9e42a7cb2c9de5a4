/**
 * Layer skipping on a frozen language model: LAC voids and FiRST routers, with random-layer
 * baselines, measured as quality against the fraction of layers skipped.
 *
 * LAC (layer activation change, "Void in language models"): for token t and block l,
 *   r[t, l] = ‖x_{l+1}[t] − x_l[t]‖₂ / ‖x_l[t]‖₂      (x_l = resid_pre of block l, x_{l+1} its resid_post)
 * A layer is void at a token when r < τ. Two rules use it:
 *   - 'lac-token': during the forward pass (and during generation, token by token) block l's change
 *     at token t is measured on its actual input (earlier skips included); when r[t, l] < τ the block's
 *     output at t is dropped (resid_post[t] = resid_pre[t]). This finds the voids exactly but computes
 *     the block to do so: it says which layers are dispensable, not how to save their compute.
 *   - 'lac-prefill': r averaged over the prompt's positions; block l is skipped for the whole
 *     continuation when that mean is below τ (decided once, before generation, like FiRST).
 * FiRST (Jain et al. 2024): a router per block, p_l(x) = σ(w_l · x/rms(x) + b_l), on the residual
 * stream entering the block. Training (model frozen; routers only): each sequence's gate is the mean
 * router probability over its prompt positions, ḡ_l = mean_{t<P} p_l(x_l[t]), and the block becomes
 * x_{l+1} = x_l + h_l·(block_l(x_l) − x_l) at every position, with h_l = 1[ḡ_l ≥ ½] in the forward pass and
 * ∂h/∂ḡ = 1 (straight-through; `straightThrough: false` uses h = ḡ); loss = CE + λ·mean_l ḡ_l. At inference the
 * prompt is run block by block, block l is skipped when ḡ_l < ½ (computed on the actual, already
 * skipped input), and that set of skipped blocks is kept for the prompt and every generated token.
 * Random baselines skip the same number of layers, chosen uniformly at random (seeded): per token
 * for 'lac-token' ('random-token'), per sequence for the prefill rules ('random-prefill').
 *
 * Quality on held-out windows of `context` tokens, the first `prompt` of which are the prompt:
 *   CE = mean −log p(token[t+1]) over t ∈ [prompt − 1, context − 1) (the continuation), perplexity e^CE;
 *   agreement = fraction of the `gen` greedy tokens after the prompt equal to the full model's, position
 *   by position; skipped = mean fraction of layers skipped over the continuation's tokens.
 * Nothing here prints; `onProgress` receives events.
 */
import { Tensor, fromBuffer, intTensor, noGrad, scope } from '../core/tensor.js';
import { add, mul, sigmoid, sub } from '../core/ops/elementwise.js';
import { linear } from '../core/ops/linalg.js';
import { mean, sum } from '../core/ops/reduce.js';
import { slice } from '../core/ops/shape.js';
import { rmsNorm } from '../nn/transformer-ops.js';
import { Adam } from '../optim/adam.js';
import { Generator } from '../core/random.js';
import { nextTokenLoss, type Transformer } from '../lm/transformer.js';
import type { HookMap } from '../lm/hooks.js';

export type SkipMethod = 'full' | 'lac-token' | 'random-token' | 'lac-prefill' | 'random-prefill' | 'first';

/** Relative residual change r[t, l] of every token and block: Float32Array [B·T, L] (row-major). */
export function layerChanges(model: Transformer, tokens: Int32Array, B: number, T: number): Float32Array {
  const L = model.cfg.nLayers;
  const out = new Float32Array(B * T * L);
  noGrad(() => scope(() => {
    const names = [];
    for (let l = 0; l < L; l++) names.push(`blocks.${l}.hook_resid_pre`, `blocks.${l}.hook_resid_post`);
    const { cache } = model.runWithCache(intTensor(tokens, [B, T]), names, { logits: false });
    for (let l = 0; l < L; l++) {
      const a = cache.get(`blocks.${l}.hook_resid_pre`)!.f32(), b = cache.get(`blocks.${l}.hook_resid_post`)!.f32();
      const D = a.length / (B * T);
      for (let r = 0; r < B * T; r++) out[r * L + l] = relChange(a, b, r * D, D);
    }
  }));
  return out;
}

function relChange(a: Float32Array, b: Float32Array, o: number, D: number): number {
  let d2 = 0, n2 = 0;
  for (let j = 0; j < D; j++) {
    const x = a[o + j]!, e = b[o + j]! - x;
    d2 += e * e;
    n2 += x * x;
  }
  return Math.sqrt(d2) / Math.max(Math.sqrt(n2), 1e-12);
}

/**
 * Hooks implementing the 'lac-token' rule with threshold tau: rows whose block changes the residual
 * by less than tau (relative) keep resid_pre. `skipped` [B·T·L] (when given) records the decisions.
 */
export function lacTokenHooks(L: number, tau: number, skipped?: Uint8Array): HookMap {
  const hooks: HookMap = {};
  let pre: Tensor | null = null;
  for (let l = 0; l < L; l++) {
    hooks[`blocks.${l}.hook_resid_pre`] = (x) => { pre = x; };
    hooks[`blocks.${l}.hook_resid_post`] = (x) => {
      const a = pre!.f32(), b = x.f32();
      const rows = pre!.shape[0]! * pre!.shape[1]!, D = a.length / rows;
      const out = new Float32Array(b);
      for (let r = 0; r < rows; r++) {
        if (relChange(a, b, r * D, D) < tau) {
          out.set(a.subarray(r * D, (r + 1) * D), r * D);
          if (skipped) skipped[r * L + l] = 1;
        }
      }
      return fromBuffer(out, x.shape);
    };
  }
  return hooks;
}

// ---- FiRST routers ----------------------------------------------------------------------------

/** One linear router per block on the rms-normalised residual: w [L, D], b [L]. */
export interface FirstRouters {
  w: Float32Array;
  b: Float32Array;
  L: number;
  D: number;
  lambda: number;
}

export interface FirstTrainOptions {
  /** Compute penalty λ (per mean gate). */
  lambda: number;
  /** Prompt length P: the gate of a sequence is the mean router probability over its first P positions. */
  prompt: number;
  steps?: number;
  /** Windows per step. */
  batch?: number;
  /** Adam learning rate (default 0.003). */
  lr?: number;
  seed?: number;
  /** Initial router bias (σ(3) ≈ 0.95: start with every layer on). */
  initBias?: number;
  /** Forward with the hard gate 1[ḡ ≥ ½] and a straight-through gradient (default true); false: the soft gate ḡ. */
  straightThrough?: boolean;
  onStep?: (e: { step: number; steps: number; ce: number; gates: number }) => void;
}

/** Per-sequence gates ḡ [B, 1, 1] of block l from its input x [B, T, D]: mean of σ(w·x/rms(x) + b) over t < P. */
function routerGate(x: Tensor, w: Tensor, b: Tensor, P: number): Tensor {
  const xp = P < x.shape[1]! ? slice(x, 1, 0, P) : x;
  const D = x.shape[2]!;
  const h = rmsNorm(xp, fromBuffer(new Float32Array(D).fill(1), [D]), 1e-6);
  return mean(sigmoid(linear(h, w, b)), 1, true);
}

/**
 * Trains FiRST routers on `windows` (each a row of `context` tokens in `tokens` [N·context]) with
 * the model frozen (its parameters get no gradient and are not changed).
 */
export function trainFirstRouters(model: Transformer, tokens: Int32Array, context: number, opts: FirstTrainOptions): FirstRouters {
  const { nLayers: L, dModel: D } = model.cfg;
  const N = tokens.length / context;
  const steps = opts.steps ?? 100, B = Math.min(opts.batch ?? 8, N), P = opts.prompt;
  if (!(P >= 1 && P < context)) throw new RangeError(`trainFirstRouters: prompt must be in [1, ${context - 1}], got ${P}`);
  const gen = new Generator(opts.seed ?? 0);
  const ws = Array.from({ length: L }, () => fromBuffer(new Float32Array(D), [1, D], true).keep());
  const bs = Array.from({ length: L }, () => fromBuffer(new Float32Array(1).fill(opts.initBias ?? 3), [1], true).keep());
  const opt = new Adam([...ws, ...bs], { lr: opts.lr ?? 0.003 });
  const params = model.parameters();
  const was = params.map((p) => p.requiresGrad);
  for (const p of params) p.requireGrad(false);
  try {
    for (let step = 0; step < steps; step++) {
      const batch = new Int32Array(B * context);
      const u = gen.uniform(new Float32Array(B));
      for (let i = 0; i < B; i++) batch.set(tokens.subarray(Math.min(N - 1, Math.floor(u[i]! * N)) * context, (Math.min(N - 1, Math.floor(u[i]! * N)) + 1) * context), i * context);
      scope(() => {
        const gates: Tensor[] = [], hard: Tensor[] = [];
        let pre: Tensor | null = null;
        const hooks: HookMap = {};
        for (let l = 0; l < L; l++) {
          hooks[`blocks.${l}.hook_resid_pre`] = (x) => {
            pre = x;
            gates[l] = routerGate(x, ws[l]!, bs[l]!, P);
            // Straight-through: the forward uses the hard decision 1[ḡ ≥ ½] (as at inference), the
            // gradient flows to ḡ as if it were used directly.
            const g = gates[l]!.f32();
            hard[l] = add(gates[l]!, fromBuffer(Float32Array.from(g, (v) => (v >= 0.5 ? 1 : 0) - v), gates[l]!.shape));
          };
          hooks[`blocks.${l}.hook_resid_post`] = (x) => add(pre!, mul(opts.straightThrough === false ? gates[l]! : hard[l]!, sub(x, pre!)));
        }
        opt.zeroGrad();
        const logits = model.forward(intTensor(batch, [B, context]), { hooks })!;
        const ce = nextTokenLoss(logits, batch);
        let g: Tensor = gates[0]!;
        for (let l = 1; l < L; l++) g = add(g, gates[l]!);
        const gMean = mul(sum(g), 1 / (B * L));
        const loss = add(ce, mul(gMean, opts.lambda));
        loss.backward();
        opt.step();
        opts.onStep?.({ step: step + 1, steps, ce: ce.item(), gates: gMean.item() });
      });
    }
  } finally {
    params.forEach((p, i) => p.requireGrad(was[i]));
  }
  const w = new Float32Array(L * D), b = new Float32Array(L);
  for (let l = 0; l < L; l++) { w.set(ws[l]!.f32(), l * D); b[l] = bs[l]!.f32()[0]!; }
  return { w, b, L, D, lambda: opts.lambda };
}

/** The blocks FiRST skips for a prompt (B = 1): run block by block, skip l when ḡ_l < threshold. */
export function firstDecision(model: Transformer, routers: FirstRouters, prompt: Int32Array, threshold = 0.5): boolean[] {
  const L = model.cfg.nLayers, D = model.cfg.dModel;
  const skip = new Array<boolean>(L).fill(false);
  noGrad(() => scope(() => {
    let pre: Tensor | null = null;
    const hooks: HookMap = {};
    for (let l = 0; l < L; l++) {
      hooks[`blocks.${l}.hook_resid_pre`] = (x) => {
        pre = x;
        const g = routerGate(x, fromBuffer(routers.w.slice(l * D, (l + 1) * D), [1, D]), fromBuffer(routers.b.slice(l, l + 1), [1]), prompt.length);
        skip[l] = g.f32()[0]! < threshold;
      };
      hooks[`blocks.${l}.hook_resid_post`] = (x) => (skip[l] ? pre! : x);
    }
    model.forward(intTensor(prompt, [1, prompt.length]), { hooks, stopAt: `blocks.${L - 1}.hook_resid_post` });
  }));
  return skip;
}

// ---- evaluation -------------------------------------------------------------------------------

/** How one method decides what to skip for a window (tokens [context]); see the file comment. */
export interface SkipRule {
  method: SkipMethod;
  /** LAC threshold τ (lac-*). */
  tau?: number;
  routers?: FirstRouters;
  /** For random-*: the number of layers to skip at each position [N·context] (random-token) or per window [N] (random-prefill). */
  counts?: ArrayLike<number>;
  /** For random-token in generation: layers to skip at each position of the generated sequences [windows·(prompt + gen − 1)]. */
  genCounts?: ArrayLike<number>;
  seed?: number;
}

export interface SkipEvalOptions {
  /** Windows [N·context]. */
  tokens: Int32Array;
  context: number;
  prompt: number;
  /** Greedy tokens generated after each prompt for the agreement measure (0: none). */
  gen: number;
  /** Windows used for the greedy agreement (the first ones; default all). */
  genWindows?: number;
}

export interface SkipPoint {
  method: SkipMethod;
  /** τ for LAC, λ for FiRST, or null. */
  param: number | null;
  /** Mean fraction of layers skipped over the continuation tokens (CE) … */
  skipped: number;
  /** … and over the generated tokens. */
  skippedGen: number;
  ce: number;
  ppl: number;
  /** Fraction of greedy tokens equal to the full model's (NaN when gen = 0). */
  agreement: number;
  /** Per layer: the fraction of continuation tokens at which it was skipped. */
  layerFraction: Float64Array;
  /** Layers skipped at each position of each window, [N·context] (for the random baselines). */
  tokenCounts: Int32Array;
  /** Layers skipped at each position of each generated sequence but the last, [windows·(prompt + gen − 1)]. */
  genCounts: Int32Array;
  windowCounts: Int32Array;
}

function logSoftmaxAt(row: Float32Array, o: number, V: number, target: number): number {
  let m = -Infinity;
  for (let v = 0; v < V; v++) m = Math.max(m, row[o + v]!);
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(row[o + v]! - m);
  return row[o + target]! - m - Math.log(s);
}

function argmaxAt(row: Float32Array, o: number, V: number): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (row[o + v]! > row[o + best]!) best = v;
  return best;
}

/** Distinct random layers: k of L (Fisher–Yates prefix), as a mask. */
function randomLayers(gen: Generator, L: number, k: number): Uint8Array {
  const idx = Array.from({ length: L }, (_, i) => i);
  const u = gen.uniform(new Float32Array(L));
  for (let i = 0; i < Math.min(k, L); i++) {
    const j = i + Math.min(L - 1 - i, Math.floor(u[i]! * (L - i)));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  const m = new Uint8Array(L);
  for (let i = 0; i < Math.min(k, L); i++) m[idx[i]!] = 1;
  return m;
}

/** Per-layer masks [T] from a per-position layer mask [T·L]. */
function layerMasks(posMask: Uint8Array, T: number, L: number): Uint8Array[] {
  return Array.from({ length: L }, (_, l) => {
    const m = new Uint8Array(T);
    for (let t = 0; t < T; t++) m[t] = posMask[t * L + l]!;
    return m;
  });
}

/**
 * Quality of one skip rule on held-out windows (see the file comment). `reference` holds the full
 * model's greedy continuations (from `greedyReference`) for the agreement.
 */
export function evaluateSkip(model: Transformer, rule: SkipRule, opts: SkipEvalOptions, reference: Int32Array[] | null): SkipPoint {
  const { context: T, prompt: P, tokens } = opts;
  const L = model.cfg.nLayers, V = model.cfg.vocabSize;
  const N = tokens.length / T, C = T - P;
  if (!(P >= 1 && P < T)) throw new RangeError(`evaluateSkip: prompt must be in [1, ${T - 1}], got ${P}`);
  const gen = new Generator(rule.seed ?? 1);
  const tokenCounts = new Int32Array(N * T), windowCounts = new Int32Array(N);
  let ceSum = 0, nTok = 0, skipSum = 0;
  const layerFraction = new Float64Array(L);
  noGrad(() => {
    for (let n = 0; n < N; n++) {
      const w = tokens.subarray(n * T, (n + 1) * T);
      const { logits, perPos } = scope(() => {
        const r = runRule(model, rule, w, P, n, gen);
        return { logits: r.logits.f32().slice(), perPos: r.perPos };
      });
      for (let t = P - 1; t < T - 1; t++) {
        ceSum -= logSoftmaxAt(logits, t * V, V, w[t + 1]!);
        nTok++;
      }
      for (let t = 0; t < T; t++) {
        let c = 0;
        for (let l = 0; l < L; l++) c += perPos[t * L + l]!;
        tokenCounts[n * T + t] = c;
        if (t >= P - 1 && t < T - 1) {
          skipSum += c / L;
          for (let l = 0; l < L; l++) layerFraction[l] += perPos[t * L + l]! / (N * C);
        }
      }
      let wc = 0;
      for (let l = 0; l < L; l++) wc += perPos[(T - 1) * L + l]!;
      windowCounts[n] = wc;
    }
  });
  const ce = ceSum / nTok;
  // Greedy agreement.
  const G = opts.gen;
  const nGen = reference ? Math.min(reference.length, opts.genWindows ?? N, N) : 0;
  const S = P + G - 1;
  const genCounts = new Int32Array(nGen * S);
  let agree = 0, genSkip = 0;
  if (G > 0 && reference) {
    const gen2 = new Generator((rule.seed ?? 1) + 7919);
    for (let n = 0; n < nGen; n++) {
      const prompt = tokens.slice(n * T, n * T + P);
      const { out, counts } = generateWithRule(model, rule, prompt, G, n, gen2);
      genCounts.set(counts, n * S);
      for (let i = 0; i < G; i++) {
        if (out[i] === reference[n]![i]) agree++;
        genSkip += counts[P - 1 + i]! / L;
      }
    }
  }
  return {
    method: rule.method, param: rule.method === 'first' ? rule.routers!.lambda : rule.tau ?? null,
    skipped: skipSum / (N * C), skippedGen: nGen > 0 ? genSkip / (nGen * G) : NaN, ce, ppl: Math.exp(ce),
    agreement: nGen > 0 ? agree / (nGen * G) : NaN, layerFraction, tokenCounts, genCounts, windowCounts,
  };
}

/** One window under a rule: logits [T, V] and the skip decisions per position [T·L]. */
function runRule(model: Transformer, rule: SkipRule, w: Int32Array, P: number, n: number, gen: Generator): { logits: Tensor; perPos: Uint8Array } {
  const L = model.cfg.nLayers, T = w.length;
  const perPos = new Uint8Array(T * L);
  const grid = intTensor(w, [1, T]);
  switch (rule.method) {
    case 'full':
      return { logits: model.forward(grid)!, perPos };
    case 'lac-token':
      return { logits: model.forward(grid, { hooks: lacTokenHooks(L, rule.tau!, perPos) })!, perPos };
    case 'random-token': {
      // Each position skips as many random layers as the rule it is matched to skipped there.
      for (let t = 0; t < T; t++) perPos.set(randomLayers(gen, L, rule.counts![n * T + t]!), t * L);
      return { logits: model.forward(grid, { skip: layerMasks(perPos, T, L) })!, perPos };
    }
    case 'lac-prefill':
    case 'random-prefill':
    case 'first': {
      const skip = prefillDecision(model, rule, w.subarray(0, P), n, gen);
      for (let t = 0; t < T; t++) for (let l = 0; l < L; l++) perPos[t * L + l] = skip[l] ? 1 : 0;
      return { logits: model.forward(grid, { skip })!, perPos };
    }
  }
}

function prefillDecision(model: Transformer, rule: SkipRule, prompt: Int32Array, n: number, gen: Generator): boolean[] {
  const L = model.cfg.nLayers;
  if (rule.method === 'first') return firstDecision(model, rule.routers!, prompt);
  if (rule.method === 'random-prefill') return Array.from(randomLayers(gen, L, rule.counts![n]!), (v) => v === 1);
  // lac-prefill: the full model's mean change over the prompt, block by block on the skipped input.
  const skip = new Array<boolean>(L).fill(false);
  scope(() => {
    let pre: Tensor | null = null;
    const hooks: HookMap = {};
    for (let l = 0; l < L; l++) {
      hooks[`blocks.${l}.hook_resid_pre`] = (x) => { pre = x; };
      hooks[`blocks.${l}.hook_resid_post`] = (x) => {
        const a = pre!.f32(), b = x.f32(), T = prompt.length, D = a.length / T;
        let s = 0;
        for (let t = 0; t < T; t++) s += relChange(a, b, t * D, D);
        skip[l] = s / T < rule.tau!;
        return skip[l] ? pre! : x;
      };
    }
    model.forward(intTensor(prompt, [1, prompt.length]), { hooks, stopAt: `blocks.${L - 1}.hook_resid_post` });
  });
  return skip;
}

/** The full model's greedy continuations of each window's prompt (for the agreement measure). */
export function greedyReference(model: Transformer, opts: SkipEvalOptions): Int32Array[] {
  const N = Math.min(opts.tokens.length / opts.context, opts.genWindows ?? Infinity);
  const out: Int32Array[] = [];
  for (let n = 0; n < N; n++) {
    const prompt = opts.tokens.slice(n * opts.context, n * opts.context + opts.prompt);
    out.push(Int32Array.from(model.generate(prompt, { maxNewTokens: opts.gen, stopAtEos: false })));
  }
  return out;
}

/**
 * Greedy continuation under a rule. Prefill rules decide once and decode with a KV cache and the
 * skip set; token rules recompute the growing sequence each step (the decisions of earlier tokens
 * are reproduced exactly, as they depend only on earlier tokens).
 */
function generateWithRule(model: Transformer, rule: SkipRule, prompt: Int32Array, G: number, n: number, gen: Generator): { out: number[]; counts: Int32Array } {
  const L = model.cfg.nLayers, V = model.cfg.vocabSize, P = prompt.length, S = P + G - 1;
  const out: number[] = [];
  const counts = new Int32Array(S);
  noGrad(() => {
    if (rule.method === 'full' || rule.method === 'lac-prefill' || rule.method === 'random-prefill' || rule.method === 'first') {
      const skip = rule.method === 'full' ? [] : scope(() => prefillDecision(model, rule, prompt, n, gen));
      counts.fill(skip.filter(Boolean).length);
      const cache = model.createCache(1, P + G);
      let next: Int32Array = prompt;
      for (let i = 0; i < G; i++) {
        const tok = scope(() => {
          const logits = model.forward(next, { cache, skip })!.f32();
          return argmaxAt(logits, (next.length - 1) * V, V);
        });
        out.push(tok);
        next = Int32Array.of(tok);
      }
      return;
    }
    // Token rules: positions' masks drawn once (random-token) or recomputed causally (lac-token).
    const fixed = new Uint8Array(S * L);
    if (rule.method === 'random-token') for (let t = 0; t < S; t++) fixed.set(randomLayers(gen, L, rule.genCounts![n * S + t]!), t * L);
    const seq = Array.from(prompt);
    for (let i = 0; i < G; i++) {
      const T = seq.length;
      const tok = scope(() => {
        const grid = intTensor(Int32Array.from(seq), [1, T]);
        let logits: Float32Array;
        if (rule.method === 'lac-token') {
          const perPos = new Uint8Array(T * L);
          logits = model.forward(grid, { hooks: lacTokenHooks(L, rule.tau!, perPos) })!.f32();
          for (let t = 0; t < T; t++) {
            let c = 0;
            for (let l = 0; l < L; l++) c += perPos[t * L + l]!;
            counts[t] = c;
          }
        } else {
          logits = model.forward(grid, { skip: layerMasks(fixed.subarray(0, T * L), T, L) })!.f32();
          for (let t = 0; t < T; t++) {
            let c = 0;
            for (let l = 0; l < L; l++) c += fixed[t * L + l]!;
            counts[t] = c;
          }
        }
        return argmaxAt(logits, (T - 1) * V, V);
      });
      out.push(tok);
      seq.push(tok);
    }
  });
  return { out, counts };
}

// ---- the whole comparison ---------------------------------------------------------------------

export interface LayerSkipStudyOptions extends SkipEvalOptions {
  /** LAC thresholds are these quantiles of r over the evaluation windows' continuation tokens. */
  quantiles?: readonly number[];
  /** FiRST: one router set per λ. */
  lambdas?: readonly number[];
  /** FiRST training windows [M·context] (separate from the evaluation windows). */
  trainTokens: Int32Array;
  firstSteps?: number;
  firstBatch?: number;
  firstLr?: number;
  seed?: number;
  onProgress?: (e: LayerSkipEvent) => void;
}

export type LayerSkipEvent =
  | { kind: 'point'; point: SkipPoint }
  | { kind: 'first-step'; lambda: number; step: number; steps: number; ce: number; gates: number };

export interface LayerSkipStudy {
  layers: number;
  /** Mean r per layer over the evaluation windows (all positions but BOS). */
  meanChange: Float64Array;
  /** r [N·T, L] of the evaluation windows. */
  changes: Float32Array;
  full: SkipPoint;
  points: SkipPoint[];
  routers: FirstRouters[];
}

/** Runs full, LAC (token and prefill), FiRST and the random baselines (see the file comment). */
export function layerSkipStudy(model: Transformer, opts: LayerSkipStudyOptions): LayerSkipStudy {
  const L = model.cfg.nLayers, T = opts.context, P = opts.prompt;
  const N = opts.tokens.length / T;
  const changes = layerChanges(model, opts.tokens, N, T);
  const meanChange = new Float64Array(L);
  for (let r = 0; r < N * T; r++) if (r % T !== 0) for (let l = 0; l < L; l++) meanChange[l] += changes[r * L + l]! / (N * (T - 1));
  const reference = opts.gen > 0 ? greedyReference(model, opts) : null;
  const emit = (p: SkipPoint) => { opts.onProgress?.({ kind: 'point', point: p }); return p; };
  const full = emit(evaluateSkip(model, { method: 'full' }, opts, reference));
  const points: SkipPoint[] = [];
  const seed = opts.seed ?? 0;
  // LAC thresholds from quantiles of r over continuation tokens.
  const cont: number[] = [];
  for (let n = 0; n < N; n++) for (let t = P; t < T; t++) for (let l = 0; l < L; l++) cont.push(changes[(n * T + t) * L + l]!);
  cont.sort((a, b) => a - b);
  for (const q of opts.quantiles ?? [0.1, 0.2, 0.3, 0.4, 0.5]) {
    const tau = cont[Math.min(cont.length - 1, Math.floor(q * cont.length))]!;
    const lac = emit(evaluateSkip(model, { method: 'lac-token', tau }, opts, reference));
    points.push(lac);
    // Random: the same count per continuation token; in generation the counts of the LAC run.
    const rnd = evaluateSkip(model, { method: 'random-token', counts: lac.tokenCounts, genCounts: lac.genCounts, seed: seed + 11 }, opts, reference);
    rnd.param = tau;
    points.push(emit(rnd));
  }
  // Prefill rules: LAC on the prompt's mean change, thresholds from the per-layer means.
  const pm: number[] = [];
  for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) {
    let s = 0;
    for (let t = 1; t < P; t++) s += changes[(n * T + t) * L + l]!;
    pm.push(s / Math.max(1, P - 1));
  }
  pm.sort((a, b) => a - b);
  const prefillPoint = (p: SkipPoint, tag: number | null) => {
    points.push(emit(p));
    const rnd = evaluateSkip(model, { method: 'random-prefill', counts: p.windowCounts, seed: seed + 17 }, opts, reference);
    rnd.param = tag;
    points.push(emit(rnd));
  };
  for (const q of opts.quantiles ?? [0.1, 0.2, 0.3, 0.4, 0.5]) {
    const tau = pm[Math.min(pm.length - 1, Math.floor(q * pm.length))]! * 1.0001;
    prefillPoint(evaluateSkip(model, { method: 'lac-prefill', tau }, opts, reference), tau);
  }
  const routers: FirstRouters[] = [];
  for (const lambda of opts.lambdas ?? [0.02, 0.1, 0.3, 1]) {
    const r = trainFirstRouters(model, opts.trainTokens, T, {
      lambda, prompt: P, steps: opts.firstSteps ?? 80, batch: opts.firstBatch ?? 16, lr: opts.firstLr, seed,
      onStep: (e) => opts.onProgress?.({ kind: 'first-step', lambda, ...e }),
    });
    routers.push(r);
    prefillPoint(evaluateSkip(model, { method: 'first', routers: r }, opts, reference), lambda);
  }
  return { layers: L, meanChange, changes, full, points, routers };
}
