// WaLLoC: the .aelc bitstream decodes to exactly the model's deterministic reconstruction, its
// size is the rate, training lowers rate + distortion, and bad files are clear errors (10k fuzz).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { FormatError } from '../../src/core/io/errors.js';
import { EntropyBottleneck } from '../../src/nn/entropy-bottleneck.js';
import { train } from '../../src/train/fit.js';
import { HEADER_BYTES, WaLLoC, type WaLLoCConfig } from '../../src/models/walloc.js';
import { crc32 } from '../../src/data/png.js';
import { loadModel, saveModel } from '../../src/models/io.js';

const CFG: WaLLoCConfig = { channels: 3, height: 16, width: 16, levels: 2, latentChannels: 6, hidden: 12, decoderBlocks: 1, lambda: 1e-3, seed: 1 };

/** n smooth RGB images [n, 3, H, W] in [0, 1] (sums of random low-frequency cosines). */
function smoothImages(n: number, H: number, W: number, seed: number): Float32Array {
  const g = new Generator(seed);
  const p = g.uniform(new Float32Array(n * 3 * 6), 0, 1);
  const x = new Float32Array(n * 3 * H * W);
  for (let i = 0; i < n * 3; i++) {
    const [a, b, c, d, e, f] = p.subarray(i * 6, i * 6 + 6);
    for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
      x[i * H * W + y * W + xx] = 0.5 + 0.25 * Math.cos(a! * 3 * xx / W * Math.PI + b! * 6) * Math.cos(c! * 3 * y / H * Math.PI + d! * 6) + 0.2 * (e! - 0.5) + 0.05 * Math.sin(f! * xx);
    }
  }
  return x;
}

test('training on the shared loop lowers MSE + λ·bpp', () => {
  const m = new WaLLoC(CFG);
  const data = { x: smoothImages(32, 16, 16, 2), n: 32, sampleShape: [3, 16, 16] };
  const losses: number[] = [];
  train(m, data, { steps: 40, batchSize: 8, lr: 3e-3, seed: 0, onEvent: (e) => { if (e.type === 'step') losses.push(e.metrics.loss!); } });
  const head = losses.slice(0, 5).reduce((a, b) => a + b) / 5, tail = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(tail < 0.7 * head, `loss ${head} → ${tail}`);
});

test('compress → decompress equals the deterministic reconstruction bit for bit; size is the rate', () => {
  const m = new WaLLoC({ ...CFG, height: 32, width: 48 }).eval();
  const x = fromBuffer(smoothImages(1, 32, 48, 3), [1, 3, 32, 48]);
  const bytes = m.compress(x);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x41, 0x45, 0x4c, 0x43]);
  const dec = m.decompress(bytes);
  const ref = m.reconstruct(x);
  const clamped = Float32Array.from(ref.data, (v) => Math.min(1, Math.max(0, v)));
  assert.deepEqual([...dec.shape], [1, 3, 32, 48]);
  assert.deepEqual(dec.data, clamped, 'decoded image differs from the reconstruction');
  // Latents decoded from the payload are round(analysis(x)).
  const { latents } = m.decodeLatents(bytes);
  const y = noGrad(() => m.analysis(x));
  assert.deepEqual(latents.data, Float32Array.from(y.data, (v) => Math.round(v) + 0)); // + 0: no −0
  // The payload is within 2% (+ the 4-byte final state) of the bottleneck's estimate −Σ log2 p.
  const est = noGrad(() => EntropyBottleneck.bits(m.forward(x).likelihoods).item());
  const payloadBits = (bytes.length - HEADER_BYTES) * 8;
  assert.ok(Math.abs(payloadBits - est) <= 0.02 * est + 32, `payload ${payloadBits} bits vs estimate ${est.toFixed(1)}`);
  // Any image size divisible by 2^J works, not just the training size.
  const small = fromBuffer(smoothImages(1, 4, 8, 4), [1, 3, 4, 8]);
  assert.deepEqual(m.decompress(m.compress(small)).shape, [1, 3, 4, 8]);
});

test('a saved and reloaded codec decodes the original files (same hash); another model refuses them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-walloc-'));
  try {
    const m = new WaLLoC(CFG).eval();
    saveModel(dir, m);
    const back = loadModel(dir) as WaLLoC;
    assert.ok(back instanceof WaLLoC);
    assert.deepEqual(back.modelHash(), m.modelHash());
    const x = fromBuffer(smoothImages(1, 16, 16, 5), [1, 3, 16, 16]);
    const bytes = m.compress(x);
    assert.deepEqual(back.compress(x), bytes);
    assert.deepEqual(back.decompress(bytes).data, m.decompress(bytes).data);
    const other = new WaLLoC({ ...CFG, seed: 2 }).eval();
    assert.throws(() => other.decompress(bytes, 'img.aelc'), /img\.aelc: was made by a different model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: wrong sizes and channels, truncated/corrupt files; 10k fuzzed files never crash or hang', () => {
  const m = new WaLLoC(CFG).eval();
  assert.throws(() => m.compress(fromBuffer(new Float32Array(3 * 6 * 8), [1, 3, 6, 8])), /divisible by 2\^2 = 4/);
  assert.throws(() => m.compress(fromBuffer(new Float32Array(16 * 16), [1, 1, 16, 16])), /expects images \[B, 3, H, W\]/);
  assert.throws(() => new WaLLoC({ ...CFG, height: 10 }), /divisible/);
  assert.throws(() => new WaLLoC({ ...CFG, latentChannels: 0 }), /latentChannels/);
  const x = fromBuffer(smoothImages(1, 16, 16, 6), [1, 3, 16, 16]);
  const good = m.compress(x);
  const edit = (f: (b: Uint8Array, d: DataView) => void) => {
    const b = good.slice();
    const dv = new DataView(b.buffer);
    f(b, dv);
    dv.setUint32(37, crc32(b.subarray(0, 37)), true); // a consistent header with one bad field
    return b;
  };
  assert.throws(() => m.decompress(good.subarray(0, 20), 'a.aelc'), /a\.aelc: 20 bytes is shorter than the 41-byte/);
  const flipped = good.slice();
  flipped[8] ^= 4; // height field, CRC not updated
  assert.throws(() => m.decompress(flipped, 'h.aelc'), /h\.aelc: header checksum mismatch/);
  assert.throws(() => m.decompress(edit((b) => { b[0] = 0x50; })), /bad magic/);
  assert.throws(() => m.decompress(edit((b) => { b[4] = 9; })), /version 9/);
  assert.throws(() => m.decompress(edit((_, d) => d.setUint32(6, 17, true))), /image size 16×17|17×16|invalid/);
  assert.throws(() => m.decompress(edit((_, d) => d.setUint32(6, 0, true))), /invalid/);
  assert.throws(() => m.decompress(edit((b) => { b[5] = 1; })), /1 channels/);
  assert.throws(() => m.decompress(good.subarray(0, good.length - 1)), /payload length/);
  assert.throws(() => m.decompress(Uint8Array.from([...good, 0])), /payload length/);
  assert.throws(() => m.decompress(edit((_, d) => d.setUint32(33, d.getUint32(33, true) - 1, true))), /payload length/);
  const r = new Generator(7);
  const u = new Float32Array(4);
  let errors = 0, decoded = 0;
  const N = 10_000;
  for (let k = 0; k < N; k++) {
    r.uniform(u);
    let b: Uint8Array;
    if (u[0]! < 0.15) {
      b = good.subarray(0, Math.floor(u[1]! * good.length)); // truncation
    } else {
      b = good.slice();
      // Mostly payload damage (the header is checked field by field above), sometimes the header.
      const lo = u[0]! < 0.3 ? 0 : HEADER_BYTES;
      const flips = 1 + Math.floor(u[2]! * 3);
      for (let f = 0; f < flips; f++) {
        r.uniform(u);
        b[lo + Math.floor(u[0]! * (b.length - lo))] ^= 1 + Math.floor(u[1]! * 255);
      }
    }
    try {
      const img = m.decompress(b, 'fuzz.aelc');
      assert.deepEqual([...img.shape], [1, 3, 16, 16]);
      decoded++;
    } catch (e) {
      assert.ok(e instanceof FormatError, `fuzz input ${k}: unexpected ${(e as Error).stack}`);
      assert.match((e as Error).message, /^fuzz\.aelc: /);
      errors++;
    }
  }
  assert.equal(errors + decoded, N);
  assert.ok(errors > 0.9 * N, `only ${errors} of ${N} damaged files were detected`);
});
