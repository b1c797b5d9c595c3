// The Local communicator, options from the environment, and the factory that
// picks an implementation from how the process was launched.
#include "stride/distributed/communicator.h"

#include <cstdlib>
#include <string>

#include "stride/common/error.h"
#include "stride/core/backend.h"

#if STRIDE_DISTRIBUTED_MPI
#include "mpi_communicator.h"
#endif
#if STRIDE_DISTRIBUTED_NCCL && STRIDE_DISTRIBUTED_MPI
#include "nccl_communicator.h"
#endif

namespace stride {

std::shared_ptr<float> Communicator::allocate(size_t count) {
  return std::shared_ptr<float>(new float[count](), std::default_delete<float[]>());
}

namespace {

class LocalCommunicator final : public Communicator {
 public:
  explicit LocalCommunicator(const CommunicatorOptions& options) : Communicator(options.timeout_s) {}

  std::string name() const override { return "local (1 rank)"; }
  std::unique_ptr<Communicator> split(int /*color*/) override {
    CommunicatorOptions options;
    options.timeout_s = timeout_s_;
    return std::make_unique<LocalCommunicator>(options);
  }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  // Any device: with one rank there is nothing to move.
  Device device() const override { return Device::cpu; }

  void barrier() override {}
  void broadcast(float*, size_t, int root) override { check_root(root); }
  void broadcast_bytes(void*, size_t, int root) override { check_root(root); }
  CollectiveHandle start_allreduce(float*, size_t, ReduceOp) override { return CollectiveHandle{0}; }
  void wait(CollectiveHandle handle) override {
    if (!handle.valid()) fail<MpiError>("wait on a collective handle that is not in flight");
  }
  void progress() override {}
  void sum_across_ranks(std::span<double>) override {}
  std::vector<int64_t> all_gather(int64_t value) override { return {value}; }
  [[noreturn]] void abort(const std::string& reason) override { throw MpiError(reason); }
  bool failed() const override { return false; }

 private:
  static void check_root(int root) {
    if (root != 0) fail<MpiError>("broadcast from rank {} in a job of 1 rank", root);
  }
};

bool env_set(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0';
}

}  // namespace

CommunicatorKind parse_communicator_kind(const std::string& name) {
  if (name == "auto") return CommunicatorKind::automatic;
  if (name == "local") return CommunicatorKind::local;
  if (name == "mpi") return CommunicatorKind::mpi;
  if (name == "nccl") return CommunicatorKind::nccl;
  fail<ConfigError>("unknown communicator '{}' (expected auto, local, mpi or nccl)", name);
}

CommunicatorOptions communicator_options_from_env() {
  CommunicatorOptions options;
  if (const char* value = std::getenv("STRIDE_COLLECTIVE_TIMEOUT"); value != nullptr && *value != '\0') {
    char* end = nullptr;
    const double seconds = std::strtod(value, &end);
    if (end == value || *end != '\0') fail<ConfigError>("STRIDE_COLLECTIVE_TIMEOUT: expected seconds, got '{}'", value);
    options.timeout_s = seconds;
  }
  return options;
}

bool launched_by_mpi() {
  return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMI_SIZE") || env_set("PMIX_RANK") || env_set("PMI_RANK") ||
         env_set("MPI_LOCALNRANKS");
}

std::unique_ptr<Communicator> make_local_communicator(const CommunicatorOptions& options) {
  return std::make_unique<LocalCommunicator>(options);
}

std::unique_ptr<Communicator> make_device_communicator(Communicator& host, Backend& backend) {
  if (host.size() == 1 || backend.device() == host.device()) return nullptr;
#if STRIDE_DISTRIBUTED_NCCL && STRIDE_DISTRIBUTED_MPI
  if (backend.device() == Device::cuda) return detail::make_nccl_communicator_over(host, backend.stream());
#endif
  fail<ConfigError>("{} ranks on {}: this build has no communicator for {} memory (CUDA needs NCCL and MPI)",
                    host.size(), device_name(backend.device()), device_name(backend.device()));
}

namespace {

std::unique_ptr<Communicator> make_any_communicator(CommunicatorKind kind, const CommunicatorOptions& options) {
  switch (kind) {
    case CommunicatorKind::local:
      return make_local_communicator(options);
    case CommunicatorKind::mpi:
#if STRIDE_DISTRIBUTED_MPI
      return std::make_unique<detail::MpiCommunicator>(options);
#else
      fail<ConfigError>("this build of Stride has no MPI (install libopenmpi-dev and rebuild)");
#endif
    case CommunicatorKind::nccl:
#if STRIDE_DISTRIBUTED_NCCL && STRIDE_DISTRIBUTED_MPI
      return detail::make_nccl_communicator(options);
#else
      fail<ConfigError>("this build of Stride has no NCCL communicator (it needs CUDA, NCCL and MPI)");
#endif
    case CommunicatorKind::automatic:
      break;
  }
  fail<ConfigError>("unknown communicator kind");
}

}  // namespace

std::unique_ptr<Communicator> make_communicator(CommunicatorKind kind, const CommunicatorOptions& options) {
  if (kind == CommunicatorKind::automatic) kind = launched_by_mpi() ? CommunicatorKind::mpi : CommunicatorKind::local;
  std::unique_ptr<Communicator> communicator = make_any_communicator(kind, options);
  check_launch_environment(communicator->size());
  return communicator;
}

}  // namespace stride
