// The causal video VAE against a PyTorch float64 reference (scripts/fixtures/gen_videovae_fixtures.py:
// Conv3d on left-padded time, ConvTranspose3d per frame, channel-to-time shuffle): same weights,
// input and noise give the same μ, logits, loss and every parameter gradient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor, noGrad } from '../../src/core/tensor.js';
import { VideoVAE, type VideoVAEConfig } from '../../src/models/videovae.js';

interface Rec { shape: number[]; data: number[] }
const fx = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/videovae/videovae.json', import.meta.url)), 'utf8')) as {
  config: VideoVAEConfig; state: Record<string, Rec>; x: Rec; eps: Rec; mu: Rec; loss: number; recon: number; kl: number; grads: Record<string, Rec>;
};

function close(got: ArrayLike<number>, want: number[], what: string, tol = 2e-4): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol * Math.max(1, scale), `${what}[${i}]: ${got[i]} vs PyTorch ${want[i]}`);
}

test('VideoVAE forward, loss and gradients equal the PyTorch reference', () => {
  const m = new VideoVAE({ ...fx.config, seed: 0 });
  m.loadStateDict(new Map(Object.entries(fx.state).map(([k, r]) => [k, tensor(r.data, r.shape)])));
  const x = tensor(fx.x.data, fx.x.shape), eps = tensor(fx.eps.data, fx.eps.shape);
  const { mu } = noGrad(() => m.encode(x));
  close(mu.f32(), fx.mu.data, 'mu');
  const t = m.lossTerms(x, eps);
  assert.ok(Math.abs(t.loss.item() - fx.loss) < 1e-5, `loss ${t.loss.item()} vs ${fx.loss}`);
  assert.ok(Math.abs(t.recon.item() - fx.recon) < 1e-5);
  assert.ok(Math.abs(t.kl.item() - fx.kl) < 1e-5);
  t.loss.backward();
  const named = new Map(m.namedParameters());
  assert.deepEqual([...named.keys()].sort(), Object.keys(fx.grads).sort());
  for (const [k, g] of Object.entries(fx.grads)) close(named.get(k)!.grad!.f32(), g.data, `grad ${k}`, 1e-3);
});
