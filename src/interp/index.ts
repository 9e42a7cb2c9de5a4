/** Analyses that need a model and an SAE: splicing and splice evaluation, latent examples. */
export {
  saeSpliceHook, zeroAblationHook, evaluateSplice, checkSpliceHook, saeForwardRows, SpliceStats, formatSpliceTable, spliceMetricsJson,
  SAE_HOOK_NAMES, type SpliceHookOptions, type SpliceEvalOptions, type SpliceMetrics, type SpliceBatch, type SaeHookName, type SaeForwardRows,
} from './splice.js';
export { topActivations, type LatentSummary, type LatentExample, type TopActivationOptions } from './top-activations.js';
