/** SAE splice metrics against the PyTorch reference in test/fixtures/lm/splice (see its README). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLanguageModel } from '../../src/lm/load.js';
import { loadSaeFolder } from '../../src/sae/convert.js';
import { evaluateSplice, saeForwardRows, saeSpliceHook, type SaeHookName } from '../../src/interp/splice.js';
import { intTensor, noGrad, type Tensor } from '../../src/core/tensor.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const FIX = join(REPO, 'test/fixtures/lm');
const ref = JSON.parse(readFileSync(join(FIX, 'splice/reference.json'), 'utf8'));
const { model } = loadLanguageModel(join(FIX, 'llama-tiny-gqa-f16'));
const sae = loadSaeFolder(join(FIX, 'splice/sae'));
const tokens: number[][] = ref.tokens;
const B = tokens.length, T = tokens[0]!.length;
const grid = intTensor(tokens.flat(), [B, T]);
const HOOK: string = ref.hook_name;

function close(got: number, want: number, what: string, rel = 1e-4): void {
  const err = Math.abs(got - want) / Math.max(Math.abs(want), 1e-6);
  assert.ok(err <= rel, `${what}: got ${got}, want ${want} (relative error ${err.toExponential(2)})`);
}

function closeArrays(got: ArrayLike<number>, want: ArrayLike<number>, what: string, atol = 1e-4): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  assert.ok(worst <= atol, `${what}: max error ${worst}`);
}

for (const variant of ['default', 'include_bos'] as const) {
  test(`evaluateSplice matches the PyTorch reference (${variant})`, () => {
    const want = ref.variants[variant];
    const m = evaluateSplice(model, sae, HOOK, [grid], { includeBos: variant === 'include_bos', bosId: ref.bos_token_id });
    close(m.ceClean, want.ce_clean, 'ce_clean');
    close(m.ceSpliced, want.ce_spliced, 'ce_spliced');
    close(m.ceZeroAblated, want.ce_zero_ablated, 'ce_zero_ablated');
    close(m.ceSplicedWithError, want.ce_spliced_with_error, 'ce_spliced_with_error');
    close(m.ceSplicedWithError, m.ceClean, 'error term gives the clean CE', 1e-6);
    close(m.ceScore, want.ce_score, 'ce_score');
    close(m.klSpliced, want.kl_spliced, 'kl_spliced');
    close(m.klZeroAblated, want.kl_zero_ablated, 'kl_zero_ablated');
    close(m.klScore, want.kl_score, 'kl_score');
    close(m.fvu, want.fvu, 'fvu');
    close(m.l0, want.l0, 'l0');
    assert.equal(m.replaced, want.n_replaced_positions);
    assert.equal(m.tokens, B * T);
    assert.equal(m.predictions, B * (T - 1));
    // Logits of the spliced run.
    const logits = noGrad(() => model.runWithHooks(grid, { [HOOK]: saeSpliceHook(sae, { includeBos: variant === 'include_bos', bosId: ref.bos_token_id }) })!);
    closeArrays(logits.f32(), want.logits_spliced.values, 'logits_spliced');
  });
}

test('evaluateSplice does not depend on batching', () => {
  const rows = tokens.map((r) => Int32Array.from(r));
  const one = evaluateSplice(model, sae, HOOK, [rows]);
  const split = evaluateSplice(model, sae, HOOK, [[rows[0]!], rows.slice(1)]);
  for (const k of ['ceClean', 'ceSpliced', 'ceZeroAblated', 'klSpliced', 'klZeroAblated', 'fvu', 'l0'] as const) close(split[k], one[k], k, 1e-5);
});

test('clean logits and hook values match the reference', () => {
  const { logits, cache } = noGrad(() => model.runWithCache(grid, [HOOK]));
  closeArrays(logits!.f32(), ref.logits_clean.values, 'logits_clean');
  closeArrays(cache.get(HOOK)!.f32(), ref.hook_values.values, 'hook_values');
});

test('SAE-internal hooks (SAELens names) match the reference', () => {
  const seen = new Map<SaeHookName, Tensor>();
  noGrad(() => model.runWithHooks(grid, { [HOOK]: saeSpliceHook(sae, { bosId: ref.bos_token_id, record: (n, t) => seen.set(n, t) }) }));
  const at = ref.sae_hooks_at;
  for (const name of ['hook_sae_input', 'hook_sae_acts_pre', 'hook_sae_acts_post', 'hook_sae_recons', 'hook_sae_error', 'hook_sae_output'] as const) {
    const t = seen.get(name);
    assert.ok(t, `${name} recorded`);
    const w = t!.shape[2]!;
    const row = t!.f32().subarray((at.batch * T + at.position) * w, (at.batch * T + at.position + 1) * w);
    const want: number[] = Array.isArray(at[name]) ? at[name] : at[name].values;
    closeArrays(row, want, name);
  }
  // Reconstructions at every position.
  closeArrays(seen.get('hook_sae_recons')!.f32(), ref.sae_recons.values, 'sae_recons');
  // BOS positions keep the clean activation in hook_sae_output.
  const out = seen.get('hook_sae_output')!.f32(), x = seen.get('hook_sae_input')!.f32();
  const d = sae.dIn;
  for (let b = 0; b < B; b++) assert.deepEqual(Array.from(out.subarray(b * T * d, (b * T + 1) * d)), Array.from(x.subarray(b * T * d, (b * T + 1) * d)));
});

test('the error term returns the clean activation; hook_z flattens; width mismatch is a clear error', () => {
  const clean = noGrad(() => model.forward(grid)!).f32();
  const withErr = noGrad(() => model.runWithHooks(grid, { [HOOK]: saeSpliceHook(sae, { errorTerm: true, includeBos: true }) })!).f32();
  closeArrays(withErr, clean, 'logits with the error term', 1e-5);
  assert.throws(() => evaluateSplice(model, sae, 'blocks.0.hook_mlp_in_typo', [grid]), /unknown hook 'blocks\.0\.hook_mlp_in_typo'.*\n.*hook_embed/s);
  assert.throws(() => evaluateSplice(model, sae, 'blocks.0.mlp.hook_post', [grid]), /d_in = 48.*width 80/);
  // hook_z [B, T, H, dh] flattens to H·dh = 48 here (6 heads × 8): the splice runs.
  const m = evaluateSplice(model, sae, 'blocks.0.attn.hook_z', [grid]);
  assert.ok(Number.isFinite(m.ceSpliced) && m.replaced === B * (T - 1));
});

test("the splice path's SAE forward equals the independent NumPy reconstructions of every SAELens/sparsify folder kind", () => {
  // Fixtures from scripts/fixtures/gen_sae_semantics_fixtures.py: gated, layer_norm, constant_norm_rescale,
  // folded scalings, BatchTopK checkpoints, TopK with decoder-norm rescaling.
  const dir = join(REPO, 'test/fixtures/sae_semantics');
  const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { x: number[][]; saes: Record<string, { xhat: number[][] }> };
  const x = Float32Array.from(exp.x.flat());
  for (const [name, want] of Object.entries(exp.saes)) {
    const w = loadSaeFolder(join(dir, name));
    const got = saeForwardRows(w, x).recons;
    const flat = want.xhat.flat();
    let worst = 0;
    for (let i = 0; i < flat.length; i++) worst = Math.max(worst, Math.abs(got[i]! - flat[i]!) / (1 + Math.abs(flat[i]!)));
    assert.ok(worst < 1e-4, `${name}: splice reconstruction differs by ${worst}`);
  }
});
