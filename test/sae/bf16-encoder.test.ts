/**
 * The bf16 encoder of SAE training (encoderDtype 'bf16', core/ops/bf16.ts): linearBf16's forward is the
 * float32 linear of the bf16-rounded operands and its backward is linear's; every architecture's loss()
 * with encoderDtype 'bf16' (on bf16-exact inputs) equals the float32 loss of an SAE whose W_enc was rounded to bf16
 * (so the switch sits at the one encoder GEMM and nowhere else); a short training run tracks float32;
 * config errors name the field / flag and the missing CPU feature.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBuffer, linear, scope, tensor } from '../../src/core/index.js';
import { K } from '../../src/core/tensor.js';
import { roundToBf16 } from '../../src/core/backend/js-bf16.js';
import { bf16Support, linearBf16 } from '../../src/core/ops/bf16.js';
import { writeNpy } from '../../src/core/io/index.js';
import { Generator } from '../../src/core/random.js';
import { arraySource } from '../../src/sae/activations.js';
import { generate } from '../../src/sae/superposition.js';
import { createSae } from '../../src/sae/index.js';
import { TrainConfigError, resolveTrainConfig, trainSae } from '../../src/sae/trainer.js';
import { describeBackends } from '../helpers/gradcheck.js';

const rounded = (a: Float32Array) => {
  const o = new Float32Array(a.length);
  roundToBf16(a, o);
  return o;
};
function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < e.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - e[i]!));
    den = Math.max(den, Math.abs(e[i]!));
  }
  return num / Math.max(den, 1e-30);
}
function randn(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  new Generator(seed).normal(a, 0, 1);
  return a;
}

// On a CPU without bf16 kernels the native backend refuses gemmBf16; the js reference always runs.
const nativeSkip = () => (K().name === 'native' && !bf16Support().kernel ? `no bf16 kernel on this CPU (${bf16Support().missing})` : false);

describeBackends('linearBf16', () => {
  test('forward = linear of the rounded operands; gradients = linear\'s (float32 backward)', (t) => {
    const why = nativeSkip();
    if (why) return t.skip(why);
    const R = 13, I = 37, O = 21;
    const xd = randn(R * I, 1), wd = randn(O * I, 2), bd = randn(O, 3), gd = randn(R * O, 4);
    const run = (f: typeof linear, xs: Float32Array, ws: Float32Array) => scope(() => {
      const x = fromBuffer(xs.slice(), [R, I]).requireGrad(), w = fromBuffer(ws.slice(), [O, I]).requireGrad(), b = fromBuffer(bd.slice(), [O]).requireGrad();
      const y = f(x, w, b);
      y.backward(fromBuffer(gd.slice(), [R, O]));
      return { y: Float32Array.from(y.f32()), gx: Float32Array.from(x.grad!.f32()), gw: Float32Array.from(w.grad!.f32()), gb: Float32Array.from(b.grad!.f32()) };
    });
    const bf = run(linearBf16, xd, wd);
    const ref = run(linear, rounded(xd), rounded(wd));
    const f32 = run(linear, xd, wd);
    assert.ok(relErr(bf.y, ref.y) <= 1e-5, `forward vs rounded-operand linear: ${relErr(bf.y, ref.y)}`);
    assert.ok(relErr(bf.y, f32.y) > 1e-5, 'the forward does round (differs from float32)');
    assert.deepEqual(bf.gx, f32.gx, 'dx is the float32 backward');
    assert.deepEqual(bf.gw, f32.gw, 'dW is the float32 backward');
    assert.deepEqual(bf.gb, f32.gb, 'db is the float32 backward');
  });
});

const ARCHS: Record<string, unknown>[] = [
  { architecture: 'standard', l1Coefficient: 0.5 },
  { architecture: 'jumprelu', initialThreshold: 0.5, bandwidth: 0.5 },
  { architecture: 'gated', l1Coefficient: 0.5 },
  { architecture: 'topk', k: 4 },
  { architecture: 'batchtopk', k: 4 },
  { architecture: 'matryoshka', k: 4, prefixes: [16, 32, 64] },
];

describeBackends('SAE loss with encoderDtype bf16', () => {
  for (const arch of ARCHS) {
    test(`${arch.architecture}: equals the float32 loss with W_enc rounded to bf16`, (t) => {
      const why = nativeSkip();
      if (why) return t.skip(why);
      const d = 24, H = 64, B = 48;
      const cfg = { ...arch, dIn: d, dSae: H, normalisation: 'none' } as Parameters<typeof createSae>[0];
      // x is bf16-exact (it is also the reconstruction target), W_enc is not: only the encoder sees rounding.
      const x = rounded(randn(B * d, 9));
      const loss = (encoderDtype: 'f32' | 'bf16', roundWeights: boolean) => {
        const sae = createSae(cfg, new Generator(5));
        sae.encoderDtype = encoderDtype;
        if (roundWeights) sae.W_enc.f32().set(rounded(sae.W_enc.f32()));
        return scope(() => {
          const r = sae.loss(tensor(x.slice(), [B, d]), { updateStats: false });
          return { loss: r.loss.item(), parts: r.parts };
        });
      };
      const bf = loss('bf16', false), ref = loss('f32', true), f32 = loss('f32', false);
      assert.ok(relErr([bf.loss], [ref.loss]) <= 1e-5, `loss ${bf.loss} vs ${ref.loss}`);
      for (const k of Object.keys(ref.parts)) assert.ok(Math.abs(bf.parts[k]! - ref.parts[k]!) <= 1e-5 * Math.max(Math.abs(ref.loss), 1e-12), `${k}: ${bf.parts[k]} vs ${ref.parts[k]}`);
      assert.ok(Object.keys(f32.parts).some((k) => bf.parts[k] !== f32.parts[k]), 'bf16 changes the forward');
    });
  }
});

test('a short TopK and ReLU training with encoderDtype bf16 tracks float32 (per-step loss and validation FVU)', (t) => {
  if (!bf16Support().kernel) return t.skip(`no bf16 kernel on this CPU (${bf16Support().missing})`);
  const data = generate({ n: 48, d: 24, tokens: 12_000, maxFrequency: 0.08, exponent: 0.5 }, new Generator(2));
  for (const arch of [{ architecture: 'topk', k: 3 }, { architecture: 'standard', l1Coefficient: 1 }]) {
    const run = (encoderDtype: string) => {
      const losses: number[] = [];
      const cfg = resolveTrainConfig({ ...arch, dSae: 96, tokens: 40 * 256, batchSize: 256, seed: 1, encoderDtype }, 24);
      const res = trainSae(cfg, { source: arraySource(data.activations, 12_000, 24), onEvent: (e) => { if (e.type === 'step') losses.push(e.metrics.loss!); } });
      assert.equal(res.sae.encoderDtype, encoderDtype);
      return { losses, fvu: res.val!.fvu };
    };
    const f = run('f32'), b = run('bf16');
    assert.equal(b.losses.length, 40);
    const tail = (l: number[]) => l.slice(-10).reduce((s, v) => s + v, 0) / 10;
    const lossRel = Math.abs(tail(b.losses) - tail(f.losses)) / tail(f.losses);
    assert.ok(lossRel < 0.02, `${arch.architecture}: last-10-step mean loss bf16 ${tail(b.losses)} vs f32 ${tail(f.losses)} (${lossRel})`);
    assert.ok(Math.abs(b.fvu - f.fvu) / f.fvu < 0.03, `${arch.architecture}: validation FVU bf16 ${b.fvu} vs f32 ${f.fvu}`);
    assert.notDeepEqual(b.losses, f.losses, 'the bf16 run is a different run');
  }
});

test('encoderDtype config errors name the field: unknown dtype, switch architecture', () => {
  assert.throws(() => resolveTrainConfig({ architecture: 'topk', k: 2, tokens: 1000, encoderDtype: 'fp16' }, 8),
    (e: unknown) => e instanceof TrainConfigError && e.field === 'encoderDtype' && /'f32', 'bf16'.*'fp16'/.test(e.message));
  assert.throws(() => resolveTrainConfig({ architecture: 'switch', k: 2, tokens: 1000, dSae: 64, encoderDtype: 'bf16' }, 8),
    (e: unknown) => e instanceof TrainConfigError && e.field === 'encoderDtype' && /switch/.test(e.message));
  assert.equal(resolveTrainConfig({ architecture: 'topk', k: 2, tokens: 1000 }, 8).encoderDtype, 'f32');
});

test('aelab train sae --encoder-dtype bf16: fails without bf16 kernels naming the flag and the missing feature; trains where they exist', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-bf16-'));
  try {
    const acts = join(dir, 'acts.npy');
    writeNpy(acts, { dtype: 'float32', shape: [512, 8], data: randn(512 * 8, 3) });
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const r = spawnSync(process.execPath, [main, 'train', 'sae', '--data', acts, '--architecture', 'topk', '--k', '2', '--tokens', '1024', '--batch', '256',
      '--encoder-dtype', 'bf16', '--out', join(dir, 'run'), '--quiet'], { encoding: 'utf8', env: { ...process.env, AELAB_BF16: 'off', AELAB_BACKEND: 'native' } });
    if (r.status !== 0 && /native addon could not be loaded/.test(r.stderr)) return; // no addon: nothing native to refuse
    assert.equal(r.status, 2, `signal ${r.signal} error ${r.error} ` + r.stdout + r.stderr);
    assert.match(r.stderr, /--encoder-dtype 'bf16' needs a CPU with AMX-BF16 or AVX512-BF16 \(AELAB_BF16=off disables the bf16 kernels\)/);
    // Where the CPU has a kernel, the same command trains and says which kernel ran.
    const kernel = bf16Support().kernel;
    if (kernel && kernel !== 'reference') {
      const ok = spawnSync(process.execPath, [main, 'train', 'sae', '--data', acts, '--architecture', 'topk', '--k', '2', '--tokens', '1024', '--batch', '256',
        '--encoder-dtype', 'bf16', '--out', join(dir, 'run-ok'), '--quiet'], { encoding: 'utf8' });
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stderr, new RegExp(`encoder GEMM in bf16 \\(${kernel} kernel\\)`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
