/**
 * The browser's backend selector: the same exports as core/backend/index.ts, always the
 * pure-TypeScript backend (WebAssembly SIMD GEMM where the engine has it, scalar TS otherwise), with
 * no environment variables and no native addon. scripts/build-web.mjs swaps this module in for
 * core/backend/index.ts when it bundles src/web/index.ts, so nothing from node:* reaches the bundle.
 */
import type { Backend } from '../core/backend/types.js';
import { createJsBackend } from '../core/backend/js.js';

let current: Backend | null = null;

/** The page-wide backend: the pure-TypeScript one. */
export function backend(): Backend {
  if (!current) current = createJsBackend();
  return current;
}

export function setBackend(b: Backend): void {
  current = b;
}

const NO_NATIVE = 'there is no native addon in a browser';

export function nativeError(): string | null {
  return NO_NATIVE;
}

export function loadNativeBackend(): { backend: Backend | null; error: string | null } {
  return { backend: null, error: NO_NATIVE };
}

export { createJsBackend };
export type { Backend };
