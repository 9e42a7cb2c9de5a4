// Elementwise kernels: unary ops and their gradients, broadcasting binary ops, where/clamp/axpby/fill
// and the fused Adam update. All are split into contiguous ranges over the thread pool for large
// inputs; each output element depends only on its own inputs, so results never depend on the split.
//
// Precision: exp, sigmoid, tanh, softplus and gelu (+ grads) use the 8-wide routines of vmath.h (~1-3 ulp); the other
// transcendental functions use the float libm routines (< 1 ulp); scale/addScalar and axpby
// compute in double and round once, as the TypeScript backend does with JS numbers; Adam works in float32.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "vmath.h"

namespace aelab {
namespace {

/// pow with JavaScript's Math.pow edge cases: NaN exponent gives NaN, and (±1)^±Infinity is NaN
/// (C's powf returns 1 for both).
inline float js_powf(float a, float b) {
  if (b != b) return b;
  if (std::isinf(b) && std::fabs(a) == 1.0f) return NAN;
  return std::pow(a, b);
}
inline float signf(float x) { return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; }  // keeps ±0 and NaN

template <class F>
inline void map1(const float* x, float* out, int64_t n, int64_t cost, F f) {
  parallel_for(n, cost, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = f(x[i]);
  });
}

/// map1 for a vector function (see vmath.h: results do not depend on the split).
template <class F>
inline void vmap1(const float* x, float* out, int64_t n, int64_t cost, F f) {
  parallel_for(n, cost, [&](int64_t b, int64_t e) { vmap(x + b, out + b, e - b, f); });
}

}  // namespace

void unary(int op, const float* x, float* out, int64_t n, float param) {
  const double pd = param;
  switch (op) {
    case U_NEG: return map1(x, out, n, 1, [](float v) { return -v; });
    case U_EXP: return vmap1(x, out, n, 2, [](v8f v) { return vexp(v); });
    case U_LOG: return map1(x, out, n, 8, [](float v) { return std::log(v); });
    case U_SQRT: return map1(x, out, n, 2, [](float v) { return std::sqrt(v); });
    case U_RSQRT: return map1(x, out, n, 2, [](float v) { return 1.0f / std::sqrt(v); });
    case U_ABS: return map1(x, out, n, 1, [](float v) { return std::fabs(v); });
    case U_SIGN: return map1(x, out, n, 1, [](float v) { return signf(v); });
    case U_SQUARE: return map1(x, out, n, 1, [](float v) { return v * v; });
    case U_RECIP: return map1(x, out, n, 2, [](float v) { return 1.0f / v; });
    // relu keeps NaN (NaN < 0 is false).
    case U_RELU: return map1(x, out, n, 1, [](float v) { return v < 0.0f ? 0.0f : v; });
    case U_GELU:
      return vmap1(x, out, n, 4, [](v8f v) {
        v8f cdf, pdf;
        vnormal(v, &cdf, &pdf);
        return v * cdf;
      });
    case U_TANH: return vmap1(x, out, n, 4, [](v8f v) { return vtanh(v); });
    case U_SIGMOID: return vmap1(x, out, n, 3, [](v8f v) { return vsigmoid(v); });
    case U_SOFTPLUS: return vmap1(x, out, n, 4, [](v8f v) { return vsoftplus(v); });
    case U_SIN: return map1(x, out, n, 10, [](float v) { return std::sin(v); });
    case U_COS: return map1(x, out, n, 10, [](float v) { return std::cos(v); });
    case U_POW:
      if (param == 2.0f) return map1(x, out, n, 1, [](float v) { return v * v; });
      if (param == 1.0f) return map1(x, out, n, 1, [](float v) { return v; });
      return map1(x, out, n, 16, [param](float v) { return js_powf(v, param); });
    case U_SCALE: return map1(x, out, n, 1, [pd](float v) { return static_cast<float>(v * pd); });
    case U_ADDSCALAR: return map1(x, out, n, 1, [pd](float v) { return static_cast<float>(v + pd); });
    case U_LEAKYRELU: return map1(x, out, n, 1, [param](float v) { return v > 0.0f ? v : v * param; });
    default: return;
  }
}

namespace {
/// gx = (accumulate ? gx : 0) + gy * d(x, y), over the thread pool.
template <class D>
inline void grad1(const float* x, const float* y, const float* gy, float* gx, int64_t n, bool acc,
                  int64_t cost, D d) {
  if (acc) {
    parallel_for(n, cost, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) gx[i] += d(x[i], y[i], gy[i]);
    });
  } else {
    parallel_for(n, cost, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) gx[i] = d(x[i], y[i], gy[i]);
    });
  }
}
/// gx = (accumulate ? gx : 0) + gy * d(x) for a vector derivative d (tails padded as in vmap).
template <class D>
inline void vgrad(const float* x, const float* gy, float* gx, int64_t n, bool acc, int64_t cost, D d) {
  parallel_for(n, cost, [&](int64_t b, int64_t e) {
    auto body = [&](const float* xs, const float* gs, float* out, bool full, int64_t len) {
      v8f g = load8(gs) * d(load8(xs));
      if (acc) g = load8(out) + g;
      if (full) store8(out, g);
      else std::memcpy(out, &g, len * sizeof(float));
    };
    int64_t i = b;
    for (; i + 8 <= e; i += 8) body(x + i, gy + i, gx + i, true, 8);
    if (i < e) {
      float bx[8] = {0, 0, 0, 0, 0, 0, 0, 0}, bg[8] = {0, 0, 0, 0, 0, 0, 0, 0}, bo[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::memcpy(bx, x + i, (e - i) * sizeof(float));
      std::memcpy(bg, gy + i, (e - i) * sizeof(float));
      std::memcpy(bo, gx + i, (e - i) * sizeof(float));
      body(bx, bg, bo, true, 8);
      std::memcpy(gx + i, bo, (e - i) * sizeof(float));
    }
  });
}

}  // namespace

bool unary_grad(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n, bool acc,
                float p) {
  switch (op) {
    case U_NEG: grad1(x, y, gy, gx, n, acc, 1, [](float, float, float g) { return -g; }); return true;
    case U_EXP: grad1(x, y, gy, gx, n, acc, 1, [](float, float yv, float g) { return g * yv; }); return true;
    case U_LOG: grad1(x, y, gy, gx, n, acc, 2, [](float xv, float, float g) { return g / xv; }); return true;
    case U_SQRT:  // d sqrt(x) = 1 / (2 sqrt(x))
      grad1(x, y, gy, gx, n, acc, 2, [](float, float yv, float g) { return g * 0.5f / yv; }); return true;
    case U_RSQRT:  // d x^(-1/2) = -x^(-3/2) / 2 = -y^3 / 2
      grad1(x, y, gy, gx, n, acc, 1, [](float, float yv, float g) { return g * (-0.5f * yv * yv * yv); });
      return true;
    case U_ABS: grad1(x, y, gy, gx, n, acc, 1, [](float xv, float, float g) { return g * signf(xv); }); return true;
    case U_SQUARE: grad1(x, y, gy, gx, n, acc, 1, [](float xv, float, float g) { return g * 2.0f * xv; }); return true;
    case U_RECIP:  // d (1/x) = -1/x^2 = -y^2
      grad1(x, y, gy, gx, n, acc, 1, [](float, float yv, float g) { return -g * yv * yv; }); return true;
    case U_RELU: grad1(x, y, gy, gx, n, acc, 1, [](float xv, float, float g) { return xv > 0.0f ? g : 0.0f; }); return true;
    case U_GELU:  // d x Φ(x) = Φ(x) + x φ(x)
      vgrad(x, gy, gx, n, acc, 5, [](v8f v) {
        v8f cdf, pdf;
        vnormal(v, &cdf, &pdf);
        return cdf + v * pdf;
      });
      return true;
    case U_TANH: grad1(x, y, gy, gx, n, acc, 1, [](float, float yv, float g) { return g * (1.0f - yv * yv); }); return true;
    case U_SIGMOID:
      grad1(x, y, gy, gx, n, acc, 1, [](float, float yv, float g) { return g * yv * (1.0f - yv); }); return true;
    case U_SOFTPLUS:  // d log(1 + e^x) = sigmoid(x)
      vgrad(x, gy, gx, n, acc, 3, [](v8f v) { return vsigmoid(v); }); return true;
    case U_SIN: grad1(x, y, gy, gx, n, acc, 10, [](float xv, float, float g) { return g * std::cos(xv); }); return true;
    case U_COS: grad1(x, y, gy, gx, n, acc, 10, [](float xv, float, float g) { return -g * std::sin(xv); }); return true;
    case U_POW:  // d x^p = p x^(p-1); p = 0 has zero gradient everywhere (avoids 0 * inf at x = 0)
      if (p == 0.0f) {
        grad1(x, y, gy, gx, n, acc, 1, [](float, float, float) { return 0.0f; });
      } else if (p == 2.0f) {
        grad1(x, y, gy, gx, n, acc, 1, [](float xv, float, float g) { return g * 2.0f * xv; });
      } else {
        grad1(x, y, gy, gx, n, acc, 16, [p](float xv, float, float g) { return g * p * js_powf(xv, p - 1.0f); });
      }
      return true;
    case U_SCALE: grad1(x, y, gy, gx, n, acc, 1, [p](float, float, float g) { return g * p; }); return true;
    case U_ADDSCALAR: grad1(x, y, gy, gx, n, acc, 1, [](float, float, float g) { return g; }); return true;
    case U_LEAKYRELU:
      grad1(x, y, gy, gx, n, acc, 1, [p](float xv, float, float g) { return xv > 0.0f ? g : g * p; }); return true;
    default: return false;  // sign (zero gradient by contract) and unknown ops
  }
}

// ---------------------------------------------------------------------------------------------
// Broadcasting binary ops
// ---------------------------------------------------------------------------------------------
namespace {

template <int OP>
inline float bop(float a, float b) {
  if constexpr (OP == B_ADD) return a + b;
  else if constexpr (OP == B_SUB) return a - b;
  else if constexpr (OP == B_MUL) return a * b;
  else if constexpr (OP == B_DIV) return a / b;
  // max/min follow Math.max/Math.min: NaN if either is NaN, and max(-0, +0) = +0, min(-0, +0) = -0.
  else if constexpr (OP == B_MAX) return (a != a || b != b) ? a + b : a > b ? a : b > a ? b : std::signbit(a) ? b : a;
  else if constexpr (OP == B_MIN) return (a != a || b != b) ? a + b : a < b ? a : b < a ? b : std::signbit(a) ? a : b;
  else if constexpr (OP == B_POW) return js_powf(a, b);
  else if constexpr (OP == B_GT) return a > b ? 1.0f : 0.0f;
  else if constexpr (OP == B_GE) return a >= b ? 1.0f : 0.0f;
  else if constexpr (OP == B_LT) return a < b ? 1.0f : 0.0f;
  else if constexpr (OP == B_LE) return a <= b ? 1.0f : 0.0f;
  else return a == b ? 1.0f : 0.0f;
}

/// The innermost run of the broadcast: len elements with a and b strides of 0 or 1 (templated so
/// that each combination compiles to a plain vectorised loop).
template <int OP, int SA, int SB>
void seg(const float* a, const float* b, float* out, int64_t len) {
  if constexpr (SA == 0 && SB == 0) {
    const float v = bop<OP>(a[0], b[0]);
    for (int64_t i = 0; i < len; ++i) out[i] = v;
  } else if constexpr (SA == 0) {
    const float av = a[0];
    for (int64_t i = 0; i < len; ++i) out[i] = bop<OP>(av, b[i]);
  } else if constexpr (SB == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < len; ++i) out[i] = bop<OP>(a[i], bv);
  } else {
    for (int64_t i = 0; i < len; ++i) out[i] = bop<OP>(a[i], b[i]);
  }
}

using SegFn = void (*)(const float*, const float*, float*, int64_t);

template <int OP>
SegFn pick_seg(int64_t sa, int64_t sb) {
  if (sa == 0) return sb == 0 ? &seg<OP, 0, 0> : &seg<OP, 0, 1>;
  return sb == 0 ? &seg<OP, 1, 0> : &seg<OP, 1, 1>;
}

SegFn pick(int op, int64_t sa, int64_t sb) {
  switch (op) {
    case B_ADD: return pick_seg<B_ADD>(sa, sb);
    case B_SUB: return pick_seg<B_SUB>(sa, sb);
    case B_MUL: return pick_seg<B_MUL>(sa, sb);
    case B_DIV: return pick_seg<B_DIV>(sa, sb);
    case B_MAX: return pick_seg<B_MAX>(sa, sb);
    case B_MIN: return pick_seg<B_MIN>(sa, sb);
    case B_POW: return pick_seg<B_POW>(sa, sb);
    case B_GT: return pick_seg<B_GT>(sa, sb);
    case B_GE: return pick_seg<B_GE>(sa, sb);
    case B_LT: return pick_seg<B_LT>(sa, sb);
    case B_LE: return pick_seg<B_LE>(sa, sb);
    default: return pick_seg<B_EQ>(sa, sb);
  }
}

}  // namespace

void binary(int op, const float* a, const int64_t* aShape, const float* b, const int64_t* bShape, float* out,
            const int64_t* outShape, int rank) {
  // Strides (0 on broadcast axes), dropping axes of extent 1 and merging axes that are contiguous in
  // a, b and out alike, so that e.g. [M,N] + [1,N] becomes a single row-broadcast loop.
  int64_t dims[8], sa[8], sb[8];
  int r = 0;
  int64_t strideA = 1, strideB = 1, total = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int64_t n = outShape[d];
    total *= n;
    const int64_t ea = aShape[d] == 1 ? 0 : strideA, eb = bShape[d] == 1 ? 0 : strideB;
    strideA *= aShape[d];
    strideB *= bShape[d];
    if (n == 1) continue;
    if (r > 0 && sa[r - 1] * dims[r - 1] == ea && sb[r - 1] * dims[r - 1] == eb) {
      dims[r - 1] *= n;  // merges with the (inner) axis collected just before
    } else {
      dims[r] = n;
      sa[r] = ea;
      sb[r] = eb;
      ++r;
    }
  }
  if (total == 0) return;
  if (r == 0) {  // a single element
    dims[0] = 1;
    sa[0] = sb[0] = 1;
    r = 1;
  }
  // dims/sa/sb are innermost-first here.
  const int64_t inner = dims[0];
  const SegFn f = pick(op, sa[0], sb[0]);
  const int64_t cost = op == B_POW ? 16 : op == B_DIV ? 2 : 1;
  parallel_for(total, cost, [&](int64_t begin, int64_t end) {
    // Multi-index of `begin` over the collapsed axes.
    int64_t idx[8] = {0};
    int64_t rem = begin, oa = 0, ob = 0;
    for (int d = 0; d < r; ++d) {
      idx[d] = rem % dims[d];
      rem /= dims[d];
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    int64_t pos = begin;
    while (pos < end) {
      const int64_t len = std::min(inner - idx[0], end - pos);
      f(a + oa, b + ob, out + pos, len);
      pos += len;
      oa += len * sa[0];
      ob += len * sb[0];
      idx[0] += len;
      // Carry into the outer axes.
      for (int d = 0; d < r - 1 && idx[d] == dims[d]; ++d) {
        oa -= dims[d] * sa[d];
        ob -= dims[d] * sb[d];
        idx[d] = 0;
        ++idx[d + 1];
        oa += sa[d + 1];
        ob += sb[d + 1];
      }
    }
  });
}

void where(const float* cond, const float* a, const float* b, float* out, int64_t n) {
  parallel_for(n, 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = cond[i] != 0.0f ? a[i] : b[i];
  });
}

void clamp(const float* x, float lo, float hi, float* out, int64_t n) {
  // min(max(x, lo), hi) with NaN x staying NaN (as Math.min/Math.max do).
  parallel_for(n, 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      float v = x[i];
      v = v < lo ? lo : v;
      out[i] = v > hi ? hi : v;
    }
  });
}

void axpby(float a, const float* x, float b, const float* y, float* out, int64_t n) {
  if (a == 1.0f && b == 1.0f) {
    // x + y, the gradient-accumulation case: float addition is correctly rounded, so it equals the
    // double sum rounded once (double has more than 2 * 24 + 2 bits). vmap2's explicit vectors stay
    // vectorised when out is x or y (in place), where the compiler's overlap check fell back to scalar.
    parallel_for(n, 1, [=](int64_t s, int64_t e) { vmap2(x + s, y + s, out + s, e - s, [](v8f u, v8f v) { return u + v; }); });
    return;
  }
  const double ad = a, bd = b;
  parallel_for(n, 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = static_cast<float>(ad * x[i] + bd * y[i]);
  });
}

void fill_f32(float* out, int64_t n, float v) {
  parallel_for(n, 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = v;
  });
}

void fill_i32(int32_t* out, int64_t n, int32_t v) {
  parallel_for(n, 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = v;
  });
}

void adam(float* p, const float* g, float* m, float* v, int64_t n, double lr, double b1, double b2, double eps,
          double wd, double step, bool decoupled) {
  // Float32 arithmetic per element, in the order of PyTorch's Adam (m = b1 m + (1 - b1) g,
  // v = b2 v + (1 - b2) g^2, p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)), with the bias
  // corrections as per-call constants computed in double. Why float: in double the per-element
  // division and square root (8 lanes, vdivpd / vsqrtpd) bounded this kernel at ~4 cycles per element,
  // which made Adam a fifth of a 16k-latent SAE step; in float (16 lanes) it is bound by memory
  // traffic (7 streams of 4 bytes). The result differs from the float64 evaluation by float rounding.
  const double bc1 = 1.0 - std::pow(b1, step), bc2 = 1.0 - std::pow(b2, step);
  const float stepSize = static_cast<float>(lr / bc1), sqrtBc2 = static_cast<float>(std::sqrt(bc2));
  const float decay = static_cast<float>(decoupled ? 1.0 - lr * wd : 1.0);
  const float l2 = static_cast<float>(decoupled ? 0.0 : wd);
  const float fb1 = static_cast<float>(b1), fb2 = static_cast<float>(b2), feps = static_cast<float>(eps);
  const float c1 = static_cast<float>(1.0 - b1), c2 = static_cast<float>(1.0 - b2);
  parallel_for(n, 4, [=](int64_t s, int64_t e) {
    // Locals and restrict pointers: with the lambda's captures by reference the compiler could not
    // rule out aliasing and kept this loop scalar.
    float* __restrict pp = p + s;
    const float* __restrict gp = g + s;
    float* __restrict mp = m + s;
    float* __restrict vp = v + s;
    const int64_t len = e - s;
    for (int64_t i = 0; i < len; ++i) {
      const float pi = pp[i];
      const float gi = gp[i] + l2 * pi;
      const float mi = fb1 * mp[i] + c1 * gi;
      const float vi = fb2 * vp[i] + c2 * gi * gi;
      mp[i] = mi;
      vp[i] = vi;
      pp[i] = pi * decay - stepSize * mi / (std::sqrt(vi) / sqrtBc2 + feps);
    }
  });
}

}  // namespace aelab
