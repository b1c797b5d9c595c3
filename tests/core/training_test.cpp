// The model end to end: whole-model gradients against finite differences
// through view layers, the on_layer_done order, and a short training run of
// the seed CNN on a tiny separable dataset that must drive the loss down.
#include <gtest/gtest.h>

#include "gradient_check.h"
#include "stride/core/loss.h"
#include "stride/core/optimizer.h"
#include "stride/core/spec.h"

namespace stride::testing {
namespace {

class TrainingTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(TrainingTest);

TEST_P(TrainingTest, ModelGradientsMatchFiniteDifferencesOfTheLoss) {
  // Smooth layers only (ELU, average pooling), so no kink spoils the differences.
  Model model = Model::from_spec("conv(3,3,padding=same) bn elu avgpool(2) flatten dense(4)", Shape{5, 6, 2});
  model.init(backend(), 3);
  const int64_t n = 3;
  Tensor x = make_tensor(backend(), Shape{n, 5, 6, 2}, random_values(n * 60, 301));
  Tensor labels = make_labels(backend(), {0, 3, 1});
  SoftmaxCrossEntropy loss(0.1f);
  Context ctx{backend(), Mode::training};
  auto objective = [&] {
    loss.compute(backend(), model.forward(ctx, x), labels, 1.0f / n);
    double sum = 0;
    for (float l : read(backend(), loss.losses())) sum += l;
    return sum / n;
  };
  objective();
  std::vector<size_t> order;
  model.backward(ctx, loss.dlogits(), [&](size_t i) { order.push_back(i); });
  EXPECT_EQ(order, (std::vector<size_t>{5, 4, 3, 2, 1, 0}));

  std::vector<Values> analytic;
  for (Parameter* p : model.parameters()) analytic.push_back(read(backend(), p->grad));
  size_t i = 0;
  for (Parameter* p : model.parameters()) {
    SCOPED_TRACE(p->name);
    EXPECT_TRUE(
        matches_finite_differences(analytic[i++], numeric_gradient(backend(), p->value, objective, 1e-2), 1e-2));
  }
}

TEST_P(TrainingTest, FrozenPrefixGetsNoGradientsAndKeepsItsWeights) {
  Model model = Model::from_spec("conv(3,3) relu conv(4,3) relu flatten dense(2)", Shape{7, 7, 1});
  model.init(backend(), 4);
  model.freeze_first(2);
  OptimizerConfig config;
  Optimizer optimizer(config, model);
  const Values frozen = read(backend(), model.layer_parameters(0)[0]->value);
  const Values trained = read(backend(), model.layer_parameters(2)[0]->value);
  Tensor x = make_tensor(backend(), Shape{2, 7, 7, 1}, random_values(98, 302));
  Tensor labels = make_labels(backend(), {0, 1});
  SoftmaxCrossEntropy loss;
  Context ctx{backend(), Mode::training};
  loss.compute(backend(), model.forward(ctx, x), labels, 0.5f);
  std::vector<size_t> done;
  model.backward(ctx, loss.dlogits(), [&](size_t i) { done.push_back(i); });
  EXPECT_EQ(done, (std::vector<size_t>{5, 4, 3, 2}));  // stops at the first trainable layer
  optimizer.step(0.1f);
  EXPECT_EQ(read(backend(), model.layer_parameters(0)[0]->value), frozen);
  EXPECT_NE(read(backend(), model.layer_parameters(2)[0]->value), trained);
}

// Four classes, each a bright 7x7 square in its own quadrant over noise.
void separable_batch(int64_t n, uint64_t seed, Values& images, std::vector<int32_t>& labels) {
  images = random_values(n * 28 * 28, seed, 0.0f, 0.3f);
  labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label = static_cast<int32_t>(i % 4);
    labels[static_cast<size_t>(i)] = label;
    const int64_t top = 3 + 14 * (label / 2), left = 3 + 14 * (label % 2);
    for (int64_t h = top; h < top + 7; ++h)
      for (int64_t w = left; w < left + 7; ++w) images[static_cast<size_t>((i * 28 + h) * 28 + w)] += 0.7f;
  }
}

TEST_P(TrainingTest, SeedCnnLearnsASeparableDataset) {
  Model model = Model::from_spec(arch_spec("seed_cnn", 4), Shape{28, 28, 1});
  model.init(backend(), 11);
  model.reserve(16);
  Optimizer optimizer(OptimizerConfig{}, model);
  SoftmaxCrossEntropy loss;
  std::vector<Tensor> images, labels;
  for (int b = 0; b < 4; ++b) {
    Values x;
    std::vector<int32_t> y;
    separable_batch(16, 400 + static_cast<uint64_t>(b), x, y);
    images.push_back(make_tensor(backend(), Shape{16, 28, 28, 1}, x));
    labels.push_back(make_labels(backend(), y));
  }
  auto mean_loss = [&] {
    double sum = 0;
    for (float l : read(backend(), loss.losses())) sum += l;
    return sum / 16;
  };
  double first = 0, last = 0;
  for (int epoch = 0; epoch < 6; ++epoch) {
    double epoch_loss = 0;
    for (size_t b = 0; b < images.size(); ++b) {
      Context ctx{backend(), Mode::training, 1, static_cast<uint64_t>(optimizer.steps())};
      loss.compute(backend(), model.forward(ctx, images[b]), labels[b], 1.0f / 16);
      epoch_loss += mean_loss() / static_cast<double>(images.size());
      model.backward(ctx, loss.dlogits());
      optimizer.step(2e-3f);
    }
    if (epoch == 0) first = epoch_loss;
    last = epoch_loss;
  }
  EXPECT_LT(last, 0.25 * first) << "first epoch " << first << ", last " << last;

  // Held-out images of the same kind are classified.
  Values x;
  std::vector<int32_t> y;
  separable_batch(16, 999, x, y);
  Context ctx{backend(), Mode::inference};
  Tensor predicted(backend(), Shape{16}, DType::i32);
  backend().argmax_rows(model.forward(ctx, make_tensor(backend(), Shape{16, 28, 28, 1}, x)), predicted);
  std::vector<int32_t> got(16);
  backend().copy_to_host(predicted, got.data());
  int correct = 0;
  for (size_t i = 0; i < got.size(); ++i) correct += got[i] == y[i];
  EXPECT_GE(correct, 15);
}

}  // namespace
}  // namespace stride::testing
