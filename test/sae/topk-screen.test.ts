/**
 * The float32 TopK encoder with the bf16 screen (setTopkScreen, core/ops/sparse.ts) against the plain
 * float32 GEMM + topk: the same latents for every token and the same loss, AuxK term, x̂ and parameter
 * gradients to 1e-5, with a third of the latents dead (AuxK picks among them through the screen too);
 * BatchTopK likewise, with a token widened to its whole row; the
 * mode rules ('auto' screens where the bf16 kernel beats float32: AMX, or AVX512-BF16 on AMD). On the native backend of a CPU without a bf16 kernel the screened runs are skipped (the js
 * backend's reference GEMM runs them anywhere).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNpy } from '../../src/core/io/index.js';
import { fromBuffer, linear, scope } from '../../src/core/index.js';
import { K } from '../../src/core/tensor.js';
import { bf16Support } from '../../src/core/ops/bf16.js';
import { setTopkScreen, topkEncode, topkScreenKernel } from '../../src/core/ops/sparse.js';
import { Generator } from '../../src/core/random.js';
import { createSae, type BatchTopKSae } from '../../src/sae/index.js';
import { arraySource } from '../../src/sae/activations.js';
import { generate } from '../../src/sae/superposition.js';
import { TrainConfigError, checkEncoderDtype, resolveTrainConfig, trainSae } from '../../src/sae/trainer.js';
import { assertRelError, describeBackends, rand } from '../helpers/gradcheck.js';

const assertRel = assertRelError;

const noKernel = () => (!bf16Support().kernel ? `no bf16 kernel on this CPU (${bf16Support().missing})` : false);

describeBackends('TopK SAE: screened float32 encoder = plain float32 encoder', () => {
  for (const [d, H, B, k, kAux] of [[32, 128, 96, 8, 16], [64, 2048, 48, 32, 64]] as const) {
    it(`H=${H}: latents, loss (mse + AuxK over dead latents), x̂ and every gradient`, (t) => {
      const why = noKernel();
      if (why) return t.skip(why);
      const sae = createSae({ architecture: 'topk', dIn: d, dSae: H, k, deadTokens: 50, kAux, auxKCoefficient: 0.5 }, new Generator(3));
      const xb = new Generator(4).normal(new Float32Array(B * d), 0, 1);
      sae.b_dec.f32().set(Float32Array.from({ length: d }, (_, i) => 0.1 * Math.sin(i)));
      sae.b_enc.f32().set(Float32Array.from({ length: H }, (_, i) => 0.05 * Math.cos(i)));
      const tsf = sae.tokens_since_fired.f32();
      for (let i = 0; i < H; i += 3) tsf[i] = 1000; // a third of the latents dead → AuxK is active
      const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec];
      const run = (mode: 'on' | 'off') => {
        setTopkScreen(mode);
        try {
          return scope(() => {
            for (const p of params) p.zeroGrad();
            const r = sae.loss(fromBuffer(xb, [B, d]), { updateStats: false });
            r.loss.backward();
            const code = r.code as { indices: { i32(): Int32Array } };
            return { loss: r.loss.item(), parts: r.parts, idx: Int32Array.from(code.indices.i32()), xhat: Float32Array.from(r.xhat.f32()), grads: params.map((p) => Float32Array.from(p.grad!.f32())) };
          });
        } finally {
          setTopkScreen('auto');
        }
      };
      const s = run('on'), p = run('off');
      assert.ok(p.parts.auxk! > 0, 'AuxK term is active');
      assert.deepEqual(s.idx, p.idx, 'the same latents for every token');
      assertRel([s.parts.auxk!], [p.parts.auxk!], 'auxk');
      assertRel([s.loss], [p.loss], 'loss');
      assertRel(s.xhat, p.xhat, 'xhat');
      ['W_enc', 'b_enc', 'W_dec', 'b_dec'].forEach((n, i) => assertRel(s.grads[i]!, p.grads[i]!, `grad ${n}`));
    });
  }

  it('BatchTopK: the same choice, loss and gradients, also when a token is widened to its whole row', (t) => {
    const why = noKernel();
    if (why) return t.skip(why);
    const d = 24, H = 96, B = 40, k = 4;
    for (const loud of [false, true]) {
      const sae = createSae({ architecture: 'batchtopk', dIn: d, dSae: H, k, deadTokens: 50, kAux: 12, auxKCoefficient: 0.5 }, new Generator(5)) as BatchTopKSae;
      sae.b_enc.f32().set(Float32Array.from({ length: H }, (_, i) => 0.05 * Math.cos(i)));
      const tsf = sae.tokens_since_fired.f32();
      for (let i = 0; i < H; i += 4) tsf[i] = 1000; // AuxK active
      const xb = new Generator(7).normal(new Float32Array(B * d), 0, loud ? 0.01 : 1);
      if (loud) for (let j = 0; j < d; j++) xb[j] = 50 * Math.sin(j + 1); // one token holds most of the batch's B·k entries
      const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec];
      const run = (mode: 'on' | 'off') => {
        sae.topkScreen = mode;
        sae.widenedTokens = 0;
        return scope(() => {
          for (const p of params) p.zeroGrad();
          const r = sae.loss(fromBuffer(xb, [B, d]), { updateStats: false });
          r.loss.backward();
          return { loss: r.loss.item(), parts: r.parts, widened: sae.widenedTokens, xhat: Float32Array.from(r.xhat.f32()), grads: params.map((p) => Float32Array.from(p.grad!.f32())) };
        });
      };
      const s = run('on'), p = run('off');
      assert.equal(s.widened, p.widened);
      if (loud) assert.ok(s.widened > 0, 'the loud token was widened');
      assert.ok(p.parts.auxk! > 0, 'AuxK term is active');
      assertRel([s.loss], [p.loss], 'loss');
      assertRel(s.xhat, p.xhat, 'xhat');
      ['W_enc', 'b_enc', 'W_dec', 'b_dec'].forEach((n, i) => assertRel(s.grads[i]!, p.grads[i]!, `grad ${n}`));
    }
  });

  it('the screened pre is the bf16 approximation; values and indices are the float32 ones', (t) => {
    const why = noKernel();
    if (why) return t.skip(why);
    const R = 40, D = 48, H = 300, k = 12;
    const x = rand([R, D], 1, -1, 1, false), W = rand([H, D], 2, -1, 1, false), b = rand([H], 3, -0.3, 0.3, false);
    setTopkScreen('on');
    try {
      scope(() => {
        const enc = topkEncode(x, W, b, k);
        const pre = linear(x, W, b).f32();
        let differs = 0;
        for (let i = 0; i < pre.length; i++) if (enc.pre.f32()[i] !== pre[i]) differs++;
        assert.ok(differs > pre.length / 2, 'pre came from the bf16 GEMM');
        const v = new Float32Array(R * k), ix = new Int32Array(R * k);
        K().topk(pre, R, H, k, v, ix);
        assert.deepEqual(Array.from(enc.indices.i32()), Array.from(ix));
        assertRel(enc.values.f32(), v.map((a) => Math.max(a, 0)), 'values');
      });
    } finally {
      setTopkScreen('auto');
    }
  });
});

describeBackends('setTopkScreen', (name) => {
  it('auto screens only with a native bf16 kernel faster than float32; bad modes are refused', () => {
    const { kernel, fasterThanF32 } = bf16Support();
    if (name === 'js') assert.equal(fasterThanF32, false, 'the reference is no faster');
    if (kernel === 'amx-bf16') assert.equal(fasterThanF32, true, 'AMX is');
    assert.equal(topkScreenKernel(), fasterThanF32 ? kernel : null);
    setTopkScreen('off');
    assert.equal(topkScreenKernel(), null);
    setTopkScreen('on');
    try {
      if (kernel) assert.equal(topkScreenKernel(), kernel);
      else assert.throws(() => topkScreenKernel(), /setTopkScreen\('on'\): this backend has no bf16 GEMM/);
    } finally {
      setTopkScreen('auto');
    }
    assert.throws(() => setTopkScreen('yes' as 'on'), /mode must be 'auto', 'on' or 'off', got yes/);
  });
});

it('training key topkScreen: default auto, bad values and an unavailable "on" are refused naming it; a run with the screen tracks one without', (t) => {
  assert.equal(resolveTrainConfig({ architecture: 'topk', k: 2, tokens: 1000 }, 8).topkScreen, 'auto');
  assert.throws(() => resolveTrainConfig({ architecture: 'topk', k: 2, tokens: 1000, topkScreen: 'yes' }, 8),
    (e: unknown) => e instanceof TrainConfigError && e.field === 'topkScreen' && /'auto', 'on', 'off'.*'yes'/.test(e.message));
  if (!bf16Support().kernel) {
    assert.throws(() => checkEncoderDtype({ encoderDtype: 'f32', topkScreen: 'on' }), (e: unknown) => e instanceof TrainConfigError && e.field === 'topkScreen');
    return t.skip(`no bf16 kernel on this CPU (${bf16Support().missing})`);
  }
  const data = generate({ n: 48, d: 24, tokens: 12_000, maxFrequency: 0.08, exponent: 0.5 }, new Generator(2));
  const run = (topkScreen: string) => {
    const cfg = resolveTrainConfig({ architecture: 'topk', k: 4, dSae: 96, tokens: 20 * 256, batchSize: 256, seed: 1, topkScreen }, 24);
    const losses: number[] = [];
    const res = trainSae(cfg, { source: arraySource(data.activations, 12_000, 24), onEvent: (e) => { if (e.type === 'step') losses.push(e.metrics.loss!); } });
    assert.equal(res.sae.topkScreen, topkScreen);
    return { losses, fvu: res.val!.fvu };
  };
  const on = run('on'), off = run('off');
  assert.equal(on.losses.length, 20);
  on.losses.forEach((l, i) => assert.ok(Math.abs(l - off.losses[i]!) <= 1e-4 * Math.abs(off.losses[i]!), `step ${i}: ${l} vs ${off.losses[i]}`));
  assert.ok(Math.abs(on.fvu - off.fvu) <= 1e-4 * off.fvu, `val FVU ${on.fvu} vs ${off.fvu}`);
});

it('aelab train sae --topk-screen: "on" without a bf16 kernel fails naming the flag; the run says when it screens', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-screen-'));
  try {
    const acts = join(dir, 'acts.npy');
    writeNpy(acts, { dtype: 'float32', shape: [512, 8], data: new Generator(3).normal(new Float32Array(512 * 8), 0, 1) });
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const args = (out: string, screen: string) => [main, 'train', 'sae', '--data', acts, '--architecture', 'topk', '--k', '2', '--tokens', '1024', '--batch', '256', '--topk-screen', screen, '--out', join(dir, out), '--quiet'];
    const r = spawnSync(process.execPath, args('run', 'on'), { encoding: 'utf8', env: { ...process.env, AELAB_BF16: 'off', AELAB_BACKEND: 'native' } });
    if (r.status !== 0 && /native addon could not be loaded/.test(r.stderr)) return; // no addon: nothing native to refuse
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--topk-screen 'on' needs a CPU with AMX-BF16 or AVX512-BF16 \(AELAB_BF16=off disables the bf16 kernels\)/);
    const bad = spawnSync(process.execPath, args('run-bad', 'sometimes'), { encoding: 'utf8' });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--topk-screen must be one of 'auto', 'on', 'off', got 'sometimes'/);
    const ok = spawnSync(process.execPath, args('run-ok', 'auto'), { encoding: 'utf8', env: { ...process.env, AELAB_BACKEND: 'native' } });
    assert.equal(ok.status, 0, ok.stderr);
    const kernel = bf16Support().fasterThanF32 ? bf16Support().kernel : null;
    if (K().name === 'native' && kernel) assert.match(ok.stderr, new RegExp(`f32 top k screened by the bf16 GEMM \\(${kernel} kernel\\)`));
    else assert.doesNotMatch(ok.stderr, /screened/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('aelab info says which bf16 kernel there is and whether the TopK encoder screens', () => {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const on = spawnSync(process.execPath, [main, 'info', '--json'], { encoding: 'utf8' });
  assert.equal(on.status, 0, on.stderr);
  const i = JSON.parse(on.stdout) as Record<string, unknown>;
  if (i.backend !== 'native' || K().name !== 'native') return; // the comparison below needs the same backend here
  const { kernel, fasterThanF32 } = bf16Support();
  assert.equal(i.bf16Kernel, kernel);
  assert.equal(i.topkScreen, fasterThanF32 ? kernel : null);
  const off = spawnSync(process.execPath, [main, 'info'], { encoding: 'utf8', env: { ...process.env, AELAB_BF16: 'off' } });
  assert.equal(off.status, 0, off.stderr);
  assert.match(off.stdout, /bf16 kernel\s+none \(AELAB_BF16=off disables the bf16 kernels\)/);
  assert.match(off.stdout, /TopK f32 encoder\s+plain float32 GEMM \+ top k/);
  assert.match(off.stdout, /ReLU\/JumpReLU step\s+plain float32 GEMM\n/);
});
