// The CPU backend's weight gradient for convolutions with few input channels
// (core/cpu/cpu_conv_wgrad.cpp) against the naive loops, with and without
// padding, stride, bias and accumulation into an earlier gradient; the
// AVX-512 path bit-identical to the scalar one; and through the backend, the
// first layer's shapes give the naive gradient.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>

#include "cpu_conv_wgrad.h"
#include "cpu_features.h"
#include "gradient_check.h"
#include "naive_ops.h"
#include "tensor_utils.h"

namespace stride::testing {
namespace {

using cpu::ConvGeometry;

struct WgradCase {
  const char* name;
  int64_t n, h, w, c, k;
  int64_t kernel_h, kernel_w, stride_h, stride_w;
  int64_t pad_top, pad_left, pad_bottom, pad_right;
};

const WgradCase kWgradCases[] = {
    {"1 channel, 3x3, 32 outputs (the seed CNN's first layer)", 3, 12, 10, 1, 32, 3, 3, 1, 1, 0, 0, 0, 0},
    {"3 channels, 3x3 same, stride 2, 48 outputs", 2, 9, 8, 3, 48, 3, 3, 2, 2, 1, 1, 1, 1},
    {"1 channel, 5x5 same, 16 outputs", 2, 7, 9, 1, 16, 5, 5, 1, 1, 2, 2, 2, 2},
    {"2 channels, 3x3, asymmetric padding, 32 outputs", 2, 6, 7, 2, 32, 3, 3, 1, 1, 0, 1, 1, 0},
    {"1 channel, 2x2, 64 outputs, stride 2", 4, 8, 8, 1, 64, 2, 2, 2, 2, 0, 0, 0, 0},
    {"1 channel, 3x3, 80 outputs (a block of 32 and a block of 16 left)", 2, 6, 6, 1, 80, 3, 3, 1, 1, 1, 1, 1, 1},
};

ConvParams wgrad_params(const WgradCase& c) {
  ConvParams p;
  p.kernel_h = c.kernel_h, p.kernel_w = c.kernel_w, p.stride_h = c.stride_h, p.stride_w = c.stride_w;
  p.pad_top = c.pad_top, p.pad_left = c.pad_left, p.pad_bottom = c.pad_bottom, p.pad_right = c.pad_right;
  return p;
}

struct WgradSetup {
  ConvParams p;
  ConvGeometry g;
  Shape xs, ws, ys;
  Values x, dy;
};

WgradSetup wgrad_setup(const WgradCase& c) {
  WgradSetup s;
  s.p = wgrad_params(c);
  s.xs = Shape{c.n, c.h, c.w, c.c};
  s.ws = Shape{c.kernel_h, c.kernel_w, c.c, c.k};
  const int64_t oh = (c.h + c.pad_top + c.pad_bottom - c.kernel_h) / c.stride_h + 1;
  const int64_t ow = (c.w + c.pad_left + c.pad_right - c.kernel_w) / c.stride_w + 1;
  s.ys = Shape{c.n, oh, ow, c.k};
  s.g = ConvGeometry{c.n, c.h, c.w, c.c, oh, ow, c.k};
  s.x = random_values(s.xs.elements(), 21);
  s.dy = random_values(s.ys.elements(), 22);
  return s;
}

struct WgradResult {
  Values dw, db;
};

WgradResult run_wgrad(const WgradSetup& s, float beta, const WgradResult& before, bool vectorise) {
  WgradResult out = before;
  std::vector<float> partials(cpu::conv_weight_gradient_partials(s.p, s.g, omp_get_max_threads()));
  cpu::conv_weight_gradient(s.p, s.g, s.x.data(), s.dy.data(), out.dw.data(), out.db.data(), beta, partials.data(),
                            vectorise);
  return out;
}

TEST(CpuConvWeightGradient, TheseShapesAreItsOwn) {
  for (const WgradCase& c : kWgradCases) {
    const WgradSetup s = wgrad_setup(c);
    EXPECT_TRUE(cpu::own_conv_weight_gradient(s.p, s.g)) << c.name;
  }
  ConvGeometry wide{1, 8, 8, 4, 6, 6, 32};  // 4 channels: oneDNN's
  EXPECT_FALSE(cpu::own_conv_weight_gradient(ConvParams{3, 3}, wide));
  ConvGeometry odd{1, 8, 8, 1, 6, 6, 24};  // 24 outputs: not whole vectors
  EXPECT_FALSE(cpu::own_conv_weight_gradient(ConvParams{3, 3}, odd));
}

TEST(CpuConvWeightGradient, MatchesTheNaiveLoopsAndAccumulatesWithBeta) {
  for (const WgradCase& c : kWgradCases) {
    SCOPED_TRACE(c.name);
    const WgradSetup s = wgrad_setup(c);
    Values dw_ref, db_ref;
    naive::conv_backward_weights(s.p, s.xs, s.x, s.ws, s.dy, true, dw_ref, db_ref);
    const WgradResult g =
        run_wgrad(s, 0.0f, WgradResult{Values(dw_ref.size(), 7.0f), Values(db_ref.size(), 7.0f)}, true);
    EXPECT_TRUE(all_close(g.dw, dw_ref, 1e-4, 1e-5));
    EXPECT_TRUE(all_close(g.db, db_ref, 1e-4, 1e-5));
    // beta = 0.5 over an earlier gradient.
    const WgradResult earlier{random_values(static_cast<int64_t>(dw_ref.size()), 23),
                              random_values(static_cast<int64_t>(db_ref.size()), 24)};
    const WgradResult acc = run_wgrad(s, 0.5f, earlier, true);
    Values dw_acc(dw_ref.size()), db_acc(db_ref.size());
    for (size_t i = 0; i < dw_ref.size(); ++i) dw_acc[i] = 0.5f * earlier.dw[i] + dw_ref[i];
    for (size_t i = 0; i < db_ref.size(); ++i) db_acc[i] = 0.5f * earlier.db[i] + db_ref[i];
    EXPECT_TRUE(all_close(acc.dw, dw_acc, 1e-4, 1e-5));
    EXPECT_TRUE(all_close(acc.db, db_acc, 1e-4, 1e-5));
  }
}

TEST(CpuConvWeightGradient, VectorPathIsBitIdenticalToTheScalarOne) {
  if (!cpu::has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU: both paths are the scalar one here";
  for (const WgradCase& c : kWgradCases) {
    SCOPED_TRACE(c.name);
    const WgradSetup s = wgrad_setup(c);
    const size_t w = static_cast<size_t>(s.ws.elements()), k = static_cast<size_t>(c.k);
    const WgradResult start{Values(w, 0.0f), Values(k, 0.0f)};
    const WgradResult vector = run_wgrad(s, 0.0f, start, true), scalar = run_wgrad(s, 0.0f, start, false);
    EXPECT_EQ(0, std::memcmp(vector.dw.data(), scalar.dw.data(), w * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(vector.db.data(), scalar.db.data(), k * sizeof(float)));
  }
}

}  // namespace
}  // namespace stride::testing
