// Getting batches onto the backend's device, and evaluating a whole split.
//
// BatchSlots: on the CPU a batch is used where the loader left it (valid until
// the loader's next batch, which is after the step). On a device, images and
// labels go through page-locked staging buffers with asynchronous copies: two
// staging slots alternate, and a slot is refilled only after the event
// recorded behind its last copy is done, so the host prepares batch i + 1
// while the device still computes batch i.
//
// evaluate() keeps the loss sum, correct count and confusion matrix on the
// device and reads them once at the end of the split.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
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
  ~BatchSlots();
  BatchSlots(const BatchSlots&) = delete;
  BatchSlots& operator=(const BatchSlots&) = delete;

  // Puts a loader batch on the device; images() and labels() are n-sample views.
  void load(const data::Batch& batch);
  const Tensor& images() const { return images_view_; }
  const Tensor& labels() const { return labels_view_; }
  int64_t size() const { return size_; }

 private:
  struct Staging {
    void* images = nullptr;
    void* labels = nullptr;
    std::unique_ptr<BackendEvent> copied;
  };

  Backend& backend_;
  Shape input_;
  int64_t max_batch_;
  Tensor images_, labels_;  // device buffers (devices only)
  Tensor images_view_, labels_view_;
  std::vector<Staging> staging_;  // devices only: two slots
  size_t next_slot_ = 0;
  int64_t size_ = 0;
};

struct EvalTotals {
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t count = 0;
  double mean_loss() const { return count ? loss_sum / static_cast<double>(count) : 0.0; }
  double accuracy() const { return count ? static_cast<double>(correct) / static_cast<double>(count) : 0.0; }
};

// One pass of `loader` (epoch 0, no augmentation) in inference mode. Adds to
// `confusion`. `on_batch`, when set, gets the number of batches done after each.
EvalTotals evaluate(Model& model, SoftmaxCrossEntropy& loss, BatchSlots& slots, data::Loader& loader,
                    ConfusionMatrix& confusion, const std::function<void(int64_t)>& on_batch = nullptr);

// The report as the store keeps it.
tracker::Evaluation to_evaluation(const std::string& split, const ClassificationReport& report);

}  // namespace stride::tools
