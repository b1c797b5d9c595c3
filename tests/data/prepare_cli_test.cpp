// `stride prepare` and `stride bench loader` run as the built binary: a good
// source prints its summary and exits 0; bad input exits non-zero with one
// line on stderr that names the file at fault, and leaves no output behind.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data_fixtures.h"
#include "fault_injection.h"
#include "temp_dir.h"

namespace stride::data {
namespace {

namespace fs = std::filesystem;
using stride::testing::idx_images;
using stride::testing::idx_labels;

struct CommandRun {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `stride ARGS` with stdout and stderr captured into files under `dir`.
CommandRun stride(const stride::testing::TempDir& dir, const std::string& arguments) {
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string command =
      std::string("'") + STRIDE_BINARY + "' " + arguments + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(command.c_str());
  CommandRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = slurp(out);
  run.err = slurp(err);
  return run;
}

int lines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

void write_mnist(const fs::path& dir, int64_t count, int bad_label_at = -1) {
  fs::create_directories(dir);
  for (const char* name : {"train", "t10k"}) {
    std::vector<uint8_t> pixels(static_cast<size_t>(count * 64)), labels;
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
    for (int64_t i = 0; i < count; ++i) labels.push_back(static_cast<uint8_t>(i == bad_label_at ? 12 : i % 10));
    stride::testing::write_gzip(dir / (std::string(name) + "-images-idx3-ubyte.gz"),
                                idx_images(static_cast<uint32_t>(count), 8, 8, pixels));
    stride::testing::write_gzip(dir / (std::string(name) + "-labels-idx1-ubyte.gz"),
                                idx_labels(static_cast<uint32_t>(count), labels));
  }
}

TEST(PrepareCommand, WritesTheDatasetAndPrintsASummary) {
  stride::testing::TempDir dir;
  write_mnist(dir / "src", 200);
  const CommandRun run =
      stride(dir, "prepare mnist --from '" + (dir / "src").string() + "' --out '" + (dir / "out").string() +
                      "' --shard-size 64 --val-fraction 0.2 --compression gzip --seed 3");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const Manifest m = load_manifest(dir / "out");
  EXPECT_EQ(m.split("train").count, 160);
  EXPECT_EQ(m.split("val").count, 40);
  EXPECT_EQ(m.split("train").shards.size(), 3u);
  EXPECT_NE(run.out.find("train"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("160"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("8x8x1"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("10 classes"), std::string::npos) << run.out;

  const CommandRun bench = stride(
      dir, "bench loader --data '" + (dir / "out").string() + "' --workers 1,2 --batch 16 --steps 6 --format json");
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  const nlohmann::json rows = nlohmann::json::parse(bench.out);
  ASSERT_EQ(rows.size(), 2u) << bench.out;
  EXPECT_EQ(rows[1]["workers"], 2);
  EXPECT_EQ(rows[0]["images"], 96);
  EXPECT_GT(rows[0]["images_per_s"].get<double>(), 0);
}

TEST(PrepareCommand, BadInputIsOneLineNamingTheFile) {
  stride::testing::TempDir dir;
  write_mnist(dir / "src", 50, 17);
  const CommandRun run = stride(
      dir, "prepare fashion-mnist --from '" + (dir / "src").string() + "' --out '" + (dir / "out").string() + "'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(lines(run.err), 1) << run.err;
  EXPECT_NE(run.err.find((dir / "src" / "train-labels-idx1-ubyte.gz").string()), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("out of range"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(PrepareCommand, AnImageSizeBeyondMemoryIsRefusedBeforeAnythingIsRead) {
  stride::testing::TempDir dir;
  // 100000x100000x3 images, 256 to a block: 7.7 TB before the first decode.
  const CommandRun run = stride(dir, "prepare folder --from '" + (dir / "nowhere").string() + "' --out '" +
                                         (dir / "out").string() + "' --size 100000x100000");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(lines(run.err), 1) << run.err;
  EXPECT_NE(run.err.find("--size 100000x100000 (3 channels): a block of 256 images needs 7680000000000 bytes"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("of memory this machine has"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("bad_alloc"), std::string::npos) << run.err;
  // Past 64 bits: an error, not a wrapped product.
  const CommandRun huge = stride(dir, "prepare folder --from x --size 9000000000x9000000000");
  EXPECT_EQ(huge.exit_code, 1);
  EXPECT_NE(huge.err.find("overflows 64-bit arithmetic"), std::string::npos) << huge.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(PrepareCommand, UsageErrorsAreOneLine) {
  stride::testing::TempDir dir;
  const std::vector<std::string> cases = {"prepare mnist", "prepare imagenet --from /nowhere --out x",
                                          "prepare mnist --from x --bogus 1", "prepare folder --from x --size 32by32",
                                          "bench loader --data '" + dir.path().string() + "'"};
  for (const std::string& arguments : cases) {
    const CommandRun run = stride(dir, arguments);
    EXPECT_NE(run.exit_code, 0) << arguments;
    EXPECT_EQ(lines(run.err), 1) << arguments << ": " << run.err;
  }
  EXPECT_NE(stride(dir, "prepare imagenet --from /nowhere --out x").err.find("imagenet"), std::string::npos);
  const CommandRun help = stride(dir, "prepare --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--val-fraction"), std::string::npos);
}

// A full disk under --out: one line naming the shard and the cause, a normal
// non-zero exit (no crash in HDF5's cleanup), the earlier dataset intact.
TEST(PrepareCommand, FullDiskKeepsTheEarlierDataset) {
  stride::testing::TempDir dir;
  const stride::testing::SmallTmpfs disk(dir / "disk", 2 << 20);
  if (!disk.mounted()) GTEST_SKIP() << disk.reason() << " (ShardFullDisk.InjectedWriteFailure covers the writer)";
  const fs::path out = dir / "disk" / "data";
  write_mnist(dir / "small", 100);
  ASSERT_EQ(
      stride(dir, "prepare mnist --from '" + (dir / "small").string() + "' --out '" + out.string() + "'").exit_code, 0);
  write_mnist(dir / "big", 20000);  // 2 x 1.3 MB of pixels: more than the disk holds
  const CommandRun run =
      stride(dir, "prepare mnist --from '" + (dir / "big").string() + "' --out '" + out.string() + "'");
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_EQ(lines(run.err), 1) << run.err;
  EXPECT_NE(run.err.find("no space left on device"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find(".h5"), std::string::npos) << run.err;
  const Manifest kept = load_manifest(out);
  EXPECT_EQ(kept.split("train").count + kept.split("val").count, 100);
  verify_checksums(kept, "");
  for (const auto& entry : fs::directory_iterator(dir / "disk"))
    EXPECT_EQ(entry.path().filename(), "data") << "left behind: " << entry.path();
}

}  // namespace
}  // namespace stride::data
