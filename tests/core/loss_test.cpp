// Softmax cross-entropy with label smoothing against the naive formula and
// finite differences of grad_scale * sum(losses).
#include <gtest/gtest.h>

#include <cmath>

#include "gradient_check.h"
#include "naive_ops.h"
#include "stride/core/loss.h"

namespace stride::testing {
namespace {

class SoftmaxCrossEntropyTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(SoftmaxCrossEntropyTest);

TEST_P(SoftmaxCrossEntropyTest, MatchesTheFormulaWithAndWithoutSmoothing) {
  const int64_t n = 5, k = 7;
  const std::vector<int32_t> labels = {0, 6, 3, 3, 1};
  const Values logits = random_values(n * k, 91, -3.0f, 3.0f);
  for (const float smoothing : {0.0f, 0.1f, 0.3f}) {
    SCOPED_TRACE(smoothing);
    SoftmaxCrossEntropy loss(smoothing);
    const float grad_scale = 1.0f / 8;  // a global batch larger than this rank's
    Tensor z = make_tensor(backend(), Shape{n, k}, logits);
    Tensor y = make_labels(backend(), labels);
    loss.compute(backend(), z, y, grad_scale);
    const auto expected = naive::softmax_cross_entropy(n, k, logits, labels, smoothing);
    EXPECT_TRUE(all_close(read(backend(), loss.probabilities()), expected.probabilities, 1e-5, 1e-7));
    EXPECT_TRUE(all_close(read(backend(), loss.losses()), expected.losses, 1e-5, 1e-6));

    std::vector<double> dlogits(static_cast<size_t>(n * k));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < k; ++j) {
        const double target =
            (j == labels[static_cast<size_t>(r)] ? 1.0 - smoothing : 0.0) + smoothing / static_cast<double>(k);
        dlogits[static_cast<size_t>(r * k + j)] =
            (expected.probabilities[static_cast<size_t>(r * k + j)] - target) * grad_scale;
      }
    const Values analytic = read(backend(), loss.dlogits());
    EXPECT_TRUE(all_close(analytic, dlogits, 1e-5, 1e-7));

    SoftmaxCrossEntropy probe(smoothing);
    auto objective = [&] {
      probe.compute(backend(), z, y, grad_scale);
      double sum = 0;
      for (float l : read(backend(), probe.losses())) sum += l;
      return sum * grad_scale;
    };
    EXPECT_TRUE(matches_finite_differences(analytic, numeric_gradient(backend(), z, objective, 1e-2), 1e-2));
  }
}

TEST_P(SoftmaxCrossEntropyTest, LargeLogitsStayFinite) {
  SoftmaxCrossEntropy loss;
  Tensor z = make_tensor(backend(), Shape{2, 3}, {1000.0f, 0.0f, -1000.0f, 500.0f, 500.0f, 500.0f});
  Tensor y = make_labels(backend(), {2, 1});
  loss.compute(backend(), z, y, 1.0f);
  const Values losses = read(backend(), loss.losses());
  EXPECT_NEAR(losses[0], 2000.0, 1e-2);
  EXPECT_NEAR(losses[1], std::log(3.0), 1e-5);
  for (float p : read(backend(), loss.probabilities())) EXPECT_TRUE(std::isfinite(p));
}

TEST_P(SoftmaxCrossEntropyTest, SmallerBatchAfterLargerUsesAPrefix) {
  SoftmaxCrossEntropy loss(0.1f);
  loss.reserve(backend(), 8, 4);
  const Values logits = random_values(3 * 4, 92);
  Tensor z = make_tensor(backend(), Shape{3, 4}, logits);
  Tensor y = make_labels(backend(), {3, 0, 2});
  loss.compute(backend(), z, y, 1.0f / 3);
  EXPECT_EQ(loss.losses().shape(), Shape{3});
  EXPECT_EQ(loss.dlogits().shape(), (Shape{3, 4}));
  const auto expected = naive::softmax_cross_entropy(3, 4, logits, {3, 0, 2}, 0.1);
  EXPECT_TRUE(all_close(read(backend(), loss.losses()), expected.losses, 1e-5, 1e-6));
}

TEST_P(SoftmaxCrossEntropyTest, LabelOutOfRangeIsADataError) {
  SoftmaxCrossEntropy loss;
  Tensor z = make_tensor(backend(), Shape{2, 3}, random_values(6, 93));
  Tensor y = make_labels(backend(), {0, 3});
  EXPECT_THROW(loss.compute(backend(), z, y, 1.0f), DataError);
}

TEST(SoftmaxCrossEntropyConfig, SmoothingMustBeBelowOne) {
  EXPECT_THROW(SoftmaxCrossEntropy(1.0f), ConfigError);
  EXPECT_THROW(SoftmaxCrossEntropy(-0.1f), ConfigError);
}

}  // namespace
}  // namespace stride::testing
