/**
 * SAELens / sparsify folders of every kind whose cfg changes the maths (written by
 * scripts/fixtures/gen_sae_semantics_fixtures.py with NumPy, following the libraries' forward
 * passes): aelab's reconstructions must equal the libraries', through every inference path
 * (runSae, the float64 reference, the trainable module), after re-saving, and after conversion.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor } from '../../src/core/index.js';
import { FormatError } from '../../src/core/io/index.js';
import { Generator } from '../../src/core/random.js';
import { packageRoot } from '../../src/version.js';
import { createSae, saeFromWeights } from '../../src/sae/index.js';
import { loadSaeFolder, runSae, saeToWeights, saveSaeFolder } from '../../src/sae/convert.js';
import { decodeSae, encodeSae, loadSae, reconstructSae, saveSparsify, type SaeWeights } from '../../src/sae/interop.js';

const FIX = join(packageRoot(), 'test', 'fixtures', 'sae_semantics');
const exp = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as { x: number[][]; saes: Record<string, { xhat: number[][]; l0: number }> };
const X = Float32Array.from(exp.x.flat());
const D = exp.x[0]!.length, B = exp.x.length;
const FOLDERS = Object.keys(exp.saes);

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'aelab-semantics-'));
}

/** Largest |a − b| / (1 + |b|). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return m;
}

function assertRecon(got: ArrayLike<number>, name: string, what: string, tol = 2e-5): void {
  const e = relErr(got, exp.saes[name]!.xhat.flat());
  assert.ok(e < tol, `${name} (${what}): reconstruction differs from the library's by ${e.toExponential(2)}`);
}

test('fixtures cover every folder kind of the issue', () => {
  for (const f of ['saelens_topk_rescale', 'saelens_batchtopk_ckpt', 'saelens_constant_norm_rescale', 'saelens_layer_norm', 'saelens_expected_average', 'saelens_gated', 'saelens_finetuning_scale', 'sparsify_topk_f16']) {
    assert.ok(FOLDERS.includes(f), f);
  }
});

for (const name of FOLDERS) {
  test(`${name}: runSae, the float64 reference and the trainable module reconstruct as the library does`, () => {
    const w = loadSaeFolder(join(FIX, name));
    assertRecon(runSae(w, X).xhat, name, 'runSae');
    assertRecon(reconstructSae(w, X), name, 'reconstructSae');
    const sae = saeFromWeights(w);
    sae.eval();
    assertRecon(sae.reconstruct(tensor(X, [B, D])).f32(), name, 'saeFromWeights().reconstruct');
    assert.ok(Math.abs(runSae(w, X).l0 - exp.saes[name]!.l0) < 1e-9, `${name}: l0 ${runSae(w, X).l0} vs ${exp.saes[name]!.l0}`);
  });

  test(`${name}: re-saved as SAELens and as aelab, it still reconstructs as the library does`, () => {
    const dir = tmp();
    try {
      const w = loadSaeFolder(join(FIX, name));
      for (const format of ['saelens', 'aelab'] as const) {
        const out = join(dir, format);
        saveSaeFolder(out, w, format);
        const back = loadSaeFolder(out);
        assertRecon(runSae(back, X).xhat, name, `re-saved as ${format}`);
        const cfg = JSON.parse(readFileSync(join(out, 'cfg.json'), 'utf8')) as Record<string, unknown>;
        // What was folded on load is no longer claimed by the written cfg.
        assert.notEqual(cfg.rescale_acts_by_decoder_norm, true);
        assert.equal(cfg.finetuning_scaling_factor, false);
        assert.notEqual(cfg.normalize_activations, 'expected_average_only_in');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the fixtures discriminate: ignoring each maths-changing key gives a clearly different reconstruction', () => {
  const ignore = (name: string, edit: (w: SaeWeights) => void) => {
    const w = loadSaeFolder(join(FIX, name));
    edit(w);
    return relErr(reconstructSae(w, X), exp.saes[name]!.xhat.flat());
  };
  // Undo the decoder-norm fold: what a loader that ignored rescale_acts_by_decoder_norm computes.
  const raw = loadSae(join(FIX, 'saelens_topk_rescale'));
  const cfgFree = mkdtempSync(join(tmpdir(), 'aelab-semantics-'));
  try {
    cpSync(join(FIX, 'saelens_topk_rescale'), cfgFree, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(cfgFree, 'cfg.json'), 'utf8'));
    writeFileSync(join(cfgFree, 'cfg.json'), JSON.stringify({ ...cfg, rescale_acts_by_decoder_norm: false }));
    const ignored = loadSae(cfgFree);
    assert.ok(relErr(decodeSae(ignored, encodeSae(ignored, X)), exp.saes.saelens_topk_rescale!.xhat.flat()) > 0.05, 'rescale ignored');
    assert.ok(relErr(decodeSae(raw, encodeSae(raw, X)), exp.saes.saelens_topk_rescale!.xhat.flat()) < 2e-5);
  } finally {
    rmSync(cfgFree, { recursive: true, force: true });
  }
  assert.ok(ignore('saelens_constant_norm_rescale', (w) => delete w.meta.inputNormalization) > 0.05, 'constant_norm_rescale ignored');
  assert.ok(ignore('saelens_layer_norm', (w) => delete w.meta.inputNormalization) > 0.05, 'layer_norm ignored');
});

test("aelab's layer-norm formula is SAELens's: an aelab layer-norm SAE exported to SAELens reconstructs the same", () => {
  const dir = tmp();
  try {
    const sae = createSae({ architecture: 'topk', dIn: D, dSae: 30, k: 4, normalisation: 'layer-norm' }, new Generator(3));
    const g = new Generator(4);
    for (const p of [sae.W_enc, sae.b_enc, sae.b_dec]) { const a = p.f32(); const n = new Float32Array(a.length); g.normal(n, 0, 0.3); for (let i = 0; i < a.length; i++) a[i] = a[i]! + n[i]!; }
    sae.eval();
    const ours = sae.reconstruct(tensor(X, [B, D])).f32();
    saveSaeFolder(dir, saeToWeights(sae), 'saelens');
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
    assert.equal(cfg.normalize_activations, 'layer_norm');
    const w = loadSae(dir);
    // reconstructSae follows SAELens's formula (checked against the NumPy fixture above).
    assert.ok(relErr(ours, reconstructSae(w, X)) < 2e-5, 'aelab module vs SAELens semantics');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('conversion to sparsify: folded settings convert exactly; per-token normalisation is refused, naming it', () => {
  const dir = tmp();
  try {
    for (const name of ['saelens_topk_rescale', 'saelens_expected_average']) {
      const w = loadSaeFolder(join(FIX, name));
      saveSaeFolder(join(dir, name), w, 'sparsify');
      assertRecon(runSae(loadSaeFolder(join(dir, name)), X).xhat, name, 'converted to sparsify');
    }
    const w = loadSaeFolder(join(FIX, 'saelens_topk_rescale'));
    for (const norm of ['layer_norm', 'constant_norm_rescale']) {
      w.meta.inputNormalization = norm;
      assert.throws(() => saveSparsify(join(dir, 'refused'), w), new RegExp(`per-token input normalisation \\(normalize_activations '${norm}'\\)`));
    }
    assert.throws(() => saveSaeFolder(join(dir, 'gated'), loadSaeFolder(join(FIX, 'saelens_gated')), 'sparsify'), /sparsify stores TopK SAEs only; this SAE is 'gated'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unknown cfg keys that could change the maths are refused, naming the key; inert ones load', () => {
  const dir = tmp();
  try {
    cpSync(join(FIX, 'saelens_gated'), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ ...cfg, magic_mode: 'fast' }));
    assert.throws(() => loadSae(dir), (e: unknown) => e instanceof FormatError && /cfg key 'magic_mode' = "fast"/.test(e.message) && /cfg\.json/.test(e.message));
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ ...cfg, magic_mode: null, other_flag: false }));
    assertRecon(runSae(loadSae(dir), X).xhat, 'saelens_gated', 'inert unknown keys');
    for (const [key, value, why] of [
      ['normalize_activations', 'batch_whiten', /supported: 'none', 'expected_average_only_in'/],
      ['rescale_acts_by_decoder_norm', true, /topk and batchtopk SAEs only, not 'gated'/],
      ['activation_fn_str', 'tanh-relu', /only relu and topk/],
      ['reshape_activations', 'hook_q', /only 'none' and 'hook_z'/],
    ] as const) {
      writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ ...cfg, [key]: value }));
      assert.throws(() => loadSae(dir), (e: unknown) => e instanceof FormatError && e.message.includes(`cfg key '${key}'`) && why.test(e.message), `${key}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sparsify: an unknown non-inert cfg key is refused, naming it', () => {
  const dir = tmp();
  try {
    cpSync(join(FIX, 'sparsify_topk_f16'), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ ...cfg, signed: true }));
    assert.throws(() => loadSae(dir), (e: unknown) => e instanceof FormatError && /cfg key 'signed' = true/.test(e.message));
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ ...cfg, signed: false }));
    assertRecon(runSae(loadSae(dir), X).xhat, 'sparsify_topk_f16', 'inert unknown key');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('expected_average_only_in without activation_scaler.json is refused; an explicit scaling factor loads it', () => {
  const dir = tmp();
  try {
    cpSync(join(FIX, 'saelens_expected_average'), dir, { recursive: true });
    const s = (JSON.parse(readFileSync(join(dir, 'activation_scaler.json'), 'utf8')) as { scaling_factor: number }).scaling_factor;
    unlinkSync(join(dir, 'activation_scaler.json'));
    assert.throws(() => loadSae(dir), /cfg key 'normalize_activations' = "expected_average_only_in": .*scale s is not in the folder/);
    assertRecon(runSae(loadSae(dir, undefined, { scalingFactor: s }), X).xhat, 'saelens_expected_average', 'explicit scaling factor');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gated: an aelab-made Gated SAE (centred-norm folded on export) reconstructs the same after SAELens save and load', () => {
  const dir = tmp();
  try {
    const sae = createSae({ architecture: 'gated', dIn: D, dSae: 30 }, new Generator(8));
    sae.initFromData(X);
    const g = new Generator(9);
    for (const p of [sae.W_enc, sae.b_enc, (sae as unknown as { r_mag: { f32(): Float32Array } }).r_mag, (sae as unknown as { b_mag: { f32(): Float32Array } }).b_mag]) {
      const a = p.f32(), n = new Float32Array(a.length);
      g.normal(n, 0, 0.3);
      for (let i = 0; i < a.length; i++) a[i] = a[i]! + n[i]!;
    }
    sae.eval();
    const ours = sae.reconstruct(tensor(X, [B, D])).f32();
    saveSaeFolder(dir, saeToWeights(sae), 'saelens');
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
    assert.equal(cfg.architecture, 'gated');
    assert.equal(cfg.normalize_activations, 'none', 'the scalar input scale is folded');
    const w = loadSae(dir);
    const l0 = runSae(w, X).l0;
    assert.ok(l0 > 0 && l0 < 30, `non-trivial codes (L0 ${l0})`);
    assert.ok(relErr(reconstructSae(w, X), ours) < 5e-5, 'SAELens gated semantics = aelab module');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gated: aelab ↔ SAELens round trips keep every value bit for bit', () => {
  const dir = tmp();
  try {
    const w = loadSaeFolder(join(FIX, 'saelens_gated'));
    saveSaeFolder(join(dir, 'a'), w, 'saelens');
    const back = loadSaeFolder(join(dir, 'a'));
    const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
    for (const k of ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'r_mag', 'b_mag'] as const) assert.deepEqual(bits(back[k]!), bits(w[k]!), k);
    // The module exports the same tensors it was built from.
    const m = saeToWeights(saeFromWeights(w));
    for (const k of ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'r_mag', 'b_mag'] as const) assert.deepEqual(bits(m[k]!), bits(w[k]!), `module ${k}`);
    assert.equal(m.arch, 'gated');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
