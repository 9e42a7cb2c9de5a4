/** Optimisers, learning-rate schedules and gradient clipping. */
export { Optimizer, type GroupOptions, type ParamGroup, type ParamGroupSpec, type ParamState, type OptimizerStateDict } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export {
  linearWarmup, cosineDecay, linearDecay, warmupCosine, LRScheduler,
  type WarmupOptions, type DecayOptions, type WarmupCosineOptions, type LRSchedulerOptions,
} from './schedule.js';
export { clipGradNorm, clipGradValue } from './clip.js';
