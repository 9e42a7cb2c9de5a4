#!/usr/bin/env python3
"""Reference timings of a causal video VAE training step in PyTorch (CPU), the model of aelab's
src/models/videovae.ts written from its description (Step-Video / MAGVIT-v2 style causal 3-D convs).

Videos x [B, C, T, H, W]. A causal conv3d pads kt-1 zero frames on the left in time (and p pixels on
each side in space) and runs Conv3d, so output frame t reads input frames <= t*stride. Encoder:
conv_in (kt x 3 x 3), S stride-2 stages (temporal stride 2 in the last log2(4) = 2 of them), a 1x1x1
head to (mu, logvar). Decoder: conv_in, then per stage: where the encoder halved time, a causal conv to
2C channels and a channel-to-time shuffle (latent frame 0 -> frame 0; latent frame j -> frames 2j-1,
2j), then a per-frame 4x4 stride-2 transposed conv; conv_out (kt x 3 x 3) -> logits. ReLU between.
Loss per video: [sum BCE-with-logits + beta * KL] / (T*C*H*W), averaged over the batch. Adam.

Prints one JSON line (median step time over --runs after --warmup, videos/s) for bench/main.ts.

usage: videovae_step.py [--batch 8] [--frames 9] [--size 32] [--widths 8,16,32,32] [--latent 6]
                        [--threads 2] [--warmup 2] [--runs 7]
"""
import argparse, json, math, statistics, time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=8)
p.add_argument("--frames", type=int, default=9)
p.add_argument("--size", type=int, default=32)
p.add_argument("--widths", default="8,16,32,32")
p.add_argument("--latent", type=int, default=6)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--runs", type=int, default=7)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


class CausalConv3d(nn.Module):
    def __init__(self, cin, cout, kt, k, tstride=1, sstride=1, pad=0):
        super().__init__()
        self.kt, self.pad = kt, pad
        self.conv = nn.Conv3d(cin, cout, (kt, k, k), stride=(tstride, sstride, sstride))

    def forward(self, x):
        return self.conv(F.pad(x, (self.pad, self.pad, self.pad, self.pad, self.kt - 1, 0)))


def time_shuffle_up(x):
    B, C2, T, H, W = x.shape
    C = C2 // 2
    y = x.view(B, 2, C, T, H, W).permute(0, 2, 3, 1, 4, 5).reshape(B, C, 2 * T, H, W)
    return torch.cat([y[:, :, :1], y[:, :, 2:]], 2)


class VideoVAE(nn.Module):
    def __init__(self, widths, Z, C=1, kt=3, nT=2):
        super().__init__()
        S = len(widths) - 1
        self.halves = [s >= S - nT for s in range(S)]
        self.enc_in = CausalConv3d(C, widths[0], kt, 3, pad=1)
        self.down = nn.ModuleList([CausalConv3d(widths[s], widths[s + 1], kt, 3, 2 if self.halves[s] else 1, 2, 1) for s in range(S)])
        self.head = CausalConv3d(widths[S], 2 * Z, 1, 1)
        self.dec_in = CausalConv3d(Z, widths[S], kt, 3, pad=1)
        self.time = nn.ModuleList()
        self.up = nn.ModuleList()
        for k in range(S):
            s = S - 1 - k
            self.time.append(CausalConv3d(widths[s + 1], 2 * widths[s + 1], kt, 3, pad=1) if self.halves[s] else nn.Identity())
            self.up.append(nn.ConvTranspose3d(widths[s + 1], widths[s], (1, 4, 4), stride=(1, 2, 2), padding=(0, 1, 1)))
        self.up_halves = [self.halves[S - 1 - k] for k in range(S)]
        self.dec_out = CausalConv3d(widths[0], C, kt, 3, pad=1)
        self.Z = Z

    def forward(self, x, eps, beta):
        h = F.relu(self.enc_in(x))
        for d in self.down:
            h = F.relu(d(h))
        o = self.head(h)
        mu, logvar = o[:, : self.Z], o[:, self.Z:]
        z = mu + torch.exp(0.5 * logvar) * eps
        h = F.relu(self.dec_in(z))
        for t, u, half in zip(self.time, self.up, self.up_halves):
            if half:
                h = F.relu(time_shuffle_up(t(h)))
            h = F.relu(u(h))
        logits = self.dec_out(h)
        B = x.shape[0]
        D = x[0].numel()
        recon = F.binary_cross_entropy_with_logits(logits, x)
        kl = (-0.5 * (1 + logvar - mu * mu - logvar.exp()).reshape(B, -1).sum(1)).mean() / D
        return recon + beta * kl


widths = [int(w) for w in a.widths.split(",")]
model = VideoVAE(widths, a.latent)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
B, T, S = a.batch, a.frames, a.size
x = torch.rand(B, 1, T, S, S)
sd = 2 ** (len(widths) - 1)
lat = (B, a.latent, (T - 1) // 4 + 1, S // sd, S // sd)


def step():
    eps = torch.randn(lat)
    loss = model(x, eps, 0.1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


losses = [step() for _ in range(a.warmup)]
ts = []
for _ in range(a.runs):
    t0 = time.perf_counter()
    losses.append(step())
    ts.append((time.perf_counter() - t0) * 1000)
ms = statistics.median(ts)
print(json.dumps({
    "impl": "torch", "torch": torch.__version__, "threads": torch.get_num_threads(), "batch": B, "frames": T, "size": S,
    "widths": widths, "params": sum(p.numel() for p in model.parameters()), "step_ms": round(ms, 2),
    "videos_per_s": round(B / (ms / 1000), 2), "first_loss": round(losses[0], 4), "last_loss": round(losses[-1], 4),
}))
