/** The declarative flag spec: parsing, errors in flag names, units and alignment in --help. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../../src/cli/args.js';

const spec: FlagSpec = {
  data: { type: 'string', required: true, help: 'input file' },
  tokens: { type: 'number', unit: 'tokens', default: 1000, help: 'training tokens' },
  'checkpoint-every-steps': { type: 'number', unit: 'steps', help: 'checkpoint every N steps' },
  'label-column': { type: 'string', help: 'label column' },
  quiet: { type: 'boolean', help: 'no progress' },
};

test('flags parse in both spellings, with defaults and booleans', () => {
  const p = parseArgs('x', ['--data', 'a.csv', '--tokens=5', '--quiet', 'pos'], spec);
  assert.deepEqual(p.flags, { data: 'a.csv', tokens: 5, 'checkpoint-every-steps': undefined, 'label-column': undefined, quiet: true });
  assert.deepEqual(p.positionals, ['pos']);
  assert.equal(parseArgs('x', ['--data', 'a'], spec).flags.tokens, 1000);
});

test('a repeated flag is refused instead of keeping the last value', () => {
  assert.throws(() => parseArgs('detect', ['--data', 'a', '--label-column', 'y', '--label-column', 'z'], spec),
    (e: Error) => e instanceof UsageError && /--label-column is given more than once/.test(e.message) && /comma-separated/.test(e.message));
  assert.throws(() => parseArgs('x', ['--data', 'a', '--tokens', '1', '--tokens=2'], spec), /--tokens is given more than once/);
});

test('errors name the flag: missing required, bad number, unknown with a suggestion', () => {
  assert.throws(() => parseArgs('x', [], spec), /--data is required/);
  assert.doesNotThrow(() => parseArgs('x', ['--help'], { ...spec, help: { type: 'boolean', help: 'help' } }));
  assert.throws(() => parseArgs('x', ['--data', 'a', '--tokens', 'ten'], spec), /--tokens expects a number, got 'ten'/);
  assert.throws(() => parseArgs('x', ['--data', 'a', '--checkpoint-every', '3'], spec), /unknown flag --checkpoint-every \(did you mean --checkpoint-every-steps\?/);
  assert.throws(() => parseArgs('x', ['--data'], spec), /--data needs a value/);
});

test('help names values by unit, marks required flags, shows defaults with units and aligns the text column', () => {
  const h = helpText('x', 'does x', spec);
  const rows = h.split('\n').filter((l) => l.startsWith('  --'));
  assert.match(h, /--tokens <tokens> +training tokens \(default 1000 tokens\)/);
  assert.match(h, /--data <string> +input file \(required\)/);
  assert.match(h, /--checkpoint-every-steps <steps> +checkpoint every N steps/);
  const col = rows.map((r) => r.search(/ {2}[a-z]/g) >= 0 ? r.indexOf(r.trim().split(/ {2,}/)[1]!) : -1);
  assert.equal(new Set(col).size, 1, `help column not aligned: ${col.join(', ')}`);
});
