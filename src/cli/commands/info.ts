/** `aelab info`: what runs here — version, kernel backend, BLAS, threads, bf16 kernel and the TopK screen. */
import { cpus } from 'node:os';
import { backend, nativeError, type Backend } from '../../core/backend/index.js';
import { thresholdScreenKernel, topkScreenKernel } from '../../core/ops/sparse.js';
import { VERSION } from '../../version.js';
import { helpText, parseArgs } from '../args.js';

const spec = { json: { type: 'boolean' as const, default: false, help: 'print one JSON object instead of a table' } };

export function info(): Record<string, string | number | boolean | null> {
  const be = backend();
  const bf = be.bf16Support();
  return {
    version: VERSION,
    node: process.version,
    backend: be.name,
    blas: be.blas,
    blasFound: be.blas !== null,
    blasNote: be.blasNote,
    threads: be.threads(),
    cpus: cpus().length,
    nativeAddon: be.name === 'native' ? 'loaded' : (nativeError() ?? 'not requested (AELAB_BACKEND=js)'),
    AELAB_BLAS: process.env.AELAB_BLAS ?? 'auto',
    OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? '(unset)',
    bf16Kernel: bf.kernel,
    bf16Missing: bf.kernel ? null : bf.missing,
    topkScreen: topkScreenKernel(),
    sparseStepScreen: thresholdScreenKernel(),
  };
}

/** The backend and its GEMM for a run's log: 'native (openblas (libopenblas.so.0, SkylakeX kernels))', 'native (built-in GEMM; …)'. */
export function backendLabel(be: Backend): string {
  if (be.blas) return `${be.name} (${be.blas})`;
  if (be.blasNote) return `${be.name} (built-in GEMM; OpenBLAS left out: its kernels do not suit this CPU, see aelab info)`;
  return be.name;
}

export function run(argv: string[]): number {
  const { flags } = parseArgs('info', argv, { ...spec, help: { type: 'boolean', help: 'show this help' } });
  if (flags.help) {
    process.stdout.write(helpText('info', 'version, kernel backend, BLAS library, threads, bf16 kernel and TopK screen', spec));
    return 0;
  }
  const i = info();
  if (flags.json) {
    process.stdout.write(JSON.stringify(i) + '\n');
    return 0;
  }
  const rows: [string, string][] = [
    ['aelab', String(i.version)],
    ['node', String(i.node)],
    ['backend', i.backend === 'native' ? 'native (C++ addon)' : 'js (pure TypeScript)'],
    ['BLAS', i.blas ? `${i.blas}` : i.blasNote ? `none: ${i.blasNote}` : i.backend === 'native' ? 'not found or off (built-in packed GEMM kernel)' : 'n/a (TypeScript GEMM)'],
    ['threads', `${i.threads} of ${i.cpus} CPUs`],
    ['native addon', String(i.nativeAddon)],
    ['AELAB_BLAS', String(i.AELAB_BLAS)],
    ['OPENBLAS_CORETYPE', String(i.OPENBLAS_CORETYPE)],
    ['bf16 kernel', i.bf16Kernel ? String(i.bf16Kernel) : `none (${i.bf16Missing})`],
    ['TopK f32 encoder', i.topkScreen ? `top k screened by the bf16 GEMM (${i.topkScreen}); --topk-screen off for plain` : 'plain float32 GEMM + top k'],
    ['ReLU/JumpReLU step', i.sparseStepScreen ? `active latents screened by the bf16 GEMM (${i.sparseStepScreen}); --topk-screen off for plain` : 'plain float32 GEMM'],
  ];
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(18)} ${v}\n`);
  return 0;
}
