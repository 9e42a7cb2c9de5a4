/**
 * aelab's public API. Everything a user imports from 'aelab' is named here; files under src/ are
 * private implementation behind this entry point.
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
  softmax, logSoftmax, layerNorm, dropout, conv2d, convTranspose2d,
  mseLoss, l1Loss, nllLoss, crossEntropy, bceWithLogits, binaryCrossEntropy, klDivNormal, gaussianNll,
} from './core/index.js';
export type {
  DType, Shape, GradFn, CustomOpContext, CustomOpSpec, Backend, Operand, MatmulOptions, Axis,
  Conv2dOptions, ConvTranspose2dOptions, Pair, Reduction,
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

// tasks
export { saveCheckpoint, loadCheckpoint, latestCheckpoint, type CheckpointState } from './tasks/checkpoint.js';
