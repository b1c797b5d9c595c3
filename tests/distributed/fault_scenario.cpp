// Failure scenarios for `mpirun -np 2`, run and judged by run_fault.cmake:
//   skip  rank 1 skips an all-reduce and stays busy: the watchdog on rank 0
//         must abort the job, naming rank 1.
//   kill  rank 1 SIGKILLs itself between all-reduces: the job must end
//         promptly with rank 1 named, not leave rank 0 waiting.
// Both follow the trainer's pattern: catch, then abort the job with the reason.
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "stride/distributed/communicator.h"

namespace {

void run(stride::Communicator& comm, const std::string& scenario) {
  std::vector<float> data(1024, 1.0f);
  for (int step = 0; step < 1000; ++step) {
    if (comm.rank() == 1 && step == 3) {
      if (scenario == "kill") std::raise(SIGKILL);
      // "skip": busy elsewhere far longer than the collective timeout.
      std::this_thread::sleep_for(std::chrono::seconds(60));
    }
    comm.allreduce_sum(data.data(), data.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s skip|kill\n", argv[0]);
    return 2;
  }
  auto comm = stride::make_communicator(stride::CommunicatorKind::mpi);
  try {
    run(*comm, argv[1]);
  } catch (const std::exception& e) {
    comm->abort(e.what());
  }
  fmt::print(stderr, "rank {}: scenario ended without a failure\n", comm->rank());
  return 0;
}
