import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './util.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('aelab demo --synthetic --quick trains, evaluates, analyses and writes a report', () => {
  const dir = tempDir('aelab-demo-');
  try {
    const out = join(dir, 'run');
    const r = spawnSync(process.execPath, [MAIN, 'demo', '--synthetic', '--quick', '--quiet', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const m = /recovered (\d+) of (\d+) true features/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[1]) / Number(m[2]) >= 0.9, `recovered ${m[1]}/${m[2]}`);
    assert.match(r.stdout, /Report: .*report\.html/);
    const j = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.ok(j.recovery.fractionRecovered >= 0.9);
    assert.equal(j.darkMatter.saes.length, 3);
    assert.ok(j.metrics.fvu > 0 && j.metrics.fvu < 0.2);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.ok((html.match(/<svg/g) ?? []).length >= 5, 'figures inline');
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /recovered \(cos ≥ 0.9\)/);
    assert.ok(existsSync(join(out, 'sae-topk-96', 'sae', 'sae_weights.safetensors')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('aelab demo --quick runs the real-model pipeline: harvest → SAE → splice → latent contexts → report', () => {
  const dir = tempDir('aelab-demo-');
  try {
    const out = join(dir, 'run');
    const r = spawnSync(process.execPath, [MAIN, 'demo', '--quick', '--quiet', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /stories260K/);
    const j = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    const s = j.splice;
    // The SAE must keep most of the layer's contribution, and the error term must restore the clean loss.
    assert.ok(s.ceScore > 0.5 && s.ceScore <= 1.05, `CE loss score ${s.ceScore}`);
    assert.ok(Math.abs(s.ceSplicedWithError - s.ceClean) < 1e-4, 'error term gives the clean loss');
    assert.ok(s.ceZeroAblated > s.ceSpliced && s.ceSpliced > s.ceClean - 0.05);
    assert.ok(j.harvest.rows > 10_000);
    assert.ok(j.latents.length >= 2);
    for (const l of j.latents) assert.ok(l.contexts.every((c: string) => /\*\*.+\*\*/.test(c)), 'the active token is marked');
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /CE loss score/);
    assert.match(md, /aelab harvest --model .* --hook blocks\.2\.hook_resid_post/);
    assert.ok(existsSync(join(out, 'activations', 'manifest.json')));
    assert.ok(existsSync(join(out, 'sae-topk-128', 'sae', 'cfg.json')));
    assert.ok(existsSync(join(out, 'report.html')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
