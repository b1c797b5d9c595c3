// BatchSlots and the evaluation pass.
#include "evaluator.h"

#include <algorithm>
#include <span>

#include "stride/core/layer.h"

namespace stride::tools {

BatchSlots::BatchSlots(Backend& backend, const Shape& input, int64_t max_batch)
    : backend_(backend),
      images_(backend, input.with_batch(max_batch)),
      labels_(backend, Shape{max_batch}, DType::i32),
      predictions_(backend, Shape{max_batch}, DType::i32),
      host_losses_(static_cast<size_t>(max_batch)),
      host_predictions_(static_cast<size_t>(max_batch)),
      host_labels_(static_cast<size_t>(max_batch)) {}

void BatchSlots::load(const data::Batch& batch) {
  size_ = batch.size;
  images_view_ = images_.batch_prefix(size_);
  labels_view_ = labels_.batch_prefix(size_);
  backend_.copy_from_host(batch.images, images_view_);
  backend_.copy_from_host(batch.labels, labels_view_);
  std::copy_n(batch.labels, size_, host_labels_.begin());
}

std::pair<double, int64_t> BatchSlots::score(const Tensor& logits, const Tensor& losses) {
  Tensor predictions = predictions_.batch_prefix(size_);
  backend_.argmax_rows(logits, predictions);
  backend_.copy_to_host(predictions, host_predictions_.data());
  backend_.copy_to_host(losses, host_losses_.data());
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < size_; ++i) {
    loss_sum += host_losses_[static_cast<size_t>(i)];
    correct += host_predictions_[static_cast<size_t>(i)] == host_labels_[static_cast<size_t>(i)];
  }
  return {loss_sum, correct};
}

EvalTotals evaluate(Model& model, SoftmaxCrossEntropy& loss, BatchSlots& slots, data::Loader& loader,
                    ConfusionMatrix& confusion) {
  Backend& backend = model.backend();
  Context ctx{backend};
  ctx.mode = Mode::inference;
  EvalTotals totals;
  loader.start_epoch(0);
  while (const data::Batch* batch = loader.next()) {
    if (batch->size == 0) continue;
    slots.load(*batch);
    const Tensor& logits = model.forward(ctx, slots.images());
    loss.compute(backend, logits, slots.labels(), 1.0f);
    const auto [loss_sum, correct] = slots.score(logits, loss.losses());
    totals.loss_sum += loss_sum;
    totals.correct += correct;
    totals.count += batch->size;
    const auto n = static_cast<size_t>(batch->size);
    confusion.add(std::span(slots.host_labels().data(), n), std::span(slots.predictions().data(), n));
  }
  return totals;
}

tracker::Evaluation to_evaluation(const std::string& split, const ClassificationReport& report) {
  tracker::Evaluation e;
  e.split = split;
  e.accuracy = report.accuracy;
  e.loss = report.loss;
  for (const ClassMetrics& c : report.classes) e.classes.push_back({c.name, c.precision, c.recall, c.f1, c.support});
  e.macro = {report.macro.precision, report.macro.recall, report.macro.f1};
  e.weighted = {report.weighted.precision, report.weighted.recall, report.weighted.f1};
  e.confusion = report.confusion;
  return e;
}

}  // namespace stride::tools
