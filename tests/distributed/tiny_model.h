// A small conv net, a deterministic batch and helpers to run one training
// step of it, shared by the Local and MPI suites: enough to check gradient
// sync end to end without a dataset.
#pragma once

#include <cstdint>
#include <vector>

#include "stride/core/layer.h"
#include "stride/core/loss.h"
#include "stride/core/model.h"

namespace stride::testing {

inline constexpr const char* kTinySpec = "conv(4,3) relu flatten dense(3)";
inline const Shape kTinyInput{6, 6, 2};
inline constexpr int64_t kTinyClasses = 3;

inline Model make_tiny_model(Backend& backend, uint64_t seed, int64_t max_batch) {
  Model model = Model::from_spec(kTinySpec, kTinyInput);
  model.init(backend, seed);
  model.reserve(max_batch);
  return model;
}

// Deterministic images in [-1, 1) and labels for `count` samples.
struct TinyBatch {
  std::vector<float> images;
  std::vector<int32_t> labels;
};

inline TinyBatch make_tiny_batch(int64_t count, uint64_t seed) {
  TinyBatch batch;
  uint64_t state = seed * 6364136223846793005ull + 1442695040888963407ull;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((state >> 40) & 0xffffff) / static_cast<float>(1 << 24);
  };
  batch.images.resize(static_cast<size_t>(count * kTinyInput.elements()));
  for (float& v : batch.images) v = 2.0f * next() - 1.0f;
  for (int64_t i = 0; i < count; ++i) batch.labels.push_back(static_cast<int32_t>(next() * kTinyClasses) % 3);
  return batch;
}

// Forward and backward over samples [first, first + count) of batch, with the
// loss gradient scaled by 1 / global_batch; on_layer_done goes to backward.
inline void tiny_forward_backward(Model& model, SoftmaxCrossEntropy& loss, const TinyBatch& batch, int64_t first,
                                  int64_t count, int64_t global_batch,
                                  const std::function<void(size_t)>& on_layer_done = nullptr) {
  Backend& backend = model.backend();
  const int64_t per_sample = kTinyInput.elements();
  Tensor x(backend, kTinyInput.with_batch(count));
  Tensor labels(backend, Shape{count}, DType::i32);
  backend.copy_from_host(batch.images.data() + first * per_sample, x);
  backend.copy_from_host(batch.labels.data() + first, labels);
  Context ctx{backend};
  ctx.sample_offset = first;
  const Tensor& logits = model.forward(ctx, x);
  loss.compute(backend, logits, labels, 1.0f / static_cast<float>(global_batch));
  model.backward(ctx, loss.dlogits(), on_layer_done);
}

// Every trainable gradient (or value) of the model, flattened, in parameter order.
inline std::vector<float> flatten(Model& model, bool gradients) {
  std::vector<float> out;
  for (Parameter* p : model.trainable_parameters()) {
    const Tensor& t = gradients ? p->grad : p->value;
    std::vector<float> host(static_cast<size_t>(t.elements()));
    model.backend().copy_to_host(t, host.data());
    out.insert(out.end(), host.begin(), host.end());
  }
  return out;
}

}  // namespace stride::testing
