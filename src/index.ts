/**
 * aelab's public API. Everything a user imports from 'aelab' is named here; files under src/ are
 * private implementation behind this entry point. docs/API.md lists every name below by area, and
 * test/public-api.test.ts fails when the two disagree: add a name here, list it there.
 */

// core: tensors, autograd, ops, kernels
export {
  Tensor, noGrad, isGradEnabled, scope, customOp, record, shapeSize, shapeStr, assertSameShape,
  empty, emptyInt, zeros, ones, full, scalar, tensor, intTensor, fromBuffer,
  backend, setBackend, createJsBackend, loadNativeBackend,
  broadcastShapes, sumTo, unary, neg, exp, log, sqrt, rsqrt, abs, square, reciprocal, relu, gelu, tanh,
  sigmoid, softplus, sin, cos, leakyRelu, powScalar, scale, addScalar, sign, add, sub, mul, div, pow,
  maximum, minimum, gt, ge, lt, le, eq, clamp, where,
  matmul, linear, linearRelu, sum, mean, max, min, argmax, argmin, variance, logSumExp, norm,
  reshape, view, flatten, squeeze, unsqueeze, permute, transpose, slice, concat, stack, expand, split,
  indexSelect, embedding, gather, scatterAdd, topk, oneHot, scatterToDense, sparseDecode, topkEncode,
  setTopkScreen, topkScreenKernel, thresholdScreenKernel, linearBf16, bf16Support, bf16Round,
  softmax, logSoftmax, layerNorm, dropout, conv2d, convTranspose2d,
  mseLoss, l1Loss, nllLoss, crossEntropy, bceWithLogits, binaryCrossEntropy, klDivNormal, gaussianNll,
} from './core/index.js';
export type {
  DType, Shape, GradFn, CustomOpContext, CustomOpSpec, Backend, Operand, MatmulOptions, Axis,
  Conv2dOptions, ConvTranspose2dOptions, Pair, Reduction, EncoderDtype, TopkScreenMode,
} from './core/index.js';
export type { UnaryOp, BinaryOp, ReduceOp } from './core/backend/types.js';
export { poolStats, clearPool } from './core/pool.js';

// randomness and file I/O
export { Generator, philox4x32_10, type GeneratorState } from './core/random.js';
export {
  FormatError, readSafetensors, writeSafetensors, parseSafetensors, openSafetensors,
  readNpy, writeNpy, parseNpy, openNpy, readNpz, writeNpz, parseNpz, writeFileAtomic,
  f16ToF32, f32ToF16, bf16ToF32, f32ToBf16,
} from './core/io/index.js';
export type { ArrayData, SafetensorsMetadata, SafetensorsFile, NpyFile } from './core/io/index.js';

// nn and optim
export {
  Module, param, buffer, isBuffer, init,
  Linear, Conv2d, ConvTranspose2d, LayerNorm, BatchNorm1d, Embedding, Dropout, ActivationLayer, Sequential, MLP,
  activationFn, MultiHeadAttention, TransformerBlock,
} from './nn/index.js';
export type {
  Layer, LoadStateDictOptions, LoadStateDictResult, Activation, LinearOptions,
  Conv2dOptions as Conv2dLayerOptions, ConvTranspose2dOptions as ConvTranspose2dLayerOptions,
  LayerNormOptions, BatchNormOptions, MLPOptions, AttentionOptions, MultiHeadAttentionOptions, TransformerBlockOptions,
} from './nn/index.js';
export {
  Optimizer, SGD, Adam, AdamW, linearWarmup, cosineDecay, linearDecay, warmupCosine, LRScheduler, clipGradNorm, clipGradValue,
} from './optim/index.js';
export type { OptimizerStateDict, SGDOptions, AdamOptions, WarmupCosineOptions } from './optim/index.js';

// train: checkpoints
export { saveCheckpoint, loadCheckpoint, latestCheckpoint, type CheckpointState, type LoadedCheckpoint } from './train/checkpoint.js';

// ---------------------------------------------------------------------------------------------
// Name collisions and renames in the sections below (everything else keeps its source name):
//   - sae/trainer's TrainOptions / TrainResult / TrainProgress → SaeTrainOptions / SaeTrainResult /
//     SaeTrainProgress; models/train's TrainOptions / TrainResult (for `train`) keep their names.
//   - sae/interop's `transpose` (a Float32Array helper) is left out: `transpose` is the tensor op.
//   - sae/report's `num` / `pct` formatters are left out (internal).
//   - too generic for the package namespace, so prefixed: superposition `generate` →
//     generateSuperposition, interop SaveOptions → SaeSaveOptions, metrics Codes → SaeMetricCodes,
//     metrics MetricsOptions → SaeMetricsOptions, dark-matter FitOptions → LinearFitOptions,
//     report Block → ReportBlock, prototype Explanation → PrototypeExplanation.
// ---------------------------------------------------------------------------------------------

// sae: architectures and configs
export {
  createSae, saeFromWeights, SparseAutoencoder, StandardSae, TopKSae, BatchTopKSae, JumpReluSae, MatryoshkaSae, GatedSae, SwitchSae,
  jumpRelu, stepSte, isSparseCode, denseCode,
  resolveSaeConfig, SaeConfigError, SAE_ARCHITECTURES, INPUT_NORMALISATIONS, B_DEC_INITS,
} from './sae/index.js';
export { useFastTopK, fastTopKEnabled } from './sae/fast-topk.js';
export type {
  SaeConfig, SaeConfigInput, SaeCommonConfig, StandardSaeConfig, TopKSaeConfig, BatchTopKSaeConfig, JumpReluSaeConfig,
  MatryoshkaSaeConfig, GatedSaeConfig, SwitchSaeConfig, AuxKOptions, SaeArchitecture, InputNormalisation, DecoderBiasInit,
  SparseCode, SaeCode, SaeForward, SaeLossContext, SaeLossResult, NormalisedInput, EncodeMode, FoldResult,
} from './sae/index.js';

// sae: activation data
export { openActivations, arraySource, rowRange, splitRows, scanNonFinite, ActivationStream, NonFiniteRowsError } from './sae/activations.js';
export type {
  ActivationSource, ActivationShardInfo, OpenActivationsOptions, RowSpan, SplitOptions, ActivationStreamOptions, ActivationStreamState,
} from './sae/activations.js';

// sae: training
export { trainSae, resolveTrainConfig, evaluateModule, TrainConfigError } from './sae/trainer.js';
export type {
  SaeTrainConfig, SaeTrainSettings, TrainOptions as SaeTrainOptions, TrainResult as SaeTrainResult,
} from './sae/trainer.js';

// sae: metrics
export {
  SaeMetricsAccumulator, densityHistogram, maxCosines, meanMaxCosine, featureRecovery, formatMetricsTable, metricsToJson,
} from './sae/metrics.js';
export type {
  SaeMetrics, DensityHistogram, FeatureRecovery, Codes as SaeMetricCodes, MetricsOptions as SaeMetricsOptions,
} from './sae/metrics.js';

// sae: SAELens / sparsify folders and array-level inference
export {
  loadSae, saveSae, detectSaeFormat, loadSaeLens, saveSaeLens, loadSparsify, saveSparsify, encodeSae, decodeSae,
  reconstructSae, normaliseTokens, saeLensCfg,
} from './sae/interop.js';
export type { SaeWeights, SaeArch, SaeFormat, SaveOptions as SaeSaveOptions, LoadOptions as SaeLoadOptions, TokenNormalization } from './sae/interop.js';
export { saeToWeights, saveSaeFolder, loadSaeFolder, runSae, SAE_FOLDER_FORMATS } from './sae/convert.js';
export type { SaeFolderFormat, SaeRun } from './sae/convert.js';

// sae: synthetic data in superposition
export {
  generate as generateSuperposition, saveSuperposition, loadSuperposition, powerLawFrequencies, randomFeatures,
} from './sae/superposition.js';
export type { SuperpositionConfig, SuperpositionData, SparseRows, MagnitudeSpec } from './sae/superposition.js';

// sae: dark matter (Engels et al. 2024), evaluation of saved SAEs and reports
export {
  darkMatter, errorComponents, perTokenScaling, gradientPursuit, fvuOf, fitLinear, predictLinear, darkMatterMarkdown,
} from './sae/dark-matter.js';
export type {
  DarkMatterOptions, DarkMatterReport, DarkMatterResult, LinearFit, FitOptions as LinearFitOptions, ScalingPair, PursuitOptions, PursuitResult,
} from './sae/dark-matter.js';
export {
  evaluateWeights, evaluateSaeFolder, loadTruthFeatures, analyseDarkMatter,
  writeReport, renderMarkdown, renderHtml, readMetricsLog, trainingBlocks, metricsBlocks, darkMatterBlocks,
} from './sae/report.js';
export type {
  FolderEvaluation, DarkMatterSaeInput, ComponentTrainingOptions, DarkMatterAnalysisOptions, DarkMatterSaeResult, ComponentResult,
  DarkMatterAnalysis, DarkMatterPlotData, Block as ReportBlock,
} from './sae/report.js';

// train: the one training loop, epoch training of modules, checkpoints and progress events
export { runLoop, resumeCheckpoint, JsonlLog, train, mapBatches, gatherBatch, epochOrder, checkDataset } from './train/index.js';
export type {
  LoopConfig, LoopResult, LoopStepOutput, LogWindow, TrainEvent, TrainEventHandler,
  Dataset, Batch, StepContext, StepOutput, Trainable, TrainOptions, TrainResult,
} from './train/index.js';

// models: general autoencoders and model folders
export {
  AutoEncoder, DenoisingAutoEncoder, StackedAutoEncoder, VAE, ARDVAE, PrototypeNetwork, StackVAEG, Flatten, Unflatten,
  corrupt, gaussianNoise, maskingNoise, saltAndPepper, encodeDataset,
  saveModel, loadModel, MODEL_TYPES,
} from './models/index.js';
export type {
  AutoEncoderConfig, MLPAutoEncoderConfig, ConvAutoEncoderConfig, ReconstructionLoss, Corruption, DenoisingAutoEncoderConfig,
  StackedAutoEncoderConfig, LayerPretrainResult, VAEConfig, VAELossTerms, ARDVAEConfig,
  PrototypeNetworkConfig, PrototypeLossTerms, Explanation as PrototypeExplanation, StackVAEGConfig, StackVAEGTerms,
  ModelType, AnyModel, SavableModel,
} from './models/index.js';

// masked autoencoders: ViT blocks, mask generators, MAE
export {
  PatchEmbed, ViTEncoder, patchify, unpatchify, patchGrid, sincosPosEmbed2d, gatherTokens,
} from './nn/vit.js';
export type { ViTConfig } from './nn/vit.js';
export {
  MAE, checkMAEConfig, maskedGrid, randomMasking, blockMasking, tubeMasking, runningCellMasking, colorNoiseMasking, imageMasking,
  maskFromScores, filterNoise, colorFilter, keepCount, MASK_KINDS, CELL_ORDER,
} from './models/index.js';
export { VideoMAE, tubelets, sincosPosEmbed1d, decoderTargets } from './models/index.js';
export { CAE, checkCAEConfig, DeepLinearSSL } from './models/index.js';
// MixedAE (Chen et al. 2023) and MultiMAE (Bachmann et al. 2022) with pseudo-label modalities
export { MixedAE, mixImages, homologousContrastiveLoss, MultiMAE, multimodalMasking } from './models/index.js';
export type { MixedAEConfig, MultiMAEConfig, MultiMAEModality } from './models/index.js';
export { sobelEdges, foregroundMask, depthLike, gaussianBlur, pseudoLabel, PSEUDO_LABELS } from './data/pseudo-labels.js';
export type { PseudoLabel } from './data/pseudo-labels.js';
// cMIM (contrastive Mutual Information Machine), RAE (frozen representation encoder + ViT decoder), k-NN probe
export { CMIM, checkCMIMConfig, RAE, checkRAEConfig, raeFromEncoderFolder, raeGrid } from './models/index.js';
export type { CMIMConfig, CMIMNoise, CMIMLossTerms, MIMObjective, RAEConfig, RAEEncoderSpec } from './models/index.js';
export { knnAccuracy, knnPredict } from './tasks/experiments/knn.js';
export type { KnnOptions } from './tasks/experiments/knn.js';
// SLAB: simplified linear attention + progressive re-parameterised BatchNorm (Guo et al. 2024)
export {
  SimplifiedLinearAttention, PRepBN, RepBN, SlabBlock, linearAttention, quadraticLinearAttention, depthwiseConvTokens, prepbnGamma, foldRepBN,
} from './nn/index.js';
export type { SimplifiedLinearAttentionOptions, PRepBNOptions, SlabBlockOptions } from './nn/index.js';
export { SlabViT, runSlabComparison } from './models/index.js';
export type { SlabViTConfig, SlabComparisonOptions, SlabComparison } from './models/index.js';
export type { CAEConfig, DeepLinearConfig } from './models/index.js';
// causal video VAE (Step-Video / VidRD style) and the ART layered RGBA autoencoder (issue 13)
export { CausalConv3d, TemporalResidual, FrameUpsample2d, causalConv3d, gatherFrames, timeShuffleUp, causalFrames, causalTapIndex } from './nn/index.js';
export type { CausalConv3dOptions } from './nn/index.js';
export {
  VideoVAE, checkVideoVAEConfig, videoLatentShape, vidrdFromImageVAE, videoMetrics, smallMovingMnist, videoVaeRunSetup, videoGrid,
  ArtAE, CompositeAE, checkArtAEConfig, layerMask, compositeTensor, artMetrics, compositeAEPsnr, artRunSetup, artGrid,
} from './models/index.js';
export type { VideoVAEConfig, VideoMetrics, VideoVAERunOptions, ArtAEConfig, CompositeAEConfig, ArtMetrics, ArtRunOptions } from './models/index.js';
export { rgbaScenes, compositeLayers } from './data/rgba-layers.js';
export type { RgbaScenesOptions, RgbaScenes } from './data/rgba-layers.js';
// NoProp-DT: blocks trained alone to denoise a noised label embedding (Li, Teh & Pascanu 2025)
export { NoProp, NoPropBlock, noPropSchedule } from './models/index.js';
export type { NoPropConfig, NoPropSchedule } from './models/index.js';
// FIT (Chen & Li 2023), Starbucks 2D Matryoshka embeddings (Zhuang et al. 2024), Met²Net (Li et al. 2025)
export { FitClassifier, FullAttentionClassifier, FitBlock, FitCrossAttention, runFitComparison, fitScaling } from './models/index.js';
export type { FitConfig, FullAttentionConfig, FitComparisonOptions, FitComparison, FitScalingPoint } from './models/index.js';
export { StarbucksEncoder, brownRetrievalData, dropWords, mrrAt10, runStarbucksComparison } from './models/index.js';
export type { StarbucksConfig, StarbucksMode, StarbucksComparisonOptions, StarbucksComparison } from './models/index.js';
export { Met2Net, Met2NetTrainer, LinearForecaster, trainMet2Net, coupledOscillators, forecastWindows, forecastMsePerVariable, runMet2NetComparison } from './models/index.js';
export type { Met2NetConfig, Met2NetComparisonOptions, ForecastResult } from './models/index.js';
// CBNet: converting autoencoder (hard → easy) + the light early-exit classifier
export { EarlyExitNet, ConvertingAE, conversionTargets, hardVariant, runCBNetComparison } from './models/index.js';
export type { EarlyExitConfig, ConvertingAEConfig, CBNetComparisonOptions, CBNetVariantResult } from './models/index.js';
// ECO-M2F (Yao et al. 2024) and HyperZ·Z·W (Zhang 2024)
export { EcoM2F, meanIoU, depthQuality, depthTargets, trainStochasticDepth, trainGate, runEcoM2FComparison, ecoM2FLatency } from './models/index.js';
export type { EcoM2FConfig, EcoTrainOptions, EcoM2FComparisonOptions, EcoM2FComparison } from './models/index.js';
export { hyperZZW, hyperZZW1d, localHyperZZW, correlateSame, SlowKernelNet, TerminatorBlock, Terminator, ResNetLite, matchedResNetChannels, runHyperZZWComparison } from './models/index.js';
export type { TerminatorConfig, TerminatorBlockKind, TerminatorBlockOptions, HyperZZWComparisonOptions } from './models/index.js';
export type { MAEConfig, MAEOutput, PatchMask, MaskKind, NoiseColor, VideoMAEConfig, DecoderTargets } from './models/index.js';
export { movingMnist } from './data/moving-mnist.js';
export type { MovingMnistOptions, MovingMnist } from './data/moving-mnist.js';
// masked autoencoders: fine-tuning, video reconstructions, colour photographs, image folders
export { ViTClassifier, untubelets, videoReconstructMasked, videoMaskedGrid, videoMaeSampleGrid } from './models/index.js';
export type { ViTClassifierConfig } from './models/index.js';
export { loadPhotos, photoCrops, PHOTO_NAMES } from './data/photos.js';
export type { Photo, PhotoCropOptions, PhotoCrops } from './data/photos.js';
export { loadImageFolder, stackImages } from './data/images.js';
export type { ImageSet } from './data/images.js';

// compression: wavelets, rANS, the entropy bottleneck, the WaLLoC codec (docs/COMPRESSION.md)
export { BIOR44, dwt1, idwt1, dwt2, idwt2, wpt2, iwpt2, checkWptSize } from './core/wavelet.js';
export { quantizePmf, checkFreqTable, ransEncode, ransDecode, ransCostBits, type FreqTable, type TableOf } from './core/io/rans.js';
export { EntropyBottleneck, quantizeLatents, dequantizeLatents, type EntropyBottleneckOptions, type BottleneckOutput } from './nn/entropy-bottleneck.js';
export {
  WaLLoC, checkWaLLoCConfig, wallocRunSetup, wallocSummary, imageTensorFromPng, imageBytes, psnr, AELC_HEADER_BYTES,
} from './models/index.js';
export type { WaLLoCConfig, WaLLoCOutput, WaLLoCLossTerms, WaLLoCRunOptions } from './models/index.js';
export { ConvCodec, checkConvCodecConfig, type ConvCodecConfig } from './models/index.js';
// NeRV / NeRV++ video representations (a network per video, quantised to a .nerv file) and compressed-domain learning
export { pixelShuffle, upsampleBilinear, bilinearMatrix, depthwiseConv2d } from './core/ops/upsample.js';
export {
  NeRV, NeRVBlock, NeRVppBlock, SeparableResBlock, DepthwiseConv2d, checkNeRVConfig, nervParameterCount, nervPositionalEncoding, frameTime, compressNeRV, decompressNeRV,
  nervCode, nervRunSetup, nervRunOutputs, nervFrameGrid, loadVideo, psnr8, isNeRVFile, decodeNeRVFileTo, NERV_HEADER_BYTES,
} from './models/index.js';
export type { NeRVConfig, NeRVVariant, NeRVCompressOptions, NeRVRunOptions, NeRVCodingResult } from './models/index.js';
export { runCompressedLearning, compressedLearningReport, MlpClassifier, COMPRESSED_LEARNING_BUDGETS } from './tasks/experiments/compression.js';
export type { CompressedLearningOptions, CompressedLearningResult, CompressedLearningRow } from './tasks/experiments/compression.js';

// neural anomaly detectors (pyod-style, on the models above)
export { AEDetector, VAEDetector, StackVAEGDetector, loadDetector } from './tasks/neural-detectors.js';
export type { NeuralDetectorOptions, AEDetectorOptions, VAEDetectorOptions, StackVAEGDetectorOptions } from './tasks/neural-detectors.js';

// data: loaders, scaling, windows and synthetic series
export {
  DataError, readCsv, parseCsv, parseTimestamp, formatTimestamp, findNonFinite, assertFinite, constantColumns,
} from './data/csv.js';
export type { CsvReadOptions, CsvTable, ColumnRef, NonFiniteLocation } from './data/csv.js';
export { loadMnist, loadMnistAll, MNIST_SIDE, MNIST_DIM, MNIST_TOTAL } from './data/mnist.js';
export type { LabelledImages, MnistSplit, MnistOptions } from './data/mnist.js';
export {
  readNabSeries, readNabWindows, readNabLabels, windowsToLabels, windowsToIndexRanges, joinSeries, loadNabMultichannel,
} from './data/nab.js';
export type { NabSeries, NabWindow, JoinedSeries, NabMultichannel } from './data/nab.js';
export { readPng, writePng, encodePng, decodePng } from './data/png.js';
export type { PngImage } from './data/png.js';
export { StandardScaler } from './data/standardize.js';
export type { StandardScalerOptions, StandardScalerState } from './data/standardize.js';
export { generateSynthetic, ANOMALY_KINDS } from './data/synthetic.js';
export type { AnomalyKind, SyntheticOptions, InjectedAnomaly, SyntheticSeries } from './data/synthetic.js';
export {
  slidingWindows, windowStarts, windowScoresToTimestamps, positionScoresToTimestamps, windowLabels,
} from './data/windows.js';
export type { WindowOptions, Windows } from './data/windows.js';

// tasks: evaluation metrics
export {
  rocAuc, averagePrecision, precisionRecallAt, bestF1, labelSegments, pointAdjust, pointAdjustedF1, POINT_ADJUST_WARNING,
  accuracy, confusionMatrix, adjustedRandIndex, normalizedMutualInfo, silhouetteScore, MetricError,
  labelledSubset, matchClusters, clusterAccuracy,
} from './tasks/metrics.js';
export type { ThresholdMetrics, PointAdjustedResult, ConfusionMatrix, ClusterMatching } from './tasks/metrics.js';
export { linearSumAssignment } from './tasks/hungarian.js';
export type { Assignment } from './tasks/hungarian.js';

// tasks: clustering, PCA and anomaly detection
export { kmeans, kmeansPredict, kmeansPlusPlus, assignToCentroids, KMeans, KMeansError } from './tasks/kmeans.js';
export type { KMeansOptions, KMeansResult } from './tasks/kmeans.js';
export { PCA, PCAError } from './tasks/pca.js';
export type { PCAOptions, PCAState } from './tasks/pca.js';
export { BaseDetector, PCADetector, DetectorError, quantile, readDetectorFile } from './tasks/anomaly.js';
export {
  computeThreshold, quantileThreshold, uclThreshold, potThreshold, gpdMoments, gpdGrimshaw, gpdLogLikelihood, bestF1Threshold,
  THRESHOLD_RULES, DEFAULT_THRESHOLD_RULE, ThresholdError,
} from './tasks/threshold.js';
export type { ThresholdRule, ThresholdRuleName, ThresholdResult, PotFit } from './tasks/threshold.js';
export { alarmMetrics, alarmSegments, predictAt, segmentsOf } from './tasks/alarm-metrics.js';
export type { AlarmMetrics, Segment } from './tasks/alarm-metrics.js';
export { KNNDetector, LOFDetector, IsolationForestDetector, kNearest, averagePathLength } from './tasks/outlier-baselines.js';
export type { KNNDetectorOptions, KNNMethod, LOFDetectorOptions, IsolationForestDetectorOptions } from './tasks/outlier-baselines.js';
export type { Detector, DetectorOptions, PCADetectorOptions, DetectorFile } from './tasks/anomaly.js';
export { clusterRaster, rasterFromArray, renderClusterMap, clusterMapPng, clusterPalette, renderMatchedMaps, sideBySide } from './tasks/cluster-map.js';
export type { Raster, RGB, ClusterRasterOptions, ClusterRasterResult, ClusterMapOptions, ClusterMapLayout, MatchedMapsInput, MatchedMaps } from './tasks/cluster-map.js';
export { loadPreprocessing, writePreprocessing, applyPreprocessing, preprocessingForRun } from './tasks/preprocess.js';
export type { ModelPreprocessing, LoadedPreprocessing } from './tasks/preprocess.js';

// lm: transformer runtime, hooks, model files
export {
  Transformer, nextTokenLoss, pickToken, resolveTransformerConfig, TransformerConfigError,
  hookNames, checkHookNames, hookRowWidth, hookLayer, UnknownHookError, zeroAblation, meanAblation, patchActivation,
  loadLanguageModel, loadAelabLm, saveAelabLm, hashFiles, loadLlama2c, readLlama2cHeader, llama2cConfig, interleavedToHalf, LLAMA2C_MAGIC,
  loadGpt2, gpt2Config, loadLlama, llamaConfig,
  rmsNorm, rotary, rotaryTables, geluTanh, swiglu, attentionPattern, attentionMix, crossEntropyRows,
} from './lm/index.js';
export type {
  TransformerConfig, TransformerConfigInput, TransformerFamily, NormKind, PositionalKind, MlpKind, KVCache, ForwardOptions, GenerateOptions,
  HookFn, HookMap, HookContext, LoadedLanguageModel, Llama2cHeader, AttentionMask,
} from './lm/index.js';

// lm: training small language models
export {
  trainLm, resolveLmTrainConfig, tokenWindows, tokenStream, evaluateLm, exportLmRun, lmLearningRate, lmModelConfig, LM_TRAIN_DEFAULTS,
} from './lm/train.js';
export type {
  LmTrainConfig, LmTrainConfigInput, LmTrainOptions, LmTrainResult, LmTrainEvent, LmEval, TokenWindows, LmModelOptions,
} from './lm/train.js';

// lm: tokenizers and text corpora
export {
  loadTokenizer, StreamDecoder, TokenizerError, BpeTokenizer, loadGpt2Files, loadVocabMerges, loadTokenizerJson,
  Llama2cTokenizer, loadLlama2cTokenizer, LLAMA2C_BOS, LLAMA2C_EOS, ENDOFTEXT, trainBpe, learnMerges, countWords,
} from './lm/tokenizer/index.js';
export type {
  Tokenizer, EncodeOptions, BpeEncodeOptions, BpeOptions, Llama2cLoadOptions, TrainBpeOptions, TrainProgress as BpeTrainProgress, LearnedMerges,
} from './lm/tokenizer/index.js';
export { readBrownCorpus, readNlpCorpus, readTextFile, splitDocuments, chunkDocument } from './data/text.js';
export type { TextDocument, BrownDocument, TaggedWord, BrownOptions, SplitOptions as TextSplitOptions } from './data/text.js';
export { shippedPath, STORIES260K, STORIES260K_SAMPLES } from './data/shipped.js';

// lm: activation harvesting
export {
  harvestActivations, textWindows, documentSeparator, harvestDirs, shardName, readHarvestManifest, openHarvestContexts, HarvestError,
  HARVEST_FORMAT, HARVEST_VERSION,
} from './lm/harvest.js';
export type {
  HarvestOptions, HarvestEvent, HarvestResult, HarvestManifest, HarvestShardEntry, HarvestModelInfo, HarvestDocument, HarvestDtype,
  WindowStream, RowContext,
} from './lm/harvest.js';

// interp: SAE splicing and latent examples
export {
  saeSpliceHook, zeroAblationHook, evaluateSplice, checkSpliceHook, saeForwardRows, SpliceStats, formatSpliceTable, spliceMetricsJson,
  SAE_HOOK_NAMES, topActivations,
} from './interp/index.js';
export type {
  SpliceHookOptions, SpliceEvalOptions, SpliceMetrics, SpliceBatch, SaeHookName, SaeForwardRows, LatentSummary, LatentExample,
  TopActivationOptions,
} from './interp/index.js';
// interp: latent cache and automated interpretability
export {
  buildLatentCache, openLatentCache, summarizeLatentCache, readLatentCacheManifest, checkLatentCacheIdentity, encodeSparse, logitEffects, saeFolderHash,
  LatentCacheError, DEFAULT_SUMMARY, LATENT_CACHE_FORMAT, LATENT_CACHE_VERSION,
  ChatClient, EndpointError, BudgetExceededError, explainerMessages, scorerMessages, parseExplanation, parsePredictions, predictionProbabilities,
  scoreMetrics, explainLatents, scoreLatents, tokenListExplanation, explanationTokens, simulateRule, AutointerpError,
} from './interp/index.js';
export type {
  LatentCacheOptions, LatentCacheResult, LatentCacheManifest, LatentCacheEvent, LatentCacheShard, LatentRecord, BlockRef, CacheExample, LatentCache,
  LatentSummarySettings, LogitEffect, SparseCodes, SaeInfo, ChatClientOptions, ChatMessage, ChatResult, ChatEvent, ChatStats, ScoreMetrics,
  ExplainOptions, ScoreOptions, RunSummary, ScoreSummary, ScorerName, ExplanationFile, ScoreFile, AutointerpEvent,
} from './interp/index.js';

// interp: attention-output SAEs, sparse probing, layer skipping
export {
  AttentionSaeError, checkAttentionSae, decoderHeadShares, captureAttention, encoderBias, preActivation, headAttribution, sourceAttribution, attentionSaeStudy,
  POS_CLASSES, coarsePos, posWindows, fitLogistic, predictLogistic, meanDiffTopK, sparseProbeAccuracy, probeStudy, randomProjections,
  layerChanges, lacTokenHooks, trainFirstRouters, firstDecision, evaluateSkip, greedyReference, layerSkipStudy,
} from './interp/index.js';
export type {
  HeadShares, AttentionCapture, AttentionLatentExample, AttentionLatentReport, AttentionSaeStudyOptions, AttentionSaeStudy,
  PosClass, PosWindows, LogisticModel, ProbeFeatureSet, ProbeStudyOptions, ProbeResult,
  SkipMethod, FirstRouters, FirstTrainOptions, SkipRule, SkipEvalOptions, SkipPoint, LayerSkipStudyOptions, LayerSkipEvent, LayerSkipStudy,
} from './interp/index.js';
// report: standalone SVG charts
export { lineChart, histogram, scatter, barChart, binValues } from './report/svg.js';
export type {
  LineSeries, Band, LineChartOptions, HistogramOptions, ScatterPoint, ScatterOptions, BarChartOptions,
} from './report/svg.js';
// serve: dashboard and inference server
export { serve, isLoopback, scanServed, saeServable, modelServable, detectorServable, RequestError } from './serve/index.js';
export type { ServeOptions, RunningServer, Servable, Operation, Output, Registry, Entry as ServedEntry, EntryKind as ServedKind } from './serve/index.js';
export { saeToOnnx, modelToOnnx, detectorToOnnx, exportOnnxFolder, OnnxExportError, ONNX_PARTS } from './serve/onnx.js';
export type { OnnxPart, OnnxExport, OnnxExportOptions } from './serve/onnx.js';
