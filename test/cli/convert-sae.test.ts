/**
 * `aelab convert`: the full SAELens cfg on export (context keys set by flag, filled from a harvest
 * manifest, or null and listed as unknown), SAELens settings honoured on the way through, and
 * refusals of what the target format cannot express.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../src/version.js';
import { loadSaeFolder, runSae, saveSaeFolder } from '../../src/sae/convert.js';
import { loadSae } from '../../src/sae/interop.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const FIX = join(packageRoot(), 'test', 'fixtures', 'sae_semantics');
const aelab = (args: string[]) => {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const cfgOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8')) as Record<string, unknown>;

/** Keys SAELens 5.x's SAEConfig.from_dict reads, and 6.x's metadata keys. */
const KEYS_5X = ['architecture', 'd_in', 'd_sae', 'dtype', 'device', 'model_name', 'hook_name', 'hook_layer', 'hook_head_index', 'activation_fn_str', 'activation_fn_kwargs', 'apply_b_dec_to_input', 'finetuning_scaling_factor', 'normalize_activations', 'context_size', 'dataset_path', 'dataset_trust_remote_code', 'sae_lens_training_version', 'prepend_bos', 'model_from_pretrained_kwargs', 'seqpos_slice', 'neuronpedia_id'];
const KEYS_6X_META = ['model_name', 'hook_name', 'hook_head_index', 'context_size', 'dataset_path', 'prepend_bos', 'model_class_name', 'dataset_trust_remote_code', 'model_from_pretrained_kwargs', 'seqpos_slice', 'exclude_special_tokens', 'sae_lens_training_version', 'neuronpedia_id'];

test('convert --hook-name --model-name writes the full SAELens cfg (5.x keys and 6.x metadata)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-convert-'));
  try {
    // A sparsify folder carries no hook: without flags the keys are null and flagged unknown.
    const plain = join(dir, 'plain');
    const r0 = aelab(['convert', join(FIX, 'sparsify_topk_f16'), plain, '--to', 'saelens']);
    assert.equal(r0.code, 0, r0.stderr);
    assert.match(r0.stderr, /cfg\.json has no model_name, hook_name, context_size, dataset_path/);
    const c0 = cfgOf(plain);
    for (const k of KEYS_5X) assert.ok(k in c0, `5.x key ${k}`);
    for (const k of KEYS_6X_META) assert.ok(k in (c0.metadata as object), `6.x metadata key ${k}`);
    assert.equal(c0.hook_name, null);
    assert.deepEqual(c0.aelab_unknown_keys, ['model_name', 'hook_name', 'hook_layer', 'hook_head_index', 'context_size', 'dataset_path', 'prepend_bos']);

    const out = join(dir, 'set');
    const r = aelab(['convert', join(FIX, 'sparsify_topk_f16'), out, '--to', 'saelens', '--hook-name', 'blocks.6.hook_resid_post', '--model-name', 'gpt2', '--context-size', '128', '--dataset-path', 'Skylion007/openwebtext']);
    assert.equal(r.code, 0, r.stderr);
    const c = cfgOf(out);
    assert.equal(c.hook_name, 'blocks.6.hook_resid_post');
    assert.equal(c.hook_layer, 6);
    assert.equal(c.hook_head_index, null);
    assert.equal(c.model_name, 'gpt2');
    assert.equal(c.context_size, 128);
    assert.equal((c.metadata as Record<string, unknown>).hook_name, 'blocks.6.hook_resid_post');
    assert.deepEqual(c.aelab_unknown_keys, ['prepend_bos']);
    assert.equal(c.k, 5);
    assert.deepEqual(c.activation_fn_kwargs, { k: 5 });
    // And aelab's own loader reads the folder back, context included.
    assert.equal((loadSae(out).meta.context as Record<string, unknown>).model_name, 'gpt2');
    assert.match(aelab(['convert', join(FIX, 'sparsify_topk_f16'), out, '--to', 'saelens', '--context-size', '0']).stderr, /--context-size must be a positive integer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the SAELens context is filled from the harvest manifest of the training data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-convert-'));
  try {
    const acts = join(dir, 'acts');
    mkdirSync(acts);
    writeFileSync(join(acts, 'manifest.json'), JSON.stringify({
      format: 'aelab-harvest', version: 1, model: { path: 'models/tiny-gpt2', format: 'hf', hash: 'abc' }, hook: 'blocks.1.hook_mlp_out',
      context: 64, dtype: 'F32', d: 12, rows: 0, windows: 0, tokens: 0, source: 'data/tiny.txt', include_bos: false, bos_id: 50256,
      separator_id: null, shard_windows: 8, shards: [], complete: true, text_exhausted: false, created: '', updated: '',
    }));
    const w = loadSaeFolder(join(FIX, 'sparsify_topk_f16'));
    saveSaeFolder(join(dir, 'sae'), w, 'aelab', { training: { data: acts } });
    const c = cfgOf(join(dir, 'sae'));
    assert.equal(c.hook_name, 'blocks.1.hook_mlp_out');
    assert.equal(c.hook_layer, 1);
    assert.equal(c.model_name, 'models/tiny-gpt2');
    assert.equal(c.context_size, 64);
    assert.equal(c.dataset_path, 'data/tiny.txt');
    assert.equal(c.prepend_bos, true);
    assert.equal(c.aelab_unknown_keys, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('convert honours SAELens settings and refuses what sparsify cannot express', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-convert-'));
  try {
    const x = Float32Array.from((JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as { x: number[][] }).x.flat());
    const want = (JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as { saes: Record<string, { xhat: number[][] }> }).saes.saelens_topk_rescale!.xhat.flat();
    const r = aelab(['convert', join(FIX, 'saelens_topk_rescale'), join(dir, 'sp'), '--to', 'sparsify']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /folded rescale_acts_by_decoder_norm/);
    const got = runSae(loadSae(join(dir, 'sp')), x).xhat;
    let m = 0;
    for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
    assert.ok(m < 2e-5, `sparsify copy of a rescaled checkpoint reconstructs as SAELens: ${m}`);
    // A TopK SAE with SAELens layer norm: sparsify has no layer norm, so conversion refuses.
    const ln = join(dir, 'ln');
    cpSync(join(FIX, 'saelens_topk_rescale'), ln, { recursive: true });
    writeFileSync(join(ln, 'cfg.json'), JSON.stringify({ ...cfgOf(ln), normalize_activations: 'layer_norm' }));
    const refused = aelab(['convert', ln, join(dir, 'ln-sp'), '--to', 'sparsify']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /normalize_activations 'layer_norm'.*sparsify cannot express/);
    // expected_average_only_in without its scaler: refused, then loaded with --scaling-factor.
    const ea = join(dir, 'ea');
    cpSync(join(FIX, 'saelens_expected_average'), ea, { recursive: true });
    const s = (JSON.parse(readFileSync(join(ea, 'activation_scaler.json'), 'utf8')) as { scaling_factor: number }).scaling_factor;
    unlinkSync(join(ea, 'activation_scaler.json'));
    assert.match(aelab(['convert', ea, join(dir, 'ea-out'), '--to', 'saelens']).stderr, /normalize_activations.*scaling-factor/);
    assert.equal(aelab(['convert', ea, join(dir, 'ea-out'), '--to', 'saelens', '--scaling-factor', String(s)]).code, 0);
    assert.equal(cfgOf(join(dir, 'ea-out')).normalize_activations, 'none');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
