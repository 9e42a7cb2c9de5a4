/**
 * Backend selection. `AELAB_BACKEND=native|js|auto` (default auto): auto uses the native addon when
 * build/Release/aelab.node loads and otherwise the pure-TypeScript backend, saying so once on stderr.
 * `AELAB_BLAS=off|auto|on` (read by the native addon) turns the dynamically loaded BLAS off, on when its
 * kernels suit the CPU (Backend.blasNote says why not), or on whatever its kernels.
 * `AELAB_THREADS=n` sets the kernel thread count.
 */
import type { Backend } from './types.js';
import { createJsBackend } from './js.js';
import { loadNativeBackend } from './native.js';

let current: Backend | null = null;
let nativeLoadError: string | null = null;

function select(): Backend {
  const want = (process.env.AELAB_BACKEND ?? 'auto').toLowerCase();
  if (want !== 'auto' && want !== 'native' && want !== 'js') {
    throw new Error(`AELAB_BACKEND must be 'auto', 'native' or 'js', got '${process.env.AELAB_BACKEND}'`);
  }
  const blas = process.env.AELAB_BLAS;
  if (blas !== undefined && !['auto', 'off', 'on', '0', '1', 'none', ''].includes(blas)) {
    throw new Error(`AELAB_BLAS must be 'auto', 'off' or 'on', got '${blas}'`);
  }
  if (want === 'js') return createJsBackend();
  const loaded = loadNativeBackend();
  if (loaded.backend) return loaded.backend;
  nativeLoadError = loaded.error;
  if (want === 'native') throw new Error(`AELAB_BACKEND=native but the native addon could not be loaded: ${loaded.error}`);
  process.stderr.write(`aelab: native addon not available (${loaded.error}); running on the pure-TypeScript backend\n`);
  return createJsBackend();
}

/** The process-wide backend, chosen on first use. */
export function backend(): Backend {
  if (!current) {
    current = select();
    const t = process.env.AELAB_THREADS;
    if (t !== undefined) {
      const n = Number(t);
      if (!Number.isInteger(n) || n < 1) throw new Error(`AELAB_THREADS must be a positive integer, got '${t}'`);
      current.setThreads(n);
    }
  }
  return current;
}

/** Replaces the process-wide backend (tests use this to run the same code on both backends). */
export function setBackend(b: Backend): void {
  current = b;
}

/** Why the native addon did not load, if it did not (for `aelab info`). */
export function nativeError(): string | null {
  return nativeLoadError;
}

export { createJsBackend, loadNativeBackend };
export type { Backend };
