/**
 * Reading and writing SAE folders of the two common Python tools, through a neutral in-memory form.
 *
 * SAELens folder: cfg.json + sae_weights.safetensors with
 *   W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc [d_sae], b_dec [d_in], threshold [d_sae]
 *   (JumpReLU; a BatchTopK SAE is saved as JumpReLU with its inference threshold).
 *   Encoding: z = (x − b_dec·[apply_b_dec_to_input]) W_enc + b_enc; then ReLU (standard),
 *   ReLU of the top k (topk), or z·[z > threshold] (jumprelu).
 * sparsify folder: cfg.json (k, expansion_factor / num_latents, normalize_decoder, d_in, …) +
 *   sae.safetensors with encoder.weight [N, d_in], encoder.bias [N], W_dec [N, d_in], b_dec [d_in].
 *   Encoding: z = ReLU((x − b_dec) encoder.weightᵀ + encoder.bias), keep the top k.
 * Both decode as x̂ = c W_dec + b_dec.
 *
 * SAELens cfg keys that change the computation, and what loading does with them (a key that is not
 * listed in SAELENS_KNOWN_KEYS and holds a non-inert value is refused with an error naming it):
 *   architecture 'gated'       tensors W_enc, b_gate, r_mag, b_mag, W_dec, b_dec (no b_enc):
 *                              g = (x̃ − b_dec·a) W_enc;  z = [g + b_gate > 0] · ReLU(g·exp(r_mag) + b_mag).
 *                              Held with b_enc = b_gate and r_mag, b_mag [d_sae].
 *   rescale_acts_by_decoder_norm (topk/batchtopk training checkpoints): pre ← pre·n with n_i = ‖W_dec,i‖,
 *                              z = σ(pre·n), x̂ = (z/n) W_dec + b_dec. Folded exactly on load:
 *                              W_enc,i ← n_i W_enc,i, b_enc,i ← n_i b_enc,i, W_dec,i ← W_dec,i / n_i.
 *   finetuning_scaling_factor  z ← z·f before decoding (tensor 'finetuning_scaling_factor' [d_sae]);
 *                              folded: W_dec,i ← f_i W_dec,i.
 *   normalize_activations
 *     'none' / null            x̃ = x.
 *     'expected_average_only_in'  the SAE was trained on s·x with one scalar s (SAELens's ActivationScaler,
 *                              saved as activation_scaler.json {"scaling_factor": s} in checkpoints); folded on
 *                              load (W_enc ← s·W_enc, W_dec ← W_dec/s, b_dec ← b_dec/s). Refused when s is unknown.
 *     'constant_norm_rescale'  per token: x̃ = x·√d/‖x‖, x̂ = x̂̃·‖x‖/√d (cannot be folded: kept as
 *                              meta.inputNormalization and applied by runSae / reconstructSae).
 *     'layer_norm'             per token: μ = mean(x), σ = unbiased std of x (÷ (d − 1)),
 *                              x̃ = (x − μ)/(σ + 1e-5), x̂ = x̂̃·σ + μ (σ without ε on the way out, as SAELens).
 *   BatchTopK training checkpoints store a scalar 'topk_threshold' (float64, shape []): every latent gets
 *   that threshold (inference z = ReLU(pre)·[pre > θ]); inference exports store 'threshold' [d_sae].
 *
 * Neutral form (SaeWeights): rows are latents, W_enc [dSae, dIn] and W_dec [dSae, dIn]. Loading
 * SAELens transposes W_enc exactly (a permutation of float32 values, no arithmetic), so
 * SAELens → ours → sparsify → ours keeps every value bit-for-bit. Values are held as float32;
 * F16/BF16 files are widened exactly, and can be written back as F16/BF16 on request.
 *
 * Writes are atomic per file (temp file + rename); cfg.json is written last, so a folder with
 * cfg.json always has complete weights next to it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors, writeFileAtomic, FormatError, type ArrayData } from '../core/io/index.js';

/** 'switch' (aelab format only: SAELens and sparsify have no switch architecture) adds experts, W_router, b_router. */
export type SaeArch = 'relu' | 'topk' | 'batchtopk' | 'jumprelu' | 'gated' | 'switch';

/** Per-token input normalisations that cannot be folded into the weights (SAELens names). */
export { normaliseTokens, type TokenNormalization } from './token-norm.js';
import { normaliseTokens, type TokenNormalization } from './token-norm.js';
export type SaeFormat = 'saelens' | 'sparsify';

export interface SaeWeights {
  arch: SaeArch;
  dIn: number;
  dSae: number;
  /** Active latents per token (topk, batchtopk). */
  k?: number;
  /** [dSae, dIn]: row h is latent h's encoder direction. */
  W_enc: Float32Array;
  /** [dSae] (gated: b_gate, the gating path's bias) */
  b_enc: Float32Array;
  /** [dSae, dIn] */
  W_dec: Float32Array;
  /** [dIn] */
  b_dec: Float32Array;
  /** [dSae], JumpReLU / BatchTopK inference threshold. */
  threshold?: Float32Array;
  /** [dSae], gated only: log of the magnitude path's per-latent rescaling of the shared encoder rows. */
  r_mag?: Float32Array;
  /** [dSae], gated only: the magnitude path's bias. */
  b_mag?: Float32Array;
  /** switch only: number of experts E (expert e owns latents [e·dSae/E, (e+1)·dSae/E)). */
  experts?: number;
  /** [E, dIn], switch only: router weights (logits = (x − b_dec·a) W_routerᵀ + b_router). */
  W_router?: Float32Array;
  /** [E], switch only: router bias. */
  b_router?: Float32Array;
  /** Whether b_dec is subtracted from the input before encoding (SAELens option; sparsify always does). */
  applyBDecToInput: boolean;
  /**
   * Everything else: the original cfg.json under `saelens` / `sparsify`, the source format, and
   * `inputNormalization` (a TokenNormalization the weights need applied per token), `folds` (what
   * loading folded into the weights), `context` (hook_name, model_name … for export).
   */
  meta: Record<string, unknown>;
}

export interface SaveOptions {
  /** Storage type of the tensors. Default 'F32'. */
  dtype?: 'F32' | 'F16' | 'BF16';
}

const SAELENS_WEIGHTS = 'sae_weights.safetensors';
const SPARSIFY_WEIGHTS = 'sae.safetensors';

/** Row-major transpose of a [rows, cols] matrix into [cols, rows]. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

function readJson(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FormatError(path, 'json', `cannot parse JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FormatError(path, 'json', 'cfg.json must hold a JSON object');
  return v as Record<string, unknown>;
}

function tensor(file: string, tensors: Map<string, ArrayData>, name: string, shape: number[]): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new FormatError(file, 'tensor', `missing tensor '${name}' (found: ${[...tensors.keys()].join(', ') || 'none'})`);
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new FormatError(file, 'shape', `tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  if (!(t.data instanceof Float32Array)) throw new FormatError(file, 'dtype', `tensor '${name}' must be floating point`);
  checkFiniteTensor(file, name, t.data, shape);
  return t.data;
}

/**
 * Refuses NaN/±Inf in a loaded weight tensor, naming the file, the tensor and the first bad index
 * (flat and per axis, in the file's layout): a silent NaN would poison every code it touches.
 */
export function checkFiniteTensor(file: string, name: string, data: Float32Array, shape: readonly number[]): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v === 0) continue; // finite
    const idx: number[] = [];
    let rest = i;
    for (let a = shape.length - 1; a >= 0; a--) {
      const n = shape[a]!;
      idx.unshift(rest % n);
      rest = Math.floor(rest / n);
    }
    let bad = 0;
    for (let j = i; j < data.length; j++) if (!Number.isFinite(data[j]!)) bad++;
    throw new FormatError(
      file,
      'data',
      `tensor '${name}' holds ${bad} non-finite value${bad === 1 ? '' : 's'}; the first is ${String(v)} at index ${i}` +
        (shape.length > 1 ? ` ([${idx.join(', ')}] of shape [${shape.join(', ')}])` : '') + ' — the SAE weights are corrupt (a diverged training run?)',
    );
  }
}

/** The SAELens `architecture` values loadSaeLens understands. */
export const SAELENS_ARCHITECTURES = ['standard', 'topk', 'jumprelu', 'batchtopk', 'gated'] as const;

function posInt(file: string, v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new FormatError(file, what, `${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Which format `dir` holds. Throws a FormatError listing the folder's contents (and any
 * sub-folders that do hold an SAE, as sparsify writes one folder per hook point) otherwise.
 */
export function detectSaeFormat(dir: string): SaeFormat {
  const has = (f: string) => existsSync(join(dir, f));
  if (has('cfg.json') && has(SAELENS_WEIGHTS)) return 'saelens';
  if (has('cfg.json') && has(SPARSIFY_WEIGHTS)) return 'sparsify';
  const found = existsSync(dir) ? readdirSync(dir).sort() : [];
  const nested = found.filter((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() && existsSync(join(p, 'cfg.json')) && (existsSync(join(p, SAELENS_WEIGHTS)) || existsSync(join(p, SPARSIFY_WEIGHTS)));
  });
  throw new FormatError(
    dir,
    'format',
    `not an SAE folder: SAELens needs cfg.json + ${SAELENS_WEIGHTS}, sparsify needs cfg.json + ${SPARSIFY_WEIGHTS}; ` +
      `found ${found.length ? found.join(', ') : 'nothing'}` +
      (nested.length ? ` (sub-folders holding an SAE: ${nested.join(', ')})` : ''),
  );
}

/** Loads an SAELens or sparsify folder (format detected unless given). */
export function loadSae(dir: string, format?: SaeFormat, opts: LoadOptions = {}): SaeWeights {
  const f = format ?? detectSaeFormat(dir);
  return f === 'saelens' ? loadSaeLens(dir, opts) : loadSparsify(dir);
}

/** Saves in the given format. */
export function saveSae(dir: string, w: SaeWeights, format: SaeFormat, opts: SaveOptions = {}): void {
  if (format === 'saelens') saveSaeLens(dir, w, opts);
  else saveSparsify(dir, w, opts);
}

// ---- SAELens ----

/** Options of loadSaeLens / loadSae. */
export interface LoadOptions {
  /**
   * The activation scale s of an 'expected_average_only_in' SAE whose folder has no
   * activation_scaler.json (the SAE was trained on s·x).
   */
  scalingFactor?: number;
}

/**
 * SAELens cfg keys loadSaeLens understands: those it honours (the maths), and those that describe
 * the run or only training (hook, model, dataset, loss coefficients, initialisation …) and so do
 * not change what the saved SAE computes. Any other key with a non-inert value (not null, false,
 * 'none', 0, '' or {}) is refused, naming it.
 */
export const SAELENS_KNOWN_KEYS: readonly string[] = [
  // honoured
  'architecture', 'd_in', 'd_sae', 'apply_b_dec_to_input', 'normalize_activations', 'activation_fn_str', 'activation_fn',
  'activation_fn_kwargs', 'k', 'rescale_acts_by_decoder_norm', 'finetuning_scaling_factor', 'reshape_activations',
  // where the SAE attaches / provenance (no effect on the maths of x → x̂)
  'model_name', 'hook_name', 'hook_layer', 'hook_head_index', 'context_size', 'dataset_path', 'dataset_trust_remote_code',
  'prepend_bos', 'model_from_pretrained_kwargs', 'seqpos_slice', 'neuronpedia_id', 'sae_lens_training_version',
  'sae_lens_version', 'model_class_name', 'exclude_special_tokens', 'metadata', 'dtype', 'device', 'model_dtype',
  'hf_hook_point_in', 'hf_hook_point_out', 'release', 'sae_id', 'd_head', 'n_heads',
  // training-only settings (the saved weights already reflect them)
  'l1_coefficient', 'lp_norm', 'l1_warm_up_steps', 'noise_scale', 'decoder_init_norm', 'jumprelu_init_threshold',
  'jumprelu_bandwidth', 'jumprelu_sparsity_loss_mode', 'jumprelu_tanh_scale', 'l0_coefficient', 'l0_warm_up_steps',
  'pre_act_loss_coefficient', 'aux_loss_coefficient', 'topk_threshold_lr', 'mse_loss_normalization',
  'scale_sparsity_penalty_by_decoder_norm', 'init_encoder_as_decoder_transpose', 'decoder_heuristic_init',
  'decoder_heuristic_init_norm', 'decoder_orthogonal_init', 'normalize_sae_decoder', 'b_dec_init_method',
  'use_ghost_grads', 'sae_lens_training', 'apply_b_dec_to_input_in_training', 'dead_feature_window',
  'feature_sampling_window', 'dead_feature_threshold', 'use_error_term', 'matryoshka_widths',
  // written by aelab: which context keys were not known at export
  'aelab_unknown_keys',
];

const inert = (v: unknown) =>
  v === undefined || v === null || v === false || v === 0 || v === '' || v === 'none' ||
  (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);

function refuse(file: string, key: string, value: unknown, why: string): never {
  throw new FormatError(file, key, `cfg key '${key}' = ${JSON.stringify(value)}: ${why}`);
}

/** Folds a per-latent factor n into the pre-activation side and 1/n into the decoder (see the file comment). */
function foldDecoderNorm(w: SaeWeights): Float32Array {
  const { dIn: d, dSae: H } = w;
  const n = new Float32Array(H);
  for (let i = 0; i < H; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += w.W_dec[i * d + j]! ** 2;
    n[i] = Math.sqrt(s);
  }
  for (let i = 0; i < H; i++) {
    const ni = n[i]!;
    if (!(ni > 0)) continue; // a zero decoder row: the latent contributes nothing either way
    for (let j = 0; j < d; j++) {
      w.W_enc[i * d + j] = w.W_enc[i * d + j]! * ni;
      w.W_dec[i * d + j] = w.W_dec[i * d + j]! / ni;
    }
    w.b_enc[i] = w.b_enc[i]! * ni;
  }
  return n;
}

/** W_enc ← s·W_enc, W_dec ← W_dec/s, b_dec ← b_dec/s (an SAE trained on s·x becomes one on x). */
export function foldInputScale(w: SaeWeights, s: number): void {
  for (let i = 0; i < w.W_enc.length; i++) w.W_enc[i] = w.W_enc[i]! * s;
  for (let i = 0; i < w.W_dec.length; i++) w.W_dec[i] = w.W_dec[i]! / s;
  for (let i = 0; i < w.b_dec.length; i++) w.b_dec[i] = w.b_dec[i]! / s;
}

/**
 * Loads a SAELens folder (training checkpoint or inference export), honouring every cfg key that
 * changes the maths (see the file comment) and refusing any it does not understand. What was
 * folded into the weights is listed in meta.folds.
 */
export function loadSaeLens(dir: string, opts: LoadOptions = {}): SaeWeights {
  const cfgPath = join(dir, 'cfg.json');
  const wPath = join(dir, SAELENS_WEIGHTS);
  const cfg = readJson(cfgPath);
  for (const [key, v] of Object.entries(cfg)) {
    if (!SAELENS_KNOWN_KEYS.includes(key) && !inert(v)) {
      refuse(cfgPath, key, v, 'aelab does not know this SAELens setting and it may change what the SAE computes; refusing rather than ignoring it (remove the key if it is inert)');
    }
  }
  const { tensors, metadata } = readSafetensors(wPath);
  const dIn = posInt(cfgPath, cfg.d_in, 'd_in');
  const dSae = posInt(cfgPath, cfg.d_sae, 'd_sae');
  const kwargs = (cfg.activation_fn_kwargs ?? {}) as Record<string, unknown>;
  const archRaw = cfg.architecture ?? 'standard';
  const archName = String(archRaw);
  if (typeof archRaw !== 'string' || !(SAELENS_ARCHITECTURES as readonly string[]).includes(archName)) {
    throw new FormatError(cfgPath, 'architecture', `unsupported SAELens architecture ${typeof archRaw === 'string' ? `'${archRaw}'` : JSON.stringify(archRaw)} (supported: ${SAELENS_ARCHITECTURES.join(', ')})`);
  }
  const actFn = cfg.activation_fn_str ?? cfg.activation_fn;
  let arch: SaeArch;
  if (archName === 'jumprelu') arch = 'jumprelu';
  else if (archName === 'batchtopk') arch = 'batchtopk';
  else if (archName === 'gated') arch = 'gated';
  // Older SAELens configs mark TopK SAEs as 'standard' with a topk activation function.
  else if (archName === 'topk' || actFn === 'topk') arch = 'topk';
  else arch = 'relu';
  if (actFn !== undefined && actFn !== null && actFn !== 'relu' && actFn !== 'topk') {
    refuse(cfgPath, cfg.activation_fn_str !== undefined ? 'activation_fn_str' : 'activation_fn', actFn, 'only relu and topk activation functions are supported');
  }
  if (actFn === 'topk' && (arch === 'relu' || arch === 'jumprelu' || arch === 'gated')) arch = 'topk';
  // BatchTopK SAEs we wrote are saved as JumpReLU; the safetensors metadata remembers the original.
  if (arch === 'jumprelu' && metadata.aelab_arch === 'batchtopk') arch = 'batchtopk';
  const kRaw = cfg.k ?? kwargs.k ?? metadata.aelab_k;
  const kNum = typeof kRaw === 'string' ? Number(kRaw) : kRaw;
  let k: number | undefined;
  if (kNum !== undefined && kNum !== null) {
    // SAELens ≥ 6.11 allows a float k for BatchTopK (mean active latents); we keep integers.
    k = arch === 'batchtopk' && typeof kNum === 'number' && kNum > 0 ? Math.max(1, Math.round(kNum)) : posInt(cfgPath, kNum, 'k');
  }
  if (arch === 'topk' && k === undefined) throw new FormatError(cfgPath, 'k', 'topk architecture needs k (activation_fn_kwargs.k or k)');
  const W_enc = transpose(tensor(wPath, tensors, 'W_enc', [dIn, dSae]), dIn, dSae);
  const w: SaeWeights = {
    arch,
    dIn,
    dSae,
    ...(k !== undefined && (arch === 'topk' || arch === 'batchtopk') ? { k } : {}),
    W_enc,
    b_enc: arch === 'gated' ? tensor(wPath, tensors, 'b_gate', [dSae]).slice() : tensor(wPath, tensors, 'b_enc', [dSae]).slice(),
    W_dec: tensor(wPath, tensors, 'W_dec', [dSae, dIn]).slice(),
    b_dec: tensor(wPath, tensors, 'b_dec', [dIn]).slice(),
    applyBDecToInput: cfg.apply_b_dec_to_input === undefined ? true : Boolean(cfg.apply_b_dec_to_input),
    meta: { format: 'saelens', saelens: cfg },
  };
  const folds: string[] = [];
  if (arch === 'gated') {
    w.r_mag = tensor(wPath, tensors, 'r_mag', [dSae]).slice();
    w.b_mag = tensor(wPath, tensors, 'b_mag', [dSae]).slice();
  }
  if (arch === 'jumprelu' || arch === 'batchtopk') {
    if (tensors.has('threshold')) w.threshold = tensor(wPath, tensors, 'threshold', [dSae]).slice();
    else if (tensors.has('log_threshold')) w.threshold = tensor(wPath, tensors, 'log_threshold', [dSae]).map(Math.exp);
    else if (tensors.has('topk_threshold')) {
      const t = tensors.get('topk_threshold')!;
      if (t.data.length !== 1 || !(t.data instanceof Float32Array)) {
        throw new FormatError(wPath, 'shape', `tensor 'topk_threshold' must hold one float (BatchTopK's scalar threshold), got shape [${t.shape.join(', ')}]`);
      }
      checkFiniteTensor(wPath, 'topk_threshold', t.data, [1]);
      w.threshold = new Float32Array(dSae).fill(t.data[0]!);
    } else throw new FormatError(wPath, 'tensor', `${archName} SAE needs a 'threshold' tensor${archName === 'batchtopk' ? " (inference export) or a scalar 'topk_threshold' (training checkpoint)" : ''} (found: ${[...tensors.keys()].join(', ')})`);
    if (arch === 'batchtopk' && k === undefined) delete w.k;
  }
  // finetuning_scaling_factor: z ← z·f before decoding; fold f into the decoder rows.
  if (cfg.finetuning_scaling_factor === true) {
    if (!tensors.has('finetuning_scaling_factor')) refuse(cfgPath, 'finetuning_scaling_factor', true, `needs a 'finetuning_scaling_factor' tensor [${dSae}] in ${SAELENS_WEIGHTS}`);
    const f = tensor(wPath, tensors, 'finetuning_scaling_factor', [dSae]);
    for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) w.W_dec[i * dIn + j] = w.W_dec[i * dIn + j]! * f[i]!;
    folds.push('finetuning_scaling_factor into W_dec');
  } else if (cfg.finetuning_scaling_factor !== undefined && cfg.finetuning_scaling_factor !== false && cfg.finetuning_scaling_factor !== null) {
    refuse(cfgPath, 'finetuning_scaling_factor', cfg.finetuning_scaling_factor, 'must be true or false');
  }
  // rescale_acts_by_decoder_norm: σ acts on pre·‖W_dec,i‖ and the code is divided by it before decoding.
  const rescale = cfg.rescale_acts_by_decoder_norm;
  if (rescale === true) {
    if (arch !== 'topk' && arch !== 'batchtopk') refuse(cfgPath, 'rescale_acts_by_decoder_norm', true, `SAELens defines it for topk and batchtopk SAEs only, not '${archName}'`);
    foldDecoderNorm(w);
    folds.push('rescale_acts_by_decoder_norm: decoder row norms into W_enc and b_enc (decoder rows now unit norm)');
  } else if (rescale !== undefined && rescale !== false && rescale !== null) {
    refuse(cfgPath, 'rescale_acts_by_decoder_norm', rescale, 'must be true or false');
  }
  const reshape = cfg.reshape_activations;
  if (reshape !== undefined && reshape !== null && reshape !== 'none' && reshape !== 'hook_z') {
    refuse(cfgPath, 'reshape_activations', reshape, "only 'none' and 'hook_z' (heads flattened into d_in, which aelab's rows already are) are supported");
  }
  const norm = cfg.normalize_activations;
  if (norm === undefined || norm === null || norm === 'none') {
    // nothing
  } else if (norm === 'expected_average_only_in') {
    let s = opts.scalingFactor;
    const scalerPath = join(dir, 'activation_scaler.json');
    if (s === undefined && existsSync(scalerPath)) {
      const sc = readJson(scalerPath).scaling_factor;
      if (sc !== null && sc !== undefined) {
        if (typeof sc !== 'number' || !(sc > 0) || !Number.isFinite(sc)) throw new FormatError(scalerPath, 'scaling_factor', `scaling_factor must be a positive number, got ${JSON.stringify(sc)}`);
        s = sc;
      }
    }
    if (s === undefined) {
      refuse(cfgPath, 'normalize_activations', norm, `the SAE was trained on s·x but the scale s is not in the folder (no activation_scaler.json with a scaling_factor); pass it as scalingFactor (aelab convert --scaling-factor) to load it`);
    }
    if (!(s > 0) || !Number.isFinite(s)) throw new RangeError(`loadSaeLens: scalingFactor must be a positive finite number, got ${s}`);
    foldInputScale(w, s);
    folds.push(`expected_average_only_in scaling factor ${s} into W_enc, W_dec, b_dec`);
    w.meta.scalingFactor = s;
  } else if (norm === 'layer_norm' || norm === 'constant_norm_rescale') {
    w.meta.inputNormalization = norm;
  } else {
    refuse(cfgPath, 'normalize_activations', norm, "supported: 'none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'");
  }
  if (folds.length) w.meta.folds = folds;
  const context: Record<string, unknown> = {};
  const md = (cfg.metadata ?? {}) as Record<string, unknown>;
  for (const key of SAELENS_CONTEXT_KEYS) {
    const v = cfg[key] ?? md[key];
    if (v !== undefined) context[key] = v;
  }
  if (Object.keys(context).length) w.meta.context = context;
  return w;
}

/** The cfg keys that say where an SAE attaches and what it was trained on (SAELens 5.x top level, 6.x `metadata`). */
export const SAELENS_CONTEXT_KEYS = [
  'model_name', 'hook_name', 'hook_layer', 'hook_head_index', 'context_size', 'dataset_path', 'dataset_trust_remote_code',
  'prepend_bos', 'model_from_pretrained_kwargs', 'seqpos_slice', 'model_class_name', 'exclude_special_tokens',
] as const;

/**
 * The SAELens cfg.json of `w`: every key the 5.x loader (flat SAEConfig) and the 6.x loader
 * (`metadata` object, architecture-specific keys) read. Where the SAE attaches (model_name,
 * hook_name, hook_layer, hook_head_index, context_size, dataset_path, prepend_bos …) comes from
 * w.meta.context (filled from a harvest manifest, a loaded cfg, or `aelab convert --hook-name …`);
 * a value that is not known is written as null and listed in `aelab_unknown_keys`.
 */
export function saeLensCfg(w: SaeWeights, dtype: 'F32' | 'F16' | 'BF16' = 'F32'): Record<string, unknown> {
  const prev = (w.meta.saelens ?? {}) as Record<string, unknown>;
  const ctx = { ...((w.meta.context ?? {}) as Record<string, unknown>) };
  const architecture = w.arch === 'relu' ? 'standard' : w.arch === 'topk' ? 'topk' : w.arch === 'gated' ? 'gated' : 'jumprelu';
  const hookName = typeof ctx.hook_name === 'string' ? ctx.hook_name : null;
  if (ctx.hook_layer === undefined && hookName) {
    const m = /^blocks\.(\d+)\./.exec(hookName);
    if (m) ctx.hook_layer = Number(m[1]);
  }
  if (ctx.hook_head_index === undefined && hookName) ctx.hook_head_index = null; // a whole-layer hook: no head (known)
  const contextKeys = ['model_name', 'hook_name', 'hook_layer', 'hook_head_index', 'context_size', 'dataset_path', 'prepend_bos'] as const;
  const unknown = contextKeys.filter((k) => ctx[k] === undefined);
  const val = (k: string) => (ctx[k] === undefined ? null : ctx[k]);
  const tnorm = w.meta.inputNormalization as TokenNormalization | undefined;
  const metadata: Record<string, unknown> = {
    model_name: val('model_name'),
    hook_name: val('hook_name'),
    hook_head_index: val('hook_head_index'),
    context_size: val('context_size'),
    dataset_path: val('dataset_path'),
    prepend_bos: val('prepend_bos'),
    model_class_name: ctx.model_class_name ?? 'HookedTransformer',
    dataset_trust_remote_code: ctx.dataset_trust_remote_code ?? false,
    model_from_pretrained_kwargs: ctx.model_from_pretrained_kwargs ?? {},
    seqpos_slice: ctx.seqpos_slice ?? [null],
    exclude_special_tokens: ctx.exclude_special_tokens ?? false,
    sae_lens_training_version: null,
    neuronpedia_id: prev.neuronpedia_id ?? null,
  };
  const cfg: Record<string, unknown> = {
    architecture,
    d_in: w.dIn,
    d_sae: w.dSae,
    dtype: dtype === 'F16' ? 'float16' : dtype === 'BF16' ? 'bfloat16' : 'float32',
    device: typeof prev.device === 'string' ? prev.device : 'cpu',
    apply_b_dec_to_input: w.applyBDecToInput,
    normalize_activations: tnorm ?? 'none',
    reshape_activations: hookName && /\.hook_z$/.test(hookName) ? 'hook_z' : 'none',
    finetuning_scaling_factor: false,
    // 5.x flat copies of the metadata
    model_name: metadata.model_name,
    hook_name: metadata.hook_name,
    hook_layer: val('hook_layer'),
    hook_head_index: metadata.hook_head_index,
    context_size: metadata.context_size,
    dataset_path: metadata.dataset_path,
    dataset_trust_remote_code: metadata.dataset_trust_remote_code,
    prepend_bos: metadata.prepend_bos,
    model_from_pretrained_kwargs: metadata.model_from_pretrained_kwargs,
    seqpos_slice: metadata.seqpos_slice,
    sae_lens_training_version: null,
    neuronpedia_id: metadata.neuronpedia_id,
    activation_fn_str: w.arch === 'topk' ? 'topk' : 'relu',
    activation_fn_kwargs: w.arch === 'topk' ? { k: w.k } : {},
    metadata,
  };
  if (w.arch === 'topk') {
    cfg.k = w.k;
    cfg.rescale_acts_by_decoder_norm = false;
  }
  if (unknown.length) cfg.aelab_unknown_keys = unknown;
  return cfg;
}

export function saveSaeLens(dir: string, w: SaeWeights, opts: SaveOptions = {}): void {
  if (w.arch === 'switch') throw new TypeError("saveSaeLens: SAELens has no switch (routed mixture-of-experts) architecture; save a switch SAE in the 'aelab' format");
  checkWeights(w);
  mkdirSync(dir, { recursive: true });
  const { dIn, dSae } = w;
  const tensors: Record<string, ArrayData> = {
    W_enc: { dtype: 'float32', shape: [dIn, dSae], data: transpose(w.W_enc, dSae, dIn) },
    W_dec: { dtype: 'float32', shape: [dSae, dIn], data: w.W_dec },
    b_dec: { dtype: 'float32', shape: [dIn], data: w.b_dec },
  };
  if (w.arch === 'gated') {
    if (!w.r_mag || !w.b_mag) throw new TypeError('saveSaeLens: a gated SAE needs r_mag and b_mag');
    tensors.b_gate = { dtype: 'float32', shape: [dSae], data: w.b_enc };
    tensors.r_mag = { dtype: 'float32', shape: [dSae], data: w.r_mag };
    tensors.b_mag = { dtype: 'float32', shape: [dSae], data: w.b_mag };
  } else {
    tensors.b_enc = { dtype: 'float32', shape: [dSae], data: w.b_enc };
  }
  const metadata: Record<string, string> = { format: 'pt', aelab_arch: w.arch };
  if (w.k !== undefined) metadata.aelab_k = String(w.k);
  if (w.arch === 'jumprelu' || w.arch === 'batchtopk') {
    if (!w.threshold) throw new TypeError(`saveSaeLens: a ${w.arch} SAE needs a threshold to be saved as SAELens jumprelu`);
    tensors.threshold = { dtype: 'float32', shape: [dSae], data: w.threshold };
  }
  writeSafetensors(join(dir, SAELENS_WEIGHTS), tensors, metadata, { floatDtype: opts.dtype ?? 'F32' });
  const cfg = saeLensCfg(w, opts.dtype ?? 'F32');
  writeFileAtomic(join(dir, 'cfg.json'), [new TextEncoder().encode(JSON.stringify(cfg, null, 2) + '\n')]);
}

// ---- sparsify ----

/**
 * sparsify cfg keys loadSparsify understands (SparseCoderConfig 1.x plus d_in); multi_topk only
 * changes the training loss, normalize_decoder only training. Other non-inert keys are refused.
 */
export const SPARSIFY_KNOWN_KEYS: readonly string[] = [
  'activation', 'expansion_factor', 'normalize_decoder', 'num_latents', 'k', 'multi_topk', 'skip_connection', 'transcode', 'd_in',
];

export function loadSparsify(dir: string): SaeWeights {
  const cfgPath = join(dir, 'cfg.json');
  const wPath = join(dir, SPARSIFY_WEIGHTS);
  const cfg = readJson(cfgPath);
  const { tensors } = readSafetensors(wPath);
  if (cfg.transcode === true || cfg.skip_connection === true || tensors.has('W_skip')) {
    throw new FormatError(cfgPath, 'cfg', 'sparsify transcoders / skip connections are not supported (only plain TopK SAEs)');
  }
  for (const [key, v] of Object.entries(cfg)) {
    if (!SPARSIFY_KNOWN_KEYS.includes(key) && !inert(v)) {
      refuse(cfgPath, key, v, 'aelab does not know this sparsify setting and it may change what the SAE computes; refusing rather than ignoring it');
    }
  }
  const activation = cfg.activation ?? 'topk';
  if (activation !== 'topk') throw new FormatError(cfgPath, 'activation', `unsupported sparsify activation '${String(activation)}' (only topk)`);
  const enc = tensors.get('encoder.weight');
  if (!enc || enc.shape.length !== 2) throw new FormatError(wPath, 'tensor', `missing 2-D tensor 'encoder.weight' (found: ${[...tensors.keys()].join(', ')})`);
  const [dSae, dIn] = enc.shape;
  if (cfg.d_in !== undefined && cfg.d_in !== dIn) throw new FormatError(cfgPath, 'd_in', `d_in ${JSON.stringify(cfg.d_in)} does not match encoder.weight width ${dIn}`);
  const numLatents = typeof cfg.num_latents === 'number' && cfg.num_latents > 0 ? cfg.num_latents : typeof cfg.expansion_factor === 'number' ? cfg.expansion_factor * dIn : dSae;
  if (numLatents !== dSae) throw new FormatError(cfgPath, 'num_latents', `cfg gives ${numLatents} latents (num_latents / expansion_factor × d_in) but encoder.weight has ${dSae}`);
  const k = posInt(cfgPath, cfg.k, 'k');
  return {
    arch: 'topk',
    dIn,
    dSae,
    k,
    W_enc: tensor(wPath, tensors, 'encoder.weight', [dSae, dIn]),
    b_enc: tensor(wPath, tensors, 'encoder.bias', [dSae]),
    W_dec: tensor(wPath, tensors, 'W_dec', [dSae, dIn]),
    b_dec: tensor(wPath, tensors, 'b_dec', [dIn]),
    applyBDecToInput: true,
    meta: { format: 'sparsify', sparsify: cfg },
  };
}

export function saveSparsify(dir: string, w: SaeWeights, opts: SaveOptions = {}): void {
  checkWeights(w);
  if (w.arch !== 'topk' || w.k === undefined) {
    throw new TypeError(`saveSparsify: sparsify stores TopK SAEs only; this SAE is '${w.arch}'${w.arch === 'batchtopk' ? ' (its threshold inference has no sparsify form; save as SAELens)' : w.arch === 'switch' ? " (sparsify has no switch architecture; save it in the 'aelab' format)" : ''}`);
  }
  if (!w.applyBDecToInput) {
    throw new TypeError('saveSparsify: sparsify always subtracts b_dec from the input; this SAE does not (apply_b_dec_to_input = false)');
  }
  const tn = w.meta.inputNormalization;
  if (tn !== undefined && tn !== null && tn !== 'none') {
    throw new TypeError(`saveSparsify: this SAE applies a per-token input normalisation (normalize_activations '${String(tn)}') that sparsify cannot express and that cannot be folded into the weights; save as SAELens or aelab instead`);
  }
  mkdirSync(dir, { recursive: true });
  const { dIn, dSae } = w;
  writeSafetensors(
    join(dir, SPARSIFY_WEIGHTS),
    {
      'encoder.weight': { dtype: 'float32', shape: [dSae, dIn], data: w.W_enc },
      'encoder.bias': { dtype: 'float32', shape: [dSae], data: w.b_enc },
      W_dec: { dtype: 'float32', shape: [dSae, dIn], data: w.W_dec },
      b_dec: { dtype: 'float32', shape: [dIn], data: w.b_dec },
    },
    { format: 'pt' },
    { floatDtype: opts.dtype ?? 'F32' },
  );
  const prev = (w.meta.sparsify ?? {}) as Record<string, unknown>;
  const cfg = {
    activation: 'topk',
    multi_topk: false,
    skip_connection: false,
    transcode: false,
    ...prev,
    expansion_factor: Number.isInteger(dSae / dIn) ? dSae / dIn : (prev.expansion_factor ?? Math.max(1, Math.round(dSae / dIn))),
    normalize_decoder: prev.normalize_decoder ?? true,
    num_latents: dSae,
    k: w.k,
    d_in: dIn,
  };
  writeFileAtomic(join(dir, 'cfg.json'), [new TextEncoder().encode(JSON.stringify(cfg, null, 2) + '\n')]);
}

function checkWeights(w: SaeWeights): void {
  const { dIn, dSae } = w;
  const want: [string, Float32Array | undefined, number][] = [
    ['W_enc', w.W_enc, dSae * dIn],
    ['W_dec', w.W_dec, dSae * dIn],
    ['b_enc', w.b_enc, dSae],
    ['b_dec', w.b_dec, dIn],
  ];
  if (w.threshold) want.push(['threshold', w.threshold, dSae]);
  for (const [name, a, n] of want) {
    if (!(a instanceof Float32Array) || a.length !== n) throw new TypeError(`SaeWeights.${name} must be a Float32Array of ${n} values, got ${a ? a.length : 'none'}`);
  }
}

// ---- reference inference on arrays ----

/**
 * Dense codes [B, dSae] for inputs x [B, dIn], by the encoding rule of `w.arch` (see the file
 * comment; batchtopk uses its threshold as JumpReLU does). Accumulates in float64. Ties at the
 * k-th value keep the lower latent index.
 */
export function encodeSae(w: SaeWeights, x: Float32Array): Float32Array {
  const { dIn, dSae } = w;
  const B = x.length / dIn;
  if (!Number.isInteger(B)) throw new RangeError(`encodeSae: x has ${x.length} values, not a multiple of d_in ${dIn}`);
  if (w.arch === 'switch') throw new TypeError('encodeSae: a switch SAE routes tokens to experts; use runSae (convert.ts) or the SwitchSae module');
  const out = new Float32Array(B * dSae);
  const xin = new Float64Array(dIn);
  const pre = new Float64Array(dSae);
  for (let t = 0; t < B; t++) {
    for (let j = 0; j < dIn; j++) xin[j] = x[t * dIn + j] - (w.applyBDecToInput ? w.b_dec[j] : 0);
    for (let h = 0; h < dSae; h++) {
      let s = w.b_enc[h];
      const o = h * dIn;
      for (let j = 0; j < dIn; j++) s += xin[j] * w.W_enc[o + j];
      pre[h] = s;
    }
    const row = out.subarray(t * dSae, (t + 1) * dSae);
    if (w.arch === 'gated') {
      // pre holds the gate pre-activation g + b_gate; the magnitude is exp(r_mag)·g + b_mag.
      const r = w.r_mag, bm = w.b_mag;
      if (!r || !bm) throw new TypeError('encodeSae: a gated SAE needs r_mag and b_mag');
      for (let h = 0; h < dSae; h++) {
        const mag = Math.exp(r[h]!) * (pre[h]! - w.b_enc[h]!) + bm[h]!;
        row[h] = pre[h]! > 0 && mag > 0 ? mag : 0;
      }
    } else if (w.arch === 'relu') {
      for (let h = 0; h < dSae; h++) row[h] = pre[h] > 0 ? pre[h] : 0;
    } else if (w.arch === 'topk') {
      const k = w.k ?? 0;
      const idx = Array.from({ length: dSae }, (_, h) => h).sort((a, b) => pre[b] - pre[a] || a - b);
      for (let i = 0; i < Math.min(k, dSae); i++) row[idx[i]] = pre[idx[i]] > 0 ? pre[idx[i]] : 0;
    } else {
      const th = w.threshold;
      if (!th) throw new TypeError(`encodeSae: a ${w.arch} SAE needs a threshold`);
      for (let h = 0; h < dSae; h++) row[h] = pre[h] > th[h] && pre[h] > 0 ? pre[h] : 0;
    }
  }
  return out;
}


/**
 * Reference reconstruction of raw inputs x [B, dIn] in float64, with the SAE's per-token input
 * normalisation (meta.inputNormalization) applied and undone: what SAELens's forward computes.
 */
export function reconstructSae(w: SaeWeights, x: Float32Array): Float32Array {
  const tn = w.meta.inputNormalization as TokenNormalization | undefined;
  if (!tn || (tn as string) === 'none') return decodeSae(w, encodeSae(w, x));
  const n = normaliseTokens(tn, x, w.dIn);
  const y = decodeSae(w, encodeSae(w, n.x));
  const d = w.dIn;
  for (let t = 0; t < n.mean.length; t++) for (let j = 0; j < d; j++) y[t * d + j] = y[t * d + j]! * n.scale[t]! + n.mean[t]!;
  return y;
}

/** x̂ = c W_dec + b_dec for dense codes c [B, dSae]. */
export function decodeSae(w: SaeWeights, codes: Float32Array): Float32Array {
  const { dIn, dSae } = w;
  const B = codes.length / dSae;
  const out = new Float32Array(B * dIn);
  const acc = new Float64Array(dIn);
  for (let t = 0; t < B; t++) {
    for (let j = 0; j < dIn; j++) acc[j] = w.b_dec[j];
    for (let h = 0; h < dSae; h++) {
      const c = codes[t * dSae + h];
      if (c === 0) continue;
      const o = h * dIn;
      for (let j = 0; j < dIn; j++) acc[j] += c * w.W_dec[o + j];
    }
    for (let j = 0; j < dIn; j++) out[t * dIn + j] = acc[j];
  }
  return out;
}
