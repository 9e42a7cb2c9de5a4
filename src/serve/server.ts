/**
 * `aelab serve`: a dashboard for runs and an inference API for saved models, on node:http.
 *
 * Why node:http and no framework: the server has a dozen fixed routes, no sessions and no
 * templates; node:http is part of the runtime (nothing to install, audit or keep up to date) and
 * its streaming bodies make the size limit and server-sent events a few lines each.
 *
 * Routes (GET unless noted):
 *   /healthz                           {"ok": true, "models": n, "runs": n}; no token needed
 *   /                                  the dashboard (runs and models)
 *   /runs/{name}                       a run's page: config, live curves, checkpoints, files
 *   /api/runs, /api/runs/{name}        the same as JSON (metrics.jsonl parsed)
 *   /api/runs/{name}/events            server-sent events: one `metrics` event per new log line
 *   /files/{name}/{path}               a file inside a run folder (reports, SVGs)
 *   /api/models                        the servable models: kind, type, input shape, operations
 *   /latents/{cache}                   a latent cache: latents searchable and sortable by density,
 *                                      activation and explanation score
 *   /latents/{cache}/{id}              one latent (linkable): histogram, contexts shaded by
 *                                      activation, logit effects, explanations, scores, heads
 *   /api/latents/{cache}[/{id}]        the same as JSON
 *   POST /v1/models/{name}/{op}        op = encode | decode | reconstruct | score
 *   /static/{file}                     the dashboard's own script and style
 *   /demo                              the browser demo: SAE encoding, AE digit reconstruction in the page (src/web)
 *   /static/aelab.js[.map]             the browser bundle from dist/web (`npm run build:web`; 404 until built)
 *   /api/models/{name}/weights         an SAE's or model's weights as safetensors bytes for the browser (src/web)
 *
 * Inference bodies: JSON `{"inputs": [[…], …]}` (nested arrays [B, …]), or float32 little-endian
 * bytes with `Content-Type: application/octet-stream` and the shape in `X-Shape: B,D`. The answer is
 * JSON `{"shape": […], "outputs": […]}` (plus `labels` or `logvar` where the model has them), or
 * float32 bytes with `X-Shape` when the request says `Accept: application/octet-stream`. SAE
 * encodings can come back sparse: `?sparse=1` gives per-row `indices` and `values`.
 *
 * Safety: names are looked up in the registry (registry.ts), file paths go through paths.ts; bodies
 * above `maxBodyBytes` and batches above `maxRows` get 413; malformed requests 400 with a message;
 * an exception in a handler is a 500 with its message, never a crash. When `token` is set (required
 * for a non-loopback host; the CLI enforces it), every route but /healthz needs
 * `Authorization: Bearer <token>` (or `?token=` where a browser cannot send headers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSaeFolder } from '../sae/convert.js';
import type { SaeWeights } from '../sae/interop.js';
import { loadModel } from '../models/io.js';
import { loadDetector } from '../tasks/neural-detectors.js';
import { readDetectorFile } from '../tasks/anomaly.js';
import { findEntry, scan, type Entry, type Registry } from './registry.js';
import { OPERATIONS, RequestError, checkInput, detectorServable, modelServable, saeServable, withPreprocessing, type Operation, type Output, type Servable } from './inference.js';
import { loadPreprocessing } from '../tasks/preprocess.js';
import { PathError, resolveFile, safeSegments } from './paths.js';
import { demoPage } from '../web/demo.js';
import { saeToSafetensors } from '../web/weights.js';
import { modelToSafetensors } from '../web/model.js';

/** Where `npm run build:web` writes the browser bundle (this file runs as dist/src/serve/server.js). */
const WEB_DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
import { DASHBOARD_CSS, DASHBOARD_JS, indexPage, latentPage, latentsPage, runPage } from './dashboard.js';
import { latentDetail, latentList } from './latents.js';
import { loadLanguageModel } from '../lm/load.js';
import { readLatentCacheManifest } from '../interp/latent-cache.js';

export interface ServeOptions {
  /** Folders to serve (runs, models, detectors are found inside). */
  roots: string[];
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Bearer token; required by the CLI when host is not loopback. */
  token?: string;
  /** Largest request body (default 64 MiB). */
  maxBodyBytes?: number;
  /** Most rows per inference request (default 8192). */
  maxRows?: number;
  /** Poll interval of the live-metrics stream in ms (default 250). */
  pollMs?: number;
  /** One event per answered request (the CLI logs them). */
  onRequest?: (e: { method: string; path: string; status: number; ms: number }) => void;
}

export interface RunningServer {
  url: string;
  server: Server;
  registry: Registry;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || /^127\./.test(host);
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: string | Uint8Array, type: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
}

const json = (res: ServerResponse, status: number, v: unknown) => send(res, status, JSON.stringify(v), 'application/json; charset=utf-8');

/**
 * Reads the body up to `limit` bytes. A larger body is a 413, sent after the upload has been
 * drained (so the client sees the answer, not a reset connection) unless it runs past 16× the
 * limit, where the connection is cut.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooBig = () => new HttpError(413, `the body is over ${limit} bytes; at most ${limit} are accepted`);
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 16 * limit) req.destroy();
      else if (size <= limit) chunks.push(c);
    });
    req.on('end', () => (size > limit ? reject(tooBig()) : resolve(Buffer.concat(chunks as unknown as Uint8Array[]))));
    req.on('error', reject);
  });
}

/** Flattens nested JSON arrays of numbers into values and a shape; ragged or non-numeric input is a 400. */
export function flattenNested(v: unknown): { values: Float32Array; shape: number[] } {
  const shape: number[] = [];
  let cur: unknown = v;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  const n = shape.reduce((p, d) => p * d, 1);
  const values = new Float32Array(n);
  let i = 0;
  const walk = (x: unknown, depth: number, path: string) => {
    if (depth === shape.length) {
      if (typeof x !== 'number' || !Number.isFinite(x)) throw new RequestError(`inputs${path} is ${JSON.stringify(x)}, not a finite number`);
      values[i++] = x;
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth]) throw new RequestError(`inputs${path} should be an array of ${shape[depth]} (the arrays are ragged)`);
    for (let j = 0; j < x.length; j++) walk(x[j], depth + 1, `${path}[${j}]`);
  };
  walk(v, 0, '');
  return { values, shape };
}

/** Nested arrays from row-major values. */
function nest(data: ArrayLike<number>, shape: readonly number[]): unknown {
  if (shape.length <= 1) return Array.from(data);
  const per = shape.slice(1).reduce((p, d) => p * d, 1);
  const out: unknown[] = [];
  for (let i = 0; i < shape[0]!; i++) out.push(nest(Array.prototype.slice.call(data, i * per, (i + 1) * per) as number[], shape.slice(1)));
  return out;
}

/** Per-row nonzero latents of codes [B, H]; from the k-per-row form when the SAE gave one (zeros dropped). */
function sparseRows(out: Output): { indices: number[][]; values: number[][] } {
  const [B, H] = [out.shape[0]!, out.shape[1]!];
  const indices: number[][] = [], values: number[][] = [];
  if (out.sparse) {
    const { k, indices: ix, values: vs } = out.sparse;
    for (let b = 0; b < B; b++) {
      const i: number[] = [], v: number[] = [];
      for (let j = 0; j < k; j++) {
        if (vs[b * k + j] === 0) continue;
        i.push(ix[b * k + j]!);
        v.push(vs[b * k + j]!);
      }
      indices.push(i);
      values.push(v);
    }
    return { indices, values };
  }
  const data = out.data;
  for (let b = 0; b < B; b++) {
    const ix: number[] = [], vs: number[] = [];
    for (let h = 0; h < H; h++) {
      const v = data[b * H + h]!;
      if (v !== 0) {
        ix.push(h);
        vs.push(v);
      }
    }
    indices.push(ix);
    values.push(vs);
  }
  return { indices, values };
}

function readJsonl(p: string): Record<string, unknown>[] {
  if (!existsSync(p)) return [];
  const out: Record<string, unknown>[] = [];
  for (const l of readFileSync(p, 'utf8').split('\n')) {
    if (!l.trim()) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* a line being written */
    }
  }
  return out;
}

function readJsonFile(p: string): unknown {
  try {
    return JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    return null;
  }
}

/** Where a run keeps its checkpoints: checkpoints/ (SAE runs) or the run folder itself (models, LMs). */
function checkpointsOf(dir: string): string[] {
  const found: string[] = [];
  for (const d of [dir, join(dir, 'checkpoints')]) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) if (/^step-\d{9}$/.test(f)) found.push(d === dir ? f : `checkpoints/${f}`);
  }
  return found.sort();
}

const VIEWABLE = new Set(['.html', '.svg', '.png', '.md', '.txt', '.json', '.jsonl', '.csv']);
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.md': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8', '.json': 'application/json; charset=utf-8', '.jsonl': 'text/plain; charset=utf-8', '.csv': 'text/plain; charset=utf-8',
};

function runFilesList(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => VIEWABLE.has(extname(f)) && statSync(join(dir, f)).isFile()).sort() : [];
}

export function runSummary(e: Entry): Record<string, unknown> {
  const metrics = readJsonl(join(e.dir, 'metrics.jsonl'));
  const last = [...metrics].reverse().find((m) => m.split === undefined || m.split === 'train');
  const config = readJsonFile(join(e.dir, 'config.json')) ?? readJsonFile(join(e.dir, 'train-config.json'));
  const running = existsSync(join(e.dir, '.lock'));
  return { name: e.name, steps: last?.step ?? 0, loss: last?.loss ?? null, running, done: existsSync(join(e.dir, 'summary.json')) || existsSync(join(e.dir, 'model')) || existsSync(join(e.dir, 'sae')), config };
}

/** Starts the server; resolves once it listens. */
export async function serve(o: ServeOptions): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  const maxBody = o.maxBodyBytes ?? 64 * 1024 * 1024;
  const maxRows = o.maxRows ?? 8192;
  const pollMs = o.pollMs ?? 250;
  let registry = scan(o.roots);
  const loaded = new Map<string, Servable>();
  const streams = new Set<ServerResponse>();
  const token = o.token ? new TextEncoder().encode(o.token) : null;

  const servable = (name: string): Servable => {
    const hit = loaded.get(name);
    if (hit) return hit;
    let e = findEntry(registry, ['sae', 'model', 'detector'], name);
    if (!e) {
      registry = scan(o.roots); // a model saved after the server started
      e = findEntry(registry, ['sae', 'model', 'detector'], name);
    }
    if (!e) throw new HttpError(404, `no model named '${name}' (GET /api/models lists them)`);
    let s: Servable;
    if (e.kind === 'sae') s = saeServable(loadSaeFolder(e.dir));
    else if (e.kind === 'detector') s = detectorServable(loadDetector(e.dir), readDetectorFile(e.dir).kind);
    else {
      // A model trained by `aelab train` takes raw rows: its training scaler is applied here.
      s = modelServable(loadModel(e.dir));
      const pre = loadPreprocessing(e.dir);
      if (pre) s = withPreprocessing(s, pre.pre);
    }
    loaded.set(name, s);
    return s;
  };

  const runEntry = (name: string): Entry => {
    let e = findEntry(registry, 'run', name);
    if (!e) {
      registry = scan(o.roots);
      e = findEntry(registry, 'run', name);
    }
    if (!e) throw new HttpError(404, `no run named '${name}'`);
    return e;
  };

  // The header, or ?token= for what a browser cannot add headers to (EventSource, links).
  const latentsEntry = (name: string): Entry => {
    let e = findEntry(registry, 'latents', name);
    if (!e) {
      registry = scan(o.roots);
      e = findEntry(registry, 'latents', name);
    }
    if (!e) throw new HttpError(404, `no latent cache named '${name}'`);
    return e;
  };

  // Head attribution needs the SAE's decoder and the model's head count: read once per cache, when
  // the hook is attn.hook_z and both files are still where the manifest says.
  const heads = new Map<string, { sae?: SaeWeights; nHeads?: number }>();
  const headInfo = (e: Entry): { sae?: SaeWeights; nHeads?: number } => {
    let h = heads.get(e.dir);
    if (h) return h;
    h = {};
    const m = readLatentCacheManifest(e.dir);
    if (m && m.hook.endsWith('attn.hook_z')) {
      try {
        h = { sae: loadSaeFolder(m.sae.path), nHeads: loadLanguageModel(m.model.path).model.cfg.nHeads };
      } catch {
        h = {}; // moved or deleted since the cache was made: the page says heads are unavailable
      }
    }
    heads.set(e.dir, h);
    return h;
  };

  const authorised = (req: IncomingMessage, url: URL): boolean => {
    if (!token) return true;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const raw = m ? m[1]! : url.searchParams.get('token');
    if (!raw) return false;
    const given = new TextEncoder().encode(raw);
    return given.length === token.length && timingSafeEqual(given, token);
  };

  const infer = async (req: IncomingMessage, res: ServerResponse, name: string, op: Operation, query: URLSearchParams) => {
    const s = servable(name);
    const body = await readBody(req, maxBody);
    const binary = (req.headers['content-type'] ?? '').startsWith('application/octet-stream');
    let values: Float32Array, shape: number[];
    if (binary) {
      const hs = String(req.headers['x-shape'] ?? '');
      if (!/^\d+(,\d+)+$/.test(hs)) throw new RequestError(`binary requests need an X-Shape header 'B,D' (got '${hs}')`);
      shape = hs.split(',').map(Number);
      if (body.length % 4 !== 0) throw new RequestError(`a float32 body has a multiple of 4 bytes; got ${body.length}`);
      values = new Float32Array(body.length / 4);
      new Uint8Array(values.buffer).set(new Uint8Array(body.buffer, body.byteOffset, body.length));
      for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) throw new RequestError(`value ${i} is ${values[i]}, not finite`);
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch (e) {
        throw new RequestError(`the body is not valid JSON (${(e as Error).message})`);
      }
      if (!parsed || typeof parsed !== 'object' || !('inputs' in parsed)) throw new RequestError(`the JSON body needs an "inputs" field: {"inputs": [[…], …]}`);
      ({ values, shape } = flattenNested((parsed as { inputs: unknown }).inputs));
    }
    const B = checkInput(s, op, shape, values.length, maxRows);
    const out: Output = s.ops[op]!(values, B);
    if ((req.headers.accept ?? '').includes('application/octet-stream')) {
      send(res, 200, new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength), 'application/octet-stream', { 'x-shape': out.shape.join(',') });
      return;
    }
    const extra = Object.fromEntries(Object.entries(out.extra ?? {}).map(([k, v]) => [k, nest(v.data, v.shape)]));
    if (op === 'encode' && s.kind === 'sae' && query.get('sparse') === '1') json(res, 200, { model: name, op, shape: out.shape, ...sparseRows(out) });
    else json(res, 200, { model: name, op, shape: out.shape, outputs: nest(out.data, out.shape), ...extra });
  };

  /** Streams new metrics lines as server-sent events; closes with the client. */
  const events = (req: IncomingMessage, res: ServerResponse, e: Entry) => {
    const path = join(e.dir, 'metrics.jsonl');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': aelab metrics stream\n\n');
    let offset = existsSync(path) ? statSync(path).size : 0;
    let partial = '';
    const decoder = new TextDecoder();
    streams.add(res);
    const tick = setInterval(() => {
      if (!existsSync(path)) return;
      const size = statSync(path).size;
      if (size < offset) {
        // The log was cut back (a resumed run): tell the page to reload its history.
        offset = 0;
        partial = '';
        res.write('event: reset\ndata: {}\n\n');
      }
      if (size === offset) return;
      const fd = openSync(path, 'r');
      const buf = new Uint8Array(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      closeSync(fd);
      offset = size;
      const text = partial + decoder.decode(buf, { stream: true });
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) res.write(`event: metrics\ndata: ${l}\n\n`);
    }, pollMs);
    const beat = setInterval(() => res.write(': keep-alive\n\n'), 15000);
    req.on('close', () => {
      clearInterval(tick);
      clearInterval(beat);
      streams.delete(res);
    });
  };

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/healthz') return json(res, 200, { ok: true, runs: registry.entries.filter((e) => e.kind === 'run').length, models: registry.entries.filter((e) => e.kind === 'sae' || e.kind === 'model' || e.kind === 'detector').length });
    if (!authorised(req, url)) return send(res, 401, 'a bearer token is required: Authorization: Bearer <token>\n', 'text/plain; charset=utf-8', { 'www-authenticate': 'Bearer' });
    const method = req.method ?? 'GET';
    if (path.startsWith('/v1/models/')) {
      if (method !== 'POST') throw new HttpError(405, `use POST for ${path}`);
      const rest = path.slice('/v1/models/'.length);
      const cut = rest.lastIndexOf('/');
      const op = rest.slice(cut + 1) as Operation;
      if (cut < 1 || !OPERATIONS.includes(op)) throw new HttpError(404, `POST /v1/models/{name}/{${OPERATIONS.join('|')}}`);
      return infer(req, res, safeSegments(rest.slice(0, cut)).join('/'), op, url.searchParams);
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} is not served here`);
    if (path === '/') {
      registry = scan(o.roots);
      return send(res, 200, indexPage(registry.entries.filter((e) => e.kind === 'run').map(runSummary), registry.entries.filter((e) => e.kind === 'sae' || e.kind === 'model' || e.kind === 'detector'), registry.entries.filter((e) => e.kind === 'latents')), 'text/html; charset=utf-8');
    }
    if (path === '/static/dashboard.js') return send(res, 200, DASHBOARD_JS, 'text/javascript; charset=utf-8');
    if (path === '/static/dashboard.css') return send(res, 200, DASHBOARD_CSS, 'text/css; charset=utf-8');
    if (path === '/static/aelab.js' || path === '/static/aelab.js.map') {
      const file = join(WEB_DIST, path.slice('/static/'.length));
      if (!existsSync(file)) throw new HttpError(404, `the browser bundle is not built (no ${file}): run \`npm run build:web\``);
      return send(res, 200, new Uint8Array(readFileSync(file)), path.endsWith('.map') ? 'application/json; charset=utf-8' : 'text/javascript; charset=utf-8');
    }
    if (path === '/demo') {
      registry = scan(o.roots);
      return send(res, 200, demoPage(registry.entries.filter((e) => e.kind === 'sae').map((e) => e.name), registry.entries.filter((e) => e.kind === 'model').map((e) => e.name)), 'text/html; charset=utf-8');
    }
    if (path.startsWith('/api/models/') && path.endsWith('/weights')) {
      const name = safeSegments(path.slice('/api/models/'.length, -'/weights'.length)).join('/');
      const e = findEntry(registry, ['sae', 'model'], name) ?? findEntry((registry = scan(o.roots)), ['sae', 'model'], name);
      if (!e) throw new HttpError(404, `no SAE or model named '${name}' (GET /api/models lists them)`);
      return send(res, 200, e.kind === 'sae' ? saeToSafetensors(loadSaeFolder(e.dir)) : modelToSafetensors(loadModel(e.dir)), 'application/octet-stream');
    }
    if (path === '/api/runs') {
      registry = scan(o.roots);
      return json(res, 200, registry.entries.filter((e) => e.kind === 'run').map(runSummary));
    }
    if (path === '/api/models') {
      registry = scan(o.roots);
      return json(res, 200, registry.entries.filter((e) => e.kind === 'sae' || e.kind === 'model' || e.kind === 'detector').map((e) => ({ name: e.name, kind: e.kind })));
    }
    if (path.startsWith('/api/runs/')) {
      const rest = safeSegments(path.slice('/api/runs/'.length));
      if (rest.at(-1) === 'events') return events(req, res, runEntry(rest.slice(0, -1).join('/')));
      const e = runEntry(rest.join('/'));
      return json(res, 200, { ...runSummary(e), metrics: readJsonl(join(e.dir, 'metrics.jsonl')), evals: readJsonl(join(e.dir, 'evals.jsonl')), summary: readJsonFile(join(e.dir, 'summary.json')), checkpoints: checkpointsOf(e.dir), files: runFilesList(e.dir) });
    }
    if (path.startsWith('/api/latents/') || path.startsWith('/latents/')) {
      const api = path.startsWith('/api/');
      const segs = safeSegments(path.slice(api ? '/api/latents/'.length : '/latents/'.length));
      const last = segs.at(-1) ?? '';
      const id = /^\d+$/.test(last) && segs.length > 1 ? Number(last) : null;
      const e = latentsEntry((id === null ? segs : segs.slice(0, -1)).join('/'));
      if (!api) return send(res, 200, id === null ? latentsPage(e.name) : latentPage(e.name, id), 'text/html; charset=utf-8');
      if (id === null) return json(res, 200, latentList(e.dir, registry.entries.filter((x) => x.kind === 'autointerp').map((x) => x.dir)));
      try {
        return json(res, 200, latentDetail(e.dir, id, registry.entries.filter((x) => x.kind === 'autointerp').map((x) => x.dir), headInfo(e)));
      } catch (err) {
        if (err instanceof RangeError) throw new HttpError(404, err.message);
        throw err;
      }
    }
    if (path.startsWith('/runs/')) {
      const e = runEntry(safeSegments(path.slice('/runs/'.length)).join('/'));
      return send(res, 200, runPage(e.name, checkpointsOf(e.dir), runFilesList(e.dir)), 'text/html; charset=utf-8');
    }
    if (path.startsWith('/files/')) {
      const segs = safeSegments(path.slice('/files/'.length));
      // The longest prefix naming a run; the rest is the file inside it.
      for (let i = segs.length - 1; i >= 1; i--) {
        const e = findEntry(registry, 'run', segs.slice(0, i).join('/'));
        if (!e) continue;
        const file = resolveFile(e.dir, segs.slice(i));
        const type = MIME[extname(file)];
        if (!type) throw new HttpError(403, `files of type '${extname(file) || '(none)'}' are not served`);
        return send(res, 200, new Uint8Array(readFileSync(file)), type);
      }
      throw new HttpError(404, 'no such run file');
    }
    throw new HttpError(404, `nothing at ${path}`);
  };

  const server = createServer((req, res) => {
    const t0 = Date.now();
    res.on('finish', () => o.onRequest?.({ method: req.method ?? '', path: req.url ?? '', status: res.statusCode, ms: Date.now() - t0 }));
    route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError || err instanceof RequestError || err instanceof PathError ? err.status : 500;
      if (res.headersSent) return res.destroy();
      send(res, status, JSON.stringify({ error: (err as Error).message ?? String(err) }), 'application/json; charset=utf-8', status === 413 ? { connection: 'close' } : {});
    });
  });
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8080, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port ?? 8080;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    server,
    get registry() {
      return registry;
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of streams) s.end();
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}
