// 8-wide float helpers (GCC vector extensions) and a vectorised exp.
//
// Determinism: every element goes through the same vector routine whatever its position in the
// array (tails are padded into a full vector), so results never depend on how a range is split
// between threads.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX__) || defined(__FMA__)
#include <immintrin.h>
#endif

namespace aelab {

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

inline v8f splat8(float x) { return v8f{x, x, x, x, x, x, x, x}; }
inline v8i splat8i(int32_t x) { return v8i{x, x, x, x, x, x, x, x}; }

/// a * b + c with one rounding where the CPU has FMA (ISO C++ mode does not contract a*b+c).
inline v8f fmadd8(v8f a, v8f b, v8f c) {
#if defined(__FMA__)
  return (v8f)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
  return a * b + c;
#endif
}

/// True when any lane of a comparison mask is set.
inline bool any8(v8i m) {
#if defined(__AVX__)
  return _mm256_movemask_ps((__m256)m) != 0;
#else
  return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5] | m[6] | m[7]) != 0;
#endif
}

/// Bit i set when lane i of a comparison mask is set.
inline unsigned movemask8(v8i m) {
#if defined(__AVX__)
  return static_cast<unsigned>(_mm256_movemask_ps((__m256)m));
#else
  unsigned r = 0;
  for (int i = 0; i < 8; ++i) r |= (m[i] != 0 ? 1u : 0u) << i;
  return r;
#endif
}

inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, v8f v) { std::memcpy(p, &v, sizeof v); }

/**
 * e^x for x in [-87, 88] (a caller patches other lanes with std::exp):
 * n = round(x log2 e), r = x - n ln2 (Cody-Waite two-part ln2, exact first product), then
 * e^r = 1 + r + r^2 P(r) with the degree-5 minimax P of the Cephes expf, and 2^n built in the exponent
 * bits. Max error about 1 ulp on this range.
 */
inline v8f vexp_core(v8f x) {
  const v8f magic = splat8(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const v8f t = fmadd8(x, splat8(1.44269504088896341f), magic);
  const v8f n = t - magic;
  v8f r = fmadd8(n, splat8(-0.693359375f), x);
  r = fmadd8(n, splat8(2.12194440e-4f), r);
  v8f p = splat8(1.9875691500e-4f);
  p = fmadd8(p, r, splat8(1.3981999507e-3f));
  p = fmadd8(p, r, splat8(8.3334519073e-3f));
  p = fmadd8(p, r, splat8(4.1665795894e-2f));
  p = fmadd8(p, r, splat8(1.6666665459e-1f));
  p = fmadd8(p, r, splat8(5.0000001201e-1f));
  const v8f e = fmadd8(r * r, p, r) + splat8(1.0f);
  const v8i ni = (v8i)t - (v8i)magic;  // the integer n from the mantissa bits of t
  const v8i scale = (ni + 127) << 23;
  return e * (v8f)scale;
}

/// e^x for every lane, IEEE-exact at the edges: lanes outside [-87, 88] or NaN use std::exp.
inline v8f vexp(v8f x) {
  const v8f lo = splat8(-87.0f), hi = splat8(88.0f);
  const v8i ok = (x >= lo) & (x <= hi);  // false for NaN
  const v8f xs = ok ? x : splat8(0.0f);
  v8f y = vexp_core(xs);
  // movemask: testing the eight lanes one by one compiled to eight extracts and halved the speed.
  if (__builtin_expect(movemask8(ok) != 0xFFu, 0)) {
    for (int i = 0; i < 8; ++i)
      if (!ok[i]) y[i] = std::exp(x[i]);
  }
  return y;
}

/// out[i] = f(x[i]) for a vector function f, with the tail padded into one full vector.
template <class F>
inline void vmap(const float* x, float* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) store8(out + i, f(load8(x + i)));
  if (i < n) {
    float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(buf, x + i, (n - i) * sizeof(float));
    const v8f y = f(load8(buf));
    std::memcpy(out + i, &y, (n - i) * sizeof(float));
  }
}

/// out[i] = f(a[i], b[i]) for a vector function f, tail padded like vmap.
template <class F>
inline void vmap2(const float* a, const float* b, float* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) store8(out + i, f(load8(a + i), load8(b + i)));
  if (i < n) {
    float ba[8] = {0, 0, 0, 0, 0, 0, 0, 0}, bb[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(ba, a + i, (n - i) * sizeof(float));
    std::memcpy(bb, b + i, (n - i) * sizeof(float));
    const v8f y = f(load8(ba), load8(bb));
    std::memcpy(out + i, &y, (n - i) * sizeof(float));
  }
}

/// Logistic sigmoid without overflow: e = e^-|x|, s = 1/(1+e), sigmoid = x >= 0 ? s : e s.
inline v8f vsigmoid(v8f x) {
  const v8f negabs = x < splat8(0.0f) ? x : -x;
  const v8f e = vexp(negabs);
  const v8f s = splat8(1.0f) / (splat8(1.0f) + e);
  return x >= splat8(0.0f) ? s : e * s;
}

/// log(1 + u) for u in [0, 1]: with s = u / (2 + u) in [0, 1/3], log1p(u) = 2 atanh(s)
/// = 2 (s + s^3/3 + ... + s^13/13) (truncation < 1e-8 relative); no cancellation for tiny u.
inline v8f vlog1p_unit(v8f u) {
  const v8f s = u / (splat8(2.0f) + u);
  const v8f s2 = s * s;
  v8f p = splat8(1.0f / 13.0f);
  p = fmadd8(p, s2, splat8(1.0f / 11.0f));
  p = fmadd8(p, s2, splat8(1.0f / 9.0f));
  p = fmadd8(p, s2, splat8(1.0f / 7.0f));
  p = fmadd8(p, s2, splat8(1.0f / 5.0f));
  p = fmadd8(p, s2, splat8(1.0f / 3.0f));
  return splat8(2.0f) * fmadd8(s * s2, p, s);
}

/// softplus(x) = max(x, 0) + log1p(e^-|x|), never overflowing; NaN stays NaN.
inline v8f vsoftplus(v8f x) {
  const v8f zero = splat8(0.0f);
  const v8f negabs = x < zero ? x : -x;
  const v8f pos = x > zero ? x : zero;
  const v8f r = pos + vlog1p_unit(vexp(negabs));
  return x != x ? x : r;
}

/// e^y - 1 for y <= 0: a Taylor polynomial to y^9 on [-0.5, 0] (no cancellation near 0, error
/// < 3e-10 relative there), e^y - 1 below.
inline v8f vexpm1_neg(v8f y) {
  v8f p = splat8(1.0f / 362880.0f);
  p = fmadd8(p, y, splat8(1.0f / 40320.0f));
  p = fmadd8(p, y, splat8(1.0f / 5040.0f));
  p = fmadd8(p, y, splat8(1.0f / 720.0f));
  p = fmadd8(p, y, splat8(1.0f / 120.0f));
  p = fmadd8(p, y, splat8(1.0f / 24.0f));
  p = fmadd8(p, y, splat8(1.0f / 6.0f));
  p = fmadd8(p, y, splat8(0.5f));
  const v8f small = fmadd8(y * y, p, y);
  const v8f big = vexp(y) - splat8(1.0f);
  return y >= splat8(-0.5f) ? small : big;
}

/// tanh(x) = sign(x) * (-m / (2 + m)), m = expm1(-2|x|) in (-1, 0]; the sign bit is copied so
/// tanh(-0) = -0, and NaN stays NaN.
inline v8f vtanh(v8f x) {
  const v8i signbit = (v8i)x & splat8i(static_cast<int32_t>(0x80000000u));
  const v8f ax = (v8f)((v8i)x ^ signbit);
  const v8f m = vexpm1_neg(splat8(-2.0f) * ax);
  const v8f t = -m / (splat8(2.0f) + m);
  return (v8f)((v8i)t | signbit);
}

/**
 * Standard normal CDF Φ(x) and density φ(x), 8 lanes:
 *   erfc(z) ~= t exp(-z^2 - 1.26551223 + t P(t)),  t = 1/(1 + z/2),  z = |x|/√2 >= 0
 * (the Chebyshev-fitted form of Numerical Recipes, relative error < 1.2e-7 for all z >= 0), and
 * Φ(x) = x >= 0 ? 1 - erfc(z)/2 : erfc(z)/2 so the left tail keeps its relative accuracy.
 * z^2 = x^2/2 is carried exactly as hi + lo (FMA) and e^-(z^2) is formed as e^(-hi/2) e^(-lo/2 + ...),
 * since rounding a large z^2 first would cost ~1e-6 relative in the tail.
 */
inline void vnormal(v8f x, v8f* cdf, v8f* pdf) {
  const v8f zero = splat8(0.0f);
  const v8f ax = x < zero ? -x : x;
  const v8f hi = ax * ax;
  v8f lo = fmadd8(ax, ax, -hi);               // x^2 = hi + lo exactly
  lo = ax < splat8(20.0f) ? lo : zero;        // lo is NaN for |x| = inf; erfc is 0 there anyway
  const v8f z = ax * splat8(0.70710678118654752f);
  const v8f t = splat8(1.0f) / (splat8(1.0f) + splat8(0.5f) * z);
  v8f p = splat8(0.17087277f);
  p = fmadd8(p, t, splat8(-0.82215223f));
  p = fmadd8(p, t, splat8(1.48851587f));
  p = fmadd8(p, t, splat8(-1.13520398f));
  p = fmadd8(p, t, splat8(0.27886807f));
  p = fmadd8(p, t, splat8(-0.18628806f));
  p = fmadd8(p, t, splat8(0.09678418f));
  p = fmadd8(p, t, splat8(0.37409196f));
  p = fmadd8(p, t, splat8(1.00002368f));
  p = fmadd8(p, t, splat8(-1.26551223f));
  // e^(-x^2/2) = e^(-hi/2) e^(-lo/2); |lo| <= ulp(hi)/2, so e^(-lo/2) = 1 - lo/2 to ~1e-13 and the
  // erfc factor takes -lo/2 inside its own exponent (p is O(1), so it keeps lo/2 to ~1e-7 absolute):
  // two exponentials instead of three.
  const v8f e = vexp(splat8(-0.5f) * hi);
  const v8f erfc = t * e * vexp(fmadd8(splat8(-0.5f), lo, p));
  const v8f half = splat8(0.5f) * erfc;
  *cdf = x >= zero ? splat8(1.0f) - half : half;
  *pdf = e * fmadd8(splat8(-0.5f), lo, splat8(1.0f)) * splat8(0.39894228040143267794f);
}

}  // namespace aelab
