/**
 * Matrix products. Transposes are flags passed to the GEMM kernel, never materialised.
 */
import { K, Tensor, empty, gradInto, gradOut, isOwnedGrad, record, shapeStr } from '../tensor.js';

export interface MatmulOptions {
  /** Use aᵀ: a is stored [..., K, M]. */
  transA?: boolean;
  /** Use bᵀ: b is stored [..., N, K]. */
  transB?: boolean;
}

interface Dims { M: number; N: number; K: number; batch: number; aBatched: boolean; bBatched: boolean }

function dims(a: Tensor, b: Tensor, tA: boolean, tB: boolean): Dims {
  const ra = a.rank, rb = b.rank;
  const bad = () => new Error(`matmul: cannot multiply ${shapeStr(a.shape)}${tA ? 'ᵀ' : ''} by ${shapeStr(b.shape)}${tB ? 'ᵀ' : ''}`);
  if (ra < 2 || rb < 2 || ra > 3 || rb > 3) throw new Error(`matmul: expects 2-D or 3-D (batched) operands, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  const [a0, a1] = [a.shape[ra - 2]!, a.shape[ra - 1]!];
  const [b0, b1] = [b.shape[rb - 2]!, b.shape[rb - 1]!];
  const M = tA ? a1 : a0, Ka = tA ? a0 : a1;
  const Kb = tB ? b1 : b0, N = tB ? b0 : b1;
  if (Ka !== Kb) throw bad();
  const ba = ra === 3 ? a.shape[0]! : 1, bb = rb === 3 ? b.shape[0]! : 1;
  if (ra === 3 && rb === 3 && ba !== bb) throw new Error(`matmul: batch sizes differ: ${shapeStr(a.shape)} vs ${shapeStr(b.shape)}`);
  return { M, N, K: Ka, batch: Math.max(ba, bb), aBatched: ra === 3, bBatched: rb === 3 };
}

/** Runs C[i] = alpha op(A[i]) op(B[i]) + beta C[i] over the batch, broadcasting 2-D operands. */
function batchedGemm(tA: boolean, tB: boolean, d: { M: number; N: number; K: number; batch: number }, alpha: number,
  A: Float32Array, aBatched: boolean, B: Float32Array, bBatched: boolean, beta: number, C: Float32Array, cBatched: boolean): void {
  const sa = d.M * d.K, sb = d.K * d.N, sc = d.M * d.N;
  for (let i = 0; i < d.batch; i++) {
    // A product summed over a broadcast batch accumulates into the one shared output.
    const b = cBatched ? beta : i === 0 ? beta : 1;
    K().gemm(tA, tB, d.M, d.N, d.K, alpha, A, aBatched ? i * sa : 0, B, bBatched ? i * sb : 0, b, C, cBatched ? i * sc : 0);
  }
}

/**
 * C = op(a) op(b): [M, K]·[K, N] -> [M, N], or batched [Bt, M, K]·[Bt, K, N] -> [Bt, M, N] where a
 * 2-D operand is shared by every batch element.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const tA = !!opts.transA, tB = !!opts.transB;
  const d = dims(a, b, tA, tB);
  const batched = d.aBatched || d.bBatched;
  const out = empty(batched ? [d.batch, d.M, d.N] : [d.M, d.N]);
  const A = a.f32('matmul'), B = b.f32('matmul');
  batchedGemm(tA, tB, d, 1, A, d.aBatched, B, d.bBatched, 0, out.f32(), batched);
  return record(out, 'matmul', [a, b], (g) => {
    const G = g.f32();
    let ga: Tensor | null = null, gb: Tensor | null = null;
    // Each product accumulates onto the input's pending gradient when the engine has one (gradInto).
    if (a.requiresGrad) {
      const { out: o, beta } = gradInto(a);
      ga = o;
      if (!tA) batchedGemm(false, !tB, { M: d.M, N: d.K, K: d.N, batch: d.batch }, 1, G, batched, B, d.bBatched, beta, ga.f32(), d.aBatched);
      else batchedGemm(tB, true, { M: d.K, N: d.M, K: d.N, batch: d.batch }, 1, B, d.bBatched, G, batched, beta, ga.f32(), d.aBatched);
    }
    if (b.requiresGrad) {
      const { out: o, beta } = gradInto(b);
      gb = o;
      if (!tB) batchedGemm(!tA, false, { M: d.K, N: d.N, K: d.M, batch: d.batch }, 1, A, d.aBatched, G, batched, beta, gb.f32(), d.bBatched);
      else batchedGemm(true, tA, { M: d.N, N: d.K, K: d.M, batch: d.batch }, 1, G, batched, A, d.aBatched, beta, gb.f32(), d.bBatched);
    }
    return [ga, gb];
  });
}


export interface LinearDims { rows: number; inF: number; outF: number }

export function linearDims(op: string, x: Tensor, weight: Tensor, bias: Tensor | null | undefined): LinearDims {
  if (weight.rank !== 2) throw new Error(`${op}: weight must be [out, in], got ${shapeStr(weight.shape)}`);
  const [outF, inF] = weight.shape as [number, number];
  if (x.rank < 1 || x.shape[x.rank - 1] !== inF) throw new Error(`${op}: input ${shapeStr(x.shape)} does not end in ${inF} (weight ${shapeStr(weight.shape)})`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outF)) throw new Error(`${op}: bias ${shapeStr(bias.shape)} must be [${outF}] for weight ${shapeStr(weight.shape)}`);
  const rows = x.rank === 1 ? 1 : x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  return { rows, inF, outF };
}

/** Unrecorded x Wᵀ + b into a fresh tensor. */
function linearForward(op: string, x: Tensor, weight: Tensor, bias: Tensor | null | undefined, d: LinearDims): Tensor {
  const out = empty([...x.shape.slice(0, -1), d.outF]);
  const Y = out.f32();
  let beta = 0;
  if (bias) {
    // The bias rows are copied by the (threaded) row-broadcast kernel; the GEMM then accumulates
    // onto them (beta = 1): no extra pass.
    K().broadcastRows(bias.f32(op), d.rows, d.outF, Y);
    beta = 1;
  }
  K().gemm(false, true, d.rows, d.outF, d.inF, 1, x.f32(op), 0, weight.f32(op), 0, beta, Y, 0);
  return out;
}

/** Gradients of x Wᵀ + b given the gradient G of the output, for the inputs that need them. */
export function linearBackward(x: Tensor, weight: Tensor, bias: Tensor | null | undefined, d: LinearDims, G: Float32Array): (Tensor | null)[] {
  const { rows, inF, outF } = d;
  let gx: Tensor | null = null, gw: Tensor | null = null, gbias: Tensor | null = null;
  // dX and dW accumulate onto the input's pending gradient when the engine has one (gradInto).
  if (x.requiresGrad) {
    const { out: o, beta } = gradInto(x);
    gx = o;
    K().gemm(false, false, rows, inF, outF, 1, G, 0, weight.f32(), 0, beta, gx.f32(), 0); // dX = dY W
  }
  if (weight.requiresGrad) {
    const { out: o, beta } = gradInto(weight);
    gw = o;
    K().gemm(true, false, outF, inF, rows, 1, G, 0, x.f32(), 0, beta, gw.f32(), 0); // dW = dYᵀ X
  }
  if (bias?.requiresGrad) {
    gbias = gradOut(bias.shape);
    K().reduce('sum', G, 1, rows, outF, gbias.f32());
  }
  return bias ? [gx, gw, gbias] : [gx, gw];
}

/**
 * y = x Wᵀ + b (PyTorch's nn.Linear layout): x [..., in], W [out, in], b [out] -> [..., out].
 * The bias is written first and the GEMM accumulates onto it (beta = 1), so no extra pass.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const d = linearDims('linear', x, weight, bias);
  const out = linearForward('linear', x, weight, bias, d);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(out, 'linear', inputs, (g) => linearBackward(x, weight, bias, d, g.f32()));
}

/**
 * relu(x Wᵀ + b) as one op, identical in value and gradient to relu(linear(x, W, b)) but cheaper:
 * the ReLU runs in place on the GEMM output (no pre-activation tensor is kept, since relu' can be
 * read off the output: y > 0 exactly where the pre-activation is > 0, NaN included), and the
 * backward masks the incoming gradient in place when the engine owns it.
 */
export function linearRelu(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const d = linearDims('linearRelu', x, weight, bias);
  const out = linearForward('linearRelu', x, weight, bias, d);
  const Y = out.f32();
  K().unary('relu', Y, Y);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(out, 'linearRelu', inputs, (g) => {
    const gpre = isOwnedGrad(g) ? g : gradOut(out.shape);
    K().unaryGrad('relu', Y, Y, g.f32(), gpre.f32(), false);
    return linearBackward(x, weight, bias, d, gpre.f32());
  });
}
