/**
 * SAE inference on arrays for the browser bundle: the encoding rule of sae/convert.ts's runSae
 * (float32 GEMM through the core's `linear`, then ReLU / TopK / JumpReLU / gated), without its
 * node:fs-importing module. Dense codes [B, dSae] out, so the page and the tests can compare them
 * with Node's runSae / interop's float64 encodeSae directly.
 */
import { fromBuffer, linear, noGrad, relu, scope, topk, type Tensor } from '../core/index.js';
import type { SaeWeights } from '../sae/interop.js';
import { normaliseTokens } from '../sae/token-norm.js';

/** Dense codes [B, dSae] for x [B, dIn], in blocks of `block` rows. */
export function encodeRows(w: SaeWeights, x: Float32Array, block = 1024): Float32Array {
  const { dIn: d, dSae: H } = w;
  const N = x.length / d;
  if (!Number.isInteger(N)) throw new RangeError(`encodeRows: x has ${x.length} values, not rows of d_in ${d}`);
  if (w.arch === 'gated' && (!w.r_mag || !w.b_mag)) throw new TypeError('encodeRows: a gated SAE needs r_mag and b_mag');
  if ((w.arch === 'jumprelu' || w.arch === 'batchtopk') && !w.threshold) throw new TypeError(`encodeRows: a ${w.arch} SAE needs a threshold`);
  const tn = w.meta.inputNormalization;
  const k = w.arch === 'topk' ? Math.min(w.k ?? H, H) : 0;
  const out = new Float32Array(N * H);
  const Wenc = fromBuffer(w.W_enc, [H, d]);
  const benc = fromBuffer(w.b_enc, [H]);
  for (let s = 0; s < N; s += block) {
    const n = Math.min(block, N - s);
    let xs: Float32Array = x.slice(s * d, (s + n) * d);
    if (typeof tn === 'string' && tn !== 'none') {
      if (tn !== 'layer_norm' && tn !== 'constant_norm_rescale') throw new RangeError(`encodeRows: unknown input normalisation '${tn}'`);
      xs = normaliseTokens(tn, xs, d).x;
    }
    if (w.applyBDecToInput) for (let t = 0; t < n; t++) for (let j = 0; j < d; j++) xs[t * d + j]! -= w.b_dec[j]!;
    scope(() => noGrad(() => {
      const pre = linear(fromBuffer(xs, [n, d]), Wenc, benc);
      if (k > 0) {
        const tk = topk(pre, k);
        const v = relu(tk.values).f32(), ix = (tk.indices as Tensor).i32();
        for (let t = 0; t < n; t++) for (let j = 0; j < k; j++) out[(s + t) * H + ix[t * k + j]!] = v[t * k + j]!;
        return;
      }
      const p = pre.f32(), th = w.threshold, o = s * H;
      for (let i = 0; i < p.length; i++) {
        const h = i % H, val = p[i]!;
        if (w.arch === 'gated') {
          const mag = Math.exp(w.r_mag![h]!) * (val - w.b_enc[h]!) + w.b_mag![h]!;
          out[o + i] = val > 0 && mag > 0 ? mag : 0;
        } else {
          out[o + i] = (w.arch === 'relu' ? val > 0 : val > 0 && val > th![h]!) ? val : 0;
        }
      }
    }));
  }
  return out;
}

/** The `top` largest codes of each row as [latent, value] pairs (for display). */
export function topLatents(codes: Float32Array, dSae: number, top = 8): [number, number][][] {
  const rows: [number, number][][] = [];
  for (let t = 0; t < codes.length / dSae; t++) {
    const r: [number, number][] = [];
    for (let h = 0; h < dSae; h++) if (codes[t * dSae + h] !== 0) r.push([h, codes[t * dSae + h]!]);
    rows.push(r.sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, top));
  }
  return rows;
}
