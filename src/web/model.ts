/**
 * aelab models (src/models) in the browser: a saved model travels as one safetensors buffer (its
 * state dict, F32/I32, with `type` and the JSON `config` in __metadata__; the server's
 * GET /api/models/{name}/weights), and the page rebuilds it from its config and loads the weights
 * with a strict loadStateDict, as models/io.ts's loadModel does from a folder. The bundle carries
 * the MLP/conv AutoEncoder (the drawn-digit demo); other types are refused with their name.
 */
import { Tensor, fromBuffer, noGrad, scope } from '../core/index.js';
import { AutoEncoder, type AutoEncoderConfig } from '../models/autoencoder.js';
import { decodeSafetensors, encodeSafetensors, type RawTensor } from './weights.js';

export const WEB_MODEL_FORMAT = 'aelab-web-model';

/** A model (anything with type, config and stateDict) as safetensors bytes. */
export function modelToSafetensors(model: { type: string; config: object; stateDict(): Map<string, Tensor> }): Uint8Array {
  const tensors: [string, RawTensor][] = [];
  for (const [k, t] of model.stateDict()) {
    tensors.push([k, t.dtype === 'int32' ? { dtype: 'I32', shape: [...t.shape], data: t.data as Int32Array } : { dtype: 'F32', shape: [...t.shape], data: t.data as Float32Array }]);
  }
  return encodeSafetensors(tensors, { format: WEB_MODEL_FORMAT, type: model.type, config: JSON.stringify(model.config) });
}

/** Rebuilds an AutoEncoder from what modelToSafetensors wrote (eval mode). */
export function autoencoderFromSafetensors(bytes: Uint8Array): AutoEncoder {
  const { meta, tensors } = decodeSafetensors(bytes);
  if (meta.format !== WEB_MODEL_FORMAT) throw new Error(`autoencoderFromSafetensors: not an ${WEB_MODEL_FORMAT} buffer (format '${meta.format}')`);
  if (meta.type !== 'autoencoder') throw new Error(`autoencoderFromSafetensors: a '${meta.type}' model; the browser bundle rebuilds 'autoencoder' models`);
  const model = new AutoEncoder(JSON.parse(meta.config ?? 'null') as AutoEncoderConfig);
  const sd = new Map<string, Tensor>();
  for (const [k, t] of tensors) sd.set(k, new Tensor(t.data, t.shape));
  model.loadStateDict(sd, { strict: true });
  return model.eval();
}

/** The model's reconstructions of n rows x [n, ...inputShape] (flat in, flat out). */
export function reconstructRows(model: AutoEncoder, x: Float32Array, shape: number[]): Float32Array {
  return scope(() => noGrad(() => model.reconstruct(fromBuffer(x, shape)).f32().slice()));
}
