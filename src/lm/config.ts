/**
 * The typed, JSON-serialisable configuration of aelab's decoder-only transformer. One config covers
 * the two families the runtime loads and trains:
 *   - 'gpt2':  LayerNorm, learned absolute positions, GELU (tanh approximation) MLP, biases on every
 *              projection, tied unembedding;
 *   - 'llama': RMSNorm, rotary positions (rotate_half layout), SwiGLU MLP, no biases, grouped-query
 *              attention, tied or untied unembedding (llama2.c checkpoints load as this family).
 * Any field may be set explicitly (e.g. a GPT-style model with rotary positions); `family` only
 * chooses the defaults.
 */
export type TransformerFamily = 'gpt2' | 'llama';
export type NormKind = 'layernorm' | 'rmsnorm';
export type PositionalKind = 'learned' | 'rotary';
export type MlpKind = 'gelu' | 'swiglu';

export interface TransformerConfig {
  family: TransformerFamily;
  vocabSize: number;
  /** Residual stream width D. */
  dModel: number;
  nLayers: number;
  /** Query heads H. */
  nHeads: number;
  /** Key/value heads Hkv (divides H; H / Hkv query heads share one kv head). */
  nKvHeads: number;
  /** Head width dh (H·dh need not equal D). */
  dHead: number;
  /** MLP hidden width. */
  dMlp: number;
  /** Longest sequence the model accepts (rows of the position table / rotary tables). */
  nCtx: number;
  norm: NormKind;
  normEps: number;
  positional: PositionalKind;
  /** Rotary base θ (rotary only). */
  ropeTheta: number;
  mlp: MlpKind;
  /** Biases on q/k/v/o projections. */
  attnBias: boolean;
  /** Biases on the MLP projections (and the norms' shift for LayerNorm). */
  mlpBias: boolean;
  /** Unembedding shares the token embedding matrix. */
  tiedEmbeddings: boolean;
  bosId: number | null;
  eosId: number | null;
}

export type TransformerConfigInput = Partial<TransformerConfig> & Pick<TransformerConfig, 'vocabSize' | 'dModel' | 'nLayers' | 'nHeads'>;

export class TransformerConfigError extends Error {
  constructor(readonly field: string, message: string) {
    super(`transformer config: ${field}: ${message}`);
    this.name = 'TransformerConfigError';
  }
}

function posInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new TransformerConfigError(field, `must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** Fills the family's defaults and checks every field. */
export function resolveTransformerConfig(input: TransformerConfigInput): TransformerConfig {
  const family: TransformerFamily = input.family ?? 'gpt2';
  if (family !== 'gpt2' && family !== 'llama') throw new TransformerConfigError('family', `must be 'gpt2' or 'llama', got ${JSON.stringify(family)}`);
  const gpt = family === 'gpt2';
  const dModel = posInt('dModel', input.dModel);
  const nHeads = posInt('nHeads', input.nHeads);
  const cfg: TransformerConfig = {
    family,
    vocabSize: posInt('vocabSize', input.vocabSize),
    dModel,
    nLayers: posInt('nLayers', input.nLayers),
    nHeads,
    nKvHeads: posInt('nKvHeads', input.nKvHeads ?? nHeads),
    dHead: posInt('dHead', input.dHead ?? dModel / nHeads),
    dMlp: posInt('dMlp', input.dMlp ?? 4 * dModel),
    nCtx: posInt('nCtx', input.nCtx ?? 1024),
    norm: input.norm ?? (gpt ? 'layernorm' : 'rmsnorm'),
    normEps: input.normEps ?? (gpt ? 1e-5 : 1e-6),
    positional: input.positional ?? (gpt ? 'learned' : 'rotary'),
    ropeTheta: input.ropeTheta ?? 10000,
    mlp: input.mlp ?? (gpt ? 'gelu' : 'swiglu'),
    attnBias: input.attnBias ?? gpt,
    mlpBias: input.mlpBias ?? gpt,
    tiedEmbeddings: input.tiedEmbeddings ?? gpt,
    bosId: input.bosId ?? null,
    eosId: input.eosId ?? null,
  };
  if (cfg.nHeads % cfg.nKvHeads !== 0) throw new TransformerConfigError('nKvHeads', `${cfg.nKvHeads} does not divide nHeads ${cfg.nHeads}`);
  if (cfg.norm !== 'layernorm' && cfg.norm !== 'rmsnorm') throw new TransformerConfigError('norm', `must be 'layernorm' or 'rmsnorm', got ${JSON.stringify(cfg.norm)}`);
  if (cfg.positional !== 'learned' && cfg.positional !== 'rotary') throw new TransformerConfigError('positional', `must be 'learned' or 'rotary', got ${JSON.stringify(cfg.positional)}`);
  if (cfg.mlp !== 'gelu' && cfg.mlp !== 'swiglu') throw new TransformerConfigError('mlp', `must be 'gelu' or 'swiglu', got ${JSON.stringify(cfg.mlp)}`);
  if (cfg.positional === 'rotary' && cfg.dHead % 2 !== 0) throw new TransformerConfigError('dHead', `must be even for rotary positions, got ${cfg.dHead}`);
  if (!(cfg.normEps > 0)) throw new TransformerConfigError('normEps', `must be > 0, got ${cfg.normEps}`);
  if (!(cfg.ropeTheta > 0)) throw new TransformerConfigError('ropeTheta', `must be > 0, got ${cfg.ropeTheta}`);
  for (const f of ['bosId', 'eosId'] as const) {
    const v = cfg[f];
    if (v !== null && !(Number.isInteger(v) && v >= 0 && v < cfg.vocabSize)) throw new TransformerConfigError(f, `must be a token id below vocabSize ${cfg.vocabSize}, got ${v}`);
  }
  return cfg;
}
