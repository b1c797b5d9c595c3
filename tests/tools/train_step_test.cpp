// TrainStep's micro-batches: a batch run forward and backward in pieces (the
// weight gradients accumulating) updates the model as the whole batch at once
// does, dropout masks included; a model whose batch norm mixes samples always
// runs whole.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "run/train_step.h"
#include "stride/core/loss.h"
#include "stride/core/model.h"
#include "stride/core/optimizer.h"

namespace stride::tools {
namespace {

std::vector<float> host(Backend& backend, const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.elements()));
  backend.copy_to_host(t, out.data());
  return out;
}

struct Outcome {
  std::vector<float> parameters;
  StepTotals totals;
};

// Three steps of `spec` on a fixed batch of 20, with micro-batches of `bytes`.
Outcome train(const std::string& spec, size_t bytes) {
  auto backend = make_cpu_backend(1);
  const Shape input{10, 10, 2};
  const int64_t n = 20;
  Model model = Model::from_spec(spec, input);
  model.init(*backend, 5);
  model.reserve(n);
  Optimizer optimizer(OptimizerConfig{}, model);
  SoftmaxCrossEntropy loss(0.1f);
  TrainStep step(model, optimizer, loss, nullptr);
  step.set_micro_batch_bytes(bytes);
  std::vector<float> images(static_cast<size_t>(input.with_batch(n).elements()));
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>(i % 3);
  Tensor x(*backend, input.with_batch(n)), y(*backend, Shape{n}, DType::i32);
  backend->copy_from_host(images.data(), x);
  backend->copy_from_host(labels.data(), y);
  Context ctx{*backend};
  ctx.seed = 9;
  ctx.sample_offset = 40;  // this rank's place in a larger global batch
  for (uint64_t i = 0; i < 3; ++i) {
    ctx.step = i;
    step.run(ctx, x, y, 3 * n, 1e-2f);
  }
  Outcome outcome;
  outcome.parameters = host(*backend, model.arena().values);
  outcome.totals = step.read_totals();
  return outcome;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float tolerance) {
  ASSERT_EQ(a.size(), b.size());
  size_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += std::abs(a[i] - b[i]) > tolerance * (1.0f + std::abs(b[i]));
  EXPECT_EQ(differing, 0u) << "of " << a.size() << " parameters";
}

TEST(TrainStep, MicroBatchesUpdateAsTheWholeBatchDoes) {
  const std::string spec = "conv(4,3) relu maxpool(2) dropout(0.3) flatten dense(8) relu dense(3)";
  const Outcome whole = train(spec, 0);
  // The conv output is 8x8x4 floats = 1 KiB per sample: 3 KiB gives pieces of 3, 3, ..., 2.
  const Outcome pieces = train(spec, 3 * 1024);
  expect_close(pieces.parameters, whole.parameters, 1e-5f);
  EXPECT_EQ(pieces.totals.count, whole.totals.count);
  EXPECT_NEAR(pieces.totals.loss_sum, whole.totals.loss_sum, 1e-4 * whole.totals.loss_sum);
  EXPECT_EQ(pieces.totals.correct, whole.totals.correct);
}

TEST(TrainStep, BatchNormModelsRunWhole) {
  const std::string spec = "conv(4,3) bn relu flatten dense(3)";
  const Outcome whole = train(spec, 0);
  const Outcome asked_for_pieces = train(spec, 1024);
  EXPECT_EQ(asked_for_pieces.parameters, whole.parameters);  // bit for bit: it did not split
}

}  // namespace
}  // namespace stride::tools
