// `stride eval` and `stride predict` on a model trained here: eval's report
// agrees with the trainer's test accuracy and is stored with the trial;
// predict classifies PNGs drawn like the training images, and bad input is a
// one-line error.
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "process.h"
#include "run/evaluator.h"
#include "run/session.h"
#include "run/trainer.h"
#include "stride/common/strings.h"
#include "stride/core/layer.h"
#include "stride/data/shard.h"
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

TEST_F(EvalPredictTest, EvalCsvIsOneSpreadsheetTable) {
  const auto json_out = dir_ / "eval.json", csv_out = dir_ / "eval.csv";
  const std::string base = std::string(STRIDE_BINARY) + " eval --checkpoint " + result_.checkpoint + " --data " +
                           (dir_ / "data").string() + " --db " + (dir_ / "none.db").string();
  ASSERT_EQ(0, testing::run_process({"/bin/sh", "-c", base + " --format json > " + json_out.string()}));
  ASSERT_EQ(0, testing::run_process({"/bin/sh", "-c", base + " --format csv > " + csv_out.string()}));
  const auto report = nlohmann::json::parse(read_text(json_out));
  std::vector<std::vector<std::string>> rows;
  for (const std::string& line : split(read_text(csv_out), '\n', /*skip_empty=*/true)) rows.push_back(split(line, ','));
  // Header, 4 classes, accuracy, macro and weighted averages; 5 columns plus one per predicted class.
  ASSERT_EQ(rows.size(), 8u) << read_text(csv_out);
  EXPECT_EQ(rows[0][0], "class");
  EXPECT_EQ(rows[0].size(), 9u);
  EXPECT_EQ(rows[0][5], "predicted class0");
  for (size_t k = 0; k < 4; ++k) {
    const auto& row = rows[k + 1];
    ASSERT_EQ(row.size(), 9u);
    EXPECT_EQ(row[0], report.at("classes")[k].at("class").get<std::string>());
    EXPECT_DOUBLE_EQ(std::stod(row[1]), report.at("classes")[k].at("precision").get<double>());
    for (size_t j = 0; j < 4; ++j)
      EXPECT_EQ(std::stoll(row[5 + j]), report.at("confusion")[k][j].get<int64_t>()) << "row " << k << " col " << j;
  }
  EXPECT_EQ(rows[5][0], "accuracy");
  EXPECT_DOUBLE_EQ(std::stod(rows[5][3]), report.at("accuracy").get<double>());
  EXPECT_EQ(rows[6][0], "macro avg");
  EXPECT_DOUBLE_EQ(std::stod(rows[6][3]), report.at("macro").at("f1").get<double>());
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

TEST_F(EvalPredictTest, PredictOfAnImageOfTheModelsSizeSeesItsExactPixels) {
  // The first test image, written as a PNG of the model's own size (12x12).
  const data::ShardReader shard((dir_ / "data" / "test-00000.h5").string());
  std::vector<uint8_t> pixels(static_cast<size_t>(shard.shape().bytes()));
  int32_t label = 0;
  shard.read(0, 1, pixels.data(), &label);
  const std::string png = (dir_ / "same-size.png").string();
  ASSERT_NE(0, stbi_write_png(png.c_str(), 12, 12, 1, pixels.data(), 12));

  // The probabilities eval's path gives the same image: loader (normalisation) and forward, in process.
  const CheckpointInfo info = read_checkpoint_info(result_.checkpoint);
  auto backend = make_backend("cpu", 1);
  Model model = build_model(info.model, *backend, 0);
  model.reserve(1);
  load_model_state(result_.checkpoint, model);
  data::LoaderOptions options;
  options.split = "test";
  options.batch_size = 1;
  options.shuffle = false;
  options.augmentation.normalize = info.model.normalize;
  data::Loader loader(data::load_manifest(dir_ / "data"), options);
  loader.start_epoch(0);
  const data::Batch* batch = loader.next();
  ASSERT_NE(batch, nullptr);
  BatchSlots slots(*backend, info.model.input, 1);
  slots.load(*batch);
  Context ctx{*backend};
  ctx.mode = Mode::inference;
  std::vector<float> logits(4);
  backend->copy_to_host(model.forward(ctx, slots.images()), logits.data());
  const float peak = *std::max_element(logits.begin(), logits.end());
  double total = 0;
  for (float v : logits) total += std::exp(static_cast<double>(v - peak));

  const auto out = dir_ / "predict.json", err = dir_ / "predict.err";
  ASSERT_EQ(0,
            testing::run_process({"/bin/sh", "-c",
                                  std::string(STRIDE_BINARY) + " predict --checkpoint " + result_.checkpoint +
                                      " --top 4 --format json " + png + " > " + out.string() + " 2> " + err.string()}));
  const auto rows = nlohmann::json::parse(read_text(out));
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& row : rows) {
    const std::string name = row.at("class").get<std::string>();
    const size_t k = static_cast<size_t>(std::stoi(name.substr(5)));  // "class3"
    EXPECT_NEAR(row.at("probability").get<double>(), std::exp(static_cast<double>(logits[k] - peak)) / total, 1e-6)
        << name;
  }
  EXPECT_EQ(read_text(err).find("resized"), std::string::npos) << read_text(err);
}

TEST_F(EvalPredictTest, PredictSaysWhenItResizes) {
  std::vector<uint8_t> pixels(24 * 24, 20);
  const std::string png = (dir_ / "large.png").string();
  ASSERT_NE(0, stbi_write_png(png.c_str(), 24, 24, 1, pixels.data(), 24));
  const auto log = dir_ / "predict.log";
  ASSERT_EQ(0, testing::run_process({STRIDE_BINARY, "predict", "--checkpoint", result_.checkpoint, png}, log));
  EXPECT_NE(read_text(log).find("large.png: resized 24x24 to the model's 12x12"), std::string::npos) << read_text(log);
}

// predict decodes through the folder importer's checks: a JPEG whose Huffman
// code counts exceed 256 (stb_image writes past its table on it) is refused
// before stb sees it, as `stride prepare folder` refuses it.
TEST_F(EvalPredictTest, PredictRefusesWhatTheImporterRefuses) {
  std::vector<uint8_t> pixels(12 * 12, 90);
  const auto path = dir_ / "bad.jpg";
  std::vector<uint8_t> jpeg;
  ASSERT_NE(0, stbi_write_jpg_to_func(
                   [](void* context, void* data, int size) {
                     auto* bytes = static_cast<std::vector<uint8_t>*>(context);
                     bytes->insert(bytes->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
                   },
                   &jpeg, 12, 12, 1, pixels.data(), 90));
  const uint8_t dht_marker[] = {0xFF, 0xC4};
  const auto dht = std::search(jpeg.begin(), jpeg.end(), std::begin(dht_marker), std::end(dht_marker));
  ASSERT_NE(dht, jpeg.end()) << "stb_image_write wrote no DHT segment";
  dht[5 + 15] = 0xFF;  // the first table's count of 16-bit codes: 255 more codes than exist
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(jpeg.data()),
                                              static_cast<std::streamsize>(jpeg.size()));
  const auto log = dir_ / "huffman.log";
  EXPECT_EQ(1, testing::run_process({STRIDE_BINARY, "predict", "--checkpoint", result_.checkpoint, path.string()}, log));
  const std::string text = read_text(log);
  EXPECT_NE(text.find("bad.jpg: corrupt JPEG (a Huffman table"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
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
