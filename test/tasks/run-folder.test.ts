import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunFolderError, prepareRunFolder, runFiles } from '../../src/tasks/run-folder.js';

const CMD = 'aelab train sae';

function runDir(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'aelab-rf-')), 'run');
  mkdirSync(join(dir, 'checkpoints', 'step-000000010'), { recursive: true });
  mkdirSync(join(dir, 'sae'));
  writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1}\n');
  writeFileSync(join(dir, 'config.json'), '{}\n');
  writeFileSync(join(dir, 'sae', 'w.bin'), 'old');
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  mkdirSync(join(dir, 'plots'));
  writeFileSync(join(dir, 'plots', 'a.svg'), '<svg/>');
  return dir;
}

test('an empty or missing folder is prepared and locked; release removes the lock', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'aelab-rf-')), 'new');
  const h = prepareRunFolder(dir, { resume: false, overwrite: false, command: CMD });
  assert.equal(h.warning, null);
  const lock = JSON.parse(readFileSync(join(dir, '.lock'), 'utf8'));
  assert.equal(lock.pid, process.pid);
  assert.ok(!Number.isNaN(Date.parse(lock.started)));
  h.release();
  assert.ok(!existsSync(join(dir, '.lock')));
  h.release(); // idempotent
});

test('a folder holding a run is refused without --resume/--overwrite, untouched', () => {
  const dir = runDir();
  assert.deepEqual(runFiles(dir), ['checkpoints', 'config.json', 'metrics.jsonl', 'sae']);
  assert.throws(() => prepareRunFolder(dir, { resume: false, overwrite: false, command: CMD }), (e: Error) => {
    assert.ok(e instanceof RunFolderError);
    assert.match(e.message, /already holds a run/);
    assert.ok(e.message.includes(dir));
    assert.match(e.message, /--resume/);
    assert.match(e.message, /--overwrite/);
    return true;
  });
  assert.equal(readFileSync(join(dir, 'sae', 'w.bin'), 'utf8'), 'old');
  assert.ok(!existsSync(join(dir, '.lock')));
});

test('--resume keeps the run files', () => {
  const dir = runDir();
  const h = prepareRunFolder(dir, { resume: true, overwrite: false, command: CMD });
  assert.deepEqual(runFiles(dir), ['checkpoints', 'config.json', 'metrics.jsonl', 'sae']);
  h.release();
});

test('--overwrite removes only the run files', () => {
  const dir = runDir();
  const h = prepareRunFolder(dir, { resume: false, overwrite: true, command: CMD });
  assert.deepEqual(readdirSync(dir).sort(), ['.lock', 'notes.txt', 'plots']);
  assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine');
  assert.ok(existsSync(join(dir, 'plots', 'a.svg')));
  h.release();
  assert.deepEqual(readdirSync(dir).sort(), ['notes.txt', 'plots']);
});

test('--resume together with --overwrite is refused', () => {
  const dir = runDir();
  assert.throws(() => prepareRunFolder(dir, { resume: true, overwrite: true, command: CMD }), /exclude each other/);
});

test('a lock held by a live process refuses the folder (even with --overwrite)', async () => {
  const dir = runDir();
  const child = spawn(process.execPath, ['-e', 'setTimeout(()=>{},5000)'], { stdio: 'ignore' });
  try {
    const started = new Date().toISOString();
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: child.pid, started }) + '\n');
    for (const o of [{ resume: true, overwrite: false }, { resume: false, overwrite: true }]) {
      assert.throws(() => prepareRunFolder(dir, { ...o, command: CMD }), (e: Error) => {
        assert.match(e.message, new RegExp(`is in use by process ${child.pid} \\(started ${started.replace(/[.]/g, '\\.')}\\)`));
        assert.ok(e.message.includes(dir));
        return true;
      });
    }
    assert.equal(readFileSync(join(dir, 'sae', 'w.bin'), 'utf8'), 'old');
    assert.equal(JSON.parse(readFileSync(join(dir, '.lock'), 'utf8')).pid, child.pid);
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
  }
});

test('a stale lock (its process is gone) is taken over with a warning', async () => {
  const dir = runDir();
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise((r) => child.on('exit', r));
  writeFileSync(join(dir, '.lock'), JSON.stringify({ pid, started: '2026-01-01T00:00:00.000Z' }) + '\n');
  // Atomic-write temp files of the dead process go; other files stay.
  writeFileSync(join(dir, `.metrics.jsonl.${pid}.0123456789ab.tmp`), 'x');
  writeFileSync(join(dir, 'checkpoints', `.LATEST.${pid}.0123456789ab.tmp`), 'x');
  writeFileSync(join(dir, '.mine.tmp'), 'x');
  const h = prepareRunFolder(dir, { resume: true, overwrite: false, command: CMD });
  assert.ok(h.warning && h.warning.includes(`stale lock of process ${pid}`), String(h.warning));
  assert.equal(JSON.parse(readFileSync(join(dir, '.lock'), 'utf8')).pid, process.pid);
  assert.ok(!existsSync(join(dir, `.metrics.jsonl.${pid}.0123456789ab.tmp`)));
  assert.ok(!existsSync(join(dir, 'checkpoints', `.LATEST.${pid}.0123456789ab.tmp`)));
  assert.ok(existsSync(join(dir, '.mine.tmp')));
  h.release();
  assert.ok(!existsSync(join(dir, '.lock')));
  // An unreadable lock is being written when new, and stale (cut by a crash) when old.
  writeFileSync(join(dir, '.lock'), '{"pid":');
  assert.throws(() => prepareRunFolder(dir, { resume: true, overwrite: false, command: CMD }), /in use by another process/);
  utimesSync(join(dir, '.lock'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  const h2 = prepareRunFolder(dir, { resume: true, overwrite: false, command: CMD });
  assert.ok(h2.warning);
  h2.release();
});
