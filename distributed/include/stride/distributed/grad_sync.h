// Data-parallel gradient synchronisation: gradient buckets all-reduced while
// backward is still running, plus the one-time broadcast of the initial state.
//
// Buckets. The trainable parameters are grouped, in reverse layer order (the
// order backward finishes them), into buckets of about bucket_bytes; each
// bucket is a contiguous view of the model's gradient arena (Model::arena),
// so nothing is copied in or out. Hook on_layer_done into Model::backward: a
// bucket whose last layer is done is all-reduced at once (non-blocking, in
// place) while backward continues with the layers below. finish() starts what
// is left and waits for every bucket. Nothing is allocated in a step. Every
// rank must run the same model with the same trainable set, so buckets start
// in the same order everywhere.
//
// Scale. The loss gradient is scaled by 1 / global batch on every rank (the
// backend's softmax_cross_entropy grad_scale, the loader's Batch::global_size),
// so the default reduction is a SUM: the result is exactly the gradient of the
// mean loss over the global batch, even when ranks hold unequal shares of the
// last batch. ReduceOp::average is for losses scaled by 1 / local batch.
//
// Batch norm keeps local batch statistics on each rank by default (as PyTorch
// DDP and Horovod do); its gamma and beta are trainable and synchronised like
// any parameter, and its running statistics can be averaged with
// average_buffers() before evaluation or a checkpoint. CommunicatorSum, set as
// Context::batch_norm_sync, makes it synchronised batch norm instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "stride/core/model.h"
#include "stride/distributed/communicator.h"

namespace stride {

struct GradSyncOptions {
  size_t bucket_bytes = size_t{25} << 20;  // PyTorch DDP's default; a parameter larger than this gets its own bucket
  ReduceOp op = ReduceOp::sum;             // see "Scale" above
};

// Exposed communication time: how long finish() blocked waiting for the
// network after backward had ended (what overlap did not hide).
struct GradSyncStats {
  int64_t steps = 0;
  double last_wait_s = 0;   // the last finish()'s wait
  double total_wait_s = 0;  // over all steps
  size_t buckets = 0;
  size_t bytes = 0;  // gradient bytes reduced per step
};

class GradientSync {
 public:
  // The model's trainable parameters, taken now: build after init() and after
  // any freeze_first(), and again when the trainable set changes. comm's float
  // buffers must live where the model does (Communicator::device()).
  GradientSync(Communicator& comm, Model& model, GradSyncOptions options = {});
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Pass as Model::backward's callback: model.backward(ctx, dlogits, sync.hook()).
  void on_layer_done(size_t layer);
  std::function<void(size_t)> hook() {
    return [this](size_t layer) { on_layer_done(layer); };
  }
  // Starts what has not started and waits for every bucket (bounded by the
  // communicator's timeout). Call once per step after backward, before the
  // optimizer; the next step starts afresh.
  void finish();

  const GradSyncStats& stats() const { return stats_; }
  size_t bucket_count() const { return buckets_.size(); }

 private:
  struct Bucket {
    Tensor view;         // a range of the gradient arena
    size_t first_layer;  // the lowest layer index in it: backward finishes it last
    CollectiveHandle handle;
    bool started = false;
  };

  void start(Bucket& bucket);

  Communicator& comm_;
  Backend& backend_;
  GradSyncOptions options_;
  std::vector<Bucket> buckets_;  // in start order: last layers first
  size_t next_bucket_ = 0;  // buckets start in order: the first not yet started
  GradSyncStats stats_;
};

// Context::batch_norm_sync over a communicator: an in-place all-reduce (sum)
// of a few floats on the communicator's device, in the order layers call it.
class CommunicatorSum final : public ReplicaSum {
 public:
  explicit CommunicatorSum(Communicator& comm) : comm_(comm) {}
  void sum(Tensor& values) override;

 private:
  Communicator& comm_;
};

// Copies root's parameters and buffers (BN running statistics) to every rank,
// so every replica starts identical whatever seeds the ranks used.
void broadcast_parameters(Communicator& comm, Model& model, int root = 0);

// Averages the model's buffers (BN running statistics) across ranks.
void average_buffers(Communicator& comm, Model& model);

// A checksum of every parameter and buffer (their exact bits), for checking that replicas agree.
uint64_t parameter_checksum(Model& model);

// Throws MpiError naming the ranks whose parameters differ from rank 0's.
void check_replicas_in_sync(Communicator& comm, Model& model);

}  // namespace stride
