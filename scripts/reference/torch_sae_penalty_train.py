"""PyTorch reference for the penalty-based SAEs with aelab's default recipe (standard, JumpReLU, gated).

An independent implementation, written from the papers' formulas and docs/SAE.md "Defaults", used to
check that aelab trains these architectures as the recipe says (not a port of aelab's code):
  inputs       x~ = s x with s = sqrt(d) / mean ||x - mean(x)|| over the first 4096 training rows
  init         unit-norm random decoder rows; W_enc = c W_dec (c = 0.1; 1 for JumpReLU); b_enc = 0;
               b_dec = geometric median (Weiszfeld) of the 4096 normalised rows; gated r_mag = b_mag = 0;
               JumpReLU theta = 2
  standard     z = relu(pre); loss = sum_j (x^ - x~)_j^2 + lam_t sum_i z_i ||W_dec,i||  (lam = 3)
  jumprelu     z = pre [pre > theta]; loss = mse + 1 * sum_i H(pre_i - theta_i), rectangle-kernel STE
               of bandwidth 1 for theta (Rajamanoharan et al. 2024, "Jumping Ahead")
  gated        pi_gate = (x~ - b_dec) W_enc^T + b_gate; pi_mag = exp(r_mag) (x~ - b_dec) W_enc^T + b_mag;
               z = [pi_gate > 0] relu(pi_mag); loss = mse + lam_t sum_i relu(pi_gate)_i ||W_dec,i||
               + ||x~ - relu(pi_gate) sg(W_dec) - sg(b_dec)||^2  (lam = 6)
  (all averaged over tokens); lam_t ramps linearly over the first 5% of steps; Adam at
  lr = 1e-3 / sqrt(H / 16384), 2% warm-up, 20% linear decay; unit-norm decoder rows (parallel
  gradient removed, renormalised after each step); batches drawn uniformly from the first 90% of rows.
Prints held-out FVU (raw space, inference rule), L0, dead fraction and recovery against features.npy.

  /usr/bin/python3 scripts/reference/torch_sae_penalty_train.py --data D --arch gated --latents 768
(--data: a folder with activations.npy and features.npy, e.g. from
 `node scripts/sae-defaults-study.mjs --problems holdout-a --rows 60000 --dump D0`, then D = D0/holdout-a)
"""
import argparse
import math
import os

import numpy as np
import torch


def geometric_median(x, iters=100, eps=1e-8, tol=1e-7):
    y = x.mean(0)
    for _ in range(iters):
        w = 1.0 / (x - y).norm(dim=1).clamp_min(eps)
        y_new = (w[:, None] * x).sum(0) / w.sum()
        done = (y_new - y).norm() < tol * (1 + y_new.norm())
        y = y_new
        if done:
            break
    return y


class StepSTE(torch.autograd.Function):
    """H(pre - theta): no gradient to pre; d/dtheta = -(1/eps) K((pre - theta)/eps)."""

    @staticmethod
    def forward(ctx, pre, theta, eps):
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return (pre > theta).to(pre)

    @staticmethod
    def backward(ctx, g):
        pre, theta = ctx.saved_tensors
        k = ((pre - theta).abs() < ctx.eps / 2).to(pre)
        return None, (-(1.0 / ctx.eps) * k * g).sum(0), None


class JumpReLUSTE(torch.autograd.Function):
    """pre [pre > theta]: d/dpre = [pre > theta]; d/dtheta = -(theta/eps) K((pre - theta)/eps)."""

    @staticmethod
    def forward(ctx, pre, theta, eps):
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return pre * (pre > theta).to(pre)

    @staticmethod
    def backward(ctx, g):
        pre, theta = ctx.saved_tensors
        k = ((pre - theta).abs() < ctx.eps / 2).to(pre)
        return g * (pre > theta).to(pre), (-(theta / ctx.eps) * k * g).sum(0), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--arch', choices=['standard', 'jumprelu', 'gated'], default='standard')
    ap.add_argument('--latents', type=int, default=768)
    ap.add_argument('--tokens', type=int, default=300_000)
    ap.add_argument('--batch', type=int, default=1024)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    X = torch.from_numpy(np.load(os.path.join(a.data, 'activations.npy'))).float()
    F = torch.from_numpy(np.load(os.path.join(a.data, 'features.npy'))).float()
    N, d = X.shape
    ntr = int(N * 0.9)
    Xtr, Xval = X[:ntr], X[ntr:]
    H, B = a.latents, a.batch
    steps = math.ceil(a.tokens / B)
    warm, decay = min(1000, round(0.02 * steps)), round(0.2 * steps)
    lr = 5 * 2e-4 / math.sqrt(H / 16384)

    init = Xtr[:4096]
    s = math.sqrt(d) / (init - init.mean(0)).norm(dim=1).mean().item()
    W_dec = torch.randn(H, d)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    c = 1.0 if a.arch == 'jumprelu' else 0.1
    p = {
        'W_enc': (c * W_dec).clone().requires_grad_(True),
        'b_enc': torch.zeros(H, requires_grad=True),
        'W_dec': W_dec.clone().requires_grad_(True),
        'b_dec': geometric_median(init * s).clone().requires_grad_(True),
    }
    if a.arch == 'gated':
        p['r_mag'] = torch.zeros(H, requires_grad=True)
        p['b_mag'] = torch.zeros(H, requires_grad=True)
    if a.arch == 'jumprelu':
        p['log_theta'] = torch.full((H,), math.log(2.0), requires_grad=True)
    opt = torch.optim.Adam(list(p.values()), lr=lr)
    lam0 = {'standard': 3.0, 'gated': 6.0, 'jumprelu': 1.0}[a.arch]
    l1_warm = round(0.05 * steps) if a.arch != 'jumprelu' else 0

    def encode(xn, train):
        sae_in = xn - p['b_dec']
        g = sae_in @ p['W_enc'].T
        if a.arch == 'standard':
            pre = g + p['b_enc']
            return pre.relu(), pre
        if a.arch == 'gated':
            pre = g + p['b_enc']
            mag = g * p['r_mag'].exp() + p['b_mag']
            return (pre > 0).to(pre) * mag.relu(), pre
        pre = g + p['b_enc']
        return JumpReLUSTE.apply(pre, p['log_theta'].exp(), 1.0), pre

    for step in range(steps):
        f = 1.0
        if warm > 0 and step < warm:
            f = (step + 1) / warm
        if decay > 0 and step >= steps - decay:
            f = min(f, (steps - step) / decay)
        for gr in opt.param_groups:
            gr['lr'] = lr * f
        xn = Xtr[torch.randint(0, ntr, (B,))] * s
        z, pre = encode(xn, True)
        xhat = z @ p['W_dec'] + p['b_dec']
        loss = ((xhat - xn) ** 2).sum(-1).mean()
        lam = lam0 * (min(1.0, step / l1_warm) if l1_warm > 0 else 1.0)
        if a.arch == 'standard':
            loss = loss + lam * (z * p['W_dec'].norm(dim=1)).sum(-1).mean()
        elif a.arch == 'gated':
            gate = pre.relu()
            loss = loss + lam * (gate * p['W_dec'].norm(dim=1)).sum(-1).mean()
            loss = loss + ((gate @ p['W_dec'].detach() + p['b_dec'].detach() - xn) ** 2).sum(-1).mean()
        else:
            loss = loss + lam * StepSTE.apply(pre, p['log_theta'].exp(), 1.0).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            w, g = p['W_dec'], p['W_dec'].grad
            g -= ((g * w).sum(1, keepdim=True) / (w * w).sum(1, keepdim=True)) * w
        opt.step()
        with torch.no_grad():
            p['W_dec'] /= p['W_dec'].norm(dim=1, keepdim=True)

    with torch.no_grad():
        z, _ = encode(Xval * s, False)
        xhat = (z @ p['W_dec'] + p['b_dec']) / s
        fvu = ((Xval - xhat) ** 2).sum() / ((Xval - Xval.mean(0)) ** 2).sum()
        l0 = (z != 0).sum(1).float().mean()
        dead = ((z != 0).sum(0) == 0).float().mean()
        Wn = p['W_dec'] / p['W_dec'].norm(dim=1, keepdim=True)
        Fn = F / F.norm(dim=1, keepdim=True)
        best = (Fn @ Wn.T).max(1).values
    print(f'{a.arch}: FVU {fvu:.3f}, L0 {l0:.1f}, dead {100 * dead:.1f}%, mean max cos {best.mean():.3f}, '
          f'recovered {100 * (best >= 0.9).float().mean():.1f}%  ({steps} steps, lr {lr:.2e})')


if __name__ == '__main__':
    main()
