// NeRV / NeRV++: positional encoding, shapes and parameter counts from the architecture's closed
// form, whole networks against PyTorch (scripts/fixtures/gen_nerv_fixtures.py), fitting a tiny
// video, and the quantised .nerv file (round trip, error bound, pruning, corrupt files).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { crc32 } from '../../src/data/png.js';
import { FormatError } from '../../src/core/io/errors.js';
import { train } from '../../src/train/fit.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import {
  NeRV, compressNeRV, decompressNeRV, frameTime, nervCode, nervParameterCount, nervPositionalEncoding, psnr8, NERV_HEADER_BYTES, type NeRVConfig,
} from '../../src/models/nerv.js';

const tiny = (variant: 'nerv' | 'nervpp'): NeRVConfig => ({
  variant, frames: 6, channels: 1, height: 16, width: 12, upscales: [2, 2], widths: [8, 4], stemChannels: 6, mlpHidden: 16, posFreqs: 8, seed: 3,
});

/** A smooth moving blob video [T, 1, H, W]. */
function blobVideo(T: number, H: number, W: number): Float32Array {
  const x = new Float32Array(T * H * W);
  for (let t = 0; t < T; t++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    const cx = 3 + t, cy = 4 + 0.5 * t;
    x[(t * H + i) * W + j] = 0.1 + 0.8 * Math.exp(-((i - cy) ** 2 + (j - cx) ** 2) / 8);
  }
  return x;
}

test('positional encoding is (sin(b^j π t), cos(b^j π t)) for j < l, and frame times span [0, 1]', () => {
  const pe = nervPositionalEncoding([0, 0.5, 1], 4, 1.25);
  assert.equal(pe.length, 3 * 8);
  for (const [i, t] of [0, 0.5, 1].entries()) for (let j = 0; j < 4; j++) {
    assert.ok(Math.abs(pe[i * 8 + 2 * j]! - Math.sin(1.25 ** j * Math.PI * t)) < 1e-6);
    assert.ok(Math.abs(pe[i * 8 + 2 * j + 1]! - Math.cos(1.25 ** j * Math.PI * t)) < 1e-6);
  }
  assert.deepEqual([0, 1, 4].map((i) => frameTime(i, 5)), [0, 0.25, 1]);
});

test('NeRV and NeRV++ give frames [B, C, H, W] in (0, 1) and have the closed-form parameter counts', () => {
  const lin = (i: number, o: number) => i * o + o, conv = (i: number, o: number, k: number) => i * o * k * k + o;
  // NeRV: MLP 16 → 16 → 6·4·3, blocks 6 → 8·4, 8 → 4·4 (3×3), head 4 → 1 (1×1).
  const nerv = lin(16, 16) + lin(16, 6 * 4 * 3) + conv(6, 32, 3) + conv(8, 16, 3) + conv(4, 1, 1);
  // NeRV++ adds per block: SCRB(cin) + SCRB(cout) (depth-wise 3×3 + point-wise 1×1 each) + the 1×1 skip.
  const scrb = (c: number) => c * 9 + c + conv(c, c, 1);
  const pp = nerv + scrb(6) + scrb(8) + conv(6, 8, 1) + scrb(8) + scrb(4) + conv(8, 4, 1);
  for (const [variant, want] of [['nerv', nerv], ['nervpp', pp]] as const) {
    const m = new NeRV(tiny(variant));
    assert.equal(m.numParameters(), want, variant);
    assert.equal(nervParameterCount(tiny(variant)), want, `${variant}: nervParameterCount`);
    const y = m.forward([0, 5]);
    assert.deepEqual(y.shape, [2, 1, 16, 12]);
    const s = new NeRV({ ...tiny(variant), output: 'sigmoid' }).forward([0, 5]);
    assert.ok(Array.from(s.data).every((v) => v > 0 && v < 1));
    assert.ok(Array.from(m.render()).every((v) => v >= 0 && v <= 1));
  }
  assert.throws(() => new NeRV({ ...tiny('nerv'), upscales: [2, 3] }), /product of upscales \(6\) must divide/);
  assert.throws(() => new NeRV({ ...tiny('nerv'), widths: [8] }), /one entry per block/);
  assert.throws(() => new NeRV(tiny('nerv')).forward([6]), /frame index 6 is outside 0\.\.5/);
});

test('fitting: both variants raise the PSNR of a 6-frame video well above the initial network', () => {
  const x = blobVideo(6, 16, 12);
  for (const variant of ['nerv', 'nervpp'] as const) {
    const m = new NeRV(tiny(variant));
    const before = psnr8(m.render(), x);
    train(m, { x, n: 6, sampleShape: [1, 16, 12] }, { steps: 150, batchSize: 3, lr: 5e-3, seed: 0 });
    const after = psnr8(m.eval().render(), x);
    assert.ok(after > before + 8 && after > 22, `${variant}: PSNR ${before.toFixed(2)} → ${after.toFixed(2)} dB`);
  }
});

test('.nerv files: weights within half a step of the originals, size is the rate, fewer bits or pruning make smaller files', () => {
  const m = new NeRV(tiny('nervpp'));
  const x = blobVideo(6, 16, 12);
  train(m, { x, n: 6, sampleShape: [1, 16, 12] }, { steps: 30, batchSize: 3, lr: 5e-3, seed: 0 });
  m.eval();
  for (const perChannel of [true, false]) {
    const bytes = compressNeRV(m, { perChannel });
    const back = decompressNeRV(bytes, 'mem.nerv');
    const sd = back.stateDict();
    for (const [k, t] of m.stateDict()) {
      const q = sd.get(k)!;
      const groups = perChannel && t.rank >= 2 ? t.shape[0]! : 1, size = t.size / groups;
      for (let g = 0; g < groups; g++) {
        let lo = 0, hi = 0;
        for (let i = 0; i < size; i++) { lo = Math.min(lo, t.data[g * size + i]!); hi = Math.max(hi, t.data[g * size + i]!); }
        const step = (hi - lo) / 255;
        for (let i = 0; i < size; i++) assert.ok(Math.abs(q.data[g * size + i]! - t.data[g * size + i]!) <= step / 2 + 1e-7, `${k}[${g * size + i}]`);
      }
    }
    const r = nervCode(m, x, { perChannel });
    assert.equal(r.bpp, (r.bytes.length * 8) / (6 * 16 * 12));
    assert.equal(r.psnr, psnr8(decompressNeRV(r.bytes).render(), x), 'reported PSNR is that of the frames decoded from the file');
    assert.ok(Math.abs(r.psnr - r.psnrFloat) < 1, `8-bit weights cost < 1 dB (${r.psnrFloat} → ${r.psnr})`);
  }
  const b8 = compressNeRV(m).length, b4 = compressNeRV(m, { bits: 4 }).length, p50 = compressNeRV(m, { prune: 0.5 });
  assert.ok(b4 < 0.75 * b8, `4-bit ${b4} vs 8-bit ${b8} bytes`);
  assert.ok(p50.length < b8, `pruned ${p50.length} vs ${b8} bytes`);
  let zeros = 0, total = 0;
  for (const [, t] of decompressNeRV(p50).stateDict()) if (t.rank >= 2) { total += t.size; for (const v of t.data) if (v === 0) zeros++; }
  assert.ok(zeros >= 0.5 * total, `${zeros} of ${total} weights are zero after 50% pruning`);
});

test('.nerv decoder: truncated, corrupt and foreign files are FormatErrors, never a crash or a hang', () => {
  const m = new NeRV(tiny('nerv'));
  const good = compressNeRV(m);
  assert.ok(good.length > NERV_HEADER_BYTES);
  assert.throws(() => decompressNeRV(good.subarray(0, 10), 'a.nerv'), (e: Error) => e instanceof FormatError && /a\.nerv.*shorter than/.test(e.message));
  assert.throws(() => decompressNeRV(good.subarray(0, good.length - 1), 'a.nerv'), /truncated or extended/);
  const aelc = good.slice(); aelc.set([0x41, 0x45, 0x4c, 0x43], 0);
  assert.throws(() => decompressNeRV(aelc), /not a \.nerv file/);
  // A forged config with valid checksums: refused from the config alone, before any allocation.
  const forged = (() => {
    const dv = new DataView(good.buffer, good.byteOffset);
    const jsonLen = dv.getUint32(7, true);
    const cfg = JSON.parse(new TextDecoder().decode(good.subarray(NERV_HEADER_BYTES, NERV_HEADER_BYTES + jsonLen)));
    cfg.config.widths = [4096, 4096];
    const json = new TextEncoder().encode(JSON.stringify(cfg));
    const body = new Uint8Array(json.length + good.length - NERV_HEADER_BYTES - jsonLen);
    body.set(json, 0);
    body.set(good.subarray(NERV_HEADER_BYTES + jsonLen), json.length);
    const out = new Uint8Array(NERV_HEADER_BYTES + body.length);
    out.set(good.subarray(0, NERV_HEADER_BYTES), 0);
    out.set(body, NERV_HEADER_BYTES);
    const ov = new DataView(out.buffer);
    ov.setUint32(7, json.length, true);
    ov.setUint32(15, body.length, true);
    ov.setUint32(19, crc32(body), true);
    ov.setUint32(23, crc32(out.subarray(0, 23)), true);
    return out;
  })();
  assert.throws(() => decompressNeRV(forged, 'forged.nerv'), /forged\.nerv.*header says \d+ weights but the config's network has \d+/);
  const gen = new Generator(9);
  for (let k = 0; k < 300; k++) {
    const b = good.slice();
    const flips = 1 + gen.randint(3);
    for (let f = 0; f < flips; f++) b[gen.randint(b.length)] ^= 1 + gen.randint(255);
    const cut = gen.randint(4) === 0 ? b.subarray(0, gen.randint(b.length)) : b;
    assert.throws(() => decompressNeRV(cut, 'fuzz.nerv'), FormatError);
  }
});

test('save/load through the model registry keeps the network (type nerv)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-nerv-'));
  try {
    const m = new NeRV(tiny('nervpp'));
    saveModel(dir, m);
    const back = loadModel(dir) as NeRV;
    assert.equal(back.type, 'nerv');
    assert.deepEqual(Array.from(back.render()), Array.from(m.eval().render()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NeRV and NeRV++ networks match the same networks written independently in PyTorch (same weights, frames at t = 0, 1/3, 1)', () => {
  const FX = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/nerv/networks.json', import.meta.url)), 'utf8'));
  for (const variant of ['nerv', 'nervpp'] as const) {
    const net = FX.networks[variant];
    const m = new NeRV({ variant, ...FX.config, output: 'linear' });
    const sd = new Map(Object.entries(net.state as Record<string, { shape: number[]; data: number[] }>).map(([k, a]) => [k, new Tensor(Float32Array.from(a.data), a.shape)]));
    m.loadStateDict(sd, { strict: true });
    const y = m.forwardTimes(net.t);
    assert.deepEqual(y.shape, net.y.shape);
    let worst = 0;
    for (let i = 0; i < y.size; i++) worst = Math.max(worst, Math.abs(y.data[i]! - net.y.data[i]!));
    assert.ok(worst < 2e-4, `${variant}: max |error| ${worst}`);
  }
});
