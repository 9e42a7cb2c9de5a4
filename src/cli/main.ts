#!/usr/bin/env node
/**
 * The `aelab` command line. Each command lives in its own file under src/cli/commands/ and is
 * loaded on demand, so `aelab info` starts fast and a broken command cannot break the others.
 */
import { UsageError } from './args.js';
import { DESCRIBED_CODES, describeCliFsError, isFsError } from './fs-errors.js';

interface Command {
  summary: string;
}

/** Each command is src/cli/commands/<name>.ts exporting `run(argv): Promise<number> | number`. */
const commands: Record<string, Command> = {
  info: { summary: 'version, kernel backend, BLAS library and threads' },
  demo: { summary: 'the main job: a language model → harvest → SAE → splice evaluation → latent contexts → report (--synthetic: toy data)' },
  train: { summary: "train a model: 'aelab train sae|ae|vae|…' with a JSON config and/or flags" },
  eval: { summary: "evaluate an SAE: 'aelab eval sae' (FVU/L0, feature recovery; --model: CE/KL splice scores)" },
  convert: { summary: 'convert SAE folders between SAELens, sparsify and aelab formats' },
  export: { summary: "write a saved SAE, model or detector as an ONNX file: 'aelab export onnx MODEL_DIR --out model.onnx'" },
  data: { summary: "make data: 'aelab data superposition' (synthetic activations with known features)" },
  analyze: { summary: "analyses: 'aelab analyze dark-matter' (SAE error decomposition), 'layer-skip', 'attention-sae', 'probe'" },
  embed: { summary: 'codes of a trained encoder for a data file' },
  cluster: { summary: 'k-means on codes, PCA or raw data, with ARI/NMI/silhouette and raster cluster maps' },
  detect: { summary: 'anomaly detection (AE, VAE, StackVAE-G, PCA, iforest, LOF, kNN); detect fit / detect score to deploy' },
  experiment: { summary: "measured comparisons: 'aelab experiment geology|geology-mnist|nab|vae-mnist|ard-vae|prototype-mnist|export-mnist|sae-architectures|masked|jepa|methods'" },
  harvest: { summary: 'write a language model\'s hook activations on text to safetensors shards (for SAE training)' },
  lm: { summary: "language models: 'aelab lm tokenizer|train|generate'" },
  serve: { summary: 'dashboard for runs (live curves) and an HTTP inference API for saved SAEs, models and detectors (127.0.0.1 by default)' },
  latents: { summary: "latent cache and automated interpretability: 'aelab latents cache|show|explain|score'" },
  compress: { summary: "code a PNG with a trained WaLLoC codec: 'aelab compress IMG.png --model DIR --out IMG.aelc' (prints bits per pixel)" },
  decompress: { summary: "decode an .aelc file: 'aelab decompress IMG.aelc --model DIR --out IMG.png'" },
};

async function load(name: string): Promise<{ run(argv: string[]): Promise<number> | number }> {
  try {
    return (await import(`./commands/${name}.js`)) as { run(argv: string[]): Promise<number> | number };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(`commands/${name}.js`)) {
      throw new Error(`the '${name}' command is not part of this build yet`);
    }
    throw e;
  }
}

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
  const mod = await load(name);
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    if (isFsError(err) && DESCRIBED_CODES.has(err.code!)) {
      process.stderr.write(`aelab: ${describeCliFsError(err, process.argv.slice(2))}\n`);
      if (process.env.AELAB_DEBUG) process.stderr.write(`${err.stack}\n`);
      process.exit(1);
    }
    process.stderr.write(`aelab: ${err instanceof Error ? (process.env.AELAB_DEBUG ? err.stack : err.message) : String(err)}\n`);
    process.exit(1);
  },
);
