/**
 * The core's public surface: tensors and autograd, creation functions, every op, and the backend
 * selector. Importing it installs the Tensor method forms (methods.ts).
 */
import './methods.js';

export {
  Tensor, noGrad, isGradEnabled, scope, customOp, record, shapeSize, shapeStr, assertSameShape,
  empty, emptyInt, zeros, ones, full, scalar, tensor, intTensor, fromBuffer,
} from './tensor.js';
export type { DType, Shape, GradFn, CustomOpContext, CustomOpSpec } from './tensor.js';
export { backend, setBackend, createJsBackend, loadNativeBackend } from './backend/index.js';
export type { Backend } from './backend/index.js';

export {
  broadcastShapes, sumTo, unary, neg, exp, log, sqrt, rsqrt, abs, square, reciprocal, relu, gelu, tanh,
  sigmoid, softplus, sin, cos, leakyRelu, powScalar, scale, addScalar, sign, add, sub, mul, div, pow,
  maximum, minimum, gt, ge, lt, le, eq, clamp, where,
} from './ops/elementwise.js';
export type { Operand } from './ops/elementwise.js';
export { matmul, linear, linearRelu } from './ops/linalg.js';
export type { MatmulOptions } from './ops/linalg.js';
export { sum, mean, max, min, argmax, argmin, variance, logSumExp, norm } from './ops/reduce.js';
export type { Axis } from './ops/reduce.js';
export { reshape, view, flatten, squeeze, unsqueeze, permute, transpose, slice, concat, stack, expand, split } from './ops/shape.js';
export { indexSelect, embedding, gather, scatterAdd, topk, oneHot } from './ops/indexing.js';
export { softmax, logSoftmax, layerNorm, dropout } from './ops/nn.js';
export { conv2d, convTranspose2d } from './ops/conv.js';
export type { Conv2dOptions, ConvTranspose2dOptions, Pair } from './ops/conv.js';
export { mseLoss, l1Loss, nllLoss, crossEntropy, bceWithLogits, binaryCrossEntropy, klDivNormal, gaussianNll } from './ops/loss.js';
export type { Reduction } from './ops/loss.js';
export { scatterToDense, sparseDecode, topkEncode, setTopkScreen, topkScreenKernel, thresholdScreenKernel } from './ops/sparse.js';
export type { TopkScreenMode } from './ops/sparse.js';
export { linearBf16, bf16Support } from './ops/bf16.js';
export type { EncoderDtype } from './ops/bf16.js';
export { bf16Round } from './backend/js-bf16.js';
