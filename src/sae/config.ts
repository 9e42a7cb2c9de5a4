/**
 * Typed, JSON-serialisable configurations of the five SAE architectures, their defaults, and
 * validation that names the offending field and value.
 *
 * A config is written by people (JSON file, CLI flags) as a `SaeConfigInput`: `architecture`,
 * `dIn` and `dSae` are required, everything else has a default. `resolveSaeConfig` fills the
 * defaults and validates, returning a `SaeConfig` in which every field is present, so a saved
 * config fully determines the model even if defaults change later.
 *
 * Shared fields (all architectures)
 *   dIn, dSae             input width d and number of latents H.
 *   normalisation         'none' | 'constant-norm' | 'layer-norm' | 'constant-norm-rescale' (see
 *                         base.ts; the last two are SAELens's per-token 'layer_norm' and
 *                         'constant_norm_rescale'). Default 'none', except 'constant-norm' for
 *                         standard, jumprelu and gated, whose penalty coefficients and thresholds
 *                         are in units of the normalised input.
 *   bDecInit              'zeros' | 'mean' | 'geometric-median': how initFromData sets b_dec.
 *   applyBDecToInput      subtract b_dec from the input before encoding (default true).
 *   unitNormDecoder       keep decoder rows at unit norm, removing the gradient's parallel
 *                         component before each step (default true).
 *   layerNormEps          ε of the per-token layer norm (default 1e-5).
 *   deadTokens            a latent is dead when it has not fired for this many tokens
 *                         (default 10_000_000, OpenAI/sparsify's window; the training config
 *                         shortens it to min(10M, 10% of the run) so AuxK acts in short runs).
 *   folded                set by foldNormalisation(): the constant input scale was folded into
 *                         the weights; such an SAE is for inference/export, not further training.
 */

export const SAE_ARCHITECTURES = ['standard', 'topk', 'batchtopk', 'jumprelu', 'matryoshka', 'gated', 'switch'] as const;
export type SaeArchitecture = (typeof SAE_ARCHITECTURES)[number];

export const INPUT_NORMALISATIONS = ['none', 'constant-norm', 'centred-norm', 'layer-norm', 'constant-norm-rescale'] as const;
export type InputNormalisation = (typeof INPUT_NORMALISATIONS)[number];

export const B_DEC_INITS = ['zeros', 'mean', 'geometric-median'] as const;
export type DecoderBiasInit = (typeof B_DEC_INITS)[number];

export interface SaeCommonConfig {
  dIn: number;
  dSae: number;
  normalisation: InputNormalisation;
  bDecInit: DecoderBiasInit;
  applyBDecToInput: boolean;
  unitNormDecoder: boolean;
  layerNormEps: number;
  deadTokens: number;
  folded: boolean;
}

/** ReLU SAE with the decoder-norm-weighted L1 penalty (SAELens "standard"). */
export interface StandardSaeConfig extends SaeCommonConfig {
  architecture: 'standard';
  /**
   * λ of λ·Σ_i z_i‖W_dec,i‖ (default 3, for the default centred-norm inputs, E‖x̃ − x̄̃‖ = √d; the
   * standard architecture defaults to normalisation 'centred-norm' so that this λ means the same
   * on any data: on raw inputs of norm ~1 it would zero every latent, and with 'constant-norm' a
   * mean offset shrinks the signal and λ with it — measured in docs/SAE.md "Defaults").
   */
  l1Coefficient: number;
  /** λ ramps linearly from 0 to its value over this many steps (default 0: no warm-up). */
  l1WarmupSteps: number;
}

/** Options of the AuxK dead-latent loss shared by the TopK family. */
export interface AuxKOptions {
  /** Coefficient of the AuxK loss (default 1/32; 0 disables it). */
  auxKCoefficient: number;
  /** Dead latents used to reconstruct the error (default ⌊dIn/2⌋). */
  kAux: number;
}

export interface TopKSaeConfig extends SaeCommonConfig, AuxKOptions {
  architecture: 'topk';
  /** Active latents per token. */
  k: number;
}

export interface BatchTopKSaeConfig extends SaeCommonConfig, AuxKOptions {
  architecture: 'batchtopk';
  /** Mean active latents per token: the batch keeps its B·k largest activations. */
  k: number;
  /** Decay β of the bias-corrected running average of the smallest kept activation that gives the inference threshold θ (default 0.99; see batchtopk.ts). */
  thresholdDecay: number;
}

/**
 * JumpReLU. Like standard and gated its default `normalisation` is 'centred-norm'
 * (E‖x̃ − x̄̃‖ = √d), which fixes the scale of the pre-activations: a unit encoder row that does not
 * match the token gets a projection of roughly N(0, 1), a matching feature several units. The
 * threshold and bandwidth defaults are in those units. The paper's (and SAELens's) θ₀ = ε = 0.001
 * only move far enough after ~10⁵ steps: Adam changes log θ by about lr per step, so from 0.001 a
 * 1,500-step run cannot raise θ above ~0.005 and L0 stays at half the latents whatever the L0
 * coefficient (measured: L0 114 of 512 at λ = 1 and λ = 30). θ₀ = 2 starts two standard deviations
 * above a non-matching projection (~2% of latents fire at the start, not half of them).
 */
export interface JumpReluSaeConfig extends SaeCommonConfig {
  architecture: 'jumprelu';
  /** Initial threshold θ (stored as log θ; default 2 in constant-norm units; the paper used 0.001). */
  initialThreshold: number;
  /** Rectangle-kernel bandwidth ε of the straight-through estimator (default 1; the paper used 0.001). */
  bandwidth: number;
  /** λ of the L0 penalty λ·E[Σ_i H(pre_i − θ_i)] (default 1). */
  l0Coefficient: number;
  /** λ ramps linearly from 0 over this many steps (default 0). */
  l0WarmupSteps: number;
  /** Coefficient of the pre-activation loss on dead latents (default 0: off). */
  preActCoefficient: number;
}

export interface MatryoshkaSaeConfig extends Omit<BatchTopKSaeConfig, 'architecture'> {
  architecture: 'matryoshka';
  /** Strictly increasing prefix sizes; the last must equal dSae (default [dSae/8, dSae/4, dSae/2, dSae] rounded). */
  prefixes: number[];
  /** How the per-prefix reconstruction losses combine: 'sum' (default) or 'mean'. */
  prefixReduction: 'sum' | 'mean';
}

/**
 * Gated SAE (Rajamanoharan et al. 2024, "Improving Dictionary Learning with Gated Sparse
 * Autoencoders"). One encoder direction per latent serves two paths (see gated.ts):
 *   gate  π_gate = (x̃ − b_dec) W_encᵀ + b_gate,      f_gate = H(π_gate)      (Heaviside)
 *   mag   π_mag  = exp(r_mag) ⊙ ((x̃ − b_dec) W_encᵀ) + b_mag,  f_mag = ReLU(π_mag)
 *   z = f_gate ⊙ f_mag
 *   loss = ‖x̃ − x̂‖² + λ Σ_i ReLU(π_gate,i) ‖W_dec,i‖ + c_aux ‖x̃ − (ReLU(π_gate) sg(W_dec) + sg(b_dec))‖²
 * (sg = stop-gradient: the auxiliary reconstruction goes through a frozen decoder).
 */
export interface GatedSaeConfig extends SaeCommonConfig {
  architecture: 'gated';
  /** λ of the gate L1 λ·Σ_i ReLU(π_gate,i)‖W_dec,i‖ (constant-norm units; see docs/SAE.md for how the default was chosen). */
  l1Coefficient: number;
  /** λ ramps linearly from 0 over this many steps (default 0). */
  l1WarmupSteps: number;
  /** Coefficient of the auxiliary reconstruction through the gating path (default 1, as the paper). */
  auxCoefficient: number;
}

/**
 * Switch SAE (Mudide et al. 2024, "Efficient dictionary learning with switch sparse autoencoders"):
 * a softmax router sends each token to one of `experts` TopK SAEs of dSae/experts latents each
 * (shared b_dec); see switch.ts. dSae must be divisible by experts, and k ≤ dSae/experts.
 */
export interface SwitchSaeConfig extends SaeCommonConfig {
  architecture: 'switch';
  /** Number of experts E (default 8). */
  experts: number;
  /** Active latents per token (within the chosen expert). */
  k: number;
  /** α of the load-balancing loss α·E·Σ_e f_e·P_e (default 0.01, as the paper). */
  loadBalanceCoefficient: number;
}

export type SaeConfig = StandardSaeConfig | TopKSaeConfig | BatchTopKSaeConfig | JumpReluSaeConfig | MatryoshkaSaeConfig | GatedSaeConfig | SwitchSaeConfig;

/** A config as a person writes it: architecture, dIn and dSae required, the rest optional. */
export type SaeConfigInput = { architecture: SaeArchitecture; dIn: number; dSae: number } & Partial<Omit<StandardSaeConfig, 'architecture'>> &
  Partial<Omit<TopKSaeConfig, 'architecture'>> & Partial<Omit<BatchTopKSaeConfig, 'architecture'>> &
  Partial<Omit<JumpReluSaeConfig, 'architecture'>> & Partial<Omit<MatryoshkaSaeConfig, 'architecture'>> &
  Partial<Omit<GatedSaeConfig, 'architecture'>> & Partial<Omit<SwitchSaeConfig, 'architecture'>>;

/** Thrown for an invalid config; `field` names the offending field. */
export class SaeConfigError extends Error {
  constructor(readonly field: string, message: string) {
    super(`SAE config: ${message}`);
    this.name = 'SaeConfigError';
  }
}

/** Default λ of the standard SAE's L1 (constant-norm units; chosen in docs/SAE.md "Defaults"). */
export const STANDARD_DEFAULT_L1 = 3;
/** Default λ of the gated SAE's gate L1 (constant-norm units; docs/SAE.md "Defaults"). */
export const GATED_DEFAULT_L1 = 6;

const COMMON_KEYS = ['architecture', 'dIn', 'dSae', 'normalisation', 'bDecInit', 'applyBDecToInput', 'unitNormDecoder', 'layerNormEps', 'deadTokens', 'folded'];
const KEYS: Record<SaeArchitecture, string[]> = {
  standard: [...COMMON_KEYS, 'l1Coefficient', 'l1WarmupSteps'],
  topk: [...COMMON_KEYS, 'k', 'auxKCoefficient', 'kAux'],
  batchtopk: [...COMMON_KEYS, 'k', 'auxKCoefficient', 'kAux', 'thresholdDecay'],
  jumprelu: [...COMMON_KEYS, 'initialThreshold', 'bandwidth', 'l0Coefficient', 'l0WarmupSteps', 'preActCoefficient'],
  matryoshka: [...COMMON_KEYS, 'k', 'auxKCoefficient', 'kAux', 'thresholdDecay', 'prefixes', 'prefixReduction'],
  gated: [...COMMON_KEYS, 'l1Coefficient', 'l1WarmupSteps', 'auxCoefficient'],
  switch: [...COMMON_KEYS, 'experts', 'k', 'loadBalanceCoefficient'],
};

/** The fields an architecture's config has (for CLIs and error messages). */
export function configKeys(architecture: SaeArchitecture): readonly string[] {
  return KEYS[architecture];
}

const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));

function posInt(c: Record<string, unknown>, f: string, max = Infinity): void {
  const v = c[f];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new SaeConfigError(f, `'${f}' must be an integer in [1, ${max}], got ${show(v)}`);
  }
}
function nonNegInt(c: Record<string, unknown>, f: string): void {
  const v = c[f];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new SaeConfigError(f, `'${f}' must be a non-negative integer, got ${show(v)}`);
}
function num(c: Record<string, unknown>, f: string, lo: number, hi: number, open: 'lo' | 'hi' | 'both' | 'none' = 'none'): void {
  const v = c[f];
  const okLo = typeof v === 'number' && (open === 'lo' || open === 'both' ? v > lo : v >= lo);
  const okHi = typeof v === 'number' && (open === 'hi' || open === 'both' ? v < hi : v <= hi);
  if (typeof v !== 'number' || !Number.isFinite(v) || !okLo || !okHi) {
    const l = open === 'lo' || open === 'both' ? '(' : '[', r = open === 'hi' || open === 'both' ? ')' : ']';
    throw new SaeConfigError(f, `'${f}' must be a finite number in ${l}${lo}, ${hi}${r}, got ${show(v)}`);
  }
}
function oneOf(c: Record<string, unknown>, f: string, allowed: readonly string[]): void {
  if (!allowed.includes(c[f] as string)) throw new SaeConfigError(f, `'${f}' must be one of ${allowed.map(show).join(', ')}, got ${show(c[f])}`);
}
function bool(c: Record<string, unknown>, f: string): void {
  if (typeof c[f] !== 'boolean') throw new SaeConfigError(f, `'${f}' must be true or false, got ${show(c[f])}`);
}

/** The default prefix list of a Matryoshka SAE: H/8, H/4, H/2, H (duplicates and zeros dropped). */
export function defaultPrefixes(dSae: number): number[] {
  const out: number[] = [];
  for (const m of [Math.round(dSae / 8), Math.round(dSae / 4), Math.round(dSae / 2), dSae]) if (m >= 1 && !out.includes(m)) out.push(m);
  return out;
}

/**
 * Fills defaults and validates. Throws SaeConfigError naming the field and its value for a wrong
 * type, an out-of-range value, or a field the architecture does not have (usually a typo).
 */
export function resolveSaeConfig(input: SaeConfigInput | Record<string, unknown>): SaeConfig {
  if (input === null || typeof input !== 'object') throw new SaeConfigError('', `expected an object, got ${show(input)}`);
  const raw = input as Record<string, unknown>;
  oneOf(raw, 'architecture', SAE_ARCHITECTURES);
  const arch = raw.architecture as SaeArchitecture;
  const allowed = KEYS[arch];
  for (const key of Object.keys(raw)) {
    if (raw[key] !== undefined && !allowed.includes(key)) {
      throw new SaeConfigError(key, `unknown field '${key}' for architecture '${arch}' (known: ${allowed.join(', ')})`);
    }
  }
  posInt(raw, 'dIn');
  posInt(raw, 'dSae');
  const dIn = raw.dIn as number, dSae = raw.dSae as number;
  const given = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  const common = {
    normalisation: 'none', bDecInit: 'geometric-median', applyBDecToInput: true, unitNormDecoder: true,
    layerNormEps: 1e-5, deadTokens: 10_000_000, folded: false,
  };
  const auxk = { auxKCoefficient: 1 / 32, kAux: Math.max(1, Math.min(dSae, Math.floor(dIn / 2))) };
  const perArch: Record<SaeArchitecture, Record<string, unknown>> = {
    // Standard, JumpReLU and gated default to centred-norm inputs (E‖x̃ − x̄̃‖ = √d), so that λ (and θ,
    // ε) have a fixed scale on any data, mean offset or not (docs/SAE.md "Defaults").
    standard: { normalisation: 'centred-norm', l1Coefficient: STANDARD_DEFAULT_L1, l1WarmupSteps: 0 },
    topk: { ...auxk },
    batchtopk: { ...auxk, thresholdDecay: 0.99 },
    jumprelu: { normalisation: 'centred-norm', initialThreshold: 2, bandwidth: 1, l0Coefficient: 1, l0WarmupSteps: 0, preActCoefficient: 0 },
    matryoshka: { ...auxk, thresholdDecay: 0.99, prefixes: defaultPrefixes(dSae), prefixReduction: 'sum' },
    gated: { normalisation: 'centred-norm', l1Coefficient: GATED_DEFAULT_L1, l1WarmupSteps: 0, auxCoefficient: 1 },
    switch: { experts: 8, loadBalanceCoefficient: 0.01 },
  };
  const c: Record<string, unknown> = { architecture: arch, dIn, dSae, ...common, ...perArch[arch], ...given };

  oneOf(c, 'normalisation', INPUT_NORMALISATIONS);
  oneOf(c, 'bDecInit', B_DEC_INITS);
  bool(c, 'applyBDecToInput');
  bool(c, 'unitNormDecoder');
  bool(c, 'folded');
  num(c, 'layerNormEps', 0, Infinity, 'lo');
  posInt(c, 'deadTokens');
  if (arch === 'standard' || arch === 'gated') {
    num(c, 'l1Coefficient', 0, Infinity);
    nonNegInt(c, 'l1WarmupSteps');
  }
  if (arch === 'gated') num(c, 'auxCoefficient', 0, Infinity);
  if (arch === 'topk' || arch === 'batchtopk' || arch === 'matryoshka') {
    if (c.k === undefined) throw new SaeConfigError('k', `'k' (active latents per token) is required for architecture '${arch}'`);
    posInt(c, 'k', dSae);
    num(c, 'auxKCoefficient', 0, Infinity);
    posInt(c, 'kAux', dSae);
  }
  if (arch === 'batchtopk' || arch === 'matryoshka') num(c, 'thresholdDecay', 0, 1, 'hi');
  if (arch === 'switch') {
    posInt(c, 'experts', dSae);
    if (dSae % (c.experts as number) !== 0) throw new SaeConfigError('experts', `'experts' must divide dSae = ${dSae} (each expert has dSae/experts latents), got ${show(c.experts)}`);
    if (c.k === undefined) throw new SaeConfigError('k', `'k' (active latents per token) is required for architecture 'switch'`);
    posInt(c, 'k', dSae / (c.experts as number));
    num(c, 'loadBalanceCoefficient', 0, Infinity);
  }
  if (arch === 'jumprelu') {
    num(c, 'initialThreshold', 0, Infinity, 'lo');
    num(c, 'bandwidth', 0, Infinity, 'lo');
    num(c, 'l0Coefficient', 0, Infinity);
    nonNegInt(c, 'l0WarmupSteps');
    num(c, 'preActCoefficient', 0, Infinity);
  }
  if (arch === 'matryoshka') {
    oneOf(c, 'prefixReduction', ['sum', 'mean']);
    const p = c.prefixes;
    if (!Array.isArray(p) || p.length === 0) throw new SaeConfigError('prefixes', `'prefixes' must be a non-empty array of sizes, got ${show(p)}`);
    p.forEach((m, i) => {
      if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > dSae) throw new SaeConfigError('prefixes', `'prefixes[${i}]' must be an integer in [1, ${dSae}], got ${show(m)}`);
      if (i > 0 && m <= p[i - 1]) throw new SaeConfigError('prefixes', `'prefixes' must be strictly increasing, got ${show(p)}`);
    });
    if (p[p.length - 1] !== dSae) throw new SaeConfigError('prefixes', `the last of 'prefixes' must equal dSae = ${dSae} (the full dictionary), got ${show(p)}`);
    c.prefixes = [...p];
  }
  return c as unknown as SaeConfig;
}
