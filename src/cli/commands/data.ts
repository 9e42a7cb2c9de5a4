/**
 * `aelab data superposition` — synthetic activations with known features (see sae/superposition.ts):
 * writes activations.npy [tokens, d], features.npy [n, d] and truth.json into --out.
 */
import { Generator } from '../../core/random.js';
import { generate, saveSuperposition, type MagnitudeSpec } from '../../sae/superposition.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { fmt } from '../progress.js';

const spec: FlagSpec = {
  out: { type: 'string', required: true, help: 'output folder' },
  n: { type: 'number', required: true, help: 'number of true features' },
  d: { type: 'number', required: true, help: 'activation dimension' },
  tokens: { type: 'number', required: true, help: 'rows to generate' },
  seed: { type: 'number', default: 0, help: 'random seed' },
  'max-frequency': { type: 'number', default: 0.05, help: 'firing probability of the most frequent feature' },
  exponent: { type: 'number', default: 0.5, help: 'power-law exponent of the feature frequencies' },
  'min-frequency': { type: 'number', default: 0, help: 'lower clip of the frequencies' },
  magnitude: { type: 'string', default: 'uniform:0.5:1.5', help: "magnitudes: 'uniform:lo:hi', 'abs-normal:scale' or 'constant:value'" },
  noise: { type: 'number', default: 0, help: 'std of isotropic Gaussian noise' },
  'group-size': { type: 'number', help: 'correlated groups of this many consecutive features' },
  correlation: { type: 'number', default: 0.5, help: 'expected cosine between members of a group' },
  coactivation: { type: 'number', default: 0, help: 'probability a group member fires with an active member' },
  help: { type: 'boolean', help: 'show this help' },
};

function magnitude(s: string): MagnitudeSpec {
  const [kind, a, b] = s.split(':');
  const num = (v: string | undefined, what: string) => {
    const x = Number(v);
    if (v === undefined || !Number.isFinite(x)) throw new UsageError(`aelab data superposition: --magnitude '${s}': ${what} must be a number`);
    return x;
  };
  if (kind === 'uniform') return { kind, lo: num(a, 'lo'), hi: num(b, 'hi') };
  if (kind === 'abs-normal') return { kind, scale: a === undefined ? 1 : num(a, 'scale') };
  if (kind === 'constant') return { kind, value: a === undefined ? 1 : num(a, 'value') };
  throw new UsageError(`aelab data superposition: --magnitude must be uniform:lo:hi, abs-normal:scale or constant:value, got '${s}'`);
}

export async function run(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (!kind || kind === '--help' || kind === '-h') {
    process.stdout.write(helpText('data superposition', 'synthetic activations from a known over-complete dictionary', spec));
    return kind ? 0 : 2;
  }
  if (kind !== 'superposition') throw new UsageError(`aelab data: unknown data kind '${kind}' (available: superposition)`);
  const { flags, positionals } = parseArgs('data superposition', rest, spec);
  if (flags.help) {
    process.stdout.write(helpText('data superposition', 'synthetic activations from a known over-complete dictionary', spec));
    return 0;
  }
  if (positionals.length) throw new UsageError(`aelab data superposition: unexpected argument '${positionals[0]}'`);
  for (const f of ['out', 'n', 'd', 'tokens']) if (flags[f] === undefined) throw new UsageError(`aelab data superposition: --${f} is required`);
  const groups = flags['group-size'] !== undefined
    ? { size: flags['group-size'] as number, correlation: flags.correlation as number, coactivation: flags.coactivation as number }
    : undefined;
  let data;
  try {
    data = generate(
      {
        n: flags.n as number, d: flags.d as number, tokens: flags.tokens as number,
        maxFrequency: flags['max-frequency'] as number, exponent: flags.exponent as number, minFrequency: flags['min-frequency'] as number,
        magnitude: magnitude(flags.magnitude as string), noise: flags.noise as number, groups,
      },
      new Generator(flags.seed as number),
    );
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`aelab data ${e.message}`);
    throw e;
  }
  saveSuperposition(flags.out as string, data);
  const { n, d, tokens } = data.config;
  let active = 0, unseen = 0;
  for (let i = 0; i < n; i++) {
    active += data.counts[i];
    if (data.counts[i] === 0) unseen++;
  }
  process.stdout.write(
    `wrote ${flags.out}: ${tokens.toLocaleString()} tokens × ${d} dims from ${n} features (${fmt(n / d)}× over-complete); ` +
      `${fmt(active / tokens)} features active per token on average${unseen ? `; ${unseen} features never fired` : ''}\n` +
      `  activations.npy [${tokens}, ${d}], features.npy [${n}, ${d}], truth.json\n`,
  );
  return 0;
}
