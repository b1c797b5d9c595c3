// The MPI communicator's collectives under `mpirun -np 2` (or more): results
// checked against values every rank can compute alone.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "mpi_environment.h"

namespace stride {
namespace {

using testing::g_comm;

// A value only rank r and index i determine, exact in float after summing a few.
float contribution(int rank, size_t i) { return static_cast<float>((rank + 1) * 1000 + static_cast<int>(i % 997)); }

float expected_sum(int size, size_t i) {
  float sum = 0;
  for (int r = 0; r < size; ++r) sum += contribution(r, i);
  return sum;
}

TEST(MpiCommunicator, KnowsItsPlace) {
  EXPECT_GE(g_comm->size(), 2);
  EXPECT_GE(g_comm->rank(), 0);
  EXPECT_LT(g_comm->rank(), g_comm->size());
  EXPECT_GE(g_comm->local_rank(), 0);
  EXPECT_EQ(g_comm->device(), Device::cpu);
  const auto ranks = g_comm->all_gather(g_comm->rank());
  for (int r = 0; r < g_comm->size(); ++r) EXPECT_EQ(ranks[static_cast<size_t>(r)], r);
}

TEST(MpiCommunicator, AllreduceSumsEverySize) {
  for (size_t count : {size_t{0}, size_t{1}, size_t{3}, size_t{1000}, size_t{4097}, (size_t{1} << 20) + 3}) {
    std::vector<float> data(count);
    for (size_t i = 0; i < count; ++i) data[i] = contribution(g_comm->rank(), i);
    g_comm->allreduce_sum(data.data(), count);
    size_t wrong = 0;
    for (size_t i = 0; i < count; ++i) wrong += data[i] != expected_sum(g_comm->size(), i);
    EXPECT_EQ(wrong, 0u) << "count " << count;
  }
}

TEST(MpiCommunicator, AllreduceAverages) {
  std::vector<float> data(777);
  for (size_t i = 0; i < data.size(); ++i) data[i] = contribution(g_comm->rank(), i);
  g_comm->allreduce_average(data.data(), data.size());
  for (size_t i = 0; i < data.size(); ++i)
    ASSERT_FLOAT_EQ(data[i], expected_sum(g_comm->size(), i) / static_cast<float>(g_comm->size())) << i;
}

TEST(MpiCommunicator, NonBlockingAllreducesCompleteInAnyOrder) {
  // Two rounds: the second reuses the first round's slots.
  for (int round = 0; round < 2; ++round) {
    std::vector<std::vector<float>> buffers;
    for (size_t count : {size_t{5}, size_t{65536}, size_t{123}}) {
      std::vector<float> data(count);
      for (size_t i = 0; i < count; ++i) data[i] = contribution(g_comm->rank(), i);
      buffers.push_back(std::move(data));
    }
    std::vector<CollectiveHandle> handles;
    for (auto& data : buffers) handles.push_back(g_comm->start_allreduce(data.data(), data.size(), ReduceOp::sum));
    g_comm->progress();
    for (size_t k = handles.size(); k-- > 0;) g_comm->wait(handles[k]);
    for (auto& data : buffers)
      for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], expected_sum(g_comm->size(), i)) << round;
  }
}

TEST(MpiCommunicator, BroadcastsFloatsAndBytesFromAnyRoot) {
  for (int root = 0; root < g_comm->size(); ++root) {
    std::vector<float> data(3000, static_cast<float>(g_comm->rank()));
    if (g_comm->rank() == root) std::iota(data.begin(), data.end(), 0.5f);
    g_comm->broadcast(data.data(), data.size(), root);
    for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], 0.5f + static_cast<float>(i)) << "root " << root;

    char text[16] = {};
    if (g_comm->rank() == root) std::strcpy(text, "from the root");
    g_comm->broadcast_bytes(text, sizeof text, root);
    EXPECT_STREQ(text, "from the root");
  }
}

TEST(MpiCommunicator, SumsMetricsAcrossRanks) {
  std::vector<double> metrics{0.25 * (g_comm->rank() + 1), 10.0, 1.0};
  g_comm->sum_across_ranks(metrics);
  const double n = g_comm->size();
  EXPECT_DOUBLE_EQ(metrics[0], 0.25 * n * (n + 1) / 2);
  EXPECT_DOUBLE_EQ(metrics[1], 10.0 * n);
  EXPECT_DOUBLE_EQ(metrics[2], n);
}

TEST(MpiCommunicator, NamesItsLibrary) {
  EXPECT_NE(g_comm->name().find("mpi"), std::string::npos) << g_comm->name();
  EXPECT_FALSE(g_comm->failed());
}

}  // namespace
}  // namespace stride
