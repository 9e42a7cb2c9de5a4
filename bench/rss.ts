/**
 * Peak resident memory of a ReLU SAE training run against what it must hold: parameters, their
 * gradients, Adam's two moments and the step's activations. Prints one JSON line.
 */
import { makeStep } from './sae-step.js';
import { Generator } from '../src/core/random.js';
import { empty } from '../src/core/tensor.js';

const B = Number(process.argv[2] ?? '1024'), D = 512, H = 4096, steps = Number(process.argv[3] ?? '20');
const baseline = process.memoryUsage().rss;
const x = empty([B, D]).keep();
new Generator(0).uniform(x.f32(), -1, 1);
const step = makeStep('relu', x, new Generator(1));
for (let i = 0; i < steps; i++) step();
const peak = process.resourceUsage().maxRSS * 1024;
const P = 2 * H * D + H + D;
const bytes = {
  params: 4 * P,
  grads: 4 * P,
  adam_state: 8 * P,
  // forward: pre-activation, code [B, H]; reconstruction and residual [B, D]; backward: code and
  // pre-activation gradients [B, H], reconstruction gradient [B, D]; the batch itself [B, D]
  activations: 4 * (4 * B * H + 4 * B * D),
};
const needed = Object.values(bytes).reduce((a, b) => a + b, 0);
process.stdout.write(JSON.stringify({ steps, batch: B, peak_rss_mb: +(peak / 2 ** 20).toFixed(1), baseline_rss_mb: +(baseline / 2 ** 20).toFixed(1),
  needed_mb: +(needed / 2 ** 20).toFixed(1), breakdown_mb: Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, +(v / 2 ** 20).toFixed(1)])),
  overhead_ratio: +((peak - baseline) / needed).toFixed(2) }) + '\n');
