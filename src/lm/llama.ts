/**
 * HF-style Llama checkpoints: config.json (`hidden_size`, `intermediate_size`, `num_hidden_layers`,
 * `num_attention_heads`, `num_key_value_heads`, `head_dim`, `max_position_embeddings`,
 * `rms_norm_eps`, `rope_theta`, `tie_word_embeddings`, `hidden_act`) and safetensors with
 *   model.embed_tokens.weight [V, D], model.layers.{i}.input_layernorm.weight,
 *   model.layers.{i}.self_attn.{q,k,v,o}_proj.weight, model.layers.{i}.post_attention_layernorm.weight,
 *   model.layers.{i}.mlp.{gate,up,down}_proj.weight, model.norm.weight, lm_head.weight (untied).
 * HF stores q/k in the rotate_half layout already, so weights load without permutation. RoPE
 * scaling variants (`rope_scaling`) change the maths and are refused rather than ignored.
 */
import { FormatError } from '../core/io/errors.js';
import { Transformer } from './transformer.js';
import type { TransformerConfig } from './config.js';
import { HfWeights, cfgInt, cfgNum, readHfConfig, type HfConfig } from './hf.js';

/** The transformer config of a Llama config.json. */
export function llamaConfig(path: string, c: HfConfig): TransformerConfig {
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') throw new FormatError(path, 'hidden_act', `'${String(act)}' is not supported (Llama uses 'silu')`);
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) throw new FormatError(path, 'rope_scaling', `rope_scaling ${JSON.stringify(c.rope_scaling)} is not supported`);
  if (c.attention_bias === true || c.mlp_bias === true) throw new FormatError(path, c.attention_bias === true ? 'attention_bias' : 'mlp_bias', 'Llama variants with biases are not supported');
  const D = cfgInt(path, c, 'hidden_size'), H = cfgInt(path, c, 'num_attention_heads');
  const Hkv = cfgInt(path, c, 'num_key_value_heads', H);
  if (H % Hkv !== 0) throw new FormatError(path, 'num_key_value_heads', `${Hkv} does not divide num_attention_heads ${H}`);
  const dh = c.head_dim === undefined || c.head_dim === null ? D / H : cfgInt(path, c, 'head_dim');
  if (!Number.isInteger(dh)) throw new FormatError(path, 'num_attention_heads', `hidden_size ${D} is not divisible by num_attention_heads ${H}`);
  return {
    family: 'llama', vocabSize: cfgInt(path, c, 'vocab_size'), dModel: D, nLayers: cfgInt(path, c, 'num_hidden_layers'), nHeads: H,
    nKvHeads: Hkv, dHead: dh, dMlp: cfgInt(path, c, 'intermediate_size'), nCtx: cfgInt(path, c, 'max_position_embeddings', 2048),
    norm: 'rmsnorm', normEps: cfgNum(path, c, 'rms_norm_eps', 1e-6), positional: 'rotary', ropeTheta: cfgNum(path, c, 'rope_theta', 10000),
    mlp: 'swiglu', attnBias: false, mlpBias: false, tiedEmbeddings: c.tie_word_embeddings === true,
    bosId: typeof c.bos_token_id === 'number' ? c.bos_token_id : null, eosId: typeof c.eos_token_id === 'number' ? c.eos_token_id : null,
  };
}

/** Loads an HF-style Llama folder as a Transformer in eval mode. */
export function loadLlama(dir: string): Transformer {
  const { path, config } = readHfConfig(dir);
  const cfg = llamaConfig(path, config);
  const w = new HfWeights(dir);
  try {
    const { vocabSize: V, dModel: D, dMlp: M, nHeads: H, nKvHeads: Hkv, dHead: dh } = cfg;
    const m = new Transformer(cfg);
    w.into('model.embed_tokens.weight', [V, D], m.embed.W_E);
    m.blocks.forEach((b, i) => {
      const p = `model.layers.${i}`;
      w.into(`${p}.input_layernorm.weight`, [D], b.ln1.w);
      w.into(`${p}.self_attn.q_proj.weight`, [H * dh, D], b.attn.W_Q);
      w.into(`${p}.self_attn.k_proj.weight`, [Hkv * dh, D], b.attn.W_K);
      w.into(`${p}.self_attn.v_proj.weight`, [Hkv * dh, D], b.attn.W_V);
      w.into(`${p}.self_attn.o_proj.weight`, [D, H * dh], b.attn.W_O);
      w.into(`${p}.post_attention_layernorm.weight`, [D], b.ln2.w);
      w.into(`${p}.mlp.gate_proj.weight`, [M, D], b.mlp.W_gate!);
      w.into(`${p}.mlp.up_proj.weight`, [M, D], b.mlp.W_in);
      w.into(`${p}.mlp.down_proj.weight`, [D, M], b.mlp.W_out);
    });
    w.into('model.norm.weight', [D], m.ln_final.w);
    if (cfg.tiedEmbeddings) {
      if (w.has('lm_head.weight')) w.read('lm_head.weight', [V, D]); // some exports keep the tied copy
    } else {
      w.into('lm_head.weight', [V, D], m.unembed.W_U!);
    }
    const unused = w.names().filter((n) => !w.used.has(n) && !/rotary_emb\.inv_freq$/.test(n));
    if (unused.length > 0) throw new FormatError(dir, 'tensors', `unexpected tensors for a Llama model: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', …' : ''}`);
    return m.eval();
  } finally {
    w.close();
  }
}
