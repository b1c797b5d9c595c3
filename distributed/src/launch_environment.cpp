// Launchers that start N processes without MPI's wire-up (torchrun, srun
// without a PMI plugin) say so in rank variables. Stride forms its ranks
// through MPI alone, so a process that MPI sees alone while such a variable
// says it is one of several would train a duplicate trial: refuse it.
#include <fmt/format.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "stride/common/error.h"
#include "stride/distributed/communicator.h"

namespace stride {

namespace {

// The variable's value as a number; nullopt when unset, empty or not a number.
std::optional<long long> env_number(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  char* end = nullptr;
  const long long number = std::strtoll(value, &end, 10);
  if (*end != '\0') return std::nullopt;
  return number;
}

struct Claim {
  std::string variable;
  long long value;
};

// The first rank variable that says this process is not alone.
std::optional<Claim> claim_of_several() {
  // torchrun / torch.distributed.launch.
  for (const char* name : {"WORLD_SIZE", "LOCAL_WORLD_SIZE"})
    if (const auto n = env_number(name); n && *n > 1) return Claim{name, *n};
  for (const char* name : {"RANK", "LOCAL_RANK"})
    if (const auto n = env_number(name); n && *n > 0) return Claim{name, *n};
  // Slurm: a job step's tasks. SLURM_NTASKS alone is also set in a batch
  // script, where one stride process is normal, so it counts only in a step.
  if (const auto n = env_number("SLURM_STEP_NUM_TASKS"); n && *n > 1) return Claim{"SLURM_STEP_NUM_TASKS", *n};
  if (env_number("SLURM_STEP_ID") || env_number("SLURM_STEPID"))
    if (const auto n = env_number("SLURM_NTASKS"); n && *n > 1) return Claim{"SLURM_NTASKS", *n};
  if (const auto n = env_number("SLURM_PROCID"); n && *n > 0) return Claim{"SLURM_PROCID", *n};
  return std::nullopt;
}

}  // namespace

#if STRIDE_DISTRIBUTED_MPI
constexpr const char* kBuildNote = "";
#else
constexpr const char* kBuildNote = "; this build has no MPI: install libopenmpi-dev and rebuild";
#endif

void check_launch_environment(int world_size) {
  if (world_size != 1) return;
  const auto claim = claim_of_several();
  if (!claim) return;
  fail<ConfigError>(
      "{}={} says this is one of several processes, but MPI sees this one alone, so each would train its own copy "
      "of the trial: launch with mpirun -np N stride ..., or srun --mpi=pmix stride ... (Stride forms ranks through "
      "MPI, not torchrun's or Slurm's variables){}",
      claim->variable, claim->value, kBuildNote);
}

}  // namespace stride
