#!/usr/bin/python3
"""PyTorch reference for bench/lm.ts: the same decoder-only LMs written plainly in PyTorch (no fused
attention; torch 1.13 has none), measured the same way, one JSON line on stdout.

  torch_lm.py --threads N [--runs R] [--stories path/to/stories260K.bin] [--quick]

  train     default LM (gpt2 family: LayerNorm, learned positions, tanh-GELU, tied embeddings,
            4 layers, d 256, 8 heads, vocab 4096, ctx 256), batch 16 x 256, AdamW, tokens/s.
  harvest   torch.no_grad forward of batch 16 x 128 with a forward hook on the residual stream after
            block L//2 that copies the activation and stops the pass (raises), tokens/s; on the
            default LM and on stories260K's config (llama family, GQA, RoPE, SwiGLU; random weights of
            the checkpoint's shapes: speed does not depend on the values).
  generate  greedy decoding of 200 new tokens after a 16-token prompt, 1 sequence, own KV cache.
"""
import argparse
import json
import math
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Cfg:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def default_cfg():
    return Cfg(family='gpt2', vocab=4096, d=256, layers=4, heads=8, kv=8, dh=32, mlp=1024, ctx=256, eps=1e-5, theta=10000.0, tied=True)


def stories_cfg(path):
    with open(path, 'rb') as f:
        head = f.read(40)
    magic = struct.unpack('<I', head[:4])[0]
    if magic == 0x616b3432:
        dim, hidden, layers, heads, kv, vocab, ctx = struct.unpack('<7i', head[8:36])
        tied = head[36] == 1
    else:
        dim, hidden, layers, heads, kv, vocab, ctx = struct.unpack('<7i', head[:28])
        tied = vocab > 0
        vocab = abs(vocab)
    return Cfg(family='llama', vocab=vocab, d=dim, layers=layers, heads=heads, kv=kv, dh=dim // heads, mlp=hidden, ctx=ctx, eps=1e-5, theta=10000.0, tied=tied)


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rope_tables(ctx, dh, theta):
    inv = theta ** (-torch.arange(0, dh, 2, dtype=torch.float64) / dh)
    ang = torch.arange(ctx, dtype=torch.float64)[:, None] * inv[None, :]
    return ang.cos().float(), ang.sin().float()


def rotate(x, cos, sin):  # x [B, H, T, dh]; cos/sin [T, dh/2]
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        llama = c.family == 'llama'
        bias = not llama
        self.ln1 = RMSNorm(c.d, c.eps) if llama else nn.LayerNorm(c.d, eps=c.eps)
        self.ln2 = RMSNorm(c.d, c.eps) if llama else nn.LayerNorm(c.d, eps=c.eps)
        self.q = nn.Linear(c.d, c.heads * c.dh, bias=bias)
        self.k = nn.Linear(c.d, c.kv * c.dh, bias=bias)
        self.v = nn.Linear(c.d, c.kv * c.dh, bias=bias)
        self.o = nn.Linear(c.heads * c.dh, c.d, bias=bias)
        self.up = nn.Linear(c.d, c.mlp, bias=bias)
        self.gate = nn.Linear(c.d, c.mlp, bias=False) if llama else None
        self.down = nn.Linear(c.mlp, c.d, bias=bias)

    def forward(self, x, rope, cache, past):
        c = self.c
        B, T, _ = x.shape
        h = self.ln1(x)
        q = self.q(h).view(B, T, c.heads, c.dh).transpose(1, 2)
        k = self.k(h).view(B, T, c.kv, c.dh).transpose(1, 2)
        v = self.v(h).view(B, T, c.kv, c.dh).transpose(1, 2)
        if rope is not None:
            cos, sin = rope[0][past:past + T], rope[1][past:past + T]
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if cache is not None:
            cache[0][:, :, past:past + T] = k
            cache[1][:, :, past:past + T] = v
            k, v = cache[0][:, :, :past + T], cache[1][:, :, :past + T]
        if c.kv != c.heads:
            rep = c.heads // c.kv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        S = k.shape[2]
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(c.dh))
        if T > 1:
            mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
            att = att.masked_fill(~mask, float('-inf'))
        att = att.softmax(-1)
        z = (att @ v).transpose(1, 2).reshape(B, T, c.heads * c.dh)
        x = x + self.o(z)
        h = self.ln2(x)
        if self.gate is not None:
            m = F.silu(self.gate(h)) * self.up(h)
        else:
            m = F.gelu(self.up(h), approximate='tanh')
        return x + self.down(m)


class LM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.emb = nn.Embedding(c.vocab, c.d)
        self.pos = nn.Embedding(c.ctx, c.d) if c.family == 'gpt2' else None
        self.blocks = nn.ModuleList([Block(c) for _ in range(c.layers)])
        self.lnf = RMSNorm(c.d, c.eps) if c.family == 'llama' else nn.LayerNorm(c.d, eps=c.eps)
        self.unemb = None if c.tied else nn.Linear(c.d, c.vocab, bias=False)
        self.rope = rope_tables(c.ctx, c.dh, c.theta) if c.family == 'llama' else None
        for n, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, tok, cache=None, past=0):
        B, T = tok.shape
        x = self.emb(tok)
        if self.pos is not None:
            x = x + self.pos(torch.arange(past, past + T))[None]
        for i, b in enumerate(self.blocks):
            x = b(x, self.rope, None if cache is None else cache[i], past)
        x = self.lnf(x)
        return x @ self.emb.weight.t() if self.unemb is None else self.unemb(x)


class Stop(Exception):
    pass


def median(xs):
    return sorted(xs)[len(xs) // 2]


def bench_train(c, runs):
    torch.manual_seed(0)
    m = LM(c)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    B, T = 16, 256
    tok = (torch.arange(B * T) * 7 + torch.arange(B * T) % 13).remainder(c.vocab).view(B, T)

    def step():
        logits = m(tok)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, c.vocab), tok[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    step()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {'tokens_per_s': round(B * T / median(times)), 'step_ms': round(1000 * median(times), 1)}


def bench_harvest(c, runs, B=16, T=128):
    torch.manual_seed(0)
    m = LM(c).eval()
    layer = c.layers // 2
    rows = []

    def hook(mod, inp, out):
        rows.append(out.detach().reshape(-1, c.d).clone())
        raise Stop()

    m.blocks[layer].register_forward_hook(hook)
    tok = (torch.arange(B * T) * 7 + 3).remainder(c.vocab).view(B, T)

    def once():
        with torch.no_grad():
            try:
                m(tok)
            except Stop:
                pass
        rows.clear()

    once()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return {'tokens_per_s': round(B * T / median(times)), 'hook': f'blocks.{layer}.hook_resid_post', 'ms': round(1000 * median(times), 2)}


def bench_generate(c, runs, new=200, prompt=16):
    torch.manual_seed(0)
    m = LM(c).eval()
    p = (torch.arange(prompt) * 5 + 1).remainder(c.vocab).view(1, prompt)

    def gen():
        with torch.no_grad():
            cache = [(torch.zeros(1, c.kv, prompt + new, c.dh), torch.zeros(1, c.kv, prompt + new, c.dh)) for _ in range(c.layers)]
            logits = m(p, cache, 0)
            past = prompt
            out = []
            nxt = int(logits[0, -1].argmax())
            for i in range(new):
                out.append(nxt)
                if i == new - 1:
                    break
                logits = m(torch.tensor([[nxt]]), cache, past)
                past += 1
                nxt = int(logits[0, -1].argmax())
            return out

    gen()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        gen()
        times.append(time.perf_counter() - t0)
    return {'tokens_per_s': round(new / median(times), 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--stories', default='')
    ap.add_argument('--parts', default='train,harvest,generate')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    parts = a.parts.split(',')
    res = {'torch': torch.__version__, 'threads': torch.get_num_threads()}
    c = default_cfg()
    if 'train' in parts:
        res['train'] = bench_train(c, a.runs)
    if 'harvest' in parts:
        res['harvest_lm'] = bench_harvest(c, a.runs * 2)
        if a.stories:
            res['harvest_stories260k'] = bench_harvest(stories_cfg(a.stories), a.runs * 2)
    if 'generate' in parts:
        res['generate_lm'] = bench_generate(c, max(1, a.runs // 2))
        if a.stories:
            res['generate_stories260k'] = bench_generate(stories_cfg(a.stories), max(1, a.runs // 2))
    print(json.dumps(res))


if __name__ == '__main__':
    main()
