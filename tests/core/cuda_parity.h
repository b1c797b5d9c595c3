// The CUDA-versus-CPU parity fixture: the same host values go to both
// backends, each runs the op, and the results must agree. The CPU backend is
// the reference (it is itself tested against naive loops and finite
// differences). The CUDA backend runs in fp32 with FMA math and reproducible
// algorithms (make_test_cuda_backend), and NVIDIA_TF32_OVERRIDE=0 is set in the
// test environment, so no TF32 rounding can hide in a library call.
//
// Every test skips, with the reason, where no CUDA GPU is visible.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gradient_check.h"
#include "tensor_utils.h"

namespace stride::testing {

// One tensor on each backend holding the same values.
struct Pair {
  Tensor cpu, gpu;
};

class CudaParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU is visible";
    cpu_ = backend_named("cpu");
    gpu_ = backend_named("cuda");
    ASSERT_NE(gpu_, nullptr);
  }
  Backend& cpu() { return *cpu_; }
  Backend& gpu() { return *gpu_; }

  Pair pair(const Shape& shape, const Values& values) {
    return {make_tensor(cpu(), shape, values), make_tensor(gpu(), shape, values)};
  }
  Pair random_pair(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    return pair(shape, random_values(shape.elements(), seed, lo, hi));
  }
  // An output: NaN on the GPU side, so an op that reads what it should only write shows.
  Pair output(const Shape& shape, DType dtype = DType::f32) {
    Pair p{Tensor(cpu(), shape, dtype), Tensor(gpu(), shape, dtype)};
    if (dtype == DType::f32) gpu().fill(p.gpu, std::nanf(""));
    return p;
  }
  Pair labels(const std::vector<int32_t>& values) { return {make_labels(cpu(), values), make_labels(gpu(), values)}; }

  Values cpu_values(const Pair& p) { return read(cpu(), p.cpu); }
  Values gpu_values(const Pair& p) { return read(gpu(), p.gpu); }

  // Elementwise: |gpu - cpu| <= atol + rtol * |cpu|.
  ::testing::AssertionResult agree(const Pair& p, double rtol, double atol) {
    return all_close(gpu_values(p), cpu_values(p), rtol, atol);
  }
  // Normwise, for reduced precision: |gpu - cpu| <= tolerance * max |cpu|.
  ::testing::AssertionResult agree_normwise(const Pair& p, double tolerance) {
    const Values expected = cpu_values(p);
    double scale = 0;
    for (float v : expected) scale = std::max(scale, std::abs(static_cast<double>(v)));
    return all_close(gpu_values(p), expected, 0.0, tolerance * std::max(scale, 1e-6));
  }
  ::testing::AssertionResult identical(const Pair& p) {
    const Values g = gpu_values(p), c = cpu_values(p);
    if (g == c) return ::testing::AssertionSuccess();
    return all_close(g, c, 0.0, 0.0) << " (expected bit-identical)";
  }

 private:
  Backend* cpu_ = nullptr;
  Backend* gpu_ = nullptr;
};

// Reduced-precision tolerances, normwise (relative to the largest reference
// value), for convolutions and dense layers with inputs of order 1 and sums of
// up to a few hundred products. tf32 rounds inputs to 10-bit mantissas (2^-11
// relative); bf16 rounds inputs (and cuDNN's bf16 outputs) to 8 bits (2^-9).
constexpr double kTf32Tolerance = 5e-3;
constexpr double kBf16Tolerance = 3e-2;

}  // namespace stride::testing
