import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, philox4x32_10, type GeneratorState } from '../../src/core/random.js';

const hex = (xs: ArrayLike<number>) => Array.from(xs, (x) => (x >>> 0).toString(16).padStart(8, '0'));

test('philox4x32-10 matches the Random123 known-answer vectors', () => {
  assert.deepEqual(hex(philox4x32_10([0, 0, 0, 0], [0, 0])), ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
  const f = 0xffffffff;
  assert.deepEqual(hex(philox4x32_10([f, f, f, f], [f, f])), ['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
  // The "pi digits" vector from the same suite.
  assert.deepEqual(
    hex(philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])),
    ['d16cfe09', '94fdcceb', '5001e420', '24126ea1'],
  );
});

test('stream layout: seed is the key, block index counts up (values from an independent Python Philox)', () => {
  const g = new Generator(42);
  assert.deepEqual(hex(Array.from({ length: 8 }, () => g.nextUint32())), [
    '9ceaf053', '77f5493b', '12bf50ad', '5742b3d7', 'fcdb2127', '53ba6cfd', '838f5a6e', '744e06fb',
  ]);
  const big = new Generator(2n ** 40n + 5n);
  assert.deepEqual(hex(Array.from({ length: 6 }, () => big.nextUint32())), ['5e5be6ae', '22e16345', '30ca2230', '0af26f4b', '461e3af4', 'cf0cf422']);
  assert.equal(new Generator(2 ** 40 + 5).nextUint32(), 0x5e5be6ae, 'number and bigint seeds agree');
  const child = new Generator(7).split();
  assert.deepEqual(hex(Array.from({ length: 4 }, () => child.nextUint32())), ['7fc27fdc', 'df515210', '4f6b72b6', 'd8d5d12f']);
});

test('same seed gives the same numbers; different seeds and splits differ', () => {
  const draw = (g: Generator) => Array.from(g.uniform(new Float32Array(64)));
  assert.deepEqual(draw(new Generator(123)), draw(new Generator(123)));
  assert.notDeepEqual(draw(new Generator(123)), draw(new Generator(124)));
  const p = new Generator(5);
  const [a, b, c] = p.fork(3);
  const sa = draw(a), sb = draw(b), sc = draw(c), sp = draw(p);
  for (const [x, y] of [[sa, sb], [sa, sc], [sb, sc], [sa, sp], [sb, sp]]) assert.notDeepEqual(x, y);
  // fork is deterministic.
  const [a2, b2] = new Generator(5).fork(2);
  assert.deepEqual(draw(a2), sa);
  assert.deepEqual(draw(b2), sb);
  // Splitting in the middle of a block still gives reproducible children.
  const q1 = new Generator(9);
  q1.nextUint32();
  const q2 = new Generator(9);
  q2.nextUint32();
  assert.deepEqual(draw(q1.split()), draw(q2.split()));
  // Child and grandchild streams do not collide with the parent's own continuation.
  const r = new Generator(1);
  const kid = r.split();
  assert.notDeepEqual(draw(kid.split()), draw(r));
});

test('rejects invalid seeds', () => {
  assert.throws(() => new Generator(1.5), RangeError);
  assert.throws(() => new Generator(Number.MAX_SAFE_INTEGER + 2), RangeError);
  // Negative seeds wrap to 64 bits, deterministically.
  assert.equal(new Generator(-1).nextUint32(), new Generator(2n ** 64n - 1n).nextUint32());
});

function moments(x: Float32Array) {
  let m = 0;
  for (const v of x) m += v;
  m /= x.length;
  let m2 = 0, m3 = 0, m4 = 0;
  for (const v of x) {
    const d = v - m;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= x.length;
  m3 /= x.length;
  m4 /= x.length;
  return { mean: m, variance: m2, skew: m3 / m2 ** 1.5, exkurt: m4 / (m2 * m2) - 3 };
}

test('uniform: range, mean, variance and bucket counts within statistical tolerance', () => {
  const n = 200_000;
  const x = new Generator(2024).uniform(new Float32Array(n));
  const { mean, variance } = moments(x);
  // 5 standard errors: mean SE = sqrt(1/12/n) ≈ 6.5e-4; variance SE ≈ 1.7e-4.
  assert.ok(Math.abs(mean - 0.5) < 0.0033, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1 / 12) < 0.0009, `variance ${variance}`);
  const buckets = new Array(20).fill(0);
  for (const v of x) {
    assert.ok(v >= 0 && v < 1);
    buckets[Math.floor(v * 20)]++;
  }
  const e = n / 20;
  const chi2 = buckets.reduce((s, c) => s + (c - e) ** 2 / e, 0);
  assert.ok(chi2 < 50, `chi2 ${chi2} (19 dof, p≈1e-4 at 50)`);
  const y = new Generator(1).uniform(new Float32Array(10_000), -3, 5);
  assert.ok(y.every((v) => v >= -3 && v < 5));
  assert.ok(Math.min(...y) < -2.9 && Math.max(...y) > 4.9);
  // A range of a single float32 ulp can only produce lo.
  const lo = 1, hi = 1 + 2 ** -23;
  assert.ok(new Generator(3).uniform(new Float32Array(1000), lo, hi).every((v) => v === lo));
  assert.throws(() => new Generator(1).uniform(new Float32Array(1), 1, 1), RangeError);
});

test('normal: moments within statistical tolerance; mean/std are applied', () => {
  const n = 200_000;
  const x = new Generator(77).normal(new Float32Array(n));
  const m = moments(x);
  assert.ok(Math.abs(m.mean) < 0.012, `mean ${m.mean}`);
  assert.ok(Math.abs(m.variance - 1) < 0.016, `variance ${m.variance}`);
  assert.ok(Math.abs(m.skew) < 0.03, `skew ${m.skew}`);
  assert.ok(Math.abs(m.exkurt) < 0.06, `excess kurtosis ${m.exkurt}`);
  // Tail mass: P(|z| > 2) = 0.0455.
  const tail = x.reduce((s, v) => s + (Math.abs(v) > 2 ? 1 : 0), 0) / n;
  assert.ok(Math.abs(tail - 0.0455) < 0.003, `tail ${tail}`);
  const y = moments(new Generator(78).normal(new Float32Array(n), 3, 0.5));
  assert.ok(Math.abs(y.mean - 3) < 0.006 && Math.abs(y.variance - 0.25) < 0.004, JSON.stringify(y));
  // Odd lengths are deterministic and the stream position depends only on the length.
  const g1 = new Generator(5), g2 = new Generator(5);
  g1.normal(new Float32Array(3));
  g2.normal(new Float32Array(4));
  assert.equal(g1.nextUint32(), g2.nextUint32());
});

test('randint is unbiased and in range; bernoulli matches p', () => {
  const g = new Generator(11);
  const k = 7, n = 70_000;
  const counts = new Array(k).fill(0);
  for (let i = 0; i < n; i++) {
    const v = g.randint(k);
    assert.ok(Number.isInteger(v) && v >= 0 && v < k);
    counts[v]++;
  }
  const e = n / k;
  const chi2 = counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
  assert.ok(chi2 < 30, `chi2 ${chi2}`);
  // For max = 3·2^30 a plain modulo would make 0 twice as likely as 2^31 + 1; rejection keeps halves even.
  const big = 3 * 2 ** 30;
  let low = 0;
  for (let i = 0; i < 30_000; i++) if (g.randint(big) < big / 2) low++;
  assert.ok(Math.abs(low / 30_000 - 0.5) < 0.015, `low half share ${low / 30_000}`);
  assert.equal(g.randint(1), 0);
  assert.throws(() => g.randint(0), RangeError);
  const b = g.bernoulli(new Float32Array(100_000), 0.3);
  assert.ok(b.every((v) => v === 0 || v === 1));
  const share = b.reduce((s, v) => s + v, 0) / b.length;
  assert.ok(Math.abs(share - 0.3) < 0.0075, `share ${share}`);
  assert.ok(g.bernoulli(new Float32Array(100), 0).every((v) => v === 0));
  assert.ok(g.bernoulli(new Float32Array(100), 1).every((v) => v === 1));
});

test('permutation, shuffle and choice', () => {
  const g = new Generator(3);
  for (const n of [0, 1, 2, 10, 1000]) {
    const p = g.permutation(n);
    assert.equal(p.length, n);
    assert.deepEqual(Array.from(p).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  }
  assert.notDeepEqual(Array.from(g.permutation(50)), Array.from({ length: 50 }, (_, i) => i));
  // Each of the 6 orderings of 3 items appears about equally often.
  const seen = new Map<string, number>();
  for (let i = 0; i < 6000; i++) {
    const k = Array.from(g.permutation(3)).join('');
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  assert.equal(seen.size, 6);
  for (const c of seen.values()) assert.ok(Math.abs(c - 1000) < 150, `count ${c}`);
  const arr = ['a', 'b', 'c', 'd', 'e'];
  assert.equal(g.shuffle(arr), arr);
  assert.deepEqual([...arr].sort(), ['a', 'b', 'c', 'd', 'e']);
  const c = g.choice(1_000_000_000, 1000);
  assert.equal(new Set(c).size, 1000, 'no repeats without replacement');
  assert.ok(c.every((v) => v >= 0 && v < 1_000_000_000));
  assert.deepEqual(Array.from(g.choice(5, 5)).sort(), [0, 1, 2, 3, 4]);
  const r = g.choice(3, 100, true);
  assert.ok(r.every((v) => v >= 0 && v < 3) && new Set(r).size === 3);
  assert.throws(() => g.choice(3, 4), RangeError);
});

test('state round trip resumes the exact stream, including mid-block and through JSON', () => {
  for (const consumed of [0, 1, 3, 4, 5, 11]) {
    const g = new Generator(99n);
    for (let i = 0; i < consumed; i++) g.nextUint32();
    const s = JSON.parse(JSON.stringify(g.state())) as GeneratorState;
    const h = Generator.fromState(s);
    const a = g.normal(new Float32Array(33));
    const b = h.normal(new Float32Array(33));
    assert.deepEqual(Array.from(b), Array.from(a), `after ${consumed} draws`);
    assert.equal(h.nextUint32(), g.nextUint32());
  }
  const child = new Generator(4).split();
  child.nextUint32();
  const again = Generator.fromState(child.state());
  assert.equal(again.nextUint32(), child.nextUint32());
  // Counter carry across the 2^32 boundary of the low counter word.
  const s: GeneratorState = { version: 1, algorithm: 'philox4x32-10', key: '0000000000000000', counter: '0000000000000000ffffffffffffffff', index: 4 };
  const w = Generator.fromState(s);
  assert.deepEqual(hex([w.nextUint32(), w.nextUint32(), w.nextUint32(), w.nextUint32()]), hex(philox4x32_10([0xffffffff, 0xffffffff, 0, 0], [0, 0])));
  assert.equal(w.nextUint32(), philox4x32_10([0, 0, 0, 0], [0, 0])[0]);
  assert.throws(() => Generator.fromState({ ...s, key: 'xyz' }), TypeError);
  assert.throws(() => Generator.fromState({ ...s, index: 5 }), TypeError);
});
