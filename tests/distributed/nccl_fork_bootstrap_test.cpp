// The fork bootstrap itself, which needs no GPU: every child gets the same
// NCCL unique id and its own rank, a child's failure or exception comes back
// as its report, and a child that never finishes is killed at the deadline
// and named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "nccl_communicator.h"

namespace stride {
namespace {

std::string hex(const detail::NcclId& id) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (char c : id.bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

TEST(NcclForkBootstrap, EveryChildGetsTheSameIdAndItsRank) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("stride-fork-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto ranks = detail::run_forked_ranks(3, 60, [&](int rank, int world, const detail::NcclId& id) {
    std::ofstream(dir / std::to_string(rank)) << hex(id);
    return world == 3 ? std::string() : std::string("wrong world size");
  });
  ASSERT_EQ(ranks.size(), 3u);
  std::string first;
  for (const detail::ForkedRank& r : ranks) {
    EXPECT_TRUE(r.ok) << "rank " << r.rank << ": " << r.report;
    std::ifstream in(dir / std::to_string(r.rank));
    std::string id;
    in >> id;
    EXPECT_EQ(id.size(), 256u) << "rank " << r.rank << " wrote no id";
    EXPECT_NE(id, std::string(256, '0')) << "an empty id";
    if (first.empty()) first = id;
    EXPECT_EQ(id, first) << "rank " << r.rank << " got another id";
  }
  std::filesystem::remove_all(dir);
}

TEST(NcclForkBootstrap, FailuresAndExceptionsComeBackAsReports) {
  const auto ranks = detail::run_forked_ranks(3, 60, [](int rank, int, const detail::NcclId&) -> std::string {
    if (rank == 1) return "rank 1 saw something wrong";
    if (rank == 2) throw std::runtime_error("rank 2 threw");
    return "";
  });
  EXPECT_TRUE(ranks[0].ok) << ranks[0].report;
  EXPECT_FALSE(ranks[1].ok);
  EXPECT_EQ(ranks[1].report, "rank 1 saw something wrong");
  EXPECT_FALSE(ranks[2].ok);
  EXPECT_EQ(ranks[2].report, "rank 2 threw");
}

TEST(NcclForkBootstrap, AChildPastTheDeadlineIsKilledAndNamed) {
  const auto ranks = detail::run_forked_ranks(2, 2, [](int rank, int, const detail::NcclId&) {
    if (rank == 1) ::pause();  // never returns
    return std::string();
  });
  EXPECT_TRUE(ranks[0].ok) << ranks[0].report;
  EXPECT_FALSE(ranks[1].ok);
  EXPECT_NE(ranks[1].report.find("rank 1 did not finish within 2 s"), std::string::npos) << ranks[1].report;
}

}  // namespace
}  // namespace stride
