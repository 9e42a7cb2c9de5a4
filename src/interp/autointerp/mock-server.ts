/**
 * A scripted OpenAI-compatible chat-completions server on 127.0.0.1 (a random free port), for tests
 * and benchmarks of the client: `reply` decides each answer (content, logprobs, HTTP status, raw
 * body, delay). At most `maxRequests` requests are answered as scripted; later ones get HTTP 400
 * (not retried by the client), so a runaway loop ends quickly. Only ever binds the loopback address.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedReply {
  /** HTTP status (default 200). */
  status?: number;
  /** The assistant's message content (200 answers). */
  content?: string;
  /** Per-token logprobs: [token, logprob, [[alt, logprob], …]]. */
  logprobs?: [string, number, [string, number][]][];
  /** A raw body instead of the JSON built from content. */
  raw?: string;
  delayMs?: number;
  usage?: { prompt_tokens: number; completion_tokens: number };
  headers?: Record<string, string>;
}

export interface ScriptedRequest {
  /** 1-based request number. */
  n: number;
  body: any;
  /** The system and user messages' content. */
  system: string;
  user: string;
}

export interface MockChatServer {
  /** Base URL, e.g. http://127.0.0.1:41234/v1 */
  url: string;
  readonly requests: number;
  readonly maxInFlight: number;
  readonly bodies: any[];
  /** The authorization header of each request ('' when absent). */
  readonly auth: string[];
  close(): Promise<void>;
}

export async function startMockChatServer(reply: (r: ScriptedRequest) => ScriptedReply | Promise<ScriptedReply>, opts: { maxRequests?: number; keepBodies?: boolean } = {}): Promise<MockChatServer> {
  const max = opts.maxRequests ?? 1000;
  let requests = 0, inFlight = 0, maxInFlight = 0;
  const bodies: any[] = [];
  const auth: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { raw += c; });
    req.on('end', () => {
      const n = ++requests;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const done = (status: number, body: string, headers: Record<string, string> = {}) => {
        inFlight--;
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(body);
      };
      if (n > max || req.url?.endsWith('/chat/completions') !== true) {
        done(n > max ? 400 : 404, JSON.stringify({ error: n > max ? `mock server: request limit of ${max} reached` : `no route ${req.url}` }));
        return;
      }
      let body: any = null;
      try { body = JSON.parse(raw); } catch { /* scripted reply sees null */ }
      if (opts.keepBodies !== false) { bodies.push(body); auth.push(String(req.headers.authorization ?? '')); }
      const msgs: { role: string; content: string }[] = Array.isArray(body?.messages) ? body.messages : [];
      Promise.resolve(reply({ n, body, system: msgs.find((m) => m.role === 'system')?.content ?? '', user: msgs.filter((m) => m.role === 'user').map((m) => m.content).join('\n') }))
        .then((r) => {
          const send = () => {
            const status = r.status ?? 200;
            const text = r.raw ?? JSON.stringify(status === 200 ? {
              id: `mock-${n}`, object: 'chat.completion', model: body?.model ?? 'mock',
              choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: r.content ?? '' },
                ...(r.logprobs ? { logprobs: { content: r.logprobs.map(([token, logprob, top]) => ({ token, logprob, top_logprobs: top.map(([t, l]) => ({ token: t, logprob: l })) })) } } : {}) }],
              usage: r.usage ? { ...r.usage, total_tokens: r.usage.prompt_tokens + r.usage.completion_tokens } : undefined,
            } : { error: { message: `scripted ${status}` } });
            done(status, text, r.headers);
          };
          if (r.delayMs) { const t = setTimeout(() => { timers.delete(t); send(); }, r.delayMs); timers.add(t); } else send();
        }, (e: unknown) => done(500, JSON.stringify({ error: String(e) })));
    });
  });
  await new Promise<void>((ok, fail) => { server.once('error', fail); server.listen(0, '127.0.0.1', () => ok()); });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get requests() { return requests; },
    get maxInFlight() { return maxInFlight; },
    bodies,
    auth,
    close: () => new Promise<void>((ok) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections?.();
      server.close(() => ok());
    }),
  };
}
