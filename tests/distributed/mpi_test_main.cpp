// main() for suites run by `mpirun -np N`: one MPI communicator for the whole
// process (MPI initialises once), rank 0 prints the usual report, other ranks
// print only their failures, tagged with their rank.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "mpi_environment.h"

namespace stride::testing {

Communicator* g_comm = nullptr;

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    fmt::print(stderr, "[rank {}] {}:{}: failure\n{}\n", rank_, result.file_name() ? result.file_name() : "?",
               result.line_number(), result.summary());
  }

 private:
  int rank_;
};

}  // namespace

}  // namespace stride::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto comm = stride::make_communicator(stride::CommunicatorKind::mpi);
  stride::testing::g_comm = comm.get();
  if (comm->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new stride::testing::RankFailurePrinter(comm->rank()));
  }
  const int result = RUN_ALL_TESTS();
  // Every rank has finished its tests before any finalises.
  comm->barrier();
  return result;
}
