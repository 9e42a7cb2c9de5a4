/**
 * Causal 3-D convolution for videos laid out as x [B, T, C, H, W] (frame-major, so a frame is one
 * contiguous [C, H, W] block and per-frame 2-D ops are a reshape to [B·T, C, H, W]).
 *
 *   y[b, t, o] = bias[o] + Σ_{i<kt} Σ_c (W[o, c, i] ⋆ x[b, t·st − (kt − 1) + i, c])     (⋆: 2-D cross-correlation)
 *
 * with frames of negative index read as zeros (causal, left-only temporal padding of kt − 1 frames),
 * so output frame t depends on input frames ≤ t·st only. Output frames T' = ⌊(T − 1)/st⌋ + 1: with
 * st = 2 and T = 1 + 2m frames, frame 0 is coded alone and every later output covers 2 new frames —
 * the "first frame alone, then groups" layout of causal video VAEs. It equals PyTorch's
 * conv3d(F.pad(x, (pw, pw, ph, ph, kt − 1, 0)), W, stride=(st, sh, sw)) on [B, C, T, H, W].
 *
 * Implementation (chosen for speed): a composition of conv2d over time-shifted frames, fused into
 * ONE conv2d call. `gatherFrames` stacks the kt shifted frames of every output time step along
 * channels, u [B·T', kt·C, H, W] (u[b·T' + t, i·C + c] = x[b, t·st − (kt−1) + i, c]), and the
 * weight [O, C, kt, kh, kw] is permuted to [O, kt·C, kh, kw]; then y = conv2d(u, W'). That is
 * Σ_i conv2d(x[t − shift_i], W_i) as one im2col + one GEMM of inner size kt·C·kh·kw per frame
 * instead of kt GEMMs of inner size C·kh·kw plus kt − 1 tensor additions, on the native conv2d
 * kernels (forward and backward) without a new C++ op. Gradients follow from the autograd of
 * gatherFrames (a scatter-add), permute and conv2d. (A hand-fused variant — im2col once per input
 * frame and one GEMM over all frames — was measured 1.5–9× slower per layer on this machine: the
 * all-frames matrices leave the cache and O = 1 output layers become GEMV-shaped; see docs/VIDEO.md.)
 */
import type { Generator } from '../core/random.js';
import { K, Tensor, empty, record, shapeStr } from '../core/tensor.js';
import { add } from '../core/ops/elementwise.js';
import { conv2d, convTranspose2d } from '../core/ops/conv.js';
import { permute, reshape } from '../core/ops/shape.js';
import { Module, param } from './module.js';
import { defaultLayerInit_, zeros_ } from './init.js';

/**
 * Frames picked along axis 1: x [B, T, F] → [B, len(idx), F] with out[b, j] = x[b, idx[j]], or
 * zeros where idx[j] = −1. Backward scatter-adds: gx[b, idx[j]] += g[b, j].
 */
export function gatherFrames(x: Tensor, idx: ArrayLike<number>): Tensor {
  if (x.rank !== 3) throw new Error(`gatherFrames: expects x [B, T, F], got ${shapeStr(x.shape)}`);
  const [B, T, F] = x.shape as [number, number, number];
  const J = idx.length;
  for (let j = 0; j < J; j++) {
    const i = idx[j]!;
    if (!Number.isInteger(i) || i < -1 || i >= T) throw new Error(`gatherFrames: frame index ${i} at position ${j} is outside [-1, ${T - 1}]`);
  }
  // Frames are rows of F floats of the [B·T, F] matrix: one threaded row gather (−1: a zero row), and
  // its adjoint a scatter-add into zeros in row order (the JS frame loops this replaces were ~6% of a
  // video VAE step).
  const rows = new Int32Array(B * J);
  for (let b = 0; b < B; b++) for (let j = 0; j < J; j++) rows[b * J + j] = idx[j]! < 0 ? -1 : b * T + idx[j]!;
  const out = empty([B, J, F]);
  K().gatherRows(x.f32('gatherFrames'), F, rows, out.f32(), true);
  return record(out, 'gatherFrames', [x], (g) => {
    const gx = empty(x.shape);
    const GX = gx.f32();
    K().fill(GX, 0);
    K().scatterAddRows(g.f32(), F, rows, GX, true);
    return [gx];
  });
}

/** Output frames of a causal temporal conv with stride st over T frames: ⌊(T − 1)/st⌋ + 1. */
export function causalFrames(T: number, st: number): number {
  return Math.floor((T - 1) / st) + 1;
}

/** The frame of each (output step t, tap i) pair, t-major: t·st − (kt − 1) + i, or −1 before frame 0. */
export function causalTapIndex(T: number, kt: number, st: number): Int32Array {
  const To = causalFrames(T, st);
  const idx = new Int32Array(To * kt);
  for (let t = 0; t < To; t++) for (let i = 0; i < kt; i++) {
    const f = t * st - (kt - 1) + i;
    idx[t * kt + i] = f < 0 ? -1 : f;
  }
  return idx;
}

export interface CausalConv3dOptions {
  /** [temporal, spatial] stride (default [1, 1]). */
  stride?: [number, number];
  /** Spatial zero padding on each side (default 0). */
  padding?: number;
}

/**
 * Causal conv3d (see the file comment): x [B, T, C, H, W], w [O, C, kt, kh, kw], b [O] →
 * [B, T', O, OH, OW], T' = ⌊(T − 1)/st⌋ + 1, OH = ⌊(H + 2p − kh)/sh⌋ + 1; the kt shifted frames of
 * every output step stacked along channels (gatherFrames) and ONE conv2d with the weight permuted to
 * [O, kt·C, kh, kw].
 */
export function causalConv3d(x: Tensor, w: Tensor, b: Tensor | null, opts: CausalConv3dOptions = {}): Tensor {
  const [st, ss] = checkCausal(x, w, opts);
  const p = opts.padding ?? 0;
  const [B, T, C, H, W] = x.shape as [number, number, number, number, number];
  const [O, , kt, kh, kw] = w.shape as [number, number, number, number, number];
  const To = causalFrames(T, st);
  let u: Tensor;
  if (kt === 1 && st === 1) u = reshape(x, [B * T, C, H, W]);
  else u = reshape(gatherFrames(reshape(x, [B, T, C * H * W]), causalTapIndex(T, kt, st)), [B * To, kt * C, H, W]);
  const w2 = kt === 1 ? reshape(w, [O, C, kh, kw]) : reshape(permute(w, [0, 2, 1, 3, 4]), [O, kt * C, kh, kw]);
  const y = conv2d(u, w2, b, { stride: ss, padding: p });
  return reshape(y, [B, To, O, y.shape[2]!, y.shape[3]!]);
}

function checkCausal(x: Tensor, w: Tensor, opts: CausalConv3dOptions): [number, number] {
  const [st, ss] = opts.stride ?? [1, 1];
  if (x.rank !== 5 || w.rank !== 5 || x.shape[2] !== w.shape[1]) {
    throw new Error(`causalConv3d: expects x [B, T, C, H, W] and weight [O, C, kt, kh, kw] with equal C, got ${shapeStr(x.shape)} and ${shapeStr(w.shape)}`);
  }
  if (!(Number.isInteger(st) && st >= 1 && Number.isInteger(ss) && ss >= 1)) throw new Error(`causalConv3d: strides must be positive integers, got [${st}, ${ss}]`);
  const p = opts.padding ?? 0;
  if (!(Number.isInteger(p) && p >= 0)) throw new Error(`causalConv3d: padding must be a non-negative integer, got ${p}`);
  const H = x.shape[3]!, W = x.shape[4]!, kh = w.shape[3]!, kw = w.shape[4]!;
  if (H + 2 * p < kh || W + 2 * p < kw) throw new Error(`causalConv3d: frames ${H}×${W} with padding ${p} are smaller than the kernel ${kh}×${kw}`);
  return [st, ss];
}

/**
 * The causal conv3d layer. weight [O, C, kt, kh, kw] (PyTorch Conv3d's layout), bias [O], both
 * U(±1/√(C·kt·kh·kw)) like PyTorch. `frozen` makes forward use detached weights (no gradient:
 * the optimiser skips them), for fine-tuning only some layers.
 */
export class CausalConv3d extends Module {
  weight: Tensor;
  bias: Tensor;
  frozen = false;
  readonly stride: [number, number];
  readonly padding: number;

  constructor(readonly inChannels: number, readonly outChannels: number, kernel: [number, number, number], gen: Generator, opts: CausalConv3dOptions = {}) {
    super();
    this.weight = param(empty([outChannels, inChannels, ...kernel]));
    this.bias = param(empty([outChannels]));
    this.stride = opts.stride ?? [1, 1];
    this.padding = opts.padding ?? 0;
    defaultLayerInit_(this.weight, this.bias, gen);
  }

  forward(x: Tensor): Tensor {
    const w = this.frozen ? this.weight.detach() : this.weight, b = this.frozen ? this.bias.detach() : this.bias;
    return causalConv3d(x, w, b, { stride: this.stride, padding: this.padding });
  }
}

/**
 * VidRD-style temporal layer: y = x + causalConv3d(x, W) with a kt×1×1 kernel [C, C, kt, 1, 1]
 * initialised to zero (weight and bias), so a freshly inserted layer is the identity and a
 * pretrained image model's outputs are unchanged until fine-tuning moves it.
 */
export class TemporalResidual extends Module {
  conv: CausalConv3d;
  constructor(channels: number, kt: number, gen: Generator) {
    super();
    this.conv = new CausalConv3d(channels, channels, [kt, 1, 1], gen);
    zeros_(this.conv.weight);
    zeros_(this.conv.bias);
  }

  forward(x: Tensor): Tensor {
    return add(x, this.conv.forward(x));
  }
}

/**
 * Spatial 2× upsampling of every frame: convTranspose2d with a 4×4 kernel, stride 2, padding 1
 * on [B·T, Cin, H, W] → [B, T, Cout, 2H, 2W]. weight [Cin, Cout, 4, 4] (PyTorch's layout).
 */
export class FrameUpsample2d extends Module {
  weight: Tensor;
  bias: Tensor;
  frozen = false;

  constructor(readonly inChannels: number, readonly outChannels: number, gen: Generator) {
    super();
    this.weight = param(empty([inChannels, outChannels, 4, 4]));
    this.bias = param(empty([outChannels]));
    defaultLayerInit_(this.weight, this.bias, gen);
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 5) throw new Error(`FrameUpsample2d: expects [B, T, C, H, W], got ${shapeStr(x.shape)}`);
    const [B, T, C, H, W] = x.shape as [number, number, number, number, number];
    const w = this.frozen ? this.weight.detach() : this.weight, b = this.frozen ? this.bias.detach() : this.bias;
    const y = convTranspose2d(reshape(x, [B * T, C, H, W]), w, b, { stride: 2, padding: 1 });
    return reshape(y, [B, T, this.outChannels, 2 * H, 2 * W]);
  }
}

/**
 * Causal temporal 2× upsampling by channel-to-time shuffle: x [B, T, 2C, H, W] → [B, 2T − 1, C, H, W].
 * Latent frame t ≥ 1 becomes output frames 2t − 1 (channels [0, C)) and 2t (channels [C, 2C));
 * latent frame 0 becomes output frame 0 alone (its channels [0, C)). So output frame f depends on
 * latent frames ≤ ⌈f/2⌉ only, mirroring the encoder's stride-2 causal conv.
 */
export function timeShuffleUp(x: Tensor): Tensor {
  if (x.rank !== 5 || x.shape[2]! % 2) throw new Error(`timeShuffleUp: expects [B, T, 2C, H, W], got ${shapeStr(x.shape)}`);
  const [B, T, C2, H, W] = x.shape as [number, number, number, number, number];
  const C = C2 / 2;
  // [B, T, 2C, H, W] viewed as [B, 2T, C·H·W] is frames (0a, 0b, 1a, 1b, …); drop 0b.
  const idx = new Int32Array(2 * T - 1);
  idx[0] = 0;
  for (let f = 1; f < 2 * T - 1; f++) idx[f] = f + 1;
  return reshape(gatherFrames(reshape(x, [B, 2 * T, C * H * W]), idx), [B, 2 * T - 1, C, H, W]);
}
