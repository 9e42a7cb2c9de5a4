#!/usr/bin/env node
/**
 * The `aelab` command line. Each command lives in its own file under src/cli/commands/ and is
 * loaded on demand, so `aelab info` starts fast and a broken command cannot break the others.
 */
import { UsageError } from './args.js';

interface Command {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<number> | number }>;
}

const commands: Record<string, Command> = {
  info: { summary: 'version, kernel backend, BLAS library and threads', load: () => import('./commands/info.js') },
  demo: { summary: 'the main job: train a small autoencoder end to end and print a report', load: () => import('./commands/demo.js') },
};

function usage(): string {
  const rows = Object.entries(commands).map(([k, c]) => `  ${k.padEnd(10)} ${c.summary}`);
  return `usage: aelab <command> [flags]\n\ncommands:\n${rows.join('\n')}\n\n'aelab <command> --help' describes a command's flags.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-v') {
    const { VERSION } = await import('../version.js');
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`aelab: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const mod = await cmd.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`aelab: ${err instanceof Error ? (process.env.AELAB_DEBUG ? err.stack : err.message) : String(err)}\n`);
    process.exit(1);
  },
);
