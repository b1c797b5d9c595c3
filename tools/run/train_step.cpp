// TrainStep: the step's sequence of backend calls.
#include "train_step.h"

#include "stride/distributed/grad_sync.h"

namespace stride::tools {

TrainStep::TrainStep(Model& model, Optimizer& optimizer, SoftmaxCrossEntropy& loss, GradientSync* sync)
    : model_(model), optimizer_(optimizer), loss_(loss), sync_(sync), totals_(model.backend(), Shape{2}, DType::f64) {
  model.backend().fill(totals_, 0.0f);
}

void TrainStep::run(Context& ctx, const Tensor& images, const Tensor& labels, int64_t global_batch, float lr) {
  Backend& backend = model_.backend();
  const Tensor& logits = model_.forward(ctx, images);
  loss_.compute(backend, logits, labels, 1.0f / static_cast<float>(global_batch));
  if (sync_ != nullptr) {
    model_.backward(ctx, loss_.dlogits(), sync_->hook());
    sync_->finish();
  } else {
    model_.backward(ctx, loss_.dlogits());
  }
  optimizer_.step(lr);
  backend.accumulate_classification(logits, labels, loss_.losses(), totals_, no_confusion_);
  count_ += images.dim(0);
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
