/**
 * Saved models as request handlers: each loaded folder becomes a `Servable` with up to four
 * operations on a batch of rows x [B, ...inputShape] (float32, row-major):
 *
 *   encode       SAE: codes f(x) [B, d_sae] (the SAE's own inference rule, normalisation folded)
 *                AE / stacked AE: codes [B, code]; VAE: the posterior mean μ [B, latent] (and
 *                log σ² as `logvar`)
 *   decode       codes → x̂ [B, ...inputShape]
 *   reconstruct  x → x̂
 *   score        per-row anomaly score: a detector's decision function (with its labels at the
 *                detector's threshold), or for models the mean squared reconstruction error
 *                (1/D)·Σ_j (x_j − x̂_j)²
 *
 * Everything runs without gradients in eval mode; shapes are checked first so a wrong request is
 * a 400 with the expected and received shapes, never an exception deep in a kernel.
 */
import { noGrad, scope, tensor, type Tensor } from '../core/index.js';
import { runSae } from '../sae/convert.js';
import { decodeSae } from '../sae/interop.js';
import type { SaeWeights } from '../sae/interop.js';
import type { AnyModel } from '../models/io.js';
import type { BaseDetector } from '../tasks/anomaly.js';
import type { ModelPreprocessing } from '../tasks/preprocess.js';

export type Operation = 'encode' | 'decode' | 'reconstruct' | 'score';
export const OPERATIONS: readonly Operation[] = ['encode', 'decode', 'reconstruct', 'score'];

/** A result tensor (row-major) and any named side outputs. */
export interface Output {
  data: Float32Array;
  shape: number[];
  /** SAE codes with a fixed count k per row (TopK): asked for sparse, they are sent without densifying. */
  sparse?: { k: number; indices: Int32Array; values: Float32Array };
  extra?: Record<string, { data: Float32Array | Int32Array; shape: number[] }>;
}

export interface Servable {
  kind: 'sae' | 'model' | 'detector';
  /** Architecture or model type (topk, vae, AEDetector …). */
  type: string;
  /** Shape of one input row for encode/reconstruct/score. */
  inputShape: number[];
  /** Width of one code row (decode's input), or null when the model has no decoder input. */
  codeDim: number | null;
  ops: Partial<Record<Operation, (x: Float32Array, rows: number) => Output>>;
  /** What is done to inputs before the model (and undone on outputs), when anything is. */
  preprocessing?: string;
}

/** A request the model cannot take (wrong shape, missing operation): becomes HTTP 400. */
export class RequestError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
    this.name = 'RequestError';
  }
}

const prod = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

/** An SAE folder's weights as a Servable. */
export function saeServable(w: SaeWeights): Servable {
  return {
    kind: 'sae', type: w.arch, inputShape: [w.dIn], codeDim: w.dSae,
    ops: {
      encode: (x, B) => {
        const r = runSae(w, x);
        if (r.codes instanceof Float32Array) return { data: r.codes, shape: [B, w.dSae] };
        const codes = r.codes;
        let dense: Float32Array | null = null;
        // Dense codes are built only when read (a sparse answer never needs the [B, d_sae] array).
        return {
          get data() {
            if (!dense) {
              dense = new Float32Array(B * w.dSae);
              const { k, indices, values } = codes;
              for (let b = 0; b < B; b++) for (let j = 0; j < k; j++) dense[b * w.dSae + indices[b * k + j]!] = values[b * k + j]!;
            }
            return dense;
          },
          shape: [B, w.dSae],
          sparse: codes,
        };
      },
      decode: (z, B) => ({ data: Float32Array.from(decodeSae(w, z)), shape: [B, w.dIn] }),
      reconstruct: (x, B) => ({ data: runSae(w, x).xhat, shape: [B, w.dIn] }),
      score: (x, B) => {
        const xhat = runSae(w, x).xhat;
        return { data: rowMse(x, xhat, B), shape: [B] };
      },
    },
  };
}

function rowMse(x: Float32Array, xhat: Float32Array, B: number): Float32Array {
  const D = x.length / B;
  const out = new Float32Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let j = 0; j < D; j++) {
      const e = x[b * D + j]! - xhat[b * D + j]!;
      s += e * e;
    }
    out[b] = s / D;
  }
  return out;
}

type Encoded = Tensor | { mu: Tensor; logvar: Tensor };
interface Codec {
  encode(x: Tensor): Encoded;
  decode(z: Tensor): Tensor;
  reconstruct?(x: Tensor): Tensor;
  sampleShape?: number[];
  codeDim?: number;
  latentDim?: number;
  type: string;
  config: Record<string, unknown>;
}

function inputShapeOf(m: Codec): number[] {
  if (Array.isArray(m.sampleShape)) return m.sampleShape;
  const c = m.config;
  if (typeof c.inputDim === 'number') return [c.inputDim];
  if (Array.isArray(c.sizes)) return [c.sizes[0] as number];
  throw new RequestError(`models of type '${m.type}' cannot be served (no fixed input shape)`, 501);
}

function codeDimOf(m: Codec): number | null {
  if (typeof m.codeDim === 'number') return m.codeDim;
  if (typeof m.latentDim === 'number') return m.latentDim;
  const c = m.config;
  if (typeof c.latentDim === 'number') return c.latentDim;
  if (Array.isArray(c.sizes)) return c.sizes[c.sizes.length - 1] as number;
  return null;
}

/** An aelab model folder's model as a Servable (AE, DAE, stacked AE, VAE, ARD-VAE, prototype network). */
export function modelServable(model: AnyModel): Servable {
  const m = model as unknown as Codec;
  if (m.type === 'stackvaeg') throw new RequestError("StackVAE-G models score windows of a series: serve the detector saved by 'aelab detect fit' instead", 501);
  const inputShape = inputShapeOf(m);
  const codeDim = codeDimOf(m);
  const run = <T>(fn: () => T) => scope(() => noGrad(fn));
  const encode = (x: Float32Array, B: number): Output =>
    run(() => {
      const e = m.encode(tensor(x, [B, ...inputShape]));
      if ('mu' in e) return { data: e.mu.f32().slice(), shape: [...e.mu.shape], extra: { logvar: { data: e.logvar.f32().slice(), shape: [...e.logvar.shape] } } };
      return { data: e.f32().slice(), shape: [...e.shape] };
    });
  const recon = (x: Float32Array, B: number): Float32Array =>
    run(() => {
      const xt = tensor(x, [B, ...inputShape]);
      if (m.reconstruct) return m.reconstruct(xt).f32().slice();
      const e = m.encode(xt);
      return m.decode('mu' in e ? e.mu : e).f32().slice();
    });
  return {
    kind: 'model', type: m.type, inputShape, codeDim,
    ops: {
      encode,
      decode: (z, B) => run(() => {
        const y = m.decode(tensor(z, [B, codeDim!]));
        return { data: y.f32().slice(), shape: [...y.shape] };
      }),
      reconstruct: (x, B) => ({ data: recon(x, B), shape: [B, ...inputShape] }),
      score: (x, B) => ({ data: rowMse(x, recon(x, B), B), shape: [B] }),
    },
  };
}

/** A saved detector as a Servable: score only (scores and labels at the saved threshold). */
export function detectorServable(det: BaseDetector, type: string): Servable {
  return {
    kind: 'detector', type, inputShape: [det.nFeatures], codeDim: null,
    ops: {
      score: (x, B) => {
        const s = det.decisionFunction(x, B);
        const labels = new Int32Array(B);
        for (let i = 0; i < B; i++) labels[i] = s[i]! > det.threshold ? 1 : 0;
        return { data: Float32Array.from(s), shape: [B], extra: { labels: { data: labels, shape: [B] } } };
      },
    },
  };
}

/**
 * Checks a batch against the operation's input width and returns its row count.
 * `shape` is the request's [B, ...] shape (JSON nesting or the X-Shape header).
 */
export function checkInput(s: Servable, op: Operation, shape: readonly number[], values: number, maxRows: number): number {
  const fn = s.ops[op];
  if (!fn) throw new RequestError(`this ${s.kind} (${s.type}) has no '${op}' operation; it has: ${Object.keys(s.ops).join(', ')}`, 404);
  const row = op === 'decode' ? (s.codeDim === null ? null : [s.codeDim]) : s.inputShape;
  if (!row) throw new RequestError(`this ${s.kind} has no code width to decode from`);
  const B = shape[0] ?? 0;
  const per = prod(shape.slice(1));
  if (shape.length < 2 || !Number.isInteger(B) || B < 1) throw new RequestError(`inputs must be a batch [B, ${row.join(', ')}] with B ≥ 1, got shape [${shape.join(', ')}]`);
  if (B > maxRows) throw new RequestError(`the batch has ${B} rows; at most ${maxRows} per request (split it, or start the server with a larger --max-rows)`, 413);
  if (per !== prod(row)) throw new RequestError(`'${op}' takes rows of shape [${row.join(', ')}] (${prod(row)} values), got [${shape.slice(1).join(', ')}]`);
  if (values !== B * per) throw new RequestError(`shape [${shape.join(', ')}] needs ${B * per} values, got ${values}`);
  return B;
}

/**
 * A model trained by `aelab train` on standardised columns (its folder's preprocess.json): inputs
 * are standardised with the training statistics, z_j = (x_j − μ_j)/σ_j, before encode, reconstruct
 * and score, and reconstructions and decodes are mapped back, x̂_j = ẑ_j·σ_j + μ_j, so clients send
 * and receive raw values as the CLI's `embed` does. Rows must have the model's width (the column
 * selection of a .npy run is not re-applied here: send the model's columns).
 */
export function withPreprocessing(s: Servable, pre: ModelPreprocessing): Servable {
  const { mean, std } = pre.scaler;
  const C = mean.length;
  const per = s.inputShape.reduce((p, d) => p * d, 1);
  if (per % C !== 0) throw new RequestError(`the model's preprocessing has ${C} columns, which do not divide its input width ${per}`, 500);
  const forward = (x: Float32Array) => x.map((v, i) => (v - mean[i % C]!) / std[i % C]!);
  const back = (o: Output): Output => ({ ...o, data: o.data.map((v, i) => v * std[i % C]! + mean[i % C]!) });
  const ops: Servable['ops'] = {};
  if (s.ops.encode) ops.encode = (x, B) => s.ops.encode!(forward(x), B);
  if (s.ops.score) ops.score = (x, B) => s.ops.score!(forward(x), B);
  if (s.ops.reconstruct) ops.reconstruct = (x, B) => back(s.ops.reconstruct!(forward(x), B));
  if (s.ops.decode) ops.decode = (z, B) => back(s.ops.decode!(z, B));
  return { ...s, ops, preprocessing: `standardised with ${pre.trainedOn ?? 'the training file'}'s column statistics (${C} columns)` };
}
