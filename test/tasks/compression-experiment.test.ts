// `aelab experiment compressed-learning` at the tiny budget: both classifiers are trained from the
// stored .aelc files, the latent one sees 4× fewer numbers and still learns the digits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMPRESSED_LEARNING_BUDGETS, compressedLearningReport, runCompressedLearning } from '../../src/tasks/experiments/compression.js';

test('compressed-learning (tiny): pixel and latent classifiers both beat chance; the report names both', () => {
  const o = COMPRESSED_LEARNING_BUDGETS.tiny;
  const r = runCompressedLearning(o);
  assert.deepEqual(r.codec.latentShape, [4, 7, 7]);
  assert.ok(r.codec.bpp > 0 && Number.isFinite(r.codec.psnr));
  assert.deepEqual(r.rows.map((x) => [x.input, x.dims]), [['pixels (decoded)', 784], ['WaLLoC latents', 196]]);
  for (const row of r.rows) {
    assert.ok(row.accuracy > 0.3, `${row.input}: accuracy ${row.accuracy} (chance 0.1)`);
    assert.ok(row.fromFilesPerSecond > 0 && row.classifyPerSecond > 0 && row.trainSeconds > 0);
  }
  const text = compressedLearningReport(r, o, 'tiny');
  assert.match(text, /WaLLoC latents\s+196/);
  assert.match(text, /pixels \(decoded\)\s+784/);
});
