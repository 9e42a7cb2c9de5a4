/** The chat client against a scripted server on 127.0.0.1, the answer parsers and the metrics. */
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { createServer } from 'node:net';
import { ChatClient, EndpointError, BudgetExceededError } from '../../src/interp/autointerp/client.js';
import { startMockChatServer, type MockChatServer } from '../../src/interp/autointerp/mock-server.js';
import { parseExplanation, parsePredictions, predictionProbabilities, highlight, explainerMessages } from '../../src/interp/autointerp/prompts.js';
import { scoreMetrics, auc } from '../../src/interp/autointerp/metrics.js';
import { explanationTokens, simulateRule, tokenListExplanation } from '../../src/interp/autointerp/run.js';
import type { CacheExample } from '../../src/interp/latent-cache.js';

const servers: MockChatServer[] = [];
after(async () => { for (const s of servers) await s.close(); });
async function server(...a: Parameters<typeof startMockChatServer>): Promise<MockChatServer> {
  const s = await startMockChatServer(...a);
  servers.push(s);
  assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  return s;
}
const msgs = [{ role: 'user' as const, content: 'hi' }];

test('client: 429 and 500 are retried with back-off; the request body is OpenAI-shaped', async () => {
  const s = await server(({ n }) => (n === 1 ? { status: 429, headers: { 'retry-after': '0.01' } } : n === 2 ? { status: 500 } : { content: 'ok', usage: { prompt_tokens: 7, completion_tokens: 3 } }), { maxRequests: 10 });
  const events: string[] = [];
  const c = new ChatClient({ baseUrl: s.url, model: 'm1', apiKey: 'k', backoffMs: 5, retries: 3, onEvent: (e) => events.push(e.kind) });
  const r = await c.complete(msgs);
  assert.equal(r.content, 'ok');
  assert.equal(r.attempts, 3);
  assert.equal(s.requests, 3);
  assert.deepEqual(events, ['retry', 'retry']);
  assert.deepEqual(c.stats, { requests: 1, attempts: 3, retries: 2, failures: 0, promptTokens: 7, completionTokens: 3 });
  assert.equal(s.bodies[2].model, 'm1');
  assert.deepEqual(s.bodies[2].messages, msgs);
  assert.equal(s.bodies[2].temperature, 0);
});

test('client: gives up after the retries, a 4xx fails at once, malformed bodies are named', async () => {
  const s = await server(({ user }) => (user === '500' ? { status: 500 } : user === '401' ? { status: 401, raw: '{"error":"bad key"}' } : { raw: 'not json at all' }), { maxRequests: 20 });
  const c = new ChatClient({ baseUrl: s.url, model: 'm', backoffMs: 1, retries: 2 });
  await assert.rejects(c.complete([{ role: 'user', content: '500' }]), (e: Error) => e instanceof EndpointError && /HTTP 500.*after 3 attempts/.test(e.message));
  assert.equal(s.requests, 3);
  await assert.rejects(c.complete([{ role: 'user', content: '401' }]), (e: Error) => e instanceof EndpointError && e.status === 401 && /bad key/.test(e.message));
  assert.equal(s.requests, 4);
  await assert.rejects(c.complete([{ role: 'user', content: 'x' }]), (e: Error) => e instanceof EndpointError && e.reason === 'malformed' && /not JSON/.test(e.message));
});

test('client: slow replies time out and are retried; a down endpoint is reported', async () => {
  const s = await server(({ n }) => (n <= 2 ? { content: 'late', delayMs: 400 } : { content: 'fast' }), { maxRequests: 10 });
  const c = new ChatClient({ baseUrl: s.url, model: 'm', timeoutMs: 80, backoffMs: 1, retries: 1 });
  const t0 = Date.now();
  await assert.rejects(c.complete(msgs), (e: Error) => e instanceof EndpointError && e.reason === 'timeout' && /no answer within 80 ms/.test(e.message));
  assert.ok(Date.now() - t0 < 1000);
  assert.equal((await c.complete(msgs)).content, 'fast');
  // A port with nothing listening.
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', () => ok()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((ok) => probe.close(() => ok()));
  const down = new ChatClient({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm', backoffMs: 1, retries: 1 });
  await assert.rejects(down.complete(msgs), (e: Error) => e instanceof EndpointError && e.reason === 'network' && /cannot reach the endpoint.*after 2 attempts/.test(e.message));
  assert.throws(() => new ChatClient({ baseUrl: 'localhost:8080', model: 'm' }), /not a URL|must be http/);
});

test('client: at most `concurrency` requests in flight; the token budget stops further requests', async () => {
  const s = await server(() => ({ content: 'x', delayMs: 30, usage: { prompt_tokens: 60, completion_tokens: 40 } }), { maxRequests: 50 });
  const c = new ChatClient({ baseUrl: s.url, model: 'm', concurrency: 3 });
  await Promise.all(Array.from({ length: 12 }, () => c.complete(msgs)));
  assert.equal(s.maxInFlight, 3);
  assert.equal(s.requests, 12);
  const b = new ChatClient({ baseUrl: s.url, model: 'm', concurrency: 1, tokenBudget: 250 });
  for (let i = 0; i < 3; i++) await b.complete(msgs);
  await assert.rejects(b.complete(msgs), BudgetExceededError);
  assert.equal(s.requests, 15);
  assert.equal(b.tokensUsed, 300);
});

test('client: logprobs are requested and parsed into P(1) per list element', async () => {
  const lp: [string, number, [string, number][]][] = [['[', 0, []], ['1', Math.log(0.8), [['1', Math.log(0.8)], ['0', Math.log(0.2)]]], [',', 0, []], [' 0', Math.log(0.6), [[' 0', Math.log(0.6)], [' 1', Math.log(0.3)]]], [']', 0, []]];
  const s = await server(() => ({ content: '[1, 0]', logprobs: lp }));
  const c = new ChatClient({ baseUrl: s.url, model: 'm' });
  const r = await c.complete(msgs, { logprobs: true });
  assert.equal(s.bodies[0].logprobs, true);
  assert.equal(s.bodies[0].top_logprobs, 5);
  const p = predictionProbabilities(r.logprobs, 2)!;
  assert.ok(Math.abs(p[0]! - 0.8) < 1e-9 && Math.abs(p[1]! - 1 / 3) < 1e-9, String(p));
  assert.equal(predictionProbabilities(r.logprobs, 3), null);
  assert.equal(predictionProbabilities(null, 2), null);
});

test('parsers: explanations and prediction lists, malformed answers give null', () => {
  assert.equal(parseExplanation('thinking…\n[EXPLANATION]: the word "cat"\n'), 'the word "cat"');
  assert.equal(parseExplanation('no tag here'), null);
  assert.equal(parseExplanation('[EXPLANATION]:   '), null);
  assert.deepEqual(parsePredictions('[1, 0, 1]', 3), [1, 0, 1]);
  assert.deepEqual(parsePredictions('Sure! [True, False]\n', 2), [1, 0]);
  assert.deepEqual(parsePredictions('[1,2] then ["1","0"]', 2), [1, 0]);
  assert.equal(parsePredictions('[1, 0]', 3), null);
  assert.equal(parsePredictions('[1, maybe, 0]', 3), null);
  assert.equal(parsePredictions('yes no yes', 3), null);
});

test('prompts: highlights and activation levels', () => {
  assert.equal(highlight(['a', ' b', ' c', ' d', '\n'], (i) => i === 1 || i === 2 || i === 4), 'a<< b c>> d<<↵>>');
  const m = explainerMessages([{ tokens: ['x', ' cat', ' sat'], acts: [0, 2, 1] }, { tokens: ['the', ' cat'], acts: [0, 4] }]);
  assert.match(m[1]!.content, /Example 1: x<< cat sat>>\nActivations: \(" cat", 5\), \(" sat", 2\)/);
  assert.match(m[1]!.content, /Example 2: the<< cat>>\nActivations: \(" cat", 9\)/);
});

test('metrics: hand-computed precision, recall, F1, balanced accuracy and AUC', () => {
  const m = scoreMetrics([1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 1, 0, 0, 0], [0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.3]);
  assert.deepEqual([m.tp, m.fn, m.fp, m.tn], [2, 1, 1, 3]);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  close(m.precision, 2 / 3);
  close(m.recall, 2 / 3);
  close(m.f1, 2 / 3);
  close(m.balancedAccuracy, 17 / 24);
  close(m.accuracy, 5 / 7);
  close(m.auc!, 10.5 / 12);
  assert.equal(auc([1, 1], [0.1, 0.2]), null);
  close(auc([0, 1], [0.1, 0.2])!, 1);
  const none = scoreMetrics([1, 0], [0, 0]);
  assert.deepEqual([none.precision, none.recall, none.f1, none.balancedAccuracy, none.auc], [0, 0, 0, 0.5, null]);
});

test('offline baseline: token-list explainer and rule simulator', () => {
  const vocab = ['<s>', ' the', ' cat', ' Cat', ' sat', ' mat'];
  const ex = (ids: number[], acts: number[]): CacheExample => ({ seq: 0, start: 0, end: ids.length, max: 0, pos: 0, tokens: Int32Array.from(ids), acts: Float32Array.from(acts) });
  const t = tokenListExplanation([ex([1, 2, 4], [0, 3, 1]), ex([1, 3, 5], [0, 2, 0]), ex([4, 5], [0.5, 0])], vocab, 2);
  // ' cat' and ' Cat' share the key "cat" (2 hits, sum 5); "sat" 2 hits, sum 1.5.
  assert.deepEqual(t.tokens, ['cat', 'sat']);
  assert.equal(t.explanation, 'Fires on the tokens "cat", "sat"');
  const set = explanationTokens(t.explanation);
  assert.deepEqual([...set], ['cat', 'sat']);
  assert.deepEqual(simulateRule('detection', set, [' the', ' Cat', ' mat', ' on'], [false, false, false, false]), { pred: 1, prob: 0.25 });
  assert.deepEqual(simulateRule('detection', set, [' the', ' mat'], [false, false]), { pred: 0, prob: 0 });
  assert.deepEqual(simulateRule('fuzzing', set, [' the', ' cat', ' mat'], [false, true, true]), { pred: 1, prob: 0.5 });
  assert.deepEqual(simulateRule('fuzzing', set, [' the', ' cat', ' mat'], [true, false, true]), { pred: 0, prob: 0 });
  assert.deepEqual([...explanationTokens('Nouns about animals')], ['nouns', 'about', 'animals']);
});
