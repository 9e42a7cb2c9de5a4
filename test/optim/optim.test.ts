// Optimisers: three steps on the fixture MLP must reproduce torch.optim's weights; hand-computed
// SGD updates; parameter groups; bit-identical resume from stateDict; option validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/core/backend/index.js';
import { Tensor, scope, tensor } from '../../src/core/tensor.js';
import { mseLoss } from '../../src/core/ops/loss.js';
import { sum } from '../../src/core/ops/reduce.js';
import { Generator } from '../../src/core/random.js';
import { MLP, param } from '../../src/nn/index.js';
import { Adam, AdamW, SGD, type Optimizer } from '../../src/optim/index.js';
import { assertClose, testBackends } from '../helpers/gradcheck.js';
import { loadFixture, toStateDict, toTensor } from '../nn/fixture-util.js';

const fx = loadFixture('optim');

function fixtureMlp(): MLP {
  const m = new MLP([8, 16, 4], new Generator(0), { activation: 'gelu', layerNorm: true });
  m.loadStateDict(toStateDict(fx.params));
  return m;
}

function trainSteps(m: MLP, opt: Optimizer, x: Tensor, y: Tensor, n: number): number[] {
  const losses: number[] = [];
  for (let i = 0; i < n; i++) {
    scope(() => {
      opt.zeroGrad();
      const loss = mseLoss(m.forward(x), y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    });
  }
  return losses;
}

const configs: [string, (ps: Tensor[]) => Optimizer][] = [
  ['adam', (ps) => new Adam(ps, { lr: 1e-2 })],
  ['adamw', (ps) => new AdamW(ps, { lr: 1e-2, weightDecay: 0.1 })],
  ['sgd_momentum', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 })],
  ['sgd_nesterov', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.8, nesterov: true })],
];

for (const b of testBackends()) {
  for (const [name, make] of configs) {
    test(`${name}: 3 steps on the MLP match torch.optim [${b.name}]`, () => {
      setBackend(b);
      const m = fixtureMlp();
      const losses = trainSteps(m, make(m.parameters()), toTensor(fx.input), toTensor(fx.target), fx.steps);
      assertClose(losses, fx[name].losses, 1e-5, 1e-4, `${name} losses`);
      const final = toStateDict(fx[name].final);
      for (const [k, t] of m.stateDict()) assertClose(t.data, final.get(k)!.data, 1e-5, 1e-4, `${name} ${k}`);
    });
  }
}

test('SGD hand-computed: momentum buffer, weight decay, nesterov', () => {
  const p = param(tensor([1, -2]));
  const opt = new SGD([p], { lr: 0.5, momentum: 0.5, weightDecay: 0.1 });
  p.grad = tensor([0.2, 0.4]);
  opt.step();
  // g = [0.2 + 0.1, 0.4 - 0.2] = [0.3, 0.2]; buf = g; p = p - 0.5 g
  assertClose(p.data, [0.85, -2.1], 1e-7, 0);
  p.grad = tensor([0.2, 0.4]);
  opt.step();
  // g = [0.285, 0.19]; buf = 0.5 [0.3, 0.2] + g = [0.435, 0.29]; p -= 0.5 buf
  assertClose(p.data, [0.85 - 0.2175, -2.1 - 0.145], 1e-6, 0);
  const q = param(tensor([1]));
  const nes = new SGD([q], { lr: 0.1, momentum: 0.9, nesterov: true });
  q.grad = tensor([1]);
  nes.step(); // buf = 1; g = 1 + 0.9 = 1.9
  assertClose(q.data, [1 - 0.19], 1e-7, 0);
  q.grad = tensor([1]);
  nes.step(); // buf = 1.9; g = 1 + 1.71 = 2.71
  assertClose(q.data, [1 - 0.19 - 0.271], 1e-6, 0);
});

test('Adam first step moves each weight by lr·sign(g) (bias-corrected), skips params without grad', () => {
  const p = param(tensor([1, 2, 3]));
  const untouched = param(tensor([5]));
  const opt = new Adam([p, untouched], { lr: 0.1 });
  p.grad = tensor([0.5, -3, 1e-3]);
  opt.step();
  assertClose(p.data, [0.9, 2.1, 2.9], 1e-5, 0);
  assert.deepEqual(untouched.toArray(), [5]);
  assert.equal(opt.stateDict().tensors.size, 2, 'state only for the updated parameter');
});

test('parameter groups take their own options; lr setter sets every group', () => {
  const a = param(tensor([1])), b = param(tensor([1]));
  const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
  a.grad = tensor([1]);
  b.grad = tensor([1]);
  opt.step();
  assertClose(a.data, [0.9], 1e-7, 0);
  assertClose(b.data, [0.5], 1e-7, 0);
  opt.lr = 0.01;
  assert.deepEqual(opt.groups.map((g) => g.options.lr), [0.01, 0.01]);
  opt.zeroGrad();
  assert.equal(a.grad, null);
  assert.throws(() => new SGD([{ params: [a], bogus: 1 } as never], { lr: 1 }), /unknown option 'bogus'/);
  assert.throws(() => new SGD([a, a], { lr: 1 }), /more than one place/);
  assert.throws(() => new SGD([tensor([1])], { lr: 1 }), /does not require grad/);
  assert.throws(() => new SGD([a], { lr: 1, nesterov: true }), /nesterov needs momentum/);
});

for (const [name, make] of configs) {
  test(`${name}: resuming from stateDict (through JSON) continues bit-identically`, () => {
    const x = toTensor(fx.input), y = toTensor(fx.target);
    // Reference: 5 uninterrupted steps.
    const ref = fixtureMlp();
    const refLosses = trainSteps(ref, make(ref.parameters()), x, y, 5);
    // Interrupted: 2 steps, save model + optimiser (scalars through JSON), rebuild, 3 more steps.
    const m1 = fixtureMlp();
    const o1 = make(m1.parameters());
    const first = trainSteps(m1, o1, x, y, 2);
    const sd = o1.stateDict();
    const json = JSON.parse(JSON.stringify({ type: sd.type, groups: sd.groups, state: sd.state }));
    const tensors = new Map([...sd.tensors].map(([k, t]) => [k, new Tensor(Float32Array.from(t.data), t.shape)]));
    const weights = new Map([...m1.stateDict()].map(([k, t]) => [k, t.clone()]));
    trainSteps(m1, o1, x, y, 1); // keep mutating the original: the saved state must be a snapshot
    const m2 = fixtureMlp();
    m2.loadStateDict(weights);
    const o2 = make(m2.parameters());
    o2.loadStateDict({ ...json, tensors });
    const rest = trainSteps(m2, o2, x, y, 3);
    assert.deepEqual([...first, ...rest], refLosses);
    for (const [k, t] of ref.stateDict()) assert.deepEqual(m2.stateDict().get(k)!.toArray(), t.toArray(), k);
  });
}

test('loadStateDict rejects a state from another optimiser or parameter list', () => {
  const a = param(tensor([1, 2])), b = param(tensor([3]));
  const adam = new Adam([a, b]);
  a.grad = tensor([1, 1]);
  b.grad = tensor([1]);
  adam.step();
  const sd = adam.stateDict();
  assert.deepEqual(sd.state, { 0: { step: 1 }, 1: { step: 1 } });
  assert.deepEqual([...sd.tensors.keys()], ['0.exp_avg', '0.exp_avg_sq', '1.exp_avg', '1.exp_avg_sq']);
  assert.throws(() => new AdamW([a, b]).loadStateDict(sd), /state is from a Adam/);
  assert.throws(() => new Adam([a]).loadStateDict(sd), /group 0 has 2 parameters in the state, 1 in the optimizer/);
  assert.throws(() => new Adam([b, a]).loadStateDict(sd), /tensor '0.exp_avg' has shape \[2\], parameter 0 has \[1\]/);
});

test('gradients of a summed loss flow through the optimiser step (sanity: loss decreases)', () => {
  const m = new MLP([4, 8, 1], new Generator(3));
  const opt = new Adam(m.parameters(), { lr: 0.05 });
  const x = tensor(Array.from({ length: 32 }, (_, i) => Math.sin(i)), [8, 4]);
  const losses: number[] = [];
  for (let i = 0; i < 30; i++) {
    scope(() => {
      opt.zeroGrad();
      const out = m.forward(x);
      const loss = sum(mseLoss(out, tensor(new Array(8).fill(1), [8, 1])));
      loss.backward();
      opt.step();
      losses.push(loss.item());
    });
  }
  assert.ok(losses[29]! < 0.1 * losses[0]!, `loss ${losses[0]} -> ${losses[29]}`);
});
