/** Autoencoder model families and model files (the training loop is in src/train, the detectors in src/tasks). */
export {
  AutoEncoder, Flatten, Unflatten, buildConvPair, mlpStack, convSides, checkAutoEncoderConfig, sumPerSample,
  type AutoEncoderConfig, type MLPAutoEncoderConfig, type ConvAutoEncoderConfig, type ReconstructionLoss,
} from './autoencoder.js';
export { DenoisingAutoEncoder, corrupt, gaussianNoise, maskingNoise, saltAndPepper, type Corruption, type DenoisingAutoEncoderConfig } from './denoising.js';
export { StackedAutoEncoder, encodeDataset, type StackedAutoEncoderConfig, type LayerPretrainResult } from './stacked.js';
export { VAE, checkVAEConfig, logSumExp64, type VAEConfig, type VAELossTerms } from './vae.js';
export { ARDVAE, type ARDVAEConfig } from './ardvae.js';
export { PrototypeNetwork, type PrototypeNetworkConfig, type PrototypeLossTerms, type Explanation } from './prototype.js';
export { StackVAEG, type StackVAEGConfig, type StackVAEGTerms } from './stackvaeg.js';
export { MAE, checkMAEConfig, maskedGrid, maeRunSetup, maeSampleGrid, type MAERunOptions, type MAEConfig, type MAEOutput } from './mae.js';
export {
  randomMasking, blockMasking, tubeMasking, runningCellMasking, colorNoiseMasking, imageMasking, maskFromScores, filterNoise, colorFilter, keepCount,
  MASK_KINDS, CELL_ORDER, type PatchMask, type MaskKind, type NoiseColor,
} from './masking.js';
export {
  WaLLoC, checkWaLLoCConfig, wallocRunSetup, wallocSummary, imageTensorFromPng, imageBytes, psnr, HEADER_BYTES as AELC_HEADER_BYTES,
  type WaLLoCConfig, type WaLLoCOutput, type WaLLoCLossTerms, type WaLLoCRunOptions,
} from './walloc.js';
export { CAE, CrossAttentionBlock, checkCAEConfig, maskedIndices, caeRunSetup, type CAEConfig, type CAEOutput } from './cae.js';
export { DeepLinearSSL, type DeepLinearConfig, type ViewMoments, type SSLObjective } from './jepa.js';
export { VideoMAE, TubeletEmbed, tubelets, sincosPosEmbed1d, decoderTargets, videoMaeRunSetup, type VideoMAEConfig, type DecoderTargets, type VideoMAERunOptions } from './videomae.js';
export { SlabViT, runSlabComparison, slabMethodRow, slabLatency, SLAB_BUDGETS, type SlabViTConfig, type SlabComparisonOptions, type SlabComparison, type SlabVariantResult } from './slab-vit.js';
export { NoProp, NoPropBlock, noPropSchedule, type NoPropConfig, type NoPropSchedule } from './noprop.js';
export { saveModel, loadModel, MODEL_TYPES, type ModelType, type AnyModel, type SavableModel } from './io.js';
