// Pool2D (max and average with size, stride and padding), GlobalAvgPool and
// Flatten against naive loops and finite differences. Inputs are a shuffled
// ladder of distinct values, so max pooling has no ties for the differences to trip on.
#include <gtest/gtest.h>

#include "gradient_check.h"
#include "naive_ops.h"
#include "stride/core/layers.h"

namespace stride::testing {
namespace {

struct PoolCase {
  const char* name;
  PoolKind kind;
  Shape input;
  int64_t size_h, size_w, stride_h, stride_w;
  Padding padding;
  int64_t batch;
};

const PoolCase kPoolCases[] = {
    {"max 2x2 odd input", PoolKind::max, Shape{5, 7, 3}, 2, 2, 2, 2, Padding::valid, 2},
    {"max 3x3 stride 2 same", PoolKind::max, Shape{6, 7, 5}, 3, 3, 2, 2, Padding::same, 1},
    {"max 2 same odd input", PoolKind::max, Shape{5, 5, 2}, 2, 2, 2, 2, Padding::same, 2},
    {"max overlapping 3x2 stride 1", PoolKind::max, Shape{4, 5, 3}, 3, 2, 1, 1, Padding::valid, 2},
    {"avg 3x3 stride 1 same", PoolKind::average, Shape{5, 4, 3}, 3, 3, 1, 1, Padding::same, 2},
    {"avg 2x3 stride 2 valid", PoolKind::average, Shape{6, 7, 9}, 2, 3, 2, 2, Padding::valid, 1},
    {"avg 2 same odd input", PoolKind::average, Shape{5, 3, 2}, 2, 2, 2, 2, Padding::same, 3},
};

class PoolLayerTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(PoolLayerTest);

TEST_P(PoolLayerTest, ForwardAndBackwardMatchNaiveLoops) {
  for (const PoolCase& c : kPoolCases) {
    SCOPED_TRACE(c.name);
    Pool2D pool(c.kind, c.size_h, c.size_w, c.stride_h, c.stride_w, c.padding);
    prepare_layer(backend(), pool, c.input, c.batch);
    PoolParams p;
    p.kind = c.kind;
    p.kernel_h = c.size_h, p.kernel_w = c.size_w, p.stride_h = c.stride_h, p.stride_w = c.stride_w;
    const AxisPadding ph = axis_padding(c.padding, c.input[0], c.size_h, c.stride_h);
    const AxisPadding pw = axis_padding(c.padding, c.input[1], c.size_w, c.stride_w);
    p.pad_top = ph.before, p.pad_bottom = ph.after, p.pad_left = pw.before, p.pad_right = pw.after;
    const Shape xs = c.input.with_batch(c.batch);
    ASSERT_EQ(pool.output_shape().with_batch(c.batch), naive::pool_output_shape(p, xs));

    const Values x = ladder_values(xs.elements(), 31);
    Tensor xt = make_tensor(backend(), xs, x);
    Tensor y(backend(), pool.output_shape().with_batch(c.batch));
    const Values expected = naive::pool_forward(p, xs, x);
    // Inference first: training must not depend on what inference left behind.
    for (Mode mode : {Mode::inference, Mode::training}) {
      Context ctx{backend(), mode};
      pool.forward(ctx, xt, y);
      EXPECT_TRUE(all_close(read(backend(), y), expected, 1e-6, 1e-6))
          << (mode == Mode::training ? "training" : "inference");
    }
    const Values dy = random_values(y.elements(), 32);
    Tensor dyt = make_tensor(backend(), y.shape(), dy), dx(backend(), xs);
    Context ctx{backend(), Mode::training};
    pool.backward(ctx, xt, y, dyt, dx);
    EXPECT_TRUE(all_close(read(backend(), dx), naive::pool_backward(p, xs, x, dy), 1e-5, 1e-6));
  }
}

TEST_P(PoolLayerTest, GradientsMatchFiniteDifferences) {
  for (const PoolCase& c : kPoolCases) {
    SCOPED_TRACE(c.name);
    Pool2D pool(c.kind, c.size_h, c.size_w, c.stride_h, c.stride_w, c.padding);
    prepare_layer(backend(), pool, c.input, c.batch);
    for (Mode mode : {Mode::training, Mode::inference}) {
      SCOPED_TRACE(mode == Mode::training ? "training" : "inference");
      Context ctx{backend(), mode};
      check_layer_gradients(backend(), pool, ctx, ladder_values(c.input.elements() * c.batch, 33 + int(mode)),
                            c.batch);
    }
  }
}

TEST_P(PoolLayerTest, SmallerBatchUsesAPrefixOfTheWorkspace) {
  Pool2D pool(PoolKind::max, 2, 2, 2, 2);
  prepare_layer(backend(), pool, Shape{4, 6, 3}, 4);
  Context ctx{backend(), Mode::training};
  check_layer_gradients(backend(), pool, ctx, ladder_values(2 * 4 * 6 * 3, 34), 2);
}

class GlobalAvgPoolTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(GlobalAvgPoolTest);

TEST_P(GlobalAvgPoolTest, AveragesEveryPixelPerChannel) {
  GlobalAvgPool gap;
  const Shape sample{3, 5, 6};
  prepare_layer(backend(), gap, sample, 2);
  EXPECT_EQ(gap.output_shape(), Shape{6});
  const Values x = random_values(2 * sample.elements(), 35);
  Tensor xt = make_tensor(backend(), sample.with_batch(2), x);
  Tensor y(backend(), Shape{2, 6});
  Context ctx{backend(), Mode::inference};
  gap.forward(ctx, xt, y);
  std::vector<double> expected(12, 0.0);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 15; ++i)
      for (int64_t c = 0; c < 6; ++c)
        expected[static_cast<size_t>(n * 6 + c)] += x[static_cast<size_t>((n * 15 + i) * 6 + c)] / 15.0;
  EXPECT_TRUE(all_close(read(backend(), y), expected, 1e-5, 1e-6));

  Context training{backend(), Mode::training};
  check_layer_gradients(backend(), gap, training, x, 2);
}

TEST(FlattenTest, IsAViewInNhwcOrder) {
  Flatten flatten;
  EXPECT_EQ(flatten.build(Shape{3, 3, 64}), Shape{576});
  EXPECT_TRUE(flatten.is_view());
  EXPECT_EQ(flatten.spec(), "flatten");
}

}  // namespace
}  // namespace stride::testing
