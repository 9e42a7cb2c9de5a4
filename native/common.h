// Shared declarations of the aelab native kernels: the thread pool, the GEMM entry points and the
// elementwise / row kernels. The N-API layer (addon.cc) validates every argument before calling into
// these, so kernels assume in-bounds pointers and never throw.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace aelab {

// ---------------------------------------------------------------------------------------------
// Thread pool (pool.cc)
// ---------------------------------------------------------------------------------------------

/// Signature of a parallel region body: called once per participating thread with its id in
/// [0, nthreads). The calling thread is id 0.
using RegionFn = void (*)(void* ctx, int tid, int nthreads);

/// Total threads (caller + workers) used by parallel kernels.
int pool_threads();
/// Replaces the workers so that `n` threads (caller included) run parallel kernels.
void pool_set_threads(int n);
/// Runs fn(ctx, tid, nt) on `nt` = min(want, pool_threads()) threads and waits for all of them.
/// Nested or concurrent calls (e.g. from a Node worker thread) are serialised by a lock.
void pool_run(RegionFn fn, void* ctx, int want);
/// Like pool_run for regions whose threads take work from a shared counter in ctx until none is left
/// (any thread may do any part, and fn must not wait for other threads): when the caller's fn
/// returns, workers that have not started yet are not waited for (nor run), so a worker that the OS
/// has not scheduled does not hold the region up. nt passed to fn is an upper bound on the threads.
void pool_run_shared(RegionFn fn, void* ctx, int want);
/// Spin barrier for the threads of the current region (used by the GEMM between pack and compute).
void pool_barrier(int nthreads);

/// Runs body(begin, end) over [0, n) in contiguous chunks that the participating threads claim one by
/// one, so which thread runs which chunk depends on timing. Only for kernels whose results do not
/// depend on how the range is split or by whom (elementwise, per-row). Runs inline when
/// n * cost < ~threshold.
template <class F>
void parallel_for(int64_t n, int64_t costPerItem, F&& body);

/// Work below this many "element operations" runs inline on the calling thread: waking a worker costs
/// a few microseconds, which only pays off beyond ~tens of thousands of elements.
constexpr int64_t kInlineWork = 1 << 15;

namespace detail {
template <class F>
struct ForCtx {
  F* body;
  int64_t n;
  int64_t chunks;
  std::atomic<int64_t> next{0};
};
template <class F>
void for_trampoline(void* p, int, int) {
  auto* c = static_cast<ForCtx<F>*>(p);
  for (;;) {
    const int64_t i = c->next.fetch_add(1, std::memory_order_relaxed);
    if (i >= c->chunks) return;
    const int64_t b = c->n * i / c->chunks, e = c->n * (i + 1) / c->chunks;
    if (b < e) (*c->body)(b, e);
  }
}
}  // namespace detail

template <class F>
void parallel_for(int64_t n, int64_t costPerItem, F&& body) {
  if (n <= 0) return;
  const int nt = pool_threads();
  int want = 1;
  if (nt > 1 && n > 1 && n * costPerItem >= kInlineWork) {
    want = static_cast<int>(n * costPerItem / (kInlineWork / 2));
    if (want > nt) want = nt;
    if (want > n) want = static_cast<int>(n);
  }
  if (want <= 1) {
    body(int64_t{0}, n);
    return;
  }
  // A few chunks per thread (each still >= ~kInlineWork / 2): a thread that is descheduled or slow
  // leaves its unclaimed chunks to the others instead of holding the whole region up.
  int64_t chunks = n * costPerItem / (kInlineWork / 2);
  if (chunks > 8 * static_cast<int64_t>(want)) chunks = 8 * static_cast<int64_t>(want);
  if (chunks < want) chunks = want;
  if (chunks > n) chunks = n;
  using B = typename std::remove_reference<F>::type;
  detail::ForCtx<B> ctx;
  ctx.body = &body;
  ctx.n = n;
  ctx.chunks = chunks;
  pool_run_shared(&detail::for_trampoline<B>, &ctx, want);
}

// ---------------------------------------------------------------------------------------------
// GEMM (gemm.cc)
// ---------------------------------------------------------------------------------------------

/// Loads the BLAS library named by the environment (AELAB_BLAS) once; returns its description
/// ("openblas (libopenblas.so.0)") or an empty string when the built-in kernel is used.
const char* blas_init();
/// Current BLAS description, or nullptr when GEMM runs on the built-in kernel.
const char* blas_name();
/// Why a BLAS library that was found is not used (AELAB_BLAS=auto and an OpenBLAS running pre-AVX2
/// kernels on an AVX2 CPU), or nullptr.
const char* blas_note();
/// With blas_note: the OPENBLAS_CORETYPE that would give OpenBLAS kernels for this CPU ("SkylakeX" or
/// "Haswell"), or nullptr.
const char* blas_coretype_hint();
/// Tells the BLAS library (if it has a thread setter) how many threads to use.
void blas_set_threads(int n);

/// C = alpha op(A) op(B) + beta C (row-major, dense). Uses BLAS when loaded unless forceBuiltin.
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          const float* B, float beta, float* C, bool forceBuiltin);

// ---------------------------------------------------------------------------------------------
// Elementwise kernels (elementwise.cc)
// ---------------------------------------------------------------------------------------------

enum UnaryOp : int {
  U_NEG, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_ABS, U_SIGN, U_SQUARE, U_RECIP, U_RELU, U_GELU, U_TANH,
  U_SIGMOID, U_SOFTPLUS, U_SIN, U_COS, U_POW, U_SCALE, U_ADDSCALAR, U_LEAKYRELU, U_COUNT
};
enum BinaryOp : int {
  B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_POW, B_GT, B_GE, B_LT, B_LE, B_EQ, B_COUNT
};
enum ReduceOp : int { R_SUM, R_MEAN, R_MAX, R_MIN, R_SUMSQ, R_COUNT };

void unary(int op, const float* x, float* out, int64_t n, float param);
/// Returns false when op has no gradient (sign).
bool unary_grad(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n,
                bool accumulate, float param);
/// Broadcasting binary op; shapes already validated, rank <= 8.
void binary(int op, const float* a, const int64_t* aShape, const float* b, const int64_t* bShape,
            float* out, const int64_t* outShape, int rank);
void where(const float* cond, const float* a, const float* b, float* out, int64_t n);
void clamp(const float* x, float lo, float hi, float* out, int64_t n);
void axpby(float a, const float* x, float b, const float* y, float* out, int64_t n);
void fill_f32(float* out, int64_t n, float v);
void fill_i32(int32_t* out, int64_t n, int32_t v);
void adam(float* p, const float* g, float* m, float* v, int64_t n, double lr, double b1, double b2,
          double eps, double wd, double step, bool decoupled);

/// Reductions (rows.cc)
void reduce(int op, const float* x, int64_t outer, int64_t n, int64_t inner, float* out);
void argmax(const float* x, int64_t outer, int64_t n, int64_t inner, int32_t* out);
double sum_all(const float* x, int64_t n, bool squares);

// ---------------------------------------------------------------------------------------------
// Row kernels (rows.cc)
// ---------------------------------------------------------------------------------------------

void softmax(const float* x, int64_t rows, int64_t cols, float* out, bool log);
void softmax_grad(const float* y, const float* gy, int64_t rows, int64_t cols, float* gx, bool log);
void layer_norm(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                float eps, float* out, float* mean, float* rstd);
void layer_norm_grad(const float* x, const float* gy, const float* mean, const float* rstd,
                     const float* gamma, int64_t rows, int64_t cols, float* gx, float* ggamma,
                     float* gbeta);
/// byIndex: each row's k results in increasing column order instead of descending value (the same set).
void topk(const float* x, int64_t rows, int64_t cols, int64_t k, float* vals, int32_t* idx, bool byIndex = false);
/// The exact float32 top k of pre = x Wᵀ + b from an approximate P [rows, cols] with |P − pre| ≤
/// coef·‖x_r‖·‖W_m‖ + coef·|b_m| (+ float rounding of P; m = colmap[h] or h): see rows.cc. wn [W rows]
/// = ‖W_m‖ rounded up. vals are the rescored float32 values. False when a row's bound is not finite.
bool topk_screened(const float* P, int64_t rows, int64_t cols, int64_t k, const float* x, int64_t D, const float* W,
                   const float* bias, const float* wn, const int32_t* colmap, double coef, float* vals, int32_t* idx,
                   bool byIndex);
/// The sparse SAE steps' active sets (select_active's rule: P > lo, or P − θ > lo in double) from an
/// approximate P [rows, cols] of pre = x Wᵀ + b (the bf16 GEMM; W rows = cols, wn = ‖W_h‖ rounded up),
/// exact: every entry the rule could pick is rescored in float32 and written into P (see rows.cc).
/// Returns the largest count, −1 when a row selects more than limit, −2 when the screen cannot run (a
/// bound not finite, or more than cap candidates in a row; cap ≥ limit lets −1 happen, a smaller one not).
int64_t threshold_screened(float* P, int64_t rows, int64_t cols, const float* x, int64_t D, const float* W,
                           const float* bias, const float* wn, double coef, const float* theta, double lo,
                           int64_t limit, int64_t cap, int32_t* scratch, int32_t* counts);
void gather_rows(const float* src, int64_t cols, const int32_t* idx, int64_t nidx, float* out);
void scatter_add_rows(const float* src, int64_t cols, const int32_t* idx, int64_t nidx, float* out);
void gather_cols(const float* x, int64_t rows, int64_t cols, const int32_t* idx, int64_t k, float* out);
/// out[r, j] = x[r, idx[j]] for x [rows, cols], idx [n], out [rows, n] (the same columns of every row).
void select_cols(const float* x, int64_t rows, int64_t cols, const int32_t* idx, int64_t n, float* out);
void scatter_add_cols(const float* src, int64_t rows, int64_t k, const int32_t* idx, int64_t cols,
                      float* out);
void permute(const float* x, const int64_t* shape, const int64_t* perm, int rank, float* out);
/// out[0:cols] = Σ_r coef[r] · W[r, :] over the rows with coef[r] ≠ 0, W [rows, cols] (Wᵀ·coef reading only
/// the rows that count); each element summed over r in increasing order, independent of the thread count.
void row_combine(const float* coef, const float* W, int64_t rows, int64_t cols, float* out);
/// out[r, :] = row[0:cols] for r < rows (e.g. a bias copied into every row before a GEMM with beta = 1).
void broadcast_rows(const float* row, int64_t cols, int64_t rows, float* out);
/// g[r] ← g[r] − (⟨g[r], w[r]⟩ / ‖w[r]‖²) w[r] for each row (rows of w with zero norm untouched).
void remove_parallel_rows(float* g, const float* w, int64_t rows, int64_t cols);
/// w[r] ← w[r] / ‖w[r]‖ for each row (zero rows untouched).
void normalise_rows(float* w, int64_t rows, int64_t cols);
/// out[r, :] = (accumulate ? out[r, :] : 0) + coef[r] · x[r, :], each element (double) o + c·x rounded once
/// to float (c·x is exact in double), as the JS backend computes it: the same bits on both.
void scale_rows(const float* coef, const float* x, int64_t rows, int64_t cols, float* out, bool accumulate);
/// Output extent of a convolution axis: floor((size + 2 pad - dil (k - 1) - 1) / stride) + 1, or 0.
int64_t conv_out(int64_t size, int64_t k, int64_t stride, int64_t pad, int64_t dil);
/// n consecutive images x [n, C, H, W] -> out [C·kh·kw, n·OH·OW] (image i in columns i·OH·OW …).
void im2col(const float* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
            int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, float* out, int64_t n = 1);
/// The adjoint: accumulates cols [C·kh·kw, n·OH·OW] into n consecutive images out [n, C, H, W].
void col2im(const float* cols, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
            int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, float* out, int64_t n = 1);
/// Direct convolution, stride 1, dilation 1 (no im2col), for layers with few output channels; x [N, C, H, W],
/// w [O, C, kh, kw], y [N, O, OH, OW], OH = H + 2 ph − kh + 1. mode 0: y += conv(x, w); mode 1 (the
/// input gradient, y holding dY): x += conv_transpose(y, w); mode 2 (the weight gradient): w = Σ dY ⋆ x.
void conv_direct(int mode, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t kh, int64_t kw,
                 int64_t ph, int64_t pw, float* x, float* w, float* y);

}  // namespace aelab
