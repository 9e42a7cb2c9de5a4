/**
 * Files written by aelab must load in numpy (and bf16 must match torch's rounding). Runs only
 * where /usr/bin/python3 with numpy (and torch, for bf16) is available; otherwise the test is
 * skipped with a note saying why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArrayData, writeNpy, writeNpz, writeSafetensors } from '../../../src/core/io/index.js';

const PY = '/usr/bin/python3';

function python(script: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(PY, ['-c', script, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function available(mods: string): string | null {
  if (!existsSync(PY)) return `${PY} not found`;
  const r = python(`import ${mods}`, []);
  return r.status === 0 ? null : `${PY} cannot import ${mods}: ${r.stderr.trim().split('\n').pop()}`;
}

const numpyMissing = available('numpy');

const LOADER = String.raw`
import json, struct, sys, zipfile
import numpy as np
d = sys.argv[1]
out = {}
def put(key, a):
    a = np.asarray(a)
    out[key] = {'dtype': a.dtype.str, 'shape': list(a.shape), 'values': a.ravel().tolist()}
put('f32.npy', np.load(d + '/f32.npy'))
put('i32.npy', np.load(d + '/i32.npy'))
for name in ('stored.npz', 'compressed.npz'):
    assert zipfile.ZipFile(d + '/' + name).testzip() is None, 'CRC check failed for ' + name
    with np.load(d + '/' + name) as z:
        for k in z.files:
            put(name + '/' + k, z[k])
DT = {'F32': '<f4', 'I32': '<i4', 'F16': '<u2', 'BF16': '<u2'}
for name in ('plain.safetensors', 'half.safetensors', 'bhalf.safetensors'):
    raw = open(d + '/' + name, 'rb').read()
    (n,) = struct.unpack('<Q', raw[:8])
    assert (8 + n) % 8 == 0, 'data section not 8-aligned'
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    data = raw[8 + n:]
    out[name + '/__metadata__'] = header.pop('__metadata__', None)
    for k, e in header.items():
        b, end = e['data_offsets']
        a = np.frombuffer(data[b:end], dtype=DT[e['dtype']]).reshape(e['shape'])
        put(name + '/' + k + ':' + e['dtype'], a)
print(json.dumps(out))
`;

/** Rounds the given float32 values with numpy (f16) and torch (bf16) and reads back the bits aelab wrote. */
const ROUNDING = String.raw`
import json, struct, sys
import numpy as np, torch
vals = np.array(json.loads(sys.argv[1]), dtype=np.float32)
def stored(path):
    raw = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', raw[:8])
    return list(struct.unpack('<%dH' % ((len(raw) - 8 - n) // 2), raw[8 + n:]))
print(json.dumps({
    'want_f16': vals.astype(np.float16).view(np.uint16).tolist(),
    'want_bf16': (torch.from_numpy(vals).to(torch.bfloat16).view(torch.int16).numpy().astype(np.int64) & 0xffff).tolist(),
    'got_f16': stored(sys.argv[2]),
    'got_bf16': stored(sys.argv[3]),
}))
`;

const f32 = (shape: number[], v: number[]): ArrayData => ({ dtype: 'float32', shape, data: Float32Array.from(v) });
const i32 = (shape: number[], v: number[]): ArrayData => ({ dtype: 'int32', shape, data: Int32Array.from(v) });

test('numpy loads the .npy, .npz and safetensors files aelab writes', { skip: numpyMissing ?? false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-interop-'));
  try {
    const W = f32([2, 3], [0.5, -1.25, 3e38, -0, 1e-40, 7]);
    const ids = i32([4], [2147483647, -2147483648, 0, 42]);
    writeNpy(join(dir, 'f32.npy'), W);
    writeNpy(join(dir, 'i32.npy'), ids);
    const arrays = { W, ids, s: f32([], [2.5]), e: i32([0, 2], []) };
    writeNpz(join(dir, 'stored.npz'), arrays);
    writeNpz(join(dir, 'compressed.npz'), arrays, { compress: true });
    const halfVals = f32([5], [1, -0.1, 65519, 1e-6, 3.14159]);
    writeSafetensors(join(dir, 'plain.safetensors'), { W, ids }, { epoch: '7' });
    writeSafetensors(join(dir, 'half.safetensors'), { h: halfVals }, undefined, { floatDtype: 'F16' });
    writeSafetensors(join(dir, 'bhalf.safetensors'), { h: halfVals }, undefined, { floatDtype: 'BF16' });
    const r = python(LOADER, [dir]);
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    const check = (key: string, a: ArrayData, dtype: string) => {
      assert.ok(got[key], `numpy did not produce ${key}: ${Object.keys(got).join(', ')}`);
      assert.equal(got[key].dtype, dtype, key);
      assert.deepEqual(got[key].shape, a.shape, key);
      assert.deepEqual(got[key].values, Array.from(a.data), key);
    };
    check('f32.npy', W, '<f4');
    check('i32.npy', ids, '<i4');
    for (const z of ['stored.npz', 'compressed.npz']) {
      check(`${z}/W`, W, '<f4');
      check(`${z}/ids`, ids, '<i4');
      check(`${z}/s`, arrays.s, '<f4');
      check(`${z}/e`, arrays.e, '<i4');
    }
    check('plain.safetensors/W:F32', W, '<f4');
    check('plain.safetensors/ids:I32', ids, '<i4');
    assert.deepEqual(got['plain.safetensors/__metadata__'], { epoch: '7' });
    assert.equal(got['half.safetensors/h:F16'].values.length, 5);
    assert.equal(got['bhalf.safetensors/h:BF16'].values.length, 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('F16 output rounds like numpy and BF16 output like torch', { skip: numpyMissing ?? false }, (t) => {
  // Ties, subnormals, overflow and ordinary values; all finite and none -0, so JSON carries them exactly.
  const vals = [0, 1, 0.1, -0.1, 1 / 3, 65504, 65519, 65520, 70000, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e-8, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3e38, -1e-39, 123.456];
  const dir = mkdtempSync(join(tmpdir(), 'aelab-round-'));
  try {
    const data = Float32Array.from(vals);
    const paths = (['F16', 'BF16'] as const).map((dt) => {
      const path = join(dir, `${dt}.safetensors`);
      writeSafetensors(path, { x: { dtype: 'float32', shape: [vals.length], data } }, undefined, { floatDtype: dt });
      return path;
    });
    const r = python(ROUNDING, [JSON.stringify(Array.from(data)), ...paths]);
    // Probing for torch separately would pay its slow import twice, so detect its absence here.
    if (r.status !== 0 && /No module named 'torch'/.test(r.stderr)) {
      t.skip(`${PY} cannot import torch`);
      return;
    }
    assert.equal(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout) as Record<string, number[]>;
    assert.equal(o.got_f16.length, vals.length);
    assert.deepEqual(o.got_f16, o.want_f16, 'F16 bits vs numpy');
    assert.deepEqual(o.got_bf16, o.want_bf16, 'BF16 bits vs torch');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
