/**
 * A small flag parser: `--name value`, `--name=value`, `--flag` (boolean), positionals.
 * Each command declares its flags so unknown or malformed ones get a clear error.
 */
export type FlagSpec = Record<
  string,
  {
    type: 'string' | 'number' | 'boolean';
    default?: string | number | boolean;
    help: string;
    /** The flag must be given (parseArgs refuses a command line without it, unless --help is given). */
    required?: boolean;
    /** What a number counts (tokens, steps, epochs, rows …): shown in --help as the value's name. */
    unit?: string;
  }
>;

export interface Parsed {
  flags: Record<string, string | number | boolean | undefined>;
  positionals: string[];
}

export class UsageError extends Error {}

export function parseArgs(command: string, argv: string[], spec: FlagSpec): Parsed {
  const flags: Parsed['flags'] = {};
  for (const [k, s] of Object.entries(spec)) flags[k] = s.default;
  const positionals: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) {
      // Flags whose unit became part of the name (--checkpoint-every → --checkpoint-every-steps) are suggested.
      const near = Object.keys(spec).filter((k) => k.startsWith(name + '-'));
      const hint = near.length ? `did you mean ${near.map((k) => '--' + k).join(' or ')}? ` : '';
      throw new UsageError(`aelab ${command}: unknown flag --${name} (${hint}try 'aelab ${command} --help')`);
    }
    // A repeated flag would silently keep only its last value (two label columns, two outputs …).
    if (seen.has(name)) throw new UsageError(`aelab ${command}: --${name} is given more than once; give it once${/column/.test(name) ? ' (list several columns in one value, comma-separated, where the flag takes a list)' : ''}`);
    seen.add(name);
    let raw: string | undefined = eq < 0 ? undefined : a.slice(eq + 1);
    if (s.type === 'boolean') {
      flags[name] = raw === undefined ? true : raw !== 'false' && raw !== '0';
      continue;
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw new UsageError(`aelab ${command}: flag --${name} needs a value`);
    }
    if (s.type === 'number') {
      const v = Number(raw);
      if (!Number.isFinite(v)) throw new UsageError(`aelab ${command}: flag --${name} expects a number, got '${raw}'`);
      flags[name] = v;
    } else flags[name] = raw;
  }
  if (!flags.help) {
    for (const [k, s] of Object.entries(spec)) {
      if (s.required && flags[k] === undefined) throw new UsageError(`aelab ${command}: --${k} is required (try 'aelab ${command} --help')`);
    }
  }
  return { flags, positionals };
}

/**
 * The --help text from the flag spec: one row per flag, its value named by its unit (or type),
 * required flags marked, defaults shown with their unit; the help column is aligned to the longest
 * flag so no row runs into its text.
 */
export function helpText(command: string, summary: string, spec: FlagSpec): string {
  const rows = Object.entries(spec).map(([k, s]) => {
    let help = s.help;
    const saysRequired = /\(required\)\s*$/.test(help);
    if (saysRequired) help = help.replace(/\s*\(required\)\s*$/, '');
    const hasDefault = s.default !== undefined && !(s.type === 'boolean' && s.default === false) && !/\(default[ :]/.test(help);
    const def = hasDefault ? ` (default ${String(s.default)}${s.unit ? ' ' + s.unit : ''})` : '';
    const req = s.required || saysRequired ? ' (required)' : '';
    return [`  --${k}${s.type === 'boolean' ? '' : ` <${s.unit ?? s.type}>`}`, help + req + def];
  });
  const width = Math.max(30, ...rows.map(([left]) => left!.length + 2));
  return `aelab ${command}: ${summary}\n\n${rows.map(([left, right]) => left!.padEnd(width) + right).join('\n')}\n`;
}
