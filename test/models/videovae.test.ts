// Causal video VAE: group causality of latents and outputs, shapes and latent sizes, VidRD's
// identity-initialised temporal layers and frozen fine-tuning, save/load, bad configs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../../src/core/random.js';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { VideoVAE, smallMovingMnist, videoLatentShape, videoMetrics, videoVaeRunSetup, vidrdFromImageVAE, type VideoVAEConfig } from '../../src/models/videovae.js';
import { writeNpy } from '../../src/core/io/npy.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { train } from '../../src/train/fit.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-videovae-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const T = 9, S = 16, F = S * S;
const cfg: VideoVAEConfig = { frames: T, height: S, width: S, widths: [4, 6, 6], spatialDown: 4, temporalDown: 4, latentChannels: 3, beta: 0.1, seed: 1 };

function video(seed: number): Float32Array {
  return new Generator(seed).uniform(new Float32Array(T * F));
}

test('latent shape: first frame alone then groups of 4; spatial 4×', () => {
  assert.deepEqual(videoLatentShape(cfg), [3, 3, 4, 4]);
  const m = new VideoVAE(cfg);
  const { mu, logvar } = noGrad(() => m.encode(fromBuffer(video(1), [1, T * F])));
  assert.deepEqual([...mu.shape], [1, 3, 3, 4, 4]);
  assert.deepEqual([...logvar.shape], [1, 3, 3, 4, 4]);
  assert.equal(m.latentSize(), 3 * 3 * 16);
  // the image VAE frame by frame with a third of the channels has the same latent numbers
  const img = new VideoVAE({ ...cfg, temporalKernel: 1, temporalDown: 1, latentChannels: 1 });
  assert.equal(img.latentSize(), m.latentSize());
  assert.deepEqual([...noGrad(() => img.reconstruct(fromBuffer(video(1), [1, T * F]))).shape], [1, T, 1, S, S]);
});

test('causality: changing frames of group g never changes latents or outputs of earlier groups', () => {
  const m = new VideoVAE(cfg);
  const x = video(2);
  const enc = (v: Float32Array) => noGrad(() => m.encode(fromBuffer(v, [1, T * F])).mu.f32().slice());
  const rec = (v: Float32Array) => noGrad(() => m.reconstruct(fromBuffer(v, [1, T * F])).f32().slice());
  const z0 = enc(x), r0 = rec(x);
  const Zf = 3 * 16; // latent numbers per latent frame
  for (const [changed, group] of [[5, 2], [1, 1]] as const) {
    const y = x.slice();
    for (let i = changed * F; i < (changed + 1) * F; i++) y[i] = 1 - y[i]!; // frame `changed` (group `group`) flips
    const z1 = enc(y), r1 = rec(y);
    for (let i = 0; i < group * Zf; i++) assert.equal(z1[i], z0[i], `latent ${i} of an earlier group changed (frame ${changed})`);
    let dz = 0;
    for (let i = group * Zf; i < z0.length; i++) dz += Math.abs(z1[i]! - z0[i]!);
    assert.ok(dz > 1e-4, `the latents of group ${group} respond to frame ${changed}`);
    // group g covers frames 4g-3 .. 4g (group 0: frame 0); outputs of frames before the changed group are untouched
    const firstOfGroup = 4 * group - 3;
    for (let i = 0; i < firstOfGroup * F; i++) assert.equal(r1[i], r0[i], `output pixel ${i} before frame ${firstOfGroup} changed`);
    let dr = 0;
    for (let i = firstOfGroup * F; i < r0.length; i++) dr += Math.abs(r1[i]! - r0[i]!);
    assert.ok(dr > 1e-4);
  }
});

test('VidRD: temporal layers start as the identity; frozen fine-tuning moves only them', () => {
  const img = new VideoVAE({ ...cfg, temporalKernel: 1, temporalDown: 1, latentChannels: 1 });
  const x = smallMovingMnist({ n: 8, frames: T, size: S, seed: 3 });
  const data = { x, n: 8, sampleShape: [T * F] };
  train(img, data, { steps: 2, batchSize: 4, lr: 1e-2 });
  const v = vidrdFromImageVAE(img, { freezeSpatial: true });
  const a = noGrad(() => img.reconstruct(fromBuffer(x.slice(0, T * F), [1, T * F])).f32().slice());
  const b = noGrad(() => v.reconstruct(fromBuffer(x.slice(0, T * F), [1, T * F])).f32().slice());
  assert.deepEqual(b, a);
  const before = new Map([...v.stateDict()].map(([k, t]) => [k, t.f32().slice()]));
  train(v, data, { steps: 2, batchSize: 4, lr: 1e-2 });
  let temporalMoved = false;
  for (const [k, t] of v.stateDict()) {
    const same = t.f32().every((q, i) => q === before.get(k)![i]);
    if (/temporal/i.test(k)) temporalMoved ||= !same;
    else assert.ok(same, `${k} is frozen but changed`);
  }
  assert.ok(temporalMoved, 'the temporal layers learn');
  assert.throws(() => vidrdFromImageVAE(new VideoVAE(cfg)), /must be an image VAE/);
});

test('save/load round trip; metrics; bad configs name the field', () => {
  const m = new VideoVAE(cfg);
  const x = smallMovingMnist({ n: 2, frames: T, size: S, seed: 4 });
  saveModel(join(tmp, 'm'), m);
  const l = loadModel(join(tmp, 'm')) as VideoVAE;
  assert.equal(l.type, 'videovae');
  const a = videoMetrics(m, x, 2), b = videoMetrics(l, x, 2);
  assert.equal(a.psnr, b.psnr);
  assert.ok(a.psnr > 0 && a.frameDiffError >= 0 && Number.isFinite(a.firstFramePsnr));
  assert.throws(() => new VideoVAE({ ...cfg, frames: 8 }), /8 frames do not make 1 \+ 4·m/);
  assert.throws(() => new VideoVAE({ ...cfg, temporalDown: 8 }), /needs at least 3 spatial stages/);
  assert.throws(() => new VideoVAE({ ...cfg, widths: [4, 4] }), /widths must list 3 widths/);
  assert.throws(() => new VideoVAE({ ...cfg, height: 18 }), /not divisible by spatialDown 4/);
  assert.throws(() => m.encode(fromBuffer(new Float32Array(10), [1, 10])), /expected videos \[B, 9, 1, 16, 16\]/);
});

test('videoVaeRunSetup reads a .npy of videos [n, T, H, W] and refuses bad files by name', () => {
  const data = new Generator(8).uniform(new Float32Array(3 * 5 * 16 * 16));
  const path = join(tmp, 'videos.npy');
  writeNpy(path, { dtype: 'float32', shape: [3, 5, 16, 16], data });
  const r = videoVaeRunSetup({ data: path, spatialDown: 4, temporalDown: 2, widths: [2, 2, 2] });
  assert.equal(r.data.n, 3);
  assert.deepEqual([r.config.frames, r.config.height, r.config.channels], [5, 16, 1]);
  assert.deepEqual(r.data.sampleShape, [5 * 16 * 16]);
  data[7] = 2;
  writeNpy(path, { dtype: 'float32', shape: [3, 5, 16, 16], data });
  assert.throws(() => videoVaeRunSetup({ data: path, spatialDown: 4, temporalDown: 2 }), /value 2 at element 7 is outside \[0, 1\]/);
  writeNpy(path, { dtype: 'float32', shape: [3, 5 * 16 * 16], data });
  assert.throws(() => videoVaeRunSetup({ data: path }), /needs videos \[n, T, H, W\] or \[n, T, C, H, W\], got shape \[3, 1280\]/);
});
