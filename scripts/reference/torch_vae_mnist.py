#!/usr/bin/env python3
"""PyTorch reference for `aelab experiment vae-mnist --torch`.

Trains the same MLP VAE as aelab's VAE (src/models/vae.ts) on the MNIST splits exported by
`aelab experiment export-mnist --out DIR` (train_x.npy, test_x.npy: float32 [n, 784] in [0, 1]):

  encoder   h = relu(Linear(784 -> h1) ... ) ; mu = Linear(h_last -> Z)(h) ; logvar = Linear(h_last -> Z)(h)
  decoder   Linear(Z -> h_last) relu ... Linear(h1 -> 784) -> Bernoulli logits
  loss      mean over the batch of [ sum_d BCEWithLogits(logits, x) + KL(N(mu, sigma^2) || N(0, I)) ]
  training  Adam(lr), batch size B, shuffled each epoch, last partial batch dropped, E epochs

and prints one JSON line with the held-out negative ELBO (one z sample per image) and the
importance-sampled NLL with K samples (log p(x) ~ logmeanexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)]),
both in nats per image. Written for torch 1.13; uses 2 threads by default.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class VAE(nn.Module):
    def __init__(self, d, hidden, z):
        super().__init__()
        enc, prev = [], d
        for h in hidden:
            enc += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        self.encoder = nn.Sequential(*enc)
        self.fc_mu = nn.Linear(prev, z)
        self.fc_logvar = nn.Linear(prev, z)
        dec, prev = [], z
        for h in reversed(hidden):
            dec += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        dec.append(nn.Linear(prev, d))
        self.decoder = nn.Sequential(*dec)

    def encode(self, x):
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def neg_elbo(self, x):
        """Per-sample -ELBO with one reparameterised sample."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").sum(1)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        return rec + kl

    @torch.no_grad()
    def is_nll(self, x, K, chunk=100):
        """Per-sample importance-sampled NLL with K samples from q(z|x)."""
        mu, logvar = self.encode(x)
        std = torch.exp(0.5 * logvar)
        logw = []
        for s in range(0, K, chunk):
            k = min(chunk, K - s)
            eps = torch.randn(k, *mu.shape)
            z = mu + std * eps  # [k, B, Z]
            logits = self.decoder(z.reshape(-1, z.shape[-1])).reshape(k, x.shape[0], -1)
            logpx = -F.binary_cross_entropy_with_logits(logits, x.expand(k, -1, -1), reduction="none").sum(-1)
            logpz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
            logqz = -0.5 * (eps.pow(2) + logvar + math.log(2 * math.pi)).sum(-1)
            logw.append(logpx + logpz - logqz)
        logw = torch.cat(logw, 0).double()
        return -(torch.logsumexp(logw, 0) - math.log(K))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder written by `aelab experiment export-mnist`")
    p.add_argument("--hidden", default="400")
    p.add_argument("--latent", type=int, default=20)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=int(os.environ.get("AELAB_TORCH_THREADS", "2")))
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    xtr = torch.from_numpy(np.load(os.path.join(a.data, "train_x.npy")).astype(np.float32))
    xte = torch.from_numpy(np.load(os.path.join(a.data, "test_x.npy")).astype(np.float32))
    hidden = [int(h) for h in a.hidden.split(",") if h]
    model = VAE(xtr.shape[1], hidden, a.latent)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    n, bs = xtr.shape[0], min(a.batch, xtr.shape[0])
    steps = max(1, n // bs)
    t0 = time.time()
    last = float("nan")
    for _ in range(a.epochs):
        perm = torch.randperm(n)
        total = 0.0
        for i in range(steps):
            xb = xtr[perm[i * bs:(i + 1) * bs]]
            loss = model.neg_elbo(xb).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        last = total / steps
    train_s = time.time() - t0
    model.eval()
    with torch.no_grad():
        elbo = torch.cat([model.neg_elbo(xte[i:i + 256]) for i in range(0, xte.shape[0], 256)]).mean().item()
        nll = torch.cat([model.is_nll(xte[i:i + 100], a.k) for i in range(0, xte.shape[0], 100)]).mean().item()
    print(json.dumps({"negElbo": elbo, "isNll": nll, "trainNegElboLastEpoch": last, "trainSeconds": train_s,
                      "torch": torch.__version__, "epochs": a.epochs, "hidden": hidden, "latent": a.latent, "K": a.k}))


if __name__ == "__main__":
    main()
