// Every model's loss terms and parameter gradients against PyTorch (torch 1.13) on small shapes.
// Fixtures come from scripts/fixtures/gen_models_fixtures.py, which rebuilds each model from
// torch.nn parts and writes the formulas out independently (torch.distributions for the
// likelihoods and KLs). aelab loads torch's initial weights and uses the same noise ε.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intTensor, scope } from '../../src/core/tensor.js';
import { setBackend } from '../../src/core/backend/index.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { DenoisingAutoEncoder } from '../../src/models/denoising.js';
import { StackedAutoEncoder } from '../../src/models/stacked.js';
import { VAE, type VAEConfig } from '../../src/models/vae.js';
import { ARDVAE } from '../../src/models/ardvae.js';
import { PrototypeNetwork } from '../../src/models/prototype.js';
import { StackVAEG } from '../../src/models/stackvaeg.js';
import { testBackends } from '../helpers/gradcheck.js';
import { checkGrads, close, loadFixture, stateDict, toTensor } from './util.js';

for (const b of testBackends()) {
  const tag = `[${b.name}]`;

  test(`MLP autoencoder and denoising loss match PyTorch ${tag}`, () => {
    setBackend(b);
    const fx = loadFixture('ae_mlp');
    const m = new DenoisingAutoEncoder({ arch: 'mlp', inputDim: 6, hidden: [5], latentDim: 3, corruption: { kind: 'gaussian', std: 0.3 } });
    m.loadStateDict(stateDict(fx.params));
    const x = toTensor(fx.x);
    scope(() => {
      const l = m.loss(x);
      close(l.data, fx.loss, 'ae loss');
      l.backward();
    });
    checkGrads(m, fx.grads, 'ae');
    scope(() => {
      const l = m.denoisingLoss(toTensor(fx.noisy), x);
      close(l.data, fx.denoisingLoss, 'denoising loss');
      l.backward();
    });
    checkGrads(m, fx.denoisingGrads, 'denoising');
  });

  test(`conv autoencoder (7×8, BCE on logits, output padding) matches PyTorch ${tag}`, () => {
    setBackend(b);
    const fx = loadFixture('ae_conv');
    const m = new AutoEncoder({ arch: 'conv', inChannels: 1, height: 7, width: 8, channels: [3, 4], latentDim: 5, loss: 'bce' });
    m.loadStateDict(stateDict(fx.params));
    const x = toTensor(fx.x);
    scope(() => {
      const out = m.forward(x);
      assert.deepEqual([...out.shape], fx.output.shape);
      close(out.data, fx.output.data, 'conv output');
      const l = m.loss(x);
      close(l.data, fx.loss, 'conv loss');
      l.backward();
    });
    checkGrads(m, fx.grads, 'conv ae');
  });

  test(`stacked autoencoder end-to-end loss, code and layer loss match PyTorch ${tag}`, () => {
    setBackend(b);
    const fx = loadFixture('stacked');
    const m = new StackedAutoEncoder({ sizes: [6, 4, 2] });
    m.loadStateDict(stateDict(fx.params));
    const x = toTensor(fx.x);
    scope(() => {
      close(m.encode(x).data, fx.code.data, 'code');
      const l = m.loss(x);
      close(l.data, fx.loss, 'stacked loss');
      l.backward();
    });
    checkGrads(m, fx.grads, 'stacked');
    const h1 = m.codesAt(1, { x: Float32Array.from(fx.x.data), n: 5, sampleShape: [6] });
    close([m.layerLoss(1, h1)], fx.layer1Loss, 'layer-1 reconstruction loss');
  });

  const vaeCases: [string, Partial<VAEConfig>][] = [
    ['vae_bernoulli', { decoder: 'bernoulli' }],
    ['vae_gaussian', { decoder: 'gaussian', sigma: 'learned' }],
    ['vae_gaussian_fixed', { decoder: 'gaussian', sigma: 0.5 }],
    ['ardvae', { decoder: 'gaussian', sigma: 'learned' }],
  ];
  for (const [name, extra] of vaeCases) {
    test(`${name}: loss terms, gradients, importance weights and IS-NLL match PyTorch ${tag}`, () => {
      setBackend(b);
      const fx = loadFixture(name);
      const cfg: VAEConfig = { inputDim: 6, hidden: [5], latentDim: 2, ...extra };
      const m = name === 'ardvae' ? new ARDVAE(cfg) : new VAE(cfg);
      m.loadStateDict(stateDict(fx.params));
      const x = toTensor(fx.x);
      scope(() => {
        const t = m.lossTerms(x, toTensor(fx.eps), fx.beta);
        close(t.loss.data, fx.loss, `${name} loss`);
        close(t.recon.data, fx.recon, `${name} recon`);
        close(t.kl.data, fx.kl, `${name} kl`);
        close(t.negElbo.data, fx.negElbo.data, `${name} per-sample −ELBO`);
        t.loss.backward();
      });
      checkGrads(m, fx.grads, name);
      const logw = scope(() => m.logImportanceWeights(x, toTensor(fx.epsK)));
      close(logw.data, fx.logw.data, `${name} log w`, 1e-4, 1e-4);
      close(m.importanceNll(x, toTensor(fx.epsK)), fx.isNll, `${name} IS-NLL`, 1e-4, 1e-4);
      // K = 1 with the training noise: IS-NLL is minus the single-sample Monte Carlo ELBO.
      const eps1 = toTensor({ shape: [1, ...fx.eps.shape], data: fx.eps.data });
      close(m.importanceNll(x, eps1), fx.mcElbo1.map((v: number) => -v), `${name} K=1 IS-NLL vs −MC-ELBO`, 1e-4, 1e-4);
    });
  }

  test(`prototype network: distances, logits, four loss terms and gradients match PyTorch ${tag}`, () => {
    setBackend(b);
    const fx = loadFixture('prototype');
    const m = new PrototypeNetwork({
      inChannels: 1, height: 7, width: 8, channels: [3, 4], numPrototypes: 4, numClasses: 3,
      lambdaRec: fx.lambdaRec, lambda1: fx.lambda1, lambda2: fx.lambda2,
    });
    m.loadStateDict(stateDict(fx.params));
    const x = toTensor(fx.x);
    scope(() => {
      const t = m.lossTerms(x, intTensor(fx.y));
      close(m.distances(m.encode(x)).data, fx.distances.data, 'distances', 1e-4, 1e-4);
      close(t.logits.data, fx.logits.data, 'logits', 1e-4, 1e-4);
      for (const k of ['ce', 'rec', 'r1', 'r2', 'loss'] as const) close(t[k].data, fx[k], `prototype ${k}`, 1e-5, 2e-4);
      t.loss.backward();
    });
    checkGrads(m, fx.grads, 'prototype', 2e-5, 1e-3);
  });

  for (const graph of ['softmax', 'sigmoid'] as const) {
    test(`StackVAE-G (${graph} graph, top-k): adjacency, loss and gradients match PyTorch ${tag}`, () => {
      setBackend(b);
      const fx = loadFixture(graph === 'softmax' ? 'stackvaeg' : 'stackvaeg_sigmoid');
      const m = new StackVAEG({ window: 6, channels: 4, hidden: fx.hidden, latentDim: fx.latentDim, embedDim: fx.embedDim, topK: fx.topK, graph });
      m.loadStateDict(stateDict(fx.params));
      scope(() => {
        close(m.adjacency().data, fx.adjacency.data, 'adjacency');
        const t = m.lossTerms(toTensor(fx.x), toTensor(fx.eps));
        close(t.recon.data, fx.recon, 'recon');
        close(t.kl.data, fx.kl, 'kl');
        close(t.loss.data, fx.loss, 'loss');
        t.loss.backward();
      });
      checkGrads(m, fx.grads, 'stackvaeg', 2e-5, 2e-4);
    });
  }
}
