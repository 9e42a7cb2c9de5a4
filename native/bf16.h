// bf16 encoder GEMM (bf16.cc): C = bias + round_bf16(A) round_bf16(B)ᵀ with float32 accumulation.
#pragma once

#include <cstdint>

#ifndef AELAB_BF16_NO_NAPI  // (a standalone kernel harness builds without Node)
#include <napi.h>
#endif

namespace aelab {

/// Kernels of gemm_bf16. kBf16Auto picks the fastest one this CPU has (AMX, else AVX512-BF16).
enum Bf16Kernel : int { kBf16Auto = 0, kBf16Amx = 1, kBf16Avx512 = 2 };

/// Name of the kernel `which` resolves to on this CPU ("amx-bf16", "avx512-bf16"), or nullptr when
/// it is not available (then bf16_missing() says why).
const char* bf16_kernel_name(int which);
/// Why no bf16 kernel runs here (the missing CPU feature / OS permission), or "" when one does.
const char* bf16_missing();

/// C[M, N] = bias[n] + Σ_k bf16(A[m, k]) · bf16(B[n, k]) (A [M, K], B [N, K] row-major; bias [N] or
/// null). bf16() rounds to nearest even (NaN stays NaN). Returns false when `which` is not available.
/// Bnorm [N] (optional): ‖B[n]‖₂ rounded up, computed while B is packed (the screened top-k's bound).
bool gemm_bf16(int64_t M, int64_t N, int64_t K, const float* A, const float* B, const float* bias, float* C,
               int which, float* Bnorm = nullptr);

#ifndef AELAB_BF16_NO_NAPI
/// N-API bindings (registered by addon.cc): gemmBf16(M, N, K, A, B, bias|null, C, kernel, bNorm|null) and bf16Info().
napi_value napi_gemm_bf16(napi_env env, napi_callback_info info);
napi_value napi_bf16_info(napi_env env, napi_callback_info info);
#endif

}  // namespace aelab
