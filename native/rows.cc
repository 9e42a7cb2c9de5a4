// Reductions and row-structured kernels: reduce/argmax/sumAll, softmax and layer norm (+ grads),
// top-k, gather/scatter, permute, im2col/col2im.
//
// Determinism: every output element is produced by exactly one thread in a fixed order, and the
// whole-array sums (sumAll/sumSquares) are split into fixed 16Ki-element chunks whose partial sums are
// added in chunk order. Results are therefore bit-identical for any thread count.
//
// Accumulation precision: sum/mean/sumsq reductions, sumAll/sumSquares, softmax normalisers and the
// layer-norm statistics accumulate in double and round once at the end.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "common.h"
#include "vmath.h"

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers trip these (their internal __Y) in _mm512_reduce_add_ps.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace aelab {
namespace {

typedef float v4f __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));

inline v4f load4(const float* p) {
  v4f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// Sum (or sum of squares) of x[0..n) in double with 8 fixed lanes; the lane order is fixed, so the
/// result depends only on the data. Products of two floats are exact in double.
template <bool SQ>
double dsum(const float* x, int64_t n) {
  v4d a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    v4d lo = __builtin_convertvector(load4(x + i), v4d);
    v4d hi = __builtin_convertvector(load4(x + i + 4), v4d);
    if (SQ) {
      lo *= lo;
      hi *= hi;
    }
    a0 += lo;
    a1 += hi;
  }
  double t = 0.0;
  for (; i < n; ++i) t += SQ ? static_cast<double>(x[i]) * x[i] : static_cast<double>(x[i]);
  const v4d s = a0 + a1;
  return ((s[0] + s[1]) + (s[2] + s[3])) + t;
}

constexpr int64_t kChunk = 1 << 14;
thread_local std::vector<double> t_partials;  // grows once, reused

/// max/min accumulate with NaN sticking: once a NaN is seen the result is NaN.
inline float nan_max(float acc, float v) { return (v > acc || v != v) ? v : acc; }
inline float nan_min(float acc, float v) { return (v < acc || v != v) ? v : acc; }

}  // namespace

double sum_all(const float* x, int64_t n, bool squares) {
  if (n <= 0) return 0.0;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  if (chunks == 1) return squares ? dsum<true>(x, n) : dsum<false>(x, n);
  if (static_cast<int64_t>(t_partials.size()) < chunks) t_partials.resize(chunks);
  double* part = t_partials.data();
  parallel_for(chunks, kChunk, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const int64_t s = c * kChunk, len = std::min(kChunk, n - s);
      part[c] = squares ? dsum<true>(x + s, len) : dsum<false>(x + s, len);
    }
  });
  double total = 0.0;
  for (int64_t c = 0; c < chunks; ++c) total += part[c];
  return total;
}

namespace {
/// Sum (or sum of squares) of one row in double: rows longer than kChunk are summed chunk by chunk
/// and the chunk sums added in order (the same split as sum_all), so a long row can be spread over
/// the threads without its result depending on how many there are.
template <bool SQ>
double row_sum(const float* r, int64_t n) {
  if (n <= kChunk) return dsum<SQ>(r, n);
  double t = 0.0;
  for (int64_t s = 0; s < n; s += kChunk) t += dsum<SQ>(r + s, std::min(kChunk, n - s));
  return t;
}
}  // namespace

void reduce(int op, const float* x, int64_t outer, int64_t n, int64_t inner, float* out) {
  if (outer <= 0 || inner <= 0) return;
  const bool isMax = op == R_MAX, isMin = op == R_MIN;
  if (n == 0) {  // empty reduction: identities (mean of nothing is NaN)
    const float v = isMax ? -std::numeric_limits<float>::infinity()
                    : isMin ? std::numeric_limits<float>::infinity()
                    : op == R_MEAN ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    fill_f32(out, outer * inner, v);
    return;
  }
  if (inner == 1 && !isMax && !isMin && n > kChunk && outer < pool_threads() * 4) {
    // Few long rows (e.g. the sum of a whole tensor): the work is split by chunks, not rows. The
    // chunk sums are those row_sum would add, in the same order, so the result is the same.
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    const int64_t tasks = outer * chunks;
    if (static_cast<int64_t>(t_partials.size()) < tasks) t_partials.resize(tasks);
    double* part = t_partials.data();
    const bool sq = op == R_SUMSQ;
    parallel_for(tasks, kChunk, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / chunks, s = (t % chunks) * kChunk, len = std::min(kChunk, n - s);
        const float* r = x + o * n + s;
        part[t] = sq ? dsum<true>(r, len) : dsum<false>(r, len);
      }
    });
    for (int64_t o = 0; o < outer; ++o) {
      double t = 0.0;
      for (int64_t c = 0; c < chunks; ++c) t += part[o * chunks + c];
      out[o] = static_cast<float>(op == R_MEAN ? t / static_cast<double>(n) : t);
    }
    return;
  }
  if (inner == 1) {  // reduce along contiguous rows
    parallel_for(outer, n, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const float* r = x + o * n;
        if (isMax || isMin) {
          // 8 lanes, then the lanes and the tail; with NaN sticking, the order does not matter.
          float acc = r[0];
          int64_t i = 1;
          if (n >= 9) {
            v8f va = load8(r + 1);
            for (i = 9; i + 8 <= n; i += 8) {
              const v8f v = load8(r + i);
              va = isMax ? ((v > va) | (v != v) ? v : va) : ((v < va) | (v != v) ? v : va);
            }
            for (int j = 0; j < 8; ++j) acc = isMax ? nan_max(acc, va[j]) : nan_min(acc, va[j]);
          }
          if (isMax) for (; i < n; ++i) acc = nan_max(acc, r[i]);
          else for (; i < n; ++i) acc = nan_min(acc, r[i]);
          out[o] = acc;
        } else {
          const double s = op == R_SUMSQ ? row_sum<true>(r, n) : row_sum<false>(r, n);
          out[o] = static_cast<float>(op == R_MEAN ? s / static_cast<double>(n) : s);
        }
      }
    });
    return;
  }
  // inner > 1: reduce across rows of an [n, inner] slab; tasks are (outer, block of columns).
  // Column blocks up to 2048 wide (8 KiB contiguous per row keeps the prefetcher streaming; the
  // double accumulators, 16 KiB, stay in L1), but narrow enough that every thread gets one. Rows
  // are read four at a time to cut accumulator loads/stores, but each column is still summed alone,
  // one row after the other, so neither the block width nor the unrolling changes the result.
  constexpr int64_t BW = 2048;
  const int64_t nt = pool_threads();
  const int64_t bw = std::max<int64_t>(16, std::min<int64_t>(BW, ((inner + nt - 1) / nt + 15) / 16 * 16));
  const int64_t blocks = (inner + bw - 1) / bw;
  parallel_for(outer * blocks, n * bw, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / blocks, j0 = (t % blocks) * bw, w = std::min(bw, inner - j0);
      const float* base = x + o * n * inner + j0;
      float* dst = out + o * inner + j0;
      if (isMax || isMin) {
        float acc[BW];
        for (int64_t j = 0; j < w; ++j) acc[j] = base[j];
        for (int64_t i = 1; i < n; ++i) {
          const float* r = base + i * inner;
          if (isMax) for (int64_t j = 0; j < w; ++j) acc[j] = nan_max(acc[j], r[j]);
          else for (int64_t j = 0; j < w; ++j) acc[j] = nan_min(acc[j], r[j]);
        }
        std::memcpy(dst, acc, w * sizeof(float));
      } else {
        double acc[BW];
        for (int64_t j = 0; j < w; ++j) acc[j] = 0.0;
        const bool sq = op == R_SUMSQ;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
          const float *r0 = base + i * inner, *r1 = r0 + inner, *r2 = r1 + inner, *r3 = r2 + inner;
          if (sq) {
            for (int64_t j = 0; j < w; ++j) {
              double a = acc[j];
              a += static_cast<double>(r0[j]) * r0[j];
              a += static_cast<double>(r1[j]) * r1[j];
              a += static_cast<double>(r2[j]) * r2[j];
              a += static_cast<double>(r3[j]) * r3[j];
              acc[j] = a;
            }
          } else {
            for (int64_t j = 0; j < w; ++j) {
              double a = acc[j];
              a += r0[j];
              a += r1[j];
              a += r2[j];
              a += r3[j];
              acc[j] = a;
            }
          }
        }
        for (; i < n; ++i) {
          const float* r = base + i * inner;
          if (sq) for (int64_t j = 0; j < w; ++j) acc[j] += static_cast<double>(r[j]) * r[j];
          else for (int64_t j = 0; j < w; ++j) acc[j] += r[j];
        }
        const double div = op == R_MEAN ? static_cast<double>(n) : 1.0;
        for (int64_t j = 0; j < w; ++j) dst[j] = static_cast<float>(acc[j] / div);
      }
    }
  });
}

/// "a beats b" for argmax/top-k: NaN is smaller than every number (so a NaN only wins against an
/// earlier NaN, which it never does because ties go to the lower index).
inline bool beats(float a, float b) { return a > b || (b != b && a == a); }

void argmax(const float* x, int64_t outer, int64_t n, int64_t inner, int32_t* out) {
  if (outer <= 0 || inner <= 0) return;
  constexpr int64_t BW = 256;
  const int64_t blocks = (inner + BW - 1) / BW;
  parallel_for(outer * blocks, n * std::min(BW, inner), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / blocks, j0 = (t % blocks) * BW, w = std::min(BW, inner - j0);
      const float* base = x + o * n * inner + j0;
      float best[BW];
      int32_t bi[BW];
      for (int64_t j = 0; j < w; ++j) {
        best[j] = base[j];
        bi[j] = 0;
      }
      for (int64_t i = 1; i < n; ++i) {
        const float* r = base + i * inner;
        for (int64_t j = 0; j < w; ++j)
          if (beats(r[j], best[j])) {
            best[j] = r[j];
            bi[j] = static_cast<int32_t>(i);
          }
      }
      std::memcpy(out + o * inner + j0, bi, w * sizeof(int32_t));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Softmax
// ---------------------------------------------------------------------------------------------

/// max_j x_j ignoring NaN (-inf for an empty or all-NaN row), 8 lanes at a time.
float max_ignore_nan(const float* x, int64_t n) {
  const float ninf = -std::numeric_limits<float>::infinity();
  v8f m = splat8(ninf);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v8f v = load8(x + i);
    m = v > m ? v : m;
  }
  float r = ninf;
  for (int j = 0; j < 8; ++j) r = m[j] > r ? m[j] : r;
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

/// sum_j e^(x_j - m) in double (8 fixed lanes; the tail is padded with -inf, whose exp is 0).
double sum_exp(const float* x, int64_t n, float m) {
  v4d a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};
  const v8f mv = splat8(m);
  int64_t i = 0;
  auto add = [&](v8f e) {
    a0 += __builtin_convertvector(v4f{e[0], e[1], e[2], e[3]}, v4d);
    a1 += __builtin_convertvector(v4f{e[4], e[5], e[6], e[7]}, v4d);
  };
  for (; i + 8 <= n; i += 8) add(vexp(load8(x + i) - mv));
  if (i < n) {
    float buf[8];
    for (int j = 0; j < 8; ++j) buf[j] = i + j < n ? x[i + j] : -std::numeric_limits<float>::infinity();
    add(vexp(load8(buf) - mv));
  }
  const v4d s = a0 + a1;
  return (s[0] + s[1]) + (s[2] + s[3]);
}

void softmax(const float* x, int64_t rows, int64_t cols, float* out, bool log) {
  if (cols <= 0) return;
  parallel_for(rows, cols * 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* yr = out + r * cols;
      // Subtracting the row max keeps every exponent <= 0 (no overflow). NaNs are skipped here and
      // then make the whole row NaN through exp.
      const float m = max_ignore_nan(xr, cols);
      const v8f mv = splat8(m);
      if (log) {
        const float lse = static_cast<float>(std::log(sum_exp(xr, cols, m)));
        const v8f lv = splat8(lse);
        vmap(xr, yr, cols, [&](v8f v) { return (v - mv) - lv; });
      } else {
        vmap(xr, yr, cols, [&](v8f v) { return vexp(v - mv); });
        const float inv = static_cast<float>(1.0 / dsum<false>(yr, cols));
        const v8f iv = splat8(inv);
        vmap(yr, yr, cols, [&](v8f v) { return v * iv; });
      }
    }
  });
}

void softmax_grad(const float* y, const float* gy, int64_t rows, int64_t cols, float* gx, bool log) {
  if (cols <= 0) return;
  parallel_for(rows, cols * (log ? 8 : 2), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* yr = y + r * cols;
      const float* gr = gy + r * cols;
      float* dr = gx + r * cols;
      double s = 0.0;
      if (log) {  // gx = gy - softmax * sum(gy), softmax = exp(y)
        s = dsum<false>(gr, cols);
        const v8f sv = splat8(static_cast<float>(s));
        vmap2(gr, yr, dr, cols, [&](v8f g, v8f y) { return g - vexp(y) * sv; });
      } else {  // gx = y (gy - <gy, y>)
        for (int64_t j = 0; j < cols; ++j) s += static_cast<double>(gr[j]) * yr[j];
        const float sf = static_cast<float>(s);
        for (int64_t j = 0; j < cols; ++j) dr[j] = yr[j] * (gr[j] - sf);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Layer norm
// ---------------------------------------------------------------------------------------------

void layer_norm(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta, float eps,
                float* out, float* mean, float* rstd) {
  parallel_for(rows, cols * 3, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* yr = out + r * cols;
      // Two-pass biased variance in double: mean first, then the mean squared deviation.
      const double mu = cols > 0 ? dsum<false>(xr, cols) / static_cast<double>(cols) : 0.0;
      double ss = 0.0;
      for (int64_t j = 0; j < cols; ++j) {
        const double d = xr[j] - mu;
        ss += d * d;
      }
      const double var = cols > 0 ? ss / static_cast<double>(cols) : 0.0;
      const double rs = 1.0 / std::sqrt(var + static_cast<double>(eps));
      mean[r] = static_cast<float>(mu);
      rstd[r] = static_cast<float>(rs);
      for (int64_t j = 0; j < cols; ++j) {
        double v = (xr[j] - mu) * rs;
        if (gamma) v *= gamma[j];
        if (beta) v += beta[j];
        yr[j] = static_cast<float>(v);
      }
    }
  });
}

void layer_norm_grad(const float* x, const float* gy, const float* mean, const float* rstd, const float* gamma,
                     int64_t rows, int64_t cols, float* gx, float* ggamma, float* gbeta) {
  if (cols <= 0) return;
  // gx = rstd (g - mean_j(g) - xhat mean_j(g xhat)), g = gy * gamma, xhat = (x - mean) rstd.
  parallel_for(rows, cols * 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      const float* gr = gy + r * cols;
      float* dr = gx + r * cols;
      const double mu = mean[r], rs = rstd[r];
      double sg = 0.0, sgx = 0.0;
      for (int64_t j = 0; j < cols; ++j) {
        const double g = gamma ? static_cast<double>(gr[j]) * gamma[j] : gr[j];
        sg += g;
        sgx += g * ((xr[j] - mu) * rs);
      }
      const double mg = sg / static_cast<double>(cols), mgx = sgx / static_cast<double>(cols);
      for (int64_t j = 0; j < cols; ++j) {
        const double g = gamma ? static_cast<double>(gr[j]) * gamma[j] : gr[j];
        const double xh = (xr[j] - mu) * rs;
        dr[j] = static_cast<float>(rs * (g - mg - xh * mgx));
      }
    }
  });
  if (!ggamma && !gbeta) return;
  // Parameter grads sum over rows: split by columns so each column is summed by one thread in row order.
  parallel_for(cols, rows * 2, [&](int64_t c0, int64_t c1) {
    constexpr int64_t BW = 256;
    double ag[BW], ab[BW];
    for (int64_t j0 = c0; j0 < c1; j0 += BW) {
      const int64_t w = std::min(BW, c1 - j0);
      for (int64_t j = 0; j < w; ++j) ag[j] = ab[j] = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * cols + j0;
        const float* gr = gy + r * cols + j0;
        const double mu = mean[r], rs = rstd[r];
        for (int64_t j = 0; j < w; ++j) {
          ag[j] += gr[j] * ((xr[j] - mu) * rs);
          ab[j] += gr[j];
        }
      }
      if (ggamma) for (int64_t j = 0; j < w; ++j) ggamma[j0 + j] += static_cast<float>(ag[j]);
      if (gbeta) for (int64_t j = 0; j < w; ++j) gbeta[j0 + j] += static_cast<float>(ab[j]);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Top-k
// ---------------------------------------------------------------------------------------------
namespace {

/// Top-k ranking as one unsigned 64-bit key, so the heap compares integers (no NaN or tie branches):
/// high half = the float mapped to an order-preserving unsigned (NaN -> 0, below every number;
/// -0 -> +0 so the zeros tie), low half = ~index (a lower index ranks higher). Keys are unique.
inline uint64_t rank_key(float v, int64_t j) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  uint32_t ord;
  if (v != v) ord = 0;
  else if (v == 0.0f) ord = 0x80000000u;
  else ord = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<uint64_t>(ord) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(j));
}

/// Min-heap sift-down (the root is the lowest-ranked entry kept).
inline void sift_down(uint64_t* h, int64_t n, int64_t i) {
  const uint64_t v = h[i];
  for (;;) {
    int64_t c = 2 * i + 1;
    if (c >= n) break;
    c += (c + 1 < n && h[c + 1] < h[c]) ? 1 : 0;
    if (h[c] >= v) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = v;
}

thread_local std::vector<uint64_t> t_heap;  // per thread, grows once

}  // namespace

namespace {

thread_local std::vector<uint64_t> t_cand;  // per thread, grows once
thread_local std::vector<uint64_t> t_bits;  // column bitmap for byIndex output

/// The k chosen keys (low 32 bits = ~column) written in column order: idx[q] = column, vals[q] =
/// val(column). From a bitmap of the chosen columns: a comparison sort of k = 256 random keys cost
/// ~20 µs a row in branch mispredictions; this is O(cols / 64 + k).
template <class Val>
inline void emit_by_column(const uint64_t* keys, int64_t k, int64_t cols, Val val, float* vals, int32_t* idx) {
  std::vector<uint64_t>& bits = t_bits;
  const int64_t words = (cols + 63) / 64;
  if (static_cast<int64_t>(bits.size()) < words) bits.resize(words);
  std::memset(bits.data(), 0, words * sizeof(uint64_t));
  for (int64_t q = 0; q < k; ++q) {
    const uint32_t col = ~static_cast<uint32_t>(keys[q]);
    bits[col >> 6] |= uint64_t{1} << (col & 63);
  }
  int64_t q = 0;
  for (int64_t w = 0; w < words; ++w)
    for (uint64_t m = bits[w]; m; m &= m - 1) {
      const int32_t col = static_cast<int32_t>(w * 64 + __builtin_ctzll(m));
      idx[q] = col;
      vals[q++] = val(col);
    }
}

/// The top k of one row given a threshold t: the keys of every x >= t (an 8-wide compare pass), then
/// nth_element, and the best k sorted by value (or, with byIndex, put in column order by a bitmap). False when fewer than
/// k numbers are >= t. Exact: every number outside the candidates is < t <= the k-th candidate.
bool topk_row_above(const float* xr, int64_t cols, int64_t k, float t0, float* vals, int32_t* idx, bool byIndex) {
  std::vector<uint64_t>& cand = t_cand;
  if (static_cast<int64_t>(cand.size()) < cols) cand.resize(cols);
  uint64_t* c = cand.data();
  int64_t n = 0;
  const v8f tv = splat8(t0);
  int64_t j = 0;
  for (; j + 16 <= cols; j += 16) {
    unsigned m = movemask8(load8(xr + j) >= tv) | (movemask8(load8(xr + j + 8) >= tv) << 8);
    while (m) {
      const int64_t q = j + __builtin_ctz(m);
      c[n++] = rank_key(xr[q], q);
      m &= m - 1;
    }
  }
  for (; j < cols; ++j)
    if (xr[j] >= t0) c[n++] = rank_key(xr[j], j);
  if (n < k) return false;
  if (n > k) std::nth_element(c, c + (k - 1), c + n, std::greater<uint64_t>());
  // The low 32 bits of a key are ~column.
  if (byIndex) {
    emit_by_column(c, k, cols, [&](int32_t col) { return xr[col]; }, vals, idx);
    return true;
  }
  std::sort(c, c + k, std::greater<uint64_t>());
  for (int64_t q = 0; q < k; ++q) {
    const int32_t col = static_cast<int32_t>(~static_cast<uint32_t>(c[q]));
    idx[q] = col;
    vals[q] = xr[col];
  }
  return true;
}

/// The top k of one row by threshold filtering, or false when it cannot be used (the caller then runs
/// the heap). Split the row into k blocks; each block's largest number is >= T0 = the smallest of those
/// k block maxima, so at least k numbers are >= T0 and the top k all are. One 8-wide pass finds T0
/// (block maxima ignore NaN), a second collects the keys of every x >= T0 (typically 2-3% of a wide row),
/// and nth_element + sort pick and order the best k keys: the same keys, hence the same result, as the
/// heap. Fewer than k candidates (NaNs or -inf where numbers should be) falls back to the heap.
bool topk_row_filtered(const float* xr, const float* next, int64_t cols, int64_t k, float* vals, int32_t* idx, bool byIndex) {
  const float ninf = -std::numeric_limits<float>::infinity();
  float t0 = std::numeric_limits<float>::infinity();
  for (int64_t blk = 0; blk < k; ++blk) {
    const int64_t s = cols * blk / k, e = cols * (blk + 1) / k;
    // The next row streams in from memory while this one is worked on (one prefetch per cache line).
    if (next)
      for (int64_t q = s; q < e; q += 16) __builtin_prefetch(next + q, 0, 3);
    // x > m is false for a NaN x, so NaNs never become a block maximum. Two accumulators halve the
    // compare-and-select dependency chain.
    v8f m8 = splat8(ninf), n8 = m8;
    int64_t j = s;
    for (; j + 16 <= e; j += 16) {
      const v8f v = load8(xr + j), w = load8(xr + j + 8);
      m8 = v > m8 ? v : m8;
      n8 = w > n8 ? w : n8;
    }
    for (; j + 8 <= e; j += 8) {
      const v8f v = load8(xr + j);
      m8 = v > m8 ? v : m8;
    }
    m8 = n8 > m8 ? n8 : m8;
    float m = std::max(std::max(std::max(m8[0], m8[1]), std::max(m8[2], m8[3])), std::max(std::max(m8[4], m8[5]), std::max(m8[6], m8[7])));
    for (; j < e; ++j) m = xr[j] > m ? xr[j] : m;
    t0 = m < t0 ? m : t0;
  }
  return topk_row_above(xr, cols, k, t0, vals, idx, byIndex);
}

thread_local std::vector<float> t_sample;

/// The top k of one row through a threshold estimated from a strided sample of ~256 numbers: T = the
/// sample's r-th largest, r set so that about 2k + 32 numbers of the row are expected to be >= T.
/// Exact whenever at least k numbers are >= T (then topk_row_above finishes); false otherwise (the caller
/// falls back to the exact block threshold). Reads the row once (the block-maximum threshold reads it
/// twice and, for k a sizeable fraction of the row, lets most of the row through: AuxK's top 256 of
/// 4915 dead latents for 1024 rows took 11.6 ms that way, 6.4 ms this way).
bool topk_row_sampled(const float* xr, int64_t cols, int64_t k, float* vals, int32_t* idx, bool byIndex) {
  const int64_t stride = std::max<int64_t>(1, cols / 256);
  const int64_t s = (cols + stride - 1) / stride;
  std::vector<float>& sb = t_sample;
  if (static_cast<int64_t>(sb.size()) < s) sb.resize(s);
  float* smp = sb.data();
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t q = 0; q < s; ++q) {
    const float v = xr[q * stride];
    smp[q] = v == v ? v : ninf;  // NaN is below every number
  }
  const double want = (2.0 * static_cast<double>(k) + 32.0) / static_cast<double>(cols);
  if (want >= 0.5) return false;  // k is most of the row: the sample saves nothing
  int64_t r = static_cast<int64_t>(std::ceil(want * static_cast<double>(s)));
  if (r < 1) r = 1;
  if (r > s) return false;
  std::nth_element(smp, smp + (r - 1), smp + s, std::greater<float>());
  const float t = smp[r - 1];
  if (!(t > ninf)) return false;
  return topk_row_above(xr, cols, k, t, vals, idx, byIndex);
}

}  // namespace

namespace {

/// The top k of one row xr [cols] into vals/idx [k] (the rule of topk below); next = the row after it
/// (prefetched by the block filter) or null; h = a heap of k keys.
void topk_one_row(const float* xr, const float* next, int64_t cols, int64_t k, float* vals, int32_t* idx, bool byIndex,
                  uint64_t* h) {
  // Threshold filtering pays off when a row is much wider than k (SAE codes: 32 of 4096); narrow
  // rows, and rows it cannot handle, use the heap.
  const bool filter = cols >= 16 * k && k >= 2;
  // The sampled threshold for k a sizeable fraction of the row (AuxK: 256 of a few thousand dead latents),
  // where the block maxima let most of the row through; for narrow k (32 of 4k-64k) the block filter,
  // which prefetches the next row, streams faster on two threads (16384 columns: 4.2 vs 7.1 ms).
  const bool sampled = cols >= 512 && cols >= 4 * k && cols < 64 * k && k >= 2;
  if (sampled && topk_row_sampled(xr, cols, k, vals, idx, byIndex)) return;
  if (filter && topk_row_filtered(xr, next, cols, k, vals, idx, byIndex)) return;
  for (int64_t j = 0; j < k; ++j) h[j] = rank_key(xr[j], j);
  for (int64_t i = k / 2 - 1; i >= 0; --i) sift_down(h, k, i);
  auto offer = [&](int64_t j) {
    const uint64_t key = rank_key(xr[j], j);
    if (key > h[0]) {
      h[0] = key;
      sift_down(h, k, 0);
    }
  };
  // Most columns lose to the root: compare 16 at a time with its value and offer only the lanes
  // that beat it (a NaN root, which every number beats, takes the plain path).
  int64_t j = k;
  for (; j + 16 <= cols; j += 16) {
    const float root = xr[static_cast<uint32_t>(~static_cast<uint32_t>(h[0]))];
    if (root != root) {
      for (int64_t q = j; q < j + 16; ++q) offer(q);
      continue;
    }
    const v8f rv = splat8(root);
    unsigned m = movemask8(load8(xr + j) > rv) | (movemask8(load8(xr + j + 8) > rv) << 8);
    while (m) {
      offer(j + __builtin_ctz(m));
      m &= m - 1;
    }
  }
  for (; j < cols; ++j) offer(j);
  // Heap sort: moving the lowest-ranked root to the end leaves the keys sorted best-first.
  for (int64_t n = k - 1; n > 0; --n) {
    std::swap(h[0], h[n]);
    sift_down(h, n, 0);
  }
  if (byIndex) std::sort(h, h + k, [](uint64_t a, uint64_t b) { return static_cast<uint32_t>(a) > static_cast<uint32_t>(b); });
  for (int64_t q = 0; q < k; ++q) {
    const int32_t c = static_cast<int32_t>(~static_cast<uint32_t>(h[q]));
    idx[q] = c;
    vals[q] = xr[c];
  }
}

/// The float whose rank_key high half is `ord` (rank_key maps -0 to +0 and NaN to 0; neither occurs here).
inline float key_value(uint64_t key) {
  const uint32_t ord = static_cast<uint32_t>(key >> 32);
  const uint32_t u = (ord & 0x80000000u) ? (ord & 0x7fffffffu) : ~ord;
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

/// out[j] = Σ_i x_j[i]·w[i] in float32 for N rows x_j against one w (the screens' rescoring dots). Each row's
/// sum is formed the same way whatever N (FMA into two vector partial sums over alternate vector steps, a
/// masked last step, then a fixed tree), so a value does not depend on how pairs were grouped; N rows at once
/// share the loads of w and keep 2N independent FMA chains in flight. 16 lanes where the addon is built
/// with AVX-512, else 8: rescoring is bound by loading x rows, and wider loads halve their number.
#if defined(__AVX512F__)
template <int N>
inline void dots(const float* w, const float* const* xs, int64_t n, float* out) {
  __m512 a[N], b[N];
  for (int j = 0; j < N; ++j) a[j] = b[j] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 w0 = _mm512_loadu_ps(w + i), w1 = _mm512_loadu_ps(w + i + 16);
    for (int j = 0; j < N; ++j) {
      a[j] = _mm512_fmadd_ps(_mm512_loadu_ps(xs[j] + i), w0, a[j]);
      b[j] = _mm512_fmadd_ps(_mm512_loadu_ps(xs[j] + i + 16), w1, b[j]);
    }
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m512 w0 = _mm512_maskz_loadu_ps(m, w + i);
    for (int j = 0; j < N; ++j) a[j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xs[j] + i), w0, a[j]);
  }
  for (int j = 0; j < N; ++j) out[j] = _mm512_reduce_add_ps(_mm512_add_ps(a[j], b[j]));
}
#else
template <int N>
inline void dots(const float* w, const float* const* xs, int64_t n, float* out) {
  v8f a[N], b[N];
  for (int j = 0; j < N; ++j) a[j] = b[j] = splat8(0.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const v8f w0 = load8(w + i), w1 = load8(w + i + 8);
    for (int j = 0; j < N; ++j) {
      a[j] = fmadd8(load8(xs[j] + i), w0, a[j]);
      b[j] = fmadd8(load8(xs[j] + i + 8), w1, b[j]);
    }
  }
  for (int j = 0; j < N; ++j) {
    const v8f s = a[j] + b[j];
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (int64_t q = i; q < n; ++q) t = __builtin_fmaf(xs[j][q], w[q], t);
    out[j] = t;
  }
}
#endif

thread_local std::vector<uint32_t> t_scand;  // screened top-k: candidate columns of a row
thread_local std::vector<uint64_t> t_skeys;  // and their keys by rescored value
thread_local std::vector<float> t_sq, t_sbq;  // per-column bound terms (the calling thread's)
// The calling thread's candidate slots [rows, cap], their rescored values, counts, and the by-column index.
thread_local std::vector<uint32_t> t_sslots, t_sprow;
thread_local std::vector<float> t_svals, t_scolv;
thread_local std::vector<int64_t> t_scount, t_sstart, t_sfill;

/// The screens' per-column bound terms (see topk_screened): q_h = c·‖W[m]‖ and bq_h = c·|b[m]| + δ(1 + ‖W[m]‖),
/// both rounded up, m = colmap[h] or h, δ = D·2⁻¹⁰⁰ for subnormals flushed by the bf16 dot instructions,
/// into the calling thread's t_sq / t_sbq. False when some ‖W[m]‖ or |b[m]| is not finite or near overflow.
struct ScreenBound {
  const float* q;
  const float* bq;
  double delta, wmax, bmax, qmax, bqmax;
};
bool screen_bound(int64_t cols, int64_t D, const float* bias, const float* wn, const int32_t* colmap, double coef,
                  ScreenBound& sb) {
  sb.delta = static_cast<double>(D) * std::ldexp(1.0, -100);
  std::vector<float>& q = t_sq;
  std::vector<float>& bq = t_sbq;
  if (static_cast<int64_t>(q.size()) < cols) {
    q.resize(cols);
    bq.resize(cols);
  }
  sb.wmax = sb.bmax = sb.qmax = sb.bqmax = 0;
  for (int64_t h = 0; h < cols; ++h) {
    const int64_t m = colmap ? colmap[h] : h;
    const double w = wn[m], b = bias ? std::fabs(static_cast<double>(bias[m])) : 0.0;
    if (!(w <= 1e30 && b <= 1e30)) return false;  // NaN, Infinity or near overflow
    sb.wmax = w > sb.wmax ? w : sb.wmax;
    sb.bmax = b > sb.bmax ? b : sb.bmax;
    q[h] = static_cast<float>(coef * w * (1 + 1e-6));
    bq[h] = static_cast<float>((coef * b + sb.delta * (1 + w)) * (1 + 1e-6));
    sb.qmax = q[h] > sb.qmax ? q[h] : sb.qmax;
    sb.bqmax = bq[h] > sb.bqmax ? bq[h] : sb.bqmax;
  }
  sb.q = q.data();
  sb.bq = bq.data();
  return true;
}

/// The calling thread's candidate slots [rows, cap] (column ids), their rescored values, and counts [rows].
void screen_slots(int64_t rows, int64_t cap, uint32_t*& sl, float*& sv, int64_t*& cnt) {
  if (static_cast<int64_t>(t_sslots.size()) < rows * cap) {
    t_sslots.resize(rows * cap);
    t_svals.resize(rows * cap);
  }
  if (static_cast<int64_t>(t_scount.size()) < rows) t_scount.resize(rows);
  sl = t_sslots.data();
  sv = t_svals.data();
  cnt = t_scount.data();
}

/// The screens' rescoring: sv[slot] = x[r]·W[m] + b[m] in float32 for every (row r, slot j < cnt[r]) with
/// cnt[r] <= cap, column h = sl[r·cap + j], slot = r·cap + j. Grouped by column so that W streams through
/// once in order instead of one scattered row per (token, candidate): pairs are bucketed by column with a
/// counting sort (in row order within a column), then the threads take ranges of columns.
void rescore_by_column(int64_t rows, int64_t cols, int64_t cap, const int64_t* cnt, const uint32_t* sl, const float* x,
                       int64_t D, const float* W, const float* bias, const int32_t* colmap, float* sv) {
  auto wrow = [&](int64_t h) { return W + (colmap ? colmap[h] : h) * D; };
  std::vector<int64_t>& start = t_sstart;
  std::vector<uint32_t>& prow = t_sprow;
  if (static_cast<int64_t>(start.size()) < cols + 1) start.resize(cols + 1);
  int64_t* st = start.data();
  std::fill(st, st + cols + 1, 0);
  int64_t total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (cnt[r] > cap) continue;
    const uint32_t* c = sl + r * cap;
    for (int64_t j = 0; j < cnt[r]; ++j) ++st[c[j] + 1];
    total += cnt[r];
  }
  for (int64_t h = 0; h < cols; ++h) st[h + 1] += st[h];
  if (static_cast<int64_t>(prow.size()) < total) prow.resize(total);
  uint32_t* pr = prow.data();  // r · cap + slot
  {
    std::vector<int64_t>& fill = t_sfill;
    fill.assign(st, st + cols);
    for (int64_t r = 0; r < rows; ++r) {
      if (cnt[r] > cap) continue;
      const uint32_t* c = sl + r * cap;
      for (int64_t j = 0; j < cnt[r]; ++j) pr[fill[c[j]]++] = static_cast<uint32_t>(r * cap + j);
    }
  }
  // Where columns have many candidate rows (AuxK: the top 256 of ~1,200 dead latents), the rows go in
  // blocks whose x stays in L2 while W streams past once per block (each column's pairs are in row
  // order, so a cursor per column walks them block by block). 1 block for the main top k (~4 pairs a
  // column at 16384 latents), up to 8 (AuxK at 4096 latents with 30% dead: ~270 pairs a column).
  const int64_t perCol = cols ? total / cols : 0;
  const int64_t nb = std::min<int64_t>(8, std::max<int64_t>(1, perCol / 16));
  const int64_t rb = (rows + nb - 1) / nb;
  std::vector<int64_t>& cursor = t_sfill;
  cursor.assign(st, st + cols);
  int64_t* cur = cursor.data();
  for (int64_t blk = 0; blk < nb; ++blk) {
    const uint32_t end = static_cast<uint32_t>(std::min<int64_t>(rows, (blk + 1) * rb) * cap);  // slot ids below it
    parallel_for(cols, 1 + D * (perCol / nb + 1), [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) {
        int64_t p = cur[h], e = p;
        while (e < st[h + 1] && pr[e] < end) ++e;
        const float* w = wrow(h);
        const float bh = bias ? bias[colmap ? colmap[h] : h] : 0.0f;
        const float* xs[4];
        float v[4];
        for (; p + 4 <= e; p += 4) {
          for (int j = 0; j < 4; ++j) xs[j] = x + (pr[p + j] / cap) * D;
          dots<4>(w, xs, D, v);
          for (int j = 0; j < 4; ++j) sv[pr[p + j]] = bias ? v[j] + bh : v[j];
        }
        for (; p < e; ++p) {
          xs[0] = x + (pr[p] / cap) * D;
          dots<1>(w, xs, D, v);
          sv[pr[p]] = bias ? v[0] + bh : v[0];
        }
        cur[h] = p;
      }
    });
  }
}

}  // namespace

void topk(const float* x, int64_t rows, int64_t cols, int64_t k, float* vals, int32_t* idx, bool byIndex) {
  if (k <= 0) return;
  parallel_for(rows, cols, [&](int64_t b, int64_t e) {
    if (static_cast<int64_t>(t_heap.size()) < k) t_heap.resize(k);
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      topk_one_row(xr, r + 1 < e ? xr + cols : nullptr, cols, k, vals + r * k, idx + r * k, byIndex, t_heap.data());
    }
  });
}

// Screened top-k: the exact float32 top k of pre = x Wᵀ + b from a cheap approximation P (the bf16 GEMM).
// Let r_h be the float32 value rescored here (16-lane float dot + bias) and a_h = P[r, h]. Both are within
// rounding of the real x·W_m + b_m, so |a_h − r_h| ≤ e_h := c·‖x‖·‖W_m‖ + c·|b_m| + 2⁻²¹|a_h| + δ(1 + ‖x‖ + ‖W_m‖)
// with c covering bf16 rounding of both operands (2u + u², u = 2⁻⁹) and both float32 accumulations
// (the caller's coef; core/ops/sparse.ts). With S = the top k of a and L = min_{h∈S} (a_h − e_h), k values
// r_h are ≥ L, so the k-th largest r is ≥ L and every member of r's top k has a_h + e_h ≥ r_h ≥ L. The
// candidates {h : a_h + e_h ≥ L} (S among them) are rescored and their top k by r taken, ties to the lower
// column: exactly the top k of r over the whole row, at the cost of ~k + (columns within 2e of the k-th)
// dot products per row instead of a float32 GEMM.
bool topk_screened(const float* P, int64_t rows, int64_t cols, int64_t k, const float* x, int64_t D, const float* W,
                   const float* bias, const float* wn, const int32_t* colmap, double coef, float* vals, int32_t* idx,
                   bool byIndex) {
  if (k <= 0 || rows == 0) return true;
  ScreenBound sb;
  if (!screen_bound(cols, D, bias, wn, colmap, coef, sb)) return false;
  const double delta = sb.delta, wmax = sb.wmax, bmax = sb.bmax, qmax = sb.qmax, bqmax = sb.bqmax;
  const float* qv = sb.q;
  const float* bqv = sb.bq;
  const float rel = std::ldexp(1.0f, -21);  // the float rounding of a (bias add, scan arithmetic)
  auto wrow = [&](int64_t h) { return W + (colmap ? colmap[h] : h) * D; };
  auto rescore = [&](const float* xr, int64_t h) {
    float v;
    dots<1>(wrow(h), &xr, D, &v);
    if (bias) v += bias[colmap ? colmap[h] : h];
    return v;
  };

  // Phase 1 (rows): the candidates of each row, into a slot of `cap` columns (a row with more is redone
  // alone in phase 3). n[r] = its count, or −1 when its bound is not finite.
  const int64_t cap = std::min<int64_t>(cols, 2 * k + 192);
  uint32_t* sl;
  float* sv;
  int64_t* cnt;
  screen_slots(rows, cap, sl, sv, cnt);
  // Candidates of row r into cd (cols long): their number, or −1 when the row cannot be bounded.
  auto screen_row = [&](int64_t r, const float* next, uint32_t* cd, float* tv, int32_t* ti) -> int64_t {
    const float* ar = P + r * cols;
    const double xn = std::sqrt(dsum<true>(x + r * D, D)) * (1 + 1e-12);
    // Any x row past ~1e30 (or NaN) could overflow the bound or pre itself: the caller goes exact.
    if (!(xn <= 1e30) || !(xn * wmax + bmax <= 1e36)) return -1;
    const float xnf = static_cast<float>(xn * (1 + 1e-7)), tiny = static_cast<float>(delta * xn + 1e-30);
    // The top k of the approximate row, and L = the least lower bound among them: at least k exact values
    // are >= L, so every member of the exact top k has an upper bound >= L.
    // (Only the set matters here; for large k, byIndex orders it by a bitmap, cheaper than sorting k keys.)
    topk_one_row(ar, next, cols, k, tv, ti, k >= 64, t_heap.data());
    float L = std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < k; ++j) {
      const float a = tv[j];
      const int32_t h = ti[j];
      const float lo = a - (std::fabs(a) * rel + (xnf * qv[h] + bqv[h]) + tiny);
      if (!(lo == lo)) return -1;  // a NaN in pre (cannot happen with finite inputs)
      L = lo < L ? lo : L;
    }
    // Every column whose upper bound reaches L (the k above are among them). A plain compare with T first:
    // with E0 = max_h (‖x‖q_h + bq_h) + tiny, a candidate has a ≥ L − E0 − rel·|a| and |a| ≤ M =
    // max(a_max, (|L| + E0)(1 + 2·rel)), so a ≥ T = L − E0 − rel·M (taken a little lower for its own rounding).
    const double E0 = static_cast<double>(xnf) * qmax + bqmax + tiny;
    const double M = std::max(std::fabs(static_cast<double>(tv[0])), (std::fabs(static_cast<double>(L)) + E0) * (1 + 2.0 * rel));
    const double Td = static_cast<double>(L) - E0 - rel * M;
    const float T = static_cast<float>(Td - 1e-6 * (std::fabs(Td) + E0 + rel * M) - 1e-30);
    int64_t n = 0;
    auto take = [&](int64_t h) {
      const float a = ar[h];
      if (a + ((std::fabs(a) * rel + (xnf * qv[h] + bqv[h])) + tiny) >= L) cd[n++] = static_cast<uint32_t>(h);
    };
    const v8f Tv = splat8(T);
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16) {
      unsigned m = movemask8(load8(ar + j) >= Tv) | (movemask8(load8(ar + j + 8) >= Tv) << 8);
      while (m) {
        take(j + __builtin_ctz(m));
        m &= m - 1;
      }
    }
    for (; j < cols; ++j)
      if (ar[j] >= T) take(j);
    return n;
  };
  std::atomic<bool> ok{true};
  parallel_for(rows, cols, [&](int64_t b0, int64_t e0) {
    if (static_cast<int64_t>(t_heap.size()) < k) t_heap.resize(k);
    if (static_cast<int64_t>(t_scand.size()) < cols) t_scand.resize(cols);
    std::vector<float> tv(k);
    std::vector<int32_t> ti(k);
    for (int64_t r = b0; r < e0; ++r) {
      const int64_t n = screen_row(r, r + 1 < e0 ? P + (r + 1) * cols : nullptr, t_scand.data(), tv.data(), ti.data());
      cnt[r] = n;
      if (n < 0) {
        ok.store(false, std::memory_order_relaxed);
        return;
      }
      if (n <= cap) std::memcpy(sl + r * cap, t_scand.data(), n * sizeof(uint32_t));
    }
  });
  if (!ok.load()) return false;

  // Phase 2 (columns): the rescoring.
  rescore_by_column(rows, cols, cap, cnt, sl, x, D, W, bias, colmap, sv);

  // Phase 3 (rows): each row's top k by rescored value, ties to the lower column.
  parallel_for(rows, 4 * k, [&](int64_t b0, int64_t e0) {
    std::vector<uint64_t>& keys = t_skeys;
    for (int64_t r = b0; r < e0; ++r) {
      int64_t n = cnt[r];
      if (static_cast<int64_t>(keys.size()) < std::max<int64_t>(n, cap)) keys.resize(std::max<int64_t>(n, cap));
      uint64_t* kp = keys.data();
      if (n <= cap) {
        for (int64_t j = 0; j < n; ++j) kp[j] = rank_key(sv[r * cap + j], sl[r * cap + j]);
      } else {
        // Too many candidates for its slot: screen again and rescore row by row (rare: a very loose bound).
        if (static_cast<int64_t>(t_heap.size()) < k) t_heap.resize(k);
        if (static_cast<int64_t>(t_scand.size()) < cols) t_scand.resize(cols);
        std::vector<float> tv(k);
        std::vector<int32_t> ti(k);
        n = screen_row(r, nullptr, t_scand.data(), tv.data(), ti.data());
        for (int64_t j = 0; j < n; ++j) kp[j] = rank_key(rescore(x + r * D, t_scand[j]), t_scand[j]);
      }
      if (n > k) std::nth_element(kp, kp + (k - 1), kp + n, std::greater<uint64_t>());
      if (byIndex) {
        // Each chosen column's value parked in colv, then column order from the bitmap.
        std::vector<float>& colv = t_scolv;
        if (static_cast<int64_t>(colv.size()) < cols) colv.resize(cols);
        for (int64_t c = 0; c < k; ++c) colv[~static_cast<uint32_t>(kp[c])] = key_value(kp[c]);
        const float* cv = colv.data();
        emit_by_column(kp, k, cols, [cv](int32_t col) { return cv[col]; }, vals + r * k, idx + r * k);
        continue;
      }
      std::sort(kp, kp + k, std::greater<uint64_t>());
      for (int64_t c = 0; c < k; ++c) {
        idx[r * k + c] = static_cast<int32_t>(~static_cast<uint32_t>(kp[c]));
        vals[r * k + c] = key_value(kp[c]);
      }
    }
  });
  return true;
}

// Screened threshold selection: the sparse ReLU / JumpReLU steps' active sets (select_active's rule) from
// the bf16 GEMM's approximation a = P of pre = x Wᵀ + b, exact. With r_h the float32 value rescored as in
// topk_screened and e_h its bound (|a_h − r_h| ≤ e_h), every entry with a_h + e_h − θ_h ≥ lo (in double;
// θ = 0 when theta is null) is rescored and written into P; the others keep a_h, and both a_h and r_h
// are then below θ_h + lo, so neither is selected. Each row's selection is then made from its rescored
// entries by select_active's own rule — r > lo in float32 (ReLU, lo representable) or (double)r − θ > lo —
// into scratch [rows, limit] / counts in increasing column order. So P is exact (float32 dot products) at
// every entry the rule could pick, and the sets are those select_active would pick from that P.
// Returns the largest count; −1 when some row selects more than `limit` (select_active's overflow);
// −2 when the screen cannot run: a bound is not finite, or a row has more than `cap` candidates.
// A vector prefilter keeps the per-entry test off most columns: a candidate has a − θ ≥ T0 :=
// lo − E0 − rel·M, E0 = max_h e_h − rel·|a| (row constant), M ≥ |a| for any candidate; float rounding of
// a − θ is monotone, so fl(a − θ) ≥ fl(T0) and the float compare against T0 rounded down misses none.
int64_t threshold_screened(float* P, int64_t rows, int64_t cols, const float* x, int64_t D, const float* W,
                           const float* bias, const float* wn, double coef, const float* theta, double lo,
                           int64_t limit, int64_t cap, int32_t* scratch, int32_t* counts) {
  if (rows == 0) return 0;
  if (cols == 0) {
    std::memset(counts, 0, sizeof(int32_t) * rows);
    return 0;
  }
  ScreenBound sb;
  if (!screen_bound(cols, D, bias, wn, nullptr, coef, sb)) return -2;
  double tmax = 0;
  if (theta)
    for (int64_t h = 0; h < cols; ++h) {
      const double t = std::fabs(static_cast<double>(theta[h]));
      if (!(t <= 1e30)) return -2;
      tmax = t > tmax ? t : tmax;
    }
  const float* qv = sb.q;
  const float* bqv = sb.bq;
  const double rel = std::ldexp(1.0, -21);
  uint32_t* sl;
  float* sv;
  int64_t* cnt;
  screen_slots(rows, cap, sl, sv, cnt);
  std::atomic<bool> bad{false};
  // Phase 1 (rows): candidates of each row, in column order.
  parallel_for(rows, cols, [&](int64_t b0, int64_t e0) {
    for (int64_t r = b0; r < e0; ++r) {
      if (bad.load(std::memory_order_relaxed)) return;
      const float* ar = P + r * cols;
      const double xn = std::sqrt(dsum<true>(x + r * D, D)) * (1 + 1e-12);
      if (!(xn <= 1e30) || !(xn * sb.wmax + sb.bmax <= 1e36)) {
        bad.store(true, std::memory_order_relaxed);
        return;
      }
      const double xnf = static_cast<double>(static_cast<float>(xn * (1 + 1e-7)));
      const double tiny = sb.delta * xn + 1e-30;
      const double E0 = xnf * sb.qmax + sb.bqmax + tiny;
      const double M = (tmax + std::fabs(lo) + E0) * (1 + 4 * rel) + 1e-30;
      const double T0 = lo - E0 - rel * M;
      const float T = static_cast<float>(T0 - 1e-6 * (std::fabs(T0) + E0 + rel * M) - 1e-30);
      uint32_t* out = sl + r * cap;
      int64_t n = 0;
      bool over = false;
      auto take = [&](int64_t h) {
        const double a = ar[h];
        const double e = std::fabs(a) * rel + (xnf * qv[h] + bqv[h]) + tiny;
        const double t = theta ? static_cast<double>(theta[h]) : 0.0;
        // 1e-12 of the magnitudes: this double arithmetic's own rounding.
        if (a + e - t >= lo - 1e-12 * (std::fabs(a) + std::fabs(t) + std::fabs(lo) + e)) {
          if (n == cap) over = true;
          else out[n++] = static_cast<uint32_t>(h);
        }
      };
      const v8f Tv = splat8(T);
      int64_t j = 0;
      for (; j + 16 <= cols && !over; j += 16) {
        v8f u0 = load8(ar + j), u1 = load8(ar + j + 8);
        if (theta) {
          u0 = u0 - load8(theta + j);
          u1 = u1 - load8(theta + j + 8);
        }
        unsigned m = movemask8(u0 >= Tv) | (movemask8(u1 >= Tv) << 8);
        while (m) {
          take(j + __builtin_ctz(m));
          m &= m - 1;
        }
      }
      for (; j < cols && !over; ++j)
        if ((theta ? ar[j] - theta[j] : ar[j]) >= T) take(j);
      if (over) {
        bad.store(true, std::memory_order_relaxed);
        return;
      }
      cnt[r] = n;
    }
  });
  if (bad.load()) return -2;

  // Phase 2 (columns): the rescoring.
  rescore_by_column(rows, cols, cap, cnt, sl, x, D, W, bias, nullptr, sv);

  // Phase 3 (rows): write the exact values into P and select from them.
  const float lof = static_cast<float>(lo);
  const bool loExact = static_cast<double>(lof) == lo;
  std::atomic<bool> overLimit{false};
  parallel_for(rows, 4 * cap, [&](int64_t b0, int64_t e0) {
    for (int64_t r = b0; r < e0; ++r) {
      float* ar = P + r * cols;
      const uint32_t* c = sl + r * cap;
      const float* v = sv + r * cap;
      int32_t* o = scratch + r * limit;
      int64_t n = 0;
      for (int64_t j = 0; j < cnt[r]; ++j) {
        const uint32_t h = c[j];
        const float val = v[j];
        ar[h] = val;
        const bool pick = theta ? static_cast<double>(val) - static_cast<double>(theta[h]) > lo
                                : (loExact ? val > lof : static_cast<double>(val) > lo);
        if (!pick) continue;
        if (n == limit) {
          overLimit.store(true, std::memory_order_relaxed);
          // keep writing P: every candidate must hold its exact value whatever the caller does next
          continue;
        }
        o[n++] = static_cast<int32_t>(h);
      }
      counts[r] = static_cast<int32_t>(n);
    }
  });
  if (overLimit.load()) return -1;
  int64_t kmax = 0;
  for (int64_t r = 0; r < rows; ++r) kmax = counts[r] > kmax ? counts[r] : kmax;
  return kmax;
}

// ---------------------------------------------------------------------------------------------
// Gather / scatter (indices validated by the caller)
// ---------------------------------------------------------------------------------------------

void gather_rows(const float* src, int64_t cols, const int32_t* idx, int64_t nidx, float* out) {
  parallel_for(nidx, cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if (idx[i] < 0) std::memset(out + i * cols, 0, cols * sizeof(float));  // -1: a zero row (checked by the caller)
      else std::memcpy(out + i * cols, src + idx[i] * cols, cols * sizeof(float));
    }
  });
}

void scatter_add_rows(const float* src, int64_t cols, const int32_t* idx, int64_t nidx, float* out) {
  // Threads own column ranges, so repeated destination rows never race and every element adds its
  // contributions in index order.
  parallel_for(cols, nidx, [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < nidx; ++i) {
      if (idx[i] < 0) continue;  // -1: no destination (checked by the caller)
      float* d = out + idx[i] * cols;
      const float* s = src + i * cols;
      for (int64_t j = c0; j < c1; ++j) d[j] += s[j];
    }
  });
}

void gather_cols(const float* x, int64_t rows, int64_t cols, const int32_t* idx, int64_t k, float* out) {
  parallel_for(rows, k, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t j = 0; j < k; ++j) out[r * k + j] = x[r * cols + idx[r * k + j]];
  });
}

void select_cols(const float* x, int64_t rows, int64_t cols, const int32_t* idx, int64_t n, float* out) {
  parallel_for(rows, n, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* o = out + r * n;
      for (int64_t j = 0; j < n; ++j) o[j] = xr[idx[j]];
    }
  });
}

void scatter_add_cols(const float* src, int64_t rows, int64_t k, const int32_t* idx, int64_t cols, float* out) {
  parallel_for(rows, k, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t j = 0; j < k; ++j) out[r * cols + idx[r * k + j]] += src[r * k + j];
  });
}

// ---------------------------------------------------------------------------------------------
// Permute
// ---------------------------------------------------------------------------------------------

void permute(const float* x, const int64_t* shape, const int64_t* perm, int rank, float* out) {
  int64_t inStride[8], dims[8], st[8];
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    inStride[d] = s;
    s *= shape[d];
  }
  const int64_t total = s;
  if (total == 0) return;
  // Output axes innermost-first with their input strides; extent-1 axes dropped.
  int r = 0;
  for (int d = rank - 1; d >= 0; --d) {
    const int64_t n = shape[perm[d]];
    if (n == 1) continue;
    if (r > 0 && st[r - 1] * dims[r - 1] == inStride[perm[d]]) {
      dims[r - 1] *= n;  // contiguous in the input too: merge
    } else {
      dims[r] = n;
      st[r] = inStride[perm[d]];
      ++r;
    }
  }
  if (r == 0) {
    out[0] = x[0];
    return;
  }
  const int64_t inner = dims[0], s0 = st[0];
  if (s0 != 1) {
    // A transpose-like permute: the input's contiguous axis q is not the output's innermost one.
    // Copy 32 x 32 tiles of the (q, innermost) plane so both sides stay in cache.
    int q = -1;
    for (int d = 1; d < r; ++d)
      if (st[d] == 1) q = d;
    if (q > 0) {
      int64_t ostr[8];
      ostr[0] = 1;
      for (int d = 1; d < r; ++d) ostr[d] = ostr[d - 1] * dims[d - 1];
      int oth[8], no = 0;
      for (int d = 1; d < r; ++d)
        if (d != q) oth[no++] = d;
      constexpr int64_t T = 32;
      const int64_t n0 = dims[0], nq = dims[q], oq = ostr[q];
      const int64_t tilesQ = (nq + T - 1) / T, outerCount = total / (n0 * nq);
      parallel_for(outerCount * tilesQ, n0 * T * 2, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          int64_t rem = t / tilesQ, offIn = 0, offOut = 0;
          for (int a = 0; a < no; ++a) {
            const int64_t i = rem % dims[oth[a]];
            rem /= dims[oth[a]];
            offIn += i * st[oth[a]];
            offOut += i * ostr[oth[a]];
          }
          const int64_t q0 = (t % tilesQ) * T, q1 = std::min(nq, q0 + T);
          for (int64_t i0 = 0; i0 < n0; i0 += T) {
            const int64_t i1 = std::min(n0, i0 + T);
            for (int64_t iq = q0; iq < q1; ++iq) {
              const float* src = x + offIn + iq;
              float* dst = out + offOut + iq * oq;
              for (int64_t ii = i0; ii < i1; ++ii) dst[ii] = src[ii * s0];
            }
          }
        }
      });
      return;
    }
  }
  parallel_for(total, 2, [&](int64_t begin, int64_t end) {
    int64_t idx[8] = {0};
    int64_t rem = begin, off = 0;
    for (int d = 0; d < r; ++d) {
      idx[d] = rem % dims[d];
      rem /= dims[d];
      off += idx[d] * st[d];
    }
    int64_t pos = begin;
    while (pos < end) {
      const int64_t len = std::min(inner - idx[0], end - pos);
      if (s0 == 1) std::memcpy(out + pos, x + off, len * sizeof(float));
      else for (int64_t i = 0; i < len; ++i) out[pos + i] = x[off + i * s0];
      pos += len;
      off += len * s0;
      idx[0] += len;
      for (int d = 0; d < r - 1 && idx[d] == dims[d]; ++d) {
        off -= dims[d] * st[d];
        idx[d] = 0;
        ++idx[d + 1];
        off += st[d + 1];
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// im2col / col2im
// ---------------------------------------------------------------------------------------------

int64_t conv_out(int64_t size, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  const int64_t span = size + 2 * pad - dil * (k - 1) - 1;  // floor division: a negative span gives 0
  return span < 0 ? 0 : span / stride + 1;
}

namespace {
/// The output columns [lo, hi) of one kernel column whose input column iw = ow·sw + off lies in [0, W),
/// so the copy loops run branch-free (and vectorise for stride 1) between zero-padded ends.
inline void valid_cols(int64_t OW, int64_t W, int64_t sw, int64_t off, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
  hi = W - off <= 0 ? 0 : (W - off + sw - 1) / sw;
  if (hi > OW) hi = OW;
  if (lo > hi) lo = hi;
}
}  // namespace

namespace {

/// dst [rows, S] = src [Hs, Ws] placed at (top, left), zeros elsewhere (top or left may be negative: the
/// source's first rows or columns then fall outside). The zero border lets the tap loops below read any
/// (row + i, col + j) without bounds checks, and vectors run past the last column into zeros.
void pad_plane(const float* src, int64_t Hs, int64_t Ws, float* dst, int64_t rows, int64_t S, int64_t top, int64_t left) {
  for (int64_t a = 0; a < rows; ++a) {
    float* d = dst + a * S;
    const int64_t sr = a - top;
    if (sr < 0 || sr >= Hs) {
      std::memset(d, 0, S * sizeof(float));
      continue;
    }
    const int64_t b0 = std::max<int64_t>(0, left), b1 = std::min<int64_t>(S, left + Ws);
    if (b0 > 0) std::memset(d, 0, std::min(b0, S) * sizeof(float));
    if (b1 > b0) std::memcpy(d + b0, src + sr * Ws + (b0 - left), (b1 - b0) * sizeof(float));
    if (b1 < S) std::memset(d + std::max(b1, b0), 0, (S - std::max(b1, b0)) * sizeof(float));
  }
}

thread_local std::vector<float> t_plane;

/// Stride 1, dilation 1 im2col from a zero-padded copy of each channel plane: every output row segment
/// is then one fixed-length copy (no bounds tests), which for small images (8×8: 8-float rows) was
/// bound by the per-segment index arithmetic of the general loop (9 GB/s vs 20+ here). One channel a
/// task, all n images.
void im2col_s1(const float* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t ph, int64_t pw,
               float* out, int64_t n, int64_t OH, int64_t OW) {
  const int64_t L = OH * OW, ld = n * L, img = C * H * W;
  const int64_t HP = OH + kh - 1, WP = OW + kw - 1;
  parallel_for(C, n * kh * kw * L, [&](int64_t b, int64_t e) {
    std::vector<float>& buf = t_plane;
    if (static_cast<int64_t>(buf.size()) < HP * WP) buf.resize(HP * WP);
    float* pl = buf.data();
    for (int64_t c = b; c < e; ++c)
      for (int64_t i = 0; i < n; ++i) {
        pad_plane(x + i * img + c * H * W, H, W, pl, HP, WP, ph, pw);
        for (int64_t ki = 0; ki < kh; ++ki)
          for (int64_t kj = 0; kj < kw; ++kj) {
            float* o = out + ((c * kh + ki) * kw + kj) * ld + i * L;
            const float* src = pl + ki * WP + kj;
            if (OW % 8 == 0) {
              for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t q = 0; q < OW; q += 8) store8(o + oh * OW + q, load8(src + oh * WP + q));
            } else {
              for (int64_t oh = 0; oh < OH; ++oh) std::memcpy(o + oh * OW, src + oh * WP, OW * sizeof(float));
            }
          }
      }
  });
}

/// The adjoint of im2col_s1: per channel and image, the output plane is copied into the interior of a
/// zero-bordered plane, every (ki, kj) row of cols is added at its offset, and the interior is copied
/// back. Each element receives the same additions in the same order (ki, then kj) as the general loop.
void col2im_s1(const float* cols, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t ph, int64_t pw,
               float* out, int64_t n, int64_t OH, int64_t OW) {
  const int64_t L = OH * OW, ld = n * L, img = C * H * W;
  const int64_t HP = OH + kh - 1, WP = OW + kw - 1;
  parallel_for(C, n * kh * kw * L, [&](int64_t b, int64_t e) {
    std::vector<float>& buf = t_plane;
    if (static_cast<int64_t>(buf.size()) < HP * WP) buf.resize(HP * WP);
    float* pl = buf.data();
    for (int64_t c = b; c < e; ++c)
      for (int64_t i = 0; i < n; ++i) {
        float* oc = out + i * img + c * H * W;
        pad_plane(oc, H, W, pl, HP, WP, ph, pw);
        for (int64_t ki = 0; ki < kh; ++ki)
          for (int64_t kj = 0; kj < kw; ++kj) {
            const float* src = cols + ((c * kh + ki) * kw + kj) * ld + i * L;
            float* dst = pl + ki * WP + kj;
            for (int64_t oh = 0; oh < OH; ++oh) {
              float* __restrict d = dst + oh * WP;
              const float* __restrict sr = src + oh * OW;
              for (int64_t ow = 0; ow < OW; ++ow) d[ow] += sr[ow];
            }
          }
        // The interior back: rows ph.., columns pw.. of the padded plane (padding beyond the image is dropped).
        for (int64_t ih = 0; ih < H; ++ih) {
          const int64_t a = ih + ph;
          if (a < 0 || a >= HP) continue;
          const int64_t c0 = std::max<int64_t>(0, -pw), c1 = std::min<int64_t>(W, WP - pw);
          if (c1 > c0) std::memcpy(oc + ih * W + c0, pl + a * WP + pw + c0, (c1 - c0) * sizeof(float));
        }
      }
  });
}

}  // namespace

void im2col(const float* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
            int64_t ph, int64_t pw, int64_t dh, int64_t dw, float* out, int64_t n) {
  const int64_t OH = conv_out(H, kh, sh, ph, dh), OW = conv_out(W, kw, sw, pw, dw);
  if (OH <= 0 || OW <= 0 || n <= 0) return;
  // n images side by side: out [C·kh·kw, n·OH·OW], image i in columns [i·L, (i+1)·L), so a batch of
  // small images becomes one GEMM.
  if (sh == 1 && sw == 1 && dh == 1 && dw == 1) return im2col_s1(x, C, H, W, kh, kw, ph, pw, out, n, OH, OW);
  const int64_t L = OH * OW, ld = n * L, img = C * H * W;
  parallel_for(C * kh * kw, ld, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t c = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw;
      for (int64_t i = 0; i < n; ++i) {
        float* o = out + row * ld + i * L;
        const float* xc = x + i * img + c * H * W;
        const int64_t off = kj * dw - pw;
        int64_t lo, hi;
        valid_cols(OW, W, sw, off, lo, hi);
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t ih = oh * sh - ph + ki * dh;
          float* orow = o + oh * OW;
          if (ih < 0 || ih >= H) {
            for (int64_t ow = 0; ow < OW; ++ow) orow[ow] = 0.0f;
            continue;
          }
          const float* xrow = xc + ih * W + off;
          for (int64_t ow = 0; ow < lo; ++ow) orow[ow] = 0.0f;
          if (sw == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) orow[ow] = xrow[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) orow[ow] = xrow[ow * sw];
          }
          for (int64_t ow = hi; ow < OW; ++ow) orow[ow] = 0.0f;
        }
      }
    }
  });
}

void col2im(const float* cols, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
            int64_t ph, int64_t pw, int64_t dh, int64_t dw, float* out, int64_t n) {
  const int64_t OH = conv_out(H, kh, sh, ph, dh), OW = conv_out(W, kw, sw, pw, dw);
  if (OH <= 0 || OW <= 0 || n <= 0) return;
  if (sh == 1 && sw == 1 && dh == 1 && dw == 1) return col2im_s1(cols, C, H, W, kh, kw, ph, pw, out, n, OH, OW);
  const int64_t L = OH * OW, ld = n * L, img = C * H * W;
  // Channels are disjoint in the output, so threads split channels; within one, order is fixed
  // (and each image's sums are the same as with n = 1).
  parallel_for(C, n * kh * kw * L, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c)
      for (int64_t i = 0; i < n; ++i) {
        float* oc = out + i * img + c * H * W;
        for (int64_t ki = 0; ki < kh; ++ki)
          for (int64_t kj = 0; kj < kw; ++kj) {
            const float* src = cols + ((c * kh + ki) * kw + kj) * ld + i * L;
            const int64_t off = kj * dw - pw;
            int64_t lo, hi;
            valid_cols(OW, W, sw, off, lo, hi);
            for (int64_t oh = 0; oh < OH; ++oh) {
              const int64_t ih = oh * sh - ph + ki * dh;
              if (ih < 0 || ih >= H) continue;
              float* orow = oc + ih * W + off;
              const float* srow = src + oh * OW;
              if (sw == 1) {
                for (int64_t ow = lo; ow < hi; ++ow) orow[ow] += srow[ow];
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) orow[ow * sw] += srow[ow];
              }
            }
          }
      }
  });
}

namespace {

constexpr int64_t kRB = 4;  // output rows per register block

/// out[p, q] (P × Q, row stride Q) += Σ_ch Σ_{i<kh, j<kw} wt[ch·kh·kw + i·kw + j] · plane_ch[p + i, q + j], the
/// planes zero-padded with row stride S (pad_plane), ch in increasing order, then i, then j: one fixed
/// order per element. A block of kRB rows × NV·8 columns stays in registers over all taps (the naive loop
/// loaded and stored the output row once per tap: 20 GFLOP/s on the video VAE's output layer).
template <int NV>
void correlate_block(const float* planes, int64_t nch, int64_t planeStride, int64_t S, const float* wt, int64_t kh, int64_t kw,
                     float* out, int64_t P, int64_t Q, int64_t p0, int64_t q0) {
  v8f acc[kRB][NV];
  const int64_t rows = std::min(kRB, P - p0);
  for (int64_t r = 0; r < kRB; ++r)
    for (int v = 0; v < NV; ++v) {
      if (r >= rows) { acc[r][v] = splat8(0.0f); continue; }
      const int64_t q = q0 + 8 * v;
      if (q + 8 <= Q) acc[r][v] = load8(out + (p0 + r) * Q + q);
      else {
        alignas(32) float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t l = 0; l < 8 && q + l < Q; ++l) t[l] = out[(p0 + r) * Q + q + l];
        acc[r][v] = load8(t);
      }
    }
  const int64_t KK = kh * kw;
  for (int64_t ch = 0; ch < nch; ++ch) {
    const float* pl = planes + ch * planeStride;
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) {
        const v8f wv = splat8(wt[ch * KK + i * kw + j]);
        const float* base = pl + (p0 + i) * S + q0 + j;
        for (int64_t r = 0; r < kRB; ++r)
          for (int v = 0; v < NV; ++v) acc[r][v] = fmadd8(wv, load8(base + r * S + 8 * v), acc[r][v]);
      }
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int v = 0; v < NV; ++v) {
      const int64_t q = q0 + 8 * v;
      if (q + 8 <= Q) store8(out + (p0 + r) * Q + q, acc[r][v]);
      else {
        alignas(32) float t[8];
        store8(t, acc[r][v]);
        for (int64_t l = 0; l < 8 && q + l < Q; ++l) out[(p0 + r) * Q + q + l] = t[l];
      }
    }
}

void correlate(const float* planes, int64_t nch, int64_t planeStride, int64_t S, const float* wt, int64_t kh, int64_t kw,
               float* out, int64_t P, int64_t Q) {
  for (int64_t p0 = 0; p0 < P; p0 += kRB) {
    int64_t q0 = 0;
    for (; q0 + 32 <= Q; q0 += 32) correlate_block<4>(planes, nch, planeStride, S, wt, kh, kw, out, P, Q, p0, q0);
    const int64_t rest = Q - q0;
    if (rest > 16) correlate_block<3>(planes, nch, planeStride, S, wt, kh, kw, out, P, Q, p0, q0);
    else if (rest > 8) correlate_block<2>(planes, nch, planeStride, S, wt, kh, kw, out, P, Q, p0, q0);
    else if (rest > 0) correlate_block<1>(planes, nch, planeStride, S, wt, kh, kw, out, P, Q, p0, q0);
  }
}

/// Padded geometry for an output of P × Q read through kh × kw taps: rows and row stride (vectors of the
/// last block may run up to 31 columns past Q, and row blocks up to kRB − 1 rows past P).
inline void padded_dims(int64_t P, int64_t Q, int64_t kh, int64_t kw, int64_t& rows, int64_t& S) {
  rows = (P + kRB - 1) / kRB * kRB + kh - 1;
  S = (Q + 31) / 32 * 32 + kw - 1;
}

thread_local std::vector<float> t_conv_a, t_conv_b;

/// acc[i·kw + j] += Σ_{oh, q} g[oh, q] · xpad[oh + i, q + j] over 8-column groups q (g rows padded to GS
/// columns with zeros). KH, KW > 0 fix the kernel size at compile time, so the kh·kw accumulators live
/// in registers; 0 reads kh, kw at run time (accumulators in memory).
template <int KH, int KW>
void weight_grad_rows(const float* g, int64_t GS, const float* xp, int64_t S, int64_t OH, v8f* accOut, int64_t khr = KH, int64_t kwr = KW) {
  const int64_t kh = KH > 0 ? KH : khr, kw = KW > 0 ? KW : kwr;
  constexpr int kMax = KH > 0 ? KH * KW : 1;
  v8f reg[kMax];
  v8f* acc = KH > 0 ? reg : accOut;
  if (KH > 0)
    for (int t = 0; t < kMax; ++t) reg[t] = accOut[t];
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t q = 0; q < GS; q += 8) {
      const v8f gv = load8(g + oh * GS + q);
      const float* xr = xp + oh * S + q;
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) acc[i * kw + j] = fmadd8(gv, load8(xr + i * S + j), acc[i * kw + j]);
    }
  if (KH > 0)
    for (int t = 0; t < kMax; ++t) accOut[t] = reg[t];
}

}  // namespace

void conv_direct(int mode, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t kh, int64_t kw,
                 int64_t ph, int64_t pw, float* x, float* w, float* y) {
  const int64_t OH = H + 2 * ph - kh + 1, OW = W + 2 * pw - kw + 1;
  if (OH <= 0 || OW <= 0 || N <= 0) return;
  const int64_t L = OH * OW, HW = H * W, KK = kh * kw, K = C * KK;
  if (mode == 0) {
    // y[n, o] += Σ_{c, i, j} w[o, c, i, j] · xpad[n, c][oh + i, ow + j]: one image a task (its C padded
    // planes built once and read by every output channel).
    int64_t rows, S;
    padded_dims(OH, OW, kh, kw, rows, S);
    const int64_t ps = rows * S;
    parallel_for(N, O * K * L, [&](int64_t b, int64_t e) {
      std::vector<float>& buf = t_conv_a;
      if (static_cast<int64_t>(buf.size()) < C * ps) buf.resize(C * ps);
      for (int64_t n = b; n < e; ++n) {
        for (int64_t c = 0; c < C; ++c) pad_plane(x + (n * C + c) * HW, H, W, buf.data() + c * ps, rows, S, ph, pw);
        for (int64_t o = 0; o < O; ++o) correlate(buf.data(), C, ps, S, w + o * K, kh, kw, y + (n * O + o) * L, OH, OW);
      }
    });
  } else if (mode == 1) {
    // x[n, c][ih, iw] += Σ_{o, i', j'} w[o, c, kh−1−i', kw−1−j'] · dYpad[n, o][ih + i', iw + j'] with dY
    // placed at (kh−1−ph, kw−1−pw): the adjoint as a correlation with the flipped kernel, one image a task.
    int64_t rows, S;
    padded_dims(H, W, kh, kw, rows, S);
    const int64_t ps = rows * S;
    parallel_for(N, O * K * L, [&](int64_t b, int64_t e) {
      std::vector<float>& buf = t_conv_a;
      std::vector<float>& wf = t_conv_b;
      if (static_cast<int64_t>(buf.size()) < O * ps) buf.resize(O * ps);
      if (static_cast<int64_t>(wf.size()) < O * KK) wf.resize(O * KK);
      for (int64_t n = b; n < e; ++n) {
        for (int64_t o = 0; o < O; ++o) pad_plane(y + (n * O + o) * L, OH, OW, buf.data() + o * ps, rows, S, kh - 1 - ph, kw - 1 - pw);
        for (int64_t c = 0; c < C; ++c) {
          for (int64_t o = 0; o < O; ++o)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) wf[o * KK + i * kw + j] = w[o * K + c * KK + (kh - 1 - i) * kw + (kw - 1 - j)];
          correlate(buf.data(), O, ps, S, wf.data(), kh, kw, x + (n * C + c) * HW, H, W);
        }
      }
    });
  } else {
    // w[o, c, i, j] = Σ_{n, oh, ow} dY[n, o][oh, ow] · xpad[n, c][oh + i, ow + j]: one (o, c) pair a task,
    // all kh·kw taps accumulated together in 8 fixed float lanes (dY rows padded with zeros to a multiple
    // of 8 columns), lanes added in a fixed order at the end.
    int64_t rows, S;
    padded_dims(OH, OW, kh, kw, rows, S);
    const int64_t ps = rows * S, GS = (OW + 7) / 8 * 8;
    parallel_for(O * C, N * KK * L, [&](int64_t b, int64_t e) {
      std::vector<float>& buf = t_conv_a;
      std::vector<float>& gbuf = t_conv_b;
      if (static_cast<int64_t>(buf.size()) < ps) buf.resize(ps);
      if (static_cast<int64_t>(gbuf.size()) < OH * GS) gbuf.resize(OH * GS);
      std::vector<v8f> acc(static_cast<size_t>(KK));
      for (int64_t oc = b; oc < e; ++oc) {
        const int64_t o = oc / C, c = oc % C;
        for (auto& a : acc) a = splat8(0.0f);
        for (int64_t n = 0; n < N; ++n) {
          pad_plane(x + (n * C + c) * HW, H, W, buf.data(), rows, S, ph, pw);
          pad_plane(y + (n * O + o) * L, OH, OW, gbuf.data(), OH, GS, 0, 0);
          if (kh == 3 && kw == 3) weight_grad_rows<3, 3>(gbuf.data(), GS, buf.data(), S, OH, acc.data());
          else weight_grad_rows<0, 0>(gbuf.data(), GS, buf.data(), S, OH, acc.data(), kh, kw);
        }
        for (int64_t t = 0; t < KK; ++t) {
          const v8f a = acc[t];
          w[o * K + c * KK + t] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        }
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Row broadcast and the unit-norm decoder constraint (SAE training: W_dec [H, d], one latent a row)
// ---------------------------------------------------------------------------------------------

void row_combine(const float* coef, const float* W, int64_t rows, int64_t cols, float* out) {
  // The rows are cut into a fixed number of contiguous chunks (set by the size alone, not the thread
  // count); each chunk's partial sum is accumulated over its rows in increasing order and the partials
  // are added in chunk order, so the result does not depend on the thread count. Contiguous rows
  // stream from memory at full speed (a split by columns read each row in strided pieces: 20% slower).
  // Rows with a zero coefficient are skipped (an SAE's inactive latents), so only rows that count are read.
  constexpr int64_t kChunkRows = 512;
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(16, (rows + kChunkRows - 1) / kChunkRows));
  static thread_local std::vector<float> partial;
  if (static_cast<int64_t>(partial.size()) < chunks * cols) partial.resize(chunks * cols);
  float* part = partial.data();
  parallel_for(chunks, rows / chunks * cols, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      float* acc = part + q * cols;
      std::memset(acc, 0, cols * sizeof(float));
      const int64_t r0 = rows * q / chunks, r1 = rows * (q + 1) / chunks;
      for (int64_t r = r0; r < r1; ++r) {
        const float cr = coef[r];
        if (cr == 0.0f) continue;
        const v8f cv = splat8(cr);
        const float* wr = W + r * cols;
        int64_t j = 0;
        for (; j + 8 <= cols; j += 8) store8(acc + j, load8(acc + j) + cv * load8(wr + j));
        for (; j < cols; ++j) acc[j] += cr * wr[j];
      }
    }
  });
  std::memcpy(out, part, cols * sizeof(float));
  for (int64_t q = 1; q < chunks; ++q) {
    const float* p = part + q * cols;
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) store8(out + j, load8(out + j) + load8(p + j));
    for (; j < cols; ++j) out[j] += p[j];
  }
}

void broadcast_rows(const float* row, int64_t cols, int64_t rows, float* out) {
  parallel_for(rows, cols, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) std::memcpy(out + r * cols, row, cols * sizeof(float));
  });
}

namespace {

/// ⟨g, w⟩ and ‖w‖² of one row in double with 8 fixed lanes (the lane order is fixed, so the result
/// depends only on the data; products of two floats are exact in double, as in dsum).
inline void dot_and_sq(const float* g, const float* w, int64_t n, double* gw, double* ww) {
  v4d p0 = {0, 0, 0, 0}, p1 = p0, q0 = p0, q1 = p0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v4d wl = __builtin_convertvector(load4(w + i), v4d), wh = __builtin_convertvector(load4(w + i + 4), v4d);
    const v4d gl = __builtin_convertvector(load4(g + i), v4d), gh = __builtin_convertvector(load4(g + i + 4), v4d);
    p0 += gl * wl;
    p1 += gh * wh;
    q0 += wl * wl;
    q1 += wh * wh;
  }
  double tp = 0.0, tq = 0.0;
  for (; i < n; ++i) {
    tp += static_cast<double>(g[i]) * w[i];
    tq += static_cast<double>(w[i]) * w[i];
  }
  const v4d p = p0 + p1, q = q0 + q1;
  *gw = ((p[0] + p[1]) + (p[2] + p[3])) + tp;
  *ww = ((q[0] + q[1]) + (q[2] + q[3])) + tq;
}

}  // namespace

void remove_parallel_rows(float* g, const float* w, int64_t rows, int64_t cols) {
  // g_i ← g_i − (⟨g_i, w_i⟩ / ‖w_i‖²) w_i per row; each element's update is the double expression
  // g − c·w rounded once to float (the JS backend's formula; ISO C++ does not contract it into an
  // FMA). Rows of w with zero norm are left alone. One thread owns a row: thread-count independent.
  parallel_for(rows, 3 * cols, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* gr = g + r * cols;
      const float* wr = w + r * cols;
      double gw, ww;
      dot_and_sq(gr, wr, cols, &gw, &ww);
      if (ww == 0.0) continue;
      const double c = gw / ww;
      const v4d cv = {c, c, c, c};
      int64_t i = 0;
      for (; i + 4 <= cols; i += 4) {
        const v4d gv = __builtin_convertvector(load4(gr + i), v4d), wv = __builtin_convertvector(load4(wr + i), v4d);
        const v4f o = __builtin_convertvector(gv - cv * wv, v4f);
        std::memcpy(gr + i, &o, sizeof o);
      }
      for (; i < cols; ++i) gr[i] = static_cast<float>(static_cast<double>(gr[i]) - c * static_cast<double>(wr[i]));
    }
  });
}

void scale_rows(const float* coef, const float* x, int64_t rows, int64_t cols, float* out, bool accumulate) {
  // One thread owns a row: thread-count independent. (A norm's backward: one pass over x and out.)
  parallel_for(rows, 2 * cols, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* o = out + r * cols;
      const double c = coef[r];
      const v4d cv = {c, c, c, c};
      int64_t i = 0;
      if (accumulate) {
        for (; i + 4 <= cols; i += 4) {
          const v4f v = __builtin_convertvector(__builtin_convertvector(load4(o + i), v4d) + cv * __builtin_convertvector(load4(xr + i), v4d), v4f);
          std::memcpy(o + i, &v, sizeof v);
        }
        for (; i < cols; ++i) o[i] = static_cast<float>(static_cast<double>(o[i]) + c * static_cast<double>(xr[i]));
      } else {
        for (; i + 4 <= cols; i += 4) {
          const v4f v = __builtin_convertvector(cv * __builtin_convertvector(load4(xr + i), v4d), v4f);
          std::memcpy(o + i, &v, sizeof v);
        }
        for (; i < cols; ++i) o[i] = static_cast<float>(c * static_cast<double>(xr[i]));
      }
    }
  });
}

void normalise_rows(float* w, int64_t rows, int64_t cols) {
  // w_i ← w_i · (1/√‖w_i‖²) with the norm in double and the product rounded once (as the JS backend);
  // zero rows stay zero. One thread owns a row: thread-count independent.
  parallel_for(rows, 2 * cols, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* wr = w + r * cols;
      const double s = dsum<true>(wr, cols);
      if (s == 0.0) continue;
      const double inv = 1.0 / std::sqrt(s);
      const v4d iv = {inv, inv, inv, inv};
      int64_t i = 0;
      for (; i + 4 <= cols; i += 4) {
        const v4f o = __builtin_convertvector(__builtin_convertvector(load4(wr + i), v4d) * iv, v4f);
        std::memcpy(wr + i, &o, sizeof o);
      }
      for (; i < cols; ++i) wr[i] = static_cast<float>(static_cast<double>(wr[i]) * inv);
    }
  });
}

}  // namespace aelab
