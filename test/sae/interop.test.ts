import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError, f32ToBf16, bf16ToF32, readSafetensors } from '../../src/core/io/index.js';
import { packageRoot } from '../../src/version.js';
import {
  type SaeWeights,
  decodeSae,
  detectSaeFormat,
  encodeSae,
  loadSae,
  saveSaeLens,
  saveSparsify,
  transpose,
} from '../../src/sae/interop.js';

const FIX = join(packageRoot(), 'test', 'fixtures', 'sae');
interface SaeExp { pre: number[][]; codes: number[][]; xhat: number[][]; W_enc_0_5?: number; W_enc_7_2?: number }
const exp = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as { x: number[][]; saes: Record<string, SaeExp> };
const X = Float32Array.from(exp.x.flat());

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'aelab-interop-'));
}

/** Bit patterns, so -0 vs 0 and NaN payloads would count as differences. */
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function assertSameWeights(a: SaeWeights, b: SaeWeights, what: string) {
  assert.equal(a.arch, b.arch, what);
  assert.equal(a.dIn, b.dIn);
  assert.equal(a.dSae, b.dSae);
  assert.equal(a.k, b.k);
  assert.equal(a.applyBDecToInput, b.applyBDecToInput);
  for (const key of ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold'] as const) {
    assert.equal(a[key] === undefined, b[key] === undefined, `${what}: ${key} presence`);
    if (a[key]) assert.deepEqual(bits(a[key]!), bits(b[key]!), `${what}: ${key} bits`);
  }
}

test('format detection; a folder that is neither lists what it found and nested SAE folders', () => {
  assert.equal(detectSaeFormat(join(FIX, 'saelens_standard')), 'saelens');
  assert.equal(detectSaeFormat(join(FIX, 'sparsify_topk')), 'sparsify');
  const dir = tmp();
  try {
    writeFileSync(join(dir, 'weights.bin'), 'x');
    writeFileSync(join(dir, 'cfg.json'), '{}');
    mkdirSync(join(dir, 'layers.6'));
    writeFileSync(join(join(dir, 'layers.6'), 'cfg.json'), '{}');
    writeFileSync(join(join(dir, 'layers.6'), 'sae.safetensors'), '');
    assert.throws(
      () => loadSae(dir),
      (e: Error) => e instanceof FormatError && /found cfg\.json, layers\.6, weights\.bin/.test(e.message) && /sub-folders holding an SAE: layers\.6/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loaded tensors have our layout (W_enc rows = latents) and the numpy values', () => {
  const w = loadSae(join(FIX, 'saelens_standard'));
  assert.equal(w.arch, 'relu');
  assert.equal(w.dIn, 8);
  assert.equal(w.dSae, 16);
  // SAELens W_enc[i, h] (d_in × d_sae) is our W_enc[h, i].
  assert.equal(w.W_enc[5 * 8 + 0], Math.fround(exp.saes.saelens_standard.W_enc_0_5!));
  assert.equal(w.W_enc[2 * 8 + 7], Math.fround(exp.saes.saelens_standard.W_enc_7_2!));
  assert.equal((w.meta.saelens as Record<string, unknown>).hook_name, 'blocks.3.hook_resid_post');
  const j = loadSae(join(FIX, 'saelens_jumprelu'));
  assert.equal(j.arch, 'jumprelu');
  assert.equal(j.applyBDecToInput, false);
  assert.equal(j.threshold!.length, 16);
  const s = loadSae(join(FIX, 'sparsify_topk'));
  assert.equal(s.arch, 'topk');
  assert.equal(s.k, 4);
  assert.equal(loadSae(join(FIX, 'saelens_topk')).k, 3);
});

test('encodings and decodings of the Python-written SAEs match numpy', () => {
  for (const name of ['saelens_standard', 'saelens_topk', 'saelens_jumprelu', 'sparsify_topk']) {
    const w = loadSae(join(FIX, name));
    const e = exp.saes[name];
    const codes = encodeSae(w, X);
    const want = e.codes.flat();
    let active = 0;
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(codes[i] - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])), `${name} code ${i}: ${codes[i]} vs ${want[i]}`);
      if (want[i] !== 0) active++;
      assert.equal(codes[i] === 0, want[i] === 0, `${name}: same active set at ${i}`);
    }
    assert.ok(active > 0 && active < want.length, `${name}: fixture codes are sparse but not empty`);
    const xhat = decodeSae(w, Float32Array.from(want));
    e.xhat.flat().forEach((v, i) => assert.ok(Math.abs(xhat[i] - v) <= 1e-5 * Math.max(1, Math.abs(v)), `${name} xhat ${i}`));
  }
});

test('round trip SAELens → ours → sparsify → ours → SAELens → ours keeps every tensor bit-equal', () => {
  const dir = tmp();
  try {
    const a = loadSae(join(FIX, 'saelens_topk'));
    saveSparsify(join(dir, 'sp'), a);
    assert.equal(detectSaeFormat(join(dir, 'sp')), 'sparsify');
    const b = loadSae(join(dir, 'sp'));
    assertSameWeights({ ...a, meta: {} }, b, 'via sparsify');
    const cfg = JSON.parse(readFileSync(join(dir, 'sp', 'cfg.json'), 'utf8'));
    assert.equal(cfg.k, 3);
    assert.equal(cfg.num_latents, 16);
    assert.equal(cfg.expansion_factor, 2);
    // sparsify's encoder.weight is our W_enc as is, i.e. SAELens's W_enc transposed.
    const st = readSafetensors(join(dir, 'sp', 'sae.safetensors')).tensors;
    assert.deepEqual(st.get('encoder.weight')!.shape, [16, 8]);
    const orig = readSafetensors(join(FIX, 'saelens_topk', 'sae_weights.safetensors')).tensors;
    assert.deepEqual(bits(transpose(orig.get('W_enc')!.data as Float32Array, 8, 16)), bits(st.get('encoder.weight')!.data as Float32Array));
    saveSaeLens(join(dir, 'sl'), b);
    const c = loadSae(join(dir, 'sl'));
    assertSameWeights(a, c, 'back to SAELens');
    const again = readSafetensors(join(dir, 'sl', 'sae_weights.safetensors')).tensors;
    for (const k of ['W_enc', 'W_dec', 'b_enc', 'b_dec']) {
      assert.deepEqual(again.get(k)!.shape, orig.get(k)!.shape);
      assert.deepEqual(bits(again.get(k)!.data as Float32Array), bits(orig.get(k)!.data as Float32Array), k);
    }
    assert.deepEqual(encodeSae(c, X), encodeSae(a, X));

    // sparsify-born SAE through SAELens and back.
    const s = loadSae(join(FIX, 'sparsify_topk'));
    saveSaeLens(join(dir, 's2'), s);
    const s2 = loadSae(join(dir, 's2'));
    saveSparsify(join(dir, 's3'), s2);
    assertSameWeights({ ...s, meta: {} }, loadSae(join(dir, 's3')), 'sparsify → SAELens → sparsify');
    const sc = JSON.parse(readFileSync(join(dir, 's2', 'cfg.json'), 'utf8'));
    assert.equal(sc.architecture, 'topk');
    assert.equal(sc.activation_fn_kwargs.k, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JumpReLU and BatchTopK through SAELens; sparsify refuses what it cannot hold; BF16 saving rounds', () => {
  const dir = tmp();
  try {
    const j = loadSae(join(FIX, 'saelens_jumprelu'));
    saveSaeLens(join(dir, 'j'), j);
    const j2 = loadSae(join(dir, 'j'));
    assertSameWeights(j, j2, 'jumprelu');
    assert.throws(() => saveSparsify(join(dir, 'x'), j), /TopK SAEs only/);
    assert.throws(() => saveSparsify(join(dir, 'x'), loadSae(join(FIX, 'saelens_standard'))), /TopK SAEs only/);

    const bt: SaeWeights = { ...j2, arch: 'batchtopk', k: 5, applyBDecToInput: true, meta: {} };
    saveSaeLens(join(dir, 'bt'), bt);
    const cfg = JSON.parse(readFileSync(join(dir, 'bt', 'cfg.json'), 'utf8'));
    assert.equal(cfg.architecture, 'jumprelu', 'BatchTopK is saved as SAELens JumpReLU');
    const bt2 = loadSae(join(dir, 'bt'));
    assert.equal(bt2.arch, 'batchtopk');
    assert.equal(bt2.k, 5);
    assertSameWeights(bt, bt2, 'batchtopk');

    saveSaeLens(join(dir, 'bf'), j, { dtype: 'BF16' });
    const st = readSafetensors(join(dir, 'bf', 'sae_weights.safetensors')).tensors;
    assert.equal(JSON.parse(readFileSync(join(dir, 'bf', 'cfg.json'), 'utf8')).dtype, 'bfloat16');
    const bf = loadSae(join(dir, 'bf'));
    for (let i = 0; i < j.W_dec.length; i++) assert.equal(bf.W_dec[i], bf16ToF32(f32ToBf16(j.W_dec[i])));
    assert.ok(st.has('threshold'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed folders: shape mismatch and missing k are FormatErrors naming the problem', () => {
  const dir = tmp();
  try {
    const d = join(dir, 'bad');
    saveSaeLens(d, loadSae(join(FIX, 'saelens_standard')));
    const cfg = JSON.parse(readFileSync(join(d, 'cfg.json'), 'utf8'));
    writeFileSync(join(d, 'cfg.json'), JSON.stringify({ ...cfg, d_sae: 12 }));
    assert.throws(() => loadSae(d), (e: Error) => e instanceof FormatError && /W_enc' has shape \[8, 16\], expected \[8, 12\]/.test(e.message));
    writeFileSync(join(d, 'cfg.json'), JSON.stringify({ ...cfg, architecture: 'topk', activation_fn_kwargs: {} }));
    assert.throws(() => loadSae(d), /needs k/);
    writeFileSync(join(d, 'cfg.json'), JSON.stringify({ ...cfg, architecture: 'gated' }));
    assert.throws(() => loadSae(d), /missing tensor 'b_gate'/);
    writeFileSync(join(d, 'cfg.json'), JSON.stringify({ ...cfg, architecture: 'crosscoder' }));
    assert.throws(() => loadSae(d), /unsupported SAELens architecture 'crosscoder'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
