/**
 * `aelab serve [DIR …]`: the dashboard and inference server (src/serve/server.ts) over the runs,
 * SAE folders, model folders and detectors found in the given folders (default: runs/).
 * Binds 127.0.0.1 unless --host says otherwise; any other host needs a bearer token, taken from
 * the environment variable named by --token-env (default AELAB_SERVE_TOKEN) so it never appears in
 * the process list. Runs until Ctrl-C or SIGTERM.
 */
import { existsSync } from 'node:fs';
import { isLoopback, serve } from '../../serve/server.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';

const SUMMARY = "dashboard for runs and an HTTP inference API for saved models: 'aelab serve runs/ --port 8080'";

const spec: FlagSpec = {
  port: { type: 'number', default: 8080, help: 'port (0: any free port)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to bind; anything but loopback needs a token' },
  'token-env': { type: 'string', default: 'AELAB_SERVE_TOKEN', help: 'environment variable holding the bearer token (required off loopback)' },
  'max-body-mb': { type: 'number', unit: 'MiB', default: 64, help: 'largest request body' },
  'max-rows': { type: 'number', unit: 'rows', default: 8192, help: 'most rows per inference request' },
  verbose: { type: 'boolean', help: 'log every request on stderr' },
  help: { type: 'boolean', help: 'show this help' },
};

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs('serve', argv, spec);
  if (flags.help) {
    process.stdout.write(helpText('serve [DIR …]', SUMMARY, spec));
    return 0;
  }
  const roots = positionals.length ? positionals : ['runs'];
  for (const r of roots) if (!existsSync(r)) throw new UsageError(`aelab serve: folder ${r} does not exist`);
  const port = flags.port as number;
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) throw new UsageError(`aelab serve: --port must be an integer in [0, 65535], got ${port}`);
  const maxRows = flags['max-rows'] as number;
  if (!(Number.isInteger(maxRows) && maxRows >= 1)) throw new UsageError(`aelab serve: --max-rows must be a positive integer, got ${maxRows}`);
  const mb = flags['max-body-mb'] as number;
  if (!(mb > 0)) throw new UsageError(`aelab serve: --max-body-mb must be > 0, got ${mb}`);
  const host = String(flags.host);
  const tokenEnv = String(flags['token-env']);
  const token = process.env[tokenEnv] || undefined;
  if (!isLoopback(host) && !token) {
    throw new UsageError(`aelab serve: --host ${host} is reachable from other machines; set a bearer token in $${tokenEnv} (or name another variable with --token-env)`);
  }
  const s = await serve({
    roots, host, port, token, maxRows, maxBodyBytes: Math.round(mb * 1024 * 1024),
    onRequest: flags.verbose ? (e) => process.stderr.write(`${e.method} ${e.path} ${e.status} ${e.ms} ms\n`) : undefined,
  });
  const count = (...kinds: string[]) => s.registry.entries.filter((e) => kinds.includes(e.kind)).length;
  const runs = count('run'), models = count('sae', 'model', 'detector'), caches = count('latents');
  process.stdout.write(`aelab serve: ${s.url}/ (${runs} run${runs === 1 ? '' : 's'}, ${models} model${models === 1 ? '' : 's'}, ${caches} latent cache${caches === 1 ? '' : 's'} in ${roots.join(', ')})${token ? '; bearer token required' : ''}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void s.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
