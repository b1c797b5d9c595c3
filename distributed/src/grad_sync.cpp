// GradientSync: bucket layout at construction, copy-in and launch per layer
// during backward, wait and copy-out in finish(). Also the whole-model
// broadcast, buffer averaging and replica checksum.
#include "stride/distributed/grad_sync.h"

#include <chrono>
#include <cstring>
#include <string>

#include "stride/common/error.h"

namespace stride {

namespace {

std::vector<std::vector<Parameter*>> parameters_by_layer(Model& model) {
  std::vector<std::vector<Parameter*>> layers(model.size());
  for (size_t i = 0; i < model.size(); ++i) layers[i] = model.layer_parameters(i);
  return layers;
}

}  // namespace

GradientSync::GradientSync(Communicator& comm, Model& model, GradSyncOptions options)
    : GradientSync(comm, model.backend(), parameters_by_layer(model), options) {}

GradientSync::GradientSync(Communicator& comm, Backend& backend, const std::vector<std::vector<Parameter*>>& layers,
                           GradSyncOptions options)
    : comm_(comm), backend_(backend), options_(options) {
  if (options_.bucket_bytes == 0) fail<ConfigError>("gradient bucket size must be positive");
  if (comm_.size() > 1 && comm_.device() != backend_.device())
    fail<ConfigError>("the {} communicator reduces {} memory but the model lives on {}", comm_.name(),
                      device_name(comm_.device()), device_name(backend_.device()));
  build(layers);
}

void GradientSync::build(const std::vector<std::vector<Parameter*>>& layers) {
  layer_entries_.assign(layers.size(), {});
  layer_done_.assign(layers.size(), false);
  // Reverse layer order: the first bucket fills with the last layers, which
  // backward finishes first.
  std::vector<size_t> bucket_elements;
  size_t current_bytes = 0;
  for (size_t layer = layers.size(); layer-- > 0;) {
    for (Parameter* p : layers[layer]) {
      if (!p->trainable) continue;
      if (!p->value.defined() || !p->grad.defined())
        fail<ConfigError>("parameter '{}' of layer {} has no storage: build GradientSync after Model::init and reserve",
                          p->name, layer);
      if (p->grad.dtype() != DType::f32) fail<ConfigError>("parameter '{}' gradient is not f32", p->name);
      const size_t bytes = p->grad.bytes();
      if (bucket_elements.empty() || (current_bytes > 0 && current_bytes + bytes > options_.bucket_bytes)) {
        bucket_elements.push_back(0);
        current_bytes = 0;
      }
      layer_entries_[layer].push_back(entries_.size());
      entries_.push_back(Entry{p, bucket_elements.size() - 1, bucket_elements.back(), Tensor()});
      bucket_elements.back() += static_cast<size_t>(p->grad.elements());
      current_bytes += bytes;
    }
  }
  buckets_.resize(bucket_elements.size());
  for (size_t b = 0; b < buckets_.size(); ++b)
    buckets_[b].buffer = Tensor(backend_, Shape{static_cast<int64_t>(bucket_elements[b])});
  for (Entry& e : entries_) {
    e.slice = Tensor::wrap(buckets_[e.bucket].buffer.f32() + e.offset, e.parameter->grad.shape(), DType::f32,
                           backend_.device());
    ++buckets_[e.bucket].parameters;
    stats_.bytes += e.parameter->grad.bytes();
  }
  stats_.buckets = buckets_.size();
}

void GradientSync::copy_in(size_t layer) {
  if (layer_done_[layer]) return;
  layer_done_[layer] = true;
  for (size_t index : layer_entries_[layer]) {
    Entry& e = entries_[index];
    backend_.copy(e.parameter->grad, e.slice);
    ++buckets_[e.bucket].ready;
  }
}

void GradientSync::start(Bucket& bucket) {
  bucket.handle =
      comm_.start_allreduce(bucket.buffer.f32(), static_cast<size_t>(bucket.buffer.elements()), options_.op);
  bucket.started = true;
}

void GradientSync::on_layer_done(size_t layer) {
  if (comm_.size() == 1) return;
  if (layer >= layer_entries_.size())
    fail<ConfigError>("on_layer_done({}) for a model of {} layers", layer, layer_entries_.size());
  copy_in(layer);
  // Strictly in bucket order, so every rank starts the same collectives in the same order.
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].ready == buckets_[next_bucket_].parameters)
    start(buckets_[next_bucket_++]);
  comm_.progress();
}

void GradientSync::finish() {
  ++stats_.steps;
  if (comm_.size() == 1) return;
  // Layers whose callback did not run (no hook, or backward stopped early).
  for (size_t layer = layer_done_.size(); layer-- > 0;) copy_in(layer);
  while (next_bucket_ < buckets_.size()) start(buckets_[next_bucket_++]);

  const auto begin = std::chrono::steady_clock::now();
  for (Bucket& bucket : buckets_) comm_.wait(bucket.handle);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  stats_.last_wait_s = waited;
  stats_.total_wait_s += waited;

  for (Entry& e : entries_) backend_.copy(e.slice, e.parameter->grad);
  for (Bucket& bucket : buckets_) {
    bucket.ready = 0;
    bucket.started = false;
    bucket.handle = CollectiveHandle{};
  }
  layer_done_.assign(layer_done_.size(), false);
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
  for (const StateEntry& entry : model.state()) {
    Tensor& t = *entry.tensor;
    if (!t.defined()) continue;
    if (t.dtype() != DType::f32) fail<ConfigError>("{}/{}: only f32 state can be broadcast", entry.layer, entry.name);
    comm.broadcast(t.f32(), static_cast<size_t>(t.elements()), root);
  }
}

void average_buffers(Communicator& comm, Model& model) {
  if (comm.size() == 1) return;
  for (size_t i = 0; i < model.size(); ++i) {
    for (Buffer* b : model.layer(i).buffers()) {
      if (!b->value.defined() || b->value.dtype() != DType::f32) continue;
      comm.allreduce_average(b->value.f32(), static_cast<size_t>(b->value.elements()));
    }
  }
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
