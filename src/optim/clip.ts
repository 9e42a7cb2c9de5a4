/**
 * Gradient clipping.
 *
 * clipGradNorm: total = sqrt(Σ_p ‖grad_p‖²) over every gradient (one global L2 norm, accumulated in
 * float64 by the sumSquares kernel); if c = maxNorm / (total + 1e-6) < 1, every gradient is scaled
 * by c in place (PyTorch's clip_grad_norm_ formula). Returns the norm before clipping.
 */
import { K, type Tensor } from '../core/tensor.js';

export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): number {
  if (!(maxNorm >= 0)) throw new Error(`clipGradNorm: maxNorm must be >= 0, got ${maxNorm}`);
  const grads: Float32Array[] = [];
  for (const p of params) if (p.grad) grads.push(p.grad.f32('clipGradNorm'));
  const k = K();
  let sq = 0;
  for (const g of grads) sq += k.sumSquares(g);
  const total = Math.sqrt(sq);
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1) for (const g of grads) k.unary('scale', g, g, coef);
  return total;
}

/** Clamps every gradient value into [-clipValue, clipValue] in place. */
export function clipGradValue(params: Iterable<Tensor>, clipValue: number): void {
  if (!(clipValue >= 0)) throw new Error(`clipGradValue: clipValue must be >= 0, got ${clipValue}`);
  for (const p of params) if (p.grad) K().clamp(p.grad.f32('clipGradValue'), -clipValue, clipValue, p.grad.f32());
}
