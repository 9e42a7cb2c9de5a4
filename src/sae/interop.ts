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

export type SaeArch = 'relu' | 'topk' | 'batchtopk' | 'jumprelu';
export type SaeFormat = 'saelens' | 'sparsify';

export interface SaeWeights {
  arch: SaeArch;
  dIn: number;
  dSae: number;
  /** Active latents per token (topk, batchtopk). */
  k?: number;
  /** [dSae, dIn]: row h is latent h's encoder direction. */
  W_enc: Float32Array;
  /** [dSae] */
  b_enc: Float32Array;
  /** [dSae, dIn] */
  W_dec: Float32Array;
  /** [dIn] */
  b_dec: Float32Array;
  /** [dSae], JumpReLU / BatchTopK inference threshold. */
  threshold?: Float32Array;
  /** Whether b_dec is subtracted from the input before encoding (SAELens option; sparsify always does). */
  applyBDecToInput: boolean;
  /** Everything else: the original cfg.json under `saelens` / `sparsify`, the source format, … */
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
export const SAELENS_ARCHITECTURES = ['standard', 'topk', 'jumprelu', 'batchtopk'] as const;

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
export function loadSae(dir: string, format?: SaeFormat): SaeWeights {
  const f = format ?? detectSaeFormat(dir);
  return f === 'saelens' ? loadSaeLens(dir) : loadSparsify(dir);
}

/** Saves in the given format. */
export function saveSae(dir: string, w: SaeWeights, format: SaeFormat, opts: SaveOptions = {}): void {
  if (format === 'saelens') saveSaeLens(dir, w, opts);
  else saveSparsify(dir, w, opts);
}

// ---- SAELens ----

export function loadSaeLens(dir: string): SaeWeights {
  const cfgPath = join(dir, 'cfg.json');
  const wPath = join(dir, SAELENS_WEIGHTS);
  const cfg = readJson(cfgPath);
  const { tensors, metadata } = readSafetensors(wPath);
  const dIn = posInt(cfgPath, cfg.d_in, 'd_in');
  const dSae = posInt(cfgPath, cfg.d_sae, 'd_sae');
  const kwargs = (cfg.activation_fn_kwargs ?? {}) as Record<string, unknown>;
  const archRaw = cfg.architecture ?? 'standard';
  const archName = String(archRaw);
  if (typeof archRaw !== 'string' || !(SAELENS_ARCHITECTURES as readonly string[]).includes(archName)) {
    throw new FormatError(cfgPath, 'architecture', `unsupported SAELens architecture ${typeof archRaw === 'string' ? `'${archRaw}'` : JSON.stringify(archRaw)} (supported: ${SAELENS_ARCHITECTURES.join(', ')})`);
  }
  let arch: SaeArch;
  if (archName === 'jumprelu') arch = 'jumprelu';
  else if (archName === 'batchtopk') arch = 'batchtopk';
  // Older SAELens configs mark TopK SAEs as 'standard' with a topk activation function.
  else if (archName === 'topk' || cfg.activation_fn_str === 'topk' || cfg.activation_fn === 'topk') arch = 'topk';
  else arch = 'relu';
  // BatchTopK SAEs we wrote are saved as JumpReLU; the safetensors metadata remembers the original.
  if (arch === 'jumprelu' && metadata.aelab_arch === 'batchtopk') arch = 'batchtopk';
  const kRaw = cfg.k ?? kwargs.k ?? metadata.aelab_k;
  const k = kRaw === undefined || kRaw === null ? undefined : posInt(cfgPath, typeof kRaw === 'string' ? Number(kRaw) : kRaw, 'k');
  if (arch === 'topk' && k === undefined) throw new FormatError(cfgPath, 'k', 'topk architecture needs k (activation_fn_kwargs.k or k)');
  const W_enc = transpose(tensor(wPath, tensors, 'W_enc', [dIn, dSae]), dIn, dSae);
  const w: SaeWeights = {
    arch,
    dIn,
    dSae,
    ...(k !== undefined && (arch === 'topk' || arch === 'batchtopk') ? { k } : {}),
    W_enc,
    b_enc: tensor(wPath, tensors, 'b_enc', [dSae]),
    W_dec: tensor(wPath, tensors, 'W_dec', [dSae, dIn]),
    b_dec: tensor(wPath, tensors, 'b_dec', [dIn]),
    applyBDecToInput: cfg.apply_b_dec_to_input === undefined ? true : Boolean(cfg.apply_b_dec_to_input),
    meta: { format: 'saelens', saelens: cfg },
  };
  if (arch === 'jumprelu' || arch === 'batchtopk') {
    if (tensors.has('threshold')) w.threshold = tensor(wPath, tensors, 'threshold', [dSae]);
    else if (tensors.has('log_threshold')) w.threshold = tensor(wPath, tensors, 'log_threshold', [dSae]).map(Math.exp);
    else throw new FormatError(wPath, 'tensor', `${archName} SAE needs a 'threshold' tensor (found: ${[...tensors.keys()].join(', ')})`);
  }
  const norm = cfg.normalize_activations;
  if (norm !== undefined && norm !== null && norm !== 'none') {
    // The weights alone do not reproduce the SAE on raw inputs; record it so callers can warn.
    w.meta.inputNormalization = norm;
  }
  return w;
}

export function saveSaeLens(dir: string, w: SaeWeights, opts: SaveOptions = {}): void {
  checkWeights(w);
  mkdirSync(dir, { recursive: true });
  const { dIn, dSae } = w;
  const tensors: Record<string, ArrayData> = {
    W_enc: { dtype: 'float32', shape: [dIn, dSae], data: transpose(w.W_enc, dSae, dIn) },
    W_dec: { dtype: 'float32', shape: [dSae, dIn], data: w.W_dec },
    b_enc: { dtype: 'float32', shape: [dSae], data: w.b_enc },
    b_dec: { dtype: 'float32', shape: [dIn], data: w.b_dec },
  };
  const metadata: Record<string, string> = { format: 'pt', aelab_arch: w.arch };
  if (w.k !== undefined) metadata.aelab_k = String(w.k);
  if (w.arch === 'jumprelu' || w.arch === 'batchtopk') {
    if (!w.threshold) throw new TypeError(`saveSaeLens: a ${w.arch} SAE needs a threshold to be saved as SAELens jumprelu`);
    tensors.threshold = { dtype: 'float32', shape: [dSae], data: w.threshold };
  }
  writeSafetensors(join(dir, SAELENS_WEIGHTS), tensors, metadata, { floatDtype: opts.dtype ?? 'F32' });
  const prev = (w.meta.saelens ?? {}) as Record<string, unknown>;
  const architecture = w.arch === 'relu' ? 'standard' : w.arch === 'topk' ? 'topk' : 'jumprelu';
  const cfg: Record<string, unknown> = {
    ...prev,
    architecture,
    d_in: dIn,
    d_sae: dSae,
    dtype: opts.dtype === 'F16' ? 'float16' : opts.dtype === 'BF16' ? 'bfloat16' : 'float32',
    device: prev.device ?? 'cpu',
    apply_b_dec_to_input: w.applyBDecToInput,
    normalize_activations: prev.normalize_activations ?? 'none',
    activation_fn_kwargs: w.arch === 'topk' ? { ...((prev.activation_fn_kwargs as object) ?? {}), k: w.k } : {},
  };
  if (w.arch === 'topk') {
    cfg.k = w.k;
    cfg.activation_fn_str = 'topk';
  } else {
    delete cfg.k;
    cfg.activation_fn_str = 'relu';
  }
  for (const key of ['hook_name', 'model_name'] as const) if (cfg[key] === undefined && w.meta[key] !== undefined) cfg[key] = w.meta[key];
  writeFileAtomic(join(dir, 'cfg.json'), [new TextEncoder().encode(JSON.stringify(cfg, null, 2) + '\n')]);
}

// ---- sparsify ----

export function loadSparsify(dir: string): SaeWeights {
  const cfgPath = join(dir, 'cfg.json');
  const wPath = join(dir, SPARSIFY_WEIGHTS);
  const cfg = readJson(cfgPath);
  const { tensors } = readSafetensors(wPath);
  if (cfg.transcode === true || cfg.skip_connection === true || tensors.has('W_skip')) {
    throw new FormatError(cfgPath, 'cfg', 'sparsify transcoders / skip connections are not supported (only plain TopK SAEs)');
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
    throw new TypeError(`saveSparsify: sparsify stores TopK SAEs only; this SAE is '${w.arch}'${w.arch === 'batchtopk' ? ' (its threshold inference has no sparsify form; save as SAELens)' : ''}`);
  }
  if (!w.applyBDecToInput) {
    throw new TypeError('saveSparsify: sparsify always subtracts b_dec from the input; this SAE does not (apply_b_dec_to_input = false)');
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
    if (w.arch === 'relu') {
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
