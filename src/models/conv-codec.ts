/**
 * A plain convolutional autoencoder codec: the baseline that issue 13 asks WaLLoC to be compared
 * with ("a plain conv AE of similar size"). Everything except the transform is WaLLoC's: the same
 * entropy bottleneck (noise in training, rounding at test), the same rate–distortion loss, the same
 * rANS coder and `.aelc` container (src/models/aelc.ts), so its rate is a real file size too.
 *
 * Shapes (C image channels, s stride-2 stages, E encoder width, F decoder width, L latents,
 * h = H/2^s, w = W/2^s):
 *   x [B, C, H, W] in [0, 1]
 *   encoder  y = g · E(x − ½):  s × [5×5 conv, stride 2, padding 2], GELU between them,
 *            widths C → E → … → E → L                       [B, C, H, W] -> [B, L, h, w]
 *   ŷ = y + U(−½, ½) (training) | round(y) (eval);  p(ŷ) from the EntropyBottleneck
 *   decoder  x̂ = D(ŷ / g) + ½:  3×3 conv L→F, GELU, `decoderBlocks` × [x + conv3×3(GELU(conv3×3(x)))]
 *            at h×w (WaLLoC's decoder body), then s × [4×4 transposed conv, stride 2, padding 1]
 *            (each doubles the side), GELU between them, widths F → E → … → E → C
 *                                                             [B, L, h, w] -> [B, C, H, W]
 * Loss = mean (x̂ − x)² + λ · bpp,  bpp = −Σ log2 p(ŷ) / (B·H·W), as WaLLoC.
 *
 * Unlike WaLLoC the analysis transform is learned and non-linear and works on pixels: there is no
 * wavelet packet transform in front of it and no inverse one behind the decoder. With s = 2 the
 * latent grid is WaLLoC's (J = 2) grid, so at equal L both code the same number of integers.
 * The fixed gain g (latentScale) plays the role it has in WaLLoC: the conv layers start with small
 * outputs, and without a gain the U(−½, ½) noise would drown them at the start of training.
 */
import { Tensor, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { addScalar, scale } from '../core/ops/elementwise.js';
import type { Layer } from '../nn/module.js';
import { ActivationLayer, Conv2d, ConvTranspose2d, Sequential } from '../nn/layers.js';
import { EntropyBottleneck } from '../nn/entropy-bottleneck.js';
import type { Trainable } from '../train/fit.js';
import { AelcCodecModule } from './aelc.js';
import { ResBlock } from './walloc.js';

export interface ConvCodecConfig {
  /** Image channels C (1 gray, 3 RGB). */
  channels: number;
  /** Training image height and width (any size divisible by 2^stages can be coded later). */
  height: number;
  width: number;
  /** Stride-2 stages s in the encoder and the decoder (default 2: WaLLoC's J = 2 latent grid). */
  stages?: number;
  /** Latent channels L. */
  latentChannels: number;
  /** Encoder width E, also the width of the decoder's upsampling layers (default 32). */
  encoderHidden?: number;
  /** Decoder width F at the latent resolution (default 64). */
  hidden?: number;
  /** Residual blocks in the decoder (default 2). */
  decoderBlocks?: number;
  /** Rate weight λ in mse + λ·bpp (default 1e-3). */
  lambda?: number;
  /** Fixed latent gain g (default 32). */
  latentScale?: number;
  seed?: number;
}

/** Validates a config, naming the bad field. */
export function checkConvCodecConfig(c: ConvCodecConfig): void {
  const posInt = (n: string, v: unknown, max = 1 << 20) => {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) throw new Error(`ConvCodec: ${n} must be an integer in 1..${max}, got ${String(v)}`);
  };
  posInt('channels', c.channels, 255);
  posInt('height', c.height);
  posInt('width', c.width);
  posInt('latentChannels', c.latentChannels, 65535);
  if (c.stages !== undefined) posInt('stages', c.stages, 8);
  if (c.encoderHidden !== undefined) posInt('encoderHidden', c.encoderHidden);
  if (c.hidden !== undefined) posInt('hidden', c.hidden);
  if (c.decoderBlocks !== undefined && !(Number.isInteger(c.decoderBlocks) && c.decoderBlocks >= 0)) throw new Error(`ConvCodec: decoderBlocks must be an integer ≥ 0, got ${c.decoderBlocks}`);
  if (c.latentScale !== undefined && !(c.latentScale > 0 && Number.isFinite(c.latentScale))) throw new Error(`ConvCodec: latentScale must be a finite number > 0, got ${c.latentScale}`);
  if (c.lambda !== undefined && !(c.lambda >= 0 && Number.isFinite(c.lambda))) throw new Error(`ConvCodec: lambda must be a finite number ≥ 0, got ${c.lambda}`);
  checkSides(c.height, c.width, c.stages ?? 2, 'ConvCodec');
}

function checkSides(H: number, W: number, s: number, what: string): void {
  const m = 2 ** s;
  if (H % m !== 0 || W % m !== 0 || H < m || W < m) throw new Error(`${what}: image sides must be positive and divisible by 2^${s} = ${m} (the stride-2 stages), got ${H}×${W}`);
}

/** The conv-AE codec; see the file comment. Same training and coding interface as WaLLoC. */
export class ConvCodec extends AelcCodecModule implements Trainable {
  readonly type = 'conv-codec';
  encoder: Sequential;
  decoder: Sequential;
  entropyBottleneck: EntropyBottleneck;
  /** The stride-2 stages s (the `.aelc` header's levels field). */
  readonly levels: number;
  readonly lambda: number;
  readonly latentScale: number;

  constructor(readonly config: ConvCodecConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkConvCodecConfig(config);
    const s = (this.levels = config.stages ?? 2);
    this.lambda = config.lambda ?? 1e-3;
    this.latentScale = config.latentScale ?? 32;
    const C = config.channels, L = config.latentChannels, E = config.encoderHidden ?? 32, F = config.hidden ?? 64;
    const enc: Layer[] = [];
    for (let i = 0; i < s; i++) {
      enc.push(new Conv2d(i === 0 ? C : E, i === s - 1 ? L : E, 5, gen, { stride: 2, padding: 2 }));
      if (i < s - 1) enc.push(new ActivationLayer('gelu'));
    }
    this.encoder = new Sequential(...enc);
    const dec: Layer[] = [new Conv2d(L, F, 3, gen, { padding: 1 }), new ActivationLayer('gelu')];
    for (let i = 0; i < (config.decoderBlocks ?? 2); i++) dec.push(new ResBlock(F, gen));
    for (let i = 0; i < s; i++) {
      dec.push(new ConvTranspose2d(i === 0 ? F : E, i === s - 1 ? C : E, 4, gen, { stride: 2, padding: 1 }));
      if (i < s - 1) dec.push(new ActivationLayer('gelu'));
    }
    this.decoder = new Sequential(...dec);
    this.entropyBottleneck = new EntropyBottleneck(L, gen);
  }

  protected checkImage(x: Tensor, what = 'ConvCodec'): void {
    if (x.rank !== 4 || x.shape[1] !== this.config.channels) throw new Error(`${what}: expects images [B, ${this.config.channels}, H, W], got ${shapeStr(x.shape)}`);
    checkSides(x.shape[2]!, x.shape[3]!, this.levels, what);
  }

  /** Continuous latents y [B, L, H/2^s, W/2^s] of images x [B, C, H, W] in [0, 1]. */
  analysis(x: Tensor): Tensor {
    this.checkImage(x);
    return scale(this.encoder.forward(addScalar(x, -0.5)), this.latentScale);
  }

  /** Images [B, C, H, W] (unclamped) from (quantised) latents [B, L, h, w]. */
  synthesis(yHat: Tensor): Tensor {
    if (yHat.rank !== 4 || yHat.shape[1] !== this.config.latentChannels) throw new Error(`ConvCodec: expects latents [B, ${this.config.latentChannels}, h, w], got ${shapeStr(yHat.shape)}`);
    return addScalar(this.decoder.forward(scale(yHat, 1 / this.latentScale)), 0.5);
  }
}
