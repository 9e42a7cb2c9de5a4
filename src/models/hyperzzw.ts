/**
 * HyperZ·Z·W (Zhang 2024, "HyperZ·Z·W Operator Connects Slow-Fast Networks for Full Context
 * Interaction", the Terminator architecture) at small size, in 2D (images) and 1D (pixel sequences).
 *
 * Slow networks: coordinate-based implicit MLPs (multiplicative sine filters) map the normalised
 * coordinates c ∈ [-1, 1]^d (d = 2 for a 2D kernel, 1 for a 1D one) of every kernel position to one
 * kernel value per channel,
 *   h_1 = sin(Θ_1 c),  h_2 = (A h_1 + a) ⊙ sin(Θ_2 c),  W(c) = B h_2 + b          -> W [C, kh, kw]
 * so a kernel as large as the feature map costs a few hundred parameters.
 *
 * Global HyperZ·Z·W: the global hyper-kernel (as large as the map) becomes context dependent by an
 * element-wise product with the hidden activations, K_b = W ⊙ Z_b ("pixel-level scores"), and Z_b is
 * then correlated (depth-wise, "same" size) with it:
 *   Y[b, c, i, j] = Σ_{p,q} W[c, p, q] · Z[b, c, p, q] · Z[b, c, i + p − ⌊H/2⌋, j + q − ⌊W/2⌋]
 * (zero outside the map): every output pixel sees every input pixel (full context) in one layer.
 * The 1D operator is the H = 1 case: Y[b, c, i] = Σ_p W[c, p] · Z[b, c, p] · Z[b, c, i + p − ⌊L/2⌋].
 * Local HyperZ·Z·W (our reading of the paper's sliding-window branch): a small k×k (1D: k) hyper-
 * kernel W_l from its own slow net slides over Z and its response re-weights Z element-wise,
 *   Y_l = Z ⊙ (W_l ⋆ Z),   (W_l ⋆ Z)[b, c, i, j] = Σ_{u,v} W_l[c, u, v] · Z[b, c, i + u − ⌊k/2⌋, j + v − ⌊k/2⌋],
 * so the effective per-pixel weight depends on the context.
 * Hyper-channel interaction (gating branch): channel scores pooled from the pixel-level scores,
 * s_b = mean_{i,j} (W ⊙ Z_b) [B, C], a channel-mixing Linear and a sigmoid gate, Y_g = σ(A s_b + a) ⊙ Z_b.
 *
 * SFNE-lite block ('sfne', default): [global HyperZ·Z·W, local HyperZ·Z·W, hyper-channel gate,
 * local k×k conv] concatenated (4C channels) → 1×1 bottleneck conv → GELU → zero-mean standardisation
 * per sample; no residual connections. 'two-branch' keeps the earlier block: [global HyperZ·Z·W,
 * local 3×3 conv] → the same bottleneck. Terminator-lite: stem conv → L blocks → mean over pixels →
 * Linear to classes.
 *
 * Slow neural loss (the local feedback error of the slow networks): the global hyper-kernels of
 * consecutive blocks are pulled together,
 *   L_slow = Σ_{l=1}^{L−1} mean_{c,p,q} (W_g^{(l)} − W_g^{(l+1)})²,      L = CE + λ_slow · L_slow,
 * so every slow net receives an error straight from its neighbours' slow nets, not only through the
 * fast network (all blocks here have the same C, so no channel tiling is needed). λ_slow defaults to
 * 0.1: the paper's weight was not in the text we could find.
 *
 * Pixel-level 1D (sequential MNIST): MNIST averaged to side×side and read row by row as a sequence of
 * side² pixels (196 at side 14, not 784: the full-context operator costs (side²)² per channel and
 * image); every kernel is 1D (stem and local conv 1×3, hyper-kernels from 1D coordinate MLPs). The
 * ResNet-like baseline uses 1×9 convs in 1D (the parameters per layer of a 3×3 conv) and a width
 * chosen so its parameter count is the closest to Terminator-lite's (`matchedResNetChannels`).
 *
 * Not built: the paper's full nine-branch SFNE block (its RGU and "hyper interaction" branches and
 * G-IBS standardisation), the Kar optimisers, FFT convolution for large kernels, 784-pixel sequences.
 */
import { Generator } from '../core/random.js';
import { type Tensor, empty, fromBuffer, noGrad, record, shapeStr, zeros } from '../core/tensor.js';
import { add, gelu, mul, relu, scale, sigmoid, sin, sub } from '../core/ops/elementwise.js';
import { argmax, mean } from '../core/ops/reduce.js';
import { crossEntropy, mseLoss } from '../core/ops/loss.js';
import { concat, permute, reshape } from '../core/ops/shape.js';
import { Module } from '../nn/module.js';
import { Conv2d, Linear } from '../nn/layers.js';
import { train, type Batch, type StepOutput, type Trainable } from '../train/fit.js';
import { loadMnist, type LabelledImages } from '../data/mnist.js';

/**
 * "Same"-size depth-wise cross-correlation with one kernel per sample (Bk = B) or one shared kernel
 * (Bk = 1): k [Bk, C, kh, kw], z [B, C, H, W] -> [B, C, H, W],
 *   y[b, c, i, j] = Σ_{p<kh, q<kw} k[b | 0, c, p, q] · z[b, c, i + p − ⌊kh/2⌋, j + q − ⌊kw/2⌋]   (zero outside).
 * With kh = H, kw = W it is the full-context sum of the global operator; loops run over the valid
 * rectangle of each kernel tap so nothing is materialised (an im2col gather of (H·W)² values per
 * channel and image plus a batched matvec was about 2× slower forward + backward here).
 */
export function correlateSame(k: Tensor, z: Tensor): Tensor {
  if (z.rank !== 4 || k.rank !== 4 || k.shape[1] !== z.shape[1] || (k.shape[0] !== 1 && k.shape[0] !== z.shape[0])) {
    throw new Error(`correlateSame: expects k [1 or B, C, kh, kw] and z [B, C, H, W] with equal C, got ${shapeStr(k.shape)} and ${shapeStr(z.shape)}`);
  }
  const [B, C, H, W] = z.shape as [number, number, number, number];
  const [Bk, , kh, kw] = k.shape as [number, number, number, number];
  const Kd = k.f32('correlateSame'), Zd = z.f32('correlateSame');
  const out = empty([B, C, H, W]);
  const Y = out.f32();
  Y.fill(0);
  const dims = [B, C, H, W, Bk, kh, kw] as const;
  corrForward(Kd, Zd, Y, ...dims);
  return record(out, 'correlateSame', [k, z], (g) => {
    const G = g.f32();
    const gk = k.requiresGrad ? zeros(k.shape) : null, gz = z.requiresGrad ? zeros(z.shape) : null;
    if (gk) corrKernelGrad(G, Zd, gk.f32(), ...dims);
    if (gz) corrInputGrad(G, Kd, gz.f32(), ...dims);
    return [gk, gz];
  });
}

// Three monomorphic loops (forward, dk, dz) over every (b, c, kernel tap) and the output rectangle
// the tap reaches: rows i with 0 ≤ i + p − ⌊kh/2⌋ < H, columns likewise; the innermost loop runs
// along a contiguous row.
function corrForward(Kd: Float32Array, Zd: Float32Array, Y: Float32Array, B: number, C: number, H: number, W: number, Bk: number, kh: number, kw: number): void {
  const ch = Math.floor(kh / 2), cw = Math.floor(kw / 2);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
    const zo = (b * C + c) * H * W, ko = ((Bk === 1 ? 0 : b) * C + c) * kh * kw;
    for (let p = 0; p < kh; p++) {
      const dr = p - ch, i0 = Math.max(0, -dr), i1 = Math.min(H, H - dr);
      for (let q = 0; q < kw; q++) {
        const kv = Kd[ko + p * kw + q]!;
        if (kv === 0) continue;
        const dc = q - cw, j0 = Math.max(0, -dc), j1 = Math.min(W, W - dc);
        for (let i = i0; i < i1; i++) {
          const yr = zo + i * W, zr = zo + (i + dr) * W + dc;
          for (let j = j0; j < j1; j++) Y[yr + j] += kv * Zd[zr + j]!;
        }
      }
    }
  }
}

function corrKernelGrad(G: Float32Array, Zd: Float32Array, GK: Float32Array, B: number, C: number, H: number, W: number, Bk: number, kh: number, kw: number): void {
  const ch = Math.floor(kh / 2), cw = Math.floor(kw / 2);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
    const zo = (b * C + c) * H * W, ko = ((Bk === 1 ? 0 : b) * C + c) * kh * kw;
    for (let p = 0; p < kh; p++) {
      const dr = p - ch, i0 = Math.max(0, -dr), i1 = Math.min(H, H - dr);
      for (let q = 0; q < kw; q++) {
        const dc = q - cw, j0 = Math.max(0, -dc), j1 = Math.min(W, W - dc);
        let s = 0;
        for (let i = i0; i < i1; i++) {
          const yr = zo + i * W, zr = zo + (i + dr) * W + dc;
          for (let j = j0; j < j1; j++) s += G[yr + j]! * Zd[zr + j]!;
        }
        GK[ko + p * kw + q] += s;
      }
    }
  }
}

function corrInputGrad(G: Float32Array, Kd: Float32Array, GZ: Float32Array, B: number, C: number, H: number, W: number, Bk: number, kh: number, kw: number): void {
  const ch = Math.floor(kh / 2), cw = Math.floor(kw / 2);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
    const zo = (b * C + c) * H * W, ko = ((Bk === 1 ? 0 : b) * C + c) * kh * kw;
    for (let p = 0; p < kh; p++) {
      const dr = p - ch, i0 = Math.max(0, -dr), i1 = Math.min(H, H - dr);
      for (let q = 0; q < kw; q++) {
        const kv = Kd[ko + p * kw + q]!;
        if (kv === 0) continue;
        const dc = q - cw, j0 = Math.max(0, -dc), j1 = Math.min(W, W - dc);
        for (let i = i0; i < i1; i++) {
          const yr = zo + i * W, zr = zo + (i + dr) * W + dc;
          for (let j = j0; j < j1; j++) GZ[zr + j] += kv * G[yr + j]!;
        }
      }
    }
  }
}

/** The global HyperZ·Z·W operator (file comment): z [B, C, H, W], w [C, H, W] -> [B, C, H, W]. */
export function hyperZZW(z: Tensor, w: Tensor): Tensor {
  if (z.rank !== 4 || w.rank !== 3 || w.shape[0] !== z.shape[1] || w.shape[1] !== z.shape[2] || w.shape[2] !== z.shape[3]) {
    throw new Error(`hyperZZW: expects z [B, C, H, W] and a hyper-kernel w [C, H, W] of the same C, H, W, got ${shapeStr(z.shape)} and ${shapeStr(w.shape)}`);
  }
  const [, C, H, W] = z.shape as [number, number, number, number];
  return correlateSame(mul(z, reshape(w, [1, C, H, W])), z);
}

/** The 1D global operator: z [B, C, L], w [C, L] -> [B, C, L] (the H = 1 case of `hyperZZW`). */
export function hyperZZW1d(z: Tensor, w: Tensor): Tensor {
  if (z.rank !== 3 || w.rank !== 2 || w.shape[0] !== z.shape[1] || w.shape[1] !== z.shape[2]) {
    throw new Error(`hyperZZW1d: expects z [B, C, L] and a hyper-kernel w [C, L] of the same C, L, got ${shapeStr(z.shape)} and ${shapeStr(w.shape)}`);
  }
  const [B, C, L] = z.shape as [number, number, number];
  return reshape(hyperZZW(reshape(z, [B, C, 1, L]), reshape(w, [C, 1, L])), [B, C, L]);
}

/** Local HyperZ·Z·W (file comment): z [B, C, H, W], a small hyper-kernel w [C, kh, kw] -> Z ⊙ (w ⋆ Z). */
export function localHyperZZW(z: Tensor, w: Tensor): Tensor {
  if (z.rank !== 4 || w.rank !== 3 || w.shape[0] !== z.shape[1]) {
    throw new Error(`localHyperZZW: expects z [B, C, H, W] and a hyper-kernel w [C, kh, kw] of the same C, got ${shapeStr(z.shape)} and ${shapeStr(w.shape)}`);
  }
  return mul(z, correlateSame(reshape(w, [1, ...w.shape]), z));
}

/** The slow network: coordinates of an H×W grid -> a hyper-kernel [C, H, W] (file comment). */
export class SlowKernelNet extends Module {
  theta1: Linear;
  theta2: Linear;
  lin: Linear;
  out: Linear;
  readonly coords: Tensor;

  constructor(readonly channels: number, readonly height: number, readonly width: number, hidden: number, gen: Generator) {
    super();
    // A 1-row (or 1-column) kernel gets 1D coordinates: a constant second coordinate would only
    // add parameters that act as biases.
    const axes = height > 1 && width > 1 ? 2 : 1;
    this.theta1 = new Linear(axes, hidden, gen);
    this.theta2 = new Linear(axes, hidden, gen);
    this.lin = new Linear(hidden, hidden, gen);
    this.out = new Linear(hidden, channels, gen);
    const norm = (k: number, n: number) => (n > 1 ? (2 * k) / (n - 1) - 1 : 0);
    const c = new Float32Array(height * width * axes);
    for (let i = 0; i < height; i++) for (let j = 0; j < width; j++) {
      const r = (i * width + j) * axes;
      if (axes === 2) { c[r] = norm(i, height); c[r + 1] = norm(j, width); } else c[r] = height > 1 ? norm(i, height) : norm(j, width);
    }
    this.coords = fromBuffer(c, [height * width, axes]);
  }

  /** -> W [C, H, W]. */
  forward(): Tensor {
    const c = this.coords;
    const h2 = mul(this.lin.forward(sin(this.theta1.forward(c))), sin(this.theta2.forward(c)));
    return reshape(permute(this.out.forward(h2), [1, 0]), [this.channels, this.height, this.width]);
  }
}

export type TerminatorBlockKind = 'sfne' | 'two-branch';

export interface TerminatorConfig {
  /** Image side S: 2D inputs are [B, 1, S, S]; 1D inputs are the S² pixels read row by row, [B, S²]. */
  side: number;
  channels: number;
  blocks: number;
  classes: number;
  /** Slow-network hidden width (default 16). */
  slowHidden?: number;
  /** 2 (default): images; 1: pixel sequences (sequential MNIST). */
  dims?: 1 | 2;
  /** 'sfne' (default): four branches; 'two-branch': global HyperZ·Z·W + local conv only. */
  block?: TerminatorBlockKind;
  /** Side k of the local hyper-kernel and local conv (k×k in 2D, 1×k in 1D; odd, default 3). */
  localKernel?: number;
  /** λ_slow, the weight of the slow neural loss (default 0.1; 0 turns it off). */
  slowLossWeight?: number;
}

export interface TerminatorBlockOptions {
  kind: TerminatorBlockKind;
  slowHidden: number;
  localKernel: number;
}

/** One block (file comment): [B, C, H, W] -> [B, C, H, W]; H = 1 for sequences. No residual. */
export class TerminatorBlock extends Module {
  slow: SlowKernelNet;
  slowLocal: SlowKernelNet | null;
  gate: Linear | null;
  local: Conv2d;
  bottleneck: Conv2d;

  constructor(C: number, H: number, W: number, readonly options: TerminatorBlockOptions, gen: Generator) {
    super();
    const k = options.localKernel;
    if (!Number.isInteger(k) || k < 1 || k % 2 === 0) throw new Error(`TerminatorBlock: localKernel must be an odd positive integer, got ${k}`);
    if (options.kind !== 'sfne' && options.kind !== 'two-branch') throw new Error(`TerminatorBlock: block must be 'sfne' or 'two-branch', got '${options.kind}'`);
    const kh = H === 1 ? 1 : k;
    this.slow = new SlowKernelNet(C, H, W, options.slowHidden, gen);
    const sfne = options.kind === 'sfne';
    this.slowLocal = sfne ? new SlowKernelNet(C, kh, k, options.slowHidden, gen) : null;
    this.gate = sfne ? new Linear(C, C, gen) : null;
    this.local = new Conv2d(C, C, [kh, k], gen, { padding: [Math.floor(kh / 2), Math.floor(k / 2)] });
    this.bottleneck = new Conv2d((sfne ? 4 : 2) * C, C, 1, gen);
  }

  /** The global hyper-kernel W_g [C, H, W] (a function of the slow net's weights only). */
  globalKernel(): Tensor {
    return this.slow.forward();
  }

  forward(z: Tensor): Tensor {
    const [B, C, H, W] = z.shape as [number, number, number, number];
    const scores = mul(z, reshape(this.globalKernel(), [1, C, H, W])); // K = W_g ⊙ Z, pixel-level scores
    const branches = [correlateSame(scores, z)];
    if (this.slowLocal && this.gate) {
      branches.push(localHyperZZW(z, this.slowLocal.forward()));
      const g = sigmoid(this.gate.forward(mean(scores, [2, 3])));
      branches.push(mul(z, reshape(g, [B, C, 1, 1])));
    }
    branches.push(this.local.forward(z));
    const y = gelu(this.bottleneck.forward(concat(branches, 1)));
    // The paper's normalisation-free standardisation: zero-mean features, here per sample over
    // channels and pixels (per channel would zero every channel's spatial mean, all the head sees).
    return sub(y, mean(y, [1, 2, 3], true));
  }
}

abstract class PixelClassifier extends Module implements Trainable {
  readonly dims: 1 | 2;
  constructor(readonly side: number, dims: 1 | 2 | undefined) {
    super();
    this.dims = dims ?? 2;
    if (this.dims !== 1 && this.dims !== 2) throw new Error(`${this.constructor.name}: dims must be 1 or 2, got ${String(dims)}`);
  }
  abstract forward(x: Tensor): Tensor;
  /** [B, S²] or [B, 1, S, S] -> the fast network's layout: [B, 1, S, S] (2D) or [B, 1, 1, S²] (1D). */
  protected layout(x: Tensor): Tensor {
    const B = x.shape[0]!, S = this.side;
    if (x.shape.slice(1).reduce((a, b) => a * b, 1) !== S * S) throw new Error(`${this.constructor.name}: expects ${S * S} pixels per sample, got ${shapeStr(x.shape)}`);
    return reshape(x, this.dims === 1 ? [B, 1, 1, S * S] : [B, 1, S, S]);
  }
  /** Kernel shape [kh, kw] and padding of a "same" conv of side k in this layout. */
  protected kernel(k: number): { size: [number, number]; padding: [number, number] } {
    return this.dims === 1 ? { size: [1, k], padding: [0, Math.floor(k / 2)] } : { size: [k, k], padding: [Math.floor(k / 2), Math.floor(k / 2)] };
  }
  trainStep(batch: Batch): StepOutput {
    if (!batch.y) throw new Error(`${this.constructor.name}.trainStep: the dataset needs labels`);
    return { loss: crossEntropy(this.forward(batch.x), batch.y) };
  }
  accuracy(d: LabelledImages): number {
    let correct = 0;
    const D = this.side * this.side;
    noGrad(() => {
      for (let s = 0; s < d.n; s += 100) {
        const e = Math.min(d.n, s + 100), p = argmax(this.forward(fromBuffer(d.x.slice(s * D, e * D), [e - s, D])), 1).data;
        for (let i = 0; i < e - s; i++) if (p[i] === d.y[s + i]) correct++;
      }
    });
    return correct / d.n;
  }
}

/** Terminator-lite: stem conv → blocks (no residual) → mean over pixels → Linear: [B, S²] or [B, 1, S, S] -> [B, classes]. */
export class Terminator extends PixelClassifier {
  stem: Conv2d;
  blocks: TerminatorBlock[];
  head: Linear;
  readonly slowLossWeight: number;

  constructor(readonly config: TerminatorConfig, gen: Generator) {
    super(config.side, config.dims);
    const C = config.channels, stem = this.kernel(3);
    this.slowLossWeight = config.slowLossWeight ?? 0.1;
    if (!(this.slowLossWeight >= 0)) throw new Error(`Terminator: slowLossWeight must be ≥ 0, got ${config.slowLossWeight}`);
    const [H, W] = this.dims === 1 ? [1, config.side * config.side] : [config.side, config.side];
    this.stem = new Conv2d(1, C, stem.size, gen, { padding: stem.padding });
    const opts: TerminatorBlockOptions = { kind: config.block ?? 'sfne', slowHidden: config.slowHidden ?? 16, localKernel: config.localKernel ?? 3 };
    this.blocks = Array.from({ length: config.blocks }, () => new TerminatorBlock(C, H, W, opts, gen));
    this.head = new Linear(C, config.classes, gen);
  }

  forward(x: Tensor): Tensor {
    let z = gelu(this.stem.forward(this.layout(x)));
    for (const b of this.blocks) z = b.forward(z);
    return this.head.forward(mean(z, [2, 3]));
  }

  /** L_slow = Σ_l mean (W_g^(l) − W_g^(l+1))² over consecutive blocks (file comment); null with one block. */
  slowNeuralLoss(): Tensor | null {
    let total: Tensor | null = null;
    for (let l = 0; l + 1 < this.blocks.length; l++) {
      const d = mseLoss(this.blocks[l]!.globalKernel(), this.blocks[l + 1]!.globalKernel());
      total = total ? add(total, d) : d;
    }
    return total;
  }

  override trainStep(batch: Batch): StepOutput {
    const { loss } = super.trainStep(batch);
    const slow = this.slowLossWeight > 0 ? this.slowNeuralLoss() : null;
    return { loss: slow ? add(loss, scale(slow, this.slowLossWeight)) : loss };
  }
}

/** Taps per conv of the baseline: 3×3 in 2D, 1×9 in 1D (the same 9 weights per channel pair). */
const RESNET_TAPS = 9;

/** The baseline: stem conv → residual blocks x + conv(relu(conv(x))) → ReLU → mean → Linear. */
export class ResNetLite extends PixelClassifier {
  stem: Conv2d;
  convs: Conv2d[];
  head: Linear;

  constructor(readonly config: TerminatorConfig, gen: Generator) {
    super(config.side, config.dims);
    const C = config.channels, k = this.kernel(this.dims === 1 ? RESNET_TAPS : 3);
    this.stem = new Conv2d(1, C, k.size, gen, { padding: k.padding });
    this.convs = Array.from({ length: 2 * config.blocks }, () => new Conv2d(C, C, k.size, gen, { padding: k.padding }));
    this.head = new Linear(C, config.classes, gen);
  }

  forward(x: Tensor): Tensor {
    let z = relu(this.stem.forward(this.layout(x)));
    for (let b = 0; b < this.config.blocks; b++) z = relu(add(z, this.convs[2 * b + 1]!.forward(relu(this.convs[2 * b]!.forward(z)))));
    return this.head.forward(mean(z, [2, 3]));
  }
}

/** Parameters of ResNetLite at width c: stem (9c + c) + 2L convs (9c² + c) + head (c·classes + classes). */
export function resNetLiteParams(c: number, blocks: number, classes: number): number {
  return RESNET_TAPS * c + c + 2 * blocks * (RESNET_TAPS * c * c + c) + c * classes + classes;
}

/** The ResNetLite width whose parameter count is the closest to `target` (ties: the smaller width). */
export function matchedResNetChannels(target: number, blocks: number, classes: number): number {
  let best = 1;
  for (let c = 2; resNetLiteParams(c - 1, blocks, classes) <= target; c++) {
    if (Math.abs(resNetLiteParams(c, blocks, classes) - target) < Math.abs(resNetLiteParams(best, blocks, classes) - target)) best = c;
  }
  return best;
}

/** MNIST 28×28 -> side×side by averaging 28/side × 28/side blocks (side must divide 28). */
export function downsampleMnist(d: LabelledImages, side: number): LabelledImages {
  if (28 % side !== 0) throw new Error(`downsampleMnist: side must divide 28, got ${side}`);
  const f = 28 / side, D = side * side, x = new Float32Array(d.n * D);
  for (let n = 0; n < d.n; n++) for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) {
    let s = 0;
    for (let a = 0; a < f; a++) for (let b = 0; b < f; b++) s += d.x[n * 784 + (i * f + a) * 28 + j * f + b]!;
    x[n * D + i * side + j] = s / (f * f);
  }
  return { x, y: d.y, n: d.n };
}

export interface HyperZZWComparisonOptions {
  trainCount: number;
  testCount: number;
  side: number;
  channels: number;
  blocks: number;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** 2 (default): MNIST images; 1: pixel-level sequential MNIST (side² pixels row by row). */
  dims?: 1 | 2;
  block?: TerminatorBlockKind;
  slowLossWeight?: number;
  /** Baseline width (default: `matchedResNetChannels` of Terminator-lite's parameter count). */
  resnetChannels?: number;
}

export const HYPERZZW_BUDGETS: Record<'tiny' | 'quick', Omit<HyperZZWComparisonOptions, 'seed'>> = {
  tiny: { trainCount: 300, testCount: 100, side: 7, channels: 4, blocks: 2, steps: 20, batchSize: 16, lr: 1e-2 },
  quick: { trainCount: 4000, testCount: 1000, side: 14, channels: 8, blocks: 2, steps: 300, batchSize: 32, lr: 1e-2 },
};

export function runHyperZZWComparison(o: HyperZZWComparisonOptions) {
  const { train: tr0, test: te0 } = loadMnist({ trainCount: o.trainCount, testCount: o.testCount, seed: o.seed });
  const tr = downsampleMnist(tr0, o.side), te = downsampleMnist(te0, o.side);
  const dims = o.dims ?? 2;
  const cfg: TerminatorConfig = { side: o.side, channels: o.channels, blocks: o.blocks, classes: 10, dims, block: o.block, slowLossWeight: o.slowLossWeight };
  const terminator = new Terminator(cfg, new Generator(o.seed + 1));
  const resnetChannels = o.resnetChannels ?? matchedResNetChannels(terminator.numParameters(), o.blocks, 10);
  const resnet = new ResNetLite({ ...cfg, channels: resnetChannels }, new Generator(o.seed + 1));
  const sampleShape = dims === 1 ? [o.side * o.side] : [1, o.side, o.side];
  const one = (m: Terminator | ResNetLite) => {
    const t0 = performance.now();
    train(m, { x: tr.x, y: tr.y, n: tr.n, sampleShape }, { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed });
    const trainSeconds = (performance.now() - t0) / 1000;
    m.eval();
    return { params: m.numParameters(), testAccuracy: m.accuracy(te), trainSeconds };
  };
  return { options: o, resnetChannels, slowLossWeight: terminator.slowLossWeight, block: cfg.block ?? 'sfne', terminator: one(terminator), resnet: one(resnet) };
}

function methodRow(budget: 'tiny' | 'quick', seed: number, dims: 1 | 2) {
  const r = runHyperZZWComparison({ ...HYPERZZW_BUDGETS[budget], seed, dims });
  const o = r.options, pc = (v: number) => `${(v * 100).toFixed(2)}%`;
  const data = dims === 1 ? `pixel-level sequential MNIST, ${o.side * o.side} pixels` : `MNIST ${o.side}×${o.side}`;
  const name = dims === 1 ? 'hyperzzw-1d' : 'hyperzzw';
  return {
    method: dims === 1 ? 'HyperZ·Z·W 1D' : 'HyperZ·Z·W',
    claim: `slow coordinate-MLP hyper-kernels × activations, full-context conv, ${r.block === 'sfne' ? '4-branch SFNE-lite block' : '2-branch block'}, slow neural loss λ=${r.slowLossWeight}, no residuals beat a ResNet-like net of similar size (${data}, ${o.trainCount / 1000}k, ${o.steps} steps, C=${o.channels}, ${o.blocks} blocks)`,
    baseline: `ResNet-lite C=${r.resnetChannels} (${r.resnet.params} params): ${pc(r.resnet.testAccuracy)} in ${r.resnet.trainSeconds.toFixed(1)} s`,
    ours: `Terminator-lite (${r.terminator.params} params): ${pc(r.terminator.testAccuracy)} in ${r.terminator.trainSeconds.toFixed(1)} s`,
    held: r.terminator.testAccuracy >= r.resnet.testAccuracy,
    command: `aelab experiment methods --budget ${budget} --only ${name}${seed !== 0 ? ` --seed ${seed}` : ''}`,
    numbers: {
      dims, block: r.block, slowLossWeight: r.slowLossWeight, resnetChannels: r.resnetChannels,
      terminatorTestAccuracy: r.terminator.testAccuracy, resnetTestAccuracy: r.resnet.testAccuracy,
      terminatorParams: r.terminator.params, resnetParams: r.resnet.params,
      terminatorTrainSeconds: r.terminator.trainSeconds, resnetTrainSeconds: r.resnet.trainSeconds,
    },
  };
}

/** The `aelab experiment methods` row for HyperZ·Z·W on 2D MNIST (structurally a MethodRow). */
export function hyperZZWMethodRow(budget: 'tiny' | 'quick', seed: number) {
  return methodRow(budget, seed, 2);
}

/** The `aelab experiment methods` row for HyperZ·Z·W on pixel-level (1D) sequential MNIST. */
export function hyperZZW1dMethodRow(budget: 'tiny' | 'quick', seed: number) {
  return methodRow(budget, seed, 1);
}
