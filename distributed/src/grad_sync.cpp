// GradientSync: bucket layout over the gradient arena at construction, launch
// per layer during backward, wait in finish(). Also the whole-model broadcast,
// buffer averaging and replica checksum.
#include "stride/distributed/grad_sync.h"

#include <chrono>
#include <cstring>
#include <string>

#include "stride/common/error.h"

namespace stride {

GradientSync::GradientSync(Communicator& comm, Model& model, GradSyncOptions options)
    : comm_(comm), backend_(model.backend()), options_(options) {
  if (options_.bucket_bytes == 0) fail<ConfigError>("gradient bucket size must be positive");
  if (comm_.size() > 1 && comm_.device() != backend_.device())
    fail<ConfigError>("the {} communicator reduces {} memory but the model lives on {}", comm_.name(),
                      device_name(comm_.device()), device_name(backend_.device()));
  const ParameterArena& arena = model.arena();
  // Walk the arena backwards (the order backward finishes layers): a bucket is
  // a contiguous range [begin, end) of the gradient arena holding about
  // bucket_bytes of trainable parameters (the alignment gaps between them
  // ride along as zeros); a frozen parameter closes the range.
  int64_t begin = 0, end = 0;
  size_t bytes = 0, first_layer = 0;
  auto close = [&] {
    if (bytes > 0) {
      buckets_.push_back({arena.grads.slice(begin, Shape{end - begin}), first_layer, {}, false});
      stats_.bytes += bytes;
    }
    bytes = 0;
  };
  for (auto it = arena.entries.rbegin(); it != arena.entries.rend(); ++it) {
    const Parameter& p = *it->parameter;
    if (!p.trainable) {
      close();
      continue;
    }
    if (!p.grad.defined())
      fail<ConfigError>("parameter '{}' has no storage: build GradientSync after Model::init", p.name);
    const size_t size = p.grad.bytes();
    if (bytes > 0 && bytes + size > options_.bucket_bytes) close();
    if (bytes == 0) end = it->offset + p.shape.elements();
    begin = it->offset;
    bytes += size;
    first_layer = it->layer;
  }
  close();
  stats_.buckets = buckets_.size();
}

void GradientSync::start(Bucket& bucket) {
  bucket.handle = comm_.start_allreduce(bucket.view.f32(), static_cast<size_t>(bucket.view.elements()), options_.op);
  bucket.started = true;
}

void GradientSync::on_layer_done(size_t layer) {
  if (comm_.size() == 1) return;
  // Strictly in bucket order, so every rank starts the same collectives in the same order.
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].first_layer >= layer)
    start(buckets_[next_bucket_++]);
  comm_.progress();
}

void GradientSync::finish() {
  ++stats_.steps;
  if (comm_.size() == 1) return;
  // Buckets whose layers' callbacks did not run (no hook, or backward stopped early).
  while (next_bucket_ < buckets_.size()) start(buckets_[next_bucket_++]);

  const auto begin = std::chrono::steady_clock::now();
  for (Bucket& bucket : buckets_) comm_.wait(bucket.handle);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  stats_.last_wait_s = waited;
  stats_.total_wait_s += waited;
  for (Bucket& bucket : buckets_) {
    bucket.started = false;
    bucket.handle = CollectiveHandle{};
  }
  next_bucket_ = 0;
}

void CommunicatorSum::sum(Tensor& values) {
  if (values.dtype() != DType::f32 || values.device() != comm_.device())
    fail<ShapeError>("batch norm sync: {} tensor {} on {} for a communicator on {}",
                     values.dtype() == DType::f32 ? "f32" : "non-f32", values.shape().str(),
                     device_name(values.device()), device_name(comm_.device()));
  comm_.allreduce_sum(values.f32(), static_cast<size_t>(values.elements()));
}

void broadcast_parameters(Communicator& comm, Model& model, int root) {
  if (comm.size() == 1) return;
  ParameterArena& arena = model.arena();
  if (arena.size() > 0) comm.broadcast(arena.values.f32(), static_cast<size_t>(arena.size()), root);
  for (size_t i = 0; i < model.size(); ++i) {
    for (Buffer* b : model.layer(i).buffers()) {
      if (!b->value.defined()) continue;
      if (b->value.dtype() != DType::f32)
        fail<ConfigError>("{}/{}: only f32 state can be broadcast", model.layer_name(i), b->name);
      comm.broadcast(b->value.f32(), static_cast<size_t>(b->value.elements()), root);
    }
  }
  model.backend().note_external_write();
}

void average_buffers(Communicator& comm, Model& model) {
  if (comm.size() == 1) return;
  for (size_t i = 0; i < model.size(); ++i) {
    for (Buffer* b : model.layer(i).buffers()) {
      if (!b->value.defined() || b->value.dtype() != DType::f32) continue;
      comm.allreduce_average(b->value.f32(), static_cast<size_t>(b->value.elements()));
    }
  }
  model.backend().note_external_write();
}

uint64_t parameter_checksum(Model& model) {
  // FNV-1a over the exact bytes: replicas agree only if every bit agrees.
  uint64_t hash = 1469598103934665603ull;
  std::vector<unsigned char> host;
  for (const StateEntry& entry : model.state()) {
    const Tensor& t = *entry.tensor;
    if (!t.defined()) continue;
    host.resize(t.bytes());
    model.backend().copy_to_host(t, host.data());
    for (unsigned char byte : host) {
      hash ^= byte;
      hash *= 1099511628211ull;
    }
  }
  return hash;
}

void check_replicas_in_sync(Communicator& comm, Model& model) {
  const auto sums = comm.all_gather(static_cast<int64_t>(parameter_checksum(model)));
  std::string differ;
  for (size_t r = 1; r < sums.size(); ++r)
    if (sums[r] != sums[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (!differ.empty()) fail<MpiError>("parameters of rank(s) {} differ from rank 0's", differ);
}

}  // namespace stride
