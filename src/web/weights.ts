/**
 * SAE weights as one safetensors byte buffer and back, with no file I/O: the server sends a loaded
 * SAE to the browser demo this way (GET /api/models/{name}/weights) and the page reads it with
 * `saeFromSafetensors`. Tensors are F32 in aelab's neutral layout (interop.ts's SaeWeights:
 * W_enc and W_dec [dSae, dIn]); the header's __metadata__ holds the architecture, sizes, k,
 * applyBDecToInput and the per-token input normalisation, each as a JSON string (safetensors
 * metadata values are strings). The reader also takes F16 and BF16 tensors. `encodeSafetensors` /
 * `decodeSafetensors` are the generic halves (src/web/model.ts sends models the same way).
 */
import type { SaeWeights } from '../sae/interop.js';

export const WEB_SAE_FORMAT = 'aelab-web-sae';

const TENSORS = ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold', 'r_mag', 'b_mag'] as const;

function shapeOf(w: SaeWeights, name: (typeof TENSORS)[number]): number[] {
  return name === 'W_enc' || name === 'W_dec' ? [w.dSae, w.dIn] : name === 'b_dec' ? [w.dIn] : [w.dSae];
}

/** One tensor of a safetensors buffer (F32 or I32 here). */
export interface RawTensor { dtype: 'F32' | 'I32'; shape: number[]; data: Float32Array | Int32Array }

/** Safetensors bytes for `tensors` (little-endian; the header padded so the data is 8-byte aligned). */
export function encodeSafetensors(tensors: [string, RawTensor][], meta: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: meta };
  let off = 0;
  for (const [name, t] of tensors) {
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) throw new RangeError(`encodeSafetensors: ${name} has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length * 4] };
    off += t.data.length * 4;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + off);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, head.length, true);
  dv.setUint32(4, 0, true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const [, t] of tensors) {
    if (t.dtype === 'F32') for (let i = 0; i < t.data.length; i++, p += 4) dv.setFloat32(p, t.data[i]!, true);
    else for (let i = 0; i < t.data.length; i++, p += 4) dv.setInt32(p, t.data[i]!, true);
  }
  return out;
}

/** The SAE as safetensors bytes (little-endian F32; the header padded so the data is 8-byte aligned). */
export function saeToSafetensors(w: SaeWeights): Uint8Array {
  const meta: Record<string, string> = {
    format: WEB_SAE_FORMAT,
    arch: w.arch,
    d_in: String(w.dIn),
    d_sae: String(w.dSae),
    apply_b_dec_to_input: String(w.applyBDecToInput),
  };
  if (w.k !== undefined) meta.k = String(w.k);
  const tn = w.meta.inputNormalization;
  if (typeof tn === 'string' && tn !== 'none') meta.input_normalization = tn;
  const tensors: [string, RawTensor][] = [];
  for (const name of TENSORS) {
    const t = w[name];
    if (t) tensors.push([name, { dtype: 'F32', shape: shapeOf(w, name), data: t }]);
  }
  return encodeSafetensors(tensors, meta);
}

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Every tensor of a safetensors buffer (F32, F16 and BF16 read as F32; I32 as I32) and its metadata. */
export function decodeSafetensors(bytes: Uint8Array): { meta: Record<string, string>; tensors: Map<string, RawTensor> } {
  if (bytes.length < 8) throw new Error('decodeSafetensors: fewer than 8 bytes');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(0, true);
  if (dv.getUint32(4, true) !== 0 || 8 + n > bytes.length) throw new Error(`decodeSafetensors: header length ${n} does not fit the ${bytes.length} bytes`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  const tensors = new Map<string, RawTensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const [a, b] = e.data_offsets;
    if (!(a >= 0 && b >= a && 8 + n + b <= bytes.length)) throw new Error(`decodeSafetensors: ${name}'s data offsets [${a}, ${b}] are out of range`);
    const count = e.shape.reduce((p, d) => p * d, 1);
    const width = e.dtype === 'F32' || e.dtype === 'I32' ? 4 : e.dtype === 'F16' || e.dtype === 'BF16' ? 2 : 0;
    if (!width) throw new Error(`decodeSafetensors: ${name} has dtype ${e.dtype} (F32, F16, BF16, I32 are read)`);
    if (b - a !== count * width) throw new Error(`decodeSafetensors: ${name} has ${b - a} bytes for shape [${e.shape}] of ${e.dtype}`);
    const base = 8 + n + a;
    if (e.dtype === 'I32') {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(base + 4 * i, true);
      tensors.set(name, { dtype: 'I32', shape: e.shape, data: out });
      continue;
    }
    const out = new Float32Array(count);
    for (let i = 0, p = base; i < count; i++, p += width) {
      out[i] = width === 4 ? dv.getFloat32(p, true) : e.dtype === 'F16' ? f16(dv.getUint16(p, true)) : new Float32Array(new Uint32Array([dv.getUint16(p, true) << 16]).buffer)[0]!;
    }
    tensors.set(name, { dtype: 'F32', shape: e.shape, data: out });
  }
  return { meta: (header.__metadata__ ?? {}) as Record<string, string>, tensors };
}

/** Reads what saeToSafetensors wrote (throws a clear Error on anything else). */
export function saeFromSafetensors(bytes: Uint8Array): SaeWeights {
  const { meta, tensors } = decodeSafetensors(bytes);
  if (meta.format !== WEB_SAE_FORMAT) throw new Error(`saeFromSafetensors: not an ${WEB_SAE_FORMAT} file (format '${meta.format}')`);
  const read = (name: string): Float32Array | undefined => {
    const t = tensors.get(name);
    if (t && t.dtype !== 'F32') throw new Error(`saeFromSafetensors: ${name} is ${t.dtype}, not a float tensor`);
    return t?.data as Float32Array | undefined;
  };
  const need = (name: string): Float32Array => {
    const t = read(name);
    if (!t) throw new Error(`saeFromSafetensors: tensor ${name} is missing`);
    return t;
  };
  const w: SaeWeights = {
    arch: meta.arch as SaeWeights['arch'],
    dIn: Number(meta.d_in),
    dSae: Number(meta.d_sae),
    W_enc: need('W_enc'),
    b_enc: need('b_enc'),
    W_dec: need('W_dec'),
    b_dec: need('b_dec'),
    applyBDecToInput: meta.apply_b_dec_to_input === 'true',
    meta: meta.input_normalization ? { inputNormalization: meta.input_normalization } : {},
  };
  if (meta.k !== undefined) w.k = Number(meta.k);
  for (const opt of ['threshold', 'r_mag', 'b_mag'] as const) {
    const t = read(opt);
    if (t) w[opt] = t;
  }
  return w;
}
