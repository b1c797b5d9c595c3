// `stride export --format onnx` checked against the real onnxruntime: models
// trained here for one short epoch are exported with the stride binary, run in
// onnxruntime on raw images (onnx_runtime_check.py, in .venv-test) and must
// give the probabilities Stride computes for the same images the way
// `stride predict` does (normalised by the loader's evaluation path, inference
// mode, softmax) to 1e-5. The three configs of configs/ run on the first 1,000
// test images of Fashion-MNIST; two synthetic models cover the layer kinds and
// options those configs do not use. Skipped, with the reason, without the
// virtual environment or the dataset.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "process.h"
#include "run/trainer.h"
#include "stride/core/checkpoint.h"
#include "stride/data/augment.h"
#include "stride/data/shard.h"
#include "synthetic_dataset.h"
#include "temp_dir.h"

namespace stride::tools {
namespace {

namespace fs = std::filesystem;
using testing::read_text;

const fs::path kPython = STRIDE_TEST_PYTHON;
const fs::path kCheckScript = fs::path(STRIDE_SOURCE_DIR) / "tests/tools/onnx_runtime_check.py";
const fs::path kFashionMnist = "/usr/share/datasets/fashion-mnist";

struct Images {
  data::ImageShape shape;
  int64_t count = 0;
  std::vector<uint8_t> pixels;  // count HWC images
  std::vector<int32_t> labels;
};

// The first `count` images of a split, across its shards.
Images read_images(const data::Manifest& manifest, const std::string& split, int64_t count) {
  Images out{manifest.shape, count, std::vector<uint8_t>(static_cast<size_t>(count * manifest.shape.bytes())),
             std::vector<int32_t>(static_cast<size_t>(count))};
  int64_t done = 0;
  for (const data::ShardEntry& shard : manifest.split(split).shards) {
    if (done == count) break;
    const data::ShardReader reader(manifest.shard_path(shard).string(), manifest.shape);
    const int64_t n = std::min(reader.size(), count - done);
    reader.read(0, n, out.pixels.data() + done * manifest.shape.bytes(), out.labels.data() + done);
    done += n;
  }
  if (done != count) throw std::runtime_error(split + " has fewer than " + std::to_string(count) + " images");
  return out;
}

// The probabilities of `stride predict` for each image, in batches as eval runs them.
std::vector<float> stride_probabilities(const std::string& checkpoint, const Images& images) {
  const ModelConfig config = read_checkpoint_info(checkpoint).model;
  auto backend = make_cpu_backend(0);
  Model model = Model::from_spec(config.spec, config.input);
  model.init(*backend, 0);
  constexpr int64_t kBatch = 100;
  model.reserve(kBatch);
  load_model_state(checkpoint, model);

  data::AugmentOptions options;
  options.normalize = config.normalize;
  const data::Augmenter normaliser(options, false, images.shape, config.mean, config.std, 0);
  const int64_t bytes = images.shape.bytes(), classes = config.classes;
  std::vector<float> scratch(static_cast<size_t>(bytes)), input(static_cast<size_t>(kBatch * bytes));
  std::vector<float> logits(static_cast<size_t>(kBatch * classes)), probabilities;
  Tensor x(*backend, config.input.with_batch(kBatch));
  Context ctx{*backend};
  ctx.mode = Mode::inference;
  for (int64_t first = 0; first < images.count; first += kBatch) {
    const int64_t n = std::min(kBatch, images.count - first);
    for (int64_t i = 0; i < n; ++i)
      normaliser.apply(images.pixels.data() + (first + i) * bytes, 0, 0, scratch.data(), input.data() + i * bytes);
    Tensor batch = x.batch_prefix(n);
    backend->copy_from_host(input.data(), batch);
    backend->copy_to_host(model.forward(ctx, batch), logits.data());
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.data() + i * classes;
      const float peak = *std::max_element(row, row + classes);
      double total = 0;
      for (int64_t k = 0; k < classes; ++k) total += std::exp(static_cast<double>(row[k] - peak));
      for (int64_t k = 0; k < classes; ++k)
        probabilities.push_back(static_cast<float>(std::exp(static_cast<double>(row[k] - peak)) / total));
    }
  }
  return probabilities;
}

template <typename T>
void write_raw(const fs::path& path, const std::vector<T>& values) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(T)));
}

class OnnxRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kPython)) GTEST_SKIP() << kPython << " is missing (tools/setup.sh test creates it)";
    if (testing::run_process({kPython.string(), "-c", "import onnxruntime, onnx, numpy"}, dir_ / "import.log") != 0)
      GTEST_SKIP() << kPython << " cannot import onnxruntime, onnx and numpy (tools/setup.sh test installs them): "
                   << read_text(dir_ / "import.log");
  }

  // One short epoch of `config` on `data`; returns the checkpoint.
  std::string train_one_epoch(Config config, const fs::path& data) {
    config.set("data.dir", data.string(), "test");
    config.set("train.epochs", "1", "test");
    config.set("train.checkpoint_dir", (dir_ / "checkpoints").string(), "test");
    config.set("data.workers", "1", "test");
    TrainRequest request;
    request.config = std::move(config);
    request.db_path = (dir_ / "store.db").string();
    request.progress_on_terminal = false;
    return train(request).checkpoint;
  }

  // Exports `checkpoint` with the stride binary and compares onnxruntime's
  // probabilities on `images` with Stride's.
  void expect_onnx_runtime_matches(const std::string& checkpoint, const Images& images) {
    const fs::path model = dir_ / "model.onnx", log = dir_ / "export.log";
    ASSERT_EQ(
        0, testing::run_process(
               {STRIDE_BINARY, "export", "--checkpoint", checkpoint, "--format", "onnx", "--out", model.string()}, log))
        << read_text(log);
    const std::vector<float> expected = stride_probabilities(checkpoint, images);
    const int64_t classes = static_cast<int64_t>(expected.size()) / images.count;
    write_raw(dir_ / "images.u8", images.pixels);
    write_raw(dir_ / "probabilities.f32", expected);
    const fs::path check_log = dir_ / "check.log";
    const int status =
        testing::run_process({kPython.string(), kCheckScript.string(), model.string(), (dir_ / "images.u8").string(),
                              (dir_ / "probabilities.f32").string(), "--count", std::to_string(images.count), "--shape",
                              std::to_string(images.shape.height), std::to_string(images.shape.width),
                              std::to_string(images.shape.channels), "--classes", std::to_string(classes)},
                             check_log);
    std::cout << read_text(check_log);
    EXPECT_EQ(status, 0) << "onnxruntime disagrees with stride on " << checkpoint << ":\n" << read_text(check_log);
  }

  testing::TempDir dir_;
};

// Every layer kind and option the configs leave out: convolutions with stride
// and bias, non-square kernels, asymmetric "same" padding (13x11 inputs), leaky
// ReLU, ELU, padded average and max pooling, identity and projecting residual
// blocks, batch norm over features, three normalised channels.
TEST_F(OnnxRuntimeTest, EveryLayerKindMatches) {
  testing::SyntheticSpec spec;
  spec.height = 13;
  spec.width = 11;
  spec.channels = 3;
  spec.train = 256;
  spec.val = 32;
  spec.test = 256;
  testing::write_synthetic_dataset(dir_ / "data", spec);
  const Config config = Config::from_text(
      "[experiment]\nname = onnx_layers\nseed = 3\n[data]\nbatch_size = 16\n[model]\nlayers = "
      "conv(6,3,stride=2,padding=same) leaky_relu(0.2) conv(8,3x2,padding=same,bias=false) bn elu(0.7) "
      "avgpool(3,stride=2,padding=same) residual(8) maxpool(2,stride=1,padding=same) residual(12,stride=2) "
      "dropout(0.3) flatten dense(10,bias=false) bn relu dense(4)\n[train]\nlr = 0.003\n",
      "every_layer.ini");
  const std::string checkpoint = train_one_epoch(config, dir_ / "data");
  expect_onnx_runtime_matches(checkpoint, read_images(data::load_manifest(dir_ / "data"), "test", spec.test));
}

// Global average pooling, valid max pooling with stride, and inputs scaled by
// 1/255 only (augment.normalize = false).
TEST_F(OnnxRuntimeTest, GlobalPoolingWithoutNormalisationMatches) {
  testing::SyntheticSpec spec;
  spec.train = 256;
  spec.val = 32;
  spec.test = 256;
  testing::write_synthetic_dataset(dir_ / "data", spec);
  const Config config = Config::from_text(
      "[experiment]\nname = onnx_gap\nseed = 5\n[data]\nbatch_size = 16\n[augment]\nnormalize = false\n"
      "[model]\nlayers = conv(8,3,padding=same) bn relu maxpool(3,stride=2) residual(16,stride=2) gap dense(4)\n"
      "[train]\nlr = 0.003\n",
      "gap.ini");
  const std::string checkpoint = train_one_epoch(config, dir_ / "data");
  expect_onnx_runtime_matches(checkpoint, read_images(data::load_manifest(dir_ / "data"), "test", spec.test));
}

// The configs of configs/ on Fashion-MNIST as `stride prepare` writes it. Each
// trains one epoch on 256 images in batches of 16 without warmup (16 steps,
// enough to move every weight and BN statistic), validating and testing on
// 32: the trainer's own passes over the full val and test splits would cost
// more than the rest of the test.
class FashionMnistOnnxTest : public OnnxRuntimeTest {
 protected:
  static constexpr int64_t kTestImages = 1000;

  void SetUp() override {
    OnnxRuntimeTest::SetUp();
    if (IsSkipped()) return;
    if (!fs::exists(kFashionMnist / "t10k-images-idx3-ubyte.gz"))
      GTEST_SKIP() << kFashionMnist << " is missing (apt-get install dataset-fashion-mnist)";
    const fs::path log = dir_ / "prepare.log";
    ASSERT_EQ(0, testing::run_process({STRIDE_BINARY, "prepare", "fashion-mnist", "--from", kFashionMnist.string(),
                                       "--out", (dir_ / "fashion-mnist").string()},
                                      log))
        << read_text(log);
    full_ = data::load_manifest(dir_ / "fashion-mnist");
    write_subset(dir_ / "small", {{"train", 256}, {"val", 32}, {"test", 32}});
  }

  // A dataset of the first images of each split, with the full training set's statistics.
  void write_subset(const fs::path& dir, const std::map<std::string, int64_t>& counts) {
    fs::create_directories(dir);
    data::Manifest small = full_;
    small.splits.clear();
    for (const auto& [split, count] : counts) {
      const Images images = read_images(full_, split, count);
      const std::string file = split + "-00000.h5";
      data::ShardWriter writer((dir / file).string(), count, full_.shape, {split, full_.source, full_.class_names}, {});
      writer.append(images.pixels.data(), images.labels.data(), count);
      writer.close();
      small.splits[split] = {{{file, count, data::crc32_file(dir / file)}}, count};
    }
    data::save_manifest(small, dir);
  }

  void expect_config_matches(const std::string& name) {
    Config config = Config::load(fs::path(STRIDE_SOURCE_DIR) / "configs" / name);
    config.set("data.batch_size", "16", "test");
    config.set("train.warmup_epochs", "0", "test");  // a one-epoch warmup would keep lr near 0 throughout
    const std::string checkpoint = train_one_epoch(std::move(config), dir_ / "small");
    expect_onnx_runtime_matches(checkpoint, read_images(full_, "test", kTestImages));
  }

  data::Manifest full_;
};

class ExportCommandTest : public ::testing::Test {
 protected:
  int export_to(const std::vector<std::string>& extra, const fs::path& log) {
    std::vector<std::string> args = {STRIDE_BINARY, "export"};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::run_process(args, log);
  }
  testing::TempDir dir_;
};

TEST_F(ExportCommandTest, AMissingCheckpointIsAOneLineError) {
  const fs::path log = dir_ / "err.log";
  EXPECT_EQ(1, export_to({"--checkpoint", (dir_ / "missing.h5").string(), "--out", (dir_ / "m.onnx").string()}, log));
  const std::string text = read_text(log);
  EXPECT_NE(text.find("missing.h5"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_FALSE(fs::exists(dir_ / "m.onnx"));
}

TEST_F(ExportCommandTest, AnUnknownFormatIsNamed) {
  const fs::path log = dir_ / "err.log";
  EXPECT_EQ(1, export_to({"--checkpoint", "any.h5", "--format", "tflite", "--out", (dir_ / "m.onnx").string()}, log));
  EXPECT_NE(read_text(log).find("tflite"), std::string::npos) << read_text(log);
}

TEST_F(ExportCommandTest, AFailedExportLeavesTheEarlierFile) {
  std::ofstream(dir_ / "not.h5") << "not a checkpoint";
  std::ofstream(dir_ / "m.onnx") << "earlier export";
  EXPECT_EQ(1, export_to({"--checkpoint", (dir_ / "not.h5").string(), "--out", (dir_ / "m.onnx").string()},
                         dir_ / "err.log"));
  EXPECT_EQ(read_text(dir_ / "m.onnx"), "earlier export");
  EXPECT_NE(read_text(dir_ / "err.log").find("not.h5"), std::string::npos) << read_text(dir_ / "err.log");
}

TEST_F(FashionMnistOnnxTest, SeedCnnMatches) { expect_config_matches("seed_cnn_fashion.ini"); }

TEST_F(FashionMnistOnnxTest, VggBnMatches) { expect_config_matches("vgg_bn_fashion.ini"); }

TEST_F(FashionMnistOnnxTest, Resnet9Matches) { expect_config_matches("resnet9_fashion.ini"); }

}  // namespace
}  // namespace stride::tools
