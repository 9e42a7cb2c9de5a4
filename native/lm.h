// Decoder-only transformer kernels (lm.cc). Layouts: q [B, H, T, dh], k/v [B, Hkv, Smax, dh] (the
// first S positions used), pattern P [B, H, T, S]; query row t sits at key position off + t and sees
// keys s <= off + t (and, with a key mask [B, S], only real keys; a padding query sees only itself).
#pragma once

#include <cstdint>

namespace aelab {

struct AttnDims {
  int64_t B, H, Hkv, T, S, Smax, dh, off;
};

void attn_pattern(const float* q, const float* k, const AttnDims& d, float scale, const int32_t* keyMask, float* P);
/// gq overwritten, gk overwritten (all Smax rows; rows >= S zero); either may be null.
void attn_pattern_grad(const float* P, const float* gP, const float* q, const float* k, const AttnDims& d,
                       float scale, float* gq, float* gk);
void attn_mix(const float* P, const float* v, const AttnDims& d, float* z);
/// gP overwritten, gv overwritten (all Smax rows); either may be null.
void attn_mix_grad(const float* P, const float* gz, const float* v, const AttnDims& d, float* gP, float* gv);
void rms_norm(const float* x, int64_t rows, int64_t D, const float* w, float eps, float* out, float* rstd);
void rms_norm_grad(const float* x, const float* gy, const float* rstd, const float* w, int64_t rows, int64_t D,
                   float* gx, float* gw);
void rotary(const float* x, const int32_t* pos, int64_t BT, int64_t H, int64_t dh, const float* cos,
            const float* sin, bool inverse, float* out);
void gelu_tanh(const float* x, int64_t n, float* out);
void gelu_tanh_grad(const float* x, const float* gy, int64_t n, float* gx);
void swiglu(const float* a, const float* u, int64_t n, float* out);
void swiglu_grad(const float* a, const float* u, const float* gy, int64_t n, float* ga, float* gu);
void cross_entropy(const float* logits, int64_t rows, int64_t V, const int32_t* targets, float* loss, float* lse);
void cross_entropy_grad(const float* logits, const float* lse, const int32_t* targets, int64_t rows, int64_t V,
                        float scale, float* gx);

}  // namespace aelab
