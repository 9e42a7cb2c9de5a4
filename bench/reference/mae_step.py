#!/usr/bin/env python3
"""Reference timings of a masked-autoencoder (MAE, He et al. 2022) training step in PyTorch (CPU).

Written from the paper's description, not from its repository: images are cut into p x p patches, each
patch is embedded by a linear map and given a fixed 2-D sin-cos position; a random subset of (1 - r) of
the patches per image (argsort of uniform noise) is kept and ONLY those tokens, with a class token, go
through the encoder (pre-LN transformer blocks, final LayerNorm). The decoder embeds the encoder output to
its own width, puts one shared learned mask token at every masked position (a gather with the inverse
permutation), adds its own sin-cos positions, runs its blocks and predicts the p*p*C pixels of every
patch; the loss is the mean squared error on the masked patches only. Mask ratio 0 runs the encoder on
every patch and takes the loss over all patches (the cost reference of an unmasked encoder).

Prints one JSON line: per mask ratio, the median step time (forward, backward, Adam), its median process
CPU time (all threads), images/s and encoder tokens/s, for the project's bench to run beside its own step and report the ratio.

usage: mae_step.py [--batch 128] [--image 32] [--channels 3] [--patch 4] [--dim 192] [--depth 6]
                   [--heads 3] [--decoder-dim 128] [--decoder-depth 2] [--decoder-heads 4]
                   [--ratios 0.75,0,0.5,0.9] [--threads 2] [--warmup 3] [--runs 9]
Environment for stable numbers: as in torch_sae_step.py's docstring.
"""
import argparse, json, math, os, statistics, time

import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=128)
p.add_argument("--image", type=int, default=32)
p.add_argument("--channels", type=int, default=3)
p.add_argument("--patch", type=int, default=4)
p.add_argument("--dim", type=int, default=192)
p.add_argument("--depth", type=int, default=6)
p.add_argument("--heads", type=int, default=3)
p.add_argument("--decoder-dim", type=int, default=128)
p.add_argument("--decoder-depth", type=int, default=2)
p.add_argument("--decoder-heads", type=int, default=4)
p.add_argument("--ratios", default="0.75,0,0.5,0.9")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--runs", type=int, default=9)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def sincos_2d(dim, gh, gw):
    """[gh*gw, dim]: the first half encodes the column, the second the row (1-D sin/cos each)."""
    def one(d, pos):
        om = 1.0 / (10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d // 2)))
        ang = pos[:, None].double() * om[None]
        return torch.cat([ang.sin(), ang.cos()], 1)
    ii, jj = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    return torch.cat([one(dim // 2, jj.reshape(-1)), one(dim // 2, ii.reshape(-1))], 1).float()


def block(dim, heads):
    return nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=0.0, activation="gelu",
                                      batch_first=True, norm_first=True)


class MAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.p, self.g = a.patch, a.image // a.patch
        self.n = self.g * self.g
        self.embed = nn.Linear(a.patch * a.patch * a.channels, a.dim)
        self.cls = nn.Parameter(torch.randn(1, 1, a.dim) * 0.02)
        self.register_buffer("pos", sincos_2d(a.dim, self.g, self.g))
        self.blocks = nn.ModuleList([block(a.dim, a.heads) for _ in range(a.depth)])
        self.norm = nn.LayerNorm(a.dim)
        self.dec_embed = nn.Linear(a.dim, a.decoder_dim)
        self.mask_token = nn.Parameter(torch.randn(1, 1, a.decoder_dim) * 0.02)
        self.register_buffer("dec_pos", sincos_2d(a.decoder_dim, self.g, self.g))
        self.dec_blocks = nn.ModuleList([block(a.decoder_dim, a.decoder_heads) for _ in range(a.decoder_depth)])
        self.dec_norm = nn.LayerNorm(a.decoder_dim)
        self.pred = nn.Linear(a.decoder_dim, a.patch * a.patch * a.channels)

    def patches(self, x):
        B, C, H, W = x.shape
        g, q = self.g, self.p
        return x.reshape(B, C, g, q, g, q).permute(0, 2, 4, 3, 5, 1).reshape(B, g * g, q * q * C)

    def loss(self, x, ratio):
        t = self.patches(x)
        B, N, P = t.shape
        h = self.embed(t) + self.pos
        if ratio > 0:
            k = int(N * (1 - ratio) + 1e-9)
            shuffle = torch.argsort(torch.rand(B, N), 1)
            restore = torch.argsort(shuffle, 1)
            keep = shuffle[:, :k]
            h = torch.gather(h, 1, keep[:, :, None].expand(-1, -1, h.shape[2]))
            mask = torch.ones(B, N)
            mask[:, :k] = 0
            mask = torch.gather(mask, 1, restore)
        else:
            k, restore, mask = N, None, torch.ones(B, N)
        h = torch.cat([self.cls.expand(B, -1, -1), h], 1)
        for b in self.blocks:
            h = b(h)
        y = self.dec_embed(self.norm(h))
        tok = y[:, 1:]
        if restore is not None:
            tok = torch.cat([tok, self.mask_token.expand(B, N - k, -1)], 1)
            tok = torch.gather(tok, 1, restore[:, :, None].expand(-1, -1, tok.shape[2]))
        d = torch.cat([y[:, :1], tok + self.dec_pos], 1)
        for b in self.dec_blocks:
            d = b(d)
        pred = self.pred(self.dec_norm(d))[:, 1:]
        per_patch = ((pred - t) ** 2).mean(-1)
        return (per_patch * mask).sum() / mask.sum()


x = torch.rand(a.batch, a.channels, a.image, a.image)
out = dict(impl="torch", version=torch.__version__, threads=a.threads, batch=a.batch, image=a.image,
           channels=a.channels, patch=a.patch, dim=a.dim, depth=a.depth, decoder_dim=a.decoder_dim,
           decoder_depth=a.decoder_depth, openblas_coretype=os.environ.get("OPENBLAS_CORETYPE", "(unset)"), ratios={})
for r in [float(s) for s in a.ratios.split(",")]:
    torch.manual_seed(1)
    model = MAE()
    opt = torch.optim.Adam(model.parameters(), lr=1.5e-4)

    def step():
        loss = model.loss(x, r)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    losses = [step() for _ in range(a.warmup)]
    ts, cpu = [], []
    for _ in range(a.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        losses.append(step())
        ts.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    ms = statistics.median(ts)
    n = model.n
    visible = n if r == 0 else int(n * (1 - r) + 1e-9)
    out["ratios"][str(r)] = dict(step_ms=round(ms, 2), cpu_ms=round(statistics.median(cpu), 1), images_per_s=round(a.batch / (ms / 1e3), 1),
                                 encoder_tokens=visible + 1, tokens_per_s=round(a.batch * n / (ms / 1e3)),
                                 first_loss=round(losses[0], 4), last_loss=round(losses[-1], 4),
                                 params=sum(q.numel() for q in model.parameters()))
print(json.dumps(out))
