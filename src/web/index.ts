/**
 * The browser entry (`npm run build:web` bundles it to dist/web/aelab.js, global `aelab`): the whole
 * core (tensors, autograd, every op) on the pure-TypeScript backend, the seeded generator, and SAE
 * inference on arrays (weights from safetensors bytes, dense codes out), and the AutoEncoder rebuilt
 * from a served model (src/web/model.ts). Under Node the same module
 * runs on Node's backend, which is how the tests compare the two.
 */
export * from '../core/index.js';
export { Generator } from '../core/random.js';
export { gemmKind } from '../core/backend/js-gemm.js';
export { encodeRows, topLatents } from './sae.js';
export { saeFromSafetensors, saeToSafetensors, WEB_SAE_FORMAT } from './weights.js';
export type { SaeWeights } from '../sae/interop.js';
export { decodeSafetensors, encodeSafetensors, type RawTensor } from './weights.js';
export { autoencoderFromSafetensors, reconstructRows, WEB_MODEL_FORMAT } from './model.js';
export { AutoEncoder } from '../models/autoencoder.js';
