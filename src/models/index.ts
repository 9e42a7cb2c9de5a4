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
export { ConvCodec, checkConvCodecConfig, type ConvCodecConfig } from './conv-codec.js';
export { CAE, CrossAttentionBlock, checkCAEConfig, maskedIndices, caeRunSetup, type CAEConfig, type CAEOutput } from './cae.js';
export { MixedAE, checkMixedAEConfig, mixImages, mixWithAssignment, topKAttentionMask, homologousContrastiveLoss, mixedaeRunSetup, mixedaeSampleGrid, type MixedAEConfig, type MixedAEOutput, type MixedBatch } from './mixedae.js';
export {
  MultiMAE, MultiMAEDecoder, checkMultiMAEConfig, multimodalMasking, modalityMask, dirichletSample, visibleCounts, multimaeGrid, multimaeRunSetup, multimaeSampleGrid,
  type MultiMAEConfig, type MultiMAEModality, type MultiMAEOutput, type MultiMAERunOptions,
} from './multimae.js';
export { DeepLinearSSL, type DeepLinearConfig, type ViewMoments, type SSLObjective } from './jepa.js';
export {
  VideoMAE, TubeletEmbed, tubelets, untubelets, sincosPosEmbed1d, decoderTargets, videoMaeRunSetup, videoReconstructMasked, videoMaskedGrid, videoMaeSampleGrid,
  type VideoMAEConfig, type DecoderTargets, type VideoMAERunOptions,
} from './videomae.js';
export { ViTClassifier, type ViTClassifierConfig } from './vit-classifier.js';
export { SlabViT, runSlabComparison, slabMethodRow, slabLatency, SLAB_BUDGETS, type SlabViTConfig, type SlabComparisonOptions, type SlabComparison, type SlabVariantResult } from './slab-vit.js';
export { NoProp, NoPropBlock, noPropSchedule, type NoPropConfig, type NoPropSchedule } from './noprop.js';
export { FitClassifier, FullAttentionClassifier, FitBlock, FitCrossAttention, runFitComparison, fitScaling, fitMethodRow, matchedDepth, stepSeconds, sequenceAccuracy, FIT_BUDGETS, type FitConfig, type FullAttentionConfig, type FitComparisonOptions, type FitComparison, type FitScalingPoint } from './fit.js';
export { StarbucksEncoder, brownRetrievalData, dropWords, mrrAt10, runStarbucksComparison, starbucksMethodRow, STARBUCKS_BUDGETS, type StarbucksConfig, type StarbucksMode, type StarbucksComparisonOptions, type StarbucksComparison, type StarbucksScheme, type RetrievalData, type RetrievalDataOptions } from './starbucks.js';
export { Met2Net, Met2NetTrainer, LinearForecaster, trainMet2Net, trainLinearForecaster, coupledOscillators, forecastWindows, forecastMsePerVariable, compareForecasters, runMet2NetComparison, met2netMethodRow, MET2NET_BUDGETS, type Met2NetConfig, type Met2NetTraining, type Met2NetComparisonOptions, type ForecastResult, type ForecastTrainOptions } from './met2net.js';
export { EarlyExitNet, ConvertingAE, conversionTargets, rotateImage, hardVariant, runCBNetVariant, runCBNetComparison, cbnetMethodRow, CBNET_BUDGETS, type EarlyExitConfig, type ConvertingAEConfig, type CBNetComparisonOptions, type CBNetVariantResult } from './cbnet.js';
export { EcoM2F, exitWeight, meanIoU, depthQuality, depthTargets, trainStochasticDepth, trainGate, runEcoM2FComparison, ecoM2FMethodRow, ecoM2FLatency, ECO_M2F_BUDGETS, type EcoM2FConfig, type EcoTrainOptions, type EcoM2FComparisonOptions, type EcoM2FComparison } from './eco-m2f.js';
export { hyperZZW, hyperZZW1d, localHyperZZW, correlateSame, SlowKernelNet, TerminatorBlock, Terminator, ResNetLite, resNetLiteParams, matchedResNetChannels, downsampleMnist, runHyperZZWComparison, hyperZZWMethodRow, hyperZZW1dMethodRow, HYPERZZW_BUDGETS, type TerminatorConfig, type TerminatorBlockKind, type TerminatorBlockOptions, type HyperZZWComparisonOptions } from './hyperzzw.js';
export { CMIM, checkCMIMConfig, cmimRunSetup, embedRows, MIM_OBJECTIVES, type CMIMConfig, type CMIMNoise, type CMIMLossTerms, type CMIMRunOptions, type MIMObjective } from './cmim.js';
export { RAE, checkRAEConfig, loadRaeEncoder, raeFromEncoderFolder, raeRunSetup, raeGrid, raeSampleGrid, type RAEConfig, type RAEEncoderSpec, type RAERunOptions } from './rae.js';
export {
  VideoVAE, checkVideoVAEConfig, videoLatentShape, vidrdFromImageVAE, videoMetrics, smallMovingMnist, videoVaeRunSetup, videoGrid, isTemporalName,
  type VideoVAEConfig, type VideoMetrics, type VideoVAERunOptions,
} from './videovae.js';
export {
  ArtAE, CompositeAE, checkArtAEConfig, layerMask, compositeTensor, artMetrics, compositeAEPsnr, artRunSetup, artGrid,
  type ArtAEConfig, type CompositeAEConfig, type ArtMetrics, type ArtRunOptions,
} from './art.js';
export {
  NeRV, NeRVBlock, NeRVppBlock, SeparableResBlock, DepthwiseConv2d, checkNeRVConfig, nervParameterCount, nervPositionalEncoding, frameTime, compressNeRV, decompressNeRV,
  nervCode, nervRunSetup, nervRunOutputs, nervFrameGrid, loadVideo, psnr8, isNeRVFile, decodeNeRVFileTo, NERV_HEADER_BYTES,
  type NeRVConfig, type NeRVVariant, type NeRVCompressOptions, type NeRVRunOptions, type NeRVCodingResult,
} from './nerv.js';
export { saveModel, loadModel, MODEL_TYPES, type ModelType, type AnyModel, type SavableModel } from './io.js';
