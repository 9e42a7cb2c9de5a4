/**
 * The five SAE architectures against a PyTorch reference (scripts/fixtures/gen_sae_arch_fixtures.py,
 * written from the formulas with torch autograd and torch.optim.Adam): loss and its parts, the
 * reconstruction, every parameter's gradient after the decoder-parallel removal, and every
 * parameter and running buffer after one Adam step + decoder renormalisation. On both backends.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/version.js';
import { Tensor, fromBuffer, scope, tensor } from '../../src/core/index.js';
import { Generator } from '../../src/core/random.js';
import { Adam } from '../../src/optim/index.js';
import { createSae, type SaeConfigInput } from '../../src/sae/index.js';
import { assertClose, describeBackends } from '../helpers/gradcheck.js';

interface Case {
  name: string;
  config: SaeConfigInput;
  step: number;
  B: number;
  x: number[];
  state: Record<string, number[]>;
  expected: {
    loss: number;
    parts: Record<string, number>;
    stats: Record<string, number>;
    xhat: number[];
    grads: Record<string, number[]>;
    after: Record<string, number[]>;
  };
}
const fixture = JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'sae_arch', 'cases.json'), 'utf8')) as { lr: number; cases: Case[] };

const close = (a: number, e: number, rtol: number, what: string) =>
  assert.ok(Math.abs(a - e) <= 1e-6 + rtol * Math.abs(e), `${what}: got ${a}, expected ${e}`);

describeBackends('SAE architectures vs PyTorch', () => {
  for (const c of fixture.cases) {
    it(`${c.name}: loss, parts, gradients and one Adam step match`, () => {
      const sae = createSae(c.config, new Generator(1));
      const own = sae.stateDict();
      const state = new Map<string, Tensor>();
      for (const [k, v] of Object.entries(c.state)) state.set(k, fromBuffer(Float32Array.from(v), own.get(k)?.shape ?? [v.length]));
      sae.loadStateDict(state);
      const d = c.config.dIn;
      const x = tensor(c.x, [c.B, d]);

      scope(() => {
        const r = sae.loss(x, { step: c.step });
        close(r.loss.item(), c.expected.loss, 2e-5, 'loss');
        assert.deepEqual(Object.keys(r.parts).sort(), Object.keys(c.expected.parts).sort(), 'loss terms');
        for (const [k, v] of Object.entries(c.expected.parts)) close(r.parts[k]!, v, 2e-5, `part ${k}`);
        for (const [k, v] of Object.entries(c.expected.stats)) close(r.stats[k]!, v, 2e-5, `stat ${k}`);
        assertClose(r.xhat.data, c.expected.xhat, 2e-5, 1e-4, 'xhat');
        r.loss.backward();
      });
      sae.removeParallelGrad();
      const params = new Map(sae.namedParameters());
      assert.deepEqual([...params.keys()].sort(), Object.keys(c.expected.grads).sort(), 'parameter names');
      for (const [k, g] of Object.entries(c.expected.grads)) {
        const p = params.get(k)!;
        assert.ok(p.grad, `${k} has a gradient`);
        assertClose(p.grad.data, g, 2e-5, 2e-4, `grad ${k}`);
      }
      const opt = new Adam(sae.parameters(), { lr: fixture.lr });
      opt.step();
      sae.normaliseDecoder();
      opt.zeroGrad();
      const after = sae.stateDict();
      for (const [k, v] of Object.entries(c.expected.after)) {
        assert.ok(after.has(k), `state has ${k}`);
        assertClose(after.get(k)!.data, v, 2e-5, 2e-5, `after step: ${k}`);
      }
    });
  }
});
