/** Analyses that need a model and an SAE: splicing and splice evaluation, latent examples. */
export {
  saeSpliceHook, zeroAblationHook, evaluateSplice, checkSpliceHook, saeForwardRows, SpliceStats, formatSpliceTable, spliceMetricsJson,
  SAE_HOOK_NAMES, type SpliceHookOptions, type SpliceEvalOptions, type SpliceMetrics, type SpliceBatch, type SaeHookName, type SaeForwardRows,
} from './splice.js';
export { topActivations, type LatentSummary, type LatentExample, type TopActivationOptions } from './top-activations.js';
export {
  buildLatentCache, openLatentCache, summarizeLatentCache, readLatentCacheManifest, checkLatentCacheIdentity, encodeSparse, logitEffects, saeFolderHash,
  LatentCacheError, DEFAULT_SUMMARY, LATENT_CACHE_FORMAT, LATENT_CACHE_VERSION,
  type LatentCacheOptions, type LatentCacheResult, type LatentCacheManifest, type LatentCacheEvent, type LatentCacheShard, type LatentRecord, type BlockRef,
  type CacheExample, type LatentCache, type LatentSummarySettings, type LogitEffect, type SparseCodes, type SaeInfo,
} from './latent-cache.js';
export {
  ChatClient, EndpointError, BudgetExceededError, explainerMessages, scorerMessages, parseExplanation, parsePredictions, predictionProbabilities,
  scoreMetrics, explainLatents, scoreLatents, tokenListExplanation, explanationTokens, simulateRule, AutointerpError,
  type ChatClientOptions, type ChatMessage, type ChatResult, type ChatEvent, type ChatStats, type ScoreMetrics, type ExplainOptions, type ScoreOptions,
  type RunSummary, type ScoreSummary, type ScorerName, type ExplanationFile, type ScoreFile, type AutointerpEvent,
} from './autointerp/index.js';
export { AttentionSaeError, checkAttentionSae, decoderHeadShares, captureAttention, encoderBias, preActivation, headAttribution, sourceAttribution, attentionSaeStudy,
  type HeadShares, type AttentionCapture, type AttentionLatentExample, type AttentionLatentReport, type AttentionSaeStudyOptions, type AttentionSaeStudy } from './attention-sae.js';
export { POS_CLASSES, coarsePos, posWindows, fitLogistic, predictLogistic, meanDiffTopK, sparseProbeAccuracy, probeStudy, randomProjections,
  type PosClass, type PosWindows, type LogisticModel, type ProbeFeatureSet, type ProbeStudyOptions, type ProbeResult } from './probing.js';
export { layerChanges, lacTokenHooks, trainFirstRouters, firstDecision, evaluateSkip, greedyReference, layerSkipStudy,
  type SkipMethod, type FirstRouters, type FirstTrainOptions, type SkipRule, type SkipEvalOptions, type SkipPoint, type LayerSkipStudyOptions, type LayerSkipEvent, type LayerSkipStudy } from './layer-skip.js';
