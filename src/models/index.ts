/** Autoencoder model families, their shared training loop, detectors and model files. */
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
export {
  train, mapBatches, gatherBatch, epochOrder, checkDataset,
  type Dataset, type Batch, type StepContext, type StepOutput, type Trainable, type TrainOptions, type TrainResult,
} from './train.js';
export {
  AEDetector, VAEDetector, StackVAEGDetector, loadDetector,
  type NeuralDetectorOptions, type AEDetectorOptions, type VAEDetectorOptions, type StackVAEGDetectorOptions,
} from './detectors.js';
export { saveModel, loadModel, MODEL_TYPES, type ModelType, type AnyModel, type SavableModel } from './io.js';
