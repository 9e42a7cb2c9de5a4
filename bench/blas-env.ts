/**
 * The OpenBLAS kernels for both sides of every bench comparison. PyTorch (Debian's build) and aelab load
 * the same OpenBLAS, which picks its kernels from the CPU model when it loads; on a model it does not
 * know it runs its pre-AVX2 ones (OpenBLAS 0.3.21 on an Emerald Rapids Xeon: Prescott, SSE3; a float32
 * GEMM at 30 GFLOP/s where its SkylakeX kernels run 207). aelab's default then takes its built-in GEMM
 * (AELAB_BLAS=auto, native/gemm.cc) while PyTorch would crawl, and every ratio would measure that. So
 * when the addon, loaded with the children's environment, reports such a library (blasNote) and that
 * environment leaves OPENBLAS_CORETYPE unset, the bench sets it — in its children's environment only,
 * for both sides alike — to the kernels for this CPU's vector width (SkylakeX or Haswell), and says so
 * in its JSON. An OPENBLAS_CORETYPE the machine sets is never changed.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchBlas {
  /** OPENBLAS_CORETYPE as the children get it, '(unset)' when unset. */
  openblas_coretype: string;
  /** True when the bench set it (see above). */
  openblas_coretype_set_by_bench: boolean;
  /** Why aelab's default would leave OpenBLAS out under the machine's own environment, or null. */
  blas_note: string | null;
}

/** Sets env.OPENBLAS_CORETYPE when OpenBLAS runs pre-AVX2 kernels on this AVX2 CPU and env leaves it unset. */
export function benchBlasEnv(env: NodeJS.ProcessEnv): BenchBlas {
  const native = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'core', 'backend', 'native.js');
  const script = `import { loadNativeAddon } from ${JSON.stringify(native)};
    let n = null; try { n = loadNativeAddon().blasNote(); } catch {}
    console.log(JSON.stringify(n));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  const note = r.status === 0 ? (JSON.parse(r.stdout.trim() || 'null') as { note: string; coretype: string | null } | null) : null;
  const set = !!note?.coretype && env.OPENBLAS_CORETYPE === undefined;
  if (set) env.OPENBLAS_CORETYPE = note!.coretype!;
  return { openblas_coretype: env.OPENBLAS_CORETYPE ?? '(unset)', openblas_coretype_set_by_bench: set, blas_note: note?.note ?? null };
}
