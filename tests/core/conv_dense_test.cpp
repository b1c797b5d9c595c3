// Conv2D and Dense layers against naive loops and finite differences, at odd
// shapes: non-square inputs and kernels, stride 2, TF 'same' padding with even
// kernels (the extra row/column goes after), batch 1, channels not multiples of 8.
#include <gtest/gtest.h>

#include "gradient_check.h"
#include "naive_ops.h"
#include "stride/core/layers.h"

namespace stride::testing {
namespace {

struct ConvCase {
  const char* name;
  Shape input;  // (H, W, C)
  int64_t filters, kernel_h, kernel_w, stride;
  Padding padding;
  bool bias;
  int64_t batch;
};

const ConvCase kConvCases[] = {
    {"valid 3x3", Shape{5, 7, 3}, 4, 3, 3, 1, Padding::valid, true, 2},
    {"same even kernel", Shape{6, 5, 3}, 5, 4, 4, 1, Padding::same, true, 1},
    {"same stride 2 non-square kernel", Shape{7, 6, 5}, 3, 2, 3, 2, Padding::same, false, 2},
    {"valid stride 2", Shape{9, 8, 10}, 6, 3, 3, 2, Padding::valid, true, 3},
    {"1x1 same stride 2", Shape{5, 4, 3}, 2, 1, 1, 2, Padding::same, false, 2},
};

class ConvLayerTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(ConvLayerTest);

TEST(AxisPadding, SamePutsTheExtraPixelAfterAsTensorFlowDoes) {
  // 6 wide, kernel 4, stride 1: 3 pixels of padding, 1 before and 2 after.
  const AxisPadding even = axis_padding(Padding::same, 6, 4, 1);
  EXPECT_EQ(even.before, 1);
  EXPECT_EQ(even.after, 2);
  EXPECT_EQ(even.output, 6);
  // 7 wide, kernel 2, stride 2: ceil(7/2) = 4 outputs, 1 pixel of padding after.
  const AxisPadding strided = axis_padding(Padding::same, 7, 2, 2);
  EXPECT_EQ(strided.output, 4);
  EXPECT_EQ(strided.before, 0);
  EXPECT_EQ(strided.after, 1);
  // 6 wide, kernel 1, stride 2: no padding needed.
  const AxisPadding none = axis_padding(Padding::same, 6, 1, 2);
  EXPECT_EQ(none.output, 3);
  EXPECT_EQ(none.before + none.after, 0);
  const AxisPadding valid = axis_padding(Padding::valid, 9, 3, 2);
  EXPECT_EQ(valid.output, 4);
  EXPECT_EQ(valid.before + valid.after, 0);
}

TEST_P(ConvLayerTest, ForwardAndBackwardMatchNaiveLoops) {
  for (const ConvCase& c : kConvCases) {
    SCOPED_TRACE(c.name);
    Conv2D conv(c.filters, c.kernel_h, c.kernel_w, c.stride, c.stride, c.padding, c.bias);
    prepare_layer(backend(), conv, c.input, c.batch);
    randomise_parameters(backend(), conv, 11);
    const Shape xs = c.input.with_batch(c.batch);
    const Shape ws{c.kernel_h, c.kernel_w, c.input[2], c.filters};
    const Values x = random_values(xs.elements(), 3);
    const Values w = read(backend(), parameter_named(conv, "kernel").value);
    const Values b = c.bias ? read(backend(), parameter_named(conv, "bias").value) : Values();

    Tensor xt = make_tensor(backend(), xs, x);
    Tensor y(backend(), conv.output_shape().with_batch(c.batch));
    for (Mode mode : {Mode::training, Mode::inference}) {
      Context ctx{backend(), mode};
      conv.forward(ctx, xt, y);
      EXPECT_TRUE(all_close(read(backend(), y), naive::conv_forward(conv.params(), xs, x, ws, w, b), 1e-4, 1e-5));
    }

    const Values dy = random_values(y.elements(), 4);
    Tensor dyt = make_tensor(backend(), y.shape(), dy);
    Tensor dx(backend(), xs);
    Context ctx{backend(), Mode::training};
    conv.backward(ctx, xt, y, dyt, dx);
    Values dw, db;
    naive::conv_backward_weights(conv.params(), xs, x, ws, dy, c.bias, dw, db);
    EXPECT_TRUE(all_close(read(backend(), dx), naive::conv_backward_data(conv.params(), xs, ws, w, dy), 1e-4, 1e-5));
    EXPECT_TRUE(all_close(read(backend(), parameter_named(conv, "kernel").grad), dw, 1e-4, 1e-5));
    if (c.bias) {
      EXPECT_TRUE(all_close(read(backend(), parameter_named(conv, "bias").grad), db, 1e-4, 1e-5));
    }
  }
}

TEST_P(ConvLayerTest, GradientsMatchFiniteDifferences) {
  for (const ConvCase& c : kConvCases) {
    SCOPED_TRACE(c.name);
    Conv2D conv(c.filters, c.kernel_h, c.kernel_w, c.stride, c.stride, c.padding, c.bias);
    prepare_layer(backend(), conv, c.input, c.batch);
    randomise_parameters(backend(), conv, 12);
    Context ctx{backend(), Mode::training};
    check_layer_gradients(backend(), conv, ctx, random_values(c.input.elements() * c.batch, 5), c.batch);
  }
}

TEST_P(ConvLayerTest, EvenKernelSamePaddingIsTensorFlows) {
  Conv2D conv(2, 4, 2, 1, 1, Padding::same);
  prepare_layer(backend(), conv, Shape{6, 5, 1}, 1);
  EXPECT_EQ(conv.output_shape(), (Shape{6, 5, 2}));
  EXPECT_EQ(conv.params().pad_top, 1);
  EXPECT_EQ(conv.params().pad_bottom, 2);
  EXPECT_EQ(conv.params().pad_left, 0);
  EXPECT_EQ(conv.params().pad_right, 1);
}

TEST_P(ConvLayerTest, FrozenLayerStillPassesInputGradient) {
  Conv2D conv(3, 3, 3, 1, 1, Padding::same);
  prepare_layer(backend(), conv, Shape{4, 5, 2}, 2);
  randomise_parameters(backend(), conv, 13);
  conv.set_trainable(false);
  for (Parameter* p : conv.parameters()) EXPECT_FALSE(p->trainable);
  Context ctx{backend(), Mode::training};
  check_layer_gradients(backend(), conv, ctx, random_values(2 * 4 * 5 * 2, 6), 2);
}

TEST_P(ConvLayerTest, ParametersAreGlorotKernelAndZeroBias) {
  Conv2D conv(16, 3, 3);
  prepare_layer(backend(), conv, Shape{8, 8, 3}, 1);
  const Values w = read(backend(), parameter_named(conv, "kernel").value);
  const float limit = std::sqrt(6.0f / static_cast<float>(9 * 3 + 9 * 16));
  float largest = 0;
  for (float v : w) largest = std::max(largest, std::abs(v));
  EXPECT_LE(largest, limit);
  EXPECT_GT(largest, 0.8f * limit);
  for (float v : read(backend(), parameter_named(conv, "bias").value)) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(conv.flops(), 2 * 6 * 6 * 16 * 9 * 3);
}

class DenseLayerTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(DenseLayerTest);

TEST_P(DenseLayerTest, ForwardAndBackwardMatchNaiveLoops) {
  for (const bool bias : {true, false}) {
    for (const int64_t batch : {1, 3}) {
      SCOPED_TRACE(::testing::Message() << "bias " << bias << " batch " << batch);
      const int64_t in = 7, out = 5;
      Dense dense(out, bias);
      prepare_layer(backend(), dense, Shape{in}, batch);
      randomise_parameters(backend(), dense, 21);
      const Values x = random_values(batch * in, 22);
      const Values w = read(backend(), parameter_named(dense, "kernel").value);
      const Values b = bias ? read(backend(), parameter_named(dense, "bias").value) : Values();
      Tensor xt = make_tensor(backend(), Shape{batch, in}, x);
      Tensor y(backend(), Shape{batch, out});
      for (Mode mode : {Mode::inference, Mode::training}) {
        Context forward_ctx{backend(), mode};
        dense.forward(forward_ctx, xt, y);
        EXPECT_TRUE(all_close(read(backend(), y), naive::dense_forward(batch, in, out, x, w, b), 1e-5, 1e-6));
      }
      Context ctx{backend(), Mode::training};

      const Values dy = random_values(batch * out, 23);
      Tensor dyt = make_tensor(backend(), y.shape(), dy), dx(backend(), xt.shape());
      dense.backward(ctx, xt, y, dyt, dx);
      Values dw, db;
      naive::dense_backward_weights(batch, in, out, x, dy, bias, dw, db);
      EXPECT_TRUE(all_close(read(backend(), dx), naive::dense_backward_data(batch, in, out, dy, w), 1e-5, 1e-6));
      EXPECT_TRUE(all_close(read(backend(), parameter_named(dense, "kernel").grad), dw, 1e-5, 1e-6));
      if (bias) {
        EXPECT_TRUE(all_close(read(backend(), parameter_named(dense, "bias").grad), db, 1e-5, 1e-6));
      }

      check_layer_gradients(backend(), dense, ctx, x, batch);
    }
  }
}

TEST_P(DenseLayerTest, RejectsImageInput) {
  Dense dense(3);
  EXPECT_THROW(dense.build(Shape{4, 4, 2}), ShapeError);
}

}  // namespace
}  // namespace stride::testing
