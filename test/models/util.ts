/** Helpers for the model tests: fixture loading (test/fixtures/models/*.json) and comparisons. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tensor, tensor } from '../../src/core/tensor.js';
import type { Module } from '../../src/nn/module.js';
import { assertClose } from '../helpers/gradcheck.js';

export interface TensorRecord { shape: number[]; data: number[] }

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/models/', import.meta.url));

export function loadFixture(name: string): any {
  return JSON.parse(readFileSync(`${FIXTURES}${name}.json`, 'utf8'));
}

export function toTensor(r: TensorRecord, requiresGrad = false): Tensor {
  return tensor(r.data, r.shape, requiresGrad);
}

export function stateDict(rec: Record<string, TensorRecord>): Map<string, Tensor> {
  return new Map(Object.entries(rec).map(([k, r]) => [k, toTensor(r)]));
}

export function close(actual: ArrayLike<number>, expected: ArrayLike<number> | number, what: string, atol = 1e-5, rtol = 1e-4): void {
  const e = typeof expected === 'number' ? [expected] : expected;
  assertClose(actual, e, atol, rtol, what);
}

/** Every parameter's gradient equals the fixture's (same names, same values). */
export function checkGrads(model: Module, expected: Record<string, TensorRecord>, what: string, atol = 1e-5, rtol = 1e-4): void {
  const named = model.namedParameters();
  assert.deepEqual(named.map(([k]) => k).sort(), Object.keys(expected).sort(), `${what}: parameter names`);
  for (const [k, p] of named) {
    assert.ok(p.grad, `${what}: ${k} has no gradient`);
    assert.deepEqual([...p.grad.shape], expected[k]!.shape, `${what}: grad ${k} shape`);
    close(p.grad.data, expected[k]!.data, `${what} grad ${k}`, atol, rtol);
  }
  model.zeroGrad();
}

/** A small deterministic float generator (LCG) for test data. */
export function lcg(seed: number): () => number {
  let s = (seed * 2654435761 + 12345) >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}
