// Activations (ReLU, leaky ReLU, ELU) and dropout. Dropout's mask is a pure
// function of (seed, step, layer, global element), so it is recomputed here
// from Philox and compared exactly; inference is the identity.
#include <gtest/gtest.h>

#include "gradient_check.h"
#include "naive_ops.h"
#include "stride/core/layers.h"

namespace stride::testing {
namespace {

class ActivationLayerTest : public BackendTest {};
STRIDE_INSTANTIATE_BACKENDS(ActivationLayerTest);

TEST_P(ActivationLayerTest, ForwardBackwardAndGradientsForEveryKind) {
  struct Case {
    ActivationKind kind;
    float alpha;
  };
  for (const Case& c : {Case{ActivationKind::relu, 0.0f}, Case{ActivationKind::leaky_relu, 0.3f},
                        Case{ActivationKind::elu, 1.0f}, Case{ActivationKind::elu, 0.5f}}) {
    Activation act(c.kind, c.alpha);
    SCOPED_TRACE(act.spec());
    const Shape sample{3, 5, 7};
    const int64_t batch = 2;
    prepare_layer(backend(), act, sample, batch);
    const Values x = ladder_values(batch * sample.elements(), 41);
    Tensor xt = make_tensor(backend(), sample.with_batch(batch), x), y(backend(), xt.shape());
    for (Mode mode : {Mode::training, Mode::inference}) {
      Context ctx{backend(), mode};
      act.forward(ctx, xt, y);
      EXPECT_TRUE(all_close(read(backend(), y), naive::activation_forward({c.kind, c.alpha}, x), 1e-5, 1e-6));
    }
    const Values dy = random_values(y.elements(), 42);
    Tensor dyt = make_tensor(backend(), y.shape(), dy), dx(backend(), xt.shape());
    Context ctx{backend(), Mode::training};
    act.backward(ctx, xt, y, dyt, dx);
    EXPECT_TRUE(all_close(read(backend(), dx), naive::activation_backward({c.kind, c.alpha}, x, dy), 1e-5, 1e-6));
    check_layer_gradients(backend(), act, ctx, x, batch);
  }
}

TEST(ActivationSpec, NamesTheKindAndSlope) {
  EXPECT_EQ(Activation(ActivationKind::relu).spec(), "relu");
  EXPECT_EQ(Activation(ActivationKind::leaky_relu, 0.2f).spec(), "leaky_relu(0.2)");
  EXPECT_EQ(Activation(ActivationKind::elu, 1.0f).spec(), "elu(1)");
}

// The mask element e of a dropout layer as the layer defines it.
float expected_mask(float rate, uint64_t seed, uint64_t step, int layer, uint64_t e) {
  const uint64_t key = mix_key(mix_key(seed, step), static_cast<uint64_t>(layer));
  const uint32_t bits = philox4x32(key, 0, e >> 2).v[e & 3];
  return uniform_from_bits(bits) >= rate ? 1.0f / (1.0f - rate) : 0.0f;
}

class DropoutLayerTest : public BackendTest {
 protected:
  Values run(Dropout& dropout, const Values& x, int64_t batch, Context ctx) {
    Tensor xt = make_tensor(backend(), dropout.input_shape().with_batch(batch), x), y(backend(), xt.shape());
    dropout.forward(ctx, xt, y);
    return read(backend(), y);
  }
};
STRIDE_INSTANTIATE_BACKENDS(DropoutLayerTest);

TEST_P(DropoutLayerTest, MaskIsPhiloxOfSeedStepLayerAndElement) {
  const float rate = 0.3f;
  Dropout dropout(rate);
  const Shape sample{2, 3, 5};
  const int64_t batch = 4;
  prepare_layer(backend(), dropout, sample, batch);
  const Values x = random_values(batch * sample.elements(), 51, 0.5f, 1.5f);  // never zero
  Context ctx{backend(), Mode::training, /*seed=*/99, /*step=*/7, /*sample_offset=*/0, /*layer=*/3};
  const Values y = run(dropout, x, batch, ctx);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_FLOAT_EQ(y[i], x[i] * expected_mask(rate, 99, 7, 3, i)) << "element " << i;

  // The same context gives the same mask; another step, layer or seed another one.
  EXPECT_EQ(run(dropout, x, batch, ctx), y);
  for (Context other :
       {Context{backend(), Mode::training, 99, 8, 0, 3}, Context{backend(), Mode::training, 99, 7, 0, 4},
        Context{backend(), Mode::training, 100, 7, 0, 3}})
    EXPECT_NE(run(dropout, x, batch, other), y);
}

TEST_P(DropoutLayerTest, RankWithSampleOffsetDrawsItsSliceOfTheGlobalMask) {
  Dropout dropout(0.5f);
  const Shape sample{7};
  prepare_layer(backend(), dropout, sample, 6);
  const Values x = random_values(6 * 7, 52, 0.5f, 1.5f);
  const Values whole = run(dropout, x, 6, Context{backend(), Mode::training, 5, 2, 0, 1});
  // Rank 1 of 2 holds global samples 3..5.
  const Values second_half(x.begin() + 21, x.end());
  const Values part = run(dropout, second_half, 3, Context{backend(), Mode::training, 5, 2, 3, 1});
  EXPECT_EQ(part, Values(whole.begin() + 21, whole.end()));
}

// The backend op straight, at sizes and offsets where its paths meet: a
// start inside a Philox block, ranges split across threads, a length that
// is no multiple of the vector width, and block counters whose low word
// carries into the high word (global elements past 2^34).
TEST_P(DropoutLayerTest, OpMatchesPhiloxAtEveryOffsetAndLength) {
  const float rate = 0.35f;
  const uint64_t key = mix_key(mix_key(7, 11), 2);
  const uint64_t wrap = (uint64_t{1} << 34) - 4 * 20;  // block 2^32 - 20: a 64-element chunk carries
  for (const uint64_t offset : {uint64_t{0}, uint64_t{1}, uint64_t{3}, uint64_t{66}, wrap, wrap + 2}) {
    for (const int64_t n : {int64_t{1}, int64_t{63}, int64_t{64}, int64_t{200}, int64_t{70001}}) {
      SCOPED_TRACE(::testing::Message() << "offset " << offset << ", " << n << " elements");
      const Values x = random_values(n, 55, 0.5f, 1.5f);
      Tensor xt = make_tensor(backend(), Shape{n}, x), y(backend(), xt.shape()), mask(backend(), xt.shape());
      backend().dropout_forward(rate, key, offset, xt, y, mask);
      const Values out = read(backend(), y), m = read(backend(), mask);
      for (int64_t i = 0; i < n; ++i) {
        const uint64_t e = offset + static_cast<uint64_t>(i);
        const float want = uniform_from_bits(philox4x32(key, 0, e >> 2).v[e & 3]) >= rate ? 1.0f / (1.0f - rate) : 0.0f;
        ASSERT_EQ(m[i], want) << "element " << i;
        ASSERT_EQ(out[i], x[i] * want) << "element " << i;
      }
    }
  }
}

TEST_P(DropoutLayerTest, DropsTheRateFractionAndScalesTheRest) {
  for (const float rate : {0.1f, 0.5f, 0.8f}) {
    SCOPED_TRACE(rate);
    Dropout dropout(rate);
    const Shape sample{1000};
    prepare_layer(backend(), dropout, sample, 20);
    const Values x(20000, 1.0f);
    const Values y = run(dropout, x, 20, Context{backend(), Mode::training, 1, 1, 0, 0});
    int64_t dropped = 0;
    double sum = 0;
    for (float v : y) {
      if (v == 0.0f)
        ++dropped;
      else
        EXPECT_FLOAT_EQ(v, 1.0f / (1.0f - rate));
      sum += v;
    }
    // Binomial(20000, rate): 5 standard deviations is below 0.015.
    EXPECT_NEAR(static_cast<double>(dropped) / 20000.0, rate, 0.015);
    EXPECT_NEAR(sum / 20000.0, 1.0, 0.05);  // inverted dropout keeps the mean
  }
}

TEST_P(DropoutLayerTest, BackwardUsesTheForwardMask) {
  Dropout dropout(0.4f);
  const Shape sample{3, 4, 5};
  prepare_layer(backend(), dropout, sample, 2);
  Context ctx{backend(), Mode::training, 12, 3, 0, 2};
  const Values x = random_values(2 * sample.elements(), 53);
  check_layer_gradients(backend(), dropout, ctx, x, 2);

  // dx = dy * mask exactly, the mask of the forward just run.
  Tensor xt = make_tensor(backend(), sample.with_batch(2), x), y(backend(), xt.shape()), dx(backend(), xt.shape());
  dropout.forward(ctx, xt, y);
  const Values dy = random_values(y.elements(), 54);
  Tensor dyt = make_tensor(backend(), y.shape(), dy);
  dropout.backward(ctx, xt, y, dyt, dx);
  const Values grad = read(backend(), dx);
  for (size_t i = 0; i < grad.size(); ++i) ASSERT_FLOAT_EQ(grad[i], dy[i] * expected_mask(0.4f, 12, 3, 2, i));
}

TEST_P(DropoutLayerTest, InferenceIsTheIdentity) {
  Dropout dropout(0.5f);
  const Shape sample{4, 3, 2};
  prepare_layer(backend(), dropout, sample, 3);
  const Values x = random_values(3 * sample.elements(), 55);
  Context ctx{backend(), Mode::inference, 1, 1, 0, 0};
  EXPECT_EQ(run(dropout, x, 3, ctx), x);
  check_layer_gradients(backend(), dropout, ctx, x, 3);
}

TEST(DropoutSpec, RejectsRatesOutsideZeroToOne) {
  EXPECT_THROW(Dropout(1.0f), ConfigError);
  EXPECT_THROW(Dropout(-0.1f), ConfigError);
  EXPECT_EQ(Dropout(0.25f).spec(), "dropout(0.25)");
}

}  // namespace
}  // namespace stride::testing
