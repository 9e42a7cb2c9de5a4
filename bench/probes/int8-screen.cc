// Feasibility probe (not part of the package or of `npm run bench`): would an int8 screen let the exact
// float32 TopK step beat PyTorch's on CPUs without bf16 instructions? It times an AVX2 int8 GEMM
// (vpmaddubsw + vpmaddwd, x quantized per row to 7 bits, W per row to 8 bits) against OpenBLAS's SGEMM on the
// TopK encoder's shape (B = 1024, d = 512, H latents), checks the screen's bound
//   |x·w − P| ≤ ‖x − x̂‖·‖w‖ + ‖x̂‖·‖w − ŵ‖   (x̂, ŵ the dequantized rows; Cauchy–Schwarz)
// on every entry, and counts the candidates per row the TopK screen would rescore (P + e ≥ L, L the least
// P − e in the top 32 of P). Data as in bench/sae-scaling.ts (x uniform in [−1, 1], W Gaussian; H a
// multiple of 32);
// optionally `outliers` dimensions of x scaled ×20 (as LM residual streams have), and `diag` = 1 rescales
// dimension i of x by 1/c_i and of W by c_i (c_i = its RMS over the batch; x·w is unchanged).
// Build and run (an AVX2 build, OpenBLAS's Haswell kernels, 2 threads):
//   g++ -O3 -march=haswell -o /tmp/int8-screen bench/probes/int8-screen.cc -ldl -lpthread
//   OPENBLAS_NUM_THREADS=2 OPENBLAS_CORETYPE=Haswell /tmp/int8-screen 16384 [outliers 0] [diag 0]
//   /tmp/int8-screen chains
// Results and what they mean: docs/SAE.md, "AVX2-only CPUs".
#include <immintrin.h>
#include <dlfcn.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <thread>
#include <vector>
#include <random>
typedef void (*sgemm_t)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
int M = 1024, K = 512, N = 16384, TOPK = 32;
// B packed: [N/16][K/4][2][32 bytes]
void pack_w(const int8_t* qw, uint8_t* bp) {
  for (int n0 = 0; n0 < N; n0 += 16)
    for (int k4 = 0; k4 < K / 4; ++k4)
      for (int g = 0; g < 2; ++g)
        for (int c = 0; c < 8; ++c)
          for (int j = 0; j < 4; ++j)
            bp[((size_t)(n0 / 16) * (K / 4) + k4) * 64 + g * 32 + c * 4 + j] = (uint8_t)qw[(size_t)(n0 + g * 8 + c) * K + k4 * 4 + j];
}
// P[m, n] = sx[m]*sw[n]*(Σ u·qw − 64·colsum[n])
void gemm_i8(const uint8_t* ua, const uint8_t* bp, const int32_t* colsum, const float* sx, const float* sw, float* P, int n0, int n1) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int nb = n0; nb < n1; nb += 16) {
    const uint8_t* b = bp + (size_t)(nb / 16) * (K / 4) * 64;
    for (int m = 0; m < M; m += 4) {
      __m256i acc[4][2];
      for (int r = 0; r < 4; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
      const uint8_t* a = ua + (size_t)m * K;
      for (int k4 = 0; k4 < K / 4; ++k4) {
        __m256i b0 = _mm256_load_si256((const __m256i*)(b + k4 * 64));
        __m256i b1 = _mm256_load_si256((const __m256i*)(b + k4 * 64 + 32));
        for (int r = 0; r < 4; ++r) {
          __m256i av = _mm256_set1_epi32(*(const int32_t*)(a + (size_t)r * K + k4 * 4));
          acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones));
          acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones));
        }
      }
      for (int r = 0; r < 4; ++r)
        for (int g = 0; g < 2; ++g) {
          __m256i cs = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i*)(colsum + nb + g * 8)), 6);
          __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r][g], cs));
          v = _mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(sx[m + r])), _mm256_loadu_ps(sw + nb + g * 8));
          _mm256_storeu_ps(P + (size_t)(m + r) * N + nb + g * 8, v);
        }
    }
  }
}
// `chains`: one thread's multiply-add rate of 12 independent accumulator chains each of float32 FMA, int16
// (vpmaddwd + vpaddd) and int8 (vpmaddubsw + vpmaddwd + vpaddd): the arithmetic ceiling of each kind.
template <int KIND>
__attribute__((noinline)) double chain_rate(long iters) {
  __m256i ai[12];
  __m256 af[12];
  for (int i = 0; i < 12; ++i) { ai[i] = _mm256_setzero_si256(); af[i] = _mm256_set1_ps(1.0f + i * 1e-7f); }
  const __m256i ones = _mm256_set1_epi16(1), w = _mm256_set1_epi8(3);
  __m256i u = _mm256_set1_epi8(2);
  const __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  const double t0 = now();
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) {
      if (KIND == 0) af[i] = _mm256_fmadd_ps(af[i], b, c);
      else if (KIND == 1) ai[i] = _mm256_add_epi32(ai[i], _mm256_madd_epi16(u, w));
      else ai[i] = _mm256_add_epi32(ai[i], _mm256_madd_epi16(_mm256_maddubs_epi16(u, w), ones));
    }
    u = _mm256_add_epi8(u, ones);
  }
  const double sec = now() - t0;
  volatile int sink = 0;
  volatile float fsink = 0;
  for (int i = 0; i < 12; ++i) { sink = sink + _mm256_extract_epi32(ai[i], 0); fsink = fsink + af[i][0]; }
  return iters * 12.0 * (KIND == 0 ? 8 : KIND == 1 ? 16 : 32) / sec / 1e9;  // multiply-adds per second
}
int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "chains") == 0) {
    const long iters = 20000000;
    const double f = chain_rate<0>(iters), i16 = chain_rate<1>(iters), i8 = chain_rate<2>(iters);
    printf("one thread, G multiply-adds/s: f32 FMA %.1f, int16 %.1f (%.2fx), int8 %.1f (%.2fx)\n", f, i16, i16 / f, i8, i8 / f);
    return 0;
  }
  if (argc > 1) N = atoi(argv[1]);
  int outlier = argc > 2 ? atoi(argv[2]) : 0;
  void* h = dlopen("libopenblas.so.0", RTLD_NOW);
  sgemm_t sgemm = (sgemm_t)dlsym(h, "cblas_sgemm");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x((size_t)M * K), W((size_t)N * K), pre((size_t)M * N), P((size_t)M * N);
  for (auto& v : x) v = u(rng);
  if (outlier) for (int m = 0; m < M; ++m) for (int j = 0; j < outlier; ++j) x[(size_t)m * K + j * 37 % K] *= 20;
  std::normal_distribution<float> g(0, 1);
  for (auto& v : W) v = g(rng);  // unit-Gaussian rows, as the SAEs' default init (W_enc = W_decᵀ)
  int diag = argc > 3 ? atoi(argv[3]) : 0;
  std::vector<float> xs = x, Ws = W;  // originals for the exact GEMM
  if (diag) {  // x'_i = x_i / c_i, w'_i = w_i * c_i with c_i = RMS of dimension i over the batch: x'·w' = x·w
    for (int i = 0; i < K; ++i) { double s2 = 0; for (int m = 0; m < M; ++m) s2 += (double)x[(size_t)m*K+i]*x[(size_t)m*K+i]; float c = (float)std::sqrt(s2 / M);
      for (int m = 0; m < M; ++m) x[(size_t)m*K+i] /= c;
      for (int n = 0; n < N; ++n) W[(size_t)n*K+i] *= c;
    }
  }
  // quantize x: 7-bit signed [-63,63] per row, offset +64 -> u8
  std::vector<uint8_t> ua((size_t)M * K); std::vector<float> sx(M), exn(M), xqn(M);
  std::vector<int8_t> qw((size_t)N * K); std::vector<float> sw(N), ewn(N), wn(N); std::vector<int32_t> colsum(N);
  std::vector<uint8_t> bp((size_t)N * K + 64);
  uint8_t* bpa = (uint8_t*)(((uintptr_t)bp.data() + 31) & ~(uintptr_t)31);
  std::vector<uint8_t> bp2((size_t)N * K + 64);
  auto quant = [&]() {
    for (int m = 0; m < M; ++m) {
      float mx = 0; for (int i = 0; i < K; ++i) mx = std::max(mx, std::fabs(x[(size_t)m * K + i]));
      sx[m] = mx / 63; double e2 = 0, q2 = 0;
      for (int i = 0; i < K; ++i) { float v = x[(size_t)m * K + i]; int q = (int)std::lrint(v / sx[m]); ua[(size_t)m * K + i] = (uint8_t)(q + 64); double d = v - q * (double)sx[m]; e2 += d * d; q2 += (q * (double)sx[m]) * (q * (double)sx[m]); }
      exn[m] = std::sqrt(e2); xqn[m] = std::sqrt(q2);
    }
    for (int n = 0; n < N; ++n) {
      float mx = 0; for (int i = 0; i < K; ++i) mx = std::max(mx, std::fabs(W[(size_t)n * K + i]));
      sw[n] = mx / 127; double e2 = 0, w2 = 0; int cs = 0;
      for (int i = 0; i < K; ++i) { float v = W[(size_t)n * K + i]; int q = (int)std::lrint(v / sw[n]); qw[(size_t)n * K + i] = (int8_t)q; cs += q; double d = v - q * (double)sw[n]; e2 += d * d; w2 += (double)v * v; }
      ewn[n] = std::sqrt(e2); wn[n] = std::sqrt(w2); colsum[n] = cs;
    }
    pack_w(qw.data(), bpa);
  };
  double tq = 1e9, ti = 1e9, tf = 1e9;
  for (int rep = 0; rep < 9; ++rep) {
    double t0 = now(); quant(); tq = std::min(tq, now() - t0);
    t0 = now();
    std::thread th([&] { gemm_i8(ua.data(), bpa, colsum.data(), sx.data(), sw.data(), P.data(), 0, N / 2); });
    gemm_i8(ua.data(), bpa, colsum.data(), sx.data(), sw.data(), P.data(), N / 2, N);
    th.join();
    ti = std::min(ti, now() - t0);
    t0 = now();
    sgemm(101, 111, 112, M, N, K, 1.0f, xs.data(), K, Ws.data(), K, 0.0f, pre.data(), N);
    tf = std::min(tf, now() - t0);
  }
  // check and count candidates: e = exn·wn + xqn·ewn (+ tiny float slack)
  double maxerr_ratio = 0; long cand = 0, over = 0;
  std::vector<float> tmp(N);
  for (int m = 0; m < M; ++m) {
    const float* p = P.data() + (size_t)m * N; const float* t = pre.data() + (size_t)m * N;
    std::vector<double> e(N);
    for (int n = 0; n < N; ++n) { e[n] = (exn[m] * wn[n] + xqn[m] * ewn[n]) * (1 + 1e-5) + 1e-6 * std::fabs(p[n]); double err = std::fabs(p[n] - t[n]); maxerr_ratio = std::max(maxerr_ratio, err / e[n]); }
    std::vector<int> idx(N); for (int n = 0; n < N; ++n) idx[n] = n;
    std::nth_element(idx.begin(), idx.begin() + TOPK, idx.end(), [&](int a, int b) { return p[a] > p[b]; });
    double L = 1e30; for (int j = 0; j < TOPK; ++j) L = std::min(L, p[idx[j]] - e[idx[j]]);
    long c = 0; for (int n = 0; n < N; ++n) if (p[n] + e[n] >= L) ++c;
    cand += c; if (c > 2 * TOPK + 192) ++over;
  }
  printf("diag=%d N=%d outlier_dims=%d: quantize (scalar) %.1f ms, int8 gemm %.1f ms, openblas sgemm %.1f ms (%.2fx), max err/bound %.3f, candidates/row %.1f, rows over cap %ld\n",
         diag, N, outlier, tq * 1e3, ti * 1e3, tf * 1e3, tf / ti, maxerr_ratio, (double)cand / M, over);
}
