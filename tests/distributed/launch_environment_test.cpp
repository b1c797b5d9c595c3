// Rank variables of launchers that bypass MPI (torchrun, srun without PMI):
// a process MPI sees alone while they say it is one of several is refused.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "stride/common/error.h"
#include "stride/distributed/communicator.h"

namespace stride {
namespace {

constexpr const char* kVariables[] = {"WORLD_SIZE",   "LOCAL_WORLD_SIZE",     "RANK",
                                      "LOCAL_RANK",   "SLURM_STEP_NUM_TASKS", "SLURM_STEP_ID",
                                      "SLURM_STEPID", "SLURM_NTASKS",         "SLURM_PROCID"};

class LaunchEnvironment : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kVariables) {
      if (const char* value = std::getenv(name)) saved_.emplace_back(name, value);
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const char* name : kVariables) ::unsetenv(name);
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
  }
  static std::string error_of(int world) {
    try {
      check_launch_environment(world);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(LaunchEnvironment, AloneWhileRankVariablesSaySeveralIsRefused) {
  const std::vector<std::vector<std::pair<const char*, const char*>>> several = {
      {{"WORLD_SIZE", "4"}, {"RANK", "0"}, {"LOCAL_RANK", "0"}},  // torchrun, rank 0
      {{"RANK", "2"}},
      {{"LOCAL_RANK", "1"}},
      {{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "0"}},  // srun -n 2, no PMI
      {{"SLURM_NTASKS", "3"}, {"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "0"}},
      {{"SLURM_PROCID", "1"}},
  };
  for (const auto& variables : several) {
    SetUp();
    for (const auto& [name, value] : variables) ::setenv(name, value, 1);
    const std::string e = error_of(1);
    EXPECT_NE(e.find(std::string(variables.front().first) + "="), std::string::npos) << e;
    EXPECT_NE(e.find("mpirun -np N"), std::string::npos) << e;
    EXPECT_NE(e.find("srun --mpi=pmix"), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << "one line";
    // The factory checks what it makes: the local communicator is refused too.
    EXPECT_THROW(make_communicator(CommunicatorKind::local), ConfigError);
    // An MPI job of that size is what the variables describe: fine.
    EXPECT_EQ(error_of(4), "");
  }
}

TEST_F(LaunchEnvironment, OneProcessOrABatchScriptIsFine) {
  EXPECT_EQ(error_of(1), "");
  // torchrun --nproc-per-node 1.
  ::setenv("WORLD_SIZE", "1", 1);
  ::setenv("RANK", "0", 1);
  ::setenv("LOCAL_RANK", "0", 1);
  EXPECT_EQ(error_of(1), "");
  // An sbatch -n 4 script running stride once: SLURM_NTASKS without a job step.
  ::setenv("SLURM_NTASKS", "4", 1);
  ::setenv("SLURM_PROCID", "0", 1);
  EXPECT_EQ(error_of(1), "");
  EXPECT_EQ(make_communicator(CommunicatorKind::local)->size(), 1);
}

}  // namespace
}  // namespace stride
