// Hyperparameter importance (variance decomposition over an additive model):
// on full grids the shares equal the main effects' variances worked out by
// hand; an incomplete grid still separates additive effects; interactions are
// left unexplained; many numeric values are binned; degenerate inputs say why.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "stride/tracker/importance.h"

namespace stride::tracker {
namespace {

// Every (a, b) combination once, objective f(index of a, index of b).
std::vector<ImportanceSample> full_grid(const std::vector<ParamValue>& as, const std::vector<ParamValue>& bs,
                                        const std::function<double(size_t, size_t)>& f) {
  std::vector<ImportanceSample> samples;
  for (size_t i = 0; i < as.size(); ++i)
    for (size_t j = 0; j < bs.size(); ++j) samples.push_back({{{"a", as[i]}, {"b", bs[j]}}, f(i, j)});
  return samples;
}

const ParamImportance& find(const Importance& result, const std::string& name) {
  for (const auto& p : result.params)
    if (p.name == name) return p;
  throw std::runtime_error("no parameter " + name + " in the result");
}

double population_variance(const std::vector<double>& values) {
  double mean = 0, sum = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  for (double v : values) sum += (v - mean) * (v - mean);
  return sum / static_cast<double>(values.size());
}

TEST(Importance, ParameterThatAloneDecidesTakesAllTheVariance) {
  const double by_lr[] = {0.7, 0.8, 0.9};
  const auto samples = full_grid({0.001, 0.01, 0.1}, {16, 32}, [&](size_t i, size_t) { return by_lr[i]; });
  const Importance result = variance_importance(samples);
  ASSERT_EQ(result.params.size(), 2u) << result.note;
  EXPECT_EQ(result.params.front().name, "a") << "the deciding parameter comes first";
  EXPECT_NEAR(find(result, "a").importance, 1.0, 1e-9);
  EXPECT_NEAR(find(result, "b").importance, 0.0, 1e-9);
  EXPECT_NEAR(result.unexplained, 0.0, 1e-9);
  EXPECT_EQ(find(result, "a").levels, 3u);
  EXPECT_EQ(result.samples, 6u);
}

TEST(Importance, AdditiveEffectsShareByTheirVariances) {
  // a (text): effects -1, +1, variance 1; b: effects -1, 0, 1, variance 2/3.
  const auto samples = full_grid({"adam", "sgd"}, {1, 2, 3}, [](size_t i, size_t j) {
    return 5.0 + (i == 0 ? -1.0 : 1.0) + (static_cast<double>(j) - 1.0);
  });
  const Importance result = variance_importance(samples);
  ASSERT_EQ(result.params.size(), 2u) << result.note;
  EXPECT_NEAR(find(result, "a").importance, 1.0 / (1.0 + 2.0 / 3.0), 1e-9);
  EXPECT_NEAR(find(result, "b").importance, (2.0 / 3.0) / (1.0 + 2.0 / 3.0), 1e-9);
  EXPECT_NEAR(result.unexplained, 0.0, 1e-9);
  EXPECT_NEAR(result.variance, 1.0 + 2.0 / 3.0, 1e-9);
}

TEST(Importance, PureInteractionIsLeftUnexplained) {
  const auto samples = full_grid({true, false}, {"x", "y"}, [](size_t i, size_t j) { return i == j ? 1.0 : 0.0; });
  const Importance result = variance_importance(samples);
  ASSERT_EQ(result.params.size(), 2u) << result.note;
  EXPECT_NEAR(find(result, "a").importance, 0.0, 1e-9);
  EXPECT_NEAR(find(result, "b").importance, 0.0, 1e-9);
  EXPECT_NEAR(result.unexplained, 1.0, 1e-9);
}

TEST(Importance, IncompleteGridStillSeparatesAdditiveEffects) {
  // A 3x3 grid without the cell (2, 2): the levels are unbalanced, so marginal
  // means would mix the effects; the least-squares fit recovers them exactly.
  const double g[] = {0.0, 1.0, 3.0}, h[] = {0.0, 0.5, 0.6};
  std::vector<ImportanceSample> samples;
  std::vector<double> true_g, true_h;
  for (size_t i = 0; i < 3; ++i)
    for (size_t j = 0; j < 3; ++j) {
      if (i == 2 && j == 2) continue;
      samples.push_back({{{"a", static_cast<int>(i)}, {"b", static_cast<int>(j)}}, g[i] + h[j]});
      true_g.push_back(g[i]);
      true_h.push_back(h[j]);
    }
  const Importance result = variance_importance(samples);
  ASSERT_EQ(result.params.size(), 2u) << result.note;
  const double va = population_variance(true_g), vb = population_variance(true_h);
  EXPECT_NEAR(result.unexplained, 0.0, 1e-9);
  EXPECT_NEAR(find(result, "a").importance, va / (va + vb), 1e-9);
  EXPECT_NEAR(find(result, "b").importance, vb / (va + vb), 1e-9);
}

TEST(Importance, ManyNumericValuesAreBinnedByQuantile) {
  // 40 distinct learning rates, log-spaced; the objective rises with log10(lr).
  std::vector<ImportanceSample> samples;
  for (int i = 0; i < 40; ++i) {
    const double lr = std::pow(10.0, -4.0 + 2.0 * i / 39.0);
    samples.push_back({{{"lr", lr}, {"seed", i % 2}}, 0.5 + 0.1 * std::log10(lr) + 0.001 * (i % 2)});
  }
  const Importance result = variance_importance(samples);
  ASSERT_EQ(result.params.size(), 2u) << result.note;
  const auto& lr = find(result, "lr");
  EXPECT_TRUE(lr.binned);
  EXPECT_EQ(lr.levels, kMaxLevels);
  EXPECT_GT(lr.importance, 0.95) << "within-bin spread is all that lr leaves unexplained";
  EXPECT_FALSE(find(result, "seed").binned);
}

TEST(Importance, SharesAddUpToOne) {
  const auto samples = full_grid({1, 2, 3, 4}, {"p", "q", "r"}, [](size_t i, size_t j) {
    return std::sin(double(i) * 1.7) + 0.3 * double(j * j) + 0.2 * double(i * j);
  });
  const Importance result = variance_importance(samples);
  double total = result.unexplained;
  for (const auto& p : result.params) total += p.importance;
  EXPECT_NEAR(total, 1.0, 1e-12);
  EXPECT_GT(result.unexplained, 0.0) << "the i*j term is an interaction";
}

TEST(Importance, DegenerateInputsSayWhy) {
  const auto two = full_grid({1, 2}, {1}, [](size_t i, size_t) { return double(i); });
  EXPECT_TRUE(variance_importance(two).params.empty());
  EXPECT_NE(variance_importance(two).note.find("at least 3"), std::string::npos) << variance_importance(two).note;

  const auto constant = full_grid({1, 2, 3}, {1, 2}, [](size_t, size_t) { return 0.5; });
  EXPECT_TRUE(variance_importance(constant).params.empty());
  EXPECT_NE(variance_importance(constant).note.find("same"), std::string::npos);

  const auto fixed = full_grid({1}, {2}, [](size_t, size_t) { return 0.5; });
  std::vector<ImportanceSample> repeated = {fixed[0], fixed[0], fixed[0]};
  repeated[1].value = 0.7;
  EXPECT_NE(variance_importance(repeated).note.find("no hyperparameter differs"), std::string::npos);

  auto with_nan = full_grid({1, 2, 3}, {1, 2}, [](size_t i, size_t) { return double(i); });
  with_nan[0].value = NAN;
  const Importance result = variance_importance(with_nan);
  EXPECT_EQ(result.samples, 5u) << "a trial without a finite objective is left out";
  EXPECT_FALSE(result.params.empty());
}

TEST(Importance, ParametersThatAlwaysChangeTogetherAreReportedAsOne) {
  // On one rank the global batch is the batch: the data cannot tell them apart.
  std::vector<ImportanceSample> samples;
  for (int lr = 0; lr < 3; ++lr)
    for (int batch : {32, 64})
      samples.push_back(
          {{{"lr", lr}, {"batch", batch}, {"global_batch", batch}}, double(lr) + (batch == 32 ? 0.5 : 0)});
  const Importance result = variance_importance(samples);
  ASSERT_EQ(result.params.size(), 2u) << "lr, and batch with its alias";
  const auto& batch = find(result, "batch");
  EXPECT_EQ(batch.aliases, std::vector<std::string>{"global_batch"});
  // lr effects -1, 0, 1 (variance 2/3); batch effects +-0.25 (variance 1/16).
  EXPECT_NEAR(batch.importance, (1.0 / 16) / (2.0 / 3 + 1.0 / 16), 1e-9);
}

TEST(Importance, SaturatedFitIsFlagged) {
  const auto samples = full_grid({1, 2, 3}, {1}, [](size_t i, size_t) { return double(i * i); });
  const Importance result = variance_importance(samples);
  ASSERT_EQ(result.params.size(), 1u);
  EXPECT_NE(result.note.find("exact"), std::string::npos) << result.note;
}

}  // namespace
}  // namespace stride::tracker
