/**
 * Upsampling and separable-convolution ops for the NeRV decoders (NCHW):
 *
 * - `pixelShuffle(x, r)`: [N, C·r², H, W] -> [N, C, H·r, W·r] with
 *   out[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w] (PyTorch's PixelShuffle). A pure
 *   reshape → permute → reshape, so its gradient is the inverse permutation.
 * - `upsampleBilinear(x, s)`: [N, C, H, W] -> [N, C, H·s, W·s], PyTorch's
 *   interpolate(mode='bilinear', align_corners=False) for an integer factor s: output row o samples
 *   the input at u = max(0, (o + ½)/s − ½), i.e. (1 − λ)·x[⌊u⌋] + λ·x[min(⌊u⌋ + 1, H − 1)] with
 *   λ = u − ⌊u⌋ (likewise along W). Being linear and separable it is y = A_H · x · A_Wᵀ with
 *   A_H [H·s, H] and A_W [W·s, W] interpolation matrices, so forward and backward are two GEMMs.
 * - `depthwiseConv2d(x, w, b, padding)`: x [N, C, H, W], w [C, 1, k, k], b [C] -> [N, C, OH, OW],
 *   stride 1: y[n, c] = b[c] + Σ_{u,v} w[c, 0, u, v] · x[n, c, i + u − p, j + v − p] (PyTorch's
 *   conv2d with groups = C). Each channel is its own k×k filter, so it costs N·C·OH·OW·k²
 *   multiply-adds — the "depth-wise" half of a separable convolution.
 */
import { Tensor, empty, fromBuffer, record, shapeStr, zeros } from '../tensor.js';
import { matmul } from './linalg.js';
import { permute, reshape } from './shape.js';

/** [N, C·r², H, W] -> [N, C, H·r, W·r] (see the file comment). */
export function pixelShuffle(x: Tensor, r: number): Tensor {
  if (!Number.isInteger(r) || r < 1) throw new Error(`pixelShuffle: upscale factor must be a positive integer, got ${r}`);
  if (x.rank !== 4 || x.shape[1]! % (r * r) !== 0) throw new Error(`pixelShuffle: expects [N, C·${r * r}, H, W] (channels divisible by r² = ${r * r}), got ${shapeStr(x.shape)}`);
  if (r === 1) return x;
  const [N, Cr, H, W] = x.shape as [number, number, number, number];
  const C = Cr / (r * r);
  const y = permute(reshape(x, [N, C, r, r, H, W]), [0, 1, 4, 2, 5, 3]);
  return reshape(y, [N, C, H * r, W * r]);
}

/** The [n·s, n] matrix of align_corners=False linear interpolation by an integer factor s. */
export function bilinearMatrix(n: number, s: number): Float32Array {
  const A = new Float32Array(n * s * n);
  for (let o = 0; o < n * s; o++) {
    const u = Math.max(0, (o + 0.5) / s - 0.5);
    const i0 = Math.min(Math.floor(u), n - 1), i1 = Math.min(i0 + 1, n - 1), lam = u - i0;
    A[o * n + i0] += 1 - lam;
    A[o * n + i1] += lam;
  }
  return A;
}

/** Bilinear upsampling by an integer factor (see the file comment): [N, C, H, W] -> [N, C, H·s, W·s]. */
export function upsampleBilinear(x: Tensor, s: number): Tensor {
  if (!Number.isInteger(s) || s < 1) throw new Error(`upsampleBilinear: scale factor must be a positive integer, got ${s}`);
  if (x.rank !== 4) throw new Error(`upsampleBilinear: expects [N, C, H, W], got ${shapeStr(x.shape)}`);
  if (s === 1) return x;
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const aw = fromBuffer(bilinearMatrix(W, s), [W * s, W]);
  const ah = fromBuffer(bilinearMatrix(H, s), [H * s, H]);
  const rows = matmul(reshape(x, [N * C * H, W]), aw, { transB: true }); // [N·C·H, W·s]
  const y = matmul(ah, reshape(rows, [N * C, H, W * s])); // [N·C, H·s, W·s]
  return reshape(y, [N, C, H * s, W * s]);
}

/** Depth-wise (groups = C) 2-D convolution, stride 1 (see the file comment). */
export function depthwiseConv2d(x: Tensor, w: Tensor, b: Tensor | null, padding = 0): Tensor {
  if (x.rank !== 4 || w.rank !== 4 || w.shape[0] !== x.shape[1] || w.shape[1] !== 1) {
    throw new Error(`depthwiseConv2d: expects x [N, C, H, W] and weight [C, 1, kh, kw] with equal C, got ${shapeStr(x.shape)} and ${shapeStr(w.shape)}`);
  }
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`depthwiseConv2d: padding must be an integer ≥ 0, got ${padding}`);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const kh = w.shape[2]!, kw = w.shape[3]!, p = padding;
  if (b && (b.rank !== 1 || b.shape[0] !== C)) throw new Error(`depthwiseConv2d: bias ${shapeStr(b.shape)} must be [${C}]`);
  const OH = H + 2 * p - kh + 1, OW = W + 2 * p - kw + 1;
  if (OH < 1 || OW < 1) throw new Error(`depthwiseConv2d: input ${shapeStr(x.shape)} is smaller than the kernel ${kh}×${kw} with padding ${p}`);
  const X = x.f32('depthwiseConv2d'), Wt = w.f32('depthwiseConv2d');
  const out = empty([N, C, OH, OW]);
  const Y = out.f32();
  const bias = b ? b.f32('depthwiseConv2d') : null;
  // For each kernel tap (u, v) the valid output rows/columns form a rectangle; the inner loop
  // runs along a contiguous row, which keeps the scalar JS loop reasonably fast.
  dwcForward(X, Wt, bias, Y, N, C, H, W, OH, OW, kh, kw, p);
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, 'depthwiseConv2d', inputs, (g) => {
    const G = g.f32();
    const gx = x.requiresGrad ? zeros(x.shape) : null;
    const gw = w.requiresGrad ? zeros(w.shape) : null;
    const gb = b && b.requiresGrad ? zeros([C]) : null;
    if (gb) {
      const GB = gb.f32();
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
        const yo = (n * C + c) * OH * OW;
        let s = 0;
        for (let k = yo; k < yo + OH * OW; k++) s += G[k]!;
        GB[c] += s;
      }
    }
    // Separate monomorphic loops for dx (a scatter of w·g) and dw (a correlation of g with x).
    if (gx) dwcInputGrad(G, Wt, gx.f32(), N, C, H, W, OH, OW, kh, kw, p);
    if (gw) dwcWeightGrad(G, X, gw.f32(), N, C, H, W, OH, OW, kh, kw, p);
    const grads: (Tensor | null)[] = [gx, gw];
    if (b) grads.push(gb);
    return grads;
  });
}

function dwcInputGrad(G: Float32Array, Wt: Float32Array, GX: Float32Array, N: number, C: number, H: number, W: number, OH: number, OW: number, kh: number, kw: number, p: number): void {
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const xo = (n * C + c) * H * W, yo = (n * C + c) * OH * OW;
    for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const wv = Wt[(c * kh + u) * kw + v]!;
      const i0 = Math.max(0, p - u), i1 = Math.min(OH, H + p - u);
      const j0 = Math.max(0, p - v), j1 = Math.min(OW, W + p - v);
      for (let i = i0; i < i1; i++) {
        const yr = yo + i * OW, xr = xo + (i + u - p) * W + v - p;
        for (let j = j0; j < j1; j++) GX[xr + j] += wv * G[yr + j]!;
      }
    }
  }
}

function dwcWeightGrad(G: Float32Array, X: Float32Array, GW: Float32Array, N: number, C: number, H: number, W: number, OH: number, OW: number, kh: number, kw: number, p: number): void {
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const xo = (n * C + c) * H * W, yo = (n * C + c) * OH * OW;
    for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const i0 = Math.max(0, p - u), i1 = Math.min(OH, H + p - u);
      const j0 = Math.max(0, p - v), j1 = Math.min(OW, W + p - v);
      let sw = 0;
      for (let i = i0; i < i1; i++) {
        const yr = yo + i * OW, xr = xo + (i + u - p) * W + v - p;
        for (let j = j0; j < j1; j++) sw += G[yr + j]! * X[xr + j]!;
      }
      GW[(c * kh + u) * kw + v] += sw;
    }
  }
}

function dwcForward(X: Float32Array, Wt: Float32Array, bias: Float32Array | null, Y: Float32Array, N: number, C: number, H: number, W: number, OH: number, OW: number, kh: number, kw: number, p: number): void {
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const xo = (n * C + c) * H * W, yo = (n * C + c) * OH * OW;
    Y.fill(bias ? bias[c]! : 0, yo, yo + OH * OW);
    for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const wv = Wt[(c * kh + u) * kw + v]!;
      const i0 = Math.max(0, p - u), i1 = Math.min(OH, H + p - u);
      const j0 = Math.max(0, p - v), j1 = Math.min(OW, W + p - v);
      for (let i = i0; i < i1; i++) {
        const yr = yo + i * OW, xr = xo + (i + u - p) * W + v - p;
        for (let j = j0; j < j1; j++) Y[yr + j] += wv * X[xr + j]!;
      }
    }
  }
}
