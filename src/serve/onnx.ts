/**
 * ONNX export of saved SAEs, models and detectors: each builds a graph (opset 17, IR 8, dynamic
 * batch dimension `batch`) that computes what `aelab serve` computes for the same folder
 * (src/serve/inference.ts), so a file runs in onnxruntime (Node, web, Python) with the same outputs.
 *
 * Parts (one graph per file; `all` puts every x-input output in one graph):
 *   encode       SAE: x [B, d_in] → codes [B, d_sae] (dense; the SAE's own inference rule);
 *                AE / stacked / prototype: x → codes [B, code]; VAE: x → mu, logvar [B, latent]
 *   decode       codes [B, code] → x_hat (raw decoder output; an SAE's x̂ before any per-token
 *                de-normalisation, as the server's decode)
 *   reconstruct  x → x_hat (VAE: decoded from μ; σ(logits) for Bernoulli VAEs and 'bce' AEs)
 *   score        x → score [B] (models and SAEs: (1/D)·Σ_j (x_j − x̂_j)²; detectors: the
 *                decision function, with label [B] int32 = score > threshold)
 *   all          x → every output of encode, reconstruct and score (detectors: score, label)
 *
 * SAE encoders (pre = (x̃ − b_dec·[apply_b_dec_to_input]) W_encᵀ + b_enc, Gemm):
 *   relu      codes = Relu(pre)
 *   topk      TopK(pre, k) → values, indices; codes = ScatterElements(0, indices, Relu(values));
 *             with `sparse`, encode outputs values [B, k] and indices [B, k] (int64) instead, and
 *             reconstruct always decodes the k rows sparsely (Gather of W_dec rows, no dense product)
 *   jumprelu / batchtopk (inference threshold θ)  codes = Where(pre > θ ∧ pre > 0, pre, 0)
 *   gated     mag = exp(r_mag)·(pre − b_gate) + b_mag; codes = Where(pre > 0 ∧ mag > 0, mag, 0)
 * Per-token normalisation (layer_norm, constant_norm_rescale) runs in float64 as runSae does,
 * and reconstruct undoes it. Detectors standardise (and PCA projects) in float64, as aelab does.
 */
import { join } from 'node:path';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { DT, GraphBuilder, type IoSpec } from './onnx/graph.js';
import { classify } from './registry.js';
import { loadSaeFolder } from '../sae/convert.js';
import type { SaeWeights, TokenNormalization } from '../sae/interop.js';
import { loadModel, type AnyModel } from '../models/io.js';
import { Flatten, Unflatten } from '../models/autoencoder.js';
import { ActivationLayer, Conv2d, ConvTranspose2d, Linear, Sequential, type Activation } from '../nn/layers.js';
import type { Tensor } from '../core/index.js';
import { BaseDetector, PCADetector } from '../tasks/anomaly.js';
import { AEDetector, VAEDetector, loadDetector } from '../tasks/neural-detectors.js';
import { VERSION } from '../version.js';

export { OPSET } from './onnx/graph.js';

export type OnnxPart = 'encode' | 'decode' | 'reconstruct' | 'score' | 'all';
export const ONNX_PARTS: readonly OnnxPart[] = ['encode', 'decode', 'reconstruct', 'score', 'all'];

/** An export that cannot be made (unsupported kind or part): the message names the model and the choice. */
export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxExportError';
  }
}

export interface OnnxExport {
  /** The encoded ModelProto. */
  bytes: Uint8Array;
  kind: 'sae' | 'model' | 'detector';
  /** Architecture or model/detector type. */
  type: string;
  part: OnnxPart;
  inputs: IoSpec[];
  outputs: IoSpec[];
}

export interface OnnxExportOptions {
  /**
   * VAEDetector with `samples` > 0 scores with random codes, which a graph cannot repeat; with
   * `atMean` the graph computes the z = μ score (samples = 0) instead of refusing.
   */
  atMean?: boolean;
  /**
   * TopK SAEs: encode gives the k active latents per row as `values` [B, k] (float32, ReLU'd,
   * largest first) and `indices` [B, k] (int64) instead of dense `codes` [B, d_sae].
   */
  sparse?: boolean;
}

const B = 'batch';
const LOG_2PI = Math.log(2 * Math.PI);

function checkPart(part: OnnxPart, allowed: readonly OnnxPart[], what: string): void {
  if (!ONNX_PARTS.includes(part)) throw new OnnxExportError(`unknown part '${String(part)}' (parts: ${ONNX_PARTS.join(', ')})`);
  if (!allowed.includes(part)) throw new OnnxExportError(`${what} has no '${part}' graph (it has: ${allowed.join(', ')})`);
}

/** Row-wise mean over every non-batch axis of (a − b)²: [B, ...] → [B]. */
function rowMse(g: GraphBuilder, a: string, b: string, rank: number): string {
  const d = g.op('Sub', [a, b]);
  return g.op('ReduceMean', [g.op('Mul', [d, d])], { axes: Array.from({ length: rank - 1 }, (_, i) => i + 1), keepdims: 0 });
}

// ---- SAEs -----------------------------------------------------------------------------------------

/** ONNX graph of an SAE (see the file comment). */
export function saeToOnnx(w: SaeWeights, part: OnnxPart = 'all', opts: OnnxExportOptions = {}): OnnxExport {
  checkPart(part, ONNX_PARTS, `an SAE (${w.arch})`);
  if (opts.sparse && w.arch !== 'topk') throw new OnnxExportError(`sparse codes (values and indices) need a fixed-k SAE (topk); this SAE is ${w.arch}`);
  if (opts.sparse && part !== 'encode' && part !== 'all') throw new OnnxExportError(`sparse codes apply to the encode and all parts, not '${part}'`);
  const { dIn: d, dSae: H } = w;
  if (w.arch === 'gated' && (!w.r_mag || !w.b_mag)) throw new OnnxExportError('a gated SAE needs r_mag and b_mag');
  if ((w.arch === 'jumprelu' || w.arch === 'batchtopk') && !w.threshold) throw new OnnxExportError(`a ${w.arch} SAE needs its inference threshold`);
  const g = new GraphBuilder();
  const memo = new Map<string, string>();
  const c = (key: string, make: () => string) => memo.get(key) ?? (memo.set(key, make()), memo.get(key)!);
  const bDec = () => c('b_dec', () => g.f32(w.b_dec, [d], 'b_dec'));
  const Wdec = () => c('W_dec', () => g.f32(w.W_dec, [H, d], 'W_dec'));
  const decode = (codes: string) => g.op('Gemm', [codes, Wdec(), bDec()]);
  const tn = w.meta.inputNormalization as TokenNormalization | undefined;
  const tokenNorm = tn === 'layer_norm' || tn === 'constant_norm_rescale' ? tn : null;

  /** TopK: x̂ = Σ_j v_j W_dec[i_j] + b_dec from the k (value, index) pairs (Gather, no dense product). */
  const decodeSparse = (vals: string, idx: string) => {
    const rows = g.op('Gather', [Wdec(), idx], { axis: 0 }); // [B, k, d]
    const wsum = g.op('ReduceSum', [g.op('Mul', [rows, g.op('Unsqueeze', [vals, g.i64([2])])]), g.i64([1])], { keepdims: 0 });
    return g.op('Add', [wsum, bDec()]);
  };
  const encode = (x: string, needDense: boolean): { codes: string; sparse?: { values: string; indices: string }; denorm: (y: string) => string } => {
    let xs = x;
    let denorm = (y: string) => y;
    if (tokenNorm) {
      const xd = g.op('Cast', [x], { to: DT.DOUBLE });
      if (tokenNorm === 'layer_norm') {
        const m = g.op('ReduceMean', [xd], { axes: [1], keepdims: 1 });
        const cen = g.op('Sub', [xd, m]);
        const v = g.op('ReduceSum', [g.op('Mul', [cen, cen]), g.i64([1])], { keepdims: 1 });
        const sd = g.op('Sqrt', [g.op('Div', [v, g.f64([Math.max(1, d - 1)], [])])]);
        xs = g.op('Cast', [g.op('Div', [cen, g.op('Add', [sd, g.f64([1e-5], [])])])], { to: DT.FLOAT });
        denorm = (y) => g.op('Cast', [g.op('Add', [g.op('Mul', [g.op('Cast', [y], { to: DT.DOUBLE }), sd]), m])], { to: DT.FLOAT });
      } else {
        const n = g.op('ReduceSum', [g.op('Mul', [xd, xd]), g.i64([1])], { keepdims: 1 });
        const k = g.op('Div', [g.f64([Math.sqrt(d)], []), g.op('Sqrt', [n])]);
        xs = g.op('Cast', [g.op('Mul', [xd, k])], { to: DT.FLOAT });
        const inv = g.op('Div', [g.f64([1], []), k]);
        denorm = (y) => g.op('Cast', [g.op('Mul', [g.op('Cast', [y], { to: DT.DOUBLE }), inv])], { to: DT.FLOAT });
      }
    }
    if (w.applyBDecToInput) xs = g.op('Sub', [xs, bDec()]);
    const pre = g.op('Gemm', [xs, g.f32(w.W_enc, [H, d], 'W_enc'), g.f32(w.b_enc, [H], 'b_enc')], { transB: 1 });
    const zero = () => c('zero', () => g.f32([0], []));
    let codes = '';
    let sparse: { values: string; indices: string } | undefined;
    switch (w.arch) {
      case 'relu':
        codes = g.op('Relu', [pre]);
        break;
      case 'topk': {
        const k = Math.min(w.k ?? H, H);
        const [vals, idx] = g.node('TopK', [pre, g.i64([k])], { axis: 1, largest: 1, sorted: 1 }, 2) as [string, string];
        sparse = { values: g.op('Relu', [vals]), indices: idx };
        if (needDense) codes = g.op('ScatterElements', [g.op('ConstantOfShape', [g.op('Shape', [pre])], {}), idx, sparse.values], { axis: 1 });
        break;
      }
      case 'jumprelu':
      case 'batchtopk': {
        const on = g.op('And', [g.op('Greater', [pre, g.f32(w.threshold!, [H], 'threshold')]), g.op('Greater', [pre, zero()])]);
        codes = g.op('Where', [on, pre, zero()]);
        break;
      }
      case 'gated': {
        const scale = g.f32(Array.from(w.r_mag!, (r) => Math.exp(r)), [H], 'exp_r_mag');
        const mag = g.op('Add', [g.op('Mul', [g.op('Sub', [pre, g.f32(w.b_enc, [H], 'b_gate')]), scale]), g.f32(w.b_mag!, [H], 'b_mag')]);
        const on = g.op('And', [g.op('Greater', [pre, zero()]), g.op('Greater', [mag, zero()])]);
        codes = g.op('Where', [on, mag, zero()]);
        break;
      }
      default:
        throw new OnnxExportError(`SAE architecture '${String(w.arch)}' has no ONNX form (supported: relu, topk, batchtopk, jumprelu, gated)`);
    }
    return { codes, sparse, denorm };
  };

  const xIn: IoSpec = { name: 'x', shape: [B, d] };
  const outputs: IoSpec[] = [];
  if (part === 'decode') {
    g.output(decode('codes'), 'x_hat');
    outputs.push({ name: 'x_hat', shape: [B, d] });
  } else {
    const e = encode('x', (part === 'encode' || part === 'all') && !opts.sparse);
    if ((part === 'encode' || part === 'all') && opts.sparse) {
      const k = Math.min(w.k ?? H, H);
      g.output(e.sparse!.values, 'values');
      g.output(e.sparse!.indices, 'indices');
      outputs.push({ name: 'values', shape: [B, k] }, { name: 'indices', shape: [B, k], type: DT.INT64 });
    } else if (part === 'encode' || part === 'all') {
      g.output(e.codes, 'codes');
      outputs.push({ name: 'codes', shape: [B, H] });
    }
    if (part !== 'encode') {
      const xhat = e.denorm(e.sparse ? decodeSparse(e.sparse.values, e.sparse.indices) : decode(e.codes));
      if (part === 'reconstruct' || part === 'all') {
        g.output(xhat, 'x_hat');
        outputs.push({ name: 'x_hat', shape: [B, d] });
      }
      if (part === 'score' || part === 'all') {
        g.output(rowMse(g, 'x', xhat, 2), 'score');
        outputs.push({ name: 'score', shape: [B] });
      }
    }
  }
  const inputs = [part === 'decode' ? { name: 'codes', shape: [B, H] } : xIn];
  const meta = { aelab_version: VERSION, kind: 'sae', type: w.arch, part, codes: opts.sparse ? 'sparse' : 'dense', d_in: String(d), d_sae: String(H), ...(w.k ? { k: String(w.k) } : {}), ...(tokenNorm ? { input_normalization: tokenNorm } : {}) };
  const bytes = g.finish(`aelab-sae-${w.arch}-${part}`, inputs, outputs, meta, `aelab SAE (${w.arch}), part ${part}`);
  return { bytes, kind: 'sae', type: w.arch, part, inputs, outputs };
}

// ---- models ---------------------------------------------------------------------------------------

const f32 = (t: Tensor) => t.f32();

function activation(g: GraphBuilder, kind: Activation, x: string): string {
  switch (kind) {
    case 'relu': return g.op('Relu', [x]);
    case 'tanh': return g.op('Tanh', [x]);
    case 'sigmoid': return g.op('Sigmoid', [x]);
    case 'leakyRelu': return g.op('LeakyRelu', [x], { alpha: { float: 0.01 } });
    case 'identity': return x;
    case 'gelu': {
      // Exact GELU, x·Φ(x) = ½x(1 + erf(x/√2)) (opset 17 has no Gelu operator).
      const e = g.op('Erf', [g.op('Mul', [x, g.f32([Math.SQRT1_2], [])])]);
      return g.op('Mul', [g.op('Mul', [x, g.f32([0.5], [])]), g.op('Add', [e, g.f32([1], [])])]);
    }
    default: throw new OnnxExportError(`activation '${String(kind)}' has no ONNX form`);
  }
}

function linear(g: GraphBuilder, l: Linear, x: string): string {
  const ins = [x, g.f32(f32(l.weight), [...l.weight.shape])];
  if (l.bias) ins.push(g.f32(f32(l.bias), [...l.bias.shape]));
  return g.op('Gemm', ins, { transB: 1 });
}

function layer(g: GraphBuilder, l: unknown, x: string): string {
  if (l instanceof Linear) return linear(g, l, x);
  if (l instanceof ActivationLayer) return activation(g, l.kind, x);
  if (l instanceof Conv2d || l instanceof ConvTranspose2d) {
    const wShape = [...l.weight.shape];
    const ins = [x, g.f32(f32(l.weight), wShape)];
    if (l.bias) ins.push(g.f32(f32(l.bias), [...l.bias.shape]));
    const attrs: Record<string, number[]> = {
      kernel_shape: wShape.slice(2), strides: [...l.stride], dilations: [...l.dilation],
      pads: [l.padding[0], l.padding[1], l.padding[0], l.padding[1]],
    };
    if (l instanceof ConvTranspose2d) attrs.output_padding = [...l.outputPadding];
    return g.op(l instanceof Conv2d ? 'Conv' : 'ConvTranspose', ins, attrs);
  }
  if (l instanceof Flatten) return g.op('Flatten', [x], { axis: 1 });
  if (l instanceof Unflatten) return g.op('Reshape', [x, g.i64([-1, ...l.shape])]);
  if (l instanceof Sequential) return sequential(g, l, x);
  throw new OnnxExportError(`layer ${(l as object)?.constructor?.name ?? typeof l} has no ONNX form (supported: Linear, Conv2d, ConvTranspose2d, activations, Flatten, Unflatten)`);
}

function sequential(g: GraphBuilder, s: Sequential, x: string): string {
  for (const l of s.layers) x = layer(g, l, x);
  return x;
}

/** How a model maps to graphs: encoder (x → codes or μ/log σ²), decoder (codes → raw output), output map. */
interface ModelPlan {
  inputShape: number[];
  codeDim: number;
  encode(g: GraphBuilder, x: string): { codes: string; logvar?: string };
  decode(g: GraphBuilder, z: string): string;
  /** Raw decoder output → reconstruction in data space. */
  toData(g: GraphBuilder, y: string): string;
}

function modelPlan(model: AnyModel): ModelPlan {
  const m = model as unknown as { type: string; config: Record<string, unknown> };
  const type = m.type;
  const seqDecode = (dec: Sequential) => (g: GraphBuilder, z: string) => sequential(g, dec, z);
  const ident = (_g: GraphBuilder, y: string) => y;
  const sigm = (g: GraphBuilder, y: string) => g.op('Sigmoid', [y]);
  if (type === 'autoencoder' || type === 'denoising') {
    const ae = model as unknown as { encoder: Sequential; decoder: Sequential; codeDim: number; sampleShape: number[]; config: { loss?: string } };
    return {
      inputShape: ae.sampleShape, codeDim: ae.codeDim,
      encode: (g, x) => ({ codes: sequential(g, ae.encoder, x) }),
      decode: seqDecode(ae.decoder),
      toData: ae.config.loss === 'bce' ? sigm : ident,
    };
  }
  if (type === 'prototype') {
    const p = model as unknown as { encoder: Sequential; decoder: Sequential; prototypes: Tensor; config: { inChannels: number; height: number; width: number } };
    const c = p.config;
    return {
      inputShape: [c.inChannels, c.height, c.width], codeDim: p.prototypes.shape[1]!,
      encode: (g, x) => ({ codes: sequential(g, p.encoder, x) }),
      decode: seqDecode(p.decoder),
      toData: ident,
    };
  }
  if (type === 'stacked') {
    const s = model as unknown as { encoders: Linear[]; decoders: Linear[]; config: { sizes: number[]; activation?: Activation; codeActivation?: Activation; outputActivation?: Activation } };
    const c = s.config, L = s.encoders.length;
    return {
      inputShape: [c.sizes[0]!], codeDim: c.sizes[L]!,
      encode: (g, x) => {
        for (let i = 0; i < L; i++) x = activation(g, i === L - 1 ? c.codeActivation ?? 'identity' : c.activation ?? 'relu', linear(g, s.encoders[i]!, x));
        return { codes: x };
      },
      decode: (g, z) => {
        for (let i = L - 1; i >= 0; i--) z = activation(g, i === 0 ? c.outputActivation ?? 'identity' : c.activation ?? 'relu', linear(g, s.decoders[i]!, z));
        return z;
      },
      toData: ident,
    };
  }
  if (type === 'vae' || type === 'ardvae') {
    const v = model as unknown as { encoder: Sequential; fcMu: Linear; fcLogvar: Linear; decoder: Sequential; config: { inputDim: number; latentDim: number; decoder?: string } };
    return {
      inputShape: [v.config.inputDim], codeDim: v.config.latentDim,
      encode: (g, x) => {
        const h = sequential(g, v.encoder, x);
        return { codes: linear(g, v.fcMu, h), logvar: linear(g, v.fcLogvar, h) };
      },
      decode: seqDecode(v.decoder),
      toData: v.config.decoder === 'gaussian' ? ident : sigm,
    };
  }
  if (type === 'stackvaeg') throw new OnnxExportError("StackVAE-G models score windows of a series and have no ONNX export; export a PCA/AE/VAE detector instead");
  throw new OnnxExportError(`model type '${type}' has no ONNX export (supported: autoencoder, denoising, stacked, vae, ardvae, prototype)`);
}

/** ONNX graph of an aelab model (see the file comment). */
export function modelToOnnx(model: AnyModel, part: OnnxPart = 'all'): OnnxExport {
  const type = (model as unknown as { type: string }).type;
  const plan = modelPlan(model);
  checkPart(part, ONNX_PARTS, `a ${type} model`);
  const g = new GraphBuilder();
  const xShape = [B, ...plan.inputShape];
  const outputs: IoSpec[] = [];
  const isVae = type === 'vae' || type === 'ardvae';
  if (part === 'decode') {
    if (!Number.isInteger(plan.codeDim)) throw new OnnxExportError(`this ${type} model has no fixed code width to decode from`);
    g.output(plan.decode(g, 'codes'), 'x_hat');
    outputs.push({ name: 'x_hat', shape: xShape });
  } else {
    const e = plan.encode(g, 'x');
    if (part === 'encode' || part === 'all') {
      g.output(e.codes, isVae ? 'mu' : 'codes');
      outputs.push({ name: isVae ? 'mu' : 'codes', shape: [B, plan.codeDim] });
      if (e.logvar) {
        g.output(e.logvar, 'logvar');
        outputs.push({ name: 'logvar', shape: [B, plan.codeDim] });
      }
    }
    if (part !== 'encode') {
      const xhat = plan.toData(g, plan.decode(g, e.codes));
      if (part === 'reconstruct' || part === 'all') {
        g.output(xhat, 'x_hat');
        outputs.push({ name: 'x_hat', shape: xShape });
      }
      if (part === 'score' || part === 'all') {
        g.output(rowMse(g, 'x', xhat, xShape.length), 'score');
        outputs.push({ name: 'score', shape: [B] });
      }
    }
  }
  const inputs: IoSpec[] = [part === 'decode' ? { name: 'codes', shape: [B, plan.codeDim] } : { name: 'x', shape: xShape }];
  const bytes = g.finish(`aelab-${type}-${part}`, inputs, outputs, { aelab_version: VERSION, kind: 'model', type, part }, `aelab ${type} model, part ${part}`);
  return { bytes, kind: 'model', type, part, inputs, outputs };
}

// ---- detectors ------------------------------------------------------------------------------------

/** −log p(x | out) per row (float32) for a VAE decoder output: the VAE's logLikelihood, negated. */
function vaeNll(g: GraphBuilder, vae: { logSigma: Tensor | null; config: { decoder?: string; sigma?: number | string } }, x: string, out: string, d: number): string {
  const sum = (el: string) => g.op('ReduceSum', [el, g.i64([1])], { keepdims: 0 });
  if (vae.config.decoder !== 'gaussian') return sum(bce(g, out, x));
  const diff = g.op('Sub', [x, out]);
  const d2 = g.op('Mul', [diff, diff]);
  let el: string;
  if (vae.logSigma) {
    const ls = vae.logSigma.f32();
    // (log s + ½ log 2π) + ½ (x − m)² e^{−2 log s}, term by term in float32 as the VAE computes it.
    const a = g.f32(Array.from(ls, (v) => Math.fround(v + Math.fround(0.5 * LOG_2PI))), [d]);
    const e = g.f32(Array.from(ls, (v) => Math.exp(Math.fround(v * -2))), [d]);
    el = g.op('Add', [a, g.op('Mul', [g.op('Mul', [d2, e]), g.f32([0.5], [])])]);
  } else {
    const s = typeof vae.config.sigma === 'number' ? vae.config.sigma : 1;
    el = g.op('Add', [g.op('Mul', [d2, g.f32([0.5 / (s * s)], [])]), g.f32([0.5 * LOG_2PI + Math.log(s)], [])]);
  }
  return sum(el);
}

/** Elementwise BCE with logits: softplus(ℓ) − ℓ·t, softplus(ℓ) = max(ℓ, 0) + log(1 + e^{−|ℓ|}). */
function bce(g: GraphBuilder, logits: string, t: string): string {
  const sp = g.op('Add', [g.op('Relu', [logits]), g.op('Log', [g.op('Add', [g.op('Exp', [g.op('Neg', [g.op('Abs', [logits])])]), g.f32([1], [])])])]);
  return g.op('Sub', [sp, g.op('Mul', [logits, t])]);
}

/** ONNX graph of a fitted detector: score [B] (float32) and label [B] (int32, score > threshold). */
export function detectorToOnnx(det: BaseDetector, part: OnnxPart = 'score', opts: OnnxExportOptions = {}): OnnxExport {
  const type = det.constructor.name;
  const d = det.nFeatures;
  if (!d) throw new OnnxExportError(`this ${type} is not fitted`);
  if (!(det instanceof PCADetector || det instanceof AEDetector || det instanceof VAEDetector)) {
    throw new OnnxExportError(`${type} has no ONNX export (supported detectors: PCADetector, AEDetector, VAEDetector)`);
  }
  checkPart(part, ['score', 'all'], `a detector (${type})`);
  const g = new GraphBuilder();
  let z = g.op('Cast', ['x'], { to: DT.DOUBLE });
  if (det.scaler) {
    z = g.op('Div', [g.op('Sub', [z, g.f64(det.scaler.mean, [d])]), g.f64(det.scaler.std, [d])]);
  }
  let scoreD: string;
  if (det instanceof PCADetector) {
    const pca = det.pca!;
    const k = pca.nComponents;
    const W = pca.components; // [k, d]
    const Wt = new Float64Array(d * k);
    for (let j = 0; j < k; j++) for (let q = 0; q < d; q++) Wt[q * k + j] = W[j * d + q]!;
    const xc = g.op('Sub', [z, g.f64(pca.mean, [d])]);
    const rec = g.op('MatMul', [g.op('MatMul', [xc, g.f64(Wt, [d, k])]), g.f64(W, [k, d])]);
    const r = g.op('Sub', [xc, rec]);
    scoreD = g.op('ReduceSum', [g.op('Mul', [r, r]), g.i64([1])], { keepdims: 0 });
  } else if (det instanceof AEDetector) {
    const m = det.model!;
    const zf = g.op('Cast', [z], { to: DT.FLOAT });
    const out = sequential(g, m.decoder, sequential(g, m.encoder, zf));
    const el = m.config.loss === 'bce' ? bce(g, out, zf) : (() => { const e = g.op('Sub', [out, zf]); return g.op('Mul', [e, e]); })();
    scoreD = g.op('Cast', [g.op('ReduceMean', [el], { axes: [1], keepdims: 0 })], { to: DT.DOUBLE });
  } else {
    const samples = (det.options as { samples?: number }).samples ?? 10;
    if (samples > 0 && !opts.atMean) {
      throw new OnnxExportError(`this VAEDetector scores with ${samples} random codes per row (samples = ${samples}), which a graph cannot repeat; export the deterministic z = μ score (samples = 0) with --at-mean`);
    }
    const m = det.model!;
    const zf = g.op('Cast', [z], { to: DT.FLOAT });
    const mu = linear(g, m.fcMu, sequential(g, m.encoder, zf));
    const out = sequential(g, m.decoder, mu);
    scoreD = g.op('Cast', [vaeNll(g, m as never, zf, out, d)], { to: DT.DOUBLE });
  }
  g.op('Cast', [scoreD], { to: DT.FLOAT }, 'score');
  g.op('Cast', [g.op('Greater', [scoreD, g.f64([det.threshold], [])])], { to: DT.INT32 }, 'label');
  const inputs: IoSpec[] = [{ name: 'x', shape: [B, d] }];
  const outputs: IoSpec[] = [{ name: 'score', shape: [B] }, { name: 'label', shape: [B], type: DT.INT32 }];
  const meta = { aelab_version: VERSION, kind: 'detector', type, part, threshold: String(det.threshold), standardized: String(!!det.scaler) };
  const bytes = g.finish(`aelab-${type}`, inputs, outputs, meta, `aelab ${type}: anomaly score and label (score > ${det.threshold})`);
  return { bytes, kind: 'detector', type, part, inputs, outputs };
}

// ---- folders --------------------------------------------------------------------------------------

/** Sub-folders (one level down) of `dir` that hold an exportable SAE, model or detector. */
function exportableChildren(dir: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.filter((f) => {
    const p = join(dir, f);
    try {
      return statSync(p).isDirectory() && classify(p).some((k) => k !== 'run');
    } catch {
      return false;
    }
  });
}

/**
 * Exports the SAE, model or detector saved in `dir` (an SAE folder, an aelab model folder, a
 * detector folder). `part` defaults to 'all' (detectors: 'score').
 */
export function exportOnnxFolder(dir: string, part?: OnnxPart, opts: OnnxExportOptions = {}): OnnxExport {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new OnnxExportError(`${dir} is not a folder`);
  const kinds = classify(dir).filter((k) => k !== 'run');
  if (opts.sparse && !kinds.includes('sae')) throw new OnnxExportError('sparse codes are for TopK SAE folders only');
  if (kinds.includes('detector')) return detectorToOnnx(loadDetector(dir), part ?? 'score', opts);
  if (kinds.includes('sae')) return saeToOnnx(loadSaeFolder(dir), part ?? 'all', opts);
  if (kinds.includes('model')) return modelToOnnx(loadModel(dir), part ?? 'all');
  const sub = exportableChildren(dir);
  throw new OnnxExportError(
    `${dir} holds no SAE (cfg.json + sae_weights.safetensors or sae.safetensors), model (cfg.json + model.safetensors) or detector (detector.json)` +
      (sub.length ? `; sub-folders that do: ${sub.map((s) => join(dir, s)).join(', ')}` : ''),
  );
}
