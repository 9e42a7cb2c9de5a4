#!/usr/bin/python3
"""Independent PyTorch reference for `aelab lm train` (src/lm/train.ts): the same GPT-style
decoder, initialisation, optimiser, schedule and clipping, trained on the SAME batches in the SAME
order, evaluated on the SAME windows.

Written from the architecture description in src/lm/transformer.ts / src/lm/train.ts (not from
aelab's code):
  x = W_E[tok] (+ W_pos[0..T-1] for learned positions)
  per block: h = LN1(x); q,k,v = h W_Q^T + b_Q, ...  (heads of width dh; rotary positions rotate
             q and k with HF's rotate_half layout, theta 10000); causal softmax(q k^T / sqrt(dh)) v;
             x += z W_O^T + b_O; h = LN2(x); x += W_out act(h) + b_out with act = GELU-tanh(h W_in^T + b_in)
             or silu(h W_gate^T) * (h W_in^T + b_in)
  logits = LN_f(x) W_E^T (tied unembedding, no bias)
  init: every matrix N(0, 0.02^2), W_O and W_out N(0, (0.02/sqrt(2L))^2), biases 0, norm weights 1
        (torch.manual_seed(seed): an independent draw), or `--init aelab` to start from aelab's
        exported initial weights (init.safetensors; then the runs differ only by float rounding).
  loss: mean next-token cross-entropy over the context targets of each window of context+1 ids
  AdamW(beta1, beta2, eps) with weight decay on the >= 2-D parameters only, the global gradient
  norm clipped, lr(s) = lr*(s+1)/warmup for s < warmup, then cosine from lr to minLrRatio*lr over
  the remaining steps (update s uses lr(s), s counted from 0).
  eval: at step 0, every evalInterval steps and at the last step, mean CE over the exported
  validation windows and training-eval windows.

Input: the folder written by `aelab lm train ... --export-batches DIR` (config.json,
train_batches.npy int32 [steps, batch, context+1], val_windows.npy, train_eval_windows.npy,
init.safetensors). Output: one JSON line
  {"evals": [{"step", "tokens", "trainLoss", "valLoss", "valPpl"}...], "tokensPerSecond", ...}
With --compare RUN/evals.jsonl (aelab's evaluations) the line also holds the relative differences
of val loss and perplexity at every common step, and the final ones.

Usage:
  /usr/bin/python3 scripts/reference/torch_lm_train.py --export DIR [--threads 1] [--init own|aelab]
      [--compare RUN/evals.jsonl]
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, 'rb') as fh:
        buf = fh.read()
    n = struct.unpack('<Q', buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    base = 8 + n
    out = {}
    dtypes = {'F32': np.float32, 'F16': np.float16, 'I32': np.int32}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        arr = np.frombuffer(buf[base + a:base + b], dtype=dtypes[info['dtype']]).reshape(info['shape'])
        out[name] = torch.tensor(arr.astype(np.float32))
    return out


class GPT(torch.nn.Module):
    """Parameters named and shaped as aelab's Transformer ([out, in] matrices)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D, H, dh, M, V, L = cfg['dModel'], cfg['nHeads'], cfg['dHead'], cfg['dMlp'], cfg['vocabSize'], cfg['nLayers']
        assert cfg['nKvHeads'] == H, 'reference: grouped-query attention not supported'
        assert cfg['norm'] == 'layernorm' and cfg['tiedEmbeddings'], 'reference: GPT-style config expected'
        self.p = torch.nn.ParameterDict()
        P = lambda *s: torch.nn.Parameter(torch.zeros(*s))
        self.names = []

        def add(name, *shape):
            self.p[name.replace('.', '__')] = P(*shape)
            self.names.append(name)

        add('embed.W_E', V, D)
        if cfg['positional'] == 'learned':
            add('pos_embed.W_pos', cfg['nCtx'], D)
        bias_a, bias_m = cfg['attnBias'], cfg['mlpBias']
        for l in range(L):
            b = f'blocks.{l}.'
            add(b + 'ln1.w', D); add(b + 'ln1.b', D)
            for w in 'QKV':
                add(b + f'attn.W_{w}', H * dh, D)
                if bias_a:
                    add(b + f'attn.b_{w}', H * dh)
            add(b + 'attn.W_O', D, H * dh)
            if bias_a:
                add(b + 'attn.b_O', D)
            add(b + 'ln2.w', D); add(b + 'ln2.b', D)
            add(b + 'mlp.W_in', M, D)
            if bias_m:
                add(b + 'mlp.b_in', M)
            if cfg['mlp'] == 'swiglu':
                add(b + 'mlp.W_gate', M, D)
            add(b + 'mlp.W_out', D, M)
            if bias_m:
                add(b + 'mlp.b_out', D)
        add('ln_final.w', D); add('ln_final.b', D)
        if cfg['positional'] == 'rotary':
            half = dh // 2
            inv = 1.0 / (cfg['ropeTheta'] ** (torch.arange(half, dtype=torch.float64) * 2 / dh))
            ang = torch.arange(cfg['nCtx'], dtype=torch.float64)[:, None] * inv[None, :]
            self.cos = torch.cat([ang.cos(), ang.cos()], -1).float()
            self.sin = torch.cat([ang.sin(), ang.sin()], -1).float()

    def w(self, name):
        return self.p[name.replace('.', '__')]

    def opt(self, name):
        k = name.replace('.', '__')
        return self.p[k] if k in self.p else None

    def init_own(self, seed):
        g = torch.Generator().manual_seed(seed)
        resid = 0.02 / math.sqrt(2 * self.cfg['nLayers'])
        with torch.no_grad():
            for n in self.names:
                t = self.w(n)
                if n.endswith('.w'):
                    t.fill_(1.0)
                elif n.split('.')[-1].startswith('b'):
                    t.zero_()
                else:
                    std = resid if n.endswith('W_O') or n.endswith('W_out') else 0.02
                    t.copy_(torch.randn(t.shape, generator=g) * std)

    def init_from(self, tensors):
        with torch.no_grad():
            for n in self.names:
                self.w(n).copy_(tensors[n])
        extra = set(tensors) - set(self.names)
        assert not extra, f'init.safetensors has tensors the model lacks: {sorted(extra)[:5]}'

    def rot(self, x):  # x [B, H, T, dh]
        T = x.shape[2]
        half = x.shape[-1] // 2
        rh = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * self.cos[:T] + rh * self.sin[:T]

    def forward(self, tok):  # tok [B, T] int64
        cfg = self.cfg
        B, T = tok.shape
        H, dh, eps = cfg['nHeads'], cfg['dHead'], cfg['normEps']
        x = self.w('embed.W_E')[tok]
        if cfg['positional'] == 'learned':
            x = x + self.w('pos_embed.W_pos')[:T][None]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        for l in range(cfg['nLayers']):
            b = f'blocks.{l}.'
            h = F.layer_norm(x, (x.shape[-1],), self.w(b + 'ln1.w'), self.w(b + 'ln1.b'), eps)
            q, k, v = (F.linear(h, self.w(b + f'attn.W_{c}'), self.opt(b + f'attn.b_{c}')).view(B, T, H, dh).transpose(1, 2) for c in 'QKV')
            if cfg['positional'] == 'rotary':
                q, k = self.rot(q), self.rot(k)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
            s = s.masked_fill(~causal, float('-inf'))
            z = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * dh)
            x = x + F.linear(z, self.w(b + 'attn.W_O'), self.opt(b + 'attn.b_O'))
            h = F.layer_norm(x, (x.shape[-1],), self.w(b + 'ln2.w'), self.w(b + 'ln2.b'), eps)
            up = F.linear(h, self.w(b + 'mlp.W_in'), self.opt(b + 'mlp.b_in'))
            if cfg['mlp'] == 'swiglu':
                a = F.silu(F.linear(h, self.w(b + 'mlp.W_gate'))) * up
            else:
                a = F.gelu(up, approximate='tanh')
            x = x + F.linear(a, self.w(b + 'mlp.W_out'), self.opt(b + 'mlp.b_out'))
        x = F.layer_norm(x, (x.shape[-1],), self.w('ln_final.w'), self.w('ln_final.b'), eps)
        return x @ self.w('embed.W_E').t()


def window_loss(model, w):  # w [B, context+1] int64
    logits = model(w[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))


def evaluate(model, windows, batch):
    total, n = 0.0, windows.shape[0]
    with torch.no_grad():
        for s in range(0, n, batch):
            w = windows[s:s + batch]
            total += window_loss(model, w).item() * w.shape[0]
    return total / n


def lr_at(s, c):
    lr, warm, total, lo = c['lr'], c['warmup'], c['steps'], c['lr'] * c['minLrRatio']
    if s < warm:
        return lr * min(1.0, (s + 1) / warm)
    span = total - warm
    if span <= 0:
        return lo
    t = min(s - warm, span) / span
    return lo + (lr - lo) * 0.5 * (1 + math.cos(math.pi * t))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--export', required=True, help='folder written by aelab lm train --export-batches')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--init', choices=['own', 'aelab'], default='own', help="own: independent N(0, 0.02) draw; aelab: the exported initial weights")
    ap.add_argument('--seed', type=int, default=None, help='seed of the own initialisation (default the config seed)')
    ap.add_argument('--compare', help="aelab's evals.jsonl to compare with")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    c = json.load(open(os.path.join(args.export, 'config.json')))
    cfg = c['model']
    batches = torch.from_numpy(np.load(os.path.join(args.export, 'train_batches.npy')).astype(np.int64))
    val = torch.from_numpy(np.load(os.path.join(args.export, 'val_windows.npy')).astype(np.int64))
    tr_eval = torch.from_numpy(np.load(os.path.join(args.export, 'train_eval_windows.npy')).astype(np.int64))
    steps, B, W = batches.shape
    assert steps == c['steps'] and B == c['batch'] and W == c['context'] + 1, 'batches do not match config.json'
    model = GPT(cfg)
    if args.init == 'aelab':
        model.init_from(read_safetensors(os.path.join(args.export, 'init.safetensors')))
    else:
        model.init_own(c['seed'] if args.seed is None else args.seed)
    decay = [model.w(n) for n in model.names if model.w(n).dim() >= 2]
    no_decay = [model.w(n) for n in model.names if model.w(n).dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': c['weightDecay']}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=c['lr'], betas=(c['beta1'], c['beta2']), eps=c['eps'])
    params = decay + no_decay
    evals = []
    tokens_per_step = B * c['context']

    def do_eval(step):
        evals.append({'step': step, 'tokens': step * tokens_per_step, 'valLoss': evaluate(model, val, B),
                      'trainLoss': evaluate(model, tr_eval, B)})
        evals[-1]['valPpl'] = math.exp(evals[-1]['valLoss'])
        print(f"step {step}/{steps} train {evals[-1]['trainLoss']:.4f} val {evals[-1]['valLoss']:.4f}", file=sys.stderr)

    do_eval(0)
    train_time = 0.0
    t_all = time.time()
    for s in range(steps):
        t0 = time.time()
        for g in opt.param_groups:
            g['lr'] = lr_at(s, c)
        opt.zero_grad(set_to_none=True)
        loss = window_loss(model, batches[s])
        loss.backward()
        if c['clipNorm'] > 0:
            torch.nn.utils.clip_grad_norm_(params, c['clipNorm'])
        opt.step()
        train_time += time.time() - t0
        done = s + 1
        if done % c['evalInterval'] == 0 or done == steps:
            do_eval(done)
    out = {
        'implementation': f'torch {torch.__version__}, {args.threads} thread(s), float32, CPU',
        'init': args.init, 'steps': steps, 'tokens': steps * tokens_per_step,
        'tokensPerSecond': steps * tokens_per_step / train_time, 'seconds': time.time() - t_all,
        'evals': evals, 'final': evals[-1],
    }
    if args.compare:
        theirs = {}
        with open(args.compare) as fh:
            for line in fh:
                if line.strip():
                    e = json.loads(line)
                    theirs[e['step']] = e
        rows = []
        for e in evals:
            a = theirs.get(e['step'])
            if a:
                rows.append({'step': e['step'], 'aelabVal': a['valLoss'], 'torchVal': e['valLoss'],
                             'valLossRelDiff': (a['valLoss'] - e['valLoss']) / e['valLoss'],
                             'valPplRelDiff': (a['valPpl'] - e['valPpl']) / e['valPpl']})
        out['comparison'] = rows
        if rows and rows[-1]['step'] == steps:
            out['finalValLossRelDiff'] = rows[-1]['valLossRelDiff']
            out['finalValPplRelDiff'] = rows[-1]['valPplRelDiff']
            out['within2pct'] = abs(rows[-1]['valLossRelDiff']) <= 0.02 and abs(rows[-1]['valPplRelDiff']) <= 0.02
    print(json.dumps(out))


if __name__ == '__main__':
    main()
