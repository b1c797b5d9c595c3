// The Local communicator and GradientSync over it: one rank, where every
// collective must leave data untouched and gradient sync must be a no-op.
#include <gtest/gtest.h>

#include <cstdlib>

#include "stride/common/error.h"
#include "stride/distributed/communicator.h"
#include "stride/distributed/grad_sync.h"
#include "tiny_model.h"

namespace stride {
namespace {

TEST(LocalCommunicator, IsOneRankAndLeavesDataAlone) {
  auto comm = make_local_communicator();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->local_rank(), 0);
  std::vector<float> data{1.5f, -2.0f, 3.25f};
  comm->allreduce_sum(data.data(), data.size());
  comm->allreduce_average(data.data(), data.size());
  comm->broadcast(data.data(), data.size(), 0);
  const CollectiveHandle handle = comm->start_allreduce(data.data(), data.size(), ReduceOp::sum);
  comm->progress();
  comm->wait(handle);
  comm->barrier();
  EXPECT_EQ(data, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  std::vector<double> metrics{2.5, 7.0};
  comm->sum_across_ranks(metrics);
  EXPECT_EQ(metrics, (std::vector<double>{2.5, 7.0}));
  EXPECT_EQ(comm->all_gather(42), (std::vector<int64_t>{42}));
  EXPECT_FALSE(comm->failed());
}

TEST(LocalCommunicator, RejectsARootOutsideTheJob) {
  auto comm = make_local_communicator();
  float value = 1.0f;
  EXPECT_THROW(comm->broadcast(&value, 1, 1), MpiError);
}

TEST(LocalCommunicator, AbortThrowsTheReason) {
  auto comm = make_local_communicator();
  try {
    comm->abort("loader failed");
    FAIL() << "abort returned";
  } catch (const MpiError& e) {
    EXPECT_STREQ(e.what(), "loader failed");
  }
}

TEST(CommunicatorFactory, ParsesKindsAndNamesABadOne) {
  EXPECT_EQ(parse_communicator_kind("auto"), CommunicatorKind::automatic);
  EXPECT_EQ(parse_communicator_kind("local"), CommunicatorKind::local);
  EXPECT_EQ(parse_communicator_kind("mpi"), CommunicatorKind::mpi);
  EXPECT_EQ(parse_communicator_kind("nccl"), CommunicatorKind::nccl);
  try {
    parse_communicator_kind("gloo");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'gloo'"), std::string::npos) << e.what();
  }
}

TEST(CommunicatorFactory, ChoosesLocalOutsideMpirun) {
  if (launched_by_mpi()) GTEST_SKIP() << "running under mpirun";
  auto comm = make_communicator(CommunicatorKind::automatic);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->name(), "local (1 rank)");
}

TEST(CommunicatorOptions, TimeoutComesFromTheEnvironment) {
  ::setenv("STRIDE_COLLECTIVE_TIMEOUT", "7.5", 1);
  EXPECT_DOUBLE_EQ(communicator_options_from_env().timeout_s, 7.5);
  ::setenv("STRIDE_COLLECTIVE_TIMEOUT", "soon", 1);
  EXPECT_THROW(communicator_options_from_env(), ConfigError);
  ::unsetenv("STRIDE_COLLECTIVE_TIMEOUT");
  EXPECT_DOUBLE_EQ(communicator_options_from_env().timeout_s, CommunicatorOptions{}.timeout_s);
}

class LocalGradientSync : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> backend_ = make_cpu_backend(1);
  std::unique_ptr<Communicator> comm_ = make_local_communicator();
};

TEST_F(LocalGradientSync, SplitsParametersIntoBucketsInReverseLayerOrder) {
  Model model = testing::make_tiny_model(*backend_, 3, 4);
  // conv kernel 3*3*2*4 = 72 floats, conv bias 4, dense kernel 64*3 = 192... each over 16 bytes: one bucket each.
  GradientSync small(*comm_, model, GradSyncOptions{16, ReduceOp::sum});
  EXPECT_EQ(small.bucket_count(), model.trainable_parameters().size());
  GradientSync large(*comm_, model, GradSyncOptions{size_t{1} << 20, ReduceOp::sum});
  EXPECT_EQ(large.bucket_count(), 1u);
  size_t bytes = 0;
  for (Parameter* p : model.trainable_parameters()) bytes += p->grad.bytes();
  EXPECT_EQ(large.stats().bytes, bytes);
}

TEST_F(LocalGradientSync, LeavesGradientsUnchangedOnOneRank) {
  Model model = testing::make_tiny_model(*backend_, 3, 4);
  SoftmaxCrossEntropy loss;
  const auto batch = testing::make_tiny_batch(4, 11);
  testing::tiny_forward_backward(model, loss, batch, 0, 4, 4);
  const auto plain = testing::flatten(model, true);
  GradientSync sync(*comm_, model, GradSyncOptions{64, ReduceOp::average});
  testing::tiny_forward_backward(model, loss, batch, 0, 4, 4, sync.hook());
  sync.finish();
  EXPECT_EQ(testing::flatten(model, true), plain);
  EXPECT_EQ(sync.stats().steps, 1);
}

TEST_F(LocalGradientSync, RejectsAModelWithoutStorage) {
  Model model = Model::from_spec(testing::kTinySpec, testing::kTinyInput);
  EXPECT_THROW(GradientSync(*comm_, model), Error);
}

TEST_F(LocalGradientSync, ChecksumSeesEveryBit) {
  Model a = testing::make_tiny_model(*backend_, 5, 2);
  Model b = testing::make_tiny_model(*backend_, 5, 2);
  EXPECT_EQ(parameter_checksum(a), parameter_checksum(b));
  Parameter* p = b.trainable_parameters().front();
  std::vector<float> host(static_cast<size_t>(p->value.elements()));
  backend_->copy_to_host(p->value, host.data());
  host[0] = std::nextafter(host[0], 10.0f);
  backend_->copy_from_host(host.data(), p->value);
  EXPECT_NE(parameter_checksum(a), parameter_checksum(b));
  broadcast_parameters(*comm_, b);  // one rank: nothing to copy
  check_replicas_in_sync(*comm_, b);
}

}  // namespace
}  // namespace stride
