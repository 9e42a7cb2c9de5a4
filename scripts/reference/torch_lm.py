#!/usr/bin/python3
"""Independent plain-PyTorch reference implementations of the decoder-only LMs that aelab's
TypeScript runtime (src/lm/) loads: GPT-2 (HF parameter names), Llama (HF parameter names,
rotate_half RoPE, GQA) and llama2.c's own model (interleaved RoPE), plus readers/writers for the
llama2.c checkpoint formats (legacy and version 1), a hand-written safetensors reader/writer and
the llama2.c tokenizer's decoder.

Written from the public architecture descriptions (GPT-2 paper / HF naming, Llama, llama2.c's
model.py, run.c and export.py); nothing here is copied from the transformers library.

Hooks (TransformerLens naming; recorded by `Hooks`, optionally replaced by an override function):
  hook_embed                 token embedding (GPT-2: before positions are added)
  hook_pos_embed             GPT-2 only: wpe[position_ids]
  blocks.{i}.hook_resid_pre  input of block i
  blocks.{i}.attn.hook_q     [B, T, n_heads, d_head]     after the q projection (+bias), BEFORE RoPE
  blocks.{i}.attn.hook_k     [B, T, n_kv_heads, d_head]  after the k projection, BEFORE RoPE
  blocks.{i}.attn.hook_v     [B, T, n_kv_heads, d_head]
  blocks.{i}.attn.hook_rot_q / hook_rot_k   Llama family only: after RoPE
  blocks.{i}.attn.hook_pattern [B, n_heads, T, T]  softmax probabilities (query, key)
  blocks.{i}.attn.hook_z     [B, T, n_heads, d_head]     pattern @ v, before the output projection
  blocks.{i}.hook_attn_out   output projection of z (GPT-2: incl. c_proj bias)
  blocks.{i}.hook_resid_mid  resid_pre + attn_out
  blocks.{i}.hook_mlp_out
  blocks.{i}.hook_resid_post resid_mid + mlp_out
  ln_final.hook_normalized   output of the final norm INCLUDING its weight (and bias for GPT-2),
                             i.e. exactly the input of the unembedding. (TransformerLens records it
                             before the weight; we deliberately do not.)

Attention mask convention (batched inputs with padding): a query at position q may attend key k
iff k <= q and (mask[k] == 1 or k == q). The "or k == q" only matters for padded query rows (a
left-padded query would otherwise have no visible key); it never changes a non-padded row.
Position ids, when a mask is given, are cumsum(mask) - 1 clamped at 0 (HF convention); without a
mask they are 0..T-1.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------------------------
# hooks, masks

class Hooks:
    """Records every hook value (after an optional override) in `self.store`."""

    def __init__(self, record=True, overrides=None):
        self.store = {} if record else None
        self.overrides = overrides or {}

    def __call__(self, name, x):
        if name in self.overrides:
            x = self.overrides[name](x)
        if self.store is not None:
            self.store[name] = x.detach().clone()
        return x


def _no_hooks(name, x):
    return x


def position_ids_from_mask(mask, T):
    if mask is None:
        return torch.arange(T)[None, :]
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def allowed_keys(mask, B, T):
    """bool [B, T(query), T(key)]"""
    causal = torch.ones(T, T, dtype=torch.bool).tril()[None].expand(B, T, T)
    if mask is None:
        return causal
    return (causal & mask.bool()[:, None, :]) | torch.eye(T, dtype=torch.bool)[None]


def attention(q, k, v, allowed, hook, i):
    """q [B, T, H, d], k/v [B, T, Hkv, d] (Hkv divides H; query head h uses kv head h // (H/Hkv)).
    Returns z [B, T, H, d]."""
    B, T, H, d = q.shape
    rep = H // k.shape[2]
    k = k.repeat_interleave(rep, dim=2)
    v = v.repeat_interleave(rep, dim=2)
    scores = torch.einsum('bqhd,bkhd->bhqk', q, k) / math.sqrt(d)
    scores = scores.masked_fill(~allowed[:, None], float('-inf'))
    pattern = hook(f'blocks.{i}.attn.hook_pattern', torch.softmax(scores, dim=-1))
    z = torch.einsum('bhqk,bkhd->bqhd', pattern, v)
    return hook(f'blocks.{i}.attn.hook_z', z)


# ----------------------------------------------------------------------------------------------
# GPT-2

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class Conv1D(nn.Module):
    """HF GPT-2 Conv1D: y = x W + b with W [in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return x @ self.weight + self.bias


class _GPT2Attn(nn.Module):
    def __init__(self, D):
        super().__init__()
        self.c_attn = Conv1D(D, 3 * D)
        self.c_proj = Conv1D(D, D)


class _GPT2MLP(nn.Module):
    def __init__(self, D, inner):
        super().__init__()
        self.c_fc = Conv1D(D, inner)
        self.c_proj = Conv1D(inner, D)


class _GPT2Block(nn.Module):
    def __init__(self, D, inner, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(D, eps=eps)
        self.attn = _GPT2Attn(D)
        self.ln_2 = nn.LayerNorm(D, eps=eps)
        self.mlp = _GPT2MLP(D, inner)


class GPT2(nn.Module):
    """state_dict keys are exactly HF's GPT2Model keys (wte.weight, h.0.attn.c_attn.weight, ...).
    The LM head is tied: logits = ln_f(h) @ wte.weight.T."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        V, D, L = cfg['vocab_size'], cfg['n_embd'], cfg['n_layer']
        self.n_head = cfg['n_head']
        inner = cfg.get('n_inner') or 4 * D
        eps = cfg.get('layer_norm_epsilon', 1e-5)
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(cfg['n_positions'], D)
        self.h = nn.ModuleList([_GPT2Block(D, inner, eps) for _ in range(L)])
        self.ln_f = nn.LayerNorm(D, eps=eps)

    def forward(self, tokens, attention_mask=None, hook=_no_hooks):
        B, T = tokens.shape
        D = self.wte.weight.shape[1]
        H = self.n_head
        d = D // H
        pos = position_ids_from_mask(attention_mask, T).expand(B, T)
        allowed = allowed_keys(attention_mask, B, T)
        tok = hook('hook_embed', self.wte.weight[tokens])
        pe = hook('hook_pos_embed', self.wpe.weight[pos])
        x = tok + pe
        for i, blk in enumerate(self.h):
            x = hook(f'blocks.{i}.hook_resid_pre', x)
            qkv = blk.attn.c_attn(blk.ln_1(x))
            q, k, v = qkv.split(D, dim=-1)
            q = hook(f'blocks.{i}.attn.hook_q', q.reshape(B, T, H, d))
            k = hook(f'blocks.{i}.attn.hook_k', k.reshape(B, T, H, d))
            v = hook(f'blocks.{i}.attn.hook_v', v.reshape(B, T, H, d))
            z = attention(q, k, v, allowed, hook, i)
            attn_out = hook(f'blocks.{i}.hook_attn_out', blk.attn.c_proj(z.reshape(B, T, D)))
            x = hook(f'blocks.{i}.hook_resid_mid', x + attn_out)
            mlp_out = blk.mlp.c_proj(gelu_new(blk.mlp.c_fc(blk.ln_2(x))))
            mlp_out = hook(f'blocks.{i}.hook_mlp_out', mlp_out)
            x = hook(f'blocks.{i}.hook_resid_post', x + mlp_out)
        x = hook('ln_final.hook_normalized', self.ln_f(x))
        return x @ self.wte.weight.T


# ----------------------------------------------------------------------------------------------
# Llama (HF) and llama2.c

def rms_norm(x, w, eps):
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


class RMSNorm(nn.Module):
    def __init__(self, D, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(D))
        self.eps = eps

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


def rope_angles(pos, d, theta, dtype):
    """pos [B, T] -> angles [B, T, d/2]: pos * theta^(-2i/d)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    return (pos.to(torch.float64)[..., None] * inv_freq).to(dtype)


def rope_rotate_half(x, ang):
    """HF convention. x [B, T, H, d]; pairs (j, j + d/2) rotated by ang[j]."""
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, :, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, :, None, :]
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], -1)
    return x * cos + rot * sin


def rope_interleaved(x, ang):
    """llama2.c convention. pairs (2j, 2j + 1) rotated by ang[j]."""
    cos = ang.cos()[:, :, None, :]
    sin = ang.sin()[:, :, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    return out.flatten(-2)


class _LlamaAttn(nn.Module):
    def __init__(self, D, H, Hkv):
        super().__init__()
        d = D // H
        self.q_proj = nn.Linear(D, H * d, bias=False)
        self.k_proj = nn.Linear(D, Hkv * d, bias=False)
        self.v_proj = nn.Linear(D, Hkv * d, bias=False)
        self.o_proj = nn.Linear(H * d, D, bias=False)


class _LlamaMLP(nn.Module):
    def __init__(self, D, inner):
        super().__init__()
        self.gate_proj = nn.Linear(D, inner, bias=False)
        self.up_proj = nn.Linear(D, inner, bias=False)
        self.down_proj = nn.Linear(inner, D, bias=False)


class _LlamaLayer(nn.Module):
    def __init__(self, D, H, Hkv, inner, eps):
        super().__init__()
        self.input_layernorm = RMSNorm(D, eps)
        self.self_attn = _LlamaAttn(D, H, Hkv)
        self.post_attention_layernorm = RMSNorm(D, eps)
        self.mlp = _LlamaMLP(D, inner)


class _LlamaModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg['hidden_size']
        self.embed_tokens = nn.Embedding(cfg['vocab_size'], D)
        self.layers = nn.ModuleList([
            _LlamaLayer(D, cfg['num_attention_heads'], cfg['num_key_value_heads'],
                        cfg['intermediate_size'], cfg['rms_norm_eps'])
            for _ in range(cfg['num_hidden_layers'])])
        self.norm = RMSNorm(D, cfg['rms_norm_eps'])


def _decoder_forward(tokens, attention_mask, hook, embed, layers, final_norm, unembed, H, Hkv, theta, rope):
    """Shared Llama-family forward. layers: list of dicts of callables/weights:
    attn_norm, wq, wk, wv, wo, ffn_norm, gate, up, down (weights in nn.Linear [out, in] layout)."""
    B, T = tokens.shape
    pos = position_ids_from_mask(attention_mask, T).expand(B, T)
    allowed = allowed_keys(attention_mask, B, T)
    x = hook('hook_embed', embed[tokens])
    for i, L in enumerate(layers):
        x = hook(f'blocks.{i}.hook_resid_pre', x)
        hn = L['attn_norm'](x)
        d = L['wq'].shape[0] // H
        q = hook(f'blocks.{i}.attn.hook_q', (hn @ L['wq'].T).reshape(B, T, H, d))
        k = hook(f'blocks.{i}.attn.hook_k', (hn @ L['wk'].T).reshape(B, T, Hkv, d))
        v = hook(f'blocks.{i}.attn.hook_v', (hn @ L['wv'].T).reshape(B, T, Hkv, d))
        ang = rope_angles(pos, d, theta, x.dtype)
        q = hook(f'blocks.{i}.attn.hook_rot_q', rope(q, ang))
        k = hook(f'blocks.{i}.attn.hook_rot_k', rope(k, ang))
        z = attention(q, k, v, allowed, hook, i)
        attn_out = hook(f'blocks.{i}.hook_attn_out', z.reshape(B, T, H * d) @ L['wo'].T)
        x = hook(f'blocks.{i}.hook_resid_mid', x + attn_out)
        hn = L['ffn_norm'](x)
        mlp_out = (F.silu(hn @ L['gate'].T) * (hn @ L['up'].T)) @ L['down'].T
        mlp_out = hook(f'blocks.{i}.hook_mlp_out', mlp_out)
        x = hook(f'blocks.{i}.hook_resid_post', x + mlp_out)
    x = hook('ln_final.hook_normalized', final_norm(x))
    return x @ unembed.T


class Llama(nn.Module):
    """state_dict keys are exactly HF LlamaForCausalLM's (model.embed_tokens.weight, ...,
    lm_head.weight; lm_head absent when tie_word_embeddings)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        self.model = _LlamaModel(cfg)
        self.tied = bool(cfg.get('tie_word_embeddings', False))
        if not self.tied:
            self.lm_head = nn.Linear(cfg['hidden_size'], cfg['vocab_size'], bias=False)

    def unembed_weight(self):
        return self.model.embed_tokens.weight if self.tied else self.lm_head.weight

    def forward(self, tokens, attention_mask=None, hook=_no_hooks):
        layers = [dict(attn_norm=l.input_layernorm, wq=l.self_attn.q_proj.weight,
                       wk=l.self_attn.k_proj.weight, wv=l.self_attn.v_proj.weight,
                       wo=l.self_attn.o_proj.weight, ffn_norm=l.post_attention_layernorm,
                       gate=l.mlp.gate_proj.weight, up=l.mlp.up_proj.weight, down=l.mlp.down_proj.weight)
                  for l in self.model.layers]
        return _decoder_forward(tokens, attention_mask, hook, self.model.embed_tokens.weight, layers,
                                self.model.norm, self.unembed_weight(), self.cfg['num_attention_heads'],
                                self.cfg['num_key_value_heads'], float(self.cfg.get('rope_theta', 10000.0)),
                                rope_rotate_half)


class _L2cAttn(nn.Module):
    def __init__(self, dim, H, Hkv):
        super().__init__()
        d = dim // H
        self.wq = nn.Linear(dim, H * d, bias=False)
        self.wk = nn.Linear(dim, Hkv * d, bias=False)
        self.wv = nn.Linear(dim, Hkv * d, bias=False)
        self.wo = nn.Linear(H * d, dim, bias=False)


class _L2cFF(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)


class _L2cLayer(nn.Module):
    def __init__(self, dim, H, Hkv, hidden, eps):
        super().__init__()
        self.attention = _L2cAttn(dim, H, Hkv)
        self.feed_forward = _L2cFF(dim, hidden)
        self.attention_norm = RMSNorm(dim, eps)
        self.ffn_norm = RMSNorm(dim, eps)


class Llama2c(nn.Module):
    """llama2.c's model.py Transformer (names tok_embeddings, layers.{i}.attention.wq, ...,
    norm, output). cfg: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq_len,
    shared_classifier. RoPE on interleaved pairs with theta 10000; RMSNorm eps 1e-5.
    FFN: w2(silu(w1 x) * w3 x)."""

    THETA = 10000.0
    EPS = 1e-5

    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        dim = cfg['dim']
        self.tok_embeddings = nn.Embedding(cfg['vocab_size'], dim)
        self.layers = nn.ModuleList([
            _L2cLayer(dim, cfg['n_heads'], cfg['n_kv_heads'], cfg['hidden_dim'], self.EPS)
            for _ in range(cfg['n_layers'])])
        self.norm = RMSNorm(dim, self.EPS)
        self.shared = bool(cfg['shared_classifier'])
        if not self.shared:
            self.output = nn.Linear(dim, cfg['vocab_size'], bias=False)

    def output_weight(self):
        return self.tok_embeddings.weight if self.shared else self.output.weight

    def forward(self, tokens, attention_mask=None, hook=_no_hooks):
        layers = [dict(attn_norm=l.attention_norm, wq=l.attention.wq.weight, wk=l.attention.wk.weight,
                       wv=l.attention.wv.weight, wo=l.attention.wo.weight, ffn_norm=l.ffn_norm,
                       gate=l.feed_forward.w1.weight, up=l.feed_forward.w3.weight,
                       down=l.feed_forward.w2.weight)
                  for l in self.layers]
        return _decoder_forward(tokens, attention_mask, hook, self.tok_embeddings.weight, layers, self.norm,
                                self.output_weight(), self.cfg['n_heads'], self.cfg['n_kv_heads'],
                                self.THETA, rope_interleaved)


def hf_permute(w, n_heads):
    """llama2.c/Meta interleaved-RoPE rows -> HF rotate_half rows (HF's conversion permutation):
    within each head, output row j (< d/2) is input row 2j, row d/2 + j is input row 2j + 1."""
    out_dim, in_dim = w.shape
    d = out_dim // n_heads
    return w.reshape(n_heads, d // 2, 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def llama2c_to_hf(m):
    """An HF-convention Llama equivalent to a Llama2c model (wq/wk rows permuted)."""
    c = m.cfg
    cfg = dict(model_type='llama', vocab_size=c['vocab_size'], hidden_size=c['dim'],
               intermediate_size=c['hidden_dim'], num_hidden_layers=c['n_layers'],
               num_attention_heads=c['n_heads'], num_key_value_heads=c['n_kv_heads'],
               max_position_embeddings=c['max_seq_len'], rms_norm_eps=Llama2c.EPS,
               rope_theta=Llama2c.THETA, tie_word_embeddings=m.shared)
    hf = Llama(cfg).to(m.tok_embeddings.weight.dtype)
    with torch.no_grad():
        hf.model.embed_tokens.weight.copy_(m.tok_embeddings.weight)
        hf.model.norm.weight.copy_(m.norm.weight)
        if not m.shared:
            hf.lm_head.weight.copy_(m.output.weight)
        for a, b in zip(m.layers, hf.model.layers):
            b.input_layernorm.weight.copy_(a.attention_norm.weight)
            b.post_attention_layernorm.weight.copy_(a.ffn_norm.weight)
            b.self_attn.q_proj.weight.copy_(hf_permute(a.attention.wq.weight, c['n_heads']))
            b.self_attn.k_proj.weight.copy_(hf_permute(a.attention.wk.weight, c['n_kv_heads']))
            b.self_attn.v_proj.weight.copy_(a.attention.wv.weight)
            b.self_attn.o_proj.weight.copy_(a.attention.wo.weight)
            b.mlp.gate_proj.weight.copy_(a.feed_forward.w1.weight)
            b.mlp.up_proj.weight.copy_(a.feed_forward.w3.weight)
            b.mlp.down_proj.weight.copy_(a.feed_forward.w2.weight)
    return hf


# ----------------------------------------------------------------------------------------------
# llama2.c checkpoint formats

def _f32(t):
    return np.ascontiguousarray(t.detach().to(torch.float32).cpu().numpy(), dtype='<f4').tobytes()


def _stack(m, get):
    return torch.stack([get(l) for l in m.layers])


def write_llama2c_legacy(path, m):
    """llama2.c export.py legacy_export: 7 x int32 header (vocab_size negative when the classifier is
    not shared), then f32 weights, RoPE tables freq_cis_real/imag [seq_len, head_size/2], then wcls
    only when not shared."""
    c = m.cfg
    hs = c['dim'] // c['n_heads']
    vocab = c['vocab_size'] if m.shared else -c['vocab_size']
    ang = rope_angles(torch.arange(c['max_seq_len'])[None], hs, Llama2c.THETA, torch.float32)[0]
    parts = [struct.pack('<7i', c['dim'], c['hidden_dim'], c['n_layers'], c['n_heads'], c['n_kv_heads'],
                         vocab, c['max_seq_len']),
             _f32(m.tok_embeddings.weight),
             _f32(_stack(m, lambda l: l.attention_norm.weight)),
             _f32(_stack(m, lambda l: l.attention.wq.weight)),
             _f32(_stack(m, lambda l: l.attention.wk.weight)),
             _f32(_stack(m, lambda l: l.attention.wv.weight)),
             _f32(_stack(m, lambda l: l.attention.wo.weight)),
             _f32(_stack(m, lambda l: l.ffn_norm.weight)),
             _f32(_stack(m, lambda l: l.feed_forward.w1.weight)),
             _f32(_stack(m, lambda l: l.feed_forward.w2.weight)),
             _f32(_stack(m, lambda l: l.feed_forward.w3.weight)),
             _f32(m.norm.weight),
             _f32(ang.cos()), _f32(ang.sin())]
    if not m.shared:
        parts.append(_f32(m.output.weight))
    with open(path, 'wb') as f:
        f.write(b''.join(parts))


V1_MAGIC = 0x616b3432  # "ak42" as a number; little-endian bytes on disk are b"24ka"


def write_llama2c_v1(path, m):
    """llama2.c export.py version1_export: uint32 magic 0x616b3432, int32 version 1, 7 x int32
    (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (always positive), max_seq_len),
    uint8 shared_classifier, zero padding to 256 bytes; then f32 weights: all attention_norm, all
    ffn_norm, norm, tok_embeddings, all wq, wk, wv, wo, w1, w2, w3, then output if not shared."""
    c = m.cfg
    hdr = struct.pack('<Ii7iB', V1_MAGIC, 1, c['dim'], c['hidden_dim'], c['n_layers'], c['n_heads'],
                      c['n_kv_heads'], c['vocab_size'], c['max_seq_len'], int(m.shared))
    hdr += b'\0' * (256 - len(hdr))
    parts = [hdr,
             _f32(_stack(m, lambda l: l.attention_norm.weight)),
             _f32(_stack(m, lambda l: l.ffn_norm.weight)),
             _f32(m.norm.weight),
             _f32(m.tok_embeddings.weight)]
    for get in (lambda l: l.attention.wq.weight, lambda l: l.attention.wk.weight,
                lambda l: l.attention.wv.weight, lambda l: l.attention.wo.weight,
                lambda l: l.feed_forward.w1.weight, lambda l: l.feed_forward.w2.weight,
                lambda l: l.feed_forward.w3.weight):
        parts.append(_f32(_stack(m, get)))
    if not m.shared:
        parts.append(_f32(m.output.weight))
    with open(path, 'wb') as f:
        f.write(b''.join(parts))


def read_llama2c(path):
    """Reads either format (v1 detected by its magic). Returns (Llama2c float32, info dict)."""
    with open(path, 'rb') as f:
        buf = f.read()
    magic = struct.unpack_from('<I', buf, 0)[0]
    if magic == V1_MAGIC:
        version = struct.unpack_from('<i', buf, 4)[0]
        assert version == 1, version
        dim, hidden, L, H, Hkv, V, S = struct.unpack_from('<7i', buf, 8)
        shared = bool(buf[36])
        off = 256
    else:
        version = 0
        dim, hidden, L, H, Hkv, V, S = struct.unpack_from('<7i', buf, 0)
        shared = V > 0
        V = abs(V)
        off = 28
    hs = dim // H
    kv = hs * Hkv
    cfg = dict(dim=dim, hidden_dim=hidden, n_layers=L, n_heads=H, n_kv_heads=Hkv, vocab_size=V,
               max_seq_len=S, shared_classifier=shared)
    m = Llama2c(cfg)
    pos = [off]

    def take(*shape):
        n = int(np.prod(shape))
        a = np.frombuffer(buf, dtype='<f4', count=n, offset=pos[0]).reshape(shape)
        pos[0] += 4 * n
        return torch.from_numpy(a.copy())

    w = {}
    if version == 0:
        w['emb'] = take(V, dim)
        w['att_norm'] = take(L, dim)
        w['wq'] = take(L, dim, dim)
        w['wk'] = take(L, kv, dim)
        w['wv'] = take(L, kv, dim)
        w['wo'] = take(L, dim, dim)
        w['ffn_norm'] = take(L, dim)
        w['w1'] = take(L, hidden, dim)
        w['w2'] = take(L, dim, hidden)
        w['w3'] = take(L, hidden, dim)
        w['norm'] = take(dim)
        take(S, hs // 2)  # freq_cis_real (unused)
        take(S, hs // 2)  # freq_cis_imag (unused)
    else:
        w['att_norm'] = take(L, dim)
        w['ffn_norm'] = take(L, dim)
        w['norm'] = take(dim)
        w['emb'] = take(V, dim)
        w['wq'] = take(L, dim, dim)
        w['wk'] = take(L, kv, dim)
        w['wv'] = take(L, kv, dim)
        w['wo'] = take(L, dim, dim)
        w['w1'] = take(L, hidden, dim)
        w['w2'] = take(L, dim, hidden)
        w['w3'] = take(L, hidden, dim)
    if not shared:
        w['out'] = take(V, dim)
    assert pos[0] == len(buf), (pos[0], len(buf))
    with torch.no_grad():
        m.tok_embeddings.weight.copy_(w['emb'])
        m.norm.weight.copy_(w['norm'])
        if not shared:
            m.output.weight.copy_(w['out'])
        for i, l in enumerate(m.layers):
            l.attention_norm.weight.copy_(w['att_norm'][i])
            l.ffn_norm.weight.copy_(w['ffn_norm'][i])
            l.attention.wq.weight.copy_(w['wq'][i])
            l.attention.wk.weight.copy_(w['wk'][i])
            l.attention.wv.weight.copy_(w['wv'][i])
            l.attention.wo.weight.copy_(w['wo'][i])
            l.feed_forward.w1.weight.copy_(w['w1'][i])
            l.feed_forward.w2.weight.copy_(w['w2'][i])
            l.feed_forward.w3.weight.copy_(w['w3'][i])
    return m, dict(version=version, **cfg)


class Llama2cTokenizer:
    """llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32 len, bytes."""

    def __init__(self, path, vocab_size):
        with open(path, 'rb') as f:
            buf = f.read()
        self.max_token_length = struct.unpack_from('<i', buf, 0)[0]
        off = 4
        self.pieces, self.scores = [], []
        for _ in range(vocab_size):
            score, n = struct.unpack_from('<fi', buf, off)
            off += 8
            self.pieces.append(buf[off:off + n])
            self.scores.append(score)
            off += n

    def piece_bytes(self, prev, tok):
        p = self.pieces[tok]
        if prev == 1 and p.startswith(b' '):
            p = p[1:]
        if len(p) == 6 and p.startswith(b'<0x') and p.endswith(b'>'):
            try:
                return bytes([int(p[3:5], 16)])
            except ValueError:
                pass
        return p

    def decode(self, tokens, prev=None):
        out = b''
        for t in tokens:
            out += self.piece_bytes(prev, t)
            prev = t
        return out.decode('utf-8', errors='replace')


# ----------------------------------------------------------------------------------------------
# safetensors (by hand) and dtype rounding

def f32_to_bf16_bits(a):
    """float32 -> bf16 bit patterns, round to nearest even (finite inputs)."""
    u = np.ascontiguousarray(a, dtype='<f4').view('<u4').astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype('<u2')


def bf16_bits_to_f32(b):
    return (b.astype('<u4') << 16).view('<f4')


def round_to(a, dtype):
    """float32 array -> the float32 values a loader sees after storing in `dtype` (F32/F16/BF16)."""
    a = np.asarray(a, dtype='<f4')
    if dtype == 'F32':
        return a.copy()
    if dtype == 'F16':
        return a.astype('<f2').astype('<f4')
    if dtype == 'BF16':
        return bf16_bits_to_f32(f32_to_bf16_bits(a))
    raise ValueError(dtype)


def _raw(a, dtype):
    a = np.asarray(a, dtype='<f4')
    if dtype == 'F32':
        return a.tobytes()
    if dtype == 'F16':
        return a.astype('<f2').tobytes()
    if dtype == 'BF16':
        return f32_to_bf16_bits(a).tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype='F32', metadata=None):
    """tensors: dict name -> float32 numpy array; all stored as `dtype`. Keys sorted; data in
    sorted-key order; header padded with spaces to a multiple of 8 bytes."""
    header = {}
    if metadata is not None:
        header['__metadata__'] = metadata
    blobs, off = [], 0
    for name in sorted(tensors):
        raw = _raw(tensors[name], dtype)
        header[name] = {'dtype': dtype, 'shape': list(np.shape(tensors[name])),
                        'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, sort_keys=True, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def read_safetensors(path):
    """-> dict name -> float32 numpy array (F32/F16/BF16 only)."""
    with open(path, 'rb') as f:
        buf = f.read()
    n = struct.unpack_from('<Q', buf, 0)[0]
    header = json.loads(buf[8:8 + n].decode('utf-8'))
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        a, b = e['data_offsets']
        raw = buf[8 + n + a:8 + n + b]
        if e['dtype'] == 'F32':
            arr = np.frombuffer(raw, dtype='<f4')
        elif e['dtype'] == 'F16':
            arr = np.frombuffer(raw, dtype='<f2').astype('<f4')
        elif e['dtype'] == 'BF16':
            arr = bf16_bits_to_f32(np.frombuffer(raw, dtype='<u2'))
        else:
            raise ValueError(e['dtype'])
        out[name] = arr.reshape(e['shape']).copy()
    return out


def load_state(module, arrays, rename=None):
    """Copies float32 arrays into module's parameters (names via rename(name) -> key)."""
    sd = module.state_dict()
    with torch.no_grad():
        for k, t in sd.items():
            src = arrays[rename(k) if rename else k]
            t.copy_(torch.from_numpy(np.asarray(src)).to(t.dtype))
