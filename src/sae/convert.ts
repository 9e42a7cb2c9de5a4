/**
 * Bridges between a trainable SAE module and interop's neutral `SaeWeights`, the "aelab" folder
 * format, and a fast array-level inference path used by evaluation and the dark-matter analysis.
 *
 * aelab folder = a SAELens folder (cfg.json + sae_weights.safetensors, readable by SAELens and by
 * `loadSae`) plus `aelab.json`, which keeps the full aelab SAE config (and anything the trainer
 * wants to remember, e.g. the training config and final metrics). Tools that do not know
 * aelab.json ignore it.
 *
 * Exporting never mutates the module: the constant-norm input scale s is folded into copies
 * (W_enc·s, W_dec/s, b_dec/s, as SparseAutoencoder.foldNormalisation does in place), so the saved
 * SAE applies to raw activations. Per-token layer norm cannot be folded; such an SAE is exported
 * with its weights as they are and `normalize_activations: 'layer_norm'` in cfg.json (SAELens's
 * name for the same preprocessing), and `runSae` applies the layer norm itself.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, fromBuffer, linear, noGrad, relu, scope, topk } from '../core/index.js';
import { FormatError, writeFileAtomic } from '../core/io/index.js';
import type { SparseAutoencoder } from './base.js';
import { SAE_ARCHITECTURES } from './config.js';
import { loadSae, saveSae, type SaeFormat, type SaeWeights, type SaveOptions } from './interop.js';

/** Formats `aelab convert` and the trainer can write. */
export type SaeFolderFormat = SaeFormat | 'aelab';
export const SAE_FOLDER_FORMATS: readonly SaeFolderFormat[] = ['aelab', 'saelens', 'sparsify'];

/** The module's weights in neutral form, with constant-norm folded in (the module is unchanged). */
export function saeToWeights(sae: SparseAutoencoder): SaeWeights {
  const c = sae.config;
  if (c.normalisation === 'none') return sae.exportWeights();
  // exportWeights refuses unfolded normalisation; build the same object from copies.
  const s = c.normalisation === 'constant-norm' ? sae.norm_scale.data[0]! : 1;
  const w: SaeWeights = {
    arch: c.architecture === 'standard' ? 'relu' : c.architecture === 'topk' ? 'topk' : c.architecture === 'jumprelu' ? 'jumprelu' : 'batchtopk',
    dIn: c.dIn,
    dSae: c.dSae,
    W_enc: Float32Array.from(sae.W_enc.f32(), (v) => v * s),
    b_enc: sae.b_enc.f32().slice(),
    W_dec: Float32Array.from(sae.W_dec.f32(), (v) => v / s),
    b_dec: Float32Array.from(sae.b_dec.f32(), (v) => v / s),
    applyBDecToInput: c.applyBDecToInput,
    meta: { aelab: { ...c, ...(c.normalisation === 'constant-norm' ? { normalisation: 'none', folded: true } : {}) } },
  };
  if ('k' in c) w.k = c.k;
  const th = sae.inferenceThreshold();
  if (th) w.threshold = th.slice();
  if (c.normalisation === 'layer-norm') {
    w.meta.inputNormalization = 'layer_norm';
    w.meta.saelens = { normalize_activations: 'layer_norm' };
  }
  return w;
}

/**
 * Writes an SAE folder. 'aelab' writes the SAELens layout plus aelab.json (`extra` is merged into
 * it); 'saelens' / 'sparsify' write exactly what those tools expect.
 */
export function saveSaeFolder(dir: string, w: SaeWeights, format: SaeFolderFormat, extra: Record<string, unknown> = {}, opts: SaveOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  if (format === 'sparsify') return saveSae(dir, w, 'sparsify', opts);
  saveSae(dir, w, 'saelens', opts);
  if (format === 'aelab') {
    const info = { format: 'aelab-sae', version: 1, arch: w.arch, k: w.k ?? null, config: w.meta.aelab ?? null, ...extra };
    writeFileAtomic(join(dir, 'aelab.json'), [new TextEncoder().encode(JSON.stringify(info, null, 2) + '\n')]);
  }
}

const AELAB_ARCHS = ['relu', 'topk', 'batchtopk', 'jumprelu'] as const;
const AELAB_ARCHITECTURES = SAE_ARCHITECTURES;

/** Loads any SAE folder (format detected); the aelab.json contents, when present, go to meta.aelabFile. */
export function loadSaeFolder(dir: string): SaeWeights {
  const w = loadSae(dir);
  const p = join(dir, 'aelab.json');
  if (existsSync(p)) {
    let info: Record<string, unknown>;
    try {
      info = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new FormatError(p, 'json', `cannot parse JSON (${(e as Error).message})`);
    }
    if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new FormatError(p, 'json', 'aelab.json must hold a JSON object');
    if (info.arch !== undefined && !(AELAB_ARCHS as readonly unknown[]).includes(info.arch)) {
      throw new FormatError(p, 'arch', `unsupported arch ${JSON.stringify(info.arch)} (supported: ${AELAB_ARCHS.join(', ')})`);
    }
    const cfgArch = (info.config as Record<string, unknown> | null | undefined)?.architecture;
    if (cfgArch !== undefined && !(AELAB_ARCHITECTURES as readonly unknown[]).includes(cfgArch)) {
      throw new FormatError(p, 'architecture', `unsupported config.architecture ${JSON.stringify(cfgArch)} (supported: ${AELAB_ARCHITECTURES.join(', ')})`);
    }
    w.meta.aelabFile = info;
    if (info.config && typeof info.config === 'object') w.meta.aelab = info.config;
  }
  return w;
}

/** What running an SAE over a block of inputs gives. */
export interface SaeRun {
  /** Reconstructions [N, dIn] in raw input space. */
  xhat: Float32Array;
  /** Fixed-k codes (topk) or dense codes [N, dSae]. */
  codes: { k: number; indices: Int32Array; values: Float32Array } | Float32Array;
  /** Mean number of nonzero latents per token. */
  l0: number;
}

/**
 * Runs the inference rule of `w` on x [N, dIn] (float32 BLAS matmuls in blocks of `block` rows).
 * Agrees with interop's float64 reference encodeSae/decodeSae up to float32 rounding (tested).
 */
export function runSae(w: SaeWeights, x: Float32Array, block = 4096): SaeRun {
  const { dIn: d, dSae: H } = w;
  const N = x.length / d;
  if (!Number.isInteger(N)) throw new RangeError(`runSae: x has ${x.length} values, not rows of d_in ${d}`);
  const layerNorm = w.meta.inputNormalization === 'layer_norm';
  const xhat = new Float32Array(N * d);
  const k = w.arch === 'topk' ? Math.min(w.k ?? H, H) : 0;
  const dense = k === 0 ? new Float32Array(N * H) : null;
  const indices = k > 0 ? new Int32Array(N * k) : null;
  const values = k > 0 ? new Float32Array(N * k) : null;
  let nnz = 0;
  const Wenc = fromBuffer(w.W_enc, [H, d]);
  const Wdec = w.W_dec;
  for (let s = 0; s < N; s += block) {
    const n = Math.min(block, N - s);
    const xs = x.slice(s * d, (s + n) * d);
    const mean = new Float32Array(n), std = new Float32Array(n);
    if (layerNorm) {
      for (let t = 0; t < n; t++) {
        let m = 0, v = 0;
        for (let j = 0; j < d; j++) m += xs[t * d + j];
        m /= d;
        for (let j = 0; j < d; j++) v += (xs[t * d + j] - m) ** 2;
        mean[t] = m;
        std[t] = Math.sqrt(v / d + 1e-5);
        for (let j = 0; j < d; j++) xs[t * d + j] = (xs[t * d + j] - m) / std[t];
      }
    }
    if (w.applyBDecToInput) for (let t = 0; t < n; t++) for (let j = 0; j < d; j++) xs[t * d + j] -= w.b_dec[j];
    // Codes for this block, then x̂ = c W_dec + b_dec accumulated sparsely.
    const rec = new Float64Array(d);
    scope(() =>
      noGrad(() => {
        const pre = linear(fromBuffer(xs, [n, d]), Wenc, fromBuffer(w.b_enc, [H]));
        if (k > 0) {
          const tk = topk(pre, k);
          const v = relu(tk.values).f32(), ix = (tk.indices as Tensor).i32();
          indices!.set(ix, s * k);
          values!.set(v, s * k);
        } else {
          const p = pre.f32();
          const th = w.threshold;
          for (let i = 0; i < p.length; i++) {
            const h = i % H, val = p[i];
            const on = w.arch === 'relu' ? val > 0 : val > 0 && val > th![h];
            dense![(s * H) + i] = on ? val : 0;
          }
        }
      }),
    );
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < d; j++) rec[j] = w.b_dec[j];
      const row = s + t;
      const add = (h: number, c: number) => {
        if (c === 0) return;
        nnz++;
        const o = h * d;
        for (let j = 0; j < d; j++) rec[j] += c * Wdec[o + j];
      };
      if (k > 0) for (let i = 0; i < k; i++) add(indices![row * k + i], values![row * k + i]);
      else for (let h = 0; h < H; h++) add(h, dense![row * H + h]);
      for (let j = 0; j < d; j++) xhat[row * d + j] = layerNorm ? rec[j] * std[t] + mean[t] : rec[j];
    }
  }
  return { xhat, codes: k > 0 ? { k, indices: indices!, values: values! } : dense!, l0: nnz / Math.max(1, N) };
}
