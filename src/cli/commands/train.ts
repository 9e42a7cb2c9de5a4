/**
 * `aelab train sae` — train a sparse autoencoder from a JSON config and/or flags (flags win).
 * Other model kinds (`ae`, `vae`, …) are handled by train-models.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openActivations } from '../../sae/activations.js';
import { checkEncoderDtype, resolveTrainConfig, trainSae, TrainConfigError } from '../../sae/trainer.js';
import { bf16Support } from '../../core/ops/bf16.js';
import { thresholdScreenKernel, topkScreenKernel } from '../../core/ops/sparse.js';
import { SaeConfigError } from '../../sae/config.js';
import { SAE_FOLDER_FORMATS, type SaeFolderFormat } from '../../sae/convert.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { duration, fmt, saeProgress } from '../progress.js';
import { run as runModels } from './train-models.js';
import { runTrainingCommand, shellWord, type BodyResult } from '../../tasks/run-folder.js';

/** Flags and the config keys they set. */
/** What the bf16 screen finds for each architecture that has one (--topk-screen). */
const SCREENED: Record<string, string> = {
  topk: 'f32 top k', batchtopk: 'f32 top k', standard: 'f32 active latents of the sparse step', jumprelu: 'f32 active latents of the sparse step',
  gated: 'f32 open gates of the sparse step',
};

const spec: FlagSpec = {
  config: { type: 'string', help: 'JSON config file (training keys + SAE keys); flags override it' },
  data: { type: 'string', help: 'activations: .npy, .safetensors or a folder of shards' },
  tensor: { type: 'string', help: 'tensor name inside .safetensors files' },
  architecture: { type: 'string', help: 'standard | topk | batchtopk | jumprelu | matryoshka | gated | switch' },
  'd-in': { type: 'number', help: 'input width (default: from the data)' },
  expansion: { type: 'number', help: 'latents per input dimension (default 8)' },
  latents: { type: 'number', help: 'number of latents d_sae (overrides --expansion)' },
  k: { type: 'number', help: 'active latents per token (topk, batchtopk, matryoshka, switch)' },
  experts: { type: 'number', help: 'number of expert SAEs a router chooses among (switch; default 8; must divide the latents)' },
  'load-balance': { type: 'number', help: 'load-balancing loss coefficient α (switch; default 0.01)' },
  l1: { type: 'number', help: 'L1 coefficient (standard, gated)' },
  'l1-warmup': { type: 'number', help: 'L1 warm-up steps (standard, gated; default 5% of steps)' },
  'aux-gate': { type: 'number', help: 'coefficient of the gated SAE\'s auxiliary reconstruction through the gate (default 1)' },
  l0: { type: 'number', help: 'L0 coefficient (jumprelu)' },
  'l0-warmup': { type: 'number', help: 'L0 coefficient warm-up steps (jumprelu; default 0)' },
  'initial-threshold': { type: 'number', help: 'initial JumpReLU threshold θ (jumprelu)' },
  bandwidth: { type: 'number', help: 'straight-through bandwidth ε of the threshold gradient (jumprelu)' },
  'pre-act': { type: 'number', help: 'pre-activation loss coefficient for dead latents (jumprelu; default 0)' },
  'threshold-decay': { type: 'number', help: 'decay β of the inference-threshold average (batchtopk, matryoshka; default 0.99)' },
  prefixes: { type: 'string', help: 'nested dictionary sizes, e.g. 64,128,256,512 (matryoshka; last = latents)' },
  'aux-k': { type: 'number', help: 'AuxK dead-latent loss coefficient (topk family; default 1/32, 0: off)' },
  normalisation: { type: 'string', help: 'input normalisation: none | constant-norm | centred-norm | layer-norm | constant-norm-rescale' },
  'dead-tokens': { type: 'number', unit: 'tokens', help: 'a latent is dead after this many tokens without firing (default min(10M, 10% of --tokens))' },
  lr: { type: 'number', help: 'peak learning rate (default 2e-4/sqrt(latents/16384))' },
  warmup: { type: 'number', unit: 'steps', help: 'learning-rate warm-up steps (default 2% of steps, at most 1000)' },
  decay: { type: 'number', unit: 'steps', help: 'linear decay to 0 over the last N steps (default 20% of steps)' },
  batch: { type: 'number', unit: 'tokens', help: 'batch size in tokens (default 4096)' },
  tokens: { type: 'number', unit: 'tokens', help: 'training tokens (rounded up to whole batches; the run says so)' },
  seed: { type: 'number', help: 'random seed (default 0)' },
  'val-fraction': { type: 'number', help: 'rows held out for validation, from the end (default 0.05)' },
  'val-tokens': { type: 'number', unit: 'tokens', help: 'at most this many validation rows are evaluated (default 16384)' },
  'eval-every-tokens': { type: 'number', unit: 'tokens', help: 'validation every N tokens (default tokens/10)' },
  'log-every': { type: 'number', unit: 'steps', help: 'a metrics.jsonl line every N steps (default 50)' },
  'checkpoint-every-tokens': { type: 'number', unit: 'tokens', help: 'checkpoint every N tokens (default tokens/10; 0: only at the end)' },
  'buffer-rows': { type: 'number', help: 'shuffle buffer rows (default 65536)' },
  'encoder-dtype': { type: 'string', help: 'encoder GEMM arithmetic in training: f32 | bf16 (bf16 operands, f32 sums; needs AMX-BF16 or AVX512-BF16; default f32)' },
  'topk-screen': { type: 'string', help: 'TopK, BatchTopK, and the sparse ReLU/JumpReLU/Gated steps: find the f32 top k / active latents through the bf16 GEMM (same latents and f32 values): auto | on | off (default auto: where bf16 beats f32 on this CPU)' },
  out: { type: 'string', help: 'run folder (default runs/sae-<architecture>-<time>)' },
  format: { type: 'string', help: 'format of the saved SAE: aelab | saelens | sparsify (default aelab)' },
  resume: { type: 'boolean', help: 'continue the run in --out from its newest checkpoint' },
  overwrite: { type: 'boolean', help: 'replace the run already in --out (its run files only)' },
  quiet: { type: 'boolean', help: 'no progress bar' },
  help: { type: 'boolean', help: 'show this help' },
};

const FLAG_TO_KEY: Record<string, string> = {
  data: 'data', tensor: 'tensor', architecture: 'architecture', 'd-in': 'dIn', expansion: 'expansion', latents: 'dSae', k: 'k',
  l1: 'l1Coefficient', 'l1-warmup': 'l1WarmupSteps', l0: 'l0Coefficient', 'l0-warmup': 'l0WarmupSteps',
  'initial-threshold': 'initialThreshold', bandwidth: 'bandwidth', 'pre-act': 'preActCoefficient', 'threshold-decay': 'thresholdDecay',
  'aux-k': 'auxKCoefficient', 'aux-gate': 'auxCoefficient', experts: 'experts', 'load-balance': 'loadBalanceCoefficient', normalisation: 'normalisation', 'dead-tokens': 'deadTokens',
  lr: 'lr', warmup: 'lrWarmupSteps', decay: 'lrDecaySteps', batch: 'batchSize', tokens: 'tokens', seed: 'seed',
  'val-fraction': 'valFraction', 'val-tokens': 'valTokens', 'eval-every-tokens': 'evalEveryTokens', 'log-every': 'logEverySteps',
  'checkpoint-every-tokens': 'checkpointEveryTokens', 'buffer-rows': 'bufferRows', 'encoder-dtype': 'encoderDtype', 'topk-screen': 'topkScreen',
};

const KEY_TO_FLAG = new Map(Object.entries(FLAG_TO_KEY).map(([flag, key]) => [key, flag]));

/**
 * Runs a config resolution and rethrows its errors in the flags' names: "'dSae' must be …" becomes
 * "--latents must be …". Keys that come from the --config file (or have no flag) keep their names.
 */
function withFlagNames<T>(resolve: () => T, configKeys: ReadonlySet<string>): T {
  try {
    return resolve();
  } catch (e) {
    if (!(e instanceof TrainConfigError || e instanceof SaeConfigError)) throw e;
    const flag = KEY_TO_FLAG.get(e.field);
    if (!flag || configKeys.has(e.field)) throw e;
    const detail = e.message.replace(/^(training|SAE) config: /, '').replaceAll(`'${e.field}'`, `--${flag}`);
    throw new UsageError(`aelab train sae: ${detail.includes(`--${flag}`) ? detail : `--${flag}: ${detail}`}`);
  }
}

const SUMMARY = "train a model; 'aelab train sae --data acts.npy --architecture topk --k 32 --tokens 10000000'";

export async function run(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (!kind || kind === '--help' || kind === '-h') {
    process.stdout.write(helpText('train sae', SUMMARY, spec) + '\nOther kinds: aelab train ae|dae|stacked|vae|ard-vae|prototype|stackvae-g --help\n');
    return kind ? 0 : 2;
  }
  if (kind !== 'sae') return runModels(kind, rest);
  return trainSaeCommand(rest);
}

/**
 * Main thread: checks and locks the run folder (see src/tasks/run-folder.ts) and runs the
 * training in a worker, so SIGINT/SIGTERM stop it cleanly after the current step.
 */
async function trainSaeCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs('train sae', argv, spec);
  if (flags.help || positionals.length) return (await trainSaeBody(argv, () => false)).code;
  if (flags.resume && flags.overwrite) throw new UsageError('aelab train sae: --resume and --overwrite exclude each other');
  let out = flags.out as string | undefined;
  if (out === undefined) {
    let arch = flags.architecture as string | undefined;
    if (arch === undefined && flags.config) {
      try {
        arch = (JSON.parse(readFileSync(flags.config as string, 'utf8')) as { architecture?: string }).architecture;
      } catch {
        /* the body reports a bad config */
      }
    }
    out = join('runs', `sae-${String(arch ?? 'run')}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  }
  const format = flags.format !== undefined ? ` --format ${shellWord(String(flags.format))}` : '';
  return runTrainingCommand({
    out, resume: !!flags.resume, overwrite: !!flags.overwrite, command: 'aelab train sae',
    resumeCommand: `aelab train sae --resume --out ${shellWord(out)}${format}`,
    module: import.meta.url, name: 'trainSaeWorker', argv: flags.out === undefined ? [...argv, '--out', out] : argv,
    usageError: (m) => new UsageError(m),
  });
}

/** The worker side of `aelab train sae` (see runTrainingCommand). */
export function trainSaeWorker(args: { argv: string[] }, shouldStop: () => boolean): Promise<BodyResult> {
  return trainSaeBody(args.argv, shouldStop);
}

async function trainSaeBody(argv: string[], shouldStop: () => boolean): Promise<BodyResult> {
  const { flags, positionals } = parseArgs('train sae', argv, spec);
  if (flags.help) {
    process.stdout.write(helpText('train sae', SUMMARY, spec));
    return { code: 0 };
  }
  if (positionals.length) throw new UsageError(`aelab train sae: unexpected argument '${positionals[0]}' (flags start with --)`);
  let raw: Record<string, unknown> = {};
  let configKeys = new Set<string>();
  if (flags.config) {
    const p = flags.config as string;
    if (!existsSync(p)) throw new UsageError(`aelab train sae: config file ${p} does not exist`);
    try {
      raw = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`aelab train sae: ${p} is not valid JSON (${(e as Error).message})`);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`aelab train sae: ${p} must hold a JSON object`);
    configKeys = new Set(Object.keys(raw));
  }
  for (const [flag, key] of Object.entries(FLAG_TO_KEY)) if (flags[flag] !== undefined) raw[key] = flags[flag];
  if (flags.prefixes !== undefined) {
    const sizes = String(flags.prefixes).split(',').map((t) => Number(t.trim()));
    if (sizes.some((v) => !Number.isInteger(v))) throw new UsageError(`aelab train sae: --prefixes expects comma-separated integers, got '${flags.prefixes}'`);
    raw.prefixes = sizes;
  }
  const format = (flags.format as string | undefined) ?? 'aelab';
  if (!SAE_FOLDER_FORMATS.includes(format as SaeFolderFormat)) throw new UsageError(`aelab train sae: --format must be one of ${SAE_FOLDER_FORMATS.join(', ')}, got '${format}'`);
  if (raw.architecture === 'switch' && format !== 'aelab') throw new UsageError(`aelab train sae: --format ${format} has no switch architecture; a switch SAE is saved in the 'aelab' format only`);

  // With --resume and no config, reuse the run's own config.json.
  const out = (flags.out as string | undefined) ?? join('runs', `sae-${String(raw.architecture ?? 'run')}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  if (flags.resume) {
    const saved = join(out, 'config.json');
    if (!existsSync(saved) && !flags.config && raw.architecture === undefined) throw new UsageError(`aelab train sae --resume: ${saved} not found (give --out of the run to resume)`);
    if (existsSync(saved) && !flags.config && raw.architecture === undefined) {
      const c = JSON.parse(readFileSync(saved, 'utf8')) as Record<string, unknown>;
      const { sae, ...train } = c as { sae: Record<string, unknown> };
      raw = { ...sae, ...train, ...raw };
      delete raw.folded;
    }
  }
  if (raw.data === undefined) throw new TrainConfigError('data', `'data' is required (--data or "data" in the config)`);
  const source = openActivations(String(raw.data), raw.tensor ? { tensor: String(raw.tensor) } : {});
  try {
    const config = withFlagNames(() => {
      const c = resolveTrainConfig(raw, source.dIn);
      checkEncoderDtype(c);
      return c;
    }, configKeys);
    const trained = Math.ceil(config.tokens / config.batchSize) * config.batchSize;
    if (trained !== config.tokens) {
      process.stderr.write(`note: --tokens ${config.tokens.toLocaleString()} is rounded up to ${trained.toLocaleString()}: training runs whole batches of ${config.batchSize.toLocaleString()} rows\n`);
    }
    const s = config.sae;
    const sparseStep = s.architecture === 'standard' || s.architecture === 'jumprelu' || s.architecture === 'gated';
    const screenKernel = config.topkScreen === 'on' && !bf16Support().kernel ? null
      : sparseStep ? thresholdScreenKernel(config.topkScreen) : topkScreenKernel(config.topkScreen);
    const extra = 'k' in s ? `k ${s.k}` : s.architecture === 'standard' || s.architecture === 'gated' ? `L1 ${s.l1Coefficient}` : s.architecture === 'jumprelu' ? `L0 coef ${s.l0Coefficient}` : '';
    process.stderr.write(
      `training a ${s.architecture} SAE: d_in ${s.dIn} → ${s.dSae} latents${extra ? ', ' + extra : ''}; ${config.tokens.toLocaleString()} tokens in batches of ${config.batchSize}, lr ${fmt(config.lr)}` +
        `${config.encoderDtype === 'bf16' ? `; encoder GEMM in bf16 (${bf16Support().kernel} kernel)` : ''}` +
        `${config.encoderDtype === 'f32' && screenKernel && SCREENED[s.architecture] ? `; ${SCREENED[s.architecture]} screened by the bf16 GEMM (${screenKernel} kernel)` : ''}\n` +
        `data ${raw.data} (${source.rows.toLocaleString()} rows); run folder ${out}${flags.resume ? ' (resuming)' : ''}\n`,
    );
    const res = trainSae(config, {
      outDir: out,
      resume: !!flags.resume,
      source,
      saveFormat: format as SaeFolderFormat,
      onEvent: flags.quiet ? undefined : saeProgress(),
      shouldStop,
    });
    if (res.interrupted) return { code: 0, interruptedAt: res.steps };
    const v = res.val;
    const lines = [
      `done: ${res.steps} steps, ${res.tokens.toLocaleString()} tokens${res.resumedFromStep ? ` (resumed at step ${res.resumedFromStep})` : ''} in ${duration(res.seconds)}`,
      v ? `validation (${v.tokens.toLocaleString()} held-out tokens): FVU ${fmt(v.fvu)}, L0 ${fmt(v.l0)}, dead ${(v.deadFraction * 100).toFixed(1)}%, cosine ${fmt(v.cosine)}` : 'no validation rows (valFraction 0)',
      `saved ${res.saeDir} (${format}); metrics in ${join(out, 'metrics.jsonl')}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return { code: 0 };
  } finally {
    source.close();
  }
}
