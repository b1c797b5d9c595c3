// Confusion matrix and classification report against small cases computed by
// hand (scikit-learn's definitions: 0 where a ratio is undefined).
#include <gtest/gtest.h>

#include "stride/common/error.h"
#include "stride/core/metrics.h"

namespace stride {
namespace {

// 3 classes, 10 samples. Rows true, columns predicted:
//        p0 p1 p2
//   t0 [  3  1  0 ]   support 4
//   t1 [  1  2  1 ]   support 4
//   t2 [  0  0  2 ]   support 2
ConfusionMatrix hand_case() {
  ConfusionMatrix cm(3);
  const std::vector<int32_t> labels = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2};
  const std::vector<int32_t> predicted = {0, 0, 0, 1, 0, 1, 1, 2, 2, 2};
  cm.add(labels, predicted);
  return cm;
}

TEST(ConfusionMatrixTest, CountsAndAccuracy) {
  const ConfusionMatrix cm = hand_case();
  EXPECT_EQ(cm.at(0, 0), 3);
  EXPECT_EQ(cm.at(0, 1), 1);
  EXPECT_EQ(cm.at(1, 0), 1);
  EXPECT_EQ(cm.at(1, 2), 1);
  EXPECT_EQ(cm.at(2, 2), 2);
  EXPECT_EQ(cm.at(2, 0), 0);
  EXPECT_EQ(cm.total(), 10);
  EXPECT_EQ(cm.correct(), 7);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 0.7);
}

TEST(ConfusionMatrixTest, PerClassAndAveragedReport) {
  const ClassificationReport r = hand_case().report({"cat", "dog", "eel"}, 0.5);
  ASSERT_EQ(r.classes.size(), 3u);
  // precision = tp / predicted, recall = tp / support.
  const double p[] = {3.0 / 4, 2.0 / 3, 2.0 / 3}, rc[] = {3.0 / 4, 2.0 / 4, 2.0 / 2};
  const int64_t support[] = {4, 4, 2};
  double macro_f1 = 0, weighted_f1 = 0;
  for (size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE(k);
    const double f1 = 2 * p[k] * rc[k] / (p[k] + rc[k]);
    EXPECT_NEAR(r.classes[k].precision, p[k], 1e-12);
    EXPECT_NEAR(r.classes[k].recall, rc[k], 1e-12);
    EXPECT_NEAR(r.classes[k].f1, f1, 1e-12);
    EXPECT_EQ(r.classes[k].support, support[k]);
    macro_f1 += f1 / 3;
    weighted_f1 += f1 * static_cast<double>(support[k]) / 10;
  }
  EXPECT_EQ(r.classes[1].name, "dog");
  EXPECT_NEAR(r.macro.precision, (3.0 / 4 + 2.0 / 3 + 2.0 / 3) / 3, 1e-12);
  EXPECT_NEAR(r.macro.recall, (3.0 / 4 + 2.0 / 4 + 1.0) / 3, 1e-12);
  EXPECT_NEAR(r.macro.f1, macro_f1, 1e-12);
  EXPECT_NEAR(r.weighted.precision, (4 * 3.0 / 4 + 4 * 2.0 / 3 + 2 * 2.0 / 3) / 10, 1e-12);
  EXPECT_NEAR(r.weighted.recall, 0.7, 1e-12);  // weighted recall is accuracy
  EXPECT_NEAR(r.weighted.f1, weighted_f1, 1e-12);
  EXPECT_EQ(r.macro.support, 10);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.7);
  EXPECT_DOUBLE_EQ(r.loss, 0.5);
  EXPECT_EQ(r.confusion, (std::vector<std::vector<int64_t>>{{3, 1, 0}, {1, 2, 1}, {0, 0, 2}}));
}

TEST(ConfusionMatrixTest, UndefinedRatiosAreZero) {
  // Class 2 is never predicted and never true; class 1 is predicted but never true.
  ConfusionMatrix cm(3);
  cm.add(std::vector<int32_t>{0, 0, 0}, std::vector<int32_t>{0, 1, 0});
  const ClassificationReport r = cm.report({});
  EXPECT_EQ(r.classes[2].name, "class_2");
  EXPECT_EQ(r.classes[2].precision, 0.0);
  EXPECT_EQ(r.classes[2].recall, 0.0);
  EXPECT_EQ(r.classes[2].f1, 0.0);
  EXPECT_EQ(r.classes[1].precision, 0.0);
  EXPECT_EQ(r.classes[1].support, 0);
  EXPECT_NEAR(r.classes[0].recall, 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.classes[0].precision, 1.0, 1e-12);
  EXPECT_NEAR(r.macro.f1, (0.8) / 3, 1e-12);
  EXPECT_NEAR(r.weighted.f1, 0.8, 1e-12);

  const ClassificationReport empty = ConfusionMatrix(2).report({});
  EXPECT_EQ(empty.accuracy, 0.0);
  EXPECT_EQ(empty.weighted.f1, 0.0);
}

TEST(ConfusionMatrixTest, SummingCountsAcrossRanksAndReset) {
  ConfusionMatrix a = hand_case(), b = hand_case();
  for (size_t i = 0; i < a.counts().size(); ++i) a.counts()[i] += b.counts()[i];
  EXPECT_EQ(a.total(), 20);
  EXPECT_DOUBLE_EQ(a.accuracy(), 0.7);
  a.reset();
  EXPECT_EQ(a.total(), 0);
}

TEST(ConfusionMatrixTest, RejectsOutOfRangeAndMismatchedInput) {
  ConfusionMatrix cm(2);
  EXPECT_THROW(cm.add(std::vector<int32_t>{0, 2}, std::vector<int32_t>{0, 1}), DataError);
  EXPECT_THROW(cm.add(std::vector<int32_t>{0}, std::vector<int32_t>{-1}), DataError);
  EXPECT_THROW(cm.add(std::vector<int32_t>{0, 1}, std::vector<int32_t>{0}), Error);
  EXPECT_THROW(ConfusionMatrix(0), Error);
}

TEST(FormatReport, ListsClassesAveragesAndMatrix) {
  const std::string text = format_report(hand_case().report({"cat", "dog", "eel"}, 0.25));
  for (const char* needle : {"accuracy 0.7000 on 10 images", "loss 0.2500", "cat", "eel", "macro avg", "weighted avg",
                             "0.7500", "confusion matrix"})
    EXPECT_NE(text.find(needle), std::string::npos) << needle << " missing from\n" << text;
}

}  // namespace
}  // namespace stride
