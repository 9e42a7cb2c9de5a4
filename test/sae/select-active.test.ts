/**
 * The sparse SAE steps' index-set kernels (backend selectActive / padSelected, used by
 * src/sae/sparse-step.ts) and the by-latent sparseDecode path: the native kernels against the
 * js backend's plain loops and against the definitions written out here, exactly (indices, counts,
 * return values, decoded bits), on shapes that exercise the vector body and the scalar tail, entries
 * sitting exactly on the thresholds, the dead-latent rule, overflow, and 1 vs 2 threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createJsBackend } from '../../src/core/backend/js.js';
import { loadNativeBackend } from '../../src/core/backend/native.js';
import type { Backend } from '../../src/core/backend/types.js';
import { backend, setBackend } from '../../src/core/backend/index.js';
import { fromBuffer } from '../../src/core/index.js';
import { Generator } from '../../src/core/random.js';
import { selectJumpReluSet, selectReluSet } from '../../src/sae/sparse-step.js';

const js = createJsBackend();
const loaded = loadNativeBackend();
const nat = loaded.backend;
const skip: string | false = nat ? false : `native addon not available (${loaded.error ?? 'unknown reason'})`;

/** Pre-activations with many entries exactly on the rules' boundaries (θ, θ ± ε/2, 0). */
function problem(B: number, H: number, seed: number, eps: number): { P: Float32Array; theta: Float32Array; dead: Uint8Array } {
  const g = new Generator(seed);
  const P = new Float32Array(B * H), theta = new Float32Array(H), u = new Float32Array(B * H + 2 * H);
  g.uniform(u, 0, 1);
  for (let i = 0; i < H; i++) theta[i] = 0.5 + u[B * H + i]!;
  const dead = new Uint8Array(H);
  for (let i = 0; i < H; i++) dead[i] = u[B * H + H + i]! < 0.3 ? 1 : 0;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < H; i++) {
      const r = u[b * H + i]!, t = theta[i]!;
      const j = Math.floor(r * 1000) % 10;
      // A tenth each exactly at 0, θ, θ − ε/2 and θ + ε/2 (in float32), the rest spread over [−2, 2].
      P[b * H + i] = j === 0 ? 0 : j === 1 ? t : j === 2 ? Math.fround(t - eps / 2) : j === 3 ? Math.fround(t + eps / 2) : 4 * r - 2;
    }
  }
  return { P, theta, dead };
}

/** The selection rules as written in types.ts, in JS numbers. */
function definition(P: Float32Array, B: number, H: number, theta: Float32Array | null, lo: number, half: number, dead: Uint8Array | null): number[][] {
  const rows: number[][] = [];
  for (let b = 0; b < B; b++) {
    const row: number[] = [];
    for (let i = 0; i < H; i++) {
      const v = P[b * H + i]!;
      const hit = !theta ? v > lo : !dead ? v - theta[i]! > lo
        : v > theta[i]! || Math.abs(v - theta[i]!) < half || (dead[i] === 1 && v < theta[i]!);
      if (hit) row.push(i);
    }
    rows.push(row);
  }
  return rows;
}

function run(be: Backend, P: Float32Array, B: number, H: number, theta: Float32Array | null, lo: number, half: number, dead: Uint8Array | null, limit: number) {
  const scratch = new Int32Array(B * limit), counts = new Int32Array(B);
  const k = be.selectActive(P, B, H, theta, lo, half, dead, limit, scratch, counts);
  const lists = k < 0 ? null : Array.from({ length: B }, (_, b) => Array.from(scratch.subarray(b * limit, b * limit + counts[b]!)));
  return { k, lists, scratch, counts };
}

test('selectActive: native = js twin = the definition, exactly (ReLU, JumpReLU, JumpReLU with dead latents)', { skip }, () => {
  const eps = 0.25;
  for (const [B, H, seed] of [[7, 37, 1], [16, 100, 2], [5, 1000, 3], [3, 16, 4]] as const) {
    const { P, theta, dead } = problem(B, H, seed, eps);
    for (const [name, th, lo, dd] of [['relu', null, 0, null], ['jumprelu', theta, -eps / 2, null], ['jumprelu+dead', theta, -eps / 2, dead]] as const) {
      const want = definition(P, B, H, th, lo, eps / 2, dd);
      const kmax = Math.max(...want.map((r) => r.length));
      assert.ok(kmax > 0 && kmax < H, `${name}: the problem selects something and not everything`);
      const a = run(nat!, P, B, H, th, lo, eps / 2, dd, H), b = run(js, P, B, H, th, lo, eps / 2, dd, H);
      assert.equal(a.k, kmax, `${name} B=${B} H=${H}: native k`);
      assert.equal(b.k, kmax, `${name} B=${B} H=${H}: js k`);
      assert.deepEqual(a.lists, want, `${name} B=${B} H=${H}: native lists`);
      assert.deepEqual(b.lists, want, `${name} B=${B} H=${H}: js lists`);
      // A limit one below the largest row overflows on both.
      assert.equal(run(nat!, P, B, H, th, lo, eps / 2, dd, kmax - 1).k, -1, `${name}: native overflow`);
      assert.equal(run(js, P, B, H, th, lo, eps / 2, dd, kmax - 1).k, -1, `${name}: js overflow`);
      // Exactly at the limit is not an overflow.
      assert.deepEqual(run(nat!, P, B, H, th, lo, eps / 2, dd, kmax).lists, want, `${name}: native at the limit`);
    }
  }
});

test('selectActive and padSelected give the same bits on 1 and 2 threads', { skip }, () => {
  const B = 64, H = 4096, eps = 0.1;
  const { P, theta } = problem(B, H, 9, eps);
  const prev = nat!.threads();
  try {
    nat!.setThreads(1);
    const one = run(nat!, P, B, H, theta, -eps / 2, eps / 2, null, H);
    nat!.setThreads(2);
    const two = run(nat!, P, B, H, theta, -eps / 2, eps / 2, null, H);
    assert.equal(one.k, two.k);
    assert.deepEqual(one.counts, two.counts);
    assert.deepEqual(one.lists, two.lists);
  } finally {
    nat!.setThreads(prev);
  }
});

test('padSelected: native = js = each list followed by the smallest latents not in it', { skip }, () => {
  const B = 6, H = 50, limit = 12, k = 15;
  const scratch = new Int32Array(B * limit), counts = new Int32Array(B);
  const lists = [[], [0, 1, 2], [3, 7, 49], [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22], [1], [48, 49]];
  lists.forEach((l, b) => { counts[b] = l.length; scratch.set(l, b * limit); });
  const a = new Int32Array(B * k), c = new Int32Array(B * k);
  nat!.padSelected(scratch, counts, B, limit, k, a);
  js.padSelected(scratch, counts, B, limit, k, c);
  assert.deepEqual(a, c);
  lists.forEach((l, b) => {
    const want = [...l];
    for (let h = 0; want.length < k; h++) if (!l.includes(h)) want.push(h);
    assert.deepEqual(Array.from(a.subarray(b * k, b * k + k)), want, `row ${b}`);
  });
  counts[2] = k + 1;
  assert.throws(() => nat!.padSelected(scratch, counts, B, limit, k, a), /count 16 of row 2/);
});

test('selectReluSet / selectJumpReluSet: the same padded index tensors on the native and js backends', { skip }, () => {
  const B = 9, H = 300, eps = 0.2;
  const { P, theta, dead } = problem(B, H, 5, eps);
  const prev = backend();
  const sets = (be: Backend) => {
    setBackend(be);
    const pre = fromBuffer(P, [B, H]);
    return [selectReluSet(pre, H), selectJumpReluSet(pre, theta, eps, null, H), selectJumpReluSet(pre, theta, eps, dead, H), selectReluSet(pre, 3)]
      .map((t) => (t ? { shape: t.shape, ix: Array.from(t.i32()) } : null));
  };
  try {
    const a = sets(nat!), b = sets(js);
    assert.deepEqual(a, b);
    assert.equal(a[3], null, 'more than 3 active latents per token: the dense path');
    const want = definition(P, B, H, null, 0, 0, null);
    const k = a[0]!.shape[1]!;
    assert.equal(k, Math.max(...want.map((r) => r.length)));
    for (let r = 0; r < B; r++) assert.deepEqual(a[0]!.ix.slice(r * k, r * k + want[r]!.length), want[r]);
  } finally {
    setBackend(prev);
  }
});

test('sparseDecode by latent and tiled = by row bit for bit on sorted rows (zero-valued padding anywhere), = js within 1e-6', { skip }, () => {
  // H = 9000: several latent tiles (4096 latents each with a 2 MiB L2); D = 70 and 1100: a last column slice narrower than 64.
  for (const [R, H, D, dens, seed] of [[300, 256, 70, 0.1, 1], [64, 128, 1100, 0.2, 2], [40, 64, 8, 0.5, 3], [33, 9000, 70, 0.02, 4]] as const) {
    const g = new Generator(seed);
    const u = new Float32Array(R * H);
    g.uniform(u, 0, 1);
    const lists = Array.from({ length: R }, (_, r) => { const l: number[] = []; for (let h = 0; h < H; h++) if (u[r * H + h]! < dens) l.push(h); return l; });
    const k = Math.max(...lists.map((l) => l.length)) + 2;
    const idx = new Int32Array(R * k), vals = new Float32Array(R * k), v = new Float32Array(R * k);
    g.uniform(v, -1, 1);
    for (let r = 0; r < R; r++) {
      const l = lists[r]!;
      for (let j = 0; j < k; j++) {
        // Padding: zero values at descending latents, which must be skipped, not break the order.
        idx[r * k + j] = j < l.length ? l[j]! : H - 1 - (j - l.length);
        vals[r * k + j] = j < l.length ? v[r * k + j]! : 0;
      }
    }
    const W = new Float32Array(H * D), bias = new Float32Array(D);
    g.uniform(W, -1, 1);
    g.uniform(bias, -1, 1);
    const byRow = new Float32Array(R * D), byLatent = new Float32Array(R * D), auto = new Float32Array(R * D), ref = new Float32Array(R * D);
    nat!.sparseDecode(vals, idx, R, k, W, H, D, bias, byRow, 1);
    nat!.sparseDecode(vals, idx, R, k, W, H, D, bias, byLatent, 2);
    const tiled = new Float32Array(R * D);
    nat!.sparseDecode(vals, idx, R, k, W, H, D, bias, tiled, 3);
    nat!.sparseDecode(vals, idx, R, k, W, H, D, null, auto);
    js.sparseDecode(vals, idx, R, k, W, H, D, bias, ref);
    assert.deepEqual(byLatent, byRow, `R=${R} H=${H} D=${D}: by latent vs by row`);
    assert.deepEqual(tiled, byRow, `R=${R} H=${H} D=${D}: tiled vs by row`);
    for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(byRow[i]! - ref[i]!) <= 1e-6 * (1 + Math.abs(ref[i]!)), `R=${R} H=${H} D=${D}: native vs js at ${i}`);
    const noBias = new Float32Array(R * D);
    nat!.sparseDecode(vals, idx, R, k, W, H, D, null, noBias, 1);
    assert.deepEqual(auto, noBias, 'auto path, no bias');
  }
  assert.throws(() => nat!.sparseDecode(new Float32Array(1), new Int32Array(1), 1, 1, new Float32Array(1), 1, 1, null, new Float32Array(1), 4), /path must be 0/);
});

test('sparseDecode tiled on unsorted rows: the same sums (pairs regrouped by latent tile), = js within 1e-5', { skip }, () => {
  const R = 50, H = 10000, D = 130, k = 40, g = new Generator(9);
  const u = new Float32Array(R * k), vals = new Float32Array(R * k), W = new Float32Array(H * D);
  g.uniform(u, 0, 1);
  g.uniform(vals, -1, 1);
  g.uniform(W, -1, 1);
  const idx = new Int32Array(R * k);
  for (let i = 0; i < idx.length; i++) idx[i] = Math.floor(u[i]! * H);  // random order, repeats allowed
  for (let i = 0; i < idx.length; i += 7) vals[i] = 0;
  const tiled = new Float32Array(R * D), ref = new Float32Array(R * D);
  nat!.sparseDecode(vals, idx, R, k, W, H, D, null, tiled, 3);
  js.sparseDecode(vals, idx, R, k, W, H, D, null, ref);
  for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(tiled[i]! - ref[i]!) <= 1e-5 * (1 + Math.abs(ref[i]!)), `at ${i}: ${tiled[i]} vs ${ref[i]}`);
  // auto picks the tiles for R·k ≥ 10·H but promises by-row bits: on unsorted rows it runs by row.
  const R2 = 200, k2 = 60, H2 = 1000, u2 = new Float32Array(R2 * k2), v2 = new Float32Array(R2 * k2), W2 = new Float32Array(H2 * D);
  g.uniform(u2, 0, 1);
  g.uniform(v2, -1, 1);
  g.uniform(W2, -1, 1);
  const idx2 = new Int32Array(R2 * k2);
  for (let i = 0; i < idx2.length; i++) idx2[i] = Math.floor(u2[i]! * H2);
  const auto = new Float32Array(R2 * D), byRow = new Float32Array(R2 * D);
  nat!.sparseDecode(v2, idx2, R2, k2, W2, H2, D, null, auto);
  nat!.sparseDecode(v2, idx2, R2, k2, W2, H2, D, null, byRow, 1);
  assert.deepEqual(auto, byRow, 'auto on unsorted rows = by row, bit for bit');
  // No latents at all (H = 0, k = 0): every row is the bias on every path.
  const b70 = new Float32Array(70).map((_, i) => i - 3.5);
  for (const path of [1, 2, 3]) {
    const o = new Float32Array(2 * 70).fill(NaN);
    nat!.sparseDecode(new Float32Array(0), new Int32Array(0), 2, 0, new Float32Array(0), 0, 70, b70, o, path);
    assert.deepEqual(o, new Float32Array([...b70, ...b70]), `H = 0, path ${path}`);
  }
});
