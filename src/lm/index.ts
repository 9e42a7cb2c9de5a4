/** Language models: the transformer runtime, its hook points, model files and tokenizers. */
export { Transformer, nextTokenLoss, pickToken, type KVCache, type ForwardOptions, type GenerateOptions } from './transformer.js';
export {
  resolveTransformerConfig, TransformerConfigError, type TransformerConfig, type TransformerConfigInput, type TransformerFamily,
  type NormKind, type PositionalKind, type MlpKind,
} from './config.js';
export {
  hookNames, checkHookNames, hookRowWidth, hookLayer, UnknownHookError, zeroAblation, meanAblation, patchActivation,
  type HookFn, type HookMap, type HookContext,
} from './hooks.js';
export { loadLanguageModel, loadAelabLm, saveAelabLm, hashFiles, type LoadedLanguageModel } from './load.js';
export { loadLlama2c, readLlama2cHeader, llama2cConfig, interleavedToHalf, LLAMA2C_MAGIC, type Llama2cHeader } from './llama2c.js';
export { loadGpt2, gpt2Config } from './gpt2.js';
export { loadLlama, llamaConfig } from './llama.js';
export {
  rmsNorm, rotary, rotaryTables, geluTanh, swiglu, attentionPattern, attentionMix, crossEntropyRows, type AttentionMask,
} from '../nn/transformer-ops.js';
