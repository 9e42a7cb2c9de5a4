/**
 * Prompts and answer parsers for automated interpretability, after EleutherAI's delphi (Paulo et
 * al.): active tokens are highlighted as <<token>> (consecutive active tokens share one pair), and
 * the explainer also sees each active token with its activation on a 0–9 scale (relative to the
 * largest activation among the examples shown).
 */
import type { ChatMessage } from './client.js';

/** An example as text pieces with the latent's activation per token. */
export interface TextExample {
  tokens: string[];
  acts: ArrayLike<number>;
}

/** Tokens joined, runs of positions where `mark` is true wrapped in << >>. */
export function highlight(tokens: readonly string[], mark: (i: number) => boolean): string {
  let s = '';
  for (let i = 0; i < tokens.length; i++) {
    const on = mark(i), prev = i > 0 && mark(i - 1), next = i + 1 < tokens.length && mark(i + 1);
    s += `${on && !prev ? '<<' : ''}${tokens[i]}${on && !next ? '>>' : ''}`;
  }
  return s.replace(/\n/g, '↵');
}

export const EXPLAINER_SYSTEM = `You are a meticulous AI researcher conducting an important investigation into patterns found in language. Your task is to analyze text and provide an explanation that thoroughly encapsulates possible patterns found in it.
Guidelines:
You will be given a list of text examples on which special words are selected and between delimiters like <<this>>. If a sequence of consecutive tokens all are important, the entire sequence of tokens will be contained between delimiters <<just like this>>. How important each token is for the behavior is listed after each example in parentheses, on a scale of 0 to 9.
- Try to produce a concise final description. Simply describe the text features that are common in the examples, and what patterns you found.
- If the examples are uninformative, you don't need to mention them. Don't focus on giving examples of important tokens, but try to summarize the patterns found in the examples.
- Do not mention the marker tokens (<< >>) in your explanation.
- Do not make lists of possible explanations. Keep your explanations short and concise.
- The last line of your response must be the formatted explanation, using [EXPLANATION]:`;

/** The explainer's messages for examples of one latent. */
export function explainerMessages(examples: readonly TextExample[]): ChatMessage[] {
  let top = 0;
  for (const e of examples) for (let i = 0; i < e.acts.length; i++) top = Math.max(top, e.acts[i]!);
  const level = (v: number) => (top > 0 ? Math.min(9, Math.max(1, Math.round((v / top) * 9))) : 0);
  const parts = examples.map((e, n) => {
    const text = highlight(e.tokens, (i) => e.acts[i]! > 0);
    const acts: string[] = [];
    for (let i = 0; i < e.tokens.length; i++) if (e.acts[i]! > 0) acts.push(`(${JSON.stringify(e.tokens[i])}, ${level(e.acts[i]!)})`);
    return `Example ${n + 1}: ${text}\nActivations: ${acts.join(', ')}`;
  });
  return [{ role: 'system', content: EXPLAINER_SYSTEM }, { role: 'user', content: parts.join('\n\n') }];
}

/** The explanation in an explainer answer: the text after the last [EXPLANATION]:; null when absent or empty. */
export function parseExplanation(answer: string): string | null {
  const i = answer.lastIndexOf('[EXPLANATION]:');
  if (i < 0) return null;
  const s = answer.slice(i + '[EXPLANATION]:'.length).trim().split('\n')[0]!.trim();
  return s.length ? s : null;
}

export const DETECTION_SYSTEM = `You are an intelligent and meticulous linguistics researcher.
You will be given a certain feature of text, such as "male pronouns" or "text with negative sentiment". You will then be given several text examples. Your task is to determine which examples possess the feature.
For each example in turn, return 1 if the sentence is correctly labeled or 0 if the tokens are mislabeled. You must return your response in a valid Python list. Do not return anything else besides a Python list.`;

export const FUZZING_SYSTEM = `You are an intelligent and meticulous linguistics researcher.
You will be given a certain feature of text, such as "male pronouns" or "text with negative sentiment". You will be given a few examples of text that contain this feature. Portions of the sentence which strongly represent this feature are between tokens << and >>.
Some examples might be mislabeled. Your task is to determine if every single token within << and >> is correctly labeled. Consider that all provided examples could be correct, none of the examples could be correct, or a mix. An example is only correct if every marked token is representative of the feature.
For each example in turn, return 1 if the sentence is correctly labeled or 0 if the tokens are mislabeled. You must return your response in a valid Python list. Do not return anything else besides a Python list.`;

/** Detection: plain examples; fuzzing: examples with (possibly wrong) highlights. */
export function scorerMessages(kind: 'detection' | 'fuzzing', explanation: string, texts: readonly string[]): ChatMessage[] {
  const body = texts.map((t, i) => `Example ${i + 1}: ${t}`).join('\n');
  return [
    { role: 'system', content: kind === 'detection' ? DETECTION_SYSTEM : FUZZING_SYSTEM },
    { role: 'user', content: `Feature explanation: ${explanation}\n\nText examples:\n\n${body}\n\nReturn a Python list of ${texts.length} values, each 0 or 1.` },
  ];
}

/** The 0/1 list of a scorer answer (the last [...] holding exactly n values 0/1, True/False); null otherwise. */
export function parsePredictions(answer: string, n: number): number[] | null {
  const lists = answer.match(/\[[^[\]]*\]/g);
  if (!lists) return null;
  for (let i = lists.length - 1; i >= 0; i--) {
    const items = lists[i]!.slice(1, -1).split(',').map((s) => s.trim().replace(/^['"]|['"]$/g, '')).filter((s) => s.length);
    if (items.length !== n) continue;
    const v = items.map((s) => (s === '1' || /^true$/i.test(s) ? 1 : s === '0' || /^false$/i.test(s) ? 0 : -1));
    if (v.every((x) => x >= 0)) return v;
  }
  return null;
}

/**
 * P(1) per list element from per-token logprobs: the content tokens that are '0' or '1' (trimmed),
 * in order, each giving exp(lp₁) / (exp(lp₀) + exp(lp₁)) over its top alternatives (a missing
 * alternative counts as probability 0). Null unless exactly n such tokens are found.
 */
export function predictionProbabilities(logprobs: readonly { token: string; logprob: number; top: { token: string; logprob: number }[] }[] | null, n: number): number[] | null {
  if (!logprobs) return null;
  const out: number[] = [];
  for (const t of logprobs) {
    const tok = t.token.trim();
    if (tok !== '0' && tok !== '1') continue;
    const alts = t.top.length ? t.top : [{ token: t.token, logprob: t.logprob }];
    let p0 = 0, p1 = 0;
    for (const a of alts) {
      const s = a.token.trim();
      if (s === '1') p1 += Math.exp(a.logprob);
      else if (s === '0') p0 += Math.exp(a.logprob);
    }
    if (p0 + p1 === 0) { if (tok === '1') p1 = 1; else p0 = 1; }
    out.push(p1 / (p0 + p1));
  }
  return out.length === n ? out : null;
}
