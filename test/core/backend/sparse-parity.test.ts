// Native (C++) vs pure-TypeScript backend for the row-sparse kernels of the fast TopK path
// (sparseDecode, sparseDecodeGrad, sparseScatterRows), plus direct checks of their definitions,
// thread-count independence of the native results and index validation.
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
function randArr(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * r() - 1;
  return a;
}
/** idx [R, k] with distinct latents per row drawn from a skewed distribution (some latents hot), and some zero values. */
function problem(R: number, k: number, H: number, D: number, seed: number) {
  const r = rng(seed);
  const idx = new Int32Array(R * k);
  for (let row = 0; row < R; row++) {
    const used = new Set<number>();
    for (let j = 0; j < k; j++) {
      let h: number;
      do h = r() < 0.3 ? Math.floor(r() * Math.min(H, 4)) : Math.floor(r() * H); while (used.has(h));
      used.add(h);
      idx[row * k + j] = h;
    }
  }
  const vals = randArr(R * k, r);
  for (let i = 0; i < vals.length; i += 5) vals[i] = 0;
  return { idx, vals, W: randArr(H * D, r), bias: randArr(D, r), dout: randArr(R * D, r), x: randArr(R * D, r) };
}
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < b.length; i++) {
    if (!(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)))) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

// Shapes: tiny, remainders of the 8/16-wide loops, and one large enough to engage the thread pool.
const SHAPES: [number, number, number, number][] = [[1, 1, 1, 1], [3, 2, 5, 7], [17, 4, 40, 33], [300, 32, 512, 64]];

test('sparseDecode (js) follows its definition out[r] = b + Σ_j v[r,j] W[idx[r,j]]', () => {
  const R = 3, k = 2, H = 4, D = 3;
  const { idx, vals, W, bias } = problem(R, k, H, D, 1);
  const out = new Float32Array(R * D);
  js.sparseDecode(vals, idx, R, k, W, H, D, bias, out);
  for (let r = 0; r < R; r++) {
    for (let d = 0; d < D; d++) {
      let e = bias[d]!;
      for (let j = 0; j < k; j++) e += vals[r * k + j]! * W[idx[r * k + j]! * D + d]!;
      assert.ok(Math.abs(out[r * D + d]! - e) < 1e-6, `out[${r},${d}] ${out[r * D + d]} vs ${e}`);
    }
  }
});

test('sparseScatterRows (js) is the transpose of sparseDecode: ⟨decode(v), g⟩ = ⟨W, scatter(v, g)⟩', () => {
  const R = 9, k = 3, H = 6, D = 5;
  const { idx, vals, W, dout } = problem(R, k, H, D, 2);
  const y = new Float32Array(R * D), gW = new Float32Array(H * D).fill(7), sum = new Float32Array(H).fill(7);
  js.sparseDecode(vals, idx, R, k, W, H, D, null, y);
  js.sparseScatterRows(vals, idx, R, k, dout, D, H, gW, sum, false);
  let lhs = 0, rhs = 0;
  for (let i = 0; i < y.length; i++) lhs += y[i]! * dout[i]!;
  for (let i = 0; i < W.length; i++) rhs += W[i]! * gW[i]!;
  assert.ok(Math.abs(lhs - rhs) < 1e-4 * (1 + Math.abs(lhs)), `${lhs} vs ${rhs}`);
  let vs = 0, ss = 0;
  for (const v of vals) vs += v;
  for (const s of sum) ss += s;
  assert.ok(Math.abs(vs - ss) < 1e-5, `sum of per-latent sums ${ss} vs sum of values ${vs}`);
});

function ptest(name: string, fn: (n: Backend) => void): void {
  test(name, { skip }, () => fn(nat as Backend));
}

ptest('sparseDecode: native = js (with and without bias)', (n) => {
  for (const [R, k, H, D] of SHAPES) {
    const p = problem(R, k, H, D, R + D);
    for (const bias of [p.bias, null]) {
      const a = new Float32Array(R * D).fill(NaN), b = new Float32Array(R * D).fill(NaN);
      n.sparseDecode(p.vals, p.idx, R, k, p.W, H, D, bias, a);
      js.sparseDecode(p.vals, p.idx, R, k, p.W, H, D, bias, b);
      assertClose(a, b, 1e-5, `sparseDecode ${R}x${k}x${H}x${D} bias=${!!bias}`);
    }
  }
});

ptest('sparseDecodeGrad: native = js', (n) => {
  for (const [R, k, H, D] of SHAPES) {
    const p = problem(R, k, H, D, 3 * R + D);
    const a = new Float32Array(R * k).fill(NaN), b = new Float32Array(R * k).fill(NaN);
    n.sparseDecodeGrad(p.dout, p.idx, R, k, p.W, H, D, a);
    js.sparseDecodeGrad(p.dout, p.idx, R, k, p.W, H, D, b);
    assertClose(a, b, 1e-5, `sparseDecodeGrad ${R}x${k}x${H}x${D}`);
  }
});

ptest('sparseScatterRows: native = js, overwrite and accumulate, with and without the row sums', (n) => {
  for (const [R, k, H, D] of SHAPES) {
    const p = problem(R, k, H, D, 5 * R + D);
    for (const accumulate of [false, true]) {
      for (const withSum of [true, false]) {
        const init = randArr(H * D, rng(9)), sInit = randArr(H, rng(10));
        const a = init.slice(), b = init.slice(), sa = sInit.slice(), sb = sInit.slice();
        n.sparseScatterRows(p.vals, p.idx, R, k, p.x, D, H, a, withSum ? sa : null, accumulate);
        js.sparseScatterRows(p.vals, p.idx, R, k, p.x, D, H, b, withSum ? sb : null, accumulate);
        assertClose(a, b, 1e-5, `sparseScatterRows out ${R}x${k}x${H}x${D} acc=${accumulate}`);
        if (withSum) assertClose(sa, sb, 1e-5, `sparseScatterRows sum acc=${accumulate}`);
        else assert.deepEqual(sa, sInit, 'sum untouched when null');
      }
    }
  }
});

ptest('sparseScatterRows tiled = by latent bit for bit (row blocks, a narrow last slice, zero coefficients, sums, accumulate)', (n) => {
  // R = 9000 rows: more than one tile of rows whatever the L2 (at most 4096 rows a tile); D = 70 and 200:
  // a last column slice narrower than 64; H = 40: every latent has many pairs, some none (H = 300, k = 2).
  for (const [R, k, H, D] of [[9000, 8, 40, 70], [300, 12, 50, 200], [700, 2, 300, 64], [64, 3, 5, 130], [0, 3, 5, 70]] as const) {
    const p = problem(R, k, H, D, 3 * R + D);
    for (const accumulate of [false, true]) {
      const init = randArr(H * D, rng(11)), sInit = randArr(H, rng(12));
      const a = init.slice(), b = init.slice(), sa = sInit.slice(), sb = sInit.slice(), auto = init.slice();
      n.sparseScatterRows(p.vals, p.idx, R, k, p.x, D, H, a, sa, accumulate, 1);
      n.sparseScatterRows(p.vals, p.idx, R, k, p.x, D, H, b, sb, accumulate, 2);
      n.sparseScatterRows(p.vals, p.idx, R, k, p.x, D, H, auto, null, accumulate);
      const what = `${R}x${k}x${H}x${D} acc=${accumulate}`;
      assert.deepEqual(new Uint32Array(b.buffer), new Uint32Array(a.buffer), `tiled vs by latent ${what}`);
      assert.deepEqual(new Uint32Array(sb.buffer), new Uint32Array(sa.buffer), `row sums ${what}`);
      assert.deepEqual(new Uint32Array(auto.buffer), new Uint32Array(a.buffer), `auto ${what}`);
    }
  }
  assert.throws(() => n.sparseScatterRows(new Float32Array(1), new Int32Array(1), 1, 1, new Float32Array(1), 1, 1, new Float32Array(1), null, false, 3), /path must be 0/);
});

ptest('native sparse kernels are bit-identical for 1 and 2 threads', (n) => {
  const R = 1024, k = 32, H = 2048, D = 128;
  const p = problem(R, k, H, D, 77);
  const prev = n.threads();
  const run = () => {
    const y = new Float32Array(R * D), dv = new Float32Array(R * k), gw = new Float32Array(H * D), s = new Float32Array(H);
    n.sparseDecode(p.vals, p.idx, R, k, p.W, H, D, p.bias, y);
    n.sparseDecodeGrad(p.dout, p.idx, R, k, p.W, H, D, dv);
    n.sparseScatterRows(p.vals, p.idx, R, k, p.dout, D, H, gw, s, false);
    return [y, dv, gw, s];
  };
  try {
    n.setThreads(1);
    const one = run();
    n.setThreads(2);
    const two = run();
    for (let i = 0; i < one.length; i++) assert.deepEqual(two[i], one[i], `output ${i} differs between thread counts`);
  } finally {
    n.setThreads(prev);
  }
});

ptest('native sparse kernels reject out-of-range indices and short arrays', (n) => {
  const idx = new Int32Array([0, 5]);
  const W = new Float32Array(4 * 2), out = new Float32Array(2);
  assert.throws(() => n.sparseDecode(new Float32Array(2), idx, 1, 2, W, 4, 2, null, out), /sparseDecode.*index 5/);
  assert.throws(() => n.sparseScatterRows(new Float32Array(2), new Int32Array([0, 1]), 1, 2, new Float32Array(2), 2, 4, new Float32Array(7), null, false), /sparseScatterRows: out/);
  assert.throws(() => js.sparseDecode(new Float32Array(2), idx, 1, 2, W, 4, 2, null, out), /index 5/);
});

ptest('sparseScatterRows is right when a new index set follows an earlier one of the same size', (n) => {
  const R = 64, k = 8, H = 50, D = 24;
  for (const seed of [5, 6, 5]) {
    const p = problem(R, k, H, D, seed);
    const a = new Float32Array(H * D), b = new Float32Array(H * D), sa = new Float32Array(H), sb = new Float32Array(H);
    n.sparseScatterRows(p.vals, p.idx, R, k, p.x, D, H, a, sa, false);
    js.sparseScatterRows(p.vals, p.idx, R, k, p.x, D, H, b, sb, false);
    assertClose(a, b, 1e-5, `scatter seed ${seed}`);
    assertClose(sa, sb, 1e-5, `scatter sum seed ${seed}`);
    // the same indices again with other coefficients (the cached bucket order is reused)
    const c2 = p.vals.map((v) => v * 0.5 - 0.25);
    n.sparseScatterRows(c2, p.idx, R, k, p.dout, D, H, a, sa, true);
    js.sparseScatterRows(c2, p.idx, R, k, p.dout, D, H, b, sb, true);
    assertClose(a, b, 1e-5, `scatter reuse seed ${seed}`);
    assertClose(sa, sb, 1e-5, `scatter reuse sum seed ${seed}`);
  }
});

// sparseDecodeBackward: dvals and dW of sparseDecode in one kernel (the native one computes the dots
// while scattering each latent's row). It must equal the two separate kernels exactly on the same backend.
for (const be of nat ? [js, nat] : [js]) {
  test(`sparseDecodeBackward [${be.name}] = sparseDecodeGrad + sparseScatterRows, bit for bit, overwrite and accumulate`, () => {
    for (const [R, k, H, D] of [...SHAPES, [64, 5, 9, 70] as [number, number, number, number]]) {
      const p = problem(R, k, H, D, 11 * R + D);
      for (const accumulate of [false, true]) {
        const init = randArr(H * D, rng(12));
        const dv1 = new Float32Array(R * k).fill(NaN), dw1 = init.slice();
        be.sparseDecodeBackward(p.vals, p.idx, R, k, p.dout, p.W, H, D, dv1, dw1, accumulate);
        const dv2 = new Float32Array(R * k).fill(NaN), dw2 = init.slice();
        be.sparseDecodeGrad(p.dout, p.idx, R, k, p.W, H, D, dv2);
        be.sparseScatterRows(p.vals, p.idx, R, k, p.dout, D, H, dw2, null, accumulate);
        const what = `${R}x${k}x${H}x${D} acc=${accumulate}`;
        assert.deepEqual(new Uint32Array(dv1.buffer), new Uint32Array(dv2.buffer), `dvals ${what}`);
        assert.deepEqual(new Uint32Array(dw1.buffer), new Uint32Array(dw2.buffer), `dW ${what}`);
      }
    }
  });
}

ptest('sparseDecodeBackward: native = js; bit-identical for 1 and 2 threads; index validation', (n) => {
  for (const [R, k, H, D] of SHAPES) {
    const p = problem(R, k, H, D, 13 * R + D);
    const a = [new Float32Array(R * k), new Float32Array(H * D)], b = [new Float32Array(R * k), new Float32Array(H * D)];
    n.sparseDecodeBackward(p.vals, p.idx, R, k, p.dout, p.W, H, D, a[0]!, a[1]!, false);
    js.sparseDecodeBackward(p.vals, p.idx, R, k, p.dout, p.W, H, D, b[0]!, b[1]!, false);
    assertClose(a[0]!, b[0]!, 1e-5, `sparseDecodeBackward dvals ${R}x${k}x${H}x${D}`);
    assertClose(a[1]!, b[1]!, 1e-5, `sparseDecodeBackward dW ${R}x${k}x${H}x${D}`);
  }
  const R = 1024, k = 32, H = 2048, D = 128;
  const p = problem(R, k, H, D, 78);
  const prev = n.threads();
  const run = () => {
    const dv = new Float32Array(R * k), dw = new Float32Array(H * D);
    n.sparseDecodeBackward(p.vals, p.idx, R, k, p.dout, p.W, H, D, dv, dw, false);
    return [dv, dw];
  };
  try {
    n.setThreads(1);
    const one = run();
    n.setThreads(2);
    const two = run();
    for (let i = 0; i < one.length; i++) assert.deepEqual(two[i], one[i], `output ${i} differs between thread counts`);
  } finally {
    n.setThreads(prev);
  }
  assert.throws(() => n.sparseDecodeBackward(new Float32Array(2), new Int32Array([0, 5]), 1, 2, new Float32Array(2), new Float32Array(8), 4, 2,
    new Float32Array(2), new Float32Array(8), false), /sparseDecodeBackward.*index 5/);
  assert.throws(() => n.sparseDecodeBackward(new Float32Array(2), new Int32Array([0, 1]), 1, 2, new Float32Array(2), new Float32Array(8), 4, 2,
    new Float32Array(2), new Float32Array(7), false), /sparseDecodeBackward: dW/);
});
