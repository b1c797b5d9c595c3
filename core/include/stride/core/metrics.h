// Classification metrics from a confusion matrix: accuracy, per-class
// precision / recall / F1 / support, macro and support-weighted averages
// (scikit-learn's classification_report definitions; 0 where undefined).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace stride {

struct ClassMetrics {
  std::string name;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  int64_t support = 0;
};

struct ClassificationReport {
  double accuracy = 0;
  double loss = 0;  // mean loss, when known
  int64_t samples = 0;
  std::vector<ClassMetrics> classes;
  ClassMetrics macro;     // name "macro avg"
  ClassMetrics weighted;  // name "weighted avg"
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
};

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t classes);

  void add(std::span<const int32_t> labels, std::span<const int32_t> predicted);
  void reset();
  int64_t classes() const { return classes_; }
  int64_t at(int64_t truth, int64_t predicted) const { return counts_[truth * classes_ + predicted]; }
  int64_t total() const;
  int64_t correct() const;
  double accuracy() const;
  // Row-major counts, for summing across ranks.
  std::vector<int64_t>& counts() { return counts_; }

  ClassificationReport report(const std::vector<std::string>& class_names, double mean_loss = 0) const;

 private:
  int64_t classes_;
  std::vector<int64_t> counts_;
};

// The report as aligned text: per-class rows, averages, then the matrix.
std::string format_report(const ClassificationReport& report);

}  // namespace stride
