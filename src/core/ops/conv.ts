/**
 * 2-D convolution and transposed convolution (NCHW), as im2col/col2im plus GEMMs over chunks of images.
 *
 * For one image, im2col unrolls x [C, H, W] into cols [C·kh·kw, OH·OW] (column l holds the
 * receptive field of output pixel l), so conv2d is W [O, C·kh·kw] · cols. The transposed conv is
 * the adjoint: cols = Wᵀ · x, then col2im scatters the columns back onto the (larger) output.
 *
 * Small images make tiny GEMMs whose per-call cost can dominate, so images are taken nb at a time
 * (nb from `chunkImages`: the GEMM gets up to TARGET_COLS columns and the column buffer stays within
 * COLS_BUDGET floats; images with L = OH·OW > TARGET_COLS/2 keep nb = 1, where the permutes
 * below would cost more memory traffic than the saved calls). For a chunk of m images:
 *   conv2d:    im2col(x[n0 : n0+m]) -> cols [CK, m·L];  W [O, CK] · cols -> Yc [O, m·L]
 *              (bias rows as the GEMM's C); permute Yc [O, m, L] -> y[n0 : n0+m] [m, O, L].
 *     backward: G' [O, m·L] = permute dY[n0 : n0+m] [m, O, L];  dW += G' · colsᵀ;
 *              dcols = Wᵀ · G' [CK, m·L] -> col2im onto dx[n0 : n0+m].
 *   convTranspose2d: X' [Cin, m·HW] = permute x[n0 : n0+m];  cols = Wᵀ · X' [CK, m·HW] -> col2im onto y.
 *     backward: c = im2col(dY[n0 : n0+m]) [CK, m·HW];  dx: W [Cin, CK] · c -> permute back;  dW += X' · cᵀ.
 * im2col/col2im take the image count m and lay image i in columns [i·L, (i+1)·L) directly, so only
 * the GEMM's input or output needs a permute. With nb = 1 no permute is needed and the code is the
 * per-image scheme. Chunking changes results only by float summation order (dW sums over images
 * inside one GEMM instead of across GEMMs). Each buffer is one pooled allocation per call.
 */
import { K, Tensor, empty, record, shapeStr } from '../tensor.js';

/**
 * Columns per chunked GEMM. Measured on the video VAE step (bench/videovae-step.ts --conv-chunk):
 * 1024 to 2048 tie with per-image GEMMs for its 32×32 frames; 8192 with 4 MB column buffers was
 * ~8% more CPU time (the chunk's columns fall out of cache), so the large images stay one per GEMM.
 */
const TARGET_COLS = 1024;
/** Upper bound (floats) on a chunk's column buffer, 1 MB: stays in L2 with the GEMM's packed panels. */
const COLS_BUDGET = 1 << 18;

let chunkLimit = Infinity;

/**
 * Caps the images per GEMM for every later call and returns the previous cap (default Infinity:
 * chosen from TARGET_COLS and COLS_BUDGET alone). 1 gives the plain per-image scheme, kept for tests
 * and speed comparisons; small caps let tests force a last, partial chunk.
 */
export function setConvChunkLimit(maxImages: number): number {
  if (!(maxImages >= 1)) throw new Error(`setConvChunkLimit: maxImages must be >= 1, got ${maxImages}`);
  const prev = chunkLimit;
  chunkLimit = maxImages;
  return prev;
}

/**
 * Stride-1, undilated conv2d layers with at most this many output channels skip im2col and the GEMM
 * for the backend's direct convolution (Backend.convDirect, forward and both gradients). With few
 * output channels the GEMM is GEMV-shaped and the column buffer (C·kh·kw times the image) is pure
 * memory traffic; measured on the video VAE step (bench/videovae-step.ts), whose 1-channel output layer
 * over 24 stacked channels cost ~15% of the step through im2col. 0 turns the direct path off.
 */
const DIRECT_MAX_OUT = 4;
let directMaxOut = DIRECT_MAX_OUT;

/**
 * Sets the most output channels for which conv2d takes the direct path (0 = never) and returns the
 * previous value; for tests and speed comparisons of the two paths.
 */
export function setConvDirectMaxOut(maxOut: number): number {
  if (!(Number.isInteger(maxOut) && maxOut >= 0)) throw new Error(`setConvDirectMaxOut: maxOut must be a non-negative integer, got ${maxOut}`);
  const prev = directMaxOut;
  directMaxOut = maxOut;
  return prev;
}

/** Images per GEMM for N images of L output columns and CK column rows (>= 1). */
function chunkImages(N: number, L: number, CK: number): number {
  if (N <= 1) return 1;
  return Math.max(1, Math.floor(Math.min(N, chunkLimit, TARGET_COLS / L, COLS_BUDGET / (CK * L))));
}

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
 * Gradients: dW = Σ_n dY_n · cols_nᵀ, dcols_n = Wᵀ · dY_n then col2im, db = Σ_{n,pixels} dY
 * (computed over chunks of images, see the top of this file).
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
  if (O <= directMaxOut && sh === 1 && sw === 1 && dh === 1 && dw === 1) return conv2dDirect(x, w, b ?? null, X, Wd, N, C, H, W, O, kh, kw, ph, pw, OH, OW);
  const nb = chunkImages(N, L, CK);
  const out = empty([N, O, OH, OW]);
  const Y = out.f32();
  const bias = b ? b.f32('conv2d') : null;
  const beta = bias ? 1 : 0; // the bias rows are the GEMM's C
  if (bias && nb === 1) fillBias(Y, bias, N, O, L);
  const cols = empty([CK * nb * L]).f32();
  const yc = nb > 1 ? empty([O * nb * L]).f32() : null;
  for (let n0 = 0; n0 < N; n0 += nb) {
    const m = Math.min(nb, N - n0);
    K().im2col(X, n0 * imgIn, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols, m);
    if (!yc) {
      K().gemm(false, false, O, L, CK, 1, Wd, 0, cols, 0, beta, Y, n0 * imgOut);
      continue;
    }
    if (bias) fillBias(yc, bias, 1, O, m * L);
    K().gemm(false, false, O, m * L, CK, 1, Wd, 0, cols, 0, beta, yc, 0);
    K().permute(yc, [O, m, L], [1, 0, 2], Y.subarray(n0 * imgOut, (n0 + m) * imgOut));
  }
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, 'conv2d', inputs, (g) => {
    const G = g.f32();
    let gx: Tensor | null = null, gw: Tensor | null = null;
    if (w.requiresGrad) {
      gw = empty(w.shape);
      if (N === 0) gw.data.fill(0);
    }
    if (x.requiresGrad) {
      gx = empty(x.shape);
      gx.data.fill(0); // col2im accumulates
    }
    if (gx || gw) {
      const c = empty([CK * nb * L]).f32();
      const gc = nb > 1 ? empty([O * nb * L]).f32() : null;
      for (let n0 = 0; n0 < N; n0 += nb) {
        const m = Math.min(nb, N - n0);
        // G' [O, m·L]: this chunk's output gradient with the images side by side.
        let Gp = G, gOff = n0 * imgOut;
        if (gc) {
          K().permute(G.subarray(n0 * imgOut, (n0 + m) * imgOut), [m, O, L], [1, 0, 2], gc);
          Gp = gc;
          gOff = 0;
        }
        if (gw) {
          K().im2col(X, n0 * imgIn, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, c, m);
          K().gemm(false, true, O, CK, m * L, 1, Gp, gOff, c, 0, n0 === 0 ? 0 : 1, gw.f32(), 0);
        }
        if (gx) {
          K().gemm(true, false, CK, m * L, O, 1, Wd, 0, Gp, gOff, 0, c, 0);
          K().col2im(c, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, gx.f32(), n0 * imgIn, m);
        }
      }
    }
    const grads: (Tensor | null)[] = [gx, gw];
    if (b) grads.push(b.requiresGrad ? biasGrad(G, N, O, L) : null);
    return grads;
  });
}

/** conv2d by Backend.convDirect (see DIRECT_MAX_OUT): y = bias + conv(x, w); dx, dW and db likewise direct. */
function conv2dDirect(x: Tensor, w: Tensor, b: Tensor | null, X: Float32Array, Wd: Float32Array, N: number, C: number, H: number, W: number,
  O: number, kh: number, kw: number, ph: number, pw: number, OH: number, OW: number): Tensor {
  const L = OH * OW;
  const out = empty([N, O, OH, OW]);
  const Y = out.f32();
  if (b) fillBias(Y, b.f32('conv2d'), N, O, L);
  else Y.fill(0);
  K().convDirect(0, N, C, H, W, O, kh, kw, ph, pw, X, Wd, Y);
  return record(out, 'conv2d', b ? [x, w, b] : [x, w], (g) => {
    const G = g.f32();
    let gx: Tensor | null = null, gw: Tensor | null = null;
    if (x.requiresGrad) {
      gx = empty(x.shape);
      gx.data.fill(0);
      K().convDirect(1, N, C, H, W, O, kh, kw, ph, pw, gx.f32(), Wd, G);
    }
    if (w.requiresGrad) {
      gw = empty(w.shape);
      K().convDirect(2, N, C, H, W, O, kh, kw, ph, pw, X, gw.f32(), G);
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
  const nb = chunkImages(N, HW, CK);
  const out = empty([N, Cout, OH, OW]);
  const Y = out.f32();
  Y.fill(0); // col2im accumulates
  const cols = empty([CK * nb * HW]).f32();
  const xc = nb > 1 ? empty([Cin * nb * HW]).f32() : null;
  for (let n0 = 0; n0 < N; n0 += nb) {
    const m = Math.min(nb, N - n0);
    // X' [Cin, m·HW]: this chunk's inputs side by side.
    let Xp = X, xOff = n0 * imgIn;
    if (xc) {
      K().permute(X.subarray(n0 * imgIn, (n0 + m) * imgIn), [m, Cin, HW], [1, 0, 2], xc);
      Xp = xc;
      xOff = 0;
    }
    K().gemm(true, false, CK, m * HW, Cin, 1, Wd, 0, Xp, xOff, 0, cols, 0);
    K().col2im(cols, Cout, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw, Y, n0 * imgOut, m);
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
      const c = empty([CK * nb * HW]).f32();
      const gxc = gx && nb > 1 ? empty([Cin * nb * HW]).f32() : null;
      const xp = gw && nb > 1 ? empty([Cin * nb * HW]).f32() : null;
      for (let n0 = 0; n0 < N; n0 += nb) {
        const m = Math.min(nb, N - n0);
        K().im2col(G, n0 * imgOut, Cout, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw, c, m);
        if (gx) {
          if (gxc) {
            K().gemm(false, false, Cin, m * HW, CK, 1, Wd, 0, c, 0, 0, gxc, 0);
            K().permute(gxc, [Cin, m, HW], [1, 0, 2], gx.f32().subarray(n0 * imgIn, (n0 + m) * imgIn));
          } else {
            K().gemm(false, false, Cin, HW, CK, 1, Wd, 0, c, 0, 0, gx.f32(), n0 * imgIn);
          }
        }
        if (gw) {
          let Xp = X, xOff = n0 * imgIn;
          if (xp) {
            K().permute(X.subarray(n0 * imgIn, (n0 + m) * imgIn), [m, Cin, HW], [1, 0, 2], xp);
            Xp = xp;
            xOff = 0;
          }
          K().gemm(false, true, Cin, CK, m * HW, 1, Xp, xOff, c, 0, n0 === 0 ? 0 : 1, gw.f32(), 0);
        }
      }
    }
    const grads: (Tensor | null)[] = [gx, gw];
    if (b) grads.push(b.requiresGrad ? biasGrad(G, N, Cout, L) : null);
    return grads;
  });
}
