// BatchNorm with Keras semantics: training normalises with the batch
// statistics and moves the running ones by `momentum` (the unbiased variance
// going in), inference and frozen layers use the running statistics.
// Synchronised batch norm: replicas in threads, each on its own share of a
// batch, match one layer on the whole batch.
#include <gtest/gtest.h>

#include <barrier>
#include <thread>

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

// Does nothing: one replica's sums are already the global ones.
class SingleReplica final : public ReplicaSum {
 public:
  void sum(Tensor& values) override { (void)values; }
};

class BatchNormLayerTest : public BackendTest {
 protected:
  // Running statistics far from the batch ones, so using the wrong ones shows.
  void set_running_stats(BatchNorm& bn, uint64_t seed) { set_running_stats(backend(), bn, seed); }
  static void set_running_stats(Backend& backend, BatchNorm& bn, uint64_t seed) {
    const int64_t c = bn.input_shape()[bn.input_shape().rank() - 1];
    write(backend, buffer_named(bn, "moving_mean").value, random_values(c, seed, -0.5f, 0.5f));
    write(backend, buffer_named(bn, "moving_variance").value, random_values(c, seed + 1, 0.5f, 2.0f));
  }

  // Training-mode gradients against finite differences, local or synchronised.
  void check_training_gradients(ReplicaSum* sync, uint64_t seed) {
    for (const BnCase& c : kBnCases) {
      SCOPED_TRACE(c.name);
      BatchNorm bn;
      prepare_layer(backend(), bn, c.sample, c.batch);
      randomise_parameters(backend(), bn, seed);
      Context ctx{backend(), Mode::training};
      ctx.batch_norm_sync = sync;
      GradientCheck options;
      options.step = 5e-3;
      check_layer_gradients(backend(), bn, ctx, random_values(c.batch * c.sample.elements(), seed + 1), c.batch,
                            options);
    }
  }
};

// Replicas in threads: sum() waits for every member, and each gets the total
// (added in member order, so every member holds the same bits).
class ThreadReplicas {
 public:
  explicit ThreadReplicas(int members) : barrier_(members), shares_(static_cast<size_t>(members)) {}

  class Member final : public ReplicaSum {
   public:
    Member(ThreadReplicas& group, int index, Backend& backend) : group_(group), index_(index), backend_(backend) {}
    void sum(Tensor& values) override { group_.sum(index_, backend_, values); }

   private:
    ThreadReplicas& group_;
    int index_;
    Backend& backend_;
  };

 private:
  void sum(int index, Backend& backend, Tensor& values) {
    shares_[static_cast<size_t>(index)] = read(backend, values);
    barrier_.arrive_and_wait();
    Values total(shares_[0].size(), 0.0f);
    for (const Values& share : shares_)
      for (size_t i = 0; i < total.size(); ++i) total[i] += share[i];
    barrier_.arrive_and_wait();  // every member has read the shares before any writes new ones
    write(backend, values, total);
  }

  std::barrier<> barrier_;
  std::vector<Values> shares_;
};

Values slice(const Values& v, int64_t begin, int64_t end) { return Values(v.begin() + begin, v.begin() + end); }
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

TEST_P(BatchNormLayerTest, TrainingGradientsMatchFiniteDifferences) { check_training_gradients(nullptr, 65); }

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

// What one BatchNorm produced from one forward and backward.
struct BnRun {
  Values y, dx, dgamma, dbeta, moving_mean, moving_variance;
};

BnRun run_batch_norm(Backend& backend, BatchNorm& bn, Context& ctx, const Shape& sample, int64_t batch, const Values& x,
                     const Values& dy) {
  Tensor xt = make_tensor(backend, sample.with_batch(batch), x), y(backend, xt.shape());
  Tensor dyt = make_tensor(backend, xt.shape(), dy), dx(backend, xt.shape());
  bn.forward(ctx, xt, y);
  bn.backward(ctx, xt, y, dyt, dx);
  return {read(backend, y),
          read(backend, dx),
          read(backend, parameter_named(bn, "gamma").grad),
          read(backend, parameter_named(bn, "beta").grad),
          read(backend, buffer_named(bn, "moving_mean").value),
          read(backend, buffer_named(bn, "moving_variance").value)};
}

TEST_P(BatchNormLayerTest, SynchronisedReplicasMatchOneLayerOnTheWholeBatch) {
  // Unequal shares (2 + 3 images) check that the sums weigh replicas by their counts.
  const BnCase cases[] = {{"image 3x5x6, 1 + 1", Shape{3, 5, 6}, 2}, {"features, 2 + 3", Shape{7}, 5}};
  for (const BnCase& c : cases) {
    SCOPED_TRACE(c.name);
    const float momentum = 0.9f;
    const int64_t per_sample = c.sample.elements();
    // Offset inputs (mean 3, spread 1): the shifted sums must keep the variance exact.
    const Values x = random_values(c.batch * per_sample, 81, 2.5f, 3.5f);
    const Values dy = random_values(c.batch * per_sample, 82);

    BatchNorm whole(momentum);
    prepare_layer(backend(), whole, c.sample, c.batch);
    randomise_parameters(backend(), whole, 83);
    set_running_stats(whole, 84);
    Context local{backend(), Mode::training};
    const BnRun expected = run_batch_norm(backend(), whole, local, c.sample, c.batch, x, dy);

    const int64_t first = c.batch / 2;
    const int64_t shares[2][2] = {{0, first}, {first, c.batch}};
    ThreadReplicas group(2);
    BnRun replica[2];
    std::string failure[2];
    auto run_replica = [&](int r) {
      try {
        std::unique_ptr<Backend> own = new_backend_named(GetParam());
        BatchNorm bn(momentum);
        const int64_t n = shares[r][1] - shares[r][0];
        prepare_layer(*own, bn, c.sample, n);
        randomise_parameters(*own, bn, 83);
        set_running_stats(*own, bn, 84);
        ThreadReplicas::Member member(group, r, *own);
        Context ctx{*own, Mode::training};
        ctx.batch_norm_sync = &member;
        replica[r] =
            run_batch_norm(*own, bn, ctx, c.sample, n, slice(x, shares[r][0] * per_sample, shares[r][1] * per_sample),
                           slice(dy, shares[r][0] * per_sample, shares[r][1] * per_sample));
      } catch (const std::exception& e) {
        failure[r] = e.what();
      }
    };
    std::thread second(run_replica, 1);
    run_replica(0);
    second.join();
    ASSERT_EQ(failure[0], "");
    ASSERT_EQ(failure[1], "");

    for (int r = 0; r < 2; ++r) {
      SCOPED_TRACE(r == 0 ? "replica 0" : "replica 1");
      const int64_t begin = shares[r][0] * per_sample, end = shares[r][1] * per_sample;
      EXPECT_TRUE(all_close(replica[r].y, slice(expected.y, begin, end), 1e-4, 1e-5));
      EXPECT_TRUE(all_close(replica[r].dx, slice(expected.dx, begin, end), 1e-3, 1e-4));
      EXPECT_TRUE(all_close(replica[r].moving_mean, expected.moving_mean, 1e-5, 1e-6));
      EXPECT_TRUE(all_close(replica[r].moving_variance, expected.moving_variance, 1e-5, 1e-6));
    }
    // Parameter gradients are each replica's share: the gradient all-reduce adds them.
    Values dgamma = replica[0].dgamma, dbeta = replica[0].dbeta;
    for (size_t i = 0; i < dgamma.size(); ++i) {
      dgamma[i] += replica[1].dgamma[i];
      dbeta[i] += replica[1].dbeta[i];
    }
    EXPECT_TRUE(all_close(dgamma, expected.dgamma, 1e-4, 1e-5));
    EXPECT_TRUE(all_close(dbeta, expected.dbeta, 1e-4, 1e-5));
  }
}

// One replica through the synchronised path (its sums are the global ones).
TEST_P(BatchNormLayerTest, SynchronisedPathGradientsMatchFiniteDifferences) {
  SingleReplica one;
  check_training_gradients(&one, 85);
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
