/**
 * Top-activating examples of SAE latents: one pass over activation rows keeps, per latent, the n
 * rows where it fires most strongly, with its firing density and mean/max activation — the raw
 * material of latent dashboards and automated interpretability (SAEDashboard, delphi).
 *
 * Memory is O(latents · n) whatever the number of rows: each latent holds its n best (value, row)
 * pairs and replaces the smallest when a larger one arrives. Ties keep the earlier row, so the
 * result does not depend on the block size.
 */
import type { ActivationSource } from '../sae/activations.js';
import { runSae } from '../sae/convert.js';
import type { SaeWeights } from '../sae/interop.js';

export interface LatentExample {
  /** Global row index in the source. */
  row: number;
  value: number;
}

export interface LatentSummary {
  latent: number;
  /** Fraction of rows where the latent is nonzero. */
  density: number;
  /** Mean activation over the rows where it fires (0 if it never does). */
  meanActivation: number;
  maxActivation: number;
  /** Up to n examples, strongest first. */
  top: LatentExample[];
}

export interface TopActivationOptions {
  /** Examples kept per latent (default 10). */
  perLatent?: number;
  /** Rows [start, start + rows) of the source (default all). */
  start?: number;
  rows?: number;
  /** Rows encoded per block (default 4096). */
  block?: number;
}

/** Runs the SAE over the source's rows and summarises every latent (see the file comment). */
export function topActivations(w: SaeWeights, source: ActivationSource, opts: TopActivationOptions = {}): LatentSummary[] {
  if (source.dIn !== w.dIn) throw new Error(`topActivations: the activations have width ${source.dIn}, the SAE's d_in is ${w.dIn}`);
  const n = opts.perLatent ?? 10, H = w.dSae, block = opts.block ?? 4096;
  const start = opts.start ?? 0, total = opts.rows ?? source.rows - start;
  if (start < 0 || total < 0 || start + total > source.rows) throw new Error(`topActivations: rows [${start}, ${start + total}) outside the source's ${source.rows}`);
  const vals = new Float32Array(H * n), rows = new Int32Array(H * n), size = new Int32Array(H);
  const count = new Float64Array(H), sum = new Float64Array(H), max = new Float32Array(H);
  const offer = (h: number, v: number, r: number) => {
    count[h]++; sum[h] += v;
    if (v > max[h]!) max[h] = v;
    const o = h * n, s = size[h]!;
    if (s < n) { vals[o + s] = v; rows[o + s] = r; size[h] = s + 1; return; }
    let mi = 0;
    for (let j = 1; j < n; j++) if (vals[o + j]! < vals[o + mi]! || (vals[o + j] === vals[o + mi] && rows[o + j]! > rows[o + mi]!)) mi = j;
    if (v > vals[o + mi]!) { vals[o + mi] = v; rows[o + mi] = r; }
  };
  for (let r0 = start; r0 < start + total; r0 += block) {
    const m = Math.min(block, start + total - r0);
    const { codes } = runSae(w, source.readRows(r0, m));
    if (codes instanceof Float32Array) {
      for (let i = 0; i < m; i++) for (let h = 0; h < H; h++) {
        const v = codes[i * H + h]!;
        if (v > 0) offer(h, v, r0 + i);
      }
    } else {
      const { k, indices, values } = codes;
      for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) {
        const v = values[i * k + j]!;
        if (v > 0) offer(indices[i * k + j]!, v, r0 + i);
      }
    }
  }
  const out: LatentSummary[] = [];
  for (let h = 0; h < H; h++) {
    const o = h * n;
    const top = Array.from({ length: size[h]! }, (_, j) => ({ row: rows[o + j]!, value: vals[o + j]! }))
      .sort((a, b) => b.value - a.value || a.row - b.row);
    out.push({ latent: h, density: total > 0 ? count[h]! / total : 0, meanActivation: count[h] ? sum[h]! / count[h]! : 0, maxActivation: max[h]!, top });
  }
  return out;
}
