/**
 * The bf16 encoder forward (issue 16, item 2): y = x Wᵀ + b with both GEMM operands rounded to bf16
 * and the products accumulated in float32 (Backend.gemmBf16: AMX / AVX512-BF16 kernels, a reference
 * on the js backend). The backward is the float32 one of `linear` (dx = dy W, dW = dyᵀ x, db = Σ dy),
 * with the float32 master weights: only the forward's arithmetic changes. Used by the SAE training
 * step when encoderDtype is 'bf16'; inference and saved weights stay float32.
 */
import { K, Tensor, empty, record } from '../tensor.js';
import { linearBackward, linearDims } from './linalg.js';

/** Encoder arithmetic of an SAE training step: float32, or bf16 operands with float32 accumulation. */
export type EncoderDtype = 'f32' | 'bf16';
export const ENCODER_DTYPES: readonly EncoderDtype[] = ['f32', 'bf16'];

/** The bf16 GEMM kernel of the current backend ('amx-bf16', 'avx512-bf16', 'reference') or null, and why not. */
export function bf16Support(): { kernel: 'amx-bf16' | 'avx512-bf16' | 'reference' | null; missing: string; fasterThanF32: boolean } {
  return K().bf16Support();
}

/**
 * x [R, in], W [out, in], b [out] or null → [R, out]: pre[r, o] = b[o] + Σ_i bf16(x[r, i]) · bf16(W[o, i])
 * (float32 sums), differentiable like linear(x, W, b) (float32 backward, as if the forward had been exact).
 */
export function linearBf16(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const d = linearDims('linearBf16', x, weight, bias);
  const out = empty([...x.shape.slice(0, -1), d.outF]);
  K().gemmBf16(d.rows, d.outF, d.inF, x.f32('linearBf16'), weight.f32('linearBf16'), bias ? bias.f32('linearBf16') : null, out.f32());
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(out, 'linearBf16', inputs, (g) => linearBackward(x, weight, bias, d, g.f32()));
}
