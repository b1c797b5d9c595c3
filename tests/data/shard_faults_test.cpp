// Shards under corruption and full disks. Seeded mutations (flipped bytes,
// overwritten runs, truncations) of real small shards: every open and read
// either succeeds or throws a stride::Error naming the file on one line —
// never a crash, a hang (each case runs in a child under a watchdog) or a
// foreign exception. A full disk fails the write with one line naming the
// shard and "no space left on device", and the process exits cleanly.
#include <gtest/gtest.h>

#include "data_fixtures.h"
#include "fault_injection.h"
#include "stride/data/shard.h"
#include "temp_dir.h"

namespace stride::data {
namespace {

namespace fs = std::filesystem;
using stride::testing::ChildOutcome;
using stride::testing::one_line_naming;
using stride::testing::run_in_child;

const ShardMeta kFaultMeta{"train", "unit", {"zero", "one", "two"}};

void write_shard(const std::string& path, int64_t count, ImageShape shape, bool gzip) {
  ShardWriter writer(path, count, shape, kFaultMeta, ShardWriteOptions{8, gzip});
  std::vector<uint8_t> images(static_cast<size_t>(count * shape.bytes()));
  std::vector<int32_t> labels(static_cast<size_t>(count));
  for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<uint8_t>(i * 13 / 7);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>(i % 3);
  writer.append(images.data(), labels.data(), count);
  writer.close();
}

// What a loader does with a shard: open, all labels, every image.
void read_everything(const std::string& path) {
  const ShardReader reader(path, ImageShape{4, 4, 1});
  (void)reader.read_all_labels();
  std::vector<uint8_t> images(static_cast<size_t>(reader.size() * reader.shape().bytes()));
  reader.read(0, reader.size(), images.data(), nullptr);
}

// Fails the test unless the outcome is a success or one clean line naming path.
void expect_clean(const ChildOutcome& outcome, const std::string& path, const std::string& what) {
  if (outcome.kind == ChildOutcome::returned) return;
  ASSERT_EQ(outcome.kind, ChildOutcome::stride_error) << what << ": " << outcome.describe();
  EXPECT_TRUE(one_line_naming(outcome.message, path)) << what;
}

class ShardCorruption : public ::testing::TestWithParam<bool> {};  // parameter: gzip

TEST_P(ShardCorruption, MutationsFailCleanlyNamingTheFile) {
  stride::testing::TempDir dir;
  const std::string good = (dir / "good.h5").string();
  write_shard(good, 24, {4, 4, 1}, GetParam());
  ASSERT_EQ(run_in_child([&] { read_everything(good); }).kind, ChildOutcome::returned);
  const std::vector<uint8_t> original = stride::testing::file_bytes(good);
  const std::string path = (dir / "mutated.h5").string();
  int rejected = 0;
  constexpr int kCases = 150;
  for (int seed = 0; seed < kCases; ++seed) {
    stride::testing::write_file_bytes(path, stride::testing::mutate(original, static_cast<uint64_t>(seed)));
    const ChildOutcome outcome = run_in_child([&] { read_everything(path); }, 10);
    expect_clean(outcome, path, "mutation " + std::to_string(seed));
    if (::testing::Test::HasFatalFailure()) return;
    rejected += outcome.kind == ChildOutcome::stride_error;
  }
  EXPECT_GT(rejected, kCases / 4) << "most mutations of a small shard should be noticed";
}

TEST_P(ShardCorruption, EveryTruncationIsOneLineNamingTheFile) {
  stride::testing::TempDir dir;
  const std::string good = (dir / "good.h5").string();
  write_shard(good, 24, {4, 4, 1}, GetParam());
  const std::vector<uint8_t> original = stride::testing::file_bytes(good);
  const std::string path = (dir / "short.h5").string();
  for (size_t length : stride::testing::truncation_lengths(original.size())) {
    stride::testing::write_file_bytes(path, std::vector<uint8_t>(original.begin(), original.begin() + length));
    const ChildOutcome outcome = run_in_child([&] { read_everything(path); }, 10);
    ASSERT_EQ(outcome.kind, ChildOutcome::stride_error) << length << " bytes: " << outcome.describe();
    EXPECT_TRUE(one_line_naming(outcome.message, path)) << length << " bytes";
  }
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, ShardCorruption, ::testing::Bool(),
                         [](const auto& param_info) { return param_info.param ? "gzip" : "plain"; });

// A chunk index whose chunks claim 4 GiB in a 7 KiB shard (found by
// fuzz_shard on a shard opened without its manifest) made HDF5 allocate the
// claim before reading: refused when the shard is opened, naming it.
TEST(ShardCorruptionFound, ChunkIndexClaimingMoreThanTheFileIsRefused) {
  const std::string path = STRIDE_FUZZ_REGRESSIONS "/shard/chunk-index-claims-4gib";
  ASSERT_TRUE(fs::exists(path)) << path;
  const ChildOutcome outcome = run_in_child(
      [&] {
        const ShardReader reader(path, ImageShape{});
        (void)reader.read_all_labels();
      },
      10);
  ASSERT_EQ(outcome.kind, ChildOutcome::stride_error) << outcome.describe();
  EXPECT_TRUE(one_line_naming(outcome.message, path));
  EXPECT_NE(outcome.message.find("dataset 'labels''s storage claims 4294967300 bytes"), std::string::npos)
      << outcome.message;
}

// The full disk as a failed write: the writer names the shard and the cause,
// and the child's exit (HDF5's atexit cleanup included) does not crash.
void expect_write_fails_cleanly(const std::string& path, const std::string& cause) {
  const ChildOutcome outcome = run_in_child([&] { write_shard(path, 10000, {16, 16, 1}, false); });
  ASSERT_EQ(outcome.kind, ChildOutcome::stride_error) << outcome.describe();
  EXPECT_TRUE(one_line_naming(outcome.message, path));
  EXPECT_NE(outcome.message.find(cause), std::string::npos) << outcome.message;
}

TEST(ShardFullDisk, SmallTmpfsFailsTheWriteWithOneLine) {
  stride::testing::TempDir dir;
  const stride::testing::SmallTmpfs disk(dir / "disk", 2 << 20);
  if (!disk.mounted()) GTEST_SKIP() << disk.reason() << " (ShardFullDisk.InjectedWriteFailure still runs)";
  const std::string earlier = (dir / "disk" / "train-00000.h5").string();
  write_shard(earlier, 24, {4, 4, 1}, false);
  expect_write_fails_cleanly((dir / "disk" / "train-00001.h5").string(), "no space left on device");
  EXPECT_FALSE(fs::exists(dir / "disk" / "train-00001.h5"));
  EXPECT_EQ(run_in_child([&] { read_everything(earlier); }).kind, ChildOutcome::returned);
}

TEST(ShardFullDisk, InjectedWriteFailure) {
  stride::testing::TempDir dir;
  const std::string path = (dir / "train-00000.h5").string();
  const ChildOutcome outcome = run_in_child([&] {
    stride::testing::limit_file_size(256 << 10);
    write_shard(path, 4000, {16, 16, 1}, false);
  });
  ASSERT_EQ(outcome.kind, ChildOutcome::stride_error) << outcome.describe();
  EXPECT_TRUE(one_line_naming(outcome.message, path));
  EXPECT_NE(outcome.message.find("file too large"), std::string::npos) << outcome.message;
}

}  // namespace
}  // namespace stride::data
