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
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common.h"

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
  if (inner == 1) {  // reduce along contiguous rows
    parallel_for(outer, n, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const float* r = x + o * n;
        if (isMax || isMin) {
          float acc = r[0];
          if (isMax) for (int64_t i = 1; i < n; ++i) acc = nan_max(acc, r[i]);
          else for (int64_t i = 1; i < n; ++i) acc = nan_min(acc, r[i]);
          out[o] = acc;
        } else {
          const double s = op == R_SUMSQ ? dsum<true>(r, n) : dsum<false>(r, n);
          out[o] = static_cast<float>(op == R_MEAN ? s / static_cast<double>(n) : s);
        }
      }
    });
    return;
  }
  // inner > 1: reduce across rows of an [n, inner] slab; tasks are (outer, block of columns).
  constexpr int64_t BW = 256;
  const int64_t blocks = (inner + BW - 1) / BW;
  parallel_for(outer * blocks, n * BW, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / blocks, j0 = (t % blocks) * BW, w = std::min(BW, inner - j0);
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
        for (int64_t i = 0; i < n; ++i) {
          const float* r = base + i * inner;
          if (op == R_SUMSQ) for (int64_t j = 0; j < w; ++j) acc[j] += static_cast<double>(r[j]) * r[j];
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

void softmax(const float* x, int64_t rows, int64_t cols, float* out, bool log) {
  if (cols <= 0) return;
  parallel_for(rows, cols * 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* yr = out + r * cols;
      // Subtracting the row max keeps every exponent <= 0 (no overflow).
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < cols; ++j) m = xr[j] > m ? xr[j] : m;
      double s = 0.0;
      if (log) {
        for (int64_t j = 0; j < cols; ++j) s += std::exp(xr[j] - m);
        const float lse = static_cast<float>(std::log(s));
        for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - m) - lse;
      } else {
        for (int64_t j = 0; j < cols; ++j) {
          const float ev = std::exp(xr[j] - m);
          yr[j] = ev;
          s += ev;
        }
        const float inv = static_cast<float>(1.0 / s);
        for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
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
        for (int64_t j = 0; j < cols; ++j) s += gr[j];
        const float sf = static_cast<float>(s);
        for (int64_t j = 0; j < cols; ++j) dr[j] = gr[j] - std::exp(yr[j]) * sf;
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

/// Strict ranking used by top-k: higher value first, NaN last, then lower index first.
inline bool ranks_above(float a, int32_t ia, float b, int32_t ib) {
  if (beats(a, b)) return true;
  if (beats(b, a)) return false;
  return ia < ib;  // equal values, or both NaN
}

/// Restores the heap property below position i of a heap whose root is the lowest-ranked entry.
inline void sift_down(float* v, int32_t* id, int64_t k, int64_t i) {
  const float fv = v[i];
  const int32_t fi = id[i];
  for (;;) {
    int64_t c = 2 * i + 1;
    if (c >= k) break;
    if (c + 1 < k && ranks_above(v[c], id[c], v[c + 1], id[c + 1])) ++c;  // the lower-ranked child
    if (!ranks_above(fv, fi, v[c], id[c])) break;
    v[i] = v[c];
    id[i] = id[c];
    i = c;
  }
  v[i] = fv;
  id[i] = fi;
}

}  // namespace

void topk(const float* x, int64_t rows, int64_t cols, int64_t k, float* vals, int32_t* idx) {
  if (k <= 0) return;
  parallel_for(rows, cols, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * cols;
      float* hv = vals + r * k;  // the output row doubles as the heap: no allocation
      int32_t* hi = idx + r * k;
      for (int64_t j = 0; j < k; ++j) {
        hv[j] = xr[j];
        hi[j] = static_cast<int32_t>(j);
      }
      for (int64_t i = k / 2 - 1; i >= 0; --i) sift_down(hv, hi, k, i);
      // Later columns have higher indices, so only a strictly better value (or a number against a
      // NaN root) can displace the lowest-ranked entry kept so far.
      for (int64_t j = k; j < cols; ++j) {
        const float v = xr[j];
        if (beats(v, hv[0])) {
          hv[0] = v;
          hi[0] = static_cast<int32_t>(j);
          sift_down(hv, hi, k, 0);
        }
      }
      // Heap sort: moving the lowest-ranked root to the end leaves the row sorted best-first.
      for (int64_t n = k - 1; n > 0; --n) {
        std::swap(hv[0], hv[n]);
        std::swap(hi[0], hi[n]);
        sift_down(hv, hi, n, 0);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Gather / scatter (indices validated by the caller)
// ---------------------------------------------------------------------------------------------

void gather_rows(const float* src, int64_t cols, const int32_t* idx, int64_t nidx, float* out) {
  parallel_for(nidx, cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(out + i * cols, src + idx[i] * cols, cols * sizeof(float));
  });
}

void scatter_add_rows(const float* src, int64_t cols, const int32_t* idx, int64_t nidx, float* out) {
  // Threads own column ranges, so repeated destination rows never race and every element adds its
  // contributions in index order.
  parallel_for(cols, nidx, [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < nidx; ++i) {
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

void im2col(const float* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
            int64_t ph, int64_t pw, int64_t dh, int64_t dw, float* out) {
  const int64_t OH = conv_out(H, kh, sh, ph, dh), OW = conv_out(W, kw, sw, pw, dw);
  if (OH <= 0 || OW <= 0) return;
  parallel_for(C * kh * kw, OH * OW, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t c = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw;
      float* o = out + row * OH * OW;
      const float* xc = x + c * H * W;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t ih = oh * sh - ph + ki * dh;
        float* orow = o + oh * OW;
        if (ih < 0 || ih >= H) {
          for (int64_t ow = 0; ow < OW; ++ow) orow[ow] = 0.0f;
          continue;
        }
        const float* xrow = xc + ih * W;
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t iw = ow * sw - pw + kj * dw;
          orow[ow] = (iw >= 0 && iw < W) ? xrow[iw] : 0.0f;
        }
      }
    }
  });
}

void col2im(const float* cols, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
            int64_t ph, int64_t pw, int64_t dh, int64_t dw, float* out) {
  const int64_t OH = conv_out(H, kh, sh, ph, dh), OW = conv_out(W, kw, sw, pw, dw);
  if (OH <= 0 || OW <= 0) return;
  // Channels are disjoint in the output, so threads split channels; within one, order is fixed.
  parallel_for(C, kh * kw * OH * OW, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      float* oc = out + c * H * W;
      for (int64_t ki = 0; ki < kh; ++ki)
        for (int64_t kj = 0; kj < kw; ++kj) {
          const float* src = cols + ((c * kh + ki) * kw + kj) * OH * OW;
          for (int64_t oh = 0; oh < OH; ++oh) {
            const int64_t ih = oh * sh - ph + ki * dh;
            if (ih < 0 || ih >= H) continue;
            float* orow = oc + ih * W;
            const float* srow = src + oh * OW;
            for (int64_t ow = 0; ow < OW; ++ow) {
              const int64_t iw = ow * sw - pw + kj * dw;
              if (iw >= 0 && iw < W) orow[iw] += srow[ow];
            }
          }
        }
    }
  });
}

}  // namespace aelab
