// GradientSync and broadcast_parameters under `mpirun -np 2`: the bucketed,
// overlapped reduction gives the same gradients as a plain all-reduce, and
// data parallelism over N ranks reproduces one rank training on the global
// batch (the contract of DESIGN §6), step after step.
#include <gtest/gtest.h>

#include <cmath>

#include "mpi_environment.h"
#include "stride/common/error.h"
#include "stride/core/optimizer.h"
#include "stride/distributed/grad_sync.h"
#include "tiny_model.h"

namespace stride {
namespace {

using testing::g_comm;

constexpr int64_t kPerRank = 4;

void expect_close(const std::vector<float>& actual, const std::vector<float>& expected, float tolerance,
                  const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  size_t wrong = 0, first = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const float scale = std::max(1.0f, std::fabs(expected[i]));
    if (std::fabs(actual[i] - expected[i]) > tolerance * scale && wrong++ == 0) first = i;
  }
  EXPECT_EQ(wrong, 0u) << what << ": first at " << first << ": " << actual[first] << " vs " << expected[first];
}

class MpiGradientSync : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> backend_ = make_cpu_backend(1);
  int rank_ = g_comm->rank();
  int64_t global_ = kPerRank * g_comm->size();
};

TEST_F(MpiGradientSync, BroadcastMakesReplicasIdentical) {
  // Different seeds per rank: only the broadcast can make them agree.
  Model model = testing::make_tiny_model(*backend_, 100 + static_cast<uint64_t>(rank_), kPerRank);
  Model reference = testing::make_tiny_model(*backend_, 100, kPerRank);
  broadcast_parameters(*g_comm, model, 0);
  EXPECT_EQ(parameter_checksum(model), parameter_checksum(reference));
  check_replicas_in_sync(*g_comm, model);
}

TEST_F(MpiGradientSync, ReplicasOutOfSyncAreNamed) {
  Model model = testing::make_tiny_model(*backend_, 100 + static_cast<uint64_t>(rank_), kPerRank);
  try {
    check_replicas_in_sync(*g_comm, model);
    FAIL() << "no error";
  } catch (const MpiError& e) {
    EXPECT_NE(std::string(e.what()).find("rank(s) 1"), std::string::npos) << e.what();
  }
}

// Every bucket size (one per parameter, several, one for all) gives the sum of
// every rank's local gradients, as a plain all-reduce computes it.
TEST_F(MpiGradientSync, BucketsGiveTheSummedGradients) {
  const auto batch = testing::make_tiny_batch(global_, 7);
  for (size_t bucket_bytes : {size_t{4}, size_t{300}, size_t{1} << 20}) {
    Model model = testing::make_tiny_model(*backend_, 21, kPerRank);
    SoftmaxCrossEntropy loss;
    testing::tiny_forward_backward(model, loss, batch, rank_ * kPerRank, kPerRank, global_);
    auto expected = testing::flatten(model, true);
    g_comm->allreduce_sum(expected.data(), expected.size());

    GradientSync sync(*g_comm, model, GradSyncOptions{bucket_bytes, ReduceOp::sum});
    testing::tiny_forward_backward(model, loss, batch, rank_ * kPerRank, kPerRank, global_, sync.hook());
    sync.finish();
    expect_close(testing::flatten(model, true), expected, 1e-6f, "bucket " + std::to_string(bucket_bytes));
    EXPECT_GE(sync.stats().last_wait_s, 0.0);
  }
}

TEST_F(MpiGradientSync, AverageDividesByTheWorldSize) {
  const auto batch = testing::make_tiny_batch(global_, 8);
  Model model = testing::make_tiny_model(*backend_, 22, kPerRank);
  SoftmaxCrossEntropy loss;
  // Scaled by 1 / local batch, averaged: the same global-batch gradient.
  testing::tiny_forward_backward(model, loss, batch, rank_ * kPerRank, kPerRank, global_);
  auto expected = testing::flatten(model, true);
  g_comm->allreduce_sum(expected.data(), expected.size());

  GradientSync sync(*g_comm, model, GradSyncOptions{256, ReduceOp::average});
  testing::tiny_forward_backward(model, loss, batch, rank_ * kPerRank, kPerRank, kPerRank, sync.hook());
  sync.finish();
  expect_close(testing::flatten(model, true), expected, 1e-6f, "average");
}

TEST_F(MpiGradientSync, WorksWithoutTheBackwardHook) {
  const auto batch = testing::make_tiny_batch(global_, 9);
  Model model = testing::make_tiny_model(*backend_, 23, kPerRank);
  SoftmaxCrossEntropy loss;
  testing::tiny_forward_backward(model, loss, batch, rank_ * kPerRank, kPerRank, global_);
  auto expected = testing::flatten(model, true);
  g_comm->allreduce_sum(expected.data(), expected.size());
  GradientSync sync(*g_comm, model, GradSyncOptions{128, ReduceOp::sum});
  sync.finish();  // everything is started here, nothing overlapped
  expect_close(testing::flatten(model, true), expected, 1e-6f, "no hook");
}

// N ranks with kPerRank samples each follow one rank on the whole batch:
// same gradients each step and same weights after SGD with momentum, and
// bit-identical replicas on every rank.
TEST_F(MpiGradientSync, DataParallelMatchesOneRankOnTheGlobalBatch) {
  constexpr int kSteps = 4;
  Model single = testing::make_tiny_model(*backend_, 1000, global_);
  Model replica = testing::make_tiny_model(*backend_, 1000 + static_cast<uint64_t>(rank_), kPerRank);
  broadcast_parameters(*g_comm, replica, 0);

  OptimizerConfig sgd;
  sgd.kind = "sgd";
  sgd.momentum = 0.9f;
  Optimizer single_opt(sgd, single);
  Optimizer replica_opt(sgd, replica);
  SoftmaxCrossEntropy single_loss, replica_loss;
  GradientSync sync(*g_comm, replica, GradSyncOptions{512, ReduceOp::sum});
  ASSERT_GT(sync.bucket_count(), 1u);

  for (int step = 0; step < kSteps; ++step) {
    const auto batch = testing::make_tiny_batch(global_, 50 + static_cast<uint64_t>(step));
    testing::tiny_forward_backward(single, single_loss, batch, 0, global_, global_);
    testing::tiny_forward_backward(replica, replica_loss, batch, rank_ * kPerRank, kPerRank, global_, sync.hook());
    sync.finish();
    expect_close(testing::flatten(replica, true), testing::flatten(single, true), 1e-5f,
                 "gradients at step " + std::to_string(step));
    single_opt.step(0.1f);
    replica_opt.step(0.1f);
    expect_close(testing::flatten(replica, false), testing::flatten(single, false), 1e-5f,
                 "weights after step " + std::to_string(step));
    check_replicas_in_sync(*g_comm, replica);
  }
  EXPECT_EQ(sync.stats().steps, kSteps);
}

}  // namespace
}  // namespace stride
