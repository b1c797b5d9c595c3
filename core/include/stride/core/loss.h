// Softmax cross-entropy with label smoothing, the loss of every classifier
// here. Holds its output buffers for batches up to a maximum size.
#pragma once

#include "stride/core/backend.h"

namespace stride {

class SoftmaxCrossEntropy {
 public:
  explicit SoftmaxCrossEntropy(float label_smoothing = 0.0f);

  void reserve(Backend& backend, int64_t max_batch, int64_t classes);
  // logits [n, classes], labels [n] (i32, on the backend's device). Writes the
  // probabilities, per-sample losses and dlogits = (p - target) * grad_scale.
  void compute(Backend& backend, const Tensor& logits, const Tensor& labels, float grad_scale);

  // Views of the last compute()'s results, n rows.
  const Tensor& probabilities() const { return probabilities_view_; }
  const Tensor& losses() const { return losses_view_; }
  const Tensor& dlogits() const { return dlogits_view_; }
  float label_smoothing() const { return label_smoothing_; }

 private:
  float label_smoothing_;
  Tensor probabilities_, losses_, dlogits_;
  Tensor probabilities_view_, losses_view_, dlogits_view_;
};

}  // namespace stride
