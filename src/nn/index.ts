/** Neural-network building blocks: the Module base, initialisers, layers and attention. */
export { Module, param, buffer, isBuffer, type Layer, type LoadStateDictOptions, type LoadStateDictResult } from './module.js';
export * as init from './init.js';
export {
  Linear, Conv2d, ConvTranspose2d, LayerNorm, BatchNorm1d, Embedding, Dropout, ActivationLayer, Sequential, MLP,
  activationFn, type Activation, type LinearOptions, type Conv2dOptions, type ConvTranspose2dOptions,
  type LayerNormOptions, type BatchNormOptions, type MLPOptions,
} from './layers.js';
export {
  MultiHeadAttention, TransformerBlock, type AttentionOptions, type MultiHeadAttentionOptions, type TransformerBlockOptions,
} from './attention.js';
export {
  SimplifiedLinearAttention, PRepBN, RepBN, SlabBlock, linearAttention, quadraticLinearAttention, depthwiseConvTokens, prepbnGamma, foldRepBN,
  type SimplifiedLinearAttentionOptions, type PRepBNOptions, type SlabBlockOptions,
} from './slab.js';
export {
  CausalConv3d, TemporalResidual, FrameUpsample2d, causalConv3d, gatherFrames, timeShuffleUp, causalFrames, causalTapIndex, type CausalConv3dOptions,
} from './causal-conv.js';
