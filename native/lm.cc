// Decoder-only transformer kernels: fused causal attention (scores + mask + softmax, the pattern-value
// product and both backwards, batched over (batch, head) in one call), RMSNorm, rotary embeddings,
// tanh-GELU, SwiGLU and a fused row-wise cross-entropy.
//
// Determinism: attention work is split into (batch, kv-head) units; each unit runs single-threaded in
// a fixed order (the query heads of a kv group one after another, so the k/v gradients of a group are
// summed in head order) and owns its outputs. Elementwise and per-row kernels give every output to
// one thread. RMSNorm's weight gradient sums fixed 64-row chunks in double, then the chunks in order.
// Results are therefore bit-identical for any thread count.
//
// The attention products use a small register-tiled kernel (4 rows x 16 columns, FMA) on operands
// packed per unit into thread-local buffers, and skip work that is known to be zero: keys later than
// a query are never scored (causal), and the pattern-weighted products stop at the last nonzero
// pattern entry of a row (so a hooked, non-causal pattern is still handled exactly).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common.h"
#include "lm.h"
#include "vmath.h"

namespace aelab {
namespace {

typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

inline v4f ld4(const float* p) {
  v4f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// Σ x[i]·y[i] (or Σ x[i]² when y == x) in double with 8 fixed lanes.
double ddot(const float* x, const float* y, int64_t n) {
  v4d a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 += __builtin_convertvector(ld4(x + i), v4d) * __builtin_convertvector(ld4(y + i), v4d);
    a1 += __builtin_convertvector(ld4(x + i + 4), v4d) * __builtin_convertvector(ld4(y + i + 4), v4d);
  }
  double t = 0.0;
  for (; i < n; ++i) t += static_cast<double>(x[i]) * y[i];
  const v4d s = a0 + a1;
  return ((s[0] + s[1]) + (s[2] + s[3])) + t;
}

double dsum(const float* x, int64_t n) {
  v4d a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 += __builtin_convertvector(ld4(x + i), v4d);
    a1 += __builtin_convertvector(ld4(x + i + 4), v4d);
  }
  double t = 0.0;
  for (; i < n; ++i) t += x[i];
  const v4d s = a0 + a1;
  return ((s[0] + s[1]) + (s[2] + s[3])) + t;
}

/// A thread-local scratch buffer that only grows.
struct Scratch {
  std::vector<float> v;
  float* get(size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
  }
};
thread_local Scratch t_b, t_s, t_q;
thread_local std::vector<int64_t> t_nz;

constexpr int64_t kNR = 16;
inline int64_t pad16(int64_t n) { return (n + kNR - 1) / kNR * kNR; }

/// Packs B [K, N] (row stride ldb_in) into dst [K, pad16(N)], zero padded.
void pack_rows(const float* B, int64_t K, int64_t N, int64_t ldb_in, float* dst) {
  const int64_t np = pad16(N);
  for (int64_t p = 0; p < K; ++p) {
    std::memcpy(dst + p * np, B + p * ldb_in, static_cast<size_t>(N) * sizeof(float));
    std::memset(dst + p * np + N, 0, static_cast<size_t>(np - N) * sizeof(float));
  }
}
/// Packs the transpose of X [N, K] (row stride K) into dst [K, pad16(N)], zero padded.
void pack_trans(const float* X, int64_t N, int64_t K, float* dst) {
  const int64_t np = pad16(N);
  for (int64_t p = 0; p < K; ++p) {
    float* d = dst + p * np;
    for (int64_t j = 0; j < N; ++j) d[j] = X[j * K + p];
    for (int64_t j = N; j < np; ++j) d[j] = 0.0f;
  }
}

struct Block {
  int64_t p0, p1, n;  // inner range [p0, p1) and columns [0, n) of a 4-row block
};

/**
 * C[i, j] = alpha · Σ_{p ∈ [p0, p1)} A(i, p) Bp[p, j] (+ C[i, j] when acc) for i < M, j < blk.n, where
 * blk = range(i0, mr) for the 4-row block starting at i0 (mr rows). A(i, p) = A[i·lda + p], or
 * A[p·lda + i] when TA. Bp is [K, ldb] with ldb a multiple of 16 (columns past N zero).
 */
template <bool TA, class R>
void tile_mm(int64_t M, const float* A, int64_t lda, const float* Bp, int64_t ldb, float* C, int64_t ldc,
             float alpha, bool acc, R range) {
  for (int64_t i0 = 0; i0 < M; i0 += 4) {
    const int mr = static_cast<int>(std::min<int64_t>(4, M - i0));
    const Block blk = range(i0, mr);
    const int64_t r1 = i0 + (mr > 1 ? 1 : 0), r2 = i0 + (mr > 2 ? 2 : 0), r3 = i0 + (mr > 3 ? 3 : 0);
    for (int64_t j0 = 0; j0 < blk.n; j0 += kNR) {
      const v8f z = splat8(0.0f);
      v8f c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
      for (int64_t p = blk.p0; p < blk.p1; ++p) {
        const float* b = Bp + p * ldb + j0;
        const v8f b0 = load8(b), b1 = load8(b + 8);
        float a0, a1, a2, a3;
        if (TA) {
          const float* a = A + p * lda;
          a0 = a[i0]; a1 = a[r1]; a2 = a[r2]; a3 = a[r3];
        } else {
          a0 = A[i0 * lda + p]; a1 = A[r1 * lda + p]; a2 = A[r2 * lda + p]; a3 = A[r3 * lda + p];
        }
        const v8f s0 = splat8(a0), s1 = splat8(a1), s2 = splat8(a2), s3 = splat8(a3);
        c00 = fmadd8(s0, b0, c00); c01 = fmadd8(s0, b1, c01);
        c10 = fmadd8(s1, b0, c10); c11 = fmadd8(s1, b1, c11);
        c20 = fmadd8(s2, b0, c20); c21 = fmadd8(s2, b1, c21);
        c30 = fmadd8(s3, b0, c30); c31 = fmadd8(s3, b1, c31);
      }
      float tile[4][16];
      store8(tile[0], c00); store8(tile[0] + 8, c01);
      store8(tile[1], c10); store8(tile[1] + 8, c11);
      store8(tile[2], c20); store8(tile[2] + 8, c21);
      store8(tile[3], c30); store8(tile[3] + 8, c31);
      const int nr = static_cast<int>(std::min<int64_t>(kNR, blk.n - j0));
      for (int r = 0; r < mr; ++r) {
        float* c = C + (i0 + r) * ldc + j0;
        if (acc)
          for (int j = 0; j < nr; ++j) c[j] += alpha * tile[r][j];
        else
          for (int j = 0; j < nr; ++j) c[j] = alpha * tile[r][j];
      }
    }
  }
}

/// Index of the last nonzero entry of x[0..n) (NaN counts as nonzero), or -1.
inline int64_t last_nonzero(const float* x, int64_t n) {
  int64_t j = n - 1;
  while (j >= 0 && x[j] == 0.0f) --j;
  return j;
}

template <class F>
void for_units(const AttnDims& d, F body) {
  const int64_t units = d.B * d.Hkv;
  const int64_t cost = std::max<int64_t>(1, (d.H / d.Hkv) * d.T * d.S * std::max<int64_t>(d.dh, 8));
  parallel_for(units, cost, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) body(u / d.Hkv, u % d.Hkv);
  });
}

}  // namespace

void attn_pattern(const float* q, const float* k, const AttnDims& d, float scale, const int32_t* keyMask, float* P) {
  const int64_t group = d.H / d.Hkv, S = d.S, T = d.T, dh = d.dh, off = d.off, Sp = pad16(S);
  const float ninf = -std::numeric_limits<float>::infinity();
  for_units(d, [&](int64_t b, int64_t kv) {
    float* kt = t_b.get(static_cast<size_t>(dh * Sp));
    pack_trans(k + (b * d.Hkv + kv) * d.Smax * dh, S, dh, kt);
    const int32_t* km = keyMask ? keyMask + b * S : nullptr;
    for (int64_t g = 0; g < group; ++g) {
      const int64_t h = kv * group + g;
      const float* Q = q + (b * d.H + h) * T * dh;
      float* Pb = P + (b * d.H + h) * T * S;
      tile_mm<false>(T, Q, dh, kt, Sp, Pb, S, scale, false, [&](int64_t i0, int mr) {
        return Block{0, dh, std::min(S, off + i0 + mr)};
      });
      for (int64_t t = 0; t < T; ++t) {
        float* row = Pb + t * S;
        // off >= S - 1 (bidirectional encoders): every query sees all S keys.
        const int64_t qpos = off + t, n = std::min(S, qpos + 1);
        if (km && km[qpos] == 0) {  // a padding query sees only itself (keyMask implies off + T <= S)
          std::fill(row, row + S, 0.0f);
          row[qpos] = 1.0f;
          continue;
        }
        if (km)
          for (int64_t s = 0; s < n; ++s)
            if (km[s] == 0) row[s] = ninf;
        float m = ninf;
        for (int64_t s = 0; s < n; ++s) m = row[s] > m ? row[s] : m;
        const v8f mv = splat8(m);
        vmap(row, row, n, [&](v8f v) { return vexp(v - mv); });
        const float inv = static_cast<float>(1.0 / dsum(row, n));
        const v8f iv = splat8(inv);
        vmap(row, row, n, [&](v8f v) { return v * iv; });
        std::fill(row + n, row + S, 0.0f);
      }
    }
  });
}

void attn_pattern_grad(const float* P, const float* gP, const float* q, const float* k, const AttnDims& d,
                       float scale, float* gq, float* gk) {
  const int64_t group = d.H / d.Hkv, S = d.S, T = d.T, dh = d.dh, off = d.off, dhp = pad16(dh);
  for_units(d, [&](int64_t b, int64_t kv) {
    const float* Kb = k + (b * d.Hkv + kv) * d.Smax * dh;
    float* gkb = gk ? gk + (b * d.Hkv + kv) * d.Smax * dh : nullptr;
    float* kp = nullptr;
    if (gq) {
      kp = t_b.get(static_cast<size_t>(S * dhp));
      pack_rows(Kb, S, dh, dh, kp);
    }
    if (gkb) std::fill(gkb, gkb + d.Smax * dh, 0.0f);
    float* dS = t_s.get(static_cast<size_t>(T * S));
    float* qp = gkb ? t_q.get(static_cast<size_t>(T * dhp)) : nullptr;
    for (int64_t g = 0; g < group; ++g) {
      const int64_t h = kv * group + g;
      const float* Pb = P + (b * d.H + h) * T * S;
      const float* Gb = gP + (b * d.H + h) * T * S;
      // dS = P ⊙ (dP − Σ_s dP P) · scale over the keys a query can see (P is 0 past it).
      for (int64_t t = 0; t < T; ++t) {
        const int64_t n = std::min(S, off + t + 1);
        const float* pr = Pb + t * S;
        const float* gr = Gb + t * S;
        float* dr = dS + t * S;
        const float dot = static_cast<float>(ddot(gr, pr, n));
        for (int64_t s = 0; s < n; ++s) dr[s] = pr[s] * (gr[s] - dot) * scale;
        // The 4-row blocks below may read up to 3 entries past a row's last visible key.
        for (int64_t s = n; s < std::min(S, n + 3); ++s) dr[s] = 0.0f;
      }
      if (gq) {
        tile_mm<false>(T, dS, S, kp, dhp, gq + (b * d.H + h) * T * dh, dh, 1.0f, false, [&](int64_t i0, int mr) {
          return Block{0, std::min(S, off + i0 + mr), dh};
        });
      }
      if (gkb) {
        pack_rows(q + (b * d.H + h) * T * dh, T, dh, dh, qp);
        // dk[s] += Σ_t dS[t, s] q[t]; key s is visible from queries t >= s − off.
        tile_mm<true>(S, dS, S, qp, dhp, gkb, dh, 1.0f, true, [&](int64_t i0, int) {
          return Block{std::max<int64_t>(0, i0 - off), T, dh};
        });
      }
    }
  });
}

void attn_mix(const float* P, const float* v, const AttnDims& d, float* z) {
  const int64_t group = d.H / d.Hkv, S = d.S, T = d.T, dh = d.dh, dhp = pad16(dh);
  for_units(d, [&](int64_t b, int64_t kv) {
    float* vp = t_b.get(static_cast<size_t>(S * dhp));
    pack_rows(v + (b * d.Hkv + kv) * d.Smax * dh, S, dh, dh, vp);
    std::vector<int64_t>& nz = t_nz;
    nz.resize(static_cast<size_t>(T));
    for (int64_t g = 0; g < group; ++g) {
      const int64_t h = kv * group + g;
      const float* Pb = P + (b * d.H + h) * T * S;
      for (int64_t t = 0; t < T; ++t) nz[t] = last_nonzero(Pb + t * S, S);
      tile_mm<false>(T, Pb, S, vp, dhp, z + (b * d.H + h) * T * dh, dh, 1.0f, false, [&](int64_t i0, int mr) {
        int64_t hi = -1;
        for (int r = 0; r < mr; ++r) hi = std::max(hi, nz[i0 + r]);
        return Block{0, hi + 1, dh};
      });
    }
  });
}

void attn_mix_grad(const float* P, const float* gz, const float* v, const AttnDims& d, float* gP, float* gv) {
  const int64_t group = d.H / d.Hkv, S = d.S, T = d.T, dh = d.dh, dhp = pad16(dh), Sp = pad16(S);
  for_units(d, [&](int64_t b, int64_t kv) {
    const float* Vb = v + (b * d.Hkv + kv) * d.Smax * dh;
    float* gvb = gv ? gv + (b * d.Hkv + kv) * d.Smax * dh : nullptr;
    float* vt = nullptr;
    if (gP) {
      vt = t_b.get(static_cast<size_t>(dh * Sp));
      pack_trans(Vb, S, dh, vt);
    }
    if (gvb) std::fill(gvb, gvb + d.Smax * dh, 0.0f);
    float* gp = gvb ? t_q.get(static_cast<size_t>(T * dhp)) : nullptr;
    std::vector<int64_t>& nz = t_nz;
    nz.resize(static_cast<size_t>(T));
    for (int64_t g = 0; g < group; ++g) {
      const int64_t h = kv * group + g;
      const float* Pb = P + (b * d.H + h) * T * S;
      const float* Gb = gz + (b * d.H + h) * T * dh;
      if (gP) {
        tile_mm<false>(T, Gb, dh, vt, Sp, gP + (b * d.H + h) * T * S, S, 1.0f, false, [&](int64_t, int) {
          return Block{0, dh, S};
        });
      }
      if (gvb) {
        pack_rows(Gb, T, dh, dh, gp);
        // Prefix maxima of each row's last nonzero column: rows before the first t with
        // pm[t] >= s0 have no nonzero entry in columns >= s0.
        int64_t m = -1;
        for (int64_t t = 0; t < T; ++t) {
          m = std::max(m, last_nonzero(Pb + t * S, S));
          nz[t] = m;
        }
        int64_t t0 = 0;
        tile_mm<true>(S, Pb, S, gp, dhp, gvb, dh, 1.0f, true, [&](int64_t i0, int) {
          while (t0 < T && nz[t0] < i0) ++t0;
          return Block{t0, T, dh};
        });
      }
    }
  });
}

void rms_norm(const float* x, int64_t rows, int64_t D, const float* w, float eps, float* out, float* rstd) {
  parallel_for(rows, D * 3, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * D;
      const double ss = ddot(xr, xr, D);
      const float ri = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(D) + static_cast<double>(eps)));
      rstd[r] = ri;
      float* yr = out + r * D;
      for (int64_t j = 0; j < D; ++j) yr[j] = xr[j] * ri * w[j];
    }
  });
}

void rms_norm_grad(const float* x, const float* gy, const float* rstd, const float* w, int64_t rows, int64_t D,
                   float* gx, float* gw) {
  if (gx) {
    parallel_for(rows, D * 4, [&](int64_t b, int64_t e) {
      std::vector<float> wg(static_cast<size_t>(D));
      for (int64_t r = b; r < e; ++r) {
        const float* xr = x + r * D;
        const float* gr = gy + r * D;
        const float ri = rstd[r];
        for (int64_t j = 0; j < D; ++j) wg[j] = w[j] * gr[j];
        const double dot = ddot(wg.data(), xr, D);
        const float c = static_cast<float>(static_cast<double>(ri) * ri * ri * dot / static_cast<double>(D));
        float* o = gx + r * D;
        for (int64_t j = 0; j < D; ++j) o[j] = ri * wg[j] - xr[j] * c;
      }
    });
  }
  if (gw) {
    constexpr int64_t CH = 64;
    const int64_t chunks = (rows + CH - 1) / CH;
    std::vector<double> part(static_cast<size_t>(std::max<int64_t>(1, chunks) * D), 0.0);
    parallel_for(chunks, CH * D * 2, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        double* acc = part.data() + c * D;
        for (int64_t r = c * CH; r < std::min(rows, (c + 1) * CH); ++r) {
          const float* xr = x + r * D;
          const float* gr = gy + r * D;
          const double ri = rstd[r];
          for (int64_t j = 0; j < D; ++j) acc[j] += static_cast<double>(gr[j] * xr[j]) * ri;
        }
      }
    });
    for (int64_t j = 0; j < D; ++j) {
      double s = 0.0;
      for (int64_t c = 0; c < chunks; ++c) s += part[c * D + j];
      gw[j] = static_cast<float>(s);
    }
  }
}

void rotary(const float* x, const int32_t* pos, int64_t BT, int64_t H, int64_t dh, const float* cos,
            const float* sin, bool inverse, float* out) {
  const int64_t half = dh / 2;
  parallel_for(BT, H * dh * 2, [&](int64_t b, int64_t e) {
    for (int64_t bt = b; bt < e; ++bt) {
      const float* c = cos + static_cast<int64_t>(pos[bt]) * half;
      const float* sn = sin + static_cast<int64_t>(pos[bt]) * half;
      for (int64_t h = 0; h < H; ++h) {
        const float* src = x + (bt * H + h) * dh;
        float* dst = out + (bt * H + h) * dh;
        for (int64_t i = 0; i < half; ++i) {
          const float s = inverse ? -sn[i] : sn[i];
          const float a = src[i], bb = src[half + i];
          dst[i] = a * c[i] - bb * s;
          dst[half + i] = bb * c[i] + a * s;
        }
      }
    }
  });
}

namespace {
constexpr float kGeluC = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluA = 0.044715f;
}  // namespace

// With u = √(2/π)(x + 0.044715x³): ½(1 + tanh u) = σ(2u) and 1 − tanh²u = 4σ(2u)σ(−2u), which keeps
// full float precision in both tails (1 + tanh u cancels for large negative x).
void gelu_tanh(const float* x, int64_t n, float* out) {
  parallel_for((n + 7) / 8, 64, [&](int64_t b, int64_t e) {
    const int64_t lo = b * 8, hi = std::min(n, e * 8);
    vmap(x + lo, out + lo, hi - lo, [](v8f v) {
      const v8f u2 = splat8(2.0f * kGeluC) * (v + splat8(kGeluA) * v * v * v);
      return v * vsigmoid(u2);
    });
  });
}

void gelu_tanh_grad(const float* x, const float* gy, int64_t n, float* gx) {
  parallel_for((n + 7) / 8, 80, [&](int64_t b, int64_t e) {
    const int64_t lo = b * 8, hi = std::min(n, e * 8);
    vmap2(x + lo, gy + lo, gx + lo, hi - lo, [](v8f v, v8f g) {
      const v8f v2 = v * v;
      const v8f u2 = splat8(2.0f * kGeluC) * (v + splat8(kGeluA) * v2 * v);
      const v8f sp = vsigmoid(u2), sm = vsigmoid(-u2);
      const v8f d = sp + splat8(2.0f * kGeluC) * v * sp * sm * (splat8(1.0f) + splat8(3.0f * kGeluA) * v2);
      return g * d;
    });
  });
}

void swiglu(const float* a, const float* u, int64_t n, float* out) {
  parallel_for((n + 7) / 8, 48, [&](int64_t b, int64_t e) {
    const int64_t lo = b * 8, hi = std::min(n, e * 8);
    vmap2(a + lo, u + lo, out + lo, hi - lo, [](v8f av, v8f uv) { return av * vsigmoid(av) * uv; });
  });
}

void swiglu_grad(const float* a, const float* u, const float* gy, int64_t n, float* ga, float* gu) {
  parallel_for((n + 7) / 8, 64, [&](int64_t b, int64_t e) {
    const int64_t lo = b * 8, hi = std::min(n, e * 8);
    if (ga) {
      // ga = g u s (1 + a (1 − s)), 8 at a time; the tail padded into one full vector.
      const auto f = [](v8f av, v8f uv, v8f g) {
        const v8f sg = vsigmoid(av), one = splat8(1.0f);
        return g * uv * sg * (one + av * (one - sg));
      };
      int64_t i = lo;
      for (; i + 8 <= hi; i += 8) store8(ga + i, f(load8(a + i), load8(u + i), load8(gy + i)));
      if (i < hi) {
        const int64_t m = hi - i;
        float ba[8] = {0}, bu[8] = {0}, bg[8] = {0};
        std::memcpy(ba, a + i, m * sizeof(float));
        std::memcpy(bu, u + i, m * sizeof(float));
        std::memcpy(bg, gy + i, m * sizeof(float));
        const v8f r = f(load8(ba), load8(bu), load8(bg));
        std::memcpy(ga + i, &r, m * sizeof(float));
      }
    }
    if (gu) vmap2(a + lo, gy + lo, gu + lo, hi - lo, [](v8f av, v8f g) { return g * (av * vsigmoid(av)); });
  });
}

void cross_entropy(const float* logits, int64_t rows, int64_t V, const int32_t* targets, float* loss, float* lse) {
  parallel_for(rows, V * 3, [&](int64_t b, int64_t e) {
    std::vector<float> buf(static_cast<size_t>(V));
    for (int64_t r = b; r < e; ++r) {
      const float* xr = logits + r * V;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < V; ++j) m = xr[j] > m ? xr[j] : m;
      const v8f mv = splat8(m);
      vmap(xr, buf.data(), V, [&](v8f v) { return vexp(v - mv); });
      const double l = static_cast<double>(m) + std::log(dsum(buf.data(), V));
      lse[r] = static_cast<float>(l);
      const int32_t t = targets[r];
      loss[r] = t < 0 ? 0.0f : static_cast<float>(l - static_cast<double>(xr[t]));
    }
  });
}

void cross_entropy_grad(const float* logits, const float* lse, const int32_t* targets, int64_t rows, int64_t V,
                        float scale, float* gx) {
  parallel_for(rows, V * 2, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* o = gx + r * V;
      const int32_t t = targets[r];
      if (t < 0) {
        std::fill(o, o + V, 0.0f);
        continue;
      }
      const v8f lv = splat8(lse[r]), sv = splat8(scale);
      vmap(logits + r * V, o, V, [&](v8f v) { return vexp(v - lv) * sv; });
      o[t] -= scale;
    }
  });
}

}  // namespace aelab
