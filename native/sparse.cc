// Row-sparse kernels of the fast TopK SAE path. A "sparse code" is k (value, latent) pairs per row:
// vals [R, k] float32 and idx [R, k] int32 with idx in [0, H). The kernels never form a dense [R, H]
// matrix:
//   sparse_decode        out[r] = b + Σ_j vals[r,j] · W[idx[r,j]]                   (embedding bag)
//   sparse_decode_grad   dvals[r,j] = ⟨dout[r], W[idx[r,j]]⟩                         (its values grad)
//   sparse_scatter_rows  out[h] (+)= Σ_{(r,j): idx[r,j]=h} coef[r,j] · src[r],
//                        sum[h] (+)= Σ_{(r,j): idx[r,j]=h} coef[r,j],
//                        and optionally dots[r,j] = ⟨src[r], dotW[idx[r,j]]⟩ (see below)
// sparse_scatter_rows is the weight gradient of both sides: dW_dec (coef = vals, src = dout) and
// dW_enc / db_enc (coef = dvalues, src = x). It buckets the R·k pairs by latent with a stable counting
// sort, then the threads claim contiguous ranges of latents one at a time and add each latent's pairs
// in increasing (r, j) order, so results are bit-identical for any thread count and no two threads
// write one row.
// All three keep the destination (a 64-float block of an output row, or 4 dot products) in registers
// and add terms with FMA in a fixed per-row order; sparse_scatter_rows reuses its bucket sort when
// called again with the same index set (dW_dec then dW_enc in one step).
// The decoder's backward needs both dW_dec (a scatter of dout rows) and dvals = ⟨dout[r], W_dec[idx]⟩
// (sparse_decode_grad, which gathers R·k rows of W_dec from memory). With dots requested, the scatter
// computes dvals while it works on latent h: W_dec[h] is one row that stays in L1 and the dout rows of
// h's pairs were just read for the scatter, so the R·k row gather is saved. dot4 is symmetric in its
// two operands, so these dots are bit-identical to sparse_decode_grad's.
// Pairs whose value/coefficient is exactly 0 contribute nothing (they are skipped, as in a sparse
// format; a dense GEMM would propagate 0·Inf = NaN, these kernels do not).
// Arguments are validated by the N-API layer (addon.cc); indices are in range here.
#include <immintrin.h>

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.h"

namespace aelab {
namespace {

typedef float sv8 __attribute__((vector_size(32)));

inline sv8 ld8(const float* p) {
  sv8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void st8(float* p, sv8 v) { std::memcpy(p, &v, sizeof v); }
inline sv8 bc8(float x) { return sv8{x, x, x, x, x, x, x, x}; }
/// c + a * b with one rounding (vfmadd231ps; ISO C++ mode does not contract a * b + c by itself).
inline sv8 fma8(sv8 a, sv8 b, sv8 c) { return (sv8)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c); }
inline void pf(const void* p) { __builtin_prefetch(p, 0, 3); }

/// o[0:D] = init[0:D] (or 0 when init is null) + Σ_q c[q] · s[q][0:D], q = 0..n-1 in order, one FMA
/// per term. The destination block of 64 floats stays in 8 registers while all n terms are added;
/// with PF the next block of every source row is prefetched meanwhile (helps the random gathers of W
/// rows in decode; the scatter's sources are a small, mostly cached [R, D] matrix).
template <bool PF>
inline void sum_rows(float* o, const float* init, const float* const* s, const float* c, int64_t n, int64_t D) {
  int64_t d = 0;
  for (; d + 64 <= D; d += 64) {
    sv8 a0, a1, a2, a3, a4, a5, a6, a7;
    if (init) {
      a0 = ld8(init + d); a1 = ld8(init + d + 8); a2 = ld8(init + d + 16); a3 = ld8(init + d + 24);
      a4 = ld8(init + d + 32); a5 = ld8(init + d + 40); a6 = ld8(init + d + 48); a7 = ld8(init + d + 56);
    } else {
      a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = bc8(0.f);
    }
    const bool more = d + 128 <= D;
    for (int64_t q = 0; q < n; ++q) {
      const float* w = s[q] + d;
      if (PF && more) { pf(w + 64); pf(w + 80); pf(w + 96); pf(w + 112); }
      const sv8 v = bc8(c[q]);
      a0 = fma8(v, ld8(w), a0); a1 = fma8(v, ld8(w + 8), a1);
      a2 = fma8(v, ld8(w + 16), a2); a3 = fma8(v, ld8(w + 24), a3);
      a4 = fma8(v, ld8(w + 32), a4); a5 = fma8(v, ld8(w + 40), a5);
      a6 = fma8(v, ld8(w + 48), a6); a7 = fma8(v, ld8(w + 56), a7);
    }
    st8(o + d, a0); st8(o + d + 8, a1); st8(o + d + 16, a2); st8(o + d + 24, a3);
    st8(o + d + 32, a4); st8(o + d + 40, a5); st8(o + d + 48, a6); st8(o + d + 56, a7);
  }
  for (; d + 8 <= D; d += 8) {
    sv8 a = init ? ld8(init + d) : bc8(0.f);
    for (int64_t q = 0; q < n; ++q) a = fma8(bc8(c[q]), ld8(s[q] + d), a);
    st8(o + d, a);
  }
  for (; d < D; ++d) {
    float a = init ? init[d] : 0.f;
    for (int64_t q = 0; q < n; ++q) a = __builtin_fmaf(c[q], s[q][d], a);
    o[d] = a;
  }
}

/// dv[j] = ⟨g, w[j]⟩ for 4 rows w[0..3] at once (g loaded once per 8 lanes; 8 accumulators).
inline void dot4(const float* g, const float* const* w, int64_t D, float* dv) {
  sv8 a0 = bc8(0.f), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0;
  const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
  int64_t d = 0;
  for (; d + 16 <= D; d += 16) {
    const sv8 g0 = ld8(g + d), g1 = ld8(g + d + 8);
    a0 = fma8(g0, ld8(w0 + d), a0); a1 = fma8(g1, ld8(w0 + d + 8), a1);
    b0 = fma8(g0, ld8(w1 + d), b0); b1 = fma8(g1, ld8(w1 + d + 8), b1);
    c0 = fma8(g0, ld8(w2 + d), c0); c1 = fma8(g1, ld8(w2 + d + 8), c1);
    e0 = fma8(g0, ld8(w3 + d), e0); e1 = fma8(g1, ld8(w3 + d + 8), e1);
  }
  for (; d + 8 <= D; d += 8) {
    const sv8 g0 = ld8(g + d);
    a0 = fma8(g0, ld8(w0 + d), a0); b0 = fma8(g0, ld8(w1 + d), b0);
    c0 = fma8(g0, ld8(w2 + d), c0); e0 = fma8(g0, ld8(w3 + d), e0);
  }
  const sv8 acc[4] = {a0 + a1, b0 + b1, c0 + c1, e0 + e1};
  for (int j = 0; j < 4; ++j) {
    const sv8& x = acc[j];
    float s = ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]));
    for (int64_t t = d; t < D; ++t) s = __builtin_fmaf(g[t], w[j][t], s);
    dv[j] = s;
  }
}

struct ScatterCtx {
  const float* coef;
  const float* src;
  int64_t k, D, H;
  uint32_t k32;  // k for the pair id -> row division (32-bit division is several times faster)
  float* out;
  float* sum;
  bool accumulate;
  const int64_t* start;  // [H + 1] bucket offsets into order
  const int32_t* order;  // pair ids (r·k + j), bucketed by latent, increasing within a bucket
  const int64_t* split;  // [parts + 1] latent boundaries of the work parts
  int parts;
  std::atomic<int> next;  // the next part to claim
  const float* dotW;      // [H, D] or null: also dots[pair] = ⟨src[r], dotW[h]⟩ for every pair
  float* dots;
};

thread_local std::vector<const float*> t_rows;
thread_local std::vector<float> t_coef;

void scatter_region(void* p, int, int) {
  ScatterCtx& c = *static_cast<ScatterCtx*>(p);
  std::vector<const float*>& rows = t_rows;
  std::vector<float>& cs = t_coef;
  // Threads claim parts until none is left (a part's rows are written by whoever claims it).
  for (int part; (part = c.next.fetch_add(1, std::memory_order_relaxed)) < c.parts;) {
    for (int64_t h = c.split[part]; h < c.split[part + 1]; ++h) {
      float* o = c.out + h * c.D;
      const int64_t cnt = c.start[h + 1] - c.start[h];
      if (static_cast<int64_t>(rows.size()) < cnt) {
        rows.resize(cnt);
        cs.resize(cnt);
      }
      // This latent's nonzero pairs in increasing (r, j) order; then the row is summed in registers.
      int64_t n = 0;
      float s = 0.f;
      for (int64_t q = c.start[h]; q < c.start[h + 1]; ++q) {
        const int32_t pair = c.order[q];
        const float cf = c.coef[pair];
        if (cf == 0.f) continue;
        rows[n] = c.src + static_cast<int64_t>(static_cast<uint32_t>(pair) / c.k32) * c.D;
        cs[n++] = cf;
        s += cf;
      }
      sum_rows<false>(o, c.accumulate ? o : nullptr, rows.data(), cs.data(), n, c.D);
      if (c.sum) c.sum[h] = c.accumulate ? c.sum[h] + s : s;
      if (c.dots) {
        // Every pair of h, zero coefficients included, 4 source rows at a time against W[h].
        const float* wh = c.dotW + h * c.D;
        for (int64_t q = c.start[h]; q < c.start[h + 1]; q += 4) {
          const int64_t m = c.start[h + 1] - q < 4 ? c.start[h + 1] - q : 4;
          const float* src4[4];
          int32_t pr[4];
          for (int t = 0; t < 4; ++t) {
            pr[t] = c.order[q + (t < m ? t : m - 1)];
            src4[t] = c.src + static_cast<int64_t>(static_cast<uint32_t>(pr[t]) / c.k32) * c.D;
          }
          float dv[4];
          dot4(wh, src4, c.D, dv);
          for (int t = 0; t < m; ++t) c.dots[pr[t]] = dv[t];
        }
      }
    }
  }
}

/// This core's L2 in bytes (sysconf), or 2 MiB when unknown.
int64_t l2_bytes() {
  static const int64_t l2 = [] {
    const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return v > 0 ? static_cast<int64_t>(v) : int64_t{2} << 20;
  }();
  return l2;
}

thread_local std::vector<int64_t> t_start;
thread_local std::vector<int32_t> t_order;
thread_local std::vector<int32_t> t_last_idx;
thread_local int64_t t_last_H = -1;

}  // namespace

void sparse_decode(const float* vals, const int32_t* idx, int64_t R, int64_t k, const float* W, int64_t D,
                   const float* bias, float* out) {
  parallel_for(R, k * D + D, [&](int64_t b, int64_t e) {
    std::vector<const float*>& rows = t_rows;
    std::vector<float>& cs = t_coef;
    if (static_cast<int64_t>(rows.size()) < k) {
      rows.resize(k);
      cs.resize(k);
    }
    for (int64_t r = b; r < e; ++r) {
      int64_t n = 0;
      for (int64_t j = 0; j < k; ++j) {
        const float v = vals[r * k + j];
        if (v == 0.f) continue;
        rows[n] = W + static_cast<int64_t>(idx[r * k + j]) * D;
        cs[n++] = v;
      }
      if (r + 1 < e)  // the first block of the next row's sources
        for (int64_t j = 0; j < k; ++j) {
          const float* w = W + static_cast<int64_t>(idx[(r + 1) * k + j]) * D;
          pf(w); pf(w + 16); pf(w + 32); pf(w + 48);
        }
      sum_rows<true>(out + r * D, bias, rows.data(), cs.data(), n, D);
    }
  });
}

void sparse_decode_grad(const float* dout, const int32_t* idx, int64_t R, int64_t k, const float* W, int64_t D,
                        float* dvals) {
  parallel_for(R, k * D, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* g = dout + r * D;
      const int32_t* ix = idx + r * k;
      int64_t j = 0;
      for (; j < k; j += 4) {
        const float* w[4];
        float dv[4];
        for (int t = 0; t < 4; ++t) w[t] = W + static_cast<int64_t>(ix[j + t < k ? j + t : k - 1]) * D;
        dot4(g, w, D, dv);
        for (int t = 0; t < 4 && j + t < k; ++t) dvals[r * k + j + t] = dv[t];
      }
    }
  });
}

void scatter_tiled(const float* coef, int64_t R, int64_t k, const float* src, int64_t D, int64_t H, const int64_t* start,
                   const int32_t* order, float* out, float* sum, bool accumulate);

void sparse_scatter_rows(const float* coef, const int32_t* idx, int64_t R, int64_t k, const float* src, int64_t D,
                         int64_t H, float* out, float* sum, bool accumulate, const float* dotW, float* dots, int path) {
  const int64_t n = R * k;
  // Stable counting sort of the pairs by latent.
  std::vector<int64_t>& start = t_start;
  std::vector<int32_t>& order = t_order;
  // The decoder and encoder weight gradients scatter by the same index set: reuse the last sort
  // when the indices are unchanged (compared by value, so a reused buffer is never trusted blindly).
  std::vector<int32_t>& last = t_last_idx;
  const bool same = t_last_H == H && static_cast<int64_t>(last.size()) == n &&
                    static_cast<int64_t>(start.size()) == H + 1 && (n == 0 || std::memcmp(last.data(), idx, sizeof(int32_t) * n) == 0);
  if (!same) {
  start.assign(H + 1, 0);
  if (static_cast<int64_t>(order.size()) < n) order.resize(n);
  for (int64_t p = 0; p < n; ++p) ++start[idx[p] + 1];
  for (int64_t h = 0; h < H; ++h) start[h + 1] += start[h];
  {
    // start[h] is used as the insertion cursor and restored afterwards.
    for (int64_t p = 0; p < n; ++p) order[start[idx[p]]++] = static_cast<int32_t>(p);
    for (int64_t h = H; h > 0; --h) start[h] = start[h - 1];
    start[0] = 0;
  }
  last.assign(idx, idx + n);
  t_last_H = H;
  }
  // Without dots, with ≥ 10 pairs a latent on average and src well beyond L2 (by latent, its rows are
  // then read from L3 or memory for every pair), by tiles of src (see scatter_tiled). With src within
  // ~2 L2s the by-latent kernel measured as fast or faster (bench/sparse-kernels.ts: 54 against 69 ms
  // at 1024 × 512 rows, H = 65536; 98 against 88 at 1024 × 2048, H = 16384).
  const bool bigSrc = R * D * static_cast<int64_t>(sizeof(float)) > 2 * l2_bytes();
  if (!dots && (path == 2 || (path == 0 && D >= 64 && n >= 10 * H && bigSrc))) {
    scatter_tiled(coef, R, k, src, D, H, start.data(), order.data(), out, sum, accumulate);
    return;
  }
  // Split latents into parts of about equal work ≈ (pairs + 1) · D per latent (the +1 is the row's
  // zeroing), a few per thread, which the threads claim one by one (a descheduled thread's parts are
  // taken by the others). Each latent's row is summed in its own fixed order whoever claims it.
  const int64_t work = (n + H) * D;
  int nt = pool_threads();
  if (work < 4 * kInlineWork) nt = 1;
  if (nt > H) nt = static_cast<int>(H > 0 ? H : 1);
  if (nt > 256) nt = 256;
  int parts = nt == 1 ? 1 : (8 * nt < 256 ? 8 * nt : 256);
  if (parts > H) parts = static_cast<int>(H > 0 ? H : 1);
  int64_t split[257];
  split[0] = 0;
  {
    int64_t h = 0;
    const int64_t total = n + H;
    for (int t = 1; t < parts; ++t) {
      const int64_t target = total * t / parts;
      while (h < H && start[h] + h < target) ++h;  // latents [0, h) carry about `target` work
      split[t] = h;
    }
    split[parts] = H;
  }
  ScatterCtx ctx{coef, src, k, D, H, static_cast<uint32_t>(k), out, sum, accumulate, start.data(), order.data(),
                 split, parts, {0}, dots ? dotW : nullptr, dotW ? dots : nullptr};
  if (nt <= 1)
    scatter_region(&ctx, 0, 1);
  else
    pool_run_shared(&scatter_region, &ctx, nt);
}


// ---- the sparse SAE steps (src/sae/sparse-step.ts): picking the active latents, and a latent-major decode ----
//
// select_active scans a dense pre-activation P [B, H] once and lists, per row, the latents where the
// step's code or gradient can be nonzero (increasing order) into scratch[b·limit …], with counts[b]:
//   theta null                 P > lo                                    (ReLU: lo = 0)
//   theta, dead null           (double) P − θ > lo                       (JumpReLU, lo = −ε/2)
//   theta and dead             P > θ ∨ |P − θ| < half ∨ (dead ∧ P < θ)   (JumpReLU with the pre-activation loss)
// The differences are taken in double, as the TypeScript twin does (JS numbers), so both pick exactly
// the same set. Rows are independent, so results do not depend on the thread count. Returns the
// largest count, or −1 when some row has more than `limit` (the caller then runs the dense step).
// pad_selected copies the lists into out [B, k] and pads each row with the smallest latents not in it.
//
// sparse_decode_latents is sparse_decode organised by latent instead of by row: the output is cut
// into blocks of rows × columns that stay in L2 (≈ 512 KB), each row block's nonzero pairs are
// bucketed by latent (a counting sort, stable in (r, j)), and each latent's W row segment, loaded
// once per block, is added to every output row that uses it. At a 2 % code density the by-row kernel
// gathers B·k rows of W from memory (1024·330 rows of 2 KB at H = 16k: 0.7 GB a call); this one reads
// W once per row block. Every output element gets its terms by one FMA each, in increasing latent
// order, so when each row's nonzero indices are non-decreasing (the sparse steps' sets are) the result
// is bit-identical to sparse_decode's (same terms, same order, same roundings).
//
// sparse_decode_tiled is the same sum organised by tiles of W: a slice of 64 output columns by a block
// of Hb latents (4096 = 1 MiB where the L2 holds twice that; copied into a contiguous per-thread
// buffer so that it stays in L2 and in few TLB pages). Each output row keeps its 64 running sums in
// registers while it adds its pairs of that block (then writes them back until the next block), so an
// FMA reads one 256-byte tile row from L2 instead of read-modify-writing the output in L2 (by latent)
// or gathering W from memory (by row). The threads take column slices, so W is read from memory once
// per call. Each element again gets its terms one FMA each in increasing latent order: bit-identical
// to sparse_decode on sorted rows.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 flags _mm512_cvtps_pd's internal undefined vector
#endif

namespace {

struct SelectCtx {
  const float* P;
  int64_t H, limit;
  const float* theta;
  double lo, half;
  const uint8_t* dead;
  int32_t* scratch;
  int32_t* counts;
  std::atomic<bool> over;
};

/// One row of select_active; returns false when the row has more than `limit` entries.
bool select_row(const SelectCtx& c, int64_t b) {
  const float* row = c.P + b * c.H;
  int32_t* out = c.scratch + b * c.limit;
  const int64_t H = c.H, limit = c.limit;
  int64_t n = 0;
  if (!c.theta) {
    int64_t i = 0;
    const float lof = static_cast<float>(c.lo);
    if (static_cast<double>(lof) == c.lo) {
#ifdef __AVX512F__
      const __m512 vlo = _mm512_set1_ps(lof);
      __m512i ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      const __m512i sixteen = _mm512_set1_epi32(16);
      for (; i + 16 <= H; i += 16) {
        const __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(row + i), vlo, _CMP_GT_OQ);
        if (m) {
          const int cnt = __builtin_popcount(m);
          if (n + cnt > limit) return false;
          _mm512_mask_compressstoreu_epi32(out + n, m, ids);
          n += cnt;
        }
        ids = _mm512_add_epi32(ids, sixteen);
      }
#endif
      for (; i < H; ++i)
        if (row[i] > lof) {
          if (n == limit) return false;
          out[n++] = static_cast<int32_t>(i);
        }
    } else {
      for (; i < H; ++i)
        if (static_cast<double>(row[i]) > c.lo) {
          if (n == limit) return false;
          out[n++] = static_cast<int32_t>(i);
        }
    }
  } else if (!c.dead) {
    const float* th = c.theta;
    int64_t i = 0;
#ifdef __AVX512F__
    const __m512d vlo = _mm512_set1_pd(c.lo);
    for (; i + 16 <= H; i += 16) {
      const __m512d u0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(row + i)), _mm512_cvtps_pd(_mm256_loadu_ps(th + i)));
      const __m512d u1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(row + i + 8)), _mm512_cvtps_pd(_mm256_loadu_ps(th + i + 8)));
      const __mmask16 m = static_cast<__mmask16>(_mm512_cmp_pd_mask(u0, vlo, _CMP_GT_OQ) |
                                                 (static_cast<unsigned>(_mm512_cmp_pd_mask(u1, vlo, _CMP_GT_OQ)) << 8));
      if (m) {
        const int cnt = __builtin_popcount(m);
        if (n + cnt > limit) return false;
        const __m512i ids = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(i)),
                                             _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
        _mm512_mask_compressstoreu_epi32(out + n, m, ids);
        n += cnt;
      }
    }
#endif
    for (; i < H; ++i)
      if (static_cast<double>(row[i]) - static_cast<double>(th[i]) > c.lo) {
        if (n == limit) return false;
        out[n++] = static_cast<int32_t>(i);
      }
  } else {
    const float* th = c.theta;
    const double half = c.half;
    for (int64_t i = 0; i < H; ++i) {
      const double v = row[i], t = th[i], u = v - t;
      if (v > t || (u > -half && u < half) || (c.dead[i] == 1 && v < t)) {
        if (n == limit) return false;
        out[n++] = static_cast<int32_t>(i);
      }
    }
  }
  c.counts[b] = static_cast<int32_t>(n);
  return true;
}

struct LatentDecodeCtx {
  const float* vals;
  const int32_t* idx;
  int64_t R, k, H, D;
  const float* W;
  const float* bias;
  float* out;
  int64_t Rb, Db;  // block rows and columns
  int64_t nb, nc;  // row blocks, column blocks
  std::atomic<int64_t> next;
};

thread_local std::vector<int64_t> t_lstart;
thread_local std::vector<int32_t> t_lrow;
thread_local std::vector<float> t_lcoef;

void latent_decode_region(void* p, int, int) {
  LatentDecodeCtx& c = *static_cast<LatentDecodeCtx*>(p);
  std::vector<int64_t>& start = t_lstart;
  std::vector<int32_t>& rowOf = t_lrow;
  std::vector<float>& coef = t_lcoef;
  const int64_t H = c.H, D = c.D, k = c.k;
  // A unit is one row block (all its column blocks): its bucket sort is built once and reused.
  for (int64_t blk; (blk = c.next.fetch_add(1, std::memory_order_relaxed)) < c.nb;) {
    const int64_t r0 = blk * c.Rb, r1 = r0 + c.Rb < c.R ? r0 + c.Rb : c.R;
    start.assign(H + 1, 0);
    for (int64_t q = r0 * k; q < r1 * k; ++q)
      if (c.vals[q] != 0.f) ++start[c.idx[q] + 1];
    for (int64_t h = 0; h < H; ++h) start[h + 1] += start[h];
    const int64_t n = start[H];
    if (static_cast<int64_t>(rowOf.size()) < n) {
      rowOf.resize(n);
      coef.resize(n);
    }
    for (int64_t q = r0 * k; q < r1 * k; ++q) {
      const float v = c.vals[q];
      if (v == 0.f) continue;
      const int64_t pos = start[c.idx[q]]++;
      rowOf[pos] = static_cast<int32_t>(q / k);
      coef[pos] = v;
    }
    for (int64_t h = H; h > 0; --h) start[h] = start[h - 1];
    start[0] = 0;
    for (int64_t cb = 0; cb < c.nc; ++cb) {
      const int64_t d0 = cb * c.Db, len = d0 + c.Db < D ? c.Db : D - d0;
      for (int64_t r = r0; r < r1; ++r) {
        float* o = c.out + r * D + d0;
        if (c.bias) std::memcpy(o, c.bias + d0, sizeof(float) * len);
        else std::memset(o, 0, sizeof(float) * len);
      }
      for (int64_t h = 0; h < H; ++h) {
        const int64_t qb = start[h], qe = start[h + 1];
        if (qb == qe) continue;
        const float* w = c.W + h * D + d0;
        for (int64_t q = qb; q < qe; ++q) {
          float* o = c.out + static_cast<int64_t>(rowOf[q]) * D + d0;
          const sv8 v = bc8(coef[q]);
          const float cf = coef[q];
          int64_t d = 0;
          for (; d + 32 <= len; d += 32) {
            st8(o + d, fma8(v, ld8(w + d), ld8(o + d)));
            st8(o + d + 8, fma8(v, ld8(w + d + 8), ld8(o + d + 8)));
            st8(o + d + 16, fma8(v, ld8(w + d + 16), ld8(o + d + 16)));
            st8(o + d + 24, fma8(v, ld8(w + d + 24), ld8(o + d + 24)));
          }
          for (; d + 8 <= len; d += 8) st8(o + d, fma8(v, ld8(w + d), ld8(o + d)));
          for (; d < len; ++d) o[d] = __builtin_fmaf(cf, w[d], o[d]);
        }
      }
    }
  }
}

struct TiledDecodeCtx {
  const float* W;
  const float* bias;
  float* out;
  int64_t R, H, D, k, Hb, nblk, nslice;
  const int32_t* cidx;  // [R, k]: each row's nonzero pairs first (latent − its block's first latent)
  const float* cval;
  const int64_t* off;  // [R, nblk + 1]: where each block's pairs start in the row's list, then its count
  std::atomic<int64_t> next;
};

constexpr int64_t kTileCols = 64;

/// Hb, latents per tile: the tile (Hb × 64 floats) takes about half of this core's L2 (l2_bytes), 512 to
/// 4096 latents (4096 = 1 MiB when the L2 is 2 MiB or more, or unknown). The sums do not depend on it.
int64_t tile_latents() {
  static const int64_t hb = [] {
    int64_t n = 4096;
    while (n > 512 && n * kTileCols * static_cast<int64_t>(sizeof(float)) > l2_bytes() / 2) n /= 2;
    return n;
  }();
  return hb;
}

/// A row's pairs in one tile: latents relative to the tile's first, and their values.
struct TileRow {
  const int32_t* ix;
  const float* v;
  int64_t n;
};

/// One row's 64 sums in 8 vector registers, its pairs added in order. (Two rows at once in 8 zmm, to
/// hide more FMA latency, measured no faster.)
inline void tile_row(float* o, const TileRow& a, const float* tile, int32_t base = 0) {
  sv8 a0 = ld8(o), a1 = ld8(o + 8), a2 = ld8(o + 16), a3 = ld8(o + 24), a4 = ld8(o + 32), a5 = ld8(o + 40),
      a6 = ld8(o + 48), a7 = ld8(o + 56);
  for (int64_t q = 0; q < a.n; ++q) {
    const float* w = tile + static_cast<int64_t>(a.ix[q] - base) * kTileCols;
    const sv8 v = bc8(a.v[q]);
    a0 = fma8(v, ld8(w), a0); a1 = fma8(v, ld8(w + 8), a1); a2 = fma8(v, ld8(w + 16), a2); a3 = fma8(v, ld8(w + 24), a3);
    a4 = fma8(v, ld8(w + 32), a4); a5 = fma8(v, ld8(w + 40), a5); a6 = fma8(v, ld8(w + 48), a6); a7 = fma8(v, ld8(w + 56), a7);
  }
  st8(o, a0); st8(o + 8, a1); st8(o + 16, a2); st8(o + 24, a3); st8(o + 32, a4); st8(o + 40, a5); st8(o + 48, a6); st8(o + 56, a7);
}

thread_local std::vector<float> t_tile;

void tiled_decode_region(void* p, int, int) {
  TiledDecodeCtx& c = *static_cast<TiledDecodeCtx*>(p);
  const int64_t D = c.D, k = c.k, nb1 = c.nblk + 1;
  const int64_t Hb = c.Hb;
  if (static_cast<int64_t>(t_tile.size()) < Hb * kTileCols) t_tile.resize(Hb * kTileCols);
  float* tile = t_tile.data();
  for (int64_t s; (s = c.next.fetch_add(1, std::memory_order_relaxed)) < c.nslice;) {
    const int64_t d0 = s * kTileCols, len = d0 + kTileCols <= D ? kTileCols : D - d0;
    for (int64_t b = 0; b < c.nblk; ++b) {
      const int64_t h0 = b * Hb, h1 = h0 + Hb < c.H ? h0 + Hb : c.H;
      for (int64_t h = h0; h < h1; ++h) {
        float* t = tile + (h - h0) * kTileCols;
        std::memcpy(t, c.W + h * D + d0, sizeof(float) * len);
        if (len < kTileCols) std::memset(t + len, 0, sizeof(float) * (kTileCols - len));
      }
      auto row = [&](int64_t r) {
        const int64_t q0 = c.off[r * nb1 + b], q1 = c.off[r * nb1 + b + 1];
        return TileRow{c.cidx + r * k + q0, c.cval + r * k + q0, q1 - q0};
      };
      // The rows' running sums start from the bias (first block) and live in `out` between blocks. The
      // last slice may be narrower than 64 columns: its rows go through a 64-wide buffer (the padding
      // columns of the tile are zeros and are never written back).
      alignas(64) float narrow[kTileCols];
      auto init = [&](int64_t r) {
        float* o = len < kTileCols ? narrow : c.out + r * D + d0;
        if (b > 0) {
          if (len < kTileCols) std::memcpy(o, c.out + r * D + d0, sizeof(float) * len);
        } else if (c.bias) {
          std::memcpy(o, c.bias + d0, sizeof(float) * len);
        } else {
          std::memset(o, 0, sizeof(float) * len);
        }
        if (len < kTileCols) std::memset(o + len, 0, sizeof(float) * (kTileCols - len));
        return o;
      };
      auto done = [&](int64_t r) {
        if (len < kTileCols) std::memcpy(c.out + r * D + d0, narrow, sizeof(float) * len);
      };
      for (int64_t r = 0; r < c.R; ++r) {
        tile_row(init(r), row(r), tile);
        done(r);
      }
    }
  }
}

}  // namespace

int64_t select_active(const float* P, int64_t B, int64_t H, const float* theta, double lo, double half, const uint8_t* dead,
                      int64_t limit, int32_t* scratch, int32_t* counts) {
  SelectCtx c{P, H, limit, theta, lo, half, dead, scratch, counts, {false}};
  parallel_for(B, H, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      if (c.over.load(std::memory_order_relaxed)) return;
      if (!select_row(c, r)) {
        c.over.store(true, std::memory_order_relaxed);
        return;
      }
    }
  });
  if (c.over.load()) return -1;
  int64_t kmax = 0;
  for (int64_t b = 0; b < B; ++b)
    if (counts[b] > kmax) kmax = counts[b];
  return kmax;
}

void pad_selected(const int32_t* scratch, const int32_t* counts, int64_t B, int64_t limit, int64_t k, int32_t* out) {
  parallel_for(B, k, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int32_t* s = scratch + r * limit;
      int32_t* o = out + r * k;
      const int64_t n = counts[r];
      std::memcpy(o, s, sizeof(int32_t) * n);
      // The list is increasing: walk latents 0, 1, … skipping its members.
      int64_t q = 0;
      int32_t h = 0;
      for (int64_t j = n; j < k; ++j) {
        while (q < n && s[q] == h) {
          ++q;
          ++h;
        }
        o[j] = h++;
      }
    }
  });
}

/// True when every row's indices of nonzero values are non-decreasing (then the two decodes agree bit for bit).
bool rows_sorted(const float* vals, const int32_t* idx, int64_t R, int64_t k) {
  for (int64_t r = 0; r < R; ++r) {
    int32_t prev = -1;
    for (int64_t j = 0; j < k; ++j) {
      if (vals[r * k + j] == 0.f) continue;
      const int32_t h = idx[r * k + j];
      if (h < prev) return false;
      prev = h;
    }
  }
  return true;
}

void sparse_decode_tiled(const float* vals, const int32_t* idx, int64_t R, int64_t k, const float* W, int64_t H,
                         int64_t D, const float* bias, float* out, bool byRowIfUnsorted) {
  if (R <= 0 || D <= 0) return;
  // At least one (possibly empty) latent block, so that every row gets its bias even when H = 0.
  const int64_t Hb = tile_latents(), nblk = H > 0 ? (H + Hb - 1) / Hb : 1, nb1 = nblk + 1;
  // Each row's nonzero pairs bucketed by latent block (a stable counting sort: on sorted rows the order is
  // unchanged), latents made relative to their block, and where each block starts.
  // Grow-only per calling thread: fresh pages on every step would cost more than the bucketing.
  static thread_local std::vector<int32_t> cidx;
  static thread_local std::vector<float> cval;
  static thread_local std::vector<int64_t> off;
  if (static_cast<int64_t>(cidx.size()) < R * k) {
    cidx.resize(static_cast<size_t>(R * k));
    cval.resize(static_cast<size_t>(R * k));
  }
  if (static_cast<int64_t>(off.size()) < R * nb1) off.resize(static_cast<size_t>(R * nb1));
  // (thread_locals are not captured by the lambda: the pool's threads get the caller's buffers by pointer)
  int32_t* const ci = cidx.data();
  float* const cv = cval.data();
  int64_t* const of = off.data();
  std::atomic<bool> unsorted{false};
  parallel_for(R, k, [&](int64_t b0, int64_t e0) {
    for (int64_t r = b0; r < e0; ++r) {
      int64_t* o = of + r * nb1;
      std::fill(o, o + nb1, 0);
      int32_t prev = -1;
      for (int64_t j = 0; j < k; ++j)
        if (vals[r * k + j] != 0.f) {
          const int32_t h = idx[r * k + j];
          if (h < prev) unsorted.store(true, std::memory_order_relaxed);
          prev = h;
          ++o[h / Hb + 1];
        }
      for (int64_t b = 0; b < nblk; ++b) o[b + 1] += o[b];
      for (int64_t j = 0; j < k; ++j) {
        const float v = vals[r * k + j];
        if (v == 0.f) continue;
        const int64_t h = idx[r * k + j], blk = h / Hb;
        const int64_t q = r * k + o[blk]++;
        ci[q] = static_cast<int32_t>(h - blk * Hb);
        cv[q] = v;
      }
      for (int64_t b = nblk; b > 0; --b) o[b] = o[b - 1];  // the cursors ended at the next block's start
      o[0] = 0;
    }
  });
  // auto promises the by-row kernel's bits, which the tiles give only on sorted rows (the check rides on
  // the bucketing pass instead of a separate scan).
  if (byRowIfUnsorted && unsorted.load()) return sparse_decode(vals, idx, R, k, W, D, bias, out);
  TiledDecodeCtx c{W, bias, out, R, H, D, k, Hb, nblk, (D + kTileCols - 1) / kTileCols, ci, cv, of, {0}};
  const int nt = pool_threads();
  if (nt <= 1 || c.nslice == 1) tiled_decode_region(&c, 0, 1);
  else pool_run_shared(&tiled_decode_region, &c, nt);
}

/// Which sparse_decode organisation pays (all three agree bit for bit on sorted rows): 3 (tiled; it
/// runs by row when some row is not sorted) when W's rows are used ≥ 10 times a call on average (each
/// tile row then feeds enough FMAs to repay copying W once); 2 (by latent) when sorted and each W row
/// segment is used a few times per row block; else 1 (by row, which gathers W and is best for a few
/// pairs per row or few rows). Measured on an AVX-512 Xeon, 2 threads, B = 1024: tiled 84 ms against
/// 163 (by latent) and 275 (by row) at H = 16384, D = 2048, 640 pairs a row; tied with by row at
/// R·k = 8·H (bench/sparse-kernels.ts).
int decode_path(const float* vals, const int32_t* idx, int64_t R, int64_t k, int64_t H, int64_t D) {
  const int64_t Db = D < 512 ? D : 512;
  int64_t Rb = (int64_t{1} << 17) / (Db > 0 ? Db : 1);
  if (Rb > R) Rb = R;
  if (R * k >= 10 * H) return 3;  // sparse_decode_tiled checks the order itself (by row if unsorted)
  if (Rb * k < 4 * H) return 1;
  return rows_sorted(vals, idx, R, k) ? 2 : 1;
}

namespace {

struct TiledScatterCtx {
  const float* src;
  float* out;
  int64_t R, D, H, Rb, nslice;
  const int64_t* start;  // [H + 1] bucket offsets
  const int64_t* end;    // [H]: each bucket's nonzero pairs are [start[h], end[h])
  const int32_t* rowOf;  // source row of each bucketed pair
  const float* cf;       // its coefficient
  bool accumulate;
  std::atomic<int64_t> next;
};

thread_local std::vector<int64_t> t_cursor;

void tiled_scatter_region(void* p, int, int) {
  TiledScatterCtx& c = *static_cast<TiledScatterCtx*>(p);
  // At least one (possibly empty) row block, so that every latent's slice is written even when R = 0.
  const int64_t D = c.D, H = c.H, Rb = c.Rb, nrb = c.R > 0 ? (c.R + Rb - 1) / Rb : 1;
  if (static_cast<int64_t>(t_tile.size()) < Rb * kTileCols) t_tile.resize(Rb * kTileCols);
  float* tile = t_tile.data();
  std::vector<int64_t>& cur = t_cursor;
  alignas(64) float narrow[kTileCols];
  const float zero[kTileCols] = {};
  for (int64_t s; (s = c.next.fetch_add(1, std::memory_order_relaxed)) < c.nslice;) {
    const int64_t d0 = s * kTileCols, len = d0 + kTileCols <= D ? kTileCols : D - d0;
    cur.assign(c.start, c.start + H);
    for (int64_t rb = 0; rb < nrb; ++rb) {
      const int64_t r0 = rb * Rb, r1 = r0 + Rb < c.R ? r0 + Rb : c.R;
      for (int64_t r = r0; r < r1; ++r) {
        float* t = tile + (r - r0) * kTileCols;
        std::memcpy(t, c.src + r * D + d0, sizeof(float) * len);
        if (len < kTileCols) std::memset(t + len, 0, sizeof(float) * (kTileCols - len));
      }
      for (int64_t h = 0; h < H; ++h) {
        // This latent's pairs from rows [r0, r1): the next run of its bucket (rows increase in a bucket).
        const int64_t q0 = cur[h];
        int64_t q1 = q0;
        while (q1 < c.end[h] && c.rowOf[q1] < r1) ++q1;
        cur[h] = q1;
        if (q1 == q0 && rb > 0) continue;
        float* o = c.out + h * D + d0;
        float* a = len < kTileCols ? narrow : o;
        // The running sums: the old gradient or 0 for the first row block, then out between blocks.
        const float* init = rb > 0 || c.accumulate ? o : zero;
        if (a != init) std::memcpy(a, init, sizeof(float) * len);
        if (len < kTileCols) std::memset(a + len, 0, sizeof(float) * (kTileCols - len));
        tile_row(a, TileRow{c.rowOf + q0, c.cf + q0, q1 - q0}, tile, static_cast<int32_t>(r0));
        if (a != o) std::memcpy(o, a, sizeof(float) * len);
      }
    }
  }
}

}  // namespace

// sparse_scatter_rows by tiles of src: a slice of 64 columns by a block of Rb source rows (the decode's
// tile size) is copied into a contiguous per-thread buffer that stays in L2, and every latent adds its
// pairs from that block, its 64 running sums in registers (then in out between row blocks). Each
// latent's pairs come in bucket order (increasing (r, j), zero coefficients skipped), one FMA each,
// exactly as scatter_region adds them: the same bits. The threads take column slices.
void scatter_tiled(const float* coef, int64_t R, int64_t k, const float* src, int64_t D, int64_t H, const int64_t* start,
                   const int32_t* order, float* out, float* sum, bool accumulate) {
  // The buckets with their zero coefficients dropped, as (row, coefficient); the row sums in bucket order.
  static thread_local std::vector<int64_t> endv;
  static thread_local std::vector<int32_t> rowv;
  static thread_local std::vector<float> cfv;
  const int64_t n = R * k;
  if (static_cast<int64_t>(endv.size()) < H) endv.resize(H);
  if (static_cast<int64_t>(rowv.size()) < n) {
    rowv.resize(n);
    cfv.resize(n);
  }
  int64_t* const ends = endv.data();
  int32_t* const rows = rowv.data();
  float* const cfs = cfv.data();
  const uint32_t k32 = static_cast<uint32_t>(k);
  parallel_for(H, 1 + (n + H - 1) / (H > 0 ? H : 1), [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) {
      int64_t w = start[h];
      float s = 0.f;
      for (int64_t q = start[h]; q < start[h + 1]; ++q) {
        const int32_t pair = order[q];
        const float cf = coef[pair];
        if (cf == 0.f) continue;
        rows[w] = static_cast<int32_t>(static_cast<uint32_t>(pair) / k32);
        cfs[w++] = cf;
        s += cf;
      }
      ends[h] = w;
      if (sum) sum[h] = accumulate ? sum[h] + s : s;
    }
  });
  TiledScatterCtx c{src, out, R, D, H, tile_latents(), (D + kTileCols - 1) / kTileCols, start, ends, rows, cfs, accumulate, {0}};
  const int nt = pool_threads();
  if (nt <= 1 || c.nslice == 1) tiled_scatter_region(&c, 0, 1);
  else pool_run_shared(&tiled_scatter_region, &c, nt);
}

void sparse_decode_latents(const float* vals, const int32_t* idx, int64_t R, int64_t k, const float* W, int64_t H,
                           int64_t D, const float* bias, float* out) {
  if (R <= 0 || D <= 0) return;
  // Output blocks of Rb × Db floats ≈ 512 KB: L2-resident while every latent of the block is added.
  const int64_t Db = D < 512 ? D : 512;
  int64_t Rb = (int64_t{1} << 17) / Db;
  if (Rb < 8) Rb = 8;
  const int nt = pool_threads();
  // At least two row blocks per thread when there are rows enough, so both threads get work.
  while (Rb > 32 && (R + Rb - 1) / Rb < 2 * nt) Rb /= 2;
  LatentDecodeCtx c{vals, idx, R, k, H, D, W, bias, out, Rb, Db, (R + Rb - 1) / Rb, (D + Db - 1) / Db, {0}};
  if (nt <= 1 || c.nb == 1)
    latent_decode_region(&c, 0, 1);
  else
    pool_run_shared(&latent_decode_region, &c, nt);
}

}  // namespace aelab
