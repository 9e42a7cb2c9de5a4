import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeFsError, flagForPath, targetOfTempPath } from '../../src/cli/fs-errors.js';
import { saveSaeFolder } from '../../src/sae/convert.js';
import { aelab, tempDir } from './util.js';

const err = (code: string, syscall: string, path?: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: raw, ${syscall}${path ? ` '${path}'` : ''}`), { code, syscall, ...(path ? { path } : {}) });

test('describeFsError names the real path at fault', () => {
  const d = tempDir();
  writeFileSync(join(d, 'file'), 'x');
  mkdirSync(join(d, 'folder'));
  // a file where a folder is needed, several levels down
  const m1 = describeFsError(err('ENOTDIR', 'mkdir', join(d, 'file/a/b')), undefined, undefined, { flag: 'out' });
  assert.match(m1, /--out/);
  assert.ok(m1.includes(`'${join(d, 'file')}' is a file, not a folder`), m1);
  assert.doesNotMatch(m1, /ENOTDIR/);
  // a file given as an output folder
  assert.match(describeFsError(err('EEXIST', 'mkdir', join(d, 'file'))), /a file of that name already exists/);
  // a folder given as a file
  assert.match(describeFsError(err('EISDIR', 'read'), join(d, 'folder'), 'read'), /is a folder, not a file/);
  assert.match(describeFsError(err('EISDIR', 'open', join(d, 'folder')), undefined, 'write'), /cannot write .* it is a folder/);
  // ENOENT on mkdir / write: the missing folder, not a cryptic errno
  const m2 = describeFsError(err('ENOENT', 'mkdir', join(d, 'no/such/dir')));
  assert.ok(m2.includes(`the folder '${join(d, 'no/such')}' does not exist`) && m2.includes(`nearest existing folder is '${d}'`), m2);
  // ENOENT on mkdir below a file: the file is named (the real cause)
  assert.ok(describeFsError(err('ENOENT', 'mkdir', join(d, 'file/x/y'))).includes(`'${join(d, 'file')}' is a file`));
  // ENOENT on read
  assert.match(describeFsError(err('ENOENT', 'open', join(d, 'nope.npy')), undefined, 'read'), /cannot read .*nope\.npy': no such file/);
  assert.match(describeFsError(err('EROFS', 'open', '/ro/x')), /read-only file system/);
  assert.match(describeFsError(err('ENOSPC', 'write', join(d, 'big'))), /no space left/);
  assert.match(describeFsError(err('EACCES', 'open', join(d, 'file')), undefined, 'read'), /cannot read .*permission denied/);
});

test('temp files of atomic writes are reported as their target', () => {
  assert.equal(targetOfTempPath('/a/b/.codes.npy.1234.0a1b2c3d4e5f.tmp'), '/a/b/codes.npy');
  assert.equal(targetOfTempPath('/a/b/codes.npy'), '/a/b/codes.npy');
  const m = describeFsError(err('ENOSPC', 'write', '/a/b/.codes.npy.1234.0a1b2c3d4e5f.tmp'));
  assert.match(m, /'\/a\/b\/codes\.npy'/);
  assert.doesNotMatch(m, /\.tmp/);
});

test('flagForPath finds the flag whose value names (or contains) the path', () => {
  const argv = ['cluster', '--data', 'x.npy', '--out', 'runs/a/labels.npy', '--k=3'];
  assert.equal(flagForPath(argv, 'x.npy'), 'data');
  assert.equal(flagForPath(argv, 'runs/a/.labels.npy.99.abcdef.tmp'), 'out');
  assert.equal(flagForPath(argv, 'runs'), 'out');
  assert.equal(flagForPath(argv, 'elsewhere'), undefined);
});

test('CLI: output-path errors are plain words naming the flag and the path', () => {
  const d = tempDir();
  writeFileSync(join(d, 'afile'), 'x');
  const a = aelab(['data', 'superposition', '--out', 'afile', '--n', '8', '--d', '4', '--tokens', '100'], d);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /^aelab: cannot create the folder 'afile' \(--out\): a file of that name already exists/);
  const b = aelab(['data', 'superposition', '--out', 'afile/sub', '--n', '8', '--d', '4', '--tokens', '100'], d);
  assert.match(b.stderr, /\(--out\): '.*afile' is a file, not a folder/);
  assert.doesNotMatch(a.stderr + b.stderr, /EEXIST|ENOTDIR|ENOENT/);
  const g = aelab(['data', 'superposition', '--out', 'acts', '--n', '8', '--d', '4', '--tokens', '100'], d);
  assert.equal(g.code, 0, g.stderr);
  const c = aelab(['cluster', '--data', 'acts/activations.npy', '--k', '2', '--out', 'acts'], d);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /^aelab: cannot write 'acts' \(--out\): it is a folder/);
  assert.doesNotMatch(c.stderr, /\.tmp|EISDIR/);
  const e = aelab(['cluster', '--data', 'acts/activations.npy', '--k', '2', '--out', 'no/such/labels.npy'], d);
  assert.match(e.stderr, /cannot write 'no\/such\/labels\.npy' \(--out\): the folder '.*no\/such' does not exist/);
  mkdirSync(join(d, 'x.npy'));
  const h = aelab(['cluster', '--data', 'x.npy', '--k', '2'], d);
  assert.equal(h.code, 1);
  assert.match(h.stderr, /^aelab: cannot read 'x\.npy' \(--data\): it is a folder, not a file/);
  const f = aelab(['eval', 'sae', 'acts', '--data', 'missing/acts.npy'], d);
  assert.match(f.stderr, /cannot read 'missing\/acts\.npy' \(--data\): no such file/);
});

test('eval sae --tokens 0 and analyze dark-matter with data of the wrong width are usage errors', () => {
  const d = tempDir();
  assert.equal(aelab(['data', 'superposition', '--out', 'acts', '--n', '16', '--d', '8', '--tokens', '400'], d).code, 0);
  const r = (len: number) => Float32Array.from({ length: len }, (_, i) => Math.cos(i));
  saveSaeFolder(join(d, 'sae'), {
    arch: 'relu', dIn: 4, dSae: 6, W_enc: r(24), b_enc: r(6), W_dec: r(24), b_dec: r(4), applyBDecToInput: true, meta: {},
  }, 'aelab');
  for (const t of ['0', '-5']) {
    const e = aelab(['eval', 'sae', 'sae', '--data', 'acts', '--tokens', t], d);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /--tokens must be a positive integer/);
  }
  const a = aelab(['analyze', 'dark-matter', '--sae', 'sae', '--data', 'acts', '--out', 'dm/report.md'], d);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--data acts has rows of width 8, but the SAE sae takes d_in = 4/);
  assert.doesNotMatch(a.stderr + a.stdout, /tokens|runSae/);
});

test('help marks required flags and shows defaults', () => {
  const h = aelab(['data', 'superposition', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--tokens <number> +rows to generate \(required\)\n/);
  assert.match(h.stdout, /--seed <number> +random seed \(default 0\)/);
  const c = aelab(['convert', '--help']);
  assert.match(c.stdout, /--to <string> +output format: aelab \| saelens \| sparsify \(required\)\n/);
  assert.match(c.stdout, /--dtype <string> .*\(default F32\)/);
  const m = aelab(['data', 'superposition', '--n', '4']);
  assert.equal(m.code, 2);
  assert.match(m.stderr, /--out is required/);
});
