/**
 * A tiny WebAssembly binary encoder that emits the GEMM macro-kernel ("gebp") used by js-gemm.ts.
 * No toolchain: the module bytes are written here by hand, following the WebAssembly 1.0 binary format
 * plus the fixed-width SIMD proposal (f32x4), which Node >= 16 and current browsers support.
 *
 * Exported function (all i32, byte addresses into the imported memory `e.m`):
 *   gebp(mTiles, nTiles, kIters, aPtr, bPtr, cPtr, ldcBytes, aStride, bStride)
 * For each of nTiles NR-column micro-panels of packed B (bPtr + j*bStride) and each of mTiles MR-row
 * micro-panels of packed A (aPtr + i*aStride) it does
 *   C[i*MR .. +MR, j*NR .. +NR] += sum_k Apanel[k, :]^T Bpanel[k, :]     (k < kIters*KU)
 * with C rows ldcBytes apart starting at cPtr. Panels store, per k, MR (resp. NR) consecutive floats.
 * The MR x NR tile lives in MR*NR/4 v128 accumulators; the k loop is unrolled KU times using memarg
 * offsets so the only address arithmetic per KU steps is two pointer bumps.
 */

/** Rows per micro-tile. */
export const WASM_MR = 4;
/** Columns per micro-tile (a multiple of 4: NR/4 f32x4 vectors per row). */
export const WASM_NR = 8;
/**
 * k-loop unroll; packed panels are zero-padded to a multiple of it. Measured on V8 (Node 20, x64):
 * 1 is as fast as 2 and clearly faster than 4, so the loop is left rolled. 4x8 beat 6x8, 8x8, 4x12
 * and 4x16 tiles (more accumulators than xmm registers makes V8 spill).
 */
export const WASM_KU = 1;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

function str(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

// Opcodes (WebAssembly core + SIMD prefix 0xfd).
const I32 = 0x7f, V128 = 0x7b;
const LOOP = 0x03, END = 0x0b, BR_IF = 0x0d, VOID = 0x40;
const LGET = 0x20, LSET = 0x21;
const I32_CONST = 0x41, I32_ADD = 0x6a, I32_SUB = 0x6b;
const SIMD = 0xfd;
const V128_LOAD = 0x00, V128_LOAD32_SPLAT = 0x09, V128_STORE = 0x0b;
const F32X4_ADD = 228, F32X4_MUL = 230;

/** Builds the module bytes (validate with WebAssembly.validate before use; SIMD may be missing). */
export function buildGebpModule(MR = WASM_MR, NR = WASM_NR, KU = WASM_KU): Uint8Array {
  const NRV = NR / 4;
  // Parameters 0..8.
  const P_M = 0, P_N = 1, P_K = 2, P_A = 3, P_B = 4, P_C = 5, P_LDC = 6, P_AS = 7, P_BS = 8;
  // i32 locals.
  let next = 9;
  const L_J = next++, L_I = next++, L_K = next++, L_AP = next++, L_BP = next++;
  const L_AI = next++, L_BJ = next++, L_CI = next++, L_CJ = next++;
  const L_CR: number[] = [];
  for (let r = 0; r < MR; r++) L_CR.push(next++);
  const nI32 = next - 9;
  // v128 locals.
  const L_ACC: number[] = [];
  for (let r = 0; r < MR * NRV; r++) L_ACC.push(next++);
  const L_BV: number[] = [];
  for (let v = 0; v < NRV; v++) L_BV.push(next++);
  const L_AV = next++;
  const nV128 = MR * NRV + NRV + 1;

  const c: number[] = [];
  const get = (l: number) => c.push(LGET, ...uleb(l));
  const set = (l: number) => c.push(LSET, ...uleb(l));
  const i32c = (v: number) => c.push(I32_CONST, ...sleb(v));
  const simd = (op: number, ...imm: number[]) => c.push(SIMD, ...uleb(op), ...imm);
  const mem = (align: number, offset: number) => [...uleb(align), ...uleb(offset)];
  /** local = local + other (both i32 locals/params). */
  const bump = (l: number, by: number) => { get(l); get(by); c.push(I32_ADD); set(l); };
  const bumpConst = (l: number, by: number) => { get(l); i32c(by); c.push(I32_ADD); set(l); };
  /** l -= 1; loop again while l != 0. */
  const countDownAndLoop = (l: number, depth: number) => {
    get(l); i32c(1); c.push(I32_SUB); set(l);
    get(l); c.push(BR_IF, depth);
  };

  // bj = bPtr; cj = cPtr; j = nTiles
  get(P_B); set(L_BJ); get(P_C); set(L_CJ); get(P_N); set(L_J);
  c.push(LOOP, VOID); // J loop
  {
    get(P_A); set(L_AI); get(L_CJ); set(L_CI); get(P_M); set(L_I);
    c.push(LOOP, VOID); // I loop
    {
      // Row pointers of the C tile, then load it into the accumulators.
      get(L_CI); set(L_CR[0]);
      for (let r = 1; r < MR; r++) { get(L_CR[r - 1]); get(P_LDC); c.push(I32_ADD); set(L_CR[r]); }
      for (let r = 0; r < MR; r++) {
        for (let v = 0; v < NRV; v++) { get(L_CR[r]); simd(V128_LOAD, ...mem(2, v * 16)); set(L_ACC[r * NRV + v]); }
      }
      get(L_AI); set(L_AP); get(L_BJ); set(L_BP); get(P_K); set(L_K);
      c.push(LOOP, VOID); // K loop
      {
        for (let u = 0; u < KU; u++) {
          for (let v = 0; v < NRV; v++) {
            get(L_BP); simd(V128_LOAD, ...mem(2, (u * NR + v * 4) * 4)); set(L_BV[v]);
          }
          for (let r = 0; r < MR; r++) {
            get(L_AP); simd(V128_LOAD32_SPLAT, ...mem(2, (u * MR + r) * 4)); set(L_AV);
            for (let v = 0; v < NRV; v++) {
              const acc = L_ACC[r * NRV + v];
              get(acc); get(L_AV); get(L_BV[v]); simd(F32X4_MUL); simd(F32X4_ADD); set(acc);
            }
          }
        }
        bumpConst(L_AP, KU * MR * 4);
        bumpConst(L_BP, KU * NR * 4);
        countDownAndLoop(L_K, 0);
      }
      c.push(END);
      for (let r = 0; r < MR; r++) {
        for (let v = 0; v < NRV; v++) { get(L_CR[r]); get(L_ACC[r * NRV + v]); simd(V128_STORE, ...mem(2, v * 16)); }
      }
      bump(L_AI, P_AS);
      // ci += MR * ldc: the last row pointer plus one more row.
      get(L_CR[MR - 1]); get(P_LDC); c.push(I32_ADD); set(L_CI);
      countDownAndLoop(L_I, 0);
    }
    c.push(END);
    bump(L_BJ, P_BS);
    bumpConst(L_CJ, NR * 4);
    countDownAndLoop(L_J, 0);
  }
  c.push(END);
  c.push(END); // function end

  const locals = [...uleb(2), ...uleb(nI32), I32, ...uleb(nV128), V128];
  const body = [...locals, ...c];
  const typeSec = section(1, [...uleb(1), 0x60, ...uleb(9), ...new Array(9).fill(I32), ...uleb(0)]);
  const importSec = section(2, [...uleb(1), ...str('e'), ...str('m'), 0x02, 0x00, ...uleb(1)]);
  const funcSec = section(3, [...uleb(1), ...uleb(0)]);
  const exportSec = section(7, [...uleb(1), ...str('gebp'), 0x00, ...uleb(0)]);
  const codeSec = section(10, [...uleb(1), ...uleb(body.length), ...body]);
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...typeSec, ...importSec, ...funcSec, ...exportSec, ...codeSec]);
}
