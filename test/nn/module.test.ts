// Module: parameter discovery (order, PyTorch names), buffers, stateDict round trip and load errors,
// train/eval propagation, zeroGrad, parameter counts, and survival of parameters across scopes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, empty, intTensor, ones, scope, tensor, zeros } from '../../src/core/tensor.js';
import { sum } from '../../src/core/ops/reduce.js';
import { Generator } from '../../src/core/random.js';
import {
  BatchNorm1d, Conv2d, ConvTranspose2d, Dropout, Embedding, LayerNorm, Linear, MLP, Module, MultiHeadAttention, Sequential,
  TransformerBlock, param,
} from '../../src/nn/index.js';

class Encoder extends Module {
  conv: Conv2d;
  proj: Linear;
  constructor(g: Generator) {
    super();
    this.conv = new Conv2d(1, 2, 3, g);
    this.proj = new Linear(4, 3, g);
  }
}

class Net extends Module {
  scaleP: Tensor;
  encoder: Encoder;
  layers: Linear[];
  norm: BatchNorm1d;
  cache: Tensor; // neither parameter nor buffer: ignored
  constructor(g: Generator) {
    super();
    this.scaleP = param(tensor([1]));
    this.encoder = new Encoder(g);
    this.layers = [new Linear(3, 3, g), new Linear(3, 2, g, { bias: false })];
    this.norm = new BatchNorm1d(2);
    this.cache = zeros([5]);
  }
}

test('parameters are discovered in field order with PyTorch-style dotted names', () => {
  const net = new Net(new Generator(1));
  assert.deepEqual(net.namedParameters().map(([k]) => k), [
    'scaleP',
    'encoder.conv.weight', 'encoder.conv.bias', 'encoder.proj.weight', 'encoder.proj.bias',
    'layers.0.weight', 'layers.0.bias', 'layers.1.weight',
    'norm.weight', 'norm.bias',
  ]);
  // Buffers are in the state dict (after their module's parameters) but not trainable.
  assert.deepEqual([...net.stateDict().keys()].slice(-5), ['norm.weight', 'norm.bias', 'norm.running_mean', 'norm.running_var', 'norm.num_batches_tracked']);
  assert.equal(net.stateDict().size, 13);
  assert.equal(net.numParameters(), 1 + (18 + 2) + (12 + 3) + (9 + 3) + 6 + (2 + 2));
  assert.ok(net.parameters().every((p) => p.requiresGrad));
});

test('torch-equivalent structures get torch names (Sequential, MLP, MultiheadAttention, TransformerBlock)', () => {
  const g = new Generator(2);
  const seq = new Sequential(new Conv2d(1, 4, 3, g), new Dropout(0.1, g), new ConvTranspose2d(4, 1, 3, g));
  assert.deepEqual([...seq.stateDict().keys()], ['0.weight', '0.bias', '2.weight', '2.bias']);
  assert.deepEqual(seq.stateDict().get('2.weight')!.shape, [4, 1, 3, 3]);
  const mlp = new MLP([8, 16, 4], g, { activation: 'gelu', layerNorm: true });
  assert.deepEqual([...mlp.stateDict().keys()], ['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']);
  const mha = new MultiHeadAttention(8, 2, g);
  assert.deepEqual(mha.namedParameters().map(([k, t]) => `${k}:${t.shape.join('x')}`),
    ['in_proj_weight:24x8', 'in_proj_bias:24', 'out_proj.weight:8x8', 'out_proj.bias:8']);
  const blk = new TransformerBlock(8, 2, g);
  assert.deepEqual([...blk.stateDict().keys()], [
    'ln1.weight', 'ln1.bias', 'attn.in_proj_weight', 'attn.in_proj_bias', 'attn.out_proj.weight', 'attn.out_proj.bias',
    'ln2.weight', 'ln2.bias', 'mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias',
  ]);
  assert.equal(blk.numParameters(), 2 * 16 + (192 + 24 + 64 + 8) + (256 + 32 + 256 + 8));
});

test('a tied parameter is listed once by parameters() but under both keys in stateDict()', () => {
  const g = new Generator(3);
  const a = new Linear(3, 3, g), b = new Linear(3, 3, g);
  b.weight = a.weight;
  const seq = new Sequential(a, b);
  assert.deepEqual(seq.namedParameters().map(([k]) => k), ['0.weight', '0.bias', '1.bias']);
  assert.deepEqual([...seq.stateDict().keys()], ['0.weight', '0.bias', '1.weight', '1.bias']);
});

test('stateDict round trip copies every value into a differently initialised module', () => {
  const a = new Net(new Generator(10)), b = new Net(new Generator(11));
  a.norm.running_mean!.data.set([0.5, -0.5]);
  a.norm.num_batches_tracked!.data[0] = 7;
  assert.notDeepEqual(a.encoder.conv.weight.toArray(), b.encoder.conv.weight.toArray());
  const bw = b.encoder.conv.weight;
  const res = b.loadStateDict(a.stateDict());
  assert.deepEqual(res, { missing: [], unexpected: [] });
  for (const [k, t] of a.stateDict()) assert.deepEqual(b.stateDict().get(k)!.toArray(), t.toArray(), k);
  assert.equal(b.encoder.conv.weight, bw, 'loading copies in place, keeping the parameter object');
  assert.equal(b.norm.num_batches_tracked!.dtype, 'int32');
  // Values were copied, not shared.
  a.encoder.conv.weight.data[0] = 123;
  assert.notEqual(b.encoder.conv.weight.data[0], 123);
});

test('loadStateDict errors name missing/unexpected keys and both shapes of a mismatch', () => {
  const net = new Net(new Generator(12));
  const sd = net.stateDict();
  const missing = new Map(sd);
  missing.delete('layers.1.weight');
  assert.throws(() => net.loadStateDict(missing), /missing keys: 'layers\.1\.weight'/);
  const extra = new Map(sd);
  extra.set('layers.2.weight', zeros([2]));
  assert.throws(() => net.loadStateDict(extra), /unexpected keys: 'layers\.2\.weight'/);
  // Non-strict loads report instead of throwing.
  const r = net.loadStateDict(missing, { strict: false });
  assert.deepEqual(r, { missing: ['layers.1.weight'], unexpected: [] });
  const bad = new Map(sd);
  bad.set('encoder.proj.weight', zeros([4, 3]));
  assert.throws(() => net.loadStateDict(bad, { strict: false }), /'encoder\.proj\.weight': checkpoint has \[4, 3\], module has \[3, 4\]/);
  // A failed load changes nothing.
  const before = net.encoder.proj.bias!.toArray();
  const bad2 = new Map(sd);
  bad2.set('encoder.proj.bias', zeros([3]));
  bad2.set('layers.0.weight', zeros([9]));
  assert.throws(() => net.loadStateDict(bad2));
  assert.deepEqual(net.encoder.proj.bias!.toArray(), before);
});

test('train()/eval() propagate the training flag to every descendant', () => {
  const blk = new TransformerBlock(8, 2, new Generator(4));
  assert.ok(blk.modules().every((m) => m.training));
  assert.deepEqual(blk.namedModules().map(([k]) => k), ['', 'ln1', 'attn', 'attn.out_proj', 'ln2', 'mlp', 'mlp.0', 'mlp.1', 'mlp.2']);
  assert.equal(blk.eval(), blk);
  assert.ok(blk.modules().every((m) => !m.training));
  blk.mlp.train();
  assert.deepEqual(blk.modules().map((m) => m.training), [false, false, false, false, false, true, true, true, true]);
  blk.train();
  assert.ok(blk.modules().every((m) => m.training));
});

test('zeroGrad clears gradients; parameters survive a training step scope', () => {
  const g = new Generator(5);
  const lin = scope(() => new Linear(4, 2, g)); // even a module built inside a scope keeps its storage
  const w0 = lin.weight.toArray();
  const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]);
  for (let i = 0; i < 3; i++) {
    scope(() => {
      sum(lin.forward(x)).backward();
    });
    // Scratch buffers reused by later allocations must not be the parameter's storage.
    scope(() => { for (let j = 0; j < 10; j++) empty([2, 4]).data.fill(-1); empty([8]).data.fill(-1); empty([2]).data.fill(-1); });
  }
  assert.deepEqual(lin.weight.toArray(), w0);
  // d/dW Σ(xWᵀ + b) = Σ_rows x, accumulated over 3 backward passes.
  assert.deepEqual(lin.weight.grad!.toArray(), [18, 24, 30, 36, 18, 24, 30, 36]);
  assert.deepEqual(lin.bias!.grad!.toArray(), [6, 6]);
  lin.zeroGrad();
  assert.equal(lin.weight.grad, null);
  assert.equal(lin.bias!.grad, null);
});

test('Embedding and LayerNorm defaults; summary lists buffers', () => {
  const e = new Embedding(10, 3, new Generator(6));
  assert.deepEqual(e.weight.shape, [10, 3]);
  const ln = new LayerNorm(5);
  assert.deepEqual(ln.weight!.toArray(), [1, 1, 1, 1, 1]);
  assert.deepEqual(ln.bias!.toArray(), [0, 0, 0, 0, 0]);
  const s = new BatchNorm1d(3).summary();
  assert.match(s, /running_mean \[3\] \(buffer\)/);
  assert.match(s, /6 trainable parameters/);
});

test('Dropout: identity in eval; in training zeros ≈p of the values and scales the rest by 1/(1-p)', () => {
  const d = new Dropout(0.25, new Generator(8));
  const x = ones([10000]);
  const y = d.forward(x);
  let zerosN = 0;
  for (const v of y.data) {
    if (v === 0) zerosN++;
    else assert.ok(Math.abs(v - 4 / 3) < 1e-6);
  }
  assert.ok(Math.abs(zerosN / 10000 - 0.25) < 0.02, `dropped ${zerosN}`);
  d.eval();
  assert.deepEqual(d.forward(x).toArray(), x.toArray());
  assert.throws(() => new Dropout(1, new Generator(1)), /p must be in \[0, 1\)/);
});

test('Embedding looks up rows of its weight', () => {
  const e = new Embedding(4, 2, new Generator(9));
  const y = e.forward(intTensor([3, 0, 3], [3]));
  const w = e.weight.toArray();
  assert.deepEqual(y.toArray(), [w[6], w[7], w[0], w[1], w[6], w[7]]);
});
