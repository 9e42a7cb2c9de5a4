// Mask generators (src/models/masking.ts) against their definitions: counts and ratios, the
// keep/restore/mask consistency, random masking = argsort of the noise, block masks being
// contiguous, tube constancy over time, the running-cell pattern, and the ColorMAE filters'
// spectra (red low, blue high, green mid band, purple everything but the mid band).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import {
  CELL_ORDER, blockMasking, colorNoiseMasking, filterNoise, keepCount, randomMasking, runningCellMasking, tubeMasking, type NoiseColor, type PatchMask,
} from '../../src/models/masking.js';

/** keep ∪ masked partition 0..N-1, mask agrees with keep, and restore inverts [keep, masked]. */
function checkConsistent(m: PatchMask): void {
  const { B, N, K } = m;
  const mask = m.mask.data, keep = m.keep.i32(), restore = m.restore.i32();
  for (let b = 0; b < B; b++) {
    let masked = 0;
    for (let n = 0; n < N; n++) masked += mask[b * N + n]!;
    assert.equal(masked, N - K, `sample ${b} masks N − K`);
    const kept = new Set<number>();
    for (let k = 0; k < K; k++) {
      const n = keep[b * K + k]!;
      assert.equal(mask[b * N + n], 0, 'kept position is unmasked');
      assert.equal(restore[b * N + n], k, 'restore points a kept position at its keep slot');
      kept.add(n);
    }
    assert.equal(kept.size, K);
    const ranks = new Set<number>();
    for (let n = 0; n < N; n++) {
      ranks.add(restore[b * N + n]!);
      if (mask[b * N + n]) assert.ok(restore[b * N + n]! >= K);
    }
    assert.equal(ranks.size, N, 'restore is a permutation');
  }
}

test('random masking: K = ⌊N(1 − r)⌋ lowest noise values kept, per sample; seeded', () => {
  const m = randomMasking(4, 49, 0.75, new Generator(3));
  assert.equal(m.K, 12);
  checkConsistent(m);
  // Same draws by hand: the kept positions are the K smallest of u (in ascending order).
  const u = new Generator(3).uniform(new Float32Array(4 * 49));
  for (let b = 0; b < 4; b++) {
    const order = Array.from({ length: 49 }, (_, n) => n).sort((a, c) => u[b * 49 + a]! - u[b * 49 + c]!);
    assert.deepEqual(Array.from(m.keep.i32().slice(b * 12, b * 12 + 12)), order.slice(0, 12));
  }
  assert.deepEqual(Array.from(randomMasking(4, 49, 0.75, new Generator(3)).keep.i32()), Array.from(m.keep.i32()));
  // Different samples get different masks.
  assert.notDeepEqual(Array.from(m.mask.data.slice(0, 49)), Array.from(m.mask.data.slice(49, 98)));
  // Each position is masked with probability r over many draws.
  const big = randomMasking(2000, 16, 0.5, new Generator(1));
  for (let n = 0; n < 16; n++) {
    let s = 0;
    for (let b = 0; b < 2000; b++) s += big.mask.data[b * 16 + n]!;
    assert.ok(Math.abs(s / 2000 - 0.5) < 0.05, `position ${n} masked ${s / 2000}`);
  }
});

test('mask ratios outside (0, 1) and ratios leaving nothing visible are errors', () => {
  for (const r of [0, 1, -0.1, 1.5, NaN]) assert.throws(() => randomMasking(1, 16, r, new Generator(0)), /mask ratio must be in \(0, 1\)/);
  assert.throws(() => keepCount(16, 0.99), /leaves no visible patch out of 16/);
  assert.throws(() => tubeMasking(1, 2, 4, 4, 1, new Generator(0)), /mask ratio/);
  assert.throws(() => colorNoiseMasking('red', 1, 4, 4, 0, new Generator(0)), /mask ratio/);
  assert.throws(() => runningCellMasking(1, 2, 3, 4, new Generator(0)), /even sides/);
});

/** Number of 4-connected components of the masked cells of one h×w mask. */
function components(mask: Float32Array, o: number, h: number, w: number): number {
  const seen = new Uint8Array(h * w);
  let c = 0;
  for (let s = 0; s < h * w; s++) {
    if (!mask[o + s] || seen[s]) continue;
    c++;
    const stack = [s];
    seen[s] = 1;
    while (stack.length) {
      const v = stack.pop()!, i = Math.floor(v / w), j = v % w;
      for (const [di, dj] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        const a = i + di, b = j + dj, n = a * w + b;
        if (a >= 0 && a < h && b >= 0 && b < w && mask[o + n] && !seen[n]) { seen[n] = 1; stack.push(n); }
      }
    }
  }
  return c;
}

test('block masking masks exactly N − K cells in far fewer connected pieces than random masking', () => {
  const h = 14, w = 14, B = 50;
  const blk = blockMasking(B, h, w, 0.4, new Generator(5));
  const rnd = randomMasking(B, h * w, 0.4, new Generator(5));
  checkConsistent(blk);
  let cb = 0, cr = 0;
  for (let b = 0; b < B; b++) { cb += components(blk.mask.data as Float32Array, b * h * w, h, w); cr += components(rnd.mask.data as Float32Array, b * h * w, h, w); }
  assert.ok(cb * 3 < cr, `block components ${cb / B} vs random ${cr / B}`);
});

test('tube masking: one spatial mask repeated at every time step, ratio r per frame', () => {
  const T = 4, h = 4, w = 6, S = h * w;
  const m = tubeMasking(3, T, h, w, 0.75, new Generator(2));
  assert.equal(m.N, T * S);
  assert.equal(m.K, T * Math.floor(S * 0.25));
  checkConsistent(m);
  for (let b = 0; b < 3; b++) for (let t = 1; t < T; t++) for (let s = 0; s < S; s++) {
    assert.equal(m.mask.data[b * T * S + t * S + s], m.mask.data[b * T * S + s], `tube constant at b ${b} t ${t} s ${s}`);
  }
});

test('running-cell masking: each 2×2 cell keeps 2 of 4, same in every cell, pointer steps one position per frame', () => {
  const T = 6, h = 4, w = 6, S = h * w;
  const m = runningCellMasking(5, T, h, w, new Generator(4));
  assert.equal(m.K, m.N / 2);
  checkConsistent(m);
  const starts = new Set<number>();
  for (let b = 0; b < 5; b++) {
    // The masked cell positions (in clockwise order q) of each frame.
    const maskedQ = (t: number, ci: number, cj: number) => CELL_ORDER.map(([di, dj], q) => (m.mask.data[b * T * S + t * S + (2 * ci + di) * w + 2 * cj + dj] ? q : -1)).filter((q) => q >= 0);
    const q0 = maskedQ(0, 0, 0);
    assert.equal(q0.length, 2);
    // Two consecutive clockwise positions: {s, s+1 mod 4}.
    const s = q0.includes(0) && q0.includes(3) ? 3 : Math.min(...q0);
    starts.add(s);
    for (let t = 0; t < T; t++) {
      const want = [(s + t) % 4, (s + t + 1) % 4].sort();
      for (let ci = 0; ci < h / 2; ci++) for (let cj = 0; cj < w / 2; cj++) assert.deepEqual(maskedQ(t, ci, cj).sort(), want, `b ${b} t ${t} cell ${ci},${cj}`);
    }
  }
  const fixed = runningCellMasking(2, 1, 2, 2, new Generator(0), 1);
  assert.deepEqual(Array.from(fixed.mask.data.slice(0, 4)), [0, 1, 0, 1]); // q 1 = (0,1), q 2 = (1,1) masked
});

/** Mean DFT power of filtered noise in three radial bands (low < 0.15 ≤ mid < 0.35 ≤ high). */
function bandPower(color: NoiseColor | 'white', h: number, w: number, draws: number): [number, number, number] {
  const gen = new Generator(9);
  const acc = [0, 0, 0], cnt = [0, 0, 0];
  for (let d = 0; d < draws; d++) {
    const u = gen.uniform(new Float32Array(h * w));
    const F = color === 'white' ? Float64Array.from(u) : filterNoise(color, u, h, w);
    for (let ky = 0; ky < h; ky++) for (let kx = 0; kx < w; kx++) {
      if (ky === 0 && kx === 0) continue;
      let re = 0, im = 0;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        const a = -2 * Math.PI * (ky * y / h + kx * x / w);
        re += F[y * w + x]! * Math.cos(a); im += F[y * w + x]! * Math.sin(a);
      }
      const fy = (ky < h - ky ? ky : ky - h) / h, fx = (kx < w - kx ? kx : kx - w) / w, rho = Math.hypot(fy, fx);
      const band = rho < 0.15 ? 0 : rho < 0.35 ? 1 : 2;
      acc[band] += re * re + im * im; cnt[band]++;
    }
  }
  const p = acc.map((a, i) => a / cnt[i]!);
  const tot = p[0]! + p[1]! + p[2]!;
  return [p[0]! / tot, p[1]! / tot, p[2]! / tot];
}

test('ColorMAE noise spectra: red low-pass, blue high-pass, green band-pass, purple band-stop', () => {
  const h = 8, w = 8;
  const white = bandPower('white', h, w, 20);
  const red = bandPower('red', h, w, 20), blue = bandPower('blue', h, w, 20), green = bandPower('green', h, w, 20), purple = bandPower('purple', h, w, 20);
  assert.ok(red[0] > 0.9 && red[0] > white[0], `red ${red}`);
  assert.ok(blue[2] > white[2] && blue[0] < white[0] / 2, `blue ${blue} white ${white}`);
  assert.ok(green[1] > 0.7 && green[1] > white[1], `green ${green}`);
  assert.ok(purple[1] < white[1] && purple[0] + purple[2] > 0.5, `purple ${purple}`);
});

test('ColorMAE masks keep exactly the top (1 − r) of the filtered noise; red masks are clustered, blue dispersed', () => {
  const h = 8, w = 8, N = 64, B = 40;
  for (const color of ['red', 'blue', 'green', 'purple'] as const) {
    const m = colorNoiseMasking(color, B, h, w, 0.75, new Generator(11));
    checkConsistent(m);
    // Recompute the filtered noise of sample 0 from the same generator stream.
    const F = filterNoise(color, new Generator(11).uniform(new Float32Array(N)), h, w);
    const kept = Array.from(m.keep.i32().slice(0, m.K));
    const minKept = Math.min(...kept.map((n) => F[n]!));
    for (let n = 0; n < N; n++) if (m.mask.data[n]) assert.ok(F[n]! <= minKept, `${color}: masked ${n} above a kept value`);
  }
  // Fraction of kept cells whose right neighbour (periodic) is also kept: 0.25 for independent cells.
  const adjacency = (color: NoiseColor) => {
    const m = colorNoiseMasking(color, B, h, w, 0.75, new Generator(12));
    let both = 0, kept = 0;
    for (let b = 0; b < B; b++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
      if (m.mask.data[b * N + i * w + j]) continue;
      kept++;
      if (!m.mask.data[b * N + i * w + ((j + 1) % w)]) both++;
    }
    return both / kept;
  };
  const red = adjacency('red'), blue = adjacency('blue');
  assert.ok(red > 0.45, `red neighbour-kept rate ${red}`);
  assert.ok(blue < 0.2, `blue neighbour-kept rate ${blue}`);
});
