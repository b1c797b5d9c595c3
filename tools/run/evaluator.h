// Running a model over batches: the device-side input, label and prediction
// tensors plus host mirrors of the per-sample losses and predictions, all
// allocated once for the largest batch; and evaluation of a whole split into a
// confusion matrix and mean loss (summed across ranks by the caller).
#pragma once

#include <cstdint>
#include <vector>

#include "stride/core/loss.h"
#include "stride/core/metrics.h"
#include "stride/core/model.h"
#include "stride/data/loader.h"
#include "stride/tracker/records.h"

namespace stride::tools {

class BatchSlots {
 public:
  BatchSlots(Backend& backend, const Shape& input, int64_t max_batch);

  // Uploads a loader batch; returns views of n samples.
  void load(const data::Batch& batch);
  const Tensor& images() const { return images_view_; }
  const Tensor& labels() const { return labels_view_; }
  int64_t size() const { return size_; }

  // After a forward + loss: copies this batch's losses and argmax predictions to
  // the host and returns (sum of losses, number correct).
  std::pair<double, int64_t> score(const Tensor& logits, const Tensor& losses);
  const std::vector<int32_t>& predictions() const { return host_predictions_; }
  const std::vector<int32_t>& host_labels() const { return host_labels_; }

 private:
  Backend& backend_;
  Tensor images_, labels_, predictions_;
  Tensor images_view_, labels_view_;
  std::vector<float> host_losses_;
  std::vector<int32_t> host_predictions_, host_labels_;
  int64_t size_ = 0;
};

struct EvalTotals {
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t count = 0;
  double mean_loss() const { return count ? loss_sum / static_cast<double>(count) : 0.0; }
  double accuracy() const { return count ? static_cast<double>(correct) / static_cast<double>(count) : 0.0; }
};

// One pass of `loader` (epoch 0, no augmentation) in inference mode. Adds to `confusion`.
EvalTotals evaluate(Model& model, SoftmaxCrossEntropy& loss, BatchSlots& slots, data::Loader& loader,
                    ConfusionMatrix& confusion);

// The report as the store keeps it.
tracker::Evaluation to_evaluation(const std::string& split, const ClassificationReport& report);

}  // namespace stride::tools
