// The NCCL communicator without mpirun: ranks are forked children joined by
// an ncclUniqueId the parent makes (the fork bootstrap), each on a CUDA
// backend whose stream orders its collectives. One rank runs on any GPU; two
// ranks need two GPUs, or, on one GPU, STRIDE_NCCL_SHARED_GPU=1, which gives
// each rank its own NCCL_HOSTID so NCCL accepts two ranks on one device.
//
// The parent process never touches CUDA (a forked child cannot use its
// parent's CUDA state): even the GPU count comes from a child. Checks inside
// the children return their failures as text, which the parent asserts on.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "gradient_check.h"
#include "nccl_communicator.h"
#include "stride/core/layers.h"
#include "stride/distributed/grad_sync.h"
#include "tiny_model.h"

namespace stride::testing {
namespace {

// Failures collected inside a child, returned as its report.
class Checks {
 public:
  void expect(bool ok, const std::string& what) {
    if (!ok) text_ += (text_.empty() ? "" : "; ") + what;
  }
  void expect_close(const Values& actual, const Values& expected, double tolerance, const std::string& what) {
    bool ok = actual.size() == expected.size();
    for (size_t i = 0; ok && i < actual.size(); ++i)
      ok = std::abs(actual[i] - expected[i]) <= tolerance * std::max(1.0f, std::abs(expected[i]));
    expect(ok, what);
  }
  std::string text() const { return text_; }

 private:
  std::string text_;
};

bool shared_gpu_requested() {
  const char* value = std::getenv("STRIDE_NCCL_SHARED_GPU");
  return value != nullptr && std::string(value) == "1";
}

// A CUDA backend and a communicator for rank `rank`, as a training process would make them.
struct JoinedRank {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Communicator> comm;
};

JoinedRank join(int rank, int world, const detail::NcclId& id, bool shared_gpu, double timeout_s = 60) {
  if (shared_gpu) {
    setenv("NCCL_HOSTID", fmt::format("stride-test-rank-{}", rank).c_str(), 1);
    setenv("NCCL_SOCKET_IFNAME", "lo", 0);
  }
  BackendOptions options;
  options.device = shared_gpu ? 0 : rank;
  options.deterministic = true;
  JoinedRank joined;
  joined.backend = make_cuda_backend(options);
  joined.comm = detail::make_nccl_communicator_from_id(id, rank, world, joined.backend->stream(), timeout_s);
  return joined;
}

class NcclCommunicatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gpus_ = detail::count_gpus_in_child(); }
  void SetUp() override {
    if (gpus_ == 0) GTEST_SKIP() << "no CUDA GPU is visible";
  }
  // Two ranks: on two GPUs, or sharing one when asked; else the test skips.
  bool two_ranks(bool& shared) {
    shared = gpus_ < 2;
    return gpus_ >= 2 || shared_gpu_requested();
  }
  static void expect_all_ok(const std::vector<detail::ForkedRank>& ranks) {
    for (const detail::ForkedRank& r : ranks) EXPECT_TRUE(r.ok) << "rank " << r.rank << ": " << r.report;
  }
  static int gpus_;
};
int NcclCommunicatorTest::gpus_ = 0;

constexpr const char* kTwoRanksSkip =
    "two ranks need two GPUs (or STRIDE_NCCL_SHARED_GPU=1 to try both on one GPU, each with its own NCCL_HOSTID)";

// Batch norm over this rank's share of a batch, synchronised over comm.
Values synchronised_batch_norm(Backend& backend, Communicator& comm, const Shape& sample, int64_t n, const Values& x,
                               const Values& dy, Values& dx) {
  BatchNorm bn(0.9f);
  prepare_layer(backend, bn, sample, n);
  randomise_parameters(backend, bn, 7);
  CommunicatorSum sum(comm);
  Context ctx{backend, Mode::training};
  ctx.batch_norm_sync = &sum;
  Tensor xt = make_tensor(backend, sample.with_batch(n), x), y(backend, xt.shape());
  Tensor dyt = make_tensor(backend, xt.shape(), dy), dxt(backend, xt.shape());
  bn.forward(ctx, xt, y);
  bn.backward(ctx, xt, y, dyt, dxt);
  dx = read(backend, dxt);
  return read(backend, y);
}

// The same layer, unsynchronised, over the whole batch.
Values whole_batch_norm(Backend& backend, const Shape& sample, int64_t n, const Values& x, const Values& dy,
                        Values& dx) {
  BatchNorm bn(0.9f);
  prepare_layer(backend, bn, sample, n);
  randomise_parameters(backend, bn, 7);
  Context ctx{backend, Mode::training};
  Tensor xt = make_tensor(backend, sample.with_batch(n), x), y(backend, xt.shape());
  Tensor dyt = make_tensor(backend, xt.shape(), dy), dxt(backend, xt.shape());
  bn.forward(ctx, xt, y);
  bn.backward(ctx, xt, y, dyt, dxt);
  dx = read(backend, dxt);
  return read(backend, y);
}

TEST_F(NcclCommunicatorTest, OneRankOnTheBackendsStream) {
  expect_all_ok(detail::run_forked_ranks(1, 120, [](int rank, int world, const detail::NcclId& id) {
    JoinedRank r = join(rank, world, id, false);
    Backend& b = *r.backend;
    Communicator& comm = *r.comm;
    Checks checks;
    checks.expect(comm.size() == 1 && comm.rank() == 0 && comm.device() == Device::cuda, "rank 0 of 1 on cuda");
    checks.expect(comm.name().find("nccl") != std::string::npos, "named nccl: " + comm.name());

    // Written by a kernel on the backend's stream just before: the collective must start after it.
    Tensor t(b, Shape{1000});
    b.fill(t, 3.0f);
    comm.allreduce_sum(t.f32(), 1000);
    checks.expect(read(b, t) == Values(1000, 3.0f), "allreduce of one rank is the identity");
    std::vector<CollectiveHandle> handles;
    std::vector<Tensor> buffers;
    for (int i = 0; i < 8; ++i) {
      buffers.emplace_back(b, Shape{64});
      b.fill(buffers.back(), static_cast<float>(i));
      handles.push_back(comm.start_allreduce(buffers.back().f32(), 64, ReduceOp::average));
    }
    for (int i = 7; i >= 0; --i) comm.wait(handles[static_cast<size_t>(i)]);
    for (int i = 0; i < 8; ++i)
      checks.expect(read(b, buffers[static_cast<size_t>(i)]) == Values(64, static_cast<float>(i)),
                    fmt::format("in-flight average {}", i));

    double sums[2] = {1.5, 2.0};
    comm.sum_across_ranks(sums);
    checks.expect(sums[0] == 1.5 && sums[1] == 2.0, "sum of one rank's doubles");
    int64_t bytes[2] = {42, -7};
    comm.broadcast_bytes(bytes, sizeof bytes, 0);
    checks.expect(bytes[0] == 42 && bytes[1] == -7, "bytes from rank 0");
    checks.expect(comm.all_gather(7) == std::vector<int64_t>{7}, "all_gather");
    comm.barrier();
    auto part = comm.split(0);
    checks.expect(part->size() == 1 && part->rank() == 0, "split");

    // Synchronised batch norm through NCCL equals plain batch norm on one replica.
    const Shape sample{3, 4, 5};
    const Values x = random_values(2 * sample.elements(), 11, 2.5f, 3.5f),
                 dy = random_values(2 * sample.elements(), 12);
    Values dx_sync, dx_whole;
    const Values y_sync = synchronised_batch_norm(b, comm, sample, 2, x, dy, dx_sync);
    const Values y_whole = whole_batch_norm(b, sample, 2, x, dy, dx_whole);
    checks.expect_close(y_sync, y_whole, 1e-4, "synchronised batch norm output");
    checks.expect_close(dx_sync, dx_whole, 1e-3, "synchronised batch norm input gradient");
    return checks.text();
  }));
}

TEST_F(NcclCommunicatorTest, TwoRanksReduceBroadcastAndSynchronise) {
  bool shared = false;
  if (!two_ranks(shared)) GTEST_SKIP() << kTwoRanksSkip;
  expect_all_ok(detail::run_forked_ranks(2, 180, [shared](int rank, int world, const detail::NcclId& id) {
    JoinedRank r = join(rank, world, id, shared);
    Backend& b = *r.backend;
    Communicator& comm = *r.comm;
    Checks checks;
    Tensor t = make_tensor(b, Shape{257}, Values(257, static_cast<float>(rank + 1)));
    comm.allreduce_sum(t.f32(), 257);
    checks.expect(read(b, t) == Values(257, 3.0f), "sum");
    comm.allreduce_average(t.f32(), 257);
    checks.expect(read(b, t) == Values(257, 3.0f), "average");
    Tensor mine = make_tensor(b, Shape{5}, Values(5, static_cast<float>(10 * rank)));
    comm.broadcast(mine.f32(), 5, 1);
    checks.expect(read(b, mine) == Values(5, 10.0f), "broadcast from rank 1");
    double sums[2] = {static_cast<double>(rank), 1.0};
    comm.sum_across_ranks(sums);
    checks.expect(sums[0] == 1.0 && sums[1] == 2.0, "sum of doubles");
    int64_t place = 100 + rank;
    comm.broadcast_bytes(&place, sizeof place, 1);
    checks.expect(place == 101, "bytes from rank 1");
    checks.expect(comm.all_gather(10 + rank) == (std::vector<int64_t>{10, 11}), "all_gather");

    // Gradient buckets over NCCL give the sum of both ranks' local gradients.
    const int64_t per_rank = 4;
    const TinyBatch batch = make_tiny_batch(2 * per_rank, 5);
    Values expected;
    for (int64_t shard = 0; shard < 2; ++shard) {
      Model local = make_tiny_model(b, 3, per_rank);
      SoftmaxCrossEntropy loss;
      tiny_forward_backward(local, loss, batch, shard * per_rank, per_rank, 2 * per_rank);
      const std::vector<float> g = flatten(local, true);
      if (expected.empty()) expected.assign(g.size(), 0.0f);
      for (size_t i = 0; i < g.size(); ++i) expected[i] += g[i];
    }
    Model model = make_tiny_model(b, 3, per_rank);
    GradientSync sync(comm, model, GradSyncOptions{256, ReduceOp::sum});
    SoftmaxCrossEntropy loss;
    tiny_forward_backward(model, loss, batch, rank * per_rank, per_rank, 2 * per_rank, sync.hook());
    sync.finish();
    checks.expect_close(flatten(model, true), expected, 1e-5, "bucketed gradients");
    checks.expect(sync.bucket_count() > 1, "several buckets");

    // Synchronised batch norm over two replicas equals batch norm over the whole batch.
    const Shape sample{3, 4, 5};
    const int64_t share = sample.elements() * 2;
    const Values x = random_values(4 * sample.elements(), 13, 2.5f, 3.5f),
                 dy = random_values(4 * sample.elements(), 14);
    Values dx_whole, dx_sync;
    const Values y_whole = whole_batch_norm(b, sample, 4, x, dy, dx_whole);
    const Values x_mine(x.begin() + rank * share, x.begin() + (rank + 1) * share);
    const Values dy_mine(dy.begin() + rank * share, dy.begin() + (rank + 1) * share);
    const Values y_sync = synchronised_batch_norm(b, comm, sample, 2, x_mine, dy_mine, dx_sync);
    checks.expect_close(y_sync, Values(y_whole.begin() + rank * share, y_whole.begin() + (rank + 1) * share), 1e-4,
                        "synchronised batch norm output");
    checks.expect_close(dx_sync, Values(dx_whole.begin() + rank * share, dx_whole.begin() + (rank + 1) * share), 1e-3,
                        "synchronised batch norm input gradient");
    return checks.text();
  }));
}

TEST_F(NcclCommunicatorTest, AMissingRankEndsTheWaitWithAnError) {
  bool shared = false;
  if (!two_ranks(shared)) GTEST_SKIP() << kTwoRanksSkip;
  expect_all_ok(detail::run_forked_ranks(2, 120, [shared](int rank, int world, const detail::NcclId& id) {
    JoinedRank r = join(rank, world, id, shared, /*timeout_s=*/5);
    // One collective together first: NCCL connects peers on first use, inside the call, unbounded.
    Tensor warm(*r.backend, Shape{16});
    r.backend->fill(warm, 1.0f);
    r.comm->allreduce_sum(warm.f32(), 16);
    if (rank == 1) {
      r.comm.reset();  // leaves without joining the collective
      return std::string();
    }
    Tensor t(*r.backend, Shape{1 << 16});
    r.backend->fill(t, 1.0f);
    try {
      r.comm->allreduce_sum(t.f32(), 1 << 16);
      return std::string("the allreduce returned although rank 1 never joined it");
    } catch (const NcclError& e) {
      return r.comm->failed() ? std::string() : std::string("not marked failed after: ") + e.what();
    }
  }));
}

}  // namespace
}  // namespace stride::testing
