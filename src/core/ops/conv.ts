/**
 * 2-D convolution and transposed convolution (NCHW), as im2col/col2im plus one GEMM per image.
 *
 * For one image, im2col unrolls x [C, H, W] into cols [C·kh·kw, OH·OW] (column l holds the
 * receptive field of output pixel l), so conv2d is W [O, C·kh·kw] · cols. The transposed conv is
 * the adjoint: cols = Wᵀ · x, then col2im scatters the columns back onto the (larger) output.
 * Each column buffer is one pooled allocation per call, reused across the batch.
 */
import { K, Tensor, empty, record, shapeStr } from '../tensor.js';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  /** Extra rows/cols added at the bottom/right of the output (each < stride). */
  outputPadding?: Pair;
}

function pair(op: string, name: string, v: Pair | undefined, dflt: number, min: number): [number, number] {
  const p: [number, number] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((q) => Number.isInteger(q) && q >= min)) throw new Error(`${op}: ${name} must be integers >= ${min}, got ${JSON.stringify(v)}`);
  return p;
}

/** Sums g [N, O, L] over N and L into gb [O]. */
function biasGrad(g: Float32Array, N: number, O: number, L: number): Tensor {
  const tmp = empty([O * L]).f32();
  K().reduce('sum', g, 1, N, O * L, tmp);
  const gb = empty([O]);
  K().reduce('sum', tmp, O, L, 1, gb.f32());
  return gb;
}

/** Writes bias[o] into every pixel of channel o of every image of y [N, O, L]. */
function fillBias(y: Float32Array, bias: Float32Array, N: number, O: number, L: number): void {
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) y.fill(bias[o]!, (n * O + o) * L, (n * O + o + 1) * L);
}

/**
 * Cross-correlation (PyTorch's conv2d): x [N, C, H, W], w [O, C, kh, kw], b [O] -> [N, O, OH, OW],
 * OH = floor((H + 2·ph - dh·(kh-1) - 1) / sh) + 1 (likewise OW).
 * Gradients: dW = Σ_n dY_n · cols_nᵀ, dcols_n = Wᵀ · dY_n then col2im, db = Σ_{n,pixels} dY.
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const [sh, sw] = pair('conv2d', 'stride', opts.stride, 1, 1);
  const [ph, pw] = pair('conv2d', 'padding', opts.padding, 0, 0);
  const [dh, dw] = pair('conv2d', 'dilation', opts.dilation, 1, 1);
  if (x.rank !== 4 || w.rank !== 4 || x.shape[1] !== w.shape[1]) {
    throw new Error(`conv2d: expects x [N, C, H, W] and weight [O, C, kh, kw] with equal C, got ${shapeStr(x.shape)} and ${shapeStr(w.shape)}`);
  }
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, , kh, kw] = w.shape as [number, number, number, number];
  if (b && (b.rank !== 1 || b.shape[0] !== O)) throw new Error(`conv2d: bias ${shapeStr(b.shape)} must be [${O}] for weight ${shapeStr(w.shape)}`);
  const OH = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (OH < 1 || OW < 1) throw new Error(`conv2d: input ${shapeStr(x.shape)} is smaller than the (dilated) kernel ${shapeStr(w.shape)} with padding [${ph}, ${pw}]`);
  const L = OH * OW, CK = C * kh * kw, imgIn = C * H * W, imgOut = O * L;
  const X = x.f32('conv2d'), Wd = w.f32('conv2d');
  const out = empty([N, O, OH, OW]);
  const Y = out.f32();
  let beta = 0;
  if (b) {
    fillBias(Y, b.f32('conv2d'), N, O, L);
    beta = 1;
  }
  const cols = empty([CK * L]).f32();
  for (let n = 0; n < N; n++) {
    K().im2col(X, n * imgIn, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols);
    K().gemm(false, false, O, L, CK, 1, Wd, 0, cols, 0, beta, Y, n * imgOut);
  }
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, 'conv2d', inputs, (g) => {
    const G = g.f32();
    let gx: Tensor | null = null, gw: Tensor | null = null;
    const c = empty([CK * L]).f32();
    if (w.requiresGrad) {
      gw = empty(w.shape);
      if (N === 0) gw.data.fill(0);
      for (let n = 0; n < N; n++) {
        K().im2col(X, n * imgIn, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, c);
        K().gemm(false, true, O, CK, L, 1, G, n * imgOut, c, 0, n === 0 ? 0 : 1, gw.f32(), 0);
      }
    }
    if (x.requiresGrad) {
      gx = empty(x.shape);
      gx.data.fill(0); // col2im accumulates
      for (let n = 0; n < N; n++) {
        K().gemm(true, false, CK, L, O, 1, Wd, 0, G, n * imgOut, 0, c, 0);
        K().col2im(c, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, gx.f32(), n * imgIn);
      }
    }
    const grads: (Tensor | null)[] = [gx, gw];
    if (b) grads.push(b.requiresGrad ? biasGrad(G, N, O, L) : null);
    return grads;
  });
}

/**
 * Transposed convolution (the gradient of conv2d wrt its input, PyTorch's conv_transpose2d):
 * x [N, Cin, H, W], w [Cin, Cout, kh, kw], b [Cout] -> [N, Cout, OH, OW] with
 * OH = (H - 1)·sh - 2·ph + dh·(kh - 1) + oph + 1 (likewise OW); outputPadding < stride.
 * Forward: cols_n = Wᵀ [Cout·kh·kw, Cin] · x_n [Cin, H·W], then col2im onto the output.
 * Gradients: dx_n = W · im2col(dY_n), dW = Σ_n x_n · im2col(dY_n)ᵀ, db = Σ dY.
 */
export function convTranspose2d(x: Tensor, w: Tensor, b?: Tensor | null, opts: ConvTranspose2dOptions = {}): Tensor {
  const op = 'convTranspose2d';
  const [sh, sw] = pair(op, 'stride', opts.stride, 1, 1);
  const [ph, pw] = pair(op, 'padding', opts.padding, 0, 0);
  const [dh, dw] = pair(op, 'dilation', opts.dilation, 1, 1);
  const [oph, opw] = pair(op, 'outputPadding', opts.outputPadding, 0, 0);
  if (oph >= sh || opw >= sw) {
    // With outputPadding >= stride the extra rows would not be covered by the im2col geometry
    // that the backward pass relies on.
    throw new Error(`${op}: outputPadding [${oph}, ${opw}] must be smaller than stride [${sh}, ${sw}]`);
  }
  if (x.rank !== 4 || w.rank !== 4 || x.shape[1] !== w.shape[0]) {
    throw new Error(`${op}: expects x [N, Cin, H, W] and weight [Cin, Cout, kh, kw] with equal Cin, got ${shapeStr(x.shape)} and ${shapeStr(w.shape)}`);
  }
  const [N, Cin, H, W] = x.shape as [number, number, number, number];
  const [, Cout, kh, kw] = w.shape as [number, number, number, number];
  if (b && (b.rank !== 1 || b.shape[0] !== Cout)) throw new Error(`${op}: bias ${shapeStr(b.shape)} must be [${Cout}] for weight ${shapeStr(w.shape)}`);
  const OH = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1;
  const OW = (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1;
  if (OH < 1 || OW < 1) throw new Error(`${op}: input ${shapeStr(x.shape)} with weight ${shapeStr(w.shape)} and padding [${ph}, ${pw}] gives an empty output`);
  const HW = H * W, CK = Cout * kh * kw, L = OH * OW, imgIn = Cin * HW, imgOut = Cout * L;
  const X = x.f32(op), Wd = w.f32(op);
  const out = empty([N, Cout, OH, OW]);
  const Y = out.f32();
  Y.fill(0); // col2im accumulates
  const cols = empty([CK * HW]).f32();
  for (let n = 0; n < N; n++) {
    K().gemm(true, false, CK, HW, Cin, 1, Wd, 0, X, n * imgIn, 0, cols, 0);
    K().col2im(cols, Cout, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw, Y, n * imgOut);
  }
  if (b) {
    // Bias after col2im: y += b[o] per channel, via a broadcast add over [N, Cout, L].
    K().binary('add', Y, [N, Cout, L], b.f32(op), [1, Cout, 1], Y, [N, Cout, L]);
  }
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, op, inputs, (g) => {
    const G = g.f32();
    let gx: Tensor | null = null, gw: Tensor | null = null;
    if (x.requiresGrad) gx = empty(x.shape);
    if (w.requiresGrad) {
      gw = empty(w.shape);
      if (N === 0) gw.data.fill(0);
    }
    if (gx || gw) {
      const c = empty([CK * HW]).f32();
      for (let n = 0; n < N; n++) {
        K().im2col(G, n * imgOut, Cout, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw, c);
        if (gx) K().gemm(false, false, Cin, HW, CK, 1, Wd, 0, c, 0, 0, gx.f32(), n * imgIn);
        if (gw) K().gemm(false, true, Cin, CK, HW, 1, X, n * imgIn, c, 0, n === 0 ? 0 : 1, gw.f32(), 0);
      }
    }
    const grads: (Tensor | null)[] = [gx, gw];
    if (b) grads.push(b.requiresGrad ? biasGrad(G, N, Cout, L) : null);
    return grads;
  });
}
