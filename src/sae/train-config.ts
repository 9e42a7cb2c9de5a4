/**
 * The SAE training configuration: one flat JSON object (file and/or CLI flags) holding the training
 * keys below plus any SAE config key (architecture, k, l1Coefficient, normalisation …, see
 * config.ts), resolved and validated into a SaeTrainConfig. Every error names the field and value.
 * Defaults that depend on the run's length (warm-up, decay, evaluation and checkpoint intervals)
 * are computed here, so the trainer only reads resolved numbers.
 */
import { ENCODER_DTYPES, type EncoderDtype } from '../core/ops/bf16.js';
import { TOPK_SCREEN_MODES, type TopkScreenMode } from '../core/ops/sparse.js';
import { SAE_ARCHITECTURES, configKeys, resolveSaeConfig, type SaeArchitecture, type SaeConfig } from './config.js';

/** The training keys of a config (everything else is an SAE config key). */
export interface SaeTrainSettings {
  /** Activations: .npy, .safetensors or a directory of shards (null when a source is passed in). */
  data: string | null;
  /** Tensor name inside .safetensors files. */
  tensor: string | null;
  /** Training tokens (rows); steps = ⌈tokens / batchSize⌉. */
  tokens: number;
  batchSize: number;
  /** Peak learning rate (Adam). Default 2e-4 / √(dSae / 16384), sparsify's width scaling (5× that for standard, jumprelu, gated: defaultLearningRate). */
  lr: number;
  /** Linear warm-up steps from lr/lrWarmupSteps to lr. Default min(1000, 2% of steps). */
  lrWarmupSteps: number;
  /** Linear decay to 0 over the final steps. Default 20% of steps. */
  lrDecaySteps: number;
  seed: number;
  /** Fraction of rows held out (from the end) for validation. Default 0.05. */
  valFraction: number;
  /** At most this many validation rows are evaluated. Default 16384. */
  valTokens: number;
  /** Validation metrics every this many tokens (0: only at the end). Default tokens / 10. */
  evalEveryTokens: number;
  /** A train line in metrics.jsonl every this many steps. Default 50. */
  logEverySteps: number;
  /** Checkpoint every this many tokens (0: only at the end). Default tokens / 10. */
  checkpointEveryTokens: number;
  /** Shuffle-buffer rows. Default 65536. */
  bufferRows: number;
  /** Rows sampled to initialise b_dec and the input scale. Default 4096. */
  initRows: number;
  /** Latents per input dimension when dSae is not given. Default 8. */
  expansion: number;
  /**
   * Arithmetic of the encoder GEMM in the training step: 'f32' (default) or 'bf16' (bf16 operands,
   * float32 sums; the backward, the weights and the saved SAE stay float32). bf16 needs a CPU with
   * AMX-BF16 or AVX512-BF16 (the trainer refuses it elsewhere, naming the missing feature), and the
   * switch architecture does not take it. Measured in docs/SAE.md "bf16 encoder".
   */
  encoderDtype: EncoderDtype;
  /**
   * TopK and BatchTopK (Matryoshka keeps its dense path): whether the float32 encoder finds each token's top k through the bf16
   * screen ('auto' default: where the CPU's bf16 kernel beats float32, i.e. AMX, or AVX512-BF16 on AMD; 'on';
   * 'off'). The screen gives the same latents and float32 values as the plain GEMM (docs/SAE.md "Screened
   * TopK encoder"), so a run may resume with a different setting.
   */
  topkScreen: TopkScreenMode;
}

export interface SaeTrainConfig extends SaeTrainSettings {
  sae: SaeConfig;
}

const TRAIN_KEYS: readonly (keyof SaeTrainSettings)[] = [
  'data', 'tensor', 'tokens', 'batchSize', 'lr', 'lrWarmupSteps', 'lrDecaySteps', 'seed', 'valFraction', 'valTokens',
  'evalEveryTokens', 'logEverySteps', 'checkpointEveryTokens', 'bufferRows', 'initRows', 'expansion', 'encoderDtype',
  'topkScreen',
];

/** A bad training configuration; `field` names the offending key. */
export class TrainConfigError extends Error {
  constructor(readonly field: string, message: string) {
    super(`training config: ${message}`);
    this.name = 'TrainConfigError';
  }
}

const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));

function need(raw: Record<string, unknown>, f: string, ok: (v: number) => boolean, what: string): number {
  const v = raw[f];
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new TrainConfigError(f, `'${f}' must be ${what}, got ${show(v)}`);
  return v;
}
const isInt = (v: number) => Number.isSafeInteger(v);

/**
 * Resolves a flat config (training keys + SAE keys) into a full SaeTrainConfig. `dataDIn` is the
 * width of the activation data when known; dIn defaults to it and must match it when both are given.
 */
export function resolveTrainConfig(input: Record<string, unknown>, dataDIn?: number): SaeTrainConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new TrainConfigError('', `expected a JSON object, got ${show(input)}`);
  const raw: Record<string, unknown> = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const arch = raw.architecture;
  if (!SAE_ARCHITECTURES.includes(arch as SaeArchitecture)) {
    throw new TrainConfigError('architecture', `'architecture' must be one of ${SAE_ARCHITECTURES.map(show).join(', ')}, got ${show(arch)}`);
  }
  const saeKeys = configKeys(arch as SaeArchitecture);
  for (const key of Object.keys(raw)) {
    if (!saeKeys.includes(key) && !(TRAIN_KEYS as readonly string[]).includes(key)) {
      throw new TrainConfigError(key, `unknown field '${key}' (training keys: ${TRAIN_KEYS.join(', ')}; SAE keys for '${arch}': ${saeKeys.join(', ')})`);
    }
  }
  for (const f of ['data', 'tensor']) if (raw[f] !== undefined && raw[f] !== null && typeof raw[f] !== 'string') throw new TrainConfigError(f, `'${f}' must be a string, got ${show(raw[f])}`);
  let dIn = raw.dIn;
  if (dIn === undefined) {
    if (dataDIn === undefined) throw new TrainConfigError('dIn', `'dIn' is required when there is no data to take it from`);
    dIn = dataDIn;
  }
  need({ dIn }, 'dIn', (v) => isInt(v) && v >= 1, 'a positive integer');
  if (dataDIn !== undefined && dIn !== dataDIn) throw new TrainConfigError('dIn', `'dIn' is ${show(dIn)} but the activation data has d_in = ${dataDIn}`);
  const expansion = raw.expansion ?? 8;
  need({ expansion }, 'expansion', (v) => v > 0, 'a positive number');
  const dSae = raw.dSae ?? Math.round((expansion as number) * (dIn as number));
  const tokens = need(raw, 'tokens', (v) => isInt(v) && v >= 1, 'a positive integer (training tokens)');
  const batchSize = need({ batchSize: raw.batchSize ?? 4096, ...raw }, 'batchSize', (v) => isInt(v) && v >= 1, 'a positive integer');
  const steps = Math.ceil(tokens / batchSize);

  const saeInput: Record<string, unknown> = { dIn, dSae };
  for (const k of saeKeys) if (k in raw && k !== 'dIn' && k !== 'dSae') saeInput[k] = raw[k];
  if ((arch === 'standard' || arch === 'gated') && saeInput.l1WarmupSteps === undefined) saeInput.l1WarmupSteps = Math.round(0.05 * steps);
  // The dead-latent window scales with the run, so AuxK (and JumpReLU's pre-activation loss) act in
  // short runs: min(10M tokens, 10% of the run, at least one batch).
  if (saeInput.deadTokens === undefined) saeInput.deadTokens = defaultDeadTokens(tokens, batchSize);
  let sae: SaeConfig;
  try {
    sae = resolveSaeConfig(saeInput as Record<string, unknown>);
  } catch (e) {
    const f = (e as { field?: string }).field;
    throw f !== undefined ? new TrainConfigError(f, (e as Error).message.replace(/^SAE config: /, '')) : e;
  }
  const d = { ...raw };
  const def = <T>(k: string, v: T) => (d[k] === undefined ? v : d[k]);
  const c: SaeTrainConfig = {
    data: (raw.data as string | undefined) ?? null,
    tensor: (raw.tensor as string | undefined) ?? null,
    tokens,
    batchSize,
    lr: need({ lr: def('lr', defaultLearningRate(sae.architecture, sae.dSae)) }, 'lr', (v) => v > 0, 'a positive number'),
    lrWarmupSteps: need({ lrWarmupSteps: def('lrWarmupSteps', Math.min(1000, Math.round(0.02 * steps))) }, 'lrWarmupSteps', (v) => isInt(v) && v >= 0, 'a non-negative integer'),
    lrDecaySteps: need({ lrDecaySteps: def('lrDecaySteps', Math.round(0.2 * steps)) }, 'lrDecaySteps', (v) => isInt(v) && v >= 0, 'a non-negative integer'),
    seed: need({ seed: def('seed', 0) }, 'seed', (v) => isInt(v) && v >= 0, 'a non-negative integer'),
    valFraction: need({ valFraction: def('valFraction', 0.05) }, 'valFraction', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    valTokens: need({ valTokens: def('valTokens', 16384) }, 'valTokens', (v) => isInt(v) && v >= 0, 'a non-negative integer'),
    evalEveryTokens: need({ evalEveryTokens: def('evalEveryTokens', Math.ceil(tokens / 10)) }, 'evalEveryTokens', (v) => isInt(v) && v >= 0, 'a non-negative integer'),
    logEverySteps: need({ logEverySteps: def('logEverySteps', 50) }, 'logEverySteps', (v) => isInt(v) && v >= 1, 'a positive integer'),
    checkpointEveryTokens: need({ checkpointEveryTokens: def('checkpointEveryTokens', Math.ceil(tokens / 10)) }, 'checkpointEveryTokens', (v) => isInt(v) && v >= 0, 'a non-negative integer'),
    bufferRows: need({ bufferRows: def('bufferRows', 65536) }, 'bufferRows', (v) => isInt(v) && v >= 1, 'a positive integer'),
    initRows: need({ initRows: def('initRows', 4096) }, 'initRows', (v) => isInt(v) && v >= 1, 'a positive integer'),
    expansion: expansion as number,
    encoderDtype: def('encoderDtype', 'f32') as EncoderDtype,
    topkScreen: def('topkScreen', 'auto') as TopkScreenMode,
    sae,
  };
  if (!TOPK_SCREEN_MODES.includes(c.topkScreen)) {
    throw new TrainConfigError('topkScreen', `'topkScreen' must be one of ${TOPK_SCREEN_MODES.map(show).join(', ')}, got ${show(c.topkScreen)}`);
  }
  if (!ENCODER_DTYPES.includes(c.encoderDtype)) {
    throw new TrainConfigError('encoderDtype', `'encoderDtype' must be one of ${ENCODER_DTYPES.map(show).join(', ')}, got ${show(c.encoderDtype)}`);
  }
  if (c.encoderDtype === 'bf16' && sae.architecture === 'switch') {
    throw new TrainConfigError('encoderDtype', `'encoderDtype' 'bf16' is not supported by the switch architecture (its experts' encoders run per routed group); use 'f32'`);
  }
  if (c.lrWarmupSteps + c.lrDecaySteps > steps) {
    throw new TrainConfigError('lrDecaySteps', `'lrWarmupSteps' + 'lrDecaySteps' (${c.lrWarmupSteps} + ${c.lrDecaySteps}) exceed the ${steps} training steps`);
  }
  return c;
}

/**
 * The default peak learning rate: sparsify's 2e-4 / √(H / 16384) for the TopK family, and 5× that
 * for the penalty-based architectures (standard, jumprelu, gated), whose codes must also learn
 * their own sparsity: at 300k–1M tokens the lower rate left them at FVU 0.6–0.7 (docs/SAE.md
 * "Defaults" has the measurements).
 */
export function defaultLearningRate(architecture: SaeArchitecture, dSae: number): number {
  const base = 2e-4 / Math.sqrt(dSae / 16384);
  return architecture === 'standard' || architecture === 'jumprelu' || architecture === 'gated' ? 5 * base : base;
}

/** The default dead-latent window: min(10M tokens, 10% of the run), at least one batch. */
export function defaultDeadTokens(tokens: number, batchSize: number): number {
  return Math.max(batchSize, Math.min(10_000_000, Math.ceil(0.1 * tokens)));
}

/** Learning rate at a step: linear warm-up, constant, then linear decay to 0 over the last steps. */
export function learningRate(step: number, c: Pick<SaeTrainConfig, 'lr' | 'lrWarmupSteps' | 'lrDecaySteps'>, steps: number): number {
  let f = 1;
  if (c.lrWarmupSteps > 0 && step < c.lrWarmupSteps) f = (step + 1) / c.lrWarmupSteps;
  const decayStart = steps - c.lrDecaySteps;
  if (c.lrDecaySteps > 0 && step >= decayStart) f = Math.min(f, (steps - step) / c.lrDecaySteps);
  return c.lr * f;
}
