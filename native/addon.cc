// N-API bindings of the aelab kernels. Every binding checks argument types and that each typed array
// is long enough for the sizes it is given, and throws a JS Error naming the kernel and the sizes
// otherwise: kernels never read or write out of bounds. Typed arrays are used in place (zero copy).
// Ops arrive as small integers (the TypeScript wrapper maps names to the enums in common.h).
#include <napi.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "common.h"
#include "lm.h"
#include "bf16.h"

namespace {

using Napi::Env;
using Napi::Value;

/// The arguments of one call, read with a single napi_get_cb_info into a fixed array. (Napi::CallbackInfo
/// heap-allocates when a call has more than 6 arguments, as gemm, im2col or adam do, on every call.)
class CallbackInfo {
 public:
  static constexpr size_t kMax = 16;
  CallbackInfo(napi_env env, napi_callback_info cbinfo) : env_(env) {
    argc_ = kMax;
    if (napi_get_cb_info(env, cbinfo, &argc_, argv_, nullptr, nullptr) != napi_ok) argc_ = 0;
    if (argc_ > kMax) argc_ = kMax;  // extra arguments are ignored
  }
  Napi::Env Env() const { return Napi::Env(env_); }
  size_t Length() const { return argc_; }
  Value operator[](size_t i) const { return i < argc_ ? Value(env_, argv_[i]) : Env().Undefined(); }

 private:
  napi_env env_;
  size_t argc_;
  napi_value argv_[kMax];
};

using Binding = Value (*)(const CallbackInfo&);

/// The napi_callback for a binding: runs it and turns a thrown Napi::Error into a JS exception.
template <Binding F>
napi_value call(napi_env env, napi_callback_info cbinfo) {
  try {
    const CallbackInfo info(env, cbinfo);
    return F(info);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

struct F32 {
  float* p;
  int64_t n;
};
struct I32 {
  int32_t* p;
  int64_t n;
};

[[noreturn]] void fail(Env env, const char* kernel, const std::string& msg) {
  throw Napi::Error::New(env, std::string("aelab native ") + kernel + ": " + msg);
}
[[noreturn]] void range_fail(Env env, const char* kernel, const std::string& msg) {
  throw Napi::RangeError::New(env, std::string("aelab native ") + kernel + ": " + msg);
}
[[noreturn]] void type_fail(Env env, const char* kernel, const std::string& msg) {
  throw Napi::TypeError::New(env, std::string("aelab native ") + kernel + ": " + msg);
}

/// One napi_get_typedarray_info call: checks the type and returns the (offset-adjusted) data pointer.
bool typed(const CallbackInfo& info, size_t i, napi_typedarray_type want, void** data, int64_t* n) {
  if (i >= info.Length()) return false;
  napi_typedarray_type t;
  size_t len = 0;
  // Not asking for the ArrayBuffer or the byte offset saves creating a handle (data is already offset).
  if (napi_get_typedarray_info(info.Env(), info[i], &t, &len, data, nullptr, nullptr) != napi_ok) return false;
  if (t != want) return false;
  *n = static_cast<int64_t>(len);
  return true;
}

F32 f32(const CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  F32 r{nullptr, 0};
  void* d = nullptr;
  if (!typed(info, i, napi_float32_array, &d, &r.n)) type_fail(info.Env(), kernel, std::string(name) + " must be a Float32Array");
  r.p = static_cast<float*>(d);
  return r;
}
/// A Float32Array or null/undefined (returns {nullptr, 0}).
F32 f32_opt(const CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return F32{nullptr, 0};
  return f32(info, i, kernel, name);
}
I32 i32(const CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  I32 r{nullptr, 0};
  void* d = nullptr;
  if (!typed(info, i, napi_int32_array, &d, &r.n)) type_fail(info.Env(), kernel, std::string(name) + " must be an Int32Array");
  r.p = static_cast<int32_t*>(d);
  return r;
}

double num(const CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  double v;
  if (i >= info.Length() || napi_get_value_double(info.Env(), info[i], &v) != napi_ok)
    type_fail(info.Env(), kernel, std::string(name) + " must be a number");
  return v;
}

/// A size or offset: a non-negative integer below 2^48.
int64_t dim(const CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  const double v = num(info, i, kernel, name);
  if (!(v >= 0.0 && v < 281474976710656.0 && std::floor(v) == v))
    fail(info.Env(), kernel, std::string(name) + " must be a non-negative integer, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

bool flag(const CallbackInfo& info, size_t i) {
  bool b = false;
  if (i < info.Length()) napi_get_value_bool(info.Env(), info[i], &b);  // non-booleans count as false
  return b;
}

int64_t mul(Env env, const char* kernel, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r) || r > (int64_t{1} << 48)) fail(env, kernel, "sizes overflow");
  return r;
}

/// Throws unless `have` >= `want`: "<kernel>: <name> has <have> elements, needs <want> (<what>)".
void need(Env env, const char* kernel, const char* name, int64_t have, int64_t want, const std::string& what) {
  if (have < want)
    range_fail(env, kernel, std::string(name) + " has " + std::to_string(have) + " elements, needs " + std::to_string(want) +
                          " (" + what + ")");
}

std::string sz(const char* a, int64_t x) { return std::string(a) + "=" + std::to_string(x); }
std::string sz(const char* a, int64_t x, const char* b, int64_t y) { return sz(a, x) + ", " + sz(b, y); }
std::string sz(const char* a, int64_t x, const char* b, int64_t y, const char* c, int64_t z) {
  return sz(a, x, b, y) + ", " + sz(c, z);
}

// ---------------------------------------------------------------------------------------------

Value Gemm(const CallbackInfo& info, bool builtin) {
  const char* k = builtin ? "gemmBuiltin" : "gemm";
  Env env = info.Env();
  const bool tA = flag(info, 0), tB = flag(info, 1);
  const int64_t M = dim(info, 2, k, "M"), N = dim(info, 3, k, "N"), K = dim(info, 4, k, "K");
  const double alpha = num(info, 5, k, "alpha");
  F32 A = f32(info, 6, k, "A");
  const int64_t aOff = dim(info, 7, k, "aOff");
  F32 B = f32(info, 8, k, "B");
  const int64_t bOff = dim(info, 9, k, "bOff");
  const double beta = num(info, 10, k, "beta");
  F32 C = f32(info, 11, k, "C");
  const int64_t cOff = dim(info, 12, k, "cOff");
  const int64_t mk = mul(env, k, M, K), kn = mul(env, k, K, N), mn = mul(env, k, M, N);
  const std::string shape = sz("M", M, "N", N, "K", K);
  if (mn > 0) {
    need(env, k, "C", C.n, cOff + mn, shape + ", " + sz("cOff", cOff));
    const bool usesAB = K > 0 && alpha != 0.0;
    if (usesAB) {
      need(env, k, "A", A.n, aOff + mk, shape + ", " + sz("aOff", aOff));
      need(env, k, "B", B.n, bOff + kn, shape + ", " + sz("bOff", bOff));
    }
  }
  aelab::gemm(tA, tB, M, N, K, static_cast<float>(alpha), A.p + (aOff <= A.n ? aOff : 0),
              B.p + (bOff <= B.n ? bOff : 0), static_cast<float>(beta), C.p + (cOff <= C.n ? cOff : 0), builtin);
  return env.Undefined();
}
Value GemmAuto(const CallbackInfo& info) { return Gemm(info, false); }
Value GemmBuiltin(const CallbackInfo& info) { return Gemm(info, true); }

Value Unary(const CallbackInfo& info) {
  const char* k = "unary";
  Env env = info.Env();
  const int64_t op = dim(info, 0, k, "op");
  if (op >= aelab::U_COUNT) fail(env, k, "unknown op " + std::to_string(op));
  F32 x = f32(info, 1, k, "x"), out = f32(info, 2, k, "out");
  const double param = num(info, 3, k, "param");
  const int64_t n = dim(info, 4, k, "n");
  need(env, k, "x", x.n, n, sz("n", n));
  need(env, k, "out", out.n, n, sz("n", n));
  aelab::unary(static_cast<int>(op), x.p, out.p, n, static_cast<float>(param));
  return env.Undefined();
}

Value UnaryGrad(const CallbackInfo& info) {
  const char* k = "unaryGrad";
  Env env = info.Env();
  const int64_t op = dim(info, 0, k, "op");
  if (op >= aelab::U_COUNT) fail(env, k, "unknown op " + std::to_string(op));
  F32 x = f32(info, 1, k, "x"), y = f32(info, 2, k, "y"), gy = f32(info, 3, k, "gy"), gx = f32(info, 4, k, "gx");
  const bool acc = flag(info, 5);
  const double param = num(info, 6, k, "param");
  const int64_t n = gx.n;
  need(env, k, "x", x.n, n, sz("n", n));
  need(env, k, "y", y.n, n, sz("n", n));
  need(env, k, "gy", gy.n, n, sz("n", n));
  if (!aelab::unary_grad(static_cast<int>(op), x.p, y.p, gy.p, gx.p, n, acc, static_cast<float>(param)))
    fail(env, k, "op " + std::to_string(op) + " has no gradient");
  return env.Undefined();
}

/// binary(op, a, b, out, rank, shapes: Float64Array[24] = aShape | bShape | outShape, 8 slots each)
Value Binary(const CallbackInfo& info) {
  const char* k = "binary";
  Env env = info.Env();
  const int64_t op = dim(info, 0, k, "op");
  if (op >= aelab::B_COUNT) fail(env, k, "unknown op " + std::to_string(op));
  F32 a = f32(info, 1, k, "a"), b = f32(info, 2, k, "b"), out = f32(info, 3, k, "out");
  const int64_t rank = dim(info, 4, k, "rank");
  if (rank > 8) fail(env, k, "rank " + std::to_string(rank) + " > 8");
  void* sd = nullptr;
  int64_t sn = 0;
  if (!typed(info, 5, napi_float64_array, &sd, &sn) || sn < 24) type_fail(env, k, "shapes must be a Float64Array(24)");
  const double* s = static_cast<const double*>(sd);
  int64_t as[8], bs[8], os[8];
  int64_t na = 1, nb = 1, no = 1;
  std::string desc;
  for (int64_t d = 0; d < rank; ++d) {
    const double va = s[d], vb = s[8 + d], vo = s[16 + d];
    if (!(va >= 0 && vb >= 0 && vo >= 0 && std::floor(va) == va && std::floor(vb) == vb && std::floor(vo) == vo &&
          vo < 281474976710656.0))
      fail(env, k, "shape entries must be non-negative integers");
    as[d] = static_cast<int64_t>(va);
    bs[d] = static_cast<int64_t>(vb);
    os[d] = static_cast<int64_t>(vo);
    if ((as[d] != 1 && as[d] != os[d]) || (bs[d] != 1 && bs[d] != os[d]))
      fail(env, k, "axis " + std::to_string(d) + ": a " + std::to_string(as[d]) + " and b " + std::to_string(bs[d]) +
                       " do not broadcast to " + std::to_string(os[d]));
    na = mul(env, k, na, as[d]);
    nb = mul(env, k, nb, bs[d]);
    no = mul(env, k, no, os[d]);
  }
  if (no > 0) {
    need(env, k, "a", a.n, na, "product of aShape");
    need(env, k, "b", b.n, nb, "product of bShape");
    need(env, k, "out", out.n, no, "product of outShape");
    aelab::binary(static_cast<int>(op), a.p, as, b.p, bs, out.p, os, static_cast<int>(rank));
  }
  return env.Undefined();
}

Value Where(const CallbackInfo& info) {
  const char* k = "where";
  Env env = info.Env();
  F32 c = f32(info, 0, k, "cond"), a = f32(info, 1, k, "a"), b = f32(info, 2, k, "b"), out = f32(info, 3, k, "out");
  need(env, k, "cond", c.n, out.n, sz("n", out.n));
  need(env, k, "a", a.n, out.n, sz("n", out.n));
  need(env, k, "b", b.n, out.n, sz("n", out.n));
  aelab::where(c.p, a.p, b.p, out.p, out.n);
  return env.Undefined();
}

Value Clamp(const CallbackInfo& info) {
  const char* k = "clamp";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  const double lo = num(info, 1, k, "lo"), hi = num(info, 2, k, "hi");
  F32 out = f32(info, 3, k, "out");
  need(env, k, "x", x.n, out.n, sz("n", out.n));
  aelab::clamp(x.p, static_cast<float>(lo), static_cast<float>(hi), out.p, out.n);
  return env.Undefined();
}

Value Axpby(const CallbackInfo& info) {
  const char* k = "axpby";
  Env env = info.Env();
  const double a = num(info, 0, k, "a");
  F32 x = f32(info, 1, k, "x");
  const double b = num(info, 2, k, "b");
  F32 y = f32(info, 3, k, "y"), out = f32(info, 4, k, "out");
  need(env, k, "x", x.n, out.n, sz("n", out.n));
  need(env, k, "y", y.n, out.n, sz("n", out.n));
  aelab::axpby(static_cast<float>(a), x.p, static_cast<float>(b), y.p, out.p, out.n);
  return env.Undefined();
}

Value Fill(const CallbackInfo& info) {
  const char* k = "fill";
  Env env = info.Env();
  const double v = num(info, 1, k, "value");
  void* d = nullptr;
  int64_t n = 0;
  if (typed(info, 0, napi_float32_array, &d, &n)) {
    aelab::fill_f32(static_cast<float*>(d), n, static_cast<float>(v));
  } else if (typed(info, 0, napi_int32_array, &d, &n)) {
    // Int32Array assignment semantics (ToInt32: truncate, wrap modulo 2^32, NaN/Inf -> 0).
    int32_t iv = 0;
    if (std::isfinite(v)) {
      const double t = std::fmod(std::trunc(v), 4294967296.0);
      const double u = t < 0 ? t + 4294967296.0 : t;
      iv = static_cast<int32_t>(static_cast<uint32_t>(u));
    }
    aelab::fill_i32(static_cast<int32_t*>(d), n, iv);
  } else {
    type_fail(env, k, "out must be a Float32Array or an Int32Array");
  }
  return env.Undefined();
}

Value Reduce(const CallbackInfo& info) {
  const char* k = "reduce";
  Env env = info.Env();
  const int64_t op = dim(info, 0, k, "op");
  if (op >= aelab::R_COUNT) fail(env, k, "unknown op " + std::to_string(op));
  F32 x = f32(info, 1, k, "x");
  const int64_t outer = dim(info, 2, k, "outer"), n = dim(info, 3, k, "n"), inner = dim(info, 4, k, "inner");
  F32 out = f32(info, 5, k, "out");
  const int64_t no = mul(env, k, outer, inner), nx = mul(env, k, no, n);
  need(env, k, "x", x.n, nx, sz("outer", outer, "n", n, "inner", inner));
  need(env, k, "out", out.n, no, sz("outer", outer, "inner", inner));
  aelab::reduce(static_cast<int>(op), x.p, outer, n, inner, out.p);
  return env.Undefined();
}

Value Argmax(const CallbackInfo& info) {
  const char* k = "argmax";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  const int64_t outer = dim(info, 1, k, "outer"), n = dim(info, 2, k, "n"), inner = dim(info, 3, k, "inner");
  I32 out = i32(info, 4, k, "out");
  const int64_t no = mul(env, k, outer, inner), nx = mul(env, k, no, n);
  if (n == 0 && no > 0) fail(env, k, "n must be at least 1");
  if (n > 2147483647) fail(env, k, "n must fit in an Int32Array");
  need(env, k, "x", x.n, nx, sz("outer", outer, "n", n, "inner", inner));
  need(env, k, "out", out.n, no, sz("outer", outer, "inner", inner));
  aelab::argmax(x.p, outer, n, inner, out.p);
  return env.Undefined();
}

Value SumAll(const CallbackInfo& info) {
  F32 x = f32(info, 0, "sumAll", "x");
  return Napi::Number::New(info.Env(), aelab::sum_all(x.p, x.n, false));
}
Value SumSquares(const CallbackInfo& info) {
  F32 x = f32(info, 0, "sumSquares", "x");
  return Napi::Number::New(info.Env(), aelab::sum_all(x.p, x.n, true));
}

Value Softmax(const CallbackInfo& info, bool log) {
  const char* k = log ? "logSoftmax" : "softmax";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  const int64_t rows = dim(info, 1, k, "rows"), cols = dim(info, 2, k, "cols");
  F32 out = f32(info, 3, k, "out");
  const int64_t n = mul(env, k, rows, cols);
  need(env, k, "x", x.n, n, sz("rows", rows, "cols", cols));
  need(env, k, "out", out.n, n, sz("rows", rows, "cols", cols));
  aelab::softmax(x.p, rows, cols, out.p, log);
  return env.Undefined();
}
Value SoftmaxF(const CallbackInfo& info) { return Softmax(info, false); }
Value LogSoftmaxF(const CallbackInfo& info) { return Softmax(info, true); }

Value SoftmaxGrad(const CallbackInfo& info, bool log) {
  const char* k = log ? "logSoftmaxGrad" : "softmaxGrad";
  Env env = info.Env();
  F32 y = f32(info, 0, k, "y"), gy = f32(info, 1, k, "gy");
  const int64_t rows = dim(info, 2, k, "rows"), cols = dim(info, 3, k, "cols");
  F32 gx = f32(info, 4, k, "gx");
  const int64_t n = mul(env, k, rows, cols);
  need(env, k, "y", y.n, n, sz("rows", rows, "cols", cols));
  need(env, k, "gy", gy.n, n, sz("rows", rows, "cols", cols));
  need(env, k, "gx", gx.n, n, sz("rows", rows, "cols", cols));
  aelab::softmax_grad(y.p, gy.p, rows, cols, gx.p, log);
  return env.Undefined();
}
Value SoftmaxGradF(const CallbackInfo& info) { return SoftmaxGrad(info, false); }
Value LogSoftmaxGradF(const CallbackInfo& info) { return SoftmaxGrad(info, true); }

Value LayerNorm(const CallbackInfo& info) {
  const char* k = "layerNorm";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  const int64_t rows = dim(info, 1, k, "rows"), cols = dim(info, 2, k, "cols");
  F32 gamma = f32_opt(info, 3, k, "gamma"), beta = f32_opt(info, 4, k, "beta");
  const double eps = num(info, 5, k, "eps");
  F32 out = f32(info, 6, k, "out"), mean = f32(info, 7, k, "mean"), rstd = f32(info, 8, k, "rstd");
  const int64_t n = mul(env, k, rows, cols);
  const std::string s = sz("rows", rows, "cols", cols);
  need(env, k, "x", x.n, n, s);
  need(env, k, "out", out.n, n, s);
  need(env, k, "mean", mean.n, rows, s);
  need(env, k, "rstd", rstd.n, rows, s);
  if (gamma.p) need(env, k, "gamma", gamma.n, cols, s);
  if (beta.p) need(env, k, "beta", beta.n, cols, s);
  aelab::layer_norm(x.p, rows, cols, gamma.p, beta.p, static_cast<float>(eps), out.p, mean.p, rstd.p);
  return env.Undefined();
}

Value LayerNormGrad(const CallbackInfo& info) {
  const char* k = "layerNormGrad";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x"), gy = f32(info, 1, k, "gy"), mean = f32(info, 2, k, "mean"), rstd = f32(info, 3, k, "rstd");
  F32 gamma = f32_opt(info, 4, k, "gamma");
  const int64_t rows = dim(info, 5, k, "rows"), cols = dim(info, 6, k, "cols");
  F32 gx = f32(info, 7, k, "gx"), gg = f32_opt(info, 8, k, "ggamma"), gb = f32_opt(info, 9, k, "gbeta");
  const int64_t n = mul(env, k, rows, cols);
  const std::string s = sz("rows", rows, "cols", cols);
  need(env, k, "x", x.n, n, s);
  need(env, k, "gy", gy.n, n, s);
  need(env, k, "gx", gx.n, n, s);
  need(env, k, "mean", mean.n, rows, s);
  need(env, k, "rstd", rstd.n, rows, s);
  if (gamma.p) need(env, k, "gamma", gamma.n, cols, s);
  if (gg.p) need(env, k, "ggamma", gg.n, cols, s);
  if (gb.p) need(env, k, "gbeta", gb.n, cols, s);
  aelab::layer_norm_grad(x.p, gy.p, mean.p, rstd.p, gamma.p, rows, cols, gx.p, gg.p, gb.p);
  return env.Undefined();
}

Value Topk(const CallbackInfo& info) {
  const char* k = "topk";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  const int64_t rows = dim(info, 1, k, "rows"), cols = dim(info, 2, k, "cols"), kk = dim(info, 3, k, "k");
  F32 vals = f32(info, 4, k, "vals");
  I32 idx = i32(info, 5, k, "idx");
  if (kk > cols) range_fail(env, k, "k=" + std::to_string(kk) + " exceeds cols=" + std::to_string(cols));
  if (cols > 2147483647) fail(env, k, "cols must fit in an Int32Array");
  const std::string s = sz("rows", rows, "cols", cols, "k", kk);
  need(env, k, "x", x.n, mul(env, k, rows, cols), s);
  need(env, k, "vals", vals.n, mul(env, k, rows, kk), s);
  need(env, k, "idx", idx.n, mul(env, k, rows, kk), s);
  // Optional 7th argument: order each row's results by column instead of by value.
  const bool byIndex = info.Length() > 6 && info[6].IsBoolean() && info[6].As<Napi::Boolean>().Value();
  aelab::topk(x.p, rows, cols, kk, vals.p, idx.p, byIndex);
  return env.Undefined();
}

/// Throws unless every index is in [0, limit).
void check_indices(Env env, const char* kernel, const int32_t* idx, int64_t n, int64_t limit, const char* what, bool minusOne = false) {
  for (int64_t i = 0; i < n; ++i) {
    if (minusOne && idx[i] == -1) continue;
    if (idx[i] < 0 || idx[i] >= limit)
      range_fail(env, kernel, "index " + std::to_string(idx[i]) + " at position " + std::to_string(i) + " is outside [0, " +
                            std::to_string(limit) + ") (" + what + ")");
  }
}

Value GatherRows(const CallbackInfo& info) {
  const char* k = "gatherRows";
  Env env = info.Env();
  F32 src = f32(info, 0, k, "src");
  const int64_t cols = dim(info, 1, k, "cols");
  I32 idx = i32(info, 2, k, "idx");
  F32 out = f32(info, 3, k, "out");
  const bool minusOne = info.Length() > 4 && info[4].ToBoolean().Value();
  if (cols == 0) return env.Undefined();
  need(env, k, "out", out.n, mul(env, k, idx.n, cols), sz("rows", idx.n, "cols", cols));
  check_indices(env, k, idx.p, idx.n, src.n / cols, "rows of src", minusOne);
  aelab::gather_rows(src.p, cols, idx.p, idx.n, out.p);
  return env.Undefined();
}

Value ScatterAddRows(const CallbackInfo& info) {
  const char* k = "scatterAddRows";
  Env env = info.Env();
  F32 src = f32(info, 0, k, "src");
  const int64_t cols = dim(info, 1, k, "cols");
  I32 idx = i32(info, 2, k, "idx");
  F32 out = f32(info, 3, k, "out");
  const bool minusOne = info.Length() > 4 && info[4].ToBoolean().Value();
  if (cols == 0) return env.Undefined();
  need(env, k, "src", src.n, mul(env, k, idx.n, cols), sz("rows", idx.n, "cols", cols));
  check_indices(env, k, idx.p, idx.n, out.n / cols, "rows of out", minusOne);
  aelab::scatter_add_rows(src.p, cols, idx.p, idx.n, out.p);
  return env.Undefined();
}

Value GatherCols(const CallbackInfo& info) {
  const char* k = "gatherCols";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  const int64_t rows = dim(info, 1, k, "rows"), cols = dim(info, 2, k, "cols");
  I32 idx = i32(info, 3, k, "idx");
  const int64_t kk = dim(info, 4, k, "k");
  F32 out = f32(info, 5, k, "out");
  const std::string s = sz("rows", rows, "cols", cols, "k", kk);
  const int64_t nk = mul(env, k, rows, kk);
  need(env, k, "x", x.n, mul(env, k, rows, cols), s);
  need(env, k, "idx", idx.n, nk, s);
  need(env, k, "out", out.n, nk, s);
  check_indices(env, k, idx.p, nk, cols, "cols");
  aelab::gather_cols(x.p, rows, cols, idx.p, kk, out.p);
  return env.Undefined();
}

/// selectCols(x [rows, cols], rows, cols, idx [n], out [rows, n]): out[r, j] = x[r, idx[j]].
Value SelectCols(const CallbackInfo& info) {
  const char* k = "selectCols";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  const int64_t rows = dim(info, 1, k, "rows"), cols = dim(info, 2, k, "cols");
  I32 idx = i32(info, 3, k, "idx");
  F32 out = f32(info, 4, k, "out");
  const std::string s = sz("rows", rows, "cols", cols, "n", idx.n);
  need(env, k, "x", x.n, mul(env, k, rows, cols), s);
  need(env, k, "out", out.n, mul(env, k, rows, idx.n), s);
  check_indices(env, k, idx.p, idx.n, cols, "cols");
  aelab::select_cols(x.p, rows, cols, idx.p, idx.n, out.p);
  return env.Undefined();
}

Value ScatterAddCols(const CallbackInfo& info) {
  const char* k = "scatterAddCols";
  Env env = info.Env();
  F32 src = f32(info, 0, k, "src");
  const int64_t rows = dim(info, 1, k, "rows"), kk = dim(info, 2, k, "k");
  I32 idx = i32(info, 3, k, "idx");
  const int64_t cols = dim(info, 4, k, "cols");
  F32 out = f32(info, 5, k, "out");
  const std::string s = sz("rows", rows, "k", kk, "cols", cols);
  const int64_t nk = mul(env, k, rows, kk);
  need(env, k, "src", src.n, nk, s);
  need(env, k, "idx", idx.n, nk, s);
  need(env, k, "out", out.n, mul(env, k, rows, cols), s);
  check_indices(env, k, idx.p, nk, cols, "cols");
  aelab::scatter_add_cols(src.p, rows, kk, idx.p, cols, out.p);
  return env.Undefined();
}

/// permute(x, rank, spec: Float64Array[16] = shape | perm, out)
Value Permute(const CallbackInfo& info) {
  const char* k = "permute";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  const int64_t rank = dim(info, 1, k, "rank");
  if (rank > 8) fail(env, k, "rank " + std::to_string(rank) + " > 8");
  void* sd = nullptr;
  int64_t sn = 0;
  if (!typed(info, 2, napi_float64_array, &sd, &sn) || sn < 16) type_fail(env, k, "spec must be a Float64Array(16)");
  F32 out = f32(info, 3, k, "out");
  const double* s = static_cast<const double*>(sd);
  int64_t shape[8], perm[8];
  bool seen[8] = {false, false, false, false, false, false, false, false};
  int64_t total = 1;
  for (int64_t d = 0; d < rank; ++d) {
    const double v = s[d], p = s[8 + d];
    if (!(v >= 0 && std::floor(v) == v && v < 281474976710656.0)) fail(env, k, "shape entries must be non-negative integers");
    if (!(p >= 0 && p < rank && std::floor(p) == p) || seen[static_cast<int>(p)])
      fail(env, k, "perm is not a permutation of 0.." + std::to_string(rank - 1));
    seen[static_cast<int>(p)] = true;
    shape[d] = static_cast<int64_t>(v);
    perm[d] = static_cast<int64_t>(p);
    total = mul(env, k, total, shape[d]);
  }
  if (total == 0) return env.Undefined();
  need(env, k, "x", x.n, total, "product of shape");
  need(env, k, "out", out.n, total, "product of shape");
  if (rank == 0) {
    out.p[0] = x.p[0];
    return env.Undefined();
  }
  aelab::permute(x.p, shape, perm, static_cast<int>(rank), out.p);
  return env.Undefined();
}

struct ConvArgs {
  int64_t C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, rows, colsPer;
};
ConvArgs conv_args(const CallbackInfo& info, size_t first, const char* k) {
  ConvArgs a;
  const char* names[] = {"C", "H", "W", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw"};
  int64_t v[11];
  for (int i = 0; i < 11; ++i) v[i] = dim(info, first + i, k, names[i]);
  a.C = v[0]; a.H = v[1]; a.W = v[2]; a.kh = v[3]; a.kw = v[4]; a.sh = v[5]; a.sw = v[6];
  a.ph = v[7]; a.pw = v[8]; a.dh = v[9]; a.dw = v[10];
  Env env = info.Env();
  if (a.sh < 1 || a.sw < 1 || a.dh < 1 || a.dw < 1) fail(env, k, "strides and dilations must be >= 1");
  if (a.kh < 1 || a.kw < 1) fail(env, k, "kernel sizes must be >= 1");
  if (a.H > (1 << 30) || a.W > (1 << 30) || a.kh > (1 << 20) || a.kw > (1 << 20) || a.ph > (1 << 30) ||
      a.pw > (1 << 30) || a.dh > (1 << 20) || a.dw > (1 << 20))
    fail(env, k, "sizes too large");
  a.OH = aelab::conv_out(a.H, a.kh, a.sh, a.ph, a.dh);
  a.OW = aelab::conv_out(a.W, a.kw, a.sw, a.pw, a.dw);
  a.rows = mul(env, k, mul(env, k, a.C, a.kh), a.kw);
  a.colsPer = mul(env, k, a.OH, a.OW);
  return a;
}

Value Im2col(const CallbackInfo& info) {
  const char* k = "im2col";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  const int64_t xOff = dim(info, 1, k, "xOff");
  ConvArgs a = conv_args(info, 2, k);
  F32 out = f32(info, 13, k, "out");
  // Optional image count (default 1): n consecutive images side by side in out [rows, n·OH·OW].
  const int64_t n = info.Length() > 14 && !info[14].IsUndefined() ? dim(info, 14, k, "n") : 1;
  const std::string s = sz("C", a.C, "H", a.H, "W", a.W) + ", " + sz("OH", a.OH, "OW", a.OW) + ", " + sz("n", n);
  const int64_t img = mul(env, k, mul(env, k, mul(env, k, a.C, a.H), a.W), n);
  need(env, k, "x", x.n, xOff + img, s + ", " + sz("xOff", xOff));
  need(env, k, "out", out.n, mul(env, k, mul(env, k, a.rows, a.colsPer), n), s);
  aelab::im2col(x.p + xOff, a.C, a.H, a.W, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, a.dh, a.dw, out.p, n);
  return env.Undefined();
}

/// convDirect(mode, N, C, H, W, O, kh, kw, ph, pw, x, w, y): see aelab::conv_direct.
Value ConvDirect(const CallbackInfo& info) {
  const char* k = "convDirect";
  Env env = info.Env();
  const int64_t mode = dim(info, 0, k, "mode");
  if (mode > 2) fail(env, k, "mode must be 0, 1 or 2");
  const char* names[] = {"N", "C", "H", "W", "O", "kh", "kw", "ph", "pw"};
  int64_t v[9];
  for (int i = 0; i < 9; ++i) v[i] = dim(info, 1 + i, k, names[i]);
  const int64_t N = v[0], C = v[1], H = v[2], W = v[3], O = v[4], kh = v[5], kw = v[6], ph = v[7], pw = v[8];
  if (kh < 1 || kw < 1) fail(env, k, "kernel sizes must be >= 1");
  if (H > (1 << 30) || W > (1 << 30) || kh > (1 << 20) || kw > (1 << 20) || ph > (1 << 20) || pw > (1 << 20))
    fail(env, k, "sizes too large");
  F32 x = f32(info, 10, k, "x");
  F32 w = f32(info, 11, k, "w");
  F32 y = f32(info, 12, k, "y");
  const int64_t OH = H + 2 * ph - kh + 1, OW = W + 2 * pw - kw + 1;
  if (OH < 1 || OW < 1) fail(env, k, "the kernel is larger than the padded input");
  const std::string s = sz("N", N, "C", C, "O", O) + ", " + sz("H", H, "W", W) + ", " + sz("kh", kh, "kw", kw);
  need(env, k, "x", x.n, mul(env, k, mul(env, k, mul(env, k, N, C), H), W), s);
  need(env, k, "w", w.n, mul(env, k, mul(env, k, mul(env, k, O, C), kh), kw), s);
  need(env, k, "y", y.n, mul(env, k, mul(env, k, mul(env, k, N, O), OH), OW), s);
  aelab::conv_direct(static_cast<int>(mode), N, C, H, W, O, kh, kw, ph, pw, x.p, w.p, y.p);
  return env.Undefined();
}

Value Col2im(const CallbackInfo& info) {
  const char* k = "col2im";
  Env env = info.Env();
  F32 cols = f32(info, 0, k, "cols");
  ConvArgs a = conv_args(info, 1, k);
  F32 out = f32(info, 12, k, "out");
  const int64_t outOff = dim(info, 13, k, "outOff");
  const int64_t n = info.Length() > 14 && !info[14].IsUndefined() ? dim(info, 14, k, "n") : 1;
  const std::string s = sz("C", a.C, "H", a.H, "W", a.W) + ", " + sz("OH", a.OH, "OW", a.OW) + ", " + sz("n", n);
  const int64_t img = mul(env, k, mul(env, k, mul(env, k, a.C, a.H), a.W), n);
  need(env, k, "cols", cols.n, mul(env, k, mul(env, k, a.rows, a.colsPer), n), s);
  need(env, k, "out", out.n, outOff + img, s + ", " + sz("outOff", outOff));
  aelab::col2im(cols.p, a.C, a.H, a.W, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, a.dh, a.dw, out.p + outOff, n);
  return env.Undefined();
}

/// rowCombine(coef [rows], W [rows, cols], rows, cols, out [cols])
Value RowCombine(const CallbackInfo& info) {
  const char* k = "rowCombine";
  Env env = info.Env();
  F32 coef = f32(info, 0, k, "coef"), W = f32(info, 1, k, "W");
  const int64_t rows = dim(info, 2, k, "rows"), cols = dim(info, 3, k, "cols");
  F32 out = f32(info, 4, k, "out");
  const std::string s = sz("rows", rows, "cols", cols);
  need(env, k, "coef", coef.n, rows, s);
  need(env, k, "W", W.n, mul(env, k, rows, cols), s);
  need(env, k, "out", out.n, cols, s);
  aelab::row_combine(coef.p, W.p, rows, cols, out.p);
  return env.Undefined();
}

/// broadcastRows(row [cols], rows, cols, out [rows, cols])
Value BroadcastRows(const CallbackInfo& info) {
  const char* k = "broadcastRows";
  Env env = info.Env();
  F32 row = f32(info, 0, k, "row");
  const int64_t rows = dim(info, 1, k, "rows"), cols = dim(info, 2, k, "cols");
  F32 out = f32(info, 3, k, "out");
  const std::string s = sz("rows", rows, "cols", cols);
  need(env, k, "row", row.n, cols, s);
  need(env, k, "out", out.n, mul(env, k, rows, cols), s);
  aelab::broadcast_rows(row.p, cols, rows, out.p);
  return env.Undefined();
}

/// removeParallelRows(g [rows, cols], w [rows, cols], rows, cols), in place on g
Value RemoveParallelRows(const CallbackInfo& info) {
  const char* k = "removeParallelRows";
  Env env = info.Env();
  F32 g = f32(info, 0, k, "g"), w = f32(info, 1, k, "w");
  const int64_t rows = dim(info, 2, k, "rows"), cols = dim(info, 3, k, "cols");
  const std::string s = sz("rows", rows, "cols", cols);
  const int64_t n = mul(env, k, rows, cols);
  need(env, k, "g", g.n, n, s);
  need(env, k, "w", w.n, n, s);
  aelab::remove_parallel_rows(g.p, w.p, rows, cols);
  return env.Undefined();
}

/// normaliseRows(w [rows, cols], rows, cols), in place
Value NormaliseRows(const CallbackInfo& info) {
  const char* k = "normaliseRows";
  Env env = info.Env();
  F32 w = f32(info, 0, k, "w");
  const int64_t rows = dim(info, 1, k, "rows"), cols = dim(info, 2, k, "cols");
  need(env, k, "w", w.n, mul(env, k, rows, cols), sz("rows", rows, "cols", cols));
  aelab::normalise_rows(w.p, rows, cols);
  return env.Undefined();
}

/// scaleRows(coef [rows], x [rows, cols], rows, cols, out [rows, cols], accumulate)
Value ScaleRows(const CallbackInfo& info) {
  const char* k = "scaleRows";
  Env env = info.Env();
  F32 coef = f32(info, 0, k, "coef"), x = f32(info, 1, k, "x");
  const int64_t rows = dim(info, 2, k, "rows"), cols = dim(info, 3, k, "cols");
  F32 out = f32(info, 4, k, "out");
  if (!info[5].IsBoolean()) type_fail(env, k, "accumulate must be a boolean");
  const bool acc = info[5].As<Napi::Boolean>().Value();
  const std::string s = sz("rows", rows, "cols", cols);
  const int64_t n = mul(env, k, rows, cols);
  need(env, k, "coef", coef.n, rows, s);
  need(env, k, "x", x.n, n, s);
  need(env, k, "out", out.n, n, s);
  aelab::scale_rows(coef.p, x.p, rows, cols, out.p, acc);
  return env.Undefined();
}

Value Adam(const CallbackInfo& info) {
  const char* k = "adam";
  Env env = info.Env();
  F32 p = f32(info, 0, k, "p"), g = f32(info, 1, k, "g"), m = f32(info, 2, k, "m"), v = f32(info, 3, k, "v");
  const double lr = num(info, 4, k, "lr"), b1 = num(info, 5, k, "beta1"), b2 = num(info, 6, k, "beta2");
  const double eps = num(info, 7, k, "eps"), wd = num(info, 8, k, "weightDecay"), step = num(info, 9, k, "step");
  const bool decoupled = flag(info, 10);
  need(env, k, "g", g.n, p.n, sz("n", p.n));
  need(env, k, "m", m.n, p.n, sz("n", p.n));
  need(env, k, "v", v.n, p.n, sz("n", p.n));
  aelab::adam(p.p, g.p, m.p, v.p, p.n, lr, b1, b2, eps, wd, step, decoupled);
  return env.Undefined();
}

// ---- Fast TopK sparse kernels (native/sparse.cc) ---------------------------------------------
}  // namespace
namespace aelab {
void sparse_decode(const float* vals, const int32_t* idx, int64_t R, int64_t k, const float* W, int64_t D,
                   const float* bias, float* out);
void sparse_decode_grad(const float* dout, const int32_t* idx, int64_t R, int64_t k, const float* W, int64_t D,
                        float* dvals);
void sparse_scatter_rows(const float* coef, const int32_t* idx, int64_t R, int64_t k, const float* src, int64_t D,
                         int64_t H, float* out, float* sum, bool accumulate, const float* dotW, float* dots, int path);
int64_t select_active(const float* P, int64_t B, int64_t H, const float* theta, double lo, double half, const uint8_t* dead,
                      int64_t limit, int32_t* scratch, int32_t* counts);
void pad_selected(const int32_t* scratch, const int32_t* counts, int64_t B, int64_t limit, int64_t k, int32_t* out);
int decode_path(const float* vals, const int32_t* idx, int64_t R, int64_t k, int64_t H, int64_t D);
void sparse_decode_latents(const float* vals, const int32_t* idx, int64_t R, int64_t k, const float* W, int64_t H,
                           int64_t D, const float* bias, float* out);
void sparse_decode_tiled(const float* vals, const int32_t* idx, int64_t R, int64_t k, const float* W, int64_t H,
                         int64_t D, const float* bias, float* out, bool byRowIfUnsorted);
}  // namespace aelab
namespace {

/// sparseDecode(vals [R,k], idx [R,k], R, k, W [H,D], H, D, bias [D] | null, out [R,D])
Value SparseDecode(const CallbackInfo& info) {
  const char* k = "sparseDecode";
  Env env = info.Env();
  F32 vals = f32(info, 0, k, "vals");
  I32 idx = i32(info, 1, k, "idx");
  const int64_t R = dim(info, 2, k, "R"), kk = dim(info, 3, k, "k");
  F32 W = f32(info, 4, k, "W");
  const int64_t H = dim(info, 5, k, "H"), D = dim(info, 6, k, "D");
  F32 bias = f32_opt(info, 7, k, "bias");
  F32 out = f32(info, 8, k, "out");
  const std::string s = sz("R", R, "k", kk) + ", " + sz("H", H, "D", D);
  const int64_t nk = mul(env, k, R, kk);
  need(env, k, "vals", vals.n, nk, s);
  need(env, k, "idx", idx.n, nk, s);
  need(env, k, "W", W.n, mul(env, k, H, D), s);
  need(env, k, "out", out.n, mul(env, k, R, D), s);
  if (bias.p) need(env, k, "bias", bias.n, D, s);
  check_indices(env, k, idx.p, nk, H, "rows of W");
  // Optional path: 0 (or absent) chooses by shape, 1 by row, 2 by latent, 3 tiled (all bit-identical when
  // each row's nonzero indices are non-decreasing; see sparse.cc).
  int64_t path = info.Length() > 9 && !info[9].IsUndefined() ? dim(info, 9, k, "path") : 0;
  if (path > 3) fail(env, k, "path must be 0 (auto), 1 (by row), 2 (by latent) or 3 (tiled), got " + std::to_string(path));
  const bool chosen = path == 0;
  if (chosen) path = aelab::decode_path(vals.p, idx.p, R, kk, H, D);
  if (path == 2) aelab::sparse_decode_latents(vals.p, idx.p, R, kk, W.p, H, D, bias.p, out.p);
  else if (path == 3) aelab::sparse_decode_tiled(vals.p, idx.p, R, kk, W.p, H, D, bias.p, out.p, chosen);
  else aelab::sparse_decode(vals.p, idx.p, R, kk, W.p, D, bias.p, out.p);
  return env.Undefined();
}

/// selectActive(P [B,H], B, H, theta [H] | null, lo, half, dead Uint8Array [H] | null, limit, scratch [B*limit], counts [B]) -> k max or -1
Value SelectActive(const CallbackInfo& info) {
  const char* k = "selectActive";
  Env env = info.Env();
  F32 P = f32(info, 0, k, "P");
  const int64_t B = dim(info, 1, k, "B"), H = dim(info, 2, k, "H");
  F32 theta = f32_opt(info, 3, k, "theta");
  const double lo = num(info, 4, k, "lo"), half = num(info, 5, k, "half");
  uint8_t* dead = nullptr;
  if (!(info[6].IsNull() || info[6].IsUndefined())) {
    void* d = nullptr;
    int64_t n = 0;
    if (!typed(info, 6, napi_uint8_array, &d, &n)) type_fail(env, k, "dead must be a Uint8Array or null");
    need(env, k, "dead", n, H, sz("H", H));
    if (!theta.p) fail(env, k, "dead needs theta");
    dead = static_cast<uint8_t*>(d);
  }
  const int64_t limit = dim(info, 7, k, "limit");
  I32 scratch = i32(info, 8, k, "scratch"), counts = i32(info, 9, k, "counts");
  const std::string s = sz("B", B, "H", H, "limit", limit);
  if (H > 2147483647) fail(env, k, "H must fit in an int32");
  need(env, k, "P", P.n, mul(env, k, B, H), s);
  if (theta.p) need(env, k, "theta", theta.n, H, s);
  need(env, k, "scratch", scratch.n, mul(env, k, B, limit), s);
  need(env, k, "counts", counts.n, B, s);
  return Napi::Number::New(env, static_cast<double>(aelab::select_active(P.p, B, H, theta.p, lo, half, dead, limit, scratch.p, counts.p)));
}

/// padSelected(scratch [B*limit], counts [B], B, limit, k, out [B*k]): each row's list, then the smallest latents not in it.
Value PadSelected(const CallbackInfo& info) {
  const char* k = "padSelected";
  Env env = info.Env();
  I32 scratch = i32(info, 0, k, "scratch"), counts = i32(info, 1, k, "counts");
  const int64_t B = dim(info, 2, k, "B"), limit = dim(info, 3, k, "limit"), kk = dim(info, 4, k, "k");
  I32 out = i32(info, 5, k, "out");
  const std::string s = sz("B", B, "limit", limit, "k", kk);
  need(env, k, "scratch", scratch.n, mul(env, k, B, limit), s);
  need(env, k, "counts", counts.n, B, s);
  need(env, k, "out", out.n, mul(env, k, B, kk), s);
  for (int64_t b = 0; b < B; ++b) {
    const int32_t n = counts.p[b];
    if (n < 0 || n > kk || n > limit) range_fail(env, k, "count " + std::to_string(n) + " of row " + std::to_string(b) + " is outside [0, min(k, limit)] (" + s + ")");
    for (int32_t j = 1; j < n; ++j)
      if (scratch.p[b * limit + j] <= scratch.p[b * limit + j - 1] || scratch.p[b * limit] < 0)
        range_fail(env, k, "row " + std::to_string(b) + "'s list must be increasing and non-negative (" + s + ")");
  }
  aelab::pad_selected(scratch.p, counts.p, B, limit, kk, out.p);
  return env.Undefined();
}

/// sparseDecodeGrad(dout [R,D], idx [R,k], R, k, W [H,D], H, D, dvals [R,k])
Value SparseDecodeGrad(const CallbackInfo& info) {
  const char* k = "sparseDecodeGrad";
  Env env = info.Env();
  F32 dout = f32(info, 0, k, "dout");
  I32 idx = i32(info, 1, k, "idx");
  const int64_t R = dim(info, 2, k, "R"), kk = dim(info, 3, k, "k");
  F32 W = f32(info, 4, k, "W");
  const int64_t H = dim(info, 5, k, "H"), D = dim(info, 6, k, "D");
  F32 dvals = f32(info, 7, k, "dvals");
  const std::string s = sz("R", R, "k", kk) + ", " + sz("H", H, "D", D);
  const int64_t nk = mul(env, k, R, kk);
  need(env, k, "dout", dout.n, mul(env, k, R, D), s);
  need(env, k, "idx", idx.n, nk, s);
  need(env, k, "W", W.n, mul(env, k, H, D), s);
  need(env, k, "dvals", dvals.n, nk, s);
  check_indices(env, k, idx.p, nk, H, "rows of W");
  aelab::sparse_decode_grad(dout.p, idx.p, R, kk, W.p, D, dvals.p);
  return env.Undefined();
}

/// sparseScatterRows(coef [R,k], idx [R,k], R, k, src [R,D], D, H, out [H,D], sum [H] | null, accumulate, path?)
Value SparseScatterRows(const CallbackInfo& info) {
  const char* k = "sparseScatterRows";
  Env env = info.Env();
  F32 coef = f32(info, 0, k, "coef");
  I32 idx = i32(info, 1, k, "idx");
  const int64_t R = dim(info, 2, k, "R"), kk = dim(info, 3, k, "k");
  F32 src = f32(info, 4, k, "src");
  const int64_t D = dim(info, 5, k, "D"), H = dim(info, 6, k, "H");
  F32 out = f32(info, 7, k, "out");
  F32 sum = f32_opt(info, 8, k, "sum");
  const bool acc = flag(info, 9);
  const std::string s = sz("R", R, "k", kk) + ", " + sz("H", H, "D", D);
  const int64_t nk = mul(env, k, R, kk);
  if (nk > 2147483647) fail(env, k, "R*k must fit in an int32");
  need(env, k, "coef", coef.n, nk, s);
  need(env, k, "idx", idx.n, nk, s);
  need(env, k, "src", src.n, mul(env, k, R, D), s);
  need(env, k, "out", out.n, mul(env, k, H, D), s);
  if (sum.p) need(env, k, "sum", sum.n, H, s);
  check_indices(env, k, idx.p, nk, H, "rows of out");
  // Optional path: 0 (or absent) chooses by shape, 1 by latent, 2 by tiles of src (the same bits; see sparse.cc).
  const int64_t path = info.Length() > 10 && !info[10].IsUndefined() ? dim(info, 10, k, "path") : 0;
  if (path > 2) fail(env, k, "path must be 0 (auto), 1 (by latent) or 2 (tiled), got " + std::to_string(path));
  aelab::sparse_scatter_rows(coef.p, idx.p, R, kk, src.p, D, H, out.p, sum.p, acc, nullptr, nullptr, static_cast<int>(path));
  return env.Undefined();
}

/// sparseDecodeBackward(vals [R,k], idx [R,k], R, k, dout [R,D], W [H,D], H, D, dvals [R,k], dW [H,D], accumulate)
Value SparseDecodeBackward(const CallbackInfo& info) {
  const char* k = "sparseDecodeBackward";
  Env env = info.Env();
  F32 vals = f32(info, 0, k, "vals");
  I32 idx = i32(info, 1, k, "idx");
  const int64_t R = dim(info, 2, k, "R"), kk = dim(info, 3, k, "k");
  F32 dout = f32(info, 4, k, "dout");
  F32 W = f32(info, 5, k, "W");
  const int64_t H = dim(info, 6, k, "H"), D = dim(info, 7, k, "D");
  F32 dvals = f32(info, 8, k, "dvals");
  F32 dW = f32(info, 9, k, "dW");
  const bool acc = flag(info, 10);
  const std::string s = sz("R", R, "k", kk) + ", " + sz("H", H, "D", D);
  const int64_t nk = mul(env, k, R, kk);
  if (nk > 2147483647) fail(env, k, "R*k must fit in an int32");
  need(env, k, "vals", vals.n, nk, s);
  need(env, k, "idx", idx.n, nk, s);
  need(env, k, "dout", dout.n, mul(env, k, R, D), s);
  need(env, k, "W", W.n, mul(env, k, H, D), s);
  need(env, k, "dvals", dvals.n, nk, s);
  need(env, k, "dW", dW.n, mul(env, k, H, D), s);
  check_indices(env, k, idx.p, nk, H, "rows of W");
  aelab::sparse_scatter_rows(vals.p, idx.p, R, kk, dout.p, D, H, dW.p, nullptr, acc, W.p, dvals.p, 0);
  return env.Undefined();
}
// ---- end of fast TopK sparse kernels -------------------------------------------------------------

// ---- decoder-only transformer kernels (lm.cc) -------------------------------------------------
I32 i32_opt(const CallbackInfo& info, size_t i, const char* kernel, const char* name) {
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return I32{nullptr, 0};
  return i32(info, i, kernel, name);
}

/// topkScreened(P, rows, cols, k, x, D, W, bias|null, wNorm, colmap|null, coef, vals, idx, byIndex) → boolean
/// (the exact float32 top-k from an approximate pre-activation P; false: a row cannot be screened).
Value TopkScreened(const CallbackInfo& info) {
  const char* k = "topkScreened";
  Env env = info.Env();
  F32 P = f32(info, 0, k, "P");
  const int64_t rows = dim(info, 1, k, "rows"), cols = dim(info, 2, k, "cols"), kk = dim(info, 3, k, "k");
  F32 x = f32(info, 4, k, "x");
  const int64_t D = dim(info, 5, k, "D");
  F32 W = f32(info, 6, k, "W");
  F32 bias = f32_opt(info, 7, k, "bias");
  F32 wn = f32(info, 8, k, "wNorm");
  I32 map = i32_opt(info, 9, k, "colmap");
  const double coef = num(info, 10, k, "coef");
  F32 vals = f32(info, 11, k, "vals");
  I32 idx = i32(info, 12, k, "idx");
  const bool byIndex = flag(info, 13);
  if (kk > cols) range_fail(env, k, "k=" + std::to_string(kk) + " exceeds cols=" + std::to_string(cols));
  if (cols > 2147483647) fail(env, k, "cols must fit in an Int32Array");
  if (!(coef >= 0.0 && coef < 1.0)) range_fail(env, k, "coef must be in [0, 1), got " + std::to_string(coef));
  const std::string s = sz("rows", rows, "cols", cols, "k", kk) + ", D=" + std::to_string(D);
  need(env, k, "P", P.n, mul(env, k, rows, cols), s);
  need(env, k, "x", x.n, mul(env, k, rows, D), s);
  need(env, k, "vals", vals.n, mul(env, k, rows, kk), s);
  need(env, k, "idx", idx.n, mul(env, k, rows, kk), s);
  const int64_t Wrows = D == 0 ? wn.n : W.n / D;
  if (map.p) {
    need(env, k, "colmap", map.n, cols, s);
    check_indices(env, k, map.p, cols, Wrows, "rows of W");
  } else {
    need(env, k, "W", W.n, mul(env, k, cols, D), s);
  }
  const int64_t used = map.p ? Wrows : cols;
  need(env, k, "wNorm", wn.n, used, s);
  if (bias.p) need(env, k, "bias", bias.n, used, s);
  const bool ok = aelab::topk_screened(P.p, rows, cols, kk, x.p, D, W.p, bias.p, wn.p, map.p, coef, vals.p, idx.p, byIndex);
  return Napi::Boolean::New(env, ok);
}

/// thresholdScreened(P [rows,cols], rows, cols, x [rows,D], D, W [cols,D], bias [cols] | null, wNorm [cols], coef,
/// theta [cols] | null, lo, limit, scratch [rows·limit], counts [rows]) → the largest count, −1 (a row over
/// limit) or −2 (the screen cannot run); see rows.cc.
Value ThresholdScreened(const CallbackInfo& info) {
  const char* k = "thresholdScreened";
  Env env = info.Env();
  F32 P = f32(info, 0, k, "P");
  const int64_t rows = dim(info, 1, k, "rows"), cols = dim(info, 2, k, "cols");
  F32 x = f32(info, 3, k, "x");
  const int64_t D = dim(info, 4, k, "D");
  F32 W = f32(info, 5, k, "W");
  F32 bias = f32_opt(info, 6, k, "bias");
  F32 wn = f32(info, 7, k, "wNorm");
  const double coef = num(info, 8, k, "coef");
  F32 theta = f32_opt(info, 9, k, "theta");
  const double lo = num(info, 10, k, "lo");
  const int64_t limit = dim(info, 11, k, "limit");
  I32 scratch = i32(info, 12, k, "scratch");
  I32 counts = i32(info, 13, k, "counts");
  if (cols > 2147483647) fail(env, k, "cols must fit in an Int32Array");
  if (!(coef >= 0.0 && coef < 1.0)) range_fail(env, k, "coef must be in [0, 1), got " + std::to_string(coef));
  if (!std::isfinite(lo)) range_fail(env, k, "lo must be finite, got " + std::to_string(lo));
  if (limit < 1) range_fail(env, k, "limit must be at least 1");
  const std::string s = sz("rows", rows, "cols", cols, "D", D) + ", limit=" + std::to_string(limit);
  need(env, k, "P", P.n, mul(env, k, rows, cols), s);
  need(env, k, "x", x.n, mul(env, k, rows, D), s);
  need(env, k, "W", W.n, mul(env, k, cols, D), s);
  need(env, k, "wNorm", wn.n, cols, s);
  if (bias.p) need(env, k, "bias", bias.n, cols, s);
  if (theta.p) need(env, k, "theta", theta.n, cols, s);
  need(env, k, "scratch", scratch.n, mul(env, k, rows, limit), s);
  need(env, k, "counts", counts.n, rows, s);
  // Candidate slots per row: the selection's limit and a margin (more candidates than that: −2, and the
  // caller computes the float32 GEMM). At the sparse steps' limit (10% of the latents) the slots (8 bytes
  // each) take ~1/5 of P's memory; half the limit cost a wasted bf16 GEMM on most batches at d = 2048,
  // whose wider bound gives up to ~900 candidates a token at 16384 latents. Slot ids (row·cap + slot)
  // must fit 32 bits.
  const int64_t cap = std::min<int64_t>(cols, limit + 64);
  if (static_cast<double>(rows) * static_cast<double>(cap) >= 4294967295.0) return Napi::Number::New(env, -2.0);
  const int64_t r = aelab::threshold_screened(P.p, rows, cols, x.p, D, W.p, bias.p, wn.p, coef, theta.p, lo, limit, cap,
                                              scratch.p, counts.p);
  return Napi::Number::New(env, static_cast<double>(r));
}

/// dims = Int32Array [B, H, Hkv, T, S, Smax, dh, off], checked for consistency.
aelab::AttnDims attn_dims(const CallbackInfo& info, size_t i, const char* k) {
  I32 d = i32(info, i, k, "dims");
  Env env = info.Env();
  if (d.n < 8) fail(env, k, "dims must hold [B, H, Hkv, T, S, Smax, dh, off]");
  for (int j = 0; j < 8; ++j)
    if (d.p[j] < 0) fail(env, k, "dims must be non-negative");
  aelab::AttnDims a{d.p[0], d.p[1], d.p[2], d.p[3], d.p[4], d.p[5], d.p[6], d.p[7]};
  // off + T > S only as off = S - 1: bidirectional attention (every query sees all S keys).
  if (a.Hkv < 1 || a.H % a.Hkv != 0 || a.S > a.Smax || (a.off + a.T > a.S && a.off != a.S - 1))
    fail(env, k, "inconsistent dims " + sz("H", a.H, "Hkv", a.Hkv) + ", " + sz("T", a.T, "S", a.S, "Smax", a.Smax) + ", " + sz("off", a.off));
  return a;
}
int64_t q_len(Env env, const char* k, const aelab::AttnDims& d) { return mul(env, k, mul(env, k, d.B * d.H, d.T), d.dh); }
int64_t kv_len(Env env, const char* k, const aelab::AttnDims& d) { return mul(env, k, mul(env, k, d.B * d.Hkv, d.Smax), d.dh); }
int64_t p_len(Env env, const char* k, const aelab::AttnDims& d) { return mul(env, k, mul(env, k, d.B * d.H, d.T), d.S); }
std::string attn_sz(const aelab::AttnDims& d) {
  return sz("B", d.B, "H", d.H, "Hkv", d.Hkv) + ", " + sz("T", d.T, "S", d.S, "dh", d.dh);
}

/// attnPattern(q, k, dims, scale, keyMask [B*S] | null, P)
Value AttnPattern(const CallbackInfo& info) {
  const char* k = "attnPattern";
  Env env = info.Env();
  F32 q = f32(info, 0, k, "q"), kk = f32(info, 1, k, "k");
  const aelab::AttnDims d = attn_dims(info, 2, k);
  const double scale = num(info, 3, k, "scale");
  I32 km = i32_opt(info, 4, k, "keyMask");
  F32 P = f32(info, 5, k, "P");
  const std::string s = attn_sz(d);
  need(env, k, "q", q.n, q_len(env, k, d), s);
  need(env, k, "k", kk.n, kv_len(env, k, d), s);
  need(env, k, "P", P.n, p_len(env, k, d), s);
  if (km.p) need(env, k, "keyMask", km.n, d.B * d.S, s);
  if (km.p && d.off + d.T > d.S) fail(env, k, "a keyMask needs causal dims (off + T <= S)");
  aelab::attn_pattern(q.p, kk.p, d, static_cast<float>(scale), km.p, P.p);
  return env.Undefined();
}

/// attnPatternGrad(P, gP, q, k, dims, scale, gq | null, gk | null)
Value AttnPatternGrad(const CallbackInfo& info) {
  const char* k = "attnPatternGrad";
  Env env = info.Env();
  F32 P = f32(info, 0, k, "P"), gP = f32(info, 1, k, "gP"), q = f32(info, 2, k, "q"), kk = f32(info, 3, k, "k");
  const aelab::AttnDims d = attn_dims(info, 4, k);
  const double scale = num(info, 5, k, "scale");
  F32 gq = f32_opt(info, 6, k, "gq"), gk = f32_opt(info, 7, k, "gk");
  const std::string s = attn_sz(d);
  need(env, k, "P", P.n, p_len(env, k, d), s);
  need(env, k, "gP", gP.n, p_len(env, k, d), s);
  need(env, k, "q", q.n, q_len(env, k, d), s);
  need(env, k, "k", kk.n, kv_len(env, k, d), s);
  if (gq.p) need(env, k, "gq", gq.n, q_len(env, k, d), s);
  if (gk.p) need(env, k, "gk", gk.n, kv_len(env, k, d), s);
  aelab::attn_pattern_grad(P.p, gP.p, q.p, kk.p, d, static_cast<float>(scale), gq.p, gk.p);
  return env.Undefined();
}

/// attnMix(P, v, dims, z)
Value AttnMix(const CallbackInfo& info) {
  const char* k = "attnMix";
  Env env = info.Env();
  F32 P = f32(info, 0, k, "P"), v = f32(info, 1, k, "v");
  const aelab::AttnDims d = attn_dims(info, 2, k);
  F32 z = f32(info, 3, k, "z");
  const std::string s = attn_sz(d);
  need(env, k, "P", P.n, p_len(env, k, d), s);
  need(env, k, "v", v.n, kv_len(env, k, d), s);
  need(env, k, "z", z.n, q_len(env, k, d), s);
  aelab::attn_mix(P.p, v.p, d, z.p);
  return env.Undefined();
}

/// attnMixGrad(P, gz, v, dims, gP | null, gv | null)
Value AttnMixGrad(const CallbackInfo& info) {
  const char* k = "attnMixGrad";
  Env env = info.Env();
  F32 P = f32(info, 0, k, "P"), gz = f32(info, 1, k, "gz"), v = f32(info, 2, k, "v");
  const aelab::AttnDims d = attn_dims(info, 3, k);
  F32 gP = f32_opt(info, 4, k, "gP"), gv = f32_opt(info, 5, k, "gv");
  const std::string s = attn_sz(d);
  need(env, k, "P", P.n, p_len(env, k, d), s);
  need(env, k, "gz", gz.n, q_len(env, k, d), s);
  need(env, k, "v", v.n, kv_len(env, k, d), s);
  if (gP.p) need(env, k, "gP", gP.n, p_len(env, k, d), s);
  if (gv.p) need(env, k, "gv", gv.n, kv_len(env, k, d), s);
  aelab::attn_mix_grad(P.p, gz.p, v.p, d, gP.p, gv.p);
  return env.Undefined();
}

/// rmsNorm(x, rows, D, w, eps, out, rstd)
Value RmsNorm(const CallbackInfo& info) {
  const char* k = "rmsNorm";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  const int64_t rows = dim(info, 1, k, "rows"), D = dim(info, 2, k, "D");
  F32 w = f32(info, 3, k, "w");
  const double eps = num(info, 4, k, "eps");
  F32 out = f32(info, 5, k, "out"), rstd = f32(info, 6, k, "rstd");
  const int64_t n = mul(env, k, rows, D);
  const std::string s = sz("rows", rows, "D", D);
  need(env, k, "x", x.n, n, s);
  need(env, k, "w", w.n, D, s);
  need(env, k, "out", out.n, n, s);
  need(env, k, "rstd", rstd.n, rows, s);
  aelab::rms_norm(x.p, rows, D, w.p, static_cast<float>(eps), out.p, rstd.p);
  return env.Undefined();
}

/// rmsNormGrad(x, gy, rstd, w, rows, D, gx | null, gw | null)
Value RmsNormGrad(const CallbackInfo& info) {
  const char* k = "rmsNormGrad";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x"), gy = f32(info, 1, k, "gy"), rstd = f32(info, 2, k, "rstd"), w = f32(info, 3, k, "w");
  const int64_t rows = dim(info, 4, k, "rows"), D = dim(info, 5, k, "D");
  F32 gx = f32_opt(info, 6, k, "gx"), gw = f32_opt(info, 7, k, "gw");
  const int64_t n = mul(env, k, rows, D);
  const std::string s = sz("rows", rows, "D", D);
  need(env, k, "x", x.n, n, s);
  need(env, k, "gy", gy.n, n, s);
  need(env, k, "rstd", rstd.n, rows, s);
  need(env, k, "w", w.n, D, s);
  if (gx.p) need(env, k, "gx", gx.n, n, s);
  if (gw.p) need(env, k, "gw", gw.n, D, s);
  aelab::rms_norm_grad(x.p, gy.p, rstd.p, w.p, rows, D, gx.p, gw.p);
  return env.Undefined();
}

/// rotary(x, positions [BT], BT, H, dh, cos, sin, inverse, out)
Value Rotary(const CallbackInfo& info) {
  const char* k = "rotary";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "x");
  I32 pos = i32(info, 1, k, "positions");
  const int64_t BT = dim(info, 2, k, "BT"), H = dim(info, 3, k, "H"), dh = dim(info, 4, k, "dh");
  F32 c = f32(info, 5, k, "cos"), sn = f32(info, 6, k, "sin");
  const bool inverse = flag(info, 7);
  F32 out = f32(info, 8, k, "out");
  if (dh % 2 != 0) fail(env, k, "dh must be even");
  const int64_t n = mul(env, k, mul(env, k, BT, H), dh), half = dh / 2;
  const std::string s = sz("BT", BT, "H", H, "dh", dh);
  need(env, k, "x", x.n, n, s);
  need(env, k, "out", out.n, n, s);
  need(env, k, "positions", pos.n, BT, s);
  need(env, k, "sin", sn.n, c.n, s);
  const int64_t maxPos = half > 0 ? c.n / half : 0;
  for (int64_t i = 0; i < BT; ++i)
    if (pos.p[i] < 0 || pos.p[i] >= maxPos) range_fail(env, k, "position " + std::to_string(pos.p[i]) + " outside the tables of " + std::to_string(maxPos));
  aelab::rotary(x.p, pos.p, BT, H, dh, c.p, sn.p, inverse, out.p);
  return env.Undefined();
}

/// geluTanh(x, out), n from out
Value GeluTanh(const CallbackInfo& info) {
  const char* k = "geluTanh";
  F32 x = f32(info, 0, k, "x"), out = f32(info, 1, k, "out");
  need(info.Env(), k, "x", x.n, out.n, sz("n", out.n));
  aelab::gelu_tanh(x.p, out.n, out.p);
  return info.Env().Undefined();
}
/// geluTanhGrad(x, gy, gx), n from gx
Value GeluTanhGrad(const CallbackInfo& info) {
  const char* k = "geluTanhGrad";
  F32 x = f32(info, 0, k, "x"), gy = f32(info, 1, k, "gy"), gx = f32(info, 2, k, "gx");
  need(info.Env(), k, "x", x.n, gx.n, sz("n", gx.n));
  need(info.Env(), k, "gy", gy.n, gx.n, sz("n", gx.n));
  aelab::gelu_tanh_grad(x.p, gy.p, gx.n, gx.p);
  return info.Env().Undefined();
}
/// swiglu(a, u, out), n from out
Value Swiglu(const CallbackInfo& info) {
  const char* k = "swiglu";
  F32 a = f32(info, 0, k, "a"), u = f32(info, 1, k, "u"), out = f32(info, 2, k, "out");
  need(info.Env(), k, "a", a.n, out.n, sz("n", out.n));
  need(info.Env(), k, "u", u.n, out.n, sz("n", out.n));
  aelab::swiglu(a.p, u.p, out.n, out.p);
  return info.Env().Undefined();
}
/// swigluGrad(a, u, gy, ga | null, gu | null), n from gy
Value SwigluGrad(const CallbackInfo& info) {
  const char* k = "swigluGrad";
  Env env = info.Env();
  F32 a = f32(info, 0, k, "a"), u = f32(info, 1, k, "u"), gy = f32(info, 2, k, "gy");
  F32 ga = f32_opt(info, 3, k, "ga"), gu = f32_opt(info, 4, k, "gu");
  const int64_t n = gy.n;
  need(env, k, "a", a.n, n, sz("n", n));
  need(env, k, "u", u.n, n, sz("n", n));
  if (ga.p) need(env, k, "ga", ga.n, n, sz("n", n));
  if (gu.p) need(env, k, "gu", gu.n, n, sz("n", n));
  aelab::swiglu_grad(a.p, u.p, gy.p, n, ga.p, gu.p);
  return env.Undefined();
}

void check_targets(Env env, const char* k, const int32_t* t, int64_t rows, int64_t V) {
  for (int64_t i = 0; i < rows; ++i)
    if (t[i] >= V || t[i] < -1) range_fail(env, k, "target " + std::to_string(t[i]) + " at row " + std::to_string(i) + " is outside [-1, " + std::to_string(V) + ")");
}
/// crossEntropy(logits [rows, V], rows, V, targets [rows] (-1 = ignored), loss [rows], lse [rows])
Value CrossEntropy(const CallbackInfo& info) {
  const char* k = "crossEntropy";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "logits");
  const int64_t rows = dim(info, 1, k, "rows"), V = dim(info, 2, k, "V");
  I32 t = i32(info, 3, k, "targets");
  F32 loss = f32(info, 4, k, "loss"), lse = f32(info, 5, k, "lse");
  const std::string s = sz("rows", rows, "V", V);
  need(env, k, "logits", x.n, mul(env, k, rows, V), s);
  need(env, k, "targets", t.n, rows, s);
  need(env, k, "loss", loss.n, rows, s);
  need(env, k, "lse", lse.n, rows, s);
  check_targets(env, k, t.p, rows, V);
  aelab::cross_entropy(x.p, rows, V, t.p, loss.p, lse.p);
  return env.Undefined();
}
/// crossEntropyGrad(logits, lse, targets, rows, V, scale, gx)
Value CrossEntropyGrad(const CallbackInfo& info) {
  const char* k = "crossEntropyGrad";
  Env env = info.Env();
  F32 x = f32(info, 0, k, "logits"), lse = f32(info, 1, k, "lse");
  I32 t = i32(info, 2, k, "targets");
  const int64_t rows = dim(info, 3, k, "rows"), V = dim(info, 4, k, "V");
  const double scale = num(info, 5, k, "scale");
  F32 gx = f32(info, 6, k, "gx");
  const std::string s = sz("rows", rows, "V", V);
  need(env, k, "logits", x.n, mul(env, k, rows, V), s);
  need(env, k, "lse", lse.n, rows, s);
  need(env, k, "targets", t.n, rows, s);
  need(env, k, "gx", gx.n, mul(env, k, rows, V), s);
  check_targets(env, k, t.p, rows, V);
  aelab::cross_entropy_grad(x.p, lse.p, t.p, rows, V, static_cast<float>(scale), gx.p);
  return env.Undefined();
}
// ---- end of transformer kernels ------------------------------------------------------------------

Value Threads(const CallbackInfo& info) { return Napi::Number::New(info.Env(), aelab::pool_threads()); }

Value SetThreads(const CallbackInfo& info) {
  const char* k = "setThreads";
  const int64_t n = dim(info, 0, k, "n");
  if (n < 1 || n > 256) fail(info.Env(), k, "n must be in 1..256, got " + std::to_string(n));
  aelab::pool_set_threads(static_cast<int>(n));
  aelab::blas_set_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Value Blas(const CallbackInfo& info) {
  const char* b = aelab::blas_name();
  if (!b) return info.Env().Null();
  return Napi::String::New(info.Env(), b);
}

/// Why a BLAS library that was found is left out, and the OPENBLAS_CORETYPE that would fix it; null when none is.
Value BlasNote(const CallbackInfo& info) {
  const char* n = aelab::blas_note();
  if (!n) return info.Env().Null();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("note", Napi::String::New(info.Env(), n));
  const char* c = aelab::blas_coretype_hint();
  o.Set("coretype", c ? Napi::Value(Napi::String::New(info.Env(), c)) : info.Env().Null());
  return o;
}

/// Node unloads an addon when the last environment that loaded it ends (a worker thread that exits
/// early, say), but the kernel pool's threads outlive it and would then run unmapped code. Pin the
/// library for the life of the process (RTLD_NODELETE on the already-loaded image).
void pin_addon() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&pin_addon), &info) && info.dli_fname) dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

Napi::Object Init(Env env, Napi::Object exports) {
  pin_addon();
  aelab::blas_init();
  aelab::blas_set_threads(aelab::pool_threads());
  struct Entry {
    const char* name;
    napi_callback fn;
  };
  static const Entry entries[] = {
      {"gemm", call<GemmAuto>}, {"gemmBuiltin", call<GemmBuiltin>}, {"unary", call<Unary>},
      {"unaryGrad", call<UnaryGrad>}, {"binary", call<Binary>}, {"where", call<Where>}, {"clamp", call<Clamp>},
      {"axpby", call<Axpby>}, {"fill", call<Fill>}, {"reduce", call<Reduce>}, {"argmax", call<Argmax>},
      {"sumAll", call<SumAll>}, {"sumSquares", call<SumSquares>}, {"softmax", call<SoftmaxF>},
      {"logSoftmax", call<LogSoftmaxF>}, {"softmaxGrad", call<SoftmaxGradF>},
      {"logSoftmaxGrad", call<LogSoftmaxGradF>}, {"layerNorm", call<LayerNorm>},
      {"layerNormGrad", call<LayerNormGrad>}, {"topk", call<Topk>}, {"topkScreened", call<TopkScreened>}, {"thresholdScreened", call<ThresholdScreened>}, {"gatherRows", call<GatherRows>},
      {"scatterAddRows", call<ScatterAddRows>}, {"gatherCols", call<GatherCols>}, {"selectCols", call<SelectCols>},
      {"scatterAddCols", call<ScatterAddCols>}, {"permute", call<Permute>}, {"im2col", call<Im2col>}, {"convDirect", call<ConvDirect>},
      {"col2im", call<Col2im>}, {"adam", call<Adam>}, {"threads", call<Threads>},
      {"broadcastRows", call<BroadcastRows>}, {"rowCombine", call<RowCombine>}, {"removeParallelRows", call<RemoveParallelRows>},
      {"normaliseRows", call<NormaliseRows>}, {"scaleRows", call<ScaleRows>},
      {"setThreads", call<SetThreads>}, {"blas", call<Blas>}, {"blasNote", call<BlasNote>},
      // fast TopK sparse kernels (native/sparse.cc)
      {"sparseDecode", call<SparseDecode>}, {"sparseDecodeGrad", call<SparseDecodeGrad>}, {"sparseScatterRows", call<SparseScatterRows>},
      {"sparseDecodeBackward", call<SparseDecodeBackward>},
      // the sparse SAE steps' active-latent picking (native/sparse.cc)
      {"selectActive", call<SelectActive>}, {"padSelected", call<PadSelected>},
      {"attnPattern", call<AttnPattern>}, {"attnPatternGrad", call<AttnPatternGrad>}, {"attnMix", call<AttnMix>},
      {"attnMixGrad", call<AttnMixGrad>}, {"rmsNorm", call<RmsNorm>}, {"rmsNormGrad", call<RmsNormGrad>},
      {"rotary", call<Rotary>}, {"geluTanh", call<GeluTanh>}, {"geluTanhGrad", call<GeluTanhGrad>},
      {"swiglu", call<Swiglu>}, {"swigluGrad", call<SwigluGrad>}, {"crossEntropy", call<CrossEntropy>},
      {"crossEntropyGrad", call<CrossEntropyGrad>},
      // bf16 encoder GEMM (native/bf16.cc)
      {"gemmBf16", aelab::napi_gemm_bf16}, {"bf16Info", aelab::napi_bf16_info},
  };
  for (const Entry& e : entries) {
    napi_value fn;
    NAPI_THROW_IF_FAILED(env, napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &fn), exports);
    exports.Set(e.name, Napi::Value(env, fn));
  }
  return exports;
}

}  // namespace

NODE_API_MODULE(aelab, Init)
