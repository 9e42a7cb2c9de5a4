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
 * SAE applies to raw activations. Per-token normalisations (layer norm, constant_norm_rescale)
 * cannot be folded; such an SAE is exported with its weights as they are and
 * `normalize_activations: 'layer_norm' | 'constant_norm_rescale'` in cfg.json (SAELens's names,
 * and its formulas: see interop.ts), and `runSae` applies the normalisation itself.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tensor, fromBuffer, linear, noGrad, relu, scope, topk } from '../core/index.js';
import { FormatError, readSafetensors, writeFileAtomic, writeSafetensors, type ArrayData } from '../core/io/index.js';
import type { SparseAutoencoder } from './base.js';
import { SAE_ARCHITECTURES } from './config.js';
import { loadSae, normaliseTokens, saveSae, type LoadOptions, type SaeFormat, type SaeWeights, type SaveOptions, type TokenNormalization } from './interop.js';

/** Formats `aelab convert` and the trainer can write. */
export type SaeFolderFormat = SaeFormat | 'aelab';
export const SAE_FOLDER_FORMATS: readonly SaeFolderFormat[] = ['aelab', 'saelens', 'sparsify'];

/** The module's weights in neutral form, with constant-norm folded in (the module is unchanged). */
export function saeToWeights(sae: SparseAutoencoder): SaeWeights {
  const c = sae.config;
  if (c.normalisation === 'none') return sae.exportWeights();
  // exportWeights refuses unfolded normalisation; build the same object from copies.
  const scalar = c.normalisation === 'constant-norm' || c.normalisation === 'centred-norm';
  const s = scalar ? sae.norm_scale.data[0]! : 1;
  const w: SaeWeights = {
    arch: c.architecture === 'standard' ? 'relu' : c.architecture === 'topk' ? 'topk' : c.architecture === 'jumprelu' ? 'jumprelu' : c.architecture === 'gated' ? 'gated' : c.architecture === 'switch' ? 'switch' : 'batchtopk',
    dIn: c.dIn,
    dSae: c.dSae,
    W_enc: Float32Array.from(sae.W_enc.f32(), (v) => v * s),
    b_enc: sae.b_enc.f32().slice(),
    W_dec: Float32Array.from(sae.W_dec.f32(), (v) => v / s),
    b_dec: Float32Array.from(sae.b_dec.f32(), (v) => v / s),
    applyBDecToInput: c.applyBDecToInput,
    meta: { aelab: { ...c, ...(scalar ? { normalisation: 'none', folded: true } : {}) } },
  };
  if ('k' in c) w.k = c.k;
  const th = sae.inferenceThreshold();
  if (th) w.threshold = th.slice();
  // Gated: r_mag and b_mag act on pre-activations, which folding s leaves unchanged.
  Object.assign(w, sae.interopExtras());
  // Switch: the router reads s·x − b_dec like the encoder, so its weights take the scale too.
  if (w.W_router && s !== 1) w.W_router = Float32Array.from(w.W_router, (v) => v * s);
  if ((c.architecture === 'batchtopk' || c.architecture === 'matryoshka') && th === null) w.arch = 'topk'; // θ not estimated yet: per-token TopK, as exportWeights
  if (c.normalisation === 'layer-norm') w.meta.inputNormalization = 'layer_norm';
  if (c.normalisation === 'constant-norm-rescale') w.meta.inputNormalization = 'constant_norm_rescale';
  return w;
}

/**
 * Writes an SAE folder. 'aelab' writes the SAELens layout plus aelab.json (`extra` is merged into
 * it); 'saelens' / 'sparsify' write exactly what those tools expect.
 */
export function saveSaeFolder(dir: string, w: SaeWeights, format: SaeFolderFormat, extra: Record<string, unknown> = {}, opts: SaveOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  // Where the SAE attaches: from the harvest manifest of the training data when there is one.
  const data = (extra.training as { data?: unknown } | undefined)?.data;
  if (typeof data === 'string' && !w.meta.context) {
    const ctx = contextFromHarvest(data);
    if (ctx) w = { ...w, meta: { ...w.meta, context: ctx } };
  }
  if (w.arch === 'switch') {
    if (format !== 'aelab') throw new TypeError(`saveSaeFolder: ${format === 'saelens' ? 'SAELens' : 'sparsify'} has no switch (routed mixture-of-experts) architecture; save a switch SAE in the 'aelab' format`);
    saveSwitchWeights(dir, w, opts);
  } else if (format === 'sparsify') return saveSae(dir, w, 'sparsify', opts);
  else saveSae(dir, w, 'saelens', opts);
  if (format === 'aelab') {
    const info = { format: 'aelab-sae', version: 1, arch: w.arch, k: w.k ?? null, config: w.meta.aelab ?? null, ...extra };
    writeFileAtomic(join(dir, 'aelab.json'), [new TextEncoder().encode(JSON.stringify(info, null, 2) + '\n')]);
  }
}

/**
 * SAELens context keys (hook_name, model_name, hook_layer, context_size, dataset_path, prepend_bos)
 * from the manifest.json of an `aelab harvest` folder (`dir` itself, or the folder of a shard
 * file); null when `dir` is not a harvest. model_name is the harvested model's path as given.
 */
export function contextFromHarvest(dir: string): Record<string, unknown> | null {
  let folder = dir;
  try {
    if (existsSync(dir) && !statSync(dir).isDirectory()) folder = dirname(dir);
  } catch {
    return null;
  }
  const p = join(folder, 'manifest.json');
  if (!existsSync(p)) return null;
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (m?.format !== 'aelab-harvest') return null;
  const ctx: Record<string, unknown> = {};
  if (typeof m.hook === 'string') ctx.hook_name = m.hook;
  const model = m.model as { path?: unknown } | undefined;
  if (model && typeof model.path === 'string') ctx.model_name = model.path;
  if (typeof m.context === 'number') ctx.context_size = m.context;
  if (typeof m.source === 'string') ctx.dataset_path = m.source;
  if (m.bos_id !== undefined) ctx.prepend_bos = m.bos_id !== null;
  return ctx;
}

const AELAB_ARCHS = ['relu', 'topk', 'batchtopk', 'jumprelu', 'gated', 'switch'] as const;
const SWITCH_WEIGHTS = 'sae_weights.safetensors';

/**
 * A switch SAE's aelab folder: cfg.json (architecture 'switch', d_in, d_sae, experts, k,
 * apply_b_dec_to_input, normalize_activations) and sae_weights.safetensors with W_enc [d_sae, d_in]
 * (aelab's row layout), b_enc, W_dec, b_dec, W_router [experts, d_in], b_router, in float32 (exact).
 */
function saveSwitchWeights(dir: string, w: SaeWeights, opts: SaveOptions): void {
  if (!w.W_router || !w.b_router || !w.experts || w.k === undefined) throw new TypeError('saveSaeFolder: a switch SAE needs experts, k, W_router and b_router');
  if (opts.dtype && opts.dtype !== 'F32') throw new TypeError(`saveSaeFolder: a switch SAE is saved in float32 only, got dtype ${opts.dtype}`);
  const { dIn: d, dSae: H, experts: E } = w;
  const f = (shape: number[], data: Float32Array): ArrayData => ({ dtype: 'float32', shape, data });
  writeSafetensors(join(dir, SWITCH_WEIGHTS), {
    W_enc: f([H, d], w.W_enc), b_enc: f([H], w.b_enc), W_dec: f([H, d], w.W_dec), b_dec: f([d], w.b_dec),
    W_router: f([E, d], w.W_router), b_router: f([E], w.b_router),
  }, { format: 'aelab', aelab_arch: 'switch' });
  const cfg = {
    architecture: 'switch', d_in: d, d_sae: H, experts: E, k: w.k, apply_b_dec_to_input: w.applyBDecToInput,
    normalize_activations: (w.meta.inputNormalization as string | undefined) ?? 'none', ...(w.meta.context ?? {}),
  };
  writeFileAtomic(join(dir, 'cfg.json'), [new TextEncoder().encode(JSON.stringify(cfg, null, 2) + '\n')]);
}

function loadSwitchWeights(dir: string): SaeWeights {
  const cfgPath = join(dir, 'cfg.json'), wPath = join(dir, SWITCH_WEIGHTS);
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new FormatError(cfgPath, 'json', `cannot read the switch SAE's cfg.json (${(e as Error).message})`);
  }
  const { tensors } = readSafetensors(wPath);
  const d = Number(cfg.d_in), H = Number(cfg.d_sae), E = Number(cfg.experts), k = Number(cfg.k);
  for (const [name, v] of [['d_in', d], ['d_sae', H], ['experts', E], ['k', k]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new FormatError(cfgPath, name, `switch SAE cfg needs a positive integer '${name}', got ${JSON.stringify(cfg[name])}`);
  }
  const get = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t || t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
      throw new FormatError(wPath, 'tensor', `switch SAE needs '${name}' of shape [${shape.join(', ')}]${t ? `, got [${t.shape.join(', ')}]` : ` (found: ${[...tensors.keys()].join(', ')})`}`);
    }
    return Float32Array.from(t.data as ArrayLike<number>);
  };
  const w: SaeWeights = {
    arch: 'switch', dIn: d, dSae: H, k, experts: E,
    W_enc: get('W_enc', [H, d]), b_enc: get('b_enc', [H]), W_dec: get('W_dec', [H, d]), b_dec: get('b_dec', [d]),
    W_router: get('W_router', [E, d]), b_router: get('b_router', [E]),
    applyBDecToInput: cfg.apply_b_dec_to_input !== false,
    meta: { format: 'aelab' },
  };
  const tn = cfg.normalize_activations;
  if (tn === 'layer_norm' || tn === 'constant_norm_rescale') w.meta.inputNormalization = tn;
  return w;
}
const AELAB_ARCHITECTURES = SAE_ARCHITECTURES;

/** Loads any SAE folder (format detected); the aelab.json contents, when present, go to meta.aelabFile. */
export function loadSaeFolder(dir: string, opts: LoadOptions = {}): SaeWeights {
  const p = join(dir, 'aelab.json');
  let isSwitch = false;
  if (existsSync(p)) {
    try {
      isSwitch = (JSON.parse(readFileSync(p, 'utf8')) as { arch?: unknown } | null)?.arch === 'switch';
    } catch { /* reported below */ }
  }
  const w = isSwitch ? loadSwitchWeights(dir) : loadSae(dir, undefined, opts);
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
  const tn = w.meta.inputNormalization as TokenNormalization | undefined;
  const tokenNorm = tn === 'layer_norm' || tn === 'constant_norm_rescale' ? tn : null;
  if (w.arch === 'gated' && (!w.r_mag || !w.b_mag)) throw new TypeError('runSae: a gated SAE needs r_mag and b_mag');
  if (w.arch === 'switch') return runSwitchSae(w, x, tokenNorm);
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
    let xs: Float32Array = x.slice(s * d, (s + n) * d);
    let mean: Float64Array | null = null, std: Float64Array | null = null;
    if (tokenNorm) {
      const r = normaliseTokens(tokenNorm, xs, d);
      xs = r.x;
      mean = r.mean;
      std = r.scale;
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
            if (w.arch === 'gated') {
              const mag = Math.exp(w.r_mag![h]!) * (val - w.b_enc[h]!) + w.b_mag![h]!;
              dense![(s * H) + i] = val > 0 && mag > 0 ? mag : 0;
              continue;
            }
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
      for (let j = 0; j < d; j++) xhat[row * d + j] = std && mean ? rec[j] * std[t]! + mean[t]! : rec[j];
    }
  }
  return { xhat, codes: k > 0 ? { k, indices: indices!, values: values! } : dense!, l0: nnz / Math.max(1, N) };
}

/**
 * runSae for a switch SAE (switch.ts): per token, route to e* = argmax of the router logits, take the
 * top k of that expert's pre-activations, ReLU, scale by the router probability p_e*; x̂ = z W_dec + b_dec.
 */
function runSwitchSae(w: SaeWeights, x: Float32Array, tokenNorm: TokenNormalization | null): SaeRun {
  const { dIn: d, dSae: H } = w;
  const E = w.experts, k = w.k, Wr = w.W_router, br = w.b_router;
  if (!E || k === undefined || !Wr || !br) throw new TypeError('runSae: a switch SAE needs experts, k, W_router and b_router');
  const m = H / E, N = x.length / d;
  const xhat = new Float32Array(N * d), indices = new Int32Array(N * k), values = new Float32Array(N * k);
  const xi = new Float64Array(d), logits = new Float64Array(E), pre = new Float64Array(m), rec = new Float64Array(d);
  const taken = new Uint8Array(m);
  let nnz = 0;
  for (let t = 0; t < N; t++) {
    let xs: Float32Array = x.subarray(t * d, (t + 1) * d);
    let mu = 0, sd = 1, norm = false;
    if (tokenNorm) {
      const r = normaliseTokens(tokenNorm, xs.slice(), d);
      xs = r.x;
      mu = r.mean?.[0] ?? 0;
      sd = r.scale?.[0] ?? 1;
      norm = true;
    }
    for (let j = 0; j < d; j++) xi[j] = xs[j]! - (w.applyBDecToInput ? w.b_dec[j]! : 0);
    let best = 0, mx = -Infinity;
    for (let e = 0; e < E; e++) {
      let s = br[e]!;
      for (let j = 0; j < d; j++) s += xi[j]! * Wr[e * d + j]!;
      logits[e] = s;
      if (s > mx) { mx = s; best = e; }
    }
    let z = 0;
    for (let e = 0; e < E; e++) z += Math.exp(logits[e]! - mx);
    const p = 1 / z;
    for (let h = 0; h < m; h++) {
      const row = best * m + h;
      let s = w.b_enc[row]!;
      for (let j = 0; j < d; j++) s += xi[j]! * w.W_enc[row * d + j]!;
      pre[h] = s;
    }
    taken.fill(0);
    for (let j = 0; j < d; j++) rec[j] = w.b_dec[j]!;
    for (let i = 0; i < k; i++) {
      let bi = -1;
      for (let h = 0; h < m; h++) if (!taken[h] && (bi < 0 || pre[h]! > pre[bi]!)) bi = h;
      taken[bi] = 1;
      const v = Math.max(0, pre[bi]!) * p;
      indices[t * k + i] = best * m + bi;
      values[t * k + i] = v;
      if (v !== 0) {
        nnz++;
        const o = (best * m + bi) * d;
        for (let j = 0; j < d; j++) rec[j] += v * w.W_dec[o + j]!;
      }
    }
    for (let j = 0; j < d; j++) xhat[t * d + j] = norm ? rec[j]! * sd + mu : rec[j]!;
  }
  return { xhat, codes: { k, indices, values }, l0: nnz / Math.max(1, N) };
}
