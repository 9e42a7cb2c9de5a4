/**
 * `aelab lm generate` — continue a prompt with a language model:
 *
 *   aelab lm generate --model runs/lm/model --prompt 'The jury said' [--max-tokens 100 --temperature 0.8 --top-k 40 --seed 1]
 *   aelab lm generate --model test/fixtures/lm/stories260K/stories260K.bin --prompt 'Once upon a time'
 *
 * --model is anything loadLanguageModel reads (an aelab LM folder, an HF gpt2/llama folder, a
 * llama2.c .bin) with its tokenizer beside it. The prompt is encoded with BOS in front (when the
 * tokenizer has one, as every training document starts), decoded greedily at --temperature 0
 * (default) or sampled from softmax(logits / temperature) among the --top-k most likely tokens with
 * a generator seeded by --seed, using the KV cache, stopping at EOS or after --max-tokens tokens
 * (or at the model's context). stdout gets the prompt followed by the continuation; --json prints
 * one JSON line { prompt, continuation, tokens } instead.
 */
import { Generator } from '../../core/random.js';
import { loadLanguageModel } from '../../lm/load.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';

const CMD = 'lm generate';
const spec: FlagSpec = {
  model: { type: 'string', help: 'model folder or llama2.c .bin (with its tokenizer beside it) (required)' },
  prompt: { type: 'string', default: '', help: 'text to continue (empty: start from BOS)' },
  'max-tokens': { type: 'number', default: 100, help: 'new tokens at most' },
  temperature: { type: 'number', default: 0, help: '0 = greedy; > 0 samples from softmax(logits / temperature)' },
  'top-k': { type: 'number', help: 'sample among the k most likely tokens (with --temperature > 0)' },
  seed: { type: 'number', default: 0, help: 'seed of the sampling' },
  json: { type: 'boolean', help: 'print one JSON line instead of the text' },
  help: { type: 'boolean', help: 'show this help' },
};
const SUMMARY = 'continue a prompt with a language model (greedy or sampled, KV-cached)';

function usage(msg: string): never {
  throw new UsageError(`aelab ${CMD}: ${msg}`);
}

export async function run(argv: string[]): Promise<number> {
  const { flags: f, positionals } = parseArgs(CMD, argv, spec);
  if (f.help) {
    process.stdout.write(helpText(CMD, SUMMARY, spec));
    return 0;
  }
  if (positionals.length) usage(`unexpected argument '${positionals[0]}' (flags start with --)`);
  if (f.model === undefined) usage('--model <folder|file.bin> is required');
  const maxTokens = f['max-tokens'] as number;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) usage(`--max-tokens must be a positive integer, got ${maxTokens}`);
  const temperature = f.temperature as number;
  if (!(temperature >= 0)) usage(`--temperature must be >= 0, got ${temperature}`);
  const topK = f['top-k'] as number | undefined;
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) usage(`--top-k must be a positive integer, got ${topK}`);
  const seed = f.seed as number;
  if (!Number.isInteger(seed) || seed < 0) usage(`--seed must be a non-negative integer, got ${seed}`);
  const { model, tokenizer } = loadLanguageModel(String(f.model));
  if (!tokenizer) usage(`--model: no tokenizer found beside ${f.model} (tokenizer.json, vocab.json + merges.txt, tokenizer.bin or tok<V>.bin)`);
  const prompt = String(f.prompt);
  const ids = tokenizer.encode(prompt, { bos: tokenizer.bosId !== null });
  if (ids.length === 0) usage('--prompt is empty and the tokenizer has no BOS token to start from');
  if (ids.length >= model.cfg.nCtx) usage(`--prompt has ${ids.length} tokens; the model's context is ${model.cfg.nCtx}`);
  const out = model.generate(ids, { maxNewTokens: maxTokens, temperature, topK, gen: temperature > 0 ? new Generator(seed) : undefined });
  // The continuation is decoded after the prompt (so tokenizers whose pieces depend on the previous id come out right).
  const head = tokenizer.decode(ids);
  const full = tokenizer.decode([...ids, ...out]);
  const continuation = full.startsWith(head) ? full.slice(head.length) : tokenizer.decode(out);
  if (f.json) process.stdout.write(JSON.stringify({ prompt, continuation, tokens: out }) + '\n');
  else process.stdout.write(prompt + continuation + '\n');
  return 0;
}
