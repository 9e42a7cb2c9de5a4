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
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`aelab ${command}: unknown flag --${name} (try 'aelab ${command} --help')`);
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

export function helpText(command: string, summary: string, spec: FlagSpec): string {
  const rows = Object.entries(spec).map(([k, s]) => {
    let help = s.help;
    const saysRequired = /\(required\)\s*$/.test(help);
    if (saysRequired) help = help.replace(/\s*\(required\)\s*$/, '');
    const hasDefault = s.default !== undefined && !(s.type === 'boolean' && s.default === false) && !/\(default[ :]/.test(help);
    const def = hasDefault ? ` (default ${String(s.default)})` : '';
    const req = s.required || saysRequired ? ' (required)' : '';
    return `  --${k}${s.type === 'boolean' ? '' : ' <' + s.type + '>'}`.padEnd(30) + help + req + def;
  });
  return `aelab ${command}: ${summary}\n\n${rows.join('\n')}\n`;
}
