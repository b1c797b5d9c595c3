// BatchNorm with Keras semantics: training normalises with the batch
// statistics and moves the running ones by `momentum` (the unbiased variance
// going in), inference and frozen layers use the running statistics.
#include <gtest/gtest.h>

#include "gradient_check.h"
#include "naive_ops.h"
#include "stride/core/layers.h"

namespace stride::testing {
namespace {

struct BnCase {
  const char* name;
  Shape sample;
  int64_t batch;
};

const BnCase kBnCases[] = {
    {"image 3x5x6", Shape{3, 5, 6}, 2},
    {"image batch 1", Shape{4, 3, 5}, 1},
    {"features", Shape{7}, 5},
};

class BatchNormLayerTest : public BackendTest {
 protected:
  // Running statistics far from the batch ones, so using the wrong ones shows.
  void set_running_stats(BatchNorm& bn, uint64_t seed) {
    const int64_t c = bn.input_shape()[bn.input_shape().rank() - 1];
    write(backend(), buffer_named(bn, "moving_mean").value, random_values(c, seed, -0.5f, 0.5f));
    write(backend(), buffer_named(bn, "moving_variance").value, random_values(c, seed + 1, 0.5f, 2.0f));
  }
};
STRIDE_INSTANTIATE_BACKENDS(BatchNormLayerTest);

TEST_P(BatchNormLayerTest, TrainingForwardBackwardAndRunningStatistics) {
  for (const BnCase& c : kBnCases) {
    SCOPED_TRACE(c.name);
    const float momentum = 0.9f, epsilon = 1e-3f;
    BatchNorm bn(momentum, epsilon);
    prepare_layer(backend(), bn, c.sample, c.batch);
    randomise_parameters(backend(), bn, 61);
    set_running_stats(bn, 62);
    const int64_t channels = c.sample[c.sample.rank() - 1];
    const Values gamma = read(backend(), parameter_named(bn, "gamma").value);
    const Values beta = read(backend(), parameter_named(bn, "beta").value);
    const Values mean0 = read(backend(), buffer_named(bn, "moving_mean").value);
    const Values var0 = read(backend(), buffer_named(bn, "moving_variance").value);
    const Values x = random_values(c.batch * c.sample.elements(), 63, -1.0f, 2.0f);

    Tensor xt = make_tensor(backend(), c.sample.with_batch(c.batch), x), y(backend(), xt.shape());
    Context ctx{backend(), Mode::training};
    bn.forward(ctx, xt, y);
    const auto expected = naive::batchnorm_training(epsilon, channels, x, gamma, beta);
    EXPECT_TRUE(all_close(read(backend(), y), expected.y, 1e-4, 1e-5));

    const double count = static_cast<double>(x.size()) / static_cast<double>(channels);
    std::vector<double> mean1(static_cast<size_t>(channels)), var1(static_cast<size_t>(channels));
    for (size_t j = 0; j < mean1.size(); ++j) {
      mean1[j] = momentum * mean0[j] + (1 - momentum) * expected.mean[j];
      const double unbiased = count > 1 ? expected.variance[j] * count / (count - 1) : expected.variance[j];
      var1[j] = momentum * var0[j] + (1 - momentum) * unbiased;
    }
    EXPECT_TRUE(all_close(read(backend(), buffer_named(bn, "moving_mean").value), mean1, 1e-5, 1e-6));
    EXPECT_TRUE(all_close(read(backend(), buffer_named(bn, "moving_variance").value), var1, 1e-5, 1e-6));

    const Values dy = random_values(y.elements(), 64);
    Tensor dyt = make_tensor(backend(), y.shape(), dy), dx(backend(), xt.shape());
    bn.backward(ctx, xt, y, dyt, dx);
    Values ndx, ndgamma, ndbeta;
    naive::batchnorm_backward(epsilon, channels, x, dy, gamma, ndx, ndgamma, ndbeta);
    EXPECT_TRUE(all_close(read(backend(), dx), ndx, 1e-3, 1e-4));
    EXPECT_TRUE(all_close(read(backend(), parameter_named(bn, "gamma").grad), ndgamma, 1e-4, 1e-5));
    EXPECT_TRUE(all_close(read(backend(), parameter_named(bn, "beta").grad), ndbeta, 1e-4, 1e-5));
  }
}

TEST_P(BatchNormLayerTest, TrainingGradientsMatchFiniteDifferences) {
  for (const BnCase& c : kBnCases) {
    SCOPED_TRACE(c.name);
    BatchNorm bn;
    prepare_layer(backend(), bn, c.sample, c.batch);
    randomise_parameters(backend(), bn, 65);
    Context ctx{backend(), Mode::training};
    GradientCheck options;
    options.step = 5e-3;
    check_layer_gradients(backend(), bn, ctx, random_values(c.batch * c.sample.elements(), 66), c.batch, options);
  }
}

TEST_P(BatchNormLayerTest, InferenceUsesRunningStatistics) {
  for (const BnCase& c : kBnCases) {
    SCOPED_TRACE(c.name);
    BatchNorm bn;
    prepare_layer(backend(), bn, c.sample, c.batch);
    randomise_parameters(backend(), bn, 67);
    set_running_stats(bn, 68);
    const int64_t channels = c.sample[c.sample.rank() - 1];
    const Values mean = read(backend(), buffer_named(bn, "moving_mean").value);
    const Values var = read(backend(), buffer_named(bn, "moving_variance").value);
    const Values x = random_values(c.batch * c.sample.elements(), 69);
    Tensor xt = make_tensor(backend(), c.sample.with_batch(c.batch), x), y(backend(), xt.shape());
    Context ctx{backend(), Mode::inference};
    bn.forward(ctx, xt, y);
    EXPECT_TRUE(
        all_close(read(backend(), y),
                  naive::batchnorm_inference(1e-3f, channels, x, read(backend(), parameter_named(bn, "gamma").value),
                                             read(backend(), parameter_named(bn, "beta").value), mean, var),
                  1e-5, 1e-6));
    // Inference leaves the running statistics alone.
    EXPECT_EQ(read(backend(), buffer_named(bn, "moving_mean").value), mean);
    EXPECT_EQ(read(backend(), buffer_named(bn, "moving_variance").value), var);
    check_layer_gradients(backend(), bn, ctx, x, c.batch);
  }
}

TEST_P(BatchNormLayerTest, FrozenLayerBehavesAsInferenceEvenInTraining) {
  for (const BnCase& c : kBnCases) {
    SCOPED_TRACE(c.name);
    BatchNorm bn;
    prepare_layer(backend(), bn, c.sample, c.batch);
    randomise_parameters(backend(), bn, 70);
    set_running_stats(bn, 71);
    bn.set_trainable(false);
    const int64_t channels = c.sample[c.sample.rank() - 1];
    const Values mean = read(backend(), buffer_named(bn, "moving_mean").value);
    const Values var = read(backend(), buffer_named(bn, "moving_variance").value);
    const Values x = random_values(c.batch * c.sample.elements(), 72);
    Tensor xt = make_tensor(backend(), c.sample.with_batch(c.batch), x), y(backend(), xt.shape());
    Context ctx{backend(), Mode::training};
    bn.forward(ctx, xt, y);
    EXPECT_TRUE(
        all_close(read(backend(), y),
                  naive::batchnorm_inference(1e-3f, channels, x, read(backend(), parameter_named(bn, "gamma").value),
                                             read(backend(), parameter_named(bn, "beta").value), mean, var),
                  1e-5, 1e-6));
    EXPECT_EQ(read(backend(), buffer_named(bn, "moving_mean").value), mean);
    check_layer_gradients(backend(), bn, ctx, x, c.batch);
  }
}

TEST_P(BatchNormLayerTest, BackwardWithoutInputGradientStillWritesParameterGradients) {
  BatchNorm bn;
  const Shape sample{2, 3, 4};
  prepare_layer(backend(), bn, sample, 2);
  randomise_parameters(backend(), bn, 73);
  const Values x = random_values(2 * sample.elements(), 74), dy = random_values(2 * sample.elements(), 75);
  Tensor xt = make_tensor(backend(), sample.with_batch(2), x), y(backend(), xt.shape());
  Tensor dyt = make_tensor(backend(), xt.shape(), dy), none;
  Context ctx{backend(), Mode::training};
  bn.forward(ctx, xt, y);
  bn.backward(ctx, xt, y, dyt, none);
  Values ndx, ndgamma, ndbeta;
  naive::batchnorm_backward(1e-3f, 4, x, dy, read(backend(), parameter_named(bn, "gamma").value), ndx, ndgamma, ndbeta);
  EXPECT_TRUE(all_close(read(backend(), parameter_named(bn, "gamma").grad), ndgamma, 1e-4, 1e-5));
  EXPECT_TRUE(all_close(read(backend(), parameter_named(bn, "beta").grad), ndbeta, 1e-4, 1e-5));
}

TEST(BatchNormSpec, KerasDefaultsAndValidation) {
  EXPECT_EQ(BatchNorm().spec(), "bn");
  EXPECT_EQ(BatchNorm(0.9f, 1e-5f).spec(), "bn(momentum=0.9,epsilon=1e-05)");
  EXPECT_THROW(BatchNorm(1.0f), ConfigError);
  EXPECT_THROW(BatchNorm(0.9f, 0.0f), ConfigError);
  BatchNorm bn;
  EXPECT_THROW(bn.build(Shape{2, 3}), ShapeError);
}

}  // namespace
}  // namespace stride::testing
