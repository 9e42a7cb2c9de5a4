/**
 * Saving and loading any model of src/models as a folder:
 *   <dir>/cfg.json           { "format": "aelab-model", "version": 1, "type": "<model type>", "config": {…} }
 *   <dir>/model.safetensors  the module's stateDict (parameters and buffers, by dotted name)
 * Loading reads cfg.json, rebuilds the model from its config (the constructor fixes every shape),
 * then copies the weights in with a strict loadStateDict, so a missing, extra or mis-shaped tensor
 * is an error naming the key. Both files are written atomically (temp name + rename).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeFileAtomic, writeSafetensors, type ArrayData } from '../core/io/index.js';
import { Tensor } from '../core/tensor.js';
import type { Module } from '../nn/module.js';
import { AutoEncoder, type AutoEncoderConfig } from './autoencoder.js';
import { DenoisingAutoEncoder, type DenoisingAutoEncoderConfig } from './denoising.js';
import { StackedAutoEncoder, type StackedAutoEncoderConfig } from './stacked.js';
import { VAE, type VAEConfig } from './vae.js';
import { ARDVAE, type ARDVAEConfig } from './ardvae.js';
import { PrototypeNetwork, type PrototypeNetworkConfig } from './prototype.js';
import { StackVAEG, type StackVAEGConfig } from './stackvaeg.js';
import { MAE, type MAEConfig } from './mae.js';
import { WaLLoC, type WaLLoCConfig } from './walloc.js';
import { ConvCodec, type ConvCodecConfig } from './conv-codec.js';
import { VideoMAE, type VideoMAEConfig } from './videomae.js';
import { CAE, type CAEConfig } from './cae.js';
import { MixedAE, type MixedAEConfig } from './mixedae.js';
import { MultiMAE, type MultiMAEConfig } from './multimae.js';
import { VideoVAE, type VideoVAEConfig } from './videovae.js';
import { ArtAE, type ArtAEConfig } from './art.js';
import { CMIM, type CMIMConfig } from './cmim.js';
import { RAE, type RAEConfig } from './rae.js';
import { NeRV, type NeRVConfig } from './nerv.js';
import { ViTClassifier, type ViTClassifierConfig } from './vit-classifier.js';

/** Every model type this file can rebuild, by its `type` tag. */
export const MODEL_TYPES = {
  autoencoder: (c: unknown) => new AutoEncoder(c as AutoEncoderConfig),
  denoising: (c: unknown) => new DenoisingAutoEncoder(c as DenoisingAutoEncoderConfig),
  stacked: (c: unknown) => new StackedAutoEncoder(c as StackedAutoEncoderConfig),
  vae: (c: unknown) => new VAE(c as VAEConfig),
  ardvae: (c: unknown) => new ARDVAE(c as ARDVAEConfig),
  prototype: (c: unknown) => new PrototypeNetwork(c as PrototypeNetworkConfig),
  stackvaeg: (c: unknown) => new StackVAEG(c as StackVAEGConfig),
  mae: (c: unknown) => new MAE(c as MAEConfig),
  walloc: (c: unknown) => new WaLLoC(c as WaLLoCConfig),
  'conv-codec': (c: unknown) => new ConvCodec(c as ConvCodecConfig),
  videomae: (c: unknown) => new VideoMAE(c as VideoMAEConfig),
  cae: (c: unknown) => new CAE(c as CAEConfig),
  mixedae: (c: unknown) => new MixedAE(c as MixedAEConfig),
  multimae: (c: unknown) => new MultiMAE(c as MultiMAEConfig),
  videovae: (c: unknown) => new VideoVAE(c as VideoVAEConfig),
  art: (c: unknown) => new ArtAE(c as ArtAEConfig),
  cmim: (c: unknown) => new CMIM(c as CMIMConfig),
  rae: (c: unknown) => new RAE(c as RAEConfig),
  nerv: (c: unknown) => new NeRV(c as NeRVConfig),
  'vit-classifier': (c: unknown) => new ViTClassifier(c as ViTClassifierConfig),
} as const;

export type ModelType = keyof typeof MODEL_TYPES;
export type AnyModel = AutoEncoder | DenoisingAutoEncoder | StackedAutoEncoder | VAE | ARDVAE | PrototypeNetwork | StackVAEG | MAE | VideoMAE | WaLLoC | ConvCodec | CAE | MixedAE | MultiMAE | VideoVAE | ArtAE | CMIM | RAE | NeRV | ViTClassifier;

/** A model with a type tag and a JSON config (every model class here). */
export interface SavableModel extends Module {
  readonly type: string;
  readonly config: object;
}

/** Writes `model` to the folder `dir` (created if needed). */
export function saveModel(dir: string, model: SavableModel): void {
  if (!(model.type in MODEL_TYPES)) throw new Error(`saveModel: unknown model type '${model.type}' (known: ${Object.keys(MODEL_TYPES).join(', ')})`);
  mkdirSync(dir, { recursive: true });
  const weights = new Map<string, ArrayData>();
  for (const [k, t] of model.stateDict()) {
    weights.set(k, t.dtype === 'int32'
      ? { dtype: 'int32', shape: [...t.shape], data: t.data as Int32Array }
      : { dtype: 'float32', shape: [...t.shape], data: t.data as Float32Array });
  }
  writeSafetensors(join(dir, 'model.safetensors'), weights, { format: 'aelab', model: model.type });
  const cfg = JSON.stringify({ format: 'aelab-model', version: 1, type: model.type, config: model.config }, null, 2);
  writeFileAtomic(join(dir, 'cfg.json'), [new TextEncoder().encode(cfg + '\n')]);
}

/** Reads a folder written by saveModel; the model comes back in eval mode. */
export function loadModel(dir: string): AnyModel {
  const cfgPath = join(dir, 'cfg.json');
  if (!existsSync(cfgPath)) throw new Error(`loadModel: ${cfgPath} does not exist (not a saved model folder)`);
  let cfg: { format?: string; type?: string; config?: unknown };
  try {
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`loadModel: ${cfgPath} is not valid JSON (${(e as Error).message})`);
  }
  if (cfg.format !== 'aelab-model') throw new Error(`loadModel: ${cfgPath} is not an aelab model config (format '${cfg.format}')`);
  const make = MODEL_TYPES[cfg.type as ModelType];
  if (!make) throw new Error(`loadModel: ${cfgPath} names unknown model type '${cfg.type}' (known: ${Object.keys(MODEL_TYPES).join(', ')})`);
  const model = make(cfg.config) as AnyModel;
  const { tensors } = readSafetensors(join(dir, 'model.safetensors'));
  const sd = new Map<string, Tensor>();
  for (const [k, a] of tensors) sd.set(k, new Tensor(a.data.slice(), a.shape));
  model.loadStateDict(sd, { strict: true });
  return model.eval();
}
