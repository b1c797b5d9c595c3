// The CPU backend's own max-pooling kernels (core/cpu/cpu_max_pool.cpp):
// forward and backward (the gather for overlapping windows, the direct
// writes for disjoint ones, with and without untouched pixels to zero)
// against the naive loops on inputs full of ties, the
// AVX-512 path bit-identical to the scalar one at channel counts with and
// without a tail, and windows holding nothing above -inf passing no gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "cpu_features.h"
#include "cpu_max_pool.h"
#include "gradient_check.h"
#include "naive_ops.h"
#include "tensor_utils.h"

namespace stride::testing {
namespace {

using cpu::MaxPoolGeometry;

struct MaxPoolCase {
  const char* name;
  int64_t n, h, w, c;
  int64_t kernel_h, kernel_w, stride_h, stride_w;
  int64_t pad_top, pad_left, pad_bottom, pad_right;
};

const MaxPoolCase kMaxPoolCases[] = {
    {"2x2 stride 2, 32 channels (the seed CNN's)", 3, 26, 26, 32, 2, 2, 2, 2, 0, 0, 0, 0},
    {"2x2 stride 2, odd input, 37 channels", 2, 11, 9, 37, 2, 2, 2, 2, 0, 0, 0, 0},
    {"3x3 stride 2, asymmetric padding, 16 channels", 2, 8, 7, 16, 3, 3, 2, 2, 0, 1, 1, 1},
    {"3x2 stride 1, overlapping, 19 channels", 2, 6, 5, 19, 3, 2, 1, 1, 0, 0, 0, 0},
    {"2x2 stride 2, padding after, 5 channels", 2, 5, 5, 5, 2, 2, 2, 2, 0, 0, 1, 1},
    {"2x2 stride 3, gaps between windows, 21 channels", 2, 8, 8, 21, 2, 2, 3, 3, 0, 0, 0, 0},
    {"1x1 stride 1, 48 channels", 1, 3, 4, 48, 1, 1, 1, 1, 0, 0, 0, 0},
};

PoolParams max_pool_params(const MaxPoolCase& c) {
  PoolParams p;
  p.kind = PoolKind::max;
  p.kernel_h = c.kernel_h, p.kernel_w = c.kernel_w, p.stride_h = c.stride_h, p.stride_w = c.stride_w;
  p.pad_top = c.pad_top, p.pad_left = c.pad_left, p.pad_bottom = c.pad_bottom, p.pad_right = c.pad_right;
  return p;
}

// Values on a grid of eight levels: most windows hold ties.
Values tied_values(int64_t n, uint64_t seed) {
  Values v = random_values(n, seed);
  for (float& x : v) x = std::round(x * 4.0f) / 4.0f;
  return v;
}

struct MaxPoolResult {
  Values y, dx;
  std::vector<uint8_t> record;
};

MaxPoolResult run_max_pool(const PoolParams& p, const MaxPoolGeometry& g, const Values& x, const Values& dy,
                           bool vectorise) {
  MaxPoolResult r;
  r.y.assign(static_cast<size_t>(g.n * g.out_h * g.out_w * g.c), 0.0f);
  r.record.assign(cpu::max_pool_record_bytes(g), 0);
  r.dx.assign(x.size(), 1234.0f);  // every element must be written
  cpu::max_pool_forward(p, g, x.data(), r.y.data(), r.record.data(), vectorise);
  cpu::max_pool_backward(p, g, dy.data(), r.record.data(), r.dx.data(), vectorise);
  return r;
}

TEST(CpuMaxPool, MatchesTheNaiveLoopsWithTiesGoingToTheFirstMaximum) {
  for (const MaxPoolCase& c : kMaxPoolCases) {
    SCOPED_TRACE(c.name);
    const PoolParams p = max_pool_params(c);
    const Shape xs{c.n, c.h, c.w, c.c};
    const Shape ys = naive::pool_output_shape(p, xs);
    const MaxPoolGeometry g{c.n, c.h, c.w, c.c, ys[1], ys[2]};
    const Values x = tied_values(xs.elements(), 7), dy = random_values(ys.elements(), 8);
    const MaxPoolResult r = run_max_pool(p, g, x, dy, true);
    EXPECT_EQ(r.y, naive::pool_forward(p, xs, x));
    EXPECT_TRUE(all_close(r.dx, naive::pool_backward(p, xs, x, dy), 1e-6, 1e-6));
    // Inference (no record) gives the same maxima.
    Values y(r.y.size());
    cpu::max_pool_forward(p, g, x.data(), y.data(), nullptr);
    EXPECT_EQ(y, r.y);
  }
}

TEST(CpuMaxPool, VectorPathIsBitIdenticalToTheScalarOne) {
  if (!cpu::has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU: both paths are the scalar one here";
  for (const MaxPoolCase& c : kMaxPoolCases) {
    SCOPED_TRACE(c.name);
    const PoolParams p = max_pool_params(c);
    const Shape ys = naive::pool_output_shape(p, Shape{c.n, c.h, c.w, c.c});
    const MaxPoolGeometry g{c.n, c.h, c.w, c.c, ys[1], ys[2]};
    Values x = tied_values(c.n * c.h * c.w * c.c, 9);
    // NaNs never win a window, in either path.
    for (size_t i = 3; i < x.size(); i += 17) x[i] = std::numeric_limits<float>::quiet_NaN();
    const Values dy = random_values(ys.elements(), 10);
    const MaxPoolResult vector = run_max_pool(p, g, x, dy, true), scalar = run_max_pool(p, g, x, dy, false);
    EXPECT_EQ(0, std::memcmp(vector.y.data(), scalar.y.data(), vector.y.size() * sizeof(float)));
    EXPECT_EQ(vector.record, scalar.record);
    EXPECT_EQ(0, std::memcmp(vector.dx.data(), scalar.dx.data(), vector.dx.size() * sizeof(float)));
  }
}

TEST(CpuMaxPool, AWindowWithNothingAboveMinusInfinityPassesNoGradient) {
  for (bool vectorise : {true, false}) {
    SCOPED_TRACE(vectorise ? "vector" : "scalar");
    PoolParams p;  // 2x2 stride 2
    const MaxPoolGeometry g{1, 2, 4, 16, 1, 2};
    Values x(static_cast<size_t>(2 * 4 * 16), 0.5f);
    // Window 0 of channel 3 all -inf, window 1 of channel 5 all NaN.
    for (int64_t ih = 0; ih < 2; ++ih)
      for (int64_t iw = 0; iw < 2; ++iw) {
        x[static_cast<size_t>((ih * 4 + iw) * 16 + 3)] = -std::numeric_limits<float>::infinity();
        x[static_cast<size_t>((ih * 4 + iw + 2) * 16 + 5)] = std::numeric_limits<float>::quiet_NaN();
      }
    const Values dy(32, 1.0f);
    const MaxPoolResult r = run_max_pool(p, g, x, dy, vectorise);
    EXPECT_EQ(r.record[3], cpu::kNoArgmax);
    EXPECT_EQ(r.record[16 + 5], cpu::kNoArgmax);
    EXPECT_EQ(r.y[3], -std::numeric_limits<float>::infinity());
    EXPECT_EQ(r.record[0], 0) << "ties of a window go to its first position";
    double routed = 0;
    for (float v : r.dx) routed += v;
    EXPECT_EQ(routed, 30.0) << "every window but the two passes its gradient once";
  }
}

}  // namespace
}  // namespace stride::testing
