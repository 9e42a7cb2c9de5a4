"""PyTorch reference for the TopK-family SAE training rules (TopK, BatchTopK, Matryoshka BatchTopK).

An independent implementation, written from the papers' formulas, used to check that aelab's
measured differences between architectures (docs/SAE.md) come from the rules and not from aelab:
  pre = (x - b_dec) W_enc + b_enc;  z = topk (per token) | batch topk (B*k over the batch) of relu(pre)
  loss = sum_j (x_hat - x)_j^2 averaged over tokens;  Matryoshka: sum of that loss over prefixes
  W_enc = W_dec^T at init, unit-norm decoder rows (parallel gradient removed, renormalised after
  each Adam step), b_dec = mean of 4096 rows, lr 2e-4 / sqrt(H / 16384), 2% warm-up, 20% linear decay,
  BatchTopK inference threshold = bias-corrected running mean (beta 0.99) of the smallest kept value.
No AuxK (nothing is dead within a short run's 10M-token window). Prints FVU, L0 and recovery.

  /usr/bin/python3 scripts/reference/torch_sae_train.py --data runs/toy --arch batchtopk --k 8
(--data: a folder from `aelab data superposition` with activations.npy and features.npy)
"""
import argparse
import os

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--arch', choices=['topk', 'batchtopk', 'matryoshka'], default='topk')
    ap.add_argument('--k', type=int, default=8)
    ap.add_argument('--latents', type=int, default=512)
    ap.add_argument('--tokens', type=int, default=3_000_000)
    ap.add_argument('--batch', type=int, default=2048)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)

    X = torch.from_numpy(np.load(os.path.join(a.data, 'activations.npy'))).float()
    N, d = X.shape
    nval = int(N * 0.05)
    Xtr, Xval = X[:N - nval], X[N - nval:]
    H, B, k = a.latents, a.batch, a.k
    steps = -(-a.tokens // B)
    lr = 2e-4 / np.sqrt(H / 16384)
    warm, decay = round(0.02 * steps), round(0.2 * steps)
    prefixes = [H // 8, H // 4, H // 2, H]

    Wd = torch.randn(H, d)
    Wd /= Wd.norm(dim=1, keepdim=True)
    Wd.requires_grad_()
    We = Wd.detach().clone().t().contiguous().requires_grad_()
    be = torch.zeros(H, requires_grad=True)
    bd = Xtr[:4096].mean(0).clone().requires_grad_()
    opt = torch.optim.Adam([We, Wd, be, bd], lr=lr)
    thr, count = None, 0

    def encode(x, train=True):
        acts = torch.relu((x - bd) @ We + be)
        if a.arch == 'topk':
            v, i = acts.topk(k, dim=1)
            return torch.zeros_like(acts).scatter(1, i, v)
        if train:
            v, i = acts.flatten().topk(k * x.shape[0])
            return torch.zeros_like(acts).flatten().scatter(0, i, v).view_as(acts)
        return acts * (acts > thr)

    g = torch.Generator().manual_seed(a.seed)
    for s in range(steps):
        f = min(1, (s + 1) / warm) if s < warm else (1 if s < steps - decay else (steps - s) / decay)
        for pg in opt.param_groups:
            pg['lr'] = lr * f
        x = Xtr[torch.randint(0, Xtr.shape[0], (B,), generator=g)]
        z = encode(x)
        if a.arch == 'matryoshka':
            loss = sum(((z[:, :m] @ Wd[:m] + bd - x) ** 2).sum(1).mean() for m in prefixes)
        else:
            loss = ((z @ Wd + bd - x) ** 2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            n = Wd / Wd.norm(dim=1, keepdim=True)
            Wd.grad -= (Wd.grad * n).sum(1, keepdim=True) * n
        opt.step()
        with torch.no_grad():
            Wd /= Wd.norm(dim=1, keepdim=True)
            if a.arch != 'topk':
                m = z[z > 0].min().item()
                e = thr * (1 - 0.99 ** count) if count else 0.0
                count += 1
                thr = (0.99 * e + 0.01 * m) / (1 - 0.99 ** count)

    with torch.no_grad():
        z = encode(Xval, train=False)
        xh = z @ Wd + bd
        fvu = ((xh - Xval) ** 2).sum() / ((Xval - Xval.mean(0)) ** 2).sum()
        F = torch.from_numpy(np.load(os.path.join(a.data, 'features.npy'))).float()
        F /= F.norm(dim=1, keepdim=True)
        best = (F @ (Wd / Wd.norm(dim=1, keepdim=True)).t()).max(1).values
        print(f'{a.arch} k={k}: FVU {fvu:.4f}  L0 {(z > 0).float().sum(1).mean():.2f}  '
              f'recovered {(best >= 0.9).float().mean() * 100:.1f}%  mean max cos {best.mean():.3f}')


if __name__ == '__main__':
    main()
