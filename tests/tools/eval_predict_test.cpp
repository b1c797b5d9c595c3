// `stride eval` and `stride predict` on a model trained here: eval's report
// agrees with the trainer's test accuracy and is stored with the trial;
// predict classifies PNGs drawn like the training images, and bad input is a
// one-line error.
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "process.h"
#include "run/trainer.h"
#include "stride/tracker/store.h"
#include "synthetic_dataset.h"
#include "temp_dir.h"

namespace stride::tools {
namespace {

using testing::read_text;

class EvalPredictTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_synthetic_dataset(dir_ / "data");
    TrainRequest r;
    r.config = Config::from_text(
        "[experiment]\nname = ep\nseed = 4\n[data]\nbatch_size = 16\nworkers = 1\n"
        "[model]\nlayers = conv(8,3) relu maxpool(2) flatten dense(4)\n[train]\nepochs = 3\nlr = 0.01\nthreads = 1\n",
        "test.ini");
    r.config.set("data.dir", (dir_ / "data").string(), "test");
    r.config.set("train.checkpoint_dir", (dir_ / "ckpt").string(), "test");
    r.db_path = (dir_ / "store.db").string();
    r.progress_on_terminal = false;
    result_ = train(r);
  }

  testing::TempDir dir_;
  TrainResult result_;
};

TEST_F(EvalPredictTest, EvalMatchesTheTrainerAndIsStored) {
  const auto out = dir_ / "eval.json";
  ASSERT_EQ(0, testing::run_process({"/bin/sh", "-c",
                                     std::string(STRIDE_BINARY) + " eval --checkpoint " + result_.checkpoint +
                                         " --data " + (dir_ / "data").string() + " --db " +
                                         (dir_ / "store.db").string() + " --format json > " + out.string()}));
  const auto report = nlohmann::json::parse(read_text(out));
  EXPECT_DOUBLE_EQ(report.at("accuracy").get<double>(), result_.final_metrics.at("test_accuracy"));
  EXPECT_EQ(report.at("classes").size(), 4u);
  EXPECT_EQ(report.at("confusion").size(), 4u);
  auto store = tracker::Store::open(dir_ / "store.db", tracker::Access::read_only);
  ASSERT_EQ(store.evaluations(result_.trial_id).size(), 1u);  // replaced, not added
  EXPECT_DOUBLE_EQ(store.evaluations(result_.trial_id)[0].accuracy, report.at("accuracy").get<double>());
}

TEST_F(EvalPredictTest, PredictClassifiesImagesLikeTheTrainingOnes) {
  // Class k draws a bright row at k * height / classes (synthetic_dataset.h); 24x24 is resized to 12x12.
  std::vector<std::string> args = {STRIDE_BINARY, "predict", "--checkpoint", result_.checkpoint,
                                   "--top",       "1",       "--format",     "json"};
  for (int k = 0; k < 4; ++k) {
    std::vector<uint8_t> pixels(24 * 24, 20);
    for (int x = 0; x < 24; ++x)
      pixels[static_cast<size_t>((k * 6) * 24 + x)] = pixels[static_cast<size_t>((k * 6 + 1) * 24 + x)] = 220;
    const std::string path = (dir_ / ("class" + std::to_string(k) + ".png")).string();
    ASSERT_NE(0, stbi_write_png(path.c_str(), 24, 24, 1, pixels.data(), 24));
    args.push_back(path);
  }
  const auto out = dir_ / "predict.json";
  std::string command;
  for (const auto& a : args) command += "'" + a + "' ";
  ASSERT_EQ(0, testing::run_process({"/bin/sh", "-c", command + "> " + out.string()}));
  const auto rows = nlohmann::json::parse(read_text(out));
  ASSERT_EQ(rows.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(rows[static_cast<size_t>(k)].at("class").get<std::string>(), "class" + std::to_string(k)) << rows.dump();
    EXPECT_GT(rows[static_cast<size_t>(k)].at("probability").get<double>(), 0.5);
  }
}

TEST_F(EvalPredictTest, BadInputIsAOneLineError) {
  std::ofstream(dir_ / "not.png") << "not an image";
  const auto log = dir_ / "err.log";
  EXPECT_EQ(1, testing::run_process(
                   {STRIDE_BINARY, "predict", "--checkpoint", result_.checkpoint, (dir_ / "not.png").string()}, log));
  const std::string text = read_text(log);
  EXPECT_NE(text.find("not.png"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_EQ(1, testing::run_process({STRIDE_BINARY, "eval", "--checkpoint", (dir_ / "missing.h5").string(), "--data",
                                     (dir_ / "data").string()},
                                    dir_ / "err2.log"));
  EXPECT_NE(read_text(dir_ / "err2.log").find("missing.h5"), std::string::npos);
}

}  // namespace
}  // namespace stride::tools
