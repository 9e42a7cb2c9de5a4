/**
 * Dense MLP autoencoder and VAE training steps on this core, the same architectures, loss, batch
 * and optimiser as bench/reference/torch_ae_step.py (784-512-256-32 mirrored, ReLU, Adam lr 1e-3,
 * batch 256; the VAE with a Bernoulli decoder and one reparameterised sample). One JSON line.
 *
 *   node dist/bench/ae-step.js [--batch 256] [--warmup 5] [--runs 15] [--models ae,vae]
 */
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';
import { Generator } from '../src/core/random.js';
import { Tensor, empty, scope } from '../src/core/tensor.js';
import { add, exp, mul, square, sub } from '../src/core/ops/elementwise.js';
import { sum } from '../src/core/ops/reduce.js';
import { bceWithLogits, klDivNormal } from '../src/core/ops/loss.js';
import { Linear, MLP } from '../src/nn/layers.js';
import { Module } from '../src/nn/module.js';
import { Adam } from '../src/optim/adam.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

class AE extends Module {
  enc: MLP; dec: MLP;
  constructor(gen: Generator) {
    super();
    this.enc = new MLP([784, 512, 256, 32], gen);
    this.dec = new MLP([32, 256, 512, 784], gen);
  }
  loss(x: Tensor): Tensor {
    return mul(sum(square(sub(this.dec.forward(this.enc.forward(x)), x))), 1 / x.shape[0]!);
  }
}

class VAE extends Module {
  enc: MLP; mu: Linear; logvar: Linear; dec: MLP;
  private readonly eps: Tensor;
  constructor(gen: Generator, private readonly noise: Generator, batch: number) {
    super();
    this.enc = new MLP([784, 512, 256], gen, { finalActivation: 'relu' });
    this.mu = new Linear(256, 32, gen);
    this.logvar = new Linear(256, 32, gen);
    this.dec = new MLP([32, 256, 512, 784], gen);
    this.eps = empty([batch, 32]).keep();
  }
  loss(x: Tensor): Tensor {
    const h = this.enc.forward(x);
    const mu = this.mu.forward(h), logvar = this.logvar.forward(h);
    this.noise.normal(this.eps.f32());
    const z = add(mu, mul(this.eps, exp(mul(logvar, 0.5))));
    const rec = bceWithLogits(this.dec.forward(z), x, 'sum');
    return mul(add(rec, sum(klDivNormal(mu, logvar))), 1 / x.shape[0]!);
  }
}

function main(): void {
  const B = Number(arg('batch', '256')), warmup = Number(arg('warmup', '5')), runs = Number(arg('runs', '15'));
  const x = empty([B, 784]).keep();
  new Generator(0).uniform(x.f32());
  const be = backend();
  const out: Record<string, unknown> = { impl: 'aelab', backend: be.name, blas: be.blas, threads: be.threads(), batch: B, models: {} };
  for (const name of arg('models', 'ae,vae').split(',')) {
    const gen = new Generator(1);
    const model = name === 'ae' ? new AE(gen) : new VAE(gen, new Generator(2), B);
    const opt = new Adam(model.parameters(), { lr: 1e-3 });
    const step = () => scope(() => {
      const loss = model.loss(x);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      return loss.item();
    });
    for (let i = 0; i < warmup; i++) step();
    const ts: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      step();
      ts.push(performance.now() - t0);
    }
    ts.sort((a, b) => a - b);
    const ms = ts[Math.floor(ts.length / 2)]!;
    (out.models as Record<string, unknown>)[name] = { step_ms: +ms.toFixed(3), samples_per_s: Math.round(B / (ms / 1e3)), params: model.numParameters() };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
