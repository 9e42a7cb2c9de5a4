// The plain conv-AE codec (WaLLoC's baseline): its .aelc files decode to exactly its deterministic
// reconstruction, their size is the rate its bottleneck estimates, training lowers rate +
// distortion, gradients match finite differences, and bad input is a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { scale } from '../../src/core/ops/elementwise.js';
import { FormatError } from '../../src/core/io/errors.js';
import { ransCostBits } from '../../src/core/io/rans.js';
import { EntropyBottleneck, quantizeLatents } from '../../src/nn/entropy-bottleneck.js';
import { train } from '../../src/train/fit.js';
import { ConvCodec, type ConvCodecConfig } from '../../src/models/conv-codec.js';
import { HEADER_BYTES, WaLLoC } from '../../src/models/walloc.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { gradcheck } from '../helpers/gradcheck.js';

const CFG: ConvCodecConfig = { channels: 3, height: 16, width: 16, stages: 2, latentChannels: 6, encoderHidden: 8, hidden: 12, decoderBlocks: 1, lambda: 1e-3, seed: 1 };

/** n smooth RGB images [n, 3, H, W] in [0, 1] (products of random low-frequency cosines). */
function smoothImages(n: number, H: number, W: number, seed: number): Float32Array {
  const p = new Generator(seed).uniform(new Float32Array(n * 3 * 5), 0, 1);
  const x = new Float32Array(n * 3 * H * W);
  for (let i = 0; i < n * 3; i++) {
    const [a, b, c, d, e] = p.subarray(i * 5, i * 5 + 5);
    for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
      x[i * H * W + y * W + xx] = 0.5 + 0.25 * Math.cos(((a! * 3 * xx) / W) * Math.PI + b! * 6) * Math.cos(((c! * 3 * y) / H) * Math.PI + d! * 6) + 0.2 * (e! - 0.5);
    }
  }
  return x;
}

// One briefly trained codec shared by the rate tests (an untrained bottleneck's density is far from
// its latents' histogram, which is not the case the estimate-vs-file check is about).
let trained: { model: ConvCodec; losses: number[] } | undefined;
function trainedCodec(): NonNullable<typeof trained> {
  if (trained) return trained;
  const model = new ConvCodec(CFG);
  const data = { x: smoothImages(32, 16, 16, 2), n: 32, sampleShape: [3, 16, 16] };
  const losses: number[] = [];
  train(model, data, { steps: 60, batchSize: 8, lr: 3e-3, seed: 0, onEvent: (e) => { if (e.type === 'step') losses.push(e.metrics.loss!); } });
  model.eval();
  return (trained = { model, losses });
}

test('shapes: [B, 3, H, W] -> latents [B, L, H/4, W/4] -> [B, 3, H, W]; parameter count of the RD-script config is near WaLLoC’s', () => {
  const m = new ConvCodec(CFG).eval();
  const x = fromBuffer(smoothImages(2, 16, 24, 3), [2, 3, 16, 24]);
  const y = noGrad(() => m.analysis(x));
  assert.deepEqual([...y.shape], [2, 6, 4, 6]);
  assert.deepEqual([...noGrad(() => m.synthesis(y)).shape], [2, 3, 16, 24]);
  const rd = { channels: 3, height: 32, width: 32, latentChannels: 12, hidden: 64, decoderBlocks: 2, lambda: 1e-3, seed: 0 };
  const conv = new ConvCodec({ ...rd, stages: 2, encoderHidden: 32 }).numParameters(), wal = new WaLLoC({ ...rd, levels: 2 }).numParameters();
  assert.ok(Math.abs(conv / wal - 1) < 0.15, `conv AE ${conv} vs WaLLoC ${wal} parameters`);
});

test('training on the shared loop lowers MSE + λ·bpp', () => {
  const { losses } = trainedCodec();
  const head = losses.slice(0, 5).reduce((a, b) => a + b) / 5, tail = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(tail < 0.7 * head, `loss ${head} → ${tail}`);
});

test('compress → decompress equals the quantised reconstruction bit for bit; the file size is the estimated rate', () => {
  const { model: m } = trainedCodec();
  const H = 32, W = 48;
  const x = fromBuffer(smoothImages(1, H, W, 4), [1, 3, H, W]);
  const bytes = m.compress(x);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x41, 0x45, 0x4c, 0x43]);
  const dec = m.decompress(bytes);
  const clamped = Float32Array.from(m.reconstruct(x).data, (v) => Math.min(1, Math.max(0, v)));
  assert.deepEqual([...dec.shape], [1, 3, H, W]);
  assert.deepEqual(dec.data, clamped, 'decoded image differs from the in-memory reconstruction');
  const { latents } = m.decodeLatents(bytes);
  const y = noGrad(() => m.analysis(x));
  const q = quantizeLatents(y);
  assert.deepEqual(latents.data, Float32Array.from(q, (v) => v + 0)); // + 0: no −0
  // The payload is what the rANS tables say those integers cost (to the coder's few bytes of flush) …
  const payloadBits = (bytes.length - HEADER_BYTES) * 8;
  const S = latents.shape[2]! * latents.shape[3]!;
  const cost = ransCostBits(q, m.coderTables(), (i) => Math.floor(i / S));
  assert.ok(Math.abs(payloadBits - cost) <= 0.005 * cost + 40, `payload ${payloadBits} bits vs table cost ${cost.toFixed(1)}`);
  // … and within 2% (+ the 4-byte final state) of the rate the model reports, −Σ log2 p(round(y)).
  const est = noGrad(() => EntropyBottleneck.bits(m.forward(x).likelihoods).item());
  assert.ok(Math.abs(payloadBits - est) <= 0.02 * est + 32, `payload ${payloadBits} bits vs estimate ${est.toFixed(1)}`);
  const bppReported = noGrad(() => m.lossTerms(x).bpp);
  assert.ok(Math.abs(bppReported - est / (H * W)) < 1e-4 * (1 + bppReported), `lossTerms bpp ${bppReported} vs ${est / (H * W)}`);
  // Latent values spread over several integers (the check above is not about an all-zero code).
  assert.ok(new Set(q).size >= 3, `only ${new Set(q).size} distinct latent values`);
});

test('gradients of MSE + λ·bpp wrt the weights match finite differences (tiny codec, fixed noise)', () => {
  const m = new ConvCodec({ channels: 3, height: 8, width: 8, stages: 2, latentChannels: 2, encoderHidden: 3, hidden: 4, decoderBlocks: 1, lambda: 0.01, latentScale: 4, seed: 3 });
  const x = fromBuffer(smoothImages(2, 8, 8, 6), [2, 3, 8, 8]);
  const params = m.namedParameters()
    .filter(([k]) => /^(encoder\.0\.weight|encoder\.2\.bias|decoder\.2\.body\.0\.weight|decoder\.3\.weight|decoder\.5\.weight|entropyBottleneck\._matrices\.1|entropyBottleneck\._factors\.0)$/.test(k))
    .map(([, t]) => t);
  assert.equal(params.length, 7, `found ${params.length} of the 7 checked weight tensors (layer names changed?)`);
  // The same U(−½, ½) draw every call, so the loss is a smooth function of the weights.
  // ×10⁴ puts the gradients at 0.1–10, well above atol, so a wrong gradient cannot hide under it.
  const r = gradcheck(() => scale(m.lossTerms(x, new Generator(9)).loss, 1e4), params, { eps: 1e-2, atol: 5e-3, rtol: 2e-2 });
  assert.ok(r.checked > 400, `checked ${r.checked} elements`);
});

test('saved and reloaded codec decodes the files; WaLLoC and another conv codec refuse them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-conv-codec-'));
  try {
    const m = new ConvCodec(CFG).eval();
    saveModel(dir, m);
    const back = loadModel(dir) as ConvCodec;
    assert.ok(back instanceof ConvCodec);
    const x = fromBuffer(smoothImages(1, 16, 16, 5), [1, 3, 16, 16]);
    const bytes = m.compress(x);
    assert.deepEqual(back.compress(x), bytes);
    assert.deepEqual(back.decompress(bytes).data, m.decompress(bytes).data);
    assert.throws(() => new ConvCodec({ ...CFG, seed: 2 }).decompress(bytes, 'c.aelc'), /c\.aelc: was made by a different model/);
    const w = new WaLLoC({ channels: 3, height: 16, width: 16, levels: 2, latentChannels: 6, hidden: 12, decoderBlocks: 1, seed: 1 }).eval();
    assert.throws(() => w.decompress(bytes, 'c.aelc'), /c\.aelc: was made by a different model/);
    assert.throws(() => m.decompress(w.compress(x), 'w.aelc'), /w\.aelc: was made by a different model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: config fields, image sizes and channels, batches, truncated and damaged files', () => {
  assert.throws(() => new ConvCodec({ ...CFG, height: 10 }), /divisible by 2\^2 = 4/);
  assert.throws(() => new ConvCodec({ ...CFG, latentChannels: 0 }), /latentChannels/);
  assert.throws(() => new ConvCodec({ ...CFG, stages: 0 }), /stages/);
  assert.throws(() => new ConvCodec({ ...CFG, lambda: -1 }), /lambda/);
  const m = new ConvCodec(CFG).eval();
  assert.throws(() => m.compress(fromBuffer(new Float32Array(3 * 6 * 8), [1, 3, 6, 8])), /ConvCodec\.compress: .*divisible by 2\^2 = 4/);
  assert.throws(() => m.compress(fromBuffer(new Float32Array(16 * 16), [1, 1, 16, 16])), /expects images \[B, 3, H, W\]/);
  assert.throws(() => m.compress(fromBuffer(new Float32Array(2 * 3 * 16 * 16), [2, 3, 16, 16])), /one image at a time/);
  const good = m.compress(fromBuffer(smoothImages(1, 16, 16, 6), [1, 3, 16, 16]));
  assert.throws(() => m.decompress(good.subarray(0, 20), 'a.aelc'), /a\.aelc: 20 bytes is shorter than the 41-byte/);
  assert.throws(() => m.decompress(good.subarray(0, good.length - 1), 'a.aelc'), /payload length/);
  // The container is WaLLoC's (whose test fuzzes it 10k times); a short fuzz here covers this codec's tables.
  const r = new Generator(7), u = new Float32Array(3);
  let errors = 0;
  for (let k = 0; k < 1000; k++) {
    r.uniform(u);
    const b = good.slice();
    b[HEADER_BYTES + Math.floor(u[0]! * (b.length - HEADER_BYTES))] ^= 1 + Math.floor(u[1]! * 255);
    try {
      assert.deepEqual([...m.decompress(b, 'fuzz.aelc').shape], [1, 3, 16, 16]);
    } catch (e) {
      assert.ok(e instanceof FormatError, `fuzz input ${k}: unexpected ${(e as Error).stack}`);
      errors++;
    }
  }
  assert.ok(errors > 0, 'no damaged payload was detected');
});
