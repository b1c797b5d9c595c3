// The residual block against the same block composed from naive kernels
// (conv-BN-ReLU-conv-BN plus an identity or 1x1-conv-BN shortcut, summed and
// rectified), and its gradients against finite differences, in training and
// inference mode.
#include <gtest/gtest.h>

#include "gradient_check.h"
#include "naive_ops.h"
#include "stride/core/layers.h"

namespace stride::testing {
namespace {

ConvParams same_conv(const Shape& input, int64_t kernel, int64_t stride) {
  ConvParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  const AxisPadding h = axis_padding(Padding::same, input[1], kernel, stride);
  const AxisPadding w = axis_padding(Padding::same, input[2], kernel, stride);
  p.pad_top = h.before, p.pad_bottom = h.after, p.pad_left = w.before, p.pad_right = w.after;
  return p;
}

Shape conv_out(const ConvParams& p, const Shape& x, int64_t filters) {
  return Shape{x[0], window_output_size(x[1], p.kernel_h, p.stride_h, p.pad_top, p.pad_bottom),
               window_output_size(x[2], p.kernel_w, p.stride_w, p.pad_left, p.pad_right), filters};
}

// The block from naive kernels; `training` picks batch or running statistics.
Values naive_residual(Backend& backend, Residual& block, const Shape& xs, const Values& x, int64_t filters,
                      int64_t stride, bool training) {
  auto value = [&](const std::string& name) { return read(backend, parameter_named(block, name).value); };
  auto buffer = [&](const std::string& name) { return read(backend, buffer_named(block, name).value); };
  auto bn = [&](const std::string& prefix, const Values& in) {
    if (training)
      return naive::batchnorm_training(1e-3f, filters, in, value(prefix + "/gamma"), value(prefix + "/beta")).y;
    return naive::batchnorm_inference(1e-3f, filters, in, value(prefix + "/gamma"), value(prefix + "/beta"),
                                      buffer(prefix + "/moving_mean"), buffer(prefix + "/moving_variance"));
  };
  const ActivationParams relu{ActivationKind::relu, 0.0f};
  const ConvParams c1 = same_conv(xs, 3, stride);
  const Shape hs = conv_out(c1, xs, filters);
  const Values h1 = naive::activation_forward(
      relu, bn("bn1", naive::conv_forward(c1, xs, x, Shape{3, 3, xs[3], filters}, value("conv1/kernel"), {})));
  const ConvParams c2 = same_conv(hs, 3, 1);
  const Values h2 =
      bn("bn2", naive::conv_forward(c2, hs, h1, Shape{3, 3, filters, filters}, value("conv2/kernel"), {}));
  Values shortcut = x;
  if (block.has_projection()) {
    const ConvParams cp = same_conv(xs, 1, stride);
    shortcut =
        bn("proj_bn", naive::conv_forward(cp, xs, x, Shape{1, 1, xs[3], filters}, value("proj_conv/kernel"), {}));
  }
  return naive::activation_forward(relu, naive::add(h2, shortcut));
}

struct ResidualCase {
  const char* name;
  Shape input;
  int64_t filters, stride, batch;
  bool projection;
};

const ResidualCase kResidualCases[] = {
    {"identity", Shape{4, 5, 6}, 6, 1, 2, false},
    {"projection, stride 2", Shape{5, 6, 3}, 5, 2, 2, true},
    {"projection, channels only", Shape{3, 4, 2}, 3, 1, 1, true},
};

class ResidualLayerTest : public BackendTest {
 protected:
  void set_running_stats(Residual& block, uint64_t seed) {
    for (Buffer* b : block.buffers()) {
      const bool variance = b->name.ends_with("moving_variance");
      write(backend(), b->value,
            random_values(b->value.elements(), seed++, variance ? 0.5f : -0.3f, variance ? 1.5f : 0.3f));
    }
  }
};
STRIDE_INSTANTIATE_BACKENDS(ResidualLayerTest);

TEST_P(ResidualLayerTest, ForwardMatchesTheComposedNaiveBlock) {
  for (const ResidualCase& c : kResidualCases) {
    SCOPED_TRACE(c.name);
    Residual block(c.filters, c.stride);
    prepare_layer(backend(), block, c.input, c.batch);
    EXPECT_EQ(block.has_projection(), c.projection);
    randomise_parameters(backend(), block, 81);
    set_running_stats(block, 82);
    const Shape xs = c.input.with_batch(c.batch);
    const Values x = random_values(xs.elements(), 83);
    Tensor xt = make_tensor(backend(), xs, x), y(backend(), block.output_shape().with_batch(c.batch));
    for (const bool training : {false, true}) {
      SCOPED_TRACE(training ? "training" : "inference");
      const Values expected = naive_residual(backend(), block, xs, x, c.filters, c.stride, training);
      Context ctx{backend(), training ? Mode::training : Mode::inference};
      block.forward(ctx, xt, y);
      EXPECT_TRUE(all_close(read(backend(), y), expected, 1e-3, 1e-4));
    }
  }
}

TEST_P(ResidualLayerTest, GradientsMatchFiniteDifferences) {
  for (const ResidualCase& c : kResidualCases) {
    for (const Mode mode : {Mode::training, Mode::inference}) {
      SCOPED_TRACE(::testing::Message() << c.name << (mode == Mode::training ? ", training" : ", inference"));
      Residual block(c.filters, c.stride);
      prepare_layer(backend(), block, c.input, c.batch);
      randomise_parameters(backend(), block, 84);
      set_running_stats(block, 85);
      Context ctx{backend(), mode};
      GradientCheck options;
      options.step = 5e-4;  // small enough that no ReLU input crosses zero
      options.rtol = 2e-2;
      check_layer_gradients(backend(), block, ctx, random_values(c.batch * c.input.elements(), 86), c.batch, options);
    }
  }
}

TEST_P(ResidualLayerTest, FrozenBlockPassesGradientThroughRunningStatistics) {
  Residual block(4, 2);
  prepare_layer(backend(), block, Shape{4, 4, 3}, 2);
  randomise_parameters(backend(), block, 87);
  set_running_stats(block, 88);
  block.set_trainable(false);
  for (Parameter* p : block.parameters()) EXPECT_FALSE(p->trainable) << p->name;
  Context ctx{backend(), Mode::training};
  GradientCheck options;
  options.step = 5e-4;
  options.rtol = 2e-2;
  check_layer_gradients(backend(), block, ctx, random_values(2 * 48, 89), 2, options);
}

TEST(ResidualNames, SubLayerParametersArePrefixed) {
  Residual block(8, 2);
  block.build(Shape{8, 8, 4});
  std::vector<std::string> names;
  for (Parameter* p : block.parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv1/kernel", "bn1/gamma", "bn1/beta", "conv2/kernel", "bn2/gamma",
                                             "bn2/beta", "proj_conv/kernel", "proj_bn/gamma", "proj_bn/beta"}));
  EXPECT_EQ(block.output_shape(), (Shape{4, 4, 8}));
  EXPECT_EQ(block.spec(), "residual(8,stride=2)");
}

}  // namespace
}  // namespace stride::testing
