// The weight gradient of a convolution with few input channels (the first
// layer of an image network), cpu_conv_wgrad.cpp.
//
// With one to three input channels each output pixel contributes a rank-one
// update of a [taps, K] gradient (taps = KH * KW * C): a GEMM whose inner
// dimension is the whole batch's pixels and whose result is tiny. oneDNN
// 2.6 runs it at 50-60 GFLOP/s on two AVX-512 cores (seed CNN: 236 us for
// 12.5 MFLOP); here the [taps, 16 * J] block stays in registers for a whole
// range of pixels, each thread sums its own pixels, and the threads' sums are
// added in thread order (the same thread count gives the same bits).
#pragma once

#include <cstddef>
#include <cstdint>

#include "stride/core/backend.h"

namespace stride::cpu {

struct ConvGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0, out_h = 0, out_w = 0, k = 0;
};

// Whether these kernels handle the weight gradient (else oneDNN does).
bool own_conv_weight_gradient(const ConvParams& p, const ConvGeometry& g);

// Floats of per-thread partial sums the kernel needs for `threads` threads.
size_t conv_weight_gradient_partials(const ConvParams& p, const ConvGeometry& g, int threads);

// dw ([KH, KW, C, K]) = beta * dw + the gradient, and dbias ([K], may be
// null) likewise; partials holds conv_weight_gradient_partials floats for
// omp_get_max_threads() threads. `vectorise` false takes the scalar path,
// which gives the same bits (tests compare the two).
void conv_weight_gradient(const ConvParams& p, const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, float beta, float* partials, bool vectorise = true);

}  // namespace stride::cpu
