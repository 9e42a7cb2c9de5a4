// PyTorch reference fixtures (scripts/fixtures/gen_nn_fixtures.py, torch 1.13): each network loads
// torch's initial weights through loadStateDict, then output, MSE loss, every parameter gradient and
// the input gradient must match torch to float32 tolerances. Runs on every available backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/core/backend/index.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { mseLoss } from '../../src/core/ops/loss.js';
import { Generator } from '../../src/core/random.js';
import {
  ActivationLayer, BatchNorm1d, Conv2d, ConvTranspose2d, MLP, Module, MultiHeadAttention, Sequential, TransformerBlock,
} from '../../src/nn/index.js';
import { assertClose, testBackends } from '../helpers/gradcheck.js';
import { loadFixture, toStateDict, toTensor, type TensorRecord } from './fixture-util.js';

const ATOL = 1e-5, RTOL = 1e-4;

function close(actual: Tensor, expected: TensorRecord, what: string, atol = ATOL, rtol = RTOL): void {
  assert.deepEqual([...actual.shape], expected.shape, `${what}: shape`);
  assertClose(actual.data, expected.data, atol, rtol, what);
}

/** Loads the fixture's weights, runs forward + MSE + backward, compares everything. */
function checkNet(name: string, model: Module, forward: (x: Tensor) => Tensor): void {
  const fx = loadFixture(name);
  model.loadStateDict(toStateDict(fx.params));
  const x = toTensor(fx.input, true);
  scope(() => {
    const y = forward(x);
    close(y, fx.output, `${name} output`);
    const loss = mseLoss(y, toTensor(fx.target));
    assert.ok(Math.abs(loss.item() - fx.loss) <= 1e-5 + 1e-4 * Math.abs(fx.loss), `${name} loss ${loss.item()} vs ${fx.loss}`);
    loss.backward();
  });
  const named = model.namedParameters();
  assert.deepEqual(named.map(([k]) => k).sort(), Object.keys(fx.grads).sort(), `${name}: parameter names`);
  for (const [k, p] of named) close(p.grad!, fx.grads[k], `${name} grad ${k}`);
  close(x.grad!, fx.inputGrad, `${name} input grad`);
  model.zeroGrad();
}

for (const b of testBackends()) {
  const tag = `[${b.name}]`;

  test(`MLP 8→16→4 (Linear, LayerNorm, GELU, Linear) matches PyTorch ${tag}`, () => {
    setBackend(b);
    const mlp = new MLP([8, 16, 4], new Generator(0), { activation: 'gelu', layerNorm: true });
    checkNet('mlp', mlp, (x) => mlp.forward(x));
  });

  test(`Conv2d(s2,p1) → ReLU → ConvTranspose2d(s2,p1,op1) on [2,1,8,8] matches PyTorch ${tag}`, () => {
    setBackend(b);
    const g = new Generator(0);
    const net = new Sequential(
      new Conv2d(1, 4, 3, g, { stride: 2, padding: 1 }),
      new ActivationLayer('relu'),
      new ConvTranspose2d(4, 1, 3, g, { stride: 2, padding: 1, outputPadding: 1 }),
    );
    checkNet('conv', net, (x) => net.forward(x));
  });

  test(`MultiHeadAttention (2 heads, causal) on [2,5,8] matches nn.MultiheadAttention ${tag}`, () => {
    setBackend(b);
    const mha = new MultiHeadAttention(8, 2, new Generator(0));
    checkNet('mha', mha, (x) => mha.forward(x, { causal: true }));
  });

  test(`the same causal mask given as attnMask (nonzero = masked) gives the same result ${tag}`, () => {
    setBackend(b);
    const mha = new MultiHeadAttention(8, 2, new Generator(0));
    const mask = new Float32Array(25);
    for (let i = 0; i < 5; i++) for (let j = i + 1; j < 5; j++) mask[i * 5 + j] = 1;
    checkNet('mha', mha, (x) => mha.forward(x, { attnMask: new Tensor(mask, [5, 5]) }));
    // Attention weights: rows sum to 1 and respect causality.
    const { weights } = mha.attend(toTensor(loadFixture('mha').input), { causal: true });
    assert.deepEqual(weights.shape, [2, 2, 5, 5]);
    for (let r = 0; r < 20; r++) {
      const i = r % 5;
      let s = 0;
      for (let j = 0; j < 5; j++) { const w = weights.data[r * 5 + j]!; s += w; if (j > i) assert.equal(w, 0); }
      assert.ok(Math.abs(s - 1) < 1e-6);
    }
  });

  test(`cross-attention with separate key/value and a key padding mask matches PyTorch ${tag}`, () => {
    setBackend(b);
    const fx = loadFixture('mha_cross');
    const mha = new MultiHeadAttention(8, 2, new Generator(0));
    mha.loadStateDict(toStateDict(fx.params));
    const q = toTensor(fx.query, true), k = toTensor(fx.key, true), v = toTensor(fx.value, true);
    const { output, weights } = mha.attend(q, { key: k, value: v, keyPaddingMask: toTensor(fx.keyPadding) });
    close(output, fx.output, 'cross output');
    close(weights, fx.weights, 'cross attention weights');
    const loss = mseLoss(output, toTensor(fx.target));
    assert.ok(Math.abs(loss.item() - fx.loss) <= 1e-5 + 1e-4 * fx.loss);
    loss.backward();
    for (const [n, p] of mha.namedParameters()) close(p.grad!, fx.grads[n], `cross grad ${n}`);
    close(q.grad!, fx.queryGrad, 'cross query grad');
    close(k.grad!, fx.keyGrad, 'cross key grad');
    close(v.grad!, fx.valueGrad, 'cross value grad');
  });

  test(`pre-LN TransformerBlock (causal) on [2,5,8] matches a PyTorch reference ${tag}`, () => {
    setBackend(b);
    const blk = new TransformerBlock(8, 2, new Generator(0));
    checkNet('block', blk, (x) => blk.forward(x, { causal: true }));
  });

  test(`BatchNorm1d train/eval outputs, gradients and running stats match PyTorch ${tag}`, () => {
    setBackend(b);
    const fx = loadFixture('batchnorm');
    const bn = new BatchNorm1d(4);
    bn.loadStateDict(toStateDict(fx.params));
    const x1 = toTensor(fx.x1, true);
    const y1 = bn.forward(x1);
    close(y1, fx.y1, 'bn y1');
    const loss = mseLoss(y1, toTensor(fx.target));
    assert.ok(Math.abs(loss.item() - fx.loss) < 1e-5 + 1e-4 * fx.loss);
    loss.backward();
    close(bn.weight!.grad!, fx.grads.weight, 'bn grad weight');
    close(bn.bias!.grad!, fx.grads.bias, 'bn grad bias');
    close(x1.grad!, fx.x1Grad, 'bn input grad');
    const sd1 = bn.stateDict();
    for (const k of ['running_mean', 'running_var', 'num_batches_tracked']) close(sd1.get(k)!, fx.stats1[k], `bn stats1 ${k}`);
    close(bn.forward(toTensor(fx.x2)), fx.y2, 'bn y2');
    const sd2 = bn.stateDict();
    for (const k of ['running_mean', 'running_var', 'num_batches_tracked']) close(sd2.get(k)!, fx.stats2[k], `bn stats2 ${k}`);
    bn.eval();
    close(bn.forward(toTensor(fx.x3)), fx.y3, 'bn eval y3');
    assert.equal(bn.num_batches_tracked!.data[0], 2, 'eval does not count batches');
    // [B, C, L] input: per-channel statistics over batch and length.
    const bn3 = new BatchNorm1d(3);
    close(bn3.forward(toTensor(fx.x4)), fx.y4, 'bn [B,C,L] y4');
    for (const k of ['running_mean', 'running_var']) close(bn3.stateDict().get(k)!, fx.stats4[k], `bn [B,C,L] ${k}`);
  });
}
