/**
 * `aelab demo` — the main job (`npm start`): a small end-to-end run that shows the core working.
 *
 * It builds synthetic activations in superposition (n sparse features with known directions in d
 * dimensions), trains a ReLU + L1 sparse autoencoder on them with Adam, and reports how well the
 * learned dictionary recovers the true feature directions.
 */
import { performance } from 'node:perf_hooks';
import { backend } from '../../core/backend/index.js';
import { Generator } from '../../core/random.js';
import { Tensor, noGrad, scope, tensor } from '../../core/tensor.js';
import { add, mul, relu, square, sub } from '../../core/ops/elementwise.js';
import { linear, matmul } from '../../core/ops/linalg.js';
import { sum } from '../../core/ops/reduce.js';
import { Adam } from '../../optim/adam.js';
import { helpText, parseArgs } from '../args.js';
import { Progress, fmt } from '../progress.js';

const spec = {
  features: { type: 'number' as const, default: 64, help: 'true features n' },
  dim: { type: 'number' as const, default: 32, help: 'activation dimension d' },
  latents: { type: 'number' as const, default: 128, help: 'SAE latents' },
  steps: { type: 'number' as const, default: 1500, help: 'training steps' },
  batch: { type: 'number' as const, default: 256, help: 'batch size' },
  l1: { type: 'number' as const, default: 3e-3, help: 'L1 coefficient' },
  seed: { type: 'number' as const, default: 0, help: 'random seed' },
};

/** Unit-norm random directions [n, d]. */
function directions(gen: Generator, n: number, d: number): Float32Array {
  const w = new Float32Array(n * d);
  gen.normal(w, 0, 1);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += w[i * d + j]! ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) w[i * d + j]! *= inv;
  }
  return w;
}

/** A batch x = Σ_i a_i f_i with each feature on with probability p, magnitude U(0.5, 1.5). */
function sampleBatch(gen: Generator, feats: Float32Array, n: number, d: number, batch: number, p: number, out: Float32Array): void {
  const u = new Float32Array(n), m = new Float32Array(n);
  out.fill(0);
  for (let b = 0; b < batch; b++) {
    gen.uniform(u);
    gen.uniform(m, 0.5, 1.5);
    for (let i = 0; i < n; i++) {
      if (u[i]! >= p) continue;
      const a = m[i]!;
      for (let j = 0; j < d; j++) out[b * d + j]! += a * feats[i * d + j]!;
    }
  }
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs('demo', argv, { ...spec, help: { type: 'boolean', help: 'show this help' } });
  if (flags.help) {
    process.stdout.write(helpText('demo', 'train a small sparse autoencoder on synthetic superposition data', spec));
    return 0;
  }
  const n = flags.features as number, d = flags.dim as number, H = flags.latents as number;
  const steps = flags.steps as number, B = flags.batch as number, l1 = flags.l1 as number;
  const gen = new Generator(flags.seed as number);
  const be = backend();
  process.stdout.write(`aelab demo — backend ${be.name}${be.blas ? ` (${be.blas})` : ''}, ${be.threads()} thread(s)\n`);
  process.stdout.write(`data: ${n} sparse features in ${d} dimensions (superposition ${fmt(n / d)}x); SAE with ${H} latents, ReLU + L1 ${l1}\n\n`);

  const feats = directions(gen.split(), n, d);
  const dataGen = gen.split();
  const initGen = gen.split();
  const wInit = new Float32Array(H * d);
  initGen.normal(wInit, 0, 1 / Math.sqrt(d));
  const W_dec = tensor(wInit, [H, d], true).keep();
  const W_enc = tensor(wInit, [H, d], true).keep();
  const b_enc = tensor(new Float32Array(H), [H], true).keep();
  const b_dec = tensor(new Float32Array(d), [d], true).keep();
  const opt = new Adam([W_enc, b_enc, W_dec, b_dec], { lr: 3e-3 });
  const xb = tensor(new Float32Array(B * d), [B, d]).keep();
  const p = 4 / n;

  const progress = new Progress(steps * B, 'tok');
  const t0 = performance.now();
  let last = { loss: NaN, fvu: NaN, l0: NaN };
  for (let s = 0; s < steps; s++) {
    sampleBatch(dataGen, feats, n, d, B, p, xb.f32());
    last = scope(() => {
      const z = relu(linear(xb, W_enc, b_enc));
      const xhat = add(matmul(z, W_dec), b_dec);
      const se = sum(square(sub(xhat, xb)));
      const loss = add(mul(se, 1 / B), mul(sum(z), l1 / B));
      opt.zeroGrad();
      loss.backward();
      opt.step();
      normaliseRows(W_dec, H, d);
      const zd = z.f32();
      let active = 0;
      for (let i = 0; i < zd.length; i++) if (zd[i]! > 0) active++;
      const xd = xb.f32();
      let tot = 0;
      const mean = new Float64Array(d);
      for (let i = 0; i < xd.length; i++) mean[i % d]! += xd[i]! / B;
      for (let i = 0; i < xd.length; i++) tot += (xd[i]! - mean[i % d]!) ** 2;
      return { loss: loss.item(), fvu: se.item() / tot, l0: active / B };
    });
    progress.update((s + 1) * B, { loss: last.loss, fvu: last.fvu, L0: last.l0 });
  }
  progress.finish(steps * B, { loss: last.loss, fvu: last.fvu, L0: last.l0 });
  const secs = (performance.now() - t0) / 1000;

  const { meanMax, recovered } = recovery(W_dec.f32(), H, feats, n, d);
  process.stdout.write(`\ntrained ${steps} steps (${(steps * B).toLocaleString()} tokens) in ${secs.toFixed(1)} s — ${fmt((steps * B) / secs)} tokens/s\n`);
  process.stdout.write(`  reconstruction  FVU ${fmt(last.fvu)} (fraction of variance unexplained; 0 is perfect)\n`);
  process.stdout.write(`  sparsity        L0 ${fmt(last.l0)} active latents per token (true features per token ≈ ${fmt(p * n)})\n`);
  process.stdout.write(`  recovery        mean max cosine to the true features ${meanMax.toFixed(3)}; ${(recovered * 100).toFixed(0)}% recovered at cosine ≥ 0.9\n`);
  return 0;
}

/** Keeps decoder rows at unit norm (the standard SAE constraint). */
function normaliseRows(W: Tensor, rows: number, cols: number): void {
  noGrad(() => {
    const w = W.f32();
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += w[r * cols + j]! ** 2;
      const inv = 1 / Math.max(Math.sqrt(s), 1e-8);
      for (let j = 0; j < cols; j++) w[r * cols + j]! *= inv;
    }
  });
}

/** For each true feature, the best cosine with any (unit-norm) decoder row. */
function recovery(W: Float32Array, H: number, feats: Float32Array, n: number, d: number): { meanMax: number; recovered: number } {
  let total = 0, hits = 0;
  for (let i = 0; i < n; i++) {
    let best = -1;
    for (let h = 0; h < H; h++) {
      let dot = 0, nn = 0;
      for (let j = 0; j < d; j++) {
        dot += feats[i * d + j]! * W[h * d + j]!;
        nn += W[h * d + j]! ** 2;
      }
      best = Math.max(best, dot / Math.sqrt(nn || 1));
    }
    total += best;
    if (best >= 0.9) hits++;
  }
  return { meanMax: total / n, recovered: hits / n };
}
