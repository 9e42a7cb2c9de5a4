// The video-vae and art-layers experiments at their tiny budgets: every row present, equal latent
// numbers within a compression ratio, finite metrics, and the readable reports name the command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ART_BUDGETS, VIDEO_VAE_BUDGETS, artReport, runArtExperiment, runVideoVaeExperiment, videoVaeReport } from '../../src/tasks/experiments/video.js';

test('video-vae (tiny): image VAE, video VAE and VidRD rows at one ratio with equal latent numbers', () => {
  const o = VIDEO_VAE_BUDGETS.tiny;
  const r = runVideoVaeExperiment(o);
  assert.equal(r.pixels, 9 * 32 * 32);
  assert.deepEqual(r.rows.map((x) => x.method), ['image VAE per frame', 'causal video VAE (scratch)', 'VidRD temporal layers (fine-tune temporal)']);
  for (const x of r.rows) {
    assert.equal(x.latentNumbers, 3 * 3 * 16);
    assert.equal(x.ratio, r.pixels / (3 * 3 * 16));
    assert.ok(Number.isFinite(x.psnr) && x.psnr > 0 && x.frameDiffError > 0);
  }
  assert.equal(r.rows[1]!.steps, o.steps + o.finetuneSteps);
  assert.match(videoVaeReport(r, o, 'tiny'), /command: aelab experiment video-vae --budget tiny/);
  assert.throws(() => runVideoVaeExperiment({ ...o, latents: [4] }), /must be a multiple of 3/);
});

test('art-layers (tiny): layered AE, its ablation and the flat composite AE', () => {
  const o = ART_BUDGETS.tiny;
  const r = runArtExperiment(o);
  assert.equal(r.rows.length, 3);
  assert.ok(r.rows[0]!.layers && r.rows[1]!.layers && r.rows[2]!.layers === null);
  for (const x of r.rows) assert.ok(Number.isFinite(x.compositePsnr));
  // the flat AE gets Z·Lmax channels: at least the layered model's latent numbers for any scene
  assert.ok(r.rows[2]!.latentNumbers >= r.rows[0]!.latentNumbers);
  assert.match(artReport(r, o, 'tiny'), /alpha IoU/);
});
