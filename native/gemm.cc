// GEMM: C = alpha op(A) op(B) + beta C, row-major.
//
// Two implementations:
//  * a CBLAS library dlopen()ed at run time (no headers or link-time dependency, so the addon builds
//    with g++ alone). AELAB_BLAS=off disables it; AELAB_BLAS=auto (default) uses it when found, unless
//    it is an OpenBLAS that runs pre-AVX2 kernels on a CPU with AVX2 + FMA (see blas_init);
//    AELAB_BLAS=on uses whatever library it finds.
//  * a built-in packed kernel in the Goto/BLIS style: op(B) is packed into KC x NC panels of NR
//    columns (shared by all threads), each thread packs its own MC x KC blocks of op(A) into MR-row
//    micro-panels, and an MR x NR register tile (8 x 32 of 16-wide vectors with AVX-512, 6 x 16 of 8-wide
//    ones otherwise) accumulates with FMA. Threads split the rows of C (or its columns when there are
//    too few rows), so every element of C is accumulated in the same order whatever the thread count
//    (the built-in GEMM is bit-for-bit independent of setThreads, and of the vector width).
#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.h"

#if defined(__FMA__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace aelab {

// ---------------------------------------------------------------------------------------------
// Run-time BLAS
// ---------------------------------------------------------------------------------------------
namespace {

// The CBLAS ABI (LP64: 32-bit int dimensions). Values from the CBLAS standard enums.
constexpr int kCblasRowMajor = 101;
constexpr int kCblasNoTrans = 111;
constexpr int kCblasTrans = 112;
using SgemmFn = void (*)(int order, int transA, int transB, int M, int N, int K, float alpha,
                         const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc);
using SetThreadsFn = void (*)(int);

using CorenameFn = char* (*)();

SgemmFn g_sgemm = nullptr;
SetThreadsFn g_setThreads = nullptr;
std::string g_blasName, g_blasCore, g_blasNote;
bool g_blasInit = false;

/// OpenBLAS kernel sets ("corenames", as openblas_get_corename() spells them) that use neither AVX2
/// nor FMA: SSE-only cores, and Sandy Bridge / the Bulldozer family (AVX without FMA3 kernels). A
/// DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU's family and model when it loads; a CPU newer
/// than the library is matched to one of these. Names not listed (Haswell, Zen, SkylakeX, Cooperlake,
/// SapphireRapids, and any the list does not know) are taken to be current.
bool pre_avx2_core(const std::string& core) {
  static const char* const kOld[] = {"unknown", "katmai", "coppermine", "northwood", "prescott", "banias",
                                     "atom", "core2", "penryn", "dunnington", "nehalem", "athlon", "opteron",
                                     "opteron_sse3", "barcelona", "nano", "sandybridge", "bobcat", "bulldozer",
                                     "piledriver", "steamroller"};
  std::string lc(core);
  for (char& ch : lc) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  for (const char* o : kOld)
    if (lc == o) return true;
  return false;
}

/// Whether the built-in kernel was compiled with FMA and this CPU (and its OS) runs it, and the
/// OPENBLAS_CORETYPE that names OpenBLAS's kernels for this CPU's vector width.
bool builtin_fma(const char** coretype) {
#if defined(__x86_64__) && (defined(__FMA__) || defined(__AVX2__))
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  *coretype = avx512 ? "SkylakeX" : "Haswell";
  return avx2;
#else
  *coretype = nullptr;
  return false;
#endif
}

}  // namespace

const char* blas_init() {
  if (g_blasInit) return g_blasName.c_str();
  g_blasInit = true;
  const char* mode = std::getenv("AELAB_BLAS");
  if (mode && (std::strcmp(mode, "off") == 0 || std::strcmp(mode, "0") == 0 || std::strcmp(mode, "none") == 0)) {
    return "";
  }
  const bool forced = mode && (std::strcmp(mode, "on") == 0 || std::strcmp(mode, "1") == 0);
  // OpenBLAS's worker threads spin for ~2^28 cycles after each call before sleeping (its default
  // THREAD_TIMEOUT). Between GEMMs this process runs its own kernel pool on the same cores, which the
  // spinning threads then compete with: many-small-GEMM steps (the video VAE's per-frame convs) ran
  // 7% slower and swung by ±15%, and the dense SAE step lost 10% (interleaved runs, 2 threads). The
  // shortest timeout (2^4) is read when the library loads; a value the user set is kept.
  setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
  static const char* const kLibs[] = {"libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"};
  for (const char* lib : kLibs) {
    void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    auto fn = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    if (!fn) {
      dlclose(h);
      continue;
    }
    auto corename = reinterpret_cast<CorenameFn>(dlsym(h, "openblas_get_corename"));
    const char* core = corename ? corename() : nullptr;
    g_blasCore = core ? core : "";
    const std::string desc = std::string(dlsym(h, "openblas_set_num_threads") ? "openblas (" : "cblas (") + lib +
                             (g_blasCore.empty() ? "" : ", " + g_blasCore + " kernels") + ")";
    // A DYNAMIC_ARCH OpenBLAS older than the CPU runs its generic kernels: OpenBLAS 0.3.21 (Debian 12)
    // on an Emerald Rapids Xeon (family 6, model 207) picks Prescott (SSE3), and its SGEMM then runs
    // the SAE encoder product at 30 GFLOP/s where its SkylakeX kernels run 207 and the built-in
    // AVX-512 kernel 185 (2 threads). auto leaves such a library out and says why (blas_note).
    const char* coretype = nullptr;
    if (!forced && !g_blasCore.empty() && pre_avx2_core(g_blasCore) && builtin_fma(&coretype)) {
      g_blasNote = desc + " was found, but it runs its " + g_blasCore +
                   " kernels (no AVX2/FMA) on this CPU, which it does not recognise: GEMMs use the built-in " +
#if defined(__AVX512F__)
                   "AVX-512" +
#else
                   "AVX2" +
#endif
                   std::string(" kernel instead. OPENBLAS_CORETYPE=") + coretype +
                   " makes OpenBLAS use its kernels for this CPU; AELAB_BLAS=on uses it as it is";
      return "";
    }
    g_sgemm = fn;
    g_setThreads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
    g_blasName = desc;
    return g_blasName.c_str();
  }
  return "";
}

const char* blas_name() { return g_sgemm ? g_blasName.c_str() : nullptr; }

const char* blas_note() { return g_blasNote.empty() ? nullptr : g_blasNote.c_str(); }

const char* blas_coretype_hint() {
  if (g_blasNote.empty()) return nullptr;
  const char* coretype = nullptr;
  return builtin_fma(&coretype) ? coretype : nullptr;
}

void blas_set_threads(int n) {
  if (g_setThreads) g_setThreads(n);
}

// ---------------------------------------------------------------------------------------------
// Built-in kernel
// ---------------------------------------------------------------------------------------------
namespace {

// The register tile is MR rows × NR = 2 vectors of columns. With AVX-512 the vectors are 16 floats
// (8 × 32 tile: 16 accumulators, 2 B vectors, 1 broadcast); otherwise 8 (6 × 16 tile). Every element of
// C is still the sum over k in increasing order within each KC block, so the result does not depend on
// the vector width, the tile or the thread split.
#if defined(__AVX512F__)
typedef float vf __attribute__((vector_size(64)));
typedef float vfu __attribute__((vector_size(64), aligned(4)));  // unaligned view of C
constexpr int VW = 16;
constexpr int MR = 8;
static inline vf fmav(vf a, vf b, vf c) { return (vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c); }
#else
typedef float vf __attribute__((vector_size(32)));
typedef float vfu __attribute__((vector_size(32), aligned(4)));
constexpr int VW = 8;
constexpr int MR = 6;
/// c + a * b with one rounding (vfmadd231ps). ISO C++ mode turns contraction off, so ask for it.
static inline vf fmav(vf a, vf b, vf c) {
#if defined(__FMA__)
  return (vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
  return a * b + c;
#endif
}
#endif

/// Broadcast of one float (compiles to vbroadcastss straight from memory; `vf{} + x` would add an
/// extra scalar add, since 0 + x is not an identity for x = -0).
#if defined(__AVX512F__)
static inline vf splat(float x) { return (vf)_mm512_set1_ps(x); }
#else
static inline vf splat(float x) { return vf{x, x, x, x, x, x, x, x}; }
#endif

constexpr int NR = 2 * VW;  // columns of the register tile (two vectors)
// Block sizes (overridable at compile time for tuning). Measured on Zen 3 (32 KiB L1d, 512 KiB L2):
// KC = 512 halves the passes over C against 256, which matters because C rarely sits in cache.
#ifndef AELAB_KC
#define AELAB_KC 512
#endif
#ifndef AELAB_MC
#define AELAB_MC 96
#endif
constexpr int64_t KC = AELAB_KC;  // depth of a packed block; one NR x KC panel of B is 32-64 KiB
constexpr int64_t MC = AELAB_MC;  // rows of a packed A block: MC x KC (192 KiB) stays in the 512 KiB L2
static_assert(AELAB_MC % 24 == 0, "MC must be a multiple of both tile heights (6 and 8)");
constexpr int64_t NC = 4096;      // columns of a packed B block: KC x NC (8 MiB) stays in L3

/// 64-byte aligned, grow-only buffer owned by one thread (allocated once, reused every call).
struct TlsBuf {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t want) {
    if (want > n) {
      std::free(p);
      size_t bytes = ((want * sizeof(float)) + 63) & ~size_t(63);
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) std::abort();
      n = want;
    }
    return p;
  }
  ~TlsBuf() { std::free(p); }
};
thread_local TlsBuf t_abuf;
thread_local TlsBuf t_bbuf;

/// Packs rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-row micro-panels:
/// dst[panel][p][r] = op(A)(i0 + panel*MR + r, p0 + p), zero-padded past mc.
void pack_a(bool transA, const float* A, int64_t M, int64_t K, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int mr = static_cast<int>(mc - ir < MR ? mc - ir : MR);
    float* d = dst + ir * kc;
    if (transA) {  // stored [K, M]: the MR values of one depth are contiguous
      const float* s = A + p0 * M + i0 + ir;
      if (mr == MR) {
        for (int64_t p = 0; p < kc; ++p, s += M, d += MR)
          for (int r = 0; r < MR; ++r) d[r] = s[r];
      } else {
        for (int64_t p = 0; p < kc; ++p, s += M, d += MR)
          for (int r = 0; r < MR; ++r) d[r] = r < mr ? s[r] : 0.0f;
      }
    } else {  // stored [M, K]: MR row streams
      const float* rows[MR];
      for (int r = 0; r < MR; ++r) rows[r] = A + (i0 + ir + (r < mr ? r : 0)) * K + p0;
      if (mr == MR) {
        for (int64_t p = 0; p < kc; ++p, d += MR)
          for (int r = 0; r < MR; ++r) d[r] = rows[r][p];
      } else {
        for (int64_t p = 0; p < kc; ++p, d += MR)
          for (int r = 0; r < MR; ++r) d[r] = r < mr ? rows[r][p] : 0.0f;
      }
    }
  }
}

/// Packs one NR-column panel: dst[p][j] = op(B)(p0 + p, j0 + j), zero-padded past nr.
void pack_b_panel(bool transB, const float* B, int64_t N, int64_t K, int64_t j0, int nr, int64_t p0,
                  int64_t kc, float* dst) {
  if (!transB) {  // stored [K, N]: a row of NR values is contiguous
    const float* s = B + p0 * N + j0;
    if (nr == NR) {
      for (int64_t p = 0; p < kc; ++p, s += N, dst += NR) std::memcpy(dst, s, NR * sizeof(float));
    } else {
      for (int64_t p = 0; p < kc; ++p, s += N, dst += NR)
        for (int j = 0; j < NR; ++j) dst[j] = j < nr ? s[j] : 0.0f;
    }
    return;
  }
  // stored [N, K]: NR row streams, transposed 8 depths at a time through registers.
  const float* rows[NR];
  for (int j = 0; j < NR; ++j) rows[j] = B + (j0 + (j < nr ? j : 0)) * K + p0;
  if (nr == NR) {
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
      float tile[NR][8];
      for (int j = 0; j < NR; ++j) std::memcpy(tile[j], rows[j] + p, 8 * sizeof(float));
      for (int q = 0; q < 8; ++q)
        for (int j = 0; j < NR; ++j) dst[(p + q) * NR + j] = tile[j][q];
    }
    for (; p < kc; ++p)
      for (int j = 0; j < NR; ++j) dst[p * NR + j] = rows[j][p];
  } else {
    for (int64_t p = 0; p < kc; ++p)
      for (int j = 0; j < NR; ++j) dst[p * NR + j] = j < nr ? rows[j][p] : 0.0f;
  }
}

/// The MR x NR register tile: acc = sum_p a[p][:] (x) b[p][:]; then C = alpha acc + beta C
/// (beta == 0: C = alpha acc, never reading C). Edge tiles (mr < MR or nr < NR) go through a buffer.
void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                  int mr, int nr, float alpha, float beta) {
  // C is usually far away (an SAE activation matrix is 16 MiB): start fetching the tile now so the
  // update after the k loop does not stall.
  for (int r = 0; r < mr; ++r) {
    __builtin_prefetch(c + r * ldc, 1, 3);
    __builtin_prefetch(c + r * ldc + NR - 1, 1, 3);
  }
  vf acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = splat(0.0f);
  const vf* bv = reinterpret_cast<const vf*>(b);
  for (int64_t p = 0; p < kc; ++p) {
    const vf b0 = bv[0], b1 = bv[1];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const vf av = splat(a[r]);
      acc[r][0] = fmav(av, b0, acc[r][0]);
      acc[r][1] = fmav(av, b1, acc[r][1]);
    }
    a += MR;
    bv += 2;
  }
  if (mr == MR && nr == NR) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      vfu* cr = reinterpret_cast<vfu*>(c + r * ldc);
      if (beta == 0.0f) {
        cr[0] = splat(alpha) * acc[r][0];
        cr[1] = splat(alpha) * acc[r][1];
      } else if (beta == 1.0f) {
        cr[0] = fmav(splat(alpha), acc[r][0], cr[0]);
        cr[1] = fmav(splat(alpha), acc[r][1], cr[1]);
      } else {
        cr[0] = fmav(splat(alpha), acc[r][0], splat(beta) * cr[0]);
        cr[1] = fmav(splat(alpha), acc[r][1], splat(beta) * cr[1]);
      }
    }
    return;
  }
  alignas(64) float tile[MR][NR];
  for (int r = 0; r < MR; ++r) {
    reinterpret_cast<vf*>(tile[r])[0] = acc[r][0];
    reinterpret_cast<vf*>(tile[r])[1] = acc[r][1];
  }
  for (int r = 0; r < mr; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < nr; ++j) {
      if (beta == 0.0f) cr[j] = alpha * tile[r][j];
      else cr[j] = __builtin_fmaf(alpha, tile[r][j], beta * cr[j]);
    }
  }
}

struct GemmCtx {
  bool transA, transB;
  int64_t M, N, K;
  float alpha, beta;
  const float* A;
  const float* B;
  float* C;
  float* bpack;  // shared KC x NC packed B block (owned by the calling thread)
  bool byCols;   // threads split the columns of C (few rows) instead of its rows
};

void gemm_region(void* p, int tid, int nt) {
  const GemmCtx& g = *static_cast<GemmCtx*>(p);
  // Split the rows of C into nt contiguous, MR-aligned ranges.
  const int64_t panels = (g.M + MR - 1) / MR;
  const int64_t m0 = g.byCols ? 0 : std::min(g.M, panels * tid / nt * MR);
  const int64_t m1 = g.byCols ? g.M : std::min(g.M, panels * (tid + 1) / nt * MR);
  float* apack = t_abuf.get(MC * KC);
  for (int64_t jc = 0; jc < g.N; jc += NC) {
    const int64_t nc = std::min(NC, g.N - jc);
    const int64_t npan = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < g.K; pc += KC) {
      const int64_t kc = std::min(KC, g.K - pc);
      // Every thread packs its share of the B panels; all wait before using the block.
      for (int64_t q = npan * tid / nt; q < npan * (tid + 1) / nt; ++q) {
        const int64_t j0 = q * NR;
        const int nr = static_cast<int>(std::min<int64_t>(NR, nc - j0));
        pack_b_panel(g.transB, g.B, g.N, g.K, jc + j0, nr, pc, kc, g.bpack + q * NR * kc);
      }
      pool_barrier(nt);
      const float beta = pc == 0 ? g.beta : 1.0f;
      for (int64_t ic = m0; ic < m1; ic += MC) {
        const int64_t mc = std::min(MC, m1 - ic);
        pack_a(g.transA, g.A, g.M, g.K, ic, mc, pc, kc, apack);
        // By columns: this thread's share of the block's NR-column panels (all rows).
        const int64_t j0 = g.byCols ? npan * tid / nt * NR : 0, j1 = g.byCols ? std::min(nc, npan * (tid + 1) / nt * NR) : nc;
        for (int64_t jr = j0; jr < j1; jr += NR) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          const float* bp = g.bpack + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            micro_kernel(kc, apack + ir * kc, bp, g.C + (ic + ir) * g.N + jc + jr, g.N, mr, nr, g.alpha, beta);
          }
        }
      }
      pool_barrier(nt);  // the B block is repacked next iteration
    }
  }
}

/// C = beta C (beta == 0 writes zeros, ignoring NaN/Inf in C).
void scale_c(float* C, int64_t n, float beta) {
  if (beta == 0.0f) {
    std::memset(C, 0, static_cast<size_t>(n) * sizeof(float));
  } else if (beta != 1.0f) {
    for (int64_t i = 0; i < n; ++i) C[i] *= beta;
  }
}

/// Products the built-in kernel runs faster than the BLAS, inside a training step:
///  * small ones (< 64 MFLOP): the BLAS's own threads sleep between calls and wake for each, and
///    contend with this addon's pool, which runs the kernels around them; the built-in kernel runs on
///    that pool. The video VAE step (336 GEMMs of 0.4-28 MFLOP a step): ~64 → ~61 ms; MAE, MLP AE and
///    LM steps unchanged (2 threads, AVX-512 Xeon; on an AVX2 build, -march=haswell, unchanged);
///  * Aᵀ·B with a short inner dimension (K ≤ 64) and a wide output, the input gradient of a conv with
///    few output channels (dcols = Wᵀ·dY): 216×1024×16 2.47 → 0.99 ms a step over its calls.
/// The choice depends on the shape alone, so results stay deterministic.
inline bool builtin_preferred(bool transA, int64_t M, int64_t N, int64_t K) {
  if (2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) < 64.0e6) return true;
  return transA && K <= 64 && M >= 64 && M * N >= 65536;
}

}  // namespace

void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          const float* B, float beta, float* C, bool forceBuiltin) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {  // A and B are not referenced (BLAS semantics)
    scale_c(C, M * N, beta);
    return;
  }
  if (g_sgemm && !forceBuiltin && !builtin_preferred(transA, M, N, K) && M <= INT_MAX && N <= INT_MAX && K <= INT_MAX) {
    const int lda = static_cast<int>(transA ? M : K);
    const int ldb = static_cast<int>(transB ? K : N);
    g_sgemm(kCblasRowMajor, transA ? kCblasTrans : kCblasNoTrans, transB ? kCblasTrans : kCblasNoTrans,
            static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A, lda, B, ldb, beta, C,
            static_cast<int>(N));
    return;
  }
  GemmCtx ctx{transA, transB, M, N, K, alpha, beta, A, B, C, nullptr, false};
  const int64_t nc = std::min(NC, (N + NR - 1) / NR * NR);
  ctx.bpack = t_bbuf.get(static_cast<size_t>(KC * nc));
  // Threads only pay off once each gets a few register tiles of real work.
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  int want = flops < 2.0e6 ? 1 : pool_threads();
  const int64_t panels = (M + MR - 1) / MR;
  if (want > panels) {
    // Too few row panels for the threads (a conv with 8-16 output channels): split the columns.
    const int64_t cpanels = (std::min(NC, N) + NR - 1) / NR;
    if (cpanels >= 2 * want) ctx.byCols = true;
    else want = static_cast<int>(panels);
  }
  pool_run(&gemm_region, &ctx, want);
}

}  // namespace aelab
