/** Helpers for the CLI tests: run the built `aelab` in a temp folder and read what it wrote. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { after } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs `node dist/src/cli/main.js ...args` in `cwd` (default a fresh temp folder). */
export function aelab(args: string[], cwd?: string): CliResult {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: cwd ?? tempDir(), encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Folders made by tempDir in this test file; removed after its last test. */
const made: string[] = [];

function removeTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

// Registered when this module is first imported, i.e. at the top level of the test file, so the
// hook runs once after the file's last test. The exit handler covers a file that dies early.
after(removeTempDirs);
process.on('exit', removeTempDirs);

/** A fresh temp folder (prefix `aelab-cli-` unless given), removed after the test file finishes. */
export function tempDir(prefix = 'aelab-cli-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** The last line of stdout parsed as JSON. */
export function lastJson(out: string): any {
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

/** Minimal well-formedness check of XML: every open tag is closed in order, attributes quoted. */
export function assertWellFormedXml(text: string): void {
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+\s*=\s*"[^"]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    const between = text.slice(last, m.index);
    if (between.includes('<')) throw new Error(`malformed tag near: ${between.slice(between.indexOf('<'), between.indexOf('<') + 60)}`);
    if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(between)) throw new Error(`unescaped & in text: ${between.slice(0, 60)}`);
    last = re.lastIndex;
    if (!m[2]) continue;
    if (m[1]) {
      const open = stack.pop();
      if (open !== m[2]) throw new Error(`</${m[2]}> closes <${open}>`);
    } else if (!m[4]) stack.push(m[2]);
  }
  if (text.slice(last).includes('<')) throw new Error('malformed tag at the end');
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
}
