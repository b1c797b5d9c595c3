// Confusion matrix and the classification report derived from it.
#include "stride/core/metrics.h"

#include <algorithm>

#include <fmt/format.h>

#include "stride/common/error.h"
#include "stride/common/table.h"

namespace stride {

ConfusionMatrix::ConfusionMatrix(int64_t classes)
    : classes_(classes), counts_(static_cast<size_t>(classes * classes), 0) {
  if (classes <= 0) fail<Error>("a confusion matrix needs at least one class");
}

void ConfusionMatrix::add(std::span<const int32_t> labels, std::span<const int32_t> predicted) {
  if (labels.size() != predicted.size()) fail<Error>("confusion matrix: {} labels, {} predictions", labels.size(), predicted.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes_ || predicted[i] < 0 || predicted[i] >= classes_)
      fail<DataError>("label {} or prediction {} out of range [0, {})", labels[i], predicted[i], classes_);
    ++counts_[static_cast<size_t>(labels[i] * classes_ + predicted[i])];
  }
}

void ConfusionMatrix::reset() { std::fill(counts_.begin(), counts_.end(), 0); }

int64_t ConfusionMatrix::total() const {
  int64_t sum = 0;
  for (int64_t c : counts_) sum += c;
  return sum;
}

int64_t ConfusionMatrix::correct() const {
  int64_t sum = 0;
  for (int64_t k = 0; k < classes_; ++k) sum += at(k, k);
  return sum;
}

double ConfusionMatrix::accuracy() const {
  const int64_t n = total();
  return n ? static_cast<double>(correct()) / static_cast<double>(n) : 0.0;
}

ClassificationReport ConfusionMatrix::report(const std::vector<std::string>& class_names, double mean_loss) const {
  ClassificationReport r;
  r.accuracy = accuracy();
  r.loss = mean_loss;
  r.samples = total();
  r.macro.name = "macro avg";
  r.weighted.name = "weighted avg";
  for (int64_t k = 0; k < classes_; ++k) {
    int64_t predicted = 0, actual = 0;
    for (int64_t j = 0; j < classes_; ++j) {
      predicted += at(j, k);
      actual += at(k, j);
    }
    ClassMetrics m;
    m.name = k < static_cast<int64_t>(class_names.size()) ? class_names[k] : fmt::format("class_{}", k);
    m.support = actual;
    m.precision = predicted ? static_cast<double>(at(k, k)) / static_cast<double>(predicted) : 0.0;
    m.recall = actual ? static_cast<double>(at(k, k)) / static_cast<double>(actual) : 0.0;
    m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
    r.macro.precision += m.precision / static_cast<double>(classes_);
    r.macro.recall += m.recall / static_cast<double>(classes_);
    r.macro.f1 += m.f1 / static_cast<double>(classes_);
    if (r.samples > 0) {
      const double w = static_cast<double>(actual) / static_cast<double>(r.samples);
      r.weighted.precision += w * m.precision;
      r.weighted.recall += w * m.recall;
      r.weighted.f1 += w * m.f1;
    }
    r.classes.push_back(m);
  }
  r.macro.support = r.weighted.support = r.samples;
  r.confusion.assign(static_cast<size_t>(classes_), std::vector<int64_t>(static_cast<size_t>(classes_)));
  for (int64_t t = 0; t < classes_; ++t)
    for (int64_t p = 0; p < classes_; ++p) r.confusion[t][p] = at(t, p);
  return r;
}

std::string format_report(const ClassificationReport& report) {
  Table table({"class", "precision", "recall", "f1", "support"});
  for (const char* column : {"precision", "recall", "f1"}) table.set_precision(column, 4);
  auto add = [&](const ClassMetrics& m) { table.add_row({m.name, m.precision, m.recall, m.f1, m.support}); };
  for (const auto& m : report.classes) add(m);
  add(report.macro);
  add(report.weighted);
  std::string out = fmt::format("accuracy {:.4f} on {} images", report.accuracy, report.samples);
  if (report.loss > 0) out += fmt::format(", loss {:.4f}", report.loss);
  out += "\n\n" + table.to_text() + "\nconfusion matrix (rows: true class, columns: predicted)\n";

  std::vector<std::string> columns = {"true \\ predicted"};
  for (size_t k = 0; k < report.classes.size(); ++k) columns.push_back(fmt::format("{}", k));
  Table matrix(columns);
  for (size_t t = 0; t < report.confusion.size(); ++t) {
    std::vector<Table::Cell> row = {fmt::format("{} {}", t, report.classes[t].name)};
    for (int64_t count : report.confusion[t]) row.emplace_back(count);
    matrix.add_row(std::move(row));
  }
  return out + matrix.to_text();
}

}  // namespace stride
