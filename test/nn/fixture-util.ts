/**
 * Helpers for the PyTorch-fixture tests: loading test/fixtures/nn/*.json (written by
 * scripts/fixtures/gen_nn_fixtures.py) and turning its {shape, data} records into tensors.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tensor, intTensor, tensor } from '../../src/core/tensor.js';

export interface TensorRecord { shape: number[]; data: number[] }

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/nn/', import.meta.url));

export function loadFixture(name: string): any {
  return JSON.parse(readFileSync(`${FIXTURES}${name}.json`, 'utf8'));
}

export function toTensor(r: TensorRecord, requiresGrad = false): Tensor {
  return tensor(r.data, r.shape, requiresGrad);
}

/** A state dict from a fixture's {name: record}; num_batches_tracked becomes int32. */
export function toStateDict(rec: Record<string, TensorRecord>): Map<string, Tensor> {
  const m = new Map<string, Tensor>();
  for (const [k, r] of Object.entries(rec)) m.set(k, k.endsWith('num_batches_tracked') ? intTensor(r.data, r.shape) : toTensor(r));
  return m;
}
