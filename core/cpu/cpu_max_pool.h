// Max pooling on NHWC with its own argmax record (cpu_max_pool.cpp).
//
// The record is one byte per output element: the window position
// kh * kernel_w + kw of the window's first maximum in row-major order (the
// rule the CUDA backend recomputes from x), or kNoArgmax when no element of
// the window exceeds -inf (all NaN or -inf: no gradient flows). Backward is a
// gather, one input pixel at a time over the windows that cover it, so
// overlapping windows need no atomics and the sums run in a fixed order.
//
// oneDNN 2.6's max pooling writes its workspace at a few GB/s on some CPUs
// (253 us forward and 334 us backward for 32x26x26x32 on a Sapphire Rapids
// class Xeon, against 51 us forward without a workspace): these loops keep
// the record in vector registers and store it as whole bytes.
#pragma once

#include <cstdint>

#include "stride/core/backend.h"

namespace stride::cpu {

inline constexpr uint8_t kNoArgmax = 255;

struct MaxPoolGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0, out_h = 0, out_w = 0;
};

// Windows of up to 255 positions have a byte-sized record; larger ones go
// through oneDNN.
inline bool own_max_pool(const PoolParams& p) { return p.kind == PoolKind::max && p.kernel_h * p.kernel_w < kNoArgmax; }

// Bytes of the record for a max pooling of output shape [n, out_h, out_w, c].
inline size_t max_pool_record_bytes(const MaxPoolGeometry& g) {
  return static_cast<size_t>(g.n * g.out_h * g.out_w * g.c);
}

// y = the windows' maxima; argmax (may be null: inference) their record.
// `vectorise` false takes the scalar path everywhere (tests compare the two).
void max_pool_forward(const PoolParams& p, const MaxPoolGeometry& g, const float* x, float* y, uint8_t* argmax,
                      bool vectorise = true);
// dx = the gradient dy routed to each window's recorded maximum.
void max_pool_backward(const PoolParams& p, const MaxPoolGeometry& g, const float* dy, const uint8_t* argmax, float* dx,
                       bool vectorise = true);

}  // namespace stride::cpu
