/**
 * Test helpers shared by the op tests (and anyone testing a differentiable module):
 *
 * - `gradcheck(fn, inputs)` compares the autograd gradient of L = Σ fn(...inputs) ⊙ W (W fixed
 *   random weights, so every output element matters with a different weight) with central finite
 *   differences (L(x + ε) - L(x - ε)) / (2ε), L accumulated in float64. It throws an AssertionError
 *   naming the input, the element and both values on the first mismatch beyond atol + rtol·|g|.
 * - `rand` / `randInt`: deterministic inputs from a seeded LCG.
 * - `testBackends()`: the js backend, plus the native one when its addon loads.
 */
import assert from 'node:assert/strict';
import { Tensor, fromBuffer, noGrad } from '../../src/core/tensor.js';
import { after, before, describe } from 'node:test';
import { backend, createJsBackend, loadNativeBackend, setBackend, type Backend } from '../../src/core/backend/index.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-2: float32 forward values need a large step). */
  eps?: number;
  /** Absolute tolerance (default 1e-2). */
  atol?: number;
  /** Relative tolerance (default 1e-2). */
  rtol?: number;
  /** Seed of the output weights. */
  seed?: number;
}

/** A small deterministic generator (LCG, Numerical Recipes constants) giving floats in [0, 1). */
export function lcg(seed: number): () => number {
  let s = (seed * 2654435761 + 12345) >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** A float32 tensor of uniform values in [lo, hi); requires grad unless told otherwise. */
export function rand(shape: readonly number[], seed: number, lo = -1, hi = 1, requiresGrad = true): Tensor {
  const r = lcg(seed);
  const n = shape.reduce((p, d) => p * d, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = lo + (hi - lo) * r();
  return fromBuffer(d, shape, requiresGrad);
}

/** Like rand but every value has |v| in [minAbs, maxAbs) with a random sign (keeps away from kinks at 0). */
export function randAway(shape: readonly number[], seed: number, minAbs = 0.2, maxAbs = 1.5): Tensor {
  const r = lcg(seed);
  const n = shape.reduce((p, d) => p * d, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = (r() < 0.5 ? -1 : 1) * (minAbs + (maxAbs - minAbs) * r());
  return fromBuffer(d, shape, true);
}

/** An int32 tensor of uniform integers in [0, hi). */
export function randInt(shape: readonly number[], seed: number, hi: number): Tensor {
  const r = lcg(seed);
  const n = shape.reduce((p, d) => p * d, 1);
  const d = new Int32Array(n);
  for (let i = 0; i < n; i++) d[i] = Math.floor(r() * hi);
  return fromBuffer(d, shape);
}

/** Float64 Σ out ⊙ w. */
function weighted(out: Tensor, w: Float64Array): number {
  const d = out.data;
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i]! * w[i]!;
  return s;
}

export interface GradcheckResult {
  /** Largest |analytic - numeric| seen. */
  maxAbsError: number;
  /** Number of gradient elements compared. */
  checked: number;
}

/**
 * Checks the gradients of fn wrt every input that requires grad (others, e.g. int32 indices, are
 * passed through unchanged). Inputs must be leaves; their `.grad` is reset.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const eps = opts.eps ?? 1e-2, atol = opts.atol ?? 1e-2, rtol = opts.rtol ?? 1e-2;
  const targets = inputs.map((t, i) => [t, i] as const).filter(([t]) => t.requiresGrad);
  assert.ok(targets.length > 0, 'gradcheck: no input requires grad');
  for (const [t] of targets) t.grad = null;

  const out = fn(...inputs);
  assert.ok(out.requiresGrad, 'gradcheck: the output does not require grad (no gradient was recorded)');
  const r = lcg(opts.seed ?? 7);
  // Weights in ±[0.5, 1.5): never near zero, and different per element so mixed-up elements show.
  const w = new Float64Array(out.size);
  const wf = new Float32Array(out.size);
  for (let i = 0; i < w.length; i++) {
    wf[i] = (r() < 0.5 ? -1 : 1) * (0.5 + r());
    w[i] = wf[i]!;
  }
  out.backward(fromBuffer(wf, out.shape));

  let maxAbsError = 0, checked = 0;
  for (const [t, idx] of targets) {
    const analytic = t.grad ? Float64Array.from(t.grad.data) : new Float64Array(t.size);
    const data = t.f32('gradcheck');
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      data[i] = v + eps;
      const hiV = data[i]!;
      const lp = noGrad(() => weighted(fn(...inputs), w));
      data[i] = v - eps;
      const loV = data[i]!;
      const lm = noGrad(() => weighted(fn(...inputs), w));
      data[i] = v;
      // Divide by the step actually taken after float32 rounding.
      const numeric = (lp - lm) / (hiV - loV);
      const a = analytic[i]!;
      const err = Math.abs(a - numeric);
      maxAbsError = Math.max(maxAbsError, err);
      checked++;
      if (!(err <= atol + rtol * Math.max(Math.abs(a), Math.abs(numeric)))) {
        assert.fail(`gradcheck: input ${idx} ${JSON.stringify(t.shape)} element ${i} (value ${v}): analytic ${a} vs numeric ${numeric} (|diff| ${err})`);
      }
    }
  }
  for (const [t] of targets) t.zeroGrad();
  return { maxAbsError, checked };
}

/** The backends to run op tests on: js always, native when the addon loads. */
export function testBackends(): Backend[] {
  const out: Backend[] = [createJsBackend()];
  const n = loadNativeBackend();
  if (n.backend) out.push(n.backend);
  return out;
}

/** Asserts two float arrays agree elementwise within atol + rtol·|expected|. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${what}[${i}]: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)})`);
    }
  }
}

/** Runs `run` on the backend with 1 and then 2 threads (restoring its setting) and asserts the outputs are bit-identical. */
export function assertSameBitsForThreads(be: Backend, run: () => ArrayLike<number>[]): void {
  const prev = be.threads();
  try {
    be.setThreads(1);
    const one = run();
    be.setThreads(2);
    const two = run();
    one.forEach((a, i) => assert.deepEqual(two[i], a, `output ${i}`));
  } finally {
    be.setThreads(prev);
  }
}

/** Asserts max |a − e| / max(max |e|, tiny) ≤ tol: the relative error of a whole tensor. */
export function assertRelError(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let num = 0, den = 0;
  for (let i = 0; i < expected.length; i++) {
    num = Math.max(num, Math.abs(actual[i]! - expected[i]!));
    den = Math.max(den, Math.abs(expected[i]!));
  }
  const r = num / Math.max(den, 1e-30);
  assert.ok(r <= tol, `${what}: relative error ${r} > ${tol}`);
}

/**
 * Registers `body` once per available backend inside a describe block that switches the process
 * backend before its tests run (and restores the previous one after).
 */
export function describeBackends(title: string, body: (backendName: string) => void): void {
  for (const be of testBackends()) {
    describe(`${title} [${be.name}]`, () => {
      let prev: Backend | null = null;
      before(() => {
        prev = backend();
        setBackend(be);
      });
      after(() => {
        if (prev) setBackend(prev);
      });
      body(be.name);
    });
  }
}
