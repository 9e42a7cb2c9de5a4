import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../src/core/io/index.js';
import { loadSae, saveSaeLens, saveSparsify, type SaeWeights } from '../../src/sae/interop.js';
import { loadSaeFolder, saveSaeFolder } from '../../src/sae/convert.js';

const root = mkdtempSync(join(tmpdir(), 'aelab-interop-validate-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const folder = () => join(root, `sae${n++}`);

const dIn = 4, dSae = 6;
function weights(arch: SaeWeights['arch'] = 'relu'): SaeWeights {
  const r = (len: number, s: number) => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.7 + s));
  return {
    arch, dIn, dSae, ...(arch === 'topk' ? { k: 2 } : {}),
    W_enc: r(dSae * dIn, 1), b_enc: r(dSae, 2), W_dec: r(dSae * dIn, 3), b_dec: r(dIn, 4),
    ...(arch === 'jumprelu' ? { threshold: r(dSae, 5).map(Math.abs) } : {}),
    applyBDecToInput: true, meta: {},
  };
}

test('a clean SAELens / sparsify / aelab folder still loads', () => {
  const a = folder(); saveSaeLens(a, weights('jumprelu'));
  assert.equal(loadSae(a).arch, 'jumprelu');
  const b = folder(); saveSparsify(b, weights('topk'));
  assert.equal(loadSae(b).k, 2);
  const c = folder(); saveSaeFolder(c, weights('relu'), 'aelab');
  assert.equal(loadSaeFolder(c).arch, 'relu');
});

test('NaN in a SAELens weight is refused, naming file, tensor and first bad index', () => {
  const d = folder();
  const w = weights();
  w.W_dec[2 * dIn + 3] = NaN;
  w.W_dec[5 * dIn] = NaN;
  saveSaeLens(d, w);
  assert.throws(() => loadSae(d), (e: unknown) => {
    assert.ok(e instanceof FormatError);
    assert.match(e.message, /sae_weights\.safetensors/);
    assert.match(e.message, /tensor 'W_dec' holds 2 non-finite values; the first is NaN at index 11 \(\[2, 3\] of shape \[6, 4\]\)/);
    return true;
  });
});

test('Inf in a transposed SAELens W_enc is reported in the file layout', () => {
  const d = folder();
  const w = weights();
  w.W_enc[1 * dIn + 2] = Infinity; // latent 1, input 2 → file W_enc [d_in, d_sae] index [2, 1]
  saveSaeLens(d, w);
  assert.throws(() => loadSae(d), /tensor 'W_enc' holds 1 non-finite value; the first is Infinity at index 13 \(\[2, 1\] of shape \[4, 6\]\)/);
});

test('NaN in a bias, a threshold and a sparsify weight are refused', () => {
  const a = folder(); const wa = weights(); wa.b_dec[3] = NaN; saveSaeLens(a, wa);
  assert.throws(() => loadSae(a), /tensor 'b_dec' holds 1 non-finite value; the first is NaN at index 3/);
  const b = folder(); const wb = weights('jumprelu'); wb.threshold![0] = -Infinity; saveSaeLens(b, wb);
  assert.throws(() => loadSae(b), /tensor 'threshold' holds 1 non-finite value; the first is -Infinity at index 0/);
  const c = folder(); const wc = weights('topk'); wc.W_enc[7] = NaN; saveSparsify(c, wc);
  assert.throws(() => loadSae(c), (e: unknown) => e instanceof FormatError && /sae\.safetensors/.test(e.message) && /'encoder\.weight'.*index 7 \(\[1, 3\]/.test(e.message));
});

test('an unknown SAELens architecture is refused, naming the value and the supported ones', () => {
  const d = folder();
  saveSaeLens(d, weights());
  const cfgPath = join(d, 'cfg.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  for (const bad of ['banana', 'crosscoder', 42]) {
    // A topk activation function must not smuggle an unknown architecture through.
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, architecture: bad, activation_fn_str: 'topk', k: 2 }));
    assert.throws(() => loadSae(d), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /cfg\.json/);
      assert.ok(e.message.includes(`unsupported SAELens architecture ${typeof bad === 'string' ? `'${bad}'` : bad}`), e.message);
      assert.match(e.message, /supported: standard, topk, jumprelu, batchtopk, gated/);
      return true;
    });
  }
  // The old SAELens spelling of a TopK SAE ('standard' + topk activation) still loads.
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, architecture: 'standard', activation_fn_str: 'topk', k: 2 }));
  assert.equal(loadSae(d).arch, 'topk');
});

test('aelab.json with an unknown architecture is refused', () => {
  const d = folder();
  saveSaeFolder(d, weights(), 'aelab');
  const p = join(d, 'aelab.json');
  const info = JSON.parse(readFileSync(p, 'utf8'));
  writeFileSync(p, JSON.stringify({ ...info, config: { architecture: 'banana' } }));
  assert.throws(() => loadSaeFolder(d), /aelab\.json: unsupported config\.architecture "banana" \(supported: standard, topk, batchtopk, jumprelu, matryoshka, gated, switch\)/);
  writeFileSync(p, '{ not json');
  assert.throws(() => loadSaeFolder(d), /aelab\.json: cannot parse JSON/);
});
