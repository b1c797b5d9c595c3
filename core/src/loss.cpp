// Softmax cross-entropy: buffers and the call into the backend.
#include "stride/core/loss.h"

#include "stride/common/error.h"

namespace stride {

SoftmaxCrossEntropy::SoftmaxCrossEntropy(float label_smoothing) : label_smoothing_(label_smoothing) {
  if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
    fail<ConfigError>("train.label_smoothing: must be in [0, 1), got {}", label_smoothing);
}

void SoftmaxCrossEntropy::reserve(Backend& backend, int64_t max_batch, int64_t classes) {
  probabilities_ = Tensor(backend, Shape{max_batch, classes});
  dlogits_ = Tensor(backend, Shape{max_batch, classes});
  losses_ = Tensor(backend, Shape{max_batch});
}

void SoftmaxCrossEntropy::compute(Backend& backend, const Tensor& logits, const Tensor& labels, float grad_scale) {
  const int64_t n = logits.dim(0);
  if (!probabilities_.defined() || n > probabilities_.dim(0) || logits.dim(1) != probabilities_.dim(1))
    reserve(backend, n, logits.dim(1));
  probabilities_view_ = probabilities_.batch_prefix(n);
  dlogits_view_ = dlogits_.batch_prefix(n);
  losses_view_ = losses_.batch_prefix(n);
  backend.softmax_cross_entropy(logits, labels, label_smoothing_, grad_scale, probabilities_view_, losses_view_,
                                dlogits_view_);
}

}  // namespace stride
