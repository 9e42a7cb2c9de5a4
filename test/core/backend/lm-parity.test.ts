// Native vs pure-TypeScript backend on the decoder-transformer kernels (attention pattern/mix and
// backwards, RMSNorm, rotary, tanh-GELU, SwiGLU, cross-entropy), and the native results being
// bit-identical for 1 and 2 threads. Skips when the addon is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createJsBackend } from '../../../src/core/backend/js.js';
import { loadNativeBackend } from '../../../src/core/backend/native.js';
import type { Backend } from '../../../src/core/backend/types.js';

const js = createJsBackend();
const loaded = loadNativeBackend();
const nat = loaded.backend;
const skip: string | false = nat ? false : `native addon not available (${loaded.error ?? 'unknown reason'})`;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}
function randArr(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}
function close(a: ArrayLike<number>, b: ArrayLike<number>, rel: number, abs: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < b.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    if (!(Math.abs(x - y) <= abs + rel * Math.abs(y))) assert.fail(`${what}[${i}]: native ${x} vs js ${y}`);
  }
}
function same(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  for (let i = 0; i < b.length; i++) if (!(a[i] === b[i] || (Number.isNaN(a[i]!) && Number.isNaN(b[i]!)))) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** Runs f on a backend and returns its outputs. */
type Run = (be: Backend) => Float32Array[];
function parity(name: string, run: Run, rel = 2e-5, abs = 2e-6): void {
  test(name, { skip }, () => {
    const n = nat as Backend;
    const a = run(n), b = run(js);
    a.forEach((x, i) => close(x, b[i]!, rel, abs, `${name} out ${i}`));
    const t0 = n.threads();
    try {
      n.setThreads(1);
      const one = run(n);
      n.setThreads(2);
      const two = run(n);
      one.forEach((x, i) => same(x, two[i]!, `${name} 1 vs 2 threads, out ${i}`));
    } finally { n.setThreads(t0); }
  });
}

const attnShapes = [
  { B: 2, H: 4, Hkv: 2, T: 37, S: 37, Smax: 37, dh: 32, km: false },
  { B: 3, H: 8, Hkv: 4, T: 64, S: 64, Smax: 64, dh: 8, km: true },
  { B: 1, H: 2, Hkv: 1, T: 1, S: 19, Smax: 24, dh: 12, km: true },
  { B: 16, H: 8, Hkv: 8, T: 128, S: 128, Smax: 128, dh: 32, km: false },
];
for (const s of attnShapes) {
  const { B, H, Hkv, T, S, Smax, dh } = s;
  const tag = `B${B} H${H}/${Hkv} T${T} S${S} dh${dh}${s.km ? ' keyMask' : ''}`;
  const r = rng(B * 1000 + T);
  const q = randArr(B * H * T * dh, r, -2, 2), k = randArr(B * Hkv * Smax * dh, r, -2, 2), v = randArr(B * Hkv * Smax * dh, r);
  const gP = randArr(B * H * T * S, r), gz = randArr(B * H * T * dh, r);
  const dims = Int32Array.of(B, H, Hkv, T, S, Smax, dh, S - T);
  let km: Int32Array | null = null;
  if (s.km) { km = new Int32Array(B * S).fill(1); for (let b = 0; b < B; b++) for (let j = 0; j < b + 1 && j < S; j++) km[b * S + j] = 0; }
  const sc = 1 / Math.sqrt(dh);
  parity(`attnPattern + grad ${tag}`, (be) => {
    const P = new Float32Array(B * H * T * S);
    be.attnPattern(q, k, dims, sc, km, P);
    const gq = new Float32Array(q.length).fill(NaN), gk = new Float32Array(k.length).fill(NaN);
    be.attnPatternGrad(P, gP, q, k, dims, sc, gq, gk);
    return [P, gq, gk];
  }, 1e-4, 1e-5);
  parity(`attnMix + grad ${tag}`, (be) => {
    const P = new Float32Array(B * H * T * S);
    be.attnPattern(q, k, dims, sc, km, P);
    const z = new Float32Array(gz.length);
    be.attnMix(P, v, dims, z);
    const gp = new Float32Array(P.length).fill(NaN), gv = new Float32Array(v.length).fill(NaN);
    be.attnMixGrad(P, gz, v, dims, gp, gv);
    // A dense (non-causal) pattern, as a hook might write.
    const z2 = new Float32Array(gz.length), gv2 = new Float32Array(v.length);
    be.attnMix(gP, v, dims, z2);
    be.attnMixGrad(gP, gz, v, dims, null, gv2);
    return [z, gp, gv, z2, gv2];
  }, 1e-4, 1e-5);
}

for (const [rows, D] of [[1, 7], [130, 64], [4096, 256]] as const) {
  const r = rng(rows + D);
  const x = randArr(rows * D, r, -3, 3), w = randArr(D, r, 0.5, 1.5), gy = randArr(rows * D, r);
  parity(`rmsNorm + grad ${rows}x${D}`, (be) => {
    const y = new Float32Array(rows * D), rs = new Float32Array(rows);
    be.rmsNorm(x, rows, D, w, 1e-6, y, rs);
    const gx = new Float32Array(rows * D), gw = new Float32Array(D);
    be.rmsNormGrad(x, gy, rs, w, rows, D, gx, gw);
    return [y, rs, gx, gw];
  }, 1e-5, 1e-5);
}

for (const n of [1, 9, 33, 1 << 20]) {
  const r = rng(n);
  const a = randArr(n, r, -8, 8), u = randArr(n, r), gy = randArr(n, r);
  parity(`geluTanh/swiglu + grads n=${n}`, (be) => {
    const y1 = new Float32Array(n), g1 = new Float32Array(n), y2 = new Float32Array(n), ga = new Float32Array(n), gu = new Float32Array(n);
    be.geluTanh(a, y1); be.geluTanhGrad(a, gy, g1); be.swiglu(a, u, y2); be.swigluGrad(a, u, gy, ga, gu);
    return [y1, g1, y2, ga, gu];
  }, 2e-5, 1e-6);
}

{
  const BT = 300, H = 4, dh = 16, r = rng(5);
  const x = randArr(BT * H * dh, r), pos = Int32Array.from({ length: BT }, (_, i) => (i * 7) % 256);
  const cos = randArr(256 * 8, r), sin = randArr(256 * 8, r);
  parity('rotary fwd/inverse', (be) => {
    const y = new Float32Array(x.length), z = new Float32Array(x.length);
    be.rotary(x, pos, BT, H, dh, cos, sin, false, y); be.rotary(x, pos, BT, H, dh, cos, sin, true, z);
    return [y, z];
  }, 1e-6, 1e-6);
  test('rotary rejects positions outside the tables', { skip }, () => {
    assert.throws(() => (nat as Backend).rotary(x, Int32Array.from({ length: BT }, () => 256), BT, H, dh, cos, sin, false, new Float32Array(x.length)), RangeError);
  });
}

for (const [rows, V] of [[3, 5], [257, 4096]] as const) {
  const r = rng(rows * 3);
  const x = randArr(rows * V, r, -10, 10), tg = Int32Array.from({ length: rows }, (_, i) => (i % 7 === 6 ? -1 : Math.floor(r() * V)));
  parity(`crossEntropy + grad ${rows}x${V}`, (be) => {
    const loss = new Float32Array(rows), lse = new Float32Array(rows), gx = new Float32Array(rows * V);
    be.crossEntropy(x, rows, V, tg, loss, lse); be.crossEntropyGrad(x, lse, tg, rows, V, 0.5, gx);
    return [loss, lse, gx];
  }, 1e-5, 1e-6);
}
