// cMIM (src/models/cmim.ts): the loss against an independent float64 re-implementation of the
// formulas in the file comment (A-MIM, mixture MIM, the contrastive InfoNCE term), its gradients
// against central finite differences, informative embeddings, training and save/load.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBuffer, noGrad, tensor, type Tensor } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { CMIM, type CMIMConfig, type CMIMNoise } from '../../src/models/cmim.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { loadMnist } from '../../src/data/mnist.js';
import { train } from '../../src/train/fit.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { close } from './util.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-cmim-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const LOG_2PI = Math.log(2 * Math.PI);
type Mat = number[][];
const rows = (t: Tensor): Mat => {
  const [r, c] = t.shape as [number, number];
  return Array.from({ length: r }, (_, i) => Array.from(t.data.slice(i * c, (i + 1) * c)));
};
/** y = x Wᵀ + b, W [out, in], in float64. */
const lin = (x: Mat, W: Tensor, b: Tensor): Mat => {
  const w = rows(W);
  return x.map((r) => w.map((wr, o) => wr.reduce((s, v, j) => s + v * r[j]!, b.data[o]!)));
};
const tanhM = (x: Mat) => x.map((r) => r.map(Math.tanh));
const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** The model's maths re-done from its weights (one hidden layer, tanh). */
function reference(m: CMIM, X: Mat, n: CMIMNoise): number {
  const c = m.config;
  const [e0] = m.encoder.layers as unknown as [{ weight: Tensor; bias: Tensor }];
  const [d0] = m.decoder.layers as unknown as [{ weight: Tensor; bias: Tensor }];
  const floor = c.minLogvar ?? -6, softplus = (v: number) => Math.log1p(Math.exp(v));
  const enc = (x: Mat) => {
    const h = tanhM(lin(x, e0.weight, e0.bias));
    return { mu: lin(h, m.fcMu.weight, m.fcMu.bias!), lv: lin(h, m.fcLogvar.weight, m.fcLogvar.bias!).map((r) => r.map((v) => floor + softplus(v - floor))) };
  };
  const dec = (z: Mat) => lin(tanhM(lin(z, d0.weight, d0.bias)), m.decoderOut.weight, m.decoderOut.bias!);
  const perSample = (x: number[], l: number[], z: number[], mu: number[], lv: number[]) => {
    let logPx = 0, logPz = 0, logQ = 0;
    x.forEach((xd, d) => { logPx += xd * Math.log(sig(l[d]!)) + (1 - xd) * Math.log(1 - sig(l[d]!)); });
    z.forEach((zj, j) => { logPz -= 0.5 * (zj * zj + LOG_2PI); logQ -= 0.5 * (LOG_2PI + lv[j]! + (zj - mu[j]!) ** 2 / Math.exp(lv[j]!)); });
    return -0.5 * (logPx + logPz + logQ);
  };
  const { mu, lv } = enc(X);
  const eps = rows(n.eps);
  const Z = mu.map((r, i) => r.map((v, j) => v + Math.exp(0.5 * lv[i]![j]!) * eps[i]![j]!));
  const L = dec(Z);
  let mim = X.reduce((s, x, i) => s + perSample(x, L[i]!, Z[i]!, mu[i]!, lv[i]!), 0) / X.length;
  if (c.objective === 'mim') {
    const zp = rows(n.zPrior!), u = rows(n.uniform!);
    const Lp = dec(zp);
    const xd = u.map((r, i) => r.map((v, d) => (v < sig(Lp[i]![d]!) ? 1 : 0)));
    const q = enc(xd);
    const decTerm = xd.reduce((s, x, i) => s + perSample(x, Lp[i]!, zp[i]!, q.mu[i]!, q.lv[i]!), 0) / xd.length;
    mim = 0.5 * (mim + decTerm);
  }
  const lambda = c.contrastiveWeight ?? 1;
  if (!lambda) return mim;
  const zHat = enc(L.map((r) => r.map(sig))).mu;
  const unit = (v: number[]) => { const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0)); return v.map((x) => x / s); };
  const A = mu.map(unit), P = zHat.map(unit), tau = c.temperature ?? 0.1;
  let nce = 0;
  A.forEach((a, i) => {
    const s = P.map((p) => p.reduce((acc, v, j) => acc + v * a[j]!, 0) / tau);
    const mx = Math.max(...s);
    nce -= s[i]! - mx - Math.log(s.reduce((acc, v) => acc + Math.exp(v - mx), 0));
  });
  return mim + lambda * nce / X.length;
}

function small(objective: 'a-mim' | 'mim', contrastiveWeight = 0.7): { m: CMIM; x: Tensor; noise: CMIMNoise } {
  // minLogvar −1 puts some log σ² near the floor, where the softplus bends.
  const cfg: CMIMConfig = { inputDim: 6, hidden: [5], latentDim: 3, activation: 'tanh', objective, contrastiveWeight, temperature: 0.5, minLogvar: -1, seed: 3 };
  const m = new CMIM(cfg);
  const g = new Generator(11);
  const x = fromBuffer(g.uniform(new Float32Array(4 * 6)), [4, 6]);
  return { m, x, noise: m.drawNoise(4, g) };
}

test('cMIM loss equals an independent float64 evaluation of the A-MIM / mixture-MIM + InfoNCE formulas', () => {
  for (const [objective, lambda] of [['a-mim', 0], ['a-mim', 0.7], ['mim', 0.7], ['mim', 0]] as const) {
    const { m, x, noise } = small(objective, lambda);
    const t = noGrad(() => m.lossTerms(x, noise));
    const ref = reference(m, rows(x), noise);
    close([t.loss.item()], [ref], `${objective} λ=${lambda} loss`, 1e-5, 1e-5);
    if (lambda === 0) assert.equal(t.contrastive.item(), 0);
    else assert.ok(t.contrastive.item() > 0);
  }
  // The mixture's decoding half really is there: a-mim and mim differ for the same weights and noise.
  const a = small('a-mim'), b = small('mim');
  assert.notEqual(noGrad(() => a.m.lossTerms(a.x, a.noise).loss.item()), noGrad(() => b.m.lossTerms(b.x, b.noise).loss.item()));
});

test('cMIM gradients of every parameter match central finite differences (A-MIM and mixture MIM, with the contrastive term)', () => {
  for (const objective of ['a-mim', 'mim'] as const) {
    const { m, x, noise } = small(objective);
    const params = m.parameters();
    const r = gradcheck(() => m.lossTerms(x, noise).loss, params, { eps: 1e-2, atol: 2e-3, rtol: 2e-2 });
    assert.equal(r.checked, params.reduce((s, p) => s + p.size, 0));
  }
});

test('informative embeddings are [μ, g(μ)] (or g(μ)) and need no training; bad configs are refused', () => {
  const { m, x } = small('a-mim');
  const e = m.informativeEmbedding(x);
  assert.deepEqual(e.shape, [4, 3 + 5]);
  const mu = m.features(x);
  const g = noGrad(() => m.decoderHidden(mu));
  for (let i = 0; i < 4; i++) {
    close(e.data.slice(i * 8, i * 8 + 3), mu.data.slice(i * 3, i * 3 + 3), 'μ part');
    close(e.data.slice(i * 8 + 3, i * 8 + 8), g.data.slice(i * 5, i * 5 + 5), 'hidden part');
  }
  assert.deepEqual(m.informativeEmbedding(x, 'hidden').shape, [4, 5]);
  assert.throws(() => new CMIM({ inputDim: 6, hidden: [], latentDim: 3 }), /hidden must be a non-empty array/);
  assert.throws(() => new CMIM({ inputDim: 6, hidden: [4], latentDim: 3, objective: 'vae' as 'mim' }), /objective must be one of a-mim, mim/);
  assert.throws(() => m.encode(tensor([1, 2, 3], [1, 3])), /expected input \[B, 6\], got \[1, 3\]/);
});

test('cMIM trains on MNIST (loss falls, reconstructions improve) and survives save/load', () => {
  const { train: tr } = loadMnist({ trainCount: 512, testCount: 0, seed: 0 });
  const m = new CMIM({ inputDim: 784, hidden: [64], latentDim: 8, objective: 'mim', seed: 0 });
  const bce = () => noGrad(() => m.lossTerms(fromBuffer(tr.x.slice(0, 128 * 784), [128, 784]), m.drawNoise(128, new Generator(5))).recon.item());
  const before = bce();
  const res = train(m, { x: tr.x, n: tr.n, sampleShape: [784] }, { epochs: 4, batchSize: 64, lr: 2e-3, seed: 0 });
  assert.ok(res.epochLosses[3]! < res.epochLosses[0]!, `epoch losses ${res.epochLosses}`);
  assert.ok(bce() < 0.7 * before, `reconstruction −log p(x|z) ${before} -> ${bce()}`);
  saveModel(join(tmp, 'm'), m);
  const back = loadModel(join(tmp, 'm')) as CMIM;
  assert.equal(back.type, 'cmim');
  const x = fromBuffer(tr.x.slice(0, 8 * 784), [8, 784]);
  close(back.informativeEmbedding(x).data, m.informativeEmbedding(x).data, 'embedding after load', 0, 0);
});
