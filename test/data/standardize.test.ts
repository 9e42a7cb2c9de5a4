import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StandardScaler } from '../../src/data/standardize.js';

test('fit/transform gives zero mean, unit population std; inverse restores input', () => {
  const X = new Float64Array([1, 100, 2, 300, 3, 200, 6, 400]);
  const sc = new StandardScaler().fit(X, 4, 2);
  // Closed form: column 0 mean 3, var ((4+1+0+9)/4) = 3.5.
  assert.equal(sc.mean[0], 3);
  assert.ok(Math.abs(sc.std[0] - Math.sqrt(3.5)) < 1e-15);
  const Z = sc.transform(X, 4);
  assert.ok(Z instanceof Float64Array);
  for (let j = 0; j < 2; j++) {
    let m = 0, v = 0;
    for (let i = 0; i < 4; i++) m += Z[i * 2 + j] / 4;
    for (let i = 0; i < 4; i++) v += (Z[i * 2 + j] - m) ** 2 / 4;
    assert.ok(Math.abs(m) < 1e-12 && Math.abs(v - 1) < 1e-12);
  }
  const back = sc.inverseTransform(Z, 4);
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(back[i] - X[i]) < 1e-10);
  const f32 = sc.transform(Float32Array.from(X), 4);
  assert.ok(f32 instanceof Float32Array);
  const again = StandardScaler.fromJSON(JSON.parse(JSON.stringify(sc.toJSON())));
  assert.deepEqual(Array.from(again.transform(X, 4)), Array.from(Z));
});

test('constant columns are named in the error, or kept with std 1', () => {
  const X = [1, 7, 2, 2, 7, 2, 3, 7, 2];
  assert.throws(() => new StandardScaler({ columnNames: ['a', 'b', 'c'] }).fit(X, 3, 3), /constant columns "b" \(index 1\), "c" \(index 2\)/);
  const sc = new StandardScaler({ onConstant: 'keep' }).fit(X, 3, 3);
  assert.deepEqual(sc.constantColumns, [1, 2]);
  assert.deepEqual(Array.from(sc.transform(Float64Array.from(X), 3)).filter((_, i) => i % 3 === 1), [0, 0, 0]);
  assert.throws(() => new StandardScaler().fit([1, NaN], 2, 1), /non-finite value NaN at row 1/);
  assert.throws(() => new StandardScaler().fit([1, 2, 3, 5], 2, 2).transform(new Float64Array(3), 1), /expected 1×2/);
});
