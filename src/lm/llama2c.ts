/**
 * llama2.c checkpoints (Karpathy's llama2.c, MIT): the Llama architecture with RMSNorm (ε 1e-5),
 * rotary positions (θ 10000), SwiGLU MLP and grouped-query attention, stored as raw float32.
 *
 * Two layouts exist:
 *   - legacy (run.c's format): header of 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *     vocab_size, seq_len), vocab_size < 0 meaning the classifier is NOT shared with the token
 *     embedding; then token_embedding [V, D], rms_att [L, D], wq [L, D, D], wk [L, kv, D],
 *     wv [L, kv, D], wo [L, D, D], rms_ffn [L, D], w1 [L, F, D], w2 [L, D, F], w3 [L, F, D],
 *     rms_final [D], two RoPE tables [seq_len, dh/2] (unused: recomputed), then wcls [V, D] when
 *     not shared (kv = D·n_kv_heads / n_heads);
 *   - version 1 (export.py's version1_export): uint32 magic 0x616b3432 ("ak42"), int32 version 1,
 *     the same 7 int32 (vocab_size positive), uint8 shared_classifier, zero padding to 256 bytes;
 *     then rms_att, rms_ffn, rms_final, token_embedding, wq, wk, wv, wo, w1, w2, w3, and wcls when
 *     not shared.
 *
 * llama2.c rotates interleaved pairs (x[2i], x[2i+1]); aelab's rotary uses HF's rotate_half layout,
 * so wq and wk rows are permuted at load exactly as HF's Llama conversion does (per head, row
 * 2i + j moves to j·dh/2 + i), which leaves every attention score unchanged.
 * Tensors are read one at a time straight into their parameters, so peak memory is the model.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError } from '../core/io/errors.js';
import { Transformer } from './transformer.js';
import type { TransformerConfig } from './config.js';

export const LLAMA2C_MAGIC = 0x616b3432;
const V1_HEADER_BYTES = 256;

export interface Llama2cHeader {
  version: 0 | 1;
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
  /** Bytes before the first weight. */
  headerBytes: number;
}

function readAt(fd: number, path: string, pos: number, n: number, what: string): Uint8Array {
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = readSync(fd, buf, got, n - got, pos + got);
    if (r === 0) throw new FormatError(path, 'data', `truncated: ${what} needs ${n} bytes at offset ${pos}, the file ends after ${pos + got}`);
    got += r;
  }
  return buf;
}

/** Parses and checks the header of a llama2.c checkpoint (either version). */
export function readLlama2cHeader(fd: number, path: string, size: number): Llama2cHeader {
  if (size < 28) throw new FormatError(path, 'header', `too short for a llama2.c checkpoint (${size} bytes)`);
  const bytes = readAt(fd, path, 0, Math.min(size, V1_HEADER_BYTES), 'the header');
  const first = new DataView(bytes.buffer);
  let h: Llama2cHeader;
  if (first.getUint32(0, true) === LLAMA2C_MAGIC) {
    const version = first.getInt32(4, true);
    if (version !== 1) throw new FormatError(path, 'version', `llama2.c checkpoint version ${version} is not supported (only 1 and the legacy format)`);
    if (size < V1_HEADER_BYTES) throw new FormatError(path, 'header', `truncated version-1 header (${size} bytes, expected 256)`);
    const p = (i: number) => first.getInt32(8 + 4 * i, true);
    h = { version: 1, dim: p(0), hiddenDim: p(1), nLayers: p(2), nHeads: p(3), nKvHeads: p(4), vocabSize: p(5), seqLen: p(6), sharedClassifier: first.getUint8(36) === 1, headerBytes: V1_HEADER_BYTES };
  } else {
    const p = (i: number) => first.getInt32(4 * i, true);
    const v = p(5);
    h = { version: 0, dim: p(0), hiddenDim: p(1), nLayers: p(2), nHeads: p(3), nKvHeads: p(4), vocabSize: Math.abs(v), seqLen: p(6), sharedClassifier: v > 0, headerBytes: 28 };
  }
  const fields: [string, number][] = [['dim', h.dim], ['hidden_dim', h.hiddenDim], ['n_layers', h.nLayers], ['n_heads', h.nHeads], ['n_kv_heads', h.nKvHeads], ['vocab_size', h.vocabSize], ['seq_len', h.seqLen]];
  for (const [name, v] of fields) {
    if (!(v > 0 && v < 1 << 24)) throw new FormatError(path, name, `header field ${name} = ${v} is not a plausible size (not a llama2.c checkpoint?)`);
  }
  if (h.dim % h.nHeads !== 0 || h.nHeads % h.nKvHeads !== 0) throw new FormatError(path, 'n_heads', `dim ${h.dim}, n_heads ${h.nHeads} and n_kv_heads ${h.nKvHeads} do not divide evenly`);
  if ((h.dim / h.nHeads) % 2 !== 0) throw new FormatError(path, 'n_heads', `head size ${h.dim / h.nHeads} must be even for rotary positions`);
  return h;
}

/** The transformer config of a llama2.c header. */
export function llama2cConfig(h: Llama2cHeader): TransformerConfig {
  return {
    family: 'llama', vocabSize: h.vocabSize, dModel: h.dim, nLayers: h.nLayers, nHeads: h.nHeads, nKvHeads: h.nKvHeads,
    dHead: h.dim / h.nHeads, dMlp: h.hiddenDim, nCtx: h.seqLen, norm: 'rmsnorm', normEps: 1e-5, positional: 'rotary',
    ropeTheta: 10000, mlp: 'swiglu', attnBias: false, mlpBias: false, tiedEmbeddings: h.sharedClassifier, bosId: 1, eosId: 2,
  };
}

/** Rows of a [heads·dh, D] projection from llama2.c's interleaved rotary layout to rotate_half. */
export function interleavedToHalf(w: Float32Array, heads: number, dh: number, D: number): Float32Array {
  const out = new Float32Array(w.length), half = dh / 2;
  for (let h = 0; h < heads; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) {
    const src = (h * dh + 2 * i + j) * D, dst = (h * dh + j * half + i) * D;
    out.set(w.subarray(src, src + D), dst);
  }
  return out;
}

/** Loads a llama2.c checkpoint (legacy or version 1) as a Transformer in eval mode. */
export function loadLlama2c(path: string): Transformer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const h = readLlama2cHeader(fd, path, size);
    const cfg = llama2cConfig(h);
    const { dim: D, hiddenDim: F, nLayers: L, vocabSize: V, seqLen } = h;
    const dh = D / h.nHeads, kv = h.nKvHeads * dh;
    const model = new Transformer(cfg);
    const B = model.blocks;
    // Each entry: its name, element count per layer (or total), and where its floats go.
    type Sink = (data: Float32Array) => void;
    const perLayer = (n: number, put: (l: number, d: Float32Array) => void): [number, Sink] => [L * n, (d) => { for (let l = 0; l < L; l++) put(l, d.subarray(l * n, (l + 1) * n)); }];
    const entries: Record<string, [number, Sink]> = {
      token_embedding: [V * D, (d) => model.embed.W_E.f32().set(d)],
      rms_att: perLayer(D, (l, d) => B[l]!.ln1.w.f32().set(d)),
      rms_ffn: perLayer(D, (l, d) => B[l]!.ln2.w.f32().set(d)),
      rms_final: [D, (d) => model.ln_final.w.f32().set(d)],
      wq: perLayer(D * D, (l, d) => B[l]!.attn.W_Q.f32().set(interleavedToHalf(d, h.nHeads, dh, D))),
      wk: perLayer(kv * D, (l, d) => B[l]!.attn.W_K.f32().set(interleavedToHalf(d, h.nKvHeads, dh, D))),
      wv: perLayer(kv * D, (l, d) => B[l]!.attn.W_V.f32().set(d)),
      wo: perLayer(D * D, (l, d) => B[l]!.attn.W_O.f32().set(d)),
      w1: perLayer(F * D, (l, d) => B[l]!.mlp.W_gate!.f32().set(d)),
      w2: perLayer(D * F, (l, d) => B[l]!.mlp.W_out.f32().set(d)),
      w3: perLayer(F * D, (l, d) => B[l]!.mlp.W_in.f32().set(d)),
      freq_cis: [seqLen * dh, () => {}],
      wcls: [V * D, (d) => model.unembed.W_U!.f32().set(d)],
    };
    const order = h.version === 0
      ? ['token_embedding', 'rms_att', 'wq', 'wk', 'wv', 'wo', 'rms_ffn', 'w1', 'w2', 'w3', 'rms_final', 'freq_cis']
      : ['rms_att', 'rms_ffn', 'rms_final', 'token_embedding', 'wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'];
    if (!h.sharedClassifier) order.push('wcls');
    const expected = h.headerBytes + 4 * order.reduce((s, k) => s + entries[k]![0], 0);
    if (size < expected) throw new FormatError(path, 'data', `truncated: the header (dim ${D}, hidden ${F}, ${L} layers, vocab ${V}${h.sharedClassifier ? '' : ', own classifier'}) needs ${expected} bytes, the file has ${size}`);
    if (size > expected) throw new FormatError(path, 'data', `${size - expected} unexpected bytes after the weights: the header (dim ${D}, hidden ${F}, ${L} layers, vocab ${V}) does not match the file`);
    let pos = h.headerBytes;
    for (const name of order) {
      const [n, sink] = entries[name]!;
      const bytes = readAt(fd, path, pos, 4 * n, `tensor ${name}`);
      const data = new Float32Array(n);
      new Uint8Array(data.buffer).set(bytes);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(data[i])) throw new FormatError(path, name, `tensor ${name} holds a non-finite value at element ${i}`);
      }
      sink(data);
      pos += 4 * n;
    }
    return model.eval();
  } finally {
    closeSync(fd);
  }
}
