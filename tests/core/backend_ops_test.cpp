// Backend ops the layer tests reach only indirectly: elementwise ops,
// reductions, the dropout kernel's global element numbering, the inference
// batch-norm gradients, and the shape checks every op makes. Also checks that
// the gradient checker itself catches a wrong gradient.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>

#include "gradient_check.h"
#include "naive_ops.h"

namespace stride::testing {
namespace {

class BackendOpsTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(BackendOpsTest);

TEST_P(BackendOpsTest, ElementwiseOps) {
  const Values a = random_values(37, 1), b = random_values(37, 2);
  Tensor ta = make_tensor(backend(), Shape{37}, a), tb = make_tensor(backend(), Shape{37}, b),
         out(backend(), Shape{37});
  backend().add(ta, tb, out);
  EXPECT_EQ(read(backend(), out), naive::add(a, b));
  backend().multiply(ta, tb, out);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_FLOAT_EQ(read(backend(), out)[i], a[i] * b[i]);
  backend().scale(ta, -2.0f);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_FLOAT_EQ(read(backend(), ta)[i], -2.0f * a[i]);
  backend().fill(out, 0.25f);
  EXPECT_EQ(read(backend(), out), Values(37, 0.25f));
  backend().copy(tb, out);
  EXPECT_EQ(read(backend(), out), b);

  Tensor ints(backend(), Shape{5}, DType::i32);
  backend().fill(ints, 3.0f);
  std::vector<int32_t> host(5);
  backend().copy_to_host(ints, host.data());
  EXPECT_EQ(host, std::vector<int32_t>(5, 3));

  Tensor shorter(backend(), Shape{36});
  EXPECT_THROW(backend().add(ta, tb, shorter), ShapeError);
  EXPECT_THROW(backend().copy(ta, shorter), ShapeError);
}

TEST_P(BackendOpsTest, Reductions) {
  // The global norm over two segments of an arena (large enough to run in
  // parallel), and clipping that scales those segments only.
  const Values x = random_values(3 * 70000, 3);
  const std::vector<ArenaSegment> segments = {{0, 1000, true}, {5000, 200000, false}};
  double expected = 0;
  for (const ArenaSegment& s : segments)
    for (int64_t i = s.offset; i < s.offset + s.count; ++i) expected += static_cast<double>(x[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)];
  expected = std::sqrt(expected);
  Tensor g = make_tensor(backend(), Shape{3 * 70000}, x), norm(backend(), Shape{1});
  backend().clip_by_global_norm(segments, g, 0.0f, norm);  // no limit: measures only
  EXPECT_NEAR(read(backend(), norm)[0], expected, 1e-6 * expected);
  EXPECT_EQ(read(backend(), g), x);
  backend().clip_by_global_norm(segments, g, 2.0f, norm);
  const Values clipped = read(backend(), g);
  const float factor = static_cast<float>(2.0 / expected);
  EXPECT_FLOAT_EQ(clipped[10], x[10] * factor);
  EXPECT_FLOAT_EQ(clipped[3000], x[3000]);  // between the segments: untouched
  EXPECT_FLOAT_EQ(clipped[100000], x[100000] * factor);
  const std::vector<ArenaSegment> outside = {{209000, 2000, true}};
  EXPECT_THROW(backend().clip_by_global_norm(outside, g, 1.0f, norm), ShapeError);

  Tensor logits = make_tensor(backend(), Shape{3, 4}, {0, 5, 1, 5, -1, -2, -3, -0.5f, 2, 2, 2, 2});
  Tensor out(backend(), Shape{3}, DType::i32);
  backend().argmax_rows(logits, out);
  std::vector<int32_t> got(3);
  backend().copy_to_host(out, got.data());
  EXPECT_EQ(got, (std::vector<int32_t>{1, 3, 0}));  // ties go to the first
}

TEST_P(BackendOpsTest, DropoutNumbersElementsGlobally) {
  const int64_t n = 10;
  const Values x(n, 1.0f);
  Tensor xt = make_tensor(backend(), Shape{n}, x), y(backend(), Shape{n}), mask(backend(), Shape{n});
  backend().dropout_forward(0.5f, 1234, 0, xt, y, mask);
  const Values whole = read(backend(), mask);
  // Starting at element 6 reproduces elements 6..9 (offsets not a multiple of 4 included).
  Tensor xs = make_tensor(backend(), Shape{4}, Values(4, 1.0f)), ys(backend(), Shape{4}), ms(backend(), Shape{4});
  backend().dropout_forward(0.5f, 1234, 6, xs, ys, ms);
  EXPECT_EQ(read(backend(), ms), Values(whole.begin() + 6, whole.end()));
  EXPECT_EQ(read(backend(), ys), read(backend(), ms));
  for (float m : whole) EXPECT_TRUE(m == 0.0f || m == 2.0f) << m;
}

TEST_P(BackendOpsTest, InferenceBatchNormGradients) {
  const int64_t c = 5;
  const Values x = random_values(6 * c, 4), dy = random_values(6 * c, 5);
  const Values gamma = random_values(c, 6, 0.5f, 1.5f), mean = random_values(c, 7),
               var = random_values(c, 8, 0.5f, 2.0f);
  Tensor tx = make_tensor(backend(), Shape{2, 3, 1, c}, x), tdy = make_tensor(backend(), tx.shape(), dy);
  Tensor tg = make_tensor(backend(), Shape{c}, gamma), tm = make_tensor(backend(), Shape{c}, mean);
  Tensor tv = make_tensor(backend(), Shape{c}, var);
  Tensor dx(backend(), tx.shape()), dgamma(backend(), Shape{c}), dbeta(backend(), Shape{c});
  BatchNormParams p;
  backend().batchnorm_backward_inference(p, tdy, tg, tv, dx);
  backend().batchnorm_backward_inference_parameters(p, tx, tdy, tm, tv, dgamma, dbeta);
  std::vector<double> ndx(x.size()), ndg(c, 0.0), ndb(c, 0.0);
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t j = i % c;
    const double inv = 1.0 / std::sqrt(static_cast<double>(var[j]) + p.epsilon);
    ndx[i] = dy[i] * gamma[j] * inv;
    ndg[j] += dy[i] * (x[i] - mean[j]) * inv;
    ndb[j] += dy[i];
  }
  EXPECT_TRUE(all_close(read(backend(), dx), ndx, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(read(backend(), dgamma), ndg, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(read(backend(), dbeta), ndb, 1e-5, 1e-6));
}

TEST_P(BackendOpsTest, ShapeChecksNameTheOp) {
  ConvParams p;
  p.kernel_h = p.kernel_w = 3;
  Tensor x(backend(), Shape{1, 5, 5, 2}), w(backend(), Shape{3, 3, 3, 4}), y(backend(), Shape{1, 3, 3, 4});
  try {
    backend().conv_forward(p, x, w, y);
    FAIL() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("conv_forward"), std::string::npos) << e.what();
  }
  Tensor dense_x(backend(), Shape{2, 3}), dense_w(backend(), Shape{4, 5}), dense_y(backend(), Shape{2, 5});
  EXPECT_THROW(backend().dense_forward(dense_x, dense_w, dense_y), ShapeError);
}

TEST(TensorTest, ShapesViewsAndPrefixes) {
  const Shape s{28, 28, 1};
  EXPECT_EQ(s.elements(), 784);
  EXPECT_EQ(s.with_batch(32), (Shape{32, 28, 28, 1}));
  EXPECT_EQ(s.with_batch(32).sample(), s);
  EXPECT_EQ(s.str(), "(28, 28, 1)");
  EXPECT_EQ(Shape{10}.str(), "(10,)");
  EXPECT_THROW((Shape{1, 2, 3, 4, 5, 6}), ShapeError);
  EXPECT_THROW((Shape{2, -1}), ShapeError);

  Backend& backend = *backend_named("cpu");
  Tensor t(backend, Shape{8, 3});
  EXPECT_EQ(t.batch_prefix(5).shape(), (Shape{5, 3}));
  EXPECT_EQ(t.batch_prefix(5).raw(), t.raw());
  EXPECT_EQ(t.view(Shape{24}).elements(), 24);
  EXPECT_THROW(t.view(Shape{25}), ShapeError);
  EXPECT_THROW(t.batch_prefix(9), ShapeError);
  EXPECT_THROW(t.i32(), ShapeError);
  // A prefix can be viewed back up to the storage it shares.
  EXPECT_EQ(t.batch_prefix(2).view(Shape{8, 3}).shape(), (Shape{8, 3}));
}

// A layer whose backward doubles the true gradient: the checker must object.
class WrongGradient final : public Layer {
 public:
  std::string kind() const override { return "wrong"; }
  std::string spec() const override { return "wrong"; }
  Shape build(const Shape& input) override { return input_shape_ = output_shape_ = input; }
  void forward(Context& ctx, const Tensor& x, Tensor& y) override { ctx.backend.copy(x, y); }
  void backward(Context& ctx, const Tensor&, const Tensor&, const Tensor& dy, Tensor& dx) override {
    ctx.backend.copy(dy, dx);
    ctx.backend.scale(dx, 2.0f);
  }
};

TEST(GradientCheckerTest, CatchesAWrongGradient) {
  Backend& backend = *backend_named("cpu");
  WrongGradient layer;
  prepare_layer(backend, layer, Shape{4}, 2);
  Context ctx{backend, Mode::training};
  EXPECT_NONFATAL_FAILURE(check_layer_gradients(backend, layer, ctx, random_values(8, 9), 2), "input gradient");
}

}  // namespace
}  // namespace stride::testing
