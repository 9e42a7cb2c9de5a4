/**
 * HF-style GPT-2 checkpoints: config.json (`n_embd`, `n_layer`, `n_head`, `n_positions`,
 * `vocab_size`, `layer_norm_epsilon`, `activation_function`) and safetensors with
 *   wte.weight [V, D], wpe.weight [n_ctx, D], h.{i}.ln_1.{weight,bias}, h.{i}.attn.c_attn.{weight
 *   [D, 3D], bias [3D]}, h.{i}.attn.c_proj.{weight [D, D], bias}, h.{i}.ln_2, h.{i}.mlp.c_fc.{weight
 *   [D, dMlp], bias}, h.{i}.mlp.c_proj.{weight [dMlp, D], bias}, ln_f.{weight,bias}
 * optionally prefixed `transformer.` (GPT2LMHeadModel) and with an `lm_head.weight` equal to wte.
 * GPT-2's Conv1D stores weights [in, out] (y = x W + b): they are transposed to Linear's [out, in],
 * and c_attn's output columns split into W_Q, W_K, W_V.
 */
import { FormatError } from '../core/io/errors.js';
import { Transformer } from './transformer.js';
import type { TransformerConfig } from './config.js';
import { HfWeights, cfgInt, cfgNum, readHfConfig, transposeMatrix, type HfConfig } from './hf.js';

/** The transformer config of a GPT-2 config.json. */
export function gpt2Config(path: string, c: HfConfig): TransformerConfig {
  const act = c.activation_function ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    throw new FormatError(path, 'activation_function', `'${String(act)}' is not supported (GPT-2 uses the tanh GELU, 'gelu_new')`);
  }
  const D = cfgInt(path, c, 'n_embd'), H = cfgInt(path, c, 'n_head');
  if (D % H !== 0) throw new FormatError(path, 'n_head', `n_embd ${D} is not divisible by n_head ${H}`);
  const inner = c.n_inner === null || c.n_inner === undefined ? 4 * D : cfgInt(path, c, 'n_inner');
  return {
    family: 'gpt2', vocabSize: cfgInt(path, c, 'vocab_size'), dModel: D, nLayers: cfgInt(path, c, 'n_layer'), nHeads: H, nKvHeads: H,
    dHead: D / H, dMlp: inner, nCtx: cfgInt(path, c, 'n_positions', c.n_ctx as number | undefined), norm: 'layernorm',
    normEps: cfgNum(path, c, 'layer_norm_epsilon', 1e-5), positional: 'learned', ropeTheta: 10000, mlp: 'gelu',
    attnBias: true, mlpBias: true, tiedEmbeddings: true,
    bosId: typeof c.bos_token_id === 'number' ? c.bos_token_id : null, eosId: typeof c.eos_token_id === 'number' ? c.eos_token_id : null,
  };
}

/** Loads an HF-style GPT-2 folder as a Transformer in eval mode. */
export function loadGpt2(dir: string): Transformer {
  const { path, config } = readHfConfig(dir);
  const cfg = gpt2Config(path, config);
  const w = new HfWeights(dir);
  try {
    const pre = w.has('transformer.wte.weight') ? 'transformer.' : '';
    const { vocabSize: V, dModel: D, dMlp: M, nCtx } = cfg;
    const m = new Transformer(cfg);
    w.into(`${pre}wte.weight`, [V, D], m.embed.W_E);
    w.into(`${pre}wpe.weight`, [nCtx, D], m.pos_embed!.W_pos);
    m.blocks.forEach((b, i) => {
      const p = `${pre}h.${i}`;
      w.into(`${p}.ln_1.weight`, [D], b.ln1.w);
      w.into(`${p}.ln_1.bias`, [D], b.ln1.b!);
      const qkv = transposeMatrix(w.read(`${p}.attn.c_attn.weight`, [D, 3 * D]), D, 3 * D); // [3D, D]
      b.attn.W_Q.f32().set(qkv.subarray(0, D * D));
      b.attn.W_K.f32().set(qkv.subarray(D * D, 2 * D * D));
      b.attn.W_V.f32().set(qkv.subarray(2 * D * D));
      const qkvBias = w.read(`${p}.attn.c_attn.bias`, [3 * D]);
      b.attn.b_Q!.f32().set(qkvBias.subarray(0, D));
      b.attn.b_K!.f32().set(qkvBias.subarray(D, 2 * D));
      b.attn.b_V!.f32().set(qkvBias.subarray(2 * D));
      w.into(`${p}.attn.c_proj.weight`, [D, D], b.attn.W_O, (d) => transposeMatrix(d, D, D));
      w.into(`${p}.attn.c_proj.bias`, [D], b.attn.b_O!);
      w.into(`${p}.ln_2.weight`, [D], b.ln2.w);
      w.into(`${p}.ln_2.bias`, [D], b.ln2.b!);
      w.into(`${p}.mlp.c_fc.weight`, [D, M], b.mlp.W_in, (d) => transposeMatrix(d, D, M));
      w.into(`${p}.mlp.c_fc.bias`, [M], b.mlp.b_in!);
      w.into(`${p}.mlp.c_proj.weight`, [M, D], b.mlp.W_out, (d) => transposeMatrix(d, M, D));
      w.into(`${p}.mlp.c_proj.bias`, [D], b.mlp.b_out!);
    });
    w.into(`${pre}ln_f.weight`, [D], m.ln_final.w);
    w.into(`${pre}ln_f.bias`, [D], m.ln_final.b!);
    if (w.has('lm_head.weight')) {
      // GPT-2 ties its head to wte; a checkpoint whose head differs is a different model.
      const head = w.read('lm_head.weight', [V, D]), E = m.embed.W_E.f32();
      for (let i = 0; i < head.length; i++) {
        if (head[i] !== E[i]) throw new FormatError(dir, 'lm_head.weight', `lm_head.weight differs from wte.weight at element ${i}: untied GPT-2 heads are not supported`);
      }
    }
    // Buffers some exports keep (attn.bias / attn.masked_bias causal masks) carry no weights.
    const unused = w.names().filter((n) => !w.used.has(n) && !/\.attn\.(masked_)?bias$/.test(n));
    if (unused.length > 0) throw new FormatError(dir, 'tensors', `unexpected tensors for a GPT-2 model: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', …' : ''}`);
    return m.eval();
  } finally {
    w.close();
  }
}
