/**
 * Pure-TypeScript versions of the decoder-only transformer kernels of the Backend contract
 * (attention pattern/mix and their backwards, RMSNorm, rotary, tanh-GELU, SwiGLU, cross-entropy).
 * Same semantics as native/lm.cc (see types.ts); sums of rows accumulate in float64, the attention
 * products run per (b, h) on the JS GEMM.
 */
import { gemm } from './js-gemm.js';
import type { F32, I32 } from './types.js';

function dimsOf(k: string, dims: I32) {
  if (dims.length < 8) throw new Error(`${k}: dims must hold [B, H, Hkv, T, S, Smax, dh, off]`);
  const [B, H, Hkv, T, S, Smax, dh, off] = dims as unknown as number[] as [number, number, number, number, number, number, number, number];
  if (!(Hkv >= 1) || H % Hkv !== 0 || S > Smax || (off + T > S && off !== S - 1) || off < 0) throw new Error(`${k}: inconsistent dims [${Array.from(dims)}]`);
  return { B, H, Hkv, T, S, Smax, dh, off, group: H / Hkv };
}
function need(k: string, name: string, a: { length: number } | null, n: number): void {
  if (a && a.length < n) throw new RangeError(`${k}: ${name} has ${a.length} elements, needs ${n}`);
}

export function attnPattern(q: F32, k: F32, dims: I32, scale: number, keyMask: I32 | null, P: F32): void {
  const { B, H, Hkv, T, S, Smax, dh, off, group } = dimsOf('attnPattern', dims);
  need('attnPattern', 'q', q, B * H * T * dh); need('attnPattern', 'k', k, B * Hkv * Smax * dh);
  need('attnPattern', 'P', P, B * H * T * S); need('attnPattern', 'keyMask', keyMask, B * S);
  if (keyMask && off + T > S) throw new Error('attnPattern: a keyMask needs causal dims (off + T <= S)');
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const po = (b * H + h) * T * S, qo = (b * H + h) * T * dh, ko = (b * Hkv + Math.floor(h / group)) * Smax * dh;
    gemm(false, true, T, S, dh, scale, q, qo, k, ko, 0, P, po);
    for (let t = 0; t < T; t++) {
      const row = po + t * S, qpos = off + t, n = Math.min(S, qpos + 1);
      if (keyMask && keyMask[b * S + qpos] === 0) {
        P.fill(0, row, row + S);
        P[row + qpos] = 1;
        continue;
      }
      let m = -Infinity;
      for (let s = 0; s < n; s++) {
        if (keyMask && keyMask[b * S + s] === 0) P[row + s] = -Infinity;
        const v = P[row + s]!;
        if (v > m) m = v;
      }
      let sum = 0;
      for (let s = 0; s < n; s++) { const e = Math.exp(P[row + s]! - m); P[row + s] = e; sum += P[row + s]!; }
      const inv = Math.fround(1 / sum);
      for (let s = 0; s < n; s++) P[row + s] = P[row + s]! * inv;
      P.fill(0, row + n, row + S);
    }
  }
}

export function attnPatternGrad(P: F32, gP: F32, q: F32, k: F32, dims: I32, scale: number, gq: F32 | null, gk: F32 | null): void {
  const { B, H, Hkv, T, S, Smax, dh, off, group } = dimsOf('attnPatternGrad', dims);
  need('attnPatternGrad', 'P', P, B * H * T * S); need('attnPatternGrad', 'gP', gP, B * H * T * S);
  need('attnPatternGrad', 'q', q, B * H * T * dh); need('attnPatternGrad', 'k', k, B * Hkv * Smax * dh);
  need('attnPatternGrad', 'gq', gq, B * H * T * dh); need('attnPatternGrad', 'gk', gk, B * Hkv * Smax * dh);
  if (gk) gk.fill(0, 0, B * Hkv * Smax * dh);
  const dS = new Float32Array(T * S);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const po = (b * H + h) * T * S, qo = (b * H + h) * T * dh, ko = (b * Hkv + Math.floor(h / group)) * Smax * dh;
    dS.fill(0);
    for (let t = 0; t < T; t++) {
      const n = Math.min(S, off + t + 1), r = po + t * S;
      let dot = 0;
      for (let s = 0; s < n; s++) dot += gP[r + s]! * P[r + s]!;
      const d = Math.fround(dot);
      for (let s = 0; s < n; s++) dS[t * S + s] = P[r + s]! * (gP[r + s]! - d) * scale;
    }
    if (gq) gemm(false, false, T, dh, S, 1, dS, 0, k, ko, 0, gq, qo);
    if (gk) gemm(true, false, S, dh, T, 1, dS, 0, q, qo, 1, gk, ko);
  }
}

export function attnMix(P: F32, v: F32, dims: I32, z: F32): void {
  const { B, H, Hkv, T, S, Smax, dh, group } = dimsOf('attnMix', dims);
  need('attnMix', 'P', P, B * H * T * S); need('attnMix', 'v', v, B * Hkv * Smax * dh); need('attnMix', 'z', z, B * H * T * dh);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const po = (b * H + h) * T * S, zo = (b * H + h) * T * dh, vo = (b * Hkv + Math.floor(h / group)) * Smax * dh;
    gemm(false, false, T, dh, S, 1, P, po, v, vo, 0, z, zo);
  }
}

export function attnMixGrad(P: F32, gz: F32, v: F32, dims: I32, gP: F32 | null, gv: F32 | null): void {
  const { B, H, Hkv, T, S, Smax, dh, group } = dimsOf('attnMixGrad', dims);
  need('attnMixGrad', 'P', P, B * H * T * S); need('attnMixGrad', 'gz', gz, B * H * T * dh); need('attnMixGrad', 'v', v, B * Hkv * Smax * dh);
  need('attnMixGrad', 'gP', gP, B * H * T * S); need('attnMixGrad', 'gv', gv, B * Hkv * Smax * dh);
  if (gv) gv.fill(0, 0, B * Hkv * Smax * dh);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const po = (b * H + h) * T * S, zo = (b * H + h) * T * dh, vo = (b * Hkv + Math.floor(h / group)) * Smax * dh;
    if (gP) gemm(false, true, T, S, dh, 1, gz, zo, v, vo, 0, gP, po);
    if (gv) gemm(true, false, S, dh, T, 1, P, po, gz, zo, 1, gv, vo);
  }
}

export function rmsNorm(x: F32, rows: number, D: number, w: F32, eps: number, out: F32, rstd: F32): void {
  need('rmsNorm', 'x', x, rows * D); need('rmsNorm', 'out', out, rows * D); need('rmsNorm', 'w', w, D); need('rmsNorm', 'rstd', rstd, rows);
  for (let i = 0; i < rows; i++) {
    const o = i * D;
    let ss = 0;
    for (let j = 0; j < D; j++) ss += x[o + j]! * x[o + j]!;
    const ri = Math.fround(1 / Math.sqrt(ss / D + eps));
    rstd[i] = ri;
    for (let j = 0; j < D; j++) out[o + j] = Math.fround(x[o + j]! * ri) * w[j]!;
  }
}

export function rmsNormGrad(x: F32, gy: F32, rstd: F32, w: F32, rows: number, D: number, gx: F32 | null, gw: F32 | null): void {
  need('rmsNormGrad', 'x', x, rows * D); need('rmsNormGrad', 'gy', gy, rows * D); need('rmsNormGrad', 'rstd', rstd, rows);
  need('rmsNormGrad', 'w', w, D); need('rmsNormGrad', 'gx', gx, rows * D); need('rmsNormGrad', 'gw', gw, D);
  if (gx) {
    for (let i = 0; i < rows; i++) {
      const o = i * D, ri = rstd[i]!;
      let dot = 0;
      for (let j = 0; j < D; j++) dot += Math.fround(w[j]! * gy[o + j]!) * x[o + j]!;
      const c = Math.fround((ri * ri * ri * dot) / D);
      for (let j = 0; j < D; j++) gx[o + j] = ri * Math.fround(w[j]! * gy[o + j]!) - x[o + j]! * c;
    }
  }
  if (gw) {
    const acc = new Float64Array(D);
    for (let i = 0; i < rows; i++) {
      const o = i * D, ri = rstd[i]!;
      for (let j = 0; j < D; j++) acc[j] += Math.fround(gy[o + j]! * x[o + j]!) * ri;
    }
    for (let j = 0; j < D; j++) gw[j] = acc[j]!;
  }
}

export function rotary(x: F32, positions: I32, BT: number, H: number, dh: number, cos: F32, sin: F32, inverse: boolean, out: F32): void {
  if (dh % 2 !== 0) throw new Error('rotary: dh must be even');
  const half = dh / 2, maxPos = half > 0 ? Math.floor(cos.length / half) : 0;
  need('rotary', 'x', x, BT * H * dh); need('rotary', 'out', out, BT * H * dh); need('rotary', 'positions', positions, BT);
  for (let i = 0; i < BT; i++) {
    const p = positions[i]!;
    if (p < 0 || p >= maxPos) throw new RangeError(`rotary: position ${p} outside the tables of ${maxPos}`);
  }
  const sign = inverse ? -1 : 1;
  for (let bt = 0; bt < BT; bt++) {
    const t0 = positions[bt]! * half;
    for (let h = 0; h < H; h++) {
      const o = (bt * H + h) * dh;
      for (let i = 0; i < half; i++) {
        const c = cos[t0 + i]!, s = sign * sin[t0 + i]!;
        const a = x[o + i]!, b = x[o + half + i]!;
        out[o + i] = Math.fround(a * c) - Math.fround(b * s);
        out[o + half + i] = Math.fround(b * c) + Math.fround(a * s);
      }
    }
  }
}

const GELU_C = Math.sqrt(2 / Math.PI);

export function geluTanh(x: F32, out: F32): void {
  need('geluTanh', 'x', x, out.length);
  for (let i = 0; i < out.length; i++) {
    const v = x[i]!;
    out[i] = 0.5 * v * (1 + Math.tanh(GELU_C * (v + 0.044715 * v * v * v)));
  }
}

export function geluTanhGrad(x: F32, gy: F32, gx: F32): void {
  need('geluTanhGrad', 'x', x, gx.length); need('geluTanhGrad', 'gy', gy, gx.length);
  for (let i = 0; i < gx.length; i++) {
    const v = x[i]!, t = Math.tanh(GELU_C * (v + 0.044715 * v * v * v));
    gx[i] = gy[i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * v * v));
  }
}

export function swiglu(a: F32, u: F32, out: F32): void {
  need('swiglu', 'a', a, out.length); need('swiglu', 'u', u, out.length);
  for (let i = 0; i < out.length; i++) {
    const v = a[i]!;
    out[i] = (v / (1 + Math.exp(-v))) * u[i]!;
  }
}

export function swigluGrad(a: F32, u: F32, gy: F32, ga: F32 | null, gu: F32 | null): void {
  const n = gy.length;
  need('swigluGrad', 'a', a, n); need('swigluGrad', 'u', u, n); need('swigluGrad', 'ga', ga, n); need('swigluGrad', 'gu', gu, n);
  for (let i = 0; i < n; i++) {
    const v = a[i]!, s = 1 / (1 + Math.exp(-v));
    if (ga) ga[i] = gy[i]! * u[i]! * s * (1 + v * (1 - s));
    if (gu) gu[i] = gy[i]! * v * s;
  }
}

function checkTargets(k: string, t: I32, rows: number, V: number): void {
  for (let i = 0; i < rows; i++) {
    const v = t[i]!;
    if (v >= V || v < -1) throw new RangeError(`${k}: target ${v} at row ${i} is outside [-1, ${V})`);
  }
}

export function crossEntropy(logits: F32, rows: number, V: number, targets: I32, loss: F32, lse: F32): void {
  need('crossEntropy', 'logits', logits, rows * V); need('crossEntropy', 'targets', targets, rows);
  need('crossEntropy', 'loss', loss, rows); need('crossEntropy', 'lse', lse, rows);
  checkTargets('crossEntropy', targets, rows, V);
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    let m = -Infinity;
    for (let j = 0; j < V; j++) if (logits[o + j]! > m) m = logits[o + j]!;
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[o + j]! - m);
    const l = m + Math.log(s);
    lse[r] = l;
    const t = targets[r]!;
    loss[r] = t < 0 ? 0 : l - logits[o + t]!;
  }
}

export function crossEntropyGrad(logits: F32, lse: F32, targets: I32, rows: number, V: number, scale: number, gx: F32): void {
  need('crossEntropyGrad', 'logits', logits, rows * V); need('crossEntropyGrad', 'lse', lse, rows);
  need('crossEntropyGrad', 'targets', targets, rows); need('crossEntropyGrad', 'gx', gx, rows * V);
  checkTargets('crossEntropyGrad', targets, rows, V);
  for (let r = 0; r < rows; r++) {
    const o = r * V, t = targets[r]!;
    if (t < 0) { gx.fill(0, o, o + V); continue; }
    const l = lse[r]!;
    for (let j = 0; j < V; j++) gx[o + j] = Math.exp(logits[o + j]! - l) * scale;
    gx[o + t] = gx[o + t]! - scale;
  }
}
