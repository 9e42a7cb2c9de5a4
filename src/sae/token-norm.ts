/**
 * SAELens's per-token input normalisations, in a module of their own with no imports so the
 * browser bundle (src/web) uses the very same code as the Node paths (interop.ts, convert.ts,
 * interp/splice.ts).
 */

/** The per-token modes: `normalize_activations` values of a SAELens cfg that cannot be folded into weights. */
export type TokenNormalization = 'layer_norm' | 'constant_norm_rescale';

/**
 * The per-token input normalisation of SAELens (see the file comment) on rows x [B, d]: returns
 * x̃ and, per token, the shift μ and the output scale σ_out so that x̂ = x̂̃·σ_out + μ.
 *   layer_norm             μ = mean(x), σ = √(Σ (x − μ)²/(d − 1)), x̃ = (x − μ)/(σ + eps), σ_out = σ
 *   constant_norm_rescale  μ = 0, c = √d/‖x‖, x̃ = c·x, σ_out = 1/c
 * Float64 per token, float32 out. eps defaults to SAELens's 1e-5.
 */
export function normaliseTokens(kind: TokenNormalization, x: Float32Array, d: number, eps = 1e-5): { x: Float32Array; mean: Float64Array; scale: Float64Array } {
  const B = x.length / d;
  if (!Number.isInteger(B)) throw new RangeError(`normaliseTokens: ${x.length} values are not rows of d = ${d}`);
  const out = new Float32Array(x.length), mean = new Float64Array(B), scale = new Float64Array(B);
  for (let t = 0; t < B; t++) {
    const o = t * d;
    if (kind === 'layer_norm') {
      let m = 0;
      for (let j = 0; j < d; j++) m += x[o + j]!;
      m /= d;
      let v = 0;
      for (let j = 0; j < d; j++) v += (x[o + j]! - m) ** 2;
      const sd = Math.sqrt(v / Math.max(1, d - 1));
      mean[t] = m;
      scale[t] = sd;
      for (let j = 0; j < d; j++) out[o + j] = (x[o + j]! - m) / (sd + eps);
    } else if (kind === 'constant_norm_rescale') {
      let n = 0;
      for (let j = 0; j < d; j++) n += x[o + j]! ** 2;
      const c = Math.sqrt(d) / Math.sqrt(n);
      scale[t] = 1 / c;
      for (let j = 0; j < d; j++) out[o + j] = x[o + j]! * c;
    } else {
      throw new RangeError(`normaliseTokens: unknown normalisation '${String(kind)}' (layer_norm, constant_norm_rescale)`);
    }
  }
  return { x: out, mean, scale };
}
