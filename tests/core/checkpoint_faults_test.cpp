// Checkpoints under corruption, full disks and killed writers. The seal (the
// 512-byte header with the SHA-256 of the rest) rejects any changed byte with
// "checkpoint FILE is corrupt" before HDF5 parses it; mutated content that is
// sealed again (what a parser fuzzer feeds) still fails cleanly, naming the
// file. Each case runs in a child under a watchdog: no crash, no hang.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "fault_injection.h"
#include "stride/common/h5.h"
#include "stride/common/sha256.h"
#include "stride/core/checkpoint.h"
#include "temp_dir.h"
#include "tensor_utils.h"

namespace stride::testing {
namespace {

namespace fs = std::filesystem;

const char* kSealedSpec = "conv(4,3) bn relu flatten dense(3)";
const Shape kSealedInput{5, 5, 1};

Backend& cpu() { return *backend_named("cpu"); }

ModelConfig config() {
  ModelConfig c;
  c.spec = kSealedSpec;
  c.input = kSealedInput;
  c.classes = 3;
  c.class_names = {"a", "b", "c"};
  c.mean = {0.5};
  c.std = {0.2};
  return c;
}

void save(const std::string& path, uint64_t seed = 1, const char* spec = kSealedSpec) {
  Model model = Model::from_spec(spec, kSealedInput);
  model.init(cpu(), seed);
  Optimizer optimizer(OptimizerConfig{}, model);
  TrainingState state;
  state.epoch = 2;
  ModelConfig c = config();
  c.spec = spec;
  save_checkpoint(path, c, model, &optimizer, &state);
}

// What --resume does with a checkpoint: every part of it, read into a model.
void resume_from(const std::string& path) {
  const CheckpointInfo info = read_checkpoint_info(path);
  Model model = Model::from_spec(info.model.spec, info.model.input);
  model.init(cpu(), 7);
  load_model_state(path, model);
  Optimizer optimizer(OptimizerConfig{}, model);
  load_optimizer_state(path, optimizer);
}

bool one_line_naming(const ChildOutcome& outcome, const std::string& path) {
  return outcome.message.find('\n') == std::string::npos && outcome.message.find(path) != std::string::npos;
}

// The documented seal over bytes [512, end), written independently of the library.
std::vector<uint8_t> sealed(std::vector<uint8_t> bytes) {
  Sha256 hash;
  hash.update(std::span<const unsigned char>(bytes.data() + 512, bytes.size() - 512));
  std::string header =
      "stride-checkpoint-sha256 1\nsize " + std::to_string(bytes.size()) + "\nsha256 " + hash.hex_digest() + "\n";
  header.resize(512, '\0');
  std::copy(header.begin(), header.end(), bytes.begin());
  return bytes;
}

TEST(CheckpointSeal, AnyChangedByteIsReportedAsCorruptNamingTheFile) {
  TempDir dir;
  const std::string good = (dir / "good.h5").string();
  save(good);
  const std::vector<uint8_t> original = file_bytes(good);
  ASSERT_EQ(std::string(original.begin(), original.begin() + 26), "stride-checkpoint-sha256 1");
  EXPECT_EQ(run_in_child([&] { resume_from(good); }).kind, ChildOutcome::returned);

  const std::string path = (dir / "bad.h5").string();
  std::vector<uint8_t> flipped = original;
  flipped[original.size() / 2] ^= 0x10;
  write_file_bytes(path, flipped);
  for (const auto& read :
       std::vector<std::function<void()>>{[&] { read_checkpoint_info(path); }, [&] { resume_from(path); }}) {
    const ChildOutcome outcome = run_in_child(read);
    ASSERT_EQ(outcome.kind, ChildOutcome::stride_error) << outcome.describe();
    EXPECT_EQ(outcome.message, "checkpoint " + path + " is corrupt: checksum mismatch");
  }
  for (int seed = 0; seed < 60; ++seed) {
    const std::vector<uint8_t> mutated = mutate(original, static_cast<uint64_t>(seed));
    if (mutated == original) continue;
    write_file_bytes(path, mutated);
    const ChildOutcome outcome = run_in_child([&] { resume_from(path); });
    ASSERT_EQ(outcome.kind, ChildOutcome::stride_error) << "mutation " << seed << ": " << outcome.describe();
    EXPECT_EQ(outcome.message.rfind("checkpoint " + path + " is corrupt: ", 0), 0u) << outcome.message;
  }
}

TEST(CheckpointSeal, EveryTruncationIsCorruptNamingTheFile) {
  TempDir dir;
  const std::string good = (dir / "good.h5").string();
  save(good);
  const std::vector<uint8_t> original = file_bytes(good);
  const std::string path = (dir / "short.h5").string();
  for (size_t length : truncation_lengths(original.size())) {
    write_file_bytes(path, std::vector<uint8_t>(original.begin(), original.begin() + length));
    const ChildOutcome outcome = run_in_child([&] { resume_from(path); });
    ASSERT_EQ(outcome.kind, ChildOutcome::stride_error) << length << " bytes: " << outcome.describe();
    EXPECT_EQ(outcome.message.rfind("checkpoint " + path + " is corrupt: ", 0), 0u) << outcome.message;
  }
}

TEST(CheckpointParser, ResealedMutationsFailCleanlyNamingTheFile) {
  TempDir dir;
  const std::string good = (dir / "good.h5").string();
  save(good);
  const std::vector<uint8_t> original = file_bytes(good);
  const std::string path = (dir / "mutated.h5").string();
  int rejected = 0;
  for (int seed = 0; seed < 100; ++seed) {
    std::vector<uint8_t> mutated = mutate(original, static_cast<uint64_t>(seed), 512);
    if (mutated.size() < 512) continue;
    write_file_bytes(path, sealed(std::move(mutated)));
    const ChildOutcome outcome = run_in_child([&] { resume_from(path); });
    if (outcome.kind == ChildOutcome::returned) continue;
    ASSERT_EQ(outcome.kind, ChildOutcome::stride_error) << "mutation " << seed << ": " << outcome.describe();
    EXPECT_TRUE(one_line_naming(outcome, path)) << outcome.message;
    ++rejected;
  }
  EXPECT_GT(rejected, 10);
}

TEST(CheckpointSeal, UnsealedFilesFromBeforeSealsStayReadable) {
  TempDir dir;
  const std::string path = (dir / "old.h5").string();
  {
    h5::File file = h5::create_file(path);  // no userblock: the HDF5 signature at byte 0
    h5::write_attribute(file.get(), "format", std::string("stride-checkpoint"));
    h5::write_attribute(file.get(), "version", int64_t{1});
    h5::write_attribute(file.get(), "model_config", config().to_json().dump());
  }
  EXPECT_EQ(read_checkpoint_info(path).model.spec, kSealedSpec);
}

// JSON attributes of the wrong shape (an object where a number belongs) are
// the checkpoint's fault, named as such, not a JSON library's error.
TEST(CheckpointParser, TrainingStateOfTheWrongShapeIsACheckpointErrorNamingTheFile) {
  TempDir dir;
  const std::string path = (dir / "odd.h5").string();
  {
    h5::File file = h5::create_file(path);
    h5::write_attribute(file.get(), "format", std::string("stride-checkpoint"));
    h5::write_attribute(file.get(), "version", int64_t{1});
    h5::write_attribute(file.get(), "model_config", config().to_json().dump());
    h5::write_attribute(file.get(), "training_state", std::string(R"({"epoch": {"not": "a number"}})"));
  }
  try {
    read_checkpoint_info(path);
    FAIL() << "a training_state with an object for its epoch was accepted";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

// A failed save keeps the previous checkpoint, leaves no temporary, says why
// on one line naming the checkpoint, and the process still exits cleanly.
void expect_failed_save(const fs::path& dir, const std::function<void()>& limit, const std::string& cause) {
  const std::string path = (dir / "ckpt.h5").string();
  save(path, 1);
  const ChildOutcome outcome = run_in_child([&] {
    limit();
    save(path, 2, "conv(64,3) bn relu flatten dense(400) relu dense(3)");  // ~2 MB: does not fit
  });
  ASSERT_EQ(outcome.kind, ChildOutcome::stride_error) << outcome.describe();
  EXPECT_TRUE(one_line_naming(outcome, path)) << outcome.message;
  EXPECT_NE(outcome.message.find(cause), std::string::npos) << outcome.message;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  EXPECT_TRUE(std::find(names.begin(), names.end(), "ckpt.h5") != names.end());
  for (const std::string& name : names) EXPECT_EQ(name.find(".tmp-"), std::string::npos) << name;
  EXPECT_EQ(run_in_child([&] { resume_from(path); }).kind, ChildOutcome::returned);
  EXPECT_EQ(read_checkpoint_info(path).model.spec, kSealedSpec);
}

TEST(CheckpointFullDisk, SmallTmpfsKeepsThePreviousCheckpoint) {
  TempDir dir;
  const SmallTmpfs disk(dir / "disk", 2 << 20);
  if (!disk.mounted()) GTEST_SKIP() << disk.reason() << " (CheckpointFullDisk.InjectedWriteFailure still runs)";
  expect_failed_save(
      dir / "disk", [] {}, "no space left on device");
}

TEST(CheckpointFullDisk, InjectedWriteFailure) {
  TempDir dir;
  expect_failed_save(
      dir.path(), [] { limit_file_size(512 << 10); }, "file too large");
}

TEST(CheckpointTemporaries, TheNextSaveRemovesThoseOfKilledWriters) {
  TempDir dir;
  const std::string path = (dir / "ckpt.h5").string();
  save(path);
  // A writer killed mid-save: a real child, stopped by SIGKILL while it sleeps
  // in the middle of nothing but holding its pid until it is reaped.
  const pid_t killed = fork();
  if (killed == 0) {
    pause();
    _exit(0);
  }
  kill(killed, SIGKILL);
  waitpid(killed, nullptr, 0);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string host_name = host;
  std::replace(host_name.begin(), host_name.end(), '-', '_');
  const fs::path stale = path + ".tmp-" + host_name + "-" + std::to_string(killed);
  const fs::path live = path + ".tmp-" + host_name + "-" + std::to_string(getppid());
  const fs::path other_host = path + ".tmp-elsewhere-" + std::to_string(killed);
  for (const fs::path& p : {stale, live, other_host}) std::filesystem::copy_file(path, p);

  save(path);
  EXPECT_FALSE(fs::exists(stale)) << "a dead writer's temporary stays";
  EXPECT_TRUE(fs::exists(live)) << "a running writer's temporary was removed";
  EXPECT_TRUE(fs::exists(other_host)) << "another host's temporary was removed";
}

}  // namespace
}  // namespace stride::testing
