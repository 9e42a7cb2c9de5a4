// bf16 GEMM with float32 accumulation for the SAE encoder forward: C = bias + bf16(A) bf16(B)ᵀ,
// A = x [M, K], B = W_enc [N, K] (both float32, row-major), C = pre [M, N].
//
// Both operands are rounded to bf16 (round to nearest, ties to even; NaN stays a quiet NaN; no flush
// of subnormals in the rounding, though the dot-product instructions then treat subnormal bf16 inputs
// as zero) into grow-only buffers reused across calls (fresh pages every step would cost page faults):
//   Ap [Mp, Kp]            x in bf16, rows padded to Mp = ⌈M/32⌉·32, depth to Kp = ⌈K/32⌉·32 with zeros
//   panels [Kp/2][16][2]   W in bf16, 16 latents per panel, the two depths of a pair side by side: the
//                          "VNNI" layout that both AMX (TDPBF16PS's B tile) and AVX512-BF16 (VDPBF16PS:
//                          lane n gets a[2p]·b[2p] + a[2p+1]·b[2p+1]) read directly. Each thread packs the
//                          chunk of W it is about to multiply (pack_b), so W is converted once per call.
// Kernels, chosen at run time (compiled with per-function target attributes, so the addon still
// builds with -march=native on CPUs without them):
//   amx-bf16     2x2 tiles of 16x16 float32 accumulators per 32x32 block of C, depth 32 per step
//                (needs Linux's arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) once per process)
//   avx512-bf16  12 rows x 32 columns of zmm accumulators, VDPBF16PS per depth pair
// Every element of C is summed in the same depth order by one thread whatever the thread count, so
// results do not depend on setThreads. The pool's threads take chunks of 256 latents (8 panels of 32)
// from a shared counter; a slow or descheduled thread leaves its chunks to the others.
// OpenBLAS's cblas_sbgemm is looked up too (reported by bf16Info, so bench/bf16.ts can say); Debian's
// OpenBLAS 0.3.21 does not export it, so there is nothing to measure against or call.
#include "bf16.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <cstring>
#include <mutex>
#include <string>

#include "common.h"

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized (their internal __Y) in target-attribute functions.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#if defined(__clang__)
#if __clang_major__ >= 12
#define AELAB_HAVE_AMX 1
#endif
#if __clang_major__ >= 9
#define AELAB_HAVE_AVX512BF16 1
#endif
#elif defined(__GNUC__)
#if __GNUC__ >= 11
#define AELAB_HAVE_AMX 1
#endif
#if __GNUC__ >= 10
#define AELAB_HAVE_AVX512BF16 1
#endif
#endif
#endif

namespace aelab {
namespace {

// ---------------------------------------------------------------------------------------------
// CPU detection
// ---------------------------------------------------------------------------------------------

struct Caps {
  bool avx512bf16 = false;
  bool amx = false;
  bool amd = false;  // CPUID vendor AuthenticAMD
  bool sbgemm = false;
  std::string missing;  // why no kernel runs ("" when one does)
  std::string amxNote;  // why AMX is not used although the CPU has it
};

#if defined(__x86_64__)
uint64_t xgetbv0() {
  uint32_t a, d;
  __asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
  return (uint64_t{d} << 32) | a;
}
#endif

Caps detect() {
  Caps c;
#if defined(__x86_64__)
  unsigned a = 0, b = 0, cx = 0, d = 0;
  bool osxsave = false;
  if (__get_cpuid(1, &a, &b, &cx, &d)) osxsave = (cx >> 27) & 1;
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0;
  if (__get_cpuid_count(7, 0, &a, &b7, &c7, &d7)) {
    unsigned x, y, z;
    if (a >= 1) __get_cpuid_count(7, 1, &a71, &x, &y, &z);
  }
  {
    unsigned v0 = 0, vb = 0, vc = 0, vd = 0;
    if (__get_cpuid(0, &v0, &vb, &vc, &vd)) c.amd = vb == 0x68747541u && vd == 0x69746e65u && vc == 0x444d4163u;  // "AuthenticAMD"
  }
  const bool zmmState = (xcr0 & 0xE6) == 0xE6;  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM enabled by the OS
  const bool avx512f = (b7 >> 16) & 1, avx512bw = (b7 >> 30) & 1, avx512vl = (b7 >> 31) & 1;
  const bool hasBf16 = (a71 >> 5) & 1;
  const bool amxTile = (d7 >> 24) & 1, amxBf16 = (d7 >> 22) & 1;
#if defined(AELAB_HAVE_AVX512BF16)
  c.avx512bf16 = zmmState && avx512f && avx512bw && avx512vl && hasBf16;
#endif
#if defined(AELAB_HAVE_AMX)
  // The conversions and edges use AVX-512 as well, so AMX is only taken together with it.
  if (amxTile && amxBf16 && c.avx512bf16) {
    if ((xcr0 & (uint64_t{3} << 17)) != (uint64_t{3} << 17)) {
      c.amxNote = "the OS does not enable the AMX tile state (XCR0 bits 17-18)";
    } else {
#if defined(__linux__)
      // Linux grants the (large) AMX state per process on request; without it TILELOADD faults.
      constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
      if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0) c.amx = true;
      else c.amxNote = "arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) was refused";
#else
      c.amx = true;
#endif
    }
  }
#endif
  if (!c.avx512bf16) {
    c.missing = std::string("this CPU has no AVX512-BF16 (nor AMX-BF16)") +
                (hasBf16 && !zmmState ? " usable: the OS does not enable the AVX-512 state" : "");
#if !defined(AELAB_HAVE_AVX512BF16)
    if (hasBf16) c.missing = "the addon was built by a compiler without AVX512-BF16 support";
#endif
  }
#else
  c.missing = "bf16 kernels exist only for x86-64 (AVX512-BF16 / AMX-BF16)";
#endif
  // AELAB_BF16=off hides both kernels (to check the "no bf16" paths on any CPU); =avx512 hides AMX.
  if (const char* env = std::getenv("AELAB_BF16")) {
    if (std::strcmp(env, "off") == 0 || std::strcmp(env, "0") == 0 || std::strcmp(env, "none") == 0) {
      c.amx = c.avx512bf16 = false;
      c.missing = "AELAB_BF16=off disables the bf16 kernels";
    } else if (std::strcmp(env, "avx512") == 0 && c.amx) {
      c.amx = false;
      c.amxNote = "AELAB_BF16=avx512 disables AMX";
    }
  }
  // Only look at the OpenBLAS that gemm.cc keeps loaded (RTLD_NOLOAD): loading and unloading a
  // second copy here starts and abandons OpenBLAS's thread pool, which crashed the process at exit.
  blas_init();
  static const char* const kLibs[] = {"libopenblas.so.0", "libopenblas.so"};
  for (const char* lib : kLibs) {
    if (void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)) {
      c.sbgemm = dlsym(h, "cblas_sbgemm") != nullptr;
      dlclose(h);
      break;
    }
  }
  return c;
}

const Caps& caps() {
  static const Caps c = detect();
  return c;
}

// ---------------------------------------------------------------------------------------------
// Buffers and conversion
// ---------------------------------------------------------------------------------------------

/// 64-byte aligned grow-only buffer.
struct Buf {
  void* p = nullptr;
  size_t bytes = 0;
  ~Buf() { std::free(p); }
  template <class T>
  T* get(size_t n) {
    const size_t want = (n * sizeof(T) + 63) & ~size_t(63);
    if (want > bytes) {
      std::free(p);
      p = std::aligned_alloc(64, want);
      if (!p) std::abort();
      bytes = want;
    }
    return static_cast<T*>(p);
  }
};

std::mutex g_mu;  // one call at a time owns the buffers
Buf g_a, g_bias;

/// bf16 bits of f: round to nearest, ties to even; NaN → quiet NaN of the same sign.
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#if defined(AELAB_HAVE_AVX512BF16)
/// dst[0:n] = bf16(src[0:n]), dst[n:np] = 0, 16 at a time (integer rounding: exact, subnormals kept).
__attribute__((target("avx512f,avx512bw,avx512vl"))) void convert_row(const float* src, int64_t n, int64_t np,
                                                                       uint16_t* dst) {
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff), quiet = _mm512_set1_epi32(0x40);
  int64_t i = 0;
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(m, src + i);
    const __m512i u = _mm512_castps_si512(x);
    const __m512i hi = _mm512_srli_epi32(u, 16);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(hi, one))), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, quiet));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_cvtepi32_epi16(r));  // masked-out lanes are 0
  }
  for (; i < np; ++i) dst[i] = 0;
}
#endif

void convert_row_scalar(const float* src, int64_t n, int64_t np, uint16_t* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = to_bf16(src[i]);
  for (int64_t i = n; i < np; ++i) dst[i] = 0;
}

struct Job {
  int64_t M, N, K, Mp, Np, Kp;
  const float* A;
  const float* B;
  const float* bias;
  float* C;
  uint16_t* Ap;
  float* biasP;  // [Np], zero past N (null when no bias)
  float* Bnorm;  // [N] ‖B[n]‖₂ rounded up (null when not asked for)
  std::atomic<int64_t> next{0};
  int64_t units;  // chunks of kChunk 32-column panels
};

/// 32-column panels per unit of work: a chunk of W (8 · 32 latents · Kp depths, 256 KiB at d = 512)
/// stays in L2 while all rows of x pass over it, and C is written in rows of 1 KiB rather than 128 B.
constexpr int64_t kChunk = 8;

/// Ap from A (threaded over rows) and the padded bias.
void convert_a(Job& j) {
  const bool vec = caps().avx512bf16;
  parallel_for(j.Mp, j.Kp, [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m) {
      uint16_t* dst = j.Ap + m * j.Kp;
      if (m >= j.M) { std::memset(dst, 0, j.Kp * 2); continue; }
#if defined(AELAB_HAVE_AVX512BF16)
      if (vec) { convert_row(j.A + m * j.K, j.K, j.Kp, dst); continue; }
#endif
      convert_row_scalar(j.A + m * j.K, j.K, j.Kp, dst);
    }
  });
  if (j.biasP) {
    std::memcpy(j.biasP, j.bias, j.N * sizeof(float));
    for (int64_t n = j.N; n < j.Np; ++n) j.biasP[n] = 0.0f;
  }
}

/// ‖r[0:n]‖₂ rounded up to a float (squares summed in double: exact products, a relative error of
/// ~n·2⁻⁵³ in the sum, far below the float rounding up); NaN or Infinity when r holds one.
float norm_up(const float* r, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += static_cast<double>(r[i]) * r[i];
    s1 += static_cast<double>(r[i + 1]) * r[i + 1];
    s2 += static_cast<double>(r[i + 2]) * r[i + 2];
    s3 += static_cast<double>(r[i + 3]) * r[i + 3];
  }
  for (; i < n; ++i) s0 += static_cast<double>(r[i]) * r[i];
  const double v = std::sqrt((s0 + s1) + (s2 + s3)) * (1.0 + 1e-12);
  float f = static_cast<float>(v);
  if (static_cast<double>(f) < v) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

/// Packs the 16-latent panels [nb0, nb1) of B into dst ([nb1 − nb0][Kp/2][16] pairs). Done by the thread
/// that then multiplies them, right before it does: W is read from memory once per call and its packed
/// copy is still in L2 when the tiles load it (a separate packing pass cost a second trip through DRAM).
void pack_b(const Job& j, int64_t nb0, int64_t nb1, uint16_t* out) {
  const bool vec = caps().avx512bf16;
  alignas(64) uint16_t row[4096];  // one row, 4096 depths at a time
  const int64_t P = j.Kp / 2;
  for (int64_t nb = nb0; nb < nb1; ++nb) {
    uint32_t* dst = reinterpret_cast<uint32_t*>(out + (nb - nb0) * j.Kp * 16);  // [P][16] pairs
    for (int i = 0; i < 16; ++i) {
      const int64_t n = nb * 16 + i;
      if (n >= j.N) {
        for (int64_t p = 0; p < P; ++p) dst[p * 16 + i] = 0;
        continue;
      }
      // One row through a small buffer, then its pairs into column i of the panel.
      for (int64_t k0 = 0; k0 < j.Kp; k0 += 4096) {
        const int64_t kn = j.Kp - k0 < 4096 ? j.Kp - k0 : 4096;
        const int64_t valid = j.K - k0 < 0 ? 0 : (j.K - k0 < kn ? j.K - k0 : kn);
#if defined(AELAB_HAVE_AVX512BF16)
        if (vec) convert_row(j.B + n * j.K + k0, valid, kn, row);
        else
#endif
          convert_row_scalar(j.B + n * j.K + k0, valid, kn, row);
        const uint32_t* pr = reinterpret_cast<const uint32_t*>(row);
        for (int64_t p = 0; p < kn / 2; ++p) dst[(k0 / 2 + p) * 16 + i] = pr[p];
      }
      // The row is still in L1: its norm costs no extra trip to memory (the screened top-k's bound).
      if (j.Bnorm) j.Bnorm[n] = norm_up(j.B + n * j.K, j.K);
    }
  }
}

thread_local Buf t_b;  // each pool thread's packed chunk of B (kChunk · 32 latents · Kp)

/// Copies the valid part of a 16x16 tile (from a buffer with row stride 16) into C.
inline void copy_tile(const float* t, float* C, int64_t ldc, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(C + r * ldc, t + r * 16, cols * sizeof(float));
}

// ---------------------------------------------------------------------------------------------
// AMX kernel
// ---------------------------------------------------------------------------------------------
#if defined(AELAB_HAVE_AMX)

struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t startRow;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// GCC's tile intrinsics are asm statements without a memory clobber: fence the compiler around them
// wherever ordinary loads/stores touch the same memory.
#define AELAB_CBAR() __asm__ volatile("" ::: "memory")

__attribute__((target("amx-tile,amx-bf16,avx512f"))) void amx_region(void* p, int, int) {
  Job& j = *static_cast<Job*>(p);
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
  const int64_t Kp = j.Kp, lda = Kp * 2, N = j.N, M = j.M;
  const int64_t panel = Kp * 16;  // uint16 elements of one 16-latent panel
  alignas(64) float tmp[4][256];
  for (;;) {
    const int64_t u = j.next.fetch_add(1, std::memory_order_relaxed);
    if (u >= j.units) break;
    const int64_t q0 = u * kChunk, q1 = (u + 1) * kChunk < j.Np / 32 ? (u + 1) * kChunk : j.Np / 32;
    uint16_t* Bc = t_b.get<uint16_t>(kChunk * 32 * Kp);
    pack_b(j, 2 * q0, 2 * q1, Bc);
    AELAB_CBAR();
    for (int64_t m0 = 0; m0 < j.Mp; m0 += 32) {
      const uint16_t* A0 = j.Ap + m0 * Kp;
      const uint16_t* A1 = A0 + 16 * Kp;
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t n0 = q * 32;
        const uint16_t* B0 = Bc + (2 * (q - q0)) * panel;
        const uint16_t* B1 = B0 + panel;
        if (j.biasP) {  // every row of the accumulator starts at the bias (stride 0 repeats one row)
          _tile_loadd(0, j.biasP + n0, 0);
          _tile_loadd(1, j.biasP + n0 + 16, 0);
          _tile_loadd(2, j.biasP + n0, 0);
          _tile_loadd(3, j.biasP + n0 + 16, 0);
        } else {
          _tile_zero(0);
          _tile_zero(1);
          _tile_zero(2);
          _tile_zero(3);
        }
        for (int64_t k = 0; k < Kp; k += 32) {
          _tile_loadd(4, A0 + k, lda);
          _tile_loadd(5, A1 + k, lda);
          _tile_loadd(6, B0 + k * 16, 64);
          _tile_loadd(7, B1 + k * 16, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
        float* c = j.C + m0 * N + n0;
        if (n0 + 32 <= N && m0 + 32 <= M) {
          _tile_stored(0, c, N * 4);
          _tile_stored(1, c + 16, N * 4);
          _tile_stored(2, c + 16 * N, N * 4);
          _tile_stored(3, c + 16 * N + 16, N * 4);
          AELAB_CBAR();
        } else {
          _tile_stored(0, tmp[0], 64);
          _tile_stored(1, tmp[1], 64);
          _tile_stored(2, tmp[2], 64);
          _tile_stored(3, tmp[3], 64);
          AELAB_CBAR();
          for (int t = 0; t < 4; ++t) {
            const int64_t r0 = m0 + (t >> 1) * 16, c0 = n0 + (t & 1) * 16;
            const int64_t rows = M - r0 < 16 ? M - r0 : 16, cols = N - c0 < 16 ? N - c0 : 16;
            if (rows > 0 && cols > 0) copy_tile(tmp[t], j.C + r0 * N + c0, N, rows, cols);
          }
        }
      }
    }
  }
  _tile_release();
}
#endif

// ---------------------------------------------------------------------------------------------
// AVX512-BF16 kernel
// ---------------------------------------------------------------------------------------------
#if defined(AELAB_HAVE_AVX512BF16)

constexpr int kMr = 12;

/// MR rows x 32 columns of C from Ap rows (stride Kp) and two 16-latent panels.
template <int MR>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void dp_block(
    const uint16_t* A, int64_t Kp, const uint16_t* B0, const uint16_t* B1, const float* bias, float* C,
    int64_t ldc, __mmask16 m0, __mmask16 m1) {
  __m512 acc[MR][2];
  const __m512 b0i = bias ? _mm512_load_ps(bias) : _mm512_setzero_ps();
  const __m512 b1i = bias ? _mm512_load_ps(bias + 16) : _mm512_setzero_ps();
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = b0i;
    acc[r][1] = b1i;
  }
  const int64_t P = Kp / 2;
  const int32_t* a32 = reinterpret_cast<const int32_t*>(A);
  const int64_t lda32 = Kp / 2;
  for (int64_t p = 0; p < P; ++p) {
    const __m512bh w0 = (__m512bh)_mm512_load_si512(B0 + p * 32);
    const __m512bh w1 = (__m512bh)_mm512_load_si512(B1 + p * 32);
    for (int r = 0; r < MR; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(a32[r * lda32 + p]);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, w0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, w1);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm512_mask_storeu_ps(C + r * ldc, m0, acc[r][0]);
    _mm512_mask_storeu_ps(C + r * ldc + 16, m1, acc[r][1]);
  }
}

template <int MR>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void dp_tail(
    int mr, const uint16_t* A, int64_t Kp, const uint16_t* B0, const uint16_t* B1, const float* bias, float* C,
    int64_t ldc, __mmask16 m0, __mmask16 m1) {
  if constexpr (MR > 0) {
    if (mr == MR) return dp_block<MR>(A, Kp, B0, B1, bias, C, ldc, m0, m1);
    dp_tail<MR - 1>(mr, A, Kp, B0, B1, bias, C, ldc, m0, m1);
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void avx512_region(void* p, int, int) {
  Job& j = *static_cast<Job*>(p);
  const int64_t Kp = j.Kp, N = j.N, M = j.M, panel = Kp * 16;
  for (;;) {
    const int64_t u = j.next.fetch_add(1, std::memory_order_relaxed);
    if (u >= j.units) break;
    const int64_t q0 = u * kChunk, q1 = (u + 1) * kChunk < j.Np / 32 ? (u + 1) * kChunk : j.Np / 32;
    uint16_t* Bc = t_b.get<uint16_t>(kChunk * 32 * Kp);
    pack_b(j, 2 * q0, 2 * q1, Bc);
    for (int64_t r = 0; r < M; r += kMr) {
      const int mr = static_cast<int>(M - r < kMr ? M - r : kMr);
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t n0 = q * 32;
        const uint16_t* B0 = Bc + (2 * (q - q0)) * panel;
        const uint16_t* B1 = B0 + panel;
        const int64_t c0 = N - n0 < 16 ? N - n0 : 16, c1 = N - n0 - 16 < 0 ? 0 : (N - n0 - 16 < 16 ? N - n0 - 16 : 16);
        const __mmask16 m0 = c0 >= 16 ? __mmask16(0xffff) : __mmask16((1u << c0) - 1);
        const __mmask16 m1 = c1 >= 16 ? __mmask16(0xffff) : __mmask16((1u << c1) - 1);
        const float* bias = j.biasP ? j.biasP + n0 : nullptr;
        if (mr == kMr) dp_block<kMr>(j.Ap + r * Kp, Kp, B0, B1, bias, j.C + r * N + n0, N, m0, m1);
        else dp_tail<kMr - 1>(mr, j.Ap + r * Kp, Kp, B0, B1, bias, j.C + r * N + n0, N, m0, m1);
      }
    }
  }
}
#endif

int resolve(int which) {
  const Caps& c = caps();
  if (which == kBf16Auto) return c.amx ? kBf16Amx : c.avx512bf16 ? kBf16Avx512 : -1;
  if (which == kBf16Amx) return c.amx ? kBf16Amx : -1;
  if (which == kBf16Avx512) return c.avx512bf16 ? kBf16Avx512 : -1;
  return -1;
}

}  // namespace

const char* bf16_kernel_name(int which) {
  const int k = resolve(which);
  return k == kBf16Amx ? "amx-bf16" : k == kBf16Avx512 ? "avx512-bf16" : nullptr;
}

const char* bf16_missing() { return caps().missing.c_str(); }

bool gemm_bf16(int64_t M, int64_t N, int64_t K, const float* A, const float* B, const float* bias, float* C,
               int which, float* Bnorm) {
  const int k = resolve(which);
  if (k < 0) return false;
  if (M == 0 || N == 0) {
    if (Bnorm)
      for (int64_t n = 0; n < N; ++n) Bnorm[n] = norm_up(B + n * K, K);
    return true;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  Job j;
  j.M = M;
  j.N = N;
  j.K = K;
  j.Mp = (M + 31) / 32 * 32;
  j.Np = (N + 31) / 32 * 32;
  j.Kp = K == 0 ? 32 : (K + 31) / 32 * 32;  // K = 0: one all-zero step, C = bias
  j.A = A;
  j.B = B;
  j.bias = bias;
  j.C = C;
  j.Ap = g_a.get<uint16_t>(j.Mp * j.Kp);
  j.biasP = bias ? g_bias.get<float>(j.Np) : nullptr;
  j.Bnorm = Bnorm;
  j.units = (j.Np / 32 + kChunk - 1) / kChunk;
  convert_a(j);
  // Each panel costs ~2·Mp·32·Kp flops; ask for as many threads as there are panels.
  const int want = static_cast<int>(j.units < 256 ? j.units : 256);
#if defined(AELAB_HAVE_AMX)
  if (k == kBf16Amx) {
    pool_run_shared(&amx_region, &j, want);
    return true;
  }
#endif
#if defined(AELAB_HAVE_AVX512BF16)
  if (k == kBf16Avx512) {
    pool_run_shared(&avx512_region, &j, want);
    return true;
  }
#endif
  return false;
}

// ---------------------------------------------------------------------------------------------
// N-API
// ---------------------------------------------------------------------------------------------
#ifndef AELAB_BF16_NO_NAPI
namespace {

[[noreturn]] void throw_error(napi_env env, const std::string& msg, bool range) {
  throw range ? Napi::RangeError::New(env, "aelab native gemmBf16: " + msg)
              : Napi::Error::New(env, "aelab native gemmBf16: " + msg);
}

int64_t get_dim(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) throw_error(info.Env(), std::string(name) + " must be a number", false);
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0.0 && v < 281474976710656.0 && static_cast<double>(static_cast<int64_t>(v)) == v))
    throw_error(info.Env(), std::string(name) + " must be a non-negative integer, got " + std::to_string(v), false);
  return static_cast<int64_t>(v);
}

float* get_f32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need, const std::string& what,
               bool optional) {
  if (optional && (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined())) return nullptr;
  if (i >= info.Length() || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), std::string("aelab native gemmBf16: ") + name + " must be a Float32Array");
  Napi::Float32Array a = info[i].As<Napi::Float32Array>();
  if (static_cast<int64_t>(a.ElementLength()) < need)
    throw_error(info.Env(), std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, needs " +
                                std::to_string(need) + " (" + what + ")",
                true);
  return a.Data();
}

}  // namespace

napi_value napi_gemm_bf16(napi_env env, napi_callback_info cbinfo) {
  try {
    Napi::CallbackInfo info(env, cbinfo);
    const int64_t M = get_dim(info, 0, "M"), N = get_dim(info, 1, "N"), K = get_dim(info, 2, "K");
    if (M > (int64_t{1} << 31) || N > (int64_t{1} << 31) || K > (int64_t{1} << 24)) throw_error(env, "sizes overflow", false);
    const std::string shape = "M=" + std::to_string(M) + ", N=" + std::to_string(N) + ", K=" + std::to_string(K);
    float* A = get_f32(info, 3, "A", M * K, shape, false);
    float* B = get_f32(info, 4, "B", N * K, shape, false);
    float* bias = get_f32(info, 5, "bias", N, shape, true);
    float* C = get_f32(info, 6, "C", M * N, shape, false);
    const int64_t which = info.Length() > 7 && info[7].IsNumber() ? get_dim(info, 7, "kernel") : 0;
    if (which > kBf16Avx512) throw_error(env, "kernel must be 0 (auto), 1 (amx-bf16) or 2 (avx512-bf16), got " + std::to_string(which), false);
    float* Bnorm = get_f32(info, 8, "bNorm", N, shape, true);
    if (!gemm_bf16(M, N, K, A, B, bias, C, static_cast<int>(which), Bnorm)) {
      const std::string why = caps().missing.empty() ? (caps().amxNote.empty() ? "this CPU has no AMX-BF16" : caps().amxNote) : caps().missing;
      throw_error(env, std::string("the ") + (which == kBf16Amx ? "amx-bf16" : which == kBf16Avx512 ? "avx512-bf16" : "bf16") +
                           " kernel is not available: " + why,
                  false);
    }
    return Napi::Env(env).Undefined();
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

napi_value napi_bf16_info(napi_env env, napi_callback_info) {
  try {
    Napi::Env e(env);
    const Caps& c = caps();
    Napi::Object o = Napi::Object::New(e);
    const char* k = bf16_kernel_name(kBf16Auto);
    o.Set("kernel", k ? Napi::Value(Napi::String::New(e, k)) : e.Null());
    o.Set("amx", Napi::Boolean::New(e, c.amx));
    // Whether the chosen kernel multiplies faster than float32 FMAs here: AMX always; VDPBF16PS does twice an
    // FMA's multiply-adds per instruction, which is twice the float32 rate on AMD Zen 4/5 (one 512-bit FMA or
    // VDPBF16PS per cycle) but not on Intel cores, which issue float32 FMAs on two ports and VDPBF16PS on one
    // (measured on a Xeon with AMX: the AVX512-BF16 kernel 192 GFLOP/s against OpenBLAS float32 251).
    o.Set("fasterThanF32", Napi::Boolean::New(e, k != nullptr && (c.amx || c.amd)));
    o.Set("avx512bf16", Napi::Boolean::New(e, c.avx512bf16));
    o.Set("sbgemm", Napi::Boolean::New(e, c.sbgemm));
    o.Set("missing", Napi::String::New(e, c.missing));
    o.Set("amxNote", Napi::String::New(e, c.amxNote));
    return o;
  } catch (const Napi::Error& err) {
    err.ThrowAsJavaScriptException();
    return nullptr;
  }
}
#endif

}  // namespace aelab
