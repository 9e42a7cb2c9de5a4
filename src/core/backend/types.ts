/**
 * The kernel contract shared by the native addon (C++/OpenBLAS) and the pure-TypeScript backend.
 *
 * Every kernel works on flat, row-major, contiguous typed arrays and writes into an output array the
 * caller owns (no kernel allocates). Shapes are passed as plain numbers. Offsets are in elements.
 * Both backends must give the same results to float32 rounding (parity tests in test/core/backend).
 * Unless a kernel says "accumulates", it overwrites its output. An output may alias an input only
 * where the doc comment says so.
 */
export type F32 = Float32Array;
export type I32 = Int32Array;

/** Elementwise y = f(x). `param` is used by 'pow' (exponent), 'leakyRelu' (slope) and 'scale'/'addScalar'. */
export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'sign' | 'square' | 'recip'
  | 'relu' | 'gelu' | 'tanh' | 'sigmoid' | 'softplus' | 'sin' | 'cos'
  | 'pow' | 'scale' | 'addScalar' | 'leakyRelu';

/** Elementwise z = f(a, b) with NumPy broadcasting. Comparisons write 1 or 0. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow' | 'gt' | 'ge' | 'lt' | 'le' | 'eq';

/** Reductions over the middle axis of x viewed as [outer, n, inner] -> [outer, inner]. */
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'sumsq';

export interface Backend {
  /** 'native' (C++ addon) or 'js' (pure TypeScript). */
  readonly name: 'native' | 'js';
  /** The BLAS library in use for GEMM, e.g. 'openblas (libopenblas.so.0)', or null for the built-in kernel. */
  readonly blas: string | null;
  /**
   * Why a BLAS library that was found is not used, or null: with AELAB_BLAS=auto, an OpenBLAS that runs
   * pre-AVX2 kernels on a CPU it does not recognise (its generic kernels are ~6× slower than the built-in
   * one) is left out; the note names the OPENBLAS_CORETYPE that fixes it.
   */
  readonly blasNote: string | null;
  /** Worker threads used by large kernels (the JS backend always reports 1). */
  threads(): number;
  setThreads(n: number): void;

  /**
   * C = alpha * op(A) op(B) + beta * C, row-major, with op(A): [M, K], op(B): [K, N], C: [M, N].
   * A is stored [M, K] (or [K, M] when transA), B is stored [K, N] (or [N, K] when transB); all three
   * are dense from their offsets (lda = stored row length). beta = 0 ignores C's old contents (even NaN).
   */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: F32, aOff: number, B: F32, bOff: number, beta: number, C: F32, cOff: number): void;
  /**
   * The bf16 encoder GEMM, float32 accumulation: C[m, n] = bias[n] + Σ_k bf16(A[m, k]) · bf16(B[n, k]), with
   * A [M, K], B [N, K] (the x Wᵀ layout), bias [N] or null, C [M, N] overwritten. bf16() rounds to nearest,
   * ties to even (NaN stays NaN; subnormals are not flushed). Native: the AMX or AVX512-BF16 kernel that
   * bf16Support() names (throws where the CPU has neither); js: the reference (rounded operands, float32 GEMM).
   * bNorm [N] (optional) receives ‖B[n]‖₂ rounded up to a float (computed while B is converted; the bound of
   * topkScreened).
   */
  gemmBf16(M: number, N: number, K: number, A: F32, B: F32, bias: F32 | null, C: F32, bNorm?: F32 | null): void;
  /**
   * Which gemmBf16 kernel runs: 'amx-bf16' / 'avx512-bf16' (native), 'reference' (js, no speed-up), or null
   * with `missing` saying which CPU feature is absent. fasterThanF32: the kernel multiplies faster than the
   * float32 GEMM on this CPU (AMX; AVX512-BF16 on AMD, whose VDPBF16PS runs at the float32 FMA's rate with
   * twice the multiply-adds; not on Intel cores without AMX, nor the js reference).
   */
  bf16Support(): { kernel: 'amx-bf16' | 'avx512-bf16' | 'reference' | null; missing: string; fasterThanF32: boolean };

  /** out[i] = f(x[i]) for i < n (n defaults to x.length). out may be x. */
  unary(op: UnaryOp, x: F32, out: F32, param?: number, n?: number): void;
  /**
   * gx[i] (+)= gy[i] * f'(x[i]). `y` is the forward output f(x) (kernels may use either x or y).
   * Accumulates into gx when accumulate is true. For 'relu' the derivative at 0 is 0.
   * 'sign' and comparisons have zero gradient and are not valid here.
   */
  unaryGrad(op: UnaryOp, x: F32, y: F32, gy: F32, gx: F32, accumulate: boolean, param?: number): void;

  /**
   * out = a (op) b with broadcasting. aShape, bShape and outShape all have the same rank (the caller
   * left-pads with 1s); each of aShape[i], bShape[i] is 1 or outShape[i]. out may alias a or b when that
   * input has outShape.
   */
  binary(op: BinaryOp, a: F32, aShape: readonly number[], b: F32, bShape: readonly number[],
    out: F32, outShape: readonly number[]): void;

  /** out[i] = cond[i] != 0 ? a[i] : b[i], all of length n (same shapes, no broadcasting). */
  where(cond: F32, a: F32, b: F32, out: F32): void;
  /** out[i] = min(max(x[i], lo), hi). out may be x. */
  clamp(x: F32, lo: number, hi: number, out: F32): void;
  /** out[i] = a * x[i] + b * y[i] (axpby, y may be out). Length from out. */
  axpby(a: number, x: F32, b: number, y: F32, out: F32): void;
  /** Fills out with value. */
  fill(out: F32 | I32, value: number): void;

  /** x as [outer, n, inner] -> out [outer, inner]. 'mean' divides by n; 'sumsq' sums squares. */
  reduce(op: ReduceOp, x: F32, outer: number, n: number, inner: number, out: F32): void;
  /** x as [outer, n, inner] -> out [outer, inner] of the index (0..n-1) of the first maximum. */
  argmax(x: F32, outer: number, n: number, inner: number, out: I32): void;
  /** Sum of all elements in float64, returned as a number. */
  sumAll(x: F32): number;
  /** Sum of squares of all elements in float64. */
  sumSquares(x: F32): number;

  /** Row-wise softmax of x [rows, cols] into out (out may be x). */
  softmax(x: F32, rows: number, cols: number, out: F32): void;
  /** Row-wise log-softmax. */
  logSoftmax(x: F32, rows: number, cols: number, out: F32): void;
  /** gx = y * (gy - sum_j(gy_j * y_j)) per row, y = softmax output. Overwrites gx. */
  softmaxGrad(y: F32, gy: F32, rows: number, cols: number, gx: F32): void;
  /** gx = gy - exp(y) * sum_j(gy_j) per row, y = log-softmax output. Overwrites gx. */
  logSoftmaxGrad(y: F32, gy: F32, rows: number, cols: number, gx: F32): void;

  /**
   * Layer norm over the last axis: out = (x - mean) * rstd * gamma + beta, x: [rows, cols].
   * gamma/beta may be null (identity). Writes mean[rows] and rstd[rows] = 1/sqrt(var + eps), var biased.
   */
  layerNorm(x: F32, rows: number, cols: number, gamma: F32 | null, beta: F32 | null, eps: number,
    out: F32, mean: F32, rstd: F32): void;
  /** Backward of layerNorm. Overwrites gx; accumulates into ggamma/gbeta when given. */
  layerNormGrad(x: F32, gy: F32, mean: F32, rstd: F32, gamma: F32 | null, rows: number, cols: number,
    gx: F32, ggamma: F32 | null, gbeta: F32 | null): void;

  /**
   * Per-row top-k of x [rows, cols] (k <= cols): vals [rows, k] sorted descending, idx [rows, k] the
   * column indices; ties go to the lower index. NaN is treated as smaller than every number.
   */
  topk(x: F32, rows: number, cols: number, k: number, vals: F32, idx: I32, byIndex?: boolean): void;
  /**
   * The exact top k of pre = x Wᵀ + b (float32, ties to the lower column) from an approximation P [rows, cols]
   * (the bf16 GEMM) with |P − pre| within coef·(‖x_r‖·‖W_m‖ + |b_m|) plus float rounding: each row's top k of
   * P gives a lower bound L on the k-th exact value, every column whose upper bound reaches L is rescored in
   * float32 (x [rows, D] · W[m] + b[m], m = colmap[h] or h), and the top k of those is the result: vals the
   * rescored values (descending, or by column with byIndex), idx the columns h. wNorm [rows of W] holds
   * ‖W_m‖ rounded up (gemmBf16's bNorm). Returns false, with vals/idx unspecified, when some row's bound is
   * not finite (a non-finite or huge x, W or b): then the caller computes pre exactly. See native/rows.cc.
   */
  topkScreened(P: F32, rows: number, cols: number, k: number, x: F32, D: number, W: F32, bias: F32 | null, wNorm: F32,
    colmap: I32 | null, coef: number, vals: F32, idx: I32, byIndex?: boolean): boolean;

  /**
   * out[i, :] = src[idx[i], :] for i < idx.length; src rows have `cols` elements. With minusOne, an index
   * of −1 gives a zero row (e.g. a causal conv's frames before the first); any other index out of range throws.
   */
  gatherRows(src: F32, cols: number, idx: I32, out: F32, minusOne?: boolean): void;
  /** out[idx[i], :] += src[i, :] (accumulates; repeated indices add up in index order). With minusOne, rows with index −1 are skipped. */
  scatterAddRows(src: F32, cols: number, idx: I32, out: F32, minusOne?: boolean): void;
  /** out[r, j] = x[r, idx[r, j]]: x [rows, cols], idx/out [rows, k]. */
  gatherCols(x: F32, rows: number, cols: number, idx: I32, k: number, out: F32): void;
  /** out[r, j] = x[r, idx[j]]: the same columns of every row; x [rows, cols], idx [n], out [rows, n]. */
  selectCols(x: F32, rows: number, cols: number, idx: I32, out: F32): void;
  /** out[r, idx[r, j]] += src[r, j] (accumulates): src/idx [rows, k], out [rows, cols]. */
  scatterAddCols(src: F32, rows: number, k: number, idx: I32, cols: number, out: F32): void;

  // ---- row-sparse codes (the fast TopK SAE path): k (value, latent) pairs per row ----
  // vals/coef [R, k] float32, idx [R, k] int32 in [0, H). Pairs whose value is exactly 0 are skipped
  // (a sparse format: 0 · Inf contributes nothing). Results are independent of the thread count.

  /**
   * Embedding-bag decode: out[r, :] = bias + Σ_j vals[r, j] · W[idx[r, j], :]. W [H, D], bias [D] or null, out [R, D].
   * `path` (native): 0 or absent chooses by shape, 1 by row, 2 by latent (W rows read once per block of rows),
   * 3 tiled (64-column × 4096-latent tiles of W held in L2 while every row adds its pairs; best from ~10 uses
   * of each W row per call). 2 and 3 give the same bits as by row when each row's nonzero indices are
   * non-decreasing, which auto requires for them. The js twin has one path.
   */
  sparseDecode(vals: F32, idx: I32, R: number, k: number, W: F32, H: number, D: number, bias: F32 | null, out: F32, path?: number): void;
  /** The values gradient of sparseDecode: dvals[r, j] = ⟨dout[r, :], W[idx[r, j], :]⟩. dout [R, D], dvals [R, k]. */
  sparseDecodeGrad(dout: F32, idx: I32, R: number, k: number, W: F32, H: number, D: number, dvals: F32): void;
  /**
   * Scatter of outer products by latent row: out[h, :] (+)= Σ_{(r,j): idx[r,j] = h} coef[r, j] · src[r, :] and
   * sum[h] (+)= Σ_{(r,j): idx[r,j] = h} coef[r, j] (sum may be null). src [R, D], out [H, D]. Overwrites
   * (rows no pair hits become 0) unless accumulate. Each row adds its pairs in increasing r·k + j order.
   * This is dW_dec of sparseDecode (coef = vals, src = dout) and dW_enc/db_enc of a sparse encoder
   * (coef = dvalues, src = x). `path` (native): 0 or absent chooses by shape, 1 by latent, 2 tiled
   * (64-column × Rb-row tiles of src held in L2 while every latent adds its pairs; chosen from ~10 pairs
   * a latent). Both give the same bits. The js twin has one path.
   */
  sparseScatterRows(coef: F32, idx: I32, R: number, k: number, src: F32, D: number, H: number, out: F32,
    sum: F32 | null, accumulate: boolean, path?: number): void;
  /**
   * Both gradients of sparseDecode in one kernel: dvals = sparseDecodeGrad(dout, idx, …, W) and
   * dW (+)= sparseScatterRows(vals, idx, …, dout) (accumulates into dW when accumulate). The same
   * results as the two kernels; the native one computes dvals while scattering each latent's row,
   * so it never gathers the R·k rows of W. dW must not alias W or dout.
   */
  sparseDecodeBackward(vals: F32, idx: I32, R: number, k: number, dout: F32, W: F32, H: number, D: number,
    dvals: F32, dW: F32, accumulate: boolean): void;

  /**
   * The sparse SAE steps' index sets (sae/sparse-step.ts): for each row b of P [B, H], the latents i (increasing) with
   *   theta null: P > lo;   theta, dead null: P − θ_i > lo;   theta and dead: P > θ ∨ |P − θ| < half ∨ (dead_i = 1 ∧ P < θ)
   * (differences in double precision) into scratch[b·limit …] and their number into counts[b]. Returns the largest
   * count, or −1 as soon as some row has more than `limit` (scratch and counts are then unspecified).
   */
  selectActive(P: F32, B: number, H: number, theta: F32 | null, lo: number, half: number, dead: Uint8Array | null,
    limit: number, scratch: I32, counts: I32): number;
  /**
   * selectActive's first two rules (theta null: pre > lo; theta: pre − θ_i > lo, in double) on pre = x Wᵀ + b
   * [rows, cols] given only an approximation P of it (the bf16 GEMM, |P − pre| within coef·(‖x_r‖·‖W_h‖ + |b_h|)
   * plus float rounding, as topkScreened): every entry whose upper bound reaches the threshold is rescored in
   * float32 and written into P, the rest stay below it; then each row's set is selected from the rescored entries
   * into scratch / counts as selectActive does. Returns the largest count, −1 when a row selects more than
   * `limit`, −2 when the screen cannot run (a bound not finite, or a row with more than limit + 64 candidates):
   * the caller then computes pre exactly. wNorm [cols] = ‖W_h‖ rounded up (gemmBf16's bNorm). See native/rows.cc.
   */
  thresholdScreened(P: F32, rows: number, cols: number, x: F32, D: number, W: F32, bias: F32 | null, wNorm: F32, coef: number,
    theta: F32 | null, lo: number, limit: number, scratch: I32, counts: I32): number;
  /** out [B, k]: row b's counts[b] increasing latents from scratch[b·limit …], then the smallest latents not among them. */
  padSelected(scratch: I32, counts: I32, B: number, limit: number, k: number, out: I32): void;

  /**
   * out [cols] = Σ_r coef[r] · W[r, :] over the rows with coef[r] ≠ 0 (Wᵀ·coef, W [rows, cols]), each element
   * summed over r in increasing order, independent of the thread count: reads only the rows that count
   * (an SAE's active latents), once each.
   */
  rowCombine(coef: F32, W: F32, rows: number, cols: number, out: F32): void;
  /** out[r, :] = row[0:cols] for r < rows: row [cols], out [rows, cols] (a bias before a GEMM with beta = 1). */
  broadcastRows(row: F32, rows: number, cols: number, out: F32): void;
  /**
   * In place on g [rows, cols], per row i with w [rows, cols]: g_i ← g_i − (⟨g_i, w_i⟩ / ‖w_i‖²) w_i, the
   * dot and the squared norm accumulated in float64 and each element's update rounded once from
   * float64. Rows where ‖w_i‖ = 0 are left unchanged. (Removes the gradient component that would
   * change a unit-norm decoder row's length.) Results are independent of the thread count.
   */
  removeParallelRows(g: F32, w: F32, rows: number, cols: number): void;
  /**
   * In place on w [rows, cols]: w_i ← w_i · (1 / √‖w_i‖²), the squared norm accumulated in float64 and
   * each product rounded once from float64; zero rows stay zero. Results are independent of the thread count.
   */
  normaliseRows(w: F32, rows: number, cols: number): void;
  /**
   * out[r, :] = (accumulate ? out[r, :] : 0) + coef[r] · x[r, :] for coef [rows], x and out [rows, cols]:
   * each element the float64 o + c·x rounded once to float32 (c·x is exact in float64), so the backends
   * agree bit for bit. A row norm's backward, written straight into (or onto) a gradient buffer.
   */
  scaleRows(coef: F32, x: F32, rows: number, cols: number, out: F32, accumulate: boolean): void;

  /** General permuted copy: out = x.permute(perm), x of `shape` (rank <= 8). */
  permute(x: F32, shape: readonly number[], perm: readonly number[], out: F32): void;

  /**
   * im2col for n (default 1) consecutive images x [n, C, H, W] at xOff -> out [C*kh*kw, n*OH*OW], image i
   * in columns [i*OH*OW, (i+1)*OH*OW), with OH = floor((H + 2*ph - dh*(kh-1) - 1)/sh) + 1 (likewise OW);
   * zero padding. (n > 1 lets a batch of small images share one GEMM.)
   */
  im2col(x: F32, xOff: number, C: number, H: number, W: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, out: F32, n?: number): void;
  /**
   * The adjoint of im2col: accumulates cols [C*kh*kw, n*OH*OW] into n consecutive images out [n, C, H, W]
   * at outOff (n defaults to 1). Each image's sums are added in the same order for every n.
   */
  col2im(cols: F32, C: number, H: number, W: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, out: F32, outOff: number, n?: number): void;
  /**
   * Direct convolution, stride 1, dilation 1, no column buffer (for layers with few output channels,
   * where im2col's memory traffic costs more than the arithmetic): x [N, C, H, W], w [O, C, kh, kw],
   * y [N, O, OH, OW] with OH = H + 2*ph - kh + 1, OW = W + 2*pw - kw + 1, zero padding.
   *   mode 0: y += conv(x, w)                 (y[n, o, oh, ow] += Σ_{c,i,j} w[o, c, i, j] x[n, c, oh+i-ph, ow+j-pw])
   *   mode 1: x += the adjoint applied to y   (the input gradient, y holding dY)
   *   mode 2: w = Σ_{n,oh,ow} y[n, o, oh, ow] x[n, c, oh+i-ph, ow+j-pw]   (the weight gradient, overwritten)
   * Each output element is summed in one fixed order (float32), whatever the thread count.
   */
  convDirect(mode: 0 | 1 | 2, N: number, C: number, H: number, W: number, O: number, kh: number, kw: number,
    ph: number, pw: number, x: F32, w: F32, y: F32): void;

  /**
   * One fused Adam/AdamW update, in place on p, m, v (all length n):
   *   g' = g + weightDecay * p            (Adam, decoupled = false)
   *   p  = p * (1 - lr * weightDecay)     (AdamW, decoupled = true, before the moment update)
   *   m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2
   *   p -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps)
   * `step` counts from 1.
   */
  adam(p: F32, g: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number, decoupled: boolean): void;

  // ---- decoder-only transformer kernels (src/nn/transformer-ops.ts) ----
  // Attention layouts: q [B, H, T, dh], k/v [B, Hkv, Smax, dh] of which the first S positions are used,
  // pattern P [B, H, T, S]; dims = [B, H, Hkv, T, S, Smax, dh, off]. Query row t sits at key position
  // off + t and sees keys s <= off + t (so off >= S - 1, without keyMask, is bidirectional attention:
  // every query sees all S keys); query head h reads kv head ⌊h / (H / Hkv)⌋. Results are
  // independent of the thread count (work is split by (batch, kv head); a kv head's gradients add its
  // query heads in order).

  /**
   * P = softmax(q kᵀ · scale + M) per (b, h), M = −∞ for keys later than the query or (keyMask [B·S],
   * 0 = padding) padding keys; a padding query's row is one-hot at its own position. Entries past the
   * query's position are exactly 0 (keys later than a query are not scored at all).
   */
  attnPattern(q: F32, k: F32, dims: I32, scale: number, keyMask: I32 | null, P: F32): void;
  /**
   * Backward of attnPattern from the saved P: dS = P ⊙ (gP − Σ_s gP P) · scale over the visible keys
   * (P past a query's position is taken as 0), gq = dS k (overwrites), gk = Σ_{h in group} dSᵀ q
   * (overwrites all Smax rows; rows >= S are 0). gq/gk may be null.
   */
  attnPatternGrad(P: F32, gP: F32, q: F32, k: F32, dims: I32, scale: number, gq: F32 | null, gk: F32 | null): void;
  /** z = P v per (b, h): P [B, H, T, S], v [B, Hkv, Smax, dh] (first S rows) -> z [B, H, T, dh]. Any P. */
  attnMix(P: F32, v: F32, dims: I32, z: F32): void;
  /** Backward of attnMix: gP = gz vᵀ (overwrites), gv = Σ_{h in group} Pᵀ gz (overwrites all Smax rows). Either may be null. */
  attnMixGrad(P: F32, gz: F32, v: F32, dims: I32, gP: F32 | null, gv: F32 | null): void;
  /**
   * RMSNorm over rows of x [rows, D]: rstd[r] = float(1/√(Σx²/D + eps)) (sum in float64), out = x · rstd · w.
   */
  rmsNorm(x: F32, rows: number, D: number, w: F32, eps: number, out: F32, rstd: F32): void;
  /**
   * Backward of rmsNorm: gx = r w gy − x r³/D Σ_j w_j gy_j x_j (overwrites), gw = Σ_rows gy x r
   * (overwrites; summed in float64). Either may be null.
   */
  rmsNormGrad(x: F32, gy: F32, rstd: F32, w: F32, rows: number, D: number, gx: F32 | null, gw: F32 | null): void;
  /**
   * Rotary embedding, rotate_half layout, of x [BT, H, dh] with the angles of positions[bt] from
   * tables cos/sin [nPos, dh/2]: [x₁ c − x₂ s, x₂ c + x₁ s]; inverse uses −s (the backward). Positions
   * outside the tables throw a RangeError.
   */
  rotary(x: F32, positions: I32, BT: number, H: number, dh: number, cos: F32, sin: F32, inverse: boolean, out: F32): void;
  /** out = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (length from out). */
  geluTanh(x: F32, out: F32): void;
  /** gx = gy · d/dx geluTanh(x) (overwrites; length from gx). */
  geluTanhGrad(x: F32, gy: F32, gx: F32): void;
  /** out = a σ(a) u (length from out). */
  swiglu(a: F32, u: F32, out: F32): void;
  /** ga = gy u σ(a)(1 + a(1 − σ(a))), gu = gy a σ(a) (overwrite; length from gy). Either may be null. */
  swigluGrad(a: F32, u: F32, gy: F32, ga: F32 | null, gu: F32 | null): void;
  /**
   * Row-wise cross-entropy of logits [rows, V] against targets [rows] (−1 = ignored row):
   * lse[r] = log Σ exp(x_r) (float64 sum), loss[r] = lse[r] − x[r, target] (0 for ignored rows).
   */
  crossEntropy(logits: F32, rows: number, V: number, targets: I32, loss: F32, lse: F32): void;
  /** gx[r] = scale · (softmax(x_r) − onehot(target_r)), 0 for ignored rows (overwrites). */
  crossEntropyGrad(logits: F32, lse: F32, targets: I32, rows: number, V: number, scale: number, gx: F32): void;
}
