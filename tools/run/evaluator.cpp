// BatchSlots and the evaluation pass.
#include "evaluator.h"

#include <algorithm>
#include <cstring>

#include "stride/common/error.h"
#include "stride/core/layer.h"

namespace stride::tools {

BatchSlots::BatchSlots(Backend& backend, const Shape& input, int64_t max_batch)
    : backend_(backend), input_(input), max_batch_(max_batch) {
  if (backend.device() == Device::cpu) return;
  images_ = Tensor(backend, input.with_batch(max_batch));
  labels_ = Tensor(backend, Shape{max_batch}, DType::i32);
  staging_.resize(2);
  for (Staging& s : staging_) {
    s.images = backend.allocate_host(images_.bytes());
    s.labels = backend.allocate_host(labels_.bytes());
    s.copied = backend.make_event();
  }
}

BatchSlots::~BatchSlots() {
  for (Staging& s : staging_) {
    if (s.copied) s.copied->wait();
    backend_.deallocate_host(s.images);
    backend_.deallocate_host(s.labels);
  }
}

void BatchSlots::load(const data::Batch& batch) {
  if (batch.size > max_batch_)
    fail<ShapeError>("a batch of {} images for slots of {}", batch.size, max_batch_);
  size_ = batch.size;
  const Shape shape = input_.with_batch(size_);
  if (staging_.empty()) {
    images_view_ = Tensor::wrap(const_cast<float*>(batch.images), shape, DType::f32, Device::cpu);
    labels_view_ = Tensor::wrap(const_cast<int32_t*>(batch.labels), Shape{size_}, DType::i32, Device::cpu);
    return;
  }
  Staging& slot = staging_[next_slot_];
  next_slot_ = (next_slot_ + 1) % staging_.size();
  slot.copied->wait();  // its previous copy has read it
  images_view_ = images_.batch_prefix(size_);
  labels_view_ = labels_.batch_prefix(size_);
  std::memcpy(slot.images, batch.images, images_view_.bytes());
  std::memcpy(slot.labels, batch.labels, labels_view_.bytes());
  backend_.copy_from_host_async(slot.images, images_view_);
  backend_.copy_from_host_async(slot.labels, labels_view_);
  slot.copied->record();
}

EvalTotals evaluate(Model& model, SoftmaxCrossEntropy& loss, BatchSlots& slots, data::Loader& loader,
                    ConfusionMatrix& confusion, const std::function<void(int64_t)>& on_batch) {
  Backend& backend = model.backend();
  Context ctx{backend};
  ctx.mode = Mode::inference;
  const int64_t classes = confusion.classes();
  Tensor totals(backend, Shape{2}, DType::f64);
  Tensor counts(backend, Shape{classes, classes}, DType::i32);
  backend.fill(totals, 0.0f);
  backend.fill(counts, 0.0f);
  int64_t seen = 0;
  loader.start_epoch(0);
  for (int64_t done = 1; const data::Batch* batch = loader.next(); ++done) {
    if (batch->size == 0) continue;
    slots.load(*batch);
    // In pieces whose activations stay in the backend's caches (Model::micro_batch_rows).
    const int64_t n = batch->size;
    const int64_t rows = model.micro_batch_rows(n, backend.micro_batch_bytes(), ctx.mode);
    for (int64_t begin = 0; begin < n; begin += rows) {
      const int64_t count = std::min(rows, n - begin);
      const Tensor labels = slots.labels().batch_rows(begin, count);
      const Tensor& logits = model.forward(ctx, slots.images().batch_rows(begin, count));
      loss.compute(backend, logits, labels, 1.0f);
      backend.accumulate_classification(logits, labels, loss.losses(), totals, counts);
    }
    seen += n;
    if (on_batch) on_batch(done);
  }
  double sums[2] = {0, 0};
  backend.copy_to_host(totals, sums);
  std::vector<int32_t> host(static_cast<size_t>(classes * classes));
  backend.copy_to_host(counts, host.data());
  std::vector<int64_t>& matrix = confusion.counts();
  for (size_t i = 0; i < host.size(); ++i) matrix[i] += host[i];
  return {sums[0], static_cast<int64_t>(sums[1]), seen};
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
