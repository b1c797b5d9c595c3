// Host-side helpers for core tests: tensors from and to host vectors,
// deterministic random values, and the backends a test runs over.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "stride/common/error.h"
#include "stride/common/rng.h"
#include "stride/core/backend.h"
#include "stride/core/tensor.h"

namespace stride::testing {

using Values = std::vector<float>;

inline Tensor make_tensor(Backend& backend, const Shape& shape, const Values& values) {
  Tensor t(backend, shape);
  if (static_cast<int64_t>(values.size()) != t.elements())
    throw std::runtime_error("make_tensor: value count does not match the shape");
  backend.copy_from_host(values.data(), t);
  return t;
}

inline Tensor make_labels(Backend& backend, const std::vector<int32_t>& labels) {
  Tensor t(backend, Shape{static_cast<int64_t>(labels.size())}, DType::i32);
  backend.copy_from_host(labels.data(), t);
  return t;
}

inline Values read(Backend& backend, const Tensor& t) {
  Values out(static_cast<size_t>(t.elements()));
  backend.copy_to_host(t, out.data());
  return out;
}

inline void write(Backend& backend, Tensor& t, const Values& values) { backend.copy_from_host(values.data(), t); }

// Uniform values in [lo, hi), the same for the same seed.
inline Values random_values(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  Rng rng(seed, /*stream=*/77);
  Values out(static_cast<size_t>(n));
  for (float& v : out) v = rng.uniform(lo, hi);
  return out;
}

// A shuffled ladder of n values `spacing` apart, centred on zero and never
// within spacing/2 of it: no ties for max pooling and no input near a ReLU kink,
// so central differences with a step below spacing/2 see a smooth function.
inline Values ladder_values(int64_t n, uint64_t seed, float spacing = 0.05f) {
  Values out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = (static_cast<float>(i - n / 2) + 0.5f) * spacing;
  Rng rng(seed, /*stream=*/78);
  for (size_t i = out.size(); i > 1; --i) std::swap(out[i - 1], out[rng.below(i)]);
  return out;
}

inline double dot(const Values& a, const Values& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

// Backends to run each op over; the cuda cases skip on machines without a GPU.
inline std::vector<std::string> test_backends() { return {"cpu", "cuda"}; }

// The CUDA backend the tests compare against the CPU: fp32 FMA arithmetic
// and reproducible algorithms (no search), so results are close to the CPU's
// and identical run to run. NVIDIA_TF32_OVERRIDE=0 keeps every library off TF32.
inline std::unique_ptr<Backend> make_test_cuda_backend() {
  setenv("NVIDIA_TF32_OVERRIDE", "0", 1);
  BackendOptions options;
  options.precision = Precision::fp32;
  options.deterministic = true;
  return make_cuda_backend(options);
}

inline Backend* backend_named(const std::string& name) {
  static std::unique_ptr<Backend> cpu;
  if (name == "cpu") {
    // One thread: the test tensors are tiny, and spinning OpenMP workers on a
    // loaded machine would cost far more than they save.
    if (!cpu) cpu = make_cpu_backend(1);
    return cpu.get();
  }
  if (name == "cuda" && cuda_available()) {
    // Made after CUDA's runtime started, so it is destroyed before the runtime's exit handlers run.
    static const std::unique_ptr<Backend> cuda = make_test_cuda_backend();
    return cuda.get();
  }
  return nullptr;
}

// A backend of its own (for tests that run several replicas in threads, each
// with its backend); null when that backend is not available here.
inline std::unique_ptr<Backend> new_backend_named(const std::string& name) {
  if (name == "cpu") return make_cpu_backend(1);
  if (name == "cuda" && cuda_available()) return make_test_cuda_backend();
  return nullptr;
}

// The fixture every backend-generic test derives from.
class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = backend_named(GetParam());
    if (backend_ == nullptr)
      GTEST_SKIP() << "backend " << GetParam() << " is not available here"
                   << (GetParam() == "cuda" ? ": no CUDA GPU is visible" : "");
  }
  Backend& backend() { return *backend_; }

 private:
  Backend* backend_ = nullptr;
};

inline std::string backend_param_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

#define STRIDE_INSTANTIATE_BACKENDS(Suite)                                                           \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite, ::testing::ValuesIn(::stride::testing::test_backends()), \
                           ::stride::testing::backend_param_name)

}  // namespace stride::testing
