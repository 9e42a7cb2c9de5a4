/**
 * Hook points with TransformerLens's names, and the hook functions users attach to them.
 *
 * A hook point is a named activation inside the forward pass. A hook function sees the activation
 * and may return a tensor of the same shape that replaces it downstream (ablation, patching, an SAE
 * splice) or nothing (reading / caching). Names and shapes, for B sequences of T tokens:
 *
 *   hook_embed                      [B, T, D]   token embeddings
 *   hook_pos_embed                  [B, T, D]   learned position embeddings (learned positions only)
 *   blocks.{l}.hook_resid_pre       [B, T, D]   residual stream entering block l
 *   blocks.{l}.ln1.hook_normalized  [B, T, D]   attention input after the norm (and its weight)
 *   blocks.{l}.attn.hook_q          [B, T, H, dh]    queries (before rotary)
 *   blocks.{l}.attn.hook_k          [B, T, Hkv, dh]  keys (before rotary)
 *   blocks.{l}.attn.hook_v          [B, T, Hkv, dh]
 *   blocks.{l}.attn.hook_rot_q      [B, T, H, dh]    queries after rotary (rotary only)
 *   blocks.{l}.attn.hook_rot_k      [B, T, Hkv, dh]
 *   blocks.{l}.attn.hook_pattern    [B, H, T, S]     softmax attention probabilities
 *   blocks.{l}.attn.hook_z          [B, T, H, dh]    pattern-weighted values, before the output projection
 *   blocks.{l}.hook_attn_out        [B, T, D]
 *   blocks.{l}.hook_resid_mid       [B, T, D]   resid_pre + attn_out
 *   blocks.{l}.ln2.hook_normalized  [B, T, D]
 *   blocks.{l}.mlp.hook_pre         [B, T, dMlp] MLP hidden pre-activation (the gate for SwiGLU)
 *   blocks.{l}.mlp.hook_post        [B, T, dMlp] MLP hidden after the nonlinearity (and the up product)
 *   blocks.{l}.hook_mlp_out         [B, T, D]
 *   blocks.{l}.hook_resid_post      [B, T, D]   resid_mid + mlp_out
 *   ln_final.hook_normalized        [B, T, D]   final norm output, weight and bias applied (the unembedding input)
 *
 * S is the number of keys (T, or the cached length plus T when decoding with a KV cache). Unlike
 * TransformerLens, the ln hooks are taken after the norm's weight: that is the tensor the next
 * layer multiplies. hook_z is [B, T, H, dh] as in TransformerLens.
 */
import { Tensor, shapeStr, zeros } from '../core/tensor.js';
import type { TransformerConfig } from './config.js';

/** What a hook function learns about where it runs. */
export interface HookContext {
  name: string;
  /** Block index, or null for hooks outside the blocks. */
  layer: number | null;
  /** Token ids [B·T] (row-major [B, T]) of this forward pass. */
  tokens: Int32Array;
  batch: number;
  seq: number;
  /** [B·T] 1 = real token, 0 = padding, when the caller passed a mask. */
  attentionMask: Int32Array | null;
}

/** Reads an activation; returning a tensor of the same shape replaces it downstream. */
export type HookFn = (activation: Tensor, ctx: HookContext) => Tensor | void;

export type HookMap = Record<string, HookFn | HookFn[]>;

/** Thrown for a hook name the model does not have; lists the valid ones. */
export class UnknownHookError extends Error {
  constructor(readonly hook: string, readonly valid: readonly string[]) {
    super(`unknown hook '${hook}'. Valid hook names for this model:\n  ${compactNames(valid).join('\n  ')}`);
    this.name = 'UnknownHookError';
  }
}

/** Collapses per-layer names into `blocks.{0..L-1}.name` for readable error messages. */
function compactNames(names: readonly string[]): string[] {
  const out: string[] = [];
  const perLayer = new Map<string, number[]>();
  for (const n of names) {
    const m = /^blocks\.(\d+)\.(.+)$/.exec(n);
    if (!m) { out.push(n); continue; }
    const list = perLayer.get(m[2]!) ?? [];
    list.push(Number(m[1]));
    perLayer.set(m[2]!, list);
  }
  for (const [rest, layers] of perLayer) out.push(`blocks.{${Math.min(...layers)}..${Math.max(...layers)}}.${rest}`);
  return out;
}

/** Every hook name of a model with this config, in forward order. */
export function hookNames(cfg: TransformerConfig): string[] {
  const names = ['hook_embed'];
  if (cfg.positional === 'learned') names.push('hook_pos_embed');
  for (let l = 0; l < cfg.nLayers; l++) {
    const b = `blocks.${l}`;
    names.push(`${b}.hook_resid_pre`, `${b}.ln1.hook_normalized`, `${b}.attn.hook_q`, `${b}.attn.hook_k`, `${b}.attn.hook_v`);
    if (cfg.positional === 'rotary') names.push(`${b}.attn.hook_rot_q`, `${b}.attn.hook_rot_k`);
    names.push(`${b}.attn.hook_pattern`, `${b}.attn.hook_z`, `${b}.hook_attn_out`, `${b}.hook_resid_mid`,
      `${b}.ln2.hook_normalized`, `${b}.mlp.hook_pre`, `${b}.mlp.hook_post`, `${b}.hook_mlp_out`, `${b}.hook_resid_post`);
  }
  names.push('ln_final.hook_normalized');
  return names;
}

/** Throws UnknownHookError unless every name is a hook of the model. */
export function checkHookNames(cfg: TransformerConfig, names: Iterable<string>): void {
  const valid = hookNames(cfg);
  const set = new Set(valid);
  for (const n of names) if (!set.has(n)) throw new UnknownHookError(n, valid);
}

/** The width of one row of a hook's activation when flattened over its trailing axes (harvesting). */
export function hookRowWidth(cfg: TransformerConfig, name: string): number {
  checkHookNames(cfg, [name]);
  if (name.endsWith('attn.hook_q') || name.endsWith('attn.hook_rot_q') || name.endsWith('attn.hook_z')) return cfg.nHeads * cfg.dHead;
  if (name.endsWith('attn.hook_k') || name.endsWith('attn.hook_v') || name.endsWith('attn.hook_rot_k')) return cfg.nKvHeads * cfg.dHead;
  if (name.endsWith('mlp.hook_pre') || name.endsWith('mlp.hook_post')) return cfg.dMlp;
  if (name.endsWith('attn.hook_pattern')) throw new Error(`hook '${name}' has one row per query and head over a variable number of keys; it cannot be flattened to fixed-width rows`);
  return cfg.dModel;
}

/** The block index in a hook name (`blocks.3.…` → 3), or null. */
export function hookLayer(name: string): number | null {
  const m = /^blocks\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}

// ---- ready-made hook functions ------------------------------------------------------------------

/** Replaces the activation with zeros. */
export function zeroAblation(): HookFn {
  return (a) => zeros(a.shape);
}

/**
 * Replaces every position's activation by `mean` (a vector over the last axis, e.g. the mean
 * activation over a data set, of length = the activation's last dimension).
 */
export function meanAblation(mean: Float32Array): HookFn {
  return (a) => {
    const D = a.shape[a.rank - 1]!;
    if (mean.length !== D) throw new Error(`meanAblation: mean has ${mean.length} values, the activation ${shapeStr(a.shape)} ends in ${D}`);
    const out = zeros(a.shape), o = out.f32();
    for (let i = 0; i < o.length; i += D) o.set(mean, i);
    return out;
  };
}

/**
 * Activation patching: replaces the activation with `source` (same shape, e.g. from runWithCache on
 * another prompt), at every position or only at the given flat positions b·T + t.
 */
export function patchActivation(source: Tensor, positions?: readonly number[]): HookFn {
  return (a) => {
    if (source.size !== a.size) throw new Error(`patchActivation: source ${shapeStr(source.shape)} does not match the activation ${shapeStr(a.shape)}`);
    if (!positions) return source.shape.length === a.shape.length ? source : new Tensor(source.data, a.shape);
    const [B, T] = a.shape as [number, number];
    const row = a.size / (B * T);
    const out = a.clone(), o = out.f32(), s = source.f32();
    for (const p of positions) {
      if (!(p >= 0 && p < B * T)) throw new Error(`patchActivation: position ${p} outside [0, ${B * T})`);
      o.set(s.subarray(p * row, (p + 1) * row), p * row);
    }
    return out;
  };
}
