/**
 * A client for OpenAI-compatible chat-completions endpoints (OpenAI, vLLM, llama.cpp server,
 * Ollama's /v1, …) on Node's fetch: POST {baseUrl}/chat/completions with {model, messages,
 * temperature, max_tokens[, logprobs, top_logprobs]}.
 *
 *   - at most `concurrency` requests in flight (the others wait in a FIFO queue);
 *   - each attempt is aborted after `timeoutMs`;
 *   - 429, 5xx, timeouts and network errors are retried up to `retries` times with exponential
 *     back-off (backoffMs · 2^attempt, at most maxBackoffMs; a Retry-After header in seconds is
 *     honoured up to maxBackoffMs); other 4xx answers fail at once with the body's first 200 chars;
 *   - a token budget: once usage (usage.total_tokens of the answers, or chars/4 when the endpoint
 *     reports none) reaches `tokenBudget`, further requests fail with BudgetExceededError before
 *     anything is sent.
 * Nothing is printed: `onEvent` receives retries and failures.
 */

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface TokenLogprob {
  token: string;
  logprob: number;
  top: { token: string; logprob: number }[];
}

export interface ChatResult {
  content: string;
  /** Per content token, when the endpoint returned logprobs. */
  logprobs: TokenLogprob[] | null;
  usage: { prompt: number; completion: number; total: number };
  attempts: number;
}

export interface ChatClientOptions {
  /** e.g. http://127.0.0.1:8080/v1 (…/chat/completions is appended unless already there). */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Requests in flight at most (default 4). */
  concurrency?: number;
  /** Per attempt (default 60 000 ms). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 3). */
  retries?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Total tokens (prompt + completion) this client may use (default unlimited). */
  tokenBudget?: number;
  temperature?: number;
  /** max_tokens of each request (default 256). */
  maxTokens?: number;
  onEvent?: (e: ChatEvent) => void;
}

export type ChatEvent =
  | { kind: 'retry'; attempt: number; reason: string; waitMs: number }
  | { kind: 'failure'; reason: string };

export class EndpointError extends Error {
  constructor(message: string, readonly reason: 'http' | 'timeout' | 'network' | 'malformed', readonly status?: number) {
    super(message);
    this.name = 'EndpointError';
  }
}

export class BudgetExceededError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BudgetExceededError';
  }
}

export interface ChatStats {
  requests: number;
  attempts: number;
  retries: number;
  failures: number;
  promptTokens: number;
  completionTokens: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ChatClient {
  readonly url: string;
  readonly stats: ChatStats = { requests: 0, attempts: 0, retries: 0, failures: 0, promptTokens: 0, completionTokens: 0 };
  private active = 0;
  private readonly queue: (() => void)[] = [];
  private readonly o: Required<Omit<ChatClientOptions, 'apiKey' | 'tokenBudget' | 'onEvent'>> & Pick<ChatClientOptions, 'apiKey' | 'tokenBudget' | 'onEvent'>;

  constructor(opts: ChatClientOptions) {
    let u: URL;
    try {
      u = new URL(opts.baseUrl);
    } catch {
      throw new EndpointError(`base URL ${JSON.stringify(opts.baseUrl)} is not a URL (e.g. http://127.0.0.1:8080/v1)`, 'network');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new EndpointError(`base URL ${opts.baseUrl} must be http(s)`, 'network');
    const base = opts.baseUrl.replace(/\/+$/, '');
    this.url = base.endsWith('/chat/completions') ? base : `${base}/chat/completions`;
    this.o = {
      concurrency: 4, timeoutMs: 60_000, retries: 3, backoffMs: 500, maxBackoffMs: 8_000, temperature: 0, maxTokens: 256, ...opts,
    };
    for (const k of ['concurrency', 'timeoutMs'] as const) if (!(this.o[k] >= 1)) throw new RangeError(`chat client: ${k} must be ≥ 1, got ${this.o[k]}`);
    if (!(this.o.retries >= 0)) throw new RangeError(`chat client: retries must be ≥ 0, got ${this.o.retries}`);
  }

  get model(): string {
    return this.o.model;
  }

  get tokensUsed(): number {
    return this.stats.promptTokens + this.stats.completionTokens;
  }

  private async acquire(): Promise<void> {
    if (this.active < this.o.concurrency) { this.active++; return; }
    await new Promise<void>((r) => this.queue.push(r));
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active--;
  }

  /** One chat completion (see the file comment). */
  async complete(messages: ChatMessage[], opts: { logprobs?: boolean; topLogprobs?: number; maxTokens?: number } = {}): Promise<ChatResult> {
    await this.acquire();
    try {
      if (this.o.tokenBudget !== undefined && this.tokensUsed >= this.o.tokenBudget) {
        throw new BudgetExceededError(`token budget of ${this.o.tokenBudget} used up (${this.tokensUsed} tokens so far)`);
      }
      this.stats.requests++;
      const body = JSON.stringify({
        model: this.o.model, messages, temperature: this.o.temperature, max_tokens: opts.maxTokens ?? this.o.maxTokens,
        ...(opts.logprobs ? { logprobs: true, top_logprobs: opts.topLogprobs ?? 5 } : {}),
      });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (this.o.apiKey) headers.authorization = `Bearer ${this.o.apiKey}`;
      for (let attempt = 0; ; attempt++) {
        this.stats.attempts++;
        let retryable = false, reason = '', wait = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** attempt);
        let err: EndpointError;
        try {
          const r = await fetch(this.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.o.timeoutMs) });
          const text = await r.text();
          if (r.ok) return this.parse(text, attempt + 1, messages);
          reason = `HTTP ${r.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
          retryable = r.status === 429 || r.status >= 500;
          const ra = Number(r.headers.get('retry-after'));
          if (retryable && Number.isFinite(ra) && ra > 0) wait = Math.min(this.o.maxBackoffMs, ra * 1000);
          err = new EndpointError(`${this.url}: ${reason}`, 'http', r.status);
        } catch (e) {
          if (e instanceof EndpointError) throw e;
          const name = (e as Error).name;
          if (name === 'TimeoutError' || name === 'AbortError') {
            reason = `no answer within ${this.o.timeoutMs} ms`;
            err = new EndpointError(`${this.url}: ${reason}`, 'timeout');
          } else {
            const cause = (e as { cause?: { code?: string; message?: string } }).cause;
            reason = `cannot reach the endpoint (${cause?.code ?? cause?.message ?? (e as Error).message})`;
            err = new EndpointError(`${this.url}: ${reason}`, 'network');
          }
          retryable = true;
        }
        if (!retryable || attempt >= this.o.retries) {
          this.stats.failures++;
          this.o.onEvent?.({ kind: 'failure', reason });
          if (attempt > 0) err.message += ` (after ${attempt + 1} attempts)`;
          throw err;
        }
        this.stats.retries++;
        this.o.onEvent?.({ kind: 'retry', attempt: attempt + 1, reason, waitMs: wait });
        await sleep(wait);
      }
    } finally {
      this.release();
    }
  }

  private parse(text: string, attempts: number, messages: ChatMessage[]): ChatResult {
    let j: any;
    try {
      j = JSON.parse(text);
    } catch {
      throw new EndpointError(`${this.url}: the answer is not JSON: ${text.slice(0, 200)}`, 'malformed');
    }
    const choice = j?.choices?.[0];
    const content = choice?.message?.content;
    if (typeof content !== 'string') throw new EndpointError(`${this.url}: the answer has no choices[0].message.content: ${text.slice(0, 200)}`, 'malformed');
    const lp = choice.logprobs?.content;
    const logprobs: TokenLogprob[] | null = Array.isArray(lp)
      ? lp.map((t: any) => ({ token: String(t.token), logprob: Number(t.logprob), top: Array.isArray(t.top_logprobs) ? t.top_logprobs.map((u: any) => ({ token: String(u.token), logprob: Number(u.logprob) })) : [] }))
      : null;
    const est = (s: string) => Math.ceil(s.length / 4);
    const prompt = Number(j.usage?.prompt_tokens ?? messages.reduce((s, m) => s + est(m.content), 0));
    const completion = Number(j.usage?.completion_tokens ?? est(content));
    this.stats.promptTokens += prompt;
    this.stats.completionTokens += completion;
    return { content, logprobs, usage: { prompt, completion, total: prompt + completion }, attempts };
  }
}
