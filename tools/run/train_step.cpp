// TrainStep: the step's sequence of backend calls.
#include "train_step.h"

#include <algorithm>

#include "stride/distributed/grad_sync.h"

namespace stride::tools {

TrainStep::TrainStep(Model& model, Optimizer& optimizer, SoftmaxCrossEntropy& loss, GradientSync* sync)
    : model_(model),
      optimizer_(optimizer),
      loss_(loss),
      sync_(sync),
      micro_batch_bytes_(model.backend().micro_batch_bytes()),
      totals_(model.backend(), Shape{2}, DType::f64) {
  model.backend().fill(totals_, 0.0f);
}

void TrainStep::run(Context& ctx, const Tensor& images, const Tensor& labels, int64_t global_batch, float lr) {
  Backend& backend = model_.backend();
  const int64_t n = images.dim(0);
  const int64_t rows = model_.micro_batch_rows(n, micro_batch_bytes_, ctx.mode);
  const int64_t first_sample = ctx.sample_offset;
  for (int64_t begin = 0; begin < n; begin += rows) {
    const int64_t count = std::min(rows, n - begin);
    const bool last = begin + count == n;
    const Tensor piece_labels = labels.batch_rows(begin, count);
    ctx.sample_offset = first_sample + begin;
    ctx.accumulate_gradients = begin > 0;
    const Tensor& logits = model_.forward(ctx, images.batch_rows(begin, count));
    loss_.compute(backend, logits, piece_labels, 1.0f / static_cast<float>(global_batch));
    if (sync_ != nullptr && last)
      model_.backward(ctx, loss_.dlogits(), sync_->hook());
    else
      model_.backward(ctx, loss_.dlogits());
    backend.accumulate_classification(logits, piece_labels, loss_.losses(), totals_, no_confusion_);
  }
  ctx.sample_offset = first_sample;
  ctx.accumulate_gradients = false;
  if (sync_ != nullptr) sync_->finish();
  optimizer_.step(lr);
  count_ += n;
}

StepTotals TrainStep::read_totals() {
  double host[2] = {0, 0};
  model_.backend().copy_to_host(totals_, host);
  return {host[0], static_cast<int64_t>(host[1]), count_};
}

void TrainStep::reset_totals() {
  model_.backend().fill(totals_, 0.0f);
  count_ = 0;
}

}  // namespace stride::tools
